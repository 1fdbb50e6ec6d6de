"""eximstats' reading of lines (the core's `exim.eximstats`, its patterns in eximstats' order) against
eximstats' own output on the fixture log."""

from __future__ import annotations

import gzip
from collections import Counter
from typing import Any

from tests.integration.test_report_eximstats import FIXTURE, eximstats
from tests.parsing import parse, read


def eximstats_view(line: str) -> dict[str, Any] | None:
    """What the core's document of one line says eximstats reads in it."""
    view: dict[str, Any] | None = parse(line).get("exim", {}).get("eximstats")
    return view


def _views() -> list[dict[str, str]]:
    docs = read(gzip.decompress((FIXTURE / "mainlog.gz").read_bytes())).docs
    return [v for doc in docs if (v := doc.get("exim", {}).get("eximstats")) is not None]


def test_rejects_reasons_and_ips_equal_eximstats() -> None:
    want = eximstats()
    views = _views()
    for kind, total, reasons in (
        ("permanent", "rejects", "reasons"),
        ("temporary", "temp_rejects", "temp_reasons"),
    ):
        mine = [v for v in views if v.get("reject") == kind]
        assert [len(mine), len({v["ip"] for v in mine})] == [want[total]["lines"], want[total]["hosts"]]
        assert {k: [n] for k, n in Counter(v["reason"] for v in mine).items()} == want[reasons]


def test_hosts_senders_and_destinations() -> None:
    views = _views()
    assert "Unknown" in {
        v.get("reason") for v in views
    }  # eximstats' catch-all: outbound `Connection refused`
    users = Counter(v["user"] for v in views if "user" in v)
    want = eximstats()
    assert {k: [n] for k, n in users.items()} == {k: v[:1] for k, v in want["local_senders"].items()}


def test_lines_eximstats_does_not_count() -> None:
    assert (
        eximstats_view("2025-03-30 08:05:10 1tzDef-000007-Gg == r@x R=d T=t defer (111): Connection refused")
        is None
    )
    assert eximstats_view("not a log line at all, though it was rejected") is None
    view = eximstats_view(
        "2025-03-30 08:05:10 1tzDef-000007-Gg => :blackhole: <trap@fleet.test> R=blackhole_router"
    )
    assert view == {
        "host": "local",
        "destination": ":blackhole:",
        "reject": "permanent",
        "reason": "Unknown",
        "ip": "local",
    }
    view = eximstats_view(
        "2025-03-30 08:05:10.123 [42] 1tzDef-00000000007-Gg00 <= a@b H=mx.b (helo) [192.0.2.1] S=1"
    )
    assert view == {"host": "mx.b"}  # Exim 4.97's long ids too


def test_reject_log_copies_are_their_own_documents() -> None:
    """A reject-log entry with the very bytes of its main-log line is a document of its own; main-log ids
    are unchanged."""
    line = b"2025-03-30 08:05:00 H=(x) [192.0.2.99] F=<a@x> rejected RCPT <b@y>: relay not permitted"

    def content_id(dataset: str) -> str:
        (entry,) = read(line, server="mx1", dataset=dataset).entries
        return entry.id

    main = content_id("exim.main")
    assert main == "Fx_7V5XoW_fQCsqj2sMD"  # `event_id("mx1", line, 0)` as Python made it before the core
    assert content_id("exim.reject") != main
    assert content_id("exim.reject") == "CbqdtQspdae-Re24MuOA"  # `event_id(…, "exim.reject")`'s
    assert content_id("exim.reject") == content_id("exim.reject")
