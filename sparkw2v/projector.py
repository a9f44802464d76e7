"""TensorBoard embedding-projector files of a model's vectors (as gensim's ``word2vec2tensor``).

``write_projector(emb, out)`` writes into the directory ``out``:

- ``vectors.tsv``: one row per word, its N components as tab-separated decimal floats (9
  significant digits: each parses back to the same float32);
- ``metadata.tsv``: the header ``word<TAB>count``, then one row per word, in the same order;
  a word's backslash, tab, newline and carriage return are written ``\\\\``, ``\\t``, ``\\n``,
  ``\\r`` (the projector splits rows on newlines and columns on tabs and has no escape of its
  own; :func:`unescape_word` reverses it);
- ``projector_config.pbtxt``: ``embeddings { tensor_path: "vectors.tsv" metadata_path:
  "metadata.tsv" }``, for TensorBoard's projector plugin (a log directory holding the three
  files). The standalone projector (projector.tensorflow.org, "Load") takes the two TSV files.

``limit`` keeps the most frequent words. Files go through fsspec (local paths or URLs).
"""

from __future__ import annotations

import numpy as np

from . import storage
from .embeddings import Embeddings

VECTORS = "vectors.tsv"
METADATA = "metadata.tsv"
CONFIG = "projector_config.pbtxt"
FILES = (VECTORS, METADATA, CONFIG)
_ESCAPES = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}
_UNESCAPES = {"\\": "\\", "t": "\t", "n": "\n", "r": "\r"}


def escape_word(word: str) -> str:
    """``word`` with backslash, tab, newline and carriage return escaped (``\\\\ \\t \\n \\r``)."""
    return "".join(_ESCAPES.get(ch, ch) for ch in word)


def unescape_word(text: str) -> str:
    """The inverse of :func:`escape_word`.

    Raises:
        ValueError: a backslash not followed by one of ``\\\\ t n r``.
    """
    out, i = [], 0
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            nxt = text[i + 1:i + 2]
            if nxt not in _UNESCAPES:
                raise ValueError(f"{text!r}: a backslash at {i} escapes nothing known (\\\\ \\t \\n \\r)")
            out.append(_UNESCAPES[nxt])
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def most_frequent(emb: Embeddings, limit: int | None) -> Embeddings:
    """The ``limit`` most frequent words of ``emb`` (all when None), by descending count; words
    of equal count keep their order (a model's are already in this order: id = rank).

    Raises:
        ValueError: ``limit`` < 1.
    """
    if limit is not None and limit < 1:
        raise ValueError(f"limit {limit} must be >= 1")
    order = np.argsort(-np.asarray(emb.counts, np.int64), kind="stable")
    if limit is not None:
        order = order[:limit]
    if np.array_equal(order, np.arange(len(emb.words))):
        return emb
    return Embeddings(tuple(emb.words[i] for i in order), emb.counts[order], emb.vectors[order])


def check_out(out: str, overwrite: bool, files: tuple[str, ...] = FILES) -> None:
    """Refuse an ``out`` directory that is a file, or exists and is not empty (without
    ``overwrite``, which replaces only ``files`` in it).

    Raises:
        InputError: ``out`` is a file.
        OutputExistsError: ``out`` is a non-empty directory and ``overwrite`` is False.
    """
    storage.check_output_directory(out, "the projector files", files, overwrite)


def write_projector(emb: Embeddings, out: str, limit: int | None = None, overwrite: bool = False) -> dict:
    """Write ``emb``'s ``limit`` most frequent words as projector files into the directory ``out``.

    Args:
        emb: V words, (V,) int64 counts, (V, N) float32 vectors.
        out: a directory (local path or fsspec URL); made if missing.
        limit: rows to write (the most frequent words); None: all.
        overwrite: replace the three files in a non-empty ``out``.

    Returns:
        {"out": out, "files": [paths], "rows": rows written, "dimensions": N}.

    Raises:
        InputError, OutputExistsError: see :func:`check_out`.
        OutputWriteError: the filesystem refused.
    """
    check_out(out, overwrite)
    top = most_frequent(emb, limit)
    vectors = np.asarray(top.vectors, np.float32)
    fs, path = storage.url_to_fs(out)
    with storage.output_errors(f"writing the projector files into {out}", "make it writable or choose another --out"):
        fs.makedirs(path, exist_ok=True)
        with fs.open(storage.join(fs, path, VECTORS), "w", encoding="utf-8", newline="\n") as fh:
            np.savetxt(fh, vectors, fmt="%.9g", delimiter="\t")
        with fs.open(storage.join(fs, path, METADATA), "w", encoding="utf-8", newline="\n") as fh:
            fh.write("word\tcount\n")
            fh.writelines(f"{escape_word(w)}\t{int(c)}\n" for w, c in zip(top.words, top.counts))
        with fs.open(storage.join(fs, path, CONFIG), "w", encoding="utf-8", newline="\n") as fh:
            fh.write(f'embeddings {{\n  tensor_path: "{VECTORS}"\n  metadata_path: "{METADATA}"\n}}\n')
    return {"out": out, "files": [storage.child(out, n) for n in FILES], "rows": len(top.words),
            "dimensions": int(vectors.shape[1])}
