"""The SGNS SGD kernel: compiled with numba, no Spark, no I/O.

One call of :func:`train_stratum` trains one stratum of one cycle: the (center, context) pairs
whose center lies in the W block a task owns and whose context lies in the W' block it holds
(``pairs.generate_pairs`` forms and buckets them), applying skip-gram negative-sampling updates
(Mikolov et al. 2013, "Distributed Representations of Words and Phrases and their
Compositionality", eq. 4) to the two blocks in place. Noise words come from the held W' block
(count^0.75 restricted to it, as many per pair as ``layout.center_negative_rates`` says).

The pairs of one corpus position share their context word and their K noise words (Ji et al.
2016, "Parallelizing Word2Vec in Shared and Distributed Memory"), so one position is a small
dense m x (K+1) block of dot products. All gradients of a position are computed from the
vectors as they were before that position and then applied, i.e. each pair gets the textbook
SGD step of ``reference.sgns_gradients``. At P > 1 blocks a position's centers spread over
the W blocks, so one stratum holds one or two of its pairs; a step then also takes the
positions that follow, up to ``Step.merge`` pairs, sharing one draw of noise words
(:func:`sgns_update_positions`; each pair still trains against its own context word).

Random numbers come from a splitmix64 stream seeded by the caller, so a call is a pure
function of its inputs (seed included).

With a replicated head (``head``; :func:`train_stratum_head`) a task's local rows are the K
head rows followed by its block's rows: ``_row`` picks the matrix; :func:`train_stratum` passes
no head (None), and numba compiles that path without the choice: the same values and speed as
before the head existed.

With a large vocabulary most rows a position touches (its context, its noise words, the centers'
W rows) are not in the CPU's caches: the kernel draws the next position's noise words before it
applies this position's step (the stream's order unchanged) and asks the CPU to fetch the next
position's rows (``llvm.prefetch``), so that memory and arithmetic overlap. Neither changes a
value.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_TO_UNIT = 1.0 / 9007199254740992.0  # 2**-53
LOSS_EVERY = 16  # the reported loss is measured on every 16th SGD step (a log per score costs)


@intrinsic
def _prefetch(typingctx, matrix, row, col):
    """LLVM's ``llvm.prefetch`` (write intent, keep in all cache levels) of the address of
    ``matrix[row, col]`` (a 2-d array): a hint to the CPU, no effect on any value."""
    if not (isinstance(matrix, types.Array) and matrix.ndim == 2):
        return None

    def codegen(context, builder, signature, args):
        array_type = signature.args[0]
        array = context.make_array(array_type)(context, builder, args[0])
        indices = [context.cast(builder, value, kind, types.intp)
                   for value, kind in zip(args[1:], signature.args[1:])]
        pointer = cgutils.get_item_pointer2(context, builder, data=array.data,
                                            shape=cgutils.unpack_tuple(builder, array.shape),
                                            strides=cgutils.unpack_tuple(builder, array.strides),
                                            layout=array_type.layout, inds=indices, wraparound=False)
        byte_pointer = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        # opaque pointers (LLVM >= 15 as llvmlite builds it) name the intrinsic .p0, typed ones .p0i8
        name = "llvm.prefetch.p0" if str(byte_pointer) == "ptr" else "llvm.prefetch.p0i8"
        function = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [byte_pointer, i32, i32, i32]), name)
        builder.call(function, [builder.bitcast(pointer, byte_pointer), ir.Constant(i32, 1), ir.Constant(i32, 3),
                                ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return types.void(matrix, row, col), codegen


@njit(inline="always")
def _mix64(z):
    """splitmix64's finaliser (Steele, Lea & Flood 2014): a bijective hash of 64 bits."""
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


@njit(inline="always")
def _next_u64(state):
    """splitmix64: advance ``state`` (uint64[1]) and return 64 bits."""
    state[0] += _GOLDEN
    return _mix64(state[0])


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
def _softplus(x):
    """log(1 + exp(x)) without overflow."""
    if x > 0.0:
        return x + math.log1p(math.exp(-x))
    return math.log1p(math.exp(x))


