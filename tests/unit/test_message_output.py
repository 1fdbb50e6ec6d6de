"""`parse --messages`: one summary per message id, in first-seen order, whatever comes late."""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
from pathlib import Path

import orjson

from shipper.commands import files
from shipper.settings import Settings
from tests.unit.test_messages import ALIAS

REMOVED = "1tRemo-00000000002-0002"
LOG = (
    f"2025-03-30 10:00:02 {REMOVED} <= c@shop.example H=h [203.0.113.5] P=esmtp S=1200 for x@elsewhere.example\n"
    + ALIAS
    + f"2025-03-30 10:00:03 {REMOVED} removed by root\n"
    f"2025-03-30 10:00:03 {REMOVED} Completed\n"
)


def _run(text: str, max_open: int, tmp_path: Path) -> list[dict[str, object]]:
    """`parse --messages --max-open max_open` of `text`: its summaries."""
    log = tmp_path / "mainlog"
    log.write_text(text)
    buf = io.BytesIO()

    class Out:
        buffer = buf

    stdout, sys.stdout = sys.stdout, Out()  # type: ignore[assignment]
    try:
        args = argparse.Namespace(files=[str(log)], messages=True, max_open=max_open)
        files.cmd_parse(args, Settings(server_name="mx1", timezone="UTC"))
    finally:
        sys.stdout = stdout
    return [orjson.loads(line) for line in buf.getvalue().splitlines()]


def test_one_summary_per_message_in_first_seen_order(tmp_path: Path) -> None:
    """`removed by root` then `Completed`: one `removed` summary, not also a `delivered` with 0 attempts."""
    for max_open in (2, 100):
        got = _run(LOG, max_open, tmp_path)
        ids = [s["email"]["local_id"] for s in got]  # type: ignore[index]
        assert ids == [REMOVED, "1tAlia-00000000001-0001"], max_open
        assert got[0]["exim"]["state"] == "removed"  # type: ignore[index]
        assert got[1]["exim"]["state"] == "partially_delivered"  # type: ignore[index]


def test_a_late_line_joins_a_waiting_summary(tmp_path: Path) -> None:
    """A line after `Completed` (here a spam verdict) while the message waits for an earlier one joins it."""
    waiting = "1tWait-00000000003-0003"
    done = "1tDone-00000000004-0004"
    text = (
        f"2025-03-30 10:00:00 {waiting} <= a@shop.example U=a P=local S=1 for b@fleet.test\n"
        f"2025-03-30 10:00:01 {done} <= a@shop.example U=a P=local S=1 for b@fleet.test\n"
        f"2025-03-30 10:00:02 {done} => b <b@fleet.test> R=localuser T=local_delivery\n"
        f"2025-03-30 10:00:02 {done} Completed\n"
        f"2025-03-30 10:00:03 {done} removed by root\n"
        f"2025-03-30 10:00:04 {waiting} => b <b@fleet.test> R=localuser T=local_delivery\n"
        f"2025-03-30 10:00:04 {waiting} Completed\n"
    )
    got = _run(text, 100, tmp_path)
    assert [s["email"]["local_id"] for s in got] == [waiting, done]  # type: ignore[index]
    assert got[1]["exim"]["state"] == "removed"  # type: ignore[index]


def test_cli_prints_one_summary_per_id(tmp_path: Path) -> None:
    log = tmp_path / "mainlog"
    log.write_text(LOG)
    res = subprocess.run(
        [sys.executable, "-m", "shipper", "parse", "--messages", "--timezone", "UTC", str(log)],
        capture_output=True,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    ids = [orjson.loads(line)["email"]["local_id"] for line in res.stdout.splitlines()]
    assert sorted(ids) == sorted(set(ids)) and len(ids) == 2
