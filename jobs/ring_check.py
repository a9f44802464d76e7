"""python jobs/ring_check.py [--settings 2:64 4:32 8:16] [--tokens 5100000] [--rate 10gbit] [--work DIR]

The cost model's ring (``jobs/cost_model.py`` ``critical_path``) against the ring measured on
hosts that share nothing. Root only: it brings up two ``deploy/hosts.sh`` hosts (network
namespaces with their own /tmp and /dev/shm, tbf-shaped links at ``--rate``, one Spark worker and
one training task each, W' blocks over Arrow Flight) and takes them down again, whatever happens.

For each setting P:R (blocks, cycles per epoch), on the first ``--tokens`` of the real corpus,
3 epochs:
  1. a control run on ``local[2]`` in this namespace (blocks through shared memory: no network,
     next to no hand-over CPU): the kernel's seconds per task, from which the mean stratum
     t_s = kernel seconds of both tasks / (P^2 R);
  2. the same run on the two hosts: the slowest task's loop seconds (``train_seconds``), its
     waits and the kernel seconds per task;
  3. the model: ``critical_path`` over the strata's shares (``cost_model.measure_blocks`` on the
     same tokens), t_s from 1, the hand-over h(s) = h0 + s / bw from ``bench_handover.py
     send`` between the two hosts now, and the hand-over's CPU u(s) from ``bench_handover.py
     cpu`` in this process now. A task's loop (``train_seconds``) also holds what the model
     leaves out with or without a network (the per-cycle checks and progress writes, the tasks
     starting their loops apart): the control's loop less ``critical_path`` with free
     hand-overs, the "leftover", is added to every prediction. Shown: the model with u as
     measured and with none, and the factor by which u would have to be multiplied for the
     model to give the hosts' loop (``cpu_factor``; inf where not even that explains it, 0
     where the model without CPU already gives more).
The medians of the epochs after the first (two epochs: their mean) are compared; the hosts'
runs must have handed blocks over the network and the controls none. ``--work`` must be new,
empty or one ring_check made (its marker file): the job writes and replaces files of fixed
names there.
``--reanalyse JSON`` recomputes the comparison from an earlier ``ring_check.json`` (its
figures, link and CPU, checked first; the strata again from the tokens) without training. Everything lands under ``--work``
(default /var/tmp/sw2v-ring-check; not /tmp, which each host replaces), the figures in
``ring_check.json`` there; the hosts' links, namespaces and processes are removed at the end.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
HOSTS_SH = REPO / "deploy" / "hosts.sh"
EPOCHS = 3
VECTOR_SIZE = 100
TASKS = 2


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


cm = _load("cost_model")


def parse_setting(text: str) -> tuple[int, int]:
    """"P:R" -> (P, R); P a multiple of the 2 tasks."""
    try:
        P, R = (int(x) for x in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"setting {text!r}: expected P:R, e.g. 4:32") from None
    if P < TASKS or P % TASKS or R < 1:
        raise argparse.ArgumentTypeError(f"setting {text!r}: P must be a multiple of {TASKS}, R at least 1")
    return P, R


def cpu_factor(shares: np.ndarray, R: int, t_s: float, h: float, u: float, loop: float) -> float:
    """The f >= 0 for which ``critical_path(shares, 2, R, t_s, h, handover_cpu=f u)`` equals
    ``loop`` (seconds; bisection, the path grows with f): 0 if even f = 0 gives more, inf if
    f = 64 gives less."""
    path = lambda f: cm.critical_path(shares, TASKS, R, t_s, h, handover_cpu=f * u)  # noqa: E731
    if path(0.0) >= loop:
        return 0.0
    if path(64.0) < loop:
        return float("inf")
    lo, hi = 0.0, 64.0
    for _ in range(40):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if path(mid) < loop else (lo, mid)
    return (lo + hi) / 2


def epoch_figures(model_dir: Path) -> dict:
    """Medians over the epochs after the first of a run's metadata.json: loop seconds of the
    slowest task, its waits, kernel seconds per task; the bytes handed peer to peer in the last
    epoch, the tasks and the vocabulary size."""
    meta = cm._metadata(str(model_dir))
    later = cm._epochs(meta)
    med = lambda key: float(np.median([key(e) for e in later]))  # noqa: E731
    return {"loop_s": med(lambda e: e["task_timings_max"]["train_seconds"]),
            "wait_s": med(lambda e: e["wait_seconds_max_task"]),
            "kernel_s_per_task": med(lambda e: e["kernel_seconds_total"] / TASKS),
            "bytes_peer": int(later[-1]["bytes_peer"]), "num_tasks": int(meta["corpus"]["num_tasks"]),
            "vocab_size": int(meta["corpus"]["vocab_size"])}


def compare(P: int, R: int, local: dict, on_hosts: dict, h: float, u: float, shares: np.ndarray) -> dict:
    """One setting's row: the control's and the hosts' figures (``epoch_figures``), h and u
    (seconds) for its block, the strata's shares ((P, P), summing to 1); predictions in seconds."""
    t_s = local["kernel_s_per_task"] * TASKS / (P * P * R)
    leftover = local["loop_s"] - cm.critical_path(shares, TASKS, R, t_s, 0.0)
    return {"P": P, "R": R, "h_ms": h * 1e3, "u_ms": u * 1e3, "local": local, "hosts": on_hosts,
            "leftover_s": leftover,
            "predicted_loop_s": cm.critical_path(shares, TASKS, R, t_s, h, handover_cpu=u) + leftover,
            "predicted_loop_no_cpu_s": cm.critical_path(shares, TASKS, R, t_s, h) + leftover,
            "cpu_factor": cpu_factor(shares, R, t_s, h, u, on_hosts["loop_s"] - leftover)}


