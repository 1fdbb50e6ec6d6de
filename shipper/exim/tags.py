"""Tagged fields: scanning `TAG=value` runs and storing each tag by what it means on its line."""

from __future__ import annotations

import re

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


def apply_field(ev: Event, tag: str, val: str, flag: str, side: str) -> None:
    """Store one tagged field; T=, P=, R=, C=, DN=, A= mean different things per flag."""
    ex = ev.exim
    arrival = flag in ARRIVAL_FLAGS
    if val.endswith(":") and not val.startswith('"'):
        val = val[:-1]  # `DT=0.000s: SMTP error …`: the colon opens the text after the field
    if tag == "T":
        if arrival:
            ev.sec("email")["subject"] = F.unquote(val)
        else:
            ex["transport"] = val
    elif tag == "R":
        if arrival:
            ex["bounce_of"] = val
        else:
            ex["router"] = val
    elif tag == "P":
        if arrival:
            ex["protocol"] = val
        else:
            ex["return_path"] = F.strip_angle(val)
    elif tag == "S":
        size = F.integer(val)
        if size is not None:
            ex["size"] = size
        else:
            ex.setdefault("fields", {})[tag] = val
    elif tag == "C":
        if val.startswith('"'):
            conf = F.unescape(F.unquote(val))
            ex["smtp_confirmation"] = conf
            rm = REMOTE_ID_RE.search(conf)
            if rm is not None:
                ex["remote_id"] = rm.group(1)
        else:
            ex["smtp_commands"] = val.split(",")
    elif tag == "X":
        tls = F.tls_cipher(val)
        t = ev.sec("tls")
        for key in ("version", "version_protocol", "cipher"):
            if key in tls:
                t[key] = tls[key]
        extra = {k: v for k, v in tls.items() if k not in ("version", "version_protocol", "cipher")}
        if extra:
            ev.sub("tls").update(extra)
    elif tag == "A":
        a = F.auth(val)
        ex["auth"] = a
        if side == "source" and "id" in a:
            ev.sec("user")["name"] = a["id"]
    elif tag == "I":
        ex["interface"] = F.interface(val)
    elif tag == "U":
        ex["ident"] = val
    elif tag == "F":
        ev.sender(val)
    elif tag in _DURATION_TAGS:
        d = F.duration(val)
        if d is not None:
            ex[_DURATION_TAGS[tag]] = d
        else:
            ex.setdefault("fields", {})[tag] = val
    elif tag in {"id", "id*"}:
        ev.sec("email")["message_id"] = F.unescape(val)
        if tag == "id*":
            ex["message_id_generated"] = True
    elif tag == "CV":
        ev.sub("tls")["certificate_verified"] = val
    elif tag == "DN":
        peer = "client" if side == "source" else "server"
        ev.sec("tls").setdefault(peer, {})["subject"] = F.unquote(val)
    elif tag == "SNI":
        ev.sec("tls").setdefault("client", {})["server_name"] = F.unquote(val)
    elif tag in _PLAIN_TAGS:
        ex[_PLAIN_TAGS[tag]] = val
    elif tag == "PRX":
        ex["proxy"] = F.interface(val)
    elif tag == "DKIM":
        ex["dkim"] = val.split(":") if not arrival else [val]
    elif tag == "input":
        ex["smtp_input"] = F.unquote(val)  # what a client sent too early (synchronization errors)
    elif tag in ("DMARC", "SPF"):
        ex[tag.lower()] = val
    else:
        ex.setdefault("fields", {})[tag] = val
