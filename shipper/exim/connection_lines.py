"""SMTP connection lines: opened, closed, lost, timed out, refused, synchronization and syntax errors."""

from __future__ import annotations

import re

from shipper.exim import fields as F
from shipper.exim.event import Event
from shipper.exim.hostident import (
    CI,
    HOST,
    full_host,
    host_and_ident_end,
    scan_host_ident,
    unescaped_quotes_before_host,
)
from shipper.exim.rule import Rule, opt, rx, set_duration


def _h_conn_open(ev: Event, m: re.Match[str]) -> None:
    full_host(ev, m.group("host"))
    if opt(m, "iface"):
        ev.exim["interface"] = F.interface(m.group("iface"))
    if opt(m, "ci"):
        ev.exim["connection_id"] = m.group("ci")
    if opt(m, "count"):
        ev.exim["connection_count"] = int(m.group("count"))


def _h_conn_end(ev: Event, m: re.Match[str]) -> None:
    _h_conn_open(ev, m)
    set_duration(ev, opt(m, "d"))
    if opt(m, "reason"):
        ev.exim["reason"] = m.group("reason").strip()
    if opt(m, "err"):
        ev.sub("error")["message"] = m.group("err")


def _h_outbound(ev: Event, m: re.Match[str]) -> None:
    ev.exim["outbound_epoch"] = int(m.group("epoch"))
    # cPanel's tracking line: one per recipient, with the sending domain before the recipient.
    ev.exim["outbound_domain"] = m.group("domain")
    ev.recipients([m.group("rcpt")])


def h_reason_host(ev: Event, m: re.Match[str]) -> None:
    if opt(m, "host"):
        full_host(ev, m.group("host"))
    reason = opt(m, "reason") or opt(m, "why")
    if reason:
        ev.exim["reason"] = reason
    if opt(m, "iface"):
        ev.exim["interface"] = F.interface(m.group("iface"))
    set_duration(ev, opt(m, "d"))
    if opt(m, "cmd"):
        ev.exim["smtp_command"] = F.unescape(m.group("cmd"))
    if opt(m, "f"):
        ev.sender(m.group("f"))


def _h_refused(ev: Event, m: re.Match[str]) -> None:
    h_reason_host(ev, m)
    reason = ev.exim.get("reason", "")
    ev.error(
        reason,
        temporary=bool(opt(m, "temp")) or "too many" in reason or "load" in reason,
        stage="connect",
        side="source",
        default="policy_rejection",
    )


def _h_lost_dot(ev: Event, m: re.Match[str]) -> None:
    scan_host_ident(ev, m.group("rest"))


def _h_syntax_error(ev: Event, m: re.Match[str]) -> None:
    """`SMTP syntax|protocol error in "<command>" H=… <reason>`: the command is the client's own text,
    so a `" H=(x) [ip]` inside it must not be taken for the host. Newer Exim escapes quotes in it, which
    makes the first unescaped `" H=` the real one; older Exim writes them as sent, and then the host is
    the last well-formed `H=` group (Exim writes it after the command). When older Exim leaves two
    well-formed candidates, `exim.source_ambiguous` says so."""
    text = m.group("q")
    valid: list[tuple[int, int]] = []
    for quote in unescaped_quotes_before_host(text):
        end = host_and_ident_end(text, quote + 2)
        if end is not None and (end == len(text) or text[end] == " "):
            valid.append((quote, quote + 2))
    if not valid:
        cmd, _, rest = text.partition('" ')
        ev.exim["smtp_command"] = F.unescape(cmd)
        ev.exim["reason"] = rest.strip()
        return
    escaped = '\\"' in text[: valid[0][0]]
    quote, host_at = valid[0] if escaped else valid[-1]
    if len(valid) > 1 and not escaped:
        ev.exim["source_ambiguous"] = True
    ev.exim["smtp_command"] = F.unescape(text[:quote])
    end = scan_host_ident(ev, text[host_at:])
    reason = text[host_at + end :].strip()
    if reason:
        ev.exim["reason"] = reason


_NEXT_INPUT = ' next input="'


def _h_sync_error(ev: Event, m: re.Match[str]) -> None:
    """`… rejected "<command>" <host> next input="<data>"`: both the command and the pipelined data are
    the client's, so a host group counts only when it sits between them; when the client's text
    makes two places qualify, no source is recorded and `exim.source_ambiguous` says so."""
    ev.exim["reason"] = m.group("reason")
    text = m.group("rest")
    if text is not None:
        scan_host_ident(ev, text)  # Exim's host comes first; `input="…"` is a quoted tag after it
        return
    text = m.group("q")
    valid: list[tuple[int, int]] = []
    for quote in unescaped_quotes_before_host(text):
        end = host_and_ident_end(text, quote + 2)
        if end is None:
            continue
        while True:  # Exim's own I=/U=/Ci= may follow the host
            tm = re.match(r" (?:I=\[[^\]\s]*\](?::\w+)?|U=\S+|Ci=\S+)(?= |\Z)", text[end:])
            if tm is None:
                break
            end += tm.end()
        if end == len(text) or text.startswith(_NEXT_INPUT, end):
            valid.append((quote, end))
    if len(valid) != 1:
        ev.exim["smtp_command"] = F.unescape(text.partition('" ')[0])
        if valid:
            ev.exim["source_ambiguous"] = True
        return
    quote, end = valid[0]
    ev.exim["smtp_command"] = F.unescape(text[:quote])
    scan_host_ident(ev, text[quote + 2 : end])
    if end < len(text):
        tail = text[end + len(_NEXT_INPUT) :]
        ev.exim["smtp_input"] = F.unescape(tail[:-1] if tail.endswith('"') else tail)


