"""A shard's rows -> id arrays without Spark: long rows are cut, nothing in vocabulary is lost."""

import numpy as np

import pyarrow as pa

from sparkw2v.encode import SEPARATOR, build_shard, lookup_rows, num_shards, shard_of


def rows_of(ids, offsets):
    return [ids[offsets[r]:offsets[r + 1]].tolist() for r in range(len(offsets) - 1)]


def test_long_row_is_cut_into_rows_of_max_words_and_nothing_is_lost():
    rng = np.random.default_rng(3)
    row = rng.integers(0, 40, size=25_013).tolist()
    ids, offsets = build_shard([row, [1, 2, 3]], max_row_words=1000)
    got = rows_of(ids, offsets)
    assert [len(r) for r in got] == [1000] * 25 + [13, 3]
    assert ids.tolist() == row + [1, 2, 3] and ids.dtype == np.int32 and offsets.dtype == np.int64


def test_rows_and_tails_of_one_word_are_skipped():
    ids, offsets = build_shard([[5], [], [1, 2], [7] * 2001], max_row_words=1000)
    assert [len(r) for r in rows_of(ids, offsets)] == [2, 1000, 1000]  # the last single word has no context
    empty_ids, empty_offsets = build_shard([])
    assert empty_ids.size == 0 and empty_offsets.tolist() == [0]


def test_shard_count_depends_on_the_words_only():
    assert num_shards(1) == 1 and num_shards(2_000_000) == 1 and num_shards(2_000_001) == 2


def test_lookup_keeps_order_drops_unknown_words_and_reads_odd_rows_from_their_tokens():
    words = pa.array(["the", "cat", "a\x00b", "two words", "é"], pa.string())
    texts = [SEPARATOR.join(["the", "cat", "dog", "the"]), SEPARATOR.join(["a\x00b", "é", "x"]), None, ""]
    odd = [None, None, ["two words", "the", "cat"], None]  # a token holding the separator
    got = [r.tolist() for r in lookup_rows(texts, odd, words)]
    assert got == [[0, 1, 0], [2, 4], [3, 0, 1], []]
    assert all(r.dtype == np.int32 for r in lookup_rows(texts, odd, words))


def test_a_rows_shard_depends_on_its_file_and_number_only():
    assert shard_of(("part-0.parquet", 17, 0), 10) == shard_of(("part-0.parquet", 17, 3), 10)
    assert len({shard_of(("f", r, 0), 10) for r in range(1000)}) == 10
