"""The process's C heap: glibc's malloc set up so that a long backfill's peak RSS stays down (issue 11)."""

from __future__ import annotations

import ctypes
import os
from collections.abc import Mapping

# mallopt(3)'s parameter numbers (malloc.h).
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8

MMAP_THRESHOLD = 1 << 20
"""Blocks of this size and up are mapped on their own and unmapped when freed."""

_USER_SET = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_ARENA_MAX", "GLIBC_TUNABLES")


def tune(environ: Mapping[str, str] = os.environ) -> bool:
    """Set glibc's malloc for the ship loop; whether it was set (not on another C library, nor when the
    user set malloc's variables: glibc read those at start, and they win).

    A bulk body is megabytes: glibc raises its mmap threshold to the largest mapped block freed, so
    later bodies came from the main heap, which kept their pages; a fixed threshold turns that
    adjustment off. The sender thread's own arena held ~10 MB more beside the main one: the GIL
    serialises the Python side anyway, and the core allocates through mimalloc. Together, backfill of
    the 1M-line bench log peaked at 145.1 MB against 160.5 MB (bench/memory.py --env).

    For the ship loop's commands alone (`backfill`, `run`): every mapped block's pages are faulted in
    afresh, which `parse` paid for with ~20% of its time (1.8 s against 1.5 s on a 200k-line log) to
    save a few MB it never needed."""
    if any(environ.get(name) for name in _USER_SET):
        return False
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018 - glibc's alone: another C library's mallopt differs
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_ARENA_MAX, 1))
