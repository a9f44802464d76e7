"""The SGNS SGD kernel: compiled with numba, no Spark, no I/O.

One call trains one partition's share of a round: it subsamples each row afresh, draws a
dynamic window per position, draws K noise words per position and applies skip-gram
negative-sampling updates (Mikolov et al. 2013, "Distributed Representations of Words and
Phrases and their Compositionality", eq. 4) to ``W`` (center/input vectors) and ``W'``
(context/output vectors) in place.

Pair generation follows the word2vec C tool: for each position i of a (subsampled) row a
window b is drawn uniformly from 1..window, and every word w_j with 0 < |i - j| <= b forms a
pair (center = w_j, context = w_i); pairs never cross a row. The K noise words are drawn once
per position i and shared by its pairs (Ji et al. 2016, "Parallelizing Word2Vec in Shared and
Distributed Memory"), so one position is a small dense m x (K+1) block of dot products. All
gradients of a position are computed from the vectors as they were before that position and
then applied, i.e. each pair gets the textbook SGD step of ``reference.sgns_gradients``.

Random numbers come from a splitmix64 stream seeded by the caller, so a call is a pure
function of its inputs (seed included).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_TO_UNIT = 1.0 / 9007199254740992.0  # 2**-53
LOSS_EVERY = 16  # the reported loss is measured on every 16th position (a log per score costs)


@njit(inline="always")
def _next_u64(state):
    """splitmix64 (Steele, Lea & Flood 2014): advance ``state`` (uint64[1]) and return 64 bits."""
    state[0] += _GOLDEN
    z = state[0]
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


@njit(inline="always")
def _seeded_state(seed):
    """A fresh splitmix64 state (uint64[1]) for ``seed``."""
    state = np.empty(1, np.uint64)
    state[0] = np.uint64(seed)
    return state


@njit(inline="always")
def _uniform(state):
    """Uniform float64 in [0, 1)."""
    return np.float64(_next_u64(state) >> np.uint64(11)) * _TO_UNIT


@njit(inline="always")
def _draw_window(state, window):
    """Dynamic window b, uniform on 1..window."""
    return 1 + np.int64(_uniform(state) * window)


@njit(inline="always")
def _draw_noise(state, noise_prob, noise_alias):
    """One word id drawn from the noise distribution by its alias table (Walker 1977): one
    uniform number and two table reads, whatever the vocabulary size."""
    size = noise_prob.shape[0]
    u = _uniform(state) * size
    i = min(np.int64(u), size - 1)
    if u - i < noise_prob[i]:
        return i
    return np.int64(noise_alias[i])


@njit(cache=True)
def build_alias(weights):
    """Alias table of the distribution P(w) ~ weights[w] (Vose 1991, "A linear algorithm for
    generating random numbers with a given distribution"; Walker 1977).

    Args:
        weights: (V,) float64, non-negative, positive sum.

    Returns:
        (prob (V,) float64 in [0, 1], alias (V,) int32): draw i uniform on 0..V-1, then keep
        i with probability prob[i], else take alias[i]. P(w) = (prob[w] + sum over i with
        alias[i] = w of (1 - prob[i])) / V.
    """
    size = weights.shape[0]
    scaled = weights / weights.sum() * size
    prob = np.ones(size, np.float64)
    alias = np.arange(size).astype(np.int32)
    small = np.empty(size, np.int64)
    large = np.empty(size, np.int64)
    n_small = 0
    n_large = 0
    for i in range(size):
        if scaled[i] < 1.0:
            small[n_small] = i
            n_small += 1
        else:
            large[n_large] = i
            n_large += 1
    while n_small > 0 and n_large > 0:
        n_small -= 1
        s = small[n_small]
        g = large[n_large - 1]
        prob[s] = scaled[s]
        alias[s] = g
        scaled[g] = (scaled[g] + scaled[s]) - 1.0
        if scaled[g] < 1.0:
            n_large -= 1
            small[n_small] = g
            n_small += 1
    # what is left has (up to rounding) probability 1: prob stays 1
    return prob, alias


@njit(inline="always")
def _subsample_row(ids, start, stop, keep_prob, state, out):
    """Copy ids[start:stop] into ``out``, keeping word w with probability keep_prob[w].

    Returns the number of words kept.
    """
    n = 0
    for t in range(start, stop):
        w = ids[t]
        p = keep_prob[w]
        if p >= 1.0 or _uniform(state) < p:
            out[n] = w
            n += 1
    return n


@njit(inline="always")
def _gather_window(row, n, i, b, centers):
    """The words within distance b of position i of row[:n] (i excluded) into ``centers``.

    Returns how many were gathered (at most 2 b).
    """
    m = 0
    lo = max(0, i - b)
    hi = min(n, i + b + 1)
    for j in range(lo, hi):
        if j != i:
            centers[m] = row[j]
            m += 1
    return m


@njit(inline="always")
def _softplus(x):
    """log(1 + exp(x)) without overflow."""
    if x > 0.0:
        return x + math.log1p(math.exp(-x))
    return math.log1p(math.exp(x))


@njit(fastmath=True, cache=True, error_model="numpy")
def sgns_update(W, Wp, centers, m, context, negatives, alpha, neu, grad_out,
                w_updates, wp_updates, with_loss):
    """One position's SGNS step: pairs (centers[j], context) for j < m, shared negatives.

    For each pair, J = -log s(u_o.v_c) - sum_k log s(-u_k.v_c) (Mikolov et al. 2013, eq. 4);
    dJ/dv_c = (s(u_o.v_c) - 1) u_o + sum_k s(u_k.v_c) u_k, dJ/du_o = (s(u_o.v_c) - 1) v_c,
    dJ/du_k = s(u_k.v_c) v_c. Every gradient is computed from the vectors before this call,
    then ``W[c] -= alpha dJ/dv_c`` and ``Wp[o] -= alpha dJ/du_o`` are applied, summed over pairs.
    A noise word equal to the context word is skipped (C tool convention).

    Args:
        W: (V, N) float32, center vectors v; updated in place.
        Wp: (V, N) float32, context vectors u; updated in place.
        centers: (>= m,) int32 center word ids.
        m: number of pairs.
        context: context word id o.
        negatives: (K,) int32 noise word ids.
        alpha: learning rate.
        neu: (>= m, N) float32 scratch; grad_out: (K + 1, N) float32 scratch.
        w_updates, wp_updates: (V,) int32; incremented once per row update applied.
        with_loss: also compute the loss (costs a log per score; the trainer samples it).

    Returns:
        float64: the summed SGNS loss of the m pairs (nats), before the update (0 unless
        ``with_loss``).
    """
    n_dim = W.shape[1]
    n_out = negatives.shape[0] + 1
    loss = 0.0
    for s in range(n_out):
        for d in range(n_dim):
            grad_out[s, d] = 0.0
    for j in range(m):
        c = centers[j]
        for d in range(n_dim):
            neu[j, d] = 0.0
        for s in range(n_out):
            if s == 0:
                o = context
            else:
                o = negatives[s - 1]
                if o == context:
                    continue
            f = np.float32(0.0)
            for d in range(n_dim):
                f += W[c, d] * Wp[o, d]
            sig = 1.0 / (1.0 + math.exp(-f))
            if s == 0:
                g = np.float32((1.0 - sig) * alpha)
                if with_loss:
                    loss += _softplus(-f)
            else:
                g = np.float32(-sig * alpha)
                if with_loss:
                    loss += _softplus(f)
            for d in range(n_dim):
                neu[j, d] += g * Wp[o, d]
                grad_out[s, d] += g * W[c, d]
    for j in range(m):
        c = centers[j]
        for d in range(n_dim):
            W[c, d] += neu[j, d]
        w_updates[c] += 1
    for s in range(n_out):
        if s == 0:
            o = context
        else:
            o = negatives[s - 1]
            if o == context:
                continue
        for d in range(n_dim):
            Wp[o, d] += grad_out[s, d]
        wp_updates[o] += 1
    return loss


@njit(fastmath=True, cache=True, error_model="numpy")
def train_rows(ids, offsets, W, Wp, keep_prob, noise_prob, noise_alias, window, negative,
               alpha_start, alpha_end, seed, w_updates, wp_updates):
    """Train SGNS on rows of word ids, in place on W and Wp.

    Args:
        ids: (T,) int32 word ids, rows concatenated.
        offsets: (R + 1,) int64; row r is ids[offsets[r]:offsets[r + 1]].
        W, Wp: (V, N) float32 center and context vectors; updated in place.
        keep_prob: (V,) float64 subsampling keep probability per word (vocab.keep_probabilities).
        noise_prob, noise_alias: (V,) float64 and (V,) int32 alias table of the noise
            distribution (vocab.noise_table).
        window: maximum window (words); negative: K noise words per position.
        alpha_start, alpha_end: learning rate at the first and after the last word; linear in
            the raw position in between (updated per row).
        seed: uint64 seed of this call's random stream.
        w_updates, wp_updates: (V,) int32 update counters, incremented in place.

    Returns:
        (loss_sum float64 in nats over the sampled pairs, loss_pairs int64 pairs sampled for
        the loss (those of every LOSS_EVERY-th position), pairs int64, words_kept int64).
    """
    n_dim = W.shape[1]
    state = _seeded_state(seed)
    n_rows = offsets.shape[0] - 1
    if n_rows <= 0:
        return 0.0, 0, 0, 0
    first = offsets[0]
    total = offsets[n_rows] - first
    max_len = 0
    for r in range(n_rows):
        max_len = max(max_len, offsets[r + 1] - offsets[r])
    row = np.empty(max(max_len, 1), np.int32)
    centers = np.empty(2 * window, np.int32)
    negatives = np.empty(negative, np.int32)
    neu = np.empty((2 * window, n_dim), np.float32)
    grad_out = np.empty((negative + 1, n_dim), np.float32)
    loss = 0.0
    loss_pairs = 0
    pairs = 0
    kept = 0
    position = 0
    slope = (alpha_end - alpha_start) / max(total, 1)
    for r in range(n_rows):
        alpha = alpha_start + slope * (offsets[r] - first)
        n = _subsample_row(ids, offsets[r], offsets[r + 1], keep_prob, state, row)
        kept += n
        for i in range(n):
            b = _draw_window(state, window)
            m = _gather_window(row, n, i, b, centers)
            if m == 0:
                continue
            for k in range(negative):
                negatives[k] = _draw_noise(state, noise_prob, noise_alias)
            sampled = position % LOSS_EVERY == 0
            position += 1
            loss += sgns_update(W, Wp, centers, m, row[i], negatives, alpha, neu, grad_out,
                                w_updates, wp_updates, sampled)
            if sampled:
                loss_pairs += m
            pairs += m
    return loss, loss_pairs, pairs, kept


# Small compiled probes of the kernel's own random draws, for statistical tests.

@njit(cache=True)
def pair_distance_counts(n, window, seed, repeats):
    """Histogram (index = |i - j|, 0..window) of the pairs the kernel forms on a row of n words."""
    state = _seeded_state(seed)
    row = np.arange(n).astype(np.int32)
    centers = np.empty(2 * window, np.int32)
    counts = np.zeros(window + 1, np.int64)
    for _ in range(repeats):
        for i in range(n):
            b = _draw_window(state, window)
            m = _gather_window(row, n, i, b, centers)
            for j in range(m):
                counts[abs(centers[j] - i)] += 1
    return counts


@njit(cache=True)
def noise_counts(noise_prob, noise_alias, draws, seed):
    """How often each word id is drawn as a noise word in ``draws`` draws."""
    state = _seeded_state(seed)
    counts = np.zeros(noise_prob.shape[0], np.int64)
    for _ in range(draws):
        counts[_draw_noise(state, noise_prob, noise_alias)] += 1
    return counts


@njit(cache=True)
def subsample(ids, keep_prob, seed):
    """The kernel's subsampling of one row: the kept ids, in order."""
    state = _seeded_state(seed)
    out = np.empty(ids.shape[0], np.int32)
    n = _subsample_row(ids, 0, ids.shape[0], keep_prob, state, out)
    return out[:n]
