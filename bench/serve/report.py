"""Markdown report of one bench/serve.sh run: python3 report.py RESULTS_DIR

Reads every results.csv under RESULTS_DIR (bench.sh's format) and frontend.csv (serve.sh's
measurements of the `strata` process alone), and prints: Strata against azmlinfsrv at equal worker
counts (means of the runs, with ratios), the targets met or missed, memory, and every run."""
import csv
import glob
import os
import sys
from collections import OrderedDict
from statistics import mean

out = sys.argv[1]
rows = []
for path in sorted(glob.glob(os.path.join(out, "**", "results.csv"), recursive=True)):
    with open(path) as f:
        rows.extend(csv.DictReader(f))

groups = OrderedDict()
for r in rows:
    groups.setdefault((r["server"], r["script"], int(r["rows"]), int(r["conns"])), []).append(r)


def avg(rs, col):
    vals = [float(r[col]) for r in rs if r[col] not in ("", "NA")]
    return mean(vals) if vals else float("nan")


PAIRS = [("azml", "strata", 1), ("azml-w2", "strata-w2", 2)]
SCRIPTS = ["echo_score.py", "score.py", "schema_score.py"]
servers = {k[0] for k in groups}


def cells(script):
    for rows_ in (1, 100):
        for conc in (1, 8, 64):
            for ref, ours, w in PAIRS:
                a, b = groups.get((ref, script, rows_, conc)), groups.get((ours, script, rows_, conc))
                if a and b:
                    yield rows_, conc, w, a, b


def fmt(x, digits=0):
    return f"{x:,.{digits}f}"


