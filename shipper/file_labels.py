"""How files are named on screen: the part of their paths that tells them apart, middle-elided to fit."""

from __future__ import annotations

import os
from pathlib import PurePath

ELLIPSIS = "…"


def labels(paths: list[str]) -> list[str]:
    """One label per path: the file name alone when that is unique, else the path below the directory
    they all share (two `mainlog.1` from two servers' folders stay apart)."""
    names = [PurePath(p).name for p in paths]
    if len(set(names)) == len(names):
        return names
    common = os.path.commonpath([str(PurePath(p).parent) for p in paths])
    return [os.path.relpath(p, common) for p in paths]


def shorten(text: str, width: int) -> str:
    """`text` in at most `width` characters, cut in the middle: rotated logs differ at their ends (dates,
    suffixes), so the end keeps the larger share; the start says which log it is."""
    if len(text) <= width:
        return text
    if width <= 1:
        return ELLIPSIS[:width]
    head = (width - 1) * 2 // 5
    tail = width - 1 - head
    return text[:head] + ELLIPSIS + text[len(text) - tail :]
