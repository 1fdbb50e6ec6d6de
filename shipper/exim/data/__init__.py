"""The core's lookup tables: JSON data files read once from the package (each `about` gives its schema)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import orjson

# Beside this module, not through importlib.resources: its import (zipfile, threading) would cost `trace`
# about 5 ms of its start, and the package is installed unpacked, never run from a zip.
_HERE = Path(__file__).parent


@cache
def table(name: str) -> dict[str, Any]:
    """The parsed data file `<name>.json` beside this module (actions, taxonomy, providers, ...)."""
    data: dict[str, Any] = orjson.loads((_HERE / f"{name}.json").read_bytes())
    return data
