"""Log formats: a human line per record, or one JSON object per line; only our own loggers, on stderr."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator

import orjson
import pytest

from shipper import logs


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    out = io.StringIO()
    yield out
    logger = logging.getLogger(logs.ROOT)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    logger.setLevel(logging.NOTSET)


def test_text_lines_are_time_level_and_message(stream: io.StringIO) -> None:
    logs.configure("text", stream)
    logs.configure("text", stream)  # configuring again replaces, never doubles, the handler
    log = logging.getLogger("shipper.pipeline")
    log.info("following %s from byte %d", "/var/log/exim_mainlog", 0, extra={"file": "/var/log/exim_mainlog"})
    log.debug("not shown at the default level")
    try:
        raise OSError("disk\nfull")
    except OSError:
        log.warning("cannot write status", exc_info=True)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ INFO exim-shipper: following /var/log/exim_mainlog from byte 0",
        lines[0],
    )
    assert lines[1].endswith("WARNING exim-shipper: cannot write status (OSError: disk full)")


def test_json_lines_carry_the_fields(stream: io.StringIO) -> None:
    logs.configure("json", stream)
    log = logging.getLogger("shipper.status")
    log.info(
        "stats: 3 read",
        extra={
            "counts": {"read": 3, "indexed": 2},
            "files": [{"file": "/l", "lag_bytes": 9}],
            "path": object(),
        },
    )
    log.warning('quote " and newline\nin a message')
    docs = [orjson.loads(line) for line in stream.getvalue().splitlines()]
    assert len(docs) == 2
    first = docs[0]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", first.pop("time"))
    path = first.pop("path")
    assert path.startswith("<object object at")  # anything not JSON is shown as text, never an exception
    assert first == {
        "level": "INFO",
        "logger": "shipper.status",
        "message": "stats: 3 read",
        "counts": {"read": 3, "indexed": 2},
        "files": [{"file": "/l", "lag_bytes": 9}],
    }
    assert docs[1]["message"] == 'quote " and newline\nin a message'
    assert docs[1]["level"] == "WARNING"


def test_other_libraries_loggers_are_not_ours(stream: io.StringIO) -> None:
    logs.configure("text", stream)
    logging.getLogger("opensearch").warning("GET http://user:secret@host/ [status:N/A]")
    assert stream.getvalue() == ""
