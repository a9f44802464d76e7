"""Tokens -> int32 word-id arrays in the executors, cached as one record per corpus shard.

The corpus never reaches the driver, and no dictionary of the vocabulary is built: the words
travel to the executors once, as one Arrow string array, and each batch of rows is looked up
in C++ (``pyarrow.compute.index_in``; out-of-vocabulary words drop out, as in the C tool and
gensim). A row's tokens reach Python as one string, joined in the JVM by a separator, and are
split back in C++ (``split_pattern``): no Python object a token. A row whose tokens hold the
separator (impossible with the default token_pattern) travels as its token array instead.
Rows go to their shard by a hash of their stable key and are ordered by it, so the shards
depend on the corpus alone (its file names and row numbers for Parquet input), never on how
Spark split the input or how many cores read it. Each shard is one row of a cached DataFrame
(its ``ids`` and ``offsets`` as bytes), in a partition of its own (``repartitionById``): only
DataFrame operators, so that classic Spark and Spark Connect run the same plan.
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


# The encoded corpus: one row per shard (``shard`` = its number), and one more row, shard C,
# holding the input's row counts (``input_rows``, ``null_rows``, ``empty_rows``).
CORPUS_SCHEMA = ("shard int, ids binary, offsets binary, words long, trainable_rows long, input_rows long, "
                 "null_rows long, empty_rows long")
# A row of the input on its way to its shard: its key, its word ids (int32 bytes).
_KEYED_SCHEMA = "shard int, file string, row long, piece int, ids binary"


def binary_values(column, dtype) -> list:
    """The values of a pyarrow binary column as numpy arrays of ``dtype``, without copies
    (a copy only where a value is not aligned for ``dtype``)."""
    import pyarrow as pa

    if len(column) == 0:
        return []
    _, off_buf, data_buf = column.buffers()
    off_type = np.int64 if pa.types.is_large_binary(column.type) else np.int32
    offsets = np.frombuffer(off_buf, off_type)[column.offset:column.offset + len(column) + 1]
    data = np.frombuffer(data_buf, np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    size = np.dtype(dtype).itemsize
    out = []
    for i in range(len(column)):
        lo, hi = int(offsets[i]), int(offsets[i + 1])
        value = data[lo:hi] if lo % size == 0 else data[lo:hi].copy()
        out.append(value.view(dtype))
    return out


def binary_column(arrays: list):
    """numpy arrays -> one pyarrow binary array of their bytes (one value each, one copy).

    Raises:
        ValueError: the arrays hold 2 GiB or more in all (int32 offsets).
    """
    import pyarrow as pa

    sizes = np.fromiter((a.nbytes for a in arrays), np.int64, count=len(arrays))
    offsets = np.zeros(len(arrays) + 1, np.int64)
    np.cumsum(sizes, out=offsets[1:])
    if offsets[-1] >= 2**31:  # pragma: no cover - a shard's pairs are bounded by WORDS_PER_SHARD
        raise ValueError(f"{int(offsets[-1])} bytes are too many for one Arrow binary column (< 2 GiB)")
    data = np.concatenate([a.view(np.uint8).ravel() for a in arrays]) if arrays else np.zeros(0, np.uint8)
    return pa.Array.from_buffers(pa.binary(), len(arrays),
                                 [None, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(data)])


def _keyed_rows(words, max_chars: int, num_shards: int, batches):
    """Stage 1 of :func:`encode_corpus` (``mapInArrow``): each row's word ids, keyed and bound
    for its shard; then one row for shard C with this partition's input row counts."""
    import pyarrow as pa

    vocabulary = words() if callable(words) else pa.array(list(words), pa.string())
    counts = np.zeros(3, np.int64)  # input rows, rows with null text, rows with no token

    def flush(keys, texts, odd):
        kept = [(key, ids) for key, ids in zip(keys, lookup_rows(texts, odd, vocabulary)) if ids.shape[0] >= 2]
        if kept:
            yield pa.RecordBatch.from_arrays([
                pa.array([shard_of(k, num_shards) for k, _ in kept], pa.int32()),
                pa.array([k[0] for k, _ in kept], pa.string()),
                pa.array([k[1] for k, _ in kept], pa.int64()),
                pa.array([k[2] for k, _ in kept], pa.int32()),
                binary_column([ids for _, ids in kept])], names=["shard", "file", "row", "piece", "ids"])

    keys, texts, odd, chars = [], [], [], 0
    for batch in batches:
        columns = [batch.column(i).to_pylist() for i in range(6)]
        for f, r, p, is_null, text, tokens in zip(*columns):
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
                yield from flush(keys, texts, odd)
                keys, texts, odd, chars = [], [], [], 0
    if keys:
        yield from flush(keys, texts, odd)
    yield pa.RecordBatch.from_arrays([pa.array([num_shards], pa.int32()), pa.array([""]), pa.array([-1], pa.int64()),
                                      pa.array([0], pa.int32()), binary_column([counts])],
                                     names=["shard", "file", "row", "piece", "ids"])


