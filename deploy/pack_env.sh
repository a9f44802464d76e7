#!/usr/bin/env bash
# Pack sparkw2v and its dependencies (numpy, pyarrow, fsspec, numba, llvmlite, xxhash) into one
# archive that executors without them unpack and put on their PYTHONPATH (deploy/submit.sh
# passes it with --archives). pyspark and py4j are left out: Spark puts its own on the
# executors' PYTHONPATH. pandas is left out too: only the driver imports it (pyspark checks
# for it when it builds a mapInArrow stage, and the Spark Connect client needs it); the
# executors' tasks are Arrow batches, and pandas with its dependencies would add ~80 MB to
# every executor's download. The executors' Python must be the same minor version (3.11) and
# platform as the packing machine's.
#
#   deploy/pack_env.sh [OUT]      # default build/sparkw2v-env.tar.gz; .tar, .tar.gz, .zip by suffix
#
# PYTHON: the Python (with pip) to build and pack with (default: python3).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
out=$(realpath -m "${1:-build/sparkw2v-env.tar.gz}")
PYTHON=${PYTHON:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# the runtime dependencies, from pyproject.toml, without pyspark and pandas (the driver's)
deps=$("$PYTHON" - "$repo/pyproject.toml" <<'PY'
import re, sys, tomllib
with open(sys.argv[1], "rb") as fh:
    deps = tomllib.load(fh)["project"]["dependencies"]
print("\n".join(d for d in deps if re.split(r"[<>=!~;\[ ]", d)[0].lower() not in ("pyspark", "pandas")))
PY
)
mapfile -t deps <<<"$deps"
# build from a clean copy of the sources, so no stale build/ of the checkout gets in
mkdir -p "$work/src"
cp -r "$repo/pyproject.toml" "$repo/README.md" "$repo/sparkw2v" "$work/src/"
"$PYTHON" -m pip install --quiet --no-deps --target "$work/env" "$work/src"
"$PYTHON" -m pip install --quiet --target "$work/env" "${deps[@]}"
rm -rf "$work/env/bin"
mkdir -p "$(dirname "$out")"
rm -f "$out"
case "$out" in
*.zip) (cd "$work/env" && "$PYTHON" -m zipfile -c "$out" ./*) ;;
*) (cd "$work/env" && tar -caf "$out" -- *) ;;  # entries without "./": Spark refuses those
esac
echo "$out"
