"""The sidecar against a real node: /metrics, status.json (health) and the stats line agree with what was
shipped, including entries already there after the checkpoints were lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.test_backfill import ROOT, command
from tests.integration.test_tail import line, wait_for
from tests.unit.test_sidecar_logs import free_port


def start(log: Path, state: Path, url: str, prefix: str, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "EXIM_SHIPPER_BATCH_MAX_AGE": "0.3",
        "EXIM_SHIPPER_SCAN_INTERVAL": "0.2",
        "EXIM_SHIPPER_STATS_INTERVAL": "1",
    }
    cmd = command("run", str(log), url=url, prefix=prefix, state=state)
    cmd += ["--metrics-address", f"127.0.0.1:{port}", "--log-format", "json"]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def settled(
    port: int, key: tuple[str, tuple[tuple[str, str], ...]], want: float
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Scrape until `key` reaches `want` (acknowledgement lands just after the documents are searchable)."""
    deadline = time.monotonic() + 30
    got: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    while got.get(key) != want and time.monotonic() < deadline:
        time.sleep(0.2)
        try:
            got = scrape(port)
        except OSError:  # the process is still starting: not listening yet
            continue
    return got


def entries(outcome: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return (
        "exim_shipper_entries_total",
        (("outcome", outcome), ("stage", "read" if outcome == "read" else "index")),
    )


def health(state: Path) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "shipper", "health", "--state-dir", str(state)]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)


def stop(proc: subprocess.Popen[bytes]) -> list[dict[str, object]]:
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return [orjson.loads(x) for x in err.decode().splitlines()]


@pytest.mark.usefixtures("set_up")
def test_metrics_status_and_stats_equal_the_lines_shipped(
    opensearch_url: str, prefix: str, tmp_path: Path
) -> None:
    log, state = tmp_path / "exim_mainlog", tmp_path / "state"
    log.write_bytes(b"".join(line(i) for i in range(30)))
    port = free_port()
    proc = start(log, state, opensearch_url, prefix, port)
    try:
        with log.open("ab") as fh:
            for i in range(30, 75):
                fh.write(line(i))
                fh.flush()
                time.sleep(0.01)
        assert wait_for(opensearch_url, f"{prefix}-events-*", 75) == 75
        got = settled(port, ("exim_shipper_backlog_bytes", ()), 0)
        assert got[entries("read")] == 75
        assert got[entries("indexed")] == 75
        assert got[entries("already")] == 0
        assert got[entries("dead_lettered")] == 0
        assert got[("exim_shipper_summaries_written_total", ())] == 75  # one message per line
        assert got[("exim_shipper_bulk_request_seconds_count", ())] >= 1
        assert got[("exim_shipper_cluster_up", ())] == 1
        file = (("file", str(log)), ("rotated", "false"))
        assert got[("exim_shipper_file_backlog_bytes", file)] == 0
        assert time.time() - got[("exim_shipper_last_ack_timestamp_seconds", file)] < 30

        snap = orjson.loads((state / "status.json").read_bytes())  # what health reads: the same figures
        assert snap["totals"]["indexed"] == 75
        assert snap["totals"]["read"] == 75
        ok = health(state)
        assert (ok.returncode, ok.stdout) == (0, "ok: 1 file(s) followed, all shipped\n"), ok.stderr
        time.sleep(1.2)  # one more stats line
    finally:
        docs = stop(proc)
    stats = [d for d in docs if str(d["message"]).startswith("stats: ")]
    assert stats, docs
    assert stats[-1]["counts"] == {
        "read": 75,
        "indexed": 75,
        "already": 0,
        "dead_lettered": 0,
        "summaries": 75,
    }
    assert stats[-1]["files"] == [{"file": str(log), "lag_bytes": 0, "lag_seconds": 0.0}]

    (state / "registry.json").unlink()  # checkpoints lost: everything is read again, and is already there
    port = free_port()
    proc = start(log, state, opensearch_url, prefix, port)
    try:
        got = settled(port, entries("already"), 75)
        assert got[entries("read")] == 75
        assert got[entries("indexed")] == 0
        assert got[entries("already")] == 75
    finally:
        stop(proc)
