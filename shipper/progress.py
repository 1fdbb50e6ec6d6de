"""Backfill progress on stderr: a redrawn bar on a terminal, a plain line every few seconds otherwise."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from typing import TextIO


def _clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


class Progress:
    """Figures for one file: lines, MB read (of the file as stored, so ETA holds for archives), lines/s, ETA.

    `update` is cheap enough for every batch: it redraws at most every `every` seconds.
    """

    def __init__(
        self,
        name: str,
        total_bytes: int,
        out: TextIO,
        *,
        tty: bool,
        every: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.total = max(total_bytes, 1)
        self.out = out
        self.tty = tty
        self.every = every if every is not None else (0.25 if tty else 10.0)
        self.now = clock
        self.start = self.now()
        self.shown = self.start
        self.lines = 0
        self.done_bytes = 0
        self.base = 0  # bytes already shipped before this run (a resumed file): not part of the rate
        self.drawn = False

    def resume_at(self, offset: int) -> None:
        """The run starts `offset` bytes into the file (a checkpoint): count them done, but not as speed."""
        self.base = self.done_bytes = offset

    def line(self) -> str:
        elapsed = max(self.now() - self.start, 1e-9)
        rate = self.lines / elapsed
        frac = min(self.done_bytes / self.total, 1.0)
        byte_rate = (self.done_bytes - self.base) / elapsed
        eta = _clock((self.total - self.done_bytes) / byte_rate) if byte_rate > 0 and frac < 1 else "-"
        mb = f"{self.done_bytes / 1e6:,.1f}/{self.total / 1e6:,.1f} MB"
        return f"{frac:4.0%} {mb}  {self.lines:,} lines  {rate:,.0f} lines/s  ETA {eta}"

    def update(self, lines: int, done_bytes: int) -> None:
        self.lines, self.done_bytes = lines, done_bytes
        now = self.now()
        if now - self.shown < self.every:
            return
        self.shown = now
        self._draw()

    def _draw(self) -> None:
        if self.tty:
            width = shutil.get_terminal_size((100, 20)).columns
            figures = self.line()
            room = max(width - len(figures) - 4, 10)
            name = self.name if len(self.name) <= room else "…" + self.name[-(room - 1) :]
            self.out.write(f"\r{name}  {figures}"[: width - 1].ljust(width - 1))
            self.drawn = True
        else:
            self.out.write(f"exim-shipper: {self.name}: {self.line()}\n")
        self.out.flush()

    def close(self) -> None:
        """Leave the terminal's line clean for the closing table."""
        if self.tty and self.drawn:
            self.out.write("\r" + " " * (shutil.get_terminal_size((100, 20)).columns - 1) + "\r")
            self.out.flush()
