"""The replicated head: the K most frequent words' W and W' rows held by every stratum.

At large P the most frequent words alone outweigh a block (after subsampling the most frequent
word of the real corpus carries 0.5% of the kept tokens, a block at P = 256 0.4%), so no dealing
of words to blocks balances the strata. Systems that scale embedding training past this
replicate the hottest keys and partition the rest (NuPS, Renz-Wieland et al., SIGMOD 2022;
pWord2Vec, Ji et al. 2016). Here the K most frequent words (ids 0..K-1) belong to no block
(``layout.BlockLayout.head``): their pairs are dealt evenly over the strata (``pairs``), their W'
rows are noise words in every stratum (``worker.NoiseTables``), and every stratum of a
sub-epoch trains against the same head rows, the combined state at the sub-epoch's start.

After each stratum its changes to the head rows (only the rows it touched) are added to an
accumulator in fixed point (int64, 2^-32 units): integer sums do not depend on the order they
are added in, so the combined head is the same bits however the strata are spread over tasks
and machines: with several tasks each holds a copy of the head and they sum their accumulators
(:meth:`Head.packet`, :meth:`Head.absorb`) round the W' ring's links
(``worker.ring_all_reduce``) before every combine. After each sub-epoch (or every ``every``-th)
the head moves by the sum of the strata's changes (``"sum"``, each row as far as sequential SGD would
move it, to first order), by their mean (``"mean"``), or by the sum clipped to CLIP_FACTOR times
the mean norm of the strata's changes of that row (``"clip"``, adapted from NuPS, which clips at
twice a running mean update norm). The plain sum diverges when strata are large (few blocks: each
stratum moves a head row a full step); "clip" is the default. No Spark, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from . import kernel

SCALE = 2.0 ** 32  # fixed-point units per 1.0 of a head row's change
COMBINE_RULES = ("sum", "mean", "clip")
CLIP_FACTOR = 2.0  # "clip": a row moves at most this many times its strata's mean change (after NuPS)
MAX_CHANGE = 2.0 ** 20  # a larger change (or NaN, Inf) of one component in one stratum: diverged
ACC_LIMIT = 2.0 ** 62  # the accumulators' sums stay below this (int64 holds 2^63)


def check_combine(rule: str, every: int) -> None:
    """Refuse a combine rule not in COMBINE_RULES or an ``every`` that is not a whole number >= 1.

    Raises:
        ValueError: naming the setting and what it may be.
    """
    if rule not in COMBINE_RULES:
        raise ValueError(f"the head's combine rule must be one of {COMBINE_RULES}, got {rule!r}")
    if int(every) != every or every < 1:
        raise ValueError(f"the head is combined after every n-th sub-epoch, n >= 1; got {every!r}")


@njit(cache=True)
def _collect(work, base, acc, touched, norms, strata, max_change):
    """Add the touched rows' changes work - base to ``acc`` and their norms to ``norms`` (fixed
    point), count the stratum in ``strata``, and reset the rows to base. A change that is not
    finite or above ``max_change`` (the sums over a combine's strata would not fit the fixed
    point) turns the row's base to NaN, so that the cycle's check reports the row as diverged."""
    for h in range(touched.shape[0]):
        if touched[h] > 0:
            touched[h] = 0
            strata[h] += 1
            square = 0.0
            for d in range(work.shape[1]):
                change = np.float64(work[h, d]) - np.float64(base[h, d])
                if not abs(change) <= max_change:
                    base[h, d] = np.nan
                    change = 0.0
                square += change * change
                acc[h, d] += np.int64(np.rint(change * SCALE))
                work[h, d] = base[h, d]
            norms[h] += np.int64(np.rint(np.sqrt(square) * SCALE))


@njit(cache=True)
def _apply(base, work, acc, norms, strata, divisor, clip):
    """base += acc / (SCALE * divisor) on the rows some stratum moved, the sum scaled down to
    ``clip`` times the strata's mean change norm when clip > 0; work follows; all cleared."""
    for h in range(strata.shape[0]):
        if strata[h] > 0:
            scale = 1.0 / (SCALE * divisor)
            if clip > 0.0:
                square = 0.0
                for d in range(base.shape[1]):
                    square += (np.float64(acc[h, d]) / SCALE) ** 2
                limit = clip * np.float64(norms[h]) / SCALE / strata[h]
                if square > limit * limit:
                    scale *= limit / np.sqrt(square)
            for d in range(base.shape[1]):
                base[h, d] = np.float32(np.float64(base[h, d]) + np.float64(acc[h, d]) * scale)
                work[h, d] = base[h, d]
                acc[h, d] = 0
            norms[h] = 0
            strata[h] = 0


