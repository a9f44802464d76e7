"""The replicated head: its layout, pairs, noise and the combine of the strata's changes."""

import numpy as np
import pytest

from sparkw2v import vocab
from sparkw2v.head import SCALE, Head
from sparkw2v.layout import BlockLayout, center_negative_rates, pair_weights
from sparkw2v.pairs import generate_pairs, split_by_center_block
from sparkw2v.worker import NoiseTables

from .test_layout import chi2, zipf_counts
from .test_pairs import plain


def test_head_words_belong_to_no_block_and_come_first_in_every_tasks_rows():
    V, P, K = 300, 6, 20
    counts = zipf_counts(V, top=20_000)
    weights = pair_weights(counts, vocab.keep_probabilities(counts, 1e-3))
    layout = BlockLayout.build(weights, P, 3, 1, head=K)
    assert layout.head == K and np.all(layout.labels[:K] == -1) and np.all(layout.labels[K:] >= 0)
    np.testing.assert_array_equal(layout.labels[K:], BlockLayout.build(weights[K:], P, 3, 1).labels)
    np.testing.assert_array_equal(layout.local[:K], np.arange(K))
    for b in range(P):
        members = layout.members(b)
        assert np.all(members >= K) and np.all(layout.labels[members] == b)
        np.testing.assert_array_equal(layout.local[members], K + np.arange(layout.size(b)))
    assert sum(layout.size(b) for b in range(P)) == V - K
    with pytest.raises(ValueError, match="hot_words"):
        BlockLayout.build(weights, P, 3, 1, head=V)


def test_head_pairs_are_the_same_pairs_dealt_evenly_over_the_strata():
    """Replicating the head changes where pairs train, not which pairs there are: the same
    subsampled pairs as without a head, tail words in their blocks' strata, and the pairs of a
    head center or context spread evenly over the blocks."""
    rng = np.random.default_rng(3)
    V, P, K = 200, 4, 10
    counts = zipf_counts(V, top=5_000)
    keep = vocab.keep_probabilities(counts, 1e-2)
    p = counts / counts.sum()
    ids = rng.choice(V, size=20_000, p=p).astype(np.int32)
    offsets = np.arange(0, 20_001, 500, dtype=np.int64)
    layout = BlockLayout.build(counts * keep, P, 2, 0, head=K)
    one = generate_pairs(ids, offsets, keep, np.zeros(V, np.int32), 1, 5, np.uint64(9))
    many = generate_pairs(ids, offsets, keep, layout.labels, P, 5, np.uint64(9))
    assert one[3] == many[3]
    key = lambda c, o: np.sort(c.astype(np.int64) * V + plain(o))
    np.testing.assert_array_equal(key(one[0], one[1]), key(many[0], many[1]))
    head_centers = np.zeros(P, np.int64)
    head_contexts = np.zeros(P, np.int64)
    for k, c, o, n in split_by_center_block(many[0], many[1], many[2]):
        tail = c >= K
        assert np.all(layout.labels[c[tail]] == k)
        head_centers[k] = (~tail).sum()
        start = 0
        for j in range(P):
            part = plain(o[start:start + n[j]])
            assert np.all(layout.labels[part[part >= K]] == j)
            head_contexts[j] += (part < K).sum()
            start += n[j]
    for dealt in (head_centers, head_contexts):
        assert dealt.sum() > 1000 and dealt.max() / dealt.mean() < 1.05


def test_with_a_head_each_centers_negatives_follow_the_global_noise_distribution():
    """Chi-square, as test_layout's: the head's words are noise words in every block's table
    with 1/P of their weight, and the per-center rates with the shares that count them keep
    every center's negatives distributed as the global count^0.75 over the epoch. Giving the
    head its whole weight in every table over-weights it P times and fails."""
    from sparkw2v import kernel
    V, P, K, negative = 400, 8, 16, 5
    counts = zipf_counts(V, top=50_000)
    layout = BlockLayout.build(pair_weights(counts, vocab.keep_probabilities(counts, 1e-3)), P, 4, 2, head=K)
    tables = NoiseTables.build(counts, layout)
    n = np.full(P, 10_000, np.int64)
    n[3] = 40_000  # a third of this center's pairs meet W' block 3
    rates = center_negative_rates(n[:, None], tables.shares, negative)[:, 0]
    weights = np.power(counts.astype(np.float64), 0.75)
    expected = negative * n.sum() * weights / weights.sum()
    dof = V - 1

    def draws(prob_alias, seed):
        observed = np.zeros(V, np.int64)
        rng = np.random.default_rng(seed)
        for j in range(P):
            rows = np.concatenate([np.arange(K), layout.members(j)])
            total = int(np.floor(rates[j] + rng.random(int(n[j]))).sum())
            prob, alias = prob_alias(j, rows)
            np.add.at(observed, rows, kernel.noise_counts(prob, alias, total, seed * 100 + j))
        return observed

    assert chi2(draws(lambda j, rows: (tables.prob[j], tables.alias[j]), 1), expected) < dof + 4 * np.sqrt(2 * dof)
    whole = draws(lambda j, rows: kernel.build_alias(weights[rows]), 2)
    assert chi2(whole, expected) > dof + 20 * np.sqrt(2 * dof)


