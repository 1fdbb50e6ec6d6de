//! Value parsers and lexers of the message lines (`shipper/exim/fields.py`, the patterns of `grammar.py`
//! they stand for, `tags.REMOTE_ID_RE`) and the host facts of `hosts.py` (`ip_kind`, `provider`).

use crate::body::Obj;
use crate::doc::Value;
use crate::tables;
use crate::text::{py_decimal, py_lower, py_word};
use std::borrow::Cow;
use std::sync::OnceLock;

/// Python's `str.isspace` (what `\s` means in a `str` pattern).
pub fn py_space(c: char) -> bool {
    c.is_whitespace() || ('\x1c'..='\x1f').contains(&c)
}

pub(crate) fn char_at(s: &str, i: usize) -> Option<char> {
    s.get(i..).and_then(|t| t.chars().next())
}

/// `"(?:[^"\\]|\\.)*"` at `pos` (which holds `"`): the end after the closing quote.
pub(crate) fn quoted_end(s: &str, pos: usize) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = pos + 1;
    while i < b.len() {
        match b[i] {
            b'"' => return Some(i + 1),
            b'\\' => {
                let c = char_at(s, i + 1)?;
                if c == '\n' {
                    return None;
                }
                i += 1 + c.len_utf8();
            }
            _ => i += 1,
        }
    }
    None
}

/// `ADDRESS_RE.match(s, pos)`: `{ADDRESS}(?!\S)|\S+`; the end of the match.
pub(crate) fn address_end(s: &str, pos: usize) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = pos;
    // Byte by byte below 0x80 (a `char` decoded per step was most of this function's cost).
    while let Some(&c) = b.get(i) {
        if c == b'"' {
            match quoted_end(s, i) {
                Some(e) => i = e,
                None => break,
            }
        } else if c < 0x80 {
            if ascii_space(c) {
                break;
            }
            i += 1;
        } else {
            let c = char_at(s, i)?;
            if py_space(c) {
                break;
            }
            i += c.len_utf8();
        }
    }
    if i > pos && (i == b.len() || char_at(s, i).is_some_and(py_space)) {
        return Some(i);
    }
    let j = non_space_end(s, pos);
    (j > pos).then_some(j)
}

/// `ADDRESS_RE.findall(s, pos)`.
pub(crate) fn address_findall(s: &str, mut pos: usize) -> Vec<&str> {
    let mut out = Vec::new();
    while pos < s.len() {
        match address_end(s, pos) {
            Some(e) => {
                out.push(&s[pos..e]);
                pos = e;
            }
            None => pos += char_at(s, pos).map_or(1, char::len_utf8),
        }
    }
    out
}

/// `ANGLE_ADDRESS` at `pos` (which holds `<`): the end after `>`.
pub(crate) fn angle_end(s: &str, pos: usize) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = pos + 1;
    while i < b.len() {
        match b[i] {
            b'>' => return Some(i + 1),
            b'"' => i = quoted_end(s, i)?,
            _ => i += 1,
        }
    }
    None
}

/// Python's `str.isspace` of an ASCII byte (`py_space` of its `char`): one load, not three ranges
/// tested (the lexers' hottest test).
#[inline]
pub(crate) fn ascii_space(c: u8) -> bool {
    const SPACES: [bool; 128] = {
        let mut t = [false; 128];
        let mut c = 0;
        while c < 128 {
            t[c] = matches!(c as u8, b'\t'..=b'\r' | 0x1c..=0x1f | b' ');
            c += 1;
        }
        t
    };
    SPACES[usize::from(c & 0x7f)] && c < 0x80
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = ONES * 0x80;

/// `\S*` from `i`, stopped early by the byte `stop`: eight bytes at a time while none is a space, the
/// stop or beyond ASCII, then byte by byte below 0x80, a `char` decoded only beyond (one per step was
/// most of the lexers' cost).
#[inline]
fn run_end(s: &str, mut i: usize, stop: Option<u8>) -> usize {
    let b = s.as_bytes();
    while let Some(w) = b.get(i..i + 8) {
        let v = u64::from_le_bytes(w.try_into().expect("eight bytes"));
        // Any byte below 0x21 (every ASCII space is) or from 0x80 up; any byte equal to the stop. Exact
        // as a whole (which byte it is, is left to the byte loop).
        let mut hit = (v.wrapping_sub(ONES * 0x21) & !v) | v;
        if let Some(stop) = stop {
            let x = v ^ (ONES * u64::from(stop));
            hit |= x.wrapping_sub(ONES) & !x;
        }
        if hit & HIGHS != 0 {
            break;
        }
        i += 8;
    }
    while let Some(&c) = b.get(i) {
        if c < 0x80 {
            if ascii_space(c) || Some(c) == stop {
                break;
            }
            i += 1;
        } else {
            match char_at(s, i) {
                Some(c) if !py_space(c) => i += c.len_utf8(),
                _ => break,
            }
        }
    }
    i
}

/// `\S*` from `i`: where it ends.
pub(crate) fn non_space_end(s: &str, i: usize) -> usize {
    run_end(s, i, None)
}

/// `FIELD_RE.match(s, pos)`: (tag, value, end).
pub(crate) fn field_match(s: &str, pos: usize) -> Option<(&str, &str, usize)> {
    let b = s.as_bytes();
    if !b.get(pos)?.is_ascii_alphabetic() {
        return None;
    }
    let mut i = pos + 1;
    while b.get(i).is_some_and(u8::is_ascii_alphanumeric) {
        i += 1;
    }
    if b.get(i) == Some(&b'*') {
        i += 1;
    }
    if b.get(i) != Some(&b'=') {
        return None;
    }
    let tag = &s[pos..i];
    let v = i + 1;
    let end = match b.get(v) {
        Some(b'"') => quoted_end(s, v).unwrap_or_else(|| non_space_end(s, v)),
        Some(b'<') => angle_end(s, v)
            .or_else(|| s[v..].find('>').map(|k| v + k + 1))
            .unwrap_or_else(|| non_space_end(s, v)),
        _ => non_space_end(s, v),
    };
    Some((tag, &s[v..end], end))
}

// --- value parsers (fields.py) ------------------------------------------------------------------

/// `fields.duration`.
pub fn duration(value: &str) -> Option<f64> {
    if value.is_empty() || value == "-" {
        return None;
    }
    // `\d` and `int()`/`float()` take decimal digits of any script: read as their ASCII twins.
    let ascii = crate::text::ascii_digits(value);
    let value: &str = &ascii;
    let b = value.as_bytes();
    let mut i = 0;
    let neg = b[0] == b'-';
    if neg {
        i = 1;
    }
    let digits = |from: usize| {
        let mut j = from;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        j
    };
    let mut total = 0.0f64;
    let mut e = digits(i);
    for &(unit, secs) in duration_units() {
        if e > i && b.get(e) == Some(&unit) {
            // Python multiplies exactly, then rounds to a float once: exact in u128 up to 19 digits,
            // the float of the digits beyond (Python may differ there in the last bit).
            total += match value[i..e].parse::<u64>() {
                Ok(n) => (u128::from(n) * u128::from(secs)) as f64,
                Err(_) => value[i..e].parse::<f64>().unwrap_or(f64::INFINITY) * secs as f64,
            };
            i = e + 1;
            e = digits(i);
        }
    }
    if e > i {
        let mut f = e;
        if b.get(e) == Some(&b'.') {
            let g = digits(e + 1);
            if g > e + 1 {
                f = g;
            }
        }
        if b.get(f) == Some(&b's') {
            total += decimal_f64(&value[i..f]);
            i = f + 1;
        }
    }
    // Beyond a float's range Python raises (`int * secs` to float) or gets `inf`, which orjson writes as
    // `null`: no duration then, as for any value that is not one.
    if i != b.len() || !total.is_finite() {
        return None;
    }
    Some(if neg { -total } else { total })
}

/// `duration_units` as (unit byte, seconds), in the table's order: read from the JSON map once.
fn duration_units() -> &'static [(u8, u64)] {
    static UNITS: OnceLock<Vec<(u8, u64)>> = OnceLock::new();
    UNITS.get_or_init(|| {
        tables::fields()
            .duration_units
            .iter()
            .map(|(unit, secs)| (unit.as_bytes()[0], secs.as_u64().unwrap_or(0)))
            .collect()
    })
}

