"""Error classes decided by the enhanced status code alone: a reply whose text matches no text rule."""

from __future__ import annotations

import re

import pytest

from shipper.exim.data import table
from tests.conftest import get, parse

ID = "1tXaaa-00000001abc-0ABC"
HOST = "R=dnslookup T=remote_smtp H=mx.example.net [203.0.113.5]"


def text_rules(text: str) -> list[str]:
    """The classes whose text patterns (data/taxonomy.json, case-blind, as the core compiles them) match."""
    classes = table("taxonomy")["classes"]
    return [c["name"] for c in classes if c["text"] and re.search("|".join(c["text"]), text, re.I)]


@pytest.mark.parametrize(
    ("line", "code", "enhanced", "temporary"),
    [
        (
            f"2025-01-31 10:00:00 {ID} ** bob@example.net {HOST}: SMTP error from remote mail server after "
            "end of data: 552 5.2.2 Sorry, no room for this message",
            552,
            "5.2.2",
            False,
        ),
        (
            f"2025-01-31 10:00:00 {ID} == bob@example.net {HOST} defer (-44): SMTP error from remote mail "
            "server after RCPT TO:<bob@example.net>: 452 4.2.2 Recipient cannot take this message now",
            452,
            "4.2.2",
            True,
        ),
    ],
    ids=["5.2.2 bounce", "4.2.2 deferral"],
)
def test_the_mailbox_full_enhanced_code_decides_on_its_own(
    line: str, code: int, enhanced: str, temporary: bool
) -> None:
    doc = parse(line)
    text = get(doc, "exim.error.text")
    # The premise: nothing but the enhanced code points at a full mailbox.
    assert text_rules(text) == []
    # Without the enhanced code, the reply is no full mailbox (452 alone means storage_limit_exceeded).
    alone = parse(line.replace(f"{code} {enhanced} ", f"{code} "))
    assert get(alone, "exim.error.text") == text
    assert get(alone, "exim.error.enhanced_code") is None
    assert get(alone, "exim.error.class") != "mailbox_full"
    assert get(doc, "exim.error.enhanced_code") == enhanced
    assert get(doc, "exim.error.class") == "mailbox_full"
    assert get(doc, "exim.error.temporary") is temporary
    assert "quota" in get(doc, "exim.error.hint")
