"""The saved objects' queries and aggregations, run on a real OpenSearch node over an indexed fixture.

Two logs written for this test (tests/fixtures/dashboards_mx{1,2}.log: bounces, deferrals of several
classes and providers, ACL rejections, spam verdicts, authentication failures, frozen messages, TLS
failures, TLS and plain traffic) are shipped with `exim-shipper backfill --server-name mx1|mx2`.

Each saved search and visualisation of kibana/exim-shipper.ndjson is then translated into the search
request Dashboards sends (its Lucene query as a `query_string`, its filters, the time picker's range, its
aggregations nested in order) and run. What the node returns is compared with what the fixture predicts:
the documents `exim-shipper parse` makes of the same logs, selected by a predicate that states in Python
what each query means (INTENT below) and bucketed in Python. A query with a wrong field name, a type that
cannot aggregate or a Lucene typo returns other hits or buckets than the prediction, and fails.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from opensearchpy import OpenSearch

from shipper.opensearch.dashboards import SAVED_OBJECTS, retarget
from tests.conftest import get
from tests.integration.prefixes import drop as drop_prefix
from tests.integration.prefixes import set_up

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = {
    "mx1": ROOT / "tests/fixtures/dashboards_mx1.log",
    "mx2": ROOT / "tests/fixtures/dashboards_mx2.log",
}
NDJSON = SAVED_OBJECTS
sys.path.insert(0, str(ROOT / "tools"))

import build_saved_objects as so  # noqa: E402 - tools/ is a folder of scripts

PREFIX = "tsavedobjects"
# The time picker: the fixture's day. "auto" date histograms resolve to one hour here (the test's choice).
TIME_FROM, TIME_TO = "2025-03-10T00:00:00.000Z", "2025-03-11T00:00:00.000Z"
INTERVAL = "1h"
MISSING = "__missing__"  # the key Dashboards asks for when a terms agg shows a missing bucket
Doc = dict[str, Any]


# --- what each query means ----------------------------------------------------------------------------


def values(doc: Doc, path: str) -> list[Any]:
    """The field's values; a `.keyword` multi-field indexes its parent's value (all under ignore_above)."""
    value = get(doc, path.removesuffix(".keyword"))
    if value is None:
        return []
    return list(dict.fromkeys(value)) if isinstance(value, list) else [value]


def action(*names: str) -> Callable[[Doc], bool]:
    return lambda d: get(d, "event.action") in names


def has(path: str) -> Callable[[Doc], bool]:
    return lambda d: get(d, path) is not None


DELIVERED = action("delivered", "delivered_additional", "delivered_cutthrough")
# `(=` too: mx1's fakereject was accepted, and the report counts it as received.
RECEIVED = action("message_arrived", "message_arrived_fakereject")
ACL = (
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
INTENT: dict[str, Callable[[Doc], bool]] = {
    "": lambda d: True,
    so.RECEIVED: RECEIVED,
    so.DELIVERED: DELIVERED,
    so.DEFERRED: action("delivery_deferred"),
    so.BOUNCED: action("delivery_failed"),
    so.ACL_REJECTED: action(*ACL),
    so.REJECTED: action(*ACL, "size_rejected", "too_many_recipients"),
    so.AUTH_FAILURES: action("auth_failed", "auth_rejected", "remote_auth_failed"),
    so.TLS_FAILURES: lambda d: (
        get(d, "exim.error.class") == "tls_failure"
        or action("tls_error", "tls_verify_error", "tls_fallback")(d)
    ),
    so.SPAM_VERDICTS: action("spam_verdict"),
    so.HAS_ERROR: has("exim.error.class"),
    so.INBOUND_SMTP: lambda d: RECEIVED(d) and has("source.address")(d),
    so.OUTBOUND_SMTP: lambda d: DELIVERED(d) and has("destination.address")(d),
    f"{so.RECEIVED} AND _exists_:user.name": lambda d: RECEIVED(d) and has("user.name")(d),
    "_exists_:tls.version": has("tls.version"),
    "NOT _exists_:tls.version": lambda d: not has("tls.version")(d),
    "_exists_:email.local_id": has("email.local_id"),
    "_exists_:exim.total_delay": has("exim.total_delay"),
    "exim.state:frozen": lambda d: get(d, "exim.state") == "frozen",
}

# Counted by hand from the fixture lines (mx1 + mx2), so the predicates above cannot be vacuous.
KNOWN_HITS = {
    "exim-shipper-search-bounces": 2 + 1,
    "exim-shipper-search-deferrals": 1 + 6,
    "exim-shipper-search-acl-rejections": 5 + 2,
    "exim-shipper-search-spam": 3 + 2,
    "exim-shipper-search-auth-failures": 3 + 2,
    "exim-shipper-search-frozen": 1 + 1,
    "exim-shipper-search-tls-failures": 2 + 1,
}


# --- the indexed corpus and its prediction --------------------------------------------------------


def run(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "shipper", *args]
    return subprocess.run(cmd, check=False, capture_output=True, text=True, cwd=ROOT)


def parsed(server: str, *flags: str) -> list[Doc]:
    res = run("parse", *flags, "--timezone", "UTC", "--server-name", server, str(FIXTURES[server]))
    assert res.returncode == 0, res.stderr
    return [json.loads(line) for line in res.stdout.splitlines()]


def in_window(doc: Doc) -> bool:
    return TIME_FROM <= doc.get("@timestamp", "") <= TIME_TO


@pytest.fixture(scope="module")
def corpus(opensearch_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Both fixtures shipped under a prefix of our own; the parser's documents for the same files."""
    state = tmp_path_factory.mktemp("state")
    client = OpenSearch([opensearch_url])
    try:
        set_up(client, PREFIX)
        for server, path in FIXTURES.items():
            res = run(
                "backfill", str(path), "--opensearch-url", opensearch_url, "--index-prefix", PREFIX,
                "--state-dir", str(state), "--timezone", "UTC", "--server-name", server,
            )  # fmt: skip
            assert res.returncode == 0, res.stderr
        client.indices.refresh(index=f"{PREFIX}-*")
        events = [d for s in FIXTURES for d in parsed(s)]
        messages = [d for s in FIXTURES for d in parsed(s, "--messages")]
        objects = [json.loads(line) for line in retarget(NDJSON.read_bytes(), PREFIX).splitlines()]
        yield {
            "client": client,
            "objects": {o["id"]: o for o in objects},
            "docs": {
                f"{PREFIX}-events-*": [d for d in events if in_window(d)],
                f"{PREFIX}-messages-*": [d for d in messages if in_window(d)],
            },
        }
    finally:
        drop_prefix(client, PREFIX)


