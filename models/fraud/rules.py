"""The rules baseline a returns desk uses without a model: many recent returns, a refund above a value cap,
a brand-new account. The score is the share of rules that fire (0, 1/3, 2/3, 1)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["RULES", "rules_score", "rules_fired"]

RECENT_RETURNS_LIMIT = 3  # returns in the last 30 days
REFUND_VALUE_CAP = 500.0  # currency units
NEW_ACCOUNT_DAYS = 30
RULES = ("recent_returns", "refund_over_cap", "new_account")


def rules_fired(request: Mapping[str, Any]) -> list[str]:
    """The rules a request trips, in RULES order."""
    customer = request.get("customer") or {}
    fired = []
    if float(customer.get("returns_last_30d") or 0) >= RECENT_RETURNS_LIMIT:
        fired.append("recent_returns")
    if float(request.get("refund_amount") or 0) > REFUND_VALUE_CAP:
        fired.append("refund_over_cap")
    if float(customer.get("account_age_days", NEW_ACCOUNT_DAYS)) < NEW_ACCOUNT_DAYS:
        fired.append("new_account")
    return fired


def rules_score(request: Mapping[str, Any]) -> float:
    """Share of the baseline rules the request trips."""
    return len(rules_fired(request)) / len(RULES)
