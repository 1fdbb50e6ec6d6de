"""Host facts and enrichment: IP kinds, registered domains, providers, HELO checks, related.*, each read from
the core's document of a line that carries it."""

from __future__ import annotations

import pytest

from tests.conftest import get, parse

ID = "1tXaaa-00000001abc-0ABC"


def _arrival_from(ip: str) -> dict[str, object]:
    return parse(f"2025-01-31 10:00:00 {ID} <= a@b.example H=(x) [{ip}] P=esmtp S=1")


def _delivery_to(host: str) -> dict[str, object]:
    """A delivery to `host` (an `H=` host group) for a recipient whose domain names no provider."""
    return parse(f"2025-01-31 10:00:00 {ID} => a@example.net R=dnslookup T=remote_smtp H={host}")


@pytest.mark.parametrize(
    ("ip", "expected"),
    [
        ("8.8.8.8", (4, "public")),
        ("10.1.2.3", (4, "private")),
        ("192.168.1.1", (4, "private")),
        ("172.16.5.4", (4, "private")),
        ("127.0.0.1", (4, "loopback")),
        ("169.254.1.1", (4, "link_local")),
        ("100.64.0.1", (4, "cgnat")),
        ("192.0.2.7", (4, "documentation")),
        ("2001:db8::1", (6, "documentation")),
        ("::1", (6, "loopback")),
        ("fe80::1", (6, "link_local")),
        ("fd00::1", (6, "private")),
        ("::ffff:192.0.2.1", (6, "ipv4_mapped")),
        ("2a00:1450:4001:80b::200e", (6, "public")),
        ("224.0.0.1", (4, "multicast")),
        ("240.1.2.3", (4, "reserved")),
        ("0.1.2.3", (4, "reserved")),
        ("0.0.0.0", (4, "unspecified")),
        ("198.18.0.9", (4, "reserved")),
        ("172.32.0.1", (4, "public")),
        ("100.128.0.1", (4, "public")),
        ("01.2.3.4", None),  # leading zeros are not an address (ipaddress agrees)
        ("256.1.1.1", None),
        ("ip4.ip4.ip4.ip4", None),
    ],
)
def test_ip_kind(ip: str, expected: tuple[int, str] | None) -> None:
    """Every kind the issue names is told apart, from the address alone; what is not an address has none
    (and is no `source.ip`)."""
    doc = _arrival_from(ip)
    if expected is None:
        assert get(doc, "exim.remote") is None
        assert get(doc, "source.ip") is None
    else:
        version, kind = expected
        assert get(doc, "exim.remote") == {"ip_kind": kind, "ip_version": version}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("gmail-smtp-in.l.google.com", "google.com"),
        ("mx1.mail.example.co.uk", "example.co.uk"),
        ("mail.example.com.au", "example.com.au"),
        ("Example.COM.", "example.com"),
        ("localhost", None),
        ("10.5.40.204", None),
    ],
)
def test_registered_domain(name: str, expected: str | None) -> None:
    """Registered domains come from the bundled public suffix list; IPs have none."""
    doc = _delivery_to(f"{name} [192.0.2.1]")
    assert get(doc, "destination.domain") == name
    assert get(doc, "destination.registered_domain") == expected


def test_a_bracketed_ip_has_no_registered_domain() -> None:
    """`H=[10.5.40.204]`: the address alone, no name, so no registered domain."""
    doc = _delivery_to("[10.5.40.204]")
    assert get(doc, "destination.ip") == "10.5.40.204"
    assert get(doc, "destination.domain") is None
    assert get(doc, "destination.registered_domain") is None


@pytest.mark.parametrize(
    ("name", "family"),
    [
        ("gmail-smtp-in.l.google.com", "gmail"),
        ("mail-ed1-f96.google.com", "gmail"),
        ("mta7.am0.yahoodns.net", "yahoo"),
        ("mx-aol.mail.gm0.yahoodns.net", "aol"),
        ("mail-am6eur01on2051.outbound.protection.outlook.com", "microsoft"),
        ("example-com.mail.protection.outlook.com", "microsoft"),
        ("mx01.mail.icloud.com", "apple"),
        ("mx.zoho.eu", "zoho"),
        ("mail.protonmail.ch", "proton"),
        ("mx.yandex.net", "yandex"),
        ("mx00.emig.gmx.net", "gmx"),
        ("mxs.mail.ru", "mailru"),
        ("mx.someaddress.com", None),
    ],
)
def test_provider(name: str, family: str | None) -> None:
    """Provider families from host names, no network look-up."""
    assert get(_delivery_to(f"{name} [192.0.2.1]"), "exim.remote.provider") == family


def test_inbound_facts_and_related() -> None:
    """Verified reverse name, HELO mismatch, address parts and related.* on an arrival."""
    doc = parse(
        "2025-01-31 10:00:00 1tXaaa-00000001abc-0ABC <= Alice@Shop.Example H=mail-ed1-f96.google.com "
        "(other.helo) [209.85.222.96]:39789 I=[198.51.100.23]:25 P=esmtps A=plain:alice S=10 "
        "for bob@example.net carol@example.org"
    )
    assert get(doc, "exim.reverse_verified") is True
    assert get(doc, "exim.helo_mismatch") is True
    assert get(doc, "exim.helo_is_ip") is False
    assert get(doc, "source.registered_domain") == "google.com"
    assert get(doc, "exim.remote.provider") == "gmail"
    assert get(doc, "exim.remote.ip_kind") == "public"
    assert get(doc, "exim.sender_local_part") == "Alice"
    assert get(doc, "exim.sender_domain") == "shop.example"
    assert get(doc, "exim.recipient_domains") == ["example.net", "example.org"]
    assert get(doc, "exim.recipient_local_parts") == ["bob", "carol"]
    assert get(doc, "related.ip") == ["209.85.222.96"]
    assert get(doc, "related.user") == ["alice"]
    assert "198.51.100.23" not in get(doc, "related.ip")  # the local interface stays apart
    assert get(doc, "exim.interface.address") == "198.51.100.23"


def test_unverified_helo_literal() -> None:
    """`(helo) [ip]`: reverse name not verified, no mismatch verdict, HELO an IP literal."""
    doc = parse("2025-01-31 10:00:00 H=([203.0.113.9]) [203.0.113.9]:1234 rejected EHLO or HELO x")
    assert get(doc, "exim.reverse_verified") is False
    assert get(doc, "exim.helo_mismatch") is None
    assert get(doc, "exim.helo_is_ip") is True


def test_provider_from_recipient_domain_without_host() -> None:
    """A deferral with no host (retry skip) still names the provider from the recipient domain."""
    doc = parse(
        "2025-01-31 10:00:00 1tXaaa-00000001abc-0ABC == bob@gmail.com R=dnslookup T=remote_smtp defer (-54): "
        "retry time not reached for any host for 'gmail.com'"
    )
    assert get(doc, "exim.remote.provider") == "gmail"
    assert get(doc, "exim.error.class") == "retry_time_not_reached"
