"""Hand-over time of one W' block between two processes: Arrow Flight (``sparkw2v.peer``)
against the block store (a file written by one process, read and removed by the other), for
block sizes from 100 KB to 100 MB; fits a fixed cost h0 and a bandwidth bw to each.

    python jobs/bench_handover.py [--host 127.0.0.1] [--sizes 0.1,0.3,1,3,10,30,100]
                                  [--store-dirs /tmp,/dev/shm] [--store-latency-ms 20,100]
                                  [--busy MS [--nogil]] [--json FILE]

Between two hosts of ``deploy/hosts.sh`` (the receiver's block server in host 1, the sender in
host 2; Flight only, the store is not between hosts):

    deploy/hosts.sh exec 1 python jobs/bench_handover.py serve --bind 198.18.0.11 --port 5300 &
    deploy/hosts.sh exec 2 python jobs/bench_handover.py send --to 198.18.0.11:5300 \
        --sizes 0.1,0.3,1,3,10,30,100 [--json FILE]

``serve`` runs a ``peer.BlockServer`` (task 0 of a 2-task stage) on its host's address and
takes every block that arrives off its queue; it stops when the sender sends the signed
``abort`` action at its end, or after ``--timeout`` s without a block. ``send`` is task 1 and
times each ``peer.put_block`` (HMAC-signed head, 1 MiB batches, XXH3-64 on both ends): a put
returns when the server's handler has checked the block (MAC, stage, size, checksum) and queued
it, i.e. when the block is in the receiver's memory, so the time is measured on the sender's
clock alone. Exit code 2 with one line on stderr if the server cannot be reached.

``cpu``: the CPU seconds of one Flight hand-over, both ends in one process on 127.0.0.1
(``python jobs/bench_handover.py cpu [--sizes 0.3,1,3,10]``): the cost model charges them to
the core a task trains on (each task sends one block and takes one every sub-epoch).

``--store-latency-ms``: the store hand-over also goes through an fsspec filesystem that sleeps
that many ms on each operation (open, cat, exists, ls/info, mv, rm, makedirs; an operation
calling another counts once) around the local one: the order of HDFS and object-store
latencies, without their bandwidth limits (the bytes still go to the local disk).

Each hand-over is timed from the moment the sender starts (put or write) to the moment the
receiving process has the block in memory, with the receiver already waiting, as in the ring
(both clocks are CLOCK_MONOTONIC). Flight: one put (XXH3-64 computed batch by batch on both
ends), the server's checks (MAC, stage, size, checksum) and the queue; store:
``blockstore.FileExchange`` send (write under a temporary name, rename) and receive (poll,
read, remove). ``--busy MS``: the receiving process computes meanwhile in numba calls of MS ms
each, holding the GIL as the training kernel does (a task trains while its next block
arrives), to show whether the Flight server's Python handler gets the time to take the bytes;
``--nogil``: the calls release the GIL (numba's nogil=True, what ``kernel.train_stratum``
would need).

Prints one table row per (transport, size): median, min and max seconds and MB/s, then the
least-squares fit t = h0 + size / bw (MB = 10^6 bytes).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

SECRET = "bench" * 8
STAGE_RUN = "bench"


# ---------------------------------------------------------------------------- a slow store

_SLOW_OPS = ("open", "cat_file", "exists", "info", "ls", "mv", "rm", "rm_file", "makedirs", "mkdir")


def slow_filesystem_class(latency_ms: float):
    """An fsspec filesystem class, protocol ``lat<ms>`` (e.g. ``lat20:///var/tmp/x``), that is the
    local filesystem with ``latency_ms`` ms of sleep added to every operation named in
    ``_SLOW_OPS`` (one sleep per outermost call: an operation that calls another inside is one
    operation), registered with fsspec so that ``BlockStore("lat20:///dir")`` uses it.

    Models a store whose every request costs a round trip (HDFS name node, S3 request): the
    latency only; the bytes go to the local disk at its speed.
    """
    import threading

    import fsspec
    from fsspec.implementations.local import LocalFileSystem

    protocol = f"lat{int(latency_ms)}"
    depth = threading.local()

    def slowed(name):
        inner = getattr(LocalFileSystem, name)

        def op(self, *args, **kwargs):
            level = getattr(depth, "n", 0)
            if level == 0:
                time.sleep(latency_ms / 1e3)
            depth.n = level + 1
            try:
                return inner(self, *args, **kwargs)
            finally:
                depth.n = level
        op.__name__ = name
        return op

    def strip(cls, path):
        path = fsspec.utils.stringify_path(path)
        if path.startswith(protocol + "://"):
            path = path[len(protocol) + 3:]
        return LocalFileSystem._strip_protocol(path)

    attrs = {name: slowed(name) for name in _SLOW_OPS}
    attrs.update(protocol=protocol, _strip_protocol=classmethod(strip), cachable=False)
    cls = type(f"Latency{int(latency_ms)}msFileSystem", (LocalFileSystem,), attrs)
    fsspec.register_implementation(protocol, cls, clobber=True)
    return cls


def _store_url(directory: str) -> str:
    """Register the slow filesystem a ``latNN://`` URL names (in this process); return the URL."""
    if directory.startswith("lat"):
        slow_filesystem_class(float(directory[3:directory.index(":")]))
    return directory


def _busy_kernel(stop, ready, nogil, ms):
    """Until ``stop`` is set, run numba-compiled calls of about ``ms`` ms each, one after the
    other, as a task trains its strata: holding the GIL during each call, as the kernel
    (``kernel.train_stratum``, compiled without nogil) does, or, with ``nogil``, not."""
    import math

    import numba

    def spin(n):
        acc = 0.0
        for i in range(n):
            acc += math.sqrt(i + acc % 7.0)
        return acc

    fn = numba.njit(nogil=nogil)(spin)
    n = 100_000
    fn(n)
    started = time.perf_counter()
    fn(n)
    n = max(1000, int(n * ms / 1e3 / max(time.perf_counter() - started, 1e-9)))
    fn(n)
    ready.set()
    while not stop.is_set():
        fn(n)


def _receiver(conn, host, busy, nogil):
    """The neighbour: a block server (task 0 of 2), and a file ring; does what ``conn`` says."""
    import threading

    from sparkw2v import peer
    from sparkw2v.blockstore import BlockStore

    server = peer.BlockServer.start(host, (0, 0), peer.Stage(STAGE_RUN, 0, 0, 2), 0, SECRET)
    stop, ready = threading.Event(), threading.Event()
    if busy:  # compiled and calibrated before the first block
        threading.Thread(target=_busy_kernel, args=(stop, ready, nogil, busy), daemon=True).start()
        ready.wait()
    conn.send(server.address)
    files = {}
    while True:
        msg = conn.recv()
        if msg is None:
            break
        kind, key, shape = msg[:3]
        conn.send("ready")
        if kind == "flight":
            rows = server.take(*key, shape, timeout=120)
        else:
            directory = _store_url(msg[3])
            if directory not in files:
                files[directory] = BlockStore(directory).exchange("bench", 0, 0, 0, 2, timeout=120)
            rows = files[directory].receive(*key, shape)
        conn.send(time.perf_counter())
        del rows
    stop.set()
    server.shutdown()


def fit(sizes_mb, seconds):
    """Least squares t = h0 + size / bw: (h0 seconds, bw MB/s)."""
    a = np.vstack([np.ones(len(sizes_mb)), sizes_mb]).T
    (h0, per_mb), *_ = np.linalg.lstsq(a, np.asarray(seconds), rcond=None)
    return float(h0), float(1 / per_mb) if per_mb > 0 else float("inf")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--sizes", default="0.1,0.3,1,3,10,30,100", help="block sizes in MB (10^6 bytes)")
    parser.add_argument("--store-dirs", default=f"{tempfile.gettempdir()},/dev/shm",
                        help="directories for the file hand-over (the block store's filesystem)")
    parser.add_argument("--busy", type=float, default=0.0, metavar="MS",
                        help="the receiver computes meanwhile, in numba calls of MS ms (a stratum's length) that "
                             "hold the GIL as the kernel does")
    parser.add_argument("--nogil", action="store_true",
                        help="with --busy: the numba calls release the GIL (nogil=True)")
    parser.add_argument("--store-latency-ms", default="",
                        help="comma-separated ms: also hand over through a store that adds this latency to each "
                             "operation (a latNN:// fsspec filesystem over the first --store-dirs directory)")
    parser.add_argument("--json", help="write the figures here")
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("serve", "send", "cpu"):
        return split_main(argv)
    args = parser.parse_args(argv)

    from sparkw2v import peer
    from sparkw2v.blockstore import BlockStore

    sizes = [float(s) for s in args.sizes.split(",")]
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_receiver, args=(child, args.host, args.busy, args.nogil), daemon=True)
    proc.start()
    address = parent.recv()
    stage = peer.Stage("bench", 0, 0, 2)
    client = peer.connect(address)
    scratch = [tempfile.mkdtemp(prefix="sparkw2v-bench-", dir=d) for d in args.store_dirs.split(",") if d]
    latencies = [float(x) for x in args.store_latency_ms.split(",") if x.strip()]
    if latencies and not scratch:
        parser.error("--store-latency-ms needs a directory in --store-dirs")
    urls = scratch + [_store_url(f"lat{int(ms)}://{scratch[0]}") for ms in latencies]
    senders = {d: BlockStore(d).exchange("bench", 0, 0, 1, 2, timeout=300) for d in urls}
    results = []
    cycle = 0
    try:
        for mb in sizes:
            d = 100
            n = max(1, int(round(mb * 1e6 / (d * 4))))
            rows = np.random.default_rng(0).standard_normal((n, d)).astype(np.float32)
            repeats = max(5, min(50, int(200 / mb)))
            transports = [("flight", None)] + [("store " + d_, d_) for d_ in urls]
            for name, directory in transports:
                times = []
                slow = directory is not None and directory.startswith("lat")
                for rep in range((min(repeats, 5) if slow else repeats) + 1):  # the first is a warm-up
                    cycle += 1
                    key = (cycle, 0, 0)
                    kind = "flight" if directory is None else "file"
                    parent.send((kind, key, rows.shape, directory))
                    assert parent.recv() == "ready"
                    started = time.perf_counter()
                    if directory is None:
                        peer.put_block(client, SECRET, peer.block_head(stage, 1, "bench", *key, rows), rows,
                                       timeout=120)
                    else:
                        senders[directory].send(*key, rows)
                    arrived = parent.recv()
                    if rep:
                        times.append(arrived - started)
                med = float(np.median(times))
                results.append({"transport": name, "mb": rows.nbytes / 1e6, "repeats": len(times),
                                "median_s": med, "min_s": float(min(times)), "max_s": float(max(times)),
                                "mb_per_s": rows.nbytes / 1e6 / med})
                r = results[-1]
                print(f"{name:28s} {r['mb']:8.2f} MB  median {med * 1e3:9.2f} ms  (min {r['min_s'] * 1e3:8.2f}, "
                      f"max {r['max_s'] * 1e3:8.2f})  {r['mb_per_s']:8.1f} MB/s", flush=True)
    finally:
        parent.send(None)
        proc.join(timeout=30)
        client.close()
        import shutil
        for directory in scratch:
            shutil.rmtree(directory, ignore_errors=True)
    fits = {}
    for name in dict.fromkeys(r["transport"] for r in results):
        rs = [r for r in results if r["transport"] == name]
        h0, bw = fit([r["mb"] for r in rs], [r["median_s"] for r in rs])
        fits[name] = {"h0_ms": h0 * 1e3, "bw_mb_per_s": bw}
        print(f"fit {name:24s} h0 = {h0 * 1e3:7.2f} ms   bw = {bw:8.1f} MB/s")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"host": args.host, "busy": args.busy, "nogil": args.nogil, "results": results, "fits": fits,
                       "loadavg": _loadavg()}, fh, indent=1)
    print(f"load average {_loadavg()}")
    return 0


