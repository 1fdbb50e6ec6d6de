"""The `exim-shipper` command line: its subcommands, flags into Settings, ShipperErrors out as one line."""

from __future__ import annotations

import argparse
import gzip
import logging
import lzma
import os
import signal
import sys
import threading
import zlib
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from types import NoneType, UnionType
from typing import Any, BinaryIO, Literal, Union, get_args, get_origin

import orjson
import zstandard
from pydantic import SecretStr
from pydantic.fields import FieldInfo

from shipper import __version__, logs
from shipper.errors import ClusterError, ConfigError, InputError, Interrupted, ShipperError, Unhealthy
from shipper.exim.parse import EntryParser
from shipper.files.archive import damage_of, dataset_for, open_input
from shipper.files.reader import RawEntry, iter_entries, peek_head
from shipper.files.syslog import assembler_for
from shipper.message_output import FirstSeenOrder as _FirstSeenOrder
from shipper.opensearch.retry import RetryPolicy
from shipper.settings import CONFIG_ENV, Settings, load, unknown_variables, url_without_userinfo
from shipper.trace import MAX_MESSAGES, MAX_ROUNDS, MAX_SESSION_LINES, fleet_trace, render_fleet
from shipper.trace_files import print_trace

# The commands that talk to a cluster import the client, rich and prometheus where they run, not here:
# `trace FILE` and `parse` start with only the parser, as `trace` must be as fast as exigrep.
EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2
log = logging.getLogger(__name__)
_DECOMPRESS_ERRORS = (OSError, EOFError, lzma.LZMAError, zlib.error, zstandard.ZstdError, gzip.BadGzipFile)


def _entries(name: str, stream: BinaryIO, settings: Settings, counts: Counter[str]) -> Iterator[RawEntry]:
    try:
        assembler = assembler_for(
            settings.input_format,
            peek_head(stream),
            mtime=None if name == "-" else Path(name).stat().st_mtime,
            zone=settings.effective_timezone(),
            programs=settings.syslog_programs,
            host_from_syslog=not settings.server_name,
        )
        yield from iter_entries(stream, assembler=assembler)
    except _DECOMPRESS_ERRORS as exc:
        raise InputError(f"{name}: cannot read: {exc}") from None
    if assembler is not None:
        counts["skipped"] += assembler.skipped
        counts["unreadable"] += assembler.unreadable
    damage = damage_of(stream)
    if damage is not None:
        raise InputError(f"{name}: cannot read to the end, {damage}; the entries before it were read")


def _events(
    names: list[str], settings: Settings, errors: list[str], counts: Counter[str] | None = None
) -> Iterator[dict[str, Any]]:
    """Parsed and enriched events of every file in turn; unreadable files are noted in `errors`, the
    syslog lines skipped (other programs', unreadable) in `counts`."""
    counts = Counter() if counts is None else counts
    from shipper.exim.enrich import enrich  # the public suffix list: `trace` starts without it

    zone = settings.effective_timezone()
    server = settings.effective_server_name()
    for name in names:
        try:
            stream = open_input(name)
        except InputError as exc:
            print(f"exim-shipper: {exc}", file=sys.stderr)
            errors.append(name)
            continue
        parser = EntryParser(zone, server, dataset=dataset_for(name))
        path = "-" if name == "-" else str(Path(name).resolve())
        try:
            for entry in _entries(name, stream, settings, counts):
                doc = enrich(parser.parse(entry.data, entry.origin))
                doc["log"] = {**doc.get("log", {}), "file": {"path": path}, "offset": entry.offset}
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


def cmd_parse(args: argparse.Namespace, settings: Settings) -> int:
    """Write one JSON document per entry (or per message with --messages); a summary to stderr."""
    names: list[str] = args.files or ["-"]
    actions: Counter[str] = Counter()
    skipped: Counter[str] = Counter()
    errors: list[str] = []
    writer = _Writer()
    summaries = _FirstSeenOrder(writer, args.max_open) if args.messages else None
    try:
        for doc in _events(names, settings, errors, skipped):
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
        return _trace_fleet(args.target, settings)
    return print_trace(
        args.files,
        args.target,
        zone=settings.effective_timezone(),
        server=settings.effective_server_name(),
    )


