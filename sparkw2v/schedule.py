"""Learning-rate decay and the plan of training rounds: pure functions."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def linear_alpha(progress: float, alpha: float, min_alpha: float) -> float:
    """Learning rate after ``progress`` (0..1) of all words of all epochs.

    Decays linearly from ``alpha`` to ``min_alpha`` (word2vec C tool; gensim).
    """
    progress = min(max(progress, 0.0), 1.0)
    return alpha - (alpha - min_alpha) * progress


@dataclass(frozen=True)
class Round:
    """One training round: every partition trains its chunk ``chunk`` of epoch ``epoch``.

    Attributes:
        index: 0-based round number over the whole run.
        epoch, chunk: which pass and which of its ``rounds_per_epoch`` chunks.
        words: corpus words (in-vocabulary, before subsampling) the round covers, all
            partitions together.
        progress_start, progress_end: share of all words of all epochs done before/after it.
        alpha_start, alpha_end: learning rate at its first and after its last word.
    """

    index: int
    epoch: int
    chunk: int
    words: int
    progress_start: float
    progress_end: float
    alpha_start: float
    alpha_end: float


def plan_rounds(chunk_words: np.ndarray, epochs: int, alpha: float, min_alpha: float) -> list[Round]:
    """All rounds of a run, in order.

    Args:
        chunk_words: (rounds_per_epoch,) int64, words per chunk summed over partitions.
        epochs: number of passes.
        alpha, min_alpha: learning-rate range.

    Raises:
        ValueError: the chunks hold no words.
    """
    chunk_words = np.asarray(chunk_words, dtype=np.int64)
    per_epoch = int(chunk_words.sum())
    if per_epoch <= 0:
        raise ValueError("the corpus chunks hold no words")
    total = per_epoch * epochs
    rounds = []
    done = 0
    for epoch in range(epochs):
        for chunk, words in enumerate(chunk_words.tolist()):
            p0, p1 = done / total, (done + words) / total
            rounds.append(Round(len(rounds), epoch, chunk, words, p0, p1,
                                linear_alpha(p0, alpha, min_alpha), linear_alpha(p1, alpha, min_alpha)))
            done += words
    return rounds


def task_seed(seed: int, epoch: int, chunk: int, partition: int) -> int:
    """The seed of one partition's task in one round, from (seed, epoch, round, partition).

    A retried or speculative task therefore draws exactly the same random numbers.
    """
    state = np.random.SeedSequence([seed, epoch, chunk, partition]).generate_state(1, np.uint64)
    return int(state[0])
