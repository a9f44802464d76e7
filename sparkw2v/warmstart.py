"""Warm start: begin training from an earlier model's vectors (``train --init-from MODEL``).

gensim continues a model on new text with ``build_vocab(update=True)`` and ``train``; this is
the same for the block trainer, without the driver ever holding a vector:

1. :func:`open_model` checks the earlier model (complete, its tables of the model's schema, the
   same ``vector_size`` as this run) and :func:`model_words` reads its words (distinct, as many
   as its metadata records) as a DataFrame;
2. the vocabulary is the earlier model's words plus the new corpus's words seen ``min_count``
   times, counted on the new corpus (``vocab.count_vocabulary(keep_words=...)``);
3. :func:`write_start_state` writes the state the first epoch starts from -- the blocks of W
   and W' in epoch 0's layout -- from the executors: one stage routes every row of the earlier
   model's ``embeddings`` (W) and ``context_embeddings`` (W') to its block in the new vocabulary
   (``repartitionById``), the next assembles each block (a new word's W row from the seed as in
   a fresh run, ``kernel.init_rows``; its W' row 0), checks it and writes it with its sha256.

The trainer commits that state as the state after 0 epochs, and every epoch then runs as it
does after a checkpoint (each task checks the files of its blocks against their records). A
run interrupted before its first checkpoint resumes from that state.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass

import numpy as np

from . import kernel
from .blockstore import BlockStore, VocabularyFile, block_name
from .embeddings import CONTEXT_EMBEDDINGS, EMBEDDINGS, model_vector_size, read_metadata, validate_model_dir
from .encode import binary_column, binary_values
from .epoch import build_layout
from .errors import ConfigError, ModelFormatError
from .layout import pair_weights
from .session import describe
from .vocab import keep_probabilities

MATRICES = ("W", "Wp")  # part = 2 x block + matrix number
_TABLES = {"W": EMBEDDINGS, "Wp": CONTEXT_EMBEDDINGS}


@dataclass(frozen=True)
class InitModel:
    """An earlier model to start from, checked by :func:`open_model`.

    Attributes:
        url: the model directory.
        files: {"W": embeddings' Parquet files, "Wp": context_embeddings'} (paths of its filesystem).
        vector_size: N, as its metadata records it (None: it records none; checked row by row).
        vocab_size: the number of words its metadata records (None: it records none).
    """

    url: str
    files: dict
    vector_size: int | None
    vocab_size: int | None


def open_model(url: str, vector_size: int) -> InitModel:
    """Check the model at ``url`` for a warm start of a run with ``vector_size``.

    Args:
        url: the earlier model directory (path or fsspec URL); vector_size: this run's N.

    Returns:
        the checked :class:`InitModel` (its tables' files, recorded vector_size and vocab_size).

    Raises:
        IncompleteModelError: no model there, or no ``_SUCCESS`` marker.
        ModelFormatError: not a model, a table missing or of another schema, damaged metadata.
        ConfigError: its vector_size is not ``vector_size`` (one line naming both and the fix).
    """
    files = {m: validate_model_dir(url, table) for m, table in _TABLES.items()}
    size = model_vector_size(url)
    if size is not None and size != vector_size:
        raise ConfigError(f"--init-from {url!r} holds vectors of vector_size {size}, this run has vector_size "
                          f"{vector_size}: a warm start continues those vectors, so the sizes must be equal; give "
                          f"--vector-size {size}, or train from scratch without --init-from")
    recorded = read_metadata(url).get("corpus", {})
    vocab_size = recorded.get("vocab_size") if isinstance(recorded, dict) else None
    return InitModel(url, files, size, vocab_size if isinstance(vocab_size, int) else None)


def model_words(spark, model: InitModel):
    """The earlier model's words: a DataFrame with one string column ``word``.

    Raises:
        ModelFormatError: a null or repeated word, or another number of words than its
            metadata records (the table was changed or damaged).
    """
    from pyspark.sql import functions as F

    words = _table(spark, model, "W").select("word")
    describe(spark, f"sparkw2v: read the words of {model.url}")
    row = words.agg(F.count(F.lit(1)).alias("rows"), F.count("word").alias("words"),
                    F.countDistinct("word").alias("distinct")).first()
    rows, distinct = int(row["rows"]), int(row["distinct"])
    if int(row["words"]) != rows or distinct != rows:
        raise ModelFormatError(f"model {model.url!r}: its {EMBEDDINGS}/ table holds {rows} rows but {distinct} "
                               "distinct words (a null or repeated word): it is damaged; train it again")
    if model.vocab_size is not None and rows != model.vocab_size:
        raise ModelFormatError(f"model {model.url!r}: its {EMBEDDINGS}/ table holds {rows} words, its metadata "
                               f"records {model.vocab_size}: it was changed or damaged; train it again")
    return words


def _table(spark, model: InitModel, matrix: str):
    """A table of the model as Spark reads it (its directory, as the input is read)."""
    from . import storage

    return spark.read.parquet(storage.spark_path(storage.child(model.url, _TABLES[matrix])))


def _model_errors(run):
    """Run a Spark action; a ModelFormatError or CheckpointError that a task raised comes back
    as one (its line in the failed job's error text), not as Spark's error."""
    from .checkpoint import raised_in
    from .errors import CheckpointError

    try:
        return run()
    except Exception as exc:  # the job failed in Spark (py4j's or Spark Connect's exception)
        damage = raised_in(str(exc))
        if damage is not None:
            raise CheckpointError(damage) from None
        bad = raised_in(str(exc), "ModelFormatError")
        if bad is not None:
            raise ModelFormatError(bad) from None
        raise


@dataclass(frozen=True)
class _StartJob:
    """What the tasks of :func:`write_start_state` need (small; pickled into them)."""

    store: BlockStore
    vocabulary: VocabularyFile
    sample: float
    num_blocks: int
    seed: int
    vector_size: int
    model: str

    def layout(self):
        """Epoch 0's layout (``epoch.build_layout``: the one the trainer's first epoch uses)."""
        _, counts = self.vocabulary.load()
        weights = pair_weights(counts, keep_probabilities(counts, self.sample))
        return build_layout(weights, self.num_blocks, self.seed, 0, ("start", self.vocabulary.sha256))


ROUTED_SCHEMA = "part int, rows binary, vectors binary"
WRITTEN_SCHEMA = "name string, record string, placed long, error string"
IDS_FILE = "warm-start-ids.parquet"  # (word, id) of the run's vocabulary, in the block store


def _route_rows(job: _StartJob, batches):
    """Stage 1 (``mapInArrow`` over both tables joined with the vocabulary's ids: columns
    ``matrix`` 0 = W, 1 = W', ``word``, ``vector``, ``id``): each row's vector, bound for its
    block of epoch 0 (part = 2 x block + matrix), as its local row there. Each id is checked
    against the vocabulary file (its word at that id must be the row's).

    Raises:
        ModelFormatError: a vector of another width than vector_size, null, NaN or infinite; a
            word that is not in the vocabulary (the model changed since its words were read).
        CheckpointError: an id that is not the word's in the vocabulary file.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    from .errors import CheckpointError

    words_all, _ = job.vocabulary.load()
    layout = job.layout()
    N = job.vector_size
    for batch in batches:
        if batch.num_rows == 0:
            continue
        vectors = batch.column("vector")
        if vectors.null_count or batch.column("word").null_count:
            raise ModelFormatError(f"--init-from {job.model!r}: a null word or vector: the model is damaged")
        lengths = np.diff(vectors.offsets.to_numpy())
        if (lengths != N).any():
            bad = batch.column("word")[int(np.flatnonzero(lengths != N)[0])].as_py()
            raise ModelFormatError(f"--init-from {job.model!r}: the vector of {bad!r} has "
                                   f"{int(lengths[lengths != N][0])} components, this run's vector_size is {N}: "
                                   f"give --vector-size {int(lengths[lengths != N][0])}, or train from scratch")
        values = vectors.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False).reshape(-1, N)
        finite = np.isfinite(values).all(axis=1)
        if not finite.all():
            bad = batch.column("word")[int(np.flatnonzero(~finite)[0])].as_py()
            raise ModelFormatError(f"--init-from {job.model!r}: the vector of {bad!r} holds a NaN or infinite "
                                   "component: the model is damaged")
        ids = batch.column("id")
        if ids.null_count:
            bad = pc.filter(batch.column("word"), pc.is_null(ids))[0].as_py()
            raise ModelFormatError(f"--init-from {job.model!r}: the word {bad!r} is not in the vocabulary built "
                                   "from the model's words: the model changed while training started; train again")
        ids = ids.to_numpy().astype(np.int64)
        if ids.min() < 0 or ids.max() >= len(words_all) or not pc.all(
                pc.equal(words_all.take(pa.array(ids)), batch.column("word"))).as_py():
            raise CheckpointError(f"the word ids of {job.store.url} differ from its vocabulary file: train again")
        matrix = batch.column("matrix").to_numpy()
        part = 2 * layout.labels[ids].astype(np.int64) + matrix
        order = np.argsort(part, kind="stable")
        cuts = np.flatnonzero(np.diff(part[order])) + 1
        groups = np.split(order, cuts)
        yield pa.RecordBatch.from_arrays([
            pa.array([int(part[g[0]]) for g in groups], pa.int32()),
            binary_column([layout.local[ids[g]].astype(np.int32) for g in groups]),
            binary_column([np.ascontiguousarray(values[g]) for g in groups])],
            names=["part", "rows", "vectors"])


def _markers(batches):
    """One empty row per part, so that every part's task runs (and writes its block) even when
    no row of the earlier model falls into it."""
    import pyarrow as pa

    for batch in batches:
        parts = batch.column(0).to_numpy().astype(np.int32)
        empty = pa.array([b""] * len(parts), pa.binary())
        yield pa.RecordBatch.from_arrays([pa.array(parts), empty, empty], names=["part", "rows", "vectors"])


def _assemble_block(job: _StartJob, batches):
    """Stage 2 (one task per part, after ``repartitionById``): one block of W or W' at the
    start of epoch 0 -- the earlier model's rows where it has the word, the seed's W row (W' 0)
    where it has not -- written into the store's state 0 with its record.

    Raises:
        ModelFormatError: a word's row arrived twice (the model holds a word twice).
        RuntimeError: rows of another part arrived (a Spark defect).
    """
    import pyarrow as pa

    layout = job.layout()
    part, pieces = None, []
    for batch in batches:
        for p, rows, vectors in zip(batch.column("part").to_pylist(), binary_values(batch.column("rows"), np.int32),
                                    binary_values(batch.column("vectors"), np.float32)):
            if part is not None and p != part:
                raise RuntimeError(f"the task of part {part} received rows of part {p}")
            part = p
            if rows.shape[0]:
                pieces.append((rows, vectors.reshape(rows.shape[0], job.vector_size)))
    if part is None:  # pragma: no cover - every part has its marker row
        return
    block, matrix = divmod(part, 2)
    members = layout.members(block)
    if MATRICES[matrix] == "W":
        out = kernel.init_rows(members, job.vector_size, job.seed)
    else:
        out = np.zeros((members.shape[0], job.vector_size), np.float32)
    seen = np.zeros(members.shape[0], bool)
    for rows, vectors in pieces:
        if seen[rows].any() or np.unique(rows).shape[0] != rows.shape[0]:
            raise ModelFormatError(f"--init-from {job.model!r}: a word has two rows in its "
                                   f"{_TABLES[MATRICES[matrix]]}/ table: the model is damaged")
        out[rows] = vectors
        seen[rows] = True
    try:
        record, error = json.dumps(job.store.write_block(0, MATRICES[matrix], block, out, layout, layout)), ""
    except OSError as exc:  # reported, not raised: the driver says it in one line
        record, error = "", f"{job.store.block_path(0, MATRICES[matrix], block)}: {exc}"
    yield pa.RecordBatch.from_arrays([pa.array([block_name(MATRICES[matrix], block)]), pa.array([record]),
                                      pa.array([int(seen.sum())], pa.int64()), pa.array([error])],
                                     names=["name", "record", "placed", "error"])


def write_start_state(spark, model: InitModel, store: BlockStore, vocabulary: VocabularyFile, words,
                      sample: float, num_blocks: int, seed: int, vector_size: int, model_words: int) -> dict:
    """Write the blocks of W and W' that epoch 0 starts from into ``store``'s state 0, from the
    executors (module docstring); the driver gets only their records.

    The model's rows find their word ids by a Spark join with a (word, id) Parquet file the
    driver writes into the store from the vocabulary it holds (a join scales with the
    vocabulary; a lookup table per task would not), and every id is checked against the
    vocabulary file.

    Args:
        model: the earlier model (:func:`open_model`); model_words: its number of words.
        vocabulary: the run's vocabulary file (it holds every word of the model); words: the
            same V words (str, by id), as the driver holds them.
        sample, num_blocks, seed: the run's (they give epoch 0's layout); vector_size: N.

    Returns:
        {block file name: record} for every block of W and W' (``BlockStore.write_block``).

    Raises:
        ModelFormatError: a row of the model is damaged or missing (a table lacks a word the
            other has), or a word has two rows.
        OSError: the ids file or a block could not be written.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq
    from pyspark.sql import functions as F

    from . import storage

    job = _StartJob(store, vocabulary, sample, num_blocks, seed, vector_size, model.url)
    ids_url = storage.child(store.url, IDS_FILE)
    with store.fs.open(store._path(IDS_FILE), "wb") as fh:
        pq.write_table(pa.table({"word": pa.array(words, pa.string()),
                                 "id": pa.array(np.arange(len(words), dtype=np.int32))}), fh)
    ids = spark.read.parquet(storage.spark_path(ids_url))
    tables = [_table(spark, model, m).select(F.lit(i).cast("byte").alias("matrix"), "word", "vector")
              .join(ids, "word", "left") for i, m in enumerate(MATRICES)]
    parts = 2 * num_blocks
    routed = tables[0].unionByName(tables[1]).mapInArrow(functools.partial(_route_rows, job), ROUTED_SCHEMA)
    markers = spark.range(0, parts, 1, 1).mapInArrow(_markers, ROUTED_SCHEMA)
    describe(spark, f"sparkw2v: start from the vectors of {model.url} ({num_blocks} blocks)")
    rows = _model_errors(lambda: routed.unionByName(markers).repartitionById(parts, "part")
                         .mapInArrow(functools.partial(_assemble_block, job), WRITTEN_SCHEMA).collect())
    failed = [r["error"] for r in rows if r["error"]]
    if failed:
        raise OSError(f"writing the start state failed ({failed[0]})")
    records = {r["name"]: json.loads(r["record"]) for r in rows}
    missing = sorted(set(block_name(m, b) for m in MATRICES for b in range(num_blocks)) - set(records))
    if missing:  # pragma: no cover - every part has its marker row
        raise OSError(f"the start state lacks the blocks {missing[:4]}")
    for i, m in enumerate(MATRICES):
        placed = sum(r["placed"] for r in rows if r["name"].startswith(m + "-"))
        if placed != model_words:
            raise ModelFormatError(f"model {model.url!r}: its {_TABLES[m]}/ table holds {placed} of its "
                                   f"{model_words} words: it is damaged; train it again")
    return records
