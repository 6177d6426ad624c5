"""Inspections of a simulated world's returns and the dispositions experts choose, with the cost of a wrong one.

For every case the item has a latent *state* (new and sealed, used, broken, defective, an empty box…), drawn
from the return's latent class (reason or fraud typology), the customer's claimed condition and the category.
The inspector records a lossy view of it: a condition grade, free-text notes in one of several writing styles,
the serial check, the packaging and photo metadata. The expert's disposition follows a written policy from the
state, the item's value, age and supplier warranty, the category, and the fraud score at intake; a few percent
of experts choose a plausible alternative instead. See DATA_CARD.md ("Inspections and dispositions").

The world itself is not changed: this module draws from its own random stream (``[seed, 77]``).
"""

from __future__ import annotations

import bisect
import itertools
import random
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from typing import Any

import numpy as np

from returns_triage.datasets.returns_world import generative as g
from returns_triage.datasets.returns_world.inspection_notes import NOTE_STYLES, STYLE_P, write_note
from returns_triage.datasets.returns_world.posterior import bayes_posterior
from returns_triage.datasets.returns_world.world import World

__all__ = [
    "DISPOSITIONS", "GRADES", "SERIAL_CHECKS", "PACKAGING", "PHOTO_FLAGS", "STATES", "SUPPLIERS",
    "COST_FIXED", "COST_VALUE_SHARE", "Inspections", "simulate_inspections", "expert_policy",
    "disposition_cost", "rule_baseline", "EXPERT_DEVIATION_P",
]

DISPOSITIONS = ("restock", "refurbish", "quarantine", "return_to_vendor", "liquidate", "scrap")
GRADES = ("A", "B", "C", "D")
SERIAL_CHECKS = ("match", "mismatch", "unreadable", "not_serialised", "not_checked")
PACKAGING = ("sealed", "opened_intact", "damaged", "missing")
PHOTO_FLAGS = ("damage_visible", "wear_visible", "label_mismatch", "leak_or_burn", "blurry")
STATES = ("new_sealed", "like_new", "short_dated", "used", "cosmetic_damage", "broken", "defective",
          "missing_parts", "expired", "hazard", "wrong_item", "empty_box")
SUPPLIERS = 12
EXPERT_DEVIATION_P = 0.03  # experts who pick a plausible alternative to the policy
_BATTERY = {"power_tools", "electronics", "e_mobility", "garden"}
_PERISHABLE = {"consumables", "safety_equipment"}

# Cost of choosing column when the expert's disposition is row: fixed + share x unit value (EUR).
# Order: restock, refurbish, quarantine, return_to_vendor, liquidate, scrap.
COST_FIXED = np.array([
    [0, 20, 12, 30, 0, 0],    # good stock: needless work, holding, a rejected vendor claim, lost margin, destroyed
    [25, 0, 12, 30, 0, 0],    # needs work: damaged goods sold (second return, goodwill), or sold off cheaply
    [40, 20, 0, 40, 0, 10],   # suspect (switch, fraud hold): the wrong item sold, evidence destroyed
    [25, 20, 12, 0, 0, 0],    # vendor warranty: defect sold, paying a repair the vendor owes, losing the credit
    [25, 25, 12, 30, 0, 0],   # sell-off: worn goods sold as new, refurbishing costs more than it earns
    [50, 20, 12, 30, 40, 0],  # unsafe / expired / beyond repair: liability when sold, wasted work
], dtype=float)
COST_VALUE_SHARE = np.array([
    [0.0, 0.05, 0.05, 0.1, 0.5, 1.0],
    [0.6, 0.0, 0.05, 0.1, 0.3, 0.7],
    [1.0, 0.8, 0.0, 0.5, 0.8, 1.0],
    [0.8, 0.5, 0.05, 0.0, 0.7, 0.9],
    [0.4, 0.1, 0.05, 0.1, 0.0, 0.3],
    [1.0, 0.3, 0.0, 0.0, 0.5, 0.0],
])
_ALTERNATIVES = {  # what a deviating expert chooses instead
    "restock": ("liquidate", "refurbish"), "refurbish": ("liquidate", "scrap", "return_to_vendor"),
    "quarantine": ("refurbish", "scrap"), "return_to_vendor": ("refurbish", "scrap"),
    "liquidate": ("restock", "refurbish"), "scrap": ("liquidate", "refurbish"),
}


