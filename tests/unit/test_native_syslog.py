"""Syslog and journal files through the native core against the Python path (files.syslog's assembler,
the parser with the entry's origin, the pipeline's `_item`): offsets, ids and documents equal as parsed
JSON, and the skipped and unreadable counts, for the syslog tests' literals, crafted streams and
bench/syslog_speed.py's generated mail.log."""

from __future__ import annotations

import ast
import base64
import importlib.util
import io
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from shipper.exim.parse import EntryParser
from shipper.files import native as files_native
from shipper.files.archive import dataset_for
from shipper.files.follow import Harvester
from shipper.files.reader import iter_entries
from shipper.files.syslog import SyslogAssembler, detect_format
from shipper.messages.partials import from_facts, partials
from shipper.opensearch.documents import dumps
from shipper.pipeline import Shipper, _Lane, _Occurrences
from shipper.settings import Settings
from tests.integration.test_syslog_backfill import mail_log
from tests.unit.test_native_pipeline import _backfill as backfill

pytestmark = pytest.mark.skipif(files_native.core is None, reason="the native module is not built")

ROOT = Path(__file__).resolve().parents[2]
ANCHOR = date(2025, 7, 1)
ID = "1tgXJ4-000000001aB-0Cd4"
ARRIVAL = f"{ID} <= alice@example.com H=mail.example.com [192.0.2.1] P=esmtps S=1234 id=abc@example.com"
DELIVERY = f'{ID} => bob@example.org R=dnslookup T=remote_smtp H=mx.example.org [198.51.100.7] C="250 OK"'


def _journal(**fields: Any) -> bytes:
    record = {"__CURSOR": "s=1", "__REALTIME_TIMESTAMP": "1751205859123456", "PRIORITY": "6", **fields}
    return json.dumps(record).encode() + b"\n"


