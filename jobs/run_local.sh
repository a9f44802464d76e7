#!/usr/bin/env bash
# The main job on the real corpus, in local mode: install, prepare -> train -> evaluate.
# Usage: bash jobs/run_local.sh [extra jobs/train.py flags...]
# Environment: CORPUS (default ../shared/data/gutenberg_text8style.gz), EVAL (default
# ../shared/data/eval), OUT (default out/), MASTER (default local[*]).
set -euo pipefail
cd "$(dirname "$0")/.."
CORPUS=${CORPUS:-../shared/data/gutenberg_text8style.gz}
EVAL=${EVAL:-../shared/data/eval}
OUT=${OUT:-out}
MASTER=${MASTER:-local[*]}
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e .
export PATH="$PWD/.venv/bin:$PATH"
export PYSPARK_PYTHON="$PWD/.venv/bin/python"
export SPARK_CONF_DIR="${SPARK_CONF_DIR:-$PWD/conf}"  # conf/log4j2.properties: Spark logs errors only
mkdir -p "$OUT"
spark-submit --master "$MASTER" jobs/prepare.py --input "$CORPUS" --output "$OUT/corpus.parquet" --overwrite
time spark-submit --master "$MASTER" jobs/train.py --input "$OUT/corpus.parquet" \
    --output "$OUT/model" --overwrite "$@"
spark-submit --master "$MASTER" jobs/evaluate.py --model "$OUT/model" \
    --analogies "$EVAL/questions-words.txt" --similarity "$EVAL/wordsim353.tsv" "$EVAL/simlex999.txt" \
    --neighbors king london ship woman river
