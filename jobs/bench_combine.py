"""Seconds and bytes of one all-reduce of the replicated head's packets among T tasks over Arrow
Flight (``worker.ring_all_reduce`` on ``peer.PeerExchange``, as the training tasks run it after
every sub-epoch), for T tasks and K hot words.

    python jobs/bench_combine.py [--tasks 2 4 8] [--hot-words 64 256 1024] [--vector-size 100]
                                 [--rounds 40] [--slot-ms 250] [--bind 127.0.0.1] [--json FILE]

starts T processes on this machine for each (T, K), each with its block server on ``--bind``
(they find each other through a phone book in a temporary directory, as training tasks do
through the block store) and the network ring forced (no shared memory). Between
``deploy/hosts.sh`` hosts, one task a host, the same phone book directory given to each:

    deploy/hosts.sh exec I python jobs/bench_combine.py task --task I-1 --tasks T --hot-words K \\
        --bind 198.18.0.1I --book DIR --secret HEX --out DIR/task-I-1.json [--slot-ms 250]

then ``python jobs/bench_combine.py summarise DIR/task-*.json``.

Each round every task all-reduces a (K, 2 d + 4) int64 packet of random values drawn from
(seed, task, round), checks that the total is the sum of every task's packet (each task draws
them all), and records when it held the total. Rounds start on a shared schedule (CLOCK_MONOTONIC,
one clock on one machine and its namespaces): task 0 writes a start time into the phone book
directory and round i begins at start + i x ``--slot-ms`` on every task, so that no round starts
while the last one's broadcast still travels. A round's time is the last task's end less its
scheduled start (a round that overran its slot is counted and reported); the first 5 rounds are
warm-up. Prints per (T, K): the packet's bytes, the bytes each task
sent per all-reduce (at most two packets), the median and min seconds per all-reduce and per
hand-over (2 (T - 1) hand-overs one after another), to compare with the cost model's
c(X) = 2 (X - 1) h(packet) (jobs/cost_model.py).
"""

from __future__ import annotations

import argparse
import glob
import ipaddress
import json
import multiprocessing as mp
import os
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

WARMUP = 5


def packet_of(seed: int, task: int, round_: int, shape: tuple[int, int]) -> np.ndarray:
    rng = np.random.default_rng([seed, task, round_])
    return rng.integers(-2 ** 40, 2 ** 40, size=shape, dtype=np.int64)


def check_address(bind: str) -> None:
    """Refuse a bind address outside 127.0.0.0/8 and deploy/hosts.sh's 198.18.0.0/15."""
    try:
        address = ipaddress.ip_address(bind)
    except ValueError:
        raise SystemExit(f"bench_combine: --bind {bind!r} must be an IP address") from None
    if not any(address in ipaddress.ip_network(n) for n in ("127.0.0.0/8", "198.18.0.0/15")):
        raise SystemExit(f"bench_combine: --bind {bind} is outside 127.0.0.0/8 (this machine) and "
                         "198.18.0.0/15 (deploy/hosts.sh hosts)")


def _shared_start(book: str, task: int, timeout: float = 120.0) -> float:
    """The CLOCK_MONOTONIC time round 0 starts on every task: task 0 writes it (1 s ahead)."""
    path = os.path.join(book, "start")
    if task == 0:
        with open(path + ".tmp", "w") as fh:
            fh.write(repr(time.monotonic() + 1.0))
        os.replace(path + ".tmp", path)
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise TimeoutError("task 0 never wrote the start time")
        time.sleep(0.01)
    return float(open(path).read())


def run_task(task: int, tasks: int, hot_words: int, vector_size: int, rounds: int, bind: str, book: str,
             secret: str, slot: float = 0.25, seed: int = 1) -> dict:
    """One task: start a block server, find the neighbours, all-reduce ``rounds`` packets, round
    i starting at the shared start + i x ``slot`` seconds."""
    import fsspec

    from sparkw2v import peer
    from sparkw2v.worker import ring_all_reduce

    if tasks < 2:
        raise ValueError("an all-reduce needs at least 2 tasks")
    stage = peer.Stage("bench-combine", 0, 0, tasks)
    server = peer.BlockServer.start(bind, (0, 0), stage, task, secret)
    exchange = None
    shape = (hot_words, 2 * vector_size + 4)
    scheduled, ends, sent = [], [], 0
    try:
        me = peer.Peer(task, server.address, f"host-{task}", False)
        peers = peer.neighbours(peer.PhoneBook(fsspec.filesystem("file"), book, secret, stage), me, 120)
        exchange = peer.PeerExchange(server, peers, secret, 120, None, force_network=True)
        start = _shared_start(book, task)
        for i in range(WARMUP + rounds):
            packet = packet_of(seed, task, i, shape)
            expected = sum(packet_of(seed, t, i, shape) for t in range(tasks))
            at = start + i * slot
            time.sleep(max(0.0, at - time.monotonic()))
            total, nbytes = ring_all_reduce(exchange, task, tasks, i, 0, 0, packet)
            end = time.monotonic()
            if not np.array_equal(total, expected):
                raise AssertionError(f"task {task}, round {i}: the total is not the sum of the packets")
            scheduled.append(at)
            ends.append(end)
            sent = nbytes
        exchange.flush()
    finally:
        if exchange is not None:
            exchange.close()
        else:
            server.shutdown()
    return {"task": task, "tasks": tasks, "hot_words": hot_words, "vector_size": vector_size, "starts": scheduled,
            "ends": ends, "slot": slot, "bytes_sent": sent, "packet_bytes": int(np.prod(shape)) * 8}


