"""eximstats' own reading of a line: the sending/receiving host it counts, and whether it is a reject.

eximstats (Exim's `util/eximstats.src`) does not parse lines the way the rest of this package does: it
counts as a *reject* every line that is not a flag line and contains `rejected`, `refused` or `dropped`
(which includes a remote host's `Connection refused` during delivery), plus `=>` lines with no `T=`
(blackholed recipients); among those, a few patterns make a *temporary* reject; its reject "hosts" are
the bracketed IP of the line (`H=… [ip]`, `Connection from [ip]`, `SMTP call from … [ip]`) or `local`;
its received and delivered "hosts" are the first word after `H=`, or `local`; its local senders the `U=`
of arrivals without `H=`, its local destinations the first word of deliveries without `H=`. Recording the same
verdicts on each event lets the report's grand total equal eximstats' on the same log, and its
rejection-reason and rejected-IP tables show eximstats' keys. The patterns are eximstats' own, in its
order (Exim 4.96); the id may also be Exim 4.97's 23-character form.
"""

from __future__ import annotations

import re
from typing import Any

_PREFIX = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?(?: [-+]\d{4})?(?: \[\d+\])? ")
_ID = re.compile(r"[0-9A-Za-z]{6}-(?:[0-9A-Za-z]{6}-[0-9A-Za-z]{2}|[0-9A-Za-z]{11}-[0-9A-Za-z]{4}) ")
_FLAG = re.compile(r"[<>=*-]+|SA")
_TRANSPORT = re.compile(r"\sT=\S+")
_HOST = re.compile(r"\bH=(\S+)")
_USER = re.compile(r"\sU=(\S+)")
_PARENT = re.compile(r" (<.+?>) ")
_IP = (
    re.compile(r"\bH=(?:|.*? )(\[[^]]+\])"),
    re.compile(r"Connection from (\[\S+\])"),
    re.compile(r"SMTP call from .*?(\[\S+\])"),
)
_EHLO_IP = re.compile(r"^rejected [HE][HE]LO from .*?(\[.+?\]):")

_TEMPORARY_FIRST = (
    re.compile(r"(temporarily rejected [A-Z]*) .*?(: .*?)(:|\s*$)"),
    re.compile(r"(temporarily refused connection)()"),
)
_PERMANENT = (
    re.compile(r"(listed at [^ ]+)()"),
    re.compile(r"(Forged IP detected in HELO)()"),
    re.compile(r"(Invalid domain or IP given in HELO/EHLO)()"),
    re.compile(r"(unqualified recipient rejected)()"),
    re.compile(r"(closed connection (?:after|in response) .*?)\s*$()"),
    re.compile(r"(sender rejected)()"),
    re.compile(r" rejected after DATA: (.*)()"),
    re.compile(r" (rejected DATA: .*)()"),
    re.compile(r".DATA ACL discarded recipients.: (.*)()"),
    re.compile(r"rejected after DATA: (unqualified address not permitted)()"),
    re.compile(r"(VRFY rejected)()"),
    re.compile(r"(too many recipients)()"),
    re.compile(r"(refused relay.*?) to()"),
    re.compile(r"(rejected by non-SMTP ACL: .*)()"),
    re.compile(r"(rejected by local_scan.*)()"),
    re.compile(r"(dropped: too many (?:(?:nonmail|unrecognized) commands|syntax or protocol errors))()"),
    re.compile(r"(local_scan.. function .* - message temporarily rejected)()"),
    re.compile(r"(SMTP protocol .*?(?:error|violation))()"),
    re.compile(r"(message too big)()"),
)
_HELO_SYNTAX = re.compile(r"rejected [HE][HE]LO from [^:]*: syntactically invalid argument")
_RCPT_RESPONSE = re.compile(r'response to "RCPT TO.*? was: (.*)')
_PERMANENT_LATE = (
    re.compile(r"(lookup of host )\S+ (failed)"),
    re.compile(r"(rejected [A-Z]*) .*?(: .*?)(?::|\s*$)"),
    re.compile(r"(refused connection )from.*? (\(.*)"),
    re.compile(r"(error from remote mailer after .*?:).*(: .*?)(?::|\s*$)"),
    re.compile(r'rejected after DATA: ("." or "." expected).*?(: failing address in .*? header)'),
    re.compile(r"(Connection )from.*? (refused: load average)"),
    re.compile(r"([Cc]onnection )from.*? (refused.*)"),
    re.compile(r": (Connection refused)()"),
)
_TEMPORARY_ACL = re.compile(r"(temporarily rejected connection in .*?ACL:?.*)")


