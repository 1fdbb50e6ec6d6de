"""The loop: files, entries, parse, enrich, correlate, batch, send, acknowledge, checkpoint."""

from __future__ import annotations

import glob
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from opensearchpy import OpenSearch

from shipper.checkpoints import Registry, lock_state_dir, prepare_state_dir
from shipper.deadletter import DeadLetters
from shipper.delivery import Batch, Delivery, Mark, Sender
from shipper.errors import InputError
from shipper.exim.enrich import enrich
from shipper.exim.parse import EntryParser
from shipper.files.archive import damage_of, dataset_for, wrap_decompressor
from shipper.files.follow import DETECT_BYTES, POLL_MIN, Harvester, follow_key, matching, poll_wait
from shipper.files.identity import HEAD_BYTES, head_hash, identify
from shipper.files.reader import RawEntry, iter_entries, peek_head, same_second_start
from shipper.files.syslog import SyslogAssembler, assembler_for
from shipper.messages import Correlator, Partial, partials
from shipper.opensearch import bulk
from shipper.opensearch.documents import action_line, dumps, event_id, event_index
from shipper.progress import FileProgress
from shipper.settings import Settings
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


class _Occurrences:
    """Counts byte-identical entries within one second, so each gets its own deterministic id."""

    def __init__(self) -> None:
        self.second = b""
        self.seen: dict[bytes, int] = {}

    def next(self, data: bytes) -> int:
        second = data[:19]
        if second != self.second:
            self.second, self.seen = second, {}
        n = self.seen.get(data, 0)
        self.seen[data] = n + 1
        return n


