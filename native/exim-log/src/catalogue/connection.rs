//! `connection_lines.py`: SMTP connections opened, closed, lost, timed out, refused, synchronization
//! and syntax errors, host look-ups.

use super::hostident::{
    full_host, host_and_ident_end, scan_host_ident, unescaped_quotes_before_host,
};
use super::rule::Rule;
use super::{error, group, int, rule, set_duration, took_part};
use crate::body::{Decline, Event, Obj, R};
use crate::doc::Value;
use crate::fields::{interface, unescape};
use regex::{Captures, Regex};
use std::sync::OnceLock;

fn h_conn_open(ev: &mut Event, m: &Captures<'_>) -> R<Option<&'static str>> {
    full_host(ev, took_part(m, "host").unwrap_or(""), "source")?;
    if let Some(iface) = group(m, "iface") {
        ev.exim.insert("interface".into(), interface(iface)?);
    }
    if let Some(ci) = group(m, "ci") {
        ev.exim.insert("connection_id".into(), ci.into());
    }
    if let Some(count) = group(m, "count") {
        ev.exim
            .insert("connection_count".into(), int(count)?.into());
    }
    Ok(None)
}

fn h_conn_end(ev: &mut Event, m: &Captures<'_>) -> R<Option<&'static str>> {
    h_conn_open(ev, m)?;
    set_duration(ev, group(m, "d"), "duration")?;
    if let Some(reason) = group(m, "reason") {
        ev.exim.insert("reason".into(), reason.trim().into());
    }
    if let Some(err) = group(m, "err") {
        sub(ev, "error").insert("message".into(), err.into());
    }
    Ok(None)
}

fn sub<'a>(ev: &'a mut Event, name: &str) -> &'a mut Obj {
    crate::body::sub(&mut ev.exim, name)
}

