"""Shared test helpers: parsing one line (through the native core, tests/parsing.py), dotted look-ups
and the optional ../shared tree."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from tests.parsing import parse

# CI runs a fixed example sequence so a landing never depends on a random draw; local runs explore.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

__all__ = ["SHARED", "get", "parse", "shared_path"]

SHARED = Path(__file__).resolve().parents[2] / "shared"


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
