"""`exim-shipper report`: an eximstats-style fleet summary computed by OpenSearch aggregations.

One search over `<prefix>-events-*` and `<prefix>-messages-*` answers the whole report: per-message figures
come from the message summaries (documents with `exim.state`), per-line figures (deliveries, deferrals,
rejections, errors) from the events (documents with `event.action`). Every section says which it used.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from opensearchpy import OpenSearch

from shipper.errors import ConfigError, ShipperError
from shipper.exim.fields import duration
from shipper.opensearch import retry

SUMMARIES = "message summaries"
EVENTS = "events"
# S= on delivery lines needs `log_selector = +delivery_size`: volumes summed from events may be partial.
DELIVERY_LINES = f"{EVENTS}, delivery lines"
PERCENTS = (50.0, 90.0, 95.0, 99.0)
# Distinct counts are exact below this many values per bucket, estimates (error well under 1%) above; each
# bucket may take up to 8 bytes per unit of it, so it stays moderate (the cluster's maximum is 40000).
PRECISION = 10_000
MAX_SERVERS = 1000
# Someone is waiting at the terminal: a few quick retries, not backfill's patient ones.
INTERACTIVE_ATTEMPTS = 3
HISTOGRAM_BUCKETS = 24

DELIVERY_ACTIONS = ["delivered", "delivered_additional", "delivered_cutthrough"]
ARRIVAL_ACTIONS = ["message_arrived", "message_arrived_fakereject"]

_SUMMARY: dict[str, Any] = {"exists": {"field": "exim.state"}}
_EVENT: dict[str, Any] = {"exists": {"field": "event.action"}}
# A summary whose `<=` line was seen: the message was received in the window (not just delivered in it).
_RECEIVED: dict[str, Any] = {"bool": {"filter": [_SUMMARY, {"term": {"exim.arrival_time_source": "log"}}]}}
_DELIVERY: dict[str, Any] = {"terms": {"event.action": DELIVERY_ACTIONS}}
_DEFERRAL: dict[str, Any] = {"term": {"event.action": "delivery_deferred"}}
_FAILURE: dict[str, Any] = {"term": {"event.action": "delivery_failed"}}
_TEMPORARY: dict[str, Any] = {"term": {"exim.error.temporary": True}}
_REJECT: dict[str, Any] = {"bool": {"filter": [{"term": {"event.type": "denied"}}], "must_not": [_TEMPORARY]}}
_TEMP_REJECT: dict[str, Any] = {"bool": {"filter": [{"term": {"event.type": "denied"}}, _TEMPORARY]}}
_ERROR: dict[str, Any] = {"exists": {"field": "exim.error.class"}}
_ARRIVAL: dict[str, Any] = {"terms": {"event.action": ARRIVAL_ACTIONS}}


class NothingToReport(ShipperError):
    """No index of the prefix exists on the cluster."""


# --- the window ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Window:
    """The report's time range on `@timestamp` (arrival time for summaries); None is open-ended."""

    since: datetime | None
    until: datetime | None


def parse_when(text: str, now: datetime, flag: str) -> datetime | None:
    """`30m`/`24h`/`7d`/`2w` (that long before `now`), an ISO date or time (UTC unless it says), or `all`."""
    value = text.strip()
    if value.lower() in ("all", ""):
        return None
    seconds = duration(value)
    try:
        if seconds is not None and seconds >= 0:
            return now - timedelta(seconds=seconds)
        try:
            when = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
        except ValueError:
            raise ConfigError(
                f"{flag} {text!r}: expected a duration (30m, 24h, 7d, 2w), an ISO date (2025-03-30, "
                "2025-03-30T12:00:00+01:00) or 'all'"
            ) from None
        return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    except OverflowError:  # before year 1 or after 9999 once counted back or moved to UTC
        raise ConfigError(f"{flag} {text!r}: outside the years 1 to 9999") from None


