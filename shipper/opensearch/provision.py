"""Install the index templates and lifecycle policy, idempotently, and say what changed; or only look."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

import orjson

from shipper.errors import NotFound, OpenSearchRejected
from shipper.opensearch.cluster import Cluster

# Package data, so an installed wheel carries its templates; the repository's index_templates/ links here.
TEMPLATES = resources.files("shipper") / "index_templates"
COMPONENTS = ("ecs-base", "events", "messages")
INDEX_TEMPLATES = ("events", "messages")


def _load(path: Traversable, prefix: str, retention: str) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8").replace("{prefix}", prefix).replace("{retention}", retention)
    body: dict[str, Any] = orjson.loads(text)
    # Clusters return templates normalised, so change is judged by a hash of what we sent.
    digest = hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]
    body.setdefault("_meta", {})["exim_shipper_hash"] = digest
    return body


def _get(client: Cluster, path: str) -> Any:
    try:
        return client.request("GET", path)
    except NotFound:
        return None


def _put_if_changed(client: Cluster, path: str, body: dict[str, Any], current_meta: Any) -> str:
    if (
        isinstance(current_meta, dict)
        and current_meta.get("exim_shipper_hash") == body["_meta"]["exim_shipper_hash"]
    ):
        return "unchanged"
    client.request("PUT", path, body=body)
    return "updated" if current_meta is not None else "created"


def setup(client: Cluster, prefix: str, retention: str) -> list[str]:
    """Install or update everything; returns one line per object: `<kind> <name>: <what happened>`."""
    is_opensearch = _is_opensearch(client)
    report: list[str] = []
    for name in COMPONENTS:
        body = _load(TEMPLATES / "component" / f"{name}.json", prefix, retention)
        full = f"{prefix}-{name}"
        cur = _get(client, f"/_component_template/{full}")
        meta = cur["component_templates"][0]["component_template"].get("_meta", {}) if cur else None
        outcome = _put_if_changed(client, f"/_component_template/{full}", body, meta)
        report.append(f"component template {full}: {outcome}")
    policy_note = _lifecycle(client, prefix, retention, is_opensearch=is_opensearch, report=report)
    for name in INDEX_TEMPLATES:
        body = _load(TEMPLATES / f"{name}.json", prefix, retention)
        if not is_opensearch and name == "events" and policy_note == "ilm":
            body["template"].setdefault("settings", {})["index.lifecycle.name"] = f"{prefix}-events"
        full = f"{prefix}-{name}"
        cur = _get(client, f"/_index_template/{full}")
        meta = cur["index_templates"][0]["index_template"].get("_meta", {}) if cur else None
        report.append(
            f"index template {full}: {_put_if_changed(client, f'/_index_template/{full}', body, meta)}"
        )
    return report


def _is_opensearch(client: Cluster) -> bool:
    try:
        info = client.request("GET", "/")
    except OpenSearchRejected as exc:
        # OpenSearch always serves `GET /`; a minimal Elasticsearch (no rest-root module) answers 405.
        if exc.status not in (404, 405):
            raise
        return False
    return bool(info.get("version", {}).get("distribution") == "opensearch")


def _has_ilm(client: Cluster) -> bool:
    """Elasticsearch without x-pack (OSS builds, integ-test distributions) has no `_ilm` endpoints."""
    try:
        client.request("GET", "/_ilm/status")
    except OpenSearchRejected as exc:
        if exc.status not in (400, 404, 405):
            raise
        return False
    return True


def _lifecycle(
    client: Cluster, prefix: str, retention: str, *, is_opensearch: bool, report: list[str]
) -> str:
    name = f"{prefix}-events"
    if is_opensearch:
        plugins = client.request("GET", "/_cat/plugins", params={"format": "json"})
        if not any(p.get("component") == "opensearch-index-management" for p in plugins):
            report.append(f"ISM policy {name}: skipped (the cluster has no index-management plugin)")
            return "none"
        body = _load(TEMPLATES / "ism-policy.json", prefix, retention)
        cur = _get(client, f"/_plugins/_ism/policies/{name}")
        want = body["_meta"]["exim_shipper_hash"]
        # ISM policies have no _meta: the hash rides in the description.
        body["policy"]["description"] = f"{body['policy'].get('description', '')} [{want}]".strip()
        body.pop("_meta")
        if cur is not None and want in cur.get("policy", {}).get("description", ""):
            report.append(f"ISM policy {name}: unchanged")
            return "ism"
        params = {}
        if cur is not None:
            params = {"if_seq_no": cur["_seq_no"], "if_primary_term": cur["_primary_term"]}
        client.request("PUT", f"/_plugins/_ism/policies/{name}", body=body, params=params)
        report.append(f"ISM policy {name}: {'updated' if cur is not None else 'created'}")
        return "ism"
    if not _has_ilm(client):
        report.append(f"ILM policy {name}: skipped (the cluster has no index lifecycle management)")
        return "none"
    body = _load(TEMPLATES / "ilm-policy.json", prefix, retention)
    meta = body.pop("_meta")
    cur = _get(client, f"/_ilm/policy/{name}")
    desc = f"[{meta['exim_shipper_hash']}]"
    if cur is not None and desc in orjson.dumps(cur).decode():
        report.append(f"ILM policy {name}: unchanged")
        return "ilm"
    body["policy"].setdefault("_meta", {})["exim_shipper"] = desc
    note = ""
    try:
        client.request("PUT", f"/_ilm/policy/{name}", body=body)
    except OpenSearchRejected as exc:
        # Elasticsearch before 7.14 has no `_meta` in ILM policies (elastic/elasticsearch#73515).
        if exc.status != 400 or "_meta" not in exc.answer:
            raise
        body["policy"].pop("_meta")
        client.request("PUT", f"/_ilm/policy/{name}", body=body)
        note = " (this Elasticsearch keeps no _meta in policies, so it is rewritten on every setup)"
    report.append(f"ILM policy {name}: {'updated' if cur is not None else 'created'}{note}")
    return "ilm"


@dataclass(frozen=True, slots=True)
class Installed:
    """What the cluster holds of one object `setup` installs, compared with what it would install."""

    kind: str
    name: str
    state: str
    """`current`, `missing`, `different` (installed by another version or changed by hand), or
    `skipped` (the cluster has no lifecycle management, so `setup` installs none)."""

    @property
    def ok(self) -> bool:
        return self.state in ("current", "skipped")


def status(client: Cluster, prefix: str, retention: str) -> list[Installed]:
    """Read-only: each component and index template as `setup` would leave it, judged by the hash
    `setup` stores in its `_meta`. Needs only the right to read templates."""
    base = TEMPLATES
    found: list[Installed] = []
    for name in COMPONENTS:
        want = _load(base / "component" / f"{name}.json", prefix, retention)["_meta"]["exim_shipper_hash"]
        cur = _get(client, f"/_component_template/{prefix}-{name}")
        meta = cur["component_templates"][0]["component_template"].get("_meta", {}) if cur else None
        found.append(Installed("component template", f"{prefix}-{name}", _judge(meta, want)))
    for name in INDEX_TEMPLATES:
        want = _load(base / f"{name}.json", prefix, retention)["_meta"]["exim_shipper_hash"]
        cur = _get(client, f"/_index_template/{prefix}-{name}")
        meta = cur["index_templates"][0]["index_template"].get("_meta", {}) if cur else None
        found.append(Installed("index template", f"{prefix}-{name}", _judge(meta, want)))
    return found


def _judge(meta: Any, want: str) -> str:
    if meta is None:
        return "missing"
    return "current" if isinstance(meta, dict) and meta.get("exim_shipper_hash") == want else "different"


def policy_status(client: Cluster, prefix: str, retention: str) -> Installed:
    """Read-only: the ISM (OpenSearch) or ILM (Elasticsearch) policy as `setup` would leave it, judged
    by the hash `setup` writes into it."""
    base = TEMPLATES
    name = f"{prefix}-events"
    if _is_opensearch(client):
        plugins = client.request("GET", "/_cat/plugins", params={"format": "json"})
        if not any(p.get("component") == "opensearch-index-management" for p in plugins):
            return Installed("ISM policy", name, "skipped")
        want = _load(base / "ism-policy.json", prefix, retention)["_meta"]["exim_shipper_hash"]
        cur = _get(client, f"/_plugins/_ism/policies/{name}")
        described = cur.get("policy", {}).get("description", "") if cur is not None else None
        return Installed("ISM policy", name, _marked(described, want))
    if not _has_ilm(client):
        return Installed("ILM policy", name, "skipped")
    want = _load(base / "ilm-policy.json", prefix, retention)["_meta"]["exim_shipper_hash"]
    cur = _get(client, f"/_ilm/policy/{name}")
    return Installed("ILM policy", name, _marked(orjson.dumps(cur).decode() if cur else None, want))


def _marked(text: str | None, want: str) -> str:
    if text is None:
        return "missing"
    return "current" if f"[{want}]" in text else "different"


def _field_types(properties: dict[str, Any], base: str = "") -> dict[str, str]:
    """`{"a.b": "keyword", …}` of a mapping's leaf fields (objects are walked, multi-fields skipped)."""
    found: dict[str, str] = {}
    for name, spec in properties.items():
        path = f"{base}{name}"
        if "properties" in spec:
            found |= _field_types(spec["properties"], f"{path}.")
        else:
            found[path] = str(spec.get("type", "object"))
    return found


