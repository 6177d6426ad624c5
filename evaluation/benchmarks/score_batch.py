"""`triage bench score-batch`: batch scoring against the encoder's own limit, measured in one run.

1. Generates returns (100,000; ``--quick``: about 3,000) from the returns-world simulator, with reason texts
   from the reason corpus (the simulator's own texts are one template per code) matched to each return's reason
   code, 2 % of them out of scope; written as the flat CSV ``triage score-batch`` reads.
2. Measures the raw onnxruntime encoder alone on a sample of those texts at batch sizes 8–256, in input order and
   on length-sorted batches (each chunk of 512 sorted, as batch scoring does it), before and after the batch run,
   and one single-threaded session per core called at once; the best figure of all is the limit.
3. Runs score-batch (reason + fraud + policy, the API's decision semantics) over the whole file in its default
   layout (one single-threaded encoder call per core) with the encoder batch size that was best on length-sorted
   batches before the run (batch scoring sorts each chunk's texts by length before encoding, which is also why
   length-sorted batches belong in the limit) and reports rows/s and the ratio to the limit.
   That is the full model path: a cascade first stage in the reason bundle, if any, is off for this figure;
   with it on, the same file is scored again and reported as an extra metric.
4. Resume check: scores the first rows as a separate file in one go, then again stopping a third of the way,
   appends a torn half chunk (what ``kill -9`` mid-write leaves), resumes, and compares the two outputs.

Writes ``var/bench/score-batch/`` (the input and output files are kept only for ``--quick``).
"""

from __future__ import annotations

import csv
import dataclasses
import os
import random
import shutil
import time
from pathlib import Path
from typing import Any

from returns_triage.evaluation.benchmarks.base import BenchResult, Target, output_dir, register

__all__ = ["run", "TARGETS", "generate_returns_csv"]

TARGETS = [
    Target("throughput_ratio_vs_raw_encoder", ">=", 0.90),
    Target("resume_correct", "==", 1.0),
]
_BATCH_SIZES = (8, 16, 32, 64, 128, 256)
_OUT_OF_SCOPE_SHARE = 0.02


def generate_returns_csv(path: Path, n: int, *, seed: int = 7) -> int:
    """Write ``n`` simulated returns (score requests, flat CSV columns) to ``path``; returns the row count."""
    import numpy as np

    from returns_triage.batch.records import FLAT_COLUMNS, flatten_request
    from returns_triage.datasets.reasons.generator import generate_corpus
    from returns_triage.datasets.reasons.taxonomy import OUT_OF_SCOPE
    from returns_triage.datasets.returns_world import WorldConfig, simulate_world

    # ~3.1 cases per customer-year in the default world; ask for a little more than needed.
    world = simulate_world(WorldConfig(seed=seed, customers=max(500, int(n / 3.0) + 200), months=12))
    texts: dict[str, list[str]] = {}
    for example in generate_corpus(seed=seed, per_code=300):
        texts.setdefault(example.label, []).append(example.text)
    rng = random.Random(seed)
    codes = world.reason_codes()
    written = 0
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=FLAT_COLUMNS)
        writer.writeheader()
        for start in range(0, min(n, len(world)), 10_000):
            positions = np.arange(start, min(start + 10_000, n, len(world)))
            for position, request in zip(positions, world.requests(positions=positions), strict=True):
                code = OUT_OF_SCOPE if rng.random() < _OUT_OF_SCOPE_SHARE else codes[position]
                pool = texts.get(code) or texts[OUT_OF_SCOPE]
                # Batch scoring does not read documents; the simulator's attachments are dropped.
                request = {**request, "reason_text": rng.choice(pool), "document_ids": []}
                writer.writerow(flatten_request(request))
                written += 1
    return written


def _raw_encoder(model: Any, texts: list[str], *, sort: bool = False,
                 cpu_ms: list[float] | None = None) -> dict[int, float]:
    """Texts per second of the encoder alone at each batch size (one warm-up batch first); ``cpu_ms`` receives
    the CPU milliseconds per text (all threads) at each batch size, which other load on the machine inflates far
    less than wall time."""
    model.encoder.encode(texts[:32], batch_size=32)
    out = {}
    for b in _BATCH_SIZES:
        ordered = sorted(texts, key=len) if sort else texts
        started, cpu = time.perf_counter(), time.process_time()
        if sort:  # as batch scoring does it: sort each chunk of 512, then encode in batches of b
            for i in range(0, len(ordered), 512):
                model.encoder.encode(sorted(texts[i : i + 512], key=len), batch_size=b)
        else:
            model.encoder.encode(ordered, batch_size=b)
        out[b] = len(texts) / (time.perf_counter() - started)
        if cpu_ms is not None:
            cpu_ms.append(1000 * (time.process_time() - cpu) / len(texts))
    return out


