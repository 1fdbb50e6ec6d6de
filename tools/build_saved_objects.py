"""Generate shipper/kibana/exim-shipper.ndjson, the OpenSearch Dashboards saved objects for exim-shipper.

    python tools/build_saved_objects.py           # rewrite shipper/kibana/exim-shipper.ndjson
    python tools/build_saved_objects.py --check   # exit 1 when the committed file is not what this builds

The objects are written in the shape OpenSearch Dashboards 2.x exports (Kibana 7.10 compatible): each one
has `type`, `id`, `attributes`, `references` and `migrationVersion`; the inner `visState`,
`kibanaSavedObjectMeta.searchSourceJSON` and `panelsJSON` are JSON strings. Every query is Lucene syntax,
so what Dashboards sends to the cluster is exactly a `query_string` query of that text. They target the
default index prefix `exim`; `exim-shipper setup --dashboards-url` retargets the titles to another prefix.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# The package data file itself (kibana/ at the top is a link to shipper/kibana/).
OUTPUT = ROOT / "shipper" / "kibana" / "exim-shipper.ndjson"

Obj = dict[str, Any]

# The newest migration each type knows in OpenSearch Dashboards 2.x (and Kibana 7.10): marking the objects
# as already migrated keeps Dashboards from rewriting them, and Kibana 7.11+/8 migrates them upwards.
MIGRATION = {"index-pattern": "7.6.0", "search": "7.9.3", "visualization": "7.10.0", "dashboard": "7.9.3"}
PANEL_VERSION = "7.10.2"  # below 7.3 the dashboard app would re-migrate every panel on load
SEARCH_INDEX_REF = "kibanaSavedObjectMeta.searchSourceJSON.index"

EVENTS = "exim-shipper-events"
MESSAGES = "exim-shipper-messages"
INDEX_PATTERNS = {EVENTS: "exim-events-*", MESSAGES: "exim-messages-*"}
EXAMPLE_SERVER = "mx1"

# --- queries (Lucene) -------------------------------------------------------------------------------

# `<=` and `(=` (fakereject: accepted, though the sender was told it was refused), as the report counts them.
ARRIVAL_ACTIONS = ("message_arrived", "message_arrived_fakereject")
RECEIVED = f"event.action:({' OR '.join(ARRIVAL_ACTIONS)})"
DELIVERED = "event.action:(delivered OR delivered_additional OR delivered_cutthrough)"
DEFERRED = "event.action:delivery_deferred"
BOUNCED = "event.action:delivery_failed"
ACL_REJECTIONS = (
    "connection_rejected",
    "connection_dropped",
    "helo_rejected",
    "mail_rejected",
    "rcpt_rejected",
    "rcpt_discarded",
    "data_rejected",
    "auth_rejected",
    "starttls_rejected",
    "command_rejected",
    "message_rejected",
    "sender_verify_failed",
    "recipient_verify_failed",
)
# What eximstats counts as rejects: the ACL verdicts plus the size and recipient-count limits.
REJECTION_ACTIONS = (*ACL_REJECTIONS, "size_rejected", "too_many_recipients")
ACL_REJECTED = f"event.action:({' OR '.join(ACL_REJECTIONS)})"
REJECTED = f"event.action:({' OR '.join(REJECTION_ACTIONS)})"
AUTH_FAILURES = "event.action:(auth_failed OR auth_rejected OR remote_auth_failed)"
TLS_FAILURES = "exim.error.class:tls_failure OR event.action:(tls_error OR tls_verify_error OR tls_fallback)"
SPAM_VERDICTS = "event.action:spam_verdict"
HAS_ERROR = "_exists_:exim.error.class"
INBOUND_SMTP = f"{RECEIVED} AND _exists_:source.address"
OUTBOUND_SMTP = f"{DELIVERED} AND _exists_:destination.address"
OUTCOMES = (
    ("Received", RECEIVED),
    ("Delivered", DELIVERED),
    ("Deferred", DEFERRED),
    ("Bounced", BOUNCED),
    ("Rejected", REJECTED),
)

# eximstats' queue-time buckets (under 1m, 5m, 15m, 30m, 1h, 3h, 6h, 12h, 1d, over a day), in seconds.
QUEUE_TIME_EDGES = (60, 300, 900, 1800, 3600, 10800, 21600, 43200, 86400)


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _uid(name: str) -> str:
    """Stable ids for TSVB's internal series/metric ids (the output must not change between runs)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"exim-shipper:{name}"))


