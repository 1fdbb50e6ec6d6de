"""An in-memory cluster behind the seam (shipper.opensearch.cluster.Cluster), for unit tests.

It stores what it is sent the way a node does for the calls the shipper makes: `create` of an existing id
answers 409, `index` with `if_seq_no`/`if_primary_term` answers 409 when the stored version moved on,
a stored item's answer carries its `_seq_no` and `_primary_term`, `_mget` returns the stored sources and versions. Faults are scripted: `fault` answers single bulk items
(a 429, a cluster block, a mapping error) instead of storing them, `refuse` fails a whole request (raise a
shipper.errors.ClusterError, as the real seam does). Searches ignore their query: every document of the
matching indices is a hit, and no aggregation is computed.
"""

from __future__ import annotations

import fnmatch
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from shipper.errors import ClusterError, NotFound
from shipper.opensearch.retry import RetryPolicy


@dataclass(frozen=True, slots=True)
class Sent:
    """One bulk item as the cluster received it; `seen` counts how often its id was sent, this time included."""

    op: str
    index: str
    id: str
    doc: dict[str, Any]
    seen: int
    meta: dict[str, Any]
    """The action line's metadata (`if_seq_no`, `if_primary_term`, …)."""


@dataclass(slots=True)
class Stored:
    source: dict[str, Any]
    seq_no: int
    primary_term: int = 1


Fault = Callable[[Sent], dict[str, Any] | None]
Refusal = Callable[[bytes], ClusterError | None]


def no_wait(max_attempts: int | None = 3) -> RetryPolicy:
    """A retry policy that tries `max_attempts` times without waiting."""
    return RetryPolicy(initial_wait=0.0, max_wait=0.0, max_attempts=max_attempts)


class Watched:
    """A retry watcher (RetryPolicy.watcher) that records what the policy told it."""

    def __init__(self) -> None:
        self.throttled_n: list[int] = []
        self.failures: list[str] = []

    def failed(self, exc: BaseException) -> None:
        self.failures.append(str(exc))

    def succeeded(self) -> None:
        pass

    def throttled(self, n: int) -> None:
        self.throttled_n.append(n)


class FakeCluster:
    """The seam's four calls over dicts in memory; see the module docstring for what it models."""

    def __init__(self, fault: Fault | None = None, refuse: Refusal | None = None) -> None:
        self.fault = fault
        self.refuse = refuse
        self.indices: dict[str, dict[str, Stored]] = {}
        self.objects: dict[str, Any] = {}  # admin objects (templates, policies) by path
        self.requests: list[list[str]] = []  # the ids of each bulk request, in order
        self.sent: list[Sent] = []
        self.seen: Counter[str] = Counter()
        self._seq = 0

    # --- the seam --------------------------------------------------------------------------------

    def bulk(self, body: bytes) -> dict[str, Any]:
        lines = body.split(b"\n")[:-1]
        pairs = list(zip(lines[0::2], lines[1::2], strict=True))
        self.requests.append([next(iter(orjson.loads(a).values()))["_id"] for a, _ in pairs])
        if self.refuse is not None and (exc := self.refuse(body)) is not None:
            raise exc
        items = []
        for action, doc in pairs:
            ((op, meta),) = orjson.loads(action).items()
            self.seen[meta["_id"]] += 1
            sent = Sent(op, meta["_index"], meta["_id"], orjson.loads(doc), self.seen[meta["_id"]], meta)
            self.sent.append(sent)
            answer = self.fault(sent) if self.fault is not None else None
            if answer is None:
                answer = self._store(sent, meta)
            items.append({op: {"_index": sent.index, "_id": sent.id, **answer}})
        return {"errors": any(next(iter(i.values()))["status"] >= 300 for i in items), "items": items}

    def mget(self, docs: list[dict[str, Any]]) -> dict[str, Any]:
        found = []
        for d in docs:
            index, doc_id = d["_index"], d["_id"]
            if index not in self.indices:
                found.append({"_index": index, "_id": doc_id, "error": {"type": "index_not_found_exception"}})
                continue
            stored = self.indices[index].get(doc_id)
            if stored is None:
                found.append({"_index": index, "_id": doc_id, "found": False})
                continue
            found.append(
                {
                    "_index": index,
                    "_id": doc_id,
                    "found": True,
                    "_seq_no": stored.seq_no,
                    "_primary_term": stored.primary_term,
                    "_source": stored.source,
                }
            )
        return {"docs": found}

    def search(self, index: str, body: dict[str, Any]) -> dict[str, Any]:
        names = [n for n in self.indices if any(fnmatch.fnmatch(n, p) for p in index.split(","))]
        hits = [
            {"_index": n, "_id": i, "_source": s.source}
            for n in sorted(names)
            for i, s in self.indices[n].items()
        ]
        return {"_shards": {"total": len(names)}, "hits": {"total": {"value": len(hits)}, "hits": hits}}

    def request(
        self, method: str, path: str, *, body: Any = None, params: dict[str, Any] | None = None
    ) -> Any:
        if method == "GET" and path == "/":
            return {"version": {"distribution": "opensearch", "number": "fake"}}
        if method == "PUT":
            self.objects[path] = body
            return {"acknowledged": True}
        if path not in self.objects:
            raise NotFound(f"OpenSearch answered HTTP 404: {path}", status=404)
        return self.objects.pop(path) if method == "DELETE" else self.objects[path]

    # --- for assertions ----------------------------------------------------------------------------

    def documents(self, pattern: str = "*") -> dict[str, dict[str, Any]]:
        """The stored sources by id, over the indices matching `pattern`."""
        return {
            doc_id: s.source
            for name, docs in self.indices.items()
            if fnmatch.fnmatch(name, pattern)
            for doc_id, s in docs.items()
        }

    def _store(self, sent: Sent, meta: dict[str, Any]) -> dict[str, Any]:
        docs = self.indices.setdefault(sent.index, {})
        current = docs.get(sent.id)
        conflict = {"status": 409, "error": {"type": "version_conflict_engine_exception", "reason": "exists"}}
        if sent.op == "create" and current is not None:
            return conflict
        if "if_seq_no" in meta and (
            current is None
            or (current.seq_no, current.primary_term) != (meta["if_seq_no"], meta.get("if_primary_term"))
        ):
            return conflict
        if sent.op not in ("create", "index"):
            return {"status": 400, "error": {"type": "illegal_argument_exception", "reason": f"op {sent.op}"}}
        self._seq += 1
        docs[sent.id] = Stored(sent.doc, self._seq)
        return {"status": 201 if current is None else 200, "_seq_no": self._seq, "_primary_term": 1}
