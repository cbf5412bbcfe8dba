#!/usr/bin/env bash
# The reference server's own end-to-end scenario tests (microsoft/azureml-inference-server,
# tests/azmlinfsrv, which start `azmlinfsrv` from PATH and talk to it over HTTP) run twice: against
# azmlinfsrv 1.5.1 itself, and against `strata serve` through bench/scenarios/azmlinfsrv, which maps
# azmlinfsrv's flags onto strata serve. The tests are not copied into this project: pass a clone
# (or a bare git directory) of that repository.
#
#   bench/scenarios.sh REPO [WORKDIR]   # default WORKDIR: /tmp/benchscenarios; prints a table
#
# Both runs use one virtual environment for pytest (the tests import azureml_inference_server_http).
# Strata serves the test scripts in an environment of its own with what they import
# (azureml-inference-server-http, inference-schema, numpy), built once.
#
# Knobs: STRATA_BIN [build with cargo]  PINS ["azureml-inference-server-http==1.5.1"]
# Needs: python3, network to PyPI on the first run, and free ports 5000, 5001, 3535, 8346, 8347
# (the tests' own; their fixture SIGTERMs whatever listens on 5001). Everything is on 127.0.0.1.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
repo="${1:?usage: bench/scenarios.sh REPO [WORKDIR]}"
work="${2:-/tmp/benchscenarios}"
mkdir -p "$work"
work="$(cd "$work" && pwd)"
pins=${PINS:-"azureml-inference-server-http==1.5.1"}
log() { echo "[scenarios.sh $(date -u +%H:%M:%S)] $*" >&2; }

# --- the tests, from the given repository ------------------------------------------------------
rm -rf "$work/tests"
mkdir -p "$work/tests"
if [ -d "$repo/.git" ] || [ -f "$repo/HEAD" ]; then
    git --git-dir="$( [ -d "$repo/.git" ] && echo "$repo/.git" || echo "$repo")" archive HEAD tests | tar -x -C "$work"
else
    cp -r "$repo/tests/." "$work/tests/"
fi
tests="$work/tests/azmlinfsrv"

# --- pytest and the reference server -----------------------------------------------------------
venv="$work/venv"
if [ ! -x "$venv/bin/azmlinfsrv" ]; then
    log "creating $venv ($pins, pytest)"
    python3 -m venv "$venv"
    # shellcheck disable=SC2086 # PINS is a list
    "$venv/bin/pip" install -q $pins inference-schema numpy pytest requests psutil
fi

# --- Strata --------------------------------------------------------------------------------------
if [ -n "${STRATA_BIN:-}" ]; then
    strata="$STRATA_BIN"
else
    log "cargo build -p strata-cli"
    (cd "$root" && cargo build -p strata-cli --bin strata >/dev/null 2>&1)
    strata="$(cd "$root" && cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/debug/strata"
fi
export STRATA_CACHE="$work/strata-cache"
ws="$work/strata-ws"
[ -d "$ws/.strata" ] || "$strata" init "$ws" >/dev/null
export STRATA_WORKSPACE="$ws/.strata" STRATA_BIN="$strata" STRATA_SCENARIO_ENV=scenarios
printf '%s\ninference-schema\nnumpy\n' "$pins" | tr ' ' '\n' > "$work/strata-requirements.txt"
"$strata" env register --name scenarios --requirements "$work/strata-requirements.txt" >/dev/null
log "building (or reusing) the Strata environment for the test scripts"
"$strata" env build scenarios >/dev/null

# --- the two runs --------------------------------------------------------------------------------
# Servers a test left running (azmlinfsrv's gunicorn or strata serve, started in the tests'
# directory by this script), stopped by process id before each run and at the end.
leftovers() {
    local p
    for p in /proc/[0-9]*; do
        [ "$(readlink "$p/cwd" 2>/dev/null)" = "$tests" ] || continue
        tr '\0' ' ' < "$p/cmdline" 2>/dev/null | grep -qE "^($venv/bin/python3? $venv/bin/azmlinfsrv|$strata serve)" || continue
        echo "${p#/proc/}"
    done
}
stop_leftovers() {
    local pids
    pids=$(leftovers)
    [ -n "$pids" ] || return 0
    log "stopping servers left running: $(echo $pids)"
    # shellcheck disable=SC2086 # a list of process ids
    kill -KILL $pids 2>/dev/null || true
    sleep 1
}
trap stop_leftovers EXIT
# One pytest process per test, with the servers a test left running stopped in between: a test
# whose log assertion fails never reaches its cleanup, and its server would answer the next tests.
run() { # LABEL PATH-PREFIX
    local label=$1 prefix=$2 id n=0
    rm -rf "${work:?}/$label"
    mkdir -p "$work/$label"
    # The reference's dev extras; test_cors_enabled_without_package uninstalls it.
    "$venv/bin/pip" install -q flask-cors
    log "pytest against $label, one test at a time"
    while read -r id; do
        n=$((n + 1))
        stop_leftovers
        (cd "$tests" && PATH="$prefix$venv/bin:$PATH" timeout 300 "$venv/bin/python" -m pytest -q \
            -p no:cacheprovider --junitxml="$work/$label/$n.xml" --test_run_name="$label" "$id" \
            >>"$work/$label.log" 2>&1) || true
    done < <(cd "$tests" && "$venv/bin/python" -m pytest -q -p no:cacheprovider --collect-only 2>/dev/null | grep '::')
    stop_leftovers
}
: > "$work/azmlinfsrv.log"
: > "$work/strata.log"
run azmlinfsrv ""
run strata "$root/bench/scenarios:"
"$venv/bin/python" "$root/bench/scenarios/summarize.py" "$tests" \
    "azmlinfsrv=$work/azmlinfsrv" "strata=$work/strata" | tee "$work/scenarios.md"
