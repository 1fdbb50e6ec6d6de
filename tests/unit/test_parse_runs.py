"""`parse` (events) writes the native core's documents a run at a time: its stdout and stderr are byte for
byte what a document at a time wrote, on the fixtures, the bundled sample and crafted lines (unrecognized
ones, bad UTF-8, a \r, no prefix, through a repeated hour), whatever the chunking."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from shipper.commands import files
from shipper.files import native
from shipper.files.native import NativeEntries, Rendered, Run
from shipper.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
SAMPLE = ROOT / "shipper" / "samples" / "exim_mainlog"
ARGS = ["parse", "--timezone", "Europe/London", "--server-name", "mx1"]

# Unrecognized lines first, back to back and last, between message lines, through Europe/London's
# repeated hour (the second pass, and the time an entry without a prefix inherits).
CRAFTED = (
    "2025-10-26 01:05:00 caf\u00e9 first, unrecognized\n"
    "2025-10-26 01:30:00 1tXaaa-00000000001-0ABC Completed\n"
    "2025-10-26 01:10:00 1tXaaa-00000000002-0ABC Completed\n"
    "2025-10-26 01:40:00 caf\u00e9 in the second pass\n"
    "2025-10-26T01:41:00 no prefix\n"
    "2025-10-26 01:45:00 1tXaaa-00000000003-0ABC Completed\n"
    "2025-10-26T01:46:00 no prefix, the core's time\n"
    "2025-10-26 01:50:00 with a \r in it\n"
    "2025-10-26 01:55:00 caf\u00e9 last \xff\n"
)


def one_by_one(self: NativeEntries, batch: Rendered) -> Iterator[Run]:
    """A run per entry: each document of the core's on its own, cut from `entries`."""
    for code, *_, body, _id in self.entries(batch):
        yield Run(body + b"\n", bytes([code]))


def _parse(paths: list[str], *, per_entry: bool, chunk: int | None) -> tuple[bytes, bytes]:
    setup = "import sys; from shipper.cli import main; import shipper.commands.files as f; "
    if per_entry:
        setup += "import shipper.files.native as n, tests.unit.test_parse_runs as t; "
        setup += "n.NativeEntries.runs = t.one_by_one; "
    if chunk is not None:
        setup += f"f.CHUNK_SIZE = {chunk}; "
    code = setup + "sys.exit(main(sys.argv[1:]))"
    proc = subprocess.run(
        [sys.executable, "-c", code, *ARGS, *paths], capture_output=True, check=False, cwd=ROOT
    )
    return proc.stdout, proc.stderr + f"exit {proc.returncode}".encode()


def _logs(tmp_path: Path) -> list[str]:
    crafted = tmp_path / "exim_mainlog"
    crafted.write_bytes(CRAFTED.encode("utf-8", "surrogateescape"))
    each = [
        *FIXTURES.glob("*.log"),
        *(FIXTURES / "realworld").glob("*.log"),
        FIXTURES / "eximstats" / "mainlog.gz",
    ]
    return [str(p) for p in [crafted, *sorted(each), SAMPLE]]


@pytest.mark.parametrize("chunk", [None, 97, 4096])
def test_parse_writes_what_the_per_entry_path_wrote(tmp_path: Path, chunk: int | None) -> None:
    paths = _logs(tmp_path)  # one run over them all: a process per file would take minutes here
    fast = _parse(paths, per_entry=False, chunk=chunk)
    assert fast == _parse(paths, per_entry=True, chunk=chunk)
    assert fast == _parse(paths, per_entry=False, chunk=None), "the chunking changes nothing"
    assert fast[1].endswith(b"exit 0")
    assert fast[0].count(b"\n") > 400


@pytest.mark.parametrize("chunk", [None, 211])
def test_the_runs_are_the_entries_documents_and_the_actions_their_codes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int | None
) -> None:
    """The runs against the reader's entries: the same documents in order, the same counts of actions
    (read from the codes, and from the documents), at most RUN_MAX documents a run."""
    if chunk is not None:
        monkeypatch.setattr(files, "CHUNK_SIZE", chunk)
    log = tmp_path / "exim_mainlog"
    log.write_bytes(SAMPLE.read_bytes() + CRAFTED.encode("utf-8", "surrogateescape") + SAMPLE.read_bytes())
    settings = Settings(timezone="Europe/London", server_name="mx1")
    reader = native.NativeEntries(native.Context("mx1", "Europe/London", "exim.main", str(log), "exim"), 0, 0)
    entries = [*reader.feed(log.read_bytes()), *reader.finish()]
    expected = b"".join(body + b"\n" for *_, body, _id in entries)
    got = b""
    actions: Counter[str] = Counter()
    runs = 0
    for run in files._runs([str(log)], settings, [], Counter()):
        runs += 1
        assert 0 < len(run.codes) <= native.RUN_MAX
        got += run.lines
        actions.update(native.actions()[c] for c in run.codes)
    assert got == expected
    from_docs = Counter(orjson.loads(line)["event"]["action"] for line in got.splitlines())
    assert actions == from_docs
    assert actions["unrecognized"] >= 6
    assert actions["message_completed"] >= 3
    if chunk is None:  # one feed and the finish
        assert runs <= 2
