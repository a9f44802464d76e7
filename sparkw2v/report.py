"""A training report a person opens: PNG plots of a model's ``metadata.json`` and an HTML page.

``write_report(model_dir, out)`` reads the model's ``metadata.json`` (as ``jobs/train.py``
writes it: ``cycles``, ``corpus`` with its per-epoch ``epochs``, ``config``) and writes into
the directory ``out`` (default ``MODEL_DIR.report``, beside the model: a model directory is
sparkw2v's and complete once ``_SUCCESS`` is in it, so nothing is ever written into it;
``jobs/train.py`` writes the same report into the model it is building, as ``MODEL_DIR/report``,
with :func:`write_training_report`, before the model is committed):

- ``loss.png``: the mean SGNS loss (nats per pair) of every cycle and the learning rate alpha;
- ``throughput.png``: training words/s of each epoch and cumulative, over the training time;
- ``stages.png``: seconds of the run's stages (vocabulary, encode, each epoch) and, per epoch,
  the tasks' stages (pairs read, arrange, load, kernel, wait for W' blocks, write);
- ``memory.png``: peak memory per role, only when the metadata records it (``memory``: role ->
  bytes, or role -> {"peak_rss_bytes": bytes}); otherwise the page says it is not recorded;
- ``index.html``: the plots with a line on what each shows, the run's settings, the corpus
  statistics and, when given (or found as ``MODEL_DIR.evaluation.json``), the evaluation
  summary (``jobs/evaluate.py --json FILE``).

matplotlib (the optional extra ``report``) draws the plots, on Figure objects of its Agg
canvas: pyplot and its global backend are never touched.
"""

from __future__ import annotations

import html
import io
import json
import os
from typing import Any

import numpy as np

from . import storage
from .embeddings import METADATA, read_metadata as read_model_metadata, validate_model_dir
from .errors import InputError, ModelFormatError, SparkW2VError

REPORT_SUFFIX = ".report"
MODEL_REPORT = "report"  # the report training writes into the model it builds
EVALUATION_SUFFIX = ".evaluation.json"
INDEX = "index.html"
LOSS_PNG = "loss.png"
THROUGHPUT_PNG = "throughput.png"
STAGES_PNG = "stages.png"
MEMORY_PNG = "memory.png"
# every file the report may write: --overwrite replaces these (and removes the stale ones), no other
FILES = (INDEX, LOSS_PNG, THROUGHPUT_PNG, STAGES_PNG, MEMORY_PNG)
INSTALL_HINT = "pip install 'sparkw2v[report]'"
DPI = 100
FIGSIZE = (9.0, 4.5)  # inches: 900 x 450 pixels at DPI
# the task stages of an epoch (metadata key in task_timings_max -> label); kernel and wait come
# from the epoch's kernel_seconds_critical_path and wait_seconds_max_task
TASK_STAGES = (("pairs_read_seconds", "pairs read"), ("arrange_seconds", "arrange"),
               ("load_seconds", "load"), ("kernel", "kernel"), ("wait", "wait (W' blocks)"),
               ("write_seconds", "write"))


class MissingExtraError(SparkW2VError, ImportError):
    """An optional extra (a package sparkw2v does not depend on) is needed and not installed."""


def matplotlib_available() -> bool:
    """True when matplotlib (the extra ``report``) can be imported."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _figure(ncols: int = 1):
    """(Figure, axes) on matplotlib's Agg canvas, without pyplot.

    Raises:
        MissingExtraError: matplotlib is not installed (names the pip command).
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingExtraError(f"the report needs matplotlib, which is not installed: {INSTALL_HINT}") from None
    fig = Figure(figsize=(FIGSIZE[0], FIGSIZE[1]), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, ncols)
    return fig, axes


def default_out(model_dir: str) -> str:
    """The report directory beside ``model_dir``: ``MODEL_DIR.report``."""
    return model_dir.rstrip("/") + REPORT_SUFFIX


def default_evaluation(model_dir: str) -> str:
    """Where the report looks for an evaluation beside the model: ``MODEL_DIR.evaluation.json``."""
    return model_dir.rstrip("/") + EVALUATION_SUFFIX


# ---------------------------------------------------------------------------------------------
# reading


