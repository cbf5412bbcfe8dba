#!/usr/bin/env bash
# The Python API's costs, side by side in one run:
#   1. `import strata` vs `import azureml.core` (azureml-core from PyPI, in the bench's own
#      venv), as process wall time with hyperfine (`python -c pass` is the floor);
#   2. Environment.get / list / register through the API on a 10,000-version workspace (timed
#      inside one Python process) vs the same `strata` commands' process wall (hyperfine).
#
#   bench/python.sh [WORKDIR]        # writes WORKDIR/python.md and prints it
#
# Goals: import <= 50 ms and >= 20x faster than azureml.core; each API call <= 1.5x the CLI's
# process wall and <= 20 ms.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="${1:-$(mktemp -d)}"
mkdir -p "$work"
command -v hyperfine >/dev/null || apt-get install -y hyperfine >/dev/null

cargo build --release -p strata-cli --manifest-path "$root/Cargo.toml" >/dev/null 2>&1
strata="${CARGO_TARGET_DIR:-$root/target}/release/strata"

venv="$work/venv"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    echo "installing azureml-core from PyPI (once)..." >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check azureml-core
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check --force-reinstall --no-deps "$root/python"
py="$venv/bin/python"
azureml_version=$("$py" -c 'import importlib.metadata as m; print(m.version("azureml-core"))')

# The same 10,000-version workspace as bench/registry.sh.
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
# What Environment("unchanged") with six registers, as a directory for the CLI.
"$py" - "$work/unchanged" <<'PY'
import sys
from strata import Environment
env = Environment("unchanged")
env.python.conda_dependencies.add_pip_package("six==1.16.0")
env.save_to_directory(sys.argv[1], overwrite=True)
PY
"$strata" --workspace "$ws" env register -d "$work/unchanged" >/dev/null

cd "$work"
hyperfine -N --warmup 3 --runs 30 --export-json "$work/import.json" \
    -n 'python -c pass (interpreter floor)' "$py -c pass" \
    -n 'import strata' "$py -c 'import strata'" \
    -n "import azureml.core ($azureml_version)" "$py -c 'import azureml.core'" \
    >/dev/null
hyperfine -N --warmup 3 --runs 30 --export-json "$work/cli.json" \
    -n 'env show env42 --json' "$strata --workspace $ws env show env42 --json" \
    -n 'env list --definitions --json' "$strata --workspace $ws env list --definitions --json" \
    -n 'env register -d DIR --json (unchanged)' "$strata --workspace $ws env register -d $work/unchanged --json" \
    >/dev/null
STRATA_BIN="$strata" "$py" "$root/bench/python_api.py" "$ws" 30 > "$work/api.json"

python3 - "$work" <<'PY' | tee "$work/python.md"
import json, statistics, sys
work = sys.argv[1]
imports = json.load(open(f"{work}/import.json"))["results"]
floor, strata, azure = (r["median"] * 1000 for r in imports)
print("| import | median | min | max | above the interpreter floor |")
print("|---|---|---|---|---|")
for r in imports:
    med = r["median"] * 1000
    print(f"| {r['command']} | {med:.1f} ms | {r['min']*1000:.1f} ms | {r['max']*1000:.1f} ms | {med - floor:.1f} ms |")
print()
print(f"`import strata` is {azure / strata:.1f}x faster than `import azureml.core` ({strata:.1f} ms vs {azure:.1f} ms; goal: <= 50 ms and >= 20x).")
print()
cli = {r["command"]: r for r in json.load(open(f"{work}/cli.json"))["results"]}
api = json.load(open(f"{work}/api.json"))
pairs = [("Environment.get", "env show env42 --json"), ("Environment.list", "env list --definitions --json"), ("env.register (unchanged)", "env register -d DIR --json (unchanged)")]
print("| call (10,002 versions) | API median | API max | CLI process median | API / CLI | goal |")
print("|---|---|---|---|---|---|")
for label, command in pairs:
    a = statistics.median(api[label]) * 1000
    c = cli[command]["median"] * 1000
    ok = "met" if a <= 1.5 * c and a <= 20 else "missed"
    print(f"| {label} / `strata {command}` | {a:.1f} ms | {max(api[label])*1000:.1f} ms | {c:.1f} ms | {a / c:.2f}x | {ok} |")
PY
