"""The report's pure parts: `--since`/`--until`, the search body, and reading a response captured from a real node.

tests/fixtures/report_response.json is the answer of OpenSearch 2.19 to `build_request(all time, every
server, top 10)` over tests/fixtures/fleet_a.log shipped as server a and fleet_b.log plus the bundled
sample shipped as server b. Regenerate it (after changing the request) against a scratch node with
`python -m tests.unit.test_report http://127.0.0.1:9200`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from shipper.errors import ConfigError
from shipper.opensearch.provision import TEMPLATES
from shipper.report import (
    Window,
    build_request,
    label,
    parse_response,
    parse_when,
    render_report,
    report_json,
    report_window,
    seconds,
    volume,
)
from shipper.report.response import parse_where

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
CAPTURED = FIXTURES / "report_response.json"
SAMPLE = ROOT / "shipper" / "samples" / "exim_mainlog"
FILES = {"a": [FIXTURES / "fleet_a.log"], "b": [FIXTURES / "fleet_b.log", SAMPLE]}
NOW = datetime(2025, 3, 31, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", datetime(2025, 3, 31, 11, 30, tzinfo=UTC)),
        ("24h", datetime(2025, 3, 30, 12, 0, tzinfo=UTC)),
        ("7d", datetime(2025, 3, 24, 12, 0, tzinfo=UTC)),
        ("2w", datetime(2025, 3, 17, 12, 0, tzinfo=UTC)),
        ("1d12h", datetime(2025, 3, 30, 0, 0, tzinfo=UTC)),
        ("2025-03-30", datetime(2025, 3, 30, tzinfo=UTC)),
        ("2025-03-30T10:00:00Z", datetime(2025, 3, 30, 10, tzinfo=UTC)),
        ("2025-03-30T10:00:00+02:00", datetime(2025, 3, 30, 8, tzinfo=UTC)),
        ("all", None),
    ],
)
def test_since_forms(text: str, expected: datetime | None) -> None:
    """Durations count back from now; ISO times without an offset are UTC; `all` is open-ended."""
    assert parse_when(text, NOW, "--since") == expected


@pytest.mark.parametrize("text", ["yesterday", "24", "-3h", "2025-13-01", "3x"])
def test_bad_since_is_a_config_error(text: str) -> None:
    with pytest.raises(ConfigError, match=r"^--since '.*': expected a duration \(30m, 24h, 7d, 2w\)"):
        parse_when(text, NOW, "--since")


@pytest.mark.parametrize(
    ("flag", "text"),
    [
        ("--since", "100000000d"),  # counted back from now: before year 1
        ("--since", "0001-01-01T00:00:00+01:00"),  # year 0 in UTC
        ("--until", "9999-12-31T23:59:59-01:00"),  # year 10000 in UTC
    ],
)
def test_dates_beyond_the_calendar_are_a_config_error(flag: str, text: str) -> None:
    with pytest.raises(ConfigError, match=rf"^{flag} '{re.escape(text)}': outside the years 1 to 9999$"):
        parse_when(text, NOW, flag)


def test_the_calendar_s_ends_are_written_as_four_digit_years() -> None:
    """OpenSearch's date format wants four-digit years: year 1 is 0001, not 1."""
    body = build_request(report_window("0001-01-01", "9999-12-31", NOW), [], 3)
    assert body["query"]["bool"]["filter"][1:] == [
        {"range": {"@timestamp": {"gte": "0001-01-01T00:00:00.000Z", "lt": "9999-12-31T00:00:00.000Z"}}}
    ]


def test_until_defaults_to_now_and_all_leaves_it_open() -> None:
    """Without --until the window ends now (events dated in the future are out); `--until all` is open."""
    assert report_window("24h", None, NOW) == Window(datetime(2025, 3, 30, 12, tzinfo=UTC), NOW)
    assert report_window("all", None, NOW) == Window(None, NOW)
    assert report_window("all", "all", NOW) == Window(None, None)
    assert build_request(report_window("all", None, NOW), [], 3)["query"]["bool"]["filter"][1:] == [
        {"range": {"@timestamp": {"lt": "2025-03-31T12:00:00.000Z"}}}
    ]
    with pytest.raises(ConfigError) as refused:
        report_window("2025-04-01", None, NOW)
    assert str(refused.value) == (
        "--until must be later than --since (--until is now, 2025-03-31T12:00:00.000Z, when not given)"
    )


