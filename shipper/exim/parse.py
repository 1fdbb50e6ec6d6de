"""Entry parser: one logical Exim log entry (bytes) -> one event document; never raises."""

from __future__ import annotations

import base64
import copy
import re
from typing import Any
from zoneinfo import ZoneInfo

from shipper.exim import fields as F
from shipper.exim.actions import ACTIONS, ARRIVAL_FLAGS, FLAG_ACTIONS
from shipper.exim.event import Document, Event
from shipper.exim.grammar import (
    ADDRESS_RE,
    ANGLE_ADDRESS_RE,
    DEFER_RE,
    DT_TAIL_RE,
    PARENTS_RE,
    PIPE_ADDRESS_RE,
    PREFIX_RE,
    TOP_RE,
)
from shipper.exim.lines import parse_other
from shipper.exim.syslog import Origin, apply_origin
from shipper.exim.tags import scan
from shipper.exim.timestamps import TimestampConverter

# Reject-log header dumps: `Envelope-from: <…>` then `<type-char> Header: value` lines.
_HEADER_LINE_RE = re.compile(r"(?P<type>[A-Z* ]) (?P<name>[A-Za-z][A-Za-z0-9-]*): ?(?P<value>.*)\Z")
_FAILURE_SPLIT_RE = re.compile(r"(?P<head>.*?): (?P<msg>.*)", re.S)


def _arrival(ev: Event, flag: str, rest: str) -> None:
    m = ADDRESS_RE.match(rest)
    if m is None:
        if rest.strip():
            ev.exim["unparsed"] = rest.strip()
        return
    ev.sender(m.group())
    pos = m.end()
    n = len(rest)
    unparsed: list[str] = []
    while pos < n:
        pos = scan(ev, rest, pos, flag, "source")
        if pos >= n:
            break
        if rest.startswith("for ", pos):
            rcpts = ADDRESS_RE.findall(rest, pos + 4)  # `"foo bar"@x` is one recipient
            if rcpts and rcpts[-1] == "<trunc>":
                rcpts.pop()
                ev.exim["recipients_truncated"] = True
            ev.recipients(rcpts)
            break
        if rest.startswith("from <", pos):
            am = ANGLE_ADDRESS_RE.match(rest, pos + 5)  # a quoted local part may hold `>`
            end = am.end() if am is not None else n
            ev.exim["original_sender"] = rest[pos + 6 : end - 1]
            pos = end
            continue
        end = rest.find(" ", pos)
        end = n if end < 0 else end
        unparsed.append(rest[pos:end])
        pos = end
    if unparsed:
        ev.exim["unparsed"] = " ".join(unparsed)


def _recipient_head(ev: Event, flag: str, head: str) -> None:
    """`address [(parents)] [<top>] fields…` of delivery, failure and deferral lines."""
    m = PIPE_ADDRESS_RE.match(head) if head.startswith("|") else ADDRESS_RE.match(head)
    if m is None:
        if head.strip():
            ev.exim["unparsed"] = head.strip()
        return
    address = m.group()
    pos = m.end()
    pm = PARENTS_RE.match(head, pos)
    if pm is not None:
        ev.exim["parents"] = pm.group("parents").split(", ")
        pos = pm.end()
    tm = TOP_RE.match(head, pos)
    top = None
    if tm is not None:
        top = tm.group("top")
        ev.exim["original_address"] = top
        pos = tm.end()
    ev.exim["address"] = address
    if "@" in address and address[0] not in "|/>":
        ev.recipients([address])
    elif top:
        ev.recipients([top])
    else:
        ev.recipients([address])
    n = len(head)
    unparsed: list[str] = []
    while pos < n:
        pos = scan(ev, head, pos, flag, "destination")
        if pos >= n:
            break
        end = head.find(" ", pos)
        end = n if end < 0 else end
        unparsed.append(head[pos:end])
        pos = end
    if unparsed:
        ev.exim["unparsed"] = " ".join(unparsed)


def _failure(ev: Event, rest: str) -> None:
    idx = rest.find(" : ")
    if idx >= 0 and "SMTP error from remote" in rest[:idx]:
        idx = -1  # that ` : ` is inside the remote server's reply, not Exim's separator
    if idx >= 0:
        head, msg = rest[:idx], rest[idx + 3 :]
    else:
        m = _FAILURE_SPLIT_RE.match(rest)
        head, msg = (m.group("head"), m.group("msg")) if m is not None else (rest, "")
    dm = DT_TAIL_RE.search(msg)
    if dm is not None:
        d = F.duration(dm.group("dt"))
        if d is not None:
            ev.exim["delivery_time"] = d
        msg = msg[: dm.start()]
    _recipient_head(ev, "**", head)
    ev.error(msg, temporary=False)


