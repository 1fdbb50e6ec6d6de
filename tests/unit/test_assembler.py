"""The one entry assembler: the same entries whatever the chunking, a bounded size for runaway lines and
entries, and a last entry and partial line that wait until the caller says they are complete."""

from __future__ import annotations

import io

import pytest

from shipper.batcher import Batcher
from shipper.files import reader
from shipper.files.reader import EntryAssembler, RawEntry, iter_entries
from shipper.opensearch import bulk

LOG = (
    b"2025-01-31 10:00:00 first\n  continued\n2025-01-31 10:00:01 second\n2025-01-31 10:00:02 third, cut off"
)


@pytest.mark.parametrize("size", [1, 3, 7, 64])
def test_fed_in_any_chunks_it_gives_the_readers_entries(size: int) -> None:
    asm = EntryAssembler()
    got: list[RawEntry] = []
    for i in range(0, len(LOG), size):
        got += asm.feed(LOG[i : i + size])
    got += asm.finish()
    assert got == list(iter_entries(io.BytesIO(LOG)))
    assert [e.terminated for e in got] == [True, True, False]


def test_the_last_entry_is_held_and_a_partial_line_only_goes_with_finish() -> None:
    asm = EntryAssembler(100)
    assert [e.data for e in asm.feed(LOG)] == [b"2025-01-31 10:00:00 first\n  continued"]
    assert asm.held
    assert [(e.offset, e.data) for e in asm.release()] == [(138, b"2025-01-31 10:00:01 second")]
    assert not asm.held
    assert asm.release() == [], "a line without its newline may still grow: release leaves it"
    assert asm.consumed == 100 + LOG.rindex(b"\n") + 1
    assert asm.fed == 100 + len(LOG)
    assert [e.data for e in asm.finish()] == [b"2025-01-31 10:00:02 third, cut off"]


def test_a_runaway_line_goes_in_bounded_pieces_as_it_arrives(monkeypatch: pytest.MonkeyPatch) -> None:
    """A growing file with one huge line: pieces are handed out while it is still being written, so
    memory holds at most one piece, and every byte comes out once, in order."""
    monkeypatch.setattr(reader, "MAX_LINE_BYTES", 100)
    asm = EntryAssembler()
    huge = b"2025-01-31 10:00:00 " + b"x" * 1000
    pieces: list[RawEntry] = []
    for i in range(0, len(huge), 33):
        pieces += asm.feed(huge[i : i + 33])
        assert asm.fed - asm.consumed <= 100
    assert len(pieces) == 10
    assert all(len(p.data) == 100 and not p.terminated for p in pieces)
    pieces += asm.feed(b"\n2025-01-31 10:00:01 after\n")
    pieces += asm.release()
    assert b"".join(p.data for p in pieces[:-1]) == huge
    assert [p.offset for p in pieces] == [*range(0, 1020, 100), 1021]
    assert pieces[-1].data == b"2025-01-31 10:00:01 after"


def test_a_runaway_entry_is_cut_at_the_entry_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reader, "MAX_ENTRY_BYTES", 60)
    asm = EntryAssembler()
    got = asm.feed(b"2025-01-31 10:00:00 x\n" + b"continuation line\n" * 10) + asm.finish()
    assert all(len(e.data) < 60 + 20 for e in got)
    assert b"".join(e.data + b"\n" for e in got) == b"2025-01-31 10:00:00 x\n" + b"continuation line\n" * 10


def test_the_batcher_closes_by_count_bytes_and_age() -> None:
    b = Batcher(max_docs=3, max_bytes=100, max_age=0.25)
    item = bulk.Item(b"{}", b"x" * 10)
    b.add(item)
    b.add(item)
    assert not b.full
    b.add(item)
    assert b.full, "three items"
    items, _ = b.take(now=10.0)
    assert len(items) == 3
    assert not b.items
    assert b.due() == 10.25, "the age counts from the last flush: one half-full batch per period"
    b.add(bulk.Item(b"{}", b"x" * 98))
    assert b.full, "100 bytes"
