"""`CondaDependencies`: a conda environment specification (conda packages, channels, pip).

Differences from azureml-core: the template is Strata's (`python=3.11` and `pip`, no
`azureml-defaults`); `CondaDependencies.create` defaults to Python 3.11 and `pin_sdk_version`
does nothing. Reading a file uses the `strata` binary's parser, so YAML needs no PyYAML.
"""

from __future__ import annotations

import copy
import json
import os
import re
from typing import Any, Iterator

__all__ = ["CondaDependencies"]

DEFAULT_PYTHON = "3.11"
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _name_of(spec: str) -> str:
    """The package name of a conda spec or a pip requirement (`numpy==1.26` -> `numpy`)."""
    text = spec.split("::")[-1]
    match = _NAME.match(text)
    return (match.group(1) if match else text).lower().replace("_", "-")


class CondaDependencies:
    """A conda specification, as in azureml-core."""

    def __init__(self, conda_dependencies_file_path: str | None = None, _underlying_structure: dict[str, Any] | None = None) -> None:
        if _underlying_structure is not None:
            self._conda = copy.deepcopy(_underlying_structure)
        elif conda_dependencies_file_path is not None:
            from .environment import _parse_definition

            definition = _parse_definition(["--conda-file", conda_dependencies_file_path], "conda")
            self._conda = copy.deepcopy(definition["python"]["condaDependencies"])
        else:
            self._conda = {"name": "project_environment", "dependencies": [f"python={DEFAULT_PYTHON}", "pip"]}
        self._conda.setdefault("dependencies", [])

    @staticmethod
    def create(pip_indexurl: str | None = None, pip_packages: list[str] | None = None, conda_packages: list[str] | None = None, python_version: str = DEFAULT_PYTHON, pin_sdk_version: bool = True) -> "CondaDependencies":
        """A specification with these packages (Azure's default Python is 3.8.13)."""
        deps = CondaDependencies()
        deps.set_python_version(python_version)
        if pip_indexurl:
            deps.set_pip_option(f"--index-url {pip_indexurl}")
        for package in conda_packages or []:
            deps.add_conda_package(package)
        for package in pip_packages or []:
            deps.add_pip_package(package)
        return deps

    # -- the structure ---------------------------------------------------------------------

    def _pip_list(self, create: bool = False) -> list[str] | None:
        for entry in self._conda["dependencies"]:
            if isinstance(entry, dict) and "pip" in entry:
                return entry["pip"]
        if create:
            entry = {"pip": []}
            self._conda["dependencies"].append(entry)
            return entry["pip"]
        return None

    def _as_dict(self) -> dict[str, Any]:
        return copy.deepcopy(self._conda)

    @property
    def conda_packages(self) -> Iterator[str]:
        """The conda packages, `python=...` and `pip` included (a copy)."""
        return iter([d for d in self._conda["dependencies"] if isinstance(d, str)])

    @property
    def pip_packages(self) -> Iterator[str]:
        """The pip requirements, options (`--...`) left out (a copy)."""
        return iter([p for p in self._pip_list() or [] if not p.startswith("-")])

    @property
    def pip_options(self) -> Iterator[str]:
        return iter([p for p in self._pip_list() or [] if p.startswith("-")])

    @property
    def conda_channels(self) -> Iterator[str]:
        return iter(list(self._conda.get("channels", [])))

    def add_conda_package(self, conda_package: str) -> None:
        """Adds a conda package, replacing one of the same name."""
        self.remove_conda_package(conda_package)
        dependencies = self._conda["dependencies"]
        # Conda packages stay ahead of the pip section.
        position = next((i for i, d in enumerate(dependencies) if isinstance(d, dict)), len(dependencies))
        dependencies.insert(position, conda_package)

    def remove_conda_package(self, conda_package: str) -> None:
        name = _name_of(conda_package)
        self._conda["dependencies"] = [d for d in self._conda["dependencies"] if not (isinstance(d, str) and _name_of(d) == name)]

    def add_pip_package(self, pip_package: str) -> None:
        """Adds a pip requirement, replacing one of the same name (no duplicates)."""
        self.remove_pip_package(pip_package)
        pip = self._pip_list(create=True)
        assert pip is not None
        pip.append(pip_package)
        if not any(_name_of(d) == "pip" for d in self.conda_packages):
            self.add_conda_package("pip")

    def remove_pip_package(self, pip_package: str) -> None:
        pip = self._pip_list()
        if pip is not None:
            name = _name_of(pip_package)
            pip[:] = [p for p in pip if p.startswith("-") or _name_of(p) != name]

    def add_channel(self, channel: str) -> None:
        channels = self._conda.setdefault("channels", [])
        if channel not in channels:
            channels.append(channel)

    def remove_channel(self, channel: str) -> None:
        self._conda["channels"] = [c for c in self._conda.get("channels", []) if c != channel]

    def set_pip_option(self, pip_option: str) -> None:
        """Adds a pip option (`--extra-index-url URL`), replacing one with the same flag."""
        pip = self._pip_list(create=True)
        assert pip is not None
        flag = pip_option.split()[0].split("=")[0]
        pip[:] = [p for p in pip if not (p.startswith("-") and p.split()[0].split("=")[0] == flag)]
        pip.insert(0, pip_option)

    def set_python_version(self, version: str) -> None:
        self.remove_conda_package("python")
        self._conda["dependencies"].insert(0, f"python={version}")

    def get_python_version(self) -> str | None:
        for package in self.conda_packages:
            if _name_of(package) == "python":
                return re.sub(r"^python\s*=*\s*", "", package) or None
        return None

    def add_tensorflow_conda_package(self, core_type: str = "cpu", version: str | None = None) -> None:
        self.add_conda_package("tensorflow" + (f"={version}" if version else ""))

    def add_tensorflow_pip_package(self, core_type: str = "cpu", version: str | None = None) -> None:
        self.add_pip_package("tensorflow" + (f"=={version}" if version else ""))

    # -- text ------------------------------------------------------------------------------

    def serialize_to_string(self) -> str:
        """The specification as conda environment YAML."""
        lines = ["# Conda environment specification.", f"name: {_scalar(self._conda.get('name', 'project_environment'))}"]
        channels = self._conda.get("channels") or []
        if channels:
            lines.append("channels:")
            lines += [f"- {_scalar(c)}" for c in channels]
        lines.append("dependencies:")
        for entry in self._conda["dependencies"]:
            if isinstance(entry, dict):
                for key, values in entry.items():
                    lines.append(f"- {_scalar(key)}:")
                    lines += [f"  - {_scalar(v)}" for v in values]
            else:
                lines.append(f"- {_scalar(entry)}")
        return "\n".join(lines) + "\n"

    def save(self, path: str | None = None) -> str:
        """Writes the YAML (default `./conda_dependencies.yml`) and returns the normalised path."""
        target = os.path.normpath(os.path.abspath(path or "conda_dependencies.yml"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "w", encoding="utf-8") as out:
            out.write(self.serialize_to_string())
        return target

    def save_to_file(self, base_directory: str, conda_file_path: str | None = None) -> str:
        return self.save(os.path.join(base_directory, conda_file_path or "conda_dependencies.yml"))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CondaDependencies) and other._conda == self._conda

    def __repr__(self) -> str:
        return self.serialize_to_string()


def _scalar(value: Any) -> str:
    """A YAML scalar: plain when safe, else JSON-quoted (JSON strings are YAML strings)."""
    text = str(value)
    if re.fullmatch(r"[A-Za-z0-9_.=<>!~*+/@^-][A-Za-z0-9_.=<>!~*+/@^ ,:;-]*", text) and not text.endswith(":") and ": " not in text and " #" not in text:
        return text
    return json.dumps(text)
