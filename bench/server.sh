#!/usr/bin/env bash
# The team server against the MLflow tracking server, side by side in one run on the same
# PostgreSQL 15: create a run, log a batch of 10 metrics, get a run, list the runs of an
# experiment (a page of 100), with 10,000 and 100,000 runs stored, at concurrency 1, 8 and 64,
# 8 s per cell (wrk, 2 threads), each cell started once both servers and the database are idle
# again. Also the idle RSS of each server and the wall time of CLI commands against the server
# with 10,000 environment versions stored.
#
#   bench/server.sh [WORKDIR]          # writes WORKDIR/server.md and prints it
#
# Both servers run with what their docs recommend for a small team: MLflow 3 with 2 uvicorn
# workers (`mlflow server --workers 2`), `strata server run` as it is (one process). Stored runs
# are seeded with SQL into each one's own schema (MLflow's `runs` table, Strata's `runs`), the
# same number of rows in one experiment; seeding through either API would take hours.
#
# Needs: wrk (Debian package), and MLflow in a virtual environment (`pip install mlflow
# 'psycopg[binary]'`, made under ~/.cache/strata-bench-mlflow when missing).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="${1:-$(mktemp -d)}"
mkdir -p "$work"
chmod 755 "$work"
duration="${BENCH_DURATION:-8}"
sizes="${BENCH_SIZES:-10000 100000}"
concurrencies="${BENCH_CONCURRENCY:-1 8 64}"

command -v wrk >/dev/null || apt-get install -y --no-install-recommends wrk >/dev/null
venv="${MLFLOW_VENV:-$HOME/.cache/strata-bench-mlflow}"
if [ ! -x "$venv/bin/mlflow" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check mlflow 'psycopg[binary]'
fi
mlflow_version="$("$venv/bin/python" -c 'import mlflow; print(mlflow.__version__)')"

target="$(cargo metadata --format-version 1 --no-deps --manifest-path "$root/Cargo.toml" | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
cargo build --release -p strata-cli --manifest-path "$root/Cargo.toml" >/dev/null 2>&1
STRATA="${STRATA:-$target/release/strata}"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

pg_url="$("$root/scripts/pg-test-server" start "$work/pg")"
base="${pg_url%/*}"
pg_pid=$(head -1 "$work/pg/data/postmaster.pid")
psql_admin() { psql "$pg_url" -v ON_ERROR_STOP=1 -Atq "$@"; }
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    "$root/scripts/pg-test-server" stop "$work/pg" >/dev/null 2>&1 || true
}
trap cleanup EXIT

rss_kb() { # total RSS of a process and its children
    local pid=$1 total=0 child
    total=$(ps -o rss= -p "$pid" | tr -d ' ')
    for child in $(pgrep -P "$pid" || true); do
        total=$((total + $(rss_kb "$child")))
    done
    echo "$total"
}
processes() { echo $((1 + $(pgrep -P "$1" | wc -l))); }
cpu_ticks() { # user + system clock ticks of a process and its children
    local pid=$1 total child
    total=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)
    for child in $(pgrep -P "$pid" || true); do
        total=$((total + $(cpu_ticks "$child")))
    done
    echo "$total"
}
settle() { # wait (at most 2 min) until the given processes together use under 5% of a core: a
    # server still working off the requests of a cell whose connections wrk closed would
    # otherwise take the cores from the next cell, the other server's
    local pid before after
    for _ in $(seq 240); do
        before=0 after=0
        for pid in "$@"; do before=$((before + $(cpu_ticks "$pid"))); done
        sleep 0.5
        for pid in "$@"; do after=$((after + $(cpu_ticks "$pid"))); done
        [ $((after - before)) -le 2 ] && return 0
    done
}

wait_http() {
    for _ in $(seq 300); do
        curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
        sleep 0.2
    done
    echo "no answer from $1" >&2
    return 1
}

# wrk scripts: each request is the operation of the cell; bodies vary per request where the
# operation creates something.
lua="$work/lua"
mkdir -p "$lua"
cat >"$lua/common.lua" <<'LUA'
counter = 0
-- Ids made by a cell are unique across cells: each cell passes its own tag.
local threads = 0
function setup(thread)
    threads = threads + 1
    thread:set("tid", tostring(threads))