def read_metadata(model_dir: str) -> dict:
    """The ``metadata.json`` of the complete model ``model_dir``, checked to hold what the
    report plots: a non-empty ``cycles`` list of records with ``epoch``, ``cycle``, ``loss``,
    ``alpha_start``, ``alpha_end`` (numbers).

    Raises:
        IncompleteModelError: ``model_dir`` is missing or has no ``_SUCCESS`` marker.
        ModelFormatError: not a model, metadata.json unreadable or not an object, no cycles
            (a model not written by jobs/train.py), a cycle record lacking a field.
    """
    validate_model_dir(model_dir)
    meta = read_model_metadata(model_dir)
    cycles = meta.get("cycles")
    if not isinstance(cycles, list) or not cycles:
        raise ModelFormatError(f"model {model_dir!r}: {METADATA} records no training cycles ('cycles'): the "
                               "report plots what jobs/train.py records; give a model trained by it")
    for i, c in enumerate(cycles):
        bad = [k for k in ("epoch", "cycle", "loss", "alpha_start", "alpha_end")
               if not isinstance(c, dict) or isinstance(c.get(k), bool) or not isinstance(c.get(k), (int, float))]
        if bad:
            raise ModelFormatError(f"model {model_dir!r}: {METADATA} cycle record {i} lacks the number(s) "
                                   f"{', '.join(bad)}: the metadata is damaged; train the model again")
    return meta


def read_evaluation(path: str) -> dict:
    """An evaluation written by ``jobs/evaluate.py --json FILE`` (a JSON object).

    Raises:
        InputError: the file is missing, not JSON, or not an object.
    """
    fs, p = storage.url_to_fs(path)
    if not fs.exists(p):
        raise InputError(f"--evaluation {path!r} does not exist: give a file written by jobs/evaluate.py --json FILE")
    try:
        with fs.open(p, "r") as fh:
            data = json.load(fh)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"--evaluation {path!r} is not JSON ({' '.join(str(exc).split())[:120]}): give a file "
                         "written by jobs/evaluate.py --json FILE") from None
    if not isinstance(data, dict):
        raise InputError(f"--evaluation {path!r} is not a JSON object: give a file written by jobs/evaluate.py "
                         "--json FILE")
    return data


def cycle_series(meta: dict) -> dict[str, np.ndarray]:
    """Per cycle, in training order: ``x0``/``x1`` (float64, epochs elapsed at the cycle's start
    and end), ``epoch`` (int), ``pairs`` (float64, the cycle's training pairs; 1 when not
    recorded), ``loss`` (mean SGNS loss, nats per pair), ``alpha_start``, ``alpha_end``."""
    cycles = sorted(meta["cycles"], key=lambda c: (c["epoch"], c["cycle"]))
    per_epoch: dict[int, int] = {}
    for c in cycles:
        per_epoch[c["epoch"]] = max(per_epoch.get(c["epoch"], 0), c["cycle"] + 1)
    # R as resolved (corpus statistics; a default R is 0 in the configuration), else as configured
    declared = next((section.get("cycles_per_epoch") for section in (meta.get("corpus"), meta.get("config"))
                     if isinstance(section, dict) and section.get("cycles_per_epoch")), None)
    x0, x1 = [], []
    for c in cycles:
        r = max(per_epoch[c["epoch"]], declared if isinstance(declared, int) and declared > 0 else 0)
        x0.append(c["epoch"] + c["cycle"] / r)
        x1.append(c["epoch"] + (c["cycle"] + 1) / r)
    pairs = [c.get("pairs") if isinstance(c.get("pairs"), (int, float)) and c.get("pairs") > 0 else 1 for c in cycles]
    return {"x0": np.array(x0), "x1": np.array(x1),
            "epoch": np.array([c["epoch"] for c in cycles], int), "pairs": np.array(pairs, float),
            "loss": np.array([c["loss"] for c in cycles], float),
            "alpha_start": np.array([c["alpha_start"] for c in cycles], float),
            "alpha_end": np.array([c["alpha_end"] for c in cycles], float)}


def epoch_losses(series: dict[str, np.ndarray]) -> list[tuple[int, float]]:
    """(epoch, mean SGNS loss of its cycles weighted by their pairs), in epoch order."""
    out = []
    for e in np.unique(series["epoch"]):
        sel = series["epoch"] == e
        out.append((int(e), float(np.average(series["loss"][sel], weights=series["pairs"][sel]))))
    return out


