"""Evaluation: analogy accuracy and Spearman's rho on vectors with known answers."""

import numpy as np
import pytest

from sparkw2v.embeddings import Embeddings, write_model
from sparkw2v.errors import IncompleteModelError
from sparkw2v.evaluate import analogy_accuracy, similarity_correlation, spearman


def toy_embeddings():
    # king - man + woman = queen exactly; a distractor far away
    words = ("man", "woman", "king", "queen", "apple", "pear")
    vecs = np.array([[1, 0, 0, 0], [1, 1, 0, 0], [1, 0, 1, 0], [1, 1, 1, 0], [0, 0, 0, 1], [0, 0.1, 0, 1]],
                    np.float32)
    return Embeddings(words, np.arange(6, 0, -1, dtype=np.int64), vecs)


def test_analogy_accuracy_counts_and_sections(tmp_path):
    path = tmp_path / "q.txt"
    path.write_text(": family\nMan Woman King Queen\nman woman king apple\nman woman unknown queen\n"
                    ": gram1-x\nman king woman queen\n")
    res = analogy_accuracy(toy_embeddings(), str(path))
    assert res["evaluated"] == 3 and res["skipped"] == 1
    assert res["semantic"] == pytest.approx(0.5) and res["syntactic"] == pytest.approx(1.0)
    assert res["correct"] == 2
    restricted = analogy_accuracy(toy_embeddings(), str(path), restrict_vocab=3)
    assert restricted["evaluated"] == 0 and restricted["skipped"] == 4


def test_spearman_matches_definition_with_ties():
    x = np.array([1.0, 2.0, 2.0, 3.0, 5.0])
    y = np.array([2.0, 1.0, 4.0, 4.0, 6.0])
    rx = np.array([1, 2.5, 2.5, 4, 5])
    ry = np.array([2, 1, 3.5, 3.5, 5])
    assert spearman(x, y) == pytest.approx(np.corrcoef(rx, ry)[0, 1])
    assert spearman(x, x ** 3) == pytest.approx(1.0)
    assert spearman(x, -x) == pytest.approx(-1.0)


def test_similarity_skips_oov_pairs(tmp_path):
    path = tmp_path / "s.tsv"
    path.write_text("# header\nking\tqueen\t9\nking\tapple\t1\nman\twoman\t8\napple\tzzz\t3\n")
    res = similarity_correlation(toy_embeddings(), str(path))
    assert res["pairs"] == 3 and res["skipped"] == 1 and res["skipped_share"] == pytest.approx(0.25)
    assert res["spearman"] == pytest.approx(1.0)


def test_model_round_trip_and_incomplete_model(tmp_path):
    emb = toy_embeddings()
    out = tmp_path / "m"
    write_model(str(out), emb.words, emb.counts, emb.vectors, emb.vectors * 2, {"x": 1})
    back = Embeddings.load(str(out))
    assert back.words == emb.words
    np.testing.assert_array_equal(back.vectors, emb.vectors)
    ctx = Embeddings.load(str(out), "context_embeddings")
    np.testing.assert_array_equal(ctx.vectors, emb.vectors * 2)
    assert back.most_similar("king", 1)[0][0] == "queen"
    assert back.analogy("man", "woman", "king")[0][0] == "queen"
    (out / "_SUCCESS").unlink()
    with pytest.raises(IncompleteModelError, match="no _SUCCESS marker"):
        Embeddings.load(str(out))


def test_model_through_an_fsspec_url_and_evaluate(tmp_path):
    emb = toy_embeddings()
    url = "memory://sparkw2v-test/model"
    write_model(url, emb.words, emb.counts, emb.vectors, emb.vectors, {"x": 1})
    back = Embeddings.load(url)
    assert back.words == emb.words
    np.testing.assert_array_equal(back.vectors, emb.vectors)
    assert back.similarity("king", "queen") == pytest.approx(emb.similarity("king", "queen"))
    q = tmp_path / "q.txt"
    q.write_text(": family\nman woman king queen\n")
    s = tmp_path / "s.tsv"
    s.write_text("king\tqueen\t9\nking\tapple\t1\nman\twoman\t8\n")
    out = back.evaluate(analogies=str(q), similarity=[str(s)])
    assert out["analogies"]["accuracy"] == 1.0
    assert out["similarity"][str(s)]["spearman"] == pytest.approx(1.0)


