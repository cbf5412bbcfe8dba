#!/usr/bin/env bash
# Container images: `strata env image` against `podman build` of the equivalent Dockerfile, side
# by side in one run, from the same Debian base and with the same pinned packages.
#
#   bench/image.sh [WORKDIR]       # writes WORKDIR/image.md and prints it
#
# The base is made once with `strata image base debian-python` (mmdebstrap) in a scratch cache
# and exported with skopeo to WORKDIR/base.tar (an oci-archive). Strata builds on it with
# `--base-archive base.tar`, podman with `FROM oci-archive:base.tar`. The environment is
# numpy + scikit-learn: Strata locks it once, and the Dockerfile's
# `RUN python3 -m venv /opt/venv && /opt/venv/bin/pip install --no-cache-dir ...` pins every
# package of that lock (`name==version`), so both tools install the same versions. Cases:
#   cold       `strata env image` with an empty STRATA_CACHE each round (the lock kept in the
#              workspace, uv's own binary copied in)  vs  `podman build --no-cache` (pip
#              downloads every wheel; the base stays in podman's store)
#   unchanged  `strata env image` of a built version (a lookup)  vs  `podman build` again with
#              its layer cache
#   add        a new version with one more package (EXTRA, default six==1.16.0), the rest pinned
#              to the first lock: Strata's cache warm from the first image, the new image removed
#              before each round  vs  the Dockerfile with EXTRA added to its RUN line (the RUN
#              layer is rebuilt, the base layer comes from the cache); layers checked with
#              `skopeo inspect` and `podman image inspect`
#   sizes      Strata's stored image and layers (and their uncompressed sizes)  vs  podman's
#              image size and layers; both saved as oci-archives
#   repro      manifest digests of every cold Strata build; image IDs of every podman build
#   start      `podman run --rm IMAGE python -c 'import sklearn'` of each image (Strata's loaded
#              with `--load`), and how much bytecode (.pyc) each environment layer holds
# Cold and add cases run as interleaved rounds (one run per command, order rotating), so load
# drift from other tenants hits both tools alike; unchanged runs through hyperfine with warm-ups.
# One extra cold and add build of each tool is traced (timestamps on its progress lines) to
# split the time into steps; those builds are not in the medians.
# Podman gets its own store (WORKDIR/podman) and containers.conf (runc, cgroupfs, no ulimits).
# Its RUN steps use the host network (`--network host`; Strata's bubblewrap sandbox shares the
# host network too) and mount the host CA bundle, which HTTPS through this machine's proxy needs.
# Needs podman, skopeo, bubblewrap, mmdebstrap, hyperfine, python3 and network access to PyPI.
# WORKDIR is reused when rerun: base, workspace and locks are made once.
# Knobs: COLD_RUNS (3), HIT_RUNS (10), ADD_RUNS (3), START_RUNS (5), SETTLE (10: seconds to wait for an idle CPU
# before each measurement), EXTRA (six==1.16.0), STRATA (a strata binary; default: the release
# binary in CARGO_TARGET_DIR or ~/.cache/strata-target, built when missing).
set -Eeuo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="${1:-$(mktemp -d)}"
mkdir -p "$work"
work="$(cd "$work" && pwd)"
COLD_RUNS=${COLD_RUNS:-3}
HIT_RUNS=${HIT_RUNS:-10}
ADD_RUNS=${ADD_RUNS:-3}
START_RUNS=${START_RUNS:-5}
SETTLE=${SETTLE:-10}
EXTRA=${EXTRA:-six==1.16.0}
command -v hyperfine >/dev/null || apt-get install -y hyperfine >/dev/null
for tool in podman skopeo bwrap mmdebstrap python3; do
    command -v "$tool" >/dev/null || { echo "[image.sh] $tool is not installed" >&2; exit 1; }
done

if [ -z "${STRATA:-}" ]; then
    target="${CARGO_TARGET_DIR:-$HOME/.cache/strata-target}"
    STRATA="$target/release/strata"
    if [ ! -x "$STRATA" ]; then
        CARGO_TARGET_DIR="$target" cargo build --release -p strata-cli --manifest-path "$root/Cargo.toml" >/dev/null 2>&1
    fi
fi
strata="$STRATA"
# What the binary was built from is not recorded in it: note HEAD now, and when it was built.
head="$(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet HEAD -- crates 2>/dev/null || echo +dirty)"

