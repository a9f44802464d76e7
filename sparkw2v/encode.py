"""Tokens -> int32 word-id arrays in the executors, cached as one record per partition.

The corpus never reaches the driver: executors map words to ids (out-of-vocabulary words are
dropped, as in the C tool and gensim), rows are spread over ``num_partitions`` partitions
by a deterministic key, and each partition keeps its rows as chunks of
numpy arrays, so a round deserialises ready arrays instead of Python objects.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import InputError
from .tokenizer import TOKENS

# Joins a row's tokens for the trip from the JVM to Python: one string per row instead of one
# Python object per token (several times faster). Tokens never contain it: the tokenizer splits
# on whitespace by default, and NUL is not text.
_SEP = "\x00"


@dataclass
class PartitionCorpus:
    """One partition's rows, as chunks trained one per round.

    Attributes:
        chunks: list of (ids (T,) int32, offsets (R + 1,) int64) per chunk; chunk k of K holds
            the partition's rows k, k + K, ... in a fixed order.
    """

    chunks: list

    def chunk_words(self) -> list[int]:
        return [int(off[-1] - off[0]) for _, off in self.chunks]


def encode_rows(texts, index: dict[str, int]):
    """Map each joined token string to an int32 id array (unknown words dropped)."""
    for text in texts:
        tokens = text.split(_SEP)
        ids = np.fromiter((index.get(t, -1) for t in tokens), dtype=np.int32, count=len(tokens))
        ids = ids[ids >= 0]
        if ids.size >= 2:
            yield ids


def build_partition(rows, num_chunks: int) -> PartitionCorpus:
    """Sort a partition's (key, ids) rows by key and cut them into interleaved chunks."""
    rows = sorted(rows, key=lambda kv: kv[0])
    chunks = []
    for k in range(num_chunks):
        part = [ids for _, ids in rows[k::num_chunks]]
        lengths = np.fromiter((len(a) for a in part), dtype=np.int64, count=len(part))
        offsets = np.zeros(len(part) + 1, np.int64)
        np.cumsum(lengths, out=offsets[1:])
        ids = np.concatenate(part).astype(np.int32, copy=False) if part else np.zeros(0, np.int32)
        chunks.append((ids, offsets))
    return PartitionCorpus(chunks)


def _spread(key, num_partitions):
    in_part, seq = key
    return (in_part * 1_000_003 + seq) % num_partitions


def encode_corpus(tokens_df, words, num_partitions: int, num_chunks: int):
    """Encode and cache the corpus in the executors.

    Args:
        tokens_df: DataFrame with array<string> column ``tokens``.
        words: the vocabulary's words, id = position.
        num_partitions: partitions to train in (>= 1).
        num_chunks: chunks per partition (see schedule.chunks_per_partition).

    Returns:
        (cached RDD with one PartitionCorpus per partition,
         (num_partitions, num_chunks) int64 words per partition and chunk,
         {"rows": rows with tokens, "trainable_rows": rows with >= 2 in-vocabulary words}).

    Raises:
        InputError: fewer rows with >= 2 in-vocabulary words than partitions.
    """
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    spark = tokens_df.sparkSession
    sc = spark.sparkContext
    index_bc = sc.broadcast({w: i for i, w in enumerate(words)})
    joined = tokens_df.select(F.concat_ws(_SEP, TOKENS).alias("t")).rdd.map(lambda r: r[0])

    rows_seen = sc.accumulator(0)

    def encode(in_part, texts):
        nonempty = 0
        for text in texts:
            if text:
                nonempty += 1
                yield text
        rows_seen.add(nonempty)

    def keyed(in_part, texts):
        for seq, ids in enumerate(encode_rows(encode(in_part, texts), index_bc.value)):
            yield (in_part, seq), ids

    corpus = (
        joined.mapPartitionsWithIndex(keyed)
        .partitionBy(num_partitions, lambda key: _spread(key, num_partitions))
        .mapPartitions(lambda rows: [build_partition(rows, num_chunks)], preservesPartitioning=True)
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    sc.setJobDescription("sparkw2v: encode corpus to word ids")
    stats = corpus.map(lambda p: (p.chunk_words(), sum(len(off) - 1 for _, off in p.chunks))).collect()
    index_bc.unpersist()
    rows = [n for _, n in stats]
    empty = sum(1 for n in rows if n == 0)
    if empty:
        corpus.unpersist()
        raise InputError(
            f"num_partitions={num_partitions} is more than the corpus can fill: only {sum(rows)} "
            f"rows have >= 2 in-vocabulary words and {empty} partition(s) would be empty; lower "
            "num_partitions or give a larger corpus"
        )
    words = np.array([w for w, _ in stats], dtype=np.int64).reshape(num_partitions, num_chunks)
    return corpus, words, {"rows": int(rows_seen.value), "trainable_rows": int(sum(rows))}
