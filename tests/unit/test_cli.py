"""The `exim-shipper parse` command as a user runs it: JSON lines out, summary and errors on stderr."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import orjson

ID = "1tXaaa-00000001abc-0ABC"
LOG = (
    f"2025-01-31 10:00:00 {ID} <= a@b.example U=alice P=local S=10 for c@d.example\n"
    f"2025-01-31 10:00:01 {ID} => c@d.example R=dnslookup T=remote_smtp H=mx.d.example [192.0.2.1]\n"
    f"2025-01-31 10:00:01 {ID} Completed\n"
    "2025-01-31 10:00:02 some site logwrite text\n"
).encode()


def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "shipper", *args], input=stdin, capture_output=True, check=False
    )


def test_parse_file_in_order_with_summary(tmp_path: Path) -> None:
    """One JSON document per entry, in input order; counts per action on stderr."""
    path = tmp_path / "exim_mainlog"
    path.write_bytes(LOG)
    res = run("parse", str(path), "--timezone", "Europe/Paris", "--server-name", "mx9")
    assert res.returncode == 0, res.stderr
    docs = [orjson.loads(line) for line in res.stdout.splitlines()]
    assert [d["event"]["action"] for d in docs] == [
        "message_arrived",
        "delivered",
        "message_completed",
        "unrecognized",
    ]
    assert docs[0]["@timestamp"] == "2025-01-31T09:00:00.000Z"
    assert {d["host"]["name"] for d in docs} == {"mx9"}
    assert [d["log"]["offset"] for d in docs][:2] == [0, LOG.index(b"\n") + 1]
    err = res.stderr.decode()
    assert "entries: 4" in err
    assert "unrecognized: 1" in err


def test_stdin_gzip_detected_by_content() -> None:
    """`parse -` reads stdin and sees through gzip without any file name."""
    res = run("parse", "-", "--timezone", "UTC", stdin=gzip.compress(LOG))
    assert res.returncode == 0, res.stderr
    assert len(res.stdout.splitlines()) == 4


def test_missing_file_is_one_line_and_nonzero() -> None:
    """A missing file: one clear error line, no traceback, exit 1."""
    res = run("parse", "/nonexistent/exim_mainlog")
    assert res.returncode == 1
    err = res.stderr.decode()
    assert "exim-shipper: /nonexistent/exim_mainlog: no such file" in err
    assert "Traceback" not in err


def test_corrupt_gzip_is_one_line(tmp_path: Path) -> None:
    """A truncated .gz: the entries read so far are printed, then one error line, exit 1."""
    path = tmp_path / "mainlog.gz"
    path.write_bytes(gzip.compress(LOG * 50)[:-20])
    res = run("parse", str(path), "--timezone", "UTC")
    assert res.returncode == 1
    assert "Traceback" not in res.stderr.decode()
    assert "cannot read" in res.stderr.decode()


def test_bad_timezone_is_one_line() -> None:
    """An unknown zone is reported as one line."""
    res = run("parse", "-", "--timezone", "Mars/Olympus", stdin=b"")
    assert res.returncode == 1
    assert (
        res.stderr.decode().strip()
        == "exim-shipper: invalid setting timezone: unknown time zone 'Mars/Olympus'"
    )
