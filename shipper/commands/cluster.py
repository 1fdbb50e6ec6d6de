"""Commands that talk to a cluster: report, setup, backfill, run, check, health and deadletter replay."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from dataclasses import replace
from datetime import UTC, datetime

import orjson

from shipper import __version__
from shipper.commands import EXIT_ERROR, EXIT_OK, warn
from shipper.errors import ClusterError, ConfigError, Interrupted, Unhealthy
from shipper.opensearch.retry import RetryPolicy
from shipper.settings import CONFIG_ENV, Settings, url_without_userinfo
from shipper.trace import MAX_MESSAGES, MAX_ROUNDS, MAX_SESSION_LINES, fleet_trace, render_fleet

# The logger keeps the name it had in shipper.cli: log collectors filter on it.
log = logging.getLogger("shipper.cli")


def trace_fleet(needle: str, settings: Settings) -> int:
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
            warn(f"{line}; reindex or delete it: the templates only shape indices made after them")
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
    from shipper import heap, preflight, progress
    from shipper.opensearch.connection import connect
    from shipper.pipeline import FileReport, Shipper, expand
    from shipper.summary_table import print_summary

    heap.tune()
    paths = expand(args.files)
    cluster = connect(settings)
    shipper = Shipper(settings, cluster, RetryPolicy.from_settings(settings))
    reports = []
    try:
        warn(preflight.require_templates(cluster, settings))
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
    from shipper import heap, metrics, preflight
    from shipper.opensearch.connection import connect
    from shipper.pipeline import Shipper
    from shipper.status import Monitor, Status

    heap.tune()
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
        warn(policy.call(lambda: preflight.require_templates(client, settings)))
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
