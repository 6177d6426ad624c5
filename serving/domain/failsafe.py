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
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

__all__ = ["ALL_SEGMENTS", "REASON_SCOPE", "FailsafeState", "FailsafeBoard", "reason_scope", "tightened_gates"]

ALL_SEGMENTS = "*"
REASON_SCOPE = "reason="  # prefix of a scope that holds one predicted reason code in every segment


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


def tightened_gates(min_reason_confidence: float, max_fraud_risk: float, factor: float) -> tuple[float, float]:
    """The gates under a fail-safe ``factor``: the room above the confidence gate and below the risk gate shrink
    to ``factor`` of what the policy allows."""
    f = min(max(factor, 0.0), 1.0)
    return 1.0 - (1.0 - min_reason_confidence) * f, max_fraud_risk * f


class FailsafeBoard:
    """The open fail-safe states, reloaded at most every ``refresh_seconds`` (0 = on every lookup).

    ``load`` returns the open states of every tenant; a failing load keeps the last good states (the router must
    not loosen itself because the database blinked).
    """

    def __init__(self, load: Callable[[], Iterable[FailsafeState]], *, refresh_seconds: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._load = load
        self.refresh_seconds = refresh_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._states: dict[str, list[FailsafeState]] = {}
        self._loaded_at: float | None = None

    def refresh(self) -> None:
        states: dict[str, list[FailsafeState]] = {}
        for state in self._load():
            if state.active:
                states.setdefault(state.tenant, []).append(state)
        with self._lock:
            self._states = states
            self._loaded_at = self._clock()

    def for_case(self, tenant: str, segment: str, reason_code: str | None = None) -> FailsafeState | None:
        """The most restrictive open state covering this tenant and segment (or the case's predicted
        ``reason_code``), if any."""
        now = self._clock()
        if self._loaded_at is None or now - self._loaded_at >= self.refresh_seconds:
            try:
                self.refresh()
            except Exception:  # noqa: BLE001 - keep routing on the last known states
                if self._loaded_at is None:
                    raise
        matching = [s for s in self._states.get(tenant, ()) if s.applies_to(segment, reason_code)]
        return min(matching, key=lambda s: (s.factor, s.opened_at)) if matching else None
