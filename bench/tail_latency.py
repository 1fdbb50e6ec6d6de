"""Tail-mode latency: how long after a line is appended to a followed log it can be found in OpenSearch.

    .venv/bin/python bench/tail_latency.py [--url URL] [--rate 4] [--steady 30] [--sparse 8] [--stored]

Starts a real OpenSearch node on free loopback ports (tools/local_opensearch.py; or uses --url), runs
`exim-shipper setup` and then `exim-shipper run` on cPanel's three logs in a temporary folder with the
default settings (nothing is set but the URL, index prefix, state folder, zone and host name), appends
lines to the main log as Exim does (one `write` of whole lines, O_APPEND), each with a message id of
its own, and polls `_search` every --poll seconds for the ids not yet seen, without forcing a refresh.
Phases: a steady rate, sparse lines (seconds apart, after the follower has backed off) and bursts (many
lines in one write). Then the sidecar's CPU use while the logs are quiet. Everything it starts is
stopped before it exits; each phase waits at most --timeout seconds for its last line.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(ROOT))

import bench_node  # noqa: E402 - bench/ is a folder of scripts
from generate_mainlog import b62  # noqa: E402
from opensearchpy import OpenSearch, TransportError  # noqa: E402

from shipper.files.follow import POLL_MAX, POLL_MIN  # noqa: E402
from shipper.opensearch.documents import event_id  # noqa: E402

PREFIX = "benchtail"
SHOWN_SETTINGS = ("batch_max_age", "batch_max_docs", "batch_max_bytes", "scan_interval", "close_inactive")


class Log:
    """The followed file, written the way Exim writes it; remembers when each message id was appended."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.seq = 0
        self.nonce = random.randrange(62**4)
        self.appended: dict[str, float] = {}
        self.docs: dict[str, tuple[str, str]] = {}  # message id -> (index, _id) the shipper will use

    def _line(self) -> tuple[str, bytes]:
        self.seq += 1
        now = datetime.now(UTC)
        local_id = f"{b62(int(now.timestamp()), 6)}-{b62(self.seq, 11)}-{b62(self.nonce, 4)}"
        stamp = now.strftime("%Y-%m-%d %H:%M:%S.") + f"{now.microsecond // 1000:03d} +0000"
        pid = 20000 + self.seq % 5000
        user = f"user{self.seq % 97}"
        kind = self.seq % 3
        if kind == 0:
            text = (
                f"{local_id} <= {user}@shop.example H=(laptop.home) [203.0.113.45]:51522 "
                f"I=[198.51.100.10]:587 P=esmtpsa X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=no "
                f"A=dovecot_login:{user}@shop.example S=18342 id={self.seq}@shop.example "
                f'T="Order {self.seq}" from <{user}@shop.example> for bob@gmail.com'
            )
        elif kind == 1:
            text = (
                f"{local_id} => bob@gmail.com R=dkim_lookuphost T=dkim_remote_smtp S=18801 "
                f"H=gmail-smtp-in.l.google.com [142.250.102.26]:25 I=[198.51.100.10]:40021 "
                f'X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=yes C="250 2.0.0 OK {self.seq} - gsmtp" '
                f"QT=2.379s DT=1.102s"
            )
        else:
            text = f"{local_id} Completed"
        line = f"{stamp} [{pid}] {text}"
        self.docs[local_id] = (f"{PREFIX}-events-{now:%Y.%m.%d}", event_id("bench", line.encode(), 0))
        return local_id, f"{line}\n".encode()

    def append(self, n: int = 1) -> list[str]:
        """`n` lines in one write (n > 1: a burst, as when Exim's queue runner delivers a batch)."""
        ids, data = [], []
        for _ in range(n):
            local_id, line = self._line()
            ids.append(local_id)
            data.append(line)
        os.write(self.fd, b"".join(data))
        t = time.monotonic()
        for local_id in ids:
            self.appended[local_id] = t
        return ids

    def close(self) -> None:
        os.close(self.fd)


