//! The body of the message lines: flags (`shipper/exim/parse.py` `_body`, `_arrival`, `_recipient_head`,
//! `_failure`, `_deferral`, `_continuation`; `event.py` `Event`),
//! their tags (`tags.py`, `fields.py`), `Completed` (`message_lines.py`), and the enrichment those lines
//! get (`enrich.py`, `hosts.py`, `eximstats.py`).
//!
//! A line the port cannot yet render exactly as Python does is *declined* ([`Decline`]): the stream
//! then writes the `unrecognized` placeholder, and the equality test counts it as not ported. Declined
//! today: header dumps, joined continuations of non-flag lines, scoped IPv6 addresses, mangled host groups,
//! non-ASCII digits and domains, `\r`, and the lines eximstats counts
//! as rejects for a reason other than `Unknown`.

use crate::tables;
use serde_json::{Map, Value};

/// The line needs something not ported yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decline;

pub type R<T> = Result<T, Decline>;
pub type Obj = Map<String, Value>;

/// The actions the core renders itself; every other body is `unrecognized` until it is ported.
pub const CLAIMED: &[&str] = &[
    "message_arrived",
    "message_arrived_fakereject",
    "delivered",
    "delivered_additional",
    "delivered_cutthrough",
    "delivery_suppressed",
    "delivery_failed",
    "delivery_deferred",
    "message_completed",
];

/// Python's `str.isspace` (what `\s` means in a `str` pattern).
pub fn py_space(c: char) -> bool {
    c.is_whitespace() || ('\x1c'..='\x1f').contains(&c)
}

fn char_at(s: &str, i: usize) -> Option<char> {
    s.get(i..).and_then(|t| t.chars().next())
}