end
function init(args)
    tid = (args[1] or "cell") .. "_" .. tid
end
function percentile_report(summary, latency, requests)
    io.write(string.format("RESULT %f %f %d %d\n", summary.requests / (summary.duration / 1e6),
        latency:percentile(99) / 1000, summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout, summary.requests))
end
done = percentile_report
LUA

run_cell() { # script url concurrency tag -> "rps p99ms errors requests"
    local script=$1 url=$2 concurrency=$3 tag=$4 threads=2
    [ "$concurrency" -lt 2 ] && threads=1
    wrk -t"$threads" -c"$concurrency" -d"${duration}s" --timeout 10s --latency -s "$script" "$url" -- "$tag" 2>/dev/null \
        | awk '/^RESULT/ {print $2, $3, $4, $5}'
}

#### MLflow
mlflow_db="$base/mlflow"
psql_admin -c "DROP DATABASE IF EXISTS mlflow" -c "CREATE DATABASE mlflow"
mlflow_port=$(free_port)
mkdir -p "$work/mlflow-artifacts"
"$venv/bin/mlflow" server --backend-store-uri "postgresql+psycopg://${mlflow_db#postgres://}" \
    --default-artifact-root "$work/mlflow-artifacts" --host 127.0.0.1 --port "$mlflow_port" --workers 2 \
    >"$work/mlflow.log" 2>&1 &
