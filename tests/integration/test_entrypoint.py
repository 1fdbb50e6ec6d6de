"""The container's life on a real node: docker/entrypoint.sh waits for the cluster, sets up, becomes the sidecar.

The cluster "comes up" when a plain TCP forwarder to the real node starts listening on the port the
entrypoint was given, and "goes away" when it stops; nothing answers in the node's place.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from tests.integration.test_tail import wait_for

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "docker" / "entrypoint.sh"
BIN = Path(sys.executable).parent


def line(i: int) -> bytes:
    ts = f"2025-02-01 11:{i // 60 % 60:02d}:{i % 60:02d}"
    return f"{ts} [{2000 + i}] 1tXbbb-{i:011d}-0ABC <= s{i}@x.example U=u P=local S={i} for r@y.example\n".encode()


class Gate:
    """A TCP forwarder from a fixed loopback port to the node, opened and closed at will."""

    def __init__(self, upstream: str) -> None:
        up = urlsplit(upstream)
        self.upstream = (up.hostname or "127.0.0.1", up.port or 9200)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port: int = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.listener: socket.socket | None = None
        self.conns: list[socket.socket] = []
        self.lock = threading.Lock()

    def open(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen()
        listener.settimeout(0.1)
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def close(self) -> None:
        if self.listener is not None:
            self.listener.close()
            self.listener = None
        with self.lock:
            for conn in self.conns:
                conn.close()
            self.conns.clear()

    def _accept(self, listener: socket.socket) -> None:
        while self.listener is listener:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            server = socket.create_connection(self.upstream)
            with self.lock:
                self.conns += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


class Lines:
    """Collects a stream's lines in a thread, so the test can wait for one while the process runs."""

    def __init__(self, stream: object) -> None:
        self.lines: list[str] = []
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: object) -> None:
        for text in iter(stream.readline, ""):  # type: ignore[attr-defined]
            self.lines.append(text.rstrip("\n"))

    def wait_for(self, predicate: object, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if callable(predicate) and predicate(self.lines):
                return
            time.sleep(0.05)
        raise AssertionError(f"not seen in time; got {self.lines}")


def health(log: Path, state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [str(BIN / "exim-shipper"), "health", str(log), "--state-dir", str(state), *args]
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


def test_waits_for_the_cluster_ships_reports_health_and_stops_cleanly(
    opensearch_url: str, prefix: str, tmp_path: Path
) -> None:
    """Closed port: retried; open: setup then exec run ships; outage: unhealthy; back: caught up; SIGTERM: 0."""
    log, state = tmp_path / "exim_mainlog", tmp_path / "state"
    log.write_bytes(b"".join(line(i) for i in range(40)))
    gate = Gate(opensearch_url)
    env = {
        "PATH": f"{BIN}:/usr/bin:/bin",
        "HOME": os.environ.get("HOME", "/tmp"),
        "EXIM_SHIPPER_OPENSEARCH_URL": gate.url,
        "EXIM_SHIPPER_INDEX_PREFIX": prefix,
        "EXIM_SHIPPER_STATE_DIR": str(state),
        "EXIM_SHIPPER_TIMEZONE": "UTC",
        "EXIM_SHIPPER_SERVER_NAME": "mx1",
        "EXIM_SHIPPER_SETUP_RETRY_DELAY": "0.2",
        "EXIM_SHIPPER_SETUP_TIMEOUT": "60",
        "EXIM_SHIPPER_BATCH_MAX_AGE": "0.3",
        "EXIM_SHIPPER_SCAN_INTERVAL": "0.2",
        "EXIM_SHIPPER_RETRY_MAX_WAIT": "0.5",
    }
    proc = subprocess.Popen(
        ["bash", str(SCRIPT), "run", str(log)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = Lines(proc.stdout), Lines(proc.stderr)
    try:
        err.wait_for(lambda ls: sum("waiting for OpenSearch (setup: cannot connect" in x for x in ls) >= 2)
        gate.open()
        out.wait_for(lambda ls: f"index template {prefix}-events: created" in ls)
        err.wait_for(lambda ls: any(" INFO exim-shipper: starting " in x for x in ls))
        assert wait_for(opensearch_url, f"{prefix}-events-*", 40) == 40

        deadline = time.monotonic() + 20  # the checkpoint follows the acknowledgement
        while (ok := health(log, state)).stdout != "ok: 1 file(s) followed, all shipped\n":
            assert time.monotonic() < deadline, ok
            time.sleep(0.2)
        assert ok.returncode == 0

        gate.close()  # the cluster goes away with lines waiting
        with log.open("ab") as fh:
            fh.write(b"".join(line(i) for i in range(40, 60)))
        time.sleep(1.0)
        assert health(log, state, "--max-stall", "60").returncode == 0  # waiting, not for long
        time.sleep(1.2)
        stalled = health(log, state, "--max-stall", "1")
        assert stalled.returncode == 1
        assert f"{log}: {20 * len(line(50))} bytes not shipped" in stalled.stderr

        gate.open()
        assert wait_for(opensearch_url, f"{prefix}-events-*", 60) == 60
        proc.send_signal(signal.SIGTERM)  # the entrypoint's pid is the sidecar's now
        assert proc.wait(timeout=30) == 0
        err.wait_for(lambda ls: any(" exim-shipper: stopped after 60 entries" in x for x in ls))
        assert health(log, state).returncode == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        gate.close()
