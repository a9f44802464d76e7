"""A real Spark standalone cluster on 127.0.0.1 (a master and two 1-core workers, started with
deploy/cluster.sh) running jobs/train.py through deploy/submit.sh on a slice of the real corpus.

The executors run a bare Python that has none of sparkw2v's dependencies: everything they
import comes from the archive made by deploy/pack_env.sh. The tests check the output of an
undisturbed run, that the same settings on local[1] give the cluster's vectors bit for bit
(local[2] with uneven blocks a task against the in-process engine is tests/spark/test_training.py),
that killing a Python worker and then the driver in the middle of training, and an executor JVM
in the middle of the resumed run, changes nothing in the vectors, and that stopping the cluster
leaves no process behind.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from sparkw2v.embeddings import Embeddings
from sparkw2v.prepare import prepare_text

pytestmark = [pytest.mark.cluster, pytest.mark.corpus]

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
JOB_ARGS = ["--epochs", "2", "--sample", "1e-3", "--num-blocks", "4", "--vector-size", "64"]
CYCLES = 32  # 2 epochs x 16 cycles


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def processes_under(directory: Path) -> list[tuple[int, str]]:
    """(pid, command line) of every process whose working directory is below ``directory``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cwd = os.readlink(proc / "cwd")
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if cwd.startswith(str(directory)):
            found.append((int(proc.name), cmdline))
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()


class Cluster:
    def __init__(self, base: Path):
        self.base = base
        self.dir = base / "cluster"
        self.env = dict(os.environ, PYTHON=sys.executable, SPARKW2V_CLUSTER_DIR=str(self.dir),
                        SPARK_MASTER_HOST="127.0.0.1", SPARK_MASTER_PORT=str(free_port()),
                        SPARK_MASTER_WEBUI_PORT=str(free_port()), SPARKW2V_WORKERS="2",
                        SPARK_WORKER_CORES="1", SPARK_WORKER_MEMORY="1536m")
        self.env.pop("PYSPARK_PYTHON", None)
        self.env.pop("SPARK_HOME", None)
        self.url = ""

    def script(self, name: str, *args: str, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", str(DEPLOY / name), *args], env=self.env, cwd=self.base,
                              capture_output=True, text=True, **kwargs)

    def daemon_pids(self) -> list[int]:
        return [int(p.read_text().strip()) for p in (self.dir / "pids").glob("*.pid")]

    def submit(self, *args: str, archive: Path, executor_python: Path, popen: bool = False, log=None):
        env = dict(self.env, SPARKW2V_ENV_ARCHIVE=str(archive), EXECUTOR_PYTHON=str(executor_python),
                   DRIVER_PYTHON=sys.executable,
                   SPARK_SUBMIT_ARGS="--executor-memory 1g --conf spark.ui.enabled=false")
        cmd = ["bash", str(DEPLOY / "submit.sh"), self.url, str(REPO / "jobs" / "train.py"), *args]
        if popen:  # output to ``log`` (a file: a pipe nobody reads would fill and stop the job)
            return subprocess.Popen(cmd, env=env, cwd=self.base, stdout=log or subprocess.DEVNULL,
                                    stderr=subprocess.STDOUT, text=True, start_new_session=True)
        return subprocess.run(cmd, env=env, cwd=self.base, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cluster-run")


@pytest.fixture(scope="module")
def bare_python(base) -> Path:
    """A Python 3.11 with nothing but the standard library, as on an executor without our deps."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(base / "bare")], check=True)
    python = base / "bare" / "bin" / "python"
    probe = subprocess.run([str(python), "-c", "import numpy"], capture_output=True, text=True)
    assert probe.returncode != 0, "the bare executor Python must not have numpy"
    return python


@pytest.fixture(scope="module")
def archive(base) -> Path:
    out = base / "sparkw2v-env.tar"
    done = subprocess.run(["bash", str(DEPLOY / "pack_env.sh"), str(out)], cwd=base, capture_output=True,
                          text=True, env=dict(os.environ, PYTHON=sys.executable), timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def corpus_slice(corpus_head, base) -> str:
    out = base / "slice.parquet"
    prepare_text(str(corpus_head), str(out))
    return str(out)


@pytest.fixture(scope="module")
def cluster(base, archive, bare_python):
    c = Cluster(base)
    started = c.script("cluster.sh", "start", timeout=180)
    daemons = c.daemon_pids()
    try:
        assert started.returncode == 0, started.stderr + started.stdout
        c.url = started.stdout.strip().splitlines()[-1]
        assert c.url == f"spark://127.0.0.1:{c.env['SPARK_MASTER_PORT']}"
        status = json.loads(c.script("cluster.sh", "status").stdout)
        assert [w["cores"] for w in status["workers"] if w["state"] == "ALIVE"] == [1, 1]
        yield c
    finally:
        daemons = daemons or c.daemon_pids()
        stopped = c.script("cluster.sh", "stop", timeout=120)
        deadline = time.time() + 30
        while time.time() < deadline and (processes_under(c.dir) or any(alive(p) for p in daemons)):
            time.sleep(0.5)
        left = processes_under(c.dir) + [(p, "daemon") for p in daemons if alive(p)]
        for pid, _ in left:  # never leave a process behind, even when the test fails
            os.kill(pid, signal.SIGKILL)
        assert stopped.returncode == 0, stopped.stderr
        assert not left, f"processes left after deploy/cluster.sh stop: {left}"


@pytest.fixture(scope="module")
def reference(cluster, corpus_slice, archive, bare_python, base):
    """The undisturbed run: output directory, wall seconds and the job's summary line."""
    out = base / "reference"
    start = time.perf_counter()
    done = cluster.submit("--input", corpus_slice, "--output", str(out), *JOB_ARGS,
                          archive=archive, executor_python=bare_python)
    wall = time.perf_counter() - start
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-5000:]
    summary = json.loads([line for line in done.stdout.splitlines() if line.startswith('{"output"')][-1])
    return out, wall, summary


