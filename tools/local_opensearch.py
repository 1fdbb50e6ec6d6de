"""A real single-node OpenSearch on loopback for development and tests, fetched from Maven Central.

    python tools/local_opensearch.py start [--port 9200] [--data DIR] [--plugin SPEC …]   # prints the URL
    python tools/local_opensearch.py stop  [--data DIR]
    python tools/local_opensearch.py status [--port 9200]
    python tools/local_opensearch.py fetch  [group:artifact:version:packaging]        # prints the file's path

The integ-test distribution (`org.opensearch.distribution.integ-test-zip:opensearch:<version>:zip`) is
fetched with `mvn` into the Maven repository $MAVEN_REPO (default ~/.m2/repository; mvn is told so, whatever
its settings.xml says) and unpacked under ~/.cache/exim-shipper/ (as root:
/var/cache/exim-shipper/, since the node then runs as an unprivileged user) — never into the work tree.
It runs on the machine's JDK with a 512 MB heap.

That distribution carries no plugins. `--plugin` (or EXIM_SHIPPER_OPENSEARCH_PLUGINS, comma-separated)
installs plugin zips into a separate copy of it, one per plugin set, so the plain one is never touched:
a Maven coordinate `group:artifact[:version]` (version defaults to `<opensearch version>.0`), or the path
of a zip. Note: of what the index-management (ISM) plugin needs, only opensearch-job-scheduler is on
Maven Central; opensearch-index-management itself is not (see index_templates/README.md).
tools/secured_opensearch.py starts a node with the security plugin (TLS, users, roles) on top of this.
"""

from __future__ import annotations

import argparse
import hashlib
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
from collections.abc import Callable, Sequence
from pathlib import Path

VERSION = os.environ.get("EXIM_SHIPPER_OPENSEARCH_VERSION", "2.19.1")
ARTIFACT = f"org.opensearch.distribution.integ-test-zip:opensearch:{VERSION}:zip"
# As root the node runs as a service user that cannot enter /root: keep its files elsewhere.
_USER_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
_DEFAULT_CACHE = Path("/var/cache") if os.geteuid() == 0 else _USER_CACHE
CACHE = Path(os.environ.get("EXIM_SHIPPER_CACHE", _DEFAULT_CACHE / "exim-shipper"))
# The Maven repository the launcher reads, and tells mvn to write to (`-Dmaven.repo.local`), so that a
# `localRepository` in settings.xml or a user.home other than $HOME cannot send the download elsewhere.
M2 = Path(os.environ.get("MAVEN_REPO", Path.home() / ".m2" / "repository"))
PLUGINS = tuple(p for p in os.environ.get("EXIM_SHIPPER_OPENSEARCH_PLUGINS", "").split(",") if p)


