"""Commands on log files, without a cluster: `parse`, and `trace` over files (over the fleet, see cluster)."""

from __future__ import annotations

import argparse
import gzip
import lzma
import sys
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import orjson
import zstandard

from shipper.commands import EXIT_ERROR, EXIT_OK
from shipper.commands.cluster import trace_fleet
from shipper.errors import ConfigError, InputError
from shipper.exim.parse import EntryParser
from shipper.files.archive import damage_of, dataset_for, open_input
from shipper.files.native import ACTIONS, NativeFor, Polled, Reading, Rendered, Run, core, native_for
from shipper.files.reader import CHUNK_SIZE, EntryAssembler, RawEntry, peek_head
from shipper.files.syslog import assembler_for
from shipper.message_output import FirstSeenOrder as _FirstSeenOrder
from shipper.messages import partials
from shipper.messages.merge import to_json
from shipper.settings import Settings
from shipper.trace_files import print_trace

T = TypeVar("T")

_DECOMPRESS_ERRORS = (OSError, EOFError, lzma.LZMAError, zlib.error, zstandard.ZstdError, gzip.BadGzipFile)


def _entries(
    name: str, stream: BinaryIO, settings: Settings, counts: Counter[str], native: NativeFor | None
) -> Iterator[Polled]:
    try:
        assembler = assembler_for(
            settings.input_format,
            peek_head(stream),
            mtime=None if name == "-" else Path(name).stat().st_mtime,
            zone=settings.effective_timezone(),
            programs=settings.syslog_programs,
            host_from_syslog=not settings.server_name,
        )
        path = "-" if name == "-" else str(Path(name).resolve())
        fast = native(path, 0, 0, assembler) if native is not None else None
        reading: Reading = fast if fast is not None else EntryAssembler(0, assembler)
        while chunk := stream.read(CHUNK_SIZE):
            yield reading.feed(chunk)
        yield reading.finish()
    except _DECOMPRESS_ERRORS as exc:
        raise InputError(f"{name}: cannot read: {exc}") from None
    if assembler is not None:
        counted = fast if fast is not None else assembler
        counts["skipped"] += counted.skipped
        counts["unreadable"] += counted.unreadable
    damage = damage_of(stream)
    if damage is not None:
        raise InputError(f"{name}: cannot read to the end, {damage}; the entries before it were read")


def _events(
    names: list[str],
    settings: Settings,
    errors: list[str],
    counts: Counter[str] | None = None,
    summaries: _NativeSummaries | None = None,
) -> Iterator[tuple[str, dict[str, Any] | bytes | None]]:
    """`(action, event)` of every entry of every file in turn: the event parsed and enriched, or the
    document the native core wrote (None: `summaries` took its partials from the core); unreadable
    files are noted in `errors`, the syslog lines skipped (other programs', unreadable) in `counts`."""
    seen: Counter[str] = Counter() if counts is None else counts
    return _each_file(
        names, errors, lambda name, stream: _file_events(name, stream, settings, seen, summaries)
    )


def _outputs(
    names: list[str], settings: Settings, errors: list[str], counts: Counter[str]
) -> Iterator[Run | tuple[str, dict[str, Any]]]:
    """What `parse` writes without --messages, as `_events` reads it: the native core's documents a run
    at a time (`Run`), the Python parser's events one by one."""
    return _each_file(names, errors, lambda name, stream: _file_outputs(name, stream, settings, counts))


def _each_file(
    names: list[str], errors: list[str], read: Callable[[str, BinaryIO], Iterator[T]]
) -> Iterator[T]:
    """`read` of every file in turn; unreadable files are noted in `errors`."""
    for name in names:
        try:
            stream = open_input(name)
        except InputError as exc:
            print(f"exim-shipper: {exc}", file=sys.stderr)
            errors.append(name)
            continue
        try:
            yield from read(name, stream)
        except InputError as exc:
            print(f"exim-shipper: {exc}", file=sys.stderr)
            errors.append(name)
        finally:
            if stream is not sys.stdin.buffer:
                stream.close()


Parsed = Callable[[RawEntry], tuple[str, dict[str, Any]]]


