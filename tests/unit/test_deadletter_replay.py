"""Dead-letter replay against a scripted cluster: the outcome of each record, the file rewritten with only
what is refused again (0600 whatever the umask), and nothing rewritten when the cluster stays away."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import orjson
import pytest

from shipper.deadletter_replay import render, replay
from shipper.errors import OpenSearchUnavailable
from shipper.opensearch.documents import message_id
from tests.fakes.cluster import no_wait
from tests.parsing import states

SERVER = "mx1"


class Cluster:
    """`_bulk` answers each create by its id from `answers` (a status, or a status and error type); a
    summary create answered 409 is then read (`stored` holds its merge state) and written again."""

    def __init__(self, answers: dict[str, Any], stored: dict[str, Any] | None = None) -> None:
        self.answers = answers
        self.stored = stored or {}
        self.sent: list[tuple[str, str]] = []  # (op, id) in order
        self.bodies: dict[str, Any] = {}

    def bulk(self, body: bytes) -> dict[str, Any]:
        lines = body.split(b"\n")[:-1]
        items = []
        for action, doc in zip(lines[0::2], lines[1::2], strict=True):
            ((op, meta),) = orjson.loads(action).items()
            self.sent.append((op, meta["_id"]))
            self.bodies[meta["_id"]] = orjson.loads(doc)
            answer = self.answers.get(meta["_id"], 201) if op == "create" else 200
            if answer == "away":
                items.append({op: {"_id": meta["_id"], "status": 503, "error": {"type": "unavailable"}}})
                continue
            status, kind = (
                answer if isinstance(answer, tuple) else (answer, "version_conflict_engine_exception")
            )
            items.append({op: {"_id": meta["_id"], "status": status, "error": {"type": kind, "reason": "r"}}})
        return {"errors": True, "items": items}

    def mget(self, wanted: list[dict[str, Any]]) -> dict[str, Any]:
        docs = []
        for d in wanted:
            state = self.stored.get(d["_id"])
            if state is None:
                docs.append({"_id": d["_id"], "found": False})
            else:
                src = {"exim": {"merge_state": state}}
                docs.append(
                    {"_id": d["_id"], "found": True, "_seq_no": 1, "_primary_term": 1, "_source": src}
                )
        return {"docs": docs}


def event(doc_id: str, reason: str = "HTTP 400 mapper_parsing_exception: old") -> dict[str, Any]:
    doc = {"@timestamp": "2030-01-01T10:00:00Z", "event": {"original": doc_id}}
    return {"time": "2030-01-01T00:00:00Z", "reason": reason, "index": "p-events-2030.01.01", "id": doc_id,
            "document": doc}  # fmt: skip


def state(line: str) -> dict[str, Any]:
    """A message's mergeable state from one log line, as the shipper stores it (the core's partial)."""
    (part,) = states(line, server=SERVER)
    return part


def summary(doc_id: str, merge_state: dict[str, Any]) -> dict[str, Any]:
    doc = {"email": {"local_id": merge_state["id"]}, "exim": {"merge_state": merge_state}}
    return {"time": "t", "reason": "HTTP 400 x", "index": "p-messages-2030.01", "id": doc_id, "document": doc}


def write(state: Path, lines: list[bytes]) -> Path:
    path = state / "deadletter.ndjson"
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return path


def test_each_record_gets_its_outcome_and_only_the_refused_stay(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        [
            orjson.dumps(event("fixed")),
            orjson.dumps(event("there")),
            orjson.dumps(event("bad")),
            b"not a record",
            orjson.dumps(event("twice", reason="first reason")),
            orjson.dumps(event("twice", reason="second reason")),
        ],
    )
    cluster = Cluster({"there": 409, "bad": (400, "mapper_parsing_exception")})
    old = os.umask(0o022)
    try:
        report = replay(cluster, tmp_path, no_wait(3))  # type: ignore[arg-type]
    finally:
        os.umask(old)
    assert (report.replayed, report.already, report.refused, report.unreadable) == (2, 2, 1, 1)
    assert sorted(doc_id for _, doc_id in cluster.sent) == ["bad", "fixed", "there", "twice"]  # each once
    kept = path.read_bytes().splitlines()
    assert kept[1] == b"not a record"
    refused = orjson.loads(kept[0])
    assert refused["id"] == "bad" and refused["reason"] == "HTTP 400 mapper_parsing_exception: r"
    assert refused["time"] != "2030-01-01T00:00:00Z"
    assert len(kept) == 2
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert render(report).splitlines()[1:] == [
        "  replayed                  2",
        "  already there             2",
        "  still refused             1",
        "  unreadable, kept          1",
    ]


def test_a_summary_already_stored_is_merged_not_overwritten(tmp_path: Path) -> None:
    x, y = "1tXaaa-00000001abc-0ABC", "1tXbbb-00000002abc-0DEF"
    done = {m: state(f"2030-01-01 10:00:05 {m} Completed") for m in (x, y)}
    arrived_y = state(f"2030-01-01 10:00:00 {y} <= a@example.com H=h [192.0.2.1] P=esmtp S=100")
    write(tmp_path, [orjson.dumps(summary(message_id(SERVER, m), done[m])) for m in (x, y)])
    ids = {m: message_id(SERVER, m) for m in (x, y)}
    # X's summary holds this share already; Y's has only its arrival so far.
    cluster = Cluster({ids[x]: 409, ids[y]: 409}, stored={ids[x]: done[x], ids[y]: arrived_y})
    report = replay(cluster, tmp_path, no_wait(3))  # type: ignore[arg-type]
    assert (report.replayed, report.already, report.refused) == (1, 1, 0)
    assert [op for op, doc_id in cluster.sent if doc_id == ids[x]] == ["create"]  # no write: nothing new
    assert cluster.sent[-1] == ("index", ids[y])
    written = cluster.bodies[ids[y]]["exim"]["merge_state"]
    assert written["arrival"]["sender"] == "a@example.com" and written["completed"] == done[y]["completed"]
    assert (tmp_path / "deadletter.ndjson").read_bytes() == b""


def test_an_outage_during_the_replay_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    path = write(tmp_path, [orjson.dumps(event("a")), orjson.dumps(event("b"))])
    before = path.read_bytes()
    with pytest.raises(OpenSearchUnavailable):
        replay(Cluster({"b": "away"}), tmp_path, no_wait(2))  # type: ignore[arg-type]
    assert path.read_bytes() == before
    assert not list(tmp_path.glob("deadletter.ndjson.tmp.*"))
