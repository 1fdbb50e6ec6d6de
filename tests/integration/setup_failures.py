"""What a test does when its setup (a download, a second node, a proxy) fails: a clean skip on a
workstation, a failure in CI, where a skip would read as a proof that was never run."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def in_ci() -> bool:
    """CI=true (GitHub Actions, GitLab and most others set it); CI=false or 0 is a workstation."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def unavailable(why: str) -> NoReturn:
    """Skip the test for `why`, except in CI, where it fails."""
    if in_ci():
        pytest.fail(f"{why} (in CI a setup failure fails the test instead of skipping it)")
    pytest.skip(why)
