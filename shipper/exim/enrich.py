"""Enrichment of a parsed event: remote-host facts, HELO checks, address parts, provider, related.*,
and eximstats' reading of the line."""

from __future__ import annotations

from typing import Any

from shipper.exim.actions import DELIVERY_FLAGS
from shipper.exim.event import Document
from shipper.exim.eximstats import eximstats_view
from shipper.exim.fields import address_parts
from shipper.exim.hosts import ip_kind, provider, registered_domain


def _is_ip_literal(helo: str) -> bool:
    """`[192.0.2.1]`, `[IPv6:2001:db8::1]` or a bare address; `[mail.host.tld]` and `[]` are not."""
    if helo.startswith("[") and helo.endswith("]"):
        inner = helo[1:-1]
        if inner[:5].lower() == "ipv6:":
            inner = inner[5:]
        return ip_kind(inner) is not None
    return ip_kind(helo) is not None


def _host_facts(side: dict[str, Any], facts: dict[str, Any]) -> None:
    address = side.get("ip") or side.get("address")
    if address:
        kind = ip_kind(address)
        if kind is not None:
            facts["ip_version"], facts["ip_kind"] = kind
    name = side.get("domain")
    if name:
        reg = registered_domain(name)
        if reg:
            side["registered_domain"] = reg


def _sides(
    source: dict[str, Any] | None,
    destination: dict[str, Any] | None,
    exim: dict[str, Any],
    remote: dict[str, Any],
    hosts: list[str],
) -> list[str]:
    """Facts of the remote host on either side, HELO checks of a client; returns the remote IPs."""
    if source is not None:
        _host_facts(source, remote)
        name, helo = source.get("domain"), exim.get("helo")
        # Exim shows a host name only when reverse DNS verified it (`name [ip]`, `name (helo) [ip]`).
        exim["reverse_verified"] = bool(name)
        if helo is not None:
            exim["helo_is_ip"] = _is_ip_literal(helo)
            if name:
                exim["helo_mismatch"] = helo.lower() != name.lower()
            hosts.append(helo)
    if destination is not None:
        _host_facts(destination, remote)
    related_ip: list[str] = []
    for side in (source, destination):
        if side is not None:
            if "ip" in side:
                related_ip.append(side["ip"])
            if side.get("domain"):
                hosts.append(side["domain"])
    return related_ip


def _sender(email: dict[str, Any], exim: dict[str, Any], hosts: list[str]) -> str | None:
    """Local part and domain of the envelope sender; returns the domain."""
    sender = email.get("from", {}).get("address")
    parts = address_parts(sender) if sender else None
    if parts is None:
        return None
    exim["sender_local_part"], sender_domain = parts
    exim["sender_domain"] = sender_domain
    hosts.append(sender_domain)
    return sender_domain


def _recipients(email: dict[str, Any], exim: dict[str, Any], hosts: list[str]) -> list[str]:
    """Distinct local parts and domains of the recipients; returns the domains."""
    rcpt_domains: list[str] = []
    locals_: list[str] = []
    for rcpt in email.get("to", {}).get("address") or ():
        parts = address_parts(rcpt)
        if parts is not None:
            if parts[0] not in locals_:
                locals_.append(parts[0])
            if parts[1] not in rcpt_domains:
                rcpt_domains.append(parts[1])
    if locals_:
        exim["recipient_local_parts"] = locals_
    if rcpt_domains:
        exim["recipient_domains"] = rcpt_domains
        hosts.extend(rcpt_domains)
    return rcpt_domains


def _provider(
    source: dict[str, Any] | None,
    destination: dict[str, Any] | None,
    exim: dict[str, Any],
    sender_domain: str | None,
    rcpt_domains: list[str],
) -> str | None:
    """The remote side's provider: its host name first, else the mail domain on that side."""
    outbound = destination is not None or exim.get("flag") in DELIVERY_FLAGS
    for candidate in (
        (destination or {}).get("domain"),
        (source or {}).get("domain"),
        rcpt_domains[0] if outbound and rcpt_domains else None,
        sender_domain if exim.get("flag") == "<=" and source is not None else None,
    ):
        family = provider(candidate) if candidate else None
        if family:
            return family
    return None


def _related(doc: Document, exim: dict[str, Any], related_ip: list[str], hosts: list[str]) -> None:
    users: list[str] = []
    user = doc.get("user", {}).get("name")
    for value in (user, exim.get("ident"), exim.get("cpanel_user"), exim.get("auth", {}).get("id")):
        if value and value not in users:
            users.append(value)
    related: dict[str, list[str]] = {}
    if related_ip:
        related["ip"] = related_ip
    if users:
        related["user"] = users
    if hosts:
        related["hosts"] = list(dict.fromkeys(h.lower() for h in hosts))
    if related:
        doc["related"] = related


def enrich(doc: Document) -> Document:
    """Add facts derivable from the document alone (pure: no DNS, no GeoIP, no clock)."""
    exim: dict[str, Any] = doc.setdefault("exim", {})
    source, destination = doc.get("source"), doc.get("destination")
    remote: dict[str, Any] = {}
    hosts: list[str] = []
    related_ip = _sides(source, destination, exim, remote, hosts)
    email = doc.get("email")
    sender_domain, rcpt_domains = None, []
    if email is not None:
        sender_domain = _sender(email, exim, hosts)
        rcpt_domains = _recipients(email, exim, hosts)
    family = _provider(source, destination, exim, sender_domain, rcpt_domains)
    if family:
        remote["provider"] = family
    if remote:
        exim["remote"] = remote
    _related(doc, exim, related_ip, hosts)
    original = doc.get("event", {}).get("original")
    if original:
        view = eximstats_view(original.split("\n", 1)[0])
        if view is not None:
            exim["eximstats"] = view
    if not exim:
        del doc["exim"]
    return doc