mlflow_pid=$!
pids+=("$mlflow_pid")
wait_http "http://127.0.0.1:$mlflow_port/health"
mlflow="http://127.0.0.1:$mlflow_port/api/2.0/mlflow"
experiment=$(curl -fsS -X POST "$mlflow/experiments/create" -H 'Content-Type: application/json' -d '{"name": "bench"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["experiment_id"])')
run_one=$(curl -fsS -X POST "$mlflow/runs/create" -H 'Content-Type: application/json' -d "{\"experiment_id\": \"$experiment\", \"start_time\": 1}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["run"]["info"]["run_id"])')
sleep 2
mlflow_idle_kb=$(rss_kb "$mlflow_pid")
mlflow_processes=$(processes "$mlflow_pid")

cat "$lua/common.lua" - >"$lua/mlflow-create.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"experiment_id": "$experiment", "start_time": 1700000000000}'
LUA
cat "$lua/common.lua" - >"$lua/mlflow-batch.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
    counter = counter + 1
    local metrics = {}
    for i = 1, 10 do
        metrics[i] = string.format('{"key": "m%d", "value": %d, "timestamp": 1700000000000, "step": %d}', i, counter, counter)
    end
    return wrk.format(nil, nil, nil, '{"run_id": "$run_one", "metrics": [' .. table.concat(metrics, ",") .. ']}')
end
LUA
cat "$lua/common.lua" >"$lua/mlflow-get.lua"
cat "$lua/common.lua" - >"$lua/mlflow-list.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"experiment_ids": ["$experiment"], "max_results": 100}'
LUA

#### Strata
strata_db="$base/strata_bench"
psql_admin -c "DROP DATABASE IF EXISTS strata_bench" -c "CREATE DATABASE strata_bench"
"$STRATA" server migrate --database "$strata_db" >/dev/null
"$STRATA" server workspace create bench --database "$strata_db" >/dev/null
token=$("$STRATA" server token create --database "$strata_db" --user bench --workspace bench --role contributor --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
strata_port=$(free_port)
mkdir -p "$work/strata-blobs"
"$STRATA" server run --database "$strata_db" --blobs "file://$work/strata-blobs" --listen "127.0.0.1:$strata_port" \
    >"$work/strata.log" 2>&1 &
strata_pid=$!
pids+=("$strata_pid")
wait_http "http://127.0.0.1:$strata_port/api/v1/health"
api="http://127.0.0.1:$strata_port/api/v1/workspaces/bench"
run_record() { # id -> a run as the API takes it
    printf '{"id": "%s", "experiment": "bench", "status": "Queued", "envName": "e", "envVersion": 1, "lockHash": null, "script": "train.py", "arguments": [], "sourceDir": "/src", "snapshot": null, "runDir": "/runs/%s", "outputs": null, "logs": null, "exitCode": null, "error": null, "queuedAt": 1700000000000, "preparingAt": null, "startedAt": null, "finishedAt": null, "target": "local", "image": null}' "$1" "$1"
}
curl -fsS -X POST "$api/runs" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' -d "$(run_record bench_one)" >/dev/null
sleep 1
strata_idle_kb=$(rss_kb "$strata_pid")

cat "$lua/common.lua" - >"$lua/strata-create.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $token"
request = function()
    counter = counter + 1
    local id = "bench_" .. tid .. "_" .. counter
    return wrk.format(nil, nil, nil, string.format('$(run_record '%s')', id, id))
end
LUA
cat "$lua/common.lua" - >"$lua/strata-batch.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $token"
request = function()
    counter = counter + 1
    local metrics = {}
    for i = 1, 10 do
        metrics[i] = string.format('{"name": "m%d", "kind": "scalar", "value": %d, "loggedAt": 1700000000000}', i, counter)
    end
    return wrk.format(nil, nil, nil, "[" .. table.concat(metrics, ",") .. "]")
end
LUA
cat "$lua/common.lua" - >"$lua/strata-get.lua" <<LUA
wrk.headers["Authorization"] = "Bearer $token"
LUA
cp "$lua/strata-get.lua" "$lua/strata-list.lua"

seed() { # size: bring both stores to SIZE runs in the experiment
    local size=$1
    local have_m have_s
    have_m=$(psql "$mlflow_db" -Atq -c "SELECT count(*) FROM runs WHERE experiment_id = $experiment")
    psql "$mlflow_db" -v ON_ERROR_STOP=1 -q -c "
        INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, user_id, status,
                          start_time, end_time, source_version, lifecycle_stage, artifact_uri, experiment_id)
        SELECT md5('seed' || i), 'seed-' || i, 'LOCAL', '', '', 'bench', 'FINISHED', 1700000000000 + i,
               1700000000001 + i, '', 'active', '$work/mlflow-artifacts', $experiment
        FROM generate_series($have_m + 1, $size) AS i ON CONFLICT DO NOTHING"
    have_s=$(psql "$strata_db" -Atq -c "SELECT count(*) FROM runs")
    psql "$strata_db" -v ON_ERROR_STOP=1 -q -c "
        INSERT INTO runs (workspace_id, id, experiment, status, env_name, env_version, script, arguments,
                          source_dir, run_dir, queued_at, finished_at, target)
        SELECT (SELECT id FROM workspaces WHERE name = 'bench'), 'seed_' || i, 'bench', 'Completed', 'e', '1',
               'train.py', '[]', '/src', '/runs/seed_' || i, 1700000000000 + i, 1700000000001 + i, 'local'
        FROM generate_series($have_s + 1, $size) AS i ON CONFLICT DO NOTHING"
    psql "$mlflow_db" -q -c "VACUUM ANALYZE runs" >/dev/null
    psql "$strata_db" -q -c "VACUUM ANALYZE runs" >/dev/null
}

results="$work/results.txt"
: >"$results"
for size in $sizes; do
    seed "$size"
    for concurrency in $concurrencies; do
        for op in create batch get list; do
            case $op in
                create) m_url="$mlflow/runs/create"; s_url="$api/runs" ;;
                batch) m_url="$mlflow/runs/log-batch"; s_url="$api/runs/bench_one/metrics" ;;
                get) m_url="$mlflow/runs/get?run_id=$run_one"; s_url="$api/runs/bench_one" ;;
                list) m_url="$mlflow/runs/search"; s_url="$api/runs?experiment=bench&limit=100" ;;
            esac
            m=$(run_cell "$lua/mlflow-$op.lua" "$m_url" "$concurrency" "m$size-$concurrency")
            settle "$mlflow_pid" "$strata_pid" "$pg_pid"
            s=$(run_cell "$lua/strata-$op.lua" "$s_url" "$concurrency" "s$size-$concurrency")
            settle "$mlflow_pid" "$strata_pid" "$pg_pid"
            echo "$size $concurrency $op ${m:-0 0 0 0} ${s:-0 0 0 0}" | tee -a "$results" >&2
        done
    done
