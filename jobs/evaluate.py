"""python jobs/evaluate.py --model MODEL_DIR [--analogies FILE] [--similarity FILE ...] [--json [FILE]]

Prints a short summary: Google-analogy accuracy (3CosAdd over unit vectors, restricted to the
30,000 most frequent words, case-insensitive; overall / semantic / syntactic, questions
evaluated and skipped), Spearman's rho for each similarity file with the share of pairs
skipped, and the nearest neighbours of the --neighbors words. --json prints all of it as JSON
instead (per-section results included), or writes it to FILE. Needs no Spark session.
"""

from __future__ import annotations

import argparse
import json
import sys

from sparkw2v import cli
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
    parser.add_argument("--json", nargs="?", const="-", metavar="FILE",
                        help="print the full results as JSON (or write them to FILE)")
    args = parser.parse_args(argv)
    try:
        emb = Embeddings.load(args.model)
        out: dict = {"model": args.model, "vocab_size": len(emb.words)}
        if args.analogies:
            result = analogy_accuracy(emb, args.analogies, args.restrict_vocab)
            out["analogies"] = {**result, "file": args.analogies}
        for path in args.similarity:
            out.setdefault("similarity", {})[path] = similarity_correlation(emb, path)
    except SparkW2VError as exc:
        return cli.error("evaluate", str(exc))
    if args.neighbors:
        index = emb.index
        out["neighbors"] = {w: ([[n, round(s, 4)] for n, s in emb.most_similar(w, args.topn)]
                                if w in index else None) for w in args.neighbors}
    if args.json:
        text = json.dumps(out, indent=1)
        if args.json == "-":
            cli.result(text)
        else:
            with open(args.json, "w") as fh:
                fh.write(text + "\n")
        if args.json == "-":
            return 0
    cli.result(summary(out))
    return 0


def _pct(v) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


def summary(out: dict) -> str:
    """A few human-readable lines of the results."""
    lines = [f"model {out['model']}: {out['vocab_size']} words"]
    if "analogies" in out:
        a = out["analogies"]
        lines.append(f"analogies: {_pct(a['accuracy'])} (semantic {_pct(a['semantic'])}, syntactic "
                     f"{_pct(a['syntactic'])}) of {a['evaluated']} questions; {a['skipped']} skipped "
                     f"(a word outside the {a['restrict_vocab']} most frequent)")
    for path, s in out.get("similarity", {}).items():
        rho = "undefined" if s["spearman"] is None else f"{s['spearman']:.3f}"
        lines.append(f"{path}: Spearman rho {rho} over {s['pairs']} pairs; {s['skipped']} skipped")
    for word, neighbors in out.get("neighbors", {}).items():
        shown = "not in the vocabulary" if neighbors is None else ", ".join(f"{n} {s:.3f}" for n, s in neighbors)
        lines.append(f"{word}: {shown}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
