"""Backfill progress on stderr: rich bars (per file and in total) on a terminal, a plain line every few
seconds elsewhere, nothing with --quiet; all from one set of figures (bytes as stored, lines, rates, ETA)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol, TextIO

from rich.console import Console
from rich.progress import BarColumn, ProgressColumn, Task, TaskID
from rich.progress import Progress as RichProgress
from rich.table import Column
from rich.text import Text

from shipper.file_labels import labels, shorten

Clock = Callable[[], float]


def clock_text(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def compact(n: float) -> str:
    """A count in at most 5 characters (9,999 / 12.3k / 123k / 1.2M): bars are redrawn, not read closely;
    the closing table has the exact figures."""
    if n < 10_000:
        return f"{n:,.0f}"
    for unit, scale in (("k", 1e3), ("M", 1e6), ("G", 1e9)):
        v = n / scale
        if v < 100:
            return f"{v:.1f}{unit}"
        if v < 1000:
            return f"{v:.0f}{unit}"
    return f"{n / 1e12:.0f}T"


class Meter:
    """Figures for a stretch of work: bytes of the files as stored (what is known before reading a
    compressed file) and lines; rates and ETA since it started, not counting bytes done before it."""

    def __init__(self, total: int, clock: Clock) -> None:
        self.total = max(total, 0)
        self.clock = clock
        self.start = clock()
        self.done = 0
        self.base = 0  # done before this run (a checkpoint, a skipped file): not speed
        self.lines = 0

    def elapsed(self) -> float:
        return max(self.clock() - self.start, 1e-9)

    def fraction(self) -> float:
        return min(self.done / self.total, 1.0) if self.total else 1.0

    def line_rate(self) -> float:
        return self.lines / self.elapsed()

    def byte_rate(self) -> float:
        return (self.done - self.base) / self.elapsed()

    def eta(self) -> float | None:
        """Seconds left at the rate so far; None before any speed is known, or when done."""
        rate = self.byte_rate()
        if rate <= 0 or self.fraction() >= 1:
            return None
        return (self.total - self.done) / rate

    def figures(self) -> str:
        """The plain-text figures: percent, MB, lines, both rates, ETA."""
        mb = f"{self.done / 1e6:,.1f}/{self.total / 1e6:,.1f} MB"
        rates = f"{self.line_rate():,.0f} lines/s  {self.byte_rate() / 1e6:,.1f} MB/s"
        return f"{self.fraction():4.0%} {mb}  {self.lines:,} lines  {rates}  ETA {clock_text(self.eta())}"


class FileProgress:
    """One file's progress, as Shipper.backfill reports it; the run's total follows along."""

    def __init__(self, run: BackfillProgress, number: int, label: str, size: int) -> None:
        self.run = run
        self.number = number
        self.label = label
        self.meter = Meter(size, run.clock)
        self.skipped = ""
        # The run's figures before this file, so the total is "earlier files + this one".
        self._total_done = run.total.done
        self._total_lines = run.total.lines

    def resume_at(self, offset: int) -> None:
        """The run starts `offset` bytes into the file (its checkpoint): done already, but not speed."""
        self.meter.base = self.meter.done = offset
        self.run.total.base += offset
        self._follow()

    def update(self, lines: int, done_bytes: int) -> None:
        """Cheap enough for every batch: the views decide how often they draw."""
        self.meter.lines, self.meter.done = lines, done_bytes
        self._follow()
        self.run.view.advanced(self)

    def skip(self, reason: str) -> None:
        """Not read at all (already shipped): the file counts as done, none of it as speed."""
        self.skipped = reason
        self.meter.base = self.meter.done = self.meter.total
        self.run.total.base += self.meter.total
        self._follow()
        self.run.view.skipped(self)

    def _follow(self) -> None:
        total = self.run.total
        total.done = self._total_done + self.meter.done
        total.lines = self._total_lines + self.meter.lines

    def finish(self) -> None:
        if not self.skipped:
            self.meter.done = max(self.meter.done, self.meter.total)
            self._follow()
        self.run.view.finished(self)


class View(Protocol):
    def started(self, f: FileProgress) -> None: ...
    def advanced(self, f: FileProgress) -> None: ...
    def skipped(self, f: FileProgress) -> None: ...
    def finished(self, f: FileProgress) -> None: ...
    def close(self) -> None: ...


class BackfillProgress:
    """The progress of one backfill over `paths`: `with run.file(n) as f: shipper.backfill(path, f)`."""

    def __init__(self, paths: list[Path], view: View, clock: Clock = time.monotonic) -> None:
        self.paths = paths
        self.labels = labels([str(p) for p in paths])
        self.sizes = [p.stat().st_size for p in paths]
        self.view = view
        self.clock = clock
        self.total = Meter(sum(self.sizes), clock)
        self.several = len(paths) > 1

    @contextmanager
    def file(self, index: int) -> Iterator[FileProgress]:
        """Progress for `paths[index]`; its bar goes when the file is done (or failed)."""
        f = FileProgress(self, index + 1, self.labels[index], self.sizes[index])
        self.view.started(f)
        ok = False
        try:
            yield f
            ok = True
        finally:
            if ok:
                f.finish()
            else:
                self.view.close()

    def close(self) -> None:
        self.view.close()

    def __enter__(self) -> BackfillProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def on_stderr(paths: list[Path], *, quiet: bool, stream: TextIO | None = None) -> BackfillProgress:
    """Bars on a terminal, plain lines elsewhere (a log, a pipe, systemd), nothing when quiet."""
    out = stream if stream is not None else sys.stderr
    view: View
    if quiet:
        view = Silent()
    elif out.isatty():
        view = Bars(Console(file=out))
    else:
        view = Lines(out)
    return BackfillProgress(paths, view)


class Silent:
    """--quiet."""

    def started(self, f: FileProgress) -> None:
        pass

    def advanced(self, f: FileProgress) -> None:
        pass

    def skipped(self, f: FileProgress) -> None:
        pass

    def finished(self, f: FileProgress) -> None:
        pass

    def close(self) -> None:
        pass


class Lines:
    """Off a terminal: one plain line per period (the file, its figures, and the total's when there are
    several files), and a line for each file skipped; never a control character."""

    def __init__(self, out: TextIO, every: float = 10.0) -> None:
        self.out = out
        self.every = every
        self.shown: float | None = None

    def started(self, f: FileProgress) -> None:
        if self.shown is None:
            self.shown = f.run.total.start  # the first line one period into the run, not per file

    def _name(self, f: FileProgress) -> str:
        n = len(f.run.paths)
        return f"[{f.number}/{n}] {f.label}" if f.run.several else f.label

    def advanced(self, f: FileProgress) -> None:
        now = f.run.clock()
        if self.shown is not None and now - self.shown < self.every:
            return
        self.shown = now
        line = f"exim-shipper: {self._name(f)}: {f.meter.figures()}"
        if f.run.several:
            t = f.run.total
            line += f"; all files {t.fraction():.0%}, ETA {clock_text(t.eta())}"
        self.out.write(line + "\n")
        self.out.flush()

    def skipped(self, f: FileProgress) -> None:
        self.out.write(f"exim-shipper: {self._name(f)}: {f.skipped}, skipped\n")
        self.out.flush()

    def finished(self, f: FileProgress) -> None:
        pass

    def close(self) -> None:
        pass


class _Figure(ProgressColumn):
    """A right-aligned column of fixed width, so the figures do not jitter as they change."""

    def __init__(self, width: int, text: Callable[[Meter], str]) -> None:
        super().__init__(table_column=Column(width=width, justify="right", no_wrap=True))
        self.text = text

    def render(self, task: Task) -> Text:
        meter: Meter = task.fields["meter"]
        return Text(self.text(meter), style=task.fields["style"])


class _Name(ProgressColumn):
    def __init__(self, width: int) -> None:
        super().__init__(table_column=Column(width=width, no_wrap=True))
        self.width = width

    def render(self, task: Task) -> Text:
        # Plain Text, not markup: a file called "[x].log" is a file name, not a style.
        return Text(shorten(task.description, self.width), style=task.fields["style"])


# Figures after the name and bar (widths of their longest forms); the count of lines only where the
# terminal is wide enough to leave names and bars room besides (the closing table has it anyway).
_PERCENT = (4, lambda m: f"{m.fraction():.0%}")
_LINES = (11, lambda m: f"{compact(m.lines)} lines")
_RATES: tuple[tuple[int, Callable[[Meter], str]], ...] = (
    (13, lambda m: f"{compact(m.line_rate())} lines/s"),
    (10, lambda m: f"{m.byte_rate() / 1e6:.1f} MB/s"),
    (12, lambda m: f"ETA {clock_text(m.eta())}"),
)
_MIN_BAR = 10
_WIDE = 100


class Bars:
    """On a terminal: a rich bar for the file being read and one for the total; a finished file's bar
    folds into one line above them (so hundreds of archives do not fill the screen), and so does a
    skipped file's notice."""

    def __init__(self, console: Console, *, auto_refresh: bool = True) -> None:
        self.console = console
        self.auto_refresh = auto_refresh
        shown = [_PERCENT, *([_LINES] if console.width >= _WIDE else []), *_RATES]
        figures = sum(w for w, _ in shown) + len(shown) + 1  # one space between columns
        name = max(12, min(40, console.width - figures - _MIN_BAR))
        self.bars = RichProgress(
            _Name(name),
            BarColumn(bar_width=None),
            *(_Figure(w, text) for w, text in shown),
            console=console,
            auto_refresh=auto_refresh,
            refresh_per_second=4,
            expand=True,
        )
        self.task: TaskID | None = None
        self.total_task: TaskID | None = None
        self.started_live = False

    def started(self, f: FileProgress) -> None:
        if not self.started_live:
            self.bars.start()
            self.started_live = True
        if f.run.several:
            label = f"total: file {f.number}/{len(f.run.paths)}"
            if self.total_task is None:
                self.total_task = self.bars.add_task(label, total=1, meter=f.run.total, style="bold")
            self.bars.update(self.total_task, description=label)
        self.task = self.bars.add_task(f.label, total=1, meter=f.meter, style="")
        self._draw(f)

    def _draw(self, f: FileProgress) -> None:
        if self.task is not None:
            self.bars.update(self.task, completed=f.meter.fraction())
        if self.total_task is not None:
            self.bars.update(self.total_task, completed=f.run.total.fraction())
        if not self.auto_refresh:
            self.bars.refresh()

    def advanced(self, f: FileProgress) -> None:
        self._draw(f)

    def _note(self, label: str, rest: str, style: str = "") -> None:
        """A line above the bars, the file name cut so that it stays one line."""
        room = max(self.console.width - len(rest) - 2, 12)
        self.bars.console.print(Text(f"{shorten(label, room)}: {rest}", style=style), overflow="ellipsis")

    def skipped(self, f: FileProgress) -> None:
        self._note(f.label, f"{f.skipped}, skipped", "dim")
        self._draw(f)

    def finished(self, f: FileProgress) -> None:
        self._draw(f)
        if self.task is not None:
            self.bars.remove_task(self.task)
            self.task = None
        if not f.skipped:
            m = f.meter
            read = f"{m.lines:,} lines, {(m.done - m.base) / 1e6:,.1f} MB in {clock_text(m.elapsed())}"
            self._note(f.label, f"{read} ({compact(m.line_rate())} lines/s, {m.byte_rate() / 1e6:,.1f} MB/s)")
        if not self.auto_refresh:
            self.bars.refresh()

    def close(self) -> None:
        if self.started_live:
            self.bars.stop()
            self.started_live = False
