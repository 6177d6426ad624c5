"""Supplier claims as procurement uses them: list, read with evidence, export (JSON, CSV), move through statuses."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from returns_triage.errors import InvalidInput
from returns_triage.serving.domain import supplier_claims as rules
from returns_triage.serving.storage.supplier_claims import CLAIM_COLUMNS, SqlSupplierClaimStore

__all__ = ["SupplierClaimService", "CSV_COLUMNS"]

_EVIDENCE_COLUMNS = ("inspection_id", "case_id", "sku", "quantity", "unit_price", "amount", "serial_numbers",
                     "grade", "serial_check", "disposition", "notes", "document_ids", "inspector", "facility",
                     "inspected_at")
CSV_COLUMNS = tuple(CLAIM_COLUMNS) + tuple(f"evidence_{c}" for c in _EVIDENCE_COLUMNS)
"""One CSV row per evidence line (inspected unit), the claim's columns repeated; lists are ``;``-joined."""


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, (list, tuple)):
        return ";".join(str(v) for v in value)
    text = str(value)
    # A cell starting with = + - @ is a formula to a spreadsheet: prefix it so procurement's tools show text.
    return "'" + text if text[:1] in ("=", "+", "-", "@") and not _is_number(text) else text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    raise TypeError(type(value).__name__)


class SupplierClaimService:
    def __init__(self, store: SqlSupplierClaimStore, *,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.store = store
        self.clock = clock

    def list_claims(self, tenant: str, *, status: str | None = None, supplier_id: str | None = None,
                    limit: int = 100) -> list[dict[str, Any]]:
        self._check_status(status)
        return self.store.list_claims(tenant, status=status, supplier_id=supplier_id, limit=limit)

    def get_claim(self, tenant: str, claim_id: str) -> dict[str, Any]:
        return self.store.get_claim(tenant, claim_id)

    def transition(self, tenant: str, claim_id: str, *, status: str, actor: str,
                   recovered_amount: float | None = None, note: str | None = None) -> dict[str, Any]:
        return self.store.transition(tenant, claim_id, status=status, actor=actor, now=self.clock(),
                                     recovered_amount=recovered_amount, note=note)

    def with_evidence(self, tenant: str, *, status: str | None = None,
                      supplier_id: str | None = None) -> list[dict[str, Any]]:
        """Claims (newest first) each with its evidence lines: the JSON export."""
        self._check_status(status)
        return self.store.export(tenant, status=status, supplier_id=supplier_id)

    def export(self, tenant: str, fmt: str, *, status: str | None = None,
               supplier_id: str | None = None) -> tuple[bytes, str]:
        """(body, media type): ``json`` is a list of claims with their evidence, ``csv`` one row per unit."""
        self._check_status(status)
        claims = self.store.export(tenant, status=status, supplier_id=supplier_id)
        if fmt == "json":
            return json.dumps(claims, default=_json_default, separators=(",", ":")).encode(), "application/json"
        if fmt != "csv":
            raise InvalidInput("format must be json or csv", field="format")
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for claim in claims:
            head = [_cell(claim[c]) for c in CLAIM_COLUMNS]
            for line in claim["evidence"] or [{}]:
                writer.writerow(head + [_cell(line.get(c)) for c in _EVIDENCE_COLUMNS])
        return out.getvalue().encode(), "text/csv; charset=utf-8"

    @staticmethod
    def _check_status(status: str | None) -> None:
        if status is not None and status not in rules.STATUSES:
            raise InvalidInput(f"status must be one of {', '.join(rules.STATUSES)}", field="status")
