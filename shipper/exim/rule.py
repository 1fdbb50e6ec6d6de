"""The line rule (action, anchored pattern, handler) and the helpers and handlers several catalogues share."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import NamedTuple

from shipper.exim import fields as F
from shipper.exim.event import Event

Handler = Callable[["Event", re.Match[str]], str | None]


class Rule(NamedTuple):
    """A line type: its action, its anchored pattern and what to extract from a match."""

    action: str
    pattern: re.Pattern[str]
    handler: Handler | None = None
    needs_id: bool | None = None  # True: only on lines with a message id; False: only without
    needles: tuple[str, ...] = ()  # one of these must occur in the body: skips costly misses


def set_duration(ev: Event, value: str | None, key: str = "duration") -> None:
    """Store an Exim duration in seconds under exim.<key>, when the value is one."""
    if value:
        d = F.duration(value)
        if d is not None:
            ev.exim[key] = d


def opt(m: re.Match[str], name: str) -> str | None:
    """A named group that the pattern may not have, or that did not take part in the match."""
    return m.groupdict().get(name)


def h_who(ev: Event, m: re.Match[str]) -> None:
    """Who did it (`by …`) and why, on queue and daemon lines."""
    who = opt(m, "who")
    if who:
        ev.exim["by"] = who.strip()
    why = opt(m, "why")
    if why:
        ev.exim["reason"] = why.strip()


def h_text_error(ev: Event, m: re.Match[str]) -> None:
    """The whole line as a local error."""
    ev.error(m.group(0), temporary=None, stage="local")


def rx(p: str) -> re.Pattern[str]:
    """A rule pattern: `.` also matches the newlines of a joined multi-line entry."""
    return re.compile(p, re.S)


# The inside of `<address>`; a quoted local part may hold `>`.
IN_ANGLE = r'(?:"(?:[^"\\]|\\.)*"|[^>"])*'