def report_window(since: str, until: str | None, now: datetime) -> Window:
    """The window `since <= @timestamp < until`; without --until it ends now, as the header says, so that
    events dated in the future (a server's clock ahead) are not counted."""
    start = parse_when(since, now, "--since")
    end = parse_when(until, now, "--until") if until is not None else now
    if start is not None and end is not None and end <= start:
        raise ConfigError(
            "--until must be later than --since"
            + ("" if until is not None else f" (--until is now, {_iso(now)}, when not given)")
        )
    return Window(start, end)


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- the request --------------------------------------------------------------------------------


def _filter(query: dict[str, Any], aggs: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"filter": query}
    if aggs:
        out["aggs"] = aggs
    return out


def _both(*queries: dict[str, Any]) -> dict[str, Any]:
    return {"bool": {"filter": list(queries)}}


def _distinct(name: str) -> dict[str, Any]:
    return {"cardinality": {"field": name, "precision_threshold": PRECISION}}


def _messages() -> dict[str, Any]:
    """Distinct messages as (server, id) pairs: an id is unique on its server only, so count per server."""
    return {
        "by_server": {
            "terms": {"field": "host.name", "size": MAX_SERVERS},
            "aggs": {"ids": _distinct("email.local_id")},
        },
        "messages": {"sum_bucket": {"buckets_path": "by_server>ids"}},
    }


def _sum(name: str) -> dict[str, Any]:
    return {"sum": {"field": name}}


def _top(
    name: str, size: int, *, by_volume: bool, extra: dict[str, Any] | None = None, missing: str | None = None
) -> dict[str, Any]:
    """Top `size` values of `name` by documents or by summed `exim.size`, with that sum alongside."""
    terms: dict[str, Any] = {"field": name, "size": size}
    if missing is not None:
        terms["missing"] = missing
    terms["order"] = (
        [{"volume": "desc"}, {"_key": "asc"}] if by_volume else [{"_count": "desc"}, {"_key": "asc"}]
    )
    return {"terms": terms, "aggs": {"volume": _sum("exim.size"), **(extra or {})}}


def _delays(key: str, name: str) -> dict[str, Any]:
    """Percentiles of a duration field, and its count/avg/max (`stats`) to go with them."""
    return {
        key: {"percentiles": {"field": name, "percents": list(PERCENTS)}},
        f"{key}_stats": {"stats": {"field": name}},
    }