def test_until_before_since_is_refused() -> None:
    with pytest.raises(ConfigError, match="--until must be later than --since"):
        report_window("2025-03-30", "2025-03-29", NOW)
    assert report_window("24h", "1h", NOW) == Window(
        datetime(2025, 3, 30, 12, tzinfo=UTC), datetime(2025, 3, 31, 11, tzinfo=UTC)
    )


def test_request_filters_window_and_servers() -> None:
    """The window is a half-open range on @timestamp; --server is a terms filter on host.name."""
    body = build_request(report_window("2025-03-30", "2025-03-31", NOW), ["mx1", "mx2"], 7)
    assert body["size"] == 0
    # Every summary, and the events of the main log only (the reject and panic logs repeat its lines).
    counted = {
        "bool": {
            "should": [{"exists": {"field": "exim.state"}}, {"term": {"event.dataset": "exim.main"}}],
            "minimum_should_match": 1,
        }
    }
    assert body["query"]["bool"]["filter"] == [
        counted,
        {"terms": {"host.name": ["mx1", "mx2"]}},
        {"range": {"@timestamp": {"gte": "2025-03-30T00:00:00.000Z", "lt": "2025-03-31T00:00:00.000Z"}}},
    ]
    assert build_request(Window(None, None), [], 7)["query"]["bool"]["filter"] == [counted]
    since_only = build_request(Window(datetime(2025, 3, 30, tzinfo=UTC), None), [], 7)
    assert since_only["query"]["bool"]["filter"] == [
        counted,
        {"range": {"@timestamp": {"gte": "2025-03-30T00:00:00.000Z"}}},
    ]
    senders = body["aggs"]["received"]["aggs"]["senders_by_volume"]["terms"]
    assert senders["size"] == 7
    assert senders["order"][0] == {"volume": "desc"}


def _mapped(kind: str) -> dict[str, str]:
    """field path -> type in the index templates of one document kind (events or messages)."""
    out: dict[str, str] = {}

    def walk(props: dict[str, Any], prefix: str) -> None:
        for name, spec in props.items():
            if "properties" in spec:
                walk(spec["properties"], f"{prefix}{name}.")
            elif spec.get("index") is not False and spec.get("type") not in (None, "text", "object"):
                out[f"{prefix}{name}"] = spec["type"]

    for name in ("ecs-base", kind):
        template = json.loads((TEMPLATES / "component" / f"{name}.json").read_text())
        walk(template["template"]["mappings"]["properties"], "")
    return out


