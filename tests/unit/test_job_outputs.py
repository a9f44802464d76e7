"""Jobs write their figures only where they are told or into their own work directory, never a
default file name in the directory they are run from, which may be a user's file."""

from __future__ import annotations

import importlib.util
from pathlib import Path

JOBS = Path(__file__).resolve().parents[2] / "jobs"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, JOBS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_benchmark_writes_its_results_into_its_work_directory_unless_told(tmp_path):
    bench = _load("benchmark")
    assert bench.results_path(None, tmp_path) == tmp_path / "benchmark.json"
    assert bench.results_path(str(tmp_path / "mine.json"), tmp_path / "work") == tmp_path / "mine.json"


def test_the_cost_model_writes_no_file_unless_told():
    parser = _load("cost_model").build_parser()
    assert parser.parse_args(["--run", "model"]).json is None
    assert parser.parse_args(["--run", "model", "--json", "out.json"]).json == "out.json"
