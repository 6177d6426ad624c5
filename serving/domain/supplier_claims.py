"""Supplier recovery rules: when an inspection becomes evidence in a claim against the supplier, and how a claim
moves from open to money recovered. Standard library only.

Two triggers open a claim:

- ``return_to_vendor``: the disposition sends the goods back; the inspection joins the supplier's open
  vendor-return claim in the same currency (procurement submits one claim per supplier, not one per unit);
- ``defect_pattern``: ``count`` defect inspections of one supplier's SKU within ``window`` (none of them in a
  claim yet) open a claim covering all of them, even when each unit was scrapped or refurbished here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

__all__ = [
    "STATUSES", "OPEN", "SUBMITTED", "ACCEPTED", "REJECTED", "RECOVERED", "TRANSITIONS", "TRIGGERS",
    "RETURN_TO_VENDOR", "DEFECT_PATTERN", "DEFECT_REASONS", "DEFECT_GRADES", "DefectPatternRule",
    "is_defect", "transition_problem", "claim_amount",
]

OPEN, SUBMITTED, ACCEPTED, REJECTED, RECOVERED = "open", "submitted", "accepted", "rejected", "recovered"
STATUSES = (OPEN, SUBMITTED, ACCEPTED, REJECTED, RECOVERED)
# open → submitted → accepted | rejected; accepted → recovered (with the amount the supplier paid or credited).
TRANSITIONS: dict[str, frozenset[str]] = {
    OPEN: frozenset({SUBMITTED}),
    SUBMITTED: frozenset({ACCEPTED, REJECTED}),
    ACCEPTED: frozenset({RECOVERED}),
    REJECTED: frozenset(),
    RECOVERED: frozenset(),
}
RETURN_TO_VENDOR, DEFECT_PATTERN = "return_to_vendor", "defect_pattern"
TRIGGERS = (RETURN_TO_VENDOR, DEFECT_PATTERN)

# A unit counts towards a defect pattern when the return says the product failed and the inspector agrees
# (grade C or D); a unit sent back to the vendor is always a defect but is claimed on its own.
DEFECT_REASONS = frozenset({"DEFECTIVE", "WARRANTY_CLAIM", "MISSING_PARTS", "NOT_AS_DESCRIBED"})
DEFECT_GRADES = frozenset({"C", "D"})


@dataclass(frozen=True, slots=True)
class DefectPatternRule:
    """``count`` defect inspections of one supplier and SKU within ``window`` open a pattern claim."""

    count: int = 3
    window: timedelta = timedelta(days=30)

    def __post_init__(self) -> None:
        if self.count < 2:
            raise ValueError("a defect pattern needs at least 2 inspections")
        if self.window <= timedelta(0):
            raise ValueError("the defect pattern window must be positive")

    def is_pattern(self, defects_in_window: int) -> bool:
        return defects_in_window >= self.count


def is_defect(reason_code: str | None, grade: str, disposition: str) -> bool:
    """Whether an inspection is evidence of a product defect (counts towards a supplier's defect pattern)."""
    if disposition == RETURN_TO_VENDOR:
        return True
    return reason_code in DEFECT_REASONS and grade in DEFECT_GRADES


def claim_amount(unit_price: float, quantity: int) -> float:
    """What one inspected line is worth in a claim: its purchase value (unit price × quantity), to the cent."""
    return round(float(unit_price) * int(quantity), 2)


def transition_problem(current: str, target: str, *, recovered_amount: float | None,
                       claimed_amount: float) -> tuple[str, str] | None:
    """(field, message) when moving a claim from ``current`` to ``target`` is not allowed, else None."""
    if target not in STATUSES:
        return "status", f"status must be one of {', '.join(STATUSES)}"
    if target not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "none (the claim is closed)"
        return "status", f"a {current} claim cannot become {target}; next: {allowed}"
    if target == RECOVERED:
        if recovered_amount is None:
            return "recovered_amount", "recovered_amount is required to mark a claim recovered"
        if recovered_amount < 0 or recovered_amount > claimed_amount + 0.005:
            return "recovered_amount", f"recovered_amount must be between 0 and the claimed {claimed_amount:.2f}"
    elif recovered_amount is not None:
        return "recovered_amount", "recovered_amount is only set when the claim becomes recovered"
    return None
