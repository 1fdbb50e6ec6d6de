"""Error, warning and scanner lines: router, config and expansion errors, crashes, sa-exim, DKIM, panics."""

from __future__ import annotations

import re

from shipper.exim.data import table
from shipper.exim.event import Event
from shipper.exim.grammar import ADDRESS
from shipper.exim.hostident import full_host, scan_host_ident
from shipper.exim.rule import IN_ANGLE, Rule, h_text_error, opt, rx

_TABLE = table("lines")


def _h_old_host_error(ev: Event, m: re.Match[str]) -> None:
    ev.host("destination", {"address": m.group("ip"), "name": m.group("name")})
    ev.error(m.group("err"), temporary=True)


def _h_dkim(ev: Event, m: re.Match[str]) -> None:
    tags: dict[str, str] = {}
    for tag, value in re.findall(r"(?:^| )(\w+)=(\S*)", m.group("tags")):
        # Exim writes its own tags first; a repeated tag comes from the signer's i= text.
        tags.setdefault(tag, value)
    res = m.group("res")
    verify = {
        "domain": tags.get("d"),
        "selector": tags.get("s"),
        "algorithm": tags.get("a"),
        "identity": tags.get("i"),
        "canonicalization": tags.get("c"),
        "key_bits": int(tags["b"]) if tags.get("b", "").isdecimal() else None,
        "result": res,
        "status": "pass" if res == "verification succeeded" else res.split(" ")[0],
    }
    # A field that does not apply is left out, never null.
    ev.exim["dkim_verify"] = {k: v for k, v in verify.items() if v is not None}


def _h_rejected_from(ev: Event, m: re.Match[str]) -> None:
    ev.sender(m.group("s"))
    scan_host_ident(ev, m.group("rest"))
    msg = m.group("m")
    rm = re.search(r"read=(\d+) max=(\d+)", msg)
    if rm is not None:
        ev.exim["size"] = int(rm.group(1))
        ev.exim["size_limit"] = int(rm.group(2))
    ev.error(msg, temporary=False, stage="data", side="source", default="policy_rejection")


def _h_abandoned(ev: Event, m: re.Match[str]) -> None:
    ev.error(m.group(0), temporary=True, stage="data", side="source")


def _h_transport_failed(ev: Event, m: re.Match[str]) -> None:
    ev.exim["transport"] = m.group("t")
    ev.error(m.group(0), temporary=True, stage="local")


def _h_verify(ev: Event, m: re.Match[str]) -> None:
    ev.error(
        m.group("detail") or m.group(0),
        temporary=m.group("r") == "defer",
        context=f"{m.group('who')}_verify",
        side="destination",
    )
    if opt(m, "t"):
        ev.exim["transport"] = m.group("t")


def _h_warning(ev: Event, m: re.Match[str]) -> None:
    ev.exim["warning"] = opt(m, "w") or m.group(0)


def _h_overlong(ev: Event, m: re.Match[str]) -> None:
    full_host(ev, m.group("who"))
    ev.exim["reason"] = m.group("why")


def _h_tainted_query(ev: Event, m: re.Match[str]) -> None:
    ev.exim["lookup"] = {"where": m.group("where"), "query": m.group("query")}


def _h_spool_missing(ev: Event, m: re.Match[str]) -> None:
    ev.exim["spool_file"] = m.group("file")


def _h_scanner_internal(ev: Event, m: re.Match[str]) -> None:
    ev.exim["scanner_output"] = m.group("text")
    if opt(m, "how"):
        ev.exim["reason"] = m.group("how")


