"""Embeddings speaks gensim's KeyedVectors dialect: every name checked against gensim's own
KeyedVectors built from the same vectors (same words, scores to 1e-5, same KeyError
messages), and on the real model against gensim reading our word2vec export."""

import os
import sys
from pathlib import Path

import numpy as np
import pytest

from sparkw2v.embeddings import Embeddings
from sparkw2v.w2vformat import load_word2vec_format, save_word2vec_format

keyed = pytest.importorskip("gensim.models.keyedvectors", reason="gensim (extra 'bench') not installed")

# gensim's own most_similar_cosmul calls its deprecated init_sims
pytestmark = pytest.mark.filterwarnings("ignore:Call to deprecated `init_sims`:DeprecationWarning")

REAL_MODEL = Path(os.environ.get("SPARKW2V_REAL_MODEL", "/var/tmp/sw2v17/classic-model"))
V, N = 300, 16


@pytest.fixture(scope="module")
def pair():
    """(ours, gensim's) over the same 300 random 16-d vectors, words w0..w299, counts 300..1."""
    rng = np.random.default_rng(7)
    words = tuple(f"w{i}" for i in range(V))
    vectors = rng.normal(size=(V, N)).astype(np.float32)
    counts = np.arange(V, 0, -1, dtype=np.int64)
    kv = keyed.KeyedVectors(N)
    kv.add_vectors(list(words), vectors.copy())
    for w, c in zip(words, counts.tolist()):
        kv.set_vecattr(w, "count", c)
    return Embeddings(words, counts, vectors), kv


def same(ours, theirs, tol=1e-5):
    """Two [(word, score)] lists: same words in the same order, scores within tol."""
    assert [w for w, _ in ours] == [w for w, _ in theirs]
    np.testing.assert_allclose([s for _, s in ours], [s for _, s in theirs], atol=tol)
    assert all(isinstance(s, float) for _, s in ours)


def test_lookup_names(pair):
    emb, kv = pair
    assert len(emb) == len(kv) == V
    assert "w3" in emb and "nope" not in emb and 5 in emb and V not in emb
    assert ("w3" in kv, "nope" in kv, 5 in kv, V in kv) == (True, False, True, False)
    assert emb.index_to_key == kv.index_to_key
    assert emb.key_to_index == kv.key_to_index
    assert emb.vector_size == kv.vector_size == N
    np.testing.assert_array_equal(emb.vectors, kv.vectors)
    np.testing.assert_array_equal(emb["w3"], kv["w3"])
    np.testing.assert_array_equal(emb[7], kv[7])
    np.testing.assert_array_equal(emb[["w1", "w9"]], kv[["w1", "w9"]])
    assert emb[["w1", "w9"]].shape == (2, N)
    np.testing.assert_array_equal(emb.get_vector("w4"), kv.get_vector("w4"))
    np.testing.assert_allclose(emb.get_vector("w4", norm=True), kv.get_vector("w4", norm=True), atol=1e-6)
    assert emb.get_index("w11") == kv.get_index("w11") == 11
    assert emb.get_index("nope", -1) == kv.get_index("nope", -1) == -1
    assert emb.get_vecattr("w2", "count") == kv.get_vecattr("w2", "count") == V - 2
    np.testing.assert_allclose(emb.get_normed_vectors(), kv.get_normed_vectors(), atol=1e-6)
    with pytest.raises(ValueError):  # read-only, as gensim's: norms cached from it stay right
        emb["w3"][0] = 1.0
    with pytest.raises(ValueError):  # the cached unit rows cannot be changed through it
        emb.get_normed_vectors()[0, 0] = 1.0


@pytest.mark.parametrize("call", [
    lambda m: m["nope"],
    lambda m: m[["w1", "nope"]],
    lambda m: m.get_vector("nope", norm=True),
    lambda m: m.get_index("nope"),
    lambda m: m.similarity("w1", "nope"),
    lambda m: m.distance("nope", "w1"),
    lambda m: m.most_similar(positive=["w1", "nope"]),
    lambda m: m.most_similar(positive="w1", negative="nope"),
    lambda m: m.similar_by_word("nope"),
    lambda m: m.most_similar_cosmul(positive=["nope"]),
    lambda m: m.rank("w1", "nope"),
    lambda m: m.get_vecattr("nope", "count"),
])
def test_unknown_words_are_key_errors_worded_as_gensim(pair, call):
    emb, kv = pair
    with pytest.raises(KeyError) as theirs:
        call(kv)
    with pytest.raises(KeyError) as ours:
        call(emb)
    assert str(ours.value) == str(theirs.value)
    assert "Key 'nope' not present" in str(ours.value)


