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
    loss = kernel.sgns_update(W, Wp, centers, len(centers), context, negatives, alpha, neu, gout, wu, wpu,
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


def test_window_distances_follow_dynamic_window():
    """With b ~ U{1..window}, a pair at distance d is formed with probability (window-d+1)/window."""
    window, n, repeats = 5, 400, 200
    counts = kernel.pair_distance_counts(n, window, 123, repeats)
    assert counts[0] == 0
    d = np.arange(1, window + 1)
    # away from the row ends, each position has 2 candidates at each distance d
    expected = 2 * (window - d + 1) / window * n * repeats
    edge = 2 * d * repeats  # positions within d of an end lose those pairs (upper bound)
    assert np.all(counts[1:] <= expected + 4 * np.sqrt(expected))
    assert np.all(counts[1:] >= expected - edge - 4 * np.sqrt(expected))
    ratios = counts[1:] / counts[1]
    np.testing.assert_allclose(ratios, (window - d + 1) / window, atol=0.01)


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


def test_train_rows_is_deterministic_and_learns():
    rng = np.random.default_rng(4)
    V, N = 30, 10
    ids = rng.integers(0, V, size=5000).astype(np.int32)
    offsets = np.arange(0, 5001, 100, dtype=np.int64)
    counts = np.bincount(ids, minlength=V).astype(np.int64) + 1
    keep, (prob, alias) = vocab.keep_probabilities(counts, 0.0), vocab.noise_table(counts)
    results = []
    for _ in range(2):
        W = ((rng.random((V, N), dtype=np.float32) - 0.5) / N).astype(np.float32) * 0 + 0.01
        Wp = np.zeros((V, N), np.float32)
        wu, wpu = np.zeros(V, np.int32), np.zeros(V, np.int32)
        out = kernel.train_rows(ids, offsets, W, Wp, keep, prob, alias, 3, 4, 0.025, 0.001, np.uint64(11), wu, wpu)
        results.append((W, Wp, out))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])
    loss, loss_pairs, pairs, kept = results[0][2]
    assert kept == 5000
    assert 2 * 5000 <= pairs <= 6 * 5000
    assert pairs / kernel.LOSS_EVERY * 0.8 < loss_pairs < pairs / kernel.LOSS_EVERY * 1.2
    # first loss on all-zero W' is exactly (K+1) log 2 per pair; training lowers it
    assert loss / loss_pairs < 5 * np.log(2)
