"""Seeds a Strata workspace database with locks for bench/inventory.sh, without resolving.

    python3 inventory_seed.py DB search               # locks for every registered version
    python3 inventory_seed.py DB audit ADVISORIES     # locks of real PyPI packages at
                                                      # versions the advisories list

The environments must already be registered (by `strata env register`). Locks are written
straight into `locks`, then the index table is dropped and the schema put back to version 7,
so the next `strata` command rebuilds the index from the locks (migration 8's backfill), as
it does for a workspace written before the index existed.
"""

import hashlib
import json
import os
import random
import sqlite3
import sys


def lock_json(pypi, conda=()):
    lock = {
        "version": 1,
        "platform": "linux-64",
        "python": {"version": "3.11.7", "source": "system"},
    }
    if conda:
        lock["conda"] = [
            {
                "name": name,
                "version": version,
                "build": "h0_0",
                "channel": "conda-forge",
                "subdir": "linux-64",
                "url": f"https://conda.anaconda.org/conda-forge/linux-64/{name}-{version}-h0_0.conda",
            }
            for name, version in conda
        ]
    lock["pypi"] = [
        {
            "name": name,
            "version": version,
            "source": {"kind": "index", "url": "https://pypi.org/simple"},
            "hashes": [hashlib.sha256(f"{name}{version}".encode()).hexdigest()],
        }
        for name, version in sorted(pypi)
    ]
    return json.dumps(lock, indent=2) + "\n"


def advisory_versions(root):
    """Package -> versions its records list (directory layout `vulns/<package>/`)."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    packages = {}
    vulns = os.path.join(root, "vulns")
    for package in sorted(os.listdir(vulns)):
        if not os.path.isdir(os.path.join(vulns, package)):
            continue
        versions = set()
        for name in sorted(os.listdir(os.path.join(vulns, package))):
            with open(os.path.join(vulns, package, name)) as f:
                record = yaml.load(f, Loader=loader)
            for affected in record.get("affected", []):
                versions.update(str(v) for v in affected.get("versions", []))
        if versions:
            packages[package] = sorted(versions)
    return packages


def main():
    db, mode = sys.argv[1], sys.argv[2]
    connection = sqlite3.connect(db)
    rows = connection.execute("SELECT name, version FROM environments WHERE curated = 0").fetchall()
    rng = random.Random(17)
    if mode == "audit":
        packages = advisory_versions(sys.argv[3])
        names = sorted(packages)
    locks = []
    for name, version in rows:
        if mode == "search":
            # Versions are stored as text (`1`, `2`, ...); these are all numbers.
            version = int(version)
            pypi = [
                ("numpy", f"1.{version % 30}.{version % 3}"),
                ("pandas", f"2.{version % 3}.{version % 5}"),
                ("pillow", f"{9 + version % 2}.{version % 4}.0"),
                ("pip", "24.0"),
            ]
            conda = [("openssl", f"{1 + version % 3}.{version % 2}.0"), ("zlib", "1.3.1")]
        else:
            pypi = [(p, rng.choice(packages[p])) for p in rng.sample(names, 30)]
            conda = [("openssl", "3.0.12")]
        text = lock_json(pypi, conda)
        digest = hashlib.sha256(text.encode()).hexdigest()
        locks.append((name, str(version), digest, text, 1_767_225_600_000))
    connection.execute("DELETE FROM locks")
    connection.executemany(
        "INSERT INTO locks (name, version, lock_hash, lock, created_at) VALUES (?, ?, ?, ?, ?)",
        locks,
    )
    connection.executescript(
        "DROP TABLE IF EXISTS locked_packages; DROP INDEX IF EXISTS runs_by_env;"
        " DROP INDEX IF EXISTS models_by_env; DROP INDEX IF EXISTS services_by_env;"
        " PRAGMA user_version = 7;"
    )
    connection.commit()
    print(f"{len(locks)} locks", file=sys.stderr)


if __name__ == "__main__":
    main()
