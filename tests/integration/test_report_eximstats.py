"""The report's grand total and eximstats' sections equal eximstats' own output on the same log.

tests/fixtures/eximstats/mainlog.gz is a log rich in every figure (the bench generator's output plus
extra.log: local deliveries, an alias with a failing target, a blackhole, a relay, every kind of reject
and temporary reject); mainlog.eximstats.txt is Debian 12's eximstats on it, made by
tools/eximstats_fixture.sh (SOURCE says with what). The log is shipped to the real node together with a
reject log holding copies of its rejections (one with a header dump), as the sidecar ships them: the
figures must still be eximstats', nothing counted twice.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from opensearchpy import OpenSearch

from tests.integration.prefixes import drop, set_up
from tests.integration.test_backfill import ROOT, shipper

FIXTURE = ROOT / "tests" / "fixtures" / "eximstats"
PREFIX = "treport-eximstats"
_NUMBER = r"\s+(\d+)"


def eximstats() -> dict[str, Any]:
    """The figures of the checked-in eximstats output (volumes in bytes: it was run with -nvr)."""
    text = (FIXTURE / "mainlog.eximstats.txt").read_text()

    def row(name: str, n: int) -> list[int]:
        m = re.search(rf"^  {name}" + _NUMBER * n, text, re.M)
        assert m is not None, name
        return [int(g) for g in m.groups()]

    received = re.search(r"^  Received\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+\S+\s+(\d+)\s", text, re.M)
    assert received is not None
    volume, messages, hosts, delayed, failed = (int(g) for g in received.groups())

    def table(title: str, columns: int) -> dict[str, list[int]]:
        start = text.index(f"\n{title}\n")
        body = text[start:].split("\n\n", 1)[0]
        out = {}
        for line in body.splitlines()[4:]:  # after the blank line, the title, its rule and the header
            cells = line.split(None, columns)
            out[cells[columns]] = [int(c) for c in cells[:columns]]
        return out

    return {
        "received": {
            "volume": volume,
            "messages": messages,
            "hosts": hosts,
            "delayed": delayed,
            "failed": failed,
        },
        "delivered": dict(
            zip(("volume", "messages", "addresses", "hosts"), row("Delivered", 4), strict=True)
        ),
        "rejects": dict(zip(("lines", "hosts"), row("Rejects  ", 2), strict=True)),
        "temp_rejects": dict(zip(("lines", "hosts"), row("Temp Rejects", 2), strict=True)),
        "reasons": table("Top 50 mail rejection reasons by message count", 1),
        "temp_reasons": table("Top 50 mail temporary rejection reasons by message count", 1),
        "rejected_ips": table("Top 50 rejected ips by message count", 1),
        "temp_rejected_ips": table("Top 50 temporarily rejected ips by message count", 1),
        "local_senders": table("Top 50 local senders by message count", 3),
        "local_destinations": table("Top 50 local destinations by message count", 4),
        "errors": int(re.search(r"^Errors encountered: (\d+)", text, re.M).group(1)),  # type: ignore[union-attr]
    }


def reject_log(main: str) -> str:
    """What Exim's reject log holds for the main log: its rejection lines, with a header dump after DATA."""
    out = []
    for line in main.splitlines():
        if re.search(
            r"\brejected\b|refused connection|dropped: too many|synchronization error", line
        ) and not re.search(r" (?:[<=*-]>|==|\*\*|<=) ", line):
            out.append(line)
            if "rejected after DATA" in line:
                out += [
                    "Envelope-from: <x@spammer.example>",
                    "Envelope-to: <sales@fleet.test>",
                    "P Received: from [192.0.2.93] by srv42.examplehost.net with esmtp (Exim 4.96)",
                    "F From: x@spammer.example",
                ]
    return "\n".join(out) + "\n"


