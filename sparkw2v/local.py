"""The whole block-SGD run in one process, one task (T = 1), no Spark.

It follows exactly the schedule the Spark trainer follows (same pairs, same strata order,
same seeds), so its vectors are the ones a Spark run with the same (seed, P, R) must produce
bit for bit, on any number of executors: the tests hold the trainer to it. Also handy for
experiments on one core.
"""

from __future__ import annotations

import numpy as np

from . import kernel
from .config import TrainConfig
from .layout import BlockLayout, pair_weights
from .pairs import generate_pairs, split_by_center_block
from .schedule import Schedule
from .vocab import keep_probabilities
from .errors import TrainingDivergedError
from .worker import BlockPairs, EpochReport, NoiseTables, train_epoch


def train_local(shards: list[tuple[np.ndarray, np.ndarray]], counts: np.ndarray, config: TrainConfig,
                num_blocks: int) -> tuple[np.ndarray, np.ndarray, list[EpochReport]]:
    """Train on encoded shards in this process.

    Args:
        shards: per corpus shard, in shard order, (ids (T,) int32, offsets (R + 1,) int64), as
            ``encode.encode_corpus`` caches them.
        counts: (V,) int64 word counts (ids by descending count).
        config: the settings (``num_blocks`` is taken from the argument).
        num_blocks: P.

    Returns:
        (W (V, N) float32, W' (V, N) float32, one EpochReport per epoch).

    Raises:
        TrainingDivergedError: training diverged (the report's ``diverged`` in the message).
    """
    V = int(counts.shape[0])
    keep = keep_probabilities(counts, config.sample)
    schedule = Schedule(config.epochs, config.cycles_per_epoch, num_blocks, config.alpha, config.min_alpha, config.seed)
    W_all = kernel.init_rows(np.arange(V, dtype=np.int64), config.vector_size, config.seed)
    Wp_all = np.zeros_like(W_all)
    reports = []
    for epoch in range(config.epochs):
        layout = BlockLayout.build(pair_weights(counts, keep), num_blocks, config.seed, epoch)
        tables = NoiseTables.build(counts, layout, config.ns_exponent)
        sources: dict[int, list] = {k: [] for k in range(num_blocks)}
        for shard, (ids, offsets) in enumerate(shards):
            centers, contexts, strata, _ = generate_pairs(ids, offsets, keep, layout.labels, num_blocks,
                                                          config.window, np.uint64(schedule.pair_seed(epoch, shard)))
            for k, c_k, o_k, n_k in split_by_center_block(centers, contexts, strata):
                sources[k].append((c_k, o_k, n_k))
        pairs = {k: BlockPairs.arrange(sources[k], config.cycles_per_epoch, layout, k, tables, config.negative)
                 for k in range(num_blocks)}
        W = {k: W_all[layout.members(k)] for k in range(num_blocks)}
        Wp = {k: Wp_all[layout.members(k)] for k in range(num_blocks)}
        report = train_epoch(0, 1, epoch, schedule, layout, W, Wp, pairs, tables, config.window, config.negative)
        if report.diverged:
            raise TrainingDivergedError(f"training diverged: {report.diverged}")
        reports.append(report)
        for k in range(num_blocks):
            W_all[layout.members(k)] = W[k]
            Wp_all[layout.members(k)] = Wp[k]
    return W_all, Wp_all, reports
