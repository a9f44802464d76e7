"""The word2vec C tool's vector formats: export and import, text and binary.

Layout (word2vec.c, ``save_vocab``/``output_file``): a header line ``"V N\\n"``, then one
entry per word in file order (the C tool writes descending frequency):
- text: ``word v_1 ... v_N\\n`` with decimal floats;
- binary: ``word `` followed by N little-endian float32 (4 N bytes) and ``\\n``.
Both are read by gensim's ``KeyedVectors.load_word2vec_format``. The vocabulary with counts
goes in a separate file (``fvocab``: gensim's name; the C tool's ``-save-vocab``), one
``word count\n`` line per word. Files go through fsspec (compression by extension, e.g. ``.gz``).
"""

from __future__ import annotations

import os

import fsspec
import numpy as np

from .embeddings import Embeddings
from .errors import InputError


def save_word2vec_format(emb: Embeddings, url: str, binary: bool = False, fvocab: str | None = None) -> None:
    """Write ``emb`` to ``url`` in the C tool's text or binary format.

    Args:
        fvocab: path or URL where to write the vocabulary with counts too (``word count`` per
            line, in the vectors' order), as gensim's ``save_word2vec_format(fvocab=...)`` and
            the C tool's ``-save-vocab``; gensim reads the counts back with
            ``KeyedVectors.load_word2vec_format(url, fvocab=...)``.

    Raises:
        ValueError: a word is empty or contains whitespace (the format cannot hold it).
    """
    vectors = np.ascontiguousarray(emb.vectors, dtype="<f4")
    V, N = vectors.shape
    for w in emb.words:
        if not w or any(ch.isspace() for ch in w):
            raise ValueError(f"word {w!r} is empty or contains whitespace: the word2vec format cannot store it")
    with fsspec.open(url, "wb", compression="infer") as fh:
        fh.write(f"{V} {N}\n".encode())
        for word, vec in zip(emb.words, vectors):
            if binary:
                fh.write(word.encode("utf-8") + b" " + vec.tobytes() + b"\n")
            else:
                fh.write((word + " " + " ".join(repr(float(x)) for x in vec) + "\n").encode("utf-8"))
    if fvocab is not None:
        with fsspec.open(fvocab, "wb", compression="infer") as fh:
            fh.write("".join(f"{w} {int(c)}\n" for w, c in zip(emb.words, emb.counts.tolist())).encode("utf-8"))


def load_word2vec_format(url: str, binary: bool = False, max_bytes: int = 0,
                         fvocab: str | None = None) -> Embeddings:
    """Read a C-tool vector file into :class:`Embeddings` (file order kept).

    Args:
        fvocab: path or URL of the vocabulary with counts (``word count`` per line, as
            :func:`save_word2vec_format`, gensim and the C tool's ``-save-vocab`` write it);
            without it the counts are unknown: all 0.
        max_bytes: refuse a header announcing vectors of more bytes than this (0: the memory
            the machine has), rather than running out of memory allocating them.

    Raises:
        InputError: a missing file, a bad header, vectors larger than ``max_bytes``, a
            truncated file, a line with the wrong number of values or one that is not a
            number, or a word that is not UTF-8; an ``fvocab`` file that is missing, has a
            line other than ``word count`` or lacks a word of the vectors.
    """
    try:
        handle = fsspec.open(url, "rb", compression="infer").open()
    except FileNotFoundError:
        raise InputError(f"{url!r} does not exist") from None
    with handle as fh:
        try:
            emb = _read_vectors(url, fh, binary, max_bytes)
        except (OSError, EOFError) as exc:  # a damaged gzip or bz2 stream, say
            raise InputError(f"{url!r} cannot be read: {exc}") from None
    if fvocab is None:
        return emb
    counts = read_vocab_counts(fvocab)
    missing = [w for w in emb.words if w not in counts]
    if missing:
        raise InputError(f"vocabulary file {fvocab!r} gives no count for {len(missing)} word(s) of {url!r} "
                         f"(e.g. {missing[0]!r}): is it the vocabulary of another vector file?")
    return Embeddings(emb.words, np.array([counts[w] for w in emb.words], np.int64), emb.vectors)


def read_vocab_counts(url: str) -> dict[str, int]:
    """word -> count from a ``word count`` per line file (gensim's ``fvocab``, the C tool's
    ``-save-vocab``); a word given twice keeps its last count, as gensim.

    Raises:
        InputError: a missing or unreadable file, or a line other than a word and a
            non-negative integer (naming the line).
    """
    try:
        handle = fsspec.open(url, "rb", compression="infer").open()
    except FileNotFoundError:
        raise InputError(f"vocabulary file {url!r} does not exist") from None
    counts: dict[str, int] = {}
    with handle as fh:
        try:
            for number, raw in enumerate(fh, 1):
                try:
                    parts = raw.decode("utf-8").split()
                except UnicodeDecodeError:
                    raise InputError(f"vocabulary file {url!r}, line {number}: not UTF-8 text") from None
                if not parts:
                    continue
                if len(parts) != 2 or not (parts[1].isascii() and parts[1].isdigit()):
                    raise InputError(f"vocabulary file {url!r}, line {number}: {raw[:80]!r} is not 'word count'")
                counts[parts[0]] = int(parts[1])
        except (OSError, EOFError) as exc:
            raise InputError(f"vocabulary file {url!r} cannot be read: {exc}") from None
    return counts


def _read_vectors(url: str, fh, binary: bool, max_bytes: int) -> Embeddings:
    words: list[str] = []
    header = fh.readline().split()
    if len(header) != 2 or not all(h.isdigit() for h in header):
        raise InputError(f"{url!r}: first line must be 'V N', got {b' '.join(header)[:80]!r}")
    V, N = int(header[0]), int(header[1])
    limit = max_bytes or _physical_memory()
    if V * N * 4 > limit:
        raise InputError(f"{url!r}: its header announces {V} vectors of {N} components ({V * N * 4 / 2**30:.1f} GiB), "
                         f"more than {limit / 2**30:.1f} GiB; is it a word2vec file? (binary={binary})")
    vectors = np.empty((V, N), np.float32)
    for i in range(V):
        if binary:
            word = bytearray()
            while True:
                ch = fh.read(1)
                if not ch:
                    raise InputError(f"{url!r} ends after {i} of {V} vectors")
                if ch == b" ":
                    break
                if ch != b"\n" or word:  # the newline that ends the previous entry
                    word += ch
            raw = fh.read(4 * N)
            if len(raw) != 4 * N:
                raise InputError(f"{url!r} ends inside the vector of {word.decode(errors='replace')!r}")
            vectors[i] = np.frombuffer(raw, dtype="<f4")
            words.append(_utf8(url, bytes(word), i + 1))
        else:
            line = fh.readline()
            if not line:
                raise InputError(f"{url!r} ends after {i} of {V} vectors")
            parts = _utf8(url, line, i + 2).rstrip().split(" ")  # the C tool ends lines with a space
            if len(parts) != N + 1:
                raise InputError(f"{url!r}: line {i + 2} has {len(parts) - 1} values, expected {N}")
            words.append(parts[0])
            try:
                vectors[i] = np.array(parts[1:], dtype=np.float32)
            except ValueError:
                raise InputError(f"{url!r}: line {i + 2} holds a value that is not a number") from None
    return Embeddings(tuple(words), np.zeros(V, np.int64), vectors)


def _utf8(url: str, raw: bytes, where: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{url!r}: entry {where} is not UTF-8 text: is it the other format (binary or text)?") from None


def _physical_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover
        return 1 << 40