@njit(inline="always")
def _row(head, block, r):
    """Row ``r`` of the rows [head; block] a task trains on: the replicated head's row ``r`` for
    r < K (K = head.shape[0]), else the block's row r - K. A view, no copy. ``head`` None: the
    block's row r, compiled without the branch (numba prunes it; the branch cost
    :func:`train_stratum` 23% of its rate)."""
    if head is None:
        return block[r]
    k = head.shape[0]
    if r < k:
        return head[r]
    return block[r - k]


@njit(inline="always")
def _add_rows(head, block, rows, n, grads, updates):
    """Row rows[q] of [head; block] (``_row``) += grads[q] for q < n; ``updates`` counts the
    rows below its length."""
    for q in range(n):
        r = rows[q]
        row = _row(head, block, r)
        for d in range(grads.shape[1]):
            row[d] += grads[q, d]
        if r < updates.shape[0]:
            updates[r] += 1


@njit(fastmath=True, error_model="numpy")
def _sgns_step(HW, W, HWp, Wp, centers, ctx, ends, n_pos, negatives, uses, alpha, neu, grad_pos, grad_out,
               used, w_updates, wp_updates, with_loss):
    """:func:`sgns_update_positions` on rows [HW; W] and [HWp; Wp] (``_row``); an update
    counter counts only the rows below its length. ``grad_out[s]`` (s >= 1) holds noise word
    s - 1's gradient; ``grad_pos[r]`` position r's context gradient (a caller with one position
    may pass ``grad_out[:1]``); ``used[s]`` (scratch, >= K + 1 entries) whether some pair used
    noise word s - 1: one no pair used (every pair that drew it has it as its context) is
    neither applied nor counted."""
    n_dim = W.shape[1]
    n_out = negatives.shape[0] + 1
    loss = 0.0
    for s in range(1, n_out):
        used[s] = False
        for d in range(n_dim):
            grad_out[s, d] = 0.0
    j0 = 0
    for r in range(n_pos):
        context = ctx[r]
        for d in range(n_dim):
            grad_pos[r, d] = 0.0
        for j in range(j0, ends[r]):
            wc = _row(HW, W, centers[j])
            for d in range(n_dim):
                neu[j, d] = 0.0
            for s in range(uses[j] + 1):
                if s == 0:
                    o = context
                else:
                    o = negatives[s - 1]
                    if o == context:
                        continue
                wo = _row(HWp, Wp, o)
                f = np.float32(0.0)
                for d in range(n_dim):
                    f += wc[d] * wo[d]
                sig = 1.0 / (1.0 + math.exp(-f))
                if s == 0:
                    g = np.float32((1.0 - sig) * alpha)
                    if with_loss:
                        loss += _softplus(-f)
                    grad = grad_pos[r]
                else:
                    g = np.float32(-sig * alpha)
                    if with_loss:
                        loss += _softplus(f)
                    grad = grad_out[s]
                    used[s] = True
                for d in range(n_dim):
                    neu[j, d] += g * wo[d]
                    grad[d] += g * wc[d]
        j0 = ends[r]
    _add_rows(HW, W, centers, ends[n_pos - 1], neu, w_updates)
    _add_rows(HWp, Wp, ctx, n_pos, grad_pos, wp_updates)
    for s in range(1, n_out):
        o = negatives[s - 1]
        if not used[s]:  # e.g. the context word of every pair that drew it
            continue
        wo = _row(HWp, Wp, o)
        for d in range(n_dim):
            wo[d] += grad_out[s, d]
        if o < wp_updates.shape[0]:
            wp_updates[o] += 1
    return loss


