"""The sidecar (`exim-shipper run`) against a real OpenSearch: appends, restarts and rotation."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.conftest import CHILDREN
from tests.integration.test_backfill import ROOT, command, count

# The sidecar only checks for the templates: every test ships into a prefix that `setup` prepared.
pytestmark = pytest.mark.usefixtures("set_up")


def line(i: int) -> bytes:
    """A distinct arrival line per i (distinct pid, size and sender)."""
    ts = f"2025-02-01 10:{i // 60 % 60:02d}:{i % 60:02d}"
    return f"{ts} [{1000 + i}] 1tXaaa-{i:011d}-0ABC <= a{i}@x.example U=u P=local S={i} for b@y.example\n".encode()


def start(path: Path, state: Path, url: str, prefix: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "EXIM_SHIPPER_BATCH_MAX_AGE": "0.3",
        "EXIM_SHIPPER_SCAN_INTERVAL": "0.2",
        "EXIM_SHIPPER_CLOSE_INACTIVE": "2",
    }
    cmd = command("run", str(path), url=url, prefix=prefix, state=state)
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    CHILDREN.append(proc)  # killed after the test if a failed assert skipped its stop()
    return proc


def stop(proc: subprocess.Popen[bytes]) -> str:
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return err.decode()


def wait_for(url: str, index: str, n: int, timeout: float = 60.0) -> int:
    deadline = time.monotonic() + timeout
    got = count(url, index)
    while got < n and time.monotonic() < deadline:
        time.sleep(0.3)
        got = count(url, index)
    time.sleep(1.0)  # anything beyond n would show up now
    return count(url, index)


def test_follows_appends_and_resumes_after_restart(opensearch_url: str, prefix: str, tmp_path: Path) -> None:
    """Lines appended while running and while stopped are each indexed exactly once."""
    log = tmp_path / "exim_mainlog"
    log.write_bytes(b"".join(line(i) for i in range(50)))
    proc = start(log, tmp_path / "state", opensearch_url, prefix)
    with log.open("ab") as fh:
        for i in range(50, 120):
            fh.write(line(i))
            fh.flush()
            time.sleep(0.01)
    assert wait_for(opensearch_url, f"{prefix}-events-*", 120) == 120
    stop(proc)
    with log.open("ab") as fh:  # written while the sidecar is down
        fh.write(b"".join(line(i) for i in range(120, 200)))
    proc = start(log, tmp_path / "state", opensearch_url, prefix)
    assert wait_for(opensearch_url, f"{prefix}-events-*", 200) == 200
    err = stop(proc)
    assert "stopped after 80 entries" in err  # the restart read only what was new


def test_rename_and_create_rotation_under_a_writer(opensearch_url: str, prefix: str, tmp_path: Path) -> None:
    """exicyclog-style rotation while Exim still appends to the renamed file: every line exactly once."""
    log = tmp_path / "exim_mainlog"
    proc = start(log, tmp_path / "state", opensearch_url, prefix)
    old = log.open("ab")
    for i in range(100):
        old.write(line(i))
        old.flush()
    # Rotate only once the sidecar is following the file (a file renamed before it was ever seen
    # under the followed name is backfill's job, not tail's).
    assert wait_for(opensearch_url, f"{prefix}-events-*", 100) == 100
    log.rename(tmp_path / "exim_mainlog.1")
    for i in range(100, 130):  # a long-running delivery still holds the old file open
        old.write(line(i))
        old.flush()
    new = log.open("ab")
    for i in range(130, 250):
        new.write(line(i))
        new.flush()
        if i == 180:
            old.write(line(1000))  # and writes once more, late
            old.flush()
    old.close()
    new.close()
    assert wait_for(opensearch_url, f"{prefix}-events-*", 251) == 251
    time.sleep(4.0)  # well past close_inactive (2 s), even on a loaded machine: the old file is finished
    err = stop(proc)
    assert f"INFO exim-shipper: following {log} from byte 0\n" in err
    assert f"INFO exim-shipper: {log} was rotated away; reading the old file until" in err
    assert f"INFO exim-shipper: finished the rotated {log}: 131 entries read, closed\n" in err
    assert err.count(f"following {log} from byte 0") == 2  # the old file, then the new one


def test_copytruncate(opensearch_url: str, prefix: str, tmp_path: Path) -> None:
    """logrotate copytruncate: the emptied file is read again from its start."""
    log = tmp_path / "exim_mainlog"
    log.write_bytes(b"".join(line(i) for i in range(60)))
    proc = start(log, tmp_path / "state", opensearch_url, prefix)
    assert wait_for(opensearch_url, f"{prefix}-events-*", 60) == 60
    shutil.copy(log, tmp_path / "exim_mainlog.1")
    with log.open("r+b") as fh:
        fh.truncate(0)
    time.sleep(0.5)
    with log.open("ab") as fh:
        fh.write(b"".join(line(i) for i in range(60, 90)))
    assert wait_for(opensearch_url, f"{prefix}-events-*", 90) == 90
    stop(proc)


def test_copytruncate_refilled_past_the_old_offset(opensearch_url: str, prefix: str, tmp_path: Path) -> None:
    """Truncated and refilled beyond the old size between two polls: the new head gives it away."""
    log = tmp_path / "exim_mainlog"
    log.write_bytes(b"".join(line(i) for i in range(30)))
    proc = start(log, tmp_path / "state", opensearch_url, prefix)
    assert wait_for(opensearch_url, f"{prefix}-events-*", 30) == 30
    with log.open("r+b") as fh:  # truncate and refill with more than before, in one go
        fh.truncate(0)
        fh.write(b"".join(line(i) for i in range(1000, 1100)))
    assert wait_for(opensearch_url, f"{prefix}-events-*", 130) == 130
    stop(proc)


TWIN = b"2025-02-01 11:00:00 [4242] SMTP connection from [192.0.2.7] lost\n"
ARRIVAL = (
    b"2025-02-01 11:00:00 [4243] 1tXtwn-00000000001-0ABC <= t@x.example U=u P=local S=5 for b@y.example\n"
)


def test_identical_line_in_the_checkpoints_second_after_a_restart(
    opensearch_url: str, prefix: str, tmp_path: Path
) -> None:
    """A line byte-identical to one shipped before a restart, in the same second, is a new entry."""
    log = tmp_path / "exim_mainlog"
    log.write_bytes(TWIN + ARRIVAL)
    proc = start(log, tmp_path / "state", opensearch_url, prefix)
    assert wait_for(opensearch_url, f"{prefix}-events-*", 2) == 2
    stop(proc)
    with log.open("ab") as fh:
        fh.write(TWIN)
    proc = start(log, tmp_path / "state", opensearch_url, prefix)
    assert wait_for(opensearch_url, f"{prefix}-events-*", 3) == 3
    err = stop(proc)
    assert "stopped after 1 entries (1 indexed, 0 already there" in err
