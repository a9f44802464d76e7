"""Write a model directory from the executors: the driver never holds W or W'.

The trained blocks are in the block store (``blockstore``); one Spark task per block reads its
rows of W and W' and writes them, with their words, ids and counts, as one Parquet part of
``embeddings/``, ``context_embeddings/`` and ``mllib/data/``. Parts go to temporary
directories that the driver renames into place once every task is done; then ``metadata.json``
and, last, ``_SUCCESS`` (``storage``): a failed write never looks complete.
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import checkpoint, storage
from .blockstore import BlockStore
from .errors import CheckpointError
from .embeddings import CONTEXT_EMBEDDINGS, EMBEDDINGS, MLLIB, METADATA, vectors_table
from .layout import BlockLayout


@dataclass(frozen=True)
class _Part:
    """What one task writes: block ``block`` of the state, its rows' words, ids and counts."""

    block: int
    ids: np.ndarray
    words: list
    counts: np.ndarray


def part_name(block: int) -> str:
    return f"part-{block:05d}.parquet"


def part_url(table_url: str, block: int) -> str:
    """Where block ``block``'s part of a table goes."""
    return storage.child(table_url, part_name(block))


def _write_part(store: BlockStore, epochs_done: int, vector_size: int, targets: dict, part: _Part) -> int:
    """Executor side: read one block of W and W' and write its three Parquet parts; rows written."""
    n = len(part.ids)
    W = store._read_rows(store.block_path(epochs_done, "W", part.block), 0, n, vector_size)
    table = vectors_table(part.words, part.counts, W, ids=part.ids)
    _write(table, targets[EMBEDDINGS][part.block])
    _write(table.select(["word", "vector"]), targets["mllib"][part.block])
    del table, W  # one matrix at a time
    Wp = store._read_rows(store.block_path(epochs_done, "Wp", part.block), 0, n, vector_size)
    _write(vectors_table(part.words, part.counts, Wp, ids=part.ids), targets[CONTEXT_EMBEDDINGS][part.block])
    return n


def _write(table, url: str) -> None:
    fs, path = storage.url_to_fs(url)
    fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    storage.write_parquet(table, fs, path)


def write_model_from_blocks(sc, url: str, store: BlockStore, epochs_done: int, layout: BlockLayout,
                            next_layout: BlockLayout, words, counts: np.ndarray, vector_size: int,
                            metadata: dict[str, Any], mllib_params: dict[str, Any] | None = None) -> dict:
    """Write the model directory ``url`` (prepared by the caller) from the state after
    ``epochs_done`` epochs, one Spark task per block.

    Args:
        sc: the SparkContext.
        url: the model directory: a path or URL the driver and the executors reach.
        store: the block store holding the state.
        layout: the layout the state's blocks were trained in; next_layout: the one its rows are
            sorted by (``blockstore.BlockStore.write_block``).
        words: the V words (id = position); counts: (V,) int64.
        vector_size: N.
        metadata: written as ``metadata.json``.
        mllib_params: MLlib parameters for ``mllib/metadata`` (``embeddings.write_mllib_metadata``).

    Returns:
        {"rows": V, "seconds": wall time}.

    Raises:
        OSError: a task or the driver could not write (nothing is marked complete).
    """
    from .embeddings import write_mllib_metadata

    start = time.perf_counter()
    token = uuid.uuid4().hex[:12]
    tmp = {EMBEDDINGS: storage.child(url, f"_tmp-{EMBEDDINGS}-{token}"),
           CONTEXT_EMBEDDINGS: storage.child(url, f"_tmp-{CONTEXT_EMBEDDINGS}-{token}"),
           "mllib": storage.child(url, f"_tmp-{MLLIB}-data-{token}")}
    P = layout.num_blocks
    targets = {name: [part_url(table, b) for b in range(P)] for name, table in tmp.items()}
    parts = []
    for b in range(P):
        members = layout.members(b)
        ids = members[np.argsort(next_layout.labels[members], kind="stable")].astype(np.int32)
        parts.append(_Part(b, ids, [words[i] for i in ids], np.asarray(counts)[ids]))
    sc.setJobDescription(f"sparkw2v: write the model ({P} blocks) to {url}")
    try:
        rows = sc.parallelize(parts, P).map(
            lambda part: _write_part(store, epochs_done, vector_size, targets, part)).sum()
    except Exception as exc:  # py4j's Py4JJavaError: a task could not write
        for table in tmp.values():
            _remove(table)
        damage = checkpoint.raised_in(str(exc))
        if damage is not None:  # a block changed after it was checked: not a failed write
            raise CheckpointError(f"{damage}: the trained blocks changed after they were checked; "
                                  "train afresh with --overwrite (without --resume)") from None
        raise OSError(_task_error(exc)) from None
    if rows != len(words):  # pragma: no cover - every id is in exactly one block
        raise OSError(f"the blocks hold {rows} rows, the vocabulary {len(words)} words")
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
