"""The batcher: a batch closes by count, bytes or age. (The entry assembler it once shared this file with is
the core's: native/exim-log/src/assemble.rs and its cargo tests.)"""

from __future__ import annotations

from shipper.batcher import Batcher
from shipper.opensearch import bulk


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
