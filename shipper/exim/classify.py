"""SMTP error taxonomy: error text + basic code + enhanced code + errno -> class, permanence and hint."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, NamedTuple

from shipper.exim.data import table
from shipper.exim.fields import unescape

# --- pulling the facts out of Exim's error texts -------------------------------------------

_SMTP_ERROR_RE = re.compile(
    # An address in `MAIL FROM:<…>` may hold `: host x [ip]: ` inside quotes: lexed as one unit.
    r"SMTP error from remote (?:mail server|mailer) after "
    r'(?P<after>(?:[^:<]|:(?!\s)|<(?:"[^"]*"|[^>"])*>)*?):\s'
    r"(?:host (?P<host>[^\s\[]+) ?\[(?P<ip>[^\]]*)\]:\s)?(?P<resp>.*)",
    re.S,
)
_AFTER_RE = re.compile(
    r"(?:SMTP timeout|timed out|Remote host closed connection|closed connection) "
    r"(?:in response to |after |while )(?P<after>[A-Za-z][A-Za-z ]*)"
)
_CODE_RE = re.compile(r"(?P<code>[245]\d\d)(?:[-\s]+(?P<enh>[245]\.\d{1,3}\.\d{1,3})\b)?")
_LEAD_CODE_RE = re.compile(r"^\s*[245]\d\d(?:[-\s]+[245]\.\d{1,3}\.\d{1,3})?[-\s]?", re.M)
# An enhanced code stands where SMTP puts it: right after the basic code, or (in an ACL message that
# carries no basic code) at the very start. One found in prose ("See RFC2821 4.1.1.1", an IP) is not one.
_LEAD_ENH_RE = re.compile(r"\s*(?P<enh>[245]\.\d{1,3}\.\d{1,3})(?=\s|$)")

_TABLE = table("taxonomy")
_STAGES: tuple[tuple[str, str], ...] = tuple(
    (row["prefix"], row["stage"]) for row in _TABLE["command_stages"]
)


def stage_of(after: str) -> str | None:
    """Map Exim's `after RCPT TO:<…>`-style command names to a transaction stage."""
    low = after.lower()
    for prefix, stage in _STAGES:
        if low.startswith(prefix):
            return stage
    return None


def clean_response(resp: str) -> str:
    """A multi-line SMTP reply (`550-a\\n550 b`) as one line of text without its codes."""
    text = unescape(resp).replace("\r", "")
    text = _LEAD_CODE_RE.sub("", text)
    return " ".join(text.split())


def smtp_error(message: str) -> dict[str, Any]:
    """Facts from an error text: stage, remote host, SMTP code, enhanced code, response text."""
    out: dict[str, Any] = {}
    m = _SMTP_ERROR_RE.search(message)
    if m is not None:
        stage = stage_of(m.group("after"))
        if stage:
            out["stage"] = stage
        if m.group("host"):
            out["host"] = m.group("host")
            out["host_ip"] = m.group("ip")
        resp = m.group("resp")
        cm = _CODE_RE.match(resp.lstrip())
        if cm is not None:
            out["smtp_code"] = int(cm.group("code"))
            if cm.group("enh"):
                out["enhanced_code"] = cm.group("enh")
        out["text"] = clean_response(resp)
        return out
    am = _AFTER_RE.search(message)
    if am is not None:
        stage = stage_of(am.group("after"))
        if stage:
            out["stage"] = stage
    return out


def response_codes(text: str) -> dict[str, Any]:
    """SMTP code and enhanced code leading a response (`550 5.1.1 …`), for ACL/auth texts."""
    out: dict[str, Any] = {}
    cm = _CODE_RE.match(text.lstrip())
    if cm is not None:
        out["smtp_code"] = int(cm.group("code"))
        if cm.group("enh"):
            out["enhanced_code"] = cm.group("enh")
    else:
        em = _LEAD_ENH_RE.match(text)
        if em is not None:
            out["enhanced_code"] = em.group("enh")
    return out


# --- the taxonomy ---------------------------------------------------------------------------


class ErrorClass(NamedTuple):
    """One class of the taxonomy and how it is recognised."""

    name: str
    hint: str
    enhanced: frozenset[str] = frozenset()  # specific RFC 3463 codes that decide on their own
    errnos: frozenset[str] = frozenset()  # Exim's `defer (N)` numbers (positive: system errno)
    text: re.Pattern[str] | None = None  # case-insensitive patterns on the error text
    temporary: bool | None = None  # None: decided by the SMTP code or the line (== vs **)


def _rx(alternatives: list[str]) -> re.Pattern[str] | None:
    return re.compile("|".join(alternatives), re.I) if alternatives else None


