"""Tail mode's pace, on a virtual clock: how soon a line is read and sent, and how rarely an idle sidecar
wakes up. No cluster and no real waiting: the sender is a recorder and every sleep advances the clock."""

from __future__ import annotations

import os
import time
import types
from pathlib import Path
from typing import Any

import orjson
import pytest

from shipper import pipeline
from shipper.delivery import Batch
from shipper.files.follow import POLL_MAX, POLL_MIN, poll_wait
from shipper.opensearch import bulk
from shipper.pipeline import Shipper
from shipper.settings import Settings
from tests.fakes.cluster import FakeCluster


class World:
    """The clock, the log's writer (lines appended at given virtual times) and the stop signal: each
    sleep of the loop under test moves the clock on and lets the writer catch up to it."""

    def __init__(self, log: Path, appends: list[float], end: float) -> None:
        # From the real clock's reading: a harvester notes its creation on that clock.
        self.start = self.now = time.monotonic()
        self.log = log
        self.pending = sorted(self.start + t for t in appends)
        self.end = self.start + end
        self.appended: dict[int, float] = {}  # byte offset of a line -> when it was appended
        self.waits: list[tuple[float, float]] = []  # (when, how long)
        self.stopped = False

    def monotonic(self) -> float:
        return self.now

    def is_set(self) -> bool:
        return self.stopped

    def wait(self, timeout: float) -> bool:
        self.waits.append((self.now, timeout))
        self.now += timeout
        while self.pending and self.pending[0] <= self.now:
            at = self.pending.pop(0)
            n = len(self.appended)
            line = f"2025-02-01 10:00:{n % 60:02d} [{100 + n}] 1tXaaa-{n:011d}-0ABC Completed\n".encode()
            fd = os.open(self.log, os.O_WRONLY | os.O_APPEND)
            try:
                self.appended[os.fstat(fd).st_size] = at
                os.write(fd, line)
            finally:
                os.close(fd)
        self.stopped = self.now >= self.end
        return self.stopped


class Recorder:
    """Stands in for the background sender: notes when each line's event was handed over."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.sent: dict[int, float] = {}  # byte offset -> when submitted
        self.submits = 0

    def submit(self, batch: Batch) -> None:
        if batch.events:
            self.submits += 1
        for item in bulk.each(batch.events):
            self.sent[orjson.loads(item.body)["log"]["offset"]] = self.world.now

    def wait(self) -> None:
        pass

    def close(self) -> None:
        pass


def _run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, appends: list[float], end: float) -> Any:
    log = tmp_path / "exim_mainlog"
    log.write_bytes(b"")
    world = World(log, appends, end)
    monkeypatch.setattr(pipeline, "time", types.SimpleNamespace(monotonic=world.monotonic))
    settings = Settings(state_dir=tmp_path / "state", timezone="UTC", server_name="test")
    shipper = Shipper(settings, FakeCluster())  # never contacted
    recorder = Recorder(world)
    shipper._sender = recorder  # type: ignore[assignment]
    shipper.run([str(log)], world, scan_interval=settings.scan_interval)  # type: ignore[arg-type]
    assert set(recorder.sent) == set(world.appended), "every appended line must be sent"
    return world, recorder, settings


def test_poll_wait_backs_off_from_the_shortest_to_the_longest() -> None:
    assert poll_wait(0.0) == POLL_MIN
    assert poll_wait(POLL_MIN) == POLL_MIN
    assert POLL_MIN < poll_wait(0.3) == 0.15 < POLL_MAX
    assert poll_wait(3600.0) == POLL_MAX
    waits = [poll_wait(q / 10) for q in range(100)]
    assert waits == sorted(waits)


def test_a_line_after_a_quiet_spell_is_read_and_sent_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Neither a full batch age nor a long linger: within one backed-off poll, one quiet poll (the
    entry's linger) and the loop turn that takes it to the batcher."""
    world, recorder, _ = _run(tmp_path, monkeypatch, [30.0, 60.0], end=61.0)
    for offset, at in world.appended.items():
        assert recorder.sent[offset] - at <= POLL_MAX + 2 * POLL_MIN + 1e-6
    # Idle, the loop wakes about 1/POLL_MAX times a second, never sleeping longer than that.
    quiet = [t for when, t in world.waits if 5.0 <= when - world.start < 29.0]
    assert max(quiet) == POLL_MAX
    assert len(quiet) <= 24 / POLL_MAX + 1


def test_a_steady_trickle_goes_out_at_most_once_per_batch_age(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ten lines a second for five seconds: requests are capped, and no line waits past one slot."""
    appends = [5.0 + i / 10 for i in range(50)]
    world, recorder, settings = _run(tmp_path, monkeypatch, appends, end=12.0)
    age = settings.batch_max_age
    assert recorder.submits <= 5.0 / age + 2
    assert recorder.submits >= 5.0 / age / 2, "lines must not be held longer than batch_max_age"
    for offset, at in world.appended.items():
        assert recorder.sent[offset] - at <= age + 2 * POLL_MIN + 1e-6
    # While lines flow the loop polls at its shortest pace.
    busy = [t for when, t in world.waits if 5.5 <= when - world.start < 9.5]
    assert busy
    assert max(busy) <= POLL_MIN + 1e-9
