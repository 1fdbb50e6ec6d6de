"""The `exim-shipper` command line: its subcommands, flags into Settings, ShipperErrors out as one line."""

from __future__ import annotations

import argparse
import gzip
import logging
import lzma
import signal
import sys
import threading
import zlib
from collections import Counter, OrderedDict
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import orjson
import pydantic
import zstandard
from opensearchpy.exceptions import OpenSearchException

from shipper import __version__, deadletter_replay, health, logs, metrics, progress
from shipper.errors import ConfigError, InputError, ShipperError
from shipper.exim.enrich import enrich
from shipper.exim.grammar import MSGID_FULL_RE
from shipper.exim.parse import EntryParser
from shipper.files.archive import damage_of, dataset_for, open_log, wrap_decompressor
from shipper.files.reader import iter_entries
from shipper.messages import Correlator, Partial, accumulate, key_of, partials, summary
from shipper.opensearch import dashboards, provision, retry
from shipper.opensearch.connection import make_client, translate
from shipper.pipeline import FileReport, Shipper, expand
from shipper.report import INTERACTIVE_ATTEMPTS, render_report, report_json, report_window, run_report
from shipper.settings import Settings, url_without_userinfo
from shipper.status import Monitor
from shipper.summary_table import print_summary
from shipper.trace import MAX_MESSAGES, MAX_ROUNDS, fleet_trace, render_fleet, render_summary

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2
log = logging.getLogger(__name__)
_DECOMPRESS_ERRORS = (OSError, EOFError, lzma.LZMAError, zlib.error, zstandard.ZstdError, gzip.BadGzipFile)


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
    damage = damage_of(stream)
    if damage is not None:
        raise InputError(f"{name}: cannot read to the end, {damage}; the entries before it were read")


def _events(names: list[str], settings: Settings, errors: list[str]) -> Iterator[dict[str, Any]]:
    """Parsed and enriched events of every file in turn; unreadable files are noted in `errors`."""
    zone = settings.effective_timezone()
    server = settings.effective_server_name()
    for name in names:
        try:
            stream = _open(name)
        except InputError as exc:
            print(f"exim-shipper: {exc}", file=sys.stderr)
            errors.append(name)
            continue
        parser = EntryParser(zone, server, dataset=dataset_for(name))
        path = "-" if name == "-" else str(Path(name).resolve())
        try:
            for offset, data in _entries(name, stream):
                doc = enrich(parser.parse(data))
                doc["log"] = {"file": {"path": path}, "offset": offset}
                yield doc
        except InputError as exc:
            print(f"exim-shipper: {exc}", file=sys.stderr)
            errors.append(name)
        finally:
            if stream is not sys.stdin.buffer:
                stream.close()


class _Writer:
    """Buffered JSON-lines output (one write per 512 documents)."""

    def __init__(self) -> None:
        self.out = sys.stdout.buffer
        self.buf: list[bytes] = []

    def write(self, doc: dict[str, Any]) -> None:
        self.write_bytes(orjson.dumps(doc))

    def write_bytes(self, data: bytes) -> None:
        self.buf.append(data)
        if len(self.buf) >= 512:
            self.flush()

    def flush(self) -> None:
        if self.buf:
            self.out.write(b"\n".join(self.buf) + b"\n")
            self.buf.clear()
        self.out.flush()


class _FirstSeenOrder:
    """Message summaries written in first-seen order with bounded memory.

    Finished messages leave the correlator at once and wait here as JSON bytes until every
    earlier message is written; past `max_open` waiting messages the oldest is written as it
    stands (a partial summary, like an eviction).
    """

    def __init__(self, writer: _Writer, max_open: int) -> None:
        self.writer = writer
        self.max_open = max_open
        self.correlator = Correlator(max_open=max_open)
        self.order: OrderedDict[tuple[str, str], bytes | None] = OrderedDict()

    def add(self, doc: dict[str, Any]) -> None:
        parts = partials(doc)
        for part in parts:
            self.order.setdefault(key_of(part), None)
        for done in self.correlator.add_partials(parts):
            self._ready(done)
        self._flush_head(self.max_open)

    def _ready(self, part: Partial) -> None:
        key = key_of(part)
        data = orjson.dumps(summary(part))
        if self.order.get(key, b"") is None:
            self.order[key] = data
        else:  # a late line of a message already written: its own partial summary
            self.writer.write_bytes(data)

    def _flush_head(self, limit: int) -> None:
        while self.order:
            key, data = next(iter(self.order.items()))
            if data is None:
                if len(self.order) <= limit:
                    return
                part = self.correlator.pop(key)
                data = orjson.dumps(summary(part)) if part is not None else None
            self.order.popitem(last=False)
            if data is not None:
                self.writer.write_bytes(data)

    def finish(self) -> None:
        for part in self.correlator.drain():
            self._ready(part)
        self._flush_head(0)


