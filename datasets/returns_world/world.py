"""A simulated world as event tables, and the point-in-time views the service would see.

Every history number in a request is computed from events strictly before the return's ``requested_at``;
nothing reads an outcome or a later event (tests/unit/test_fraud_features.py adds later events and checks).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from typing import Any

import numpy as np

from returns_triage.datasets.returns_world import generative as g
from returns_triage.datasets.returns_world.config import WorldConfig

__all__ = ["Catalogue", "World", "History"]

_TEXTS = {
    "DAMAGED_IN_TRANSIT": "The {item} arrived damaged, the box was crushed.",
    "DEFECTIVE": "The {item} stopped working after a few uses.",
    "WRONG_ITEM_SHIPPED": "You sent me a different item than the {item} I ordered.",
    "ORDERED_WRONG_ITEM": "I ordered the wrong {item} by mistake.",
    "NOT_AS_DESCRIBED": "The {item} is not what the listing described.",
    "INCOMPATIBLE": "The {item} does not fit my model.",
    "MISSING_PARTS": "Parts are missing from the {item} package.",
    "QUANTITY_DISCREPANCY": "I received fewer {item} units than ordered.",
    "NO_LONGER_NEEDED": "I no longer need the {item}.",
    "LATE_DELIVERY": "The {item} never arrived in time, I don't want it anymore.",
    "DUPLICATE_ORDER": "I accidentally ordered the {item} twice.",
    "WARRANTY_CLAIM": "Warranty claim: the {item} failed within the warranty period.",
    "EXPIRED_OR_SHORT_DATED": "The {item} arrived past its best-before date.",
    "OTHER": "Returning the {item}, see attached.",
}


@dataclass(frozen=True, slots=True)
class Catalogue:
    category: np.ndarray
    unit_price: np.ndarray
    weight_kg: np.ndarray
    serialised: np.ndarray


@dataclass(frozen=True, slots=True)
class History:
    """Customer history summary as of each case's request time (what the ERP sends)."""

    account_age: np.ndarray  # days, fractional
    returns_30: np.ndarray
    returns_365: np.ndarray
    return_value_365: np.ndarray
    orders_kept_365: np.ndarray
    current_order_in_window: np.ndarray
    flags: np.ndarray

    @property
    def orders_365(self) -> np.ndarray:
        # A returned order is counted at its return's time; the current return's order if placed in the window.
        return self.orders_kept_365 + self.returns_365 + self.current_order_in_window