/// `float()` of ASCII `\d+(?:\.\d+)?`. Up to 15 digits the digits are an exact integer below 2^53 and
/// the power of ten an exact float, so their one correctly rounded quotient is the correctly rounded
/// decimal `parse` gives (Clinger's fast path), without `parse`'s general machinery.
fn decimal_f64(t: &str) -> f64 {
    const POW10: [f64; 16] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
    ];
    let b = t.as_bytes();
    let dot = b.iter().position(|&c| c == b'.');
    if b.len() - usize::from(dot.is_some()) <= 15 {
        let m = b
            .iter()
            .filter(|&&c| c != b'.')
            .fold(0u64, |m, &c| m * 10 + u64::from(c - b'0'));
        let scale = dot.map_or(0, |d| b.len() - d - 1);
        return m as f64 / POW10[scale];
    }
    t.parse::<f64>().unwrap_or(f64::INFINITY)
}

/// `fields.integer`.
pub fn integer(value: &str) -> Option<u64> {
    // `value.isdecimal() and len(value) < 19`: decimal digits of any script, counted as characters.
    if !value.is_empty()
        && value.chars().count() < 19
        && value.chars().all(|c| py_decimal(c).is_some())
    {
        return crate::text::ascii_digits(value).parse().ok();
    }
    None
}

/// `fields.unescape`: octal escapes are bytes, so the result is decoded as UTF-8 again, with the bytes
/// that are not UTF-8 read as Latin-1 (`_latin1_fallback`).
pub fn unescape(text: &str) -> String {
    unescaped(text).into_owned()
}

/// [`unescape`], borrowing text without a backslash (most of it) instead of copying it.
pub(crate) fn unescaped(text: &str) -> Cow<'_, str> {
    if !text.as_bytes().contains(&b'\\') {
        return Cow::Borrowed(text);
    }
    let escapes = &tables::fields().escapes;
    let mut out: Vec<u8> = Vec::with_capacity(text.len());
    let mut octal = false;
    let mut rest = text;
    while let Some(k) = rest.find('\\') {
        out.extend_from_slice(&rest.as_bytes()[..k]);
        let after = &rest[k + 1..];
        let ab = after.as_bytes();
        if ab.len() >= 3 && ab[..3].iter().all(|c| (b'0'..=b'7').contains(c)) {
            // Three octal digits: at most 0o777, of which the low byte is kept.
            let byte = after.as_bytes()[..3]
                .iter()
                .fold(0u32, |n, d| n * 8 + u32::from(d - b'0'))
                & 0xFF;
            octal |= byte >= 0x80;
            out.push(byte as u8);
            rest = &after[3..];
        } else if let Some(c) = after.chars().next() {
            let mut buf = [0u8; 4];
            match escapes.get(&*c.encode_utf8(&mut buf)) {
                Some(r) => out.extend_from_slice(r.as_bytes()),
                None => {
                    out.push(b'\\');
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
            rest = &after[c.len_utf8()..];
        } else {
            out.push(b'\\');
            rest = after;
        }
    }
    out.extend_from_slice(rest.as_bytes());
    if !octal {
        // Text, the table's replacements and bytes below 0x80: UTF-8 whatever the input.
        return String::from_utf8(out)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
            .into();
    }
    let mut text = String::with_capacity(out.len());
    let mut bytes = &out[..];
    loop {
        match std::str::from_utf8(bytes) {
            Ok(s) => {
                text.push_str(s);
                return text.into();
            }
            Err(e) => {
                let good = e.valid_up_to();
                text.push_str(&String::from_utf8_lossy(&bytes[..good]));
                let bad = e.error_len().unwrap_or(bytes.len() - good);
                text.extend(bytes[good..good + bad].iter().map(|&b| char::from(b)));
                bytes = &bytes[good + bad..];
            }
        }
    }
}

/// `fields.unquote`.
pub fn unquote(value: &str) -> String {
    unquoted(value).into_owned()
}

/// [`unquote`], borrowing what needs no unescaping.
pub(crate) fn unquoted(value: &str) -> Cow<'_, str> {
    if value.len() >= 2 && value.starts_with('"') && value.ends_with('"') {
        return unescaped(&value[1..value.len() - 1]);
    }
    unescaped(value.trim_start_matches('"'))
}

