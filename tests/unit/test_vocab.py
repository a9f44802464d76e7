"""Vocabulary ordering and the subsampling / noise distributions against their formulas."""

from collections import Counter

import numpy as np
import pytest

from sparkw2v import vocab


def test_sort_vocabulary_matches_plain_count():
    text = "the cat sat on the mat the cat ran a a b".split()
    words, counts = vocab.sort_vocabulary(Counter(text).items(), min_count=2)
    expected = sorted(((w, c) for w, c in Counter(text).items() if c >= 2), key=lambda x: (-x[1], x[0]))
    assert list(zip(words, counts.tolist())) == expected
    assert words == ("the", "a", "cat")  # ties by word


def test_max_vocab_size_keeps_most_frequent():
    words, counts = vocab.sort_vocabulary([("x", 5), ("y", 9), ("z", 7)], 1, max_vocab_size=2)
    assert words == ("y", "z") and counts.tolist() == [9, 7]


def test_arrow_table_sorts_like_the_plain_sort_across_chunks():
    import pyarrow as pa

    items = [("zebra", 3), ("apple", 3), ("\u00e9t\u00e9", 3), ("b", 9), ("a", 1), ("Z", 3)]
    chunks = [pa.record_batch({"word": [w for w, _ in part], "count": pa.array([c for _, c in part], pa.int64())})
              for part in (items[:2], items[2:])]  # toArrow gives one chunk per Spark batch
    table = pa.Table.from_batches(chunks)
    for cap in (0, 3):
        words, counts = vocab.sort_vocabulary_table(table, cap)
        expected_words, expected_counts = vocab.sort_vocabulary(items, 1, cap)
        assert words == expected_words and counts.tolist() == expected_counts.tolist()
        assert counts.dtype == np.int64
    assert vocab.sort_vocabulary_table(table)[0][:3] == ("b", "Z", "apple")  # code point order on ties


def test_keep_probability_formula():
    counts = np.array([1_000_000, 10_000, 100, 1], np.int64)
    t = 1e-4
    p = vocab.keep_probabilities(counts, t)
    f = counts / counts.sum()
    np.testing.assert_allclose(p, np.minimum(1, (np.sqrt(f / t) + 1) * t / f))
    assert p[0] < p[1] < 1 and p[-1] == 1.0
    assert np.all(vocab.keep_probabilities(counts, 0.0) == 1.0)


def test_noise_table_is_unigram_power():
    counts = np.array([81, 16, 1], np.int64)
    w = np.array([27.0, 8.0, 1.0])
    prob, alias = vocab.noise_table(counts, 0.75)
    assert prob.dtype == np.float64 and alias.dtype == np.int32
    np.testing.assert_allclose(vocab.alias_probabilities(prob, alias), w / w.sum(), rtol=1e-12)
    np.testing.assert_allclose(vocab.alias_probabilities(*vocab.noise_table(counts, 0.0)), 1 / 3, rtol=1e-12)


def test_noise_table_of_a_zipf_vocabulary_is_exact():
    counts = (1e7 / np.arange(1, 50_001)).astype(np.int64) + 5
    prob, alias = vocab.noise_table(counts, 0.75)
    expected = counts ** 0.75 / (counts ** 0.75).sum()
    np.testing.assert_allclose(vocab.alias_probabilities(prob, alias), expected, rtol=1e-9)
    assert np.all((prob >= 0) & (prob <= 1)) and alias.min() >= 0 and alias.max() < len(counts)


def test_a_warm_start_s_cap_keeps_every_earlier_word_and_caps_the_new_ones():
    import pyarrow as pa

    table = pa.table({"word": ["old1", "old2", "new1", "new2", "new3", "old0"],
                      "count": pa.array([9, 1, 7, 5, 3, 0], pa.int64()),
                      "old": [True, True, False, False, False, True]})
    words, counts = vocab.sort_vocabulary_table(table, max_vocab_size=5)
    assert words == ("old1", "new1", "new2", "old2", "old0") and counts.tolist() == [9, 7, 5, 1, 0]
    words, _ = vocab.sort_vocabulary_table(table, max_vocab_size=2)  # the earlier words alone pass the cap
    assert words == ("old1", "old2", "old0")
    words, _ = vocab.sort_vocabulary_table(table)
    assert len(words) == 6


def test_a_word_of_count_zero_is_kept_whole_and_never_a_noise_word():
    from sparkw2v.layout import BlockLayout
    from sparkw2v.worker import NoiseTables

    counts = np.array([500, 300, 200, 100, 0, 0, 0, 0], np.int64)
    keep = vocab.keep_probabilities(counts, 1e-3)
    np.testing.assert_array_equal(keep[4:], 1.0)
    np.testing.assert_array_equal(keep[:4], vocab.keep_probabilities(counts[:4], 1e-3))
    layout = BlockLayout.from_labels(np.array([0, 0, 1, 1, 2, 2, 2, 2]), 3)  # block 2: count 0 only
    tables = NoiseTables.build(counts, layout)
    assert tables.shares[2] == 0.0 and np.isfinite(tables.prob[2]).all()
    np.testing.assert_allclose(tables.shares[:2].sum(), 1.0)
