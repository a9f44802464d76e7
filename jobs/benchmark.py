"""python jobs/benchmark.py --input PARQUET [--repeats R] [--sweep BLOCKS:SEEDS ...] [--masters M,...]

Trains sparkw2v (local[2], default settings), Spark MLlib's Word2Vec (2 partitions) and gensim
(sg=1, 2 workers; when installed) on the same corpus with the same settings, alternating the
systems (A B C A B C ...) so that machine drift hits all alike. Each training runs in its own
child process, whose process tree is sampled for peak memory. Prints a table and writes JSON:
fit wall time, raw words/s (corpus tokens x epochs / fit seconds), sparkw2v's speed ratio to
each peer per repeat and the median, analogy accuracy (overall / semantic / syntactic),
WordSim-353 and SimLex-999 rho (the same evaluation code for all three), and peak memory.

--sweep "1,2,4,8,16,32,64:1" trains sparkw2v with each num_blocks P and each seed (on
--sweep-master, local[2] by default: a P-block run gives the vectors of a P-executor cluster
bit for bit) and reports the means per P and their gap to P = 1; repeat --sweep for other
seeds of some P. --masters "local[8],local[32]" trains sparkw2v with no setting at all on each
master (the defaults a machine or cluster of that many cores gets).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_EVAL = REPO.parent / "shared" / "data" / "eval"
SETTINGS = dict(vector_size=100, window=5, negative=5, sample=1e-4, min_count=5, epochs=5,
                alpha=0.025, min_alpha=0.0001)


# --------------------------------------------------------------------------- child processes

def _child_sparkw2v(args) -> dict:
    from sparkw2v import storage
    from sparkw2v.config import TrainConfig
    from sparkw2v.session import build_session
    from sparkw2v.trainer import train

    spark = build_session("bench-sparkw2v", args.master,
                          {"spark.driver.memory": args.driver_memory} if args.driver_memory else None)
    overrides = json.loads(args.overrides or "{}")
    config = TrainConfig(**{**SETTINGS, "num_blocks": args.num_blocks, **overrides})
    logging.getLogger("sparkw2v").info("benchmark: %s on %s", config, args.master)
    start = time.perf_counter()
    with train(spark, args.input, config) as result:
        fit = time.perf_counter() - start
        storage.prepare_output(args.out, overwrite=True)
        written = result.write_model(spark, args.out, {"config": config.to_dict(), "corpus": result.stats,
                                                                    "cycles": result.cycles})
    return {"fit_seconds": fit, "train_seconds": result.stats["train_seconds"], "write_seconds": written["seconds"],
            "corpus_tokens": result.vocab.corpus_tokens, "epochs": config.epochs,
            "num_blocks": result.num_blocks, "num_tasks": result.stats["num_tasks"],
            "vocab_size": len(result.vocab), "bytes_w_wp": 8 * len(result.vocab) * config.vector_size,
            "epoch_stats": result.stats["epochs"]}


def _child_mllib(args) -> dict:
    import numpy as np
    from pyspark.ml.feature import Word2Vec

    from sparkw2v.config import TrainConfig
    from sparkw2v.embeddings import write_model
    from sparkw2v.session import build_session
    from sparkw2v.tokenizer import TOKENS, read_text, tokenize
    from sparkw2v.vocab import count_vocabulary

    spark = build_session("bench-mllib", "local[2]")
    config = TrainConfig(**SETTINGS)
    start = time.perf_counter()
    tokens = tokenize(read_text(spark, args.input, "text"), "text", config)
    w2v = Word2Vec(vectorSize=config.vector_size, windowSize=config.window, minCount=config.min_count,
                   stepSize=config.alpha, numPartitions=2, maxIter=args.mllib_iters, seed=1,
                   inputCol=TOKENS, outputCol="doc")
    model = w2v.fit(tokens)
    fit = time.perf_counter() - start
    rows = model.getVectors().collect()
    vocab = count_vocabulary(tokens, TOKENS, config.min_count)  # frequency order, for evaluation
    vectors = {r["word"]: np.asarray(r["vector"].toArray(), np.float32) for r in rows}
    words = [w for w in vocab.words if w in vectors]
    counts = np.array([c for w, c in zip(vocab.words, vocab.counts) if w in vectors], np.int64)
    W = np.stack([vectors[w] for w in words])
    write_model(args.out, words, counts, W, np.zeros_like(W), {"system": "mllib"}, overwrite=True)
    return {"fit_seconds": fit, "train_seconds": fit, "corpus_tokens": vocab.corpus_tokens,
            "epochs": args.mllib_iters}


def _child_gensim(args) -> dict:
    import numpy as np
    import pyarrow.parquet as pq
    from gensim.models import Word2Vec

    from sparkw2v.embeddings import write_model

    settings = {**SETTINGS, **json.loads(args.overrides or "{}")}
    start = time.perf_counter()  # from reading the Parquet, as for the other systems
    texts = pq.read_table(args.input, columns=["text"]).column("text").to_pylist()
    sentences = [t.lower().split() for t in texts if t]
    del texts
    tokens = sum(len(s) for s in sentences)
    loaded = time.perf_counter()
    model = Word2Vec(sentences, sg=1, hs=0, negative=settings["negative"], window=settings["window"],
                     sample=settings["sample"], min_count=settings["min_count"],
                     vector_size=settings["vector_size"], alpha=settings["alpha"],
                     min_alpha=settings["min_alpha"], epochs=settings["epochs"], workers=2, seed=1)
    fit = time.perf_counter() - start
    train = time.perf_counter() - loaded
    kv = model.wv
    counts = np.array([kv.get_vecattr(w, "count") for w in kv.index_to_key], np.int64)
    if len(kv.index_to_key) * kv.vector_size < 2**31:
        write_model(args.out, kv.index_to_key, counts, kv.vectors, model.syn1neg, {"system": "gensim"},
                    overwrite=True)
    return {"fit_seconds": fit, "train_seconds": train, "corpus_tokens": tokens, "epochs": settings["epochs"],
            "vocab_size": len(kv.index_to_key)}


CHILDREN = {"sparkw2v": _child_sparkw2v, "mllib": _child_mllib, "gensim": _child_gensim}


# --------------------------------------------------------------------------- memory sampling

def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def _peak_rss(pid: int) -> tuple[str, int] | None:
    """(role, VmHWM bytes) of a process: role 'jvm', 'python-worker' or 'python-driver'."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            cmd = fh.read().replace(b"\0", b" ").decode(errors="replace")
        with open(f"/proc/{pid}/status") as fh:
            hwm = next((int(line.split()[1]) * 1024 for line in fh if line.startswith("VmHWM")), 0)
    except OSError:
        return None
    if "java" in cmd.split(" ")[0]:
        return "jvm", hwm
    if "pyspark.daemon" in cmd or "pyspark.worker" in cmd:
        return "python-worker", hwm
    if "python" in cmd.split(" ")[0] or "benchmark.py" in cmd:
        return "python-driver", hwm
    return None


