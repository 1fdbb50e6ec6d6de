"""One event -> the partial summaries it contributes: to its own message, and to the message it bounces."""

from __future__ import annotations

from typing import Any

from shipper.messages.merge import Document, Partial


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


_ARRIVALS = frozenset({"message_arrived", "message_arrived_fakereject"})
_DELIVERIES = frozenset(
    {
        "delivered",
        "delivered_additional",
        "delivered_cutthrough",
        "delivery_suppressed",
        "delivery_failed",
        "delivery_deferred",
    }
)
# Status lines that only stamp a time, and those that also say who did it.
_STAMPS = {"message_completed": "completed", "message_frozen": "frozen", "message_unfrozen": "unfrozen"}
_BY_WHOM = {"message_removed": "removed", "message_cancelled": "cancelled"}


def _known(pairs: tuple[tuple[str, Any], ...]) -> dict[str, Any]:
    return {key: value for key, value in pairs if value is not None}


def _arrival(doc: Document, p: Partial, ts: str) -> Partial | None:
    """An arrival's facts; returns the partial of the message it bounces, if it is a bounce."""
    email, exim = doc.get("email", {}), doc.get("exim", {})
    p["arrival"] = {
        "time": ts,
        "sender": email.get("from", {}).get("address", "<>"),
        **_known(
            (
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
            )
        ),
    }
    rcpts = email.get("to", {}).get("address") or []
    if rcpts:
        p["rcpt"] = {r.lower(): {} for r in rcpts}
    bounce_of = exim.get("bounce_of")
    if not bounce_of:
        return None
    p["bounce_of"] = bounce_of
    return {"server": p["server"], "id": bounce_of, "bounced_by": frozenset({p["id"]})}


def _via(doc: Document, ts: str) -> dict[str, Any]:
    """Where a delivery went: flag, router, transport, host and its provider."""
    exim, dest = doc.get("exim", {}), doc.get("destination", {})
    return {
        "time": ts,
        **_known(
            (
                ("flag", exim.get("flag")),
                ("router", exim.get("router")),
                ("transport", exim.get("transport")),
                ("host", dest.get("domain")),
                ("ip", dest.get("ip")),
                ("provider", exim.get("remote", {}).get("provider")),
            )
        ),
    }


def _delivery(doc: Document, action: str, p: Partial, ts: str) -> None:
    """A delivery, failure or deferral: the recipient's outcome, and the message's errors and attempts."""
    target = _rcpt_key(doc)
    if target is None:
        return
    rcpt, original = target
    r: Partial = {} if original is None else {"originals": frozenset({original})}
    if action == "delivery_failed":
        r["failed"] = ts
        r["first_error"] = r["last_error"] = _error_record(doc, ts)
        p["last_error"] = r["last_error"]
    elif action == "delivery_deferred":
        r["deferred_first"] = ts
        rec = _error_record(doc, ts)
        r["first_error"] = r["last_error"] = rec
        p["first_deferral"] = p["last_deferral"] = p["last_error"] = rec
    else:
        r["delivered"] = ts
        r["via"] = _via(doc, ts)
    # A skipped retry is not an attempt: Exim did not try the host.
    if doc.get("exim", {}).get("error", {}).get("class") != "retry_time_not_reached":
        r["attempts"] = frozenset({ts})
        p["attempts"] = frozenset({ts})
    p["rcpt"] = {rcpt: r}


def _status(doc: Document, action: str, p: Partial, ts: str) -> None:
    """Completed, frozen, removed, rejected, spam verdicts and cPanel's outbound recipients."""
    exim = doc.get("exim", {})
    if action in _STAMPS:
        p[_STAMPS[action]] = ts
    elif action in _BY_WHOM:
        p[_BY_WHOM[action]] = {"time": ts, "by": exim.get("by", "")}
    elif action in ("message_rejected", "cutthrough_rejected"):
        p["rejected"] = _error_record(doc, ts)
    elif action == "spam_verdict":
        spam = exim.get("spam", {})
        p["spam"] = {"time": ts, **{k: v for k, v in spam.items() if k in ("verdict", "score")}}
    elif action == "smtp_connection_outbound":
        to = doc.get("email", {}).get("to", {}).get("address") or []
        if to:
            p["rcpt"] = {t.lower(): {} for t in to}


def partials(doc: Document) -> list[Partial]:
    """The partial summaries one event contributes (a bounce arrival touches two messages)."""
    local_id = doc.get("email", {}).get("local_id")
    ts = doc.get("@timestamp")
    if not local_id or ts is None:
        return []
    server = doc.get("host", {}).get("name", "")
    action = doc["event"]["action"]
    p: Partial = {"server": server, "id": local_id, "first_seen": ts, "last_seen": ts}
    out = [p]
    if action in _ARRIVALS:
        bounced = _arrival(doc, p, ts)
        if bounced is not None:
            out.append(bounced)
    elif action in _DELIVERIES:
        _delivery(doc, action, p, ts)
    else:
        _status(doc, action, p, ts)
    return out