CRAFTED: dict[str, tuple[str, bytes]] = {
    "bsd restamped": ("syslog", f"Jun 29 16:04:19 mx1 exim[1234]: {ARRIVAL}\n".encode()),
    "bsd own stamp, no pid": (
        "syslog",
        f"Jun  5 16:04:19 mx1 exim4: 2025-06-05 16:04:19 {ARRIVAL}\n".encode(),
    ),
    "bsd exim pid kept": (
        "syslog",
        f"Jun 29 16:04:19 mx1 exim[1234]: 2025-06-29 16:04:19 [99] {DELIVERY}\n".encode(),
    ),
    "rfc3339": ("syslog", f"2025-06-29T16:04:19.123456+02:00 mx1 exim[7]: {DELIVERY}\n".encode()),
    "rfc5424": (
        "syslog",
        f'<22>1 2025-06-29T16:04:19.5Z mx1 exim 77 - [x@1 a="]"] \ufeff{ARRIVAL}\n'.encode()
        + f"<22>1 - - exim - - - {ID} Completed\n".encode(),
    ),
    "priority prefix": ("syslog", f"<22>Jun 29 16:04:19 mx1 exim[3]: {ID} Completed\n".encode()),
    "split pieces": (
        "syslog",
        b"Jun 29 16:04:19 mx1 exim[9]: [1\\3] H=(x) [192.0.2.9] F=<a@b.example> rejected RCPT <c@d.example>: no\n"
        b"Jun 29 16:04:19 mx1 postfix[2]: other program\n"
        b"Jun 29 16:04:19 mx1 exim[9]: [2\\3] Envelope-from: <a@b.example>\n"
        b"Jun 29 16:04:19 mx1 exim[9]: [3/3] Envelope-to: <c@d.example>\n",
    ),
    "pieces missing and orphaned": (
        "syslog",
        f"Jun 29 16:04:19 mx1 exim[9]: [1\\2] {ARRIVAL}\nJun 29 16:04:20 mx1 exim[9]: {ID} Completed\n"
        f"Jun 29 16:04:21 mx1 exim[9]: [2/2] orphan piece\nnot a record at all\n\n".encode(),
    ),
    "reject copy": (
        "syslog",
        b"Jun 29 16:04:19 mx1 exim[5]: H=(x) [192.0.2.9] rejected EHLO or HELO x: bad\n"
        b"Jun 29 16:04:19 mx1 exim[5]: H=(x) [192.0.2.9] rejected EHLO or HELO x: bad\n",
    ),
    "plain exim lines among records": (
        "syslog",
        f"2025-06-29 16:04:18 {ARRIVAL}\r\nJun 29 16:04:19 mx1 exim[1]: {ID} Completed\r\n"
        f"  a continuation stays alone\n".encode(),
    ),
    "new year": (
        "syslog",
        f"Dec 31 23:59:59 mx1 exim[1]: {ARRIVAL}\nJan  1 00:00:01 mx1 exim[1]: {ID} Completed\n".encode(),
    ),
    "bad utf-8 and no newline": (
        "syslog",
        b"Jun 29 16:04:19 h\xff exim[1]: " + ARRIVAL.encode() + b" \xff\xfe",
    ),
    "twins in one second": ("syslog", f"Jun 29 16:04:19 mx1 exim[1]: {ID} Completed\n".encode() * 3),
    "journal": (
        "journal",
        _journal(MESSAGE=ARRIVAL, _HOSTNAME="mx1", SYSLOG_IDENTIFIER="exim", _PID="42")
        + _journal(MESSAGE=list(f"{ID} Completed".encode()), SYSLOG_IDENTIFIER="exim", PRIORITY="5")
        + _journal(MESSAGE="something broke", SYSLOG_IDENTIFIER="exim", PRIORITY="1", _HOSTNAME="")
        + _journal(MESSAGE="dovecot", SYSLOG_IDENTIFIER="dovecot")
        + _journal(MESSAGE=None, SYSLOG_IDENTIFIER="exim", PRIORITY="3", SYSLOG_PID="x", _PID="5")
        + b"\x1e"
        + _journal(MESSAGE=[f"2025-06-29 16:04:19 {DELIVERY}"], _COMM="exim4", PRIORITY="2")
        + b'{"MESSAGE": "no time", "SYSLOG_IDENTIFIER": "exim"}\n{"neither": 1}\n'
        + b'{"MESSAGE": "far future", "SYSLOG_IDENTIFIER": "exim", "__REALTIME_TIMESTAMP": "99999999999999999999"}\n',
    ),
}


def _literals() -> list[tuple[str, str, bytes]]:
    """Every string or bytes literal of the tests (the syslog tests' tables among them) that is a syslog
    or journal stream."""
    out: dict[bytes, tuple[str, str, bytes]] = {}
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        rel = str(path.relative_to(ROOT))
        if path.name == "test_native_syslog.py":
            continue  # this file's streams are compared as streams above
        for node in ast.walk(ast.parse(path.read_bytes())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str | bytes):
                raw = node.value.encode() if isinstance(node.value, str) else node.value
                form = detect_format(raw)
                if form != "exim":
                    out.setdefault(raw, (f"{rel}:{node.lineno}", form, raw))
    return list(out.values())


def _shipper(tmp: Path, server_name: str) -> Shipper:
    # A state directory of its own: a Shipper holds its directory's lock for as long as it lives.
    settings = Settings(state_dir=Path(tempfile.mkdtemp(dir=tmp)), timezone="UTC", server_name=server_name)
    return Shipper(settings, cluster=None)  # type: ignore[arg-type]  # _item never talks to a cluster


def _assembler(form: str, shipper: Shipper) -> SyslogAssembler:
    return SyslogAssembler(form, ANCHOR, host_from_syslog=not shipper.settings.server_name)  # type: ignore[arg-type]


Item = tuple[int, int, dict[str, Any], dict[str, Any]]


