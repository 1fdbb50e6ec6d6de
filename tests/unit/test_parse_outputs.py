"""`parse` reads with the core's lighter outputs (`documents`: no action lines or ids; `--messages`:
`nothing`, the partials alone): its stdout and stderr are byte for byte what it wrote from the ship
loop's bulk lines, on the fixtures, the bundled sample and crafted lines (unrecognized ones, bad UTF-8,
a \r, no prefix, through a repeated hour), whatever the chunking."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import orjson
import pytest

from shipper.commands import files
from shipper.files import native
from shipper.files.native import Rendered
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


_BATCHES = files._batches


def from_bulk(name: str, stream: BinaryIO, *args: Any, **kwargs: Any) -> Iterator[Rendered]:
    """`files._batches` read as the ship loop reads (`bulk`: action lines and ids), each batch's
    documents cut from its entries when `parse` asked for them alone."""
    wanted = kwargs["output"]
    kwargs["output"] = "bulk"
    for batch in _BATCHES(name, stream, *args, **kwargs):
        docs = b"".join(body + b"\n" for *_, body, _id in batch) if wanted == "documents" else b""
        yield Rendered(docs, batch.records, batch.reader)


def _parse(
    paths: list[str], *, from_bulk: bool, chunk: int | None, messages: bool = False
) -> tuple[bytes, bytes]:
    setup = "import sys; from shipper.cli import main; import shipper.commands.files as f; "
    if from_bulk:
        setup += "import tests.unit.test_parse_outputs as t; f._batches = t.from_bulk; "
    if chunk is not None:
        setup += f"f.CHUNK_SIZE = {chunk}; "
    code = setup + "sys.exit(main(sys.argv[1:]))"
    more = ["--messages"] if messages else []
    proc = subprocess.run(
        [sys.executable, "-c", code, *ARGS, *more, *paths], capture_output=True, check=False, cwd=ROOT
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
def test_parse_writes_what_the_bulk_lines_held(tmp_path: Path, chunk: int | None) -> None:
    paths = _logs(tmp_path)  # one run over them all: a process per file would take minutes here
    fast = _parse(paths, from_bulk=False, chunk=chunk)
    assert fast == _parse(paths, from_bulk=True, chunk=chunk)
    assert fast == _parse(paths, from_bulk=False, chunk=None), "the chunking changes nothing"
    assert fast[1].endswith(b"exit 0")
    assert fast[0].count(b"\n") > 400


@pytest.mark.parametrize("chunk", [None, 97])
def test_parse_messages_writes_what_it_wrote_reading_the_bulk_lines(
    tmp_path: Path, chunk: int | None
) -> None:
    """`nothing`: no document is written, and the summaries are the same."""
    paths = _logs(tmp_path)
    fast = _parse(paths, from_bulk=False, chunk=chunk, messages=True)
    assert fast == _parse(paths, from_bulk=True, chunk=chunk, messages=True)
    assert fast[1].endswith(b"exit 0")
    assert fast[0].count(b"\n") > 50


@pytest.mark.parametrize("chunk", [None, 211])
def test_the_documents_are_the_entries_and_the_actions_their_codes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int | None
) -> None:
    """The documents-only batches against a bulk reader's entries: the same documents in order, the
    same counts of actions (read from the codes, and from the documents)."""
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
    batches = 0
    for batch in files._documents([str(log)], settings, [], Counter()):
        batches += 1
        assert b'{"create"' not in batch.bulk
        got += batch.bulk
        actions.update(
            native.actions()[c] for c in batch.records[native.RECORD_SIZE - 1 :: native.RECORD_SIZE]
        )
    assert got == expected
    from_docs = Counter(orjson.loads(line)["event"]["action"] for line in got.splitlines())
    assert actions == from_docs
    assert actions["unrecognized"] >= 6
    assert actions["message_completed"] >= 3
    if chunk is None:  # one feed and the finish
        assert batches <= 2
