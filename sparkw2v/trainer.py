"""The driver loop: vocabulary, encoding, then rounds of broadcast -> local SGD -> combine.

Each round the driver broadcasts W and W'; every partition trains its chunk of the epoch from
a private copy (``partition.train_chunk``) and returns only the rows it changed; the driver
combines them per row (``averaging.combine_rows``), checks they are finite, logs one line,
and starts the next round.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from . import averaging, checkpoint, schedule, vocab as vocab_mod
from .errors import InputError, OutputWriteError, TrainingDivergedError
from .config import TrainConfig
from .encode import chunk_slot, encode_corpus
from .partition import train_chunk
from .tokenizer import input_errors, read_text, tokenize, TOKENS
from .vocab import Vocabulary

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainResult:
    """The outcome of :func:`train` (immutable; the arrays are the trainer's own copies).

    Attributes:
        vocab: the vocabulary (word id = row).
        W: (V, N) float32 center vectors (the embeddings); Wp: (V, N) float32 context vectors.
        config: the settings used.
        rounds: one dict per round: epoch, round, loss, pairs, words, seconds, words_per_sec, alpha.
        stats: corpus statistics and seconds per phase.
    """

    vocab: Vocabulary
    W: np.ndarray
    Wp: np.ndarray
    config: TrainConfig
    rounds: list = field(default_factory=list)
    stats: dict = field(default_factory=dict)


def init_vectors(vocab_size: int, vector_size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """W ~ Uniform(-0.5/N, 0.5/N) and W' = 0, both (V, N) float32 (word2vec C tool)."""
    rng = np.random.default_rng(seed)
    W = ((rng.random((vocab_size, vector_size), dtype=np.float32) - np.float32(0.5))
         / np.float32(vector_size))
    return W.astype(np.float32, copy=False), np.zeros((vocab_size, vector_size), np.float32)


def _round_task(params_bc, tables_bc, rnd: schedule.Round, config: TrainConfig, num_partitions: int,
                slot: int, records):
    """Spark side of one round, run in an executor: train one partition's chunk (one record)."""
    start = time.perf_counter()  # before the cached chunk is read and deserialised
    index = slot % num_partitions
    for ids, offsets in records:
        if offsets.shape[0] < 2:
            return
        W0, Wp0 = params_bc.value
        keep_prob, noise = tables_bc.value
        loaded = time.perf_counter()
        update = train_chunk(index, ids, offsets, W0, Wp0, keep_prob, noise, config.window,
                             config.negative, rnd.alpha_start, rnd.alpha_end,
                             schedule.task_seed(config.seed, rnd.epoch, rnd.chunk, index))
        yield dataclasses.replace(update, load_seconds=loaded - start,
                                  task_seconds=time.perf_counter() - start)


def train(spark, input_path: str, config: TrainConfig,
          on_round: Callable[[dict], None] | None = None,
          checkpoint_url: str | None = None, resume: bool = False) -> TrainResult:
    """Train SGNS embeddings on the Parquet text at ``input_path``.

    Args:
        spark: the SparkSession.
        input_path: Parquet file or directory with the string column ``config.text_column``.
        config: training settings.
        on_round: called after every round with that round's dict (see TrainResult.rounds).
        checkpoint_url: directory for checkpoints every ``config.checkpoint_every`` rounds.
        resume: continue from the last checkpoint in ``checkpoint_url``.

    Raises:
        InputError: missing input or column, empty corpus, empty vocabulary, too many
            partitions, or nothing (compatible) to resume from.
        TrainingDivergedError: NaN/Inf in the parameters after a round.
        OutputWriteError: a checkpoint could not be written.
    """
    tokens = tokenize(read_text(spark, input_path, config.text_column), config.text_column, config)
    return train_tokens(tokens, config, on_round, checkpoint_url, resume, input_path)


def train_tokens(tokens, config: TrainConfig,
                 on_round: Callable[[dict], None] | None = None,
                 checkpoint_url: str | None = None, resume: bool = False,
                 input_path: str = "(DataFrame)") -> TrainResult:
    """Train SGNS embeddings on a DataFrame with an array<string> column ``tokens``.

    ``input_path`` only names the input in error messages.

    Raises:
        InputError, TrainingDivergedError, OutputWriteError: as :func:`train`.
    """
    sc = tokens.sparkSession.sparkContext
    timings: dict[str, float] = {}
    t0 = time.perf_counter()

    sc.setJobDescription("sparkw2v: read, tokenize and count words")
    with input_errors(input_path):
        vocab = vocab_mod.count_vocabulary(tokens, TOKENS, config.min_count, config.max_vocab_size,
                                           config.vector_size, config.max_model_mb)
    timings["vocabulary_seconds"] = time.perf_counter() - t0
    log.info("vocabulary: %d words (of %d distinct) cover %d of %d tokens",
             len(vocab), vocab.corpus_types, vocab.train_words, vocab.corpus_tokens)

    t1 = time.perf_counter()
    num_partitions = config.num_partitions or sc.defaultParallelism
    concurrency = min(config.concurrency or sc.defaultParallelism, num_partitions)
    chunks = schedule.chunks_per_partition(config.rounds_per_epoch, num_partitions, concurrency)
    with input_errors(input_path):
        corpus, chunk_words, row_stats = encode_corpus(tokens, vocab.words, num_partitions, chunks)
    timings["encode_seconds"] = time.perf_counter() - t1
    log.info("corpus encoded in %d partitions x %d chunks (%.1f s); %d partitions train per round",
             num_partitions, chunks, timings["encode_seconds"], concurrency)
    if row_stats["null_rows"] or row_stats["empty_rows"]:
        log.warning("skipped %d row(s) with null text and %d with no token, of %d rows",
                    row_stats["null_rows"], row_stats["empty_rows"], row_stats["rows"])

    try:
        W, Wp, rounds = _train_rounds(sc, corpus, chunk_words, vocab, config, concurrency, on_round,
                                      checkpoint_url, resume)
    finally:
        corpus.unpersist()
    timings["train_seconds"] = sum(r["seconds"] for r in rounds)
    epoch_words = int(chunk_words.sum())
    stats = {
        "corpus_tokens": vocab.corpus_tokens,
        "corpus_types": vocab.corpus_types,
        "corpus_rows": row_stats["rows"],
        "null_rows": row_stats["null_rows"],
        "empty_rows": row_stats["empty_rows"],
        "trainable_rows": row_stats["trainable_rows"],
        "vocab_size": len(vocab),
        "train_words_per_epoch": epoch_words,
        "num_partitions": num_partitions,
        "concurrency": concurrency,
        "chunks_per_partition": chunks,
        "rounds": len(rounds),
        # rounds trained by this run (a resumed run trains only the rest)
        "words_per_sec": (sum(r["words"] for r in rounds) / timings["train_seconds"]
                          if timings["train_seconds"] > 0 else 0.0),
        **{k: round(v, 3) for k, v in timings.items()},
    }
    return TrainResult(vocab, W, Wp, config, rounds, stats)


def _train_rounds(sc, corpus, chunk_words, vocab: Vocabulary, config: TrainConfig, concurrency: int,
                  on_round, checkpoint_url: str | None, resume: bool):
    plan = schedule.plan_rounds(chunk_words, config.epochs, config.alpha, config.min_alpha, concurrency)
    num_partitions = int(chunk_words.shape[0])
    W, Wp = init_vectors(len(vocab), config.vector_size, config.seed)
    # the settings that decide the vectors, with the partitioning resolved
    settings = {**config.to_dict(), "num_partitions": num_partitions, "concurrency": concurrency}
    first = 0
    if resume:
        ckpt = checkpoint.latest(checkpoint_url) if checkpoint_url else None
        if ckpt is None:
            raise InputError(f"nothing to resume: no checkpoint in {checkpoint_url!r}; train without "
                             "--resume (with --checkpoint-every N to make checkpoints)")
        checkpoint.check_compatible(ckpt, settings, len(vocab))
        W, Wp, first = ckpt.W, ckpt.Wp, ckpt.next_round
        log.info("resuming after round %d of %d from %s", first, len(plan), checkpoint_url)
    tables_bc = sc.broadcast((vocab_mod.keep_probabilities(vocab.counts, config.sample),
                              vocab_mod.noise_table(vocab.counts, config.ns_exponent)))
    total_words = sum(r.words for r in plan)
    history: list[dict] = []
    words_done = sum(r.words for r in plan[:first])
    train_seconds = 0.0
    try:
        for rnd in plan[first:]:
            start = time.perf_counter()
            params_bc = sc.broadcast((W, Wp))
            broadcast_done = time.perf_counter()
            sc.setJobDescription(
                f"sparkw2v: train epoch {rnd.epoch + 1}/{config.epochs} "
                f"round {rnd.index % rnd.per_epoch + 1}/{rnd.per_epoch}")
            task = functools.partial(_round_task, params_bc, tables_bc, rnd, config, num_partitions)
            slots = [chunk_slot(p, rnd.chunk, num_partitions) for p in rnd.partitions]
            updates = sorted(sc.runJob(corpus.mapPartitionsWithIndex(task), list, slots),
                             key=lambda u: u.partition)
            collect_done = time.perf_counter()
            rows_w = averaging.combine_rows(W, ((u.rows_w, u.delta_w) for u in updates), config.combine_gamma)
            rows_wp = averaging.combine_rows(Wp, ((u.rows_wp, u.delta_wp) for u in updates),
                                             config.combine_gamma)
            try:
                averaging.check_finite(rnd.index, [("W", W, rows_w), ("W'", Wp, rows_wp)], vocab.words)
            except TrainingDivergedError as exc:
                last = checkpoint.latest_round(checkpoint_url) if checkpoint_url else None
                kept = (f"; the last good checkpoint (after {last} rounds) is kept in {checkpoint_url}"
                        if last is not None else "; no checkpoint was written (checkpoint_every=0 or too early)")
                raise TrainingDivergedError(f"{exc}{kept}") from None
            params_bc.destroy()
            seconds = time.perf_counter() - start
            train_seconds += seconds
            words_done += rnd.words
            pairs = sum(u.pairs for u in updates)
            info = {
                "epoch": rnd.epoch, "round": rnd.index, "progress": rnd.progress_end,
                "loss": sum(u.loss for u in updates) / max(sum(u.loss_pairs for u in updates), 1), "pairs": pairs,
                "words": rnd.words, "seconds": seconds, "words_per_sec": rnd.words / max(seconds, 1e-9),
                "kernel_seconds": max((u.seconds for u in updates), default=0.0),
                "task_seconds": max((u.task_seconds for u in updates), default=0.0),
                "load_seconds": max((u.load_seconds for u in updates), default=0.0),
                "broadcast_seconds": broadcast_done - start,
                "partitions_seconds": collect_done - broadcast_done,
                "combine_seconds": start + seconds - collect_done,
                "alpha": rnd.alpha_end,
            }
            history.append(info)
            eta = (total_words - words_done) / max(sum(h["words"] for h in history) / train_seconds, 1e-9)
            log.info("epoch %d/%d round %d/%d %5.1f%% %8.0f words/s loss %.4f alpha %.5f ETA %.0f s",
                     rnd.epoch + 1, config.epochs, rnd.index % rnd.per_epoch + 1, rnd.per_epoch,
                     100 * rnd.progress_end, info["words_per_sec"], info["loss"], rnd.alpha_end, eta)
            # the last round is checkpointed too, so that a failed model write loses no training
            if checkpoint_url and config.checkpoint_every and (
                    (rnd.index + 1) % config.checkpoint_every == 0 or rnd.index + 1 == len(plan)):
                try:
                    checkpoint.save(checkpoint_url, rnd.index + 1, W, Wp, settings)
                except OSError as exc:
                    raise OutputWriteError(f"writing the checkpoint after round {rnd.index + 1} to "
                                           f"{checkpoint_url} failed ({exc}); the previous checkpoint "
                                           "is kept: fix the filesystem and train again with --resume") from None
            if on_round is not None:
                on_round(info)
    finally:
        tables_bc.destroy()
    return W, Wp, history
