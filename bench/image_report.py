#!/usr/bin/env python3
"""Turns the results of bench/image.sh (hyperfine JSON, traced builds, layer and size figures)
into the markdown it prints.

    python3 bench/image_report.py WORKDIR
"""
import json
import re
import sys
from pathlib import Path

import hyperfine_results

work = Path(sys.argv[1])
R = work / "results"
facts = dict(line.split(" ", 1) for line in open(R / "facts.txt").read().splitlines())


def results(name):
    return hyperfine_results.results(R, name)


def fmt(seconds):
    if seconds < 1:
        return f"{seconds * 1000:.1f} ms" if seconds < 0.1 else f"{seconds * 1000:.0f} ms"
    return f"{seconds:.2f} s" if seconds < 10 else f"{seconds:.1f} s"


def cell(r):
    return f"{fmt(r['median'])} ({fmt(r['min'])}–{fmt(r['max'])})"


def mb(n):
    return f"{n / 1e6:.1f} MB"


def yes(ok):
    return "yes" if ok else "**no**"


def pins(lock):
    return [f"{p['name']}=={p['version']}" for p in json.load(open(work / lock))["lock"]["pypi"]]


cold = results("cold")
unchanged = results("unchanged")
add = results("add")
s_cold, p_cold = cold["strata env image (cold)"], cold["podman build --no-cache"]
s_hit, p_hit = unchanged["strata env image (unchanged)"], unchanged["podman build (layer cache)"]
s_add, p_add = add["strata env image (one more package)"], add["podman build (RUN line changed)"]

print("| case | Strata | median (min–max) | podman 4.3 | median (min–max) | Strata/podman | speed-up | target | met |")
print("|---|---|---|---|---|---|---|---|---|")
for case, runs, s_name, s, p_name, p, target in [
    ("cold", s_cold["runs"], "`strata env image`, empty `STRATA_CACHE`", s_cold,
     "`podman build --no-cache`", p_cold, 3),
    ("unchanged", s_hit["runs"], "`strata env image` (a lookup)", s_hit,
     "`podman build` (layer cache)", p_hit, 20),
    (f"one more package ({facts['extra']})", s_add["runs"], "`strata env image NAME:2`, warm cache", s_add,
     "`podman build`, RUN line changed", p_add, None),
]:
    ratio = s["median"] / p["median"]
    speed = p["median"] / s["median"]
    met = "-" if target is None else yes(speed >= target)
    print(f"| {case} ({runs} runs) | {s_name} | {cell(s)} | {p_name} | {cell(p)} | {ratio:.3f}x | "
          f"{speed:.1f}× | {'(none)' if target is None else f'≥ {target}×'} | {met} |")

loads = [float(line.split()[1]) for line in open(R / "load.txt")]
print()
print(f"1-minute load average {min(loads):.1f}–{max(loads):.1f} at the start of each measurement (2 cores).")


# ---------- where the time goes ----------
def trace(name):
    """[(seconds since start, line)] of a traced build."""
    out = []
    for line in open(R / f"trace-{name}.txt"):
        t, _, text = line.rstrip("\n").partition(" ")
        out.append((float(t), text))
    return out


def spans(lines, marks):
    """Durations between the first lines matching each (label, regex) in order, from 0, and
    from the last mark to END."""
    points = [("start", 0.0)]
    for label, pattern in marks:
        t = next((t for t, text in lines if re.search(pattern, text) and t >= points[-1][1]), None)
        if t is not None:
            points.append((label, t))
    end = next(t for t, text in lines if text == "END")
    points.append(("END", end))
    return [(label, t_next - t) for (label, t), (_, t_next) in zip(points, points[1:])], end


strata_marks = [
    ("importing the base archive", r"^==> Importing the base image"),
    ("unpacking the base", r"^==> Unpacking the base image"),
    ("`uv venv` in the base", r"^==> Creating a Python"),
    ("`uv pip sync` (download + install)", r"^==> Installing .* PyPI packages"),
    ("writing the environment layer and the image", r"^==> Writing the environment layer"),
]
podman_marks = [
    ("FROM (base from the archive)", r"^STEP 1/"),
    ("RUN: `python3 -m venv` (with pip)", r"^STEP 2/"),
    ("RUN: pip resolving + downloading", r"^Collecting "),
    ("RUN: pip installing", r"^Installing collected packages"),
    ("committing the RUN layer", r"^Successfully installed"),
    ("ENV, CMD, final commit", r"^STEP 3/"),
]


def split(name, marks, first_label):
    parts, end = spans(trace(name), marks)
    parts[0] = (first_label, parts[0][1])
    return ", ".join(f"{label} {fmt(d)}" for label, d in parts if d >= 0.0005), end


print()
print("Where the time goes (one extra traced build of each, not in the medians; each step lasts "
      "until the next progress line):")
print()
for label, name, marks, first in [
    ("Strata, cold", "cold-strata", strata_marks, "start-up, reading the workspace and lock"),
    ("podman, cold", "cold-podman", podman_marks, "start-up"),
    ("Strata, one more package", "add-strata", strata_marks, "start-up, reading the workspace and lock"),
    ("podman, one more package", "add-podman", podman_marks, "start-up"),
]:
    text, end = split(name, marks, first)
    print(f"* {label} ({fmt(end)}): {text}.")

# ---------- layers of the two versions ----------
s1 = json.load(open(R / "inspect-strata-1.json"))["Layers"]
s2 = json.load(open(R / "inspect-strata-2.json"))["Layers"]
p1 = json.load(open(R / "inspect-podman-1.json"))[0]["RootFS"]["Layers"]
p2 = json.load(open(R / "inspect-podman-2.json"))[0]["RootFS"]["Layers"]


