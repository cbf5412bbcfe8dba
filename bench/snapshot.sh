#!/usr/bin/env bash
# Snapshots of many small files: `strata run` of a 10,000- and a 100,000-file source
# directory into a fresh workspace and again unchanged, beside `git add -A` of the same tree
# into a fresh repository and again unchanged (git's content-addressed object store, the
# nearest peer). Strata's own phases (storing the snapshot, laying it into the run directory)
# are read from `strata -v`.
#
#   bench/snapshot.sh [WORKDIR]        # writes WORKDIR/snapshot.md and prints it
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="${1:-$(mktemp -d)}"
mkdir -p "$work"

cargo build --release -p strata-cli --manifest-path "$root/Cargo.toml" >/dev/null 2>&1
strata="${CARGO_TARGET_DIR:-$root/target}/release/strata"
export STRATA_CACHE="$work/cache"
echo > "$work/requirements.txt"

tree() { # DIR COUNT: COUNT files of a few bytes, 100 to a directory, and train.py
    local dir=$1 count=$2
    [ -f "$dir/train.py" ] && return 0
    python3 - "$dir" "$count" <<'PY'
import os, sys
root, count = sys.argv[1], int(sys.argv[2])
for i in range(count):
    d = os.path.join(root, f"d{i // 100}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"f{i}.txt"), "w") as f:
        f.write(str(i))
with open(os.path.join(root, "train.py"), "w") as f:
    f.write("print('ok')\n")
PY
}

# Seconds of one command, and Strata's phase times from its -v lines.
timed() { # OUT COMMAND...
    local out=$1; shift
    local start end
    start=$(date +%s.%N)
    "$@" >"$out.stdout" 2>"$out.stderr"
    end=$(date +%s.%N)
    echo "$start $end" | awk '{printf "%.2f", $2 - $1}'
}

rows=()
for count in 10000 100000; do
    src="$work/src$count"
    tree "$src" "$count"
    ws="$work/ws$count"
    rm -rf "$ws" && mkdir -p "$ws" && "$strata" init "$ws" >/dev/null
    # The environment is built once beforehand, so only the snapshot is measured.
    "$strata" --workspace "$ws/.strata" env register --name bench --requirements "$work/requirements.txt" >/dev/null 2>&1
    "$strata" --workspace "$ws/.strata" env build bench >/dev/null 2>&1
    sync
    run=(run --env bench --source-dir "$src" --snapshot-max-files 200000 train.py)
    fresh=$(timed "$work/fresh$count" "$strata" -v --workspace "$ws/.strata" "${run[@]}")
    again=$(timed "$work/again$count" "$strata" -v --workspace "$ws/.strata" "${run[@]}")
    phases() { # FILE: "stored S ms, laid out R ms"
        local stored restored
        stored=$(grep -o 'stored in [0-9]* ms' "$1" | grep -o '[0-9]*' | head -1)
        restored=$(grep -o 'restored in [0-9]* ms' "$1" | grep -o '[0-9]*' | head -1)
        echo "stored in ${stored} ms, laid into the run directory in ${restored} ms"
    }
    repo="$work/git$count"
    rm -rf "$repo" && git init -q "$repo"
    git_fresh=$(timed "$work/gitfresh$count" git -C "$repo" --work-tree "$src" add -A)
    git_again=$(timed "$work/gitagain$count" git -C "$repo" --work-tree "$src" add -A)
    rows+=("| $count files, fresh store | ${fresh} s ($(phases "$work/fresh$count.stderr")) | ${git_fresh} s |")
    rows+=("| $count files, unchanged | ${again} s ($(phases "$work/again$count.stderr")) | ${git_again} s |")
done

{
    echo "| case | \`strata run\` (snapshot phases) | \`git add -A\` |"
    echo "|---|---|---|"
    printf '%s\n' "${rows[@]}"
    echo
    echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
} | tee "$work/snapshot.md"
