"""Occlusion explanations shared by the tabular model families (fraud, disposition).

A factor is a group of feature columns. Setting one group to a reference row's values and re-scoring shows how
much that group moved the score; all rows go through the model in one batch.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["OcclusionGroups"]


class OcclusionGroups:
    """The factor groups of one model family as a (groups × features) mask, built once at import: each scored
    row then builds its occluded rows with a few array operations instead of a Python loop over the groups
    (this runs inside every scoring request)."""

    def __init__(self, groups: Sequence[Sequence[int]], n_features: int) -> None:
        self.mask = np.zeros((len(groups), n_features), dtype=bool)
        for k, group in enumerate(groups):
            self.mask[k, list(group)] = True

    def rows(self, x: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, list[int]]:
        """The row itself followed by one row per group that differs from the reference (a NaN differs), with
        that group's features set to the reference. Returns the batch and the group numbers of rows 1..."""
        used = np.flatnonzero((self.mask & (x != reference)).any(axis=1))
        occluded = np.where(self.mask[used], reference, x).astype(x.dtype, copy=False)
        return np.concatenate([x[np.newaxis, :], occluded]), used.tolist()