# --- index patterns ---------------------------------------------------------------------------------


def _duration(output: str) -> Obj:
    params: Obj = {"inputFormat": "seconds", "outputFormat": output}
    if output == "asSeconds":
        params["outputPrecision"] = 3
    return {"id": "duration", "params": params}


BYTES: Obj = {"id": "bytes"}


def index_pattern(ip_id: str, formats: dict[str, Obj]) -> Obj:
    return {
        "type": "index-pattern",
        "id": ip_id,
        "attributes": {
            "title": INDEX_PATTERNS[ip_id],
            "timeFieldName": "@timestamp",
            "fieldFormatMap": _json(formats),
        },
        "references": [],
        "migrationVersion": {"index-pattern": MIGRATION["index-pattern"]},
    }


# --- saved searches ---------------------------------------------------------------------------------


def phrase_filter(field: str, value: str, index_ref: str) -> Obj:
    return {
        "meta": {
            "alias": None,
            "negate": False,
            "disabled": False,
            "type": "phrase",
            "key": field,
            "params": {"query": value},
            "indexRefName": index_ref,
        },
        "query": {"match_phrase": {field: value}},
        "$state": {"store": "appState"},
    }


def saved_search(
    sid: str,
    title: str,
    ip_id: str,
    query: str,
    columns: list[str],
    *,
    description: str,
    sort: list[list[str]] | None = None,
    filters: tuple[tuple[str, str], ...] = (),
) -> Obj:
    refs = [{"name": SEARCH_INDEX_REF, "type": "index-pattern", "id": ip_id}]
    filter_objs = []
    for i, (field, value) in enumerate(filters):
        ref = f"kibanaSavedObjectMeta.searchSourceJSON.filter[{i}].meta.index"
        filter_objs.append(phrase_filter(field, value, ref))
        refs.append({"name": ref, "type": "index-pattern", "id": ip_id})
    source = {
        "query": {"query": query, "language": "lucene"},
        "filter": filter_objs,
        "highlightAll": True,
        "version": True,
        "indexRefName": SEARCH_INDEX_REF,
    }
    return {
        "type": "search",
        "id": sid,
        "attributes": {
            "title": title,
            "description": description,
            "hits": 0,
            "columns": columns,
            "sort": sort if sort is not None else [["@timestamp", "desc"]],
            "version": 1,
            "kibanaSavedObjectMeta": {"searchSourceJSON": _json(source)},
        },
        "references": refs,
        "migrationVersion": {"search": MIGRATION["search"]},
    }


