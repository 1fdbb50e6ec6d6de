"""Where entries come from: an archive read once (backfill) and the followed files (tail), found by
identity rather than path, including a rotated file a restart would otherwise lose."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from shipper.checkpoints import Registry
from shipper.delivery import Mark
from shipper.files.archive import damage_of, detect_compression, wrap_decompressor
from shipper.files.follow import DETECT_BYTES, READ_CHUNK, Harvester, follow_key, matching
from shipper.files.identity import HEAD_BYTES, FileId, confirms, head_hash
from shipper.files.native import NativeEntries, NativeFor, Rendered, last_end
from shipper.files.reader import peek_head, same_second_start
from shipper.files.syslog import SyslogForm
from shipper.status import Status

MakeWrapped = Callable[[bytes, float | None], SyslogForm | None]
"""How a syslog or journal file is unwrapped, from its first bytes (and mtime, dating year-less lines),
or None for Exim's own format."""


class Source(Protocol):
    """One file being read into entries, whatever the mode: the loop polls it, batches what it gives
    and checkpoints it with `mark`."""

    @property
    def key(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def resume(self) -> int: ...
    @property
    def caught_up(self) -> bool: ...
    @property
    def followed(self) -> bool:
        """A tailed file: its reading shows in the status facts."""

    def poll(self, now: float, linger: float) -> Rendered: ...
    def flush_pending(self) -> Rendered: ...
    def mark(self, end: int) -> Mark: ...


class ArchiveSource:
    """A file read once from its checkpoint to its end (backfill).

    A file Exim no longer writes (compressed, or a rotated name ending in a digit) is finished: its last
    line is shipped even without a newline, and the checkpoint says complete. Any other file may still
    grow, so an unterminated last line waits and the checkpoint stays before it.

    The native core reads the file (Exim's own format, or a syslog or journal file it unwraps as
    `wrapped_for` says), with the reader `native` gives.
    """

    followed = False

    def __init__(
        self, path: Path, fid: FileId, start: int, wrapped_for: MakeWrapped, native: NativeFor
    ) -> None:
        self.path = str(path)
        self.key = fid.key()
        self.compressed = fid.compression is not None
        self.size = path.stat().st_size
        self.finished = self.compressed or path.name[-1:].isdigit()
        self.resume = start
        self.caught_up = False
        self.damage: str | None = None
        self.complete = False
        self._raw: BinaryIO = path.open("rb")
        try:
            head = self._raw.read(8)
            self._raw.seek(0)
            self._stream = wrap_decompressor(self._raw, head)
            self.wrapped = wrapped_for(peek_head(self._stream), path.stat().st_mtime)
            begin = 0
            if start and not self.compressed:
                # Plain files resume by seeking: only the checkpoint's own second is read again (its
                # entries are counted for their content ids, not shipped).
                if self.wrapped is None:
                    begin = same_second_start(self._raw, start)
                else:
                    begin = self.wrapped.second_start(self._raw, start)
                self._stream.seek(begin)
        except BaseException:
            self._raw.close()
            raise
        self.entries: NativeEntries = native(self.path, begin, start, self.wrapped)
        self.last_end = start

    @property
    def position(self) -> int:
        """How far into the file as stored reading got (a compressed file's own bytes)."""
        return self._raw.tell() if self.compressed else self.last_end

    def poll(self, now: float, linger: float) -> Rendered:
        chunk = self._stream.read(READ_CHUNK)
        if chunk:
            out = self.entries.feed(chunk)
        else:
            self.caught_up = True
            self.damage = damage_of(self._stream)
            grown = Path(self.path).stat().st_size != self.size
            # A damaged archive is read as far as it ever can be: its cut-off last line goes as it stands.
            over = (self.finished and not grown) or self.damage is not None
            out = self.entries.finish() if over else self.entries.release()
            self.complete = over
        end = last_end(out)
        if end is not None:
            self.last_end = max(self.last_end, end)
        return out

    @property
    def foreign(self) -> int:
        """Other programs' syslog lines read and not shipped."""
        return 0 if self.wrapped is None else self.entries.skipped

    def flush_pending(self) -> Rendered:
        return self.entries.nothing()

    def mark(self, end: int) -> Mark:
        done = self.complete and end >= self.last_end
        return Mark(self.key, self.path, end, complete=done, size=self.size if done else None)

    def close(self) -> None:
        self._stream.close()
        self._raw.close()


class Followed(Harvester):
    """A tailed file as a source: checkpointed under its inode, its identity confirmed by its head."""

    followed = True

    def mark(self, end: int) -> Mark:
        restart, self.restarted = self.restarted, False
        return Mark(self.key, self.path, end, head=self.mark_head(end), restart=restart)


class Followers:
    """The files matching the followed patterns, each followed by inode through renames and truncation.

    On the first scan it also looks beside each followed path for a file the registry knows by inode or
    by head but that is no longer at its path (`exim_mainlog.1`, `exim_mainlog-20250101`): renamed or
    copied by a rotation while the shipper was down, with entries it has not shipped yet.
    """

    def __init__(
        self,
        patterns: list[str],
        registry: Registry,
        status: Status,
        close_inactive: float,
        wrapped_for: MakeWrapped,
        *,
        native: NativeFor,
    ) -> None:
        self.patterns = patterns
        self.wrapped_for = wrapped_for
        self.native = native
        self.registry = registry
        self.status = status
        self.close_inactive = close_inactive
        self.files: dict[str, Followed] = {}
        self._searched = False

    def __iter__(self) -> Iterator[Followed]:
        return iter(list(self.files.values()))

    def scan(self) -> None:
        current: dict[str, str] = {}
        for path in matching(self.patterns):
            try:
                st = Path(path).stat()
            except OSError:
                continue
            key = follow_key(st.st_dev, st.st_ino)
            current[path] = key
            if key in self.files:
                self.files[key].path = path
                continue
            self._open(path, key)
        if not self._searched:
            self._searched = True
            self._find_rotated(current)
        for key, h in self.files.items():
            # Renamed away (rotation): keep reading the old file until it has been quiet for a while.
            h.renamed = current.get(h.path) != key
            if h.renamed:
                self.status.rotated(key, self.close_inactive)
        self.status.following = True

    def _open(self, path: str, key: str, *, copy_of: dict[str, Any] | None = None) -> None:
        try:
            fh = Path(path).open("rb")  # noqa: SIM115 - held open across polls, closed by the harvester
        except OSError as exc:
            self.status.cannot_open(path, exc)
            return
        fd = fh.fileno()
        st = os.fstat(fd)
        head = head_hash(os.pread(fd, HEAD_BYTES, 0))
        entry = copy_of if copy_of is not None else self.registry.files.get(key, {})
        offset = int(entry.get("offset", 0))
        restarted = False
        if offset > st.st_size or not confirms(fd, str(entry.get("head", "")), head):
            # Truncated, another file on a reused inode, or an identity never confirmed.
            offset, restarted = 0, offset > 0
        # A file with bytes is told apart now (its resume point depends on it); an empty one later.
        first = os.pread(fd, DETECT_BYTES, 0)
        wrapped = self.wrapped_for(first, None) if first else None
        begin = same_second_start(fh, offset) if wrapped is None else wrapped.second_start(fh, offset)
        fh.seek(begin)
        follow = Followed(
            path,
            fh,
            st.st_dev,
            st.st_ino,
            begin,
            head=head,
            resume=offset,
            detect=None if first else self._detect,
            wrapped=wrapped,
            native=functools.partial(self.native, path),
        )
        follow.restarted = restarted and copy_of is None
        self.files[key] = follow
        self.status.opened(key, path, fd, offset, self.registry.files.get(key, {}).get("updated"))

    def _detect(self, head: bytes) -> SyslogForm | None:
        return self.wrapped_for(head, None)

    def _find_rotated(self, current: dict[str, str]) -> None:
        # The followed paths, also those missing now (renamed away, not yet created again by Exim).
        followed = set(current) | {p for p in self.patterns if not any(c in p for c in "*?[")}
        for path in sorted(followed):
            base = Path(path)
            try:
                beside = sorted(base.parent.iterdir())
            except OSError:
                continue
            for cand in beside:
                rest = cand.name[len(base.name) :]
                if not cand.name.startswith(base.name) or rest[:1] not in (".", "-", "_"):
                    continue
                self._consider(cand)

    def _consider(self, cand: Path) -> None:
        try:
            st = cand.stat()
            with cand.open("rb") as fh:
                head_bytes = os.pread(fh.fileno(), HEAD_BYTES, 0)
        except OSError:
            return
        if not cand.is_file() or detect_compression(head_bytes) is not None:
            return  # a compressed rotation is backfill's: its offsets are not the plain file's
        key = follow_key(st.st_dev, st.st_ino)
        if key in self.files:
            return
        entry = self.registry.files.get(key)
        if entry is not None:
            # Renamed: the inode the registry followed, now under a rotated name, not yet read to its end.
            if int(entry.get("offset", 0)) < st.st_size:
                self._open(str(cand), key)
            return
        head = head_hash(head_bytes)
        if not head:
            return
        for other in self.registry.files.values():
            # Copied (copytruncate): the copy starts with the followed file's confirmed head.
            if other.get("head") == head and int(other.get("offset", 0)) < st.st_size:
                self._open(str(cand), key, copy_of=other)
                return

    def retire(self, now: float) -> list[Followed]:
        """The rotated files quiet for `close_inactive`: out of the set, for a last read and closing."""
        out = [h for h in self.files.values() if h.renamed and now - h.last_activity >= self.close_inactive]
        for h in out:
            del self.files[h.key]
        return out
