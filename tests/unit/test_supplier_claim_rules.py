"""Supplier-claim rules: which inspections are defect evidence, and how a claim may move."""

from __future__ import annotations

from datetime import timedelta

import pytest

from returns_triage.serving.api.metrics import MetricFamily, MetricsRegistry, Sample, render
from returns_triage.serving.domain import supplier_claims as rules


def test_defect_evidence() -> None:
    assert rules.is_defect("DEFECTIVE", "D", "scrap")
    assert rules.is_defect(None, "A", "return_to_vendor")  # a vendor return is always a defect
    assert not rules.is_defect("DEFECTIVE", "A", "restock")  # the inspector found it fine
    assert not rules.is_defect("NO_LONGER_NEEDED", "D", "scrap")  # damaged, but not the supplier's fault


def test_claim_lifecycle() -> None:
    move = lambda a, b, amount=None: rules.transition_problem(a, b, recovered_amount=amount,  # noqa: E731
                                                              claimed_amount=100.0)
    assert move("open", "submitted") is None
    assert move("submitted", "accepted") is None and move("submitted", "rejected") is None
    assert move("accepted", "recovered", 80.0) is None
    assert move("open", "accepted") == ("status", "a open claim cannot become accepted; next: submitted")
    assert move("accepted", "recovered")[0] == "recovered_amount"  # type: ignore[index]
    assert move("accepted", "recovered", 100.01)[0] == "recovered_amount"  # type: ignore[index]
    assert move("submitted", "accepted", 5.0)[0] == "recovered_amount"  # type: ignore[index]
    assert move("recovered", "submitted")[1].endswith("none (the claim is closed)")  # type: ignore[index]
    assert rules.claim_amount(19.99, 3) == 59.97


def test_pattern_rule() -> None:
    rule = rules.DefectPatternRule(count=3, window=timedelta(days=30))
    assert not rule.is_pattern(2) and rule.is_pattern(3)
    with pytest.raises(ValueError):
        rules.DefectPatternRule(count=1)


def test_prometheus_text_exposition() -> None:
    text = render([MetricFamily("triage_x", "An example\\nwith a newline.", "gauge",
                                [Sample(1.5), Sample(float("nan"), {"b": 'q"\\', "a": "x\ny"})])])
    assert text.splitlines() == [
        "# HELP triage_x An example\\\\nwith a newline.",
        "# TYPE triage_x gauge",
        "triage_x 1.5",
        'triage_x{a="x\\ny",b="q\\"\\\\"} NaN',
    ]
    with pytest.raises(ValueError):
        render([MetricFamily("bad name", "h")])
    registry = MetricsRegistry()

    @registry.register
    def collector(ctx):  # type: ignore[no-untyped-def]
        return [MetricFamily("triage_y", "y", samples=[Sample(2)])]

    assert registry.collectors == (collector,)
