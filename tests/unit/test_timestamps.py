"""Local times across DST changes: the fall-back hour resolved by entry order, the spring gap defined, as
the core stamps a stream of entries (one reader per stream: a fresh reader knows no order yet)."""

from __future__ import annotations

import pytest

from tests.parsing import Entry, read

BERLIN = "Europe/Berlin"
ID = "1uDxyz-000001-AB"


def _entries(times: list[str], date: str = "2025-10-26", zone: str = BERLIN) -> list[Entry]:
    """One stream of `Completed` lines at these local times (`HH:MM:SS`, or with `±hhmm` after)."""
    return read("".join(f"{date} {t} {ID} Completed\n" for t in times), zone=zone).entries


def _stamps(times: list[str], date: str = "2025-10-26", zone: str = BERLIN) -> list[str]:
    return [e.doc["@timestamp"] for e in _entries(times, date, zone)]


def test_the_repeated_hour_is_first_pass_until_time_goes_back_then_second_pass_until_it_ends() -> None:
    got = _stamps(
        [
            "01:59:59",
            "02:00:00",
            "02:30:00",
            "02:59:59",
            "02:00:00",
            "02:30:00",
            "02:59:59",
            "03:00:00",
            "03:00:01",
        ]
    )
    assert got == [
        "2025-10-25T23:59:59.000Z",  # CEST
        "2025-10-26T00:00:00.000Z",  # first pass, still CEST (+0200)
        "2025-10-26T00:30:00.000Z",
        "2025-10-26T00:59:59.000Z",
        "2025-10-26T01:00:00.000Z",  # time went back an hour: second pass, CET (+0100)
        "2025-10-26T01:30:00.000Z",
        "2025-10-26T01:59:59.000Z",
        "2025-10-26T02:00:00.000Z",  # the hour is over
        "2025-10-26T02:00:01.000Z",
    ]
    assert got == sorted(got), "the second pass sorts after the first"


def test_second_pass_is_flagged_only_for_its_own_entries() -> None:
    flags = [e.second_pass for e in _entries(["02:58:00", "02:01:00", "02:02:00", "03:05:00"])]
    assert flags == [False, True, True, False]


def test_jitter_of_a_few_seconds_inside_the_repeated_hour_is_not_a_second_pass() -> None:
    got = _entries(["02:10:05", "02:10:03", "02:09:59", "02:10:06"])
    assert [e.doc["@timestamp"] for e in got] == [
        "2025-10-26T00:10:05.000Z",
        "2025-10-26T00:10:03.000Z",
        "2025-10-26T00:09:59.000Z",
        "2025-10-26T00:10:06.000Z",
    ]
    assert not any(e.second_pass for e in got)


def test_a_quiet_server_going_back_minutes_across_the_change_is_in_the_second_pass() -> None:
    # Last line of the first pass at 02:40 CEST, next at 02:20 CET (40 minutes later in real time).
    assert _stamps(["02:40:00", "02:20:00"]) == ["2025-10-26T00:40:00.000Z", "2025-10-26T01:20:00.000Z"]


def test_entries_with_an_offset_are_taken_as_written_and_guide_the_ones_without() -> None:
    assert _stamps(["02:59:00 +0200", "02:10:00 +0100", "02:11:00"]) == [
        "2025-10-26T00:59:00.000Z",
        "2025-10-26T01:10:00.000Z",
        "2025-10-26T01:11:00.000Z",
    ]


def test_a_fresh_converter_inside_the_repeated_hour_assumes_the_first_pass() -> None:
    """A restart mid-hour has no order to go by: it stamps as before this rule existed (fold=0), and its
    own later jump back still moves it to the second pass."""
    got = _entries(["02:30:00", "02:59:00", "02:01:00"])
    assert [e.doc["@timestamp"] for e in got] == [
        "2025-10-26T00:30:00.000Z",
        "2025-10-26T00:59:00.000Z",
        "2025-10-26T01:01:00.000Z",
    ]
    assert [e.second_pass for e in got] == [False, False, True]


