"""(center, context) pairs of one corpus shard, bucketed by stratum: compiled with numba, no Spark.

Pairs are formed as the word2vec C tool forms them (and as ``kernel`` documents): each row is
subsampled afresh (keep probability of ``vocab.keep_probabilities``), a window b is drawn
uniformly from 1..window for every kept position i, and every word w_j with 0 < |i - j| <= b
is a center whose context is w_i. A pair belongs to the stratum (block of its center, block of
its context); inside a stratum the pairs stay in corpus order, and the pairs of one position
stay together: the kernel shares their noise words. The first pair of a position in a stratum
carries its context as ``~id`` (a negative number), so that two positions with the same context
word are never taken for one.

:func:`plan_block` and :func:`place_shard` then lay out the pairs one task trains for one W block
(``worker.BlockPairs.arrange``): each stratum's pairs of every shard are cut into ``cycles``
consecutive parts, and part r of all shards, concatenated in shard order, is what the stratum
trains in cycle r.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .kernel import _draw_window, _seeded_state, _subsample_row


@njit(cache=True)
def _pair_pass(ids, offsets, keep_prob, labels, num_blocks, window, seed, cursor, centers, contexts,
               fill):
    """One pass over the rows with the random stream of ``seed``: count the pairs of each
    stratum into ``cursor`` (fill False) or write them at ``cursor`` (fill True).

    Returns the number of words kept by subsampling."""
    state = _seeded_state(seed)
    n_rows = offsets.shape[0] - 1
    max_len = 1
    for r in range(n_rows):
        max_len = max(max_len, offsets[r + 1] - offsets[r])
    row = np.empty(max_len, np.int32)
    started = np.empty(2 * window, np.int64)  # strata this position has written to
    kept = 0
    dealt_contexts = 0  # replicated (label -1) words' pairs are dealt over the blocks in turn
    dealt_centers = 0
    for r in range(n_rows):
        n = _subsample_row(ids, offsets[r], offsets[r + 1], keep_prob, state, row)
        kept += n
        for i in range(n):
            b = _draw_window(state, window)
            o = row[i]
            context_block = labels[o]
            if context_block < 0:
                context_block = dealt_contexts % num_blocks
                dealt_contexts += 1
            n_started = 0
            for q in range(max(0, i - b), min(n, i + b + 1)):
                if q == i:
                    continue
                c = row[q]
                center_block = labels[c]
                if center_block < 0:
                    center_block = dealt_centers % num_blocks
                    dealt_centers += 1
                s = center_block * num_blocks + context_block
                if fill:
                    first = True
                    for x in range(n_started):
                        if started[x] == s:
                            first = False
                            break
                    if first:
                        started[n_started] = s
                        n_started += 1
                    centers[cursor[s]] = c
                    contexts[cursor[s]] = ~o if first else o
                cursor[s] += 1
    return kept


@njit(cache=True)
def generate_pairs(ids, offsets, keep_prob, labels, num_blocks, window, seed):
    """The subsampled (center, context) pairs of one shard, grouped by stratum.

    Args:
        ids: (T,) int32 word ids, rows concatenated; offsets: (R + 1,) int64 row bounds.
        keep_prob: (V,) float64 keep probability of each word.
        labels: (V,) int32 block of each word (``layout.BlockLayout.labels``); -1 for a word
            of the replicated head, whose rows every task holds: a position whose context is
            one goes to the next context block in turn, a pair whose center is one to the next
            center block in turn (per shard, so the head's pairs spread evenly over the strata).
        num_blocks: P.
        window: maximum window, in words.
        seed: uint64 seed of this shard's draws in this epoch.

    Returns:
        (centers (n,) int32, contexts (n,) int32 word ids (``~id`` on the first pair of a
        position in its stratum), sorted by stratum ``block(center) * P + block(context)`` and in
        corpus order inside a stratum;
        counts (P, P) int64 pairs per stratum; kept int64 words kept by subsampling).
    """
    strata = num_blocks * num_blocks
    counts = np.zeros(strata, np.int64)
    empty = np.empty(0, np.int32)
    kept = _pair_pass(ids, offsets, keep_prob, labels, num_blocks, window, seed, counts, empty, empty, False)
    total = counts.sum()
    cursor = np.zeros(strata, np.int64)
    for s in range(1, strata):
        cursor[s] = cursor[s - 1] + counts[s - 1]
    centers = np.empty(total, np.int32)
    contexts = np.empty(total, np.int32)
    _pair_pass(ids, offsets, keep_prob, labels, num_blocks, window, seed, cursor, centers, contexts, True)
    return centers, contexts, counts.reshape(num_blocks, num_blocks), kept


@njit(cache=True)
def plan_block(counts, cycles):
    """Where each shard's part of each stratum and cycle goes in a W block's layout.

    Args:
        counts: (C, P) int64, pairs of shard c with context block j.
        cycles: R.

    Returns:
        (bounds (R, P, 2) int64: the pairs of context block j in cycle r are ``[bounds[r, j,
        0], bounds[r, j, 1])`` of the layout; dest (C, R, P) int64: where shard c's part r of
        stratum j starts). Part r of a shard's stratum is its pairs ``[r n / R, (r + 1) n / R)``,
        n its pair count: each stratum is cut into R consecutive parts, shards in order.
    """
    n_shards, num_blocks = counts.shape
    bounds = np.zeros((cycles, num_blocks, 2), np.int64)
    dest = np.zeros((n_shards, cycles, num_blocks), np.int64)
    pos = 0
    for r in range(cycles):
        for j in range(num_blocks):
            bounds[r, j, 0] = pos
            for c in range(n_shards):
                n = counts[c, j]
                dest[c, r, j] = pos
                pos += ((r + 1) * n) // cycles - (r * n) // cycles
            bounds[r, j, 1] = pos
    return bounds, dest


@njit(cache=True)
def place_shard(centers, contexts, counts, cycles, dest, local, out_centers, out_contexts):
    """Copy one shard's pairs of a W block (sorted by context block, as
    :func:`generate_pairs` gives them) to their places (``dest`` (R, P) of :func:`plan_block`),
    as local rows (a context ``~id`` becomes ``~row``). With an empty ``local`` the pairs are
    local rows already (:func:`to_local_rows`) and are copied as they are."""
    num_blocks = counts.shape[0]
    mapped = local.shape[0] > 0
    first = 0
    for j in range(num_blocks):
        n = counts[j]
        for r in range(cycles):
            a = first + (r * n) // cycles
            b = first + ((r + 1) * n) // cycles
            pos = dest[r, j]
            for i in range(a, b):
                o = contexts[i]
                if mapped:
                    out_centers[pos] = local[centers[i]]
                    out_contexts[pos] = ~local[~o] if o < 0 else local[o]
                else:
                    out_centers[pos] = centers[i]
                    out_contexts[pos] = o
                pos += 1
        first += n


# local rows travel as int16 (4 bytes a pair instead of 8) when every block has fewer rows
LOCAL_ROWS_MAX = 32767


@njit(cache=True)
def to_local_rows(centers, contexts, local):
    """Word ids -> (n,) int16 local rows (``layout.BlockLayout.local``: [head; block], a context
    ``~id`` -> ``~row``): the compact form of a shard's pairs when no block has more than
    LOCAL_ROWS_MAX rows, the replicated head's included."""
    n = centers.shape[0]
    out_c = np.empty(n, np.int16)
    out_o = np.empty(n, np.int16)
    for i in range(n):
        out_c[i] = local[centers[i]]
        o = contexts[i]
        out_o[i] = ~local[~o] if o < 0 else local[o]
    return out_c, out_o


def split_by_center_block(centers: np.ndarray, contexts: np.ndarray, counts: np.ndarray):
    """The pairs of :func:`generate_pairs` cut by center block.

    Yields:
        (k, centers_k (n_k,) int32, contexts_k (n_k,) int32, counts_k (P,) int64 pairs per
        context block) for every center block k, views into the inputs.
    """
    ends = np.cumsum(counts.sum(axis=1))
    start = 0
    for k, end in enumerate(ends.tolist()):
        yield k, centers[start:end], contexts[start:end], counts[k]
        start = end


@njit(cache=True)
def count_centers(centers, bounds, block_size):
    """n(c, j): (P, block_size) int32 pairs of each center (local row) with each context block
    over all cycles, from the laid-out pairs of ``worker.BlockPairs.arrange``."""
    cycles, num_blocks, _ = bounds.shape
    out = np.zeros((num_blocks, block_size), np.int32)
    for r in range(cycles):
        for j in range(num_blocks):
            for i in range(bounds[r, j, 0], bounds[r, j, 1]):
                out[j, centers[i]] += 1
    return out
