"""Facts about hosts with no DNS or GeoIP: IP kind and version, registered domain, mail provider family."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from publicsuffixlist import PublicSuffixList

from shipper.exim.data import table
from shipper.exim.fields import ipv4_octets

_PSL = PublicSuffixList()  # the package's bundled snapshot: nothing is fetched

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_DOCUMENTATION = tuple(
    ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
)


@lru_cache(maxsize=8192)
def ip_kind(text: str) -> tuple[int, str] | None:
    """(version, kind) of an address; kind is public, private, loopback, link_local, cgnat,
    ipv4_mapped, documentation, multicast, unspecified or reserved. None when not an IP."""
    octets = ipv4_octets(text)
    if octets is not None:
        return 4, _ipv4_kind(*octets)
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return 6, "ipv4_mapped"
    return addr.version, _address_kind(addr)


def _address_kind(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    if addr.is_loopback:
        kind = "loopback"
    elif addr.is_link_local:
        kind = "link_local"
    elif addr.version == 4 and addr in _CGNAT:
        kind = "cgnat"
    elif any(addr in net for net in _DOCUMENTATION if net.version == addr.version):
        kind = "documentation"
    elif addr.is_multicast:
        kind = "multicast"
    elif addr.is_unspecified:
        kind = "unspecified"
    elif addr.is_reserved:  # before is_private, which also claims 240.0.0.0/4
        kind = "reserved"
    elif addr.is_private:
        kind = "private"
    elif addr.is_global:
        kind = "public"
    else:
        kind = "reserved"
    return kind


def _ipv4_kind(a: int, b: int, c: int, d: int) -> str:
    # Integer tests instead of ipaddress's network scans: most client IPs are seen once.
    if a == 10 or (a == 172 and 16 <= b <= 31) or (a == 192 and b == 168):
        return "private"
    if a == 127:
        return "loopback"
    if a == 169 and b == 254:
        return "link_local"
    if a == 100 and 64 <= b <= 127:
        return "cgnat"
    if (a, b, c) in ((192, 0, 2), (198, 51, 100), (203, 0, 113)):
        return "documentation"
    if 224 <= a <= 239:
        return "multicast"
    if a == 0:
        return "unspecified" if (b, c, d) == (0, 0, 0) else "reserved"
    if a >= 240 or (a == 192 and b == 0 and c == 0) or (a == 198 and b in (18, 19)):
        return "reserved"
    return "public"


@lru_cache(maxsize=8192)
def registered_domain(name: str) -> str | None:
    """The registrable domain of a host or mail domain (`mx1.mail.example.co.uk` -> `example.co.uk`)."""
    name = name.strip(".").lower()
    if not name or "." not in name or ip_kind(name) is not None or name.startswith("["):
        return None
    result: str | None = _PSL.privatesuffix(name)
    return result


_PROVIDER_TABLE = table("providers")
# Host-name suffixes of the big mailbox providers and mail gateways, by family.
PROVIDERS: dict[str, str] = _PROVIDER_TABLE["suffixes"]
# Prefixes tested before any suffix: AOL's MX hosts live in Yahoo's zone (`mx-aol.mail.gm0.yahoodns.net`).
_HOST_PREFIXES: tuple[tuple[str, str], ...] = tuple(
    (row["prefix"], row["family"]) for row in _PROVIDER_TABLE["host_prefixes"]
)


@lru_cache(maxsize=8192)
def provider(name: str) -> str | None:
    """The mail provider family of a host or mail domain, from its name alone."""
    name = name.strip(".").lower()
    for prefix, family in _HOST_PREFIXES:
        if name.startswith(prefix):
            return family
    labels = name.split(".")
    for i in range(len(labels) - 1):
        found = PROVIDERS.get(".".join(labels[i:]))
        if found is not None:
            return found
    return None
