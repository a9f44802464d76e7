"""Bad input through jobs/train.py: each gives one clear error line and exit code 2, and
nothing is written."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.jobs_util import load_job

pytestmark = pytest.mark.spark

train_job = load_job("train")


def write(path, table):
    path.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, str(path / "part-0.parquet"))
    return str(path)


def run(capsys, *argv):
    code = train_job.main(list(argv) + ["--master", "local[2]"])
    err = capsys.readouterr().err
    return code, err


@pytest.fixture(scope="module")
def good_input(tmp_path_factory):
    rows = ["the cat sat on the mat", "the dog sat on the log"] * 20
    return write(tmp_path_factory.mktemp("good") / "in", pa.table({"text": rows}))


def test_missing_input_path(spark, capsys, tmp_path):
    code, err = run(capsys, "--input", str(tmp_path / "nope"), "--output", str(tmp_path / "m"))
    assert code == 2 and "does not exist" in err and "nope" in err
    assert not (tmp_path / "m").exists()


def test_missing_text_column(spark, capsys, tmp_path, good_input):
    code, err = run(capsys, "--input", good_input, "--output", str(tmp_path / "m"), "--text-column", "body")
    assert code == 2 and "has no column 'body'" in err and "['text']" in err


def test_non_string_text_column(spark, capsys, tmp_path):
    path = write(tmp_path / "ints", pa.table({"text": [1, 2, 3]}))
    code, err = run(capsys, "--input", path, "--output", str(tmp_path / "m"))
    assert code == 2 and "has type bigint, not string" in err


def test_empty_corpus(spark, capsys, tmp_path):
    path = write(tmp_path / "empty", pa.table({"text": pa.array([None, "", "   "], pa.string())}))
    code, err = run(capsys, "--input", path, "--output", str(tmp_path / "m"))
    assert code == 2 and "the corpus is empty" in err


def test_vocabulary_emptied_by_min_count(spark, capsys, tmp_path, good_input):
    code, err = run(capsys, "--input", good_input, "--output", str(tmp_path / "m"), "--min-count", "1000")
    assert code == 2 and "min_count=1000 leaves 0 word(s)" in err and "lower min_count" in err


def test_invalid_config_value_and_unknown_key(spark, capsys, tmp_path, good_input):
    code, err = run(capsys, "--input", good_input, "--output", str(tmp_path / "m"), "--vector-size", "0")
    assert code == 2 and "'vector_size' has invalid value 0" in err
    conf = tmp_path / "c.toml"
    conf.write_text("windw = 3\n")
    code, err = run(capsys, "--input", good_input, "--output", str(tmp_path / "m"), "--config", str(conf))
    assert code == 2 and "unknown config key 'windw'" in err and "'window'" in err


def test_too_many_partitions(spark, capsys, tmp_path, good_input):
    code, err = run(capsys, "--input", good_input, "--output", str(tmp_path / "m"),
                    "--min-count", "1", "--num-partitions", "64")
    assert code == 2 and "num_partitions=64" in err and "lower num_partitions" in err


def test_existing_output_needs_overwrite(spark, capsys, tmp_path, good_input):
    out = tmp_path / "m"
    args = ["--input", good_input, "--output", str(out), "--min-count", "1", "--epochs", "1",
            "--vector-size", "8"]
    assert run(capsys, *args)[0] == 0
    assert (out / "_SUCCESS").exists()
    code, err = run(capsys, *args)
    assert code == 2 and "already exists" in err and "--overwrite" in err
    assert run(capsys, *args, "--overwrite")[0] == 0
