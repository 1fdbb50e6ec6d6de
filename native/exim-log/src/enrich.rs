//! `enrich.enrich` for the claimed lines: host facts, HELO checks, address parts, provider, `related.*`,
//! and eximstats' reading of the line (`eximstats.py`).

use crate::body::{sub, Obj};
use crate::doc::Value;
use crate::fields::{address_parts, ip_kind, is_word, non_space_end, provider, py_space};
use crate::tables::{self, FastMap};
use crate::text::{py_eq_lower, py_lower};
use regex::Regex;
use std::sync::OnceLock;

/// Appends `v` unless the list holds it: a list of values from the start, so a short one is held
/// inline and the list becomes the array without a copy.
pub(crate) fn push_unique(list: &mut Vec<Value>, v: &str) {
    if !list.iter().any(|x| x.as_str() == Some(v)) {
        list.push(v.into());
    }
}

/// A section's member as text.
fn field<'a>(o: Option<&'a Obj>, k: &str) -> Option<&'a str> {
    o?.get(k)?.as_str()
}

/// `enrich.enrich` on a claimed document (`exim` not yet in `doc`); returns the `exim` to store.
/// Each section is looked up once and all of `doc` read before it is written (the registered domains,
/// `related`), so what is read stays borrowed: a path walk per field and a `String` per host before.
pub fn enrich(doc: &mut Obj, mut exim: Obj, flag: Option<&str>, first_line: &str) -> Obj {
    let mut remote = Obj::new();
    // Lowered and without repeats as they come: the order `hosts` was gathered in, then lowered.
    let mut hosts: Vec<Value> = Vec::new();
    let mut related_ip: Vec<Value> = Vec::new();
    // One pass over the members for the sections read, and over `exim`'s (a search each was ~100
    // instructions); what `users` are read from no insert below touches, so they are gathered first.
    let (mut source, mut destination, mut email, mut user) = (None, None, None, None);
    for (k, v) in doc.iter() {
        match k {
            "destination" => destination = Some(v),
            "email" => email = Some(v),
            "source" => source = Some(v),
            "user" => user = v.as_object(),
            _ => {}
        }
    }
    let (mut helo, mut ident, mut cpanel_user, mut auth) = (None, None, None, None);
    for (k, v) in exim.iter() {
        match k {
            "auth" => auth = v.as_object(),
            "cpanel_user" => cpanel_user = v.as_str(),
            "helo" => helo = v.as_str(),
            "ident" => ident = v.as_str(),
            _ => {}
        }
    }
    let mut users: Vec<Value> = Vec::new();
    for v in [field(user, "name"), ident, cpanel_user, field(auth, "id")]
        .into_iter()
        .flatten()
    {
        if !v.is_empty() {
            push_unique(&mut users, v);
        }
    }
    let (src, dst) = (
        source.and_then(Value::as_object),
        destination.and_then(Value::as_object),
    );
    let (src, dst) = (side_fields(src), side_fields(dst));
    let src_domain = src.domain.filter(|d| !d.is_empty());
    let dst_domain = dst.domain.filter(|d| !d.is_empty());
    let (src_ip, dst_ip) = (src.ip, dst.ip);
    let mut src_registered = None;
    if source.is_some() {
        src_registered = side_facts(&src, src_domain, &mut remote);
        let helo = helo.map(|helo| {
            push_unique(&mut hosts, &py_lower(helo));
            (
                helo_is_ip(helo),
                src_domain.map(|name| !py_eq_lower(helo, name)),
            )
        });
        exim.insert("reverse_verified".into(), src_domain.is_some().into());
        if let Some((is_ip, mismatch)) = helo {
            exim.insert("helo_is_ip".into(), is_ip.into());
            if let Some(m) = mismatch {
                exim.insert("helo_mismatch".into(), m.into());
            }
        }
    }
    let dst_registered = destination
        .is_some()
        .then(|| side_facts(&dst, dst_domain, &mut remote))
        .flatten();
    for (ip, domain) in [(src_ip, src_domain), (dst_ip, dst_domain)] {
        if let Some(ip) = ip {
            related_ip.push(ip.into());
        }
        if let Some(d) = domain {
            push_unique(&mut hosts, &py_lower(d));
        }
    }
    let mut sender_domain = None;
    let mut rcpt_domains: Vec<Value> = Vec::new();
    if let Some(email) = email {
        let email = email.as_object();
        let address = |k: &str| email?.get(k)?.as_object()?.get("address");
        if let Some(sender) = address("from").and_then(Value::as_str) {
            if let Some((local, domain)) = address_parts(sender) {
                exim.insert("sender_local_part".into(), local.into());
                exim.insert("sender_domain".into(), (&*domain).into());
                push_unique(&mut hosts, &py_lower(&domain));
                sender_domain = Some(domain);
            }
        }
        let mut locals: Vec<Value> = Vec::new();
        if let Some(Value::Array(to)) = address("to") {
            for r in to {
                if let Some((l, d)) = address_parts(r.as_str().unwrap_or("")) {
                    push_unique(&mut locals, l);
                    push_unique(&mut rcpt_domains, &d);
                }
            }
        }
        if !locals.is_empty() {
            exim.insert("recipient_local_parts".into(), Value::Array(locals));
        }
        for d in &rcpt_domains {
            push_unique(&mut hosts, &py_lower(d.as_str().unwrap_or("")));
        }
    }
    let candidates = Candidates {
        destination: destination.is_some().then_some(dst_domain),
        source: source.is_some().then_some(src_domain),
        rcpt: rcpt_domains.first().and_then(Value::as_str),
        sender: sender_domain.as_deref(),
    };
    if let Some(family) = candidates.provider(flag) {
        remote.insert("provider".into(), family);
    }
    if !rcpt_domains.is_empty() {
        exim.insert("recipient_domains".into(), Value::Array(rcpt_domains));
    }
    if !remote.is_empty() {
        exim.insert("remote".into(), remote.into());
    }
    // In key order: each insert a push.
    let mut related = Obj::new();
    if !hosts.is_empty() {
        related.insert("hosts".into(), Value::Array(hosts));
    }
    if !related_ip.is_empty() {
        related.insert("ip".into(), Value::Array(related_ip));
    }
    if !users.is_empty() {
        related.insert("user".into(), Value::Array(users));
    }
    for (side, reg) in [("source", src_registered), ("destination", dst_registered)] {
        if let Some(reg) = reg {
            sub(doc, side).insert("registered_domain".into(), reg);
        }
    }
    if !related.is_empty() {
        doc.insert("related".into(), related.into());
    }
    if let Some(view) = eximstats_view(first_line) {
        exim.insert("eximstats".into(), view.into());
    }
    exim
}

/// The names a remote's provider is read from: each side's domain (`Some` when the side is there), the
/// first recipient's domain and the sender's.
struct Candidates<'a> {
    destination: Option<Option<&'a str>>,
    source: Option<Option<&'a str>>,
    rcpt: Option<&'a str>,
    sender: Option<&'a str>,
}

