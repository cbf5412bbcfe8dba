#!/usr/bin/env python3
"""Writes a local conda channel for bench/build.sh, with the Python standard library only.

    python3 bench/make_channel.py CHANNEL_DIR [--packages N] [--files M]

Makes N noarch packages `bench-00` .. `bench-NN` (default 50), each `.tar.bz2` holding
M payload files of ~4 KiB (default 40) plus one text file with the conda prefix placeholder
(so installs also exercise relocation), and writes `noarch/repodata.json` and an empty
`linux-64/repodata.json` itself (no indexer needed). Package k > 0 depends on package k // 2,
so the solver sees a tree. The output is reproducible: contents and tar metadata are fixed, so
rerunning gives byte-identical packages (same sha256).
"""
import argparse
import hashlib
import io
import json
import random
import tarfile
from pathlib import Path

PLACEHOLDER = "/opt/anaconda1anaconda2anaconda3"
TIMESTAMP_MS = 1_767_225_600_000
MTIME = TIMESTAMP_MS // 1000


def add(tar: tarfile.TarFile, path: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(path)
    info.size = len(data)
    info.mode = mode
    info.mtime = MTIME
    info.uname = info.gname = ""
    tar.addfile(info, io.BytesIO(data))


def package(channel: Path, index: int, count: int, files: int, rng: random.Random) -> tuple[str, dict]:
    name = f"bench-{index:02d}"
    version, build = "1.0.0", "h0_0"
    depends = [f"bench-{index // 2:02d}"] if index > 0 else []
    payload = []
    for f in range(files):
        # Hex text: compresses about 2:1, like typical package contents.
        size = rng.randrange(2048, 6144)
        data = rng.randbytes(size // 2).hex().encode() + b"\n"
        payload.append((f"share/{name}/data-{f:03d}.txt", data, False))
    payload.append((f"etc/{name}.conf", f"prefix={PLACEHOLDER}\nname={name}\n".encode(), True))
    payload.append((f"bin/{name}", f"#!/bin/sh\necho {name}\n".encode(), False))
    paths = []
    for rel, data, has_prefix in sorted(payload):
        entry = {
            "_path": rel,
            "path_type": "hardlink",
            "sha256": hashlib.sha256(data).hexdigest(),
            "size_in_bytes": len(data),
        }
        if has_prefix:
            entry.update(prefix_placeholder=PLACEHOLDER, file_mode="text")
        paths.append(entry)
    index_json = {
        "name": name,
        "version": version,
        "build": build,
        "build_number": 0,
        "depends": depends,
        "subdir": "noarch",
        "noarch": "generic",
        "timestamp": TIMESTAMP_MS,
        "license": "MIT",
    }
    file_name = f"{name}-{version}-{build}.tar.bz2"
    out = channel / "noarch" / file_name
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:bz2") as tar:
        add(tar, "info/index.json", json.dumps(index_json, indent=2, sort_keys=True).encode())
        add(tar, "info/paths.json",
            json.dumps({"paths": paths, "paths_version": 1}, indent=2, sort_keys=True).encode())
        for rel, data, _ in sorted(payload):
            add(tar, rel, data, 0o755 if rel.startswith("bin/") else 0o644)
    blob = buffer.getvalue()
    out.write_bytes(blob)
    record = dict(index_json)
    record.update(
        sha256=hashlib.sha256(blob).hexdigest(),
        md5=hashlib.md5(blob).hexdigest(),
        size=len(blob),
    )
    return file_name, record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("channel", type=Path)
    parser.add_argument("--packages", type=int, default=50)
    parser.add_argument("--files", type=int, default=40)
    args = parser.parse_args()
    channel = args.channel
    for subdir in ("noarch", "linux-64"):
        (channel / subdir).mkdir(parents=True, exist_ok=True)
    rng = random.Random(20261128)
    records = dict(package(channel, i, args.packages, args.files, rng) for i in range(args.packages))
    for subdir, packages in (("noarch", records), ("linux-64", {})):
        repodata = {
            "info": {"subdir": subdir},
            "packages": packages,
            "packages.conda": {},
            "repodata_version": 1,
        }
        (channel / subdir / "repodata.json").write_text(json.dumps(repodata, indent=1, sort_keys=True) + "\n")
    total = sum(r["size"] for r in records.values())
    print(f"{channel}: {len(records)} packages, {len(records) * (args.files + 2)} files, {total / 1e6:.1f} MB packed")


if __name__ == "__main__":
    main()