def test_the_combined_head_does_not_depend_on_the_order_of_the_strata():
    """Changes are summed in fixed point, so any order of collecting the strata (any spread of
    them over tasks) gives the same bits; 'sum' moves a row by the strata's summed change,
    'mean' by their mean, each to within the 2^-32 units of the accumulator."""
    rng = np.random.default_rng(0)
    K, N, P = 12, 5, 9
    W0 = rng.normal(size=(K, N)).astype(np.float32)
    Wp0 = rng.normal(size=(K, N)).astype(np.float32)
    changes = [(rng.normal(size=(K, N)) * 0.01).astype(np.float32) for _ in range(P)]
    touched = [rng.random(K) < 0.5 for _ in range(P)]

    def combined(order, rule):
        head = Head.start(W0, Wp0, P, rule)
        for s in order:
            head.work_W[touched[s]] += changes[s][touched[s]]
            head.work_Wp += changes[s]
            head.touched_W[:] = touched[s]
            head.touched_Wp[:] = 1
            head.collect()
            np.testing.assert_array_equal(head.work_W, head.W)  # back to the sub-epoch's start
        head.combine()
        return head

    a = combined(range(P), "sum")
    b = combined(rng.permutation(P), "sum")
    np.testing.assert_array_equal(a.W.view(np.uint32), b.W.view(np.uint32))
    np.testing.assert_array_equal(a.Wp.view(np.uint32), b.Wp.view(np.uint32))
    moved = sum(np.where(t[:, None], (W0 + c).astype(np.float64) - W0, 0.0) for c, t in zip(changes, touched))
    np.testing.assert_allclose(a.W, W0 + moved, atol=1e-6)
    np.testing.assert_allclose(combined(range(P), "mean").W, W0 + moved / P, atol=1e-6)
    assert not np.any(a.acc_W) and not np.any(a.strata_W) and np.array_equal(a.work_W, a.W)
    clipped = combined(range(P), "clip")
    for h in range(K):  # the sum, scaled down to at most twice the mean norm of the strata's changes
        mine = [np.linalg.norm(np.float64(W0[h] + c[h]) - W0[h]) for c, t in zip(changes, touched) if t[h]]
        limit = 2 * np.mean(mine) if mine else 0.0
        step = clipped.W[h].astype(np.float64) - W0[h]
        assert np.linalg.norm(step) <= limit + 1e-5
        expected = moved[h] * min(1.0, limit / max(np.linalg.norm(moved[h]), 1e-30))
        np.testing.assert_allclose(step, expected, atol=2e-6)
    assert SCALE == 2.0 ** 32
    with pytest.raises(ValueError, match="combine rule"):
        Head.start(W0, Wp0, P, "median")


def small_corpus(V=120, words=30_000, seed=4):
    rng = np.random.default_rng(seed)
    counts = zipf_counts(V, top=3_000)
    ids = rng.choice(V, size=words, p=counts / counts.sum()).astype(np.int32)
    counts = np.bincount(ids, minlength=V).astype(np.int64)
    order = np.argsort(-counts, kind="stable")  # ids by descending count, as the vocabulary gives them
    rank = np.empty(V, np.int32)
    rank[order] = np.arange(V)
    ids = rank[ids]
    half = words // 2
    offsets = np.arange(0, half + 1, 300, dtype=np.int64)
    return [(ids[:half], offsets), (ids[half:], offsets)], counts[order]


def test_a_head_trains_one_block_as_sequential_sgd_and_many_blocks_deterministically():
    """At P = 1 the head's single stratum a sub-epoch is sequential SGD: the vectors of
    hot_words = 0 up to the accumulator's 2^-32 units. At P = 4 the head changes the run (the
    strata train against a shared head), and repeats it bit for bit. (The plain sum diverges
    here: each of this corpus's few large strata moves a head row a full step, and four such
    steps from one start overshoot; the clipped sum does not.)"""
    from sparkw2v.config import TrainConfig
    from sparkw2v.local import train_local
    shards, counts = small_corpus()
    config = TrainConfig(vector_size=16, epochs=2, cycles_per_epoch=3, sample=1e-2, min_count=1, seed=3)
    W0, Wp0, _ = train_local(shards, counts, config, 1)
    W8, Wp8, _ = train_local(shards, counts, config, 1, hot_words=8)
    np.testing.assert_allclose(W8, W0, atol=2e-5)
    np.testing.assert_allclose(Wp8, Wp0, atol=2e-5)
    A = train_local(shards, counts, config, 4, hot_words=8, combine="clip")
    B = train_local(shards, counts, config, 4, hot_words=8, combine="clip")
    C = train_local(shards, counts, config, 4)
    for a, b, c in zip(A[:2], B[:2], C[:2]):
        np.testing.assert_array_equal(a.view(np.uint32), b.view(np.uint32))
        assert np.isfinite(a).all() and not np.array_equal(a, c)
    assert A[2][0].pairs.sum() == C[2][0].pairs.sum()  # the same pairs, trained elsewhere