@pytest.mark.parametrize("kind, content, message", [
    ("analogy", "man woman king queen\n", "line 1: 'man woman king queen' before any ': section' line"),
    ("analogy", ": s\nman woman king\n", "line 2: 'man woman king' has 3 words, not 4"),
    ("similarity", "man\twoman\n", "line 1: 'man\\\\twoman' has 2 tab-separated field"),
    ("similarity", "# c\nman\twoman\tlots\n", "line 2: score 'lots' is not a number"),
    ("similarity", "man\twoman\tnan\n", "line 1: score 'nan' is not finite"),
])
def test_bad_evaluation_lines_name_file_and_line(tmp_path, kind, content, message):
    from sparkw2v.errors import InputError

    path = tmp_path / "gold.txt"
    path.write_text(content)
    score = analogy_accuracy if kind == "analogy" else similarity_correlation
    with pytest.raises(InputError, match=message):
        score(toy_embeddings(), str(path))


def test_missing_and_non_utf8_evaluation_files(tmp_path):
    from sparkw2v.errors import InputError

    with pytest.raises(InputError, match="does not exist"):
        similarity_correlation(toy_embeddings(), str(tmp_path / "nope.tsv"))
    path = tmp_path / "latin1.tsv"
    path.write_bytes("man\twoman\t3\ncaf\xe9\tking\t2\n".encode("latin-1"))
    with pytest.raises(InputError, match=r"is not UTF-8 \(line 2\)"):
        similarity_correlation(toy_embeddings(), str(path))


def test_tied_gold_scores_give_an_undefined_correlation_not_nan(tmp_path):
    path = tmp_path / "s.tsv"
    path.write_text("man\twoman\t5\nking\tqueen\t5\napple\tpear\t5\n")
    assert similarity_correlation(toy_embeddings(), str(path))["spearman"] is None
    assert spearman(np.array([1.0, 1.0]), np.array([1.0, 2.0])) is None


def test_evaluate_job_prints_a_short_summary_and_the_full_json_on_request(tmp_path, capsys):
    import json

    from tests.jobs_util import load_job

    emb = toy_embeddings()
    model = tmp_path / "m"
    write_model(str(model), emb.words, emb.counts, emb.vectors, emb.vectors, {"x": 1})
    sim = tmp_path / "s.tsv"
    sim.write_text("king\tqueen\t9\nking\tapple\t1\nman\twoman\t8\n")
    job = load_job("evaluate")
    argv = ["--model", str(model), "--similarity", str(sim), "--neighbors", "king", "nope", "--topn", "2"]
    assert job.main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"model {model}: 6 words" and len(lines) == 4, lines
    assert lines[1] == f"{sim}: Spearman rho 1.000 over 3 pairs; 0 skipped"
    assert lines[2].startswith("king: queen ") and lines[3] == "nope: not in the vocabulary"
    assert job.main([*argv, "--json"]) == 0
    full = json.loads(capsys.readouterr().out)
    assert full["neighbors"]["king"][0][0] == "queen" and full["neighbors"]["nope"] is None
    out_file = tmp_path / "r.json"
    assert job.main([*argv, "--json", str(out_file)]) == 0
    assert capsys.readouterr().out.splitlines() == lines  # the summary still, the JSON in the file
    assert json.loads(out_file.read_text()) == full


@pytest.fixture()
def toy_model(tmp_path):
    emb = toy_embeddings()
    model = tmp_path / "m"
    write_model(str(model), emb.words, emb.counts, emb.vectors, emb.vectors, {"x": 1})
    return str(model)