def _per_core_encoder(bundle: Path, texts: list[str]) -> dict[int, float]:
    """Texts per second of one single-threaded encoder session per core, called at the same time, at batch 1 and
    on length-sorted batches of 8 (empty on one core)."""
    import os

    from returns_triage.evaluation.benchmarks.load import raw_encoder_throughput

    cores = os.cpu_count() or 1
    if cores < 2:
        return {}
    return raw_encoder_throughput(bundle, texts, (1, 8), 2.0, sort=True, streams=cores)


def _reason_texts(path: Path, limit: int) -> list[str]:
    with path.open(newline="", encoding="utf-8") as fh:
        return [row["reason_text"] for _, row in zip(range(limit), csv.DictReader(fh), strict=False)]


def _head(path: Path, out: Path, rows: int) -> None:
    with path.open(encoding="utf-8") as src, out.open("w", encoding="utf-8") as dst:
        reader = csv.reader(src)
        writer = csv.writer(dst, lineterminator="\n")
        for _, row in zip(range(rows + 1), reader, strict=False):
            writer.writerow(row)


def _resume_check(head: Path, models: Any, policy: Any, encoder_batch: int, streams: int,
                  work: Path) -> dict[str, Any]:
    from returns_triage.batch import score_batch
    from returns_triage.batch.files import read_output

    # The uninterrupted reference: the same file, the same chunking, in one go.
    batch_size = 100
    whole = work / "resume-reference.csv"
    score_batch(head, whole, models=models, policy=policy, batch_size=batch_size, encoder_batch_size=encoder_batch,
                encoder_streams=streams, progress=False)
    reference = read_output(whole)

    out = work / "resume-check.csv"
    for stale in (out, out.with_name(out.name + ".progress.json")):
        stale.unlink(missing_ok=True)
    n = len(reference)
    first = score_batch(head, out, models=models, policy=policy, batch_size=batch_size,
                        encoder_batch_size=encoder_batch, encoder_streams=streams, progress=False, max_rows=n // 3)
    torn = read_output(out)[-1] if first.rows else None
    with out.open("a", encoding="utf-8") as fh:  # half a chunk that never made it into the progress file
        fh.write(f"{first.rows},{(torn or {}).get('case_id', 'X')},auto_approve,,,DEFECT")
    second = score_batch(head, out, models=models, policy=policy, batch_size=batch_size,
                         encoder_batch_size=encoder_batch, encoder_streams=streams, progress=False, resume=True)
    rows = read_output(out)
    same = rows == reference
    return {"rows": n, "stopped_at": first.rows, "resumed_from": second.resumed_from, "output_rows": len(rows),
            "duplicates": len(rows) - len({r["row"] for r in rows}), "identical_to_uninterrupted": same}


@register("score-batch")
def run(quick: bool) -> BenchResult:
    from returns_triage.batch import encoder_layout, score_batch
    from returns_triage.batch.files import read_output
    from returns_triage.serving.domain.policy import DocumentPolicy
    from returns_triage.serving.service.models import load_models
    from returns_triage.settings import Settings
    from returns_triage.training.defaults import train_default_bundles

    started = time.perf_counter()
    settings = Settings.from_env()
    train_default_bundles(settings)
    out = output_dir("score-batch")
    work = out / "work"
    work.mkdir(exist_ok=True)
    n = 3_000 if quick else 100_000
    input_csv, output_csv = work / "returns.csv", work / "decisions.csv"
    generated = generate_returns_csv(input_csv, n)
    loaded = load_models(settings.model_dir)  # the encoder alone, on every core
    # score-batch itself in its own layout (`triage score-batch` without --encoder-streams): one single-threaded
    # encoder call per core at once, on sessions loaded for it.
    streams, threads = encoder_layout(os.cpu_count() or 1)
    batch_loaded = load_models(settings.model_dir, encoder_threads=threads)
    # The target is on the full model path: the reason runtime's cascade first stage (when it has one) is off.
    cascade_model = batch_loaded.reason if getattr(batch_loaded.reason, "cascade", None) is not None else None
    models, batch_models = loaded.full_model_path(), batch_loaded.full_model_path()
    policy = DocumentPolicy.from_file(None if settings.policy_file == "default" else settings.policy_file)
    cascade: dict[str, Any] | str = "not measured: this reason bundle has no cascade first stage"
    try:
        sample = _reason_texts(input_csv, 512 if quick else 2048)
        encoder_cpu_ms: list[float] = []
        raw_before = _raw_encoder(models.require_reason(), sample, cpu_ms=encoder_cpu_ms)
        sorted_before = _raw_encoder(models.require_reason(), sample, sort=True, cpu_ms=encoder_cpu_ms)
        best_batch = max(sorted_before, key=sorted_before.__getitem__)
        cpu = time.process_time()
        summary = score_batch(input_csv, output_csv, models=batch_models, policy=policy,
                              encoder_batch_size=best_batch, encoder_streams=streams, progress=False)
        batch_cpu_ms = 1000 * (time.process_time() - cpu) / max(summary.scored_now, 1)
        raw_after = _raw_encoder(models.require_reason(), sample, cpu_ms=encoder_cpu_ms)
        sorted_after = _raw_encoder(models.require_reason(), sample, sort=True, cpu_ms=encoder_cpu_ms)
        raw_sorted = {b: max(sorted_before[b], sorted_after[b]) for b in _BATCH_SIZES}
        raw_best = max(*raw_before.values(), *raw_after.values())
        # One single-threaded session per core, called concurrently (the load benchmark's limit counts it too):
        # at small batches it can beat one session using every core.
        per_core = _per_core_encoder(settings.reason_bundle_dir, sample)
        # The limit is the encoder at its best: score-batch sorts texts by length, so the encoder on length-sorted
        # batches counts too (measured faster here: less padding), and so does one session per core.
        limit = max(raw_best, max(raw_sorted.values()), *per_core.values())
        check_rows = 600 if quick else 3_000
        head = work / "returns-head.csv"
        _head(input_csv, head, check_rows)
        resume = _resume_check(head, batch_models, policy, best_batch, streams, work)
        if cascade_model is not None:
            on = dataclasses.replace(batch_loaded,
                                     reason=cascade_model.with_cascade(True))  # type: ignore[attr-defined]
            with_cascade = score_batch(input_csv, work / "decisions-cascade.csv", models=on, policy=policy,
                                       encoder_batch_size=best_batch, encoder_streams=streams, progress=False)
            cascade = {"rows_per_second": round(with_cascade.rows_per_second, 1),
                       # against the same limit as the full model path's ratio
                       "ratio_vs_raw_encoder": round(with_cascade.rows_per_second / limit, 4)}
    finally:
        loaded.close()
        batch_loaded.close()
    routes: dict[str, int] = {}
    if quick or summary.rows <= 10_000:
        for row in read_output(output_csv):
            key = row["route"] or f"error:{row['error_code']}"
            routes[key] = routes.get(key, 0) + 1
    rate = summary.rows_per_second
    metrics: dict[str, Any] = {
        "throughput_ratio_vs_raw_encoder": round(rate / limit, 4),
        "raw_encoder_limit_texts_per_second": round(limit, 1),
        "resume_correct": 1.0 if resume["identical_to_uninterrupted"] and not resume["duplicates"] else 0.0,
        "score_batch_rows_per_second": round(rate, 1),
        "raw_encoder_texts_per_second_best": round(raw_best, 1),
        "raw_encoder_best_batch_size": max(raw_before, key=raw_before.__getitem__),
        "score_batch_encoder_batch_size": best_batch,
        "raw_encoder_by_batch_before": {str(b): round(v, 1) for b, v in raw_before.items()},
        "raw_encoder_by_batch_after": {str(b): round(v, 1) for b, v in raw_after.items()},
        "raw_encoder_length_sorted_by_batch_before": {str(b): round(v, 1) for b, v in sorted_before.items()},
        "raw_encoder_length_sorted_by_batch_after": {str(b): round(v, 1) for b, v in sorted_after.items()},
        "raw_encoder_length_sorted_texts_per_second_best": round(max(raw_sorted.values()), 1),
        "raw_encoder_one_session_per_core_by_batch": {str(b): round(v, 1) for b, v in per_core.items()},
        "throughput_ratio_vs_raw_encoder_length_sorted": round(rate / max(raw_sorted.values()), 4),
        # The same ratio on a CPU basis (what it would be on an otherwise idle machine, both saturating the cores):
        # the encoder's CPU per text at its most efficient over score-batch's CPU per row (all its threads).
        "raw_encoder_cpu_ms_per_text_best": round(min(encoder_cpu_ms), 3),
        "score_batch_cpu_ms_per_row": round(batch_cpu_ms, 3),
        "throughput_ratio_vs_raw_encoder_cpu_basis": round(min(encoder_cpu_ms) / batch_cpu_ms, 4),
        "rows": summary.rows, "generated": generated, "error_rows": summary.errors,
        "score_batch_seconds": round(summary.seconds, 1),
        "resume_check": resume,
        "routes": routes or None,
        "cascade": cascade,
        "throughput_ratio_vs_raw_encoder_cascade_on": (cascade["ratio_vs_raw_encoder"]
                                                      if isinstance(cascade, dict) else None),
        "path": "full model path: reason encoder + head (ONNX), fraud (ONNX) + policy, per row as the API decides",
        "seconds": round(time.perf_counter() - started, 1),
    }
    if not quick:
        shutil.rmtree(work, ignore_errors=True)
    return BenchResult("score-batch", metrics, TARGETS, [] if not quick else [str(output_csv)])