@njit(fastmath=True, cache=True, error_model="numpy")
def sgns_update_positions(W, Wp, centers, ctx, ends, n_pos, negatives, uses, alpha, neu, grad_pos, grad_out,
                          w_updates, wp_updates, with_loss):
    """One SGD step over ``n_pos`` consecutive positions that share their noise words: position
    r's pairs are (centers[j], ctx[r]) for ends[r - 1] <= j < ends[r] (ends[-1] read as 0), and
    pair j uses the first ``uses[j]`` noise words, skipping one equal to its own context word.

    Every pair gets the textbook gradient of :func:`sgns_update` (Mikolov et al. 2013, eq. 4)
    from the vectors before this call; the sum is applied. With one position it is
    :func:`sgns_update`, bit for bit. More positions share one draw of noise words where, at
    many blocks, each would hold one or two pairs (``Step.merge``).

    Args:
        W, Wp: (V, N) float32 center and context vectors; updated in place.
        centers: (>= ends[n_pos - 1],) int32 center word ids.
        ctx: (>= n_pos,) int32 context word id of each position; ends: (>= n_pos,) int64.
        negatives: (K,) int32 noise word ids; uses: (>= ends[n_pos - 1],) int, each <= K.
        alpha: learning rate.
        neu: (>= ends[n_pos - 1], N) float32, grad_pos: (>= n_pos, N) float32, grad_out:
            (K + 1, N) float32 scratch.
        w_updates, wp_updates: (V,) int32 update counters (empty: no counting).
        with_loss: also compute the loss.

    Returns:
        float64: the summed SGNS loss of the pairs (nats), before the update (0 unless ``with_loss``).
    """
    used = np.empty(grad_out.shape[0], np.bool_)
    return _sgns_step(None, W, None, Wp, centers, ctx, ends, n_pos, negatives, uses, alpha, neu, grad_pos,
                      grad_out, used, w_updates, wp_updates, with_loss)


@njit(fastmath=True, cache=True, error_model="numpy")
def sgns_update(W, Wp, centers, m, context, negatives, uses, alpha, neu, grad_out,
                w_updates, wp_updates, with_loss):
    """One position's SGNS step: pairs (centers[j], context) for j < m, shared negatives (center
    j uses the first ``uses[j]`` of them).

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
        uses: (>= m,) int: how many of the negatives each center uses (<= K).
        alpha: learning rate.
        neu: (>= m, N) float32 scratch; grad_out: (K + 1, N) float32 scratch.
        w_updates, wp_updates: (V,) int32; incremented once per row update applied (pass
            empty arrays to skip the counting).
        with_loss: also compute the loss (costs a log per score; the trainer samples it).

    Returns:
        float64: the summed SGNS loss of the m pairs (nats), before the update (0 unless
        ``with_loss``).
    """
    return sgns_update_positions(W, Wp, centers, np.full(1, context, np.int32), np.full(1, m, np.int64), 1, negatives,
                                 uses, alpha, neu, grad_out[:1], grad_out, w_updates, wp_updates, with_loss)


class Noise(NamedTuple):
    """Where a stratum's noise words come from and how many each center draws.

    Attributes:
        prob, alias: (n_j,) float64 and (n_j,) int32 alias table of count^0.75 restricted to the
            W' block (local rows; :func:`build_alias`); (K + n_j,) with a head of K words.
        rates: (n_k,) float32 noise words per pair of each center of the W block with this W'
            block (``layout.center_negative_rates``); (K + n_k,) with a head.
        max_rate: float, an upper bound of ``rates`` (sizes the scratch arrays).
    """

    prob: np.ndarray
    alias: np.ndarray
    rates: np.ndarray
    max_rate: float


class Step(NamedTuple):
    """Which pairs of a stratum to train, at which learning rate, with which random stream.

    Attributes:
        start, stop: the pairs ``[start, stop)``.
        alpha_start, alpha_end: learning rate at the first pair and after the last; linear in
            between.
        seed: uint64 seed of the call's random stream.
        max_group: the largest number of pairs of one position (2 x window).
        merge: 0: one SGD step a position (its pairs share their noise words); n > 0: a step
            also takes the positions that follow while its pairs stay within n, all sharing
            one draw of noise words. At P blocks a position's 2 b centers spread over P W
            blocks, so in one stratum it holds one or two pairs and would draw noise words and
            update its noise words' W' rows for each: merging restores what a position shares
            at P = 1 (``worker.merge_pairs``).
    """

    start: int
    stop: int
    alpha_start: float
    alpha_end: float
    seed: np.uint64
    max_group: int
    merge: int = 0


@njit(inline="always")
def _position(contexts, i, stop, group):
    """(context word, number of pairs m) of the position whose first pair is ``i``: the pairs
    from ``i`` on that share its context word, at most ``group`` of them."""
    o = contexts[i]
    if o < 0:
        o = ~o
    m = 1
    while i + m < stop and m < group and contexts[i + m] == o:
        m += 1
    return o, m


