"""The in-run module: standard library only, importable alone under a bare `python -I`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import strata

PACKAGE = Path(strata.__file__).parent


def bare_copy(tmp_path: Path) -> Path:
    """What the binary writes into `.strata/python/`: `strata/__init__.py` alone."""
    target = tmp_path / "inrun" / "strata"
    target.mkdir(parents=True)
    shutil.copy(PACKAGE / "__init__.py", target / "__init__.py")
    return target.parent


def run_isolated(code: str, path: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    prelude = f"import sys; sys.path.insert(0, {str(path)!r}); "
    return subprocess.run([sys.executable, "-I", "-c", prelude + code], capture_output=True, text=True, env={**os.environ, **(env or {})})


def test_the_in_run_copy_imports_under_python_isolated(tmp_path: Path) -> None:
    path = bare_copy(tmp_path)
    done = run_isolated("import strata; from strata import Run, Model; r = Run.get_context(); r.log('acc', 0.9); print(type(r).__name__, sorted(m for m in sys.modules if m.startswith('strata')))", path)
    assert done.returncode == 0, done.stderr
    assert "Attempted to log scalar metric acc:\n0.9" in done.stdout
    assert "_OfflineRun ['strata']" in done.stdout


def test_the_in_run_copy_records_metrics_in_a_run(tmp_path: Path) -> None:
    path = bare_copy(tmp_path)
    metrics = tmp_path / "metrics.jsonl"
    done = run_isolated("from strata import Run; r = Run.get_context(); r.log('acc', 0.9); r.log_list('l', [1, 2]); r.tag('team', 'ml'); print(r.id, r.experiment)", path, {"STRATA_RUN_ID": "x_1_abcd", "STRATA_METRICS_FILE": str(metrics), "STRATA_EXPERIMENT": "x"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["x_1_abcd", "x"]
    records = [json.loads(line) for line in metrics.read_text().splitlines()]
    assert [(r["kind"], r["name"], r["value"]) for r in records] == [("scalar", "acc", 0.9), ("list", "l", [1, 2]), ("tag", "team", "ml")]


def test_client_names_in_the_in_run_copy_say_what_is_missing(tmp_path: Path) -> None:
    path = bare_copy(tmp_path)
    done = run_isolated("import strata; strata.Workspace", path)
    assert done.returncode == 1
    assert "strata.Workspace is part of the client API, which is not installed in this environment" in done.stderr


def test_the_workspace_copy_is_this_module(project: Path) -> None:
    """A run writes `.strata/python/strata/__init__.py`: the same bytes as the package's."""
    binary = os.environ["STRATA_BIN"]
    (project / "hello.py").write_text("print('hi')\n")
    done = subprocess.run([binary, "run", "--experiment", "inrun", "hello.py"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    written = project / ".strata" / "python" / "strata" / "__init__.py"
    assert written.read_bytes() == (PACKAGE / "__init__.py").read_bytes()


def test_import_strata_is_light() -> None:
    """The client part loads nothing heavy at import time: no subprocess, no typing."""
    done = subprocess.run([sys.executable, "-c", "import sys, strata; print(sorted(m for m in ('subprocess', 'typing', 'urllib.request', 'socket') if m in sys.modules))"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
