"""Shared test helpers: parsing one line, dotted look-ups and the optional ../shared tree."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from shipper.exim.parse import EntryParser

# CI runs a fixed example sequence so a landing never depends on a random draw; local runs explore.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

SHARED = Path(__file__).resolve().parents[2] / "shared"


def parse(text: str | bytes, tz: str = "UTC", dataset: str = "exim.main") -> dict[str, Any]:
    """Parse one entry with a fresh parser."""
    raw = text.encode() if isinstance(text, str) else text
    return EntryParser(tz, "mx1.example.net", dataset=dataset).parse(raw)


def get(doc: dict[str, Any], dotted: str, default: Any = None) -> Any:
    """`get(doc, "exim.error.class")` -> the nested value or `default`."""
    cur: Any = doc
    for part in dotted.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return default
        cur = cur[part]
    return cur


def shared_path(*parts: str) -> Path:
    """A path under ../shared, skipping the test when that tree is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} not present (../shared is optional)")
    return path
