"""Command line: `exim-shipper parse` (and later run/backfill/setup); settings in, exit codes out."""

from __future__ import annotations

import argparse
import gzip
import lzma
import sys
import zlib
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

import orjson
import pydantic
import zstandard

from shipper import __version__
from shipper.errors import ConfigError, InputError, ShipperError
from shipper.exim.parse import EntryParser
from shipper.files.archive import open_log, wrap_decompressor
from shipper.files.reader import iter_entries
from shipper.settings import Settings

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2
_DECOMPRESS_ERRORS = (OSError, EOFError, lzma.LZMAError, zlib.error, zstandard.ZstdError, gzip.BadGzipFile)


def _dataset_for(name: str) -> str:
    low = Path(name).name.lower()
    if "reject" in low:
        return "exim.reject"
    if "panic" in low:
        return "exim.panic"
    return "exim.main"


def _open(name: str) -> BinaryIO:
    if name == "-":
        raw = sys.stdin.buffer
        head = raw.peek(8)[:8] if hasattr(raw, "peek") else b""
        return wrap_decompressor(raw, head)
    try:
        return open_log(name)
    except FileNotFoundError:
        raise InputError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{name}: is a directory, not a log file") from None
    except PermissionError:
        raise InputError(f"{name}: permission denied") from None
    except OSError as exc:
        raise InputError(f"{name}: cannot open: {exc.strerror or exc}") from None


def _entries(name: str, stream: BinaryIO) -> Iterator[tuple[int, bytes]]:
    try:
        for entry in iter_entries(stream):
            yield entry.offset, entry.data
    except _DECOMPRESS_ERRORS as exc:
        raise InputError(f"{name}: cannot read: {exc}") from None


def cmd_parse(args: argparse.Namespace, settings: Settings) -> int:
    """Write one JSON document per entry to stdout and a summary to stderr."""
    names: list[str] = args.files or ["-"]
    zone = settings.effective_timezone()
    server = settings.effective_server_name()
    out = sys.stdout.buffer
    actions: Counter[str] = Counter()
    failed = 0
    for name in names:
        try:
            stream = _open(name)
        except InputError as exc:
            print(f"exim-shipper: {exc}", file=sys.stderr)
            failed += 1
            continue
        parser = EntryParser(zone, server, dataset=_dataset_for(name))
        path = "-" if name == "-" else str(Path(name).resolve())
        buf: list[bytes] = []
        try:
            for offset, data in _entries(name, stream):
                doc = parser.parse(data)
                doc["log"] = {"file": {"path": path}, "offset": offset}
                actions[doc["event"]["action"]] += 1
                buf.append(orjson.dumps(doc))
                if len(buf) >= 512:
                    out.write(b"\n".join(buf) + b"\n")
                    buf.clear()
        except InputError as exc:
            print(f"exim-shipper: {exc}", file=sys.stderr)
            failed += 1
        finally:
            if buf:
                out.write(b"\n".join(buf) + b"\n")
            if stream is not sys.stdin.buffer:
                stream.close()
    out.flush()
    total = sum(actions.values())
    unrecognized = actions.get("unrecognized", 0)
    share = f"{100 * unrecognized / total:.2f}%" if total else "0%"
    print(f"entries: {total}  unrecognized: {unrecognized} ({share})", file=sys.stderr)
    for action, count in sorted(actions.items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"  {count:>9}  {action}", file=sys.stderr)
    return EXIT_ERROR if failed else EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="exim-shipper", description="Parse and ship Exim logs.")
    top.add_argument("--version", action="version", version=f"exim-shipper {__version__}")
    sub = top.add_subparsers(dest="command", required=True)
    p = sub.add_parser("parse", help="parse Exim logs to JSON events on stdout")
    p.add_argument("files", nargs="*", metavar="FILE", help="log files (plain/gz/bz2/xz/zst) or - for stdin")
    p.add_argument("--timezone", help="IANA zone of timestamps without an offset (default: the machine's)")
    p.add_argument("--server-name", help="host.name of the Exim server (default: this host's name)")
    p.set_defaults(func=cmd_parse)
    return top


def load_settings(args: argparse.Namespace) -> Settings:
    overrides = {k: v for k in ("timezone", "server_name") if (v := getattr(args, k, None)) is not None}
    try:
        return Settings(**overrides)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"invalid setting {where}: {first['msg'].removeprefix('Value error, ')}") from None


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(args)
        rc: int = args.func(args, settings)
    except ShipperError as exc:
        print(f"exim-shipper: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `exim-shipper parse log | head`: the reader left; not an error worth a traceback.
        sys.stderr.close()
        return EXIT_OK
    return rc
