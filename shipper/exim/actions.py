"""The `event.action` vocabulary and each action's ECS category/type/outcome, from data/actions.json."""

from __future__ import annotations

from typing import NamedTuple

from shipper.exim.data import table


class ActionMeta(NamedTuple):
    """ECS categorisation shared by every event of one action."""

    category: tuple[str, ...]
    type: tuple[str, ...]
    outcome: str  # success | failure | unknown


_TABLE = table("actions")
ACTIONS: dict[str, ActionMeta] = {
    name: ActionMeta(tuple(meta["category"]), tuple(meta["type"]), meta["outcome"])
    for name, meta in _TABLE["actions"].items()
}
# The flag of a flag line -> its action; the arrival flags are the ones whose tags describe the sender.
FLAG_ACTIONS: dict[str, str] = {flag: meta["action"] for flag, meta in _TABLE["flags"].items()}
ARRIVAL_FLAGS = frozenset(flag for flag, meta in _TABLE["flags"].items() if meta["arrival"])
DELIVERY_FLAGS = frozenset(FLAG_ACTIONS) - ARRIVAL_FLAGS
