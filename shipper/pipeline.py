"""The one ship loop: sources (an archive, the followed files), the native core's documents and message
summaries, batch, send, acknowledge, checkpoint."""

from __future__ import annotations

import gc
import glob
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import orjson

from shipper.batcher import Batcher
from shipper.checkpoints import Registry, lock_state_dir, prepare_state_dir
from shipper.deadletter import DeadLetters
from shipper.delivery import Batch, Delivery, Mark, Sender
from shipper.errors import InputError
from shipper.files.archive import dataset_for
from shipper.files.follow import POLL_MIN, poll_wait
from shipper.files.identity import identify
from shipper.files.native import NativeEntries, Rendered, Stretch, correlator, native_for
from shipper.files.syslog import SyslogForm, form_for
from shipper.opensearch import bulk, summaries
from shipper.opensearch.cluster import Cluster
from shipper.opensearch.documents import dumps
from shipper.opensearch.retry import RetryPolicy
from shipper.progress import FileProgress
from shipper.settings import Settings
from shipper.sources import ArchiveSource, Followers, Source
from shipper.status import Status


@dataclass(slots=True)
class FileReport:
    """The closing table's row for one file."""

    path: str
    entries: int = 0
    indexed: int = 0
    already: int = 0
    dead: int = 0
    summaries: int = 0
    skipped: str = ""  # why the file was not read at all ("" when it was)
    foreign: int = 0
    """Syslog lines of programs other than Exim's, read and not shipped."""
    damage: str | None = None
    """Why a compressed file could not be read to its end; what came before it was shipped."""
    native: int = 0
    """Entries whose bulk lines the native core rendered: all of them."""


def expand(patterns: list[str]) -> list[Path]:
    """Paths and globs to existing files, oldest (by modification time) first, each once."""
    found: dict[Path, None] = {}
    for pattern in patterns:
        # Absolute, user-given globs: Path.glob only takes patterns relative to a directory.
        matches = glob.glob(pattern) if any(c in pattern for c in "*?[") else [pattern]  # noqa: PTH207
        if not matches:
            raise InputError(f"{pattern}: no such file")
        for m in matches:
            path = Path(m)
            if not path.is_file():
                raise InputError(f"{m}: not a regular file")
            found[path.resolve()] = None
    return sorted(found, key=lambda p: (p.stat().st_mtime, str(p)))


