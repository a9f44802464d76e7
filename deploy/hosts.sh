#!/usr/bin/env bash
# A multi-host Spark standalone cluster on one Linux machine: N "hosts", each a network namespace
# with its own hostname, /tmp, /dev/shm and scratch directory, joined by a bridge over veth pairs
# whose bandwidth tc shapes; a standalone master on the bridge address (the root namespace, where
# the driver runs too) and one worker per host. Root is needed.
#
#   deploy/hosts.sh up N [--rate R]   # N hosts (1..200), links shaped to R (default 10gbit);
#                                     # prints the master URL alone on stdout once every worker is alive
#   deploy/hosts.sh url               # the master URL again
#   deploy/hosts.sh conf              # the spark-submit options a driver in the root namespace needs
#   deploy/hosts.sh rate R            # reshape every link of a running cluster (e.g. 1gbit)
#   deploy/hosts.sh exec I CMD...     # run CMD inside host I (its namespaces: network, hostname, /tmp, /dev/shm)
#   deploy/hosts.sh status            # what exists: hosts, links, qdiscs, processes, the master's workers
#   deploy/hosts.sh down              # stop every process it started (by PID, with their children) and
#                                     # remove every namespace, link and qdisc it made; idempotent
#
# Layout (addresses in 198.18.0.0/15, the range reserved for benchmarking, RFC 2544):
#   bridge sw2v-br0 198.18.0.1/24 in the root namespace: master (port 7077, web UI 8080) and driver
#   host i: namespace sw2v-hI, hostname sw2v-hI, eth0 198.18.0.(10+I)/24, its veth peer sw2v-vI
#           on the bridge; tbf on both ends of the pair (each direction of the link at R)
# Every resource is recorded in the state directory the moment it is made (a failed `up` is
# undone by `down`); `down` touches only what is recorded there.
#
# Settings (environment):
#   SW2V_HOSTS_STATE        state directory: pids, logs, /etc/hosts, each host's scratch
#                           (default /var/tmp/PREFIX-hosts; not under /tmp, which each host replaces)
#   SW2V_HOSTS_PREFIX       names of namespaces, links and hostnames (default sw2v: sw2v-br0, sw2v-h1, ...)
#   SW2V_HOSTS_SUBNET       the /24 used, 198.18.X or 198.19.X (default 198.18.0)
#   PYTHON                  a Python with pyspark installed: the Spark that runs (default python3)
#   SPARK_MASTER_PORT (7077)  SPARK_MASTER_WEBUI_PORT (8080)
#   SPARK_WORKER_CORES (1)    SPARK_WORKER_MEMORY (1536m)   per worker
# Two clusters can be up at once with other PREFIX and SUBNET (each has its own state directory);
# the commands after `up` read the subnet and ports from the state directory.
set -eEuo pipefail

PREFIX=${SW2V_HOSTS_PREFIX:-sw2v}
NET=${SW2V_HOSTS_SUBNET:-198.18.0}
[[ $PREFIX =~ ^[a-z][a-z0-9]{0,7}$ ]] || { echo "hosts.sh: SW2V_HOSTS_PREFIX '$PREFIX' must be 1-8 lowercase letters and digits" >&2; exit 2; }
[[ $NET =~ ^198\.(18|19)\.([0-9]{1,3})$ ]] && [ "${BASH_REMATCH[2]}" -le 255 ] \
    || { echo "hosts.sh: SW2V_HOSTS_SUBNET '$NET' must be 198.18.X or 198.19.X (inside 198.18.0.0/15)" >&2; exit 2; }
STATE=$(realpath -m "${SW2V_HOSTS_STATE:-/var/tmp/$PREFIX-hosts}")
BRIDGE=$PREFIX-br0
MASTER_PORT=${SPARK_MASTER_PORT:-7077}
MASTER_UI=${SPARK_MASTER_WEBUI_PORT:-8080}
if [ -f "$STATE/settings" ]; then  # a cluster is up: its own subnet and ports
    read -r NET MASTER_PORT MASTER_UI <"$STATE/settings"
fi
MASTER_IP=$NET.1
CORES=${SPARK_WORKER_CORES:-1}
MEMORY=${SPARK_WORKER_MEMORY:-1536m}
PYTHON=${PYTHON:-python3}
RECORD=$STATE/created   # one resource a line: bridge|netns|veth|qdisc|pid ...

die() { echo "hosts.sh: $1" >&2; exit "${2:-1}"; }  # message, exit code (1)
say() { echo "hosts.sh: $*" >&2; }
usage() {
    sed -n '/^#   deploy\/hosts.sh up/,/^#$/p' "$0" | sed -e 's/^#   //' -e '/^#$/d' >&2
    exit 2
}

