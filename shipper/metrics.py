"""Prometheus metrics on `metrics_address`: the sidecar's Status, read afresh at every scrape."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, ProcessCollector, start_http_server
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from shipper.errors import ConfigError
from shipper.settings import split_address
from shipper.status import LATENCY_BUCKETS, Status

# (stage, outcome) of each entry counter: read from a log, then one outcome of the bulk index request.
_STAGES = {"read": "read", "indexed": "index", "already": "index", "dead_lettered": "index"}


class StatusCollector(Collector):
    """Metrics made from one snapshot of the Status, so a scrape is consistent with itself and with the
    stats line and status.json (no second set of counters to drift from them)."""

    def __init__(self, status: Status) -> None:
        self.status = status

    def collect(self) -> Iterator[Metric]:
        snap = self.status.snapshot()
        info = InfoMetricFamily("exim_shipper", "The shipper's version.")
        info.add_metric([], {"version": snap["version"]})
        yield info
        entries = CounterMetricFamily(
            "exim_shipper_entries", "Log entries by stage and outcome.", labels=["stage", "outcome"]
        )
        for outcome, stage in _STAGES.items():
            entries.add_metric([stage, outcome], snap["totals"][outcome])
        yield entries
        yield CounterMetricFamily(
            "exim_shipper_summaries_written",
            "Message summaries written or merged.",
            snap["totals"]["summaries"],
        )
        retries = CounterMetricFamily(
            "exim_shipper_retries",
            "Retries: whole requests that could not reach the cluster, and throttled (429/503) items.",
            labels=["reason"],
        )
        for reason, n in snap["retries"].items():
            retries.add_metric([reason], n)
        yield retries
        latency = snap["bulk_latency"]
        cumulative, buckets = 0, []
        for bound, n in zip([*map(str, LATENCY_BUCKETS), "+Inf"], latency["buckets"], strict=True):
            cumulative += n
            buckets.append((bound, cumulative))
        histogram = HistogramMetricFamily("exim_shipper_bulk_request_seconds", "Bulk request latency.")
        histogram.add_metric([], buckets, latency["sum"])
        yield histogram
        yield GaugeMetricFamily(
            "exim_shipper_backlog_bytes",
            "Bytes of complete log lines not yet acknowledged by the cluster, across followed files.",
            snap["backlog_bytes"],
        )
        yield GaugeMetricFamily(
            "exim_shipper_cluster_up",
            "1 while the cluster answers, 0 during an outage.",
            snap["cluster"]["up"],
        )
        # By path and whether it was rotated away: the series of "exim_mainlog" carries on across a
        # rotation, and the old file, still read for a while, is a series of its own.
        labels = ["file", "rotated"]
        acked = GaugeMetricFamily(
            "exim_shipper_last_ack_timestamp_seconds",
            "When the cluster last acknowledged entries of the file (Unix time).",
            labels=labels,
        )
        backlog = GaugeMetricFamily(
            "exim_shipper_file_backlog_bytes", "Bytes of the file not yet acknowledged.", labels=labels
        )
        age = GaugeMetricFamily(
            "exim_shipper_file_lag_seconds",
            "Age of the file's oldest byte not yet acknowledged (0 when all is shipped).",
            labels=labels,
        )
        rows: dict[tuple[str, str], list[float]] = {}  # two old files under one old name: one row
        for f in snap["files"].values():
            since = f["waiting_since"]
            lag = snap["written"] - since if since is not None else 0.0
            row = rows.setdefault((f["path"], str(f["rotated"]).lower()), [-1.0, 0.0, 0.0])
            row[0] = max(row[0], f["last_ack"] if f["last_ack"] is not None else -1.0)
            row[1] += f["backlog_bytes"]
            row[2] = max(row[2], lag)
        for key, (last_ack, waiting, lag) in rows.items():
            if last_ack >= 0:
                acked.add_metric(list(key), last_ack)
            backlog.add_metric(list(key), waiting)
            age.add_metric(list(key), lag)
        yield acked
        yield backlog
        yield age


def serve(address: str, status: Status) -> tuple[WSGIServer, threading.Thread]:
    """Serve /metrics on `address` (HOST:PORT) from a daemon thread; a port in use is one line."""
    host, port = split_address(address)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StatusCollector(status))
    ProcessCollector(registry=registry)  # process_resident_memory_bytes, CPU, open fds: a sidecar's cost
    try:
        return start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise ConfigError(f"metrics_address {address}: cannot listen ({exc.strerror or exc})") from None
