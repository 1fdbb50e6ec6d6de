"""A real OpenSearch node for the integration tests: started once per session, stopped afterwards."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from opensearchpy import OpenSearch

from tests.integration.prefixes import drop as drop_prefix
from tests.integration.prefixes import set_up as set_up_prefix

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

import local_opensearch  # noqa: E402 - tools/ is a folder of scripts


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.fixture(scope="session")
def opensearch_url() -> Iterator[str]:
    """EXIM_SHIPPER_TEST_OPENSEARCH_URL if given, else a node of our own on a free loopback port."""
    given = os.environ.get("EXIM_SHIPPER_TEST_OPENSEARCH_URL")
    if given:
        yield given
        return
    # Not under pytest's tmp root (mode 700): as root the node runs as a service user that must reach it.
    data = Path(tempfile.mkdtemp(prefix="exim-shipper-opensearch-"))
    try:
        yield local_opensearch.start(_free_port(), data, transport_port=_free_port(), timeout=300)
    finally:
        local_opensearch.stop(data)
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture
def prefix(request: pytest.FixtureRequest, opensearch_url: str) -> Iterator[str]:
    """A fresh index prefix per test, removed afterwards, so tests never see each other's documents."""
    name = "t" + request.node.name.lower().replace("[", "-").replace("]", "").replace("_", "-")[:40]
    client = OpenSearch([opensearch_url])
    yield name
    drop_prefix(client, name)


@pytest.fixture
def set_up(opensearch_url: str, prefix: str) -> str:
    """The test prefix with its templates installed, as `setup` leaves a cluster before servers ship."""
    set_up_prefix(OpenSearch([opensearch_url]), prefix)
    return prefix


CHILDREN: list[subprocess.Popen[bytes]] = []


@pytest.fixture(autouse=True)
def _reap_children() -> Iterator[None]:
    """A shipper a failed test left running would go on loading the machine and fail the tests after it."""
    yield
    while CHILDREN:
        proc = CHILDREN.pop()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
