"""Entry splitting and compression detected by content, not by file name."""

from __future__ import annotations

import bz2
import gzip
import lzma
from pathlib import Path

import pytest
import zstandard

from shipper.files import reader
from shipper.files.archive import open_log
from tests.parsing import raw_entries

LOG = b"2025-01-31 10:00:00 a\n2025-01-31 10:00:01 b\n continued\n\n2025-01-31 10:00:02 c\n"


def test_continuations_join_their_entry_with_offsets() -> None:
    """Lines without a timestamp, blank ones included, continue the previous entry."""
    entries = list(raw_entries(LOG))
    assert [e.data for e in entries] == [
        b"2025-01-31 10:00:00 a",
        b"2025-01-31 10:00:01 b\n continued\n",
        b"2025-01-31 10:00:02 c",
    ]
    assert [e.offset for e in entries] == [0, 22, 56]
    assert entries[-1].end == len(LOG)
    assert all(e.terminated for e in entries)


def test_small_chunks_give_the_same_entries() -> None:
    """Entries do not depend on where read() chunk boundaries fall."""
    expected = list(raw_entries(LOG))
    assert list(raw_entries(LOG, chunk=3)) == expected


def test_runaway_entry_is_cut_but_complete() -> None:
    """A huge entry of continuation lines is cut into pieces of at most the entry limit, every byte kept
    in order."""
    data = b"2025-01-31 10:00:00 x\n" + b"continuation line\n" * 150_000  # 2.7 MB
    entries = list(raw_entries(data, chunk=1 << 20))
    assert len(entries) == 3
    assert all(len(e.data) <= reader.MAX_ENTRY_BYTES for e in entries)
    assert b"".join(e.data + b"\n" for e in entries) == data


@pytest.mark.parametrize(
    "compress",
    [gzip.compress, bz2.compress, lzma.compress, lambda b: zstandard.ZstdCompressor().compress(b)],
    ids=["gzip", "bzip2", "xz", "zstd"],
)
def test_compressed_files_detected_by_content(tmp_path: Path, compress: object) -> None:
    """A compressed log opens whatever its name says (here: a misleading .log name)."""
    path = tmp_path / "exim_mainlog-20250101.log"
    path.write_bytes(compress(LOG))  # type: ignore[operator]
    with open_log(path) as fh:
        assert fh.read() == LOG


def test_plain_file_with_gz_name(tmp_path: Path) -> None:
    """A plain log named .gz is read as plain text."""
    path = tmp_path / "mainlog.1.gz"
    path.write_bytes(LOG)
    with open_log(path) as fh:
        assert fh.read() == LOG


def _rewind(tmp_path: Path, text: bytes, offset: int) -> int:
    from shipper.files.reader import same_second_start

    path = tmp_path / "mainlog"
    path.write_bytes(text)
    with path.open("rb") as fh:
        fh.seek(5)
        got = same_second_start(fh, offset)
        assert fh.tell() == 5, "positional reads only: the handle is left where it was"
    return got


@pytest.mark.parametrize("block", [1 << 16, 7])
def test_resume_rewinds_to_the_first_entry_of_the_checkpoints_second(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int
) -> None:
    from shipper.files import reader

    lines = [
        b"2025-01-31 09:59:59 before\n",
        b"2025-01-31 10:00:00 SMTP connection from [192.0.2.1] lost\n",
        b"  a continuation line\n",
        b"2025-01-31 10:00:00.250 1tXaaa-00000001abc-0ABC <= s@x.example\n",
        b"2025-01-31 10:00:00 SMTP connection from [192.0.2.1] lost\n",
        b"2025-01-31 10:00:01 later\n",
    ]
    text = b"".join(lines)
    at = [sum(len(x) for x in lines[:i]) for i in range(len(lines) + 1)]
    monkeypatch.setattr(reader, "REWIND_CHUNK", block)  # 7: lines straddle the backward reads
    assert _rewind(tmp_path, text, at[4]) == at[1], "back to the first entry of 10:00:00"
    assert _rewind(tmp_path, text, at[3]) == at[1]
    assert _rewind(tmp_path, text, at[1]) == at[1], "already the first of its second"
    assert _rewind(tmp_path, text, at[5]) == at[5], "a new second: nothing to count before it"
    assert _rewind(tmp_path, text, at[6]) == at[6], "at the end"
    assert _rewind(tmp_path, text, 0) == 0
    same = b"2025-01-31 10:00:00 x\n" * 3
    assert _rewind(tmp_path, same, 44) == 0, "the whole file is one second"
