"""kibana/exim-shipper.ndjson: the shape Dashboards 2.x imports, references that resolve, fields that exist.

Field types come from index_templates/ (ecs-base + the kind's component template, multi-fields such as
`exim.error.text.keyword` included), so a renamed or retyped field breaks this test, not a dashboard.
What the queries and aggregations return on real data is tests/integration/test_saved_objects_queries.py.
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from shipper.opensearch import provision
from shipper.opensearch.dashboards import DEFAULT_PREFIX, SAVED_OBJECTS, retarget
from shipper.report import ARRIVAL_ACTIONS

ROOT = Path(__file__).resolve().parents[2]
NDJSON = SAVED_OBJECTS
TEMPLATES = provision.TEMPLATES / "component"
DOCS = ROOT / "docs" / "dashboards.md"
sys.path.insert(0, str(ROOT / "tools"))

import build_saved_objects  # noqa: E402 - tools/ is a folder of scripts

Obj = dict[str, Any]

# What an OpenSearch Dashboards 2.x / Kibana 7.10 import accepts, per saved-object type.
ATTRIBUTES = {
    "index-pattern": {"title", "timeFieldName", "fieldFormatMap"},
    "search": {"title", "description", "hits", "columns", "sort", "version", "kibanaSavedObjectMeta"},
    "visualization": {"title", "description", "visState", "uiStateJSON", "version", "kibanaSavedObjectMeta"},
    "dashboard": {
        "title",
        "description",
        "hits",
        "panelsJSON",
        "optionsJSON",
        "version",
        "timeRestore",
        "timeFrom",
        "timeTo",
        "refreshInterval",
        "kibanaSavedObjectMeta",
    },
}
# Visualisation types built into Dashboards 2.x (and Kibana 7.10), with the agg schemas each editor offers.
SCHEMAS = {
    "line": {"metric", "segment", "group", "split"},
    "histogram": {"metric", "segment", "group", "split"},
    "horizontal_bar": {"metric", "segment", "group", "split"},
    "pie": {"metric", "segment", "split"},
    "table": {"metric", "bucket", "split"},
    "metric": {"metric", "group"},
    "markdown": set(),
    "input_control_vis": set(),
    "metrics": set(),
}
NUMERIC = {"long", "integer", "short", "byte", "double", "float", "half_float", "scaled_float"}
# Field types each aggregation can run on (all need doc values).
AGG_TYPES = {
    "terms": {"keyword", "ip", "boolean", "date", *NUMERIC},
    "cardinality": {"keyword", "ip", "boolean", "date", *NUMERIC},
    "date_histogram": {"date"},
    "histogram": NUMERIC,
    "range": NUMERIC,
    "percentiles": NUMERIC,
    "sum": NUMERIC,
    "avg": NUMERIC,
    "min": NUMERIC | {"date"},
    "max": NUMERIC | {"date"},
}
BUCKET_AGGS = {"terms", "date_histogram", "histogram", "range", "filters"}
GRID_COLUMNS = 48


# --- the file ---------------------------------------------------------------------------------------


@cache
def objects() -> list[Obj]:
    return [json.loads(line) for line in NDJSON.read_text(encoding="utf-8").splitlines()]


def by_type(kind: str) -> list[Obj]:
    return [o for o in objects() if o["type"] == kind]


def inner(obj: Obj, key: str) -> Any:
    """A JSON-string attribute parsed (`visState`, `panelsJSON`, `kibanaSavedObjectMeta.searchSourceJSON`)."""
    value = obj["attributes"]
    for part in key.split("."):
        value = value[part]
    assert isinstance(value, str), f"{obj['id']}: {key} must be a JSON string"
    return json.loads(value)


def test_committed_file_is_what_the_generator_builds() -> None:
    assert NDJSON.read_text(encoding="utf-8") == build_saved_objects.render(
        build_saved_objects.build_objects()
    )


def test_every_line_is_one_saved_object_of_an_importable_shape() -> None:
    lines = NDJSON.read_text(encoding="utf-8").splitlines()
    assert lines and all(line.strip() for line in lines)
    ids = Counter((o["type"], o["id"]) for o in objects())
    assert max(ids.values()) == 1, "duplicate (type, id)"
    for obj in objects():
        assert set(obj) == {"type", "id", "attributes", "references", "migrationVersion"}, obj["id"]
        assert obj["type"] in ATTRIBUTES, obj["type"]
        assert re.fullmatch(r"[a-z0-9-]+", obj["id"]), obj["id"]
        assert set(obj["attributes"]) == ATTRIBUTES[obj["type"]], obj["id"]
        assert obj["attributes"]["title"]
        assert obj["migrationVersion"] == {obj["type"]: build_saved_objects.MIGRATION[obj["type"]]}
        for ref in obj["references"]:
            assert set(ref) == {"name", "type", "id"}, obj["id"]
        names = [r["name"] for r in obj["references"]]
        assert len(names) == len(set(names)), f"{obj['id']}: duplicate reference names"


def test_inner_json_strings_parse() -> None:
    for obj in objects():
        kind = obj["type"]
        if kind == "index-pattern":
            assert isinstance(inner(obj, "fieldFormatMap"), dict)
        else:
            assert isinstance(inner(obj, "kibanaSavedObjectMeta.searchSourceJSON"), dict)
        if kind == "visualization":
            vis = inner(obj, "visState")
            assert set(vis) == {"title", "type", "aggs", "params"}
            assert vis["title"] == obj["attributes"]["title"]
            assert inner(obj, "uiStateJSON") == {}
        if kind == "dashboard":
            assert isinstance(inner(obj, "panelsJSON"), list)
            assert isinstance(inner(obj, "optionsJSON"), dict)


def test_the_issue_asks_for_at_least_this_many_objects() -> None:
    titles = {o["attributes"]["title"] for o in by_type("index-pattern")}
    assert titles == {"exim-events-*", "exim-messages-*"}
    assert len(by_type("search")) >= 8
    assert len(by_type("visualization")) >= 12
    assert len(by_type("dashboard")) >= 2


def used_reference_names(obj: Obj) -> set[str]:
    """Every `…RefName` the inner JSON uses: each must be a reference of the object."""
    names: set[str] = set()
    if obj["type"] == "index-pattern":
        return names
    source = inner(obj, "kibanaSavedObjectMeta.searchSourceJSON")
    if "indexRefName" in source:
        names.add(source["indexRefName"])
    for flt in source.get("filter", []):
        names.add(flt["meta"]["indexRefName"])
    if obj["type"] == "visualization":
        for control in inner(obj, "visState")["params"].get("controls", []):
            names.add(control["indexPatternRefName"])
    if obj["type"] == "dashboard":
        names |= {panel["panelRefName"] for panel in inner(obj, "panelsJSON")}
    return names


def test_every_reference_resolves_inside_the_file_and_is_used() -> None:
    present = {(o["type"], o["id"]) for o in objects()}
    for obj in objects():
        refs = {r["name"]: r for r in obj["references"]}
        assert used_reference_names(obj) == set(refs), obj["id"]
        for ref in refs.values():
            assert (ref["type"], ref["id"]) in present, f"{obj['id']} -> {ref}"
        if obj["type"] != "dashboard":
            assert all(r["type"] == "index-pattern" for r in refs.values()), obj["id"]
    # Everything but the index patterns sits on a dashboard, so nothing is imported just to be lost.
    on_dashboards = {(r["type"], r["id"]) for d in by_type("dashboard") for r in d["references"]}
    orphans = {
        o["id"]
        for o in objects()
        if o["type"] == "visualization" and ("visualization", o["id"]) not in on_dashboards
    }
    assert not orphans


def test_dashboard_panels_fit_the_grid_without_overlapping() -> None:
    for dash in by_type("dashboard"):
        cells: set[tuple[int, int]] = set()
        panels = inner(dash, "panelsJSON")
        assert len({p["panelIndex"] for p in panels}) == len(panels)
        for panel in panels:
            assert set(panel) == {"version", "gridData", "panelIndex", "embeddableConfig", "panelRefName"}
            grid = panel["gridData"]
            assert grid["i"] == panel["panelIndex"]
            assert grid["x"] >= 0 and grid["x"] + grid["w"] <= GRID_COLUMNS, (dash["id"], grid)
            area = {
                (x, y)
                for x in range(grid["x"], grid["x"] + grid["w"])
                for y in range(grid["y"], grid["y"] + grid["h"])
            }
            assert not cells & area, f"{dash['id']}: panel {panel['panelIndex']} overlaps another"
            cells |= area
        kinds = {r["type"] for r in dash["references"]}
        assert kinds <= {"visualization", "search"}


# --- fields -----------------------------------------------------------------------------------------


def _walk(props: dict[str, Any], prefix: str, out: dict[str, dict[str, Any]]) -> None:
    for name, spec in props.items():
        path = f"{prefix}{name}"
        out[path] = {**spec, "type": spec.get("type", "object")}
        for sub, sub_spec in spec.get("fields", {}).items():
            out[f"{path}.{sub}"] = sub_spec
        if "properties" in spec:
            _walk(spec["properties"], f"{path}.", out)


@cache
def mapping(kind: str) -> dict[str, dict[str, Any]]:
    """Every field path of `<prefix>-<kind>-*` indices -> its mapping (ecs-base + the kind's component)."""
    out: dict[str, dict[str, Any]] = {}
    for name in ("ecs-base", kind):
        template = json.loads((TEMPLATES / f"{name}.json").read_text())
        _walk(template["template"]["mappings"]["properties"], "", out)
    return out


def fields_of(ip_id: str) -> dict[str, dict[str, Any]]:
    return mapping("events" if ip_id == build_saved_objects.EVENTS else "messages")


def searchable(fields: dict[str, dict[str, Any]], name: str) -> bool:
    spec = fields.get(name)
    return spec is not None and spec["type"] not in ("object",) and spec.get("index", True) is not False


def aggregatable(fields: dict[str, dict[str, Any]], name: str, allowed: set[str]) -> bool:
    spec = fields.get(name)
    return spec is not None and spec["type"] in allowed and spec.get("doc_values", True) is not False


_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')
_FIELD = re.compile(r"(?<![\w.@])(_exists_|[A-Za-z@][\w.@]*)\s*:\s*(\S*)")


def lucene_fields(query: str) -> set[str]:
    """Field names a Lucene query string names (`f:v`, `f:(a OR b)`, `_exists_:f`)."""
    names: set[str] = set()
    for m in _FIELD.finditer(_QUOTED.sub('""', query)):
        if m.group(1) == "_exists_":
            names.add(m.group(2).rstrip(")"))
        else:
            names.add(m.group(1))
    return names


def lucene_is_balanced(query: str) -> bool:
    depth = 0
    for ch in _QUOTED.sub('""', query):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0 and query.count('"') % 2 == 0


def test_lucene_field_extraction() -> None:
    q = 'event.action:(a OR b) AND _exists_:tls.version NOT email.to.address:"x:y@z" OR exim.size:>10'
    assert lucene_fields(q) == {"event.action", "tls.version", "email.to.address", "exim.size"}
    assert not lucene_is_balanced("event.action:(a OR b")


def check_query(fields: dict[str, dict[str, Any]], query: Obj, where: str) -> None:
    assert query["language"] == "lucene", where
    assert lucene_is_balanced(query["query"]), where
    for name in lucene_fields(query["query"]):
        assert searchable(fields, name), f"{where}: {name} is not a searchable field"


def index_pattern_of(obj: Obj) -> str | None:
    for ref in obj["references"]:
        if ref["name"] == build_saved_objects.SEARCH_INDEX_REF:
            return str(ref["id"])
    return None


def test_index_patterns_time_field_and_formats() -> None:
    for ip in by_type("index-pattern"):
        fields = fields_of(ip["id"])
        assert fields[ip["attributes"]["timeFieldName"]]["type"] == "date"
        formats = inner(ip, "fieldFormatMap")
        assert {f["id"] for f in formats.values()} == {"bytes", "duration"}
        for name, fmt in formats.items():
            assert fields[name]["type"] in NUMERIC, name
            if fmt["id"] == "duration":
                assert fmt["params"]["inputFormat"] == "seconds"  # docs/fields.md: durations are seconds
        assert "exim.size" in formats


def test_saved_searches_query_show_and_sort_existing_fields() -> None:
    for search in by_type("search"):
        fields = fields_of(index_pattern_of(search) or "")
        source = inner(search, "kibanaSavedObjectMeta.searchSourceJSON")
        check_query(fields, source["query"], search["id"])
        for flt in source["filter"]:
            key = flt["meta"]["key"]
            assert searchable(fields, key), key
            assert flt["query"] == {"match_phrase": {key: flt["meta"]["params"]["query"]}}
        for column in search["attributes"]["columns"]:
            assert column in fields and fields[column]["type"] != "object", f"{search['id']}: {column}"
        for name, direction in search["attributes"]["sort"]:
            assert direction in ("asc", "desc")
            assert aggregatable(fields, name, AGG_TYPES["terms"]), f"{search['id']}: cannot sort on {name}"


def check_aggs(vis_id: str, vis: Obj, fields: dict[str, dict[str, Any]]) -> None:
    aggs = vis["aggs"]
    assert len({a["id"] for a in aggs}) == len(aggs)
    metric_ids = {a["id"] for a in aggs if a["schema"] == "metric"}
    assert metric_ids or not aggs
    for a in aggs:
        where = f"{vis_id} agg {a['id']}"
        assert a["enabled"] is True
        assert a["schema"] in SCHEMAS[vis["type"]], where
        assert (a["type"] in BUCKET_AGGS) == (a["schema"] != "metric"), where
        params = a["params"]
        if a["type"] == "filters":
            for flt in params["filters"]:
                assert flt["label"], where
                check_query(fields, flt["input"], where)
        elif a["type"] != "count":
            assert aggregatable(fields, params["field"], AGG_TYPES[a["type"]]), f"{where}: {params['field']}"
        if a["type"] == "terms":
            assert params["orderBy"] in metric_ids | {"_key"}, where
            assert params["size"] >= 1
        if a["type"] == "range":
            assert all(set(r) <= {"from", "to"} for r in params["ranges"]), where
        if a["type"] == "percentiles":
            assert all(0 < p < 100 for p in params["percents"]), where


def test_visualisations_aggregate_and_filter_on_fields_that_support_it() -> None:
    titles = {ip["attributes"]["title"]: ip["id"] for ip in by_type("index-pattern")}
    for obj in by_type("visualization"):
        vis = inner(obj, "visState")
        source = inner(obj, "kibanaSavedObjectMeta.searchSourceJSON")
        assert vis["type"] in SCHEMAS, obj["id"]
        if vis["type"] == "metrics":
            params = vis["params"]
            assert source == {} and obj["references"] == []
            fields = fields_of(titles[params["index_pattern"]])
            assert fields[params["time_field"]]["type"] == "date"
            assert aggregatable(fields, params["pivot_id"], AGG_TYPES["terms"])
            check_query(fields, params["filter"], obj["id"])
            assert params["time_range_mode"] == "entire_time_range"
            for series in params["series"]:
                check_query(fields, series["filter"], f"{obj['id']} {series['label']}")
                assert [m["type"] for m in series["metrics"]] == ["count"]
            continue
        if vis["type"] in ("markdown", "input_control_vis"):
            assert vis["aggs"] == [] and "indexRefName" not in source
            for control in vis["params"].get("controls", []):
                ref = next(r for r in obj["references"] if r["name"] == control["indexPatternRefName"])
                assert aggregatable(fields_of(ref["id"]), control["fieldName"], {"keyword"})
            continue
        ip_id = index_pattern_of(obj)
        assert ip_id is not None, obj["id"]
        fields = fields_of(ip_id)
        check_query(fields, source["query"], obj["id"])
        assert source["filter"] == []
        check_aggs(obj["id"], vis, fields)
        if vis["type"] in ("line", "histogram", "horizontal_bar"):
            axes = {a["id"] for a in vis["params"]["valueAxes"]}
            assert all(s["valueAxis"] in axes for s in vis["params"]["seriesParams"])
            assert {s["data"]["id"] for s in vis["params"]["seriesParams"]} <= {
                a["id"] for a in vis["aggs"] if a["schema"] == "metric"
            }


def test_a_misspelt_field_would_be_caught() -> None:
    fields = mapping("events")
    assert searchable(fields, "exim.error.text")  # text: searchable, not aggregatable
    assert not aggregatable(fields, "exim.error.text", AGG_TYPES["terms"])
    assert aggregatable(fields, "exim.error.text.keyword", AGG_TYPES["terms"])
    assert not searchable(fields, "event.original")  # index: false
    assert not searchable(fields, "exim.error.klass")
    with pytest.raises(AssertionError):
        check_query(fields, {"query": "exim.error.klass:rate_limited", "language": "lucene"}, "probe")
    count = {"id": "1", "enabled": True, "type": "count", "schema": "metric", "params": {}}
    by_text = {"field": "exim.error.text", "orderBy": "1", "size": 5}
    probe = {"type": "table", "aggs": [count, {**count, "id": "2", "type": "terms", "schema": "bucket"}]}
    probe["aggs"][1]["params"] = {**by_text, "field": "exim.error.text.keyword"}
    check_aggs("probe", probe, fields)
    probe["aggs"][1]["params"] = by_text
    with pytest.raises(AssertionError, match=r"exim\.error\.text"):
        check_aggs("probe", probe, fields)


# --- retargeting and docs ---------------------------------------------------------------------------


def test_retarget_renames_only_the_index_names() -> None:
    data = NDJSON.read_bytes()
    assert retarget(data, DEFAULT_PREFIX) == data
    moved = [json.loads(line) for line in retarget(data, "mail").splitlines()]
    assert [(o["type"], o["id"]) for o in moved] == [(o["type"], o["id"]) for o in objects()]
    titles = {o["attributes"]["title"] for o in moved if o["type"] == "index-pattern"}
    assert titles == {"mail-events-*", "mail-messages-*"}
    tsvb = [json.loads(o["attributes"]["visState"]) for o in moved if o["type"] == "visualization"]
    assert {v["params"]["index_pattern"] for v in tsvb if v["type"] == "metrics"} == {"mail-events-*"}
    for before, after in zip(objects(), moved, strict=True):
        if before["type"] in ("search", "dashboard"):
            assert before == after
    assert b"exim-events-*" not in retarget(data, "mail")


def test_docs_describe_every_dashboard_panel_and_saved_object() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for obj in objects():
        if obj["type"] != "index-pattern":
            assert obj["attributes"]["title"] in text, f"docs/dashboards.md does not describe {obj['id']}"


def test_received_counts_the_arrivals_the_report_counts() -> None:
    """Every query of the file that counts arrivals names exactly the report's arrival actions (`<=` and
    the fakereject `(=`), so a dashboard and `exim-shipper report` agree on what was received."""
    text = NDJSON.read_text(encoding="utf-8").replace('\\"', '"')
    groups = [g for g in re.findall(r"event\.action:(\([^)]*\)|[\w]+)", text) if "message_arrived" in g]
    assert len(groups) >= 5
    for group in groups:
        assert set(group.strip("()").split(" OR ")) == set(ARRIVAL_ACTIONS), group
    received = build_saved_objects.RECEIVED
    assert received in DOCS.read_text(encoding="utf-8")  # the docs' table of action groups