/// `fields.strip_angle`.
pub fn strip_angle(value: &str) -> &str {
    if value.len() >= 2 && value.starts_with('<') && value.ends_with('>') {
        return &value[1..value.len() - 1];
    }
    value
}

/// `fields.ipv4_octets`.
pub fn ipv4_octets(text: &str) -> Option<[u8; 4]> {
    // One pass over the bytes (`split('.')` and `parse` per part cost 1% of the instructions): four
    // parts of 1-3 ASCII digits, no leading zero, each at most 255, split by single dots. A part read
    // to its third digit, or to its first when that is `0`, must then be at a dot (or the end): a
    // fourth digit or a digit after a leading zero refuses the text there.
    let b = text.as_bytes();
    let mut out = [0u8; 4];
    let mut i = 0;
    for (n, octet) in out.iter_mut().enumerate() {
        let d = *b.get(i)?;
        if !d.is_ascii_digit() {
            return None;
        }
        let mut v = u32::from(d - b'0');
        i += 1;
        if d != b'0' {
            for _ in 0..2 {
                match b.get(i) {
                    Some(&c) if c.is_ascii_digit() => {
                        v = v * 10 + u32::from(c - b'0');
                        i += 1;
                    }
                    _ => break,
                }
            }
        }
        *octet = u8::try_from(v).ok()?;
        if n < 3 {
            if b.get(i) != Some(&b'.') {
                return None;
            }
            i += 1;
        }
    }
    (i == b.len()).then_some(out)
}

/// `fields.ipv4_octets` of non-ASCII text: parts of one to three decimal digits of any script
/// (`isdecimal`), no leading ASCII `0`, each at most 255.
fn unicode_ipv4_octets(text: &str) -> Option<[u8; 4]> {
    if text.is_ascii() {
        return None;
    }
    let mut out = [0u8; 4];
    let mut parts = text.split('.');
    for octet in &mut out {
        let part = parts.next()?;
        let mut v = 0u32;
        let mut n = 0;
        for c in part.chars() {
            v = v * 10 + py_decimal(c)?;
            n += 1;
            if n > 3 {
                return None;
            }
        }
        if n == 0 || (part.starts_with('0') && part != "0") || v > 255 {
            return None;
        }
        *octet = u8::try_from(v).ok()?;
    }
    parts.next().is_none().then_some(out)
}

/// `ipaddress.IPv6Address`'s `_split_scope_id`: the address part and its `%scope` (None: unscoped), or
/// None when the scope is empty or holds another `%` (Python refuses those).
pub(crate) fn split_scope(text: &str) -> Option<(&str, Option<&str>)> {
    match text.split_once('%') {
        None => Some((text, None)),
        Some((_, scope)) if scope.is_empty() || scope.contains('%') => None,
        Some((addr, scope)) => Some((addr, Some(scope))),
    }
}

/// `ipaddress.IPv6Address(text)`, as the integer of its address part (a `%scope` is classified by the
/// address it qualifies, as `ipaddress`'s properties do).
pub(crate) fn ipv6(text: &str) -> Option<u128> {
    if !text.contains(':') {
        return None;
    }
    let (addr, _) = split_scope(text)?;
    addr.parse::<std::net::Ipv6Addr>().ok().map(u128::from)
}

/// `str(IPv6Address)` (Python 3.11): lower-case hextets, the longest run of two or more zero hextets
/// (the first of equal runs) as `::`; an IPv4-mapped address too (`::ffff:102:304`).
pub(crate) fn ipv6_text(n: u128) -> String {
    let h: Vec<u16> = (0..8).map(|i| (n >> (112 - 16 * i)) as u16).collect();
    let (mut best, mut best_len, mut i) = (0usize, 0usize, 0usize);
    while i < 8 {
        if h[i] == 0 {
            let start = i;
            while i < 8 && h[i] == 0 {
                i += 1;
            }
            if i - start > best_len {
                best = start;
                best_len = i - start;
            }
        } else {
            i += 1;
        }
    }
    let hex = |xs: &[u16]| {
        xs.iter()
            .map(|x| format!("{x:x}"))
            .collect::<Vec<_>>()
            .join(":")
    };
    if best_len < 2 {
        return hex(&h);
    }
    format!("{}::{}", hex(&h[..best]), hex(&h[best + best_len..]))
}

pub(crate) fn in_net(n: u128, net: u128, prefix: u32) -> bool {
    prefix == 0 || (n ^ net) >> (128 - prefix) == 0
}

/// `hosts._address_kind` of an IPv6 address, with Python 3.11.7's `ipaddress` registries.
pub(crate) fn ipv6_kind(n: u128) -> &'static str {
    const RESERVED: &[(u128, u32)] = &[
        (0, 8),
        (0x0100 << 112, 8),
        (0x0200 << 112, 7),
        (0x0400 << 112, 6),
        (0x0800 << 112, 5),
        (0x1000 << 112, 4),
        (0x4000 << 112, 3),
        (0x6000 << 112, 3),
        (0x8000 << 112, 3),
        (0xa000 << 112, 3),
        (0xc000 << 112, 3),
        (0xe000 << 112, 4),
        (0xf000 << 112, 5),
        (0xf800 << 112, 6),
        (0xfe00 << 112, 9),
    ];
    const PRIVATE: &[(u128, u32)] = &[
        (1, 128),
        (0, 128),
        (0xffff << 32, 96),
        (0x0100 << 112, 64),
        (0x2001 << 112, 23),
        ((0x2001 << 112) | (0x0002 << 96), 48),
        ((0x2001 << 112) | (0x0db8 << 96), 32),
        ((0x2001 << 112) | (0x0010 << 96), 28),
        (0xfc00 << 112, 7),
        (0xfe80 << 112, 10),
    ];
    if n == 1 {
        "loopback"
    } else if in_net(n, 0xfe80 << 112, 10) {
        "link_local"
    } else if in_net(n, (0x2001 << 112) | (0x0db8 << 96), 32) {
        "documentation"
    } else if in_net(n, 0xff00 << 112, 8) {
        "multicast"
    } else if n == 0 {
        "unspecified"
    } else if RESERVED.iter().any(|&(net, p)| in_net(n, net, p)) {
        "reserved"
    } else if PRIVATE.iter().any(|&(net, p)| in_net(n, net, p)) {
        "private"
    } else {
        "public"
    }
}