def _deferral(ev: Event, rest: str) -> None:
    m = DEFER_RE.match(rest)
    if m is None:
        m2 = _FAILURE_SPLIT_RE.match(rest)
        _recipient_head(ev, "==", m2.group("head") if m2 else rest)
        ev.error(m2.group("msg") if m2 else "", temporary=True)
        return
    _recipient_head(ev, "==", m.group("head"))
    tail = m.group("tail")
    before, after = tail, ""
    hpos = tail.find(" H=")
    reply = tail.find("SMTP error from remote")
    if 0 <= reply < hpos:
        hpos = (
            -1
        )  # Exim writes its host before the remote reply; an `H=` inside the reply is the remote's text
    if hpos >= 0:
        hg = F.host_group(tail, hpos + 1)
        if hg is not None:
            ev.host("destination", hg[0])
            before = tail[:hpos]
            after = tail[hg[1] :]
            pos = scan(ev, after, 0, "==", "destination")
            after = after[pos:]
    else:
        pos = scan(ev, tail, 0, "==", "destination") if tail.startswith(" ") else 0
        before = tail[pos:]
    parts = [p.strip() for p in (before.lstrip(":"), after.lstrip(":")) if p.strip(" :")]
    message = ": ".join(parts)
    ev.error(message, temporary=True, errno=m.group("errno"), stage="local" if m.group("routing") else None)


def _delivery(ev: Event, flag: str, rest: str) -> None:
    _recipient_head(ev, flag, rest)


