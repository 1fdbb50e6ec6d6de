"""File identity: device + inode confirmed by a hash of the head bytes, never the path."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import NamedTuple

from shipper.files.archive import detect_compression

HEAD_BYTES = 1024


class FileId(NamedTuple):
    """Who a file is, whatever it is called now: rotation renames it, truncation empties it."""

    dev: int
    inode: int
    head: str  # hash of the first HEAD_BYTES raw bytes ("" while the file is shorter than that)
    compression: str | None = None  # from the same head bytes: gzip, bzip2, xz, zstd or None

    def key(self) -> str:
        return f"{self.dev}:{self.inode}:{self.head}"


def identify(path: str | Path) -> FileId:
    """The identity of the file at `path` (raw bytes: a .gz is identified by its compressed head)."""
    with Path(path).open("rb") as fh:
        st = os.fstat(fh.fileno())
        head = fh.read(HEAD_BYTES)
    return FileId(st.st_dev, st.st_ino, head_hash(head), detect_compression(head))


def head_hash(head: bytes) -> str:
    """Hash of a file's first HEAD_BYTES bytes; empty while the file is shorter (it may still grow)."""
    return hashlib.blake2b(head, digest_size=8).hexdigest() if len(head) >= HEAD_BYTES else ""


def prefix_mark(fd: int, end: int) -> str:
    """A checkpoint's proof of identity for a file still under HEAD_BYTES: `p<n>:<hash of its first n
    bytes>`, n = min(end, HEAD_BYTES). Without it a small file deleted and recreated on the same inode
    would resume at the old offset and lose its first lines."""
    n = min(end, HEAD_BYTES)
    return f"p{n}:{hashlib.blake2b(os.pread(fd, n, 0), digest_size=8).hexdigest()}"


def confirms(fd: int, stored: str, head: str) -> bool:
    """Whether the open file `fd` (head hash `head`) is the file a checkpoint with `stored` was taken
    of. An unconfirmed identity (nothing stored: an older registry, a file that was empty) is not: it
    is read again from 0, which content ids make safe."""
    size, sep, digest = stored[1:].partition(":")
    if stored.startswith("p") and sep and size.isdigit():
        n = int(size)
        data = os.pread(fd, n, 0)
        return len(data) == n and hashlib.blake2b(data, digest_size=8).hexdigest() == digest
    return bool(stored) and stored == head
