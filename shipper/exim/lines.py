"""Non-flag line types: SMTP sessions, ACL rejections, scanners, daemon, queue and error lines."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import NamedTuple

from shipper.exim import fields as F
from shipper.exim.data import table
from shipper.exim.event import Event
from shipper.exim.grammar import ADDRESS, ANGLE_ADDRESS
from shipper.exim.tags import scan

Handler = Callable[["Event", re.Match[str]], str | None]
_TABLE = table("lines")


class Rule(NamedTuple):
    """A line type: its action, its anchored pattern and what to extract from a match."""

    action: str
    pattern: re.Pattern[str]
    handler: Handler | None = None
    needs_id: bool | None = None  # True: only on lines with a message id; False: only without
    needles: tuple[str, ...] = ()  # one of these must occur in the body: skips costly misses


def _fullhost(ev: Event, text: str, side: str = "source") -> None:
    """A host as written after `from`: `name (helo) [ip]:port`, `H=…`, or a local login."""
    text = text.strip()
    if not text:
        return
    probe = text if text.startswith(("H=", "U=")) else "H=" + text
    # The host may be followed by ` I=[ip]:port`, ` U=ident`, ` Ci=N` (host_and_ident). Only a group
    # that runs to the end counts: a partial parse must leave no host behind.
    scratch = Event()
    if F.host_group(probe, 0) is not None and scan(scratch, probe, 0, "<=", side) >= len(probe):
        for name, section in scratch.doc.items():
            ev.sec(name).update(section)
        ev.exim.update(scratch.exim)
        return
    ev.exim["ident"] = text[2:] if text.startswith("U=") else text


def _dur(ev: Event, value: str | None, key: str = "duration") -> None:
    if value:
        d = F.duration(value)
        if d is not None:
            ev.exim[key] = d


def _g(m: re.Match[str], name: str) -> str | None:
    return m.groupdict().get(name)


# --- handlers ---------------------------------------------------------------------------------


def _h_conn_open(ev: Event, m: re.Match[str]) -> None:
    _fullhost(ev, m.group("host"))
    if _g(m, "iface"):
        ev.exim["interface"] = F.interface(m.group("iface"))
    if _g(m, "ci"):
        ev.exim["connection_id"] = m.group("ci")
    if _g(m, "count"):
        ev.exim["connection_count"] = int(m.group("count"))


def _h_conn_end(ev: Event, m: re.Match[str]) -> None:
    _h_conn_open(ev, m)
    _dur(ev, _g(m, "d"))
    if _g(m, "reason"):
        ev.exim["reason"] = m.group("reason").strip()
    if _g(m, "err"):
        ev.sub("error")["message"] = m.group("err")


def _h_outbound(ev: Event, m: re.Match[str]) -> None:
    ev.exim["outbound_epoch"] = int(m.group("epoch"))
    # cPanel's tracking line: one per recipient, with the sending domain before the recipient.
    ev.exim["outbound_domain"] = m.group("domain")
    ev.recipients([m.group("rcpt")])


def _h_reason_host(ev: Event, m: re.Match[str]) -> None:
    if _g(m, "host"):
        _fullhost(ev, m.group("host"))
    reason = _g(m, "reason") or _g(m, "why")
    if reason:
        ev.exim["reason"] = reason
    if _g(m, "iface"):
        ev.exim["interface"] = F.interface(m.group("iface"))
    _dur(ev, _g(m, "d"))
    if _g(m, "cmd"):
        ev.exim["smtp_command"] = F.unescape(m.group("cmd"))
    if _g(m, "f"):
        ev.sender(m.group("f"))


def _h_refused(ev: Event, m: re.Match[str]) -> None:
    _h_reason_host(ev, m)
    reason = ev.exim.get("reason", "")
    ev.error(
        reason,
        temporary=bool(_g(m, "temp")) or "too many" in reason or "load" in reason,
        stage="connect",
        side="source",
        default="policy_rejection",
    )


def _h_helo(ev: Event, m: re.Match[str]) -> None:
    _h_reason_host(ev, m)
    if _g(m, "helo") is not None:
        ev.exim["helo"] = m.group("helo")
    ev.error(
        _g(m, "reason") or "HELO rejected",
        temporary=bool(_g(m, "temp")),
        stage="helo",
        context="helo",
        side="source",
    )


def _h_mail_reject(ev: Event, m: re.Match[str]) -> None:
    _h_reason_host(ev, m)
    if _g(m, "s") is not None:
        ev.sender(m.group("s"))
    ctx = "size" if "too big" in m.group(0) else None
    if _g(m, "size"):
        ev.exim["size"] = int(m.group("size"))
        ev.exim["size_limit"] = int(m.group("max"))
    ev.error(
        _g(m, "reason") or m.group(0),
        temporary=False,
        stage="mail",
        context=ctx,
        side="source",
        default="policy_rejection",
    )


def _h_tls_in(ev: Event, m: re.Match[str]) -> None:
    _h_reason_host(ev, m)
    fn = _g(m, "fn") or _g(m, "fn2")
    if fn:
        ev.exim["tls_function"] = fn
    ev.error(_g(m, "err") or "", temporary=True, stage="tls", context="tls", side="source")


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
        end = _host_and_ident_end(probe, 0)
        if end is not None and _ident_tail_ends(probe, end):
            break
        pos = text.rfind(sep, 0, pos)
    if pos <= 0:
        pos = len(m.group("arg"))
    ev.exim["etrn_argument"] = text[:pos]
    _fullhost(ev, text[pos + len(sep) :])


def _h_vrfy(ev: Event, m: re.Match[str]) -> None:
    """`VRFY failed for <argument> <host_and_ident>`: the argument is the client's own text, so the host
    is the group that runs to the end of the line, never one inside the argument."""
    text = m.group("q")
    at = _trailing_host_at(text)
    arg = text if at is None else text[:at].rstrip()
    ev.exim["smtp_command"] = "VRFY " + arg
    am = re.fullmatch(rf"<?({ADDRESS}?)>?", arg)
    if am is not None and am.group(1):
        ev.recipients([am.group(1)])
    if at is not None:
        _scan_host_ident(ev, text[at:])


def _trailing_host_at(text: str) -> int | None:
    """Start of the rightmost `H=…` (else `U=…`) group that Exim wrote last on the line, or None."""
    for key in (" H=", " U="):
        pos = text.rfind(key)
        while pos >= 0:
            end = _host_and_ident_end(text, pos + 1)
            if end is not None and _ident_tail_ends(text, end):
                return pos + 1
            pos = text.rfind(key, 0, pos)
    return None


def _ident_tail_ends(text: str, end: int) -> bool:
    """Whether only Exim's own ` I=…`, ` U=…`, ` Ci=…` tags follow a host group up to the line's end."""
    tail = text[end:]
    return re.fullmatch(r"(?: (?:I=\[[^\]\s]*\](?::\w+)?|U=\S+|Ci=\S+))*", tail) is not None


def _h_auth_failed(ev: Event, m: re.Match[str]) -> None:
    ev.exim["auth"] = {"authenticator": m.group("auth")}
    _scan_host_ident(ev, m.group("who") if m.group("who").startswith(("H=", "U=")) else "H=" + m.group("who"))
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
    _scan_host_ident(ev, rest)


def _h_daemon(ev: Event, m: re.Match[str]) -> None:
    ev.exim["version"] = m.group("v")
    pid = m.group("pid").lstrip("p")
    if pid.isdigit():
        ev.sec("process")["pid"] = int(pid)
    ev.exim["daemon"] = {"options": m.group("rest")}
    qm = re.search(r"(?:^|, )(-q[^\s,]*(?: -q[^\s,]*)*)", m.group("rest"))
    if qm is not None:
        ev.exim["daemon"]["queue_interval"] = qm.group(1)
    ports = sorted({int(p) for p in re.findall(r"(?:port |\]:)(\d+)", m.group("rest"))})
    if ports:
        ev.exim["daemon"]["ports"] = ports


def _h_pid(ev: Event, m: re.Match[str]) -> None:
    pid = m.group("pid").lstrip("p")
    if pid.isdigit():
        ev.sec("process")["pid"] = int(pid)
    if _g(m, "q"):
        ev.exim["queue"] = m.group("q")
    args = _g(m, "args")
    if args and args.strip():
        ev.exim["queue_run_args"] = args.strip()


def _h_cwd(ev: Event, m: re.Match[str]) -> None:
    proc = ev.sec("process")
    proc["working_directory"] = m.group("cwd")
    args = _split_args(m.group("args"))
    proc["args"] = args
    proc["args_count"] = int(m.group("n"))
    if args:
        proc["executable"] = args[0]
    # cPanel: every local `sendmail` call runs from the submitting account's home directory.
    hm = re.match(r"/home\d*/([^/]+)", m.group("cwd"))
    if hm is not None:
        ev.exim["cpanel_user"] = hm.group(1)


def _split_args(text: str) -> list[str]:
    out: list[str] = []
    for am in re.finditer(r'"((?:[^"\\]|\\.)*)"|(\S+)', text):
        out.append(F.unescape(am.group(1)) if am.group(1) is not None else am.group(2))
    return out


def _h_who(ev: Event, m: re.Match[str]) -> None:
    who = _g(m, "who")
    if who:
        ev.exim["by"] = who.strip()
    why = _g(m, "why")
    if why:
        ev.exim["reason"] = why.strip()


def _h_queue_admin(ev: Event, m: re.Match[str]) -> None:
    _h_who(ev, m)
    if _g(m, "new"):
        ev.exim["new_sender"] = F.strip_angle(m.group("new"))
    else:
        rcpt = _g(m, "rcpt") or _g(m, "added")
        if rcpt:
            ev.recipients([F.strip_angle(rcpt)])


def _h_completed(ev: Event, m: re.Match[str]) -> None:
    _dur(ev, _g(m, "qt"), "queue_time")


def _h_error_ignored(ev: Event, m: re.Match[str]) -> None:
    ev.exim["address"] = m.group("addr")
    ev.recipients([m.group("addr")])
    if _g(m, "top"):
        ev.exim["original_address"] = m.group("top")[1:-1]
    if _g(m, "why"):
        ev.exim["reason"] = m.group("why")


def _h_transport_output(ev: Event, m: re.Match[str]) -> None:
    ev.exim["address"] = m.group("addr")
    ev.exim["transport"] = m.group("t")
    ev.exim["transport_output"] = m.group("out")


def _h_remote_error(ev: Event, m: re.Match[str]) -> None:
    text = m.group(0)
    ev.error(text, temporary=None)


def _h_old_host_error(ev: Event, m: re.Match[str]) -> None:
    ev.host("destination", {"address": m.group("ip"), "name": m.group("name")})
    ev.error(m.group("err"), temporary=True)


def _h_remote_auth(ev: Event, m: re.Match[str]) -> None:
    ev.exim["auth"] = {"authenticator": m.group("auth")}
    hg = F.host_group(m.group("rest"), 0)
    rest = m.group("rest")
    if hg is not None:
        ev.host("destination", hg[0])
        rest = rest[hg[1] :]
    ev.error(rest.strip(" :"), temporary=None, stage="auth", context="auth")


def _h_tls_out(ev: Event, m: re.Match[str]) -> None:
    text = m.group(0)
    hm = re.search(r"(?:H=|to )(\S+) \[([^\]]+)\]", text)
    if hm is not None:
        ev.host("destination", {"name": hm.group(1), "address": hm.group(2)})
    ev.error(text, temporary=True, stage="tls", context="tls")


def _h_prdr(ev: Event, m: re.Match[str]) -> None:
    if _g(m, "r"):
        ev.recipients([m.group("r")])
    ev.exim["reason"] = m.group("res")


def _h_rewrite(ev: Event, m: re.Match[str]) -> None:
    ev.exim["rewrite"] = {
        "from": m.group("old"),
        "where": m.group("where"),
        "to": m.group("new"),
        "rule": m.group("rule"),
    }


def _h_text_error(ev: Event, m: re.Match[str]) -> None:
    ev.error(m.group(0), temporary=None, stage="local")


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
        "key_bits": int(tags["b"]) if tags.get("b", "").isdigit() else None,
        "result": res,
        "status": "pass" if res == "verification succeeded" else res.split(" ")[0],
    }
    # A field that does not apply is left out, never null.
    ev.exim["dkim_verify"] = {k: v for k, v in verify.items() if v is not None}


def _h_rejected_from(ev: Event, m: re.Match[str]) -> None:
    ev.sender(m.group("s"))
    _scan_host_ident(ev, m.group("rest"))
    msg = m.group("m")
    rm = re.search(r"read=(\d+) max=(\d+)", msg)
    if rm is not None:
        ev.exim["size"] = int(rm.group(1))
        ev.exim["size_limit"] = int(rm.group(2))
    ev.error(msg, temporary=False, stage="data", side="source", default="policy_rejection")


def _h_abandoned(ev: Event, m: re.Match[str]) -> None:
    ev.error(m.group(0), temporary=True, stage="data", side="source")


def _h_lost_dot(ev: Event, m: re.Match[str]) -> None:
    _scan_host_ident(ev, m.group("rest"))


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
    if _g(m, "t"):
        ev.exim["transport"] = m.group("t")


def _h_warning(ev: Event, m: re.Match[str]) -> None:
    ev.exim["warning"] = _g(m, "w") or m.group(0)


def _h_overlong(ev: Event, m: re.Match[str]) -> None:
    _fullhost(ev, m.group("who"))
    ev.exim["reason"] = m.group("why")


def _h_tainted_query(ev: Event, m: re.Match[str]) -> None:
    ev.exim["lookup"] = {"where": m.group("where"), "query": m.group("query")}


def _h_spool_missing(ev: Event, m: re.Match[str]) -> None:
    ev.exim["spool_file"] = m.group("file")


def _h_scanner_internal(ev: Event, m: re.Match[str]) -> None:
    ev.exim["scanner_output"] = m.group("text")
    if _g(m, "how"):
        ev.exim["reason"] = m.group("how")


def _h_sighup(ev: Event, m: re.Match[str]) -> None:
    ev.sec("process")["pid"] = int(m.group("pid"))


def _rx(p: str) -> re.Pattern[str]:
    return re.compile(p, re.S)


# A client as Exim writes it after `from`: `name (helo) [ip]:port`, `[ip]`, or a local login.
# Structured, not `.*?`: a lazy capture followed by optional groups backtracks over the whole line.
_HOST = (
    r"(?P<host>(?:H=)?(?:[^\s(\[]+ )?(?:\([^)]*\) )?\[[^\]]*\](?::\w+)?(?: I=\S+)?(?: U=\S+)?"
    r"(?: Ci=\S+)?|U=\S+|local process|\S+)"
)
_CI = r"(?: Ci=(?P<ci>\S+))?"
# The inside of `<address>`; a quoted local part may hold `>`.
_IN_ANGLE = r'(?:"(?:[^"\\]|\\.)*"|[^>"])*'
_TRAILING_REASON_RE = re.compile(r" \((?P<why>[^()]*)\)\Z")
_QUOTE_THEN_HOST = re.compile(r'" (?=[HU]=)')
_LOCAL_IDENT = re.compile(r"U=\S+(?= |$)")


def _unescaped_quotes_before_host(text: str) -> Iterator[int]:
    """Positions of `"` followed by ` H=` or ` U=` that are not escaped (`\\"` is, `\\\\"` is not)."""
    for m in _QUOTE_THEN_HOST.finditer(text):
        pos = m.start()
        slashes = pos - len(text[:pos].rstrip("\\"))
        if slashes % 2 == 0:
            yield pos


def _host_and_ident_end(text: str, pos: int) -> int | None:
    """Where a well-formed `H=…` group or a local `U=ident` starting at `pos` ends, else None."""
    if text.startswith("U=", pos):
        lm = _LOCAL_IDENT.match(text, pos)
        return lm.end() if lm is not None else None
    hg = F.host_group(text, pos)
    return hg[1] if hg is not None else None


def _h_syntax_error(ev: Event, m: re.Match[str]) -> None:
    """`SMTP syntax|protocol error in "<command>" H=… <reason>`: the command is the client's own text,
    so a `" H=(x) [ip]` inside it must not be taken for the host. Newer Exim escapes quotes in it, which
    makes the first unescaped `" H=` the real one; older Exim writes them as sent, and then the host is
    the last well-formed `H=` group (Exim writes it after the command). When older Exim leaves two
    well-formed candidates, `exim.source_ambiguous` says so."""
    text = m.group("q")
    valid: list[tuple[int, int]] = []
    for quote in _unescaped_quotes_before_host(text):
        end = _host_and_ident_end(text, quote + 2)
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
    end = _scan_host_ident(ev, text[host_at:])
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
        _scan_host_ident(ev, text)  # Exim's host comes first; `input="…"` is a quoted tag after it
        return
    text = m.group("q")
    valid: list[tuple[int, int]] = []
    for quote in _unescaped_quotes_before_host(text):
        end = _host_and_ident_end(text, quote + 2)
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
    _scan_host_ident(ev, text[quote + 2 : end])
    if end < len(text):
        tail = text[end + len(_NEXT_INPUT) :]
        ev.exim["smtp_input"] = F.unescape(tail[:-1] if tail.endswith('"') else tail)


# sa-exim's local_scan verdicts (Debian's sa-exim): `SA: Action: <what>: <status> (scanned in a/b secs |
# Message-Id: <id>). From <sender> (host=<name> [<ip>]) for <recipients>`.
_SA_ACTION_RE = _rx(
    r"SA: Action: (?P<what>[^:(]*?)(?:: (?P<status>(?:hits|score)=\S+(?: \w+=\S+)*))? "
    r"\((?:scanned in|time:) (?P<scan>\d+)/(?P<full>\d+) secs \| Message-Id: (?P<mid>[^)]*)\)\. "
    rf"From <(?P<from>{_IN_ANGLE})> \((?:host=(?P<name>\S*) \[(?P<ip>[^\]\s]*)\]|local)\) for (?P<rcpts>.*)"
)
_SA_SKIPPED_RE = _rx(
    r"SA: Action: (?P<what>check skipped due to message size|Not running SA because SAEximRunCond "
    r"expanded to false)[^(]*\((?:[^)]*\bbytes\)[^(]*\()?Message-Id: (?P<mid>[^)]*)\)\. "
    rf"From <(?P<from>{_IN_ANGLE})> \((?:host=(?P<name>\S*) \[(?P<ip>[^\]\s]*)\]|local)\) for (?P<rcpts>.*)"
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


def _h_no_ip_for_host(ev: Event, m: re.Match[str]) -> None:
    """The name is what reverse DNS claimed and forward DNS did not confirm: a failed look-up, so it is
    kept as exim.reverse_name, never as a verified source.domain."""
    ev.exim["reverse_name"] = m.group("name")
    if _g(m, "host"):
        _fullhost(ev, m.group("host"))


RULES: tuple[Rule, ...] = (
    Rule("message_completed", _rx(r"Completed(?: QT=(?P<qt>\S+))?\s*\Z"), _h_completed),
    Rule(
        "smtp_connection_opened",
        _rx(
            rf"SMTP connection from {_HOST}(?: I=(?P<iface>\S+))?{_CI} \(TCP/IP connection count = "
            r"(?P<count>\d+)\)"
        ),
        _h_conn_open,
    ),
    Rule(
        "smtp_connection_closed",
        _rx(
            rf"SMTP connection{_CI} from {_HOST}(?: I=(?P<iface>\S+))?(?: D=(?P<d>\S+))? closed "
            r"(?P<reason>.*)"
        ),
        _h_conn_end,
    ),
    Rule(
        "smtp_connection_lost",
        _rx(
            rf"SMTP connection{_CI} from {_HOST} (?:TFO\*? )?lost(?P<reason>(?: while reading message "
            r"data(?: \([^)]*\))?)?)(?: \(error: (?P<err>[^)]*)\))?(?: D=(?P<d>\S+))?\s*\Z"
        ),
        _h_conn_end,
    ),
    Rule(
        "smtp_connection_outbound",
        _rx(r"SMTP connection outbound (?P<epoch>\d+) (?P<id>\S+) (?P<domain>\S+) (?P<rcpt>\S+)"),
        _h_outbound,
    ),
    Rule("smtp_connection_lost", _rx(r"SMTP connection lost after final dot(?P<rest>.*)"), _h_lost_dot),
    Rule(
        "smtp_connection_opened",
        _rx(rf"SMTP connection{_CI} from {_HOST}(?: \(via inetd\))?\s*\Z"),
        _h_conn_open,
    ),
    Rule(
        "smtp_connection_lost",
        _rx(
            rf"unexpected (?:disconnection|EOF) while reading SMTP command from (?:TFO\*? )?{_HOST}"
            r"(?: \(error: (?P<err>[^)]*)\))?(?: D=(?P<d>\S+))?\s*\Z"
        ),
        _h_conn_end,
    ),
    Rule(
        "smtp_timeout",
        _rx(rf"SMTP command timeout on(?: TLS)? connection from {_HOST}(?: D=(?P<d>\S+))?\s*\Z"),
        _h_reason_host,
    ),
    Rule(
        "smtp_timeout",
        _rx(
            rf"SMTP data timeout \(message abandoned\) on connection from {_HOST}(?: F=<(?P<f>[^>]*)>)?"
            r"(?: D=(?P<d>\S+))?\s*\Z"
        ),
        _h_reason_host,
    ),
    Rule(
        "smtp_no_mail",
        _rx(rf"no MAIL in (?:TFO\*? )?SMTP connection from {_HOST} D=(?P<d>\S+)(?P<rest>.*)"),
        None,
    ),
    Rule(
        "smtp_sync_error",
        _rx(
            r"SMTP protocol synchronization error \((?P<reason>[^)]*)\): rejected (?:connection from "
            r"(?P<rest>.*)|\"(?P<q>.*))"
        ),
        _h_sync_error,
    ),
    Rule("smtp_syntax_error", _rx(r"SMTP syntax error in \"(?P<q>.*)"), _h_syntax_error),
    Rule("smtp_protocol_error", _rx(r"SMTP protocol error in \"(?P<q>.*)"), _h_syntax_error),
    Rule("smtp_call_dropped", _rx(rf"SMTP call from {_HOST} dropped: (?P<reason>.*)"), _h_reason_host),
    Rule("smtp_input_error", _rx(r"Error or EOF on input from (?P<rest>.*)"), None),
    Rule(
        "connection_refused",
        _rx(r"Connection from (?P<host>\[[^\]]*\](?::\w+)?)(?: I=(?P<iface>\S+))? refused: (?P<reason>.*)"),
        _h_refused,
    ),
    Rule(
        "connection_refused",
        _rx(
            rf"(?P<temp>temporarily )?refused connection from {_HOST}(?: \((?P<why>[^)]*)\)|: (?P<reason>.*))"
            r"\s*\Z"
        ),
        _h_refused,
        needles=("refused connection",),
    ),
    Rule("connection_refused", _rx(rf"connection from {_HOST} refused \((?P<why>[^)]*)\)"), _h_refused),
    Rule("host_lookup_failed", _rx(r"no host name found for IP address (?P<ip>\S+)"), None),
    Rule(
        "host_lookup_failed",
        _rx(
            rf"no IP address found for host (?P<name>\S+)(?: \(during SMTP connection from {_HOST}\))?"
            r"(?P<rest>.*)"
        ),
        _h_no_ip_for_host,
    ),
    Rule(
        "helo_rejected",
        _rx(rf"(?P<temp>temporarily )?rejected (?:HELO|EHLO) from {_HOST}: (?P<reason>.*)"),
        _h_helo,
        needles=("rejected",),
    ),
    Rule(
        "helo_rejected",
        _rx(rf"(?P<temp>temporarily )?rejected \"(?:HELO|EHLO) (?P<helo>[^\"]*)\" from {_HOST}\s*\Z"),
        _h_helo,
        needles=("rejected",),
    ),
    Rule(
        "mail_rejected", _rx(rf"rejected MAIL from {_HOST}: (?P<reason>no HELO/EHLO given)"), _h_mail_reject
    ),
    Rule(
        "mail_rejected",
        _rx(r"rejected MAIL command (?P<host>.*?): (?P<reason>too many messages in one connection)"),
        _h_mail_reject,
    ),
    Rule(
        "size_rejected",
        _rx(
            rf"rejected MAIL FROM:<(?P<s>{_IN_ANGLE})> (?P<host>.*?): (?P<reason>message too big: "
            r"size>?=(?P<size>\d+) max=(?P<max>\d+))"
        ),
        _h_mail_reject,
    ),
    Rule(
        "mail_rejected",
        _rx(rf"unqualified (?:sender|recipient) rejected: <(?P<s>{_IN_ANGLE})> (?P<host>.*)"),
        _h_mail_reject,
    ),
    Rule(
        "too_many_recipients",
        _rx(r"[Tt]oo many recipients(?P<rest>.*)"),
        None,
        needles=("oo many recipients",),
    ),
    Rule(
        "tls_error",
        _rx(
            rf"TLS error on(?: TLS)? connection{_CI} (?:from|to) {_HOST} "
            r"(?:\((?P<fn>[^)]*)\)|(?P<fn2>[A-Za-z_]+)):"
            r" (?P<err>.*)"
        ),
        _h_tls_in,
    ),
    Rule("tls_error", _rx(r"TLS error \((?P<fn>[^)]*)\):? (?P<err>.*)"), _h_tls_in),
    Rule(
        "tls_verify_error",
        _rx(r"\[(?P<ip>[^\]]*)\] SSL verify error: (?P<err>.*)"),
        _h_ssl_verify,
        needles=("SSL verify error",),
    ),
    Rule(
        "smtp_connection_lost",
        _rx(r"\[(?P<host>[^\]]*)\] (?P<reason>after QUIT, client reset TCP before SMTP response.*)"),
        _h_reason_host,
        needles=("after QUIT",),
    ),
    Rule(
        "etrn_received",
        _rx(r"(?P<cmd>ETRN|ATRN) (?P<arg>.*?) received from (?P<host>.*)"),
        _h_etrn,
        needles=(" received from ",),
    ),
    Rule("vrfy_failed", _rx(r"VRFY failed for (?P<q>.*)"), _h_vrfy),
    Rule("command_rejected", _rx(rf"rejected XCLIENT from {_HOST}: (?P<reason>.*)"), _h_reason_host),
    Rule(
        "auth_failed",
        _rx(r"(?P<auth>\S+) authenticator \((?P<mech>[^)]*)\):\s*(?P<resp>.*)"),
        None,
        needles=("authenticator (",),
    ),
    Rule(
        "auth_failed",
        _rx(r"(?P<auth>\S+) authenticator failed for (?P<who>.*?): (?P<resp>\d{3}\b.*)"),
        _h_auth_failed,
        needles=("authenticator failed for ",),
    ),
    Rule(
        "remote_auth_failed",
        _rx(r"(?P<auth>\S+) (?:authenticator failed|cancelled authentication) (?P<rest>H=.*)"),
        _h_remote_auth,
        needles=(" H=",),
    ),
    Rule("auth_ignored", _rx(r"ignoring AUTH=(?P<a>\S*) from (?P<rest>.*)"), _h_auth_ignored),
    Rule("ident_timeout", _rx(r"ident connection to (?P<ip>\S+) timed out"), None),
    Rule("listen_backlog", _rx(r"listen backlog (?P<n>\d+) I=(?P<iface>\S+)"), _h_reason_host),
    Rule("daemon_started", _rx(r"exim (?P<v>\S+) daemon started: pid=(?P<pid>\w+), (?P<rest>.*)"), _h_daemon),
    Rule("daemon_sighup", _rx(r"pid (?P<pid>\d+): SIGHUP received"), _h_sighup),
    Rule("daemon_stopped", _rx(r"exim (?P<v>\S+) daemon (?:terminating|shutting down)(?P<why>.*)"), _h_who),
    Rule(
        "queue_run_started",
        _rx(r"Start (?:ODMR )?(?:'(?P<q>[^']*)' )?queue run: pid=(?P<pid>\w+)(?P<args>.*)"),
        _h_pid,
    ),
    Rule(
        "queue_run_ended",
        _rx(r"End (?:ODMR )?(?:'(?P<q>[^']*)' )?queue run: pid=(?P<pid>\w+)(?P<args>.*)"),
        _h_pid,
    ),
    Rule("queue_run_abandoned", _rx(r"Abandon queue run: pid=(?P<pid>\w+)(?P<args>.*)"), _h_pid),
    Rule("queue_run_triggered", _rx(r"notify triggered queue run"), None),
    Rule("process_started", _rx(r"cwd=(?P<cwd>.*?) (?P<n>\d+) args: (?P<args>.*)"), _h_cwd),
    Rule(
        "daemon_error",
        _rx(
            r"(?:\d+ (?:accept|select)\(\) failures?|socket bind\(\) to port \d+|daemon: fork of|"
            r"fork of (?:delivery|queue-runner) process|failed to (?:open|bind|listen)|bind of \S+ failed)"
            r"(?P<rest>.*)"
        ),
        _h_text_error,
    ),
    Rule("message_frozen", _rx(r"Frozen(?: (?P<why>.*))?\s*\Z"), _h_who),
    Rule("message_frozen", _rx(r"frozen by (?P<who>.*)"), _h_who),
    Rule("message_frozen_skipped", _rx(r"Message is frozen"), None),
    Rule("message_unfrozen", _rx(r"[Uu]nfrozen by (?P<who>.*)"), _h_who, needles=("nfrozen by ",)),
    Rule("message_removed", _rx(r"removed by (?P<who>.*)"), _h_who),
    Rule("message_cancelled", _rx(r"cancelled by (?P<who>.*)"), _h_who),
    Rule("message_queued", _rx(r"no immediate delivery: (?P<why>.*)"), _h_who),
    Rule("spool_locked", _rx(r"Spool file (?:for \S+ )?is locked"), None),
    Rule(
        "error_ignored",
        _rx(rf"(?P<addr>{ADDRESS})(?: (?P<top>{ANGLE_ADDRESS}))?: error ignored(?:: (?P<why>.*))?"),
        _h_error_ignored,
        needles=(": error ignored",),
    ),
    Rule(
        "transport_output",
        _rx(r"(?P<addr>.*?): (?P<t>\S+) transport output: (?P<out>.*)"),
        _h_transport_output,
        needles=(" transport output: ",),
    ),
    Rule(
        "remote_smtp_error", _rx(r"SMTP error from remote (?:mail server|mailer) after .*"), _h_remote_error
    ),
    Rule("tls_fallback", _rx(r"TLS session: .*"), _h_tls_out),
    Rule(
        "tls_error",
        _rx(
            r"(?:DANE attempt failed|DANE error|Required TLS certificate status not received|Server "
            r"certificate revoked|TLS (?:negotiation )?failed|OCSP dates invalid|\(SSL_CTX_\w+).*"
        ),
        _h_tls_out,
    ),
    Rule("prdr_result", _rx(r"PRDR (?:R=<(?P<r>[^>]*)> )?(?P<res>.*)"), _h_prdr),
    Rule(
        "queue_admin",
        _rx(
            rf"(?:address (?P<rcpt>{ANGLE_ADDRESS}) marked delivered|"
            rf"recipient (?P<added>{ANGLE_ADDRESS}) added|"
            rf"sender address changed to (?P<new>{ANGLE_ADDRESS})|message marked (?:delivered|frozen)|"
            r"all recipients marked delivered)(?: by (?P<who>.*))?"
        ),
        _h_queue_admin,
    ),
    Rule("message_moved", _rx(r"moved from .*"), None),
    Rule(
        "system_filter",
        _rx(
            r"(?:original recipients ignored \(system filter\)|Delivery deferred by system filter|Error in "
            r"system filter: |=> discarded \(system filter\)).*"
        ),
        None,
    ),
    Rule(
        "address_rewritten",
        _rx(
            r"\"(?P<old>[^\"]*)\" from (?P<where>.*?) rewritten (?:as|with) (?:\(address part of\) )?"
            r"\"(?P<new>[^\"]*)\" by (?P<rule>.*)"
        ),
        _h_rewrite,
        needles=(" rewritten ",),
    ),
    Rule(
        "router_error",
        _rx(r"\S+ router: skipped error: .*"),
        _h_text_error,
        needles=(" router: skipped error",),
    ),
    Rule("rewrite_error", _rx(r"qualify/rewrite: .*"), _h_text_error),
    Rule(
        "spam_verdict", _rx(r"SA: (?P<kind>Action|Debug\d?|Notice|Warning|PANIC): (?P<text>.*)"), _h_sa_exim
    ),
    Rule(
        "message_abandoned",
        _rx(
            r"overlong message header line received from (?P<who>.*?) "
            r"\((?P<why>more than \d+ characters)\)(?P<rest>.*)"
        ),
        _h_overlong,
    ),
    Rule(
        "lookup_error",
        _rx(r"tainted search query is not properly quoted \((?P<where>[^)]*)\): (?P<query>.*)"),
        _h_tainted_query,
    ),
    Rule("spool_error", _rx(r"Spool file (?P<file>\S+) not found"), _h_spool_missing),
    Rule(
        "scanner_error",
        _rx(r"internal scanner error(?: \((?P<how>[^)]*)\))?: (?P<text>.*)"),
        _h_scanner_internal,
        needles=("internal scanner error",),
    ),
    Rule("dkim_verify", _rx(r"DKIM: (?P<tags>d=.*?) \[(?P<res>[^\]]*)\]\s*\Z"), _h_dkim),
    Rule("dkim_error", _rx(r"DKIM: .*"), None),
    Rule("arc_error", _rx(r"ARC: .*"), None),
    Rule("dmarc_result", _rx(r"DMARC results: .*"), None),
    Rule(
        "message_rejected",
        _rx(rf"rejected from <(?P<s>{_IN_ANGLE})> ?(?P<rest>.*?): (?P<m>.*)"),
        _h_rejected_from,
    ),
    Rule(
        "message_abandoned",
        _rx(
            r"(?:Message abandoned|Error while reading message with no usable sender address|ridiculously "
            r"long message header received|timed out while reading local message|local_scan\(\) function "
            r"(?:crashed|timed out)).*"
        ),
        _h_abandoned,
    ),
    Rule(
        "config_error",
        _rx(
            r"(?:Exim configuration error|ACL \"warn\" with \"message\" setting found|configured error "
            r"code starts with|Daemon cannot be run when|\S+ (?:router|transport|authenticator): "
            r"(?:option|unknown)|WARNING: deprecated).*"
        ),
        None,
    ),
    Rule("transport_failed", _rx(r"Tainted (?:filename|path|file) .*"), _h_text_error),
    Rule(
        "expansion_failed",
        _rx(
            r"(?:.*[Ff]ailed to expand|[Ee]xpansion of .*failed|[Ee]xpansion of \".*\" \(|failure to expand|"
            r"unable to expand).*"
        ),
        None,
        needles=("xpan",),
    ),
    Rule("message_rejected", _rx(r"no recipients found in headers"), None),
    Rule(
        "process_crashed",
        _rx(r"(?:re-)?exec of .* failed.*|failed to read delivery status.*"),
        None,
        needles=("exec of ", "failed to read delivery status"),
    ),
    Rule(
        "process_crashed",
        _rx(r"(?:.* crashed with signal|process \d+ crashed|SIGSEGV|backtrace).*"),
        None,
        needles=("crashed", "SIGSEGV", "backtrace"),
    ),
    Rule(
        "transport_failed",
        _rx(r"(?P<t>\S+) transport process returned non-zero status.*"),
        _h_transport_failed,
        needles=(" transport process returned ",),
    ),
    Rule(
        "resource_error",
        _rx(
            r"(?:(?:spool|log) directory space check failed|Spool (?:write )?error|Spool read error|"
            r"failed to write to|No space left).*"
        ),
        _h_text_error,
    ),
    Rule("slow_lookup", _rx(r"Long \S+ lookup for .*"), None),
    Rule(
        "scanner_error",
        _rx(
            r"(?:malware acl condition: |spam acl condition: |regex acl condition warning|Temporary error "
            r"with DCC|spamd: |clamd: ).*"
        ),
        _h_text_error,
    ),
    Rule("dnslist_defer", _rx(r"DNS list lookup defer.*"), None),
    Rule("dnslist_result", _rx(r"DNS list lookup for .*"), None),
    Rule(
        "recipient_verify_failed",
        _rx(
            r"(?P<who>sender|recipient) verify (?P<r>fail|defer) \(making callout connection\): "
            r"(?:T=(?P<t>\S+) )?(?P<detail>.*)"
        ),
        _h_verify,
    ),
    Rule("tls_config_warning", _rx(r"Warning: No server certificate defined.*"), _h_warning),
    Rule("warning", _rx(r"Warning: (?P<w>.*)"), _h_warning),
    Rule(
        "panic",
        _rx(
            r"(?:PANIC|[Pp]anic|internal error|Unexpected|unable to set gid|unable to set uid|"
            r"User \d+ set for .* never_users|failed to open|Cannot open).*"
        ),
        None,
    ),
    # Pre-4.85 per-host delivery errors: `name [ip] error` without H= (only on message lines).
    Rule(
        "remote_host_error",
        _rx(r"(?P<name>[^\s\[]+) \[(?P<ip>[^\]\s]+)\](?::\w+)? (?P<err>.+)"),
        _h_old_host_error,
        needs_id=True,
    ),
)
# Verify lines share the rule above; its action depends on who/result.
_VERIFY_ACTIONS: dict[tuple[str, str], str] = {
    (who, result): action
    for who, by_result in _TABLE["verify_actions"].items()
    for result, action in by_result.items()
}

# --- lines that start with the remote host and/or identity (host_and_ident) ----------------------

_HOST_START = ("H=", "U=", "DS ", "F=")
_REJECTED_RE = _rx(r"(?P<temp>temporarily )?rejected (?P<what>.*)")
_WHAT_COLON_RE = re.compile(r"(?P<what>.*?)(?:: (?P<msg>.*))?\Z", re.S)
_SPAMASSASSIN_RE = re.compile(
    r"\"?SpamAssassin as (?P<user>\S+) detected (?:(?P<dir>\S+) (?P<proto>\S+) )?message as "
    r"(?P<not>NOT )?spam \((?P<score>-?\d+(?:\.\d+)?)\)"
)
_SPAM_SCORE_RE = re.compile(r"(?i)\bspam\b.*?\bscore[=: ]+(?P<score>-?\d+(?:\.\d+)?)")
_SENDER_VERIFY_RE = _rx(
    r"(?P<who>sender|recipient) verify (?P<r>fail|defer) for <(?P<a>[^>]*)>(?:: (?P<d>.*))?"
)
_DROPPED_RE = _rx(r"dropped by '(?P<acl>[^']*)' ACL(?:: (?P<m>.*))?")
_DISCARDED_RE = _rx(r"RCPT <(?P<r>[^>]*)>: discarded by (?P<acl>\S+) ACL(?:: (?P<m>.*))?")
_INCOMPLETE_RE = _rx(
    rf"incomplete transaction \((?P<why>[^)]*)\) from <(?P<s>{_IN_ANGLE})>(?: for (?P<r>.*))?"
)
_CUTTHROUGH_RE = _rx(
    r"(?P<addr>\S+) (?P<mid>.*?)(?P<tmp>tmp-reject from cutthrough|rejected) after DATA: ?(?P<tail>.*)"
)
_STAGE_OF_WHAT: tuple[tuple[str, str, str], ...] = tuple(
    (row["prefix"], row["action"], row["stage"]) for row in _TABLE["acl_targets"]
)


def _scan_host_ident(ev: Event, text: str, side: str = "source") -> int:
    return scan(ev, text, 0, "<=", side)


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


def _host_line(ev: Event, body: str, msgid: str | None) -> str | None:
    pos = _scan_host_ident(ev, body)
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
        return _VERIFY_ACTIONS[(who, result)]
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
        _scan_host_ident(ev, cm.group("mid"))
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


def _generic(ev: Event, action: str, m: re.Match[str]) -> str:
    """Fields common to handler-less rules: hosts after `from`, host/ident groups, commands."""
    gd = m.groupdict()
    if gd.get("host"):
        _fullhost(ev, gd["host"])
    if gd.get("rest"):
        _scan_host_ident(ev, gd["rest"])
    if gd.get("d"):
        _dur(ev, gd["d"])
    if gd.get("cmd"):
        ev.exim["smtp_command"] = F.unescape(gd["cmd"])
    if gd.get("reason"):
        ev.exim["reason"] = gd["reason"]
    if gd.get("ip"):
        ev.host("source", {"address": gd["ip"]})
    if gd.get("name") and action == "host_lookup_failed":
        ev.sec("source")["domain"] = gd["name"]
    return action


_KEY_LEN = 3
_META = frozenset("\\.^$*+?{}[]|()")


def _literal_prefix(pattern: str) -> str:
    """The literal text every match of `pattern` starts with (empty when it starts with a class)."""
    out: list[str] = []
    for i, ch in enumerate(pattern):
        if ch in _META:
            # `x?`, `x*`, `x{0,…}` make the character before optional: drop it.
            if ch in "?*{" and out:
                out.pop()
            break
        if i + 1 < len(pattern) and pattern[i + 1] in "?*{":
            break
        out.append(ch)
    return "".join(out)


_RULE_KEYS = tuple(_literal_prefix(r.pattern.pattern)[:_KEY_LEN] for r in RULES)
_CANDIDATES: dict[str, tuple[Rule, ...]] = {}


def _candidates(key: str) -> tuple[Rule, ...]:
    """The rules that can match a body starting with `key`, in table order (cached per key)."""
    found = _CANDIDATES.get(key)
    if found is None:
        found = tuple(
            r for r, k in zip(RULES, _RULE_KEYS, strict=True) if len(k) < _KEY_LEN or key.startswith(k)
        )
        if len(_CANDIDATES) < 4096:  # bodies are attacker-controlled: bound the cache
            _CANDIDATES[key] = found
    return found


def parse_other(ev: Event, body: str, msgid: str | None) -> str:
    """Classify a non-flag body, fill its fields and return its event.action."""
    if body.startswith(_HOST_START):
        action = _host_line(ev, body, msgid)
        if action is not None:
            return action
    for rule in _candidates(body[:_KEY_LEN]):
        if rule.needs_id is not None and rule.needs_id != (msgid is not None):
            continue
        if rule.needles and not any(n in body for n in rule.needles):
            continue
        m = rule.pattern.match(body)
        if m is None:
            continue
        action = rule.action
        if rule.handler is not None:
            override = rule.handler(ev, m)
            if override:
                action = override
        else:
            action = _generic(ev, action, m)
        if action == "recipient_verify_failed" and m.groupdict().get("who"):
            action = _VERIFY_ACTIONS[(m.group("who"), m.group("r"))]
        return action
    return "unrecognized"
