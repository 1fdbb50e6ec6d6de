"""The sidecar's live facts: files followed, counts, backlog, latency, outages, and the lines they log."""

from __future__ import annotations

import bisect
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from shipper import __version__
from shipper.errors import ShipperError

# Named for the package: admins filter the JSON log lines on this logger.
log = logging.getLogger("shipper.status")

FORMAT = 1
OUTCOMES = ("read", "indexed", "already", "dead_lettered")
# Bulk request latency buckets (seconds): a healthy request takes tens of milliseconds, a sick one seconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_SCAN_CHUNK = 64 * 1024
_READ_GRAIN = 0.5  # seconds: reads closer together share one entry in a file's unacknowledged list


def last_line_end(fd: int, start: int, size: int) -> int:
    """Offset just past the last newline in [start, size); `start` if there is none.

    An unterminated last line is not a backlog: the sidecar rightly waits for its end.
    """
    pos = size
    while pos > start:
        lo = max(start, pos - _SCAN_CHUNK)
        chunk = os.pread(fd, pos - lo, lo)
        nl = chunk.rfind(b"\n")
        if nl >= 0:
            return lo + nl + 1
        pos = lo
    return start


@dataclass(slots=True)
class FileFacts:
    """What is known of one followed file (by registry key)."""

    path: str
    fd: int  # our own duplicate of the loop's descriptor: measuring never races the loop's close
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    read_end: int = 0
    acked: int = 0
    line_end: int = 0  # end of the last complete line, as last measured
    last_ack: float | None = None
    rotated: bool = False
    unacked: deque[list[float]] = field(default_factory=deque)  # [end, wall time read], oldest first
    waiting_since: float | None = None  # first seen with a backlog at the current `acked`

    @property
    def backlog(self) -> int:
        return max(0, self.line_end - self.acked)

    def oldest(self) -> float | None:
        """When the oldest byte not yet acknowledged was read, or first seen waiting if unread."""
        read = self.unacked[0][1] if self.unacked else None
        times = [t for t in (read, self.waiting_since) if t is not None]
        return min(times) if times else None


