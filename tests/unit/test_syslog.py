"""Syslog and journald input: each wrapper form, Exim's split pieces, New Year, other programs, detection.
The records are read by the core (`Reader(form=...)`); format detection, the tail's harvester and the
resume's second are Python's."""

from __future__ import annotations

import base64
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from shipper.files.syslog import SyslogForm, detect_format
from tests.parsing import Entry, Log, read

ID = "1tgXJ4-000000001aB-0Cd4"
ARRIVAL = f"{ID} <= alice@example.com H=mail.example.com [192.0.2.1] P=esmtps S=1234 id=abc@example.com"


def log(text: bytes, *, form: str = "syslog", anchor: date = date(2025, 7, 1), **kw: Any) -> Log:
    return read(text, form=form, anchor=anchor, server="this-host", **kw)


def entries(text: bytes, **kw: Any) -> list[Entry]:
    return log(text, **kw).entries


def docs(text: bytes, **kw: Any) -> list[dict[str, Any]]:
    return log(text, **kw).docs


def journal(**fields: Any) -> bytes:
    record = {"__CURSOR": "s=1", "__REALTIME_TIMESTAMP": "1751205859123456", "PRIORITY": "6", **fields}
    return json.dumps(record).encode() + b"\n"


def test_bsd_syslog_without_exims_timestamp_takes_the_syslog_time_host_and_pid() -> None:
    """`Jun 29 16:04:19 server exim[1234]: id <= …`: the year from the anchor, host and pid from the wrapper."""
    [doc] = docs(f"Jun 29 16:04:19 server exim[1234]: {ARRIVAL}\n".encode())
    assert doc["@timestamp"] == "2025-06-29T16:04:19.000Z"
    assert doc["event"]["action"] == "message_arrived"
    assert doc["email"]["local_id"] == ID
    assert doc["host"]["name"] == "server"
    assert doc["process"]["pid"] == 1234
    assert doc["log"]["syslog"] == {"appname": "exim", "hostname": "server", "procid": "1234"}
    assert doc["tags"] == ["timestamp_from_syslog"]
    # The entry reads as Exim would have written it to its own log.
    assert doc["event"]["original"] == f"2025-06-29 16:04:19 {ARRIVAL}"


def test_bsd_syslog_with_exims_own_timestamp_keeps_exims() -> None:
    """Exim's own timestamp (with milliseconds and zone) wins over the syslog header's."""
    line = f"Jun 29 16:04:20 server exim4[77]: 2025-06-29 16:04:19.250 +0200 [1234] {ARRIVAL}\n"
    [doc] = docs(line.encode())
    assert doc["@timestamp"] == "2025-06-29T14:04:19.250Z"
    assert doc["process"]["pid"] == 1234, "the pid Exim wrote, not the syslog one"
    assert doc["log"]["syslog"]["procid"] == "77"
    assert "tags" not in doc
    assert doc["event"]["original"] == f"2025-06-29 16:04:19.250 +0200 [1234] {ARRIVAL}"


def test_a_day_padded_with_a_space_and_a_tag_without_pid() -> None:
    """`Jun  9` is a valid BSD date, and `exim:` without `[pid]` leaves process.pid unset."""
    [doc] = docs(f"Jun  9 01:02:03 mx exim: {ARRIVAL}\n".encode())
    assert doc["@timestamp"] == "2025-06-09T01:02:03.000Z"
    assert "process" not in doc


@pytest.mark.parametrize(
    ("line", "stamp"),
    [
        # rsyslog's RSYSLOG_FileFormat (high precision), the Debian 12 / Ubuntu default.
        (f"2025-06-29T16:04:19.123456+02:00 server exim[1234]: {ARRIVAL}", "2025-06-29T14:04:19.123Z"),
        # journalctl -o short-iso
        (f"2025-06-29T16:04:19+0200 server exim[1234]: {ARRIVAL}", "2025-06-29T14:04:19.000Z"),
        # RFC 5424 with structured data and a BOM before the message.
        (
            f'<22>1 2025-06-29T16:04:19.5Z server exim 1234 - [origin ip="10.0.0.1" x="a\\"]"] \ufeff{ARRIVAL}',
            "2025-06-29T16:04:19.500Z",
        ),
        (f"<22>1 2025-06-29T16:04:19Z server exim 1234 - - {ARRIVAL}", "2025-06-29T16:04:19.000Z"),
    ],
)
def test_rfc3339_and_rfc5424_forms(line: str, stamp: str) -> None:
    """High-precision and RFC 5424 timestamps carry their zone; host and pid come from the header."""
    [doc] = docs(line.encode() + b"\n")
    assert doc["@timestamp"] == stamp
    assert doc["event"]["action"] == "message_arrived"
    assert doc["host"]["name"] == "server"
    assert doc["process"]["pid"] == 1234


