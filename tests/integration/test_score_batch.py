"""`triage score-batch` with the real ONNX bundles: one decision per row as the API decides it, bad rows reported,
CSV / JSONL / Parquet round trips, and resumption (also after kill -9) that neither repeats nor skips a row."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from returns_triage.batch import score_batch
from returns_triage.batch.files import read_output
from returns_triage.batch.progress import Progress, progress_path
from returns_triage.batch.records import FLAT_COLUMNS, flatten_request
from returns_triage.serving.domain.policy import DocumentPolicy
from returns_triage.serving.service.scoring import ScoringService

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _clock() -> datetime:
    return NOW


@pytest.fixture(scope="module")
def requests() -> list[dict]:
    """Simulated returns (the API's request shape), without attachments: batch scoring reads no documents."""
    from returns_triage.datasets.returns_world import WorldConfig, simulate_world

    world = simulate_world(WorldConfig(seed=5, customers=500, months=12))
    return [{**r, "document_ids": []} for r in world.requests(limit=700)]


@pytest.fixture(scope="module")
def policy() -> DocumentPolicy:
    return DocumentPolicy.from_file()


def _write_csv(path: Path, requests: list[dict]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=FLAT_COLUMNS)
        writer.writeheader()
        writer.writerows(flatten_request(r) for r in requests)
    return path


def _write_parquet(path: Path, requests: list[dict]) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    # Nested struct columns, as an export from a data warehouse would have them; small row groups so a resumed
    # run has to skip some of them.
    pq.write_table(pa.Table.from_pylist(requests), path, row_group_size=64)
    return path


def _run(inp: Path, out: Path, loaded_models, policy, **kw):  # type: ignore[no-untyped-def]
    return score_batch(inp, out, models=loaded_models, policy=policy, progress=False, clock=_clock, **kw)


@pytest.mark.parametrize("streams", [1, 2])
def test_each_row_gets_the_decision_the_api_would_make(tmp_path, loaded_models, policy, requests,  # type: ignore[no-untyped-def]
                                                       streams) -> None:
    sample = requests[:60]
    # With two streams each 25-row chunk's encoder batches of 4 are dealt to two concurrent encoder calls.
    summary = _run(_write_csv(tmp_path / "in.csv", sample), tmp_path / "out.csv", loaded_models, policy,
                   batch_size=25, encoder_batch_size=4, encoder_streams=streams)
    assert summary.complete and summary.rows == len(sample) and summary.errors == 0
    rows = read_output(tmp_path / "out.csv")
    assert [r["row"] for r in rows] == list(range(len(sample)))
    service = ScoringService(None, loaded_models, policy, clock=_clock)  # type: ignore[arg-type]
    for row, request in zip(rows, sample, strict=True):
        decision = service.decide("default", request)
        assert row["case_id"] == request["case_id"]
        assert (row["route"], row["queue"], row["priority"]) == (decision.route.route, decision.route.queue,
                                                                 decision.route.priority)
        assert row["reason_code"] == decision.reason.code
        assert row["reason_confidence"] == pytest.approx(decision.reason.confidence, abs=1e-5)
        assert row["reason_abstain"] == decision.reason.abstain
        assert row["risk_score"] == pytest.approx(decision.risk.score, abs=1e-6)
        assert row["risk_band"] == decision.risk.band
        assert row["explanation"] == decision.route.explanation
        assert row["policy_version"] == policy.version
        assert json.loads(row["model_versions"]) == loaded_models.versions()
    assert not progress_path(tmp_path / "out.csv").exists() or Progress.load(progress_path(tmp_path / "out.csv")).complete


def test_parquet_csv_and_jsonl_give_the_same_rows(tmp_path, loaded_models, policy, requests) -> None:  # type: ignore[no-untyped-def]
    sample = requests[:150]
    from_csv = _run(_write_csv(tmp_path / "in.csv", sample), tmp_path / "out.csv", loaded_models, policy,
                    batch_size=40)
    from_parquet = _run(_write_parquet(tmp_path / "in.parquet", sample), tmp_path / "out.parquet", loaded_models,
                        policy, batch_size=40)
    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in sample))
    from_jsonl = _run(jsonl, tmp_path / "out.jsonl", loaded_models, policy, batch_size=40)
    assert from_csv.rows == from_parquet.rows == from_jsonl.rows == len(sample)
    a, b, c = (read_output(tmp_path / f"out.{ext}") for ext in ("csv", "parquet", "jsonl"))
    assert a == b == c
    assert not (tmp_path / "out.parquet.parts").exists()  # parts merged into one file


