#!/usr/bin/env bash
# Slurm targets, side by side in one run on a private single-node cluster:
#   A. submit -> script start: `strata run --target` (environment built, pack made, node cache
#      warm) against a bare `sbatch` of the same script with the same pre-built prefix's Python;
#   B. materializing the environment on a node: from its pack into an empty node cache, against
#      `uv venv` + `uv pip sync` of the same pinned packages from PyPI into an empty uv cache;
#   C. the same from the node's warm cache.
# Goals (issue 15): A <= +300 ms; B >= 3x faster; C <= 20 ms.
#
#   bench/compute.sh [WORKDIR] [ROUNDS]     # writes WORKDIR/compute.md and prints it
#
# B writes both sides (the node cache, the venv and uv's cache) under BENCH_SCRATCH (default:
# WORKDIR), e.g. BENCH_SCRATCH=/dev/shm for a node whose local scratch is memory.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="${1:-$(mktemp -d)}"
mkdir -p "$work"
work="$(cd "$work" && pwd)"
rounds="${2:-5}"
scratch="${BENCH_SCRATCH:-$work}"
mkdir -p "$scratch"

cargo build --release -p strata-cli --manifest-path "$root/Cargo.toml" >/dev/null 2>&1
strata="${CARGO_TARGET_DIR:-$root/target}/release/strata"
export STRATA_CACHE="$work/cache"

# The cluster: a private one on its own ports, stopped at the end unless it was running.
slurm="$work/slurm"
export SLURM_TEST_PORT="${SLURM_TEST_PORT:-6837}"
if ! "$root/scripts/slurm-test-cluster" status "$slurm" >/dev/null 2>&1; then
    trap '"$root/scripts/slurm-test-cluster" stop "$slurm"' EXIT
fi
"$root/scripts/slurm-test-cluster" start "$slurm" >/dev/null
# shellcheck disable=SC1091
source "$slurm/env"

ws="$work/ws"
if [[ ! -f "$ws/.strata/strata.db" ]]; then
    mkdir -p "$ws" && "$strata" init "$ws" >/dev/null
fi
export STRATA_WORKSPACE="$ws/.strata"
# A real environment: numpy (one 16 MB wheel, 1,000+ files) and six.
printf 'numpy==2.1.3\nsix==1.16.0\n' >"$work/requirements.txt"
"$strata" env register --name benchenv --requirements "$work/requirements.txt" >/dev/null
python="$("$strata" env build benchenv --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["python"])')"
"$strata" compute detach bench >/dev/null 2>&1 || true
"$strata" compute attach bench --slurm --node-cache "$work/node-warm" >/dev/null

src="$work/src"
mkdir -p "$src"
# The script's first statement records when it started (nanoseconds since the epoch).
printf 'import time, os\nopen(os.environ["START_FILE"], "w").write(str(time.time_ns()))\n' >"$src/start.py"
now() { date +%s%N; }
wait_file() { for _ in $(seq 600); do [[ -s "$1" ]] && return 0; sleep 0.01; done; echo "no $1" >&2; exit 1; }
bare_job="$work/bare.sh"
printf '#!/bin/bash\nexec %q %q\n' "$python" "$src/start.py" >"$bare_job"

# One of each first: the pack is made and the node cache warmed, slurmctld has scheduled once.
START_FILE="$work/warm" "$strata" run --target bench --env benchenv --memory 500M --source-dir "$src" start.py >/dev/null 2>&1

: >"$work/a.txt"
for r in $(seq "$rounds"); do
    f="$work/start-strata-$r"; rm -f "$f"
    t0=$(now)
    START_FILE="$f" "$strata" run --detach --target bench --env benchenv --memory 500M --source-dir "$src" start.py >/dev/null
    wait_file "$f"
    echo "strata $(( ($(cat "$f") - t0) / 1000000 ))" >>"$work/a.txt"
    f="$work/start-bare-$r"; rm -f "$f"
    t0=$(now)
    START_FILE="$f" sbatch --parsable --mem=500M --chdir="$work" --output=/dev/null "$bare_job" >/dev/null
    wait_file "$f"
    echo "bare $(( ($(cat "$f") - t0) / 1000000 ))" >>"$work/a.txt"
done
"$strata" runs list --json | python3 -c 'import json,sys; sys.exit(0 if all(r["status"]=="Completed" for r in json.load(sys.stdin)) else 1)' ||
    { "$strata" runs list; echo "a run did not complete" >&2; sleep 2; }

# B and C: the job step alone, as the node runs it, from a real run's job spec.
last="$("$strata" runs list --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["runDir"])')"
uv="$(ls "$STRATA_CACHE"/tools/uv-*/bin/uv | head -1)"
: >"$work/b.txt"
for r in $(seq "$rounds"); do
    node="$scratch/node-cold-$r"; rm -rf "$node"
    python3 - "$last/.strata-run/job.json" "$work/job-$r.json" "$node" <<'EOF'
import json, sys
spec = json.load(open(sys.argv[1]))
spec["env"]["nodeCache"] = sys.argv[3]
json.dump(spec, open(sys.argv[2], "w"))
EOF
    # The step's own record: how long it took, and whether it reused the node's cache.
    millis() { python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["reused"] == (sys.argv[2] == "warm"), r; print(r["millis"])' "$last/.strata-run/materialize.json" "$1"; }
    # Each side starts with the disk's write-back done, so neither pays for the other's files.
    sync
    START_FILE=/dev/null "$strata" compute job-step "$work/job-$r.json"
    echo "pack $(millis pack)" >>"$work/b.txt"
    START_FILE=/dev/null "$strata" compute job-step "$work/job-$r.json"
    echo "warm $(millis warm)" >>"$work/b.txt"
    rm -rf "$node"
    pypi="$scratch/pypi-$r"; rm -rf "$pypi"
    sync
    t0=$(now)
    UV_CACHE_DIR="$pypi/cache" "$uv" venv --quiet --python "$(readlink -f "$python")" "$pypi/venv"
    UV_CACHE_DIR="$pypi/cache" "$uv" pip sync --quiet --python "$pypi/venv/bin/python" "$work/requirements.txt"
    echo "pypi $(( ($(now) - t0) / 1000000 ))" >>"$work/b.txt"
    rm -rf "$pypi"
done

python3 - "$work" "$rounds" <<'EOF' | tee "$work/compute.md"
import statistics, sys
work, rounds = sys.argv[1], sys.argv[2]
values = {}
for name in ("a.txt", "b.txt"):
    for line in open(f"{work}/{name}"):
        key, ms = line.split()
        values.setdefault(key, []).append(float(ms))
med = {k: statistics.median(v) for k, v in values.items()}
rng = {k: f"{min(v):.0f}–{max(v):.0f}" for k, v in values.items()}
print(f"| measurement ({rounds} rounds, median, range in ms) | strata | peer | ratio / difference | goal |")
print("|---|---|---|---|---|")
print(f"| A. submit → script start | {med['strata']:.0f} ms ({rng['strata']}) | bare sbatch {med['bare']:.0f} ms ({rng['bare']}) | {med['strata'] - med['bare']:+.0f} ms | ≤ +300 ms |")
print(f"| B. environment on an empty node | pack {med['pack']:.0f} ms ({rng['pack']}) | uv pip sync from PyPI {med['pypi']:.0f} ms ({rng['pypi']}) | {med['pypi'] / max(med['pack'], 1):.2f}× (PyPI time / pack time) | ≥ 3× |")
print(f"| C. environment from the node's warm cache | {med['warm']:.0f} ms ({rng['warm']}) | — | — | ≤ 20 ms |")
EOF
