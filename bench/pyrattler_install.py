"""The py-rattler peer of bench/build.sh's conda rows: solve specs against a local channel and
install them into a prefix, reusing a package cache (what `strata env build` does for a conda
environment, minus the venv).

    PYRATTLER_PYTHON bench/pyrattler_install.py CHANNEL_DIR PREFIX CACHE_DIR SPEC...
"""
import asyncio
import os
import sys
from pathlib import Path

import rattler


async def main(channel: Path, prefix: Path, cache: Path, specs: list[str]) -> None:
    gateway = rattler.Gateway(cache_dir=cache / "repodata")
    records = await rattler.solve(
        [rattler.Channel(channel.resolve().as_uri())],
        specs,
        gateway=gateway,
        platforms=["linux-64", "noarch"],
    )
    await rattler.install(records, target_prefix=prefix, cache_dir=cache / "pkgs", show_progress=False)


if __name__ == "__main__":
    channel, prefix, cache, *specs = sys.argv[1:]
    asyncio.run(main(Path(channel), Path(prefix), Path(cache), specs))
    sys.stdout.flush()
    # py-rattler 0.28 sometimes crashes at interpreter shutdown; the work is done by now.
    os._exit(0)