def test_bad_rows_are_reported_and_the_run_goes_on(tmp_path, loaded_models, policy, requests) -> None:  # type: ignore[no-untyped-def]
    good = requests[:6]
    bad_amount = {**flatten_request(requests[6]), "refund_amount": "lots"}
    no_text = {**flatten_request(requests[7]), "reason_text": ""}
    bad_date = {**flatten_request(requests[8]), "order.delivered_at": "yesterday"}
    with_docs = {**flatten_request(requests[9]), "document_ids": "ab" * 32}
    no_dates = {**flatten_request(requests[10]), "order.order_date": "", "order.delivered_at": ""}
    rows = [flatten_request(good[0]), bad_amount, flatten_request(good[1]), no_text, bad_date, with_docs, no_dates,
            *(flatten_request(r) for r in good[2:])]
    path = tmp_path / "in.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=FLAT_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    summary = _run(path, tmp_path / "out.jsonl", loaded_models, policy, batch_size=4)
    out = read_output(tmp_path / "out.jsonl")
    assert summary.complete and len(out) == len(rows) and summary.errors == 5
    errors = {r["row"]: r for r in out if r["error_code"]}
    assert sorted(errors) == [1, 3, 4, 5, 6]
    assert errors[1]["error_field"] == "refund_amount" and errors[1]["case_id"] == requests[6]["case_id"]
    assert errors[3]["error_field"] == "reason_text"
    assert errors[4]["error_field"] == "order.delivered_at"
    assert errors[5]["error_code"] == "documents_unavailable"
    assert errors[6]["error_code"] == "needed_for_risk" and errors[6]["error_field"] == "order.order_date"
    assert all(r["route"] is None for r in errors.values())
    assert all(r["route"] in ("auto_approve", "review", "auto_decline") for r in out if not r["error_code"])

    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text(json.dumps(good[0]) + "\n{not json\n\n[1, 2]\n" + json.dumps(good[1]) + "\n")
    _run(jsonl, tmp_path / "out2.csv", loaded_models, policy)
    out2 = read_output(tmp_path / "out2.csv")
    assert [r["error_code"] for r in out2] == [None, "unreadable_row", "unreadable_row", None]


@pytest.mark.parametrize(("ext", "streams"), [("csv", 1), ("parquet", 1), ("csv", 2)])
def test_resume_after_an_interruption_gives_exactly_the_uninterrupted_rows(tmp_path, loaded_models, policy,  # type: ignore[no-untyped-def]
                                                                            requests, ext, streams) -> None:
    sample = requests[:230]
    inp = (_write_csv if ext == "csv" else _write_parquet)(tmp_path / f"in.{ext}", sample)
    layout = {"batch_size": 50, "encoder_batch_size": 8, "encoder_streams": streams}
    _run(inp, tmp_path / f"whole.{ext}", loaded_models, policy, **layout)
    out = tmp_path / f"out.{ext}"
    first = _run(inp, out, loaded_models, policy, max_rows=120, **layout)
    assert not first.complete and first.rows == 120
    # What a kill -9 during the next chunk leaves behind: bytes (or a part file) the progress file never recorded.
    if ext == "csv":
        with out.open("a", encoding="utf-8") as fh:
            fh.write("120,RMA-TORN,auto_appr")
    else:
        (out.with_name(out.name + ".parts") / "part-0000003.parquet").write_bytes(b"PAR1 torn")
    second = _run(inp, out, loaded_models, policy, resume=True, **layout)
    assert second.resumed_from == 120 and second.scored_now == 110 and second.complete
    assert read_output(out) == read_output(tmp_path / f"whole.{ext}")
    again = _run(inp, out, loaded_models, policy, resume=True)  # a finished run is left as it is
    assert again.scored_now == 0 and again.complete


def test_resume_refuses_a_changed_input(tmp_path, loaded_models, policy, requests) -> None:  # type: ignore[no-untyped-def]
    from returns_triage.errors import InvalidInput

    inp = _write_csv(tmp_path / "in.csv", requests[:30])
    _run(inp, tmp_path / "out.csv", loaded_models, policy, batch_size=10, max_rows=10)
    _write_csv(inp, requests[1:40])
    with pytest.raises(InvalidInput, match="changed since the interrupted run"):
        _run(inp, tmp_path / "out.csv", loaded_models, policy, resume=True)


