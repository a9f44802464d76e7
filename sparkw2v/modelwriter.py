"""Write a model directory from the executors: the driver never holds W or W'.

The trained blocks are in the block store (``blockstore``); one Spark task per block (a
``mapInArrow`` over the block numbers) reads its rows of W and W' and writes them, with their words, ids and counts, as one Parquet part of
``embeddings/``, ``context_embeddings/`` and ``mllib/data/``. Parts go to temporary
directories that the driver renames into place once every task is done; then ``metadata.json``
and, last, ``_SUCCESS`` (``storage``): a failed write never looks complete.
"""

from __future__ import annotations

import functools
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import checkpoint, storage
from .blockstore import BlockStore, VocabularyFile
from .embeddings import CONTEXT_EMBEDDINGS, EMBEDDINGS, MLLIB, METADATA, vectors_table
from .epoch import build_layout
from .errors import CheckpointError
from .layout import pair_weights
from .session import describe
from .vocab import keep_probabilities


@dataclass(frozen=True)
class _Job:
    """What every task of the model's write needs (small; pickled into the tasks)."""

    store: BlockStore
    epochs_done: int
    vocabulary: VocabularyFile
    seed: int
    sample: float
    num_blocks: int
    vector_size: int
    targets: dict

    def part(self, block: int) -> tuple[np.ndarray, list, np.ndarray]:
        """Block ``block``'s rows, in the order its files hold them: (ids (n,) int32, words,
        counts (n,) int64). The layouts are rebuilt here from the vocabulary's counts (every
        layout is a function of the counts, the seed and the epoch)."""
        words, counts = self.vocabulary.load()
        weights = pair_weights(counts, keep_probabilities(counts, self.sample))
        key = ("model", self.vocabulary.sha256)
        layout = build_layout(weights, self.num_blocks, self.seed, self.epochs_done - 1, key)
        following = build_layout(weights, self.num_blocks, self.seed, self.epochs_done, key)
        members = layout.members(block)
        ids = members[np.argsort(following.labels[members], kind="stable")].astype(np.int32)
        return ids, words.take(ids).to_pylist(), counts[ids]


def part_name(block: int) -> str:
    return f"part-{block:05d}.parquet"


def part_url(table_url: str, block: int) -> str:
    """Where block ``block``'s part of a table goes."""
    return storage.child(table_url, part_name(block))


def _write_part(job: _Job, block: int) -> int:
    """Executor side: read one block of W and W' and write its three Parquet parts; rows written."""
    ids, words, counts = job.part(block)
    n = len(ids)
    W = job.store._read_rows(job.store.block_path(job.epochs_done, "W", block), 0, n, job.vector_size)
    table = vectors_table(words, counts, W, ids=ids)
    _write(table, job.targets[EMBEDDINGS][block])
    _write(table.select(["word", "vector"]), job.targets["mllib"][block])
    del table, W  # one matrix at a time
    Wp = job.store._read_rows(job.store.block_path(job.epochs_done, "Wp", block), 0, n, job.vector_size)
    _write(vectors_table(words, counts, Wp, ids=ids), job.targets[CONTEXT_EMBEDDINGS][block])
    return n


def _write_parts(job: _Job, batches):
    """``mapInArrow`` over the block numbers: write each block's parts; one row of rows written."""
    import pyarrow as pa

    for batch in batches:
        rows = [_write_part(job, block) for block in batch.column(0).to_pylist()]
        yield pa.RecordBatch.from_arrays([pa.array(rows, pa.int64())], names=["rows"])


def _write(table, url: str) -> None:
    fs, path = storage.url_to_fs(url)
    fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    storage.write_parquet(table, fs, path)