need_root() {
    [ "$(id -u)" -eq 0 ] || die "network namespaces, links and tc need root: run it as root (e.g. sudo -E deploy/hosts.sh $*)" 2
    for tool in ip tc unshare; do
        command -v "$tool" >/dev/null || die "'$tool' is not installed (iproute2, util-linux): install it" 2
    done
    ip netns list >/dev/null 2>&1 || die "'ip netns' does not work here (no network namespaces in this kernel or container)" 2
}

# rate like 10gbit, 500mbit -> bits per second
rate_bits() {
    local r=$1 n unit
    [[ $r =~ ^([0-9]+)([kmg]?)bit$ ]] || die "rate '$r' is not like 10gbit, 1gbit or 500mbit" 2
    n=${BASH_REMATCH[1]}
    unit=${BASH_REMATCH[2]}
    case $unit in k) n=$((n * 1000)) ;; m) n=$((n * 1000000)) ;; g) n=$((n * 1000000000)) ;; esac
    [ "$n" -ge 1000000 ] || die "rate '$r' is below 1mbit" 2
    echo "$n"
}

# tbf parameters for a rate: a bucket of 1 ms at the rate (at least 64 KB, so that a 64 KB GSO
# segment passes whole), a queue of 20 ms
tbf_args() {
    local bits burst
    bits=$(rate_bits "$1")
    burst=$((bits / 8 / 1000))
    [ "$burst" -ge 65536 ] || burst=65536
    echo "rate $1 burst $burst latency 20ms"
}

record() { echo "$*" >>"$RECORD"; }

ns_exists() { [ -e "/run/netns/$1" ]; }  # where ip netns keeps its namespaces