class EntryParser:
    """Parses entries of one stream; remembers the last valid time for undatable entries."""

    def __init__(self, timezone: str | ZoneInfo = "UTC", server_name: str = "", dataset: str = "exim.main"):
        self.times = TimestampConverter(timezone)
        self.server_name = server_name
        self.dataset = dataset
        self.last_timestamp: str | None = None

    @property
    def second_pass(self) -> bool:
        """Whether the entry parsed last is stamped in the second pass of a DST fall-back's repeated
        hour: its bytes may equal an entry of the first pass, so its content id must tell them apart."""
        return self.times.second_pass

    def follow(self, stamp: str) -> None:
        """Go on after `stamp`, the last own time of entries of this stream parsed elsewhere (the native
        core): entries without a valid one inherit it, and the repeated hour's order counts from it."""
        self.last_timestamp = stamp
        self.times.follow(stamp)

    def parse(self, raw: bytes, origin: Origin | None = None) -> Document:
        """One document for one logical entry; any input yields a document, never an exception.

        `origin`: what a syslog or journal wrapper said about the entry (see shipper.exim.syslog).
        """
        if origin is None:
            return self._parse(raw)
        own = self.dataset
        # A syslog stream mixes Exim's three logs: the entry's own log decides (the panic rule needs it).
        self.dataset = origin.dataset or own
        try:
            doc = self._parse(raw)
        finally:
            self.dataset = own
        apply_origin(doc, origin)
        return doc

    def _parse(self, raw: bytes) -> Document:
        self.times.second_pass = False  # an entry without a prefix is stamped by none of its own
        try:
            text = raw.decode("utf-8")
            b64 = None
        except UnicodeDecodeError:
            text = raw.decode("utf-8", "backslashreplace")
            b64 = base64.b64encode(raw).decode("ascii")
        ev = Event()
        try:
            action = self._parse_text(ev, text)
        except Exception as exc:  # a parser bug must cost one entry's detail, never the run
            ev = self._prefix_only(text)
            ev.exim["parse_error"] = f"{type(exc).__name__}: {exc}"
            action = "unrecognized"
        return self._finish(ev, action, text, b64)

    def _prefix_only(self, text: str) -> Event:
        """Time, pid and id of an entry whose body broke the parser, so it still lands in place."""
        ev = Event()
        m = PREFIX_RE.match(text)
        ts = None
        if m is not None:
            ts = self.times.convert(
                m.group("date"), m.group("hm"), m.group("sec"), m.group("ms"), m.group("tz")
            )
            if m.group("pid"):
                ev.doc["process"] = {"pid": int(m.group("pid"))}
            if m.group("id"):
                ev.sec("email")["local_id"] = m.group("id")
        ts = ts or self.last_timestamp
        if ts is not None:
            ev.doc["@timestamp"] = ts
        return ev

    def _parse_text(self, ev: Event, text: str) -> str:
        first, nl, more = text.partition("\n")
        first = first.rstrip("\r")
        m = PREFIX_RE.match(first)
        if m is None:
            if self.last_timestamp is not None:
                ev.doc["@timestamp"] = self.last_timestamp
                ev.doc["tags"] = ["timestamp_inherited"]
            return "unrecognized"
        ts = self.times.convert(m.group("date"), m.group("hm"), m.group("sec"), m.group("ms"), m.group("tz"))
        if ts is None:
            ev.doc["tags"] = ["invalid_timestamp"]
            ev.exim["timestamp_raw"] = first[: m.start("hm") + 8]
            if self.last_timestamp is not None:
                ev.doc["@timestamp"] = self.last_timestamp
        else:
            ev.doc["@timestamp"] = ts
            self.last_timestamp = ts
        pid = m.group("pid")
        if pid:
            ev.doc["process"] = {"pid": int(pid)}
        msgid = m.group("id")
        if msgid:
            ev.sec("email")["local_id"] = msgid
        body = first[m.end() :]
        if nl:
            # Multi-line entries are rare: snapshot the prefix fields so a failed try leaves no trace.
            snapshot = copy.deepcopy((ev.doc, ev.exim))
            joined = self._continuation(ev, body, more)
            if joined != body:
                action = self._body(ev, joined.lstrip(" "), msgid)
                if action != "unrecognized":
                    return action
                # Wrapped text did not help (e.g. a test-harness separator glued on): first line only.
                ev.doc, ev.exim = snapshot
        return self._body(ev, body.lstrip(" "), msgid)

    def _continuation(self, ev: Event, body: str, more: str) -> str:
        """Reject-log header dumps are parsed as headers; other continuations join the body."""
        lines = [ln.rstrip("\r") for ln in more.split("\n")]
        if lines and (lines[0].startswith("Envelope-") or _HEADER_LINE_RE.match(lines[0])):
            self._header_dump(ev, lines)
            return body
        extra = " ".join(ln.strip() for ln in lines if ln.strip())
        return f"{body} {extra}" if extra else body

    def _header_dump(self, ev: Event, lines: list[str]) -> None:
        headers: list[str] = []
        for ln in lines:
            if ln.startswith("Envelope-from: "):
                ev.exim["envelope_from"] = F.strip_angle(ln[15:].strip())
            elif ln.startswith("Envelope-to: "):
                ev.exim.setdefault("envelope_to", []).append(F.strip_angle(ln[13:].strip()))
            elif ln.startswith("    ") and "envelope_to" in ev.exim and not headers:
                ev.exim["envelope_to"].append(F.strip_angle(ln.strip()))
            else:
                hm = _HEADER_LINE_RE.match(ln)
                if hm is not None:
                    name = hm.group("name").lower()
                    headers.append(hm.group("name"))
                    email = ev.sec("email")
                    if name == "subject":
                        email.setdefault("subject", hm.group("value").strip())
                    elif name == "message-id":
                        email.setdefault("message_id", F.strip_angle(hm.group("value").strip()))
        if headers:
            ev.exim["header_names"] = headers

    def _body(self, ev: Event, body: str, msgid: str | None) -> str:
        flag = body[:2]
        action = FLAG_ACTIONS.get(flag)
        if action is not None and (len(body) == 2 or body[2] == " " or flag == "<="):
            ev.exim["flag"] = flag
            # Exim writes one space after the flag; some builds and hand-edited logs have two.
            rest = body[2:].lstrip(" ")
            if flag in ARRIVAL_FLAGS:
                _arrival(ev, flag, rest)
            elif flag == "**":
                _failure(ev, rest)
            elif flag == "==":
                _deferral(ev, rest)
            else:
                _delivery(ev, flag, rest)
            return action
        action = parse_other(ev, body, msgid)
        if action == "unrecognized" and self.dataset == "exim.panic":
            # Whatever is written to the panic log is by definition a panic-level error.
            ev.exim["panic_message"] = body
            return "panic"
        return action

    def _finish(self, ev: Event, action: str, text: str, b64: str | None) -> Document:
        doc = ev.doc
        meta = ACTIONS[action]
        event: dict[str, Any] = {
            "original": text,
            "action": action,
            "kind": "event",
            "type": list(meta.type),
            "outcome": meta.outcome,
            "dataset": self.dataset,
        }
        if meta.category:
            event["category"] = list(meta.category)
        exim = ev.exim
        err = exim.get("error")
        if err is not None:
            event["outcome"] = "failure"
        doc["event"] = event
        if self.server_name:
            doc["host"] = {"name": self.server_name}
        if b64 is not None:
            exim["original_base64"] = b64
        if exim:
            doc["exim"] = exim
        return doc


def original_bytes(doc: Document) -> bytes:
    """The exact bytes a document was parsed from (event.original, or its base64 twin)."""
    b64 = doc.get("exim", {}).get("original_base64")
    if b64 is not None:
        return base64.b64decode(b64)
    text: str = doc["event"]["original"]
    return text.encode("utf-8")
