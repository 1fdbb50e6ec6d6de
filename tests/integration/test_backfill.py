"""Backfill into a real OpenSearch: exact counts, idempotent re-runs, rotated copies, dead letters, resume."""

from __future__ import annotations

import gzip
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from opensearchpy import OpenSearch, TransportError

from shipper.files.native import correlator, native_for
from shipper.messages import accumulate, summary
from shipper.opensearch.summaries import native_items, partial_of
from tests.parsing import raw_entries

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "shipper" / "samples" / "exim_mainlog"


def command(*args: str, url: str, prefix: str, state: Path) -> list[str]:
    """`python -m shipper ARGS` against `url` with a test prefix (+ state dir and source flags for shipping)."""
    cmd = [sys.executable, "-m", "shipper", *args, "--opensearch-url", url, "--index-prefix", prefix]
    if args[0] in ("backfill", "run", "check", "health", "deadletter"):
        cmd += ["--state-dir", str(state)]
    if args[0] in ("backfill", "run", "check"):
        cmd += ["--timezone", "UTC", "--server-name", "mx1"]
    return cmd


def shipper(*args: str, state: Path, url: str, prefix: str) -> subprocess.CompletedProcess[str]:
    cmd = command(*args, url=url, prefix=prefix, state=state)
    return subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=ROOT)


def refuse_events_of(client: OpenSearch, prefix: str, day: str) -> None:
    """A higher-priority template for one day's index maps `event` as a keyword: an event object is refused."""
    client.indices.put_index_template(
        name=f"{prefix}-conflict-{day}",
        body={
            "index_patterns": [f"{prefix}-events-{day}"],
            "priority": 500,
            "template": {"mappings": {"properties": {"event": {"type": "keyword"}}}},
        },
    )


def table_row(stderr: str, label: str) -> list[str]:
    """The closing table's row for the file shown as `label`: its cells, figures without separators."""
    row = next(line for line in stderr.splitlines() if line.startswith(label + " "))
    assert "\x1b" not in stderr, "off a terminal the output is plain text"
    return [cell.replace(",", "") for cell in row[len(label) :].split()]


def count(url: str, index: str) -> int:
    """The index's count, once its shards answer: an index the shipper has just created may give 503
    ("all shards failed") for a moment on a loaded machine."""
    client = OpenSearch([url])
    deadline = time.monotonic() + 30.0
    while True:
        try:
            client.indices.refresh(index=index, ignore_unavailable=True)
            res: dict[str, Any] = client.count(index=index, ignore_unavailable=True)
            return int(res["count"])
        except TransportError as exc:
            if exc.status_code != 503 or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def summaries(url: str, prefix: str) -> dict[str, dict[str, Any]]:
    client = OpenSearch([url])
    client.indices.refresh(index=f"{prefix}-messages-*", ignore_unavailable=True)
    res = client.search(index=f"{prefix}-messages-*", body={"size": 10000, "query": {"match_all": {}}})
    return {h["_source"]["email"]["local_id"]: h["_source"] for h in res["hits"]["hits"]}


def generated_log(path: Path, *, lines: int, seed: int) -> tuple[Path, int]:
    """A realistic log from the bench generator, and its number of logical entries."""
    cmd = [
        sys.executable,
        str(ROOT / "bench" / "generate_mainlog.py"),
        str(path),
        "--lines",
        str(lines),
        "--seed",
        str(seed),
    ]
    subprocess.run(cmd, check=True, capture_output=True)
    with path.open("rb") as fh:
        return path, sum(1 for _ in raw_entries(fh))


def local_summaries(path: Path) -> dict[str, dict[str, Any]]:
    """What the core's correlation makes of the file in one pass (the whole file read, then every message
    drained: no batch, window or cap splits one), to compare with what OpenSearch holds."""
    reader = native_for("mx1", "UTC", "exim", lambda _path: "exim.main", correlate=True)(str(path), 0, 0)
    one_pass = correlator(1 << 62, "exim")
    reader.feed(path.read_bytes())
    reader.finish()
    reader.reader.correlate(one_pass, 2**64 - 1)
    out: dict[str, Any] = {}
    for item in native_items(*one_pass.drain()):
        accumulate(out, partial_of(item.body))
    return {k: summary(v) for k, v in out.items()}


def test_setup_is_idempotent(opensearch_url: str, prefix: str, tmp_path: Path) -> None:
    """setup creates the templates once, then reports them unchanged."""
    first = shipper("setup", state=tmp_path, url=opensearch_url, prefix=prefix)
    assert first.returncode == 0, first.stderr
    assert f"index template {prefix}-events: created" in first.stdout
    second = shipper("setup", state=tmp_path, url=opensearch_url, prefix=prefix)
    assert "created" not in second.stdout
    assert f"index template {prefix}-messages: unchanged" in second.stdout
    assert "ISM policy" in second.stdout


