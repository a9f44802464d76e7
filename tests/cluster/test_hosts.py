"""Three hosts on one machine (deploy/hosts.sh): each a network namespace with its own hostname,
/tmp and /dev/shm and one Spark worker, joined by a bridge over tc-shaped veth links, a standalone
master and the driver in the root namespace. Trains the first 1M tokens of the real corpus with
``--num-blocks 6`` for 2 epochs and checks: the vectors equal the same command on ``local[1]`` bit
for bit, W' blocks went host to host over the network (``metadata.json``: bytes handed peer to
peer, none in transit through the store); a host's link taken down mid-epoch then up again and
another host's executor JVM killed mid-epoch end with the same vectors; ``hosts.sh down``
leaves no process, namespace or link behind.

Needs root and network namespaces (skipped with the reason otherwise). The store (the model's
``.partial/_blocks``) is a directory every host sees, under /var/tmp (each host's /tmp is its own).
The executors run the driver's Python: the hosts share the machine's software install, as
machines of a cluster share an NFS-mounted /opt (deploy/pack_env.sh archives work too).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from sparkw2v.embeddings import Embeddings
from sparkw2v.prepare import prepare_text

pytestmark = [pytest.mark.cluster, pytest.mark.corpus]

REPO = Path(__file__).resolve().parents[2]
HOSTS_SH = REPO / "deploy" / "hosts.sh"
PREFIX = "sw2vt"           # names of the test's namespaces and links: apart from a user's sw2v-*
SUBNET = "198.18.250"      # and its addresses
NUM_HOSTS = 3
JOB_ARGS = ["--epochs", "2", "--num-blocks", "6"]
TIMEOUT = 600


def _why_not_here() -> str | None:
    """Why this machine cannot run the hosts, or None."""
    if os.geteuid() != 0:
        return "deploy/hosts.sh needs root (network namespaces, veth links, tc)"
    for tool in ("ip", "tc", "unshare", "nsenter", "java"):
        if shutil.which(tool) is None:
            return f"'{tool}' is not installed"
    probe = subprocess.run(["unshare", "--net", "--uts", "--mount", "ip", "link"], capture_output=True, text=True)
    if probe.returncode != 0 or subprocess.run(["ip", "netns", "list"], capture_output=True).returncode != 0:
        return f"network namespaces are not available here ({probe.stderr.strip()[:200]})"
    return None


_REASON = _why_not_here()
if _REASON:
    pytestmark.append(pytest.mark.skip(reason=_REASON))


def our_namespaces() -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.startswith(f"{PREFIX}-")]


def our_links() -> list[str]:
    out = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    return [m for m in re.findall(r"^\d+: ([^:@]+)", out, flags=re.M) if m.startswith(f"{PREFIX}-")]


def running(pid: int, start: str) -> bool:
    """The process ``pid`` started at clock tick ``start`` still runs (not a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    fields = stat.rsplit(")", 1)[1].split()
    return fields[19] == start and fields[0] != "Z"


class Hosts:
    """deploy/hosts.sh with the test's prefix, subnet and state directory."""

    def __init__(self, base: Path):
        self.state = base / "state"
        self.env = dict(os.environ, PYTHON=sys.executable, SW2V_HOSTS_PREFIX=PREFIX, SW2V_HOSTS_SUBNET=SUBNET,
                        SW2V_HOSTS_STATE=str(self.state), SPARK_WORKER_MEMORY="1536m")
        self.env.pop("SPARK_HOME", None)
        self.url = ""

    def run(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", str(HOSTS_SH), *args], env=self.env, capture_output=True, text=True,
                              timeout=timeout)

    def recorded_pids(self) -> list[tuple[int, str, str]]:
        """(pid, start tick, name) of every process hosts.sh recorded."""
        record = self.state / "created"
        if not record.exists():
            return []
        return [(int(f[1]), f[2], " ".join(f[3:])) for f in (line.split() for line in record.read_text().splitlines())
                if f and f[0] == "pid"]

    def namespace_pids(self, host: int) -> list[int]:
        out = subprocess.run(["ip", "netns", "pids", f"{PREFIX}-h{host}"], capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]

    def submit(self, out: Path, corpus: str, *, log) -> subprocess.Popen:
        conf = self.run("conf").stdout.strip()
        # spark.locality.wait=0: the scheduler would hold back the barrier stage's tasks 3 s an epoch
        # waiting for the host of the pairs' shuffle output (deploy/README.md); the vectors do not depend on it
        env = dict(self.env, SPARKW2V_ENV_ARCHIVE="", EXECUTOR_PYTHON=sys.executable, DRIVER_PYTHON=sys.executable,
                   SPARK_SUBMIT_ARGS=f"--executor-memory 1g --conf spark.ui.enabled=false {conf} "
                                     "--conf spark.locality.wait=0")
        cmd = ["bash", str(REPO / "deploy" / "submit.sh"), self.url, str(REPO / "jobs" / "train.py"),
               "--input", corpus, "--output", str(out), *JOB_ARGS]
        return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, text=True, start_new_session=True)


