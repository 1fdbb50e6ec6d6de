//! `command_lines.py`: SMTP command lines of a session (HELO and MAIL refusals, TLS errors, ETRN,
//! VRFY, XCLIENT and AUTH).

use super::connection::h_reason_host;
use super::hostident::{
    full_host, host_and_ident_end, ident_tail_ends, scan_host_ident, trailing_host_at,
};
use super::rule::Rule;
use super::{bare_host, error, group, int, rule, took_part};
use crate::body::{Event, Obj};
use crate::doc::Value;
use crate::fields::host_group;
use regex::{Captures, Regex};
use std::sync::OnceLock;

fn h_helo(ev: &mut Event, m: &Captures<'_>) -> Option<&'static str> {
    h_reason_host(ev, m);
    if let Some(helo) = took_part(m, "helo") {
        ev.exim.insert("helo".into(), helo.into());
    }
    let reason = group(m, "reason").unwrap_or("HELO rejected");
    let temp = group(m, "temp").is_some();
    error(
        ev,
        reason,
        Some(temp),
        Some("helo"),
        Some("helo"),
        "source",
        None,
    );
    None
}

fn h_mail_reject(ev: &mut Event, m: &Captures<'_>) -> Option<&'static str> {
    h_reason_host(ev, m);
    if let Some(s) = took_part(m, "s") {
        ev.sender(s);
    }
    let whole = m.get(0).map_or("", |g| g.as_str());
    let ctx = whole.contains("too big").then_some("size");
    if let Some(size) = group(m, "size") {
        if let Some(n) = int(size) {
            ev.exim.insert("size".into(), n.into());
        }
        if let Some(max) = int(took_part(m, "max").unwrap_or("")) {
            ev.exim.insert("size_limit".into(), max.into());
        }
    }
    let msg = group(m, "reason").unwrap_or(whole);
    error(
        ev,
        msg,
        Some(false),
        Some("mail"),
        ctx,
        "source",
        Some("policy_rejection"),
    );
    None
}

fn h_tls_in(ev: &mut Event, m: &Captures<'_>) -> Option<&'static str> {
    h_reason_host(ev, m);
    if let Some(f) = group(m, "fn").or_else(|| group(m, "fn2")) {
        ev.exim.insert("tls_function".into(), f.into());
    }
    let err = group(m, "err").unwrap_or("");
    error(
        ev,
        err,
        Some(true),
        Some("tls"),
        Some("tls"),
        "source",
        None,
    );
    None
}

fn h_ssl_verify(ev: &mut Event, m: &Captures<'_>) -> Option<&'static str> {
    bare_host(ev, "destination", took_part(m, "ip").unwrap_or(""));
    let err = took_part(m, "err").unwrap_or("");
    error(
        ev,
        err,
        Some(true),
        Some("tls"),
        Some("tls"),
        "destination",
        None,
    );
    None
}

/// `_h_etrn`: `ETRN <argument> received from <host>`; the argument is the client's, so the host is
/// the text after the last ` received from ` that is a whole host group.
fn h_etrn(ev: &mut Event, m: &Captures<'_>) -> Option<&'static str> {
    let cmd = took_part(m, "cmd").unwrap_or("");
    ev.exim.insert("smtp_command".into(), cmd.into());
    const SEP: &str = " received from ";
    let arg = took_part(m, "arg").unwrap_or("");
    let text = format!("{arg}{SEP}{}", took_part(m, "host").unwrap_or(""));
    let mut pos = text.rfind(SEP);
    while let Some(p) = pos.filter(|&p| p > 0) {
        let host = &text[p + SEP.len()..];
        let probe = if host.starts_with("H=") || host.starts_with("U=") {
            host.to_string()
        } else {
            format!("H={host}")
        };
        if let Some(end) = host_and_ident_end(&probe, 0) {
            if ident_tail_ends(&probe, end) {
                break;
            }
        }
        pos = text[..p].rfind(SEP);
    }
    let pos = pos.filter(|&p| p > 0).unwrap_or(arg.len());
    ev.exim.insert("etrn_argument".into(), text[..pos].into());
    full_host(ev, &text[pos + SEP.len()..], "source");
    None
}

fn vrfy_address() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    // `re.fullmatch(rf"<?({ADDRESS}?)>?")`: the `?` after ADDRESS's `+` makes it lazy.
    R.get_or_init(|| {
        Regex::new(&super::python_spaces(
            r#"\A<?((?:"(?:[^"\\]|\\.)*"|[^\s"])+?)>?\z"#,
        ))
        .expect("vrfy address")
    })
}

/// `_h_vrfy`: `VRFY failed for <argument> <host_and_ident>`; the host is the group that runs to the
/// end of the line, never one inside the client's argument.
fn h_vrfy(ev: &mut Event, m: &Captures<'_>) -> Option<&'static str> {
    let text = took_part(m, "q").unwrap_or("");
    let at = trailing_host_at(text);
    let arg = match at {
        None => text,
        Some(a) => text[..a].trim_end(),
    };
    ev.exim
        .insert("smtp_command".into(), format!("VRFY {arg}").into());
    if let Some(a) = vrfy_address().captures(arg).and_then(|c| c.get(1)) {
        if !a.as_str().is_empty() {
            ev.recipients(&[a.as_str()]);
        }
    }
    if let Some(a) = at {
        scan_host_ident(ev, &text[a..], "source");
    }
    None
}

/// `(?s)\(set_id=(?P<id>.*)\)\s*\z` (Python's `\s`) by hand: the id is the client's own text and may
/// hold `)`: it runs from the first `(set_id=` to a `)` with only spaces after it, the last one (the
/// greedy `.*`); a later `(set_id=` has no such `)` the first lacks.
fn set_id(resp: &str) -> Option<&str> {
    const LEAD: &str = "(set_id=";
    let from = resp.find(LEAD)? + LEAD.len();
    let kept = resp.trim_end_matches(|c: char| c.is_whitespace() || ('\x1c'..='\x1f').contains(&c));
    let close = kept.strip_suffix(')')?.len();
    (close >= from).then(|| &resp[from..close])
}

/// `auth_failed`'s pattern for the authenticator's own lines (dovecot's "authenticator failed for",
/// the commonest catalogue line of a busy log).
const AUTH_FAILED: &str =
    r"(?s)(?P<auth>\S+) authenticator failed for (?P<who>.*?): (?P<resp>\d{3}\b.*)";

/// [`AUTH_FAILED`] by hand on an ASCII body, as the rules compile it there (`\s`, `\d`, `\b` ASCII):
/// (auth, who, resp). `\S+` must be the body's whole first run (a shorter one ends before no space),
/// and the lazy `who` ends at the first `: ` that three digits and a word's end follow.
fn auth_failed_groups(body: &str) -> Option<(&str, &str, &str)> {
    const LEAD: &[u8] = b" authenticator failed for ";
    let b = body.as_bytes();
    let space = |c: u8| matches!(c, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ' | 0x1c..=0x1f);
    let auth = b.iter().position(|&c| space(c)).unwrap_or(b.len());
    if auth == 0 || !b[auth..].starts_with(LEAD) {
        return None;
    }
    let who = auth + LEAD.len();
    let mut from = who;
    while let Some(k) = memchr::memchr(b':', &b[from..]) {
        let colon = from + k;
        from = colon + 1;
        let resp = colon + 2;
        let code = b.get(colon + 1) == Some(&b' ')
            && b.get(resp..resp + 3)
                .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
            && !b
                .get(resp + 3)
                .is_some_and(|&c| c.is_ascii_alphanumeric() || c == b'_');
        if code {
            return Some((&body[..auth], &body[who..colon], &body[resp..]));
        }
    }
    None
}

fn read_auth_failed(ev: &mut Event, body: &str) -> Option<&'static str> {
    let (auth, who, resp) = auth_failed_groups(body)?;
    auth_failed(ev, auth, who, resp);
    Some("auth_failed")
}

fn h_auth_failed(ev: &mut Event, m: &Captures<'_>) -> Option<&'static str> {
    let group = |name| took_part(m, name).unwrap_or("");
    auth_failed(ev, group("auth"), group("who"), group("resp"));
    None
}

fn auth_failed(ev: &mut Event, authenticator: &str, who: &str, resp: &str) {
    let mut auth = Obj::new();
    auth.insert("authenticator".into(), authenticator.into());
    ev.exim.insert("auth".into(), auth.into());
    if who.starts_with("H=") || who.starts_with("U=") {
        scan_host_ident(ev, who, "source");
    } else {
        scan_host_ident(ev, &format!("H={who}"), "source");
    }
    if let Some(id) = set_id(resp) {
        // A tag `A=` scanned above may have replaced exim.auth: Python adds the id to whatever is there.
        // `A=` always makes an object.
        if let Some(Value::Object(a)) = ev.exim.get_mut("auth") {
            a.insert("id".into(), id.into());
        }
        ev.sec("user").insert("name".into(), id.into());
    }
    let temp = resp.starts_with('4');
    error(
        ev,
        resp,
        Some(temp),
        Some("auth"),
        Some("auth"),
        "source",
        None,
    );
}

fn trailing_reason() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    R.get_or_init(|| Regex::new(r" \((?P<why>[^()]*)\)\z").expect("trailing reason"))
}

fn h_auth_ignored(ev: &mut Event, m: &Captures<'_>) -> Option<&'static str> {
    let mut auth = Obj::new();
    auth.insert("sender".into(), took_part(m, "a").unwrap_or("").into());
    ev.exim.insert("auth".into(), auth.into());
    let mut rest = took_part(m, "rest").unwrap_or("");
    if let Some(w) = trailing_reason().captures(rest) {
        let why = w.name("why").map_or("", |g| g.as_str());
        ev.exim.insert("reason".into(), why.into());
        rest = &rest[..w.get(0).map_or(rest.len(), |g| g.start())];
    }
    scan_host_ident(ev, rest, "source");
    None
}

fn h_remote_auth(ev: &mut Event, m: &Captures<'_>) -> Option<&'static str> {
    let mut auth = Obj::new();
    auth.insert(
        "authenticator".into(),
        took_part(m, "auth").unwrap_or("").into(),
    );
    ev.exim.insert("auth".into(), auth.into());
    let mut rest = took_part(m, "rest").unwrap_or("");
    if let Some((g, end)) = host_group(rest, 0) {
        ev.host("destination", &g);
        rest = &rest[end..];
    }
    let msg = rest.trim_matches([' ', ':']);
    error(
        ev,
        msg,
        None,
        Some("auth"),
        Some("auth"),
        "destination",
        None,
    );
    None
}

fn with_needles(needles: &'static [&'static str], r: Rule) -> Rule {
    Rule { needles, ..r }
}

/// `COMMAND_RULES`, in Python's order.
pub fn rules() -> Vec<Rule> {
    vec![
        with_needles(
            &["rejected"],
            rule(
                "helo_rejected",
                concat!(
                    r"(?s)(?P<temp>temporarily )?rejected (?:HELO|EHLO) from ",
                    host_re!(),
                    r": (?P<reason>.*)"
                ),
                Some(h_helo),
            ),
        ),
        with_needles(
            &["rejected"],
            rule(
                "helo_rejected",
                concat!(
                    r#"(?s)(?P<temp>temporarily )?rejected "(?:HELO|EHLO) (?P<helo>[^"]*)" from "#,
                    host_re!(),
                    r"\s*\z"
                ),
                Some(h_helo),
            ),
        ),
        rule(
            "mail_rejected",
            concat!(
                r"(?s)rejected MAIL from ",
                host_re!(),
                r": (?P<reason>no HELO/EHLO given)"
            ),
            Some(h_mail_reject),
        ),
        rule(
            "mail_rejected",
            r"(?s)rejected MAIL command (?P<host>.*?): (?P<reason>too many messages in one connection)",
            Some(h_mail_reject),
        ),
        rule(
            "size_rejected",
            concat!(
                r"(?s)rejected MAIL FROM:<(?P<s>",
                in_angle_re!(),
                r")> (?P<host>.*?): (?P<reason>message too big: size>?=(?P<size>\d+) max=(?P<max>\d+))"
            ),
            Some(h_mail_reject),
        ),
        rule(
            "mail_rejected",
            concat!(
                r"(?s)unqualified (?:sender|recipient) rejected: <(?P<s>",
                in_angle_re!(),
                r")> (?P<host>.*)"
            ),
            Some(h_mail_reject),
        ),
        with_needles(
            &["oo many recipients"],
            rule(
                "too_many_recipients",
                r"(?s)[Tt]oo many recipients(?P<rest>.*)",
                None,
            ),
        ),
        rule(
            "tls_error",
            concat!(
                r"(?s)TLS error on(?: TLS)? connection",
                ci_re!(),
                r" (?:from|to) ",
                host_re!(),
                r" (?:\((?P<fn>[^)]*)\)|(?P<fn2>[A-Za-z_]+)): (?P<err>.*)"
            ),
            Some(h_tls_in),
        ),
        rule(
            "tls_error",
            r"(?s)TLS error \((?P<fn>[^)]*)\):? (?P<err>.*)",
            Some(h_tls_in),
        ),
        with_needles(
            &["SSL verify error"],
            rule(
                "tls_verify_error",
                r"(?s)\[(?P<ip>[^\]]*)\] SSL verify error: (?P<err>.*)",
                Some(h_ssl_verify),
            ),
        ),
        with_needles(
            &["after QUIT"],
            rule(
                "smtp_connection_lost",
                r"(?s)\[(?P<host>[^\]]*)\] (?P<reason>after QUIT, client reset TCP before SMTP response.*)",
                Some(h_reason_host),
            ),
        ),
        with_needles(
            &[" received from "],
            rule(
                "etrn_received",
                r"(?s)(?P<cmd>ETRN|ATRN) (?P<arg>.*?) received from (?P<host>.*)",
                Some(h_etrn),
            ),
        ),
        rule(
            "vrfy_failed",
            r"(?s)VRFY failed for (?P<q>.*)",
            Some(h_vrfy),
        ),
        rule(
            "command_rejected",
            concat!(
                r"(?s)rejected XCLIENT from ",
                host_re!(),
                r": (?P<reason>.*)"
            ),
            Some(h_reason_host),
        ),
        with_needles(
            &["authenticator ("],
            rule(
                "auth_failed",
                r"(?s)(?P<auth>\S+) authenticator \((?P<mech>[^)]*)\):\s*(?P<resp>.*)",
                None,
            ),
        ),
        Rule {
            read: Some(read_auth_failed),
            ..with_needles(
                &["authenticator failed for "],
                rule("auth_failed", AUTH_FAILED, Some(h_auth_failed)),
            )
        },
        with_needles(
            &[" H="],
            rule(
                "remote_auth_failed",
                r"(?s)(?P<auth>\S+) (?:authenticator failed|cancelled authentication) (?P<rest>H=.*)",
                Some(h_remote_auth),
            ),
        ),
        rule(
            "auth_ignored",
            r"(?s)ignoring AUTH=(?P<a>\S*) from (?P<rest>.*)",
            Some(h_auth_ignored),
        ),
        rule(
            "ident_timeout",
            r"(?s)ident connection to (?P<ip>\S+) timed out",
            None,
        ),
        rule(
            "listen_backlog",
            r"(?s)listen backlog (?P<n>\d+) I=(?P<iface>\S+)",
            Some(h_reason_host),
        ),
    ]
}

#[cfg(test)]
mod reader_tests {
    use proptest::prelude::*;
    use regex::Regex;

    /// `auth_failed_groups` against [`super::AUTH_FAILED`] as the rules compile it for ASCII bodies.
    fn auth_failed_as_the_pattern(body: &str) {
        let re = super::super::rule_regex(super::AUTH_FAILED).unwrap();
        let want = re.captures(body).map(|m| {
            let g = |name| m.name(name).unwrap().as_str();
            (g("auth"), g("who"), g("resp"))
        });
        assert_eq!(super::auth_failed_groups(body), want, "{body:?}");
    }

    /// `set_id` against the pattern it reads.
    fn set_id_as_the_pattern(resp: &str) {
        let re = Regex::new(&super::super::python_spaces(
            r"(?s)\(set_id=(?P<id>.*)\)\s*\z",
        ))
        .unwrap();
        let want = re.captures(resp).map(|m| m.name("id").unwrap().as_str());
        assert_eq!(super::set_id(resp), want, "{resp:?}");
    }

    #[test]
    fn the_authenticator_lines_are_read_by_hand_as_the_pattern_reads_them() {
        for body in [
            "dovecot_login authenticator failed for (x) [192.0.2.6]:587 I=[10.0.0.1]:587: 535 Incorrect authentication data (set_id=bob@x.example)",
            "dovecot_plain authenticator failed for ([192.0.2.6]) [192.0.2.6]:49152: 535 Incorrect authentication data",
            "dovecot_plain authenticator failed for H=(x) [192.0.2.6]: 435 Unable to authenticate at present",
            "a authenticator failed for x: 5350: 535 y",
            "a authenticator failed for x: 53: 535_: 535",
            "a authenticator failed for : 535",
            "a authenticator failed for x:535",
            " authenticator failed for x: 535",
            "a\tauthenticator failed for x: 535",
            "a\x1cb authenticator failed for x: 535",
            "a authenticator failed for x\n: 535\nmore",
        ] {
            auth_failed_as_the_pattern(body);
        }
        for resp in [
            "535 Incorrect authentication data (set_id=a(b)c)",
            "535 x (set_id=a) ",
            "535 x (set_id=a)\x1c\u{a0}",
            "535 x (set_id=)",
            "535 x (set_id=) y",
            "535 x (set_id=(set_id=a))",
            "(set_id=)",
            "(set_id=",
            "(set_id)",
            "535 no id",
        ] {
            set_id_as_the_pattern(resp);
        }
    }

    proptest! {
        #[test]
        fn the_authenticator_reader_agrees_with_the_pattern_on_any_ascii_text(
            parts in proptest::collection::vec(
                proptest::sample::select(vec![
                    "dovecot_login", " authenticator failed for ", "authenticator", " ", ":", ": ",
                    "5", "35", "535", "a", "_", "(x)", "[192.0.2.6]", "\t", "\n", "\x1c", "H=",
                ]),
                0..12,
            )
        ) {
            auth_failed_as_the_pattern(&parts.concat());
        }

        #[test]
        fn authenticator_lines_of_any_shape_agree_with_the_pattern(
            auth in "[a-z_\\x1c]{0,6}",
            who in "[a-z()\\[\\]:0-9 .]{0,12}",
            code in "[0-9a]{0,4}",
            tail in "[ a-z:0-9_]{0,6}",
        ) {
            auth_failed_as_the_pattern(&format!("{auth} authenticator failed for {who}: {code}{tail}"));
        }

        #[test]
        fn the_set_id_reader_agrees_with_the_pattern_on_any_text(
            parts in proptest::collection::vec(
                proptest::sample::select(vec![
                    "(set_id=", "(", ")", " ", "\t", "\x1c", "\u{a0}", "\n", "a", "é", "set_id=",
                ]),
                0..10,
            )
        ) {
            set_id_as_the_pattern(&parts.concat());
        }
    }
}
