#!/usr/bin/env python3
"""Turns the results of bench/build.sh (hyperfine JSON, build logs, sharing figures) into the
markdown table it prints.

    python3 bench/build_report.py WORKDIR
"""
import json
import re
import sys
from pathlib import Path

import hyperfine_results

work = Path(sys.argv[1])
R = work / "results"


def results(name):
    return hyperfine_results.results(R, name)


def fmt(seconds):
    if seconds < 1:
        return f"{seconds * 1000:.1f} ms" if seconds < 0.1 else f"{seconds * 1000:.0f} ms"
    return f"{seconds:.2f} s"


def cell(r):
    return f"{fmt(r['median'])} (min {fmt(r['min'])})"


def count(set_name):
    lock = json.load(open(work / f"lock-{set_name}.json"))["lock"]
    return len(lock.get("pypi", [])) or len(lock.get("conda", []))


rows = []


def row(case, set_name, strata, peer_name, peer, target, met):
    ratio = strata["median"] / peer["median"]
    runs = f"{strata['runs']}" if strata["runs"] == peer["runs"] else f"{strata['runs']} / {peer['runs']}"
    rows.append(
        f"| {case} ({runs} run{'s' if strata['runs'] > 1 else ''}) | {set_name} ({count(set_name)} pkgs) | {cell(strata)} | {peer_name} | {cell(peer)} "
        f"| {ratio:.2f}x | {target} | {met(strata, ratio)} |"
    )


def yes(ok):
    return "yes" if ok else "**no**"


for s in ("small", "big"):
    hit = results(f"hit-{s}")
    row("cache hit", s, hit["strata env build (built)"], "`uv pip sync --offline` no-op",
        hit["uv pip sync --offline (no-op)"], "≤ 10 ms and < uv",
        lambda st, ratio: yes(st["median"] <= 0.010 and ratio < 1))
for s in ("small", "big"):
    warm = results(f"warm-{s}")
    row("warm build", s, warm["strata env build (warm)"], "`uv venv` + `uv pip sync`, warm uv cache, same venv path every run",
        warm["uv venv + uv pip sync (warm)"], "≤ 1.2x", lambda st, ratio: yes(ratio <= 1.2))
    row("warm build", s, warm["strata env build (warm)"], "the same, a new venv path every run (as Strata builds)",
        warm["uv venv + uv pip sync (warm, new path)"], "≤ 1.2x", lambda st, ratio: yes(ratio <= 1.2))
for s in ("small", "big"):
    cold = results(f"cold-{s}")
    row("cold build", s, cold["strata env build (cold)"], "`uv venv` + `uv pip sync`, empty uv cache",
        cold["uv venv + uv pip sync (cold)"], "≤ 1.1x", lambda st, ratio: yes(ratio <= 1.1))
for s in ("small", "big"):
    cold = results(f"cold-{s}")
    pip = results(f"pip-{s}")
    row("cold build vs pip", s, cold["strata env build (cold)"], "`python -m venv` + `pip install --no-deps -r lock`",
        pip["python -m venv + pip install --no-deps -r lock"], "(none)", lambda st, ratio: "-")
conda_warm = results("conda-warm")
conda_hit = results("conda-hit")
row("conda warm build", "conda", conda_warm["strata env build (conda, warm)"], "py-rattler solve + install, warm package cache",
    conda_warm["py-rattler solve + install (warm)"], "≈ rattler (< py-rattler)", lambda st, ratio: yes(ratio < 1))
row("conda cache hit", "conda", conda_hit["strata env build (conda, built)"], "py-rattler solve + install, no-op",
    conda_hit["py-rattler solve + install (no-op)"], "≤ 10 ms and < py-rattler",
    lambda st, ratio: yes(st["median"] <= 0.010 and ratio < 1))

print("| case | set | Strata | peer | peer time | Strata/peer | target | met |")
print("|---|---|---|---|---|---|---|---|")
print("\n".join(rows))
loads = [float(line.split()[1]) for line in open(R / "load.txt")]
print()
print(f"Medians (min) of hyperfine runs; 1-minute load average {min(loads):.1f}-{max(loads):.1f} at the start of each case.")
print(f"Floors (conda rows): `uv venv` alone {cell(conda_warm['uv venv (part of strata' + chr(39) + 's build)'])}; "
      f"`python -c 'import rattler'` {cell(conda_warm[next(k for k in conda_warm if 'import rattler' in k)])}.")


