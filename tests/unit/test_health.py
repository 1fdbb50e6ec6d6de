"""`exim-shipper health`: judged from the facts the sidecar writes (status.json), as its metrics are."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from shipper import health
from shipper.errors import OpenSearchUnavailable
from shipper.status import Monitor, Status

LINE = b"2025-02-01 10:00:00 1tXaaa-00000000001-0ABC <= a@x.example U=u P=local S=1 for b@y.example\n"


class Clock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


class Sidecar:
    """A Status fed as the tail loop and the sender feed it, and its Monitor writing status.json."""

    def __init__(self, state: Path) -> None:
        self.clock = Clock()
        self.status = Status(clock=self.clock)
        self.status.patterns = ["/var/log/exim_*log"]
        self.monitor = Monitor(self.status, state, stats_interval=1e9, reminder_interval=1e9)
        self.handles: list[object] = []

    def follow(self, log: Path, offset: int = 0) -> str:
        fh = log.open("rb")
        self.handles.append(fh)
        key = f"{log.stat().st_dev}:{log.stat().st_ino}"
        self.status.opened(key, str(log), fh.fileno(), offset, None)
        self.status.following = True
        return key

    def write(self) -> None:
        self.monitor.tick()


@pytest.fixture
def sidecar(tmp_path: Path) -> Iterator[Sidecar]:
    s = Sidecar(tmp_path / "state")
    yield s
    for key in list(s.status.files):
        s.status.closed(key, quietly=True)


def verdict(tmp_path: Path, sidecar: Sidecar, max_stall: float = 60.0, **kw: object) -> health.Verdict:
    return health.check(tmp_path / "state", max_stall, now=sidecar.clock.t, **kw)  # type: ignore[arg-type]


def test_everything_shipped_is_healthy(tmp_path: Path, sidecar: Sidecar) -> None:
    main, reject = tmp_path / "exim_mainlog", tmp_path / "exim_rejectlog"
    main.write_bytes(LINE * 3)
    reject.write_bytes(LINE)
    sidecar.follow(main, 3 * len(LINE))
    sidecar.follow(reject, len(LINE))
    sidecar.write()
    assert verdict(tmp_path, sidecar) == health.Verdict(True, "ok: 2 file(s) followed, all shipped")


def test_a_backlog_is_unhealthy_only_once_its_oldest_line_waits_too_long(
    tmp_path: Path, sidecar: Sidecar
) -> None:
    """Read at t and not acknowledged by t + max_stall: unhealthy; an acknowledgement starts afresh."""
    log = tmp_path / "exim_mainlog"
    log.write_bytes(LINE * 4)
    key = sidecar.follow(log, len(LINE))
    sidecar.status.read(key, 2 * len(LINE))
    pending = 3 * len(LINE)
    sidecar.write()
    first = verdict(tmp_path, sidecar)
    assert first == health.Verdict(True, f"ok: 1 file(s) followed, {pending} bytes on their way")

    sidecar.clock.t += 60
    sidecar.write()
    assert verdict(tmp_path, sidecar).healthy
    sidecar.clock.t += 1
    sidecar.write()
    stalled = verdict(tmp_path, sidecar)
    assert stalled == health.Verdict(
        False,
        f"{log}: {pending} bytes not shipped and no progress for 61s "
        "(is OpenSearch reachable? see the sidecar's log)",
    )

    sidecar.status.acked(key, 2 * len(LINE))  # progress: the oldest waiting line is a later one
    sidecar.write()
    assert verdict(tmp_path, sidecar).healthy
    sidecar.clock.t += 61
    sidecar.write()
    assert not verdict(tmp_path, sidecar).healthy

    sidecar.status.acked(key, 4 * len(LINE))
    sidecar.write()
    assert verdict(tmp_path, sidecar).message.endswith("all shipped")


def test_an_outage_is_named_as_the_cause(tmp_path: Path, sidecar: Sidecar) -> None:
    log = tmp_path / "exim_mainlog"
    log.write_bytes(LINE * 2)
    sidecar.follow(log, 0)
    sidecar.status.failed(OpenSearchUnavailable("cannot connect to OpenSearch (refused)"))
    sidecar.write()
    sidecar.clock.t += 120
    sidecar.write()
    bad = verdict(tmp_path, sidecar)
    assert not bad.healthy
    assert bad.message.startswith(f"{log}: {2 * len(LINE)} bytes not shipped and no progress for 120s ")
    assert "(OpenSearch unreachable for 120s: cannot connect to OpenSearch (" in bad.message


def test_lines_the_loop_has_not_read_count_from_when_they_were_first_seen(
    tmp_path: Path, sidecar: Sidecar
) -> None:
    """A loop blocked (or hung) before reading: the monitor itself sees the file grow."""
    log = tmp_path / "exim_mainlog"
    log.write_bytes(LINE)
    sidecar.follow(log, len(LINE))
    sidecar.write()
    with log.open("ab") as fh:
        fh.write(LINE * 2 + LINE[:20])  # and an unterminated line: not a backlog yet
    sidecar.clock.t += 5
    sidecar.write()
    assert verdict(tmp_path, sidecar).message == f"ok: 1 file(s) followed, {2 * len(LINE)} bytes on their way"
    sidecar.clock.t += 61
    sidecar.write()
    assert "no progress for 61s" in verdict(tmp_path, sidecar).message


def test_silent_stopped_or_absent_sidecars_and_missing_logs(tmp_path: Path, sidecar: Sidecar) -> None:
    state = tmp_path / "state"
    absent = health.check(state, 60)
    assert not absent.healthy
    assert absent.message.startswith(f"no sidecar status in {state / 'status.json'}")

    sidecar.status.following = True  # looked, found nothing
    sidecar.write()
    assert verdict(tmp_path, sidecar) == health.Verdict(
        False, "no log file matches /var/log/exim_*log (is the log directory mounted?)"
    )
    log = tmp_path / "exim_mainlog"
    log.write_bytes(LINE)
    sidecar.follow(log, len(LINE))
    sidecar.write()
    assert verdict(tmp_path, sidecar).healthy
    sidecar.clock.t += 61
    assert verdict(tmp_path, sidecar) == health.Verdict(
        False, f"the sidecar has not updated its status 61s ago ({state / 'status.json'})"
    )
    sidecar.monitor.stop()
    assert verdict(tmp_path, sidecar).healthy  # a clean stop, just now, with everything shipped
    sidecar.clock.t += 61
    assert verdict(tmp_path, sidecar).message.startswith("the sidecar stopped 61s ago")


def test_waiting_for_the_cluster_before_following(tmp_path: Path, sidecar: Sidecar) -> None:
    """A sidecar started before its cluster has not opened its logs: healthy for max_stall, then not."""
    sidecar.status.failed(OpenSearchUnavailable("cannot connect to OpenSearch (refused)"))
    sidecar.write()
    waiting = verdict(tmp_path, sidecar)
    assert waiting.healthy
    assert waiting.message.startswith("ok: not following the logs yet (OpenSearch unreachable for 0s: ")
    sidecar.clock.t += 61
    sidecar.write()
    assert verdict(tmp_path, sidecar).message.startswith("not following the logs yet after 61s (OpenSearch")


def test_unreadable_logs_and_patterns_narrow_the_verdict(tmp_path: Path, sidecar: Sidecar) -> None:
    main, reject = tmp_path / "exim_mainlog", tmp_path / "exim_rejectlog"
    main.write_bytes(LINE)
    reject.write_bytes(LINE)
    sidecar.follow(main, len(LINE))
    sidecar.status.cannot_open(str(reject), PermissionError(13, "Permission denied"))
    sidecar.write()
    bad = verdict(tmp_path, sidecar)
    assert bad == health.Verdict(False, f"{reject}: cannot read (Permission denied)")
    only_main = verdict(tmp_path, sidecar, patterns=[str(main)])
    assert only_main == health.Verdict(True, "ok: 1 file(s) followed, all shipped")


def test_command_exit_status_and_one_line(tmp_path: Path, sidecar: Sidecar) -> None:
    """The HEALTHCHECK's view: exit 0 with a line on stdout, or exit 1 with one line on stderr."""
    log = tmp_path / "exim_mainlog"
    log.write_bytes(LINE * 2)
    state = tmp_path / "state"
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXIM_SHIPPER_")}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "shipper", "health", "--state-dir", str(state), *args]
        return subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)

    sidecar.clock.t = time.time() - 10  # the sidecar's facts are ten seconds old
    key = sidecar.follow(log, 2 * len(LINE))
    sidecar.write()
    ok = run()
    assert (ok.returncode, ok.stdout, ok.stderr) == (0, "ok: 1 file(s) followed, all shipped\n", "")

    with log.open("ab") as fh:
        fh.write(LINE)
    sidecar.status.read(key, 3 * len(LINE))  # read then, never acknowledged since
    sidecar.write()
    assert run("--max-stall", "60").returncode == 0
    bad = run("--max-stall", "5")
    assert bad.returncode == 1
    assert bad.stdout == ""
    assert bad.stderr.startswith(f"exim-shipper: unhealthy: {log}: {len(LINE)} bytes not shipped")
    assert bad.stderr.count("\n") == 1
