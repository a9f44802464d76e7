"""python jobs/bench_kernel.py [--vector-size 100 300] [--words 2000000]

Kernel-only benchmark: the SGNS kernel's (center, context) pairs/s on one core, on the real
corpus's first words when ../shared/data is there (else a Zipf-distributed synthetic corpus),
with the default settings (window 5, negative 5, sample 1e-4). No Spark.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--vector-size", type=int, nargs="+", default=[100, 300])
    parser.add_argument("--words", type=int, default=2_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    ids, counts, source = load_ids(args.words, 5)
    offsets = np.arange(0, len(ids) + 1, 1000, dtype=np.int64)
    if offsets[-1] != len(ids):
        offsets = np.append(offsets, len(ids))
    keep, (prob, alias) = vocab.keep_probabilities(counts, 1e-4), vocab.noise_table(counts, 0.75)
    V = len(counts)
    results = []
    for N in args.vector_size:
        rng = np.random.default_rng(1)
        W0 = ((rng.random((V, N), dtype=np.float32) - 0.5) / N).astype(np.float32)
        kernel.train_rows(ids[:5000], offsets[:6], W0.copy(), np.zeros_like(W0), keep, prob, alias, 5, 5,
                          0.025, 0.025, np.uint64(1), np.zeros(V, np.int32), np.zeros(V, np.int32))
        rates = []
        for r in range(args.repeats):
            W, Wp = W0.copy(), np.zeros_like(W0)
            start = time.perf_counter()
            _, _, pairs, kept = kernel.train_rows(ids, offsets, W, Wp, keep, prob, alias, 5, 5, 0.025, 0.0001,
                                               np.uint64(r + 1), np.zeros(V, np.int32), np.zeros(V, np.int32))
            seconds = time.perf_counter() - start
            rates.append((pairs / seconds, len(ids) / seconds))
        pairs_s = float(np.median([p for p, _ in rates]))
        words_s = float(np.median([w for _, w in rates]))
        results.append({"vector_size": N, "pairs_per_sec": round(pairs_s), "raw_words_per_sec": round(words_s)})
        print(f"d={N}: {pairs_s / 1e6:.2f}M pairs/s, {words_s / 1e6:.2f}M raw words/s "
              f"(median of {args.repeats}; {len(ids)} words of {source}, V={V})")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