def epoch_records(meta: dict) -> list[dict]:
    """The per-epoch statistics (``corpus.epochs``) that have ``seconds``, in epoch order;
    [] when the metadata has none."""
    corpus = meta.get("corpus") if isinstance(meta.get("corpus"), dict) else {}
    epochs = corpus.get("epochs") if isinstance(corpus.get("epochs"), list) else []
    return sorted((e for e in epochs if isinstance(e, dict) and isinstance(e.get("seconds"), (int, float))),
                  key=lambda e: e.get("epoch", 0))


def throughput_series(meta: dict) -> dict[str, np.ndarray] | None:
    """Per epoch: ``start``/``end`` (seconds of training elapsed), ``epoch_wps`` (words/s of the
    epoch), ``cumulative_wps`` (words trained so far / seconds so far); None without epochs."""
    epochs = epoch_records(meta)
    if not epochs:
        return None
    words = meta["corpus"].get("train_words_per_epoch")
    seconds = np.array([e["seconds"] for e in epochs], float)
    end = np.cumsum(seconds)
    wps = np.array([e.get("words_per_sec") if isinstance(e.get("words_per_sec"), (int, float))
                    else (words or 0) / max(e["seconds"], 1e-9) for e in epochs], float)
    done = np.cumsum(wps * seconds)  # words trained so far
    return {"epoch": np.array([e.get("epoch", i) for i, e in enumerate(epochs)]), "start": end - seconds,
            "end": end, "epoch_wps": wps, "cumulative_wps": done / np.maximum(end, 1e-9)}


def run_stages(meta: dict) -> list[tuple[str, float]]:
    """(stage, seconds) of the run: vocabulary, encode (when recorded), then each epoch."""
    corpus = meta.get("corpus") if isinstance(meta.get("corpus"), dict) else {}
    out = [(name, float(corpus[key])) for key, name in (("vocabulary_seconds", "vocabulary"),
                                                        ("encode_seconds", "encode"))
           if isinstance(corpus.get(key), (int, float))]
    return out + [(f"epoch {e.get('epoch', i) + 1}", float(e["seconds"])) for i, e in enumerate(epoch_records(meta))]


def task_stages(meta: dict) -> dict[str, np.ndarray] | None:
    """Per epoch, seconds of each task stage (TASK_STAGES labels -> (epochs,) float64), each the
    slowest task's; ``other`` = the slowest task's time not in them (>= 0); ``epoch`` = the
    epoch's wall-clock seconds. None when the metadata has no task timings."""
    epochs = [e for e in epoch_records(meta) if isinstance(e.get("task_timings_max"), dict)]
    if not epochs:
        return None
    out: dict[str, list[float]] = {label: [] for _, label in TASK_STAGES}
    out["other"], out["epoch"] = [], []
    for e in epochs:
        t = e["task_timings_max"]
        values = {"kernel": e.get("kernel_seconds_critical_path", 0.0), "wait": e.get("wait_seconds_max_task", 0.0)}
        shown = 0.0
        for key, label in TASK_STAGES:
            v = float(values[key] if key in values else t.get(key, 0.0) + (t.get("tables_seconds", 0.0)
                                                                          if key == "load_seconds" else 0.0))
            out[label].append(v)
            shown += v
        out["other"].append(max(float(t.get("task_seconds", 0.0)) - shown, 0.0))
        out["epoch"].append(float(e["seconds"]))
    return {k: np.array(v, float) for k, v in out.items()}


def memory_per_role(meta: dict) -> dict[str, float] | None:
    """Peak bytes per role (driver, executor, ...) when the metadata records ``memory``
    (role -> bytes, or role -> {"peak_rss_bytes": bytes}); None when it does not."""
    memory = meta.get("memory")
    if not isinstance(memory, dict):
        return None
    out = {}
    for role, v in memory.items():
        if isinstance(v, dict):
            v = v.get("peak_rss_bytes")
        if isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0:
            out[str(role)] = float(v)
    return out or None


