"""The `triage reason fit` / `reason predict` contract (DESIGN.md) on a real labelled CSV, and `triage bench`."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, SHARED_DATA

TRIAGE = [sys.executable, "-m", "returns_triage.cli"]


@pytest.fixture(scope="module")
def banking_sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    with (SHARED_DATA / "banking77" / "train.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    keep = sorted({r["category"] for r in rows})[:8]
    rows = [r for r in rows if r["category"] in keep]
    out = tmp_path_factory.mktemp("b77")
    train, test = out / "train.csv", out / "test.csv"
    with train.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["text", "category"])
        w.writeheader()
        w.writerows(rows[::2])
    with test.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["text", "category"])
        w.writeheader()
        w.writerows(rows[1::2][:120])
    return train, test


def test_reason_fit_then_predict_on_any_labelled_csv(banking_sample: tuple[Path, Path], tmp_path: Path) -> None:
    train, test = banking_sample
    bundle = tmp_path / "bundle"
    subprocess.run([*TRIAGE, "reason", "fit", "--train", str(train), "--label-col", "category", "--out",
                    str(bundle)], check=True, cwd=REPO, capture_output=True)
    assert (bundle / "manifest.json").is_file()
    out = tmp_path / "pred.csv"
    subprocess.run([*TRIAGE, "reason", "predict", "--model", str(bundle), "--input", str(test), "--output",
                    str(out)], check=True, cwd=REPO, capture_output=True)
    with test.open(newline="") as fh:
        truth = list(csv.DictReader(fh))
    with out.open(newline="") as fh:
        preds = list(csv.DictReader(fh))
    assert len(preds) == len(truth)
    assert [p["text"] for p in preds] == [t["text"] for t in truth]
    assert {"text", "label", "confidence", "abstain"} <= set(preds[0])
    assert {p["abstain"] for p in preds} <= {"true", "false"}
    accuracy = sum(p["label"] == t["category"] for p, t in zip(preds, truth, strict=True)) / len(truth)
    assert accuracy > 0.8


def test_reason_fit_names_a_missing_column(banking_sample: tuple[Path, Path], tmp_path: Path) -> None:
    train, _ = banking_sample
    proc = subprocess.run([*TRIAGE, "reason", "fit", "--train", str(train), "--out", str(tmp_path / "b")],
                          cwd=REPO, capture_output=True, text=True)
    assert proc.returncode != 0 and "label" in proc.stderr


def test_bench_rejects_unknown_names_and_lists_the_known_ones() -> None:
    proc = subprocess.run([*TRIAGE, "bench", "no-such-bench"], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2 and "reason-banking77" in proc.stderr


def test_bench_result_json_has_the_contract_shape() -> None:
    from returns_triage.evaluation.benchmarks.base import BenchResult, Target

    line = BenchResult("x", {"accuracy": 0.95}, [Target("accuracy", ">=", 0.94), Target("ece", "<=", 0.03)]).to_json()
    doc = json.loads(line)
    assert doc["bench"] == "x" and doc["metrics"] == {"accuracy": 0.95}
    assert doc["targets"][0] == {"metric": "accuracy", "value": 0.95, "op": ">=", "target": 0.94, "met": True}
    assert doc["targets"][1]["met"] is False  # a missing metric never counts as met
