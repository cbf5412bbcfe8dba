#!/usr/bin/env bash
# Building environments: `strata env build` against plain uv, pip and py-rattler on the same
# locks, measured side by side with hyperfine.
#
#   bench/build.sh [WORKDIR]       # writes WORKDIR/build.md and prints it
#
# Two PyPI sets: "small" = numpy pandas scikit-learn, "big" = those plus matplotlib scipy joblib
# requests pyyaml. Strata locks each set once; plain uv and pip install from requirements
# written from that same lock (`name==version --hash=sha256:...`), so every tool installs
# exactly the same wheels. Cases:
#   hit    `strata env build` of a built version  vs  `uv pip sync --offline` no-op on the same venv
#   warm   prefix removed before each run, wheels in uv's cache  vs  `uv venv --relocatable` +
#          `uv pip sync` with the same uv cache, into one reused venv path and into a new path
#          per run (Strata builds in a new directory each time)
#   cold   empty STRATA_CACHE (the lock kept)  vs  empty UV_CACHE_DIR; downloads go through PyPI
#   pip    `python -m venv` + `pip install --no-deps -r` the same lock
#   conda  50 noarch packages from a local channel (bench/make_channel.py): strata warm build
#          and cache hit  vs  py-rattler solve + install (warm package cache, and no-op)
#   share  10 names registered with the same requirements: one lock hash, one prefix; disk use
#          before and after, and whether prefix files are hardlinks into uv's cache
#
# Warm and cold cases run as interleaved rounds (one run per command, order rotating), so load
# drift from other tenants hits all tools alike. Strata's step timings come from its build log,
# and, when strace is installed, its fsync time from one extra traced warm build.
# Needs python3 (3.11), hyperfine and network access to PyPI. WORKDIR is reused when rerun:
# tools, channel and locks are made once. Knobs: HIT_RUNS (20), WARM_RUNS (10), COLD_RUNS (5),
# PIP_RUNS (2), SETTLE (10: seconds to wait for an idle CPU before each measurement),
# STRATA (a strata binary; default: build the release binary).
set -Eeuo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="${1:-$(mktemp -d)}"
mkdir -p "$work"
work="$(cd "$work" && pwd)"
HIT_RUNS=${HIT_RUNS:-20}
WARM_RUNS=${WARM_RUNS:-10}
COLD_RUNS=${COLD_RUNS:-5}
SETTLE=${SETTLE:-10}
PIP_RUNS=${PIP_RUNS:-2}
command -v hyperfine >/dev/null || apt-get install -y hyperfine >/dev/null

if [ -z "${STRATA:-}" ]; then
    cargo build --release -p strata-cli --manifest-path "$root/Cargo.toml" >/dev/null 2>&1
    STRATA="${CARGO_TARGET_DIR:-$root/target}/release/strata"
fi
strata="$STRATA"