class Shipper:
    """Ships files into OpenSearch with checkpoints: run twice, or after a crash, adds nothing."""

    def __init__(self, settings: Settings, client: OpenSearch) -> None:
        self.settings = settings
        self.client = client
        prepare_state_dir(settings.state_dir)
        self.state_lock = lock_state_dir(settings.state_dir)
        self.registry = Registry(settings.state_dir)
        self.dead = DeadLetters(settings.state_dir)
        self.server = settings.effective_server_name()
        self.zone = settings.effective_timezone()
        self.status = Status()
        self.delivery = Delivery(
            client,
            settings.index_prefix,
            self.registry,
            self.dead,
            settings.backfill_max_retries,
            status=self.status,
        )
        self._sender: Sender | None = None

    @property
    def attempts(self) -> int | None:
        """Tries per request before giving up; None waits out any outage (the sidecar)."""
        return self.delivery.attempts

    @attempts.setter
    def attempts(self, value: int | None) -> None:
        self.delivery.attempts = value

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
        size_before = path.stat().st_size
        if self.registry.finished(key, size_before, plain=fid.compression is None):
            report.skipped = "already shipped (checkpoint at end of file)"
            if progress is not None:
                progress.skip(report.skipped)
            return report
        start = self.registry.offset(key)
        parser = EntryParser(self.zone, self.server, dataset=dataset_for(path))
        correlator = Correlator(max_open=self.settings.max_open_messages)
        batch: list[bulk.Item] = []
        ready: list[Partial] = []
        batch_bytes = 0
        last_end = start
        occurrences = _Occurrences()
        file_path = str(path)
        terminated = True
        if progress is not None and fid.compression is None:
            progress.resume_at(start)
        for entry, position in self._entries(path, start, report, compressed=fid.compression is not None):
            occ = occurrences.next(entry.data)
            if entry.end <= start:
                continue
            report.entries += 1
            item, parts = self._item(parser, file_path, key, entry, occ)
            batch.append(item)
            batch_bytes += len(item.body) + len(item.action)
            ready.extend(correlator.add_partials(parts, entry.offset))
            last_end = entry.end
            terminated = entry.terminated
            if len(batch) >= self.settings.batch_max_docs or batch_bytes >= self.settings.batch_max_bytes:
                # A message still being logged stays in memory, so its summary is written once, whole;
                # the checkpoint waits at its first line. One that has lasted over `summary_window`
                # bytes of log is written as it stands, so neither memory nor a re-read grows with it.
                ready += correlator.older_than(last_end - self.settings.summary_window)
                oldest = correlator.oldest()
                safe = last_end if oldest is None else min(oldest, last_end)
                self.sender.submit(Batch(batch, ready, [Mark(key, file_path, safe)], report))
                batch, ready, batch_bytes = [], [], 0
                if progress is not None:
                    progress.update(report.entries, position)
        # An archive is done for good; a file still growing (or ending mid-line) is only done so far.
        done = terminated and path.stat().st_size == size_before
        complete = done and _is_archive(path, fid.compression)
        if report.damage is not None:
            # A damaged archive is read as far as it ever can be: its last, cut-off line was shipped as
            # it stands, and reading it again would give nothing more.
            complete = True
        ready += correlator.drain()
        end = Mark(key, file_path, last_end, complete=complete, size=size_before if complete else None)
        self.sender.submit(Batch(batch, ready, [end], report))
        self.sender.wait()
        if progress is not None:
            progress.update(report.entries, size_before)  # the last batch's lines: the bar's closing figures
        return report

    def _entries(
        self, path: Path, start: int, report: FileReport, *, compressed: bool
    ) -> Iterator[tuple[RawEntry, int]]:
        """Entries after `start`, each with how far into the file as stored (compressed) reading got;
        damage that ends a compressed file early goes into `report`."""
        with path.open("rb") as raw:
            head = raw.read(8)
            raw.seek(0)
            stream = wrap_decompressor(raw, head)
            assembler = self._assembler(peek_head(stream), path.stat().st_mtime)
            if start and not compressed:
                # Plain files resume by seeking: only the checkpoint's own second is read again (the
                # caller skips it, but counts its entries for their content ids).
                begin = (
                    same_second_start(raw, start) if assembler is None else assembler.second_start(raw, start)
                )
                stream.seek(begin)
                entries = iter_entries(stream, begin, assembler)
            else:
                entries = iter_entries(stream, assembler=assembler)
            for entry in entries:
                # The reader buffers ahead: a plain file's true position is the entry's end.
                yield entry, (raw.tell() if compressed else entry.end)
            report.damage = damage_of(stream)
            if assembler is not None:
                report.foreign += assembler.skipped

    def _submit(
        self,
        batch: list[bulk.Item],
        ready: list[Partial],
        correlator: Correlator,
        marks: list[Mark],
        report: FileReport,
    ) -> None:
        # Before the checkpoint moves, every line's share of its message summary must be stored too:
        # the open messages go along as partial summaries that merge with their later lines.
        parts = ready + list(correlator.drain())
        self.sender.submit(Batch(batch, parts, marks, report))

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
        harvesters: dict[str, Harvester] = {}
        batch: list[bulk.Item] = []
        ready: list[Partial] = []
        marks: dict[str, tuple[str, int, str]] = {}  # file key -> (path, end of last entry batched, head)
        correlator = Correlator(max_open=self.settings.max_open_messages)
        parsers: dict[str, EntryParser] = {}
        occurrences: dict[str, _Occurrences] = {}
        batch_bytes = 0
        last_flush = 0.0

        def flush() -> None:
            nonlocal batch, ready, batch_bytes, last_flush
            last_flush = time.monotonic()
            done = [Mark(key, path, end, head=head) for key, (path, end, head) in marks.items()]
            self._submit(batch, ready, correlator, done, report)
            batch, ready, batch_bytes = [], [], 0
            marks.clear()

        last_scan = 0.0
        while True:
            now = time.monotonic()
            stopping = stop.is_set()
            if now - last_scan >= scan_interval and not stopping:
                self._scan(patterns, harvesters)
                last_scan = now
            got = 0
            for key, h in list(harvesters.items()):
                entries = h.poll(now, 0.0 if stopping else linger)
                if stopping:
                    entries += h.flush_pending()
                parser = parsers.setdefault(
                    h.path, EntryParser(self.zone, self.server, dataset=dataset_for(h.path))
                )
                occ = occurrences.setdefault(key, _Occurrences())
                for entry in entries:
                    n = occ.next(entry.data)
                    if entry.end <= h.resume:
                        continue
                    item, parts = self._item(parser, h.path, key, entry, n)
                    self.status.read(key, entry.end)
                    batch.append(item)
                    batch_bytes += len(item.action) + len(item.body)
                    ready.extend(correlator.add_partials(parts))
                    marks[key] = (h.path, entry.end, h.head)
                    report.entries += 1
                    got += 1
                    if (
                        len(batch) >= self.settings.batch_max_docs
                        or batch_bytes >= self.settings.batch_max_bytes
                    ):
                        flush()
                if h.renamed and now - h.last_activity >= close_inactive:
                    self.status.closed(key)
                    h.close()
                    del harvesters[key]
            # At most one half-full batch per batch_max_age: a line after a quiet spell goes at once, one
            # in a steady trickle waits for the next slot.
            due = last_flush + self.settings.batch_max_age
            if batch and (stopping or time.monotonic() >= due):
                flush()
            if stopping:
                if batch or ready:
                    flush()
                for h in harvesters.values():
                    h.close()  # the status keeps its facts (and descriptor): its last words are written after
                self.sender.wait()
                return report
            if not got:
                now = time.monotonic()
                grown = max((h.last_activity for h in harvesters.values()), default=0.0)
                wait = min(poll_wait(now - grown), scan_interval)
                if batch:
                    wait = min(wait, max(0.0, due - now))
                stop.wait(wait)

    def _item(
        self, parser: EntryParser, path: str, key: str, entry: RawEntry, occ: int
    ) -> tuple[bulk.Item, list[Partial]]:
        doc = enrich(parser.parse(entry.data, entry.origin))
        doc["log"] = {**doc.get("log", {}), "file": {"path": path}, "offset": entry.offset}
        body = dumps(doc)
        index = event_index(self.settings.index_prefix, doc)
        # The entry's own log (a syslog stream carries the reject log's copies too) keys its id.
        dataset = doc.get("event", {}).get("dataset", parser.dataset)
        doc_id = event_id(self.server, entry.data, occ, dataset, second_pass=parser.second_pass)
        action = action_line("create", index, doc_id)
        return bulk.Item(action, body, ref=key), partials(doc)

    def _assembler(self, head: bytes, mtime: float | None = None) -> SyslogAssembler | None:
        """A syslog or journal file's entry assembler (None for Exim's own format); `mtime` (None: now)
        dates BSD syslog's year-less lines."""
        s = self.settings
        return assembler_for(
            s.input_format,
            head,
            mtime=mtime,
            zone=self.zone,
            programs=s.syslog_programs,
            host_from_syslog=not s.server_name,
        )

    def _scan(self, patterns: list[str], harvesters: dict[str, Harvester]) -> None:
        current: dict[str, str] = {}
        for path in matching(patterns):
            try:
                st = Path(path).stat()
            except OSError:
                continue
            key = follow_key(st.st_dev, st.st_ino)
            current[path] = key
            if key in harvesters:
                harvesters[key].path = path
                continue
            try:
                fh = Path(path).open("rb")  # noqa: SIM115 - held open across polls, closed by the harvester
            except OSError as exc:
                self.status.cannot_open(path, exc)
                continue
            head = head_hash(os.pread(fh.fileno(), HEAD_BYTES, 0))
            offset = self.registry.resume(key, head, os.fstat(fh.fileno()).st_size)
            # A file with bytes is told apart now (its resume point depends on it); an empty one later.
            first = os.pread(fh.fileno(), DETECT_BYTES, 0)
            assembler = self._assembler(first) if first else None
            begin = same_second_start(fh, offset) if assembler is None else assembler.second_start(fh, offset)
            fh.seek(begin)
            harvesters[key] = Harvester(
                path,
                fh,
                st.st_dev,
                st.st_ino,
                begin,
                head=head,
                resume=offset,
                detect=None if first else self._assembler,
                assembler=assembler,
            )
            self.status.opened(
                key, path, fh.fileno(), offset, self.registry.files.get(key, {}).get("updated")
            )
        for key, h in harvesters.items():
            # Renamed away (rotation): keep reading the old file until it has been quiet for a while.
            h.renamed = current.get(h.path) != key
            if h.renamed:
                self.status.rotated(key, self.settings.close_inactive)
        self.status.following = True


def _is_archive(path: Path, compression: str | None) -> bool:
    """A rotated or compressed file that Exim no longer writes to."""
    return compression is not None or path.name[-1:].isdigit()
