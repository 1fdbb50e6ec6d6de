"""The report's time window: `--since`/`--until` into UTC bounds."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from shipper.errors import ConfigError
from shipper.exim.data import table

# Exim's own duration form (`[Nw][Nd][Nh][Nm][Ns]`, `1.5s`), as its log writes them and admins know them.
_DURATION_RE = re.compile(
    r"(?P<neg>-)?(?:(?P<w>\d+)w)?(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+(?:\.\d+)?)s)?\Z",
    re.ASCII,
)
_UNITS: tuple[tuple[str, int], ...] = tuple(table("fields")["duration_units"].items())


def duration(value: str) -> float | None:
    """Seconds from Exim's `[Nw][Nd][Nh][Nm][Ns]` / `1.234s` durations; None when it is not one."""
    m = _DURATION_RE.match(value)
    if m is None or not value or value == "-":
        return None
    total = 0.0
    for unit, secs in _UNITS:
        part = m.group(unit)
        if part:
            total += int(part) * secs
    if m.group("s"):
        total += float(m.group("s"))
    return -total if m.group("neg") else total


@dataclass(frozen=True, slots=True)
class Window:
    """The report's time range on `@timestamp` (arrival time for summaries); None is open-ended."""

    since: datetime | None
    until: datetime | None


def parse_when(text: str, now: datetime, flag: str) -> datetime | None:
    """`30m`/`24h`/`7d`/`2w` (that long before `now`), an ISO date or time (UTC unless it says), or `all`."""
    value = text.strip()
    if value.lower() in ("all", ""):
        return None
    seconds = duration(value)
    try:
        if seconds is not None and seconds >= 0:
            return now - timedelta(seconds=seconds)
        try:
            when = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
        except ValueError:
            raise ConfigError(
                f"{flag} {text!r}: expected a duration (30m, 24h, 7d, 2w), an ISO date (2025-03-30, "
                "2025-03-30T12:00:00+01:00) or 'all'"
            ) from None
        return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    except OverflowError:  # before year 1 or after 9999 once counted back or moved to UTC
        raise ConfigError(f"{flag} {text!r}: outside the years 1 to 9999") from None


def report_window(since: str, until: str | None, now: datetime) -> Window:
    """The window `since <= @timestamp < until`; without --until it ends now, as the header says, so that
    events dated in the future (a server's clock ahead) are not counted."""
    start = parse_when(since, now, "--since")
    end = parse_when(until, now, "--until") if until is not None else now
    if start is not None and end is not None and end <= start:
        raise ConfigError(
            "--until must be later than --since"
            + ("" if until is not None else f" (--until is now, {iso(now)}, when not given)")
        )
    return Window(start, end)


def iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