def build_request(win: Window, servers: Sequence[str], top: int) -> dict[str, Any]:
    """The one search body of the report (size 0: aggregations only)."""
    filters: list[dict[str, Any]] = []
    if win.since is not None or win.until is not None:
        bounds: dict[str, str] = {}
        if win.since is not None:
            bounds["gte"] = _iso(win.since)
        if win.until is not None:
            bounds["lt"] = _iso(win.until)
        filters.append({"range": {"@timestamp": bounds}})
    if servers:
        filters.append({"terms": {"host.name": list(servers)}})
    by_kind = {
        "received": _RECEIVED,
        "deliveries": _both(_EVENT, _DELIVERY),
        "deferrals": _both(_EVENT, _DEFERRAL),
        "failures": _both(_EVENT, _FAILURE),
        "rejects": _both(_EVENT, _REJECT),
        "temp_rejects": _both(_EVENT, _TEMP_REJECT),
        "errors": _both(_EVENT, _ERROR),
    }
    host_name = {"terms": {"field": "source.domain", "size": 1}}
    aggs: dict[str, Any] = {
        "summaries": _filter(
            _SUMMARY,
            {
                "states": {"terms": {"field": "exim.state", "size": 20}},
                **_delays("total_delay", "exim.total_delay"),
                "delivered": {
                    "nested": {"path": "exim.recipients"},
                    "aggs": {
                        "delivered": _filter(
                            {"term": {"exim.recipients.outcome": "delivered"}},
                            {
                                "hosts": _distinct("exim.recipients.host"),
                                "messages": {"reverse_nested": {}, "aggs": {"volume": _sum("exim.size")}},
                            },
                        )
                    },
                },
            },
        ),
        "received": _filter(
            _RECEIVED,
            {
                "volume": _sum("exim.size"),
                "hosts": _distinct("source.ip"),
                "senders": _distinct("email.from.address"),
                "delayed": _filter({"exists": {"field": "exim.first_deferral.time"}}),
                "recipients": {
                    "nested": {"path": "exim.recipients"},
                    "aggs": {
                        "failed": _filter(
                            {"term": {"exim.recipients.outcome": "failed"}},
                            {"messages": {"reverse_nested": {}}},
                        )
                    },
                },
                "senders_by_messages": _top("email.from.address", top, by_volume=False, missing="<>"),
                "senders_by_volume": _top("email.from.address", top, by_volume=True, missing="<>"),
                "hosts_by_messages": _top("source.ip", top, by_volume=False, extra={"name": host_name}),
                "hosts_by_volume": _top("source.ip", top, by_volume=True, extra={"name": host_name}),
            },
        ),
        "arrivals": _filter(
            _both(_EVENT, _ARRIVAL),
            {
                "sender_domains_by_messages": _top("exim.sender_domain", top, by_volume=False),
                "sender_domains_by_volume": _top("exim.sender_domain", top, by_volume=True),
            },
        ),
        "deliveries": _filter(
            by_kind["deliveries"],
            {
                **_messages(),
                "addresses": _distinct("email.to.address"),
                "hosts": _distinct("destination.ip"),
                "volume": _sum("exim.size"),
                "sized": {"value_count": {"field": "exim.size"}},
                **_delays("queue_time", "exim.queue_time"),
                **_delays("delivery_time", "exim.delivery_time"),
                "domains_by_deliveries": _top("exim.recipient_domains", top, by_volume=False),
                "domains_by_volume": _top("exim.recipient_domains", top, by_volume=True),
                "hosts_by_deliveries": _top("destination.domain", top, by_volume=False),
                "transports": _top("exim.transport", top, by_volume=False),
            },
        ),
        "deferrals": _filter(by_kind["deferrals"], _messages()),
        "failures": _filter(by_kind["failures"], _messages()),
        "rejects": _filter(
            by_kind["rejects"],
            {
                "hosts": _distinct("source.ip"),
                "top_hosts": {"terms": {"field": "source.ip", "size": top}},
            },
        ),
        "temp_rejects": _filter(by_kind["temp_rejects"], {"hosts": _distinct("source.ip")}),
        "errors": _filter(
            by_kind["errors"],
            {
                "classes": {
                    "terms": {"field": "exim.error.class", "size": 100},
                    "aggs": {"temporary": _filter(_TEMPORARY), "messages": _distinct("email.local_id")},
                }
            },
        ),
        "spam": _filter(
            _both(_EVENT, {"term": {"event.action": "spam_verdict"}}),
            {"verdicts": {"terms": {"field": "exim.spam.verdict", "size": 10}}},
        ),
        "per_server": {
            "terms": {"field": "host.name", "size": MAX_SERVERS, "order": {"_key": "asc"}},
            "aggs": {
                "kinds": {"filters": {"filters": by_kind}},
                "received_volume": _filter(_RECEIVED, {"volume": _sum("exim.size")}),
            },
        },
        "histogram": _filter(
            {"bool": {"should": [_RECEIVED, by_kind["deliveries"]], "minimum_should_match": 1}},
            {
                "time": {
                    "auto_date_histogram": {"field": "@timestamp", "buckets": HISTOGRAM_BUCKETS},
                    "aggs": {"received": _filter(_RECEIVED), "deliveries": _filter(by_kind["deliveries"])},
                }
            },
        ),
    }
    return {
        "size": 0,
        "track_total_hits": True,
        "query": {"bool": {"filter": filters}},
        "aggs": aggs,
    }


def indices(prefix: str) -> str:
    return f"{prefix}-events-*,{prefix}-messages-*"


def fetch(client: OpenSearch, prefix: str, body: dict[str, Any], max_attempts: int | None) -> dict[str, Any]:
    """Run the report's search (transient failures retried); NothingToReport when no index exists."""

    def search() -> dict[str, Any]:
        result: dict[str, Any] = client.search(
            index=indices(prefix),
            body=body,
            params={"ignore_unavailable": "true", "allow_no_indices": "true"},
        )
        return result

    response = retry.call(search, max_attempts)
    if response.get("_shards", {}).get("total", 0) == 0:
        raise NothingToReport(
            f"no {prefix}-events-* or {prefix}-messages-* index on the cluster "
            "(wrong --index-prefix, or nothing shipped yet)"
        )
    return response