def max_difference(model: Path, reference_model: Path) -> float:
    """max |a - b| over W and W' of two model directories."""
    return max(float(np.abs(Embeddings.load(str(model), table).vectors
                            - Embeddings.load(str(reference_model), table).vectors).max())
               for table in ("embeddings", "context_embeddings"))


def test_train_on_the_cluster(reference, cluster, capsys):
    out, wall, summary = reference
    meta = json.loads((out / "metadata.json").read_text())
    assert (out / "_SUCCESS").exists() and meta["master"] == cluster.url
    assert meta["num_blocks"] == 4 and meta["corpus"]["num_tasks"] == 2 and len(meta["cycles"]) == CYCLES
    emb = Embeddings.load(str(out))
    assert len(emb.words) == summary["vocab_size"] > 5000
    assert np.isfinite(emb.vectors).all() and emb.vectors.shape[1] == 64
    # trained, not initial, vectors: related words are closer than unrelated ones
    assert emb.similarity("king", "queen") > emb.similarity("king", "water")
    with capsys.disabled():
        print(f"\ncluster run: {wall:.1f} s wall, {summary['train_seconds']:.1f} s training, "
              f"{summary['words_per_sec']:.0f} words/s, {summary['train_words_per_epoch']} words/epoch")


@pytest.mark.parametrize("master", ["local[1]"])
def test_local_masters_give_the_clusters_vectors_bit_for_bit(reference, corpus_slice, base, master, capsys):
    """Same (seed, num_blocks, cycles_per_epoch): one task or two executors of the cluster train
    the same blocks in the same order of strata."""
    out = base / f"local-{master[6]}"
    done = subprocess.run([sys.executable, str(REPO / "jobs" / "train.py"), "--master", master,
                           "--input", corpus_slice, "--output", str(out), *JOB_ARGS],
                          capture_output=True, text=True, timeout=900,
                          env=dict(os.environ, PYSPARK_PYTHON=sys.executable))
    assert done.returncode == 0, done.stderr[-5000:]
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["corpus"]["num_tasks"] == min(4, int(master[6]))
    diff = max_difference(out, reference[0])
    with capsys.disabled():
        print(f"\n{master} vs the cluster: max |vector difference| = {diff}")
    assert diff == 0.0


def _kill_one(cluster: Cluster, pattern: str) -> int:
    """SIGKILL the newest process below the executors' work directories matching ``pattern``."""
    found = [pid for pid, cmdline in processes_under(cluster.dir / "work") if re.search(pattern, cmdline)]
    assert found, f"no process matching {pattern!r} under {cluster.dir / 'work'}"
    os.kill(max(found), signal.SIGKILL)
    return max(found)


