"""spark-submit jobs/evaluate.py --model MODEL_DIR [--analogies FILE] [--similarity FILE ...]

Prints JSON: Google-analogy accuracy (3CosAdd over unit vectors, restricted to the 30,000 most
frequent words, case-insensitive; overall / semantic / syntactic, questions evaluated and
skipped) and Spearman's rho for each similarity file with the share of pairs skipped.
--neighbors prints the nearest neighbours of the given words too. Needs no Spark session.
"""

from __future__ import annotations

import argparse
import json
import sys

from sparkw2v.embeddings import Embeddings
from sparkw2v.errors import SparkW2VError
from sparkw2v.evaluate import analogy_accuracy, similarity_correlation


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="model directory written by jobs/train.py")
    parser.add_argument("--analogies", help="analogy file (questions-words.txt format)")
    parser.add_argument("--similarity", nargs="*", default=[], help="word1<TAB>word2<TAB>score files")
    parser.add_argument("--restrict-vocab", type=int, default=30000,
                        help="analogies use the N most frequent words (default 30000)")
    parser.add_argument("--neighbors", nargs="*", default=[], help="words to print neighbours of")
    parser.add_argument("--topn", type=int, default=10)
    args = parser.parse_args(argv)
    try:
        emb = Embeddings.load(args.model)
    except SparkW2VError as exc:
        print(f"evaluate: error: {exc}", file=sys.stderr)
        return 2
    out: dict = {"model": args.model, "vocab_size": len(emb.words)}
    if args.analogies:
        result = analogy_accuracy(emb, args.analogies, args.restrict_vocab)
        out["analogies"] = {k: v for k, v in result.items() if k != "sections"}
        out["analogies"]["file"] = args.analogies
    for path in args.similarity:
        out.setdefault("similarity", {})[path] = similarity_correlation(emb, path)
    if args.neighbors:
        index = emb.index
        out["neighbors"] = {w: ([[n, round(s, 4)] for n, s in emb.most_similar(w, args.topn)]
                                if w in index else None) for w in args.neighbors}
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