@pytest.mark.parametrize("kwargs", [
    dict(positive="w5"),
    dict(positive=["w5"], topn=3),
    dict(positive=["w1", "w2"], negative=["w3"]),
    dict(positive=["w1", "w2"], negative=["w3"], topn=25),
    dict(negative=["w8"], topn=4),
    dict(positive=[("w1", 2.0), "w2"], negative=[("w3", -0.5)]),
    dict(positive=["w1", "w2"], negative=["w3"], restrict_vocab=50),
    dict(positive=["w200"], topn=5, restrict_vocab=50),  # the query word is outside the searched range
    dict(positive=["w10"], clip_start=100, clip_end=250),
    dict(positive=[5, "w6"], topn=4),  # an int is an index, as in gensim
    dict(positive=["w1"], topn=V + 10),  # more than there are: every other word
])
def test_most_similar_as_gensim(pair, kwargs):
    emb, kv = pair
    same(emb.most_similar(**kwargs), kv.most_similar(**kwargs))


def test_most_similar_edge_cases_as_gensim(pair):
    emb, kv = pair
    vec = np.random.default_rng(1).normal(size=N).astype(np.float32)
    same(emb.most_similar(positive=[vec, "w2"]), kv.most_similar(positive=[vec, "w2"]))
    np.testing.assert_allclose(emb.most_similar("w3", topn=None), kv.most_similar("w3", topn=None), atol=1e-5)
    assert emb.most_similar("w3", topn=None).shape == (V,)
    assert emb.most_similar("w3", topn=0) == kv.most_similar("w3", topn=0) == []
    with pytest.raises(ValueError, match="needs a word or vector"):
        emb.most_similar()
    with pytest.raises(ValueError, match=r"shape \(16,\)"):
        emb.similar_by_vector(np.ones(3))


def test_the_sparkw2v_0_1_forms_still_work(pair):
    emb, _ = pair
    assert emb.most_similar("w3", 4) == emb.most_similar(positive=["w3"], topn=4)
    assert len(emb.most_similar("w3", 4)) == 4 and "w3" not in dict(emb.most_similar("w3", 4))
    assert emb.analogy("w1", "w2", "w3", 5) == emb.most_similar(positive=["w2", "w3"], negative=["w1"], topn=5)
    assert emb.vector("w2") is not None and emb.index["w2"] == 2
    with pytest.raises(TypeError, match="give topn once"):
        emb.most_similar("w3", 4, topn=3)


def test_similarity_names_as_gensim(pair):
    emb, kv = pair
    vec = np.random.default_rng(2).normal(size=N).astype(np.float32)
    same(emb.similar_by_vector(vec, topn=7), kv.similar_by_vector(vec, topn=7))
    same(emb.similar_by_vector(emb["w4"], topn=3), kv.similar_by_vector(kv["w4"], topn=3))
    assert emb.similar_by_vector(emb["w4"], topn=1)[0][0] == "w4"  # nothing excluded for a vector
    same(emb.similar_by_word("w9", topn=6), kv.similar_by_word("w9", topn=6))
    same(emb.similar_by_word("w9", topn=6, restrict_vocab=100), kv.similar_by_word("w9", topn=6, restrict_vocab=100))
    for a, b in [("w1", "w2"), ("w7", "w7"), ("w0", "w299")]:
        assert emb.similarity(a, b) == pytest.approx(float(kv.similarity(a, b)), abs=1e-6)
        assert emb.distance(a, b) == pytest.approx(float(kv.distance(a, b)), abs=1e-6)
    assert emb.n_similarity(["w1", "w2"], ["w3", "w4", "w5"]) == pytest.approx(
        float(kv.n_similarity(["w1", "w2"], ["w3", "w4", "w5"])), abs=1e-6)
    with pytest.raises(ZeroDivisionError):
        emb.n_similarity([], ["w1"])
    same(emb.most_similar_cosmul(positive=["w1", "w2"], negative=["w3"], topn=8),
         kv.most_similar_cosmul(positive=["w1", "w2"], negative=["w3"], topn=8))
    same(emb.most_similar_cosmul(positive="w6", topn=5), kv.most_similar_cosmul(positive="w6", topn=5))
    for a, b in [("w1", "w2"), ("w5", "w100"), ("w0", "w299")]:
        assert emb.rank(a, b) == kv.rank(a, b)
        assert emb.closer_than(a, b) == kv.closer_than(a, b)
    np.testing.assert_allclose(emb.distances("w3", ["w1", "w8"]), kv.distances("w3", ["w1", "w8"]), atol=1e-6)
    np.testing.assert_allclose(emb.distances(vec), kv.distances(vec), atol=1e-6)