def saved_searches() -> list[Obj]:
    error_cols = ["exim.error.class", "exim.error.smtp_code", "exim.error.enhanced_code", "exim.error.text"]
    return [
        saved_search(
            "exim-shipper-search-bounces",
            "Exim: bounces",
            EVENTS,
            BOUNCED,
            ["host.name", "email.local_id", "exim.address", "destination.domain", *error_cols],
            description=(
                "Recipients that failed for good (** lines): who, why, and which remote host said so."
            ),
        ),
        saved_search(
            "exim-shipper-search-deferrals",
            "Exim: deferrals by class",
            EVENTS,
            DEFERRED,
            [
                "host.name",
                "exim.error.class",
                "exim.remote.provider",
                "destination.domain",
                "exim.address",
                "exim.error.smtp_code",
                "exim.error.enhanced_code",
                "exim.error.text",
            ],
            sort=[["exim.error.class", "asc"], ["@timestamp", "desc"]],
            description=(
                "Deferred deliveries (== lines), grouped by error class, newest first within a class."
            ),
        ),
        saved_search(
            "exim-shipper-search-acl-rejections",
            "Exim: ACL rejections",
            EVENTS,
            ACL_REJECTED,
            [
                "host.name",
                "event.action",
                "source.ip",
                "exim.helo",
                "email.from.address",
                "email.to.address",
                "exim.error.class",
                "exim.error.text",
            ],
            description=(
                "Connections, HELOs, senders, recipients and messages refused by an ACL or a verify callout."
            ),
        ),
        saved_search(
            "exim-shipper-search-spam",
            "Exim: spam verdicts",
            EVENTS,
            SPAM_VERDICTS,
            [
                "host.name",
                "exim.spam.verdict",
                "exim.spam.score",
                "exim.spam.direction",
                "exim.spam.user",
                "email.local_id",
                "source.ip",
            ],
            sort=[["exim.spam.score", "desc"], ["@timestamp", "desc"]],
            description=(
                "SpamAssassin verdicts, highest score first; direction `outgoing` "
                "means a local account sent it."
            ),
        ),
        saved_search(
            "exim-shipper-search-auth-failures",
            "Exim: authentication failures",
            EVENTS,
            AUTH_FAILURES,
            [
                "host.name",
                "source.ip",
                "exim.auth.authenticator",
                "exim.auth.id",
                "exim.interface.port",
                "event.action",
                "exim.error.text",
            ],
            description=(
                "Failed SMTP AUTH attempts (password guessing) and this server's own "
                "failed logins to a smarthost."
            ),
        ),
        saved_search(
            "exim-shipper-search-frozen",
            "Exim: frozen messages",
            MESSAGES,
            "exim.state:frozen",
            [
                "host.name",
                "email.local_id",
                "email.from.address",
                "email.to.address",
                "exim.frozen_time",
                "exim.last_error_class",
                "exim.attempts",
                "exim.bounce_of",
            ],
            description=(
                "Message summaries whose state is frozen (usually undeliverable "
                "bounces): candidates for exim -Mrm."
            ),
        ),
        saved_search(
            "exim-shipper-search-tls-failures",
            "Exim: TLS failures",
            EVENTS,
            TLS_FAILURES,
            [
                "host.name",
                "event.action",
                "source.ip",
                "destination.domain",
                "destination.ip",
                "exim.tls_function",
                "exim.error.text",
            ],
            description="TLS handshake, certificate-verification and fallback errors, inbound and outbound.",
        ),
        saved_search(
            "exim-shipper-search-server-activity",
            "Exim: one server's activity",
            EVENTS,
            "",
            ["event.action", "email.local_id", "exim.address", "exim.error.class", "event.original"],
            filters=(("host.name", EXAMPLE_SERVER),),
            description=(
                f"Everything one server logged. Edit the host.name filter "
                f"(set to {EXAMPLE_SERVER}) to pick "
                "the server."
            ),
        ),
        saved_search(
            "exim-shipper-search-message-summaries",
            "Exim: message summaries",
            MESSAGES,
            "",
            [
                "host.name",
                "email.local_id",
                "exim.state",
                "email.from.address",
                "email.to.address",
                "exim.attempts",
                "exim.total_delay",
                "exim.last_error_class",
                "exim.recipients",
            ],
            description="One row per message and server: state, recipients' outcomes, attempts and delays.",
        ),
        saved_search(
            "exim-shipper-search-message-events",
            "Exim: message events",
            EVENTS,
            "_exists_:email.local_id",
            [
                "host.name",
                "email.local_id",
                "event.action",
                "exim.address",
                "exim.error.class",
                "event.original",
            ],
            sort=[["@timestamp", "asc"], ["log.offset", "asc"]],
            description=(
                "Every log line that carries a message id, oldest first: a message's story, exigrep-style."
            ),
        ),
    ]


# --- visualisations ---------------------------------------------------------------------------------


def agg(aid: str, kind: str, schema: str, **params: Any) -> Obj:
    return {"id": aid, "enabled": True, "type": kind, "params": params, "schema": schema}


def count(label: str = "") -> Obj:
    return agg("1", "count", "metric", **({"customLabel": label} if label else {}))


def terms(
    aid: str, field: str, size: int, schema: str, *, order_by: str = "1", label: str = "", missing: str = ""
) -> Obj:
    """A terms bucket; `missing` names a bucket for documents without the field (Dashboards asks the
    cluster for `missing: "__missing__"` and shows this label)."""
    params: Obj = {
        "field": field,
        "orderBy": order_by,
        "order": "desc",
        "size": size,
        "otherBucket": False,
        "otherBucketLabel": "Other",
        "missingBucket": bool(missing),
        "missingBucketLabel": missing or "Missing",
    }
    if label:
        params["customLabel"] = label
    return agg(aid, "terms", schema, **params)


def date_histogram(aid: str = "2", schema: str = "segment") -> Obj:
    return agg(
        aid,
        "date_histogram",
        schema,
        field="@timestamp",
        interval="auto",
        min_doc_count=1,
        extended_bounds={},
    )


def filters(aid: str, schema: str, named: tuple[tuple[str, str], ...], **extra: Any) -> Obj:
    inputs = [{"input": {"query": q, "language": "lucene"}, "label": label} for label, q in named]
    return agg(aid, "filters", schema, filters=inputs, **extra)


