"""Bulk requests: one NDJSON body in, one outcome per item out; per-item retries of 429/503 only."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from opensearchpy import OpenSearch
from opensearchpy import exceptions as os_exc

from shipper.errors import OpenSearchUnavailable
from shipper.opensearch import retry

_FILTER = "errors,items.*.status,items.*._id,items.*.error.type,items.*.error.reason"


@dataclass(slots=True)
class Item:
    """One bulk item: its action line and body, kept as bytes so retries re-send them unchanged."""

    action: bytes
    body: bytes
    ref: Any = None  # the caller's handle (e.g. a message key) carried back with the outcome
    merge_on_conflict: bool = False
    """A 409 means "read, merge and write again" (summaries), not "already there" (events)."""


@dataclass(slots=True)
class Outcome:
    """Per-item result: delivered, already there (409), to merge (409), or rejected with the reason."""

    delivered: list[Item] = field(default_factory=list)
    existed: list[Item] = field(default_factory=list)
    conflicts: list[Item] = field(default_factory=list)
    rejected: list[tuple[Item, str]] = field(default_factory=list)


def send(
    client: OpenSearch,
    items: list[Item],
    *,
    max_attempts: int | None,
    timed: Callable[[float], None] | None = None,
) -> Outcome:
    """Send items until each is delivered or rejected; transient item failures (throttling, a cluster
    block) are retried alone, and a request refused for its size is split in halves until it fits (one
    document that alone is too large is rejected with that reason).
    `timed` is told how long each answered request took."""
    outcome = Outcome()
    pending = items
    attempt = 0
    while pending:
        body = b"".join(i.action + b"\n" + i.body + b"\n" for i in pending)

        def request(b: bytes = body) -> dict[str, Any]:
            began = time.monotonic()
            result: dict[str, Any] = client.bulk(body=b, filter_path=_FILTER)
            if timed is not None:
                timed(time.monotonic() - began)
            return result

        try:
            resp = retry.call(request, max_attempts)
        except os_exc.TransportError as exc:
            if not retry.too_large(exc):
                raise
            _split(client, pending, len(body), exc, outcome, max_attempts=max_attempts, timed=timed)
            return outcome
        retry_items: list[Item] = []
        for item, result in zip(pending, resp.get("items", []), strict=True):
            res = next(iter(result.values()))
            status = res.get("status", 0)
            if status < 300:
                outcome.delivered.append(item)
            elif status == 409:
                (outcome.conflicts if item.merge_on_conflict else outcome.existed).append(item)
            elif status in retry.RETRYABLE_STATUS or res.get("error", {}).get("type") in retry.BLOCK_TYPES:
                retry_items.append(item)
            else:
                err = res.get("error", {})
                outcome.rejected.append(
                    (item, f"HTTP {status} {err.get('type', '')}: {err.get('reason', '')}")
                )
        attempt += 1
        if retry_items and max_attempts is not None and attempt >= max_attempts:
            # Throttling is not a rejection: never dead-letter it; the caller keeps its checkpoint.
            raise OpenSearchUnavailable(
                f"{len(retry_items)} documents still throttled (429/503) or blocked (index write block, "
                "disk flood stage) after retries"
            )
        if retry_items:
            if retry.WATCHER is not None:
                retry.WATCHER.throttled(len(retry_items))
            retry.sleep(retry.backoff(attempt))
        pending = retry_items
    return outcome


def _split(
    client: OpenSearch,
    items: list[Item],
    size: int,
    exc: os_exc.TransportError,
    outcome: Outcome,
    *,
    max_attempts: int | None,
    timed: Callable[[float], None] | None,
) -> None:
    if len(items) == 1:
        item = items[0]
        outcome.rejected.append(
            (item, f"HTTP {exc.status_code} request too large: one document of {size} bytes")
        )
        return
    half = len(items) // 2
    for part in (items[:half], items[half:]):
        got = send(client, part, max_attempts=max_attempts, timed=timed)
        outcome.delivered += got.delivered
        outcome.existed += got.existed
        outcome.conflicts += got.conflicts
        outcome.rejected += got.rejected
