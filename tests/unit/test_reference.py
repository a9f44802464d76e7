"""The seeds' math: losses and gradients against central finite differences, and the SGNS
path against the naive softmax it approximates."""

import numpy as np
import pytest

from sparkw2v import reference


def numeric_grad(f, x, eps=1e-6):
    g = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + eps
        hi = f(x)
        x[i] = old - eps
        lo = f(x)
        x[i] = old
        g[i] = (hi - lo) / (2 * eps)
    return g


@pytest.fixture
def rng():
    return np.random.default_rng(7)


def test_softmax_gradients_match_finite_differences(rng):
    V, N, o = 7, 5, 3
    v_c = rng.normal(size=N)
    U = rng.normal(size=(V, N))
    loss, grad_v, grad_U = reference.softmax_loss_and_gradients(v_c, o, U)
    assert loss > 0
    num_v = numeric_grad(lambda v: reference.softmax_loss_and_gradients(v, o, U)[0], v_c.copy())
    num_U = numeric_grad(lambda u: reference.softmax_loss_and_gradients(v_c, o, u)[0], U.copy())
    np.testing.assert_allclose(grad_v, num_v, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(grad_U, num_U, rtol=1e-6, atol=1e-8)
    # dJ/dv_c = U^T (y_hat - y), written out
    s = U @ v_c
    y_hat = np.exp(s) / np.exp(s).sum()
    y = np.eye(V)[o]
    np.testing.assert_allclose(grad_v, U.T @ (y_hat - y), rtol=1e-12)


def test_sgns_gradients_match_finite_differences(rng):
    N, K = 6, 4
    v_c, u_o, u_neg = rng.normal(size=N), rng.normal(size=N), rng.normal(size=(K, N))
    loss, g_v, g_o, g_neg = reference.sgns_loss_and_gradients(v_c, u_o, u_neg)
    f_v = lambda v: reference.sgns_loss_and_gradients(v, u_o, u_neg)[0]
    f_o = lambda u: reference.sgns_loss_and_gradients(v_c, u, u_neg)[0]
    f_n = lambda n: reference.sgns_loss_and_gradients(v_c, u_o, n)[0]
    np.testing.assert_allclose(g_v, numeric_grad(f_v, v_c.copy()), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(g_o, numeric_grad(f_o, u_o.copy()), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(g_neg, numeric_grad(f_n, u_neg.copy()), rtol=1e-6, atol=1e-8)
    expected = -np.log(reference.sigmoid(u_o @ v_c)) - np.log(reference.sigmoid(-(u_neg @ v_c))).sum()
    assert loss == pytest.approx(expected, rel=1e-12)


def test_sgns_with_whole_vocabulary_as_noise_tracks_softmax_direction(rng):
    """With every other word as a noise sample, the SGNS center gradient points the way the
    exact softmax gradient does (positive cosine) on a tiny vocabulary."""
    V, N, o = 6, 4, 2
    cosines = []
    for _ in range(50):
        v_c = rng.normal(size=N) * 0.5
        U = rng.normal(size=(V, N)) * 0.5
        _, g_soft, _ = reference.softmax_loss_and_gradients(v_c, o, U)
        others = [w for w in range(V) if w != o]
        _, g_ns, _, _ = reference.sgns_loss_and_gradients(v_c, U[o], U[others])
        cosines.append(g_soft @ g_ns / np.linalg.norm(g_soft) / np.linalg.norm(g_ns))
    assert np.mean(cosines) > 0.5
    assert np.mean(np.array(cosines) > 0) > 0.9


def test_sgns_step_lowers_the_pair_loss(rng):
    V, N = 8, 5
    W, Wp = rng.normal(size=(V, N)) * 0.3, rng.normal(size=(V, N)) * 0.3
    c, o, negs = 1, 2, [3, 4, 5]
    before = reference.sgns_loss_and_gradients(W[c], Wp[o], Wp[negs])[0]
    W2, Wp2 = reference.sgns_step(W, Wp, c, o, negs, alpha=0.05)
    after = reference.sgns_loss_and_gradients(W2[c], Wp2[o], Wp2[negs])[0]
    assert after < before
