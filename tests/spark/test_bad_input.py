"""Bad input through the jobs: each case gives exactly one clear error line and exit code 2,
and nothing is left that looks complete (no ``_SUCCESS``). The README lists every case with its
message; keep the two in step."""

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sparkw2v.embeddings import Embeddings
from tests.jobs_util import load_job, run_job

pytestmark = pytest.mark.spark

train_job = load_job("train")
evaluate_job = load_job("evaluate")
query_job = load_job("query")
prepare_job = load_job("prepare")

SMALL = ["--vector-size", "8", "--epochs", "1", "--min-count", "1"]


def write(path, table, name="part-0.parquet"):
    path.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, str(path / name))
    return str(path)


run = run_job


def train(capsys, *argv):
    return run(train_job, capsys, *argv, "--master", "local[2]")


def assert_refused(code, line, *fragments):
    assert code == 2 and line is not None
    for fragment in fragments:
        assert fragment in line, line


def assert_nothing_written(out):
    assert not (out / "_SUCCESS").exists()


@pytest.fixture(scope="module")
def good_input(tmp_path_factory):
    rows = ["the cat sat on the mat", "the dog sat on the log"] * 20
    return write(tmp_path_factory.mktemp("good") / "in", pa.table({"text": rows}))


# --- the input -------------------------------------------------------------------------------

def test_missing_input_path(spark, capsys, tmp_path):
    code, line = train(capsys, "--input", str(tmp_path / "nope"), "--output", str(tmp_path / "m"))
    assert_refused(code, line, "does not exist", "nope", "jobs/prepare.py")
    assert not (tmp_path / "m").exists()


def test_directory_without_parquet_files(spark, capsys, tmp_path):
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "corpus.txt").write_text("the cat sat on the mat\n")
    code, line = train(capsys, "--input", str(tmp_path / "raw"), "--output", str(tmp_path / "m"))
    assert_refused(code, line, "corpus.txt is not a Parquet file", "jobs/prepare.py")
    assert not (tmp_path / "m").exists()


def test_empty_directory(spark, capsys, tmp_path):
    (tmp_path / "empty").mkdir()
    code, line = train(capsys, "--input", str(tmp_path / "empty"), "--output", str(tmp_path / "m"))
    assert_refused(code, line, "holds no Parquet files")


def test_corrupt_parquet_file(spark, capsys, tmp_path, good_input):
    path = tmp_path / "mixed"
    write(path, pa.table({"text": ["the cat sat on the mat"] * 10}))
    (path / "part-1.parquet").write_bytes(b"PAR1" + bytes(range(256)) * 4)  # garbage, no footer
    code, line = train(capsys, "--input", str(path), "--output", str(tmp_path / "m"), *SMALL)
    assert_refused(code, line, "part-1.parquet", "spark.sql.files.ignoreCorruptFiles")
    assert not (tmp_path / "m").exists()


