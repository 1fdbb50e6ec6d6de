"""The /metrics endpoint: every figure read from the sidecar's Status at scrape time."""

from __future__ import annotations

import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import ValidationError

from shipper import metrics
from shipper.errors import ConfigError
from shipper.settings import Settings, split_address
from shipper.status import Status

LINE = b"2025-02-01 10:00:00 1tXaaa-00000000001-0ABC <= a@x.example U=u P=local S=1 for b@y.example\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.fixture
def status() -> Iterator[Status]:
    s = Status(clock=lambda: 1_800_000_000.0)
    yield s
    for key in list(s.files):
        s.closed(key, quietly=True)


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_a_scrape_reports_the_status(tmp_path: Path, status: Status) -> None:
    log = tmp_path / "exim_mainlog"
    log.write_bytes(LINE * 3)
    with log.open("rb") as fh:
        status.opened("1:2", str(log), fh.fileno(), 0, None)
    for n in (1, 2, 3):
        status.read("1:2", n * len(LINE))
    status.counted({("1:2", "indexed"): 2, ("1:2", "dead_lettered"): 1, (None, "summaries"): 2})
    status.acked("1:2", 2 * len(LINE))
    status.throttled(4)
    for seconds in (0.003, 0.04, 0.04, 7.0):
        status.bulk_took(seconds)
    status.measure()

    port = free_port()
    server, _ = metrics.serve(f"127.0.0.1:{port}", status)
    try:
        got = scrape(port)
        status.counted({("1:2", "already"): 5})
        again = scrape(port)  # read afresh at every scrape
    finally:
        server.shutdown()
        server.server_close()
    entries = "exim_shipper_entries_total"
    assert got[(entries, (("outcome", "read"), ("stage", "read")))] == 3
    assert got[(entries, (("outcome", "indexed"), ("stage", "index")))] == 2
    assert got[(entries, (("outcome", "already"), ("stage", "index")))] == 0
    assert got[(entries, (("outcome", "dead_lettered"), ("stage", "index")))] == 1
    assert again[(entries, (("outcome", "already"), ("stage", "index")))] == 5
    assert got[("exim_shipper_summaries_written_total", ())] == 2
    assert got[("exim_shipper_retries_total", (("reason", "throttled"),))] == 4
    assert got[("exim_shipper_retries_total", (("reason", "unreachable"),))] == 0
    assert got[("exim_shipper_bulk_request_seconds_count", ())] == 4
    assert got[("exim_shipper_bulk_request_seconds_sum", ())] == pytest.approx(7.083)
    assert got[("exim_shipper_bulk_request_seconds_bucket", (("le", "0.005"),))] == 1
    assert got[("exim_shipper_bulk_request_seconds_bucket", (("le", "0.05"),))] == 3
    assert got[("exim_shipper_bulk_request_seconds_bucket", (("le", "5.0"),))] == 3
    assert got[("exim_shipper_bulk_request_seconds_bucket", (("le", "+Inf"),))] == 4
    file = (("file", str(log)), ("rotated", "false"))
    assert got[("exim_shipper_backlog_bytes", ())] == len(LINE)
    assert got[("exim_shipper_file_backlog_bytes", file)] == len(LINE)
    assert got[("exim_shipper_last_ack_timestamp_seconds", file)] == 1_800_000_000.0
    assert got[("exim_shipper_file_lag_seconds", file)] == 0.0  # read just now (the fixed clock)
    assert got[("exim_shipper_cluster_up", ())] == 1
    assert got[("exim_shipper_info", (("version", "0.1.0"),))] == 1
    assert got[("process_resident_memory_bytes", ())] > 1 << 20  # what the sidecar costs its host


def test_addresses_are_checked_and_a_busy_port_is_one_line(status: Status) -> None:
    assert split_address("127.0.0.1:9108") == ("127.0.0.1", 9108)
    assert split_address("[::1]:9108") == ("::1", 9108)
    assert split_address(":9108") == ("0.0.0.0", 9108)
    for bad in ("9108", "host:", "host:0", "host:70000", "host:port"):
        with pytest.raises(ValidationError, match="expected HOST:PORT"):
            Settings(metrics_address=bad)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(
            ConfigError,
            match=rf"^metrics_address 127.0.0.1:{port}: cannot listen \(Address already in use\)$",
        ):
            metrics.serve(f"127.0.0.1:{port}", status)
