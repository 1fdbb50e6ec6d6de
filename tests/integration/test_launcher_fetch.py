"""The launcher's Maven fetch on a first run: its stdout is only the path, and the file lands where it looks."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAUNCHER = ROOT / "tools" / "local_opensearch.py"
# Small, and never in a Maven repository the test starts with: every run is a first download.
TINY = "org.hamcrest:hamcrest-core:1.3:jar"


@pytest.mark.skipif(shutil.which("mvn") is None and not os.environ.get("CI"), reason="no mvn here")
def test_first_fetch_prints_only_the_path_and_ignores_settings_local_repository(tmp_path: Path) -> None:
    """A settings.xml `localRepository` and a user.home other than the account's once sent the download where
    the launcher never looked, and mvn's ANSI codes went into the captured URL."""
    home = tmp_path / "home"
    elsewhere = tmp_path / "elsewhere"
    (home / ".m2").mkdir(parents=True)
    (home / ".m2" / "settings.xml").write_text(
        f"<settings><localRepository>{elsewhere}</localRepository></settings>\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "MAVEN_REPO"}
    env.update(HOME=str(home), MAVEN_OPTS=f"-Duser.home={home}", TERM="xterm-256color")
    done = subprocess.run(
        [sys.executable, str(LAUNCHER), "fetch", TINY],
        env=env,
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    printed = done.stdout.decode()
    assert b"\x1b" not in done.stdout
    assert printed.count("\n") == 1
    path = Path(printed.strip())
    assert path == home / ".m2" / "repository" / "org/hamcrest/hamcrest-core/1.3/hamcrest-core-1.3.jar"
    assert path.stat().st_size > 1000
    assert not (elsewhere / "org" / "hamcrest").exists()


def test_missing_mvn_is_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(tmp_path), "MAVEN_REPO": str(tmp_path / "m2")}
    done = subprocess.run(
        [sys.executable, str(LAUNCHER), "fetch", TINY], env=env, capture_output=True, timeout=60, check=False
    )
    assert done.returncode != 0
    assert done.stdout == b""
    assert done.stderr.decode().strip().splitlines() == [
        f"cannot fetch {TINY}: mvn (Apache Maven) is not on PATH"
    ]


def test_failed_fetch_is_one_line_and_nothing_on_stdout(tmp_path: Path) -> None:
    """A fake mvn that fails after printing colour codes: stdout stays clean, the error names the artifact."""
    fake = tmp_path / "bin" / "mvn"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\nprintf '\\033[0m\\033[0m[ERROR] could not resolve\\n'\nexit 1\n")
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{fake.parent}:{os.environ['PATH']}", "MAVEN_REPO": str(tmp_path / "m2")}
    done = subprocess.run(
        [sys.executable, str(LAUNCHER), "fetch", TINY], env=env, capture_output=True, timeout=60, check=False
    )
    assert done.returncode != 0
    assert done.stdout == b""
    assert f"cannot fetch {TINY}: mvn exited with status 1" in done.stderr.decode()
