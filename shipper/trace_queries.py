"""The OpenSearch queries of a fleet trace: the events that mention a needle, those of given messages, and
the messages linked to them."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from typing import Any

# 23-char ids (Exim >= 4.97, 6-11-4) and 16-char ids (<= 4.96, 6-6-2) coexist after an upgrade.
_B62 = "[0-9A-Za-z]"
MSGID_FULL_RE = re.compile(rf"{_B62}{{6}}-(?:{_B62}{{11}}-{_B62}{{4}}|{_B62}{{6}}-{_B62}{{2}})\Z")

# Hits or buckets a request asks for at a time.
PAGE = 1000
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


def composite(sources: Sequence[tuple[str, str]]) -> dict[str, Any]:
    return {
        "composite": {
            "size": PAGE,
            "sources": [{name: {"terms": {"field": path}}} for name, path in sources],
        }
    }


KEY_SOURCES = (("server", "host.name"), ("id", "email.local_id"))


def links_request(
    remote_ids: Sequence[str], ids: Sequence[str], message_ids: Sequence[str], *, bounces: bool
) -> dict[str, Any]:
    """Messages linked to the current ones: where their deliveries went (by the remote id), which
    deliveries came into them, their bounces, and arrivals elsewhere with the same Message-ID."""
    aggs: dict[str, Any] = {}
    wanted: list[dict[str, Any]] = []

    def add(name: str, query: dict[str, Any], via: str | None) -> None:
        sources = [*KEY_SOURCES, *([("via", via)] if via else [])]
        aggs[name] = {"filter": query, "aggs": {"keys": composite(sources)}}
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


def buckets(response: dict[str, Any], name: str) -> list[dict[str, Any]]:
    agg = response.get("aggregations", {}).get(name, {})
    buckets: list[dict[str, Any]] = agg.get("keys", {}).get("buckets", [])
    return [b["key"] for b in buckets]