@pytest.mark.usefixtures("set_up")
def test_backfill_exact_and_rerun_adds_nothing(opensearch_url: str, prefix: str, tmp_path: Path) -> None:
    """One event per entry, one summary per message; a second run adds 0."""
    res = shipper("backfill", str(SAMPLE), state=tmp_path, url=opensearch_url, prefix=prefix)
    assert res.returncode == 0, res.stderr
    assert count(opensearch_url, f"{prefix}-events-*") == 24
    stored = summaries(opensearch_url, prefix)
    assert set(stored) == set(local_summaries(SAMPLE))
    assert stored["1tgXKW-00000000aBc-0Bb2"]["exim"]["state"] == "bounced"
    again = shipper("backfill", str(SAMPLE), state=tmp_path, url=opensearch_url, prefix=prefix)
    assert again.returncode == 0, again.stderr
    assert count(opensearch_url, f"{prefix}-events-*") == 24
    assert len(summaries(opensearch_url, prefix)) == 4


@pytest.mark.usefixtures("set_up")
def test_rotated_compressed_copy_adds_nothing(opensearch_url: str, prefix: str, tmp_path: Path) -> None:
    """The live file, then its rotated .gz (new inode, new name): content ids make every event a 409."""
    shipper("backfill", str(SAMPLE), state=tmp_path, url=opensearch_url, prefix=prefix)
    rotated = tmp_path / "exim_mainlog-20250201.gz"
    rotated.write_bytes(gzip.compress(SAMPLE.read_bytes()))
    res = shipper("backfill", str(rotated), state=tmp_path, url=opensearch_url, prefix=prefix)
    assert res.returncode == 0, res.stderr
    row = table_row(res.stderr, "exim_mainlog-20250201.gz")
    assert row == ["24", "0", "24", "0", "0"]  # entries, indexed, already there, dead, summaries written
    assert count(opensearch_url, f"{prefix}-events-*") == 24


@pytest.mark.usefixtures("set_up")
def test_summaries_converge_whatever_the_split_and_order(
    opensearch_url: str, prefix: str, tmp_path: Path
) -> None:
    """The sample split in two files shipped second-half first gives the same summaries as one pass."""
    lines = SAMPLE.read_bytes().splitlines(keepends=True)
    half = len(lines) // 2
    while lines[half].startswith(b" "):  # do not split a multi-line entry
        half += 1
    (tmp_path / "b.log").write_bytes(b"".join(lines[half:]))
    (tmp_path / "a.log").write_bytes(b"".join(lines[:half]))
    os.utime(tmp_path / "a.log", (time.time() + 100, time.time() + 100))  # newer: shipped second
    res = shipper(
        "backfill", str(tmp_path / "*.log"), state=tmp_path / "state", url=opensearch_url, prefix=prefix
    )
    assert res.returncode == 0, res.stderr
    stored = summaries(opensearch_url, prefix)
    expected = local_summaries(SAMPLE)
    assert set(stored) == set(expected)
    for local_id, want in expected.items():
        got = dict(stored[local_id])
        got["exim"] = {k: v for k, v in got["exim"].items() if k != "merge_state"}
        assert got == orjson.loads(orjson.dumps(want)), local_id


def test_rejected_document_goes_to_dead_letter(opensearch_url: str, prefix: str, tmp_path: Path) -> None:
    """A document the cluster refuses for good is written to the dead-letter file with the reason."""
    client = OpenSearch([opensearch_url])
    shipper("setup", state=tmp_path, url=opensearch_url, prefix=prefix)
    refuse_events_of(client, prefix, "2030.01.01")
    log = tmp_path / "mainlog"
    log.write_bytes(b"2030-01-01 10:00:00 1tXaaa-00000001abc-0ABC Completed\n2030-01-02 10:00:00 x\n")
    res = shipper("backfill", str(log), state=tmp_path, url=opensearch_url, prefix=prefix)
    assert res.returncode == 0, res.stderr
    dead = [orjson.loads(x) for x in (tmp_path / "deadletter.ndjson").read_bytes().splitlines()]
    assert len(dead) == 1
    assert "mapper_parsing_exception" in dead[0]["reason"] or "illegal_argument" in dead[0]["reason"]
    assert dead[0]["document"]["event"]["original"].endswith("Completed")
    assert count(opensearch_url, f"{prefix}-events-2030.01.02") == 1
    client.indices.delete_index_template(name=f"{prefix}-conflict-2030.01.01")


