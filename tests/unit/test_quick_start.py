"""shipper.quick_start: `trace` over files starts without the settings machinery, and answers as shipper.cli.

The quick start runs only when its own flags alone could set what the trace reads; a config file, an
EXIM_SHIPPER_* variable or any other command line goes to shipper.cli, whose Settings then decides. Each
test below runs the command as a user does (`python -m shipper`), so it passes through whichever path the
entry point picks.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from shipper import cli, quick_start, settings
from shipper.machine import host_name, local_zone_name
from shipper.quick_start import QuickTrace, quick_trace
from shipper.settings import load

ROOT = Path(__file__).resolve().parents[2]
ID = "1tXaaa-00000001abc-0ABC"
# No zone offset on the lines: the time zone setting decides the UTC times of the summary.
LOG = (
    f"2025-01-31 10:00:00 {ID} <= a@b.example U=alice P=local S=10 for c@d.example\n"
    f"2025-01-31 10:00:01 {ID} => c@d.example R=dnslookup T=remote_smtp H=mx.d.example [192.0.2.1]\n"
    f"2025-01-31 10:00:01 {ID} Completed\n"
    "2025-01-31 10:00:02 H=(x) [192.0.2.9] F=<s@bad.example> rejected RCPT <c@d.example>: no\n"
)
# What importing them costs is what the quick start saves: none may load on its path.
HEAVY = (
    "pydantic",
    "pydantic_core",
    "pydantic_settings",
    "opensearchpy",
    "urllib3",
    "rich",
    "prometheus_client",
    "importlib.metadata",
    "shipper.cli",
    "shipper.settings",
)


@pytest.fixture
def log(tmp_path: Path) -> Path:
    path = tmp_path / "exim_mainlog"
    path.write_text(LOG)
    return path


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("EXIM_SHIPPER_")}
    return {**env, **extra}


def shipper(
    *args: str, env: dict[str, str] | None = None, importtime: bool = False
) -> subprocess.CompletedProcess[str]:
    flags = ["-X", "importtime"] if importtime else []
    return subprocess.run(
        [sys.executable, *flags, "-m", "shipper", *args],
        capture_output=True,
        text=True,
        check=False,
        env=clean_env() if env is None else env,
    )


def imported(stderr: str) -> set[str]:
    """The modules `-X importtime` says were imported."""
    return {
        line.rsplit("|", 1)[1].strip()
        for line in stderr.splitlines()
        if line.startswith("import time:") and line.count("|") == 2
    }


def heavy(modules: set[str]) -> set[str]:
    return {m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY)}


def summary_row(out: str, name: str) -> str:
    rows = [line.split(None, 1)[1] for line in out.splitlines() if line.split(None, 1)[:1] == [name]]
    assert len(rows) == 1, out
    return rows[0]


# --- what it imports ----------------------------------------------------------------------------------


def test_trace_over_files_imports_none_of_the_heavy_modules(log: Path) -> None:
    res = shipper("trace", ID, str(log), "--timezone", "UTC", "--server-name", "mx9", importtime=True)
    assert res.returncode == 0, res.stderr
    assert summary_row(res.stdout, "message") == f"{ID} on mx9"
    modules = imported(res.stderr)
    assert "shipper.trace_files" in modules  # the check sees the modules the trace did import
    assert heavy(modules) == set()


def test_a_config_file_takes_the_command_to_the_settings(log: Path, tmp_path: Path) -> None:
    """The same check on a run that must build Settings finds them: it would see them come back."""
    config = tmp_path / "exim-shipper.toml"
    config.write_text('server_name = "mx9"\n')
    res = shipper("trace", ID, str(log), "--config", str(config), importtime=True)
    assert res.returncode == 0, res.stderr
    assert {"pydantic_settings", "shipper.settings", "shipper.cli"} <= heavy(imported(res.stderr))


def test_other_commands_still_start(log: Path) -> None:
    res = shipper("parse", str(log), "--timezone", "UTC")
    assert res.returncode == 0, res.stderr
    assert len(res.stdout.splitlines()) == 4
    version = shipper("--version")
    assert version.returncode == 0, version.stderr
    assert version.stdout.startswith("exim-shipper ")


def test_the_script_starts_where_python_m_shipper_does() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["exim-shipper"] == "shipper.__main__:main"


# --- settings from a file, the environment and flags, as Settings orders them ---------------------------


def test_a_config_file_sets_the_zone_and_the_server(log: Path, tmp_path: Path) -> None:
    config = tmp_path / "exim-shipper.toml"
    config.write_text('timezone = "Europe/Paris"\nserver_name = "mx-file"\n')
    for res in (
        shipper("trace", ID, str(log), "--config", str(config)),
        shipper("trace", ID, str(log), env=clean_env(EXIM_SHIPPER_CONFIG=str(config))),
    ):
        assert res.returncode == 0, res.stderr
        assert summary_row(res.stdout, "message") == f"{ID} on mx-file"
        assert summary_row(res.stdout, "arrived") == "2025-01-31T09:00:00.000Z"


def test_variables_set_the_zone_and_the_server_in_any_case(log: Path) -> None:
    env = clean_env(EXIM_SHIPPER_TIMEZONE="Asia/Tokyo", exim_shipper_server_name="mx-env")
    res = shipper("trace", ID, str(log), env=env)
    assert res.returncode == 0, res.stderr
    assert summary_row(res.stdout, "message") == f"{ID} on mx-env"
    assert summary_row(res.stdout, "arrived") == "2025-01-31T01:00:00.000Z"


def test_flags_win_over_variables_and_the_file(log: Path, tmp_path: Path) -> None:
    config = tmp_path / "exim-shipper.toml"
    config.write_text('timezone = "Europe/Paris"\nserver_name = "mx-file"\n')
    env = clean_env(EXIM_SHIPPER_SERVER_NAME="mx-env", EXIM_SHIPPER_CONFIG=str(config))
    res = shipper("trace", ID, str(log), "--server-name", "mx-flag", "--timezone=UTC", env=env)
    assert res.returncode == 0, res.stderr
    assert summary_row(res.stdout, "message") == f"{ID} on mx-flag"
    assert summary_row(res.stdout, "arrived") == "2025-01-31T10:00:00.000Z"


def test_without_settings_the_machine_decides(log: Path) -> None:
    res = shipper("trace", ID, str(log))
    assert res.returncode == 0, res.stderr
    assert summary_row(res.stdout, "message") == f"{ID} on {host_name()}"


# --- errors: one line, as before ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "env", "line"),
    [
        (["--timezone", "Nope/Nowhere"], {}, "invalid setting timezone: unknown time zone 'Nope/Nowhere'"),
        # A folder of the zone database: it once escaped as an IsADirectoryError traceback.
        (["--timezone", "Europe"], {}, "invalid setting timezone: unknown time zone 'Europe'"),
        (
            [],
            {"EXIM_SHIPPER_TIMEZONE": "Mars/Olympus"},
            "invalid setting timezone: unknown time zone 'Mars/Olympus'",
        ),
        # A setting the trace of files never reads is checked all the same, as every command checks it.
        (
            [],
            {"EXIM_SHIPPER_INDEX_PREFIX": "Bad"},
            "invalid setting index_prefix: 'Bad' is not a valid lower-case index prefix",
        ),
        (["--config", "/nonexistent.toml"], {}, "/nonexistent.toml: no such config file (named by --config)"),
    ],
)
def test_a_bad_setting_is_one_line(log: Path, args: list[str], env: dict[str, str], line: str) -> None:
    res = shipper("trace", ID, str(log), *args, env=clean_env(**env))
    assert (res.returncode, res.stdout, res.stderr) == (1, "", f"exim-shipper: {line}\n")


def test_an_unknown_key_in_the_file_is_one_line(log: Path, tmp_path: Path) -> None:
    config = tmp_path / "exim-shipper.toml"
    config.write_text('time_zone = "UTC"\n')
    res = shipper("trace", ID, str(log), "--config", str(config))
    assert (res.returncode, res.stdout) == (1, "")
    assert res.stderr == f"exim-shipper: {config}: unknown setting 'time_zone' (did you mean 'timezone'?)\n"


def test_a_misspelt_variable_is_a_warning_and_the_trace_runs(log: Path) -> None:
    res = shipper("trace", ID, str(log), env=clean_env(EXIM_SHIPPER_TIMEZON="UTC"))
    assert res.returncode == 0, res.stderr
    assert res.stderr == (
        "exim-shipper: warning: EXIM_SHIPPER_TIMEZON is not a setting and is ignored "
        "(did you mean EXIM_SHIPPER_TIMEZONE?)\n"
    )
    assert f"{ID} Completed" in res.stdout


def test_missing_files_and_no_match_are_one_line_each(log: Path, tmp_path: Path) -> None:
    missing = tmp_path / "missing.log"
    res = shipper("trace", ID, str(missing), str(log), "--timezone", "UTC")
    assert res.returncode == 1
    assert res.stderr == f"exim-shipper: {missing}: no such file\n"
    assert f"{ID} Completed" in res.stdout
    none = shipper("trace", "nobody@nowhere.example", str(log))
    assert (none.returncode, none.stdout) == (1, "")
    assert none.stderr == "exim-shipper: no entry matches 'nobody@nowhere.example'\n"


def test_usage_errors_are_argparse_s(log: Path) -> None:
    """Positionals on both sides of a flag: argparse refuses them, so the quick start must not take them."""
    res = shipper("trace", ID, "--timezone", "UTC", str(log))
    assert res.returncode == 2
    assert res.stderr.splitlines()[-1] == f"exim-shipper trace: error: unrecognized arguments: {log}"
    bad = shipper("trace", ID, str(log), "--input-format", "csv")
    assert bad.returncode == 2
    assert "argument --input-format: invalid choice: 'csv'" in bad.stderr.splitlines()[-1]


# --- which command lines it takes -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["trace", ID, "a.log"], QuickTrace(ID, ["a.log"])),
        (["trace", "--timezone=UTC", ID, "a.log", "b.log"], QuickTrace(ID, ["a.log", "b.log"], "UTC")),
        (["trace", ID, "-", "--server-name", "a", "--server-name", "b"], QuickTrace(ID, ["-"], "", "b")),
        (["trace", ID, "a.log", "--timezone", "Europe/Paris"], QuickTrace(ID, ["a.log"], "Europe/Paris")),
    ],
)
def test_the_command_lines_it_runs(argv: list[str], expected: QuickTrace) -> None:
    assert quick_trace(argv, {"PATH": "/bin"}) == expected


@pytest.mark.parametrize(
    "argv",
    [
        ["parse", "a.log"],
        ["--version"],
        [],
        ["trace", ID],  # the fleet trace
        ["trace", "", "a.log"],
        ["trace", "-h"],
        ["trace", ID, "a.log", "--help"],
        ["trace", ID, "a.log", "--config", "c.toml"],
        ["trace", ID, "a.log", "--config=c.toml"],
        ["trace", ID, "a.log", "--input-format", "exim"],
        ["trace", ID, "a.log", "--log-format", "json"],
        ["trace", ID, "a.log", "--opensearch-url", "http://x:9200"],
        ["trace", ID, "a.log", "--time", "UTC"],  # argparse takes the abbreviation
        ["trace", ID, "a.log", "--timezone"],
        ["trace", ID, "a.log", "--timezone", "--server-name", "x"],
        ["trace", ID, "a.log", "--timezone", "Nope/Nowhere"],
        ["trace", ID, "a.log", "--timezone", "Europe"],
        ["trace", ID, "--timezone", "UTC", "a.log"],
        ["trace", "--", ID, "a.log"],
        ["trace", ID, "-x.log"],
    ],
)
def test_the_command_lines_it_leaves_to_the_cli(argv: list[str]) -> None:
    assert quick_trace(argv, {}) is None


@pytest.mark.parametrize(
    "name", ["EXIM_SHIPPER_CONFIG", "EXIM_SHIPPER_TIMEZONE", "exim_shipper_server_name", "EXIM_SHIPPER_X"]
)
def test_any_variable_of_ours_leaves_it_to_the_cli(name: str) -> None:
    assert quick_trace(["trace", ID, "a.log"], {name: "x"}) is None


def test_its_flags_are_the_trace_commands_settings() -> None:
    """The flags it reads are those shipper.cli makes for trace from Settings fields, by the same names."""
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    trace = sub.choices["trace"]  # type: ignore[index]
    options = {o: a.dest for a in trace._actions for o in a.option_strings}
    for flag, name in quick_start.FLAGS.items():
        assert name in settings.Settings.model_fields
        assert options[flag] == name
    assert quick_start.ENV_PREFIX == settings.ENV_PREFIX


@pytest.mark.parametrize(
    "argv",
    [
        ["trace", ID, "LOG"],
        ["trace", ID, "LOG", "--timezone", "Europe/Paris"],
        ["trace", "c@d.example", "LOG", "--server-name", "mx9", "--timezone", "Asia/Tokyo"],
        ["trace", "192.0.2.9", "LOG", "MISSING", "--timezone", "UTC"],
        ["trace", "nobody@nowhere.example", "LOG"],
    ],
)
def test_both_paths_print_the_same(
    argv: list[str],
    log: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name in list(os.environ):
        if name.upper().startswith("EXIM_SHIPPER_"):
            monkeypatch.delenv(name)
    argv = [{"LOG": str(log), "MISSING": str(tmp_path / "missing")}.get(a, a) for a in argv]
    request = quick_trace(argv, os.environ)
    assert request is not None
    # The settings it resolves are those Settings resolves from the same flags.
    flags = {k: v for k, v in (("timezone", request.timezone), ("server_name", request.server_name)) if v}
    full = load(flags)
    assert (request.timezone or local_zone_name(), request.server_name or host_name()) == (
        full.effective_timezone(),
        full.effective_server_name(),
    )
    quick_rc = quick_start.run(argv, os.environ)
    quick = capsys.readouterr()
    cli_rc = cli.main(argv)
    assert (quick_rc, quick) == (cli_rc, capsys.readouterr())
    assert quick.out or quick.err


def test_a_closed_pipe_ends_quietly(log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`trace … | head`: the reader left; exit 0 without a traceback, as shipper.cli does."""

    class Gone(io.StringIO):
        def write(self, s: str) -> int:
            raise BrokenPipeError

    stderr = io.StringIO()
    monkeypatch.setattr(sys, "stdout", Gone())
    monkeypatch.setattr(sys, "stderr", stderr)
    assert quick_start.run(["trace", ID, str(log)], {}) == 0
    assert stderr.closed


