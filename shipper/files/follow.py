"""Tail mode: follow log files through rename-and-create rotation, copytruncate and restarts."""

from __future__ import annotations

import glob
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from shipper.files.identity import HEAD_BYTES, head_hash, prefix_mark
from shipper.files.native import NativeEntries, Rendered, joined
from shipper.files.syslog import SyslogForm

READ_CHUNK = 1 << 20
DETECT_BYTES = 1 << 16
MAX_READ_PER_POLL = 4 << 20  # fairness between files, and a bound on what one poll holds in memory
# Polling, not inotify: it also works where inotify does not (NFS, some container mounts). A line is
# noticed within POLL_MIN while the logs are busy and within POLL_MAX after a quiet spell, and an idle
# sidecar wakes only 1/POLL_MAX times a second.
POLL_MIN = 0.05
POLL_MAX = 0.25


def poll_wait(quiet_for: float) -> float:
    """Seconds to sleep before the next poll when the followed files have not grown for `quiet_for`
    seconds: half that, within the bounds, so a line after a pause of p seconds is read within p/2."""
    return min(POLL_MAX, max(POLL_MIN, quiet_for / 2))


def follow_key(dev: int, inode: int) -> str:
    """A followed file's registry key: the inode, whatever the file is called after rotation."""
    return f"{dev}:{inode}"


@dataclass
class Harvester:
    """One open file, read as it grows into entries by the native core's reader: complete entries at once,
    the last one once a poll `linger` seconds later finds nothing more."""

    path: str
    fh: BinaryIO
    dev: int
    inode: int
    start: int  # where reading began (a line start)
    head: str = ""
    resume: int = 0
    """Entries ending at or before this were shipped before a restart: read again only so that their
    content ids are counted (see reader.same_second_start), not shipped."""
    renamed: bool = False
    last_activity: float = field(default_factory=time.monotonic)
    caught_up: bool = False
    """Whether the last poll read to the end of the file (the reader has caught up with the writer)."""
    restarted: bool = False
    """Read again from 0 since the last checkpoint (see delivery.Mark.restart)."""
    detect: Callable[[bytes], SyslogForm | None] | None = None
    """Tells the file's form from its first bytes, once it has some (see files.syslog)."""
    wrapped: SyslogForm | None = None
    """How a syslog or journal file is unwrapped; None for Exim's own log format."""
    native: Callable[[int, int, SyslogForm | None], NativeEntries] = field(kw_only=True)
    """The native core's reader at `(start, resume, wrapped)` (see files.native)."""
    entries: NativeEntries = field(init=False)

    def __post_init__(self) -> None:
        self.entries = self._reader(self.start)

    def _reader(self, start: int) -> NativeEntries:
        return self.native(start, self.resume, self.wrapped)

    @property
    def key(self) -> str:
        return follow_key(self.dev, self.inode)

    @property
    def offset(self) -> int:
        """Bytes consumed from the file (the end of the last complete line)."""
        return self.entries.consumed

    def poll(self, now: float, linger: float) -> Rendered:
        """Read what was appended; returns the entries known to be complete."""
        out: list[Rendered] = []
        size = os.fstat(self.fh.fileno()).st_size
        rewritten = bool(self.head) and head_hash(self.path_fd_head()) != self.head
        if size < self.entries.fed or rewritten:
            # copytruncate: emptied (and perhaps already refilled past our offset): start again.
            self.head = ""
            self.fh.seek(0)
            self.resume = 0
            self.entries = self._reader(0)
            self.restarted = True
        if self.detect is not None and size > 0:
            # Created empty: its form is told by its first bytes (nothing was fed before them).
            self.wrapped = self.detect(os.pread(self.fh.fileno(), DETECT_BYTES, 0))
            self.detect = None
            self.entries = self._reader(self.entries.fed)
        read = 0
        got = False
        self.caught_up = False
        while read < MAX_READ_PER_POLL:
            chunk = self.fh.read(READ_CHUNK)
            if not chunk:
                self.caught_up = True
                break
            got = True
            read += len(chunk)
            out.append(self.entries.feed(chunk))
        if got:
            self.last_activity = now
            if not self.head and self.offset >= HEAD_BYTES:
                self.head = head_hash(self.path_fd_head())
        elif self.entries.held and now - self.last_activity >= linger:
            out.append(self.entries.release())
        return joined(out, self.entries)

    def path_fd_head(self) -> bytes:
        return os.pread(self.fh.fileno(), HEAD_BYTES, 0)

    def mark_head(self, end: int) -> str:
        """What confirms this file's identity in a checkpoint at `end` (see identity.confirms)."""
        return self.head or prefix_mark(self.fh.fileno(), end)

    def flush_pending(self) -> Rendered:
        """The held-back last entry, at shutdown."""
        return self.entries.release()

    def finish(self) -> Rendered:
        """Everything left, a last line without its newline too: for a rotated file Exim no longer
        writes (closed as inactive), so nothing will complete it."""
        return self.entries.finish()

    def close(self) -> None:
        self.fh.close()


def matching(patterns: list[str]) -> list[str]:
    """Existing regular files matching the configured paths and globs."""
    out: list[str] = []
    for pattern in patterns:
        # Absolute globs from the configuration: Path.glob needs a relative pattern.
        for p in glob.glob(pattern) if any(c in pattern for c in "*?[") else [pattern]:  # noqa: PTH207
            if Path(p).is_file() and p not in out:
                out.append(p)
    return out
