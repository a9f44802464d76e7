"""Tokens -> int32 word-id arrays in the executors, cached as one record per corpus shard.

The corpus never reaches the driver, and no dictionary of the vocabulary is built: the words
travel to the executors once, as one Arrow string array, and each batch of rows is looked up
in C++ (``pyarrow.compute.index_in``; out-of-vocabulary words drop out, as in the C tool and
gensim). A row's tokens reach Python as one string, joined in the JVM by a separator, and are
split back in C++ (``split_pattern``): no Python object a token. A row whose tokens hold the
separator (impossible with the default token_pattern) travels as its token array instead.
Rows go to their shard by a hash of their stable key and are ordered by it, so the shards
depend on the corpus alone (its file names and row numbers for Parquet input), never on how
Spark split the input or how many cores read it. Each shard is one partition of the cached RDD
holding one (ids, offsets) record.
"""

from __future__ import annotations

import zlib

import numpy as np

from .tokenizer import NULL_FLAG, PIECE, ROW_FILE, ROW_INDEX, TOKENS

# In-vocabulary words per corpus shard: the shard count, ceil(words / WORDS_PER_SHARD), depends
# on the corpus only. A shard is the unit of pair generation (one task per epoch).
WORDS_PER_SHARD = 2_000_000
# Rows longer than this many in-vocabulary words are cut into rows of this length (gensim's
# MAX_WORDS_IN_BATCH), so that one huge row neither unbalances the shards nor needs one huge
# array; nothing is dropped.
MAX_ROW_WORDS = 10_000
# Joins a row's tokens for the trip from the JVM to Python (the default tokenizer splits on
# whitespace, so no token holds it).
SEPARATOR = " "