def cmd_parse(args: argparse.Namespace, settings: Settings) -> int:
    """Write one JSON document per entry (or per message with --messages); a summary to stderr."""
    names: list[str] = args.files or ["-"]
    actions: Counter[str] = Counter()
    errors: list[str] = []
    writer = _Writer()
    summaries = _FirstSeenOrder(writer, args.max_open) if args.messages else None
    try:
        for doc in _events(names, settings, errors):
            actions[doc["event"]["action"]] += 1
            if summaries is None:
                writer.write(doc)
            else:
                summaries.add(doc)
        if summaries is not None:
            summaries.finish()
    finally:
        writer.flush()
    failed = len(errors)
    total = sum(actions.values())
    unrecognized = actions.get("unrecognized", 0)
    share = f"{100 * unrecognized / total:.2f}%" if total else "0%"
    print(f"entries: {total}  unrecognized: {unrecognized} ({share})", file=sys.stderr)
    for action, count in sorted(actions.items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"  {count:>9}  {action}", file=sys.stderr)
    return EXIT_ERROR if failed else EXIT_OK


def cmd_trace(args: argparse.Namespace, settings: Settings) -> int:
    """Print the story of a message (or of every message involving an address), exigrep-style."""
    if not args.files:
        if not settings.opensearch_url:
            raise ConfigError("trace needs log FILEs, or --opensearch-url to trace across the fleet's index")
        return _trace_fleet(args.target, settings)
    needle: str = args.target
    is_id = MSGID_FULL_RE.match(needle) is not None
    low = needle.lower()
    errors: list[str] = []
    # Pass 1: which messages match (and the messages they bounce or are bounced by).
    wanted: set[str] = set()
    links: dict[str, set[str]] = {}
    for doc in _events(args.files, settings, errors):
        local_id = doc.get("email", {}).get("local_id")
        if not local_id:
            continue
        exim = doc.get("exim", {})
        if exim.get("bounce_of"):
            links.setdefault(local_id, set()).add(exim["bounce_of"])
            links.setdefault(exim["bounce_of"], set()).add(local_id)
        if is_id:
            if local_id == needle:
                wanted.add(local_id)
        elif low in _addresses(doc):
            wanted.add(local_id)
    if is_id:
        wanted |= links.get(needle, set())
    if not wanted:
        print(f"exim-shipper: no message matches {needle!r}", file=sys.stderr)
        return EXIT_ERROR
    # Pass 2: their lines and summaries, in first-seen order.
    lines: dict[str, list[str]] = {}
    merged: dict[str, Partial] = {}
    correlator = Correlator(max_open=len(wanted) + 1)
    for doc in _events(args.files, settings, errors):
        local_id = doc.get("email", {}).get("local_id")
        if local_id in wanted:
            lines.setdefault(local_id, []).append(doc["event"]["original"])
            for part in correlator.add(doc):
                accumulate(merged, part)
    for part in correlator.drain():
        accumulate(merged, part)
    out = sys.stdout
    for local_id, story in lines.items():
        out.write("\n".join(story) + "\n")
        if local_id in merged:
            out.write(render_summary(summary(merged[local_id])) + "\n")
        out.write("\n")
    return EXIT_ERROR if errors else EXIT_OK