@pytest.mark.parametrize("words", [
    ["w1", "w2", "w3", "w4"],
    ["w10", "w20", "w30", "w40", "w50", "w60"],
    ["w5", "w6", "nope", "w7"],  # a word outside the vocabulary is skipped, as gensim does
])
def test_doesnt_match_as_gensim(pair, words):
    emb, kv = pair
    assert emb.doesnt_match(words) == kv.doesnt_match(words)
    ours, theirs = emb.rank_by_centrality(words), kv.rank_by_centrality(words)
    assert [w for _, w in ours] == [w for _, w in theirs]
    np.testing.assert_allclose([s for s, _ in ours], [s for s, _ in theirs], atol=1e-5)


def test_doesnt_match_picks_the_outlier():
    """Three words around one direction and one opposite: the opposite one is the odd one out."""
    base = np.array([1.0, 0.0, 0.0], np.float32)
    vecs = np.stack([base + [0, 0.1, 0], base + [0, -0.1, 0], base + [0, 0, 0.1], -base]).astype(np.float32)
    emb = Embeddings(("a", "b", "c", "odd"), np.array([4, 3, 2, 1]), vecs)
    assert emb.doesnt_match(["a", "odd", "b", "c"]) == "odd"
    with pytest.raises(ValueError, match="empty list"):
        emb.doesnt_match(["nope"])


def test_to_gensim(pair):
    emb, _ = pair
    kv = emb.to_gensim()
    assert isinstance(kv, keyed.KeyedVectors)
    assert kv.index_to_key == list(emb.words)
    np.testing.assert_array_equal(kv.vectors, emb.vectors)
    assert kv.vectors is not emb.vectors
    assert [kv.get_vecattr(w, "count") for w in ("w0", "w5", "w299")] == [V, V - 5, 1]
    same(emb.most_similar(positive=["w1", "w2"], negative=["w3"]),
         kv.most_similar(positive=["w1", "w2"], negative=["w3"]))


def test_to_gensim_without_gensim(pair, monkeypatch):
    emb, _ = pair
    monkeypatch.setitem(sys.modules, "gensim", None)
    monkeypatch.setitem(sys.modules, "gensim.models", None)
    with pytest.raises(ImportError, match="pip install gensim"):
        emb.to_gensim()


@pytest.fixture(scope="module")
def real_export(tmp_path_factory):
    """Our model of the real corpus, and gensim's KeyedVectors reading our binary export of it
    with its vocabulary file."""
    if not (REAL_MODEL / "_SUCCESS").exists():
        pytest.skip(f"{REAL_MODEL} is absent: train the default model of the real corpus there "
                    "(jobs/train.py, --num-blocks 2) or set SPARKW2V_REAL_MODEL")
    emb = Embeddings.load(str(REAL_MODEL))
    out = tmp_path_factory.mktemp("real")
    save_word2vec_format(emb, str(out / "vectors.bin"), binary=True, fvocab=str(out / "vectors.vocab"))
    kv = keyed.KeyedVectors.load_word2vec_format(str(out / "vectors.bin"), binary=True,
                                                 fvocab=str(out / "vectors.vocab"))
    return emb, kv, out


@pytest.mark.corpus
def test_real_model_equals_gensim_on_the_export(real_export):
    emb, kv, _ = real_export
    np.testing.assert_array_equal(emb["king"], kv["king"])
    assert "king" in emb and "king" in kv and "notawordxyz" not in emb
    assert len(emb) == len(kv) > 10_000
    same(emb.most_similar(positive=["king", "woman"], negative=["man"], topn=10),
         kv.most_similar(positive=["king", "woman"], negative=["man"], topn=10))
    same(emb.most_similar("ship", topn=10), kv.most_similar("ship", topn=10))
    for words in (["breakfast", "dinner", "lunch", "ship"], ["king", "queen", "prince", "ship"],
                  ["sea", "ocean", "waves", "king"]):
        assert emb.doesnt_match(words) == kv.doesnt_match(words)
    same(emb.similar_by_vector(emb["sea"], topn=10), kv.similar_by_vector(kv["sea"], topn=10))
    assert emb.similarity("king", "queen") == pytest.approx(float(kv.similarity("king", "queen")), abs=1e-6)


@pytest.mark.corpus
def test_real_model_counts_reach_gensim(real_export):
    emb, kv, out = real_export
    assert [kv.get_vecattr(w, "count") for w in ("the", "king")] == [int(emb.counts[emb.index[w]])
                                                                    for w in ("the", "king")]
    assert np.array_equal([kv.get_vecattr(w, "count") for w in kv.index_to_key], emb.counts)
    back = load_word2vec_format(str(out / "vectors.bin"), binary=True, fvocab=str(out / "vectors.vocab"))
    assert back.words == emb.words
    np.testing.assert_array_equal(back.counts, emb.counts)
    np.testing.assert_array_equal(back.vectors, emb.vectors)
