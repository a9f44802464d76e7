"""The executor side of one epoch, set up in one place for every caller.

An epoch of stratified block SGD (``../shared/docs/scaleout.md``; Gemulla et al. 2011) needs,
on whatever runs it:

1. the epoch's **layout** of words into P blocks (``layout.BlockLayout``, fresh every epoch);
2. each corpus shard's **pairs**, subsampled and windowed afresh, cut by the block of their
   center (``pairs.generate_pairs``), as word ids or as local rows (int16-sized blocks);
3. the **noise tables** of every W' block (``worker.NoiseTables``);
4. each W block's pairs from every shard **arranged** by cycle and context block
   (``worker.BlockPairs.arrange``), in shard order;
5. the **blocks** at the epoch's start (epoch 0: W from the seed, W' = 0);
6. the task's **training** pass over its owned blocks (``worker.train_epoch``).

:class:`EpochPlan` does each of these once, the same way for the Spark tasks of ``trainer``,
the one-process ``local.train_local`` that the tests hold the trainer to, and the benchmark
tools, so that a new loss or negative-sampling rule touches the kernel and this module only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import numpy as np

from . import kernel
from .head import Head
from .layout import BlockLayout, owned_blocks, pair_weights
from .pairs import LOCAL_ROWS_MAX, generate_pairs, split_by_center_block, to_local_rows
from .schedule import Schedule
from .worker import BlockPairs, EpochReport, NoiseTables, train_epoch


@dataclass(frozen=True)
class Settings:
    """The model settings every epoch of a run shares (small; pickled into Spark tasks).

    Attributes:
        schedule: epochs, cycles R, blocks P, learning rates and seeds.
        vector_size: N; window: the maximum window, in words; negative: K noise words per
            pair; ns_exponent: the noise distribution's exponent (0.75, Mikolov et al. 2013).
        hot_words: how many of the most frequent words are replicated on every stratum rather
            than dealt to a block (``head``; 0: none); combine: how the strata's changes to
            them add up after each sub-epoch (``head.COMBINE_RULES``).
    """

    schedule: Schedule
    vector_size: int
    window: int
    negative: int
    ns_exponent: float = 0.75
    hot_words: int = 0
    combine: str = "clip"

    @property
    def num_blocks(self) -> int:
        return self.schedule.num_blocks


# (key, epoch) -> BlockLayout: the newest few, per Python process (a Spark task of one epoch
# builds the layout of that epoch and of the next; the tasks of a worker process share them)
_LAYOUTS: dict = {}
_LAYOUTS_KEPT = 3


def build_layout(weights: np.ndarray, num_blocks: int, seed: int, epoch: int, cache_key=None,
                 head: int = 0) -> BlockLayout:
    """The block layout of ``epoch`` (``BlockLayout.build``, ``head`` words replicated); with
    ``cache_key`` (e.g. the run id) it is built once per process and kept with the newest few.

    Args:
        weights: (V,) float64 pair weights of the words (``layout.pair_weights``).
    """
    if cache_key is None:
        return BlockLayout.build(weights, num_blocks, seed, epoch, head)
    key = (cache_key, num_blocks, seed, epoch, head)
    if key not in _LAYOUTS:
        while len(_LAYOUTS) >= _LAYOUTS_KEPT:
            _LAYOUTS.pop(next(iter(_LAYOUTS)))
        _LAYOUTS[key] = BlockLayout.build(weights, num_blocks, seed, epoch, head)
    return _LAYOUTS[key]


class EpochPlan:
    """One epoch of one run: its layout and every step of a task's work (module docstring).

    Args:
        settings: the run's settings.
        epoch: which epoch (0-based).
        counts: (V,) int64 word counts (ids by descending count).
        keep: (V,) float64 subsampling keep probabilities (``vocab.keep_probabilities``).
        cache_key: shares layouts between plans of one run in this process (``build_layout``).
    """

    def __init__(self, settings: Settings, epoch: int, counts: np.ndarray, keep: np.ndarray, cache_key=None):
        self.settings = settings
        self.epoch = epoch
        self.counts = counts
        self.keep = keep
        self.cache_key = cache_key
        self.weights = pair_weights(counts, keep)
        self.layout = self.layout_of(epoch)

    @property
    def schedule(self) -> Schedule:
        return self.settings.schedule

    @property
    def num_blocks(self) -> int:
        return self.settings.num_blocks

    def layout_of(self, epoch: int) -> BlockLayout:
        """The layout of another epoch of the run (the previous one: what the start state's
        files hold; the next one: the order blocks are written in)."""
        return build_layout(self.weights, self.num_blocks, self.schedule.seed, epoch, self.cache_key,
                            self.settings.hot_words)

    @property
    def compact(self) -> bool:
        """Whether pairs travel as int16 local rows (every block, with the replicated head, has at
        most LOCAL_ROWS_MAX rows)."""
        return self.layout.head + int(np.diff(self.layout.starts).max()) <= LOCAL_ROWS_MAX

    def shard_pairs(self, shard: int, ids: np.ndarray, offsets: np.ndarray,
                    compact: bool = False) -> Iterator[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
        """Step 2: the epoch's pairs of one corpus shard, cut by center block.

        Args:
            shard: the shard's number (it seeds the shard's subsampling and windows).
            ids: (T,) int32 word ids; offsets: (R + 1,) int64 row bounds (``encode.build_shard``).
            compact: give local rows as int16 (``pairs.to_local_rows``) rather than int32 ids.

        Yields:
            (k, centers (n_k,), contexts (n_k,), counts (P,) int64 pairs per context block) for
            every center block k, empty ones included.
        """
        centers, contexts, strata, _ = generate_pairs(
            ids, offsets, self.keep, self.layout.labels, self.num_blocks, self.settings.window,
            np.uint64(self.schedule.pair_seed(self.epoch, shard)))
        if compact:
            centers, contexts = to_local_rows(centers, contexts, self.layout.local)
        yield from split_by_center_block(centers, contexts, strata)

    def route(self, shards: Iterable[tuple[np.ndarray, np.ndarray]]) -> dict[int, list]:
        """Steps 2 for every shard in one process: {k: [(centers, contexts, counts) per shard,
        in shard order]} (word ids)."""
        sources: dict[int, list] = {k: [] for k in range(self.num_blocks)}
        for shard, (ids, offsets) in enumerate(shards):
            for k, c_k, o_k, n_k in self.shard_pairs(shard, ids, offsets):
                sources[k].append((c_k, o_k, n_k))
        return sources

    def noise_tables(self) -> NoiseTables:
        """Step 3: the noise tables of every W' block (count^ns_exponent)."""
        return NoiseTables.build(self.counts, self.layout, self.settings.ns_exponent)

    def arrange(self, block: int, sources: list, tables: NoiseTables, local_rows: bool = False) -> BlockPairs:
        """Step 4: W block ``block``'s pairs from every shard (``sources`` in shard order, as
        :meth:`shard_pairs` gives them; emptied as they are placed), laid out by cycle."""
        return BlockPairs.arrange(sources, self.schedule.cycles, self.layout, block, tables,
                                  self.settings.negative, local_rows=local_rows)

    def initial_blocks(self, blocks: Iterable[int]) -> tuple[dict, dict]:
        """Step 5 of epoch 0: W blocks from the seed ((n_k, N) float32, ``kernel.init_rows``)
        and W' blocks of zeros, by block."""
        W, Wp = {}, {}
        for k in blocks:
            W[k] = kernel.init_rows(self.layout.members(k), self.settings.vector_size, self.schedule.seed)
            Wp[k] = np.zeros_like(W[k])
        return W, Wp

    def owned(self, task: int, num_tasks: int) -> range:
        """The W blocks task ``task`` of ``num_tasks`` trains."""
        return owned_blocks(task, num_tasks, self.num_blocks)

    def train(self, task: int, num_tasks: int, W: dict, Wp: dict, pairs: dict, tables: NoiseTables,
              exchange=None, on_cycle: Callable[[int, EpochReport], None] | None = None,
              head: Head | None = None) -> EpochReport:
        """Step 6: train the owned blocks through the epoch's R cycles (``worker.train_epoch``;
        W, Wp and the replicated head's rows updated in place)."""
        return train_epoch(task, num_tasks, self.epoch, self.schedule, self.layout, W, Wp, pairs, tables,
                           self.settings.window, self.settings.negative, exchange, on_cycle, head)
