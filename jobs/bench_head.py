"""python jobs/bench_head.py --blocks 256 --hot-words 0 256 --seeds 1 2 3 [--combine clip]
                           [--combine-every 1] [--cycles 16] [--out F.jsonl]

Quality of a replicated head (``sparkw2v.head``) at many blocks, in one process, no Spark:
trains the real corpus (``../shared/data/gutenberg_text8style.gz``, rows of 1,000 words as
``sparkw2v prepare`` cuts them, 8 shards, min_count 5, every other setting the default) with
``local.train_local`` for each (P, hot_words, seed) (the head combined after every
``--combine-every``-th sub-epoch; R = ``--cycles``), the vectors a P-block run gives on any
number of executors, and prints one JSON line per run: analogy accuracy, WordSim-353 and
SimLex-999 rho (``sparkw2v.evaluate``), the largest stratum over the mean stratum (pairs) and
the kernel's pairs/s (or "diverged" with where). Runs one after another on one core; start two
to use two.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

import numpy as np

from sparkw2v.config import TrainConfig
from sparkw2v.embeddings import Embeddings
from sparkw2v.errors import TrainingDivergedError
from sparkw2v.evaluate import analogy_accuracy, similarity_correlation
from sparkw2v.local import train_local
from sparkw2v.prepare import iter_rows
from sparkw2v.vocab import sort_vocabulary
from sparkw2v.worker import merge_pairs

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SHARDS = 8


def load_corpus(path: Path, min_count: int):
    """(words by descending count (ties by word), counts (V,) int64, shards [(ids, offsets)])."""
    rows = [r.split() for r in iter_rows(str(path), 1000)]
    words, counts = sort_vocabulary(Counter(t for r in rows for t in r).items(), min_count)
    index = {w: i for i, w in enumerate(words)}
    encoded = [np.array([index[t] for t in r if t in index], np.int32) for r in rows]
    shards = []
    for part in np.array_split(np.arange(len(encoded)), SHARDS):
        pieces = [encoded[i] for i in part]
        offsets = np.zeros(len(pieces) + 1, np.int64)
        np.cumsum([p.shape[0] for p in pieces], out=offsets[1:])
        shards.append((np.concatenate(pieces), offsets))
    return words, counts, shards


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[1])
    parser.add_argument("--blocks", type=int, nargs="+", default=[256])
    parser.add_argument("--hot-words", type=int, nargs="+", default=[0, 256])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1])
    parser.add_argument("--combine", default="clip", help="sum, mean or clip (sparkw2v.head)")
    parser.add_argument("--combine-every", type=int, default=1, help="combine the head after every n-th sub-epoch")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--cycles", type=int, default=16, help="cycles_per_epoch R")
    parser.add_argument("--out", default=None, help="append the JSON lines to this file too")
    args = parser.parse_args()
    corpus = DATA / "gutenberg_text8style.gz"
    if not corpus.exists():
        raise SystemExit(f"{corpus} is missing: this benchmark needs the real corpus")
    words, counts, shards = load_corpus(corpus, 5)
    for P in args.blocks:
        for K in args.hot_words:
            for seed in args.seeds:
                config = TrainConfig(seed=seed, epochs=args.epochs, cycles_per_epoch=args.cycles)
                started = time.perf_counter()
                try:
                    W, _, reports = train_local(shards, counts, config, P, hot_words=K, combine=args.combine,
                                                 combine_every=args.combine_every)
                except TrainingDivergedError as exc:
                    line = {"blocks": P, "hot_words": K, "combine": args.combine, "combine_every": args.combine_every, "seed": seed, "epochs": args.epochs, "cycles": args.cycles,
                            "merge": merge_pairs(P, config.window),
                            "diverged": str(exc), "seconds": round(time.perf_counter() - started, 1)}
                    report(line, args.out)
                    continue
                seconds = time.perf_counter() - started
                emb = Embeddings(tuple(words), counts, W)
                a = analogy_accuracy(emb, str(DATA / "eval" / "questions-words.txt"))
                strata = [np.concatenate([r.stratum_pairs[k] for k in sorted(r.stratum_pairs)]) for r in reports]
                line = {"blocks": P, "hot_words": K, "combine": args.combine, "combine_every": args.combine_every, "seed": seed, "epochs": args.epochs, "cycles": args.cycles,
                            "merge": merge_pairs(P, config.window),
                        "analogy": round(100 * a["accuracy"], 2),
                        "wordsim353": round(similarity_correlation(emb, str(DATA / "eval" / "wordsim353.tsv"))["spearman"], 4),
                        "simlex999": round(similarity_correlation(emb, str(DATA / "eval" / "simlex999.txt"))["spearman"], 4),
                        "stratum_max_over_mean": round(float(np.mean([s.max() / s.mean() for s in strata])), 3),
                        "kernel_pairs_per_second": round(sum(int(r.pairs.sum()) for r in reports)
                                                         / sum(float(r.kernel_seconds.sum()) for r in reports)),
                        "seconds": round(seconds, 1)}
                report(line, args.out)


def report(line: dict, out: str | None) -> None:
    print(json.dumps(line), flush=True)
    if out:
        with open(out, "a") as fh:
            fh.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main()
