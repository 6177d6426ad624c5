"""What a simulated returns world looks like: size, period, fraud base rates and drift knobs."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

__all__ = ["FraudRing", "WorldConfig"]


@dataclass(frozen=True, slots=True)
class FraudRing:
    """Drift: a ring of fresh consumer accounts opened within ``window_days`` of ``start_day``.

    Ring accounts return at a high rate right after opening, mostly electronics swapped for empty boxes and
    false damage claims, and carry no prior fraud flags (they are new to every registry).
    """

    start_day: int = 240  # days after the world's start
    window_days: int = 30
    accounts: int = 60


@dataclass(frozen=True, slots=True)
class WorldConfig:
    """Everything that determines a world; equal configs give identical worlds.

    ``typology_weights`` multiplies the prior weight of each fraud typology (1.0 = the documented base rate,
    0.0 = switched off), so base rates are configurable without touching the generative tables.
    """

    seed: int = 0
    start: date = date(2025, 1, 1)
    months: int = 12
    customers: int = 12_000
    history_years: float = 6.0  # accounts are opened uniformly over this span before ``start`` and during it
    segment_mix: tuple[float, float, float] = (0.75, 0.12, 0.13)  # consumer, contract, field_sales_b2b
    typology_weights: dict[str, float] = field(default_factory=dict)
    seasonality: float = 1.0  # 0 switches the month effects off
    fraud_ring: FraudRing | None = None
    new_product_line_day: int | None = None  # day (after start) the e_mobility line launches; None = never

    @property
    def days(self) -> int:
        """Length of the observation window in days (months of 30.4 days, rounded)."""
        return int(round(self.months * 30.4))

    def typology_weight(self, typology: str) -> float:
        return float(self.typology_weights.get(typology, 1.0))
