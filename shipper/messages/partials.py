"""One event -> the partial summaries it contributes: to its own message, and to the message it bounces."""

from __future__ import annotations

from typing import Any

from shipper.exim.event import Document
from shipper.messages.merge import Partial


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
            r["deferred_first"] = ts
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
