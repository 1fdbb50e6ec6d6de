"""The native core's message facts line (a reader that does not correlate writes them as JSON): for every
entry it renders, the line equals `partials` of its document as `to_state` writes them (values, key order,
sets as sorted arrays), on crafted lines, the fixtures and ../shared."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from shipper.files import native
from shipper.messages.merge import to_state
from shipper.messages.partials import partials

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
CORPUS = ROOT.parent / "shared" / "corpus"

ID = "1tXaaa-000001-AB"
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
    "2025-01-31 10:00:05 1tXbbb-000002-AB <= <> R=1tXaaa-000001-AB U=Debian-exim P=local S=2000 "
    "for alice@example.com",
    f"2025-01-31 10:00:06 {ID} Completed",
    "2025-01-31 10:00:07 1tXccc-000003-AB => ünï@example.org R=local_user T=mail_spool",
    "2025-01-31 10:00:08 1tXccc-000003-AB Message is frozen by the operator",
    "2025-01-31 10:00:09 Start queue run: pid=12",
]


def _checked(path: Path) -> tuple[int, int]:
    """(entries whose facts equal their document's partials, entries left to the document with `!`)."""
    reader = native.NativeEntries(
        native.Context("mx1", "Europe/London", "exim.main", str(path), "exim"), 0, 0
    )
    data = path.read_bytes()
    polled = [reader.feed(data[i : i + 4096]) for i in range(0, len(data), 4096)]
    batch = native.joined([*polled, reader.finish()], reader)
    equal = unsure = 0
    for code, _offset, _end, _occ, facts, _action, body, *_ in batch:
        if not code:
            assert facts == b""  # `unrecognized`: no facts
            continue
        want = [to_state(p) for p in partials(orjson.loads(body))]
        if facts == b"!":
            unsure += 1
            continue
        got = orjson.loads(facts) if facts else []
        assert got == want, body
        # Key order too: the summaries are written in it.
        assert [orjson.dumps(p) for p in got] == [orjson.dumps(p) for p in want], body
        equal += bool(want)
    return equal, unsure


def test_crafted_lines_give_the_partials_of_their_documents(tmp_path: Path) -> None:
    log = tmp_path / "mainlog"
    log.write_text("\n".join(LINES) + "\n")
    equal, unsure = _checked(log)
    assert unsure <= 1  # the non-ASCII recipient, when the core claims its line: Python lower-cases it
    assert equal >= 7


def test_facts_of_a_bounce_name_the_bounced_message(tmp_path: Path) -> None:
    log = tmp_path / "mainlog"
    log.write_text(LINES[5] + "\n")
    reader = native.NativeEntries(native.Context("mx1", "UTC", "exim.main", str(log), "exim"), 0, 0)
    batch = native.joined([reader.feed(log.read_bytes()), reader.finish()], reader)
    [(*_, facts, _action, _body, _id)] = list(batch)
    bounce, bounced = orjson.loads(facts)
    assert bounce["bounce_of"] == ID
    assert bounced == {"server": "mx1", "id": ID, "bounced_by": ["1tXbbb-000002-AB"]}


def test_fixture_logs() -> None:
    total = 0
    for path in sorted(FIXTURES.rglob("*.log")):
        total += _checked(path)[0]
    assert total > 50


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared is absent")
def test_shared_corpus() -> None:
    total = unsure = 0
    for path in sorted(CORPUS.rglob("*")):
        if path.is_file() and path.suffix not in (".md", ".gz"):
            equal, left = _checked(path)
            total, unsure = total + equal, unsure + left
    assert total > 10_000
    assert unsure < 100  # non-ASCII addresses only
