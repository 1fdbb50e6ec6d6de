"""The ISM retention policy on a real OpenSearch: skipped without the plugin, managed idempotently with it.

The node CI starts (the integ-test distribution) has no index-management plugin, and that plugin's zip
is not on Maven Central (index_templates/README.md), so CI proves the skip path. The tests that need the
plugin run when EXIM_SHIPPER_TEST_OPENSEARCH_URL names a cluster that has it, e.g. a node started with
`tools/local_opensearch.py start --plugin org.opensearch.plugin:opensearch-job-scheduler --plugin <zip>`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opensearchpy import OpenSearch

from tests.integration.test_backfill import SAMPLE, count, shipper


def has_ism(url: str) -> bool:
    plugins = OpenSearch([url]).transport.perform_request("GET", "/_cat/plugins", params={"format": "json"})
    return any(p.get("component") == "opensearch-index-management" for p in plugins)


@pytest.fixture
def ism(opensearch_url: str, prefix: str) -> Iterator[OpenSearch]:
    """A client for a cluster with ISM (else the test is skipped); the test's policy is removed afterwards."""
    if not has_ism(opensearch_url):
        pytest.skip("the cluster has no index-management plugin (not on Maven Central)")
    client = OpenSearch([opensearch_url])
    yield client
    client.transport.perform_request(
        "DELETE", f"/_plugins/_ism/policies/{prefix}-events", params={"ignore": 404}
    )


def test_without_ism_setup_installs_the_rest_and_says_skipped(
    opensearch_url: str, prefix: str, tmp_path: Path
) -> None:
    if has_ism(opensearch_url):
        pytest.skip("the cluster has the index-management plugin: the skip path does not apply")
    res = shipper("setup", state=tmp_path, url=opensearch_url, prefix=prefix)
    assert res.returncode == 0, res.stderr
    assert f"ISM policy {prefix}-events: skipped (the cluster has no index-management plugin)" in res.stdout
    client = OpenSearch([opensearch_url])
    for kind in ("events", "messages"):
        got = client.transport.perform_request("GET", f"/_index_template/{prefix}-{kind}")
        assert got["index_templates"][0]["index_template"]["composed_of"][-1] == f"{prefix}-{kind}"


def _policy(client: OpenSearch, name: str) -> dict[str, Any]:
    got: dict[str, Any] = client.transport.perform_request("GET", f"/_plugins/_ism/policies/{name}")
    return got["policy"]


def test_ism_policy_created_unchanged_then_updated_on_new_retention(
    ism: OpenSearch, opensearch_url: str, prefix: str, tmp_path: Path
) -> None:
    name = f"{prefix}-events"

    def setup(retention: str) -> str:
        res = shipper("setup", "--retention", retention, state=tmp_path, url=opensearch_url, prefix=prefix)
        assert res.returncode == 0, res.stderr
        return next(line for line in res.stdout.splitlines() if line.startswith("ISM policy"))

    assert setup("30d") == f"ISM policy {name}: created"
    assert setup("30d") == f"ISM policy {name}: unchanged"
    policy = _policy(ism, name)
    assert policy["states"][0]["transitions"][0]["conditions"]["min_index_age"] == "30d"
    assert policy["ism_template"][0]["index_patterns"] == [f"{prefix}-events-*"]
    assert setup("7d") == f"ISM policy {name}: updated"
    assert _policy(ism, name)["states"][0]["transitions"][0]["conditions"]["min_index_age"] == "7d"
    assert setup("7d") == f"ISM policy {name}: unchanged"


def test_new_events_index_gets_the_policy(
    ism: OpenSearch, opensearch_url: str, prefix: str, tmp_path: Path
) -> None:
    assert shipper("setup", state=tmp_path, url=opensearch_url, prefix=prefix).returncode == 0
    res = shipper("backfill", str(SAMPLE), state=tmp_path, url=opensearch_url, prefix=prefix)
    assert res.returncode == 0, res.stderr
    assert count(opensearch_url, f"{prefix}-events-*") == 24
    index = f"{prefix}-events-2025.01.31"
    # ISM attaches policies to new indices asynchronously (its coordinator reacts to the cluster change).
    deadline = time.monotonic() + 30
    while True:
        explain = ism.transport.perform_request("GET", f"/_plugins/_ism/explain/{index}")[index]
        attached = explain.get("index.plugins.index_state_management.policy_id") or explain.get("policy_id")
        if attached or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert attached == f"{prefix}-events", explain
