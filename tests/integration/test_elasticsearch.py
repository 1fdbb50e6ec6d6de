"""Setup and backfill against a real Elasticsearch: shared templates, exact counts, our mappings stored."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import local_elasticsearch  # tools/ is on sys.path: pytest loads tests/integration/conftest.py first
import orjson
import pytest
from opensearchpy import OpenSearch
from opensearchpy import exceptions as os_exc

from shipper.opensearch.provision import TEMPLATES
from tests.integration.conftest import _free_port
from tests.integration.setup_failures import unavailable
from tests.integration.test_backfill import (
    SAMPLE,
    count,
    local_summaries,
    shipper,
    summaries,
    table_row,
)


@pytest.fixture(scope="module")
def elasticsearch_url() -> Iterator[str]:
    """EXIM_SHIPPER_TEST_ELASTICSEARCH_URL if given, else a node of our own on free loopback ports."""
    given = os.environ.get("EXIM_SHIPPER_TEST_ELASTICSEARCH_URL")
    if given:
        yield given
        return
    try:
        local_elasticsearch.distribution()
    except (OSError, subprocess.CalledProcessError) as exc:
        unavailable(f"cannot fetch {local_elasticsearch.ARTIFACT} with mvn: {exc}")
    data = Path(tempfile.mkdtemp(prefix="exim-shipper-elasticsearch-"))
    try:
        yield local_elasticsearch.start(_free_port(), data, transport_port=_free_port(), timeout=300)
    except SystemExit as exc:  # the launcher's "did not become healthy" with the log tail
        pytest.fail(str(exc))
    finally:
        local_elasticsearch.stop(data)
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture
def es_prefix(request: pytest.FixtureRequest, elasticsearch_url: str) -> Iterator[str]:
    """A fresh index prefix per test; its indices, templates and any ILM policy are removed afterwards."""
    name = "tes-" + request.node.name.lower().replace("_", "-")[:40]
    yield name
    client = OpenSearch([elasticsearch_url])
    # Elasticsearch 8 refuses wildcard deletes (action.destructive_requires_name): name each index.
    indices = list(client.indices.get(index=f"{name}-*", ignore_unavailable=True))
    if indices:
        client.indices.delete(index=",".join(indices))
    paths = [f"/_index_template/{name}-{kind}" for kind in ("events", "messages")]
    paths += [f"/_component_template/{name}-{kind}" for kind in ("ecs-base", "events", "messages")]
    paths += [f"/_ilm/policy/{name}-events"] if has_ilm(elasticsearch_url) else []
    for path in paths:
        client.transport.perform_request("DELETE", path, params={"ignore": 404})


def has_ilm(url: str) -> bool:
    """Asked of the cluster directly, not of the code under test."""
    try:
        OpenSearch([url]).transport.perform_request("GET", "/_ilm/status")
    except os_exc.TransportError:
        return False
    return True


def fields(properties: dict[str, Any], parent: str = "") -> dict[str, str]:
    """Every mapped path (sub-fields included) with its type, flattened for comparison."""
    out: dict[str, str] = {}
    for name, spec in properties.items():
        path = f"{parent}{name}"
        out[path] = spec.get("type", "object")
        out.update(fields(spec.get("properties", {}), f"{path}."))
        out.update({f"{path}.{sub}": s["type"] for sub, s in spec.get("fields", {}).items()})
    return out


def template_fields(kind: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for name in ("ecs-base", kind):
        body = orjson.loads((TEMPLATES / "component" / f"{name}.json").read_bytes())
        out.update(fields(body["template"]["mappings"]["properties"]))
    return out


def test_setup_installs_templates_idempotently(
    elasticsearch_url: str, es_prefix: str, tmp_path: Path
) -> None:
    """Component and index templates created, then unchanged; ILM installed if the cluster has it, else skipped."""
    first = shipper("setup", state=tmp_path, url=elasticsearch_url, prefix=es_prefix)
    assert first.returncode == 0, first.stderr
    for kind in ("ecs-base", "events", "messages"):
        assert f"component template {es_prefix}-{kind}: created" in first.stdout
    for kind in ("events", "messages"):
        assert f"index template {es_prefix}-{kind}: created" in first.stdout
    ilm = (
        "created" if has_ilm(elasticsearch_url) else "skipped (the cluster has no index lifecycle management)"
    )
    assert f"ILM policy {es_prefix}-events: {ilm}" in first.stdout
    second = shipper("setup", state=tmp_path, url=elasticsearch_url, prefix=es_prefix)
    assert second.returncode == 0, second.stderr
    assert second.stdout.count(": unchanged") == (6 if has_ilm(elasticsearch_url) else 5), second.stdout
    assert "created" not in second.stdout
    assert "updated" not in second.stdout


def test_backfill_exact_counts_and_our_mappings(
    elasticsearch_url: str, es_prefix: str, tmp_path: Path
) -> None:
    """24 events and 4 summaries from the sample; the same file again, even from a fresh state, adds 0."""
    setup = shipper("setup", state=tmp_path, url=elasticsearch_url, prefix=es_prefix)
    assert setup.returncode == 0, setup.stderr
    res = shipper("backfill", str(SAMPLE), state=tmp_path, url=elasticsearch_url, prefix=es_prefix)
    assert res.returncode == 0, res.stderr
    assert count(elasticsearch_url, f"{es_prefix}-events-*") == 24
    stored = summaries(elasticsearch_url, es_prefix)
    assert set(stored) == set(local_summaries(SAMPLE))
    assert len(stored) == 4
    assert stored["1tgXKW-00000000aBc-0Bb2"]["exim"]["state"] == "bounced"

    fresh = tmp_path / "fresh-state"
    again = shipper("backfill", str(SAMPLE), state=fresh, url=elasticsearch_url, prefix=es_prefix)
    assert again.returncode == 0, again.stderr
    row = table_row(again.stderr, SAMPLE.name)
    assert row == ["24", "0", "24", "0", "0"]  # entries, indexed, already there, dead, summaries written
    assert count(elasticsearch_url, f"{es_prefix}-events-*") == 24
    assert len(summaries(elasticsearch_url, es_prefix)) == 4
    assert not (tmp_path / "deadletter.ndjson").exists()

    client = OpenSearch([elasticsearch_url])
    for kind in ("events", "messages"):
        mappings = client.indices.get_mapping(index=f"{es_prefix}-{kind}-*")
        assert mappings, kind
        for index, body in mappings.items():
            assert body["mappings"]["dynamic"] == "false", index
            assert fields(body["mappings"]["properties"]) == template_fields(kind), index
    settings = client.indices.get_settings(index=f"{es_prefix}-messages-*")
    for index, body in settings.items():
        assert body["settings"]["index"]["mapping"]["nested_objects"]["limit"] == "50000", index


def test_free_text_greps_the_raw_line(elasticsearch_url: str, es_prefix: str, tmp_path: Path) -> None:
    """The same templates give Elasticsearch `message` (copy_to) and the field-less default to search it."""
    from tests.integration.test_free_text import backfill, discover, found_lines, grep

    client = backfill(tmp_path, elasticsearch_url, es_prefix)
    for text, needle in [
        ("Completed", "Completed"),
        ('"end of data"', "end of data"),
        ('"1rjc3O-0004Zx-2V"', "1rjc3O-0004Zx-2V"),
        ("quux*", "quuxfilter"),
    ]:
        assert found_lines(client, es_prefix, discover(text)) == grep(needle), text
    hits = client.search(index=f"{es_prefix}-events-*", body={"query": {"match_all": {}}})["hits"]["hits"]
    assert hits and all("message" not in hit["_source"] for hit in hits)