@pytest.fixture(scope="module")
def shipped(opensearch_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    tmp = tmp_path_factory.mktemp("eximstats")
    main = gzip.decompress((FIXTURE / "mainlog.gz").read_bytes()).decode()
    rejects = tmp / "exim_rejectlog"
    rejects.write_text(reject_log(main))
    assert rejects.read_text().count("\n") > 100
    client = OpenSearch([opensearch_url])
    drop(client, PREFIX)
    set_up(client, PREFIX)  # as an admin's `exim-shipper setup` does before servers ship
    for files in ([FIXTURE / "mainlog.gz"], [rejects]):  # as two runs: the second file never sees the first
        res = shipper("backfill", *map(str, files), state=tmp / "state", url=opensearch_url, prefix=PREFIX)
        assert res.returncode == 0, res.stderr
    client.indices.refresh(index=f"{PREFIX}-*")
    yield rejects
    drop(client, PREFIX)


def report(url: str, *args: str) -> dict[str, Any]:
    res = shipper(
        "report",
        "--json",
        "--since",
        "all",
        "--until",
        "all",
        *args,
        state=Path("/nonexistent"),
        url=url,
        prefix=PREFIX,
    )
    assert res.returncode == 0, res.stderr
    data: dict[str, Any] = orjson.loads(res.stdout)
    return data


def test_grand_total_equals_eximstats(opensearch_url: str, shipped: Path) -> None:
    """Received, delivered, rejects and temp rejects: every figure of eximstats' grand total."""
    want = eximstats()
    got = report(opensearch_url)
    rc, dv = got["received"], got["delivered"]
    assert {
        "received": {
            "volume": rc["volume_bytes"],
            "messages": rc["messages"],
            "hosts": rc["hosts"],
            "delayed": rc["delayed_messages"],
            "failed": rc["failed_messages"],
        },
        "delivered": {
            k: dv["volume_bytes" if k == "volume" else k]
            for k in ("volume", "messages", "addresses", "hosts")
        },
        "rejects": {k: got["rejects"][k] for k in ("lines", "hosts")},
        "temp_rejects": {k: got["temp_rejects"][k] for k in ("lines", "hosts")},
    } == {k: want[k] for k in ("received", "delivered", "rejects", "temp_rejects")}
    # Not vacuous: the reject log was shipped and indexed beside the main log.
    events = OpenSearch([opensearch_url]).count(
        index=f"{PREFIX}-events-*", body={"query": {"term": {"event.dataset": "exim.reject"}}}
    )["count"]
    assert events == shipped.read_text().count("\n") - 4  # its entries (the header dump is one with its line)
    assert got["failures"]["lines"] == want["errors"]


def test_eximstats_sections(opensearch_url: str, shipped: Path) -> None:
    """Rejection reasons, rejected IPs, local senders and destinations: eximstats' rows and counts."""
    want = eximstats()
    got = report(opensearch_url, "--top", "200")

    def rows(name: str, unit: str = "rejects") -> dict[str, list[int]]:
        return {r["key"]: [r[unit]] for r in got["top"][name]["rows"]}

    assert rows("rejection_reasons") == want["reasons"]
    assert rows("temporary_rejection_reasons") == want["temp_reasons"]
    ips = rows("rejected_ips")
    assert {k: ips[k] for k in want["rejected_ips"]} == want["rejected_ips"]  # eximstats shows 50 of them
    assert rows("temporarily_rejected_ips") == want["temp_rejected_ips"]
    senders = {
        r["key"]: [r["messages"], r["volume_bytes"]] for r in got["top"]["local_senders_by_messages"]["rows"]
    }
    assert senders == {k: v[:2] for k, v in want["local_senders"].items()}
    # eximstats lists destinations by `=>` deliveries: one reached only by `->` is not in its table.
    rows_ = got["local_destinations"]["rows"]
    destinations = {r["key"]: [r["messages"], r["addresses"]] for r in rows_ if r["messages"]}
    assert destinations == {k: v[:2] for k, v in want["local_destinations"].items()}
    assert any(r["key"].startswith("|/usr/local/bin/backup-mail") for r in rows_)


def test_relayed_and_failure_list(opensearch_url: str, shipped: Path) -> None:
    got = report(opensearch_url, "--top", "200")
    pairs = {(r["from"], r["to"]) for r in got["relayed"]["rows"]}
    assert ("mx.partner.example [192.0.2.40]", "mx.outside.example") in pairs
    assert got["relayed"]["addresses"] >= len(got["relayed"]["rows"]) > 0
    errors = {r["error"]: r for r in got["failure_list"]["rows"]}
    assert errors["Unrouteable address"]["addresses"] == ["nobody-here@fleet.test"]
    assert sum(r["lines"] for r in got["failure_list"]["rows"]) == got["failures"]["lines"]


def test_empty_window_says_where_the_data_is(opensearch_url: str, shipped: Path) -> None:
    res = shipper(
        "report",
        "--since",
        "2020-01-01",
        "--until",
        "2020-02-01",
        state=Path("/nonexistent"),
        url=opensearch_url,
        prefix=PREFIX,
    )
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[1] == "Nothing in this window."
    assert "Grand total" not in res.stdout
    data = report(opensearch_url, "--since", "2020-01-01", "--until", "2020-02-01")
    assert data["window"]["data"]["documents"] == 0
    (span,) = data["elsewhere"]
    assert span["server"] == "mx1" and span["first"] < span["last"]
    everything = report(opensearch_url)["window"]["data"]
    assert (span["first"], span["last"]) == (everything["first"], everything["last"])
    assert lines[3].split()[0] == "Server"
    assert lines[4].split()[0] == "mx1" and _utc(span["first"]) in lines[4] and _utc(span["last"]) in lines[4]


def test_table_gives_the_data_range_and_labels_to_the_bucket(opensearch_url: str, shipped: Path) -> None:
    res = shipper(
        "report",
        "--since",
        "all",
        "--until",
        "all",
        state=Path("/nonexistent"),
        url=opensearch_url,
        prefix=PREFIX,
    )
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    data = report(opensearch_url)["window"]["data"]
    # Summaries of messages known only by id (their arrival decoded from it) reach past the lines.
    assert data["first"] < "2025-03-28" and data["last"] > "2025-03-31"
    assert lines[1] == f"Data from {_utc(data['first'])} to {_utc(data['last'])}"
    start = next(i for i, line in enumerate(lines) if line.startswith("Received (summaries) and deliveries"))
    interval = lines[start].rsplit(" ", 1)[1]
    first = lines[start + 2].split("  ")[1].strip()
    if interval.endswith("d"):
        assert re.fullmatch(r"\d{4}-\d\d-\d\d", first)
    else:
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", first)


def _utc(iso_time: str) -> str:
    return iso_time.replace("T", " ").removesuffix(".000Z").removesuffix("Z") + " UTC"
