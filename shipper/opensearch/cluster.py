"""The cluster seam: the few calls the shipper makes to OpenSearch (or Elasticsearch), as one interface.

Everything past this interface raises only the errors of shipper.errors: ClusterError's subclasses, with
OpenSearchUnavailable meaning "worth another try". `shipper.opensearch.connection.OpenSearchCluster` is the
one implementation over opensearch-py (the only module that imports it); tests/fakes/cluster.py is an
in-memory one for unit tests. One call is one request: retrying is the caller's (shipper.opensearch.retry).
"""

from __future__ import annotations

from typing import Any, Protocol


class Cluster(Protocol):
    """One request per call; library errors arrive as shipper.errors.ClusterError subclasses."""

    def bulk(self, body: bytes) -> dict[str, Any]:
        """One `_bulk` request of NDJSON bytes, sent as they are. The answer keeps `errors` and, per item,
        its operation's `status`, `_id` and `error.type` / `error.reason`; RequestTooLarge when the cluster
        refuses the request for its size."""
        ...

    def mget(self, docs: list[dict[str, Any]]) -> dict[str, Any]:
        """One `_mget` of `docs` (`{"_index", "_id", "_source"}` each): `{"docs": [...]}` in their order."""
        ...

    def search(self, index: str, body: dict[str, Any]) -> dict[str, Any]:
        """One search over `index` (a pattern or a comma-separated list); missing indices are no error, so
        `_shards.total == 0` says none matched."""
        ...

    def request(
        self, method: str, path: str, *, body: Any = None, params: dict[str, str] | None = None
    ) -> Any:
        """An administrative call by path (`GET /`, templates, lifecycle policies, mappings, a document's
        `DELETE`): the decoded answer; NotFound for HTTP 404."""
        ...
