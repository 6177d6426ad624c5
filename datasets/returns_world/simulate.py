"""Sample a returns world from the generative tables: customers, their orders, returns and registry flags over
time, each return's latent class and evidence, and the outcomes that arrive (or not) afterwards."""

from __future__ import annotations

import numpy as np

from returns_triage.datasets.returns_world import generative as g
from returns_triage.datasets.returns_world.config import WorldConfig
from returns_triage.datasets.returns_world.world import Catalogue, World

__all__ = ["simulate_world"]

_SKUS_PER_CATEGORY = 30
_SECONDS = 86_400.0
# Typology -> (probability the fraud is ever confirmed, min delay, max delay in days).
_CONFIRMATION = {
    "wardrobing": (0.6, 5, 15),  # inspection finds wear
    "item_switch": (0.9, 4, 12),  # inspection finds another item / an empty box
    "price_receipt_fraud": (0.7, 20, 60),  # chargeback / receipt verification
    "false_claim": (0.6, 14, 45),  # carrier investigation
    "serial_returning": (0.5, 30, 90),  # account review
    "duplicate_refund": (0.9, 10, 40),  # refund reconciliation
    "no_matching_purchase": (0.9, 2, 10),
}
_LEGIT_CLEARED = (0.7, 4, 12)  # inspected and cleared; otherwise no outcome ever arrives


def simulate_world(config: WorldConfig | None = None) -> World:
    """One seeded world. Equal configs give identical worlds."""
    cfg = config or WorldConfig()
    rng = np.random.default_rng(cfg.seed)
    catalogue = _catalogue(np.random.default_rng([cfg.seed, 1]))
    customers = _customers(cfg, rng)
    returns = _events(cfg, rng, customers, "returns", start_floor=-365.0)
    orders = _events(cfg, rng, customers, "orders", start_floor=-365.0)
    flags = _events(cfg, rng, customers, "flags", start_floor=None)
    table = _describe_returns(cfg, rng, customers, catalogue, returns)
    _add_outcomes(rng, table)
    return World(
        config=cfg, catalogue=catalogue, customers=customers, returns=table,
        orders={"customer": orders[0], "t": orders[1]}, flags={"customer": flags[0], "t": flags[1]},
    )


def _catalogue(rng: np.random.Generator) -> Catalogue:
    cats, prices, weights, serialised = [], [], [], []
    for c, (median, sigma, weight, is_serial, _) in enumerate(g.CATALOGUE.values()):
        cats.append(np.full(_SKUS_PER_CATEGORY, c))
        prices.append(np.round(median * np.exp(sigma * rng.standard_normal(_SKUS_PER_CATEGORY)), 0) - 0.01)
        weights.append(np.round(weight * np.exp(0.4 * rng.standard_normal(_SKUS_PER_CATEGORY)), 3) + 0.05)
        serialised.append(np.full(_SKUS_PER_CATEGORY, is_serial))
    return Catalogue(
        category=np.concatenate(cats), unit_price=np.maximum(np.concatenate(prices), 0.99),
        weight_kg=np.concatenate(weights), serialised=np.concatenate(serialised),
    )


def _customers(cfg: WorldConfig, rng: np.random.Generator) -> dict[str, np.ndarray]:
    n = cfg.customers
    segment = rng.choice(len(g.SEGMENTS), size=n, p=np.asarray(cfg.segment_mix) / sum(cfg.segment_mix))
    ctype = np.empty(n, dtype=int)
    for s, name in enumerate(g.SEGMENTS):
        mask = segment == s
        prior = g.TYPE_PRIOR[name]
        ctype[mask] = rng.choice([g.CUSTOMER_TYPES.index(k) for k in prior], size=mask.sum(), p=list(prior.values()))
    if not 0 < cfg.history_years <= 12:
        raise ValueError("history_years must be in (0, 12]")  # the history index assumes < 10,000 days
    history = int(cfg.history_years * 365)
    created = rng.integers(-history, cfg.days, size=n)  # account opening day, same law for every type
    if cfg.fraud_ring is not None:
        ring = cfg.fraud_ring
        segment = np.concatenate([segment, np.zeros(ring.accounts, dtype=int)])
        ctype = np.concatenate([ctype, np.full(ring.accounts, g.CUSTOMER_TYPES.index("ring"))])
        created = np.concatenate([created, rng.integers(ring.start_day, ring.start_day + ring.window_days,
                                                        size=ring.accounts)])
    return {"segment": segment, "ctype": ctype, "created": created.astype(float)}


