"""Index templates (shipper/index_templates/, the package data `setup` reads): shape, settings, portability, and every real document fits them.

The component and index templates of each document kind are merged into the one mapping OpenSearch or
Elasticsearch would build, then real documents (the bundled sample and, when ../shared is present,
Exim's test-suite logs) are walked leaf by leaf: each path must be mapped with a type that accepts its
JSON value, unless it sits under an explicitly free-form object (`dynamic: false` / `enabled: false`).
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections import defaultdict
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from shipper.opensearch.provision import TEMPLATES
from tests.conftest import shared_path
from tests.parsing import read, stored

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "shipper" / "samples" / "exim_mainlog"
FIELDS_DOC = ROOT / "docs" / "fields.md"
KINDS = ("events", "messages")
COMPONENTS = ("component/ecs-base.json", "component/events.json", "component/messages.json")
FILES = (*COMPONENTS, "events.json", "messages.json", "ism-policy.json", "ilm-policy.json")
CORPUS_DATASETS = {"mainlog": "exim.main", "rejectlog": "exim.reject", "paniclog": "exim.panic"}

DATE_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\Z")
# Types both OpenSearch 2.x and Elasticsearch 7.10+/8.x know (no flattened/flat_object/match_only_text).
PORTABLE_TYPES = {"keyword", "text", "date", "long", "float", "boolean", "ip", "object", "nested"}
# JSON value type -> mapping types that index it without coercion or rejection.
ACCEPTS: dict[type, set[str]] = {
    str: {"keyword", "text", "ip", "date"},
    bool: {"boolean"},
    int: {"long", "float"},
    float: {"float"},
}
# The only objects whose content is kept in _source but never mapped.
FREE_FORM = {"events": {"exim.fields"}, "messages": {"exim.merge_state"}}
# Parser output that breaks the "never null, absent when it does not apply" convention of docs/fields.md
# today. Indexing copes (null and [] index nothing); new paths must not join these lists.
KNOWN_NULLS: set[str] = set()  # the parser leaves out fields that do not apply, never null
KNOWN_EMPTY_LISTS: set[str] = set()  # nor empty lists

Doc = dict[str, Any]


# --- templates ------------------------------------------------------------------------------------


def _load(rel: str) -> Doc:
    data: Doc = json.loads((TEMPLATES / rel).read_text())
    return data


def _deep_merge(base: Doc, extra: Doc) -> Doc:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


@cache
def _mapping(kind: str) -> Doc:
    """The mapping an index of `kind` gets: its component templates in order, then its own."""
    template = _load(f"{kind}.json")
    merged: Doc = {}
    for name in template["composed_of"]:
        merged = _deep_merge(
            merged, _load(f"component/{name.removeprefix('{prefix}-')}.json")["template"]["mappings"]
        )
    return _deep_merge(merged, template["template"]["mappings"])


def _type(spec: Doc) -> str:
    return str(spec.get("type", "object"))


def _properties(spec: Doc, prefix: str = "") -> Iterator[tuple[str, Doc]]:
    """Every declared field (objects included) as (dotted path, spec)."""
    for name, sub in spec.get("properties", {}).items():
        path = f"{prefix}{name}"
        yield path, sub
        yield from _properties(sub, f"{path}.")


def _free_form(spec: Doc) -> bool:
    return spec.get("enabled") is False or spec.get("dynamic") in (False, "false")


def _settings(kind: str) -> dict[str, Any]:
    """The index settings of `kind`, flattened to dotted keys without the `index.` prefix."""
    flat: dict[str, Any] = {}

    def walk(node: Doc, prefix: str) -> None:
        for key, value in node.items():
            if isinstance(value, dict):
                walk(value, f"{prefix}{key}.")
            else:
                flat[f"{prefix}{key}".removeprefix("index.")] = value

    walk(_load(f"{kind}.json")["template"]["settings"], "")
    return flat


def _mapper_count(spec: Doc) -> int:
    """Fields as `index.mapping.total_fields.limit` counts them: objects, leaves and multi-fields."""
    return sum(1 + len(sub.get("fields", {})) for _, sub in _properties(spec))


def _lookup(mapping: Doc, path: str) -> tuple[str, Doc, str]:
    """("mapped", spec, path) | ("disabled", object spec, its path) | ("unmapped", nearest declared object, its path)."""
    node, walked = mapping, ""
    for part in path.split("."):
        sub = node.get("properties", {}).get(part)
        if sub is None:
            return "unmapped", node, walked
        node, walked = sub, f"{walked}.{part}" if walked else part
        if node.get("enabled") is False:
            return "disabled", node, walked
    return "mapped", node, walked


# --- documents ------------------------------------------------------------------------------------


def _events(path: Path, dataset: str) -> list[Doc]:
    """The core's documents of one file's entries, `log.*` as the CLI writes it."""
    return read(path.read_bytes(), server="mx1", dataset=dataset, path=str(path)).docs


def _summaries(path: Path, dataset: str) -> list[Doc]:
    """The message summaries the ship loop's correlator stores for one file (with their merge state)."""
    return stored(path.read_bytes(), max_open=100_000, server="mx1", dataset=dataset)


