"""Real log lines mutated at random (cut, spliced, a character swapped for a quote, a bracket, a non-ASCII
letter or a control character), read through the binding: the core never raises or panics, gives back
every byte as its entries' originals, and every document it writes (`unrecognized` ones too: whatever the
core writes is shipped) fits the events index template. Its fixed examples are the divergences this
property found while the Python path it replaced was its oracle (the documents of both were held equal
then, and the golden files hold the recorded ones now). And the intended differences of native/README.md
(where the core reads an entry otherwise than the Python path did), each read as listed (`DIFFERENCES`)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from tests.parsing import original_bytes
from tests.unit.test_index_templates import _misfits
from tests.unit.test_native_core import FIXTURES, native_entries

native = pytest.importorskip("shipper._native", reason="native core not built (make native)")


def _pool() -> list[str]:
    lines: set[str] = set()
    for path in sorted(FIXTURES.rglob("*.log")):
        text = path.read_text("utf-8", "replace")
        lines.update(ln for ln in text.splitlines() if ln[:2] == "20" and len(ln) < 600)
    return sorted(lines)


POOL = _pool()

RAISES = "Python's path raised"
"""The Python path's reading of an entry its `_item` could not write (orjson refuses an int beyond 64 bits)."""

# native/README.md's intended differences: (entry, the field, the Python path's value as it was, the
# core's value; None is "absent"). A `\b` next to a character Python's `\w` and the regex crate's read apart (a vowel sign is
# no word character to Python), an `(?i)` pattern on `İ` (Python's `re` folds it onto `i`), a number
# beyond i64 (Python keeps the int, which orjson cannot write and a `long` field cannot hold), `\x1c`-`\x1f`
# where a hand-written reader of the core meets them (its patterns read them as Python's spaces).
DIFFERENCES: list[tuple[str, tuple[str, ...], Any, Any]] = [
    (
        "2025-02-10 09:00:00 SMTP connection from [203.0.113.45]:51522 I=\x1c198.51.100.10]:587 "
        "(TCP/IP connection count = 1)\n",
        ("event", "action"),
        "unrecognized",
        "smtp_connection_opened",
    ),
    (
        "2025-03-10 10:05:02 H=(x) [192.0.2.6] Warning: spam\u093f score 5\n",
        ("event", "action"),
        "spam_verdict",
        "acl_warning",
    ),
    (
        "2025-03-10 10:05:02 1tra0K-000000002Ee-0011 ** c@d.example R=r T=t: SMTP error from remote mail "
        "server after RCPT TO:<c@d.example>: 550 5.7.1 V\u0130RUS detected\n",
        ("exim", "error", "class"),
        "virus_content",
        "policy_rejection",
    ),
    (
        "2025-03-10 10:05:02 1tra0K-000000002Ee-0011 == d@example.org R=r T=t defer (-99999999999999999999): x\n",
        ("exim", "error", "errno_raw"),
        RAISES,
        "-99999999999999999999",
    ),
    (
        "2025-03-10 10:05:02 rejected MAIL FROM:<a@b.example> H=(x) [192.0.2.6]: message too big: "
        "size=99999999999999999999 max=5\n",
        ("exim", "size"),
        RAISES,
        None,
    ),
    (
        '2025-03-30 08:05:02 H=(slow) [\u066192.0.2.98]:50002 temporarily rejected connection in "connect" ACL: '
        "too fast reconnects\n",
        ("source", "ip"),
        "\u066192.0.2.98",  # which the node's `ip` field refused, and the whole document with it
        "192.0.2.98",
    ),
]