@pytest.mark.slow
def test_kill_9_then_resume_on_the_command_line(tmp_path, model_dir, loaded_models, policy, requests) -> None:  # type: ignore[no-untyped-def]
    inp = _write_csv(tmp_path / "in.csv", requests)
    out = tmp_path / "out.csv"
    env = {**os.environ, "TRIAGE_HOME": str(tmp_path), "TRIAGE_MODEL_DIR": str(model_dir), "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "returns_triage.cli", "score-batch", "--input", str(inp), "--output", str(out),
           "--batch-size", "20", "--no-progress"]
    log = tmp_path / "first-run.log"
    with log.open("wb") as stderr:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
        sidecar = progress_path(out)
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            if sidecar.exists() and Progress.load(sidecar).rows_done >= 100:
                break
            assert proc.poll() is None, log.read_text()
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    stopped = Progress.load(sidecar).rows_done
    assert 100 <= stopped < len(requests)
    done = subprocess.run([*cmd, "--resume"], env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["resumed_from"] == stopped and summary["rows"] == len(requests) and summary["complete"]
    # The command line's clock is the real one; these requests all say when they were made, so no output depends
    # on it and the uninterrupted in-process run is the reference.
    _run(inp, tmp_path / "whole.csv", loaded_models, policy, batch_size=20)
    assert read_output(out) == read_output(tmp_path / "whole.csv")


def test_chunk_risk_gives_the_per_row_fraud_scores_to_the_last_digit(loaded_models, requests) -> None:  # type: ignore[no-untyped-def]
    from returns_triage.batch.fraud import ChunkRisk

    scorer = loaded_models.fraud
    sample = [dict(r) for r in requests[:300]]
    undated = {**sample[0], "requested_at": None}  # the service fills in its clock's time: scored row by row
    sample.append(undated)
    codes = [("DEFECTIVE", "NO_LONGER_NEEDED", None)[i % 3] for i in range(len(sample))]
    risk = ChunkRisk(scorer)
    assert risk.vectorised
    risk.prepare(sample, codes)

    def decided(result: dict) -> tuple:  # what a batch output row shows of the risk
        return result["score"], result["band"], result["model_version"]

    for request, code in zip(sample[:-1], codes[:-1], strict=True):
        answer = risk.score(request, reason_code=code)
        assert decided(answer) == decided(scorer.score(request, reason_code=code))
        assert answer["factors"] == []  # prepared in the chunk: no explanation computed
    assert len({risk.score(r, reason_code=c)["score"] for r, c in zip(sample[:-1], codes)}) > 50
    # Asked with another reason code, or with findings, or for a request it did not see, it is the scorer itself.
    other = sample[1]
    assert risk.score(other, reason_code="WARRANTY_CLAIM") == scorer.score(other, reason_code="WARRANTY_CLAIM")
    findings = [{"code": "serial_mismatch"}]
    assert (risk.score(other, reason_code=codes[1], findings=findings)
            == scorer.score(other, reason_code=codes[1], findings=findings))
    now = {**undated, "requested_at": "2026-11-25T12:00:00+00:00"}
    assert risk.score(now, reason_code=codes[-1]) == scorer.score(now, reason_code=codes[-1])
    assert risk.score(now, reason_code=codes[-1])["factors"]


def test_a_chunk_that_fails_to_encode_stops_the_run_resumably(tmp_path, loaded_models, policy, requests) -> None:  # type: ignore[no-untyped-def]
    import dataclasses

    class Flaky:
        """The real reason model, failing on its third call (the third chunk)."""

        def __init__(self, model):  # type: ignore[no-untyped-def]
            self.model, self.version, self.calls = model, model.version, 0

        def predict(self, texts, batch_size=64):  # type: ignore[no-untyped-def]
            self.calls += 1
            if self.calls == 3:
                raise RuntimeError("encoder failed")
            return self.model.predict(texts, batch_size=batch_size)

    inp = _write_csv(tmp_path / "in.csv", requests[:100])
    _run(inp, tmp_path / "whole.csv", loaded_models, policy, batch_size=20)
    flaky = dataclasses.replace(loaded_models, reason=Flaky(loaded_models.reason))
    with pytest.raises(RuntimeError, match="encoder failed"):
        _run(inp, tmp_path / "out.csv", flaky, policy, batch_size=20)
    assert Progress.load(progress_path(tmp_path / "out.csv")).rows_done == 40
    resumed = _run(inp, tmp_path / "out.csv", loaded_models, policy, batch_size=20, resume=True)
    assert resumed.resumed_from == 40 and resumed.complete
    assert read_output(tmp_path / "out.csv") == read_output(tmp_path / "whole.csv")
