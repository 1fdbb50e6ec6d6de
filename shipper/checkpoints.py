"""The state directory: its checks and lock, and the registry of acknowledged offsets per file identity,
written atomically (tmp, fsync, rename)."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time
from pathlib import Path
from typing import Any

import orjson

from shipper.errors import RegistryUnreadable, StateError

VERSION = 1
DIR_MODE = 0o700
FILE_MODE = 0o600
# Below this, a registry save or a dead letter may fail mid-run: refuse at start instead.
MIN_FREE_BYTES = 16 * 1024 * 1024
LOCK_NAME = "lock"
REGISTRY_NAME = "registry.json"
DEADLETTER_NAME = "deadletter.ndjson"


def why(exc: OSError) -> str:
    """`No space left on device (ENOSPC)`: the reason of an OSError, for a one-line message."""
    name = errno.errorcode.get(exc.errno or 0)
    text = exc.strerror or str(exc)
    return f"{text} ({name})" if name else text


def replace_file(path: Path, body: bytes, tmp: Path) -> None:
    """Replace the state file `path` whole with `body`, mode 0600, by way of `tmp` (write, fsync, rename),
    or leave it as it was: on any failure `tmp` goes and the error is raised."""
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        try:
            # Whatever the umask took away or left: dead letters hold addresses and subjects.
            os.fchmod(fd, FILE_MODE)
            view = memoryview(body)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        tmp.replace(path)
        # The rename itself must survive a crash: fsync the directory too.
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def prepare_state_dir(path: Path) -> None:
    """Create the state directory (0700), make the files in it private (0600) and prove that it can be
    written and has room, so that a read-only or full volume is one line at start rather than a failure
    after the first batch.

    A directory this process does not own (a volume root under Kubernetes' fsGroup) keeps its mode: it
    cannot be changed, and the files in it, which are, stay 0600.
    """
    what = f"state directory {path}"
    try:
        path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    except OSError as exc:
        raise StateError(f"{what}: cannot create it ({why(exc)})") from None
    if not path.is_dir():
        raise StateError(f"{what}: not a directory")
    try:
        with contextlib.suppress(PermissionError):
            path.chmod(DIR_MODE)
        for name in (REGISTRY_NAME, DEADLETTER_NAME, LOCK_NAME):
            with contextlib.suppress(FileNotFoundError):
                (path / name).chmod(FILE_MODE)
        probe = path / f".probe.{os.getpid()}"
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        try:
            os.write(fd, b"exim-shipper\n")
            os.fsync(fd)
        finally:
            os.close(fd)
            with contextlib.suppress(OSError):
                probe.unlink()
        st = os.statvfs(path)
    except OSError as exc:
        raise StateError(f"{what}: not writable ({why(exc)})") from None
    free = st.f_bavail * st.f_frsize
    if free < MIN_FREE_BYTES:
        raise StateError(
            f"{what}: only {free // 1024} KiB free, at least {MIN_FREE_BYTES // 2**20} MiB needed "
            "for checkpoints and dead letters"
        )


class StateLock:
    """An exclusive `flock` on `<state_dir>/lock`, held for the life of the process: two shippers on one
    state directory would each keep only their own registry entries. The kernel drops it on exit,
    however the process ends, so a stale lock file never blocks a restart."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / LOCK_NAME
        try:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, FILE_MODE)
        except OSError as exc:
            raise StateError(f"state directory {state_dir}: cannot open {self.path} ({why(exc)})") from None
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = os.pread(self.fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(self.fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EACCES):
                raise StateError(
                    f"state directory {state_dir} is in use by another exim-shipper (pid {holder}); "
                    "run one shipper per state directory"
                ) from None
            raise StateError(f"state directory {state_dir}: cannot lock {self.path} ({why(exc)})") from None
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, f"{os.getpid()}\n".encode(), 0)
        # Left by a process killed mid-save; under the lock nobody else can be writing one.
        for stale in state_dir.glob(f"{REGISTRY_NAME.removesuffix('.json')}.tmp.*"):
            with contextlib.suppress(OSError):
                stale.unlink()

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)  # closing the only descriptor releases the flock
            self.fd = -1


def lock_state_dir(state_dir: Path) -> StateLock:
    """Take the state directory for this process, or fail in one line naming the pid that holds it."""
    return StateLock(state_dir)


_FIELDS: dict[str, tuple[type | tuple[type, ...], str]] = {
    "offset": (int, "a byte count"),
    "path": (str, "a path"),
    "complete": (bool, "true or false"),
    "head": (str, "a hash"),
    "updated": ((int, float), "a time"),
}