# Hermetic: our own caches and workspace; no interpreter downloads, no pip nagging.
export STRATA_CACHE="$work/cache"
export UV_PYTHON_DOWNLOADS=never UV_NO_PROGRESS=1 PIP_DISABLE_PIP_VERSION_CHECK=1
unset VIRTUAL_ENV CONDA_PREFIX PIP_FIND_LINKS STRATA_WORKSPACE UV_CACHE_DIR PYTHONDONTWRITEBYTECODE
ws="$work/ws"
R="$work/results"
mkdir -p "$R" "$work/reqs" "$work/venvs" "$work/cold"
rm -f "$R"/*.json "$R"/*.log "$R/load.txt"
log() { echo "[build.sh] $*" >&3; }
# Strata's progress goes to a log, shown if a step fails.
exec 3>&2 2>>"$R/setup.log"
trap 'echo "[build.sh] failed; the end of $R/setup.log:" >&3; tail -20 "$R/setup.log" >&3' ERR
# settle, hf, hf_rounds: shared with image.sh.
# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"

# One more warm build under strace, for the time Strata spends in fsync (its marker file and
# the workspace's SQLite commits), which uv does not do: "count total_s marker_s" per set.
fsyncs() {
    command -v strace >/dev/null || return 0
    rm -rf "${envs:?}/${key[$1]}"
    strace -f -y --seccomp-bpf -T -e trace=fsync,fdatasync -o "$R/fsync-$1.strace" $S env build "bench-$1" >/dev/null
    awk -F'<' '/fsync|fdatasync/ && / = 0 </ { t = $NF + 0; n++; s += t; if (/strata-prefix.json/) m += t }
        END { print n + 0, s + 0, m + 0 }' "$R/fsync-$1.strace" > "$R/fsync-$1.txt"
}

# ---------- tools ----------
uv="$work/uvtool/bin/uv"
[ -x "$uv" ] || python3 -m pip install -q --disable-pip-version-check --target "$work/uvtool" uv==0.13.9
pyrattler="$work/pyrattler/bin/python"
if [ ! -x "$pyrattler" ] || ! "$pyrattler" -c 'import rattler' 2>/dev/null; then
    rm -rf "$work/pyrattler"
    python3 -m venv "$work/pyrattler"
    "$work/pyrattler/bin/pip" install -q --disable-pip-version-check py-rattler==0.28.0
fi

# ---------- workspace, definitions, locks ----------
[ -f "$ws/.strata/strata.db" ] || "$strata" init "$ws" >/dev/null
S="$strata --workspace $ws"
printf '%s\n' numpy pandas scikit-learn > "$work/reqs/small.txt"
printf '%s\n' numpy pandas scikit-learn matplotlib scipy joblib requests pyyaml > "$work/reqs/big.txt"
[ -f "$work/channel/noarch/repodata.json" ] || python3 "$root/bench/make_channel.py" "$work/channel" >/dev/null
conda_specs=$(python3 -c 'import json,sys; print(" ".join(sorted(json.load(open(sys.argv[1]))["packages"][k]["name"] for k in json.load(open(sys.argv[1]))["packages"])))' "$work/channel/noarch/repodata.json")
{ printf 'name: bench-conda\nchannels:\n- file://%s\ndependencies:\n- python=3.11\n' "$work/channel"
  for p in $conda_specs; do echo "- $p"; done; } > "$work/reqs/conda.yml"

$S env register --name bench-small --requirements "$work/reqs/small.txt" >/dev/null
$S env register --name bench-big --requirements "$work/reqs/big.txt" >/dev/null
$S env register --name bench-conda --conda-file "$work/reqs/conda.yml" >/dev/null
declare -A key
for set in small big conda; do
    $S env lock "bench-$set" --json > "$work/lock-$set.json"
    key[$set]=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["lockHash"][:32])' "$work/lock-$set.json")
    "$strata" --workspace "$ws" env build "bench-$set" >/dev/null   # fills the caches
done
for set in small big; do  # the same lock as a hash-checked requirements file for uv and pip
    python3 - "$work/lock-$set.json" > "$work/lock-$set.txt" <<'PY'
import json, sys
for p in json.load(open(sys.argv[1]))["lock"]["pypi"]:
    print(f"{p['name']}=={p['version']}" + "".join(f" --hash=sha256:{h}" for h in p["hashes"]))
PY
done
# The interpreter Strata chose (its discovery memo), so plain uv and pip use the same one.
py=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(next(v["path"] for k, v in d.items() if k.startswith("==")))' "$STRATA_CACHE/interpreters-v1.json")
log "python $py; locks: small ${key[small]} big ${key[big]} conda ${key[conda]}"
envs="$STRATA_CACHE/envs-v1"
export UV_CACHE_DIR="$STRATA_CACHE/uv"   # plain uv shares Strata's uv cache (same wheels, same fs)
# Cold Strata runs keep only the uv binary Strata installed for itself (as plain uv keeps its own).
seed_tools="mkdir -p $work/cold/strata/tools && if [ -d $STRATA_CACHE/tools ]; then cp -al $STRATA_CACHE/tools/. $work/cold/strata/tools/; fi"

for set in small big; do
    lock="$work/lock-$set.txt"
    venv="$work/venvs/uv-$set"
    uv_build="$uv venv -q --relocatable --python $py $venv && $uv pip sync -q --require-hashes --python $venv/bin/python $lock"
    # A venv built by plain uv from the same lock, for the no-op.
    rm -rf "$venv" && sh -c "$uv_build"

    log "hit-$set (load $(cut -d' ' -f1-3 /proc/loadavg))"
    hf "hit-$set" -N --warmup 3 --runs "$HIT_RUNS" \
        -n "strata env build (built)" "$S env build bench-$set" \
        -n "uv pip sync --offline (no-op)" "$uv pip sync -q --offline --require-hashes --python $venv/bin/python $lock"

    # Strata builds in a new directory each time (then renames it), so uv sees a new
    # interpreter path and probes it; plain uv gets both: one reused path, and a new one per run.
    uv_build_new="d=$work/venvs/new-$set-\$(date +%s%N); $uv venv -q --relocatable --python $py \$d && $uv pip sync -q --require-hashes --python \$d/bin/python $lock"
    hf_rounds "warm-$set" 1 "$WARM_RUNS" \
        "strata env build (warm)" "rm -rf $envs/${key[$set]}" "$S env build bench-$set" \
        "uv venv + uv pip sync (warm)" "rm -rf $venv" "$uv_build" \
        "uv venv + uv pip sync (warm, new path)" "rm -rf $work/venvs/new-$set-*" "$uv_build_new"
    rm -rf "$work/venvs/new-$set-"*
    $S env build-log "bench-$set" > "$R/buildlog-warm-$set.txt"
    fsyncs "$set"

    cold="$work/cold/strata" cold_venv="$work/cold/venv"
    hf_rounds "cold-$set" 0 "$COLD_RUNS" \
        "strata env build (cold)" "rm -rf $cold && $seed_tools" "STRATA_CACHE=$cold $S env build bench-$set" \
        "uv venv + uv pip sync (cold)" "rm -rf $work/cold/uvcache $cold_venv" \
        "UV_CACHE_DIR=$work/cold/uvcache sh -c '$uv venv -q --relocatable --python $py $cold_venv && $uv pip sync -q --require-hashes --python $cold_venv/bin/python $lock'"
    STRATA_CACHE="$cold" $S env build-log "bench-$set" > "$R/buildlog-cold-$set.txt"
    rm -rf "$work/cold/strata" "$work/cold/uvcache" "$cold_venv"

    log "pip-$set (load $(cut -d' ' -f1-3 /proc/loadavg))"
    hf "pip-$set" --runs "$PIP_RUNS" \
        -n "python -m venv + pip install --no-deps -r lock" --prepare "rm -rf $work/venvs/pip-$set" \
        "PIP_CACHE_DIR=$work/pipcache $py -m venv $work/venvs/pip-$set && PIP_CACHE_DIR=$work/pipcache $work/venvs/pip-$set/bin/pip install -q --no-deps -r $lock"
done

# ---------- conda from the local channel ----------
prx="$work/venvs/rattler-prefix" rcache="$work/rattler-cache"
rattler_install="$pyrattler $root/bench/pyrattler_install.py $work/channel $prx $rcache $conda_specs"
rm -rf "$prx" && $rattler_install   # fills py-rattler's package cache
hf_rounds conda-warm 1 "$WARM_RUNS" \
    "strata env build (conda, warm)" "rm -rf $envs/${key[conda]}" "$S env build bench-conda" \
    "py-rattler solve + install (warm)" "rm -rf $prx" "$rattler_install" \
    "uv venv (part of strata's build)" "rm -rf $work/venvs/uv-only" "$uv venv -q --relocatable --python $py $work/venvs/uv-only" \
    "python -c 'import rattler' (py-rattler floor)" "true" "$pyrattler -c 'import rattler'"
$S env build-log bench-conda > "$R/buildlog-warm-conda.txt"
fsyncs conda
"$strata" --workspace "$ws" env build bench-conda >/dev/null
log "conda-hit (load $(cut -d' ' -f1-3 /proc/loadavg))"
hf conda-hit -N --warmup 3 --runs "$HIT_RUNS" \
    -n "strata env build (conda, built)" "$S env build bench-conda" \
    -n "py-rattler solve + install (no-op)" "$rattler_install"

# ---------- sharing: ten names, one lock, one prefix ----------
share_out="$R/share.txt"
: > "$share_out"
for i in $(seq -w 1 10); do
    $S env register --name "share-$i" --requirements "$work/reqs/small.txt" >/dev/null
    $S env lock "share-$i" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["lockHash"])'
done | sort -u > "$R/share-hashes.txt"
share_key=$(head -c 32 "$R/share-hashes.txt")
rm -rf "${envs:?}/$share_key"   # start from "not built" (it equals bench-small's lock when PyPI did not move)
sizes() { echo "$(du -sk "$envs" | cut -f1) $(du -sk "$STRATA_CACHE" | cut -f1)"; }
before=$(sizes)
$S env build share-01 > "$R/share-paths.txt"
after1=$(sizes)
for i in $(seq -w 2 10); do $S env build "share-$i"; done >> "$R/share-paths.txt"
after10=$(sizes)
prefix=$(head -1 "$R/share-paths.txt")
numpy_init=$(find "$prefix" -path '*/site-packages/numpy/__init__.py' | head -1)
{
    echo "lock_hashes $(wc -l < "$R/share-hashes.txt")"
    echo "distinct_paths $(sort -u "$R/share-paths.txt" | wc -l)"
    echo "before $before"
    echo "after1 $after1"
    echo "after10 $after10"
    echo "files $(find "$prefix" -type f | wc -l)"
    echo "hardlinked $(find "$prefix" -type f -links +1 | wc -l)"
    echo "sample_links $(stat -c %h "$numpy_init")"
    echo "sample_in_uv_cache $(find "$UV_CACHE_DIR" -samefile "$numpy_init" 2>/dev/null | head -1 | sed "s|$UV_CACHE_DIR|\$UV_CACHE_DIR|")"
} > "$share_out"

python3 "$root/bench/build_report.py" "$work" | tee "$work/build.md"
