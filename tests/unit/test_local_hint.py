"""The remedy hint of a failure on a local domain is about local routing, not the domain's DNS."""

from __future__ import annotations

from shipper.exim.classify import hint_for, routed_locally
from tests.unit.test_messages import _docs


def _error(line: str) -> dict[str, object]:
    (doc,) = _docs(line + "\n")
    err: dict[str, object] = doc["exim"]["error"]
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


def test_router_names() -> None:
    assert (
        routed_locally("virtual_aliases") and routed_locally("localuser") and routed_locally("system_aliases")
    )
    assert (
        not routed_locally("dkim_lookuphost") and not routed_locally("dnslookup") and not routed_locally(None)
    )
    assert not routed_locally("remote_forward_smtp")
    assert hint_for("unknown_user", local=True) == hint_for("unknown_user")
