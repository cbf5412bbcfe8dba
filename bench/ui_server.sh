#!/usr/bin/env bash
# Server time of the workspace pages on `strata server` (PostgreSQL 15), at the scale of
# bench/ui.sh: the environment list over 10,000 versions (100 names x 100 versions) and the run
# list of one experiment of 100,000 runs (each with a metric), 30 requests per page after 3
# warm-ups, as a signed-in reader, over loopback with curl. Server time is what the server's
# request log says for each request (`latency_ms`: from its arrival to the response, with the
# session and role checks), without connection setup or transfer. Goal: <= 100 ms per page.
#
#   bench/ui_server.sh [WORKDIR]       # writes WORKDIR/ui_server.md and prints it
#
# The workspace is seeded with SQL through psql (copies of one registered version and
# synthetic run rows), which is what the pages read; seeding through the API would take long.
# Starts its own PostgreSQL (scripts/pg-test-server) in WORKDIR/pg and stops it afterwards.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="${1:-$(mktemp -d)}"
mkdir -p "$work"
chmod 755 "$work"
target="$(cargo metadata --format-version 1 --no-deps --manifest-path "$root/Cargo.toml" | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
if [ -z "${STRATA:-}" ]; then
    cargo build --release -p strata-cli --manifest-path "$root/Cargo.toml" >/dev/null 2>&1
    STRATA="$target/release/strata"
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_http() {
    for _ in $(seq 300); do
        curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
        sleep 0.2
    done
    echo "no answer from $1" >&2
    return 1
}

pg_url="$("$root/scripts/pg-test-server" start "$work/pg")"
db="${pg_url%/*}/strata_ui_bench"
server=""
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null || true
    "$root/scripts/pg-test-server" stop "$work/pg" >/dev/null 2>&1 || true
}
trap cleanup EXIT

psql "$pg_url" -v ON_ERROR_STOP=1 -Atq -c "DROP DATABASE IF EXISTS strata_ui_bench" -c "CREATE DATABASE strata_ui_bench"
"$STRATA" server migrate --database "$db" >/dev/null
"$STRATA" server workspace create bench --database "$db" >/dev/null
token() { # user role -> a token of workspace bench
    "$STRATA" server token create --database "$db" --user "$1" --workspace bench --role "$2" --json \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])'
}
writer=$(token seeder contributor)
reader=$(token viewer reader)

port=$(free_port)
mkdir -p "$work/blobs"
RUST_LOG=strata_server=info "$STRATA" server run --database "$db" --blobs "file://$work/blobs" \
    --listen "127.0.0.1:$port" >"$work/server.log" 2>&1 &
server=$!
wait_http "http://127.0.0.1:$port/api/v1/health"
url="http://127.0.0.1:$port/w/bench"

# One real version, registered through the server, copied 10,000 times; 100,000 runs.
printf 'numpy\npandas\n' >"$work/r.txt"
STRATA_TOKEN="$writer" "$STRATA" --workspace "$url" env register --name seed --requirements "$work/r.txt" >/dev/null
psql "$db" -v ON_ERROR_STOP=1 -q <<'SQL'
INSERT INTO environments (workspace_id, name, version, spec_hash, definition, kind, created_at)
SELECT e.workspace_id, 'env' || lpad(n::text, 2, '0'), v::text, e.spec_hash, e.definition, e.kind,
       e.created_at + n * 100 + v
FROM environments e, generate_series(0, 99) AS n, generate_series(1, 100) AS v
WHERE e.name = 'seed';
INSERT INTO runs (workspace_id, id, experiment, status, env_name, env_version, script, arguments,
                  source_dir, run_dir, queued_at, started_at, finished_at, target)
SELECT w.id, 'big_' || (1700000000 + i) || '_' || lpad(to_hex(i), 8, '0'), 'big',
       CASE WHEN i % 17 = 0 THEN 'Failed' ELSE 'Completed' END,
       'env' || lpad((i % 100)::text, 2, '0'), (1 + i % 100)::text, 'train.py', '[]', '/src',
       '/runs/big_' || i, 1700000000000 + i * 1000, 1700000000500 + i * 1000,
       1700000000500 + i * 1000 + 1000 + (hashint4(i) & 65535), 'local'
FROM workspaces w, generate_series(0, 99999) AS i
WHERE w.name = 'bench';
INSERT INTO run_metrics (run_seq, seq, name, kind, value, logged_at)
SELECT r.seq, nextval('run_metrics_order'), 'accuracy', 'scalar',
       to_json(((hashint4(r.seq::int) & 65535) / 65536.0)::float8), r.queued_at
FROM runs r WHERE r.experiment = 'big';
-- What the server writes when each of these runs finishes.
INSERT INTO run_metric_last (run_seq, name, seq, value, workspace_id, experiment)
SELECT m.run_seq, m.name, m.seq, m.value::text::float8, r.workspace_id, r.experiment
FROM run_metrics m JOIN runs r ON r.seq = m.run_seq WHERE r.experiment = 'big';
VACUUM ANALYZE;
SQL
echo "environment versions: $(psql "$db" -Atq -c 'SELECT count(*) FROM environments')" >&2
echo "runs: $(psql "$db" -Atq -c 'SELECT count(*) FROM runs')" >&2

# Sign in as the reader, as a browser does: the form's cookie and token, then the session.
jar="$work/cookies"
rm -f "$jar"
form=$(curl -fsS -c "$jar" "$url/login")
csrf=$(printf '%s' "$form" | sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p')
curl -fsS -o /dev/null -b "$jar" -c "$jar" --data-urlencode "csrf=$csrf" --data-urlencode "token=$reader" "$url/login"
grep -q strata_session "$jar" || { echo "signing in failed" >&2; exit 1; }

pages=(
    "environments (latest of 100 names)|environments"
    "environments page 2|environments?page=2"
    "environments search|environments?q=env5"
    "one environment's 100 versions|environment?name=env42"
    "experiments (100,000 runs grouped)|experiments"
    "runs, newest first (100,000)|runs?experiment=big"
    "runs, page 1000|runs?experiment=big&page=1000"
    "runs, failed only|runs?experiment=big&status=Failed"
    "runs, by duration|runs?experiment=big&sort=duration"
    "runs, by a metric|runs?experiment=big&sort=metric%3Aaccuracy"
    "runs, by a metric, page 1000|runs?experiment=big&sort=metric%3Aaccuracy&page=1000"
)
{
    echo "| page | median | min | max | vs 100 ms goal |"
    echo "|---|---|---|---|---|"
    for entry in "${pages[@]}"; do
        label=${entry%%|*}
        path=${entry#*|}
        before=$(wc -l <"$work/server.log")
        for _ in $(seq 33); do
            curl -sf -o /dev/null -b "$jar" "$url/$path"
        done
        sleep 0.2
        tail -n +"$((before + 1))" "$work/server.log" | grep ' request ' | grep -o 'latency_ms=[0-9.]*' \
            | cut -d= -f2 | tail -n 30 | python3 -c '
import statistics, sys
label = sys.argv[1]
times = sorted(float(line) for line in sys.stdin)
assert len(times) == 30, times
median = statistics.median(times)
print(f"| {label} | {median:.1f} ms | {times[0]:.1f} ms | {times[-1]:.1f} ms | {median / 100:.2f}x |")
' "$label"
    done
} | tee "$work/ui_server.md"
