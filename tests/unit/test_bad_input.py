"""Bad input never raises and never loses bytes: every entry becomes an event with its original."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import get, parse
from tests.parsing import documents, original_bytes, read

ID = "1tXaaa-00000001abc-0ABC"


def _docs(data: bytes) -> list[dict[str, object]]:
    return documents(data, server="mx1")


def test_invalid_utf8_is_preserved_exactly() -> None:
    """Invalid UTF-8 is shown escaped and kept byte-exact in exim.original_base64."""
    raw = b"2025-01-31 10:00:00 " + ID.encode() + b" <= bad\xff\xfe@example.com U=x P=local S=1"
    doc = parse(raw)
    assert doc["event"]["action"] == "message_arrived"
    assert "\\xff" in doc["event"]["original"]
    assert original_bytes(doc) == raw


def test_nul_bytes_and_crlf() -> None:
    """NUL bytes survive; a CRLF line still parses and keeps its CR in the original."""
    doc = parse(b"2025-01-31 10:00:00 " + ID.encode() + b" Completed\r")
    assert doc["event"]["action"] == "message_completed"
    assert doc["event"]["original"].endswith("\r")
    nul = parse(b"2025-01-31 10:00:00 weird\x00text")
    assert nul["event"]["original"] == "2025-01-31 10:00:00 weird\x00text"


def test_megabyte_line() -> None:
    """A 1 MB line is one event, parsed in linear time, with its whole text kept."""
    raw = (
        b"2025-01-31 10:00:00 "
        + ID.encode()
        + b' <= a@b.example U=x P=local S=5 T="'
        + b"x" * 1_000_000
        + b'"'
    )
    docs = _docs(raw + b"\n")
    assert len(docs) == 1
    assert docs[0]["event"]["action"] == "message_arrived"  # type: ignore[index]
    assert len(get(docs[0], "email.subject")) == 1_000_000


def test_truncated_last_line_and_orphan_continuation() -> None:
    """A truncated last line is still an entry; text before any timestamp is its own entry."""
    data = b"orphan line\n2025-01-31 10:00:00 " + ID.encode() + b" Complet"
    docs = _docs(data)
    assert [get(d, "event.action") for d in docs] == ["unrecognized", "unrecognized"]
    assert get(docs[1], "email.local_id") == ID
    assert get(docs[1], "@timestamp") == "2025-01-31T10:00:00.000Z"


def test_valid_prefix_with_garbage() -> None:
    """A valid prefix with garbage after it keeps time, pid and id and is unrecognized."""
    doc = parse(f"2025-01-31 10:00:00.250 [77] {ID} %%%% ]]]] H= =".encode())
    assert doc["event"]["action"] == "unrecognized"
    assert get(doc, "process.pid") == 77
    assert get(doc, "email.local_id") == ID
    assert get(doc, "@timestamp") == "2025-01-31T10:00:00.250Z"


def test_impossible_dates_inherit_previous_time() -> None:
    """Feb 30 or 25:61 is tagged invalid_timestamp and takes the previous valid time."""
    docs = _docs(
        f"2025-01-31 10:00:00 {ID} Completed\n2025-02-30 25:61:99 {ID} Completed\n2025-13-01 00:00:00 x\n".encode()
    )
    assert [get(d, "event.action") for d in docs] == [
        "message_completed",
        "message_completed",
        "unrecognized",
    ]
    for d in docs[1:]:
        assert get(d, "tags") == ["invalid_timestamp"]
        assert get(d, "@timestamp") == "2025-01-31T10:00:00.000Z"


def test_local_time_and_dst() -> None:
    """Zone-less stamps are local time in the configured zone, explicit offsets win."""
    assert parse("2025-07-01 12:00:00 x", tz="Europe/London")["@timestamp"] == "2025-07-01T11:00:00.000Z"
    assert parse("2025-01-01 12:00:00 x", tz="Europe/London")["@timestamp"] == "2025-01-01T12:00:00.000Z"
    assert parse("2025-01-01 00:30:00 x", tz="America/New_York")["@timestamp"] == "2025-01-01T05:30:00.000Z"
    assert (
        parse("2025-01-01 00:30:00.005 -0330 x", tz="Asia/Tokyo")["@timestamp"] == "2025-01-01T04:00:00.005Z"
    )
    # the repeated hour of a fall-back: the first occurrence (summer time) is assumed
    assert parse("2025-10-26 01:30:00 x", tz="Europe/London")["@timestamp"] == "2025-10-26T00:30:00.000Z"


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=400))
def test_property_never_raises_and_round_trips(data: bytes) -> None:
    """Any bytes: every entry parses without a parser error, and the stream is rebuilt exactly (each
    entry's original is the bytes between its offset and its end, less the newline that ends it)."""
    rebuilt = b""
    for entry in read(data, zone="Europe/Berlin", server="mx1", chunk=7).entries:
        assert "parse_error" not in entry.doc.get("exim", {})
        raw = original_bytes(entry.doc)
        assert data[entry.offset : entry.end] == raw + (b"\n" if entry.terminated else b"")
        rebuilt += raw + (b"\n" if entry.terminated else b"")
    assert rebuilt == data


_LINEISH = st.lists(
    st.one_of(
        st.sampled_from(
            [
                f"2025-01-31 10:00:00 {ID} <= a@b.example H=x (y) [192.0.2.1]:25 P=esmtp S=12 for c@d.example",
                f"2025-01-31 10:00:00.123 +0100 [42] {ID} ** a@b R=r T=t : SMTP error from remote mail server after",
                f"2025-01-31 10:00:00 {ID} == a@b R=r T=t defer (-44) H=x [1.2.3.4]: SMTP error",
                "2025-01-31 10:00:00 H=(x) [1.2.3.4] F=<a@b> rejected RCPT <c@d>: ",
                "Envelope-from: <a@b>",
                "",
            ]
        ),
        st.text(max_size=80),
    ),
    max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(_LINEISH, st.data())
def test_property_mutated_log_lines(lines: list[str], data: st.DataObject) -> None:
    """Realistic lines cut at random points and mixed with junk never break the parser."""
    cut = [ln[: data.draw(st.integers(0, len(ln)))] for ln in lines]
    raw = "\n".join(cut).encode("utf-8", "surrogatepass")
    rebuilt = b""
    for entry in read(raw, server="mx1").entries:
        assert "parse_error" not in entry.doc.get("exim", {}), entry.doc
        rebuilt += original_bytes(entry.doc) + (b"\n" if entry.terminated else b"")
    assert rebuilt == raw