@pytest.mark.usefixtures("set_up")
def test_kill_9_at_random_moments_then_exact_counts(opensearch_url: str, prefix: str, tmp_path: Path) -> None:
    """Backfill killed with SIGKILL five times at random moments, then run to the end: exact counts."""
    # Enough work (30,000 lines) that every one of the five kills lands in the middle of a run.
    log, entries = generated_log(tmp_path / "mainlog", lines=30000, seed=5)
    expected_messages = len(local_summaries(log))
    rnd = random.Random(9)
    cmd = command("backfill", str(log), url=opensearch_url, prefix=prefix, state=tmp_path / "state")
    env = {**os.environ, "EXIM_SHIPPER_BATCH_MAX_DOCS": "500"}
    kills = 0
    for _ in range(5):
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rnd.uniform(0.7, 2.0))
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait()
    final = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert final.returncode == 0, final.stderr
    assert kills == 5  # every kill really interrupted a run
    assert count(opensearch_url, f"{prefix}-events-*") == entries
    assert count(opensearch_url, f"{prefix}-messages-*") == expected_messages


@pytest.mark.usefixtures("set_up")
def test_resume_counts_identical_lines_of_the_checkpoints_second(
    opensearch_url: str, prefix: str, tmp_path: Path
) -> None:
    """A plain file resumed at its checkpoint: an entry byte-identical to one before the checkpoint in
    the same second still gets its own id (it is not taken for its twin and lost as "already there")."""
    twin = b"2025-02-01 11:00:00 [4242] SMTP connection from [192.0.2.7] lost\n"
    arrival = (
        b"2025-02-01 11:00:00 [4243] 1tXtwn-00000000001-0ABC <= t@x.example U=u P=local S=5 for b@y.example\n"
    )
    log = tmp_path / "exim_mainlog"
    log.write_bytes(twin + arrival)
    assert (
        shipper("backfill", str(log), state=tmp_path / "state", url=opensearch_url, prefix=prefix).returncode
        == 0
    )
    with log.open("ab") as fh:
        fh.write(twin)
    res = shipper("backfill", str(log), state=tmp_path / "state", url=opensearch_url, prefix=prefix)
    assert res.returncode == 0, res.stderr
    row = table_row(res.stderr, "exim_mainlog")
    assert row[:4] == ["1", "1", "0", "0"], res.stderr  # one new entry, indexed
    assert count(opensearch_url, f"{prefix}-events-*") == 3


@pytest.mark.usefixtures("set_up")
def test_long_lived_messages_written_as_they_stand_still_converge(
    opensearch_url: str, prefix: str, tmp_path: Path
) -> None:
    """With a summary window of a few kilobytes, messages spanning it are written in pieces that merge
    in the index; the checkpoint lags at most that window and ends at the file's end."""
    log, entries = generated_log(tmp_path / "exim_mainlog", lines=3000, seed=7)
    env = {**os.environ, "EXIM_SHIPPER_SUMMARY_WINDOW": "4000", "EXIM_SHIPPER_BATCH_MAX_DOCS": "50"}
    cmd = command("backfill", str(log), url=opensearch_url, prefix=prefix, state=tmp_path / "state")
    res = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=ROOT, env=env)
    assert res.returncode == 0, res.stderr
    row = table_row(res.stderr, "exim_mainlog")
    written, stored = int(row[4]), summaries(opensearch_url, prefix)
    expected = local_summaries(log)
    # About one write per message with the default window; the tiny one must have split many.
    assert written > 2 * len(expected), "the window did not split messages: this would prove nothing"
    assert set(stored) == set(expected)
    for local_id, want in expected.items():
        got = dict(stored[local_id])
        got["exim"] = {k: v for k, v in got["exim"].items() if k != "merge_state"}
        assert got == orjson.loads(orjson.dumps(want)), local_id
    registry = orjson.loads((tmp_path / "state" / "registry.json").read_bytes())
    assert [f["offset"] for f in registry["files"].values()] == [log.stat().st_size]
    assert count(opensearch_url, f"{prefix}-events-*") == entries


