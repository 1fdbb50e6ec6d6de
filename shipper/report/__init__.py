"""`exim-shipper report`: an eximstats-style fleet summary computed by OpenSearch aggregations.

`window` owns --since/--until, `request` the search (filters, aggregations, sending), `model` the typed
result, `response` reading it from the search's answer, `render` the table and the JSON. Its grand
total equals eximstats' on the same main log (tests/integration/test_report_eximstats.py).
"""

from __future__ import annotations

from collections.abc import Sequence

from shipper.errors import NothingToReport
from shipper.opensearch.cluster import Cluster
from shipper.opensearch.retry import RetryPolicy
from shipper.report.model import Report
from shipper.report.render import label, render_report, report_json, seconds, volume
from shipper.report.request import (
    ARRIVAL_ACTIONS,
    DELIVERY_ACTIONS,
    INTERACTIVE_ATTEMPTS,
    build_request,
    fetch,
    where_request,
)
from shipper.report.response import parse_response, parse_where
from shipper.report.window import Window, parse_when, report_window

__all__ = [
    "ARRIVAL_ACTIONS",
    "DELIVERY_ACTIONS",
    "INTERACTIVE_ATTEMPTS",
    "NothingToReport",
    "Report",
    "Window",
    "build_request",
    "fetch",
    "label",
    "parse_response",
    "parse_when",
    "render_report",
    "report_json",
    "report_window",
    "run_report",
    "seconds",
    "volume",
]


def run_report(
    cluster: Cluster,
    prefix: str,
    win: Window,
    *,
    servers: Sequence[str],
    top: int,
    policy: RetryPolicy,
) -> Report:
    """Build, send and read the report's search; when the window is empty, also where the data is."""
    response = fetch(cluster, prefix, build_request(win, servers, top), policy)
    report = parse_response(response, win, servers, top)
    if report.documents == 0:
        report.elsewhere = parse_where(fetch(cluster, prefix, where_request(servers), policy))
    return report
