"""A vocabulary whose W and W' do not fit the driver trains, and the driver's memory does not grow
with vocabulary x dimension: the blocks live in the executors, which also write the model.

Each run is its own ``spark-submit`` (Spark Connect: ``python jobs/train.py`` starting its own
local[2] server) with a 512 MiB driver heap, on a synthetic Zipf corpus of
~290k words (``jobs/zipf_corpus.py``); the Python driver's resident memory is sampled while it
runs.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from sparkw2v.embeddings import Embeddings
from tests.conftest import spark_mode

# once: the driver's calls are the same on Spark Connect (the trainer's one code path); jobs/run_tests.sh
# runs it in the classic pass only (SPARKW2V_SPARK_MODE=connect runs it on Connect when asked for)
pytestmark = [pytest.mark.spark, pytest.mark.once]

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "jobs"))
from benchmark import rss  # noqa: E402
from zipf_corpus import write_corpus  # noqa: E402


def train_and_sample(corpus: str, out: Path, vector_size: int) -> tuple[dict, int]:
    """Train with a 512 MiB driver heap: spark-submit (classic), or ``python jobs/train.py`` with
    SPARK_REMOTE=local[2] (Spark Connect: the heap of the server it starts); return the job's
    summary and the Python driver's peak resident bytes."""
    argv = [str(REPO / "jobs" / "train.py"), "--input", corpus, "--output", str(out), "--min-count", "1",
            "--epochs", "1", "--vector-size", str(vector_size), "--window", "3", "--num-blocks", "2",
            "--cycles-per-epoch", "2"]
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable)
    if spark_mode() == "connect":  # the Python driver is the process started here
        env.update(SPARK_REMOTE="local[2]", PYSPARK_SUBMIT_ARGS="--driver-memory 512m pyspark-shell")
        cmd = [sys.executable, *argv]
    else:
        cmd = [str(Path(sys.executable).parent / "spark-submit"), "--master", "local[2]", "--driver-memory", "512m",
               *argv]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    driver, peak = (proc.pid if spark_mode() == "connect" else None), 0
    while proc.poll() is None:
        if driver is None:  # spark-submit's JVM starts the Python driver: find it
            for entry in os.listdir("/proc"):
                if entry.isdigit():
                    try:
                        cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
                    except OSError:
                        continue
                    if b"jobs/train.py" in cmdline and b"python" in cmdline.split(b"\0")[0]:
                        driver = int(entry)
        if driver is not None:
            peak = max(peak, rss(driver))
        time.sleep(0.05)
    out_text = proc.stdout.read()
    assert proc.returncode == 0, out_text[-3000:]
    # spark-submit merges the Python driver's stderr (its log) into stdout (python: stderr is dropped)
    summary = [line for line in out_text.splitlines() if line.startswith('{"output"')]
    return json.loads(summary[-1]), peak


def test_vectors_larger_than_the_driver_train_and_the_driver_stays_flat(tmp_path):
    corpus = str(tmp_path / "zipf")
    write_corpus(corpus, tokens=1_500_000, types=3_000_000, exponent=1.05, seed=3, row_tokens=100)
    small, small_peak = train_and_sample(corpus, tmp_path / "d8", 8)
    big, big_peak = train_and_sample(corpus, tmp_path / "d256", 256)
    V = big["vocab_size"]
    model_bytes = 2 * V * 256 * 4  # W and W' at d=256
    assert V > 250_000 and model_bytes > 512 * 2**20  # more than the driver's heap
    emb = Embeddings.load(str(tmp_path / "d256"))
    assert emb.vectors.shape == (V, 256) and np.isfinite(emb.vectors).all()
    # the driver holds the words (O(V)), never the vectors: from d=8 to d=256 the model grows by
    # ~600 MB, the driver by far less than one matrix
    growth = big_peak - small_peak
    print(f"\nV={V}: W+W' {model_bytes / 2**20:.0f} MiB at d=256; Python driver peak {small_peak / 2**20:.0f} MiB "
          f"at d=8, {big_peak / 2**20:.0f} MiB at d=256")
    # holding W alone would add ~290 MB from d=8 to d=256
    assert growth < 0.1 * model_bytes, (small_peak, big_peak)
    assert big_peak < model_bytes, (small_peak, big_peak)
