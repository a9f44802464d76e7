"""Word-analogy and word-similarity benchmarks, with gensim's conventions.

- Analogies (Mikolov et al. 2013a, ``questions-words.txt``): for "a b c d" predict
  argmax_w cos(w, b - a + c) over unit vectors of the ``restrict_vocab`` most frequent
  words, a, b and c excluded; case-insensitive; questions with a word outside that set are
  skipped and counted. Same as gensim's ``KeyedVectors.evaluate_word_analogies``.
- Similarity (WordSim-353, SimLex-999): Spearman's rho between human scores and cosine
  similarities; pairs with an out-of-vocabulary word are skipped. Same as gensim's
  ``evaluate_word_pairs``.
"""

from __future__ import annotations


import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .embeddings import Embeddings
from .errors import ConfigError, InputError

SEMANTIC_SECTIONS_PREFIX = "gram"  # gram* sections are syntactic, the others semantic


def _lower_index(words) -> dict[str, int]:
    """lowercased word -> id of its most frequent casing (ids are by descending count)."""
    index: dict[str, int] = {}
    for i, w in enumerate(words):
        index.setdefault(w.lower(), i)
    return index


def _lines(path: str):
    """(number, line) of a UTF-8 text file through fsspec.

    Raises:
        InputError: the file is missing or not UTF-8 (naming the line).
    """
    try:
        handle = fsspec.open(path, "rb").open()
    except FileNotFoundError:
        raise InputError(f"evaluation file {path!r} does not exist") from None
    with handle as fh:
        for number, raw in enumerate(fh, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise InputError(f"evaluation file {path!r} is not UTF-8 (line {number}): convert it to UTF-8") from None
            yield number, line


def read_analogies(path: str) -> list[tuple[str, list[tuple[str, str, str, str]]]]:
    """Sections of an analogy file: [(name, [(a, b, c, d), ...]), ...], words lowercased.

    Raises:
        InputError: a missing or non-UTF-8 file, or a line that is neither ': section' nor
            four words (naming the line).
    """
    sections: list[tuple[str, list]] = []
    for number, line in _lines(path):
        line = line.strip()
        if not line:
            continue
        if line.startswith(":"):
            sections.append((line[1:].strip(), []))
            continue
        parts = line.lower().split()
        if len(parts) != 4 or not sections:
            why = "before any ': section' line" if len(parts) == 4 else f"has {len(parts)} words, not 4"
            raise InputError(f"analogy file {path!r}, line {number}: {line[:80]!r} {why} (want ': section' or 'a b c d')")
        sections[-1][1].append(tuple(parts))
    return sections


def analogy_accuracy(emb: Embeddings, path: str, restrict_vocab: int = 30000,
                     batch: int = 256) -> dict:
    """3CosAdd accuracy on an analogy file.

    Returns:
        dict with ``accuracy``, ``semantic``, ``syntactic`` (fractions in [0, 1]), ``correct``,
        ``evaluated`` and ``skipped`` question counts, and per-section results.

    Raises:
        ConfigError: ``restrict_vocab`` is not an integer >= 1.
        InputError: see :func:`read_analogies`.
    """
    integer = isinstance(restrict_vocab, (int, np.integer)) and not isinstance(restrict_vocab, bool)
    if not integer or restrict_vocab < 1:
        raise ConfigError(f"restrict_vocab={restrict_vocab!r}: it must be an integer >= 1 (the most frequent "
                          "words the analogies may use)")
    k = min(restrict_vocab, len(emb.words))
    unit = emb.unit()[:k]
    index = _lower_index(emb.words[:k])
    per_section = []
    totals = {"semantic": [0, 0], "syntactic": [0, 0]}
    skipped = 0
    for name, questions in read_analogies(path):
        ids = [tuple(index.get(w, -1) for w in q) for q in questions]
        ok = np.array([q for q in ids if min(q) >= 0], dtype=np.int64).reshape(-1, 4)
        skipped += len(ids) - len(ok)
        correct = 0
        for s in range(0, len(ok), batch):
            q = ok[s:s + batch]
            query = unit[q[:, 1]] - unit[q[:, 0]] + unit[q[:, 2]]
            scores = query @ unit.T
            rows = np.arange(len(q))
            for col in range(3):
                scores[rows, q[:, col]] = -np.inf
            correct += int((scores.argmax(axis=1) == q[:, 3]).sum())
        kind = "syntactic" if name.startswith(SEMANTIC_SECTIONS_PREFIX) else "semantic"
        totals[kind][0] += correct
        totals[kind][1] += len(ok)
        per_section.append({"section": name, "correct": correct, "evaluated": len(ok),
                            "accuracy": correct / len(ok) if len(ok) else None})
    correct = totals["semantic"][0] + totals["syntactic"][0]
    evaluated = totals["semantic"][1] + totals["syntactic"][1]
    return {
        "accuracy": correct / evaluated if evaluated else None,
        "semantic": totals["semantic"][0] / totals["semantic"][1] if totals["semantic"][1] else None,
        "syntactic": totals["syntactic"][0] / totals["syntactic"][1] if totals["syntactic"][1] else None,
        "correct": correct, "evaluated": evaluated, "skipped": skipped,
        "restrict_vocab": k, "sections": per_section,
    }


def read_pairs(path: str) -> list[tuple[str, str, float]]:
    """(word1, word2, score) lines of a tab-separated similarity file; '#' lines skipped.

    Raises:
        InputError: a missing or non-UTF-8 file, or a line without three tab-separated fields
            or with a score that is not a number (naming the line).
    """
    pairs = []
    for number, line in _lines(path):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.rstrip("\n").split("\t")
        if len(parts) < 3:
            raise InputError(f"similarity file {path!r}, line {number}: {line.strip()[:80]!r} has {len(parts)} "
                             "tab-separated field(s) (want word1<TAB>word2<TAB>score)")
        try:
            score = float(parts[2])
        except ValueError:
            raise InputError(f"similarity file {path!r}, line {number}: score {parts[2][:40]!r} is not a number") from None
        if not np.isfinite(score):
            raise InputError(f"similarity file {path!r}, line {number}: score {parts[2][:40]!r} is not finite")
        pairs.append((parts[0].lower(), parts[1].lower(), score))
    return pairs


def spearman(x: np.ndarray, y: np.ndarray) -> float | None:
    """Spearman's rank correlation, ties given their average rank (as scipy.stats.spearmanr);
    None when it is undefined (all of x, or all of y, tied)."""
    def ranks(v):
        arr = pa.array(np.asarray(v, dtype=np.float64))
        lo = pc.rank(arr, tiebreaker="min").to_numpy().astype(np.float64)
        hi = pc.rank(arr, tiebreaker="max").to_numpy().astype(np.float64)
        return (lo + hi) / 2.0
    rx, ry = ranks(x), ranks(y)
    if np.ptp(rx) == 0 or np.ptp(ry) == 0:
        return None
    return float(np.corrcoef(rx, ry)[0, 1])


def similarity_correlation(emb: Embeddings, path: str) -> dict:
    """Spearman's rho between a similarity file's scores and cosine similarities.

    Returns:
        dict with ``spearman`` (None when undefined: fewer than two pairs, or all scores tied),
        ``pairs`` evaluated, ``skipped`` and ``skipped_share``.

    Raises:
        InputError: see :func:`read_pairs`.
    """
    index = _lower_index(emb.words)
    unit = emb.unit()
    gold, model = [], []
    pairs = read_pairs(path)
    for a, b, score in pairs:
        ia, ib = index.get(a), index.get(b)
        if ia is None or ib is None:
            continue
        gold.append(score)
        model.append(float(unit[ia] @ unit[ib]))
    n = len(gold)
    return {
        "spearman": spearman(np.array(gold), np.array(model)) if n > 1 else None,
        "pairs": n, "skipped": len(pairs) - n,
        "skipped_share": (len(pairs) - n) / len(pairs) if pairs else None,
    }
