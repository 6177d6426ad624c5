"""Micro-batching of concurrent reason predictions: many requests in flight, one encoder call.

The transformer encoder is the expensive step of scoring, and onnxruntime runs a batch of 16 short texts in far
less time than 16 calls of one text. :class:`MicroBatchingReasonScorer` wraps any :class:`ReasonScorer`: each
``predict`` call joins a queue, one batcher thread takes everything that is waiting and runs it as one call of
the wrapped model, then hands every caller exactly its own predictions.

The window adapts to the load. A call that finds the batcher idle runs at once (no added latency when traffic is
light); calls that arrive while a batch is running wait for it and form the next batch, so the batch grows with
the arrival rate and the time one call takes. ``max_wait_ms`` optionally holds a small batch back a little
longer, but only while recent batches were larger (requests are evidently arriving concurrently).

``runners`` encoder calls may run at once (one batcher thread each, default 1). With one call at a time the
encoder's own threads never compete for the cores; with one runner per core and a single-threaded encoder session
(onnxruntime runs concurrent calls of one session safely, so the weights are loaded once), one serving process
keeps every core busy: a text that arrives while a long one is being encoded starts on the other core instead of
waiting, which two worker processes of one thread each cannot do for each other.

A model that offers ``wide()`` (:class:`ReasonModel` loaded with ``wide_threads``) runs a lone request on every
core: when a runner takes a single call while nothing else is queued and no other runner is busy, it runs that call
inside ``wide()``. Concurrent calls keep one call per core, so the peak rate is unchanged; a request at light load no
longer waits the single-thread time of a long text.

With the cascade on, a model that offers ``first_stage`` and ``predict_encoder`` (:class:`ReasonModel` does) has
its cheap first stage run in the caller's thread: a text it answers returns at once instead of waiting for the
encoder batch in flight, and only deferred texts are queued, so every batch is encoder work.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

from returns_triage.errors import ModelUnavailable
from returns_triage.models.reason import ReasonPrediction
from returns_triage.models.reason.runtime import complete_deferred
from returns_triage.serving.service.models import ReasonScorer

__all__ = ["MicroBatchingReasonScorer", "BatchingStats"]

# Weight of the newest batch in the running mean of batch sizes (the load estimate behind ``max_wait_ms``).
_EWMA = 0.2


@dataclass(slots=True)
class BatchingStats:
    """Counters for benchmarks and diagnostics: how many calls were made and how they were grouped.

    ``calls`` and ``texts`` count what callers asked for; ``first_stage_texts`` of those texts were answered by
    the cascade's first stage without queueing; ``batches`` encoder calls ran ``batched_texts`` texts;
    ``wide_batches`` of those calls were a lone request run on every core."""

    calls: int = 0
    batches: int = 0
    texts: int = 0
    largest_batch: int = 0
    first_stage_texts: int = 0
    batched_texts: int = 0
    wide_batches: int = 0

    @property
    def mean_batch(self) -> float:
        return self.batched_texts / self.batches if self.batches else 0.0


@dataclass(slots=True)
class _Job:
    texts: list[str]
    batch_size: int
    # Acquired by the caller before queueing and released by the batcher when the result is in: the cheapest
    # one-shot signal the standard library has (an Event is a Condition plus a lock).
    done: threading.Lock = field(default_factory=threading.Lock)
    result: list[ReasonPrediction] | None = None
    error: BaseException | None = None


class MicroBatchingReasonScorer:
    """A :class:`ReasonScorer` that runs concurrent ``predict`` calls of ``model`` as one batched call.

    ``max_batch`` caps the texts per call of the wrapped model (a single call with more texts runs alone, in
    the wrapped model's own chunks). Results are the wrapped model's, in the caller's order. If a batch fails,
    each of its calls is retried alone, so an error reaches only the caller whose input caused it.
    :meth:`close` finishes what is queued, then refuses new calls with :class:`ModelUnavailable`.
    """

    def __init__(self, model: ReasonScorer, *, max_batch: int = 32, max_wait_ms: float = 0.0,
                 runners: int = 1) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be >= 1")
        if runners < 1:
            raise ValueError("runners must be >= 1")
        self.model = model
        self.version = model.version
        self.max_batch = max_batch
        self.max_wait_s = max(0.0, max_wait_ms) / 1000.0
        self.stats = BatchingStats()
        self._pending: deque[_Job] = deque()
        self._cond = threading.Condition(threading.Lock())
        self._closed = False
        self.runners = runners
        self._threads: list[threading.Thread] = []
        self._mean_batch = 1.0
        self._busy = 0  # runners executing a batch now
        wide = getattr(model, "wide", None)
        self._wide: Callable[[], AbstractContextManager[None]] | None = (
            wide if callable(wide) and getattr(model, "runs_wide", True) else None)
        first_stage = getattr(model, "first_stage", None)
        predict_encoder = getattr(model, "predict_encoder", None)
        split = callable(first_stage) and callable(predict_encoder)
        self._first_stage: Callable[[list[str]], list[ReasonPrediction | None]] | None = (
            first_stage if split else None)
        self._run_batch: Callable[..., list[ReasonPrediction]] = predict_encoder if split else model.predict

    def predict(self, texts: list[str], batch_size: int = 64) -> list[ReasonPrediction]:
        """Predictions for ``texts``, in order; blocks until the batch holding them has run."""
        if not texts:
            return []
        if self._closed:
            raise ModelUnavailable("the reason classifier is shutting down")
        answered = self._first_stage(list(texts)) if self._first_stage is not None else None
        if answered is None:
            return self._queue(list(texts), batch_size, 0)
        if all(p is not None for p in answered):
            with self._cond:
                self.stats.calls += 1
                self.stats.texts += len(texts)
                self.stats.first_stage_texts += len(texts)
            return answered  # type: ignore[return-value]
        return complete_deferred(list(texts), answered,
                                 lambda rest: self._queue(rest, batch_size, len(texts) - len(rest)))

    def _queue(self, texts: list[str], batch_size: int, answered: int) -> list[ReasonPrediction]:
        """Run ``texts`` in the next encoder batch; ``answered`` more texts of the call needed no encoder."""
        job = _Job(texts, batch_size)
        job.done.acquire()
        with self._cond:
            if self._closed:
                raise ModelUnavailable("the reason classifier is shutting down")
            self.stats.calls += 1
            self.stats.texts += len(texts) + answered
            self.stats.first_stage_texts += answered
            if not self._threads:
                # Started on first use, so an app that is built but never serves holds no thread.
                self._threads = [threading.Thread(target=self._run, name=f"reason-batcher-{i}", daemon=True)
                                 for i in range(self.runners)]
                for thread in self._threads:
                    thread.start()
            self._pending.append(job)
            self._cond.notify()
        job.done.acquire()
        if job.error is not None:
            raise job.error
        assert job.result is not None
        return job.result

    def close(self, timeout: float = 10.0) -> None:
        """Run what is already queued, stop the batcher thread and refuse further calls."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            threads = list(self._threads)
        deadline = time.monotonic() + timeout
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))

    # ------------------------------------------------------------------------------------------- batcher

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if not self._pending:
                    return  # closed and drained
                batch = self._take()
                lone = len(batch) == 1 and not self._pending and self._busy == 0
                self._busy += 1
            try:
                if self.max_wait_s and not self._closed:
                    batch = self._top_up(batch)
                if lone and len(batch) == 1 and self._wide is not None:
                    with self._wide():
                        self._execute(batch)
                    with self._cond:
                        self.stats.wide_batches += 1
                else:
                    self._execute(batch)
            finally:
                with self._cond:
                    self._busy -= 1

    def _take(self, already: int = 0) -> list[_Job]:
        """Jobs from the queue up to ``max_batch`` texts in all (always at least one). Holds ``_cond``."""
        batch: list[_Job] = []
        n = already
        while self._pending:
            size = len(self._pending[0].texts)
            if (batch or already) and n + size > self.max_batch:
                break
            batch.append(self._pending.popleft())
            n += size
        return batch

    def _top_up(self, batch: list[_Job]) -> list[_Job]:
        # Wait for stragglers only when recent batches show concurrent arrivals; an idle service never waits.
        n = sum(len(j.texts) for j in batch)
        expected = min(self.max_batch, int(self._mean_batch + 0.5))
        if n >= expected:
            return batch
        deadline = time.perf_counter() + self.max_wait_s
        with self._cond:
            while n < expected and not self._closed:
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    break
                if not self._pending:
                    self._cond.wait(remaining)
                    continue
                more = self._take(n)
                if not more:
                    break
                batch.extend(more)
                n += sum(len(j.texts) for j in more)
        return batch

    def _execute(self, batch: list[_Job]) -> None:
        texts = batch[0].texts if len(batch) == 1 else [t for job in batch for t in job.texts]
        try:
            # Merged calls fit in one encoder batch; a call too large to merge keeps its own chunking.
            size = batch[0].batch_size if len(batch) == 1 else len(texts)
            predictions = self._run_batch(texts, batch_size=size)
            if len(predictions) != len(texts):
                raise RuntimeError(f"the reason model returned {len(predictions)} predictions for {len(texts)} texts")
        except BaseException as exc:  # noqa: BLE001 - handed to the caller(s), never lost
            if len(batch) == 1:
                self._finish(batch[0], None, exc)
            else:
                for job in batch:
                    self._execute([job])
            return
        start = 0
        for job in batch:
            end = start + len(job.texts)
            self._finish(job, predictions[start:end], None)
            start = end
        with self._cond:  # several runners may finish at once
            stats = self.stats
            stats.batches += 1
            stats.batched_texts += len(texts)
            stats.largest_batch = max(stats.largest_batch, len(texts))
            self._mean_batch += _EWMA * (len(texts) - self._mean_batch)

    @staticmethod
    def _finish(job: _Job, result: list[ReasonPrediction] | None, error: BaseException | None) -> None:
        job.result = result
        job.error = error
        job.done.release()