# ---------------------------------------------------------------------------- between hosts

def _loadavg() -> str:
    with open("/proc/loadavg") as fh:
        return " ".join(fh.read().split()[:3])


def serve(bind: str, port: int, timeout: float) -> int:
    """Task 0's block server on ``bind``:``port``; take blocks off its queue as they arrive, until
    the sender's signed abort (its end) or ``timeout`` s without a block. Returns blocks taken."""
    from sparkw2v import peer

    server = peer.BlockServer.start(bind, (port, port), peer.Stage(STAGE_RUN, 0, 0, 2), 0, SECRET)
    print(f"bench_handover: block server on {server.address}", file=sys.stderr, flush=True)
    taken = 0
    try:
        while True:
            with server._cond:  # the queue itself: the bench does not know the next key's shape
                if not server._blocks and server._aborted is None and server._error is None:
                    server._cond.wait(timeout)
                if server._error is not None:
                    raise server._error
                got = len(server._blocks)
                server._blocks.clear()
                done = server._aborted is not None
            taken += got
            if done or not got:
                break
    finally:
        server.shutdown()
    return taken


def send(address: str, sizes_mb: list[float], repeat: int) -> dict:
    """Task 1: put blocks of each size to the server at ``address`` as the trainer's sender does,
    ``repeat`` times after one warm-up, and fit h0 and bw; then send the abort that ends serve."""
    from pyarrow import flight

    from sparkw2v import peer

    stage = peer.Stage(STAGE_RUN, 0, 0, 2)
    client = peer.connect(address)
    rows_out, cycle = [], 0
    try:
        for mb in sizes_mb:
            n = max(1, int(round(mb * 1e6 / 400)))
            rows = np.random.default_rng(0).standard_normal((n, 100)).astype(np.float32)
            times = []
            for rep in range(repeat + 1):
                cycle += 1
                head = peer.block_head(stage, 1, "bench-sender", cycle, 0, 0, rows)
                started = time.perf_counter()
                peer.put_block(client, SECRET, head, rows, timeout=120)
                if rep:
                    times.append(time.perf_counter() - started)
            med = float(np.median(times))
            rows_out.append({"mb": rows.nbytes / 1e6, "repeats": repeat, "median_s": med, "min_s": min(times),
                             "max_s": max(times), "mb_per_s": rows.nbytes / 1e6 / med, "loadavg": _loadavg()})
            print(f"flight {address} {rows.nbytes / 1e6:8.2f} MB  median {med * 1e3:9.2f} ms  (min "
                  f"{min(times) * 1e3:8.2f}, max {max(times) * 1e3:8.2f})  {rows.nbytes / 1e6 / med:8.1f} MB/s  "
                  f"load {_loadavg()}", file=sys.stderr, flush=True)
        head = {"v": peer.PROTOCOL, **stage.fields(), "sender": 1, "address": "bench-sender", "reason": "done"}
        list(client.do_action(flight.Action("abort", peer._signed(SECRET, head)), flight.FlightCallOptions(timeout=10)))
    finally:
        client.close()
    h0, bw = fit([r["mb"] for r in rows_out], [r["median_s"] for r in rows_out])
    return {"to": address, "blocks": rows_out, "fit": {"h0_ms": h0 * 1e3, "bw_mb_per_s": bw}, "loadavg": _loadavg()}


