"""How the API reaches a workspace: a small interface, and its local implementation that
drives the `strata` binary's `--json` interface (`docs/json.md`).

A REST transport for server workspaces implements the same `Transport` methods; the classes
(`Environment`, `Run`, ...) only ever call these.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from typing import IO, Any, Callable, Sequence

from .exceptions import StrataError, StrataNotFound, UserErrorException

#: The `--json` contract version this package reads.
SCHEMA_VERSION = 1


def find_strata_bin() -> str:
    """The `strata` binary: `STRATA_BIN`, else the scripts directory of this Python (where the
    wheel installs it), else `PATH`; raises `StrataNotFound` saying how to get one."""
    explicit = os.environ.get("STRATA_BIN")
    if explicit:
        if os.path.isfile(explicit) and os.access(explicit, os.X_OK):
            return explicit
        raise StrataNotFound(f"STRATA_BIN={explicit!r} is not an executable file")
    import sysconfig

    for directory in (sysconfig.get_path("scripts"), os.path.dirname(sys.executable)):
        candidate = os.path.join(directory or "", "strata")
        if directory and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("strata")
    if found:
        return found
    raise StrataNotFound(
        "No `strata` binary found: set STRATA_BIN to its path, or put it on PATH "
        "(build it with `cargo build --release -p strata-cli`; it is target/release/strata)"
    )


class Transport:
    """What the API needs from a workspace. Each method takes the command's arguments as the
    CLI spells them and returns the parsed JSON (or text)."""

    def call(self, args: Sequence[str], *, stdin: str | None = None) -> Any:
        """Runs one command with `--json` and returns its parsed output."""
        raise NotImplementedError

    def text(self, args: Sequence[str], *, stdin: str | None = None) -> str:
        """Runs one command and returns its standard output as text."""
        raise NotImplementedError

    def stream(self, args: Sequence[str], out: Callable[[str], None], *, json_result: bool = False) -> tuple[int, Any]:
        """Runs a command, passing its output line by line to `out`; returns the exit code and,
        with `json_result`, the parsed JSON it printed on stdout."""
        raise NotImplementedError


class LocalCli(Transport):
    """The embedded workspace at `root`, through `strata --workspace ROOT ... --json`."""

    def __init__(self, root: str, binary: str | None = None) -> None:
        self.root = root
        self._binary = binary

    @property
    def binary(self) -> str:
        if self._binary is None:
            self._binary = find_strata_bin()
        return self._binary

    def _command(self, args: Sequence[str]) -> list[str]:
        return [self.binary, "--workspace", self.root, *[str(a) for a in args]]

    @staticmethod
    def _with_json(args: Sequence[str]) -> list[str]:
        """`--json` goes before a `--` (what follows it is a script's own arguments)."""
        args = [str(a) for a in args]
        if "--" in args:
            position = args.index("--")
            return [*args[:position], "--json", *args[position:]]
        return [*args, "--json"]

    @staticmethod
    def _error(command: list[str], code: int, stderr: str) -> StrataError:
        lines = [line for line in stderr.strip().splitlines() if line.strip()]
        # The last `error:` line and its hint are the message; the rest is context.
        message = next((l for l in reversed(lines) if l.startswith("error:")), lines[-1] if lines else "")
        message = message.removeprefix("error:").strip() or f"`strata` exited with code {code}"
        hints = [l.removeprefix("hint:").strip() for l in lines if l.startswith("hint:")]
        if hints:
            message += f" ({hints[-1]})"
        kind = UserErrorException if code == 1 else StrataError
        return kind(message, exit_code=code, stderr=stderr, command=command)

    def call(self, args: Sequence[str], *, stdin: str | None = None) -> Any:
        command = self._command(self._with_json(args))
        done = subprocess.run(command, input=stdin, capture_output=True, text=True)
        if done.returncode != 0:
            raise self._error(command, done.returncode, done.stderr)
        try:
            value = json.loads(done.stdout)
        except ValueError as error:
            raise StrataError(f"`strata` printed no JSON: {done.stdout[:200]!r}", command=command) from error
        _check_schema(value)
        return value

    def text(self, args: Sequence[str], *, stdin: str | None = None) -> str:
        command = self._command(args)
        done = subprocess.run(command, input=stdin, capture_output=True, text=True)
        if done.returncode != 0:
            raise self._error(command, done.returncode, done.stderr)
        return done.stdout

    def stream(self, args: Sequence[str], out: Callable[[str], None], *, json_result: bool = False) -> tuple[int, Any]:
        command = self._command(self._with_json(args) if json_result else args)
        # Progress and logs go to stderr (or stdout without --json); both are streamed.
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE if json_result else subprocess.PIPE,
            stderr=subprocess.STDOUT if not json_result else subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        captured: list[str] = []
        stream: IO[str] | None = process.stderr if json_result else process.stdout
        assert stream is not None
        for line in stream:
            captured.append(line)
            out(line)
        stdout = process.stdout.read() if json_result and process.stdout else ""
        code = process.wait()
        if not json_result:
            return code, None
        if code != 0:
            return code, self._error(command, code, "".join(captured))
        value = json.loads(stdout)
        _check_schema(value)
        return code, value


def _check_schema(value: Any) -> None:
    first = value[0] if isinstance(value, list) and value else value
    if isinstance(first, dict):
        version = first.get("schemaVersion")
        if version is not None and version > SCHEMA_VERSION:
            raise StrataError(
                f"The `strata` binary speaks JSON schema {version}; this package reads {SCHEMA_VERSION}. Upgrade the package."
            )


def printer(show_output: bool) -> Callable[[str], None]:
    """Where `show_output=True` lines go: stdout, flushed per line (a terminal and a Jupyter
    cell both show them as they come)."""
    if not show_output:
        return lambda line: None

    def write(line: str) -> None:
        sys.stdout.write(line if line.endswith("\n") else line + "\n")
        sys.stdout.flush()

    return write
