"""Pair generation and the layout of a block's pairs by cycle, against plain-Python checks."""

import numpy as np
import pytest

from sparkw2v import vocab
from sparkw2v.layout import BlockLayout
from sparkw2v.pairs import generate_pairs, split_by_center_block


def rows_of(ids, offsets):
    return [ids[offsets[r]:offsets[r + 1]] for r in range(len(offsets) - 1)]


def plain(contexts):
    """Context ids without the marks of a position's first pair (~id)."""
    return np.where(contexts < 0, ~contexts, contexts)


def test_without_subsampling_each_position_pairs_with_a_symmetric_window():
    """sample 0: every word is kept, and the centers of each context position are exactly the
    words within some distance b in 1..window of it, inside its row (rows of distinct words, so
    the context names the position)."""
    rng = np.random.default_rng(0)
    V, window = 5000, 4
    lengths = [7, 293, 1, 1199, 1500]
    rows = [rng.permutation(V)[:n].astype(np.int32) for n in lengths]
    ids = np.concatenate(rows)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    centers, marked, counts, kept = generate_pairs(ids, offsets, np.ones(V), np.zeros(V, np.int32), 1,
                                                   window, np.uint64(3))
    assert kept == len(ids) and counts.shape == (1, 1) and counts[0, 0] == len(centers)
    contexts = plain(marked)
    at = 0
    for row in rows:
        n = len(row)
        for i in range(n if n > 1 else 0):
            assert marked[at] == ~row[i]  # a position's first pair is marked, the others not
            m = 1
            while at + m < len(contexts) and marked[at + m] == row[i]:
                m += 1
            got = centers[at:at + m].tolist()
            windows = [[row[q] for q in range(max(0, i - b), min(n, i + b + 1)) if q != i]
                       for b in range(1, window + 1)]
            assert got in windows, (i, got)
            at += m
    assert at == len(centers)


def test_window_distances_follow_the_dynamic_window():
    """With b ~ U{1..window}, a pair at distance d is formed with probability (window-d+1)/window."""
    window, n, repeats = 5, 400, 100
    ids = np.tile(np.arange(n, dtype=np.int32), repeats)
    offsets = np.arange(0, n * repeats + 1, n, dtype=np.int64)
    centers, contexts, _, _ = generate_pairs(ids, offsets, np.ones(n), np.zeros(n, np.int32), 1, window,
                                             np.uint64(123))
    dist = np.bincount(np.abs(centers - plain(contexts)), minlength=window + 1)
    assert dist[0] == 0 and len(dist) == window + 1
    d = np.arange(1, window + 1)
    ratios = dist[1:] / dist[1]
    np.testing.assert_allclose(ratios, (window - d + 1) / window, atol=0.015)


def test_strata_partition_the_pairs_of_one_block_scheme():
    """Bucketing by (block of center, block of context) keeps every pair of the unbucketed run,
    in corpus order inside each stratum."""
    rng = np.random.default_rng(1)
    V, P = 200, 3
    counts = np.sort(rng.integers(1, 1000, size=V))[::-1].astype(np.int64)
    keep = vocab.keep_probabilities(counts, 1e-2)
    ids = rng.integers(0, V, size=5000).astype(np.int32)
    offsets = np.arange(0, 5001, 250, dtype=np.int64)
    layout = BlockLayout.build(counts * keep, P, 2, 0)
    one = generate_pairs(ids, offsets, keep, np.zeros(V, np.int32), 1, 5, np.uint64(9))
    many = generate_pairs(ids, offsets, keep, layout.labels, P, 5, np.uint64(9))
    assert one[3] == many[3]  # same subsampling
    c1, o1 = one[0], plain(one[1])
    position = np.cumsum(one[1] < 0)  # which position each pair of the unbucketed run belongs to
    for k, c, o, n in split_by_center_block(many[0], many[1], many[2]):
        assert np.all(layout.labels[c] == k)
        start = 0
        for j in range(P):
            part_c, part_o = c[start:start + n[j]], o[start:start + n[j]]
            assert np.all(layout.labels[plain(part_o)] == j)
            mask = (layout.labels[c1] == k) & (layout.labels[o1] == j)
            np.testing.assert_array_equal(part_c, c1[mask])  # the same pairs, in corpus order
            np.testing.assert_array_equal(plain(part_o), o1[mask])
            # marked: exactly the first pair of each position inside this stratum
            pos = position[mask]
            np.testing.assert_array_equal(part_o < 0, np.r_[True, pos[1:] != pos[:-1]][:len(pos)])
            start += n[j]
    assert many[2].sum() == len(c1)