def _shard_rows(num_shards: int, batches):
    """Stage 2 of :func:`encode_corpus` (``mapInArrow`` after ``repartitionById``): partition q
    holds exactly the rows bound for shard q; they become one (ids, offsets) row, in key order
    (:func:`build_shard`). Partition C sums the row counts."""
    import pyarrow as pa
    from pyspark import TaskContext

    shard = TaskContext.get().partitionId()
    keyed, counts = [], np.zeros(3, np.int64)
    for batch in batches:
        got = batch.column(0).to_numpy()
        if np.any(got != shard):  # repartitionById routes by the column: a mismatch is a Spark defect
            raise RuntimeError(f"partition {shard} received rows of shard {int(got[got != shard][0])}")
        ids = binary_values(batch.column(4), np.int32)
        if shard == num_shards:
            for value in ids:
                counts += value.view(np.int64)
            continue
        keyed.extend(zip(zip(batch.column(1).to_pylist(), batch.column(2).to_pylist(),
                             batch.column(3).to_pylist()), ids))
    if shard == num_shards:
        ids, offsets = np.zeros(0, np.int32), np.zeros(1, np.int64)
    else:
        keyed.sort(key=lambda kv: kv[0])
        ids, offsets = build_shard(value for _, value in keyed)
        del keyed
    yield pa.RecordBatch.from_arrays(
        [pa.array([shard], pa.int32()), binary_column([ids]), binary_column([offsets]),
         pa.array([int(offsets[-1] - offsets[0])], pa.int64()), pa.array([len(offsets) - 1], pa.int64()),
         *(pa.array([int(c)], pa.int64()) for c in counts)],
        names=["shard", "ids", "offsets", "words", "trainable_rows", "input_rows", "null_rows", "empty_rows"])


def encode_corpus(tokens_df, words, num_shards: int):
    """Encode and cache the corpus in the executors, with DataFrame operators only (classic
    Spark and Spark Connect alike).

    Args:
        tokens_df: DataFrame with array<string> column ``tokens`` and optionally the
            ``row_file``, ``row_index``, ``piece`` and ``text_is_null`` of
            :func:`sparkw2v.tokenizer.tokenize` (without ``row_index`` rows are keyed by Spark's
            row ids, which depend on how the input is partitioned).
        words: the vocabulary's words, id = position: a sequence of str (travels inside the
            tasks: small vocabularies), or a picklable zero-argument callable that returns them
            as a pyarrow string array on the executor (the trainer's: read from the block store).
        num_shards: C (see :func:`num_shards`).

    Returns:
        (cached DataFrame of C + 1 partitions (``CORPUS_SCHEMA``): partition q < C holds shard
         q's one row, its ``ids`` (int32 bytes) and ``offsets`` (int64 bytes) as
         :func:`build_shard` makes them; partition C the row counts (:func:`read_shards` reads
         the shards back),
         (C,) int64 in-vocabulary words per shard,
         {"rows": input rows, "null_rows": rows whose text is null, "empty_rows": rows with
         no token, "trainable_rows": rows (after cutting at MAX_ROW_WORDS) with >= 2
         in-vocabulary words}).
    """
    import functools

    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    max_chars = batch_characters(len(words) if not callable(words) else getattr(words, "size", 0))
    row_file = F.col(ROW_FILE) if ROW_FILE in tokens_df.columns else F.lit("")
    row_index = F.col(ROW_INDEX) if ROW_INDEX in tokens_df.columns else F.monotonically_increasing_id()
    piece = F.col(PIECE) if PIECE in tokens_df.columns else F.lit(0)
    null_flag = F.col(NULL_FLAG) if NULL_FLAG in tokens_df.columns else F.lit(False)
    holds_separator = F.exists(TOKENS, lambda w: F.instr(w, SEPARATOR) > 0)
    rows = tokens_df.select(F.coalesce(row_file, F.lit("")).alias("f"), row_index.cast("long").alias("r"),
                            piece.cast("int").alias("p"), null_flag.alias("n"),
                            F.concat_ws(SEPARATOR, TOKENS).alias("t"),
                            F.when(holds_separator, F.col(TOKENS)).alias("o"))
    corpus = (rows.mapInArrow(functools.partial(_keyed_rows, words, max_chars, num_shards), _KEYED_SCHEMA)
              .repartitionById(num_shards + 1, "shard")
              .mapInArrow(functools.partial(_shard_rows, num_shards), CORPUS_SCHEMA)
              .persist(StorageLevel.MEMORY_AND_DISK))
    stats = corpus.select("shard", "words", "trainable_rows", "input_rows", "null_rows", "empty_rows").collect()
    shard_words = np.zeros(num_shards, np.int64)
    trainable, totals = 0, np.zeros(3, np.int64)
    for row in stats:
        if row["shard"] < num_shards:
            shard_words[row["shard"]] = row["words"]
            trainable += row["trainable_rows"]
        else:
            totals += [row["input_rows"], row["null_rows"], row["empty_rows"]]
    return corpus, shard_words, {"rows": int(totals[0]), "null_rows": int(totals[1]),
                                 "empty_rows": int(totals[2]), "trainable_rows": int(trainable)}


def read_shards(corpus) -> list[tuple[np.ndarray, np.ndarray]]:
    """The shards of an encoded corpus (:func:`encode_corpus`) on the driver, in shard order:
    [(ids (T,) int32, offsets (R + 1,) int64)] (for tests and ``local.train_local``)."""
    rows = sorted(corpus.select("shard", "ids", "offsets").collect(), key=lambda r: r["shard"])
    out = []
    for row in rows[:-1]:  # the last row is shard C's: the row counts
        out.append((np.frombuffer(row["ids"], np.int32).copy(), np.frombuffer(row["offsets"], np.int64).copy()))
    return out
