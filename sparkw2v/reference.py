"""The seeds' losses and gradients in plain numpy (float64): the yardstick for the kernel.

Notation of Rong (2014), "word2vec Parameter Learning Explained", and docs/skipgram.md:
v_c = W[c] (center), u_w = W'[w] (context/output), s_j = u_j . v_c, y_hat = softmax(s).
"""

from __future__ import annotations

import numpy as np


def sigmoid(x):
    """1 / (1 + exp(-x)), elementwise."""
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


def softmax_loss_and_gradients(v_c: np.ndarray, o: int, U: np.ndarray):
    """Naive (full) softmax loss of one (center, context) pair and its gradients.

    J = -log y_hat_o = -s_o + log sum_j exp(s_j) (Rong 2014, eq. 7 and 21);
    dJ/dv_c = U^T (y_hat - y); dJ/du_w = (y_hat_w - y_w) v_c.

    Args:
        v_c: (N,) center vector; o: context word id; U: (V, N) context vectors (rows u_w).

    Returns:
        (J float, dJ/dv_c (N,), dJ/dU (V, N)), float64.
    """
    v_c = np.asarray(v_c, np.float64)
    U = np.asarray(U, np.float64)
    s = U @ v_c
    shift = s.max()
    log_z = shift + np.log(np.exp(s - shift).sum())
    y_hat = np.exp(s - log_z)
    y = np.zeros_like(y_hat)
    y[o] = 1.0
    loss = float(log_z - s[o])
    grad_v = U.T @ (y_hat - y)
    grad_U = np.outer(y_hat - y, v_c)
    return loss, grad_v, grad_U


def sgns_loss_and_gradients(v_c: np.ndarray, u_o: np.ndarray, u_neg: np.ndarray):
    """Negative-sampling loss of one pair and its gradients (Mikolov et al. 2013, eq. 4).

    J = -log s(u_o . v_c) - sum_k log s(-u_k . v_c);
    dJ/dv_c = (s(u_o . v_c) - 1) u_o + sum_k s(u_k . v_c) u_k;
    dJ/du_o = (s(u_o . v_c) - 1) v_c;  dJ/du_k = s(u_k . v_c) v_c.

    Args:
        v_c: (N,) center vector; u_o: (N,) context vector; u_neg: (K, N) noise vectors.

    Returns:
        (J float, dJ/dv_c (N,), dJ/du_o (N,), dJ/du_neg (K, N)), float64.
    """
    v_c = np.asarray(v_c, np.float64)
    u_o = np.asarray(u_o, np.float64)
    u_neg = np.asarray(u_neg, np.float64).reshape(-1, v_c.shape[0])
    pos = sigmoid(u_o @ v_c)
    neg = sigmoid(u_neg @ v_c)
    loss = float(-np.log(pos) - np.log(1.0 - neg).sum())
    grad_v = (pos - 1.0) * u_o + neg @ u_neg
    grad_o = (pos - 1.0) * v_c
    grad_neg = neg[:, None] * v_c[None, :]
    return loss, grad_v, grad_o, grad_neg


def sgns_step(W: np.ndarray, Wp: np.ndarray, c: int, o: int, negatives, alpha: float):
    """The textbook SGD step of one pair: all gradients from the pre-update vectors.

    Noise words equal to ``o`` are skipped (C tool convention); repeated noise words add up.

    Returns:
        (new W, new Wp) as float64 copies.
    """
    W = np.array(W, np.float64)
    Wp = np.array(Wp, np.float64)
    negatives = [k for k in negatives if k != o]
    _, grad_v, grad_o, grad_neg = sgns_loss_and_gradients(W[c], Wp[o], Wp[negatives])
    new_W, new_Wp = W.copy(), Wp.copy()
    new_W[c] -= alpha * grad_v
    new_Wp[o] -= alpha * grad_o
    for k, g in zip(negatives, grad_neg):
        new_Wp[k] -= alpha * g
    return new_W, new_Wp