# --- the typed result ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TopRow:
    """One line of a top-N table: a value, how many messages/deliveries, their summed size."""

    key: str
    count: int
    volume: int


@dataclass(frozen=True, slots=True)
class TopTable:
    title: str
    source: str
    field: str
    unit: str
    rows: list[TopRow]
    has_volume: bool = True


@dataclass(frozen=True, slots=True)
class ServerRow:
    name: str
    received: int
    received_volume: int
    deliveries: int
    deferrals: int
    failures: int
    rejects: int
    temp_rejects: int
    errors: int


@dataclass(frozen=True, slots=True)
class ErrorClassRow:
    name: str
    events: int
    temporary: int
    messages: int


@dataclass(frozen=True, slots=True)
class Delay:
    """Percentiles of one duration field, in seconds (None when no document has it)."""

    title: str
    source: str
    field: str
    count: int
    percentiles: dict[str, float | None]
    average: float | None
    max: float | None


@dataclass(frozen=True, slots=True)
class HistogramRow:
    time: str
    received: int
    deliveries: int


@dataclass(slots=True)
class Report:
    """Everything the table and the JSON show, in one typed value."""

    since: str | None
    until: str | None
    servers_filter: list[str]
    received: dict[str, int]
    delivered: dict[str, int]
    deliveries: dict[str, int]
    deferrals: dict[str, int]
    failures: dict[str, int]
    rejects: dict[str, int]
    temp_rejects: dict[str, int]
    errors: int
    spam: dict[str, int]
    states: dict[str, int]
    servers: list[ServerRow]
    tops: list[TopTable]
    transports: list[TopRow]
    error_classes: list[ErrorClassRow]
    delays: list[Delay]
    histogram_interval: str
    histogram: list[HistogramRow] = field(default_factory=list)


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


# (title, source, field, unit, aggregation path): the order the tables are shown in.
_TOPS: list[tuple[str, str, str, str, tuple[str, ...]]] = [
    ("senders by messages", SUMMARIES, "email.from.address", "messages", ("received", "senders_by_messages")),
    ("senders by volume", SUMMARIES, "email.from.address", "messages", ("received", "senders_by_volume")),
    (
        "sender domains by messages",
        f"{EVENTS}, arrival lines",
        "exim.sender_domain",
        "messages",
        ("arrivals", "sender_domains_by_messages"),
    ),
    (
        "sender domains by volume",
        f"{EVENTS}, arrival lines",
        "exim.sender_domain",
        "messages",
        ("arrivals", "sender_domains_by_volume"),
    ),
    ("sending hosts by messages", SUMMARIES, "source.ip", "messages", ("received", "hosts_by_messages")),
    ("sending hosts by volume", SUMMARIES, "source.ip", "messages", ("received", "hosts_by_volume")),
    (
        "recipient domains by deliveries",
        DELIVERY_LINES,
        "exim.recipient_domains",
        "deliveries",
        ("deliveries", "domains_by_deliveries"),
    ),
    (
        "recipient domains by volume (S= where logged)",
        DELIVERY_LINES,
        "exim.recipient_domains",
        "deliveries",
        ("deliveries", "domains_by_volume"),
    ),
    (
        "destination hosts by deliveries",
        DELIVERY_LINES,
        "destination.domain",
        "deliveries",
        ("deliveries", "hosts_by_deliveries"),
    ),
    ("rejected hosts", f"{EVENTS}, rejections", "source.ip", "rejections", ("rejects", "top_hosts")),
]


