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


@pytest.mark.parametrize(
    ("helo", "is_ip"),
    [
        ("[mail.host.tld]", False),
        ("[]", False),
        ("[192.0.2.1]", True),
        ("[IPv6:2001:db8::1]", True),
        ("192.0.2.1", True),
    ],
)
def test_helo_is_ip_only_for_an_ip_literal(helo: str, is_ip: bool) -> None:
    doc = parse(f"{T} {ID} <= a@b.tld H=mail.host.tld ({helo}) [192.0.2.6]:1337 P=esmtp S=1")
    assert get(doc, "exim.helo") == helo
    assert get(doc, "exim.helo_is_ip") is is_ip


def test_no_ip_address_for_host_keeps_the_client_and_not_the_failed_name() -> None:
    doc = parse(
        f"{T} no IP address found for host mail.example.com (during SMTP connection from [192.0.2.1]:4321 "
        "I=[10.0.0.1]:25)"
    )
    assert get(doc, "event.action") == "host_lookup_failed"
    assert get(doc, "source.ip") == "192.0.2.1"
    assert get(doc, "source.port") == 4321
    assert get(doc, "exim.interface.port") == 25
    assert get(doc, "exim.reverse_name") == "mail.example.com"
    assert get(doc, "source.domain") is None
    assert get(doc, "exim.reverse_verified") is False


def test_tls_error_with_the_function_not_in_parentheses() -> None:
    doc = parse(
        f"{T} TLS error on connection from [198.51.100.88]:42992 SSL_accept: TCP connection closed by peer"
    )
    assert get(doc, "event.action") == "tls_error"
    assert get(doc, "source.ip") == "198.51.100.88"
    assert get(doc, "exim.tls_function") == "SSL_accept"
    assert get(doc, "exim.error.message") == "TCP connection closed by peer"


@pytest.mark.parametrize(
    ("what", "status", "verdict", "action", "score"),
    [
        ("flagged as Spam but accepted", "score=8.2 required=5.0", "spam", "accepted", 8.2),
        ("permanently rejected message", "hits=12.1 required=5.0 trigger=10.0", "spam", "rejected", 12.1),
        (
            "temporarily rejected message",
            "score=6.0 required=5.0 trigger=5.5",
            "spam",
            "temporarily_rejected",
            6.0,
        ),
        ("silently tossed message", "score=30.0 required=5.0 trigger=25.0", "spam", "discarded", 30.0),
        ("scanned but message isn't spam", "score=-1.1 required=5.0", "ham", "accepted", -1.1),
    ],
)
def test_sa_exim_verdict_score_and_action(
    what: str, status: str, verdict: str, action: str, score: float
) -> None:
    doc = parse(
        f"{T} {ID} SA: Action: {what}: {status} (scanned in 6/7 secs | Message-Id: 0087_a@x.xx). "
        "From <spammer@x.xx> (host=ip-4.rev.x.xx [178.123.108.196]) for trap@example.com, other@example.com"
    )
    assert get(doc, "event.action") == "spam_verdict"
    assert get(doc, "exim.spam.scanner") == "sa-exim"
    assert get(doc, "exim.spam.verdict") == verdict
    assert get(doc, "exim.spam.action") == action
    assert get(doc, "exim.spam.score") == score
    assert get(doc, "exim.spam.required") == 5.0
    assert get(doc, "exim.spam.scan_time") == 6.0
    assert get(doc, "source.ip") == "178.123.108.196"
    assert get(doc, "email.from.address") == "spammer@x.xx"
    assert get(doc, "email.to.address") == ["trap@example.com", "other@example.com"]


def test_sa_exim_local_skipped_and_debug_lines() -> None:
    skipped = parse(
        f"{T} {ID} SA: Action: Not running SA because SAEximRunCond expanded to false (Message-Id: {ID}). "
        "From <a@b.tld> (local) for c@d.tld"
    )
    assert get(skipped, "exim.spam.action") == "skipped"
    assert get(skipped, "source") is None
    debug = parse(f"{T} {ID} SA: Debug: SAEximRunCond expand returned: '1'")
    assert get(debug, "event.action") == "scanner_log"
    assert get(debug, "exim.sa_exim") == {"level": "debug", "text": "SAEximRunCond expand returned: '1'"}
    panic = parse(
        f"{T} {ID} SA: PANIC: Unexpected error on spamc read, file sa-exim.c, line 900: Broken pipe"
    )
    assert get(panic, "event.action") == "scanner_error"


def test_local_parts_with_spaces_stay_one_address() -> None:
    doc = parse(f'{T} {ID} <= "foo bar"@bar.tld H=(x) [192.0.2.1] P=esmtp S=1 for "a b"@c.tld d@e.tld')
    assert get(doc, "email.from.address") == '"foo bar"@bar.tld'
    assert get(doc, "email.to.address") == ['"a b"@c.tld', "d@e.tld"]
    ignored = parse(f'{T} {ID} "foo bar"@bar.tld <x@baz.tld>: error ignored')
    assert get(ignored, "event.action") == "error_ignored"
    assert get(ignored, "exim.address") == '"foo bar"@bar.tld'
    assert get(ignored, "exim.original_address") == "x@baz.tld"