def _trace_fleet(needle: str, settings: Settings) -> int:
    """`trace` without files: the message's lines on every server, from the events index."""
    from shipper.opensearch.connection import connect
    from shipper.report import INTERACTIVE_ATTEMPTS

    policy = replace(RetryPolicy.from_settings(settings), max_attempts=INTERACTIVE_ATTEMPTS)
    try:
        found = fleet_trace(connect(settings), settings.index_prefix, needle, policy=policy)
    except ClusterError as exc:
        raise exc.during("trace") from None
    if not found.stories:
        print(f"exim-shipper: no entry matches {needle!r}", file=sys.stderr)
        return EXIT_ERROR
    sys.stdout.write(render_fleet(found))
    if found.truncated:
        print(
            f"exim-shipper: the trace stops at {MAX_MESSAGES} messages, {MAX_ROUNDS} hops or "
            f"{MAX_SESSION_LINES} lines without a message id; more match than shown",
            file=sys.stderr,
        )
    return EXIT_OK


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    """An eximstats-style summary of the fleet from OpenSearch aggregations: tables, or JSON."""
    from shipper.opensearch.connection import connect
    from shipper.report import INTERACTIVE_ATTEMPTS, render_report, report_json, report_window, run_report

    if args.top < 1:
        raise ConfigError("--top must be at least 1")
    window = report_window(args.since, args.until, datetime.now(UTC))
    cluster = connect(settings)
    try:
        result = run_report(
            cluster,
            settings.index_prefix,
            window,
            servers=args.server or [],
            top=args.top,
            policy=replace(RetryPolicy.from_settings(settings), max_attempts=INTERACTIVE_ATTEMPTS),
        )
    except ClusterError as exc:
        raise exc.during("report") from None
    if args.json:
        sys.stdout.buffer.write(orjson.dumps(report_json(result), option=orjson.OPT_INDENT_2) + b"\n")
    else:
        sys.stdout.write(render_report(result))
    return EXIT_OK


def cmd_setup(args: argparse.Namespace, settings: Settings) -> int:
    """Install or update index templates and the lifecycle policy, then (with a Dashboards URL) import the
    saved objects; print what changed. With only a Dashboards URL, only the import runs."""
    from shipper.opensearch import dashboards, provision
    from shipper.opensearch.connection import connect

    if settings.opensearch_url or not settings.dashboards_url:
        cluster = connect(settings)
        try:
            lines = provision.setup(cluster, settings.index_prefix, settings.retention)
            drift = provision.mapping_drift(cluster, settings.index_prefix, settings.retention)
        except ClusterError as exc:
            raise exc.during("setup") from None
        for line in lines:
            print(line)
        for line in drift:
            _warn(f"{line}; reindex or delete it: the templates only shape indices made after them")
    if settings.dashboards_url:
        imported = dashboards.import_saved_objects(settings)
        for line in imported.lines:
            print(line)
        if not imported.ok:
            return EXIT_ERROR
    return EXIT_OK


def cmd_backfill(args: argparse.Namespace, settings: Settings) -> int:
    """Ship archived logs, oldest first, each read once; a closing table per file. Templates are
    only checked (read-only): installing them is `setup`'s job, run centrally."""
    from shipper import preflight, progress
    from shipper.opensearch.connection import connect
    from shipper.pipeline import FileReport, Shipper, expand
    from shipper.summary_table import print_summary

    paths = expand(args.files)
    cluster = connect(settings)
    shipper = Shipper(settings, cluster, RetryPolicy.from_settings(settings))
    reports = []
    try:
        _warn(preflight.require_templates(cluster, settings))
        with progress.on_stderr(paths, quiet=args.quiet) as bars:
            for n, path in enumerate(paths):
                try:
                    with bars.file(n) as shown:
                        reports.append(shipper.backfill(path, shown))
                except OSError as exc:
                    # One unreadable file must not keep the others from shipping.
                    reason = exc.strerror or type(exc).__name__
                    reports.append(FileReport(str(path), skipped=f"cannot read: {reason}"))
    except ClusterError as exc:
        raise exc.during("backfill") from None
    finally:
        shipper.close()
        if reports:
            print_summary(reports, shipper.dead.path)
        foreign = sum(r.foreign for r in reports)
        if foreign:
            print(f"syslog lines of other programs skipped: {foreign}", file=sys.stderr)
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
    from shipper import metrics, preflight
    from shipper.opensearch.connection import connect
    from shipper.pipeline import Shipper
    from shipper.status import Monitor, Status

    paths = settings.paths
    client = connect(settings)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    status = Status()
    # Wait out any outage, telling the status of it; a stop request still ends the wait.
    policy = replace(RetryPolicy.from_settings(settings), max_attempts=None, stop=stop, watcher=status)
    shipper = Shipper(settings, client, policy, status=status)
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
    monitor.start()
    interrupted = False
    try:
        # A sidecar may start before the cluster (compose, pods): wait for it rather than exit.
        _warn(policy.call(lambda: preflight.require_templates(client, settings)))
        report = shipper.run(
            paths, stop, scan_interval=settings.scan_interval, close_inactive=settings.close_inactive
        )
    except Interrupted:
        interrupted = True
    except ClusterError as exc:
        raise exc.during("run") from None
    finally:
        shipper.close()
        monitor.stop()  # before the last line: no reminder may follow it
    if interrupted:
        log.warning("stopped while OpenSearch was unavailable; unacknowledged lines will be re-read")
        return EXIT_OK
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
    from shipper import health

    max_stall = health.DEFAULT_MAX_STALL if args.max_stall is None else args.max_stall
    verdict = health.check(settings.state_dir, max_stall, patterns=args.paths or None)
    if not verdict.healthy:
        raise Unhealthy(f"unhealthy: {verdict.message}")
    print(verdict.message)
    return EXIT_OK


