"""Syslog and journal files through the native core: the entries, offsets, ids, documents and the skipped
and unreadable counts do not depend on how the stream is chunked, crafted streams give their fixed
documents (pieces joined, other programs skipped, the reject log's copies, years, hosts, tags), and the
loop, the tail harvester and `parse` ship wrapped files as the core reads them."""

from __future__ import annotations

import ast
import base64
import json
import os
import re
import subprocess
import sys
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from shipper.batcher import Batcher
from shipper.files import native as files_native
from shipper.files.follow import Harvester
from shipper.files.syslog import SyslogForm, detect_format
from shipper.pipeline import FileReport, Shipper, _Lane
from shipper.settings import Settings
from tests.fakes.cluster import FakeCluster
from tests.integration.test_syslog_backfill import mail_log
from tests.parsing import raw_entries

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
            continue  # this file's streams are checked as streams above
        for node in ast.walk(ast.parse(path.read_bytes())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str | bytes):
                raw = node.value.encode() if isinstance(node.value, str) else node.value
                form = detect_format(raw)
                if form != "exim":
                    out.setdefault(raw, (f"{rel}:{node.lineno}", form, raw))
    return list(out.values())


Item = tuple[int, int, dict[str, Any], dict[str, Any]]


def native_items(data: bytes, form: str, server: str, chunk: int) -> tuple[list[Item], int, int]:
    """The core's entries of a wrapped stream fed `chunk` bytes at a time: `(offset, end, action,
    document)` each, and the skipped and unreadable counts."""
    ctx = files_native.Context(server or "mx-default", "UTC", "exim.main", "/var/log/mail.log", "exim")
    wrapped = SyslogForm(form, ANCHOR, host_from_syslog=not server)  # type: ignore[arg-type]
    reader = files_native.NativeEntries(ctx, 0, 0, wrapped)
    batches = [reader.feed(data[i : i + chunk]) for i in range(0, len(data), chunk)]
    batches.append(reader.finish())
    out = [
        (offset, end, orjson.loads(action), orjson.loads(body))
        for batch in batches
        for _code, offset, end, _occ, action, body, _id in batch
    ]
    return out, reader.skipped, reader.unreadable


def _same(data: bytes, form: str, server: str, chunks: tuple[int, ...]) -> list[Item]:
    """The stream's entries, the same whatever the chunking; each has its original text."""
    want = native_items(data, form, server, 1 << 20)
    for chunk in chunks:
        assert native_items(data, form, server, chunk) == want, chunk
    for _offset, _end, _action, doc in want[0]:
        assert isinstance(doc["event"]["original"], str)
    return want[0]


def _brief(items: list[Item]) -> list[tuple[Any, ...]]:
    """What the fixed expectations name of each entry: where it is, its time, action, dataset, host,
    tags and syslog facts."""
    return [
        (
            offset,
            end,
            doc.get("@timestamp"),
            doc["event"]["action"],
            doc["event"]["dataset"],
            doc.get("host", {}).get("name"),
            doc.get("tags"),
            doc["log"].get("syslog"),
        )
        for offset, end, _action, doc in items
    ]


@pytest.mark.parametrize("name", sorted(CRAFTED))
@pytest.mark.parametrize("server_name", ["", "mx-configured"])
def test_crafted_streams_do_not_depend_on_the_chunking(name: str, server_name: str) -> None:
    form, data = CRAFTED[name]
    _same(data, form, server_name, (1, 7))


