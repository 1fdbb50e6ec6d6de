"""Whole documents of the native core against the golden corpora (tests/golden: the recorded output of
the Python path it replaced), compared as parsed JSON, entry by entry, each read on its own. The core
declines nothing, so its `unrecognized` documents (code 0) are final too and must equal the recorded ones
whole, tags, `exim.timestamp_raw`, a header dump's fields and eximstats' reading included; the coverage
is printed. (Whole files, with their stamps, offsets, ids and summaries: test_golden.py.)"""

from __future__ import annotations

import base64
import gzip
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.unit.test_native_core import native, native_entries

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
CLAIMED = frozenset(native.CLAIMED)


class Coverage:
    def __init__(self, name: str) -> None:
        self.name = name
        self.kinds: Counter[str] = Counter()
        self.equal: Counter[str] = Counter()

    def check(self, want: dict[str, Any], got: dict[str, Any], where: str) -> None:
        action = want["event"]["action"]
        self.kinds[action] += 1
        # Whatever the core writes is shipped: every document, `unrecognized` ones too, is Python's.
        assert got["event"]["action"] in CLAIMED or got["event"]["action"] == "unrecognized", where
        assert got == want, where
        self.equal[action] += 1

    def report(self) -> str:
        total, equal = sum(self.kinds.values()), sum(self.equal.values())
        claimed = sum(n for k, n in self.kinds.items() if k in CLAIMED)
        per = ", ".join(f"{k} {self.equal[k]}/{self.kinds[k]}" for k in sorted(self.kinds))
        return f"{self.name}: {equal}/{total} entries equal whole; claimed kinds {claimed} ({per})"


def test_documents_equal_the_recorded_ones(capsys: pytest.CaptureFixture[str]) -> None:
    covs: dict[str, Coverage] = {}
    for golden in sorted(GOLDEN.glob("*.ndjson.gz")):
        cov = covs.setdefault(golden.name, Coverage(f"golden {golden.name}"))
        with gzip.open(golden, "rb") as fh:
            for line in fh:
                want = orjson.loads(line)["doc"]
                if (
                    "event" not in want
                    or "original" not in want["event"]
                    or "summary" in want.get("exim", {})
                ):
                    continue
                raw = want.get("exim", {}).get("original_base64")
                data = base64.b64decode(raw) if raw else want["event"]["original"].encode()
                ctx = {
                    "server": want.get("host", {}).get("name", ""),
                    "zone": "UTC",
                    "dataset": want["event"]["dataset"],
                    "path": want.get("log", {}).get("file", {}).get("path", ""),
                    "index_prefix": "exim",
                }
                got = native_entries(data + b"\n", 1 << 20, **ctx)
                if len(got) != 1:
                    continue  # an original that is not one entry on its own (a syslog record's)
                doc = orjson.loads(got[0].body)
                if want.get("process") != doc.get("process") or set(want.get("log", {})) - {"file", "offset"}:
                    continue  # a syslog or journal record's: the wrapper gave the pid (not ported)
                if "timestamp_inherited" in want.get("tags", []):
                    continue  # its stamp and tag came from the entry before it in its file
                # The golden corpora were stamped in their own zones and offsets within their files.
                for d in (doc, want):
                    d.pop("@timestamp", None)
                    d.pop("log", None)
                cov.check(want, doc, f"{golden.name}: {want['event']['original'][:80]}")
    with capsys.disabled():
        print()
        for cov in covs.values():
            print(cov.report())
    for cov in covs.values():
        assert cov.equal == cov.kinds, cov.name
    fixtures = covs["fixtures.ndjson.gz"]
    assert sum(fixtures.equal.values()) > 100
    assert fixtures.kinds["unrecognized"] > 0, "the placeholder's documents are compared too"


def test_the_cores_suffix_list_is_the_one_the_python_package_bundles() -> None:
    # Registered domains must come from one source: the core embeds a copy of publicsuffixlist's snapshot.
    import publicsuffixlist

    bundled = Path(publicsuffixlist.PSLFILE).read_bytes()
    copy = Path(__file__).resolve().parents[2] / "native" / "exim-log" / "data" / "public_suffix_list.dat"
    assert copy.read_bytes() == bundled, (
        f"copy {publicsuffixlist.PSLFILE} to {copy} (the package was upgraded)"
    )