starttime() {  # a process's start time (clock ticks since boot), empty if gone
    local s
    s=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
    s=${s##*) }
    # shellcheck disable=SC2086
    set -- $s
    echo "${20}"
}

descendants() {  # every descendant pid of the given pids, children before parents are not ordered
    ps -e -o pid=,ppid= | awk -v roots="$*" '
        BEGIN { n = split(roots, r, " "); for (i = 1; i <= n; i++) keep[r[i]] = 1 }
        { parent[$1] = $2 }
        END { changed = 1
              while (changed) { changed = 0
                  for (p in parent) if (!(p in keep) && (parent[p] in keep)) { keep[p] = 1; changed = 1; print p } } }'
}

alive() { [ -n "$(starttime "$1")" ] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }

# signal_and_wait SIGNAL PID...: send SIGNAL, wait up to 10 s for them to end; the survivors are
# left in the caller's array `left`.
signal_and_wait() {
    local sig=$1 t p
    shift
    kill "-$sig" "$@" 2>/dev/null || true
    for t in $(seq 1 40); do
        left=()
        for p in "$@"; do alive "$p" && left+=("$p"); done
        [ "${#left[@]}" -eq 0 ] && return 0
        sleep 0.25
    done
}

# the recorded process $1 (started at tick $2) still runs: same pid, same start time, not a zombie
ours_alive() { [ -n "${2:-}" ] && [ "$(starttime "$1")" = "$2" ] && alive "$1"; }

# start a long-running process in the background, record its pid; $1 = name, $2 = log, rest = command
spawn() {
    local name=$1 log=$2
    shift 2
    setsid "$@" </dev/null >"$log" 2>&1 &
    local pid=$!
    record pid "$pid" "$(starttime "$pid")" "$name"
}

. "$(dirname "${BASH_SOURCE[0]}")/master_status.sh"

submit_conf() {
    echo "--conf spark.driver.host=$MASTER_IP --conf spark.driver.bindAddress=$MASTER_IP"
}

cmd_up() {
    local n=${1:-} rate=10gbit
    shift || true
    while [ $# -gt 0 ]; do
        case $1 in
        --rate) rate=${2:?--rate needs a value, e.g. 1gbit}; shift 2 ;;
        --rate=*) rate=${1#--rate=}; shift ;;
        *) die "unknown option '$1' (usage: deploy/hosts.sh up N [--rate R])" 2 ;;
        esac
    done
    [[ $n =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le 200 ] || die "up needs a number of hosts from 1 to 200, got '$n'" 2
    need_root up "$n"
    local tbf
    tbf=$(tbf_args "$rate")
    [ ! -e "$STATE" ] || die "$STATE exists: a cluster is up (deploy/hosts.sh status), or a previous one was not taken down: run deploy/hosts.sh down first" 2
    ip link show "$BRIDGE" >/dev/null 2>&1 && die "a link named $BRIDGE exists but $STATE does not: it is not ours; remove it or set SW2V_HOSTS_STATE to its state directory" 2
    local i
    for i in $(seq 1 "$n"); do
        ns_exists "$PREFIX-h$i" && die "namespace $PREFIX-h$i exists but is not recorded in $STATE: it is not ours" 2
        ip link show "$PREFIX-v$i" >/dev/null 2>&1 && die "a link named $PREFIX-v$i exists but is not recorded in $STATE: it is not ours" 2
    done
    local spark_home
    spark_home=${SPARK_HOME:-$("$PYTHON" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))' 2>/dev/null)} \
        || die "$PYTHON has no pyspark: set PYTHON to a Python with pyspark installed" 2
    command -v java >/dev/null || [ -n "${JAVA_HOME:-}" ] || die "no java on PATH and no JAVA_HOME: Spark needs Java 17 or 21" 2
    # the software the hosts run (Spark, the Python) stays visible in each host's own /tmp when it
    # lives under /tmp (a checkout in a mktemp directory): the top directory under /tmp of each
    local keep="" p top
    for p in "$spark_home" "$("$PYTHON" -c 'import sys; print(sys.prefix)')" "$(dirname "$0")"; do
        p=$(realpath -m "$p")
        case $p in
            /tmp/?*) top=/tmp/$(echo "${p#/tmp/}" | cut -d/ -f1)
                     case " $keep " in *" $top "*) ;; *) keep="$keep $top" ;; esac ;;
        esac
    done
    mkdir -p "$STATE/logs"
    : >"$RECORD"
    # on any failure from here on, undo what was made
    trap 'trap - ERR; say "up failed (line $LINENO); taking down what it made"; cmd_down >/dev/null 2>&1 || true; exit 1' ERR
    echo "$n" >"$STATE/hosts.count"
    echo "$NET $MASTER_PORT $MASTER_UI" >"$STATE/settings"
    echo "$rate" >"$STATE/rate"

    # the hosts' /etc/hosts: every host by name (a worker JVM hangs resolving its own name without it)
    {
        echo "127.0.0.1 localhost"
        echo "$MASTER_IP $PREFIX-master"
        for i in $(seq 1 "$n"); do echo "$NET.$((10 + i)) $PREFIX-h$i"; done
    } >"$STATE/etc-hosts"

    # ip netns keeps its namespaces in /run/netns, a directory it bind-mounts on itself the first
    # time: if it is not there yet, it is ours to remove (when empty) at down
    [ -d /run/netns ] || record netnsdir /run/netns
    ip link add "$BRIDGE" type bridge
    record bridge "$BRIDGE"
    ip addr add "$MASTER_IP/24" dev "$BRIDGE"
    ip link set "$BRIDGE" up

    for i in $(seq 1 "$n"); do
        local ns=$PREFIX-h$i veth=$PREFIX-v$i peer=$PREFIX-p$i ip=$NET.$((10 + i))
        ip netns add "$ns"
        record netns "$ns"
        ip link add "$veth" type veth peer name "$peer"
        record veth "$veth"
        ip link set "$peer" netns "$ns"
        ip link set "$veth" master "$BRIDGE"
        ip link set "$veth" up
        ip -n "$ns" link set "$peer" name eth0
        ip -n "$ns" addr add "$ip/24" dev eth0
        ip -n "$ns" link set eth0 up
        ip -n "$ns" link set lo up
        # shellcheck disable=SC2086
        tc qdisc add dev "$veth" root tbf $tbf          # bridge -> host
        record qdisc "$veth"
        # shellcheck disable=SC2086
        tc -n "$ns" qdisc add dev eth0 root tbf $tbf     # host -> bridge (gone with the namespace)
        mkdir -p "$STATE/$ns/work" "$STATE/$ns/local" "$STATE/$ns/hold"
    done

    spawn master "$STATE/logs/master.log" env SPARK_HOME="$spark_home" SPARK_LOCAL_IP="$MASTER_IP" \
        SPARK_NO_DAEMONIZE=1 "$spark_home/bin/spark-class" org.apache.spark.deploy.master.Master \
        --host "$MASTER_IP" --port "$MASTER_PORT" --webui-port "$MASTER_UI"
    local url=spark://$MASTER_IP:$MASTER_PORT
    echo "$url" >"$STATE/master.url"
    submit_conf >"$STATE/submit.conf"

    for i in $(seq 1 "$n"); do
        local ns=$PREFIX-h$i ip=$NET.$((10 + i))
        # inside the namespace: own hostname, own /tmp and /dev/shm (tmpfs), /etc/hosts naming every
        # host; the software directories under /tmp ($keep) held aside and bound back into the new /tmp
        spawn "worker $ns" "$STATE/logs/$ns.log" \
            ip netns exec "$ns" unshare --uts --mount --propagation private \
            env SW2V_NAME="$ns" SW2V_ETC_HOSTS="$STATE/etc-hosts" SPARK_HOME="$spark_home" \
            SW2V_KEEP="$keep" SW2V_HOLD="$STATE/$ns/hold" \
            SPARK_LOCAL_IP="$ip" SPARK_WORKER_DIR="$STATE/$ns/work" SPARK_LOCAL_DIRS="$STATE/$ns/local" \
            sh -c 'set -e; hostname "$SW2V_NAME"; mount --bind "$SW2V_ETC_HOSTS" /etc/hosts
                   i=0; for p in $SW2V_KEEP; do i=$((i + 1)); mkdir -p "$SW2V_HOLD/$i"; mount --bind "$p" "$SW2V_HOLD/$i"; done
                   mount -t tmpfs -o mode=1777 tmpfs /tmp; mount -t tmpfs -o mode=1777 tmpfs /dev/shm
                   i=0; for p in $SW2V_KEEP; do i=$((i + 1)); mkdir -p "$p"; mount --bind "$SW2V_HOLD/$i" "$p"; done
                   exec "$@"' sh \
            "$spark_home/bin/spark-class" org.apache.spark.deploy.worker.Worker \
            --host "$ip" --cores "$CORES" --memory "$MEMORY" --work-dir "$STATE/$ns/work" "$url"
    done
    trap - ERR

    local t
    for t in $(seq 1 240); do
        if [ "$(alive_workers "$MASTER_IP" "$MASTER_UI")" -ge "$n" ]; then
            say "$n hosts up, links at $rate; submit from this namespace with: $(submit_conf)"
            echo "$url"
            return 0
        fi
        local line
        while read -r line; do  # a process that died: stop waiting
            set -- $line
            if [ "$1" = pid ] && ! alive "$2"; then
                local name=${*:4} log
                log=$STATE/logs/${name#worker }.log
                say "$name (pid $2) exited during start-up; the end of its log ($log), then taking down:"
                tail -n 15 "$log" >&2 || true
                cmd_down >/dev/null 2>&1 || true
                exit 1
            fi
        done <"$RECORD"
        sleep 0.5
    done
    say "the master at $MASTER_IP:$MASTER_UI did not report $n live workers within 120 s; the end of its log, then taking down:"
    tail -n 15 "$STATE/logs/master.log" >&2 || true
    cmd_down >/dev/null 2>&1 || true
    exit 1
}

