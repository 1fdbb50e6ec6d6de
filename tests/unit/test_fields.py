"""Value parsers: durations (the report window's `duration`, Exim's own form), and the core's
reading of unescaping, TLS ciphers, host groups, A=, I= and addresses, each in the document of a line."""

from __future__ import annotations

from typing import Any

import pytest

from shipper.report.window import duration
from tests.conftest import get
from tests.parsing import parse

T = "2025-01-31 10:00:00"
ID = "1tXaaa-00000001abc-0ABC"


def _arrival(fields: str) -> dict[str, Any]:
    return parse(f"{T} {ID} <= a@b.example {fields}")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("0s", 0.0),
        ("3m45s", 225.0),
        ("1w2d", 777_600.0),
        ("1h", 3600.0),
        ("1d2h3m4s", 93_784.0),
        ("0.304s", 0.304),
        ("-2s", -2.0),
        ("2w", 1_209_600.0),
    ],
)
def test_duration(text: str, seconds: float) -> None:
    """Exim's printtime forms and the +millisec `x.yyys` form become seconds."""
    assert duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "qqs", "q.qqqs", "5x", "-", "1s2m"])
def test_duration_rejects_non_durations(text: str) -> None:
    """Placeholders and malformed values are not durations."""
    assert duration(text) is None


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (r"two-line subject,\n  that is", "two-line subject,\n  that is"),
        (r"subject contains \"quotes\" and \\backslashes\\", 'subject contains "quotes" and \\backslashes\\'),
        (r"Patrik F\344ltstr\366m ABCD", "Patrik Fältström ABCD"),  # Latin-1 octal bytes
        (r"Gr\303\274\303\237e", "Grüße"),  # UTF-8 octal bytes
        (r"bell \007 here", "bell \x07 here"),
        ("tab\tstays", "tab\tstays"),
        ("no escapes", "no escapes"),
    ],
)
def test_unescape(raw: str, text: str) -> None:
    """string_printing() and T= quoting are undone, octal bytes decoded as UTF-8 else Latin-1."""
    assert get(_arrival(f'U=x P=local S=1 T="{raw}"'), "email.subject") == text


def test_unquote_confirmation_twice() -> None:
    """C= is escaped twice (printing, then quoting): a multi-line reply's `\\\\n` is a newline."""
    raw = r'"250-first\\n250 OK id=1tXaaa-00000001abc-0ABC"'
    doc = parse(f"{T} {ID} => a@b.example R=r T=t H=mx [192.0.2.1] C={raw}")
    assert get(doc, "exim.smtp_confirmation") == "250-first\n250 OK id=1tXaaa-00000001abc-0ABC"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            "TLS1.3:TLS_AES_256_GCM_SHA384:256",
            {"version_protocol": "tls", "version": "1.3", "cipher": "TLS_AES_256_GCM_SHA384", "bits": 256},
        ),
        (
            "TLSv1:AES128-SHA:128",
            {"version_protocol": "tls", "version": "1.0", "cipher": "AES128-SHA", "bits": 128},
        ),
        (
            "TLSv1.2:ECDHE-RSA-AES256-GCM-SHA384:256*",
            {
                "version_protocol": "tls",
                "version": "1.2",
                "cipher": "ECDHE-RSA-AES256-GCM-SHA384",
                "bits": 256,
                "resumed": True,
            },
        ),
        (
            "TLS1.3:TLS_AES_128_GCM_SHA256:128:X25519",
            {
                "version_protocol": "tls",
                "version": "1.3",
                "cipher": "TLS_AES_128_GCM_SHA256",
                "bits": 128,
                "kex_group": "X25519",
            },
        ),
        (
            "SSLv3:RC4-SHA:128",
            {"version_protocol": "ssl", "version": "3.0", "cipher": "RC4-SHA", "bits": 128},
        ),
    ],
)
def test_tls_cipher(value: str, expected: dict[str, object]) -> None:
    """X= splits into version, cipher, bits, key-exchange group (4.100) and resumption (`tls.*` the ECS
    fields, `exim.tls.*` the rest)."""
    doc = _arrival(f"H=(x) [192.0.2.1] P=esmtps X={value} S=1")
    assert {**doc["tls"], **doc["exim"]["tls"]} == expected


