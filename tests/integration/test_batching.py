"""Micro-batching of reason predictions with the real ONNX reason bundle: every concurrent caller gets exactly
its own predictions, errors reach only the caller that caused them, and shutdown is clean."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest

from returns_triage.errors import ModelUnavailable
from returns_triage.models.reason import ReasonModel, ReasonPrediction
from returns_triage.serving.service.batching import MicroBatchingReasonScorer

TEXTS = [
    "The drill arrived with the casing cracked and the box crushed on one corner.",
    "You sent me the blue kettle, I ordered the red one.",
    "Battery will not charge at all, dead out of the box.",
    "Only 3 of the 5 cartons were delivered.",
    "I ordered this twice by mistake.",
    "Doesn't fit my model, wrong connector.",
    "what is the weather like tomorrow in Lisbon",
    "Parcel arrived two weeks after the promised date, no longer needed.",
    "The manual and two screws are missing from the kit.",
    "Milk powder expires next week, too short dated to sell.",
]


@pytest.fixture(scope="module")
def model(reason_bundle: Path) -> ReasonModel:
    return ReasonModel.load(reason_bundle)


def _same(a: ReasonPrediction, b: ReasonPrediction) -> None:
    # Batching pads texts to a common length and int8 scales activations per batch, so scores may move in the
    # last digits; the answer a caller acts on may not.
    assert a.code == b.code
    assert a.confidence == pytest.approx(b.confidence, abs=1e-2)
    assert a.out_of_scope_score == pytest.approx(b.out_of_scope_score, abs=1e-2)


def test_concurrent_callers_get_exactly_their_own_predictions(model: ReasonModel) -> None:
    alone = {text: model.predict([text])[0] for text in TEXTS}
    batcher = MicroBatchingReasonScorer(model, max_batch=8)
    calls = [[TEXTS[i % len(TEXTS)]] for i in range(120)] + [TEXTS[:3], TEXTS[4:9]]
    start = threading.Barrier(16)

    def call(texts: list[str]) -> tuple[list[str], list[ReasonPrediction]]:
        try:
            start.wait(timeout=5)
        except threading.BrokenBarrierError:
            pass
        return texts, batcher.predict(texts)

    try:
        with ThreadPoolExecutor(16) as pool:
            results = list(pool.map(call, calls))
    finally:
        batcher.close()
    for texts, predictions in results:
        assert len(predictions) == len(texts)
        for text, prediction in zip(texts, predictions, strict=True):
            _same(prediction, alone[text])
    stats = batcher.stats
    assert stats.calls == len(calls) and stats.texts == sum(len(c) for c in calls)
    # Concurrent calls were actually merged, and never beyond the cap.
    assert stats.batches < stats.calls
    assert stats.largest_batch <= 8


def test_an_error_reaches_only_the_caller_that_caused_it(model: ReasonModel) -> None:
    batcher = MicroBatchingReasonScorer(model, max_batch=16)
    start = threading.Barrier(12)

    def call(i: int) -> ReasonPrediction | BaseException:
        texts = [None] if i == 5 else [TEXTS[i % len(TEXTS)]]  # the tokenizer refuses a non-text
        start.wait(timeout=5)
        try:
            return batcher.predict(texts)[0]  # type: ignore[arg-type]
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            return exc

    try:
        with ThreadPoolExecutor(12) as pool:
            results = list(pool.map(call, range(12)))
    finally:
        batcher.close()
    for i, result in enumerate(results):
        if i == 5:
            assert isinstance(result, TypeError)
        else:
            assert isinstance(result, ReasonPrediction), result
            _same(result, model.predict([TEXTS[i % len(TEXTS)]])[0])


def test_close_finishes_queued_calls_then_refuses_new_ones(model: ReasonModel) -> None:
    batcher = MicroBatchingReasonScorer(model, max_batch=4, max_wait_ms=1.0)
    assert batcher.version == model.version
    assert batcher.predict([]) == []
    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(batcher.predict, [text]) for text in TEXTS]
        time.sleep(0.005)
        batcher.close()
        done = [f.exception() or f.result() for f in futures]
    # Every call either ran (queued before close) or was refused cleanly; none hangs or is lost.
    for text, outcome in zip(TEXTS, done, strict=True):
        if isinstance(outcome, BaseException):
            assert isinstance(outcome, ModelUnavailable)
        else:
            _same(outcome[0], model.predict([text])[0])
    assert batcher._threads and not any(t.is_alive() for t in batcher._threads)
    with pytest.raises(ModelUnavailable):
        batcher.predict([TEXTS[0]])


def test_a_lone_call_larger_than_a_batch_keeps_its_order(model: ReasonModel) -> None:
    batcher = MicroBatchingReasonScorer(model, max_batch=4)
    try:
        texts = TEXTS * 3
        predictions = batcher.predict(texts, batch_size=8)
    finally:
        batcher.close()
    expected = model.predict(texts, batch_size=8)
    assert [p.code for p in predictions] == [p.code for p in expected]


def _corpus_texts() -> list[str]:
    from returns_triage.datasets.reasons import generate_corpus

    return [e.text for e in generate_corpus(seed=7, per_code=10)]


def test_first_stage_answers_return_without_an_encoder_batch(model: ReasonModel) -> None:
    texts = _corpus_texts()
    first = model.first_stage(texts)
    answered = [t for t, p in zip(texts, first, strict=True) if p is not None]
    deferred = [t for t, p in zip(texts, first, strict=True) if p is None]
    assert answered and deferred, "the test bundle's first stage should answer some texts and defer others"
    batcher = MicroBatchingReasonScorer(model, max_batch=8)
    try:
        alone = batcher.predict(answered[:5])
        # Answered in the caller's thread: no encoder batch ran, nothing was queued.
        assert batcher.stats.batches == 0 and batcher.stats.first_stage_texts == 5
        assert all(p.stage == "first_stage" for p in alone)
        mixed = answered[5:8] + deferred[:4]
        predictions = batcher.predict(mixed)
    finally:
        batcher.close()
    stats = batcher.stats
    assert stats.calls == 2 and stats.texts == 12 and stats.first_stage_texts == 8
    # Only the deferred texts reached the encoder, as one batch.
    assert stats.batches == 1 and stats.batched_texts == 4
    for prediction, expected in zip(predictions, model.predict(mixed), strict=True):
        assert prediction.stage == expected.stage
        _same(prediction, expected)


def test_cascade_off_sends_every_text_to_the_encoder_batch(model: ReasonModel) -> None:
    texts = _corpus_texts()[:6]
    batcher = MicroBatchingReasonScorer(model.with_cascade(False), max_batch=8)
    try:
        predictions = batcher.predict(texts)
    finally:
        batcher.close()
    assert batcher.stats.first_stage_texts == 0 and batcher.stats.batched_texts == 6
    assert all(p.stage == "encoder" for p in predictions)


def test_two_runners_encode_two_batches_at_once_and_each_caller_gets_its_own(model: ReasonModel) -> None:
    """With runners=2 a call that arrives while a batch is running starts at once on the other runner; the
    answers are still exactly each caller's own."""
    alone = {text: model.predict([text])[0] for text in TEXTS}
    running = 0
    most = 0
    lock = threading.Lock()

    class Watched:
        version = model.version

        def predict(self, texts: list[str], batch_size: int = 64) -> list[ReasonPrediction]:
            nonlocal running, most
            with lock:
                running += 1
                most = max(most, running)
            try:
                time.sleep(0.02)  # long enough for a second call to arrive while this one runs
                return model.predict(texts, batch_size=batch_size)
            finally:
                with lock:
                    running -= 1

    batcher = MicroBatchingReasonScorer(Watched(), max_batch=4, runners=2)  # type: ignore[arg-type]
    calls = [[TEXTS[i % len(TEXTS)]] for i in range(40)]
    try:
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(batcher.predict, calls))
    finally:
        batcher.close()
    for texts, predictions in zip(calls, results, strict=True):
        assert [p.code for p in predictions] == [alone[t].code for t in texts]
    assert most == 2  # two encoder calls overlapped, never more than the runners
    assert batcher.stats.calls == 40 and batcher.stats.batched_texts == 40
    assert len(batcher._threads) == 2 and not any(t.is_alive() for t in batcher._threads)


