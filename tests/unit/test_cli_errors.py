"""Bad invocations end in one clear line on stderr and exit status 1: no traceback, no password.

Each row is a command line (and environment) that once ended in a Python exception instead; cli.main is
called in-process, so an exception escaping it fails the test with its traceback.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from shipper import cli
from shipper.opensearch import dashboards

SECRET = "p@ss"
RANGE = "the port must be a number from 1 to 65535"
SHAPE = "expected http(s)://host[:port][/path]"
USERINFO = (
    "no user:password@ in URLs (they show in `ps`, logs and shell history); "
    "set username with password or password_file, or api_key_file, instead"
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("EXIM_SHIPPER_"):
            monkeypatch.delenv(name)


def one_line(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """Run the CLI; assert exit 1 and a single `exim-shipper: …` line; return that line's message.

    `run` gets a process of its own with a deadline: a sidecar that accepted its settings would wait
    for its cluster for ever, and a failing test must not hang the suite.
    """
    if argv[0] == "run":
        res = subprocess.run(
            [sys.executable, "-m", "shipper", *argv],
            env={k: v for k, v in os.environ.items() if not k.startswith("EXIM_SHIPPER_")},
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
        rc, out, err = res.returncode, res.stdout, res.stderr
    else:
        rc = cli.main(list(argv))
        out, err = capsys.readouterr()
    assert (rc, out) == (1, "")
    assert err.startswith("exim-shipper: ") and err.count("\n") == 1 and err.endswith("\n"), err
    return err.removeprefix("exim-shipper: ").removesuffix("\n")


@pytest.mark.parametrize(
    ("since", "message"),
    [
        ("100000000d", "--since '100000000d': outside the years 1 to 9999"),
        ("0001-01-01T00:00:00+01:00", "--since '0001-01-01T00:00:00+01:00': outside the years 1 to 9999"),
        ("9999-12-31T23:59:59-01:00", "--since '9999-12-31T23:59:59-01:00': outside the years 1 to 9999"),
    ],
)
def test_report_window_beyond_the_calendar(
    capsys: pytest.CaptureFixture[str], since: str, message: str
) -> None:
    assert one_line(capsys, "report", "--since", since) == message


BAD_URLS = [
    ("http://127.0.0.1:99999", f"'http://127.0.0.1:99999': {RANGE}"),
    ("http://host:abc", f"'http://host:abc': {RANGE}"),
    ("http://host:0", f"'http://host:0': {RANGE}"),
    ("http://[::1", f"'http://[::1': not a URL, {SHAPE}"),
    ("ftp://host", f"'ftp://host': {SHAPE}"),
    ("nowhere.invalid:9200", f"'nowhere.invalid:9200': {SHAPE}"),
    # userinfo is refused, and never shown, wherever the password's own @ or / would make a parser cut it
    (f"http://admin:{SECRET}@host:9200", f"'http://host:9200': {USERINFO}"),
    ("https://admin@host", f"'https://host': {USERINFO}"),
    (f"http://admin:{SECRET}@host:abc", f"'http://host:abc': {USERINFO}"),
    (f"ftp://admin:{SECRET}@host", f"'ftp://host': {SHAPE}"),
    (f"admin:{SECRET}@nowhere.invalid:9200", f"'nowhere.invalid:9200': {SHAPE}"),
    # the password's "/" ends the host part there: the host parsed would be "ss", a piece of it
    (f"http://admin:{SECRET}/x@nowhere.invalid", f"'http://nowhere.invalid': {USERINFO}"),
]


@pytest.mark.parametrize(
    "command",
    [["report"], ["trace", "1tXaaa-00000000001-0ABC"], ["setup"], ["backfill", "/nonexistent.log"]],
)
@pytest.mark.parametrize(("url", "message"), BAD_URLS)
def test_bad_opensearch_url(
    capsys: pytest.CaptureFixture[str], command: list[str], url: str, message: str
) -> None:
    line = one_line(capsys, *command, "--opensearch-url", url)
    assert line == f"invalid setting opensearch_url: {message}"
    assert SECRET not in line and "admin" not in line


@pytest.mark.parametrize(("url", "message"), BAD_URLS[:2] + BAD_URLS[-1:])
def test_bad_opensearch_url_for_the_sidecar(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, url: str, message: str
) -> None:
    line = one_line(
        capsys, "run", str(tmp_path / "log"), "--opensearch-url", url, "--state-dir", str(tmp_path)
    )
    assert line == f"invalid setting opensearch_url: {message}"


def test_bad_opensearch_url_from_the_environment(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The comma-separated variable: every URL is checked, not only the first."""
    monkeypatch.setenv("EXIM_SHIPPER_OPENSEARCH_URL", f"http://127.0.0.1:9200,https://admin:{SECRET}@h:x")
    line = one_line(capsys, "report")
    assert line == f"invalid setting opensearch_url: 'https://h:x': {USERINFO}"


@pytest.mark.parametrize(("url", "message"), BAD_URLS)
def test_bad_dashboards_url(capsys: pytest.CaptureFixture[str], url: str, message: str) -> None:
    line = one_line(capsys, "setup", "--dashboards-url", url)
    assert line == f"invalid setting dashboards_url: {message}"
    assert SECRET not in line and "admin" not in line


def test_dashboards_ca_bundle_missing(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "nonexistent"
    line = one_line(capsys, "setup", "--dashboards-url", "https://127.0.0.1:1", "--ca-certs", str(missing))
    assert line == f"CA bundle {missing} (--ca-certs): cannot use it (No such file or directory)"


def test_saved_objects_file_that_is_not_ndjson(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A damaged install (the packaged NDJSON replaced by something else) is one line too."""
    passwd = tmp_path / "passwd"
    passwd.write_text("root:x:0:0:root:/root:/bin/bash\n")
    monkeypatch.setattr(dashboards, "SAVED_OBJECTS", passwd)
    line = one_line(capsys, "setup", "--dashboards-url", "http://127.0.0.1:1", "--index-prefix", "foo")
    assert line == f"{passwd}: line 1 is not a saved object (one JSON object per line expected)"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"[1]", "not a registry of files"),
        (b'"text"', "not a registry of files"),
        (b'{"version": 1, "files": [1]}', "not a registry of files"),
        (b'{"version": 1, "files": {"1:2": 3}}', "not a registry of files"),
        (b"{bad", "not JSON"),
    ],
)
@pytest.mark.parametrize("command", ["health", "run", "backfill"])
def test_registry_that_is_not_one(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: bytes, problem: str, command: str
) -> None:
    """JSON that is not a registry is treated like JSON that does not parse: the health check says
    unhealthy, the sidecar and backfill stop before reading a line, each in one line naming the file."""
    state = tmp_path / "state"
    state.mkdir()
    registry = state / "registry.json"
    registry.write_bytes(content)
    log = tmp_path / "exim_mainlog"
    log.write_bytes(b"2025-02-01 10:00:00 1tXaaa-00000000001-0ABC <= a@x.example U=u P=local S=1\n")
    argv = [command, str(log), "--state-dir", str(state)]
    if command != "health":
        argv += ["--opensearch-url", "http://127.0.0.1:1", "--server-name", "mx1", "--timezone", "UTC"]
    line = one_line(capsys, *argv)
    assert line.removeprefix("unhealthy: ").startswith(f"checkpoint registry {registry}: {problem}")
    assert line.endswith("; move it away to start over")
    assert line.startswith("unhealthy: ") == (command == "health")
    assert registry.read_bytes() == content  # reported, not replaced
