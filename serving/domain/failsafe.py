"""The routing fail-safe: when monitoring finds the auto-approval error above the policy's target, the router
tightens itself for the affected segment and says so in every decision it touches.

A :class:`FailsafeState` is written by `triage monitor` (``serving/storage/monitoring.py``) and read here through
a small cache (:class:`FailsafeBoard`), so the scoring path costs one dictionary lookup and sees a new state within
``refresh_seconds``. ``factor`` is the share of the normal auto-approval room kept: the minimum reason confidence
moves towards 1 and the maximum fraud risk towards 0 by that factor; ``0`` sends every would-be auto-approval of the
segment to a person. Standard library only.

A state's ``segment`` is its scope: a segment name, ``"*"`` for every segment, or ``"reason=CODE"`` for the
returns the reason model gives one code, in every segment (:func:`reason_scope`): the monitor holds a code whose
confirmed reasons show the model wrong on it more often than the target allows, while other codes keep flowing.

Beside the states, the monitor publishes per tenant and segment the inputs it has vetted (:class:`VettedInputs`:
ranges of :data:`NUMERIC_INPUTS`, known values of :data:`CATEGORICAL_INPUTS`). A would-be auto-approval whose
inputs lie outside its segment's ranges goes to a person at once, return by return — before any window-level test
can see that the traffic moved. No ranges published for a segment: no effect.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

__all__ = ["ALL_SEGMENTS", "REASON_SCOPE", "INPUTS_HOLD", "NUMERIC_INPUTS", "CATEGORICAL_INPUTS", "FailsafeState",
           "FailsafeBoard", "VettedInputs", "as_number", "case_inputs", "reason_scope", "tightened_gates"]

ALL_SEGMENTS = "*"
REASON_SCOPE = "reason="  # prefix of a scope that holds one predicted reason code in every segment
INPUTS_HOLD = "inputs outside the vetted ranges"  # how a decision held by VettedInputs names the hold
NUMERIC_INPUTS = ("refund_amount", "unit_price", "account_age_days", "returns_last_365d", "prior_fraud_flags",
                  "text_length")
CATEGORICAL_INPUTS = ("channel", "facility", "category", "claimed_condition")


def as_number(value: Any) -> float:
    """``value`` as a float; NaN when it is missing or not a number."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def case_inputs(payload: dict[str, Any], channel: str, facility: str) -> dict[str, Any]:
    """The inputs a return is vetted on, from its request (``payload``) and its case's channel and facility: the
    same values the monitor fits the ranges on. A missing number is NaN (never outside), a missing category
    ``"unknown"``."""
    line = payload.get("line") or {}
    customer = payload.get("customer") or {}
    return {
        "refund_amount": as_number(payload.get("refund_amount")), "unit_price": as_number(line.get("unit_price")),
        "account_age_days": as_number(customer.get("account_age_days")),
        "returns_last_365d": as_number(customer.get("returns_last_365d")),
        "prior_fraud_flags": as_number(customer.get("prior_fraud_flags")),
        "text_length": float(len(str(payload.get("reason_text") or ""))),
        "channel": str(channel), "facility": str(facility), "category": str(line.get("category") or "unknown"),
        "claimed_condition": str(payload.get("claimed_condition") or "unknown"),
    }


def reason_scope(code: str) -> str:
    """The scope of a state that holds the returns predicted as ``code``."""
    return f"{REASON_SCOPE}{code}"


@dataclass(frozen=True, slots=True)
class FailsafeState:
    """One tightening of the router, open until ``cleared_at`` is set."""

    state_id: str
    tenant: str
    segment: str  # the scope: a segment name, "*" for all segments, or "reason=CODE" (see reason_scope)
    factor: float  # in [0, 1): share of the normal auto-approval room kept
    metric: str  # what crossed the target, e.g. "auto_approval_error_ipw"
    value: float
    target: float
    reason: str  # one sentence: what the monitor saw, in which window
    opened_at: datetime
    cleared_at: datetime | None = None
    cleared_reason: str | None = None

    @property
    def active(self) -> bool:
        return self.cleared_at is None

    @property
    def reason_code(self) -> str | None:
        """The reason code a reason-scoped state holds, else None."""
        return self.segment[len(REASON_SCOPE):] if self.segment.startswith(REASON_SCOPE) else None

    def applies_to(self, segment: str, reason_code: str | None = None) -> bool:
        held = self.reason_code
        if held is not None:
            return reason_code is not None and held == reason_code
        return self.segment in (ALL_SEGMENTS, segment)

    def clause(self) -> str:
        """How a decision names this state in its explanation."""
        held = self.reason_code
        scope = ("all segments" if self.segment == ALL_SEGMENTS
                 else f"reason {held}, all segments" if held is not None else f"segment {self.segment}")
        action = ("every would-be auto-approval goes to a person" if self.factor <= 0.0
                  else f"gates tightened to {self.factor:.0%} of their room")
        return (f"fail-safe {self.state_id[:8]} ({scope}, since {self.opened_at:%Y-%m-%d %H:%M}): {self.reason}; "
                f"{action}")

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("opened_at", "cleared_at"):
            out[key] = out[key].isoformat() if out[key] is not None else None
        return out