def _child(conn, kwargs) -> None:
    try:
        conn.send(run_task(**kwargs))
    except BaseException as exc:  # noqa: BLE001 - reported by the parent
        conn.send({"error": f"{type(exc).__name__}: {exc}"})


def summarise(results: list[dict]) -> dict:
    """Per round: the last task's end less the round's scheduled start; medians over rounds after
    the warm-up, and how many rounds overran their slot (their time includes waiting)."""
    T = results[0]["tasks"]
    starts = np.array([r["starts"] for r in results])[:, WARMUP:]
    ends = np.array([r["ends"] for r in results])[:, WARMUP:]
    seconds = ends.max(axis=0) - starts.min(axis=0)
    hops = 2 * (T - 1)
    overran = int(np.count_nonzero(seconds > results[0]["slot"]))
    return {"tasks": T, "hot_words": results[0]["hot_words"], "vector_size": results[0]["vector_size"],
            "packet_bytes": results[0]["packet_bytes"], "bytes_sent_max": max(r["bytes_sent"] for r in results),
            "rounds": int(seconds.size), "median_s": float(np.median(seconds)), "min_s": float(seconds.min()),
            "median_hop_ms": float(np.median(seconds)) / hops * 1e3, "overran": overran}


def run_local(tasks: int, hot_words: int, vector_size: int, rounds: int, bind: str, slot: float) -> dict:
    book = tempfile.mkdtemp(prefix="sparkw2v-bench-combine-")
    secret = secrets.token_hex(32)
    ctx = mp.get_context("spawn")
    procs, pipes = [], []
    try:
        for t in range(tasks):
            parent, child = ctx.Pipe()
            kwargs = dict(task=t, tasks=tasks, hot_words=hot_words, vector_size=vector_size, rounds=rounds,
                          bind=bind, book=book, secret=secret, slot=slot)
            p = ctx.Process(target=_child, args=(child, kwargs))
            p.start()
            child.close()  # a child that dies then closes its end: recv raises instead of waiting
            procs.append(p)
            pipes.append(parent)
        results = []
        for conn in pipes:
            try:
                results.append(conn.recv())
            except EOFError:
                results.append({"error": "a task process died without a result"})
    finally:
        for p in procs:
            p.join(timeout=60)
            if p.is_alive():
                p.kill()
        shutil.rmtree(book, ignore_errors=True)
    errors = [r["error"] for r in results if "error" in r]
    if errors:
        raise SystemExit(f"bench_combine: {errors[0]}")
    return summarise(results)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _print(rows: list[dict]) -> None:
    print("| tasks T | K | d | packet KB | sent a task KB | all-reduce ms (median) | min ms | per hand-over ms | "
          "rounds over their slot |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['tasks']} | {r['hot_words']} | {r['vector_size']} | {r['packet_bytes'] / 1e3:.0f} | "
              f"{r['bytes_sent_max'] / 1e3:.0f} | {r['median_s'] * 1e3:.1f} | {r['min_s'] * 1e3:.1f} | "
              f"{r['median_hop_ms']:.2f} | {r['overran']} of {r['rounds']} |")


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["task"]:
        p = argparse.ArgumentParser(prog="bench_combine.py task")
        p.add_argument("--task", type=int, required=True)
        p.add_argument("--tasks", type=int, required=True)
        p.add_argument("--hot-words", type=int, default=256)
        p.add_argument("--vector-size", type=int, default=100)
        p.add_argument("--rounds", type=int, default=40)
        p.add_argument("--bind", required=True)
        p.add_argument("--book", required=True)
        p.add_argument("--secret", required=True)
        p.add_argument("--out", required=True)
        p.add_argument("--slot-ms", type=float, default=250.0)
        a = p.parse_args(argv[1:])
        check_address(a.bind)
        result = run_task(a.task, a.tasks, a.hot_words, a.vector_size, a.rounds, a.bind, a.book, a.secret,
                          a.slot_ms / 1e3)
        Path(a.out).write_text(json.dumps(result))
        return 0
    if argv[:1] == ["summarise"]:
        files = sorted(f for pattern in argv[1:] for f in glob.glob(pattern))
        _print([summarise([json.loads(Path(f).read_text()) for f in files])])
        return 0
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tasks", type=int, nargs="+", default=[2, 4, 8])
    p.add_argument("--hot-words", type=int, nargs="+", default=[64, 256, 1024])
    p.add_argument("--vector-size", type=int, default=100)
    p.add_argument("--rounds", type=int, default=40)
    p.add_argument("--bind", default="127.0.0.1")
    p.add_argument("--slot-ms", type=float, default=250.0, help="milliseconds from one round's start to the next")
    p.add_argument("--json", default=None)
    a = p.parse_args(argv)
    if not (_is_ip(a.bind) and ipaddress.ip_address(a.bind) in ipaddress.ip_network("127.0.0.0/8")):
        print("bench_combine: --bind must be a loopback address here (127.0.0.0/8); between hosts use "
              "'task' inside deploy/hosts.sh hosts", file=sys.stderr)
        return 2
    if min(a.tasks) < 2:
        print("bench_combine: --tasks must be 2 or more (an all-reduce among one task moves nothing)", file=sys.stderr)
        return 2
    print(f"# {time.strftime('%Y-%m-%d %H:%M:%S')}, load {os.getloadavg()[0]:.1f}, {os.cpu_count()} cores")
    rows = [run_local(T, K, a.vector_size, a.rounds, a.bind, a.slot_ms / 1e3) for T in a.tasks for K in a.hot_words]
    _print(rows)
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
