"""Dead letters: one whole record per write, none twice, private, and a failure that stops the shipper
before its checkpoint moves past the documents it could not keep."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import Any

import orjson
import pytest

from shipper.checkpoints import Registry
from shipper.deadletter import DeadLetters, DeadLetterUnwritable
from shipper.delivery import Batch, Delivery, Mark
from shipper.errors import StateError
from shipper.opensearch import bulk
from tests.fakes.cluster import no_wait


def _action(doc_id: str) -> bytes:
    return orjson.dumps({"create": {"_index": "x-events-2025.02.01", "_id": doc_id}})


def _records(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def test_a_record_holds_reason_index_id_and_the_document(tmp_path: Path) -> None:
    dead = DeadLetters(tmp_path)
    dead.add("HTTP 400 mapper_parsing_exception: bad", _action("a1"), b'{"n": 1}')
    (rec,) = _records(tmp_path / "deadletter.ndjson")
    assert {k: rec[k] for k in ("reason", "index", "id", "document")} == {
        "reason": "HTTP 400 mapper_parsing_exception: bad",
        "index": "x-events-2025.02.01",
        "id": "a1",
        "document": {"n": 1},
    }
    assert dead.count == 1


def test_a_reject_seen_again_is_not_appended_twice_even_by_a_later_run(tmp_path: Path) -> None:
    first = DeadLetters(tmp_path)
    first.add("HTTP 400 x: y", _action("a1"), b"{}")
    first.add("HTTP 400 x: y", _action("a1"), b"{}")
    first.add("HTTP 400 other: z", _action("a1"), b"{}")  # another reason is another record
    first.close()
    again = DeadLetters(tmp_path)  # a re-run re-sends the same rejects
    again.add("HTTP 400 x: y", _action("a1"), b"{}")
    again.add("HTTP 400 x: y", _action("b2"), b"{}")
    assert [(r["id"], r["reason"]) for r in _records(tmp_path / "deadletter.ndjson")] == [
        ("a1", "HTTP 400 x: y"),
        ("a1", "HTTP 400 other: z"),
        ("b2", "HTTP 400 x: y"),
    ]
    assert (first.count, again.count) == (2, 1)


def test_a_half_line_left_by_an_earlier_run_is_closed_off_before_the_next_record(tmp_path: Path) -> None:
    path = tmp_path / "deadletter.ndjson"
    whole = orjson.dumps({"reason": "r", "id": "old", "document": {}})
    path.write_bytes(whole + b"\n" + b'{"time": "2025-01-01T00:00:00Z", "reason": "r", "id": "cut", "docu')
    dead = DeadLetters(tmp_path)
    dead.add("r", _action("new"), b"{}")
    dead.add("r", _action("old"), b"{}")  # still known from the whole line
    lines = path.read_bytes().split(b"\n")
    assert lines[0] == whole
    assert lines[1].endswith(b'"docu'), "the half line is kept as it was, on a line of its own"
    assert orjson.loads(lines[2])["id"] == "new"
    assert lines[3:] == [b""]


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EIO])
def test_a_failed_write_is_one_line_and_leaves_no_half_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    dead = DeadLetters(tmp_path)
    dead.add("r", _action("a1"), b"{}")
    before = (tmp_path / "deadletter.ndjson").read_bytes()
    real = os.write

    def half(fd: int, data: bytes) -> int:
        real(fd, data[: len(data) // 2])  # the kernel took half, then the disk was full
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "write", half)
    with pytest.raises(DeadLetterUnwritable) as err:
        dead.add("r", _action("a2"), b'{"big": "' + b"x" * 5000 + b'"}')
    monkeypatch.undo()
    assert str(err.value) == (
        f"cannot write dead letters in {tmp_path / 'deadletter.ndjson'}: {os.strerror(code)} "
        f"({errno.errorcode[code]}); stopping so that the rejected documents are not lost "
        "(the checkpoint stays before them)"
    )
    assert isinstance(err.value, StateError)
    assert (tmp_path / "deadletter.ndjson").read_bytes() == before
    dead.add("r", _action("a2"), b"{}")  # not counted as kept: written once the disk has room
    assert [r["id"] for r in _records(tmp_path / "deadletter.ndjson")] == ["a1", "a2"]


def test_a_short_write_is_undone_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dead = DeadLetters(tmp_path)
    real = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: real(fd, data[:10]))
    with pytest.raises(DeadLetterUnwritable, match="No space left on device"):
        dead.add("r", _action("a1"), b"{}")
    monkeypatch.undo()
    assert (tmp_path / "deadletter.ndjson").read_bytes() == b""


def test_an_unopenable_file_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: object, **__: object) -> int:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(os, "open", refuse)
    with pytest.raises(DeadLetterUnwritable, match=r"^cannot open dead letters in .*\(EROFS\); stopping"):
        DeadLetters(tmp_path).add("r", _action("a1"), b"{}")


def test_the_file_is_0600_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        DeadLetters(tmp_path).add("r", _action("a1"), b"{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "deadletter.ndjson").stat().st_mode) == 0o600


def test_records_are_fsynced_before_the_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        synced.append(fd)
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    dead = DeadLetters(tmp_path)
    dead.sync()
    assert synced == [], "nothing written, nothing to sync"
    dead.add("r", _action("a1"), b"{}")
    dead.sync()
    dead.sync()
    assert len(synced) == 1


# --- through the delivery -----------------------------------------------------------------------


class RejectingCluster:
    """Answers every bulk item with a mapping error, the kind that is dead-lettered."""

    def bulk(self, body: bytes) -> dict[str, Any]:
        n = body.count(b"\n") // 2
        error = {"type": "mapper_parsing_exception", "reason": "bad"}
        return {"errors": True, "items": [{"create": {"status": 400, "error": error}}] * n}


class Tally:
    indexed = already = dead = summaries = 0


def _deliver(tmp_path: Path) -> tuple[Registry, DeadLetters, Tally]:
    registry = Registry(tmp_path)
    dead = DeadLetters(tmp_path)
    delivery = Delivery(RejectingCluster(), "x", registry, dead, no_wait(1))  # type: ignore[arg-type]
    tally = Tally()
    items = [bulk.Item(_action(f"id{n}"), b'{"n": %d}' % n) for n in range(3)]
    delivery.deliver(Batch(items, [], [Mark("1:2", "/var/log/exim_mainlog", 300)], tally))
    return registry, dead, tally


def test_rejects_are_kept_and_then_the_checkpoint_moves(tmp_path: Path) -> None:
    _, _, tally = _deliver(tmp_path)
    assert tally.dead == 3
    assert Registry(tmp_path).offset("1:2") == 300
    assert len(_records(tmp_path / "deadletter.ndjson")) == 3


def test_a_reject_that_cannot_be_kept_stops_the_delivery_before_the_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = os.write
    calls = 0

    def full_after_one(fd: int, data: bytes) -> int:
        nonlocal calls
        calls += 1
        if calls > 1:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fd, data)

    monkeypatch.setattr(os, "write", full_after_one)
    with pytest.raises(DeadLetterUnwritable):
        _deliver(tmp_path)
    monkeypatch.undo()
    assert not (tmp_path / "registry.json").exists(), "the checkpoint must not pass undelivered rejects"
    # The re-run sends the batch again: the one record kept is not written twice, the others are added.
    _, _, tally = _deliver(tmp_path)
    assert [r["id"] for r in _records(tmp_path / "deadletter.ndjson")] == ["id0", "id1", "id2"]
    assert tally.dead == 3
    assert Registry(tmp_path).offset("1:2") == 300