fn h_outbound(ev: &mut Event, m: &Captures<'_>) -> R<Option<&'static str>> {
    let epoch = int(took_part(m, "epoch").ok_or(Decline)?)?;
    ev.exim.insert("outbound_epoch".into(), epoch.into());
    // cPanel's tracking line: one per recipient, with the sending domain before the recipient.
    let domain = took_part(m, "domain").ok_or(Decline)?;
    ev.exim.insert("outbound_domain".into(), domain.into());
    ev.recipients(&[took_part(m, "rcpt").ok_or(Decline)?]);
    Ok(None)
}

/// `h_reason_host`: the host, reason, interface, duration, command and sender a line names.
pub(crate) fn h_reason_host(ev: &mut Event, m: &Captures<'_>) -> R<Option<&'static str>> {
    if let Some(host) = group(m, "host") {
        full_host(ev, host, "source")?;
    }
    if let Some(reason) = group(m, "reason").or_else(|| group(m, "why")) {
        ev.exim.insert("reason".into(), reason.into());
    }
    if let Some(iface) = group(m, "iface") {
        ev.exim.insert("interface".into(), interface(iface)?);
    }
    set_duration(ev, group(m, "d"), "duration")?;
    if let Some(cmd) = group(m, "cmd") {
        ev.exim.insert("smtp_command".into(), unescape(cmd)?.into());
    }
    if let Some(f) = group(m, "f") {
        ev.sender(f);
    }
    Ok(None)
}

fn h_refused(ev: &mut Event, m: &Captures<'_>) -> R<Option<&'static str>> {
    h_reason_host(ev, m)?;
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
    )?;
    Ok(None)
}

fn h_lost_dot(ev: &mut Event, m: &Captures<'_>) -> R<Option<&'static str>> {
    scan_host_ident(ev, took_part(m, "rest").unwrap_or(""), "source")?;
    Ok(None)
}

/// `str.partition('" ')[0]` and what follows the separator.
fn before_quote(text: &str) -> (&str, &str) {
    text.split_once("\" ").unwrap_or((text, ""))
}

/// `_h_syntax_error`: the command is the client's own text, so a `" H=(x) [ip]` inside it must not be
/// taken for the host: newer Exim escapes quotes in it (the first unescaped `" H=` is the real one),
/// older Exim does not (the last well-formed group is, and two of them make `source_ambiguous`).
fn h_syntax_error(ev: &mut Event, m: &Captures<'_>) -> R<Option<&'static str>> {
    let text = took_part(m, "q").unwrap_or("");
    let mut valid: Vec<(usize, usize)> = Vec::new();
    for quote in unescaped_quotes_before_host(text) {
        if let Some(end) = host_and_ident_end(text, quote + 2)? {
            if end == text.len() || text.as_bytes()[end] == b' ' {
                valid.push((quote, quote + 2));
            }
        }
    }
    if valid.is_empty() {
        let (cmd, rest) = before_quote(text);
        ev.exim.insert("smtp_command".into(), unescape(cmd)?.into());
        ev.exim.insert("reason".into(), rest.trim().into());
        return Ok(None);
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
        .insert("smtp_command".into(), unescape(&text[..quote])?.into());
    let end = scan_host_ident(ev, &text[host_at..], "source")?;
    let reason = text[host_at + end..].trim();
    if !reason.is_empty() {
        ev.exim.insert("reason".into(), reason.into());
    }
    Ok(None)
}

const NEXT_INPUT: &str = " next input=\"";

fn ident_tag() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    // Python's ` (?:…)(?= |\Z)`: the greedy tag ends at a space or the end whenever it can, so the
    // lookahead is a test of the next byte.
    R.get_or_init(|| Regex::new(r"\A (?:I=\[[^\]\s]*\](?::\w+)?|U=\S+|Ci=\S+)").expect("ident tag"))
}

/// `_h_sync_error`: the command and the pipelined data are the client's, so a host group counts only
/// when it sits between them; two such places make `source_ambiguous` and no source.
fn h_sync_error(ev: &mut Event, m: &Captures<'_>) -> R<Option<&'static str>> {
    let reason = took_part(m, "reason").unwrap_or("");
    ev.exim.insert("reason".into(), reason.into());
    if let Some(text) = took_part(m, "rest") {
        scan_host_ident(ev, text, "source")?;
        return Ok(None);
    }
    let text = took_part(m, "q").unwrap_or("");
    let mut valid: Vec<(usize, usize)> = Vec::new();
    for quote in unescaped_quotes_before_host(text) {
        let Some(mut end) = host_and_ident_end(text, quote + 2)? else {
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
        ev.exim.insert("smtp_command".into(), unescape(cmd)?.into());
        if !valid.is_empty() {
            ev.exim.insert("source_ambiguous".into(), true.into());
        }
        return Ok(None);
    }
    let (quote, end) = valid[0];
    ev.exim
        .insert("smtp_command".into(), unescape(&text[..quote])?.into());
    scan_host_ident(ev, &text[quote + 2..end], "source")?;
    if end < text.len() {
        let tail = &text[end + NEXT_INPUT.len()..];
        let tail = tail.strip_suffix('"').unwrap_or(tail);
        ev.exim.insert("smtp_input".into(), unescape(tail)?.into());
    }
    Ok(None)
}

/// `_h_no_ip_for_host`: the name reverse DNS claimed and forward DNS did not confirm is kept as
/// `exim.reverse_name`, never as a verified `source.domain`.
fn h_no_ip_for_host(ev: &mut Event, m: &Captures<'_>) -> R<Option<&'static str>> {
    let name = took_part(m, "name").unwrap_or("");
    ev.exim.insert("reverse_name".into(), name.into());
    if let Some(host) = group(m, "host") {
        full_host(ev, host, "source")?;
    }
    Ok(None)
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
        rule(
            "smtp_connection_outbound",
            r"(?s)SMTP connection outbound (?P<epoch>\d+) (?P<id>\S+) (?P<domain>\S+) (?P<rcpt>\S+)",
            Some(h_outbound),
        ),
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
        rule(
            "host_lookup_failed",
            r"(?s)no host name found for IP address (?P<ip>\S+)",
            None,
        ),
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
