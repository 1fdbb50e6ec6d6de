"""The remedy hint of a failure on a local domain is about local routing, not the domain's DNS."""

from __future__ import annotations

import pytest

from shipper.exim.data import table
from tests.conftest import parse


def _error(line: str) -> dict[str, object]:
    err: dict[str, object] = parse(line)["exim"]["error"]
    return err


def test_local_alias_target_gets_a_local_routing_hint() -> None:
    err = _error(
        "2025-03-30 10:00:01 1tAlia-00000000001-0001 ** nobody-here@fleet.test <support@fleet.test> "
        "R=virtual_aliases: Unrouteable address"
    )
    assert err["class"] == "unroutable_domain"
    assert "DNS zone" not in str(err["hint"]) and "alias" in str(err["hint"])


def test_remote_domain_keeps_the_dns_hint() -> None:
    err = _error(
        "2025-03-30 10:00:01 1tAlia-00000000001-0001 ** x@nosuch.example R=dnslookup: Unrouteable address"
    )
    assert err["class"] == "unroutable_domain"
    assert "DNS zone" in str(err["hint"])
    err = _error("2025-03-30 10:00:01 1tAlia-00000000001-0001 ** x@nosuch.example: Unrouteable address")
    assert "DNS zone" in str(err["hint"])


@pytest.mark.parametrize(
    ("router", "local"),
    [
        ("virtual_aliases", True),
        ("localuser", True),
        ("system_aliases", True),
        ("dkim_lookuphost", False),
        ("dnslookup", False),
        ("remote_forward_smtp", False),
        (None, False),
    ],
)
def test_router_names(router: str | None, local: bool) -> None:
    """Which routers are local, read from the hint of an unroutable address routed by each."""
    routed = f" R={router}" if router else ""
    err = _error(
        f"2025-03-30 10:00:01 1tAlia-00000000001-0001 ** x@nosuch.example{routed}: Unrouteable address"
    )
    assert err["class"] == "unroutable_domain"
    assert ("DNS zone" not in str(err["hint"])) is local


def test_a_class_without_a_local_hint_keeps_its_own() -> None:
    """An unknown user on a local router has the class's hint, as on a remote one."""
    line = "2025-03-30 10:00:01 1tAlia-00000000001-0001 ** x@fleet.test R={}: 550 5.1.1 User unknown"
    local, remote = _error(line.format("localuser")), _error(line.format("dnslookup"))
    assert local["class"] == remote["class"] == "unknown_user"
    assert (
        local["hint"]
        == remote["hint"]
        == next(c["hint"] for c in table("taxonomy")["classes"] if c["name"] == "unknown_user")
    )
