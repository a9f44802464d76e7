"""Words to blocks, blocks to tasks, and the block-restricted noise distribution."""

import numpy as np
import pytest

from sparkw2v import kernel, vocab
from sparkw2v.layout import (BlockLayout, block_labels, block_owner, center_negative_rates, context_block,
                             noise_shares, owned_blocks, pair_weights)


def zipf_counts(V, s=1.05, top=1_000_000):
    return np.maximum(5, (top / np.arange(1, V + 1) ** s)).astype(np.int64)


@pytest.mark.parametrize("P", [16, 64])
def test_blocks_carry_equal_weight_and_about_equal_numbers_of_words(P):
    counts = zipf_counts(20_000)
    weights = pair_weights(counts, vocab.keep_probabilities(counts, 1e-4))
    labels = block_labels(weights, P, seed=3, epoch=0)
    assert labels.dtype == np.int32 and labels.min() == 0 and labels.max() == P - 1
    loads = np.bincount(labels, weights=weights, minlength=P)
    sizes = np.bincount(labels, minlength=P)
    # the head dealt by weight: every block within 1% of the mean weight ...
    assert loads.max() / loads.mean() < 1.01
    assert sizes.max() / sizes.mean() < 1.02
    # ... which a random deal of bands cannot do: the heaviest word alone is several % of a block
    rng = np.random.default_rng(0)
    dealt = np.concatenate([rng.permutation(P) for _ in range(-(-20_000 // P))])[:20_000]
    random_loads = np.bincount(dealt, weights=weights, minlength=P)
    assert random_loads.max() / random_loads.mean() > 1.03
    # the tail is dealt by bands: one word of each band to each block
    head = int(np.argmax(weights <= 1e-3 * weights.sum() / P))
    for band in range(head, 20_000 - P, P):
        assert sorted(labels[band:band + P]) == list(range(P))


def test_labels_are_a_function_of_seed_and_epoch_and_change_between_epochs():
    counts = zipf_counts(5000)
    w = pair_weights(counts, vocab.keep_probabilities(counts, 1e-4))
    a = block_labels(w, 8, seed=1, epoch=0)
    np.testing.assert_array_equal(a, block_labels(w, 8, seed=1, epoch=0))
    b = block_labels(w, 8, seed=1, epoch=1)
    c = block_labels(w, 8, seed=2, epoch=0)
    # which words share a block changes: pairs of the 200 most frequent words together in both
    same = (a[:200, None] == a[None, :200])
    assert (same & (b[:200, None] == b[None, :200])).sum() < 0.5 * same.sum()
    assert not np.array_equal(a, c)
    assert np.all(block_labels(w, 1, seed=1, epoch=0) == 0)


def test_layout_members_and_local_rows():
    labels = np.array([2, 0, 1, 2, 0, 0, 1], np.int32)
    layout = BlockLayout.from_labels(labels, 3)
    assert [layout.members(b).tolist() for b in range(3)] == [[1, 4, 5], [2, 6], [0, 3]]
    assert layout.local.tolist() == [0, 0, 0, 1, 1, 2, 1]
    assert [layout.size(b) for b in range(3)] == [3, 2, 2]
    for b in range(3):
        np.testing.assert_array_equal(layout.local[layout.members(b)], np.arange(layout.size(b)))


@pytest.mark.parametrize("P", [1, 2, 3, 7, 8, 64])
def test_ownership_is_a_partition_into_contiguous_ranges(P):
    for T in range(1, P + 1):
        owned = [list(owned_blocks(t, T, P)) for t in range(T)]
        assert sum(owned, []) == list(range(P))
        assert all(owned)  # every task owns a block when T <= P
        for t, blocks in enumerate(owned):
            assert all(block_owner(k, T, P) == t for k in blocks)


@pytest.mark.parametrize("P,T", [(4, 2), (6, 4), (8, 8), (5, 1)])
def test_no_w_or_wprime_block_is_held_by_two_tasks_in_a_sub_epoch(P, T):
    """The schedule itself: in sub-epoch s, task t trains strata (k, k + s) for its k, so the W'
    blocks in use are a permutation of the blocks, and W blocks never move."""
    for s in range(P):
        used = [context_block(k, s, P) for t in range(T) for k in owned_blocks(t, T, P)]
        assert sorted(used) == list(range(P))


def draw_negatives(layout, counts, center_counts, rates, seed):
    """What the kernel draws for one center over an epoch: in each block j, n(c, j) positions of
    floor(rate + u) noise words from count^0.75 restricted to j. Returns draws per word."""
    rng = np.random.default_rng(seed)
    weights = np.power(counts.astype(np.float64), 0.75)
    observed = np.zeros(len(counts), np.int64)
    for j in range(layout.num_blocks):
        n = int(center_counts[j])
        if n == 0:
            continue
        draws = int(np.floor(rates[j] + rng.random(n)).sum())
        prob, alias = kernel.build_alias(weights[layout.members(j)])
        observed[layout.members(j)] += kernel.noise_counts(prob, alias, draws, seed * 100 + j)
    return observed


def chi2(observed, expected):
    return ((observed - expected) ** 2 / expected).sum()


def test_each_centers_negatives_follow_the_global_noise_distribution():
    """Chi-square: a center whose contexts fall very unevenly into the blocks (a third of them in
    one block, as when its commonest context is 'the') draws K(c, j) = K n_c Q_j / n(c, j) noise
    words per pair in block j, from count^0.75 restricted to j: over the epoch that is K per pair
    from the global P_n(w) ~ count^0.75. A rate per block only (K Q_j / U_j, right for a center
    whose contexts spread like the average) over-weights the words sharing its top context's block."""
    V, P, K = 400, 8, 5
    counts = zipf_counts(V, top=50_000)
    keep = vocab.keep_probabilities(counts, 1e-3)
    layout = BlockLayout.build(pair_weights(counts, keep), P, seed=4, epoch=2)
    shares = noise_shares(counts, layout)
    n = np.full(P, 10_000, np.int64)
    n[layout.labels[0]] = 40_000  # the block of word 0 holds a third of this center's contexts
    rates = center_negative_rates(n[:, None], shares, K)[:, 0]
    expected = K * n.sum() * np.power(counts, 0.75) / np.power(counts, 0.75).sum()
    dof = V - 1
    assert chi2(draw_negatives(layout, counts, n, rates, 1), expected) < dof + 4 * np.sqrt(2 * dof)
    u = np.bincount(layout.labels, weights=pair_weights(counts, keep), minlength=P)
    per_block = K * shares / (u / u.sum())
    assert chi2(draw_negatives(layout, counts, n, per_block, 2), expected) > dof + 20 * np.sqrt(2 * dof)


def test_a_rare_center_draws_k_per_pair_from_the_blocks_it_meets():
    counts = zipf_counts(100, top=1000)
    layout = BlockLayout.build(counts.astype(float), 4, 1, 0)
    shares = noise_shares(counts, layout)
    n = np.array([[3], [0], [1], [0]])  # 4 pairs this epoch, in blocks 0 and 2
    rates = center_negative_rates(n, shares, 5)[:, 0]
    assert rates[1] == rates[3] == 0
    assert (n[:, 0] * rates).sum() == pytest.approx(5 * 4)  # K per pair in all
    assert rates[0] * 3 / (rates[2] * 1) == pytest.approx(shares[0] / shares[2])  # in proportion to Q
