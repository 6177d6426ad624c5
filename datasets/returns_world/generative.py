"""The generative model of the returns world, as tables.

Simulation samples from these tables and the Bayes posterior evaluates them, so both always agree. Every return
has a latent *class*: a legitimate reason (one of the 14 reason codes) or a fraud typology. The class is drawn
from ``P(class | customer type, context)`` and the return's observable evidence is drawn from
``P(evidence | class)``, one independent table per evidence item. See DATA_CARD.md for the story behind the
numbers.
"""

from __future__ import annotations

import numpy as np

from returns_triage.datasets.returns_world.config import WorldConfig

__all__ = [
    "SEGMENTS", "CHANNELS", "CATEGORIES", "REASON_CODES", "TYPOLOGIES", "CLASSES", "CUSTOMER_TYPES",
    "CONDITIONS", "DELIVERY_STATUSES", "FINDING_CODES", "FINDING_SEVERITY", "REFUND_RATIOS", "WEIGHT_RATIOS",
    "GAP_MAX", "CATALOGUE", "TYPE_PRIOR", "RATES", "class_log_prior", "EVIDENCE",
    "WEIGHT_SCAN_P", "SERIAL_DECLARED_P", "SECOND_DOCUMENT_P", "FACILITIES", "QUANTITY_P",
]

SEGMENTS = ("consumer", "contract", "field_sales_b2b")
CHANNELS = ("portal", "email", "store", "field_rep", "edi")
FACILITIES = ("DC-ROTTERDAM", "DC-LYON", "DC-POZNAN")
REASON_CODES = (
    "DAMAGED_IN_TRANSIT", "DEFECTIVE", "WRONG_ITEM_SHIPPED", "ORDERED_WRONG_ITEM", "NOT_AS_DESCRIBED",
    "INCOMPATIBLE", "MISSING_PARTS", "QUANTITY_DISCREPANCY", "NO_LONGER_NEEDED", "LATE_DELIVERY",
    "DUPLICATE_ORDER", "WARRANTY_CLAIM", "EXPIRED_OR_SHORT_DATED", "OTHER",
)
TYPOLOGIES = (
    "wardrobing", "item_switch", "price_receipt_fraud", "false_claim", "serial_returning", "duplicate_refund",
    "no_matching_purchase",
)
CLASSES = REASON_CODES + TYPOLOGIES
N_LEGIT = len(REASON_CODES)
CUSTOMER_TYPES = ("occasional", "frequent", "serial_returner", "fraudster", "ring")
CONDITIONS = ("unopened", "opened", "used", "damaged")
DELIVERY_STATUSES = ("delivered_signed", "delivered_unsigned", "delivered_locker", "carrier_exception")
FINDING_CODES = (
    "serial_mismatch", "quantity_mismatch", "amount_mismatch", "order_number_mismatch", "no_matching_purchase",
)
FINDING_SEVERITY = {
    "serial_mismatch": "high", "quantity_mismatch": "medium", "amount_mismatch": "high",
    "order_number_mismatch": "medium", "no_matching_purchase": "high",
}
REFUND_RATIOS = np.array([0.5, 0.8, 0.9, 1.0, 1.1, 1.25, 1.5, 2.0, 3.0])
WEIGHT_RATIOS = np.round(np.arange(0, 151) * 0.01, 2)  # received / shipped parcel weight, 0.00 .. 1.50
GAP_MAX = 800  # days between delivery and the return request: 0 .. GAP_MAX-1

# Evidence whose presence does not depend on the class (so it cancels in the posterior).
WEIGHT_SCAN_P = {"portal": 0.6, "email": 0.4, "store": 0.0, "field_rep": 0.3, "edi": 0.5}
SERIAL_DECLARED_P = 0.7
SECOND_DOCUMENT_P = 0.3
QUANTITY_P = {  # quantity on the returned line, by segment
    "consumer": {1: 0.85, 2: 0.1, 3: 0.05},
    "contract": {1: 0.3, 2: 0.2, 4: 0.2, 10: 0.2, 20: 0.1},
    "field_sales_b2b": {1: 0.4, 2: 0.25, 5: 0.2, 12: 0.15},
}


