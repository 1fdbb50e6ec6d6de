"""Value parsers for tagged fields: durations, sizes, host groups, TLS, quoting and addresses."""

from __future__ import annotations

import codecs
import ipaddress
import re
from functools import lru_cache
from typing import Any

from shipper.exim.data import table
from shipper.exim.grammar import HOST_LOOSE_RE, HOST_RE

_DURATION_RE = re.compile(
    r"(?P<neg>-)?(?:(?P<w>\d+)w)?(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+(?:\.\d+)?)s)?\Z"
)
_TABLE = table("fields")
_UNITS: tuple[tuple[str, int], ...] = tuple(_TABLE["duration_units"].items())


def duration(value: str) -> float | None:
    """Seconds from Exim's `[Nw][Nd][Nh][Nm][Ns]` / `1.234s` durations; None when it is not one."""
    m = _DURATION_RE.match(value)
    if m is None or not value or value == "-":
        return None
    total = 0.0
    for unit, secs in _UNITS:
        part = m.group(unit)
        if part:
            total += int(part) * secs
    if m.group("s"):
        total += float(m.group("s"))
    return -total if m.group("neg") else total


def integer(value: str) -> int | None:
    """A non-negative decimal integer, or None (test-suite placeholders such as `sss`)."""
    return int(value) if value.isdecimal() and len(value) < 19 else None


def _latin1_fallback(err: UnicodeError) -> tuple[str, int]:
    # Octal escapes of a Latin-1 subject (`F\344ltstr\366m`) are not UTF-8: show them as Latin-1.
    assert isinstance(err, UnicodeDecodeError)
    return err.object[err.start : err.end].decode("latin-1"), err.end


codecs.register_error("exim_latin1_fallback", _latin1_fallback)

_ESCAPE_RE = re.compile(r"\\(?:([0-7]{3})|(.))", re.S)
_SIMPLE_ESCAPES: dict[str, str] = _TABLE["escapes"]


def unescape(text: str) -> str:
    """Undo Exim's quoting and string_printing(): `\\\\`, `\\"`, `\\n`-style and `\\ooo` octal bytes."""
    if "\\" not in text:
        return text
    octal = False

    def repl(m: re.Match[str]) -> str:
        nonlocal octal
        if m.group(1) is not None:
            byte = int(m.group(1), 8) & 0xFF
            if byte < 0x80:
                return chr(byte)
            octal = True
            # A lone surrogate marks the byte so it is re-decoded together with its neighbours.
            return chr(0xDC00 + byte)
        ch = m.group(2)
        return _SIMPLE_ESCAPES.get(ch, "\\" + ch)

    out = _ESCAPE_RE.sub(repl, text)
    if not octal:
        return out
    # Octal escapes are bytes: rebuild them (and any raw text) as bytes and decode as UTF-8,
    # falling back to Latin-1 for the bytes that are not valid UTF-8.
    raw = out.encode("utf-8", "surrogateescape")
    return raw.decode("utf-8", "exim_latin1_fallback")


def unquote(value: str) -> str:
    """Strip the surrounding double quotes of a quoted field and unescape its content."""
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        return unescape(value[1:-1])
    return unescape(value.lstrip('"'))


def strip_angle(value: str) -> str:
    """`<addr>` -> `addr` (an unbalanced bracket is kept as logged)."""
    if len(value) >= 2 and value[0] == "<" and value[-1] == ">":
        return value[1:-1]
    return value


def ipv4_octets(text: str) -> tuple[int, int, int, int] | None:
    """The four octets of a dotted-quad IPv4 address (strict: no leading zeros), else None."""
    parts = text.split(".")
    if len(parts) != 4:
        return None
    octets = []
    for part in parts:
        if not part.isdecimal() or len(part) > 3 or (part[0] == "0" and part != "0"):
            return None
        value = int(part)
        if value > 255:
            return None
        octets.append(value)
    return octets[0], octets[1], octets[2], octets[3]


@lru_cache(maxsize=8192)
def ip_facts(text: str) -> tuple[str, int] | None:
    """The canonical form and version of an IP address, or None when `text` is not one."""
    if ipv4_octets(text) is not None:
        return text, 4  # a strict dotted quad is already canonical
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return None
    return str(addr), addr.version


def host_group(text: str, pos: int = 0) -> tuple[dict[str, Any], int] | None:
    """Parse an `H=` group at `pos`: returns ({name, helo, ip, port, ...}, end) or None."""
    m = HOST_RE.match(text, pos)
    if m is not None:
        name, helo, ip, port = m.group("name"), m.group("helo"), m.group("ip"), m.group("port")
        out: dict[str, Any] = {"address": ip}
        if name:
            out["name"] = name
        if helo is not None:
            out["helo"] = helo
        if m.group("ds"):
            out["dnssec"] = True
    else:
        m = HOST_LOOSE_RE.match(text, pos)
        if m is None:
            return None
        ip, port = m.group("ip"), m.group("port")
        out = {"address": ip, "raw": m.group("raw").strip()}
    if port:
        out["port"] = int(port) if port.isdecimal() else port
    if m.group("reuse"):
        out["connection_reused"] = True
    return out, m.end()


_INTERFACE_RE = re.compile(r"\[(?P<ip>[^\]]*)\](?::(?P<port>\w+))?\Z|(?P<bare>[0-9A-Fa-f:.]+)\Z")


def interface(value: str) -> dict[str, Any]:
    """`[ip]:port` (I=, PRX= on deliveries) or a bare `ip` (PRX= on arrivals) -> {ip, port}."""
    m = _INTERFACE_RE.match(value)
    if m is None:
        return {"address": value}
    out: dict[str, Any] = {"address": m.group("ip") if m.group("bare") is None else m.group("bare")}
    port = m.group("port")
    if port:
        # A service name (`:smtp`) or test placeholder must not land in the numeric port field.
        if port.isdecimal():
            out["port"] = int(port)
        else:
            out["port_name"] = port
    return out


def tls_cipher(value: str) -> dict[str, Any]:
    """`X=` -> version, protocol, cipher, bits, key-exchange group and resumption flag."""
    out: dict[str, Any] = {}
    if value.endswith("*"):
        out["resumed"] = True
        value = value[:-1]
    parts = value.split(":")
    proto = parts[0]
    upper = proto.upper()
    if upper.startswith(("TLS", "SSL")):
        out["version_protocol"] = upper[:3].lower()
        version = proto[3:].lstrip("vV")
        if version and "." not in version:
            version += ".0"
        if version:
            out["version"] = version
    else:
        out["version_protocol"] = proto
    if len(parts) > 1 and parts[1]:
        out["cipher"] = parts[1]
    if len(parts) > 2:
        bits = integer(parts[2])
        if bits is not None:
            out["bits"] = bits
    if len(parts) > 3 and parts[3]:
        out["kex_group"] = parts[3]
    return out


def auth(value: str) -> dict[str, str]:
    """`A=authenticator[:id[:sender]]` -> its parts (the id is client-chosen and kept as sent)."""
    parts = value.split(":", 2)
    out = {"authenticator": parts[0]}
    if len(parts) > 1 and parts[1]:
        out["id"] = parts[1]
    if len(parts) > 2 and parts[2]:
        out["sender"] = parts[2]
    return out


def address_parts(address: str) -> tuple[str, str] | None:
    """Split `local@domain` at the last `@`; None for bare local parts, pipes and files."""
    at = address.rfind("@")
    if at <= 0 or at == len(address) - 1:
        return None
    return address[:at], address[at + 1 :].lower()