def test_the_fixture_is_indexed_whole(corpus: dict[str, Any]) -> None:
    for index, docs in corpus["docs"].items():
        assert corpus["client"].count(index=index)["count"] == len(docs) > 0


# --- translation into search requests -----------------------------------------------------------------


def inner(obj: Doc, key: str) -> Any:
    value = obj["attributes"]
    for part in key.split("."):
        value = value[part]
    return json.loads(value)


def lucene(query: str) -> Doc:
    """What Dashboards sends for a Lucene query (`query:queryString:options` default: analyze_wildcard)."""
    return (
        {"query_string": {"query": query, "analyze_wildcard": True}} if query.strip() else {"match_all": {}}
    )


def time_range(field: str) -> Doc:
    return {"range": {field: {"gte": TIME_FROM, "lte": TIME_TO, "format": "strict_date_optional_time"}}}


def index_of(corpus: dict[str, Any], obj: Doc, ref_name: str = so.SEARCH_INDEX_REF) -> tuple[str, str]:
    """(index pattern title, time field) of the pattern an object references."""
    ref = next(r for r in obj["references"] if r["name"] == ref_name)
    pattern = corpus["objects"][ref["id"]]["attributes"]
    return pattern["title"], pattern["timeFieldName"]


def search_request(corpus: dict[str, Any], obj: Doc) -> tuple[str, Doc, Callable[[Doc], bool]]:
    """A saved search as Discover runs it; and the prediction of which documents it finds."""
    index, time_field = index_of(corpus, obj)
    source = inner(obj, "kibanaSavedObjectMeta.searchSourceJSON")
    query = source["query"]["query"]
    must, must_not = [lucene(query)], []
    predicates = [INTENT[query]]
    for flt in source["filter"]:
        if flt["meta"]["disabled"]:
            continue
        (must_not if flt["meta"]["negate"] else must).append(flt["query"])
        field, value = next(iter(flt["query"]["match_phrase"].items()))
        predicates.append(lambda d, f=field, v=value, neg=flt["meta"]["negate"]: (v in values(d, f)) != neg)
    sort = [
        {name: {"order": direction, "unmapped_type": "boolean"}}
        for name, direction in obj["attributes"]["sort"]
    ]
    body = {
        "size": 1000,
        "track_total_hits": True,
        "query": {"bool": {"must": must, "must_not": must_not, "filter": [time_range(time_field)]}},
        "sort": sort,
    }
    return index, body, lambda d: all(p(d) for p in predicates)


