"""`exim-shipper trace`: the readable story of a message, and its look-up across the fleet's index.

Local traces read files (shipper.cli); `fleet()` finds the same story in OpenSearch: the message's event
lines on every server, its summary, and the messages it is linked to on other servers (an outbound
delivery's `C="… id=…"` names the receiving Exim's id; arrivals with the same Message-ID header).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shipper.errors import NoEventIndex
from shipper.exim.grammar import MSGID_FULL_RE

if TYPE_CHECKING:  # the cluster is made by who needs one: `trace FILE` starts without it
    from shipper.opensearch.cluster import Cluster
    from shipper.opensearch.retry import RetryPolicy


def _fmt_delay(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.3f}s"
    s = int(seconds)
    parts = [(s // 86400, "d"), (s % 86400 // 3600, "h"), (s % 3600 // 60, "m"), (s % 60, "s")]
    return "".join(f"{v}{u}" for v, u in parts if v)


def render_summary(doc: dict[str, Any], extra: Sequence[tuple[str, str]] = ()) -> str:
    """A few aligned lines: state, sender, subject, timing, one line per recipient, then `extra` rows."""
    exim, email = doc["exim"], doc["email"]
    rows: list[tuple[str, str]] = [
        ("message", f"{email['local_id']} on {doc['host']['name']}"),
        ("state", exim["state"]),
    ]
    rows.append(("from", email.get("from", {}).get("address", "<> (bounce)")))
    if "subject" in email:
        rows.append(("subject", email["subject"]))
    arrived = exim.get("arrival_time")
    if arrived:
        src = " (decoded from the message id)" if exim.get("arrival_time_source") == "message_id" else ""
        rows.append(("arrived", arrived + src))
    if "completed_time" in exim:
        delay = f" after {_fmt_delay(exim['total_delay'])}" if "total_delay" in exim else ""
        rows.append(("completed", exim["completed_time"] + delay))
    rows.append(("attempts", str(exim.get("attempts", 0))))
    for key, label in (("first_deferral", "first deferral"), ("last_deferral", "last deferral")):
        if key in exim:
            d = exim[key]
            rows.append((label, f"{d['time']} {d['class']}: {d.get('text', '')}"))
    if "spam" in exim:
        rows.append(("spam", f"{exim['spam'].get('verdict', '?')} ({exim['spam'].get('score', '?')})"))
    if "bounce_of" in exim:
        rows.append(("bounce of", exim["bounce_of"]))
    if exim.get("bounced_by"):
        rows.append(("bounced by", ", ".join(exim["bounced_by"])))
    for r in exim.get("recipients", []):
        detail = r.get("host") or r.get("transport") or ""
        if "last_error" in r and r["outcome"] != "delivered":
            detail = f"{r['last_error']['class']}: {r['last_error'].get('text', '')}"
        address = " ".join([r["address"], *(f"<{a}>" for a in r.get("original_address", []))])
        rows.append(("recipient", f"{address}  {r['outcome']}  {detail}".rstrip()))
    rows.extend(extra)
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"  {k:<{width}}  {v}" for k, v in rows)


# --- fleet-wide trace (OpenSearch) ----------------------------------------------------------------

Key = tuple[str, str]
"""A message's identity in the fleet: (server, Exim message id)."""

# The address fields an address is looked for in, case-blind (the local trace matches the raw text).
ADDRESS_FIELDS = (
    "email.to.address",
    "email.from.address",
    "exim.address",
    "exim.original_address",
    "exim.return_path",
    "exim.original_sender",
)
MAX_MESSAGES = 500
MAX_ROUNDS = 10
# Lines without a message id (refusals, connections) shown at most: a busy IP can have millions.
MAX_SESSION_LINES = 2000
PAGE = 1000
# Pairs per query: each is a two-clause bool, well under the default 1024-clause limit.
KEYS_PER_QUERY = 200
_LINE_FIELDS = ["@timestamp", "host.name", "email.local_id", "event.original", "log.file.path", "log.offset"]
_SORT = [
    {"@timestamp": {"order": "asc", "missing": "_last"}},
    {"host.name": {"order": "asc"}},
    {"log.file.path": {"order": "asc", "missing": "_last"}},
    {"log.offset": {"order": "asc", "missing": "_last"}},
]


