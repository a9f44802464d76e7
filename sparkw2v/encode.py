"""Tokens -> int32 word-id arrays in the executors, cached as one record per corpus shard.

The corpus never reaches the driver: executors map words to ids (out-of-vocabulary words are
dropped, as in the C tool and gensim) and deal the rows to ``num_shards`` shards by a stable
key of each row (its file and row number for Parquet input), so the shards, and the order of
rows inside each, depend on the corpus alone, never on how Spark split the input or how many
cores read it. Each shard is one partition of the cached RDD holding one (ids, offsets) record.
"""

from __future__ import annotations

import numpy as np

from .tokenizer import NULL_FLAG, ROW_KEY, TOKENS

# In-vocabulary words per corpus shard: the shard count, ceil(words / WORDS_PER_SHARD), depends
# on the corpus only. A shard is the unit of pair generation (one task per epoch).
WORDS_PER_SHARD = 2_000_000
# Rows longer than this many in-vocabulary words are cut into rows of this length (gensim's
# MAX_WORDS_IN_BATCH), so that one huge row neither unbalances the chunks nor needs one huge
# array; nothing is dropped.
MAX_ROW_WORDS = 10_000
# Joins a row's tokens for the trip from the JVM to Python: one string per row instead of one
# Python object per token (several times faster). Tokens never contain it: the tokenizer splits
# on whitespace by default, and NUL is not text.
_SEP = "\x00"


def num_shards(train_words: int) -> int:
    """How many shards a corpus of ``train_words`` in-vocabulary words is cut into (>= 1)."""
    return max(1, -(-int(train_words) // WORDS_PER_SHARD))


def encode_rows(keyed_texts, index: dict[str, int], max_row_words: int = MAX_ROW_WORDS):
    """Map each (key, joined token string) to int32 id arrays (unknown words dropped).

    A row with more than ``max_row_words`` in-vocabulary words becomes several rows of at most
    that many words (nothing dropped); rows with fewer than 2 words are skipped (no pairs).
    Texts are at most ``tokenizer.MAX_ROW_CHARS`` characters: longer rows were cut in the JVM.

    Yields:
        ((key, piece) with piece the number of the cut, (L,) int32 ids), 2 <= L <= max_row_words.
    """
    for key, text in keyed_texts:
        tokens = text.split(_SEP)
        ids = np.fromiter((index.get(t, -1) for t in tokens), dtype=np.int32, count=len(tokens))
        ids = ids[ids >= 0]
        for piece, start in enumerate(range(0, ids.size, max_row_words)):
            row = ids[start:start + max_row_words]
            if row.size >= 2:
                yield (key, piece), row


def build_chunk(rows) -> tuple[np.ndarray, np.ndarray]:
    """Sort one shard's ((key, piece), ids) rows by key and concatenate them.

    Rows with equal keys (a 64-bit hash collision) are ordered by their ids, so the order never
    depends on the order the rows arrived in.

    Returns:
        (ids (T,) int32, offsets (R + 1,) int64): row r is ids[offsets[r]:offsets[r + 1]].
    """
    rows = sorted(rows, key=lambda kv: kv[0])
    part = []
    at = 0
    while at < len(rows):
        end = at + 1
        while end < len(rows) and rows[end][0] == rows[at][0]:
            end += 1
        tied = [ids for _, ids in rows[at:end]]
        part.extend(sorted(tied, key=lambda a: a.tobytes()) if len(tied) > 1 else tied)
        at = end
    lengths = np.fromiter((len(a) for a in part), dtype=np.int64, count=len(part))
    offsets = np.zeros(len(part) + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    ids = np.concatenate(part).astype(np.int32, copy=False) if part else np.zeros(0, np.int32)
    return ids, offsets


def encode_corpus(tokens_df, words, num_shards: int):
    """Encode and cache the corpus in the executors.

    Args:
        tokens_df: DataFrame with array<string> column ``tokens`` and optionally the long
            ``row_key`` and boolean ``text_is_null`` of :func:`sparkw2v.tokenizer.tokenize`
            (without ``row_key`` rows are keyed by Spark's row ids, which depend on how the
            input is partitioned).
        words: the vocabulary's words, id = position.
        num_shards: C (see :func:`num_shards`).

    Returns:
        (cached RDD of C partitions, one (ids, offsets) record each (``build_chunk``),
         (C,) int64 in-vocabulary words per shard,
         {"rows": input rows, "null_rows": rows whose text is null, "empty_rows": rows with
         no token, "trainable_rows": rows (after cutting at MAX_ROW_WORDS) with >= 2
         in-vocabulary words}).
    """
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    spark = tokens_df.sparkSession
    sc = spark.sparkContext
    index_bc = sc.broadcast({w: i for i, w in enumerate(words)})
    null_flag = F.col(NULL_FLAG) if NULL_FLAG in tokens_df.columns else F.lit(False)
    key = F.col(ROW_KEY) if ROW_KEY in tokens_df.columns else F.xxhash64(F.monotonically_increasing_id())
    first = F.col("piece") == 0 if "piece" in tokens_df.columns else F.lit(True)
    joined = tokens_df.select(key.alias("k"), F.concat_ws(_SEP, TOKENS).alias("t"), null_flag, first).rdd

    # exact unless a task of this pass is retried (accumulators in transformations)
    rows_seen = sc.accumulator(0)
    null_rows = sc.accumulator(0)
    empty_rows = sc.accumulator(0)

    def keyed_texts(rows):
        counts = [0, 0, 0]
        for k, text, is_null, is_first in rows:
            if is_first:  # count input rows, not the pieces of long ones
                counts[0] += 1
                if is_null:
                    counts[1] += 1
                elif not text:
                    counts[2] += 1
            if text:
                yield k, text
        rows_seen.add(counts[0])
        null_rows.add(counts[1])
        empty_rows.add(counts[2])

    def encode(rows):
        yield from encode_rows(keyed_texts(rows), index_bc.value)

    corpus = (
        joined.mapPartitions(encode)
        .partitionBy(num_shards, lambda key: key[0] % num_shards)
        .mapPartitions(lambda rows: [build_chunk(rows)], preservesPartitioning=True)
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    sc.setJobDescription("sparkw2v: encode corpus to word ids")
    stats = corpus.mapPartitionsWithIndex(
        lambda q, chunks: [(q, int(off[-1] - off[0]), len(off) - 1) for _, off in chunks]).collect()
    index_bc.unpersist()
    shard_words = np.zeros(num_shards, np.int64)
    rows = 0
    for q, n_words, n_rows in stats:
        shard_words[q] = n_words
        rows += n_rows
    return corpus, shard_words, {"rows": int(rows_seen.value), "null_rows": int(null_rows.value),
                                 "empty_rows": int(empty_rows.value), "trainable_rows": int(rows)}