# --- parse --------------------------------------------------------------------------------------------


def test_parse_imports_none_of_the_heavy_modules(log: Path) -> None:
    res = shipper(
        "parse", "--messages", str(log), "--timezone", "UTC", "--server-name", "mx9", importtime=True
    )
    assert res.returncode == 0, res.stderr
    assert '"mx9"' in res.stdout and len(res.stdout.splitlines()) == 1  # one message's summary
    modules = imported(res.stderr)
    assert "shipper.commands.files" in modules
    assert heavy(modules) == set()


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["parse"], quick_start.QuickParse([])),
        (["parse", "-", "--messages"], quick_start.QuickParse(["-"], messages=True)),
        (
            ["parse", "--max-open=7", "--timezone", "UTC", "a", "b", "--server-name=mx"],
            quick_start.QuickParse(["a", "b"], max_open=7, timezone="UTC", server_name="mx"),
        ),
    ],
)
def test_the_parse_command_lines_it_runs(argv: list[str], expected: quick_start.QuickParse) -> None:
    assert quick_start.quick_parse(argv, {}) == expected


@pytest.mark.parametrize(
    "argv",
    [
        ["parse", "a", "--messages", "b"],  # a second run of FILEs: argparse's error
        ["parse", "a", "--max-open", "-5"],
        ["parse", "a", "--max-open", "+5"],
        ["parse", "a", "--max-open"],
        ["parse", "a", "--messages=yes"],
        ["parse", "a", "--input-format", "auto"],
        ["parse", "a", "--timezone", "Nowhere/Atall"],
        ["parse", "--mess", "a"],
        ["parse", "-h"],
        ["trace", "x", "a", "--messages"],
    ],
)
def test_the_parse_command_lines_it_leaves_to_the_cli(argv: list[str]) -> None:
    assert quick_start.quick_parse(argv, {}) is None


