"""Embedding-projector export (sparkw2v.projector, jobs/export.py): the files parse back to the
model's words, counts and float32 vectors; --limit keeps the most frequent; refusals in one line."""

import json

import numpy as np
import pytest

from sparkw2v.embeddings import Embeddings, write_model
from sparkw2v.projector import escape_word, most_frequent, unescape_word, write_projector
from sparkw2v.w2vformat import load_word2vec_format
from tests.jobs_util import load_job, run_job

ODD_WORDS = ("tab\there", "new\nline", "back\\slash", "cr\rword", "naïve", "\\t")


def sample(n: int = 8, dim: int = 5, words=None) -> Embeddings:
    rng = np.random.default_rng(3)
    words = tuple(words or [f"w{i}" for i in range(n)])
    counts = np.arange(len(words), 0, -1, dtype=np.int64) * 10
    vectors = (rng.normal(size=(len(words), dim)) * 10 ** rng.uniform(-6, 3, size=(len(words), 1))).astype(np.float32)
    return Embeddings(words, counts, vectors)


def read_back(out):
    vectors = np.loadtxt(out / "vectors.tsv", delimiter="\t", dtype=np.float64, ndmin=2)
    lines = (out / "metadata.tsv").read_text(encoding="utf-8").split("\n")
    assert lines[-1] == ""  # newline-terminated
    header, rows = lines[0], [line.split("\t") for line in lines[1:-1]]
    assert all(len(r) == 2 for r in rows)  # an escaped word holds no tab
    return vectors, header, [unescape_word(r[0]) for r in rows], [int(r[1]) for r in rows]


def test_files_parse_back_to_the_vectors_words_and_counts(tmp_path):
    emb = sample(words=("the",) + ODD_WORDS)
    result = write_projector(emb, str(tmp_path / "p"))
    assert result["rows"] == len(emb.words) and result["dimensions"] == 5
    vectors, header, words, counts = read_back(tmp_path / "p")
    assert header == "word\tcount"
    assert vectors.shape == emb.vectors.shape
    np.testing.assert_array_equal(vectors.astype(np.float32), emb.vectors)  # exact to float32
    assert tuple(words) == emb.words
    assert counts == emb.counts.tolist()
    config = (tmp_path / "p" / "projector_config.pbtxt").read_text()
    assert config == 'embeddings {\n  tensor_path: "vectors.tsv"\n  metadata_path: "metadata.tsv"\n}\n'


def test_escaping_round_trips_and_is_unambiguous():
    for w in ODD_WORDS + ("", "plain", "\\\\n"):
        escaped = escape_word(w)
        assert not set("\t\n\r") & set(escaped)
        assert unescape_word(escaped) == w
    assert escape_word("a\tb") == "a\\tb" and escape_word("a\\tb") == "a\\\\tb"
    with pytest.raises(ValueError, match="backslash"):
        unescape_word("bad\\x")


def test_limit_keeps_the_most_frequent(tmp_path):
    emb = sample(10)
    shuffled = np.random.default_rng(1).permutation(10)
    mixed = Embeddings(tuple(emb.words[i] for i in shuffled), emb.counts[shuffled], emb.vectors[shuffled])
    write_projector(mixed, str(tmp_path / "p"), limit=4)
    vectors, _, words, counts = read_back(tmp_path / "p")
    assert words == list(emb.words[:4]) and counts == emb.counts[:4].tolist()
    np.testing.assert_array_equal(vectors.astype(np.float32), emb.vectors[:4])
    assert most_frequent(emb, None) is emb
    assert most_frequent(emb, 100).words == emb.words
    with pytest.raises(ValueError):
        most_frequent(emb, 0)


def test_non_empty_out_refused_unless_overwrite(tmp_path):
    out = tmp_path / "p"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="--overwrite"):
        write_projector(sample(), str(out))
    assert {p.name for p in out.iterdir()} == {"notes.txt"}
    write_projector(sample(), str(out), overwrite=True)
    assert (out / "notes.txt").read_text() == "mine"
    assert len(read_back(out)[2]) == 8


