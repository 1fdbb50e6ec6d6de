"""The native core's message facts (`exim_log::facts`, the typed partials a correlating reader holds and
hands out as `Reader.partials`): crafted entries' partials as `shipper/messages/partials.py` made them of
their documents (now deleted; the golden summaries hold its output), an `unrecognized` entry's and an
impossible time's included; on the fixtures and ../shared the facts of exactly the entries with a message
id and a time, each dating its message at its document's time, which Python's merge folds into each
summary's `exim.merge_state`, and which the trace's way (`Partials.fold`) folds into the loop's summaries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from shipper import _native as core
from shipper.messages import accumulate, from_state, to_state
from tests.parsing import read

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
CORPUS = ROOT.parent / "shared" / "corpus"

ID, BOUNCE, OTHER = "1tXaaa-000001-AB", "1tXbbb-000002-AB", "1tXccc-000003-AB"
LINES = [
    f"2025-01-31 10:00:00 {ID} <= alice@Example.COM H=mail.example.com [192.0.2.1] P=esmtps "
    'X=TLS1.3:TLS_AES_256_GCM_SHA384:256 S=1234 id=abc@example.com T="Hello" for Bob@Example.net carol@x.org',
    f"2025-01-31 10:00:01 {ID} => bob@example.net <Bob@Alias.example> R=dnslookup T=remote_smtp "
    'H=mx.example.net [198.51.100.7] C="250 OK"',
    f"2025-01-31 10:00:02 {ID} == carol@x.org R=dnslookup T=remote_smtp defer (-44) H=mx.x.org "
    "[203.0.113.9]: SMTP error from remote mail server after RCPT TO:<carol@x.org>: 451 4.7.1 Try later",
    f"2025-01-31 10:00:03 {ID} == carol@x.org routing defer (-51): retry time not reached",
    f"2025-01-31 10:00:04 {ID} ** carol@x.org R=dnslookup T=remote_smtp H=mx.x.org [203.0.113.9]: "
    "SMTP error from remote mail server after RCPT TO:<carol@x.org>: 550 5.1.1 User unknown",
    f"2025-01-31 10:00:05 {BOUNCE} <= <> R={ID} U=Debian-exim P=local S=2000 for alice@example.com",
    f"2025-01-31 10:00:06 {ID} Completed",
    f"2025-01-31 10:00:07 {OTHER} => ünï@example.org R=local_user T=mail_spool",
    f"2025-01-31 10:00:08 {OTHER} Message is frozen by the operator",
    "2025-01-31 10:00:09 Start queue run: pid=12",
    f"2025-01-31 10:00:10 {OTHER} some line of a kind nobody knows",
    f"2025-02-30 10:00:11 {OTHER} removed by root",
]
T = [f"2025-01-31T10:00:{s:02}.000Z" for s in range(11)]


def _seen(local_id: str, t: str, **more: Any) -> dict[str, Any]:
    return {"server": "mx1", "id": local_id, "first_seen": t, "last_seen": t, **more}


def _error(t: str, klass: str, text: str, code: int | None = None) -> dict[str, Any]:
    return {"time": t, "class": klass, "text": text, **({} if code is None else {"smtp_code": code})}


WANT: list[list[dict[str, Any]]] = [
    [
        _seen(
            ID,
            T[0],
            arrival={
                "time": T[0],
                "sender": "alice@Example.COM",
                "size": 1234,
                "subject": "Hello",
                "message_id": "abc@example.com",
                "protocol": "esmtps",
                "tls_version": "1.3",
                "tls_cipher": "TLS_AES_256_GCM_SHA384",
                "source_ip": "192.0.2.1",
                "source_domain": "mail.example.com",
            },
            rcpt={"bob@example.net": {}, "carol@x.org": {}},
        )
    ],
    [
        _seen(
            ID,
            T[1],
            attempts=[T[1]],
            rcpt={
                "bob@example.net": {
                    "originals": ["bob@alias.example"],
                    "delivered": T[1],
                    "via": {
                        "time": T[1],
                        "flag": "=>",
                        "router": "dnslookup",
                        "transport": "remote_smtp",
                        "host": "mx.example.net",
                        "ip": "198.51.100.7",
                    },
                    "attempts": [T[1]],
                }
            },
        )
    ],
    [
        _seen(
            ID,
            T[2],
            first_deferral=(deferral := _error(T[2], "temporary_local_problem", "Try later", 451)),
            last_deferral=deferral,
            last_error=deferral,
            attempts=[T[2]],
            rcpt={
                "carol@x.org": {
                    "deferred_first": T[2],
                    "first_error": deferral,
                    "last_error": deferral,
                    "attempts": [T[2]],
                }
            },
        )
    ],
    [  # a skipped retry is no attempt
        _seen(
            ID,
            T[3],
            first_deferral=(skipped := _error(T[3], "retry_time_not_reached", "retry time not reached")),
            last_deferral=skipped,
            last_error=skipped,
            rcpt={"carol@x.org": {"deferred_first": T[3], "first_error": skipped, "last_error": skipped}},
        )
    ],
    [
        _seen(
            ID,
            T[4],
            last_error=(failure := _error(T[4], "unknown_user", "User unknown", 550)),
            attempts=[T[4]],
            rcpt={
                "carol@x.org": {
                    "failed": T[4],
                    "first_error": failure,
                    "last_error": failure,
                    "attempts": [T[4]],
                }
            },
        )
    ],
    [
        _seen(
            BOUNCE,
            T[5],
            arrival={"time": T[5], "sender": "<>", "size": 2000, "protocol": "local", "ident": "Debian-exim"},
            rcpt={"alice@example.com": {}},
            bounce_of=ID,
        ),
        {"server": "mx1", "id": ID, "bounced_by": [BOUNCE]},
    ],
    [_seen(ID, T[6], completed=T[6])],
    [
        _seen(
            OTHER,
            T[7],
            attempts=[T[7]],
            rcpt={
                "ünï@example.org": {  # lower-cased as Python's str.lower() does
                    "delivered": T[7],
                    "via": {"time": T[7], "flag": "=>", "router": "local_user", "transport": "mail_spool"},
                    "attempts": [T[7]],
                }
            },
        )
    ],
    [_seen(OTHER, T[8])],
    None,  # no message id
    [_seen(OTHER, T[10])],  # `unrecognized`: the message was seen then
    [_seen(OTHER, T[10], removed={"time": T[10], "by": "root"})],  # 30 February: the time before it
]
"""The facts of LINES' entries, written out (sets as arrays)."""


