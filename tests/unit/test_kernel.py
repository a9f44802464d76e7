"""The numba kernel against the numpy reference, and its random draws against their
expected statistics."""

import numpy as np
import pytest

from sparkw2v import kernel, reference, vocab


def make_params(rng, V=12, N=8):
    W = (rng.normal(size=(V, N)) * 0.3).astype(np.float32)
    Wp = (rng.normal(size=(V, N)) * 0.3).astype(np.float32)
    return W, Wp


def run_update(W, Wp, centers, context, negatives, alpha):
    W, Wp = W.copy(), Wp.copy()
    V, N = W.shape
    centers = np.asarray(centers, np.int32)
    negatives = np.asarray(negatives, np.int32)
    neu = np.zeros((len(centers), N), np.float32)
    gout = np.zeros((len(negatives) + 1, N), np.float32)
    wu, wpu = np.zeros(V, np.int32), np.zeros(V, np.int32)
    uses = np.full(len(centers), len(negatives))
    loss = kernel.sgns_update(W, Wp, centers, len(centers), context, negatives, uses, alpha, neu, gout, wu, wpu,
                              True)
    return W, Wp, loss, wu, wpu


@pytest.mark.parametrize("negatives", [[3, 4, 5], [3, 3, 6], [2, 7, 2, 9]])
def test_single_pair_update_equals_reference_step(negatives):
    rng = np.random.default_rng(1)
    W, Wp = make_params(rng)
    c, o, alpha = 1, 2, 0.05
    W1, Wp1, loss, wu, wpu = run_update(W, Wp, [c], o, negatives, alpha)
    W_ref, Wp_ref = reference.sgns_step(W, Wp, c, o, negatives, alpha)
    np.testing.assert_allclose(W1, W_ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(Wp1, Wp_ref, rtol=1e-5, atol=1e-6)
    kept = [k for k in negatives if k != o]
    expected_loss = reference.sgns_loss_and_gradients(W[c], Wp[o], Wp[kept])[0]
    assert loss == pytest.approx(expected_loss, rel=1e-5)
    assert wu[c] == 1 and wu.sum() == 1
    assert wpu[o] == 1 and wpu.sum() == 1 + len(kept)


def test_window_update_is_sum_of_pair_steps():
    """A position with m centers applies the sum of the m pairs' textbook gradients."""
    rng = np.random.default_rng(2)
    W, Wp = make_params(rng)
    centers, o, negs, alpha = [1, 4, 1, 6], 2, [3, 5, 8], 0.03
    W1, Wp1, _, _, _ = run_update(W, Wp, centers, o, negs, alpha)
    dW = np.zeros_like(W, dtype=np.float64)
    dWp = np.zeros_like(Wp, dtype=np.float64)
    for c in centers:
        W_ref, Wp_ref = reference.sgns_step(W, Wp, c, o, negs, alpha)
        dW += W_ref - W
        dWp += Wp_ref - Wp
    np.testing.assert_allclose(W1, W + dW, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(Wp1, Wp + dWp, rtol=1e-5, atol=1e-6)


def test_noise_words_follow_unigram_to_the_three_quarters():
    counts = np.array([1000, 400, 100, 30, 5, 1], np.int64)
    prob, alias = vocab.noise_table(counts, 0.75)
    draws = 400_000
    observed = kernel.noise_counts(prob, alias, draws, 99)
    p = counts ** 0.75 / (counts ** 0.75).sum()
    expected = p * draws
    chi2 = ((observed - expected) ** 2 / expected).sum()
    assert chi2 < 20.5  # 5 degrees of freedom: p ~ 0.001


def test_subsampling_keeps_words_at_their_keep_rate():
    counts = np.array([50_000, 10_000, 1_000, 10], np.int64)
    keep = vocab.keep_probabilities(counts, 1e-3)
    rng = np.random.default_rng(3)
    ids = rng.choice(4, size=200_000, p=counts / counts.sum()).astype(np.int32)
    kept = kernel.subsample(ids, keep, 5)
    before = np.bincount(ids, minlength=4)
    after = np.bincount(kept, minlength=4)
    for w in range(4):
        n, p = before[w], keep[w]
        assert abs(after[w] - n * p) <= 4 * np.sqrt(n * p * (1 - p)) + 1e-9
    assert keep[3] == 1.0 and after[3] == before[3]
    # order is preserved
    assert np.all(np.isin(kept, ids))


def stratum_inputs(rng, V=30, n_pairs=4000):
    """Pairs of a one-block stratum: positions of 1..4 pairs, the first marked (~context), as pair
    generation gives them."""
    contexts, centers = [], []
    while len(contexts) < n_pairs:
        o = int(rng.integers(V))
        m = int(rng.integers(1, 5))
        contexts += [~o] + [o] * (m - 1)
        centers += rng.integers(0, V, size=m).tolist()
    plain = np.array([~o if o < 0 else o for o in contexts])
    counts = np.bincount(plain, minlength=V).astype(np.int64) + 1
    return np.array(centers, np.int32), np.array(contexts, np.int32), counts


def test_train_stratum_is_deterministic_learns_and_samples_the_loss():
    rng = np.random.default_rng(4)
    V, N = 30, 10
    centers, contexts, counts = stratum_inputs(rng, V)
    prob, alias = vocab.noise_table(counts)
    results = []
    for _ in range(2):
        W = kernel.init_rows(np.arange(V), N, 3)
        Wp = np.zeros((V, N), np.float32)
        wu, wpu = np.zeros(V, np.int32), np.zeros(V, np.int32)
        noise = kernel.Noise(prob, alias, np.full(V, 4.0, np.float32), 4.0)
        out = kernel.train_stratum(W, Wp, centers, contexts, noise, kernel.Step(0, len(centers), 0.025, 0.001,
                                                                                np.uint64(11), 8), wu, wpu)
        results.append((W, Wp, out, wu))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])
    loss, loss_pairs, pairs = results[0][2]
    assert pairs == len(centers)
    positions = int((contexts < 0).sum())
    assert positions / kernel.LOSS_EVERY * 0.8 < loss_pairs / (pairs / positions) < positions / kernel.LOSS_EVERY * 1.2
    # the first loss on all-zero W' is exactly (K+1) log 2 per pair; training lowers the mean
    assert loss / loss_pairs < 5 * np.log(2)
    assert results[0][3].sum() == pairs  # one W update per pair


