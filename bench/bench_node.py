"""The OpenSearch node a bench script measures: the one --url names, or one it starts on free loopback
ports in a temporary folder and stops again."""

from __future__ import annotations

import shutil
import socket
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))

import local_opensearch  # tools/ is a folder of scripts, put on sys.path above


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def start(url: str | None, folder_prefix: str = "exim-shipper-bench-") -> tuple[str, Path | None]:
    """`url` with no folder when it names a node, else a new node's URL and the folder to `stop`."""
    if url is not None:
        return url, None
    # Not under a private temp folder: as root the node runs as a service user.
    data = Path(tempfile.mkdtemp(prefix=folder_prefix))
    try:
        return local_opensearch.start(free_port(), data, transport_port=free_port()), data
    except BaseException:
        stop(data)  # the caller gets no folder to stop: a node that never became healthy goes here
        raise


def stop(data: Path | None) -> None:
    """Stop the node `start` started in `data` (none when it was given a URL) and remove its files."""
    if data is not None:
        local_opensearch.stop(data)
        shutil.rmtree(data, ignore_errors=True)