/// `"(?:[^"\\]|\\.)*"` at `pos` (which holds `"`): the end after the closing quote.
fn quoted_end(s: &str, pos: usize) -> Option<usize> {
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
fn address_end(s: &str, pos: usize) -> Option<usize> {
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
    let mut j = pos;
    while let Some(c) = char_at(s, j) {
        if py_space(c) {
            break;
        }
        j += c.len_utf8();
    }
    (j > pos).then_some(j)
}

/// `ADDRESS_RE.findall(s, pos)`.
fn address_findall(s: &str, mut pos: usize) -> Vec<&str> {
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
fn angle_end(s: &str, pos: usize) -> Option<usize> {
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

fn non_space_end(s: &str, mut i: usize) -> usize {
    while let Some(c) = char_at(s, i) {
        if py_space(c) {
            break;
        }
        i += c.len_utf8();
    }
    i
}

/// `FIELD_RE.match(s, pos)`: (tag, value, end).
fn field_match(s: &str, pos: usize) -> Option<(&str, &str, usize)> {
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
pub fn duration(value: &str) -> R<Option<f64>> {
    if value.is_empty() || value == "-" {
        return Ok(None);
    }
    if !value.is_ascii() {
        return Err(Decline);
    }
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
    for (unit, secs) in &tables::fields().duration_units {
        let unit = unit.as_bytes()[0];
        let e = digits(i);
        if e > i && b.get(e) == Some(&unit) {
            if e - i > 15 {
                return Err(Decline);
            }
            let n: u64 = value[i..e].parse().map_err(|_| Decline)?;
            let secs = secs.as_u64().ok_or(Decline)?;
            total += (n * secs) as f64;
            i = e + 1;
        }
    }
    let e = digits(i);
    if e > i {
        let mut f = e;
        if b.get(e) == Some(&b'.') {
            let g = digits(e + 1);
            if g > e + 1 {
                f = g;
            }
        }
        if b.get(f) == Some(&b's') {
            total += value[i..f].parse::<f64>().map_err(|_| Decline)?;
            i = f + 1;
        }
    }
    if i != b.len() {
        return Ok(None);
    }
    Ok(Some(if neg { -total } else { total }))
}

/// `fields.integer`.
pub fn integer(value: &str) -> R<Option<u64>> {
    if !value.is_ascii() {
        return Err(Decline);
    }
    if !value.is_empty() && value.len() < 19 && value.bytes().all(|c| c.is_ascii_digit()) {
        return Ok(value.parse().ok());
    }
    Ok(None)
}

/// `fields.unescape`: octal escapes are bytes, so the result is decoded as UTF-8 again, with the bytes
/// that are not UTF-8 read as Latin-1 (`_latin1_fallback`).
pub fn unescape(text: &str) -> R<String> {
    if !text.contains('\\') {
        return Ok(text.to_string());
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
            let byte = u32::from_str_radix(&after[..3], 8).map_err(|_| Decline)? & 0xFF;
            octal |= byte >= 0x80;
            out.push(u8::try_from(byte).map_err(|_| Decline)?);
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
        return String::from_utf8(out).map_err(|_| Decline);
    }
    let mut text = String::with_capacity(out.len());
    let mut bytes = &out[..];
    loop {
        match std::str::from_utf8(bytes) {
            Ok(s) => {
                text.push_str(s);
                return Ok(text);
            }
            Err(e) => {
                let good = e.valid_up_to();
                text.push_str(std::str::from_utf8(&bytes[..good]).map_err(|_| Decline)?);
                let bad = e.error_len().unwrap_or(bytes.len() - good);
                text.extend(bytes[good..good + bad].iter().map(|&b| char::from(b)));
                bytes = &bytes[good + bad..];
            }
        }
    }
}

/// `fields.unquote`.
pub fn unquote(value: &str) -> R<String> {
    if value.len() >= 2 && value.starts_with('"') && value.ends_with('"') {
        return unescape(&value[1..value.len() - 1]);
    }
    unescape(value.trim_start_matches('"'))
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

/// Whether `ipaddress.ip_address` might take the text as IPv6 with a `%scope` (not ported).
fn scoped_ipv6(text: &str) -> bool {
    text.contains(':') && text.contains('%')
}

/// `ipaddress.IPv6Address(text)` (no scope id), as its integer.
fn ipv6(text: &str) -> R<Option<u128>> {
    if !text.contains(':') {
        return Ok(None);
    }
    if scoped_ipv6(text) {
        return Err(Decline);
    }
    Ok(text.parse::<std::net::Ipv6Addr>().ok().map(u128::from))
}

/// `str(IPv6Address)` (Python 3.11): lower-case hextets, the longest run of two or more zero hextets
/// (the first of equal runs) as `::`; an IPv4-mapped address too (`::ffff:102:304`).
fn ipv6_text(n: u128) -> String {
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

fn in_net(n: u128, net: u128, prefix: u32) -> bool {
    prefix == 0 || (n ^ net) >> (128 - prefix) == 0
}

/// `hosts._address_kind` of an IPv6 address, with Python 3.11.7's `ipaddress` registries.
fn ipv6_kind(n: u128) -> &'static str {
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
fn ip_facts(text: &str) -> R<Option<(String, u8)>> {
    if ipv4_octets(text).is_some() {
        return Ok(Some((text.to_string(), 4)));
    }
    Ok(ipv6(text)?.map(|n| (ipv6_text(n), 6)))
}

/// `hosts.ip_kind`: (version, kind).
fn ip_kind(text: &str) -> R<Option<(u8, &'static str)>> {
    let Some([a, b, c, d]) = ipv4_octets(text) else {
        return Ok(ipv6(text)?.map(|n| {
            if n >> 32 == 0xffff {
                (6, "ipv4_mapped")
            } else {
                (6, ipv6_kind(n))
            }
        }));
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
    Ok(Some((4, kind)))
}

/// `hosts.provider`.
fn provider(name: &str) -> R<Option<String>> {
    if !name.is_ascii() {
        return Err(Decline);
    }
    let name = name.trim_matches('.').to_ascii_lowercase();
    let t = tables::providers();
    for p in &t.host_prefixes {
        if name.starts_with(&p.prefix) {
            return Ok(Some(p.family.clone()));
        }
    }
    let labels: Vec<&str> = name.split('.').collect();
    for i in 0..labels.len().saturating_sub(1) {
        if let Some(f) = t.suffixes.get(&labels[i..].join(".")) {
            return Ok(Some(f.clone()));
        }
    }
    Ok(None)
}

/// `fields.address_parts`.
fn address_parts(address: &str) -> R<Option<(String, String)>> {
    let Some(at) = address.rfind('@') else {
        return Ok(None);
    };
    if at == 0 || at == address.len() - 1 {
        return Ok(None);
    }
    let domain = &address[at + 1..];
    if !domain.is_ascii() {
        return Err(Decline); // str.lower() of non-ASCII text is not ported
    }
    Ok(Some((
        address[..at].to_string(),
        domain.to_ascii_lowercase(),
    )))
}

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// `\w+` at `i` (ASCII; a non-ASCII character there is declined).
fn word_end(s: &str, mut i: usize) -> R<usize> {
    while let Some(c) = char_at(s, i) {
        if is_word(c) {
            i += 1;
        } else if !c.is_ascii() && c.is_alphanumeric() {
            return Err(Decline);
        } else {
            break;
        }
    }
    Ok(i)
}

fn port_value(port: &str) -> Value {
    match port.parse::<u64>() {
        Ok(n) if port.bytes().all(|c| c.is_ascii_digit()) => Value::from(n),
        _ => Value::from(port),
    }
}

struct HostGroup<'a> {
    address: &'a str,
    name: Option<&'a str>,
    helo: Option<&'a str>,
    ds: bool,
    port: Option<&'a str>,
    reuse: bool,
}

/// `HOST_RE` after its `H=` at `q`, from the name's end on.
fn host_tail<'a>(s: &'a str, q: usize, name: Option<&'a str>) -> R<Option<(HostGroup<'a>, usize)>> {
    let b = s.as_bytes();
    let mut helos: Vec<(Option<&str>, usize)> = Vec::new();
    if b.get(q) == Some(&b'(') {
        let mut k = q + 1;
        while k < b.len() && b[k] != b'\n' {
            if b[k..].starts_with(b") ")
                && (b[k + 2..].starts_with(b"[") || b[k + 2..].starts_with(b"DS ["))
            {
                helos.push((Some(&s[q + 1..k]), k + 2));
            }
            k += 1;
        }
    }
    helos.push((None, q));
    for (helo, next) in helos {
        let mut dss = Vec::new();
        if s[next..].starts_with("DS ") {
            dss.push((true, next + 3));
        }
        dss.push((false, next));
        for (ds, r) in dss {
            if b.get(r) != Some(&b'[') {
                continue;
            }
            let mut e = r + 1;
            while let Some(c) = char_at(s, e) {
                if c == ']' || py_space(c) {
                    break;
                }
                e += c.len_utf8();
            }
            if b.get(e) != Some(&b']') {
                continue;
            }
            let address = &s[r + 1..e];
            let mut end = e + 1;
            let mut port = None;
            if b.get(end) == Some(&b':') {
                let w = word_end(s, end + 1)?;
                if w > end + 1 {
                    port = Some(&s[end + 1..w]);
                    end = w;
                }
            }
            let reuse = b.get(end) == Some(&b'*');
            if reuse {
                end += 1;
            }
            let g = HostGroup {
                address,
                name,
                helo,
                ds,
                port,
                reuse,
            };
            return Ok(Some((g, end)));
        }
    }
    Ok(None)
}

/// `fields.host_group` at `pos` (which holds `H=`); the loose fallback is declined.
fn host_group(s: &str, pos: usize) -> R<Option<(HostGroup<'_>, usize)>> {
    let p = pos + 2;
    let mut ends = Vec::new();
    if let Some(c) = char_at(s, p) {
        if !py_space(c) && c != '(' && c != '[' {
            let mut e = p + c.len_utf8();
            ends.push(e);
            while let Some(c) = char_at(s, e) {
                if py_space(c) || c == '[' {
                    break;
                }
                e += c.len_utf8();
                ends.push(e);
            }
        }
    }
    for &e in ends.iter().rev() {
        let name = Some(&s[p..e]);
        if s.as_bytes().get(e) == Some(&b' ') {
            if let Some(found) = host_tail(s, e + 1, name)? {
                return Ok(Some(found));
            }
        }
        if let Some(found) = host_tail(s, e, name)? {
            return Ok(Some(found));
        }
    }
    if let Some(found) = host_tail(s, p, None)? {
        return Ok(Some(found));
    }
    if s[p..].contains('[') {
        return Err(Decline); // HOST_LOOSE_RE's mangled groups are not ported
    }
    Ok(None)
}

fn interface(value: &str) -> R<Value> {
    let mut out = Obj::new();
    let b = value.as_bytes();
    if b.first() == Some(&b'[') {
        if let Some(k) = value.find(']') {
            let rest = &value[k + 1..];
            let port = if rest.is_empty() {
                Some(None)
            } else if let Some(p) = rest.strip_prefix(':') {
                let w = word_end(p, 0)?;
                (w == p.len() && w > 0).then_some(Some(p))
            } else {
                None
            };
            if let Some(port) = port {
                out.insert("address".into(), value[1..k].into());
                if let Some(port) = port {
                    if port.bytes().all(|c| c.is_ascii_digit()) {
                        out.insert("port".into(), port_value(port));
                    } else {
                        out.insert("port_name".into(), port.into());
                    }
                }
                return Ok(Value::Object(out));
            }
        }
    }
    out.insert("address".into(), value.into());
    Ok(Value::Object(out))
}

fn tls_cipher(value: &str) -> R<Obj> {
    let mut out = Obj::new();
    let mut value = value;
    if let Some(v) = value.strip_suffix('*') {
        out.insert("resumed".into(), true.into());
        value = v;
    }
    let parts: Vec<&str> = value.split(':').collect();
    let proto = parts[0];
    if !proto.is_ascii() {
        return Err(Decline);
    }
    let upper = proto.to_ascii_uppercase();
    if upper.starts_with("TLS") || upper.starts_with("SSL") {
        out.insert(
            "version_protocol".into(),
            upper[..3].to_ascii_lowercase().into(),
        );
        let mut version = proto[3..].trim_start_matches(['v', 'V']).to_string();
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
        if let Some(bits) = integer(parts[2])? {
            out.insert("bits".into(), bits.into());
        }
    }
    if parts.len() > 3 && !parts[3].is_empty() {
        out.insert("kex_group".into(), parts[3].into());
    }
    Ok(out)
}

/// `REMOTE_ID_RE.search`: `\bid=(MSGID)(?![0-9A-Za-z-])`.
fn remote_id(s: &str) -> R<Option<&str>> {
    let b = s.as_bytes();
    let ok = |i: usize| b.get(i).is_some_and(u8::is_ascii_alphanumeric);
    let run = |from: usize, n: usize| (from..from + n).all(ok);
    let mut from = 0;
    while let Some(k) = s[from..].find("id=") {
        let at = from + k;
        from = at + 1;
        if let Some(prev) = s[..at].chars().next_back() {
            if !prev.is_ascii() {
                return Err(Decline);
            }
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
                return Ok(Some(&s[m..m + 23]));
            }
            if run(m + 7, 6) && b.get(m + 13) == Some(&b'-') && run(m + 14, 2) && free(m + 16) {
                return Ok(Some(&s[m..m + 16]));
            }
        }
    }
    Ok(None)
}

// --- the document under construction (event.py) -------------------------------------------------

pub struct Event {
    pub doc: Obj,
    pub exim: Obj,
}

fn sub<'a>(map: &'a mut Obj, name: &str) -> &'a mut Obj {
    let v = map
        .entry(name.to_string())
        .or_insert_with(|| Value::Object(Obj::new()));
    match v {
        Value::Object(o) => o,
        _ => unreachable!("sections are objects"),
    }
}

impl Event {
    fn sec(&mut self, name: &str) -> &mut Obj {
        sub(&mut self.doc, name)
    }

    fn host(&mut self, side: &str, g: &HostGroup<'_>) -> R<()> {
        let facts = ip_facts(g.address)?;
        let s = self.sec(side);
        s.insert("address".into(), g.address.into());
        if let Some((ip, _)) = facts {
            s.insert("ip".into(), ip.into());
        }
        if let Some(port) = g.port {
            if port.bytes().all(|c| c.is_ascii_digit()) {
                s.insert("port".into(), port_value(port));
            }
        }
        if let Some(name) = g.name {
            s.insert("domain".into(), name.into());
        }
        if let Some(helo) = g.helo {
            self.exim.insert("helo".into(), helo.into());
        }
        if g.reuse {
            self.exim.insert("connection_reused".into(), true.into());
        }
        if g.ds {
            self.exim.insert("dnssec".into(), true.into());
        }
        Ok(())
    }

    fn sender(&mut self, address: &str) {
        let address = strip_angle(address);
        if address.is_empty() || address == "<>" {
            self.exim.insert("sender_empty".into(), true.into());
            return;
        }
        sub(self.sec("email"), "from").insert("address".into(), address.into());
    }

    fn recipients(&mut self, addresses: &[&str]) {
        if addresses.is_empty() {
            return;
        }
        let to = sub(self.sec("email"), "to");
        let list = to
            .entry("address")
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(a) = list {
            a.extend(addresses.iter().map(|&x| Value::from(x)));
        }
    }

    fn unknown(&mut self, tag: &str, val: &str) {
        sub(&mut self.exim, "fields").insert(tag.into(), val.into());
    }

    /// `tags.apply_field`.
    fn apply_field(&mut self, tag: &str, val: &str, arrival: bool, side: &str) -> R<()> {
        let val = match val.strip_suffix(':') {
            Some(v) if !val.starts_with('"') => v,
            _ => val,
        };
        let t = tables::tags();
        if t.durations.contains_key(tag) {
            match duration(val)? {
                Some(d) => {
                    self.exim.insert(t.durations[tag].clone(), d.into());
                }
                None => self.unknown(tag, val),
            }
            return Ok(());
        }
        if let Some(name) = t.plain.get(tag) {
            self.exim.insert(name.clone(), val.into());
            return Ok(());
        }
        match tag {
            "T" if arrival => {
                self.sec("email")
                    .insert("subject".into(), unquote(val)?.into());
            }
            "T" => {
                self.exim.insert("transport".into(), val.into());
            }
            "R" => {
                let k = if arrival { "bounce_of" } else { "router" };
                self.exim.insert(k.into(), val.into());
            }
            "P" if arrival => {
                self.exim.insert("protocol".into(), val.into());
            }
            "P" => {
                self.exim
                    .insert("return_path".into(), strip_angle(val).into());
            }
            "S" => match integer(val)? {
                Some(n) => {
                    self.exim.insert("size".into(), n.into());
                }
                None => self.unknown(tag, val),
            },
            "C" => {
                if val.starts_with('"') {
                    let conf = unescape(&unquote(val)?)?;
                    let rid = remote_id(&conf)?.map(str::to_string);
                    self.exim.insert("smtp_confirmation".into(), conf.into());
                    if let Some(rid) = rid {
                        self.exim.insert("remote_id".into(), rid.into());
                    }
                } else {
                    let cmds: Vec<Value> = val.split(',').map(Value::from).collect();
                    self.exim.insert("smtp_commands".into(), cmds.into());
                }
            }
            "X" => {
                let tls = tls_cipher(val)?;
                let mut extra = Obj::new();
                let t = self.sec("tls");
                for (k, v) in tls {
                    if matches!(k.as_str(), "version" | "version_protocol" | "cipher") {
                        t.insert(k, v);
                    } else {
                        extra.insert(k, v);
                    }
                }
                if !extra.is_empty() {
                    sub(&mut self.exim, "tls").extend(extra);
                }
            }
            "A" => {
                let mut parts = val.splitn(3, ':');
                let mut a = Obj::new();
                a.insert("authenticator".into(), parts.next().unwrap_or("").into());
                let id = parts.next().filter(|x| !x.is_empty());
                if let Some(id) = id {
                    a.insert("id".into(), id.into());
                }
                if let Some(sender) = parts.next().filter(|x| !x.is_empty()) {
                    a.insert("sender".into(), sender.into());
                }
                self.exim.insert("auth".into(), a.into());
                if let (Some(id), "source") = (id, side) {
                    self.sec("user").insert("name".into(), id.into());
                }
            }
            "I" => {
                self.exim.insert("interface".into(), interface(val)?);
            }
            "PRX" => {
                self.exim.insert("proxy".into(), interface(val)?);
            }
            "U" => {
                self.exim.insert("ident".into(), val.into());
            }
            "F" => self.sender(val),
            "id" | "id*" => {
                self.sec("email")
                    .insert("message_id".into(), unescape(val)?.into());
                if tag == "id*" {
                    self.exim.insert("message_id_generated".into(), true.into());
                }
            }
            "CV" => {
                sub(&mut self.exim, "tls").insert("certificate_verified".into(), val.into());
            }
            "DN" => {
                let peer = if side == "source" { "client" } else { "server" };
                let v = unquote(val)?;
                sub(self.sec("tls"), peer).insert("subject".into(), v.into());
            }
            "SNI" => {
                let v = unquote(val)?;
                sub(self.sec("tls"), "client").insert("server_name".into(), v.into());
            }
            "DKIM" => {
                let v: Vec<Value> = if arrival {
                    vec![val.into()]
                } else {
                    val.split(':').map(Value::from).collect()
                };
                self.exim.insert("dkim".into(), v.into());
            }
            "input" => {
                self.exim.insert("smtp_input".into(), unquote(val)?.into());
            }
            "DMARC" => {
                self.exim.insert("dmarc".into(), val.into());
            }
            "SPF" => {
                self.exim.insert("spf".into(), val.into());
            }
            _ => self.unknown(tag, val),
        }
        Ok(())
    }

    /// `tags.scan`: tags and markers from `pos`, up to the first other word.
    fn scan(&mut self, s: &str, mut pos: usize, arrival: bool, side: &str) -> R<usize> {
        let n = s.len();
        let markers = &tables::tags().markers;
        while pos < n {
            if s.as_bytes()[pos] == b' ' {
                pos += 1;
                continue;
            }
            if s[pos..].starts_with("H=") {
                if self.doc.contains_key(side) {
                    break;
                }
                if let Some((g, end)) = host_group(s, pos)? {
                    self.host(side, &g)?;
                    pos = end;
                    continue;
                }
            }
            if let Some((tag, val, end)) = field_match(s, pos) {
                self.apply_field(tag, val, arrival, side)?;
                pos = end;
                continue;
            }
            let end = s[pos..].find(' ').map_or(n, |k| pos + k);
            let word = &s[pos..end];
            if !markers.iter().any(|m| m == word) {
                break;
            }
            let list = self
                .exim
                .entry("markers")
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(a) = list {
                a.push(word.into());
            }
            pos = end;
        }
        Ok(pos)
    }

    fn unparsed(&mut self, words: &[&str]) {
        if !words.is_empty() {
            self.exim.insert("unparsed".into(), words.join(" ").into());
        }
    }

    /// `Event.remote_host`: a remote host named inside free text.
    fn remote_host(&mut self, side: &str, name: &str, address: &str) -> R<()> {
        if self.doc.contains_key(side) {
            return Ok(());
        }
        let g = HostGroup {
            address,
            name: (!name.is_empty()).then_some(name),
            helo: None,
            ds: false,
            port: None,
            reuse: false,
        };
        self.host(side, &g)
    }

    /// `Event.error` as the flag lines call it (no context, no default, the destination side).
    fn error(
        &mut self,
        message: &str,
        temporary: Option<bool>,
        errno: Option<&str>,
        stage: Option<&str>,
    ) -> R<()> {
        use crate::classify as c;
        let message = message.trim_matches(py_space);
        let mut err = Obj::new();
        if !message.is_empty() {
            err.insert("message".into(), message.into());
        }
        let facts = if message.contains("SMTP") || message.contains("after") {
            c::smtp_error(message)?
        } else {
            c::SmtpFacts::default()
        };
        if let Some((name, ip)) = &facts.host {
            self.remote_host("destination", name, ip)?;
        }
        let (text, code, enhanced) = match facts.text {
            Some(t) => (t, facts.smtp_code, facts.enhanced),
            None => {
                let (code, enh) = c::response_codes(message)?;
                (message.to_string(), code, enh)
            }
        };
        if !text.is_empty() {
            err.insert("text".into(), text.as_str().into());
        }
        if let Some(code) = code {
            err.insert("smtp_code".into(), code.into());
        }
        if let Some(e) = enhanced.as_deref().filter(|e| !e.is_empty()) {
            err.insert("enhanced_code".into(), e.into());
        }
        if let Some(stage) = facts.stage.or(stage) {
            err.insert("stage".into(), stage.into());
        }
        if let Some(errno) = errno {
            // Python's int(): surrounding whitespace, a sign, ASCII digits (`_` and other digits declined).
            let t = errno.trim_matches(py_space);
            if !t.is_ascii() || t.contains('_') {
                return Err(Decline);
            }
            let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
            match t.parse::<i64>() {
                Ok(n) if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
                    err.insert("errno".into(), n.into());
                }
                _ if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
                    return Err(Decline); // beyond i64
                }
                _ => {
                    err.insert("errno_raw".into(), errno.into());
                }
            }
        }
        let basis = if text.is_empty() { message } else { &text };
        let (name, temp) = c::classify(basis, code, enhanced.as_deref(), errno, temporary);
        if !err.contains_key("stage") {
            if c::is_connect_class(&name) {
                err.insert("stage".into(), "connect".into());
            } else if !self.doc.contains_key("destination") {
                err.insert("stage".into(), "local".into());
            }
        }
        let local = c::routed_locally(self.exim.get("router").and_then(Value::as_str));
        err.insert("class".into(), name.as_str().into());
        err.insert("temporary".into(), temp.into());
        err.insert("hint".into(), c::hint_for(&name, local).into());
        sub(&mut self.exim, "error").extend(err);
        Ok(())
    }

    /// `parse._failure`.
    fn failure(&mut self, rest: &str) -> R<()> {
        let mut idx = rest.find(" : ");
        if idx.is_some_and(|i| rest[..i].contains("SMTP error from remote")) {
            idx = None;
        }
        let (head, mut msg) = match idx {
            Some(i) => (&rest[..i], &rest[i + 3..]),
            None => match rest.find(": ") {
                Some(i) => (&rest[..i], &rest[i + 2..]),
                None => (rest, ""),
            },
        };
        if let Some(k) = msg.rfind(" DT=") {
            let dt = &msg[k + 4..];
            if !dt.is_empty() && !dt.chars().any(py_space) {
                if let Some(d) = duration(dt)? {
                    self.exim.insert("delivery_time".into(), d.into());
                }
                msg = &msg[..k];
            }
        }
        self.recipient_head(head)?;
        self.error(msg, Some(false), None, None)
    }

    /// `parse._deferral`.
    fn deferral(&mut self, rest: &str) -> R<()> {
        let Some((head, routing, errno, tail)) = defer_match(rest) else {
            let (head, msg) = match rest.find(": ") {
                Some(i) => (&rest[..i], &rest[i + 2..]),
                None => (rest, ""),
            };
            self.recipient_head(head)?;
            return self.error(msg, Some(true), None, None);
        };
        self.recipient_head(head)?;
        let mut before = tail;
        let mut after = "";
        let mut hpos = tail.find(" H=");
        if let (Some(reply), Some(h)) = (tail.find("SMTP error from remote"), hpos) {
            if reply < h {
                hpos = None;
            }
        }
        if let Some(h) = hpos {
            if let Some((g, end)) = host_group(tail, h + 1)? {
                self.host("destination", &g)?;
                before = &tail[..h];
                let a = &tail[end..];
                let pos = self.scan(a, 0, false, "destination")?;
                after = &a[pos..];
            }
        } else {
            let pos = if tail.starts_with(' ') {
                self.scan(tail, 0, false, "destination")?
            } else {
                0
            };
            before = &tail[pos..];
        }
        let parts: Vec<&str> = [
            before.trim_start_matches(':'),
            after.trim_start_matches(':'),
        ]
        .into_iter()
        .filter(|p| !p.trim_matches([' ', ':']).is_empty())
        .map(|p| p.trim_matches(py_space))
        .collect();
        let message = parts.join(": ");
        self.error(
            &message,
            Some(true),
            Some(errno),
            routing.then_some("local"),
        )
    }

    /// `parse._arrival`.
    fn arrival(&mut self, rest: &str) -> R<()> {
        let Some(first) = address_end(rest, 0) else {
            if !rest.trim().is_empty() {
                return Err(Decline); // Python's strip() is Unicode's
            }
            return Ok(());
        };
        self.sender(&rest[..first]);
        let mut pos = first;
        let n = rest.len();
        let mut unparsed = Vec::new();
        while pos < n {
            pos = self.scan(rest, pos, true, "source")?;
            if pos >= n {
                break;
            }
            if rest[pos..].starts_with("for ") {
                let mut rcpts = address_findall(rest, pos + 4);
                if rcpts.last() == Some(&"<trunc>") {
                    rcpts.pop();
                    self.exim.insert("recipients_truncated".into(), true.into());
                }
                self.recipients(&rcpts);
                break;
            }
            if rest[pos..].starts_with("from <") {
                let end = angle_end(rest, pos + 5).unwrap_or(n);
                let orig = rest.get(pos + 6..end - 1).ok_or(Decline)?;
                self.exim.insert("original_sender".into(), orig.into());
                pos = end;
                continue;
            }
            let end = rest[pos..].find(' ').map_or(n, |k| pos + k);
            unparsed.push(&rest[pos..end]);
            pos = end;
        }
        self.unparsed(&unparsed);
        Ok(())
    }

    /// `parse._recipient_head` of delivery lines.
    fn recipient_head(&mut self, head: &str) -> R<()> {
        let aend = if head.starts_with('|') {
            Some(pipe_end(head))
        } else {
            address_end(head, 0)
        };
        let Some(aend) = aend else {
            if !head.trim().is_empty() {
                return Err(Decline);
            }
            return Ok(());
        };
        let address = &head[..aend];
        let mut pos = aend;
        if head[pos..].starts_with(" (") {
            if let Some(k) = head[pos + 2..].find(')') {
                let parents: Vec<Value> = head[pos + 2..pos + 2 + k]
                    .split(", ")
                    .map(Value::from)
                    .collect();
                self.exim.insert("parents".into(), parents.into());
                pos = pos + 2 + k + 1;
            }
        }
        let mut top = None;
        if head[pos..].starts_with(" <") {
            if let Some(e) = angle_end(head, pos + 1) {
                let t = &head[pos + 2..e - 1];
                self.exim.insert("original_address".into(), t.into());
                top = Some(t);
                pos = e;
            }
        }
        self.exim.insert("address".into(), address.into());
        let first = address.chars().next().unwrap_or(' ');
        if address.contains('@') && !"|/>".contains(first) {
            self.recipients(&[address]);
        } else if let Some(t) = top.filter(|t| !t.is_empty()) {
            self.recipients(&[t]);
        } else {
            self.recipients(&[address]);
        }
        let n = head.len();
        let mut unparsed = Vec::new();
        while pos < n {
            pos = self.scan(head, pos, false, "destination")?;
            if pos >= n {
                break;
            }
            let end = head[pos..].find(' ').map_or(n, |k| pos + k);
            unparsed.push(&head[pos..end]);
            pos = end;
        }
        self.unparsed(&unparsed);
        Ok(())
    }
}