class Shipper:
    """Ships files into OpenSearch with checkpoints: run twice, or after a crash, adds nothing."""

    def __init__(
        self,
        settings: Settings,
        cluster: Cluster,
        policy: RetryPolicy | None = None,
        *,
        status: Status | None = None,
    ) -> None:
        """`policy` defaults to the bounded one of Settings (backfill); the sidecar passes its own, which
        waits for ever and reports to `status`."""
        self.settings = settings
        self.cluster = cluster
        self.server = settings.effective_server_name()
        self.zone = settings.effective_timezone()
        # First: without the native core (NativeMissing) nothing below is worth doing.
        self._native = native_for(self.server, self.zone, settings.index_prefix, dataset_for, correlate=True)
        prepare_state_dir(settings.state_dir)
        self.state_lock = lock_state_dir(settings.state_dir)
        self.registry = Registry(settings.state_dir)
        self.dead = DeadLetters(settings.state_dir)
        self.status = status or Status()
        self.delivery = Delivery(
            cluster,
            settings.index_prefix,
            self.registry,
            self.dead,
            policy or RetryPolicy.from_settings(settings),
            status=self.status,
        )
        self._sender: Sender | None = None
        # What is alive by now (the modules, their tables) stays for the process's life: out of the
        # collector's full passes, which each bulk answer's thousands of small dicts would otherwise
        # trigger over all of it (about half the CPU of reading an answer).
        gc.freeze()

    @property
    def sender(self) -> Sender:
        if self._sender is None:
            self._sender = Sender(self.delivery)
        return self._sender

    def close(self) -> None:
        if self._sender is not None:
            self._sender.close()

    def backfill(self, path: Path, progress: FileProgress | None = None) -> FileReport:
        report = FileReport(str(path))
        fid = identify(path)
        key = fid.key()
        if self.registry.finished(key, path.stat().st_size, plain=fid.compression is None):
            report.skipped = "already shipped (checkpoint at end of file)"
            if progress is not None:
                progress.skip(report.skipped)
            return report
        start = self.registry.offset(key)
        source = ArchiveSource(path, fid, start, self._form, self._native)
        if progress is not None and fid.compression is None:
            progress.resume_at(start)
        try:
            self._ship(_Archive(source), _NeverStop(), report, linger=0.0, progress=progress)
        finally:
            source.close()
        report.damage = source.damage
        report.foreign += source.foreign
        if progress is not None:
            progress.update(report.entries, source.size)  # the last batch's lines: the bar's closing figures
        return report

    # --- tail mode (the sidecar) -------------------------------------------------------------

    def run(
        self,
        patterns: list[str],
        stop: threading.Event,
        *,
        scan_interval: float = 1.0,
        close_inactive: float = 300.0,
        linger: float = POLL_MIN,
    ) -> FileReport:
        """Follow `patterns` until `stop` is set; then drain, checkpoint and return the totals.

        A file's last entry is held until a poll at least `linger` seconds later finds nothing more (it
        may still get continuation lines; Exim writes an entry in one write(), so one quiet poll is enough).
        """
        report = FileReport(",".join(patterns))
        followers = Followers(
            patterns, self.registry, self.status, close_inactive, self._form, native=self._native
        )
        self._ship(_Tail(followers, scan_interval), stop, report, linger=linger)
        return report

    # --- the one loop ------------------------------------------------------------------------

    def _ship(
        self,
        sources: _Sources,
        stop: _Stop,
        report: FileReport,
        *,
        linger: float,
        progress: FileProgress | None = None,
    ) -> None:
        """Poll the sources, turn entries into items, batch, send; until the sources are done or `stop`.

        One correlator policy for both modes: a message still being logged is held in memory while more
        of its file is coming, so that its summary is written once, whole, and the file's checkpoint
        waits at its first line; once the reader has caught up with the file (an archive's end, a quiet
        tail) the open messages go as partial summaries that merge with their later lines. A message
        held over `summary_window` bytes of log goes as it stands, so neither memory nor a re-read
        grows with it.
        """
        settings = self.settings
        batcher = Batcher(settings.batch_max_docs, settings.batch_max_bytes, settings.batch_max_age)
        batcher.last_flush = time.monotonic()  # the age counts from the start: a small file is one batch
        lanes: dict[str, _Lane] = {}

        def flush(*, final: bool = False) -> None:
            items, parts = batcher.take(time.monotonic())
            made: list[bulk.Item] = []
            marks = _settle(lanes, made, settings.summary_window, final=final)
            self.sender.submit(Batch(items, parts, marks, report, summaries=made))
            if progress is not None and isinstance(sources, _Archive):
                progress.update(report.entries, sources.source.position)

        def take(lane: _Lane, polled: Rendered) -> int:
            self._batch(lane, polled, batcher, report, flush)
            return len(polled)

        while True:
            now = time.monotonic()
            stopping = stop.is_set()
            if not stopping:
                sources.refresh(now)
            got = 0
            for src in sources.active():
                lane = lanes.get(src.key)
                if lane is None or lane.source is not src:
                    lane = lanes[src.key] = _Lane(src, settings.max_open_messages, settings.index_prefix)
                got += take(lane, src.poll(now, 0.0 if stopping else linger))
                if stopping:
                    got += take(lane, src.flush_pending())
            for src, entries in sources.retire(now):
                take(lanes[src.key], entries)  # a flush in there drops only lanes already gone
                lanes[src.key].gone = True
            done = stopping or sources.done
            # At most one half-full batch per batch_max_age (see Batcher).
            if batcher.items and (done or time.monotonic() >= batcher.due()):
                flush()
            if done:
                flush(final=True)
                sources.close()  # a followed file's status keeps its facts: its last words come after
                self.sender.wait()
                return
            if not got:
                stop.wait(sources.idle_wait(time.monotonic(), batcher.due() if batcher.items else None))

    def _batch(
        self, lane: _Lane, polled: Rendered, batcher: Batcher, report: FileReport, flush: Callable[[], None]
    ) -> None:
        """The polled entries (the core left out those before the source's resume point) into `batcher`,
        `flush`ed whenever it is full: a file that kept its name as one run of bulk lines (cut where a
        batch fills), a renamed one entry by entry, its `log.file.path` rewritten."""
        if not len(polled):
            return
        lane.follow(polled.reader)
        if polled.path == lane.source.path:
            self._batch_stretch(lane, polled.reader.stretch(polled), batcher, report, flush)
            return
        src = lane.source
        for _code, offset, end, _occ, action, body, _local_id in polled:
            if src.followed:
                self.status.read(src.key, end)
            batcher.add(bulk.Item(action, _with_path(body, src.path, offset), ref=src.key))
            lane.last_end = end
            report.entries += 1
            report.native += 1
            if batcher.full:
                flush()

    def _batch_stretch(
        self,
        lane: _Lane,
        stretch: Stretch,
        batcher: Batcher,
        report: FileReport,
        flush: Callable[[], None],
    ) -> None:
        """The stretch into `batcher` as runs cut where a batch fills."""
        src = lane.source
        run = bulk.Run(stretch.bulk, stretch.cuts, ref=src.key)
        n, i = len(run), 0
        while i < n:
            j = i + batcher.room(run, i)
            batcher.add(run if j - i == n else run.piece(i, j))
            end = stretch.ends[j - 1]
            if src.followed:
                self.status.read(src.key, end, j - i)
            lane.last_end = end
            report.entries += j - i
            report.native += j - i
            if batcher.full:
                flush()
            i = j

    def _form(self, head: bytes, mtime: float | None = None) -> SyslogForm | None:
        """How a syslog or journal file is unwrapped (None for Exim's own format); `mtime` (None: now)
        dates BSD syslog's year-less lines."""
        s = self.settings
        return form_for(
            s.input_format,
            head,
            mtime=mtime,
            zone=self.zone,
            programs=s.syslog_programs,
            host_from_syslog=not s.server_name,
        )