def _wait_for_cycle(out: Path, epoch: int, cycle: int, job, attempt: int | str = "*", runs_before=frozenset(),
                    timeout: float = 600) -> dict:
    """The status a training task writes when it finishes a cycle of the driver's ``attempt`` at
    the epoch (it holds the task's pid), in a run other than ``runs_before`` (names of the run
    directories a killed driver left): once it exists, that attempt's barrier stage is running."""
    deadline = time.time() + timeout
    while time.time() < deadline and job.poll() is None:
        found = sorted(p for p in Path(f"{out}.partial", "_blocks").glob(
            f"run-*/status/e{epoch:04d}-a{attempt}-c{cycle:04d}-t*.json") if p.parent.parent.name not in runs_before)
        if found:
            return json.loads(found[0].read_text())
        time.sleep(0.01)
    raise AssertionError(f"cycle {cycle} of epoch {epoch} (attempt {attempt}) never reported")


def test_a_python_worker_the_driver_and_an_executor_killed_mid_training_change_nothing(
        reference, cluster, corpus_slice, archive, bare_python, base, capsys):
    """Three faults over one run and its resume (a cluster run costs a minute of CI): a Python
    worker training its blocks is SIGKILLed in epoch 1, which fails the barrier stage, and the
    driver trains the epoch again from its start; once epoch 1's checkpoint is written the
    driver itself (spark-submit's JVM and the Python driver) is killed; the same command with
    --resume loses an executor JVM in epoch 2, trains that epoch again from the state it read
    from the store, and finishes on its own. The vectors are the undisturbed run's."""
    out = base / "killed"
    args = ["--input", corpus_slice, "--output", str(out), *JOB_ARGS, "--checkpoint-every", "1"]
    ckpt = Path(f"{out}.partial") / "_blocks"  # the model is built beside its destination
    state = ckpt / "state-000001" / "state.json"
    killed = {}
    with open(base / "killed.log", "w") as log:
        job = cluster.submit(*args, archive=archive, executor_python=bare_python, popen=True, log=log)
        try:
            # a Python worker training its blocks in the middle of epoch 1 ...
            task = _wait_for_cycle(out, 0, 4, job, attempt=0)
            os.kill(task["pid"], signal.SIGKILL)
            killed["python"] = task["pid"]
            # ... and the driver once epoch 1 (trained again) has its checkpoint: epoch 2 trains
            deadline = time.time() + 600
            while time.time() < deadline and job.poll() is None and not state.exists():
                time.sleep(0.05)
            assert job.poll() is None and state.exists(), "the job ended, or wrote no checkpoint, before the kill"
            os.killpg(job.pid, signal.SIGKILL)
            killed["driver"] = job.pid
        finally:
            if job.poll() is None:
                os.killpg(job.pid, signal.SIGKILL)  # a failed step above: end the job now
            job.wait(timeout=60)
    first = (base / "killed.log").read_text()
    assert set(killed) == {"python", "driver"}, first[-5000:]
    assert first.count("training the epoch again from its start") == 1, first[-5000:]
    assert not (out / "_SUCCESS").exists()
    killed_at = max(p.name for p in ckpt.glob("state-*") if (p / "state.json").exists())
    runs_before = frozenset(p.name for p in ckpt.glob("run-*"))  # the killed driver's run (its status files stay)
    with open(base / "resumed.log", "w") as log:
        job = cluster.submit(*args, "--resume", archive=archive, executor_python=bare_python, popen=True, log=log)
        try:
            # an executor JVM in the middle of the resumed run's epoch 2
            _wait_for_cycle(out, 1, 4, job, attempt=0, runs_before=runs_before)
            killed["executor"] = _kill_one(cluster, r"CoarseGrainedExecutorBackend")
        finally:
            job.wait(timeout=900)
    text = (base / "resumed.log").read_text()
    assert job.returncode == 0, text[-10000:]
    assert re.search(r"Lost executor|ExecutorLostFailure|Removed executor|Executor .* (removed|lost)", text), \
        "the driver did not notice the executor loss"
    assert text.count("training the epoch again from its start") == 1, text[-5000:]
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["resumed"] and 0 < len(meta["cycles"]) < CYCLES
    diff = max_difference(out, reference[0])
    with capsys.disabled():
        print(f"\nkilled python worker {killed['python']} (a training task) in epoch 1, the driver after checkpoint "
              f"{killed_at}, executor JVM {killed['executor']} in epoch 2 of the resumed run ({len(meta['cycles'])} "
              f"cycles): max |vector difference| vs the undisturbed run = {diff}")
    assert diff == 0.0
    assert not ckpt.exists()
