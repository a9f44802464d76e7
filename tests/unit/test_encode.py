"""Rows -> id arrays without Spark: long rows are cut, nothing in vocabulary is lost."""

import numpy as np

from sparkw2v.encode import _SEP, encode_rows


def test_long_row_is_cut_into_rows_of_max_words_and_nothing_is_lost():
    rng = np.random.default_rng(3)
    words = [f"w{i}" for i in range(50)]
    index = {w: i for i, w in enumerate(words[:40])}  # w40..w49 are out of vocabulary
    tokens = rng.choice(words, size=25_013).tolist()
    got = list(encode_rows([_SEP.join(tokens)], index, max_row_words=1000))
    expected = [index[t] for t in tokens if t in index]
    assert all(1 <= len(a) <= 1000 for a in got)
    assert [len(a) for a in got[:-1]] == [1000] * (len(got) - 1)
    assert np.concatenate(got).tolist() == expected
    assert all(a.dtype == np.int32 for a in got)


def test_short_and_out_of_vocabulary_rows_are_skipped():
    index = {"a": 0, "b": 1}
    rows = ["a", _SEP.join(["a", "x", "b"]), _SEP.join(["x", "y"]), ""]
    got = [a.tolist() for a in encode_rows(rows, index)]
    assert got == [[0, 1]]


def test_tail_shorter_than_two_words_is_dropped_only_at_row_end():
    index = {"a": 0}
    got = [a.tolist() for a in encode_rows([_SEP.join(["a"] * 2001)], index, max_row_words=1000)]
    assert [len(a) for a in got] == [1000, 1000]  # the last single word has no context