def test_a_head_must_match_its_layout_and_have_a_block_on_every_task():
    from sparkw2v.schedule import Schedule
    from sparkw2v.worker import train_epoch
    counts = zipf_counts(50, top=1000)
    layout = BlockLayout.build(counts.astype(float), 4, 1, 0, head=2)
    schedule = Schedule(1, 1, 4, 0.025, 1e-4, 1)
    with pytest.raises(ValueError, match="replicates 2 words, the head given holds 0"):
        train_epoch(0, 1, 0, schedule, layout, {}, {}, {}, None, 5, 5)
    with pytest.raises(ValueError, match="replicates 0 words, the head given holds 2"):
        train_epoch(0, 1, 0, schedule, BlockLayout.build(counts.astype(float), 4, 1, 0), {}, {}, {}, None, 5, 5,
                    head=Head.start(np.zeros((2, 3)), np.zeros((2, 3)), 4))
    with pytest.raises(ValueError, match="use at most 4 tasks"):
        train_epoch(0, 5, 0, schedule, layout, {}, {}, {}, None, 5, 5, exchange=object(),
                    head=Head.start(np.zeros((2, 3)), np.zeros((2, 3)), 4))
    with pytest.raises(ValueError, match="-1 on the first 2 ids"):
        BlockLayout.from_labels(np.r_[-1, 0, -1, np.zeros(47, int)], 4, head=2)


def test_a_diverged_head_row_is_reported_not_wrapped_into_the_fixed_point():
    """A NaN, Inf or huge change of a head row cannot be summed in 2^-32 units: the row turns
    NaN, which the cycle's check reports by word id."""
    from sparkw2v.worker import EpochReport, _check_cycle
    head = Head.start(np.ones((3, 4)), np.ones((3, 4)), 2)
    head.work_W[1, 2] = np.nan
    head.work_Wp[2, 0] = 3e9
    head.touched_W[1] = head.touched_Wp[2] = 1
    head.collect()
    head.combine()
    assert np.isnan(head.W[1, 2]) and np.isnan(head.Wp[2, 0]) and np.isfinite(head.W[[0, 2]]).all()
    assert not np.any(head.acc_W) and not np.any(head.acc_Wp)
    layout = BlockLayout.build(zipf_counts(20, top=100).astype(float), 2, 1, 0, head=3)
    W = {b: np.zeros((layout.size(b), 4), np.float32) for b in range(2)}
    report = EpochReport.empty(0, 1, 0, 1, 2)
    trouble = _check_cycle(report, 0, 100.0, layout, W, dict(W), head)
    assert trouble["reason"] == "nan" and trouble["rows"] == {"W": [1], "W'": [2]}


def test_a_head_combined_every_nth_sub_epoch_is_due_then_and_at_the_epochs_end():
    head = Head.start(np.zeros((2, 3)), np.zeros((2, 3)), 4, "sum", every=3)
    assert [head.due() for _ in range(6)] == [False, False, True, False, False, True]
    assert [head.due(), head.due(last=True)] == [False, True]
    assert all(Head.start(np.zeros((2, 3)), np.zeros((2, 3)), 4).due() for _ in range(3))
    for bad in (0, -1, 1.5):
        with pytest.raises(ValueError, match="every n-th sub-epoch"):
            Head.start(np.zeros((2, 3)), np.zeros((2, 3)), 4, every=bad)


def test_the_fixed_point_sums_cannot_overflow_and_mean_divides_by_the_sub_epochs_covered():
    """A combine sums P x every strata (over all tasks): the largest change summed shrinks so
    that neither the sums nor the norms (up to sqrt(N) times one component) leave int64; a
    larger one marks the row diverged. "mean" over every = 3 divides by the strata of the
    sub-epochs the combine covers, also for the epoch's shorter last group."""
    from sparkw2v.head import ACC_LIMIT, MAX_CHANGE, SCALE
    head = Head.start(np.zeros((2, 100)), np.zeros((2, 100)), 256, "clip", every=8)
    assert head.max_change * SCALE * 256 * 8 * 10 <= ACC_LIMIT < 2.0 ** 63
    assert Head.start(np.zeros((2, 4)), np.zeros((2, 4)), 4).max_change == MAX_CHANGE
    head.work_W[0, 0] = 1.5 * head.max_change
    head.work_W[1, 0] = 0.5 * head.max_change
    head.touched_W[:] = 1
    head.collect()
    assert np.isnan(head.W[0, 0]) and head.W[1, 0] == 0 and head.acc_W[1, 0] > 0
    mean = Head.start(np.zeros((1, 2)), np.zeros((1, 2)), 2, "mean", every=3)
    for ends, last in ((3, False), (2, True)):
        for s in range(ends):
            for stratum in range(2):
                mean.work_W[0] += 1.0
                mean.touched_W[0] = 1
                mean.collect()
            if mean.due(last=last and s == ends - 1):
                before = mean.W.copy()
                mean.combine()
                np.testing.assert_allclose(mean.W - before, 1.0)  # the mean stratum's change