def doc_key(doc: Doc) -> tuple[str, Any]:
    """Identity of a document across the parser and the index: the server plus offset or message id."""
    offset = get(doc, "log.offset")
    return doc["host"]["name"], offset if offset is not None else doc["email"]["local_id"]


SEARCH_IDS = [o["id"] for o in so.build_objects() if o["type"] == "search"]


@pytest.mark.parametrize("search_id", SEARCH_IDS)
def test_saved_search_finds_what_the_fixture_predicts(corpus: dict[str, Any], search_id: str) -> None:
    obj = corpus["objects"][search_id]
    index, body, predicate = search_request(corpus, obj)
    res = corpus["client"].search(index=index, body=body)
    hits = [h["_source"] for h in res["hits"]["hits"]]
    expected = [d for d in corpus["docs"][index] if predicate(d)]
    assert expected, f"{search_id}: the fixture should give this search something to find"
    assert res["hits"]["total"]["value"] == len(hits) == len(expected)
    assert sorted(map(doc_key, hits)) == sorted(map(doc_key, expected))
    if search_id in KNOWN_HITS:
        assert len(hits) == KNOWN_HITS[search_id]
    # Sorted as the saved search says, and every column chosen for triage has something to show.
    name, direction = obj["attributes"]["sort"][0]
    keys = [h["sort"][0] for h in res["hits"]["hits"]]
    assert keys == sorted(keys, reverse=direction == "desc"), f"{search_id}: not sorted by {name}"
    for column in obj["attributes"]["columns"]:
        assert any(get(h, column) is not None for h in hits), f"{search_id}: column {column} is always empty"


# --- visualisations -----------------------------------------------------------------------------------


def bucket_dsl(agg: Doc) -> Doc:
    p = agg["params"]
    kind = agg["type"]
    if kind == "terms":
        order = {"_count": "desc"} if p["orderBy"] == "1" else {p["orderBy"]: "desc"}
        missing = {"missing": MISSING} if p.get("missingBucket") else {}
        return {"terms": {"field": p["field"], "size": p["size"], "order": order, **missing}}
    if kind == "date_histogram":
        return {
            "date_histogram": {
                "field": p["field"],
                "fixed_interval": INTERVAL,
                "min_doc_count": 1,
                "time_zone": "UTC",
            }
        }
    if kind == "histogram":
        return {"histogram": {"field": p["field"], "interval": p["interval"], "min_doc_count": 1}}
    if kind == "range":
        return {"range": {"field": p["field"], "ranges": p["ranges"], "keyed": True}}
    if kind == "filters":
        named = {f["label"]: {"bool": {"must": [lucene(f["input"]["query"])]}} for f in p["filters"]}
        return {"filters": {"filters": named}}
    raise AssertionError(f"no translation for bucket agg {kind}")


def metric_dsl(agg: Doc) -> Doc | None:
    p = agg["params"]
    if agg["type"] == "count":
        return None
    if agg["type"] == "percentiles":
        return {"percentiles": {"field": p["field"], "percents": p["percents"]}}
    if agg["type"] in ("sum", "cardinality", "avg", "min", "max"):
        return {agg["type"]: {"field": p["field"]}}
    raise AssertionError(f"no translation for metric agg {agg['type']}")


