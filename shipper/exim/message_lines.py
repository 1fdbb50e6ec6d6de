"""Per-message status lines: completed, frozen, removed, queued, queue admin, rewrites, transport output."""

from __future__ import annotations

import re

from shipper.exim import fields as F
from shipper.exim.event import Event
from shipper.exim.grammar import ADDRESS, ANGLE_ADDRESS
from shipper.exim.rule import Rule, h_who, opt, rx, set_duration


def _h_queue_admin(ev: Event, m: re.Match[str]) -> None:
    h_who(ev, m)
    if opt(m, "new"):
        ev.exim["new_sender"] = F.strip_angle(m.group("new"))
    else:
        rcpt = opt(m, "rcpt") or opt(m, "added")
        if rcpt:
            ev.recipients([F.strip_angle(rcpt)])


def _h_completed(ev: Event, m: re.Match[str]) -> None:
    set_duration(ev, opt(m, "qt"), "queue_time")


def _h_error_ignored(ev: Event, m: re.Match[str]) -> None:
    ev.exim["address"] = m.group("addr")
    ev.recipients([m.group("addr")])
    if opt(m, "top"):
        ev.exim["original_address"] = m.group("top")[1:-1]
    if opt(m, "why"):
        ev.exim["reason"] = m.group("why")


def _h_transport_output(ev: Event, m: re.Match[str]) -> None:
    ev.exim["address"] = m.group("addr")
    ev.exim["transport"] = m.group("t")
    ev.exim["transport_output"] = m.group("out")


def _h_remote_error(ev: Event, m: re.Match[str]) -> None:
    text = m.group(0)
    ev.error(text, temporary=None)


def _h_tls_out(ev: Event, m: re.Match[str]) -> None:
    text = m.group(0)
    hm = re.search(r"(?:H=|to )(\S+) \[([^\]]+)\]", text)
    if hm is not None:
        ev.host("destination", {"name": hm.group(1), "address": hm.group(2)})
    ev.error(text, temporary=True, stage="tls", context="tls")


def _h_prdr(ev: Event, m: re.Match[str]) -> None:
    if opt(m, "r"):
        ev.recipients([m.group("r")])
    ev.exim["reason"] = m.group("res")


def _h_rewrite(ev: Event, m: re.Match[str]) -> None:
    ev.exim["rewrite"] = {
        "from": m.group("old"),
        "where": m.group("where"),
        "to": m.group("new"),
        "rule": m.group("rule"),
    }


MESSAGE_RULES: tuple[Rule, ...] = (
    Rule("message_completed", rx(r"Completed(?: QT=(?P<qt>\S+))?\s*\Z"), _h_completed),
    Rule("message_frozen", rx(r"Frozen(?: (?P<why>.*))?\s*\Z"), h_who),
    Rule("message_frozen", rx(r"frozen by (?P<who>.*)"), h_who),
    Rule("message_frozen_skipped", rx(r"Message is frozen"), None),
    Rule("message_unfrozen", rx(r"[Uu]nfrozen by (?P<who>.*)"), h_who, needles=("nfrozen by ",)),
    Rule("message_removed", rx(r"removed by (?P<who>.*)"), h_who),
    Rule("message_cancelled", rx(r"cancelled by (?P<who>.*)"), h_who),
    Rule("message_queued", rx(r"no immediate delivery: (?P<why>.*)"), h_who),
    Rule("spool_locked", rx(r"Spool file (?:for \S+ )?is locked"), None),
    Rule(
        "error_ignored",
        rx(rf"(?P<addr>{ADDRESS})(?: (?P<top>{ANGLE_ADDRESS}))?: error ignored(?:: (?P<why>.*))?"),
        _h_error_ignored,
        needles=(": error ignored",),
    ),
    Rule(
        "transport_output",
        rx(r"(?P<addr>.*?): (?P<t>\S+) transport output: (?P<out>.*)"),
        _h_transport_output,
        needles=(" transport output: ",),
    ),
    Rule("remote_smtp_error", rx(r"SMTP error from remote (?:mail server|mailer) after .*"), _h_remote_error),
    Rule("tls_fallback", rx(r"TLS session: .*"), _h_tls_out),
    Rule(
        "tls_error",
        rx(
            r"(?:DANE attempt failed|DANE error|Required TLS certificate status not received|Server "
            r"certificate revoked|TLS (?:negotiation )?failed|OCSP dates invalid|\(SSL_CTX_\w+).*"
        ),
        _h_tls_out,
    ),
    Rule("prdr_result", rx(r"PRDR (?:R=<(?P<r>[^>]*)> )?(?P<res>.*)"), _h_prdr),
    Rule(
        "queue_admin",
        rx(
            rf"(?:address (?P<rcpt>{ANGLE_ADDRESS}) marked delivered|"
            rf"recipient (?P<added>{ANGLE_ADDRESS}) added|"
            rf"sender address changed to (?P<new>{ANGLE_ADDRESS})|message marked (?:delivered|frozen)|"
            r"all recipients marked delivered)(?: by (?P<who>.*))?"
        ),
        _h_queue_admin,
    ),
    Rule("message_moved", rx(r"moved from .*"), None),
    Rule(
        "system_filter",
        rx(
            r"(?:original recipients ignored \(system filter\)|Delivery deferred by system filter|Error in "
            r"system filter: |=> discarded \(system filter\)).*"
        ),
        None,
    ),
    Rule(
        "address_rewritten",
        rx(
            r"\"(?P<old>[^\"]*)\" from (?P<where>.*?) rewritten (?:as|with) (?:\(address part of\) )?"
            r"\"(?P<new>[^\"]*)\" by (?P<rule>.*)"
        ),
        _h_rewrite,
        needles=(" rewritten ",),
    ),
)