def _p(**probs: float) -> dict[str, float]:
    return probs


_BY_CONDITION = {  # returns whose item is as the customer describes it, by claimed condition
    "unopened": _p(new_sealed=0.88, like_new=0.1, cosmetic_damage=0.02),
    "opened": _p(like_new=0.72, used=0.2, cosmetic_damage=0.05, missing_parts=0.03),
    "used": _p(used=0.7, like_new=0.12, cosmetic_damage=0.15, broken=0.03),
    "damaged": _p(cosmetic_damage=0.55, broken=0.4, like_new=0.05),
}
_BY_CLASS = {
    "DAMAGED_IN_TRANSIT": _p(cosmetic_damage=0.45, broken=0.35, like_new=0.2),
    "DEFECTIVE": _p(defective=0.8, like_new=0.12, broken=0.08),
    "WARRANTY_CLAIM": _p(defective=0.85, used=0.1, broken=0.05),
    "MISSING_PARTS": _p(missing_parts=0.75, like_new=0.25),
    "EXPIRED_OR_SHORT_DATED": _p(expired=0.55, short_dated=0.35, new_sealed=0.1),
    "QUANTITY_DISCREPANCY": _p(new_sealed=0.7, like_new=0.3),
    "wardrobing": _p(used=0.7, like_new=0.2, cosmetic_damage=0.1),
    "item_switch": _p(wrong_item=0.5, empty_box=0.3, broken=0.2),
    "false_claim": _p(like_new=0.7, cosmetic_damage=0.3),
}
_GRADE = {  # P(grade | state): the inspector's grade is a noisy view of the state
    "new_sealed": (0.95, 0.05, 0, 0), "like_new": (0.7, 0.28, 0.02, 0), "short_dated": (0.8, 0.2, 0, 0),
    "used": (0.05, 0.6, 0.35, 0), "cosmetic_damage": (0, 0.2, 0.65, 0.15), "broken": (0, 0, 0.2, 0.8),
    "defective": (0, 0.1, 0.45, 0.45), "missing_parts": (0, 0.5, 0.4, 0.1), "expired": (0.3, 0.3, 0.2, 0.2),
    "hazard": (0, 0, 0.1, 0.9), "wrong_item": (0.4, 0.4, 0.2, 0), "empty_box": (0, 0, 0.3, 0.7),
}
_PACKAGING = {  # P(packaging | state), order of PACKAGING
    "new_sealed": (0.93, 0.04, 0.03, 0), "short_dated": (0.8, 0.2, 0, 0), "like_new": (0.06, 0.78, 0.08, 0.08),
    "used": (0, 0.5, 0.15, 0.35), "cosmetic_damage": (0, 0.4, 0.45, 0.15), "broken": (0, 0.2, 0.7, 0.1),
    "defective": (0, 0.75, 0.1, 0.15), "missing_parts": (0, 0.8, 0.1, 0.1), "expired": (0.6, 0.4, 0, 0),
    "hazard": (0, 0.4, 0.5, 0.1), "wrong_item": (0.2, 0.6, 0, 0.2), "empty_box": (0.3, 0.6, 0.1, 0),
}
_COLUMNS = ("class", "category", "condition", "serialised", "sku", "gap_days", "unit_price", "quantity", "reason",
            "segment", "channel", "facility", "t")
_VISIBLE_DAMAGE = {"cosmetic_damage", "broken", "hazard"}


@dataclass(frozen=True)
class Inspections:
    """One inspection per case, the context the service knows, and the expert's disposition (the label)."""

    inspections: list[dict[str, Any]]
    contexts: list[dict[str, Any]]
    disposition: np.ndarray  # expert's choice (str)
    policy: np.ndarray  # what the written policy says for the latent state (str); differs for deviating experts
    state: np.ndarray  # latent item state (str), never shown to a model
    inspected_day: np.ndarray  # days since the world's start

    def __len__(self) -> int:
        return len(self.inspections)

    def select(self, mask_or_positions: np.ndarray) -> Inspections:
        idx = np.asarray(mask_or_positions)
        idx = np.flatnonzero(idx) if idx.dtype == bool else idx
        return Inspections(
            [self.inspections[i] for i in idx], [self.contexts[i] for i in idx], self.disposition[idx],
            self.policy[idx], self.state[idx], self.inspected_day[idx],
        )


