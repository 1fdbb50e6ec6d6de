"""Commands on log files, without a cluster: `parse`, and `trace` over files (over the fleet, see cluster)."""

from __future__ import annotations

import argparse
import gzip
import lzma
import sys
import zlib
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol, TypeVar

import zstandard

from shipper.commands import EXIT_ERROR, EXIT_OK
from shipper.errors import ConfigError, InputError
from shipper.files import native
from shipper.files.archive import damage_of, dataset_for, open_input
from shipper.files.native import NativeFor, Output, Rendered, native_for
from shipper.files.reader import CHUNK_SIZE, peek_head
from shipper.files.syslog import InputFormat, form_for
from shipper.trace_files import print_trace

if TYPE_CHECKING:  # pydantic-settings: `parse` may run without it (shipper.quick_start)
    from shipper.settings import Settings

T = TypeVar("T")

MAX_OPEN = 100_000
"""`parse --max-open`'s default."""


class FileSettings(Protocol):
    """What `parse` reads of the settings: Settings, or shipper.quick_start's defaults and flags."""

    @property
    def input_format(self) -> InputFormat: ...
    @property
    def syslog_programs(self) -> Sequence[str]: ...
    @property
    def server_name(self) -> str: ...
    @property
    def index_prefix(self) -> str: ...
    def effective_timezone(self) -> str: ...
    def effective_server_name(self) -> str: ...


_DECOMPRESS_ERRORS = (OSError, EOFError, lzma.LZMAError, zlib.error, zstandard.ZstdError, gzip.BadGzipFile)


def _batches(
    name: str,
    stream: BinaryIO,
    settings: FileSettings,
    counts: Counter[str],
    *,
    output: Output,
    correlate: bool = False,
) -> Iterator[Rendered]:
    """The native core's batches of one file (`output`: what they hold; `correlate`: its reader keeps
    the partials for `_Summaries`); the syslog lines it skipped (other programs', unreadable) into
    `counts`."""
    try:
        wrapped = form_for(
            settings.input_format,
            peek_head(stream),
            mtime=None if name == "-" else Path(name).stat().st_mtime,
            zone=settings.effective_timezone(),
            programs=settings.syslog_programs,
            host_from_syslog=not settings.server_name,
        )
        path = "-" if name == "-" else str(Path(name).resolve())
        reading = _native_for(name, settings, correlate=correlate, output=output)(path, 0, 0, wrapped)
        while chunk := stream.read(CHUNK_SIZE):
            yield reading.feed(chunk)
        yield reading.finish()
    except _DECOMPRESS_ERRORS as exc:
        raise InputError(f"{name}: cannot read: {exc}") from None
    if wrapped is not None:
        counts["skipped"] += reading.skipped
        counts["unreadable"] += reading.unreadable
    damage = damage_of(stream)
    if damage is not None:
        raise InputError(f"{name}: cannot read to the end, {damage}; the entries before it were read")


def _native_for(name: str, settings: FileSettings, *, correlate: bool, output: Output) -> NativeFor:
    """The native reader's maker for one file of `parse` (its dataset from its name)."""
    dataset = dataset_for(name)
    zone = settings.effective_timezone()
    server = settings.effective_server_name()
    return native_for(
        server, zone, settings.index_prefix, lambda _path: dataset, correlate=correlate, output=output
    )


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


def _documents(
    names: list[str], settings: FileSettings, errors: list[str], counts: Counter[str]
) -> Iterator[Rendered]:
    """What `parse` writes without --messages: every file's batches of documents alone, each ending in
    its newline, back to back in `bulk`."""

    def read(name: str, stream: BinaryIO) -> Iterator[Rendered]:
        return _batches(name, stream, settings, counts, output="documents")

    return _each_file(names, errors, read)


class _Summaries:
    """`parse --messages` on the native correlator (`shipper._native.Summaries`: one summary per message,
    in first-seen order, with bounded memory): the entries' partials never leave the core."""

    def __init__(self, writer: _Writer, max_open: int) -> None:
        self.writer = writer
        self.core = native.core().Summaries(max_open=max_open)

    def read(
        self, names: list[str], settings: FileSettings, errors: list[str], counts: Counter[str]
    ) -> Iterator[bytes]:
        """Every file's batches into the summaries, the finished ones written as they come; per batch,
        its entries' action codes (a byte each)."""

        def read(name: str, stream: BinaryIO) -> Iterator[bytes]:
            for batch in _batches(name, stream, settings, counts, output="nothing", correlate=True):
                if len(batch):
                    batch.reader.reader.summarize(self.core, batch.end)
                    self._write(self.core.take())
                yield batch.codes

        return _each_file(names, errors, read)

    def finish(self) -> None:
        # In steps: every message held may wait for the end (behind one that never completes).
        while lines := self.core.finish():
            self._write(lines)

    def _write(self, lines: bytes) -> None:
        if lines:  # whole lines, written at once
            self.writer.flush()
            self.writer.out.write(lines)


class _Writer:
    """JSON-lines output: documents already joined, each ending in its newline, a write at a time."""

    def __init__(self) -> None:
        self.out = sys.stdout.buffer

    def write_lines(self, lines: bytes) -> None:
        self.out.write(lines)

    def flush(self) -> None:
        self.out.flush()


def _count(codes: bytes, actions: Counter[str]) -> None:
    """The entries' action codes (a byte each) into `actions`, by name, in one pass."""
    names = native.actions()
    for code, n in Counter(codes).items():
        actions[names[code]] += n


def cmd_parse(args: argparse.Namespace, settings: Settings) -> int:
    """Write one JSON document per entry (or per message with --messages); a summary to stderr."""
    return parse(args.files, settings, messages=args.messages, max_open=args.max_open)


def parse(files: list[str], settings: FileSettings, *, messages: bool, max_open: int) -> int:
    """`cmd_parse` on its arguments (shipper.quick_start calls it without Settings)."""
    names: list[str] = files or ["-"]
    actions: Counter[str] = Counter()
    skipped: Counter[str] = Counter()
    errors: list[str] = []
    writer = _Writer()
    try:
        if messages:
            summaries = _Summaries(writer, max_open)
            for codes in summaries.read(names, settings, errors, skipped):
                _count(codes, actions)
            summaries.finish()
        else:
            for batch in _documents(names, settings, errors, skipped):
                writer.write_lines(batch.bulk)
                _count(batch.codes, actions)
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
        # Imported here: the cluster's modules are for this command alone.
        from shipper.commands.cluster import trace_fleet

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