def _fields(node: Any) -> set[str]:
    """Every field the request names: aggregations' `field`/`path`, and the keys of term/terms/range queries."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("field", "path") and isinstance(value, str):
                found.add(value)
            elif key in ("term", "terms", "range") and isinstance(value, dict) and "field" not in value:
                found.update(value)
            else:
                found |= _fields(value)
    elif isinstance(node, list):
        for item in node:
            found |= _fields(item)
    return found


def test_every_field_the_request_uses_is_aggregatable_in_the_templates() -> None:
    """A typo or a text field would silently aggregate nothing; every name must be a mapped keyword/number/date."""
    events, messages = _mapped("events"), _mapped("messages")
    nested = {"exim.recipients"}
    # A keyword sub-field of a text field: aggregatable, though _mapped() skips text fields' children.
    subfields = {"exim.error.message.keyword"}
    used = _fields(build_request(Window(None, None), ["mx1"], 10)) - nested - subfields
    assert used, "no fields found"
    unknown = sorted(f for f in used if f not in events and f not in messages)
    assert unknown == []


def _agg_names(aggs: dict[str, Any]) -> set[str]:
    names = set()
    for name, spec in aggs.items():
        names.add(name)
        names |= _agg_names(spec.get("aggs", {}))
    return names


def _response_keys(node: Any) -> set[str]:
    keys: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            keys.add(key)
            keys |= _response_keys(value)
    elif isinstance(node, list):
        for item in node:
            keys |= _response_keys(item)
    return keys


def captured() -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads(CAPTURED.read_bytes())
    return data


def test_captured_response_answers_the_current_request() -> None:
    """The capture is not stale: every aggregation the request asks for is in it."""
    asked = _agg_names(build_request(Window(None, None), [], 10)["aggs"])
    assert asked - _response_keys(captured()["aggregations"]) == set()


def test_captured_response_reads_as_the_local_parse_predicts() -> None:
    """Every total and the per-server split read from the real response equal the local parse of the fixtures."""
    from tests.integration.test_report import figures, local, predict

    result = report_json(parse_response(captured(), Window(None, None), [], 10))
    assert figures(result) == predict(FILES)
    events, summaries = local(FILES)
    flags = [e.get("exim", {}).get("flag") for e in events]
    assert result["delivered"] == {  # eximstats' figures: `=>` lines, `=>` and `->` lines, volume per `=>`
        "source": "events (=> and -> lines); volume: message summaries",
        "messages": flags.count("=>"),
        "volume_bytes": sum(s["exim"].get("delivered_volume", 0) for s in summaries),
        "addresses": flags.count("=>") + flags.count("->"),
        "hosts": len(
            {e["exim"]["eximstats"]["host"] for e, f in zip(events, flags, strict=True) if f == "=>"}
        ),
    }
    assert result["delivered"]["volume_bytes"] > 0
    delays = [s["exim"]["total_delay"] for s in summaries if "total_delay" in s["exim"]]
    total_delay = result["delays_seconds"]["total_delay"]
    assert total_delay["source"] == "message summaries"
    assert total_delay["count"] == len(delays)
    assert total_delay["max"] == pytest.approx(max(delays), abs=0.001)


def test_table_shows_headings_sources_and_numbers() -> None:
    from tests.integration.test_report import predict

    want = predict(FILES)
    text = render_report(parse_response(captured(), Window(None, None), [], 10))
    lines = text.splitlines()
    assert lines[0] == "Exim fleet report  the beginning .. the end  servers: all (2)"
    assert lines[1].startswith("Data from ") and lines[1].endswith(" UTC")
    received = next(line for line in lines if line.strip().startswith("Received "))
    assert received.split()[1:4] == [
        volume(want["received"]["volume_bytes"]),
        str(want["received"]["messages"]),
        str(want["received"]["addresses"]),
    ]
    assert "Top 10 senders by messages (message summaries: email.from.address)" in lines
    assert "Error classes (events: exim.error.class)" in lines
    classes = lines.index("Error classes (events: exim.error.class)")
    rows = lines[classes + 2 : lines.index("", classes)]
    assert {row.split()[-1]: int(row.split()[0]) for row in rows} == want["error_classes"]
    per_server = lines.index("Per server (received: summaries; the rest: events)")
    header = "Server Received Volume Deliveries Deferrals Failures Rejects Temp rej Errors"
    assert " ".join(lines[per_server + 1].split()) == header
    assert [line.split()[0] for line in lines[per_server + 2 : per_server + 4]] == ["a", "b"]


def test_empty_window_says_so_and_where_the_data_is() -> None:
    """No document in the window: no page of zeros, but where each server's data is (or that there is none)."""
    empty = {"_shards": {"total": 3}, "hits": {"total": {"value": 0}}, "aggregations": {}}
    report = parse_response(empty, Window(None, None), [], 10)
    data = report_json(report)
    assert data["received"]["messages"] == 0 and data["deliveries"]["lines"] == 0
    assert data["servers"] == [] and data["error_classes"]["rows"] == []
    assert render_report(report).splitlines()[1:] == [
        "Nothing in this window.",
        "The index holds no data for any server.",
    ]
    where = {
        "aggregations": {
            "per_server": {
                "buckets": [
                    {
                        "key": "mx1",
                        "first": {"value": 1.7e12, "value_as_string": "2025-03-28T00:00:00.000Z"},
                        "last": {"value": 1.8e12, "value_as_string": "2025-03-31T02:00:00.123Z"},
                    }
                ]
            }
        }
    }
    report.elsewhere = parse_where(where)
    lines = render_report(report).splitlines()
    assert lines[2] == "The index holds data (--since/--until to choose a window):"
    assert lines[4].split() == ["mx1", "2025-03-28", "00:00:00", "UTC", "2025-03-31", "02:00:00.123", "UTC"]
    assert report_json(report)["elsewhere"] == [
        {"server": "mx1", "first": "2025-03-28T00:00:00.000Z", "last": "2025-03-31T02:00:00.123Z"}
    ]


@pytest.mark.parametrize(
    ("interval", "text"),
    [
        ("30s", "2025-03-28 03:04:05"),
        ("5m", "2025-03-28 03:04"),
        ("3h", "2025-03-28 03:04"),
        ("1d", "2025-03-28"),
        ("7d", "2025-03-28"),
        ("1M", "2025-03"),
        ("1y", "2025"),
    ],
)
def test_histogram_labels_to_the_bucket_size(interval: str, text: str) -> None:
    assert label("2025-03-28T03:04:05.000Z", interval) == text


