"""Per-key rate limits: a token bucket per API key, sized by the key's role, kept in process.

Each replica (and each uvicorn worker) limits on its own, so N replicas admit up to N times the configured rate;
the limit protects a process from one noisy client, it is not a billing quota.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = ["RateLimit", "RateLimiter", "parse_rate_limits", "DEFAULT_RATE_LIMITS"]


@dataclass(frozen=True, slots=True)
class RateLimit:
    """``per_second`` tokens flow in, up to ``burst``; a request takes one. ``per_second == 0``: unlimited."""

    per_second: float
    burst: float

    @property
    def unlimited(self) -> bool:
        return self.per_second <= 0


DEFAULT_RATE_LIMITS: dict[str, RateLimit] = {
    "workflow_engine": RateLimit(100.0, 200.0),
    "reviewer": RateLimit(10.0, 30.0),
    "supervisor": RateLimit(20.0, 60.0),
    "auditor": RateLimit(10.0, 30.0),
    "data_scientist": RateLimit(10.0, 30.0),
    "admin": RateLimit(200.0, 1000.0),
}


def parse_rate_limits(text: str, roles: tuple[str, ...]) -> dict[str, RateLimit]:
    """``"workflow_engine=100:200,reviewer=10"`` (per second, optional burst; 0 = unlimited) over the defaults."""
    limits = dict(DEFAULT_RATE_LIMITS)
    for part in filter(None, (p.strip() for p in text.split(","))):
        role, sep, value = part.partition("=")
        role = role.strip()
        if not sep or role not in roles:
            raise ValueError(f"{part!r}: expected ROLE=PER_SECOND[:BURST] with ROLE one of {', '.join(roles)}")
        rate_text, _, burst_text = value.partition(":")
        try:
            rate = float(rate_text)
            burst = float(burst_text) if burst_text else max(1.0, rate)
        except ValueError as exc:
            raise ValueError(f"{part!r}: PER_SECOND and BURST must be numbers") from exc
        if not (math.isfinite(rate) and math.isfinite(burst)) or rate < 0 or burst < 1:
            raise ValueError(f"{part!r}: PER_SECOND must be >= 0 and BURST >= 1")
        limits[role] = RateLimit(rate, burst)
    return limits


class RateLimiter:
    def __init__(self, limits: Mapping[str, RateLimit], *, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = dict(limits)
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._lock = threading.Lock()

    def take(self, key: str, role: str) -> float:
        """0.0 if the request may proceed (a token was taken), else the seconds until one will be available."""
        limit = self.limits.get(role)
        if limit is None or limit.unlimited:
            return 0.0
        with self._lock:
            now = self.clock()
            tokens, at = self._buckets.get(key, (limit.burst, now))
            tokens = min(limit.burst, tokens + (now - at) * limit.per_second)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / limit.per_second
