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
    """One training round: the partitions ``partitions`` each train their chunk ``chunk`` of
    epoch ``epoch`` from the same broadcast parameters, then the driver combines them.

    Attributes:
        index: 0-based round number over the whole run; per_epoch: rounds in an epoch.
        epoch, chunk: which pass and which of the partitions' chunks.
        partitions: the partition indices trained in this round (at most ``concurrency``).
        words: corpus words (in-vocabulary, before subsampling) the round covers.
        progress_start, progress_end: share of all words of all epochs done before/after it.
        alpha_start, alpha_end: learning rate at its first and after its last word.
    """

    index: int
    per_epoch: int
    epoch: int
    chunk: int
    partitions: tuple[int, ...]
    words: int
    progress_start: float
    progress_end: float
    alpha_start: float
    alpha_end: float


def chunks_per_partition(rounds_per_epoch: int, num_partitions: int, concurrency: int) -> int:
    """How many chunks to cut each partition into so that an epoch takes about
    ``rounds_per_epoch`` rounds of at most ``concurrency`` partitions each."""
    concurrency = max(1, min(concurrency, num_partitions))
    return max(1, -(-rounds_per_epoch * concurrency // num_partitions))


def plan_rounds(chunk_words: np.ndarray, epochs: int, alpha: float, min_alpha: float,
                concurrency: int | None = None) -> list[Round]:
    """All rounds of a run, in order.

    A round trains one chunk on at most ``concurrency`` partitions at once (default: all), so
    the number of replicas combined per round is the parallelism actually available, whatever
    the number of partitions the corpus is cut into: partitions beyond it wait for the next
    round and start from the combined parameters.

    Args:
        chunk_words: (P, K) int64, words of chunk k of partition p.
        epochs: number of passes.
        alpha, min_alpha: learning-rate range.
        concurrency: partitions trained per round (>= 1).

    Raises:
        ValueError: the chunks hold no words.
    """
    chunk_words = np.asarray(chunk_words, dtype=np.int64)
    if chunk_words.ndim == 1:
        chunk_words = chunk_words[None, :]
    num_partitions, num_chunks = chunk_words.shape
    concurrency = max(1, min(concurrency or num_partitions, num_partitions))
    per_epoch = int(chunk_words.sum())
    if per_epoch <= 0:
        raise ValueError("the corpus chunks hold no words")
    waves = [tuple(range(s, min(s + concurrency, num_partitions)))
             for s in range(0, num_partitions, concurrency)]
    total = per_epoch * epochs
    rounds: list[Round] = []
    done = 0
    for epoch in range(epochs):
        for chunk in range(num_chunks):
            for parts in waves:
                words = int(chunk_words[list(parts), chunk].sum())
                p0, p1 = done / total, (done + words) / total
                rounds.append(Round(len(rounds), num_chunks * len(waves), epoch, chunk, parts, words,
                                    p0, p1, linear_alpha(p0, alpha, min_alpha),
                                    linear_alpha(p1, alpha, min_alpha)))
                done += words
    return rounds


def task_seed(seed: int, epoch: int, chunk: int, partition: int) -> int:
    """The seed of one partition's task in one round, from (seed, epoch, round, partition).

    A retried or speculative task therefore draws exactly the same random numbers.
    """
    state = np.random.SeedSequence([seed, epoch, chunk, partition]).generate_state(1, np.uint64)
    return int(state[0])
