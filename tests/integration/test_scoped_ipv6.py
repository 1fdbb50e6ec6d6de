"""Scoped IPv6 addresses (`fe80::1%eth0`) on a real node: the core keeps the scope in `ip` fields (as
Python's `ipaddress` reads them), and OpenSearch's `ip` type takes them, indexing the address alone."""

from __future__ import annotations

from typing import Any

import orjson
from opensearchpy import OpenSearch

from tests.parsing import read, stored

LOG = (
    "2025-07-01 10:00:00 1tXaaa-000001-AB <= a@b.example H=(helo) [fe80::1%eth0]:25 P=esmtp S=100\n"
    "2025-07-01 10:00:01 1tXaaa-000001-AB => c@d.example R=r T=remote_smtp H=mx.d.example [fe80::2%eth1]\n"
    "2025-07-01 10:00:02 1tXaaa-000001-AB Completed\n"
)


def _bulk(client: OpenSearch, index: str, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    lines = []
    for doc in docs:
        lines += [orjson.dumps({"create": {"_index": index}}), orjson.dumps(doc)]
    answer = client.bulk(body=b"\n".join(lines) + b"\n", refresh=True)
    return [item["create"] for item in answer["items"]]


def _count(client: OpenSearch, index: str, field: str, value: str) -> int:
    found: int = client.count(index=index, body={"query": {"term": {field: value}}})["count"]
    return found


def test_scoped_addresses_are_taken_by_ip_fields(opensearch_url: str, set_up: str) -> None:
    client = OpenSearch([opensearch_url])
    docs = read(LOG).docs
    assert docs[0]["source"]["ip"] == "fe80::1%eth0", "the core writes the scope"
    assert docs[1]["destination"]["ip"] == "fe80::2%eth1"
    events = f"{set_up}-events-2025.07.01"
    assert [item["status"] for item in _bulk(client, events, docs)] == [201] * 3
    # Indexed without the scope: the bare address finds it, and so does the scoped text.
    assert _count(client, events, "source.ip", "fe80::1") == 1
    assert _count(client, events, "source.ip", "fe80::1%eth0") == 1
    assert _count(client, events, "destination.ip", "fe80::2") == 1
    assert _count(client, events, "related.ip", "fe80::1") == 1
    got = client.search(index=events, body={"query": {"term": {"source.ip": "fe80::1"}}})
    assert got["hits"]["hits"][0]["_source"]["source"]["ip"] == "fe80::1%eth0", "_source keeps it"

    (summary,) = stored(LOG, max_open=10)
    messages = f"{set_up}-messages-2025.07"
    assert [item["status"] for item in _bulk(client, messages, [summary])] == [201]
    assert _count(client, messages, "source.ip", "fe80::1") == 1
    nested = {"nested": {"path": "exim.recipients", "query": {"term": {"exim.recipients.ip": "fe80::2"}}}}
    assert client.count(index=messages, body={"query": nested})["count"] == 1