SYSLOG = {"appname": "exim", "hostname": "mx1"}
RESTAMPED = ["timestamp_from_syslog"]
EXPECTED: dict[str, tuple[list[tuple[Any, ...]], int, int]] = {
    # Three pieces joined as Exim split them, postfix's line between them skipped; a header dump after a
    # rejection is the reject log's copy.
    "split pieces": (
        [(0, 273, "2025-06-29T16:04:19.000Z", "rcpt_rejected", "exim.reject", "mx1", RESTAMPED, {**SYSLOG, "procid": "9"})],
        1,
        0,
    ),
    # A piece that never comes: the entry goes with what it has; an orphan piece stands alone; a line
    # that is no record is counted unreadable, a blank one not at all.
    "pieces missing and orphaned": (
        [
            (0, 146, "2025-06-29T16:04:19.000Z", "message_arrived", "exim.main", "mx1", [*RESTAMPED, "syslog_parts_missing"], {**SYSLOG, "procid": "9"}),
            (146, 209, "2025-06-29T16:04:20.000Z", "message_completed", "exim.main", "mx1", RESTAMPED, {**SYSLOG, "procid": "9"}),
            (209, 257, "2025-06-29T16:04:21.000Z", "unrecognized", "exim.main", "mx1", [*RESTAMPED, "syslog_parts_missing"], {**SYSLOG, "procid": "9"}),
        ],
        0,
        1,
    ),
    # Exim sends a rejection to syslog twice: the second is the reject log's.
    "reject copy": (
        [
            (0, 76, "2025-06-29T16:04:19.000Z", "helo_rejected", "exim.main", "mx1", RESTAMPED, {**SYSLOG, "procid": "5"}),
            (76, 152, "2025-06-29T16:04:19.000Z", "helo_rejected", "exim.reject", "mx1", RESTAMPED, {**SYSLOG, "procid": "5"}),
        ],
        0,
        0,
    ),
    # Year-less dates against a July 2025 anchor: December is the year before, January after it.
    "new year": (
        [
            (0, 140, "2024-12-31T23:59:59.000Z", "message_arrived", "exim.main", "mx1", RESTAMPED, {**SYSLOG, "procid": "1"}),
            (140, 203, "2025-01-01T00:00:01.000Z", "message_completed", "exim.main", "mx1", RESTAMPED, {**SYSLOG, "procid": "1"}),
        ],
        0,
        0,
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_crafted_streams_give_their_fixed_documents(name: str) -> None:
    form, data = CRAFTED[name]
    items, skipped, unreadable = native_items(data, form, "", 1 << 20)
    assert (_brief(items), skipped, unreadable) == EXPECTED[name]
    configured = native_items(data, form, "mx-configured", 1 << 20)[0]
    assert {doc["host"]["name"] for *_, doc in configured} == {"mx-configured"}, "a server name wins"


def test_the_syslog_tests_literals_do_not_depend_on_the_chunking() -> None:
    found = _literals()
    assert len(found) >= 5  # the syslog tests quote records: a failed extraction must not pass empty
    for where, form, data in found:
        for server_name in ("", "mx1"):
            try:
                _same(data, form, server_name, (3,))
            except AssertionError as exc:
                raise AssertionError(f"{where}: {exc}") from exc


def test_a_panic_in_the_core_costs_one_entry_with_its_origin() -> None:
    data = f"Jun 29 16:04:19 mx9 exim[3]: {ID} \x01panic\x01\nJun 29 16:04:20 mx9 exim[3]: {ID} Completed\n"
    reader = files_native.core().Reader(
        server="mx-default",
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


STAMP = re.compile(rb"(\d{4})-(\d\d)-(\d\d) (\d\d:\d\d:\d\d)\S* (?:[+-]\d{4} )?(?:\[(\d+)\] )?")
MONTHS = b"Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()


def _as_mail_log(data: bytes) -> bytes:
    """Each entry with Exim's prefix as one BSD syslog record (Exim's own timestamp kept), multi-line ones
    in `[n\\m]` pieces (bench/syslog_speed.py's mail.log)."""
    out: list[bytes] = []
    for entry in raw_entries(data):
        m = STAMP.match(entry.data)
        if m is None:
            continue
        _, month, day, hms, pid = m.groups()
        head = b"%s %2d %s mx exim[%s]: " % (MONTHS[int(month) - 1], int(day), hms, pid or b"1")
        lines = entry.data.split(b"\n")
        if len(lines) == 1:
            out.append(head + entry.data)
            continue
        for i, piece in enumerate(lines, 1):
            out.append(head + b"[%d%s%d] " % (i, b"\\" if i < len(lines) else b"/", len(lines)) + piece)
    return b"\n".join(out) + b"\n"


def _as_journal(data: bytes) -> bytes:
    """Each entry as `journalctl -o json` writes it: the whole entry one MESSAGE, bytes arrays for bad UTF-8."""
    out = []
    for n, entry in enumerate(raw_entries(data)):
        try:
            message: Any = entry.data.decode()
        except UnicodeDecodeError:
            message = list(entry.data)
        priority = ("6", "5", "1")[n % 7 // 5]  # mostly main, some reject and panic copies
        out.append(_journal(MESSAGE=message, SYSLOG_IDENTIFIER="exim", _HOSTNAME="mx-j", PRIORITY=priority))
    return b"".join(out)


def _unwrapped(log: Path) -> list[tuple[str, str]]:
    """`(action, original)` of each entry of an Exim log as the core reads it unwrapped."""
    ctx = files_native.Context("mx1", "UTC", "exim.main", str(log), "exim")
    reader = files_native.NativeEntries(ctx, 0, 0)
    batches = [reader.feed(log.read_bytes()), reader.finish()]
    return [_said(orjson.loads(body)) for batch in batches for *_, body, _id in batch]


def _said(doc: dict[str, Any]) -> tuple[str, str]:
    return doc["event"]["action"], doc["event"]["original"]


@pytest.mark.parametrize("log", sorted((ROOT / "tests" / "fixtures").rglob("*.log")), ids=lambda p: p.name)
def test_the_fixtures_wrapped_as_syslog_and_journal_read_as_the_plain_file(log: Path) -> None:
    """Each entry wrapped in a record (BSD syslog, a journal export) is read back as the plain file's
    entry: the same action and text, in order."""
    plain = _unwrapped(log)
    syslog = _same(_as_mail_log(log.read_bytes()), "syslog", "", (4096,))
    journal = _same(_as_journal(log.read_bytes()), "journal", "mx1", (4096,))
    # A journal record's time goes in front of an entry without Exim's own (`timestamp_from_syslog`).
    got = [_said(d) for *_, d in journal]
    assert [a for a, _ in got] == [a for a, _ in plain]
    assert all(o == p or o.endswith(" " + p) for (_, o), (_, p) in zip(got, plain, strict=True))
    assert [_said(d) for *_, d in syslog] == [(a, o) for a, o in plain if STAMP.match(o.encode())]


def test_the_bench_mail_log_is_mostly_claimed_and_chunk_free(tmp_path: Path) -> None:
    log = tmp_path / "mainlog"
    cmd = [sys.executable, str(ROOT / "bench" / "generate_mainlog.py"), str(log), "--lines", "5000"]
    subprocess.run(cmd, check=True, capture_output=True)
    items = _same(_as_mail_log(log.read_bytes()), "syslog", "", (1 << 16,))
    actions = Counter(d["event"]["action"] for *_, d in items)
    assert actions["unrecognized"] <= 0.05 * len(items)
    journal = b"".join(
        _journal(
            MESSAGE=base64.b64encode(line).decode() if i % 97 == 0 else line.decode("utf-8", "replace")
        ).replace(b'"PRIORITY"', b'"SYSLOG_IDENTIFIER": "exim", "PRIORITY"')
        for i, line in enumerate(log.read_bytes().splitlines()[:2000])
    )
    assert len(_same(journal, "journal", "", (1 << 16,))) == 2000


def _backfill(log: Path, state: Path, server_name: str, cluster: FakeCluster | None = None, **kw: Any) -> Any:
    """Backfill `log` into an in-memory cluster: (stored documents by index and id, report counts, the
    registry's offsets)."""
    cluster = FakeCluster() if cluster is None else cluster
    settings = Settings(state_dir=state, server_name=server_name, timezone="Europe/London", **kw)
    shipper = Shipper(settings, cluster)  # type: ignore[arg-type]
    try:
        report = shipper.backfill(log)
    finally:
        shipper.close()
        shipper.state_lock.release()
    stored = {index: {i: s.source for i, s in docs.items()} for index, docs in cluster.indices.items()}
    counts = (report.entries, report.indexed, report.already, report.dead, report.summaries, report.foreign)
    return stored, counts, [(f["offset"], f["complete"]) for f in shipper.registry.files.values()]


@pytest.mark.parametrize("form", ["syslog", "journal"])
@pytest.mark.parametrize("server_name", ["", "mx1"])
def test_backfill_of_a_wrapped_file_stores_the_core_s_documents_whatever_the_batching(
    tmp_path: Path, form: str, server_name: str
) -> None:
    log = tmp_path / "mail.log.1"  # a rotated name: finished, its last line shipped
    mail_log(log)
    if form == "journal":
        log.write_bytes(_as_journal((ROOT / "tests" / "fixtures" / "fleet_a.log").read_bytes()))
    small = _backfill(log, tmp_path / "a", server_name, batch_max_docs=3)
    large = _backfill(log, tmp_path / "b", server_name)
    assert small == large
    stored, counts, offsets = large
    assert any("-messages-" in index for index in stored), "the summaries are compared too"
    [(offset, complete)] = offsets
    assert complete and 0 < offset <= log.stat().st_size
    events = [d for index, docs in stored.items() if "-messages-" not in index for d in docs.values()]
    assert len(events) == counts[0] == counts[1]
    hosts = {d["host"]["name"] for d in events}
    assert hosts == ({"mx1"} if server_name else {"mx-sys"} if form == "syslog" else {"mx-j"})
    if form == "syslog":
        assert counts[5] > 0  # postfix's lines, counted by the core


def test_a_resumed_backfill_of_a_syslog_file_adds_only_what_is_new(tmp_path: Path) -> None:
    """Cut after the first of three twins in one second: the second go re-reads that second (found by
    SyslogForm.second_start) so the twins keep their ids, and the cluster ends as one go leaves it."""
    twin = f"Jun 29 16:04:19 mx1 exim[5]: {ID} Completed\n".encode()
    head = CRAFTED["split pieces"][1] + CRAFTED["reject copy"][1]
    whole = head + twin * 3 + b"Jun 29 16:04:20 mx1 postfix[2]: later\n" + CRAFTED["new year"][1]
    cut = len(head) + len(twin)
    log = tmp_path / "go" / "mail.log"
    log.parent.mkdir()
    log.write_bytes(whole)
    once = _backfill(log, tmp_path / "once", "")
    log.write_bytes(whole[:cut])
    cluster = FakeCluster()
    first = _backfill(log, tmp_path / "twice", "", cluster)
    log.write_bytes(whole)
    second = _backfill(log, tmp_path / "twice", "", cluster)
    assert second[1][0] == 4  # the other two twins, the two New Year lines
    assert first[1][0] + second[1][0] == once[1][0]
    assert second[0] == once[0]
    assert second[2] == once[2]


def _parse(args: list[str]) -> tuple[list[Any], str]:
    code = "import sys; from shipper.cli import main; sys.exit(main(sys.argv[1:]))"
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
def test_parse_of_wrapped_files(tmp_path: Path, messages: bool) -> None:
    log = tmp_path / "mail.log"
    mail_log(log)
    journal = tmp_path / "journal.json"
    journal.write_bytes(_as_journal((ROOT / "tests" / "fixtures" / "fleet_a.log").read_bytes()))
    args = [str(log), str(journal)]
    docs, stderr = _parse(["--messages", *args] if messages else args)
    assert "syslog lines skipped: " in stderr  # postfix's, counted by the core
    assert {d["host"]["name"] for d in docs} == {"mx-sys", "mx-j"}
    if messages:
        assert all("state" in d["exim"] for d in docs)
    else:
        assert f"entries: {len(docs)}" in stderr


def test_a_renamed_syslog_file_s_documents_keep_their_syslog_facts() -> None:
    make = files_native.native_for("mx1", "UTC", "exim", lambda _path: "exim.main")
    reader = make("/var/log/mail.log", 0, 0, SyslogForm("syslog", ANCHOR))
    batch = files_native.joined([reader.feed(CRAFTED["bsd restamped"][1]), reader.finish()], reader)

    class Moved:
        path, key, resume, followed = "/var/log/mail.log.1", "k", 0, False

    shipper = Shipper.__new__(Shipper)
    shipper.settings = Settings(timezone="UTC")
    batcher = Batcher(100, 1 << 20, 1.0)
    shipper._batch(_Lane(Moved(), 10, "exim"), batch, batcher, FileReport("p"), lambda: None)  # type: ignore[arg-type]
    (item,) = batcher.items
    doc = orjson.loads(item.body)  # type: ignore[union-attr]
    assert doc["event"]["action"] == "message_arrived"
    assert doc["log"] == {
        "syslog": {"appname": "exim", "hostname": "mx1", "procid": "1234"},
        "file": {"path": "/var/log/mail.log.1"},
        "offset": 0,
    }


def test_the_tail_harvester_reads_a_syslog_file_poll_by_poll(tmp_path: Path) -> None:
    """The form told once the file has bytes, pieces waiting for each other across polls, other programs'
    lines skipped, a piece that stops coming flushed after the linger."""
    make = files_native.native_for("mx1", "UTC", "exim", lambda _path: "exim.main")
    writes = [
        f"Jun 29 16:04:19 mx postfix/qmgr[3]: x\nJun 29 16:04:19 mx exim[1]: {ARRIVAL}\n".encode()
        + b"Jun 29 16:04:20 mx exim[2]: [1\\2] 2025-06-29 16:04:20 H=[192.0.2.1] rejected after DATA: x\n",
        b"Jun 29 16:04:20 mx exim[2]: [2/2] Envelope-from: <a@b.c>\n"
        b"Jun 29 16:04:21 mx exim[3]: [1\\2] 2025-06-29 16:04:21 H=[192.0.2.2] rejected after DATA: y\n",
        b"",
        b"",
    ]

    def detect(head: bytes) -> SyslogForm | None:
        return SyslogForm("syslog", ANCHOR) if detect_format(head) == "syslog" else None

    path = tmp_path / "mail.log"
    path.write_bytes(b"")
    polls = []
    with path.open("rb") as fh:
        h = Harvester(
            str(path),
            fh,
            0,
            0,
            0,
            detect=detect,
            native=lambda start, resume, w: make(str(path), start, resume, w),
        )
        for t, data in zip((0.0, 1.0, 2.0, 2.5, 3.5), [b"", *writes], strict=True):
            with path.open("ab") as out:
                out.write(data)
            polls.append([(e[1], e[2], *_original(e[5])) for e in h.poll(t, 1.0)])
    assert [len(p) for p in polls] == [0, 1, 1, 0, 1]
    assert polls[1][0][2] == f"2025-06-29 16:04:19 {ARRIVAL}".encode()
    assert polls[2][0][2].endswith(b"rejected after DATA: x\nEnvelope-from: <a@b.c>")
    assert polls[-1][0][3] == ["syslog_parts_missing"]
    assert h.entries.skipped == 1


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
def test_random_syslog_streams_never_raise_and_do_not_depend_on_the_chunking(
    lines: list[tuple[str, str, str, str]], chunk: int, unterminated: bool
) -> None:
    """Records, pieces in any order, other programs, plain and blank lines, bad UTF-8, `\\r\\n`, a last
    line without its newline: through the binding, never an exception, the same whatever the chunks."""
    data = "".join(h + p + b + e for h, p, b, e in lines).encode("utf-8", "surrogateescape")
    if unterminated:
        data = data.rstrip(b"\n")
    _same(data, "syslog", "", (chunk,))


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
def test_random_journal_exports_never_raise_and_do_not_depend_on_the_chunking(
    records: list[dict[str, Any]], chunk: int
) -> None:
    data = b"".join(json.dumps(r).encode() + b"\n" for r in records)
    _same(data, "journal", "", (chunk,))


def test_a_journal_s_checkpoint_says_complete_when_an_age_flush_marked_its_last_entry(tmp_path: Path) -> None:
    """Journal records are whole at `feed`: with every batch due at once the last entries are marked
    before the source reads its end, and the final mark, at the same offset, must still say complete."""
    log = tmp_path / "mail.log.1"
    log.write_bytes(_as_journal((ROOT / "tests" / "fixtures" / "fleet_a.log").read_bytes()))
    _, _, [(offset, complete)] = _backfill(log, tmp_path / "s", "", batch_max_age=0.0)
    assert complete and offset == log.stat().st_size
