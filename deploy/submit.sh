#!/usr/bin/env bash
# Submit a sparkw2v job to a cluster, shipping the packed environment to the executors.
#
#   deploy/submit.sh MASTER_URL jobs/train.py --input ... --output ... [job flags]
#
# Settings (environment):
#   SPARKW2V_ENV_ARCHIVE   archive from deploy/pack_env.sh (default build/sparkw2v-env.tar.gz);
#                          empty: ship nothing (the executors' Python has sparkw2v installed)
#   EXECUTOR_PYTHON        Python 3.11 on the executors (default: python3)
#   DRIVER_PYTHON          Python with sparkw2v installed, for the driver (default: python3)
#   SPARK_SUBMIT_ARGS      more spark-submit options, e.g. "--executor-memory 4g --conf k=v"
# Runs in client mode: the driver, and the model it writes through fsspec, are on this machine.
set -euo pipefail

master=${1:?usage: deploy/submit.sh MASTER_URL JOB.py [job args...]}
job=${2:?usage: deploy/submit.sh MASTER_URL JOB.py [job args...]}
shift 2
archive=${SPARKW2V_ENV_ARCHIVE-build/sparkw2v-env.tar.gz}
driver_python=${DRIVER_PYTHON:-python3}
submit=$("$driver_python" -c 'import os, pyspark; print(os.path.join(os.path.dirname(pyspark.__file__), "bin", "spark-submit"))')
ship=()
if [ -n "$archive" ]; then
    [ -f "$archive" ] || { echo "submit.sh: $archive does not exist: run deploy/pack_env.sh first" >&2; exit 2; }
    ship=(--archives "$archive#sparkw2v_env" --conf spark.executorEnv.PYTHONPATH=sparkw2v_env)
fi
# shellcheck disable=SC2086
exec "$submit" --master "$master" --deploy-mode client \
    --conf spark.pyspark.python="${EXECUTOR_PYTHON:-python3}" \
    --conf spark.pyspark.driver.python="$driver_python" \
    "${ship[@]}" ${SPARK_SUBMIT_ARGS:-} "$job" "$@"
