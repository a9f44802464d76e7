#!/usr/bin/env bash
# Install sparkw2v with its test (and gensim cross-check) extras into .venv and run the tests.
# Usage: bash jobs/run_tests.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test,bench]'
export PATH="$PWD/.venv/bin:$PATH"
export PYSPARK_PYTHON="$PWD/.venv/bin/python"
exec python -m pytest "$@"
