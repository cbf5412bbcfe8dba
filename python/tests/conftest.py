"""Fixtures: the real `strata` binary (STRATA_BIN), workspaces in temporary directories, and
one shared build cache so environments are built once per machine."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

DATA = Path(__file__).parent / "data"


def pytest_configure(config: pytest.Config) -> None:
    binary = os.environ.get("STRATA_BIN")
    if not binary or not os.access(binary, os.X_OK):
        raise pytest.UsageError("Set STRATA_BIN to a built `strata` binary (scripts/test does)")
    # Built environments are shared with the Rust tests' cache.
    os.environ.setdefault("STRATA_CACHE", os.environ.get("STRATA_TEST_CACHE", os.path.join(tempfile.gettempdir(), "strata-test-cache")))
    os.environ.pop("STRATA_WORKSPACE", None)


def make_workspace(path: Path) -> Path:
    subprocess.run([os.environ["STRATA_BIN"], "init", str(path)], check=True, capture_output=True)
    return path


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A workspace with the test data copied in, as the current directory, for a module."""
    root = tmp_path_factory.mktemp("project")
    for item in DATA.iterdir():
        if item.is_dir():
            shutil.copytree(item, root / item.name)
        else:
            shutil.copy(item, root / item.name)
    make_workspace(root)
    before = os.getcwd()
    os.chdir(root)
    try:
        yield root
    finally:
        os.chdir(before)
        # Services a failed test left running.
        listing = subprocess.run([os.environ["STRATA_BIN"], "--workspace", str(root), "service", "list", "--json"], capture_output=True, text=True)
        if listing.returncode == 0:
            import json

            for item in json.loads(listing.stdout):
                if item["service"]["state"] != "deleted":
                    subprocess.run([os.environ["STRATA_BIN"], "--workspace", str(root), "service", "delete", item["service"]["name"]], capture_output=True)


@pytest.fixture(scope="module")
def ws(project: Path):  # type: ignore[no-untyped-def]
    from strata import Workspace

    return Workspace.from_config()


def python() -> str:
    return sys.executable
