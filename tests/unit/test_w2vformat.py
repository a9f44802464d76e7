"""word2vec C-tool format: our export and import round-trip, and gensim reads what we write."""

import numpy as np
import pytest

from sparkw2v.embeddings import Embeddings
from sparkw2v.errors import InputError
from sparkw2v.w2vformat import load_word2vec_format, save_word2vec_format


def sample():
    rng = np.random.default_rng(0)
    words = ("the", "naïve", "x", "don")
    return Embeddings(words, np.array([9, 5, 3, 1], np.int64), rng.normal(size=(4, 7)).astype(np.float32))


@pytest.mark.parametrize("binary", [False, True])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_round_trip(tmp_path, binary, suffix):
    emb = sample()
    path = str(tmp_path / f"v.bin{suffix}")
    save_word2vec_format(emb, path, binary=binary)
    back = load_word2vec_format(path, binary=binary)
    assert back.words == emb.words
    np.testing.assert_array_equal(back.vectors, emb.vectors)


@pytest.mark.parametrize("binary", [False, True])
def test_gensim_reads_and_writes_the_same_format(tmp_path, binary):
    keyed = pytest.importorskip("gensim.models.keyedvectors", reason="gensim (extra 'bench') not installed")
    emb = sample()
    ours = tmp_path / "ours"
    save_word2vec_format(emb, str(ours), binary=binary)
    kv = keyed.KeyedVectors.load_word2vec_format(str(ours), binary=binary)
    assert list(kv.index_to_key) == list(emb.words)
    np.testing.assert_allclose(kv.vectors, emb.vectors, rtol=1e-6)
    theirs = tmp_path / "theirs"
    kv.save_word2vec_format(str(theirs), binary=binary)
    back = load_word2vec_format(str(theirs), binary=binary)
    assert back.words == emb.words
    np.testing.assert_allclose(back.vectors, emb.vectors, rtol=1e-6)


def test_bad_files_and_words(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("not a header\n")
    with pytest.raises(InputError, match="first line must be 'V N'"):
        load_word2vec_format(str(bad))
    short = tmp_path / "short.txt"
    short.write_text("2 3\na 1 2 3\nb 1 2\n")
    with pytest.raises(InputError, match="line 3 has 2 values, expected 3"):
        load_word2vec_format(str(short))
    emb = Embeddings(("a b",), np.zeros(1, np.int64), np.zeros((1, 2), np.float32))
    with pytest.raises(ValueError, match="whitespace"):
        save_word2vec_format(emb, str(tmp_path / "x.txt"))


@pytest.mark.parametrize("content, binary, message", [
    (b"999999999 999999\n", False, "header announces 999999999 vectors"),
    (b"2 3\nthe 0.1 0.2 0.3\n", False, "ends after 1 of 2 vectors"),
    (b"1 3\nthe 0.1 zero 0.3\n", False, "line 2 holds a value that is not a number"),
    (b"1 2\n\xff\xfe 0.1 0.2\n", False, "entry 2 is not UTF-8"),
    (b"not a header\n", True, "first line must be 'V N'"),
])
def test_bad_vector_files_are_input_errors(tmp_path, content, binary, message):
    from sparkw2v.errors import InputError

    path = tmp_path / "v.txt"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        load_word2vec_format(str(path), binary=binary)


def test_missing_or_damaged_compressed_vector_files(tmp_path):
    from sparkw2v.errors import InputError

    with pytest.raises(InputError, match="does not exist"):
        load_word2vec_format(str(tmp_path / "nope.txt"))
    (tmp_path / "cut.txt.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    with pytest.raises(InputError, match="cannot be read"):
        load_word2vec_format(str(tmp_path / "cut.txt.gz"))


@pytest.mark.parametrize("binary", [False, True])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_fvocab_keeps_the_counts(tmp_path, binary, suffix):
    emb = sample()
    vectors, vocab = str(tmp_path / f"v.bin{suffix}"), str(tmp_path / f"v.vocab{suffix}")
    save_word2vec_format(emb, vectors, binary=binary, fvocab=vocab)
    back = load_word2vec_format(vectors, binary=binary, fvocab=vocab)
    assert back.words == emb.words
    np.testing.assert_array_equal(back.counts, [9, 5, 3, 1])
    np.testing.assert_array_equal(back.vectors, emb.vectors)
    assert load_word2vec_format(vectors, binary=binary).counts.tolist() == [0, 0, 0, 0]  # as before


def test_fvocab_is_the_c_tools_save_vocab_format(tmp_path):
    save_word2vec_format(sample(), str(tmp_path / "v.txt"), fvocab=str(tmp_path / "v.vocab"))
    assert (tmp_path / "v.vocab").read_text(encoding="utf-8") == "the 9\nnaïve 5\nx 3\ndon 1\n"


@pytest.mark.parametrize("binary", [False, True])
def test_gensim_reads_our_counts_and_we_read_its(tmp_path, binary):
    keyed = pytest.importorskip("gensim.models.keyedvectors", reason="gensim (extra 'bench') not installed")
    emb = sample()
    save_word2vec_format(emb, str(tmp_path / "ours"), binary=binary, fvocab=str(tmp_path / "ours.vocab"))
    kv = keyed.KeyedVectors.load_word2vec_format(str(tmp_path / "ours"), binary=binary,
                                                 fvocab=str(tmp_path / "ours.vocab"))
    assert [kv.get_vecattr(w, "count") for w in kv.index_to_key] == [9, 5, 3, 1]
    kv.set_vecattr("x", "count", 4)
    kv.save_word2vec_format(str(tmp_path / "theirs"), binary=binary, fvocab=str(tmp_path / "theirs.vocab"))
    back = load_word2vec_format(str(tmp_path / "theirs"), binary=binary, fvocab=str(tmp_path / "theirs.vocab"))
    assert dict(zip(back.words, back.counts.tolist())) == {"the": 9, "naïve": 5, "x": 4, "don": 1}


@pytest.mark.parametrize("vocab, message", [
    (None, "vocabulary file .* does not exist"),
    ("the 9\nnaïve 5\nx 3\n", r"gives no count for 1 word\(s\) .* \(e.g. 'don'\)"),
    ("the 9\nnaïve five\n", "line 2: .* is not 'word count'"),
    ("the 9 extra\n", "line 1: .* is not 'word count'"),
    ("the -9\n", "line 1: .* is not 'word count'"),
    ("the 9\n\xff 5\n", "line 2: not UTF-8 text"),
])
def test_bad_vocabulary_files_are_input_errors(tmp_path, vocab, message):
    save_word2vec_format(sample(), str(tmp_path / "v.txt"))
    if vocab is not None:
        (tmp_path / "v.vocab").write_bytes(vocab.encode("utf-8").replace(b"\xc3\xbf", b"\xff"))
    with pytest.raises(InputError, match=message):
        load_word2vec_format(str(tmp_path / "v.txt"), fvocab=str(tmp_path / "v.vocab"))
