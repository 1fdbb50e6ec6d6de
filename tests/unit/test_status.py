"""The sidecar's log lines from its facts: files, first failure and reminders, recovery, stats."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from shipper.errors import OpenSearchUnavailable
from shipper.status import Monitor, Status

LINE = b"2025-02-01 10:00:00 1tXaaa-00000000001-0ABC <= a@x.example U=u P=local S=1 for b@y.example\n"
REFUSED = OpenSearchUnavailable("cannot connect to OpenSearch (refused)")


class Clock:
    def __init__(self) -> None:
        self.t = 1_800_000_000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def status(clock: Clock) -> Iterator[Status]:
    s = Status(clock=clock)
    yield s
    for key in list(s.files):
        s.closed(key, quietly=True)


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name.startswith("shipper")]


def follow(status: Status, log: Path, offset: int = 0) -> str:
    with log.open("rb") as fh:  # the Status keeps its own duplicate descriptor
        key = f"{log.stat().st_dev}:{log.stat().st_ino}"
        status.opened(key, str(log), fh.fileno(), offset, None)
    status.following = True
    return key


def test_new_rotated_and_finished_files(
    tmp_path: Path, status: Status, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "shipper")
    log = tmp_path / "exim_mainlog"
    log.write_bytes(LINE * 3)
    key = follow(status, log, len(LINE))
    for n in (2, 3):
        status.read(key, n * len(LINE))
    status.rotated(key, 300)
    status.rotated(key, 300)  # every scan sees it renamed: logged once
    status.closed(key)
    assert messages(caplog) == [
        f"following {log} from byte {len(LINE)}",
        f"{log} was rotated away; reading the old file until it has been quiet for 300s",
        f"finished the rotated {log}: 2 entries read, closed",
    ]
    assert caplog.records[0].file == str(log)  # type: ignore[attr-defined]
    assert caplog.records[0].offset == len(LINE)  # type: ignore[attr-defined]


def test_an_unopenable_file_is_one_warning_until_its_reason_changes(
    status: Status, caplog: pytest.LogCaptureFixture
) -> None:
    for _ in range(3):
        status.cannot_open("/var/log/exim_mainlog", PermissionError(13, "Permission denied"))
    assert messages(caplog) == ["cannot open /var/log/exim_mainlog: Permission denied; trying again"]
    assert caplog.records[0].levelname == "WARNING"


def test_first_failure_at_once_then_a_reminder_per_interval_then_recovery(
    tmp_path: Path, status: Status, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "shipper")
    log = tmp_path / "exim_mainlog"
    log.write_bytes(LINE * 5)
    key = follow(status, log, len(LINE))
    status.read(key, 3 * len(LINE))  # read at t0, in flight when the cluster went away
    monitor = Monitor(status, tmp_path / "state", stats_interval=1e9, reminder_interval=60)
    caplog.clear()

    status.failed(REFUSED)
    status.failed(REFUSED)  # the retries of one outage: still one line
    reason = "cannot connect to OpenSearch (refused)"
    assert messages(caplog) == [
        f"{reason}; retrying until it answers (lines wait in the logs, nothing is lost)"
    ]
    assert caplog.records[0].levelname == "WARNING"
    caplog.clear()

    for _ in range(59):
        clock.t += 1
        monitor.tick()
    assert messages(caplog) == []  # not before the interval
    clock.t += 1
    monitor.tick()
    backlog = 4 * len(LINE)
    assert messages(caplog) == [
        f"OpenSearch still unreachable after 60s ({reason}); backlog {backlog} bytes in 1 file(s), "
        "the oldest waiting 60s"
    ]
    record: Any = caplog.records[0]
    assert (record.backlog_bytes, record.backlog_seconds, record.outage_seconds) == (backlog, 60.0, 60.0)
    caplog.clear()
    for _ in range(60):
        clock.t += 1
        monitor.tick()
    assert len(messages(caplog)) == 1  # the next reminder, a minute later
    assert "after 120s" in messages(caplog)[0]
    caplog.clear()

    status.succeeded()
    status.succeeded()
    monitor.tick()
    assert messages(caplog) == ["OpenSearch answers again after 120s; shipping the backlog"]
    caplog.clear()
    status.failed(REFUSED)  # a new outage: a new first line
    assert len(messages(caplog)) == 1


def test_stats_line_counts_and_lag_per_file(
    tmp_path: Path, status: Status, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "shipper")
    main, reject = tmp_path / "exim_mainlog", tmp_path / "exim_rejectlog"
    main.write_bytes(LINE * 4)
    reject.write_bytes(LINE)
    k1 = follow(status, main)
    k2 = follow(status, reject)
    monitor = Monitor(status, tmp_path / "state", stats_interval=10, reminder_interval=60)
    for n in range(1, 5):
        status.read(k1, n * len(LINE))
    status.read(k2, len(LINE))
    status.counted({(k1, "indexed"): 2, (k1, "already"): 1, (k2, "dead_lettered"): 1})
    status.acked(k1, 3 * len(LINE))
    status.acked(k2, len(LINE))
    caplog.clear()
    clock.t += 9
    monitor.tick()
    assert messages(caplog) == []
    clock.t += 1
    monitor.tick()
    assert messages(caplog) == [
        f"stats: 5 read, 2 indexed, 1 already there, 1 dead-lettered; lag: {main} {len(LINE)} bytes, 10s; "
        f"{reject} 0 bytes, 0s"
    ]
    record: Any = caplog.records[0]
    assert record.counts == {
        "read": 5,
        "indexed": 2,
        "already": 1,
        "dead_lettered": 1,
        "summaries": 0,
    }
    assert record.files == [
        {"file": str(main), "lag_bytes": len(LINE), "lag_seconds": 10.0},
        {"file": str(reject), "lag_bytes": 0, "lag_seconds": 0.0},
    ]
    # status.json holds the same facts, for `health`
    snap = orjson.loads((tmp_path / "state" / "status.json").read_bytes())
    assert snap["totals"] == record.counts
    assert snap["files"][k1]["backlog_bytes"] == len(LINE)
    assert snap["files"][k1]["last_ack"] == clock.t - 10


def test_a_status_file_that_cannot_be_written_is_one_warning(
    tmp_path: Path, status: Status, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    monitor = Monitor(status, blocker / "state", stats_interval=1e9, reminder_interval=1e9)
    for _ in range(3):
        monitor.tick()
    assert messages(caplog) == [f"cannot write {blocker / 'state' / 'status.json'}: Not a directory"]