def cpu(sizes_mb: list[float], repeat: int) -> dict:
    """CPU seconds of one Flight hand-over, both ends together: a block server (task 0, a free
    port) and a sender (task 1) in this one process on 127.0.0.1, ``time.process_time`` (every
    thread) around each ``peer.put_block``, after two warm-ups; each block is then taken off the
    server's queue, untimed. Fits c = c0 + size / bw_cpu (two sizes or more). In the ring each
    task sends one block and takes one every sub-epoch, on the core it trains on."""
    from sparkw2v import peer

    stage = peer.Stage(STAGE_RUN, 0, 0, 2)
    server = peer.BlockServer.start("127.0.0.1", (0, 0), stage, 0, SECRET)
    rows_out, cycle, client = [], 0, None
    try:
        client = peer.connect(server.address)
        for mb in sizes_mb:
            rows = np.random.default_rng(0).standard_normal((max(1, int(round(mb * 1e6 / 400))), 100)).astype(np.float32)
            cpu_s, wall_s = [], []
            for rep in range(repeat + 2):
                cycle += 1
                head = peer.block_head(stage, 1, "bench-sender", cycle, 0, 0, rows)
                c0, w0 = time.process_time(), time.perf_counter()
                peer.put_block(client, SECRET, head, rows, timeout=120)
                if rep >= 2:
                    cpu_s.append(time.process_time() - c0)
                    wall_s.append(time.perf_counter() - w0)
                server.take(cycle, 0, 0, rows.shape, 10)  # off the queue, outside the timed put
            row = {"mb": rows.nbytes / 1e6, "cpu_s": float(np.median(cpu_s)), "wall_s": float(np.median(wall_s)),
                   "loadavg": _loadavg()}
            rows_out.append(row)
            print(f"flight cpu {row['mb']:8.2f} MB  cpu {row['cpu_s'] * 1e3:8.2f} ms (both ends)  wall "
                  f"{row['wall_s'] * 1e3:8.2f} ms  load {row['loadavg']}", file=sys.stderr, flush=True)
    finally:
        if client is not None:
            client.close()
        server.shutdown()
    c0, bw = fit([r["mb"] for r in rows_out], [r["cpu_s"] for r in rows_out])
    return {"blocks": rows_out, "fit": {"c0_ms": c0 * 1e3, "bw_cpu_mb_per_s": bw}, "loadavg": _loadavg()}