def test_rfc5424_severity_is_kept() -> None:
    """The severity of `<PRI>` (PRI mod 8) goes to log.syslog.severity.code."""
    [doc] = docs(f"<22>1 2025-06-29T16:04:19Z server exim 1234 - - {ARRIVAL}\n".encode())
    assert doc["log"]["syslog"]["severity"] == {"code": 6}


def test_journal_json_with_a_bytes_array_message() -> None:
    """A journal record whose MESSAGE is not UTF-8 arrives as an array of byte values; no byte is lost."""
    raw = f"{ID} => caf\xe9@example.net R=r T=t".encode("latin-1")
    text = journal(_HOSTNAME="mx2", SYSLOG_IDENTIFIER="exim", _PID="4321", MESSAGE=list(raw))
    [doc] = docs(text, form="journal")
    assert doc["@timestamp"] == "2025-06-29T14:04:19.123Z"
    assert doc["event"]["action"] == "delivered"
    assert doc["host"]["name"] == "mx2"
    assert doc["process"]["pid"] == 4321
    assert doc["log"]["syslog"]["severity"] == {"code": 6}
    assert base64.b64decode(doc["exim"]["original_base64"]).endswith(raw)


def test_journal_fields_and_priority() -> None:
    """SYSLOG_PID is preferred over _PID; PRIORITY 5 (notice) is the reject log's copy."""
    [doc] = docs(journal(_PID="1", SYSLOG_PID="2", SYSLOG_IDENTIFIER="exim", MESSAGE="x"), form="journal")
    assert doc["process"]["pid"] == 2
    assert doc["log"]["syslog"] == {"appname": "exim", "procid": "2", "severity": {"code": 6}}
    assert doc["event"]["original"].endswith(" x")  # the message, after the stamp the record gave it
    text = journal(
        _HOSTNAME="mx2",
        SYSLOG_IDENTIFIER="exim",
        PRIORITY="5",
        MESSAGE="H=[192.0.2.9] rejected RCPT <a@b.c>: no",
    )
    [doc] = docs(text, form="journal")
    assert doc["event"]["dataset"] == "exim.reject"
    # A record without a message or program is a record (another program's), a line of no JSON is not.
    other = log(b'{"MESSAGE": null, "__REALTIME_TIMESTAMP": "1"}\nnot json\n', form="journal")
    assert (other.entries, other.skipped, other.unreadable) == ([], 1, 1)


def test_split_pieces_are_joined_as_exim_wrote_them() -> None:
    """`[n\\m]` pieces end at a newline, `[n/m]` pieces were cut at 870 characters: joined accordingly,
    even with another process's line between them."""
    text = (
        b"Jun 29 16:04:19 mx exim[9]: [1\\4] 2025-06-29 16:04:19 1tgXJ5-000000001aC-0Cd5 H=(h) [203.0.113.10] "
        b"F=<a@b.c> rejected after DATA: spam\n"
        b"Jun 29 16:04:19 mx exim[10]: 2025-06-29 16:04:19 1tgXJ4-000000001aB-0Cd4 Completed\n"
        b"Jun 29 16:04:19 mx exim[9]: [2\\4] Envelope-from: <a@b.c>\n"
        b"Jun 29 16:04:19 mx exim[9]: [3/4] Envelope-to: <d@exa\n"
        b"Jun 29 16:04:19 mx exim[9]: [4/4] mple.com>\n"
    )
    got = entries(text)
    assert [e.doc["event"]["original"] for e in got] == [
        "2025-06-29 16:04:19 1tgXJ5-000000001aC-0Cd5 H=(h) [203.0.113.10] F=<a@b.c> rejected after DATA: spam\n"
        "Envelope-from: <a@b.c>\nEnvelope-to: <d@example.com>",
        "2025-06-29 16:04:19 1tgXJ4-000000001aB-0Cd4 Completed",
    ]
    # The second entry ends inside the first one's span: ends never go backwards (safe checkpoints).
    assert got[0].end == got[1].end == len(text)
    doc = got[0].doc
    assert doc["event"]["action"] == "message_rejected"
    assert doc["exim"]["envelope_from"] == "a@b.c"
    assert doc["exim"]["envelope_to"] == ["d@example.com"]
    assert doc["event"]["dataset"] == "exim.reject", "a header dump is the reject log's copy"