# sa-exim's local_scan verdicts (Debian's sa-exim): `SA: Action: <what>: <status> (scanned in a/b secs |
# Message-Id: <id>). From <sender> (host=<name> [<ip>]) for <recipients>`.
_SA_ACTION_RE = rx(
    r"SA: Action: (?P<what>[^:(]*?)(?:: (?P<status>(?:hits|score)=\S+(?: \w+=\S+)*))? "
    r"\((?:scanned in|time:) (?P<scan>\d+)/(?P<full>\d+) secs \| Message-Id: (?P<mid>[^)]*)\)\. "
    rf"From <(?P<from>{IN_ANGLE})> \((?:host=(?P<name>\S*) \[(?P<ip>[^\]\s]*)\]|local)\) for (?P<rcpts>.*)"
)
_SA_SKIPPED_RE = rx(
    r"SA: Action: (?P<what>check skipped due to message size|Not running SA because SAEximRunCond "
    r"expanded to false)[^(]*\((?:[^)]*\bbytes\)[^(]*\()?Message-Id: (?P<mid>[^)]*)\)\. "
    rf"From <(?P<from>{IN_ANGLE})> \((?:host=(?P<name>\S*) \[(?P<ip>[^\]\s]*)\]|local)\) for (?P<rcpts>.*)"
)
# Verdict and action of each sa-exim outcome, by the text's first words.
_SA_OUTCOMES: tuple[tuple[str, str, str], ...] = tuple(
    (row["prefix"], row["verdict"], row["action"]) for row in _TABLE["sa_exim_outcomes"]
)


def _h_sa_exim(ev: Event, m: re.Match[str]) -> str:
    body = m.group(0)
    am = _SA_ACTION_RE.match(body) or _SA_SKIPPED_RE.match(body)
    if am is None:
        if body.startswith("SA: Action: "):
            ev.exim["spam"] = {"scanner": "sa-exim", "text": body[12:]}
            return "spam_verdict"
        kind = m.group("kind").lower()
        ev.exim["sa_exim"] = {"level": kind.rstrip("0123456789"), "text": m.group("text")}
        return "scanner_error" if kind == "panic" else "scanner_log"
    what = am.group("what")
    spam: dict[str, object] = {"scanner": "sa-exim"}
    for prefix, verdict, action in _SA_OUTCOMES:
        if what.startswith(prefix):
            spam["verdict"], spam["action"] = verdict, action
            break
    status = am.groupdict().get("status")
    if status:
        for key, value in re.findall(r"(\w+)=(-?\d+(?:\.\d+)?)\b", status):
            spam["score" if key in ("hits", "score") else key] = float(value)
    if am.groupdict().get("scan"):
        spam["scan_time"] = float(am.group("scan"))
    spam["header_message_id"] = am.group("mid")
    ev.exim["spam"] = spam
    ev.sender(am.group("from"))
    if am.group("ip"):
        host: dict[str, object] = {"address": am.group("ip")}
        # sa-exim prints Exim's sender_host_name, which is set only when reverse DNS was verified.
        if am.group("name") and am.group("name") != "(null)":
            host["name"] = am.group("name")
        ev.host("source", host)
    # sa-exim joins the recipients with ", ".
    ev.recipients([r.rstrip(",") for r in re.findall(ADDRESS, am.group("rcpts")) if r.rstrip(",")])
    return "spam_verdict"


