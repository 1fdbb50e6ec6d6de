"""The `exim-shipper parse` command as a user runs it: JSON lines out, summary and errors on stderr."""

from __future__ import annotations

import gzip
import os
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


SAMPLE = str(Path(__file__).resolve().parents[2] / "shipper" / "samples" / "exim_mainlog")


def test_parse_messages_one_summary_per_id_in_first_seen_order() -> None:
    """`parse --messages` prints one summary per message id, first-seen order, with its state."""
    res = run("parse", "--messages", SAMPLE, "--timezone", "Europe/Berlin", "--server-name", "mx9")
    assert res.returncode == 0, res.stderr
    docs = [orjson.loads(line) for line in res.stdout.splitlines()]
    assert [(d["email"]["local_id"], d["exim"]["state"]) for d in docs] == [
        ("1tgXJ4-00000000ZYx-0Aa1", "deferred"),
        ("1tgXKW-00000000aBc-0Bb2", "bounced"),
        ("1tgXKY-00000000aBd-0Cc3", "delivered"),
        ("1XO5PX-0006SC-Qa", "frozen"),
    ]
    assert docs[1]["exim"]["bounced_by"] == ["1tgXKY-00000000aBd-0Cc3"]
    assert {d["host"]["name"] for d in docs} == {"mx9"}


def test_trace_id_prints_story_then_summary() -> None:
    """`trace ID` prints the message's lines (and its bounce's), each followed by a readable summary."""
    res = run("trace", "1tgXKW-00000000aBc-0Bb2", SAMPLE, "--timezone", "UTC")
    assert res.returncode == 0, res.stderr
    out = res.stdout.decode()
    assert out.index("** dave@nonexistent-domain-xyz.example : Unrouteable address") < out.index(
        "state       bounced"
    )
    assert "<= <> R=1tgXKW-00000000aBc-0Bb2" in out
    assert "recipient   dave@nonexistent-domain-xyz.example  failed  unroutable_domain" in out


def test_trace_address_finds_every_message() -> None:
    """`trace ADDRESS` shows every message that involves the address, any case."""
    res = run("trace", "Carol@Yahoo.com", SAMPLE, "--timezone", "UTC")
    assert res.returncode == 0, res.stderr
    out = res.stdout.decode()
    assert "1tgXJ4-00000000ZYx-0Aa1 == carol@yahoo.com" in out
    assert "state           deferred" in out
    assert "1tgXKW" not in out


def test_trace_no_match_is_one_line() -> None:
    """Nothing matching: one line, exit 1."""
    res = run("trace", "nobody@nowhere.example", SAMPLE)
    assert res.returncode == 1
    assert res.stderr.decode().strip() == "exim-shipper: no entry matches 'nobody@nowhere.example'"


def test_parse_messages_cap_bounds_memory_not_order() -> None:
    """A cap covering the overlap changes nothing; a smaller one adds partial summaries, same order."""
    full = run("parse", "--messages", SAMPLE, "--timezone", "UTC").stdout.splitlines()
    two = run("parse", "--messages", "--max-open", "2", SAMPLE, "--timezone", "UTC").stdout.splitlines()
    one = run("parse", "--messages", "--max-open", "1", SAMPLE, "--timezone", "UTC").stdout.splitlines()
    assert two == full
    ids = [orjson.loads(x)["email"]["local_id"] for x in one]
    assert len(one) > len(full)
    assert list(dict.fromkeys(ids)) == [orjson.loads(x)["email"]["local_id"] for x in full]


def test_unreachable_cluster_is_one_line_without_secrets(tmp_path: Path) -> None:
    """No cluster: one error line, exit 1, and the password is not repeated."""
    flags = ["--username", "shipper", "--opensearch-url", "http://127.0.0.1:1", "--state-dir", str(tmp_path)]
    res = subprocess.run(
        [sys.executable, "-m", "shipper", "backfill", SAMPLE, *flags],
        env={**os.environ, "EXIM_SHIPPER_PASSWORD": "s3cr3t-pw"},
        capture_output=True,
        check=False,
    )
    err = res.stderr.decode()
    assert res.returncode == 1
    assert err.count("\n") == 1 and err.startswith("exim-shipper: backfill: cannot connect to OpenSearch")
    assert "s3cr3t-pw" not in err