# ---------------------------------------------------------------------------------------------
# plots: each returns the PNG's bytes


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def plot_loss(series: dict[str, np.ndarray]) -> bytes:
    """Mean SGNS loss per cycle and per epoch (left axis) and alpha over the cycles (right
    axis), by epochs elapsed; dotted lines at epoch boundaries."""
    fig, ax = _figure()
    mid = (series["x0"] + series["x1"]) / 2
    ax.plot(mid, series["loss"], marker=".", color="tab:blue", label="mean SGNS loss per cycle")
    for i, (e, loss) in enumerate(epoch_losses(series)):
        sel = series["epoch"] == e
        ax.hlines(loss, series["x0"][sel].min(), series["x1"][sel].max(), color="navy", linewidth=2,
                  label="mean loss of the epoch" if i == 0 else None)
    ax.set_xlabel("epochs trained")
    ax.set_ylabel("loss (nats per pair)", color="tab:blue")
    for b in range(1, int(np.ceil(series["x1"].max()))):
        ax.axvline(b, color="grey", linestyle=":", linewidth=0.8)
    right = ax.twinx()
    xs = np.column_stack([series["x0"], series["x1"]]).reshape(-1)
    alphas = np.column_stack([series["alpha_start"], series["alpha_end"]]).reshape(-1)
    right.plot(xs, alphas, color="tab:orange", label="learning rate alpha")
    right.set_ylabel("alpha", color="tab:orange")
    right.set_ylim(bottom=0)
    ax.set_title("Training loss and learning rate per cycle")
    lines = ax.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    ax.legend(lines, [ln.get_label() for ln in lines], loc="upper right")
    return _png(fig)


def plot_throughput(series: dict[str, np.ndarray]) -> bytes:
    """Words/s of each epoch (a step over the epoch's interval) and cumulative words/s, against
    seconds of training elapsed."""
    fig, ax = _figure()
    xs = np.column_stack([series["start"], series["end"]]).reshape(-1)
    ys = np.repeat(series["epoch_wps"], 2)
    ax.plot(xs, ys, color="tab:blue", label="words/s of the epoch")
    ax.plot(np.concatenate([[series["start"][0]], series["end"]]),
            np.concatenate([[series["cumulative_wps"][0]], series["cumulative_wps"]]),
            color="tab:green", marker="o", linestyle="--", label="cumulative words/s")
    for e, s, w in zip(series["epoch"], series["start"], series["epoch_wps"]):
        ax.annotate(f"epoch {int(e) + 1}", (s, w), textcoords="offset points", xytext=(4, 4), fontsize=8)
    from matplotlib.ticker import FuncFormatter

    ax.set_xlabel("seconds of training")
    ax.set_ylabel("training words per second")
    top = float(max(series["epoch_wps"].max(), series["cumulative_wps"].max()))
    ax.set_ylim(0, 1.15 * top if top > 0 else 1.0)  # room for the epoch labels below the title
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))  # no "1e6" offset over the title
    ax.set_title("Throughput")
    ax.legend(loc="lower right")
    return _png(fig)


def plot_stages(stages: list[tuple[str, float]], tasks: dict[str, np.ndarray] | None) -> bytes:
    """Left: seconds of each stage of the run. Right (with task timings): per epoch, the task
    stages stacked (each its slowest task's seconds) and the epoch's wall-clock seconds."""
    fig, axes = _figure(2 if tasks is not None else 1)
    left = axes[0] if tasks is not None else axes
    names = [n for n, _ in stages]
    left.barh(names, [s for _, s in stages], color="tab:blue")
    left.invert_yaxis()
    left.set_xlabel("seconds")
    left.set_title("Stages of the run")
    if tasks is not None:
        right = axes[1]
        x = np.arange(len(tasks["epoch"])) + 1
        bottom = np.zeros(len(x))
        for label in [label for _, label in TASK_STAGES] + ["other"]:
            right.bar(x, tasks[label], bottom=bottom, label=label)
            bottom += tasks[label]
        right.plot(x, tasks["epoch"], "k_", markersize=20, markeredgewidth=2, label="epoch (wall clock)")
        right.set_xticks(x)
        right.set_xlabel("epoch")
        right.set_ylabel("seconds (each stage: its slowest task)")
        right.set_ylim(top=1.45 * max(bottom.max(), tasks["epoch"].max()))
        right.set_title("Task stages per epoch")
        right.legend(fontsize=7, loc="upper center", ncol=3)
    return _png(fig)


def plot_memory(memory: dict[str, float]) -> bytes:
    """Peak memory (MiB) per role."""
    fig, ax = _figure()
    ax.bar(list(memory), [v / 2**20 for v in memory.values()], color="tab:purple")
    ax.set_ylabel("peak memory (MiB)")
    ax.set_title("Memory per role")
    return _png(fig)