cmd_down() {
    if [ ! -f "$RECORD" ]; then
        [ -e "$STATE" ] && rm -rf "$STATE"
        say "nothing to take down ($STATE holds no record)"
        return 0
    fi
    need_root down
    local line pids=() kind
    # processes: the recorded ones still alive (same start time), their descendants, and anything
    # left running inside our namespaces
    while read -r line; do
        # shellcheck disable=SC2086
        set -- $line
        kind=$1
        case $kind in
        pid) if ours_alive "$2" "${3:-}"; then pids+=("$2"); fi ;;
        netns) if ns_exists "$2"; then
                   mapfile -t -O "${#pids[@]}" pids < <(ip netns pids "$2" 2>/dev/null)
               fi ;;
        esac
    done <"$RECORD"
    if [ "${#pids[@]}" -gt 0 ]; then
        mapfile -t -O "${#pids[@]}" pids < <(descendants "${pids[@]}")
        local left=()
        signal_and_wait TERM "${pids[@]}"
        if [ "${#left[@]}" -gt 0 ]; then
            signal_and_wait KILL "${left[@]}"
        fi
    fi
    # links and namespaces, newest first
    tac "$RECORD" | while read -r line; do
        # shellcheck disable=SC2086
        set -- $line
        case $1 in
        qdisc) tc qdisc del dev "$2" root 2>/dev/null || true ;;
        veth) ip link del "$2" 2>/dev/null || true ;;
        netns) ip netns del "$2" 2>/dev/null || true ;;
        bridge) ip link del "$2" 2>/dev/null || true ;;
        netnsdir) if [ -d "$2" ] && [ -z "$(ls -A "$2")" ]; then
                      while umount "$2" 2>/dev/null; do :; done
                      rmdir "$2" 2>/dev/null || true
                  fi ;;
        esac
    done
    local problems=()
    while read -r line; do
        # shellcheck disable=SC2086
        set -- $line
        case $1 in
        pid) if ours_alive "$2" "${3:-}"; then problems+=("process $2 (${*:4})"); fi ;;
        netns) if ns_exists "$2"; then problems+=("namespace $2"); fi ;;
        veth | bridge) if ip link show "$2" >/dev/null 2>&1; then problems+=("link $2"); fi ;;
        esac
    done <"$RECORD"
    [ "${#problems[@]}" -eq 0 ] || die "could not remove: ${problems[*]}; the record stays in $RECORD (run down again)"
    rm -rf "$STATE"
    say "down: every process, namespace and link it made is gone"
}