def _value_axis(title: str, position: str = "left") -> Obj:
    horizontal = position == "bottom"
    return {
        "id": "ValueAxis-1",
        "name": "BottomAxis-1" if horizontal else "LeftAxis-1",
        "type": "value",
        "position": position,
        "show": True,
        "style": {},
        "scale": {"type": "linear", "mode": "normal"},
        "labels": {"show": True, "rotate": 75 if horizontal else 0, "filter": horizontal, "truncate": 100},
        "title": {"text": title},
    }


def xy_params(chart: str, series_label: str, *, mode: str = "normal", horizontal: bool = False) -> Obj:
    """vislib params for line / histogram / horizontal_bar, as the editor saves them."""
    category = {
        "id": "CategoryAxis-1",
        "type": "category",
        "position": "left" if horizontal else "bottom",
        "show": True,
        "style": {},
        "scale": {"type": "linear"},
        "labels": {"show": True, "filter": not horizontal, "truncate": 200 if horizontal else 100},
        "title": {},
    }
    series = {
        "show": True,
        "type": "line" if chart == "line" else "histogram",
        "mode": mode,
        "data": {"label": series_label, "id": "1"},
        "valueAxis": "ValueAxis-1",
        "drawLinesBetweenPoints": True,
        "lineWidth": 2,
        "interpolate": "linear",
        "showCircles": True,
    }
    return {
        "type": chart,
        "grid": {"categoryLines": False},
        "categoryAxes": [category],
        "valueAxes": [_value_axis(series_label, "bottom" if horizontal else "left")],
        "seriesParams": [series],
        "addTooltip": True,
        "addLegend": True,
        "legendPosition": "right",
        "times": [],
        "addTimeMarker": False,
        "labels": {"show": False},
        "thresholdLine": {"show": False, "value": 10, "width": 1, "style": "full", "color": "#E7664C"},
    }


TABLE_PARAMS: Obj = {
    "perPage": 10,
    "showPartialRows": False,
    "showMetricsAtAllLevels": False,
    "showTotal": False,
    "totalFunc": "sum",
    "percentageCol": "",
}
PIE_PARAMS: Obj = {
    "type": "pie",
    "addTooltip": True,
    "addLegend": True,
    "legendPosition": "right",
    "isDonut": True,
    "labels": {"show": True, "values": True, "last_level": True, "truncate": 100},
}
METRIC_PARAMS: Obj = {
    "type": "metric",
    "addTooltip": True,
    "addLegend": False,
    "metric": {
        "percentageMode": False,
        "useRanges": False,
        "colorSchema": "Green to Red",
        "metricColorMode": "None",
        "colorsRange": [{"from": 0, "to": 10000}],
        "labels": {"show": True},
        "invertColors": False,
        "style": {"bgFill": "#000", "bgColor": False, "labelColor": False, "subText": "", "fontSize": 36},
    },
}


def visualization(
    vid: str,
    title: str,
    vis_type: str,
    aggs: list[Obj],
    params: Obj,
    *,
    description: str,
    ip_id: str | None = EVENTS,
    query: str = "",
    references: list[Obj] | None = None,
) -> Obj:
    refs = list(references or [])
    source: Obj = {"query": {"query": query, "language": "lucene"}, "filter": []}
    if ip_id is not None:
        source["indexRefName"] = SEARCH_INDEX_REF
        refs.insert(0, {"name": SEARCH_INDEX_REF, "type": "index-pattern", "id": ip_id})
    if vis_type == "metrics":
        source = {}  # TSVB names its index in its params; Dashboards 2.x stores an empty search source
    vis_state = {"title": title, "type": vis_type, "aggs": aggs, "params": params}
    return {
        "type": "visualization",
        "id": vid,
        "attributes": {
            "title": title,
            "description": description,
            "visState": _json(vis_state),
            "uiStateJSON": "{}",
            "version": 1,
            "kibanaSavedObjectMeta": {"searchSourceJSON": _json(source)},
        },
        "references": refs,
        "migrationVersion": {"visualization": MIGRATION["visualization"]},
    }


