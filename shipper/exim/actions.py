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