class Watcher:
    """Polls OpenSearch for the ids appended but not yet found: first sight in `_search` is when a line
    became searchable; in a (real-time) multi-get, when the shipper's request had stored it."""

    def __init__(self, client: OpenSearch, log: Log, interval: float, *, stored: bool) -> None:
        self.client = client
        self.with_stored = stored
        self.log = log
        self.interval = interval
        self.seen: dict[str, float] = {}
        self.stored: dict[str, float] = {}
        self.searches = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while not self.stop.is_set():
            unstored = [i for i in list(self.log.appended) if i not in self.stored and self.with_stored]
            if unstored:
                docs = [{"_index": self.log.docs[i][0], "_id": self.log.docs[i][1]} for i in unstored]
                try:
                    got = self.client.mget(body={"docs": docs}, params={"_source": "false"})
                except TransportError:
                    got = {"docs": []}
                t = time.monotonic()
                for local_id, doc in zip(unstored, got["docs"], strict=False):
                    if doc.get("found"):
                        self.stored.setdefault(local_id, t)
            pending = [i for i in list(self.log.appended) if i not in self.seen]
            if pending:
                body = {
                    "size": len(pending),
                    "_source": ["email.local_id"],
                    "query": {"terms": {"email.local_id": pending}},
                }
                try:
                    resp = self.client.search(
                        index=f"{PREFIX}-events-*",
                        body=body,
                        params={"filter_path": "hits.hits._source", "ignore_unavailable": "true"},
                    )
                except TransportError:  # 503 while a new daily index's shard is being allocated
                    self.stop.wait(self.interval)
                    continue
                t = time.monotonic()
                self.searches += 1
                for hit in resp.get("hits", {}).get("hits", []):
                    self.seen.setdefault(hit["_source"]["email"]["local_id"], t)
            self.stop.wait(self.interval)

    def wait_for(self, ids: list[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(i not in self.seen for i in ids):
            time.sleep(0.05)

    def latencies(self, ids: list[str], *, stored: bool = False) -> tuple[list[float], int]:
        when = self.stored if stored else self.seen
        found = [when[i] - self.log.appended[i] for i in ids if i in when]
        return found, len(ids) - len(found)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(name: str, values: list[float], lost: int) -> str:
    if not values:
        return f"{name:<34} no line became searchable ({lost} lost)"
    text = (
        f"{name:<34} n={len(values):<5} p50 {statistics.median(values):5.2f} s  "
        f"p95 {pct(values, 0.95):5.2f} s  max {max(values):5.2f} s"
    )
    return text + (f"  ({lost} not found in time)" if lost else "")


def shown_settings(env: dict[str, str]) -> str:
    """The settings the sidecar runs with, as it would read them (defaults plus what we set)."""
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        from shipper.settings import Settings

        values = Settings().model_dump()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    keys = [k for k in values if k in SHOWN_SETTINGS or "poll" in k or "linger" in k]
    pace = f"; files polled every {POLL_MIN * 1000:.0f} ms while growing, up to {POLL_MAX * 1000:.0f} ms"
    return ", ".join(f"{k}={values[k]}" for k in keys) + pace


def refresh_interval(client: OpenSearch) -> str:
    got: dict[str, Any] = client.indices.get_settings(
        index=f"{PREFIX}-events-*", name="index.refresh_interval", params={"include_defaults": "true"}
    )
    for body in got.values():
        explicit = body.get("settings", {}).get("index", {}).get("refresh_interval")
        if explicit:
            return f"{explicit} (set by the template)"
        default = body.get("defaults", {}).get("index", {}).get("refresh_interval", "?")
        return f"{default} (cluster default; shards idle for searches skip refreshes)"
    return "? (no events index)"


def run_phases(args: argparse.Namespace, log: Log, watcher: Watcher) -> dict[str, list[str]]:
    phases: dict[str, list[str]] = {"steady": [], "sparse": [], "burst": []}
    warm = []
    for _ in range(10):  # JVM warm-up and the daily index's creation: not counted
        warm += log.append()
        time.sleep(0.2)
    watcher.wait_for(warm, args.timeout)
    print(f"warm-up: {len(watcher.latencies(warm)[0])}/{len(warm)} lines found", flush=True)
    gap = 1.0 / args.rate
    next_at = time.monotonic()
    end = next_at + args.steady
    while next_at < end:
        phases["steady"] += log.append()
        next_at += gap
        time.sleep(max(0.0, next_at - time.monotonic()))
    watcher.wait_for(phases["steady"], args.timeout)
    rng = random.Random(7)
    for _ in range(args.sparse):
        time.sleep(rng.uniform(2.0, 5.0))  # long enough for any idle back-off to have reached its limit
        phases["sparse"] += log.append()
    watcher.wait_for(phases["sparse"], args.timeout)
    for _ in range(args.bursts):
        time.sleep(3.0)
        ids = log.append(args.burst_size)
        phases["burst"] += ids
        watcher.wait_for(ids, args.timeout)
    return phases


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default=os.environ.get("EXIM_SHIPPER_BENCH_URL"), help="use this node instead")
    ap.add_argument("--rate", type=float, default=4.0, help="lines per second in the steady phase")
    ap.add_argument("--steady", type=float, default=30.0, help="seconds of the steady phase")
    ap.add_argument("--sparse", type=int, default=8, help="lines 2-5 s apart")
    ap.add_argument("--bursts", type=int, default=3)
    ap.add_argument("--burst-size", type=int, default=500)
    ap.add_argument("--poll", type=float, default=0.05, help="seconds between searches")
    ap.add_argument(
        "--stored",
        action="store_true",
        help="also time when each line was stored (a real-time multi-get per poll; those refresh the "
        "shard's internal reader, so the headline figures are taken without it)",
    )
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="run the sidecar with this setting changed (EXIM_SHIPPER_NAME), to weigh another default",
    )
    ap.add_argument("--idle", type=float, default=20.0, help="seconds of quiet log to measure CPU over")
    ap.add_argument("--timeout", type=float, default=20.0, help="longest wait for a phase's last line")
    return ap.parse_args(argv)