def vis_aggs(buckets: list[Doc], metrics: list[Doc]) -> Doc:
    """Bucket aggs nested in the order the editor lists them, the metrics at every level (orderBy needs them)."""
    level: Doc = {m["id"]: dsl for m in metrics if (dsl := metric_dsl(m)) is not None}
    for agg in reversed(buckets):
        node = bucket_dsl(agg)
        if level:
            node["aggs"] = level
        level = {agg["id"]: node, **{m["id"]: dsl for m in metrics if (dsl := metric_dsl(m)) is not None}}
    return level


def hour(ts: str) -> str:
    return ts[:13] + ":00"


def predicted_keys(agg: Doc, doc: Doc) -> list[Any]:
    p = agg["params"]
    kind = agg["type"]
    if kind == "terms":
        return values(doc, p["field"]) or ([MISSING] if p.get("missingBucket") else [])
    if kind == "date_histogram":
        return [hour(doc["@timestamp"])]
    if kind == "histogram":
        return [float(math.floor(v / p["interval"]) * p["interval"]) for v in values(doc, p["field"])]
    if kind == "range":
        return [
            (r.get("from"), r.get("to"))
            for v in values(doc, p["field"])
            for r in p["ranges"]
            if r.get("from", -math.inf) <= v < r.get("to", math.inf)
        ]
    if kind == "filters":
        return [f["label"] for f in p["filters"] if INTENT[f["input"]["query"]](doc)]
    raise AssertionError(kind)


def predicted_leaf(docs: list[Doc], metrics: list[Doc]) -> Doc:
    leaf: Doc = {"count": len(docs)}
    for m in metrics:
        if m["type"] == "sum":
            leaf[m["id"]] = float(sum(v for d in docs for v in values(d, m["params"]["field"])))
        elif m["type"] == "cardinality":
            leaf[m["id"]] = len({v for d in docs for v in values(d, m["params"]["field"])})
        elif m["type"] == "percentiles":
            leaf[m["id"]] = sorted(v for d in docs for v in values(d, m["params"]["field"]))
    return leaf


def predicted_tree(docs: list[Doc], buckets: list[Doc], metrics: list[Doc]) -> Doc:
    if not buckets:
        return predicted_leaf(docs, metrics)
    groups: dict[Any, list[Doc]] = {}
    for doc in docs:
        for key in predicted_keys(buckets[0], doc):
            groups.setdefault(key, []).append(doc)
    if buckets[0]["type"] == "terms":
        # The prediction is only unambiguous when the top-N holds every distinct key.
        assert len(groups) <= buckets[0]["params"]["size"], f"terms {buckets[0]['params']['field']} truncated"
    return {key: predicted_tree(sub, buckets[1:], metrics) for key, sub in groups.items()}


def bucket_key(agg: Doc, name: str | None, bucket: Doc) -> Any:
    kind = agg["type"]
    if kind == "filters":
        return name
    if kind == "range":
        return (bucket.get("from"), bucket.get("to"))
    if kind == "date_histogram":
        return hour(bucket["key_as_string"])
    if kind == "histogram":
        return float(bucket["key"])
    return bucket["key"]


def response_tree(node: Doc, buckets: list[Doc], metrics: list[Doc], count: int) -> Doc:
    if not buckets:
        leaf: Doc = {"count": count}
        for m in metrics:
            if m["type"] in ("sum", "cardinality"):
                leaf[m["id"]] = node[m["id"]]["value"]
            elif m["type"] == "percentiles":
                leaf[m["id"]] = node[m["id"]]["values"]
        return leaf
    agg = buckets[0]
    raw = node[agg["id"]]["buckets"]
    items = raw.items() if isinstance(raw, dict) else [(None, b) for b in raw]
    return {
        bucket_key(agg, name, b): response_tree(b, buckets[1:], metrics, b["doc_count"])
        for name, b in items
        if b["doc_count"] > 0  # filters and ranges answer empty buckets too; the prediction has none
    }


