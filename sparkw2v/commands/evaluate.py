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
import os
import sys
from pathlib import Path

from sparkw2v import cli
from sparkw2v.embeddings import Embeddings
from sparkw2v.errors import InputError
from sparkw2v.evaluate import analogy_accuracy, similarity_correlation

# More neighbours than this is a dump of the vocabulary, not a neighbour list.
MAX_TOPN = 10_000


def main(argv: list[str] | None = None) -> int:
    parser = cli.ArgumentParser("evaluate", description=__doc__)
    parser.add_argument("--model", type=cli.path_arg, required=True, help="model directory written by jobs/train.py")
    parser.add_argument("--analogies", type=cli.path_arg, help="analogy file (questions-words.txt format)")
    parser.add_argument("--similarity", type=cli.path_arg, nargs="*", default=[],
                        help="word1<TAB>word2<TAB>score files")
    parser.add_argument("--restrict-vocab", type=cli.int_in(1), default=30000, metavar="N",
                        help="analogies use the N most frequent words (N >= 1, default 30000)")
    parser.add_argument("--neighbors", nargs="*", default=[], help="words to print neighbours of")
    parser.add_argument("--topn", type=cli.int_in(1, MAX_TOPN), default=10, metavar="K",
                        help=f"neighbours per word (1 to {MAX_TOPN}, default 10)")
    parser.add_argument("--json", type=cli.path_arg, nargs="?", const="-", metavar="FILE",
                        help="print the full results as JSON (or write them to FILE)")
    parser.add_argument("--remote", metavar="URL", help="(accepted for symmetry with the other jobs, like "
                        "SPARK_REMOTE; evaluate runs no Spark)")
    args = parser.parse_args(argv)
    cli.setup()
    return cli.run("evaluate", lambda: _evaluate(args), interrupted="nothing was written: run it again")


def _evaluate(args: argparse.Namespace) -> int:
    if args.json and args.json != "-":
        check_json_path(args.json)  # before the work, not after it
    emb = Embeddings.load(args.model)
    out: dict = {"model": args.model, "vocab_size": len(emb.words)}
    if args.analogies:
        result = analogy_accuracy(emb, args.analogies, args.restrict_vocab)
        out["analogies"] = {**result, "file": args.analogies}
    for path in args.similarity:
        out.setdefault("similarity", {})[path] = similarity_correlation(emb, path)
    if args.neighbors:
        out["neighbors"] = {w: ([[n, round(s, 4)] for n, s in emb.most_similar(w, topn=args.topn)]
                                if w in emb else None) for w in args.neighbors}
    if args.json:
        text = json.dumps(out, indent=1)
        if args.json == "-":
            cli.result(text)
            return 0
        write_json_file(args.json, text)
    cli.result(summary(out))
    return 0


def check_json_path(path: str) -> None:
    """Refuse a --json FILE that cannot be written: a directory, a missing parent directory, a
    parent that is a file, or one without the right to write (read-only filesystem included).

    Raises:
        InputError: naming the path, the problem and the fix.
    """
    target = Path(path)
    parent = target.parent
    problem = None
    if target.is_dir():
        problem = "is a directory: give the path of a file"
    elif not parent.exists():
        problem = f"cannot be written: its directory {str(parent)!r} does not exist (create it first)"
    elif not parent.is_dir():
        problem = f"cannot be written: {str(parent)!r} is a file, not a directory"
    elif not os.access(parent, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        problem = "cannot be written (no permission, or a read-only filesystem)"
    if problem:
        raise InputError(f"--json {path!r} {problem}; choose a path you can write")


def write_json_file(path: str, text: str) -> None:
    """Write the results to ``path``.

    Raises:
        InputError: the filesystem refused (full, read-only, ...), naming the path and the reason.
    """
    try:
        with open(path, "w") as fh:
            fh.write(text + "\n")
    except OSError as exc:
        reason = cli.describe_os_error(exc) or f"{exc.strerror or exc}"
        raise InputError(f"--json {path!r} cannot be written: {reason}") from None


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