def test_parse_leaves_it_to_the_cli_with_a_variable_of_ours() -> None:
    assert quick_start.quick_parse(["parse", "a"], {"exim_shipper_index_prefix": "x"}) is None


def test_its_parse_defaults_are_the_settings_and_the_cli_s() -> None:
    given = load({}, None)
    quick = quick_start.QuickParse([])
    assert quick.input_format == given.input_format
    assert list(quick.syslog_programs) == given.syslog_programs
    assert quick.index_prefix == given.index_prefix
    assert (quick.server_name, quick.timezone) == (given.server_name, given.timezone)
    assert (quick.effective_server_name(), quick.effective_timezone()) == (host_name(), local_zone_name())
    args = cli.build_parser().parse_args(["parse"])
    assert (quick.messages, quick.max_open) == (args.messages, args.max_open)


@pytest.mark.parametrize("messages", [[], ["--messages"]])
def test_parse_on_both_paths_prints_the_same(log: Path, messages: list[str]) -> None:
    fixtures = ROOT / "tests" / "fixtures"
    files = [
        str(log),
        *(str(fixtures / name) for name in ("fleet_a.log", "fleet_b.log", "dashboards_mx1.log")),
    ]
    common = ["parse", *messages, "--timezone", "Europe/London", "--server-name", "mx9", *files]
    quick = shipper(*common, importtime=True)
    # An explicit default flag the quick start does not take: the same command through shipper.cli.
    slow = shipper(*common, "--input-format", "auto", importtime=True)
    assert "shipper.cli" not in imported(quick.stderr)
    assert "shipper.cli" in imported(slow.stderr)
    assert quick.returncode == slow.returncode == 0, quick.stderr
    assert quick.stdout == slow.stdout and quick.stdout

    def said(stderr: str) -> list[str]:
        return [line for line in stderr.splitlines() if not line.startswith("import time:")]

    assert said(quick.stderr) == said(slow.stderr)
