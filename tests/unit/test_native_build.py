"""The native module's build as `make install` runs it: a change to anything the module is built from makes
the next install rebuild it, so no test runs a stale shipper/_native.abi3.so.

Asked of make itself (`make -n -W FILE install`: what it would run were FILE just changed), for every file of
the two crates and every file their sources embed with include_str!/include_bytes!.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NATIVE = ROOT / "native"
# Under `make test` the outer make's variables would reach the inner one.
MAKE_ENV = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
REINSTALL = "pip install --quiet -e '.[dev]'"
EMBED = re.compile(r'include_(?:str|bytes)!\(\s*"([^"]+)"')


def make(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        env=MAKE_ENV,
        timeout=60,
    )


def crate_files() -> list[Path]:
    files = [p for crate in ("binding", "exim-log") for p in (NATIVE / crate).rglob("*") if p.is_file()]
    return [*sorted(files), NATIVE / "Cargo.toml", NATIVE / "Cargo.lock"]


def embedded() -> set[Path]:
    """The files outside the crates' own directories that the Rust sources embed (the Python's tables)."""
    found = set()
    for source in (NATIVE / "exim-log" / "src").rglob("*.rs"):
        for rel in EMBED.findall(source.read_text()):
            found.add((source.parent / rel).resolve())
    return found


@pytest.fixture(scope="module")
def fresh() -> None:
    """The questions mean something only while the install is up to date (as `make test` leaves it)."""
    if not (ROOT / ".venv" / ".installed").exists() or make("-q", "install").returncode != 0:
        pytest.skip("the install is not up to date (run make install)")


def reinstalls(path: Path) -> bool:
    res = make("-n", "-W", str(path.relative_to(ROOT)), "install")
    assert res.returncode == 0, res.stderr
    return REINSTALL in res.stdout


@pytest.mark.usefixtures("fresh")
def test_a_change_to_any_file_of_the_crates_rebuilds_the_module() -> None:
    files = crate_files()
    assert len(files) > 20
    assert any(p.suffix == ".rs" for p in files)
    stale = [str(p.relative_to(ROOT)) for p in files if not reinstalls(p)]
    assert stale == []


@pytest.mark.usefixtures("fresh")
def test_a_change_to_a_table_the_core_embeds_rebuilds_the_module() -> None:
    tables = {p for p in embedded() if ROOT / "shipper" in p.parents}
    assert {p.name for p in tables} >= {"actions.json", "taxonomy.json"}
    stale = [str(p.relative_to(ROOT)) for p in sorted(embedded()) if not reinstalls(p)]
    assert stale == []


@pytest.mark.usefixtures("fresh")
def test_a_change_elsewhere_does_not() -> None:
    """The question can be answered no: a Python module or a test is not a source of the native module."""
    assert not reinstalls(ROOT / "shipper" / "pipeline.py")
    assert not reinstalls(ROOT / "tests" / "unit" / "test_native_build.py")
    assert reinstalls(ROOT / "pyproject.toml")
