"""docker/entrypoint.sh run with bash against the real installed `exim-shipper`, no cluster needed.

Nothing is faked: PATH holds the venv's own `exim-shipper`, OpenSearch URLs point at a closed port, and
what the script exec'd is read from /proc. The path where the cluster comes up is in
tests/integration/test_entrypoint.py.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "docker" / "entrypoint.sh"
BIN = Path(sys.executable).parent
LINE = b"2025-02-01 10:00:00 1tXaaa-00000000001-0ABC <= a@x.example U=u P=local S=1 for b@y.example\n"


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def env(**extra: str) -> dict[str, str]:
    """A container-like environment: only PATH (the venv's bin first), HOME and what the test sets."""
    return {"PATH": f"{BIN}:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp"), **extra}


def entrypoint(*args: str, timeout: float = 30, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        env=env(**extra),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def start(*args: str, **extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["bash", str(SCRIPT), *args],
        env=env(**extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_until(predicate: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(predicate) and predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


@pytest.mark.parametrize("mode", [[], ["run"], ["setup"]])
def test_missing_opensearch_url_is_one_line(mode: list[str]) -> None:
    """No URL and no config file: one line naming the variable, exit 1, nothing started."""
    res = entrypoint(*mode)
    assert res.returncode == 1
    assert res.stdout == ""
    assert res.stderr == (
        "exim-shipper: EXIM_SHIPPER_OPENSEARCH_URL is not set "
        "(the cluster's URL, e.g. http://opensearch:9200)\n"
    )


def test_bad_entrypoint_settings_are_one_line(tmp_path: Path) -> None:
    """An unreadable config file, a non-numeric timeout and an unwritable state directory."""
    res = entrypoint(EXIM_SHIPPER_CONFIG=str(tmp_path / "missing.toml"))
    assert (res.returncode, res.stderr.count("\n")) == (1, 1)
    assert "missing.toml, which is not a readable file" in res.stderr

    url = f"http://127.0.0.1:{closed_port()}"
    res = entrypoint(EXIM_SHIPPER_OPENSEARCH_URL=url, EXIM_SHIPPER_SETUP_TIMEOUT="soon")
    assert (res.returncode, res.stderr) == (
        1,
        "exim-shipper: EXIM_SHIPPER_SETUP_TIMEOUT must be whole seconds, not 'soon'\n",
    )

    blocker = tmp_path / "file"
    blocker.write_bytes(b"")  # a volume that is not there: the directory cannot be made
    res = entrypoint(EXIM_SHIPPER_OPENSEARCH_URL=url, EXIM_SHIPPER_STATE_DIR=str(blocker / "state"))
    assert res.returncode == 1
    assert res.stderr == (
        f"exim-shipper: state directory {blocker / 'state'} is not writable by uid {os.getuid()} "
        "(mount a writable volume there)\n"
    )


def test_setup_error_that_will_not_mend_ends_at_once() -> None:
    """A bad setting is not retried: setup's own one-line error, exit 1, well inside the timeout."""
    began = time.monotonic()
    res = entrypoint(
        "setup",
        EXIM_SHIPPER_OPENSEARCH_URL=f"http://127.0.0.1:{closed_port()}",
        EXIM_SHIPPER_INDEX_PREFIX="Not/Valid",
        EXIM_SHIPPER_SETUP_TIMEOUT="60",
    )
    assert res.returncode == 1
    assert res.stderr.startswith("exim-shipper: invalid setting index_prefix:")
    assert res.stderr.count("\n") == 1
    assert time.monotonic() - began < 10


def test_setup_retries_while_unreachable_then_gives_up() -> None:
    """Connection refused is retried, each attempt said on one line, until the timeout."""
    port = closed_port()
    res = entrypoint(
        "setup",
        EXIM_SHIPPER_OPENSEARCH_URL=f"http://127.0.0.1:{port}",
        # Long enough for two attempts even when each CLI start takes seconds on a loaded machine.
        EXIM_SHIPPER_SETUP_TIMEOUT="8",
        EXIM_SHIPPER_SETUP_RETRY_DELAY="0.2",
    )
    assert res.returncode == 1
    lines = res.stderr.splitlines()
    assert len(lines) >= 2
    assert all(
        line.startswith("exim-shipper: waiting for OpenSearch (setup: cannot connect to OpenSearch")
        for line in lines[:-1]
    )
    assert lines[-1].startswith(
        "exim-shipper: OpenSearch still unavailable after 8s: setup: cannot connect to OpenSearch"
    )


@pytest.mark.parametrize(("mode", "status"), [("run", 0), ("setup", 143)])
def test_stop_while_waiting_for_the_cluster_is_prompt(mode: str, status: int) -> None:
    """SIGTERM between attempts ends the wait at once: 0 for the sidecar (as `run` does), 143 for setup."""
    proc = start(
        mode,
        EXIM_SHIPPER_OPENSEARCH_URL=f"http://127.0.0.1:{closed_port()}",
        EXIM_SHIPPER_SETUP_RETRY_DELAY="60",
    )
    assert proc.stderr is not None
    first = proc.stderr.readline()
    assert first.startswith("exim-shipper: waiting for OpenSearch"), first
    time.sleep(0.2)  # inside the 60 s wait
    began = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert time.monotonic() - began < 3
    assert proc.returncode == status
    stopped = "while waiting for OpenSearch" if mode == "run" else "before setup completed"
    assert err == f"exim-shipper: stopped {stopped}\n"


def cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]
    except FileNotFoundError:
        return []


def catches_sigterm(pid: int) -> bool:
    """Whether the process has installed a SIGTERM handler (SigCgt in /proc/PID/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) & (1 << (signal.SIGTERM - 1)))
    return False


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("args", [["run", "--server-name", "mx9"], ["--server-name", "mx9"]])
def test_run_is_exec_and_sigterm_reaches_it(args: list[str], tmp_path: Path) -> None:
    """The script's own pid becomes `exim-shipper run ARG…`, so SIGTERM reaches it: drain, exit 0."""
    log = tmp_path / "exim_mainlog"
    log.write_bytes(LINE)
    proc = start(
        *args,
        str(log),
        EXIM_SHIPPER_OPENSEARCH_URL=f"http://127.0.0.1:{closed_port()}",
        EXIM_SHIPPER_STATE_DIR=str(tmp_path / "state"),
        EXIM_SHIPPER_SETUP_TIMEOUT="0",  # straight to `run`, which waits for the cluster itself
    )
    wait_until(
        lambda: cmdline(proc.pid)[1:] == [str(BIN / "exim-shipper"), "run", "--server-name", "mx9", str(log)]
    )
    assert Path(cmdline(proc.pid)[0]).name.startswith("python")  # no shell left in between
    wait_until(lambda: catches_sigterm(proc.pid))
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "stopped while OpenSearch was unavailable" in err
    assert (tmp_path / "state").is_dir()  # made by the entrypoint's check


def test_other_commands_are_passed_through(tmp_path: Path) -> None:
    """`parse`, `health`, … run as `exim-shipper COMMAND`, without the sidecar's checks."""
    log = tmp_path / "exim_mainlog"
    log.write_bytes(LINE)
    res = entrypoint("parse", str(log), "--timezone", "UTC", "--server-name", "mx9")
    assert res.returncode == 0, res.stderr
    assert '"action":"message_arrived"' in res.stdout
    assert '"name":"mx9"' in res.stdout


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["run", "--opensearch-url", "http://admin:s3cret@x:9200"], "opensearch-url"),
        (["--index-prefix", "foo"], "index-prefix"),  # no command: run's flags
        (["run", "--server-name", "mx9", "--index-prefix=foo"], "index-prefix"),
        (["run", "--index-p", "foo"], "index-prefix"),  # argparse would take the abbreviation
        (["run", "--username", "u"], "username"),
        (["setup", "--ca-certs", "/ca.pem"], "ca-certs"),
        (["setup", "--dashboards-url", "http://d:5601", "--retention", "7d"], "retention"),
    ],
)
def test_settings_setup_and_run_share_are_refused_as_flags(args: list[str], flag: str) -> None:
    """`run --index-prefix foo` used to install the `exim` templates, then ship to `foo-*`; and
    `run --opensearch-url URL` stopped on the missing variable. Both now say what to set, in one line,
    before anything runs (with or without the variable), and never echo the value."""
    for extra in ({}, {"EXIM_SHIPPER_OPENSEARCH_URL": f"http://127.0.0.1:{closed_port()}"}):
        res = entrypoint(*args, **extra)
        variable = "EXIM_SHIPPER_" + flag.replace("-", "_").upper()
        assert (res.returncode, res.stdout) == (1, "")
        assert res.stderr == (
            f"exim-shipper: --{flag}: the container takes this setting from the environment, "
            f"set {variable} instead (setup and run must agree on it)\n"
        )


