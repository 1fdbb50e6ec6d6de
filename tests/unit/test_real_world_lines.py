"""Defects seen on real servers' logs, each pinned by a minimal line: fields the remote side wrote
must never become facts, codes come only from where SMTP puts them, and no field is silently dropped."""

from __future__ import annotations

import pytest

from tests.conftest import get, parse

T = "2025-01-31 10:00:00"
ID = "1tgXJ4-000000001aB-0Cd4"


@pytest.mark.parametrize("kind", ["protocol", "syntax"])
@pytest.mark.parametrize(
    ("command", "stored"),
    [
        # Older Exim writes the client's quotes as sent; the forged host is followed by a quote.
        ('aUtH lOgIn" H=(test) [8.8.8.8]', 'aUtH lOgIn" H=(test) [8.8.8.8]'),
        # Newer Exim escapes them: the first unescaped quote is Exim's own.
        (r"aUtH \" H=(test) [8.8.8.8] lOgIn", 'aUtH " H=(test) [8.8.8.8] lOgIn'),
        (r"plain \\", "plain \\"),
    ],
)
def test_a_host_inside_the_quoted_command_is_never_the_source(kind: str, command: str, stored: str) -> None:
    doc = parse(
        f'{T} SMTP {kind} error in "{command}" H=(roxzgj) [192.0.2.6]:4431 AUTH command used when not advertised'
    )
    assert get(doc, "event.action") == f"smtp_{kind}_error"
    assert get(doc, "source.ip") == "192.0.2.6"
    assert get(doc, "source.port") == 4431
    assert get(doc, "exim.helo") == "roxzgj"
    assert get(doc, "exim.smtp_command") == stored
    assert get(doc, "exim.reason") == "AUTH command used when not advertised"
    assert "8.8.8.8" not in (get(doc, "related.ip") or [])
    assert get(doc, "exim.source_ambiguous") is None


def test_two_well_formed_hosts_from_an_unescaping_exim_take_the_last_and_say_so() -> None:
    doc = parse(f'{T} SMTP protocol error in "AUTH" H=(x) [8.8.8.8] y" H=(real) [192.0.2.6] too many errors')
    assert get(doc, "source.ip") == "192.0.2.6"
    assert get(doc, "exim.source_ambiguous") is True
    assert get(doc, "exim.reason") == "too many errors"


def test_local_caller_and_reason_of_a_syntax_error() -> None:
    doc = parse(f'{T} SMTP syntax error in "debug" U=CALLER unrecognized command')
    assert get(doc, "exim.ident") == "CALLER"
    assert get(doc, "exim.reason") == "unrecognized command"
    assert get(doc, "source") is None


@pytest.mark.parametrize(
    "line",
    [
        f"{T} H=(WIN-Q1B0GQ6JP) [203.0.113.59]:58135 rejected MAIL <a@b.example>: Access denied - Invalid "
        "HELO name (See RFC2821 4.1.1.1)",
        f"{T} H=(x) [203.0.113.59]:58135 rejected RCPT <a@b.example>: listed at [1.2.3.4] see 5.7.1 here",
    ],
)
def test_enhanced_codes_in_prose_or_in_an_ip_are_not_codes(line: str) -> None:
    doc = parse(line)
    assert get(doc, "exim.error.enhanced_code") is None
    assert get(doc, "exim.error.temporary") is False  # a deny ACL is a 5xx


def test_an_enhanced_code_where_smtp_puts_it_is_kept() -> None:
    doc = parse(f"{T} H=(x) [203.0.113.59]:58135 rejected RCPT <a@b.example>: 4.7.1 greylisted, try later")
    assert get(doc, "exim.error.enhanced_code") == "4.7.1"


def test_a_tag_value_ends_before_a_colon() -> None:
    doc = parse(
        f"{T} {ID} == foo@bar.tld R=dnslookup T=remote_smtp defer (-44) H=mx.bar.tld [1.2.3.4] DT=0.000s: "
        "SMTP error from remote mail server after RCPT TO:<foo@bar.tld>: 451 4.7.1 Try later"
    )
    assert get(doc, "exim.delivery_time") == 0.0
    assert get(doc, "exim.fields") is None
    assert get(doc, "exim.error.smtp_code") == 451


@pytest.mark.parametrize(
    ("body", "address", "top"),
    [
        (
            "->  foo@bar.tld <x@baz.tld> R=dnslookup T=remote_smtp H=mx.bar.tld [1.2.3.4]",
            "foo@bar.tld",
            "x@baz.tld",
        ),
        ("=>  foo@bar.tld R=dnslookup T=remote_smtp H=mx.bar.tld [1.2.3.4]", "foo@bar.tld", None),
    ],
)
def test_two_spaces_after_the_flag_still_parse(body: str, address: str, top: str | None) -> None:
    doc = parse(f"{T} {ID} {body}")
    assert get(doc, "exim.address") == address
    assert get(doc, "exim.original_address") == top
    assert get(doc, "exim.router") == "dnslookup"
    assert get(doc, "destination.ip") == "1.2.3.4"
