"""A failed test setup is a skip on a workstation and a failure in CI."""

from __future__ import annotations

import pytest

from tests.integration.setup_failures import unavailable


@pytest.mark.parametrize("value", ["true", "1", "True"])
def test_in_ci_a_setup_failure_fails(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.fail.Exception, match="nginx could not be fetched"):
        unavailable("nginx could not be fetched")


@pytest.mark.parametrize("value", [None, "", "false", "0"])
def test_elsewhere_it_is_a_clean_skip(monkeypatch: pytest.MonkeyPatch, value: str | None) -> None:
    if value is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.skip.Exception, match="nginx could not be fetched"):
        unavailable("nginx could not be fetched")
