"""Tail mode: follow log files through rename-and-create rotation, copytruncate and restarts."""

from __future__ import annotations

import glob
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from shipper.files.identity import HEAD_BYTES, head_hash
from shipper.files.reader import ENTRY_START, MAX_ENTRY_BYTES, RawEntry
from shipper.files.syslog import SyslogAssembler

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
    """One open file: complete lines become entries; the last entry waits for its successor or linger."""

    path: str
    fh: BinaryIO
    dev: int
    inode: int
    offset: int  # bytes consumed from the file (end of the last complete line)
    head: str = ""
    resume: int = 0
    """Entries ending at or before this were shipped before a restart: read again only so that their
    content ids are counted (see reader.same_second_start), not shipped."""
    renamed: bool = False
    last_activity: float = field(default_factory=time.monotonic)
    detect: Callable[[bytes], SyslogAssembler | None] | None = None
    """Tells the file's form from its first bytes, once it has some (see files.syslog)."""
    assembler: SyslogAssembler | None = None
    """A syslog or journal file's entry assembler; None for Exim's own log format."""
    _partial: bytes = b""  # an incomplete last line
    _entry: list[bytes] = field(default_factory=list)
    _entry_start: int = 0
    _entry_size: int = 0

    @property
    def key(self) -> str:
        return follow_key(self.dev, self.inode)

    def poll(self, now: float, linger: float) -> list[RawEntry]:
        """Read what was appended; returns the entries known to be complete."""
        out: list[RawEntry] = []
        size = os.fstat(self.fh.fileno()).st_size
        rewritten = bool(self.head) and head_hash(self.path_fd_head()) != self.head
        if size < self.offset + len(self._partial) or rewritten:
            # copytruncate: emptied (and perhaps already refilled past our offset): start again.
            self.head = ""
            self.fh.seek(0)
            self.offset, self._partial, self._entry, self._entry_size = 0, b"", [], 0
            self.resume = 0
            if self.assembler is not None:
                self.assembler = self.assembler.fresh()
        if self.detect is not None and size > 0:
            self.assembler = self.detect(os.pread(self.fh.fileno(), DETECT_BYTES, 0))
            self.detect = None
        read = 0
        got = False
        while read < MAX_READ_PER_POLL:
            chunk = self.fh.read(READ_CHUNK)
            if not chunk:
                break
            got = True
            read += len(chunk)
            data = self._partial + chunk
            lines = data.split(b"\n")
            self._partial = lines.pop()
            for line in lines:
                self._line(line, out)
        if got:
            self.last_activity = now
            if not self.head and self.offset >= HEAD_BYTES:
                self.head = head_hash(self.path_fd_head())
        elif self._entry and now - self.last_activity >= linger:
            out.append(self._emit())
        elif self.assembler is not None and now - self.last_activity >= linger:
            out += self.assembler.flush()  # pieces of a split message that stopped coming
        return out

    def path_fd_head(self) -> bytes:
        return os.pread(self.fh.fileno(), HEAD_BYTES, 0)

    def _line(self, line: bytes, out: list[RawEntry]) -> None:
        start = self.offset
        self.offset += len(line) + 1
        if self.assembler is not None:
            out += self.assembler.feed(start, line, True)
            return
        is_start = ENTRY_START.match(line) is not None
        if self._entry and (is_start or self._entry_size + len(line) >= MAX_ENTRY_BYTES):
            out.append(self._emit())
        if not self._entry:
            self._entry_start = start
        self._entry.append(line)
        self._entry_size += len(line) + 1

    def _emit(self) -> RawEntry:
        data = b"\n".join(self._entry)
        end = self._entry_start + self._entry_size
        entry = RawEntry(self._entry_start, data, end, True)
        self._entry, self._entry_size = [], 0
        return entry

    def flush_pending(self) -> list[RawEntry]:
        """The held-back last entry, at shutdown."""
        if self.assembler is not None:
            return self.assembler.flush()
        return [self._emit()] if self._entry else []

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
