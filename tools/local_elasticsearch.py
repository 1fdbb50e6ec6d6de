"""A real single-node Elasticsearch on loopback for compatibility tests, fetched from Maven Central.

    python tools/local_elasticsearch.py start [--port 9250] [--data DIR]   # prints the URL when healthy
    python tools/local_elasticsearch.py stop  [--data DIR]
    python tools/local_elasticsearch.py status [--port 9250]

Same shape as tools/local_opensearch.py (whose fetch/unpack/launch code it uses): the integ-test
distribution `org.elasticsearch.distribution.integ-test-zip:elasticsearch:<version>:zip` is unpacked under
the same cache and run on the machine's JDK with a 512 MB heap, as an unprivileged user when run as root.
That distribution has no ILM (x-pack-ilm is not in it) and, from 8.x, carries x-pack-security, which is
switched off here so the node speaks plain HTTP without credentials.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import local_opensearch as node

VERSION = os.environ.get("EXIM_SHIPPER_ELASTICSEARCH_VERSION", "8.19.21")
ARTIFACT = f"org.elasticsearch.distribution.integ-test-zip:elasticsearch:{VERSION}:zip"
PIDFILE = "elasticsearch.pid"


def distribution() -> Path:
    """The unpacked distribution's home, fetching and unpacking it on first use."""
    home = node.CACHE / f"elasticsearch-{VERSION}"
    if (home / "bin" / "elasticsearch").exists():
        return home
    inner = node.unpack(node.maven_file(ARTIFACT), home)
    inner.rename(home)
    shutil.rmtree(inner.parent, ignore_errors=True)
    return home


def start(port: int, data: Path, timeout: float = 120.0, transport_port: int | None = None) -> str:
    """Start a node (unless one already answers on the port) and return its URL once healthy."""
    url = f"http://127.0.0.1:{port}"
    if node.healthy(url):
        return url
    home = distribution()
    env = node.java_env()
    env.setdefault("ES_JAVA_OPTS", "-Xms512m -Xmx512m")
    # 8.x ignores JAVA_HOME (it wants ES_JAVA_HOME, else its bundled JDK, which this zip lacks).
    env.setdefault("ES_JAVA_HOME", env.get("JAVA_HOME", ""))
    settings = node.node_settings(port, data, "exim-shipper-es", transport_port)
    # A test node on a shared disk must not go read-only because the disk is fairly full.
    settings["cluster.routing.allocation.disk.threshold_enabled"] = "false"
    if (home / "modules" / "x-pack-security").exists():
        settings["xpack.security.enabled"] = "false"
    return node.launch(
        home / "bin" / "elasticsearch", settings, data, PIDFILE, env=env, url=url, timeout=timeout
    )


def stop(data: Path) -> None:
    """Stop the node whose pid file lives in `data` and wait for it to exit."""
    node.stop(data, PIDFILE)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["start", "stop", "status"])
    ap.add_argument("--port", type=int, default=9250)
    ap.add_argument("--data", type=Path, default=node.CACHE / "es-node")
    args = ap.parse_args(argv)
    if args.command == "start":
        print(start(args.port, args.data))
    elif args.command == "stop":
        stop(args.data)
    else:
        url = f"http://127.0.0.1:{args.port}"
        print(f"{url} {'up' if node.healthy(url) else 'down'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
