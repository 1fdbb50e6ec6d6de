"""Message-summary upserts: create when new, write under the version this process last saw when it has
one, else read the stored mergeable state, merge, write back with optimistic locking."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

import orjson

from shipper.deadletter import DeadLetters
from shipper.errors import OpenSearchUnavailable
from shipper.messages import Partial, from_state, key_of, merge, to_state
from shipper.opensearch import bulk
from shipper.opensearch.cluster import Cluster
from shipper.opensearch.documents import action_line, message_id, message_index, summary_body
from shipper.opensearch.retry import Tries

MAX_ROUNDS = 20
Key = tuple[str, str]


def by_message(parts: list[Partial]) -> dict[Key, Partial]:
    """One merged partial per message key (a batch often holds several lines of one message)."""
    pending: dict[Key, Partial] = {}
    for p in parts:
        key = key_of(p)
        pending[key] = merge(pending[key], p) if key in pending else p
    return pending


def create_item(prefix: str, key: Key, part: Partial) -> bulk.Item:
    """A `create` of the summary, for a message probably not stored yet: a 409 sends it down the merge path.

    It lets a new message cost no read at all, and rides in the same `_bulk` request as its events.
    """
    server, local_id = key
    action = action_line("create", message_index(prefix, local_id), message_id(server, local_id))
    return bulk.Item(action, summary_body(part), ref=key, merge_on_conflict=True)


def native_items(bulk_lines: bytes, keys: bytes, count: int) -> list[bulk.Item]:
    """The native correlator's summaries (`Correlator.drain`/`older_than`: per message its action and
    document lines, and its key as `server \\0 id \\0`) as the items `create_item` makes."""
    if not count:
        return []
    lines = bulk_lines.split(b"\n")
    names = keys.split(b"\0")
    return [
        bulk.Item(
            lines[2 * i],
            lines[2 * i + 1],
            ref=(names[2 * i].decode(), names[2 * i + 1].decode()),
            merge_on_conflict=True,
        )
        for i in range(count)
    ]


def partial_of(body: bytes) -> Partial:
    """The merged partial a summary body was made from (its `exim.merge_state`)."""
    state: dict[str, Any] = orjson.loads(body)["exim"]["merge_state"]
    return from_state(state)


def write_item(prefix: str, key: Key, merged: Partial, seq_no: int, primary_term: int) -> bulk.Item:
    """An `index` of the merged summary under the version it replaces: a 409 (another writer came in
    between) sends it down the read-merge-write path."""
    server, local_id = key
    action = action_line(
        "index",
        message_index(prefix, local_id),
        message_id(server, local_id),
        if_seq_no=seq_no,
        if_primary_term=primary_term,
    )
    return bulk.Item(action, summary_body(merged), ref=key, merge_on_conflict=True)


class Version:
    """A summary as this process last wrote or read it: the node's `_seq_no`/`_primary_term` for it and
    what is stored under them, kept as bytes (a partial's dicts took several times its JSON's size, so
    `Recent`'s budget held twice what it counted): the state (`to_state` as JSON) of a summary Python
    merged, or the body written of a native one. Read back into the partial only when a later batch has
    something for this message: most never do. `size`: about the bytes it holds."""

    __slots__ = ("data", "primary_term", "seq_no", "size", "whole")

    def __init__(
        self, seq_no: int, primary_term: int, size: int, state: Partial | None = None, body: bytes = b""
    ) -> None:
        self.seq_no = seq_no
        self.primary_term = primary_term
        self.size = size
        self.whole = state is None
        self.data = body if state is None else orjson.dumps(to_state(state))

    def merged(self) -> Partial:
        if self.whole:
            return partial_of(self.data)
        return from_state(orjson.loads(self.data))


class Recent:
    """Messages whose summary this process stored lately, and for the latest of them the `Version` a
    write's answer (or a read) gave: those are merged and written under it, the others go to
    read-merge-write.

    Bounded, because only a message still being logged matters: `size` keys, and versions holding about
    `budget` bytes of state (a version costs its summary's size, a key only its name). Forgetting either
    costs a 409 or a read, not data: a version is only a cache of what the node holds, and a stale one
    answers 409, which reads it again.
    """

    def __init__(self, size: int = 20_000, budget: int = 16 << 20) -> None:
        self.size = size
        self.budget = budget
        self.held = 0
        self.keys: OrderedDict[Key, None] = OrderedDict()
        self.versions: OrderedDict[Key, Version] = OrderedDict()

    def __contains__(self, key: object) -> bool:
        return key in self.keys

    def add(self, keys: Iterable[Key]) -> None:
        """Stored lately; a version already kept stays."""
        for key in keys:
            self.keys[key] = None
            self.keys.move_to_end(key)
        while len(self.keys) > self.size:
            old, _ = self.keys.popitem(last=False)
            self.take(old)

    def keep(self, key: Key, version: Version) -> None:
        self.take(key)
        self.keys[key] = None
        self.keys.move_to_end(key)
        self.versions[key] = version
        self.held += version.size
        while self.held > self.budget and self.versions:
            self.held -= self.versions.popitem(last=False)[1].size

    def take(self, key: Key) -> Version | None:
        """The kept version of `key`, forgotten until a write's answer keeps the next one: whatever
        happens to the write (rejected, an outage), no later batch writes under a version it replaced."""
        version = self.versions.pop(key, None)
        if version is not None:
            self.held -= version.size
        return version


def upsert(
    cluster: Cluster,
    prefix: str,
    pending: dict[Key, Partial],
    dead: DeadLetters,
    tries: Tries,
    *,
    recent: Recent | None = None,
) -> int:
    """Merge each pending partial into its stored summary; returns how many summary documents were written.
    With `recent`, the version of each summary written or found up to date is kept there.

    Equivalent to a scripted upsert but with the one merge implementation (shipper.messages): a
    concurrent writer makes our write fail with 409, and that message is simply read and merged again, for
    at most MAX_ROUNDS rounds. Failures (of the read, of the write, a summary the read could not get) all
    draw on the one count `tries`: no round retries on its own.
    """
    written = 0
    for _ in range(MAX_ROUNDS):
        if not pending:
            return written
        keys = list(pending)
        targets = [(message_index(prefix, i), message_id(s, i)) for s, i in keys]
        resp = _read(cluster, targets, tries)
        items: list[bulk.Item] = []
        retry_keys: list[Key] = []
        states: dict[Key, Partial] = {}
        for key, (ix, did), found in zip(keys, targets, resp["docs"], strict=True):
            new = pending[key]
            if found.get("found"):
                stored = found.get("_source", {}).get("exim", {}).get("merge_state")
                merged = merge(from_state(stored), new) if stored else new
                if stored and merged == from_state(stored):
                    if recent is not None:
                        size = len(orjson.dumps(stored))  # about: the state, not the whole summary
                        recent.keep(key, Version(found["_seq_no"], found["_primary_term"], size, merged))
                    continue  # nothing new: skip the write
                action = action_line(
                    "index", ix, did, if_seq_no=found["_seq_no"], if_primary_term=found["_primary_term"]
                )
            elif found.get("error") and "index_not_found" not in str(found["error"]):
                retry_keys.append(key)  # kept pending: read again next round
                continue
            else:  # not found, or its monthly index does not exist yet
                merged = new
                action = action_line("create", ix, did)
            states[key] = merged
            items.append(bulk.Item(action, summary_body(merged), ref=key, merge_on_conflict=True))
        outcome = bulk.send(cluster, items, tries)
        written += len(outcome.delivered)
        if recent is not None:
            for item, seq_no, term in outcome.versions:
                recent.keep(item.ref, Version(seq_no, term, len(item.body), states[item.ref]))
        for item, reason in outcome.rejected:
            dead.add(reason, item.action, item.body)
        if retry_keys:
            # A shard that could not answer the read: a try like a throttled item, waited for.
            tries.throttled(
                len(retry_keys),
                OpenSearchUnavailable(f"{len(retry_keys)} message summaries could not be read after retries"),
            )
        again = [item.ref for item in outcome.conflicts] + retry_keys
        pending = {k: pending[k] for k in again}
    raise OpenSearchUnavailable(
        f"{len(pending)} message summaries kept conflicting after {MAX_ROUNDS} rounds"
    )


def _read(cluster: Cluster, targets: list[tuple[str, str]], tries: Tries) -> dict[str, Any]:
    """The stored merge states of `targets`, in one `_mget`, tried again within `tries`."""
    docs = [{"_index": ix, "_id": did, "_source": {"includes": ["exim.merge_state"]}} for ix, did in targets]
    while True:
        try:
            resp = cluster.mget(docs)
        except OpenSearchUnavailable as exc:
            tries.failed(exc)
            continue
        tries.succeeded()
        return resp