def cmd_check(args: argparse.Namespace, settings: Settings) -> int:
    """Like Filebeat's `test config` and `test output`: a line per check, `ok` or why not; exit 0 only
    when every one passes."""
    from shipper import preflight
    from shipper.opensearch.connection import connect

    config = args.config if args.config is not None else os.environ.get(CONFIG_ENV) or None
    print(f"config: ok ({config if config else 'no config file: defaults, environment and flags'})")
    cluster = connect(settings) if settings.opensearch_url else None
    failed = 0
    for finding in preflight.everything(settings, cluster):
        print(finding.line, flush=True)
        failed += not finding.ok
    return EXIT_ERROR if failed else EXIT_OK


def cmd_deadletter_replay(args: argparse.Namespace, settings: Settings) -> int:
    """Send the dead letters again once their cause is fixed; a closing table counts what happened."""
    from shipper import deadletter_replay

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


def _warn(line: str | None) -> None:
    if line:
        print(f"exim-shipper: warning: {line}", file=sys.stderr, flush=True)


# The settings each command takes as flags. A flag is made from its Settings field: `--name-with-dashes`,
# help from the field's docstring, the type from its annotation. Exposing another setting on a
# command is adding its name to that command's tuple in build_parser.
SOURCE = ("timezone", "server_name", "input_format")
CLUSTER = ("opensearch_url", "index_prefix", "username", "ca_certs")
OBSERVE = ("metrics_address", "stats_interval", "outage_reminder_interval")


def _setting_flags(p: argparse.ArgumentParser, names: Sequence[str]) -> None:
    group = p.add_argument_group(
        "settings", "each also EXIM_SHIPPER_<NAME> in the environment, or <name> in the --config file"
    )
    group.add_argument(
        "--config", metavar="FILE", help=f"TOML file of settings (default: ${CONFIG_ENV}, else none)"
    )
    for name in names:
        field = Settings.model_fields[name]
        kind = _flag_type(field)
        if kind is SecretStr:  # flags show in `ps` and shell history
            raise TypeError(f"{name} is a secret: it comes from the environment or a file, never a flag")
        options: dict[str, Any] = {"dest": name, "default": None, "help": _flag_help(field)}
        if kind is bool:
            options["action"] = argparse.BooleanOptionalAction
        elif get_origin(kind) is Literal:
            options["choices"] = get_args(kind)
        else:
            options["metavar"] = name.rsplit("_", 1)[-1].upper()
            if get_origin(kind) is list:
                options["action"] = "append"
        group.add_argument("--" + name.replace("_", "-"), **options)
    p.set_defaults(setting_flags=tuple(names))


def _flag_type(field: FieldInfo) -> Any:
    """The annotation without its `| None`."""
    kind = field.annotation
    if get_origin(kind) in (Union, UnionType):
        kinds = [k for k in get_args(kind) if k is not NoneType]
        kind = kinds[0] if len(kinds) == 1 else str
    return kind


def _flag_help(field: FieldInfo) -> str:
    text = " ".join((field.description or "").split())
    if get_origin(_flag_type(field)) is list:
        text += " Repeat the flag for several."
    default = field.get_default(call_default_factory=True)
    if isinstance(default, bool):
        text += f" (default: {'on' if default else 'off'})"
    elif isinstance(default, list) and default:
        text += f" (default: {', '.join(map(str, default))})"
    elif default not in (None, "", []):
        text += f" (default: {default:g})" if isinstance(default, float) else f" (default: {default})"
    return text.replace("%", "%%")  # argparse formats help strings


def _command(
    sub: Any, name: str, func: Any, help_text: str, settings: Sequence[str]
) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(name, help=help_text, description=help_text)
    p.set_defaults(func=func, parser=p)
    _setting_flags(p, (*settings, "log_format"))  # every command logs
    return p


