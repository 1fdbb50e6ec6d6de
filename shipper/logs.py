"""Log lines of every command: the `shipper` logger hierarchy on stderr, as text or as JSON lines."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

import orjson

ROOT = "shipper"
# What every LogRecord carries; anything else on a record came in through `extra=` and is a field.
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


def _time(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def fields(record: logging.LogRecord) -> dict[str, Any]:
    """The structured fields a call passed with `extra=`."""
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


class TextFormatter(logging.Formatter):
    """`2026-12-01T10:00:00Z INFO exim-shipper: message`: the message alone says it all, for people."""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{_time(record)} {record.levelname} exim-shipper: {record.getMessage()}"
        if record.exc_info and record.exc_info[1] is not None:
            # One line, as every error of ours: the exception's own words, not a traceback.
            exc = record.exc_info[1]
            line += f" ({type(exc).__name__}: {' '.join(str(exc).split())})"
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, then the call's structured fields."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "time": _time(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in fields(record).items():
            doc.setdefault(key, value)
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            doc["error"] = f"{type(exc).__name__}: {exc}"
        return orjson.dumps(doc, default=str).decode()


def configure(fmt: Literal["text", "json"], stream: TextIO | None = None, level: int = logging.INFO) -> None:
    """Send the `shipper` loggers to `stream` (stderr: stdout is for data) in the given format.

    Only our own hierarchy: the client library's loggers stay quiet, since its failures reach the user
    through ours (the first failure, the reminders), in our words and without credentials.
    """
    logger = logging.getLogger(ROOT)
    for old in list(logger.handlers):
        logger.removeHandler(old)
    handler = logging.StreamHandler(sys.stderr if stream is None else stream)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    logger.addHandler(handler)
    logger.setLevel(level)