def compare(got: Doc, want: Doc, metrics: list[Doc], path: str) -> None:
    if "count" in want and not any(isinstance(v, dict) for v in want.values()):
        assert got["count"] == want["count"], f"{path}: count"
        for m in metrics:
            if m["type"] == "percentiles":
                observed = want[m["id"]]
                pcts = [got[m["id"]][f"{float(p)}"] for p in m["params"]["percents"]]
                assert pcts == sorted(pcts), f"{path}: percentiles not monotonic"
                assert all(observed[0] <= v <= observed[-1] for v in pcts), f"{path}: {pcts} vs {observed}"
                if observed[0] == observed[-1]:
                    assert pcts == [observed[0]] * len(pcts), path
            elif m["type"] in ("sum", "cardinality"):
                assert got[m["id"]] == pytest.approx(want[m["id"]]), (
                    f"{path}: {m['type']} {m['params']['field']}"
                )
        return
    assert set(got) == set(want), f"{path}: buckets {sorted(got, key=str)} != {sorted(want, key=str)}"
    for key in want:
        compare(got[key], want[key], metrics, f"{path}/{key}")


AGG_VIS_IDS = [
    o["id"]
    for o in so.build_objects()
    if o["type"] == "visualization" and json.loads(o["attributes"]["visState"])["aggs"]
]


@pytest.mark.parametrize("vis_id", AGG_VIS_IDS)
def test_visualisation_aggregation_returns_the_predicted_buckets(corpus: dict[str, Any], vis_id: str) -> None:
    obj = corpus["objects"][vis_id]
    vis = inner(obj, "visState")
    query = inner(obj, "kibanaSavedObjectMeta.searchSourceJSON")["query"]["query"]
    index, time_field = index_of(corpus, obj)
    buckets = [a for a in vis["aggs"] if a["schema"] != "metric"]
    metrics = [a for a in vis["aggs"] if a["schema"] == "metric"]
    body = {
        "size": 0,
        "track_total_hits": True,
        "query": {"bool": {"must": [lucene(query)], "filter": [time_range(time_field)]}},
        "aggs": vis_aggs(buckets, metrics),
    }
    res = corpus["client"].search(index=index, body=body)
    docs = [d for d in corpus["docs"][index] if INTENT[query](d)]
    want = predicted_tree(docs, buckets, metrics)
    got = response_tree(res["aggregations"], buckets, metrics, res["hits"]["total"]["value"])
    assert want and want != {"count": 0}, f"{vis_id}: the fixture should give this visualisation data"
    if buckets:
        assert len(want) >= 2 or vis["type"] == "metric", f"{vis_id}: a single bucket proves little"
    compare(got, want, metrics, vis_id)


def test_per_server_tsvb_table_counts_each_outcome_per_server(corpus: dict[str, Any]) -> None:
    obj = corpus["objects"]["exim-shipper-vis-per-server"]
    params = inner(obj, "visState")["params"]
    # TSVB's table request: pivot terms, one filter agg per series, one auto_date_histogram bucket for the
    # whole range (time_range_mode entire_time_range), count = doc_count.
    series_aggs = {
        s["id"]: {
            "filter": lucene(s["filter"]["query"]),
            "aggs": {"timeseries": {"auto_date_histogram": {"field": params["time_field"], "buckets": 1}}},
        }
        for s in params["series"]
    }
    body = {
        "size": 0,
        "query": {
            "bool": {
                "must": [lucene(params["filter"]["query"])],
                "filter": [time_range(params["time_field"])],
            }
        },
        "aggs": {
            "pivot": {
                "terms": {"field": params["pivot_id"], "size": params["pivot_rows"]},
                "aggs": series_aggs,
            }
        },
    }
    res = corpus["client"].search(index=params["index_pattern"], body=body)
    got = {
        b["key"]: {
            s["label"]: sum(t["doc_count"] for t in b[s["id"]]["timeseries"]["buckets"])
            for s in params["series"]
        }
        for b in res["aggregations"]["pivot"]["buckets"]
    }
    docs = corpus["docs"][params["index_pattern"]]
    want = {
        server: {
            s["label"]: sum(
                1 for d in docs if d["host"]["name"] == server and INTENT[s["filter"]["query"]](d)
            )
            for s in params["series"]
        }
        for server in FIXTURES
    }
    assert got == want
    # By hand from the fixture: mx1 received 7 (one of them `(=`, a fakereject), delivered 6, deferred 1,
    # bounced 2, rejected 5.
    assert want["mx1"] == {"Received": 7, "Delivered": 6, "Deferred": 1, "Bounced": 2, "Rejected": 5}