@pytest.mark.parametrize(
    ("message", "text", "marker"),
    [
        (b"[2\\3] text", "text", True),
        (b"[3/3] ", "", True),
        (b"[1.2.3.4] x", "[1.2.3.4] x", False),
        (b"[4/3] x", "[4/3] x", False),
    ],
)
def test_split_part_markers(message: bytes, text: str, marker: bool) -> None:
    """A marker is cut off its piece (here a piece whose start never came: it stands alone, tagged); a
    bracket that is not a marker leaves the message whole."""
    [doc] = docs(b"Jun 29 16:04:19 mx exim[9]: " + message + b"\n")
    assert doc["event"]["original"] == f"2025-06-29 16:04:19 {text}"
    assert ("syslog_parts_missing" in doc["tags"]) is marker


def test_missing_pieces_are_tagged_and_nothing_is_lost() -> None:
    """A piece whose start was never seen stands alone; a message whose pieces stop is flushed, tagged."""
    text = (
        b"Jun 29 16:04:19 mx exim[9]: [2\\2] Envelope-from: <a@b.c>\n"
        b"Jun 29 16:04:20 mx exim[9]: [1\\3] 2025-06-29 16:04:20 H=[192.0.2.1] rejected after DATA: x\n"
    )
    a, b = docs(text)
    assert a["tags"] == ["timestamp_from_syslog", "syslog_parts_missing"]
    assert b["tags"] == ["syslog_parts_missing"]
    assert b["event"]["action"] == "message_rejected"


def test_new_year_year_inference() -> None:
    """December lines read in January are last year's; the year turns where the file passes New Year."""
    text = (
        f"Dec 31 23:59:59 mx exim[1]: {ID} <= a@b.c H=[192.0.2.1] P=esmtp S=1\n"
        f"Jan  1 00:00:01 mx exim[1]: {ID} Completed\n"
        f"Dec 31 23:59:58 mx exim[1]: late line from before midnight\n"
    ).encode()
    got = docs(text, anchor=date(2026, 1, 2))
    assert [d["@timestamp"] for d in got] == [
        "2025-12-31T23:59:59.000Z",
        "2026-01-01T00:00:01.000Z",
        "2025-12-31T23:59:58.000Z",
    ]


def test_year_guess_never_dates_a_line_after_its_anchor() -> None:
    """Read in June, a July line is last year's; 29 February takes the latest leap year."""

    def years(anchor: date, *days: str) -> list[int]:
        text = "".join(f"{day} 12:00:00 mx exim[1]: {ID} Completed\n" for day in days).encode()
        return [int(d["@timestamp"][:4]) for d in docs(text, anchor=anchor)]

    assert years(date(2025, 6, 30), "Jul 15") == [2024]
    assert years(date(2025, 6, 30), "Jun 30") == [2025]
    assert years(date(2025, 6, 30), "Feb 29") == [2024]
    # A file from March to February: the year turns once.
    assert years(date(2026, 2, 10), "Mar  1", "Jul  1", "Dec  1", "Jan  1", "Feb  1") == [
        2025,
        2025,
        2025,
        2026,
        2026,
    ]


def test_other_programs_lines_are_skipped_and_counted() -> None:
    """mail.log mixes programs: postfix and dovecot lines are not shipped as unrecognized Exim entries."""
    text = (
        "Jun 29 16:04:19 mx postfix/smtpd[99]: connect from unknown[192.0.2.7]\n"
        f"Jun 29 16:04:19 mx exim[1]: {ARRIVAL}\n"
        "Jun 29 16:04:20 mx dovecot: imap-login: Login: user=<bob>\n"
        "-- Boot 0123456789abcdef --\n"
    ).encode()
    got = log(text, programs={"exim"})
    assert len(got.entries) == 1
    assert got.skipped == 2
    assert got.unreadable == 1
    # A configured program name is Exim too.
    assert len(entries(text, programs={"exim", "postfix/smtpd"})) == 2


