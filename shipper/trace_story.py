"""How a trace reads, from files or the index: a message's summary as aligned rows, and the row that
closes the lines belonging to no message."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def _fmt_delay(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.3f}s"
    s = int(seconds)
    parts = [(s // 86400, "d"), (s % 86400 // 3600, "h"), (s % 3600 // 60, "m"), (s % 60, "s")]
    return "".join(f"{v}{u}" for v, u in parts if v)


def render_summary(doc: dict[str, Any], extra: Sequence[tuple[str, str]] = ()) -> str:
    """A few aligned lines: state, sender, subject, timing, one line per recipient, then `extra` rows."""
    exim, email = doc["exim"], doc["email"]
    rows: list[tuple[str, str]] = [
        ("message", f"{email['local_id']} on {doc['host']['name']}"),
        ("state", exim["state"]),
    ]
    rows.append(("from", email.get("from", {}).get("address", "<> (bounce)")))
    if "subject" in email:
        rows.append(("subject", email["subject"]))
    arrived = exim.get("arrival_time")
    if arrived:
        src = " (decoded from the message id)" if exim.get("arrival_time_source") == "message_id" else ""
        rows.append(("arrived", arrived + src))
    if "completed_time" in exim:
        delay = f" after {_fmt_delay(exim['total_delay'])}" if "total_delay" in exim else ""
        rows.append(("completed", exim["completed_time"] + delay))
    rows.append(("attempts", str(exim.get("attempts", 0))))
    for key, label in (("first_deferral", "first deferral"), ("last_deferral", "last deferral")):
        if key in exim:
            d = exim[key]
            rows.append((label, f"{d['time']} {d['class']}: {d.get('text', '')}"))
    if "spam" in exim:
        rows.append(("spam", f"{exim['spam'].get('verdict', '?')} ({exim['spam'].get('score', '?')})"))
    if "bounce_of" in exim:
        rows.append(("bounce of", exim["bounce_of"]))
    if exim.get("bounced_by"):
        rows.append(("bounced by", ", ".join(exim["bounced_by"])))
    for r in exim.get("recipients", []):
        detail = r.get("host") or r.get("transport") or ""
        if "last_error" in r and r["outcome"] != "delivered":
            detail = f"{r['last_error']['class']}: {r['last_error'].get('text', '')}"
        address = " ".join([r["address"], *(f"<{a}>" for a in r.get("original_address", []))])
        rows.append(("recipient", f"{address}  {r['outcome']}  {detail}".rstrip()))
    rows.extend(extra)
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"  {k:<{width}}  {v}" for k, v in rows)


def session_row(count: int) -> str:
    """What closes a group of lines that belong to no message, in place of a summary."""
    lines = f"{count} line{'s' if count != 1 else ''}"
    return f"  no message id  {lines} of SMTP sessions or the daemon (refusals, connections)"
