"""Value parsers: durations, unescaping, TLS ciphers, host groups, A= and addresses."""

from __future__ import annotations

import pytest

from shipper.exim import fields as F


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
    assert F.duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "qqs", "q.qqqs", "5x", "-", "1s2m"])
def test_duration_rejects_non_durations(text: str) -> None:
    """Placeholders and malformed values are not durations."""
    assert F.duration(text) is None


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
    assert F.unescape(raw) == text


def test_unquote_confirmation_twice() -> None:
    """C= is escaped twice (printing, then quoting): a multi-line reply's `\\\\n` is a newline."""
    raw = r'"250-first\\n250 OK id=1tXaaa-00000001abc-0ABC"'
    assert F.unescape(F.unquote(raw)) == "250-first\n250 OK id=1tXaaa-00000001abc-0ABC"


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
    """X= splits into version, cipher, bits, key-exchange group (4.100) and resumption."""
    assert F.tls_cipher(value) == expected


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
    """The address is always the last bracketed part; HELO and name are split apart."""
    parsed = F.host_group(group + " P=esmtp")
    assert parsed is not None
    assert parsed[0] == expected
    assert parsed[1] == len(group)


def test_host_group_loose_fallback() -> None:
    """An unbalanced HELO parenthesis still yields the address (graceful degradation)."""
    parsed = F.host_group("H=(12-12-12-12.domain.net [10.5.40.204]:65376 P=esmtp")
    assert parsed is not None
    assert parsed[0]["address"] == "10.5.40.204"
    assert parsed[0]["port"] == 65376


def test_auth_parts() -> None:
    """A= holds authenticator, id and (with smtp_mailauth) the AUTH= sender."""
    assert F.auth("dovecot_login:aaron@domain.com") == {
        "authenticator": "dovecot_login",
        "id": "aaron@domain.com",
    }
    assert F.auth("plain:userx:sender@x") == {"authenticator": "plain", "id": "userx", "sender": "sender@x"}
    assert F.auth("cram") == {"authenticator": "cram"}


def test_interface_forms() -> None:
    """I= `[ip]:port`, and PRX= bare ip on arrivals."""
    assert F.interface("[127.0.0.1]:25") == {"address": "127.0.0.1", "port": 25}
    assert F.interface("[2001:db8::5]:587") == {"address": "2001:db8::5", "port": 587}
    assert F.interface("192.0.2.4") == {"address": "192.0.2.4"}


def test_ip_facts_canonicalises() -> None:
    """Valid IPs are canonicalised; test-suite placeholders are not IPs."""
    assert F.ip_facts("2001:DB8:0::1") == ("2001:db8::1", 6)
    assert F.ip_facts("ip4.ip4.ip4.ip4") is None


def test_digits_that_are_not_decimal_are_not_numbers() -> None:
    """`²` is a digit (`isdigit`) that `int()` refuses: read as text, never a ValueError; decimal digits
    of other scripts are numbers, as `int()` reads them."""
    assert F.ipv4_octets("².0.2.1") is None
    assert F.ipv4_octets("١92.0.2.1") == (192, 0, 2, 1)
    assert F.integer("²") is None
    assert F.integer("٤٢") == 42
    assert F.host_group("H=mx [192.0.2.1]:²", 0) == ({"address": "192.0.2.1", "name": "mx", "port": "²"}, 18)
    assert F.interface("[127.0.0.1]:²") == {"address": "127.0.0.1", "port_name": "²"}
    assert F.interface("[127.0.0.1]:٢٥") == {"address": "127.0.0.1", "port": 25}
