"""Message correlation: per-line partial summaries, an order-free merge, and one summary per message.

Every event of a message becomes a *partial* (the native core makes them: `exim_log::facts`): a dict
whose keys merge by fixed rules (minimum, maximum, set union, or the smaller of two records under a
total order). Those rules are commutative,
associative and idempotent, so the same lines give the same summary whatever their order, repetition,
or split across files and runs. The message state is derived from the merged partial, never stored in
it, which is what lets summaries be upserted piecemeal later.
"""

from __future__ import annotations

from shipper.messages.merge import (
    Document,
    Partial,
    accumulate,
    from_state,
    key_of,
    merge,
    to_state,
    to_state_rcpt,
)
from shipper.messages.summary import id_time, recipients_of, state_of, summary

__all__ = [
    "Document",
    "Partial",
    "accumulate",
    "from_state",
    "id_time",
    "key_of",
    "merge",
    "recipients_of",
    "state_of",
    "summary",
    "to_state",
    "to_state_rcpt",
]