def per_server_table() -> Obj:
    """TSVB table: one row per server, one column per outcome (standard tables cannot pivot)."""
    series = []
    colours = ("#54B399", "#6092C0", "#D6BF57", "#E7664C", "#9170B8")
    for (label, query), colour in zip(OUTCOMES, colours, strict=True):
        name = label.lower()
        series.append(
            {
                "id": _uid(f"per-server:{name}"),
                "label": label,
                "color": colour,
                "split_mode": "everything",
                "split_color_mode": "gradient",
                "metrics": [{"id": _uid(f"per-server:{name}:count"), "type": "count"}],
                "separate_axis": 0,
                "axis_position": "right",
                "formatter": "number",
                "chart_type": "line",
                "line_width": 1,
                "point_size": 1,
                "fill": 0.5,
                "stacked": "none",
                "filter": {"query": query, "language": "lucene"},
                "value_template": "{{value}}",
                "trend_arrows": 0,
            }
        )
    params = {
        "id": _uid("per-server"),
        "type": "table",
        "series": series,
        "time_field": "@timestamp",
        "index_pattern": INDEX_PATTERNS[EVENTS],
        "interval": "",
        "axis_position": "left",
        "axis_formatter": "number",
        "axis_scale": "normal",
        "show_legend": 1,
        "show_grid": 1,
        "tooltip_mode": "show_all",
        "drop_last_bucket": 0,
        "time_range_mode": "entire_time_range",
        "filter": {"query": "", "language": "lucene"},
        "pivot_id": "host.name",
        "pivot_label": "Server",
        "pivot_rows": 500,
        "pivot_type": "string",
        "bar_color_rules": [{"id": _uid("per-server:bar-rule")}],
        "background_color_rules": [{"id": _uid("per-server:bg-rule")}],
    }
    return visualization(
        "exim-shipper-vis-per-server",
        "Exim: per-server received / delivered / deferred / bounced / rejected",
        "metrics",
        [],
        params,
        ip_id=None,
        description=(
            "One row per server for the whole time range. Log lines are counted, so delivered, deferred "
            "and bounced count recipients and rejected counts refusals."
        ),
    )


