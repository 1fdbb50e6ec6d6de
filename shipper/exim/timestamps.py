"""Exim prefix timestamps to UTC ISO-8601, in the configured zone unless the line carries `±hhmm`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

_CACHE_LIMIT = 8192
# How far one entry may be stamped before the one logged ahead of it. Exim takes each line's time just
# before writing it, so concurrent processes jitter by a second or so; an hour's jump back in the
# repeated hour of a DST fall-back is the second pass. Small rather than half the fold, so that a quiet
# server whose last first-pass line and first second-pass line are minutes apart is still resolved.
_JITTER = timedelta(minutes=5)


class TimestampConverter:
    """Converts `date`, `HH:MM`, seconds, millis and optional offset to `YYYY-MM-DDTHH:MM:SS.mmmZ`.

    Zone offsets are whole minutes, so conversion is cached per (date, HH:MM, offset) and the
    seconds are carried over unchanged: one dict look-up per line instead of datetime arithmetic.

    Local times in the repeated hour of a DST fall-back are resolved from the order of the entries of
    one stream: the first pass (fold=0) until a time would go back by more than a few minutes, then the
    second pass (fold=1) until the hour is over. A converter that starts inside the repeated hour (a
    restart) has no order to go by and assumes the first pass. Times in a spring-forward gap do not
    exist; they get the offset from before the change, i.e. read as an hour later in the new offset
    (zoneinfo's fold=0 reading).
    """

    def __init__(self, zone: str | ZoneInfo | timezone) -> None:
        self.zone = ZoneInfo(zone) if isinstance(zone, str) else zone
        # Per minute: its UTC minute, both readings of a repeated minute (first pass, second pass), or
        # None for an impossible date.
        self._cache: dict[tuple[str, str, str | None], str | tuple[str, str] | None] = {}
        self._last = ""  # the UTC stamp of the entry converted before, "" at the start
        self.second_pass = False  # whether the last conversion read a repeated time as its second pass

    def _local(self, local: datetime, fold: int) -> str:
        # Pre-1900 LMT offsets with seconds lose those seconds here; no Exim log is that old.
        return local.replace(tzinfo=self.zone, fold=fold).astimezone(UTC).strftime("%Y-%m-%dT%H:%M")

    def _minute(self, date: str, hm: str, tz: str | None) -> str | tuple[str, str] | None:
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
            return local.replace(tzinfo=timezone(offset)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M")
        first, second = self._local(local, 0), self._local(local, 1)
        # fold=1 reads later than fold=0 only in a repeated hour; in a gap it reads earlier, and
        # there the fold=0 reading (the offset before the change) is kept.
        return (first, second) if second > first else first

    def follow(self, stamp: str) -> None:
        """Go on after `stamp` (as `convert` returns it), converted elsewhere: the order is from there."""
        self._last = stamp

    def convert(self, date: str, hm: str, sec: str, ms: str | None, tz: str | None) -> str | None:
        """The UTC timestamp, or None when the date or time is impossible."""
        self.second_pass = False
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
        tail = f":{sec}.{ms or '000'}Z"
        if isinstance(minute, tuple):
            stamp = minute[0] + tail
            if self._last and _before(stamp, self._last):
                stamp = minute[1] + tail
                self.second_pass = True
        else:
            stamp = minute + tail
        self._last = stamp
        return stamp


def _before(stamp: str, last: str) -> bool:
    """Whether `stamp` is more than the allowed jitter before `last` (both as `convert` returns them)."""
    return datetime.fromisoformat(stamp) < datetime.fromisoformat(last) - _JITTER
