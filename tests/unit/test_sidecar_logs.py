"""`exim-shipper run` against a closed loopback port: it says so at once, reminds, serves metrics, and the
health check tells the same story. No cluster is involved: nothing listens on the port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[2]
SECRET = "s3cret-pw"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


class Sidecar:
    """`exim-shipper run` in a process of its own; stderr lines collected as they come."""

    def __init__(self, tmp_path: Path, *flags: str) -> None:
        self.log = tmp_path / "exim_mainlog"
        self.log.write_bytes(b"")
        self.state = tmp_path / "state"
        env = {k: v for k, v in os.environ.items() if not k.startswith("EXIM_SHIPPER_")}
        env |= {
            "EXIM_SHIPPER_OUTAGE_REMINDER_INTERVAL": "1",
            "EXIM_SHIPPER_RETRY_MAX_WAIT": "0.2",
            "EXIM_SHIPPER_USERNAME": "shipper",
            "EXIM_SHIPPER_PASSWORD": SECRET,
        }
        url = f"http://127.0.0.1:{free_port()}"  # closed: nothing listens there
        cmd = [sys.executable, "-m", "shipper", "run", str(self.log), "--opensearch-url", url]
        cmd += ["--state-dir", str(self.state), "--timezone", "UTC", "--server-name", "mx1", *flags]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            self.lines.append(raw.decode().rstrip("\n"))

    def wait_for(self, predicate: Callable[[list[str]], bool], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self.lines):
                return
            time.sleep(0.05)
        raise AssertionError(f"not seen within {timeout}s; got {self.lines}")

    def stop(self) -> tuple[int, str]:
        self.proc.send_signal(signal.SIGTERM)
        # Not communicate(): it would read stderr too, racing the reader thread for the last lines.
        self.proc.wait(timeout=40)
        assert self.proc.stdout is not None
        out = self.proc.stdout.read()
        # The process has exited; its last stderr lines may still be in the pipe on a loaded machine.
        self.reader.join(timeout=30)
        assert not self.reader.is_alive(), "stderr was not read to its end"
        return self.proc.returncode, out.decode()


@pytest.fixture
def sidecar_factory(tmp_path: Path) -> Iterator[Callable[..., Sidecar]]:
    started: list[Sidecar] = []

    def make(*flags: str) -> Sidecar:
        s = Sidecar(tmp_path, *flags)
        started.append(s)
        return s

    yield make
    for s in started:
        if s.proc.poll() is None:
            s.proc.kill()
            s.proc.wait()


def test_unreachable_cluster_is_said_at_once_then_reminded(sidecar_factory: Callable[..., Sidecar]) -> None:
    began = time.monotonic()
    s = sidecar_factory()
    s.wait_for(lambda ls: any(" WARNING exim-shipper: cannot connect to OpenSearch" in x for x in ls))
    assert time.monotonic() - began < 8, "the first failure is logged within seconds, not minutes"
    s.wait_for(lambda ls: any("OpenSearch still unreachable after" in x for x in ls))
    rc, out = s.stop()
    assert (rc, out) == (0, "")  # stdout is for data; logs go to stderr
    start = s.lines[0]
    assert " INFO exim-shipper: starting 0.1.0: following " in start
    assert f"{s.log} into http://127.0.0.1:" in start
    assert "(index prefix exim)" in start
    first = [x for x in s.lines if "cannot connect to OpenSearch" in x and "still" not in x]
    assert len(first) == 1, s.lines  # many retries, one first-failure line
    reminder = next(x for x in s.lines if "still unreachable" in x)
    assert reminder.endswith("the logs are opened once it answers")
    # The stop line closes the run; on a loaded machine the monitor's last write may still be under way,
    # so it is looked for after the reminder rather than as the very last line.
    stopped = [n for n, x in enumerate(s.lines) if "stopped while OpenSearch was unavailable" in x]
    assert stopped and stopped[-1] > s.lines.index(reminder), s.lines
    assert not any(SECRET in x or "@127.0.0.1" in x for x in s.lines)


def test_json_lines_metrics_and_health_during_the_outage(sidecar_factory: Callable[..., Sidecar]) -> None:
    port = free_port()
    s = sidecar_factory("--log-format", "json", "--metrics-address", f"127.0.0.1:{port}")
    s.wait_for(lambda ls: sum("still unreachable" in x for x in ls) >= 1)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        families = {f.name: f for f in text_string_to_metric_families(resp.read().decode())}
    health = subprocess.run(
        [sys.executable, "-m", "shipper", "health", "--state-dir", str(s.state)],
        capture_output=True,
        text=True,
        check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("EXIM_SHIPPER_")},
    )
    rc, _ = s.stop()
    assert rc == 0
    docs = [orjson.loads(x) for x in s.lines]  # every line one JSON object
    assert {"time", "level", "logger", "message"} <= set(docs[0])
    assert docs[0]["version"] == "0.1.0"
    assert docs[0]["files"] == [str(s.log)]
    assert docs[0]["cluster"].startswith("http://127.0.0.1:")  # without the user and password
    assert docs[0]["prefix"] == "exim"
    assert docs[1]["level"] == "WARNING"
    assert docs[1]["error"].startswith("cannot connect to OpenSearch")
    reminder = next(d for d in docs if "still unreachable" in d["message"])
    assert reminder["outage_seconds"] >= 1
    assert not any(SECRET in x for x in s.lines)

    assert families["exim_shipper_cluster_up"].samples[0].value == 0
    retries = {x.labels["reason"]: x.value for x in families["exim_shipper_retries"].samples}
    assert retries["unreachable"] >= 2
    assert retries["throttled"] == 0

    assert health.returncode == 0, health.stderr
    assert health.stdout.startswith("ok: not following the logs yet (OpenSearch unreachable for ")