class Status:
    """Thread-safe facts of one sidecar; `clock` is wall time (tests pass their own)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.lock = threading.Lock()
        self.started = clock()
        self.patterns: list[str] = []
        self.files: dict[str, FileFacts] = {}
        self.totals: dict[str, int] = dict.fromkeys(OUTCOMES, 0)
        self.summaries = 0
        self.retries = {"unreachable": 0, "throttled": 0}
        self.latency = [0] * (len(LATENCY_BUCKETS) + 1)
        self.latency_sum = 0.0
        self.down_since: float | None = None
        self.down_error = ""
        self.unreadable: dict[str, str] = {}
        self.following = False  # the loop has looked for the files (after waiting for the cluster)
        self.stopped = False

    # --- the tail loop ------------------------------------------------------------------------

    def opened(self, key: str, path: str, fd: int, offset: int, last_ack: float | None) -> None:
        with self.lock:
            old = self.files.pop(key, None)
            if old is not None:
                os.close(old.fd)
            self.files[key] = FileFacts(
                path, os.dup(fd), read_end=offset, acked=offset, line_end=offset, last_ack=last_ack
            )
            self.unreadable.pop(path, None)
        log.info("following %s from byte %d", path, offset, extra={"file": path, "offset": offset})

    def rotated(self, key: str, close_inactive: float) -> None:
        with self.lock:
            facts = self.files.get(key)
            if facts is None or facts.rotated:
                return
            facts.rotated = True
        log.info(
            "%s was rotated away; reading the old file until it has been quiet for %gs",
            facts.path,
            close_inactive,
            extra={"file": facts.path},
        )

    def closed(self, key: str, *, quietly: bool = False) -> None:
        with self.lock:
            facts = self.files.pop(key, None)
            if facts is None:
                return
            os.close(facts.fd)
        if not quietly:
            log.info(
                "finished the rotated %s: %d entries read, closed",
                facts.path,
                facts.counts["read"],
                extra={"file": facts.path, "counts": facts.counts},
            )

    def cannot_open(self, path: str, exc: OSError) -> None:
        reason = exc.strerror or str(exc)
        with self.lock:
            if self.unreadable.get(path) == reason:
                return
            self.unreadable[path] = reason
        log.warning("cannot open %s: %s; trying again", path, reason, extra={"file": path, "error": reason})

    def read(self, key: str, end: int, entries: int = 1) -> None:
        """`entries` more of file `key` read, the last ending at `end`."""
        now = self.clock()
        with self.lock:
            self.totals["read"] += entries
            facts = self.files.get(key)
            if facts is None:
                return
            facts.counts["read"] += entries
            facts.read_end = end
            if facts.unacked and now - facts.unacked[-1][1] < _READ_GRAIN:
                facts.unacked[-1][0] = end
            else:
                facts.unacked.append([end, now])

    # --- the sender ---------------------------------------------------------------------------

    def counted(self, counts: Mapping[tuple[str | None, str], int]) -> None:
        """Add outcomes: `{(file key or None, outcome): n}`; the outcome `summaries` has no file."""
        with self.lock:
            for (key, outcome), n in counts.items():
                if outcome == "summaries":
                    self.summaries += n
                    continue
                self.totals[outcome] += n
                facts = self.files.get(key) if key is not None else None
                if facts is not None:
                    facts.counts[outcome] += n

    def acked(self, key: str, end: int) -> None:
        now = self.clock()
        with self.lock:
            facts = self.files.get(key)
            if facts is None:
                return
            if end != facts.acked:
                facts.waiting_since = None
            facts.acked = end
            facts.last_ack = now
            while facts.unacked and facts.unacked[0][0] <= end:
                facts.unacked.popleft()

    def bulk_took(self, seconds: float) -> None:
        with self.lock:
            self.latency[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
            self.latency_sum += seconds

    # --- the retry policy (the sidecar's RetryPolicy.watcher) ----------------------------------

    def failed(self, exc: BaseException) -> None:
        """A request failed in a way worth retrying: the first one of an outage is logged at once."""
        reason = str(exc) if isinstance(exc, ShipperError) else type(exc).__name__
        with self.lock:
            self.retries["unreachable"] += 1
            first = self.down_since is None
            if first:
                self.down_since = self.clock()
            self.down_error = reason
        if first:
            log.warning(
                "%s; retrying until it answers (lines wait in the logs, nothing is lost)",
                reason,
                extra={"error": reason},
            )

    def throttled(self, n: int) -> None:
        with self.lock:
            self.retries["throttled"] += n

    def succeeded(self) -> None:
        with self.lock:
            since = self.down_since
            if since is None:
                return
            self.down_since, self.down_error = None, ""
            outage = self.clock() - since
        log.info(
            "OpenSearch answers again after %.0fs; shipping the backlog",
            outage,
            extra={"outage_seconds": outage},
        )

    # --- the monitor --------------------------------------------------------------------------

    def measure(self) -> None:
        """How far each file's complete lines reach now (the loop may be blocked: we look ourselves).

        Under the lock, so that `closed` cannot close (and the loop reuse) a descriptor being measured;
        it is an fstat and usually one small read per file, once a second.
        """
        now = self.clock()
        with self.lock:
            for facts in self.files.values():
                try:
                    size = os.fstat(facts.fd).st_size
                    facts.line_end = last_line_end(facts.fd, min(facts.acked, size), size)
                except OSError:
                    continue
                if not facts.backlog:
                    facts.waiting_since = None
                elif facts.waiting_since is None:
                    facts.waiting_since = now

    def snapshot(self) -> dict[str, Any]:
        """Every fact as plain data: what status.json holds and what a scrape reports."""
        with self.lock:
            files = {
                key: {
                    "path": f.path,
                    "rotated": f.rotated,
                    **f.counts,
                    "read_offset": f.read_end,
                    "acked_offset": f.acked,
                    "backlog_bytes": f.backlog,
                    "waiting_since": f.oldest() if f.backlog else None,
                    "last_ack": f.last_ack,
                }
                for key, f in self.files.items()
            }
            return {
                "format": FORMAT,
                "version": __version__,
                "pid": os.getpid(),
                "written": self.clock(),
                "started": self.started,
                "following": self.following,
                "stopped": self.stopped,
                "patterns": list(self.patterns),
                "cluster": {
                    "up": self.down_since is None,
                    "down_since": self.down_since,
                    "error": self.down_error,
                },
                "totals": {**self.totals, "summaries": self.summaries},
                "retries": dict(self.retries),
                "bulk_latency": {"buckets": list(self.latency), "sum": self.latency_sum},
                "backlog_bytes": sum(f["backlog_bytes"] for f in files.values()),
                "files": files,
                "unreadable": dict(self.unreadable),
            }
