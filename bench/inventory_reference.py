"""The reference for `strata env audit --all`: osv-scanner-style matching of the latest lock
of every named environment against OSV records, with `packaging` (PEP 440), in plain Python.

    python3 inventory_reference.py ADVISORIES DB     # prints sorted JSON findings, and the
                                                     # seconds it took on stderr

A version is affected when a record's `versions` list has it, or when an ECOSYSTEM range
does: events sorted by version, `introduced` opens, `fixed` closes at its version,
`last_affected` after it. Withdrawn records and other ecosystems are skipped.
"""

import json
import os
import re
import sqlite3
import sys
import time

import yaml
from packaging.version import InvalidVersion, Version

LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def normalize(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def parse(text):
    try:
        return Version(text)
    except InvalidVersion:
        return None


def load(root):
    by_package = {}
    for directory, _, files in os.walk(root):
        for file in sorted(files):
            path = os.path.join(directory, file)
            if file.endswith(".json"):
                with open(path) as f:
                    record = json.load(f)
            elif file.endswith((".yaml", ".yml")):
                with open(path) as f:
                    record = yaml.load(f, Loader=LOADER)
            else:
                continue
            if not isinstance(record, dict) or "id" not in record or record.get("withdrawn"):
                continue
            for affected in record.get("affected", []):
                package = affected.get("package") or {}
                if package.get("ecosystem", "").lower() != "pypi":
                    continue
                ranges = []
                for r in affected.get("ranges", []):
                    if r.get("type") != "ECOSYSTEM":
                        continue
                    events, ok = [], True
                    for event in r.get("events", []):
                        for kind, value in event.items():
                            if kind == "introduced" and str(value) == "0":
                                events.append((kind, None))
                            elif kind in ("introduced", "fixed", "last_affected"):
                                version = parse(str(value))
                                if version is None:
                                    ok = False
                                events.append((kind, version))
                    if ok:
                        events.sort(key=lambda e: (e[1] is not None, e[1] or Version("0")))
                        ranges.append(events)
                versions = {str(v) for v in affected.get("versions", [])}
                parsed = {parse(v) for v in versions} - {None}
                by_package.setdefault(normalize(package["name"]), []).append(
                    (record["id"], ranges, versions, parsed)
                )
    return by_package


def affected(version, text, ranges, versions, parsed):
    if text in versions or version in parsed:
        return True
    for events in ranges:
        state = False
        for kind, at in events:
            if kind == "introduced" and (at is None or version >= at):
                state = True
            elif kind == "fixed" and version >= at:
                state = False
            elif kind == "last_affected" and version > at:
                state = False
        if state:
            return True
    return False


def main():
    start = time.perf_counter()
    advisories = load(sys.argv[1])
    connection = sqlite3.connect(sys.argv[2])
    rows = connection.execute(
        "SELECT l.name, l.version, l.lock FROM locks l JOIN environments e"
        " ON e.name = l.name AND e.version = l.version"
        # The latest version is the one registered last (versions are strings: `10` < `9`).
        " WHERE e.anonymous = 0 AND e.id = (SELECT MAX(id) FROM environments WHERE name = e.name)"
    ).fetchall()
    findings = set()
    for name, env_version, text in rows:
        lock = json.loads(text)
        for package in lock.get("pypi", []):
            version = parse(package["version"])
            if version is None:
                continue
            key = normalize(package["name"])
            for record_id, ranges, versions, parsed in advisories.get(key, []):
                if affected(version, package["version"], ranges, versions, parsed):
                    findings.add((f"{name}:{env_version}", key, package["version"], record_id))
    elapsed = time.perf_counter() - start
    print(json.dumps(sorted(findings)))
    print(f"{elapsed:.3f}", file=sys.stderr)


if __name__ == "__main__":
    main()
