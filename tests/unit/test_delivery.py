"""The background sender: order, back-pressure, failures handed back, and the bounded memory of stored keys."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from shipper.delivery import Batch, Mark, Sender
from shipper.opensearch.summaries import Recent


class Tally:
    indexed = already = dead = summaries = 0


class Recorder:
    """Stands in for `Delivery`: records what it was handed, can block, can fail on a given batch."""

    def __init__(self, fail_on: int | None = None) -> None:
        self.seen: list[int] = []
        self.gate = threading.Event()
        self.gate.set()
        self.fail_on = fail_on

    def deliver(self, batch: Batch) -> None:
        self.gate.wait(5)
        n = batch.marks[0].end
        if n == self.fail_on:
            raise RuntimeError(f"batch {n} failed")
        self.seen.append(n)


def _batch(n: int) -> Batch:
    return Batch([], [], [Mark("f", "path", n)], Tally())


def test_batches_are_delivered_in_order_and_wait_returns_after_the_last() -> None:
    rec = Recorder()
    sender = Sender(rec)  # type: ignore[arg-type]
    for n in range(50):
        sender.submit(_batch(n))
    sender.wait()
    assert rec.seen == list(range(50))
    sender.close()
    assert not sender.thread.is_alive()


def test_submit_blocks_while_a_batch_is_in_flight_and_one_waits() -> None:
    rec = Recorder()
    rec.gate.clear()
    sender = Sender(rec, depth=1)  # type: ignore[arg-type]
    sender.submit(_batch(0))  # taken by the thread, blocked in deliver
    sender.submit(_batch(1))  # waits in the queue
    third = threading.Thread(target=sender.submit, args=(_batch(2),))
    third.start()
    third.join(0.5)
    assert third.is_alive(), "a third batch must wait: memory stays bounded while OpenSearch is slow"
    rec.gate.set()
    third.join(5)
    sender.wait()
    assert rec.seen == [0, 1, 2]


def test_a_failure_reaches_the_submitter_and_later_batches_are_not_delivered() -> None:
    rec = Recorder(fail_on=1)
    sender = Sender(rec)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="batch 1 failed"):
        for n in range(10):
            sender.submit(_batch(n))
        sender.wait()
    assert 0 in rec.seen
    assert all(n < 1 for n in rec.seen), "nothing after the failed batch may be delivered (checkpoints stay)"
    sender.close()


def test_recent_keys_are_bounded_and_refreshed_on_use() -> None:
    recent = Recent(size=3)
    recent.add([("s", "a"), ("s", "b"), ("s", "c")])
    recent.add([("s", "a")])  # used again: now the newest
    recent.add([("s", "d")])
    keys: Any = list(recent.keys)
    assert keys == [("s", "c"), ("s", "a"), ("s", "d")]
    assert ("s", "b") not in recent
    assert ("s", "a") in recent