def parse_response(response: dict[str, Any], win: Window, servers: Sequence[str], top: int) -> Report:
    """The typed report from the search response (missing aggregations count as zero)."""
    a: dict[str, Any] = response.get("aggregations", {})
    received_failed = _count(a, "received", "recipients", "failed", "messages")
    delivered = _value(a, "summaries", "delivered", "delivered") or {}
    dl = a.get("deliveries", {})
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
        TopTable(
            f"Top {top} {title}", source, name, unit, _rows(_value(a, *path)), has_volume=path[0] != "rejects"
        )
        for title, source, name, unit, path in _TOPS
    ]
    classes = [
        ErrorClassRow(str(b["key"]), int(b["doc_count"]), _count(b, "temporary"), _metric(b, "messages"))
        for b in _value(a, "errors", "classes", "buckets") or []
    ]
    summaries = a.get("summaries", {})
    delays = [
        _delay(
            "Message total delay (arrival to Completed)",
            SUMMARIES,
            "exim.total_delay",
            summaries,
            "total_delay",
        ),
        _delay("Queue time per delivery (QT=)", DELIVERY_LINES, "exim.queue_time", dl, "queue_time"),
        _delay(
            "Delivery time per delivery (DT=)",
            DELIVERY_LINES,
            "exim.delivery_time",
            dl,
            "delivery_time",
        ),
    ]
    hist = _value(a, "histogram", "time") or {}
    return Report(
        since=_iso(win.since) if win.since else None,
        until=_iso(win.until) if win.until else None,
        servers_filter=list(servers),
        received={
            "messages": _count(a, "received"),
            "volume": _metric(a, "received", "volume"),
            "addresses": _count(a, "received", "recipients"),
            "hosts": _metric(a, "received", "hosts"),
            "senders": _metric(a, "received", "senders"),
            "delayed_messages": _count(a, "received", "delayed"),
            "failed_messages": received_failed,
        },
        delivered={
            "messages": _count(delivered, "messages"),
            "volume": _metric(delivered, "messages", "volume"),
            "addresses": _n(delivered.get("doc_count")),
            "hosts": _metric(delivered, "hosts"),
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
    )


# --- output ---------------------------------------------------------------------------------------


def report_json(r: Report) -> dict[str, Any]:
    """The report as plain JSON; each section names its source (events or message summaries)."""

    def rows(table: list[TopRow], unit: str) -> list[dict[str, Any]]:
        out = []
        for row in table:
            out.append({"key": row.key, unit: row.count, "volume_bytes": row.volume})
        return out

    return {
        "window": {"since": r.since, "until": r.until, "servers": r.servers_filter or "all"},
        "received": {"source": SUMMARIES, **_bytes_key(r.received)},
        "delivered": {"source": SUMMARIES, **_bytes_key(r.delivered)},
        "deliveries": {"source": EVENTS, **_bytes_key(r.deliveries)},
        "deferrals": {"source": EVENTS, **r.deferrals},
        "failures": {"source": EVENTS, **r.failures},
        "rejects": {"source": EVENTS, **r.rejects},
        "temp_rejects": {"source": EVENTS, **r.temp_rejects},
        "errors": {"source": EVENTS, "lines": r.errors},
        "spam": {"source": EVENTS, **r.spam},
        "states": {"source": SUMMARIES, **r.states},
        "servers": [
            {
                "name": s.name,
                "received_messages": s.received,
                "received_volume_bytes": s.received_volume,
                "deliveries": s.deliveries,
                "deferrals": s.deferrals,
                "failures": s.failures,
                "rejects": s.rejects,
                "temp_rejects": s.temp_rejects,
                "errors": s.errors,
            }
            for s in r.servers
        ],
        "top": {
            _slug(t.title): {
                "source": t.source,
                "field": t.field,
                "rows": [
                    {k: v for k, v in row.items() if k != "volume_bytes" or t.has_volume}
                    for row in rows(t.rows, t.unit)
                ],
            }
            for t in r.tops
        },
        "transports": {"source": EVENTS, "field": "exim.transport", "rows": rows(r.transports, "deliveries")},
        "error_classes": {
            "source": EVENTS,
            "field": "exim.error.class",
            "rows": [
                {
                    "class": c.name,
                    "events": c.events,
                    "temporary": c.temporary,
                    "permanent": c.events - c.temporary,
                    "messages": c.messages,
                }
                for c in r.error_classes
            ],
        },
        "delays_seconds": {
            d.field.removeprefix("exim."): {
                "source": d.source,
                "field": d.field,
                "count": d.count,
                **d.percentiles,
                "avg": d.average,
                "max": d.max,
            }
            for d in r.delays
        },
        "histogram": {
            "interval": r.histogram_interval,
            "source": {"received": SUMMARIES, "deliveries": EVENTS},
            "rows": [
                {"time": h.time, "received": h.received, "deliveries": h.deliveries} for h in r.histogram
            ],
        },
    }


def _bytes_key(figures: dict[str, int]) -> dict[str, int]:
    return {(f"{k}_bytes" if k.startswith("volume") else k): v for k, v in figures.items()}


def _slug(title: str) -> str:
    words = title.split(" (", maxsplit=1)[0].lower().split()
    return "_".join(words[2:])  # "Top 10 senders by volume" -> "senders_by_volume"


def volume(n: int) -> str:
    """eximstats-style sizes: B, KB, MB, GB (powers of 1024)."""
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{int(size)}{unit}" if unit == "B" or size >= 100 else f"{size:.1f}{unit}"
        size /= 1024
    return f"{n}B"  # pragma: no cover - the loop always returns


def seconds(value: float | None) -> str:
    """A duration for people: `0.65s`, `42s`, `3m12s`, `2h5m`, `1d3h`; `-` when unknown."""
    if value is None:
        return "-"
    if value < 10:
        return f"{value:.2f}s"
    if value < 60:
        return f"{value:.0f}s"
    s = int(value)
    parts = [(s // 86400, "d"), (s % 86400 // 3600, "h"), (s % 3600 // 60, "m"), (s % 60, "s")]
    shown = [(v, u) for v, u in parts if v]
    return "".join(f"{v}{u}" for v, u in shown[:2])


def _pct(part: int, whole: int) -> str:
    return f"{part} ({100 * part / whole:.1f}%)" if whole else str(part)


def _table(header: list[str], rows: list[list[str]], left: int = 1, *, last_left: bool = False) -> list[str]:
    """Aligned columns: the first `left` (and with `last_left` the last) flush left, the others right."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        flush = [i < left or (last_left and i == len(cells) - 1) for i in range(len(cells))]
        out = [c.ljust(w) if f else c.rjust(w) for c, w, f in zip(cells, widths, flush, strict=True)]
        return ("  " + "  ".join(out)).rstrip()

    return [line(header), *(line(r) for r in rows)]


def _hour(iso: str) -> str:
    return iso[:16].replace("T", " ")


def render_report(r: Report) -> str:
    """The readable report: grand totals, per server, top N tables, error classes, delays, histogram."""
    since = r.since or "the beginning"
    until = r.until or "the end"
    scope = ", ".join(r.servers_filter) if r.servers_filter else f"all ({len(r.servers)})"
    out = [f"Exim fleet report  {since} .. {until}  servers: {scope}", ""]
    rc, dv = r.received, r.delivered
    out.append("Grand total")
    out += _table(
        ["", "Volume", "Messages", "Addresses", "Hosts", "Delayed", "Failed"],
        [
            [
                "Received (summaries)",
                volume(rc["volume"]),
                str(rc["messages"]),
                str(rc["addresses"]),
                str(rc["hosts"]),
                _pct(rc["delayed_messages"], rc["messages"]),
                _pct(rc["failed_messages"], rc["messages"]),
            ],
            [
                "Delivered (summaries)",
                volume(dv["volume"]),
                str(dv["messages"]),
                str(dv["addresses"]),
                str(dv["hosts"]),
                "",
                "",
            ],
        ],
    )
    out.append("")
    dl = r.deliveries
    spam = "  ".join(f"{k} {v}" for k, v in sorted(r.spam.items())) or "0"
    out += _table(
        ["Lines (events)", "Count", "Messages", "Addresses", "Hosts"],
        [
            [
                "Deliveries (=> -> >>)",
                str(dl["lines"]),
                str(dl["messages"]),
                str(dl["addresses"]),
                str(dl["hosts"]),
            ],
            ["Deferrals (==)", str(r.deferrals["lines"]), str(r.deferrals["messages"]), "", ""],
            ["Failures (**)", str(r.failures["lines"]), str(r.failures["messages"]), "", ""],
            ["Rejects", str(r.rejects["lines"]), "", "", str(r.rejects["hosts"])],
            ["Temp rejects", str(r.temp_rejects["lines"]), "", "", str(r.temp_rejects["hosts"])],
            ["Errors (exim.error)", str(r.errors), "", "", ""],
        ],
    )
    states = "  ".join(f"{k} {v}" for k, v in sorted(r.states.items(), key=lambda kv: (-kv[1], kv[0])))
    out += [f"  Spam verdicts (events): {spam}", f"  Message states (summaries): {states or '0'}", ""]

    out.append("Per server (received: summaries; the rest: events)")
    out += _table(
        [
            "Server",
            "Received",
            "Volume",
            "Deliveries",
            "Deferrals",
            "Failures",
            "Rejects",
            "Temp rej",
            "Errors",
        ],
        [
            [
                s.name,
                str(s.received),
                volume(s.received_volume),
                str(s.deliveries),
                str(s.deferrals),
                str(s.failures),
                str(s.rejects),
                str(s.temp_rejects),
                str(s.errors),
            ]
            for s in r.servers
        ]
        or [["(none)", "0", "0B", "0", "0", "0", "0", "0", "0"]],
    )
    out += ["", f"Deliveries by transport ({EVENTS}: exim.transport; volume: S= where logged)"]
    out += _table(
        ["Deliveries", "Volume", "Transport"],
        [[str(t.count), volume(t.volume), t.key] for t in r.transports] or [["0", "0B", "(none)"]],
        left=0,
        last_left=True,
    )
    for t in r.tops:
        out += ["", f"{t.title} ({t.source}: {t.field})"]
        header = [t.unit.capitalize(), *(["Volume"] if t.has_volume else []), "Value"]
        rows = [[str(row.count), *([volume(row.volume)] if t.has_volume else []), row.key] for row in t.rows]
        out += _table(
            header, rows or [["0", *(["0B"] if t.has_volume else []), "(none)"]], left=0, last_left=True
        )
    out += ["", f"Error classes ({EVENTS}: exim.error.class)"]
    out += _table(
        ["Events", "Temporary", "Permanent", "Messages", "Class"],
        [
            [str(c.events), str(c.temporary), str(c.events - c.temporary), str(c.messages), c.name]
            for c in r.error_classes
        ]
        or [["0", "0", "0", "0", "(none)"]],
        left=0,
        last_left=True,
    )
    out += ["", "Delays"]
    out += _table(
        ["", "Source", "Count", "p50", "p90", "p95", "p99", "Avg", "Max"],
        [
            [
                d.title,
                f"{d.source}: {d.field}",
                str(d.count),
                *(seconds(d.percentiles[k]) for k in ("p50", "p90", "p95", "p99")),
                seconds(d.average),
                seconds(d.max),
            ]
            for d in r.delays
        ],
        left=2,
    )
    if r.histogram:
        out += ["", f"Received (summaries) and deliveries (events) per {r.histogram_interval}"]
        peak = max(h.received for h in r.histogram) or 1
        lines: list[list[str]] = []
        quiet: list[HistogramRow] = []
        for h in [*r.histogram, None]:
            if h is not None and h.received == h.deliveries == 0:
                quiet.append(h)
                continue
            # A long quiet stretch is one line, so a gap between two busy days does not fill the screen.
            if len(quiet) > 2:
                lines.append([f"{_hour(quiet[0].time)} ..", "0", "0", f"({len(quiet)} quiet intervals)"])
            else:
                lines += [[_hour(q.time), "0", "0", ""] for q in quiet]
            quiet = []
            if h is not None:
                bar = "#" * round(30 * h.received / peak)
                lines.append([_hour(h.time), str(h.received), str(h.deliveries), bar])
        out += _table(["Time (UTC)", "Received", "Deliveries", ""], lines, last_left=True)
    return "\n".join(out) + "\n"


def run_report(
    client: OpenSearch,
    prefix: str,
    win: Window,
    *,
    servers: Sequence[str],
    top: int,
    max_attempts: int | None,
) -> Report:
    """Build, send and read the report's search."""
    response = fetch(client, prefix, build_request(win, servers, top), max_attempts)
    return parse_response(response, win, servers, top)