def _template_field_types(kind: str, prefix: str, retention: str) -> dict[str, str]:
    """What the index template of `kind` (events or messages) maps, its component templates merged."""
    found: dict[str, str] = {}
    for part in ("ecs-base", kind):
        body = _load(TEMPLATES / "component" / f"{part}.json", prefix, retention)
        found |= _field_types(body["template"]["mappings"].get("properties", {}))
    body = _load(TEMPLATES / f"{kind}.json", prefix, retention)
    found |= _field_types(body.get("template", {}).get("mappings", {}).get("properties", {}))
    return found


def mapping_drift(client: Cluster, prefix: str, retention: str) -> list[str]:
    """Read-only: the existing indices whose fields are mapped otherwise than the templates say (an index
    made before `setup`, or by hand: `@timestamp` as text makes every time query silently miss it). One
    line per index, naming the fields; empty when all agree."""
    lines: list[str] = []
    for kind in INDEX_TEMPLATES:
        want = _template_field_types(kind, prefix, retention)
        try:
            current = client.request(
                "GET", f"/{prefix}-{kind}-*/_mapping", params={"allow_no_indices": "true"}
            )
        except NotFound:
            continue
        for index, body in sorted(current.items()):
            have = _field_types(body.get("mappings", {}).get("properties", {}))
            wrong = [f"{f} is {have[f]}, not {t}" for f, t in sorted(want.items()) if have.get(f, t) != t]
            if wrong:
                shown = "; ".join(wrong[:3]) + (f"; and {len(wrong) - 3} more" if len(wrong) > 3 else "")
                lines.append(f"index {index}: {shown}")
    return lines