def visualisations() -> list[Obj]:
    vols = []
    vols.append(
        visualization(
            "exim-shipper-vis-outcome-totals",
            "Exim: outcome totals",
            "metric",
            [count("Lines"), filters("2", "group", OUTCOMES)],
            METRIC_PARAMS,
            description=(
                "eximstats' grand total: messages received, recipients delivered, "
                "deferred and bounced, refusals."
            ),
        )
    )
    vols.append(
        visualization(
            "exim-shipper-vis-volume-by-server",
            "Exim: mail volume by server",
            "line",
            [count("Messages received"), date_histogram(), terms("3", "host.name", 20, "group")],
            xy_params("line", "Messages received"),
            query=RECEIVED,
            description="Messages received over time, one line per server (top 20).",
        )
    )
    vols.append(
        visualization(
            "exim-shipper-vis-outcomes-over-time",
            "Exim: outcomes over time",
            "histogram",
            [count("Lines"), date_histogram(), filters("3", "group", OUTCOMES[1:])],
            xy_params("histogram", "Lines", mode="stacked"),
            description="Delivered, deferred, bounced and rejected log lines over time.",
        )
    )
    vols.append(
        visualization(
            "exim-shipper-vis-message-states",
            "Exim: message states",
            "pie",
            [count("Messages"), terms("2", "exim.state", 10, "segment")],
            PIE_PARAMS,
            ip_id=MESSAGES,
            description="Message summaries by state (delivered, deferred, bounced, frozen, …).",
        )
    )
    vols.append(
        visualization(
            "exim-shipper-vis-error-classes",
            "Exim: top error classes",
            "horizontal_bar",
            [count("Errors"), terms("2", "exim.error.class", 15, "segment")],
            xy_params("horizontal_bar", "Errors", horizontal=True),
            query=HAS_ERROR,
            description="Failures, deferrals and rejections by error class (docs/fields.md §4).",
        )
    )
    vols.append(
        visualization(
            "exim-shipper-vis-error-classes-over-time",
            "Exim: error classes over time",
            "line",
            [count("Errors"), date_histogram(), terms("3", "exim.error.class", 10, "group")],
            xy_params("line", "Errors"),
            query=HAS_ERROR,
            description="The trend of the ten most frequent error classes.",
        )
    )
    vols.append(
        visualization(
            "exim-shipper-vis-deferrals-by-provider",
            "Exim: deferrals by remote provider and server",
            "table",
            [
                count("Deferrals"),
                terms("2", "exim.remote.provider", 10, "bucket", label="Provider", missing="other"),
                terms("3", "host.name", 20, "bucket", label="Server"),
                terms("4", "exim.error.class", 5, "bucket", label="Class"),
            ],
            TABLE_PARAMS,
            query=DEFERRED,
            description="Which provider defers which server, and why (e.g. gmail / mx7 / rate_limited).",
        )
    )
    for who, field, extra_metric, query in (
        (
            "senders",
            "email.from.address",
            agg(
                "4", "cardinality", "metric", field="exim.recipient_domains", customLabel="Recipient domains"
            ),
            RECEIVED,
        ),
        (
            "authenticated users",
            "user.name",
            agg("4", "cardinality", "metric", field="source.ip", customLabel="Client IPs"),
            f"{RECEIVED} AND _exists_:user.name",
        ),
    ):
        slug = who.replace(" ", "-")
        for by, order_by in (("messages", "1"), ("volume", "2")):
            vols.append(
                visualization(
                    f"exim-shipper-vis-top-{slug}-by-{by}",
                    f"Exim: top {who} by {by}",
                    "table",
                    [
                        count("Messages"),
                        agg("2", "sum", "metric", field="exim.size", customLabel="Bytes"),
                        terms("3", field, 20, "bucket", order_by=order_by, label=who.capitalize()),
                        extra_metric,
                    ],
                    TABLE_PARAMS,
                    query=query,
                    description=(
                        f"Top {who} by {'messages' if by == 'messages' else 'bytes'} received "
                        "(a compromised account stands out here)."
                    ),
                )
            )
    vols.append(
        visualization(
            "exim-shipper-vis-top-recipient-domains",
            "Exim: top recipient domains",
            "horizontal_bar",
            [count("Delivered recipients"), terms("2", "exim.recipient_domains", 15, "segment")],
            xy_params("horizontal_bar", "Delivered recipients", horizontal=True),
            query=DELIVERED,
            description="Domains delivered to, by delivered recipients.",
        )
    )
    vols.append(
        visualization(
            "exim-shipper-vis-delivery-delay",
            "Exim: delivery delay percentiles",
            "line",
            [
                agg("1", "percentiles", "metric", field="exim.queue_time", percents=[50, 95, 99]),
                date_histogram(),
            ],
            xy_params("line", "Queue time (s)"),
            query=DELIVERED,
            description="Time on the queue (QT=) of delivered recipients: median, 95th and 99th percentile.",
        )
    )
    ranges = [{"to": QUEUE_TIME_EDGES[0]}]
    ranges += [{"from": a, "to": b} for a, b in itertools.pairwise(QUEUE_TIME_EDGES)]
    ranges += [{"from": QUEUE_TIME_EDGES[-1]}]
    vols.append(
        visualization(
            "exim-shipper-vis-queue-time",
            "Exim: queue time distribution",
            "histogram",
            [count("Messages"), agg("2", "range", "segment", field="exim.total_delay", ranges=ranges)],
            xy_params("histogram", "Messages"),
            ip_id=MESSAGES,
            query="_exists_:exim.total_delay",
            description="Completed messages by total time on the queue, in eximstats' buckets (seconds).",
        )
    )
    vols.append(
        visualization(
            "exim-shipper-vis-rejections-by-reason",
            "Exim: rejections by reason",
            "table",
            [
                count("Rejections"),
                terms("2", "exim.error.class", 10, "bucket", label="Class"),
                terms("3", "exim.error.text.keyword", 5, "bucket", label="Reason"),
            ],
            TABLE_PARAMS,
            query=REJECTED,
            description="Refusals by error class and the most frequent texts within each.",
        )
    )
    vols.append(
        visualization(
            "exim-shipper-vis-rejections-by-ip",
            "Exim: rejections by client IP",
            "table",
            [
                count("Rejections"),
                terms("2", "source.ip", 20, "bucket", label="Client IP"),
                terms("3", "exim.error.class", 3, "bucket", label="Class"),
            ],
            TABLE_PARAMS,
            query=REJECTED,
            description="The client addresses refused most often, and why.",
        )
    )
    vols.append(
        visualization(
            "exim-shipper-vis-tls-share",
            "Exim: TLS versus plain",
            "pie",
            [
                count("Messages / recipients"),
                filters("2", "split", (("Inbound", INBOUND_SMTP), ("Outbound", OUTBOUND_SMTP)), row=False),
                filters(
                    "3", "segment", (("TLS", "_exists_:tls.version"), ("Plain", "NOT _exists_:tls.version"))
                ),
            ],
            PIE_PARAMS,
            description="Share of SMTP arrivals (inbound) and remote deliveries (outbound) that used TLS.",
        )
    )
    vols.append(
        visualization(
            "exim-shipper-vis-spam-scores",
            "Exim: spam score distribution",
            "histogram",
            [
                count("Verdicts"),
                agg(
                    "2",
                    "histogram",
                    "segment",
                    field="exim.spam.score",
                    interval=1,
                    min_doc_count=False,
                    has_extended_bounds=False,
                    extended_bounds={"min": "", "max": ""},
                ),
                terms("3", "exim.spam.verdict", 2, "group"),
            ],
            xy_params("histogram", "Verdicts", mode="stacked"),
            query=SPAM_VERDICTS,
            description="SpamAssassin scores in steps of 1, split by verdict.",
        )
    )
    vols.append(per_server_table())
    vols.append(
        visualization(
            "exim-shipper-vis-server-control",
            "Exim: server picker",
            "input_control_vis",
            [],
            {
                "controls": [
                    {
                        "id": "1",
                        "fieldName": "host.name",
                        "parent": "",
                        "label": "Server",
                        "type": "list",
                        "options": {
                            "type": "terms",
                            "multiselect": True,
                            "dynamicOptions": True,
                            "size": 500,
                            "order": "desc",
                        },
                        "indexPatternRefName": "control_0_index_pattern",
                    }
                ],
                "updateFiltersOnChange": True,
                "useTimeFilter": True,
                "pinFilters": False,
            },
            ip_id=None,
            references=[{"name": "control_0_index_pattern", "type": "index-pattern", "id": EVENTS}],
            description="Narrows the troubleshooting dashboard to one or more servers.",
        )
    )
    vols.append(
        visualization(
            "exim-shipper-vis-troubleshooting-help",
            "Exim: how to find a message",
            "markdown",
            [],
            {"markdown": TROUBLESHOOTING_HELP, "openLinksInNewTab": False, "fontSize": 11},
            ip_id=None,
            description="Query-bar recipes for the troubleshooting dashboard.",
        )
    )
    return vols