/// `PIPE_ADDRESS_RE.match` on a head starting with `|`: `\|.*?(?= \(| <| [A-Z][A-Za-z]*=|$)`.
fn pipe_end(head: &str) -> usize {
    let b = head.as_bytes();
    for (i, _) in head.char_indices().skip(1) {
        let at = &b[i..];
        if at.starts_with(b" (") || at.starts_with(b" <") {
            return i;
        }
        if at.len() > 2 && at[0] == b' ' && at[1].is_ascii_uppercase() {
            let mut j = 2;
            while j < at.len() && at[j].is_ascii_alphabetic() {
                j += 1;
            }
            if at.get(j) == Some(&b'=') {
                return i;
            }
        }
        if head[i..] == *"\n" {
            return i; // `$` also matches before a final newline
        }
    }
    head.len()
}

/// `DEFER_RE.match`: `(?P<head>.*?)(?P<routing> routing)? defer \((?P<errno>[^)]*)\)(?P<tail>.*)` (re.S).
fn defer_match(rest: &str) -> Option<(&str, bool, &str, &str)> {
    for (i, _) in rest.char_indices() {
        let at = &rest[i..];
        for (routing, lead) in [(true, " routing defer ("), (false, " defer (")] {
            if let Some(e) = at.strip_prefix(lead) {
                if let Some(k) = e.find(')') {
                    return Some((&rest[..i], routing, &e[..k], &e[k + 1..]));
                }
            }
        }
    }
    None
}