def _h_no_ip_for_host(ev: Event, m: re.Match[str]) -> None:
    """The name is what reverse DNS claimed and forward DNS did not confirm: a failed look-up, so it is
    kept as exim.reverse_name, never as a verified source.domain."""
    ev.exim["reverse_name"] = m.group("name")
    if opt(m, "host"):
        full_host(ev, m.group("host"))


CONNECTION_RULES: tuple[Rule, ...] = (
    Rule(
        "smtp_connection_opened",
        rx(
            rf"SMTP connection from {HOST}(?: I=(?P<iface>\S+))?{CI} \(TCP/IP connection count = "
            r"(?P<count>\d+)\)"
        ),
        _h_conn_open,
    ),
    Rule(
        "smtp_connection_closed",
        rx(
            rf"SMTP connection{CI} from {HOST}(?: I=(?P<iface>\S+))?(?: D=(?P<d>\S+))? closed "
            r"(?P<reason>.*)"
        ),
        _h_conn_end,
    ),
    Rule(
        "smtp_connection_lost",
        rx(
            rf"SMTP connection{CI} from {HOST} (?:TFO\*? )?lost(?P<reason>(?: while reading message "
            r"data(?: \([^)]*\))?)?)(?: \(error: (?P<err>[^)]*)\))?(?: D=(?P<d>\S+))?\s*\Z"
        ),
        _h_conn_end,
    ),
    Rule(
        "smtp_connection_outbound",
        rx(r"SMTP connection outbound (?P<epoch>\d+) (?P<id>\S+) (?P<domain>\S+) (?P<rcpt>\S+)"),
        _h_outbound,
    ),
    Rule("smtp_connection_lost", rx(r"SMTP connection lost after final dot(?P<rest>.*)"), _h_lost_dot),
    Rule(
        "smtp_connection_opened",
        rx(rf"SMTP connection{CI} from {HOST}(?: \(via inetd\))?\s*\Z"),
        _h_conn_open,
    ),
    Rule(
        "smtp_connection_lost",
        rx(
            rf"unexpected (?:disconnection|EOF) while reading SMTP command from (?:TFO\*? )?{HOST}"
            r"(?: \(error: (?P<err>[^)]*)\))?(?: D=(?P<d>\S+))?\s*\Z"
        ),
        _h_conn_end,
    ),
    Rule(
        "smtp_timeout",
        rx(rf"SMTP command timeout on(?: TLS)? connection from {HOST}(?: D=(?P<d>\S+))?\s*\Z"),
        h_reason_host,
    ),
    Rule(
        "smtp_timeout",
        rx(
            rf"SMTP data timeout \(message abandoned\) on connection from {HOST}(?: F=<(?P<f>[^>]*)>)?"
            r"(?: D=(?P<d>\S+))?\s*\Z"
        ),
        h_reason_host,
    ),
    Rule(
        "smtp_no_mail",
        rx(rf"no MAIL in (?:TFO\*? )?SMTP connection from {HOST} D=(?P<d>\S+)(?P<rest>.*)"),
        None,
    ),
    Rule(
        "smtp_sync_error",
        rx(
            r"SMTP protocol synchronization error \((?P<reason>[^)]*)\): rejected (?:connection from "
            r"(?P<rest>.*)|\"(?P<q>.*))"
        ),
        _h_sync_error,
    ),
    Rule("smtp_syntax_error", rx(r"SMTP syntax error in \"(?P<q>.*)"), _h_syntax_error),
    Rule("smtp_protocol_error", rx(r"SMTP protocol error in \"(?P<q>.*)"), _h_syntax_error),
    Rule("smtp_call_dropped", rx(rf"SMTP call from {HOST} dropped: (?P<reason>.*)"), h_reason_host),
    Rule("smtp_input_error", rx(r"Error or EOF on input from (?P<rest>.*)"), None),
    Rule(
        "connection_refused",
        rx(r"Connection from (?P<host>\[[^\]]*\](?::\w+)?)(?: I=(?P<iface>\S+))? refused: (?P<reason>.*)"),
        _h_refused,
    ),
    Rule(
        "connection_refused",
        rx(
            rf"(?P<temp>temporarily )?refused connection from {HOST}(?: \((?P<why>[^)]*)\)|: (?P<reason>.*))"
            r"\s*\Z"
        ),
        _h_refused,
        needles=("refused connection",),
    ),
    Rule("connection_refused", rx(rf"connection from {HOST} refused \((?P<why>[^)]*)\)"), _h_refused),
    Rule("host_lookup_failed", rx(r"no host name found for IP address (?P<ip>\S+)"), None),
    Rule(
        "host_lookup_failed",
        rx(
            rf"no IP address found for host (?P<name>\S+)(?: \(during SMTP connection from {HOST}\))?"
            r"(?P<rest>.*)"
        ),
        _h_no_ip_for_host,
    ),
)
