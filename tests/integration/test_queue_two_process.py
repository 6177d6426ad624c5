"""A small version of the queue benchmark's scale-out variant: eight claimers over HTTP, split across two
`triage serve` processes sharing one PostgreSQL: no double claim, every item decided once, stale tokens refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from returns_triage.evaluation.benchmarks.queue import run_two_process

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def test_claimers_split_across_two_processes(model_dir: Path) -> None:
    result = run_two_process(160, True, model_dir=model_dir, stall_every=12)
    assert result["errors"] == []
    assert result["double_claims"] == 0
    assert result["completed_exactly_once"] == 1.0
    assert result["stale_accepted"] == 0
    assert result["stale_attempts"] == result["stale_rejected"]
    assert result["processes"] == 2
