#!/usr/bin/env bash
# Knowing what is inside, at scale (issue #17): process wall time of `strata env search` on a
# workspace of 10,000 locked environment versions, and of `strata env audit --all` over 1,000
# locks against the whole PyPI advisory snapshot, beside osv-scanner-style matching in a short
# Python script with `packaging` (bench/inventory_reference.py), which is also the correctness
# reference: both must report the same findings.
#
#   bench/inventory.sh [WORKDIR] [ADVISORIES]   # writes WORKDIR/inventory.md and prints it
#
# ADVISORIES defaults to ../shared/reference/advisories beside the repository. STRATA=PATH
# uses that binary instead of building the release one; PYTHON=PATH a Python with packaging
# and PyYAML (default: a venv made in WORKDIR).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="${1:-$(mktemp -d)}"
advisories="$(cd "${2:-$root/../shared/reference/advisories}" && pwd)"
mkdir -p "$work"
command -v hyperfine >/dev/null || apt-get install -y hyperfine >/dev/null

if [ -z "${STRATA:-}" ]; then
    cargo build --release -p strata-cli --manifest-path "$root/Cargo.toml" >/dev/null 2>&1
    STRATA="${CARGO_TARGET_DIR:-$root/target}/release/strata"
fi
strata="$STRATA"
# Audits keep parsed advisories in the cache (`advisories-v1/`): cold runs start without it.
export STRATA_CACHE="$work/cache"
if [ -z "${PYTHON:-}" ]; then
    [ -x "$work/venv/bin/python" ] || { python3 -m venv "$work/venv" && "$work/venv/bin/pip" install -q packaging pyyaml; }
    PYTHON="$work/venv/bin/python"
fi

ms() { # wall time of one command, in ms
    local start end
    start=$(date +%s%N); "$@" >/dev/null; end=$(date +%s%N)
    echo $(( (end - start) / 1000000 ))
}

# 10,000 versions (100 names x 100), each with a lock of 4 PyPI and 2 conda packages.
ws="$work/search"
if [ ! -f "$ws/.strata/strata.db" ]; then
    mkdir -p "$ws/reqs" && "$strata" init "$ws" >/dev/null
    echo "registering 10,000 versions (one process each)..." >&2
    for name in $(seq -w 0 99); do
        for version in $(seq 1 100); do
            printf 'numpy==1.%d.0\n' "$version" > "$ws/reqs/r.txt"
            "$strata" --workspace "$ws" env register --name "env$name" --requirements "$ws/reqs/r.txt" >/dev/null
        done
    done
    "$PYTHON" "$root/bench/inventory_seed.py" "$ws/.strata/strata.db" search
    search_backfill=$(ms "$strata" --workspace "$ws" env list)
    echo "$search_backfill" > "$work/search-backfill.ms"
fi
search_backfill=$(cat "$work/search-backfill.ms")

# 1,000 environments, each locked to 30 real PyPI packages at versions the advisories list.
wa="$work/audit"
if [ ! -f "$wa/.strata/strata.db" ]; then
    mkdir -p "$wa/reqs" && "$strata" init "$wa" >/dev/null
    echo "registering 1,000 environments..." >&2
    for name in $(seq -w 0 999); do
        printf 'six==1.16.0\n' > "$wa/reqs/r.txt"
        "$strata" --workspace "$wa" env register --name "app$name" --requirements "$wa/reqs/r.txt" >/dev/null
    done
    "$PYTHON" "$root/bench/inventory_seed.py" "$wa/.strata/strata.db" audit "$advisories"
    "$strata" --workspace "$wa" env list >/dev/null
fi

# Correctness first: the same findings as the reference.
"$strata" --workspace "$wa" env audit --all --advisories "$advisories" --json > "$work/audit.json"
"$PYTHON" -c '
import json, sys
report = json.load(open(sys.argv[1]))
found = sorted({(r["environment"], p["name"], p["version"], a["id"])
                for r in report["reports"] for p in r["vulnerable"] for a in p["advisories"]})
