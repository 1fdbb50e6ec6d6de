"""Documents OpenSearch rejected for good, kept as NDJSON with the reason, so nothing is lost silently."""

from __future__ import annotations

import contextlib
import errno
import os
import time
from pathlib import Path

import orjson

from shipper.checkpoints import DEADLETTER_NAME, FILE_MODE, why
from shipper.errors import DeadLetterUnwritable


class DeadLetters:
    """Appends `{"time", "reason", "index", "id", "document"}` lines to `<state_dir>/deadletter.ndjson`.

    Each record is one `write` on an O_APPEND descriptor, undone on failure, so the file never holds half
    a line of ours; a half line left by an older version or a crash is closed off before the next record.
    A document rejected again for the same reason (a re-run after a failure) is not appended twice.
    """

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / DEADLETTER_NAME
        self.count = 0
        self._fd = -1
        self._seen: set[tuple[str, str]] | None = None  # (id, reason) already in the file, read lazily
        self._newline = b""  # written before the next record when the file ends mid-line
        self._dirty = False

    def _fail(self, doing: str, exc: OSError) -> DeadLetterUnwritable:
        return DeadLetterUnwritable(
            f"cannot {doing} dead letters in {self.path}: {why(exc)}; stopping so that the rejected "
            "documents are not lost (the checkpoint stays before them)"
        )

    def _open(self) -> None:
        seen: set[tuple[str, str]] = set()
        try:
            self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, FILE_MODE)
            os.fchmod(self._fd, FILE_MODE)
            with open(self._fd, "rb", closefd=False) as fh:
                last = b"\n"
                for line in fh:
                    last = line[-1:]
                    with contextlib.suppress(orjson.JSONDecodeError, AttributeError, TypeError):
                        rec = orjson.loads(line)
                        seen.add((str(rec.get("id")), str(rec.get("reason"))))
        except OSError as exc:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
            raise self._fail("open", exc) from None
        self._seen = seen
        self._newline = b"" if last == b"\n" else b"\n"

    def add(self, reason: str, action: bytes, body: bytes) -> None:
        """Keep one rejected document (unless the same one was kept for the same reason before)."""
        meta = next(iter(orjson.loads(action).values()))
        doc_id = meta.get("_id")
        if self._seen is None:
            self._open()
        assert self._seen is not None
        key = (str(doc_id), reason)
        if key in self._seen:
            return
        record = orjson.dumps(
            {
                "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "reason": reason,
                "index": meta.get("_index"),
                "id": doc_id,
                "document": orjson.loads(body),
            }
        )
        data = self._newline + record + b"\n"
        size = -1
        try:
            size = os.fstat(self._fd).st_size
            written = os.write(self._fd, data)
            if written != len(data):  # a short write: the disk filled up mid-record
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        except OSError as exc:
            if size >= 0:
                # One writer (the state lock): cutting back to the size before leaves no half line.
                with contextlib.suppress(OSError):
                    os.ftruncate(self._fd, size)
            raise self._fail("write", exc) from None
        self._newline = b""
        self._seen.add(key)
        self._dirty = True
        self.count += 1

    def sync(self) -> None:
        """Make the records durable before a checkpoint moves past the documents they hold."""
        if not self._dirty:
            return
        try:
            os.fsync(self._fd)
        except OSError as exc:
            raise self._fail("sync", exc) from None
        self._dirty = False

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
