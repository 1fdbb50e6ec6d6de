"""The sidecar's health verdict: every followed log is shipped, or its checkpoint is still advancing."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from shipper.checkpoints import Registry, RegistryUnreadable
from shipper.errors import ShipperError
from shipper.files.follow import follow_key, matching
from shipper.files.identity import HEAD_BYTES, head_hash

OBSERVATIONS = "health.json"
DEFAULT_MAX_STALL = 300.0
_SCAN_CHUNK = 64 * 1024


class Unhealthy(ShipperError):
    """Lines wait in a followed log and the checkpoint has not moved for too long."""


@dataclass(frozen=True, slots=True)
class Verdict:
    healthy: bool
    message: str


def check(patterns: list[str], state_dir: Path, max_stall: float, now: float | None = None) -> Verdict:
    """Compare each followed file with its checkpoint; remember when a backlog was first seen.

    A quiet server is healthy (nothing to ship), and so is a busy one whose checkpoint moves. Only a
    backlog whose checkpoint stays put for `max_stall` seconds is not: the loop is stuck, the cluster
    has been away that long, or the file cannot be read. The first sighting of each backlog is kept in
    `<state_dir>/health.json`, because one look cannot tell an old backlog from one written a moment ago.
    """
    now = time.time() if now is None else now
    files = matching(patterns)
    if not files:
        return Verdict(False, f"no log file matches {', '.join(patterns)} (is the log directory mounted?)")
    try:
        registry = Registry(state_dir)
    except RegistryUnreadable as exc:
        return Verdict(False, str(exc))
    seen = _load(state_dir / OBSERVATIONS)
    noted: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    waiting = 0
    for path in files:
        try:
            key, offset, backlog = _backlog(path, registry)
        except OSError as exc:
            problems.append(f"{path}: cannot read ({exc.strerror or exc})")
            continue
        if not backlog:
            continue
        waiting += backlog
        before = seen.get(key)
        since = float(before["since"]) if before and before.get("offset") == offset else now
        noted[key] = {"offset": offset, "since": since}
        if now - since > max_stall:
            problems.append(
                f"{path}: {backlog} bytes not shipped and no progress for {now - since:.0f}s "
                "(is OpenSearch reachable? see the sidecar's log)"
            )
    try:
        _save(state_dir / OBSERVATIONS, noted)
    except OSError as exc:
        problems.append(f"state directory {state_dir} not writable ({exc.strerror or exc})")
    if problems:
        return Verdict(False, "; ".join(problems))
    if waiting:
        return Verdict(True, f"ok: {len(files)} file(s) followed, {waiting} bytes on their way")
    return Verdict(True, f"ok: {len(files)} file(s) followed, all shipped")


def _backlog(path: str, registry: Registry) -> tuple[str, int, int]:
    """(registry key, checkpoint offset, bytes of complete lines after it) for a followed file."""
    with Path(path).open("rb") as fh:
        st = os.fstat(fh.fileno())
        # The sidecar's own key and resume rule (Shipper._scan).
        key = follow_key(st.st_dev, st.st_ino)
        offset = registry.resume(key, head_hash(os.pread(fh.fileno(), HEAD_BYTES, 0)), st.st_size)
        end = _last_line_end(fh.fileno(), offset, st.st_size)
    return key, offset, end - offset


def _last_line_end(fd: int, start: int, size: int) -> int:
    """Offset just past the last newline in [start, size); `start` if there is none.

    An unterminated last line is not a backlog: the sidecar rightly waits for its end.
    """
    pos = size
    while pos > start:
        lo = max(start, pos - _SCAN_CHUNK)
        chunk = os.pread(fd, pos - lo, lo)
        nl = chunk.rfind(b"\n")
        if nl >= 0:
            return lo + nl + 1
        pos = lo
    return start


def _load(path: Path) -> dict[str, dict[str, Any]]:
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return {}
    files = data.get("files") if isinstance(data, dict) else None
    return files if isinstance(files, dict) else {}


def _save(path: Path, files: dict[str, dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp.{os.getpid()}")
    tmp.write_bytes(orjson.dumps({"files": files}))
    tmp.replace(path)
