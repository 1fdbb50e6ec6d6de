"""`deadletter replay` against a real node: once the cause is fixed the dead letters are stored and leave the
file; what is refused again stays with its new reason; a closing table counts them."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path
from typing import Any

import orjson
from opensearchpy import OpenSearch

from shipper.checkpoints import lock_state_dir
from tests.integration.test_backfill import count, shipper

A = b"2030-01-01 10:00:00 1tXaaa-00000001abc-0ABC Completed"
B = b"2030-01-02 10:00:00 x"
C = b"2030-01-03 10:00:00 1tXccc-00000003abc-0CCC Completed"
GARBAGE = b'{"half a record'
BEFORE, BLOCKED = "2030-01-01T00:00:00Z", "HTTP 403 cluster_block_exception: index [x] blocked"


def refuse_events_of(client: OpenSearch, prefix: str, day: str) -> None:
    """A higher-priority template for one day's index maps `event` as a keyword: an event object is refused."""
    client.indices.put_index_template(
        name=f"{prefix}-conflict-{day}",
        body={
            "index_patterns": [f"{prefix}-events-{day}"],
            "priority": 500,
            "template": {"mappings": {"properties": {"event": {"type": "keyword"}}}},
        },
    )


def fix(client: OpenSearch, prefix: str, day: str) -> None:
    """The cause removed: the template goes, and the empty index it shaped with it."""
    client.indices.delete_index_template(name=f"{prefix}-conflict-{day}")
    client.indices.delete(index=f"{prefix}-events-{day}")


def replay(url: str, prefix: str, state: Path) -> subprocess.CompletedProcess[str]:
    return shipper("deadletter", "replay", state=state, url=url, prefix=prefix)


def table(stdout: str) -> dict[str, int]:
    rows = {}
    for line in stdout.splitlines()[1:]:
        label, _, figure = line.strip().rpartition(" ")
        rows[label.strip()] = int(figure.replace(",", ""))
    return rows


def records(state: Path) -> list[bytes]:
    return (state / "deadletter.ndjson").read_bytes().splitlines()


def stored(client: OpenSearch, index: str) -> list[dict[str, Any]]:
    client.indices.refresh(index=index)
    hits: list[dict[str, Any]] = client.search(index=index, body={"size": 10})["hits"]["hits"]
    return hits


def test_replay_stores_what_is_fixed_and_keeps_what_is_refused_again(
    opensearch_url: str, prefix: str, tmp_path: Path
) -> None:
    client = OpenSearch([opensearch_url])
    state = tmp_path / "state"
    assert shipper("setup", state=state, url=opensearch_url, prefix=prefix).returncode == 0
    for day in ("2030.01.01", "2030.01.03"):
        refuse_events_of(client, prefix, day)
    log = tmp_path / "mainlog"
    log.write_bytes(b"\n".join([A, B, C]) + b"\n")
    res = shipper("backfill", str(log), state=state, url=opensearch_url, prefix=prefix)
    assert res.returncode == 0, res.stderr
    dead = [orjson.loads(line) for line in records(state)]
    assert [d["document"]["event"]["original"] for d in dead] == [A.decode(), C.decode()]
    # Beside them: records of documents the cluster holds by now (B's event, A's message summary), as an
    # older version's block dead-lettered them, and a half line, which is no record and stays as it is.
    (b_hit,) = stored(client, f"{prefix}-events-2030.01.02")
    summary_hit = next(
        h for h in stored(client, f"{prefix}-messages-*") if h["_source"]["email"]["local_id"] in A.decode()
    )
    extra = [
        {"time": BEFORE, "reason": BLOCKED, "index": h["_index"], "id": h["_id"], "document": h["_source"]}
        for h in (b_hit, summary_hit)
    ]
    with (state / "deadletter.ndjson").open("ab") as fh:
        fh.write(b"".join(orjson.dumps(r) + b"\n" for r in extra) + GARBAGE + b"\n")

    fix(client, prefix, "2030.01.01")
    res = replay(opensearch_url, prefix, state)
    assert res.returncode == 1
    assert table(res.stdout) == {"replayed": 1, "already there": 2, "still refused": 1, "unreadable, kept": 1}
    assert res.stderr.strip().splitlines() == [
        f"exim-shipper: 1 dead letters still refused; they stay in {state / 'deadletter.ndjson'} with the "
        "new reason"
    ]
    (a_hit,) = stored(client, f"{prefix}-events-2030.01.01")
    assert a_hit["_id"] == dead[0]["id"] and a_hit["_source"] == dead[0]["document"]
    assert count(opensearch_url, f"{prefix}-events-*") == 2
    kept = records(state)
    assert kept[1] == GARBAGE
    again = orjson.loads(kept[0])
    assert (again["id"], again["document"]) == (dead[1]["id"], dead[1]["document"])
    assert "mapper_parsing_exception" in again["reason"] or "illegal_argument" in again["reason"]
    assert again["time"] >= dead[1]["time"]
    assert stat.S_IMODE((state / "deadletter.ndjson").stat().st_mode) == 0o600
    assert not list(state.glob("deadletter.ndjson.tmp.*"))

    # Nothing fixed since: the same record stays, once.
    res = replay(opensearch_url, prefix, state)
    assert table(res.stdout) == {"replayed": 0, "already there": 0, "still refused": 1, "unreadable, kept": 1}
    assert len(records(state)) == 2

    fix(client, prefix, "2030.01.03")
    res = replay(opensearch_url, prefix, state)
    assert res.returncode == 0, res.stderr
    assert table(res.stdout) == {"replayed": 1, "already there": 0, "still refused": 0, "unreadable, kept": 1}
    assert records(state) == [GARBAGE]
    assert count(opensearch_url, f"{prefix}-events-*") == 3


def test_replay_refuses_a_state_directory_in_use(opensearch_url: str, prefix: str, tmp_path: Path) -> None:
    (tmp_path / "deadletter.ndjson").write_bytes(b"")
    lock = lock_state_dir(tmp_path)
    try:
        res = replay(opensearch_url, prefix, tmp_path)
    finally:
        lock.release()
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "is in use by another exim-shipper" in lines[0], res.stderr
