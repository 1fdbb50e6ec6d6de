"""The repeated hour of a DST fall-back in a real OpenSearch: both passes stored, in order, none dropped."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from opensearchpy import OpenSearch

ROOT = Path(__file__).resolve().parents[2]

# Europe/Berlin, 2025-10-26: 02:00-03:00 happens twice. The third line is byte-identical to the first.
LOG = (
    b"2025-10-26 01:59:58 1uDxyz-000001-AB Completed\n"
    b"2025-10-26 02:30:00 1uDxyz-000002-AB Completed\n"
    b"2025-10-26 02:59:59 1uDxyz-000003-AB Completed\n"
    b"2025-10-26 02:30:00 1uDxyz-000002-AB Completed\n"
    b"2025-10-26 03:00:00 1uDxyz-000004-AB Completed\n"
)


@pytest.mark.usefixtures("set_up")
def test_backfill_of_the_fall_back_hour_keeps_both_passes(
    tmp_path: Path, opensearch_url: str, prefix: str
) -> None:
    log = tmp_path / "exim_mainlog.1"
    log.write_bytes(LOG)
    cmd = [
        sys.executable,
        "-m",
        "shipper",
        "backfill",
        str(log),
        "--quiet",
        "--opensearch-url",
        opensearch_url,
    ]
    cmd += ["--index-prefix", prefix, "--state-dir", str(tmp_path / "state")]
    cmd += ["--timezone", "Europe/Berlin", "--server-name", "mx1"]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    client = OpenSearch([opensearch_url])
    client.indices.refresh(index=f"{prefix}-events-*")
    res: dict[str, Any] = client.search(
        index=f"{prefix}-events-*", body={"size": 100, "sort": [{"@timestamp": "asc"}, {"log.offset": "asc"}]}
    )
    hits = [(h["_source"]["@timestamp"], h["_source"]["log"]["offset"]) for h in res["hits"]["hits"]]
    offsets = [0, 47, 94, 141, 188]
    assert hits == [
        ("2025-10-25T23:59:58.000Z", offsets[0]),
        ("2025-10-26T00:30:00.000Z", offsets[1]),
        ("2025-10-26T00:59:59.000Z", offsets[2]),
        ("2025-10-26T01:30:00.000Z", offsets[3]),
        ("2025-10-26T02:00:00.000Z", offsets[4]),
    ], "every entry stored once, the second pass after the first, in file order"
