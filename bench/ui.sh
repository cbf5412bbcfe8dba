#!/usr/bin/env bash
# Server time of `strata ui` pages at scale: the environment list over 10,000 versions
# (100 names x 100 versions) and the run list of one experiment of 100,000 runs (each with a
# metric), 30 requests per page after 3 warm-ups, over loopback with curl. Server time is what
# the server logs for each request (`RUST_LOG=strata_ui=debug`): from the request's arrival to
# its rendered response, without connection setup or transfer. Goal: <= 100 ms per page.
#
#   bench/ui.sh [WORKDIR]              # writes WORKDIR/ui.md and prints it
#
# The pages are served by `crates/strata-ui/examples/serve.rs` (the same `Ui` and server as
# `strata ui`, without the rest of the CLI) built with `--release`; `strata` (any build, or
# `STRATA=path`) only creates the workspace.
#
# The workspace is seeded with SQL through Python's sqlite3 (copies of one registered
# version and synthetic run rows), which is what the pages read; seeding through the CLI
# would take hours for 100,000 runs.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="${1:-$(mktemp -d)}"
mkdir -p "$work"
target="$(cargo metadata --format-version 1 --no-deps --manifest-path "$root/Cargo.toml" | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
if [ -z "${STRATA:-}" ]; then
    cargo build -p strata-cli --manifest-path "$root/Cargo.toml" >/dev/null 2>&1
    STRATA="$target/debug/strata"
fi
cargo build --release -p strata-ui --example serve --manifest-path "$root/Cargo.toml" >/dev/null 2>&1
serve="$target/release/examples/serve"

ws="$work/ws"
if [ ! -f "$ws/.strata/seeded" ]; then
    rm -rf "$ws" && mkdir -p "$ws"
    "$STRATA" init "$ws" >/dev/null
    printf 'numpy\npandas\n' > "$work/r.txt"
    "$STRATA" --workspace "$ws" env register --name seed --requirements "$work/r.txt" >/dev/null
    python3 - "$ws/.strata/strata.db" <<'PY'
import json, random, sqlite3, sys, time
db = sqlite3.connect(sys.argv[1])
row = db.execute("SELECT spec_hash, definition, kind FROM environments WHERE name = 'seed'").fetchone()
now = int(time.time() * 1000)
db.executemany(
    "INSERT INTO environments (name, version, spec_hash, definition, kind, created_at) VALUES (?, ?, ?, ?, ?, ?)",
    ((f"env{n:02d}", str(v), row[0], row[1], row[2], now + n * 100 + v) for n in range(100) for v in range(1, 101)),
)
random.seed(0)
runs = []
metrics = []
for i in range(100_000):
    run_id = f"big_{1700000000 + i}_{i:08x}"
    queued = now - (100_000 - i) * 1000
    status = "Failed" if i % 17 == 0 else "Completed"
    runs.append((run_id, "big", status, f"env{i % 100:02d}", str(1 + i % 100), "train.py", "[]", "/src", f"/runs/{run_id}", queued, queued + 500, queued + 500 + random.randint(1000, 90000)))
    metrics.append((run_id, 1, "accuracy", "scalar", json.dumps(random.random()), queued))
db.executemany(
    "INSERT INTO runs (id, experiment, status, env_name, env_version, script, arguments, source_dir, run_dir, queued_at, started_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    runs,
)
db.executemany("INSERT INTO run_metrics (run_id, seq, name, kind, value, logged_at) VALUES (?, ?, ?, ?, ?, ?)", metrics)
db.commit()
print("environment versions:", db.execute("SELECT COUNT(*) FROM environments").fetchone()[0], file=sys.stderr)
print("runs:", db.execute("SELECT COUNT(*) FROM runs").fetchone()[0], file=sys.stderr)
PY
    touch "$ws/.strata/seeded"
fi

RUST_LOG=strata_ui=debug "$serve" "$ws/.strata" 0 > "$work/url" 2> "$work/server.log" &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -s "$work/url" ] && break; sleep 0.1; done
url=$(head -n 1 "$work/url")

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
)
{
    echo "| page | median | min | max | vs 100 ms goal |"
    echo "|---|---|---|---|---|"
    for entry in "${pages[@]}"; do
        label=${entry%%|*}
        path=${entry#*|}
        before=$(wc -l < "$work/server.log")
        for _ in $(seq 33); do
            curl -sf -o /dev/null "$url$path"
        done
        sleep 0.2
        tail -n +"$((before + 1))" "$work/server.log" | grep -o '[0-9.]* ms$' | tail -n 30 | python3 -c '
import statistics, sys
label = sys.argv[1]
times = sorted(float(line.split()[0]) for line in sys.stdin)
assert len(times) == 30, times
median = statistics.median(times)
print(f"| {label} | {median:.1f} ms | {times[0]:.1f} ms | {times[-1]:.1f} ms | {median / 100:.2f}x |")
' "$label"
    done
} | tee "$work/ui.md"