def sidecar_env(url: str, work: Path, changes: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    """The sidecar's settings (the defaults but for the `--set` changes), and its whole environment
    without any EXIM_SHIPPER_ variable of ours."""
    env = {
        "EXIM_SHIPPER_OPENSEARCH_URL": url,
        "EXIM_SHIPPER_INDEX_PREFIX": PREFIX,
        "EXIM_SHIPPER_STATE_DIR": str(work / "state"),
        "EXIM_SHIPPER_TIMEZONE": "UTC",
        "EXIM_SHIPPER_SERVER_NAME": "bench",
    }
    for item in changes:
        name, _, value = item.partition("=")
        env[f"EXIM_SHIPPER_{name.upper()}"] = value
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("EXIM_SHIPPER_")} | env
    return env, child_env


def quiet_logs(work: Path) -> list[Path]:
    """cPanel's other two logs, empty: with the main log they are the default `paths`; only it grows."""
    quiet = [work / "exim_rejectlog", work / "exim_paniclog"]
    for path in quiet:
        path.write_bytes(b"")
    return quiet


def following(proc: subprocess.Popen[bytes], stderr: Path) -> bool:
    """Wait up to 30 s for the sidecar to say it is following its files; False if it exits or never does."""
    deadline = time.monotonic() + 30
    while b"following" not in stderr.read_bytes():
        if proc.poll() is not None or time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def idle_cpu(pid: int, seconds: float) -> float:
    """The share of one core the process uses over `seconds` of quiet, after 2 s to settle."""
    time.sleep(2.0)
    cpu0, t0 = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return (cpu_seconds(pid) - cpu0) / (time.monotonic() - t0)


def print_latencies(args: argparse.Namespace, watcher: Watcher, phases: dict[str, list[str]]) -> None:
    """One line of latency figures per phase, then steady and sparse together (the target)."""
    every: list[float] = []
    every_lost = 0
    for name, label in (
        ("steady", f"steady {args.rate:g} lines/s for {args.steady:g} s:"),
        ("sparse", "sparse (2-5 s apart):"),
        ("burst", f"bursts ({args.bursts} x {args.burst_size} lines):"),
    ):
        values, lost = watcher.latencies(phases[name])
        print(summary(label, values, lost))
        if args.stored:
            print(summary("  of which until stored:", *watcher.latencies(phases[name], stored=True)))
        if name != "burst":
            every += values
            every_lost += lost
    print(summary("steady + sparse (the target):", every, every_lost))


def stop_sidecar(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, as a service manager would stop it; killed if it has not exited within 30 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    data: Path | None = None
    url = args.url
    work = Path(tempfile.mkdtemp(prefix="exim-shipper-bench-tail-"))
    proc: subprocess.Popen[bytes] | None = None
    watcher: Watcher | None = None
    log: Log | None = None
    try:
        url, data = bench_node.start(url, "exim-shipper-bench-node-")
        client = OpenSearch([url], timeout=30)
        client.indices.delete(index=f"{PREFIX}-*", params={"ignore_unavailable": "true"})
        env, child_env = sidecar_env(url, work, args.set)
        exe = [sys.executable, "-m", "shipper"]
        subprocess.run([*exe, "setup"], cwd=ROOT, env=child_env, check=True, stdout=subprocess.DEVNULL)
        log = Log(work / "exim_mainlog")
        followed = [str(p) for p in (log.path, *quiet_logs(work))]
        with (work / "stderr.txt").open("wb") as err:
            proc = subprocess.Popen(
                [*exe, "run", *followed], cwd=ROOT, env=child_env, stdout=subprocess.DEVNULL, stderr=err
            )
        if not following(proc, work / "stderr.txt"):
            print((work / "stderr.txt").read_text(), file=sys.stderr)
            return 1
        watcher = Watcher(client, log, args.poll, stored=args.stored)
        cpu_start, t_start = cpu_seconds(proc.pid), time.monotonic()
        phases = run_phases(args, log, watcher)
        cpu_busy = (cpu_seconds(proc.pid) - cpu_start) / (time.monotonic() - t_start)
        watcher.close()  # our searches would otherwise be part of what the node does while idle
        cpu_idle = idle_cpu(proc.pid, args.idle)

        changed = f" (changed from the defaults: {', '.join(args.set)})" if args.set else " (defaults)"
        print(f"node {url}; sidecar settings{changed}: {shown_settings(env)}")
        print(f"events index refresh_interval: {refresh_interval(client)}")
        print(
            f"{'search and real-time multi-get' if args.stored else 'search'} every "
            f"{args.poll * 1000:.0f} ms ({watcher.searches} searches), no forced refresh"
        )
        print_latencies(args, watcher, phases)
        print(
            f"sidecar CPU ({len(followed)} files followed): {cpu_idle * 100:.2f} % of one core while quiet "
            f"({args.idle:g} s), {cpu_busy * 100:.1f} % during the phases"
        )
    finally:
        if watcher is not None:
            watcher.close()
        if proc is not None:
            stop_sidecar(proc)
        if log is not None:
            log.close()
        shutil.rmtree(work, ignore_errors=True)
        bench_node.stop(data)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