@pytest.mark.parametrize("flag, value, message", [
    ("--restrict-vocab", "-58", "argument --restrict-vocab: -58 is out of range: it must be an integer >= 1"),
    ("--restrict-vocab", "0", "argument --restrict-vocab: 0 is out of range: it must be an integer >= 1"),
    ("--topn", "-3", "argument --topn: -3 is out of range: it must be an integer in [1, 10000]"),
    ("--topn", "0", "argument --topn: 0 is out of range: it must be an integer in [1, 10000]"),
    ("--topn", "ten", "argument --topn: 'ten' is not an integer: it must be an integer in [1, 10000]"),
])
def test_evaluate_refuses_counts_out_of_range_in_one_line(toy_model, capsys, flag, value, message):
    """They ran and reported empty results: refused by the command line, one line, exit 2."""
    from tests.jobs_util import load_job

    with pytest.raises(SystemExit) as info:
        load_job("evaluate").main(["--model", toy_model, "--neighbors", "king", flag, value])
    captured = capsys.readouterr()
    assert info.value.code == 2 and captured.out == ""
    assert captured.err.splitlines() == [f"evaluate: error: {message} (see --help)"]


def test_restrict_vocab_below_one_is_refused_by_the_library(tmp_path):
    from sparkw2v.errors import ConfigError

    path = tmp_path / "q.txt"
    path.write_text(": family\nman woman king queen\n")
    for bad in (0, -58, True, 2.5):
        with pytest.raises(ConfigError, match="it must be an integer >= 1"):
            analogy_accuracy(toy_embeddings(), str(path), restrict_vocab=bad)


def _read_only_dir(tmp_path):
    """A directory on a read-only filesystem (a tmpfs mounted read-only): chmod does not stop
    root, a read-only mount does. Skipped where mounting is not allowed."""
    import subprocess

    ro = tmp_path / "ro"
    ro.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(ro)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a read-only tmpfs here ({done.stderr.decode().strip()[:100]}): needs root")
    return ro


@pytest.mark.parametrize("where, message", [
    ("directory", "is a directory: give the path of a file"),
    ("missing parent", "cannot be written: its directory"),
    ("parent is a file", "is a file, not a directory"),
    ("read-only", "cannot be written (no permission, or a read-only filesystem)"),
])
def test_evaluate_json_to_a_path_that_cannot_be_written(toy_model, tmp_path, capsys, where, message):
    import subprocess

    from tests.jobs_util import load_job

    (tmp_path / "plain").write_text("x")
    ro = _read_only_dir(tmp_path) if where == "read-only" else None
    target = {"directory": tmp_path, "missing parent": tmp_path / "no" / "r.json",
              "parent is a file": tmp_path / "plain" / "r.json", "read-only": (ro or tmp_path) / "r.json"}[where]
    try:
        code = load_job("evaluate").main(["--model", toy_model, "--neighbors", "king", "--json", str(target)])
    finally:
        if ro is not None:
            subprocess.run(["umount", str(ro)], check=True)
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"evaluate: error: --json {str(target)!r} ") and message in lines[0]
    assert lines[0].endswith("choose a path you can write")


def test_evaluate_json_write_refused_at_the_end_is_one_line(toy_model, tmp_path, capsys, monkeypatch):
    """The filesystem refuses the write itself (full disk): one line naming the file and why."""
    import builtins
    import errno

    from tests.jobs_util import load_job

    job = load_job("evaluate")
    real_open = builtins.open
    target = str(tmp_path / "r.json")

    def full(path, *args, **kwargs):
        if str(path) == target:
            raise OSError(errno.ENOSPC, "No space left on device", target)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", full)
    code = job.main(["--model", toy_model, "--neighbors", "king", "--json", target])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert captured.err.splitlines() == [
        f"evaluate: error: --json {target!r} cannot be written: {target!r}: No space left on device [ENOSPC]; "
        "no space left on the device: free some space or choose another location"]
