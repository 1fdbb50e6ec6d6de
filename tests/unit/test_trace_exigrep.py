"""`exim-shipper trace FILE` finds every line Debian's exigrep finds, for every kind of needle.

exigrep comes from Debian's exim4-base package, fetched with apt-get into the cache by tools/exim4_base.py
(as tools/eximstats_fixture.sh does for eximstats). Without apt-get or a network the tests skip, except
under CI=true, where a missing exigrep is a failure: the comparison is the proof.

The logs: the fixtures (23-char ids, which exigrep 4.96 cannot read as ids: it then prints the matching
lines only), the eximstats fixture's log (16-char ids, so exigrep gathers whole messages, and every kind
of reject) and a freshly generated one. For each, needles of every kind are taken from the log itself.
"""

from __future__ import annotations

import gzip
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

import exim4_base  # noqa: E402 - tools/ is a folder of scripts

FIXTURES = ROOT / "tests" / "fixtures"
ARRIVAL = re.compile(
    r"^\S+ \S+(?: [+-]\d{4})?(?: \[\d+\])? (?P<id>\S+) <= (?P<sender>\S+) .*?"
    r"\[(?P<ip>[0-9a-f.:]+)\].*? for (?P<rcpt>\S+)",
    re.MULTILINE,
)
MESSAGE_ID = re.compile(r" id=(\S+@\S+)")
# Needles of the refusals and connections of extra.log, which have no message id, and a domain on many.
SESSION = [("session ip", "192.0.2.99"), ("session address", "info@fleet.test"), ("domain", "fleet.test")]


@pytest.fixture(scope="module")
def exigrep() -> Path:
    try:
        return exim4_base.script("exigrep")
    except exim4_base.FetchFailed as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"exigrep is needed in CI: {exc}")
        pytest.skip(f"no exigrep here: {exc}")


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("exigrep")
    out = {p.name: p for p in sorted(FIXTURES.glob("*.log"))}
    plain = tmp / "eximstats_mainlog"  # exigrep decompresses with zcat; the plain copy needs none
    plain.write_bytes(gzip.decompress((FIXTURES / "eximstats" / "mainlog.gz").read_bytes()))
    out["eximstats mainlog"] = plain
    generated = tmp / "generated_mainlog"
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "generate_mainlog.py"),
            str(generated),
            "--lines",
            "4000",
            "--seed",
            "5",
        ],
        check=True,
    )
    out["generated"] = generated
    return out


def needles(text: str) -> Iterator[tuple[str, str]]:
    """(kind, needle) of each kind, from the first arrivals of the log that have one."""
    arrivals = list(ARRIVAL.finditer(text))
    if not arrivals:
        return
    middle = arrivals[len(arrivals) // 2]
    yield "id", middle["id"]
    yield "id", arrivals[0]["id"]
    address = next((m["rcpt"] for m in arrivals if "@" in m["rcpt"]), None)
    if address:
        yield "address", address.upper()  # exigrep ignores case, and so must we
        yield "domain", address.rsplit("@", 1)[1]
    yield "ip", middle["ip"]
    sender = next((m["sender"] for m in arrivals if "@" in m["sender"]), None)
    if sender:
        yield "sender", sender
    message_id = MESSAGE_ID.search(text)
    if message_id:
        yield "message-id", message_id[1]


def run_exigrep(exe: Path, needle: str, log: Path) -> list[str]:
    res = subprocess.run(
        ["perl", str(exe), "-l", needle, str(log)], capture_output=True, text=True, check=True
    )
    # Not log lines: exigrep's blank separators and its note on messages still open at the end.
    return [line for line in res.stdout.splitlines() if line and not line.startswith("+++ ")]


def run_trace(needle: str, log: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shipper", "trace", needle, str(log), "--timezone", "UTC"],
        capture_output=True,
        text=True,
        check=False,
    )


def cases() -> list[str]:
    return [p.name for p in sorted(FIXTURES.glob("*.log"))] + ["eximstats mainlog", "generated"]


@pytest.mark.parametrize("log_name", cases())
def test_trace_prints_every_line_exigrep_prints(exigrep: Path, logs: dict[str, Path], log_name: str) -> None:
    """For an id, an address (in another case), a domain, an IP, a sender and a Message-ID of the log
    (and on the eximstats log, needles of refusals without an id), every line exigrep prints is in the
    trace's output."""
    log = logs[log_name]
    kinds = list(needles(log.read_text(errors="replace")))
    assert {k for k, _ in kinds} >= {"id", "address", "domain", "ip"}, kinds
    if log_name == "eximstats mainlog":
        kinds += SESSION
    for kind, needle in kinds:
        theirs = run_exigrep(exigrep, needle, log)
        ours = run_trace(needle, log)
        if not theirs:
            continue
        assert ours.returncode == 0, (kind, needle, ours.stderr)
        missing = [line for line in theirs if line not in set(ours.stdout.splitlines())]
        assert not missing, (
            f"{kind} {needle!r}: exigrep printed {len(missing)} lines the trace did not: {missing[:3]}"
        )


def test_session_refusals_without_an_id(exigrep: Path, logs: dict[str, Path], tmp_path: Path) -> None:
    """The issue's case: `trace abuse@fleet.test exim_rejectlog exim_mainlog` showed nothing while exigrep
    shows the `rejected RCPT` line; now that refusal is its own group, after the messages' stories."""
    mainlog = logs["eximstats mainlog"]
    rejectlog = tmp_path / "exim_rejectlog"
    refusal = next(
        line for line in mainlog.read_text().splitlines() if "rejected RCPT <abuse@fleet.test>" in line
    )
    rejectlog.write_text(f"{refusal}\n")
    theirs = run_exigrep(exigrep, "abuse@fleet.test", mainlog)
    assert refusal in theirs
    res = subprocess.run(
        [sys.executable, "-m", "shipper", "trace", "abuse@fleet.test", str(rejectlog), str(mainlog)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines.count(refusal) == 2  # once from each log, as exigrep prints it from each
    assert lines[2].startswith("  no message id  2 lines of SMTP sessions")