# ---------------------------------------------------------------------------------------------
# the page


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, (dict, list)):
        return json.dumps(v)
    return str(v)


def _table(rows: list[tuple[str, Any]], cls: str) -> str:
    body = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(_fmt(v))}</td></tr>" for k, v in rows)
    return f'<table class="{cls}">{body}</table>'


def _pct(v) -> str:
    return "-" if not isinstance(v, (int, float)) else f"{100 * v:.1f}%"


def evaluation_html(ev: dict) -> str:
    """The evaluation's summary as HTML: analogy accuracy, Spearman's rho per file, neighbours."""
    parts = []
    if isinstance(ev.get("vocab_size"), int):
        parts.append(f"<p>{ev['vocab_size']} words in the model.</p>")
    a = ev.get("analogies")
    if isinstance(a, dict):
        parts.append("<p>Analogies: " + html.escape(
            f"{_pct(a.get('accuracy'))} (semantic {_pct(a.get('semantic'))}, syntactic {_pct(a.get('syntactic'))}) "
            f"of {a.get('evaluated', '?')} questions; {a.get('skipped', '?')} skipped (a word outside the "
            f"{a.get('restrict_vocab', '?')} most frequent)") + "</p>")
    sim = ev.get("similarity")
    if isinstance(sim, dict) and sim:
        rows = []
        for path, s in sim.items():
            s = s if isinstance(s, dict) else {}
            rho = s.get("spearman")
            rows.append((os.path.basename(str(path)) or path,
                         f"Spearman rho {'undefined' if not isinstance(rho, (int, float)) else f'{rho:.3f}'} over "
                         f"{s.get('pairs', '?')} pairs; {s.get('skipped', '?')} skipped"))
        parts.append(_table(rows, "eval"))
    nb = ev.get("neighbors")
    if isinstance(nb, dict) and nb:
        rows = [(w, "not in the vocabulary" if not isinstance(n, list) else
                 ", ".join(f"{p[0]} {p[1]:.3f}" for p in n
                            if isinstance(p, list) and len(p) == 2 and isinstance(p[1], (int, float))))
                for w, n in nb.items()]
        parts.append(_table(rows, "eval"))
    return "\n".join(parts) or "<p>The evaluation file holds no results.</p>"


_CSS = ("body{font-family:sans-serif;max-width:980px;margin:2em auto;color:#222}"
        "img{max-width:100%;border:1px solid #ddd}table{border-collapse:collapse;margin:0.5em 0}"
        "th,td{border:1px solid #ccc;padding:2px 8px;text-align:left;font-size:90%}th{background:#f4f4f4}"
        "figure{margin:1.5em 0}figcaption{font-size:95%;margin-top:0.3em}")


def _page(model_dir: str, meta: dict, figures: list[tuple[str, str, str]], memory_note: str | None,
          evaluation: tuple[str, dict] | None) -> str:
    corpus = meta.get("corpus") if isinstance(meta.get("corpus"), dict) else {}
    config = meta.get("config") if isinstance(meta.get("config"), dict) else {}
    run = [(k, meta[k]) for k in ("sparkw2v_version", "spark_version", "master", "input", "num_blocks", "resumed")
           if k in meta]
    out = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>sparkw2v report: {html.escape(model_dir)}"
           f"</title><style>{_CSS}</style></head><body>",
           f"<h1>Training report</h1><p>Model <code>{html.escape(model_dir)}</code></p>"]
    for file, title, caption in figures:
        out.append(f"<figure><h2>{html.escape(title)}</h2>"
                   f"<img src=\"{html.escape(file)}\" alt=\"{html.escape(title)}\">"
                   f"<figcaption>{html.escape(caption)}</figcaption></figure>")
    if memory_note:
        out.append(f"<h2>Memory per role</h2><p>{html.escape(memory_note)}</p>")
    out.append("<h2>Evaluation</h2>")
    if evaluation is None:
        out.append("<p>No evaluation given (run <code>jobs/evaluate.py --json "
                   f"{html.escape(default_evaluation(model_dir))}</code> and make the report again, or pass "
                   "<code>--evaluation FILE</code>).</p>")
    else:
        out.append(f"<p>From <code>{html.escape(evaluation[0])}</code>.</p>" + evaluation_html(evaluation[1]))
    out.append("<h2>Run</h2>" + _table(run, "run"))
    out.append("<h2>Settings</h2>" + _table(sorted(config.items()), "config"))
    stats = [(k, v) for k, v in corpus.items() if k != "epochs"]
    if stats:
        out.append("<h2>Corpus and run statistics</h2>" + _table(stats, "corpus"))
    out.append("</body></html>\n")
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------
# writing


