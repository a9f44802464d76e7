"""Warm start against training from scratch, on one prepared corpus cut in two halves.

For each seed:

- ``first``: ``jobs/train.py`` on the first half of the corpus's rows (file order: the text's order);
- ``warm``: ``jobs/train.py --init-from first`` on the second half, the same settings and epochs;
- ``scratch``: ``jobs/train.py`` on the whole corpus;

each run under ``spark-submit --master MASTER``, timed as a user sees it (wall seconds of the job)
and by the job's own train_seconds; each model evaluated as ``jobs/evaluate.py`` does (analogies
among the 30,000 most frequent words, WS-353 and SimLex-999 Spearman rho). Prints one JSON
line per run on stderr and a JSON summary with the means over seeds on stdout.

Usage:
    python jobs/bench_warm_start.py --input CORPUS.parquet --eval ../shared/data/eval --out DIR
        [--seeds 1 2 3] [--master local[2]] [train.py flags, e.g. --num-blocks 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]


def split_halves(corpus: str, out: Path) -> tuple[str, str]:
    """The corpus's rows in file order, cut in two halves (Parquet directories under ``out``)."""
    halves = (out / "first-half.parquet", out / "second-half.parquet")
    if not all((h / "part-0.parquet").exists() for h in halves):
        table = ds.dataset(corpus, format="parquet").to_table(columns=["text"])  # files in name order
        cut = table.num_rows // 2
        for half, part in zip(halves, (table.slice(0, cut), table.slice(cut))):
            half.mkdir(parents=True, exist_ok=True)
            pq.write_table(pa.table({"text": part.column("text")}), half / "part-0.parquet")
    return str(halves[0]), str(halves[1])


def train(args, extra: list[str], corpus: str, model: Path, seed: int, init_from: Path | None = None) -> dict:
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable, SPARK_CONF_DIR=str(REPO / "conf"))
    env.pop("SPARK_REMOTE", None)
    command = [str(Path(sys.executable).parent / "spark-submit"), "--master", args.master,
               str(REPO / "jobs" / "train.py"), "--input", corpus, "--output", str(model), "--overwrite",
               "--seed", str(seed), *extra]
    if init_from is not None:
        command += ["--init-from", str(init_from)]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"bench_warm_start: training {model} failed (exit {done.returncode}): "
                         f"{done.stderr.strip()[-2000:]}")
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    return {"wall_seconds": round(seconds, 1), "train_seconds": summary["train_seconds"],
            "vocab_size": summary["vocab_size"]}


def quality(model: Path, eval_dir: Path) -> dict:
    from sparkw2v.embeddings import Embeddings

    result = Embeddings.load(str(model)).evaluate(
        str(eval_dir / "questions-words.txt"), [str(eval_dir / "wordsim353.tsv"), str(eval_dir / "simlex999.txt")])
    ws353, simlex = (result["similarity"][str(eval_dir / f)]["spearman"] for f in ("wordsim353.tsv", "simlex999.txt"))
    return {"analogy": round(100 * result["analogies"]["accuracy"], 2), "ws353": round(ws353, 4),
            "simlex": round(simlex, 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", required=True, help="Parquet corpus (jobs/prepare.py's output)")
    parser.add_argument("--eval", required=True, help="directory of questions-words.txt, wordsim353.tsv, simlex999.txt")
    parser.add_argument("--out", required=True, help="directory for the halves and the models (overwritten)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--master", default="local[2]")
    args, extra = parser.parse_known_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    first, second = split_halves(args.input, out)
    runs = []
    for seed in args.seeds:
        for name, corpus, init in (("first", first, None), ("warm", second, out / f"first-{seed}"),
                                   ("scratch", args.input, None)):
            model = out / f"{name}-{seed}"
            result = {"run": name, "seed": seed, **train(args, extra, corpus, model, seed, init)}
            result.update(quality(model, Path(args.eval)))
            runs.append(result)
            print(json.dumps(result), file=sys.stderr, flush=True)
    means = {}
    for name in ("first", "warm", "scratch"):
        mine = [r for r in runs if r["run"] == name]
        means[name] = {k: round(statistics.mean(r[k] for r in mine), 4)
                       for k in ("analogy", "ws353", "simlex", "wall_seconds", "train_seconds", "vocab_size")}
    print(json.dumps({"input": args.input, "master": args.master, "flags": extra, "seeds": args.seeds,
                      "means": means, "runs": runs, "load_average_end": os.getloadavg()}))


if __name__ == "__main__":
    main()
