"""Backfill's closing table: within 80 columns whatever the names and numbers, plain text off a terminal
(no escape codes), a rich table on one, a total row for several files, skipped files marked."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from rich.console import Console

from shipper.pipeline import FileReport
from shipper.summary_table import layout, print_summary

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
DEAD = Path("/var/lib/exim-shipper/deadletter.ndjson")
LONG = "/var/log/exim4/archive/exim_mainlog-on-a-rather-long-host-name.mx17.example.org-20250101.gz"
SKIPPED = "already shipped (checkpoint at end of file)"


def printed(reports: list[FileReport], *, terminal: bool, width: int = 80) -> str:
    out = io.StringIO()
    console = Console(
        file=out, force_terminal=terminal, width=width, color_system="truecolor" if terminal else None
    )
    print_summary(reports, DEAD, console)
    return out.getvalue()


def test_plain_table_for_one_file_is_aligned_text() -> None:
    text = printed([FileReport("/var/log/exim4/mainlog.1", 24, 20, 4, 0, 6)], terminal=False)
    assert text == (
        "file       entries  indexed  already there  dead-lettered  summaries\n"
        "mainlog.1       24       20              4              0          6\n"
    )


def test_several_files_get_a_total_and_skipped_ones_say_why() -> None:
    reports = [
        FileReport("/logs/exim_mainlog-20250101.gz", 1_234_567, 1_234_000, 567, 3, 400_000),
        FileReport("/logs/exim_mainlog-20250102.gz", skipped=SKIPPED),
        FileReport("/logs/exim_mainlog", 10, 10, 0, 0, 2),
    ]
    lines = printed(reports, terminal=False).splitlines()
    assert lines == [
        "                                                already     dead-",
        "file                        entries    indexed    there  lettered  summaries",
        "exim_mainlog-20250101.gz  1,234,567  1,234,000      567         3    400,000",
        "exim_mainlog-20250102.gz    skipped          -        -         -          -",
        "exim_mainlog                     10         10        0         0          2",
        "total (3 files)           1,234,577  1,234,010      567         3    400,002",
        f"skipped: {SKIPPED}",
        f"rejected documents were written to {DEAD}",
    ]


@pytest.mark.parametrize("terminal", [False, True])
@pytest.mark.parametrize("big", [0, 10**6, 10**9, 10**10])
def test_width_stays_within_80_columns_for_long_names_and_large_numbers(terminal: bool, big: int) -> None:
    reports = [
        FileReport(LONG, big + 1, big, 1, big // 7, big // 3),
        FileReport(LONG.replace("20250101", "20250102"), big, big, 0, 0, big),
    ]
    text = printed(reports, terminal=terminal)
    shown = ANSI.sub("", text).splitlines()
    assert shown and all(len(line) <= 80 for line in shown), "\n".join(shown)
    # The names stay told apart: the start says which log, the end which day; the middle goes.
    names = [line.split()[0] for line in shown if line.endswith(tuple("0123456789")) and "…" in line]
    assert len(names) == 2 and all(n.startswith("exim_") for n in names), shown
    assert names[0].endswith("-20250101.gz") and names[1].endswith("-20250102.gz"), names
    total = next(line for line in shown if line.lstrip().startswith("total (2 files)"))
    assert total.replace(",", "").split()[-1] == str(big // 3 + big)


def test_off_a_terminal_there_are_no_escape_codes_and_on_one_there_are() -> None:
    reports = [FileReport(LONG, 5, 5, 0, 1, 2), FileReport("/x/mainlog.1", skipped=SKIPPED)]
    plain = printed(reports, terminal=False)
    assert "\x1b" not in plain and "\r" not in plain
    rich = printed(reports, terminal=True)
    assert ANSI.search(rich), "styled on a terminal"
    body = ANSI.sub("", rich)
    assert "─" in body, "rules under the header and over the total"
    assert "total (2 files)" in body and f"skipped: {SKIPPED}" in body


def test_a_narrower_terminal_is_respected() -> None:
    text = ANSI.sub("", printed([FileReport(LONG, 10**6, 10**6, 0, 0, 10**5)], terminal=True, width=60))
    assert all(len(line) <= 60 for line in text.splitlines())


def test_names_shown_whole_when_they_fit_on_one_line_of_headers() -> None:
    lay = layout([FileReport("/a/mainlog", 1, 1, 0, 0, 1)])
    assert len(lay.header) == 1 and lay.rows[0][0] == "mainlog"
    assert lay.notes == [], "no dead letters, nothing skipped: no notes"
