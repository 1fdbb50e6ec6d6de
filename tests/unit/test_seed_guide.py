"""Every line the cPanel guide (../shared/seeds) quotes, parsed into the fields its section explains.

The guide's copy went through an e-mail obfuscator (`[email protected]`) and some blocks are wrapped or
pasted together; the table uses the lines with plausible addresses restored. The raw file itself is
checked separately: it must parse without a single exception.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import get, parse, shared_path
from tests.parsing import read

# (line, expected event.action, {dotted field: expected value})
SEED_LINES: list[tuple[str, str, dict[str, Any]]] = [
    # A/4 log entry example
    ("2014-08-10 03:27:11 pid 1014: SIGHUP received: re-exec daemon", "daemon_sighup", {"process.pid": 1014}),
    (
        "2014-08-10 03:27:15 cwd=/var/spool/exim 3 args: /usr/sbin/exim -bd -q1h",
        "process_started",
        {
            "process.working_directory": "/var/spool/exim",
            "process.args": ["/usr/sbin/exim", "-bd", "-q1h"],
            "process.args_count": 3,
        },
    ),
    (
        "2014-08-10 03:27:15 exim 4.82 daemon started: pid=1014, -q1h, listening for SMTP on port 25 (IPv6 and "
        "IPv4) port 587 (IPv6 and IPv4) and for SMTPS on port 465 (IPv6 and IPv4)",
        "daemon_started",
        {
            "exim.version": "4.82",
            "process.pid": 1014,
            "exim.daemon.queue_interval": "-q1h",
            "exim.daemon.ports": [25, 465, 587],
        },
    ),
    (
        "2014-08-10 03:27:15 cwd=/var/spool/exim 2 args: /usr/sbin/exim -q",
        "process_started",
        {"process.args": ["/usr/sbin/exim", "-q"]},
    ),
    # B/2 exigrep example
    (
        "2014-08-10 10:52:01 1XGVPd-000707-4Y <= aaron@domain.com H=localhost (10.5.40.204) [127.0.0.1]:39668 "
        'P=esmtpa A=dovecot_login:aaron@domain.com S=748 id=llama1@domain.com T="Llamas are awesome" '
        "for aaron@domain.com",
        "message_arrived",
        {
            "email.local_id": "1XGVPd-000707-4Y",
            "email.from.address": "aaron@domain.com",
            "source.ip": "127.0.0.1",
            "source.port": 39668,
            "source.domain": "localhost",
            "exim.helo": "10.5.40.204",
            "exim.protocol": "esmtpa",
            "exim.auth.authenticator": "dovecot_login",
            "user.name": "aaron@domain.com",
            "exim.size": 748,
            "email.message_id": "llama1@domain.com",
            "email.subject": "Llamas are awesome",
            "email.to.address": ["aaron@domain.com"],
            "@timestamp": "2014-08-10T10:52:01.000Z",
        },
    ),
    (
        "2014-08-10 10:52:01 1XGVPd-000707-4Y => aaron <aaron@domain.com> R=virtual_user T=virtual_userdelivery",
        "delivered",
        {
            "exim.address": "aaron",
            "exim.original_address": "aaron@domain.com",
            "email.to.address": ["aaron@domain.com"],
            "exim.router": "virtual_user",
            "exim.transport": "virtual_userdelivery",
            "event.outcome": "success",
        },
    ),
    (
        "2014-08-10 10:52:01 1XGVPd-000707-4Y Completed",
        "message_completed",
        {"email.local_id": "1XGVPd-000707-4Y"},
    ),
    # C/2 the fully annotated arrival
    (
        "2014-08-10 11:18:35 [28107] 1XGVpL-0007JL-14 <= aaron@domain.com H=localhost (10.5.40.204) "
        "[127.0.0.1]:39753 I=[127.0.0.1]:25 P=esmtpa A=dovecot_login:aaron@domain.com S=662 M8S=0 "
        'id=llama2@domain.com T="what if you had a llama" from <aaron@domain.com> for llama@domain.com',
        "message_arrived",
        {
            "process.pid": 28107,
            "exim.interface.address": "127.0.0.1",
            "exim.interface.port": 25,
            "exim.m8s": "0",
            "exim.original_sender": "aaron@domain.com",
            "email.to.address": ["llama@domain.com"],
            "email.subject": "what if you had a llama",
            "exim.size": 662,
        },
    ),
    (
        "2014-08-10 11:18:35 1XGVpL-0007JL-14 <= aaron@domain.com H=mail.fictional.example [192.168.123.123] "
        "U=exim P=smtp S=662",
        "message_arrived",
        {"source.domain": "mail.fictional.example", "source.ip": "192.168.123.123", "exim.ident": "exim"},
    ),
    # C/4.1 421 temporary failures: provider throttling
    (
        "2014-09-29 21:27:08 1XYdJu-002e6P-9F SMTP error from remote mail server after MAIL FROM:<news@domain.com> "
        "SIZE=6601: host mta5.am0.yahoodns.net [66.196.118.240]: 421 4.7.0 [GL01] Message from (184.171.253.133) "
        "temporarily deferred - 4.16.50. Please refer to http://postmaster.yahoo.com/errors/postmaster-21.html",
        "remote_smtp_error",
        {
            "destination.domain": "mta5.am0.yahoodns.net",
            "destination.ip": "66.196.118.240",
            "exim.error.smtp_code": 421,
            "exim.error.enhanced_code": "4.7.0",
            "exim.error.stage": "mail",
            "exim.error.class": "rate_limited",
            "exim.error.temporary": True,
        },
    ),
    (
        "2014-09-12 08:01:12 1XSLn4-003Fa1-OX SMTP error from remote mail server after end of data: host "
        "gmail-smtp-in.l.google.com [173.194.66.27]: 421-4.7.0 [77.69.28.195 15] Our system has detected an "
        r"unusual rate of\n421-4.7.0 unsolicited mail originating from your IP address. To protect our\n421-4.7.0 "
        r"users from spam, mail sent from your IP address has been temporarily\n421-4.7.0 rate limited. Please "
        r"visit\n421-4.7.0 http://www.google.com/mail/help/bulk_mail.html to review our Bulk\n421 4.7.0 Email "
        "Senders Guidelines. q4si1448293wij.85 - gsmtp",
        "remote_smtp_error",
        {
            "destination.domain": "gmail-smtp-in.l.google.com",
            "exim.error.smtp_code": 421,
            "exim.error.stage": "data",
            "exim.error.class": "rate_limited",
            "exim.error.temporary": True,
        },
    ),
    (
        "2014-09-18 13:44:19 1XUb4M-000v5R-6R SMTP error from remote mail server after MAIL FROM:<a@domain.com> "
        "SIZE=1811: host mta7.am0.yahoodns.net [66.66.66.66]: 421 4.7.1 [TS03] All messages from 5.196.113.212 "
        "will be permanently deferred; Retrying will NOT succeed. See http://postmaster.yahoo.com/421-ts03.html",
        "remote_smtp_error",
        {"exim.error.enhanced_code": "4.7.1", "exim.error.class": "rate_limited"},
    ),
    # C/4.2 450
    (
        "2014-09-21 16:06:05 1XUKFa-0003bb-EM SMTP error from remote mail server after RCPT TO:<bob@someaddress.com>: "
        "host mx.someaddress.com [20.20.20.20]: 450 4.7.1 Client host rejected: cannot find your hostname, "
        "[20.20.20.20]",
        "remote_smtp_error",
        {
            "exim.error.stage": "rcpt",
            "exim.error.smtp_code": 450,
            "exim.error.class": "client_host_rejected",
            "exim.error.temporary": True,
            "exim.error.text": "Client host rejected: cannot find your hostname, [20.20.20.20]",
        },
    ),
    (
        "2014-09-21 16:06:05 1XUKFa-0003bb-EM ** bob@someaddress.com: retry timeout exceeded",
        "delivery_failed",
        {
            "email.to.address": ["bob@someaddress.com"],
            "exim.error.class": "retry_timeout_exceeded",
            "exim.error.temporary": False,
            "event.outcome": "failure",
        },
    ),
    (
        "2014-10-10 10:25:01 1XcKLM-003IGU-Fr SMTP error from remote mail server after RCPT TO:<jan@bol.com>: "
        "host pro-mail-mx-002.bol.com [20.20.20.20]: 450 4.7.1 Service unavai$",
        "remote_smtp_error",
        {"exim.error.smtp_code": 450, "exim.error.class": "client_host_rejected"},
    ),
    # C/4.3 451
    (
        "2014-09-24 12:59:49 1XWqqy-00028x-FK == jo@gylsystems.com R=lookuphost T=remote_smtp defer (-44): SMTP "
        "error from remote mail server after RCPT TO:<jo@gylsystems.com>: host gylsystems.com [69.69.69.69]: 451 "
        "Temporary local problem - please try later",
        "delivery_deferred",
        {
            "exim.flag": "==",
            "exim.router": "lookuphost",
            "exim.transport": "remote_smtp",
            "exim.error.errno": -44,
            "destination.ip": "69.69.69.69",
            "destination.domain": "gylsystems.com",
            "exim.error.smtp_code": 451,
            "exim.error.class": "temporary_local_problem",
            "exim.error.temporary": True,
        },
    ),
    (
        "2014-11-24 11:25:33 H=localhost (mail.fictional.example) [::1]:49956 sender verify defer for "
        "<aaron@domain.com>: require_files: error for /home/aaron/etc/domain.com: Permission denied",
        "sender_verify_deferred",
        {
            "source.ip": "::1",
            "source.port": 49956,
            "exim.helo": "mail.fictional.example",
            "email.from.address": "aaron@domain.com",
            "exim.error.class": "sender_verify_failed",
            "exim.error.temporary": True,
        },
    ),
    (
        "2014-11-24 11:25:33 H=localhost (srv-hs1.netsons.net) [::1]:49956 F=<aaron@domain.com> "
        "A=dovecot_login:aaron@domain.com temporarily rejected RCPT <x@example.net>: Could not complete sender verify",
        "rcpt_rejected",
        {
            "email.from.address": "aaron@domain.com",
            "email.to.address": ["x@example.net"],
            "user.name": "aaron@domain.com",
            "exim.error.stage": "rcpt",
            "exim.error.temporary": True,
            "exim.error.class": "sender_verify_failed",
            "exim.error.text": "Could not complete sender verify",
        },
    ),
    # C/4.4 452
    (
        "2014-09-13 11:37:53 1XSdCz-00049U-5A == user@domain.com R=lookuphost T=remote_smtp defer (-44): SMTP error "
        "from remote mail server after RCPT TO:<user@domain.com>: host mail.fictional.example [10.5.40.204]: 452 "
        "<user@domain.com> Domain size limit exceeded",
        "delivery_deferred",
        {
            "exim.error.smtp_code": 452,
            "exim.error.class": "storage_limit_exceeded",
            "exim.error.temporary": True,
        },
    ),
    # C/4.5 550
    (
        "2014-08-31 08:43:16 1XO5PX-0006SC-Qa ** user@domain.com R=dkim_lookuphost T=dkim_remote_smtp: SMTP error "
        "from remote mail server after RCPT TO:<user@domain.com>: host mail.domain.com [10.5.40.204]: "
        r"550-Verification for <me@example.com>\n550-The mail server could not deliver mail to user@domain.com The "
        "account or domain may not exist, they may be blacklisted, or missing the proper dns entries."
        r"\n550 Sender verify failed",
        "delivery_failed",
        {
            "exim.router": "dkim_lookuphost",
            "exim.transport": "dkim_remote_smtp",
            "exim.error.smtp_code": 550,
            "exim.error.class": "sender_verify_failed",
            "exim.error.temporary": False,
            "destination.domain": "mail.domain.com",
        },
    ),
    (
        "2014-08-31 08:43:16 1XO5PX-0006SC-Qa SMTP error from remote mail server after RCPT TO:<u@example.com>: host "
        r"mail.fictional.example [10.5.40.204]: 550-Sender has no A, AAAA, or MX DNS records. mail.fictional.example"
        r"\n550 l mail.fictional.example",
        "remote_smtp_error",
        {"exim.error.class": "unroutable_domain", "exim.error.temporary": False},
    ),
    (
        "2014-08-31 08:43:16 1XO5PX-0006SC-Qa ** u@domain.com R=dkim_lookuphost T=dkim_remote_smtp H=mail1.domain.com "
        "[10.5.40.204] : SMTP error from remote mail server after end of data: 550 5.7.1 Message rejected due to "
        "content restrictions",
        "delivery_failed",
        {
            "exim.error.enhanced_code": "5.7.1",
            "exim.error.stage": "data",
            "exim.error.class": "spam_content",
            "destination.ip": "10.5.40.204",
        },
    ),
    (
        "2014-08-31 08:43:16 1XO5PX-0006SC-Qa ** u@domain.com R=dkim_lookuphost T=dkim_remote_smtp H=mail.fictional"
        ".example [10.5.40.204] : SMTP error from remote mail server after RCPT TO:<u@domain.com>: 550-Please turn "
        r"on SMTP Authentication in your mail client.\n550-mail.fictional.example [10.5.40.204]:58133 is not "
        r"permitted to relay\n550 through this server without authentication.",
        "delivery_failed",
        {"exim.error.class": "relay_denied", "exim.error.stage": "rcpt"},
    ),
    (
        "2014-08-31 08:43:16 1XO5PX-0006SC-Qa ** u@example.com R=dkim_lookuphost T=dkim_remote_smtp "
        "X=TLSv1:DHE-RSA-AES256-SHA:256: SMTP error from remote mail server after MAIL FROM:<me@domain.com> "
        'SIZE=1834: host mail.fictional.example [10.5.40.204]: 550 "REJECTED - Bad HELO - Host impersonating '
        '[mail.fictional2.example]"',
        "delivery_failed",
        {
            "exim.error.class": "bad_helo",
            "exim.error.stage": "mail",
            "tls.cipher": "DHE-RSA-AES256-SHA",
            "tls.version": "1.0",
        },
    ),
    (
        '2014-08-31 08:43:16 1XO5PY-0006SO-GS <= <> R=1XO5PX-0006SC-Qa U=mailnull P=local S=1951 T="Mail delivery '
        'failed: returning message to sender" for me@domain.com',
        "message_arrived",
        {
            "exim.sender_empty": True,
            "exim.bounce_of": "1XO5PX-0006SC-Qa",
            "exim.ident": "mailnull",
            "exim.protocol": "local",
            "email.subject": "Mail delivery failed: returning message to sender",
        },
    ),
    # C/4.6 553
    (
        "2014-11-26 10:26:32 1XtYro-004Ecv-65 ** u@example.com R=dkim_lookuphost T=dkim_remote_smtp: SMTP error "
        "from remote mail server after MAIL FROM:<me@domain.com>: host mail.fictional.example [10.5.40.204]: 553 "
        "sorry, your domain does not exists.",
        "delivery_failed",
        {"exim.error.smtp_code": 553, "exim.error.class": "unroutable_domain"},
    ),
    (
        "2014-11-26 10:26:32 1XtYro-004Ecv-65 ** u@example.com R=dkim_lookuphost T=dkim_remote_smtp: SMTP error "
        "from remote mail server after MAIL FROM:<me@domain.com> SIZE=1604: host mail.fictional.example "
        "[10.5.40.204]: 553 <me@domain.com> unable to verify address",
        "delivery_failed",
        {"exim.error.class": "sender_verify_failed", "exim.error.stage": "mail"},
    ),
    # C/4.7 554 spam content
    (
        "2014-10-15 12:41:11 cwd=/var/spool/exim 3 args: /usr/sbin/exim -Mc 1XeRdP-0006JC-FO",
        "process_started",
        {"process.args": ["/usr/sbin/exim", "-Mc", "1XeRdP-0006JC-FO"]},
    ),
    (
        "2014-10-15 12:42:12 1XeRdP-0006JC-FO ** me@domain.com R=dkim_lookuphost T=dkim_remote_smtp: SMTP error from "
        "remote mail server after end of data: host mail.fictional.example [10.5.40.204]: 554 rejected due to spam "
        "content",
        "delivery_failed",
        {"exim.error.smtp_code": 554, "exim.error.class": "spam_content", "exim.error.stage": "data"},
    ),
    # D SpamBox / SpamAssassin
    (
        '2014-10-01 15:12:26 1XZKdg-0001g3-JS H=mail.fictional.example [10.5.40.204]:4779 Warning: "SpamAssassin as '
        'marka22 detected message as spam (11.0)"',
        "spam_verdict",
        {
            "exim.spam.verdict": "spam",
            "exim.spam.score": 11.0,
            "exim.spam.user": "marka22",
            "source.ip": "10.5.40.204",
            "source.port": 4779,
        },
    ),
    (
        '2014-10-01 15:30:35 1XZKvG-0002HW-ML H=(12-12-12-12.domain.net) [10.5.40.204]:65376 Warning: "SpamAssassin '
        'as marka22 detected message as spam (7.2)"',
        "spam_verdict",
        {"exim.spam.score": 7.2, "exim.helo": "12-12-12-12.domain.net"},
    ),
    (
        "2014-10-01 15:12:26 1XZKdg-0001g3-JS => aaron <aaron@domain.com> R=virtual_user_spam "
        "T=virtual_userdelivery_spam",
        "delivered",
        {"exim.router": "virtual_user_spam"},
    ),
    (
        "2014-09-10 13:06:55 1XRlM6-003yMv-KG H=mail.fictional.example [10.5.40.204]:46793 Warning: Message has been "
        "scanned: no virus or other harmful content was found",
        "virus_scan",
        {"exim.malware.verdict": "clean"},
    ),
    (
        '2014-09-10 13:06:56 1XRlM6-003yMv-KG H=mail.fictional.example [10.5.40.204]:46793 Warning: "SpamAssassin as '
        'cpaneleximscanner detected OUTGOING smtp message as NOT spam (-0.1)"',
        "spam_verdict",
        {"exim.spam.verdict": "ham", "exim.spam.score": -0.1, "exim.spam.direction": "outgoing"},
    ),
    (
        "2014-09-10 13:06:56 1XRlM6-003yMv-KG <= me@domain.com H=mail.fictional.example [10.5.40.204]:46793 "
        'P=esmtpsa X=TLSv1:AES128-SHA:128 A=dovecot_login:me@domain.com S=18635 T="14\\" plates" for u@example.com',
        "message_arrived",
        {
            "email.subject": '14" plates',
            "tls.version": "1.0",
            "tls.version_protocol": "tls",
            "tls.cipher": "AES128-SHA",
            "exim.tls.bits": 128,
        },
    ),
    (
        "2014-09-10 13:06:56 1XRlM6-003yMv-KG SMTP connection outbound 1410368816 1XRlM6-003yMv-KG domain.com "
        "me@domain.com",
        "smtp_connection_outbound",
        {
            "exim.outbound_epoch": 1410368816,
            "exim.outbound_domain": "domain.com",
            "email.to.address": ["me@domain.com"],
        },
    ),
    (
        "2014-09-10 13:07:22 1XRlM6-003yMv-KG => u@example.com R=dkim_lookuphost T=dkim_remote_smtp "
        'H=mail.fictional.example [10.5.40.204] X=TLSv1:DHE-RSA-AES256-SHA:256 C="250 OK id=1XRlMC-0006w5-F4"',
        "delivered",
        {
            "destination.ip": "10.5.40.204",
            "destination.domain": "mail.fictional.example",
            "exim.smtp_confirmation": "250 OK id=1XRlMC-0006w5-F4",
            "exim.remote_id": "1XRlMC-0006w5-F4",
            "tls.cipher": "DHE-RSA-AES256-SHA",
        },
    ),
    # the guide's copy wraps this arrival over two physical lines: it is still one entry
    (
        "2014-11-06 09:14:13 1XmNp0-0005Qp-MR <= me@gmail.com H=mail.fictional.example [10.5.40.204]:42603 P=esmtps "
        'X=TLSv1:RC4-SHA:128 S=3411 id=x@mail.gmail.com\nT="test" for u@domain.com',
        "message_arrived",
        {"email.subject": "test", "email.to.address": ["u@domain.com"], "tls.cipher": "RC4-SHA"},
    ),
    # C/4.3.1 as the guide prints it: one deferral wrapped over four physical lines
    (
        "2014-09-24 12:59:49 1XWqqy-00028x-FK == jo@gylsystems.com R=lookuphost\nT=remote_smtp defer (-44): SMTP "
        "error from remote mail server after RCPT\nTO:<jo@gylsystems.com>: host gylsystems.com [69.69.69.69]: 451\n"
        "Temporary local problem - please try later",
        "delivery_deferred",
        {
            "exim.transport": "remote_smtp",
            "exim.error.smtp_code": 451,
            "exim.error.class": "temporary_local_problem",
            "destination.ip": "69.69.69.69",
        },
    ),
]


@pytest.mark.parametrize(
    ("line", "action", "expected"), SEED_LINES, ids=[f"{i:02d}" for i in range(len(SEED_LINES))]
)
def test_seed_line(line: str, action: str, expected: dict[str, Any]) -> None:
    """Each quoted guide line yields its action and the fields the guide explains."""
    doc = parse(line)
    assert doc["event"]["action"] == action, doc
    for dotted, value in expected.items():
        assert get(doc, dotted) == value, (dotted, doc)
    if get(doc, "exim.error") is not None:
        assert get(doc, "exim.error.class")
        assert get(doc, "exim.error.hint")


def test_raw_guide_parses_without_exception() -> None:
    """The raw guide, garbled blocks included, parses entry by entry with no parser failure."""
    path = shared_path("seeds", "000_304dffdf2a9fc1c6.txt")
    actions = []
    for doc in read(path.read_bytes(), server="mx1").docs:
        assert "parse_error" not in doc.get("exim", {}), doc
        actions.append(doc["event"]["action"])
    timestamped = [a for a in actions if a != "unrecognized"]
    # The guide quotes about 30 timestamped log entries; its prose becomes unrecognized text entries.
    assert len(timestamped) >= 25
    assert {"message_arrived", "delivered", "delivery_failed", "spam_verdict", "message_completed"} <= set(
        actions
    )
