"""`triage score-batch`: score a file of returns on the full model path, streaming and resumable.

Each input row is a score request (see :mod:`returns_triage.batch.records` for the CSV column mapping); each
output row is its decision (route, queue, priority, reason, risk, explanation, policy and model versions) or its
error, in input order. The decision is :meth:`ScoringService.decide`'s — the API's semantics — except that the
reason model runs over a whole chunk in one encoder call, and the fraud model over a whole chunk in one call
without the risk factors no output column shows (:mod:`returns_triage.batch.fraud`). Nothing is written to the
database: batch decisions are not stored, audited or sent to webhooks.

Rows are read, scored and written one chunk at a time, in three overlapping stages: one thread reads and parses
chunk k+2, another encodes chunk k+1 (in one encoder call per core at once, by default) and the calling thread
decides and writes chunk k. After each chunk the progress file records the last fully written row
(:mod:`returns_triage.batch.progress`), so ``resume=True`` continues exactly there.
"""

from __future__ import annotations

import dataclasses
import itertools
import sys
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from returns_triage.batch.files import UnreadableRow, open_output, open_rows
from returns_triage.batch.fraud import ChunkRisk
from returns_triage.batch.progress import Progress, input_fingerprint, progress_path
from returns_triage.batch.records import decision_row, error_row, request_from_row
from returns_triage.errors import InvalidInput, TriageError
from returns_triage.models.reason import ReasonPrediction
from returns_triage.serving.domain.policy import RoutingPolicy
from returns_triage.serving.service.models import LoadedModels
from returns_triage.serving.service.scoring import ScoringService

__all__ = ["BatchSummary", "score_batch", "encoder_layout", "DEFAULT_BATCH_SIZE", "DEFAULT_ENCODER_BATCH_SIZE"]

