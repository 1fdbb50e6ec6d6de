"""`exim-shipper trace` without files: a message's story looked up across the fleet's index.

`fleet_trace()` finds in OpenSearch what shipper.trace_files finds in files: the message's event lines on
every server, its summary, and the messages it is linked to on other servers (an outbound delivery's
`C="… id=…"` names the receiving Exim's id; arrivals with the same Message-ID header).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shipper.errors import NoEventIndex
from shipper.trace_queries import (
    KEY_SOURCES,
    PAGE,
    Key,
    buckets,
    composite,
    is_message_id,
    keys_query,
    links_request,
    seed_query,
    session_query,
)
from shipper.trace_story import render_summary, session_row

if TYPE_CHECKING:  # the cluster is made by who needs one: `trace FILE` starts without it
    from shipper.opensearch.cluster import Cluster
    from shipper.opensearch.retry import RetryPolicy


MAX_MESSAGES = 500
MAX_ROUNDS = 10
# Lines without a message id (refusals, connections) shown at most: a busy IP can have millions.
MAX_SESSION_LINES = 2000
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
            "aggs": {"keys": composite(KEY_SOURCES)},
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
        remote, message_ids = _read_lines(searcher, frontier, stories, links, by_id=by_id)
        ids = sorted({i for _, i in frontier})
        body = links_request(sorted(remote), ids, sorted(message_ids), bounces=by_id)
        response = searcher.search(searcher.events, body) if body["aggs"] else {}
        _note_links(response, frontier, remote, message_ids, links)
        frontier, cut = _next_frontier(links, stories)
        truncated = truncated or cut
    # Rounds ran out with messages found but not followed: the list is cut as surely as by the cap.
    truncated = truncated or bool(frontier)
    shown = [s for s in stories.values() if s.lines]
    summaries = searcher.summaries([s.key for s in shown])
    for s in shown:
        s.summary = summaries.get(s.key)
        s.links = links.rows.get(s.key, [])
    session, cut = _session_stories(searcher, needle)
    shown.extend(session)
    shown.sort(key=lambda s: (s.first or "~", s.key))
    return FleetTrace(shown, truncated or cut)


def _read_lines(
    searcher: _Searcher, frontier: Sequence[Key], stories: dict[Key, Story], links: _Links, *, by_id: bool
) -> tuple[dict[str, list[Key]], dict[str, list[Key]]]:
    """The frontier's lines into their stories, its bounces (for an id) into `links.found`; and which of
    its messages delivered to each remote id, and which carry each Message-ID."""
    remote: dict[str, list[Key]] = {}
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
    return remote, message_ids


def _note_links(
    response: dict[str, Any],
    frontier: Sequence[Key],
    remote: dict[str, list[Key]],
    message_ids: dict[str, list[Key]],
    links: _Links,
) -> None:
    """The links a links_request found, between the frontier's messages and other servers' (a bounce is
    followed wherever it is)."""
    for k in buckets(response, "sent_to"):
        for origin in remote.get(k["id"], []):
            if origin[0] != k["server"]:
                links.add(origin, (k["server"], k["id"]), "sent to", "came from")
    for k in buckets(response, "came_from"):
        for target in frontier:
            if target[1] == k["via"] and target[0] != k["server"]:
                links.add((k["server"], k["id"]), target, "sent to", "came from")
    for k in buckets(response, "bounces"):
        links.found.append((k["server"], k["id"]))
    for k in buckets(response, "same_message_id"):
        for origin in message_ids.get(k["via"], []):
            if origin[0] != k["server"]:
                links.add(origin, (k["server"], k["id"]), "same Message-ID", "same Message-ID")


def _next_frontier(links: _Links, stories: dict[Key, Story]) -> tuple[list[Key], bool]:
    """The messages found this round and not traced yet, each now with its story; and whether the cap
    on messages left some out."""
    frontier: list[Key] = []
    cut = False
    for key in dict.fromkeys(links.found):
        if key in stories:
            continue
        if len(stories) >= MAX_MESSAGES:
            cut = True
            break
        stories[key] = Story(key)
        frontier.append(key)
    links.found.clear()
    return frontier, cut


def _session_stories(searcher: _Searcher, needle: str) -> tuple[list[Story], bool]:
    """The matching lines outside any message, one story a server; and whether more matched."""
    session, cut = searcher.session_lines(needle, MAX_SESSION_LINES)
    by_server: dict[str, Story] = {}
    for doc in session:
        server = doc["host"]["name"]
        story = by_server.get(server)
        if story is None:
            story = by_server[server] = Story((server, ""), first=doc.get("@timestamp", ""), session=True)
        story.lines.append(doc["event"]["original"])
    return list(by_server.values()), cut


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