@pytest.mark.parametrize(
    ("n", "text"),
    [(0, "0B"), (900, "900B"), (1536, "1.5KB"), (18342, "17.9KB"), (300 * 1024, "300KB"), (5 << 30, "5.0GB")],
)
def test_volume(n: int, text: str) -> None:
    assert volume(n) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [(None, "-"), (0.651, "0.65s"), (42.4, "42s"), (192, "3m12s"), (7500, "2h5m"), (176039, "2d53m")],
)
def test_seconds(value: float | None, text: str) -> None:
    assert seconds(value) == text


def _capture(url: str) -> None:
    """Ship the fixtures under a scratch prefix, save the node's answer to the report's request, clean up."""
    import tempfile

    from opensearchpy import OpenSearch

    from shipper.opensearch.connection import OpenSearchCluster
    from shipper.opensearch.retry import RetryPolicy
    from shipper.report import fetch

    prefix, client = "trcapture", OpenSearch([url])
    client.indices.delete(index=f"{prefix}-*", ignore_unavailable=True)
    from tests.integration.prefixes import set_up

    set_up(client, prefix)  # as `exim-shipper setup` would: backfill only checks the templates
    with tempfile.TemporaryDirectory() as state:
        for server, paths in FILES.items():
            flags = ["--index-prefix", prefix, "--state-dir", f"{state}/{server}", "--server-name", server]
            cmd = [sys.executable, "-m", "shipper", "backfill", *map(str, paths), "--opensearch-url", url]
            subprocess.run([*cmd, *flags, "--timezone", "UTC"], check=True)
    client.indices.refresh(index=f"{prefix}-*")
    response = fetch(
        OpenSearchCluster(client), prefix, build_request(Window(None, None), [], 10), RetryPolicy()
    )
    response.pop("took", None)
    CAPTURED.write_bytes(orjson.dumps(response, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")
    from tests.integration.prefixes import drop as drop_prefix

    drop_prefix(client, prefix)


if __name__ == "__main__":
    _capture(sys.argv[1])


def test_histogram_rows_and_quiet_stretches() -> None:
    """Every bucket of the response is in the JSON; in the table a run of empty buckets is one line."""
    buckets = captured()["aggregations"]["histogram"]["time"]["buckets"]
    data = report_json(parse_response(captured(), Window(None, None), [], 10))
    rows = data["histogram"]["rows"]
    assert [r["time"] for r in rows] == [b["key_as_string"] for b in buckets]
    assert sum(r["received"] for r in rows) == data["received"]["messages"]
    assert sum(r["deliveries"] for r in rows) == data["deliveries"]["lines"]
    empty = sum(1 for r in rows if r["received"] == r["deliveries"] == 0)
    assert empty > 2
    text = render_report(parse_response(captured(), Window(None, None), [], 10))
    assert f"({empty} quiet intervals)" in text


def test_unreachable_cluster_is_one_line_without_secrets() -> None:
    """No cluster: one error line after a few quick tries, exit 1, and the password is not repeated."""
    url = "http://127.0.0.1:1"
    for args in (["report"], ["trace", "1thPe4-00000000Aa1-0Aa1"]):
        res = subprocess.run(
            [sys.executable, "-m", "shipper", *args, "--opensearch-url", url, "--username", "shipper"],
            env={**os.environ, "EXIM_SHIPPER_PASSWORD": "s3cr3t-pw"},
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert res.returncode == 1
        assert res.stderr.count("\n") == 1
        assert res.stderr.startswith(f"exim-shipper: {args[0]}: cannot connect to OpenSearch")
        assert "s3cr3t-pw" not in res.stderr


def test_bad_flags_are_one_line() -> None:
    for args, message in (
        (["--top", "0"], "exim-shipper: --top must be at least 1\n"),
        (
            ["--since", "soon"],
            "exim-shipper: --since 'soon': expected a duration (30m, 24h, 7d, 2w), an ISO date",
        ),
    ):
        res = subprocess.run(
            [sys.executable, "-m", "shipper", "report", *args, "--opensearch-url", "http://127.0.0.1:1"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert res.returncode == 1
        assert res.stderr.startswith(message) and res.stderr.count("\n") == 1
