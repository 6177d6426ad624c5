"""Plausibility checks on extracted fields. A failed check lowers the confidence of the fields it involves."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from returns_triage.models.documents.lexicon import ISO_4217

__all__ = ["CheckResult", "run_checks", "FAILED_CHECK_FACTOR"]

FAILED_CHECK_FACTOR = 0.5
_TOLERANCE = 0.011


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    passed: bool
    detail: str
    fields: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "passed": self.passed, "detail": self.detail}


def _value(fields: dict[str, dict[str, Any]], name: str) -> Any:
    entry = fields.get(name)
    return None if entry is None else entry.get("value")


def run_checks(fields: dict[str, dict[str, Any]], line_items: list[dict[str, Any]], *, today: date) -> list[CheckResult]:
    """Checks that apply to what was found (a check needing an absent field is skipped, not failed)."""
    out: list[CheckResult] = []
    subtotal, tax, total = (_value(fields, n) for n in ("subtotal_amount", "tax_amount", "total_amount"))
    if subtotal is not None and tax is not None and total is not None:
        ok = abs(subtotal + tax - total) <= _TOLERANCE
        out.append(CheckResult("subtotal_plus_tax_equals_total", ok, f"{subtotal:.2f} + {tax:.2f} vs {total:.2f}",
                               ("subtotal_amount", "tax_amount", "total_amount")))
    if subtotal is not None and tax is not None and subtotal > 0:
        rate = tax / subtotal
        out.append(CheckResult("tax_rate_plausible", 0 <= rate <= 0.3, f"tax is {rate:.1%} of subtotal",
                               ("tax_amount",)))
    priced = [li for li in line_items if li.get("amount") is not None]
    if priced and (subtotal is not None or (total is not None and tax is None)):
        target_name = "subtotal_amount" if subtotal is not None else "total_amount"
        target = subtotal if subtotal is not None else total
        line_sum = round(sum(li["amount"] for li in priced), 2)
        out.append(CheckResult("line_items_sum_to_subtotal", abs(line_sum - target) <= _TOLERANCE * len(priced),
                               f"lines sum to {line_sum:.2f}, {target_name} is {target:.2f}", (target_name,)))
    bad_rows = [i for i, li in enumerate(priced) if li.get("unit_price") is not None
                and abs(li["quantity"] * li["unit_price"] - li["amount"]) > _TOLERANCE * max(1, li["quantity"])]
    if priced:
        out.append(CheckResult("line_amount_is_quantity_times_price", not bad_rows,
                               f"rows {bad_rows} disagree" if bad_rows else f"{len(priced)} rows agree", ()))
    doc_date, due = _value(fields, "document_date"), _value(fields, "due_date")
    for name, value in (("document_date", doc_date), ("due_date", due)):
        if value is None:
            continue
        d = date.fromisoformat(value)
        lo, hi = date(2000, 1, 1), date(today.year + 1, today.month, min(today.day, 28))
        out.append(CheckResult(f"{name}_plausible", lo <= d <= hi, f"{value} within {lo}..{hi}", (name,)))
    if doc_date is not None and due is not None:
        days = (date.fromisoformat(due) - date.fromisoformat(doc_date)).days
        out.append(CheckResult("due_date_after_document_date", 0 <= days <= 366, f"due {days} days after issue",
                               ("document_date", "due_date")))
    currency = _value(fields, "currency")
    if currency is not None:
        out.append(CheckResult("currency_is_iso_4217", currency in ISO_4217, f"{currency}", ("currency",)))
    return out
