"""Simulated inspections: deterministic, every disposition and writing style occurs, the world is untouched,
and the cost matrix says what a wrong disposition costs."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from returns_triage.datasets.returns_world import WorldConfig, simulate_world
from returns_triage.datasets.returns_world.inspections import (
    COST_FIXED, COST_VALUE_SHARE, DISPOSITIONS, GRADES, disposition_cost, expert_policy, rule_baseline,
    simulate_inspections,
)

SMALL = WorldConfig(seed=5, customers=1_500, months=12)


@pytest.fixture(scope="module")
def world():
    return simulate_world(SMALL)


@pytest.fixture(scope="module")
def inspections(world):
    return simulate_inspections(world)


def test_same_world_gives_the_same_inspections(world, inspections):
    again = simulate_inspections(simulate_world(SMALL))
    assert again.inspections == inspections.inspections and again.contexts == inspections.contexts
    assert np.array_equal(again.disposition, inspections.disposition)
    other = simulate_inspections(simulate_world(WorldConfig(seed=6, customers=1_500)))
    assert [i["notes"] for i in other.inspections[:50]] != [i["notes"] for i in inspections.inspections[:50]]


def test_generating_inspections_leaves_the_world_unchanged(world):
    before = world.requests(limit=100)
    simulate_inspections(world)
    assert world.requests(limit=100) == before


def test_one_inspection_per_case_with_every_disposition_grade_and_style(world, inspections):
    assert len(inspections) == len(world)
    assert set(inspections.disposition) == set(DISPOSITIONS)
    assert Counter(inspections.disposition).most_common(1)[0][0] == "restock"
    assert {i["grade"] for i in inspections.inspections} == set(GRADES)
    styles = Counter(i["note_style"] for i in inspections.inspections)
    assert set(styles) == {"terse", "sentence", "de_en", "minimal"}
    notes = " ".join(i["notes"] for i in inspections.inspections)
    assert "OVP" in notes and "funktioniert" in notes  # German shorthand


def test_experts_mostly_follow_the_written_policy(inspections):
    deviation = float(np.mean(inspections.disposition != inspections.policy))
    assert 0.01 < deviation < 0.06


def test_policy_follows_state_value_and_warranty():
    context = {"unit_price": 300.0, "category": "power_tools", "fraud_score": 0.01, "days_since_delivery": 40,
               "supplier": {"warranty_days": 365, "accepts_returns": True}}
    assert expert_policy("defective", context, serial_check="match", packaging="opened_intact") == "return_to_vendor"
    expired = {**context, "supplier": {"warranty_days": 0, "accepts_returns": True}}
    assert expert_policy("defective", expired, serial_check="match", packaging="opened_intact") == "refurbish"
    assert expert_policy("defective", {**expired, "unit_price": 20.0}, serial_check="match",
                         packaging="opened_intact") == "scrap"
    assert expert_policy("like_new", context, serial_check="mismatch", packaging="sealed") == "quarantine"
    assert expert_policy("new_sealed", {**context, "fraud_score": 0.8}, serial_check="match",
                         packaging="sealed") == "quarantine"
    assert expert_policy("hazard", context, serial_check="match", packaging="damaged") == "scrap"
    assert expert_policy("new_sealed", context, serial_check="match", packaging="sealed") == "restock"


def test_cost_matrix_prices_wrong_dispositions():
    assert np.all(np.diag(COST_FIXED) == 0) and np.all(np.diag(COST_VALUE_SHARE) == 0)
    off = ~np.eye(len(DISPOSITIONS), dtype=bool)
    assert np.all(COST_FIXED[off] + COST_VALUE_SHARE[off] * 100 > 0)
    value = np.array([200.0])

    def cost(true: str, chosen: str) -> float:
        return float(disposition_cost(np.array([true]), np.array([chosen]), value)[0])

    assert cost("restock", "restock") == 0.0
    assert cost("restock", "scrap") == 200.0  # scrapping a good item destroys its value
    assert cost("scrap", "restock") > cost("scrap", "quarantine")  # restocking unsafe goods is the worst
    assert cost("refurbish", "restock") > cost("refurbish", "quarantine")  # damaged goods sold as new
    assert cost("quarantine", "restock") > cost("restock", "quarantine")  # selling a switched item
    assert cost("restock", "scrap") > cost("restock", "liquidate") > cost("restock", "quarantine")


def test_rule_baseline_restocks_grade_a_only():
    assert list(rule_baseline([{"grade": "A"}, {"grade": "B"}, {"grade": "D"}, {}])) == [
        "restock", "quarantine", "quarantine", "quarantine"]
