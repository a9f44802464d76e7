"""python jobs/cost_model.py --run MODEL_DIR [--blocks 8 32 64 128] [--executors 8 32 128]

Predicts the wall time of one epoch of a large corpus on X executors from what is measured here:

  kernel rate r(P)     SGNS pairs/s of one core over the strata of P blocks (real corpus)
  balance e(P, X)      mean / max over tasks of the pairs each trains per sub-epoch, summed
                       over sub-epochs (real corpus strata; X tasks own P / X blocks each)
  pair cost g          seconds of one core per pair to generate, shuffle and lay out the pairs
                       (from the per-epoch timings of a training run: MODEL_DIR/metadata.json)
  job overhead t_job   seconds per epoch of Spark scheduling (same run)
  ring latency h0      seconds to hand a small block to a neighbour task through files (here)

and the stated assumptions of the cluster (network / shared-filesystem bandwidth per executor,
vocabulary size, pairs per token). The model, per epoch, with N pairs, |W| = V x d x 4 bytes:

  T(X) = t_job + N g / X + b N / (X bw)                  pairs: generate, shuffle, lay out
       + N / (X r(P) e(P, X))                             the kernel's critical path
       + P R max(0, h0 + 2 |W| / (P bw) - (B - 1) t_s)    W' handed round the ring, B = P / X
       + 4 |W| / (X bw)                                   read and write W and W' per epoch
  t_s = N / (P^2 R r(P)): one stratum of one cycle; b = 4 bytes a pair when a block has at most
  32767 rows (int16 local rows), else 8. T(1) has neither ring nor balance loss.
  Efficiency E(X) = T(1) / (X T(X)).
"""

from __future__ import annotations

import argparse
import gzip
import json
import multiprocessing as mp
import os
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

from sparkw2v import kernel, vocab
from sparkw2v.blockstore import BlockStore
from sparkw2v.layout import BlockLayout, context_block, owned_blocks, pair_weights
from sparkw2v.pairs import generate_pairs, split_by_center_block
from sparkw2v.schedule import Schedule
from sparkw2v.worker import BlockPairs, NoiseTables

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "gutenberg_text8style.gz"


def load_corpus(words: int):
    with gzip.open(CORPUS, "rt", encoding="ascii") as fh:
        tokens = fh.read(words * 6).split()[:words]
    counts = Counter(tokens)
    kept = sorted((w for w, c in counts.items() if c >= 5), key=lambda w: (-counts[w], w))
    index = {w: i for i, w in enumerate(kept)}
    ids = np.array([index[t] for t in tokens if t in index], np.int32)
    offsets = np.arange(0, len(ids) + 1, 1000, dtype=np.int64)
    offsets[-1] = len(ids)
    return ids, offsets, np.array([counts[w] for w in kept], np.int64), len(tokens)


def measure_blocks(P: int, ids, offsets, counts, keep, executors: list[int], vector_size: int) -> dict:
    """Kernel rate over one cycle of P x P strata, and the balance for each executor count."""
    layout = BlockLayout.build(pair_weights(counts, keep), P, 1, 0)
    centers, contexts, strata, _ = generate_pairs(ids, offsets, keep, layout.labels, P, 5, np.uint64(1))
    tables = NoiseTables.build(counts, layout)
    pairs = {k: BlockPairs.arrange([(c, o, n)], 1, layout, k, tables, 5)
             for k, c, o, n in split_by_center_block(centers, contexts, strata)}
    schedule = Schedule(1, 1, P, 0.025, 0.0001, 1)
    W = {k: kernel.init_rows(layout.members(k), vector_size, 1) for k in range(P)}
    Wp = {k: np.zeros_like(W[k]) for k in range(P)}
    upd = {k: np.zeros(layout.size(k), np.int32) for k in range(P)}
    start = time.perf_counter()
    for s in range(P):
        for k in range(P):
            j = context_block(k, s, P)
            a, b = pairs[k].bounds[0, j]
            noise = kernel.Noise(tables.prob[j], tables.alias[j], pairs[k].rates[j], float(pairs[k].max_rates[j]))
            step = kernel.Step(int(a), int(b), 0.025, 0.0001, np.uint64(schedule.stratum_seed(0, 0, s, k)), 10)
            kernel.train_stratum(W[k], Wp[j], pairs[k].centers, pairs[k].contexts, noise, step, upd[k], upd[j])
    rate = len(centers) / (time.perf_counter() - start)
    st = strata.astype(np.float64)
    balance = {}
    for X in executors:
        T = min(X, P)
        worst = mean = 0.0
        for s in range(P):
            per = [sum(st[k, (k + s) % P] for k in owned_blocks(t, T, P)) for t in range(T)]
            worst += max(per)
            mean += sum(per) / T
        balance[X] = mean / worst
    return {"num_blocks": P, "kernel_pairs_per_sec": rate, "balance": balance,
            "stratum_max_over_mean": float(st.max() / st.mean()), "pairs": int(len(centers))}


