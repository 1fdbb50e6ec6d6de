"""Backfill's closing table: one row per file (and a total), laid out to fit 80 columns; rich on a
terminal, plain aligned text (no control characters) anywhere else."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from rich import box
from rich.console import Console
from rich.table import Column, Table
from rich.text import Text

from shipper.file_labels import labels, shorten

WIDTH = 80
GAP = 2  # spaces between columns
MIN_NAME = 12
READABLE_NAME = 20
HEADERS = ("entries", "indexed", "already there", "dead-lettered", "summaries")
# Two-line forms of the headers, for when one line leaves the file names too little room.
HEADERS_2 = (("", "entries"), ("", "indexed"), ("already", "there"), ("dead-", "lettered"), ("", "summaries"))


class Row(Protocol):
    """What the table reads of a file's report (pipeline.FileReport)."""

    @property
    def path(self) -> str: ...
    @property
    def entries(self) -> int: ...
    @property
    def indexed(self) -> int: ...
    @property
    def already(self) -> int: ...
    @property
    def dead(self) -> int: ...
    @property
    def summaries(self) -> int: ...
    @property
    def skipped(self) -> str: ...


@dataclass
class Layout:
    """The table as strings: header lines, body rows, an optional total, and each column's width."""

    header: list[tuple[str, ...]]
    rows: list[tuple[str, ...]]
    total: tuple[str, ...] | None
    widths: list[int]
    notes: list[str]

    def plain(self) -> list[str]:
        def line(cells: tuple[str, ...]) -> str:
            first = cells[0].ljust(self.widths[0])
            rest = (c.rjust(w) for c, w in zip(cells[1:], self.widths[1:], strict=True))
            return (" " * GAP).join([first, *rest]).rstrip()

        body = [*self.header, *self.rows, *([self.total] if self.total else [])]
        return [line(cells) for cells in body] + self.notes


def _figures(r: Row, sep: bool) -> tuple[str, ...]:
    if r.skipped:
        return ("skipped", "-", "-", "-", "-")
    return tuple(f"{n:,}" if sep else str(n) for n in (r.entries, r.indexed, r.already, r.dead, r.summaries))


def layout(reports: Sequence[Row], dead_path: Path | None = None, width: int = WIDTH) -> Layout:
    """Fit the table into `width`: the first of one-line headers, two-line headers, no thousands
    separators that shows every file name whole; else the widest room for names that keeps separators
    while it is READABLE_NAME; longer names are cut in the middle (never below MIN_NAME)."""
    names = labels([r.path for r in reports])
    several = len(reports) > 1
    shipped = [r for r in reports if not r.skipped]
    if several:
        names.append(f"total ({len(reports)} files)")
    longest = max(len(n) for n in [*names, "file"])
    choices = []
    for two_lines, sep in ((False, True), (True, True), (True, False)):
        rows = [_figures(r, sep) for r in reports]
        total = None
        if several:
            sums = [sum(getattr(r, a) for r in shipped) for a in ("entries", "indexed", "already", "dead")]
            sums.append(sum(r.summaries for r in shipped))
            total = tuple(f"{n:,}" if sep else str(n) for n in sums)
        cols = [
            max(len(h) for h in ([HEADERS_2[i][0], HEADERS_2[i][1]] if two_lines else [HEADERS[i]]))
            for i in range(len(HEADERS))
        ]
        for cells in [*rows, *([total] if total else [])]:
            cols = [max(w, len(c)) for w, c in zip(cols, cells, strict=True)]
        choices.append((two_lines, rows, total, cols, width - sum(cols) - GAP * len(cols)))
    # The first form that shows every name whole; else two-line headers with thousands separators if
    # they leave names a readable width, else the narrowest form.
    fallback = choices[1] if choices[1][4] >= READABLE_NAME else choices[2]
    two_lines, rows, total, cols, room = next((c for c in choices if c[4] >= longest), fallback)
    name_w = min(longest, max(room, MIN_NAME))
    short = [shorten(n, name_w) for n in names]
    if two_lines:
        header = [("", *(h[0] for h in HEADERS_2)), ("file", *(h[1] for h in HEADERS_2))]
    else:
        header = [("file", *HEADERS)]
    body = [(name, *cells) for name, cells in zip(short, rows, strict=False)]
    total_row = (short[-1], *total) if total is not None else None
    notes = sorted({f"skipped: {r.skipped}" for r in reports if r.skipped})
    if dead_path is not None and any(r.dead for r in reports):
        notes.append(f"rejected documents were written to {dead_path}")
    return Layout(header, body, total_row, [name_w, *cols], notes)


def render(lay: Layout) -> Table:
    """The same layout as a rich table: bold headers under a rule, the total under another."""
    header = ["\n".join(h[i] for h in lay.header).lstrip("\n") for i in range(len(lay.widths))]
    total = lay.total or ("",) * len(lay.widths)
    columns = [
        Column(
            h,
            width=w,
            no_wrap=True,
            justify="left" if i == 0 else "right",
            footer=total[i],
            vertical="bottom",
        )
        for i, (h, w) in enumerate(zip(header, lay.widths, strict=True))
    ]
    table = Table(
        *columns,
        box=box.SIMPLE,
        padding=(0, 0, 0, GAP - 1),
        pad_edge=False,
        show_edge=False,
        show_footer=lay.total is not None,
        header_style="bold",
        footer_style="bold",
    )
    for row in lay.rows:
        table.add_row(*(Text(c, style="dim" if c in ("-", "skipped") else "") for c in row))
    return table


def print_summary(reports: Sequence[Row], dead_path: Path, console: Console | None = None) -> None:
    """The closing table on stderr (or `console`)."""
    out = console if console is not None else Console(stderr=True)
    if out.is_terminal:
        lay = layout(reports, dead_path, min(out.width, WIDTH))
        out.print(render(lay))
        for note in lay.notes:
            out.print(Text(note))
    else:
        # Written as it is, not through rich: no wrapping, no styles, exactly what the layout says.
        out.file.write("".join(line + "\n" for line in layout(reports, dead_path).plain()))
        out.file.flush()
