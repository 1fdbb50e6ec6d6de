"""The report's one search: its filters and aggregations, and sending it to the cluster.

Per-message figures come from the message summaries (documents with `exim.state`), per-line figures from
the events of the main log (documents with `event.action` and `event.dataset: exim.main`). The reject log
and the panic log repeat main-log lines (the reject log adds header dumps), so their events are left out
of every figure: shipping them beside the main log counts nothing twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from shipper.errors import NothingToReport
from shipper.opensearch.cluster import Cluster
from shipper.opensearch.retry import RetryPolicy
from shipper.report.window import Window, iso

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
MAIN_LOG = "exim.main"

_SUMMARY: dict[str, Any] = {"exists": {"field": "exim.state"}}
_EVENT: dict[str, Any] = {"exists": {"field": "event.action"}}
# What the report counts: every summary, and the events of the main log.
_COUNTED: dict[str, Any] = {
    "bool": {"should": [_SUMMARY, {"term": {"event.dataset": MAIN_LOG}}], "minimum_should_match": 1}
}
# A summary whose `<=` line was seen: the message was received in the window (not just delivered in it).
_RECEIVED: dict[str, Any] = {"bool": {"filter": [_SUMMARY, {"term": {"exim.arrival_time_source": "log"}}]}}
_DELIVERY: dict[str, Any] = {"terms": {"event.action": DELIVERY_ACTIONS}}
_DEFERRAL: dict[str, Any] = {"term": {"event.action": "delivery_deferred"}}
_FAILURE: dict[str, Any] = {"term": {"event.action": "delivery_failed"}}
_TEMPORARY: dict[str, Any] = {"term": {"exim.error.temporary": True}}
_DENIED: dict[str, Any] = {"bool": {"filter": [{"term": {"event.type": "denied"}}], "must_not": [_TEMPORARY]}}
_TEMP_DENIED: dict[str, Any] = {"bool": {"filter": [{"term": {"event.type": "denied"}}, _TEMPORARY]}}
# eximstats' rejects: see native/exim-log/src/enrich.rs (eximstats' patterns, `exim.eximstats`).
_REJECT: dict[str, Any] = {"term": {"exim.eximstats.reject": "permanent"}}
_TEMP_REJECT: dict[str, Any] = {"term": {"exim.eximstats.reject": "temporary"}}
_ERROR: dict[str, Any] = {"exists": {"field": "exim.error.class"}}
_ARRIVAL: dict[str, Any] = {"terms": {"event.action": ARRIVAL_ACTIONS}}
_PRIMARY: dict[str, Any] = {"term": {"exim.flag": "=>"}}  # one per delivery: eximstats' "messages"
_ADDRESS: dict[str, Any] = {"terms": {"exim.flag": ["=>", "->"]}}  # eximstats' delivered "addresses"


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


def _terms(name: str, size: int, aggs: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "terms": {"field": name, "size": size, "order": [{"_count": "desc"}, {"_key": "asc"}]}
    }
    if aggs:
        out["aggs"] = aggs
    return out


def _delays(key: str, name: str) -> dict[str, Any]:
    """Percentiles of a duration field, and its count/avg/max (`stats`) to go with them."""
    return {
        key: {"percentiles": {"field": name, "percents": list(PERCENTS)}},
        f"{key}_stats": {"stats": {"field": name}},
    }


def _span() -> dict[str, Any]:
    return {"first": {"min": {"field": "@timestamp"}}, "last": {"max": {"field": "@timestamp"}}}


def _scope(servers: Sequence[str]) -> list[dict[str, Any]]:
    filters: list[dict[str, Any]] = [_COUNTED]
    if servers:
        filters.append({"terms": {"host.name": list(servers)}})
    return filters


def build_request(win: Window, servers: Sequence[str], top: int) -> dict[str, Any]:
    """The one search body of the report (size 0: aggregations only)."""
    filters = _scope(servers)
    if win.since is not None or win.until is not None:
        bounds: dict[str, str] = {}
        if win.since is not None:
            bounds["gte"] = iso(win.since)
        if win.until is not None:
            bounds["lt"] = iso(win.until)
        filters.append({"range": {"@timestamp": bounds}})
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
    reject_tables = {
        "hosts": _distinct("exim.eximstats.ip"),
        "reasons": _terms("exim.eximstats.reason", top),
        "top_ips": _terms("exim.eximstats.ip", top),
    }
    aggs: dict[str, Any] = {
        **_span(),
        "summaries": _filter(
            _SUMMARY,
            {
                "states": {"terms": {"field": "exim.state", "size": 20}},
                **_delays("total_delay", "exim.total_delay"),
                "delivered_volume": _sum("exim.delivered_volume"),
            },
        ),
        "received": _filter(
            _RECEIVED,
            {
                "volume": _sum("exim.size"),
                "senders": _distinct("email.from.address"),
                "delayed": _filter({"exists": {"field": "exim.first_deferral.time"}}),
                "recipients": {
                    "nested": {"path": "exim.recipients"},
                    "aggs": {
                        "failed": _filter(
                            {"exists": {"field": "exim.recipients.failed_time"}},
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
                "hosts": _distinct("exim.eximstats.host"),
                "sender_domains_by_messages": _top("exim.sender_domain", top, by_volume=False),
                "sender_domains_by_volume": _top("exim.sender_domain", top, by_volume=True),
                "local_senders_by_messages": _top("exim.eximstats.user", top, by_volume=False),
                "local_senders_by_volume": _top("exim.eximstats.user", top, by_volume=True),
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
                "primary": _filter(_PRIMARY, {"hosts": _distinct("exim.eximstats.host")}),
                "eximstats_addresses": _filter(_ADDRESS),
                "local_destinations": _terms(
                    "exim.eximstats.destination", top, {"messages": _filter(_PRIMARY)}
                ),
                **_delays("queue_time", "exim.queue_time"),
                **_delays("delivery_time", "exim.delivery_time"),
                "domains_by_deliveries": _top("exim.recipient_domains", top, by_volume=False),
                "domains_by_volume": _top("exim.recipient_domains", top, by_volume=True),
                "hosts_by_deliveries": _top("destination.domain", top, by_volume=False),
                "transports": _top("exim.transport", top, by_volume=False),
            },
        ),
        "relayed": _filter(
            _both(_RECEIVED, {"exists": {"field": "source.ip"}}),
            {
                "total": {
                    "nested": {"path": "exim.recipients"},
                    "aggs": {"relayed": _filter(_RELAYED)},
                },
                "from": _terms(
                    "source.ip",
                    top,
                    {
                        "name": host_name,
                        "sender": {"terms": {"field": "email.from.address", "size": 1, "missing": "<>"}},
                        "to": {
                            "nested": {"path": "exim.recipients"},
                            "aggs": {
                                "relayed": _filter(_RELAYED, {"hosts": _terms("exim.recipients.host", top)})
                            },
                        },
                    },
                ),
            },
        ),
        "deferrals": _filter(by_kind["deferrals"], _messages()),
        "failures": _filter(
            by_kind["failures"],
            {
                **_messages(),
                "error_list": _terms(
                    "exim.error.message.keyword", top, {"addresses": _terms("exim.address", 3)}
                ),
            },
        ),
        "denied": _filter(_both(_EVENT, _DENIED), {"hosts": _distinct("source.ip")}),
        "temp_denied": _filter(_both(_EVENT, _TEMP_DENIED), {"hosts": _distinct("source.ip")}),
        "rejects": _filter(by_kind["rejects"], reject_tables),
        "temp_rejects": _filter(by_kind["temp_rejects"], reject_tables),
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


# A relayed address (eximstats): delivered to a remote host as addressed, not expanded from another.
_RELAYED: dict[str, Any] = {
    "bool": {
        "filter": [
            {"term": {"exim.recipients.outcome": "delivered"}},
            {"exists": {"field": "exim.recipients.host"}},
        ],
        "must_not": [{"exists": {"field": "exim.recipients.original_address"}}],
    }
}


def where_request(servers: Sequence[str]) -> dict[str, Any]:
    """Where the data is, whatever the window: the first and last @timestamp, overall and per server."""
    return {
        "size": 0,
        "track_total_hits": True,
        "query": {"bool": {"filter": _scope(servers)}},
        "aggs": {
            **_span(),
            "per_server": {
                "terms": {"field": "host.name", "size": MAX_SERVERS, "order": {"_key": "asc"}},
                "aggs": _span(),
            },
        },
    }


def indices(prefix: str) -> str:
    return f"{prefix}-events-*,{prefix}-messages-*"


def fetch(cluster: Cluster, prefix: str, body: dict[str, Any], policy: RetryPolicy) -> dict[str, Any]:
    """Run one of the report's searches (transient failures retried); NothingToReport when no index exists."""
    response = policy.call(lambda: cluster.search(indices(prefix), body))
    if response.get("_shards", {}).get("total", 0) == 0:
        raise NothingToReport(
            f"no {prefix}-events-* or {prefix}-messages-* index on the cluster "
            "(wrong --index-prefix, or nothing shipped yet)"
        )
    return response