@pytest.fixture(scope="module")
def base():
    """A directory every host sees (not /tmp, which each host replaces with its own)."""
    path = Path(tempfile.mkdtemp(prefix="sw2v-hosts-test-", dir="/var/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def hosts(base):
    h = Hosts(base)
    up = h.run("up", str(NUM_HOSTS), timeout=240)
    started = h.recorded_pids()
    try:
        assert up.returncode == 0, up.stderr[-5000:]
        h.url = up.stdout.strip()
        assert h.url == f"spark://{SUBNET}.1:7077", up.stdout  # the URL alone on stdout
        yield h
    finally:
        down = h.run("down", timeout=120)  # idempotent: the last test has taken it down already
        left = [(pid, name) for pid, start, name in started if running(pid, start)]
        for pid, _ in left:  # never leave a process behind, even when the test fails
            os.kill(pid, signal.SIGKILL)
        for ns in our_namespaces():
            subprocess.run(["ip", "netns", "del", ns])
        for link in our_links():
            subprocess.run(["ip", "link", "del", link])
        assert down.returncode == 0, down.stderr
        assert not left, f"processes left after hosts.sh down: {left}"


@pytest.fixture(scope="module")
def corpus_slice(corpus_head, base) -> str:
    out = base / "slice.parquet"
    prepare_text(str(corpus_head), str(out))
    return str(out)


@pytest.fixture(scope="module")
def local_reference(corpus_slice, base) -> Path:
    """The same command on local[1]."""
    out = base / "local1"
    done = subprocess.run([sys.executable, str(REPO / "jobs" / "train.py"), "--master", "local[1]",
                           "--input", corpus_slice, "--output", str(out), *JOB_ARGS],
                          capture_output=True, text=True, timeout=TIMEOUT,
                          env=dict(os.environ, PYSPARK_PYTHON=sys.executable))
    assert done.returncode == 0, done.stderr[-5000:]
    return out


def run_on_hosts(hosts: Hosts, corpus: str, out: Path, during=None) -> tuple[str, float]:
    """Train on the hosts; ``during(job)`` runs while the job does. (log text, wall seconds)"""
    log_path = out.with_suffix(".log")
    start = time.perf_counter()
    with open(log_path, "w") as log:
        job = hosts.submit(out, corpus, log=log)
        try:
            if during is not None:
                during(job)
        finally:
            try:
                job.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(job.pid, signal.SIGKILL)
                raise
    text = log_path.read_text()
    assert job.returncode == 0, text[-10000:]
    return text, time.perf_counter() - start


def max_difference(model: Path, reference: Path) -> float:
    """max |a - b| over W and W' of two model directories (same words in the same order)."""
    worst = 0.0
    for table in ("embeddings", "context_embeddings"):
        a, b = Embeddings.load(str(model), table), Embeddings.load(str(reference), table)
        assert list(a.words) == list(b.words)
        worst = max(worst, float(np.abs(a.vectors - b.vectors).max()))
    return worst


def wait_for_cycle(out: Path, epoch: int, cycle: int, job, timeout: float = TIMEOUT) -> None:
    """Until a training task reports ``cycle`` of ``epoch`` (its status file in the store): the
    epoch's barrier stage is running, with cycles to go."""
    deadline = time.time() + timeout
    pattern = f"run-*/status/e{epoch:04d}-a*-c{cycle:04d}-t*.json"
    while time.time() < deadline and job.poll() is None:
        if any(Path(f"{out}.partial", "_blocks").glob(pattern)):
            return
        time.sleep(0.01)
    raise AssertionError(f"cycle {cycle} of epoch {epoch} never reported")


def test_each_host_is_a_machine_of_its_own(hosts):
    """Own hostname and address, an /etc/hosts naming every host, own /tmp and /dev/shm, a
    shaped link, a live worker at its address."""
    names = [f"{PREFIX}-h{i}" for i in range(1, NUM_HOSTS + 1)]
    marker = f"sw2v-test-{os.getpid()}"
    for i, name in enumerate(names, 1):
        shown = hosts.run("exec", str(i), "sh", "-c",
                          f"hostname; ip -o -4 addr show eth0; cat /etc/hosts; ls /dev/shm /tmp; "
                          f"touch /dev/shm/{marker}-{i} /tmp/{marker}-{i}")
        assert shown.returncode == 0, shown.stderr
        lines = shown.stdout.splitlines()
        assert lines[0] == name
        assert f"inet {SUBNET}.{10 + i}/24" in lines[1]
        for j, other in enumerate(names, 1):
            assert f"{SUBNET}.{10 + j} {other}" in shown.stdout
        assert marker not in shown.stdout, "a host sees another host's /tmp or /dev/shm"
        qdisc = subprocess.run(["tc", "qdisc", "show", "dev", f"{PREFIX}-v{i}", "root"],
                               capture_output=True, text=True).stdout
        assert "tbf" in qdisc and "rate 10Gbit" in qdisc, qdisc
    assert not list(Path("/dev/shm").glob(f"{marker}-*")) and not list(Path("/tmp").glob(f"{marker}-*"))
    status = hosts.run("status").stdout
    for i in range(1, NUM_HOSTS + 1):
        assert f"worker {SUBNET}.{10 + i}: ALIVE, 0/1 cores used" in status, status


def measure_link(hosts: Hosts, sizes: str = "1M,10M") -> dict:
    """jobs/net_bandwidth.py from host 2 to host 1: its JSON result."""
    server = subprocess.Popen(["bash", str(HOSTS_SH), "exec", "1", sys.executable, str(REPO / "jobs" / "net_bandwidth.py"),
                               "serve", "--bind", f"{SUBNET}.11", "--port", "5201", "--once", "--timeout", "60"],
                              env=hosts.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(100):  # until it listens
            sent = hosts.run("exec", "2", sys.executable, str(REPO / "jobs" / "net_bandwidth.py"), "send",
                             "--to", f"{SUBNET}.11:5201", "--sizes", sizes, "--repeat", "3")
            if sent.returncode == 0 or "refused" not in sent.stderr:
                break
            time.sleep(0.1)
        assert sent.returncode == 0, sent.stderr
        return json.loads(sent.stdout)
    finally:
        server.wait(timeout=60)


def test_links_hold_their_rate(hosts, capsys):
    """TCP between two hosts through tbf: under 1 Gbit/s after `hosts.sh rate 1gbit`, several
    times that at the default 10gbit."""
    fast = measure_link(hosts)
    changed = hosts.run("rate", "1gbit")
    try:
        assert changed.returncode == 0, changed.stderr
        slow = measure_link(hosts)
    finally:
        assert hosts.run("rate", "10gbit").returncode == 0
    gbit = {name: r["blocks"][-1]["gbit_per_s"] for name, r in (("10gbit", fast), ("1gbit", slow))}
    with capsys.disabled():
        print(f"\n10 MB blocks host 2 -> host 1: {gbit['10gbit']} Gbit/s at 10gbit, {gbit['1gbit']} Gbit/s at 1gbit; "
              f"round trip {fast['round_trip_ms']} ms")
    assert 0.85 < gbit["1gbit"] <= 1.0
    assert gbit["10gbit"] > 3.0
    assert fast["round_trip_ms"] < 1.0


def test_three_hosts_train_the_vectors_of_local1_bit_for_bit(hosts, corpus_slice, local_reference, base, capsys):
    out = base / "hosts"
    log, wall = run_on_hosts(hosts, corpus_slice, out)
    meta = json.loads((out / "metadata.json").read_text())
    assert (out / "_SUCCESS").exists() and meta["master"] == hosts.url
    assert meta["num_blocks"] == 6 and meta["corpus"]["num_tasks"] == NUM_HOSTS
    for i in range(1, NUM_HOSTS + 1):  # an executor of this application ran on every host
        assert list((hosts.state / f"{PREFIX}-h{i}" / "work").glob("app-*/*")), f"no executor ran on host {i}"
    epochs = meta["corpus"]["epochs"]
    for e in epochs:  # W' went host to host over the network; none in transit through the store
        assert e["bytes_peer"] > 0 and e["bytes_ring_store_written"] == 0 and e["bytes_ring_store_read"] == 0, e
    diff = max_difference(out, local_reference)
    with capsys.disabled():
        last = epochs[-1]
        print(f"\n{NUM_HOSTS} hosts: {wall:.1f} s wall; last epoch {last['seconds']:.2f} s, its slowest task "
              f"{last['task_timings_max']['task_seconds']:.2f} s (training {last['task_timings_max']['train_seconds']:.2f} s), "
              f"{last['bytes_peer']} bytes peer to peer; max |vector difference| vs local[1] = {diff}")
    assert diff == 0.0


def test_an_executor_killed_and_a_link_down_mid_epoch_change_nothing(hosts, corpus_slice, local_reference, base,
                                                                    capsys):
    out = base / "disturbed"
    done = {}

    def disturb(job):
        # epoch 1: host 3's link down for 3 s while the ring runs, then up again
        wait_for_cycle(out, 0, 4, job)
        link = f"{PREFIX}-v3"
        subprocess.run(["ip", "link", "set", link, "down"], check=True)
        try:
            time.sleep(3)
        finally:
            subprocess.run(["ip", "link", "set", link, "up"], check=True)
        done["link"] = link
        # epoch 2 (cheaper to train again than the first, which loads the kernel): SIGKILL host 2's executor JVM
        wait_for_cycle(out, 1, 4, job)
        executors = [pid for pid in hosts.namespace_pids(2)
                     if b"CoarseGrainedExecutorBackend" in Path(f"/proc/{pid}/cmdline").read_bytes()]
        assert len(executors) == 1, executors
        os.kill(executors[0], signal.SIGKILL)
        done["killed"] = executors[0]

    log, wall = run_on_hosts(hosts, corpus_slice, out, disturb)
    assert set(done) == {"killed", "link"}, log[-5000:]
    assert re.search(r"Lost executor|ExecutorLostFailure|Removed executor|Executor .* (removed|lost)", log), \
        "the driver did not notice the executor loss"
    retries = log.count("training the epoch again from its start")
    assert retries >= 1, log[-5000:]
    diff = max_difference(out, local_reference)
    with capsys.disabled():
        print(f"\nlink {done['link']} down 3 s in epoch 1, executor {done['killed']} of host 2 killed in epoch 2: "
              f"{retries} epoch(s) trained again, {wall:.1f} s wall; max |vector difference| vs local[1] = {diff}")
    assert diff == 0.0


def test_down_leaves_no_process_namespace_or_link(hosts):
    started = hosts.recorded_pids()
    assert len(started) == 1 + NUM_HOSTS  # the master and one worker per host
    in_hosts = [pid for i in range(1, NUM_HOSTS + 1) for pid in hosts.namespace_pids(i)]
    assert in_hosts
    down = hosts.run("down", timeout=120)
    assert down.returncode == 0, down.stderr
    assert not [pid for pid, start, _ in started if running(pid, start)]
    assert not [pid for pid in in_hosts if Path(f"/proc/{pid}").exists()
                and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()]
    assert our_namespaces() == [] and our_links() == []
    assert not hosts.state.exists()
    again = hosts.run("down")
    assert again.returncode == 0 and "nothing to take down" in again.stderr