def test_flags_after_double_dash_and_of_other_commands_pass() -> None:
    """Only run/setup options are checked: a path after `--` and other commands' flags go through."""
    res = entrypoint("report", "--index-prefix", "x")
    assert res.stderr == (
        "exim-shipper: no OpenSearch URL configured (--opensearch-url or EXIM_SHIPPER_OPENSEARCH_URL)\n"
    )
    res = entrypoint("run", "--", "--index-prefix")
    assert res.stderr.startswith("exim-shipper: EXIM_SHIPPER_OPENSEARCH_URL is not set")


PROXY_502 = b"""<html>
<head><title>502 Bad Gateway</title></head>
<body>
<center><h1>502 Bad Gateway</h1></center>
<hr><center>nginx/1.22.1</center>
</body>
</html>
"""


def test_setup_retries_a_dashboards_behind_a_proxy_answering_502(tmp_path: Path) -> None:
    """Dashboards still starting behind nginx: its HTML 502 page is one line (its title), which the
    script sees as transient and retries until the import goes through."""
    answers = [(502, PROXY_502, "text/html")] * 2 + [
        (200, b'{"success":true,"successCount":0}', "application/json")
    ]
    asked: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: object) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            asked.append(self.path)
            status, body, kind = answers[min(len(asked), len(answers)) - 1]
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    config = tmp_path / "shipper.toml"  # only Dashboards: setup imports and installs nothing else
    config.write_text(f'dashboards_url = "{url}"\n')
    try:
        res = entrypoint(
            "setup",
            EXIM_SHIPPER_CONFIG=str(config),
            EXIM_SHIPPER_SETUP_TIMEOUT="30",
            EXIM_SHIPPER_SETUP_RETRY_DELAY="0.1",
        )
    finally:
        server.shutdown()
        server.server_close()
    assert res.returncode == 0, res.stderr
    assert res.stdout == "saved objects: 0 imported (overwrite)\n"
    assert (
        res.stderr.splitlines()
        == [f"exim-shipper: waiting for OpenSearch (dashboards {url}: HTTP 502: 502 Bad Gateway)"] * 2
    )
    assert asked == ["/api/saved_objects/_import?overwrite=true"] * 3
