"""python jobs/cost_model.py --run MODEL_DIR --cluster-run CLUSTER_MODEL_DIR
                            [--blocks 8 16 32 64 128] [--executors 8 32 128] [--latency-ms 0.1 1]
                            [--link 10gbit:H0_MS:FLIGHT_MB_S:TCP_MB_S ...] [--store OP_MS:H0_MS:BW_MB_S ...]
                            [--cycles 16 4] [--hot-words K --combine ring doubling --combine-every 1]

Predicts the wall time of one epoch of a large corpus on X executors from what is measured here:

  kernel rate r(P)     SGNS pairs/s of one core over the strata of P blocks (real corpus, measured
                       now, --words of it)
  strata n(k, j)       each stratum's share of the pairs (real corpus, --words of it, one epoch);
                       shown as the balance e(P, X): mean / max over tasks of the pairs each
                       trains per sub-epoch, summed over sub-epochs (X tasks own P / X blocks
                       each), which is what a barrier after every sub-epoch would give
  pair cost g          seconds of one core per pair to generate, shuffle and lay out the pairs
                       (--run: the per-epoch timings of a training run on the real corpus,
                       MODEL_DIR/metadata.json: the epoch's time outside the training loop,
                       less 0.3 s of fixed stage cost)
  job overhead t_job   seconds per epoch of Spark scheduling on a multi-host cluster, and the
                       ring's set-up (server start + allGather) in every task: --cluster-run, a
                       run on deploy/hosts.sh hosts: median over its epochs after the first of
                       (epoch seconds - slowest task's seconds) + median ring_setup_seconds
                       (--t-job / --ring-setup override them)
  hand-over CPU u(s)   CPU seconds of a hand-over, both ends together (jobs/bench_handover.py cpu,
                       run at the start: XXH3-64 on both ends, copies, gRPC, the kernel's TCP;
                       --handover-cpu C0_MS:MB_S to state it instead), times --cpu-factor (1:
                       jobs/ring_check.py measures loops on hosts 0.92-1.16 times the replay with
                       u as measured), charged half to the sender's training core and half
                       to the receiver's
  hand-over h(s)       seconds to hand a W' block of s bytes to the neighbour: over Flight between
                       two hosts, h = h0 + s / bw_flight + L (jobs/bench_handover.py serve/send
                       on deploy/hosts.sh hosts, one --link per link setting; L = --latency-ms, a
                       stated network round trip: the namespaces' links have ~0.025 ms and this
                       kernel has no netem); through the store (the old ring: write, the
                       neighbour polls, reads, removes), h = h0_store + max(s / bw_store,
                       2 s / bw_tcp) (jobs/bench_handover.py --store-latency-ms: an fsspec
                       filesystem adding OP_MS to each operation; the bytes cross the link twice,
                       up to the store and down from it)
  link bandwidth       bw_tcp per executor, for the pairs' shuffle and the epoch's state
                       (jobs/net_bandwidth.py between two hosts)

and the stated assumptions of the corpus (tokens, vocabulary size). The model, per epoch, with N
pairs, |W| = V x d x 4 bytes, B = P / X blocks a task, a W' block of s = |W| / P bytes:

  T(X) = t_job + N g / X + b N / (X bw_tcp)              pairs: generate, shuffle, lay out
       + L(X)                                             the training loop's critical path
       + 4 |W| / (X bw_tcp)                               read and write W and W' per epoch
  L(X) = the slowest task's training loop, replayed in the order of worker.train_epoch
       (critical_path): R cycles of P sub-epochs; each stratum (k, j) takes N n(k, j) / (R r(P))
       seconds, n(k, j) its measured share of the real corpus's pairs; a task waits only for the
       W' block its last stratum of a sub-epoch needs, which its neighbour sent h(s) earlier, after
       its first stratum of the sub-epoch before. There is no barrier between sub-epochs (the
       tasks exchange nothing else), so a heavy stratum delays its task, not every task, and with
       B blocks a task a hand-over has 2 (B - 1) strata to hide behind; its CPU u(s) takes half
       from the sender's training core and half from the receiver's. Shown as the kernel
       N / (X r(P)) (every task equally loaded) plus "waits" L(X) minus that and the head's
       all-reduces (imbalance and hand-overs together). The CPU charge assumes the executors'
       cores all train (one task a core): with a core to spare for the hand-overs, --handover-cpu
       0:1e9. Store rows replay the same loop, but blockstore.FileExchange writes a block on the
       task's own thread, which the replay does not charge, and the Flight CPU stands in for the
       store's: they are a comparison, optimistic where B >= 2. (Until 2026-12-07 this was N / (X r e(P, X)) + P R max(0, h(s) -
       (B - 1) t_s): a barrier after every sub-epoch, half the slack, and no CPU for the
       hand-overs.) With a head (--hot-words K) every task waits for the slowest
       at each all-reduce of the head, c(X):
  c(X) = 2 (X - 1) h(K (2 d + 4) 8)  (the built ring: worker.ring_all_reduce; every task waits)
       or 2 ceil(log2 X) h(...)      (--combine doubling, recursive doubling: not built),
       paid ceil(P R / n) times an epoch instead of P R with --combine-every n
  t_s = N / (P^2 R r(P)): one stratum of one cycle; b = 4 bytes a pair when a block has at most
  32767 rows (int16 local rows), else 8. T(1) has neither waits nor t_job.
  Efficiency E(X) = T(1) / (X T(X)). For each (ring, link, latency, X) the table shows the P
  (P >= X, P <= --max-blocks: quality shown flat up to 128) of the best efficiency.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import math
import time
from collections import Counter
from pathlib import Path

import numpy as np

from sparkw2v import kernel, vocab
from sparkw2v.epoch import EpochPlan, Settings
from sparkw2v.head import Head, train_stratum
from sparkw2v.layout import context_block, owned_blocks
from sparkw2v.schedule import Schedule, resolve_cycles
from sparkw2v.worker import merge_pairs

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "gutenberg_text8style.gz"


def first_tokens(words: int) -> list[str]:
    """The first ``words`` tokens of the real corpus (fewer if it is shorter)."""
    with gzip.open(CORPUS, "rt", encoding="ascii") as fh:
        return fh.read(words * 6).split()[:words]


def load_corpus(words: int):
    tokens = first_tokens(words)
    counts = Counter(tokens)
    kept = sorted((w for w, c in counts.items() if c >= 5), key=lambda w: (-counts[w], w))
    index = {w: i for i, w in enumerate(kept)}
    ids = np.array([index[t] for t in tokens if t in index], np.int32)
    offsets = np.arange(0, len(ids) + 1, 1000, dtype=np.int64)
    offsets[-1] = len(ids)
    return ids, offsets, np.array([counts[w] for w in kept], np.int64), len(tokens)


def measure_blocks(P: int, ids, offsets, counts, keep, executors: list[int], vector_size: int,
                   hot_words: int = 0) -> dict:
    """Kernel rate over one cycle of P x P strata, the strata's pairs ("strata", (P, P) float64) and
    the balance for each executor count; with
    ``hot_words`` K > 0 the K most frequent words replicated (``sparkw2v.head``: their pairs dealt
    evenly over the strata, their changes collected after every stratum and combined after every
    sub-epoch in this one process; the combine across executors is not in the rate)."""
    schedule = Schedule(1, 1, P, 0.025, 0.0001, 1)
    plan = EpochPlan(Settings(schedule, vector_size, 5, 5, hot_words=hot_words), 0, counts, keep)
    layout = plan.layout
    pieces = list(plan.shard_pairs(0, ids, offsets))
    strata = np.stack([n for *_, n in pieces])
    tables = plan.noise_tables()
    pairs = {k: plan.arrange(k, [(c, o, n)], tables) for k, c, o, n in pieces}
    W, Wp = plan.initial_blocks(range(P))
    upd = {k: np.zeros(layout.size(k), np.int32) for k in range(P)}
    head_rows = kernel.init_rows(np.arange(hot_words), vector_size, 1)
    head = Head.start(head_rows, np.zeros_like(head_rows), P) if hot_words else None
    start = time.perf_counter()
    for s in range(P):
        for k in range(P):
            j = context_block(k, s, P)
            a, b = pairs[k].bounds[0, j]
            noise = kernel.Noise(tables.prob[j], tables.alias[j], pairs[k].rates[j], float(pairs[k].max_rates[j]))
            step = kernel.Step(int(a), int(b), 0.025, 0.0001, np.uint64(schedule.stratum_seed(0, 0, s, k)), 10,
                               merge_pairs(P, 5))
            train_stratum(head, W[k], Wp[j], pairs[k].centers, pairs[k].contexts, noise, step, upd[k], upd[j])
        if head is not None:
            head.combine()
    rate = int(strata.sum()) / (time.perf_counter() - start)
    st = strata.astype(np.float64)
    balance = {X: stratum_balance(st, X) for X in executors}
    return {"num_blocks": P, "hot_words": hot_words, "kernel_pairs_per_sec": rate, "balance": balance, "strata": st,
            "stratum_max_over_mean": float(st.max() / st.mean()), "pairs": int(strata.sum())}


def stratum_balance(strata: np.ndarray, executors: int) -> float:
    """The balance e(P, X) of a (P, P) float64 matrix of pairs per stratum (rows W blocks,
    columns W' blocks; sub-epoch s pairs W block k with W' block (k + s) mod P) on X =
    ``executors`` tasks (at most P, each owning a contiguous range of W blocks,
    ``layout.owned_blocks``): over the P sub-epochs, the sum of the mean pairs a task trains in
    the sub-epoch over the sum of the largest. A ratio in (0, 1] (nan for a matrix of zeros)."""
    P = strata.shape[0]
    T = min(executors, P)
    owner = np.empty(P, np.int64)
    for t in range(T):
        owner[list(owned_blocks(t, T, P))] = t
    k = np.arange(P)
    worst = mean = 0.0
    for s in range(P):
        per_task = np.bincount(owner, weights=strata[k, (k + s) % P], minlength=T)
        worst += per_task.max()
        mean += per_task.mean()
    return float(mean / worst)


def _epochs(meta: dict) -> list[dict]:
    """The epochs of a run's metadata after the first (numba compiles and caches warm up in the
    first), or the only one."""
    epochs = meta["corpus"]["epochs"]
    return epochs[1:] if len(epochs) > 1 else epochs


def _metadata(path: str) -> dict:
    p = Path(path)
    return json.loads((p / "metadata.json" if p.is_dir() else p).read_text())


def spark_costs(run_dir: str, cores: int) -> dict:
    """Per-pair costs from a training run's metadata (a local run on the real corpus): g in CPU
    seconds a pair (the epoch's time outside the training loop, less 0.3 s of fixed stage cost,
    times the cores), pairs a token and R."""
    meta = _metadata(run_dir)
    epochs = meta["corpus"]["epochs"]
    pairs = sum(e["pairs"] for e in epochs)
    # the epoch's time outside the barrier tasks' training loop: pair generation and shuffle,
    # the shuffle read and layout in the tasks, loading and writing blocks, scheduling
    outside = sum(e["seconds"] - e["task_timings_max"].get("train_seconds", 0.0)
                  - e["task_timings_max"].get("ring_setup_seconds", 0.0) for e in epochs)
    stage_fixed = 0.3 * len(epochs)  # two stages per epoch; measured ~0.1 s each for empty stages
    return {"pair_core_seconds": (outside - stage_fixed) * cores / pairs,
            "pairs_per_token": pairs / len(epochs) / meta["corpus"]["corpus_tokens"], "run": run_dir,
            "cycles_per_epoch": meta["corpus"].get("cycles_per_epoch") or meta["config"]["cycles_per_epoch"],
            "default_cycles": not meta["config"].get("cycles_per_epoch")}


def cycles_at(R: int, P: int, costs: dict) -> int:
    """R of a row with P blocks: ``R`` if stated (>= 1); for 0 the run's R (``spark_costs``), or
    the trainer's default at P (``schedule.resolve_cycles``: 16 up to 64 blocks, 5 above) where
    the run took the default."""
    if R:
        return R
    return resolve_cycles(0, P) if costs.get("default_cycles") else int(costs["cycles_per_epoch"])


def cluster_costs(run_dir: str) -> dict:
    """The fixed costs of an epoch on a multi-host cluster (a run on deploy/hosts.sh hosts):
    t_job = median over the epochs after the first of (epoch seconds - the slowest task's
    seconds): scheduling, the pair-generation stage of that (small) run, the driver's commit;
    ring_setup = median of the slowest task's ring set-up (block server start + allGather)."""
    meta = _metadata(run_dir)
    epochs = _epochs(meta)
    t_job = float(np.median([e["seconds"] - e["task_timings_max"]["task_seconds"] for e in epochs]))
    setup = float(np.median([e["task_timings_max"].get("ring_setup_seconds", 0.0) for e in epochs]))
    return {"t_job": t_job, "ring_setup": setup, "run": run_dir, "num_tasks": meta["corpus"]["num_tasks"],
            "epoch_seconds": [e["seconds"] for e in epochs]}


