"""Delivering batches in a background thread: events and their message summaries, then checkpoints."""

from __future__ import annotations

import queue
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol

from shipper.checkpoints import Registry
from shipper.deadletter import DeadLetters
from shipper.messages import Partial, merge
from shipper.opensearch import bulk, summaries
from shipper.opensearch.cluster import Cluster
from shipper.opensearch.retry import RetryPolicy
from shipper.status import Status


class Tally(Protocol):
    """The counters a batch's outcome is added to (a file's row of the closing table)."""

    indexed: int
    already: int
    dead: int
    summaries: int


@dataclass(slots=True)
class Mark:
    """After the batch is acknowledged: every entry of `path` (file `key`) before `end` is stored."""

    key: str
    path: str
    end: int
    head: str = ""
    complete: bool = False
    size: int | None = None  # a complete file's size as stored, so that a re-run knows it unchanged
    restart: bool = False
    """The file was read again from 0 (truncated, or another file on the inode): `end` replaces the
    checkpoint instead of only moving it forward."""


@dataclass(slots=True)
class Batch:
    events: list[bulk.Piece]
    parts: list[Partial]
    marks: list[Mark]
    tally: Tally
    done: threading.Event = field(default_factory=threading.Event)
    summaries: list[bulk.Item] = field(default_factory=list)
    """Summaries the native correlator made (`summaries.native_items`), beside `parts`' Python ones."""


class Delivery:
    """Sends one batch: events plus optimistic `create`s of new summaries, and the summaries this process
    stored lately merged and written under the version it kept (`index` with `if_seq_no`), in one `_bulk`
    request; then the read-merge-write of the others already stored (and of any 409), then the
    checkpoints. Nothing moves a checkpoint before
    OpenSearch has acknowledged every document the entries before it produced.

    A batch is one operation of `policy`: its bulk request, the items sent again and the summary merges
    draw on one count of tries, so a batch gives up after `policy.max_attempts` failed tries in all."""

    def __init__(
        self,
        cluster: Cluster,
        prefix: str,
        registry: Registry,
        dead: DeadLetters,
        policy: RetryPolicy,
        *,
        status: Status | None = None,
    ) -> None:
        self.cluster = cluster
        self.status = status or Status()
        self.prefix = prefix
        self.registry = registry
        self.dead = dead
        self.policy = policy
        self.recent = summaries.Recent()

    def deliver(self, batch: Batch) -> None:
        tally = batch.tally
        pending = summaries.by_message(batch.parts)
        made = self._made(batch.summaries, pending)
        writes, states, later = self._writes(pending)
        items = [*batch.events, *made.values(), *writes]
        tries = self.policy.tries()
        if items:
            outcome = bulk.send(self.cluster, items, tries, timed=self.status.bulk_took)
            self._count(outcome, tally)
            for item, seq_no, term in outcome.versions:
                state = states.get(item.ref)
                body = item.body if state is None else b""  # a native summary: read back if ever needed
                self.recent.keep(item.ref, summaries.Version(seq_no, term, len(item.body), state, body))
            for item in outcome.conflicts:
                # Another writer, or a version this process forgot: read, merge and write again.
                key = item.ref
                later[key] = states[key] if key in states else summaries.partial_of(item.body)
        if later:
            merged = summaries.upsert(self.cluster, self.prefix, later, self.dead, tries, recent=self.recent)
            tally.summaries += merged
            self.status.counted(Counter({(None, "summaries"): merged}))
        self.recent.add([*pending, *made])
        # A reject that could not be kept raised above, so no checkpoint below moves past it.
        self.dead.sync()
        for m in batch.marks:
            self.registry.advance(
                m.key,
                m.path,
                m.end,
                complete=m.complete,
                head=m.head,
                size=m.size,
                restart=m.restart,
                save=False,
            )
        if batch.marks:
            self.registry.save()
        for m in batch.marks:
            self.status.acked(m.key, m.end)

    def _writes(
        self, pending: dict[summaries.Key, Partial]
    ) -> tuple[list[bulk.Item], dict[summaries.Key, Partial], dict[summaries.Key, Partial]]:
        """The bulk items of `pending`'s summaries, what each is stored as once written, and those left to
        read-merge-write: a new message's is a `create`; one stored lately under a kept version is merged
        into it and written under it (or not at all, when nothing is new); one without goes to be read."""
        writes: list[bulk.Item] = []
        states: dict[summaries.Key, Partial] = {}
        later: dict[summaries.Key, Partial] = {}
        recent = self.recent
        for key, part in pending.items():
            if key not in recent:
                writes.append(summaries.create_item(self.prefix, key, part))
                states[key] = part
            elif (known := recent.take(key)) is None:
                later[key] = part
            else:
                stored = known.merged()
                merged = merge(stored, part)
                if merged == stored:
                    recent.keep(key, known)
                    continue
                writes.append(
                    summaries.write_item(self.prefix, key, merged, known.seq_no, known.primary_term)
                )
                states[key] = merged
        return writes, states, later

    def _count(self, outcome: bulk.Outcome, tally: Tally) -> None:
        """The outcome into the file's tally and the status counters; rejects into the dead letters."""
        counts: Counter[tuple[str | None, str]] = Counter()  # (file key, outcome): one lock per batch
        for item in outcome.delivered:
            if item.merge_on_conflict:
                tally.summaries += 1
                counts[None, "summaries"] += 1
            else:
                tally.indexed += len(item)  # a run is many documents
                counts[item.ref, "indexed"] += len(item)  # an event's ref is its file's key
        tally.already += bulk.documents(outcome.existed)
        for item in outcome.existed:
            counts[item.ref, "already"] += len(item)
        for item, reason in outcome.rejected:
            self.dead.add(reason, item.action, item.body)
            if not item.merge_on_conflict:
                tally.dead += 1
                counts[item.ref, "dead_lettered"] += 1
        self.status.counted(counts)

    def _made(
        self, items: list[bulk.Item], pending: dict[summaries.Key, Partial]
    ) -> dict[summaries.Key, bulk.Item]:
        """The native summaries to create as they are, by key; one of a message stored lately, or met
        twice in the batch, joins `pending` as its partial (read back from its state) instead."""
        made: dict[summaries.Key, bulk.Item] = {}
        for item in items:
            key = item.ref
            if key not in self.recent and key not in pending and key not in made:
                made[key] = item
                continue
            part = summaries.partial_of(item.body)
            if key in made:
                part = merge(summaries.partial_of(made.pop(key).body), part)
            pending[key] = merge(pending[key], part) if key in pending else part
        return made


