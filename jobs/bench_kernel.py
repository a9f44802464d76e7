"""python jobs/bench_kernel.py [--vector-size 100 300] [--blocks 1 8 64] [--words 2000000] [--hot-words 0 256]

Kernel-only benchmark, one core, no Spark: the SGNS kernel's (center, context) pairs/s over the
strata of one cycle, as a task trains them, on the real corpus's first words when
../shared/data is there (else a Zipf-distributed synthetic corpus), with the default settings
(window 5, negative 5, sample 1e-4). Also times pair generation (subsampling, windows and
bucketing by stratum), and prints the stratum imbalance (max / mean pairs) per block count.
"""

from __future__ import annotations

import argparse
import gzip
import json
import time
from collections import Counter
from pathlib import Path

import numpy as np

from sparkw2v import kernel, vocab
from sparkw2v.epoch import EpochPlan, Settings
from sparkw2v.head import Head, train_stratum
from sparkw2v.layout import context_block
from sparkw2v.schedule import Schedule
from sparkw2v.worker import merge_pairs

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "gutenberg_text8style.gz"


def load_ids(words: int, min_count: int) -> tuple[np.ndarray, np.ndarray, str]:
    if CORPUS.exists():
        with gzip.open(CORPUS, "rt", encoding="ascii") as fh:
            tokens = fh.read(words * 6).split()[:words]
        counts = Counter(tokens)
        kept = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
        index = {w: i for i, w in enumerate(kept)}
        ids = np.array([index[t] for t in tokens if t in index], np.int32)
        return ids, np.array([counts[w] for w in kept], np.int64), str(CORPUS)
    rng = np.random.default_rng(0)
    V = 50_000
    p = 1.0 / np.arange(1, V + 1)
    ids = rng.choice(V, size=words, p=p / p.sum()).astype(np.int32)
    return ids, np.bincount(ids, minlength=V).astype(np.int64) + 1, "synthetic Zipf"


def run_cycle(P: int, N: int, ids, offsets, counts, keep, seed: int, hot_words: int = 0, merge: int | None = None) -> dict:
    """Generate the pairs of the corpus for P blocks and train them as one cycle (R = 1); with
    ``hot_words`` K > 0 the K most frequent words replicated (``sparkw2v.head``, collected after
    every stratum and combined after every sub-epoch, inside the timed loop)."""
    schedule = Schedule(1, 1, P, 0.025, 0.0001, seed)
    plan = EpochPlan(Settings(schedule, N, 5, 5, hot_words=hot_words), 0, counts, keep)
    layout = plan.layout
    start = time.perf_counter()
    pieces = list(plan.shard_pairs(0, ids, offsets))
    gen_seconds = time.perf_counter() - start
    strata = np.stack([n for *_, n in pieces])
    tables = plan.noise_tables()
    pairs = {k: plan.arrange(k, [(c, o, n)], tables) for k, c, o, n in pieces}
    W, Wp = plan.initial_blocks(range(P))
    head_rows = kernel.init_rows(np.arange(hot_words), N, seed)
    head = Head.start(head_rows, np.zeros_like(head_rows), P) if hot_words else None
    w_upd = {k: np.zeros(layout.size(k), np.int32) for k in range(P)}
    wp_upd = {k: np.zeros(layout.size(k), np.int32) for k in range(P)}
    seeds = {(s, k): np.uint64(schedule.stratum_seed(0, 0, s, k)) for s in range(P) for k in range(P)}
    start = time.perf_counter()
    trained = 0
    for s in range(P):
        for k in range(P):
            j = context_block(k, s, P)
            a, b = pairs[k].bounds[0, j]
            noise = kernel.Noise(tables.prob[j], tables.alias[j], pairs[k].rates[j], float(pairs[k].max_rates[j]))
            step = kernel.Step(int(a), int(b), 0.025, 0.0001, seeds[s, k], 10,
                               merge_pairs(P, 5) if merge is None else merge)
            trained += train_stratum(head, W[k], Wp[j], pairs[k].centers, pairs[k].contexts, noise, step,
                                     w_upd[k], wp_upd[j])[2]
        if head is not None:
            head.combine()
    seconds = time.perf_counter() - start
    return {"pairs": int(trained), "seconds": seconds, "gen_seconds": gen_seconds,
            "stratum_max_over_mean": float(strata.max() / strata.mean())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--vector-size", type=int, nargs="+", default=[100, 300])
    parser.add_argument("--blocks", type=int, nargs="+", default=[1, 8, 64])
    parser.add_argument("--words", type=int, default=2_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--hot-words", type=int, nargs="+", default=[0],
                        help="replicated head sizes K to time (sparkw2v.head; 0: none)")
    parser.add_argument("--merge", nargs="+", default=["rule"],
                        help="kernel.Step.merge values to time: rule (worker.merge_pairs, the trainer's) or a "
                        "number of pairs (0: a step a position)")
    args = parser.parse_args()
    merges = [None if m == "rule" else int(m) for m in args.merge]
    ids, counts, source = load_ids(args.words, 5)
    offsets = np.arange(0, len(ids) + 1, 1000, dtype=np.int64)
    if offsets[-1] != len(ids):
        offsets = np.append(offsets, len(ids))
    keep = vocab.keep_probabilities(counts, 1e-4)
    run_cycle(2, 8, ids[:20000], offsets[:21], counts, keep, 1)  # compile
    run_cycle(2, 8, ids[:20000], offsets[:21], counts, keep, 1, 4)
    results = []
    for N, P, K, M in ((N, P, K, M) for N in args.vector_size for P in args.blocks for K in args.hot_words
                       for M in merges):
        runs = [run_cycle(P, N, ids, offsets, counts, keep, r + 1, K, M) for r in range(args.repeats)]
        M = merge_pairs(P, 5) if M is None else M
        pairs_s = float(np.median([r["pairs"] / r["seconds"] for r in runs]))
        gen_s = float(np.median([r["pairs"] / r["gen_seconds"] for r in runs]))
        imbalance = float(np.median([r["stratum_max_over_mean"] for r in runs]))
        results.append({"vector_size": N, "num_blocks": P, "hot_words": K, "merge": M, "pairs_per_sec": round(pairs_s),
                        "generated_pairs_per_sec": round(gen_s), "stratum_max_over_mean": round(imbalance, 3)})
        print(f"d={N} P={P} K={K} merge={M}: kernel {pairs_s / 1e6:.2f}M pairs/s, pair generation {gen_s / 1e6:.1f}M pairs/s, "
              f"stratum max/mean {imbalance:.2f} (median of {args.repeats}; {len(ids)} words of {source}, "
              f"V={len(counts)})", flush=True)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
