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
from .epoch import EpochPlan, Settings
from .errors import TrainingDivergedError
from .head import Head, check_combine
from .schedule import Schedule, resolve_cycles
from .vocab import keep_probabilities
from .worker import EpochReport


def train_local(shards: list[tuple[np.ndarray, np.ndarray]], counts: np.ndarray, config: TrainConfig,
                num_blocks: int, start: tuple[np.ndarray, np.ndarray] | None = None, hot_words: int = 0,
                combine: str = "clip", combine_every: int = 1) -> tuple[np.ndarray, np.ndarray, list[EpochReport]]:
    """Train on encoded shards in this process.

    Args:
        shards: per corpus shard, in shard order, (ids (T,) int32, offsets (R + 1,) int64), as
            ``encode.encode_corpus`` caches them (``encode.read_shards``).
        counts: (V,) int64 word counts (ids by descending count).
        config: the settings (``num_blocks`` is taken from the argument).
        num_blocks: P.
        start: (W, W') (V, N) float32 to start from (a warm start's, by word id; copied);
            default W from the seed (``kernel.init_rows``) and W' = 0.
        hot_words: K, the most frequent words replicated on every stratum (``head``; 0: none,
            the Spark trainer's vectors); combine: how their changes add up, combine_every:
            after every how many sub-epochs (``head.Head``).

    Returns:
        (W (V, N) float32, W' (V, N) float32, one EpochReport per epoch).

    Raises:
        TrainingDivergedError: training diverged (the report's ``diverged`` in the message).
        ValueError: hot_words outside [0, V), an unknown combine rule or combine_every < 1.
    """
    check_combine(combine, combine_every)  # before any work, with or without a head
    V = int(counts.shape[0])
    keep = keep_probabilities(counts, config.sample)
    schedule = Schedule(config.epochs, resolve_cycles(config.cycles_per_epoch, num_blocks), num_blocks, config.alpha,
                        config.min_alpha, config.seed)
    settings = Settings(schedule, config.vector_size, config.window, config.negative, config.ns_exponent,
                        hot_words, combine)
    if start is None:
        W_all = kernel.init_rows(np.arange(V, dtype=np.int64), config.vector_size, config.seed)
        Wp_all = np.zeros_like(W_all)
    else:
        W_all, Wp_all = (np.array(m, np.float32) for m in start)
    reports = []
    for epoch in range(config.epochs):
        plan = EpochPlan(settings, epoch, counts, keep)
        tables = plan.noise_tables()
        sources = plan.route(shards)
        pairs = {k: plan.arrange(k, sources.pop(k), tables) for k in range(num_blocks)}
        members = {k: plan.layout.members(k) for k in range(num_blocks)}
        W = {k: W_all[members[k]] for k in range(num_blocks)}
        Wp = {k: Wp_all[members[k]] for k in range(num_blocks)}
        head = (Head.start(W_all[:hot_words], Wp_all[:hot_words], num_blocks, combine, combine_every)
                if hot_words else None)
        report = plan.train(0, 1, W, Wp, pairs, tables, head=head)
        if report.diverged:
            raise TrainingDivergedError(f"training diverged: {report.diverged}")
        reports.append(report)
        if head is not None:
            W_all[:hot_words] = head.W
            Wp_all[:hot_words] = head.Wp
        for k in range(num_blocks):
            W_all[members[k]] = W[k]
            Wp_all[members[k]] = Wp[k]
    return W_all, Wp_all, reports