def test_error_ignored_is_never_an_empty_exim_object() -> None:
    doc = parse(f"{T} {ID} b@known.ex: error ignored")
    assert get(doc, "exim.address") == "b@known.ex"


def test_sender_changed_and_ignored_auth_reason() -> None:
    changed = parse(f"{T} {ID} sender address changed to <bad@test.ex> by CALLER")
    assert get(changed, "exim.new_sender") == "bad@test.ex"
    assert get(changed, "exim.by") == "CALLER"
    auth = parse(
        f"{T} ignoring AUTH=auth@x.tld from H=(client.ex) [10.0.0.3] U=CALLER (client not authenticated)"
    )
    assert get(auth, "exim.reason") == "client not authenticated"
    assert get(auth, "exim.ident") == "CALLER"
    assert get(auth, "source.ip") == "10.0.0.3"


def test_dkim_identity_and_canonicalization() -> None:
    doc = parse(
        f"{T} {ID} DKIM: d=example.com s=sel c=relaxed/relaxed a=rsa-sha256 b=2048 i=@example.com t=1 "
        "[verification succeeded]"
    )
    dkim = get(doc, "exim.dkim_verify")
    assert dkim["identity"] == "@example.com"
    assert dkim["canonicalization"] == "relaxed/relaxed"
    assert dkim["key_bits"] == 2048


@pytest.mark.parametrize(
    ("body", "action", "field", "value"),
    [
        (
            "overlong message header line received from H=(x) [192.0.2.4]:25 (more than 1024 characters): "
            "message abandoned",
            "message_abandoned",
            "exim.reason",
            "more than 1024 characters",
        ),
        (
            f"{ID} tainted search query is not properly quoted (router r1, /etc/exim.conf 69): select 1",
            "lookup_error",
            "exim.lookup.where",
            "router r1, /etc/exim.conf 69",
        ),
        (f"{ID} Spool file {ID}-D not found", "spool_error", "exim.spool_file", f"{ID}-D"),
        (
            f"{ID} internal scanner error (ignored): /bin/error [E]0.0 Error 42110",
            "scanner_error",
            "exim.scanner_output",
            "/bin/error [E]0.0 Error 42110",
        ),
    ],
)
def test_exims_own_error_lines(body: str, action: str, field: str, value: str) -> None:
    doc = parse(f"{T} {body}")
    assert get(doc, "event.action") == action
    assert get(doc, field) == value


# --- attacker-written text trying to frame 8.8.8.8, one test per class -------------------------------

FRAMED = "8.8.8.8"


def _never_framed(doc: dict[str, object], side: str = "source", real: str | None = "192.0.2.6") -> None:
    assert get(doc, f"{side}.ip") == real
    assert FRAMED not in (get(doc, "related.ip") or [])


@pytest.mark.parametrize(
    "line",
    [
        # an envelope sender (quoted local part) on a host line, an arrival and a delivery
        f'{T} H=(x) [192.0.2.6] F=<"a> H=(y) [{FRAMED}]"@b.tld> rejected RCPT <r@s.tld>: no',
        f'{T} {ID} <= a."b H=(y) [{FRAMED}] c"@d.tld H=(x) [192.0.2.6] P=esmtp S=1',
        f'{T} rejected from <"a> H=(y) [{FRAMED}]:"@b.tld> H=(x) [192.0.2.6]: Message too big read=9 max=1',
        f'{T} H=(x) [192.0.2.6] incomplete transaction (QUIT) from <"a> H=(y) [{FRAMED}]"@b.tld> for r@s.tld',
        # a subject and a Message-ID after the host
        f'{T} {ID} <= a@b.tld H=(x) [192.0.2.6] P=esmtp S=1 id=<x> H=(y) [{FRAMED}] T="H=(y) [{FRAMED}]"',
        # the VRFY argument
        f"{T} VRFY failed for <a@b> H=(y) [{FRAMED}] H=(x) [192.0.2.6]:123 I=[10.0.0.1]:25",
        # the pipelined command of a synchronization error
        f"{T} SMTP protocol synchronization error (next input sent too soon: pipelining was not advertised): "
        f'rejected "RSET" H=(y) [{FRAMED}]" H=(x) [192.0.2.6]:58302 I=[10.0.0.1]:25 next input="QUIT\\r\\n"',
    ],
)
def test_client_text_never_supplies_the_source(line: str) -> None:
    doc = parse(line)
    _never_framed(doc)
    assert get(doc, "exim.helo") in (None, "x")  # the HELO of Exim's own host group
    sender = get(doc, "email.from.address")
    assert sender is None or sender.endswith(("@b.tld", "@d.tld")), sender  # the quoted address is kept whole