def _file_parser(
    name: str, settings: Settings, *, correlate: bool = False
) -> tuple[EntryParser, Parsed, NativeFor | None]:
    """One file's Python parser, its `(action, event)` of an entry, and its native reader's maker
    (`correlate`: its readers keep their partials for native summaries)."""
    from shipper.exim.enrich import enrich  # the public suffix list: `trace` starts without it

    zone = settings.effective_timezone()
    server = settings.effective_server_name()
    dataset = dataset_for(name)
    parser = EntryParser(zone, server, dataset=dataset)
    native = native_for(server, zone, settings.index_prefix, lambda _path: dataset, correlate=correlate)
    path = "-" if name == "-" else str(Path(name).resolve())

    def parsed(entry: RawEntry) -> tuple[str, dict[str, Any]]:
        doc = enrich(parser.parse(entry.data, entry.origin))
        doc["log"] = {**doc.get("log", {}), "file": {"path": path}, "offset": entry.offset}
        return doc["event"]["action"], doc

    return parser, parsed, native


def _file_events(
    name: str,
    stream: BinaryIO,
    settings: Settings,
    counts: Counter[str],
    summaries: _NativeSummaries | None = None,
) -> Iterator[tuple[str, dict[str, Any] | bytes | None]]:
    parser, parsed, native = _file_parser(name, settings, correlate=summaries is not None)
    for polled in _entries(name, stream, settings, counts, native):
        if not isinstance(polled, Rendered):
            yield from map(parsed, polled)
            continue
        if summaries is not None:
            yield from summaries.entries(polled, parser, parsed)
            continue
        for code, *_, body, _id, raw, stamp in polled:
            if code:
                yield ACTIONS[code], body
                continue
            assert raw is not None
            if stamp is not None:
                parser.follow(stamp)  # the core read the entries before: go on from its time
            yield parsed(raw)


def _file_outputs(
    name: str, stream: BinaryIO, settings: Settings, counts: Counter[str]
) -> Iterator[Run | tuple[str, dict[str, Any]]]:
    parser, parsed, native = _file_parser(name, settings)
    for polled in _entries(name, stream, settings, counts, native):
        if not isinstance(polled, Rendered):
            yield from map(parsed, polled)
            continue
        for run in polled.runs():
            if isinstance(run, Run):
                yield run
                continue
            *_, raw, stamp = run  # a placeholder's entry, in its place
            assert raw is not None
            if stamp is not None:
                parser.follow(stamp)  # the core read the entries before: go on from its time
            yield parsed(raw)


class _NativeSummaries:
    """`parse --messages` on the native correlator (`shipper._native.Summaries`, first-seen order as
    `FirstSeenOrder`): the core's entries' partials stay in Rust, the others go in as JSON."""

    def __init__(self, writer: _Writer, max_open: int) -> None:
        assert core is not None
        self.writer = writer
        self.core = core.Summaries(max_open=max_open)

    def entries(
        self, batch: Rendered, parser: EntryParser, parsed: Callable[[RawEntry], tuple[str, dict[str, Any]]]
    ) -> Iterator[tuple[str, dict[str, Any] | bytes | None]]:
        """`_file_events`' items of a batch the core rendered; before an entry whose partials Python
        makes (`add`), the core's entries before it are folded in, so the order is the file's."""
        reader = batch.reader.reader
        for code, offset, _end, _occ, facts, _action, body, local_id, raw, stamp in batch:
            if code:
                if facts == b"!" or (not facts and local_id[0]):
                    reader.summarize(self.core, offset)
                    yield ACTIONS[code], body
                else:
                    yield ACTIONS[code], None
                continue
            assert raw is not None
            reader.summarize(self.core, offset)
            if stamp is not None:
                parser.follow(stamp)
            yield parsed(raw)
        if len(batch):
            reader.summarize(self.core, batch.end)
        self._write(self.core.take())

    def add(self, doc: dict[str, Any]) -> None:
        parts = partials(doc)
        if parts:
            self.core.add(to_json(parts))

    def finish(self) -> None:
        # In steps: every message held may wait for the end (behind one that never completes).
        while lines := self.core.finish():
            self._write(lines)

    def _write(self, lines: bytes) -> None:
        if lines:  # whole lines, written at once: the writer's buffer of 512 would hold 512 batches
            self.writer.flush()
            self.writer.out.write(lines)


