"""Shared fixtures: the real-corpus paths (skipped with a reason where absent) and one
session-scoped SparkSession for every Spark test: classic local[2], or a Spark Connect session
to a local[2] server this process starts when ``SPARKW2V_SPARK_MODE=connect``
(``jobs/run_tests.sh`` runs tests/spark once in each mode)."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SPARKW2V_SHARED", REPO.parent / "shared"))
CORPUS = SHARED / "data" / "gutenberg_text8style.gz"
EVAL = SHARED / "data" / "eval"


def _require(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is absent: the real corpus and evaluation sets live in ../shared/data "
                    "beside the repository (set SPARKW2V_SHARED to another shared/ folder)")
    return path


@pytest.fixture(scope="session")
def corpus_path() -> Path:
    return _require(CORPUS)


@pytest.fixture(scope="session")
def eval_dir() -> Path:
    _require(EVAL / "questions-words.txt")
    return EVAL


@pytest.fixture(scope="session")
def corpus_head(corpus_path, tmp_path_factory) -> Path:
    """The first ~1M tokens of the real corpus as a plain text file (one line, text8 style)."""
    out = tmp_path_factory.mktemp("corpus") / "head.txt"
    with gzip.open(corpus_path, "rt", encoding="ascii") as fh:
        text = fh.read(5_400_000)
    out.write_text(text[: text.rfind(" ")])
    return out


SPARK_MODES = ("classic", "connect")


def spark_mode() -> str:
    """The mode of the tests' SparkSession: ``SPARKW2V_SPARK_MODE``, "classic" (default) or
    "connect"."""
    mode = os.environ.get("SPARKW2V_SPARK_MODE", "").strip().lower() or "classic"
    if mode not in SPARK_MODES:
        raise pytest.UsageError(f"SPARKW2V_SPARK_MODE={mode!r}: it must be one of {', '.join(SPARK_MODES)}")
    return mode


def only_in(mode: str, why: str):
    """Mark a test that can only run with the ``mode`` session (skipped in the other, saying why)."""
    return pytest.mark.skipif(spark_mode() != mode, reason=f"{mode} Spark only: {why}")


def pytest_report_header(config):
    return f"sparkw2v: Spark tests in {spark_mode()} mode (SPARKW2V_SPARK_MODE)"


@pytest.fixture(scope="session")
def spark():
    """classic: build_session(master="local[2]"); connect: build_session(remote="local[2]"), a
    Spark Connect server on a free port of this machine, stopped with the session. Same
    TEST_CONF either way. The jobs the tests run in this process (``main(argv)``) get this same
    session (build_session returns the session the process holds)."""
    from sparkw2v.session import TEST_CONF, build_session

    if spark_mode() == "connect":
        session = build_session("sparkw2v-tests", conf=TEST_CONF, remote="local[2]")
    else:
        session = build_session("sparkw2v-tests", master="local[2]", conf=TEST_CONF)
    yield session
    session.stop()


@pytest.fixture(autouse=True)
def _spark_connect_first(request):
    """Spark Connect mode: a Spark test gets the tests' Connect session before its body runs, so
    that a job it runs in this process (``main(argv)``, which gets the session the process
    holds) never starts a classic session beside it (one process cannot hold both)."""
    if spark_mode() == "connect" and request.node.get_closest_marker("spark") is not None:
        request.getfixturevalue("spark")
