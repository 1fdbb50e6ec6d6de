"""Backfill progress: figures (lines, MB, lines/s, ETA), a redrawn bar on a terminal, plain lines elsewhere."""

from __future__ import annotations

import io

from shipper.progress import Progress


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_plain_lines_every_interval_with_rate_and_eta() -> None:
    clock, out = Clock(), io.StringIO()
    p = Progress("exim_mainlog-20250101.gz", 10_000_000, out, tty=False, clock=clock)
    clock.t += 5
    p.update(20_000, 2_000_000)
    assert out.getvalue() == "", "nothing before the interval (10 s off a terminal)"
    clock.t += 5
    p.update(40_000, 2_500_000)
    text = out.getvalue()
    # 2.5 of 10 MB in 10 s: 25%, 4,000 lines/s, 7.5 MB left at 0.25 MB/s = 30 s.
    assert text == (
        "exim-shipper: exim_mainlog-20250101.gz:  25% 2.5/10.0 MB  40,000 lines  4,000 lines/s  ETA 0:00:30\n"
    )
    clock.t += 1
    p.update(41_000, 2_600_000)
    assert text == out.getvalue(), "the next line only after another interval"
    p.close()
    assert text == out.getvalue(), "off a terminal, closing writes nothing"


def test_terminal_bar_is_redrawn_in_place_and_cleared() -> None:
    clock, out = Clock(), io.StringIO()
    p = Progress("mainlog.1", 1_000_000, out, tty=True, clock=clock)
    for step in range(1, 5):
        clock.t += 1
        p.update(step * 1000, step * 250_000)
    text = out.getvalue()
    assert text.count("\r") == 4 and "\n" not in text
    last = text.rsplit("\r", 1)[1]
    assert "mainlog.1" in last and "100% 1.0/1.0 MB" in last and "4,000 lines" in last and "ETA -" in last
    p.close()
    assert out.getvalue().endswith("\r") and out.getvalue().rsplit("\r", 2)[1].strip() == ""


def test_empty_file_does_not_divide_by_zero() -> None:
    clock, out = Clock(), io.StringIO()
    p = Progress("empty", 0, out, tty=False, clock=clock, every=0)
    p.update(0, 0)
    assert "0 lines" in out.getvalue() and "ETA -" in out.getvalue()


def test_a_resumed_file_counts_its_shipped_bytes_as_done_but_not_as_speed() -> None:
    clock, out = Clock(), io.StringIO()
    p = Progress("mainlog", 10_000_000, out, tty=False, clock=clock)
    p.resume_at(8_000_000)
    clock.t += 10
    p.update(1000, 9_000_000)
    # 1 MB read in 10 s since the resume: 1 MB left takes 10 s more (not 1.25 s from 9 MB / 10 s).
    assert "90% 9.0/10.0 MB" in out.getvalue() and "ETA 0:00:10" in out.getvalue()