@cache
def _sample() -> dict[str, list[Doc]]:
    return {"events": _events(SAMPLE, "exim.main"), "messages": _summaries(SAMPLE, "exim.main")}


@cache
def _corpus_docs(base: Path) -> dict[str, list[Doc]]:
    out: dict[str, list[Doc]] = {"events": [], "messages": []}
    for folder, dataset in CORPUS_DATASETS.items():
        for path in sorted((base / folder).iterdir()):
            out["events"] += _events(path, dataset)
            out["messages"] += _summaries(path, dataset)
    return out


def _corpus() -> dict[str, list[Doc]]:
    """Documents of Exim's test-suite logs (one correlator per file); skips when ../shared is absent."""
    return _corpus_docs(shared_path("corpus", "exim-testsuite"))


def _nodes(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """(path, value) for every object and leaf; list items take the list's path, `[]` is yielded as is."""
    if isinstance(value, dict):
        if path:
            yield path, value
        for key, sub in value.items():
            yield from _nodes(sub, f"{path}.{key}" if path else key)
    elif isinstance(value, list) and value:
        for item in value:
            yield from _nodes(item, path)
    else:
        yield path, value


def _misfits(kind: str, docs: list[Doc]) -> list[str]:
    """Every (path, problem) of `docs` against the merged mapping of `kind`, one line each."""
    mapping = _mapping(kind)
    problems: set[str] = set()
    for doc in docs:
        for path, value in _nodes(doc):
            status, spec, where = _lookup(mapping, path)
            if status == "disabled":
                continue
            if status == "unmapped":
                if where not in FREE_FORM[kind] or not _free_form(spec):
                    problems.add(f"{path}: not mapped (nearest declared object: {where or '<root>'})")
                continue
            mtype = _type(spec)
            if isinstance(value, dict):
                if mtype not in ("object", "nested"):
                    problems.add(f"{path}: an object, mapped as {mtype}")
            elif value is None or value == []:
                continue
            elif mtype not in ACCEPTS.get(type(value), set()):  # objects accept no scalar
                problems.add(f"{path}: a {type(value).__name__} value, mapped as {mtype}")
            elif mtype == "ip":
                try:
                    ipaddress.ip_address(value)
                except ValueError:
                    problems.add(f"{path}: {value!r} is not an IP address")
            elif mtype == "date" and not DATE_RE.match(value):
                problems.add(f"{path}: {value!r} is not an ISO-8601 UTC time with milliseconds")
    return sorted(problems)


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        inner = sorted({_json_kind(v) for v in value})
        return f"list[{'|'.join(inner)}]" if inner else "list[]"
    return "null" if value is None else type(value).__name__


def _path_kinds(docs: list[Doc]) -> dict[str, set[str]]:
    """JSON kinds seen per leaf path (a list of objects counts through its objects' leaves)."""
    kinds: dict[str, set[str]] = defaultdict(set)

    def walk(value: Any, path: str) -> None:
        if isinstance(value, dict):
            for key, sub in value.items():
                walk(sub, f"{path}.{key}" if path else key)
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for item in value:
                walk(item, path)
        else:
            kinds[path].add(_json_kind(value))

    for doc in docs:
        walk(doc, "")
    return kinds


# --- shape ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("rel", FILES)
def test_file_is_a_json_object(rel: str) -> None:
    """Every template and policy file parses as one JSON object."""
    assert isinstance(_load(rel), dict)


@pytest.mark.parametrize("rel", COMPONENTS)
def test_component_template_shape(rel: str) -> None:
    """A component template body: mappings with properties only, plus a described _meta."""
    body = _load(rel)
    assert set(body) <= {"template", "version", "_meta"}
    assert set(body["template"]) == {"mappings"}
    assert set(body["template"]["mappings"]) == {"properties"}
    assert body["_meta"]["description"]


@pytest.mark.parametrize("kind", KINDS)
def test_index_template_shape(kind: str) -> None:
    """A composable index template over `{prefix}-<kind>-*` made of ecs-base and its own component."""
    body = _load(f"{kind}.json")
    assert set(body) <= {"index_patterns", "composed_of", "priority", "version", "template", "_meta"}
    assert body["index_patterns"] == [f"{{prefix}}-{kind}-*"]
    assert body["composed_of"] == ["{prefix}-ecs-base", f"{{prefix}}-{kind}"]
    for name in body["composed_of"]:
        assert (TEMPLATES / "component" / f"{name.removeprefix('{prefix}-')}.json").is_file()
    assert body["priority"] == 200
    assert set(body["template"]) == {"settings", "mappings"}
    assert body["template"]["mappings"]["dynamic"] is False
    assert "replica" in json.dumps(body["_meta"])


@pytest.mark.parametrize("kind", KINDS)
def test_index_settings(kind: str) -> None:
    """One shard, one replica, the default codec, and room for every mapped field. Events keep the
    cluster's refresh (1 s, skipped while nobody searches) so a tailed line is soon searchable;
    summaries, rewritten as their messages progress, refresh every 5 s."""
    settings = _settings(kind)
    assert settings["number_of_shards"] == 1
    assert settings["number_of_replicas"] == 1
    if kind == "events":
        # Set explicitly, even to 1s, it would turn off the search-idle skipping.
        assert "refresh_interval" not in settings
        assert "1s" in _load("events.json")["_meta"]["refresh_interval"]
    else:
        assert settings["refresh_interval"] == "5s"
    assert "codec" not in settings
    limit = settings["mapping.total_fields.limit"]
    assert 2 * _mapper_count(_mapping(kind)) <= limit <= 2000
    if kind == "messages":  # one nested document per recipient: Exim's default recipients_max must fit
        assert settings["mapping.nested_objects.limit"] >= 50000
    # Discover's free text searches the raw line of an event; summaries have none, so keep every field.
    assert settings.get("query.default_field") == (["message"] if kind == "events" else None)


def test_placeholders_only() -> None:
    """The prefix and retention appear only as `{prefix}`/`{retention}`; no hard-coded `exim-` names."""
    for rel in FILES:
        text = (TEMPLATES / rel).read_text()
        assert not re.search(r'"exim-(?:events|messages|ecs)', text), rel
        leftovers = set(re.findall(r"\{[a-z_]+\}", text)) - {"{prefix}", "{retention}"}
        assert not leftovers, (rel, leftovers)


# --- mapping rules --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_mapping_is_portable(kind: str) -> None:
    """Only types both engines know; indexed keywords capped at 1024; keyword sub-fields likewise."""
    for path, spec in _properties(_mapping(kind)):
        mtype = _type(spec)
        assert mtype in PORTABLE_TYPES, (path, mtype)
        if mtype == "keyword" and spec.get("index", True):
            assert spec.get("ignore_above") == 1024, path
        for sub in spec.get("fields", {}).values():
            assert sub == {"type": "keyword", "ignore_above": 1024}, path
        if mtype in ("object", "nested"):
            assert "fields" not in spec, path


@pytest.mark.parametrize("kind", KINDS)
def test_free_form_objects(kind: str) -> None:
    """Only the documented free-form objects are left unmapped (dynamic false or disabled)."""
    found = {path for path, spec in _properties(_mapping(kind)) if _free_form(spec)}
    assert found == FREE_FORM[kind]


@pytest.mark.parametrize(
    ("kind", "path", "expected"),
    [
        ("events", "source.ip", {"type": "ip"}),
        ("events", "destination.ip", {"type": "ip"}),
        ("events", "related.ip", {"type": "ip"}),
        ("events", "source.address", {"type": "keyword", "ignore_above": 1024}),
        ("events", "destination.address", {"type": "keyword", "ignore_above": 1024}),
        ("events", "exim.interface.address", {"type": "keyword", "ignore_above": 1024}),
        ("events", "exim.proxy.address", {"type": "keyword", "ignore_above": 1024}),
        (
            "events",
            "event.original",
            {"type": "keyword", "index": False, "doc_values": False, "copy_to": ["message"]},
        ),
        ("events", "message", {"type": "text", "norms": False}),
        ("messages", "message", {"type": "text", "norms": False}),
        ("events", "exim.error.hint", {"type": "keyword", "index": False, "doc_values": False}),
        ("events", "exim.original_base64", {"type": "keyword", "index": False, "doc_values": False}),
        ("events", "exim.fields", {"type": "object", "dynamic": False}),
        ("messages", "exim.merge_state", {"type": "object", "enabled": False}),
        ("messages", "exim.recipients.ip", {"type": "ip"}),
    ],
)
def test_field_rules(kind: str, path: str, expected: Doc) -> None:
    """IPs are `ip` only where always valid; raw text kept but not indexed; free-form maps unmapped."""
    status, spec, _ = _lookup(_mapping(kind), path)
    assert status in ("mapped", "disabled")
    assert spec == expected


@pytest.mark.parametrize(
    ("kind", "path"),
    [
        ("events", "email.subject"),
        ("events", "exim.error.text"),
        ("events", "exim.error.message"),
        ("messages", "email.subject"),
        ("messages", "exim.first_deferral.text"),
        ("messages", "exim.recipients.last_error.text"),
    ],
)
def test_text_with_keyword(kind: str, path: str) -> None:
    """Free text that dashboards aggregate is `text` with a capped `keyword` sub-field."""
    _, spec, _ = _lookup(_mapping(kind), path)
    assert spec == {"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 1024}}}


@pytest.mark.parametrize("kind", KINDS)
def test_copy_to_targets(kind: str) -> None:
    """Every copy_to names a mapped `text` field that documents never carry: the raw line is indexed as
    `message` and kept once in _source (as event.original)."""
    mapping = _mapping(kind)
    targets = {t for _, spec in _properties(mapping) for t in spec.get("copy_to", [])}
    assert targets == {"message"}
    for target in targets:
        status, spec, _ = _lookup(mapping, target)
        assert status == "mapped"
        assert _type(spec) == "text"
    for doc in _sample()[kind]:
        assert not targets & {path for path, _ in _nodes(doc)}


def test_recipients_are_nested() -> None:
    """Per-recipient records of a summary are `nested`, so address and outcome stay paired."""
    _, spec, _ = _lookup(_mapping("messages"), "exim.recipients")
    assert spec["type"] == "nested"
    assert {"address", "outcome", "attempts", "delivered_time", "last_error"} <= set(spec["properties"])


_DOC_TYPES = {
    "keyword": "keyword",
    "text": "text",
    "long": "long",
    "float": "float",
    "boolean": "boolean",
    "date": "date",
    "ip": "ip",
    "object": "object",
    "nested": "nested",
}


def _documented(kind: str) -> list[tuple[str, str | None]]:
    """(field, expected mapping type or None) of every row of the docs/fields.md tables of `kind`."""
    text = FIELDS_DOC.read_text()
    cut = text.index("## 6.")
    part = text[:cut] if kind == "events" else text[cut:]
    out: list[tuple[str, str | None]] = []
    for line in part.splitlines():
        cells = [c.strip() for c in line.split("|")]
        if not line.startswith("| `") or len(cells) < 3:
            continue
        names = [
            n
            for n in re.findall(r"`([^`]+)`", cells[1])
            if re.fullmatch(r"@timestamp|tags|message|[a-z_]+\.[\w.<>]+", n)
        ]
        types = [_DOC_TYPES.get(t.split()[0].removesuffix("[]")) for t in cells[2].split(" / ") if t]
        if len(types) == 1:
            types = types * len(names)
        out += zip(names, types if len(types) == len(names) else [None] * len(names), strict=True)
    return out


@pytest.mark.parametrize("kind", KINDS)
def test_documented_fields_are_mapped(kind: str) -> None:
    """Every field of docs/fields.md is mapped explicitly, with the documented type."""
    mapping = _mapping(kind)
    documented = _documented(kind)
    assert len(documented) > (150 if kind == "events" else 30)
    wrong = []
    for doc_name, doc_type in documented:
        # exim.fields.<TAG> is a free-form map: the object itself is mapped, its tags are not.
        name, expected = (
            ("exim.fields", "object") if doc_name.startswith("exim.fields.") else (doc_name, doc_type)
        )
        status, spec, _ = _lookup(mapping, name)
        if status == "unmapped" or (expected is not None and _type(spec) != expected):
            wrong.append(f"{name}: documented {expected}, {status} as {_type(spec)}")
    assert not wrong, wrong


# --- lifecycle policies ---------------------------------------------------------------------------


def test_ism_policy() -> None:
    """OpenSearch ISM: `{prefix}-events-*` indices are deleted `{retention}` after creation."""
    policy = _load("ism-policy.json")["policy"]
    states = {s["name"]: s for s in policy["states"]}
    first = states[policy["default_state"]]
    [transition] = first["transitions"]
    assert transition["conditions"] == {"min_index_age": "{retention}"}
    assert states[transition["state_name"]]["actions"] == [{"delete": {}}]
    assert policy["ism_template"] == [{"index_patterns": ["{prefix}-events-*"], "priority": 100}]


def test_ilm_policy() -> None:
    """Elasticsearch ILM: a delete phase at `{retention}`; no `_meta` (unknown to ES before 7.14)."""
    body = _load("ilm-policy.json")
    assert set(body) == {"policy"}
    assert set(body["policy"]) == {"phases"}
    assert body["policy"]["phases"]["delete"] == {"min_age": "{retention}", "actions": {"delete": {}}}


# --- real documents -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_sample_documents_fit_mapping(kind: str) -> None:
    """Every path of the bundled sample's documents is mapped with a type its values index into."""
    docs = _sample()[kind]
    assert len(docs) > (20 if kind == "events" else 3)
    assert _misfits(kind, docs) == []


@pytest.mark.parametrize("kind", KINDS)
def test_corpus_documents_fit_mapping(kind: str) -> None:
    """The same for every document of Exim's test-suite main, reject and panic logs."""
    docs = _corpus()[kind]
    assert len(docs) > 1000
    assert _misfits(kind, docs) == []


def test_one_json_kind_per_path() -> None:
    """Across the sample and the corpus each path keeps one JSON type; nulls and [] only where known."""
    try:
        corpus = _corpus()
    except pytest.skip.Exception:
        corpus = {"events": [], "messages": []}
    for kind in KINDS:
        kinds = _path_kinds(_sample()[kind] + corpus[kind])
        nulls = {p for p, k in kinds.items() if "null" in k}
        empties = {p for p, k in kinds.items() if "list[]" in k}
        assert nulls <= KNOWN_NULLS, (kind, nulls)
        assert empties <= KNOWN_EMPTY_LISTS, (kind, empties)
        mixed = {p: k - {"null", "list[]"} for p, k in kinds.items() if len(k - {"null", "list[]"}) > 1}
        assert not mixed, (kind, mixed)
