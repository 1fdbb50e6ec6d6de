"""The bounded correlator: merges events per message, hands out finished ones and evicts the oldest."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator

from shipper.exim.event import Document
from shipper.messages.merge import Partial, merge
from shipper.messages.partials import partials


def finished(p: Partial) -> bool:
    """True once Exim will write nothing more about the message: completed, or rejected.

    `removed by` is not the end: Exim writes `Completed` right after it, which must join the same summary."""
    return "completed" in p or ("rejected" in p and "arrival" not in p)


def key_of(p: Partial) -> tuple[str, str]:
    """The identity of a message: (server, Exim message id)."""
    return p["server"], p["id"]


class Correlator:
    """Merges events into per-message partials; hands out finished messages at once and holds at most
    `max_open` unfinished ones, evicting the oldest (as partial summaries that merge later).

    Given the position (`at`) of the entry each partial comes from, it also knows where the oldest
    share still held in memory begins: a reader may only checkpoint up to there.
    """

    def __init__(self, max_open: int = 100_000) -> None:
        self.max_open = max_open
        self.open: OrderedDict[tuple[str, str], Partial] = OrderedDict()
        self.since: dict[tuple[str, str], int] = {}

    def add(self, doc: Document) -> list[Partial]:
        """Fold one event in; returns the partials that leave memory now (finished or evicted)."""
        return self.add_partials(partials(doc))

    def add_partials(self, parts: list[Partial], at: int = 0) -> list[Partial]:
        """Fold partials in; returns those that leave memory now (finished, or evicted for the cap)."""
        out: list[Partial] = []
        held = self.open
        for part in parts:
            key = (part["server"], part["id"])  # key_of, inline: once per event with a message id
            cur = held.get(key)
            if cur is None:
                if len(held) >= self.max_open:
                    out.append(self._pop_oldest())
                merged = part
                self.since[key] = at
            else:
                merged = merge(cur, part)
            # finished(), inline
            if "completed" in merged or ("rejected" in merged and "arrival" not in merged):
                held.pop(key, None)
                self.since.pop(key, None)
                out.append(merged)
            else:
                held[key] = merged
        return out

    def _pop_oldest(self) -> Partial:
        key, part = self.open.popitem(last=False)
        self.since.pop(key, None)
        return part

    def pop(self, key: tuple[str, str]) -> Partial | None:
        """Take one message out of memory (finished or not)."""
        self.since.pop(key, None)
        return self.open.pop(key, None)

    def oldest(self) -> int | None:
        """Where the oldest share held in memory begins (None when nothing is open)."""
        for key in self.open:  # first-seen order: the first is the oldest
            return self.since.get(key, 0)
        return None

    def older_than(self, at: int) -> list[Partial]:
        """Take out the open messages whose held share began before `at` (they merge with what follows)."""
        out: list[Partial] = []
        while self.open:
            key = next(iter(self.open))
            if self.since.get(key, 0) >= at:
                break
            out.append(self._pop_oldest())
        return out

    def drain(self) -> Iterator[Partial]:
        """Every open partial, in first-seen order, emptying the correlator."""
        while self.open:
            yield self._pop_oldest()