ERROR_RULES: tuple[Rule, ...] = (
    Rule(
        "router_error",
        rx(r"\S+ router: skipped error: .*"),
        h_text_error,
        needles=(" router: skipped error",),
    ),
    Rule("rewrite_error", rx(r"qualify/rewrite: .*"), h_text_error),
    Rule("spam_verdict", rx(r"SA: (?P<kind>Action|Debug\d?|Notice|Warning|PANIC): (?P<text>.*)"), _h_sa_exim),
    Rule(
        "message_abandoned",
        rx(
            r"overlong message header line received from (?P<who>.*?) "
            r"\((?P<why>more than \d+ characters)\)(?P<rest>.*)"
        ),
        _h_overlong,
    ),
    Rule(
        "lookup_error",
        rx(r"tainted search query is not properly quoted \((?P<where>[^)]*)\): (?P<query>.*)"),
        _h_tainted_query,
    ),
    Rule("spool_error", rx(r"Spool file (?P<file>\S+) not found"), _h_spool_missing),
    Rule(
        "scanner_error",
        rx(r"internal scanner error(?: \((?P<how>[^)]*)\))?: (?P<text>.*)"),
        _h_scanner_internal,
        needles=("internal scanner error",),
    ),
    Rule("dkim_verify", rx(r"DKIM: (?P<tags>d=.*?) \[(?P<res>[^\]]*)\]\s*\Z"), _h_dkim),
    Rule("dkim_error", rx(r"DKIM: .*"), None),
    Rule("arc_error", rx(r"ARC: .*"), None),
    Rule("dmarc_result", rx(r"DMARC results: .*"), None),
    Rule(
        "message_rejected",
        rx(rf"rejected from <(?P<s>{IN_ANGLE})> ?(?P<rest>.*?): (?P<m>.*)"),
        _h_rejected_from,
    ),
    Rule(
        "message_abandoned",
        rx(
            r"(?:Message abandoned|Error while reading message with no usable sender address|ridiculously "
            r"long message header received|timed out while reading local message|local_scan\(\) function "
            r"(?:crashed|timed out)).*"
        ),
        _h_abandoned,
    ),
    Rule(
        "config_error",
        rx(
            r"(?:Exim configuration error|ACL \"warn\" with \"message\" setting found|configured error "
            r"code starts with|Daemon cannot be run when|\S+ (?:router|transport|authenticator): "
            r"(?:option|unknown)|WARNING: deprecated).*"
        ),
        None,
    ),
    Rule("transport_failed", rx(r"Tainted (?:filename|path|file) .*"), h_text_error),
    Rule(
        "expansion_failed",
        rx(
            r"(?:.*[Ff]ailed to expand|[Ee]xpansion of .*failed|[Ee]xpansion of \".*\" \(|failure to expand|"
            r"unable to expand).*"
        ),
        None,
        needles=("xpan",),
    ),
    Rule("message_rejected", rx(r"no recipients found in headers"), None),
    Rule(
        "process_crashed",
        rx(r"(?:re-)?exec of .* failed.*|failed to read delivery status.*"),
        None,
        needles=("exec of ", "failed to read delivery status"),
    ),
    Rule(
        "process_crashed",
        rx(r"(?:.* crashed with signal|process \d+ crashed|SIGSEGV|backtrace).*"),
        None,
        needles=("crashed", "SIGSEGV", "backtrace"),
    ),
    Rule(
        "transport_failed",
        rx(r"(?P<t>\S+) transport process returned non-zero status.*"),
        _h_transport_failed,
        needles=(" transport process returned ",),
    ),
    Rule(
        "resource_error",
        rx(
            r"(?:(?:spool|log) directory space check failed|Spool (?:write )?error|Spool read error|"
            r"failed to write to|No space left).*"
        ),
        h_text_error,
    ),
    Rule("slow_lookup", rx(r"Long \S+ lookup for .*"), None),
    Rule(
        "scanner_error",
        rx(
            r"(?:malware acl condition: |spam acl condition: |regex acl condition warning|Temporary error "
            r"with DCC|spamd: |clamd: ).*"
        ),
        h_text_error,
    ),
    Rule("dnslist_defer", rx(r"DNS list lookup defer.*"), None),
    Rule("dnslist_result", rx(r"DNS list lookup for .*"), None),
    Rule(
        "recipient_verify_failed",
        rx(
            r"(?P<who>sender|recipient) verify (?P<r>fail|defer) \(making callout connection\): "
            r"(?:T=(?P<t>\S+) )?(?P<detail>.*)"
        ),
        _h_verify,
    ),
    Rule("tls_config_warning", rx(r"Warning: No server certificate defined.*"), _h_warning),
    Rule("warning", rx(r"Warning: (?P<w>.*)"), _h_warning),
    Rule(
        "panic",
        rx(
            r"(?:PANIC|[Pp]anic|internal error|Unexpected|unable to set gid|unable to set uid|"
            r"User \d+ set for .* never_users|failed to open|Cannot open).*"
        ),
        None,
    ),
    # Pre-4.85 per-host delivery errors: `name [ip] error` without H= (only on message lines).
    Rule(
        "remote_host_error",
        rx(r"(?P<name>[^\s\[]+) \[(?P<ip>[^\]\s]+)\](?::\w+)? (?P<err>.+)"),
        _h_old_host_error,
        needs_id=True,
    ),
)
