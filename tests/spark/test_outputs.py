"""Where results go, through the real jobs: a run removes only what it created (its own
subdirectory of --work-dir, never the work directory or a user's file in it); a directory is
sparkw2v's only if its marker says so; an output that cannot work (in memory, a symbolic link,
below a file, read-only) is refused before any work, in one line, exit 2."""

import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sparkw2v import storage
from sparkw2v.embeddings import Embeddings
from tests.jobs_util import load_job, run_job, write_tiny_corpus

pytestmark = pytest.mark.spark

REPO = Path(__file__).resolve().parents[2]
train_job = load_job("train")
prepare_job = load_job("prepare")

SMALL = ["--vector-size", "8", "--epochs", "1", "--min-count", "1", "--num-blocks", "2"]


run = run_job


def train(capsys, *argv):
    return run(train_job, capsys, *argv, "--master", "local[2]")


def prepare(capsys, *argv):
    return run(prepare_job, capsys, *argv, prefix="prepare")


def refused(result, *fragments):
    code, line = result
    assert code == 2 and line is not None, result
    for fragment in fragments:
        assert fragment in line, line
    return line


def snapshot(root):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(Path(root).rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_tiny_corpus(tmp_path_factory.mktemp("outputs") / "in")


@pytest.fixture()
def raw(tmp_path):
    (tmp_path / "raw.txt").write_text("the cat sat on the mat\n")
    return str(tmp_path / "raw.txt")


# --- the work directory ------------------------------------------------------------------------

def test_a_work_directory_keeps_the_user_s_files_and_another_model(spark, capsys, tmp_path, corpus, monkeypatch):
    """The blocks live in the run's own subdirectory of --work-dir, which --resume finds again
    and which alone is removed once the model is complete."""
    from sparkw2v import modelwriter

    work = tmp_path / "work"
    work.mkdir()
    (work / "notes.txt").write_text("years of work")
    assert train(capsys, "--input", corpus, "--output", str(work / "another-model"), *SMALL) == (0, None)
    before = snapshot(work)
    # the model's write fails (a full disk, say): the trained blocks stay in the run's subdirectory
    real = modelwriter.part_url
    monkeypatch.setattr(modelwriter, "part_url", lambda table, block: str(tmp_path / "notes.txt" / "x")
                        if block == 1 else real(table, block))
    (tmp_path / "notes.txt").write_text("a file, not a directory")
    out = tmp_path / "m"
    args = ["--input", corpus, "--output", str(out), *SMALL, "--work-dir", str(work)]
    refused(train(capsys, *args), "--resume (the trained blocks are kept)")
    mine = [p for p in work.iterdir() if p.name.startswith("sparkw2v-m-")]
    assert len(mine) == 1 and (mine[0] / "state-000001" / "state.json").exists()
    assert {k: v for k, v in snapshot(work).items() if not k.startswith(mine[0].name)} == before
    monkeypatch.setattr(modelwriter, "part_url", real)
    assert train(capsys, *args, "--resume") == (0, None)
    assert (out / "_SUCCESS").exists() and not (tmp_path / "m.partial").exists()
    assert snapshot(work) == before and sorted(p.name for p in work.iterdir()) == ["another-model", "notes.txt"]
    assert len(Embeddings.load(str(work / "another-model")).words) == 7


def test_relative_paths_are_this_process_s_not_the_executors(spark, capsys, tmp_path, corpus, monkeypatch):
    """A relative --output, --work-dir and --init-from name places under this process's working
    directory, though the executors open them from another one (a Spark Connect server's session
    directory, a cluster executor's work directory): the run must not look for its blocks there."""
    monkeypatch.chdir(tmp_path)
    assert train(capsys, "--input", corpus, "--output", "rel/model", "--work-dir", "rel/work", *SMALL,
                 "--no-report") == (0, None)
    assert (tmp_path / "rel" / "model" / "_SUCCESS").exists() and os.listdir(tmp_path / "rel" / "work") == []
    assert train(capsys, "--input", corpus, "--output", "rel/warm", "--init-from", "rel/model", *SMALL,
                 "--no-report") == (0, None)
    assert len(Embeddings.load(str(tmp_path / "rel" / "warm")).words) == 7


def test_the_train_job_puts_its_report_into_the_model_it_commits(spark, capsys, tmp_path, corpus):
    """With matplotlib the report is one of the model's own entries (MODEL/report), written
    before the model is committed: nothing appears beside the output, --overwrite replaces it
    with the model, and the metadata records the memory the report plots."""
    import json

    from sparkw2v import report

    if not report.matplotlib_available():
        pytest.skip("matplotlib (extra 'report') is not installed")
    out = tmp_path / "m"
    code, _ = train(capsys, "--input", corpus, "--output", str(out), *SMALL)
    assert code == 0 and sorted(p.name for p in tmp_path.iterdir()) == ["m"]
    assert sorted(p.name for p in (out / "report").iterdir()) == ["index.html", "loss.png", "memory.png",
                                                                   "stages.png", "throughput.png"]
    memory = json.loads((out / "metadata.json").read_text())["memory"]
    assert set(memory) == {"driver (Python)", "training task (Python worker)"}
    assert all(2**20 < v["peak_rss_bytes"] < 2**40 for v in memory.values())  # MiB to TiB: bytes, not KiB
    assert storage.is_ours(str(out))
    assert train(capsys, "--input", corpus, "--output", str(out), *SMALL, "--overwrite", "--no-report") == (0, None)
    assert not (out / "report").exists() and (out / "_SUCCESS").exists()


def test_a_work_directory_in_memory_is_refused_before_any_work(spark, capsys, tmp_path, corpus):
    line = refused(train(capsys, "--input", corpus, "--output", str(tmp_path / "m"), *SMALL, "--work-dir", "memory://w"),
                   "work directory 'memory://w' is on memory://", "vanish when the job ends")
    assert not (tmp_path / "m.partial").exists(), line


# --- what may be replaced ----------------------------------------------------------------------

def test_overwrite_never_replaces_a_dataset_that_only_looks_like_sparkw2v_s(spark, capsys, tmp_path, corpus, raw):
    data = tmp_path / "dataset"
    data.mkdir()
    pq.write_table(pa.table({"x": [1, 2, 3]}), str(data / "part-0.parquet"))
    (data / "_SUCCESS").write_text("")
    before = snapshot(data)
    refused(train(capsys, "--input", corpus, "--output", str(data), "--overwrite", *SMALL),
            "is not a sparkw2v model directory; refusing to replace it (even with --overwrite)",
            "it has no _sparkw2v.json marker")
    refused(prepare(capsys, "--input", raw, "--output", str(data), "--overwrite"),
            "is not a sparkw2v corpus directory; refusing to replace it")
    assert snapshot(data) == before and not list(tmp_path.glob("dataset.*"))


def test_an_empty_directory_is_a_free_output_and_the_model_keeps_its_marker(spark, capsys, tmp_path, corpus):
    out = tmp_path / "empty"
    out.mkdir()
    assert train(capsys, "--input", corpus, "--output", str(out), *SMALL) == (0, None)
    assert storage.is_ours(str(out)) and (out / "_SUCCESS").exists()
    assert storage.read_json(str(out), storage.MARKER)["kind"] == "model"
    assert train(capsys, "--input", corpus, "--output", str(out), *SMALL, "--overwrite") == (0, None)


# --- refused before any work, in one line ---------------------------------------------------------

def test_an_output_in_memory_is_refused_before_any_work(spark, capsys, tmp_path, corpus, raw):
    for job, argv in ((train, ["--input", corpus, *SMALL]), (prepare, ["--input", raw])):
        refused(job(capsys, *argv, "--output", "memory://m"), "output 'memory://m' is on memory://, a filesystem in "
                "this process's memory: it would vanish when the job ends",
                "write it to a local path or a shared filesystem")


def test_a_dangling_symbolic_link_as_output(spark, capsys, tmp_path, corpus, raw):
    link = tmp_path / "m"
    link.symlink_to(tmp_path / "nowhere")
    for job, argv in ((train, ["--input", corpus, *SMALL]), (prepare, ["--input", raw])):
        refused(job(capsys, *argv, "--output", str(link)), f"output '{link}' is a symbolic link to",
                "which does not exist; give the path of a real directory")
    assert link.is_symlink() and not list(tmp_path.glob("m.*"))  # nothing stranded in m.partial


def test_an_output_below_a_file(spark, capsys, tmp_path, corpus, raw):
    (tmp_path / "file").write_text("x")
    for job, argv in ((train, ["--input", corpus, *SMALL]), (prepare, ["--input", raw])):
        refused(job(capsys, *argv, "--output", str(tmp_path / "file" / "m")),
                f"creating the output {tmp_path / 'file' / 'm'} failed: {tmp_path / 'file'} is a file, not a directory")
    assert (tmp_path / "file").read_text() == "x"


def test_a_read_only_output_directory(spark, capsys, tmp_path, corpus, raw, monkeypatch):
    ro = tmp_path / "ro"
    ro.mkdir()
    os.chmod(ro, 0o555)
    # root (the tests' user) writes anywhere: judge access by the mode bits, as for an ordinary user
    monkeypatch.setattr(os, "access", lambda path, mode: bool(os.stat(path).st_mode & 0o200) or not mode & os.W_OK)
    try:
        for job, argv in ((train, ["--input", corpus, *SMALL]), (prepare, ["--input", raw])):
            refused(job(capsys, *argv, "--output", str(ro / "m")),
                    f"creating the output {ro / 'm'} failed: {ro} is not writable (read-only or permission denied)")
        assert list(ro.iterdir()) == []
    finally:
        os.chmod(ro, 0o755)


def test_a_dangling_link_under_spark_submit_is_one_line_on_stderr(corpus, tmp_path):
    link = tmp_path / "m"
    link.symlink_to(tmp_path / "nowhere")
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable,
               SPARK_CONF_DIR=str(REPO / "conf"))
    done = subprocess.run([str(Path(sys.executable).parent / "spark-submit"), "--master", "local[2]",
                           str(REPO / "jobs" / "train.py"), "--input", corpus, "--output", str(link), *SMALL],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 2 and done.stdout == "", done.stderr[-3000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("train: error:")]
    assert len(errors) == 1 and "is a symbolic link to" in errors[0], done.stderr[-3000:]
    assert "Traceback" not in done.stderr and not list(tmp_path.glob("m.*"))
