"""Exim prefix timestamps to UTC ISO-8601, in the configured zone unless the line carries `±hhmm`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

_CACHE_LIMIT = 8192


class TimestampConverter:
    """Converts `date`, `HH:MM`, seconds, millis and optional offset to `YYYY-MM-DDTHH:MM:SS.mmmZ`.

    Zone offsets are whole minutes, so conversion is cached per (date, HH:MM, offset) and the
    seconds are carried over unchanged: one dict look-up per line instead of datetime arithmetic.
    """

    def __init__(self, zone: str | ZoneInfo | timezone) -> None:
        self.zone = ZoneInfo(zone) if isinstance(zone, str) else zone
        self._cache: dict[tuple[str, str, str | None], str | None] = {}

    def _minute(self, date: str, hm: str, tz: str | None) -> str | None:
        try:
            year, month, day = int(date[0:4]), int(date[5:7]), int(date[8:10])
            local = datetime(year, month, day, int(hm[0:2]), int(hm[3:5]))
        except ValueError:
            return None
        if tz is not None:
            sign = -1 if tz[0] == "-" else 1
            offset = timedelta(hours=int(tz[1:3]), minutes=int(tz[3:5])) * sign
            if abs(offset) >= timedelta(days=1):
                return None
            aware = local.replace(tzinfo=timezone(offset))
        else:
            # fold=0: in the repeated hour of a DST fall-back the first occurrence is assumed.
            # Pre-1900 LMT offsets with seconds lose those seconds here; no Exim log is that old.
            aware = local.replace(tzinfo=self.zone)
        return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")

    def convert(self, date: str, hm: str, sec: str, ms: str | None, tz: str | None) -> str | None:
        """The UTC timestamp, or None when the date or time is impossible."""
        if sec > "59":
            return None
        key = (date, hm, tz)
        minute = self._cache.get(key, "")
        if minute == "":
            minute = self._minute(date, hm, tz)
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[key] = minute
        if minute is None:
            return None
        return f"{minute}:{sec}.{ms or '000'}Z"
