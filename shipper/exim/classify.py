"""SMTP error taxonomy: error text + basic code + enhanced code + errno -> class, permanence and hint."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, NamedTuple

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

_STAGES: tuple[tuple[str, str], ...] = (
    ("pipelined rcpt", "rcpt"),
    ("pipelined mail", "mail"),
    ("pipelined", "data"),
    ("mail from", "mail"),
    ("rcpt to", "rcpt"),
    ("end of data", "data"),
    ("data", "data"),
    ("bdat", "data"),
    ("initial connection", "connect"),
    ("connect", "connect"),
    ("ehlo", "helo"),
    ("helo", "helo"),
    ("lhlo", "helo"),
    ("starttls", "tls"),
    ("tls", "tls"),
    ("auth", "auth"),
    ("quit", "data"),
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
    enhanced: re.Pattern[str] | None = None  # specific RFC 3463 codes that decide on their own
    errnos: frozenset[str] = frozenset()  # Exim's `defer (N)` numbers (positive: system errno)
    text: re.Pattern[str] | None = None  # case-insensitive patterns on the error text
    temporary: bool | None = None  # None: decided by the SMTP code or the line (== vs **)


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.I)


# Ordered: the first class whose enhanced code matches wins; then errno; then text.
TAXONOMY: tuple[ErrorClass, ...] = (
    ErrorClass(
        "retry_time_not_reached",
        "Not a new failure: Exim is waiting for the retry time of an earlier error on this host or "
        "address; look at the first deferral of the message for the real reason.",
        text=_rx(r"retry time not reached"),
        temporary=True,
    ),
    ErrorClass(
        "retry_timeout_exceeded",
        "The message was deferred for longer than the retry rules allow and has been bounced; "
        "find the repeated deferral reason for this destination and fix that.",
        text=_rx(r"retry timeout exceeded|has been failing for too long|all hosts .* have been failing"),
        temporary=False,
    ),
    ErrorClass(
        "sender_verify_failed",
        "The recipient's server could not verify the envelope sender: check that the sender address "
        "exists, its domain has valid MX/A records, and that callouts to this server succeed.",
        text=_rx(
            r"sender verif|verification for <|unable to verify (?:sender )?address|could not complete "
            r"sender verify|sender address rejected|sender (?:domain )?(?:not|does not) exist|"
            r"sender callout"
        ),
    ),
    ErrorClass(
        "recipient_verify_failed",
        "Verifying the recipient failed (callout or routing); check that the address exists on the "
        "destination and that the destination's MX answers callouts.",
        text=_rx(r"recipient verif|recipient callout|callout verification fail"),
    ),
    ErrorClass(
        "rate_limited",
        "The receiving provider is throttling mail from this server's IP; slow down, check for a "
        "compromised account sending bulk mail, and follow the provider's postmaster guidelines.",
        enhanced=_rx(r"^4\.7\.28$|^4\.2\.1$"),
        text=_rx(
            r"rate.?limit|unusual rate|too many (?:messages|mails|e-?mails|connections|concurrent|recipients|"
            r"sessions)|receiving mail (?:at a rate|too quickly)|throttl|temporarily deferred|"
            r"permanently deferred|\[(?:TS|GL|TSS)\d\d\]|sending rate|ratelimit|try again later.{0,40}volume|"
            r"exceeded the (?:rate|number)|sender rate"
        ),
    ),
    ErrorClass(
        "greylisted",
        "Greylisting: the remote server wants a retry later; this resolves itself, act only if the "
        "same message keeps being deferred for hours.",
        text=_rx(
            r"grey.?list|gray.?list|greylisted|please try again later \(#4\.|try again in \d+ (?:sec|min)"
        ),
        temporary=True,
    ),
    ErrorClass(
        "client_host_rejected",
        "The remote server refuses this sending host for now, typically because its IP has no or a "
        "mismatching reverse DNS (PTR) name; fix the PTR record of the sending IP.",
        text=_rx(
            r"client host rejected|cannot find your (?:host ?name|reverse)|reverse (?:dns|lookup)|"
            r"\bno ptr\b|ptr record|rdns"
        ),
        temporary=None,
    ),
    ErrorClass(
        "blacklisted",
        "The sending IP or domain is on a DNS blocklist; look it up on the list named in the text, "
        "remove the cause (compromised account, open relay) and request delisting.",
        enhanced=_rx(r"^5\.7\.(?:25|51)$"),
        text=_rx(
            r"black.?list|block.?list|\bblocked (?:using|by|because)|\bdnsbl\b|\brbl\b|spamhaus|spamcop|"
            r"barracuda|sorbs|uceprotect|listed (?:at|in|on|by) |is in an rbl|poor reputation|"
            r"\bon our block|ip .{0,40} (?:is )?block(?:ed|listed)"
        ),
    ),
    ErrorClass(
        "relay_denied",
        "The server refused to relay: the client must authenticate (SMTP AUTH) or the recipient "
        "domain is not local/relayed there; check the mail client's outgoing-server settings.",
        text=_rx(
            r"relay(?:ing)? (?:not permitted|denied|access denied|not allowed)|not permitted to relay|"
            r"unable to relay|authentication required|turn on smtp authentication|must (?:be )?authenticat|"
            r"relay not permitted|we do not relay|relaying prohibited"
        ),
    ),
    ErrorClass(
        "unroutable_domain",
        "The domain cannot be routed: it has no MX/A/AAAA records or does not exist; check its DNS "
        "zone (dig mx) and the spelling of the domain.",
        enhanced=_rx(r"^5\.1\.(?:2|10)$|^5\.4\.4$"),
        text=_rx(
            r"no A, ?AAAA,? or MX|no (?:mx|dns) records?|unrouteable|unroutable|"
            r"domain (?:does not|doesn't) exists?|domain not found|host (?:or domain name )?not found|"
            r"all relevant MX records point to non-existent hosts|lowest numbered MX record points to local"
            r"|name or service not known|no such domain|nxdomain|domain (?:name )?(?:is )?invalid"
        ),
    ),
    ErrorClass(
        "unknown_user",
        "The mailbox does not exist at the destination: check the recipient address for typos and "
        "whether the account was removed.",
        enhanced=_rx(r"^5\.1\.1$|^5\.1\.6$"),
        text=_rx(
            r"user unknown|unknown user|no such (?:user|mailbox|recipient)|does not exist|doesn't exist|"
            r"invalid (?:recipient|mailbox)|mailbox (?:unavailable|not found)|addressee unknown|"
            r"recipient (?:address )?rejected|recipient unknown|unknown (?:recipient|local part|address)|"
            r"account (?:is )?(?:disabled|inactive)"
        ),
    ),
    ErrorClass(
        "mailbox_full",
        "The recipient's mailbox is over quota: the recipient must free space or have the quota raised.",
        enhanced=_rx(r"^[45]\.2\.2$"),
        text=_rx(
            r"mailbox (?:is )?full|over ?quota|quota (?:exceeded|full)|exceeded (?:storage|quota)|"
            r"mailbox size limit|user.{0,20}quota"
        ),
    ),
    ErrorClass(
        "storage_limit_exceeded",
        "The destination refuses more mail for the mailbox or domain (size/storage limit); the "
        "recipient side must free space, retrying later may succeed.",
        enhanced=_rx(r"^4\.3\.1$"),
        text=_rx(
            r"(?:domain|storage) size limit|size limit exceeded|insufficient (?:system )?storage|"
            r"out of (?:disk|storage)"
        ),
    ),
    ErrorClass(
        "message_too_big",
        "The message exceeds a size limit: reduce attachments, or raise message_size_limit if the "
        "limit is local.",
        enhanced=_rx(r"^[45]\.3\.4$|^5\.2\.3$"),
        text=_rx(
            r"message (?:size )?(?:is )?too (?:big|large)|message size exceeds|exceeds (?:the )?"
            r"(?:maximum|size)|size exceeds|message too big|too big for"
        ),
    ),
    ErrorClass(
        "virus_content",
        "A virus scanner rejected the content; check the sender's machine or account for malware.",
        text=_rx(r"virus|malware|infected|trojan|\bworm\b|harmful content"),
    ),
    ErrorClass(
        "spam_content",
        "The content was judged spam; check the message body, links and authentication "
        "(SPF/DKIM/DMARC) and whether the sending account is compromised.",
        enhanced=_rx(r"^5\.7\.(?:350|509)$"),
        text=_rx(
            r"spam|junk|content (?:restriction|rejected|filter)|rejected due to content|"
            r"suspicious|phish|unsolicited|bulk mail"
        ),
    ),
    ErrorClass(
        "authentication_failed",
        "SMTP AUTH failed: wrong user name or password, or the account is suspended; repeated "
        "failures from one IP are a brute-force attempt.",
        enhanced=_rx(r"^5\.7\.8$|^4\.7\.8$"),
        text=_rx(
            r"authentication (?:failed|unsuccessful|credentials invalid)|incorrect authentication|"
            r"authenticator failed|invalid credentials|\b535\b"
        ),
    ),
    ErrorClass(
        "connection_refused",
        "The remote host refused the TCP connection: the mail server there is down or firewalled "
        "on port 25; outbound port 25 may be blocked by the hosting network.",
        errnos=frozenset({"111", "146", "61"}),
        text=_rx(r"connection refused"),
    ),
    ErrorClass(
        "timeout",
        "A connection or SMTP command timed out: the remote server is slow or unreachable, or a "
        "firewall silently drops the traffic.",
        errnos=frozenset({"110", "145", "60"}),
        text=_rx(r"timed? ?out|timeout"),
    ),
    ErrorClass(
        "network_error",
        "The network path failed (reset, unreachable, closed connection); usually transient, look "
        "for a pattern by destination.",
        errnos=frozenset({"-18", "101", "104", "113"}),
        text=_rx(
            r"network is unreachable|no route to host|connection reset|closed connection|"
            r"broken pipe|network error|remote host closed"
        ),
    ),
    ErrorClass(
        "tls_failure",
        "TLS could not be negotiated: check certificates, protocol versions and ciphers on both "
        "sides (tls_require_ciphers, expired or self-signed certificates).",
        text=_rx(r"\btls\b|\bssl\b|starttls|certificate|handshake|\bdane\b|gnutls|openssl"),
    ),
    ErrorClass(
        "bad_helo",
        "The HELO/EHLO name was rejected: make the server's HELO a fully qualified name that "
        "resolves to its sending IP (cPanel: /etc/mailhelo).",
        text=_rx(r"\bhelo\b|\behlo\b|impersonat"),
    ),
    ErrorClass(
        "local_delivery_failure",
        "Delivery on this server failed: check ownership and permissions of the mailbox path, the "
        "account's disk quota, and tainted-path errors in the transport configuration.",
        text=_rx(
            r"permission denied|tainted|not owned|failed to (?:lock|open|create)|no such file or "
            r"directory|operation not permitted|disk quota|input/output error|mkdir|appendfile|"
            r"transport process returned|read-only file system|quota"
        ),
    ),
    ErrorClass(
        "temporary_local_problem",
        "The remote server reported a temporary problem on its side; retrying usually succeeds "
        "within minutes.",
        text=_rx(
            r"local problem|local error|try (?:again )?later|temporar(?:y|ily) (?:error|failure|"
            r"unavailable)|service (?:temporarily )?unavailable|system (?:busy|overload)"
        ),
        temporary=True,
    ),
    ErrorClass(
        "policy_rejection",
        "The receiving side's policy refused the mail (content, sender or authentication rules); "
        "read the response text and the provider's postmaster pages.",
        enhanced=_rx(r"^5\.7\.(?:\d+)$"),
        text=_rx(r"policy|prohibited|not allowed|denied|administrative|rejected|not accepted|refused"),
    ),
)
_BY_NAME = {c.name: c for c in TAXONOMY}

GENERIC_TEMPORARY = "temporary_failure"
GENERIC_PERMANENT = "permanent_failure"
_GENERIC_HINTS = {
    GENERIC_TEMPORARY: "A temporary failure the taxonomy does not recognise; read the error text, "
    "Exim retries automatically.",
    GENERIC_PERMANENT: "A permanent failure the taxonomy does not recognise; read the error text.",
}
# When nothing more specific matched, the basic code alone still says something.
_CODE_DEFAULTS = {
    450: "client_host_rejected",
    451: "temporary_local_problem",
    452: "storage_limit_exceeded",
    535: "authentication_failed",
    554: "policy_rejection",
}
# Context classes decided by the line itself, not its text (e.g. a `sender verify` line).
_CONTEXT_CLASSES = {
    "sender_verify": "sender_verify_failed",
    "recipient_verify": "recipient_verify_failed",
    "auth": "authentication_failed",
    "tls": "tls_failure",
    "helo": "bad_helo",
    "size": "message_too_big",
    "relay": "relay_denied",
}


# Routers that look a domain up in the DNS (or hand it on): a failure there is about the remote domain.
_REMOTE_ROUTER = _rx(r"lookup|dns|remote|smarthost|manualroute|smtp")
# Routers of local domains (aliases, forwards, local and virtual users, cPanel's routers).
_LOCAL_ROUTER = _rx(r"alias|forward|local|user|virtual|system|mailman|boxtrapper")
_LOCAL_HINTS = {
    "unroutable_domain": "No router of this server accepted the address of a local domain: it is not a "
    "mailbox, alias or forwarder here (or an alias points to one that is not); check the account and "
    "alias lists (/etc/valiases/<domain> on cPanel), not DNS.",
}


def routed_locally(router: str | None) -> bool:
    """True when a local router (alias, forward, local or virtual user), not a DNS look-up, gave up on the
    address: the domain is one of this server's, so its DNS is not the problem."""
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
    chosen: ErrorClass | None = None
    if context in _CONTEXT_CLASSES:
        chosen = _BY_NAME[_CONTEXT_CLASSES[context]]
    if chosen is None and enhanced:
        for cls in TAXONOMY:
            if cls.enhanced is not None and cls.enhanced.search(enhanced) and cls.name != "policy_rejection":
                chosen = cls
                break
    if chosen is None and errno:
        for cls in TAXONOMY:
            if errno in cls.errnos:
                chosen = cls
                break
    if chosen is None and text:
        for cls in TAXONOMY:
            if cls.text is not None and cls.text.search(text):
                chosen = cls
                break
    if chosen is None and smtp_code in _CODE_DEFAULTS:
        chosen = _BY_NAME[_CODE_DEFAULTS[smtp_code]]
    if chosen is None and enhanced and enhanced[2:4] == "7.":
        chosen = _BY_NAME["policy_rejection"]
    if chosen is None and default is not None:
        chosen = _BY_NAME[default]
    if chosen is None:
        is_temp = bool(temporary)
        return (GENERIC_TEMPORARY if is_temp else GENERIC_PERMANENT), is_temp
    if chosen.temporary is not None and smtp_code is None:
        temporary = chosen.temporary
    return chosen.name, bool(temporary)
