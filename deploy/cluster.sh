#!/usr/bin/env bash
# Start, stop or inspect a Spark standalone cluster (one master, N workers) on this machine,
# using the Spark that the installed pyspark carries (pip install sparkw2v is enough).
#
#   deploy/cluster.sh start    # prints the master URL, spark://HOST:PORT, once all workers are up
#   deploy/cluster.sh status   # the master's view: workers and applications (JSON)
#   deploy/cluster.sh stop     # stops the workers (and their executors), then the master
#
# Settings (environment):
#   PYTHON                   Python with pyspark installed (default: python3)
#   SPARKW2V_CLUSTER_DIR     logs, pid files and executor work dirs (default: build/cluster)
#   SPARK_MASTER_HOST        (127.0.0.1)   SPARK_MASTER_PORT (7077)   SPARK_MASTER_WEBUI_PORT (8080)
#   SPARKW2V_WORKERS         number of workers (2)
#   SPARK_WORKER_CORES       cores per worker (1)   SPARK_WORKER_MEMORY  memory per worker (2g)
set -euo pipefail

cmd=${1:?usage: deploy/cluster.sh start|stop|status}
PYTHON=${PYTHON:-python3}
SPARK_HOME=${SPARK_HOME:-$("$PYTHON" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')}
export SPARK_HOME
dir=$(realpath -m "${SPARKW2V_CLUSTER_DIR:-build/cluster}")
export SPARK_LOG_DIR="$dir/logs" SPARK_PID_DIR="$dir/pids" SPARK_IDENT_STRING=sparkw2v
host=${SPARK_MASTER_HOST:-127.0.0.1}
port=${SPARK_MASTER_PORT:-7077}
ui=${SPARK_MASTER_WEBUI_PORT:-8080}
workers=${SPARKW2V_WORKERS:-2}
cores=${SPARK_WORKER_CORES:-1}
memory=${SPARK_WORKER_MEMORY:-2g}
daemon="$SPARK_HOME/sbin/spark-daemon.sh"
master_class=org.apache.spark.deploy.master.Master
worker_class=org.apache.spark.deploy.worker.Worker

. "$(dirname "${BASH_SOURCE[0]}")/master_status.sh"

case "$cmd" in
start)
    mkdir -p "$SPARK_LOG_DIR" "$SPARK_PID_DIR"
    "$daemon" start "$master_class" 1 --host "$host" --port "$port" --webui-port "$ui" >/dev/null
    for i in $(seq 1 "$workers"); do
        mkdir -p "$dir/work/$i"
        "$daemon" start "$worker_class" "$i" --host "$host" --cores "$cores" --memory "$memory" \
            --webui-port 0 --work-dir "$dir/work/$i" "spark://$host:$port" >/dev/null
    done
    for _ in $(seq 1 120); do
        if [ "$(alive_workers "$host" "$ui")" -ge "$workers" ]; then
            echo "spark://$host:$port"
            exit 0
        fi
        sleep 0.5
    done
    echo "cluster.sh: the master at $host:$ui did not report $workers live workers within 60 s;" \
         "see the logs in $SPARK_LOG_DIR" >&2
    exit 1
    ;;
stop)
    for i in $(seq 1 "$workers"); do
        "$daemon" stop "$worker_class" "$i" >/dev/null || true
    done
    "$daemon" stop "$master_class" 1 >/dev/null || true
    ;;
status)
    master_json "$host" "$ui"
    ;;
*)
    echo "usage: deploy/cluster.sh start|stop|status" >&2
    exit 2
    ;;
esac