@dataclass(slots=True)
class Story:
    """One message of a fleet trace: its lines in time order, its summary, its links to other servers;
    or (`session`) a server's matching lines that belong to no message."""

    key: Key
    lines: list[str] = field(default_factory=list)
    first: str = ""
    summary: dict[str, Any] | None = None
    links: list[tuple[str, str]] = field(default_factory=list)
    session: bool = False


@dataclass(slots=True)
class FleetTrace:
    stories: list[Story]
    truncated: bool = False


def is_message_id(needle: str) -> bool:
    return MSGID_FULL_RE.match(needle) is not None


def needle_query(needle: str) -> dict[str, Any]:
    """Events that mention `needle` as exigrep would find it, by its kind: a message id; an address or a
    Message-ID; an IP; else a host or domain name (subdomains too) or a user name."""
    if is_message_id(needle):
        return {"term": {"email.local_id": needle}}
    value = needle.strip("<>")

    def term(name: str, wanted: str = value) -> dict[str, Any]:
        return {"term": {name: {"value": wanted, "case_insensitive": True}}}

    if "@" in value:
        should = [*(term(name) for name in ADDRESS_FIELDS), {"term": {"email.message_id": value}}]
    else:
        try:
            ip = str(ipaddress.ip_address(value))
        except ValueError:
            ip = None
        if ip is not None:
            should = [{"term": {"related.ip": ip}}, {"term": {"exim.interface.address": ip}}]
        else:
            should = [
                term("related.hosts"),
                {"wildcard": {"related.hosts": {"value": f"*.{value}", "case_insensitive": True}}},
                term("related.user"),
            ]
    return {"bool": {"should": should, "minimum_should_match": 1}}


def seed_query(needle: str) -> dict[str, Any]:
    """Events of the messages a trace starts from."""
    return {"bool": {"filter": [needle_query(needle), {"exists": {"field": "email.local_id"}}]}}


def session_query(needle: str) -> dict[str, Any]:
    """Events that mention `needle` and belong to no message: refusals and other lines of SMTP sessions."""
    return {
        "bool": {
            "filter": [needle_query(needle)],
            "must_not": [{"exists": {"field": "email.local_id"}}],
        }
    }


def keys_query(keys: Iterable[Key]) -> dict[str, Any]:
    """Documents of exactly these (server, id) messages."""
    return {
        "bool": {
            "should": [
                {"bool": {"filter": [{"term": {"host.name": s}}, {"term": {"email.local_id": i}}]}}
                for s, i in keys
            ],
            "minimum_should_match": 1,
        }
    }


def _composite(sources: Sequence[tuple[str, str]]) -> dict[str, Any]:
    return {
        "composite": {
            "size": PAGE,
            "sources": [{name: {"terms": {"field": path}}} for name, path in sources],
        }
    }


_KEY_SOURCES = (("server", "host.name"), ("id", "email.local_id"))


def links_request(
    remote_ids: Sequence[str], ids: Sequence[str], message_ids: Sequence[str], *, bounces: bool
) -> dict[str, Any]:
    """Messages linked to the current ones: where their deliveries went (by the remote id), which
    deliveries came into them, their bounces, and arrivals elsewhere with the same Message-ID."""
    aggs: dict[str, Any] = {}
    wanted: list[dict[str, Any]] = []

    def add(name: str, query: dict[str, Any], via: str | None) -> None:
        sources = [*_KEY_SOURCES, *([("via", via)] if via else [])]
        aggs[name] = {"filter": query, "aggs": {"keys": _composite(sources)}}
        wanted.append(query)

    if remote_ids:
        add("sent_to", {"terms": {"email.local_id": sorted(remote_ids)}}, None)
    if ids:
        add("came_from", {"terms": {"exim.remote_id": sorted(ids)}}, "exim.remote_id")
        if bounces:
            add("bounces", {"terms": {"exim.bounce_of": sorted(ids)}}, "exim.bounce_of")
    if message_ids:
        add("same_message_id", {"terms": {"email.message_id": sorted(message_ids)}}, "email.message_id")
    return {"size": 0, "query": {"bool": {"should": wanted, "minimum_should_match": 1}}, "aggs": aggs}


def _buckets(response: dict[str, Any], name: str) -> list[dict[str, Any]]:
    agg = response.get("aggregations", {}).get(name, {})
    buckets: list[dict[str, Any]] = agg.get("keys", {}).get("buckets", [])
    return [b["key"] for b in buckets]


