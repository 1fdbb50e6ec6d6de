"""The sidecar's health verdict, from the facts it writes (status.json): shipped, or still advancing."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shipper import status
from shipper.checkpoints import Registry
from shipper.errors import RegistryUnreadable
from shipper.files.follow import matching

DEFAULT_MAX_STALL = 300.0
MIN_SILENCE = 30.0
"""status.json is rewritten every second or so; older than this (and than max_stall) means the sidecar
is stopped or hung, whatever its last facts said."""


@dataclass(frozen=True, slots=True)
class Verdict:
    healthy: bool
    message: str


def _not_following_yet(snap: dict[str, Any], now: float, down: float | None, max_stall: float) -> Verdict:
    """Still waiting for the cluster before opening the logs (a sidecar may start first)."""
    waited = now - float(snap["started"]) if down is None else down
    why = (
        f"OpenSearch unreachable for {waited:.0f}s: {snap['cluster']['error']}"
        if down is not None
        else "starting"
    )
    if waited > max_stall:
        return Verdict(False, f"not following the logs yet after {waited:.0f}s ({why})")
    return Verdict(True, f"ok: not following the logs yet ({why})")


def check(
    state_dir: Path, max_stall: float, *, patterns: list[str] | None = None, now: float | None = None
) -> Verdict:
    """Judge the sidecar by the facts it last wrote: the same numbers as its log lines and metrics.

    A quiet server is healthy (nothing to ship), and so is a busy one whose acknowledgements keep up.
    Unhealthy: a followed file's oldest unacknowledged byte has waited over `max_stall` seconds (the
    loop is stuck, or the cluster has been away that long), a log cannot be opened, no log matches, or
    the sidecar has stopped writing its facts. `patterns`, when given, narrows the judgement to them.
    """
    now = time.time() if now is None else now
    path = state_dir / status.STATUS_FILE
    snap = status.load(state_dir)
    if snap is None:
        try:  # the likeliest reason a sidecar never started: it refused its registry
            Registry(state_dir)
        except RegistryUnreadable as exc:
            return Verdict(False, str(exc))
        return Verdict(
            False, f"no sidecar status in {path} (is `exim-shipper run` using this state directory?)"
        )
    silent = now - float(snap["written"])
    if silent > max(max_stall, MIN_SILENCE):
        what = "stopped" if snap.get("stopped") else "has not updated its status"
        return Verdict(False, f"the sidecar {what} {silent:.0f}s ago ({path})")
    cluster = snap["cluster"]
    down = None if cluster["up"] else now - float(cluster["down_since"])
    if not snap.get("following"):
        return _not_following_yet(snap, now, down, max_stall)
    files = dict(snap["files"])
    unreadable: dict[str, str] = dict(snap.get("unreadable", {}))
    if patterns:
        wanted = set(matching(patterns))
        files = {k: f for k, f in files.items() if f["path"] in wanted}
        unreadable = {p: r for p, r in unreadable.items() if p in wanted}
    problems = [f"{p}: cannot read ({reason})" for p, reason in sorted(unreadable.items())]
    if not files and not problems:
        shown = ", ".join(patterns or snap.get("patterns", []))
        return Verdict(False, f"no log file matches {shown} (is the log directory mounted?)")
    if down is None:
        cause = "is OpenSearch reachable? see the sidecar's log"
    else:
        cause = f"OpenSearch unreachable for {down:.0f}s: {cluster['error']}"
    waiting = 0
    for f in files.values():
        backlog = int(f["backlog_bytes"])
        waiting += backlog
        since = f["waiting_since"]
        if backlog and since is not None and now - float(since) > max_stall:
            stalled = now - float(since)
            problems.append(
                f"{f['path']}: {backlog} bytes not shipped and no progress for {stalled:.0f}s ({cause})"
            )
    if problems:
        return Verdict(False, "; ".join(problems))
    if waiting:
        return Verdict(True, f"ok: {len(files)} file(s) followed, {waiting} bytes on their way")
    return Verdict(True, f"ok: {len(files)} file(s) followed, all shipped")
