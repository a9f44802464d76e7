# Sourced by cluster.sh and hosts.sh: what a Spark standalone master says of itself.
# Needs PYTHON (a Python 3).

# master_json HOST UI_PORT: the master's status page (/json/) as one JSON line.
master_json() {
    "$PYTHON" - "$1" "$2" <<'PY'
import json, sys, urllib.request
with urllib.request.urlopen(f"http://{sys.argv[1]}:{sys.argv[2]}/json/", timeout=5) as r:
    print(json.dumps(json.load(r)))
PY
}

# alive_workers HOST UI_PORT: how many workers the master holds ALIVE (0 when it does not answer).
alive_workers() {
    master_json "$1" "$2" 2>/dev/null | "$PYTHON" -c \
        'import json,sys; print(sum(w["state"] == "ALIVE" for w in json.load(sys.stdin)["workers"]))' \
        2>/dev/null || echo 0
}
