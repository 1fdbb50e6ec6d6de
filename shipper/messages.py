"""Message correlation: per-line partial summaries, an order-free merge, and one summary per message.

Every event of a message becomes a *partial*: a dict whose keys merge by fixed rules (minimum,
maximum, set union, or the smaller of two records under a total order). Those rules are commutative,
associative and idempotent, so the same lines give the same summary whatever their order, repetition,
or split across files and runs. The message state is derived from the merged partial, never stored in
it, which is what lets summaries be upserted piecemeal later.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson

from shipper.exim.event import Document

Partial = dict[str, Any]

_B62 = {c: i for i, c in enumerate("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")}


def id_time(local_id: str) -> str | None:
    """Arrival time encoded in a message id's first six base-62 characters, as UTC ISO-8601."""
    value = 0
    for ch in local_id[:6]:
        digit = _B62.get(ch)
        if digit is None:
            return None
        value = value * 62 + digit
    try:
        return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    except (OverflowError, OSError, ValueError):
        return None


# --- merging ----------------------------------------------------------------------------------


def _record_key(record: dict[str, Any]) -> tuple[str, bytes]:
    return record.get("time") or "", orjson.dumps(record, option=orjson.OPT_SORT_KEYS)


def _min_record(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    return a if _record_key(a) <= _record_key(b) else b


def _max_record(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    return a if _record_key(a) >= _record_key(b) else b


_RCPT_RULES = {
    "delivered": "min",
    "failed": "min",
    "deferred_first": "min",
    "deferred_last": "max",
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
        out[key] = vb if va is None else _merge_value(rules[key], va, vb)
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
            out[key] = {
                a: {k: frozenset(v) if _RCPT_RULES.get(k) == "union" else v for k, v in r.items()}
                for a, r in value.items()
            }
        elif _RULES.get(key) == "union":
            out[key] = frozenset(value)
        else:
            out[key] = value
    return out


# --- one event -> partials ----------------------------------------------------------------------


def _rcpt_key(doc: Document) -> tuple[str, str | None] | None:
    """The final address a delivery line is about, and the address it was expanded from (`<…>`).

    Outcomes are kept per final address: an alias with two targets, one failing, is two outcomes."""
    exim = doc.get("exim", {})
    addr = exim.get("address")
    if not addr:
        to = doc.get("email", {}).get("to", {}).get("address")
        addr = to[0] if to else None
    if not addr:
        return None
    final = addr.lower()
    original = (exim.get("original_address") or "").lower()
    return final, (original if original and original != final else None)


def _error_record(doc: Document, ts: str) -> dict[str, Any]:
    err = doc.get("exim", {}).get("error", {})
    rec = {
        "time": ts,
        "class": err.get("class", "unknown"),
        "text": err.get("text") or err.get("message", ""),
    }
    if "smtp_code" in err:
        rec["smtp_code"] = err["smtp_code"]
    return rec


def partials(doc: Document) -> list[Partial]:
    """The partial summaries one event contributes (a bounce arrival touches two messages)."""
    email = doc.get("email", {})
    local_id = email.get("local_id")
    if not local_id:
        return []
    ts = doc.get("@timestamp")
    if ts is None:
        return []
    server = doc.get("host", {}).get("name", "")
    exim = doc.get("exim", {})
    action = doc["event"]["action"]
    p: Partial = {"server": server, "id": local_id, "first_seen": ts, "last_seen": ts}
    out = [p]
    if action in ("message_arrived", "message_arrived_fakereject"):
        arrival: dict[str, Any] = {"time": ts, "sender": email.get("from", {}).get("address", "<>")}
        for key, value in (
            ("size", exim.get("size")),
            ("subject", email.get("subject")),
            ("message_id", email.get("message_id")),
            ("protocol", exim.get("protocol")),
            ("user", doc.get("user", {}).get("name")),
            ("ident", exim.get("ident")),
            ("tls_version", doc.get("tls", {}).get("version")),
            ("tls_cipher", doc.get("tls", {}).get("cipher")),
            ("source_ip", doc.get("source", {}).get("ip")),
            ("source_domain", doc.get("source", {}).get("domain")),
            ("helo", exim.get("helo")),
            ("provider", exim.get("remote", {}).get("provider")),
        ):
            if value is not None:
                arrival[key] = value
        p["arrival"] = arrival
        rcpts = email.get("to", {}).get("address") or []
        if rcpts:
            p["rcpt"] = {r.lower(): {} for r in rcpts}
        bounce_of = exim.get("bounce_of")
        if bounce_of:
            p["bounce_of"] = bounce_of
            out.append({"server": server, "id": bounce_of, "bounced_by": frozenset({local_id})})
    elif action in (
        "delivered",
        "delivered_additional",
        "delivered_cutthrough",
        "delivery_suppressed",
        "delivery_failed",
        "delivery_deferred",
    ):
        target = _rcpt_key(doc)
        if target is None:
            return out
        rcpt, original = target
        r: Partial = {} if original is None else {"originals": frozenset({original})}
        if action == "delivery_failed":
            r["failed"] = ts
            r["first_error"] = r["last_error"] = _error_record(doc, ts)
            p["last_error"] = r["last_error"]
        elif action == "delivery_deferred":
            r["deferred_first"] = r["deferred_last"] = ts
            rec = _error_record(doc, ts)
            r["first_error"] = r["last_error"] = rec
            p["first_deferral"] = p["last_deferral"] = p["last_error"] = rec
        else:
            r["delivered"] = ts
            dest = doc.get("destination", {})
            via = {"time": ts}
            for key, value in (
                ("flag", exim.get("flag")),
                ("router", exim.get("router")),
                ("transport", exim.get("transport")),
                ("host", dest.get("domain")),
                ("ip", dest.get("ip")),
                ("provider", exim.get("remote", {}).get("provider")),
            ):
                if value is not None:
                    via[key] = value
            r["via"] = via
        # A skipped retry is not an attempt: Exim did not try the host.
        if exim.get("error", {}).get("class") != "retry_time_not_reached":
            r["attempts"] = frozenset({ts})
            p["attempts"] = frozenset({ts})
        p["rcpt"] = {rcpt: r}
    elif action == "message_completed":
        p["completed"] = ts
    elif action == "message_frozen":
        p["frozen"] = ts
    elif action == "message_unfrozen":
        p["unfrozen"] = ts
    elif action == "message_removed":
        p["removed"] = {"time": ts, "by": exim.get("by", "")}
    elif action == "message_cancelled":
        p["cancelled"] = {"time": ts, "by": exim.get("by", "")}
    elif action in ("message_rejected", "cutthrough_rejected"):
        p["rejected"] = _error_record(doc, ts)
    elif action == "spam_verdict":
        spam = exim.get("spam", {})
        p["spam"] = {"time": ts, **{k: v for k, v in spam.items() if k in ("verdict", "score")}}
    elif action == "smtp_connection_outbound":
        to = email.get("to", {}).get("address") or []
        if to:
            p["rcpt"] = {t.lower(): {} for t in to}
    return out


# --- merged partial -> summary document ----------------------------------------------------------


def _seconds_between(start: str, end: str) -> float:
    # fromisoformat, not strptime: 100 times faster, and strptime's first call costs 10 ms (a trace's).
    return round((datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds(), 3)


def _outcome(r: Partial) -> str:
    if "delivered" in r:
        return "delivered"
    if "failed" in r:
        return "failed"
    if "deferred_first" in r:
        return "deferred"
    return "pending"


def recipients_of(p: Partial) -> dict[str, Partial]:
    """The final recipients: an address that was expanded (an alias, a forward) gives way to its targets,
    unless it has an outcome of its own. Derived at read time, so the merge stays order-free."""
    rcpts: dict[str, Partial] = p.get("rcpt", {})
    parents: set[str] = set()
    for r in rcpts.values():
        parents |= r.get("originals", frozenset())
    return {a: r for a, r in rcpts.items() if a not in parents or _outcome(r) in ("delivered", "failed")}


def state_of(p: Partial) -> str:
    """The message state, derived from the merged partial alone."""
    if "removed" in p:
        return "removed"
    if "rejected" in p and "arrival" not in p:
        return "rejected"
    completed = "completed" in p
    if "frozen" in p and p["frozen"] > p.get("unfrozen", "") and p["frozen"] >= p.get("completed", ""):
        return "frozen"
    outcomes = [_outcome(r) for r in recipients_of(p).values()]
    delivered = outcomes.count("delivered")
    failed = outcomes.count("failed")
    open_ = len(outcomes) - delivered - failed
    if "cancelled" in p or (not outcomes and "arrival" not in p and "bounced_by" in p):
        return "partially_delivered" if delivered else "bounced"
    if not completed and "deferred" in outcomes:
        return "deferred"
    if completed or (outcomes and open_ == 0):
        if delivered and failed:
            return "partially_delivered"
        if failed:
            return "bounced"
        return "delivered"
    return "received"


def summary(p: Partial) -> Document:
    """The message-summary document of a (merged) partial."""
    arrival = p.get("arrival", {})
    arrival_time = arrival.get("time")
    exim: dict[str, Any] = {"state": state_of(p)}
    # A message may be known only from a bounce naming it (its own lines in another file).
    for key in ("first_seen", "last_seen"):
        if key in p:
            exim[key] = p[key]
    if arrival_time is not None:
        exim["arrival_time"], exim["arrival_time_source"] = arrival_time, "log"
    else:
        decoded = id_time(p["id"])
        if decoded is not None:
            arrival_time = exim["arrival_time"] = decoded
            exim["arrival_time_source"] = "message_id"
    for key in ("size", "protocol", "helo", "ident"):
        if key in arrival:
            exim[key] = arrival[key]
    if "completed" in p:
        exim["completed_time"] = p["completed"]
        if arrival_time is not None:
            exim["total_delay"] = _seconds_between(arrival_time, p["completed"])
    exim["attempts"] = len(p.get("attempts", ()))
    for key in ("first_deferral", "last_deferral"):
        if key in p:
            exim[key] = dict(p[key])
    if "last_error" in p:
        exim["last_error_class"] = p["last_error"]["class"]
    for key in ("spam", "rejected", "removed", "cancelled"):
        if key in p:
            exim[key] = dict(p[key])
    if "frozen" in p:
        exim["frozen_time"] = p["frozen"]
    if "bounce_of" in p:
        exim["bounce_of"] = p["bounce_of"]
    if "bounced_by" in p:
        exim["bounced_by"] = sorted(p["bounced_by"])
    recipients = []
    final = recipients_of(p)
    for addr in sorted(final):
        r = final[addr]
        rec: dict[str, Any] = {"address": addr}
        if "originals" in r:
            rec["original_address"] = sorted(r["originals"])
        rec["outcome"] = _outcome(r)
        rec["attempts"] = len(r.get("attempts", ()))
        if "delivered" in r:
            rec["delivered_time"] = r["delivered"]
            rec.update({k: v for k, v in r.get("via", {}).items() if k not in ("time", "flag")})
        if "failed" in r:
            rec["failed_time"] = r["failed"]
        if "last_error" in r:
            rec["last_error"] = {k: v for k, v in r["last_error"].items() if k != "time"}
        recipients.append(rec)
    if recipients:
        exim["recipients"] = recipients
    if "size" in arrival:
        # eximstats' delivered volume: the message's size once per `=>` line (not `->`, which shares it),
        # up to its `Completed` (eximstats forgets a message there).
        end = p.get("completed", "~")
        primary = sum(
            1
            for r in p.get("rcpt", {}).values()
            if r.get("via", {}).get("flag") == "=>" and r["via"]["time"] <= end
        )
        exim["delivered_volume"] = arrival["size"] * primary
    email: dict[str, Any] = {"local_id": p["id"]}
    sender = arrival.get("sender")
    if sender and sender != "<>":
        email["from"] = {"address": sender}
    if recipients:
        email["to"] = {"address": [r["address"] for r in recipients]}
    for key in ("subject", "message_id"):
        if key in arrival:
            email[key] = arrival[key]
    doc: Document = {"host": {"name": p["server"]}, "email": email}
    timestamp = arrival_time or p.get("first_seen")
    if timestamp is not None:
        doc["@timestamp"] = timestamp
    if "user" in arrival:
        doc["user"] = {"name": arrival["user"]}
    if "tls_version" in arrival or "tls_cipher" in arrival:
        doc["tls"] = {k: arrival[f"tls_{k}"] for k in ("version", "cipher") if f"tls_{k}" in arrival}
    source = {k: arrival[f"source_{k}"] for k in ("ip", "domain") if f"source_{k}" in arrival}
    if source:
        doc["source"] = source
    if "provider" in arrival:
        exim["remote_provider"] = arrival["provider"]
    doc["exim"] = exim
    return doc


# --- the bounded correlator ---------------------------------------------------------------------


def finished(p: Partial) -> bool:
    """True once Exim will write nothing more about the message: completed, or rejected.

    `removed by` is not the end: Exim writes `Completed` right after it, which must join the same summary."""
    return "completed" in p or ("rejected" in p and "arrival" not in p)


def key_of(p: Partial) -> tuple[str, str]:
    """The identity of a message: (server, Exim message id)."""
    return p["server"], p["id"]


class Correlator:
    """Merges events into per-message partials; hands out finished messages at once and holds at most
    `max_open` unfinished ones, evicting the oldest (as partial summaries that merge later).

    Given the position (`at`) of the entry each partial comes from, it also knows where the oldest
    share still held in memory begins: a reader may only checkpoint up to there.
    """

    def __init__(self, max_open: int = 100_000) -> None:
        self.max_open = max_open
        self.open: OrderedDict[tuple[str, str], Partial] = OrderedDict()
        self.since: dict[tuple[str, str], int] = {}

    def add(self, doc: Document) -> list[Partial]:
        """Fold one event in; returns the partials that leave memory now (finished or evicted)."""
        return self.add_partials(partials(doc))

    def add_partials(self, parts: list[Partial], at: int = 0) -> list[Partial]:
        """Fold partials in; returns those that leave memory now (finished, or evicted for the cap)."""
        out: list[Partial] = []
        for part in parts:
            key = key_of(part)
            cur = self.open.get(key)
            if cur is None:
                if len(self.open) >= self.max_open:
                    out.append(self._pop_oldest())
                merged = part
                self.since[key] = at
            else:
                merged = merge(cur, part)
            if finished(merged):
                self.open.pop(key, None)
                self.since.pop(key, None)
                out.append(merged)
            else:
                self.open[key] = merged
        return out

    def _pop_oldest(self) -> Partial:
        key, part = self.open.popitem(last=False)
        self.since.pop(key, None)
        return part

    def pop(self, key: tuple[str, str]) -> Partial | None:
        """Take one message out of memory (finished or not)."""
        self.since.pop(key, None)
        return self.open.pop(key, None)

    def oldest(self) -> int | None:
        """Where the oldest share held in memory begins (None when nothing is open)."""
        for key in self.open:  # first-seen order: the first is the oldest
            return self.since.get(key, 0)
        return None

    def older_than(self, at: int) -> list[Partial]:
        """Take out the open messages whose held share began before `at` (they merge with what follows)."""
        out: list[Partial] = []
        while self.open:
            key = next(iter(self.open))
            if self.since.get(key, 0) >= at:
                break
            out.append(self._pop_oldest())
        return out

    def drain(self) -> Iterator[Partial]:
        """Every open partial, in first-seen order, emptying the correlator."""
        while self.open:
            yield self._pop_oldest()