def maven_file(coordinate: str) -> Path:
    """`group:artifact:version:packaging` from the local Maven repository, fetched with mvn if absent."""
    group, artifact, version, packaging = coordinate.split(":")
    path = M2 / group.replace(".", "/") / artifact / version / f"{artifact}-{version}.{packaging}"
    if not path.exists():
        mvn = shutil.which("mvn")
        if mvn is None:
            raise SystemExit(f"cannot fetch {coordinate}: mvn (Apache Maven) is not on PATH")
        cmd = [
            mvn,
            "-q",
            "-B",
            "-Dstyle.color=never",
            f"-Dmaven.repo.local={M2}",
            "dependency:get",
            f"-Dartifact={coordinate}",
            "-Dtransitive=false",
        ]
        # Maven's own output goes to stderr: this launcher's stdout carries only the node's URL, which
        # callers capture (`url=$(… start)`), and a first download once printed ANSI codes into it.
        done = subprocess.run(cmd, check=False, stdout=sys.stderr, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            raise SystemExit(f"cannot fetch {coordinate}: mvn exited with status {done.returncode}")
        if not path.exists():
            raise SystemExit(f"cannot fetch {coordinate}: mvn succeeded but {path} is not there")
    return path


def unpack(zip_path: Path, home: Path) -> Path:
    """Unpack a distribution zip (one top folder) beside `home`; the caller renames it into place when
    ready, so a half-prepared home never exists."""
    home.parent.mkdir(parents=True, exist_ok=True)
    tmp = home.parent / f".unpack-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(tmp)
    inner = next(tmp.iterdir())
    for script in (inner / "bin").iterdir():
        script.chmod(0o755)  # zipfile drops the mode bits
    return inner


def distribution(plugins: Sequence[str] = ()) -> Path:
    """The unpacked distribution's home (with `plugins` installed), fetching and unpacking on first use."""
    home = CACHE / f"opensearch-{VERSION}"
    if plugins:
        # One copy per plugin set: installing into the plain home would change a node others may run.
        key = hashlib.sha256("\n".join(sorted(plugins)).encode()).hexdigest()[:10]
        home = CACHE / f"opensearch-{VERSION}-plugins-{key}"
    if (home / "bin" / "opensearch").exists():
        return home
    inner = unpack(maven_file(ARTIFACT), home)
    for spec in plugins:
        zip_path = _plugin_zip(spec)
        cmd = [str(inner / "bin" / "opensearch-plugin"), "install", "--batch", zip_path.resolve().as_uri()]
        subprocess.run(cmd, check=True, env=java_env(), stdout=subprocess.DEVNULL)
    inner.rename(home)
    shutil.rmtree(inner.parent, ignore_errors=True)
    return home


def _plugin_zip(spec: str) -> Path:
    if spec.endswith(".zip"):
        return Path(spec.removeprefix("file://"))
    parts = spec.split(":")
    group, artifact = parts[0], parts[1]
    version = parts[2] if len(parts) > 2 else f"{VERSION}.0"
    return maven_file(f"{group}:{artifact}:{version}:zip")


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_cluster/health", timeout=2) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


def java_env() -> dict[str, str]:
    """Our environment with JAVA_HOME set from the `java` on PATH when it is not set already."""
    env = dict(os.environ)
    if "JAVA_HOME" not in env and shutil.which("java"):
        env["JAVA_HOME"] = str(Path(shutil.which("java") or "").resolve().parents[1])
    return env


def node_settings(
    port: int, data: Path, cluster_name: str, transport_port: int | None = None
) -> dict[str, str]:
    """The `-E` settings of a single-node loopback node on `port` keeping its files under `data`."""
    return {
        "discovery.type": "single-node",
        "network.host": "127.0.0.1",
        "http.port": str(port),
        "transport.port": str(transport_port or port + 100),
        "path.data": str(data / "data"),
        "path.logs": str(data / "logs"),
        "cluster.name": cluster_name,
        "action.auto_create_index": "true",
        # A nearly full disk (a CI runner, a laptop) would leave new primaries unassigned and then block
        # writes: this single-node dev and test node does not guard a disk.
        "cluster.routing.allocation.disk.threshold_enabled": "false",
    }


def start(
    port: int,
    data: Path,
    timeout: float = 120.0,
    transport_port: int | None = None,
    plugins: Sequence[str] = PLUGINS,
) -> str:
    """Start a node (unless one already answers on the port) and return its URL once healthy."""
    url = f"http://127.0.0.1:{port}"
    if healthy(url):
        return url
    home = distribution(plugins)
    env = java_env()
    env.setdefault("OPENSEARCH_JAVA_OPTS", "-Xms512m -Xmx512m")
    settings = node_settings(port, data, "exim-shipper-dev", transport_port)
    return launch(
        home / "bin" / "opensearch", settings, data, "opensearch.pid", env=env, url=url, timeout=timeout
    )


def launch(
    executable: Path,
    settings: dict[str, str],
    data: Path,
    pidfile_name: str,
    *,
    env: dict[str, str],
    url: str,
    timeout: float,
    probe: Callable[[str], bool] = healthy,
) -> str:
    """Run an OpenSearch/Elasticsearch-style node as a daemon and wait until `probe(url)` says healthy."""
    data.mkdir(parents=True, exist_ok=True)
    # The JVM's temporary files go with the node's data, removed with it, not left in /tmp per start.
    (data / "tmp").mkdir(exist_ok=True)
    env = {**env, "OPENSEARCH_TMPDIR": str(data / "tmp"), "ES_TMPDIR": str(data / "tmp")}
    pidfile = data / pidfile_name
    pidfile.unlink(missing_ok=True)  # a stale pid must not pass for this start's
    cmd = [str(executable), "-d", "-p", str(pidfile), *(f"-E{k}={v}" for k, v in settings.items())]
    if os.geteuid() == 0:
        # Both refuse to run as root (CI and sandboxes run as root): drop to a system user.
        cmd = [*_as_service_user(executable.parents[1], data), *cmd]
    # The daemon must not inherit our stdout/stderr: a caller reading them (CI, `$(…)`) would wait for ever.
    with (data / "console.log").open("ab") as console:
        subprocess.run(cmd, env=env, check=True, stdout=console, stderr=console, stdin=subprocess.DEVNULL)
    started = time.monotonic()
    while time.monotonic() < started + timeout:
        if probe(url):
            return url
        # The JVM writes its pid file only once it has bootstrapped, which on a loaded machine takes more
        # than 10 s: a missing file is given a minute, a dead pid ends the wait at once.
        waited = time.monotonic() - started
        written = pidfile.exists()
        if (written and waited > 10 and not _alive(pidfile)) or (not written and waited > 60):
            break
        time.sleep(0.5)
    log = data / "logs" / f"{settings['cluster.name']}.log"
    tail = log.read_text(errors="replace").splitlines()[-15:] if log.exists() else []
    raise SystemExit(
        f"{executable.name} did not become healthy on {url}; last log lines:\n" + "\n".join(tail)
    )


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


def stop(data: Path, pidfile_name: str = "opensearch.pid") -> None:
    """Stop the node whose pid file lives in `data` and wait for it to exit."""
    pidfile = data / pidfile_name
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
    ap.add_argument("command", choices=["start", "stop", "status", "fetch"])
    ap.add_argument("coordinate", nargs="?", help="fetch: group:artifact:version:packaging (default: node)")
    ap.add_argument("--port", type=int, default=9200)
    ap.add_argument("--data", type=Path, default=CACHE / "node")
    ap.add_argument("--plugin", action="append", default=list(PLUGINS), help="Maven coordinate or zip path")
    args = ap.parse_args(argv)
    if args.command == "start":
        print(start(args.port, args.data, plugins=[p for p in args.plugin if p]))
    elif args.command == "fetch":
        print(maven_file(args.coordinate or ARTIFACT))
    elif args.command == "stop":
        stop(args.data)
    else:
        url = f"http://127.0.0.1:{args.port}"
        print(f"{url} {'up' if healthy(url) else 'down'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
