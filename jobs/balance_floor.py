"""python jobs/balance_floor.py [--blocks 128 256] [--hot-words 0 [256 1024 4096]]
                              [--executors 32 128 256] [--scale 1 53] [--seed 1]

What stratum balance a corpus allows at P blocks, against what the layout gives. The balance
e(P, X) is ``jobs/cost_model.py``'s (``stratum_balance``): over the P sub-epochs of a cycle, the
sum of the mean pairs a task of X trains in the sub-epoch over the sum of the largest, with the
whole corpus as one cycle. For each P it prints one JSON line per kind of stratum-count matrix
(P x P pairs):

- ``measured``: the real corpus's pairs (``../shared/data/gutenberg_text8style.gz``, as
  ``jobs/bench_head.py`` loads it; subsampling and windows drawn with seed ``--seed`` x 1000 +
  shard, not a training run's own draws) under the library's layout of epoch 0, with the
  ``--hot-words`` K most frequent words replicated (their pairs spread evenly over the
  strata, ``pairs.generate_pairs``);
- ``independent``: Poisson counts around the product of the marginals of the first
  ``--hot-words`` value's measured strata (list 0 first; what the layout gives if words paired
  at random: the blocks' own imbalance, no co-occurrence);
- ``uniform``: Poisson counts around the mean stratum (what a layout with every stratum's
  expected pairs equal gives: the limit that the number of pairs per stratum sets).

``--scale`` multiplies the expected counts of the last two (53: a 1B-token corpus with this
one's distribution); one random generator draws them all, in the order of ``--blocks``. numpy
and the library's numba pair generation, on one core; about a minute a P.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_head import DATA, load_corpus  # noqa: E402
from cost_model import stratum_balance  # noqa: E402

from sparkw2v.layout import BlockLayout, pair_weights  # noqa: E402
from sparkw2v.pairs import generate_pairs  # noqa: E402
from sparkw2v.vocab import keep_probabilities  # noqa: E402


def measured_strata(shards, counts: np.ndarray, P: int, hot_words: int, seed: int, window: int = 5,
                    sample: float = 1e-4) -> np.ndarray:
    """(P, P) float64 pairs per stratum of epoch 0's layout over all ``shards`` ([(ids (T,) int32,
    offsets (R + 1,) int64)], rows of words as ``bench_head.load_corpus`` gives them; each drawn
    with seed ``seed`` x 1000 + its index); ``counts`` (V,) int64 by descending count."""
    keep = keep_probabilities(counts, sample)
    layout = BlockLayout.build(pair_weights(counts, keep), P, seed, 0, head=hot_words)
    strata = np.zeros((P, P))
    for i, (ids, offsets) in enumerate(shards):
        strata += generate_pairs(ids, offsets, keep, layout.labels, P, window, np.uint64(seed * 1000 + i))[2]
    return strata


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[1])
    parser.add_argument("--blocks", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--hot-words", type=int, nargs="+", default=[0])
    parser.add_argument("--executors", type=int, nargs="+", default=[32, 128, 256])
    parser.add_argument("--scale", type=float, nargs="+", default=[1.0, 53.0])
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    corpus = DATA / "gutenberg_text8style.gz"
    if not corpus.exists():
        raise SystemExit(f"{corpus} is missing: this job needs the real corpus")
    _, counts, shards = load_corpus(corpus, 5)
    rng = np.random.default_rng(args.seed)
    for P in args.blocks:
        base = None
        for K in args.hot_words:
            strata = measured_strata(shards, counts, P, K, args.seed)
            base = strata if base is None else base
            print(json.dumps({"blocks": P, "kind": "measured", "hot_words": K, "scale": 1,
                              "mean_stratum": round(float(strata.mean())),
                              "balance": {X: round(stratum_balance(strata, X), 3) for X in args.executors}}), flush=True)
        independent = np.outer(base.sum(1), base.sum(0)) / base.sum()
        for scale in args.scale:
            for kind, expected in (("independent", independent), ("uniform", np.full_like(base, base.mean()))):
                strata = rng.poisson(expected * scale).astype(np.float64)
                print(json.dumps({"blocks": P, "kind": kind, "hot_words": args.hot_words[0], "scale": scale,
                                  "mean_stratum": round(float(strata.mean())),
                                  "balance": {X: round(stratum_balance(strata, X), 3) for X in args.executors}}), flush=True)


if __name__ == "__main__":
    main()
