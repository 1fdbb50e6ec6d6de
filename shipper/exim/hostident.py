"""Host and ident groups in free text: where Exim's own `H=`/`U=` group starts and ends."""

from __future__ import annotations

import re
from collections.abc import Iterator

from shipper.exim import fields as F
from shipper.exim.event import Event
from shipper.exim.tags import scan


def full_host(ev: Event, text: str, side: str = "source") -> None:
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


def trailing_host_at(text: str) -> int | None:
    """Start of the rightmost `H=…` (else `U=…`) group that Exim wrote last on the line, or None."""
    for key in (" H=", " U="):
        pos = text.rfind(key)
        while pos >= 0:
            end = host_and_ident_end(text, pos + 1)
            if end is not None and ident_tail_ends(text, end):
                return pos + 1
            pos = text.rfind(key, 0, pos)
    return None


def ident_tail_ends(text: str, end: int) -> bool:
    """Whether only Exim's own ` I=…`, ` U=…`, ` Ci=…` tags follow a host group up to the line's end."""
    tail = text[end:]
    return re.fullmatch(r"(?: (?:I=\[[^\]\s]*\](?::\w+)?|U=\S+|Ci=\S+))*", tail) is not None


# A client as Exim writes it after `from`: `name (helo) [ip]:port`, `[ip]`, or a local login.
# Structured, not `.*?`: a lazy capture followed by optional groups backtracks over the whole line.
HOST = (
    r"(?P<host>(?:H=)?(?:[^\s(\[]+ )?(?:\([^)]*\) )?\[[^\]]*\](?::\w+)?(?: I=\S+)?(?: U=\S+)?"
    r"(?: Ci=\S+)?|U=\S+|local process|\S+)"
)
CI = r"(?: Ci=(?P<ci>\S+))?"
_QUOTE_THEN_HOST = re.compile(r'" (?=[HU]=)')
_LOCAL_IDENT = re.compile(r"U=\S+(?= |$)")


def unescaped_quotes_before_host(text: str) -> Iterator[int]:
    """Positions of `"` followed by ` H=` or ` U=` that are not escaped (`\\"` is, `\\\\"` is not)."""
    for m in _QUOTE_THEN_HOST.finditer(text):
        pos = m.start()
        slashes = pos - len(text[:pos].rstrip("\\"))
        if slashes % 2 == 0:
            yield pos


def host_and_ident_end(text: str, pos: int) -> int | None:
    """Where a well-formed `H=…` group or a local `U=ident` starting at `pos` ends, else None."""
    if text.startswith("U=", pos):
        lm = _LOCAL_IDENT.match(text, pos)
        return lm.end() if lm is not None else None
    hg = F.host_group(text, pos)
    return hg[1] if hg is not None else None


def scan_host_ident(ev: Event, text: str, side: str = "source") -> int:
    return scan(ev, text, 0, "<=", side)
