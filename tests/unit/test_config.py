"""Configuration as a fleet admin meets it: `--config` or EXIM_SHIPPER_CONFIG, the order of sources, and
every mistake in a file, a variable or a flag as one line naming where it is, for every command."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from shipper import cli
from shipper.errors import ConfigError
from shipper.settings import load

COMMANDS = [
    ["parse", "/nonexistent.log"],
    ["trace", "1tXaaa-00000000001-0ABC", "/nonexistent.log"],
    ["report"],
    ["setup"],
    ["check"],
    ["backfill", "/nonexistent.log"],
    ["run", "/nonexistent.log"],
    ["health", "/nonexistent.log"],
]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("EXIM_SHIPPER_"):
            monkeypatch.delenv(name)


def fails(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """Run the CLI in-process; assert exit 1, nothing on stdout, one `exim-shipper: …` line on stderr."""
    rc = cli.main(list(argv))
    out, err = capsys.readouterr()
    assert (rc, out) == (1, ""), err
    assert err.startswith("exim-shipper: ") and err.count("\n") == 1, err
    return err.removeprefix("exim-shipper: ").removesuffix("\n")


def toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "exim-shipper.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_unknown_key_in_the_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: list[str]
) -> None:
    """`batch_max_dcos = 500` used to be ignored without a word."""
    path = toml(tmp_path, 'index_prefix = "mail"\nbatch_max_dcos = 500\n')
    line = fails(capsys, *command, "--config", str(path))
    assert line == f"{path}: unknown setting 'batch_max_dcos' (did you mean 'batch_max_docs'?)"


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_wrong_type_in_the_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: list[str]
) -> None:
    path = toml(tmp_path, 'batch_max_docs = "many"\n')
    line = fails(capsys, *command, "--config", str(path))
    assert line == (
        f"{path}: invalid setting batch_max_docs: Input should be a valid integer, unable to parse string as an integer"
    )


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_malformed_toml(capsys: pytest.CaptureFixture[str], tmp_path: Path, command: list[str]) -> None:
    """A 49-line traceback once; now the file, the line and the column."""
    path = toml(tmp_path, 'index_prefix = "mail"\nopensearch_url = http://node:9200\n')
    line = fails(capsys, *command, "--config", str(path))
    assert line == f"{path}: line 2, column 18: not valid TOML: Invalid value"


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_named_file_that_does_not_exist(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, command: list[str]
) -> None:
    missing = tmp_path / "missing.toml"
    assert fails(capsys, *command, "--config", str(missing)) == (
        f"{missing}: no such config file (named by --config)"
    )
    monkeypatch.setenv("EXIM_SHIPPER_CONFIG", str(missing))
    assert fails(capsys, *command) == f"{missing}: no such config file (named by EXIM_SHIPPER_CONFIG)"


def test_a_directory_or_an_unreadable_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert fails(capsys, "report", "--config", str(tmp_path)) == (
        f"{tmp_path}: is a directory, not a config file (named by --config)"
    )
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00")
    assert fails(capsys, "report", "--config", str(binary)) == f"{binary}: not a TOML file (not UTF-8 text)"


def test_a_bad_value_from_the_environment_is_not_blamed_on_the_file(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = toml(tmp_path, "batch_max_docs = 10\n")
    monkeypatch.setenv("EXIM_SHIPPER_BATCH_MAX_DOCS", "many")
    assert fails(capsys, "report", "--config", str(path)) == (
        "invalid setting batch_max_docs: Input should be a valid integer, unable to parse string as an integer"
    )


def test_precedence_defaults_file_environment_flags(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """defaults < TOML file < EXIM_SHIPPER_* < flags, each source overriding only what it sets."""
    path = toml(tmp_path, 'index_prefix = "file"\nretention = "7d"\nbatch_max_docs = 10\n')
    assert load({}).index_prefix == "exim"
    assert load({}, str(path)).index_prefix == "file"
    monkeypatch.setenv("EXIM_SHIPPER_INDEX_PREFIX", "env")
    monkeypatch.setenv("EXIM_SHIPPER_RETENTION", "14d")
    got = load({"index_prefix": "flag"}, str(path))
    assert (got.index_prefix, got.retention, got.batch_max_docs) == ("flag", "14d", 10)
    assert load({}, str(path)).index_prefix == "env"
    monkeypatch.setenv("EXIM_SHIPPER_CONFIG", str(path))
    assert load({}).batch_max_docs == 10  # the variable names the file when --config does not
    other = toml(tmp_path / "..", "batch_max_docs = 20\n")
    assert load({}, str(other)).batch_max_docs == 20  # --config wins over the variable


def test_unknown_variable_is_a_warning_and_the_command_goes_on(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("EXIM_SHIPPER_BATCH_MAX_DCOS", "500")
    monkeypatch.setenv("EXIM_SHIPPER_TEST_ANYTHING", "1")  # the test suite's own
    monkeypatch.setenv("EXIM_SHIPPER_SETUP_TIMEOUT", "5")  # the container entrypoint's
    empty = tmp_path / "exim_mainlog"
    empty.write_bytes(b"")
    assert cli.main(["parse", str(empty), "--timezone", "UTC"]) == 0
    warnings = [x for x in capsys.readouterr().err.splitlines() if "warning" in x]
    assert warnings == [
        "exim-shipper: warning: EXIM_SHIPPER_BATCH_MAX_DCOS is not a setting and is ignored "
        "(did you mean EXIM_SHIPPER_BATCH_MAX_DOCS?)"
    ]


def test_password_and_api_key_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The secret is read from the file, its trailing newline dropped; never both a secret and its file."""
    secret = tmp_path / "password"
    secret.write_text("s3cret pass\n")
    key = tmp_path / "api_key"
    key.write_text("a2V5\r\n")
    path = toml(tmp_path, f'password_file = "{secret}"\napi_key_file = "{key}"\n')
    got = load({}, str(path))
    assert got.password is not None and got.password.get_secret_value() == "s3cret pass"
    assert got.api_key is not None and got.api_key.get_secret_value() == "a2V5"
    assert "s3cret" not in repr(got)
    monkeypatch.setenv("EXIM_SHIPPER_PASSWORD", "other")
    with pytest.raises(ConfigError) as both:
        load({}, str(path))
    assert str(both.value) == f"{path}: invalid setting password_file: password is set too; keep one of them"