def simulate_inspections(world: World, *, fraud_score: np.ndarray | None = None) -> Inspections:
    """Inspections of every case of ``world`` in case order. ``fraud_score`` is the intake fraud score per case
    (default: the world's exact Bayes posterior, standing in for the calibrated fraud model)."""
    rng = np.random.default_rng([world.config.seed, 77])
    cases = {k: world.returns[k][world.case_index].tolist() for k in _COLUMNS}
    n = len(world)
    score = bayes_posterior(world) if fraud_score is None else np.asarray(fraud_score, dtype=float)
    cats = list(g.CATALOGUE)
    n_skus = len(world.catalogue.category)
    supplier_of_sku = rng.integers(0, SUPPLIERS, size=n_skus)
    warranty_days = rng.choice([0, 180, 365, 730], size=SUPPLIERS, p=[0.15, 0.25, 0.35, 0.25])
    accepts = rng.random(SUPPLIERS) < 0.8
    transit = rng.integers(2, 11, size=n).tolist()  # days from the return request to the inspection
    draws = random.Random(int(rng.integers(0, 2**63)))  # per-case draws: the stdlib is ~20x faster per call
    start = datetime.combine(world.config.start, time(0), tzinfo=timezone.utc)

    out_i, out_c, disp, pol, states = [], [], [], [], []
    for j in range(n):
        cls = g.CLASSES[int(cases["class"][j])]
        category = cats[int(cases["category"][j])]
        condition = g.CONDITIONS[int(cases["condition"][j])]
        state = _draw_state(draws, cls, condition, category)
        packaging = PACKAGING[_draw(draws, _PACKAGING[state])]
        grade = GRADES[_draw(draws, _GRADE[state])]
        serial = _serial_check(draws, state, bool(cases["serialised"][j]))
        photos = _photos(draws, state, packaging)
        style = NOTE_STYLES[_draw(draws, STYLE_P)]
        sku = int(cases["sku"][j])
        supplier = int(supplier_of_sku[sku])
        age = int(cases["gap_days"][j]) + int(transit[j])
        unit_price = float(cases["unit_price"][j])
        context = {
            "category": category, "sku": f"{category[:3].upper()}-{sku:05d}", "unit_price": unit_price,
            "quantity": int(cases["quantity"][j]), "reason_code": g.REASON_CODES[int(cases["reason"][j])],
            "days_since_delivery": age,
            "supplier": {"supplier_id": f"SUP-{supplier:03d}", "warranty_days": int(warranty_days[supplier]),
                         "accepts_returns": bool(accepts[supplier])},
            "segment": g.SEGMENTS[int(cases["segment"][j])], "channel": g.CHANNELS[int(cases["channel"][j])],
            "fraud_score": round(float(score[j]), 4),
        }
        inspected = start + timedelta(days=float(cases["t"][j]) + int(transit[j]))
        inspection = {
            "inspected_at": inspected.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "facility": g.FACILITIES[int(cases["facility"][j])],
            "grade": grade, "notes": write_note(draws, style, state, packaging, serial), "note_style": style,
            "serial_check": serial, "packaging": packaging, "photos": photos,
        }
        policy = expert_policy(state, context, serial_check=serial, packaging=packaging)
        chosen = policy
        if draws.random() < EXPERT_DEVIATION_P:
            chosen = draws.choice(_ALTERNATIVES[policy])
        out_i.append(inspection)
        out_c.append(context)
        disp.append(chosen)
        pol.append(policy)
        states.append(state)
    return Inspections(out_i, out_c, np.array(disp), np.array(pol), np.array(states),
                       np.asarray(cases["t"]) + np.asarray(transit))


