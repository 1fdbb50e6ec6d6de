"""Checks before shipping: `check`'s verdicts (logs, state, cluster, templates, write access) and the
read-only template check `run` and `backfill` make on start."""

from __future__ import annotations

import glob
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from shipper.errors import AccessDenied, ClusterError, NotSetUp
from shipper.opensearch import provision
from shipper.opensearch.cluster import Cluster
from shipper.settings import Settings, url_without_userinfo

SETUP_HINT = "run `exim-shipper setup` centrally"
# The write test's document: one fixed id per server, so that a role that may not delete leaves at
# most one per server and index behind; no @timestamp, so no time-filtered view or report shows it.
CHECK_ID = "exim-shipper-check-{server}"


@dataclass(frozen=True, slots=True)
class Finding:
    """One line of `check`: what was looked at, and `ok` or why not."""

    what: str
    problem: str | None = None
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.problem is None

    @property
    def line(self) -> str:
        if self.problem is not None:
            return f"{self.what}: {self.problem}"
        return f"{self.what}: ok" + (f" ({self.note})" if self.note else "")


def log_paths(patterns: list[str]) -> list[Finding]:
    """Each configured path or glob: the files it resolves to and whether each can be read. A path
    that is not there yet (Exim writes exim_paniclog only on a panic) is fine as long as some are."""
    found: list[Finding] = []
    for pattern in patterns:
        is_glob = any(c in pattern for c in "*?[")
        names = sorted(glob.glob(pattern)) if is_glob else [pattern]  # noqa: PTH207 - absolute globs
        absent = not names or (not is_glob and not Path(pattern).exists())
        if absent:
            found.append(
                Finding(f"log {pattern}", None, "no file matches yet" if is_glob else "not there yet")
            )
            continue
        found.extend(_readable(Path(name)) for name in names)
    if not any(f.ok and not f.note for f in found):
        where = ", ".join(patterns) or "none configured"
        found.append(Finding("logs", f"no readable log file among the configured paths ({where})"))
    return found


def _readable(path: Path) -> Finding:
    what = f"log {path}"
    if not path.is_file():
        return Finding(what, "not a regular file")
    try:
        with path.open("rb") as fh:
            fh.read(1)
    except PermissionError:
        return Finding(what, f"cannot be read by uid {os.getuid()} (permission denied)")
    except OSError as exc:
        return Finding(what, f"cannot be read ({exc.strerror or exc})")
    return Finding(what)


def state_dir(path: Path) -> Finding:
    """The state directory takes a new file; one that is not there yet must be creatable."""
    what = f"state directory {path}"
    if not path.exists():
        parent = next((p for p in path.parents if p.exists()), None)
        if parent is not None and parent.is_dir() and os.access(parent, os.W_OK | os.X_OK):
            return Finding(what, None, "not there yet; it will be created")
        return Finding(what, f"does not exist and cannot be created by uid {os.getuid()}")
    if not path.is_dir():
        return Finding(what, "not a directory")
    try:
        with tempfile.NamedTemporaryFile(dir=path, prefix=".check-"):
            pass
    except OSError as exc:
        return Finding(what, f"not writable by uid {os.getuid()} ({exc.strerror or exc})")
    return Finding(what)


def cluster(client: Cluster, settings: Settings) -> Finding:
    """One request to the cluster's root: reachable, TLS verified, credentials accepted."""
    what = "cluster " + ", ".join(url_without_userinfo(u) for u in settings.opensearch_url)
    try:
        info: dict[str, Any] = client.request("GET", "/")
    except ClusterError as exc:
        return Finding(what, str(exc))
    version = info.get("version", {})
    product = "OpenSearch" if version.get("distribution") == "opensearch" else "Elasticsearch"
    return Finding(what, None, f"{product} {version.get('number', '?')}")


def templates(client: Cluster, settings: Settings) -> tuple[list[Finding], bool]:
    """Each template and the lifecycle policy: installed, and the same as this version's `setup`; and
    whether an index template is known to be missing."""
    try:
        states = provision.status(client, settings.index_prefix, settings.retention)
    except ClusterError as exc:
        return [Finding("templates", f"cannot be read ({_why(exc)})")], False
    missing = any(s.state == "missing" and s.kind == "index template" for s in states)
    unreadable = None
    try:  # apart: a shipper's role may read templates and not the lifecycle plugin's policies
        states.append(provision.policy_status(client, settings.index_prefix, settings.retention))
    except ClusterError as exc:
        what = f"lifecycle policy {settings.index_prefix}-events"
        unreadable = Finding(what, f"cannot be read ({_why(exc)})")
    found = []
    for s in states:
        what = f"{s.kind} {s.name}"
        if s.state == "current":
            found.append(Finding(what))
        elif s.state == "skipped":
            found.append(Finding(what, None, "none: the cluster has no lifecycle management"))
        elif s.state == "missing":
            found.append(Finding(what, f"missing; {SETUP_HINT}"))
        else:
            found.append(Finding(what, f"differs from what this version installs; {SETUP_HINT}"))
    return [*found, *([unreadable] if unreadable else [])], missing


