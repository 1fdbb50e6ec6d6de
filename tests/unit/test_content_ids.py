"""Content ids: byte-identical entries written in one second each get their own id, the same one on every
run, so a re-read adds nothing and a real repeat is never taken for a re-read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from shipper.opensearch.documents import event_id
from shipper.pipeline import Shipper
from shipper.settings import Settings
from tests.parsing import read

LINE = b"2025-01-31 10:00:00 1tXaaa-00000001abc-0ABC Completed"
OTHER = b"2025-01-31 10:00:00 1tXbbb-00000002abc-0DEF Completed"
LATER = b"2025-01-31 10:00:01 1tXaaa-00000001abc-0ABC Completed"


class RecordingCluster:
    """Accepts every bulk item and keeps the ids of the events it was sent."""

    def __init__(self) -> None:
        self.event_ids: list[str] = []

    def bulk(self, body: bytes) -> dict[str, Any]:
        lines = body.split(b"\n")[:-1]
        items = []
        for action in lines[0::2]:
            meta = orjson.loads(action)["create"]
            if "-events-" in meta["_index"]:
                self.event_ids.append(meta["_id"])
            items.append({"create": {"_id": meta["_id"], "status": 201}})
        return {"errors": False, "items": items}


def ship(log: Path, state: Path) -> list[str]:
    """Backfill `log` through the real pipeline into a cluster that accepts everything; the event ids sent."""
    settings = Settings(state_dir=state, server_name="mx1", timezone="UTC", opensearch_url=["http://x:9200"])
    cluster = RecordingCluster()
    shipper = Shipper(settings, cluster)  # type: ignore[arg-type]
    try:
        shipper.backfill(log)
    finally:
        shipper.close()
        shipper.state_lock.release()
    return cluster.event_ids


def test_the_occurrence_counts_identical_entries_within_their_second_only() -> None:
    """The core counts byte-identical entries of one second into their ids; a new second starts the count
    again, and an old second is not remembered once left."""
    lines = [LINE, OTHER, LINE, LINE, OTHER, LATER, LINE]
    got = [e.id for e in read(b"\n".join(lines) + b"\n", server="mx1").entries]
    assert got == [event_id("mx1", line, n) for line, n in zip(lines, [0, 0, 1, 2, 1, 0, 0], strict=True)]


def test_the_occurrence_is_part_of_the_id() -> None:
    assert event_id("mx1", LINE, 0) == event_id("mx1", LINE, 0)
    assert len({event_id("mx1", LINE, n) for n in range(3)}) == 3
    assert event_id("mx1", LINE, 0) != event_id("mx2", LINE, 0)


def test_identical_entries_in_one_second_get_distinct_ids_and_the_same_ids_on_a_rerun(tmp_path: Path) -> None:
    log = tmp_path / "mainlog"
    log.write_bytes(b"\n".join([LINE, LINE, OTHER, LINE, LATER]) + b"\n")
    first = ship(log, tmp_path / "state-a")
    assert len(first) == 5
    assert len(set(first)) == 5, "identical entries of one second must not share an id"
    # From scratch (another state directory): every id comes out the same, so the cluster answers 409.
    assert ship(log, tmp_path / "state-b") == first


def test_a_resumed_file_counts_the_checkpoints_second_again(tmp_path: Path) -> None:
    """Appended repeats of an entry already shipped in the same second get new ids, not the shipped ones."""
    log = tmp_path / "mainlog"
    log.write_bytes(LINE + b"\n" + LINE + b"\n")
    state = tmp_path / "state"
    first = ship(log, state)
    with log.open("ab") as fh:
        fh.write(LINE + b"\n" + OTHER + b"\n")
    second = ship(log, state)
    assert len(second) == 2
    assert not set(first) & set(second), "a repeat after the checkpoint was given a shipped entry's id"
    assert len(set(first + second)) == 4
