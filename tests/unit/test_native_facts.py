"""The native core's message facts (`Reader.facts()`, the JSON a reader that does not correlate writes):
crafted entries' partials as `shipper/messages/partials.py` made them of their documents (now deleted; the
golden summaries hold its output), an `unrecognized` entry's and an impossible time's included, and on the
fixtures and ../shared the facts of exactly the entries with a message id and a time, each dating its
message at its document's time, folded into the same summaries as the typed partials the correlating
reader keeps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from shipper.files import native

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
"""The facts of LINES' entries, written out: values, key order, sets as arrays."""


def _batch(path: Path, zone: str = "UTC") -> native.Rendered:
    reader = native.NativeEntries(native.Context("mx1", zone, "exim.main", str(path), "exim"), 0, 0)
    data = path.read_bytes()
    polled = [reader.feed(data[i : i + 4096]) for i in range(0, len(data), 4096)]
    return native.joined([*polled, reader.finish()], reader)


def _facts(tmp_path: Path, lines: list[str]) -> list[Any]:
    log = tmp_path / "mainlog"
    log.write_text("\n".join(lines) + "\n")
    return [orjson.loads(facts) if facts else None for _c, _o, _e, _n, facts, *_ in _batch(log)]


def test_crafted_lines_give_their_partials(tmp_path: Path) -> None:
    got = _facts(tmp_path, LINES)
    assert got == WANT
    for want, facts in zip(WANT, got, strict=True):
        if want is not None:
            assert [orjson.dumps(p) for p in facts] == [orjson.dumps(p) for p in want], "key order too"


def test_an_impossible_time_with_none_before_it_has_no_facts(tmp_path: Path) -> None:
    """A document without `@timestamp` gives no partials; the entries after it date their message."""
    got = _facts(tmp_path, [f"2025-02-30 10:00:00 {ID} Completed", f"2025-01-31 10:00:01 {ID} unknown words"])
    assert got == [None, [_seen(ID, T[1])]]


def _summaries(path: Path, batch: native.Rendered) -> tuple[list[Any], list[Any]]:
    """`parse --messages`' summaries of `path` from the facts' JSON, and from the partials the
    correlating reader keeps (the two readings of `exim_log::facts`)."""
    json = native.core().Summaries(max_open=1 << 40)
    for *_, facts, _action, _body, _id in batch:
        if facts:
            json.add(facts)
    typed = native.core().Summaries(max_open=1 << 40)
    reader = native.NativeEntries(
        native.Context("mx1", "UTC", "exim.main", str(path), "exim"), 0, 0, correlate=True
    )
    reader.feed(path.read_bytes())
    reader.finish()
    reader.reader.summarize(typed, 1 << 63)
    out = []
    for sums in (json, typed):
        lines = sums.take()
        while more := sums.finish():
            lines += more
        out.append([orjson.loads(line) for line in lines.splitlines()])
    return out[0], out[1]


def _checked(path: Path) -> int:
    """The entries of `path` with facts, which are exactly those with a message id and a time: their
    first partial dates its message at the document's time; the two readings give the same summaries."""
    batch = _batch(path)
    dated = 0
    for code, _offset, _end, _occ, facts, _action, body, local_id in batch:
        doc = orjson.loads(body)
        own = doc.get("email", {}).get("local_id")
        ts = doc.get("@timestamp")
        assert own == (local_id.rstrip(b"\0").decode() or None), body
        if own is None or ts is None:
            assert facts == b"", body
            continue
        first = orjson.loads(facts)[0]
        server = doc.get("host", {}).get("name", "")
        assert (first["server"], first["id"], first["first_seen"], first["last_seen"]) == (
            server,
            own,
            ts,
            ts,
        )
        if not code:
            assert orjson.loads(facts) == [_seen(own, ts, server=server)], body
        dated += 1
    json, typed = _summaries(path, batch)
    assert json == typed, path
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
