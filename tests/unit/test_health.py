"""`exim-shipper health`: the followed logs against the checkpoint registry, over successive checks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from shipper import health
from shipper.checkpoints import Registry

LINE = b"2025-02-01 10:00:00 1tXaaa-00000000001-0ABC <= a@x.example U=u P=local S=1 for b@y.example\n"


def tail_key(path: Path) -> str:
    """The key `exim-shipper run` files a followed log under (device:inode)."""
    st = path.stat()
    return f"{st.st_dev}:{st.st_ino}"


def checkpoint(state: Path, log: Path, offset: int, head: str = "") -> None:
    Registry(state).advance(tail_key(log), str(log), offset, head=head)


def test_everything_shipped_is_healthy(tmp_path: Path) -> None:
    """Each followed file's checkpoint at its end: healthy, whatever the age of the checkpoint."""
    main, reject = tmp_path / "exim_mainlog", tmp_path / "exim_rejectlog"
    main.write_bytes(LINE * 3)
    reject.write_bytes(LINE)
    state = tmp_path / "state"
    checkpoint(state, main, 3 * len(LINE))
    checkpoint(state, reject, len(LINE))
    verdict = health.check([str(tmp_path / "exim_*log")], state, max_stall=10, now=1e12)
    assert verdict == health.Verdict(True, "ok: 2 file(s) followed, all shipped")


def test_a_backlog_is_unhealthy_only_once_the_checkpoint_stops_moving(tmp_path: Path) -> None:
    """Seen at t, still at the same offset after max_stall: unhealthy; a moved checkpoint starts afresh."""
    log = tmp_path / "exim_mainlog"
    log.write_bytes(LINE * 4)
    state = tmp_path / "state"
    checkpoint(state, log, len(LINE))
    pending = 3 * len(LINE)

    first = health.check([str(log)], state, max_stall=60, now=1000.0)
    assert first.healthy
    assert f"{pending} bytes on their way" in first.message
    assert health.check([str(log)], state, max_stall=60, now=1060.0).healthy
    stalled = health.check([str(log)], state, max_stall=60, now=1061.0)
    assert not stalled.healthy
    assert stalled.message == (
        f"{log}: {pending} bytes not shipped and no progress for 61s "
        "(is OpenSearch reachable? see the sidecar's log)"
    )

    checkpoint(state, log, 2 * len(LINE))  # progress: the stall clock starts again
    assert health.check([str(log)], state, max_stall=60, now=1100.0).healthy
    assert health.check([str(log)], state, max_stall=60, now=1160.0).healthy
    assert not health.check([str(log)], state, max_stall=60, now=1161.0).healthy

    checkpoint(state, log, 4 * len(LINE))
    assert health.check([str(log)], state, max_stall=60, now=5000.0).message.endswith("all shipped")


def test_an_unterminated_last_line_is_not_a_backlog(tmp_path: Path) -> None:
    """The sidecar rightly waits for the end of a line still being written."""
    log = tmp_path / "exim_mainlog"
    log.write_bytes(LINE + LINE[:30])
    state = tmp_path / "state"
    checkpoint(state, log, len(LINE))
    assert health.check([str(log)], state, max_stall=0, now=1.0).healthy
    assert health.check([str(log)], state, max_stall=0, now=500.0).message.endswith("all shipped")


def test_a_reused_inode_or_shorter_file_counts_from_zero(tmp_path: Path) -> None:
    """The sidecar's resume rules: another head behind the same inode, or a truncated file, is read anew."""
    log = tmp_path / "exim_mainlog"
    log.write_bytes(LINE * 20)  # longer than the head the identity hashes
    state = tmp_path / "state"
    checkpoint(state, log, 2 * len(LINE), head="0123456789abcdef")
    verdict = health.check([str(log)], state, max_stall=60, now=1.0)
    assert f"{20 * len(LINE)} bytes on their way" in verdict.message

    short = tmp_path / "exim_rejectlog"
    short.write_bytes(LINE)
    checkpoint(state, short, 5 * len(LINE))
    verdict = health.check([str(short)], state, max_stall=60, now=1.0)
    assert f"{len(LINE)} bytes on their way" in verdict.message


def test_no_matching_log_or_unwritable_state_is_unhealthy(tmp_path: Path) -> None:
    """A forgotten log mount and a state directory that cannot be written are both reported."""
    verdict = health.check([str(tmp_path / "exim_*log")], tmp_path / "state", max_stall=60)
    assert not verdict.healthy
    assert "no log file matches" in verdict.message

    log = tmp_path / "exim_mainlog"
    log.write_bytes(LINE)
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    verdict = health.check([str(log)], blocker / "state", max_stall=60)
    assert not verdict.healthy
    assert f"state directory {blocker / 'state'} not writable" in verdict.message


def test_a_registry_that_is_not_one_is_unhealthy_like_a_corrupt_one(tmp_path: Path) -> None:
    """Valid JSON of the wrong shape is reported as corrupt JSON is: an unhealthy verdict naming the
    file, never an exception out of the check."""
    log = tmp_path / "exim_mainlog"
    log.write_bytes(LINE)
    state = tmp_path / "state"
    state.mkdir()
    registry = state / "registry.json"
    for content, problem in (
        (b"{bad", "not JSON ("),
        (b"[1]", "not a registry of files;"),
        (b"null", "not a registry of files;"),
        (b'{"version": 1, "files": {"1:2": [3]}}', "not a registry of files;"),
    ):
        registry.write_bytes(content)
        verdict = health.check([str(log)], state, max_stall=60)
        assert not verdict.healthy
        assert verdict.message.startswith(f"checkpoint registry {registry}: {problem}"), verdict.message
    registry.write_bytes(b'{"version": 0, "files": [1]}')  # another version's: ignored, as before
    assert health.check([str(log)], state, max_stall=60).healthy


def test_command_exit_status_and_one_line(tmp_path: Path) -> None:
    """The HEALTHCHECK's view: exit 0 with a line on stdout, or exit 1 with one line on stderr."""
    log = tmp_path / "exim_mainlog"
    log.write_bytes(LINE * 2)
    state = tmp_path / "state"
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXIM_SHIPPER_")}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "shipper", "health", str(log), "--state-dir", str(state), *args]
        return subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)

    checkpoint(state, log, 2 * len(LINE))
    ok = run()
    assert (ok.returncode, ok.stdout, ok.stderr) == (0, "ok: 1 file(s) followed, all shipped\n", "")

    log.write_bytes(LINE * 3)  # a line the sidecar has not acknowledged
    assert run("--max-stall", "0").returncode == 0  # first sighting
    bad = run("--max-stall", "0")
    assert bad.returncode == 1
    assert bad.stdout == ""
    assert bad.stderr.startswith(f"exim-shipper: unhealthy: {log}: {len(LINE)} bytes not shipped")
    assert bad.stderr.count("\n") == 1
