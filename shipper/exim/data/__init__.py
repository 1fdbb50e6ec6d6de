"""The core's lookup tables: JSON data files read once from the package (each `about` gives its schema)."""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Any

import orjson


@cache
def table(name: str) -> dict[str, Any]:
    """The parsed data file `<name>.json` beside this module (actions, taxonomy, providers, ...)."""
    data: dict[str, Any] = orjson.loads(files(__package__).joinpath(f"{name}.json").read_bytes())
    return data
