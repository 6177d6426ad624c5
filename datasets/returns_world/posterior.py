"""The Bayes-optimal fraud posterior P(fraud | everything observable in the case), computed exactly from the
generative model: the ceiling any model can reach on this world.

For a case at time t from an account of age a (both observable), with customer type k and class y latent:

    P(k, y | x) ∝ N_k · f_k(t - a) · λ_k(a) · P(history | k, a) · P(y | k, context) · P(evidence | y)

N_k f_k is the density of account openings of type k on day t - a, λ_k(a) the return rate at that age (a return
happened now), the history counts are independent Poisson counts over their windows, and the evidence items
are independent given the class. Context (segment, channel, line, month) is drawn independently of k and y,
so its own probability cancels; so do the return values in the history (drawn independently of k and y).
"""

from __future__ import annotations

import numpy as np

from returns_triage.datasets.returns_world import generative as g
from returns_triage.datasets.returns_world.simulate import expected_events, rate_parameters
from returns_triage.datasets.returns_world.world import World

__all__ = ["bayes_posterior"]


def bayes_posterior(world: World) -> np.ndarray:
    """P(fraud | observables) for every case of ``world``, in case order."""
    cfg = world.config
    idx = world.case_index
    r = {k: v[idx] for k, v in world.returns.items()}
    h = world.history()
    n = idx.size
    a = h.account_age
    seg = r["segment"]
    types = list(g.CUSTOMER_TYPES)

    log_k = np.full((n, len(types)), -np.inf)
    span = cfg.days + int(cfg.history_years * 365)
    created = r["t"] - a
    for k, name in enumerate(types):
        kk = np.full(n, k)
        if name == "ring":
            if cfg.fraud_ring is None:
                continue
            ring = cfg.fraud_ring
            opened = (created >= ring.start_day) & (created < ring.start_day + ring.window_days) & (seg == 0)
            with np.errstate(divide="ignore"):
                log_open = np.where(opened, np.log(ring.accounts / ring.window_days), -np.inf)
        else:
            mix = np.asarray(cfg.segment_mix) / sum(cfg.segment_mix)
            prior = np.array([g.TYPE_PRIOR[s].get(name, 0.0) for s in g.SEGMENTS])
            with np.errstate(divide="ignore"):
                log_open = np.log(cfg.customers * mix[seg] * prior[seg] / span)
        st, bu, de = rate_parameters("returns", seg, kk)
        log_rate = np.log(st + bu * np.exp(-a / de))
        m30 = expected_events(st, bu, de, np.maximum(a - 30.0, 0.0), a)
        m365 = expected_events(st, bu, de, np.maximum(a - 365.0, 0.0), a)
        so, bo, do = rate_parameters("orders", seg, kk)
        mo = expected_events(so, bo, do, np.maximum(a - 365.0, 0.0), a)
        sf, bf, df = rate_parameters("flags", seg, kk)
        mf = expected_events(sf, bf, df, np.zeros(n), a)
        log_k[:, k] = (
            log_open + log_rate
            + _log_poisson(h.returns_30, m30)
            + _log_poisson(h.returns_365 - h.returns_30, m365 - m30)
            + _log_poisson(h.orders_kept_365, mo)
            + _log_poisson(h.flags, mf)
        )

    log_y = g.class_log_prior(cfg, seg, r["channel"], r["category"], r["unit_price"], r["month"])
    log_joint = log_k[:, :, None] + log_y + _log_evidence(r)[:, None, :]
    flat = log_joint.reshape(n, -1)
    fraud = np.zeros(log_joint.shape[1:], dtype=bool)
    fraud[:, g.N_LEGIT:] = True
    return np.exp(_logsumexp(flat[:, fraud.ravel()]) - _logsumexp(flat))


def _log_evidence(r: dict[str, np.ndarray]) -> np.ndarray:
    """log P(evidence | class) per case and class: shape (n, classes)."""
    ev = g.EVIDENCE
    with np.errstate(divide="ignore"):
        out = (
            np.log(ev["reason"][:, r["reason"]]).T
            + np.log(ev["gap_days"][:, r["gap_days"]]).T
            + np.log(ev["condition"][:, r["condition"]]).T
            + np.log(ev["delivery_status"][:, r["delivery_status"]]).T
            + np.log(ev["refund_ratio"][:, r["refund_atom"]]).T
        )
        weighed = r["weight_known"]
        out[weighed] += np.log(ev["weight_ratio"][:, r["weight_atom"][weighed]]).T
        declared = r["serial_declared"]
        p = ev["serial_mismatch"]
        out[declared] += np.where(r["serial_mismatch"][declared, None], np.log(p), np.log1p(-p))
        docs = r["n_documents"] > 0
        out += np.where(docs[:, None], np.log(ev["documents"]), np.log1p(-ev["documents"]))
        f = r["findings"][docs]  # (m, codes)
        pf = ev["findings"]  # (classes, codes)
        out[docs] += (f[:, None, :] * np.log(pf) + (~f[:, None, :]) * np.log1p(-pf)).sum(axis=2)
        pr = ev["refunded_before"]
        out += np.where(r["refunded_before"][:, None], np.log(pr), np.log1p(-pr))
    return out


def _log_poisson(k: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """log Poisson(k; mean) without the log k! term, which is the same for every customer type and cancels."""
    return np.asarray(k, dtype=float) * np.log(np.maximum(mean, 1e-300)) - mean


def _logsumexp(x: np.ndarray) -> np.ndarray:
    m = np.max(x, axis=1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    return (m + np.log(np.exp(x - m).sum(axis=1, keepdims=True)))[:, 0]