# name, median unit price, price sigma, median weight kg, serialised, share per segment (consumer, contract, fsb)
CATALOGUE: dict[str, tuple[float, float, float, bool, tuple[float, float, float]]] = {
    "power_tools": (120.0, 0.6, 2.2, True, (0.16, 0.14, 0.18)),
    "hand_tools": (25.0, 0.6, 0.8, False, (0.14, 0.12, 0.14)),
    "electronics": (250.0, 0.8, 1.0, True, (0.16, 0.10, 0.08)),
    "apparel_workwear": (40.0, 0.5, 0.6, False, (0.16, 0.10, 0.10)),
    "safety_equipment": (30.0, 0.6, 0.5, False, (0.08, 0.14, 0.12)),
    "consumables": (15.0, 0.7, 1.5, False, (0.08, 0.16, 0.14)),
    "spare_parts": (60.0, 0.9, 0.7, False, (0.06, 0.12, 0.12)),
    "garden": (80.0, 0.7, 4.0, False, (0.10, 0.04, 0.04)),
    "lighting": (35.0, 0.6, 0.9, False, (0.06, 0.08, 0.08)),
    "e_mobility": (900.0, 0.4, 18.0, True, (0.0, 0.0, 0.0)),  # the drift product line, share set at launch
}
NEW_LINE_SHARE = 0.08  # share of lines that are e_mobility after launch (consumer only)

# Customer type mix per segment (the ring is added separately by the drift knob).
TYPE_PRIOR = {
    "consumer": {"occasional": 0.862, "frequent": 0.12, "serial_returner": 0.01, "fraudster": 0.008},
    "contract": {"occasional": 0.9, "frequent": 0.093, "serial_returner": 0.004, "fraudster": 0.003},
    "field_sales_b2b": {"occasional": 0.9, "frequent": 0.092, "serial_returner": 0.005, "fraudster": 0.003},
}

# Event rates per day as (steady rate, burst rate at account opening, burst decay in days).
# rate(age) = steady + burst * exp(-age / decay). Returns, kept orders, and fraud-registry flags.
_Y = 365.0
RATES = {
    "occasional": {"returns": (1.5 / _Y, 0.0, 1.0), "orders": (12 / _Y, 0.0, 1.0), "flags": (0.002 / _Y, 0.0, 1.0)},
    "frequent": {"returns": (6 / _Y, 0.0, 1.0), "orders": (40 / _Y, 0.0, 1.0), "flags": (0.01 / _Y, 0.0, 1.0)},
    "serial_returner": {
        "returns": (24 / _Y, 0.0, 1.0), "orders": (45 / _Y, 0.0, 1.0), "flags": (0.15 / _Y, 0.0, 1.0),
    },
    "fraudster": {
        "returns": (3 / _Y, 12 / 40, 40.0), "orders": (4 / _Y, 3 / 40, 40.0), "flags": (0.5 / _Y, 0.0, 1.0),
    },
    "ring": {"returns": (2 / _Y, 8 / 20, 20.0), "orders": (2 / _Y, 2 / 20, 20.0), "flags": (0.0, 0.0, 1.0)},
}
SEGMENT_RATE_SCALE = {"consumer": 1.0, "contract": 3.5, "field_sales_b2b": 3.0}  # B2B accounts buy and return more

# --- P(class | customer type, context) --------------------------------------------------------------------