/// What a claimed body gave: its action and the fields it filled.
pub struct Parsed {
    pub action: &'static str,
    pub flag: Option<&'static str>,
}

fn claimed(action: &str) -> Option<&'static str> {
    CLAIMED.iter().copied().find(|&a| a == action)
}

/// `EntryParser._body` for the claimed kinds; `Ok(None)` for a body of another kind.
pub fn parse_body(ev: &mut Event, body: &str) -> R<Option<Parsed>> {
    let flag = body.get(..2).unwrap_or("");
    if let Some(meta) = tables::actions().flags.get(flag) {
        if body.len() == 2 || body.as_bytes()[2] == b' ' || flag == "<=" {
            let Some(action) = claimed(&meta.action) else {
                return Ok(None);
            };
            let flag: &'static str = match flag {
                "<=" => "<=",
                "(=" => "(=",
                "=>" => "=>",
                "->" => "->",
                ">>" => ">>",
                "*>" => "*>",
                "**" => "**",
                "==" => "==",
                _ => return Ok(None),
            };
            ev.exim.insert("flag".into(), flag.into());
            let rest = body[2..].trim_start_matches(' ');
            if meta.arrival {
                ev.arrival(rest)?;
            } else if flag == "**" {
                ev.failure(rest)?;
            } else if flag == "==" {
                ev.deferral(rest)?;
            } else {
                ev.recipient_head(rest)?;
            }
            return Ok(Some(Parsed {
                action,
                flag: Some(flag),
            }));
        }
    }
    if let Some(tail) = body.strip_prefix("Completed") {
        // `Completed(?: QT=(?P<qt>\S+))?\s*\Z`
        let mut qt = None;
        let mut t = tail;
        if let Some(q) = tail.strip_prefix(" QT=") {
            let e = non_space_end(q, 0);
            if e > 0 {
                qt = Some(&q[..e]);
                t = &q[e..];
            }
        }
        if t.chars().all(py_space) {
            if let Some(qt) = qt {
                if let Some(d) = duration(qt)? {
                    ev.exim.insert("queue_time".into(), d.into());
                }
            }
            return Ok(Some(Parsed {
                action: "message_completed",
                flag: None,
            }));
        }
        return Err(Decline);
    }
    Ok(None)
}

