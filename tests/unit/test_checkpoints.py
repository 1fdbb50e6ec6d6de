"""The state directory: a registry someone edited, saves under faults, the checks at start, modes, and one
shipper per directory (where a followed file is read from again: test_sources.py)."""

from __future__ import annotations

import errno
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from shipper import cli
from shipper.checkpoints import Registry, RegistryUnreadable, lock_state_dir, prepare_state_dir
from shipper.errors import ShipperError, StateError

ROOT = Path(__file__).resolve().parents[2]


def test_finished_means_acknowledged_to_the_end_of_the_same_file(tmp_path: Path) -> None:
    """What lets backfill skip a file: an archive complete at this very size, or a plain file whose
    checkpoint is its size; a compressed file's offsets (decompressed bytes) never count as its size."""
    reg = Registry(tmp_path)
    reg.advance("1:2:h", "/logs/exim_mainlog-20250101.gz", 9000, complete=True, size=1200)
    assert reg.finished("1:2:h", 1200, plain=False)
    assert not reg.finished("1:2:h", 1300, plain=False), "grew (a gzip member appended): read again"
    reg.advance("1:3:h", "/logs/exim_mainlog-20241231.gz", 9000, complete=True)
    assert not reg.finished("1:3:h", 9000, plain=False), "complete but size unknown (older registry)"
    reg.advance("1:4:h", "/logs/exim_mainlog", 500)
    assert reg.finished("1:4:h", 500, plain=True)
    assert not reg.finished("1:4:h", 800, plain=True), "lines appended since"
    assert not reg.finished("1:4:h", 500, plain=False)
    assert not reg.finished("9:9:h", 0, plain=True), "never seen, even when empty"
    again = Registry(tmp_path)
    assert again.finished("1:2:h", 1200, plain=False), "the size is saved with the registry"


# --- a registry someone edited ---------------------------------------------------------------


def _registry_with(state: Path, entry: object) -> Path:
    state.mkdir(exist_ok=True)
    path = state / "registry.json"
    path.write_bytes(orjson.dumps({"version": 1, "files": {"64769:1234": entry}}))
    return path


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ({"path": "/l", "offset": "abc"}, 'has offset "abc", not a byte count'),
        ({"path": "/l", "offset": None}, "has offset null, not a byte count"),
        ({"path": "/l", "offset": 1.5}, "has offset 1.5, not a byte count"),
        ({"path": "/l", "offset": True}, "has offset true, not a byte count"),
        ({"path": "/l", "offset": -3}, "has offset -3, not a byte count"),
        ({"path": "/l", "offset": [1]}, "has offset [1], not a byte count"),
        ({"path": "/l"}, "has no offset"),
        ({"path": 7, "offset": 1}, "has path 7, not a path"),
        ({"path": "/l", "offset": 1, "complete": "yes"}, 'has complete "yes", not true or false'),
        ({"path": "/l", "offset": 1, "head": 5}, "has head 5, not a hash"),
        ({"path": "/l", "offset": 1, "updated": "now"}, 'has updated "now", not a time'),
    ],
)
def test_an_entry_of_the_wrong_type_is_one_line_naming_file_key_and_field(
    tmp_path: Path, entry: object, problem: str
) -> None:
    path = _registry_with(tmp_path, entry)
    with pytest.raises(RegistryUnreadable) as err:
        Registry(tmp_path)
    msg = str(err.value)
    assert msg.startswith(f"checkpoint registry {path}: entry '64769:1234' {problem}"), msg
    assert "\n" not in msg
    assert isinstance(err.value, ShipperError)


def test_a_well_formed_registry_still_loads(tmp_path: Path) -> None:
    _registry_with(tmp_path, {"path": "/l", "offset": 10, "complete": True, "head": "ab", "updated": 1.5})
    assert Registry(tmp_path).offset("64769:1234") == 10


