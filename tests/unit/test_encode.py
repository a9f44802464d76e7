"""Rows -> id arrays without Spark: long rows are cut, nothing in vocabulary is lost."""

import numpy as np

from sparkw2v.encode import _SEP, build_chunk, encode_rows, num_shards


def ids_of(keyed_texts, index, **kw):
    return [a for _, a in encode_rows(keyed_texts, index, **kw)]


def test_long_row_is_cut_into_rows_of_max_words_and_nothing_is_lost():
    rng = np.random.default_rng(3)
    words = [f"w{i}" for i in range(50)]
    index = {w: i for i, w in enumerate(words[:40])}  # w40..w49 are out of vocabulary
    tokens = rng.choice(words, size=25_013).tolist()
    got = ids_of([(7, _SEP.join(tokens))], index, max_row_words=1000)
    expected = [index[t] for t in tokens if t in index]
    assert all(1 <= len(a) <= 1000 for a in got)
    assert [len(a) for a in got[:-1]] == [1000] * (len(got) - 1)
    assert np.concatenate(got).tolist() == expected
    assert all(a.dtype == np.int32 for a in got)


def test_short_and_out_of_vocabulary_rows_are_skipped():
    index = {"a": 0, "b": 1}
    rows = ["a", _SEP.join(["a", "x", "b"]), _SEP.join(["x", "y"]), ""]
    got = [a.tolist() for a in ids_of(enumerate(rows), index)]
    assert got == [[0, 1]]


def test_tail_shorter_than_two_words_is_dropped_only_at_row_end():
    index = {"a": 0}
    got = [a.tolist() for a in ids_of([(0, _SEP.join(["a"] * 2001))], index, max_row_words=1000)]
    assert [len(a) for a in got] == [1000, 1000]  # the last single word has no context


def test_pieces_of_a_cut_row_keep_its_key_in_order():
    index = {"a": 0, "b": 1}
    got = list(encode_rows([(42, _SEP.join(["a", "b"] * 1500))], index, max_row_words=1000))
    assert [key for key, _ in got] == [(42, 0), (42, 1), (42, 2)]


def test_a_shard_is_ordered_by_key_whatever_the_arrival_order():
    rows = [((5, 0), np.array([1, 2], np.int32)), ((-3, 0), np.array([3, 4, 5], np.int32)),
            ((5, 1), np.array([6, 7], np.int32)), ((-3, 0), np.array([0, 9], np.int32))]  # a key collision
    expected = None
    for perm in ([0, 1, 2, 3], [3, 2, 1, 0], [2, 0, 3, 1]):
        ids, offsets = build_chunk([rows[i] for i in perm])
        got = (ids.tolist(), offsets.tolist())
        assert expected is None or got == expected
        expected = got
    assert expected[1] == [0, 2, 5, 7, 9]
    assert num_shards(1) == 1 and num_shards(2_000_000) == 1 and num_shards(2_000_001) == 2
