"""The rules baseline: recent returns, value cap, new account."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from returns_triage.models.fraud import rules_fired, rules_score

EXAMPLE = json.loads((Path(__file__).resolve().parents[2] / "examples" / "score-request.json").read_text())


def test_an_ordinary_return_trips_no_rule():
    assert rules_fired(EXAMPLE) == [] and rules_score(EXAMPLE) == 0.0


def test_each_rule_fires_on_its_own_fact():
    r = copy.deepcopy(EXAMPLE)
    r["customer"]["returns_last_30d"] = 3
    assert rules_fired(r) == ["recent_returns"]
    r["refund_amount"] = 900.0
    r["customer"]["account_age_days"] = 4
    assert rules_fired(r) == ["recent_returns", "refund_over_cap", "new_account"]
    assert rules_score(r) == 1.0
