"""The core's data files (shipper/exim/data/*.json) and the docs, the Python that still reads them and the
core's documents that must agree with them."""

from __future__ import annotations

import json
import re
from importlib.resources import files
from pathlib import Path

import pytest

from shipper.exim.actions import ACTIONS
from tests.conftest import get, parse

ROOT = Path(__file__).resolve().parents[2]
FIELDS_DOC = (ROOT / "docs" / "fields.md").read_text()
TABLES = ("actions", "fields", "lines", "providers", "tags", "taxonomy")


def data(name: str) -> dict:
    """A data file read the way a consumer outside the package would: plain JSON from the package."""
    return json.loads(files("shipper.exim.data").joinpath(f"{name}.json").read_text())


def section(number: int) -> str:
    start = FIELDS_DOC.index(f"\n## {number}. ")
    end = FIELDS_DOC.find("\n## ", start + 1)
    return FIELDS_DOC[start:end]


def doc_rows(number: int) -> dict[str, list[str]]:
    """`name -> cells` of the table rows of a docs/fields.md section whose first cell is a `name`."""
    rows = {}
    for line in section(number).splitlines():
        m = re.match(r"\| `([a-z0-9_]+)`[^|]*\|(.*)\|\s*$", line)
        if m is not None:
            rows[m.group(1)] = [c.strip() for c in m.group(2).split(" | ")]
    return rows


@pytest.mark.parametrize("name", TABLES)
def test_every_data_file_says_what_its_keys_mean(name: str) -> None:
    table = data(name)
    assert isinstance(table["about"], str)
    for key in table:
        if key != "about":
            assert re.search(rf"\b{key}\b", table["about"]), f"{name}.json: `about` does not describe {key}"


def test_the_action_table_of_the_docs_is_the_data_file() -> None:
    actions = data("actions")["actions"]
    rows = doc_rows(3)
    assert list(rows) == list(actions)  # same actions, same order
    for name, meta in actions.items():
        *_, category, kind, outcome = rows[name]
        assert category == (", ".join(meta["category"]) or "—"), name
        assert kind == ", ".join(meta["type"]), name
        assert outcome == meta["outcome"], name
    assert set(ACTIONS) == set(actions)


def test_every_flag_names_a_documented_action() -> None:
    flags = data("actions")["flags"]
    assert {f for f, v in flags.items() if v["arrival"]} == {"<=", "(="}
    assert {v["action"] for v in flags.values()} <= set(data("actions")["actions"])


def test_the_class_table_of_the_docs_is_the_data_file() -> None:
    taxonomy = data("taxonomy")
    rows = doc_rows(4)
    generic = [taxonomy["generic"]["temporary"]["name"], taxonomy["generic"]["permanent"]["name"]]
    assert list(rows) == [c["name"] for c in taxonomy["classes"]] + generic
    for cls in taxonomy["classes"]:
        text = rows[cls["name"]][0]
        for code in (*cls["enhanced"], *cls["errnos"]):
            assert f"`{code}`" in text or f"/`{code[2:]}`" in text, (cls["name"], code)
        assert ("always temporary" in text) == (cls["temporary"] is True), cls["name"]
        assert ("always permanent" in text) == (cls["temporary"] is False), cls["name"]
    for code, name in taxonomy["code_defaults"].items():
        assert f"`{code}`" in rows[name][0], (code, name)


def test_every_class_the_tables_name_exists_and_has_a_hint() -> None:
    taxonomy = data("taxonomy")
    names = {c["name"] for c in taxonomy["classes"]}
    named = (
        set(taxonomy["code_defaults"].values())
        | set(taxonomy["context_classes"].values())
        | set(taxonomy["connect_classes"])
        | set(taxonomy["local_hints"])
    )
    assert named <= names
    for cls in taxonomy["classes"]:
        assert cls["hint"], cls["name"]
        if cls["text"]:
            re.compile("|".join(cls["text"]))  # each list is one valid pattern


def test_the_provider_families_of_the_docs_are_the_data_file() -> None:
    row = next(line for line in FIELDS_DOC.splitlines() if line.startswith("| `exim.remote.provider`"))
    documented = row.rsplit(":", 1)[1].strip(" |").split(", ")
    table = data("providers")
    families = list(
        dict.fromkeys([*table["suffixes"].values(), *(p["family"] for p in table["host_prefixes"])])
    )
    assert sorted(documented) == sorted(families)
    for suffix, family in table["suffixes"].items():
        doc = parse(
            f"2025-01-31 10:00:00 1tXaaa-00000001abc-0ABC => a@example.net R=r T=t H=mx1.{suffix} [192.0.2.1]"
        )
        assert get(doc, "exim.remote.provider") == family, suffix


def test_line_tables_name_only_known_actions() -> None:
    lines = data("lines")
    named = {a for by in lines["verify_actions"].values() for a in by.values()}
    named |= {row["action"] for row in lines["acl_targets"]}
    assert named <= set(ACTIONS)


def test_the_mailbox_full_code_outranks_a_text_that_names_another_class() -> None:
    """Gmail's over-quota deferral reads like a storage limit; its enhanced code says mailbox full."""
    text = "The recipient's inbox is out of storage space."
    line = (
        "2025-01-31 10:00:00 1tXaaa-00000001abc-0ABC == bob@gmail.com R=dnslookup T=remote_smtp "
        "H=gmail-smtp-in.l.google.com [142.250.27.26] defer (-44): SMTP error from remote mail server "
        "after RCPT TO:<bob@gmail.com>: {code} {text}"
    )
    alone = parse(line.format(code="452", text=text))  # the text alone
    assert get(alone, "exim.error.class") == "storage_limit_exceeded"
    doc = parse(line.format(code="452-4.2.2", text=text))
    assert get(doc, "exim.error.enhanced_code") == "4.2.2"
    assert get(doc, "exim.error.class") == "mailbox_full"
    assert get(doc, "exim.error.temporary") is True
