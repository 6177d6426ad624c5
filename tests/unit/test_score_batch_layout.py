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