def test_the_cache_holds_both_readings_of_a_repeated_minute() -> None:
    # Same minute in both passes, the second time read where the first reading was kept.
    assert _stamps(["02:15:00", "02:59:00", "02:15:00"]) == [
        "2025-10-26T00:15:00.000Z",
        "2025-10-26T00:59:00.000Z",
        "2025-10-26T01:15:00.000Z",
    ]
    assert _stamps(["02:15:00"]) == ["2025-10-26T00:15:00.000Z"]


@pytest.mark.parametrize(
    ("local", "utc"),
    [
        ("01:59:59", "2025-03-30T00:59:59.000Z"),  # CET, the last second before the change
        ("02:00:00", "2025-03-30T01:00:00.000Z"),  # does not exist: read with +0100, i.e. as 03:00 CEST
        ("02:30:15", "2025-03-30T01:30:15.000Z"),  # as 03:30:15 CEST
        ("02:59:59", "2025-03-30T01:59:59.000Z"),
        ("03:00:00", "2025-03-30T01:00:00.000Z"),  # CEST
        ("03:30:00", "2025-03-30T01:30:00.000Z"),
    ],
)
def test_the_spring_gap_is_read_with_the_offset_from_before_the_change(local: str, utc: str) -> None:
    (entry,) = _entries([local], date="2025-03-30")
    assert entry.doc["@timestamp"] == utc
    assert not entry.second_pass, "a gap is not a repeated hour"


def test_a_stream_through_the_spring_gap_never_fails_and_never_takes_a_second_pass() -> None:
    got = _entries(["01:59:00", "02:30:00", "03:00:00", "03:10:00"], date="2025-03-30")
    assert [e.doc["@timestamp"] for e in got] == [
        "2025-03-30T00:59:00.000Z",
        "2025-03-30T01:30:00.000Z",
        "2025-03-30T01:00:00.000Z",
        "2025-03-30T01:10:00.000Z",
    ]
    assert not any(e.second_pass for e in got)
    assert all(e.doc["event"]["action"] == "message_completed" for e in got)


def test_zones_without_dst_are_unchanged() -> None:
    for zone in ("UTC", "Asia/Tokyo"):
        got = _entries(["02:59:00", "02:00:00"], zone=zone)
        assert got[1].doc["@timestamp"] < got[0].doc["@timestamp"], "no fold: time just went back"
        assert not any(e.second_pass for e in got)


FALL_BACK_LOG = (
    b"2025-10-26 02:30:00 1uDxyz-000001-AB Completed\n"
    b"2025-10-26 02:59:59 1uDxyz-000002-AB Completed\n"
    b"2025-10-26 02:30:00 1uDxyz-000001-AB Completed\n"  # byte-identical, an hour later
    b"2025-10-26 03:00:00 1uDxyz-000003-AB Completed\n"
)


def test_identical_entries_in_both_passes_get_distinct_timestamps_and_content_ids() -> None:
    """Through the core's document and id making (what goes into the bulk request)."""
    got = read(FALL_BACK_LOG, zone=BERLIN, server="mx1").entries
    assert [e.doc["@timestamp"] for e in got] == [
        "2025-10-26T00:30:00.000Z",
        "2025-10-26T00:59:59.000Z",
        "2025-10-26T01:30:00.000Z",
        "2025-10-26T02:00:00.000Z",
    ]
    ids = [e.id for e in got]
    assert len(set(ids)) == 4, "the second pass's twin must not be taken as already there"
    # Ids outside the second pass are what they always were (`event_id("mx1", line, 0)` as Python made
    # them before the core): nothing already stored is sent again.
    assert ids[0] == "D0N8Wn1dSsFyKg49_lmb"
    assert ids[3] == "tsXtKu_auqLssaouxc_k"
