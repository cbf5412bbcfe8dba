"""Reading hyperfine's JSON exports, shared by the bench reports."""
import json


def results(R, name):
    """{command: {"median", "min", "max", "times", "runs"}} of one hyperfine export, or merged
    over the interleaved rounds NAME.1.json, NAME.2.json, ... (warm-ups skipped)."""
    files = [R / f"{name}.json"] if (R / f"{name}.json").exists() else sorted(
        R.glob(f"{name}.[0-9]*.json"), key=lambda p: int(p.name.split(".")[-2]))
    merged = {}
    for path in files:
        for r in json.load(open(path))["results"]:
            merged.setdefault(r["command"], []).extend(r["times"])
    out = {}
    for command, times in merged.items():
        ordered = sorted(times)
        mid = len(ordered) // 2
        median = ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
        out[command] = {"median": median, "min": ordered[0], "max": ordered[-1], "times": times,
                        "runs": len(times)}
    return out