# ---------- where the time goes: the step timestamps of Strata's own build log ----------
def steps(path):
    """(label, seconds) for each timestamped step of a build log, and the last timestamp."""
    lines = []
    for line in open(path):
        m = re.match(r"\[\s*([0-9.]+)s\] (.*)", line)
        if m:
            lines.append((float(m.group(1)), m.group(2)))
    out = []
    for (t, text), (t_next, _) in zip(lines, lines[1:]):
        if text.startswith("$ "):
            words = text[2:].split()
            label = [Path(words[0]).name]
            for w in words[1:]:
                if w.startswith("-") or "/" in w or len(label) == 3:
                    break
                label.append(w)
            label = "`" + " ".join(label) + "`"
        elif text.startswith("==> Installing") and "conda" in text:
            label = "rattler install"
        else:
            continue
        out.append((label, t_next - t))
    return out, (lines[-1][0] if lines else 0.0)


print()
print("Where Strata's build time goes (step timestamps of `strata env build-log`, last run of each case; "
      "a step lasts until the next log line, so the last one also covers fixing script shebangs and "
      "writing the marker):")
print()
for case, name, bench, command in [
    ("warm", "small", "warm-small", "strata env build (warm)"),
    ("warm", "big", "warm-big", "strata env build (warm)"),
    ("cold", "small", "cold-small", "strata env build (cold)"),
    ("cold", "big", "cold-big", "strata env build (cold)"),
    ("warm", "conda", "conda-warm", "strata env build (conda, warm)"),
]:
    path = R / f"buildlog-{case}-{name}.txt"
    if not path.exists():
        continue
    parts, end = steps(path)
    last = results(bench)[command]["times"][-1]
    listed = ", ".join(f"{label} {fmt(d)}" for label, d in parts)
    fsync = ""
    if case == "warm" and (R / f"fsync-{name}.txt").exists():
        n, total, marker = open(R / f"fsync-{name}.txt").read().split()
        fsync = (f" One more warm build under strace: {n} fsync calls, {fmt(float(total))} summed over threads, "
                 f"{fmt(float(marker))} of it on the marker file (the rest: the workspace database and "
                 f"stored build log{', and rattler writing conda-meta records' if name == 'conda' else ''}).")
    print(f"* {case} {name}: {listed}; {fmt(end)} logged of the run's {fmt(last)} "
          f"(the rest: starting, reading the workspace, recording the build).{fsync}")

# ---------- sharing ----------
share = dict(line.split(" ", 1) for line in open(R / "share.txt").read().splitlines())
before, after1, after10 = ([int(x) for x in share[k].split()] for k in ("before", "after1", "after10"))


def kib(n):
    sign = "+" if n >= 0 else ""
    return f"{sign}{n / 1024:.1f} MiB" if abs(n) >= 1024 else f"{sign}{n} KiB"


print()
print("Sharing: ten names registered with the same requirements "
      f"→ {share['lock_hashes']} lock hash, {share['distinct_paths']} prefix path for all ten.")
print()
print("| `du -s` | before | building version 1 | building versions 2-10 |")
print("|---|---|---|---|")
print(f"| `envs-v1/` (prefixes alone) | {before[0] / 1024:.1f} MiB | {kib(after1[0] - before[0])} | {kib(after10[0] - after1[0])} |")
print(f"| whole cache (prefixes + uv's cache) | {before[1] / 1024:.1f} MiB | {kib(after1[1] - before[1])} | {kib(after10[1] - after1[1])} |")
print()
print(f"Prefix files that are hardlinks (link count > 1): {share['hardlinked']} of {share['files']}; "
      f"`stat -c %h numpy/__init__.py` = {share['sample_links']}, the same inode as "
      f"`{share.get('sample_in_uv_cache', '').strip() or '(not found in uv cache)'}`.")