impl Candidates<'_> {
    /// The provider family of the first candidate that has one: the destination's domain, the
    /// source's, the first recipient's on the way out, the sender's on arrival from a source.
    fn provider(&self, flag: Option<&str>) -> Option<Value> {
        let delivery =
            flag.is_some_and(|f| tables::actions().flags.get(f).is_some_and(|m| !m.arrival));
        let outbound = self.destination.is_some() || delivery;
        let rcpt = self.rcpt.filter(|_| outbound);
        let sender = self
            .sender
            .filter(|_| flag == Some("<=") && self.source.is_some());
        [
            self.destination.flatten(),
            self.source.flatten(),
            rcpt,
            sender,
        ]
        .into_iter()
        .flatten()
        .find_map(|c| remembered(|n| &mut n.provider, c, |c| provider(c).map(Value::from)))
    }
}

/// What the message facts read of [`enrich`], `exim.remote.provider` alone, for a document read
/// only for its facts (`parse --messages`); returns the `exim` to store.
pub fn enrich_for_facts(doc: &Obj, mut exim: Obj, flag: Option<&str>) -> Obj {
    let (mut source, mut destination, mut email) = (None, None, None);
    for (k, v) in doc.iter() {
        match k {
            "destination" => destination = Some(v),
            "email" => email = v.as_object(),
            "source" => source = Some(v),
            _ => {}
        }
    }
    fn domain(side: Option<&Value>) -> Option<Option<&str>> {
        side.map(|s| side_fields(s.as_object()).domain.filter(|d| !d.is_empty()))
    }
    let address = |k: &str| email?.get(k)?.as_object()?.get("address");
    let sender = address("from")
        .and_then(Value::as_str)
        .and_then(address_parts)
        .map(|(_, d)| d);
    let rcpt = match address("to") {
        Some(Value::Array(to)) => to
            .iter()
            .find_map(|r| address_parts(r.as_str().unwrap_or("")).map(|(_, d)| d)),
        _ => None,
    };
    let candidates = Candidates {
        destination: domain(destination),
        source: domain(source),
        rcpt: rcpt.as_deref(),
        sender: sender.as_deref(),
    };
    if let Some(family) = candidates.provider(flag) {
        let mut remote = Obj::new();
        remote.insert("provider".into(), family);
        exim.insert("remote".into(), remote.into());
    }
    exim
}

/// A HELO name that is an address, bracketed (`[ipv6:…]` too) or bare.
fn helo_is_ip(helo: &str) -> bool {
    if helo.starts_with('[') && helo.ends_with(']') && helo.len() >= 2 {
        let inner = &helo[1..helo.len() - 1];
        let inner = if inner.len() >= 5
            && inner.is_char_boundary(5)
            && inner[..5].eq_ignore_ascii_case("ipv6:")
        {
            &inner[5..]
        } else {
            inner
        };
        ip_kind(inner).is_some()
    } else {
        ip_kind(helo).is_some()
    }
}

/// The fields read of a side, `source` or `destination`.
#[derive(Default)]
struct Side<'a> {
    address: Option<&'a str>,
    domain: Option<&'a str>,
    ip: Option<&'a str>,
}

/// A side's fields in one pass over its members (a search each was ~100 instructions).
fn side_fields(side: Option<&Obj>) -> Side<'_> {
    let mut s = Side::default();
    for (k, v) in side.into_iter().flat_map(Obj::iter) {
        match k {
            "address" => s.address = v.as_str(),
            "domain" => s.domain = v.as_str(),
            "ip" => s.ip = v.as_str(),
            _ => {}
        }
    }
    s
}

/// A side's address facts into `remote`; returns its registered domain, for the side (written once
/// `doc` is no longer read).
fn side_facts(side: &Side<'_>, domain: Option<&str>, remote: &mut Obj) -> Option<Value> {
    let address = side.ip.or(side.address);
    if let Some(a) = address.filter(|a| !a.is_empty()) {
        if let Some((version, kind)) = ip_kind(a) {
            // In key order: each insert a push.
            remote.insert("ip_kind".into(), kind.into());
            remote.insert("ip_version".into(), version.into());
        }
    }
    domain.and_then(|d| remembered(|n| &mut n.registered, d, registered_domain))
}

/// Names' `provider` and `registered_domain` readings, kept per thread: a log names the same hosts
/// and domains over and over, and each reading (~900 instructions) is a function of the name alone.
#[derive(Default)]
struct Names {
    provider: FastMap<Box<str>, Option<Value>>,
    registered: FastMap<Box<str>, Option<Value>>,
}

/// The most names kept for each reading: the table is emptied when it holds as many.
const NAMES_KEPT: usize = 4096;

thread_local! {
    static NAMES: std::cell::RefCell<Names> = std::cell::RefCell::new(Names::default());
}

/// `read(name)`, from the thread's table when it has read the name before.
fn remembered(
    table: fn(&mut Names) -> &mut FastMap<Box<str>, Option<Value>>,
    name: &str,
    read: impl FnOnce(&str) -> Option<Value>,
) -> Option<Value> {
    NAMES.with(|n| {
        let mut n = n.borrow_mut();
        let map = table(&mut n);
        if let Some(v) = map.get(name) {
            return v.clone();
        }
        let v = read(name);
        if map.len() >= NAMES_KEPT {
            map.clear();
        }
        map.insert(name.into(), v.clone());
        v
    })
}

/// `hosts.registered_domain`.
pub(crate) fn registered_domain(name: &str) -> Option<Value> {
    let name = py_lower(name.trim_matches('.'));
    if name.is_empty() || !name.contains('.') || name.starts_with('[') || ip_kind(&name).is_some() {
        return None;
    }
    // `privatesuffix` lowers the name again: a no-op on lowered ASCII, so that text skips it.
    if name.is_ascii() {
        crate::suffixes::lowered_private_suffix(&name).map(Value::from)
    } else {
        crate::suffixes::private_suffix(&name).map(Value::from)
    }
}

/// `"rejected" in line or "refused" in line or "dropped" in line`: one memchr pass over a byte each
/// word holds at a known place, each found one checked where its word would start (three memmem
/// searches of the line before, ~140 instructions each).
fn has_reject_word(b: &[u8]) -> bool {
    memchr::memchr3_iter(b'j', b'f', b'p', b).any(|p| {
        let (word, at): (&[u8], usize) = match b[p] {
            b'j' => (b"rejected", 2),
            b'f' => (b"refused", 2),
            _ => (b"dropped", 3),
        };
        p >= at && b[p - at..].starts_with(word)
    })
}

/// `" <= " in line or " => " in line or " -> " in line`, by the arrows' `<` and `>` as above.
fn has_flag_arrow(b: &[u8]) -> bool {
    memchr::memchr2_iter(b'<', b'>', b).any(|p| {
        let (start, arrow): (usize, &[&[u8]]) = if b[p] == b'<' {
            (1, &[b" <= "])
        } else {
            (2, &[b" => ", b" -> "])
        };
        p >= start && arrow.iter().any(|a| b[p - start..].starts_with(a))
    })
}