/// `_HEADER_LINE_RE.match`: `[A-Z* ] Name: …`.
fn header_line(l: &str) -> bool {
    let b = l.as_bytes();
    if b.len() < 4 || !(b[0].is_ascii_uppercase() || b[0] == b'*' || b[0] == b' ') || b[1] != b' ' {
        return false;
    }
    if !b[2].is_ascii_alphabetic() {
        return false;
    }
    let mut i = 3;
    while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'-') {
        i += 1;
    }
    b.get(i) == Some(&b':')
}

/// `EntryParser._continuation` for a body (already without its leading spaces) and the lines after
/// the first: the joined body, or None for a header dump (not ported).
pub fn continuation(body: &str, more: &str) -> Option<String> {
    let lines: Vec<&str> = more.split('\n').map(|l| l.trim_end_matches('\r')).collect();
    if lines[0].starts_with("Envelope-") || header_line(lines[0]) {
        return None;
    }
    if body.is_empty() {
        return None; // `lstrip` would also take the joining space
    }
    let extra: Vec<&str> = lines
        .iter()
        .map(|l| l.trim_matches(py_space))
        .filter(|l| !l.is_empty())
        .collect();
    if extra.is_empty() {
        return Some(body.to_string());
    }
    Some(format!("{body} {}", extra.join(" ")))
}

