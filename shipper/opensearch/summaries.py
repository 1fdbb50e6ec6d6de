"""Message-summary upserts: read the stored mergeable state, merge, write back with optimistic locking."""

from __future__ import annotations

from typing import Any

from opensearchpy import OpenSearch

from shipper.deadletter import DeadLetters
from shipper.errors import OpenSearchUnavailable
from shipper.messages import Partial, from_state, key_of, merge
from shipper.opensearch import bulk, retry
from shipper.opensearch.documents import action_line, message_id, message_index, summary_body

MAX_ROUNDS = 20


def upsert(
    client: OpenSearch, prefix: str, parts: list[Partial], dead: DeadLetters, *, max_attempts: int | None
) -> int:
    """Merge `parts` into the stored summaries; returns how many summary documents were written.

    Equivalent to a scripted upsert but with the one merge implementation (shipper.messages): a
    concurrent writer makes our write fail with 409, and that message is simply read and merged again.
    """
    pending: dict[tuple[str, str], Partial] = {}
    for p in parts:
        key = key_of(p)
        pending[key] = merge(pending[key], p) if key in pending else p
    written = 0
    for _ in range(MAX_ROUNDS):
        if not pending:
            return written
        keys = list(pending)
        targets = [(message_index(prefix, i), message_id(s, i)) for s, i in keys]
        docs = [
            {"_index": ix, "_id": did, "_source": {"includes": ["exim.merge_state"]}} for ix, did in targets
        ]

        def request(d: list[dict[str, Any]] = docs) -> dict[str, Any]:
            result: dict[str, Any] = client.mget(body={"docs": d})
            return result

        resp = retry.call(request, max_attempts)
        items: list[bulk.Item] = []
        retry_keys: list[tuple[str, str]] = []
        for key, (ix, did), found in zip(keys, targets, resp["docs"], strict=True):
            new = pending[key]
            if found.get("found"):
                stored = found.get("_source", {}).get("exim", {}).get("merge_state")
                merged = merge(from_state(stored), new) if stored else new
                if stored and merged == from_state(stored):
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
            items.append(bulk.Item(action, summary_body(merged), ref=key))
        outcome = bulk.send(client, items, max_attempts=max_attempts, conflict_is_delivered=False)
        written += len(outcome.delivered)
        for item, reason in outcome.rejected:
            dead.add(reason, item.action, item.body)
        again = [item.ref for item in outcome.conflicts] + retry_keys
        pending = {k: pending[k] for k in again}
    raise OpenSearchUnavailable(
        f"{len(pending)} message summaries kept conflicting after {MAX_ROUNDS} rounds"
    )
