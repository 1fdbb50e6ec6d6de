"""Free-text search of the raw line on a real OpenSearch: what Discover sends when no field is named."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from opensearchpy import OpenSearch

from tests.integration.prefixes import set_up

ROOT = Path(__file__).resolve().parents[2]

# Two messages whose ids share their last part, a remote refusal and Exim's own `Completed`, whose one
# word no parsed field holds (event.action is the keyword `completed`, which a search for `Completed` misses).
LOG = b"""\
2024-03-11 10:15:02 1rjc3O-0004Zx-2V <= alice@shop.example H=mail.shop.example [192.0.2.10]:51234 P=esmtp S=1234 id=5f1c2e@shop.example T="Invoice"
2024-03-11 10:15:03 1rjc3P-0004Zy-2V <= carol@shop.example H=mail.shop.example [192.0.2.10]:51240 P=esmtp S=999 id=77aa@shop.example
2024-03-11 10:15:05 1rjc3O-0004Zx-2V ** bob@remote.example R=dnslookup T=remote_smtp H=mx.remote.example [192.0.2.6]: SMTP error from remote mail server after end of data: 550 5.7.1 Message rejected by quuxfilter policy
2024-03-11 10:15:05 1rjc3O-0004Zx-2V Completed
"""


def backfill(tmp_path: Path, url: str, prefix: str) -> OpenSearch:
    log = tmp_path / "exim_mainlog"
    log.write_bytes(LOG)
    set_up(OpenSearch([url]), prefix)  # what `exim-shipper setup` does centrally first
    cmd = [sys.executable, "-m", "shipper", "backfill", str(log), "--opensearch-url", url]
    cmd += ["--index-prefix", prefix, "--state-dir", str(tmp_path / "state")]
    cmd += ["--timezone", "UTC", "--server-name", "mx1", "--quiet"]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    client = OpenSearch([url])
    client.indices.refresh(index=f"{prefix}-events-*")
    return client


def found_lines(client: OpenSearch, prefix: str, query: dict[str, Any]) -> list[str]:
    """The raw lines of the events the query finds, in log order."""
    body = {"size": 100, "query": query, "sort": [{"log.offset": "asc"}]}
    res = client.search(index=f"{prefix}-events-*", body=body)
    return [hit["_source"]["event"]["original"] for hit in res["hits"]["hits"]]


def grep(needle: str) -> list[str]:
    return [line for line in LOG.decode().splitlines() if needle.lower() in line.lower()]


def discover(text: str) -> dict[str, Any]:
    """Discover's query bar in Lucene mode: a `query_string` naming no field."""
    return {"query_string": {"query": text, "analyze_wildcard": True}}


def test_free_text_finds_a_word_only_the_raw_line_holds(
    tmp_path: Path, opensearch_url: str, prefix: str
) -> None:
    """`Completed` is in no parsed field: every other searchable field misses it, the query bar finds it."""
    client = backfill(tmp_path, opensearch_url, prefix)
    caps = client.field_caps(index=f"{prefix}-events-*", fields="*")["fields"]
    others = sorted(
        name
        for name, kinds in caps.items()
        if name != "message" and not name.startswith("_") and any(c["searchable"] for c in kinds.values())
    )
    assert {"event.action", "exim.error.text", "email.local_id"} <= set(others)
    fielded = {"query_string": {"query": "Completed", "fields": others, "lenient": True}}
    assert found_lines(client, prefix, fielded) == []
    assert (
        found_lines(client, prefix, discover("Completed"))
        == grep("Completed")
        == [LOG.decode().splitlines()[3]]
    )


def test_free_text_searches_like_grep(tmp_path: Path, opensearch_url: str, prefix: str) -> None:
    """Words, prefixes, phrases, IPs, addresses and a quoted message id find exactly the lines grep finds;
    no line is stored twice in _source."""
    client = backfill(tmp_path, opensearch_url, prefix)
    for text, needle in [
        ("quuxfilter", "quuxfilter"),
        ("quux*", "quuxfilter"),
        ('"end of data"', "end of data"),
        ("192.0.2.6", "192.0.2.6"),
        ('"alice@shop.example"', "alice@shop.example"),
        ('"1rjc3O-0004Zx-2V"', "1rjc3O-0004Zx-2V"),
    ]:
        assert found_lines(client, prefix, discover(text)) == grep(needle), text
    assert len(grep("1rjc3O-0004Zx-2V")) == 3
    # Unquoted, a term with punctuation is its parts ORed (docs/fields.md says to quote it): the other
    # message shares `2V` and `shop.example`.
    assert found_lines(client, prefix, discover("1rjc3O-0004Zx-2V")) == grep("-2V")
    assert found_lines(client, prefix, discover("alice@shop.example")) == grep("shop.example")
    # A phrase keeps word order: the words of "end of data" reversed are in no line.
    assert found_lines(client, prefix, discover('"data of end"')) == []
    res = client.search(index=f"{prefix}-events-*", body={"size": 100, "query": {"match_all": {}}})
    for hit in res["hits"]["hits"]:
        assert "message" not in hit["_source"]
    # Summaries carry no raw line and keep the cluster's default (every field) for free text.
    settings = client.indices.get_settings(index=f"{prefix}-*")
    for index, body in settings.items():
        default = body["settings"]["index"].get("query", {}).get("default_field")
        assert default == (["message"] if "-events-" in index else None), index
