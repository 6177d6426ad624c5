"""`triage score-batch`: score a file of returns on the full model path, streaming and resumable.

Each input row is a score request (see :mod:`returns_triage.batch.records` for the CSV column mapping); each
output row is its decision (route, queue, priority, reason, risk, explanation, policy and model versions) or its
error, in input order. The decision is :meth:`ScoringService.decide`'s — the API's semantics — except that the
reason model runs over a whole chunk in one encoder call. Nothing is written to the database: batch decisions
are not stored, audited or sent to webhooks.

Rows are read, scored and written one chunk at a time; after each chunk the progress file records the last
fully written row (:mod:`returns_triage.batch.progress`), so ``resume=True`` continues exactly there.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from returns_triage.batch.files import UnreadableRow, open_output, open_rows
from returns_triage.batch.progress import Progress, input_fingerprint, progress_path
from returns_triage.batch.records import decision_row, error_row, request_from_row
from returns_triage.errors import InvalidInput, TriageError
from returns_triage.serving.domain.policy import RoutingPolicy
from returns_triage.serving.service.models import LoadedModels
from returns_triage.serving.service.scoring import ScoringService

__all__ = ["BatchSummary", "score_batch", "DEFAULT_BATCH_SIZE", "DEFAULT_ENCODER_BATCH_SIZE"]

DEFAULT_BATCH_SIZE = 512  # rows read, scored, written and recorded together
DEFAULT_ENCODER_BATCH_SIZE = 64  # texts per encoder call inside a chunk (STACK.md: the encoder's sweet spot)


@dataclass(frozen=True, slots=True)
class BatchSummary:
    input: str
    output: str
    rows: int  # input rows in the output after this run (all of them unless stopped by max_rows)
    scored_now: int  # rows this run scored (a resumed run skips what an earlier one wrote)
    errors: int  # error rows in the whole output
    resumed_from: int
    complete: bool
    seconds: float

    @property
    def rows_per_second(self) -> float:
        return self.scored_now / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"input": self.input, "output": self.output, "rows": self.rows, "scored_now": self.scored_now,
                "errors": self.errors, "resumed_from": self.resumed_from, "complete": self.complete,
                "seconds": round(self.seconds, 3), "rows_per_second": round(self.rows_per_second, 1)}


class _NoStorage:
    """Batch scoring decides without storing; anything that tries to store is a bug."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"batch scoring stores nothing (called {name})")