def test_syslog_duplication_marks_the_reject_copy() -> None:
    """Exim sends a rejection to syslog twice (main and reject log): the second copy is `exim.reject`."""
    line = "Jun 29 16:04:19 mx exim[5]: H=(bad) [203.0.113.9] F=<x@y.z> rejected RCPT <u@example.com>: no\n"
    got = docs((line * 4).encode())
    assert [d["event"]["dataset"] for d in got] == ["exim.main", "exim.reject", "exim.main", "exim.reject"]


def test_server_name_configured_keeps_host_name() -> None:
    """With a configured server name the syslog host stays in log.syslog.hostname only."""
    text = f"Jun 29 16:04:19 other exim[1]: {ARRIVAL}\n".encode()
    [doc] = read(
        text, form="syslog", anchor=date(2025, 7, 1), server="configured", host_from_syslog=False
    ).docs
    assert doc["host"]["name"] == "configured"
    assert doc["log"]["syslog"]["hostname"] == "other"


def test_journal_line_is_never_glued_to_the_previous_entry() -> None:
    """In Exim's own format, a line carrying any timestamp opens an entry, journal JSON included."""
    text = (
        f"2025-06-29 16:04:19 {ARRIVAL}\n"
        + journal(MESSAGE="x").decode()
        + f"Jun 29 16:04:20 mx exim[1]: {ID} Completed\n"
        + f"2025-06-29T16:04:21+02:00 mx exim[1]: {ID} Completed\n"
        + " continuation of the entry before\n"
    ).encode()
    got = read(text).docs
    assert len(got) == 4
    assert got[0]["event"]["original"] == f"2025-06-29 16:04:19 {ARRIVAL}"
    assert got[3]["event"]["original"].endswith("\n continuation of the entry before")


def test_format_detection_from_the_first_lines() -> None:
    """Each form is told by its first recognisable line; undecidable input is Exim's own."""
    assert detect_format(f"2025-06-29 16:04:19 {ARRIVAL}\n".encode()) == "exim"
    assert (
        detect_format(b"-- Logs begin --\n" + f"Jun 29 16:04:19 mx exim[1]: {ARRIVAL}\n".encode()) == "syslog"
    )
    assert detect_format(journal(MESSAGE="x")) == "journal"
    assert detect_format(b"") == "exim"
    # The last line of a head cut short is not trusted.
    assert detect_format(b"garbage\n" + journal(MESSAGE="x")[:20]) == "exim"


@pytest.mark.parametrize("form", ["syslog", "journal"])
def test_a_resume_rereads_the_twins_of_its_second(tmp_path: Path, form: str) -> None:
    """Resuming between two identical entries of one second must read the first again (it is counted for
    the content ids, not shipped); other programs' lines and other seconds are not read again."""
    twin = "H=(bad) [203.0.113.9] rejected RCPT <u@example.com>: no"
    if form == "syslog":
        lines = [
            f"Jun 29 16:04:18 mx exim[5]: {ARRIVAL}",
            f"Jun 29 16:04:19 mx exim[5]: {twin}",
            "Jun 29 16:04:19 mx postfix/smtpd[9]: connect from x",
            f"Jun 29 16:04:19 mx exim[5]: {twin}",
        ]
    else:
        lines = [
            journal(SYSLOG_IDENTIFIER="exim", __REALTIME_TIMESTAMP=ts, MESSAGE=msg).decode().rstrip("\n")
            for ts, msg in [
                ("1751205858000000", ARRIVAL),
                ("1751205859000000", twin),
                ("1751205859000000", twin),
            ]
        ]
    path = tmp_path / "log"
    path.write_text("".join(line + "\n" for line in lines))
    starts = [sum(len(x) + 1 for x in lines[:i]) for i in range(len(lines))]
    assembler = SyslogForm(form, date(2025, 7, 1))  # type: ignore[arg-type]
    with path.open("rb") as fh:
        assert assembler.second_start(fh, starts[-1]) == starts[1]
        assert assembler.second_start(fh, starts[1]) == starts[1]
        assert assembler.second_start(fh, 0) == 0
    # The core's reader resumed there reads both twins again.
    again = read(path.read_bytes()[starts[1] :], form=form, anchor=date(2025, 7, 1), start=starts[1]).entries
    assert len(again) == 2
    assert again[0].doc["event"]["original"] == again[1].doc["event"]["original"]
    assert [e.offset for e in again] == [starts[1], starts[-1]]
