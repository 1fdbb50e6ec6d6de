//! `enrich.enrich` for the claimed lines: host facts, HELO checks, address parts, provider, `related.*`,
//! and eximstats' reading of the line (`eximstats.py`).

use crate::body::{sub, Decline, Obj, R};
use crate::fields::{address_parts, ip_kind, is_word, non_space_end, provider, py_space};
use crate::tables;
use regex::Regex;
use serde_json::Value;
use std::sync::OnceLock;

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
        return no_id_view(line, words);
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
    if (flag.is_none() && words) || (flag == Some("=>") && !has_t) {
        reject_reading(rest, &mut out)?;
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

/// A line without a message id (`_ID.match` fails): no flag, only the reject reading counts.
fn no_id_view(line: &str, words: bool) -> R<Option<Obj>> {
    if !words {
        return Ok(None);
    }
    let r = reject_patterns();
    let Some(m) = r.prefix.find(line) else {
        return Ok(None);
    };
    let rest = &line[m.end()..];
    if r.id.is_match(rest) {
        return Err(Decline); // an id `PREFIX_RE` did not take (a pid beyond 10 digits): not ported
    }
    let mut out = Obj::new();
    reject_reading(rest, &mut out)?;
    Ok(Some(out))
}

/// eximstats' reject patterns (`eximstats.py`, in its order), compiled once.
struct RejectPatterns {
    prefix: Regex,
    id: Regex,
    temporary_first: Vec<Regex>,
    permanent: Vec<Regex>,
    helo_syntax: Regex,
    rcpt_response: Regex,
    permanent_late: Vec<Regex>,
    temporary_acl: Regex,
    ip: Vec<Regex>,
    ehlo_ip: Regex,
}

fn reject_patterns() -> &'static RejectPatterns {
    static P: OnceLock<RejectPatterns> = OnceLock::new();
    let all = |ps: &[&str]| -> Vec<Regex> {
        ps.iter()
            .map(|p| Regex::new(p).expect("an eximstats pattern"))
            .collect()
    };
    P.get_or_init(|| RejectPatterns {
        prefix: Regex::new(
            r"\A\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?(?: [-+]\d{4})?(?: \[\d+\])? ",
        )
        .expect("prefix"),
        id: Regex::new(
            r"\A[0-9A-Za-z]{6}-(?:[0-9A-Za-z]{6}-[0-9A-Za-z]{2}|[0-9A-Za-z]{11}-[0-9A-Za-z]{4}) ",
        )
        .expect("id"),
        temporary_first: all(&[
            r"(temporarily rejected [A-Z]*) .*?(: .*?)(:|\s*$)",
            r"(temporarily refused connection)()",
        ]),
        permanent: all(&[
            r"(listed at [^ ]+)()",
            r"(Forged IP detected in HELO)()",
            r"(Invalid domain or IP given in HELO/EHLO)()",
            r"(unqualified recipient rejected)()",
            r"(closed connection (?:after|in response) .*?)\s*$()",
            r"(sender rejected)()",
            r" rejected after DATA: (.*)()",
            r" (rejected DATA: .*)()",
            r".DATA ACL discarded recipients.: (.*)()",
            r"rejected after DATA: (unqualified address not permitted)()",
            r"(VRFY rejected)()",
            r"(too many recipients)()",
            r"(refused relay.*?) to()",
            r"(rejected by non-SMTP ACL: .*)()",
            r"(rejected by local_scan.*)()",
            r"(dropped: too many (?:(?:nonmail|unrecognized) commands|syntax or protocol errors))()",
            r"(local_scan.. function .* - message temporarily rejected)()",
            r"(SMTP protocol .*?(?:error|violation))()",
            r"(message too big)()",
        ]),
        helo_syntax: Regex::new(r"rejected [HE][HE]LO from [^:]*: syntactically invalid argument")
            .expect("helo syntax"),
        rcpt_response: Regex::new(r#"response to "RCPT TO.*? was: (.*)"#).expect("rcpt response"),
        permanent_late: all(&[
            r"(lookup of host )\S+ (failed)",
            r"(rejected [A-Z]*) .*?(: .*?)(?::|\s*$)",
            r"(refused connection )from.*? (\(.*)",
            r"(error from remote mailer after .*?:).*(: .*?)(?::|\s*$)",
            r#"rejected after DATA: ("." or "." expected).*?(: failing address in .*? header)"#,
            r"(Connection )from.*? (refused: load average)",
            r"([Cc]onnection )from.*? (refused.*)",
            r": (Connection refused)()",
        ]),
        temporary_acl: Regex::new(r"(temporarily rejected connection in .*?ACL:?.*)")
            .expect("temporary acl"),
        ip: all(&[
            r"\bH=(?:|.*? )(\[[^\]]+\])",
            r"Connection from (\[\S+\])",
            r"SMTP call from .*?(\[\S+\])",
        ]),
        ehlo_ip: Regex::new(r"\Arejected [HE][HE]LO from .*?(\[.+?\]):").expect("ehlo ip"),
    })
}

/// `_ucfirst` of groups 1 and 2 (ASCII: the reading is declined otherwise).
fn ucfirst(c: &regex::Captures<'_>, both: bool) -> String {
    let mut t = c.get(1).map_or("", |g| g.as_str()).to_string();
    if both {
        t.push_str(c.get(2).map_or("", |g| g.as_str()));
    }
    if let Some(first) = t.get(..1) {
        let up = first.to_ascii_uppercase();
        t.replace_range(..1, &up);
    }
    t
}

/// `_reason`: (kind, reason) of a line eximstats counts as a reject.
fn reason(rest: &str) -> (&'static str, String) {
    let r = reject_patterns();
    if rest.contains("SpamAssassin") {
        return ("permanent", "Rejected by SpamAssassin".into());
    }
    if let Some(c) = r.temporary_first.iter().find_map(|x| x.captures(rest)) {
        return ("temporary", ucfirst(&c, true));
    }
    if let Some(c) = r.permanent.iter().find_map(|x| x.captures(rest)) {
        return ("permanent", ucfirst(&c, false));
    }
    if r.helo_syntax.is_match(rest) {
        return (
            "permanent",
            "Rejected HELO/EHLO: syntactically invalid argument".into(),
        );
    }
    if let Some(c) = r.rcpt_response.captures(rest) {
        return ("permanent", format!("Response to RCPT TO was: {}", &c[1]));
    }
    if let Some(c) = r.permanent_late.iter().find_map(|x| x.captures(rest)) {
        return ("permanent", ucfirst(&c, true));
    }
    if let Some(c) = r.temporary_acl.captures(rest) {
        return ("temporary", ucfirst(&c, false));
    }
    ("permanent", "Unknown".into())
}

/// eximstats' reject reading (`_reason`, `_ip`, `_EHLO_IP`) into `out`. Python's `\s`, `\b` and
/// `str.upper` agree with these on ASCII without `\x1c`-`\x1f`: other lines are declined.
fn reject_reading(rest: &str, out: &mut Obj) -> R<()> {
    if !rest.is_ascii() || rest.bytes().any(|b| (0x1c..=0x1f).contains(&b)) {
        return Err(Decline);
    }
    let r = reject_patterns();
    let (kind, why) = reason(rest);
    let mut ip =
        r.ip.iter()
            .find_map(|x| x.captures(rest))
            .map_or("local", |c| c.get(1).map_or("", |g| g.as_str()));
    if ip == "local" {
        if let Some(c) = r.ehlo_ip.captures(rest) {
            ip = c.get(1).map_or("", |g| g.as_str());
        }
    }
    out.insert("reject".into(), kind.into());
    out.insert("reason".into(), why.into());
    out.insert("ip".into(), ip.into());
    Ok(())
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn view(line: &str) -> Value {
        Value::Object(eximstats_view(line).unwrap().unwrap_or_default())
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
    fn a_non_ascii_reject_is_declined() {
        assert!(eximstats_view("2025-01-31 10:00:00 rejected from <é@b>: listed at x").is_err());
    }
}
