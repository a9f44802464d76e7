#!/usr/bin/env bash
# Install sparkw2v with its test (and gensim cross-check) extras into .venv and run the tests:
# the whole suite on classic Spark (local[2]), then the Spark tests (tests/spark) once more on
# Spark Connect (a local[2] Connect server the test session starts: SPARKW2V_SPARK_MODE=connect).
# The exit status is the first failing run's (both runs always happen).
# Usage: bash jobs/run_tests.sh                 (both runs)
#        bash jobs/run_tests.sh [pytest args...] (just pytest with them, e.g. one file; add
#                                                 SPARKW2V_SPARK_MODE=connect for Spark Connect)
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test,bench]'
export PATH="$PWD/.venv/bin:$PATH"
export PYSPARK_PYTHON="$PWD/.venv/bin/python"
if [ "$#" -gt 0 ]; then
    exec python -m pytest "$@"
fi
status=0
# --durations: each pass ends with its slowest tests, to keep CI within its 30 minutes
SPARKW2V_SPARK_MODE=classic python -m pytest --durations=20 || status=$?
echo "== the Spark tests again, on Spark Connect (SPARKW2V_SPARK_MODE=connect) =="
# (without the tests marked "once": slow, and the same code path in both modes; see pyproject.toml)
SPARKW2V_SPARK_MODE=connect python -m pytest --durations=20 -m "not once" tests/spark || { rc=$?; [ "$status" -ne 0 ] || status=$rc; }
exit "$status"