def write_access(client: Cluster, settings: Settings, now: datetime | None = None) -> list[Finding]:
    """The credentials may write what the shipper writes: `create` into the events indices, `index`
    into the message summaries, each tried with one `_bulk` request whose document is then deleted."""
    day = (now or datetime.now(UTC)).strftime("%Y.%m.%d")
    server = settings.effective_server_name()
    targets = (
        ("create", f"{settings.index_prefix}-events-{day}"),
        ("index", f"{settings.index_prefix}-messages-{day[:7]}"),
    )
    return [_try_write(client, op, index, CHECK_ID.format(server=server), server) for op, index in targets]


def _try_write(client: Cluster, op: str, index: str, doc_id: str, server: str) -> Finding:
    what = f"write ({op}) to {index}"
    doc = {"event": {"kind": "state", "dataset": "exim_shipper.check"}, "host": {"name": server}}
    try:
        body = orjson.dumps({op: {"_index": index, "_id": doc_id}}) + b"\n" + orjson.dumps(doc) + b"\n"
        answer = client.bulk(body)
    except ClusterError as exc:
        return Finding(what, f"failed ({_why(exc)})")
    item = next(iter(answer["items"][0].values()))
    status = int(item.get("status", 0))
    if status == 409:  # a test document left by an earlier check: the create was allowed all the same
        return Finding(what, None, "a document of an earlier check is still there")
    if status >= 300:
        error = item.get("error", {})
        reason = error.get("reason") or error.get("type") or "" if isinstance(error, dict) else str(error)
        return Finding(what, f"refused (HTTP {status}: {str(reason)[:200]})")
    try:
        client.request("DELETE", f"/{index}/_doc/{doc_id}")
    except ClusterError as exc:
        return Finding(
            what, None, f"its test document {index}/{doc_id} stays: no right to delete it ({_why(exc)})"
        )
    return Finding(what)


def _why(exc: ClusterError) -> str:
    """The cluster's own reason with its status (a security plugin's 403 names the permission that is
    missing); for a connection or TLS failure the usual one-line translation."""
    if exc.status is not None and exc.reason:
        return f"HTTP {exc.status}: {exc.reason}"
    return str(exc)


def require_templates(client: Cluster, settings: Settings) -> str | None:
    """`run` and `backfill` on start, read-only: missing templates end the command (shipping would
    create wrongly mapped indices); different ones give the warning returned. The lifecycle policy is
    not looked at: retention is decided centrally, by whoever runs `setup`."""
    try:
        states = provision.status(client, settings.index_prefix, settings.retention)
    except AccessDenied as exc:
        return f"cannot check the index templates ({_why(exc)}); shipping without knowing they are there"
    missing = [s for s in states if s.state == "missing"]
    if len(missing) == len(states):
        raise NotSetUp(
            f"the cluster has no index templates for prefix {settings.index_prefix!r}; {SETUP_HINT} first"
        )
    if missing:
        raise NotSetUp(f"templates missing in the cluster ({_named(missing)}); {SETUP_HINT} first")
    different = [s for s in states if not s.ok]
    if different:
        return f"templates differ from what this version installs ({_named(different)}); {SETUP_HINT}"
    return None


def _named(states: list[provision.Installed]) -> str:
    return ", ".join(f"{s.kind} {s.name}" for s in states)


def everything(settings: Settings, client: Cluster | None) -> Iterator[Finding]:
    """`check`'s findings in order, each as soon as it is known (a cluster may take its time)."""
    yield from log_paths(settings.paths)
    yield state_dir(settings.state_dir)
    if client is None:
        yield Finding(
            "cluster", "no OpenSearch URL configured (--opensearch-url or EXIM_SHIPPER_OPENSEARCH_URL)"
        )
        return
    reached = cluster(client, settings)
    yield reached
    if not reached.ok:
        yield Finding("templates and write access", "not checked: the cluster was not reached")
        return
    found, missing = templates(client, settings)
    yield from found
    yield index_mappings(client, settings)
    if missing:
        yield Finding("write access", "not checked: a test write would create an index without its template")
        return
    yield from write_access(client, settings)


def index_mappings(client: Cluster, settings: Settings) -> Finding:
    """The indices already there map their fields as the templates do (one made before `setup`, or by hand,
    may not: then searches and the report silently miss its documents)."""
    try:
        drift = provision.mapping_drift(client, settings.index_prefix, settings.retention)
    except ClusterError as exc:
        return Finding("index mappings", f"cannot read them ({_why(exc)})")
    if drift:
        more = f" (and {len(drift) - 1} more indices)" if len(drift) > 1 else ""
        return Finding(
            "index mappings",
            f"{drift[0]}{more}; reindex or delete such an index: the template only shapes new ones",
        )
    return Finding("index mappings", note="every existing index maps its fields as the templates do")
