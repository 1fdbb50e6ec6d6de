"""Documents to bulk actions: index names from the documents' own times, and deterministic ids."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import orjson

from shipper.messages import Partial, id_time, summary, to_state


def dumps(obj: Any) -> bytes:
    """orjson.dumps, trimmed: orjson hands back its whole growth buffer (at least 4 KiB, even for a
    40-byte action line), and a batch keeps thousands of these alive."""
    return bytes(memoryview(orjson.dumps(obj)))


def event_index(prefix: str, doc: dict[str, Any]) -> str:
    """`<prefix>-events-YYYY.MM.DD` from the event's @timestamp (undatable entries: `-undated`)."""
    ts = doc.get("@timestamp")
    if not ts:
        return f"{prefix}-events-undated"
    return f"{prefix}-events-{ts[0:4]}.{ts[5:7]}.{ts[8:10]}"


def event_id(
    server: str, data: bytes, occurrence: int, dataset: str = "exim.main", *, second_pass: bool = False
) -> str:
    """A content id: the same entry yields the same id from the live file and from its rotated copy.

    `occurrence` tells apart byte-identical entries written in the same second, and `second_pass` those
    written in the same local second an hour apart, in the repeated hour of a DST fall-back. A reject-log
    or panic-log entry often has the very bytes of its main-log line; the dataset in the hash keeps them
    two documents, so which one the index holds never depends on which file was shipped first (the
    report counts the main log's only). Main-log ids are unchanged by it.
    """
    h = hashlib.blake2b(digest_size=15)
    h.update(server.encode())
    h.update(b"\0")
    h.update(data)
    h.update(b"\0%d" % occurrence)
    if dataset != "exim.main":
        h.update(b"\0" + dataset.encode())
    if second_pass:
        # Only then: every other id stays what it always was, so nothing stored before is re-sent.
        h.update(b"\0dst-second-pass")
    return base64.urlsafe_b64encode(h.digest()).decode()


def message_index(prefix: str, local_id: str) -> str:
    """`<prefix>-messages-YYYY.MM` by the arrival month encoded in the id, stable for the message."""
    ts = id_time(local_id)
    month = f"{ts[0:4]}.{ts[5:7]}" if ts else "undated"
    return f"{prefix}-messages-{month}"


def message_id(server: str, local_id: str) -> str:
    return base64.urlsafe_b64encode(
        hashlib.blake2b(f"{server}\0{local_id}".encode(), digest_size=15).digest()
    ).decode()


def summary_body(p: Partial) -> bytes:
    """The stored summary: the readable document plus the mergeable state it was derived from."""
    doc = summary(p)
    doc["exim"]["merge_state"] = to_state(p)
    return dumps(doc)


def action_line(op: str, index: str, doc_id: str, **extra: Any) -> bytes:
    meta: dict[str, Any] = {"_index": index, "_id": doc_id, **extra}
    return dumps({op: meta})
