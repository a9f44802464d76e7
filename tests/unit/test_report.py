"""The training report (sparkw2v.report, jobs/report.py): PNGs that are real, non-blank images
of the metadata, an HTML page holding them with the settings, and refusals in one line."""

import json
import re
import struct
import sys

import numpy as np
import pytest

from sparkw2v import report
from sparkw2v.embeddings import write_model
from tests.jobs_util import load_job, run_job

needs_matplotlib = pytest.mark.skipif(not report.matplotlib_available(),
                                      reason="matplotlib (extra 'report') not installed")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TAB_BLUE, TAB_GREEN, TAB_RED = (31, 119, 180), (44, 160, 44), (214, 39, 40)


def fake_metadata(epochs: int = 2, cycles: int = 4) -> dict:
    """A metadata.json shaped like jobs/train.py's (the fields the report reads, and others)."""
    alpha, min_alpha = 0.025, 0.0001
    recs = []
    for e in range(epochs):
        for c in range(cycles):
            p0, p1 = (e * cycles + c) / (epochs * cycles), (e * cycles + c + 1) / (epochs * cycles)
            recs.append({"epoch": e, "cycle": c, "progress": p1, "pairs": 1000 + c,
                         "loss": 3.0 - 0.1 * (e * cycles + c), "alpha_start": alpha - (alpha - min_alpha) * p0,
                         "alpha_end": alpha - (alpha - min_alpha) * p1, "kernel_seconds": 1.5,
                         "wait_seconds": 0.1})
    timings = {"arrange_seconds": 0.5, "compact_pairs": 1.0, "load_seconds": 0.2, "pairs_read_seconds": 0.4,
               "ring_setup_seconds": 1e-5, "tables_seconds": 0.05, "task_seconds": 9.0, "train_seconds": 7.5,
               "write_seconds": 0.3}
    epoch_stats = [{"epoch": e, "seconds": 10.0 - e, "pairs": 4000, "words_per_sec": 1000.0 / (10.0 - e),
                    "kernel_seconds_critical_path": 6.0, "kernel_seconds_total": 11.0, "wait_seconds_total": 0.8,
                    "wait_seconds_max_task": 0.5, "bytes_ring": 1000, "task_timings_max": dict(timings),
                    "ring": "shared_memory"} for e in range(epochs)]
    return {"sparkw2v_version": "0.1.0", "spark_version": "4.3.0", "master": "local[2]", "input": "corpus.parquet",
            "config": {"vector_size": 4, "window": 5, "negative": 5, "alpha": alpha, "min_alpha": min_alpha,
                       "epochs": epochs, "num_blocks": 2, "cycles_per_epoch": cycles, "seed": 1},
            "num_blocks": 2,
            "corpus": {"corpus_tokens": 1100, "vocab_size": 3, "train_words_per_epoch": 1000, "epochs_trained": epochs,
                       "words_per_sec": 110.0, "vocabulary_seconds": 2.5, "encode_seconds": 3.5,
                       "train_seconds": sum(s["seconds"] for s in epoch_stats), "epochs": epoch_stats},
            "resumed": False, "cycles": recs}


