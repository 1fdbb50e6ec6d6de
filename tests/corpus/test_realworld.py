"""Public real-world Exim lines (tests/fixtures/realworld/, origins in its README): at most 0.1% stay
unrecognized, and the expectations their projects ship (fail2ban's failJSON host and time, the fields
the CrowdSec, Filebeat and Logstash tests assert) hold for our documents."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.conftest import get
from tests.parsing import read

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "realworld"
SOURCES = sorted(FIXTURES.glob("*.log"))
MAX_UNRECOGNIZED = 0.001


def _entries(path: Path) -> Iterator[tuple[int, str, dict[str, Any] | None, dict[str, Any]]]:
    """(line number, line, the expectation written above it, our document) of each log line, the log
    lines read as one stream (each begins with a timestamp: one entry each)."""
    expect: dict[str, Any] | None = None
    lines = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        if line.startswith("#"):
            for marker in ("# failJSON:", "# expect:"):
                if line.startswith(marker):
                    expect = {"kind": marker, **orjson.loads(line[len(marker) :])}
            continue  # other comments, including fail2ban's commented-out sample lines
        lines.append((number, line, expect))
        expect = None
    docs = read("".join(f"{line}\n" for _, line, _ in lines), server="realworld").docs
    assert len(docs) == len(lines)
    for (number, line, expected), doc in zip(lines, docs, strict=True):
        yield number, line, expected, doc


def test_the_fixtures_are_there() -> None:
    """Every source named in the README has its file, and there are enough lines to measure."""
    readme = (FIXTURES / "README.md").read_text()
    assert SOURCES and all(p.name in readme for p in SOURCES)
    assert sum(1 for p in SOURCES for _ in _entries(p)) >= 60


def test_unrecognized_share_is_at_most_a_tenth_of_a_percent() -> None:
    """Across all sources; the failure lists every unrecognized line, and the share per source is printed."""
    total, unrecognized = 0, []
    for path in SOURCES:
        n = bad = 0
        for number, line, _, doc in _entries(path):
            n += 1
            if doc["event"]["action"] == "unrecognized":
                bad += 1
                unrecognized.append(f"{path.name}:{number}: {line}")
        total += n
        print(f"{path.name}: {n} entries, {bad} unrecognized ({100 * bad / n:.2f}%)")
    print(f"all: {total} entries, {len(unrecognized)} unrecognized ({100 * len(unrecognized) / total:.2f}%)")
    assert len(unrecognized) / total <= MAX_UNRECOGNIZED, "\n".join(unrecognized)


@pytest.mark.parametrize("path", SOURCES, ids=[p.stem for p in SOURCES])
def test_the_sources_own_expectations_hold(path: Path) -> None:
    """fail2ban: `source.ip` is the failJSON host and `@timestamp` its time; others: each field named."""
    checked = 0
    for number, line, expect, doc in _entries(path):
        if expect is None:
            continue
        where = f"{path.name}:{number}: {line}"
        if expect["kind"] == "# failJSON:":
            assert doc["@timestamp"].startswith(expect["time"]), where
            if expect.get("match") and "host" in expect:
                assert get(doc, "source.ip") == expect["host"], where
        else:
            for field, value in expect.items():
                if field != "kind":
                    assert get(doc, field) == value, (where, field)
        checked += 1
    assert checked > 0 or "crowdsec-exim-bf" in path.name or "crowdsec-exim-spam" in path.name
