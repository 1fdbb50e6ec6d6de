"""The registry of acknowledged offsets per file identity, written atomically (tmp, fsync, rename)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import orjson

from shipper.errors import ShipperError

VERSION = 1


class RegistryUnreadable(ShipperError):
    """registry.json exists but cannot be read or is not a registry: starting over from offset 0 would
    re-ship every log, so it is reported rather than replaced."""


class Registry:
    """`{file key: {"path", "offset", "complete", "size", "head", "updated"}}`; offsets only move forward."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / "registry.json"
        self.files: dict[str, dict[str, Any]] = {}
        if self.path.exists():
            self.files = self._load()

    def _load(self) -> dict[str, dict[str, Any]]:
        what = f"checkpoint registry {self.path}"
        try:
            data = orjson.loads(self.path.read_bytes())
        except OSError as exc:
            raise RegistryUnreadable(f"{what}: cannot read ({exc.strerror or exc})") from None
        except orjson.JSONDecodeError as exc:
            raise RegistryUnreadable(f"{what}: not JSON ({exc}); move it away to start over") from None
        if isinstance(data, dict) and data.get("version") != VERSION:
            return {}  # another version's registry: its offsets may not mean what ours do
        files = data.get("files", {}) if isinstance(data, dict) else None
        if not isinstance(files, dict) or not all(isinstance(v, dict) for v in files.values()):
            raise RegistryUnreadable(f"{what}: not a registry of files; move it away to start over")
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

    def resume(self, key: str, head: str, size: int) -> int:
        """Where a followed file is read from again: its checkpoint, or 0 when the inode now holds
        another file (a different head) or the file is shorter than the checkpoint (truncated)."""
        stored = self.head(key)
        offset = self.offset(key)
        if (stored and head and stored != head) or offset > size:
            return 0
        return offset

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
        save: bool = True,
    ) -> None:
        """Record that every entry before `offset` is acknowledged, and (by default) persist it."""
        entry = self.files.setdefault(key, {"path": path, "offset": 0})
        entry["path"] = path
        entry["offset"] = max(offset, int(entry.get("offset", 0)))
        entry["complete"] = complete or bool(entry.get("complete", False))
        if head:
            entry["head"] = head
        if size is not None:
            entry["size"] = size
        entry["updated"] = time.time()
        if save:
            self.save()

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".tmp.{os.getpid()}")
        with tmp.open("wb") as fh:
            fh.write(orjson.dumps({"version": VERSION, "files": self.files}, option=orjson.OPT_INDENT_2))
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(self.path)
        # The rename itself must survive a crash: fsync the directory too.
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