/// `fields.ip_facts`: the canonical form and version of an address.
pub(crate) fn ip_facts(text: &str) -> Option<(Cow<'_, str>, u8)> {
    if !text.is_ascii() {
        // `ipv4_octets` reads digits of any script (`١92.0.2.98`); the document's `ip` fields get the
        // address in ASCII, the only form an OpenSearch `ip` field takes (the Python path wrote the text
        // as it was, and the node refused the whole document).
        return unicode_ipv4_octets(text)
            .map(|[a, b, c, d]| (format!("{a}.{b}.{c}.{d}").into(), 4));
    }
    if ipv4_octets(text).is_some() {
        return Some((text.into(), 4));
    }
    // `str()` of a scoped address keeps its scope after the canonical form.
    let scope = split_scope(text).and_then(|(_, s)| s);
    ipv6(text).map(|n| match scope {
        Some(s) => (format!("{}%{s}", ipv6_text(n)).into(), 6),
        None => (ipv6_text(n).into(), 6),
    })
}

/// `hosts.ip_kind`: (version, kind).
pub(crate) fn ip_kind(text: &str) -> Option<(u8, &'static str)> {
    let Some([a, b, c, d]) = ipv4_octets(text).or_else(|| unicode_ipv4_octets(text)) else {
        return ipv6(text).map(|n| {
            if n >> 32 == 0xffff {
                (6, "ipv4_mapped")
            } else {
                (6, ipv6_kind(n))
            }
        });
    };
    let kind = if a == 10 || (a == 172 && (16..=31).contains(&b)) || (a == 192 && b == 168) {
        "private"
    } else if a == 127 {
        "loopback"
    } else if a == 169 && b == 254 {
        "link_local"
    } else if a == 100 && (64..=127).contains(&b) {
        "cgnat"
    } else if matches!((a, b, c), (192, 0, 2) | (198, 51, 100) | (203, 0, 113)) {
        "documentation"
    } else if (224..=239).contains(&a) {
        "multicast"
    } else if a == 0 {
        if (b, c, d) == (0, 0, 0) {
            "unspecified"
        } else {
            "reserved"
        }
    } else if a >= 240 || (a == 192 && b == 0 && c == 0) || (a == 198 && (b == 18 || b == 19)) {
        "reserved"
    } else {
        "public"
    };
    Some((4, kind))
}

/// `hosts.provider`.
pub(crate) fn provider(name: &str) -> Option<String> {
    let name = py_lower(name.trim_matches('.'));
    let t = tables::providers();
    for p in &t.host_prefixes {
        if name.starts_with(&p.prefix) {
            return Some(p.family.clone());
        }
    }
    // Each label's tail, the whole name first and the last label never, as slices of the name (a
    // `join` of the labels per tail before).
    let mut tail = name.as_ref();
    while let Some(dot) = tail.find('.') {
        if let Some(f) = t.suffixes.get(tail) {
            return Some(f.clone());
        }
        tail = &tail[dot + 1..];
    }
    None
}

/// `fields.address_parts`.
pub(crate) fn address_parts(address: &str) -> Option<(&str, std::borrow::Cow<'_, str>)> {
    let at = address.rfind('@')?;
    if at == 0 || at == address.len() - 1 {
        return None;
    }
    let domain = &address[at + 1..];
    Some((&address[..at], py_lower(domain)))
}

pub(crate) fn is_word(c: char) -> bool {
    py_word(c)
}

/// `\w+` at `i` (Python's `\w`: `str.isalnum()` or `_`).
pub(crate) fn word_end(s: &str, mut i: usize) -> usize {
    let b = s.as_bytes();
    while let Some(&c) = b.get(i) {
        if c < 0x80 {
            if !(c.is_ascii_alphanumeric() || c == b'_') {
                break;
            }
            i += 1;
        } else {
            match char_at(s, i) {
                Some(c) if py_word(c) => i += c.len_utf8(),
                _ => break,
            }
        }
    }
    i
}

pub(crate) struct HostGroup<'a> {
    pub(crate) address: &'a str,
    pub(crate) name: Option<&'a str>,
    pub(crate) helo: Option<&'a str>,
    pub(crate) ds: bool,
    pub(crate) port: Option<&'a str>,
    pub(crate) reuse: bool,
    /// `HOST_LOOSE_RE`'s text before the address (a mangled group), stripped.
    pub(crate) raw: Option<&'a str>,
}

/// `HOST_RE` after its `H=` at `q`, from the name's end on.
pub(crate) fn host_tail<'a>(
    s: &'a str,
    q: usize,
    name: Option<&'a str>,
) -> Option<(HostGroup<'a>, usize)> {
    let b = s.as_bytes();
    // The helo candidates in order (each `(helo) ` before a `[` or `DS [`), then none: tried as they
    // are found, without collecting them (two Vecs a call were most of this function's cost).
    if b.get(q) == Some(&b'(') {
        let mut k = q + 1;
        while k < b.len() && b[k] != b'\n' {
            if b[k..].starts_with(b") ")
                && (b[k + 2..].starts_with(b"[") || b[k + 2..].starts_with(b"DS ["))
            {
                if let Some(found) = host_at(s, Some(&s[q + 1..k]), k + 2, name) {
                    return Some(found);
                }
            }
            k += 1;
        }
    }
    host_at(s, None, q, name)
}

