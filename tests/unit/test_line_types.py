"""Line types of the format catalogue (../shared/docs/exim-log-format.md): action and key fields each."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import get, parse

T = "2025-01-31 10:00:00"
ID = "1tXaaa-00000001abc-0ABC"
CASES: list[tuple[str, str, dict[str, Any]]] = [
    # --- flags --------------------------------------------------------------------------------
    (
        f"{T} {ID} <= alice@example.com H=mail.example.org (helo.example.org) [192.0.2.7]:53211 "
        "I=[198.51.100.2]:587 P=esmtpsa X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=no A=dovecot_login:alice@example.com "
        'S=2345 id=abc@example.com T="Hi \\"you\\"" from <alice@example.com> for bob@example.net carol@example.net',
        "message_arrived",
        {
            "email.to.address": ["bob@example.net", "carol@example.net"],
            "email.subject": 'Hi "you"',
            "exim.interface.port": 587,
            "exim.tls.certificate_verified": "no",
            "tls.version": "1.3",
            "exim.size": 2345,
            "source.port": 53211,
            "exim.helo": "helo.example.org",
        },
    ),
    (
        f"{T} {ID} (= alice@example.com U=alice P=local-smtp S=100",
        "message_arrived_fakereject",
        {"exim.flag": "(=", "exim.ident": "alice"},
    ),
    (
        f"{T} {ID} => bob@example.net F=<alice@example.com> P=<alice@example.com> R=dnslookup T=remote_smtp S=2400 "
        "H=mx.example.net [203.0.113.5]:25 I=[198.51.100.2]:40000 X=TLS1.2:ECDHE-RSA-AES256-GCM-SHA384:256 CV=yes "
        'DN="CN=mx.example.net" C="250 2.0.0 OK id=1tXbbb-00000002abc-0DEF" QT=1d2h3m4s DT=0.304s',
        "delivered",
        {
            "exim.return_path": "alice@example.com",
            "email.from.address": "alice@example.com",
            "exim.router": "dnslookup",
            "exim.transport": "remote_smtp",
            "exim.size": 2400,
            "destination.ip": "203.0.113.5",
            "destination.port": 25,
            "destination.domain": "mx.example.net",
            "exim.queue_time": 93784.0,
            "exim.delivery_time": 0.304,
            "tls.server.subject": "CN=mx.example.net",
            "exim.remote_id": "1tXbbb-00000002abc-0DEF",
            "exim.tls.certificate_verified": "yes",
        },
    ),
    (
        f'{T} {ID} -> two@remote <list@test.ex> R=all T=smtp H=127.0.0.1 [127.0.0.1] C="250 OK"',
        "delivered_additional",
        {"exim.original_address": "list@test.ex", "email.to.address": ["two@remote"]},
    ),
    (
        f'{T} {ID} >> userx@domain.com P=<CALLER@myhost.test.ex> R=all T=smtp H=127.0.0.1 [127.0.0.1] C="250 OK"',
        "delivered_cutthrough",
        {"exim.return_path": "CALLER@myhost.test.ex"},
    ),
    (
        f'{T} {ID} *> newr1@myhost.test.ex <r1@test.ex> R=ok T=t1 H=192.0.2.1 [192.0.2.1] C="delivery bypassed by -N '
        'option"',
        "delivery_suppressed",
        {"exim.smtp_confirmation": "delivery bypassed by -N option"},
    ),
    (
        f"{T} {ID} => /dev/null (faq@nl.demon.net) <faq@nl.demon.net> R=algemeen_aliases T=**bypassed**",
        "delivered",
        {
            "exim.parents": ["faq@nl.demon.net"],
            "exim.transport": "**bypassed**",
            "email.to.address": ["faq@nl.demon.net"],
        },
    ),
    (
        f"{T} {ID} => |/usr/bin/procmail -d bob (bob@example.com) <bob@example.com> R=procmail T=address_pipe",
        "delivered",
        {"exim.address": "|/usr/bin/procmail -d bob", "exim.transport": "address_pipe"},
    ),
    (
        f"{T} {ID} ** userx@bad.ex : Unrouteable address",
        "delivery_failed",
        {"exim.error.class": "unroutable_domain", "exim.error.message": "Unrouteable address"},
    ),
    (
        f"{T} {ID} ** userz@domain.com R=all T=smtp H=127.0.0.1 [127.0.0.1]:25 I=[127.0.0.1]:10001 : SMTP error from "
        "remote mail server after RCPT TO:<userz@domain.com>: 550 5.1.1 Recipient unknown DT=1s",
        "delivery_failed",
        {
            "exim.error.class": "unknown_user",
            "exim.error.enhanced_code": "5.1.1",
            "exim.delivery_time": 1.0,
            "exim.error.text": "Recipient unknown",
        },
    ),
    (
        f"{T} {ID} == CALLER@two.test.ex defer (-23): domain is held",
        "delivery_deferred",
        {"exim.error.errno": -23, "exim.error.temporary": True, "exim.error.message": "domain is held"},
    ),
    (
        f"{T} {ID} == userx@domain1.com R=all T=smtp defer (110): Connection timed out H=192.0.2.9 [192.0.2.9]: SMTP "
        "timeout after EHLO myhost.test.ex",
        "delivery_deferred",
        {"exim.error.class": "timeout", "exim.error.stage": "helo", "destination.ip": "192.0.2.9"},
    ),
    (
        f"{T} {ID} == marvin@endrest.example R=dnslookup T=smtp defer (111): Connection refused",
        "delivery_deferred",
        {"exim.error.class": "connection_refused"},
    ),
    (
        f"{T} {ID} == userx@simple R=all T=smtp defer (-54): retry time not reached for any host for 'simple'",
        "delivery_deferred",
        {"exim.error.class": "retry_time_not_reached"},
    ),
    (
        f"{T} {ID} == xxx@local.test.ex routing defer (-52): retry time not reached",
        "delivery_deferred",
        {"exim.error.stage": "local", "exim.error.class": "retry_time_not_reached"},
    ),
    (
        f"{T} {ID} == bob@gmail.com R=dnslookup T=remote_smtp defer (-44) H=gmail-smtp-in.l.google.com "
        "[142.250.1.26]: SMTP error from remote mail server after RCPT TO:<bob@gmail.com>: 452-4.2.2 The email account "
        "that you tried to reach is over quota.",
        "delivery_deferred",
        {"exim.error.class": "mailbox_full", "exim.error.smtp_code": 452, "destination.ip": "142.250.1.26"},
    ),
    # --- per-message status lines ----------------------------------------------------------------
    (
        f"{T}.123 +0100 [24131] {ID} Completed QT=1m2s",
        "message_completed",
        {"exim.queue_time": 62.0, "process.pid": 24131, "@timestamp": "2025-01-31T09:00:00.123Z"},
    ),
    (
        f"{T} {ID} Frozen (delivery error message)",
        "message_frozen",
        {"exim.reason": "(delivery error message)"},
    ),
    (f"{T} {ID} frozen by ACL", "message_frozen", {"exim.by": "ACL"}),
    (f"{T} {ID} Message is frozen", "message_frozen_skipped", {}),
    (f"{T} {ID} Unfrozen by errmsg timer", "message_unfrozen", {"exim.by": "errmsg timer"}),
    (f"{T} {ID} removed by root", "message_removed", {"exim.by": "root"}),
    (f"{T} {ID} cancelled by timeout_frozen_after", "message_cancelled", {}),
    (f"{T} {ID} no immediate delivery: queued by ACL", "message_queued", {"exim.reason": "queued by ACL"}),
    (
        f"{T} {ID} Spool file for {ID} is locked (another process is handling this message)",
        "spool_locked",
        {},
    ),
    (f"{T} {ID} b@known.ex: error ignored", "error_ignored", {"email.to.address": ["b@known.ex"]}),
    (
        f"{T} {ID} H=thishost.example [192.0.2.8] Connection refused",
        "remote_host_error",
        {"destination.ip": "192.0.2.8", "exim.error.class": "connection_refused"},
    ),
    (
        f"{T} {ID} H=127.0.0.1 [127.0.0.1]:10002: SMTP error from remote mail server after MAIL FROM:<>: 450 not "
        "right now, sorry",
        "remote_smtp_error",
        {"destination.port": 10002, "exim.error.smtp_code": 450, "exim.error.stage": "mail"},
    ),
    (
        f"{T} {ID} H=mx.example.net [203.0.113.5] SMTP error from remote mail server after RCPT TO:<fred@test.net>: "
        "451 Temporary local problem - please try later",
        "remote_smtp_error",
        {"exim.error.class": "temporary_local_problem"},
    ),
    (
        f"{T} 10HmaZ-0005vi-00 46d.test.ex [192.0.2.9] Connection refused",
        "remote_host_error",
        {"destination.domain": "46d.test.ex", "exim.error.class": "connection_refused"},
    ),
    (
        f"{T} {ID} plain authenticator failed H=127.0.0.1 [127.0.0.1] 535 Sorry, authentication failed",
        "remote_auth_failed",
        {"exim.error.class": "authentication_failed", "destination.ip": "127.0.0.1"},
    ),
    (
        f"{T} {ID} TLS session: (certificate verification failed): certificate invalid: delivering unencrypted to "
        "H=127.0.0.1 [127.0.0.1] (not in hosts_require_tls)",
        "tls_fallback",
        {"exim.error.class": "tls_failure"},
    ),
    (
        f"{T} {ID} [127.0.0.1] SSL verify error: depth=0 error=self signed certificate cert=/CN=x",
        "tls_verify_error",
        {"exim.error.class": "tls_failure"},
    ),
    (
        f'{T} {ID} "root@host" from env-from rewritten as "admin@example.com" by rule 1',
        "address_rewritten",
        {"exim.rewrite.to": "admin@example.com", "exim.rewrite.where": "env-from"},
    ),
    (
        f"{T} {ID} DKIM: d=test.ex s=sel c=simple/simple a=rsa-sha1 b=1024 [verification succeeded]",
        "dkim_verify",
        {"exim.dkim_verify.domain": "test.ex", "exim.dkim_verify.status": "pass"},
    ),
    (
        f"{T} {ID} F=<userx@test1> rejected by non-SMTP ACL: don't like sender userx@test1",
        "message_rejected",
        {"email.from.address": "userx@test1", "exim.error.text": "don't like sender userx@test1"},
    ),
    (
        f"{T} {ID} U=alice F=<x@y> rejected after DATA: domain missing or malformed",
        "message_rejected",
        {"exim.error.stage": "after_data", "exim.ident": "alice"},
    ),
    (
        f"{T} {ID} rejected from <a@b.example> U=alice: message too big: read=225 max=100",
        "message_rejected",
        {"exim.size": 225, "exim.size_limit": 100, "exim.error.class": "message_too_big"},
    ),
    (
        f"{T} {ID} SMTP connection lost after final dot H=(abcd) [192.0.2.7] P=esmtp",
        "smtp_connection_lost",
        {"source.ip": "192.0.2.7", "exim.protocol": "esmtp"},
    ),
    # --- SMTP sessions ------------------------------------------------------------------------------
    (
        f"{T} SMTP connection from [192.0.2.7]:53211 I=[198.51.100.2]:25 Ci=24131 (TCP/IP connection count = 3)",
        "smtp_connection_opened",
        {
            "source.ip": "192.0.2.7",
            "source.port": 53211,
            "exim.connection_count": 3,
            "exim.connection_id": "24131",
            "exim.interface.port": 25,
        },
    ),
    (
        f"{T} SMTP connection from mail.example.org (helo.example) [192.0.2.7]:53211 D=12s closed by QUIT",
        "smtp_connection_closed",
        {"source.domain": "mail.example.org", "exim.duration": 12.0, "exim.reason": "by QUIT"},
    ),
    (
        f"{T} SMTP connection from (helo) [192.0.2.7] lost D=2m",
        "smtp_connection_lost",
        {"exim.duration": 120.0},
    ),
    (
        f"{T} unexpected disconnection while reading SMTP command from (test) [192.0.2.7] D=1s",
        "smtp_connection_lost",
        {"source.ip": "192.0.2.7"},
    ),
    (
        f"{T} SMTP command timeout on TLS connection from [192.0.2.7] D=5m",
        "smtp_timeout",
        {"exim.duration": 300.0},
    ),
    (
        f"{T} no MAIL in SMTP connection from (foobar) [192.0.2.7] D=3s A=plain:userx X=TLS1.3:TLS_AES_256_GCM_SHA384:256 "
        "C=EHLO,STARTTLS,EHLO,AUTH,QUIT",
        "smtp_no_mail",
        {"exim.smtp_commands": ["EHLO", "STARTTLS", "EHLO", "AUTH", "QUIT"], "exim.duration": 3.0},
    ),
    (
        f"{T} SMTP protocol synchronization error (input sent without waiting for greeting): rejected connection from "
        'H=[192.0.2.7] input="helo abcd\\r\\n"',
        "smtp_sync_error",
        {"source.ip": "192.0.2.7"},
    ),
    (
        f'{T} SMTP syntax error in "debug" U=CALLER unrecognized command',
        "smtp_syntax_error",
        {"exim.smtp_command": "debug", "exim.ident": "CALLER"},
    ),
    (
        f'{T} SMTP call from (x) [192.0.2.7] dropped: too many syntax or protocol errors (last command was "helo",  '
        "C=HELO,HELO)",
        "smtp_call_dropped",
        {"source.ip": "192.0.2.7"},
    ),
    (
        f"{T} Connection from [192.0.2.7] refused: too many connections from that IP address",
        "connection_refused",
        {"exim.error.temporary": True, "source.ip": "192.0.2.7"},
    ),
    (
        f"{T} refused connection from [192.0.2.7] (host_reject_connection)",
        "connection_refused",
        {"exim.reason": "host_reject_connection"},
    ),
    (f"{T} no host name found for IP address 192.0.2.7", "host_lookup_failed", {"source.ip": "192.0.2.7"}),
    (
        f"{T} rejected HELO from [192.0.2.7]: syntactically invalid argument(s): !@#$",
        "helo_rejected",
        {"exim.error.class": "bad_helo"},
    ),
    (
        f"{T} rejected MAIL FROM:<userx@test.ex> H=[192.0.2.7]: message too big: size=1000000000 max=100",
        "size_rejected",
        {"exim.size": 1_000_000_000, "exim.error.class": "message_too_big"},
    ),
    (
        f"{T} TLS error on connection from (rhu.barb) [192.0.2.7] (SSL_accept): error:0A000126:SSL routines::unexpected "
        "eof while reading",
        "tls_error",
        {"exim.error.class": "tls_failure", "exim.tls_function": "SSL_accept"},
    ),
    (
        f"{T} login authenticator failed for H=(test.host) [10.0.0.1] U=CALLER: 535 Incorrect authentication data "
        "(set_id=userx)",
        "auth_failed",
        {
            "user.name": "userx",
            "exim.error.smtp_code": 535,
            "exim.error.class": "authentication_failed",
            "source.ip": "10.0.0.1",
        },
    ),
    (
        f"{T} dovecot_login authenticator failed for (User) [198.51.100.9]:51234: 535 Incorrect authentication data "
        "(set_id=info@example.com)",
        "auth_failed",
        {"user.name": "info@example.com", "source.port": 51234},
    ),
    # --- ACL rejections at each stage --------------------------------------------------------------
    (
        f'{T} H=[10.9.8.7] rejected connection in "connect" ACL',
        "connection_rejected",
        {"exim.error.stage": "connect", "exim.error.class": "policy_rejection"},
    ),
    (
        f"{T} H=(x.y.z) [10.9.8.10] rejected EHLO or HELO x.y.z",
        "helo_rejected",
        {"exim.helo": "x.y.z", "exim.error.stage": "helo"},
    ),
    (f"{T} H=[10.9.8.8] rejected MAIL <bad@test1>", "mail_rejected", {"email.from.address": "bad@test1"}),
    (
        f"{T} H=(test) [10.0.0.2] F=<jules@box3.plc.example> rejected RCPT <userx@test.ex>: relay not permitted",
        "rcpt_rejected",
        {"exim.error.class": "relay_denied", "email.to.address": ["userx@test.ex"]},
    ),
    (
        f"{T} H=mx.bad.example [192.0.2.66]:4000 I=[198.51.100.2]:25 F=<x@bad.example> rejected RCPT <u@example.com>: "
        "JunkMail rejected - mx.bad.example [192.0.2.66] is in an RBL: see https://www.spamhaus.org/",
        "rcpt_rejected",
        {"exim.error.class": "blacklisted", "source.ip": "192.0.2.66"},
    ),
    (
        f"{T} H=(x) [192.0.2.5] F=<spam@x.example> temporarily rejected RCPT <u@example.com>: Sender rate 100.0 / 1h",
        "rcpt_rejected",
        {"exim.error.class": "rate_limited", "exim.error.temporary": True},
    ),
    (f"{T} U=CALLER rejected DATA: Not today", "data_rejected", {"exim.error.stage": "data"}),
    (
        f"{T} H=(foobar) [127.0.0.1] rejected AUTH plain: STARTTLS required before AUTH",
        "auth_rejected",
        {"exim.error.stage": "auth"},
    ),
    (f"{T} H=(a.b.c) [10.9.8.10] U=CALLER rejected STARTTLS ", "starttls_rejected", {}),
    (f"{T} H=(x.y.z) [127.0.0.1] rejected VRFY a@b.c", "command_rejected", {}),
    (
        f"{T} [1235] H=[127.0.0.1] dropped by 'connect' ACL: we dislike you",
        "connection_dropped",
        {"exim.acl.name": "connect"},
    ),
    (
        f"{T} U=CALLER F=<discard@x.y> RCPT <a@b>: discarded by MAIL ACL: discard message 2",
        "rcpt_discarded",
        {"email.to.address": ["a@b"]},
    ),
    (
        f"{T} H=(x) [192.0.2.7] incomplete transaction (RSET) from <a@b.example> for c@d.example",
        "smtp_incomplete_transaction",
        {"email.to.address": ["c@d.example"], "email.from.address": "a@b.example"},
    ),
    (
        f"{T} H=(test) [10.0.0.1] U=root sender verify fail for <bad@x.example>: Unrouteable address",
        "sender_verify_failed",
        {"exim.error.class": "sender_verify_failed", "exim.error.temporary": False},
    ),
    (
        f"{T} H=(x.y.z) [10.9.8.10] U=CALLER Warning: This warning is from a HELO ACL",
        "acl_warning",
        {"exim.warning": "This warning is from a HELO ACL"},
    ),
    # --- daemon and queue runner -------------------------------------------------------------------------
    (
        f"{T} Start queue run: pid=2213 -qf",
        "queue_run_started",
        {"process.pid": 2213, "exim.queue_run_args": "-qf"},
    ),
    (f"{T} End 'third' queue run: pid=2213", "queue_run_ended", {"exim.queue": "third"}),
    (
        f"{T} cwd=/home/alice/public_html 3 args: /usr/sbin/sendmail -t -i",
        "process_started",
        {"exim.cpanel_user": "alice", "process.executable": "/usr/sbin/sendmail"},
    ),
    (
        f'{T} cwd=/root 4 args: /usr/sbin/exim -f "" -t',
        "process_started",
        {"process.args": ["/usr/sbin/exim", "-f", "", "-t"]},
    ),
    (f"{T} 3 accept() failures: Too many open files", "daemon_error", {}),
    # --- errors, warnings, multi-line --------------------------------------------------------------------
    (
        f"{T} Warning: No server certificate defined; will use a selfsigned one.\n Suggested action: either install a "
        "certificate or change tls_advertise_hosts option",
        "tls_config_warning",
        {},
    ),
    (
        f'{T} Exim configuration error in line 12 of /etc/exim.conf:\n  option "foo" unknown',
        "config_error",
        {},
    ),
    (
        f"{T} DNS list lookup defer (probably timeout) for 7.2.0.192.zen.spamhaus.org: assumed not in list",
        "dnslist_defer",
        {},
    ),
    (
        f"{T} {ID} appendfile transport process returned non-zero status 0x0100: exit code 1",
        "transport_failed",
        {"exim.transport": "appendfile"},
    ),
    (f"{T} Long dnsdb lookup for 'x': 5000 msec", "slow_lookup", {}),
]


@pytest.mark.parametrize(
    ("line", "action", "expected"), CASES, ids=[f"{i:02d}-{c[1]}" for i, c in enumerate(CASES)]
)
def test_line_type(line: str, action: str, expected: dict[str, Any]) -> None:
    """The catalogue shape gives its action and typed fields."""
    doc = parse(line)
    assert doc["event"]["action"] == action, doc
    for dotted, value in expected.items():
        assert get(doc, dotted) == value, (dotted, doc)
    if doc["event"]["outcome"] == "failure" and get(doc, "exim.error") is not None:
        assert get(doc, "exim.error.class")


def test_reject_log_header_dump() -> None:
    """A reject-log entry keeps its header dump in event.original and extracts envelope and headers."""
    entry = (
        f"{T} {ID} H=(x) [192.0.2.7] F=<s@x.example> rejected after DATA: spam\n"
        "Envelope-from: <s@x.example>\n"
        "Envelope-to: <u@example.com>\n"
        "    <v@example.com>\n"
        f"P Received: from [192.0.2.7] by mx with esmtp (Exim 4.98)\n\tid {ID}\n"
        "I Message-Id: <abc@x.example>\n"
        "  Subject: Cheap pills\n"
    )
    doc = parse(entry, dataset="exim.reject")
    assert doc["event"]["action"] == "message_rejected"
    assert doc["event"]["original"] == entry.removesuffix("\n")  # the newline ending it is the file's
    assert get(doc, "exim.envelope_to") == ["u@example.com", "v@example.com"]
    assert get(doc, "email.subject") == "Cheap pills"
    assert get(doc, "email.message_id") == "abc@x.example"
    assert get(doc, "exim.error.class") == "spam_content"


def test_cpanel_outbound_line_names_the_recipient() -> None:
    """cPanel's `SMTP connection outbound` line: sending domain, then one recipient per line."""
    doc = parse(f"{T} {ID} SMTP connection outbound 1710152403 {ID} shop.example.com bob@gmail.com")
    assert get(doc, "email.to.address") == ["bob@gmail.com"]
    assert get(doc, "email.from.address") is None
    assert get(doc, "exim.outbound_domain") == "shop.example.com"