@pytest.mark.parametrize(
    ("group", "expected"),
    [
        (
            "H=localhost (10.5.40.204) [127.0.0.1]:39668",
            {"name": "localhost", "helo": "10.5.40.204", "address": "127.0.0.1", "port": 39668},
        ),
        ("H=(helo.example) [192.0.2.1]", {"helo": "helo.example", "address": "192.0.2.1"}),
        ("H=[192.0.2.1]", {"address": "192.0.2.1"}),
        ("H=([10.21.32.43]) [192.168.8.34]", {"helo": "[10.21.32.43]", "address": "192.168.8.34"}),
        (
            "H=mx.example.com [2001:db8::1]:25*",
            {"name": "mx.example.com", "address": "2001:db8::1", "port": 25, "connection_reused": True},
        ),
        ("H=l-sec.test.ex DS [127.0.0.1]", {"name": "l-sec.test.ex", "address": "127.0.0.1", "dnssec": True}),
        (
            "H=name (junk (with) parens [x]) [203.0.113.9]:4000",
            {"name": "name", "helo": "junk (with) parens [x]", "address": "203.0.113.9", "port": 4000},
        ),
    ],
)
def test_host_group(group: str, expected: dict[str, object]) -> None:
    """The address is always the last bracketed part; HELO and name are split apart; the field after the
    group is read on (the group ends where it should)."""
    doc = _arrival(f"{group} P=esmtp S=1")
    read = {
        "name": get(doc, "source.domain"),
        "helo": get(doc, "exim.helo"),
        "address": get(doc, "source.ip"),
        "port": get(doc, "source.port"),
        "connection_reused": get(doc, "exim.connection_reused"),
        "dnssec": get(doc, "exim.dnssec"),
    }
    assert {k: v for k, v in read.items() if v is not None} == expected
    assert get(doc, "exim.protocol") == "esmtp"


def test_host_group_loose_fallback() -> None:
    """An unbalanced HELO parenthesis still yields the address (graceful degradation)."""
    doc = _arrival("H=(12-12-12-12.domain.net [10.5.40.204]:65376 P=esmtp S=1")
    assert get(doc, "source.ip") == "10.5.40.204"
    assert get(doc, "source.port") == 65376
    assert get(doc, "exim.protocol") == "esmtp"


def test_auth_parts() -> None:
    """A= holds authenticator, id and (with smtp_mailauth) the AUTH= sender."""

    def auth(value: str) -> Any:
        return get(_arrival(f"H=(x) [192.0.2.1] P=esmtpa A={value} S=1"), "exim.auth")

    assert auth("dovecot_login:aaron@domain.com") == {
        "authenticator": "dovecot_login",
        "id": "aaron@domain.com",
    }
    assert auth("plain:userx:sender@x") == {"authenticator": "plain", "id": "userx", "sender": "sender@x"}
    assert auth("cram") == {"authenticator": "cram"}


def test_interface_forms() -> None:
    """I= `[ip]:port`, and PRX= bare ip on arrivals."""

    def interface(value: str) -> Any:
        return get(_arrival(f"H=(x) [192.0.2.1] I={value} P=esmtp S=1"), "exim.interface")

    assert interface("[127.0.0.1]:25") == {"address": "127.0.0.1", "port": 25}
    assert interface("[2001:db8::5]:587") == {"address": "2001:db8::5", "port": 587}
    assert get(_arrival("H=(x) [192.0.2.1] PRX=192.0.2.4 P=esmtp S=1"), "exim.proxy") == {
        "address": "192.0.2.4"
    }


def test_ip_facts_canonicalises() -> None:
    """Valid IPs are canonicalised; test-suite placeholders are not IPs (the text stays the address)."""
    doc = _arrival("H=mx [2001:DB8:0::1] P=esmtp S=1")
    assert (get(doc, "source.ip"), get(doc, "exim.remote.ip_version")) == ("2001:db8::1", 6)
    doc = _arrival("H=mx [ip4.ip4.ip4.ip4] P=esmtp S=1")
    assert get(doc, "source.address") == "ip4.ip4.ip4.ip4"
    assert get(doc, "source.ip") is None
    assert get(doc, "exim.remote") is None


def test_digits_that_are_not_decimal_are_not_numbers() -> None:
    """`²` is a digit (`isdigit`) that `int()` refuses: read as text, never a ValueError; decimal digits
    of other scripts are numbers, as `int()` reads them."""
    assert get(_arrival("H=(x) [².0.2.1] P=esmtp S=1"), "source") == {"address": "².0.2.1"}
    # The octets of `١92.0.2.1` are 192.0.2.1: a documentation address (the text stays as written).
    doc = _arrival("H=(x) [١92.0.2.1] P=esmtp S=1")
    assert get(doc, "exim.remote") == {"ip_kind": "documentation", "ip_version": 4}
    doc = _arrival("H=mx [192.0.2.1]:² I=[127.0.0.1]:² P=esmtp S=1")
    assert get(doc, "source") == {"address": "192.0.2.1", "domain": "mx", "ip": "192.0.2.1"}
    assert get(doc, "exim.interface") == {"address": "127.0.0.1", "port_name": "²"}
    assert get(doc, "exim.protocol") == "esmtp"
    doc = _arrival("H=mx [192.0.2.1] I=[127.0.0.1]:٢٥ P=esmtp S=1")
    assert get(doc, "exim.interface") == {"address": "127.0.0.1", "port": 25}


def test_a_size_of_other_digits() -> None:
    """`S=٤٢` is 42, as `int()` reads it; `S=²` is no number: kept as the field's text."""
    assert get(_arrival("H=mx [192.0.2.1] P=esmtp S=٤٢"), "exim.size") == 42
    doc = _arrival("H=mx [192.0.2.1] P=esmtp S=²")
    assert get(doc, "exim.size") is None
    assert get(doc, "exim.fields") == {"S": "²"}
