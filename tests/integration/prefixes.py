"""A test prefix's templates: installed as `exim-shipper setup` does, and removed with its indices, so
tests never see each other's documents."""

from __future__ import annotations

from opensearchpy import OpenSearch

from shipper.opensearch import provision
from shipper.opensearch.connection import OpenSearchCluster


def set_up(client: OpenSearch, prefix: str) -> None:
    """What an admin's `exim-shipper setup` does centrally before any server ships (run and backfill
    only check for the templates)."""
    provision.setup(OpenSearchCluster(client), prefix, "30d")


def drop(client: OpenSearch, prefix: str) -> None:
    client.indices.delete(index=f"{prefix}-*", ignore_unavailable=True)
    for kind in ("events", "messages"):
        client.transport.perform_request(
            "DELETE", f"/_index_template/{prefix}-{kind}", params={"ignore": 404}
        )
    for kind in ("ecs-base", "events", "messages"):
        client.transport.perform_request(
            "DELETE", f"/_component_template/{prefix}-{kind}", params={"ignore": 404}
        )