class Sender:
    """Runs `Delivery.deliver` on a thread so that reading and parsing the next batch overlaps the
    request in flight. At most `depth` batches wait, which bounds memory while OpenSearch is away.

    A failure in the thread (an outage beyond the retries, a stop request) is raised again to the
    submitter at its next call; batches after it are dropped undelivered, so their checkpoints stay.
    """

    def __init__(self, delivery: Delivery, depth: int = 1) -> None:
        self.delivery = delivery
        self.queue: queue.Queue[Batch | None] = queue.Queue(maxsize=depth)
        self.failure: BaseException | None = None
        self.thread = threading.Thread(target=self._loop, name="exim-shipper-sender", daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while True:
            batch = self.queue.get()
            try:
                if batch is None:
                    return
                if self.failure is None:
                    self.delivery.deliver(batch)
            except BaseException as exc:  # handed to the submitting thread, not lost
                self.failure = exc
            finally:
                if batch is not None:
                    batch.done.set()
                self.queue.task_done()

    def _check(self) -> None:
        if self.failure is not None:
            raise self.failure

    def submit(self, batch: Batch) -> None:
        """Queue a batch for delivery; blocks while the queue is full."""
        while True:
            self._check()
            try:
                self.queue.put(batch, timeout=0.2)
                return
            except queue.Full:
                continue

    def wait(self) -> None:
        """Until every submitted batch is delivered (or the sender failed: then raise that)."""
        self.queue.join()
        self._check()

    def close(self) -> None:
        """Stop the thread once the queue is empty; never hang an exit on a sender stuck in retries
        (Ctrl-C during an outage): it is a daemon thread, and what it holds is not checkpointed."""
        try:
            self.queue.put_nowait(None)
        except queue.Full:
            return
        self.thread.join(timeout=5)