/// `eximstats.eximstats_view`: what eximstats counts for the entry's first physical line.
pub(crate) fn eximstats_view(line: &str) -> Option<Obj> {
    // The words matter only to a line without a flag: a line with an arrow (most, found near its
    // start) is not searched for them unless it has none.
    let words = if has_flag_arrow(line.as_bytes()) {
        None
    } else if has_reject_word(line.as_bytes()) {
        Some(true)
    } else {
        return None;
    };
    let end = stats_prefix_end(line)?;
    // Fewer than 37 characters: 148 bytes hold at least that many without a count.
    if line.len() < 148 && line.chars().count() + 1 < 38 {
        return None;
    }
    let mut rest = &line[end..];
    let mut flag = None;
    if let Some(id_end) = stats_id_end(rest.as_bytes()) {
        rest = &rest[id_end..];
        // eximstats reads the (up to) two characters after the id as the flag.
        let two = &rest[..rest.chars().take(2).map(char::len_utf8).sum::<usize>()];
        if two == "SA" || (!two.is_empty() && two.bytes().all(|c| b"<>=*-".contains(&c))) {
            flag = Some(&rest[..two.len()]);
            let skip: usize = rest.chars().take(3).map(char::len_utf8).sum();
            rest = &rest[skip..];
        }
    }
    let has_t = {
        let mut found = false;
        let mut from = 0;
        while let Some(k) = find_pair(&rest[from..], *b"T=") {
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
    if (flag.is_none() && words.unwrap_or_else(|| has_reject_word(line.as_bytes())))
        || (flag == Some("=>") && !has_t)
    {
        reject(rest, &mut out);
    }
    let host = if matches!(flag, Some("<=" | "=>" | "->")) {
        host_word(rest)
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
        // `rest.split(" <" if " <" in rest else " ")[0]`
        let end = find_pair(rest, *b" <")
            .or_else(|| memchr::memchr(b' ', rest.as_bytes()))
            .unwrap_or(rest.len());
        let user = &rest[..end];
        // A file or pipe: named with the address it was for (`_PARENT`: ` (<.+?>) `).
        let parent = (user.starts_with('/') || user.starts_with('|'))
            .then(|| parent(rest))
            .flatten();
        let user = match parent {
            Some(parent) => format!("{user} {parent}").into(),
            None => Value::from(user),
        };
        out.insert("destination".into(), user);
    }
    (!out.is_empty()).then_some(out)
}

struct StatsRes {
    prefix: Regex,
    /// `_reason`'s patterns in its order ([`REASONS`]).
    reasons: Vec<Reason>,
    ip: Vec<Regex>,
    ehlo_ip: Regex,
}

/// A reading by hand of a pattern over ASCII: where the match ends, no match, or a byte beyond ASCII
/// where the pattern's `\d` (digits of any script) may take it, so the pattern must decide.
enum Hand {
    End(usize),
    No,
    Unsure,
}

impl Hand {
    /// An optional group's reading: where it ends when taken (`Some(None)` when it cannot be), `None`
    /// when unsure.
    fn taken(self) -> Option<Option<usize>> {
        match self {
            Hand::End(e) => Some(Some(e)),
            Hand::No => Some(None),
            Hand::Unsure => None,
        }
    }
}

/// An optional group's candidate ends in the pattern's order: taken first, then left out.
fn candidates(taken: Option<usize>, left_out: usize) -> impl Iterator<Item = usize> {
    taken.into_iter().chain(std::iter::once(left_out))
}

/// `\d{n}` at `i`: its end, no match, or unsure (a byte beyond ASCII among them).
fn ascii_digits(b: &[u8], i: usize, n: usize) -> Hand {
    for k in i..i + n {
        match b.get(k) {
            Some(c) if c.is_ascii_digit() => {}
            Some(c) if !c.is_ascii() => return Hand::Unsure,
            _ => return Hand::No,
        }
    }
    Hand::End(i + n)
}

/// `\d+` at `i` (greedy; what follows it is never a digit, so fewer never do).
fn ascii_digit_run(b: &[u8], i: usize) -> Hand {
    let n = b[i.min(b.len())..]
        .iter()
        .take_while(|c| c.is_ascii_digit())
        .count();
    match b.get(i + n) {
        Some(c) if !c.is_ascii() => Hand::Unsure,
        _ if n == 0 => Hand::No,
        _ => Hand::End(i + n),
    }
}

/// eximstats' prefix pattern (`StatsRes::prefix`), by hand on ASCII, trying its optional groups in
/// the pattern's order (each taken first, then left out); every candidate's next byte must be the
/// closing space.
fn prefix_by_hand(b: &[u8]) -> Hand {
    let mut p = 0;
    for (n, sep) in [
        (4, b'-'),
        (2, b'-'),
        (2, b' '),
        (2, b':'),
        (2, b':'),
        (2, 0),
    ] {
        match ascii_digits(b, p, n) {
            Hand::End(e) => p = e,
            other => return other,
        }
        if sep != 0 {
            if b.get(p) != Some(&sep) {
                return Hand::No;
            }
            p += 1;
        }
    }
    let frac = if b.get(p) == Some(&b'.') {
        ascii_digit_run(b, p + 1)
    } else {
        Hand::No
    };
    let Some(frac) = frac.taken() else {
        return Hand::Unsure;
    };
    for f in candidates(frac, p) {
        let zone = if b.get(f) == Some(&b' ') && matches!(b.get(f + 1), Some(b'+' | b'-')) {
            ascii_digits(b, f + 2, 4)
        } else {
            Hand::No
        };
        let Some(zone) = zone.taken() else {
            return Hand::Unsure;
        };
        for t in candidates(zone, f) {
            let pid = if b.get(t) == Some(&b' ') && b.get(t + 1) == Some(&b'[') {
                match ascii_digit_run(b, t + 2) {
                    Hand::End(e) if b.get(e) == Some(&b']') => Hand::End(e + 1),
                    Hand::End(_) => Hand::No,
                    h => h,
                }
            } else {
                Hand::No
            };
            let Some(pid) = pid.taken() else {
                return Hand::Unsure;
            };
            if let Some(q) = candidates(pid, t).find(|&q| b.get(q) == Some(&b' ')) {
                return Hand::End(q + 1);
            }
        }
    }
    Hand::No
}

/// Where eximstats' prefix ends (its regex only where a byte beyond ASCII may be a digit: it was two
/// regex searches a line with the id's).
fn stats_prefix_end(line: &str) -> Option<usize> {
    match prefix_by_hand(line.as_bytes()) {
        Hand::End(e) => Some(e),
        Hand::No => None,
        Hand::Unsure => stats_res().prefix.find(line).map(|m| m.end()),
    }
}

/// eximstats' id pattern, [`STATS_ID`] (ASCII classes only), by hand: where it ends.
fn stats_id_end(b: &[u8]) -> Option<usize> {
    let alnum = |from: usize, n: usize| {
        b.get(from..from + n)
            .is_some_and(|s| s.iter().all(u8::is_ascii_alphanumeric))
    };
    if !alnum(0, 6) || b.get(6) != Some(&b'-') {
        return None;
    }
    for (a, c) in [(6, 2), (11, 4)] {
        let dash = 7 + a;
        let end = dash + 1 + c;
        if alnum(7, a)
            && b.get(dash) == Some(&b'-')
            && alnum(dash + 1, c)
            && b.get(end) == Some(&b' ')
        {
            return Some(end + 1);
        }
    }
    None
}

/// eximstats' message id after its prefix.
#[cfg(test)]
const STATS_ID: &str =
    r"\A[0-9A-Za-z]{6}-(?:[0-9A-Za-z]{6}-[0-9A-Za-z]{2}|[0-9A-Za-z]{11}-[0-9A-Za-z]{4}) ";

/// What `_reason` returns for a pattern's match.
#[derive(Clone, Copy)]
enum Reading {
    /// (kind, `_ucfirst` of the first `n` groups joined).
    Groups(&'static str, usize),
    /// Python's fixed text.
    Fixed(&'static str),
    /// `Response to RCPT TO was: {1}`.
    RcptResponse,
    /// (kind, `_ucfirst` of the two groups of `(LEAD[A-Z]*) .*?(: .*?)(:|\s*$)`), read by hand
    /// ([`rejected_groups`]); LEAD is the pattern's literal.
    Rejected(&'static str),
}

/// eximstats' `_reason` patterns (`eximstats.py`) in its order, each with a literal every match of it
/// holds (so a line without it is not tried) and what a match makes of it.
const REASONS: [(&str, &str, Reading); 32] = {
    use Reading::*;
    [
        // _TEMPORARY_FIRST
        (
            r"(temporarily rejected [A-Z]*) .*?(: .*?)(:|\s*$)",
            "temporarily rejected ",
            Rejected("temporary"),
        ),
        (
            r"(temporarily refused connection)()",
            "temporarily refused connection",
            Groups("temporary", 2),
        ),
        // _PERMANENT
        (r"(listed at [^ ]+)()", "listed at ", Groups("permanent", 1)),
        (
            r"(Forged IP detected in HELO)()",
            "Forged IP detected in HELO",
            Groups("permanent", 1),
        ),
        (
            r"(Invalid domain or IP given in HELO/EHLO)()",
            "Invalid domain or IP given in HELO/EHLO",
            Groups("permanent", 1),
        ),
        (
            r"(unqualified recipient rejected)()",
            "unqualified recipient rejected",
            Groups("permanent", 1),
        ),
        (
            r"(closed connection (?:after|in response) .*?)\s*$()",
            "closed connection ",
            Groups("permanent", 1),
        ),
        (
            r"(sender rejected)()",
            "sender rejected",
            Groups("permanent", 1),
        ),
        (
            r" rejected after DATA: (.*)()",
            " rejected after DATA: ",
            Groups("permanent", 1),
        ),
        (
            r" (rejected DATA: .*)()",
            " rejected DATA: ",
            Groups("permanent", 1),
        ),
        (
            r".DATA ACL discarded recipients.: (.*)()",
            "DATA ACL discarded recipients",
            Groups("permanent", 1),
        ),
        (
            r"rejected after DATA: (unqualified address not permitted)()",
            "rejected after DATA: unqualified address not permitted",
            Groups("permanent", 1),
        ),
        (
            r"(VRFY rejected)()",
            "VRFY rejected",
            Groups("permanent", 1),
        ),
        (
            r"(too many recipients)()",
            "too many recipients",
            Groups("permanent", 1),
        ),
        (
            r"(refused relay.*?) to()",
            "refused relay",
            Groups("permanent", 1),
        ),
        (
            r"(rejected by non-SMTP ACL: .*)()",
            "rejected by non-SMTP ACL: ",
            Groups("permanent", 1),
        ),
        (
            r"(rejected by local_scan.*)()",
            "rejected by local_scan",
            Groups("permanent", 1),
        ),
        (
            r"(dropped: too many (?:(?:nonmail|unrecognized) commands|syntax or protocol errors))()",
            "dropped: too many ",
            Groups("permanent", 1),
        ),
        (
            r"(local_scan.. function .* - message temporarily rejected)()",
            " - message temporarily rejected",
            Groups("permanent", 1),
        ),
        (
            r"(SMTP protocol .*?(?:error|violation))()",
            "SMTP protocol ",
            Groups("permanent", 1),
        ),
        (
            r"(message too big)()",
            "message too big",
            Groups("permanent", 1),
        ),
        // _HELO_SYNTAX, _RCPT_RESPONSE
        (
            r"rejected [HE][HE]LO from [^:]*: syntactically invalid argument",
            ": syntactically invalid argument",
            Fixed("Rejected HELO/EHLO: syntactically invalid argument"),
        ),
        (
            r#"response to "RCPT TO.*? was: (.*)"#,
            "response to \"RCPT TO",
            RcptResponse,
        ),
        // _PERMANENT_LATE
        (
            r"(lookup of host )\S+ (failed)",
            "lookup of host ",
            Groups("permanent", 2),
        ),
        (
            r"(rejected [A-Z]*) .*?(: .*?)(?::|\s*$)",
            "rejected ",
            Rejected("permanent"),
        ),
        (
            r"(refused connection )from.*? (\(.*)",
            "refused connection from",
            Groups("permanent", 2),
        ),
        (
            r"(error from remote mailer after .*?:).*(: .*?)(?::|\s*$)",
            "error from remote mailer after ",
            Groups("permanent", 2),
        ),
        (
            r#"rejected after DATA: ("." or "." expected).*?(: failing address in .*? header)"#,
            "rejected after DATA: \"",
            Groups("permanent", 2),
        ),
        (
            r"(Connection )from.*? (refused: load average)",
            " refused: load average",
            Groups("permanent", 2),
        ),
        (
            r"([Cc]onnection )from.*? (refused.*)",
            "onnection from",
            Groups("permanent", 2),
        ),
        (
            r": (Connection refused)()",
            ": Connection refused",
            Groups("permanent", 2),
        ),
        // _TEMPORARY_ACL
        (
            r"(temporarily rejected connection in .*?ACL:?.*)",
            "temporarily rejected connection in ",
            Groups("temporary", 1),
        ),
    ]
};

/// One of `_reason`'s patterns: its regex (none where it is read by hand), its literal's finder.
struct Reason {
    re: Option<Regex>,
    need: memchr::memmem::Finder<'static>,
    reading: Reading,
}

/// eximstats' own patterns (`eximstats.py`), in its order.
fn stats_res() -> &'static StatsRes {
    static R: OnceLock<StatsRes> = OnceLock::new();
    R.get_or_init(|| {
        // Python's `\s` holds `\x1c`-`\x1f`: the patterns read them as it does.
        let re = |p: &str| {
            Regex::new(&crate::catalogue::python_spaces(p))
                .unwrap_or_else(|e| panic!("eximstats pattern {p}: {e}"))
        };
        let reasons = REASONS
            .iter()
            .map(|&(p, need, reading)| Reason {
                // The hand readers' patterns are compiled only for the tests that hold them to these.
                re: (!matches!(reading, Reading::Rejected(..))).then(|| re(p)),
                need: memchr::memmem::Finder::new(need),
                reading,
            })
            .collect();
        StatsRes {
            prefix: re(r"\A\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?(?: [-+]\d{4})?(?: \[\d+\])? "),
            reasons,
            // `_IP[1:]`: the first, `\bH=…`, is read with Python's `\w` (`bracketed_after_host`).
            ip: [r"Connection from (\[\S+\])", r"SMTP call from .*?(\[\S+\])"]
                .iter()
                .map(|p| re(p))
                .collect(),
            ehlo_ip: re(r"\Arejected [HE][HE]LO from .*?(\[.+?\]):"),
        }
    })
}

/// `_ucfirst`: Python's `upper()` of the first character (`ß` is `SS`).
fn ucfirst(text: &str) -> String {
    let mut c = text.chars();
    match c.next() {
        // The common case without a char-by-char collect (~1,600 instructions a reject line).
        Some(f) if f.is_ascii() => {
            let mut out = String::with_capacity(text.len());
            out.push(f.to_ascii_uppercase());
            out.push_str(c.as_str());
            out
        }
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn groups(m: &regex::Captures<'_>, n: usize) -> String {
    (1..=n)
        .map(|i| m.get(i).map_or("", |g| g.as_str()))
        .collect()
}

/// `(LEAD[A-Z]*) .*?(: .*?)(:|\s*$)` by hand (its captures were ~21k instructions a reject line, the
/// most of them for the bench log's commonest reason): its first two groups. `[A-Z]*` is followed by
/// a space, so only its longest run can be; each lazy `.*?` takes the first end that lets the rest
/// match, on its line.
fn rejected_groups<'a>(
    rest: &'a str,
    lead: &memchr::memmem::Finder<'_>,
) -> Option<(&'a str, &'a str)> {
    let b = rest.as_bytes();
    // `\s*$` holds from where the trailing spaces (Python's) begin.
    let tail = rest.trim_end_matches(py_space).len();
    let mut from = 0;
    while let Some(k) = lead.find(&b[from..]) {
        let s = from + k;
        from = s + 1;
        let mut p = s + lead.needle().len();
        while b.get(p).is_some_and(u8::is_ascii_uppercase) {
            p += 1;
        }
        if b.get(p) != Some(&b' ') {
            continue;
        }
        let first = &rest[s..p];
        let after = p + 1;
        let line_end = memchr::memchr(b'\n', &b[after..]).map_or(b.len(), |n| after + n);
        let mut j = after;
        while let Some(n) = memchr::memmem::find(&b[j..line_end], b": ") {
            let c = j + n;
            let q = c + 2;
            let colon = memchr::memchr(b':', &b[q..]).map_or(b.len(), |n| q + n);
            let end = colon.min(tail.max(q));
            if memchr::memchr(b'\n', &b[q..end]).is_none() {
                return Some((first, &rest[c..end]));
            }
            j = c + 1;
        }
    }
    None
}

/// `_reason`: (kind, reason) for a line eximstats counts as a reject, its first pattern in its order
/// that matches. A pattern's literal rules it out on most lines (a set of them all searched for every
/// match, ~14k instructions a reject line, and then the winner's captures, ~21k).
fn reason(rest: &str) -> (&'static str, String) {
    let r = stats_res();
    if rest.contains("SpamAssassin") {
        return ("permanent", "Rejected by SpamAssassin".into());
    }
    let b = rest.as_bytes();
    for x in &r.reasons {
        if x.need.find(b).is_none() {
            continue;
        }
        if let Reading::Rejected(kind) = x.reading {
            if let Some((first, second)) = rejected_groups(rest, &x.need) {
                return (kind, ucfirst(&format!("{first}{second}")));
            }
            continue;
        }
        let Some(m) = x.re.as_ref().and_then(|re| re.captures(rest)) else {
            continue;
        };
        return match x.reading {
            Reading::Groups(kind, n) => (kind, ucfirst(&groups(&m, n))),
            Reading::Fixed(text) => ("permanent", text.into()),
            Reading::RcptResponse => (
                "permanent",
                format!("Response to RCPT TO was: {}", groups(&m, 1)),
            ),
            Reading::Rejected(..) => unreachable!("read by hand above"),
        };
    }
    ("permanent", "Unknown".into())
}

/// `_reason`, `_ip` and `_EHLO_IP` into the view.
fn reject(rest: &str, out: &mut Obj) {
    let r = stats_res();
    let (kind, why) = reason(rest);
    // `_IP[0]` (`\bH=…`, read by hand with Python's `\w`), then the other two.
    let mut ip = h_bracket(rest)
        .map(str::to_string)
        .or_else(|| {
            r.ip.iter()
                .find_map(|x| x.captures(rest).map(|m| groups(&m, 1)))
        })
        .unwrap_or_else(|| "local".into());
    if ip == "local" {
        if let Some(m) = r.ehlo_ip.captures(rest) {
            ip = groups(&m, 1);
        }
    }
    out.insert("reject".into(), kind.into());
    out.insert("reason".into(), why.into());
    out.insert("ip".into(), ip.into());
}

/// `\[[^\]]+\]` at `i`: where it ends.
fn bracket_end(b: &[u8], i: usize) -> Option<usize> {
    if b.get(i) != Some(&b'[') {
        return None;
    }
    let close = i + 1 + memchr::memchr(b']', &b[i + 1..])?;
    (close > i + 1).then_some(close + 1)
}

/// The group of eximstats' first `_ip` pattern, `\bH=(?:|.*? )(\[[^\]]+\])`, read by hand (its
/// captures were ~14k instructions a reject line: the backtracker over `.*? `): the first `H=` after
/// no word character (Python's `\w`: the crate's takes marks too) whose `[…]` follows it at once or
/// after the first space, on its line, that one follows.
fn h_bracket(rest: &str) -> Option<&str> {
    let b = rest.as_bytes();
    let mut from = 0;
    static H: OnceLock<memchr::memmem::Finder<'static>> = OnceLock::new();
    let h = H.get_or_init(|| memchr::memmem::Finder::new("H="));
    while let Some(k) = h.find(&b[from..]) {
        let at = from + k;
        from = at + 1;
        if rest[..at].chars().next_back().is_some_and(is_word) {
            continue;
        }
        let start = at + 2;
        if let Some(e) = bracket_end(b, start) {
            return Some(&rest[start..e]);
        }
        // `.` stops at a newline: the space must come before the line's end.
        let line_end = memchr::memchr(b'\n', &b[start..]).map_or(b.len(), |k| start + k);
        let mut j = start;
        while let Some(k) = memchr::memchr(b' ', &b[j..line_end]) {
            let at = j + k + 1;
            if let Some(e) = bracket_end(b, at) {
                return Some(&rest[at..e]);
            }
            j = at;
        }
    }
    None
}

/// Where `needle` (two ASCII bytes) first is in `hay`, found by a memchr of its rarer byte, the second
/// when the first is a space (`str::find` built a two-way searcher per call: ~600 instructions a line).
fn find_pair(hay: &str, needle: [u8; 2]) -> Option<usize> {
    let b = hay.as_bytes();
    let key = usize::from(needle[0] == b' ');
    memchr::memchr_iter(needle[key], b)
        .filter(|&p| p >= key)
        .map(|p| p - key)
        .find(|&at| b.get(at..at + 2) == Some(&needle[..]))
}

/// `\S+`'s end from `i`: bytes while ASCII, [`non_space_end`]'s char-by-char reading from the first
/// byte that is not.
fn word_end(s: &str, i: usize) -> usize {
    let b = s.as_bytes();
    let mut j = i;
    // Python's `\s` in ASCII: `str.isspace()` and `\x1c`-`\x1f`.
    while j < b.len() && b[j].is_ascii() && !matches!(b[j], b' ' | b'\t'..=b'\r' | 0x1c..=0x1f) {
        j += 1;
    }
    if b.get(j).is_some_and(|c| !c.is_ascii()) {
        non_space_end(s, j)
    } else {
        j
    }
}

/// `\bH=(\S+)`.
pub(crate) fn host_word(rest: &str) -> Option<&str> {
    let mut from = 0;
    while let Some(k) = find_pair(&rest[from..], *b"H=") {
        let at = from + k;
        from = at + 1;
        if let Some(prev) = rest[..at].chars().next_back() {
            if is_word(prev) {
                continue;
            }
        }
        let e = word_end(rest, at + 2);
        if e > at + 2 {
            return Some(&rest[at + 2..e]);
        }
    }
    None
}

/// `_PARENT.search`: ` (<.+?>) `.
pub(crate) fn parent(rest: &str) -> Option<&str> {
    let b = rest.as_bytes();
    let mut from = 0;
    while let Some(k) = find_pair(&rest[from..], *b" <") {
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
pub(crate) fn user_word(rest: &str) -> Option<&str> {
    let mut from = 0;
    while let Some(k) = find_pair(&rest[from..], *b"U=") {
        let at = from + k;
        from = at + 1;
        if rest[..at].chars().next_back().is_some_and(py_space) {
            let e = word_end(rest, at + 2);
            if e > at + 2 {
                return Some(&rest[at + 2..e]);
            }
        }
    }
    None
}

#[cfg(test)]
mod reject_tests {
    use super::*;

    #[test]
    fn remembered_readings_are_the_readings_when_the_table_fills() {
        for round in 0..2 {
            for i in 0..NAMES_KEPT + 10 {
                let name = format!("mx{i}.mail.example.co.uk");
                let got = remembered(|n| &mut n.registered, &name, registered_domain);
                assert_eq!(got, registered_domain(&name), "{name} in round {round}");
            }
        }
        let got = remembered(
            |n| &mut n.provider,
            "gmail-smtp-in.l.google.com",
            |c| provider(c).map(Value::from),
        );
        assert_eq!(got, provider("gmail-smtp-in.l.google.com").map(Value::from));
    }

    #[test]
    fn eximstats_reject_readings() {
        let view = |l: &str| eximstats_view(l).unwrap();
        let v = view("2024-01-01 00:00:00 H=(x) [192.0.2.1] F=<a@b.example> rejected RCPT <c@d.example>: relay not permitted");
        assert_eq!(v["reject"], "permanent");
        assert_eq!(v["reason"], "Rejected RCPT: relay not permitted");
        assert_eq!(v["ip"], "[192.0.2.1]");
        let v = view("2024-01-01 00:00:00 H=(x) [192.0.2.1] temporarily rejected RCPT <c@d.example>: greylisted");
        assert_eq!(
            (v["reject"].as_str(), v["reason"].as_str()),
            (
                Some("temporary"),
                Some("Temporarily rejected RCPT: greylisted")
            )
        );
        let v = view("2024-01-01 00:00:00 rejected EHLO from [192.0.2.9]: syntactically invalid argument(s): x");
        assert_eq!(v["ip"], "[192.0.2.9]");
        assert_eq!(
            v["reason"],
            "Rejected HELO/EHLO: syntactically invalid argument"
        );
        assert!(eximstats_view("2024-01-01 00:00:00 rejected").is_none());
    }
}
#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    /// `h_bracket` against the pattern it reads, on texts whose `H=` follow ASCII only (where the
    /// crate's `\b` and Python's agree).
    fn same_as_the_pattern(text: &str) {
        let re = &regex::Regex::new(r"\bH=(?:|.*? )(\[[^\]]+\])").expect("_IP[0]");
        let want = re.captures(text).map(|m| super::groups(&m, 1));
        assert_eq!(super::h_bracket(text).map(str::to_string), want, "{text:?}");
    }

    #[test]
    fn the_first_ip_pattern_is_read_by_hand_as_the_regex_reads_it() {
        for text in [
            "H=mail.example (helo) [192.0.2.1]:25 I=[198.51.100.23]:25 F=<a@b> rejected RCPT <c@d>",
            "H=[192.0.2.1]",
            "H=[]x [1]",
            "xH=[1] H=[2]",
            "_H=[1] H=a [2",
            "H=a\n [1] H=b [2]",
            "H=a b c [3] d [4]",
            "H=a [\n1]",
            "H=H=[5]",
            "(H=) [6]",
            "no host [7]",
            "H=a b",
            "H= [8]",
        ] {
            same_as_the_pattern(text);
        }
    }

    /// The prefix and id read by hand against eximstats' patterns they read.
    fn prefix_and_id_as_the_patterns(text: &str) {
        let r = super::stats_res();
        let want = r.prefix.find(text).map(|m| m.end());
        assert_eq!(super::stats_prefix_end(text), want, "{text:?}");
        let id = regex::Regex::new(super::STATS_ID).expect("eximstats id");
        let want = id.find(text).map(|m| m.end());
        assert_eq!(super::stats_id_end(text.as_bytes()), want, "{text:?}");
    }

    #[test]
    fn the_prefix_and_id_are_read_by_hand_as_the_patterns_read_them() {
        for text in [
            "2025-01-31 10:00:00 x",
            "2025-01-31 10:00:00.123 +0100 [42] x",
            "2025-01-31 10:00:00 +0100x",
            "2025-01-31 10:00:00 [42]x",
            "2025-01-31 10:00:00.5 [4x] y",
            "2025-01-31 10:00:00. x",
            "2025-01-31 10:00:00 -01 x",
            "2025-01-31 10:00:0٣ x",
            "2025-01-31 10:00:00.1٣ x",
            "2025-01-31 10:00:00 [1٣] x",
            "2025-01-31 10:00:00 +01٣0 x",
            "2025-01-31 10:00:00",
            "1tXaaa-00000001abc-0ABC <= x",
            "1tXaaa-000001-Ab => x",
            "1tXaaa-000001-Abc x",
            "1tXaaa-00000001abc-0AB x",
            "1tXaaa-000001-Ab",
        ] {
            prefix_and_id_as_the_patterns(text);
        }
    }

    proptest! {
        #[test]
        fn the_prefix_and_id_agree_with_the_patterns_on_any_text(
            head in proptest::sample::select(vec!["", "2025-01-31 10:00:00", "1tXaaa-", "1tXaaa-000001"]),
            parts in proptest::collection::vec(
                proptest::sample::select(vec![
                    " ", "-", ":", ".", "+", "[", "]", "0", "12", "0100", "x", "Ab", "٣", "10:00:00",
                    "000001", "00000001abc", "\n",
                ]),
                0..12,
            )
        ) {
            prefix_and_id_as_the_patterns(&format!("{head}{}", parts.concat()));
        }

        #[test]
        fn the_words_and_arrows_are_found_as_str_contains_finds_them(
            parts in proptest::collection::vec(
                proptest::sample::select(vec![
                    "rejected", "refused", "dropped", "reje", "refu", "drop", "ped", "cted", "sed", " <= ",
                    " => ", " -> ", " <", "<=", "=>", "->", "> ", " ", "<", ">", "=", "-", "j", "f", "p", "pp",
                    "é", "x",
                ]),
                0..12,
            )
        ) {
            let text = parts.concat();
            let want = ["rejected", "refused", "dropped"].iter().any(|w| text.contains(w));
            prop_assert_eq!(super::has_reject_word(text.as_bytes()), want, "{:?}", text);
            let want = [" <= ", " => ", " -> "].iter().any(|w| text.contains(w));
            prop_assert_eq!(super::has_flag_arrow(text.as_bytes()), want, "{:?}", text);
        }

        #[test]
        fn the_pair_and_word_readers_agree_with_str_find_and_non_space_end(
            parts in proptest::collection::vec(
                proptest::sample::select(vec![
                    "T=", "H=", "U=", " <", " ", "<", "T", "=", "a", "\n", "\t", "\u{1c}", "é", "\u{85}", "\u{b}",
                    "\u{8}", "\u{e}", "\u{1b}", "\u{20}", "\u{7f}", "\u{a0}",
                    "\u{3000}", "x=",
                ]),
                0..16,
            ),
            at in 0usize..40,
        ) {
            let text = parts.concat();
            for needle in ["T=", "H=", "U=", " <"] {
                let pair = needle.as_bytes().try_into().unwrap();
                prop_assert_eq!(super::find_pair(&text, pair), text.find(needle), "{:?} in {:?}", needle, text);
            }
            if text.is_char_boundary(at.min(text.len())) {
                let i = at.min(text.len());
                prop_assert_eq!(super::word_end(&text, i), crate::fields::non_space_end(&text, i));
            }
        }

        #[test]
        fn the_first_ip_pattern_agrees_with_the_regex_on_any_text(
            parts in proptest::collection::vec(
                proptest::sample::select(vec!["H=", " ", "[", "]", "a", "_", "1", "\n", ".", "é ", "(x)"]),
                0..24,
            )
        ) {
            // `é ` ends in a space: no `H=` follows a non-ASCII character (the two `\b`s may differ there).
            same_as_the_pattern(&parts.concat());
        }
    }

    /// `_reason` as it was read before the literals and the hand reader: one set over all the patterns,
    /// the first that matches, its captures.
    fn reason_by_the_set(rest: &str) -> (&'static str, String) {
        static S: OnceLock<(regex::RegexSet, Vec<Regex>)> = OnceLock::new();
        let (set, res) = S.get_or_init(|| {
            let ps = REASONS.map(|r| crate::catalogue::python_spaces(r.0));
            let res = ps.iter().map(|p| Regex::new(p).expect("pattern")).collect();
            (regex::RegexSet::new(ps).expect("patterns"), res)
        });
        if rest.contains("SpamAssassin") {
            return ("permanent", "Rejected by SpamAssassin".into());
        }
        let Some(i) = set.matches(rest).iter().next() else {
            return ("permanent", "Unknown".into());
        };
        let m = res[i].captures(rest).expect("the set said it matches");
        match REASONS[i].2 {
            Reading::Groups(kind, n) => (kind, ucfirst(&groups(&m, n))),
            Reading::Rejected(kind) => (kind, ucfirst(&groups(&m, 2))),
            Reading::Fixed(text) => ("permanent", text.into()),
            Reading::RcptResponse => (
                "permanent",
                format!("Response to RCPT TO was: {}", groups(&m, 1)),
            ),
        }
    }

    fn reasons_agree(rest: &str) {
        assert_eq!(reason(rest), reason_by_the_set(rest), "{rest:?}");
        for (i, lead) in [(0, "temporarily rejected "), (24, "rejected ")] {
            let re = Regex::new(&crate::catalogue::python_spaces(REASONS[i].0)).expect("pattern");
            let want = re
                .captures(rest)
                .map(|m| (m.get(1).unwrap().as_str(), m.get(2).unwrap().as_str()));
            let lead = memchr::memmem::Finder::new(lead);
            assert_eq!(
                rejected_groups(rest, &lead),
                want,
                "pattern {i} on {rest:?}"
            );
        }
    }

    #[test]
    fn each_literal_is_in_its_pattern() {
        // Not a proof that every match holds it (the proptest is), but a typo shows here first.
        for (p, need, _) in REASONS {
            let plain: String = p.chars().filter(|c| !"()\\".contains(*c)).collect();
            assert!(plain.contains(need.trim()), "{need:?} not in {p}");
        }
    }

    #[test]
    fn reasons_as_the_set_reads_them() {
        for rest in [
            "H=[192.0.2.1]: temporarily rejected RCPT <x@y>: greylisted: try later",
            "H=x [1.2.3.4] F=<a@b> rejected RCPT <c@d>: relay not permitted",
            "H=x [1.2.3.4] F=<a@b> rejected RCPT <c@d>: relay not permitted  ",
            "H=x [1.2.3.4] F=<a@b> rejected RCPT <c@d>: relay\nnot: permitted",
            "H=x [1.2.3.4] F=<a@b> rejected RCPT <c@d>: relay \u{85}\n ",
            "rejected  x: y",
            "rejected RCPT: x",
            "rejected RCPT x:",
            "rejected RCPT x: ",
            "rejected RCPT x\n: y rejected MAIL z: w",
            "temporarily rejected RCPT x: y; rejected after DATA: z",
            "rejected after DATA: \".\" or \".\" expected x: failing address in To: header",
            "rejected EHLO from (x) [192.0.2.4]: syntactically invalid argument(s): bad",
            "Connection from [1.2.3.4] refused: load average",
            "connection from x (y) refused (z)",
            "mx [1.2.3.4]: Connection refused",
            "dropped: too many syntax or protocol errors (last command was \"x\")",
            "SMTP protocol synchronization error (input sent without waiting for greeting)",
            "rejected: é\u{1c}: ß",
        ] {
            reasons_agree(rest);
        }
    }

    /// The bench log's reject lines (`EXIM_REASONS_LOG=/tmp/m200k.log cargo test --release -p
    /// exim-log -- --ignored reasons_of_a_log`).
    #[test]
    #[ignore]
    fn reasons_of_a_log() {
        let path = std::env::var("EXIM_REASONS_LOG").expect("EXIM_REASONS_LOG");
        let text = std::fs::read(path).expect("the log");
        let mut n = 0;
        for line in String::from_utf8_lossy(&text).lines() {
            if ["rejected", "refused", "dropped"]
                .iter()
                .any(|w| line.contains(w))
            {
                reasons_agree(line);
                n += 1;
            }
        }
        assert!(n > 0);
        eprintln!("{n} lines");
    }

    /// A match of each pattern (of each branch of a class or alternation), so that texts built of them
    /// hold several patterns' matches at once and a literal a match can lack shows.
    const SAMPLES: [&str; 40] = [
        "temporarily rejected RCPT <a>: greylisted",
        "temporarily refused connection",
        "listed at zen.example",
        "Forged IP detected in HELO",
        "Invalid domain or IP given in HELO/EHLO",
        "unqualified recipient rejected",
        "closed connection after QUIT ",
        "closed connection in response to HELO",
        "sender rejected",
        " rejected after DATA: bad",
        " rejected DATA: bad",
        "(DATA ACL discarded recipients): x",
        "rejected after DATA: unqualified address not permitted",
        "VRFY rejected",
        "too many recipients",
        "refused relay (x) to",
        "rejected by non-SMTP ACL: x",
        "rejected by local_scan(): x",
        "dropped: too many nonmail commands",
        "dropped: too many unrecognized commands",
        "dropped: too many syntax or protocol errors",
        "local_scan() function x - message temporarily rejected",
        "SMTP protocol synchronization error",
        "SMTP protocol violation",
        "message too big",
        "rejected HELO from x: syntactically invalid argument",
        "rejected EHLO from x: syntactically invalid argument",
        "response to \"RCPT TO:<a>\" was: 550 no",
        "lookup of host x.example failed",
        "rejected RCPT <a>: relay not permitted",
        "rejected  x: y",
        "refused connection from x (y)",
        "error from remote mailer after RCPT: x: 550 no",
        "rejected after DATA: \"@\" or \".\" expected after x: failing address in To: header",
        "Connection from x refused: load average",
        "Connection from x refused",
        "connection from x refused",
        ": Connection refused",
        "temporarily rejected connection in \"connect\" ACL: x",
        "rejected by SpamAssassin",
    ];

    #[test]
    fn each_sample_matches_a_pattern() {
        for sample in SAMPLES.iter().filter(|s| !s.contains("SpamAssassin")) {
            assert!(
                REASONS
                    .iter()
                    .any(|r| Regex::new(r.0).unwrap().is_match(sample)),
                "{sample}"
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        #[test]
        fn reasons_agree_with_the_set_on_any_text(
            parts in proptest::collection::vec(
                proptest::sample::select(
                    SAMPLES
                        .iter()
                        .copied()
                        .chain(REASONS.iter().map(|r| r.1))
                        .chain([
                            " ", ":", ": ", "\n", "A", "x", "é", "\u{85}", "\u{1c}", "\t", "[1.2.3.4]",
                            "(x)", "\"", ".", "from ", " to", "rejected", "refused", "SpamAssassin",
                        ])
                        .collect::<Vec<_>>(),
                ),
                0..8,
            )
        ) {
            reasons_agree(&parts.concat());
        }
    }

    proptest! {
        #[test]
        fn the_rejected_patterns_agree_with_their_regexes_on_any_text(
            parts in proptest::collection::vec(
                proptest::sample::select(vec![
                    "rejected ", "temporarily ", "temporarily rejected ", "A", "RCPT", "a", " ", "  ", ":",
                    ": ", "::", "\n", "\u{85}", "\u{1c}", "\t", "\u{3000}", "é", "x", "\r",
                ]),
                0..16,
            )
        ) {
            reasons_agree(&parts.concat());
        }
    }

    use super::*;

    fn view(line: &str) -> Value {
        Value::Object(eximstats_view(line).unwrap_or_default())
    }

    #[test]
    fn reject_readings_as_eximstats_py_gives_them() {
        // The expected views are `eximstats.eximstats_view`'s on the same lines.
        let cases = [
            (
                "2025-01-31 10:00:00 rejected from <a@b.example> H=[192.0.2.1]: temporarily rejected RCPT <x@y>: greylisted: try later",
                r#"{"reject":"temporary","reason":"Temporarily rejected RCPT: greylisted","ip":"[192.0.2.1]"}"#,
            ),
            (
                "2025-01-31 10:00:00 1tXaaa-00000001abc-0ABC => a@b.example R=r Connection from [1.2.3.4] refused: load average",
                r#"{"host":"local","destination":"a@b.example","reject":"permanent","reason":"Connection refused: load average","ip":"[1.2.3.4]"}"#,
            ),
            (
                "2025-01-31 10:00:00 1tXaaa-00000001abc-0ABC mx.example [192.0.2.9] Connection refused",
                r#"{"reject":"permanent","reason":"Unknown","ip":"local"}"#,
            ),
            (
                "2025-01-31 10:00:00 rejected EHLO from (x) [192.0.2.4]: syntactically invalid argument(s): bad",
                r#"{"reject":"permanent","reason":"Rejected HELO/EHLO: syntactically invalid argument","ip":"[192.0.2.4]"}"#,
            ),
        ];
        for (line, want) in cases {
            let want: Value = serde_json::from_str(want).unwrap();
            assert_eq!(view(line), want, "{line}");
        }
    }

    #[test]
    fn non_ascii_rejects() {
        // Python's readings.
        assert_eq!(
            view("2025-01-31 10:00:00 rejected from <é@b>: listed at x"),
            Value::from(
                serde_json::json!({"reject": "permanent", "reason": "Listed at x", "ip": "local"})
            )
        );
        // Formerly declined: `_ucfirst` is Python's `upper()` (`ß` is `SS`), `\bH=` takes Python's `\w`
        // (a vowel sign is none), `\s` holds `\x1c`-`\x1f` (CPython's readings).
        for (line, want) in [
            (
                "2025-01-31 10:00:00 1tXaaa-00000001abc-0ABC x rejected after DATA: é bad",
                r#"{"reject": "permanent", "reason": "É bad", "ip": "local"}"#,
            ),
            (
                "2025-01-31 10:00:00 1tXaaa-00000001abc-0ABC x rejected after DATA: ß bad",
                r#"{"reject": "permanent", "reason": "SS bad", "ip": "local"}"#,
            ),
            (
                "2025-01-31 10:00:00 xH=[1.2.3.4] rejected x",
                r#"{"reject": "permanent", "reason": "Unknown", "ip": "local"}"#,
            ),
            (
                "2025-01-31 10:00:00 \u{93f}H=[1.2.3.4] rejected x",
                r#"{"reject": "permanent", "reason": "Unknown", "ip": "[1.2.3.4]"}"#,
            ),
            (
                "2025-01-31 10:00:00 H=(a) [1.2.3.4] rejected a\x1cb: no\x1c",
                r#"{"reject": "permanent", "reason": "Unknown", "ip": "[1.2.3.4]"}"#,
            ),
        ] {
            let want: Value = serde_json::from_str(want).unwrap();
            assert_eq!(view(line), want, "{line}");
        }
    }
}
