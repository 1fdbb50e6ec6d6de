"""Non-flag line types: the rule catalogue in match order and the dispatch that picks one for a body."""

from __future__ import annotations

import re

from shipper.exim import fields as F
from shipper.exim.acl_lines import HOST_START, VERIFY_ACTIONS, host_line
from shipper.exim.command_lines import COMMAND_RULES
from shipper.exim.connection_lines import CONNECTION_RULES
from shipper.exim.error_lines import ERROR_RULES
from shipper.exim.event import Event
from shipper.exim.hostident import full_host, scan_host_ident
from shipper.exim.message_lines import MESSAGE_RULES
from shipper.exim.process_lines import PROCESS_RULES
from shipper.exim.rule import Rule, set_duration

# First match wins: this is the catalogue's order from before it was split by module, which output depends on.
RULES: tuple[Rule, ...] = (
    *MESSAGE_RULES[:1],
    *CONNECTION_RULES,
    *COMMAND_RULES,
    *PROCESS_RULES,
    *MESSAGE_RULES[1:],
    *ERROR_RULES,
)


def _generic(ev: Event, action: str, m: re.Match[str]) -> str:
    """Fields common to handler-less rules: hosts after `from`, host/ident groups, commands."""
    gd = m.groupdict()
    if gd.get("host"):
        full_host(ev, gd["host"])
    if gd.get("rest"):
        scan_host_ident(ev, gd["rest"])
    if gd.get("d"):
        set_duration(ev, gd["d"])
    if gd.get("cmd"):
        ev.exim["smtp_command"] = F.unescape(gd["cmd"])
    if gd.get("reason"):
        ev.exim["reason"] = gd["reason"]
    if gd.get("ip"):
        ev.host("source", {"address": gd["ip"]})
    if gd.get("name") and action == "host_lookup_failed":
        ev.sec("source")["domain"] = gd["name"]
    return action


_KEY_LEN = 3
_META = frozenset("\\.^$*+?{}[]|()")


def _literal_prefix(pattern: str) -> str:
    """The literal text every match of `pattern` starts with (empty when it starts with a class)."""
    out: list[str] = []
    for i, ch in enumerate(pattern):
        if ch in _META:
            # `x?`, `x*`, `x{0,…}` make the character before optional: drop it.
            if ch in "?*{" and out:
                out.pop()
            break
        if i + 1 < len(pattern) and pattern[i + 1] in "?*{":
            break
        out.append(ch)
    return "".join(out)


_RULE_KEYS = tuple(_literal_prefix(r.pattern.pattern)[:_KEY_LEN] for r in RULES)
_CANDIDATES: dict[str, tuple[Rule, ...]] = {}


def _candidates(key: str) -> tuple[Rule, ...]:
    """The rules that can match a body starting with `key`, in table order (cached per key)."""
    found = _CANDIDATES.get(key)
    if found is None:
        found = tuple(
            r for r, k in zip(RULES, _RULE_KEYS, strict=True) if len(k) < _KEY_LEN or key.startswith(k)
        )
        if len(_CANDIDATES) < 4096:  # bodies are attacker-controlled: bound the cache
            _CANDIDATES[key] = found
    return found


def parse_other(ev: Event, body: str, msgid: str | None) -> str:
    """Classify a non-flag body, fill its fields and return its event.action."""
    if body.startswith(HOST_START):
        action = host_line(ev, body, msgid)
        if action is not None:
            return action
    for rule in _candidates(body[:_KEY_LEN]):
        if rule.needs_id is not None and rule.needs_id != (msgid is not None):
            continue
        if rule.needles and not any(n in body for n in rule.needles):
            continue
        m = rule.pattern.match(body)
        if m is None:
            continue
        action = rule.action
        if rule.handler is not None:
            override = rule.handler(ev, m)
            if override:
                action = override
        else:
            action = _generic(ev, action, m)
        if action == "recipient_verify_failed" and m.groupdict().get("who"):
            action = VERIFY_ACTIONS[(m.group("who"), m.group("r"))]
        return action
    return "unrecognized"