_LEGIT_MIX = np.array([  # realistic reason proportions among legitimate returns (order of REASON_CODES)
    0.10, 0.15, 0.06, 0.12, 0.10, 0.06, 0.04, 0.02, 0.20, 0.03, 0.03, 0.05, 0.01, 0.03,
])
_TYPE_MIX = {  # share of legitimate returns, then weight per typology (order of TYPOLOGIES)
    "occasional": (0.992, (0.002, 0.0006, 0.0005, 0.0025, 0.0, 0.0012, 0.0006)),
    "frequent": (0.985, (0.006, 0.001, 0.001, 0.004, 0.0, 0.002, 0.001)),
    "serial_returner": (0.66, (0.10, 0.0, 0.0, 0.02, 0.22, 0.0, 0.0)),
    "fraudster": (0.30, (0.05, 0.20, 0.12, 0.15, 0.0, 0.08, 0.10)),
    "ring": (0.10, (0.0, 0.60, 0.0, 0.30, 0.0, 0.0, 0.0)),
}


def _affinity() -> np.ndarray:
    """Category x class multipliers (1 = no effect)."""
    cats = list(CATALOGUE)
    a = np.ones((len(cats), len(CLASSES)))

    def put(cls: str, **by_cat: float) -> None:
        for cat, v in by_cat.items():
            a[cats.index(cat), CLASSES.index(cls)] = v

    perishable = {c: 0.02 for c in cats if c not in ("consumables", "safety_equipment")}
    put("EXPIRED_OR_SHORT_DATED", consumables=20.0, safety_equipment=3.0, **perishable)
    put("WARRANTY_CLAIM", power_tools=3.0, electronics=2.5, garden=2.0, e_mobility=3.0, apparel_workwear=0.2,
        consumables=0.05)
    put("INCOMPATIBLE", spare_parts=4.0, electronics=2.0, lighting=1.5, apparel_workwear=0.2)
    put("MISSING_PARTS", power_tools=1.5, garden=1.5, e_mobility=1.5)
    put("NOT_AS_DESCRIBED", apparel_workwear=2.0)
    put("wardrobing", apparel_workwear=6.0, electronics=1.5, power_tools=1.2, hand_tools=0.3, safety_equipment=0.3,
        consumables=0.1, spare_parts=0.2, garden=0.8, lighting=0.5, e_mobility=1.5)
    put("item_switch", electronics=4.0, power_tools=3.0, e_mobility=4.0, hand_tools=0.3, apparel_workwear=0.3,
        safety_equipment=0.3, consumables=0.2, spare_parts=0.5, garden=0.5, lighting=0.3)
    put("price_receipt_fraud", electronics=1.5, e_mobility=1.5, consumables=0.3)
    return a


_AFFINITY = _affinity()
_PRICE_EXPONENT = np.zeros(len(CLASSES))  # fraud gravitates to expensive items: weight *= (price / 100) ** g
for _t, _g in {"item_switch": 0.35, "price_receipt_fraud": 0.35, "false_claim": 0.3, "no_matching_purchase": 0.3,
               "duplicate_refund": 0.3, "wardrobing": 0.1}.items():
    _PRICE_EXPONENT[CLASSES.index(_t)] = _g
_CHANNEL = np.ones((len(CHANNELS), len(CLASSES)))
_CHANNEL[CHANNELS.index("store"), N_LEGIT:] = 0.7
_CHANNEL[CHANNELS.index("store"), CLASSES.index("item_switch")] = 0.3  # inspected at the counter
_CHANNEL[CHANNELS.index("field_rep"), N_LEGIT:] = 0.5
_CHANNEL[CHANNELS.index("edi"), N_LEGIT:] = 0.5
_SEGMENT = np.ones((len(SEGMENTS), len(CLASSES)))
for _s in ("contract", "field_sales_b2b"):
    _SEGMENT[SEGMENTS.index(_s), CLASSES.index("wardrobing")] = 0.1
    _SEGMENT[SEGMENTS.index(_s), CLASSES.index("serial_returning")] = 0.5
    _SEGMENT[SEGMENTS.index(_s), CLASSES.index("QUANTITY_DISCREPANCY")] = 3.0
    _SEGMENT[SEGMENTS.index(_s), CLASSES.index("NO_LONGER_NEEDED")] = 0.5