def python_items(data: bytes, form: str, shipper: Shipper, path: str) -> tuple[list[Item], int, int]:
    assembler = _assembler(form, shipper)
    parser = EntryParser(shipper.zone, shipper.server, dataset=dataset_for(path))
    occurrences = _Occurrences()
    out: list[Item] = []
    for entry in iter_entries(io.BytesIO(data), assembler=assembler):
        item = shipper._item(parser, path, "key", entry, occurrences.next(entry.data))[0]
        out.append((entry.offset, entry.end, orjson.loads(item.action), orjson.loads(item.body)))
    return out, assembler.skipped, assembler.unreadable


def native_items(
    data: bytes, form: str, shipper: Shipper, path: str, chunk: int
) -> tuple[list[Item], int, int, Counter[str]]:
    """What the ship loop makes of the core's output (`Shipper._rendered`): its documents as they are,
    the placeholder's entries through the Python parser with the origin read back."""
    dataset = dataset_for(path)
    ctx = files_native.Context(shipper.server, shipper.zone, dataset, path, "exim")
    reader = files_native.NativeEntries(ctx, 0, 0, _assembler(form, shipper))
    parser = EntryParser(shipper.zone, shipper.server, dataset=dataset)
    out: list[Item] = []
    claimed: Counter[str] = Counter()
    batches = [reader.feed(data[i : i + chunk]) for i in range(0, len(data), chunk)]
    batches.append(reader.finish())
    for batch in batches:
        for code, offset, end, _occ, facts, action, body, _lid, raw, stamp in batch:
            if code:
                claimed["core"] += 1
                doc = orjson.loads(body)
                if facts and facts != b"!":
                    # The correlation's facts are the document's, with the syslog host as its server.
                    assert from_facts(facts) == partials(doc)
                out.append((offset, end, orjson.loads(action), doc))
                continue
            claimed["python"] += 1
            assert raw is not None
            if stamp is not None:
                parser.follow(stamp)
            item = shipper._item(parser, path, "key", raw, _occ)[0]
            out.append((offset, end, orjson.loads(item.action), orjson.loads(item.body)))
    return out, reader.skipped, reader.unreadable, claimed


def _same(tmp: Path, data: bytes, form: str, server_name: str, chunks: tuple[int, ...]) -> Counter[str]:
    shipper = _shipper(tmp, server_name)
    path = str(tmp / "mail.log")
    want, skipped, unreadable = python_items(data, form, shipper, path)
    total: Counter[str] = Counter()
    for chunk in chunks:
        got, n_skipped, n_unreadable, claimed = native_items(data, form, shipper, path, chunk)
        assert (n_skipped, n_unreadable) == (skipped, unreadable)
        assert len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            assert g == w, w[3]["event"]["original"]
        total = claimed
    return total


@pytest.mark.parametrize("name", sorted(CRAFTED))
@pytest.mark.parametrize("server_name", ["", "mx-configured"])
def test_crafted_streams_equal_the_python_path(tmp_path: Path, name: str, server_name: str) -> None:
    form, data = CRAFTED[name]
    _same(tmp_path, data, form, server_name, (1, 7, 1 << 20))


def test_the_crafted_streams_are_mostly_the_cores(tmp_path: Path) -> None:
    """Not all through the placeholder: the core renders the syslog entries it claims itself."""
    counts: Counter[str] = Counter()
    for form, data in CRAFTED.values():
        counts += _same(tmp_path, data, form, "", (1 << 20,))
    assert counts["core"] > counts["python"] > 0


def test_the_syslog_tests_literals_equal_the_python_path(tmp_path: Path) -> None:
    found = _literals()
    assert len(found) >= 5  # the syslog tests quote records: a failed extraction must not pass empty
    for where, form, data in found:
        for server_name in ("", "mx1"):
            try:
                _same(tmp_path, data, form, server_name, (3, 1 << 20))
            except AssertionError as exc:
                raise AssertionError(f"{where}: {exc}") from exc