/// `parse.EntryParser._finish`'s `event` for an action.
pub fn event_section(action: &str, original: &str, dataset: &str, failed: bool) -> R<Value> {
    let meta = tables::actions().actions.get(action).ok_or(Decline)?;
    let mut e = Obj::new();
    e.insert("original".into(), original.into());
    e.insert("action".into(), action.into());
    e.insert("kind".into(), "event".into());
    e.insert("type".into(), meta.kind.clone().into());
    let outcome = if failed {
        "failure"
    } else {
        meta.outcome.as_str()
    };
    e.insert("outcome".into(), outcome.into());
    e.insert("dataset".into(), dataset.into());
    if !meta.category.is_empty() {
        e.insert("category".into(), meta.category.clone().into());
    }
    Ok(Value::Object(e))
}

fn get<'a>(o: &'a Obj, path: &[&str]) -> Option<&'a Value> {
    let (last, head) = path.split_last()?;
    let mut cur = o;
    for k in head {
        cur = cur.get(*k)?.as_object()?;
    }
    cur.get(*last)
}

fn get_str<'a>(o: &'a Obj, path: &[&str]) -> Option<&'a str> {
    get(o, path).and_then(Value::as_str)
}

fn push_unique(list: &mut Vec<String>, v: &str) {
    if !list.iter().any(|x| x == v) {
        list.push(v.to_string());
    }
}

