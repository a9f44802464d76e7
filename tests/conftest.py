"""Shared fixtures: the real-corpus paths (skipped with a reason where absent) and one
session-scoped local[2] SparkSession for every Spark test."""

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


@pytest.fixture(scope="session")
def spark():
    from sparkw2v.session import TEST_CONF, build_session

    session = build_session("sparkw2v-tests", master="local[2]", conf=TEST_CONF)
    yield session
    session.stop()