def test_a_bad_entry_reaches_the_user_as_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = tmp_path / "state"
    path = _registry_with(state, {"path": "/l", "offset": "abc"})
    log = tmp_path / "exim_mainlog"
    log.write_bytes(b"2025-02-01 10:00:00 1tXaaa-00000000001-0ABC Completed\n")
    argv = ["backfill", str(log), "--state-dir", str(state), "--opensearch-url", "http://127.0.0.1:1"]
    assert cli.main([*argv, "--server-name", "mx1", "--timezone", "UTC"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(
        f"exim-shipper: checkpoint registry {path}: entry '64769:1234'"
    )


# --- saving under faults -------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["write", "fsync", "replace"])
@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EIO])
def test_a_failed_save_is_one_line_leaves_no_temp_file_and_keeps_the_old_registry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str, code: int
) -> None:
    reg = Registry(tmp_path)
    reg.advance("1:2", "/l", 100)
    before = (tmp_path / "registry.json").read_bytes()

    def fail(*_: object, **__: object) -> None:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, where, fail)
    with pytest.raises(StateError) as err:
        reg.advance("1:2", "/l", 200)
    monkeypatch.undo()
    name = errno.errorcode[code]
    assert (
        str(err.value)
        == f"cannot save checkpoints to {tmp_path / 'registry.json'}: {os.strerror(code)} ({name})"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["registry.json"], "no registry.tmp.PID left"
    assert (tmp_path / "registry.json").read_bytes() == before
    assert Registry(tmp_path).offset("1:2") == 100


def test_registry_is_0600_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o000)
    try:
        Registry(tmp_path).advance("1:2", "/l", 1)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "registry.json").stat().st_mode) == 0o600


# --- the state directory at start ---------------------------------------------------------------


def test_prepare_creates_the_directory_0700_whatever_the_umask(tmp_path: Path) -> None:
    state = tmp_path / "a" / "state"
    old = os.umask(0o000)
    try:
        prepare_state_dir(state)
    finally:
        os.umask(old)
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    assert list(state.iterdir()) == [], "the write probe is removed"


