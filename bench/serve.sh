#!/usr/bin/env bash
# Serving: Strata's scoring server (`strata serve`, Rust front end + Python workers) against the
# reference Azure ML inference server (azmlinfsrv 1.5.1 = gunicorn sync + Flask), side by side in
# one run, with the reference's own harness (bench/serve/bench.sh, a verbatim copy).
#
#   bench/serve.sh [WORKDIR]        # default WORKDIR: /tmp/benchserve; writes WORKDIR/serve.md and prints it
#
# Grid (the reference's): score.py (RandomForest, 50 trees) and echo_score.py; bodies of 1 and 100
# rows; wrk concurrency 1, 8, 64; RUNS runs of DURATION each; azmlinfsrv with 1 and 2 gunicorn
# workers (`azml`, `azml-w2`) and Strata with 1 and 2 Python workers (`strata`, `strata-w2`, run by
# bench.sh's `custom` mode). The four servers run interleaved (azml, strata, azml-w2, strata-w2) so
# that each pair of equal worker counts is measured close together in time. Then score.py's run() is
# timed in-process in both interpreters (bench/serve/run_cost.py): the floor of any score.py request.
# bench/serve/report.py turns the CSVs into the tables of BENCHMARKS.md ("Serving").
#
# Knobs: DURATION [10s]  RUNS [2]  QUIET_LOAD [2.5]  SERVERS ["azml strata azml-w2 strata-w2"]
#        SCRIPTS ["score.py echo_score.py"]; add schema_score.py (score.py behind inference-schema
#        decorators) to compare the decorator path  STRATA_BIN [build with cargo]  STRATA_PORT [8890]
# About 20 minutes with the defaults, plus any wait for the load average to fall below QUIET_LOAD
# (bench.sh waits up to 300 s before each server/script pair).
#
# Needs: python3 (venv), curl, bc, wrk (installed with apt-get when missing), network to PyPI on
# the first run (the reference venv and Strata's environment), and a free port 5001 and STRATA_PORT.
# Everything listens on 127.0.0.1 only.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
here="$root/bench/serve"
work="${1:-/tmp/benchserve}"
mkdir -p "$work"
work="$(cd "$work" && pwd)"

export DURATION=${DURATION:-10s} RUNS=${RUNS:-2} QUIET_LOAD=${QUIET_LOAD:-2.5}
SERVERS=${SERVERS:-"azml strata azml-w2 strata-w2"}
SCRIPTS=${SCRIPTS:-"score.py echo_score.py"}
port=${STRATA_PORT:-8890}
stamp=$(date -u +%Y%m%dT%H%M%SZ)
out="$work/results/$stamp"
mkdir -p "$out/logs"
log() { echo "[serve.sh $(date -u +%H:%M:%S)] $*" >&2; }

# --- tools --------------------------------------------------------------------------------------
missing=()
for tool in wrk curl bc; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    apt-get update -qq >/dev/null && apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# --- reference venv (setup_venvs.sh's serve-venv; re-created only when the pins change) ---------
venvs="$work/venvs"
reqs_sum=$(sha256sum "$here/requirements-azmlinfsrv.txt" | cut -d' ' -f1)
if [ "$(cat "$venvs/serve-venv/.bench-requirements" 2>/dev/null)" != "$reqs_sum" ]; then
    log "creating $venvs/serve-venv (azmlinfsrv 1.5.1 and the pinned ML stack)"
    rm -rf "$venvs/serve-venv"
    python3 -m venv "$venvs/serve-venv"
    "$venvs/serve-venv/bin/pip" install -q -r "$here/requirements-azmlinfsrv.txt"
    echo "$reqs_sum" > "$venvs/serve-venv/.bench-requirements"
fi

# --- Strata binary, workspace, environment and model --------------------------------------------
if [ -n "${STRATA_BIN:-}" ]; then
    strata="$STRATA_BIN"
else
    log "cargo build --release -p strata-cli"
    cargo build --release -p strata-cli --manifest-path "$root/Cargo.toml" >/dev/null 2>&1
    strata="${CARGO_TARGET_DIR:-$root/target}/release/strata"
fi
export STRATA_CACHE="$work/strata-cache"
ws="$work/strata-ws"
[ -d "$ws/.strata" ] || "$strata" init "$ws" >/dev/null
export STRATA_WORKSPACE="$ws/.strata"
# The ML stack of requirements-azmlinfsrv.txt and inference-schema (for schema_score.py), same pins;
# nothing of azmlinfsrv's web stack.
grep -E '^(scikit-learn|numpy|scipy|joblib|threadpoolctl|inference-schema|python-dateutil|pytz|wrapt|six)==' "$here/requirements-azmlinfsrv.txt" > "$work/strata-requirements.txt"
"$strata" env register --name servenv --requirements "$work/strata-requirements.txt" >/dev/null
# Registered as a file, so the service holds azureml-models/rf/1/model.joblib and score.py finds it
# at $AZUREML_MODEL_DIR/model.joblib (a registered directory would keep its own name in between).
"$strata" model show rf:1 >/dev/null 2>&1 || "$strata" model register --name rf --path "$here/model.joblib" >/dev/null
log "building (or reusing) the Strata environment servenv"
"$strata" env build servenv >/dev/null
{
    echo "strata: $("$strata" --version) ($strata, built $(date -u -r "$strata" +%Y-%m-%dT%H:%MZ))"
    echo "work tree: $(git -C "$root" describe --always --dirty 2>/dev/null || echo unknown) (the binary may be older: see its build time)"
    echo "azmlinfsrv: $("$venvs/serve-venv/bin/pip" show azureml-inference-server-http 2>/dev/null | awk '/^Version/{print $2}')"
    echo "wrk: $(wrk -v 2>&1 | head -n1)"
    echo "DURATION=$DURATION RUNS=$RUNS QUIET_LOAD=$QUIET_LOAD"
} > "$out/versions.txt"