@pytest.mark.parametrize(
    ("content", "problem"),
    [(None, "cannot read {path} (No such file or directory)"), ("\n", "{path} is empty")],
)
def test_secret_file_missing_or_empty(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: str | None, problem: str
) -> None:
    path = tmp_path / "api_key"
    if content is not None:
        path.write_text(content)
    config = toml(tmp_path, f'api_key_file = "{path}"\n')
    line = fails(capsys, "report", "--config", str(config))
    assert line == f"{config}: invalid setting api_key_file: {problem.format(path=path)}"


def help_text(*command: str) -> str:
    res = subprocess.run(
        [sys.executable, "-m", "shipper", *command, "--help"], capture_output=True, text=True, check=True
    )
    return res.stdout


def options(command: str) -> set[str]:
    usage = help_text(command).split("\n\n", 1)[0]
    return set(re.findall(r"\[(--[a-z-]+)", usage)) - {"--help"}


SOURCE = {"--timezone", "--server-name", "--input-format"}
CLUSTER = {"--opensearch-url", "--index-prefix", "--username", "--ca-certs"}
OBSERVE = {"--metrics-address", "--stats-interval", "--outage-reminder-interval"}


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("parse", {"--config", *SOURCE, "--messages", "--max-open"}),
        ("trace", {"--config", *SOURCE, *CLUSTER}),
        ("report", {"--config", *CLUSTER, "--since", "--until", "--server", "--top", "--json"}),
        ("setup", {"--config", *CLUSTER, "--retention", "--dashboards-url"}),
        ("check", {"--config", *SOURCE, *CLUSTER, "--state-dir", "--retention"}),
        ("backfill", {"--config", *SOURCE, *CLUSTER, "--state-dir", "--quiet"}),
        ("run", {"--config", *SOURCE, *CLUSTER, "--state-dir", *OBSERVE}),
        ("health", {"--config", "--state-dir", "--max-stall"}),
    ],
)
def test_each_command_lists_only_the_options_it_uses(command: str, expected: set[str]) -> None:
    assert options(command) == {*expected, "--log-format"}  # every command logs


def test_no_command_takes_a_secret_as_a_flag() -> None:
    """Flags show in `ps` and shell history: passwords and keys come from the environment or files."""
    for command in ("parse", "trace", "report", "setup", "check", "backfill", "run", "health"):
        text = help_text(command)
        assert "--password" not in text.replace("--password-file", "") and "--api-key" not in text
    with pytest.raises(TypeError, match="password is a secret"):
        cli._setting_flags(argparse.ArgumentParser(), ["password"])


def test_flags_come_from_the_settings_fields() -> None:
    """Name, type and help of a flag follow its field: exposing a setting is naming it."""
    p = argparse.ArgumentParser()
    cli._setting_flags(p, ["http_compress", "batch_max_docs", "paths", "close_inactive"])
    args = p.parse_args(["--no-http-compress", "--batch-max-docs", "7", "--paths", "a", "--paths", "b"])
    assert (args.http_compress, args.batch_max_docs, args.paths, args.close_inactive) == (
        False,
        "7",
        ["a", "b"],
        None,
    )
    text = " ".join(p.format_help().split())
    assert "--batch-max-docs DOCS" in text and "Documents per bulk request at most. (default: 2000)" in text
    assert "(default: 300)" in text  # a float default shown without its .0


def test_trace_usage_shows_files_as_optional() -> None:
    """In the usage, and in the error when the target is missing (argparse counts a `*` positional
    without a default among the required ones)."""
    assert "NEEDLE [FILE ...]" in " ".join(help_text("trace").split())
    res = subprocess.run(
        [sys.executable, "-m", "shipper", "trace"], capture_output=True, text=True, check=False
    )
    assert res.returncode == 2
    assert (
        res.stderr.splitlines()[-1]
        == "exim-shipper trace: error: the following arguments are required: NEEDLE"
    )


@pytest.mark.parametrize("command", ["report", "trace", "run", "check"])
def test_a_bad_option_shows_that_commands_usage(command: str) -> None:
    args = [command, "1tXaaa-00000000001-0ABC"] if command == "trace" else [command]
    res = subprocess.run(
        [sys.executable, "-m", "shipper", *args, "--bogus"], capture_output=True, text=True, check=False
    )
    assert res.returncode == 2
    assert res.stderr.startswith(f"usage: exim-shipper {command} ")
    assert res.stderr.splitlines()[-1] == f"exim-shipper {command}: error: unrecognized arguments: --bogus"


def test_version_stays_at_the_top() -> None:
    res = subprocess.run(
        [sys.executable, "-m", "shipper", "--version"], capture_output=True, text=True, check=True
    )
    assert re.fullmatch(r"exim-shipper \S+\n", res.stdout)
