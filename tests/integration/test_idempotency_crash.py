"""Small versions of `triage bench idempotency`, against real `triage serve` processes on loopback: one key under
concurrency on each backend and across two processes sharing PostgreSQL, and kill -9 under scoring load."""

from __future__ import annotations

from pathlib import Path

import pytest

from returns_triage.evaluation.benchmarks.idempotency import run_crash_cycles, run_idempotency_rounds
from returns_triage.evaluation.servers import scratch_database, serve_processes

pytestmark = pytest.mark.slow


_PG = pytest.mark.postgres


@pytest.mark.parametrize(("db", "processes"), [
    pytest.param("sqlite", 1, id="sqlite"),
    pytest.param("postgresql", 1, id="postgresql", marks=_PG),
    pytest.param("postgresql", 2, id="postgresql-2proc", marks=_PG),
])
def test_one_key_under_concurrency_makes_one_decision(db: str, processes: int, model_dir: Path,
                                                      tmp_path: Path) -> None:
    with scratch_database(db) as (url, engine), \
            serve_processes(processes, url, model_dir=model_dir, home=tmp_path) as servers:
        report = run_idempotency_rounds([s.base_url for s in servers], engine, rounds=3, concurrency=20,
                                        label=f"t-{db}-{processes}")
    assert report.non_200 == 0, report.errors
    assert report.rounds_exactly_one_decision == report.rounds == 3, report.errors
    assert report.rounds_identical_bodies == 3


@pytest.mark.parametrize("db", ["sqlite", pytest.param("postgresql", marks=_PG)])
def test_kill_9_under_load_loses_and_duplicates_nothing(db: str, model_dir: Path) -> None:
    report = run_crash_cycles(db, cycles=2, model_dir=model_dir, load_clients=4, load_s=(0.5, 1.0))
    assert report.cycles == report.restarts == 2
    assert report.acknowledged > 0
    assert report.lost == 0 and report.duplicated == 0, report.errors
    assert report.chain_verified_after_restart == 2, report.errors
    assert not report.errors