def _error_class(row: dict[str, Any]) -> ErrorClass:
    return ErrorClass(
        row["name"],
        row["hint"],
        enhanced=frozenset(row["enhanced"]),
        errnos=frozenset(row["errnos"]),
        text=_rx(row["text"]),
        temporary=row["temporary"],
    )


# Ordered: the first class whose enhanced code matches wins; then errno; then text.
TAXONOMY: tuple[ErrorClass, ...] = tuple(_error_class(row) for row in _TABLE["classes"])
_BY_NAME = {c.name: c for c in TAXONOMY}

GENERIC_TEMPORARY: str = _TABLE["generic"]["temporary"]["name"]
GENERIC_PERMANENT: str = _TABLE["generic"]["permanent"]["name"]
_GENERIC_HINTS: dict[str, str] = {row["name"]: row["hint"] for row in _TABLE["generic"].values()}
# When nothing more specific matched, the basic code alone still says something.
_CODE_DEFAULTS = {int(code): name for code, name in _TABLE["code_defaults"].items()}
# Context classes decided by the line itself, not its text (e.g. a `sender verify` line).
_CONTEXT_CLASSES: dict[str, str] = _TABLE["context_classes"]
# Classes of a failure to reach the host at all: their stage is the connection.
CONNECT_CLASSES = frozenset(_TABLE["connect_classes"])

# Routers that look a domain up in the DNS (or hand it on): a failure there is about the remote domain.
_REMOTE_ROUTER = _rx(_TABLE["routers"]["remote"])
# Routers of local domains (aliases, forwards, local and virtual users, cPanel's routers).
_LOCAL_ROUTER = _rx(_TABLE["routers"]["local"])
_LOCAL_HINTS: dict[str, str] = _TABLE["local_hints"]


def routed_locally(router: str | None) -> bool:
    """True when a local router (alias, forward, local or virtual user), not a DNS look-up, gave up on the
    address: the domain is one of this server's, so its DNS is not the problem."""
    assert _LOCAL_ROUTER is not None and _REMOTE_ROUTER is not None  # both lists are non-empty
    return (
        bool(router)
        and _LOCAL_ROUTER.search(router or "") is not None
        and not _REMOTE_ROUTER.search(router or "")
    )


def hint_for(name: str, *, local: bool = False) -> str:
    """The one-sentence remedy for a class name (for a local domain, when that changes the remedy)."""
    if local and name in _LOCAL_HINTS:
        return _LOCAL_HINTS[name]
    cls = _BY_NAME.get(name)
    return cls.hint if cls is not None else _GENERIC_HINTS.get(name, _GENERIC_HINTS[GENERIC_PERMANENT])


def _specific_class(
    text: str, enhanced: str | None, errno: str | None, context: str | None
) -> ErrorClass | None:
    """Steps 1 to 4 of docs/fields.md section 4: the line's context, enhanced code, errno, text."""
    if context in _CONTEXT_CLASSES:
        return _BY_NAME[_CONTEXT_CLASSES[context]]
    if enhanced:
        for cls in TAXONOMY:
            if enhanced in cls.enhanced:
                return cls
    if errno:
        for cls in TAXONOMY:
            if errno in cls.errnos:
                return cls
    if text:
        for cls in TAXONOMY:
            if cls.text is not None and cls.text.search(text):
                return cls
    return None


def _fallback_class(smtp_code: int | None, enhanced: str | None, default: str | None) -> ErrorClass | None:
    """Steps 5 to 7: the basic code alone, any `x.7.x` enhanced code, the line type's default."""
    if smtp_code in _CODE_DEFAULTS:
        return _BY_NAME[_CODE_DEFAULTS[smtp_code]]
    if enhanced and enhanced[2:4] == "7.":
        return _BY_NAME["policy_rejection"]
    if default is not None:
        return _BY_NAME[default]
    return None


@lru_cache(maxsize=16384)
def classify(
    text: str,
    *,
    smtp_code: int | None = None,
    enhanced: str | None = None,
    errno: str | None = None,
    temporary: bool | None = None,
    context: str | None = None,
    default: str | None = None,
) -> tuple[str, bool]:
    """Decide (class, temporary) for an error. `temporary` is the line's own verdict, if any.

    Memoised: remote replies and ACL messages repeat across a log, and the taxonomy is a chain
    of case-insensitive searches.
    """
    if smtp_code is not None:
        temporary = smtp_code < 500
    elif enhanced:
        temporary = enhanced[0] == "4"
    chosen = _specific_class(text, enhanced, errno, context) or _fallback_class(smtp_code, enhanced, default)
    if chosen is None:
        is_temp = bool(temporary)
        return (GENERIC_TEMPORARY if is_temp else GENERIC_PERMANENT), is_temp
    if chosen.temporary is not None and smtp_code is None:
        temporary = chosen.temporary
    return chosen.name, bool(temporary)