def _trace_fleet(needle: str, settings: Settings) -> int:
    """`trace` without files: the message's lines on every server, from the events index."""
    client = make_client(settings)
    try:
        found = fleet_trace(client, settings.index_prefix, needle, max_attempts=INTERACTIVE_ATTEMPTS)
    except OpenSearchException as exc:
        raise translate(exc, "trace") from None
    if not found.stories:
        print(f"exim-shipper: no message matches {needle!r}", file=sys.stderr)
        return EXIT_ERROR
    sys.stdout.write(render_fleet(found))
    if found.truncated:
        print(
            f"exim-shipper: the trace stops at {MAX_MESSAGES} messages or {MAX_ROUNDS} hops; "
            "more are linked than shown",
            file=sys.stderr,
        )
    return EXIT_OK


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    """An eximstats-style summary of the fleet from OpenSearch aggregations: tables, or JSON."""
    if args.top < 1:
        raise ConfigError("--top must be at least 1")
    window = report_window(args.since, args.until, datetime.now(UTC))
    client = make_client(settings)
    try:
        result = run_report(
            client,
            settings.index_prefix,
            window,
            servers=args.server or [],
            top=args.top,
            max_attempts=INTERACTIVE_ATTEMPTS,
        )
    except OpenSearchException as exc:
        raise translate(exc, "report") from None
    if args.json:
        sys.stdout.buffer.write(orjson.dumps(report_json(result), option=orjson.OPT_INDENT_2) + b"\n")
    else:
        sys.stdout.write(render_report(result))
    return EXIT_OK


def _addresses(doc: dict[str, Any]) -> set[str]:
    email = doc.get("email", {})
    found = {a.lower() for a in email.get("to", {}).get("address", [])}
    sender = email.get("from", {}).get("address")
    if sender:
        found.add(sender.lower())
    exim = doc.get("exim", {})
    for key in ("original_address", "address", "return_path", "original_sender"):
        if exim.get(key):
            found.add(str(exim[key]).lower())
    return found


def cmd_setup(args: argparse.Namespace, settings: Settings) -> int:
    """Install or update index templates and the lifecycle policy, then (with a Dashboards URL) import the
    saved objects; print what changed. With only a Dashboards URL, only the import runs."""
    if settings.opensearch_url or not settings.dashboards_url:
        client = make_client(settings)
        try:
            lines = provision.setup(client, settings.index_prefix, settings.retention)
        except OpenSearchException as exc:
            raise translate(exc, "setup") from None
        for line in lines:
            print(line)
    if settings.dashboards_url:
        imported = dashboards.import_saved_objects(settings)
        for line in imported.lines:
            print(line)
        if not imported.ok:
            return EXIT_ERROR
    return EXIT_OK


def cmd_backfill(args: argparse.Namespace, settings: Settings) -> int:
    """Ship archived logs, oldest first, each read once; a closing table per file."""
    paths = expand(args.files)
    client = make_client(settings)
    shipper = Shipper(settings, client)
    reports = []
    try:
        provision.setup(client, settings.index_prefix, settings.retention)
        with progress.on_stderr(paths, quiet=args.quiet) as bars:
            for n, path in enumerate(paths):
                try:
                    with bars.file(n) as shown:
                        reports.append(shipper.backfill(path, shown))
                except OSError as exc:
                    # One unreadable file must not keep the others from shipping.
                    reason = exc.strerror or type(exc).__name__
                    reports.append(FileReport(str(path), skipped=f"cannot read: {reason}"))
    except OpenSearchException as exc:
        raise translate(exc, "backfill") from None
    finally:
        shipper.close()
        if reports:
            print_summary(reports, shipper.dead.path)
    failed = 0
    for report in reports:
        if report.damage is not None:
            failed += 1
            print(
                f"exim-shipper: {report.path}: damaged, {report.damage}; its {report.entries} readable "
                "entries were shipped",
                file=sys.stderr,
            )
        elif report.skipped.startswith("cannot read"):
            failed += 1
            print(f"exim-shipper: {report.path}: {report.skipped}", file=sys.stderr)
    return EXIT_ERROR if failed else EXIT_OK


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    """The sidecar: follow the logs until SIGTERM/SIGINT, then drain, checkpoint and exit 0."""
    paths: list[str] = args.paths or settings.paths
    client = make_client(settings)
    stop = threading.Event()
    retry.STOP = stop
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    shipper = Shipper(settings, client)
    shipper.attempts = None  # wait out any outage; a stop request still ends the wait
    status = shipper.status
    status.patterns = paths
    if settings.metrics_address is not None:
        metrics.serve(settings.metrics_address, status)
    monitor = Monitor(
        status,
        settings.state_dir,
        stats_interval=settings.stats_interval,
        reminder_interval=settings.outage_reminder_interval,
    )
    cluster = ", ".join(url_without_userinfo(u) for u in settings.opensearch_url)
    log.info(
        "starting %s: following %s into %s (index prefix %s)",
        __version__,
        ", ".join(paths),
        cluster,
        settings.index_prefix,
        extra={
            "version": __version__,
            "files": paths,
            "cluster": cluster,
            "prefix": settings.index_prefix,
            "metrics_address": settings.metrics_address,
        },
    )
    retry.WATCHER = status
    monitor.start()
    try:
        # A sidecar may start before the cluster (compose, pods): wait for it rather than exit.
        retry.call(lambda: provision.setup(client, settings.index_prefix, settings.retention), None)
        report = shipper.run(
            paths, stop, scan_interval=settings.scan_interval, close_inactive=settings.close_inactive
        )
    except retry.Interrupted:
        log.warning("stopped while OpenSearch was unavailable; unacknowledged lines will be re-read")
        return EXIT_OK
    except OpenSearchException as exc:
        raise translate(exc, "run") from None
    finally:
        shipper.close()
        retry.WATCHER = None
        monitor.stop()
    log.info(
        "stopped after %d entries (%d indexed, %d already there, %d dead-lettered)",
        report.entries,
        report.indexed,
        report.already,
        report.dead,
        extra={
            "counts": {
                "read": report.entries,
                "indexed": report.indexed,
                "already": report.already,
                "dead_lettered": report.dead,
            }
        },
    )
    return EXIT_OK