def _season(strength: float) -> np.ndarray:
    """Month (1..12 -> row 0..11) x class multipliers: post-holiday and summer-event peaks."""
    s = np.ones((12, len(CLASSES)))
    for m in (12, 1):
        s[m - 1, CLASSES.index("NO_LONGER_NEEDED")] += 0.8 * strength
        s[m - 1, CLASSES.index("DUPLICATE_ORDER")] += 0.6 * strength
        s[m - 1, CLASSES.index("wardrobing")] += 1.5 * strength
    s[11, CLASSES.index("LATE_DELIVERY")] += 1.0 * strength
    s[6, CLASSES.index("wardrobing")] += 1.0 * strength
    for m in (4, 5, 6):
        s[m - 1, CLASSES.index("WARRANTY_CLAIM")] += 0.3 * strength  # garden season
    return s


def class_log_prior(
    cfg: WorldConfig, segment: np.ndarray, channel: np.ndarray, category: np.ndarray, unit_price: np.ndarray,
    month: np.ndarray,
) -> np.ndarray:
    """log P(class | customer type, context) for every return, type and class: shape (n, types, classes)."""
    base = np.zeros((len(CUSTOMER_TYPES), len(CLASSES)))
    for k, name in enumerate(CUSTOMER_TYPES):
        legit, fraud = _TYPE_MIX[name]
        base[k, :N_LEGIT] = legit * _LEGIT_MIX
        base[k, N_LEGIT:] = [w * cfg.typology_weight(t) for w, t in zip(fraud, TYPOLOGIES, strict=True)]
    ctx = (
        _AFFINITY[category] * _CHANNEL[channel] * _SEGMENT[segment] * _season(cfg.seasonality)[month - 1]
        * (np.maximum(unit_price, 1.0)[:, None] / 100.0) ** _PRICE_EXPONENT
    )
    w = base[None, :, :] * ctx[:, None, :]
    with np.errstate(divide="ignore"):
        logw = np.log(w)
        return logw - np.log(w.sum(axis=2, keepdims=True))


# --- P(evidence | class) ----------------------------------------------------------------------------------


def _table(default: list[float] | np.ndarray, **rows: list[float] | np.ndarray) -> np.ndarray:
    t = np.tile(np.asarray(default, dtype=float), (len(CLASSES), 1))
    for cls, row in rows.items():
        t[CLASSES.index(cls)] = row
    return t / t.sum(axis=1, keepdims=True)


def _lognormal_pmf(median: float, sigma: float) -> np.ndarray:
    d = np.arange(GAP_MAX) + 0.5
    return np.exp(-((np.log(d) - np.log(median)) ** 2) / (2 * sigma**2)) / d


def _normal_pmf(grid: np.ndarray, mean: float, sd: float) -> np.ndarray:
    return np.exp(-((grid - mean) ** 2) / (2 * sd**2)) + 1e-12


def _gap_table() -> np.ndarray:
    medians = {
        "DAMAGED_IN_TRANSIT": (2, 0.7), "DEFECTIVE": (20, 1.0), "WRONG_ITEM_SHIPPED": (3, 0.7),
        "ORDERED_WRONG_ITEM": (6, 0.7), "NOT_AS_DESCRIBED": (5, 0.7), "INCOMPATIBLE": (7, 0.7),
        "MISSING_PARTS": (4, 0.7), "QUANTITY_DISCREPANCY": (3, 0.7), "NO_LONGER_NEEDED": (14, 0.6),
        "LATE_DELIVERY": (1, 0.6), "DUPLICATE_ORDER": (4, 0.7), "WARRANTY_CLAIM": (200, 0.6),
        "EXPIRED_OR_SHORT_DATED": (5, 0.7), "OTHER": (10, 1.0), "item_switch": (10, 0.7),
        "price_receipt_fraud": (12, 0.7), "false_claim": (1.5, 0.6), "serial_returning": (15, 0.5),
        "duplicate_refund": (40, 0.6), "no_matching_purchase": (30, 1.2),
    }
    t = np.zeros((len(CLASSES), GAP_MAX))
    for cls, (m, s) in medians.items():
        row = _lognormal_pmf(m, s)
        t[CLASSES.index(cls)] = row / row.sum()
    days = np.arange(GAP_MAX, dtype=float)
    near_end = np.where(days <= 30, np.exp(-((days - 27) ** 2) / (2 * 2.5**2)), 0.0)  # just inside the window
    spread = _lognormal_pmf(14, 0.5)
    t[CLASSES.index("wardrobing")] = 0.7 * near_end / near_end.sum() + 0.3 * spread / spread.sum()
    return t


