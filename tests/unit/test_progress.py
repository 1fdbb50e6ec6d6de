"""Backfill progress: the figures (bytes as stored, lines, rates, ETA), rich bars on a terminal, plain
lines without control characters elsewhere, nothing with --quiet."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from rich.console import Console

from shipper.progress import BackfillProgress, Bars, Lines, Silent, compact, on_stderr

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def files(tmp_path: Path, sizes: dict[str, int]) -> list[Path]:
    out = []
    for name, size in sizes.items():
        path = tmp_path / name
        path.write_bytes(b"x" * size)
        out.append(path)
    return out


def frames(text: str) -> list[str]:
    """What a terminal shows, frame by frame: rich redraws with \\r and cursor codes."""
    return [line for line in re.split(r"\r|\n", ANSI.sub("\n", text)) if line.strip()]


def test_plain_lines_once_per_period_with_rate_and_eta(tmp_path: Path) -> None:
    clock, out = Clock(), io.StringIO()
    [log] = files(tmp_path, {"exim_mainlog-20250101.gz": 10_000_000})
    run = BackfillProgress([log], Lines(out), clock=clock)
    with run.file(0) as f:
        clock.t += 5
        f.update(20_000, 2_000_000)
        assert out.getvalue() == "", "nothing before the period (10 s off a terminal)"
        clock.t += 5
        f.update(40_000, 2_500_000)
        text = out.getvalue()
        # 2.5 of 10 MB in 10 s: 25%, 4,000 lines/s, 0.25 MB/s, 7.5 MB left at that rate = 30 s.
        assert text == (
            "exim-shipper: exim_mainlog-20250101.gz:  25% 2.5/10.0 MB  40,000 lines  4,000 lines/s  0.2 MB/s"
            "  ETA 0:00:30\n"
        )
        clock.t += 1
        f.update(41_000, 2_600_000)
        assert out.getvalue() == text, "the next line only one period later"
        clock.t += 9
        f.update(80_000, 5_000_000)
    run.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and "50% 5.0/10.0 MB  80,000 lines  4,000 lines/s" in lines[1]
    assert not ANSI.search(out.getvalue()) and "\r" not in out.getvalue()


def test_plain_lines_name_the_file_among_several_and_the_total(tmp_path: Path) -> None:
    clock, out = Clock(), io.StringIO()
    paths = files(tmp_path, {"a.gz": 1_000_000, "b.gz": 3_000_000})
    with BackfillProgress(paths, Lines(out), clock=clock) as run:
        with run.file(0) as f:
            clock.t += 4
            f.update(100, 1_000_000)  # the period runs over files: nothing yet
        with run.file(1) as f:
            clock.t += 6
            f.update(300, 1_000_000)
    [line] = out.getvalue().splitlines()
    # b: 1 of 3 MB in 6 s since it began; all: 2 of 4 MB in 10 s, 2 MB left at 0.2 MB/s = 10 s.
    assert line.startswith("exim-shipper: [2/2] b.gz:  33% 1.0/3.0 MB  300 lines  50 lines/s")
    assert line.endswith("; all files 50%, ETA 0:00:10")


def test_a_skipped_file_is_one_plain_line_and_counts_as_done_not_speed(tmp_path: Path) -> None:
    clock, out = Clock(), io.StringIO()
    paths = files(tmp_path, {"old.gz": 6_000_000, "new.gz": 4_000_000})
    with BackfillProgress(paths, Lines(out, every=0), clock=clock) as run:
        with run.file(0) as f:
            f.skip("already shipped (checkpoint at end of file)")
        with run.file(1) as f:
            clock.t += 10
            f.update(10, 1_000_000)
    first, second = out.getvalue().splitlines()
    assert first == "exim-shipper: [1/2] old.gz: already shipped (checkpoint at end of file), skipped"
    # 7 of 10 MB done, but only 1 MB of it read in 10 s: 3 MB left take 30 s, not 4.
    assert second.endswith("; all files 70%, ETA 0:00:30"), second


def test_a_resumed_file_counts_its_shipped_bytes_as_done_but_not_as_speed(tmp_path: Path) -> None:
    clock, out = Clock(), io.StringIO()
    [log] = files(tmp_path, {"mainlog": 10_000_000})
    with BackfillProgress([log], Lines(out), clock=clock) as run, run.file(0) as f:
        f.resume_at(8_000_000)
        clock.t += 10
        f.update(1000, 9_000_000)
    # 1 MB read in 10 s since the resume: 1 MB left takes 10 s more (not 1.25 s from 9 MB / 10 s).
    assert "90% 9.0/10.0 MB" in out.getvalue() and "ETA 0:00:10" in out.getvalue()


def test_empty_file_does_not_divide_by_zero(tmp_path: Path) -> None:
    clock, out = Clock(), io.StringIO()
    [log] = files(tmp_path, {"empty": 0})
    with BackfillProgress([log], Lines(out, every=0), clock=clock) as run, run.file(0) as f:
        f.update(0, 0)
    assert "100% 0.0/0.0 MB  0 lines" in out.getvalue() and "ETA -" in out.getvalue()


def test_terminal_shows_a_bar_per_file_and_one_in_total_with_rates_and_eta(tmp_path: Path) -> None:
    clock, out = Clock(), io.StringIO()
    console = Console(force_terminal=True, width=80, file=out, color_system=None)
    paths = files(tmp_path, {"exim_mainlog-20250101.gz": 5_000_000, "mainlog.1": 5_000_000})
    with BackfillProgress(paths, Bars(console, auto_refresh=False), clock=clock) as run:
        with run.file(0) as f:
            clock.t += 10
            f.update(40_000, 2_500_000)
            mid = frames(out.getvalue())
        with run.file(1) as f:
            clock.t += 5
            f.update(50_000, 2_500_000)
    total, bar = mid[-2:]
    # The file: 2.5 of 5 MB in 10 s, 2.5 MB left at 0.25 MB/s; the total: 7.5 MB left at that rate.
    assert total.startswith("total: file 1/2 ") and "25%" in total and "ETA 0:00:30" in total
    assert bar.startswith("exim_mainlog-20250101.gz ") and "50%" in bar and "ETA 0:00:10" in bar
    for line in (total, bar):
        assert "━" in line, "a drawn bar"
        assert "4,000 lines/s" in line and "0.2 MB/s" in line
    shown = frames(out.getvalue())
    assert all(len(line) <= 80 for line in shown)
    # A finished file's bar folds into one line above the bars, with what it took (the name cut to fit).
    assert "exim_mai…-20250101.gz: 40,000 lines, 5.0 MB in 0:00:10 (4,000 lines/s, 0.5 MB/s)" in shown
    assert "mainlog.1: 50,000 lines, 5.0 MB in 0:00:05 (10.0k lines/s, 1.0 MB/s)" in shown
    # The total stays, finished.
    assert shown[-1].startswith("total: file 2/2 ") and "100%" in shown[-1]


def test_terminal_wide_enough_also_counts_lines_and_long_names_are_cut_in_the_middle(tmp_path: Path) -> None:
    clock, out = Clock(), io.StringIO()
    console = Console(force_terminal=True, width=120, file=out, color_system=None)
    name = "exim_mainlog-on-a-rather-long-host-name.example.org-20250101.gz"
    log = tmp_path / name
    log.write_bytes(b"x" * 1000)
    with BackfillProgress([log], Bars(console, auto_refresh=False), clock=clock) as run, run.file(0) as f:
        clock.t += 1
        f.update(123_456, 500)
        [bar] = frames(out.getvalue())[-1:]
    assert "123k lines" in bar and "123k lines/s" in bar
    # The start says which log, the end which day.
    assert bar.startswith("exim_mainlog-on….example.org-20250101.gz ") and len(bar) <= 120


def test_terminal_says_a_file_was_skipped(tmp_path: Path) -> None:
    out = io.StringIO()
    console = Console(force_terminal=True, width=80, file=out, color_system=None)
    [log] = files(tmp_path, {"exim_mainlog-20250101.gz": 100})
    with BackfillProgress([log], Bars(console, auto_refresh=False)) as run, run.file(0) as f:
        f.skip("already shipped (checkpoint at end of file)")
    assert "exim_mainlog-20250101.gz: already shipped (checkpoint at end of file), skipped" in frames(
        out.getvalue()
    )


def test_a_failure_stops_the_bars_before_the_error_is_shown(tmp_path: Path) -> None:
    console = Console(force_terminal=True, width=80, file=io.StringIO())
    view = Bars(console, auto_refresh=False)
    [log] = files(tmp_path, {"mainlog": 100})
    run = BackfillProgress([log], view)
    with pytest.raises(RuntimeError), run.file(0):
        assert view.bars.live.is_started
        raise RuntimeError("cluster gone")
    assert not view.bars.live.is_started


def test_on_stderr_picks_lines_off_a_terminal_and_nothing_when_quiet(tmp_path: Path) -> None:
    [log] = files(tmp_path, {"mainlog": 100})
    out = io.StringIO()
    assert isinstance(on_stderr([log], quiet=False, stream=out).view, Lines)
    quiet = on_stderr([log], quiet=True, stream=out)
    assert isinstance(quiet.view, Silent)
    with quiet, quiet.file(0) as f:
        f.update(10, 50)
        f.skip("already shipped")
    assert out.getvalue() == ""


@pytest.mark.parametrize(
    ("n", "text"),
    [(0, "0"), (9_999, "9,999"), (12_345, "12.3k"), (123_456, "123k"), (1_234_567, "1.2M"), (5e9, "5.0G")],
)
def test_compact_counts_fit_five_characters(n: float, text: str) -> None:
    assert compact(n) == text and len(text) <= 5