def write_model_from_blocks(spark, url: str, store: BlockStore, epochs_done: int, vocabulary: VocabularyFile,
                            seed: int, sample: float, num_blocks: int, vector_size: int,
                            metadata: dict[str, Any], mllib_params: dict[str, Any] | None = None) -> dict:
    """Write the model directory ``url`` (prepared by the caller) from the state after
    ``epochs_done`` epochs, one Spark task per block (DataFrame operators only: classic Spark
    and Spark Connect alike).

    Args:
        spark: the SparkSession.
        url: the model directory: a path or URL the driver and the executors reach.
        store: the block store holding the state.
        vocabulary: the words and counts in the store (``BlockStore.write_vocabulary``).
        seed, sample, num_blocks: the run's; with the counts they give the layouts the state's
            blocks were trained in and sorted by (``blockstore.BlockStore.write_block``).
        vector_size: N.
        metadata: written as ``metadata.json``.
        mllib_params: MLlib parameters for ``mllib/metadata`` (``embeddings.write_mllib_metadata``).

    Returns:
        {"rows": V, "seconds": wall time}.

    Raises:
        OSError: a task or the driver could not write (nothing is marked complete).
        CheckpointError: a block file or the vocabulary file changed after it was checked.
    """
    from .embeddings import write_mllib_metadata

    url = storage.absolute(url)  # the executors write into it: not relative to their cwd
    start = time.perf_counter()
    token = uuid.uuid4().hex[:12]
    tmp = {EMBEDDINGS: storage.child(url, f"_tmp-{EMBEDDINGS}-{token}"),
           CONTEXT_EMBEDDINGS: storage.child(url, f"_tmp-{CONTEXT_EMBEDDINGS}-{token}"),
           "mllib": storage.child(url, f"_tmp-{MLLIB}-data-{token}")}
    P = num_blocks
    targets = {name: [part_url(table, b) for b in range(P)] for name, table in tmp.items()}
    job = _Job(store, epochs_done, vocabulary, seed, sample, P, vector_size, targets)
    describe(spark, f"sparkw2v: write the model ({P} blocks) to {url}")
    try:
        written = (spark.range(0, P, 1, P).mapInArrow(functools.partial(_write_parts, job), "rows long")
                   .collect())
        rows = sum(r["rows"] for r in written)
    except Exception as exc:  # the job failed in Spark (py4j's or Spark Connect's exception)
        for table in tmp.values():
            _remove(table)
        damage = checkpoint.raised_in(str(exc))
        if damage is not None:  # a block changed after it was checked: not a failed write
            raise CheckpointError(f"{damage}: the trained blocks changed after they were checked; "
                                  "train afresh with --overwrite (without --resume)") from None
        raise OSError(_task_error(exc)) from None
    if rows != vocabulary.size:  # pragma: no cover - every id is in exactly one block
        raise OSError(f"the blocks hold {rows} rows, the vocabulary {vocabulary.size} words")
    fs, path = storage.url_to_fs(url)
    for name, final in ((EMBEDDINGS, EMBEDDINGS), (CONTEXT_EMBEDDINGS, CONTEXT_EMBEDDINGS)):
        storage.replace_dir(fs, storage.url_to_fs(tmp[name])[1], storage.join(fs, path, final))
    write_mllib_metadata(storage.child(url, MLLIB), vector_size, mllib_params)
    storage.replace_dir(fs, storage.url_to_fs(tmp["mllib"])[1], storage.join(fs, path, MLLIB, "data"))
    storage.write_json(metadata, url, METADATA)
    storage.mark_complete(url)
    return {"rows": int(rows), "seconds": time.perf_counter() - start}


def _remove(url: str) -> None:
    fs, path = storage.url_to_fs(url)
    storage.remove_quietly(fs, path)


def _task_error(exc: Exception) -> str:
    """The Python error line of a failed Spark task (e.g. 'FileExistsError: [Errno 17] File
    exists: ...'), else the first line of the Spark error."""
    text = str(exc)
    found = re.findall(r"^\s*(\w+(?:Error|Exception): .*)$", text, re.MULTILINE)
    python = [line for line in found if not line.startswith(("Py4J", "SparkException", "PythonException"))]
    if python:
        return python[-1].strip()[:500]
    return text.splitlines()[0][:500] if text else type(exc).__name__
