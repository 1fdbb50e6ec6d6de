//! `connection_lines.py`: SMTP connections opened, closed, lost, timed out, refused, synchronization
//! and syntax errors, host look-ups.

use super::hostident::{
    full_host, host_and_ident_end, scan_host_ident, unescaped_quotes_before_host,
};
use super::rule::Rule;
use super::{error, group, int, rule, set_duration, took_part};
use crate::body::{Event, Obj};
use crate::doc::Value;
use crate::fields::{interface, unescape};
use regex::{Captures, Regex};
use std::sync::OnceLock;

/// The groups the connection handlers read, each as it took part in the match (empty or not): from a
/// rule's captures, or from [`fast`]'s own reading of the two most frequent lines.
#[derive(Debug, Default, PartialEq)]
struct Conn<'h> {
    host: Option<&'h str>,
    iface: Option<&'h str>,
    ci: Option<&'h str>,
    count: Option<&'h str>,
    d: Option<&'h str>,
    reason: Option<&'h str>,
    err: Option<&'h str>,
}

impl<'h> Conn<'h> {
    fn of(m: &Captures<'h>) -> Self {
        Conn {
            host: took_part(m, "host"),
            iface: took_part(m, "iface"),
            ci: took_part(m, "ci"),
            count: took_part(m, "count"),
            d: took_part(m, "d"),
            reason: took_part(m, "reason"),
            err: took_part(m, "err"),
        }
    }
}

/// `group`: a group that took part and is not empty.
fn nonempty(g: Option<&str>) -> Option<&str> {
    g.filter(|s| !s.is_empty())
}

