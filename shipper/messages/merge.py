"""The order-free merge of message partials: per-key rules, and the plain-JSON state kept with a summary."""

from __future__ import annotations

from typing import Any

import orjson

Partial = dict[str, Any]
Document = dict[str, Any]
"""An event document as the native core writes it, read back as JSON."""


def key_of(p: Partial) -> tuple[str, str]:
    """The identity of a message: (server, Exim message id)."""
    return p["server"], p["id"]


def _record_key(record: dict[str, Any]) -> tuple[str, bytes]:
    return record.get("time") or "", orjson.dumps(record, option=orjson.OPT_SORT_KEYS)


def _min_record(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    # The times decide but for a tie: the whole record (sorted JSON) only then.
    ta, tb = a.get("time") or "", b.get("time") or ""
    if ta != tb:
        return a if ta < tb else b
    return a if _record_key(a) <= _record_key(b) else b


def _max_record(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    ta, tb = a.get("time") or "", b.get("time") or ""
    if ta != tb:
        return a if ta > tb else b
    return a if _record_key(a) >= _record_key(b) else b


_RCPT_RULES = {
    "delivered": "min",
    "failed": "min",
    "deferred_first": "min",
    "attempts": "union",
    "first_error": "min_record",
    "last_error": "max_record",
    "via": "min_record",
    "originals": "union",
}
_RULES = {
    "server": "min",
    "id": "min",
    "first_seen": "min",
    "last_seen": "max",
    "arrival": "min_record",
    "rcpt": "rcpt",
    "attempts": "union",
    "completed": "max",
    "frozen": "max",
    "unfrozen": "max",
    "removed": "min_record",
    "cancelled": "min_record",
    "rejected": "min_record",
    "spam": "max_record",
    "first_deferral": "min_record",
    "last_deferral": "max_record",
    "last_error": "max_record",
    "bounce_of": "min",
    "bounced_by": "union",
}


def _merge_value(rule: str, a: Any, b: Any) -> Any:
    if rule == "min":
        return a if a <= b else b
    if rule == "max":
        return a if a >= b else b
    if rule == "union":
        return a | b
    if rule == "min_record":
        return _min_record(a, b)
    if rule == "max_record":
        return _max_record(a, b)
    # rcpt: address -> per-recipient partial
    out = dict(a)
    for addr, rb in b.items():
        ra = out.get(addr)
        out[addr] = rb if ra is None else _merge_map(_RCPT_RULES, ra, rb)
    return out


def _merge_map(rules: dict[str, str], a: Partial, b: Partial) -> Partial:
    out = dict(a)
    for key, vb in b.items():
        va = out.get(key)
        if va is None:
            out[key] = vb
            continue
        # The common rules inline: one merge per event with a message id, on the loop's path.
        rule = rules[key]
        if rule == "min":
            if vb < va:
                out[key] = vb
        elif rule == "max":
            if vb > va:
                out[key] = vb
        elif rule == "union":
            if not vb <= va:
                out[key] = va | vb
        else:
            out[key] = _merge_value(rule, va, vb)
    return out


def merge(a: Partial, b: Partial) -> Partial:
    """Merge two partials of the same message (commutative, associative, idempotent)."""
    return _merge_map(_RULES, a, b)


def accumulate(acc: dict[str, Partial], part: Partial) -> None:
    """Merge `part` into `acc`, a map of message id to merged partial (one server)."""
    key = part["id"]
    acc[key] = merge(acc[key], part) if key in acc else part


def to_state(p: Partial) -> dict[str, Any]:
    """A partial as plain JSON (sets as sorted lists), to be stored with the summary and merged again."""
    out: dict[str, Any] = {}
    for key, value in p.items():
        if key == "rcpt":
            out[key] = {a: to_state_rcpt(r) for a, r in value.items()}
        elif isinstance(value, frozenset):
            out[key] = sorted(value)
        else:
            out[key] = value
    return out


def to_state_rcpt(r: Partial) -> dict[str, Any]:
    return {k: sorted(v) if isinstance(v, frozenset) else v for k, v in r.items()}


def from_state(state: dict[str, Any]) -> Partial:
    """The inverse of to_state."""
    out: Partial = {}
    for key, value in state.items():
        if key == "rcpt":
            # A key no rule merges is dropped: summaries stored by 0.1.0 carry `deferred_last`, which
            # nothing read (a recipient's last deferral is its `last_error`).
            out[key] = {
                a: {
                    k: frozenset(v) if _RCPT_RULES[k] == "union" else v
                    for k, v in r.items()
                    if k in _RCPT_RULES
                }
                for a, r in value.items()
            }
        elif _RULES.get(key) == "union":
            out[key] = frozenset(value)
        else:
            out[key] = value
    return out