done

# CLI commands against the server with 10,000 environment versions (100 names x 100).
"$STRATA" --workspace "http://127.0.0.1:$strata_port/w/bench" env list >/dev/null 2>&1 || true
printf 'numpy\n' >"$work/r.txt"
STRATA_TOKEN=$token "$STRATA" --workspace "http://127.0.0.1:$strata_port/w/bench" env register --name seed --requirements "$work/r.txt" >/dev/null
psql "$strata_db" -v ON_ERROR_STOP=1 -q -c "
    INSERT INTO environments (workspace_id, name, version, spec_hash, definition, kind, description, curated, anonymous, created_at)
    SELECT e.workspace_id, 'env' || (i / 100), ((i % 100) + 1)::text, md5(i::text) || md5(i::text), e.definition, e.kind, NULL, false, false, 1700000000000 + i
    FROM environments e, generate_series(0, 9999) AS i WHERE e.name = 'seed' ON CONFLICT DO NOTHING"
cli_ms() {
    local start end best=999999
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        start=$(date +%s%N)
        STRATA_TOKEN=$token "$STRATA" --workspace "http://127.0.0.1:$strata_port/w/bench" "$@" >/dev/null
        end=$(date +%s%N)
        best=$(( (end - start) / 1000000 < best ? (end - start) / 1000000 : best ))
    done
    echo "$best"
}
env_list_ms=$(cli_ms env list)
env_show_ms=$(cli_ms env show env42:7)
runs_show_ms=$(cli_ms runs show seed_1)

python3 - "$results" "$work/server.md" "$mlflow_version" "$mlflow_idle_kb" "$mlflow_processes" "$strata_idle_kb" "$env_list_ms" "$env_show_ms" "$runs_show_ms" "$duration" <<'PY'
import sys
results, out, version, m_kb, m_procs, s_kb, env_list, env_show, runs_show, duration = sys.argv[1:]
names = {"create": "create run", "batch": "log 10 metrics", "get": "get run", "list": "list 100 runs"}
lines = [
    f"Each cell: {duration} s of wrk (2 threads) at the given concurrency against MLflow {version} "
    "(2 uvicorn workers) and `strata server` on the same PostgreSQL 15; requests/s and p99 latency; "
    "`x` = Strata's requests/s over MLflow's, `p99` = Strata's p99 over MLflow's (lower is better). "
    "Errors are non-2xx answers and socket errors.",
    "",
    "| stored runs | c | operation | MLflow req/s | MLflow p99 ms | MLflow errors | Strata req/s | Strata p99 ms | Strata errors | x | p99 |",
    "|---|---|---|---|---|---|---|---|---|---|---|",
]
for row in open(results):
    size, c, op, m_rps, m_p99, m_err, m_n, s_rps, s_p99, s_err, s_n = row.split()
    m_rps, m_p99, s_rps, s_p99 = map(float, (m_rps, m_p99, s_rps, s_p99))
    # A handful of requests in 8 s is a collapse, not a rate to compare with.
    if int(m_n) < 10:
        ratio, p99 = f"MLflow completed {int(m_n)}", "-"
    else:
        ratio, p99 = f"{s_rps / m_rps:.0f}x", f"{s_p99 / m_p99:.3f}"
    lines.append(f"| {int(size):,} | {c} | {names[op]} | {m_rps:.0f} | {m_p99:.1f} | {m_err} | {s_rps:.0f} | {s_p99:.1f} | {s_err} | {ratio} | {p99} |")
lines += [
    "",
    f"Idle memory: MLflow {int(m_kb) / 1024:.0f} MB RSS over {m_procs} processes; `strata server` {int(s_kb) / 1024:.1f} MB RSS in 1 process.",
    "",
    f"CLI against the server with 10,000 environment versions stored (best of 10, wall): `env list` {env_list} ms, "
    f"`env show env42:7` {env_show} ms, `runs show` {runs_show} ms.",
]
open(out, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
