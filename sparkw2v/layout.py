"""Words to blocks, blocks to tasks, and the noise distribution restricted to a block.

Stratified block SGD (Gemulla et al. 2011, "Large-scale matrix factorization with distributed
stochastic gradient descent"; Lerer et al. 2019, PyTorch-BigGraph) cuts ``W`` and ``W'`` into
``P`` blocks of words. In sub-epoch ``s`` the task holding W block ``k`` trains the stratum of
(center, context) pairs with center in block ``k`` and context in block ``(k + s) mod P``, so
no two tasks ever touch the same row. See ``../shared/docs/scaleout.md``.

Everything here is a pure function of its arguments:
the driver and every executor compute the same layout without exchanging it. No Spark, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from .kernel import _uniform

_LABEL_STREAM = 0x6B6C  # separates the labelling's random stream from the other uses of the seed


# Words heavier than this share of a block's mean weight are dealt one at a time (the head);
# the rest (the tail) one word of every band of P to each block.
HEAD_SHARE = 1e-3
# A head word goes to a random block among those within this many times its weight of the
# lightest block: random enough that the grouping changes every epoch, balanced to ~1%.
HEAD_SLACK = 3.0


@njit(cache=True)
def _deal(weights, num_blocks, seed, head_share, slack):
    V = weights.shape[0]
    labels = np.empty(V, np.int32)
    loads = np.zeros(num_blocks, np.float64)
    state = np.empty(1, np.uint64)
    state[0] = np.uint64(seed)
    threshold = head_share * weights.sum() / num_blocks
    i = 0
    while i < V and weights[i] > threshold:
        lightest = loads.min()
        bound = lightest + slack * weights[i]
        n = 0
        for b in range(num_blocks):
            if loads[b] <= bound:
                n += 1
        pick = min(np.int64(_uniform(state) * n), n - 1)
        for b in range(num_blocks):
            if loads[b] <= bound:
                if pick == 0:
                    labels[i] = b
                    loads[b] += weights[i]
                    break
                pick -= 1
        i += 1
    perm = np.arange(num_blocks).astype(np.int32)
    while i < V:
        for b in range(num_blocks - 1, 0, -1):  # Fisher-Yates
            c = min(np.int64(_uniform(state) * (b + 1)), b)
            perm[b], perm[c] = perm[c], perm[b]
        for b in range(min(num_blocks, V - i)):
            labels[i + b] = perm[b]
        i += num_blocks
    return labels


def block_labels(weights: np.ndarray, num_blocks: int, seed: int, epoch: int) -> np.ndarray:
    """The block of every word in ``epoch``: (V,) int32 in [0, num_blocks).

    Balanced and random afresh every epoch (scaleout.md, section 3.1). The head of the Zipf
    distribution (words heavier than HEAD_SHARE of a block's mean weight) is dealt word by word,
    heaviest first, each to a random block among those within HEAD_SLACK times the word's weight
    of the lightest block (randomised longest-processing-time scheduling); the tail is cut into
    bands of P consecutive ids, each dealt one word per block by a random permutation. Blocks
    then carry the same expected number of pairs to within about a percent (so no task waits for
    a slow neighbour) and hold the same number of words up to the few the head skews, and the
    words that train together change from epoch to epoch.

    Args:
        weights: (V,) float64, the expected share of each word among the pairs (its count times
            its keep probability, :func:`pair_weights`), non-increasing with the id.
        num_blocks: P >= 1.
        seed, epoch: select the random deal.
    """
    weights = np.asarray(weights, np.float64)
    if weights.shape[0] <= 0 or num_blocks <= 0:
        raise ValueError("the vocabulary and num_blocks must not be empty")
    if num_blocks == 1:
        return np.zeros(weights.shape[0], np.int32)
    return _deal(weights, num_blocks, np.uint64(_label_seed(seed, epoch)), HEAD_SHARE, HEAD_SLACK)


def _label_seed(seed: int, epoch: int) -> int:
    return int(np.random.SeedSequence([seed, epoch, _LABEL_STREAM]).generate_state(1, np.uint64)[0])


@dataclass(frozen=True)
class BlockLayout:
    """Which words each block holds, and where each word sits inside its block.

    With a replicated head (``head`` = K > 0, the K most frequent words, ids 0..K-1; not the
    Zipf head that :func:`block_labels` deals word by word, which is the block words') those words
    belong to no block: every task holds their rows, and a task's local rows are [head; block]
    (the head's K rows first, ``kernel.train_stratum_head``).

    Attributes:
        labels: (V,) int32, the block of each word id; -1 for the head's words.
        order: (V - K,) int64, the block words' ids grouped by block, ascending inside a block.
        starts: (P + 1,) int64; block b holds the ids ``order[starts[b]:starts[b + 1]]``.
        local: (V,) int32, the local row of each word: K + its rank among its block's ids, and
            its id for a head word.
        head: K, the number of replicated words (0: none, every word in a block).
    """

    labels: np.ndarray
    order: np.ndarray
    starts: np.ndarray
    local: np.ndarray
    head: int = 0

    @classmethod
    def build(cls, weights: np.ndarray, num_blocks: int, seed: int, epoch: int, head: int = 0) -> "BlockLayout":
        """The layout of ``epoch`` (see :func:`block_labels`; weights (V,) float64): the words
        from id ``head`` on are dealt to blocks, the first ``head`` words replicated.

        Raises:
            ValueError: ``head`` is negative or leaves no word for the blocks.
        """
        weights = np.asarray(weights, np.float64)
        V = weights.shape[0]
        if V and not 0 <= head < V:
            raise ValueError(f"hot_words must be in [0, V) = [0, {V}), got {head}")
        labels = np.full(V, -1, np.int32)
        labels[head:] = block_labels(weights[head:], num_blocks, seed, epoch)
        return cls.from_labels(labels, num_blocks, head)

    @classmethod
    def from_labels(cls, labels: np.ndarray, num_blocks: int, head: int = 0) -> "BlockLayout":
        """The layout of given labels ((V,) int in [0, num_blocks), -1 for the first ``head``).

        Raises:
            ValueError: labels not -1 exactly on the first ``head`` ids.
        """
        labels = np.asarray(labels, np.int32)
        tail = labels[head:]
        if np.any(labels[:head] != -1) or np.any(tail < 0):
            raise ValueError(f"labels must be -1 on the first {head} ids (the replicated head) and >= 0 after")
        order = np.argsort(tail, kind="stable").astype(np.int64) + head
        sizes = np.bincount(tail, minlength=num_blocks).astype(np.int64)
        starts = np.zeros(num_blocks + 1, np.int64)
        np.cumsum(sizes, out=starts[1:])
        local = np.empty(labels.shape[0], np.int32)
        local[:head] = np.arange(head, dtype=np.int32)
        rank = np.arange(order.shape[0], dtype=np.int64) - starts[labels[order]]
        local[order] = (head + rank).astype(np.int32)
        return cls(labels, order, starts, local, head)

    @property
    def num_blocks(self) -> int:
        return int(self.starts.shape[0] - 1)

    def members(self, block: int) -> np.ndarray:
        """(n_b,) int64, the word ids of ``block``, ascending."""
        return self.order[self.starts[block]:self.starts[block + 1]]

    def size(self, block: int) -> int:
        """Number of words in ``block``."""
        return int(self.starts[block + 1] - self.starts[block])


def owned_blocks(task: int, num_tasks: int, num_blocks: int) -> range:
    """The W blocks task ``task`` of ``num_tasks`` owns for the whole epoch: a contiguous range.

    Contiguous ranges make the rotation of W' blocks a ring: after every sub-epoch each task
    passes exactly one W' block to task ``task - 1`` and receives one from ``task + 1``.
    """
    return range(task * num_blocks // num_tasks, (task + 1) * num_blocks // num_tasks)


def block_owner(block: int, num_tasks: int, num_blocks: int) -> int:
    """The task whose :func:`owned_blocks` range holds W block ``block``."""
    # the largest t with t * P // T <= block
    return ((block + 1) * num_tasks - 1) // num_blocks


def context_block(center_block: int, sub_epoch: int, num_blocks: int) -> int:
    """The W' block trained against W block ``center_block`` in ``sub_epoch``."""
    return (center_block + sub_epoch) % num_blocks


def pair_weights(counts: np.ndarray, keep_prob: np.ndarray) -> np.ndarray:
    """(V,) float64: each word's expected share of pair slots, count x keep probability."""
    return np.asarray(counts, np.float64) * np.asarray(keep_prob, np.float64)


def noise_shares(counts: np.ndarray, layout: BlockLayout, ns_exponent: float = 0.75) -> np.ndarray:
    """Q: (P,) float64, each block's share of the noise mass sum_w count(w)^ns_exponent.

    A replicated head's words are noise words in every stratum, each with 1/P of its mass in
    each block's table (``worker.NoiseTables``), so each block's share includes 1/P of the head's.
    """
    mass = np.power(np.asarray(counts, np.float64), ns_exponent)
    K, P = layout.head, layout.num_blocks
    noise = np.bincount(layout.labels[K:], weights=mass[K:], minlength=P) + mass[:K].sum() / P
    return noise / noise.sum()


def center_negative_rates(center_counts: np.ndarray, shares: np.ndarray, negative: int) -> np.ndarray:
    """Noise words per pair for every center of one W block with every W' block.

    Negatives of a stratum come from the W' block the task holds, drawn from count^0.75
    restricted to the block. Center c has n(c, j) pairs with context block j this epoch (the
    task holding its W block sees them all). With

        K(c, j) = K n_c Q_j / (n(c, j) S_c),   n_c = sum_j n(c, j),   S_c = sum of Q_j over the
                                                blocks j with n(c, j) > 0,

    c draws n(c, j) K(c, j) = K n_c Q_j / S_c noise words from block j over the epoch, i.e.
    K per pair from the global noise distribution P_n(w) ~ count^0.75 of Mikolov et al. 2013
    (eq. 4), restricted to the blocks c meets this epoch (all of them, unless c is rare); the
    words sharing a block with c's frequent contexts are not over-weighted. The kernel rounds
    K(c, j) stochastically. (Measured at 8 blocks, two seeds: a rate per block only, K Q_j / U_j
    with U_j the block's share of all contexts, and a mix of the two, were no better. At 256
    blocks, three seeds: drawing the share of the blocks c does not meet in those blocks, apart
    from any pair, was worse in WS-353 and SimLex, and dropping the division by S_c much worse
    (WS-353 0.468 against 0.574): README "Why P = 256 loses quality".)

    Args:
        center_counts: (P, n_k) int, n(c, j) for the n_k centers of one W block (local rows).
        shares: (P,) float64, Q (:func:`noise_shares`).
        negative: K.

    Returns:
        (P, n_k) float32, K(c, j) (0 where n(c, j) = 0).
    """
    n = np.asarray(center_counts, np.float64)
    present = n > 0
    total = n.sum(axis=0)
    reach = (present * shares[:, None]).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        rates = negative * shares[:, None] * total[None, :] / (n * reach[None, :])
    return np.where(present, rates, 0.0).astype(np.float32)