def _mix(probs: dict[str, float], names: tuple[str, ...] = REASON_CODES) -> np.ndarray:
    row = np.full(len(names), 1e-9)
    for name, p in probs.items():
        row[names.index(name)] = p
    return row


def _reason_table() -> np.ndarray:
    t = np.full((len(CLASSES), N_LEGIT), 1e-9)
    t[:N_LEGIT] += np.eye(N_LEGIT)  # a legitimate return claims its own reason
    claims = {
        "wardrobing": {"NO_LONGER_NEEDED": 0.5, "NOT_AS_DESCRIBED": 0.3, "DEFECTIVE": 0.2},
        "item_switch": {"DEFECTIVE": 0.5, "NOT_AS_DESCRIBED": 0.2, "NO_LONGER_NEEDED": 0.3},
        "price_receipt_fraud": {"NO_LONGER_NEEDED": 0.5, "ORDERED_WRONG_ITEM": 0.3, "OTHER": 0.2},
        "false_claim": {"DAMAGED_IN_TRANSIT": 0.6, "LATE_DELIVERY": 0.25, "MISSING_PARTS": 0.15},
        "serial_returning": {"NO_LONGER_NEEDED": 0.5, "ORDERED_WRONG_ITEM": 0.25, "NOT_AS_DESCRIBED": 0.25},
        "duplicate_refund": {"DUPLICATE_ORDER": 0.3, "DEFECTIVE": 0.3, "WRONG_ITEM_SHIPPED": 0.4},
        "no_matching_purchase": {"DEFECTIVE": 0.4, "NO_LONGER_NEEDED": 0.3, "WARRANTY_CLAIM": 0.3},
    }
    for cls, probs in claims.items():
        t[CLASSES.index(cls)] = _mix(probs)
    return t / t.sum(axis=1, keepdims=True)


def _weight_table() -> np.ndarray:
    legit = _normal_pmf(WEIGHT_RATIOS, 1.0, 0.02)
    damaged = _normal_pmf(WEIGHT_RATIOS, 0.99, 0.03)
    missing = 0.5 * _normal_pmf(WEIGHT_RATIOS, 0.9, 0.06) / 0.06 + 0.5 * legit / 0.02
    switch = 0.5 * _normal_pmf(WEIGHT_RATIOS, 0.1, 0.06) / 0.06 + 0.5 * _normal_pmf(WEIGHT_RATIOS, 0.8, 0.12) / 0.12
    return _table(legit, DAMAGED_IN_TRANSIT=damaged, MISSING_PARTS=missing, item_switch=switch)


def _findings_table() -> np.ndarray:
    """P(finding present | class, documents attached), columns in FINDING_CODES order."""
    t = np.tile([0.005, 0.01, 0.01, 0.01, 0.003], (len(CLASSES), 1))
    t[CLASSES.index("QUANTITY_DISCREPANCY"), 1] = 0.3
    t[CLASSES.index("WRONG_ITEM_SHIPPED"), 0] = 0.05
    t[CLASSES.index("price_receipt_fraud"), [2, 3]] = (0.7, 0.15)
    t[CLASSES.index("item_switch"), 0] = 0.3
    t[CLASSES.index("no_matching_purchase"), [3, 4]] = (0.5, 0.7)
    t[CLASSES.index("duplicate_refund"), [2, 3]] = (0.1, 0.2)
    return t


