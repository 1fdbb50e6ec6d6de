//! `enrich.enrich` for the claimed lines: host facts, HELO checks, address parts, provider, `related.*`,
//! and eximstats' reading of the line (`eximstats.py`).

use crate::body::{sub, Decline, Obj, R};
use crate::fields::{address_parts, ip_kind, is_word, non_space_end, provider, py_space};
use crate::tables;
use serde_json::Value;

pub(crate) fn get<'a>(o: &'a Obj, path: &[&str]) -> Option<&'a Value> {
    let (last, head) = path.split_last()?;
    let mut cur = o;
    for k in head {
        cur = cur.get(*k)?.as_object()?;
    }
    cur.get(*last)
}

pub(crate) fn get_str<'a>(o: &'a Obj, path: &[&str]) -> Option<&'a str> {
    get(o, path).and_then(Value::as_str)
}

pub(crate) fn push_unique(list: &mut Vec<String>, v: &str) {
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

pub(crate) fn side_facts(doc: &mut Obj, side: &str, remote: &mut Obj) -> R<()> {
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
pub(crate) fn registered_domain(name: &str) -> R<Option<String>> {
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
pub(crate) fn eximstats_view(line: &str) -> R<Option<Obj>> {
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
pub(crate) const REASON_WORDS: &[&str] = &[
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
pub(crate) fn host_word(rest: &str) -> R<Option<&str>> {
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
pub(crate) fn parent(rest: &str) -> Option<&str> {
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
pub(crate) fn user_word(rest: &str) -> Option<&str> {
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