def check_out(out: str, model_dir: str, overwrite: bool) -> None:
    """Refuse an output directory that would touch the model or a user's files.

    Raises:
        InputError: ``out`` is, contains or lies inside the model directory (sparkw2v's, never
            written after training), is in this process's memory (``memory://``), or is a file.
        OutputExistsError: ``out`` exists and is not empty, and ``overwrite`` is False.
    """
    storage.check_distinct(model_dir, out, "--out")
    storage.check_durable(out, "--out")
    storage.check_output_directory(out, "the report", FILES, overwrite)


def summary(meta: dict) -> dict[str, Any]:
    """The numbers the captions quote: first and last cycle loss, mean and per-epoch words/s,
    the slowest stage of the run and of the tasks."""
    s = cycle_series(meta)
    out: dict[str, Any] = {"loss_first": float(s["loss"][0]), "loss_last": float(s["loss"][-1]),
                           "loss_min": float(s["loss"].min()), "cycles": int(len(s["loss"])),
                           "alpha_first": float(s["alpha_start"][0]), "alpha_last": float(s["alpha_end"][-1]),
                           "loss_epochs": [round(v, 4) for _, v in epoch_losses(s)]}
    t = throughput_series(meta)
    if t is not None:
        out["words_per_sec_epochs"] = [round(float(w)) for w in t["epoch_wps"]]
        out["words_per_sec_overall"] = round(float(t["cumulative_wps"][-1]))
        out["train_seconds"] = round(float(t["end"][-1]), 1)
    stages = run_stages(meta)
    if stages:
        name, sec = max(stages, key=lambda x: x[1])
        out["slowest_stage"] = [name, round(sec, 1)]
    tasks = task_stages(meta)
    if tasks is not None:
        labels = [label for _, label in TASK_STAGES] + ["other"]
        totals = {label: float(tasks[label].sum()) for label in labels}
        top = max(totals, key=totals.get)
        share = totals[top] / max(sum(totals.values()), 1e-9)
        out["slowest_task_stage"] = [top, round(totals[top], 1), round(share, 3)]
    return out


def write_report(model_dir: str, out: str | None = None, evaluation: str | None = None,
                 overwrite: bool = False) -> dict[str, Any]:
    """Write the report of the model ``model_dir`` into the directory ``out``.

    Args:
        out: the report's directory (local path or fsspec URL); default ``MODEL_DIR.report``.
        evaluation: a ``jobs/evaluate.py --json`` file to summarise; default
            ``MODEL_DIR.evaluation.json`` when it exists.
        overwrite: replace the report's own files (``FILES``) in a non-empty ``out``.

    Returns:
        {"report": out, "index": out/index.html, "plots": [PNG paths], "memory": "recorded" |
        "not recorded", "evaluation": the file summarised or None, "summary": :func:`summary`}.

    Raises:
        IncompleteModelError, ModelFormatError: see :func:`read_metadata`.
        InputError: bad ``out`` or ``evaluation`` (see :func:`check_out`, :func:`read_evaluation`).
        OutputExistsError: ``out`` is not empty and ``overwrite`` is False.
        MissingExtraError: matplotlib is not installed.
    """
    if not matplotlib_available():
        raise MissingExtraError(f"the report needs matplotlib, which is not installed: {INSTALL_HINT}")
    meta = read_metadata(model_dir)
    out = out or default_out(model_dir)
    check_out(out, model_dir, overwrite)
    ev = None
    if evaluation is not None:
        ev = (evaluation, read_evaluation(evaluation))
    else:
        beside = default_evaluation(model_dir)
        fs, p = storage.url_to_fs(beside)
        if fs.isfile(p):
            ev = (beside, read_evaluation(beside))
    return _render(model_dir, meta, out, ev)


