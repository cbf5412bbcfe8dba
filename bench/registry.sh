#!/usr/bin/env bash
# Registry speed at scale: process wall time of `strata env register` (new and unchanged),
# `strata env list --json` and `strata env show --json` on a workspace holding 10,000
# environment versions (100 names x 100 versions), measured with hyperfine.
#
#   bench/registry.sh [WORKDIR]        # writes WORKDIR/registry.md and prints it
#
# The reference system (Azure ML) is a remote service, so there is no local peer to run side
# by side; the table compares against the 30 ms target and against the cost of starting a
# process at all (`true`), which no CLI can beat.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="${1:-$(mktemp -d)}"
mkdir -p "$work"
command -v hyperfine >/dev/null || apt-get install -y hyperfine >/dev/null

cargo build --release -p strata-cli --manifest-path "$root/Cargo.toml" >/dev/null 2>&1
strata="${CARGO_TARGET_DIR:-$root/target}/release/strata"

ws="$work/ws"
if [ ! -f "$ws/.strata/strata.db" ] || [ "$("$strata" --workspace "$ws" env list --all-versions --json | grep -c '"name"')" -lt 10000 ]; then
    rm -rf "$ws" && mkdir -p "$ws/reqs"
    "$strata" init "$ws" >/dev/null
    echo "seeding 10,000 versions (one process each)..." >&2
    for name in $(seq -w 0 99); do
        for version in $(seq 1 100); do
            printf 'numpy==1.%d.0\npandas\n' "$version" > "$ws/reqs/r.txt"
            "$strata" --workspace "$ws" env register --name "env$name" --requirements "$ws/reqs/r.txt" >/dev/null
        done
    done
fi
count=$("$strata" --workspace "$ws" env list --all-versions --json | grep -c '"name"')
echo "workspace holds $count environment versions" >&2

printf 'six==1.16.0\n' > "$work/unchanged.txt"
"$strata" --workspace "$ws" env register --name unchanged --requirements "$work/unchanged.txt" >/dev/null
echo 0 > "$work/counter"

cd "$work"
hyperfine -N --warmup 3 --runs 30 --export-json "$work/registry.json" \
    -n 'true (process start floor)' 'true' \
    -n 'env register (new version)' --prepare "sh -c 'n=\$(cat $work/counter); echo \$((n+1)) > $work/counter; printf \"six==1.\$n.0\\n\" > $work/new.txt'" \
        "$strata --workspace $ws env register --name growing --requirements $work/new.txt" \
    -n 'env register (unchanged)' "$strata --workspace $ws env register --name unchanged --requirements $work/unchanged.txt" \
    -n 'env list --json (latest of 100 names)' "$strata --workspace $ws env list --json" \
    -n 'env list --all-versions --json (10,000)' "$strata --workspace $ws env list --all-versions --json" \
    -n 'env show --json' "$strata --workspace $ws env show env42 --json" \
    -n 'env show NAME:VERSION' "$strata --workspace $ws env show env42:17" \
    >/dev/null

python3 - "$work/registry.json" <<'PY' | tee "$work/registry.md"
import json, sys
results = json.load(open(sys.argv[1]))["results"]
print("| command | median | min | max | vs 30 ms target |")
print("|---|---|---|---|---|")
for r in results:
    med = r["median"] * 1000
    print(f"| {r['command']} | {med:.1f} ms | {r['min']*1000:.1f} ms | {r['max']*1000:.1f} ms | {med/30:.2f}x |")
PY