def _check_entry(what: str, key: str, entry: dict[str, Any]) -> None:
    """One clear line naming the entry and field a hand edit (or another program) broke."""
    for field, (kind, meaning) in _FIELDS.items():
        if field not in entry:
            if field == "offset":
                raise RegistryUnreadable(f"{what}: entry {key!r} has no offset; fix or remove that entry")
            continue
        value = entry[field]
        # bool is an int to isinstance: an offset of `true` is as wrong as one of "abc".
        wrong = not isinstance(value, kind) or (kind is not bool and isinstance(value, bool))
        if not wrong and field == "offset" and value < 0:
            wrong = True
        if wrong:
            raise RegistryUnreadable(
                f"{what}: entry {key!r} has {field} {orjson.dumps(value).decode()[:40]}, not {meaning}; "
                "fix or remove that entry (its file is then read again from the start)"
            )


class Registry:
    """`{file key: {"path", "offset", "complete", "size", "head", "updated"}}`; offsets only move forward."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / REGISTRY_NAME
        self.files: dict[str, dict[str, Any]] = {}
        if self.path.exists():
            self.files = self._load()

    def _load(self) -> dict[str, dict[str, Any]]:
        what = f"checkpoint registry {self.path}"
        try:
            data = orjson.loads(self.path.read_bytes())
        except OSError as exc:
            raise RegistryUnreadable(f"{what}: cannot read ({why(exc)})") from None
        except orjson.JSONDecodeError as exc:
            raise RegistryUnreadable(f"{what}: not JSON ({exc}); move it away to start over") from None
        if isinstance(data, dict) and data.get("version") != VERSION:
            return {}  # another version's registry: its offsets may not mean what ours do
        files = data.get("files", {}) if isinstance(data, dict) else None
        if not isinstance(files, dict) or not all(isinstance(v, dict) for v in files.values()):
            raise RegistryUnreadable(f"{what}: not a registry of files; move it away to start over")
        # A corrupt entry is an error, not a re-read from 0: content ids would make that safe, but a
        # silent re-read of a large archive is hours of load nobody asked for.
        for key, entry in files.items():
            _check_entry(what, key, entry)
        return files

    def offset(self, key: str) -> int:
        return int(self.files.get(key, {}).get("offset", 0))

    def complete(self, key: str) -> bool:
        return bool(self.files.get(key, {}).get("complete", False))

    def finished(self, key: str, size: int, *, plain: bool) -> bool:
        """Whether the file (identified by `key`, `size` bytes as stored) was acknowledged to its end, so a
        re-run has nothing to read: an archive marked complete at this very size, or a plain file whose
        checkpoint is its size (a plain file's offsets are its own bytes; a compressed one's are not)."""
        entry = self.files.get(key)
        if entry is None:
            return False
        if entry.get("complete") and entry.get("size") == size:
            return True
        return plain and size > 0 and int(entry.get("offset", 0)) == size

    def head(self, key: str) -> str:
        return str(self.files.get(key, {}).get("head", ""))

    def forget(self, key: str) -> None:
        self.files.pop(key, None)

    def advance(
        self,
        key: str,
        path: str,
        offset: int,
        *,
        complete: bool = False,
        head: str = "",
        size: int | None = None,
        restart: bool = False,
        save: bool = True,
    ) -> None:
        """Record that every entry before `offset` is acknowledged, and (by default) persist it. Offsets
        only move forward, unless `restart` says the file under `key` is being read again from 0: a
        stale offset past what is acknowledged of the new content would skip it after a restart."""
        entry = self.files.setdefault(key, {"path": path, "offset": 0})
        entry["path"] = path
        entry["offset"] = offset if restart else max(offset, int(entry.get("offset", 0)))
        entry["complete"] = complete or (not restart and bool(entry.get("complete", False)))
        if head:
            entry["head"] = head
        if size is not None:
            entry["size"] = size
        entry["updated"] = time.time()
        if save:
            self.save()

    def save(self) -> None:
        """Replace registry.json whole, or leave it as it was: a failure (a full or read-only volume) is
        one line, and the temporary file goes with it."""
        body = orjson.dumps({"version": VERSION, "files": self.files}, option=orjson.OPT_INDENT_2)
        try:
            self.path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
            replace_file(self.path, body, self.path.with_suffix(f".tmp.{os.getpid()}"))
        except OSError as exc:
            raise StateError(f"cannot save checkpoints to {self.path}: {why(exc)}") from None