cmd_status() {
    if [ ! -f "$RECORD" ]; then
        echo "no cluster ($STATE holds no record)"
        return 0
    fi
    echo "state: $STATE"
    echo "master: $(cat "$STATE/master.url" 2>/dev/null)   links: $(cat "$STATE/rate" 2>/dev/null)"
    echo "driver options: $(submit_conf)"
    local line
    while read -r line; do
        # shellcheck disable=SC2086
        set -- $line
        case $1 in
        pid) if ours_alive "$2" "${3:-}"; then echo "process $2 (${*:4}): running"
             else echo "process $2 (${*:4}): gone"; fi ;;
        netns) if ns_exists "$2"; then
                   echo "namespace $2: $(ip -n "$2" -br addr show eth0 2>/dev/null | awk '{print $3, $2}')," \
                        "$(ip netns pids "$2" 2>/dev/null | wc -l) process(es)"
               else echo "namespace $2: gone"; fi ;;
        veth | bridge) if ip link show "$2" >/dev/null 2>&1; then
                           echo "link $2: $(ip -br link show "$2" | awk '{print $2}')" \
                                "$(tc qdisc show dev "$2" root 2>/dev/null | grep -o 'rate [^ ]*' || true)"
                       else echo "link $2: gone"; fi ;;
        esac
    done <"$RECORD"
    master_json "$MASTER_IP" "$MASTER_UI" 2>/dev/null | "$PYTHON" -c '
import json, sys
m = json.load(sys.stdin)
for w in m["workers"]:
    print("worker %s: %s, %s/%s cores used" % (w["host"], w["state"], w["coresused"], w["cores"]))
print("applications running: %d" % len(m["activeapps"]))' 2>/dev/null || echo "master: not answering"
}

cmd_rate() {
    local rate=${1:?usage: deploy/hosts.sh rate R (e.g. 1gbit)} tbf line
    [ -f "$RECORD" ] || die "no cluster is up ($STATE holds no record)" 2
    need_root rate
    tbf=$(tbf_args "$rate")
    while read -r line; do
        # shellcheck disable=SC2086
        set -- $line
        case $1 in
        # shellcheck disable=SC2086
        qdisc) tc qdisc replace dev "$2" root tbf $tbf ;;
        # shellcheck disable=SC2086
        netns) tc -n "$2" qdisc replace dev eth0 root tbf $tbf ;;
        esac
    done <"$RECORD"
    echo "$rate" >"$STATE/rate"
    say "every link shaped to $rate"
}

cmd_exec() {
    local i=${1:?usage: deploy/hosts.sh exec I CMD...}
    shift
    [ $# -gt 0 ] || die "usage: deploy/hosts.sh exec I CMD..." 2
    [ -f "$RECORD" ] && grep -qx "netns $PREFIX-h$i" "$RECORD" || die "host $i is not up (deploy/hosts.sh status)" 2
    need_root exec
    # the namespaces of the host's worker: network, hostname and mounts (its /tmp, /dev/shm, /etc/hosts)
    local pid
    pid=$(awk -v name="worker $PREFIX-h$i" '$1 == "pid" && substr($0, index($0, $4)) == name {print $2}' "$RECORD")
    if [ -n "$pid" ] && alive "$pid"; then
        exec nsenter --target "$pid" --net --uts --mount --wd="$PWD" -- "$@"
    fi
    exec ip netns exec "$PREFIX-h$i" "$@"
}

case ${1:-} in
up) shift; cmd_up "$@" ;;
down) cmd_down ;;
status) cmd_status ;;
conf) [ -f "$RECORD" ] || die "no cluster is up ($STATE holds no record)" 2; submit_conf ;;
url) [ -f "$STATE/master.url" ] || die "no cluster is up ($STATE holds no record)" 2; cat "$STATE/master.url" ;;
rate) shift; cmd_rate "$@" ;;
exec) shift; cmd_exec "$@" ;;
*) usage ;;
esac