# --- helpers for the Strata runs -----------------------------------------------------------------
tree_pids() {
    local p=$1 c
    echo "$p"
    for c in $(cat /proc/"$p"/task/*/children 2>/dev/null); do tree_pids "$c"; done
}
ticks() { awk '{print $14 + $15}' /proc/"$1"/stat 2>/dev/null || echo 0; }
tree_ticks() {
    local t=0 p
    for p in $(tree_pids "$1"); do t=$((t + $(ticks "$p"))); done
    echo "$t"
}
rss_kb() { awk '/^VmRSS:/{print $2}' /proc/"$1"/status 2>/dev/null || echo 0; }

strata_pid=""
strata_tree=""
stop_strata() {
    [ -n "$strata_pid" ] || return 0
    if kill -0 "$strata_pid" 2>/dev/null; then
        strata_tree=$(tree_pids "$strata_pid" | tr '\n' ' ')
        kill -TERM "$strata_pid" 2>/dev/null || true
        for _ in $(seq 350); do kill -0 "$strata_pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$strata_pid" 2>/dev/null; then
            log "strata did not stop within 35 s; killing its processes"
            for p in $strata_tree; do kill -KILL "$p" 2>/dev/null || true; done
        fi
    fi
    wait "$strata_pid" 2>/dev/null || true
    strata_pid=""
}
sampler_pid=""
cleanup() {
    [ -n "$sampler_pid" ] && kill "$sampler_pid" 2>/dev/null || true
    stop_strata
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Keeps head and tail of a server log (one line per request otherwise).
trim() {
    local f=$1 n
    n=$(wc -l < "$f")
    if [ "$n" -gt 150 ]; then
        { head -n 100 "$f"; echo "... [$((n - 130)) lines omitted by serve.sh] ..."; tail -n 30 "$f"; } > "$f.tmp"
        mv "$f.tmp" "$f"
    fi
}

# run_strata WORKERS SCRIPT LABEL
run_strata() {
    local workers=$1 script=$2 label=$3 dir="$out/$3-${2%.py}" slog
    slog="$out/logs/$label-${script%.py}.log"
    if curl -s -o /dev/null "http://127.0.0.1:$port/"; then
        log "port $port is already in use"; exit 1
    fi
    log "starting strata serve --workers $workers --entry-script $script"
    "$strata" serve --model rf:1 --entry-script "$here/$script" --env servenv \
        --host 127.0.0.1 --port "$port" --workers "$workers" > "$slog" 2>&1 &
    strata_pid=$!
    local ok=""
    for _ in $(seq 240); do
        if [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/health/ready")" = 200 ]; then ok=1; break; fi
        kill -0 "$strata_pid" 2>/dev/null || { log "strata serve died on start; see $slog"; tail -n 30 "$slog" >&2; exit 1; }
        sleep 0.5
    done
    [ -n "$ok" ] || { log "strata serve not ready after 120 s; see $slog"; exit 1; }
    sleep 2
    # Front end alone (the `strata` process, all its threads; not the Python workers).
    local fe_idle fe0 tree0 fe1 tree1
    fe_idle=$(rss_kb "$strata_pid")
    ( while kill -0 "$strata_pid" 2>/dev/null; do rss_kb "$strata_pid"; sleep 0.5; done ) > "$out/logs/$label-${script%.py}.fe-rss" &
    sampler_pid=$!
    fe0=$(ticks "$strata_pid"); tree0=$(tree_ticks "$strata_pid")
    CUSTOM_URL="http://127.0.0.1:$port/score" CUSTOM_PID=$strata_pid CUSTOM_NAME=$label \
        SCRIPTS=$script VENV_DIR="$venvs" OUT="$dir" "$here/bench.sh" custom > "$dir.table.md"
    fe1=$(ticks "$strata_pid"); tree1=$(tree_ticks "$strata_pid")
    kill "$sampler_pid" 2>/dev/null || true; wait "$sampler_pid" 2>/dev/null || true; sampler_pid=""
    local fe_peak
    fe_peak=$(sort -n "$out/logs/$label-${script%.py}.fe-rss" | tail -n1)
    echo "$label,$script,$workers,$fe_idle,${fe_peak:-0},$((fe1 - fe0)),$((tree1 - tree0))" >> "$out/frontend.csv"
    stop_strata
    trim "$slog"
}

echo "server,script,workers,fe_rss_idle_kb,fe_rss_peak_kb,fe_ticks,tree_ticks" > "$out/frontend.csv"
log "results go to $out"
for server in $SERVERS; do
    case "$server" in
        azml|azml-w2)
            SCRIPTS=$SCRIPTS VENV_DIR="$venvs" OUT="$out/$server" "$here/bench.sh" "$server" > "$out/$server.table.md" ;;
        strata|strata-w2)
            w=1; [ "$server" = strata-w2 ] && w=2
            for script in $SCRIPTS; do run_strata "$w" "$script" "$server"; done ;;
        *) log "unknown server $server"; exit 2 ;;
    esac
done

# The floor under every score.py request: run() in-process, no server, in each interpreter.
log "timing score.py's run() in-process in both interpreters"
prefix=$("$strata" env build servenv 2>/dev/null | tail -n1)
"$venvs/serve-venv/bin/python" "$here/run_cost.py" "azml's serve-venv, bare (no azmlinfsrv imports)" > "$out/run_cost.md"
"$prefix/bin/python" "$here/run_cost.py" "Strata's servenv" >> "$out/run_cost.md"

python3 "$here/report.py" "$out" | tee "$work/serve.md"
cp "$work/serve.md" "$out/serve.md"
log "results: $out (table: $work/serve.md)"
