"""What one partition does in one round: copy the broadcast parameters, run the kernel, and
return only the rows it changed. No Spark import: callable and testable on its own."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from . import kernel


@dataclass(frozen=True)
class PartitionUpdate:
    """The rows one partition changed in one round.

    Attributes:
        partition: the partition index.
        rows_w: (Rw,) int32 ids of the rows of W changed; delta_w: (Rw, N) float32 their
            change.
        rows_wp, delta_wp: the same for W'.
        loss: summed SGNS loss (nats) of the loss_pairs pairs sampled for it; pairs:
            (center, context) pairs trained; words: corpus words covered (before subsampling); kept: words kept by
            subsampling; seconds: kernel wall time; load_seconds: time to get the broadcast
            parameters; task_seconds: the task's wall time up to returning this update.
    """

    partition: int
    rows_w: np.ndarray
    delta_w: np.ndarray
    rows_wp: np.ndarray
    delta_wp: np.ndarray
    loss: float
    loss_pairs: int
    pairs: int
    words: int
    kept: int
    seconds: float
    load_seconds: float = 0.0
    task_seconds: float = 0.0


def train_chunk(partition: int, ids: np.ndarray, offsets: np.ndarray, W0: np.ndarray,
                Wp0: np.ndarray, keep_prob: np.ndarray, noise: tuple[np.ndarray, np.ndarray], window: int,
                negative: int, alpha_start: float, alpha_end: float, seed: int) -> PartitionUpdate:
    """Train on one chunk of rows starting from (W0, Wp0), which are not modified.

    Args:
        ids: (T,) int32 word ids of the chunk's rows; offsets: (R + 1,) int64 row bounds.
        W0, Wp0: (V, N) float32 broadcast center and context vectors (read-only).
        keep_prob: (V,) float64 from :func:`sparkw2v.vocab.keep_probabilities`.
        noise: the alias table (prob (V,) float64, alias (V,) int32) of
            :func:`sparkw2v.vocab.noise_table`.
        window, negative, alpha_start, alpha_end, seed: see :func:`kernel.train_rows`.

    Returns:
        PartitionUpdate with the changed rows' deltas (float32).
    """
    W = W0.copy()
    Wp = Wp0.copy()
    vocab_size = W.shape[0]
    w_updates = np.zeros(vocab_size, np.int32)
    wp_updates = np.zeros(vocab_size, np.int32)
    start = time.perf_counter()
    loss, loss_pairs, pairs, kept = kernel.train_rows(
        ids, offsets, W, Wp, keep_prob, noise[0], noise[1], window, negative, alpha_start, alpha_end,
        np.uint64(seed), w_updates, wp_updates)
    seconds = time.perf_counter() - start
    rows_w = np.flatnonzero(w_updates).astype(np.int32)
    rows_wp = np.flatnonzero(wp_updates).astype(np.int32)
    return PartitionUpdate(
        partition=partition,
        rows_w=rows_w, delta_w=W[rows_w] - W0[rows_w],
        rows_wp=rows_wp, delta_wp=Wp[rows_wp] - Wp0[rows_wp],
        loss=float(loss), loss_pairs=int(loss_pairs), pairs=int(pairs),
        words=int(offsets[-1] - offsets[0]) if len(offsets) else 0,
        kept=int(kept), seconds=seconds,
    )
