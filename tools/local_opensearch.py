"""A real single-node OpenSearch on loopback for development and tests, fetched from Maven Central.

    python tools/local_opensearch.py start [--port 9200] [--data DIR]   # prints the URL when healthy
    python tools/local_opensearch.py stop  [--data DIR]
    python tools/local_opensearch.py status [--port 9200]

The integ-test distribution (`org.opensearch.distribution.integ-test-zip:opensearch:<version>:zip`) is
fetched with `mvn` into the local Maven repository and unpacked under ~/.cache/exim-shipper/ (as root:
/var/cache/exim-shipper/, since the node then runs as an unprivileged user) — never into the work tree.
It runs on the machine's JDK with a 512 MB heap.
"""

from __future__ import annotations

import argparse
import os
import pwd
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

VERSION = os.environ.get("EXIM_SHIPPER_OPENSEARCH_VERSION", "2.19.1")
ARTIFACT = f"org.opensearch.distribution.integ-test-zip:opensearch:{VERSION}:zip"
# As root the node runs as a service user that cannot enter /root: keep its files elsewhere.
_USER_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
_DEFAULT_CACHE = Path("/var/cache") if os.geteuid() == 0 else _USER_CACHE
CACHE = Path(os.environ.get("EXIM_SHIPPER_CACHE", _DEFAULT_CACHE / "exim-shipper"))
M2 = Path(os.environ.get("MAVEN_REPO", Path.home() / ".m2" / "repository"))


def distribution() -> Path:
    """The unpacked distribution's home, fetching and unpacking it on first use."""
    home = CACHE / f"opensearch-{VERSION}"
    if (home / "bin" / "opensearch").exists():
        return home
    folder = M2 / "org/opensearch/distribution/integ-test-zip/opensearch" / VERSION
    zip_path = folder / f"opensearch-{VERSION}.zip"
    if not zip_path.exists():
        cmd = ["mvn", "-q", "-B", "dependency:get", f"-Dartifact={ARTIFACT}", "-Dtransitive=false"]
        subprocess.run(cmd, check=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = CACHE / f".unpack-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(tmp)
    inner = next(tmp.iterdir())
    for script in (inner / "bin").iterdir():
        script.chmod(0o755)
    inner.rename(home)
    shutil.rmtree(tmp, ignore_errors=True)
    return home


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_cluster/health", timeout=2) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


def start(port: int, data: Path, timeout: float = 120.0, transport_port: int | None = None) -> str:
    """Start a node (unless one already answers on the port) and return its URL once healthy."""
    url = f"http://127.0.0.1:{port}"
    if healthy(url):
        return url
    home = distribution()
    data.mkdir(parents=True, exist_ok=True)
    pidfile = data / "opensearch.pid"
    env = dict(os.environ)
    env.setdefault("OPENSEARCH_JAVA_OPTS", "-Xms512m -Xmx512m")
    if "JAVA_HOME" not in env and shutil.which("java"):
        env["JAVA_HOME"] = str(Path(shutil.which("java") or "").resolve().parents[1])
    cmd = [
        str(home / "bin" / "opensearch"),
        "-d",
        "-p",
        str(pidfile),
        "-Ediscovery.type=single-node",
        "-Enetwork.host=127.0.0.1",
        f"-Ehttp.port={port}",
        f"-Etransport.port={transport_port or port + 100}",
        f"-Epath.data={data / 'data'}",
        f"-Epath.logs={data / 'logs'}",
        "-Ecluster.name=exim-shipper-dev",
        "-Eaction.auto_create_index=true",
    ]
    if os.geteuid() == 0:
        # OpenSearch refuses to run as root (CI and sandboxes run as root): drop to a system user.
        cmd = [*_as_service_user(home, data), *cmd]
    # The daemon must not inherit our stdout/stderr: a caller reading them (CI, `$(…)`) would wait for ever.
    with (data / "console.log").open("ab") as console:
        subprocess.run(cmd, env=env, check=True, stdout=console, stderr=console, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if healthy(url):
            return url
        if time.monotonic() > deadline - timeout + 10 and not _alive(pidfile):
            break
        time.sleep(1)
    log = data / "logs" / "exim-shipper-dev.log"
    tail = log.read_text(errors="replace").splitlines()[-15:] if log.exists() else []
    raise SystemExit(f"OpenSearch did not become healthy on {url}; last log lines:\n" + "\n".join(tail))


SERVICE_USER = "exim-shipper-os"


def _as_service_user(home: Path, data: Path) -> list[str]:
    """A command prefix running as an unprivileged user that owns the node's files."""
    try:
        entry = pwd.getpwnam(SERVICE_USER)
    except KeyError:
        useradd = ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVICE_USER]
        subprocess.run(useradd, check=True)
        entry = pwd.getpwnam(SERVICE_USER)
    for path in (home, data):
        subprocess.run(["chown", "-R", f"{entry.pw_uid}:{entry.pw_gid}", str(path)], check=True)
    return ["setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--clear-groups"]


def _alive(pidfile: Path) -> bool:
    try:
        os.kill(int(pidfile.read_text().strip()), 0)
    except (OSError, ValueError):
        return False
    return True


def stop(data: Path) -> None:
    """Stop the node whose pid file lives in `data` and wait for it to exit."""
    pidfile = data / "opensearch.pid"
    if not pidfile.exists():
        return
    pid = int(pidfile.read_text().strip())
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    for _ in range(60):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.5)
    os.kill(pid, signal.SIGKILL)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["start", "stop", "status"])
    ap.add_argument("--port", type=int, default=9200)
    ap.add_argument("--data", type=Path, default=CACHE / "node")
    args = ap.parse_args(argv)
    if args.command == "start":
        print(start(args.port, args.data))
    elif args.command == "stop":
        stop(args.data)
    else:
        url = f"http://127.0.0.1:{args.port}"
        print(f"{url} {'up' if healthy(url) else 'down'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
