"""shipper.trace_files: the raw-byte search finds the entries the reader would, whole, at any chunk size."""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import random
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from shipper import trace_files
from shipper.files.archive import open_input
from shipper.trace_files import id_hits, matching_entries, needle_hits
from tests.parsing import raw_entries

ROOT = Path(__file__).resolve().parents[2]
FLEET_A = ROOT / "tests" / "fixtures" / "fleet_a.log"
A3, A4 = "1thPnk-00000000Aa3-0Aa3", "1thPnk-00000000Aa4-0Aa4"  # a bounced message and its bounce

# Continuation lines of every kind: a reject log's header dump, a blank line, a CR, an unterminated end,
# and a file that starts mid-entry.
LOG = (
    b"  continued from a rotated file: Bob@Example.org\n"
    b"2025-01-31 10:00:00 1tXaaa-00000001abc-0ABC <= a@b.example U=alice P=local S=10 for bob@example.org\n"
    b"2025-01-31 10:00:01 H=(x) [192.0.2.9] F=<spam@bad.example> rejected RCPT <BOB@example.org>: no\n"
    b"Envelope-from: <spam@bad.example>\n"
    b"Envelope-to: <bob@example.org>\n"
    b"P Received: from x ([192.0.2.9])\n"
    b"\n"
    b"2025-01-31 10:00:02 1tXaaa-00000001abc-0ABC => bob@example.org R=r T=t\r\n"
    b"2025-01-31 10:00:02 1tXaaa-00000001abc-0ABC Completed\n"
    b"2025-01-31 10:00:03 1tXbbb-00000001abc-0ABC <= c@d.example U=carol P=local S=10 for e@f.example\n"
    b"  a continuation naming bob@example.org\n"
    b"2025-01-31 10:00:04 1tXbbb-00000001abc-0ABC Completed"
)


def expected(needle: bytes) -> list[tuple[int, bytes]]:
    return [(e.offset, e.data) for e in raw_entries(LOG) if needle.lower() in e.data.lower()]


@pytest.mark.parametrize("chunk", [1, 7, 64, 100, 1 << 17])
@pytest.mark.parametrize("needle", ["bob@example.org", "1tXbbb", "Completed", "192.0.2.9", "10:00:0"])
def test_entries_found_are_the_readers_at_any_chunk_size(
    monkeypatch: pytest.MonkeyPatch, chunk: int, needle: str
) -> None:
    """Whatever the read size, the hits' entries are exactly those of shipper.files.reader that contain
    the needle (any case), with their offsets and continuation lines, each once."""
    monkeypatch.setattr(trace_files, "CHUNK", chunk)
    found = list(matching_entries(io.BytesIO(LOG), needle_hits(needle, ignore_case=True)))
    assert found == expected(needle.encode())
    assert found


def test_case_sensitive_search_for_ids() -> None:
    hits = needle_hits("1txbbb-00000001abc-0ABC", ignore_case=False)
    assert list(matching_entries(io.BytesIO(LOG), hits)) == []


def test_id_hits_find_any_of_many_ids_and_no_other() -> None:
    """The trie regex of the second pass matches each wanted id and nothing else, prefixes included."""
    rng = random.Random(4)
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    ids = {"".join(rng.choice(alphabet[:4]) for _ in range(rng.randint(1, 6))) for _ in range(300)}
    wanted = set(rng.sample(sorted(ids), 120))
    text = " ".join(sorted(ids)).encode()
    found = set()
    for pos in id_hits(wanted)(text, len(text)):
        found.add(next(w for w in sorted(wanted, key=len, reverse=True) if text.startswith(w.encode(), pos)))
    words = {m.group() for m in re.finditer(rb"\S+", text)}
    assert found == wanted & {w.decode() for w in words}


def trace(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "shipper", "trace", *args, "--timezone", "UTC"],
        input=stdin,
        capture_output=True,
        check=False,
    )


def test_a_bounce_id_brings_the_message_it_returns() -> None:
    """The bounce's id is not on the bounced message's lines: the second pass finds them by its id."""
    res = trace(A4, str(FLEET_A))
    assert res.returncode == 0, res.stderr
    out = res.stdout.decode()
    assert f"{A3} ** erin@nonexistent.example : Unrouteable address" in out
    assert out.index(f"message     {A3}") < out.index(f"message    {A4}")


def test_stdin_and_gzip_are_read_for_both_passes(tmp_path: Path) -> None:
    """stdin is read once and kept for the second pass; a .gz file is searched decompressed."""
    data = FLEET_A.read_bytes()
    packed = tmp_path / "exim_mainlog.1.gz"
    packed.write_bytes(gzip.compress(data))
    from_file = trace("shopuser@server-a.example", str(FLEET_A))
    assert from_file.returncode == 0, from_file.stderr
    assert A3.encode() in from_file.stdout and A4.encode() in from_file.stdout
    for res in (
        trace("shopuser@server-a.example", "-", stdin=data),
        trace("shopuser@server-a.example", str(packed)),
    ):
        assert res.returncode == 0, res.stderr
        assert res.stdout == from_file.stdout


