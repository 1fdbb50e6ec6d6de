"""`parse` (events) writes the native core's documents a run at a time: its stdout and stderr are byte for
byte what the per-entry path wrote, on the fixtures, the bundled sample and lines the core leaves to
Python, whatever the chunking."""

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
from shipper.files.native import Entry, NativeEntries, Rendered, Run
from shipper.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
SAMPLE = ROOT / "shipper" / "samples" / "exim_mainlog"
ARGS = ["parse", "--timezone", "Europe/London", "--server-name", "mx1"]
pytestmark = pytest.mark.skipif(native.core is None, reason="shipper._native is not built (make native)")

# Lines the core leaves to Python (non-ASCII bodies, a \r, no prefix): first, back to back and last,
# between the core's own lines, through Europe/London's repeated hour: Python's parser must go on from
# the core's time (the second pass, and the time an entry without a prefix inherits).
LEFT_TO_PYTHON = (
    "2025-10-26 01:05:00 caf\u00e9 first, left to Python\n"
    "2025-10-26 01:30:00 1tXaaa-00000000001-0ABC Completed\n"
    "2025-10-26 01:10:00 1tXaaa-00000000002-0ABC Completed\n"
    "2025-10-26 01:40:00 caf\u00e9 in the second pass\n"
    "2025-10-26T01:41:00 no prefix\n"
    "2025-10-26 01:45:00 1tXaaa-00000000003-0ABC Completed\n"
    "2025-10-26T01:46:00 no prefix, the core's time\n"
    "2025-10-26 01:50:00 with a \r in it\n"
    "2025-10-26 01:55:00 caf\u00e9 last\n"
)


def one_by_one(self: NativeEntries, batch: Rendered) -> Iterator[Run | Entry]:
    """The per-entry reading `parse` had: `entries`, each document of the core's on its own."""
    for entry in self.entries(batch):
        code, *_, body, _id, _raw, _stamp = entry
        yield Run(body + b"\n", bytes([code])) if code else entry


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
    crafted.write_bytes(LEFT_TO_PYTHON.encode())
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
    assert fast[1].endswith(b"exit 0")
    assert fast[0].count(b"\n") > 400


@pytest.mark.parametrize("chunk", [None, 211])
def test_the_runs_are_the_documents_of_events_and_the_actions_their_codes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int | None
) -> None:
    """The runs against `_events` (the per-entry path `--messages` reads): the same documents, every
    placeholder's entry parsed by Python where it stood, the same counts of actions."""
    if chunk is not None:
        monkeypatch.setattr(files, "CHUNK_SIZE", chunk)
    log = tmp_path / "exim_mainlog"
    log.write_bytes(SAMPLE.read_bytes() + LEFT_TO_PYTHON.encode() + SAMPLE.read_bytes())
    settings = Settings(timezone="Europe/London", server_name="mx1")
    expected = b""
    expected_actions: Counter[str] = Counter()
    for action, event in files._events([str(log)], settings, [], Counter()):
        expected += (event if isinstance(event, bytes) else orjson.dumps(event)) + b"\n"
        expected_actions[action] += 1
    got = b""
    actions: Counter[str] = Counter()
    runs = python = 0
    for out in files._outputs([str(log)], settings, [], Counter()):
        if isinstance(out, Run):
            runs += 1
            got += out.lines
            actions.update(native.ACTIONS[c] for c in out.codes)
        else:
            python += 1
            got += orjson.dumps(out[1]) + b"\n"
            actions[out[0]] += 1
    assert got == expected
    assert actions == expected_actions
    assert python >= 6
    if chunk is None:  # one feed and the finish: a run between two of Python's entries at most
        assert runs <= python + 2