def num_shards(train_words: int) -> int:
    """How many shards a corpus of ``train_words`` in-vocabulary words is cut into (>= 1)."""
    return max(1, -(-int(train_words) // WORDS_PER_SHARD))


def batch_characters(vocab_size: int) -> int:
    """Characters of text looked up at once: enough tokens (about 4 x V) that building the
    lookup table of V words, which every call does, costs little next to the lookups."""
    return 8_000_000 + 24 * vocab_size


def lookup_rows(texts: list, odd: list, words):
    """Word ids of rows of tokens.

    Args:
        texts: row strings, tokens joined by SEPARATOR (None where ``odd`` holds the row).
        odd: per row, None or the row's token list (when a token holds the separator).
        words: pyarrow string array, the vocabulary (id = position).

    Returns:
        list of (L,) int32 id arrays, one a row, out-of-vocabulary tokens dropped.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    lists = pc.split_pattern(pa.array([t if o is None else "" for t, o in zip(texts, odd)], pa.string()),
                             pattern=SEPARATOR)
    offsets = lists.offsets.to_numpy()
    flat = lists.flatten()
    extra = [o for o in odd if o is not None]
    if extra:
        flat = pa.concat_arrays([flat, pa.array([w for row in extra for w in row], pa.string())])
    ids = pc.index_in(flat, value_set=words).fill_null(-1).to_numpy().astype(np.int64)
    out, tail = [], offsets[-1]
    for i, o in enumerate(odd):
        if o is None:
            row = ids[offsets[i]:offsets[i + 1]]
        else:
            row = ids[tail:tail + len(o)]
            tail += len(o)
        out.append(row[row >= 0].astype(np.int32))
    return out


def shard_of(key: tuple, num_shards: int) -> int:
    """The shard of a row keyed (file name, row number, piece): a hash of file and number."""
    return zlib.crc32(f"{key[0]}\x00{key[1]}".encode("utf-8", "surrogatepass")) % num_shards


def build_shard(rows, max_row_words: int = MAX_ROW_WORDS) -> tuple[np.ndarray, np.ndarray]:
    """One shard's rows, in key order, -> (ids, offsets).

    Args:
        rows: iterable of (L,) int id sequences, one a row, in the shard's order.
        max_row_words: rows longer than this are cut into rows of at most this many words
            (nothing dropped); rows with fewer than 2 words are skipped (they form no pair).

    Returns:
        (ids (T,) int32, offsets (R + 1,) int64): row r is ids[offsets[r]:offsets[r + 1]].
    """
    parts = []
    for row in rows:
        ids = np.asarray(row, np.int32)
        for start in range(0, ids.shape[0], max_row_words):
            piece = ids[start:start + max_row_words]
            if piece.shape[0] >= 2:
                parts.append(piece)
    lengths = np.fromiter((p.shape[0] for p in parts), dtype=np.int64, count=len(parts))
    offsets = np.zeros(len(parts) + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    ids = np.concatenate(parts) if parts else np.zeros(0, np.int32)
    return ids, offsets


def encode_corpus(tokens_df, words, num_shards: int):
    """Encode and cache the corpus in the executors.

    Args:
        tokens_df: DataFrame with array<string> column ``tokens`` and optionally the
            ``row_file``, ``row_index``, ``piece`` and ``text_is_null`` of
            :func:`sparkw2v.tokenizer.tokenize` (without ``row_index`` rows are keyed by Spark's
            row ids, which depend on how the input is partitioned).
        words: the vocabulary's words, id = position (sent once, as an Arrow array).
        num_shards: C (see :func:`num_shards`).

    Returns:
        (cached RDD of C partitions, one (ids, offsets) record each (:func:`build_shard`),
         (C,) int64 in-vocabulary words per shard,
         {"rows": input rows, "null_rows": rows whose text is null, "empty_rows": rows with
         no token, "trainable_rows": rows (after cutting at MAX_ROW_WORDS) with >= 2
         in-vocabulary words}).
    """
    import pyarrow as pa
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    sc = tokens_df.sparkSession.sparkContext
    words_bc = sc.broadcast(pa.array(words, pa.string()))
    max_chars = batch_characters(len(words))
    row_file = F.col(ROW_FILE) if ROW_FILE in tokens_df.columns else F.lit("")
    row_index = F.col(ROW_INDEX) if ROW_INDEX in tokens_df.columns else F.monotonically_increasing_id()
    piece = F.col(PIECE) if PIECE in tokens_df.columns else F.lit(0)
    null_flag = F.col(NULL_FLAG) if NULL_FLAG in tokens_df.columns else F.lit(False)
    holds_separator = F.exists(TOKENS, lambda w: F.instr(w, SEPARATOR) > 0)
    rows = tokens_df.select(F.coalesce(row_file, F.lit("")), row_index, piece, null_flag,
                            F.concat_ws(SEPARATOR, TOKENS), F.when(holds_separator, F.col(TOKENS)))

    # exact unless a task of this pass is retried (accumulators in transformations)
    rows_seen = sc.accumulator(0)
    null_rows = sc.accumulator(0)
    empty_rows = sc.accumulator(0)

    def encode(part):
        keys, texts, odd = [], [], []
        counts = [0, 0, 0]
        chars = 0

        def flush():
            for key, ids in zip(keys, lookup_rows(texts, odd, words_bc.value)):
                if ids.shape[0] >= 2:
                    yield key, ids

        for f, r, p, is_null, text, tokens in part:
            if p == 0:  # count input rows, not the pieces of long ones
                counts[0] += 1
                counts[1] += bool(is_null)
                counts[2] += (not is_null) and not text and tokens is None
            if not text and tokens is None:
                continue
            keys.append((f, r, p))
            texts.append(text)
            odd.append(tokens)
            chars += len(text)
            if chars >= max_chars:
                yield from flush()
                keys, texts, odd, chars = [], [], [], 0
        if keys:
            yield from flush()
        rows_seen.add(counts[0])
        null_rows.add(counts[1])
        empty_rows.add(counts[2])

    corpus = (
        rows.rdd.mapPartitions(encode)
        .partitionBy(num_shards, lambda key: shard_of(key, num_shards))
        .mapPartitions(lambda kv: [build_shard(ids for _, ids in sorted(kv, key=lambda x: x[0]))],
                       preservesPartitioning=True)
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    sc.setJobDescription("sparkw2v: encode corpus to word ids")
    stats = corpus.mapPartitionsWithIndex(
        lambda q, chunks: [(q, int(off[-1] - off[0]), len(off) - 1) for _, off in chunks]).collect()
    words_bc.unpersist()
    shard_words = np.zeros(num_shards, np.int64)
    trainable = 0
    for q, n_words, n_rows in stats:
        shard_words[q] = n_words
        trainable += n_rows
    return corpus, shard_words, {"rows": int(rows_seen.value), "null_rows": int(null_rows.value),
                                 "empty_rows": int(empty_rows.value), "trainable_rows": int(trainable)}
