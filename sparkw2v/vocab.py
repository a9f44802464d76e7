"""The vocabulary: words numbered by descending count, subsampling and noise distributions.

The Spark part (:func:`count_vocabulary`) counts tokens in the executors and brings only the
(word, count) table of kept words to the driver; everything else is pure numpy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .errors import InputError


@dataclass(frozen=True)
class Vocabulary:
    """Words and counts, word id = position (descending count, ties by word).

    Attributes:
        words: tuple of V str.
        counts: (V,) int64, occurrences of each word in the corpus.
        corpus_tokens: int, all tokens of the corpus, in-vocabulary or not.
        corpus_types: int, distinct tokens of the corpus before min_count.
        warm_start: for a vocabulary grown from an earlier model's (``keep_words`` of
            :func:`count_vocabulary`): "model_words" (all kept), "new_words" (added by
            min_count over this corpus), "model_words_unseen" (count 0 here: kept, not trained),
            "model_words_rare" (0 < count < min_count here: kept and trained); else empty.
    """

    words: tuple[str, ...]
    counts: np.ndarray
    corpus_tokens: int
    corpus_types: int
    warm_start: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.words)

    @property
    def train_words(self) -> int:
        """Tokens that belong to the vocabulary (the words training sees per epoch)."""
        return int(self.counts.sum())


def sort_vocabulary(pairs, min_count: int, max_vocab_size: int = 0) -> tuple[tuple[str, ...], np.ndarray]:
    """Keep words with count >= min_count, order by descending count then word, cap the size.

    Args:
        pairs: iterable of (word str, count int).
        min_count: minimum count kept (>= 1).
        max_vocab_size: keep at most this many words (0: no limit).

    Returns:
        (words tuple of str, counts (V,) int64).
    """
    kept = sorted(((w, int(c)) for w, c in pairs if c >= min_count), key=lambda wc: (-wc[1], wc[0]))
    if max_vocab_size:
        kept = kept[:max_vocab_size]
    words = tuple(w for w, _ in kept)
    counts = np.fromiter((c for _, c in kept), dtype=np.int64, count=len(kept))
    return words, counts


def keep_probabilities(counts: np.ndarray, sample: float) -> np.ndarray:
    """Probability of keeping each occurrence of a word when subsampling frequent words.

    p_keep(w) = (sqrt(f(w) / t) + 1) t / f(w), capped at 1, with f(w) = count(w) / sum(counts)
    and t = ``sample`` (word2vec C tool; Mikolov et al. 2013 write the discard probability as
    1 - sqrt(t / f(w))).

    Args:
        counts: (V,) int64 word counts.
        sample: threshold t in [0, 1); 0 keeps everything.

    Returns:
        (V,) float64 in (0, 1]; 1 for a word of count 0 (a warm start keeps the words of the
        earlier model that the new corpus lacks; they never occur).
    """
    counts = np.asarray(counts, dtype=np.float64)
    if sample <= 0.0 or counts.size == 0 or not counts.sum() > 0:
        return np.ones(counts.shape, dtype=np.float64)
    f = counts / counts.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        keep = np.minimum(1.0, (np.sqrt(f / sample) + 1.0) * sample / f)
    return np.where(f > 0, keep, 1.0)


def noise_table(counts: np.ndarray, ns_exponent: float = 0.75) -> tuple[np.ndarray, np.ndarray]:
    """The noise distribution P_n(w) ~ count(w)^ns_exponent (Mikolov et al. 2013) as an alias
    table, so that the kernel draws a noise word in O(1) (``kernel.build_alias``).

    Args:
        counts: (V,) int64 word counts, V >= 1.
        ns_exponent: exponent; 0.75 in the paper.

    Returns:
        (prob (V,) float64, alias (V,) int32); see ``kernel.build_alias``.
    """
    from .kernel import build_alias

    weights = np.power(np.asarray(counts, dtype=np.float64), ns_exponent)
    return build_alias(weights)


def alias_probabilities(prob: np.ndarray, alias: np.ndarray) -> np.ndarray:
    """(V,) float64: the probability of each word under the alias table (prob, alias)."""
    size = prob.shape[0]
    p = prob.astype(np.float64).copy()
    np.add.at(p, alias, 1.0 - prob)
    return p / size


def count_vocabulary(tokens_df, tokens_col: str, min_count: int, max_vocab_size: int = 0,
                     check_size: Callable[[int], None] | None = None, keep_words=None) -> Vocabulary:
    """Count the tokens of a Spark DataFrame and build the vocabulary.

    Counting runs in the executors; only the kept words and their counts reach the driver, as
    Arrow batches straight from the JVM (no Python object a word on the way), and only after
    ``check_size`` accepted their number; the driver numbers them with pyarrow's sort
    (descending count, then word).

    A warm start (``keep_words``: the words of an earlier model) keeps every one of those words,
    whatever its count here, and adds the corpus's other words by ``min_count`` over this
    corpus, as gensim's ``build_vocab(update=True)`` does: the earlier model's vectors are the
    user's, and a new word needs ``min_count`` occurrences in the text it is trained on. Counts
    are this corpus's (0 for an earlier word it lacks: such a word keeps its vectors untrained).
    ``max_vocab_size`` then caps the new words only.

    Args:
        tokens_df: Spark DataFrame with an array<string> column ``tokens_col``.
        min_count, max_vocab_size: as in :class:`~sparkw2v.config.TrainConfig`.
        check_size: called with the vocabulary size before the words are collected; raises to
            refuse it (the trainer checks what each task will hold).
        keep_words: None, or a Spark DataFrame with a string column ``word`` of distinct words
            to keep.

    Raises:
        InputError: the corpus has no tokens, or min_count leaves no word (or one word), or
            (warm start) fewer than 2 words of the vocabulary occur in the corpus; and
            whatever ``check_size`` raises.
    """
    from pyspark.sql import functions as F

    exploded = tokens_df.select(F.explode(tokens_col).alias("word"))
    counted = exploded.groupBy("word").agg(F.count(F.lit(1)).alias("count"))
    old_word = F.lit(False)
    if keep_words is not None:  # an "old" column: the earlier model's words
        counted = (counted.join(keep_words.select("word").withColumn("old", F.lit(True)), "word", "full")
                   .select("word", F.coalesce(F.col("count"), F.lit(0)).cast("long").alias("count"),
                           F.coalesce(F.col("old"), F.lit(False)).alias("old")))
        old_word = F.col("old")
    counted = counted.cache()
    kept_rows = (F.col("count") >= min_count) | old_word
    try:
        totals = counted.agg(
            F.sum("count").alias("tokens"), F.count(F.when(F.col("count") > 0, 1)).alias("types"),
            F.count(F.when(kept_rows, 1)).alias("kept"), F.count(F.when(old_word, 1)).alias("old"),
            F.count(F.when(kept_rows & (F.col("count") > 0), 1)).alias("seen")).first()
        corpus_tokens = int(totals["tokens"] or 0)
        corpus_types = int(totals["types"] or 0)
        if corpus_tokens == 0:
            raise InputError(
                "the corpus is empty: no tokens after tokenization; check the input path, the "
                "text column and token_pattern"
            )
        kept, old = int(totals["kept"] or 0), int(totals["old"] or 0)
        if max_vocab_size:
            kept = max(min(kept, max_vocab_size), old)
        if kept < 2:
            raise InputError(
                f"min_count={min_count} leaves {kept} word(s) of {corpus_types} distinct "
                f"words ({corpus_tokens} tokens); training needs at least 2: lower min_count or "
                "give a larger corpus"
            )
        if keep_words is not None and int(totals["seen"] or 0) < 2:
            raise InputError(
                f"the corpus holds {int(totals['seen'] or 0)} word(s) of the vocabulary ({old} words of the "
                f"model trained on, and words seen min_count={min_count} times): a warm start needs text "
                "that shares words with the model; check the input, or lower min_count")
        if check_size is not None:
            check_size(kept)
        kept_table = counted.where(kept_rows).toArrow()
    finally:
        counted.unpersist()
    words, counts = sort_vocabulary_table(kept_table, max_vocab_size)
    warm = {}
    if keep_words is not None:
        import pyarrow.compute as pc

        is_old = kept_table.column("old")
        old_counts = pc.filter(kept_table.column("count"), is_old)
        warm = {"model_words": old, "new_words": len(words) - old,
                "model_words_unseen": int(pc.sum(pc.equal(old_counts, 0)).as_py() or 0),
                "model_words_rare": int(pc.sum(pc.and_(pc.greater(old_counts, 0),
                                                       pc.less(old_counts, min_count))).as_py() or 0)}
    return Vocabulary(words, counts, corpus_tokens, corpus_types, warm)


def sort_vocabulary_table(table, max_vocab_size: int = 0) -> tuple[tuple[str, ...], np.ndarray]:
    """Order a table of words and counts by descending count, then word (by code point, as
    :func:`sort_vocabulary` does), and cap at ``max_vocab_size`` (0: no cap), with pyarrow's
    sort: no Python object a word beyond the words themselves.

    Args:
        table: pyarrow Table with a string column ``word`` and an integer column ``count``;
            optionally a boolean column ``old``: words kept whatever the cap (a warm start's),
            which then caps the others to ``max_vocab_size`` minus their number.

    Returns:
        (words tuple of str, counts (V,) int64).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    keys = [("count", "descending"), ("word", "ascending")]
    if max_vocab_size and "old" in table.column_names:
        old = table.filter(table.column("old"))
        new = table.filter(pc.invert(table.column("old")))
        room = max(0, max_vocab_size - len(old))
        new = new.take(pc.sort_indices(new, sort_keys=keys)[:room])
        table, max_vocab_size = pa.concat_tables([old, new]), 0
    order = pc.sort_indices(table, sort_keys=keys)
    if max_vocab_size:
        order = order[:max_vocab_size]
    ordered = table.take(order)
    return (tuple(ordered.column("word").to_pylist()),
            ordered.column("count").to_numpy().astype(np.int64))