def short(d):
    return d.split(":")[1][:12]


def layers_line(tool, a, b):
    same_base = a[0] == b[0]
    changed = [i for i in range(max(len(a), len(b))) if i >= len(a) or i >= len(b) or a[i] != b[i]]
    return (f"* {tool}: version 1 has {len(a)} layers, version 2 has {len(b)}; base layer "
            f"{'the same' if same_base else '**different**'} (`{short(a[0])}`"
            f"{'' if same_base else f' / `{short(b[0])}`'}); layers that differ: "
            f"{', '.join(f'#{i + 1}' for i in changed) or 'none'} "
            f"(`{short(a[-1])}` → `{short(b[-1])}`).")


extra_lock = sorted(set(pins("lock-2.json")) - set(pins("lock-1.json")))
missing = sorted(set(pins("lock-1.json")) - set(pins("lock-2.json")))
print()
print(f"One more package: version {facts['v2']} pins the {len(pins('lock-1.json'))} packages of version "
      f"{facts['v1']}'s lock plus `{facts['extra']}`; its lock adds {', '.join(f'`{p}`' for p in extra_lock) or 'nothing'}"
      f"{' and drops ' + ', '.join(missing) if missing else ''}. Layers (`skopeo inspect oci:...`, "
      f"`podman image inspect`):")
print()
print(layers_line("Strata", s1, s2))
print(layers_line("podman", p1, p2))

# ---------- sizes ----------
strata_layers = [line.split() for line in open(R / "layers-strata-1.txt")]
image1 = json.load(open(R / "image-1.json"))
podman_layers = [(h["size"], h["CreatedBy"]) for h in json.load(open(R / "history-podman-1.json"))]
podman_run = next(size for size, created in podman_layers if "pip install" in created)
podman_base = next(size for size, created in podman_layers if size > 0 and "pip install" not in created)
stored = sum(int(layer[2]) for layer in strata_layers)
unpacked = sum(int(layer[3]) for layer in strata_layers)
print()
print("Sizes of version 1's image:")
print()
print("| | Strata | podman |")
print("|---|---|---|")
print(f"| image | {mb(image1['size'])} stored (`size` of `--json`: manifest, config and layer blobs as stored; "
      f"the base layer gzip from the archive, the environment layer uncompressed) | "
      f"{mb(int(facts['podman_size']))} (`podman image inspect --format '{{{{.Size}}}}'`, uncompressed) |")
print(f"| layers, uncompressed | {mb(unpacked)} (base {mb(int(strata_layers[0][3]))} + environment "
      f"{mb(int(strata_layers[-1][3]))}) | {mb(podman_base + podman_run)} (base {mb(podman_base)} + RUN "
      f"{mb(podman_run)}, `podman history`) |")
print(f"| oci-archive file | {mb(int(facts['strata_archive']))} (`strata env image --output oci-archive`) | "
      f"{mb(int(facts['podman_archive']))} (`podman save --format oci-archive`) |")
print()
kinds = ", ".join(f"{mb(int(l[2]))} {'gzip' if l[1].endswith('gzip') else 'uncompressed'}" for l in strata_layers)
print(f"Strata's stored layer blobs: {kinds}; the base oci-archive is {mb(int(facts['base_archive']))}.")

pyc = {line.split()[0]: [int(x) for x in line.split()[1:]] for line in open(R / "pyc.txt")}
start = results("start")
s_start = next(v for k, v in start.items() if "Strata" in k)
p_start = next(v for k, v in start.items() if "podman's" in k)
print()
print("Bytecode and starting a container: the environment layer of Strata's image holds "
      f"{pyc['strata'][0]:,} files ({mb(pyc['strata'][1])}), {pyc['strata'][2]:,} of them `.pyc` "
      f"({mb(pyc['strata'][3])}); podman's RUN layer holds {pyc['podman'][0]:,} files ({mb(pyc['podman'][1])}), "
      f"{pyc['podman'][2]:,} of them `.pyc` ({mb(pyc['podman'][3])}; pip compiles what it installs). "
      f"`podman run --rm --network none IMAGE python -c 'import sklearn'` ({s_start['runs']} runs): "
      f"Strata's image (loaded with `--load`) {cell(s_start)}, podman's image {cell(p_start)}.")

# ---------- reproducibility ----------
digests = [json.load(open(p))["digest"] for p in sorted(R.glob("cold-strata-*.json"))]
iids = [open(p).read().strip() for p in sorted(R.glob("cold-podman-*.iid"))]
print()
print(f"Reproducibility: {len(digests)} cold Strata builds (each from an empty cache) gave "
      f"{len(set(digests))} manifest digest{'s' if len(set(digests)) != 1 else ''} "
      f"({', '.join(f'`{short(d)}`' for d in sorted(set(digests)))}; the first build in the main cache: "
      f"`{short(image1['digest'])}`). {len(iids)} `podman build --no-cache` runs gave {len(set(iids))} "
      f"image ID{'s' if len(set(iids)) != 1 else ''} (no `--timestamp`).")
print()
print(f"Strata: `{facts['strata_binary']}`, built {facts['strata_built']}; the tree's HEAD when the "
      f"run started: `{facts['strata_commit']}`. podman {facts['podman']}, "
      f"{facts['nproc']} cores. The base took {facts['base_seconds']} s to make with mmdebstrap "
      f"(once, not compared).")