def test_train_stratum_draws_each_centers_fractional_number_of_negatives():
    """A rate of 2.25: 2 noise words, plus a third with probability 1/4 (every noise word
    updates one W' row, unless it is the context word); a center at rate 0.5 half as many."""
    rng = np.random.default_rng(5)
    V, N = 2000, 4
    contexts = ~(np.arange(20_000, dtype=np.int32) % V)  # one pair per position
    centers = rng.integers(0, V, size=20_000).astype(np.int32)
    prob, alias = vocab.noise_table(np.ones(V, np.int64))
    W = kernel.init_rows(np.arange(V), N, 1)
    Wp = np.zeros((V, N), np.float32)
    wu, wpu = np.zeros(V, np.int32), np.zeros(V, np.int32)
    rates = np.full(V, 2.25, np.float32)
    kernel.train_stratum(W, Wp, centers, contexts, kernel.Noise(prob, alias, rates, 2.25),
                         kernel.Step(0, 20_000, 0.01, 0.01, np.uint64(2), 10), wu, wpu)
    noise_updates = wpu.sum() - 20_000
    expected = 2.25 * 20_000 * (1 - 1 / V)
    assert abs(noise_updates - expected) < 4 * np.sqrt(20_000 * 0.25 * 0.75) + 30
    rates[:] = 0.5
    wpu[:] = 0
    kernel.train_stratum(W, Wp, centers, contexts, kernel.Noise(prob, alias, rates, 0.5),
                         kernel.Step(0, 20_000, 0.01, 0.01, np.uint64(3), 10), wu, wpu)
    assert abs(wpu.sum() - 20_000 - 0.5 * 20_000) < 4 * np.sqrt(20_000 * 0.25) + 20


