"""The one batcher: bulk items (single documents and runs of them) and their summary shares, closed by
count of documents, bytes or age."""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field

from shipper.messages import Partial
from shipper.opensearch import bulk


@dataclass(slots=True)
class Batcher:
    """Collects items until `full` (count or bytes) or `due` (age).

    The age is counted from the last flush, not the first item: at most one half-full batch goes per
    `max_age`, so a line after a quiet spell goes at once and one in a steady trickle waits for the next
    slot (a latency bound without a request per line).
    """

    max_docs: int
    max_bytes: int
    max_age: float
    items: list[bulk.Piece] = field(default_factory=list)
    parts: list[Partial] = field(default_factory=list)
    size: int = 0
    docs: int = 0
    last_flush: float = 0.0

    def add(self, item: bulk.Piece) -> None:
        """Add an item, or a run that `room` says fits."""
        self.items.append(item)
        if isinstance(item, bulk.Run):
            self.size += item.size
            self.docs += len(item)
        else:
            self.size += len(item.action) + len(item.body)
            self.docs += 1

    def room(self, run: bulk.Run, start: int = 0) -> int:
        """How many of `run`'s documents from `start` to add before the batch is `full`: as many as if
        they came one item at a time, the batch closing at the one that reaches a limit."""
        left = len(run) - start
        docs = min(left, self.max_docs - self.docs)
        cuts, base, want = run.cuts, run.cuts[start], self.max_bytes - self.size
        # The first k documents' size is cuts[start + k] - base - 2k, growing with k.
        k = bisect_left(range(1, left + 1), want, key=lambda k: cuts[start + k] - base - 2 * k) + 1
        return max(1, min(docs, k))

    @property
    def full(self) -> bool:
        return self.docs >= self.max_docs or self.size >= self.max_bytes

    def due(self) -> float:
        """When a batch that is not full may go."""
        return self.last_flush + self.max_age

    def take(self, now: float) -> tuple[list[bulk.Piece], list[Partial]]:
        """Empty the batcher; what it held goes out now."""
        items, parts = self.items, self.parts
        self.items, self.parts, self.size, self.docs = [], [], 0, 0
        self.last_flush = now
        return items, parts