def test_prepare_makes_existing_state_private(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    for name in ("registry.json", "deadletter.ndjson", "lock"):
        (tmp_path / name).write_bytes(b"{}")
        (tmp_path / name).chmod(0o644)
    prepare_state_dir(tmp_path)
    assert stat.S_IMODE(tmp_path.stat().st_mode) == 0o700
    for name in ("registry.json", "deadletter.ndjson", "lock"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name


def test_prepare_keeps_the_mode_of_a_directory_it_may_not_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A volume root under fsGroup belongs to root: chmod is refused, the shipper still starts."""
    real = Path.chmod

    def chmod(self: Path, mode: int) -> None:
        if self == tmp_path:
            raise PermissionError(errno.EPERM, os.strerror(errno.EPERM))
        real(self, mode)

    monkeypatch.setattr(Path, "chmod", chmod)
    prepare_state_dir(tmp_path)


@pytest.mark.parametrize("code", [errno.EROFS, errno.EACCES, errno.ENOSPC])
def test_prepare_refuses_an_unwritable_directory_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    # The tests run as root, for whom a 0500 directory is still writable: the kernel's answer for a
    # read-only mount (EROFS), a foreign directory (EACCES) or a full one is simulated at os.open.
    real = os.open

    def fake_open(path: object, flags: int, *args: int, **kw: object) -> int:
        if str(path).startswith(str(tmp_path)) and flags & os.O_CREAT:
            raise OSError(code, os.strerror(code))
        return real(path, flags, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", fake_open)
    with pytest.raises(StateError) as err:
        prepare_state_dir(tmp_path)
    assert str(err.value) == (
        f"state directory {tmp_path}: not writable ({os.strerror(code)} ({errno.errorcode[code]}))"
    )


def _in_own_mount(state: Path, options: str, *argv: str) -> subprocess.CompletedProcess[str]:
    """`python -m shipper ARGV` in a mount namespace of its own where `state` is a tmpfs with `options`:
    a real read-only or small filesystem, gone when the process ends."""
    state.mkdir()
    script = f'mount -t tmpfs -o {options} none "$1" && shift && exec "$@"'
    cmd = ["unshare", "-m", "sh", "-c", script, "sh", str(state), sys.executable, "-m", "shipper", *argv]
    return subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=60, cwd=ROOT)


def _can_mount() -> bool:
    try:
        probe = subprocess.run(
            ["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=4k none /mnt"],
            check=False,
            capture_output=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


needs_mount = pytest.mark.skipif(
    not shutil.which("unshare") or not _can_mount(), reason="needs unshare -m and tmpfs mounts (root)"
)


@needs_mount
@pytest.mark.parametrize(
    ("options", "message"),
    [
        ("ro,size=64m", "not writable (Read-only file system (EROFS))"),
        ("size=4m", "only 4096 KiB free, at least 16 MiB needed for checkpoints and dead letters"),
    ],
)
def test_backfill_on_a_read_only_or_small_state_filesystem_stops_at_start_in_one_line(
    tmp_path: Path, options: str, message: str
) -> None:
    log = tmp_path / "exim_mainlog"
    log.write_bytes(b"2025-02-01 10:00:00 1tXaaa-00000000001-0ABC Completed\n")
    state = tmp_path / "state"
    argv = ["backfill", str(log), "--state-dir", str(state), "--opensearch-url", "http://127.0.0.1:1"]
    res = _in_own_mount(state, options, *argv, "--server-name", "mx1", "--timezone", "UTC")
    assert (res.returncode, res.stdout) == (1, "")
    assert res.stderr == f"exim-shipper: state directory {state}: {message}\n"


def test_prepare_refuses_a_nearly_full_filesystem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = os.statvfs(tmp_path)

    class Full:
        f_frsize = 4096
        f_bavail = 1000  # 4000 KiB

    monkeypatch.setattr(os, "statvfs", lambda _: Full())
    with pytest.raises(StateError) as err:
        prepare_state_dir(tmp_path)
    assert str(err.value) == (
        f"state directory {tmp_path}: only 4000 KiB free, at least 16 MiB needed for checkpoints and dead letters"
    )
    monkeypatch.setattr(os, "statvfs", lambda _: real)
    prepare_state_dir(tmp_path)


def test_a_state_path_that_is_a_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "state").write_bytes(b"")
    with pytest.raises(StateError) as err:
        prepare_state_dir(tmp_path / "state")
    assert str(err.value) == f"state directory {tmp_path / 'state'}: cannot create it (File exists (EEXIST))"


# --- one shipper per state directory ------------------------------------------------------------


def test_a_second_lock_is_refused_naming_the_holder_and_a_released_one_is_free(tmp_path: Path) -> None:
    first = lock_state_dir(tmp_path)
    assert (tmp_path / "lock").read_text() == f"{os.getpid()}\n"
    with pytest.raises(StateError) as err:
        lock_state_dir(tmp_path)
    assert str(err.value) == (
        f"state directory {tmp_path} is in use by another exim-shipper (pid {os.getpid()}); "
        "run one shipper per state directory"
    )
    first.release()
    lock_state_dir(tmp_path).release()


def test_the_lock_removes_temp_files_of_a_shipper_killed_mid_save(tmp_path: Path) -> None:
    (tmp_path / "registry.tmp.4242").write_bytes(b"")
    (tmp_path / "registry.json").write_bytes(b'{"version": 1, "files": {}}')
    lock_state_dir(tmp_path).release()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lock", "registry.json"]


HOLDER = """
import sys, time
from pathlib import Path
from shipper.checkpoints import lock_state_dir
lock = lock_state_dir(Path(sys.argv[1]))
print("locked", flush=True)
time.sleep(60)
"""


def test_a_second_shipper_process_is_refused_in_one_line_and_read_only_commands_are_not(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    log = tmp_path / "exim_mainlog"
    log.write_bytes(b"2025-02-01 10:00:00 1tXaaa-00000000001-0ABC Completed\n")
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(state)], stdout=subprocess.PIPE, cwd=ROOT)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"locked\n"
        base = [sys.executable, "-m", "shipper"]
        flags = ["--state-dir", str(state), "--opensearch-url", "http://127.0.0.1:1"]
        flags += ["--server-name", "mx1", "--timezone", "UTC"]
        for cmd in (["backfill", str(log)], ["run", str(log)]):
            res = subprocess.run(
                base + cmd + flags, check=False, capture_output=True, text=True, timeout=30, cwd=ROOT
            )
            assert res.returncode == 1, res.stderr
            assert res.stderr == (
                f"exim-shipper: state directory {state} is in use by another exim-shipper "
                f"(pid {holder.pid}); run one shipper per state directory\n"
            )
        # health reads the state beside a running sidecar: it must not need the lock.
        res = subprocess.run(
            [*base, "health", str(log), "--state-dir", str(state)],
            check=False,
            capture_output=True,
            text=True,
            timeout=30,
            cwd=ROOT,
        )
        # It judges the sidecar's status file (none here, the holder is no sidecar), not the lock.
        assert "in use" not in res.stdout + res.stderr
        assert "no sidecar status" in res.stderr, res.stdout + res.stderr
    finally:
        holder.kill()
        holder.wait()
