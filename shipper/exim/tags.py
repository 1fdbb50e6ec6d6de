"""Tagged fields: scanning `TAG=value` runs and storing each tag by what it means on its line."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from shipper.exim import fields as F
from shipper.exim.actions import ARRIVAL_FLAGS
from shipper.exim.data import table
from shipper.exim.event import Event
from shipper.exim.grammar import FIELD_RE, MSGID

_TABLE = table("tags")
# Tags stored as logged, under these exim.* names.
_PLAIN_TAGS: dict[str, str] = _TABLE["plain"]
# Tags holding a duration, stored in seconds under these exim.* names.
_DURATION_TAGS: dict[str, str] = _TABLE["durations"]
# Bare markers on arrival/delivery lines (spec "Summary of fields in log lines").
MARKERS = frozenset(_TABLE["markers"])
# The receiving Exim's own id in its `250 OK id=…` reply: links this delivery to the next hop.
REMOTE_ID_RE = re.compile(rf"\bid=({MSGID})(?![0-9A-Za-z-])")


def scan(ev: Event, s: str, pos: int, flag: str, side: str) -> int:
    """Apply `TAG=value` fields and bare markers from `pos`; stop at the first other word."""
    n = len(s)
    markers: list[str] | None = None
    while pos < n:
        if s[pos] == " ":
            pos += 1
            continue
        if s.startswith("H=", pos):
            # Exim writes one host group per line; a second one sits in text the remote side
            # chose (an address, a reply) and must never replace the first.
            if side in ev.doc:
                break
            hg = F.host_group(s, pos)
            if hg is not None:
                ev.host(side, hg[0])
                pos = hg[1]
                continue
        m = FIELD_RE.match(s, pos)
        if m is not None:
            apply_field(ev, m.group("tag"), m.group("val"), flag, side)
            pos = m.end()
            continue
        end = s.find(" ", pos)
        if end < 0:
            end = n
        word = s[pos:end]
        if word not in MARKERS:
            break
        if markers is None:
            markers = ev.exim.setdefault("markers", [])
        markers.append(word)
        pos = end
    return pos


# A tag's handler: (event, tag, value, on an arrival line, host side) -> fields stored.
FieldHandler = Callable[[Event, str, str, bool, str], None]


def _unknown(ev: Event, tag: str, val: str, arrival: bool, side: str) -> None:
    ev.exim.setdefault("fields", {})[tag] = val


def _t(ev: Event, tag: str, val: str, arrival: bool, side: str) -> None:
    if arrival:
        ev.sec("email")["subject"] = F.unquote(val)
    else:
        ev.exim["transport"] = val


def _r(ev: Event, tag: str, val: str, arrival: bool, side: str) -> None:
    ev.exim["bounce_of" if arrival else "router"] = val


def _p(ev: Event, tag: str, val: str, arrival: bool, side: str) -> None:
    if arrival:
        ev.exim["protocol"] = val
    else:
        ev.exim["return_path"] = F.strip_angle(val)


def _s(ev: Event, tag: str, val: str, arrival: bool, side: str) -> None:
    size = F.integer(val)
    if size is not None:
        ev.exim["size"] = size
    else:
        _unknown(ev, tag, val, arrival, side)


def _c(ev: Event, tag: str, val: str, arrival: bool, side: str) -> None:
    if val.startswith('"'):
        conf = F.unescape(F.unquote(val))
        ev.exim["smtp_confirmation"] = conf
        rm = REMOTE_ID_RE.search(conf)
        if rm is not None:
            ev.exim["remote_id"] = rm.group(1)
    else:
        ev.exim["smtp_commands"] = val.split(",")


_TLS_ECS = ("version", "version_protocol", "cipher")


def _x(ev: Event, tag: str, val: str, arrival: bool, side: str) -> None:
    tls = F.tls_cipher(val)
    t = ev.sec("tls")
    for key in _TLS_ECS:
        if key in tls:
            t[key] = tls[key]
    extra = {k: v for k, v in tls.items() if k not in _TLS_ECS}
    if extra:
        ev.sub("tls").update(extra)


def _a(ev: Event, tag: str, val: str, arrival: bool, side: str) -> None:
    a = F.auth(val)
    ev.exim["auth"] = a
    if side == "source" and "id" in a:
        ev.sec("user")["name"] = a["id"]


def _duration(ev: Event, tag: str, val: str, arrival: bool, side: str) -> None:
    d = F.duration(val)
    if d is not None:
        ev.exim[_DURATION_TAGS[tag]] = d
    else:
        _unknown(ev, tag, val, arrival, side)


def _message_id(ev: Event, tag: str, val: str, arrival: bool, side: str) -> None:
    ev.sec("email")["message_id"] = F.unescape(val)
    if tag == "id*":
        ev.exim["message_id_generated"] = True


def _f(ev: Event, tag: str, val: str, arrival: bool, side: str) -> None:
    ev.sender(val)


def _cv(ev: Event, tag: str, val: str, arrival: bool, side: str) -> None:
    ev.sub("tls")["certificate_verified"] = val


def _dn(ev: Event, tag: str, val: str, arrival: bool, side: str) -> None:
    peer = "client" if side == "source" else "server"
    ev.sec("tls").setdefault(peer, {})["subject"] = F.unquote(val)


def _stored_as(name: str, parse: Callable[[str], Any] = str) -> FieldHandler:
    """A handler storing the parsed value under exim.<name>."""

    def store(ev: Event, tag: str, val: str, arrival: bool, side: str) -> None:
        ev.exim[name] = parse(val)

    return store


def _sni(ev: Event, tag: str, val: str, arrival: bool, side: str) -> None:
    ev.sec("tls").setdefault("client", {})["server_name"] = F.unquote(val)


def _dkim(ev: Event, tag: str, val: str, arrival: bool, side: str) -> None:
    ev.exim["dkim"] = val.split(":") if not arrival else [val]


_FIELDS: dict[str, FieldHandler] = {
    **dict.fromkeys(_DURATION_TAGS, _duration),
    **{tag: _stored_as(name) for tag, name in _PLAIN_TAGS.items()},
    "T": _t,
    "R": _r,
    "P": _p,
    "S": _s,
    "C": _c,
    "X": _x,
    "A": _a,
    "I": _stored_as("interface", F.interface),
    "U": _stored_as("ident"),
    "F": _f,
    "id": _message_id,
    "id*": _message_id,
    "CV": _cv,
    "DN": _dn,
    "SNI": _sni,
    "PRX": _stored_as("proxy", F.interface),
    "DKIM": _dkim,
    "input": _stored_as("smtp_input", F.unquote),  # what a client sent too early (synchronization errors)
    "DMARC": _stored_as("dmarc"),
    "SPF": _stored_as("spf"),
}


def apply_field(ev: Event, tag: str, val: str, flag: str, side: str) -> None:
    """Store one tagged field; T=, P=, R=, C=, DN=, A= mean different things per flag."""
    if val.endswith(":") and not val.startswith('"'):
        val = val[:-1]  # `DT=0.000s: SMTP error …`: the colon opens the text after the field
    _FIELDS.get(tag, _unknown)(ev, tag, val, flag in ARRIVAL_FLAGS, side)
