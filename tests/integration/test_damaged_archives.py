"""Backfill of rotated archives of which one is damaged: every readable entry ships, the run goes on."""

from __future__ import annotations

import gzip
import itertools
import lzma
import os
import subprocess
from pathlib import Path

import pytest

from shipper.files.archive import open_log
from tests.integration.test_backfill import ROOT, SAMPLE, command, count, generated_log, shipper
from tests.parsing import raw_entries


def _readable_entries(path: Path) -> int:
    with open_log(path) as stream:
        return sum(1 for _ in raw_entries(stream))


def test_a_truncated_middle_archive_ships_what_it_holds_and_the_next_file_ships(
    opensearch_url: str, prefix: str, tmp_path: Path
) -> None:
    """Today: an EOFError traceback, the damaged file stops at 2,000 entries, the next never ships."""
    logs = tmp_path / "logs"
    logs.mkdir()
    whole, _ = generated_log(tmp_path / "whole.log", lines=9000, seed=21)
    lines = whole.read_bytes().splitlines(keepends=True)
    cuts = [
        0,
        *(next(n for n in range(k, len(lines)) if lines[n][:2] == b"20") for k in (3000, 6000)),
        len(lines),
    ]
    parts = [b"".join(lines[a:b]) for a, b in itertools.pairwise(cuts)]
    first, middle, last = (logs / f"exim_mainlog-2025010{n}.gz" for n in (1, 2, 3))
    first.write_bytes(gzip.compress(parts[0]))
    packed = gzip.compress(parts[1])
    middle.write_bytes(packed[: len(packed) * 2 // 3])  # a rotation cut short by a full disk
    last.write_bytes(lzma.compress(parts[2]))  # rotated with another compressor: detected by content
    for n, path in enumerate((first, middle, last)):
        os.utime(path, (1_700_000_000 + n, 1_700_000_000 + n))
    expected = _readable_entries(first) + _readable_entries(middle) + _readable_entries(last)
    assert _readable_entries(middle) > 1000

    state = tmp_path / "state"
    setup = shipper("setup", state=state, url=opensearch_url, prefix=prefix)
    assert setup.returncode == 0, setup.stderr
    cmd = command(
        "backfill", str(logs / "exim_mainlog-*"), "--quiet", url=opensearch_url, prefix=prefix, state=state
    )
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False, timeout=600)
    assert res.returncode == 1, res.stderr
    assert "Traceback" not in res.stderr
    damage = [line for line in res.stderr.splitlines() if "damaged" in line]
    assert len(damage) == 1 and damage[0].startswith(f"exim-shipper: {middle}: damaged, truncated"), (
        res.stderr
    )
    assert count(opensearch_url, f"{prefix}-events-*") == expected

    # A re-run reads nothing again: the damaged archive was read as far as it ever can be.
    again = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False, timeout=600)
    assert again.returncode == 0, again.stderr
    rows = [line.split() for line in (again.stdout + again.stderr).splitlines()]
    assert [r[1] for r in rows if r and r[0].startswith("exim_mainlog-")] == ["skipped"] * 3
    assert count(opensearch_url, f"{prefix}-events-*") == expected


def test_an_unreadable_file_is_one_line_and_the_files_after_it_ship(
    opensearch_url: str,
    prefix: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Today: a PermissionError traceback, and the files after it are not shipped. The tests run as root,
    whom file modes do not stop, so the refusal is made where the shipper first opens the file."""
    from shipper import cli, pipeline

    logs = tmp_path / "logs"
    logs.mkdir()
    locked, readable = logs / "exim_mainlog-20250101", logs / "exim_mainlog-20250102"
    locked.write_bytes(SAMPLE.read_bytes())
    readable.write_bytes(SAMPLE.read_bytes().replace(b"2025-01-31", b"2025-02-01"))
    os.utime(locked, (1_700_000_000, 1_700_000_000))
    real = pipeline.identify

    def identify(path: Path) -> object:
        if path == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(pipeline, "identify", identify)
    argv = ["--opensearch-url", opensearch_url, "--index-prefix", prefix]
    assert cli.main(["setup", *argv]) == 0
    capsys.readouterr()
    argv += ["--state-dir", str(tmp_path / "s"), "--timezone", "UTC"]
    rc = cli.main(["backfill", str(logs / "exim_mainlog-*"), "--quiet", *argv])
    err = capsys.readouterr().err
    assert rc == 1
    assert "Traceback" not in err
    assert f"exim-shipper: {locked}: cannot read: Permission denied" in err.splitlines()
    assert count(opensearch_url, f"{prefix}-events-*") == _readable_entries(readable) == 24