def test_a_block_layout_cuts_every_shard_stratum_into_cycles_in_shard_order():
    P, R = 2, 3
    labels = np.array([0, 1, 0, 1, 0, 1], np.int32)  # words 0, 2, 4 in block 0; 1, 3, 5 in block 1
    layout = BlockLayout.from_labels(labels, P)
    # two shards; center block 0; per shard: pairs with context block 0, then context block 1
    # (~x marks the first pair of a position)
    shard0 = ([0, 2, 4, 0, 2], [~0, ~2, ~1, 3, ~5], [2, 3])
    shard1 = ([4, 4, 0, 2], [~4, ~0, 2, ~2], [4, 0])
    from sparkw2v.worker import BlockPairs, NoiseTables

    sources = [(np.array(c, np.int32), np.array(o, np.int32), np.array(n, np.int64)) for c, o, n in (shard0, shard1)]
    laid = BlockPairs.arrange(sources, R, layout, 0, NoiseTables.build(np.ones(6, np.int64), layout), 5)
    out_c, out_o, bounds = laid.centers, laid.contexts, laid.bounds
    to_ids = {b: layout.members(b) for b in range(P)}
    got = {}
    for r in range(R):
        for j in range(P):
            a, b = bounds[r, j]
            got[r, j] = [(int(to_ids[0][c]), int(to_ids[j][o]) if o >= 0 else ~int(to_ids[j][~o]))
                         for c, o in zip(out_c[a:b], out_o[a:b])]
    # shard 0 stratum (0,0): 2 pairs -> cycles get [0:0], [0:1], [1:2]; shard 1: 4 pairs -> [0:1], [1:2], [2:4]
    assert got[0, 0] == [(4, ~4)]
    assert got[1, 0] == [(0, ~0), (4, ~0)]
    assert got[2, 0] == [(2, ~2), (0, 2), (2, ~2)]
    # stratum (0,1): shard 0 has 3 pairs (one per cycle), shard 1 none
    assert [got[r, 1] for r in range(R)] == [[(4, ~1)], [(0, 3)], [(2, ~5)]]
    assert bounds[-1, -1, 1] == 9


def test_pairs_sent_as_local_rows_are_laid_out_as_the_ids_are():
    """The compact form (int16 local rows, when blocks are small) gives the same layout."""
    from sparkw2v.pairs import place_shard, plan_block, to_local_rows

    rng = np.random.default_rng(4)
    V, P, R = 300, 3, 4
    counts_w = np.sort(rng.integers(1, 1000, size=V))[::-1].astype(np.int64)
    keep = vocab.keep_probabilities(counts_w, 1e-2)
    layout = BlockLayout.build(counts_w * keep, P, 2, 0)
    ids = rng.integers(0, V, size=4000).astype(np.int32)
    offsets = np.arange(0, 4001, 200, dtype=np.int64)
    centers, contexts, strata, _ = generate_pairs(ids, offsets, keep, layout.labels, P, 4, np.uint64(3))
    lc, lo = to_local_rows(centers, contexts, layout.local)
    assert lc.dtype == np.int16 and (lo < 0).sum() == (contexts < 0).sum()
    for k, c, o, n in split_by_center_block(centers, contexts, strata):
        start = int(strata[:k].sum())
        local_c, local_o = lc[start:start + len(c)], lo[start:start + len(c)]
        bounds, dest = plan_block(n[None, :], R)
        got = [np.empty(len(c), np.int32) for _ in range(4)]
        place_shard(c, o, n, R, dest[0], layout.local, got[0], got[1])
        place_shard(local_c, local_o, n, R, dest[0], np.zeros(0, np.int32), got[2], got[3])
        np.testing.assert_array_equal(got[0], got[2])
        np.testing.assert_array_equal(got[1], got[3])
