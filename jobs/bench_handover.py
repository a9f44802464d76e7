"""Hand-over time of one W' block between two processes: Arrow Flight (``sparkw2v.peer``)
against the block store (a file written by one process, read and removed by the other), for
block sizes from 100 KB to 100 MB; fits a fixed cost h0 and a bandwidth bw to each.

    python jobs/bench_handover.py [--host 127.0.0.1] [--sizes 0.1,0.3,1,3,10,30,100]
                                  [--store-dirs /tmp,/dev/shm] [--busy MS [--nogil]] [--json FILE]

Each hand-over is timed from the moment the sender starts (put or write) to the moment the
receiving process has the block in memory, with the receiver already waiting, as in the ring
(both clocks are CLOCK_MONOTONIC). Flight: one put (sha256 computed batch by batch on both
ends), the server's checks (MAC, stage, size, sha256) and the queue; store:
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

    server = peer.BlockServer.start(host, (0, 0), peer.Stage("bench", 0, 0, 2), 0, SECRET)
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
            directory = msg[3]
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
    parser.add_argument("--json", help="write the figures here")
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
    senders = {d: BlockStore(d).exchange("bench", 0, 0, 1, 2, timeout=120) for d in scratch}
    results = []
    cycle = 0
    try:
        for mb in sizes:
            d = 100
            n = max(1, int(round(mb * 1e6 / (d * 4))))
            rows = np.random.default_rng(0).standard_normal((n, d)).astype(np.float32)
            repeats = max(5, min(50, int(200 / mb)))
            transports = [("flight", None)] + [("store " + d_, d_) for d_ in scratch]
            for name, directory in transports:
                times = []
                for rep in range(repeats + 1):  # the first is a warm-up
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
                results.append({"transport": name, "mb": rows.nbytes / 1e6, "repeats": repeats,
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
            json.dump({"host": args.host, "busy": args.busy, "nogil": args.nogil, "results": results, "fits": fits},
                      fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