def test_a_lone_call_runs_wide_and_concurrent_calls_never_do(model: ReasonModel) -> None:
    """A call that finds nothing queued and no other runner busy runs inside the model's ``wide()`` (every core);
    a call batched with others, or running beside another runner, keeps one core."""
    running = 0
    seen: list[tuple[bool, int, int]] = []  # (ran wide, texts in the call, calls running at once)
    lock = threading.Lock()
    local = threading.local()

    class Widened:
        version = model.version

        @contextmanager
        def wide(self):  # type: ignore[no-untyped-def]
            local.wide = True
            try:
                yield
            finally:
                local.wide = False

        def predict(self, texts: list[str], batch_size: int = 64) -> list[ReasonPrediction]:
            nonlocal running
            with lock:
                running += 1
                seen.append((getattr(local, "wide", False), len(texts), running))
            try:
                time.sleep(0.02)
                return model.predict(texts, batch_size=batch_size)
            finally:
                with lock:
                    running -= 1

    batcher = MicroBatchingReasonScorer(Widened(), max_batch=4, runners=2)  # type: ignore[arg-type]
    try:
        batcher.predict([TEXTS[0]])  # alone: nothing queued, no other runner
        assert seen == [(True, 1, 1)]
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(batcher.predict, [[TEXTS[i % len(TEXTS)]] for i in range(40)]))
    finally:
        batcher.close()
    wide = [s for s in seen if s[0]]
    assert all(n == 1 and at_once == 1 for _, n, at_once in wide)
    assert any(not w for w, _, _ in seen)  # under load, calls ran one core each
    assert batcher.stats.wide_batches == len(wide)


def test_the_wide_session_gives_the_same_predictions(reason_bundle: Path) -> None:
    wide = ReasonModel.load(reason_bundle, intra_op_threads=1, wide_threads=2)
    narrow = ReasonModel.load(reason_bundle, intra_op_threads=1)
    options = wide.encoder._wide_session.get_session_options()  # type: ignore[union-attr]
    assert options.intra_op_num_threads == 2
    assert not narrow.encoder.has_wide_session and wide.runs_wide and not narrow.runs_wide
    # A batcher over a model without a wide session never counts a call as wide.
    batcher = MicroBatchingReasonScorer(narrow.with_cascade(False))  # every text to the encoder
    try:
        batcher.predict([TEXTS[0]])
    finally:
        batcher.close()
    assert batcher.stats.batches == 1 and batcher.stats.wide_batches == 0
    with wide.wide():
        widened = wide.predict_encoder(TEXTS)
    for a, b in zip(widened, narrow.predict_encoder(TEXTS), strict=True):
        _same(a, b)