# Hermetic: our own caches, workspace and podman store; no interpreter downloads.
export STRATA_CACHE="$work/cache"
export UV_PYTHON_DOWNLOADS=never UV_NO_PROGRESS=1 PIP_DISABLE_PIP_VERSION_CHECK=1
unset VIRTUAL_ENV CONDA_PREFIX STRATA_WORKSPACE UV_CACHE_DIR
ws="$work/ws"
R="$work/results"
base="$work/base.tar"
ca=/etc/ssl/certs/ca-certificates.crt
mkdir -p "$R" "$work/podman" "$work/ctx/v1" "$work/ctx/v2" "$work/out"
rm -f "$R"/*.json "$R"/*.log "$R"/*.iid "$R"/*.txt
log() { echo "[image.sh] $*" >&3; }
# Progress of setup steps goes to a log, shown if a step fails.
exec 3>&2 2>>"$R/setup.log"
trap 'echo "[image.sh] failed; the end of $R/setup.log:" >&3; tail -20 "$R/setup.log" >&3' ERR

printf '[containers]\ndefault_ulimits = []\n\n[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n' \
    > "$work/podman/containers.conf"
printf '[storage]\ndriver = "overlay"\ngraphroot = "%s/podman/storage"\nrunroot = "%s/podman/run"\n' "$work" "$work" \
    > "$work/podman/storage.conf"
export CONTAINERS_CONF="$work/podman/containers.conf" CONTAINERS_STORAGE_CONF="$work/podman/storage.conf"

# settle, hf, hf_rounds: shared with build.sh.
# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
# One more run of a command with a timestamp (seconds since its start) on each line it prints,
# for the step split; the last line is "END".
traced() { # NAME COMMAND
    local start line
    settle
    start=$EPOCHREALTIME
    { sh -c "$2" 2>&1 || echo "FAILED $?"; echo END; } | while IFS= read -r line; do
        printf '%s %s\n' "$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", b - a }')" "$line"
    done > "$R/trace-$1.txt"
    if grep -q '^[0-9.]* FAILED' "$R/trace-$1.txt"; then
        tail -20 "$R/trace-$1.txt" >&3
        exit 1
    fi
}

# ---------- the base, once: made by Strata, exported as an oci-archive ----------
if [ ! -f "$base" ]; then
    log "making the Debian base (mmdebstrap)"
    rm -rf "$work/basecache"
    start=$EPOCHREALTIME
    STRATA_CACHE="$work/basecache" "$strata" image base debian-python --json > "$work/base-made.json"
    awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f\n", b - a }' > "$work/base-seconds.txt"
    skopeo copy --quiet "oci:$work/basecache/images/oci:strata/base/debian-python:bookworm" "oci-archive:$base"
fi

# ---------- workspace, the two versions and their locks ----------
[ -f "$ws/.strata/strata.db" ] || "$strata" init "$ws" >/dev/null
S="$strata --workspace $ws"
pins() { python3 -c 'import json,sys; print(" ".join(p["name"] + "==" + p["version"] for p in json.load(open(sys.argv[1]))["lock"]["pypi"]))' "$1"; }
field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$@"; }
if [ ! -f "$work/lock-1.json" ]; then
    printf '%s\n' numpy scikit-learn > "$work/reqs-1.txt"
    $S env register --name bench-img --requirements "$work/reqs-1.txt" >/dev/null
    $S env lock bench-img --json > "$work/lock-1.json.tmp"
    mv "$work/lock-1.json.tmp" "$work/lock-1.json"
fi
v1=$(field "$work/lock-1.json" version)
if [ ! -f "$work/lock-2.json" ]; then
    # The same pins plus one package, so the two locks differ only by it.
    { pins "$work/lock-1.json" | tr ' ' '\n'; echo "$EXTRA"; } > "$work/reqs-2.txt"
    $S env register --name bench-img --requirements "$work/reqs-2.txt" >/dev/null
    $S env lock "bench-img" --json > "$work/lock-2.json.tmp"
    mv "$work/lock-2.json.tmp" "$work/lock-2.json"
fi
v2=$(field "$work/lock-2.json" version)
pins1=$(pins "$work/lock-1.json")
pins2=$(pins "$work/lock-2.json")
log "bench-img:$v1 = $pins1"
log "bench-img:$v2 = $pins2"

# The same image as a Dockerfile: the same base, the same pins, the same variables.
dockerfile() { # PINS
    cat <<EOF
FROM oci-archive:$base
RUN python3 -m venv /opt/venv && /opt/venv/bin/pip install --no-cache-dir $1
ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin VIRTUAL_ENV=/opt/venv PYTHONUNBUFFERED=1
CMD ["/opt/venv/bin/python"]
EOF
}
dockerfile "$pins1" > "$work/ctx/v1/Dockerfile"
dockerfile "$pins2" > "$work/ctx/v2/Dockerfile"
P="podman build --network host --volume $ca:$ca:ro"

# ---------- first builds: fill Strata's cache and podman's layer cache ----------
log "first builds (load $(cut -d' ' -f1-3 /proc/loadavg))"
$S env image "bench-img:$v1" --base-archive "$base" --json > "$R/image-1.json"
$S env image "bench-img:$v2" --base-archive "$base" --json > "$R/image-2.json"
ref1=$(field "$R/image-1.json" reference)
ref2=$(field "$R/image-2.json" reference)
# The base, under a name of its own, so removing a built image never removes it.
podman pull --quiet "oci-archive:$base" > "$R/podman-base.iid"
podman tag "$(cat "$R/podman-base.iid")" localhost/bench/base:latest
$P --quiet --tag "localhost/bench/img:$v1" "$work/ctx/v1" >/dev/null
$P --quiet --tag "localhost/bench/img:$v2" "$work/ctx/v2" >/dev/null

# ---------- cold ----------
cold="$work/cold"
seed_tools="rm -rf $cold && mkdir -p $cold/tools && cp -al $STRATA_CACHE/tools/. $cold/tools/"
strata_cold="STRATA_CACHE=$cold $S env image bench-img:$v1 --base-archive $base --json"
podman_cold="$P --no-cache --tag localhost/bench/cold $work/ctx/v1"
rm_podman_cold="podman rmi --force localhost/bench/cold >/dev/null 2>&1 || true"
hf_rounds cold 0 "$COLD_RUNS" \
    "strata env image (cold)" "$seed_tools" "$strata_cold > $R/cold-strata-\$(date +%s%N).json" \
    "podman build --no-cache" "$rm_podman_cold" "$podman_cold --iidfile $R/cold-podman-\$(date +%s%N).iid"
log "cold, traced"
sh -c "$seed_tools"
traced cold-strata "$strata_cold > $R/cold-strata-traced.json"
sh -c "$rm_podman_cold"
traced cold-podman "$podman_cold --iidfile $R/cold-podman-traced.iid"
sh -c "$rm_podman_cold"
rm -rf "$cold"

# ---------- unchanged ----------
log "unchanged (load $(cut -d' ' -f1-3 /proc/loadavg))"
hf unchanged -N --warmup 3 --runs "$HIT_RUNS" \
    -n "strata env image (unchanged)" "$S env image bench-img:$v1 --base-archive $base" \
    -n "podman build (layer cache)" "$P --tag localhost/bench/img:$v1 $work/ctx/v1"
$S env image "bench-img:$v1" --base-archive "$base" --json > "$R/unchanged-strata.json"
$P --tag "localhost/bench/img:$v1" "$work/ctx/v1" > "$R/unchanged-podman.txt" 2>&1

# ---------- one more package ----------
rm_strata_2="$S image rm $ref2 >/dev/null"
rm_podman_2="podman rmi --force localhost/bench/img:$v2 >/dev/null 2>&1 || true"
strata_add="$S env image bench-img:$v2 --base-archive $base --json"
podman_add="$P --tag localhost/bench/img:$v2 $work/ctx/v2"
hf_rounds add 0 "$ADD_RUNS" \
    "strata env image (one more package)" "$rm_strata_2" "$strata_add > $R/add-strata-\$(date +%s%N).json" \
    "podman build (RUN line changed)" "$rm_podman_2" "$podman_add --iidfile $R/add-podman-\$(date +%s%N).iid"
log "add, traced"
sh -c "$rm_strata_2"
traced add-strata "$strata_add > $R/image-2.json"
sh -c "$rm_podman_2"
traced add-podman "$podman_add"

# Which layers the two versions share.
layout="$STRATA_CACHE/images/oci"
skopeo inspect "oci:$layout:$ref1" > "$R/inspect-strata-1.json"
skopeo inspect "oci:$layout:$ref2" > "$R/inspect-strata-2.json"
podman image inspect "localhost/bench/img:$v1" > "$R/inspect-podman-1.json"
podman image inspect "localhost/bench/img:$v2" > "$R/inspect-podman-2.json"

# ---------- sizes ----------
skopeo inspect --raw "oci:$layout:$ref1" > "$R/manifest-strata-1.json"
python3 - "$layout" "$R/manifest-strata-1.json" > "$R/layers-strata-1.txt" <<'PY'
import gzip, json, sys
layout, manifest = sys.argv[1], json.load(open(sys.argv[2]))
for layer in manifest["layers"]:
    path = f"{layout}/blobs/sha256/{layer['digest'].split(':')[1]}"
    unpacked = layer["size"]
    if layer["mediaType"].endswith("gzip"):
        unpacked = 0
        with gzip.open(path) as f:
            while chunk := f.read(1 << 20):
                unpacked += len(chunk)
    print(layer["digest"], layer["mediaType"], layer["size"], unpacked)
PY
podman history --format json "localhost/bench/img:$v1" > "$R/history-podman-1.json"
rm -f "$work/out/strata-1.tar" "$work/out/podman-1.tar"
$S env image "bench-img:$v1" --base-archive "$base" --output oci-archive "$work/out/strata-1.tar" >/dev/null
podman save --quiet --format oci-archive --output "$work/out/podman-1.tar" "localhost/bench/img:$v1"
# Bytecode in the environment layers: files, bytes, and how many of them are .pyc.
python3 - "$layout" "$R/manifest-strata-1.json" "$work/out/podman-1.tar" > "$R/pyc.txt" <<'PY'
import json, sys, tarfile
def count(name, layer):
    files = size = pyc = pyc_size = 0
    with tarfile.open(fileobj=layer, mode="r|*") as t:
        for m in t:
            if m.isfile():
                files += 1; size += m.size
                if m.name.endswith(".pyc"):
                    pyc += 1; pyc_size += m.size
    print(name, files, size, pyc, pyc_size)
layout, manifest, archive = sys.argv[1], json.load(open(sys.argv[2])), sys.argv[3]
count("strata", open(f"{layout}/blobs/sha256/{manifest['layers'][-1]['digest'].split(':')[1]}", "rb"))
with tarfile.open(archive) as outer:
    blob = lambda d: outer.extractfile("blobs/sha256/" + d.split(":")[1])
    index = json.load(outer.extractfile("index.json"))
    layers = json.load(blob(index["manifests"][0]["digest"]))["layers"]
    count("podman", blob(layers[-1]["digest"]))
PY

# Starting a container of each image and importing scikit-learn (the first import in a new
# container; Python writes any missing bytecode into the container's own layer).
loaded=$($S env image "bench-img:$v1" --base-archive "$base" --load --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["loaded"])')
hf start -N --warmup 1 --runs "$START_RUNS" \
    -n "podman run (Strata's image): import sklearn" "podman run --rm --network none $loaded python -c 'import sklearn'" \
    -n "podman run (podman's image): import sklearn" "podman run --rm --network none localhost/bench/img:$v1 python -c 'import sklearn'"

{
    echo "podman_size $(podman image inspect --format '{{.Size}}' "localhost/bench/img:$v1")"
    echo "strata_archive $(stat -c %s "$work/out/strata-1.tar")"
    echo "podman_archive $(stat -c %s "$work/out/podman-1.tar")"
    echo "base_archive $(stat -c %s "$base")"
    echo "base_seconds $(cat "$work/base-seconds.txt" 2>/dev/null || echo -)"
    echo "v1 $v1"
    echo "v2 $v2"
    echo "extra $EXTRA"
    echo "strata_commit $head"
    echo "strata_binary $strata"
    echo "strata_built $(date -u -r "$strata" '+%Y-%m-%d %H:%M UTC')"
    echo "podman $(podman --version | awk '{print $3}')"
    echo "nproc $(nproc)"
} > "$R/facts.txt"

python3 "$root/bench/image_report.py" "$work" | tee "$work/image.md"