/// `HOST_RE`'s `(?:DS )?\[address\](?::port)?\*?` at `next`, `DS ` taken first when it is there.
fn host_at<'a>(
    s: &'a str,
    helo: Option<&'a str>,
    next: usize,
    name: Option<&'a str>,
) -> Option<(HostGroup<'a>, usize)> {
    let b = s.as_bytes();
    let ds_first = s[next..].starts_with("DS ");
    for (ds, r) in [(true, next + 3), (false, next)] {
        if ds && !ds_first {
            continue;
        }
        if b.get(r) != Some(&b'[') {
            continue;
        }
        let e = run_end(s, r + 1, Some(b']'));
        if b.get(e) != Some(&b']') {
            continue;
        }
        let address = &s[r + 1..e];
        let (port, reuse, end) = port_and_reuse(s, e + 1);
        let g = HostGroup {
            address,
            name,
            helo,
            ds,
            port,
            reuse,
            raw: None,
        };
        return Some((g, end));
    }
    None
}

/// After a group's `[address]` at `end`: `(?::(?P<port>\w+))?(?P<reuse>\*)?`, and where they end.
fn port_and_reuse(s: &str, mut end: usize) -> (Option<&str>, bool, usize) {
    let b = s.as_bytes();
    let mut port = None;
    if b.get(end) == Some(&b':') {
        let w = word_end(s, end + 1);
        if w > end + 1 {
            port = Some(&s[end + 1..w]);
            end = w;
        }
    }
    let reuse = b.get(end) == Some(&b'*');
    if reuse {
        end += 1;
    }
    (port, reuse, end)
}

/// `fields.host_group` at `pos` (which holds `H=`), the loose fallback (`HOST_LOOSE_RE`) too.
pub(crate) fn host_group(s: &str, pos: usize) -> Option<(HostGroup<'_>, usize)> {
    let p = pos + 2;
    // The name's possible ends, longest first (the regex's backtracking): every char boundary after
    // its first character, read backwards from the longest instead of collected.
    let mut last = p;
    if let Some(c) = char_at(s, p) {
        if !py_space(c) && c != '(' && c != '[' {
            last = run_end(s, p + c.len_utf8(), Some(b'['));
        }
    }
    let ends = s[p..last]
        .char_indices()
        .rev()
        .map(|(i, c)| p + i + c.len_utf8());
    for e in ends {
        let name = Some(&s[p..e]);
        if s.as_bytes().get(e) == Some(&b' ') {
            if let Some(found) = host_tail(s, e + 1, name) {
                return Some(found);
            }
        }
        if let Some(found) = host_tail(s, e, name) {
            return Some(found);
        }
    }
    if let Some(found) = host_tail(s, p, None) {
        return Some(found);
    }
    host_loose(s, p)
}

/// `HOST_LOOSE_RE` after its `H=` at `p`: `(?P<raw>[^\[\]]{0,300}?)\[(?P<ip>[0-9A-Fa-f:.]+)\]`, then
/// `(?::(?P<port>\w+))?(?P<reuse>\*)?`. The raw part holds no bracket, so the first one decides.
fn host_loose(s: &str, p: usize) -> Option<(HostGroup<'_>, usize)> {
    let (k, c) = s[p..]
        .char_indices()
        .take(301)
        .find(|&(_, c)| c == '[' || c == ']')?;
    if c != '[' {
        return None;
    }
    let open = p + k;
    let b = s.as_bytes();
    let mut e = open + 1;
    while b
        .get(e)
        .is_some_and(|c| c.is_ascii_hexdigit() || *c == b':' || *c == b'.')
    {
        e += 1;
    }
    if e == open + 1 || b.get(e) != Some(&b']') {
        return None;
    }
    let (port, reuse, end) = port_and_reuse(s, e + 1);
    let g = HostGroup {
        address: &s[open + 1..e],
        name: None,
        helo: None,
        ds: false,
        port,
        reuse,
        raw: Some(s[p..open].trim_matches(py_space)),
    };
    Some((g, end))
}

/// A port as `int(port) if port.isdecimal()` reads it (digits of any script), else `None`.
pub(crate) fn decimal_port(port: &str) -> Option<Value> {
    let b = port.as_bytes();
    if b.iter().all(u8::is_ascii_digit) {
        // `port_value` in one pass: the number unless empty or beyond u64, then the text.
        let n = b.iter().try_fold(0u64, |n, &d| {
            n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        });
        return Some(match n {
            Some(n) if !b.is_empty() => Value::from(n),
            _ => Value::from(port),
        });
    }
    if port.is_ascii() || !port.chars().all(|c| py_decimal(c).is_some()) {
        return None;
    }
    crate::text::py_int(port)
        .and_then(|n| u64::try_from(n).ok())
        .map(Value::from)
}

pub(crate) fn interface(value: &str) -> Value {
    let mut out = Obj::new();
    let b = value.as_bytes();
    if b.first() == Some(&b'[') {
        if let Some(k) = b.iter().position(|&c| c == b']') {
            let rest = &value[k + 1..];
            let port = if rest.is_empty() {
                Some(None)
            } else if let Some(p) = rest.strip_prefix(':') {
                let w = word_end(p, 0);
                (w == p.len() && w > 0).then_some(Some(p))
            } else {
                None
            };
            if let Some(port) = port {
                out.insert("address".into(), value[1..k].into());
                if let Some(port) = port {
                    if let Some(v) = decimal_port(port) {
                        out.insert("port".into(), v);
                    } else {
                        out.insert("port_name".into(), port.into());
                    }
                }
                return Value::Object(out);
            }
        }
    }
    out.insert("address".into(), value.into());
    Value::Object(out)
}