class _Searcher:
    """Searches with the shipper's retry policy over whichever daily/monthly indices exist."""

    def __init__(self, cluster: Cluster, prefix: str, policy: RetryPolicy) -> None:
        self.cluster = cluster
        self.events = f"{prefix}-events-*"
        self.messages = f"{prefix}-messages-*"
        self.policy = policy

    def search(self, index: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.policy.call(lambda: self.cluster.search(index, body))

    def seed(self, needle: str, limit: int) -> tuple[list[Key], bool]:
        """The (server, id) keys whose events match `needle`, oldest-named first, at most `limit`; and
        whether there were more (one more is fetched to know: exactly `limit` matches is not a cut)."""
        body: dict[str, Any] = {
            "size": 0,
            "query": seed_query(needle),
            "aggs": {"keys": _composite(_KEY_SOURCES)},
        }
        keys: list[Key] = []
        while True:
            response = self.search(self.events, body)
            if response.get("_shards", {}).get("total", 0) == 0:
                raise NoEventIndex(f"no {self.events} index on the cluster (wrong --index-prefix?)")
            agg = response.get("aggregations", {}).get("keys", {})
            for b in agg.get("buckets", []):
                keys.append((b["key"]["server"], b["key"]["id"]))
                if len(keys) > limit:
                    return keys[:limit], True
            after = agg.get("after_key")
            if not after or len(agg.get("buckets", [])) < PAGE:
                return keys, False
            body["aggs"]["keys"]["composite"]["after"] = after

    def session_lines(self, needle: str, limit: int) -> tuple[list[dict[str, Any]], bool]:
        """The events matching `needle` outside any message, in time order, at most `limit`; and
        whether there were more."""
        body: dict[str, Any] = {
            "size": min(PAGE, limit + 1),
            "query": session_query(needle),
            "_source": _LINE_FIELDS,
            "sort": _SORT,
        }
        out: list[dict[str, Any]] = []
        while True:
            hits = self.search(self.events, body).get("hits", {}).get("hits", [])
            out.extend(h["_source"] for h in hits)
            if len(out) > limit:
                return out[:limit], True
            if len(hits) < body["size"]:
                return out, False
            body["search_after"] = hits[-1]["sort"]

    def lines(self, keys: Sequence[Key]) -> list[dict[str, Any]]:
        """Every event of these messages, in time order (then file order)."""
        out: list[dict[str, Any]] = []
        for start in range(0, len(keys), KEYS_PER_QUERY):
            body: dict[str, Any] = {
                "size": PAGE,
                "query": keys_query(keys[start : start + KEYS_PER_QUERY]),
                "_source": [*_LINE_FIELDS, "exim.remote_id", "exim.bounce_of", "email.message_id"],
                "sort": _SORT,
            }
            while True:
                hits = self.search(self.events, body).get("hits", {}).get("hits", [])
                out.extend(h["_source"] for h in hits)
                if len(hits) < PAGE:
                    break
                body["search_after"] = hits[-1]["sort"]
        return out

    def summaries(self, keys: Sequence[Key]) -> dict[Key, dict[str, Any]]:
        out: dict[Key, dict[str, Any]] = {}
        for start in range(0, len(keys), KEYS_PER_QUERY):
            chunk = keys[start : start + KEYS_PER_QUERY]
            body = {
                "size": len(chunk) * 2,
                "query": keys_query(chunk),
                "_source": {"excludes": ["exim.merge_state"]},
            }
            for h in self.search(self.messages, body).get("hits", {}).get("hits", []):
                doc = h["_source"]
                out[(doc["host"]["name"], doc["email"]["local_id"])] = doc
        return out


class _Links:
    """Cross-server links, noted on both messages (each once), and the messages still to trace."""

    def __init__(self) -> None:
        self.rows: dict[Key, list[tuple[str, str]]] = {}
        self.found: list[Key] = []

    def add(self, src: Key, dst: Key, there: str, back: str) -> None:
        self.found += [src, dst]
        for key, label, other in ((src, there, dst), (dst, back, src)):
            row = (label, f"{other[1]} on {other[0]}")
            rows = self.rows.setdefault(key, [])
            if row not in rows:
                rows.append(row)


def fleet_trace(cluster: Cluster, prefix: str, needle: str, *, policy: RetryPolicy) -> FleetTrace:
    """The stories of the messages matching `needle` (an id or an address) on every server, following
    bounces (for an id, as the local trace does) and deliveries or Message-IDs that cross servers."""
    searcher = _Searcher(cluster, prefix, policy)
    by_id = is_message_id(needle)
    seeds, truncated = searcher.seed(needle, MAX_MESSAGES)
    stories: dict[Key, Story] = {k: Story(k) for k in seeds}
    links = _Links()
    frontier = list(seeds)
    for _ in range(MAX_ROUNDS):
        if not frontier:
            break
        remote: dict[str, list[Key]] = {}  # remote id -> our messages that delivered to it
        message_ids: dict[str, list[Key]] = {}
        for doc in searcher.lines(frontier):
            key = (doc["host"]["name"], doc["email"]["local_id"])
            story = stories[key]
            story.lines.append(doc["event"]["original"])
            story.first = story.first or doc.get("@timestamp", "")
            exim = doc.get("exim", {})
            if exim.get("remote_id"):
                _add(remote, exim["remote_id"], key)
            if by_id and exim.get("bounce_of"):
                links.found.append((key[0], exim["bounce_of"]))
            if doc.get("email", {}).get("message_id"):
                _add(message_ids, doc["email"]["message_id"], key)
        ids = sorted({i for _, i in frontier})
        body = links_request(sorted(remote), ids, sorted(message_ids), bounces=by_id)
        response = searcher.search(searcher.events, body) if body["aggs"] else {}
        for k in _buckets(response, "sent_to"):
            for origin in remote.get(k["id"], []):
                if origin[0] != k["server"]:
                    links.add(origin, (k["server"], k["id"]), "sent to", "came from")
        for k in _buckets(response, "came_from"):
            for target in frontier:
                if target[1] == k["via"] and target[0] != k["server"]:
                    links.add((k["server"], k["id"]), target, "sent to", "came from")
        for k in _buckets(response, "bounces"):
            links.found.append((k["server"], k["id"]))
        for k in _buckets(response, "same_message_id"):
            for origin in message_ids.get(k["via"], []):
                if origin[0] != k["server"]:
                    links.add(origin, (k["server"], k["id"]), "same Message-ID", "same Message-ID")
        frontier = []
        for key in dict.fromkeys(links.found):
            if key in stories:
                continue
            if len(stories) >= MAX_MESSAGES:
                truncated = True
                break
            stories[key] = Story(key)
            frontier.append(key)
        links.found.clear()
    # Rounds ran out with messages found but not followed: the list is cut as surely as by the cap.
    truncated = truncated or bool(frontier)
    shown = [s for s in stories.values() if s.lines]
    summaries = searcher.summaries([s.key for s in shown])
    for s in shown:
        s.summary = summaries.get(s.key)
        s.links = links.rows.get(s.key, [])
    session, cut = searcher.session_lines(needle, MAX_SESSION_LINES)
    by_server: dict[str, Story] = {}
    for doc in session:
        server = doc["host"]["name"]
        lines = by_server.get(server)
        if lines is None:
            lines = by_server[server] = Story((server, ""), first=doc.get("@timestamp", ""), session=True)
            shown.append(lines)
        lines.lines.append(doc["event"]["original"])
    shown.sort(key=lambda s: (s.first or "~", s.key))
    return FleetTrace(shown, truncated or cut)


def _add(index: dict[str, list[Key]], value: str, key: Key) -> None:
    keys = index.setdefault(value, [])
    if key not in keys:
        keys.append(key)


def render_fleet(trace: FleetTrace) -> str:
    """Each message's lines, prefixed by their server, then its summary and its links to other servers."""
    width = max((len(s.key[0]) for s in trace.stories), default=0)
    out: list[str] = []
    for story in trace.stories:
        pad = " " * (width + 2)
        for line in story.lines:
            first, *rest = line.split("\n")
            out.append(f"{story.key[0]:<{width}}  {first}")
            out.extend(pad + more for more in rest)
        if story.session:
            out.append(session_row(len(story.lines)))
        elif story.summary is not None:
            out.append(render_summary(story.summary, story.links))
        else:
            out.extend(f"  {label}  {value}" for label, value in story.links)
        out.append("")
    return "\n".join(out) + "\n"


def session_row(count: int) -> str:
    """What closes a group of lines that belong to no message, in place of a summary."""
    lines = f"{count} line{'s' if count != 1 else ''}"
    return f"  no message id  {lines} of SMTP sessions or the daemon (refusals, connections)"