def _facts(lines: list[str]) -> list[Any]:
    entries = read("\n".join(lines) + "\n", server="mx1").entries
    return [orjson.loads(e.facts) if e.facts else None for e in entries]


def test_crafted_lines_give_their_partials() -> None:
    assert _facts(LINES) == WANT


def test_an_impossible_time_with_none_before_it_has_no_facts() -> None:
    """A document without `@timestamp` gives no partials; the entries after it date their message."""
    got = _facts([f"2025-02-30 10:00:00 {ID} Completed", f"2025-01-31 10:00:01 {ID} unknown words"])
    assert got == [None, [_seen(ID, T[1])]]


def test_a_reader_that_does_not_correlate_holds_no_facts() -> None:
    reader = core.Reader(server="mx1", zone="UTC", dataset="exim.main", path="-", index_prefix="exim")
    reader.feed(("\n".join(LINES) + "\n").encode(), 0)
    reader.finish()
    assert len(reader.partials()) == 0


def _reader() -> core.Reader:
    return core.Reader(
        server="mx1", zone="UTC", dataset="exim.main", path="-", index_prefix="exim", correlate=True
    )


def _drained(loop: core.Correlator) -> dict[str, Any]:
    lines = loop.drain()[0].splitlines()
    return {doc["email"]["local_id"]: doc for doc in map(orjson.loads, lines[1::2])}


def _folded(data: bytes) -> dict[str, Any]:
    """The summaries of `data` as `trace` makes them: each batch's facts taken from the reader and folded
    entry by entry (`Partials.fold`), then drained at once, by message id."""
    reader = _reader()
    loop = core.Correlator(max_open=1 << 40, index_prefix="exim")
    added = 0
    for call in (lambda: reader.feed(data, 0), reader.finish):
        _bulk, records = call()
        parts = reader.partials()
        offsets = [
            int.from_bytes(records[i : i + 8], "little") for i in range(0, len(records), core.RECORD_SIZE)
        ]
        folded = [parts.fold(loop, offset, added + i) for i, offset in enumerate(offsets)]
        assert sum(folded) == len(parts), "every entry with facts is one of the batch's"
        assert not parts.fold(loop, len(data) + 1, 0), "no entry begins there"
        added += len(offsets)
    return _drained(loop)


def _correlated(data: bytes) -> dict[str, Any]:
    """The same as the ship loop folds them (`Reader.correlate`), drained at once."""
    reader = _reader()
    loop = core.Correlator(max_open=1 << 40, index_prefix="exim")
    reader.feed(data, 0)
    reader.finish()
    reader.correlate(loop, 1 << 63)
    return _drained(loop)


def _checked(path: Path) -> int:
    """The entries of `path` with facts, which are exactly those with a message id and a time: their
    first partial dates its message at the document's time; merged by Python's rules they give each
    message's `exim.merge_state`; folded the trace's way and the loop's they give the same summaries."""
    data = path.read_bytes()
    dated = 0
    merged: dict[str, Any] = {}
    for e in read(data, server="mx1").entries:
        own = e.doc.get("email", {}).get("local_id")
        ts = e.doc.get("@timestamp")
        if own is None or ts is None:
            assert e.facts == b"", e.doc
            continue
        parts = orjson.loads(e.facts)
        server = e.doc.get("host", {}).get("name", "")
        first = parts[0]
        assert (first["server"], first["id"], first["first_seen"], first["last_seen"]) == (
            server,
            own,
            ts,
            ts,
        )
        if not e.code:
            assert parts == [_seen(own, ts, server=server)], e.doc
        for state in parts:
            accumulate(merged, from_state(state))
        dated += 1
    folded = _folded(data)
    assert {i: s["exim"]["merge_state"] for i, s in folded.items()} == {
        i: to_state(p) for i, p in merged.items()
    }
    assert folded == _correlated(data), path
    return dated


def test_fixture_logs() -> None:
    total = sum(_checked(path) for path in sorted(FIXTURES.rglob("*.log")))
    assert total > 50


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared is absent")
def test_shared_corpus() -> None:
    total = 0
    for path in sorted(CORPUS.rglob("*")):
        if path.is_file() and path.suffix not in (".md", ".gz"):
            total += _checked(path)
    assert total > 10_000
