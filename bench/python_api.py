"""Times Python API calls inside one process (the interpreter's start left out): each call is
what a notebook cell pays. Prints JSON: {label: [seconds, ...]}.

    python bench/python_api.py WORKSPACE RUNS
"""

from __future__ import annotations

import json
import sys
import time

workspace_dir, runs = sys.argv[1], int(sys.argv[2])

from strata import Environment, Workspace  # noqa: E402

ws = Workspace(path=workspace_dir)
env = Environment("unchanged")
env.python.conda_dependencies.add_pip_package("six==1.16.0")
results: dict[str, list[float]] = {"Environment.get": [], "Environment.list": [], "env.register (unchanged)": []}
for _ in range(3 + runs):
    for label, call in (
        ("Environment.get", lambda: Environment.get(ws, "env42")),
        ("Environment.list", lambda: Environment.list(ws)),
        ("env.register (unchanged)", lambda: env.register(ws)),
    ):
        start = time.perf_counter()
        call()
        results[label].append(time.perf_counter() - start)
print(json.dumps({k: v[3:] for k, v in results.items()}))