def make_model(path, metadata=None) -> str:
    rng = np.random.default_rng(0)
    W = rng.normal(size=(3, 4)).astype(np.float32)
    write_model(str(path), ["the", "cat", "sat"], np.array([5, 3, 2]), W, W * 0.5,
                fake_metadata() if metadata is None else metadata)
    return str(path)


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from the IHDR chunk, which a PNG has first."""
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def check_png(path, colors=()) -> None:
    """A PNG of at least 600 x 300 pixels, not blank, showing each of ``colors`` (a drawn line
    or bar: at least 400 pixels within 10 of the RGB colour; an axis label of that colour has
    about 100)."""
    import matplotlib.image

    data = path.read_bytes()
    width, height = png_size(data)
    assert width >= 600 and height >= 300, (width, height)
    pixels = matplotlib.image.imread(str(path))
    assert pixels.shape[:2] == (height, width)
    rgb = np.round(pixels[..., :3] * 255)
    assert rgb.var() > 0
    for color in colors:
        close = (np.abs(rgb - np.array(color)) <= 10).all(axis=-1).sum()
        assert close >= 400, (path.name, color, close)


def files(path) -> set[str]:
    return {p.name for p in path.iterdir()}


@pytest.fixture
def job():
    return load_job("report")


@needs_matplotlib
def test_report_writes_the_plots_and_the_page(tmp_path, job, capsys):
    model = make_model(tmp_path / "model")
    before = files(tmp_path / "model")
    code = job.main([model])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    target = tmp_path / "model.report"  # beside the model, never in it
    assert out["report"] == str(target)
    assert files(tmp_path / "model") == before
    assert files(target) == {"index.html", "loss.png", "throughput.png", "stages.png"}
    check_png(target / "loss.png", [TAB_BLUE])
    check_png(target / "throughput.png", [TAB_BLUE, TAB_GREEN])
    check_png(target / "stages.png", [TAB_BLUE, TAB_RED])
    page = (target / "index.html").read_text()
    assert set(re.findall(r'<img src="([^"]+)"', page)) == {"loss.png", "throughput.png", "stages.png"}
    for key, value in fake_metadata()["config"].items():
        assert re.search(rf"<th>{key}</th><td>{re.escape(str(value))}</td>", page), key
    assert "Memory per role" in page and "Not recorded" in page  # and no memory plot
    assert "No evaluation given" in page
    # the captions quote the metadata's numbers
    assert out["summary"]["loss_first"] == 3.0 and out["summary"]["loss_last"] == pytest.approx(2.3)
    assert "from 3.000 in the first to 2.300 in the last" in page
    assert out["summary"]["words_per_sec_epochs"] == [100, 111]
    assert out["summary"]["slowest_stage"] == ["epoch 1", 10.0]
    assert out["summary"]["slowest_task_stage"][0] == "kernel"


def test_series_follow_the_metadata():
    meta = fake_metadata(epochs=2, cycles=4)
    s = report.cycle_series(meta)
    np.testing.assert_allclose(s["x1"], np.arange(1, 9) / 4)
    np.testing.assert_allclose(s["loss"], 3.0 - 0.1 * np.arange(8))
    first = np.average(3.0 - 0.1 * np.arange(4), weights=[1000, 1001, 1002, 1003])
    assert report.epoch_losses(s)[0][1] == pytest.approx(first)
    t = report.throughput_series(meta)
    np.testing.assert_allclose(t["end"], [10.0, 19.0])
    np.testing.assert_allclose(t["cumulative_wps"], [100.0, 2000.0 / 19.0])
    assert report.run_stages(meta) == [("vocabulary", 2.5), ("encode", 3.5), ("epoch 1", 10.0), ("epoch 2", 9.0)]
    tasks = report.task_stages(meta)
    np.testing.assert_allclose(tasks["kernel"], [6.0, 6.0])
    # the default R (0 in the configuration) as the run resolved it: an epoch whose last cycles
    # are missing still ends at its own R, not at the cycles recorded
    meta = fake_metadata(epochs=2, cycles=4)
    meta["config"]["cycles_per_epoch"], meta["corpus"]["cycles_per_epoch"] = 0, 4
    meta["cycles"] = meta["cycles"][:6]
    np.testing.assert_allclose(report.cycle_series(meta)["x1"], np.arange(1, 7) / 4)
    np.testing.assert_allclose(tasks["load"], [0.25, 0.25])  # load + tables
    np.testing.assert_allclose(tasks["other"], [9.0 - (0.4 + 0.5 + 0.25 + 6.0 + 0.5 + 0.3)] * 2)


@needs_matplotlib
def test_memory_plot_when_recorded(tmp_path):
    meta = fake_metadata()
    meta["memory"] = {"driver": 300 * 2**20, "executor": {"peak_rss_bytes": 900 * 2**20}}
    model = make_model(tmp_path / "model", meta)
    result = report.write_report(model, str(tmp_path / "r"))
    assert result["memory"] == "recorded"
    check_png(tmp_path / "r" / "memory.png", [(148, 103, 189)])  # tab:purple bars
    page = (tmp_path / "r" / "index.html").read_text()
    assert '<img src="memory.png"' in page and "executor 900 MiB" in page


@needs_matplotlib
def test_evaluation_summary_given_or_beside(tmp_path, job, capsys):
    model = make_model(tmp_path / "model")
    ev = {"model": model, "vocab_size": 3,
          "analogies": {"accuracy": 0.25, "semantic": 0.5, "syntactic": 0.125, "evaluated": 8, "skipped": 2,
                        "restrict_vocab": 30000},
          "similarity": {"/data/ws353.txt": {"spearman": 0.5, "pairs": 10, "skipped": 1}},
          "neighbors": {"cat": [["sat", 0.75]], "dog": None}}
    (tmp_path / "model.evaluation.json").write_text(json.dumps(ev))
    assert job.main([model, "--out", str(tmp_path / "a")]) == 0
    page = (tmp_path / "a" / "index.html").read_text()
    assert "25.0% (semantic 50.0%, syntactic 12.5%) of 8 questions; 2 skipped" in page
    assert "Spearman rho 0.500 over 10 pairs; 1 skipped" in page
    assert "sat 0.750" in page and "not in the vocabulary" in page
    other = tmp_path / "other.json"
    other.write_text(json.dumps({**ev, "analogies": {**ev["analogies"], "accuracy": 0.75}}))
    assert job.main([model, "--out", str(tmp_path / "b"), "--evaluation", str(other)]) == 0
    assert "75.0%" in (tmp_path / "b" / "index.html").read_text()
    other.write_text("[1, 2]")
    code, line = run_job(job, capsys, model, "--out", str(tmp_path / "c"), "--evaluation", str(other),
                         prefix="report")
    assert code == 2 and "not a JSON object" in line


@needs_matplotlib
def test_bad_models_refused_in_one_line(tmp_path, job, capsys):
    code, line = run_job(job, capsys, str(tmp_path / "missing"), prefix="report")
    assert code == 2 and "does not exist" in line
    model = make_model(tmp_path / "model")
    (tmp_path / "model" / "_SUCCESS").unlink()
    code, line = run_job(job, capsys, model, prefix="report")
    assert code == 2 and "_SUCCESS" in line
    meta = fake_metadata()
    meta["cycles"] = []
    bare = make_model(tmp_path / "bare", meta)
    code, line = run_job(job, capsys, bare, prefix="report")
    assert code == 2 and "no training cycles" in line
    meta["cycles"] = [{"epoch": 0, "cycle": 0, "loss": "high", "alpha_start": 0.025, "alpha_end": 0.02}]
    odd = make_model(tmp_path / "odd", meta)
    code, line = run_job(job, capsys, odd, prefix="report")
    assert code == 2 and "loss" in line
    assert not (tmp_path / "bare.report").exists() and not (tmp_path / "odd.report").exists()


@needs_matplotlib
def test_out_refused_when_not_empty_or_in_the_model(tmp_path, job, capsys):
    model = make_model(tmp_path / "model")
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "loss.png").write_text("an old report's")
    code, line = run_job(job, capsys, model, "--out", str(out), prefix="report")
    assert code == 2 and "--overwrite" in line and "not empty" in line
    assert files(out) == {"notes.txt", "loss.png"}
    code, line = run_job(job, capsys, model, "--out", str(tmp_path / "model" / "report"), prefix="report")
    assert code == 2 and "inside the input" in line
    assert not (tmp_path / "model" / "report").exists()
    (tmp_path / "afile").write_text("x")
    code, line = run_job(job, capsys, model, "--out", str(tmp_path / "afile"), prefix="report")
    assert code == 2 and "is a file" in line
    assert job.main([model, "--out", str(out), "--overwrite"]) == 0
    assert (out / "notes.txt").read_text() == "mine"  # a user's file is left alone
    check_png(out / "loss.png", [TAB_BLUE])


def test_without_matplotlib_one_line_names_the_extra(tmp_path, job, capsys, monkeypatch):
    model = make_model(tmp_path / "model")
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    code, line = run_job(job, capsys, model, prefix="report")
    assert code == 2 and "pip install 'sparkw2v[report]'" in line
    assert not (tmp_path / "model.report").exists()