def test_a_panic_in_the_core_costs_one_entry_with_its_origin(tmp_path: Path) -> None:
    assert files_native.core is not None
    shipper = _shipper(tmp_path, "")
    data = f"Jun 29 16:04:19 mx9 exim[3]: {ID} \x01panic\x01\nJun 29 16:04:20 mx9 exim[3]: {ID} Completed\n"
    reader = files_native.core.Reader(
        server=shipper.server,
        zone="UTC",
        dataset="exim.main",
        path="p",
        index_prefix="exim",
        panic_on=True,
        form="syslog",
        anchor=(2025, 7, 1),
        programs=["exim"],
        host_from_syslog=True,
    )
    bulk, _ = reader.feed(data.encode(), 0)
    extra, _ = reader.finish()
    docs = [orjson.loads(line) for line in (bulk + extra).splitlines()[1::2]]
    assert len(docs) == 2
    first = docs[0]
    assert first["exim"]["parse_error"].startswith("panic: ")
    assert first["event"]["original"] == f"2025-06-29 16:04:19 {ID} \x01panic\x01"
    assert first["host"] == {"name": "mx9"}
    assert first["log"]["syslog"] == {"appname": "exim", "hostname": "mx9", "procid": "3"}
    assert first["tags"] == ["timestamp_from_syslog"]
    assert docs[1]["event"]["action"] == "message_completed"


