#!/usr/bin/env bash
# Overhead of a tracked run: `strata run` of a script versus running the same script directly
# with the same environment's Python (cached environment, 10-file source directory); and the
# time to snapshot a 2,000-file / 300 MB source directory, fresh and unchanged.
#
#   bench/run.sh [WORKDIR]        # writes WORKDIR/run.md and prints it
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="${1:-$(mktemp -d)}"
mkdir -p "$work"
command -v hyperfine >/dev/null || apt-get install -y hyperfine >/dev/null

cargo build --release -p strata-cli --manifest-path "$root/Cargo.toml" >/dev/null 2>&1
strata="${CARGO_TARGET_DIR:-$root/target}/release/strata"
export STRATA_CACHE="$work/cache"

ws="$work/ws"
if [ ! -f "$ws/.strata/strata.db" ]; then
    mkdir -p "$ws" && "$strata" init "$ws" >/dev/null
fi
export STRATA_WORKSPACE="$ws/.strata"

# A 10-file project whose script does almost nothing, so the overhead is what is measured.
src="$work/src10"
mkdir -p "$src"
for i in $(seq 1 9); do printf 'VALUE_%d = %d\n' "$i" "$i" > "$src/module$i.py"; done
printf 'from strata import Run\nRun.get_context().log("x", 1)\n' > "$src/train.py"
python="$("$strata" env build Strata-Minimal --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["python"])')"
# One run first: it writes the `strata` module into the workspace, which the direct run imports too.
"$strata" run --source-dir "$src" train.py >/dev/null 2>&1

# 2,000 files, 300 MB: 1,990 small files and 10 of 30 MB.
big="$work/src-big"
if [ ! -d "$big" ]; then
    mkdir -p "$big/data" "$big/code"
    for i in $(seq 1 1990); do printf 'x = %d\n' "$i" > "$big/code/f$i.py"; done
    for i in $(seq 1 10); do head -c 31457280 /dev/urandom > "$big/data/blob$i.bin"; done
    printf 'print("ok")\n' > "$big/code/f1.py"
fi

cd "$work"
hyperfine -N --warmup 2 --runs 15 --export-json "$work/run-overhead.json" \
    -n 'python train.py (same prefix, direct)' "sh -c 'cd $src && PYTHONPATH=$ws/.strata/python $python train.py'" \
    -n 'strata run train.py' "$strata run --source-dir $src train.py" \
    >/dev/null

# Fresh: a new blob store each time (the workspace is recreated); unchanged: the same one.
hyperfine --runs 3 --export-json "$work/snapshot.json" \
    --prepare "rm -rf $work/snapws && mkdir -p $work/snapws && $strata init $work/snapws >/dev/null" \
    -n 'snapshot + run, 2,000 files / 300 MB, fresh store' "$strata --workspace $work/snapws/.strata run --source-dir $big --snapshot-max-files 2000 --snapshot-max-mb 320 code/f1.py" \
    >/dev/null
hyperfine --runs 3 --warmup 1 --export-json "$work/snapshot-unchanged.json" \
    -n 'snapshot + run, 2,000 files / 300 MB, unchanged' "$strata --workspace $work/snapws/.strata run --source-dir $big --snapshot-max-files 2000 --snapshot-max-mb 320 code/f1.py" \
    >/dev/null

python3 - "$work" <<'PY' | tee "$work/run.md"
import json, sys
work = sys.argv[1]
def results(name):
    return json.load(open(f"{work}/{name}"))["results"]
overhead = results("run-overhead.json")
direct, strata = overhead[0]["median"], overhead[1]["median"]
print("| case | median | min | max |")
print("|---|---|---|---|")
for r in overhead + results("snapshot.json") + results("snapshot-unchanged.json"):
    print(f"| {r['command']} | {r['median']*1000:.0f} ms | {r['min']*1000:.0f} ms | {r['max']*1000:.0f} ms |")
print()
print(f"Overhead of `strata run` over running the script directly: {(strata - direct)*1000:.0f} ms (median; target <= 150 ms); ratio {strata/direct:.2f}x.")
PY
