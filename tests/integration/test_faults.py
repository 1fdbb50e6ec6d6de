"""Faults against a real OpenSearch: a node stopped for 30 s under the sidecar, and an injecting proxy."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest
from opensearchpy import OpenSearch

from tests.integration.conftest import local_opensearch
from tests.integration.faultproxy import FaultProxy
from tests.integration.prefixes import set_up
from tests.integration.test_backfill import ROOT, command, count, generated_log
from tests.integration.test_tail import line, start, stop, wait_for


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def _rss_kib(pid: int) -> int:
    for row in Path(f"/proc/{pid}/status").read_text().splitlines():
        if row.startswith("VmRSS:"):
            return int(row.split()[1])
    return 0


@pytest.mark.skipif(
    os.environ.get("EXIM_SHIPPER_TEST_OPENSEARCH_URL") is not None,
    reason="needs a node of its own to stop and start",
)
def test_node_stopped_for_30s_while_tailing(tmp_path: Path) -> None:
    """OpenSearch stopped for 30 s under a steady writer, then started: exact counts, flat memory."""
    data = Path(tempfile.mkdtemp(prefix="exim-shipper-outage-"))
    port, tport = _port(), _port()
    url = local_opensearch.start(port, data, transport_port=tport)
    set_up(OpenSearch([url]), "outage")
    log = tmp_path / "exim_mainlog"
    log.write_bytes(b"")
    proc = start(log, tmp_path / "state", url, "outage")
    stop_writer = threading.Event()
    written = [0]

    def writer() -> None:
        with log.open("ab") as fh:
            while not stop_writer.is_set():
                fh.write(line(written[0]))
                fh.flush()
                written[0] += 1
                time.sleep(0.005)

    thread = threading.Thread(target=writer)
    try:
        thread.start()
        # The baseline is taken once the sidecar is up and shipping, not while it still starts.
        assert wait_for(url, "outage-events-*", 100) >= 100
        time.sleep(2)
        rss_before = _rss_kib(proc.pid)
        local_opensearch.stop(data)
        time.sleep(30)
        rss_during = _rss_kib(proc.pid)
        local_opensearch.start(port, data, transport_port=tport, timeout=300)
        time.sleep(3)
        stop_writer.set()
        thread.join()
        assert wait_for(url, "outage-events-*", written[0], timeout=120) == written[0]
        stop(proc)
        assert written[0] > 3000
        # Backpressure: while the node is away the sidecar stops reading instead of buffering.
        assert rss_during - rss_before < 20 * 1024, (rss_before, rss_during)
    finally:
        if proc.poll() is None:
            proc.kill()
        local_opensearch.stop(data)
        shutil.rmtree(data, ignore_errors=True)


@pytest.mark.usefixtures("set_up")
def test_fault_injecting_proxy_exact_counts(opensearch_url: str, prefix: str, tmp_path: Path) -> None:
    """20% of bulk items answered 429/503, 10% of bulk requests 503, 5% connections dropped: exact counts."""
    log, entries = generated_log(tmp_path / "mainlog.1", lines=6000, seed=11)
    with FaultProxy(opensearch_url, item_fault=0.2, request_503=0.1, drop=0.05) as proxy:
        env = {
            **os.environ,
            "EXIM_SHIPPER_BATCH_MAX_DOCS": "300",
            "EXIM_SHIPPER_BACKFILL_MAX_RETRIES": "50",
            "EXIM_SHIPPER_RETRY_INITIAL_WAIT": "0.01",
            "EXIM_SHIPPER_RETRY_MAX_WAIT": "0.2",
        }
        cmd = command("backfill", str(log), url=proxy.url, prefix=prefix, state=tmp_path / "state")
        res = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=600)
        assert res.returncode == 0, res.stderr
    assert proxy.stats["items_faulted"] > 100
    assert proxy.stats["dropped"] > 0
    assert proxy.stats["requests_503"] > 0
    assert count(opensearch_url, f"{prefix}-events-*") == entries
    assert not (tmp_path / "state" / "deadletter.ndjson").exists()
