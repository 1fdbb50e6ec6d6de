"""A write block (what a flood-stage disk watermark sets) during backfill is waited out on a real node."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from opensearchpy import OpenSearch

from tests.integration.test_backfill import ROOT, command, count, generated_log, shipper
from tests.parsing import raw_entries


def _entries(path: Path) -> int:
    with path.open("rb") as fh:
        return sum(1 for _ in raw_entries(fh))


def test_index_write_block_is_waited_out_not_dead_lettered(
    opensearch_url: str, prefix: str, tmp_path: Path
) -> None:
    """Today's fault: 1,705 documents dead-lettered as HTTP 403, the checkpoint moved past them, exit 0."""
    whole, _ = generated_log(tmp_path / "whole.log", lines=4000, seed=5)
    lines = whole.read_bytes().splitlines(keepends=True)
    cut = next(n for n in range(1500, len(lines)) if lines[n][:2] == b"20")  # an entry boundary
    first, second = tmp_path / "mainlog.2", tmp_path / "mainlog.1"
    first.write_bytes(b"".join(lines[:cut]))
    second.write_bytes(b"".join(lines[cut:]))
    state = tmp_path / "state"
    env = {
        **os.environ,
        "EXIM_SHIPPER_BACKFILL_MAX_RETRIES": "200",
        "EXIM_SHIPPER_RETRY_INITIAL_WAIT": "0.05",
        "EXIM_SHIPPER_RETRY_MAX_WAIT": "0.3",
    }

    def backfill(path: Path) -> subprocess.Popen[str]:
        cmd = command("backfill", str(path), "--quiet", url=opensearch_url, prefix=prefix, state=state)
        return subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    setup = shipper("setup", state=state, url=opensearch_url, prefix=prefix)
    assert setup.returncode == 0, setup.stderr
    _, err = backfill(first).communicate(timeout=300)
    assert count(opensearch_url, f"{prefix}-events-*") == _entries(first), err

    client = OpenSearch([opensearch_url])
    blocked = {"index.blocks.write": True}
    client.indices.put_settings(index=f"{prefix}-*", body=blocked)
    try:
        proc = backfill(second)
        time.sleep(4)
        assert proc.poll() is None, proc.communicate()  # still waiting, not finished by dead-lettering
    finally:
        client.indices.put_settings(index=f"{prefix}-*", body={"index.blocks.write": None})
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert count(opensearch_url, f"{prefix}-events-*") == _entries(first) + _entries(second)
    assert not (state / "deadletter.ndjson").exists()
