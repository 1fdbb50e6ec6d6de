"""The one batcher: bulk items and their summary shares, closed by count, bytes or age."""

from __future__ import annotations

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
    items: list[bulk.Item] = field(default_factory=list)
    parts: list[Partial] = field(default_factory=list)
    size: int = 0
    last_flush: float = 0.0

    def add(self, item: bulk.Item) -> None:
        self.items.append(item)
        self.size += len(item.action) + len(item.body)

    @property
    def full(self) -> bool:
        return len(self.items) >= self.max_docs or self.size >= self.max_bytes

    def due(self) -> float:
        """When a batch that is not full may go."""
        return self.last_flush + self.max_age

    def take(self, now: float) -> tuple[list[bulk.Item], list[Partial]]:
        """Empty the batcher; what it held goes out now."""
        items, parts = self.items, self.parts
        self.items, self.parts, self.size = [], [], 0
        self.last_flush = now
        return items, parts
