"""Line-item tables: find a header row by its column words, then read the rows under it, page after page."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from returns_triage.models.documents.layout import Line
from returns_triage.models.documents.lexicon import CONCEPTS, TABLE_HEADERS, concepts_in
from returns_triage.models.documents.normalize import parse_amount
from returns_triage.models.documents.safe_parse import Word

__all__ = ["parse_line_items"]

_NUMERIC = ("quantity", "unit_price", "amount")
_STOP = {k: CONCEPTS[k] for k in ("subtotal", "tax", "total")}


@dataclass(slots=True)
class _Cell:
    column: str
    x0: float
    x1: float


def _header_cells(line: Line) -> list[_Cell] | None:
    cells: list[_Cell] = []
    for w in line.words:
        found = concepts_in(w.text, TABLE_HEADERS)
        if cells and w.x0 - cells[-1].x1 < 8 and (not found or cells[-1].column in found):
            cells[-1].x1 = w.x1  # "Unit Price", "Prix unitaire": one cell
            continue
        if not found:
            return None  # header rows hold nothing but column names
        column = next(c for c in TABLE_HEADERS if c in found)
        if column == "unit_price" and "amount" in found and any(c.column == "unit_price" for c in cells):
            column = "amount"
        cells.append(_Cell(column, w.x0, w.x1))
    columns = {c.column for c in cells}
    if "quantity" not in columns or len(columns) < 3 or len(columns) != len(cells):
        return None
    return cells


def _assign(words: list[Word], cells: list[_Cell]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    numeric = [c for c in cells if c.column in _NUMERIC]
    textual = [c for c in cells if c.column not in _NUMERIC]
    for w in words:
        is_number = parse_amount(w.text, require_decimals=False) is not None
        if is_number and numeric:
            # Numbers align right or centre under their header.
            cell = min(numeric, key=lambda c: min(abs(w.x1 - c.x1), abs((w.x0 + w.x1) / 2 - (c.x0 + c.x1) / 2)))
            if min(abs(w.x1 - cell.x1), abs(w.x0 - cell.x0)) > 60 and textual:
                cell = max((c for c in textual if c.x0 - 5 <= w.x0), key=lambda c: c.x0, default=textual[0])
        elif textual:
            cell = max((c for c in textual if c.x0 - 5 <= w.x0), key=lambda c: c.x0, default=textual[0])
        else:
            continue
        out.setdefault(cell.column, []).append(w.text)
    return out


def _row(values: dict[str, list[str]]) -> dict[str, Any] | None:
    qty_text = " ".join(values.get("quantity", []))
    qty = parse_amount(qty_text, require_decimals=False)
    if qty is None or qty <= 0 or qty != int(qty):
        return None
    item: dict[str, Any] = {
        "sku": " ".join(values.get("sku", [])) or None,
        "description": " ".join(values.get("description", [])) or None,
        "quantity": int(qty),
        "unit_price": None,
        "amount": None,
    }
    for name in ("unit_price", "amount"):
        if name in values:
            item[name] = parse_amount(" ".join(values[name])) or parse_amount(" ".join(values[name]),
                                                                                 require_decimals=False)
    return item


def parse_line_items(lines: list[Line]) -> list[dict[str, Any]]:
    """Rows of every table whose header names at least quantity and two other columns."""
    items: list[dict[str, Any]] = []
    cells: list[_Cell] | None = None
    last_bottom = 0.0
    page = -1
    for line in lines:
        if line.page != page:
            page, cells = line.page, None
        header = _header_cells(line)
        if header is not None:
            cells, last_bottom = header, line.bottom
            continue
        if cells is None:
            continue
        if line.top - last_bottom > 40 or concepts_in(line.text, _STOP) and not any(
            parse_amount(w.text, require_decimals=False) is not None for w in line.words[:1]
        ):
            cells = None
            continue
        row = _row(_assign(line.words, cells))
        if row is not None:
            items.append(row)
            last_bottom = line.bottom
        elif any(":" in w.text for w in line.words):
            last_bottom = line.bottom  # "S/N: ..." under an item
    return items
