"""Encoder calls in groups of similar length: every text once, in its own slot, with bounded padding."""

from __future__ import annotations

import random

import pytest

from returns_triage.models.reason.runtime import length_groups


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("max_size", [1, 4, 16, 64])
def test_groups_cover_every_text_once_with_bounded_padding(seed: int, max_size: int) -> None:
    rng = random.Random(seed)
    lengths = [rng.choice([rng.randint(5, 40), rng.randint(80, 400)]) for _ in range(rng.randint(1, 200))]
    groups = length_groups(lengths, max_size, slack=1.25)
    flat = sorted(int(i) for g in groups for i in g)
    assert flat == list(range(len(lengths)))
    for group in groups:
        assert 1 <= len(group) <= max_size
        sizes = [lengths[i] for i in group]
        if len(group) > 1:
            # Padded to the longest text of the group, at most 25 % above the texts' own lengths.
            assert len(group) * max(sizes) <= 1.25 * sum(sizes)


def test_texts_of_very_different_lengths_are_not_padded_together() -> None:
    groups = length_groups([12, 300, 11, 310, 13], max_size=8)
    assert sorted(sorted(int(i) for i in g) for g in groups) == [[0, 2, 4], [1, 3]]
