"""The transport: finding the binary, `--json` placement, errors and the schema version."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from strata._transport import LocalCli, find_strata_bin
from strata.exceptions import StrataError, StrataNotFound, UserErrorException


def fake_binary(tmp_path: Path, script: str) -> str:
    path = tmp_path / "strata"
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


def test_strata_bin_wins_and_must_be_executable(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    binary = fake_binary(tmp_path, "exit 0\n")
    monkeypatch.setenv("STRATA_BIN", binary)
    assert find_strata_bin() == binary
    monkeypatch.setenv("STRATA_BIN", str(tmp_path / "missing"))
    with pytest.raises(StrataNotFound, match="is not an executable file"):
        find_strata_bin()


def test_no_binary_is_a_clear_error(tmp_path: Path) -> None:
    code = "from strata._transport import find_strata_bin\ntry:\n    find_strata_bin()\nexcept Exception as e:\n    print(type(e).__name__, e)\n"
    environment = {k: v for k, v in os.environ.items() if k != "STRATA_BIN"}
    environment["PATH"] = str(tmp_path)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environment, cwd=tmp_path)
    assert done.stdout.startswith("StrataNotFound No `strata` binary found: set STRATA_BIN"), done.stdout + done.stderr


def test_json_goes_before_a_scripts_arguments(tmp_path: Path) -> None:
    binary = fake_binary(tmp_path, 'printf \'{"schemaVersion": 1, "args": "%s"}\' "$*"\n')
    transport = LocalCli(str(tmp_path), binary)
    assert transport.call(["run", "--detach", "--", "train.py", "--lr", 1])["args"] == f"--workspace {tmp_path} run --detach --json -- train.py --lr 1"
    assert transport.call(["env", "list"])["args"] == f"--workspace {tmp_path} env list --json"


def test_errors_carry_the_message_and_hint(tmp_path: Path) -> None:
    binary = fake_binary(tmp_path, 'echo "warning: noise" >&2; echo "error: Environment \\`x\\` not found" >&2; echo "hint: try this" >&2; exit 1\n')
    with pytest.raises(UserErrorException) as raised:
        LocalCli(str(tmp_path), binary).call(["env", "show", "x"])
    assert str(raised.value) == "Environment `x` not found (try this)"
    assert raised.value.exit_code == 1 and "warning: noise" in raised.value.stderr
    crash = fake_binary(tmp_path, 'echo "error: internal" >&2; exit 2\n')
    with pytest.raises(StrataError) as raised_bug:
        LocalCli(str(tmp_path), crash).call(["env", "list"])
    assert not isinstance(raised_bug.value, UserErrorException)


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    binary = fake_binary(tmp_path, 'echo \'[{"schemaVersion": 2}]\'\n')
    with pytest.raises(StrataError, match="JSON schema 2; this package reads 1"):
        LocalCli(str(tmp_path), binary).call(["env", "list"])
    garbage = fake_binary(tmp_path, "echo not-json\n")
    with pytest.raises(StrataError, match="printed no JSON"):
        LocalCli(str(tmp_path), garbage).call(["env", "list"])


def test_the_real_binary_speaks_this_schema(project: Path) -> None:
    result = LocalCli(str(project)).call(["env", "show", "Strata-Minimal"])
    assert result["schemaVersion"] == 1


def test_the_transport_is_pluggable(tmp_path: Path) -> None:
    """A workspace takes any `Transport`: what a REST transport for server workspaces plugs into."""
    from strata import Environment, Workspace
    from strata._transport import Transport

    class Recorded(Transport):
        def __init__(self) -> None:
            self.calls: list[list[str]] = []

        def call(self, args, *, stdin=None):  # type: ignore[no-untyped-def]
            self.calls.append(list(args))
            return [{"schemaVersion": 1, "name": "remote", "version": 3, "definition": {"name": "remote", "version": "3"}}]

    transport = Recorded()
    ws = Workspace(path="https://strata.example.invalid/team", transport=transport)
    assert Environment.list(ws)["remote"].version == "3"
    assert transport.calls == [["env", "list", "--definitions"]]


def test_a_server_workspace_goes_through_the_binary() -> None:
    """A URL is a server workspace: the binary (which speaks the REST API) is pointed at it, and
    its errors come back as the API's exceptions."""
    from strata import Environment, Workspace

    ws = Workspace(path="http://127.0.0.1:9/w/team/")
    assert ws.is_server and ws.name == "team" and ws.location == "server"
    assert ws.path == "http://127.0.0.1:9/w/team"
    # Port 9 (discard) refuses connections: the binary says the server is unreachable.
    with pytest.raises(UserErrorException, match="127.0.0.1:9"):
        Environment.list(ws)
