"""The package's type hints hold: mypy (installed by scripts/test) checks it with the
settings in pyproject.toml (every function annotated), as a user's type checker would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import strata

ROOT = Path(__file__).resolve().parents[1]


def test_the_package_is_typed() -> None:
    package = Path(strata.__file__).parent
    assert (package / "py.typed").is_file(), "installed with its py.typed marker"
    done = subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"), str(ROOT / "strata")], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Success" in done.stdout