/// `enrich.enrich` on a claimed document (`exim` not yet in `doc`); returns the `exim` to store.
pub fn enrich(doc: &mut Obj, mut exim: Obj, flag: Option<&str>, first_line: &str) -> R<Obj> {
    let mut remote = Obj::new();
    let mut hosts: Vec<String> = Vec::new();
    let mut related_ip: Vec<String> = Vec::new();
    if doc.contains_key("source") {
        side_facts(doc, "source", &mut remote)?;
        let name = get_str(doc, &["source", "domain"])
            .filter(|d| !d.is_empty())
            .map(str::to_string);
        exim.insert("reverse_verified".into(), name.is_some().into());
        if let Some(helo) = exim.get("helo").and_then(Value::as_str).map(str::to_string) {
            let is_ip = if helo.starts_with('[') && helo.ends_with(']') && helo.len() >= 2 {
                let inner = &helo[1..helo.len() - 1];
                let inner = if inner.len() >= 5
                    && inner.is_char_boundary(5)
                    && inner[..5].eq_ignore_ascii_case("ipv6:")
                {
                    &inner[5..]
                } else {
                    inner
                };
                ip_kind(inner)?.is_some()
            } else {
                ip_kind(&helo)?.is_some()
            };
            exim.insert("helo_is_ip".into(), is_ip.into());
            if let Some(name) = &name {
                if !helo.is_ascii() || !name.is_ascii() {
                    return Err(Decline);
                }
                exim.insert(
                    "helo_mismatch".into(),
                    (!helo.eq_ignore_ascii_case(name)).into(),
                );
            }
            hosts.push(helo);
        }
    }
    if doc.contains_key("destination") {
        side_facts(doc, "destination", &mut remote)?;
    }
    for side in ["source", "destination"] {
        if let Some(ip) = get_str(doc, &[side, "ip"]) {
            related_ip.push(ip.to_string());
        }
        if let Some(d) = get_str(doc, &[side, "domain"]).filter(|d| !d.is_empty()) {
            hosts.push(d.to_string());
        }
    }
    let mut sender_domain = None;
    let mut rcpt_domains: Vec<String> = Vec::new();
    if doc.contains_key("email") {
        if let Some(sender) = get_str(doc, &["email", "from", "address"]) {
            if let Some((local, domain)) = address_parts(sender)? {
                exim.insert("sender_local_part".into(), local.into());
                exim.insert("sender_domain".into(), domain.clone().into());
                hosts.push(domain.clone());
                sender_domain = Some(domain);
            }
        }
        let mut locals: Vec<String> = Vec::new();
        if let Some(Value::Array(to)) = get(doc, &["email", "to", "address"]) {
            for r in to {
                if let Some((l, d)) = address_parts(r.as_str().unwrap_or(""))? {
                    push_unique(&mut locals, &l);
                    push_unique(&mut rcpt_domains, &d);
                }
            }
        }
        if !locals.is_empty() {
            exim.insert("recipient_local_parts".into(), locals.into());
        }
        if !rcpt_domains.is_empty() {
            exim.insert("recipient_domains".into(), rcpt_domains.clone().into());
            hosts.extend(rcpt_domains.iter().cloned());
        }
    }
    let delivery = flag.is_some_and(|f| tables::actions().flags.get(f).is_some_and(|m| !m.arrival));
    let outbound = doc.contains_key("destination") || delivery;
    let mut candidates: Vec<&str> = Vec::new();
    for side in ["destination", "source"] {
        if let Some(d) = get_str(doc, &[side, "domain"]).filter(|d| !d.is_empty()) {
            candidates.push(d);
        }
    }
    if outbound {
        if let Some(d) = rcpt_domains.first() {
            candidates.push(d);
        }
    }
    if flag == Some("<=") && doc.contains_key("source") {
        if let Some(d) = &sender_domain {
            candidates.push(d);
        }
    }
    for c in candidates {
        if let Some(family) = provider(c)? {
            remote.insert("provider".into(), family.into());
            break;
        }
    }
    if !remote.is_empty() {
        exim.insert("remote".into(), remote.into());
    }
    let mut users: Vec<String> = Vec::new();
    for v in [
        get_str(doc, &["user", "name"]),
        exim.get("ident").and_then(Value::as_str),
        exim.get("cpanel_user").and_then(Value::as_str),
        get_str(&exim, &["auth", "id"]),
    ]
    .into_iter()
    .flatten()
    {
        if !v.is_empty() {
            push_unique(&mut users, v);
        }
    }
    let mut related = Obj::new();
    if !related_ip.is_empty() {
        related.insert("ip".into(), related_ip.into());
    }
    if !users.is_empty() {
        related.insert("user".into(), users.into());
    }
    if !hosts.is_empty() {
        let mut seen: Vec<String> = Vec::new();
        for h in hosts {
            if !h.is_ascii() {
                return Err(Decline);
            }
            push_unique(&mut seen, &h.to_ascii_lowercase());
        }
        related.insert("hosts".into(), seen.into());
    }
    if !related.is_empty() {
        doc.insert("related".into(), related.into());
    }
    if let Some(view) = eximstats_view(first_line)? {
        exim.insert("eximstats".into(), view.into());
    }
    Ok(exim)
}

fn side_facts(doc: &mut Obj, side: &str, remote: &mut Obj) -> R<()> {
    let address = get_str(doc, &[side, "ip"]).or_else(|| get_str(doc, &[side, "address"]));
    if let Some(a) = address.filter(|a| !a.is_empty()) {
        if let Some((version, kind)) = ip_kind(a)? {
            remote.insert("ip_version".into(), version.into());
            remote.insert("ip_kind".into(), kind.into());
        }
    }
    if let Some(name) = get_str(doc, &[side, "domain"]).filter(|d| !d.is_empty()) {
        if let Some(reg) = registered_domain(name)? {
            sub(doc, side).insert("registered_domain".into(), reg.into());
        }
    }
    Ok(())
}

/// `hosts.registered_domain`.
fn registered_domain(name: &str) -> R<Option<String>> {
    if !name.is_ascii() || name.to_ascii_lowercase().contains("xn--") {
        return Err(Decline);
    }
    let name = name.trim_matches('.').to_ascii_lowercase();
    if name.is_empty() || !name.contains('.') || name.starts_with('[') || ip_kind(&name)?.is_some()
    {
        return Ok(None);
    }
    Ok(crate::suffixes::private_suffix(&name))
}

/// `eximstats.eximstats_view` for the claimed lines; the reject reading is declined.
fn eximstats_view(line: &str) -> R<Option<Obj>> {
    let words = line.contains("rejected") || line.contains("refused") || line.contains("dropped");
    if !words && !line.contains(" <= ") && !line.contains(" => ") && !line.contains(" -> ") {
        return Ok(None);
    }
    let Some(p) = crate::prefix::parse(line) else {
        return Err(Decline);
    };
    if line.chars().count() + 1 < 38 {
        return Ok(None);
    }
    let Some(id) = p.id else {
        return Err(Decline);
    };
    let id_end = id.as_ptr() as usize - line.as_ptr() as usize + id.len();
    if line.as_bytes().get(id_end) != Some(&b' ') {
        return Err(Decline);
    }
    let mut rest = &line[id_end + 1..];
    let mut flag = None;
    if let Some(f) = rest.get(..2) {
        if f == "SA" || f.bytes().all(|c| b"<>=*-".contains(&c)) {
            flag = Some(f);
            rest = rest.get(3..).unwrap_or("");
        }
    }
    if flag.is_none() && words {
        return Err(Decline);
    }
    let has_t = {
        let mut found = false;
        let mut from = 0;
        while let Some(k) = rest[from..].find("T=") {
            let at = from + k;
            from = at + 1;
            let prev = rest[..at].chars().next_back();
            if prev.is_some_and(py_space)
                && rest[at + 2..].chars().next().is_some_and(|c| !py_space(c))
            {
                found = true;
                break;
            }
        }
        found
    };
    let mut out = Obj::new();
    if flag == Some("=>") && !has_t {
        // `_reason` and `_ip`: only the reading where no pattern can match (`Unknown`, `local`) is ported.
        if REASON_WORDS.iter().any(|w| rest.contains(w))
            || rest.contains("H=")
            || rest.contains("Connection from ")
            || rest.contains("SMTP call from ")
        {
            return Err(Decline);
        }
        out.insert("reject".into(), "permanent".into());
        out.insert("reason".into(), "Unknown".into());
        out.insert("ip".into(), "local".into());
    }
    let host = if matches!(flag, Some("<=" | "=>" | "->")) {
        host_word(rest)?
    } else {
        None
    };
    if matches!(flag, Some("<=" | "=>")) {
        out.insert("host".into(), host.unwrap_or("local").into());
    }
    if flag == Some("<=") && host.is_none() {
        if let Some(u) = user_word(rest) {
            out.insert("user".into(), u.into());
        }
    } else if matches!(flag, Some("=>" | "->")) && host.is_none() {
        let sep = if rest.contains(" <") { " <" } else { " " };
        let user = rest.split(sep).next().unwrap_or("");
        let mut user = user.to_string();
        if user.starts_with('/') || user.starts_with('|') {
            // A file or pipe: named with the address it was for (`_PARENT`: ` (<.+?>) `).
            if let Some(parent) = parent(rest) {
                user = format!("{user} {parent}");
            }
        }
        out.insert("destination".into(), user.into());
    }
    Ok((!out.is_empty()).then_some(out))
}