@pytest.mark.parametrize(
    "line",
    [
        "no MAIL in SMTP connection from (User) [141.98.10.61]:52100 I=[198.51.100.10]:25 D=3s",
        "SMTP command timeout on connection from (User) [141.98.10.61]:52100 I=[198.51.100.10]:25 D=5m",
        "unexpected disconnection while reading SMTP command from (User) [141.98.10.61]:52100 I=[198.51.100.10]:25 D=1s",
        "SMTP call from (User) [141.98.10.61]:52100 I=[198.51.100.10]:25 dropped: too many nonmail commands",
        "TLS error on connection from (User) [141.98.10.61]:52100 I=[198.51.100.10]:465 (SSL_accept): timed out",
        # +all adds the connection id after the interface
        "no MAIL in SMTP connection from (User) [141.98.10.61]:52100 I=[198.51.100.10]:25 Ci=330478 D=8s "
        "C=EHLO,AUTH,AUTH,QUIT",
        "unexpected disconnection while reading SMTP command from (User) [141.98.10.61]:52100 "
        "I=[198.51.100.10]:25 Ci=330877 D=5s",
    ],
)
def test_client_host_survives_incoming_interface(line: str) -> None:
    """With +incoming_interface (cPanel) the client host is still split out before ` I=`."""
    doc = parse(f"{T} {line}")
    assert get(doc, "source.ip") == "141.98.10.61"
    assert get(doc, "source.port") == 52100
    assert get(doc, "exim.helo") == "User"
    assert get(doc, "exim.interface.address") == "198.51.100.10"
    assert get(doc, "exim.ident") is None


def test_confirmation_with_odd_id_text_does_not_break_the_line() -> None:
    """`id=` followed by spaces in C= once raised inside the parser; the line must parse fully."""
    doc = parse(f'{T} {ID} => a@b.example R=r T=t C="250 id=                         x"')
    assert get(doc, "event.action") == "delivered"
    assert get(doc, "exim.remote_id") is None
    assert get(doc, "exim.parse_error") is None


def test_quoted_sni_and_named_port() -> None:
    """Older Exims quote SNI=; a service-name port stays out of the numeric port field."""
    doc = parse(
        f'{T} {ID} <= a@b.example H=x [192.0.2.1] I=[192.0.2.2]:smtp P=esmtps SNI="mx.example.net" S=5'
    )
    assert get(doc, "tls.client.server_name") == "mx.example.net"
    assert get(doc, "exim.interface.port") is None
    assert get(doc, "exim.interface.port_name") == "smtp"