def _ring_task(args):
    url, run, task, num_tasks, steps, shape = args
    store = BlockStore(url)
    ring = store.exchange(run, 0, 0, task, num_tasks, timeout=120)
    rows = np.ones(shape, np.float32)
    start = time.perf_counter()
    for step in range(steps):
        ring.send(0, step, task, rows)
        rows = ring.receive(0, step, (task + 1) % num_tasks, shape)
    return (time.perf_counter() - start) / steps


def measure_ring(num_tasks: int, block_bytes: int, steps: int) -> float:
    """Seconds per sub-epoch for num_tasks processes that each hand one block to a neighbour
    and wait for one, with no training in between (the latency the ring adds when B = 1)."""
    with tempfile.TemporaryDirectory(prefix="sparkw2v-ring-") as tmp:
        store = BlockStore(tmp)
        run = store.new_run()
        shape = (max(1, block_bytes // 400), 100)
        ctx = mp.get_context("spawn")
        with ctx.Pool(num_tasks) as pool:
            times = pool.map(_ring_task, [(tmp, run, t, num_tasks, steps, shape) for t in range(num_tasks)])
    return float(max(times))


def spark_costs(run_dir: str, cores: int) -> dict:
    """Per-pair and per-epoch Spark costs from a training run's metadata."""
    meta = json.loads(Path(run_dir, "metadata.json").read_text())
    epochs = meta["corpus"]["epochs"]
    pairs = sum(e["pairs"] for e in epochs)
    # the epoch's time outside the barrier tasks' training loop: pair generation and shuffle,
    # the shuffle read and layout in the tasks, loading and writing blocks, scheduling
    outside = sum(e["seconds"] - e["task_timings_max"].get("train_seconds", 0.0) for e in epochs)
    stage_fixed = 0.3 * len(epochs)  # two stages per epoch; measured ~0.1 s each for empty stages
    return {"pair_core_seconds": (outside - stage_fixed) * cores / pairs, "job_seconds": stage_fixed / len(epochs),
            "pairs_per_token": pairs / len(epochs) / meta["corpus"]["corpus_tokens"], "run": run_dir,
            "cycles_per_epoch": meta["config"]["cycles_per_epoch"]}


def predict(X: int, P: int, R: int, N: float, model_bytes: float, bw: float, costs: dict, blocks: dict,
            ring_latency: float) -> dict:
    m = blocks[P]
    r, e = m["kernel_pairs_per_sec"], m["balance"][X] if X in m["balance"] else 1.0
    B = P / X
    t_stratum = N / (P * P * R * r)
    pair_bytes = 4 if model_bytes / (400 * P) <= 32767 else 8  # rows per block at d=100 float32
    pairs_t = N * costs["pair_core_seconds"] / X + pair_bytes * N / (X * bw)
    kernel_t = N / (X * r * e)
    ring_t = P * R * max(0.0, ring_latency + 2 * model_bytes / (P * bw) - (B - 1) * t_stratum) if X > 1 else 0.0
    state_t = 4 * model_bytes / (X * bw)
    total = costs["job_seconds"] + pairs_t + kernel_t + ring_t + state_t
    return {"executors": X, "num_blocks": P, "cycles": R, "seconds": total, "pairs": pairs_t, "kernel": kernel_t,
            "ring": ring_t, "state": state_t, "balance": e, "kernel_rate": r}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, help="a model directory trained on this machine (metadata.json)")
    parser.add_argument("--cores", type=int, default=2, help="cores of the machine that trained --run")
    parser.add_argument("--blocks", type=int, nargs="+", default=[8, 32, 64, 128])
    parser.add_argument("--executors", type=int, nargs="+", default=[8, 32, 128])
    parser.add_argument("--words", type=int, default=5_000_000, help="real-corpus words for r(P) and e(P, X)")
    parser.add_argument("--tokens", type=float, default=1e9, help="corpus tokens to predict for")
    parser.add_argument("--vocab", type=float, default=1e6, help="vocabulary size to predict for")
    parser.add_argument("--vector-size", type=int, default=100)
    parser.add_argument("--bandwidth", type=float, default=1.0e9,
                        help="bytes/s per executor to the network and the shared work directory (assumed)")
    parser.add_argument("--cycles", type=int, default=0, help="R (default: the run's)")
    parser.add_argument("--json", default="cost_model.json")
    args = parser.parse_args()

    costs = spark_costs(args.run, args.cores)
    R = args.cycles or costs["cycles_per_epoch"]
    ids, offsets, counts, _ = load_corpus(args.words)
    keep = vocab.keep_probabilities(counts, 1e-4)
    blocks = {P: measure_blocks(P, ids, offsets, counts, keep, args.executors, args.vector_size)
              for P in sorted(set(args.blocks) | {1})}
    ring = {T: measure_ring(T, 64 << 10, 300) for T in (2,)}
    ring_bw = measure_ring(2, 16 << 20, 20)
    latency = ring[2]
    local_bw = 2 * (16 << 20) / max(ring_bw - latency, 1e-9)
    N = args.tokens * costs["pairs_per_token"]
    model_bytes = args.vocab * args.vector_size * 4
    serial = predict(1, 1, R, N, model_bytes, args.bandwidth, costs, blocks, latency)
    rows = []
    for X in args.executors:
        for P in args.blocks:
            if P < X:
                continue
            p = predict(X, P, R, N, model_bytes, args.bandwidth, costs, blocks, latency)
            p["efficiency"] = serial["seconds"] / (X * p["seconds"])
            rows.append(p)
    rates = ", ".join("P=%d %.2fM" % (P, m["kernel_pairs_per_sec"] / 1e6) for P, m in blocks.items())
    print(f"measured: kernel {rates} "
          f"pairs/s/core; pair cost {costs['pair_core_seconds'] * 1e9:.0f} ns/pair/core; job {costs['job_seconds']:.2f} s/epoch; "
          f"ring latency {latency * 1e3:.2f} ms/sub-epoch (2 tasks, 64 KiB blocks, local disk), local ring bandwidth "
          f"{local_bw / 1e9:.2f} GB/s; {costs['pairs_per_token']:.2f} pairs/token")
    print(f"assumed: {args.tokens:.0e} tokens, V={args.vocab:.0e}, d={args.vector_size}, |W|={model_bytes / 1e9:.2f} GB, "
          f"{args.bandwidth / 1e9:.2f} GB/s per executor; R={R}")
    print(f"serial (1 core, P=1): {serial['seconds']:.0f} s per epoch")
    print("| executors | P | R | epoch s | pairs s | kernel s | ring s | state s | balance | efficiency |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for p in rows:
        print(f"| {p['executors']} | {p['num_blocks']} | {p['cycles']} | {p['seconds']:.1f} | {p['pairs']:.1f} | "
              f"{p['kernel']:.1f} | {p['ring']:.1f} | {p['state']:.1f} | {p['balance']:.3f} | {p['efficiency']:.0%} |")
    with open(args.json, "w") as fh:
        json.dump({"costs": costs, "blocks": blocks, "ring_latency": latency, "local_ring_bandwidth": local_bw,
                   "assumptions": vars(args), "serial": serial, "predictions": rows}, fh, indent=1, default=str)


if __name__ == "__main__":
    main()