def test_server_control_lists_every_server(corpus: dict[str, Any]) -> None:
    obj = corpus["objects"]["exim-shipper-vis-server-control"]
    (control,) = inner(obj, "visState")["params"]["controls"]
    index, time_field = index_of(corpus, obj, control["indexPatternRefName"])
    opts = control["options"]
    body = {
        "size": 0,
        "query": {"bool": {"filter": [time_range(time_field)]}},
        "aggs": {
            "termsAgg": {
                "terms": {"field": control["fieldName"], "size": opts["size"], "order": {"_count": "desc"}}
            }
        },
    }
    res = corpus["client"].search(index=index, body=body)
    got = Counter({b["key"]: b["doc_count"] for b in res["aggregations"]["termsAgg"]["buckets"]})
    assert got == Counter(d["host"]["name"] for d in corpus["docs"][index])
    assert set(got) == set(FIXTURES)


def test_troubleshooting_queries_from_the_help_panel_find_one_message(corpus: dict[str, Any]) -> None:
    """The recipes of the help panel, run on both panels' index patterns, find the message and its bounce."""
    local_id = "1trY8C-000000001Bb-0002"
    query = f'email.local_id:"{local_id}" OR exim.bounce_of:"{local_id}"'
    assert 'email.local_id:"' in so.TROUBLESHOOTING_HELP and "OR exim.bounce_of:" in so.TROUBLESHOOTING_HELP
    found = {}
    for index in corpus["docs"]:
        body = {
            "size": 100,
            "query": {"bool": {"must": [lucene(query)], "filter": [time_range("@timestamp")]}},
        }
        hits = corpus["client"].search(index=index, body=body)["hits"]["hits"]
        found[index] = sorted({h["_source"]["email"]["local_id"] for h in hits})
        want = {
            d["email"]["local_id"]
            for d in corpus["docs"][index]
            if local_id in (get(d, "email.local_id"), get(d, "exim.bounce_of"))
        }
        assert found[index] == sorted(want)
    bounce = "1trY8D-000000001Cc-0003"
    assert found == {f"{PREFIX}-events-*": [local_id, bounce], f"{PREFIX}-messages-*": [local_id, bounce]}


def test_setup_installs_templates_then_imports_the_objects_retargeted(
    corpus: dict[str, Any],
    opensearch_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`setup` with both URLs: the real node's templates (already there: unchanged), then the import into a
    stand-in Dashboards (the contract server of tests/unit/test_dashboards_import.py)."""
    import threading
    from http.server import ThreadingHTTPServer

    from shipper import cli
    from tests.unit.test_dashboards_import import FakeDashboards, dashboards_handler

    state = FakeDashboards(require_auth=False)
    server = ThreadingHTTPServer(("127.0.0.1", 0), dashboards_handler(state))
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    for name in ("DASHBOARDS_URL", "USERNAME", "PASSWORD", "API_KEY", "CONFIG"):
        monkeypatch.delenv(f"EXIM_SHIPPER_{name}", raising=False)
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        argv = [
            "setup",
            "--opensearch-url",
            opensearch_url,
            "--index-prefix",
            PREFIX,
            "--dashboards-url",
            url,
        ]
        rc = cli.main(argv)
    finally:
        server.shutdown()
        server.server_close()
    out, err = capsys.readouterr()
    assert rc == 0, err
    lines = out.splitlines()
    assert f"index template {PREFIX}-events: unchanged" in lines
    assert lines[-1].startswith(f"saved objects: {len(corpus['objects'])} imported (overwrite: ")
    titles = {o["attributes"]["title"] for (kind, _), o in state.stored.items() if kind == "index-pattern"}
    assert titles == {f"{PREFIX}-events-*", f"{PREFIX}-messages-*"}
