"""How `triage score-batch` lays its encoder calls out on the cores."""

from __future__ import annotations

from pathlib import Path

import pytest

from returns_triage.batch import encoder_layout, score_batch
from returns_triage.errors import InvalidInput


@pytest.mark.parametrize(("cores", "asked", "expected"), [
    (2, 0, (2, 1)),  # default: one single-threaded call per core
    (1, 0, (1, 1)),
    (8, 0, (8, 1)),
    (4, 2, (2, 2)),  # fewer calls than cores: each gets its share of the cores
    (2, 1, (1, 2)),
    (2, 3, (3, 1)),  # more calls than cores: never fewer than one thread each
    (0, 0, (1, 1)),
])
def test_encoder_layout(cores: int, asked: int, expected: tuple[int, int]) -> None:
    assert encoder_layout(cores, asked) == expected


def test_encoder_layout_refuses_a_negative_count() -> None:
    with pytest.raises(InvalidInput):
        encoder_layout(2, -1)


@pytest.mark.parametrize("streams", [0, -1])
def test_score_batch_refuses_fewer_than_one_stream(tmp_path: Path, streams: int) -> None:
    (tmp_path / "in.csv").write_text("case_id\n")
    with pytest.raises(InvalidInput) as err:
        score_batch(tmp_path / "in.csv", tmp_path / "out.csv", models=None, policy=None,  # type: ignore[arg-type]
                    encoder_streams=streams)
    assert err.value.field == "encoder_streams"
    assert not (tmp_path / "out.csv").exists()


class _RecordingModel:
    """Stands in for the reason model: records each call's texts and answers with the text itself."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def predict(self, texts: list[str], batch_size: int = 64) -> list[str]:
        self.calls.append(list(texts))
        return list(texts)


def _chunk(lengths: list[int]) -> object:
    from returns_triage.batch.score_batch import _ParsedChunk

    texts = [f"{i:03d}" + "x" * (n - 3) for i, n in enumerate(lengths)]
    return _ParsedChunk(first_row=100, rows=[None] * len(texts),
                        valid=[(i, {"reason_text": t}) for i, t in enumerate(texts)])


def test_streams_get_equal_work_and_every_row_its_own_prediction() -> None:
    from concurrent.futures import ThreadPoolExecutor

    from returns_triage.batch.score_batch import _encode_chunk

    # Rising lengths: dealing batches round robin would hand the second stream the longer batch of every pair.
    lengths = [10 + 3 * i for i in range(64)]
    chunk = _chunk(lengths)
    model = _RecordingModel()
    with ThreadPoolExecutor(1) as pool:
        encoded = _encode_chunk(model, chunk, 4, 2, pool)  # type: ignore[arg-type]
    assert encoded.first_row == 100
    texts = [request["reason_text"] for _, request in chunk.valid]  # type: ignore[attr-defined]
    assert [prediction for _, prediction in encoded.rows] == texts  # type: ignore[misc]
    assert len(model.calls) == 2
    work = [sum(4 * max(map(len, call[j:j + 4])) for j in range(0, len(call), 4)) for call in model.calls]
    # Round robin: 3,296 against 3,680 (the second stream 12 characters longer on each of 8 pairs of batches).
    assert abs(work[0] - work[1]) <= 4 * 3 and sum(len(c) for c in model.calls) == 64
    for call in model.calls:  # each stream runs its batches shortest first
        assert [len(t) for t in call] == sorted(len(t) for t in call)
