"""`exim-shipper report` on a real node: its figures equal what the local parse of the same files predicts."""

from __future__ import annotations

import subprocess
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from opensearchpy import OpenSearch

from shipper.files.archive import dataset_for
from shipper.messages import Partial, accumulate, from_state, summary
from shipper.report import DELIVERY_ACTIONS
from tests.integration.prefixes import drop, set_up
from tests.integration.test_backfill import SAMPLE, command, generated_log, shipper
from tests.parsing import read, stored

PREFIX = "treport-fleet"


def backfill(*paths: Path, server: str, url: str, prefix: str, state: Path) -> None:
    """Ship files as server `server` (its own state dir: the same file is new to every server)."""
    cmd = command("backfill", *map(str, paths), url=url, prefix=prefix, state=state / server)
    res = subprocess.run([*cmd, "--server-name", server], capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr


@pytest.fixture(scope="module")
def fleet(opensearch_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, list[Path]]]:
    """Server a ships a generated log; server b the same log plus the bundled sample (January, months earlier)."""
    tmp = tmp_path_factory.mktemp("report")
    gen, _ = generated_log(tmp / "gen.log", lines=2500, seed=5)
    files = {"a": [gen], "b": [gen, SAMPLE]}
    client = OpenSearch([opensearch_url])
    drop(client, PREFIX)
    set_up(client, PREFIX)
    for server, paths in files.items():
        backfill(*paths, server=server, url=opensearch_url, prefix=PREFIX, state=tmp)
    client.indices.refresh(index=f"{PREFIX}-*")
    yield files
    drop(client, PREFIX)