def split_main(argv: list[str]) -> int:
    """``serve`` / ``send`` (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="bench_handover.py", description="W' hand-over over Flight between hosts")
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="task 0: a block server that takes every block")
    s.add_argument("--bind", required=True, help="this host's address")
    s.add_argument("--port", type=int, default=5300)
    s.add_argument("--timeout", type=float, default=120.0, help="stop after this many seconds without a block")
    c = sub.add_parser("send", help="task 1: put blocks, time each, fit h0 and bw")
    c.add_argument("--to", required=True, help="HOST:PORT of serve")
    c.add_argument("--sizes", default="0.1,0.3,1,3,10,30,100", help="block sizes in MB (10^6 bytes)")
    c.add_argument("--repeat", type=int, default=5)
    c.add_argument("--json", help="also write the figures here")
    u = sub.add_parser("cpu", help="CPU seconds of a hand-over, both ends in this process on 127.0.0.1; fit c0, bw")
    u.add_argument("--sizes", default="0.3,1,3,10", help="block sizes in MB (10^6 bytes)")
    u.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args(argv)
    from pyarrow import flight

    try:
        if args.command == "serve":
            print(json.dumps({"blocks_taken": serve(args.bind, args.port, args.timeout)}))
            return 0
        sizes = [float(x) for x in args.sizes.split(",") if x.strip()]
        if not 1 <= args.repeat <= 100 or not sizes or min(sizes) <= 0 or max(sizes) > 500:
            parser.error("--repeat must be 1-100 and --sizes positive MB up to 500")
        if args.command == "cpu":
            if len(set(sizes)) < 2:
                parser.error("cpu: --sizes needs at least two sizes to fit c0 and bw_cpu")
            out = cpu(sizes, args.repeat)
            print(f"fit flight cpu c0 = {out['fit']['c0_ms']:.3f} ms  bw_cpu = {out['fit']['bw_cpu_mb_per_s']:.1f} MB/s"
                  f"  load {out['loadavg']}", file=sys.stderr)
            print(json.dumps(out))
            return 0
        out = send(args.to, sizes, args.repeat)
        print(f"fit flight h0 = {out['fit']['h0_ms']:.3f} ms  bw = {out['fit']['bw_mb_per_s']:.1f} MB/s  "
              f"load {out['loadavg']}", file=sys.stderr)
        print(json.dumps(out))
        if args.json:
            with open(args.json, "w") as fh:
                json.dump(out, fh, indent=1)
        return 0
    except (flight.FlightError, OSError) as exc:
        if args.command == "cpu":
            print(f"bench_handover: error: {str(exc).splitlines()[0]} (a block server and a sender on 127.0.0.1)",
                  file=sys.stderr)
            return 2
        print(f"bench_handover: error: {str(exc).splitlines()[0]}; is serve running on that address, on a link of "
              "this host?", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
