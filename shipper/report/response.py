"""Reading the report's search response into one typed value (missing aggregations count as zero)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from shipper.report.model import (
    ARRIVAL_LINES,
    DELIVERY_LINES,
    REJECT_LINES,
    SUMMARIES,
    Delay,
    ErrorClassRow,
    FailureRow,
    HistogramRow,
    LocalDestination,
    Relay,
    Report,
    ServerRow,
    ServerSpan,
    TopRow,
    TopTable,
)
from shipper.report.request import PERCENTS
from shipper.report.window import Window, iso


def _n(value: Any) -> int:
    return round(float(value)) if value is not None else 0


def _value(aggs: dict[str, Any], *path: str) -> Any:
    node: Any = aggs
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
        if node is None:
            return None
    return node


def _count(aggs: dict[str, Any], *path: str) -> int:
    return _n(_value(aggs, *path, "doc_count"))


def _metric(aggs: dict[str, Any], *path: str) -> int:
    return _n(_value(aggs, *path, "value"))


def _when(aggs: dict[str, Any], key: str) -> str | None:
    node = aggs.get(key) or {}
    if node.get("value") is None:
        return None
    text = node.get("value_as_string")
    return str(text) if text else None


def _rows(agg: dict[str, Any] | None) -> list[TopRow]:
    out = []
    for b in (agg or {}).get("buckets", []):
        key = str(b.get("key_as_string", b["key"]))
        names = b.get("name", {}).get("buckets", [])
        if names:
            key = f"{names[0]['key']} [{key}]"
        out.append(TopRow(key, int(b["doc_count"]), _n(_value(b, "volume", "value"))))
    return out


def _seconds(value: Any) -> float | None:
    return round(float(value), 3) if isinstance(value, int | float) else None


def _delay(title: str, source: str, name: str, aggs: dict[str, Any], key: str) -> Delay:
    values = _value(aggs, key, "values") or {}
    stats = aggs.get(f"{key}_stats", {})
    count = _n(stats.get("count"))
    pct = {f"p{int(p)}": _seconds(values.get(f"{p:.1f}")) if count else None for p in PERCENTS}
    return Delay(title, source, name, count, pct, _seconds(stats.get("avg")), _seconds(stats.get("max")))


# (title, source, field, unit, aggregation path, has volume): the order the tables are shown in.
_TOPS: list[tuple[str, str, str, str, tuple[str, ...], bool]] = [
    (
        "senders by messages",
        SUMMARIES,
        "email.from.address",
        "messages",
        ("received", "senders_by_messages"),
        True,
    ),
    (
        "senders by volume",
        SUMMARIES,
        "email.from.address",
        "messages",
        ("received", "senders_by_volume"),
        True,
    ),
    (
        "sender domains by messages",
        ARRIVAL_LINES,
        "exim.sender_domain",
        "messages",
        ("arrivals", "sender_domains_by_messages"),
        True,
    ),
    (
        "sender domains by volume",
        ARRIVAL_LINES,
        "exim.sender_domain",
        "messages",
        ("arrivals", "sender_domains_by_volume"),
        True,
    ),
    (
        "sending hosts by messages",
        SUMMARIES,
        "source.ip",
        "messages",
        ("received", "hosts_by_messages"),
        True,
    ),
    ("sending hosts by volume", SUMMARIES, "source.ip", "messages", ("received", "hosts_by_volume"), True),
    (
        "local senders by messages",
        ARRIVAL_LINES,
        "exim.eximstats.user",
        "messages",
        ("arrivals", "local_senders_by_messages"),
        True,
    ),
    (
        "local senders by volume",
        ARRIVAL_LINES,
        "exim.eximstats.user",
        "messages",
        ("arrivals", "local_senders_by_volume"),
        True,
    ),
    (
        "recipient domains by deliveries",
        DELIVERY_LINES,
        "exim.recipient_domains",
        "deliveries",
        ("deliveries", "domains_by_deliveries"),
        True,
    ),
    (
        "recipient domains by volume (S= where logged)",
        DELIVERY_LINES,
        "exim.recipient_domains",
        "deliveries",
        ("deliveries", "domains_by_volume"),
        True,
    ),
    (
        "destination hosts by deliveries",
        DELIVERY_LINES,
        "destination.domain",
        "deliveries",
        ("deliveries", "hosts_by_deliveries"),
        True,
    ),
    ("rejection reasons", REJECT_LINES, "exim.eximstats.reason", "rejects", ("rejects", "reasons"), False),
    (
        "temporary rejection reasons",
        REJECT_LINES,
        "exim.eximstats.reason",
        "rejects",
        ("temp_rejects", "reasons"),
        False,
    ),
    ("rejected IPs", REJECT_LINES, "exim.eximstats.ip", "rejects", ("rejects", "top_ips"), False),
    (
        "temporarily rejected IPs",
        REJECT_LINES,
        "exim.eximstats.ip",
        "rejects",
        ("temp_rejects", "top_ips"),
        False,
    ),
]


def _relays(a: dict[str, Any], top: int) -> list[Relay]:
    out = []
    for b in _value(a, "relayed", "from", "buckets") or []:
        names = _value(b, "name", "buckets") or []
        source = f"{names[0]['key']} [{b['key']}]" if names else f"[{b['key']}]"
        senders = _value(b, "sender", "buckets") or []
        sender = str(senders[0]["key"]) if senders else "<>"
        for h in _value(b, "to", "relayed", "hosts", "buckets") or []:
            out.append(Relay(source, sender, str(h["key"]), int(h["doc_count"])))
    out.sort(key=lambda r: (-r.addresses, r.source, r.destination))
    return out[:top]


def parse_response(response: dict[str, Any], win: Window, servers: Sequence[str], top: int) -> Report:
    """The typed report from the search response."""
    a: dict[str, Any] = response.get("aggregations", {})
    dl = a.get("deliveries", {})
    summaries = a.get("summaries", {})
    servers_rows = []
    for b in _value(a, "per_server", "buckets") or []:
        kinds = b["kinds"]["buckets"]
        servers_rows.append(
            ServerRow(
                name=str(b["key"]),
                received=_n(kinds["received"]["doc_count"]),
                received_volume=_metric(b, "received_volume", "volume"),
                deliveries=_n(kinds["deliveries"]["doc_count"]),
                deferrals=_n(kinds["deferrals"]["doc_count"]),
                failures=_n(kinds["failures"]["doc_count"]),
                rejects=_n(kinds["rejects"]["doc_count"]),
                temp_rejects=_n(kinds["temp_rejects"]["doc_count"]),
                errors=_n(kinds["errors"]["doc_count"]),
            )
        )
    tops = [
        TopTable(f"Top {top} {title}", source, name, unit, _rows(_value(a, *path)), has_volume=vol)
        for title, source, name, unit, path, vol in _TOPS
    ]
    classes = [
        ErrorClassRow(str(b["key"]), int(b["doc_count"]), _count(b, "temporary"), _metric(b, "messages"))
        for b in _value(a, "errors", "classes", "buckets") or []
    ]
    delays = [
        _delay(
            "Message total delay (arrival to Completed)",
            SUMMARIES,
            "exim.total_delay",
            summaries,
            "total_delay",
        ),
        _delay("Queue time per delivery (QT=)", DELIVERY_LINES, "exim.queue_time", dl, "queue_time"),
        _delay("Delivery time per delivery (DT=)", DELIVERY_LINES, "exim.delivery_time", dl, "delivery_time"),
    ]
    hist = _value(a, "histogram", "time") or {}
    total = _value(response, "hits", "total")
    documents = _n(total.get("value") if isinstance(total, dict) else total)
    return Report(
        since=iso(win.since) if win.since else None,
        until=iso(win.until) if win.until else None,
        servers_filter=list(servers),
        documents=documents,
        first=_when(a, "first"),
        last=_when(a, "last"),
        received={
            "messages": _count(a, "received"),
            "volume": _metric(a, "received", "volume"),
            "addresses": _count(a, "received", "recipients"),
            "hosts": _metric(a, "arrivals", "hosts"),
            "senders": _metric(a, "received", "senders"),
            "delayed_messages": _count(a, "received", "delayed"),
            "failed_messages": _count(a, "received", "recipients", "failed", "messages"),
        },
        delivered={
            "messages": _count(dl, "primary"),
            "volume": _metric(summaries, "delivered_volume"),
            "addresses": _count(dl, "eximstats_addresses"),
            "hosts": _metric(dl, "primary", "hosts"),
        },
        deliveries={
            "lines": _count(a, "deliveries"),
            "messages": _metric(dl, "messages"),
            "addresses": _metric(dl, "addresses"),
            "hosts": _metric(dl, "hosts"),
            "volume_logged": _metric(dl, "volume"),
            "lines_with_size": _metric(dl, "sized"),
        },
        deferrals={"lines": _count(a, "deferrals"), "messages": _metric(a, "deferrals", "messages")},
        failures={"lines": _count(a, "failures"), "messages": _metric(a, "failures", "messages")},
        rejects={"lines": _count(a, "rejects"), "hosts": _metric(a, "rejects", "hosts")},
        temp_rejects={"lines": _count(a, "temp_rejects"), "hosts": _metric(a, "temp_rejects", "hosts")},
        denied={"lines": _count(a, "denied"), "hosts": _metric(a, "denied", "hosts")},
        temp_denied={"lines": _count(a, "temp_denied"), "hosts": _metric(a, "temp_denied", "hosts")},
        errors=_count(a, "errors"),
        spam={str(b["key"]): int(b["doc_count"]) for b in _value(a, "spam", "verdicts", "buckets") or []},
        states={str(b["key"]): int(b["doc_count"]) for b in _value(summaries, "states", "buckets") or []},
        servers=servers_rows,
        tops=tops,
        transports=_rows(dl.get("transports")),
        error_classes=classes,
        delays=delays,
        histogram_interval=str(hist.get("interval", "")),
        histogram=[
            HistogramRow(str(b["key_as_string"]), _count(b, "received"), _count(b, "deliveries"))
            for b in hist.get("buckets", [])
        ],
        local_destinations=[
            LocalDestination(str(b["key"]), _count(b, "messages"), int(b["doc_count"]))
            for b in _value(dl, "local_destinations", "buckets") or []
        ],
        relayed_total=_count(a, "relayed", "total", "relayed"),
        relayed=_relays(a, top),
        failure_list=[
            FailureRow(
                str(b["key"]),
                int(b["doc_count"]),
                [str(x["key"]) for x in _value(b, "addresses", "buckets") or []],
            )
            for b in _value(a, "failures", "error_list", "buckets") or []
        ],
    )


def parse_where(response: dict[str, Any]) -> list[ServerSpan]:
    """Where the data is, per server, from `where_request`'s response (empty: the index holds nothing)."""
    a: dict[str, Any] = response.get("aggregations", {})
    return [
        ServerSpan(str(b["key"]), _when(b, "first"), _when(b, "last"))
        for b in _value(a, "per_server", "buckets") or []
    ]
