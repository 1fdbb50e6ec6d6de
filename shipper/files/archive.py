"""Opening log files whatever their compression, detected from content rather than file name."""

from __future__ import annotations

import bz2
import io
import lzma
import sys
import zlib
from pathlib import Path
from typing import Any, BinaryIO

import zstandard

from shipper.errors import InputError

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


_Decompressor = Any  # zlib/bz2/lzma/zstd decompress objects share decompress(), eof and unused_data


def _new_decompressor(kind: str) -> _Decompressor:
    if kind == "gzip":
        return zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    if kind == "bzip2":
        return bz2.BZ2Decompressor()
    if kind == "xz":
        return lzma.LZMADecompressor()
    return zstandard.ZstdDecompressor().decompressobj()


_MEMBER_MAGIC = {"gzip": b"\x1f\x8b", "bzip2": b"BZh", "xz": b"\xfd7zXZ\x00", "zstd": b"\x28\xb5\x2f\xfd"}
_READ_SIZE = 1 << 16
_PROBE_SIZE = 256
_DECODE_ERRORS = (zlib.error, OSError, EOFError, lzma.LZMAError, zstandard.ZstdError, ValueError)


class SalvagingReader(io.RawIOBase):
    """Decompresses gzip/bzip2/xz/zstd (several members or frames in a row) and, where the stream is
    truncated or corrupt, ends cleanly after the last byte it could decode instead of raising. Rotated
    archives are cut short by a full disk or a killed logrotate; everything before the damage is still
    the server's log. `damage` then says what happened; it is None for a sound stream."""

    def __init__(self, raw: BinaryIO, kind: str) -> None:
        super().__init__()
        self.raw = raw
        self.kind = kind
        self.damage: str | None = None
        self._dec: _Decompressor = _new_decompressor(kind)
        self._pending = b""  # decoded bytes not yet handed out
        self._consumed = 0  # compressed bytes fed so far
        self._member_started = False
        self._member_offset = 0  # where the member being decoded starts in the compressed stream
        self._member_out = 0  # bytes it has decoded to so far
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        while not self._pending and not self._done:
            self._fill()
        n = min(len(view), len(self._pending))
        view[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def _fill(self) -> None:
        chunk = self.raw.read(_READ_SIZE)
        if not chunk:
            if self._member_started:
                self._fail(
                    f"truncated: the stream ends inside a compressed member, after {self._consumed} bytes"
                )
            self._done = True
            return
        self._feed(chunk)

    def _feed(self, chunk: bytes) -> None:
        while chunk and not self._done:
            if not self._member_started:
                # Between members: gzip and xz allow zero padding; anything else must open a member.
                stripped = chunk.lstrip(b"\0")
                self._consumed += len(chunk) - len(stripped)
                chunk = stripped
                if not chunk:
                    return
                magic = _MEMBER_MAGIC[self.kind]
                if not magic.startswith(chunk[: len(magic)]):
                    self._fail(f"corrupt: data after byte {self._consumed} is not {self.kind}")
                    return
                self._member_started = True
                self._member_offset = self._consumed
                self._member_out = 0
            try:
                out = self._dec.decompress(chunk)
            except _DECODE_ERRORS as exc:
                self._pending += self._salvage()
                self._fail(f"corrupt after {self._consumed} compressed bytes ({exc})")
                return
            self._pending += out
            self._member_out += len(out)
            self._consumed += len(chunk)
            if not self._dec.eof:
                return
            chunk = self._dec.unused_data
            self._consumed -= len(chunk)
            self._dec = _new_decompressor(self.kind)
            self._member_started = False

    def _salvage(self) -> bytes:
        """The failing chunk's output before the bad byte: a decompressor that raises hands out nothing
        of that call, so the member is decoded again from its start in small steps, up to the damage."""
        if not self.raw.seekable():
            return b""
        try:
            self.raw.seek(self._member_offset)
            data = self.raw.read(self._consumed + _READ_SIZE - self._member_offset)
        except OSError:
            return b""
        dec = _new_decompressor(self.kind)
        out: list[bytes] = []
        for i in range(0, len(data), _PROBE_SIZE):
            try:
                out.append(dec.decompress(data[i : i + _PROBE_SIZE]))
            except _DECODE_ERRORS:
                break
            if dec.eof:
                break
        return b"".join(out)[self._member_out :]

    def _fail(self, why: str) -> None:
        self.damage = why
        self._done = True

    def close(self) -> None:
        try:
            self.raw.close()
        finally:
            super().close()


def damage_of(stream: BinaryIO) -> str | None:
    """What cut a stream from wrap_decompressor short, or None when it was read whole (or is plain)."""
    raw = getattr(stream, "raw", None)
    return raw.damage if isinstance(raw, SalvagingReader) else None


def wrap_decompressor(raw: BinaryIO, head: bytes) -> BinaryIO:
    """Wrap an already-opened binary stream in the decompressor its first bytes call for; damage in
    a compressed stream ends it early (see damage_of) rather than raising mid-read."""
    kind = detect_compression(head)
    if kind is None:
        return raw
    return io.BufferedReader(SalvagingReader(raw, kind), buffer_size=1 << 20)


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


def open_input(name: str) -> BinaryIO:
    """A log file a command names, or `-` for stdin, opened as open_log opens it; what keeps it from
    opening is one InputError line naming the file."""
    if name == "-":
        raw = sys.stdin.buffer
        head = raw.peek(8)[:8] if hasattr(raw, "peek") else b""
        return wrap_decompressor(raw, head)
    try:
        return open_log(name)
    except FileNotFoundError:
        raise InputError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{name}: is a directory, not a log file") from None
    except PermissionError:
        raise InputError(f"{name}: permission denied") from None
    except OSError as exc:
        raise InputError(f"{name}: cannot open: {exc.strerror or exc}") from None
