"""Today's per-line output stays as recorded: each corpus of tools/golden.py against tests/golden/, compared
as parsed JSON (the bench log at 20k lines; its 100k-line digest is `tools/golden.py check`'s), made by
the ship loop's own path: through the native core where `shipper._native` is built."""

from __future__ import annotations

import copy
import dataclasses
import sys
from pathlib import Path

import pytest

from tests.conftest import shared_path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

import golden  # noqa: E402 - tools/ is a folder of scripts

CHECKED = [name for name in golden.CORPORA if name != "bench-100000"]


@pytest.mark.parametrize("name", CHECKED)
def test_output_is_the_recorded_one(name: str, tmp_path: Path) -> None:
    if golden.CORPORA[name].shared:
        shared_path()
    result = golden.check_corpus(name, tmp_path)
    if result.problems:
        pytest.fail("the per-line output changed:\n" + result.report(), pytrace=False)


def test_one_changed_field_is_reported_with_its_path() -> None:
    recorded = golden.read_full(golden.full_path("samples"))
    changed = copy.deepcopy(recorded)
    event = next(r for r in changed if r["kind"] == "event" and r["doc"].get("email", {}).get("local_id"))
    event["doc"]["email"]["local_id"] += "x"
    problems = golden.compare(recorded, changed)
    assert len(problems) == 1
    assert "email.local_id" in problems[0]
    assert event["doc"]["email"]["local_id"] in problems[0]


def test_a_changed_document_changes_its_digest(tmp_path: Path) -> None:
    corpus = golden.CORPORA["fixtures"]
    item = corpus.inputs(tmp_path)[0]
    records = golden.run_file(item, corpus.zone)
    changed = copy.deepcopy(records)
    changed[0]["doc"]["event"]["action"] = "something_else"
    assert golden.digest(changed) != golden.digest(records)
    assert golden.digest(copy.deepcopy(records)) == golden.digest(records)


def test_a_file_added_to_a_corpus_is_a_note_not_a_difference(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus = golden.CORPORA["samples"]
    extra = tmp_path / "exim_mainlog.new"
    extra.write_bytes(b"2025-01-31 10:00:00 1tXaaa-00000001abc-0ABC Completed\n")

    def inputs(scratch: Path) -> list[golden.Input]:
        return [*corpus.inputs(scratch), golden.Input("samples/new", extra)]

    monkeypatch.setitem(golden.CORPORA, "samples", dataclasses.replace(corpus, inputs=inputs))
    result = golden.check_corpus("samples", tmp_path)
    assert result.problems == []
    assert result.notes == ["samples: samples/new: new, not in the golden files (record it)"]
