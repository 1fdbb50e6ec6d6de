"""Local times across DST changes: the fall-back hour resolved by entry order, the spring gap defined."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from shipper.exim.parse import EntryParser
from shipper.exim.timestamps import TimestampConverter
from shipper.files.reader import iter_entries
from shipper.opensearch.documents import event_id
from shipper.pipeline import Shipper
from shipper.settings import Settings

BERLIN = "Europe/Berlin"


def _stamps(conv: TimestampConverter, times: list[str], date: str = "2025-10-26") -> list[str | None]:
    return [conv.convert(date, t[:5], t[6:8], None, None) for t in times]


def test_the_repeated_hour_is_first_pass_until_time_goes_back_then_second_pass_until_it_ends() -> None:
    conv = TimestampConverter(BERLIN)
    got = _stamps(conv, ["01:59:59", "02:00:00", "02:30:00", "02:59:59", "02:00:00", "02:30:00", "02:59:59"])
    got += _stamps(conv, ["03:00:00", "03:00:01"])
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
    assert got == sorted(str(g) for g in got), "the second pass sorts after the first"


def test_second_pass_is_flagged_only_for_its_own_entries() -> None:
    conv = TimestampConverter(BERLIN)
    flags = []
    for t in ["02:58:00", "02:01:00", "02:02:00", "03:05:00"]:
        conv.convert("2025-10-26", t[:5], t[6:8], None, None)
        flags.append(conv.second_pass)
    assert flags == [False, True, True, False]


def test_jitter_of_a_few_seconds_inside_the_repeated_hour_is_not_a_second_pass() -> None:
    conv = TimestampConverter(BERLIN)
    got = _stamps(conv, ["02:10:05", "02:10:03", "02:09:59", "02:10:06"])
    assert got == [
        "2025-10-26T00:10:05.000Z",
        "2025-10-26T00:10:03.000Z",
        "2025-10-26T00:09:59.000Z",
        "2025-10-26T00:10:06.000Z",
    ]


def test_a_quiet_server_going_back_minutes_across_the_change_is_in_the_second_pass() -> None:
    # Last line of the first pass at 02:40 CEST, next at 02:20 CET (40 minutes later in real time).
    conv = TimestampConverter(BERLIN)
    assert _stamps(conv, ["02:40:00", "02:20:00"]) == ["2025-10-26T00:40:00.000Z", "2025-10-26T01:20:00.000Z"]


def test_entries_with_an_offset_are_taken_as_written_and_guide_the_ones_without() -> None:
    conv = TimestampConverter(BERLIN)
    assert conv.convert("2025-10-26", "02:59", "00", None, "+0200") == "2025-10-26T00:59:00.000Z"
    assert conv.convert("2025-10-26", "02:10", "00", None, "+0100") == "2025-10-26T01:10:00.000Z"
    assert conv.convert("2025-10-26", "02:11", "00", None, None) == "2025-10-26T01:11:00.000Z"


def test_a_fresh_converter_inside_the_repeated_hour_assumes_the_first_pass() -> None:
    """A restart mid-hour has no order to go by: it stamps as before this rule existed (fold=0), and its
    own later jump back still moves it to the second pass."""
    conv = TimestampConverter(BERLIN)
    assert _stamps(conv, ["02:30:00", "02:59:00", "02:01:00"]) == [
        "2025-10-26T00:30:00.000Z",
        "2025-10-26T00:59:00.000Z",
        "2025-10-26T01:01:00.000Z",
    ]
    assert not TimestampConverter(BERLIN).second_pass


def test_the_cache_holds_both_readings_of_a_repeated_minute() -> None:
    conv = TimestampConverter(BERLIN)
    # Same minute key in both passes, served from the cache the second time.
    assert _stamps(conv, ["02:15:00", "02:59:00", "02:15:00"]) == [
        "2025-10-26T00:15:00.000Z",
        "2025-10-26T00:59:00.000Z",
        "2025-10-26T01:15:00.000Z",
    ]
    again = TimestampConverter(BERLIN)
    assert _stamps(again, ["02:15:00"]) == ["2025-10-26T00:15:00.000Z"]


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
    conv = TimestampConverter(BERLIN)
    assert conv.convert("2025-03-30", local[:5], local[6:8], None, None) == utc
    assert not conv.second_pass, "a gap is not a repeated hour"


def test_a_stream_through_the_spring_gap_never_fails_and_never_takes_a_second_pass() -> None:
    conv = TimestampConverter(BERLIN)
    got = _stamps(conv, ["01:59:00", "02:30:00", "03:00:00", "03:10:00"], date="2025-03-30")
    assert got == [
        "2025-03-30T00:59:00.000Z",
        "2025-03-30T01:30:00.000Z",
        "2025-03-30T01:00:00.000Z",
        "2025-03-30T01:10:00.000Z",
    ]


def test_zones_without_dst_are_unchanged() -> None:
    for zone in ("UTC", "Asia/Tokyo"):
        conv = TimestampConverter(zone)
        got = _stamps(conv, ["02:59:00", "02:00:00"])
        assert got[1] is not None and got[0] is not None and got[1] < got[0], "no fold: time just went back"
        assert not conv.second_pass


FALL_BACK_LOG = (
    b"2025-10-26 02:30:00 1uDxyz-000001-AB Completed\n"
    b"2025-10-26 02:59:59 1uDxyz-000002-AB Completed\n"
    b"2025-10-26 02:30:00 1uDxyz-000001-AB Completed\n"  # byte-identical, an hour later
    b"2025-10-26 03:00:00 1uDxyz-000003-AB Completed\n"
)


def test_identical_entries_in_both_passes_get_distinct_timestamps_and_content_ids(tmp_path: Path) -> None:
    """Through the shipper's own document and id making (what goes into the bulk request)."""
    log = tmp_path / "exim_mainlog"
    log.write_bytes(FALL_BACK_LOG)
    settings = Settings(state_dir=tmp_path / "state", timezone=BERLIN, server_name="mx1")
    shipper = Shipper(settings, cluster=None)  # type: ignore[arg-type]  # _item never talks to a cluster
    parser = EntryParser(BERLIN, "mx1")
    with log.open("rb") as fh:
        items = [shipper._item(parser, str(log), "key", e, 0)[0] for e in iter_entries(fh)]
    stamps = [orjson.loads(i.body)["@timestamp"] for i in items]
    ids = [orjson.loads(i.action)["create"]["_id"] for i in items]
    assert stamps == [
        "2025-10-26T00:30:00.000Z",
        "2025-10-26T00:59:59.000Z",
        "2025-10-26T01:30:00.000Z",
        "2025-10-26T02:00:00.000Z",
    ]
    assert len(set(ids)) == 4, "the second pass's twin must not be taken as already there"
    # Ids outside the second pass are what they always were: nothing already stored is sent again.
    assert ids[0] == event_id("mx1", FALL_BACK_LOG.split(b"\n")[0], 0)
    assert ids[3] == event_id("mx1", FALL_BACK_LOG.split(b"\n")[3], 0)
