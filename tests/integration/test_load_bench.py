"""`triage bench load --quick` runs end to end against real servers and prints the contract JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_quick_load_bench_reports_every_target(tmp_path: Path, model_dir: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "HF_HUB_OFFLINE": "1",
           "TRIAGE_HOME": str(tmp_path / "home"), "TRIAGE_MODEL_DIR": str(model_dir)}
    out = subprocess.run([sys.executable, "-m", "returns_triage.cli", "bench", "load", "--quick", "--json"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["bench"] == "load"
    metrics = result["metrics"]
    # Speed is the benchmark's business, not the test's: only that every figure was measured.
    for name in ("raw_encoder_texts_per_s", "trivial_endpoint_rps", "e2e_max_rps", "naive_baseline_rps",
                 "rss_mb_per_worker", "startup_to_ready_s"):
        assert metrics[name] > 0, name
    assert metrics["e2e_with_document_max_rps"] >= 0 and "p99_ms_at_half_max" in metrics
    # The ceilings beside the ratios: the full model path cannot pass the raw encoder, nor the cascade its share.
    assert metrics["raw_encoder_vs_naive_baseline"] == pytest.approx(
        metrics["raw_encoder_texts_per_s"] / metrics["naive_baseline_rps"])
    share = metrics["cascade_first_stage_on_load_texts"]["share_answered"]
    assert 0.0 < metrics["cascade_ceiling_vs_raw_encoder"] <= 1.0 / (1.0 - share)
    # Every request of the load succeeded: unique keys, valid bodies, an accepted API key.
    for layout in metrics["layouts"].values():
        for point in layout["points"]:
            assert point["errors"] == 0 and point["requests"] > 0, point
    targets = {t["metric"]: t for t in result["targets"]}
    assert targets["e2e_vs_raw_encoder"]["target"] == 0.85
    assert targets["p99_ms_at_half_max"]["target"] == 20.0
    assert targets["e2e_vs_naive_baseline"]["target"] == 5.0
    assert {"rss_mb_per_worker", "startup_to_ready_s", "cascade_vs_raw_encoder"} <= set(targets)
    assert (tmp_path / "var" / "bench" / "load" / "latency-throughput-quick.png").stat().st_size > 0