_ALL = 2**64 - 1
"""An offset past every entry."""


def _with_path(body: bytes, path: str, offset: int) -> bytes:
    """A document the core rendered, with `log.file.path` now `path` (its `log` is written last)."""
    log = {"file": {"path": path}, "offset": offset}
    cut = body.rfind(b',"log":{"file":{"path":')
    if cut < 0:  # written otherwise (a syslog entry's `log.syslog` first): the slow way
        doc = orjson.loads(body)
        return dumps({**doc, "log": {**doc.get("log", {}), **log}})
    return body[:cut] + b',"log":' + orjson.dumps(log) + b"}"


class _Lane:
    """The loop's state for one source: its native correlator (`shipper._native.Correlator`), and how far
    it is batched (`last_end`) and checkpointed (`marked`, -1 before the first mark).

    The partials of the core's entries wait in the reader until `fold` moves those before an offset into
    the correlator, so that what may leave memory is judged at a batch's end."""

    reader: Any = None
    """The core's reader whose partials go into `native`."""

    def __init__(self, source: Source, max_open: int, index_prefix: str) -> None:
        self.source = source
        self.native: Any = correlator(max_open, index_prefix)
        self.last_end = source.resume
        self.marked = -1
        self.gone = False

    def follow(self, entries: NativeEntries) -> None:
        """`entries`' reader is the one whose partials come next (a new reader of the source, read again
        from 0: the old one's first)."""
        if entries.reader is not self.reader:
            self.fold(_ALL)
            self.reader = entries.reader

    def fold(self, before: int) -> None:
        """Move the partials of the entries before offset `before` from the reader into `native`."""
        if self.reader is not None:
            self.reader.correlate(self.native, before)

    def settle(self, window: int, *, drain: bool) -> tuple[list[bulk.Item], int | None]:
        """The summaries' items of what may leave memory now (all with `drain`, else what is held over
        `window` bytes), and where the oldest share left begins."""
        native = self.native
        self.fold(self.last_end)
        made = native.drain() if drain else native.older_than(max(0, self.last_end - window))
        return summaries.native_items(*made), native.oldest()