TROUBLESHOOTING_HELP = """\
**Find a message**: type one of these in the query bar (Lucene syntax) and press *Refresh*.

* Exim id: `email.local_id:"1tgXJ4-00000000ZYx-0Aa1"`; add `OR exim.bounce_of:"1tgXJ4-00000000ZYx-0Aa1"` \
to include the bounce it caused
* Address: `email.from.address:"alice@shop.example" OR email.to.address:"alice@shop.example"`
* Header Message-ID: `email.message_id:"5f1c2e@shop.example"`
* Server: pick it in **Server**, or add `AND host.name:"mx1"`
* Any text of the log lines, like grep: type it without a field, e.g. `"Connection refused"`; quote \
anything with punctuation (ids, addresses), or it matches any of its parts

Left, **message summaries**: one row per message and server (state, recipients' outcomes, attempts, delays). \
Right, **message events**: every line of those messages, oldest first; `event.original` is the line as Exim \
wrote it. Widen the time picker if the message is older than 7 days.
"""


# --- dashboards -------------------------------------------------------------------------------------


def dashboard(
    did: str, title: str, description: str, panels: list[tuple[str, str, int, int, int, int]], time_from: str
) -> Obj:
    panel_objs = []
    refs = []
    for i, (kind, ref_id, x, y, w, h) in enumerate(panels):
        n = str(i + 1)
        panel_objs.append(
            {
                "version": PANEL_VERSION,
                "gridData": {"x": x, "y": y, "w": w, "h": h, "i": n},
                "panelIndex": n,
                "embeddableConfig": {},
                "panelRefName": f"panel_{i}",
            }
        )
        refs.append({"name": f"panel_{i}", "type": kind, "id": ref_id})
    source = {"query": {"query": "", "language": "lucene"}, "filter": []}
    return {
        "type": "dashboard",
        "id": did,
        "attributes": {
            "title": title,
            "description": description,
            "hits": 0,
            "panelsJSON": _json(panel_objs),
            "optionsJSON": _json({"useMargins": True, "hidePanelTitles": False}),
            "version": 1,
            "timeRestore": True,
            "timeFrom": time_from,
            "timeTo": "now",
            "refreshInterval": {"pause": True, "value": 0},
            "kibanaSavedObjectMeta": {"searchSourceJSON": _json(source)},
        },
        "references": refs,
        "migrationVersion": {"dashboard": MIGRATION["dashboard"]},
    }