class _Writer:
    """Buffered JSON-lines output (one write per 512 documents, or per run of the core's)."""

    def __init__(self) -> None:
        self.out = sys.stdout.buffer
        self.buf: list[bytes] = []

    def write(self, doc: dict[str, Any]) -> None:
        self.write_bytes(orjson.dumps(doc))

    def write_bytes(self, data: bytes) -> None:
        self.buf.append(data)
        if len(self.buf) >= 512:
            self.flush()

    def write_lines(self, lines: bytes) -> None:
        """Documents already joined, each ending in its newline (a run of the core's), in one write."""
        self._drain()
        self.out.write(lines)

    def flush(self) -> None:
        self._drain()
        self.out.flush()

    def _drain(self) -> None:
        if self.buf:
            self.out.write(b"\n".join(self.buf) + b"\n")
            self.buf.clear()


def _write_events(
    outputs: Iterator[Run | tuple[str, dict[str, Any]]], writer: _Writer, actions: Counter[str]
) -> None:
    """Write the events and count them by action: a run of the core's documents in one write, its
    actions counted from its codes in one pass."""
    for out in outputs:
        if isinstance(out, Run):
            writer.write_lines(out.lines)
            for code, n in Counter(out.codes).items():
                actions[ACTIONS[code]] += n
        else:
            action, event = out
            actions[action] += 1
            writer.write(event)


def cmd_parse(args: argparse.Namespace, settings: Settings) -> int:
    """Write one JSON document per entry (or per message with --messages); a summary to stderr."""
    names: list[str] = args.files or ["-"]
    actions: Counter[str] = Counter()
    skipped: Counter[str] = Counter()
    errors: list[str] = []
    writer = _Writer()
    summaries: _FirstSeenOrder | _NativeSummaries | None = None
    if args.messages:
        # The core's correlator where it is built (syslog files' partials go into it as JSON).
        summaries = (
            _FirstSeenOrder(writer, args.max_open)
            if core is None
            else _NativeSummaries(writer, args.max_open)
        )
    native = summaries if isinstance(summaries, _NativeSummaries) else None
    try:
        if summaries is None:
            _write_events(_outputs(names, settings, errors, skipped), writer, actions)
        else:
            for action, event in _events(names, settings, errors, skipped, native):
                actions[action] += 1
                if event is not None:  # None: the native summaries took its partials from the core
                    summaries.add(orjson.loads(event) if isinstance(event, bytes) else event)
            summaries.finish()
    finally:
        writer.flush()
    failed = len(errors)
    total = sum(actions.values())
    unrecognized = actions.get("unrecognized", 0)
    share = f"{100 * unrecognized / total:.2f}%" if total else "0%"
    print(f"entries: {total}  unrecognized: {unrecognized} ({share})", file=sys.stderr)
    if skipped["skipped"] or skipped["unreadable"]:
        print(
            f"syslog lines skipped: {skipped['skipped']} of other programs, "
            f"{skipped['unreadable']} unreadable",
            file=sys.stderr,
        )
    for action, count in sorted(actions.items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"  {count:>9}  {action}", file=sys.stderr)
    return EXIT_ERROR if failed else EXIT_OK


def cmd_trace(args: argparse.Namespace, settings: Settings) -> int:
    """exigrep-style: the lines of every message mentioning the needle, each with its summary, and the
    matching lines that belong to no message; without files, the same from the fleet's index."""
    if not args.target:
        raise ConfigError(
            "trace needs something to look for: an id, an address, a domain, an IP or a Message-ID"
        )
    if not args.files:
        if not settings.opensearch_url:
            raise ConfigError("trace needs log FILEs, or --opensearch-url to trace across the fleet's index")
        return trace_fleet(args.target, settings)
    return print_trace(
        args.files,
        args.target,
        zone=settings.effective_timezone(),
        server=settings.effective_server_name(),
        form=settings.input_format,
        programs=settings.syslog_programs,
        host_from_syslog=not settings.server_name,
    )