def expert_policy(state: str, context: dict[str, Any], *, serial_check: str, packaging: str) -> str:
    """The written disposition policy for an item whose true state is known."""
    value = float(context["unit_price"])
    category = context["category"]
    supplier = context["supplier"]
    if state in ("wrong_item", "empty_box") or serial_check == "mismatch":
        return "quarantine"  # evidence for a fraud case; nothing leaves until it is resolved
    if float(context["fraud_score"]) >= 0.5:
        return "quarantine"
    if state in ("hazard", "expired"):
        return "scrap"
    if state == "short_dated":
        return "liquidate"
    under_warranty = supplier["accepts_returns"] and context["days_since_delivery"] <= supplier["warranty_days"]
    if state == "defective":
        if under_warranty:
            return "return_to_vendor"
        return "refurbish" if value >= 80 and category != "consumables" else "scrap"
    if state == "missing_parts":
        if under_warranty and value >= 50:
            return "return_to_vendor"
        return "refurbish" if value >= 60 else "liquidate"
    if state == "broken":
        return "refurbish" if value >= 200 else "scrap"
    if state == "cosmetic_damage":
        return "refurbish" if value >= 150 else "liquidate"
    if state == "used":
        if category == "safety_equipment":
            return "scrap"  # used protective equipment is never resold
        return "refurbish" if value >= 100 else "liquidate"
    # new_sealed, like_new
    if category in _PERISHABLE and state == "like_new":
        return "liquidate"  # opened consumables and protective equipment cannot go back as new
    if packaging in ("damaged", "missing"):
        return "refurbish" if value >= 60 else "liquidate"  # repack, or sell off as open box
    return "restock"


def disposition_cost(true: np.ndarray, chosen: np.ndarray, unit_value: np.ndarray) -> np.ndarray:
    """Cost (EUR) per case of choosing ``chosen`` when the expert chose ``true`` (names or indices)."""
    t = _indices(true)
    c = _indices(chosen)
    return COST_FIXED[t, c] + COST_VALUE_SHARE[t, c] * np.asarray(unit_value, dtype=float)


def rule_baseline(inspections: list[dict[str, Any]]) -> np.ndarray:
    """The rule a desk uses without a model: restock if grade A, else quarantine."""
    return np.array(["restock" if i.get("grade") == "A" else "quarantine" for i in inspections])


def _indices(names: np.ndarray) -> np.ndarray:
    arr = np.asarray(names)
    if arr.dtype.kind in "iu":
        return arr
    lookup = {d: k for k, d in enumerate(DISPOSITIONS)}
    return np.array([lookup[str(v)] for v in arr], dtype=int)


def _draw(rng: random.Random, probs: tuple[float, ...] | list[float]) -> int:
    cdf = list(itertools.accumulate(probs))
    return min(bisect.bisect_right(cdf, rng.random() * cdf[-1]), len(cdf) - 1)


def _draw_state(rng: random.Random, cls: str, condition: str, category: str) -> str:
    table = _BY_CLASS.get(cls, _BY_CONDITION[condition])
    if cls == "EXPIRED_OR_SHORT_DATED" and category not in _PERISHABLE:
        table = _p(new_sealed=0.8, like_new=0.2)  # nothing to expire: returned as a mistake
    names = list(table)
    state = names[_draw(rng, list(table.values()))]
    if category in _BATTERY:
        if (state == "broken" and rng.random() < 0.2) or (state in ("cosmetic_damage", "defective")
                                                          and rng.random() < 0.04):
            state = "hazard"  # damaged lithium cells
    return state


def _serial_check(rng: random.Random, state: str, serialised: bool) -> str:
    if not serialised:
        return "not_serialised"
    if state == "wrong_item":
        return ("mismatch", "unreadable", "match")[_draw(rng, (0.85, 0.1, 0.05))]
    if state == "empty_box":
        return ("not_checked", "unreadable")[_draw(rng, (0.8, 0.2))]
    return ("match", "unreadable", "not_checked")[_draw(rng, (0.9, 0.04, 0.06))]


def _photos(rng: random.Random, state: str, packaging: str) -> dict[str, Any]:
    notable = state in _VISIBLE_DAMAGE or state in ("wrong_item", "empty_box")
    count = rng.randint(2, 6) if notable else _draw(rng, (0.35, 0.3, 0.2, 0.15))
    if count == 0:
        return {"count": 0, "flags": []}
    p = {
        "damage_visible": 0.8 if state in _VISIBLE_DAMAGE else (0.5 if packaging == "damaged" else 0.03),
        "wear_visible": {"used": 0.65, "cosmetic_damage": 0.2}.get(state, 0.03),
        "label_mismatch": {"wrong_item": 0.6, "empty_box": 0.3}.get(state, 0.01),
        "leak_or_burn": 0.6 if state == "hazard" else 0.005,
        "blurry": 0.06,
    }
    return {"count": count, "flags": [f for f in PHOTO_FLAGS if rng.random() < p[f]]}
