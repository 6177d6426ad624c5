"""Occlusion explanations shared by the tabular model families (fraud, disposition).

A factor is a group of feature columns. Setting one group to a reference row's values and re-scoring shows how
much that group moved the score; all rows go through the model in one batch.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["occlusion_rows"]


def occlusion_rows(x: np.ndarray, reference: np.ndarray,
                   groups: Sequence[Sequence[int]]) -> tuple[np.ndarray, list[int]]:
    """The row itself followed by one row per group that differs from the reference, with that group's
    features set to the reference. Returns the batch and the group numbers of rows 1..."""
    rows, used = [x], []
    for k, group in enumerate(groups):
        idx = list(group)
        if np.array_equal(x[idx], reference[idx]):
            continue
        row = x.copy()
        row[idx] = reference[idx]
        rows.append(row)
        used.append(k)
    return np.vstack(rows), used