def test_init_rows_depend_only_on_seed_and_word():
    ids = np.array([5, 17, 3, 999_999], np.int64)
    rows = kernel.init_rows(ids, 50, 7)
    np.testing.assert_array_equal(rows[1], kernel.init_rows(np.array([17]), 50, 7)[0])
    assert not np.array_equal(rows, kernel.init_rows(ids, 50, 8))
    assert rows.dtype == np.float32 and np.all(np.abs(rows) <= 0.5 / 50)
    big = kernel.init_rows(np.arange(2000), 50, 1).ravel()
    # uniform on [-0.5/N, 0.5/N): mean 0, variance (1/N)^2 / 12
    assert abs(big.mean()) < 4 * (1 / 50) / np.sqrt(12) / np.sqrt(big.size)
    assert big.var() == pytest.approx((1 / 50) ** 2 / 12, rel=0.02)


def test_positions_with_the_same_context_are_separate_steps():
    """Two positions with the same context word, one after the other in a stratum, are two SGD
    steps (the second sees the first's update), not one step of two pairs."""
    rng = np.random.default_rng(6)
    W, Wp = make_params(rng)
    prob, alias = vocab.noise_table(np.ones(12, np.int64))
    args = (kernel.Noise(prob, alias, np.zeros(12, np.float32), 0.0), kernel.Step(0, 2, 0.1, 0.1, np.uint64(1), 4),
            np.zeros(12, np.int32), np.zeros(12, np.int32))
    one_step = [W.copy(), Wp.copy()]
    kernel.train_stratum(*one_step, np.array([1, 3], np.int32), np.array([~2, 2], np.int32), *args)
    two_steps = [W.copy(), Wp.copy()]
    kernel.train_stratum(*two_steps, np.array([1, 3], np.int32), np.array([~2, ~2], np.int32), *args)
    w_ref, wp_ref = reference.sgns_step(W, Wp, 1, 2, [], 0.1)
    w_ref, wp_ref = reference.sgns_step(w_ref, wp_ref, 3, 2, [], 0.1)
    np.testing.assert_allclose(two_steps[0], w_ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(two_steps[1], wp_ref, rtol=1e-5, atol=1e-6)
    assert not np.allclose(one_step[1], wp_ref)


def test_centers_of_one_position_use_their_own_number_of_negatives():
    """Shared noise words, but center 1 uses the first 1 and center 4 all 3: each pair gets the
    textbook step with its own negatives."""
    rng = np.random.default_rng(7)
    W, Wp = make_params(rng)
    V, N = W.shape
    negs = np.array([3, 5, 8], np.int32)
    W1, Wp1 = W.copy(), Wp.copy()
    kernel.sgns_update(W1, Wp1, np.array([1, 4], np.int32), 2, 2, negs, np.array([1, 3]), 0.05,
                       np.zeros((2, N), np.float32), np.zeros((4, N), np.float32), np.zeros(V, np.int32),
                       np.zeros(V, np.int32), False)
    dW = np.zeros_like(W, dtype=np.float64)
    dWp = np.zeros_like(Wp, dtype=np.float64)
    for c, used in ((1, [3]), (4, [3, 5, 8])):
        W_ref, Wp_ref = reference.sgns_step(W, Wp, c, 2, used, 0.05)
        dW += W_ref - W
        dWp += Wp_ref - Wp
    np.testing.assert_allclose(W1, W + dW, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(Wp1, Wp + dWp, rtol=1e-5, atol=1e-6)


def replay_stratum(W, Wp, centers, contexts, noise, step):
    """train_stratum replayed step by step in Python with the stream's own functions and
    sgns_update_positions: (loss, loss_pairs, w_updates, wp_updates). A step is the position at
    its first pair and, with step.merge > 0, those that follow while its pairs stay within
    step.merge; it draws one uniform, then its noise words; every LOSS_EVERY-th step is sampled."""
    V, N = W.shape
    wu, wpu = np.zeros(V, np.int32), np.zeros(Wp.shape[0], np.int32)
    state = np.array([step.seed], np.uint64)
    cap = int(noise.max_rate) + 1
    width = max(step.max_group, step.merge)
    loss, loss_pairs, steps, i = 0.0, 0, 0, step.start
    while i < step.stop:
        ctx, ends, total = [], [], 0
        while i + total < step.stop:
            o = ~contexts[i + total] if contexts[i + total] < 0 else contexts[i + total]
            m = 1
            while i + total + m < step.stop and m < step.max_group and contexts[i + total + m] == o:
                m += 1
            if ctx and total + m > step.merge:
                break
            ctx.append(o)
            total += m
            ends.append(total)
        u = kernel._uniform(state)
        uses = np.array([min(int(noise.rates[c] + u), cap) for c in centers[i:i + total]], np.int64)
        negatives = np.array([kernel._draw_noise(state, noise.prob, noise.alias) for _ in range(uses.max())], np.int32)
        alpha = step.alpha_start + (step.alpha_end - step.alpha_start) / (step.stop - step.start) * (i - step.start)
        sampled = steps % kernel.LOSS_EVERY == 0
        loss += kernel.sgns_update_positions(
            W, Wp, centers[i:i + total], np.array(ctx, np.int32), np.array(ends, np.int64), len(ctx), negatives,
            uses, alpha, np.zeros((width, N), np.float32), np.zeros((width, N), np.float32),
            np.zeros((cap + 1, N), np.float32), wu, wpu, sampled)
        loss_pairs += total if sampled else 0
        steps += 1
        i += total
    return loss, loss_pairs, wu, wpu


@pytest.mark.parametrize("merge", [0, 1, 4, 10])
def test_train_stratum_is_the_sequence_of_its_steps_with_the_stream_in_order(merge):
    """train_stratum draws the next step's noise words before applying this step (to fetch
    their rows early); the random stream must still be consumed in the documented order (per
    step: one uniform, then its noise words), so that the vectors do not depend on that.
    Replayed one step at a time (``replay_stratum``): the same noise words (exact update counts
    of every row), the same bits and loss. merge = 0: a step a position (sgns_update's, bit for
    bit: test_one_position_is_sgns_update_bit_for_bit); merge = 1 merges nothing; 4 and 10 merge
    positions of up to 3 pairs, and change the vectors."""
    rng = np.random.default_rng(8)
    V, N = 40, 6
    centers, contexts, counts = stratum_inputs(rng, V, n_pairs=3000)
    prob, alias = vocab.noise_table(counts)
    rates = rng.uniform(0.3, 4.7, size=V).astype(np.float32)
    noise = kernel.Noise(prob, alias, rates, float(rates.max()))
    W0 = kernel.init_rows(np.arange(V), N, 2)
    Wp0 = (rng.normal(size=(V, N)) * 0.1).astype(np.float32)
    runs = {}
    for m in (0, merge):
        step = kernel.Step(7, len(centers) - 5, 0.03, 0.01, np.uint64(21), 3, m)  # positions of up to 4 pairs: cut at 3
        W, Wp = W0.copy(), Wp0.copy()
        wu, wpu = np.zeros(V, np.int32), np.zeros(V, np.int32)
        out = kernel.train_stratum(W, Wp, centers, contexts, noise, step, wu, wpu)
        runs[m] = (out, W, Wp, wu, wpu)
    (loss, loss_pairs, pairs), W, Wp, wu, wpu = runs[merge]
    W_ref, Wp_ref = W0.copy(), Wp0.copy()
    ref_loss, ref_loss_pairs, wu_ref, wpu_ref = replay_stratum(W_ref, Wp_ref, centers, contexts, noise, step)
    assert pairs == step.stop - step.start and loss_pairs == ref_loss_pairs
    np.testing.assert_array_equal(wu, wu_ref)
    np.testing.assert_array_equal(wpu, wpu_ref)
    np.testing.assert_array_equal(W.view(np.uint32), W_ref.view(np.uint32))  # the same compiled step: bit for bit
    np.testing.assert_array_equal(Wp.view(np.uint32), Wp_ref.view(np.uint32))
    assert loss == ref_loss
    same = all(np.array_equal(x, y) for x, y in zip(runs[0][1:], (W, Wp, wu, wpu)))
    assert same == (merge <= 1)  # merging more than one pair changes the vectors


def test_positions_merged_into_one_step_apply_the_sum_of_their_pair_steps():
    """Step.merge: consecutive positions with different context words share one draw of noise
    words; each pair still gets its textbook gradient against its own context (a noise word
    equal to it skipped for that pair only, used by the others), all from the vectors before
    the step."""
    rng = np.random.default_rng(12)
    V, N = 12, 8
    W, Wp = make_params(rng, V, N)
    ctx = np.array([2, 5, 2], np.int32)  # the third position's context repeats the first's
    ends = np.array([2, 3, 6], np.int64)
    centers = np.array([1, 4, 7, 1, 9, 3], np.int32)
    negatives = np.array([5, 8, 2, 10], np.int32)  # 5 and 2 are contexts of other positions
    uses = np.array([4, 2, 4, 3, 1, 4], np.int64)
    alpha = 0.04
    W1, Wp1 = W.copy(), Wp.copy()
    neu, gpos, gout = (np.zeros((6, N), np.float32), np.zeros((3, N), np.float32),
                       np.zeros((len(negatives) + 1, N), np.float32))
    wu, wpu = np.zeros(V, np.int32), np.zeros(V, np.int32)
    loss = kernel.sgns_update_positions(W1, Wp1, centers, ctx, ends, 3, negatives, uses, alpha, neu, gpos, gout,
                                        wu, wpu, True)
    dW, dWp, ref_loss = np.zeros((V, N)), np.zeros((V, N)), 0.0
    for j, c in enumerate(centers):
        o = int(ctx[np.searchsorted(ends, j, side="right")])
        used = [k for k in negatives[:uses[j]] if k != o]
        W_ref, Wp_ref = reference.sgns_step(W, Wp, int(c), o, used, alpha)
        dW += W_ref - W
        dWp += Wp_ref - Wp
        ref_loss += reference.sgns_loss_and_gradients(W[c], Wp[o], Wp[used])[0]
    np.testing.assert_allclose(W1, W + dW, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(Wp1, Wp + dWp, rtol=1e-5, atol=1e-6)
    assert loss == pytest.approx(ref_loss, rel=1e-5)
    assert wu.sum() == len(centers) and wpu.sum() == len(ctx) + len(negatives)


def test_a_noise_word_no_merged_pair_used_is_neither_applied_nor_counted():
    """Two positions of the same context word 2 and the noise words [2, 5]: the first pair
    uses both (2 skipped: its own context), the second only the first (skipped too). So 5 is
    applied once and 2 only as a context, twice: 2's row moves by the two positives alone."""
    rng = np.random.default_rng(14)
    V, N = 8, 4
    W, Wp = make_params(rng, V, N)
    W1, Wp1 = W.copy(), Wp.copy()
    wu, wpu = np.zeros(V, np.int32), np.zeros(V, np.int32)
    kernel.sgns_update_positions(W1, Wp1, np.array([1, 3], np.int32), np.array([2, 2], np.int32),
                                 np.array([1, 2], np.int64), 2, np.array([2, 5], np.int32), np.array([2, 1], np.int64),
                                 0.05, np.zeros((2, N), np.float32), np.zeros((2, N), np.float32),
                                 np.zeros((3, N), np.float32), wu, wpu, False)
    assert wpu[2] == 2 and wpu[5] == 1 and wpu.sum() == 3
    positives = sum(reference.sgns_step(W, Wp, c, 2, [], 0.05)[1][2] - Wp[2] for c in (1, 3))
    np.testing.assert_allclose(Wp1[2], Wp[2] + positives, rtol=1e-5, atol=1e-6)


def test_one_position_is_sgns_update_bit_for_bit():
    """sgns_update is sgns_update_positions with one position: the same bits (and so the
    trainer at P = 1, which merges nothing, trains as before Step.merge existed)."""
    rng = np.random.default_rng(13)
    V, N = 12, 16
    W, Wp = make_params(rng, V, N)
    centers, negatives, uses = np.array([3, 1, 3, 8], np.int32), np.array([2, 6, 2], np.int32), np.array([3, 1, 2, 3])
    W1, Wp1 = W.copy(), Wp.copy()
    none = np.zeros(0, np.int32)
    a = kernel.sgns_update(W1, Wp1, centers, 4, 6, negatives, uses, 0.05, np.zeros((4, N), np.float32),
                           np.zeros((4, N), np.float32), none, none, True)
    W2, Wp2 = W.copy(), Wp.copy()
    b = kernel.sgns_update_positions(W2, Wp2, centers, np.array([6], np.int32), np.array([4], np.int64), 1, negatives,
                                     uses.astype(np.int64), 0.05, np.zeros((4, N), np.float32),
                                     np.zeros((1, N), np.float32), np.zeros((4, N), np.float32), none, none, True)
    assert a == b
    np.testing.assert_array_equal(W1.view(np.uint32), W2.view(np.uint32))
    np.testing.assert_array_equal(Wp1.view(np.uint32), Wp2.view(np.uint32))


def test_a_replicated_head_is_the_first_rows_of_the_tasks_rows():
    """train_stratum_head trains local rows [head; block]: on the same pairs and stream it gives
    the bits train_stratum gives on the concatenated matrices, and its counters count exactly
    the head rows' updates (what the head's combine collects)."""
    rng = np.random.default_rng(5)
    V, N, K = 40, 6, 7
    centers, contexts, counts = stratum_inputs(rng, V, n_pairs=2000)
    prob, alias = vocab.noise_table(counts)
    rates = rng.uniform(0.3, 4.7, size=V).astype(np.float32)
    noise = kernel.Noise(prob, alias, rates, float(rates.max()))
    step = kernel.Step(3, len(centers) - 2, 0.03, 0.01, np.uint64(4), 10)
    W0 = kernel.init_rows(np.arange(V), N, 2)
    Wp0 = (rng.normal(size=(V, N)) * 0.1).astype(np.float32)
    W, Wp = W0.copy(), Wp0.copy()
    wu, wpu = np.zeros(V, np.int32), np.zeros(V, np.int32)
    whole = kernel.train_stratum(W, Wp, centers, contexts, noise, step, wu, wpu)
    HW, Wk, HWp, Wpj = W0[:K].copy(), W0[K:].copy(), Wp0[:K].copy(), Wp0[K:].copy()
    hu, hpu = np.zeros(K, np.int32), np.zeros(K, np.int32)
    split = kernel.train_stratum_head(HW, Wk, HWp, Wpj, centers, contexts, noise, step, hu, hpu)
    assert split == whole
    np.testing.assert_array_equal(np.vstack([HW, Wk]).view(np.uint32), W.view(np.uint32))
    np.testing.assert_array_equal(np.vstack([HWp, Wpj]).view(np.uint32), Wp.view(np.uint32))
    np.testing.assert_array_equal(hu, wu[:K])
    np.testing.assert_array_equal(hpu, wpu[:K])
    assert hu.sum() > 0 and hpu.sum() > 0