def cmd_health(args: argparse.Namespace, settings: Settings) -> int:
    """The container health check: exit 0 unless lines wait and the checkpoint has stopped moving."""
    verdict = health.check(settings.state_dir, args.max_stall, patterns=args.paths or None)
    if not verdict.healthy:
        raise health.Unhealthy(f"unhealthy: {verdict.message}")
    print(verdict.message)
    return EXIT_OK


def cmd_deadletter_replay(args: argparse.Namespace, settings: Settings) -> int:
    """Send the dead letters again once their cause is fixed; a closing table counts what happened."""
    report = deadletter_replay.run(settings)
    sys.stdout.write(deadletter_replay.render(report))
    if report.refused:
        print(
            f"exim-shipper: {report.refused} dead letters still refused; they stay in {report.path} "
            "with the new reason",
            file=sys.stderr,
        )
        return EXIT_ERROR
    return EXIT_OK


def _add_source_flags(p: argparse.ArgumentParser) -> None:
    """What the parser needs to know about the server the logs come from."""
    p.add_argument("--timezone", help="IANA zone of timestamps without an offset (default: the machine's)")
    p.add_argument("--server-name", help="host.name of the Exim server (default: this host's name)")


def _add_connection_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--opensearch-url",
        action="append",
        metavar="URL",
        help="node URL (repeat for several; default: EXIM_SHIPPER_OPENSEARCH_URL)",
    )
    p.add_argument("--index-prefix", help="index name prefix (default: exim)")
    p.add_argument("--state-dir", help="where checkpoints and dead letters live")
    p.add_argument("--username", help="basic-auth user (password: EXIM_SHIPPER_PASSWORD)")
    p.add_argument("--ca-certs", help="CA bundle to verify the cluster's TLS certificate")
    p.add_argument("--retention", help="age after which daily event indices are deleted (default 30d)")