@dataclass
class Head:
    """One task's replicated head rows through an epoch.

    Attributes:
        W, Wp: (K, N) float32, the combined head rows of W and W' (the state every stratum of the
            current sub-epoch starts from).
        work_W, work_Wp: (K, N) float32, the rows a stratum trains (``kernel.train_stratum_head``);
            equal to W, Wp between strata.
        touched_W, touched_Wp: (K,) int32, how often the current stratum moved each head row.
        acc_W, acc_Wp: (K, N) int64, the summed changes since the last combine, in 2^-32 units.
        norms_W, norms_Wp: (K,) int64, the summed change norms since the last combine, in 2^-32 units.
        strata_W, strata_Wp: (K,) int32, how many strata since the last combine moved each row.
        num_blocks: P, the strata of a sub-epoch (rule "mean" divides by P times the sub-epochs
            a combine covers).
        clip: CLIP_FACTOR (rule "clip") or 0.
        every: the head is combined after every ``every``-th sub-epoch of an epoch and after its
            last (:meth:`due`); the strata of the sub-epochs between train from the same rows.
        sub_epochs: sub-epochs ended since the last combine; covered: how many the next (or
            current) combine covers.
        max_change: the largest change of one component in one stratum that is summed
            (MAX_CHANGE, or less where P x every strata of such changes, or their norms, would
            overflow the int64 sums); above it the row is diverged.
        mean: the rule is "mean".
    """

    W: np.ndarray
    Wp: np.ndarray
    work_W: np.ndarray
    work_Wp: np.ndarray
    touched_W: np.ndarray
    touched_Wp: np.ndarray
    acc_W: np.ndarray
    acc_Wp: np.ndarray
    norms_W: np.ndarray
    norms_Wp: np.ndarray
    strata_W: np.ndarray
    strata_Wp: np.ndarray
    num_blocks: int
    clip: float
    every: int = 1
    sub_epochs: int = 0
    covered: int = 1
    max_change: float = MAX_CHANGE
    mean: bool = False

    @classmethod
    def start(cls, W: np.ndarray, Wp: np.ndarray, num_blocks: int, rule: str = "clip", every: int = 1) -> "Head":
        """A head starting from rows W, Wp ((K, N) float32, copied), combined by ``rule`` after
        every ``every``-th sub-epoch.

        Raises:
            ValueError: an unknown rule, ``every`` below 1, or W and Wp of different shapes.
        """
        check_combine(rule, every)
        W = np.array(W, np.float32, order="C")
        Wp = np.array(Wp, np.float32, order="C")
        if W.shape != Wp.shape or W.ndim != 2:
            raise ValueError(f"head rows of W {W.shape} and W' {Wp.shape} must be (K, N) alike")
        K, N = W.shape
        # a combine sums at most P x every strata's changes (and norms, up to sqrt(N) times one
        # component's bound) over all tasks: keep those sums inside int64
        max_change = min(MAX_CHANGE, ACC_LIMIT / (SCALE * num_blocks * every * max(1.0, np.sqrt(N))))
        return cls(W, Wp, W.copy(), Wp.copy(), np.zeros(K, np.int32), np.zeros(K, np.int32),
                   np.zeros((K, N), np.int64), np.zeros((K, N), np.int64), np.zeros(K, np.int64),
                   np.zeros(K, np.int64), np.zeros(K, np.int32), np.zeros(K, np.int32),
                   int(num_blocks), CLIP_FACTOR if rule == "clip" else 0.0,
                   int(every), 0, 1, float(max_change), rule == "mean")

    @property
    def size(self) -> int:
        """K, the number of replicated words."""
        return int(self.W.shape[0])

    def collect(self) -> None:
        """After a stratum: its changes to the head go to the accumulators, the working rows
        back to the sub-epoch's start state."""
        _collect(self.work_W, self.W, self.acc_W, self.touched_W, self.norms_W, self.strata_W, self.max_change)
        _collect(self.work_Wp, self.Wp, self.acc_Wp, self.touched_Wp, self.norms_Wp, self.strata_Wp,
                 self.max_change)

    def due(self, last: bool = False) -> bool:
        """After a sub-epoch: whether the head is combined now (every ``every``-th sub-epoch,
        and the epoch's ``last``)."""
        self.sub_epochs += 1
        if self.sub_epochs < self.every and not last:
            return False
        self.covered, self.sub_epochs = self.sub_epochs, 0
        return True

    def packet(self) -> np.ndarray:
        """This task's accumulators since the last combine as one (K, 2 N + 4) int64 array:
        [acc_W | acc_Wp | norms_W | norms_Wp | strata_W | strata_Wp]. Every column is a sum
        over strata, so the element-wise sum of all tasks' packets (in any order: integers) is
        the packet one task training every stratum would hold (``absorb`` it, then ``combine``)."""
        return np.concatenate([self.acc_W, self.acc_Wp, self.norms_W[:, None], self.norms_Wp[:, None],
                               self.strata_W[:, None].astype(np.int64), self.strata_Wp[:, None].astype(np.int64)],
                              axis=1)

    def absorb(self, total: np.ndarray) -> None:
        """Replace this task's accumulators by ``total``, the sum of every task's :meth:`packet`
        ((K, 2 N + 4) int64).

        Raises:
            ValueError: ``total`` is not a packet of this head's shape.
        """
        K, N = self.W.shape
        if total.shape != (K, 2 * N + 4) or total.dtype != np.int64:
            raise ValueError(f"a head packet must be ({K}, {2 * N + 4}) int64, got {total.shape} {total.dtype}")
        self.acc_W[:] = total[:, :N]
        self.acc_Wp[:] = total[:, N:2 * N]
        self.norms_W[:] = total[:, 2 * N]
        self.norms_Wp[:] = total[:, 2 * N + 1]
        self.strata_W[:] = total[:, 2 * N + 2]
        self.strata_Wp[:] = total[:, 2 * N + 3]

    def combine(self) -> None:
        """After a sub-epoch (every stratum collected; with ``every`` > 1 when :meth:`due`): move
        the head by the combined changes ("mean": over the strata of the ``covered`` sub-epochs)."""
        divisor = float(self.num_blocks * self.covered) if self.mean else 1.0
        _apply(self.W, self.work_W, self.acc_W, self.norms_W, self.strata_W, divisor, self.clip)
        _apply(self.Wp, self.work_Wp, self.acc_Wp, self.norms_Wp, self.strata_Wp, divisor, self.clip)


def train_stratum(head: Head | None, Wk: np.ndarray, Wpj: np.ndarray, centers: np.ndarray, contexts: np.ndarray,
                  noise: kernel.Noise, step: kernel.Step, w_updates: np.ndarray, wp_updates: np.ndarray):
    """One stratum (``kernel.train_stratum``) against the replicated head's working rows when
    there is one (``kernel.train_stratum_head``, then :meth:`Head.collect`; the update counters
    are then the head's, and ``w_updates``, ``wp_updates`` are not used).

    Returns:
        the kernel's (loss_sum float64 nats, loss_pairs int64, pairs int64).
    """
    if head is None:
        return kernel.train_stratum(Wk, Wpj, centers, contexts, noise, step, w_updates, wp_updates)
    out = kernel.train_stratum_head(head.work_W, Wk, head.work_Wp, Wpj, centers, contexts, noise, step,
                                    head.touched_W, head.touched_Wp)
    head.collect()
    return out