def test_truncated_parquet_file(spark, capsys, tmp_path):
    path = tmp_path / "cut"
    write(path, pa.table({"text": ["the cat sat on the mat"] * 50}), "part-0.parquet")
    data = (path / "part-0.parquet").read_bytes()
    write(path, pa.table({"text": ["the dog sat on the log"] * 50}), "part-1.parquet")
    (path / "part-0.parquet").write_bytes(data[: len(data) // 2])  # a copy cut short
    code, line = train(capsys, "--input", str(path), "--output", str(tmp_path / "m"), *SMALL)
    assert_refused(code, line, "part-0.parquet")


def test_files_whose_text_column_types_disagree(spark, capsys, tmp_path):
    path = tmp_path / "mixed-types"
    write(path, pa.table({"text": ["the cat sat on the mat"] * 10}), "part-0.parquet")
    write(path, pa.table({"text": pa.array([1, 2, 3], pa.int64())}), "part-1.parquet")
    code, line = train(capsys, "--input", str(path), "--output", str(tmp_path / "m"), *SMALL)
    assert_refused(code, line, "part-1.parquet", "every file must have the same schema")
    assert "corrupt" not in line


@pytest.mark.parametrize("without", ["part-1.parquet", "part-0.parquet"])
def test_a_file_without_the_text_column(spark, capsys, tmp_path, without):
    """Spark reads a part lacking the column as nulls and drops its rows: every file is checked
    (the one without it listed first or last)."""
    path = tmp_path / "in"
    for name in ("part-0.parquet", "part-1.parquet", "part-2.parquet"):
        table = pa.table({"body": ["the cat sat on the mat"] * 10}) if name == without else \
            pa.table({"text": ["the cat sat on the mat"] * 10, "id": list(range(10))})
        write(path, table, name)
    code, line = train(capsys, "--input", str(path), "--output", str(tmp_path / "m"), *SMALL)
    assert_refused(code, line, f"{without} has no column 'text' (1 of 3 files lack it)",
                   "every file must have the text column", "remove or rewrite that file")
    assert not (tmp_path / "m").exists() and not (tmp_path / "m.partial").exists()


def test_file_columns_read_by_the_jvm_equal_pyarrow_s(spark, tmp_path):
    """The footer reader for schemes fsspec does not know (hdfs:, s3a:) agrees with pyarrow's."""
    from sparkw2v.tokenizer import _arrow_columns, _spark_columns, _is_string

    path = write(tmp_path / "in", pa.table({"text": ["a b"], "n": pa.array([1], pa.int64()),
                                            "raw": pa.array([b"x"], pa.binary())}))
    url = "file://" + path + "/part-0.parquet"
    jvm, arrow = _spark_columns(spark, url), _arrow_columns(url)
    assert list(jvm) == list(arrow) == ["text", "n", "raw"]
    assert [_is_string(jvm[c]) for c in jvm] == [_is_string(arrow[c]) for c in arrow] == [True, False, True]
    (tmp_path / "junk.parquet").write_bytes(b"not parquet")
    assert _spark_columns(spark, str(tmp_path / "junk.parquet")) is None
    assert _arrow_columns(str(tmp_path / "junk.parquet")) is None


def test_missing_text_column(spark, capsys, tmp_path, good_input):
    code, line = train(capsys, "--input", good_input, "--output", str(tmp_path / "m"), "--text-column", "body")
    assert_refused(code, line, "has no column 'body'", "['text']", "--text-column")


def test_non_string_text_column(spark, capsys, tmp_path):
    path = write(tmp_path / "ints", pa.table({"text": [1, 2, 3]}))
    code, line = train(capsys, "--input", path, "--output", str(tmp_path / "m"))
    assert_refused(code, line, "has type bigint, not string")


def test_only_null_and_empty_rows(spark, capsys, tmp_path):
    path = write(tmp_path / "empty", pa.table({"text": pa.array([None, "", "   "], pa.string())}))
    code, line = train(capsys, "--input", path, "--output", str(tmp_path / "m"))
    assert_refused(code, line, "the corpus is empty")
    assert not (tmp_path / "m").exists()


def test_null_and_empty_rows_are_skipped_and_counted(spark, capsys, tmp_path):
    rows = ["the cat sat on the mat", None, "", "the dog sat on the log", None, "  \t "] * 10
    path = write(tmp_path / "holes", pa.table({"text": pa.array(rows, pa.string())}))
    out = tmp_path / "m"
    code, line = train(capsys, "--input", path, "--output", str(out), *SMALL)
    assert code == 0 and line is None
    corpus = json.loads((out / "metadata.json").read_text())["corpus"]
    assert (corpus["corpus_rows"], corpus["null_rows"], corpus["empty_rows"], corpus["trainable_rows"]) == (60, 20, 20, 20)


@pytest.mark.once  # Spark SQL's own operators cut the row: the same plan on classic and Connect
def test_a_50_megabyte_row_trains(spark, capsys, tmp_path):
    rng = np.random.default_rng(0)
    words = np.array([f"w{i:04d} " for i in range(3000)], dtype="S6")
    text = words[rng.integers(0, len(words), 9_000_000)].tobytes().decode("ascii").rstrip()
    assert len(text) >= 50_000_000
    path = write(tmp_path / "big", pa.table({"text": [text, "a short row here"]}))
    del text
    out = tmp_path / "m"
    code, line = train(capsys, "--input", path, "--output", str(out), "--vector-size", "8", "--epochs", "1",
                       "--window", "2", "--negative", "2", "--sample", "1e-5")
    assert code == 0 and line is None
    emb = Embeddings.load(str(out))
    # the text is tokenized in pieces of 1M characters: each of the 54 cuts may split a word
    # in two, and a fragment seen >= 5 times is a word of its own
    assert set(emb.words) >= {w.decode().strip() for w in words} and len(emb.words) <= 3000 + 10
    corpus = json.loads((out / "metadata.json").read_text())["corpus"]
    assert corpus["corpus_rows"] == 2 and corpus["corpus_tokens"] == pytest.approx(9_000_000, abs=60)
    # each piece is cut into rows of 10,000 words (gensim's limit), spread over the partitions
    assert 900 <= corpus["trainable_rows"] <= 900 + 54
    assert corpus["train_words_per_epoch"] == pytest.approx(9_000_000, abs=120)


def test_a_text_column_whose_name_holds_a_dot(spark, capsys, tmp_path):
    rows = ["the cat sat on the mat", "the dog sat on the log"] * 20
    path = write(tmp_path / "dotted", pa.table({"body.text": rows}))
    code, line = train(capsys, "--input", path, "--output", str(tmp_path / "m"), *SMALL, "--text-column", "body.text")
    assert code == 0, line
    assert len(Embeddings.load(str(tmp_path / "m")).words) == 7


def test_an_input_url_of_an_unknown_scheme(spark, capsys, tmp_path):
    code, line = train(capsys, "--input", "nosuchfs://bucket/corpus", "--output", str(tmp_path / "m"))
    assert_refused(code, line, "knows no filesystem for the scheme 'nosuchfs'")


def test_an_output_url_of_an_unknown_scheme(spark, capsys, good_input):
    code, line = train(capsys, "--input", good_input, "--output", "nosuchfs://bucket/model")
    assert_refused(code, line, "no filesystem for the scheme 'nosuchfs'", "install the fsspec implementation")


def test_an_input_path_with_glob_characters(spark, capsys, tmp_path, good_input):
    code, line = train(capsys, "--input", str(tmp_path / "corpus[1]"), "--output", str(tmp_path / "m"))
    assert_refused(code, line, "holds glob characters")


@pytest.mark.parametrize("damage", ["not gzip", "truncated"])
def test_a_gz_file_that_is_not_gzip_or_is_truncated(capsys, tmp_path, damage):
    import gzip

    whole = gzip.compress(b"the cat sat on the mat\n" * 5000)
    data = b"this is plain text, not gzip\n" if damage == "not gzip" else whole[:len(whole) // 2]
    (tmp_path / "corpus.txt.gz").write_bytes(data)
    code, line = run(prepare_job, capsys, "--input", str(tmp_path / "corpus.txt.gz"),
                     "--output", str(tmp_path / "p"), prefix="prepare")
    assert_refused(code, line, "cannot be decompressed", "corpus.txt.gz")
    assert not (tmp_path / "p").exists() and not (tmp_path / "p.partial").exists()


def test_a_colon_in_a_local_input_path(spark, capsys, tmp_path, good_input, monkeypatch):
    (tmp_path / "a:b").symlink_to(good_input)
    monkeypatch.chdir(tmp_path)  # a relative path whose first part holds ':' reads as a URL scheme
    code, line = train(capsys, "--input", "a:b", "--output", str(tmp_path / "m"))
    assert_refused(code, line, "a ':' in a local path is read as a URL scheme")


# --- the settings ----------------------------------------------------------------------------

def test_a_token_pattern_the_jvm_cannot_compile(spark, capsys, tmp_path, good_input):
    code, line = train(capsys, "--input", good_input, "--output", str(tmp_path / "m"), "--token-pattern", "[a-")
    assert_refused(code, line, "config key 'token_pattern' has invalid value '[a-': it must be a Java regular "
                   "expression")


def test_vocabulary_emptied_by_min_count(spark, capsys, tmp_path, good_input):
    code, line = train(capsys, "--input", good_input, "--output", str(tmp_path / "m"), "--min-count", "1000")
    assert_refused(code, line, "min_count=1000 leaves 0 word(s)", "lower min_count")


def test_vocabulary_larger_than_the_memory_setting(spark, capsys, tmp_path):
    rows = [" ".join(f"w{i}" for i in range(j, j + 20)) for j in range(0, 200, 2)]
    path = write(tmp_path / "wide", pa.table({"text": rows * 2}))
    code, line = train(capsys, "--input", path, "--output", str(tmp_path / "m"), "--min-count", "1",
                       "--vector-size", "2000", "--max-model-mb", "1")
    assert_refused(code, line, "the vocabulary of 218 words", "puts 2 MiB of W and W' blocks on each of the 2 "
                   "training task(s) (3 MiB in all), more than max_model_mb=1", "at least 4 task slots",
                   "max_vocab_size (at most 131 words fit on 2 task(s))")
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("flag, value, message", [
    ("--vector-size", "0", "'vector_size' has invalid value 0: it must be an integer in [1, 10000]"),
    ("--vector-size", "-5", "'vector_size' has invalid value -5"),
    ("--vector-size", "1000000", "'vector_size' has invalid value 1000000: it must be an integer in [1, 10000]"),
    ("--window", "0", "'window' has invalid value 0: it must be an integer in [1, 10000]"),
    ("--window", "1000000000", "'window' has invalid value 1000000000: it must be an integer in [1, 10000] "
                               "(rows are cut at 10000 words)"),
    ("--negative", "100000", "'negative' has invalid value 100000: it must be an integer in [1, 1000]"),
    ("--alpha", "inf", "'alpha' has invalid value inf: it must be in (0, 1]"),
    ("--alpha", "nan", "'alpha' has invalid value nan"),
    ("--min-count", str(2**63), "'min_count' has invalid value 9223372036854775808: it must be an integer in "
                                "[1, 2**63 - 1]"),
    ("--min-token-length", "3000000000", "'min_token_length' has invalid value 3000000000"),
    ("--num-blocks", "100000", "'num_blocks' has invalid value 100000: it must be an integer in [0, 10000]"),
    ("--sample", "1.5", "'sample' has invalid value 1.5: it must be in [0, 1)"),
    ("--sample", "-0.001", "'sample' has invalid value -0.001"),
    ("--min-alpha", "0.5", "'min_alpha' has invalid value 0.5: it must be in [0, alpha=0.025]"),
    ("--epochs", "0", "'epochs' has invalid value 0"),
])
def test_setting_out_of_range(spark, capsys, tmp_path, good_input, flag, value, message):
    code, line = train(capsys, "--input", good_input, "--output", str(tmp_path / "m"), flag, value)
    assert_refused(code, line, message)
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("toml, message", [
    ("windw = 3\n", "unknown config key 'windw'"),
    ("window = \"five\"\n", "config key 'window' must be of type int, got 'five' (str)"),
    ("window = \n", "is not valid TOML"),
    # a key beside [train] was ignored without a word (seed = 99 trained with seed 1)
    ("seed = 99\n[train]\nwindow = 3\n", "key 'seed' is outside the [train] table and would be ignored: move it "
                                          "under [train]"),
    ("[train]\nwindow = 3\n[model]\nseed = 99\n", "table 'model' is outside the [train] table and would be "
                                                  "ignored: remove it"),
    ("[training]\nseed = 99\n", "unknown table [training]: the settings belong in one [train] table"),
    ("train = 3\n", "'train' must be the table [train] of settings"),
    ("[train]\nseed = 99\n[train.extra]\nx = 1\n", "unknown table [extra]"),
])
def test_bad_config_file(spark, capsys, tmp_path, good_input, toml, message):
    conf = tmp_path / "c.toml"
    conf.write_text(toml)
    code, line = train(capsys, "--input", good_input, "--output", str(tmp_path / "m"), "--config", str(conf))
    assert_refused(code, line, message, repr(str(conf)))
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("make, message", [
    (lambda p: p.mkdir(), "is a directory: pass a TOML file to --config"),
    (lambda p: None, "does not exist; pass an existing --config"),
    (lambda p: p.write_bytes("seed = 99 # caf\xe9\n".encode("latin-1")), "is not UTF-8 text (byte 15): TOML files "
                                                                        "are UTF-8; convert it"),
    (lambda p: p.write_bytes(b"\x00\x01PK\x03\x04 binary"), "is not valid TOML"),
])
def test_a_config_that_is_not_a_toml_file(spark, capsys, tmp_path, good_input, make, message):
    conf = tmp_path / "c.toml"
    make(conf)
    code, line = train(capsys, "--input", good_input, "--output", str(tmp_path / "m"), "--config", str(conf))
    assert_refused(code, line, f"config file {str(conf)!r}", message)


def test_a_config_file_with_a_byte_order_mark_is_read(spark, tmp_path):
    from sparkw2v.config import load_config

    conf = tmp_path / "c.toml"
    conf.write_bytes(b"\xef\xbb\xbf[train]\nseed = 99\n")
    assert load_config(str(conf)).seed == 99


def test_more_blocks_than_words(spark, capsys, tmp_path, good_input):
    code, line = train(capsys, "--input", good_input, "--output", str(tmp_path / "m"),
                       "--min-count", "1", "--num-blocks", "64")
    assert_refused(code, line, "num_blocks=64 is more than the vocabulary (7 words)", "lower num_blocks")
    assert not (tmp_path / "m" / "_SUCCESS").exists()


def test_a_setting_of_the_averaging_trainer(spark, capsys, tmp_path, good_input):
    conf = tmp_path / "old.toml"
    conf.write_text("num_partitions = 8\n")
    code, line = train(capsys, "--input", good_input, "--output", str(tmp_path / "m"), "--config", str(conf))
    assert_refused(code, line, "config key 'num_partitions'", "was removed", "num_blocks and cycles_per_epoch")


# --- the output ------------------------------------------------------------------------------

def test_existing_output_needs_overwrite(spark, capsys, tmp_path, good_input):
    out = tmp_path / "m"
    args = ["--input", good_input, "--output", str(out), *SMALL]
    assert train(capsys, *args)[0] == 0
    assert (out / "_SUCCESS").exists()
    code, line = train(capsys, *args)
    assert_refused(code, line, "already exists", "--overwrite")
    assert train(capsys, *args, "--overwrite")[0] == 0


@pytest.fixture()
def full_disk(monkeypatch, tmp_path):
    """The executors write the model's parts; the part of block 1 of context_embeddings goes
    where the filesystem refuses it (below a plain file), as a full or lost disk would."""
    from sparkw2v import modelwriter

    (tmp_path / "plain-file").write_text("not a directory")
    real = modelwriter.part_url
    state = {"on": True}

    def failing(table_url, block):
        if state["on"] and block == 1 and "context_embeddings" in table_url:
            return str(tmp_path / "plain-file" / "part-00001.parquet")
        return real(table_url, block)

    monkeypatch.setattr(modelwriter, "part_url", failing)
    return state


def test_output_filesystem_failing_mid_write(spark, capsys, tmp_path, good_input, full_disk):
    out = tmp_path / "m"
    code, line = train(capsys, "--input", good_input, "--output", str(out), *SMALL, "--num-blocks", "2")
    assert_refused(code, line, f"writing the model to '{out}' failed", "plain-file", "Error",
                   "no _SUCCESS marker", "--resume (the trained blocks are kept)")
    assert not out.exists()  # the model is built beside it, in m.partial
    partial = tmp_path / "m.partial"
    assert not list(partial.glob("_tmp-*")) and not (partial / "_SUCCESS").exists()  # the parts written are gone
    assert (partial / "_blocks" / "state-000001" / "state.json").exists()


def test_failed_write_resumes_without_training_again(spark, capsys, tmp_path, good_input, full_disk):
    out = tmp_path / "r"
    args = ["--input", good_input, "--output", str(out), *SMALL, "--num-blocks", "2"]
    code, line = train(capsys, *args)
    assert_refused(code, line, "failed", "--resume (the trained blocks are kept)")
    # a second attempt without --resume must not clobber what is there
    code, line = train(capsys, *args)
    assert_refused(code, line, "has the leftovers of an unfinished run in", "r.partial", "pass --resume")
    code, line = train(capsys, *args, "--resume", "--window", "3")
    assert_refused(code, line, "cannot resume: the checkpoint was made with other settings (window ", "(now 3))")
    full_disk["on"] = False  # the disk is fixed
    assert train(capsys, *args, "--resume") == (0, None)
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["resumed"] and meta["cycles"] == []  # nothing trained again
    assert (out / "_SUCCESS").exists() and not (tmp_path / "r.partial").exists()
    assert len(Embeddings.load(str(out)).words) == 7
    code, line = train(capsys, *args, "--resume")
    assert_refused(code, line, "is already complete: nothing to resume")


def test_work_directory_that_cannot_be_written(spark, capsys, tmp_path, good_input):
    (tmp_path / "plain-file").write_text("not a directory")
    code, line = train(capsys, "--input", good_input, "--output", str(tmp_path / "m"), *SMALL,
                       "--num-blocks", "2", "--work-dir", str(tmp_path / "plain-file" / "blocks"))
    assert_refused(code, line, "plain-file/blocks failed", "fix the filesystem and train again")
    assert_nothing_written(tmp_path / "m")


def test_resume_without_checkpoint(spark, capsys, tmp_path, good_input):
    code, line = train(capsys, "--input", good_input, "--output", str(tmp_path / "m"), *SMALL, "--resume")
    assert_refused(code, line, "nothing to resume", "m.partial' does not exist", "train without --resume")


# --- a user's files are sacred ---------------------------------------------------------------

def test_an_output_that_is_or_contains_the_input_is_refused_and_the_input_kept(spark, capsys, tmp_path, good_input):
    before = sorted(p.name for p in Path(good_input).iterdir())
    code, line = train(capsys, "--input", good_input, "--output", good_input, "--overwrite", *SMALL)
    assert_refused(code, line, "is the input", "choose an output outside the input")
    code, line = train(capsys, "--input", good_input, "--output", str(Path(good_input).parent), "--overwrite", *SMALL)
    assert_refused(code, line, "contains the input")
    assert sorted(p.name for p in Path(good_input).iterdir()) == before
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "corpus.txt").write_text("the cat sat on the mat\n")
    code, line = run(prepare_job, capsys, "--input", str(raw), "--output", str(raw), "--overwrite", prefix="prepare")
    assert_refused(code, line, "is the input")
    assert (raw / "corpus.txt").read_text() == "the cat sat on the mat\n"


def test_a_failed_overwrite_keeps_the_previous_model(spark, capsys, tmp_path, good_input):
    out = tmp_path / "m"
    assert train(capsys, "--input", good_input, "--output", str(out), *SMALL)[0] == 0
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    code, line = train(capsys, "--input", str(tmp_path / "typo"), "--output", str(out), "--overwrite", *SMALL)
    assert_refused(code, line, "does not exist")
    code, line = train(capsys, "--input", good_input, "--output", str(out), "--overwrite", *SMALL, "--alpha", "1",
                       "--sample", "0")
    assert_refused(code, line, "training diverged")
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert not (tmp_path / "m.partial").exists()  # nothing to resume from: nothing left behind


def test_an_interrupted_overwrite_keeps_the_previous_model(spark, capsys, tmp_path, good_input, monkeypatch):
    """Ctrl-C (KeyboardInterrupt) in the middle of training: the old model stays as it was, and
    the staging directory is released and removed (nothing to resume from)."""
    import sparkw2v.pipeline

    out = tmp_path / "m"
    assert train_job.main(["--input", good_input, "--output", str(out), *SMALL]) == 0
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(sparkw2v.pipeline, "train", interrupted)
    capsys.readouterr()
    assert train_job.main(["--input", good_input, "--output", str(out), "--overwrite", *SMALL]) == 130
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == ["train: interrupted (Ctrl-C); nothing was kept (no checkpoint yet): run "
                                         "the same command again"]
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert not (tmp_path / "m.partial").exists()


def test_overwrite_replaces_only_a_sparkw2v_directory(spark, capsys, tmp_path, good_input):
    thesis = tmp_path / "thesis"
    thesis.mkdir()
    (thesis / "thesis.tex").write_text("years of work")
    code, line = train(capsys, "--input", good_input, "--output", str(thesis), "--overwrite", *SMALL)
    assert_refused(code, line, "is not a sparkw2v model directory; refusing to replace it")
    assert (thesis / "thesis.tex").read_text() == "years of work"


def test_a_token_holding_nul_is_a_word_like_another(spark, capsys, tmp_path):
    rows = ["the c\x00t sat on the mat", "the c\x00t sat on the log"] * 20
    out = tmp_path / "m"
    code, line = train(capsys, "--input", write(tmp_path / "in", pa.table({"text": rows})), "--output", str(out),
                       *SMALL, "--sample", "0")
    assert code == 0, line
    emb = Embeddings.load(str(out))
    assert "c\x00t" in emb.words and "c" not in emb.words and "t" not in emb.words
    meta = json.loads((out / "metadata.json").read_text())["corpus"]
    assert meta["train_words_per_epoch"] == meta["corpus_tokens"] == 240


# --- reading a model -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def unfinished_model(spark, good_input, tmp_path_factory):
    out = tmp_path_factory.mktemp("unfinished") / "m"
    assert train_job.main(["--input", good_input, "--output", str(out), *SMALL, "--master", "local[2]"]) == 0
    (out / "_SUCCESS").unlink()  # as a run killed before its last step leaves it
    return str(out)


def test_evaluate_refuses_a_model_without_success(capsys, unfinished_model):
    code, line = run(evaluate_job, capsys, "--model", unfinished_model, "--neighbors", "cat", prefix="evaluate")
    assert_refused(code, line, "has no _SUCCESS marker", "train again")


def test_query_refuses_a_model_without_success(spark, capsys, unfinished_model):
    code, line = run(query_job, capsys, "--model", unfinished_model, "--sql", "SELECT 1", prefix="query")
    assert_refused(code, line, "has no _SUCCESS marker")


# --- raw text through jobs/prepare.py ---------------------------------------------------------

def test_prepare_rejects_non_utf8_bytes(capsys, tmp_path):
    (tmp_path / "latin1.txt").write_bytes("the caf\xe9 is open\n".encode("latin-1"))
    code, line = run(prepare_job, capsys, "--input", str(tmp_path / "latin1.txt"),
                     "--output", str(tmp_path / "p"), prefix="prepare")
    assert_refused(code, line, "not valid UTF-8 near byte 7")
    assert not (tmp_path / "p" / "_SUCCESS").exists()


# --- the command line and the process ---------------------------------------------------------

@pytest.mark.parametrize("exc, line", [
    (PermissionError(13, "Permission denied", "/data/corpus.txt"),
     "prepare: error: '/data/corpus.txt': Permission denied [EACCES]; permission denied: choose a location you may "
     "write (or read), or change its permissions"),
    (OSError(28, "Error writing bytes to file. Detail: [errno 28] No space left on device"),
     "prepare: error: No space left on device [ENOSPC]; no space left on the device: free some space or choose "
     "another location"),
    (OSError("Error writing bytes to file. Detail: [errno 28] No space left on device"),  # pyarrow, no errno set
     "prepare: error: No space left on device [ENOSPC]; no space left on the device: free some space or choose "
     "another location"),
    (NotADirectoryError(20, "Not a directory", "/tmp/file/out"),
     "prepare: error: '/tmp/file/out': Not a directory [ENOTDIR]; a part of the path is a file, not a directory: "
     "choose another path"),
])
def test_an_os_error_a_user_meets_is_one_line_exit_2(capsys, exc, line):
    from sparkw2v import cli

    def body():
        raise exc

    assert cli.run("prepare", body) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.splitlines() == [line]


def test_an_os_error_of_another_kind_is_not_hidden(capsys):
    """A bad file descriptor is a bug, not the user's doing: its traceback stays."""
    from sparkw2v import cli

    def body():
        raise OSError(9, "Bad file descriptor")

    with pytest.raises(OSError, match="Bad file descriptor"):
        cli.run("prepare", body)


@pytest.mark.parametrize("argv, message", [
    (["--row-tokens", "0"], "argument --row-tokens: 0 is out of range: it must be an integer in [1, 10000]"),
    (["--rows-per-file", "-1"], "argument --rows-per-file: -1 is out of range: it must be an integer in [1, 1000000]"),
    ([], "the following arguments are required: --input, --output"),
])
def test_a_bad_command_line_is_one_line_exit_2(capsys, argv, message):
    with pytest.raises(SystemExit) as info:
        prepare_job.main(argv if not argv else ["--input", "x", "--output", "y", *argv])
    captured = capsys.readouterr()
    assert info.value.code == 2 and captured.out == ""
    assert captured.err.splitlines() == [f"prepare: error: {message} (see --help)"]


@pytest.mark.parametrize("job, argv, flag", [
    (prepare_job, ["--input", "", "--output", "out"], "--input"),
    (train_job, ["--input", "in", "--output", " "], "--output"),
    (evaluate_job, ["--model", "m", "--json", ""], "--json"),
])
def test_an_empty_path_is_refused(capsys, tmp_path, monkeypatch, job, argv, flag):
    """``--input ""`` named the current directory: prepare.py read every file below it."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as info:
        job.main(argv)
    captured = capsys.readouterr()
    assert info.value.code == 2 and captured.out == "" and list(tmp_path.iterdir()) == []
    name = job.__name__.rsplit("_", 1)[1]
    assert captured.err.splitlines() == [f"{name}: error: argument {flag}: an empty path: give a file or directory "
                                         "(or URL) (see --help)"]


def test_an_interrupted_prepare_is_one_line_and_leaves_nothing(capsys, tmp_path, monkeypatch):
    import sparkw2v.prepare

    (tmp_path / "raw.txt").write_text("the cat sat on the mat\n" * 100)

    def interrupted(*args, **kwargs):
        yield "the cat"
        raise KeyboardInterrupt

    monkeypatch.setattr(sparkw2v.prepare, "iter_rows", interrupted)
    code = prepare_job.main(["--input", str(tmp_path / "raw.txt"), "--output", str(tmp_path / "p")])
    captured = capsys.readouterr()
    assert code == 130 and captured.out == ""
    assert [line for line in captured.err.splitlines() if " INFO " not in line] == [
        "prepare: interrupted (Ctrl-C); nothing was kept (the unfinished corpus is removed): run it again"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw.txt"]