print("### Strata against azmlinfsrv at equal worker counts (mean of the runs)\n")
print("| script | rows | conc | workers | req/s azml | req/s Strata | req/s × | p50 ms azml | p50 ms Strata "
      "| p99 ms azml | p99 ms Strata | p99 × | CPU µs/req azml | CPU µs/req Strata | CPU × |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
ratios = {}
for script in SCRIPTS:
    for rows_, conc, w, a, b in cells(script):
        rps_a, rps_b = avg(a, "rps"), avg(b, "rps")
        p99_a, p99_b = avg(a, "p99_ms"), avg(b, "p99_ms")
        cpu_a, cpu_b = avg(a, "cpu_us_per_req"), avg(b, "cpu_us_per_req")
        ratios[(script, rows_, conc, w)] = (rps_b / rps_a, p99_b / p99_a)
        print(f"| {script} | {rows_} | {conc} | {w} | {fmt(rps_a)} | {fmt(rps_b)} | **{rps_b / rps_a:.2f}×** | "
              f"{avg(a, 'p50_ms'):.2f} | {avg(b, 'p50_ms'):.2f} | {p99_a:.2f} | {p99_b:.2f} | **{p99_b / p99_a:.2f}×** | "
              f"{fmt(cpu_a)} | {fmt(cpu_b)} | {cpu_b / cpu_a:.2f}× |")

# Front end alone.
fe = {}
fe_path = os.path.join(out, "frontend.csv")
if os.path.exists(fe_path):
    with open(fe_path) as f:
        for r in csv.DictReader(f):
            fe[(r["server"], r["script"])] = r

print("\n### Targets\n")
print("| target | cells | worst cell | outcome |")
print("|---|---|---|---|")


def target(name, keys, index, ok, worst_fn, fmt_worst):
    got = [(k, ratios[k][index]) for k in keys if k in ratios]
    if not got:
        print(f"| {name} | 0 | - | not measured |")
        return
    passed = [k for k, v in got if ok(v)]
    wk, wv = worst_fn(got, key=lambda kv: kv[1])
    where = f"{wk[0]}, {wk[1]} row(s), c={wk[2]}, {wk[3]} worker(s)"
    outcome = "**met**" if len(passed) == len(got) else f"**missed** in {len(got) - len(passed)} of {len(got)}"
    print(f"| {name} | {len(passed)}/{len(got)} met | {fmt_worst(wv)} ({where}) | {outcome} |")


echo_hi = [("echo_score.py", r, c, w) for r in (1, 100) for c in (8, 64) for w in (1, 2)]
score_all = [("score.py", r, c, w) for r in (1, 100) for c in (1, 8, 64) for w in (1, 2)]
target("echo_score.py: req/s ≥ 3× azml at c=8 and c=64", echo_hi, 0, lambda v: v >= 3, min, lambda v: f"{v:.2f}×")
target("echo_score.py: p99 ≤ 0.5× azml at c=8 and c=64", echo_hi, 1, lambda v: v <= 0.5, max, lambda v: f"{v:.2f}×")
target("score.py: req/s ≥ 1.5× azml at equal workers (all cells)", score_all, 0, lambda v: v >= 1.5, min,
       lambda v: f"{v:.2f}×")
target("score.py: req/s ≥ 1.5× azml at equal workers, c=8 and c=64",
       [k for k in score_all if k[2] != 1], 0, lambda v: v >= 1.5, min, lambda v: f"{v:.2f}×")
if fe:
    peak = max(int(r["fe_rss_peak_kb"]) for r in fe.values()) / 1024
    print(f"| front end (`strata` process alone) ≤ 20 MB RSS | {sum(int(r['fe_rss_peak_kb']) <= 20480 for r in fe.values())}"
          f"/{len(fe)} met | {peak:.1f} MB peak | {'**met**' if peak <= 20 else '**missed**'} |")

print("\n### Memory and front-end CPU\n")
print("| server | script | RSS idle MB (all processes) | RSS peak under load MB (PSS) | front end RSS idle / peak MB "
      "| front end share of server CPU |")
print("|---|---|---:|---|---|---:|")
order = [s for s in ("azml", "strata", "azml-w2", "strata-w2") if s in servers]
for server in order:
    for script in SCRIPTS:
        rs = [r for k, v in groups.items() if k[0] == server and k[1] == script for r in v]
        if not rs:
            continue
        idle = max(float(r["rss_idle_mb"]) for r in rs)
        load = max(float(r["rss_load_mb"]) for r in rs)
        pss = max(float(r["pss_load_mb"]) for r in rs)
        f = fe.get((server, script))
        if f:
            share = int(f["fe_ticks"]) / int(f["tree_ticks"]) if int(f["tree_ticks"]) else float("nan")
            fe_cells = f"{int(f['fe_rss_idle_kb']) / 1024:.1f} / {int(f['fe_rss_peak_kb']) / 1024:.1f} | {share:.0%}"
        else:
            fe_cells = "- | -"
        print(f"| {server} | {script} | {idle:.0f} | {load:.0f} ({pss:.0f}) | {fe_cells} |")

cost = os.path.join(out, "run_cost.md")
if os.path.exists(cost):
    print("\n### score.py's run() in-process, no server (the floor of a score.py request)\n")
    print("| interpreter | rows | run() wall ms (median) | run() CPU ms |")
    print("|---|---:|---:|---:|")
    with open(cost) as f:
        print(f.read().rstrip())

errs = sum(int(r["non2xx"]) + int(r["sock_errors"]) for r in rows)
loads = [float(r["loadavg_before"]) for r in rows]
print(f"\n{len(rows)} wrk runs; non-2xx responses plus socket errors over all runs: {errs}; "
      f"1-min load average before a run: {min(loads):.2f}-{max(loads):.2f} (median {sorted(loads)[len(loads) // 2]:.2f}).")

print("\n<details><summary>Every run (run 1 / run 2)</summary>\n")
print("| server | script | rows | conc | req/s | p50 ms | p99 ms | non-2xx + sock err | RSS idle MB | RSS load MB (PSS) "
      "| server CPU µs/req | load1 |")
print("|---|---|---:|---:|---|---|---|---|---:|---|---|---|")


def j(rs, col, f):
    return " / ".join(f.format(float(r[col])) for r in rs)


for server in order:
    for script in SCRIPTS:
        for rows_ in (1, 100):
            for conc in (1, 8, 64):
                rs = groups.get((server, script, rows_, conc))
                if not rs:
                    continue
                e = " / ".join(str(int(r["non2xx"]) + int(r["sock_errors"])) for r in rs)
                print(f"| {server} | {script} | {rows_} | {conc} | {j(rs, 'rps', '{:.0f}')} | {j(rs, 'p50_ms', '{:.2f}')} "
                      f"| {j(rs, 'p99_ms', '{:.2f}')} | {e} | {max(float(r['rss_idle_mb']) for r in rs):.0f} "
                      f"| {max(float(r['rss_load_mb']) for r in rs):.0f} ({max(float(r['pss_load_mb']) for r in rs):.0f}) "
                      f"| {j(rs, 'cpu_us_per_req', '{:.0f}')} | {j(rs, 'loadavg_before', '{:.1f}')} |")
print("\n</details>")