def _bernoulli(default: float, **by_class: float) -> np.ndarray:
    p = np.full(len(CLASSES), default)
    for cls, v in by_class.items():
        p[CLASSES.index(cls)] = v
    return p


_REFUND_LEGIT = [0.02, 0.04, 0.08, 0.855, 0.003, 0.001, 0.0005, 0.0003, 0.0002]
EVIDENCE: dict[str, np.ndarray] = {
    # categorical evidence: (classes, support) probability tables
    "reason": _reason_table(),
    "gap_days": _gap_table(),
    "condition": _table(
        [0.35, 0.5, 0.1, 0.05],
        DAMAGED_IN_TRANSIT=[0.05, 0.2, 0.05, 0.7], DEFECTIVE=[0.02, 0.38, 0.5, 0.1],
        WARRANTY_CLAIM=[0.01, 0.09, 0.8, 0.1], NO_LONGER_NEEDED=[0.6, 0.35, 0.04, 0.01],
        ORDERED_WRONG_ITEM=[0.55, 0.4, 0.04, 0.01], DUPLICATE_ORDER=[0.8, 0.18, 0.01, 0.01],
        WRONG_ITEM_SHIPPED=[0.6, 0.38, 0.01, 0.01], MISSING_PARTS=[0.05, 0.85, 0.05, 0.05],
        LATE_DELIVERY=[0.85, 0.13, 0.01, 0.01], EXPIRED_OR_SHORT_DATED=[0.7, 0.25, 0.03, 0.02],
        wardrobing=[0.15, 0.6, 0.2, 0.05], item_switch=[0.3, 0.5, 0.1, 0.1], price_receipt_fraud=[0.5, 0.4, 0.05, 0.05],
        false_claim=[0.05, 0.15, 0.05, 0.75], serial_returning=[0.4, 0.5, 0.08, 0.02],
        duplicate_refund=[0.3, 0.5, 0.1, 0.1], no_matching_purchase=[0.3, 0.4, 0.2, 0.1],
    ),
    "delivery_status": _table(
        [0.35, 0.45, 0.15, 0.05],
        DAMAGED_IN_TRANSIT=[0.3, 0.4, 0.1, 0.2], LATE_DELIVERY=[0.15, 0.3, 0.05, 0.5],
        MISSING_PARTS=[0.3, 0.45, 0.15, 0.1], QUANTITY_DISCREPANCY=[0.3, 0.4, 0.1, 0.2],
        false_claim=[0.6, 0.3, 0.08, 0.02],
    ),
    "refund_ratio": _table(
        _REFUND_LEGIT,
        price_receipt_fraud=[0.0, 0.0, 0.0, 0.15, 0.15, 0.25, 0.25, 0.15, 0.05],
        duplicate_refund=[0.01, 0.02, 0.02, 0.95, 0.0, 0.0, 0.0, 0.0, 0.0],
    ),
    "weight_ratio": _weight_table(),  # only when the parcel was weighed (WEIGHT_SCAN_P, independent of class)
    # Bernoulli evidence: (classes,) probabilities
    "serial_mismatch": _bernoulli(0.01, WRONG_ITEM_SHIPPED=0.05, item_switch=0.75, no_matching_purchase=0.3),
    "documents": _bernoulli(
        0.25, DAMAGED_IN_TRANSIT=0.6, WARRANTY_CLAIM=0.8, DEFECTIVE=0.35, price_receipt_fraud=0.9,
        no_matching_purchase=0.85, duplicate_refund=0.5, false_claim=0.5,
    ),
    "refunded_before": _bernoulli(0.003, duplicate_refund=0.85),
    "findings": _findings_table(),  # only when documents are attached
}