@dataclass(frozen=True, slots=True)
class World:
    """Event tables sorted by time. *Cases* are the returns inside the observation window (``t >= 0``);
    earlier returns exist only as history."""

    config: WorldConfig
    catalogue: Catalogue
    customers: dict[str, np.ndarray]
    returns: dict[str, np.ndarray]
    orders: dict[str, np.ndarray]
    flags: dict[str, np.ndarray]

    @property
    def case_index(self) -> np.ndarray:
        """Row numbers (into ``returns``) of the cases, in request-time order."""
        idx = np.flatnonzero(self.returns["t"] >= 0)
        return idx[np.argsort(self.returns["t"][idx], kind="stable")]

    def case_column(self, name: str) -> np.ndarray:
        return self.returns[name][self.case_index]

    def __len__(self) -> int:
        return int(self.case_index.size)

    # --- point-in-time views ----------------------------------------------------------------------------

    def history(self) -> History:
        idx = self.case_index
        r = self.returns
        cust, t = r["customer"][idx], r["t"][idx]
        created = self.customers["created"][cust]
        order_day = np.floor(t) - r["gap_days"][idx] - r["ship_days"][idx]
        return History(
            account_age=t - created,
            returns_30=_count_before(r["customer"], r["t"], cust, t, 30.0),
            returns_365=_count_before(r["customer"], r["t"], cust, t, 365.0),
            return_value_365=_count_before(r["customer"], r["t"], cust, t, 365.0, weights=r["line_value"]),
            orders_kept_365=_count_before(self.orders["customer"], self.orders["t"], cust, t, 365.0),
            current_order_in_window=(order_day >= t - 365.0).astype(int),
            flags=_count_before(self.flags["customer"], self.flags["t"], cust, t, np.inf),
        )

    def requests(self, limit: int | None = None, positions: np.ndarray | None = None) -> list[dict[str, Any]]:
        """One scoring request per case (the shape of examples/score-request.json plus optional fields), in
        case order; only the first ``limit`` cases, or the cases at ``positions``, if given."""
        pos = np.arange(len(self))[:limit] if positions is None else np.asarray(positions)
        idx = self.case_index[pos]
        r = self.returns
        full = self.history()
        h = History(*(getattr(full, name)[pos] for name in History.__slots__))
        start = datetime.combine(self.config.start, time(0), tzinfo=timezone.utc)
        cats = list(g.CATALOGUE)
        out = []
        for j, i in enumerate(idx):
            t = float(r["t"][i])
            requested = start + timedelta(seconds=round(t * 86400))
            delivered = (start + timedelta(days=int(np.floor(t)) - int(r["gap_days"][i]))).date()
            ordered = delivered - timedelta(days=int(r["ship_days"][i]))
            cust = int(r["customer"][i])
            sku = int(r["sku"][i])
            category = cats[int(r["category"][i])]
            order_id = f"SO-{100000 + int(i)}"
            shipped_serials, returned_serials = self._serials(i)
            weight_shipped = round(float(self.catalogue.weight_kg[sku]) * int(r["quantity"][i]), 3)
            weight_received = (
                weight_shipped * float(g.WEIGHT_RATIOS[r["weight_atom"][i]]) if r["weight_known"][i] else None
            )
            out.append({
                "case_id": f"RMA-{requested.year}-{int(i):06d}",
                "facility": g.FACILITIES[int(r["facility"][i])],
                "channel": g.CHANNELS[int(r["channel"][i])],
                "segment": g.SEGMENTS[int(r["segment"][i])],
                "requested_at": requested.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "reason_text": _TEXTS[g.REASON_CODES[int(r["reason"][i])]].format(item=category.replace("_", " ")),
                "order": {
                    "order_id": order_id, "order_date": ordered.isoformat(), "currency": "EUR",
                    "delivered_at": delivered.isoformat(),
                },
                "line": {
                    "line_id": f"{order_id}-1", "sku": f"{category[:3].upper()}-{sku:05d}",
                    "description": f"{category.replace('_', ' ')} item {sku}", "category": category,
                    "quantity": int(r["quantity"][i]), "unit_price": float(r["unit_price"][i]),
                    "serial_numbers": shipped_serials,
                    "returned_serial_numbers": returned_serials,
                    "weight_shipped_kg": weight_shipped,
                    "weight_received_kg": weight_received,
                    "refunded_quantity_before": int(r["quantity"][i]) if r["refunded_before"][i] else 0,
                },
                "customer": {
                    "customer_id": f"C-{100000 + cust}",
                    "account_age_days": int(np.floor(h.account_age[j])),
                    "orders_last_365d": int(h.orders_365[j]),
                    "returns_last_30d": int(h.returns_30[j]),
                    "returns_last_365d": int(h.returns_365[j]),
                    "return_value_last_365d": round(float(h.return_value_365[j]), 2),
                    "prior_fraud_flags": int(h.flags[j]),
                },
                "delivery": {"status": g.DELIVERY_STATUSES[int(r["delivery_status"][i])]},
                "claimed_condition": g.CONDITIONS[int(r["condition"][i])],
                "refund_amount": float(r["refund_amount"][i]),
                "document_ids": [f"DOC-{int(i):06d}-{d}" for d in range(int(r["n_documents"][i]))],
            })
        return out

    def reason_codes(self) -> list[str]:
        """The claimed reason code per case (what the reason model would return)."""
        return [g.REASON_CODES[int(c)] for c in self.case_column("reason")]

    def findings(self) -> list[list[dict[str, str]] | None]:
        """Document findings per case; ``None`` when the case has no documents."""
        out: list[list[dict[str, str]] | None] = []
        for n_docs, row in zip(self.case_column("n_documents"), self.case_column("findings"), strict=True):
            if n_docs == 0:
                out.append(None)
                continue
            out.append([
                {"code": code, "severity": g.FINDING_SEVERITY[code]}
                for code, present in zip(g.FINDING_CODES, row, strict=True) if present
            ])
        return out

    def labels(self) -> dict[str, np.ndarray]:
        """Ground truth per case: ``is_fraud``, ``typology`` ("" when legitimate), ``requested_day`` and
        ``outcome_day`` (days since the world's start; NaN when no outcome ever arrives)."""
        cls = self.case_column("class")
        return {
            "is_fraud": cls >= g.N_LEGIT,
            "typology": np.array([g.CLASSES[c] if c >= g.N_LEGIT else "" for c in cls]),
            "requested_day": self.case_column("t"),
            "outcome_day": self.case_column("outcome_at"),
        }

    def _serials(self, i: int) -> tuple[list[str], list[str] | None]:
        r = self.returns
        if not r["serialised"][i]:
            return [], None
        q = int(r["quantity"][i])
        base = int(r["serial_seed"][i])
        shipped = [f"SN{base + k:08d}" for k in range(q)]
        if not r["serial_declared"][i]:
            return shipped, None
        if r["serial_mismatch"][i]:
            return shipped, [f"SN{(base * 7919 + 13 + k) % 10**8:08d}" for k in range(q)]
        return shipped, list(shipped)


def _count_before(owner: np.ndarray, times: np.ndarray, cust: np.ndarray, t: np.ndarray, window: float,
                  weights: np.ndarray | None = None) -> np.ndarray:
    """Per query (cust, t): number (or weighted sum) of the customer's events in [t - window, t)."""
    order = np.lexsort((times, owner))
    o, s = owner[order], times[order]
    span = 1e4  # days; keys stay exact in float64 for the simulated time range
    key = o * span + (s + 5e3)
    hi = np.searchsorted(key, cust * span + (t + 5e3), side="left")
    lo_t = np.maximum(t - window, -5e3 + 1e-6) if np.isfinite(window) else np.full_like(t, -5e3 + 1e-6)
    lo = np.searchsorted(key, cust * span + (lo_t + 5e3), side="left")
    if weights is None:
        return (hi - lo).astype(int)
    csum = np.concatenate([[0.0], np.cumsum(weights[order])])
    return csum[hi] - csum[lo]