def _ucfirst(text: str) -> str:
    return text[:1].upper() + text[1:]


def _reason(rest: str) -> tuple[str, str]:
    """(kind, reason) for a line eximstats counts as a reject, in eximstats' order of patterns."""
    if "SpamAssassin" in rest:
        return "permanent", "Rejected by SpamAssassin"
    for rx in _TEMPORARY_FIRST:
        m = rx.search(rest)
        if m is not None:
            return "temporary", _ucfirst(m.group(1) + m.group(2))
    for rx in _PERMANENT:
        m = rx.search(rest)
        if m is not None:
            return "permanent", _ucfirst(m.group(1))
    if _HELO_SYNTAX.search(rest):
        return "permanent", "Rejected HELO/EHLO: syntactically invalid argument"
    m = _RCPT_RESPONSE.search(rest)
    if m is not None:
        return "permanent", f"Response to RCPT TO was: {m.group(1)}"
    for rx in _PERMANENT_LATE:
        m = rx.search(rest)
        if m is not None:
            return "permanent", _ucfirst(m.group(1) + m.group(2))
    m = _TEMPORARY_ACL.search(rest)
    if m is not None:
        return "temporary", _ucfirst(m.group(1))
    return "permanent", "Unknown"


def _ip(rest: str) -> str:
    for rx in _IP:
        m = rx.search(rest)
        if m is not None:
            return m.group(1)
    return "local"


def _hosts(flag: str | None, rest: str) -> dict[str, Any]:
    """The host, local sender or local destination eximstats counts for a flag line."""
    out: dict[str, Any] = {}
    hm = _HOST.search(rest) if flag in ("<=", "=>", "->") else None
    if flag in ("<=", "=>"):
        out["host"] = hm.group(1) if hm is not None else "local"
    if flag == "<=" and hm is None:
        um = _USER.search(rest)
        if um is not None:
            out["user"] = um.group(1)  # a local sender: cPanel's account, or the submitting user
    elif flag in ("=>", "->") and hm is None:
        user = rest.split(" <" if " <" in rest else " ", 1)[0]
        if user[:1] in ("/", "|"):  # a file or pipe: named with the address it was for
            pm = _PARENT.search(rest)
            if pm is not None:
                user = f"{user} {pm.group(1)}"
        out["destination"] = user
    return out


def eximstats_view(line: str) -> dict[str, Any] | None:
    """What eximstats counts for one log line (the entry's first physical line), or None for nothing."""
    # Most lines (`==`, `Completed`, SMTP chatter) are none of these: a few substring tests say so at once.
    words = "rejected" in line or "refused" in line or "dropped" in line
    if not words and " <= " not in line and " => " not in line and " -> " not in line:
        return None
    m = _PREFIX.match(line)
    if m is None or len(line) + 1 < 38:  # eximstats skips lines shorter than that (newline included)
        return None
    rest = line[m.end() :]
    idm = _ID.match(rest)
    flag = None
    if idm is not None:
        rest = rest[idm.end() :]
        # eximstats reads the two characters after the id as the flag.
        if _FLAG.fullmatch(rest[:2]):
            flag, rest = rest[:2], rest[3:]
    out = _hosts(flag, rest)
    if (flag is None and words) or (flag == "=>" and not _TRANSPORT.search(rest)):
        kind, reason = _reason(rest)
        ip = _ip(rest)
        if ip == "local":
            em = _EHLO_IP.search(rest)
            if em is not None:
                ip = em.group(1)
        out.update(reject=kind, reason=reason, ip=ip)
    return out or None