fn conn_open(ev: &mut Event, m: &Conn<'_>) -> Option<&'static str> {
    full_host(ev, m.host.unwrap_or(""), "source");
    if let Some(iface) = nonempty(m.iface) {
        ev.exim.insert("interface".into(), interface(iface));
    }
    if let Some(ci) = nonempty(m.ci) {
        ev.exim.insert("connection_id".into(), ci.into());
    }
    if let Some(count) = nonempty(m.count) {
        if let Some(n) = int(count) {
            ev.exim.insert("connection_count".into(), n.into());
        }
    }
    None
}

fn conn_end(ev: &mut Event, m: &Conn<'_>) -> Option<&'static str> {
    conn_open(ev, m);
    set_duration(ev, nonempty(m.d), "duration");
    if let Some(reason) = nonempty(m.reason) {
        ev.exim.insert("reason".into(), reason.trim().into());
    }
    if let Some(err) = nonempty(m.err) {
        sub(ev, "error").insert("message".into(), err.into());
    }
    None
}

fn h_conn_open(ev: &mut Event, m: &Captures<'_>) -> Option<&'static str> {
    conn_open(ev, &Conn::of(m))
}

fn h_conn_end(ev: &mut Event, m: &Captures<'_>) -> Option<&'static str> {
    conn_end(ev, &Conn::of(m))
}

/// `\s` of the rules (ASCII, as [`super::parse_other`] compiles them).
fn space(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ')
}

/// The end of `tag` and a `\S+` after it at `at` (`(?: I=\S+)?`, greedy: the longest), if there.
fn tag_run(b: &[u8], at: usize, tag: &[u8]) -> Option<usize> {
    let from = at + tag.len();
    if !b[at..].starts_with(tag) || b.get(from).map_or(true, |&c| space(c)) {
        return None;
    }
    Some(
        from + b[from..]
            .iter()
            .position(|&c| space(c))
            .unwrap_or(b.len() - from),
    )
}

/// `host_re!()`'s first branch from `at`, taking each optional part when it is there, as the
/// backtracker tries it first: the end of the host, or None (the regex may still match by a later
/// branch or a shorter part: the caller falls back to it).
fn host_first_branch(b: &[u8], mut at: usize) -> Option<usize> {
    if b[at..].starts_with(b"H=") {
        return None;
    }
    // `(?:[^\s(\[]+ )?`: the longest run, which must end at a space (a shorter one would end before
    // a byte of the run, never a space).
    let run = b[at..]
        .iter()
        .position(|&c| space(c) || c == b'(' || c == b'[')
        .unwrap_or(b.len() - at);
    if run > 0 && b.get(at + run) == Some(&b' ') {
        at += run + 1;
    }
    // `(?:\([^)]*\) )?`
    if b.get(at) == Some(&b'(') {
        if let Some(close) = memchr::memchr(b')', &b[at..]) {
            if b.get(at + close + 1) == Some(&b' ') {
                at += close + 2;
            }
        }
    }
    // `\[[^\]]*\]`
    if b.get(at) != Some(&b'[') {
        return None;
    }
    at += memchr::memchr(b']', &b[at..])? + 1;
    // `(?::\w+)?`
    if b.get(at) == Some(&b':') {
        let w = b[at + 1..]
            .iter()
            .position(|c| !(c.is_ascii_alphanumeric() || *c == b'_'))
            .unwrap_or(b.len() - at - 1);
        if w > 0 {
            at += 1 + w;
        }
    }
    for tag in [&b" I="[..], b" U=", b" Ci="] {
        if let Some(end) = tag_run(b, at, tag) {
            at = end;
        }
    }
    Some(at)
}

const OPENED: &str = "SMTP connection from ";
const COUNT: &str = " (TCP/IP connection count = ";
const CLOSED: &str = " closed ";

/// The first two rules ([`rules`]: `smtp_connection_opened` with its count, `smtp_connection_closed`)
/// read by hand on the forms that make a quarter of a busy log's lines: their captures were the
/// largest share of the catalogue's cost. Each part is taken as the regex's first try takes it, and
/// only a read that reaches the pattern's end is used (it is then the regex's match: the first that
/// succeeds); anything else (`None`) goes to the rules. The closed form is taken only when the body
/// holds no `COUNT`, so the opened rule before it cannot match.
pub(crate) fn fast(ev: &mut Event, body: &str) -> Option<&'static str> {
    let b = body.as_bytes();
    if !body.starts_with(OPENED) {
        return None;
    }
    let host_end = host_first_branch(b, OPENED.len())?;
    let mut m = Conn {
        host: Some(&body[OPENED.len()..host_end]),
        ..Conn::default()
    };
    let mut at = host_end;
    if let Some(end) = tag_run(b, at, b" I=") {
        m.iface = Some(&body[at + 3..end]);
        at = end;
    }
    // A finder built once: `memmem::find` builds its searcher per call.
    static COUNT_FINDER: std::sync::OnceLock<memchr::memmem::Finder<'static>> =
        std::sync::OnceLock::new();
    let has_count = COUNT_FINDER
        .get_or_init(|| memchr::memmem::Finder::new(COUNT))
        .find(b)
        .is_some();
    if has_count {
        if let Some(end) = tag_run(b, at, b" Ci=") {
            m.ci = Some(&body[at + 4..end]);
            at = end;
        }
        if !body[at..].starts_with(COUNT) {
            return None;
        }
        at += COUNT.len();
        let digits = b[at..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 || b.get(at + digits) != Some(&b')') {
            return None;
        }
        m.count = Some(&body[at..at + digits]);
        return Some(conn_open(ev, &m).unwrap_or("smtp_connection_opened"));
    }
    if !body.contains(CLOSED) {
        // Neither rule before it can match: the lost form's is the first that can.
        m.iface = None;
        lost(body, host_end, &mut m)?;
        return Some(conn_end(ev, &m).unwrap_or("smtp_connection_lost"));
    }
    if let Some(end) = tag_run(b, at, b" D=") {
        m.d = Some(&body[at + 3..end]);
        at = end;
    }
    if !body[at..].starts_with(CLOSED) {
        return None;
    }
    m.reason = Some(&body[at + CLOSED.len()..]);
    Some(conn_end(ev, &m).unwrap_or("smtp_connection_closed"))
}

/// The third rule's tail after the host, `( TFO\*?)? lost(reason)( \(error: err\))?( D=d)?\s*\z`,
/// each optional part taken when there as the regex first tries it; None where that first try
/// fails (no later one succeeds, but the rules decide) or the body holds `\x1c`-`\x1f`, which
/// [`tag_run`]'s runs would take and the rules' `\S` does not.
fn lost<'h>(body: &'h str, mut at: usize, m: &mut Conn<'h>) -> Option<()> {
    const READING: &str = " while reading message data";
    const ERROR: &str = " (error: ";
    let b = body.as_bytes();
    if b.iter().any(|c| (0x1c..=0x1f).contains(c)) {
        return None;
    }
    let lead = [" TFO* lost", " TFO lost", " lost"]
        .into_iter()
        .find(|lead| body[at..].starts_with(lead))?;
    at += lead.len();
    let reason = at;
    if body[at..].starts_with(READING) {
        at += READING.len();
        if body[at..].starts_with(" (") {
            if let Some(close) = memchr::memchr(b')', &b[at..]) {
                at += close + 1;
            }
        }
    }
    m.reason = Some(&body[reason..at]);
    if body[at..].starts_with(ERROR) {
        if let Some(close) = memchr::memchr(b')', &b[at + ERROR.len()..]) {
            m.err = Some(&body[at + ERROR.len()..at + ERROR.len() + close]);
            at += ERROR.len() + close + 1;
        }
    }
    if let Some(end) = tag_run(b, at, b" D=") {
        m.d = Some(&body[at + 3..end]);
        at = end;
    }
    b[at..].iter().all(|&c| space(c)).then_some(())
}

fn sub<'a>(ev: &'a mut Event, name: &str) -> &'a mut Obj {
    crate::body::sub(&mut ev.exim, name)
}

fn h_outbound(ev: &mut Event, m: &Captures<'_>) -> Option<&'static str> {
    let group = |name| took_part(m, name).unwrap_or("");
    outbound(ev, group("epoch"), group("domain"), group("rcpt"));
    None
}

fn outbound(ev: &mut Event, epoch: &str, domain: &str, rcpt: &str) {
    if let Some(epoch) = int(epoch) {
        ev.exim.insert("outbound_epoch".into(), epoch.into());
    }
    // cPanel's tracking line: one per recipient, with the sending domain before the recipient.
    ev.exim.insert("outbound_domain".into(), domain.into());
    ev.recipients(&[rcpt]);
}

/// cPanel's tracking lines' pattern.
const OUTBOUND: &str =
    r"(?s)SMTP connection outbound (?P<epoch>\d+) (?P<id>\S+) (?P<domain>\S+) (?P<rcpt>\S+)";

/// [`OUTBOUND`]'s (epoch, domain, rcpt) by hand on an ASCII body (`\d`, `\S` as the rules compile
/// it there): each run is a whole one, as a shorter one would end before no space.
fn outbound_groups(body: &str) -> Option<(&str, &str, &str)> {
    let rest = body.strip_prefix("SMTP connection outbound ")?;
    let b = rest.as_bytes();
    let digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
    if digits == 0 || b.get(digits) != Some(&b' ') {
        return None;
    }
    let mut runs = [(0, 0); 3];
    let mut at = digits + 1;
    for (k, run) in runs.iter_mut().enumerate() {
        let end = at
            + b[at..]
                .iter()
                .position(|&c| rule_space(c))
                .unwrap_or(b.len() - at);
        if end == at || (k < 2 && b.get(end) != Some(&b' ')) {
            return None;
        }
        *run = (at, end);
        at = end + 1;
    }
    let [_, domain, rcpt] = runs.map(|(a, e)| &rest[a..e]);
    Some((&rest[..digits], domain, rcpt))
}

fn read_outbound(ev: &mut Event, body: &str) -> Option<&'static str> {
    let (epoch, domain, rcpt) = outbound_groups(body)?;
    outbound(ev, epoch, domain, rcpt);
    Some("smtp_connection_outbound")
}

/// `h_reason_host`: the host, reason, interface, duration, command and sender a line names.
pub(crate) fn h_reason_host(ev: &mut Event, m: &Captures<'_>) -> Option<&'static str> {
    if let Some(host) = group(m, "host") {
        full_host(ev, host, "source");
    }
    if let Some(reason) = group(m, "reason").or_else(|| group(m, "why")) {
        ev.exim.insert("reason".into(), reason.into());
    }
    if let Some(iface) = group(m, "iface") {
        ev.exim.insert("interface".into(), interface(iface));
    }
    set_duration(ev, group(m, "d"), "duration");
    if let Some(cmd) = group(m, "cmd") {
        ev.exim.insert("smtp_command".into(), unescape(cmd).into());
    }
    if let Some(f) = group(m, "f") {
        ev.sender(f);
    }
    None
}

fn h_refused(ev: &mut Event, m: &Captures<'_>) -> Option<&'static str> {
    h_reason_host(ev, m);
    let reason = ev
        .exim
        .get("reason")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let temporary =
        group(m, "temp").is_some() || reason.contains("too many") || reason.contains("load");
    error(
        ev,
        &reason,
        Some(temporary),
        Some("connect"),
        None,
        "source",
        Some("policy_rejection"),
    );
    None
}

fn h_lost_dot(ev: &mut Event, m: &Captures<'_>) -> Option<&'static str> {
    scan_host_ident(ev, took_part(m, "rest").unwrap_or(""), "source");
    None
}

/// `str.partition('" ')[0]` and what follows the separator.
fn before_quote(text: &str) -> (&str, &str) {
    text.split_once("\" ").unwrap_or((text, ""))
}

/// `_h_syntax_error`: the command is the client's own text, so a `" H=(x) [ip]` inside it must not be
/// taken for the host: newer Exim escapes quotes in it (the first unescaped `" H=` is the real one),
/// older Exim does not (the last well-formed group is, and two of them make `source_ambiguous`).
fn h_syntax_error(ev: &mut Event, m: &Captures<'_>) -> Option<&'static str> {
    let text = took_part(m, "q").unwrap_or("");
    let mut valid: Vec<(usize, usize)> = Vec::new();
    for quote in unescaped_quotes_before_host(text) {
        if let Some(end) = host_and_ident_end(text, quote + 2) {
            if end == text.len() || text.as_bytes()[end] == b' ' {
                valid.push((quote, quote + 2));
            }
        }
    }
    if valid.is_empty() {
        let (cmd, rest) = before_quote(text);
        ev.exim.insert("smtp_command".into(), unescape(cmd).into());
        ev.exim.insert("reason".into(), rest.trim().into());
        return None;
    }
    let escaped = text[..valid[0].0].contains("\\\"");
    let (quote, host_at) = if escaped {
        valid[0]
    } else {
        valid[valid.len() - 1]
    };
    if valid.len() > 1 && !escaped {
        ev.exim.insert("source_ambiguous".into(), true.into());
    }
    ev.exim
        .insert("smtp_command".into(), unescape(&text[..quote]).into());
    let end = scan_host_ident(ev, &text[host_at..], "source");
    let reason = text[host_at + end..].trim();
    if !reason.is_empty() {
        ev.exim.insert("reason".into(), reason.into());
    }
    None
}

const NEXT_INPUT: &str = " next input=\"";

fn ident_tag() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    // Python's ` (?:…)(?= |\Z)`: the greedy tag ends at a space or the end whenever it can, so the
    // lookahead is a test of the next byte.
    R.get_or_init(|| {
        Regex::new(&super::python_spaces(
            r"\A (?:I=\[[^\]\s]*\](?::\w+)?|U=\S+|Ci=\S+)",
        ))
        .expect("ident tag")
    })
}

/// `_h_sync_error`: the command and the pipelined data are the client's, so a host group counts only
/// when it sits between them; two such places make `source_ambiguous` and no source.
fn h_sync_error(ev: &mut Event, m: &Captures<'_>) -> Option<&'static str> {
    let reason = took_part(m, "reason").unwrap_or("");
    ev.exim.insert("reason".into(), reason.into());
    if let Some(text) = took_part(m, "rest") {
        scan_host_ident(ev, text, "source");
        return None;
    }
    let text = took_part(m, "q").unwrap_or("");
    let mut valid: Vec<(usize, usize)> = Vec::new();
    for quote in unescaped_quotes_before_host(text) {
        let Some(mut end) = host_and_ident_end(text, quote + 2) else {
            continue;
        };
        while let Some(t) = ident_tag().find(&text[end..]) {
            let after = end + t.end();
            if after != text.len() && text.as_bytes()[after] != b' ' {
                break;
            }
            end = after;
        }
        if end == text.len() || text[end..].starts_with(NEXT_INPUT) {
            valid.push((quote, end));
        }
    }
    if valid.len() != 1 {
        let (cmd, _) = before_quote(text);
        ev.exim.insert("smtp_command".into(), unescape(cmd).into());
        if !valid.is_empty() {
            ev.exim.insert("source_ambiguous".into(), true.into());
        }
        return None;
    }
    let (quote, end) = valid[0];
    ev.exim
        .insert("smtp_command".into(), unescape(&text[..quote]).into());
    scan_host_ident(ev, &text[quote + 2..end], "source");
    if end < text.len() {
        let tail = &text[end + NEXT_INPUT.len()..];
        let tail = tail.strip_suffix('"').unwrap_or(tail);
        ev.exim.insert("smtp_input".into(), unescape(tail).into());
    }
    None
}

/// `_h_no_ip_for_host`: the name reverse DNS claimed and forward DNS did not confirm is kept as
/// `exim.reverse_name`, never as a verified `source.domain`.
fn h_no_ip_for_host(ev: &mut Event, m: &Captures<'_>) -> Option<&'static str> {
    let name = took_part(m, "name").unwrap_or("");
    ev.exim.insert("reverse_name".into(), name.into());
    if let Some(host) = group(m, "host") {
        full_host(ev, host, "source");
    }
    None
}

/// `\s` as the rules compile it for ASCII bodies (`\x1c`-`\x1f` too, as Python's).
fn rule_space(c: u8) -> bool {
    space(c) || (0x1c..=0x1f).contains(&c)
}

/// The reverse look-up failures' pattern (its groups: `_generic`'s `ip` alone).
const NO_HOST_NAME: &str = r"(?s)no host name found for IP address (?P<ip>\S+)";

/// [`NO_HOST_NAME`]'s `ip` by hand on an ASCII body (`\S` as the rules compile it there): the whole
/// run after the text, which must not be empty.
fn no_host_name_ip(body: &str) -> Option<&str> {
    let rest = body.strip_prefix("no host name found for IP address ")?;
    let end = rest.bytes().position(rule_space).unwrap_or(rest.len());
    (end > 0).then(|| &rest[..end])
}

fn read_no_host_name(ev: &mut Event, body: &str) -> Option<&'static str> {
    super::bare_host(ev, "source", no_host_name_ip(body)?);
    Some("host_lookup_failed")
}

/// `CONNECTION_RULES`, in Python's order.
pub fn rules() -> Vec<Rule> {
    vec![
        rule(
            "smtp_connection_opened",
            concat!(
                r"(?s)SMTP connection from ",
                host_re!(),
                r"(?: I=(?P<iface>\S+))?",
                ci_re!(),
                r" \(TCP/IP connection count = (?P<count>\d+)\)"
            ),
            Some(h_conn_open),
        ),
        rule(
            "smtp_connection_closed",
            concat!(
                r"(?s)SMTP connection",
                ci_re!(),
                r" from ",
                host_re!(),
                r"(?: I=(?P<iface>\S+))?(?: D=(?P<d>\S+))? closed (?P<reason>.*)"
            ),
            Some(h_conn_end),
        ),
        rule(
            "smtp_connection_lost",
            concat!(
                r"(?s)SMTP connection",
                ci_re!(),
                r" from ",
                host_re!(),
                r" (?:TFO\*? )?lost(?P<reason>(?: while reading message data(?: \([^)]*\))?)?)",
                r"(?: \(error: (?P<err>[^)]*)\))?(?: D=(?P<d>\S+))?\s*\z"
            ),
            Some(h_conn_end),
        ),
        Rule {
            read: Some(read_outbound),
            ..rule("smtp_connection_outbound", OUTBOUND, Some(h_outbound))
        },
        rule(
            "smtp_connection_lost",
            r"(?s)SMTP connection lost after final dot(?P<rest>.*)",
            Some(h_lost_dot),
        ),
        rule(
            "smtp_connection_opened",
            concat!(
                r"(?s)SMTP connection",
                ci_re!(),
                r" from ",
                host_re!(),
                r"(?: \(via inetd\))?\s*\z"
            ),
            Some(h_conn_open),
        ),
        rule(
            "smtp_connection_lost",
            concat!(
                r"(?s)unexpected (?:disconnection|EOF) while reading SMTP command from (?:TFO\*? )?",
                host_re!(),
                r"(?: \(error: (?P<err>[^)]*)\))?(?: D=(?P<d>\S+))?\s*\z"
            ),
            Some(h_conn_end),
        ),
        rule(
            "smtp_timeout",
            concat!(
                r"(?s)SMTP command timeout on(?: TLS)? connection from ",
                host_re!(),
                r"(?: D=(?P<d>\S+))?\s*\z"
            ),
            Some(h_reason_host),
        ),
        rule(
            "smtp_timeout",
            concat!(
                r"(?s)SMTP data timeout \(message abandoned\) on connection from ",
                host_re!(),
                r"(?: F=<(?P<f>[^>]*)>)?(?: D=(?P<d>\S+))?\s*\z"
            ),
            Some(h_reason_host),
        ),
        rule(
            "smtp_no_mail",
            concat!(
                r"(?s)no MAIL in (?:TFO\*? )?SMTP connection from ",
                host_re!(),
                r" D=(?P<d>\S+)(?P<rest>.*)"
            ),
            None,
        ),
        rule(
            "smtp_sync_error",
            r#"(?s)SMTP protocol synchronization error \((?P<reason>[^)]*)\): rejected (?:connection from (?P<rest>.*)|"(?P<q>.*))"#,
            Some(h_sync_error),
        ),
        rule(
            "smtp_syntax_error",
            r#"(?s)SMTP syntax error in "(?P<q>.*)"#,
            Some(h_syntax_error),
        ),
        rule(
            "smtp_protocol_error",
            r#"(?s)SMTP protocol error in "(?P<q>.*)"#,
            Some(h_syntax_error),
        ),
        rule(
            "smtp_call_dropped",
            concat!(
                r"(?s)SMTP call from ",
                host_re!(),
                r" dropped: (?P<reason>.*)"
            ),
            Some(h_reason_host),
        ),
        rule(
            "smtp_input_error",
            r"(?s)Error or EOF on input from (?P<rest>.*)",
            None,
        ),
        rule(
            "connection_refused",
            r"(?s)Connection from (?P<host>\[[^\]]*\](?::\w+)?)(?: I=(?P<iface>\S+))? refused: (?P<reason>.*)",
            Some(h_refused),
        ),
        Rule {
            needles: &["refused connection"],
            ..rule(
                "connection_refused",
                concat!(
                    r"(?s)(?P<temp>temporarily )?refused connection from ",
                    host_re!(),
                    r"(?: \((?P<why>[^)]*)\)|: (?P<reason>.*))\s*\z"
                ),
                Some(h_refused),
            )
        },
        rule(
            "connection_refused",
            concat!(
                r"(?s)connection from ",
                host_re!(),
                r" refused \((?P<why>[^)]*)\)"
            ),
            Some(h_refused),
        ),
        Rule {
            read: Some(read_no_host_name),
            ..rule("host_lookup_failed", NO_HOST_NAME, None)
        },
        rule(
            "host_lookup_failed",
            concat!(
                r"(?s)no IP address found for host (?P<name>\S+)(?: \(during SMTP connection from ",
                host_re!(),
                r"\))?(?P<rest>.*)"
            ),
            Some(h_no_ip_for_host),
        ),
    ]
}

#[cfg(test)]
mod reader_tests {
    use proptest::prelude::*;

    /// `no_host_name_ip` against [`super::NO_HOST_NAME`] as the rules compile it for ASCII bodies.
    fn as_the_pattern(body: &str) {
        let re = super::super::rule_regex(super::NO_HOST_NAME).unwrap();
        let want = re.captures(body).map(|m| m.name("ip").unwrap().as_str());
        assert_eq!(super::no_host_name_ip(body), want, "{body:?}");
    }

    /// `outbound_groups` against [`super::OUTBOUND`] as the rules compile it for ASCII bodies.
    fn outbound_as_the_pattern(body: &str) {
        let re = super::super::rule_regex(super::OUTBOUND).unwrap();
        let want = re.captures(body).map(|m| {
            let g = |name| m.name(name).unwrap().as_str();
            (g("epoch"), g("domain"), g("rcpt"))
        });
        assert_eq!(super::outbound_groups(body), want, "{body:?}");
    }

    #[test]
    fn the_tracking_lines_are_read_by_hand_as_the_pattern_reads_them() {
        for body in [
            "SMTP connection outbound 1700000000 1tXaaa-00000001abc-0ABC example.com rcpt@x.example",
            "SMTP connection outbound 1700000000 id example.com rcpt@x.example trailing words",
            "SMTP connection outbound 17 id d r\x1cs",
            "SMTP connection outbound 17 id d ",
            "SMTP connection outbound 17 id  d r",
            "SMTP connection outbound 17x id d r",
            "SMTP connection outbound  17 id d r",
            "SMTP connection outbound 17 id\td r",
        ] {
            outbound_as_the_pattern(body);
        }
    }

    #[test]
    fn the_reverse_lookup_failures_are_read_by_hand_as_the_pattern_reads_them() {
        for body in [
            "no host name found for IP address 192.0.2.6",
            "no host name found for IP address 2001:db8::1 more",
            "no host name found for IP address ",
            "no host name found for IP address \x1c1",
            "no host name found for IP address 1\x1f2",
            "no host name found for IP address\t1",
            "no host name found for ip address 1",
        ] {
            as_the_pattern(body);
        }
    }

    proptest! {
        #[test]
        fn the_reverse_lookup_reader_agrees_with_the_pattern_on_any_ascii_text(
            head in proptest::sample::select(vec![
                "no host name found for IP address ", "no host name found for IP address",
                "no host name found", "",
            ]),
            tail in "[ -~\t\n\x0b\x0c\r\x1c-\x1f]{0,12}",
        ) {
            as_the_pattern(&format!("{head}{tail}"));
        }

        #[test]
        fn the_tracking_reader_agrees_with_the_pattern_on_any_ascii_text(
            parts in proptest::collection::vec(
                proptest::sample::select(vec![
                    "1700000000", "7", "x", "a@b.example", " ", "  ", "\t", "\x1c", "\n", "-",
                ]),
                0..9,
            )
        ) {
            outbound_as_the_pattern(&format!("SMTP connection outbound {}", parts.concat()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same_as_rules(body: &str) -> bool {
        super::super::fast_equals_rules(fast, body)
    }

    #[test]
    fn the_hand_read_lines_equal_the_rules() {
        let read = [
            "SMTP connection from [40.107.20.168]:28759 I=[198.51.100.23]:25 (TCP/IP connection count = 1)",
            "SMTP connection from [2001:db8::1]:28759 (TCP/IP connection count = 12)",
            "SMTP connection from [192.0.2.1]:25 lost D=1s",
            "SMTP connection from (User) [192.0.2.1]:25 I=[198.51.100.23]:25 lost while reading message data (error: Connection reset by peer) D=4.5s",
            "SMTP connection from [192.0.2.1] (TCP/IP connection count = 3) trailing",
            "SMTP connection from (helo) [192.0.2.1]:25 I=[198.51.100.23]:25 D=1.5s closed by QUIT",
            "SMTP connection from (WIN-X) [192.0.2.1]:25 I=[198.51.100.23]:25 D=12s closed by EOF",
            "SMTP connection from mail.example.com (helo.example) [192.0.2.1]:25 I=[198.51.100.23]:25 D=0.2s closed by QUIT",
            "SMTP connection from mail.example.com [192.0.2.1]:25 I=[198.51.100.23]:25 D=0.2s closed by QUIT",
            "SMTP connection from localhost (localhost) [127.0.0.1]:40000 I=[127.0.0.1]:25 D=0s closed by QUIT",
            "SMTP connection from [192.0.2.1]:25 I=[198.51.100.23]:25 U=x Ci=77 D=1s closed by QUIT",
            "SMTP connection from [192.0.2.1]:25 I=[198.51.100.23]:25 I=[198.51.100.24]:26 D=1s closed by QUIT",
            "SMTP connection from [192.0.2.1]:25 I=[198.51.100.23]:25 Ci=9 (TCP/IP connection count = 2)",
            "SMTP connection from [192.0.2.1]:x_1 closed  by QUIT ",
            "SMTP connection from [192.0.2.1] closed ",
            "SMTP connection from (a b) [192.0.2.1]:25 D=2m3s closed by QUIT",
        ];
        for body in read {
            assert!(same_as_rules(body), "not read by hand: {body}");
        }
        // Forms left to the rules (a later branch, a shorter part or another rule would decide).
        let left = [
            "SMTP connection from H=[192.0.2.1] closed by QUIT",
            "SMTP connection from 192.0.2.1 closed by QUIT",
            "SMTP connection from [192.0.2.1]:25 (TCP/IP connection count = x)",
            "SMTP connection from [192.0.2.1]:25 (TCP/IP connection count = 1",
            "SMTP connection from [192.0.2.1]:25 D=1s closed by QUIT (TCP/IP connection count = 1)",
            "SMTP connection from local process closed by QUIT",
            "SMTP connection Ci=3 from [192.0.2.1] closed by QUIT",
            "SMTP connection from [192.0.2.1 closed by QUIT",
            "SMTP connection from (helo [192.0.2.1] closed by QUIT",
            "SMTP connection from [192.0.2.1]: closed by QUIT",
            "SMTP connection from x(y) [192.0.2.1] closed by QUIT",
            "SMTP connection from (a) (b) [192.0.2.1]:25 closed by QUIT",
        ];
        for body in left {
            assert!(!same_as_rules(body), "read by hand: {body}");
        }
        // Every combination of the optional parts, against the rules.
        let names = ["", "mx.example ", "a(b ", "x[y "];
        let helos = ["", "(helo) ", "() ", "(a) b) "];
        let ports = ["", ":25", ":", ":a_b"];
        let tags = [
            "",
            " I=[198.51.100.23]:25",
            " U=u",
            " Ci=1",
            " I=x U=y Ci=z",
            " I=",
        ];
        let tails = [
            " (TCP/IP connection count = 7)",
            " D=1s closed by QUIT",
            " closed",
            " D= closed x",
            " Ci=2 (TCP/IP connection count = 7)",
            " lost D=1s",
            " lost",
            " lost ",
            " TFO* lost D=2.5s",
            " TFO lost while reading message data (error: Connection reset by peer) D=1s",
            " lost while reading message data (x) (error: y) D=1s\n",
            " lost while reading message data (x D=1s",
            " lost (error: y D=1s",
            " lost (error: y) D=",
            " lost D=1s x",
            " lostD=1s",
            " TFO*lost",
            " lost while reading message data (error: a) junk",
        ];
        let mut n = 0;
        for name in names {
            for helo in helos {
                for port in ports {
                    for tag in tags {
                        for tail in tails {
                            let body = format!(
                                "SMTP connection from {name}{helo}[192.0.2.9]{port}{tag}{tail}"
                            );
                            n += usize::from(same_as_rules(&body));
                        }
                    }
                }
            }
        }
        assert!(n > 100, "{n} read by hand");
    }
}
