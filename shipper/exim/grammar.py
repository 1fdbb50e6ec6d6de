"""Compiled patterns of Exim's log grammar: entry prefix, message ids, host groups and tagged fields."""

from __future__ import annotations

import re

B62 = "[0-9A-Za-z]"
# 23-char ids (Exim >= 4.97, 6-11-4) and 16-char ids (<= 4.96, 6-6-2) coexist after an upgrade.
MSGID = rf"{B62}{{6}}-(?:{B62}{{11}}-{B62}{{4}}|{B62}{{6}}-{B62}{{2}})"
MSGID_RE = re.compile(MSGID)
MSGID_FULL_RE = re.compile(rf"{MSGID}\Z")

# date time[.mmm][ +hhmm][ [pid]][ msgid] body -- the zone comes after the milliseconds.
PREFIX_RE = re.compile(
    r"(?P<date>\d{4}-\d\d-\d\d) (?P<hm>\d\d:\d\d):(?P<sec>\d\d)"
    r"(?:\.(?P<ms>\d{3}))?"
    r"(?: (?P<tz>[+-]\d{4}))?"
    r"(?: \[(?P<pid>\d{1,10})\])?"
    rf"(?: (?P<id>{MSGID})(?= |$))?"
    r" ?",
    re.ASCII,  # Exim writes ASCII digits; the core reads only those (a `+١000` is not a zone)
)

# The remote host group. Inbound: `name (helo) [ip]:port`, `(helo) [ip]`, `[ip]`; outbound:
# `name [ip]:port*`, `name DS [ip]`. The HELO is client-chosen, so it is matched lazily up to
# the `) [` that precedes the address, and the address is always the bracketed part.
HOST_RE = re.compile(
    r"H=(?:(?P<name>[^\s(\[][^\s\[]*) ?)?"
    r"(?:\((?P<helo>.*?)\) (?=(?:DS )?\[))?"
    r"(?P<ds>DS )?"
    r"\[(?P<ip>[^\]\s]*)\](?::(?P<port>\w+))?(?P<reuse>\*)?"
)
# Fallback for mangled groups (unbalanced parentheses, junk HELOs): everything up to the last
# bracketed address of the group still yields the address, as Exim's spec advises.
HOST_LOOSE_RE = re.compile(
    r"H=(?P<raw>[^\[\]]{0,300}?)\[(?P<ip>[0-9A-Fa-f:.]+)\](?::(?P<port>\w+))?(?P<reuse>\*)?"
)

# An address as Exim logs it: quoted parts of a local part (`"foo bar"@x`, `a."b c"@x`) may hold
# spaces, `>` and look-alike fields, so they are lexed as one unit.
ADDRESS = r'(?:"(?:[^"\\]|\\.)*"|[^\s"])+'
# `<address>`: a `>` inside a quoted local part does not close it.
ANGLE_ADDRESS = r'<(?:"(?:[^"\\]|\\.)*"|[^>"])*>'
ANGLE_ADDRESS_RE = re.compile(ANGLE_ADDRESS)
# `TAG=value`: quoted values are lexed first so look-alike tags inside them are never seen.
FIELD_RE = re.compile(
    r"(?P<tag>[A-Za-z][A-Za-z0-9]*\*?)="
    rf'(?P<val>"[^"\\]*(?:\\.[^"\\]*)*"|{ANGLE_ADDRESS}|<[^>]*>|\S*)'
)
ADDRESS_RE = re.compile(rf"{ADDRESS}(?!\S)|\S+")  # unbalanced quotes: the token as logged
# Pipe/file "addresses" can hold spaces; they end before the parent `(…)`, `<top>` or first tag.
PIPE_ADDRESS_RE = re.compile(r"\|.*?(?= \(| <| [A-Z][A-Za-z]*=|$)")
PARENTS_RE = re.compile(r" \((?P<parents>[^)]*)\)")
TOP_RE = re.compile(r' <(?P<top>(?:"(?:[^"\\]|\\.)*"|[^>"])*)>')

DEFER_RE = re.compile(r"(?P<head>.*?)(?P<routing> routing)? defer \((?P<errno>[^)]*)\)(?P<tail>.*)", re.S)
DT_TAIL_RE = re.compile(r" DT=(?P<dt>\S+)\Z")
