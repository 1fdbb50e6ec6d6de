"""shipper.heap: glibc's malloc maps a large block freed and asked for again on its own (its pages go back)."""

from __future__ import annotations

import ctypes
import subprocess
import sys

import pytest

from shipper import heap

# A child allocates and frees a 4 MiB block, then allocates it again and prints how many bytes malloc
# holds in blocks mapped on their own (mallinfo2's hblkhd) while it holds the second.
_CHILD = """
import ctypes, sys
from shipper import heap
tuned = heap.tune() if sys.argv[1] == "tune" else False
libc = ctypes.CDLL(None)
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
                 "fordblks", "keepcost")]
libc.mallinfo2.restype = Info
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = (ctypes.c_void_p,)
size = 4 << 20
libc.free(libc.malloc(size))
p = libc.malloc(size)
print(tuned, libc.mallinfo2().hblkhd >= size)
libc.free(p)
"""


def _glibc_with_mallinfo2() -> bool:
    try:
        libc = ctypes.CDLL(None)
        return hasattr(libc, "gnu_get_libc_version") and hasattr(libc, "mallinfo2")
    except OSError:
        return False


needs_glibc = pytest.mark.skipif(not _glibc_with_mallinfo2(), reason="glibc >= 2.33 (mallinfo2) only")


def _child(mode: str, env: dict[str, str] | None = None) -> str:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, mode], capture_output=True, text=True, check=True, env=env
    )
    return out.stdout.strip()


@needs_glibc
def test_a_large_block_freed_and_asked_again_is_mapped_on_its_own_when_tuned() -> None:
    assert _child("tune") == "True True"


@needs_glibc
def test_untuned_glibc_serves_it_from_the_heap_which_keeps_its_pages() -> None:
    # The default this module turns off: the threshold rose to the 4 MiB freed.
    assert _child("plain") == "False False"


def test_a_malloc_variable_the_user_set_wins() -> None:
    assert heap.tune({"MALLOC_ARENA_MAX": "4"}) is False
    assert heap.tune({"GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=65536"}) is False