@pytest.fixture
def model(tmp_path):
    emb = sample(12, 6)
    write_model(str(tmp_path / "model"), list(emb.words), emb.counts, emb.vectors, emb.vectors * 2, {})
    return str(tmp_path / "model"), emb


def test_export_job_projector_and_word2vec(tmp_path, model, capsys):
    job = load_job("export")
    path, emb = model
    assert job.main([path, "--format", "projector", "--out", str(tmp_path / "p"), "--limit", "5"]) == 0
    assert json.loads(capsys.readouterr().out)["rows"] == 5
    vectors, _, words, _ = read_back(tmp_path / "p")
    assert words == list(emb.words[:5])
    np.testing.assert_array_equal(vectors.astype(np.float32), emb.vectors[:5])  # W, not W'
    for fmt, binary in (("word2vec", False), ("word2vec-binary", True)):
        target = str(tmp_path / f"v.{fmt}")
        assert job.main([path, "--format", fmt, "--out", target, "--limit", "7"]) == 0
        back = load_word2vec_format(target, binary=binary)
        assert back.words == emb.words[:7]
        np.testing.assert_allclose(back.vectors, emb.vectors[:7], rtol=1e-6)
        code, line = run_job(job, capsys, path, "--format", fmt, "--out", target, prefix="export")
        assert code == 2 and "--overwrite" in line
        assert job.main([path, "--format", fmt, "--out", target, "--overwrite"]) == 0
        assert len(load_word2vec_format(target, binary=binary).words) == 12


def test_export_job_refusals(tmp_path, model, capsys):
    job = load_job("export")
    path, _ = model
    code, line = run_job(job, capsys, str(tmp_path / "nope"), "--format", "projector", "--out",
                         str(tmp_path / "p"), prefix="export")
    assert code == 2 and "does not exist" in line
    code, line = run_job(job, capsys, path, "--format", "projector", "--out", path + "/p", prefix="export")
    assert code == 2 and "inside the input" in line
    with pytest.raises(SystemExit) as exit_:  # argparse's refusal: one line, exit 2
        job.main([path, "--format", "projector", "--out", str(tmp_path / "p"), "--limit", "0"])
    err = capsys.readouterr().err.strip()
    assert exit_.value.code == 2 and len(err.splitlines()) == 1 and ">= 1" in err
    (tmp_path / "adir").mkdir()
    code, line = run_job(job, capsys, path, "--format", "word2vec", "--out", str(tmp_path / "adir"), prefix="export")
    assert code == 2 and "is a directory" in line
    odd = tmp_path / "odd"
    emb = sample(words=("the", "two words"))
    write_model(str(odd), list(emb.words), emb.counts, emb.vectors, emb.vectors, {})
    code, line = run_job(job, capsys, str(odd), "--format", "word2vec", "--out", str(tmp_path / "v.txt"),
                         prefix="export")
    assert code == 2 and "whitespace" in line and "--format projector" in line


def test_export_job_writes_the_counts_for_gensim(tmp_path, model, capsys):
    """--fvocab: the vocabulary with its counts beside a word2vec file, read back by our loader and by gensim."""
    job = load_job("export")
    path, _ = model
    vectors, vocab = str(tmp_path / "v.bin"), str(tmp_path / "v.vocab")
    assert job.main([path, "--format", "word2vec-binary", "--out", vectors, "--fvocab", vocab]) == 0
    emb = Embeddings.load(path)
    back = load_word2vec_format(vectors, binary=True, fvocab=vocab)
    assert list(back.words) == list(emb.words) and list(back.counts) == list(emb.counts)
    gensim = pytest.importorskip("gensim", reason="gensim (the bench extra) reads the counts too")
    kv = gensim.models.KeyedVectors.load_word2vec_format(vectors, binary=True, fvocab=vocab)
    assert [kv.get_vecattr(w, "count") for w in emb.words] == list(emb.counts)
    code, line = run_job(job, capsys, path, "--format", "projector", "--out", str(tmp_path / "p"), "--fvocab", vocab,
                         prefix="export")
    assert code == 2 and "--fvocab is for --format word2vec" in line
