"""The monitor thread: the stats line and outage reminders, and status.json written and read back."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any

import orjson

from shipper.status.facts import FORMAT, Status

# Named for the package: admins filter the JSON log lines on this logger.
log = logging.getLogger("shipper.status")

STATUS_FILE = "status.json"


def describe_lag(files: dict[str, dict[str, Any]], now: float) -> list[dict[str, Any]]:
    """Per file: its path, lag in bytes, and in seconds (age of the oldest byte not yet acknowledged)."""
    out = []
    for f in files.values():
        since = f["waiting_since"]
        out.append(
            {
                "file": f["path"],
                "lag_bytes": f["backlog_bytes"],
                "lag_seconds": round(now - since, 1) if since is not None else 0.0,
            }
        )
    return out


class Monitor:
    """A thread that measures the backlog, logs the stats line and the outage reminders, and writes
    status.json, each on its own interval: it runs even while the loop is blocked on a dead cluster."""

    def __init__(
        self,
        status: Status,
        state_dir: Path,
        *,
        stats_interval: float,
        reminder_interval: float,
        tick: float = 1.0,
    ) -> None:
        self.status = status
        self.path = state_dir / STATUS_FILE
        self.stats_interval = stats_interval
        self.reminder_interval = reminder_interval
        self.tick_seconds = min(tick, stats_interval, reminder_interval)
        self.last_stats = status.clock()
        self.last_reminder: float | None = None
        self.write_failed = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="exim-shipper-monitor", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread; write the last facts, marked stopped."""
        self._stop.set()
        if self._thread.is_alive():
            # A tick's fsync can take seconds on a busy disk; its lines must come before the last one.
            self._thread.join(timeout=15)
        self.status.stopped = True
        self.status.measure()
        self.write(self.status.snapshot())

    def _loop(self) -> None:
        while not self._stop.wait(self.tick_seconds):
            self.tick()

    def tick(self) -> None:
        status = self.status
        status.measure()
        snap = status.snapshot()
        now = snap["written"]
        down = snap["cluster"]["down_since"]
        if down is None:
            self.last_reminder = None
        elif now - (self.last_reminder or down) >= self.reminder_interval:
            self.last_reminder = now
            self._remind(snap, now, down)
        if now - self.last_stats >= self.stats_interval:
            self.last_stats = now
            self._stats(snap, now)
        self.write(snap)

    def _remind(self, snap: dict[str, Any], now: float, down: float) -> None:
        waiting = [f["waiting_since"] for f in snap["files"].values() if f["waiting_since"] is not None]
        oldest = now - min(waiting) if waiting else 0.0
        backlog = snap["backlog_bytes"]
        if not snap["following"]:
            backlog_text = "the logs are opened once it answers"
        elif backlog:
            files = sum(1 for f in snap["files"].values() if f["backlog_bytes"])
            backlog_text = f"backlog {backlog} bytes in {files} file(s), the oldest waiting {oldest:.0f}s"
        else:
            backlog_text = "no backlog yet"
        log.warning(
            "OpenSearch still unreachable after %.0fs (%s); %s",
            now - down,
            snap["cluster"]["error"],
            backlog_text,
            extra={
                "outage_seconds": round(now - down, 1),
                "backlog_bytes": backlog,
                "backlog_seconds": round(oldest, 1),
                "error": snap["cluster"]["error"],
            },
        )

    def _stats(self, snap: dict[str, Any], now: float) -> None:
        t = snap["totals"]
        lags = describe_lag(snap["files"], now)
        per_file = "; ".join(f"{x['file']} {x['lag_bytes']} bytes, {x['lag_seconds']:.0f}s" for x in lags)
        log.info(
            "stats: %d read, %d indexed, %d already there, %d dead-lettered; lag: %s",
            t["read"],
            t["indexed"],
            t["already"],
            t["dead_lettered"],
            per_file or "no file followed",
            extra={"counts": t, "files": lags, "backlog_bytes": snap["backlog_bytes"]},
        )

    def write(self, snap: dict[str, Any]) -> None:
        """Atomically (temporary file, rename): `health` never reads half a file. No fsync: these are
        observations, rewritten every second, not checkpoints."""
        tmp = self.path.with_suffix(f".tmp.{os.getpid()}")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(orjson.dumps(snap))
            tmp.replace(self.path)
        except OSError as exc:
            if not self.write_failed:
                log.warning(
                    "cannot write %s: %s", self.path, exc.strerror or exc, extra={"file": str(self.path)}
                )
            self.write_failed = True
        else:
            self.write_failed = False


def load(state_dir: Path) -> dict[str, Any] | None:
    """The last facts a sidecar wrote into `state_dir`, or None when there are none (or not ours)."""
    try:
        data = orjson.loads((state_dir / STATUS_FILE).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("files"), dict):
        return None
    return data