/// `fields.tls_cipher` of an `X=` value, written straight into its two homes: the version, its
/// protocol and the cipher into `tls` (the document's), the rest into `exim`'s `tls`, made only
/// when it gets a member (an `Obj` returned and then split, as before, cost an object and two copies).
pub(crate) fn tls_cipher_into(value: &str, tls: &mut Obj, exim: &mut Obj) {
    let mut value = value;
    if let Some(v) = value.strip_suffix('*') {
        crate::body::sub(exim, "tls").insert("resumed".into(), true.into());
        value = v;
    }
    let mut parts = value.split(':');
    let proto = parts.next().unwrap_or("");
    // Python's `upper()` (Unicode, maybe longer: `ß` is `SS`); `proto[3:]` counts characters. Of ASCII
    // text the first three bytes decide, without an upper-cased copy.
    let family = if proto.is_ascii() {
        let head = proto.as_bytes().get(..3).unwrap_or(b"");
        [("tls", b"TLS"), ("ssl", b"SSL")]
            .into_iter()
            .find(|(_, f)| head.eq_ignore_ascii_case(*f))
            .map(|(name, _)| name)
    } else {
        let upper = crate::text::py_upper(proto);
        ["tls", "ssl"]
            .into_iter()
            .find(|name| upper.starts_with(&name.to_ascii_uppercase()))
    };
    if let Some(family) = family {
        tls.insert("version_protocol".into(), family.into());
        let rest = proto.char_indices().nth(3).map_or("", |(i, _)| &proto[i..]);
        let version = rest.trim_start_matches(['v', 'V']);
        if !version.is_empty() {
            let v: Value = if version.contains('.') {
                version.into()
            } else {
                format!("{version}.0").into()
            };
            tls.insert("version".into(), v);
        }
    } else {
        tls.insert("version_protocol".into(), proto.into());
    }
    if let Some(cipher) = parts.next().filter(|c| !c.is_empty()) {
        tls.insert("cipher".into(), cipher.into());
    }
    if let Some(bits) = parts.next().and_then(integer) {
        crate::body::sub(exim, "tls").insert("bits".into(), bits.into());
    }
    if let Some(kex) = parts.next().filter(|k| !k.is_empty()) {
        crate::body::sub(exim, "tls").insert("kex_group".into(), kex.into());
    }
}