def build_parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="exim-shipper", description="Parse and ship Exim logs.")
    top.add_argument("--version", action="version", version=f"exim-shipper {__version__}")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = _command(sub, "parse", cmd_parse, "parse Exim logs to JSON events on stdout", SOURCE)
    p.add_argument(
        "files", nargs="*", default=[], metavar="FILE", help="log files (plain/gz/bz2/xz/zst) or - for stdin"
    )
    p.add_argument("--messages", action="store_true", help="print one summary per message instead of events")
    p.add_argument(
        "--max-open",
        type=int,
        default=100_000,
        metavar="N",
        help="messages held in memory with --messages; older ones are printed as partial summaries",
    )
    t = _command(
        sub,
        "trace",
        cmd_trace,
        "exigrep's search: the story of every message (and the session lines) mentioning an id, address, "
        "domain, IP or Message-ID",
        (*SOURCE, *CLUSTER),
    )
    t.add_argument(
        "target", metavar="NEEDLE", help="a message id, an address, a domain, an IP or a Message-ID"
    )
    t.add_argument(
        "files",
        nargs="*",
        default=[],
        metavar="FILE",
        help="log files (plain/gz/bz2/xz/zst); none: search every server's events in OpenSearch",
    )
    rp = _command(
        sub, "report", cmd_report, "eximstats-style summary of the fleet from OpenSearch (or --json)", CLUSTER
    )
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
    _command(
        sub,
        "setup",
        cmd_setup,
        "once, centrally: install or update the index templates and lifecycle policy, and with a "
        "Dashboards URL import the saved objects",
        (*CLUSTER, "retention", "dashboards_url"),
    )
    c = _command(
        sub,
        "check",
        cmd_check,
        "check the configuration, log files, state directory, cluster, templates and write access",
        (*SOURCE, *CLUSTER, "state_dir", "retention"),
    )
    c.add_argument(
        "paths", nargs="*", default=[], metavar="PATH|GLOB", help="logs to check (default: as `run`)"
    )
    b = _command(
        sub,
        "backfill",
        cmd_backfill,
        "ship archived logs (plain/gz/bz2/xz/zst), oldest first, each once",
        (*SOURCE, *CLUSTER, "state_dir"),
    )
    b.add_argument("files", nargs="+", metavar="PATH|GLOB")
    b.add_argument(
        "--quiet", action="store_true", help="no progress (a bar on a terminal, else a line every 10 s)"
    )
    r = _command(
        sub,
        "run",
        cmd_run,
        "the sidecar: follow logs (default: cPanel's exim_*log) into OpenSearch",
        (*SOURCE, *CLUSTER, "state_dir", *OBSERVE),
    )
    r.add_argument(
        "paths", nargs="*", default=[], metavar="PATH|GLOB", help="followed logs (default: the paths setting)"
    )
    h = _command(
        sub,
        "health",
        cmd_health,
        "the sidecar's health check: are its logs shipped or advancing?",
        ("state_dir",),
    )
    h.add_argument(
        "paths", nargs="*", default=[], metavar="PATH|GLOB", help="followed logs (default: as `run`)"
    )
    h.add_argument(
        "--max-stall",
        type=float,
        default=None,
        metavar="SECONDS",
        help="how long unshipped lines may wait without the checkpoint moving (default 300)",
    )
    dl = sub.add_parser(
        "deadletter",
        help="the documents OpenSearch refused for good (in the state directory)",
        description="the documents OpenSearch refused for good (in the state directory)",
    )
    dl_sub = dl.add_subparsers(dest="deadletter_command", required=True, metavar="ACTION")
    _command(
        dl_sub,
        "replay",
        cmd_deadletter_replay,
        "send the dead letters again once the cause is fixed; what is stored leaves the file",
        (*CLUSTER, "state_dir"),
    )
    return top


def load_settings(args: argparse.Namespace) -> Settings:
    """The command's flags over EXIM_SHIPPER_* over the config file over the defaults."""
    flags = {name: v for name in args.setting_flags if (v := getattr(args, name)) is not None}
    if getattr(args, "paths", None):
        flags["paths"] = args.paths
    for line in unknown_variables(os.environ):
        _warn(line)
    return load(flags, args.config)


def main(argv: Sequence[str] | None = None) -> int:
    args, unknown = build_parser().parse_known_args(argv)
    if unknown:  # argparse would show the top-level usage; the subcommand's says what it takes
        args.parser.error(f"unrecognized arguments: {' '.join(unknown)}")
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