def _bench() -> Any:
    spec = importlib.util.spec_from_file_location("syslog_speed", ROOT / "bench" / "syslog_speed.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_bench_mail_log_equals_the_python_path(tmp_path: Path) -> None:
    log = tmp_path / "mainlog"
    cmd = [sys.executable, str(ROOT / "bench" / "generate_mainlog.py"), str(log), "--lines", "5000"]
    subprocess.run(cmd, check=True, capture_output=True)
    data = _bench().as_mail_log(log.read_bytes())
    counts = _same(tmp_path, data, "syslog", "", (1 << 16,))
    # The core renders nearly all of it; the rest (lines of kinds it declines) goes through Python.
    assert counts["core"] >= 0.95 * (counts["core"] + counts["python"])
    journal = b"".join(
        _journal(
            MESSAGE=base64.b64encode(line).decode() if i % 97 == 0 else line.decode("utf-8", "replace")
        ).replace(b'"PRIORITY"', b'"SYSLOG_IDENTIFIER": "exim", "PRIORITY"')
        for i, line in enumerate(log.read_bytes().splitlines()[:2000])
    )
    _same(tmp_path, journal, "journal", "", (1 << 16,))


def test_the_syslog_backfill_tests_mail_log_equals_the_python_path(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    mail_log(log)
    counts = _same(tmp_path, log.read_bytes(), "syslog", "", (5, 1 << 20))
    assert counts["core"] > counts["python"]


def _as_journal(data: bytes) -> bytes:
    """Each entry as `journalctl -o json` writes it: the whole entry one MESSAGE, bytes arrays for bad UTF-8."""
    out = []
    for n, entry in enumerate(iter_entries(io.BytesIO(data))):
        try:
            message: Any = entry.data.decode()
        except UnicodeDecodeError:
            message = list(entry.data)
        priority = ("6", "5", "1")[n % 7 // 5]  # mostly main, some reject and panic copies
        out.append(_journal(MESSAGE=message, SYSLOG_IDENTIFIER="exim", _HOSTNAME="mx-j", PRIORITY=priority))
    return b"".join(out)


@pytest.mark.parametrize("log", sorted((ROOT / "tests" / "fixtures").rglob("*.log")), ids=lambda p: p.name)
def test_the_fixtures_wrapped_as_syslog_and_journal_equal_the_python_path(tmp_path: Path, log: Path) -> None:
    data = log.read_bytes()
    _same(tmp_path, _bench().as_mail_log(data), "syslog", "", (1 << 20,))
    _same(tmp_path, _as_journal(data), "journal", "mx1", (1 << 20,))


def _backfill(
    log: Path, state: Path, *, core: bool, server_name: str, monkeypatch: pytest.MonkeyPatch
) -> Any:
    """Backfill `log` into an in-memory cluster: (stored documents by index and id, report counts, entries
    the core rendered, the registry's offsets)."""
    stored, report, files = backfill(log, state, core=core, server_name=server_name, monkeypatch=monkeypatch)
    offsets = [(f["offset"], f["complete"]) for f in files.values()]
    counts = (report.entries, report.indexed, report.already, report.dead, report.summaries, report.foreign)
    return stored, counts, report.native, offsets


@pytest.mark.parametrize("form", ["syslog", "journal"])
@pytest.mark.parametrize("server_name", ["", "mx1"])
def test_backfill_of_a_wrapped_file_through_the_core_stores_what_the_python_path_stores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, form: str, server_name: str
) -> None:
    log = tmp_path / "mail.log.1"  # a rotated name: finished, its last line shipped
    mail_log(log)
    if form == "journal":
        log.write_bytes(_as_journal((ROOT / "tests" / "fixtures" / "fleet_a.log").read_bytes()))
    fast = _backfill(log, tmp_path / "a", core=True, server_name=server_name, monkeypatch=monkeypatch)
    slow = _backfill(log, tmp_path / "b", core=False, server_name=server_name, monkeypatch=monkeypatch)
    assert fast[0] == slow[0]
    assert any("-messages-" in index for index in fast[0]), "the summaries are compared too"
    assert fast[1] == slow[1]
    assert fast[3] == slow[3]
    assert slow[2] == 0
    assert 0 < fast[2] <= fast[1][0]
    if form == "syslog":
        assert fast[1][5] > 0  # postfix's lines, counted by the core


def test_a_resumed_backfill_of_a_syslog_file_through_the_core_adds_what_the_python_path_adds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cut after the first of three twins in one second: the second go re-reads that second (the Python
    assembler finds it) so the twins keep their ids, and both paths leave the same cluster."""
    twin = f"Jun 29 16:04:19 mx1 exim[5]: {ID} Completed\n".encode()
    head = CRAFTED["split pieces"][1] + CRAFTED["reject copy"][1]
    whole = head + twin * 3 + b"Jun 29 16:04:20 mx1 postfix[2]: later\n" + CRAFTED["new year"][1]
    cut = len(head) + len(twin)
    results = []
    for core in (True, False):
        log = tmp_path / "go" / "mail.log"
        log.parent.mkdir(exist_ok=True)
        log.write_bytes(whole[:cut])
        first = _backfill(log, tmp_path / f"{core}-state", core=core, server_name="", monkeypatch=monkeypatch)
        log.write_bytes(whole)
        second = _backfill(
            log, tmp_path / f"{core}-state", core=core, server_name="", monkeypatch=monkeypatch
        )
        assert second[1][0] == 4  # the other two twins, the two New Year lines
        results.append((first, second))
    (f1, f2), (s1, s2) = results
    assert f1[0] == s1[0]
    assert f2[0] == s2[0]
    assert (f2[1], f2[3]) == (s2[1], s2[3])
    assert f2[2] > 0


def _parse(args: list[str], *, block_core: bool) -> tuple[list[Any], str]:
    code = "import sys; from shipper.cli import main; sys.exit(main(sys.argv[1:]))"
    if block_core:
        # The extension cannot be imported, as on a machine where it was never built.
        code = "import sys; sys.modules['shipper._native'] = None; " + code
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXIM_SHIPPER_")}
    proc = subprocess.run(
        [sys.executable, "-c", code, "parse", "--timezone", "Europe/London", *args],
        capture_output=True,
        check=True,
        cwd=ROOT,
        env=env,
    )
    return [orjson.loads(line) for line in proc.stdout.splitlines()], proc.stderr.decode()


@pytest.mark.parametrize("messages", [False, True])
def test_parse_of_wrapped_files_writes_the_same_with_the_core_and_without_it(
    tmp_path: Path, messages: bool
) -> None:
    log = tmp_path / "mail.log"
    mail_log(log)
    journal = tmp_path / "journal.json"
    journal.write_bytes(_as_journal((ROOT / "tests" / "fixtures" / "fleet_a.log").read_bytes()))
    args = [str(log), str(journal)]
    fast = _parse(["--messages", *args] if messages else args, block_core=False)
    slow = _parse(["--messages", *args] if messages else args, block_core=True)
    assert fast == slow
    assert "syslog lines skipped: " in fast[1]  # postfix's, counted by the core
    if not messages:
        assert {d["host"]["name"] for d in fast[0]} == {"mx-sys", "mx-j"}


def test_a_renamed_syslog_file_s_documents_keep_their_syslog_facts(tmp_path: Path) -> None:
    shipper = Shipper.__new__(Shipper)
    shipper.settings, shipper.server, shipper.zone = Settings(timezone="UTC"), "mx1", "UTC"
    make = files_native.native_for("mx1", "UTC", "exim", lambda _path: "exim.main")
    assert make is not None
    reader = make("/var/log/mail.log", 0, 0, SyslogAssembler("syslog", ANCHOR))
    batch = files_native.joined([reader.feed(CRAFTED["bsd restamped"][1]), reader.finish()])
    assert isinstance(batch, files_native.Rendered)

    class Moved:
        path, key, resume, followed = "/var/log/mail.log.1", "k", 0, True

    lane = _Lane.__new__(_Lane)
    lane.source, lane.parser = Moved(), shipper._parser(Moved.path)  # type: ignore[assignment]
    items = list(shipper._items(lane, batch))
    assert [code for *_, code in items] == [files_native.ACTIONS.index("message_arrived")]
    doc = orjson.loads(items[0][0].body)
    assert doc["log"] == {
        "syslog": {"appname": "exim", "hostname": "mx1", "procid": "1234"},
        "file": {"path": "/var/log/mail.log.1"},
        "offset": 0,
    }


def test_the_tail_harvester_reads_a_syslog_file_through_the_core_as_through_python(tmp_path: Path) -> None:
    """The form told once the file has bytes, pieces waiting for each other across polls, other programs'
    lines skipped, a piece that stops coming flushed after the linger: poll by poll, the same entries."""
    make = files_native.native_for("mx1", "UTC", "exim", lambda _path: "exim.main")
    assert make is not None
    writes = [
        f"Jun 29 16:04:19 mx postfix/qmgr[3]: x\nJun 29 16:04:19 mx exim[1]: {ARRIVAL}\n".encode()
        + b"Jun 29 16:04:20 mx exim[2]: [1\\2] 2025-06-29 16:04:20 H=[192.0.2.1] rejected after DATA: x\n",
        b"Jun 29 16:04:20 mx exim[2]: [2/2] Envelope-from: <a@b.c>\n"
        b"Jun 29 16:04:21 mx exim[3]: [1\\2] 2025-06-29 16:04:21 H=[192.0.2.2] rejected after DATA: y\n",
        b"",
        b"",
    ]

    def detect(head: bytes) -> SyslogAssembler | None:
        return SyslogAssembler("syslog", ANCHOR) if detect_format(head) == "syslog" else None

    def run(core: bool) -> list[list[tuple[int, int, bytes, list[str]]]]:
        path = tmp_path / f"{core}.log"
        path.write_bytes(b"")
        polls = []
        with path.open("rb") as fh:
            native = (lambda start, resume, a: make(str(path), start, resume, a)) if core else None
            h = Harvester(str(path), fh, 0, 0, 0, detect=detect, native=native)
            for t, data in zip((0.0, 1.0, 2.0, 2.5, 3.5), [b"", *writes], strict=True):
                with path.open("ab") as out:
                    out.write(data)
                got = h.poll(t, 1.0)
                if isinstance(got, files_native.Rendered):
                    assert core
                    polls.append([(e[1], e[2], *_original(e[6])) for e in got])
                else:
                    assert not core or not got
                    parser = EntryParser("UTC", "mx1")
                    polls.append(
                        [(e.offset, e.end, *_original(dumps(parser.parse(e.data, e.origin)))) for e in got]
                    )
        return polls

    fast, slow = run(True), run(False)
    assert fast == slow
    assert [len(p) for p in slow] == [0, 1, 1, 0, 1]
    assert slow[-1][0][3] == ["syslog_parts_missing"]


def _original(doc: bytes) -> tuple[bytes, list[str]]:
    d = orjson.loads(doc)
    return d["event"]["original"].encode(), d.get("tags", [])


_HEADS = st.sampled_from(
    [
        "Jun 29 16:04:19 mx1 exim[5]: ",
        "Jun  1 00:00:00 mx1 exim4: ",
        "Dec 31 23:59:59 mx2 exim[5]: ",
        "Feb 29 12:00:00 mx1 exim[6]: ",
        "Jun 29 16:04:19 mx1 postfix[5]: ",
        "<22>Jun 29 16:04:19 mx1 exim[5]: ",
        "2025-06-29T16:04:19.5+01:00 mx1 exim[5]: ",
        "<13>1 2025-06-29T16:04:19Z mx1 exim 5 - - ",
        '<11>1 - - exim - - [a b="]"] ',
        "",
    ]
)
_BODIES = st.sampled_from(
    [
        ARRIVAL,
        DELIVERY,
        f"{ID} Completed",
        f"2025-06-29 16:04:19 {ID} Completed",
        "H=(x) [192.0.2.9] rejected EHLO or HELO x: bad",
        "Envelope-from: <a@b.example>",
        "Start queue run: pid=12",
        "",
        " ",
        "caf\udcff",
    ]
)
_PIECES = st.sampled_from(["", "", "", "[1\\2] ", "[2/2] ", "[1/3] ", "[2\\3] ", "[3/3] ", "[0/2] "])
_LINES = st.lists(st.tuples(_HEADS, _PIECES, _BODIES, st.sampled_from(["\n", "\n", "\r\n"])), max_size=25)


@hypothesis_settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(lines=_LINES, chunk=st.integers(1, 300), unterminated=st.booleans())
def test_random_syslog_streams_equal_the_python_path(
    tmp_path: Path, lines: list[tuple[str, str, str, str]], chunk: int, unterminated: bool
) -> None:
    """Records, pieces in any order, other programs, plain and blank lines, bad UTF-8, `\\r\\n`, a last
    line without its newline: through the binding, never an exception, and Python's documents."""
    data = "".join(h + p + b + e for h, p, b, e in lines).encode("utf-8", "surrogateescape")
    if unterminated:
        data = data.rstrip(b"\n")
    _same(tmp_path, data, "syslog", "", (chunk,))


_FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "MESSAGE": st.sampled_from(
            [ARRIVAL, f"{ID} Completed", "", None, [104, 105], [True, 300], [["x"]], 5]
        ),
        "__REALTIME_TIMESTAMP": st.sampled_from(["1751205859123456", "0", "99999999999999999999", "x", 17]),
        "SYSLOG_IDENTIFIER": st.sampled_from(["exim", "exim4", "postfix", ""]),
        "_COMM": st.just("exim"),
        "_HOSTNAME": st.sampled_from(["mx1", "", ["m", "x"]]),
        "SYSLOG_PID": st.sampled_from(["12", "x", 5]),
        "PRIORITY": st.sampled_from(["6", "5", "1", "2", "3", "x"]),
    },
)


@hypothesis_settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(records=st.lists(_FIELDS, max_size=15), chunk=st.integers(1, 500))
def test_random_journal_exports_equal_the_python_path(
    tmp_path: Path, records: list[dict[str, Any]], chunk: int
) -> None:
    data = b"".join(json.dumps(r).encode() + b"\n" for r in records)
    _same(tmp_path, data, "journal", "", (chunk,))
