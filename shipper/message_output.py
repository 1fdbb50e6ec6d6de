"""`parse --messages` output: one summary per message id, written in first-seen order with bounded memory."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Protocol

import orjson

from shipper.messages import Correlator, Partial, key_of, merge, partials, summary


class BytesWriter(Protocol):
    def write_bytes(self, data: bytes) -> None: ...


class FirstSeenOrder:
    """Message summaries written in first-seen order with bounded memory, one per message id.

    A finished message waits here, as its merged partial, until every earlier message is written; a
    line that comes for it meanwhile joins it, so it is never written twice. Past `max_open` waiting
    messages the oldest is written as it stands (a partial summary, like an eviction): only a line that
    comes after that can give its message a second, partial summary.
    """

    def __init__(self, writer: BytesWriter, max_open: int) -> None:
        self.writer = writer
        self.max_open = max_open
        self.correlator = Correlator(max_open=max_open)
        # None: still open in the correlator; a partial: finished, waiting for its turn.
        self.order: OrderedDict[tuple[str, str], Partial | None] = OrderedDict()

    def add(self, doc: dict[str, Any]) -> None:
        to_correlator: list[Partial] = []
        for part in partials(doc):
            key = key_of(part)
            held = self.order.get(key)
            if held is not None:
                self.order[key] = merge(held, part)
            else:
                self.order.setdefault(key, None)
                to_correlator.append(part)
        for done in self.correlator.add_partials(to_correlator):
            self._ready(done)
        self._flush_head(self.max_open)

    def _ready(self, part: Partial) -> None:
        key = key_of(part)
        if key not in self.order:  # a late line of a message already written: its own partial summary
            self.writer.write_bytes(orjson.dumps(summary(part)))
            return
        held = self.order[key]
        self.order[key] = part if held is None else merge(held, part)

    def _flush_head(self, limit: int) -> None:
        while self.order:
            key, part = next(iter(self.order.items()))
            if part is None:
                if len(self.order) <= limit:
                    return
                part = self.correlator.pop(key)
            self.order.popitem(last=False)
            if part is not None:
                self.writer.write_bytes(orjson.dumps(summary(part)))

    def finish(self) -> None:
        for part in self.correlator.drain():
            self._ready(part)
        self._flush_head(0)