def _floats(text: str, n: int, what: str) -> list[float]:
    parts = text.split(":")
    try:
        if len(parts) != n:
            raise ValueError
        return [float(x) for x in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{what} {text!r}: expected {n} numbers separated by ':'") from None


def parse_link(text: str) -> dict:
    """'NAME:H0_MS:FLIGHT_MB_S:TCP_MB_S' -> a link setting (seconds, bytes/s)."""
    name, _, rest = text.partition(":")
    h0, flight, tcp = _floats(rest, 3, "--link")
    return {"name": name, "h0": h0 / 1e3, "bw_handover": flight * 1e6, "bw_tcp": tcp * 1e6}


def parse_store(text: str) -> dict:
    """'OP_MS:H0_MS:BW_MB_S' -> a store setting: per-operation latency, fitted hand-over."""
    op, h0, bw = _floats(text, 3, "--store")
    return {"name": f"store {op:g} ms/op", "op_ms": op, "h0": h0 / 1e3, "bw_store": bw * 1e6}


def handover_seconds(block_bytes: float, ring: dict, link: dict, latency: float) -> float:
    """Seconds to hand one W' block to the neighbour: over Flight (``ring`` is None or a peer
    setting) h0 + s / bw_flight + latency; through a store, h0_store + max(s / bw_store,
    2 s / bw_tcp) (its per-operation latency is in its h0)."""
    if ring is None:
        return link["h0"] + block_bytes / link["bw_handover"] + latency
    return ring["h0"] + max(block_bytes / ring["bw_store"], 2 * block_bytes / link["bw_tcp"])


def handover_cpu_seconds(block_bytes: float, cpu: dict) -> float:
    """CPU seconds of one hand-over of ``block_bytes``, both ends together: u(s) = c0 + s / bw_cpu
    (``jobs/bench_handover.py cpu``; ``cpu`` from :func:`parse_cpu`)."""
    return cpu["c0"] + block_bytes / cpu["bw_cpu"]


def parse_cpu(text: str) -> dict | str:
    """--handover-cpu C0_MS:MB_S, or "measure" (returned as is: :func:`measure_handover_cpu`)."""
    if text == "measure":
        return text
    c0, bw = _floats(text, 2, "--handover-cpu C0_MS:MB_S or measure")
    return {"c0": c0 / 1e3, "bw_cpu": bw * 1e6}


def measure_handover_cpu(sizes_mb: tuple[float, ...] = (0.3, 1.0, 3.0, 10.0), repeat: int = 20) -> dict:
    """The CPU of a Flight hand-over on this machine, now, as :func:`parse_cpu` gives it
    ({"c0": seconds, "bw_cpu": bytes/s}): ``jobs/bench_handover.py cpu`` (both ends in this
    process on 127.0.0.1, medians of ``repeat`` puts of each size, fitted), so that it is
    measured beside the kernel rates it is weighed against. A negative fitted c0 is taken as 0,
    with bw_cpu fitted again through the origin."""
    spec = importlib.util.spec_from_file_location("bench_handover", Path(__file__).with_name("bench_handover.py"))
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = bench.cpu(list(sizes_mb), repeat)
    if out["fit"]["c0_ms"] >= 0:
        return {"c0": out["fit"]["c0_ms"] / 1e3, "bw_cpu": out["fit"]["bw_cpu_mb_per_s"] * 1e6}
    # a negative intercept (noise at the small sizes): the line through the origin instead
    mb = np.array([b["mb"] for b in out["blocks"]])
    seconds = np.array([b["cpu_s"] for b in out["blocks"]])
    return {"c0": 0.0, "bw_cpu": float(mb @ mb / (mb @ seconds)) * 1e6}


def head_packet_bytes(hot_words: int, vector_size: int) -> int:
    """Bytes of one task's head packet (``head.Head.packet``): K x (2 d + 4) int64."""
    return hot_words * (2 * vector_size + 4) * 8


def combine_seconds(X: int, packet: float, ring: dict | None, link: dict, latency: float, algorithm: str) -> float:
    """Seconds of one all-reduce of the head's packets among X tasks, blocking every task: the
    built ring (``worker.ring_all_reduce``: 2 (X - 1) hand-overs one after another) or a
    recursive doubling (log2 X exchange rounds of a whole packet, counted as 2 ceil(log2 X)
    hand-overs: a task's send and receive of a round are taken not to overlap; not built), each
    hand-over h(packet) as a W' block's (``handover_seconds``)."""
    if X <= 1 or packet == 0:
        return 0.0
    hops = 2 * (X - 1) if algorithm == "ring" else 2 * math.ceil(math.log2(X))
    return hops * handover_seconds(packet, ring, link, latency)


def critical_path(shares: np.ndarray, X: int, R: int, stratum_seconds: float, handover: float,
                  combine: float = 0.0, combine_every: int = 1, handover_cpu: float = 0.0) -> float:
    """Seconds of the slowest of X tasks' training loops, replayed in ``worker.train_epoch``'s
    order: R cycles of P sub-epochs; task t owns the W blocks ``layout.owned_blocks(t, X, P)``
    (P / X of them, X dividing P) and in sub-epoch s trains (k, (k + s) mod P) for each in turn;
    after its first stratum it sends that W' block to task t - 1 (the epoch's last step aside),
    which has it ``handover`` seconds later; before its last stratum it waits for the block task
    t + 1 sent in the sub-epoch before. A hand-over also takes ``handover_cpu`` seconds of CPU,
    half on each end, on the core the task trains on: the sender's half delays its next stratum,
    the receiver's its last (or overlaps its wait for the block). Nothing else synchronises the
    tasks, except a head's
    all-reduce (``combine`` seconds, every task waiting for the slowest, after every
    ``combine_every``-th sub-epoch and the last).

    Args:
        shares: (P, P) float, each stratum's share of the pairs (rows: W block, columns: W' block);
            every cycle trains the same shares.
        X: tasks, 1 <= X <= P, dividing P.
        R: cycles.
        stratum_seconds: seconds of a stratum of share 1 / P^2 in one cycle (N / (P^2 R r)).
        handover, combine, handover_cpu: seconds.

    Raises:
        ValueError: X does not divide P.
    """
    shares = np.asarray(shares, np.float64)
    P = shares.shape[0]
    if X < 1 or P % X:
        raise ValueError(f"{X} tasks do not divide {P} blocks evenly")
    B = P // X
    seconds = shares * (P * P * stratum_seconds)
    first = np.arange(X) * B
    clock = np.zeros(X)
    sent = None  # when each task sent its first block of the previous sub-epoch
    step = 0
    for _ in range(R):
        for s in range(P):
            for idx in range(B):
                k = first + idx
                if idx == B - 1 and sent is not None and X > 1:
                    clock = np.maximum(clock + handover_cpu / 2, np.roll(sent, -1) + handover)
                clock = clock + seconds[k, (k + s) % P]
                if idx == 0:
                    now = clock.copy()
                    if X > 1 and step + 1 < R * P:
                        clock = clock + handover_cpu / 2
            sent = now
            step += 1
            if combine and (step % combine_every == 0 or step == R * P):
                clock = np.full(X, clock.max() + combine)
    return float(clock.max())


def predict(X: int, P: int, R: int, N: float, model_bytes: float, bw: float, costs: dict, blocks: dict,
            handover: float, t_job: float, combine: float = 0.0, combine_every: int = 1,
            handover_cpu: float = 0.0) -> dict:
    """One epoch's seconds on X executors with P blocks (see the module docstring); ``bw``: the
    link's bytes/s (pairs' shuffle, the state), ``handover``: h(s) in seconds, ``t_job``: the
    fixed cost (seconds; 0 for the serial baseline), ``combine``: seconds of the head's
    all-reduce after every ``combine_every``-th of the P R sub-epochs (``combine_seconds``),
    ``handover_cpu``: CPU seconds of a hand-over, both ends (``handover_cpu_seconds``).
    ``blocks[P]["strata"]`` gives the strata's shares of the pairs (uniform without it)."""
    m = blocks[P]
    r, e = m["kernel_pairs_per_sec"], m["balance"][X] if X in m["balance"] else 1.0
    shares = np.asarray(m["strata"], np.float64) if "strata" in m else np.ones((P, P))
    shares = shares / shares.sum()
    t_stratum = N / (P * P * R * r)
    pair_bytes = 4 if model_bytes / (400 * P) <= 32767 else 8  # rows per block at d=100 float32
    pairs_t = N * costs["pair_core_seconds"] / X + pair_bytes * N / (X * bw)
    kernel_t = N / (X * r)
    loop_t = critical_path(shares, X, R, t_stratum, handover, combine, combine_every, handover_cpu)
    combines = math.ceil(P * R / combine_every) if combine else 0
    combine_t = combines * combine
    waits_t = loop_t - kernel_t - combine_t
    state_t = 4 * model_bytes / (X * bw)
    total = t_job + pairs_t + loop_t + state_t
    return {"executors": X, "num_blocks": P, "cycles": R, "seconds": total, "pairs": pairs_t, "kernel": kernel_t,
            "waits": waits_t, "state": state_t, "combine": combine_t, "combine_ms": combine * 1e3, "balance": e,
            "kernel_rate": r, "t_job": t_job, "handover_ms": handover * 1e3, "handover_cpu_ms": handover_cpu * 1e3,
            "stratum_ms": t_stratum * 1e3}


# Measured on this machine, 2026-12-06 (see the README, "Performance", for the commands):
#   Flight between two deploy/hosts.sh hosts, jobs/bench_handover.py serve/send, 0.1-100 MB:
#     10gbit: h0 1.5-2.3 ms, bw 722-745 MB/s (CPU-bound: sha256 on both ends, a copy, gRPC; protocol
#     2's CRC-32, 2026-12-07, alternating with protocol 1: no slower, see the README);
#     protocol 3 (XXH3-64), 2026-12-07, five rounds alternating with protocol 2: h0 0.56 ms,
#     bw 1164 MB/s (medians of the rounds' fits; protocol 2 0.82 ms, 1045 MB/s in the same run);
#     1gbit: h0 0.9-1.1 ms, bw 119.3-119.4 MB/s;
#   TCP between the same hosts (jobs/net_bandwidth.py): 9.6 and 0.955 Gbit/s;
#   the store ring, jobs/bench_handover.py --store-dirs /var/tmp --store-latency-ms 20,100:
#     local disk h0 0.35 ms (the 0.1 MB median), bw 1459 MB/s; 20 ms/op: h0 106 ms, bw 699 MB/s;
#     100 ms/op: h0 527 ms, bw 506 MB/s.
DEFAULT_LINKS = ["10gbit:0.56:1164:1200", "1gbit:1.1:119.3:119.4"]
DEFAULT_STORES = ["0:0.35:1459", "20:106:699", "100:527:506"]
#   The hand-over's CPU is measured by default at the start of the run (--handover-cpu measure),
#   as the kernel's rates are: figures from another machine or another protocol do not weigh
#   against them. 2026-12-07 (a machine 2x slower), protocol 1 (sha256): 2.14 ms + s / 414 MB/s;
#   2026-12-07 (eighth session), protocol 2 (CRC-32), and 2026-12-07 (ninth), protocol 3
#   (XXH3-64): see the README.
DEFAULT_CPU = "measure"
#   In a ring on deploy/hosts.sh hosts (jobs/ring_check.py, 2026-12-07, three runs of four settings
#   with 1.4-5.5 MB blocks) the measured loop is 0.92-1.16 times critical_path with u(s) as
#   bench_handover.py cpu measures it (once the loop's leftover without a network is added); the
#   factor on u(s) that fits each is 0-3.1, median 1.21 (0-1.84, median 1.19, with 128 hand-overs
#   an epoch).
#   --cpu-factor shows what more would cost.
CPU_FACTOR = 1.0


def build_parser() -> argparse.ArgumentParser:
    """The command line of :func:`main`."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, help="a model directory trained on this machine, on the real "
                                                     "corpus (metadata.json): g, pairs a token, R")
    parser.add_argument("--cluster-run", help="a model directory (or its metadata.json) trained on deploy/hosts.sh "
                                              "hosts: t_job and the ring's set-up")
    parser.add_argument("--t-job", type=float, help="seconds of fixed cost an epoch (default: --cluster-run's)")
    parser.add_argument("--ring-setup", type=float, help="seconds of ring set-up an epoch (default: --cluster-run's)")
    parser.add_argument("--cores", type=int, default=2, help="cores of the machine that trained --run")
    parser.add_argument("--blocks", type=int, nargs="+", default=[8, 16, 32, 64, 128])
    parser.add_argument("--max-blocks", type=int, default=128, help="largest P shown (quality shown flat up to 128)")
    parser.add_argument("--executors", type=int, nargs="+", default=[8, 32, 128])
    parser.add_argument("--words", type=int, default=5_000_000, help="real-corpus words for r(P) and the strata")
    parser.add_argument("--tokens", type=float, default=1e9, help="corpus tokens to predict for")
    parser.add_argument("--vocab", type=float, default=1e6, help="vocabulary size to predict for")
    parser.add_argument("--vector-size", type=int, default=100)
    parser.add_argument("--latency-ms", type=float, nargs="+", default=[0.1, 1.0],
                        help="network round trip added to each Flight hand-over (stated, not measured)")
    parser.add_argument("--link", type=parse_link, action="append",
                        help="NAME:H0_MS:FLIGHT_MB_S:TCP_MB_S, a link setting (measured; default: "
                             + ", ".join(DEFAULT_LINKS) + ")")
    parser.add_argument("--store", type=parse_store, action="append",
                        help="OP_MS:H0_MS:BW_MB_S, a store for the comparison rows (measured; default: "
                             + ", ".join(DEFAULT_STORES) + ")")
    parser.add_argument("--handover-cpu", type=parse_cpu, default=DEFAULT_CPU,
                        help="C0_MS:MB_S, CPU seconds of a hand-over on its two ends, c0 + s / bw_cpu, charged to the "
                             "cores the tasks train on, or 'measure' (the default): jobs/bench_handover.py cpu, run "
                             "here before the kernel rates are measured")
    parser.add_argument("--cpu-factor", type=float, default=CPU_FACTOR,
                        help="charge this times u(s) (measured or stated by --handover-cpu) to the training cores: "
                             "what a hand-over may cost in a ring beyond bench_handover.py cpu alone "
                             "(jobs/ring_check.py fits 0-1.84 on hosts, median 1.19, with 128 hand-overs an epoch; "
                             "default %(default)s)")
    parser.add_argument("--cap-rate", action="store_true",
                        help="take r(P) as at most r(1): no credit for a kernel faster at P > 1 (smaller blocks "
                             "fit the cache better on some machines), so efficiency stays at most 100%%")
    parser.add_argument("--every-p", action="store_true", help="a row for every P, not only the best")
    parser.add_argument("--cycles", type=int, nargs="+", default=[0],
                        help="R, one or more (default: the run's; where the run took the default R, the trainer's "
                             "default at each P: 16 up to 64 blocks, 5 above)")
    parser.add_argument("--hot-words", type=int, default=0,
                        help="K words replicated on every task (sparkw2v.head) in r(P) and the strata for P > 1, "
                             "and their all-reduce after every sub-epoch (--combine)")
    parser.add_argument("--combine", choices=("ring", "doubling"), nargs="+", default=["ring"],
                        help="the head's all-reduce: the built ring (2 (X - 1) hand-overs) and/or recursive "
                             "doubling (2 log2 X; not built)")
    parser.add_argument("--combine-every", type=int, default=1,
                        help="the head combined after every n-th sub-epoch (P R / n all-reduces an epoch)")
    parser.add_argument("--kernel-from", metavar="JSON",
                        help="take the kernel rates and strata from an earlier run's --json instead of measuring "
                             "them (the same kernel figures under other hand-overs, links or R)")
    parser.add_argument("--json", default=None,
                        help="also write the figures here (inputs, strata for --kernel-from, every row); by default "
                             "nothing is written")
    return parser


def main() -> None:
    parser = build_parser()
    args = parser.parse_args()
    if args.combine_every < 1:
        parser.error("--combine-every must be 1 or more")
    if args.cpu_factor < 0:
        parser.error("--cpu-factor must be 0 or more")
    links = args.link or [parse_link(x) for x in DEFAULT_LINKS]
    cpu = measure_handover_cpu() if args.handover_cpu == "measure" else args.handover_cpu
    stores = args.store or [parse_store(x) for x in DEFAULT_STORES]

    costs = spark_costs(args.run, args.cores)
    cluster = cluster_costs(args.cluster_run) if args.cluster_run else {"t_job": 0.3, "ring_setup": 0.0}
    t_job = args.t_job if args.t_job is not None else cluster["t_job"]
    setup = args.ring_setup if args.ring_setup is not None else cluster["ring_setup"]
    fixed = t_job + setup
    source = ", ".join(f"{what} {how}" for what, how in
                       (("t_job", "stated" if args.t_job is not None else cluster.get("run", "stated")),
                        ("ring set-up", "stated" if args.ring_setup is not None else cluster.get("run", "stated"))))
    cycles = list(args.cycles)  # 0: as the run (cycles_at)
    if args.kernel_from:
        blocks = kernel_inputs(args.kernel_from, sorted(set(args.blocks) | {1}), args.hot_words)
    else:
        ids, offsets, counts, _ = load_corpus(args.words)
        keep = vocab.keep_probabilities(counts, 1e-4)
        # compile the kernel (and load numba's cache) outside the timed runs, with and without a head
        for K in sorted({0, args.hot_words}):
            measure_blocks(2, ids[:20000], offsets[:21], counts, keep, [2], args.vector_size, K)
        blocks = {P: measure_blocks(P, ids, offsets, counts, keep, args.executors, args.vector_size,
                                    args.hot_words if P > 1 else 0)
                  for P in sorted(set(args.blocks) | {1})}
    if args.cap_rate:
        for P, m in blocks.items():
            m["measured_pairs_per_sec"] = m["kernel_pairs_per_sec"]
            m["kernel_pairs_per_sec"] = min(m["kernel_pairs_per_sec"], blocks[1]["kernel_pairs_per_sec"])
    N = args.tokens * costs["pairs_per_token"]
    model_bytes = args.vocab * args.vector_size * 4
    serial = predict(1, 1, cycles_at(cycles[0], 1, costs), N, model_bytes, links[0]["bw_tcp"], costs, blocks, 0.0, 0.0)
    scenarios = [("peer", None, link, lat / 1e3) for link in links for lat in args.latency_ms]
    scenarios += [(store["name"], store, link, 0.0) for link in links for store in stores]
    rows = []
    algorithms = args.combine if args.hot_words else ["-"]
    for ring_name, ring, link, latency in scenarios:
        for R in cycles:
            for algorithm in algorithms:
                for X in args.executors:
                    best = None
                    for P in args.blocks:
                        if P < X or P % X or P > args.max_blocks:  # tasks own P / X blocks each
                            continue
                        h = handover_seconds(model_bytes / P, ring, link, latency)
                        c = combine_seconds(X, head_packet_bytes(args.hot_words if P > 1 else 0, args.vector_size),
                                            ring, link, latency, algorithm)
                        p = predict(X, P, cycles_at(R, P, costs), N, model_bytes, link["bw_tcp"], costs, blocks, h,
                                    fixed, c,
                                    args.combine_every, args.cpu_factor * handover_cpu_seconds(model_bytes / P, cpu))
                        p["efficiency"] = serial["seconds"] / (X * p["seconds"])
                        p.update(transport=ring_name, link=link["name"], latency_ms=latency * 1e3,
                                 allreduce=algorithm)
                        if args.every_p:
                            rows.append(p)
                        elif best is None or p["efficiency"] > best["efficiency"]:
                            best = p
                    if best is not None:
                        rows.append(best)
    rates = ", ".join("P=%d %.2fM" % (P, m.get("measured_pairs_per_sec", m["kernel_pairs_per_sec"]) / 1e6)
                      for P, m in blocks.items()) + (" (taken as at most P=1's: --cap-rate)" if args.cap_rate else "")
    print(f"{'from ' + args.kernel_from if args.kernel_from else 'measured'}: kernel {rates} pairs/s/core; pair cost {costs['pair_core_seconds'] * 1e9:.0f} ns/pair/core "
          f"({costs['run']}); {costs['pairs_per_token']:.2f} pairs/token; t_job {t_job:.2f} s + ring set-up "
          f"{setup:.2f} s an epoch ({source})")
    for link in links:
        print(f"measured link {link['name']}: Flight h0 {link['h0'] * 1e3:.2f} ms, bw {link['bw_handover'] / 1e6:.0f} "
              f"MB/s; TCP {link['bw_tcp'] / 1e6:.0f} MB/s")
    print(f"measured hand-over CPU (both ends, charged to the training cores, every row): c0 {cpu['c0'] * 1e3:.2f} ms, "
          f"{cpu['bw_cpu'] / 1e6:.0f} MB/s, times {args.cpu_factor:g} (--cpu-factor)")
    for store in stores:
        print(f"measured {store['name']}: hand-over h0 {store['h0'] * 1e3:.1f} ms, bw {store['bw_store'] / 1e6:.0f} MB/s")
    print(f"assumed: {args.tokens:.0e} tokens, V={args.vocab:.0e}, d={args.vector_size}, |W|={model_bytes / 1e9:.2f} "
          f"GB; R={', '.join(str(R) if R else ('by P, as the trainer' if costs.get('default_cycles') else str(costs['cycles_per_epoch'])) for R in cycles)}; network latency {', '.join(f'{x:g}' for x in args.latency_ms)} ms a hand-over (Flight rows)")
    if args.hot_words:
        print(f"head: K={args.hot_words}, a packet of {head_packet_bytes(args.hot_words, args.vector_size) / 1e3:.0f} "
              f"KB a task, all-reduced after {'every' if args.combine_every == 1 else f'every {args.combine_every}-th'} "
              "sub-epoch of the P R, every task waiting")
    print(f"serial (1 core, P=1): {serial['seconds']:.0f} s per epoch")
    print("| ring | link | latency ms | R | all-reduce | executors | P | hand-over ms | stratum ms | epoch s | fixed s | "
          "pairs s | kernel s | waits s | combine ms | combine s | balance | efficiency |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for p in rows:
        lat = f"{p['latency_ms']:g}" if p["transport"] == "peer" else "-"
        print(f"| {p['transport']} | {p['link']} | {lat} | {p['cycles']} | {p['allreduce']} | {p['executors']} | "
              f"{p['num_blocks']} | "
              f"{p['handover_ms']:.1f} | {p['stratum_ms']:.1f} | {p['seconds']:.1f} | {p['t_job']:.1f} | "
              f"{p['pairs']:.1f} | {p['kernel']:.1f} | {p['waits']:.1f} | {p['combine_ms']:.1f} | {p['combine']:.1f} | "
              f"{p['balance']:.3f} | {p['efficiency']:.0%} |")
    if args.json is None:
        return
    with open(args.json, "w") as fh:
        json.dump({"costs": costs, "cluster": cluster, "t_job": t_job, "ring_setup": setup,
                   "blocks": saved_blocks(blocks),
                   "links": links, "stores": stores, "handover_cpu": cpu, "assumptions": vars(args),
                   "serial": serial, "predictions": rows}, fh, default=str)


def saved_blocks(blocks: dict) -> dict:
    """``measure_blocks``' results for the --json: the strata ((P, P) pair counts) as lists of ints."""
    return {P: {k: (np.asarray(v).astype(np.int64).tolist() if k == "strata" else v) for k, v in m.items()}
            for P, m in blocks.items()}


def kernel_inputs(path: str, blocks: list[int], hot_words: int) -> dict:
    """The kernel rates and strata (``measure_blocks``' results) of an earlier run's --json, for
    the P in ``blocks``: to weigh other hand-overs, links or R against the very same kernel
    figures instead of new ones, which move by several percent from run to run on a shared
    machine. Rates as measured (the cap is applied again if asked).

    Raises:
        SystemExit: the file lacks one of the P, its strata (written since 2026-12-07), or was
            measured with another --hot-words; or its strata or rate are malformed.
    """
    with open(path) as fh:
        saved = json.load(fh)["blocks"]
    out = {}
    for P in blocks:
        m = saved.get(str(P))
        if m is None or "strata" not in m:
            raise SystemExit(f"--kernel-from {path}: no kernel figures and strata for P = {P} (that run's --blocks "
                             "must include it; runs before 2026-12-07 did not save strata)")
        if P > 1 and m["hot_words"] != hot_words:
            raise SystemExit(f"--kernel-from {path}: P = {P} was measured with --hot-words {m['hot_words']}, not "
                             f"{hot_words}")
        rate = m.get("measured_pairs_per_sec", m["kernel_pairs_per_sec"])
        strata = np.asarray(m["strata"], np.float64)
        if (strata.shape != (P, P) or not np.isfinite(strata).all() or (strata < 0).any() or strata.sum() <= 0
                or not (isinstance(rate, (int, float)) and math.isfinite(rate) and rate > 0)):
            raise SystemExit(f"--kernel-from {path}: P = {P} has strata of shape {strata.shape} (want ({P}, {P}) "
                             f"pair counts, finite, >= 0) or a kernel rate {rate!r} that is not a positive number")
        out[P] = dict(m, kernel_pairs_per_sec=rate, strata=strata,
                      balance={int(X): e for X, e in m["balance"].items()})
        out[P].pop("measured_pairs_per_sec", None)
    return out


if __name__ == "__main__":
    main()
