#!/usr/bin/env bash
# Where a score.py request's time goes in Strata's worker: `strata serve` with the RandomForest
# score.py and one worker, wrk at concurrency 1 with the 1-row body, and py-spy sampling the
# worker meanwhile; the worker's main thread is split into run(), reading the request and
# sending the answer. Uses the workspace and environment bench/serve.sh made in WORKDIR.
#
#   bench/serve_profile.sh [WORKDIR]      # default /tmp/benchserve; prints the breakdown
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="${1:-/tmp/benchserve}"
strata="${STRATA_BIN:-${CARGO_TARGET_DIR:-$root/target}/release/strata}"
export STRATA_CACHE="$work/strata-cache" STRATA_WORKSPACE="$work/strata-ws/.strata"
[ -x "$work/py-spy/bin/py-spy" ] || python3 -m pip install -q --target "$work/py-spy" py-spy
port=${STRATA_PORT:-8899}
"$strata" serve --model rf:1 --entry-script "$root/bench/serve/score.py" --source-dir "$root/bench/serve" \
    --env servenv --port "$port" --workers 1 >"$work/profile-serve.log" 2>&1 &
server=$!
trap 'kill -TERM "$server" 2>/dev/null; wait "$server" 2>/dev/null' EXIT
# Ready when a scoring request is answered (init() has run), not when the port is open.
for _ in $(seq 240); do
    curl -sf -X POST -H 'Content-Type: application/json' --data @"$root/bench/serve/body_1.json" \
        "http://127.0.0.1:$port/score" >/dev/null && break
    sleep 0.5
done
worker=$(cat /proc/"$server"/task/*/children | tr ' ' '\n' | grep -v '^$' | head -n1)
(sleep 1; wrk -t1 -c1 -d12s -s "$root/bench/serve/post_1row.lua" "http://127.0.0.1:$port/score" >"$work/profile-wrk.txt" 2>&1) &
load=$!
"$work/py-spy/bin/py-spy" record -p "$worker" -d 10 -r 250 --nonblocking --format raw -o "$work/profile.raw" >/dev/null 2>&1
wait "$load"
grep -E '^Requests/sec' "$work/profile-wrk.txt"
python3 - "$work/profile.raw" <<'PY'
import collections, re, sys
parts_of = collections.Counter()
total = 0
for line in open(sys.argv[1]):
    line = line.rstrip()
    if not line:
        continue
    stack, count = line.rsplit(" ", 1)
    count = int(count)
    if "main (_worker.py" not in stack:
        continue  # the worker's other threads (its output pumps)
    total += count
    if re.search(r";run \([^;]*score\.py:", stack):
        parts_of["run() (score.py)"] += count
    elif "_Channel.read" in stack:
        parts_of["waiting for and reading a request"] += count
    elif "_send_result" in stack or "_Channel.send" in stack:
        parts_of["encoding and sending the answer"] += count
    else:
        parts_of["the rest of the worker loop"] += count
print(f"worker main-thread samples: {total}")
for name, count in parts_of.most_common():
    print(f"  {count / total:6.1%}  {name}")
PY
