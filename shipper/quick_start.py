"""`trace` over files and `parse` without the settings machinery, when only their own flags could set them.

Importing pydantic-settings and building Settings takes about 0.2 s, as long as exigrep's whole search of
a 100k-line log, and `trace` must be as fast as exigrep. The trace of files reads two settings, the time
zone and the server name (nothing on its path logs), so when no config file and no EXIM_SHIPPER_*
variable exists and the command line holds only NEEDLE FILE... and those two flags, they alone decide:
Settings leaves both empty by default, meaning the machine's (shipper.machine), and a zone is checked by
loading it, as Settings checks it. Any other command line (help, --config, another flag, a typo, a bad
zone) goes to shipper.cli and its one Settings, which then says what is wrong as it always did.
tests/unit/test_quick_start.py holds the two paths to the same answers.

`parse` goes the same way under the same conditions (its flags: the two above, `--messages` and
`--max-open N`), with the defaults of the other settings it reads: pydantic-settings is ~27 MB of its
peak RSS (issue 11's target is 150 MB), and the summaries of `parse --messages` are what it holds besides.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from shipper.errors import ShipperError
from shipper.machine import host_name, local_zone_name

ENV_PREFIX = "EXIM_SHIPPER_"
"""shipper.settings.ENV_PREFIX, which cannot be imported without pydantic-settings."""
# The settings the trace of files reads, by the flags shipper.cli makes of their names.
FLAGS = {"--timezone": "timezone", "--server-name": "server_name"}
# parse's own: its flags with a value, and without.
PARSE_FLAGS = {**FLAGS, "--max-open": "max_open"}
PARSE_SWITCHES = {"--messages": "messages"}


@dataclass(frozen=True, slots=True)
class QuickTrace:
    """A trace over files as the command line asks for it; an empty setting means the machine's."""

    needle: str
    files: list[str]
    timezone: str = ""
    server_name: str = ""


@dataclass(frozen=True, slots=True)
class QuickParse:
    """A parse as the command line asks for it; the settings it reads that no flag here sets are
    Settings' defaults (tests/unit/test_quick_start.py holds them equal)."""

    files: list[str]
    messages: bool = False
    max_open: int = 100_000
    timezone: str = ""
    server_name: str = ""
    input_format: Literal["auto", "exim", "syslog", "journal"] = "auto"
    syslog_programs: tuple[str, ...] = ("exim", "exim4")
    index_prefix: str = "exim"

    def effective_timezone(self) -> str:
        return self.timezone or local_zone_name()

    def effective_server_name(self) -> str:
        return self.server_name or host_name()


def quick_parse(argv: Sequence[str], environ: Mapping[str, str]) -> QuickParse | None:
    """The parse `argv` asks for when it can run without Settings, else None."""
    if not argv or argv[0] != "parse" or _configured(environ):
        return None
    args = _arguments(iter(argv[1:]), PARSE_FLAGS, PARSE_SWITCHES, most_runs=1)
    if args is None:
        return None
    files, values = args
    zone = values.get("timezone", "")
    if zone and not _loads(zone):
        return None
    max_open = values.get("max_open", "100000")
    if not (max_open.isascii() and max_open.isdigit()):
        return None  # argparse's int() takes more (signs, spaces, other digits): shipper.cli's
    return QuickParse(
        files,
        messages="messages" in values,
        max_open=int(max_open),
        timezone=zone,
        server_name=values.get("server_name", ""),
    )


def _configured(environ: Mapping[str, str]) -> bool:
    """Whether a variable may set something (pydantic-settings matches their names in any case)."""
    return any(name.upper().startswith(ENV_PREFIX) for name in environ)


def quick_trace(argv: Sequence[str], environ: Mapping[str, str]) -> QuickTrace | None:
    """The trace over files `argv` asks for when it can run without Settings, else None."""
    if not argv or argv[0] != "trace":
        return None
    if _configured(environ):
        return None
    args = _arguments(iter(argv[1:]), FLAGS, {}, most_runs=1)
    if args is None:
        return None
    positionals, values = args
    if len(positionals) < 2 or not positionals[0]:
        return None  # no FILE is the fleet trace, no NEEDLE an error: shipper.cli's
    zone = values.get("timezone", "")
    if zone and not _loads(zone):
        return None
    return QuickTrace(positionals[0], positionals[1:], zone, values.get("server_name", ""))


def _arguments(
    args: Iterator[str], flags: Mapping[str, str], switches: Mapping[str, str], *, most_runs: int
) -> tuple[list[str], dict[str, str]] | None:
    """The positionals and the flags' values (a switch's: empty), as argparse would read them; None for
    anything else."""
    positionals: list[str] = []
    values: dict[str, str] = {}
    runs = 0
    after_positional = False
    for arg in args:
        if not arg.startswith("-") or arg == "-":  # `-` is stdin, a FILE
            runs += not after_positional
            after_positional = True
            positionals.append(arg)
            continue
        after_positional = False
        if arg in switches:
            values[switches[arg]] = ""
            continue
        flag, eq, value = arg.partition("=")
        name = flags.get(flag)
        if name is None:
            return None  # -h, --config, `--`, another flag, an abbreviation or a typo
        if not eq:
            given = next(args, None)
            if given is None or given.startswith("-"):
                return None  # argparse: "expected one argument"
            value = given
        values[name] = value  # the last one wins, as with argparse
    # argparse fills the positionals from their first run and refuses a second one.
    return (positionals, values) if runs <= most_runs else None


def _loads(zone: str) -> bool:
    from zoneinfo import ZoneInfo  # noqa: PLC0415 - only when a zone is given

    try:
        ZoneInfo(zone)
    except Exception:  # whatever it is, shipper.cli says it in one line
        return False
    return True


def run(argv: Sequence[str], environ: Mapping[str, str]) -> int | None:
    """The exit status of the trace over files `argv` asks for, run here; None when shipper.cli must
    run the command line."""
    parse = quick_parse(argv, environ)
    request = quick_trace(argv, environ)
    if request is None and parse is None:
        return None
    # Ended as shipper.cli.main ends a command.
    try:
        if parse is not None:
            # Imported here, as below; shipper.cli configures the logs before any command.
            from shipper import logs  # noqa: PLC0415
            from shipper.commands.files import parse as parse_files  # noqa: PLC0415

            logs.configure("text")
            return parse_files(parse.files, parse, messages=parse.messages, max_open=parse.max_open)
        assert request is not None
        # Imported here: every other command goes to shipper.cli without paying for the parser twice.
        from shipper.trace_files import print_trace  # noqa: PLC0415

        return print_trace(
            request.files,
            request.needle,
            zone=request.timezone or local_zone_name(),
            server=request.server_name or host_name(),
            host_from_syslog=not request.server_name,
        )
    except ShipperError as exc:
        print(f"exim-shipper: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        sys.stderr.close()
        return 0
