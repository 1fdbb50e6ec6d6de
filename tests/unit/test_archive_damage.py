"""Damaged archives: every byte before the damage is read, the damage is named, nothing raises."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import zlib
from collections.abc import Callable

import pytest
import zstandard

from shipper.files.archive import damage_of, wrap_decompressor
from tests.parsing import raw_entries

TEXT = b"".join(
    b"2025-01-0%d 00:%02d:%02d 1tgXJ4-000000001aB-0Cd%d Completed QT=%ds\n"
    % (1 + n % 3, n // 60 % 60, n % 60, n % 10, n)
    for n in range(60_000)
)
COMPRESS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.compress,
    "bzip2": bz2.compress,
    "xz": lzma.compress,
    "zstd": lambda d: zstandard.ZstdCompressor().compress(d),
}


def read(data: bytes) -> tuple[bytes, str | None]:
    stream = wrap_decompressor(io.BytesIO(data), data[:8])
    return stream.read(), damage_of(stream)


@pytest.mark.parametrize("kind", COMPRESS)
def test_sound_multi_member_archive_reads_whole(kind: str) -> None:
    half = len(TEXT) // 2
    out, damage = read(COMPRESS[kind](TEXT[:half]) + COMPRESS[kind](TEXT[half:]))
    assert out == TEXT
    assert damage is None


def _decodable(kind: str, data: bytes) -> bytes:
    """What the format's own streaming decoder gives for `data` (a cut-off stream decodes no further)."""
    if kind == "gzip":
        return zlib.decompressobj(wbits=31).decompress(data)
    if kind == "bzip2":
        return bz2.BZ2Decompressor().decompress(data)
    if kind == "xz":
        return lzma.LZMADecompressor().decompress(data)
    return zstandard.ZstdDecompressor().decompressobj().decompress(data)


@pytest.mark.parametrize("kind", COMPRESS)
@pytest.mark.parametrize("keep", [0.05, 0.5, 0.97])
def test_truncated_archive_yields_all_its_format_can_decode(kind: str, keep: float) -> None:
    whole = COMPRESS[kind](TEXT)
    cut = whole[: int(len(whole) * keep)]
    out, damage = read(cut)
    assert damage is not None and damage.startswith("truncated")
    assert out == _decodable(kind, cut)
    assert TEXT.startswith(out)


@pytest.mark.parametrize("kind", ["bzip2", "xz", "zstd"])
def test_corrupt_archive_stops_at_the_damage_keeping_what_came_before(kind: str) -> None:
    """The bytes before the damage come out even when the damage lies in the first chunk read (the
    whole archive is smaller than one). Like deflate, LZMA may decode a little garbage before its check
    fails; those bytes are kept too, as damaged as they are."""
    whole = bytearray(COMPRESS[kind](TEXT))
    whole[len(whole) * 3 // 4] ^= 0xFF
    out, damage = read(bytes(whole))
    assert damage is not None and damage.startswith("corrupt")
    assert len(out) > len(TEXT) // 4
    assert out[: len(TEXT) // 4] == TEXT[: len(TEXT) // 4]


def test_corrupt_gzip_keeps_what_it_decoded_and_names_the_damage() -> None:
    """Deflate cannot tell a flipped bit until the member's CRC: the bytes decoded up to there are
    kept (they are the log, as damaged as it is), the check's failure is the damage."""
    whole = bytearray(gzip.compress(TEXT))
    whole[len(whole) // 2] ^= 0xFF
    out, damage = read(bytes(whole))
    assert damage is not None and damage.startswith("corrupt")
    assert out[:1000] == TEXT[:1000]


def test_garbage_after_a_member_is_damage_not_an_exception() -> None:
    out, damage = read(gzip.compress(TEXT) + b"this is not gzip")
    assert out == TEXT
    assert damage is not None and "not gzip" in damage


def test_zero_padding_after_a_member_is_not_damage() -> None:
    out, damage = read(gzip.compress(TEXT) + b"\0" * 1024)
    assert (out, damage) == (TEXT, None)


def test_entries_of_a_truncated_archive_end_with_the_cut_line_unterminated() -> None:
    whole = gzip.compress(TEXT)
    stream = wrap_decompressor(io.BytesIO(whole[: len(whole) // 2]), whole[:8])
    entries = list(raw_entries(stream))
    assert damage_of(stream) is not None
    assert all(e.terminated for e in entries[:-1])
    assert b"\n".join(e.data for e in entries) == TEXT[: sum(len(e.data) + e.terminated for e in entries)]