@njit(inline="always")
def _gather(contexts, i, stop, group, merge, ctx, ends):
    """The positions of the SGD step whose first pair is ``i``: the position there and, with
    ``merge`` > 0, those that follow while the step's pairs stay within ``merge``. Their context
    words into ``ctx``, their pairs' cumulative ends (counted from ``i``) into ``ends``; returns
    (number of positions, number of pairs)."""
    o, m = _position(contexts, i, stop, group)
    ctx[0] = o
    ends[0] = m
    n_pos = 1
    total = m
    while merge > 0 and i + total < stop:
        o, m = _position(contexts, i + total, stop, group)
        if total + m > merge:
            break
        ctx[n_pos] = o
        total += m
        ends[n_pos] = total
        n_pos += 1
    return n_pos, total


@njit(inline="always")
def _draw_position(state, noise, centers, i, m, cap, uses, negatives):
    """A step's random draws, in the stream's order: one uniform u, then as many noise words as
    its most demanding center uses (center q uses floor(rates[c] + u), at most ``cap``), into
    ``uses[:m]`` and ``negatives``. Returns that number k."""
    u = _uniform(state)
    k = 0
    for q in range(m):
        uses[q] = min(np.int64(noise.rates[centers[i + q]] + u), cap)
        k = max(k, uses[q])
    for q in range(k):
        negatives[q] = _draw_noise(state, noise.prob, noise.alias)
    return k


@njit(inline="always")
def _prefetch_row(matrix, row):
    """Ask the CPU to bring row ``row`` of a (V, N) float32 matrix (N >= 1) into its caches
    (one hint a 64-byte line, and one for its last element); reads nothing, changes nothing."""
    for col in range(0, matrix.shape[1], 16):
        _prefetch(matrix, row, col)
    _prefetch(matrix, row, matrix.shape[1] - 1)  # a row that starts inside a line ends in one more


@njit(inline="always")
def _prefetch_local(head, block, r):
    """:func:`_prefetch_row` of row ``r`` of [head; block] (``_row``)."""
    if head is None:
        _prefetch_row(block, r)
    elif r < head.shape[0]:
        _prefetch_row(head, r)
    else:
        _prefetch_row(block, r - head.shape[0])


@njit(fastmath=True, error_model="numpy", nogil=True)
def _train(HW, Wk, HWp, Wpj, centers, contexts, noise, step, w_updates, wp_updates):
    """:func:`train_stratum_head`'s body (``train_stratum`` is it with no head: HW, HWp None)."""
    n_dim = Wk.shape[1]
    state = _seeded_state(step.seed)
    cap = np.int64(noise.max_rate) + 1
    group = max(step.max_group, 1)
    merge = step.merge
    width = max(group, merge)  # the most pairs, and positions, of one step
    negatives = np.empty((2, cap), np.int32)  # this step's noise words and the next one's
    uses = np.empty((2, width), np.int64)
    ctx = np.empty((2, width), np.int32)
    ends = np.empty((2, width), np.int64)
    neu = np.empty((width, n_dim), np.float32)
    grad_pos = np.empty((width, n_dim), np.float32)
    grad_out = np.empty((cap + 1, n_dim), np.float32)
    used = np.empty(cap + 1, np.bool_)
    start, stop = step.start, step.stop
    total = stop - start
    slope = (step.alpha_end - step.alpha_start) / max(total, 1)
    loss = 0.0
    loss_pairs = 0
    position = 0
    cur = 0
    i = start
    if i < stop:
        n, m = _gather(contexts, i, stop, group, merge, ctx[cur], ends[cur])
        k = _draw_position(state, noise, centers, i, m, cap, uses[cur], negatives[cur])
    while i < stop:
        # The next step's draws come before this step's update (the stream's order is the
        # same), so that its rows can be fetched from memory while this one computes.
        nxt = i + m
        if nxt < stop:
            n2, m2 = _gather(contexts, nxt, stop, group, merge, ctx[1 - cur], ends[1 - cur])
            k2 = _draw_position(state, noise, centers, nxt, m2, cap, uses[1 - cur], negatives[1 - cur])
            for q in range(n2):
                _prefetch_local(HWp, Wpj, ctx[1 - cur, q])
            for q in range(k2):
                _prefetch_local(HWp, Wpj, negatives[1 - cur, q])
            for q in range(m2):
                _prefetch_local(HW, Wk, centers[nxt + q])
        sampled = position % LOSS_EVERY == 0
        position += 1
        alpha = step.alpha_start + slope * (i - start)
        loss += _sgns_step(HW, Wk, HWp, Wpj, centers[i:i + m], ctx[cur], ends[cur], n, negatives[cur, :k], uses[cur],
                           alpha, neu, grad_pos, grad_out, used, w_updates, wp_updates, sampled)
        if sampled:
            loss_pairs += m
        i = nxt
        if i < stop:
            n, m, k = n2, m2, k2
            cur = 1 - cur
    return loss, loss_pairs, total


