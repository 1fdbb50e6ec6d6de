"""`exim-shipper trace` without files: a message's story across servers, from a real node's index.

Fixtures: server a (tests/fixtures/fleet_a.log) sends order 1 (no Message-ID header) to server b, whose
reply `C="250 OK id=…"` names b's id, and order 2 through a relay that gives no Exim id (b's arrival
carries the same Message-ID); a's third message bounces locally. Server c ships the eximstats fixture's
extra.log: refusals during SMTP sessions, which have no message id, beside a few messages.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opensearchpy import OpenSearch

from shipper.opensearch import provision
from shipper.opensearch.connection import OpenSearchCluster
from shipper.opensearch.retry import RetryPolicy
from shipper.trace import (
    MAX_MESSAGES,
    MAX_ROUNDS,
    MAX_SESSION_LINES,
    FleetTrace,
    Story,
    fleet_trace,
    render_fleet,
)
from shipper.trace_queries import ADDRESS_FIELDS
from tests.integration.prefixes import set_up
from tests.integration.test_backfill import ROOT, shipper
from tests.integration.test_report import backfill, drop

PREFIX = "ttrace-fleet"
ONE_TRY = RetryPolicy(max_attempts=1)
FIXTURES = ROOT / "tests" / "fixtures"
A1, B1 = "1thPe4-00000000Aa1-0Aa1", "1thPe5-00000000Bb1-0Bb1"  # order 1 on a, then on b
A2, B2 = "1thPiu-00000000Aa2-0Aa2", "1thPix-00000000Bb2-0Bb2"  # order 2 on a, then on b (via a relay)
A3, A4 = "1thPnk-00000000Aa3-0Aa3", "1thPnk-00000000Aa4-0Aa4"  # a bounced message on a, and its bounce
LOGS = {
    "a": FIXTURES / "fleet_a.log",
    "b": FIXTURES / "fleet_b.log",
    "c": FIXTURES / "eximstats" / "extra.log",
}


@pytest.fixture(scope="module")
def url(opensearch_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("trace")
    client = OpenSearch([opensearch_url])
    drop(client, PREFIX)
    set_up(client, PREFIX)
    for server, log in LOGS.items():
        backfill(log, server=server, url=opensearch_url, prefix=PREFIX, state=tmp)
    client.indices.refresh(index=f"{PREFIX}-*")
    yield opensearch_url
    drop(client, PREFIX)


def trace(url: str, target: str) -> subprocess.CompletedProcess[str]:
    return shipper("trace", target, state=Path("/nonexistent"), url=url, prefix=PREFIX)


def servers_of(out: str, local_id: str) -> set[str]:
    """The server column of every event line of `local_id` in the output."""
    return {
        line.split()[0] for line in out.splitlines() if f"] {local_id} " in line and not line.startswith(" ")
    }


def test_id_follows_the_delivery_to_the_other_server(url: str) -> None:
    """Tracing a's id shows b's copy too (its id is in a's C= reply), each line under its server, in time order."""
    res = trace(url, A1)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert servers_of(out, A1) == {"a"}
    assert servers_of(out, B1) == {"b"}
    assert out.index(f"{A1} <= alice@shop.example") < out.index(f"{A1} => bob@corp.example")
    assert out.index(f"{A1} Completed") < out.index(f"{B1} <= alice@shop.example")
    assert f"sent to    {B1} on b" in out
    assert f"came from  {A1} on a" in out
    assert "Message-ID" not in out
    assert f"message    {B1} on b" in out
    assert A2 not in out and A3 not in out


def test_id_on_the_receiving_server_finds_the_delivery_into_it(url: str) -> None:
    """Tracing b's id finds a's message whose delivery reply named it."""
    res = trace(url, B1)
    assert res.returncode == 0, res.stderr
    assert servers_of(res.stdout, A1) == {"a"}
    assert servers_of(res.stdout, B1) == {"b"}
    assert f"came from  {A1} on a" in res.stdout
    assert res.stdout.index(f"{A1} <= ") < res.stdout.index(f"{B1} <= ")


def test_message_id_links_when_no_exim_id_was_logged(url: str) -> None:
    """Tracing b's id of order 2 finds a's message by the shared Message-ID (the relay logged no Exim id)."""
    res = trace(url, B2)
    assert res.returncode == 0, res.stderr
    assert servers_of(res.stdout, A2) == {"a"}
    assert servers_of(res.stdout, B2) == {"b"}
    assert f"same Message-ID  {A2} on a" in res.stdout
    assert A1 not in res.stdout


def test_address_any_case_on_both_servers(url: str) -> None:
    """An address is matched case-blind in every address field, on every server."""
    res = trace(url, "Dan@Corp.Example")
    assert res.returncode == 0, res.stderr
    assert servers_of(res.stdout, A2) == {"a"}
    assert servers_of(res.stdout, B2) == {"b"}
    assert "=> dan <dan@corp.example> R=virtual_user" in res.stdout


def test_id_follows_its_bounce_like_the_local_trace(url: str) -> None:
    """As with files, an id brings its bounce along; the story and summary match the local trace's."""
    res = trace(url, A3)
    assert res.returncode == 0, res.stderr
    assert servers_of(res.stdout, A3) == servers_of(res.stdout, A4) == {"a"}
    assert (
        "recipient   erin@nonexistent.example  failed  unroutable_domain: Unrouteable address" in res.stdout
    )
    local = subprocess.run(
        [sys.executable, "-m", "shipper", "trace", A3, str(FIXTURES / "fleet_a.log"), "--server-name", "a"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert local.returncode == 0, local.stderr
    fleet_lines = [line.removeprefix("a  ") for line in res.stdout.splitlines()]
    assert fleet_lines == local.stdout.splitlines()


def test_no_match_is_one_line(url: str) -> None:
    res = trace(url, "nobody@nowhere.example")
    assert res.returncode == 1
    assert res.stderr == "exim-shipper: no entry matches 'nobody@nowhere.example'\n"


def test_a_refusal_without_an_id_is_found_and_shown_as_its_own_group(url: str) -> None:
    """The issue's case, on the index: the `rejected RCPT` line of a session, no message id, under its
    server, closed by a row saying so."""
    res = trace(url, "abuse@fleet.test")
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines()[:2] == [
        "c  2025-03-30 08:05:00 H=(attacker) [192.0.2.99]:50000 I=[198.51.100.23]:25 F=<a@attacker.example> "
        "rejected RCPT <abuse@fleet.test>: relay not permitted",
        "  no message id  1 line of SMTP sessions or the daemon (refusals, connections)",
    ]


def test_an_ip_finds_messages_and_session_lines(url: str) -> None:
    """The client's IP: its connection line (no id) and both messages it sent, all on a."""
    res = trace(url, "203.0.113.45")
    assert res.returncode == 0, res.stderr
    assert servers_of(res.stdout, A1) == servers_of(res.stdout, A2) == {"a"}
    assert B1 not in res.stdout.split("\n\n")[0]
    assert "a  2025-02-10 09:00:00.000 +0000 [3000] SMTP connection from [203.0.113.45]:51522" in res.stdout
    assert "no message id  1 line" in res.stdout


def test_a_domain_finds_its_hosts_and_addresses_on_every_server(url: str) -> None:
    """`corp.example`: the recipients' domain and the mx-b.corp.example it was delivered to."""
    res = trace(url, "Corp.Example")
    assert res.returncode == 0, res.stderr
    for local_id, server in ((A1, "a"), (A2, "a"), (B1, "b"), (B2, "b")):
        assert servers_of(res.stdout, local_id) == {server}
    assert A3 not in res.stdout


def test_a_message_id_header_finds_both_copies(url: str) -> None:
    res = trace(url, "<order-2@shop.example>")
    assert res.returncode == 0, res.stderr
    assert servers_of(res.stdout, A2) == {"a"}
    assert servers_of(res.stdout, B2) == {"b"}
    assert A1 not in res.stdout


@pytest.mark.parametrize(
    "needle",
    [A1, B2, A3, "bob@corp.example", "corp.example", "203.0.113.45", "192.0.2.99", "order-2@shop.example"],
)
def test_the_fleet_trace_prints_every_line_exigrep_prints_on_each_servers_log(url: str, needle: str) -> None:
    """Debian's exigrep (as tests/unit/test_trace_exigrep.py fetches it) on each server's own log: every line
    it prints is in the fleet trace, under that server."""
    sys.path.insert(0, str(ROOT / "tools"))
    import exim4_base

    try:
        exigrep = exim4_base.script("exigrep")
    except exim4_base.FetchFailed as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"exigrep is needed in CI: {exc}")
        pytest.skip(f"no exigrep here: {exc}")
    res = trace(url, needle)
    ours = set(res.stdout.splitlines())
    found = 0
    for server, log in LOGS.items():
        theirs = subprocess.run(
            ["perl", str(exigrep), "-l", needle, str(log)], capture_output=True, text=True, check=True
        ).stdout.splitlines()
        missing = [
            line
            for line in theirs
            if line and not line.startswith("+++ ") and f"{server}  {line}" not in ours
        ]
        assert not missing, f"{needle} on {server}: {missing[:3]}"
        found += len(theirs)
    assert found, "exigrep found nothing: the needle proves nothing"


def test_neither_files_nor_url_is_one_line() -> None:
    """No files and no cluster configured: one line saying what is missing."""
    env = {"PATH": "/usr/bin:/bin"}
    res = subprocess.run(
        [sys.executable, "-m", "shipper", "trace", A1],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        cwd=ROOT,
    )
    assert res.returncode == 1
    assert res.stderr == (
        "exim-shipper: trace needs log FILEs, or --opensearch-url to trace across the fleet's index\n"
    )


def test_no_event_index_is_one_line(opensearch_url: str, tmp_path: Path) -> None:
    res = shipper("trace", A1, state=tmp_path, url=opensearch_url, prefix="ttrace-nothing-here")
    assert res.returncode == 1
    assert (
        res.stderr
        == "exim-shipper: no ttrace-nothing-here-events-* index on the cluster (wrong --index-prefix?)\n"
    )


def _event(server: str, local_id: str, n: int, line: str, **extra: Any) -> dict[str, Any]:
    """An event document with the fields the fleet trace reads, as the shipper would index it."""
    return {
        "@timestamp": f"2025-02-10T09:{n // 60:02d}:{n % 60:02d}.000Z",
        "host.name": server,
        "email.local_id": local_id,
        "event.original": f"2025-02-10 09:{n // 60:02d}:{n % 60:02d} {local_id} {line}",
        "log.file.path": "/var/log/exim_mainlog",
        "log.offset": n,
        **extra,
    }


def _nested(flat: dict[str, Any]) -> dict[str, Any]:
    """`{"a.b": 1}` as `{"a": {"b": 1}}`: the shape the shipper indexes and the trace reads back."""
    out: dict[str, Any] = {}
    for path, value in flat.items():
        *parents, last = path.split(".")
        node = out
        for name in parents:
            node = node.setdefault(name, {})
        node[last] = value
    return out


def _index(client: OpenSearch, prefix: str, docs: list[dict[str, Any]]) -> None:
    """Index the documents into one day's events index of the prefix, with the shipper's templates."""
    provision.setup(OpenSearchCluster(client), prefix, "30d")
    body = [part for doc in docs for part in ({"index": {}}, _nested(doc))]
    result = client.bulk(index=f"{prefix}-events-2025.02.10", body=body, refresh=True)
    assert not result["errors"]


def _msgid(chain: int, n: int) -> str:
    return f"1t{chain}{n:03d}-00000000000-{n:04d}"


def test_a_chain_longer_than_the_hops_followed_is_said_to_be_cut(opensearch_url: str, prefix: str) -> None:
    """Server i delivers to server i+1 (C="250 OK id=…"): a chain of MAX_ROUNDS messages is shown whole;
    one more message and the last round finds a message it will not follow, so the trace says it is cut."""
    client = OpenSearch([opensearch_url])
    docs = []
    for chain, length in ((0, MAX_ROUNDS), (1, MAX_ROUNDS + 1)):
        for n in range(length):
            me, server = _msgid(chain, n), f"mx{chain}-{n:02d}"
            docs.append(_event(server, me, 2 * n, "<= alice@shop.example"))
            if n + 1 < length:
                nxt = _msgid(chain, n + 1)
                docs.append(
                    _event(
                        server,
                        me,
                        2 * n + 1,
                        f'=> bob@corp.example C="250 OK id={nxt}"',
                        **{"exim.remote_id": nxt},
                    )
                )
    _index(client, prefix, docs)

    whole = fleet_trace(OpenSearchCluster(client), prefix, _msgid(0, 0), policy=ONE_TRY)
    assert [s.key[1] for s in whole.stories] == [_msgid(0, n) for n in range(MAX_ROUNDS)]
    assert not whole.truncated
    cut = fleet_trace(OpenSearchCluster(client), prefix, _msgid(1, 0), policy=ONE_TRY)
    assert [s.key[1] for s in cut.stories] == [_msgid(1, n) for n in range(MAX_ROUNDS)]
    assert cut.truncated


def test_exactly_the_message_cap_is_not_a_cut(opensearch_url: str, prefix: str) -> None:
    """MAX_MESSAGES messages matching an address are all shown without a note; one more is a cut."""
    client = OpenSearch([opensearch_url])
    docs = [
        _event("mx1", _msgid(who, n), n, f"<= {address}", **{"email.from.address": address})
        for who, address, count in (
            (0, "exact@shop.example", MAX_MESSAGES),
            (1, "more@shop.example", MAX_MESSAGES + 1),
        )
        for n in range(count)
    ]
    _index(client, prefix, docs)

    exact = fleet_trace(OpenSearchCluster(client), prefix, "exact@shop.example", policy=ONE_TRY)
    assert (len(exact.stories), exact.truncated) == (MAX_MESSAGES, False)
    more = fleet_trace(OpenSearchCluster(client), prefix, "more@shop.example", policy=ONE_TRY)
    assert (len(more.stories), more.truncated) == (MAX_MESSAGES, True)


def test_session_lines_are_capped_and_the_cut_said(opensearch_url: str, prefix: str) -> None:
    """Lines without an id for one IP: exactly the cap is shown whole; one more is a cut."""
    client = OpenSearch([opensearch_url])
    docs = [
        {
            "@timestamp": f"2025-02-10T{n // 3600:02d}:{n // 60 % 60:02d}:{n % 60:02d}.000Z",
            "host.name": "mx1",
            "event.original": f"H=[{ip}] rejected connection {n}",
            "source.ip": ip,
            "related.ip": [ip],
            "log.offset": n,
        }
        for ip, count in (("192.0.2.5", MAX_SESSION_LINES), ("192.0.2.6", MAX_SESSION_LINES + 1))
        for n in range(count)
    ]
    _index(client, prefix, docs)
    exact = fleet_trace(OpenSearchCluster(client), prefix, "192.0.2.5", policy=ONE_TRY)
    assert [(s.session, len(s.lines)) for s in exact.stories] == [(True, MAX_SESSION_LINES)]
    assert not exact.truncated
    assert exact.stories[0].lines[:2] == [
        "H=[192.0.2.5] rejected connection 0",
        "H=[192.0.2.5] rejected connection 1",
    ]
    more = fleet_trace(OpenSearchCluster(client), prefix, "192.0.2.6", policy=ONE_TRY)
    assert [(s.session, len(s.lines)) for s in more.stories] == [(True, MAX_SESSION_LINES)]
    assert more.truncated


def test_render_keeps_continuation_lines_under_their_entry() -> None:
    """Several servers: a server column as wide as the longest name; a multi-line entry stays one block."""
    stories = [
        Story(
            ("mx1", A1), lines=[f"2025-02-10 09:00:00 {A1} <= a@b.example", "2025-02-10 09:00:01 x\n more"]
        ),
        Story(
            ("relay-long", B1),
            lines=[f"2025-02-10 09:00:02 {B1} Completed"],
            links=[("came from", f"{A1} on mx1")],
        ),
    ]
    assert render_fleet(FleetTrace(stories)).splitlines() == [
        f"mx1         2025-02-10 09:00:00 {A1} <= a@b.example",
        "mx1         2025-02-10 09:00:01 x",
        "             more",
        "",
        f"relay-long  2025-02-10 09:00:02 {B1} Completed",
        f"  came from  {A1} on mx1",
        "",
    ]


def test_address_fields_are_keywords_in_the_events_mapping() -> None:
    """A case-blind term query only works on keyword fields: every address field the trace searches is one."""
    import json

    mapping: dict[str, object] = {}
    for name in ("ecs-base", "events"):
        template = json.loads((provision.TEMPLATES / "component" / f"{name}.json").read_text())
        mapping.update(template["template"]["mappings"]["properties"])

    def type_of(path: str) -> object:
        node: object = {"properties": mapping}
        for part in path.split("."):
            assert isinstance(node, dict)
            node = node["properties"][part]
        assert isinstance(node, dict)
        return node["type"]

    assert {f: type_of(f) for f in ADDRESS_FIELDS} == dict.fromkeys(ADDRESS_FIELDS, "keyword")
    assert type_of("exim.remote_id") == type_of("email.message_id") == type_of("exim.bounce_of") == "keyword"