def build_parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="exim-shipper", description="Parse and ship Exim logs.")
    top.add_argument("--version", action="version", version=f"exim-shipper {__version__}")
    sub = top.add_subparsers(dest="command", required=True)
    p = sub.add_parser("parse", help="parse Exim logs to JSON events on stdout")
    p.add_argument("files", nargs="*", metavar="FILE", help="log files (plain/gz/bz2/xz/zst) or - for stdin")
    _add_source_flags(p)
    p.add_argument("--messages", action="store_true", help="print one summary per message instead of events")
    p.add_argument(
        "--max-open",
        type=int,
        default=100_000,
        metavar="N",
        help="messages held in memory with --messages; older ones are printed as partial summaries",
    )
    p.set_defaults(func=cmd_parse)
    t = sub.add_parser("trace", help="the story of a message id, or of every message involving an address")
    t.add_argument("target", metavar="ID|ADDRESS")
    t.add_argument(
        "files",
        nargs="*",
        metavar="FILE",
        help="log files (plain/gz/bz2/xz/zst); none: search every server's events in OpenSearch",
    )
    _add_source_flags(t)
    _add_connection_flags(t)
    t.set_defaults(func=cmd_trace)
    rp = sub.add_parser("report", help="eximstats-style summary of the fleet from OpenSearch (or --json)")
    rp.add_argument(
        "--since",
        default="24h",
        help="start: a duration back from now (30m, 24h, 7d, 2w), an ISO date or time (UTC unless it has "
        "an offset), or 'all' (default 24h)",
    )
    rp.add_argument("--until", help="end, in the same forms (default: now)")
    rp.add_argument("--server", action="append", metavar="NAME", help="only this host.name (repeat for more)")
    rp.add_argument("--top", type=int, default=10, metavar="N", help="rows per top-N table (default 10)")
    rp.add_argument("--json", action="store_true", help="print JSON instead of tables")
    _add_connection_flags(rp)
    rp.set_defaults(func=cmd_report)
    su = sub.add_parser("setup", help="install or update index templates and the lifecycle policy")
    _add_connection_flags(su)
    su.add_argument(
        "--dashboards-url",
        metavar="URL",
        help="also import kibana/ saved objects into OpenSearch Dashboards (or Kibana) at URL, overwriting",
    )
    su.set_defaults(func=cmd_setup)
    b = sub.add_parser("backfill", help="ship archived logs (plain/gz/bz2/xz/zst), oldest first, each once")
    b.add_argument("files", nargs="+", metavar="PATH|GLOB")
    b.add_argument(
        "--quiet", action="store_true", help="no progress (a bar on a terminal, else a line every 10 s)"
    )
    _add_source_flags(b)
    _add_connection_flags(b)
    b.set_defaults(func=cmd_backfill)
    r = sub.add_parser("run", help="the sidecar: follow logs (default: cPanel's exim_*log) into OpenSearch")
    r.add_argument("paths", nargs="*", metavar="PATH|GLOB")
    _add_source_flags(r)
    _add_connection_flags(r)
    r.add_argument(
        "--log-format", choices=["text", "json"], help="log lines on stderr: text (default) or JSON lines"
    )
    r.add_argument(
        "--metrics-address", metavar="HOST:PORT", help="serve Prometheus metrics on http://HOST:PORT/metrics"
    )
    r.set_defaults(func=cmd_run)
    h = sub.add_parser("health", help="the sidecar's health check: are its logs shipped or advancing?")
    h.add_argument("paths", nargs="*", metavar="PATH|GLOB", help="followed logs (default: as `run`)")
    h.add_argument("--state-dir", help="the sidecar's state directory (checkpoints)")
    h.add_argument(
        "--max-stall",
        type=float,
        default=health.DEFAULT_MAX_STALL,
        metavar="SECONDS",
        help="how long unshipped lines may wait without the checkpoint moving (default 300)",
    )
    h.set_defaults(func=cmd_health)
    dl = sub.add_parser("deadletter", help="the documents OpenSearch refused for good (in the state dir)")
    dl_sub = dl.add_subparsers(dest="deadletter_command", required=True)
    dr = dl_sub.add_parser(
        "replay", help="send the dead letters again once the cause is fixed; what is stored leaves the file"
    )
    _add_connection_flags(dr)
    dr.set_defaults(func=cmd_deadletter_replay)
    return top


def load_settings(args: argparse.Namespace) -> Settings:
    keys = (
        "timezone",
        "server_name",
        "opensearch_url",
        "index_prefix",
        "state_dir",
        "username",
        "ca_certs",
        "retention",
        "dashboards_url",
        "log_format",
        "metrics_address",
    )
    overrides = {k: v for k in keys if (v := getattr(args, k, None)) is not None}
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
        logs.configure(settings.log_format)
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
