"""The order of training and its learning rate and seeds: pure functions.

An epoch is ``cycles`` (R) cycles; a cycle is ``num_blocks`` (P) sub-epochs; in sub-epoch s
the W block k trains against the W' block (k + s) mod P (``layout.context_block``). Every
learning rate and every random seed is a function of this position alone, never of which task
or executor runs it, so a run depends on (seed, P, R) and not on the cluster.
"""

from __future__ import annotations

from dataclasses import dataclass

# separate random streams derived from the one user seed
_PAIRS = 1
_STRATUM = 2


def linear_alpha(progress: float, alpha: float, min_alpha: float) -> float:
    """Learning rate after ``progress`` (0..1) of all training.

    Decays linearly from ``alpha`` to ``min_alpha`` (word2vec C tool; gensim).
    """
    progress = min(max(progress, 0.0), 1.0)
    return alpha - (alpha - min_alpha) * progress


# R when cycles_per_epoch is 0 (the default): 16, or 5 with more than 64 blocks. With P blocks
# on P tasks (the default P) a task holds one block and waits for every hand-over of the P R an
# epoch; 5 cycles keep the jobs/cost_model.py efficiency of 128 executors at 77% on a 1B-token
# corpus (16: 57%; 71% if a hand-over's CPU were the largest ring_check.py measured on hosts),
# and on the real corpus at P = 128 they score as 16 do (40.54% analogy against 40.51%, means
# of three seeds; README "XXH3-64 hand-overs and fewer cycles at many blocks")
DEFAULT_CYCLES = 16
MANY_BLOCKS = 64
MANY_BLOCKS_CYCLES = 5


def resolve_cycles(cycles_per_epoch: int, num_blocks: int) -> int:
    """R, the cycles of an epoch: ``cycles_per_epoch`` if it is set (>= 1), else (0) 16 for at
    most 64 blocks and 5 for more (DEFAULT_CYCLES, MANY_BLOCKS_CYCLES).

    Raises:
        ValueError: cycles_per_epoch < 0 or num_blocks < 1.
    """
    if cycles_per_epoch < 0 or num_blocks < 1:
        raise ValueError(f"cycles_per_epoch {cycles_per_epoch} (>= 0) and num_blocks {num_blocks} (>= 1)")
    if cycles_per_epoch:
        return cycles_per_epoch
    return MANY_BLOCKS_CYCLES if num_blocks > MANY_BLOCKS else DEFAULT_CYCLES


_MASK = (1 << 64) - 1


def _mix64(z: int) -> int:
    """splitmix64's finaliser (Steele, Lea & Flood 2014) on a Python int: a bijection of 64 bits."""
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def _seed(*parts: int) -> int:
    """A 64-bit seed from a sequence of integers (a hash chain; ~2 us, unlike SeedSequence's ~50)."""
    z = 0x9E3779B97F4A7C15
    for p in parts:
        z = _mix64((z ^ (int(p) & _MASK)) + 0x9E3779B97F4A7C15 & _MASK)
    return z


@dataclass(frozen=True)
class Schedule:
    """Epochs x cycles x sub-epochs, with the learning rate and seeds of each step.

    Attributes:
        epochs: E; cycles: R per epoch; num_blocks: P (sub-epochs per cycle).
        alpha, min_alpha: learning-rate range, linear over all sub-epochs of all epochs.
        seed: the run's seed.
    """

    epochs: int
    cycles: int
    num_blocks: int
    alpha: float
    min_alpha: float
    seed: int

    @property
    def sub_epochs(self) -> int:
        """Sub-epochs of the whole run: E x R x P."""
        return self.epochs * self.cycles * self.num_blocks

    def step(self, epoch: int, cycle: int, sub_epoch: int) -> int:
        """0-based index of a sub-epoch over the whole run."""
        return (epoch * self.cycles + cycle) * self.num_blocks + sub_epoch

    def alpha_range(self, epoch: int, cycle: int, sub_epoch: int) -> tuple[float, float]:
        """Learning rate at the start and at the end of a sub-epoch.

        Every sub-epoch of the run gets an equal share of the decay: strata are balanced
        (every block holds one word of every frequency band), so this is linear in words
        trained up to the stratum imbalance.
        """
        g = self.step(epoch, cycle, sub_epoch)
        n = self.sub_epochs
        return (linear_alpha(g / n, self.alpha, self.min_alpha),
                linear_alpha((g + 1) / n, self.alpha, self.min_alpha))

    def pair_seed(self, epoch: int, shard: int) -> int:
        """Seed of the subsampling and windows of corpus shard ``shard`` in ``epoch``."""
        return _seed(self.seed, _PAIRS, epoch, shard)

    def stratum_seed(self, epoch: int, cycle: int, sub_epoch: int, block: int) -> int:
        """Seed of the noise words of W block ``block`` in one sub-epoch."""
        return _seed(self.seed, _STRATUM, epoch, cycle, sub_epoch, block)