@dataclass(frozen=True, slots=True)
class VettedInputs:
    """The inputs the monitor vetted for one tenant and segment: each numeric feature's range and each categorical
    feature's known values, fitted on ``cases`` returns described by ``basis``. Features absent here are not
    checked."""

    inputs_id: str
    tenant: str
    segment: str
    numeric: dict[str, tuple[float, float]]
    known: dict[str, frozenset[str]]
    cases: int
    basis: str  # what the ranges were fitted on, in a sentence
    published_at: datetime

    def outside(self, inputs: dict[str, Any]) -> tuple[str, ...]:
        """One finding per feature of ``inputs`` (see :func:`case_inputs`) outside the vetted ranges."""
        findings: list[str] = []
        for name, (low, high) in self.numeric.items():
            x = inputs.get(name)
            if not isinstance(x, int | float) or not math.isfinite(x) or low <= x <= high:
                continue
            side = "below" if x < low else "above"
            findings.append(f"{name} {x:g} {side} the vetted {low:g}–{high:g}")
        for name, seen in self.known.items():
            value = inputs.get(name)
            if value is not None and str(value) not in seen:
                findings.append(f"{name} {value!s} never vetted in this segment")
        return tuple(findings)

    def clause(self, findings: Iterable[str]) -> str:
        """How a decision held for ``findings`` names the hold (``INPUTS_HOLD`` and the ranges' id first)."""
        return (f"{INPUTS_HOLD} {self.inputs_id[:8]} (segment {self.segment}, published "
                f"{self.published_at:%Y-%m-%d %H:%M}, from {self.cases} returns): {'; '.join(findings)}; the models "
                f"were not checked on such inputs, so a person decides")

    def to_dict(self) -> dict[str, Any]:
        return {"inputs_id": self.inputs_id, "tenant": self.tenant, "segment": self.segment,
                "numeric": {k: [lo, hi] for k, (lo, hi) in self.numeric.items()},
                "known": {k: sorted(v) for k, v in self.known.items()}, "cases": self.cases, "basis": self.basis,
                "published_at": self.published_at.isoformat()}


def tightened_gates(min_reason_confidence: float, max_fraud_risk: float, factor: float) -> tuple[float, float]:
    """The gates under a fail-safe ``factor``: the room above the confidence gate and below the risk gate shrink
    to ``factor`` of what the policy allows."""
    f = min(max(factor, 0.0), 1.0)
    return 1.0 - (1.0 - min_reason_confidence) * f, max_fraud_risk * f


class FailsafeBoard:
    """The open fail-safe states and the current vetted inputs, reloaded at most every ``refresh_seconds`` (0 = on
    every lookup).

    ``load`` returns the open states of every tenant, ``load_inputs`` (optional) the current
    :class:`VettedInputs` of every tenant and segment; a failing load keeps the last good ones (the router must not
    loosen itself because the database blinked).
    """

    def __init__(self, load: Callable[[], Iterable[FailsafeState]], *, refresh_seconds: float = 5.0,
                 clock: Callable[[], float] = time.monotonic,
                 load_inputs: Callable[[], Iterable[VettedInputs]] | None = None) -> None:
        self._load = load
        self._load_inputs = load_inputs
        self.refresh_seconds = refresh_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._states: dict[str, list[FailsafeState]] = {}
        self._inputs: dict[tuple[str, str], VettedInputs] = {}
        self._loaded_at: float | None = None

    def refresh(self) -> None:
        states: dict[str, list[FailsafeState]] = {}
        for state in self._load():
            if state.active:
                states.setdefault(state.tenant, []).append(state)
        inputs: dict[tuple[str, str], VettedInputs] = {}
        for vetted in self._load_inputs() if self._load_inputs is not None else ():
            key = (vetted.tenant, vetted.segment)
            if key not in inputs or vetted.published_at > inputs[key].published_at:
                inputs[key] = vetted
        with self._lock:
            self._states = states
            self._inputs = inputs
            self._loaded_at = self._clock()

    def _fresh(self) -> None:
        now = self._clock()
        if self._loaded_at is None or now - self._loaded_at >= self.refresh_seconds:
            try:
                self.refresh()
            except Exception:  # noqa: BLE001 - keep routing on the last known states
                if self._loaded_at is None:
                    raise

    def for_case(self, tenant: str, segment: str, reason_code: str | None = None) -> FailsafeState | None:
        """The most restrictive open state covering this tenant and segment (or the case's predicted
        ``reason_code``), if any."""
        self._fresh()
        matching = [s for s in self._states.get(tenant, ()) if s.applies_to(segment, reason_code)]
        return min(matching, key=lambda s: (s.factor, s.opened_at)) if matching else None

    def inputs_for(self, tenant: str, segment: str) -> VettedInputs | None:
        """The inputs vetted for this tenant and segment, or None while the monitor has published none."""
        self._fresh()
        return self._inputs.get((tenant, segment))
