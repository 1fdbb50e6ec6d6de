"""Debian's exim4-base package (exigrep, eximstats) fetched with apt-get and unpacked into the cache.

    python tools/exim4_base.py [exigrep|eximstats]    # prints the script's path

As tools/eximstats_fixture.sh does: `apt-get download exim4-base` (after an `apt-get update` when the
package lists do not know it) into ${EXIM_SHIPPER_CACHE:-${XDG_CACHE_HOME:-~/.cache}/exim-shipper}/exim4-base,
then `dpkg-deb -x` into root/ there; never into the work tree. Exim itself is not installed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


class FetchFailed(Exception):
    """apt-get or dpkg-deb could not provide the package."""


def cache() -> Path:
    base = os.environ.get("EXIM_SHIPPER_CACHE")
    if base:
        return Path(base) / "exim4-base"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "exim-shipper" / "exim4-base"


def script(name: str) -> Path:
    """The path of /usr/sbin/`name` from the unpacked package, fetching it on first use."""
    where = cache()
    exe = where / "root" / "usr" / "sbin" / name
    if exe.is_file():
        return exe
    where.mkdir(parents=True, exist_ok=True)
    try:
        if _run(["apt-get", "download", "exim4-base"], where).returncode != 0:
            _run(["apt-get", "update"], where)
            done = _run(["apt-get", "download", "exim4-base"], where)
            if done.returncode != 0:
                raise FetchFailed(f"apt-get download exim4-base: {done.stderr.strip().splitlines()[-1:]}")
        debs = sorted(where.glob("exim4-base_*.deb"), key=lambda p: p.stat().st_mtime)
        if not debs:
            raise FetchFailed("apt-get download exim4-base left no .deb")
        unpack = _run(["dpkg-deb", "-x", str(debs[-1]), str(where / "root")], where)
        if unpack.returncode != 0:
            raise FetchFailed(f"dpkg-deb -x {debs[-1].name}: {unpack.stderr.strip()}")
    except FileNotFoundError as exc:  # no apt-get or dpkg-deb: not a Debian-like machine
        raise FetchFailed(f"{exc.filename}: not found") from None
    if not exe.is_file():
        raise FetchFailed(f"exim4-base has no usr/sbin/{name}")
    return exe


def _run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)


if __name__ == "__main__":
    try:
        print(script(sys.argv[1] if len(sys.argv) > 1 else "exigrep"))
    except FetchFailed as exc:
        sys.exit(f"exim4_base: {exc}")
