"""SMTP command lines of a session: HELO and MAIL refusals, TLS errors, ETRN, VRFY, XCLIENT and AUTH."""

from __future__ import annotations

import re

from shipper.exim import fields as F
from shipper.exim.connection_lines import h_reason_host
from shipper.exim.event import Event
from shipper.exim.grammar import ADDRESS
from shipper.exim.hostident import (
    CI,
    HOST,
    full_host,
    host_and_ident_end,
    ident_tail_ends,
    scan_host_ident,
    trailing_host_at,
)
from shipper.exim.rule import IN_ANGLE, Rule, opt, rx


def _h_helo(ev: Event, m: re.Match[str]) -> None:
    h_reason_host(ev, m)
    if opt(m, "helo") is not None:
        ev.exim["helo"] = m.group("helo")
    ev.error(
        opt(m, "reason") or "HELO rejected",
        temporary=bool(opt(m, "temp")),
        stage="helo",
        context="helo",
        side="source",
    )


def _h_mail_reject(ev: Event, m: re.Match[str]) -> None:
    h_reason_host(ev, m)
    if opt(m, "s") is not None:
        ev.sender(m.group("s"))
    ctx = "size" if "too big" in m.group(0) else None
    if opt(m, "size"):
        ev.exim["size"] = int(m.group("size"))
        ev.exim["size_limit"] = int(m.group("max"))
    ev.error(
        opt(m, "reason") or m.group(0),
        temporary=False,
        stage="mail",
        context=ctx,
        side="source",
        default="policy_rejection",
    )


def _h_tls_in(ev: Event, m: re.Match[str]) -> None:
    h_reason_host(ev, m)
    fn = opt(m, "fn") or opt(m, "fn2")
    if fn:
        ev.exim["tls_function"] = fn
    ev.error(opt(m, "err") or "", temporary=True, stage="tls", context="tls", side="source")


def _h_ssl_verify(ev: Event, m: re.Match[str]) -> None:
    ev.host("destination", {"address": m.group("ip")})
    ev.error(m.group("err"), temporary=True, stage="tls", context="tls")


def _h_etrn(ev: Event, m: re.Match[str]) -> None:
    """`ETRN <argument> received from <host>`: the argument is the client's, so the host is the text
    after the last ` received from ` that is a whole host group."""
    ev.exim["smtp_command"] = m.group("cmd")
    sep = " received from "
    text = m.group("arg") + sep + m.group("host")
    pos = text.rfind(sep)
    while pos > 0:
        host = text[pos + len(sep) :]
        probe = host if host.startswith(("H=", "U=")) else "H=" + host
        end = host_and_ident_end(probe, 0)
        if end is not None and ident_tail_ends(probe, end):
            break
        pos = text.rfind(sep, 0, pos)
    if pos <= 0:
        pos = len(m.group("arg"))
    ev.exim["etrn_argument"] = text[:pos]
    full_host(ev, text[pos + len(sep) :])


def _h_vrfy(ev: Event, m: re.Match[str]) -> None:
    """`VRFY failed for <argument> <host_and_ident>`: the argument is the client's own text, so the host
    is the group that runs to the end of the line, never one inside the argument."""
    text = m.group("q")
    at = trailing_host_at(text)
    arg = text if at is None else text[:at].rstrip()
    ev.exim["smtp_command"] = "VRFY " + arg
    am = re.fullmatch(rf"<?({ADDRESS}?)>?", arg)
    if am is not None and am.group(1):
        ev.recipients([am.group(1)])
    if at is not None:
        scan_host_ident(ev, text[at:])


def _h_auth_failed(ev: Event, m: re.Match[str]) -> None:
    ev.exim["auth"] = {"authenticator": m.group("auth")}
    scan_host_ident(ev, m.group("who") if m.group("who").startswith(("H=", "U=")) else "H=" + m.group("who"))
    resp = m.group("resp")
    # The id is the client's own text and may hold `)`: it runs to the line's last `)`.
    sm = re.search(r"\(set_id=(?P<id>.*)\)\s*\Z", resp, re.S)
    if sm is not None:
        ev.exim["auth"]["id"] = sm.group("id")
        ev.sec("user")["name"] = sm.group("id")
    ev.error(resp, temporary=resp.startswith("4"), stage="auth", context="auth", side="source")


def _h_auth_ignored(ev: Event, m: re.Match[str]) -> None:
    ev.exim["auth"] = {"sender": m.group("a")}
    rest = m.group("rest")
    wm = _TRAILING_REASON_RE.search(rest)
    if wm is not None:
        ev.exim["reason"] = wm.group("why")
        rest = rest[: wm.start()]
    scan_host_ident(ev, rest)