def corpus_slice(work: Path, tokens: int) -> Path:
    """The first ``tokens`` of the real corpus as a sparkw2v corpus under ``work`` (made once)."""
    from sparkw2v.prepare import prepare_text

    out = work / f"corpus-{tokens}.parquet"
    if not (out / "_SUCCESS").exists():
        text = work / f"corpus-{tokens}.txt.gz"
        with gzip.open(text, "wt", encoding="ascii") as fh:  # the tokens cost_model.load_corpus counts
            fh.write(" ".join(cm.first_tokens(tokens)))
        prepare_text(str(text), str(out), overwrite=True)
    return out


def train_args(corpus: Path, out: Path, P: int, R: int) -> list[str]:
    return ["--input", str(corpus), "--output", str(out), "--epochs", str(EPOCHS), "--num-blocks", str(P),
            "--cycles-per-epoch", str(R), "--no-report", "--overwrite"]


def run(cmd: list[str], log: Path, env: dict, timeout: float = 900) -> None:
    with open(log, "w") as fh:
        done = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, timeout=timeout, cwd=str(REPO))
    if done.returncode != 0:
        raise SystemExit(f"ring_check: {' '.join(cmd[:3])} ... failed ({done.returncode}); see {log}")


MARKER = ".sparkw2v-ring-check"


def claim_work(work: Path) -> None:
    """Make ``work`` ring_check's own directory (a marker file in it), or check that it is: the
    job writes and replaces files of fixed names there, so a directory holding anything it did
    not make is refused.

    Raises:
        ValueError: ``work`` is a file, or a non-empty directory without the marker.
    """
    if work.exists() and not work.is_dir():
        raise ValueError(f"--work {work} is a file: give a new or empty directory")
    if work.is_dir() and any(work.iterdir()) and not (work / MARKER).is_file():
        raise ValueError(f"--work {work} holds files ring_check did not make: give a new or empty directory "
                         f"(ring_check writes and replaces files of fixed names there)")
    work.mkdir(parents=True, exist_ok=True)
    (work / MARKER).touch()