/// A literal every pattern of eximstats' `_reason` needs: a line holding none of them reads `Unknown`.
const REASON_WORDS: &[&str] = &[
    "rejected",
    "refused",
    "dropped",
    "SpamAssassin",
    "listed at ",
    "Forged IP detected in HELO",
    "Invalid domain or IP given in HELO/EHLO",
    "closed connection ",
    "DATA ACL discarded recipients",
    "too many recipients",
    "local_scan",
    "SMTP protocol ",
    "message too big",
    "response to \"RCPT TO",
    "lookup of host ",
    "error from remote mailer after ",
];

/// `\bH=(\S+)`.
fn host_word(rest: &str) -> R<Option<&str>> {
    let mut from = 0;
    while let Some(k) = rest[from..].find("H=") {
        let at = from + k;
        from = at + 1;
        if let Some(prev) = rest[..at].chars().next_back() {
            if !prev.is_ascii() {
                return Err(Decline);
            }
            if is_word(prev) {
                continue;
            }
        }
        let e = non_space_end(rest, at + 2);
        if e > at + 2 {
            return Ok(Some(&rest[at + 2..e]));
        }
    }
    Ok(None)
}

/// `_PARENT.search`: ` (<.+?>) `.
fn parent(rest: &str) -> Option<&str> {
    let b = rest.as_bytes();
    let mut from = 0;
    while let Some(k) = rest[from..].find(" <") {
        let a = from + k;
        from = a + 1;
        let mut j = a + 3;
        while j < b.len() && b[j - 1] != b'\n' {
            if b[j] == b'\n' {
                break;
            }
            if b[j] == b'>' && b.get(j + 1) == Some(&b' ') {
                return Some(&rest[a + 1..=j]);
            }
            j += 1;
        }
    }
    None
}

/// `\sU=(\S+)`.
fn user_word(rest: &str) -> Option<&str> {
    let mut from = 0;
    while let Some(k) = rest[from..].find("U=") {
        let at = from + k;
        from = at + 1;
        if rest[..at].chars().next_back().is_some_and(py_space) {
            let e = non_space_end(rest, at + 2);
            if e > at + 2 {
                return Some(&rest[at + 2..e]);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_as_python() {
        assert_eq!(duration("1.234s"), Ok(Some(1.234)));
        assert_eq!(duration("1h2m3s"), Ok(Some(3723.0)));
        assert_eq!(duration("2d"), Ok(Some(172_800.0)));
        assert_eq!(duration("-5s"), Ok(Some(-5.0)));
        assert_eq!(duration("-"), Ok(None));
        assert_eq!(duration("5"), Ok(None));
        assert_eq!(duration("1.s"), Ok(None));
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
        assert_eq!(unescape("a\\\"b\\n\\101\\q"), Ok("a\"b\nA\\q".to_string()));
        assert_eq!(unescape("Caf\\303\\251"), Ok("Café".to_string()));
        assert_eq!(unescape("F\\344ltstr\\366m"), Ok("Fältström".to_string()));
        assert_eq!(unquote("\"x\""), Ok("x".to_string()));
        assert_eq!(
            remote_id("250 OK id=1abcDE-000001-Ab"),
            Ok(Some("1abcDE-000001-Ab"))
        );
        assert_eq!(remote_id("xid=1abcDE-000001-Ab"), Ok(None));
    }

    #[test]
    fn host_groups() {
        let (g, end) = host_group("H=mx.example (helo.x) [192.0.2.1]:25* X", 0)
            .unwrap()
            .unwrap();
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
        let (g, _) = host_group("H=(a) b) [10.0.0.1]", 0).unwrap().unwrap();
        assert_eq!((g.name, g.helo), (None, Some("a) b")));
        let (g, _) = host_group("H=mx DS [10.0.0.1]", 0).unwrap().unwrap();
        assert!(g.ds);
        assert_eq!(g.name, Some("mx"));
        assert!(host_group("H=junk", 0).unwrap().is_none());
    }

    #[test]
    fn ip_kinds() {
        assert_eq!(ip_kind("10.1.2.3"), Ok(Some((4, "private"))));
        assert_eq!(ip_kind("8.8.8.8"), Ok(Some((4, "public"))));
        assert_eq!(ip_kind("01.2.3.4"), Ok(None));
        assert_eq!(ip_kind("::1"), Ok(Some((6, "loopback"))));
        assert_eq!(ip_kind("2a00:1450:4864:20::57d"), Ok(Some((6, "public"))));
        assert_eq!(ip_kind("::ffff:1.2.3.4"), Ok(Some((6, "ipv4_mapped"))));
        assert_eq!(ip_kind("fd00::1"), Ok(Some((6, "private"))));
        assert_eq!(ip_kind("fe80::1%eth0"), Err(Decline));
        assert_eq!(ip_kind("ip6:ip6"), Ok(None));
        let n = |t: &str| u128::from(t.parse::<std::net::Ipv6Addr>().unwrap());
        assert_eq!(ipv6_text(n("2001:DB8:0:0:1:0:0:1")), "2001:db8::1:0:0:1");
        assert_eq!(ipv6_text(n("1:0:2:3:4:5:6:7")), "1:0:2:3:4:5:6:7");
        assert_eq!(ipv6_text(n("::ffff:1.2.3.4")), "::ffff:102:304");
        assert_eq!(ipv6_text(n("::")), "::");
    }
}