@pytest.mark.usefixtures("set_up")
def test_rerun_over_finished_files_says_already_shipped(
    opensearch_url: str, prefix: str, tmp_path: Path
) -> None:
    """A plain file whose checkpoint is its end and an archive marked complete at its size are not read
    again: the re-run says so for each, the table marks them skipped, and nothing is added."""
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "exim_mainlog").write_bytes(SAMPLE.read_bytes())
    archive = logs / "exim_mainlog-20250101.gz"
    archive.write_bytes(gzip.compress(SAMPLE.read_bytes().replace(b"2025-", b"2024-")))
    os.utime(archive, (time.time() - 100, time.time() - 100))  # older: shipped first
    first = shipper("backfill", str(logs / "*"), state=tmp_path / "state", url=opensearch_url, prefix=prefix)
    assert first.returncode == 0, first.stderr
    assert "already shipped" not in first.stderr
    assert table_row(first.stderr, "exim_mainlog-20250101.gz")[:2] == ["24", "24"]
    assert table_row(first.stderr, "total (2 files)")[:2] == ["48", "48"]
    assert count(opensearch_url, f"{prefix}-events-*") == 48

    again = shipper("backfill", str(logs / "*"), state=tmp_path / "state", url=opensearch_url, prefix=prefix)
    assert again.returncode == 0, again.stderr
    for n, name in enumerate(["exim_mainlog-20250101.gz", "exim_mainlog"], 1):
        notice = f"exim-shipper: [{n}/2] {name}: already shipped (checkpoint at end of file), skipped"
        assert notice in again.stderr.splitlines(), again.stderr
        assert table_row(again.stderr, name) == ["skipped", "-", "-", "-", "-"]
    assert "skipped: already shipped (checkpoint at end of file)" in again.stderr
    assert count(opensearch_url, f"{prefix}-events-*") == 48

    quiet = shipper(
        "backfill", str(archive), "--quiet", state=tmp_path / "state", url=opensearch_url, prefix=prefix
    )
    assert quiet.returncode == 0, quiet.stderr
    assert "exim-shipper:" not in quiet.stderr, "--quiet: no progress, not even the notice"
    assert table_row(quiet.stderr, archive.name)[0] == "skipped"


@pytest.mark.usefixtures("set_up")
def test_a_finished_archive_that_changed_size_is_read_again(
    opensearch_url: str, prefix: str, tmp_path: Path
) -> None:
    """Complete at one size is not complete at another: a gzip member appended to a shipped archive (same
    device, inode and head) is read from the checkpoint on, and its new entry indexed."""
    archive = tmp_path / "exim_mainlog-20250101.gz"
    archive.write_bytes(gzip.compress(SAMPLE.read_bytes()))
    assert (
        shipper(
            "backfill", str(archive), state=tmp_path / "state", url=opensearch_url, prefix=prefix
        ).returncode
        == 0
    )
    with archive.open("ab") as fh:
        fh.write(gzip.compress(b"2025-02-01 12:00:00 [4244] SMTP connection from [192.0.2.9] lost\n"))
    res = shipper("backfill", str(archive), state=tmp_path / "state", url=opensearch_url, prefix=prefix)
    assert res.returncode == 0, res.stderr
    assert "already shipped" not in res.stderr
    assert table_row(res.stderr, archive.name)[:3] == ["1", "1", "0"]  # the new entry, indexed
    assert count(opensearch_url, f"{prefix}-events-*") == 25
    again = shipper("backfill", str(archive), state=tmp_path / "state", url=opensearch_url, prefix=prefix)
    assert f"{archive.name}: already shipped (checkpoint at end of file), skipped" in again.stderr


@pytest.mark.usefixtures("set_up")
def test_on_a_terminal_bars_then_a_table_within_80_columns(
    opensearch_url: str, prefix: str, tmp_path: Path
) -> None:
    """stderr a pseudo-terminal: rich bars (file and total, with rates), each finished file folded into
    a line with its final count, then the closing table; nothing wider than 80 columns."""
    import pty

    logs = tmp_path / "logs"
    logs.mkdir()
    _, entries = generated_log(logs / "mainlog.1", lines=3000, seed=11)
    (logs / "exim_mainlog").write_bytes(SAMPLE.read_bytes())
    cmd = command("backfill", str(logs / "*"), url=opensearch_url, prefix=prefix, state=tmp_path / "state")
    leader, follower = pty.openpty()
    env = {
        **os.environ,
        "COLUMNS": "80",
        "LINES": "24",
        "TERM": "xterm-256color",
        "EXIM_SHIPPER_BATCH_MAX_DOCS": "500",
    }
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=follower
    )
    os.close(follower)
    raw = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        raw += chunk
    os.close(leader)
    assert proc.wait(timeout=120) == 0, raw.decode(errors="replace")
    text = raw.decode()
    assert "\x1b[" in text, "drawn with control codes on a terminal"
    plain = re.sub(r"\x1b\[[0-9;]*m", "", text)
    shown = [
        line
        for line in re.split(r"\r\n|\r|\n", re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "\n", plain))
        if line.strip()
    ]
    assert all(len(line) <= 80 for line in shown), max(shown, key=len)
    bars = [line for line in shown if "━" in line]
    assert any(line.startswith("total: file ") and "lines/s" in line and "MB/s" in line for line in bars)
    assert any(line.startswith("mainlog.1 ") and "ETA" in line for line in bars)
    assert f"mainlog.1: {entries:,} lines," in plain, "the folded line has the file's final count"
    assert re.search(r"^total \(2 files\) +" + f"{entries + 24:,}", plain, re.M), plain[-2000:]