def test_an_unreadable_file_is_one_line_and_the_others_are_traced(tmp_path: Path) -> None:
    res = trace(A3, str(tmp_path / "missing.log"), str(FLEET_A))
    assert res.returncode == 1
    assert res.stderr.decode().splitlines() == [f"exim-shipper: {tmp_path / 'missing.log'}: no such file"]
    assert f"{A3} Completed".encode() in res.stdout


def test_a_damaged_archive_is_traced_up_to_the_damage_and_reported_once(tmp_path: Path) -> None:
    """A cut .gz: the entries before the cut are traced in both passes, the damage is one line."""
    rng = random.Random(2)
    filler = b"".join(b"2025-02-10 10:00:00 filler %032x\n" % rng.getrandbits(128) for _ in range(20000))
    packed = gzip.compress(FLEET_A.read_bytes() + filler)
    cut = tmp_path / "exim_mainlog.2.gz"
    cut.write_bytes(packed[: len(packed) * 2 // 3])
    res = trace("shopuser@server-a.example", str(cut))
    assert res.returncode == 1
    errors = res.stderr.decode().splitlines()
    assert len(errors) == 1 and errors[0].startswith(f"exim-shipper: {cut}: cannot read to the end"), errors
    assert f"{A3} ** erin@nonexistent.example".encode() in res.stdout
    assert f"{A4} Completed".encode() in res.stdout


def test_an_empty_needle_is_one_line() -> None:
    res = trace("", str(FLEET_A))
    assert res.returncode == 1
    assert res.stderr.decode().startswith("exim-shipper: trace needs something to look for")


# --- through the native core: syslog and journal files, archives, offsets, no match, a huge entry -------

MONTHS = b"Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()


def as_syslog(data: bytes) -> bytes:
    """Each entry as one BSD syslog record, Exim's own timestamp kept, a multi-line one in `[n\\m]` pieces
    (as rsyslog splits them), and a line of another program between the records."""
    out = [b"Feb 10 08:59:59 mx sshd[9]: Accepted publickey for root from 192.0.2.1"]
    for entry in raw_entries(data):
        month, day = int(entry.data[5:7]), int(entry.data[8:10])
        head = b"%s %2d %s mx exim[1]: " % (MONTHS[month - 1], day, entry.data[11:19])
        lines = entry.data.split(b"\n")
        if len(lines) == 1:
            out.append(head + entry.data)
            continue
        for i, piece in enumerate(lines, 1):
            out.append(head + b"[%d%s%d] " % (i, b"\\" if i < len(lines) else b"/", len(lines)) + piece)
    return b"\n".join(out) + b"\n"


def as_journal(data: bytes) -> bytes:
    """Each entry as `journalctl -o json` writes it, the whole entry one MESSAGE."""
    records = (
        {
            "__REALTIME_TIMESTAMP": "1739177999000000",
            "MESSAGE": e.data.decode(),
            "SYSLOG_IDENTIFIER": "exim",
            "_HOSTNAME": "mx",
        }
        for e in raw_entries(data)
    )
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


NEEDLES = [A3, A4, "shopuser@server-a.example", "erin@nonexistent.example", "203.0.113.45", "Completed"]


@pytest.mark.parametrize("wrap", [as_syslog, as_journal], ids=["syslog", "journal"])
def test_syslog_and_journal_files_are_traced_as_the_log_they_wrap(tmp_path: Path, wrap: Any) -> None:
    """The records are unwrapped by the core, other programs' lines left out: for every needle the story
    and summaries are the plain log's, line for line."""
    data = FLEET_A.read_bytes() + REFUSALS
    plain = tmp_path / "exim_mainlog"
    plain.write_bytes(data)
    wrapped = tmp_path / "mail.log"
    wrapped.write_bytes(wrap(data))
    for needle in [*NEEDLES, "192.0.2.99", 'T="Order 1"']:  # a quote: JSON-escaped in the documents
        theirs = trace(needle, str(plain), "--server-name", "mx")
        ours = trace(needle, str(wrapped), "--server-name", "mx")
        assert theirs.returncode == 0, (needle, theirs.stderr)
        assert (ours.returncode, ours.stdout.decode()) == (0, theirs.stdout.decode()), needle
    # Without --server-name, the record's host names the message.
    res = trace(A3, str(wrapped))
    assert f"message     {A3} on mx".encode() in res.stdout, res.stdout


@pytest.mark.parametrize("pack", [gzip.compress, bz2.compress, lzma.compress], ids=["gz", "bz2", "xz"])
def test_archives_are_traced_decompressed(tmp_path: Path, pack: Any) -> None:
    packed = tmp_path / "exim_mainlog.1.z"
    packed.write_bytes(pack(FLEET_A.read_bytes()))
    for needle in NEEDLES:
        plain = trace(needle, str(FLEET_A))
        res = trace(needle, str(packed))
        assert plain.returncode == 0 and plain.stdout
        assert (res.returncode, res.stdout) == (0, plain.stdout), needle


REFUSALS = (
    b"2025-02-10 10:00:00 H=(x) [192.0.2.99] F=<spam@bad.example> rejected RCPT <bob@corp.example>: no\n"
    b"2025-02-10 10:00:01 SMTP connection from [192.0.2.99] lost\n"
)


def test_groups_begin_where_their_first_line_is_in_the_file(tmp_path: Path) -> None:
    """The core is fed only the matching entries, back to back: what it reads maps back to each entry's own
    offset, in every file, so the groups come in the order of their first lines."""
    filler = b"".join(b"2025-02-10 09:30:%02d filler line %d\n" % (i % 60, i) for i in range(3000))
    data = FLEET_A.read_bytes()
    b3, b4 = A3.replace("Aa3", "Bb3"), A4.replace("Aa4", "Bb4")  # the same story under other ids
    first, second = tmp_path / "a.log", tmp_path / "b.log"
    first.write_bytes(filler + data)
    second.write_bytes(REFUSALS + filler + data.replace(b"Aa3", b"Bb3").replace(b"Aa4", b"Bb4"))
    found = trace_files.trace_files(
        [str(first), str(second)],
        "shopuser@server-a.example",
        opener=open_input,
        reading=trace_files.Reading("UTC", "mx"),
        report=lambda exc: pytest.fail(str(exc)),
    )
    expected = []
    for index, (path, ids) in enumerate(((first, (A3, A4)), (second, (b3, b4)))):
        content = path.read_bytes()
        for local_id in ids:
            line = content.index(b" " + local_id.encode() + b" ")
            expected.append((local_id, (index, content.rindex(b"\n", 0, line) + 1)))
    assert [(g.local_id, g.first) for g in found.groups] == expected
    assert all(g.summary is not None and g.summary["email"]["local_id"] == g.local_id for g in found.groups)


def test_the_zones_fold_goes_on_across_the_entries_fed(tmp_path: Path) -> None:
    """Europe/London's 01:00-02:00 comes twice on 2024-10-27: a message arriving at 01:50 in the first and
    completed at 01:10 in the second took 20 minutes, even with other entries between that are not fed."""
    filler = b"".join(b"2024-10-27 01:%02d:00 filler %d\n" % (50 + i % 10, i) for i in range(50))
    log = tmp_path / "exim_mainlog"
    log.write_bytes(
        b"2024-10-27 01:50:00 1tXaaa-00000001abc-0ABC <= a@b.example U=alice P=local S=10 for c@d.example\n"
        + filler
        + b"2024-10-27 01:05:00 filler after the change\n"
        + b"2024-10-27 01:10:00 1tXaaa-00000001abc-0ABC => c@d.example R=r T=t\n"
        + b"2024-10-27 01:10:00 1tXaaa-00000001abc-0ABC Completed\n"
    )
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "shipper",
            "trace",
            "1tXaaa-00000001abc-0ABC",
            str(log),
            "--timezone",
            "Europe/London",
        ],
        capture_output=True,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    out = " ".join(res.stdout.decode().split())
    assert "arrived 2024-10-27T00:50:00.000Z" in out, out
    assert "completed 2024-10-27T01:10:00.000Z after 20m" in out, out


def test_a_needle_on_no_line_is_one_line_for_every_kind_of_file(tmp_path: Path) -> None:
    journal = tmp_path / "mail.json"
    journal.write_bytes(as_journal(FLEET_A.read_bytes()))
    for log in (FLEET_A, journal):
        res = trace("nobody@nowhere.example", str(log))
        assert (res.returncode, res.stdout) == (1, b"")
        assert res.stderr.decode().splitlines() == ["exim-shipper: no entry matches 'nobody@nowhere.example'"]


def test_a_huge_entry_is_read_in_the_cores_pieces_and_the_messages_after_it_are_whole(tmp_path: Path) -> None:
    """Continuation lines past the core's entry limit (1 MiB): the trace goes through them, prints the piece
    with the needle, and the message after it still has its story and summary."""
    needle = b"needle-in-the-middle@example.org"
    huge = b"2025-02-10 08:00:00 a runaway entry\n" + b"".join(
        b"  continued %s\n" % (needle if i == 55000 else b"x" * 60) for i in range(60000)
    )
    before = b"2025-02-10 07:59:59 H=(x) [192.0.2.7] F=<%s> rejected RCPT <a@b.example>: no" % needle
    log = tmp_path / "exim_mainlog"
    log.write_bytes(before + b"\n" + huge + FLEET_A.read_bytes())
    res = trace(needle.decode(), str(log))
    assert res.returncode == 0, res.stderr
    lines = res.stdout.split(b"\n")
    # The needle is past the search's 2 MiB cut: its piece opens no entry, and fed right after the line
    # before, it must not join it (the line before would then print with 1 MiB of the entry).
    assert lines[0] == before
    assert any(needle in line for line in lines[1:])
    assert len(res.stdout) < 1100 << 10  # one piece of the entry (the core's 1 MiB), not more
    both = trace("shopuser@server-a.example", str(log))
    assert both.returncode == 0, both.stderr
    assert both.stdout == trace("shopuser@server-a.example", str(FLEET_A)).stdout