def score_batch(input_path: Path, output_path: Path, *, models: LoadedModels, policy: RoutingPolicy,
                tenant: str = "default", batch_size: int = DEFAULT_BATCH_SIZE,
                encoder_batch_size: int = DEFAULT_ENCODER_BATCH_SIZE, resume: bool = False, progress: bool = True,
                max_rows: int | None = None, clock: Callable[[], datetime] | None = None) -> BatchSummary:
    """Score ``input_path`` into ``output_path`` (format by extension: .csv, .jsonl, .parquet).

    ``resume`` continues an interrupted run from its progress file (a completed one is left as it is); without
    it the output is started afresh. ``max_rows`` stops after that many more rows, resumable later. Raises
    InvalidInput for an unusable file or progress file; a bad row never raises, it becomes an error row.
    """
    if batch_size < 1 or encoder_batch_size < 1:
        raise InvalidInput("batch sizes must be at least 1", field="batch_size")
    input_path, output_path = Path(input_path), Path(output_path)
    if input_path.resolve() == output_path.resolve():
        raise InvalidInput("the output must not be the input file", field="output")
    source = open_rows(input_path)
    fingerprint = input_fingerprint(input_path)
    sidecar = progress_path(output_path)
    if resume and sidecar.exists():
        state = Progress.load(sidecar)
        state.check_same_input(fingerprint)
        if state.complete:
            return BatchSummary(str(input_path), str(output_path), state.rows_done, 0, state.errors,
                                state.rows_done, True, 0.0)
        writer = open_output(output_path, state.position)
    else:
        if resume and output_path.exists():
            raise InvalidInput(f"{output_path} exists but has no progress file {sidecar.name}; "
                               "start again without --resume", field="resume")
        writer = open_output(output_path)
        state = Progress(input=fingerprint, output=str(output_path.resolve()), position=writer.position())
        state.save(sidecar)

    service = ScoringService(_NoStorage(), models, policy,  # type: ignore[arg-type]
                             **({"clock": clock} if clock is not None else {}))
    reason_model = models.require_reason()
    resumed_from, scored, started = state.rows_done, 0, time.perf_counter()
    bar = _progress_bar(source.count() if progress else None, state.rows_done, progress)
    # Chunks always start at multiples of batch_size, and a resumed run scores its first chunk whole again,
    # writing only the rows not yet written: each row is encoded in the same batch as in an uninterrupted run, so
    # its output is the same to the last digit (encoder arithmetic depends slightly on the batch's padding).
    first = state.rows_done - state.rows_done % batch_size
    try:
        for k, chunk in enumerate(source.chunks(batch_size, skip=first)):
            if max_rows is not None and scored >= max_rows:
                break
            rows = _score_chunk(service, reason_model, tenant, first + k * batch_size, chunk, encoder_batch_size)
            rows = [r for r in rows if r["row"] >= state.rows_done]
            if max_rows is not None:
                rows = rows[: max_rows - scored]
            writer.write(rows)
            # The chunk is durable; only now does the progress file say so.
            state.rows_done += len(rows)
            state.errors += sum(r["error_code"] is not None for r in rows)
            state.position = writer.position()
            state.save(sidecar)
            scored += len(rows)
            bar.update(len(rows))
        else:
            writer.finish()
            state.complete = True
            state.position = {}
            state.save(sidecar)
    finally:
        writer.close()
        bar.close()
    return BatchSummary(str(input_path), str(output_path), state.rows_done, scored, state.errors, resumed_from,
                        state.complete, time.perf_counter() - started)


def _score_chunk(service: ScoringService, reason_model: Any, tenant: str, first_row: int, chunk: list[Any],
                 encoder_batch_size: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any] | None] = [None] * len(chunk)
    valid: list[tuple[int, dict[str, Any]]] = []
    for i, raw in enumerate(chunk):
        row = first_row + i
        if isinstance(raw, UnreadableRow):
            out[i] = error_row(row, None, "unreadable_row", raw.message)
            continue
        try:
            request = request_from_row(raw)
        except InvalidInput as exc:
            out[i] = error_row(row, raw.get("case_id"), exc.code, exc.message, exc.field)
            continue
        if request.get("document_ids"):
            out[i] = error_row(row, request["case_id"], "documents_unavailable",
                               "batch scoring does not read attached documents; score this return through the API",
                               "document_ids")
            continue
        valid.append((i, request))
    # One reason-model call for the chunk; shortest texts first so each encoder batch pads little.
    order = sorted(range(len(valid)), key=lambda k: len(valid[k][1]["reason_text"]))
    predictions = reason_model.predict([valid[k][1]["reason_text"] for k in order], batch_size=encoder_batch_size)
    by_position = dict(zip(order, predictions, strict=True))
    for k, (i, request) in enumerate(valid):
        try:
            decision = service.decide(tenant, request, reason_prediction=by_position[k])
            out[i] = decision_row(first_row + i, decision)
        except TriageError as exc:
            out[i] = error_row(first_row + i, request["case_id"], exc.code, exc.message, getattr(exc, "field", None))
        except Exception as exc:  # noqa: BLE001 — one odd row must not end an overnight run; it is reported
            out[i] = error_row(first_row + i, request["case_id"], "unexpected_error", f"{type(exc).__name__}: {exc}")
    return [r for r in out if r is not None]


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress_bar(total: int | None, initial: int, enabled: bool) -> Any:
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="row", file=sys.stderr, desc="score-batch", dynamic_ncols=True)