print(json.dumps([list(f) for f in found]))' "$work/audit.json" > "$work/strata-findings.json"
"$PYTHON" "$root/bench/inventory_reference.py" "$advisories" "$wa/.strata/strata.db" > "$work/reference-findings.json" 2>/dev/null
findings=$("$PYTHON" -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$work/strata-findings.json")
if cmp -s "$work/strata-findings.json" "$work/reference-findings.json"; then
    agree="identical ($findings findings)"
else
    agree="DIFFERENT (strata $findings, reference $("$PYTHON" -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$work/reference-findings.json"))"
fi

# Cold: no parsed copy of the advisories, and the page cache dropped (when the machine
# allows it). Warm: the parsed copy from the run before.
cold_note="no parsed copy, page cache dropped before each run"
prepare="rm -rf $STRATA_CACHE/advisories-v1; sync; echo 1 > /proc/sys/vm/drop_caches"
if ! (sync; echo 1 > /proc/sys/vm/drop_caches) 2>/dev/null; then
    prepare="rm -rf $STRATA_CACHE/advisories-v1"
    cold_note="no parsed copy; the page cache could not be dropped here, so the files were cached"
fi

cd "$work"
hyperfine -N --warmup 3 --runs 30 --export-json "$work/search.json" \
    -n "env search 'numpy<1.22' --json (10,000 versions)" "$strata --workspace $ws env search 'numpy<1.22' --json" \
    -n "env search pillow" "$strata --workspace $ws env search pillow" \
    -n "env search 'conda:openssl<3'" "$strata --workspace $ws env search conda:openssl<3" \
    -n "true (process start floor)" "true" >/dev/null
hyperfine --runs 5 --prepare "$prepare" --export-json "$work/audit-cold.json" \
    -n "strata env audit --all, cold" "$strata --workspace $wa env audit --all --advisories $advisories --json" \
    -n "python reference, cold" "$PYTHON $root/bench/inventory_reference.py $advisories $wa/.strata/strata.db" >/dev/null
hyperfine -N --warmup 2 --runs 10 --export-json "$work/audit-warm.json" \
    -n "strata env audit --all, warm" "$strata --workspace $wa env audit --all --advisories $advisories --json" \
    -n "python reference, warm" "$PYTHON $root/bench/inventory_reference.py $advisories $wa/.strata/strata.db" >/dev/null

records=$(find "$advisories" -name '*.yaml' -o -name '*.json' | wc -l)
"$PYTHON" - "$work" "$search_backfill" "$agree" "$cold_note" "$records" > "$work/inventory.md" <<'PY'
import json, sys
work, backfill, agree, cold_note, records = sys.argv[1:]
def rows(name):
    return {r["command"]: r for r in json.load(open(f"{work}/{name}.json"))["results"]}
def ms(r, key="median"):
    return r[key] * 1000
out = ["| command | median | min | max | vs target |", "|---|---|---|---|---|"]
for command, r in rows("search").items():
    out.append(f"| {command} | {ms(r):.1f} ms | {ms(r, 'min'):.1f} ms | {ms(r, 'max'):.1f} ms | {ms(r)/30:.2f}x of 30 ms |")
out.append("")
out.append("| command | median | min | max | vs target | vs reference |")
out.append("|---|---|---|---|---|---|")
for name, target in (("audit-cold", 1000), ("audit-warm", 100)):
    results = list(rows(name).values())
    strata, reference = results
    for r in results:
        ratio = ms(r) / ms(reference)
        out.append(f"| {r['command']} | {ms(r):.0f} ms | {ms(r, 'min'):.0f} ms | {ms(r, 'max'):.0f} ms | "
                   + (f"{ms(r)/target:.2f}x of {target} ms" if r is strata else "-")
                   + f" | {ratio:.3f}x |")
out.append("")
out.append(f"Index backfill of 10,000 existing locks (migration 8, first command): {backfill} ms. "
           f"Advisory files: {records}. Findings vs the reference: {agree}. Cold: {cold_note}.")
print("\n".join(out))
PY
cat "$work/inventory.md"
