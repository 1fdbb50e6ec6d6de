"""Lines that start with the client's host (host_and_ident): ACL rejections, warnings, verify results."""

from __future__ import annotations

import re

from shipper.exim.data import table
from shipper.exim.event import Event
from shipper.exim.grammar import ADDRESS
from shipper.exim.hostident import scan_host_ident
from shipper.exim.rule import IN_ANGLE, rx
from shipper.exim.tags import scan

_TABLE = table("lines")
# Verify lines share one rule (here and in error_lines); its action depends on who/result.
VERIFY_ACTIONS: dict[tuple[str, str], str] = {
    (who, result): action
    for who, by_result in _TABLE["verify_actions"].items()
    for result, action in by_result.items()
}

HOST_START = ("H=", "U=", "DS ", "F=")
_REJECTED_RE = rx(r"(?P<temp>temporarily )?rejected (?P<what>.*)")
_WHAT_COLON_RE = re.compile(r"(?P<what>.*?)(?:: (?P<msg>.*))?\Z", re.S)
_SPAMASSASSIN_RE = re.compile(
    r"\"?SpamAssassin as (?P<user>\S+) detected (?:(?P<dir>\S+) (?P<proto>\S+) )?message as "
    r"(?P<not>NOT )?spam \((?P<score>-?\d+(?:\.\d+)?)\)"
)
_SPAM_SCORE_RE = re.compile(r"(?i)\bspam\b.*?\bscore[=: ]+(?P<score>-?\d+(?:\.\d+)?)")
_SENDER_VERIFY_RE = rx(
    r"(?P<who>sender|recipient) verify (?P<r>fail|defer) for <(?P<a>[^>]*)>(?:: (?P<d>.*))?"
)
_DROPPED_RE = rx(r"dropped by '(?P<acl>[^']*)' ACL(?:: (?P<m>.*))?")
_DISCARDED_RE = rx(r"RCPT <(?P<r>[^>]*)>: discarded by (?P<acl>\S+) ACL(?:: (?P<m>.*))?")
_INCOMPLETE_RE = rx(rf"incomplete transaction \((?P<why>[^)]*)\) from <(?P<s>{IN_ANGLE})>(?: for (?P<r>.*))?")
_CUTTHROUGH_RE = rx(
    r"(?P<addr>\S+) (?P<mid>.*?)(?P<tmp>tmp-reject from cutthrough|rejected) after DATA: ?(?P<tail>.*)"
)
_STAGE_OF_WHAT: tuple[tuple[str, str, str], ...] = tuple(
    (row["prefix"], row["action"], row["stage"]) for row in _TABLE["acl_targets"]
)


def _acl_reject(ev: Event, temp: bool, what_msg: str) -> str:
    wm = _WHAT_COLON_RE.match(what_msg)
    assert wm is not None  # the pattern matches any string
    what, msg = wm.group("what"), wm.group("msg") or ""
    if what.startswith("by ") and not msg:
        idx = what.find(": ")
        if idx >= 0:
            what, msg = what[:idx], what[idx + 2 :]
    action, stage = "command_rejected", "connect"
    for prefix, act, stg in _STAGE_OF_WHAT:
        if what.startswith(prefix):
            action, stage = act, stg
            break
    else:
        stage = what.split(" ", 1)[0].lower() or "connect"
        if stage not in ("vrfy", "expn", "etrn", "atrn", "wellknown"):
            stage = "connect"
        stage = "mail" if stage != "connect" else stage
    ev.exim["acl"] = {"target": what.strip()}
    if action == "rcpt_rejected":
        ev.recipients([what[6:-1] if what.endswith(">") else what[5:]])
    elif action == "mail_rejected" and what.startswith("MAIL <"):
        ev.sender(what[5:])
    elif action == "helo_rejected":
        ev.exim.setdefault("helo", what[13:])
    ctx = "sender_verify" if "sender verify" in msg.lower() and "could not complete" in msg.lower() else None
    ev.error(msg, temporary=temp, stage=stage, context=ctx, side="source", default="policy_rejection")
    return action


def _warning(ev: Event, text: str) -> str:
    sm = _SPAMASSASSIN_RE.search(text)
    if sm is not None:
        spam = {
            "scanner": "spamassassin",
            "verdict": "ham" if sm.group("not") else "spam",
            "score": float(sm.group("score")),
            "user": sm.group("user"),
        }
        if sm.group("dir"):
            spam["direction"] = sm.group("dir").lower()
        ev.exim["spam"] = spam
        return "spam_verdict"
    low = text.lower()
    if "virus" in low or "malware" in low or "harmful content" in low:
        clean = "no virus" in low or "not infected" in low or "no harmful" in low
        ev.exim["malware"] = {"verdict": "clean" if clean else "infected", "text": text}
        return "virus_scan"
    scm = _SPAM_SCORE_RE.search(text)
    if scm is not None:
        ev.exim["spam"] = {"score": float(scm.group("score"))}
        return "spam_verdict"
    ev.exim["warning"] = text
    return "acl_warning"


def host_line(ev: Event, body: str, msgid: str | None) -> str | None:
    pos = scan_host_ident(ev, body)
    rest = body[pos:]
    rm = _REJECTED_RE.match(rest)
    if rm is not None:
        return _acl_reject(ev, bool(rm.group("temp")), rm.group("what"))
    if rest.startswith("Warning: "):
        return _warning(ev, rest[9:])
    vm = _SENDER_VERIFY_RE.match(rest)
    if vm is not None:
        who, result = vm.group("who"), vm.group("r")
        if who == "sender":
            ev.sender(vm.group("a"))
        else:
            ev.recipients([vm.group("a")])
        ev.error(
            vm.group("d") or "", temporary=result == "defer", context=f"{who}_verify", side="destination"
        )
        return VERIFY_ACTIONS[(who, result)]
    dm = _DROPPED_RE.match(rest)
    if dm is not None:
        ev.exim["acl"] = {"name": dm.group("acl")}
        ev.error(
            dm.group("m") or "", temporary=False, stage="connect", side="source", default="policy_rejection"
        )
        return "connection_dropped"
    dc = _DISCARDED_RE.match(rest)
    if dc is not None:
        ev.recipients([dc.group("r")])
        ev.exim["acl"] = {"name": dc.group("acl"), "message": dc.group("m") or ""}
        return "rcpt_discarded"
    im = _INCOMPLETE_RE.match(rest)
    if im is not None:
        ev.exim["reason"] = im.group("why")
        ev.sender(im.group("s"))
        if im.group("r"):
            ev.recipients(re.findall(ADDRESS, im.group("r")))
        return "smtp_incomplete_transaction"
    if "SMTP connection lost after final dot" in rest or rest.startswith("SMTP connection"):
        return None
    cm = _CUTTHROUGH_RE.match(rest)
    if cm is not None:
        ev.recipients([cm.group("addr")])
        tail = cm.group("tail")
        scan_host_ident(ev, cm.group("mid"))
        scan(ev, tail, 0, "=>", "destination")
        conf = ev.exim.pop("smtp_confirmation", "")
        ev.error(conf, temporary=cm.group("tmp").startswith("tmp"), stage="data")
        return "cutthrough_rejected"
    # What is left on a message line that began with H= is a per-host delivery error (outbound).
    if msgid is not None and "source" in ev.doc and "Warning" not in rest:
        ev.doc["destination"] = ev.doc.pop("source")
        msg = rest.lstrip(" :")
        ev.error(msg, temporary=None if "SMTP error" in msg else True)
        return "remote_smtp_error" if "SMTP error from remote" in msg else "remote_host_error"
    return None