@njit(fastmath=True, cache=True, error_model="numpy", nogil=True)
def train_stratum(Wk, Wpj, centers, contexts, noise, step, w_updates, wp_updates):
    """Train the pairs ``step.start:step.stop`` of one stratum, in place on one W block and one
    W' block.

    The pairs of one corpus position (a context ``~row`` starts one; the first pair of the
    range starts one in any case) form one SGD step with shared noise words
    (:func:`sgns_update`); with ``step.merge`` > 0 a step also takes the positions that follow
    while its pairs stay within ``step.merge`` (:func:`sgns_update_positions`). Center c uses
    ``noise.rates[c]`` noise words, rounded stochastically with one uniform number u per step
    (floor(rate + u)): its integer part, plus one with probability its fractional part; the
    step draws as many as its most demanding center uses.

    Args:
        Wk: (n_k, N) float32, the W block (center vectors); updated in place.
        Wpj: (n_j, N) float32, the W' block (context vectors); updated in place.
        centers, contexts: (n,) int32 local rows of the pairs' words in Wk and Wpj (a context
            ``~row`` marks the first pair of a position).
        noise: :class:`Noise` of the W' block and the W block's centers.
        step: :class:`Step`.
        w_updates, wp_updates: (n_k,) and (n_j,) int32 update counters, incremented in place
            (empty arrays: no counting).

    Returns:
        (loss_sum float64 in nats over the sampled pairs, loss_pairs int64 pairs sampled for
        the loss (those of every LOSS_EVERY-th step), pairs int64 trained).

    Compiled without the GIL: a task's block server and sender (``peer``) receive and send W'
    blocks while this trains, not only between strata.
    """
    return _train(None, Wk, None, Wpj, centers, contexts, noise, step, w_updates, wp_updates)


@njit(fastmath=True, cache=True, error_model="numpy", nogil=True)
def train_stratum_head(HW, Wk, HWp, Wpj, centers, contexts, noise, step, w_updates, wp_updates):
    """:func:`train_stratum` with a replicated head of K words: local rows r < K are the head's
    rows ``HW[r]`` / ``HWp[r]`` (the task's working copies, trained in place), rows r >= K the
    blocks' rows r - K (``layout.BlockLayout.local``).

    Args:
        HW, HWp: (K, N) float32 head rows of W and W'; updated in place.
        Wk, Wpj, centers, contexts, noise, step: as :func:`train_stratum`, rows counted from K.
        w_updates, wp_updates: int32 update counters of the first len(...) local rows (the
            head's K: which head rows this stratum moved; empty: no counting).

    Returns:
        as :func:`train_stratum`.
    """
    return _train(HW, Wk, HWp, Wpj, centers, contexts, noise, step, w_updates, wp_updates)


@njit(cache=True)
def init_rows(ids, vector_size, seed):
    """Initial center vectors of the words ``ids``: (n, vector_size) float32, each component
    uniform in [-0.5 / N, 0.5 / N) (word2vec C tool).

    Row w depends only on (seed, w), so any block of W can be created where it lives, without
    the rest of the matrix.
    """
    out = np.empty((ids.shape[0], vector_size), np.float32)
    state = np.empty(1, np.uint64)
    for r in range(ids.shape[0]):
        state[0] = _mix64(np.uint64(seed) ^ _mix64(np.uint64(ids[r]) + _GOLDEN))
        for d in range(vector_size):
            out[r, d] = np.float32((_uniform(state) - 0.5) / vector_size)
    return out


# Small compiled probes of the kernel's own random draws, for statistical tests.

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