DEFAULT_BATCH_SIZE = 512  # rows read, scored, written and recorded together
DEFAULT_ENCODER_BATCH_SIZE = 64  # texts per encoder call inside a chunk (STACK.md: the encoder's sweet spot)
_CHUNKS_AHEAD = 2  # chunks queued for reading and encoding while this thread decides one


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
                encoder_batch_size: int = DEFAULT_ENCODER_BATCH_SIZE, encoder_streams: int = 1,
                resume: bool = False, progress: bool = True, max_rows: int | None = None,
                clock: Callable[[], datetime] | None = None) -> BatchSummary:
    """Score ``input_path`` into ``output_path`` (format by extension: .csv, .jsonl, .parquet).

    ``resume`` continues an interrupted run from its progress file (a completed one is left as it is); without
    it the output is started afresh. ``max_rows`` stops after that many more rows, resumable later. Raises
    InvalidInput for an unusable file or progress file; a bad row never raises, it becomes an error row.
    ``encoder_streams`` reason-model calls run at once on each chunk (see :func:`encoder_layout`); a resumed run
    must use the same number as the interrupted one for its output to match to the last digit.
    """
    if batch_size < 1 or encoder_batch_size < 1:
        raise InvalidInput("batch sizes must be at least 1", field="batch_size")
    if encoder_streams < 1:
        raise InvalidInput("encoder_streams must be at least 1", field="encoder_streams")
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

    # Fraud risk is computed for a whole chunk in one model call and handed to the service row by row.
    risk = ChunkRisk(models.fraud) if models.fraud is not None else None
    deciding = dataclasses.replace(models, fraud=risk) if risk is not None else models
    # Batch decisions are never stored, so they need no random ids.
    ids = itertools.count()
    service = ScoringService(_NoStorage(), deciding, policy,  # type: ignore[arg-type]
                             new_id=lambda: f"batch-{next(ids)}", **({"clock": clock} if clock is not None else {}))
    reason_model = models.require_reason()
    resumed_from, scored, started = state.rows_done, 0, time.perf_counter()
    bar = _progress_bar(source.count() if progress else None, state.rows_done, progress)
    # Chunks always start at multiples of batch_size, and a resumed run scores its first chunk whole again,
    # writing only the rows not yet written: each row is encoded in the same batch as in an uninterrupted run, so
    # its output is the same to the last digit (encoder arithmetic depends slightly on the batch's padding).
    first = state.rows_done - state.rows_done % batch_size
    chunks = iter(source.chunks(batch_size, skip=first))

    # Each chunk's encoder batches are shared out among ``encoder_streams`` calls running at once (see
    # _encode_chunk): the encoding thread runs the first, these threads the others.
    streams = (ThreadPoolExecutor(max_workers=encoder_streams - 1, thread_name_prefix="score-batch-stream")
               if encoder_streams > 1 else None)
    reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="score-batch-reader")
    encoder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="score-batch-encoder")

    def read(first_row: int) -> _ParsedChunk | None:
        chunk = next(chunks, None)  # only ever advanced here, on the one reader thread
        return None if chunk is None else _parse_chunk(first_row, chunk)

    def encode(parsed: Future[_ParsedChunk | None]) -> _EncodedChunk | None:
        chunk = parsed.result()
        return None if chunk is None else _encode_chunk(reason_model, chunk, encoder_batch_size, encoder_streams,
                                                        streams)

    # Three stages, each on its own thread: the reader reads and parses chunk k+2 while the encoder threads encode
    # chunk k+1 (onnxruntime releases the GIL) and this one decides chunk k (fraud, policy), writes it and records
    # it. Writing and recording stay here, in input order. The encoder never waits for parsing or deciding: its
    # next chunk is queued before this thread decides the current one.
    queued: deque[Future[_EncodedChunk | None]] = deque()
    next_first = first
    last_wanted = None if max_rows is None else state.rows_done + max_rows  # rows from here on are not scored now

    def queue_chunks() -> None:
        nonlocal next_first
        while len(queued) < _CHUNKS_AHEAD and (last_wanted is None or next_first < last_wanted):
            queued.append(encoder.submit(encode, reader.submit(read, next_first)))
            next_first += batch_size

    try:
        queue_chunks()
        while queued:
            encoded = queued.popleft().result()
            if encoded is None:
                writer.finish()
                state.complete = True
                state.position = {}
                state.save(sidecar)
                break
            queue_chunks()
            todo = encoded.first_row + len(encoded.rows) - max(state.rows_done, encoded.first_row)
            if max_rows is not None:
                todo = min(todo, max_rows - scored)
            rows = [r for r in _decide_chunk(service, risk, tenant, encoded) if r["row"] >= state.rows_done][:todo]
            writer.write(rows)
            # The chunk is durable; only now does the progress file say so.
            state.rows_done += len(rows)
            state.errors += sum(r["error_code"] is not None for r in rows)
            state.position = writer.position()
            state.save(sidecar)
            scored += len(rows)
            bar.update(len(rows))
    finally:
        for pool in (encoder, reader, streams):
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
        writer.close()
        bar.close()
    return BatchSummary(str(input_path), str(output_path), state.rows_done, scored, state.errors, resumed_from,
                        state.complete, time.perf_counter() - started)


@dataclass(slots=True)
class _ParsedChunk:
    """A chunk read and parsed: each row's error row (``None`` for a valid one), and the valid rows' requests."""

    first_row: int
    rows: list[dict[str, Any] | None]
    valid: list[tuple[int, dict[str, Any]]]


@dataclass(slots=True)
class _EncodedChunk:
    """A chunk read, parsed and through the reason model: each row's error row, or its request and prediction."""

    first_row: int
    rows: list[dict[str, Any] | tuple[dict[str, Any], ReasonPrediction]]