def _h_remote_auth(ev: Event, m: re.Match[str]) -> None:
    ev.exim["auth"] = {"authenticator": m.group("auth")}
    hg = F.host_group(m.group("rest"), 0)
    rest = m.group("rest")
    if hg is not None:
        ev.host("destination", hg[0])
        rest = rest[hg[1] :]
    ev.error(rest.strip(" :"), temporary=None, stage="auth", context="auth")


_TRAILING_REASON_RE = re.compile(r" \((?P<why>[^()]*)\)\Z")


COMMAND_RULES: tuple[Rule, ...] = (
    Rule(
        "helo_rejected",
        rx(rf"(?P<temp>temporarily )?rejected (?:HELO|EHLO) from {HOST}: (?P<reason>.*)"),
        _h_helo,
        needles=("rejected",),
    ),
    Rule(
        "helo_rejected",
        rx(rf"(?P<temp>temporarily )?rejected \"(?:HELO|EHLO) (?P<helo>[^\"]*)\" from {HOST}\s*\Z"),
        _h_helo,
        needles=("rejected",),
    ),
    Rule("mail_rejected", rx(rf"rejected MAIL from {HOST}: (?P<reason>no HELO/EHLO given)"), _h_mail_reject),
    Rule(
        "mail_rejected",
        rx(r"rejected MAIL command (?P<host>.*?): (?P<reason>too many messages in one connection)"),
        _h_mail_reject,
    ),
    Rule(
        "size_rejected",
        rx(
            rf"rejected MAIL FROM:<(?P<s>{IN_ANGLE})> (?P<host>.*?): (?P<reason>message too big: "
            r"size>?=(?P<size>\d+) max=(?P<max>\d+))"
        ),
        _h_mail_reject,
    ),
    Rule(
        "mail_rejected",
        rx(rf"unqualified (?:sender|recipient) rejected: <(?P<s>{IN_ANGLE})> (?P<host>.*)"),
        _h_mail_reject,
    ),
    Rule(
        "too_many_recipients",
        rx(r"[Tt]oo many recipients(?P<rest>.*)"),
        None,
        needles=("oo many recipients",),
    ),
    Rule(
        "tls_error",
        rx(
            rf"TLS error on(?: TLS)? connection{CI} (?:from|to) {HOST} "
            r"(?:\((?P<fn>[^)]*)\)|(?P<fn2>[A-Za-z_]+)):"
            r" (?P<err>.*)"
        ),
        _h_tls_in,
    ),
    Rule("tls_error", rx(r"TLS error \((?P<fn>[^)]*)\):? (?P<err>.*)"), _h_tls_in),
    Rule(
        "tls_verify_error",
        rx(r"\[(?P<ip>[^\]]*)\] SSL verify error: (?P<err>.*)"),
        _h_ssl_verify,
        needles=("SSL verify error",),
    ),
    Rule(
        "smtp_connection_lost",
        rx(r"\[(?P<host>[^\]]*)\] (?P<reason>after QUIT, client reset TCP before SMTP response.*)"),
        h_reason_host,
        needles=("after QUIT",),
    ),
    Rule(
        "etrn_received",
        rx(r"(?P<cmd>ETRN|ATRN) (?P<arg>.*?) received from (?P<host>.*)"),
        _h_etrn,
        needles=(" received from ",),
    ),
    Rule("vrfy_failed", rx(r"VRFY failed for (?P<q>.*)"), _h_vrfy),
    Rule("command_rejected", rx(rf"rejected XCLIENT from {HOST}: (?P<reason>.*)"), h_reason_host),
    Rule(
        "auth_failed",
        rx(r"(?P<auth>\S+) authenticator \((?P<mech>[^)]*)\):\s*(?P<resp>.*)"),
        None,
        needles=("authenticator (",),
    ),
    Rule(
        "auth_failed",
        rx(r"(?P<auth>\S+) authenticator failed for (?P<who>.*?): (?P<resp>\d{3}\b.*)"),
        _h_auth_failed,
        needles=("authenticator failed for ",),
    ),
    Rule(
        "remote_auth_failed",
        rx(r"(?P<auth>\S+) (?:authenticator failed|cancelled authentication) (?P<rest>H=.*)"),
        _h_remote_auth,
        needles=(" H=",),
    ),
    Rule("auth_ignored", rx(r"ignoring AUTH=(?P<a>\S*) from (?P<rest>.*)"), _h_auth_ignored),
    Rule("ident_timeout", rx(r"ident connection to (?P<ip>\S+) timed out"), None),
    Rule("listen_backlog", rx(r"listen backlog (?P<n>\d+) I=(?P<iface>\S+)"), h_reason_host),
)