def dashboards() -> list[Obj]:
    v, s = "visualization", "search"
    fleet = [
        (v, "exim-shipper-vis-outcome-totals", 0, 0, 48, 7),
        (v, "exim-shipper-vis-volume-by-server", 0, 7, 24, 13),
        (v, "exim-shipper-vis-outcomes-over-time", 24, 7, 24, 13),
        (v, "exim-shipper-vis-per-server", 0, 20, 24, 15),
        (v, "exim-shipper-vis-message-states", 24, 20, 12, 15),
        (v, "exim-shipper-vis-tls-share", 36, 20, 12, 15),
        (v, "exim-shipper-vis-error-classes", 0, 35, 16, 15),
        (v, "exim-shipper-vis-error-classes-over-time", 16, 35, 32, 15),
        (v, "exim-shipper-vis-deferrals-by-provider", 0, 50, 24, 15),
        (v, "exim-shipper-vis-delivery-delay", 24, 50, 24, 15),
        (v, "exim-shipper-vis-top-senders-by-messages", 0, 65, 16, 15),
        (v, "exim-shipper-vis-top-senders-by-volume", 16, 65, 16, 15),
        (v, "exim-shipper-vis-top-recipient-domains", 32, 65, 16, 15),
        (v, "exim-shipper-vis-top-authenticated-users-by-messages", 0, 80, 24, 15),
        (v, "exim-shipper-vis-top-authenticated-users-by-volume", 24, 80, 24, 15),
        (v, "exim-shipper-vis-rejections-by-reason", 0, 95, 16, 15),
        (v, "exim-shipper-vis-rejections-by-ip", 16, 95, 16, 15),
        (v, "exim-shipper-vis-spam-scores", 32, 95, 16, 15),
        (v, "exim-shipper-vis-queue-time", 0, 110, 24, 15),
    ]
    troubleshooting = [
        (v, "exim-shipper-vis-troubleshooting-help", 0, 0, 32, 10),
        (v, "exim-shipper-vis-server-control", 32, 0, 16, 10),
        (s, "exim-shipper-search-message-summaries", 0, 10, 20, 25),
        (s, "exim-shipper-search-message-events", 20, 10, 28, 25),
        (s, "exim-shipper-search-bounces", 0, 35, 24, 15),
        (s, "exim-shipper-search-deferrals", 24, 35, 24, 15),
    ]
    return [
        dashboard(
            "exim-shipper-dashboard-fleet",
            "Exim: fleet overview",
            "Every server at once: volumes, outcomes, errors, top senders and domains, delays, rejections, "
            "TLS and spam (eximstats for the fleet).",
            fleet,
            "now-24h",
        ),
        dashboard(
            "exim-shipper-dashboard-troubleshooting",
            "Exim: message troubleshooting",
            "Find a message by id, address or server: its summary next to its log lines.",
            troubleshooting,
            "now-7d",
        ),
    ]


# --- output -----------------------------------------------------------------------------------------


def build_objects() -> list[Obj]:
    """Every saved object, dependencies first (index patterns, searches, visualisations, dashboards)."""
    events_formats = {
        "exim.size": BYTES,
        "exim.size_limit": BYTES,
        "exim.queue_time": _duration("humanize"),
        "exim.delivery_time": _duration("asSeconds"),
        "exim.receive_time": _duration("asSeconds"),
        "exim.duration": _duration("asSeconds"),
    }
    messages_formats = {"exim.size": BYTES, "exim.total_delay": _duration("humanize")}
    return [
        index_pattern(EVENTS, events_formats),
        index_pattern(MESSAGES, messages_formats),
        *saved_searches(),
        *visualisations(),
        *dashboards(),
    ]


def render(objects: list[Obj]) -> str:
    return "".join(_json(o) + "\n" for o in objects)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--check", action="store_true", help="compare with the committed file instead of writing")
    args = ap.parse_args(argv)
    text = render(build_objects())
    if args.check:
        current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else ""
        if current != text:
            print(
                f"{OUTPUT.relative_to(ROOT)} is stale: run python tools/build_saved_objects.py",
                file=sys.stderr,
            )
            return 1
        return 0
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote {len(text.splitlines())} saved objects to {OUTPUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
