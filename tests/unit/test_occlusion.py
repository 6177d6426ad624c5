"""Occluded rows for factor explanations: which groups get a row, and what each row holds."""

from __future__ import annotations

import numpy as np

from returns_triage.models.occlusion import OcclusionGroups

GROUPS = ((0, 1), (2,), (3, 4, 5), (1, 5))


def test_only_groups_that_differ_from_the_reference_get_a_row() -> None:
    reference = np.array([1, 2, 3, 4, 5, 6], dtype=np.float32)
    x = np.array([1, 2, 9, 4, 5, 7], dtype=np.float32)  # group 1 (feature 2) and groups 2, 3 (feature 5) differ
    batch, used = OcclusionGroups(GROUPS, 6).rows(x, reference)
    assert used == [1, 2, 3]
    assert batch.dtype == x.dtype
    np.testing.assert_array_equal(batch[0], x)
    np.testing.assert_array_equal(batch[1], [1, 2, 3, 4, 5, 7])
    np.testing.assert_array_equal(batch[2], [1, 2, 9, 4, 5, 6])
    np.testing.assert_array_equal(batch[3], [1, 2, 9, 4, 5, 6])


def test_a_typical_row_is_scored_alone_and_the_input_is_untouched() -> None:
    reference = np.arange(6, dtype=np.float32)
    x = reference.copy()
    batch, used = OcclusionGroups(GROUPS, 6).rows(x, reference)
    assert used == []
    assert batch.shape == (1, 6)
    np.testing.assert_array_equal(x, reference)


def test_a_missing_value_counts_as_different() -> None:
    reference = np.zeros(6, dtype=np.float32)
    x = reference.copy()
    x[2] = np.nan
    batch, used = OcclusionGroups(GROUPS, 6).rows(x, reference)
    assert used == [1]
    assert batch[1, 2] == 0.0 and np.isnan(batch[0, 2])