def rate_parameters(kind: str, segment: np.ndarray, ctype: np.ndarray) -> tuple[np.ndarray, ...]:
    """(steady, burst, decay) per row for an event process; rates scale with the segment."""
    table = np.array([g.RATES[k][kind] for k in g.CUSTOMER_TYPES])
    scale = np.array([g.SEGMENT_RATE_SCALE[s] for s in g.SEGMENTS])[segment]
    steady, burst, decay = table[ctype].T
    return steady * scale, burst * scale, decay


def expected_events(steady: np.ndarray, burst: np.ndarray, decay: np.ndarray, age0: np.ndarray,
                    age1: np.ndarray) -> np.ndarray:
    """Integral of steady + burst * exp(-age / decay) over ages [age0, age1]."""
    age0 = np.maximum(age0, 0.0)
    age1 = np.maximum(age1, age0)
    return steady * (age1 - age0) + burst * decay * (np.exp(-age0 / decay) - np.exp(-age1 / decay))


def _events(cfg: WorldConfig, rng: np.random.Generator, customers: dict[str, np.ndarray], kind: str,
            start_floor: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Inhomogeneous Poisson process per customer on [max(created, start_floor), end of world)."""
    created = customers["created"]
    steady, burst, decay = rate_parameters(kind, customers["segment"], customers["ctype"])
    start = created if start_floor is None else np.maximum(created, start_floor)
    a0, a1 = start - created, cfg.days - created
    m_steady = steady * (a1 - a0)
    m_burst = expected_events(np.zeros_like(steady), burst, decay, a0, a1)
    n = rng.poisson(m_steady + m_burst)
    owner = np.repeat(np.arange(len(created)), n)
    u, v = rng.random(owner.size), rng.random(owner.size)
    total = (m_steady + m_burst)[owner]
    from_burst = u * total >= m_steady[owner]
    e0, e1 = np.exp(-a0[owner] / decay[owner]), np.exp(-a1[owner] / decay[owner])
    age = a0[owner] + v * (a1[owner] - a0[owner])
    b = from_burst
    age[b] = -decay[owner][b] * np.log(e0[b] - v[b] * (e0[b] - e1[b]))  # inverse CDF of the truncated decay
    t = np.round((created[owner] + age) * _SECONDS) / _SECONDS  # whole seconds, like a real timestamp
    t = np.clip(t, start[owner], np.nextafter(cfg.days, 0))
    order = np.argsort(t, kind="stable")
    return owner[order], t[order]


def _describe_returns(cfg: WorldConfig, rng: np.random.Generator, customers: dict[str, np.ndarray],
                      catalogue: Catalogue, events: tuple[np.ndarray, np.ndarray]) -> dict[str, np.ndarray]:
    """Context, latent class and evidence for every return event."""
    cust, t = events
    n = t.size
    seg = customers["segment"][cust]
    ctype = customers["ctype"][cust]
    channel = np.empty(n, dtype=int)
    category = np.empty(n, dtype=int)
    quantity = np.empty(n, dtype=int)
    cats = list(g.CATALOGUE)
    for s, name in enumerate(g.SEGMENTS):
        mask = seg == s
        channel[mask] = rng.choice(len(g.CHANNELS), size=mask.sum(), p=_CHANNEL_MIX[name])
        shares = np.array([v[4][s] for v in g.CATALOGUE.values()], dtype=float)
        shares /= shares.sum()
        category[mask] = rng.choice(len(cats), size=mask.sum(), p=shares)
        q = g.QUANTITY_P[name]
        quantity[mask] = rng.choice(list(q), size=mask.sum(), p=list(q.values()))
    if cfg.new_product_line_day is not None:
        launched = (t >= cfg.new_product_line_day) & (seg == 0) & (rng.random(n) < g.NEW_LINE_SHARE)
        category[launched] = cats.index("e_mobility")
    sku = category * _SKUS_PER_CATEGORY + rng.integers(0, _SKUS_PER_CATEGORY, size=n)
    unit_price = catalogue.unit_price[sku]
    day = np.floor(t).astype(int)
    month = _months(cfg, day)
    log_prior = g.class_log_prior(cfg, seg, channel, category, unit_price, month)[np.arange(n), ctype]
    cls = _sample_rows(rng, np.exp(log_prior))

    ev = g.EVIDENCE
    reason = _sample_by_class(rng, ev["reason"], cls)
    gap = _sample_by_class(rng, ev["gap_days"], cls)
    condition = _sample_by_class(rng, ev["condition"], cls)
    status = _sample_by_class(rng, ev["delivery_status"], cls)
    refund_atom = _sample_by_class(rng, ev["refund_ratio"], cls)
    scan_p = np.array([g.WEIGHT_SCAN_P[c] for c in g.CHANNELS])[channel]
    weight_known = rng.random(n) < scan_p
    weight_atom = np.where(weight_known, _sample_by_class(rng, ev["weight_ratio"], cls), -1)
    serialised = catalogue.serialised[sku]
    serial_declared = serialised & (rng.random(n) < g.SERIAL_DECLARED_P)
    serial_mismatch = serial_declared & (rng.random(n) < ev["serial_mismatch"][cls])
    documents = rng.random(n) < ev["documents"][cls]
    n_documents = np.where(documents, 1 + (rng.random(n) < g.SECOND_DOCUMENT_P), 0)
    findings = documents[:, None] & (rng.random((n, len(g.FINDING_CODES))) < ev["findings"][cls])
    refunded_before = rng.random(n) < ev["refunded_before"][cls]
    ship_days = rng.integers(1, 6, size=n)
    line_value = np.round(unit_price * quantity, 2)
    return {
        "customer": cust, "t": t, "segment": seg, "ctype": ctype, "channel": channel, "category": category,
        "sku": sku, "quantity": quantity, "unit_price": unit_price, "line_value": line_value, "month": month,
        "class": cls, "reason": reason, "gap_days": gap, "condition": condition, "delivery_status": status,
        "refund_atom": refund_atom, "refund_amount": np.round(line_value * g.REFUND_RATIOS[refund_atom], 2),
        "weight_known": weight_known, "weight_atom": weight_atom, "serialised": serialised,
        "serial_declared": serial_declared, "serial_mismatch": serial_mismatch, "n_documents": n_documents,
        "findings": findings, "refunded_before": refunded_before, "ship_days": ship_days,
        "facility": rng.integers(0, len(g.FACILITIES), size=n), "serial_seed": rng.integers(0, 10**7, size=n),
    }


_CHANNEL_MIX = {
    "consumer": [0.7, 0.15, 0.15, 0.0, 0.0],
    "contract": [0.3, 0.2, 0.0, 0.0, 0.5],
    "field_sales_b2b": [0.15, 0.25, 0.0, 0.6, 0.0],
}


def _months(cfg: WorldConfig, day: np.ndarray) -> np.ndarray:
    dates = np.datetime64(cfg.start, "D") + day.astype("timedelta64[D]")
    return (dates.astype("datetime64[M]").astype(int) % 12) + 1


def _sample_rows(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    cdf = np.cumsum(probs, axis=1)
    u = rng.random(len(probs)) * cdf[:, -1]
    return np.minimum((u[:, None] > cdf).sum(axis=1), probs.shape[1] - 1)


def _sample_by_class(rng: np.random.Generator, table: np.ndarray, cls: np.ndarray) -> np.ndarray:
    u = rng.random(cls.size)
    out = np.empty(cls.size, dtype=int)
    cdf = np.cumsum(table, axis=1)
    for c in np.unique(cls):
        mask = cls == c
        out[mask] = np.minimum(np.searchsorted(cdf[c], u[mask] * cdf[c, -1], side="right"), table.shape[1] - 1)
    return out


def _add_outcomes(rng: np.random.Generator, table: dict[str, np.ndarray]) -> None:
    """Late labels: confirmed fraud after inspection or chargeback, cleared after inspection, or nothing."""
    cls, t = table["class"], table["t"]
    p = np.full(cls.size, _LEGIT_CLEARED[0])
    lo = np.full(cls.size, float(_LEGIT_CLEARED[1]))
    hi = np.full(cls.size, float(_LEGIT_CLEARED[2]))
    for name, (pc, a, b) in _CONFIRMATION.items():
        mask = cls == g.CLASSES.index(name)
        p[mask], lo[mask], hi[mask] = pc, a, b
    arrives = rng.random(cls.size) < p
    delay = lo + rng.random(cls.size) * (hi - lo)
    table["outcome_at"] = np.where(arrives, t + delay, np.nan)
    table["is_fraud"] = cls >= g.N_LEGIT