/// `REMOTE_ID_RE.search`: `\bid=(MSGID)(?![0-9A-Za-z-])`.
pub(crate) fn remote_id(s: &str) -> Option<&str> {
    let b = s.as_bytes();
    let ok = |i: usize| b.get(i).is_some_and(u8::is_ascii_alphanumeric);
    let run = |from: usize, n: usize| (from..from + n).all(ok);
    let mut from = 0;
    while let Some(k) = s[from..].find("id=") {
        let at = from + k;
        from = at + 1;
        if let Some(prev) = s[..at].chars().next_back() {
            if is_word(prev) {
                continue;
            }
        }
        let m = at + 3;
        let free = |e: usize| {
            !b.get(e)
                .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'-')
        };
        if run(m, 6) && b.get(m + 6) == Some(&b'-') {
            if run(m + 7, 11) && b.get(m + 18) == Some(&b'-') && run(m + 19, 4) && free(m + 23) {
                return Some(&s[m..m + 23]);
            }
            if run(m + 7, 6) && b.get(m + 13) == Some(&b'-') && run(m + 14, 2) && free(m + 16) {
                return Some(&s[m..m + 16]);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The lexers as they were first written, a `char` decoded per step: the byte readers' oracles.
    fn non_space_end_by_chars(s: &str, mut i: usize) -> usize {
        while let Some(c) = char_at(s, i) {
            if py_space(c) {
                break;
            }
            i += c.len_utf8();
        }
        i
    }

    /// `host_at`'s and `host_group`'s runs as they were: to a space or `stop`.
    fn run_end_by_chars(s: &str, mut i: usize, stop: char) -> usize {
        while let Some(c) = char_at(s, i) {
            if c == stop || py_space(c) {
                break;
            }
            i += c.len_utf8();
        }
        i
    }

    /// `decimal_port`'s reading of ASCII digits as it was first written: its oracle.
    fn port_value(port: &str) -> Value {
        match port.parse::<u64>() {
            Ok(n) if port.bytes().all(|c| c.is_ascii_digit()) => Value::from(n),
            _ => Value::from(port),
        }
    }

    /// `tls_cipher` as it was first written (one `Obj`, split by the caller): `tls_cipher_into`'s oracle.
    fn tls_cipher_split(value: &str) -> Obj {
        let mut out = Obj::new();
        let mut value = value;
        if let Some(v) = value.strip_suffix('*') {
            out.insert("resumed".into(), true.into());
            value = v;
        }
        let parts: Vec<&str> = value.split(':').collect();
        let proto = parts[0];
        // Python's `upper()` (Unicode, maybe longer: `ß` is `SS`); `proto[3:]` counts characters.
        let upper = crate::text::py_upper(proto);
        if upper.starts_with("TLS") || upper.starts_with("SSL") {
            out.insert(
                "version_protocol".into(),
                upper[..3].to_ascii_lowercase().into(),
            );
            let rest = proto.char_indices().nth(3).map_or("", |(i, _)| &proto[i..]);
            let mut version = rest.trim_start_matches(['v', 'V']).to_string();
            if !version.is_empty() && !version.contains('.') {
                version.push_str(".0");
            }
            if !version.is_empty() {
                out.insert("version".into(), version.into());
            }
        } else {
            out.insert("version_protocol".into(), proto.into());
        }
        if parts.len() > 1 && !parts[1].is_empty() {
            out.insert("cipher".into(), parts[1].into());
        }
        if parts.len() > 2 {
            if let Some(bits) = integer(parts[2]) {
                out.insert("bits".into(), bits.into());
            }
        }
        if parts.len() > 3 && !parts[3].is_empty() {
            out.insert("kex_group".into(), parts[3].into());
        }
        out
    }

    fn word_end_by_chars(s: &str, mut i: usize) -> usize {
        while let Some(c) = char_at(s, i) {
            if !py_word(c) {
                break;
            }
            i += c.len_utf8();
        }
        i
    }

    fn address_end_by_chars(s: &str, pos: usize) -> Option<usize> {
        let n = s.len();
        let mut i = pos;
        let mut units = 0;
        while i < n {
            let c = char_at(s, i)?;
            if c == '"' {
                match quoted_end(s, i) {
                    Some(e) => i = e,
                    None => break,
                }
            } else if py_space(c) {
                break;
            } else {
                i += c.len_utf8();
            }
            units += 1;
        }
        if units > 0 && (i == n || char_at(s, i).is_some_and(py_space)) {
            return Some(i);
        }
        let j = non_space_end_by_chars(s, pos);
        (j > pos).then_some(j)
    }

    /// Text of the characters the lexers tell apart: spaces of both kinds, quotes, brackets, letters.
    fn lexer_text() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            proptest::sample::select(vec![
                "a", "Z", "0", "_", "-", "@", " ", "\t", "\n", "\x0b", "\x1c", "\x1f", "\u{85}",
                "\u{a0}", "\u{2003}", "é", "٣", "\"", "\\", "[", "]", "(", ")", "<", ">", ":", ".",
                "=", "H=", "DS ",
            ]),
            0..24,
        )
        .prop_map(|v| v.concat())
    }

    #[test]
    fn decimal_f64_reads_as_parse() {
        for t in [
            "0",
            "0.098",
            "3.106",
            "1.359",
            "999999999999999",
            "0.000000000000001",
            "12.5",
        ] {
            assert_eq!(
                decimal_f64(t).to_bits(),
                t.parse::<f64>().unwrap().to_bits(),
                "{t}"
            );
        }
    }

    #[test]
    fn ascii_space_is_py_space() {
        for c in 0u8..0x80 {
            assert_eq!(ascii_space(c), py_space(char::from(c)), "{c:#x}");
        }
    }

    /// The byte lexers against the char lexers they replaced, at `at` (clamped to the text).
    fn lexers_agree(s: &str, at: usize) -> Result<(), proptest::test_runner::TestCaseError> {
        let at = at.min(s.len());
        prop_assert_eq!(non_space_end(s, at), non_space_end_by_chars(s, at));
        prop_assert_eq!(word_end(s, at), word_end_by_chars(s, at));
        prop_assert_eq!(address_end(s, at), address_end_by_chars(s, at));
        prop_assert_eq!(run_end(s, at, Some(b'[')), run_end_by_chars(s, at, '['));
        prop_assert_eq!(run_end(s, at, Some(b']')), run_end_by_chars(s, at, ']'));
        Ok(())
    }

    proptest! {
        #[test]
        fn byte_lexers_read_as_the_char_lexers(s in lexer_text(), at in 0usize..30) {
            lexers_agree(&s, at)?;
        }

        #[test]
        fn decimal_f64_as_parse(t in "[0-9]{1,20}(\\.[0-9]{1,20})?") {
            prop_assert_eq!(decimal_f64(&t).to_bits(), t.parse::<f64>().unwrap().to_bits());
        }

        #[test]
        fn ports_as_port_value(p in "[0-9]{0,22}") {
            prop_assert_eq!(decimal_port(&p), Some(port_value(&p)));
        }

        #[test]
        fn ipv4_octets_as_the_split_reading(
            t in proptest::collection::vec("0|[0-9]{1,4}|0[0-9]{1,2}|2[5-9][0-9]|[0-9a٣ ]{0,2}", 3..6)
                .prop_map(|v| v.join("."))
        ) {
            prop_assert_eq!(ipv4_octets(&t), ipv4_by_parts(&t));
        }

        #[test]
        fn tls_cipher_into_as_the_split_reading(
            t in "(TLS|tls|SSL|ssLv|ß[lL]|TL|x|)[0-9v.]{0,4}(:[A-Z0-9_-]{0,6}){0,4}\\*?"
        ) {
            let (mut tls, mut exim) = (Obj::new(), Obj::new());
            tls_cipher_into(&t, &mut tls, &mut exim);
            let (mut want_tls, mut want_exim) = (Obj::new(), Obj::new());
            for (k, v) in tls_cipher_split(&t) {
                if matches!(k.as_ref(), "version" | "version_protocol" | "cipher") {
                    want_tls.insert(k, v);
                } else {
                    want_exim.insert(k, v);
                }
            }
            prop_assert_eq!(tls, want_tls);
            let exim_tls = exim.get("tls").and_then(Value::as_object).cloned().unwrap_or_default();
            prop_assert_eq!(exim_tls, want_exim);
        }

        #[test]
        fn byte_lexers_on_arbitrary_text(s in "\\PC{0,40}", at in 0usize..50) {
            lexers_agree(&s, at)?;
        }
    }

    /// `ipv4_octets` as it was written first (split, then each part's checks and `parse`).
    fn ipv4_by_parts(text: &str) -> Option<[u8; 4]> {
        let mut out = [0u8; 4];
        let mut n = 0;
        for part in text.split('.') {
            if n == 4 {
                return None;
            }
            let b = part.as_bytes();
            if b.is_empty()
                || b.len() > 3
                || !b.iter().all(u8::is_ascii_digit)
                || (b[0] == b'0' && b.len() > 1)
            {
                return None;
            }
            out[n] = part.parse().ok()?;
            n += 1;
        }
        (n == 4).then_some(out)
    }

    #[test]
    fn ipv4_octets_reads_as_the_split_reading() {
        let parts = [
            "", "0", "00", "1", "01", "9", "25", "255", "256", "300", "999", "1000", "a", "1a", "٣",
        ];
        let mut texts = vec![
            "1.2.3.4".to_string(),
            "1.2.3.4.".into(),
            ".1.2.3.4".into(),
            "1..2.3".into(),
            "1.2.3.4.5".into(),
            "1.2.3".into(),
            "1.2.3.4 ".into(),
            "192.168.0.1".into(),
        ];
        for a in parts {
            for b in parts {
                texts.push(format!("{a}.{b}.10.{a}"));
                texts.push(format!("10.{a}.{b}.1"));
            }
        }
        for t in &texts {
            assert_eq!(ipv4_octets(t), ipv4_by_parts(t), "{t:?}");
        }
    }

    #[test]
    fn durations_as_python() {
        assert_eq!(duration("1.234s"), Some(1.234));
        assert_eq!(duration("1h2m3s"), Some(3723.0));
        assert_eq!(duration("2d"), Some(172_800.0));
        assert_eq!(duration("-5s"), Some(-5.0));
        assert_eq!(duration("-"), None);
        assert_eq!(duration("5"), None);
        assert_eq!(duration("1.s"), None);
    }

    #[test]
    fn addresses_lex_quoted_parts() {
        assert_eq!(address_end("\"a b\"@x.example rest", 0), Some(15));
        assert_eq!(address_end("a@b c", 0), Some(3));
        assert_eq!(address_end("\"unbalanced x", 0), Some(11));
        assert_eq!(
            address_findall("a@x  \"b c\"@y <trunc>", 0),
            vec!["a@x", "\"b c\"@y", "<trunc>"]
        );
    }

    #[test]
    fn fields_and_values() {
        assert_eq!(
            field_match("C=\"250 OK id=1\" DT=1s", 0),
            Some(("C", "\"250 OK id=1\"", 15))
        );
        assert_eq!(field_match("F=<a@b> x", 0), Some(("F", "<a@b>", 7)));
        assert_eq!(field_match("id*=x", 0), Some(("id*", "x", 5)));
        assert_eq!(field_match("=x", 0), None);
        assert_eq!(unescape("a\\\"b\\n\\101\\q"), "a\"b\nA\\q".to_string());
        assert_eq!(unescape("Caf\\303\\251"), "Café".to_string());
        assert_eq!(unescape("F\\344ltstr\\366m"), "Fältström".to_string());
        assert_eq!(unquote("\"x\""), "x".to_string());
        assert_eq!(
            remote_id("250 OK id=1abcDE-000001-Ab"),
            Some("1abcDE-000001-Ab")
        );
        assert_eq!(remote_id("xid=1abcDE-000001-Ab"), None);
    }

    #[test]
    fn host_groups() {
        let (g, end) = host_group("H=mx.example (helo.x) [192.0.2.1]:25* X", 0).unwrap();
        assert_eq!(
            (g.name, g.helo, g.address, g.port, g.reuse, end),
            (
                Some("mx.example"),
                Some("helo.x"),
                "192.0.2.1",
                Some("25"),
                true,
                37
            )
        );
        let (g, _) = host_group("H=(a) b) [10.0.0.1]", 0).unwrap();
        assert_eq!((g.name, g.helo), (None, Some("a) b")));
        let (g, _) = host_group("H=mx DS [10.0.0.1]", 0).unwrap();
        assert!(g.ds);
        assert_eq!(g.name, Some("mx"));
        assert!(host_group("H=junk", 0).is_none());
    }

    #[test]
    fn former_declines_read_as_python_does() {
        // CPython's `fields.duration`, `integer`, `tls_cipher` and `unquote` on the same texts.
        assert_eq!(duration("\u{661}m"), Some(60.0));
        assert_eq!(
            duration(&format!("{}s", "1".repeat(25))),
            Some(1.111_111_111_111_111_1e24)
        );
        assert_eq!(duration("99999999999999999999w"), Some(6.048e25));
        assert_eq!(integer("\u{661}\u{660}\u{660}"), Some(100));
        assert_eq!(integer("1234567890123456789"), None);
        let (mut tls, mut exim) = (Obj::new(), Obj::new());
        tls_cipher_into("ßl1.2:x", &mut tls, &mut exim);
        assert!(exim.is_empty());
        assert_eq!(
            serde_json::to_value(&tls).unwrap(),
            serde_json::json!({"version_protocol": "ssl", "version": ".2", "cipher": "x"})
        );
        assert_eq!(unquote(r#""a\344b""#), "aäb".to_string());
    }

    #[test]
    fn ip_kinds() {
        assert_eq!(ip_kind("10.1.2.3"), Some((4, "private")));
        assert_eq!(ip_kind("8.8.8.8"), Some((4, "public")));
        assert_eq!(ip_kind("01.2.3.4"), None);
        assert_eq!(ip_kind("::1"), Some((6, "loopback")));
        assert_eq!(ip_kind("2a00:1450:4864:20::57d"), Some((6, "public")));
        assert_eq!(ip_kind("::ffff:1.2.3.4"), Some((6, "ipv4_mapped")));
        assert_eq!(ip_kind("fd00::1"), Some((6, "private")));
        // A scope is kept in the text and classified by its address (Python 3.11's `ipaddress`).
        assert_eq!(ip_kind("fe80::1%eth0"), Some((6, "link_local")));
        assert_eq!(ip_kind("::1%x"), Some((6, "loopback")));
        assert_eq!(ip_kind("fe80::1%"), None);
        assert_eq!(ip_kind("fe80::1%a%b"), None);
        assert_eq!(
            ip_facts("FE80::1%eth0"),
            Some((Cow::from("fe80::1%eth0"), 6))
        );
        assert_eq!(ip_facts("1.2.3.4%x"), None);
        // Digits of another script are read, and written in the ASCII an `ip` field takes.
        assert_eq!(
            ip_facts("\u{661}92.0.2.98"),
            Some((Cow::from("192.0.2.98"), 4))
        );
        assert_eq!(ip_kind("ip6:ip6"), None);
        let n = |t: &str| u128::from(t.parse::<std::net::Ipv6Addr>().unwrap());
        assert_eq!(ipv6_text(n("2001:DB8:0:0:1:0:0:1")), "2001:db8::1:0:0:1");
        assert_eq!(ipv6_text(n("1:0:2:3:4:5:6:7")), "1:0:2:3:4:5:6:7");
        assert_eq!(ipv6_text(n("::ffff:1.2.3.4")), "::ffff:102:304");
        assert_eq!(ipv6_text(n("::")), "::");
    }
}
