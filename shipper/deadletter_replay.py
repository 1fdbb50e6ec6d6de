"""`deadletter replay`: dead letters sent again once their cause is fixed; what is stored leaves the file."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from shipper.checkpoints import DEADLETTER_NAME, lock_state_dir, prepare_state_dir, replace_file, why
from shipper.deadletter import DeadLetters
from shipper.errors import ClusterError, StateError
from shipper.messages import Partial, from_state, key_of
from shipper.opensearch import bulk, summaries
from shipper.opensearch.cluster import Cluster
from shipper.opensearch.connection import connect
from shipper.opensearch.documents import action_line, dumps
from shipper.opensearch.retry import RetryPolicy
from shipper.settings import Settings

CHUNK_DOCS = 1000


@dataclass(slots=True)
class ReplayReport:
    """The closing table: what the cluster took this time, had already, and still refuses."""

    path: Path
    replayed: int = 0
    already: int = 0
    refused: int = 0
    unreadable: int = 0  # lines that are not a dead-letter record: kept as they are


@dataclass(slots=True)
class _Record:
    line: int  # its place in the file, so the records kept stay in their order
    index: str
    doc_id: str
    document: dict[str, Any]
    fields: dict[str, Any]  # the whole record, rewritten with its new reason when refused again

    def summary_state(self) -> Partial | None:
        """A message summary's mergeable state: a 409 on one means merge into the stored summary."""
        state = self.document.get("exim", {}).get("merge_state")
        return from_state(state) if isinstance(state, dict) and "-messages-" in self.index else None


class _Refusals(DeadLetters):
    """Collects what the summary merge path rejects, by document id, instead of appending it to a file."""

    def __init__(self) -> None:
        super().__init__(Path())
        self.by_id: dict[str, str] = {}

    def add(self, reason: str, action: bytes, body: bytes) -> None:
        meta = next(iter(orjson.loads(action).values()))
        self.by_id[str(meta.get("_id"))] = reason


def _parse(line_no: int, line: bytes) -> _Record | None:
    try:
        rec = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(rec, dict):
        return None
    index, doc_id, document = rec.get("index"), rec.get("id"), rec.get("document")
    if not (isinstance(index, str) and isinstance(doc_id, str) and isinstance(document, dict)):
        return None
    return _Record(line_no, index, doc_id, document, rec)


def run(settings: Settings) -> ReplayReport:
    """The command: replay the state directory's dead letters, holding its lock (a shipper running on it
    is refused in one line, as it may be appending)."""
    if not (settings.state_dir / DEADLETTER_NAME).exists():
        return ReplayReport(settings.state_dir / DEADLETTER_NAME)  # nothing to replay, nothing to create
    prepare_state_dir(settings.state_dir)
    lock = lock_state_dir(settings.state_dir)
    try:
        return replay(connect(settings), settings.state_dir, RetryPolicy.from_settings(settings))
    except ClusterError as exc:
        raise exc.during("deadletter replay") from None
    finally:
        lock.release()


def replay(cluster: Cluster, state_dir: Path, policy: RetryPolicy) -> ReplayReport:
    """Send every dead letter in `state_dir` again, then rewrite the file with only what is still refused.

    The caller holds the state lock, so no shipper appends to the file meanwhile. Until every answer is
    in, the file is left as it was: a replay cut short by an outage loses nothing, and repeating it
    finds the documents it did store already there.
    """
    path = state_dir / DEADLETTER_NAME
    report = ReplayReport(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return report
    except OSError as exc:
        raise StateError(f"cannot read dead letters in {path}: {why(exc)}") from None
    kept: dict[int, bytes] = {}  # line number -> line, for what stays in the file
    records: dict[str, list[_Record]] = {}  # by id: a document dead-lettered twice is sent once
    for n, line in enumerate(raw.splitlines()):
        if not line.strip():
            continue
        rec = _parse(n, line)
        if rec is None:
            report.unreadable += 1
            kept[n] = line
            continue
        records.setdefault(rec.doc_id, []).append(rec)
    answers = _send(cluster, [recs[-1] for recs in records.values()], policy)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    for doc_id, recs in records.items():
        outcome = answers.get(doc_id)
        if isinstance(outcome, str):
            report.refused += 1  # its copies become one record, with the reason it has now
            last = recs[-1]
            kept[last.line] = orjson.dumps({**last.fields, "time": stamp, "reason": outcome})
        elif outcome is None:
            report.replayed += 1
            report.already += len(recs) - 1  # its other copies: stored now
        else:
            report.already += len(recs)
    if report.replayed or report.already or report.refused:
        _rewrite(path, b"".join(kept[n] + b"\n" for n in sorted(kept)))
    return report


_ALREADY = True  # in `_send`'s answer: the cluster had the document before the replay


def _send(cluster: Cluster, recs: list[_Record], policy: RetryPolicy) -> dict[str, str | bool]:
    """Send the records; the answer maps an id to its new reason when refused, to `_ALREADY` when it
    was there before; an id left out was stored now."""
    answer: dict[str, str | bool] = {}
    for start in range(0, len(recs), CHUNK_DOCS):
        chunk = recs[start : start + CHUNK_DOCS]
        items = [
            bulk.Item(
                action_line("create", r.index, r.doc_id),
                dumps(r.document),
                ref=r,
                merge_on_conflict=r.summary_state() is not None,
            )
            for r in chunk
        ]
        outcome = bulk.send(cluster, items, policy.tries())
        for item in outcome.existed:
            answer[item.ref.doc_id] = _ALREADY
        for item, reason in outcome.rejected:
            answer[item.ref.doc_id] = reason
        _merge(cluster, [item.ref for item in outcome.conflicts], answer, policy)
    return answer


def _merge(cluster: Cluster, recs: list[_Record], answer: dict[str, str | bool], policy: RetryPolicy) -> None:
    """Summaries already stored: merged into what is there (the one merge the shipper uses), so a
    replayed summary adds its lines' share rather than overwriting the message's later lines. One at a
    time, so that each is known to be written, refused, or held its share already (no write)."""
    for r in recs:
        state = r.summary_state()
        assert state is not None  # only summaries are sent with merge_on_conflict
        prefix = r.index.rsplit("-messages-", 1)[0]
        refusals = _Refusals()
        written = summaries.upsert(cluster, prefix, {key_of(state): state}, refusals, policy.tries())
        if refusals.by_id:
            answer.update(refusals.by_id)
        elif not written:
            answer[r.doc_id] = _ALREADY


def _rewrite(path: Path, body: bytes) -> None:
    """Replace the dead-letter file whole (tmp, fsync, rename, 0600), or leave it as it was."""
    try:
        replace_file(path, body, path.with_name(f"{path.name}.tmp.{os.getpid()}"))
    except OSError as exc:
        raise StateError(
            f"cannot rewrite dead letters in {path}: {why(exc)}; it is left as it was (a replay "
            "again finds the documents stored now already there)"
        ) from None


def render(report: ReplayReport) -> str:
    """The closing table, plain text."""
    rows = [
        ("replayed", report.replayed),
        ("already there", report.already),
        ("still refused", report.refused),
    ]
    if report.unreadable:
        rows.append(("unreadable, kept", report.unreadable))
    lines = [f"dead letters in {report.path}"]
    lines += [f"  {label:<18}{n:>9,}" for label, n in rows]
    return "\n".join(lines) + "\n"