def _settle(lanes: dict[str, _Lane], made: list[bulk.Item], window: int, *, final: bool) -> list[Mark]:
    """Add to `made` the summaries the lanes may let go now, drop spent lanes; the checkpoints it allows."""
    marks: list[Mark] = []
    for lane in list(lanes.values()):
        lane_made, oldest = lane.settle(window, drain=final or lane.source.caught_up)
        made.extend(lane_made)
        safe = lane.last_end if oldest is None else min(oldest, lane.last_end)
        # The final mark goes even at an offset already marked: an age flush may have marked the last
        # entries before the source knew it was at its end, and only this mark says the file is complete.
        if safe > lane.marked or (final and safe >= lane.marked):
            marks.append(lane.source.mark(safe))
            lane.marked = safe
        if lane.gone and oldest is None:
            del lanes[lane.source.key]
    return marks


class _Stop(Protocol):
    def is_set(self) -> bool: ...
    def wait(self, timeout: float) -> bool: ...


class _NeverStop:
    """A stop signal that never comes: a backfill ends when its file does."""

    def is_set(self) -> bool:
        return False

    def wait(self, timeout: float) -> bool:
        return False


class _Sources(Protocol):
    """What the loop reads from: the mode is here, not in the loop."""

    @property
    def done(self) -> bool: ...
    def refresh(self, now: float) -> None: ...
    def active(self) -> list[Source]: ...
    def retire(self, now: float) -> list[tuple[Source, Rendered]]: ...
    def idle_wait(self, now: float, due: float | None) -> float: ...
    def close(self) -> None: ...


class _Archive:
    """Backfill: one file, read to its end as fast as it can be."""

    def __init__(self, source: ArchiveSource) -> None:
        self.source = source

    @property
    def done(self) -> bool:
        return self.source.caught_up

    def refresh(self, now: float) -> None:
        pass

    def active(self) -> list[Source]:
        return [self.source]

    def retire(self, now: float) -> list[tuple[Source, Rendered]]:
        return []

    def idle_wait(self, now: float, due: float | None) -> float:
        return 0.0

    def close(self) -> None:
        pass


class _Tail:
    """The sidecar: the followed files, scanned every `scan_interval`, polled as fast as they grow."""

    def __init__(self, followers: Followers, scan_interval: float) -> None:
        self.followers = followers
        self.scan_interval = scan_interval
        self.last_scan = 0.0

    done = False

    def refresh(self, now: float) -> None:
        if now - self.last_scan >= self.scan_interval:
            self.followers.scan()
            self.last_scan = now

    def active(self) -> list[Source]:
        return list(self.followers)

    def retire(self, now: float) -> list[tuple[Source, Rendered]]:
        out: list[tuple[Source, Rendered]] = []
        for h in self.followers.retire(now):
            out.append((h, h.finish()))  # Exim no longer writes it: a last line without newline goes too
            self.followers.status.closed(h.key)
            h.close()
        return out

    def idle_wait(self, now: float, due: float | None) -> float:
        grown = max((h.last_activity for h in self.followers), default=0.0)
        wait = min(poll_wait(now - grown), self.scan_interval)
        if due is not None:
            wait = min(wait, max(0.0, due - now))
        return wait

    def close(self) -> None:
        for h in self.followers:
            h.close()