def _field(doc: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = doc
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _entries(data: bytes) -> list[Any]:
    ctx = {
        "server": "mx1",
        "zone": "Europe/Berlin",
        "dataset": "exim.main",
        "path": "p",
        "index_prefix": "exim",
    }
    return native_entries(data, 1 << 20, **ctx)


# What field parsers and the taxonomy look for, plus what breaks naive lexers.
_SWAPS = st.sampled_from(
    [' "', '"', "<", ">", "[", "]", "(", ")", "=", ":", " ", "  ", "é", "ß", "\u0130", "\x1c", "\t", "\\",
     "١", "xn--", "%eth0", "::1", "QT=", " H=", " T=", " R=", " S=", " U=", " for ", "\n ", "\r"]
)  # fmt: skip


@st.composite
def _mutated(draw: st.DrawFn) -> bytes:
    lines = draw(st.lists(st.sampled_from(POOL), min_size=1, max_size=6))
    out: list[str] = []
    for picked in lines:
        line = picked
        for _ in range(draw(st.integers(0, 3))):
            at = draw(st.integers(20, max(20, len(line))))
            kind = draw(st.integers(0, 2))
            if kind == 0:
                line = line[:at]
            elif kind == 1:
                line = line[:at] + draw(_SWAPS) + line[at + 1 :]
            else:
                line = line[:at] + draw(_SWAPS) + line[at:]
        out.append(line)
    return ("\n".join(out) + "\n").encode("utf-8", "surrogatepass")


@pytest.mark.skipif(not POOL, reason="no fixture lines")
@given(data=_mutated())
# Divergences this property found, kept as fixed cases: a non-ASCII digit in an IP address (Python's
# `\d` and `ipaddress` take it), a Python-only space character, and a slice counted in characters.
@example(
    data="2025-03-30 08:05:02 H=(slow) [١92.0.2.98]:50002 temporarily rejected connection in "
    '"connect" ACL: too fast reconnects\n'.encode()
)
@example(
    data=b"2025-03-10 10:00:28 1trY3W-000000001Aa-0001 => carol@yahoo.com R=r T=t "
    b'H=mta7.am0.yahoodns.net [67.195.\xd9\xa104.72]:25 C="250 ok"\n'
)
@example(
    data=b"2025-03-10 10:05:02 1tra0K-000000002Ee-0011 == d1@example.org R=r T=t defer (-44\x1c) "
    b"H=mx.example.org [192.0.2.25]: SMTP error from remote mail server after RCPT TO:<d1@example.org>\n"
)
@example(
    data="2022-06-29 18:38:43 H=tata.test.biz [1.2.3.5]:41584 F=<nico@test.biz> rejected RCPT "
    "é<titi@alpacas.com.au>: Sender verify failed\n".encode()
)
# Declined until this session, now read as Python reads them: `\x1c`-`\x1f` (Python's spaces, not `int()`'s),
# a scoped IPv6 address, digits of other scripts in a code, a duration and DKIM's key bits, a missing `>`.
@example(data=b"2025-03-10 10:05:02 SMTP call from [1.2.3.4] dropped: a\x1cb\n")
@example(
    data=b"2025-03-10 10:05:02 1tra0K-000000002Ee-0011 ** c@d.example R=r T=t: SMTP error from remote mail "
    b"server after RCPT TO:<c@d.example>: 550\x1c5.1.1 no\n"
)
@example(
    data=b"2025-03-10 10:05:02 1tra0K-000000002Ee-0011 => a@b.example R=r T=t H=mx.b.example "
    b'[fe80::1%eth0]:25 C="250 ok"\n'
)
@example(
    data="2025-03-10 10:05:02 1tra0K-000000002Ee-0011 ** c@d.example R=r T=t QT=\u0661m: SMTP error from "
    "remote mail server after RCPT TO:<c@d.example>: 5\u0665\u0660 5.1.1 no\n".encode()
)
@example(
    data="2025-03-10 10:05:02 DKIM: d=ex.ample s=s\u00e9l c=relaxed/relaxed a=rsa-sha256 b=\u0661\u0660\u0662\u0664 "
    "[verification succeeded]\n".encode()
)
@example(
    data=b"2025-03-10 10:05:02 1tra0K-000000002Ee-0011 <= a@b.example U=x P=local S=100 from <a@b for c@d\n"
)
# An impossible time and a `\r`: the body is read all the same, as Python reads it; a header dump's
# fields on a body no rule reads, and eximstats' reading of an `unrecognized` line, are kept.
@example(data=b"2025-02-30 10:00:00 1tra0K-000000002Ee-0011 Completed QT=1s\n")
@example(data=b"2025-03-10 10:05:02 H=(x) [192.0.2.6] rejected EHLO x\r: syntactically invalid argument\r\n")
@example(
    data=b"2025-03-10 10:05:02 1tra0K-000000002Ee-0011 weird line refused here\nEnvelope-from: <a@b.example>\n"
    b"T Subject: hi\n"
)
# Formerly declined, now rendered as Python does: non-ASCII domains (`str.lower()`, the suffix list's
# Unicode and punycode rules), a mangled host group (`HOST_LOOSE_RE`), a port and an errno in Arabic-Indic
# digits (`int()`), a vowel sign after a word (`\w` without marks), an ACL target with `İ`.
@example(
    data="1999-03-02 09:44:33 10HmaX-000000005vi-0000 <= 他们@hebrew.למההםפשוטלאמדבריםעברית.com "
    "U=CALLER P=utf8local-esmtp S=sss for userÄ@ÖL.XN--FIQS8S\n".encode()
)
@example(
    data=b"2014-10-01 15:30:35 1XZKvG-0002HW-ML <= a@b.example H=(12-12-12-12.domain.net "
    b"[10.5.40.204]:65376 P=esmtp S=519381 for c@d.example\n"
)
@example(
    data="2025-03-10 10:05:02 1tra0K-000000002Ee-0011 == d1@example.org R=r T=t defer (-٤٤): x "
    "H=mx.example.org [192.0.2.25]:٢٥ hिंदी\n".encode()
)
@example(data="2022-06-29 18:38:43 H=(x) [192.0.2.6] rejected MAİL ΣΑΣ: no\n".encode())
# A zone offset in Arabic-Indic digits: neither prefix reads it (PREFIX_RE is ASCII now, as the core is).
@example(data="2025-02-10 09:00:00.000 +\u0661000\n".encode())
# `_CODE_RE`'s `\b` after an enhanced code followed by a vowel sign (a word character for the regex crate).
@example(
    data="2025-03-10 09:15:03 1trZDw-000000002Aa-0007 ** a2@hotmail.com R=r T=t H=mx.example "
    "[52.101.8.33]: SMTP error from remote mail server after RCPT TO:<a2@hotmail.com>: 550 5.5.0\u093f "
    "Requested action not taken: mailbox unavailable\n".encode()
)
@hypothesis_settings(max_examples=300, deadline=None)
def test_mutated_real_lines_are_read_whole_and_fit_the_template(data: bytes) -> None:
    got = _entries(data)
    back = b""
    for n in got:
        assert not n.flags & native.FLAG_PANICKED, n.body
        back += original_bytes(orjson.loads(n.body)) + (b"\n" if n.flags & native.FLAG_TERMINATED else b"")
    assert back == data
    assert _misfits("events", [orjson.loads(n.body) for n in got]) == []


@pytest.mark.parametrize("case", DIFFERENCES)
def test_each_intended_difference_reads_as_listed(case: tuple[str, tuple[str, ...], Any, Any]) -> None:
    entry, path, python, core = case
    (got,) = _entries(entry.encode())
    mine = orjson.loads(got.body)
    assert _field(mine, path) == core
    assert core != python, "a listed difference"
    assert original_bytes(mine) == entry.encode().removesuffix(b"\n")
    assert _misfits("events", [mine]) == []
