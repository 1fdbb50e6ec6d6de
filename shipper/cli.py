"""The `exim-shipper` command line: its parser (flags from Settings), main, one line per ShipperError."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from types import NoneType, UnionType
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import SecretStr
from pydantic.fields import FieldInfo

from shipper import __version__, logs
from shipper.commands import EXIT_ERROR, EXIT_OK, EXIT_USAGE, warn
from shipper.commands.files import MAX_OPEN, cmd_parse, cmd_trace
from shipper.errors import ShipperError
from shipper.settings import CONFIG_ENV, Settings, load, unknown_variables

__all__ = ["EXIT_ERROR", "EXIT_OK", "EXIT_USAGE", "build_parser", "load_settings", "main"]


# The settings each command takes as flags. A flag is made from its Settings field: `--name-with-dashes`,
# help from the field's docstring, the type from its annotation. Exposing another setting on a
# command is adding its name to that command's tuple in build_parser.
SOURCE = ("timezone", "server_name", "input_format")
CLUSTER = ("opensearch_url", "index_prefix", "username", "ca_certs")
OBSERVE = ("metrics_address", "stats_interval", "outage_reminder_interval")


def _cluster(name: str) -> Callable[[argparse.Namespace, Settings], int]:
    """`shipper.commands.cluster`'s command `name`, imported when it runs: the cluster client, the ship
    loop and the report are megabytes of modules that `parse` and the trace of files never use (issue
    11's peak RSS)."""

    def run(args: argparse.Namespace, settings: Settings) -> int:
        from shipper.commands import cluster  # noqa: PLC0415 - see above

        rc: int = getattr(cluster, name)(args, settings)
        return rc

    run.__name__ = run.__qualname__ = name
    return run


cmd_backfill = _cluster("cmd_backfill")
cmd_check = _cluster("cmd_check")
cmd_deadletter_replay = _cluster("cmd_deadletter_replay")
cmd_health = _cluster("cmd_health")
cmd_report = _cluster("cmd_report")
cmd_run = _cluster("cmd_run")
cmd_setup = _cluster("cmd_setup")


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
        default=MAX_OPEN,
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
        warn(line)
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
