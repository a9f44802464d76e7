"""The jobs as a user launches them: results alone on stdout, one error line on stderr, Spark's
log only with --verbose. Classic Spark: under spark-submit, the documented launcher. Spark
Connect (SPARKW2V_SPARK_MODE=connect): ``python jobs/...`` with ``SPARK_REMOTE=local[2]``, each
job starting its own Connect server (its log kept quiet as spark-submit's)."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import only_in, spark_mode
from tests.jobs_util import write_tiny_corpus

pytestmark = pytest.mark.spark

REPO = Path(__file__).resolve().parents[2]
SPARK_LOG = re.compile(r"^\d\d/\d\d/\d\d \d\d:\d\d:\d\d (INFO|WARN) ")
# Lines the JVM prints at its start, whatever the log settings: its own notice, and (a JVM that a
# Python process starts, e.g. the Spark Connect server of ``python jobs/...``) Spark's shell level
JVM_NOTICE = ("WARNING: Using incubator modules", 'Setting default log level to "WARN".',
              "To adjust logging level use sc.setLogLevel(newLevel).")


def launch(argv: list[str], remote: str = "local[2]") -> tuple[list[str], dict]:
    """The command line and environment that run a job (``argv``: its script and arguments) the
    tests' way: spark-submit --master local[2] (classic), ``python`` with SPARK_REMOTE=``remote``
    (Spark Connect)."""
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable,
               SPARK_CONF_DIR=str(REPO / "conf"))
    if spark_mode() == "connect":
        return [sys.executable, *argv], dict(env, SPARK_REMOTE=remote)
    return [str(Path(sys.executable).parent / "spark-submit"), "--master", "local[2]", *argv], env


def submit(*argv: str, verbose: bool = False) -> subprocess.CompletedProcess:
    cmd, env = launch([*argv, *(["--verbose"] if verbose else [])])
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_tiny_corpus(tmp_path_factory.mktemp("launch") / "in")


def test_a_refused_run_prints_one_error_line_on_stderr_and_nothing_on_stdout(corpus, tmp_path):
    done = submit(str(REPO / "jobs" / "train.py"), "--input", corpus, "--output", str(tmp_path / "m"),
                  "--text-column", "body")
    assert done.returncode == 2
    assert done.stdout == ""
    errors = [line for line in done.stderr.splitlines() if line.startswith("train: error:")]
    assert len(errors) == 1 and "has no column 'body'" in errors[0]
    assert not [line for line in done.stderr.splitlines() if SPARK_LOG.match(line)], done.stderr[-3000:]


def test_a_run_prints_its_result_alone_on_stdout(corpus, tmp_path):
    done = submit(str(REPO / "jobs" / "train.py"), "--input", corpus, "--output", str(tmp_path / "m"),
                  "--min-count", "1", "--epochs", "1", "--vector-size", "8")
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["vocab_size"] == 7
    assert "sparkw2v.trainer: epoch 1/1" in done.stderr  # progress lines are on stderr
    assert not [line for line in done.stderr.splitlines() if SPARK_LOG.match(line)], done.stderr[-3000:]
    query = submit(str(REPO / "jobs" / "query.py"), "--model", str(tmp_path / "m"),
                   "--sql", "SELECT count(*) AS n FROM vocab")
    assert query.returncode == 0 and json.loads(query.stdout.strip())["rows"] == [{"n": 7}], query.stderr[-2000:]
    loud = submit(str(REPO / "jobs" / "query.py"), "--model", str(tmp_path / "m"),
                  "--sql", "SELECT count(*) AS n FROM vocab", verbose=True)
    assert loud.returncode == 0 and [line for line in loud.stderr.splitlines() if SPARK_LOG.match(line)]


def test_driver_settings_reach_the_jvm_this_process_starts(spark):
    """``spark.driver.memory`` given to build_session must size the heap of the JVM it starts
    (it only counts at the JVM's start: set later, Spark ignores it without a word): classic
    Spark's driver, or the Spark Connect server started here (its JVM is this process's too)."""
    from pyspark import SparkContext

    from sparkw2v.session import TEST_CONF

    want = int(TEST_CONF["spark.driver.memory"].rstrip("g")) * 2**30
    heap = SparkContext._jvm.java.lang.Runtime.getRuntime().maxMemory()
    assert heap > 0.85 * want, (heap, want)


def test_ctrl_c_during_training_is_one_line_on_stderr_and_resumable(tmp_path):
    """SIGINT to spark-submit's whole process group (what Ctrl-C in a terminal sends: the JVM,
    the Python driver and the Python workers) while it trains: nothing on stdout, one line on
    stderr beside the progress lines (no traceback, no py4j or executor log), exit 130; the
    line's advice (--resume) works."""
    import signal
    import time

    import numpy as np

    rng = np.random.default_rng(0)
    words = np.array([f"w{i}" for i in range(500)])
    rows = [" ".join(words[rng.zipf(1.3, 100) % 500]) for _ in range(2000)]
    (tmp_path / "in").mkdir()
    pq.write_table(pa.table({"text": rows}), str(tmp_path / "in" / "part-0.parquet"))
    out = tmp_path / "m"
    # 12 epochs of ~0.5 s: after the second, 10 are left for the interrupt to land in
    argv = [str(REPO / "jobs" / "train.py"), "--input", str(tmp_path / "in"), "--output", str(out),
            "--min-count", "1", "--vector-size", "16", "--epochs", "12"]
    cmd, env = launch(argv)
    stdout, stderr = tmp_path / "stdout", tmp_path / "stderr"
    with open(stdout, "w") as so, open(stderr, "w") as se:
        proc = subprocess.Popen(cmd, stdout=so, stderr=se, env=env, start_new_session=True)
        try:
            # wait (no deadline but the process's own end) until two epochs are done
            while proc.poll() is None and "epoch 2/12 done" not in stderr.read_text():
                time.sleep(0.2)
            assert proc.poll() is None, stderr.read_text()[-3000:]
            os.killpg(proc.pid, signal.SIGINT)
            code = proc.wait(timeout=300)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    assert stdout.read_text() == ""
    progress = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ INFO sparkw2v\.")
    other = [line for line in stderr.read_text().splitlines()
             if not progress.match(line) and not line.startswith(JVM_NOTICE)]
    assert other == [f"train: interrupted (Ctrl-C); its checkpoint is kept in '{out}.partial': run the same "
                     "command with --resume to continue it"], stderr.read_text()[-3000:]
    assert code == 130
    resumed = submit(*argv, "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    vocab = {word for row in rows for word in row.split()}
    assert json.loads(resumed.stdout)["vocab_size"] == len(vocab) and (out / "_SUCCESS").exists()


# A task cancelled while its Python worker computes: the worker writes its result (a second
# after the driver cancels, before Spark kills it) into the socket Spark has closed. argv[1]:
# a directory for the marker, argv[2]: the daemon module the session is given ("" for none).
CANCEL_SCRIPT = """
import os, sys, threading, time
from sparkw2v.session import build_session

marker = os.path.join(sys.argv[1], "computing")
conf = {"spark.python.daemon.module": sys.argv[2]} if sys.argv[2] else {}
spark = build_session("cancel", master=None if os.environ.get("SPARK_REMOTE") else "local[2]", conf=conf)


def slow(batches):
    import time
    import pyarrow as pa
    for _ in batches:
        pass
    open(marker, "w").close()
    time.sleep(1.0)
    yield pa.RecordBatch.from_arrays([pa.array(range(100000), pa.int64())], names=["id"])


def cancel():
    while not os.path.exists(marker):
        time.sleep(0.02)
    if type(spark).__module__.startswith("pyspark.sql.connect"):
        spark.interruptAll()
    else:
        spark.sparkContext.cancelAllJobs()


threading.Thread(target=cancel, daemon=True).start()
try:
    spark.range(0, 1, 1, 1).mapInArrow(slow, "id long").collect()
    print("not cancelled")
except Exception:
    print("cancelled")
time.sleep(2.0)  # the worker's write fails meanwhile
"""


def test_a_cancelled_task_leaves_no_worker_traceback_on_stderr(tmp_path):
    """Ctrl-C cancels the running tasks (test_ctrl_c_...); a Python worker that then writes into
    its closed socket gets BrokenPipeError or ConnectionResetError, and pyspark's daemon prints
    the traceback where a local run's user sees it. sparkw2v's daemon (sparkw2v.daemon, a
    local session's default) ends such a worker silently. The same run with pyspark's daemon
    shows the traceback, so this test can tell the two apart; the user's own daemon setting wins."""
    _, env = launch([])  # python itself: SPARK_REMOTE=local[2] under Connect, else a local[2] JVM of its own
    runs = {}
    for daemon in ("", "pyspark.daemon"):
        marks = tmp_path / (daemon or "default")
        marks.mkdir()
        done = subprocess.run([sys.executable, "-c", CANCEL_SCRIPT, str(marks), daemon],
                              capture_output=True, text=True, env=env, timeout=300)
        assert done.returncode == 0 and done.stdout == "cancelled\n", (done.stdout, done.stderr[-3000:])
        runs[daemon] = done.stderr
    assert "Traceback" not in runs[""] and "Error" not in runs[""], runs[""][-3000:]
    assert re.search(r"(BrokenPipe|ConnectionReset)Error", runs["pyspark.daemon"]), runs["pyspark.daemon"][-3000:]


@only_in("classic", "--master is classic Spark's (under Spark Connect, a master given beside the server is "
                    "refused: test_a_master_spark_cannot_parse_is_one_line_under_connect)")
def test_a_master_spark_cannot_parse_is_one_line(corpus, tmp_path):
    done = submit(str(REPO / "jobs" / "train.py"), "--input", corpus, "--output", str(tmp_path / "m"),
                  "--master", "foo")
    assert done.returncode == 2 and done.stdout == ""
    lines = [line for line in done.stderr.splitlines() if not line.startswith(JVM_NOTICE)]
    assert lines == ["train: error: Spark could not start: Could not parse Master URL: 'foo'; check --master (e.g. "
                     "local[*], yarn, spark://HOST:7077) and the Spark settings (spark-submit --conf, "
                     "spark-defaults.conf)"], done.stderr[-3000:]
    assert not (tmp_path / "m").exists()


@only_in("connect", "starts Spark Connect servers (the classic pass tests spark-submit's launch)")
def test_a_master_spark_cannot_parse_is_one_line_under_connect(corpus, tmp_path):
    """A local server whose master does not parse, a URL that is not one, a server nobody
    listens at, --master beside --remote: one line each, exit 2, nothing written."""
    train = [str(REPO / "jobs" / "train.py"), "--input", corpus, "--output", str(tmp_path / "m")]
    cases = {
        "local[foo]": "train: error: Spark could not start a Spark Connect server: Could not parse Master URL: "
                      "'local[foo]'; check --remote/--master",
        "foo": "train: error: SPARK_REMOTE 'foo' is not a Spark Connect URL: give sc://HOST:PORT",
        "sc://localhost:1": "train: error: cannot reach the Spark Connect server at sc://localhost:1 (Connection "
                            "refused): start it",
    }
    for remote, want in cases.items():
        cmd, env = launch(train, remote=remote)
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
        lines = [line for line in done.stderr.splitlines() if not line.startswith(JVM_NOTICE)]
        assert done.returncode == 2 and done.stdout == "", done.stderr[-3000:]
        assert len(lines) == 1 and lines[0].startswith(want), done.stderr[-3000:]
    cmd, env = launch([*train, "--master", "local[2]"], remote="sc://localhost:1")
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 2 and done.stderr.splitlines() == [
        "train: error: --master 'local[2]' and SPARK_REMOTE 'sc://localhost:1' were both given: --master is for "
        "classic Spark; a Spark Connect server has its own master (local[N] names the one of a server started "
        "here): give one of them"], done.stderr[-3000:]
    assert not (tmp_path / "m").exists()


@only_in("connect", "connects to the tests' own Spark Connect server")
def test_a_job_connects_to_a_running_server(spark, corpus, tmp_path):
    """``--remote sc://HOST:PORT`` (a server running elsewhere: here the tests' own, with this
    process's token): the refused run is one line, and the client starts no JVM of its own."""
    from sparkw2v.session import local_server_url

    url = local_server_url()
    assert url is not None
    cmd, env = launch([str(REPO / "jobs" / "train.py"), "--input", corpus, "--output", str(tmp_path / "m"),
                       "--text-column", "body", "--remote", url])
    env.pop("SPARK_REMOTE")
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines() == [
        f"train: error: input {corpus!r} has no column 'body'; its columns are ['text']: pass the text column "
        "with --text-column"], done.stderr[-3000:]
