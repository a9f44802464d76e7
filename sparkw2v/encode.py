"""Tokens -> int32 word-id arrays in the executors, cached as one record per partition.

The corpus never reaches the driver: executors map words to ids (out-of-vocabulary words are
dropped, as in the C tool and gensim), rows are spread over ``num_partitions`` partitions
by a deterministic key, and each partition keeps its rows as chunks of
numpy arrays, so a round deserialises ready arrays instead of Python objects.
"""

from __future__ import annotations

import numpy as np

from .errors import InputError
from .tokenizer import NULL_FLAG, PIECE, TOKENS

# Rows longer than this many in-vocabulary words are cut into rows of this length (gensim's
# MAX_WORDS_IN_BATCH), so that one huge row neither unbalances the chunks nor needs one huge
# array; nothing is dropped.
MAX_ROW_WORDS = 10_000
# Joins a row's tokens for the trip from the JVM to Python: one string per row instead of one
# Python object per token (several times faster). Tokens never contain it: the tokenizer splits
# on whitespace by default, and NUL is not text.
_SEP = "\x00"


def chunk_slot(partition: int, chunk: int, num_partitions: int) -> int:
    """The cached RDD's partition holding chunk ``chunk`` of training partition ``partition``."""
    return chunk * num_partitions + partition


def encode_rows(texts, index: dict[str, int], max_row_words: int = MAX_ROW_WORDS):
    """Map each joined token string to int32 id arrays (unknown words dropped).

    A row with more than ``max_row_words`` in-vocabulary words becomes several rows of at most
    that many words (nothing dropped); rows with fewer than 2 words are skipped (no pairs).
    Texts are at most ``tokenizer.MAX_ROW_CHARS`` characters: longer rows were cut in the JVM.

    Yields:
        (L,) int32 arrays, 2 <= L <= max_row_words.
    """
    for text in texts:
        tokens = text.split(_SEP)
        ids = np.fromiter((index.get(t, -1) for t in tokens), dtype=np.int32, count=len(tokens))
        ids = ids[ids >= 0]
        for start in range(0, ids.size, max_row_words):
            row = ids[start:start + max_row_words]
            if row.size >= 2:
                yield row


def build_chunk(rows) -> tuple[np.ndarray, np.ndarray]:
    """Sort one chunk's (key, ids) rows by key and concatenate them.

    Returns:
        (ids (T,) int32, offsets (R + 1,) int64): row r is ids[offsets[r]:offsets[r + 1]].
    """
    part = [ids for _, ids in sorted(rows, key=lambda kv: kv[0])]
    lengths = np.fromiter((len(a) for a in part), dtype=np.int64, count=len(part))
    offsets = np.zeros(len(part) + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    ids = np.concatenate(part).astype(np.int32, copy=False) if part else np.zeros(0, np.int32)
    return ids, offsets


def _spread(key, slots):
    """Deal the rows of each input partition round-robin over the slots."""
    in_part, seq = key
    return (in_part * 1_000_003 + seq) % slots


def encode_corpus(tokens_df, words, num_partitions: int, num_chunks: int):
    """Encode and cache the corpus in the executors.

    Args:
        tokens_df: DataFrame with array<string> column ``tokens`` (and optionally the boolean
            ``text_is_null`` and int ``piece`` of :func:`sparkw2v.tokenizer.tokenize`).
        words: the vocabulary's words, id = position.
        num_partitions: partitions to train in (>= 1).
        num_chunks: chunks per partition (see schedule.chunks_per_partition).

    Every (training partition p, chunk k) pair is its own partition of the cached RDD, slot
    ``chunk_slot(p, k, num_partitions)``, holding one record (ids, offsets) (``build_chunk``):
    a round reads only the chunks it trains. Rows are dealt round-robin over the slots, so
    every chunk samples the whole corpus.

    Returns:
        (cached RDD of num_partitions x num_chunks partitions, one (ids, offsets) record each,
         (num_partitions, num_chunks) int64 words per partition and chunk,
         {"rows": input rows, "null_rows": rows whose text is null, "empty_rows": rows with
         no token, "trainable_rows": rows (after cutting at MAX_ROW_WORDS) with >= 2
         in-vocabulary words}).

    Raises:
        InputError: fewer rows with >= 2 in-vocabulary words than partitions.
    """
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    spark = tokens_df.sparkSession
    sc = spark.sparkContext
    index_bc = sc.broadcast({w: i for i, w in enumerate(words)})
    null_flag = F.col(NULL_FLAG) if NULL_FLAG in tokens_df.columns else F.lit(False)
    piece = F.col(PIECE) if PIECE in tokens_df.columns else F.lit(0)
    joined = tokens_df.select(F.concat_ws(_SEP, TOKENS).alias("t"), null_flag, piece).rdd

    # exact unless a task of this pass is retried (accumulators in transformations)
    rows_seen = sc.accumulator(0)
    null_rows = sc.accumulator(0)
    empty_rows = sc.accumulator(0)

    def encode(in_part, rows):
        counts = [0, 0, 0]
        for text, is_null, piece in rows:
            if piece == 0:  # count input rows, not the pieces of long ones
                counts[0] += 1
                if is_null:
                    counts[1] += 1
                elif not text:
                    counts[2] += 1
            if text:
                yield text
        rows_seen.add(counts[0])
        null_rows.add(counts[1])
        empty_rows.add(counts[2])

    def keyed(in_part, texts):
        for seq, ids in enumerate(encode_rows(encode(in_part, texts), index_bc.value)):
            yield (in_part, seq), ids

    slots = num_partitions * num_chunks
    corpus = (
        joined.mapPartitionsWithIndex(keyed)
        .partitionBy(slots, lambda key: _spread(key, slots))
        .mapPartitions(lambda rows: [build_chunk(rows)], preservesPartitioning=True)
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    sc.setJobDescription("sparkw2v: encode corpus to word ids")
    stats = corpus.mapPartitionsWithIndex(
        lambda q, chunks: [(q, int(off[-1] - off[0]), len(off) - 1) for _, off in chunks]).collect()
    index_bc.unpersist()
    words = np.zeros((num_partitions, num_chunks), np.int64)
    rows = np.zeros((num_partitions, num_chunks), np.int64)
    for q, n_words, n_rows in stats:
        words[q % num_partitions, q // num_partitions] = n_words
        rows[q % num_partitions, q // num_partitions] = n_rows
    empty = int((rows.sum(axis=1) == 0).sum())
    if empty:
        corpus.unpersist()
        raise InputError(
            f"num_partitions={num_partitions} is more than the corpus can fill: only {int(rows.sum())} "
            f"rows have >= 2 in-vocabulary words and {empty} partition(s) would be empty; lower "
            "num_partitions or give a larger corpus"
        )
    return corpus, words, {"rows": int(rows_seen.value), "null_rows": int(null_rows.value),
                           "empty_rows": int(empty_rows.value), "trainable_rows": int(rows.sum())}
