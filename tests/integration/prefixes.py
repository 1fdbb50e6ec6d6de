"""Removing a test prefix's indices and templates, so tests never see each other's documents."""

from __future__ import annotations

from opensearchpy import OpenSearch


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
