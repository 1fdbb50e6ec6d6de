"""Opening log files whatever their compression, detected from content rather than file name."""

from __future__ import annotations

import bz2
import gzip
import lzma
from pathlib import Path
from typing import BinaryIO

import zstandard

# Magic numbers: RFC 1952 (gzip), bzip2 "BZh", xz stream header, zstd frame (RFC 8878).
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
)


def detect_compression(head: bytes) -> str | None:
    """Name the compression whose magic number starts `head`, or None for plain data."""
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    return None


def wrap_decompressor(raw: BinaryIO, head: bytes) -> BinaryIO:
    """Wrap an already-opened binary stream in the decompressor its first bytes call for."""
    kind = detect_compression(head)
    if kind == "gzip":
        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    if kind == "bzip2":
        return bz2.BZ2File(raw, mode="rb")  # type: ignore[return-value]
    if kind == "xz":
        return lzma.LZMAFile(raw, mode="rb")  # type: ignore[return-value]
    if kind == "zstd":
        # read_across_frames: zstd CLI output of concatenated runs holds several frames
        return zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
    return raw


def dataset_for(name: str | Path) -> str:
    """Which Exim log a file is, from its name: `exim.reject`, `exim.panic` or `exim.main`."""
    low = Path(name).name.lower()
    if "reject" in low:
        return "exim.reject"
    if "panic" in low:
        return "exim.panic"
    return "exim.main"


def open_log(path: str | Path) -> BinaryIO:
    """Open a log file for binary reading, transparently decompressing gzip/bzip2/xz/zstd."""
    raw: BinaryIO = Path(path).open("rb")  # noqa: SIM115 - the caller owns and closes the stream
    try:
        head = raw.read(8)
        raw.seek(0)
    except OSError:
        raw.close()
        raise
    return wrap_decompressor(raw, head)
