"""Backfill a syslog mail.log into a real OpenSearch: the same events as Exim's own log, hosts from syslog."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from opensearchpy import OpenSearch

from tests.integration.test_backfill import SAMPLE, count, local_summaries, summaries
from tests.parsing import raw_entries

ROOT = Path(__file__).resolve().parents[2]
STAMP = re.compile(rb"(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d\.\d{3}) ([+-]\d\d)(\d\d) (?:\[(\d+)\] )?")
REJECT = b"rejected RCPT <alice@shop.example>"


def mail_log(path: Path) -> int:
    """The sample as rsyslog writes `log_file_path = syslog` to mail.log (high-precision form): every
    other entry without Exim's own timestamp (syslog_timestamp = false), multi-line entries in `[n\\m]`
    pieces, postfix lines between them, and the RCPT rejection twice (syslog_duplication). Returns the
    number of other programs' lines."""
    out: list[bytes] = []
    with SAMPLE.open("rb") as fh:
        for n, entry in enumerate(raw_entries(fh)):
            m = STAMP.match(entry.data)
            assert m is not None
            date, hms, tzh, tzm, pid = m.groups()
            header = b"%sT%s%s:%s mx-sys exim[%s]: " % (date, hms, tzh, tzm, pid or b"1")
            text = entry.data if n % 2 == 0 else entry.data[m.end() :]
            lines = text.split(b"\n")
            if len(lines) == 1:
                out.append(header + text)
            else:
                for i, piece in enumerate(lines, 1):
                    sep = b"\\" if i < len(lines) else b"/"
                    out.append(header + b"[%d%s%d] " % (i, sep, len(lines)) + piece)
            if REJECT in text:
                out.append(out[-1])
            out.append(b"%sT%s%s:%s mx-sys postfix/qmgr[77]: 4BCDEF: removed" % (date, hms, tzh, tzm))
    path.write_bytes(b"\n".join(out) + b"\n")
    return sum(1 for line in out if b"postfix" in line)


@pytest.mark.usefixtures("set_up")
def test_backfill_of_a_syslog_mail_log(opensearch_url: str, prefix: str, tmp_path: Path) -> None:
    """Every Exim entry once (the reject copy as `exim.reject`), none of postfix's, host.name from syslog,
    the same times and message summaries as Exim's own log; a second run adds nothing."""
    log = tmp_path / "mail.log"
    foreign = mail_log(log)
    cmd = [sys.executable, "-m", "shipper", "backfill", str(log), "--opensearch-url", opensearch_url]
    cmd += ["--index-prefix", prefix, "--state-dir", str(tmp_path / "state"), "--timezone", "UTC"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXIM_SHIPPER_")}
    res = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=ROOT, env=env)
    assert res.returncode == 0, res.stderr
    assert f"syslog lines of other programs skipped: {foreign}" in res.stderr
    assert count(opensearch_url, f"{prefix}-events-*") == 25  # the sample's 24 entries + the reject copy

    client = OpenSearch([opensearch_url])
    body: dict[str, Any] = {
        "size": 100,
        "sort": [{"@timestamp": "asc"}, {"log.offset": "asc"}],
        "aggs": {
            "hosts": {"terms": {"field": "host.name"}},
            "datasets": {"terms": {"field": "event.dataset"}},
            "actions": {"terms": {"field": "event.action", "size": 50}},
        },
    }
    found = client.search(index=f"{prefix}-events-*", body=body)
    aggs = found["aggregations"]
    assert [(b["key"], b["doc_count"]) for b in aggs["hosts"]["buckets"]] == [("mx-sys", 25)]
    assert {b["key"]: b["doc_count"] for b in aggs["datasets"]["buckets"]} == {
        "exim.main": 24,
        "exim.reject": 1,
    }
    hits = [h["_source"] for h in found["hits"]["hits"]]
    assert all(h["log"]["syslog"]["hostname"] == "mx-sys" for h in hits)

    # The same times and actions as Exim's own log gives, milliseconds and zone included.
    native = subprocess.run(
        [sys.executable, "-m", "shipper", "parse", str(SAMPLE), "--timezone", "UTC"],
        capture_output=True,
        check=True,
        cwd=ROOT,
        env=env,
    )
    native_docs = [orjson.loads(line) for line in native.stdout.splitlines()]
    main = [h for h in hits if h["event"]["dataset"] == "exim.main"]
    assert sorted(h["@timestamp"] for h in main) == sorted(d["@timestamp"] for d in native_docs)
    assert Counter(h["event"]["action"] for h in main) == Counter(d["event"]["action"] for d in native_docs)
    suggested = next(h for h in hits if "Suggested action" in h["event"]["original"])
    assert suggested["event"]["original"].endswith(
        "\n Suggested action: either install a certificate or change tls_advertise_hosts option"
    )

    stored = summaries(opensearch_url, prefix)
    expected = local_summaries(SAMPLE)
    assert set(stored) == set(expected)
    assert {k: v["exim"]["state"] for k, v in stored.items()} == {
        k: v["exim"]["state"] for k, v in expected.items()
    }
    assert {v["host"]["name"] for v in stored.values()} == {"mx-sys"}

    again = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=ROOT, env=env)
    assert again.returncode == 0, again.stderr
    assert count(opensearch_url, f"{prefix}-events-*") == 25