def encoder_layout(cores: int, streams: int = 0) -> tuple[int, int]:
    """(encoder streams, onnxruntime threads per stream) for batch scoring on ``cores`` cores; ``streams`` 0 means
    one per core. One single-threaded call per core is the encoder's fastest layout on small CPUs (the load
    benchmark's per-core limit): threads of one call wait for each other at every operator, separate calls do not.
    """
    if streams < 0:
        raise InvalidInput("encoder streams must be at least 1 (0: one per core)", field="encoder_streams")
    cores = max(1, cores)
    streams = streams or cores
    return streams, max(1, cores // streams)


def _parse_chunk(first_row: int, chunk: list[Any]) -> _ParsedChunk:
    rows: list[dict[str, Any] | None] = [None] * len(chunk)
    valid: list[tuple[int, dict[str, Any]]] = []
    for i, raw in enumerate(chunk):
        row = first_row + i
        if isinstance(raw, UnreadableRow):
            rows[i] = error_row(row, None, "unreadable_row", raw.message)
            continue
        try:
            request = request_from_row(raw)
        except InvalidInput as exc:
            rows[i] = error_row(row, raw.get("case_id"), exc.code, exc.message, exc.field)
            continue
        if request.get("document_ids"):
            rows[i] = error_row(row, request["case_id"], "documents_unavailable",
                                "batch scoring does not read attached documents; score this return through the API",
                                "document_ids")
            continue
        valid.append((i, request))
    return _ParsedChunk(first_row, rows, valid)


def _encode_chunk(reason_model: Any, chunk: _ParsedChunk, encoder_batch_size: int, encoder_streams: int = 1,
                  pool: ThreadPoolExecutor | None = None) -> _EncodedChunk:
    rows: list[Any] = list(chunk.rows)
    valid = chunk.valid
    # Shortest texts first so each encoder batch pads little. The streams must finish together (a chunk is done
    # when its slowest stream is): each batch, longest first, goes to the stream with the least work so far, work
    # counted as the batch's padded length. (Dealing batch j to stream j mod streams gave the second stream the
    # longer batch of every pair: ~4 % more work, which the first stream spent waiting.)
    order = sorted(range(len(valid)), key=lambda k: len(valid[k][1]["reason_text"]))
    batches = [order[j : j + encoder_batch_size] for j in range(0, len(order), encoder_batch_size)]
    lanes: list[list[int]] = [[] for _ in range(encoder_streams)]
    work = [0] * encoder_streams
    for batch in reversed(batches):
        lane = min(range(encoder_streams), key=work.__getitem__)
        lanes[lane][:0] = batch  # each stream still runs its batches shortest first
        work[lane] += len(batch) * len(valid[batch[-1]][1]["reason_text"])
    lanes = [lane for lane in lanes if lane]

    def run(lane: list[int]) -> list[ReasonPrediction]:
        return reason_model.predict([valid[k][1]["reason_text"] for k in lane], batch_size=encoder_batch_size)

    # The pool runs every lane but the first, which this thread runs meanwhile; without a pool, one after another.
    others = [pool.submit(run, lane) for lane in lanes[1:]] if pool is not None else []
    results = [run(lane) for lane in lanes[: len(lanes) - len(others)]] + [f.result() for f in others]
    ordered = [k for lane in lanes for k in lane]
    predictions = [p for result in results for p in result]
    for k, prediction in zip(ordered, predictions, strict=True):
        i, request = valid[k]
        rows[i] = (request, prediction)
    return _EncodedChunk(chunk.first_row, rows)


def _decide_chunk(service: ScoringService, risk: ChunkRisk | None, tenant: str,
                  encoded: _EncodedChunk) -> list[dict[str, Any]]:
    scored = [(i, r) for i, r in enumerate(encoded.rows) if isinstance(r, tuple)]
    if risk is not None:
        risk.prepare([request for _, (request, _) in scored], [prediction.code for _, (_, prediction) in scored])
    out: list[dict[str, Any]] = [r for r in encoded.rows if not isinstance(r, tuple)]  # type: ignore[misc]
    for i, (request, prediction) in scored:
        row = encoded.first_row + i
        try:
            decision = service.decide(tenant, request, reason_prediction=prediction)
            out.append(decision_row(row, decision))
        except TriageError as exc:
            out.append(error_row(row, request["case_id"], exc.code, exc.message, getattr(exc, "field", None)))
        except Exception as exc:  # noqa: BLE001 — one odd row must not end an overnight run; it is reported
            out.append(error_row(row, request["case_id"], "unexpected_error", f"{type(exc).__name__}: {exc}"))
    out.sort(key=lambda r: r["row"])
    return out


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
