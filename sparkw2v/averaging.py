"""Combine the partitions' row changes into the shared parameters; check they stay finite."""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from .errors import TrainingDivergedError


def combine_rows(target: np.ndarray, updates: Iterable[tuple[np.ndarray, np.ndarray]],
                 gamma: float = 1.0) -> np.ndarray:
    """Apply the partitions' deltas to ``target`` in place, per row.

    A row changed by n partitions moves by sum(deltas) / n**gamma: gamma = 1 averages over the
    partitions that touched the row (rows touched by one partition keep their full step, unlike
    plain averaging over all P replicas), gamma = 0 sums (see docs/skipgram.md, section 4).
    Partitions are combined in the order given, so the result is deterministic.

    Args:
        target: (V, N) float32 parameters, updated in place.
        updates: pairs of (rows (R,) int32 unique ids, deltas (R, N) float32).
        gamma: exponent in [0, 1].

    Returns:
        (R_all,) int64 ids of the rows that changed.
    """
    acc = None
    touched = np.zeros(target.shape[0], np.int32)
    for rows, deltas in updates:
        if rows.size == 0:
            continue
        if acc is None:
            acc = np.zeros_like(target)
        acc[rows] += deltas
        touched[rows] += 1
    changed = np.flatnonzero(touched)
    if acc is None:
        return changed
    if gamma == 0.0:
        target[changed] += acc[changed]
    else:
        scale = np.power(touched[changed].astype(np.float32), np.float32(-gamma))
        target[changed] += acc[changed] * scale[:, None]
    return changed


def check_finite(round_index: int, named: Sequence[tuple[str, np.ndarray, np.ndarray]],
                 words: Sequence[str]) -> None:
    """Raise TrainingDivergedError if any of the changed rows holds NaN or Inf.

    Args:
        round_index: the round just combined (for the message).
        named: (matrix name, (V, N) matrix, (R,) ids of rows to check).
        words: the vocabulary, to name the rows affected.
    """
    for name, matrix, rows in named:
        bad = rows[~np.isfinite(matrix[rows]).all(axis=1)]
        if bad.size:
            sample = ", ".join(repr(words[i]) for i in bad[:5])
            raise TrainingDivergedError(
                f"training diverged in round {round_index}: {bad.size} row(s) of {name} hold NaN "
                f"or Inf (e.g. {sample}); lower alpha or raise rounds_per_epoch"
            )