def local(files: dict[str, list[Path]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Events and message summaries the native core makes of the files: its documents, and the summaries
    its correlator stores for each file, merged per server by their states as the cluster merges them."""
    events: list[dict[str, Any]] = []
    summaries: list[dict[str, Any]] = []
    for server, paths in files.items():
        acc: dict[str, Partial] = {}
        for path in paths:
            data, dataset = path.read_bytes(), dataset_for(path)
            events += read(data, server=server, dataset=dataset).docs
            for doc in stored(data, max_open=100_000, server=server, dataset=dataset):
                accumulate(acc, from_state(doc["exim"]["merge_state"]))
        summaries += [summary(p) for p in acc.values()]
    return events, summaries


def predict(
    files: dict[str, list[Path]], since: str = "", until: str = "~", servers: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The report's figures computed from the local parse, in the JSON's shape."""

    def inside(doc: dict[str, Any]) -> bool:
        ts = doc.get("@timestamp")
        host = doc["host"]["name"]
        return ts is not None and since <= ts < until and (not servers or host in servers)

    events, summaries = local(files)
    events = [e for e in events if inside(e)]
    summaries = [s for s in summaries if inside(s)]
    received = [s for s in summaries if s["exim"].get("arrival_time_source") == "log"]

    def kinds_of(e: dict[str, Any]) -> list[str]:
        """The report's line kinds of an event (a blackholed `=>` is both a delivery and a reject)."""
        action = e["event"]["action"]
        out = []
        if action in DELIVERY_ACTIONS:
            out.append("deliveries")
        if action == "delivery_deferred":
            out.append("deferrals")
        if action == "delivery_failed":
            out.append("failures")
        reject = e.get("exim", {}).get("eximstats", {}).get("reject")  # eximstats' rule
        if reject is not None:
            out.append("temp_rejects" if reject == "temporary" else "rejects")
        return out

    def kind(e: dict[str, Any]) -> str | None:
        found = kinds_of(e)
        return found[0] if found else None

    kinds = Counter((e["host"]["name"], k) for e in events for k in kinds_of(e))
    hosts = sorted({e["host"]["name"] for e in events} | {s["host"]["name"] for s in summaries})
    errors = Counter(e["host"]["name"] for e in events if "class" in e.get("exim", {}).get("error", {}))
    senders = Counter(s["email"].get("from", {}).get("address", "<>") for s in received)
    return {
        "received": {
            "messages": len(received),
            "volume_bytes": sum(s["exim"].get("size", 0) for s in received),
            "addresses": sum(len(s["exim"].get("recipients", [])) for s in received),
        },
        "deliveries": {
            "lines": sum(n for (_, k), n in kinds.items() if k == "deliveries"),
            "messages": len(
                {(e["host"]["name"], e["email"]["local_id"]) for e in events if kind(e) == "deliveries"}
            ),
        },
        "deferrals": sum(n for (_, k), n in kinds.items() if k == "deferrals"),
        "failures": sum(n for (_, k), n in kinds.items() if k == "failures"),
        "rejects": sum(n for (_, k), n in kinds.items() if k == "rejects"),
        "temp_rejects": sum(n for (_, k), n in kinds.items() if k == "temp_rejects"),
        "errors": sum(errors.values()),
        "states": dict(Counter(s["exim"]["state"] for s in summaries)),
        "servers": [
            {
                "name": h,
                "received_messages": sum(1 for s in received if s["host"]["name"] == h),
                "deliveries": kinds[(h, "deliveries")],
                "deferrals": kinds[(h, "deferrals")],
                "failures": kinds[(h, "failures")],
                "rejects": kinds[(h, "rejects")],
                "errors": errors[h],
            }
            for h in hosts
        ],
        "error_classes": dict(
            Counter(
                e["exim"]["error"]["class"] for e in events if "class" in e.get("exim", {}).get("error", {})
            )
        ),
        "senders": sorted(senders.items(), key=lambda kv: (-kv[1], kv[0]))[:5],
    }


def report(url: str, *args: str) -> dict[str, Any]:
    res = shipper("report", "--json", *args, state=Path("/nonexistent"), url=url, prefix=PREFIX)
    assert res.returncode == 0, res.stderr
    data: dict[str, Any] = orjson.loads(res.stdout)
    return data


def figures(got: dict[str, Any]) -> dict[str, Any]:
    """The measured counterpart of predict()."""
    return {
        "received": {k: got["received"][k] for k in ("messages", "volume_bytes", "addresses")},
        "deliveries": {k: got["deliveries"][k] for k in ("lines", "messages")},
        "deferrals": got["deferrals"]["lines"],
        "failures": got["failures"]["lines"],
        "rejects": got["rejects"]["lines"],
        "temp_rejects": got["temp_rejects"]["lines"],
        "errors": got["errors"]["lines"],
        "states": {k: v for k, v in got["states"].items() if k != "source"},
        "servers": [
            {
                k: s[k]
                for k in (
                    "name",
                    "received_messages",
                    "deliveries",
                    "deferrals",
                    "failures",
                    "rejects",
                    "errors",
                )
            }
            for s in got["servers"]
        ],
        "error_classes": {row["class"]: row["events"] for row in got["error_classes"]["rows"]},
        "senders": [(row["key"], row["messages"]) for row in got["top"]["senders_by_messages"]["rows"]],
    }


def test_totals_and_split_equal_the_local_parse(opensearch_url: str, fleet: dict[str, list[Path]]) -> None:
    """All time, both servers: every total, the per-server split and the top senders match the local parse."""
    got = report(opensearch_url, "--since", "all", "--top", "5")
    want = predict(fleet)
    assert figures(got) == want
    # Not vacuous: the fixture exercises every row of the grand total.
    rows = ("deferrals", "failures", "rejects", "temp_rejects", "errors")
    assert all(want[k] > 0 for k in rows) and want["received"]["messages"] > 50
    assert [s["name"] for s in got["servers"]] == ["a", "b"]
    arrivals_in_sample = SAMPLE.read_text().count(" <= ")
    assert (
        got["servers"][1]["received_messages"] == got["servers"][0]["received_messages"] + arrivals_in_sample
    )
    assert got["received"]["source"] == "message summaries" and got["deliveries"]["source"] == "events"


def test_server_filter(opensearch_url: str, fleet: dict[str, list[Path]]) -> None:
    """--server keeps one host.name: its figures alone, and no row for the other server."""
    got = report(opensearch_url, "--since", "all", "--server", "b", "--top", "5")
    assert figures(got) == predict(fleet, servers=("b",))
    assert [s["name"] for s in got["servers"]] == ["b"]
    assert got["window"]["servers"] == ["b"]


def test_since_until_window(opensearch_url: str, fleet: dict[str, list[Path]]) -> None:
    """An absolute --since/--until keeps documents whose @timestamp is inside (the sample's January is out)."""
    since, until = "2025-03-29T00:00:00.000Z", "2025-03-30T12:00:00.000Z"
    got = report(
        opensearch_url, "--since", "2025-03-29", "--until", "2025-03-30T13:00:00+01:00", "--top", "5"
    )
    data = got["window"].pop("data")
    assert got["window"] == {"since": since, "until": until, "servers": "all"}
    assert since <= data["first"] < data["last"] < until and data["documents"] > 0
    want = predict(fleet, since=since, until=until)
    assert figures(got) == want
    assert 0 < want["received"]["messages"] < predict(fleet)["received"]["messages"]


def test_table_output_and_empty_window(opensearch_url: str, fleet: dict[str, list[Path]]) -> None:
    """The table has its headings and the same numbers as the JSON; a window with no data is all zeros."""
    want = predict(fleet)
    res = shipper("report", "--since", "all", state=Path("/nonexistent"), url=opensearch_url, prefix=PREFIX)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    for heading in (
        "Grand total (as eximstats counts: received from summaries, the rest from main-log events)",
        "Per server",
        "Top 10 senders by messages (message summaries: email.from.address)",
        "Top 10 recipient domains by deliveries (events, delivery lines: exim.recipient_domains)",
        "Error classes (events: exim.error.class)",
        "Delays",
    ):
        assert heading in out
    received = next(line for line in out.splitlines() if line.strip().startswith("Received "))
    assert str(want["received"]["messages"]) in received.split()
    deliveries = next(line for line in out.splitlines() if line.strip().startswith("Deliveries"))
    assert deliveries.split()[4] == str(want["deliveries"]["lines"])
    server_b = next(line for line in out.splitlines() if line.startswith("  b "))
    assert server_b.split()[1] == str(want["servers"][1]["received_messages"])

    empty = shipper(
        "report",
        *("--since", "2020-01-01", "--until", "2020-02-01"),
        state=Path("/nonexistent"),
        url=opensearch_url,
        prefix=PREFIX,
    )
    assert empty.returncode == 0, empty.stderr
    lines = empty.stdout.splitlines()
    # No page of zeros: it says so, and where each server's data is.
    assert lines[1:3] == [
        "Nothing in this window.",
        "The index holds data (--since/--until to choose a window):",
    ]
    assert [line.split()[0] for line in lines[4:]] == ["a", "b"]
    assert "Grand total" not in empty.stdout


@pytest.mark.usefixtures("set_up")
def test_until_defaults_to_now(opensearch_url: str, prefix: str, tmp_path: Path) -> None:
    """A message dated in the future (a server's clock ahead) is outside the default window, which ends
    now as the header says; `--until all` counts it."""
    log = tmp_path / "exim_mainlog"
    log.write_text(
        "2025-03-30 10:00:00 1tPast-00000000001-0001 <= a@shop.example U=u P=local S=100 for b@corp.example\n"
        "2099-01-01 10:00:00 1tLate-00000000002-0002 <= a@shop.example U=u P=local S=200 for b@corp.example\n"
    )
    backfill(log, server="mx1", url=opensearch_url, prefix=prefix, state=tmp_path)
    OpenSearch([opensearch_url]).indices.refresh(index=f"{prefix}-*")

    def run(*args: str) -> dict[str, Any]:
        res = shipper("report", "--json", *args, state=tmp_path, url=opensearch_url, prefix=prefix)
        assert res.returncode == 0, res.stderr
        data: dict[str, Any] = orjson.loads(res.stdout)
        return data

    before = datetime.now(UTC)
    default = run("--since", "all")
    after = datetime.now(UTC)
    until = datetime.fromisoformat(default["window"]["until"])
    assert before - timedelta(seconds=1) <= until <= after
    assert (default["received"]["messages"], default["received"]["volume_bytes"]) == (1, 100)
    open_ended = run("--since", "all", "--until", "all")
    assert open_ended["window"]["until"] is None
    assert (open_ended["received"]["messages"], open_ended["received"]["volume_bytes"]) == (2, 300)


def test_no_index_is_one_line(opensearch_url: str, tmp_path: Path) -> None:
    """A prefix with no index: one clear line, exit 1."""
    res = shipper("report", state=tmp_path, url=opensearch_url, prefix="treport-nothing-here")
    assert res.returncode == 1
    assert res.stderr.count("\n") == 1
    assert "no treport-nothing-here-events-* or treport-nothing-here-messages-* index" in res.stderr