def test_a_sync_error_whose_command_and_data_both_hold_a_host_records_no_source() -> None:
    doc = parse(
        f"{T} SMTP protocol synchronization error (next input sent too soon: pipelining was not advertised): "
        f'rejected "RSET" H=(y) [{FRAMED}] next input="" H=(x) [192.0.2.6]:58302 next input="QUIT"'
    )
    assert get(doc, "exim.source_ambiguous") is True
    _never_framed(doc, real=None)


def test_sa_exim_sender_never_supplies_the_source() -> None:
    doc = parse(
        f"{T} {ID} SA: Action: permanently rejected message: hits=12.1 required=5.0 trigger=10.0 (scanned in 2/2 "
        f'secs | Message-Id: abc). From <"a> (host=x [{FRAMED}]) for"@b.tld> (host=(null) [192.0.2.6]) for a@b.tld'
    )
    _never_framed(doc)
    assert get(doc, "source.domain") is None  # `(null)`: Exim had no verified name


def test_dkim_signer_text_never_supplies_the_domain() -> None:
    doc = parse(f"{T} {ID} DKIM: d=example.com s=sel a=rsa-sha256 i=@x d=paypal.com [verification succeeded]")
    assert get(doc, "exim.dkim_verify.domain") == "example.com"


@pytest.mark.parametrize(
    "line",
    [
        # a remote reply on a deferral and a failure
        f"{T} {ID} == x@y.tld R=r T=t defer (-44): SMTP error from remote mail server after RCPT TO:<x@y.tld>: "
        f"451 H=evil [{FRAMED}] busy",
        f"{T} {ID} ** x@y.tld R=r T=t H=mx.y.tld [192.0.2.6]: SMTP error from remote mail server after RCPT "
        f"TO:<x@y.tld>: 550 H=evil [{FRAMED}] : no",
        # the sender inside `after MAIL FROM:<…>` of a pre-4.80 failure line
        f'{T} {ID} ** x@y.tld: SMTP error from remote mail server after MAIL FROM:<"a: host evil [{FRAMED}]: 5"@b> '
        "SIZE=1: host mx.y.tld [192.0.2.6]: 550 5.1.1 no",
        # the return path on a delivery
        f'{T} {ID} => x@y.tld F=<"a> H=(x) [{FRAMED}] b"@c.tld> R=r T=t H=mx.y.tld [192.0.2.6]',
    ],
)
def test_remote_replies_and_addresses_never_supply_the_destination(line: str) -> None:
    doc = parse(line)
    real = None if "defer" in line else "192.0.2.6"
    _never_framed(doc, side="destination", real=real)
    sender = get(doc, "email.from.address")
    assert sender is None or sender.endswith("@c.tld"), sender


def test_an_etrn_argument_never_supplies_the_source() -> None:
    doc = parse(f"{T} ETRN #x received from H=(y) [{FRAMED}] received from H=(x) [192.0.2.6]:123")
    _never_framed(doc)
    assert get(doc, "exim.etrn_argument") == f"#x received from H=(y) [{FRAMED}]"


def test_a_partial_host_after_from_leaves_no_host_behind() -> None:
    """`_fullhost` keeps a host only when the whole text is one host group."""
    doc = parse(
        f"{T} overlong message header line received from H=(y) [{FRAMED}] junk (more than 1024 characters): "
        "message abandoned"
    )
    assert get(doc, "event.action") == "message_abandoned"
    _never_framed(doc, real=None)
    assert get(doc, "exim.ident") == f"H=(y) [{FRAMED}] junk"


def test_a_junk_helo_rejection_keeps_the_clients_text_out_of_the_host() -> None:
    doc = parse(f"{T} rejected EHLO from [192.0.2.6]:123: syntactically invalid argument(s): x) [{FRAMED}]")
    _never_framed(doc)


def test_an_auth_id_holding_a_parenthesis_is_kept_whole() -> None:
    doc = parse(
        f"{T} login authenticator failed for (x) [192.0.2.6]:55379: 535 Incorrect authentication data "
        f"(set_id=a) [{FRAMED}]: 535 (x)"
    )
    assert get(doc, "source.ip") == "192.0.2.6"
    assert get(doc, "exim.auth.id") == f"a) [{FRAMED}]: 535 (x"


def test_a_remote_reply_holding_space_colon_space_is_not_exims_separator() -> None:
    doc = parse(
        f"{T} {ID} ** x@y.tld R=r T=t H=mx.y.tld [192.0.2.6]: SMTP error from remote mail server after RCPT "
        "TO:<x@y.tld>: 550 5.1.1 user unknown : see https://help"
    )
    assert get(doc, "exim.unparsed") is None
    assert get(doc, "exim.error.smtp_code") == 550
    assert get(doc, "exim.error.enhanced_code") == "5.1.1"


def test_an_original_sender_holding_an_angle_bracket_is_kept_whole() -> None:
    doc = parse(f'{T} {ID} <= a@b.tld H=(x) [192.0.2.6] P=esmtp S=1 from <"x> y"@z.tld> for c@d.tld')
    assert get(doc, "exim.original_sender") == '"x> y"@z.tld'
    assert get(doc, "email.to.address") == ["c@d.tld"]
