#!/usr/bin/env bash
# Build the wheel, install it alone into a fresh virtualenv outside the checkout, and run
# `sparkw2v prepare`, `train`, `evaluate` from there on the first ~350k tokens of the real corpus
# (what a user gets from `pip install sparkw2v-*.whl`: the command, conf/ inside the package).
# Usage: bash jobs/check_wheel.sh [N_CHARS]   (CI runs it after the tests; needs ../shared/data)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
shared=${SPARKW2V_SHARED:-$repo/../shared}
corpus="$shared/data/gutenberg_text8style.gz"
eval_dir="$shared/data/eval"
chars=${1:-2000000}
if [ ! -f "$corpus" ]; then
    echo "check_wheel: skipped: $corpus is absent (the real corpus lives in ../shared/data)" >&2
    exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet --upgrade pip
"$work/venv/bin/python" -m pip wheel --quiet --no-deps -w "$work/dist" "$repo"
"$work/venv/bin/python" -m pip install --quiet "$work"/dist/sparkw2v-*.whl
cd "$work"  # nothing of the checkout is reachable from here
export PATH="$work/venv/bin:$PATH" PYSPARK_PYTHON="$work/venv/bin/python"
python - "$corpus" "$chars" <<'PY'
import gzip, sys
with gzip.open(sys.argv[1], "rt", encoding="ascii") as fh:
    text = fh.read(int(sys.argv[2]))
open("raw.txt", "w").write(text[: text.rfind(" ")])
PY
test "$(python -c 'import sparkw2v, os; print(os.path.dirname(sparkw2v.__file__))')" != "$repo/sparkw2v"
sparkw2v prepare --input raw.txt --output corpus.parquet
sparkw2v train --input corpus.parquet --output model --epochs 1 --num-blocks 2 --master 'local[2]'
sparkw2v evaluate --model model --analogies "$eval_dir/questions-words.txt" \
    --similarity "$eval_dir/wordsim353.tsv" "$eval_dir/simlex999.txt" --neighbors king
echo "check_wheel: the installed wheel prepared, trained and evaluated outside the checkout" >&2
