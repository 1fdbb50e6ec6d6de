"""shipper.trace_files: the raw-byte search finds the entries the reader would, whole, at any chunk size."""

from __future__ import annotations

import gzip
import io
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from shipper import trace_files
from shipper.files.reader import iter_entries
from shipper.trace_files import id_hits, matching_entries, needle_hits

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
    return [(e.offset, e.data) for e in iter_entries(io.BytesIO(LOG)) if needle.lower() in e.data.lower()]


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