def write_training_report(model_dir: str) -> dict[str, Any]:
    """The report of a model that training is finishing, written into it (``MODEL_DIR/report``):
    ``jobs/train.py`` calls it on the model it is building, before the model is committed
    (so the report is one of the model's own entries; a complete model is never written to).

    Returns:
        as :func:`write_report`.

    Raises:
        MissingExtraError: matplotlib is not installed; IncompleteModelError,
        ModelFormatError: see :func:`read_metadata`; OutputWriteError: the report could not be
        written.
    """
    if not matplotlib_available():
        raise MissingExtraError(f"the report needs matplotlib, which is not installed: {INSTALL_HINT}")
    return _render(model_dir, read_metadata(model_dir), storage.child(model_dir, MODEL_REPORT), None)


def _render(model_dir: str, meta: dict, out: str, ev: tuple | None) -> dict[str, Any]:
    """Draw the plots of ``meta`` and write them and the page into ``out``."""
    numbers = summary(meta)
    pngs: dict[str, bytes] = {LOSS_PNG: plot_loss(cycle_series(meta))}
    figures = [(LOSS_PNG, "Loss and learning rate",
                f"The mean SGNS loss (nats per training pair) of each of the {numbers['cycles']} cycles, from "
                f"{numbers['loss_first']:.3f} in the first to {numbers['loss_last']:.3f} in the last (lowest "
                f"{numbers['loss_min']:.3f}); thick lines: the mean of each epoch ("
                + ", ".join(f"{v:.3f}" for v in numbers["loss_epochs"])
                + f"). Alpha goes from {numbers['alpha_first']:.4g} to {numbers['alpha_last']:.4g}. "
                "Dotted lines: epoch boundaries.")]
    t = throughput_series(meta)
    if t is not None:
        pngs[THROUGHPUT_PNG] = plot_throughput(t)
        figures.append((THROUGHPUT_PNG, "Words per second",
                        "Training words per second of each epoch (solid: "
                        + ", ".join(f"{w:,}" for w in numbers["words_per_sec_epochs"])
                        + f") and of the run so far (dashed), over {numbers['train_seconds']} s of training; "
                        f"{numbers['words_per_sec_overall']:,} words/s overall."))
    stages = run_stages(meta)
    tasks = task_stages(meta)
    if stages:
        pngs[STAGES_PNG] = plot_stages(stages, tasks)
        caption = (f"Seconds of each stage of the run (slowest: {numbers['slowest_stage'][0]}, "
                   f"{numbers['slowest_stage'][1]} s)")
        if tasks is not None:
            name, sec, share = numbers["slowest_task_stage"]
            caption += (f"; right: per epoch, each task stage's slowest task (stacked) against the epoch's wall "
                        f"clock (black) -- {name} takes the most, {sec} s over all epochs ({100 * share:.0f}% of "
                        "the stacked time)")
        figures.append((STAGES_PNG, "Seconds per stage", caption + "."))
    memory = memory_per_role(meta)
    memory_note = None
    if memory is not None:
        pngs[MEMORY_PNG] = plot_memory(memory)
        figures.append((MEMORY_PNG, "Memory per role", "Peak memory of each role: " + ", ".join(
            f"{r} {v / 2**20:,.0f} MiB" for r, v in memory.items()) + "."))
    else:
        memory_note = (f"Not recorded: this model's {METADATA} has no memory figures (no 'memory' entry), so "
                       "there is no memory plot.")
    page = _page(model_dir, meta, figures, memory_note, ev)
    fs, path = storage.url_to_fs(out)
    with storage.output_errors(f"writing the report {out}", "make it writable or choose another --out"):
        fs.makedirs(path, exist_ok=True)
        for name in FILES:  # stale files of an earlier report (--overwrite): a plot not made now
            if name not in pngs and name != INDEX and fs.exists(storage.join(fs, path, name)):
                fs.rm(storage.join(fs, path, name))
        for name, data in pngs.items():
            with fs.open(storage.join(fs, path, name), "wb") as fh:
                fh.write(data)
        with fs.open(storage.join(fs, path, INDEX), "w", encoding="utf-8") as fh:
            fh.write(page)
    return {"report": out, "index": storage.child(out, INDEX), "plots": [storage.child(out, n) for n in pngs],
            "memory": "recorded" if memory is not None else "not recorded",
            "evaluation": ev[0] if ev else None, "summary": numbers}
