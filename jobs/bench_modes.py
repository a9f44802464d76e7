"""Classic Spark against Spark Connect: the same training, alternately, wall time and vectors.

Runs ``jobs/train.py`` on one Parquet corpus ``--repeats`` times in each mode, alternating
(classic first, then Connect, ...), so that drift of a shared machine hits both alike:

- classic: ``spark-submit --master MASTER jobs/train.py ...``
- connect: ``SPARK_REMOTE=MASTER python jobs/train.py ...`` (pyspark starts a local Spark
  Connect server for a ``local[N]`` remote; give ``--remote sc://host:port`` for a running one)

and prints one JSON line: each run's wall time (seconds, the whole job as a user sees it:
session start, training, writing the model) and train_seconds, the medians, the ratio
connect / classic, and whether every run's vectors (``embeddings`` and ``context_embeddings``)
are bit for bit those of the first classic run.

Usage:
    python jobs/bench_modes.py --input CORPUS.parquet --out DIR [--repeats 3] [--master local[2]]
        [--remote URL] [train.py flags, e.g. --num-blocks 2]
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

import numpy as np
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]


def vectors(model: Path) -> dict[str, tuple[list, np.ndarray]]:
    """{table: (words by id, (V, N) float32)} of a model directory's two embedding tables."""
    out = {}
    for table in ("embeddings", "context_embeddings"):
        t = pq.read_table(model / table).sort_by("id")
        out[table] = (t.column("word").to_pylist(),
                      np.stack(t.column("vector").to_numpy(zero_copy_only=False)).astype(np.float32))
    return out


def same_bits(a: dict, b: dict) -> bool:
    return all(a[k][0] == b[k][0] and a[k][1].shape == b[k][1].shape
               and np.array_equal(a[k][1].view(np.uint32), b[k][1].view(np.uint32)) for k in a)


def run(mode: str, args, extra: list[str], out: Path) -> dict:
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable, SPARK_CONF_DIR=str(REPO / "conf"))
    env.pop("SPARK_REMOTE", None)
    train = [str(REPO / "jobs" / "train.py"), "--input", args.input, "--output", str(out), "--overwrite", *extra]
    if mode == "classic":
        command = [str(Path(sys.executable).parent / "spark-submit"), "--master", args.master, *train]
    else:
        env["SPARK_REMOTE"] = args.remote or args.master
        command = [sys.executable, *train]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"bench_modes: {mode} run failed (exit {done.returncode}): {done.stderr.strip()[-2000:]}")
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    return {"mode": mode, "wall_seconds": round(seconds, 2), "train_seconds": summary.get("train_seconds"),
            "model": str(out)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", required=True, help="Parquet corpus (jobs/prepare.py's output)")
    parser.add_argument("--out", required=True, help="directory for the models (one per mode, overwritten)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per mode (default 3)")
    parser.add_argument("--master", default="local[2]", help="classic master, and the Connect remote (default local[2])")
    parser.add_argument("--remote", default=None, help="a running Connect server (sc://host:port) instead")
    args, extra = parser.parse_known_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runs, reference, equal = [], None, True
    for i in range(args.repeats):
        for mode in ("classic", "connect"):
            result = run(mode, args, extra, out / f"{mode}-model")
            got = vectors(Path(result["model"]))
            if reference is None:
                reference = got
            result["bitwise_equal_to_first_classic"] = same_bits(reference, got)
            equal &= result["bitwise_equal_to_first_classic"]
            runs.append(result)
            print(json.dumps(result), file=sys.stderr, flush=True)
    med = {mode: statistics.median(r["wall_seconds"] for r in runs if r["mode"] == mode) for mode in ("classic", "connect")}
    print(json.dumps({"input": args.input, "master": args.master, "flags": extra, "runs": runs,
                      "median_wall_seconds": med, "connect_over_classic": round(med["connect"] / med["classic"], 3),
                      "all_bitwise_equal": equal, "load_average_end": os.getloadavg()}))


if __name__ == "__main__":
    main()