def load_saved(path: str) -> dict:
    """An earlier ``ring_check.json`` for --reanalyse, checked: its link and CPU fits, tokens and
    rate, and every row's P, R, h, u and the control's and hosts' figures, finite and positive.

    Raises:
        ValueError: the file cannot be read or lacks, or has a bad value for, one of them.
    """
    try:
        saved = json.loads(Path(path).read_text())
        numbers = [saved["link"]["h0_ms"], saved["link"]["bw_mb_per_s"], saved["handover_cpu"]["c0"],
                   saved["handover_cpu"]["bw_cpu"], saved["tokens"]]
        if not isinstance(saved["rate"], str):
            raise TypeError(f"rate {saved['rate']!r} is not a string")
        for r in saved["rows"]:
            parse_setting(f"{r['P']}:{r['R']}")
            numbers += [r["h_ms"], r["u_ms"]] + [r[k][f] for k in ("local", "hosts")
                                                  for f in ("loop_s", "wait_s", "kernel_s_per_task", "vocab_size")]
        ok = bool(saved["rows"]) and all(isinstance(x, (int, float)) and np.isfinite(x) and x >= 0 for x in numbers)
    except (OSError, ValueError, KeyError, TypeError, argparse.ArgumentTypeError) as exc:
        raise ValueError(f"--reanalyse {path}: not a ring_check.json ({type(exc).__name__}: {exc})") from None
    if not ok or saved["link"]["bw_mb_per_s"] <= 0 or saved["handover_cpu"]["bw_cpu"] <= 0:
        raise ValueError(f"--reanalyse {path}: a figure is missing, negative or not finite")
    return saved


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--settings", type=parse_setting, nargs="+", default=[(2, 64), (4, 32), (8, 16)])
    parser.add_argument("--tokens", type=int, default=5_100_000)
    parser.add_argument("--rate", default="10gbit", help="the hosts' links (deploy/hosts.sh --rate)")
    parser.add_argument("--work", default="/var/tmp/sw2v-ring-check")
    parser.add_argument("--prefix", default="sw2vr", help="names of the hosts' namespaces and links")
    parser.add_argument("--subnet", default="198.18.9", help="their /24: 198.18.X or 198.19.X")
    parser.add_argument("--reanalyse", metavar="JSON", help="an earlier ring_check.json: compare again, train nothing")
    args = parser.parse_args(argv)
    if args.reanalyse:
        try:
            saved = load_saved(args.reanalyse)
        except ValueError as exc:
            parser.error(str(exc))
        return report(saved["link"], saved["handover_cpu"], saved["tokens"], saved["rate"],
                      [(r["P"], r["R"], r["local"], r["hosts"], r["h_ms"] / 1e3, r["u_ms"] / 1e3) for r in saved["rows"]],
                      None)
    if os.geteuid() != 0:
        parser.error("the hosts need root (network namespaces, veth links, tc)")
    if not re.fullmatch(r"198\.(18|19)\.([01]?\d?\d|2[0-4]\d|25[0-5])", args.subnet):
        parser.error(f"--subnet {args.subnet!r} must be 198.18.X or 198.19.X (inside 198.18.0.0/15)")
    work = Path(args.work)
    try:
        claim_work(work)
    except ValueError as exc:
        parser.error(str(exc))
    state = work / "hosts-state"
    if state.exists():
        parser.error(f"{state} exists: hosts of another ring_check may be up; take them down with SW2V_HOSTS_STATE={state} "
                     f"SW2V_HOSTS_PREFIX={args.prefix} deploy/hosts.sh down, or use another --work")
    python = sys.executable
    env = dict(os.environ, PYSPARK_PYTHON=python, PYTHON=python, SW2V_HOSTS_PREFIX=args.prefix,
               SW2V_HOSTS_SUBNET=args.subnet, SW2V_HOSTS_STATE=str(state))
    corpus = corpus_slice(work, args.tokens)

    for P, R in args.settings:  # the controls first, on a quiet machine
        run([python, str(REPO / "jobs" / "train.py"), "--master", "local[2]", *train_args(corpus, work / f"local-P{P}-R{R}",
                                                                                        P, R)],
            work / f"local-P{P}-R{R}.log", env)
        print(f"ring_check: local[2] P={P} R={R} trained", file=sys.stderr, flush=True)

    hosts = lambda *a, **kw: subprocess.run(["bash", str(HOSTS_SH), *a], capture_output=True, text=True,  # noqa: E731
                                           env=env, **kw)
    serve = None
    try:
        up = hosts("up", str(TASKS), "--rate", args.rate, timeout=300)
        if up.returncode != 0:
            raise SystemExit(f"ring_check: deploy/hosts.sh up failed: {up.stderr[-2000:]}")
        url, conf = up.stdout.strip(), hosts("conf").stdout.strip()
        server_ip = f"{args.subnet}.11"
        serve = subprocess.Popen(["bash", str(HOSTS_SH), "exec", "1", python, str(REPO / "jobs" / "bench_handover.py"),
                                  "serve", "--bind", server_ip, "--port", "5300", "--timeout", "60"],
                                 env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        send = None
        for _ in range(10):  # until the server listens
            time.sleep(1)
            send = hosts("exec", "2", python, str(REPO / "jobs" / "bench_handover.py"), "send", "--to",
                         f"{server_ip}:5300", "--sizes", "0.3,1,3,6,10", "--repeat", "10", timeout=300)
            if send.returncode != 2:
                break
        if send.returncode != 0:
            raise SystemExit(f"ring_check: bench_handover.py send failed: {send.stderr[-2000:]}")
        link = json.loads(send.stdout.strip().splitlines()[-1])["fit"]
        serve.wait(timeout=120)
        submit_env = dict(env, SPARKW2V_ENV_ARCHIVE="", EXECUTOR_PYTHON=python, DRIVER_PYTHON=python,
                          SPARK_SUBMIT_ARGS=f"--executor-memory 1g --conf spark.ui.enabled=false {conf} "
                                            "--conf spark.locality.wait=0")
        for P, R in args.settings:
            run(["bash", str(REPO / "deploy" / "submit.sh"), url, str(REPO / "jobs" / "train.py"),
                 *train_args(corpus, work / f"hosts-P{P}-R{R}", P, R)], work / f"hosts-P{P}-R{R}.log", submit_env)
            print(f"ring_check: hosts P={P} R={R} trained", file=sys.stderr, flush=True)
    finally:
        if serve is not None and serve.poll() is None:
            serve.kill()
            serve.wait()
        down = hosts("down", timeout=300)  # only what this up recorded in its state directory
        print(down.stderr.strip(), file=sys.stderr)
        if down.returncode != 0:
            raise SystemExit(f"ring_check: deploy/hosts.sh down failed ({down.returncode}); see {state} and "
                             "`deploy/hosts.sh status`")

    cpu = cm.measure_handover_cpu()
    runs = []
    for P, R in args.settings:
        local, on_hosts = epoch_figures(work / f"local-P{P}-R{R}"), epoch_figures(work / f"hosts-P{P}-R{R}")
        if on_hosts["bytes_peer"] <= 0 or local["bytes_peer"] != 0 or on_hosts["num_tasks"] != TASKS:
            raise SystemExit(f"ring_check: P={P} R={R}: the hosts' run handed {on_hosts['bytes_peer']} bytes over the "
                             f"network in {on_hosts['num_tasks']} tasks, the control {local['bytes_peer']}: not the "
                             "comparison this job makes")
        block = on_hosts["vocab_size"] * VECTOR_SIZE * 4 / P
        runs.append((P, R, local, on_hosts, link["h0_ms"] / 1e3 + block / (link["bw_mb_per_s"] * 1e6),
                     cm.handover_cpu_seconds(block, cpu)))
    return report(link, cpu, args.tokens, args.rate, runs, work / "ring_check.json")


def report(link: dict, cpu: dict, tokens: int, rate: str, runs: list, out: Path | None) -> int:
    """Compare each (P, R, control figures, hosts' figures, h, u) of ``runs``, print the table and
    write it to ``out`` (JSON) unless None."""
    ids, offsets, counts, _ = cm.load_corpus(tokens)
    keep = cm.vocab.keep_probabilities(counts, 1e-4)
    rows = []
    for P, R, local, on_hosts, h, u in runs:
        strata = cm.measure_blocks(P, ids, offsets, counts, keep, [TASKS], VECTOR_SIZE)["strata"]
        rows.append(compare(P, R, local, on_hosts, h, u, strata / strata.sum()))
    print(f"link {rate} between the hosts: h0 {link['h0_ms']:.2f} ms, bw {link['bw_mb_per_s']:.0f} MB/s; hand-over "
          f"CPU (both ends, in-process): c0 {cpu['c0'] * 1e3:.2f} ms, {cpu['bw_cpu'] / 1e6:.0f} MB/s; "
          f"{tokens} tokens, {EPOCHS} epochs, medians of epochs 2-{EPOCHS}")
    print("| P | R | h ms | u ms | control kernel s/task | control loop s | leftover s | hosts kernel s/task | "
          "hosts waits s | hosts loop s | model loop s | model, no CPU | loop / model | cpu_factor |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['P']} | {r['R']} | {r['h_ms']:.1f} | {r['u_ms']:.1f} | {r['local']['kernel_s_per_task']:.2f} | "
              f"{r['local']['loop_s']:.2f} | {r['leftover_s']:.2f} | {r['hosts']['kernel_s_per_task']:.2f} | "
              f"{r['hosts']['wait_s']:.2f} | {r['hosts']['loop_s']:.2f} | {r['predicted_loop_s']:.2f} | "
              f"{r['predicted_loop_no_cpu_s']:.2f} | {r['hosts']['loop_s'] / r['predicted_loop_s']:.2f} | "
              f"{r['cpu_factor']:.2f} |")
    if out is not None:
        out.write_text(json.dumps({"link": link, "handover_cpu": cpu, "tokens": tokens, "rate": rate, "rows": rows},
                                  indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