def run_child(system: str, args, out: Path, extra: list[str]) -> dict:
    """Run one training in a child process; return its JSON plus peak RSS per role (bytes)."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", system, "--input", args.input,
           "--out", str(out), "--mllib-iters", str(args.mllib_iters), *extra]
    env = {**os.environ, "PYSPARK_PYTHON": os.environ.get("PYSPARK_PYTHON", sys.executable)}
    log_path = out.parent / f"{out.name}.log"
    log_file = open(log_path, "w")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log_file, text=True, env=env)
    peaks: dict[int, tuple[str, int]] = {}
    tree_peak = 0
    start = time.perf_counter()
    while proc.poll() is None:
        tree = 0
        for pid in _descendants(proc.pid):
            got = _peak_rss(pid)
            if got and got[1] >= peaks.get(pid, ("", 0))[1]:
                peaks[pid] = got
            tree += rss(pid)
        tree_peak = max(tree_peak, tree)
        time.sleep(0.25)
    stdout, _ = proc.communicate()
    log_file.close()
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{system} failed (exit {proc.returncode}); see {log_path}:\n"
                           f"{log_path.read_text()[-3000:]}")
    result = json.loads(stdout.strip().splitlines()[-1])
    roles: dict[str, int] = {}
    for role, hwm in peaks.values():
        roles[role] = max(roles.get(role, 0), hwm)
    result.update(system=system, process_seconds=wall, peak_rss=roles, peak_tree_rss=tree_peak)
    return result


def rss(pid: int) -> int:
    """Resident bytes of a process now (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            return next((int(line.split()[1]) * 1024 for line in fh if line.startswith("VmRSS")), 0)
    except OSError:
        return 0


def evaluate_model(path: Path, eval_dir: Path) -> dict:
    from sparkw2v.embeddings import Embeddings
    from sparkw2v.evaluate import analogy_accuracy, similarity_correlation

    emb = Embeddings.load(str(path))
    a = analogy_accuracy(emb, str(eval_dir / "questions-words.txt"))
    return {"analogy": a["accuracy"], "semantic": a["semantic"], "syntactic": a["syntactic"],
            "questions": a["evaluated"],
            "wordsim353": similarity_correlation(emb, str(eval_dir / "wordsim353.tsv"))["spearman"],
            "simlex999": similarity_correlation(emb, str(eval_dir / "simlex999.txt"))["spearman"]}


def truncate_input(path: str, max_tokens: int, work: Path) -> str:
    """The first ``max_tokens`` tokens' worth of rows of a Parquet text input, as a new input."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows, n = [], 0
    for batch in pq.ParquetDataset(path).read(columns=["text"]).to_batches():
        for text in batch.column(0).to_pylist():
            if n >= max_tokens:
                break
            if text:
                rows.append(text)
                n += len(text.split())
    out = work / "input"
    out.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"text": rows}), str(out / "part-0.parquet"))
    return str(out)


def _fmt(v, pct=False):
    if v is None:
        return "-"
    return f"{100 * v:.1f}%" if pct else f"{v:.3f}"


def results_path(json_arg: str | None, work: Path) -> Path:
    """Where the results go: ``--json`` if given, else benchmark.json in the benchmark's own work
    directory (never the directory it is run from, where a file of that name may be a user's)."""
    return Path(json_arg) if json_arg else work / "benchmark.json"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", required=True, help="Parquet text (jobs/prepare.py output)")
    parser.add_argument("--max-tokens", type=int, default=0, help="use only the first N tokens")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--mllib-iters", type=int, default=SETTINGS["epochs"],
                        help="MLlib maxIter (default: epochs)")
    parser.add_argument("--systems", default="sparkw2v,mllib,gensim")
    parser.add_argument("--sweep", action="append", default=[],
                        help="BLOCKS:SEEDS, e.g. 1,8,64:1,2,3: sparkw2v with each num_blocks and seed")
    parser.add_argument("--sweep-master", default="local[2]")
    parser.add_argument("--sweep-overrides", default="", help="JSON of TrainConfig overrides for the sweep")
    parser.add_argument("--masters", default="", help="comma list: sparkw2v with default settings on each master")
    parser.add_argument("--zipf", action="append", default=[],
                        help="TOKENS:TYPES:EXPONENT, a synthetic Zipf corpus (jobs/zipf_corpus.py) trained by "
                             "sparkw2v and gensim with --zipf-overrides (repeat for several corpora)")
    parser.add_argument("--zipf-overrides", default='{"min_count": 1, "epochs": 1}',
                        help="JSON of settings for the Zipf runs (both systems)")
    parser.add_argument("--zipf-driver-memory", default="6g")
    parser.add_argument("--eval-dir", default=str(DEFAULT_EVAL))
    parser.add_argument("--json", default=None,
                        help="where to write the results (default: benchmark.json in the work directory, never "
                             "a file of the directory it is run from)")
    parser.add_argument("--work-dir", default="", help="scratch directory (default: a temp dir)")
    # child mode
    parser.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--master", default="local[2]", help=argparse.SUPPRESS)
    parser.add_argument("--num-blocks", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--overrides", default="", help=argparse.SUPPRESS)
    parser.add_argument("--driver-memory", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        result = CHILDREN[args.child](args)
        print(json.dumps(result))
        return 0

    load_start = os.getloadavg()
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="sparkw2v-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    if args.max_tokens:
        args.input = truncate_input(args.input, args.max_tokens, work)
    systems = [s for s in args.systems.split(",") if s]
    if "gensim" in systems:
        try:
            import gensim  # noqa: F401
        except ImportError:
            print("gensim is not installed (pip install -e '.[bench]'): skipping it", file=sys.stderr)
            systems.remove("gensim")
    eval_dir = Path(args.eval_dir)

    def measure(system: str, out: Path, extra: list[str], label: str, **tags) -> dict:
        res = run_child(system, args, out, extra)
        res.update(**tags, **evaluate_model(out, eval_dir))
        res["raw_words_per_sec"] = res["corpus_tokens"] * res["epochs"] / res["fit_seconds"]
        print(f"{label}: fit {res['fit_seconds']:.1f} s, {res['raw_words_per_sec']:.0f} words/s, "
              f"analogy {_fmt(res['analogy'], True)}, ws {_fmt(res['wordsim353'])}, "
              f"simlex {_fmt(res['simlex999'])}", flush=True)
        return res

    runs = [measure(system, work / f"{system}-{repeat}", [], f"repeat {repeat} {system}", repeat=repeat)
            for repeat in range(args.repeats) for system in systems]
    ratios = {}
    for peer in systems:
        if peer == "sparkw2v" or "sparkw2v" not in systems or not args.repeats:
            continue
        per = []
        for repeat in range(args.repeats):
            ours = next(r for r in runs if r["system"] == "sparkw2v" and r["repeat"] == repeat)
            theirs = next(r for r in runs if r["system"] == peer and r["repeat"] == repeat)
            per.append(ours["raw_words_per_sec"] / theirs["raw_words_per_sec"])
        ratios[peer] = {"per_repeat": per, "median": statistics.median(per)}
    sweep = []
    for spec in args.sweep:
        blocks, _, seeds = spec.partition(":")
        for seed in [int(x) for x in (seeds or "1").split(",") if x]:
            for p in [int(x) for x in blocks.split(",") if x]:
                overrides = {**json.loads(args.sweep_overrides or "{}"), "seed": seed}
                extra = ["--num-blocks", str(p), "--master", args.sweep_master, "--overrides", json.dumps(overrides)]
                sweep.append(measure("sparkw2v", work / f"sweep-{p}-seed{seed}", extra,
                                     f"sweep P={p} seed {seed}", blocks=p, seed=seed))
    sweep_means = {}
    for p in sorted({r["blocks"] for r in sweep}):
        mine = [r for r in sweep if r["blocks"] == p]
        sweep_means[p] = {"seeds": [r["seed"] for r in mine],
                          **{k: statistics.mean(r[k] for r in mine) for k in ("analogy", "wordsim353", "simlex999")}}
    defaults = [measure("sparkw2v", work / f"default-{m.strip('local[]')}", ["--master", m], f"defaults on {m}",
                        master=m) for m in args.masters.split(",") if m]
    zipf_runs = []
    for spec in args.zipf:
        tokens, types, exponent = spec.split(":")[:3]
        corpus = work / f"zipf-{tokens}-{types}-{exponent}"
        if not corpus.exists():
            sys.path.insert(0, str(Path(__file__).resolve().parent))
            from zipf_corpus import write_corpus
            made = write_corpus(str(corpus), int(float(tokens)), int(float(types)), float(exponent), 1)
            print(f"zipf corpus {spec}: {made}", flush=True)
        for system in [s for s in ("sparkw2v", "gensim") if s in systems or not systems]:
            extra = ["--overrides", args.zipf_overrides]
            if system == "sparkw2v":
                extra += ["--driver-memory", args.zipf_driver_memory]
            res = run_child(system, argparse.Namespace(**{**vars(args), "input": str(corpus)}),
                            work / f"zipf-{system}-{tokens}-{types}", extra)
            res.update(corpus=spec)
            zipf_runs.append(res)
            print(f"zipf {spec} {system}: {res['process_seconds']:.1f} s end to end (fit {res['fit_seconds']:.1f} s), "
                  f"V={res.get('vocab_size')}, peak process tree {res['peak_tree_rss'] / 2**30:.2f} GiB, by role "
                  + ", ".join(f"{k} {v / 2**30:.2f} GiB" for k, v in sorted(res["peak_rss"].items())), flush=True)

    print()
    print("| system | repeat | fit s | raw words/s | analogy | semantic | syntactic | WS-353 | SimLex | "
          "peak RSS python driver / JVM / python worker (MiB) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in runs + sweep + defaults:
        name = r["system"] + (f" (P={r['blocks']}, seed {r['seed']})" if "blocks" in r else "")
        name += f" (defaults on {r['master']}, P={r['num_blocks']})" if "master" in r else ""
        mem = " / ".join(f"{r['peak_rss'].get(k, 0) / 2**20:.0f}" for k in ("python-driver", "jvm", "python-worker"))
        print(f"| {name} | {r.get('repeat', '-')} | {r['fit_seconds']:.1f} | {r['raw_words_per_sec']:.0f} | "
              f"{_fmt(r['analogy'], True)} | {_fmt(r['semantic'], True)} | {_fmt(r['syntactic'], True)} | "
              f"{_fmt(r['wordsim353'])} | {_fmt(r['simlex999'])} | {mem} |")
    for p, means in sweep_means.items():
        base = sweep_means.get(1)
        gap = (f" ({100 * (means['analogy'] - base['analogy']):+.1f} points, "
               f"{means['wordsim353'] - base['wordsim353']:+.3f}, {means['simlex999'] - base['simlex999']:+.3f} vs P=1)"
               if base else "")
        print(f"P={p}, mean over seeds {means['seeds']}: analogy {_fmt(means['analogy'], True)}, "
              f"ws {_fmt(means['wordsim353'])}, simlex {_fmt(means['simlex999'])}{gap}")
    for peer, ratio in ratios.items():
        print(f"sparkw2v / {peer} raw words/s: median {ratio['median']:.2f}x "
              f"(per repeat {', '.join(f'{x:.2f}' for x in ratio['per_repeat'])})")
    args.json = str(results_path(args.json, work))
    with open(args.json, "w") as fh:
        json.dump({"settings": SETTINGS, "input": args.input, "mllib_iters": args.mllib_iters,
                   "loadavg_start": load_start, "loadavg_end": os.getloadavg(), "runs": runs, "ratios": ratios,
                   "block_sweep": sweep, "block_sweep_means": sweep_means, "defaults": defaults,
                   "zipf": zipf_runs}, fh, indent=2)
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
