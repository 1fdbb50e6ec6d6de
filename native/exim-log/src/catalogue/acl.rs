//! `acl_lines.py`: lines that start with the client's host (host_and_ident): ACL rejections,
//! warnings, verify results, and what is left on a message line, a per-host delivery error.

use super::hostident::scan_host_ident;
use super::{error, took_part};
use crate::body::{Event, Obj};
use crate::doc::Value;
use regex::Regex;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::OnceLock;

/// `HOST_START`: the bodies `host_line` is tried on.
pub(crate) const HOST_START: [&str; 4] = ["H=", "U=", "DS ", "F="];

#[derive(Deserialize)]
struct Target {
    prefix: String,
    action: String,
    stage: String,
}

/// `data/lines.json`, the tables Python's acl_lines reads.
#[derive(Deserialize)]
struct Lines {
    verify_actions: HashMap<String, HashMap<String, String>>,
    acl_targets: Vec<Target>,
}

struct Compiled {
    lines: Lines,
    /// Python's pattern for the rejections: [`rejected`] reads it by hand, `rejected_tests` holds the two equal.
    #[cfg(test)]
    rejected: Regex,
    /// Python's SpamAssassin pattern: `spamassassin` reads it by hand, `spam_tests` holds the two equal.
    #[cfg(test)]
    spamassassin: Regex,
    spam_score: Regex,
    verify: Regex,
    dropped: Regex,
    discarded: Regex,
    incomplete: Regex,
    address: Regex,
    cutthrough: Regex,
}

fn compiled() -> &'static Compiled {
    static C: OnceLock<Compiled> = OnceLock::new();
    C.get_or_init(|| {
        // Python's `\s` holds `\x1c`-`\x1f`: the patterns read them as it does.
        let re = |p: &str| {
            Regex::new(&super::python_spaces(p)).unwrap_or_else(|e| panic!("acl pattern: {e}"))
        };
        Compiled {
            lines: serde_json::from_str(include_str!("../../../../shipper/exim/data/lines.json"))
                .expect("shipper/exim/data/lines.json"),
            #[cfg(test)]
            rejected: re(r"(?s)\A(?P<temp>temporarily )?rejected (?P<what>.*)"),
            #[cfg(test)]
            spamassassin: re(concat!(
                r#""?SpamAssassin as (?P<user>\S+) detected (?:(?P<dir>\S+) (?P<proto>\S+) )?message as "#,
                r"(?P<not>NOT )?spam \((?P<score>-?\d+(?:\.\d+)?)\)"
            )),
            spam_score: re(r"(?i)\bspam\b.*?\bscore[=: ]+(?P<score>-?\d+(?:\.\d+)?)"),
            verify: re(
                r"(?s)\A(?P<who>sender|recipient) verify (?P<r>fail|defer) for <(?P<a>[^>]*)>(?:: (?P<d>.*))?",
            ),
            dropped: re(r"(?s)\Adropped by '(?P<acl>[^']*)' ACL(?:: (?P<m>.*))?"),
            discarded: re(r"(?s)\ARCPT <(?P<r>[^>]*)>: discarded by (?P<acl>\S+) ACL(?:: (?P<m>.*))?"),
            incomplete: re(concat!(
                r"(?s)\Aincomplete transaction \((?P<why>[^)]*)\) from <(?P<s>",
                in_angle_re!(),
                r")>(?: for (?P<r>.*))?"
            )),
            address: re(r#"(?:"(?:[^"\\]|\\.)*"|[^\s"])+"#),
            cutthrough: re(
                r"(?s)\A(?P<addr>\S+) (?P<mid>.*?)(?P<tmp>tmp-reject from cutthrough|rejected) after DATA: ?(?P<tail>.*)",
            ),
        }
    })
}

/// `VERIFY_ACTIONS[(who, result)]`: the patterns' groups name only the table's keys; anything else (a
/// table without them) is the failure of that side's verify.
pub(crate) fn verify_action(who: &str, result: &str) -> &'static str {
    let c = compiled();
    c.lines
        .verify_actions
        .get(who)
        .and_then(|r| r.get(result))
        .map_or(
            if who == "sender" {
                "sender_verify_failed"
            } else {
                "recipient_verify_failed"
            },
            String::as_str,
        )
}

/// Python's `s[a:]` on ASCII text (never out of range).
/// Python's `s[a:]`: `a` counts characters, not bytes.
fn from(s: &str, a: usize) -> &str {
    s.char_indices().nth(a).map_or("", |(i, _)| &s[i..])
}

fn acl_reject(ev: &mut Event, temp: bool, what_msg: &str) -> &'static str {
    let c = compiled();
    // `(?P<what>.*?)(?:: (?P<msg>.*))?\Z`: up to the first `: `.
    let (mut what, mut msg) = what_msg.split_once(": ").unwrap_or((what_msg, ""));
    if what.starts_with("by ") && msg.is_empty() {
        if let Some(idx) = what.find(": ") {
            (what, msg) = (&what[..idx], &what[idx + 2..]);
        }
    }
    let mut action: &'static str = "command_rejected";
    let stage: String;
    if let Some(t) = c
        .lines
        .acl_targets
        .iter()
        .find(|t| what.starts_with(&t.prefix))
    {
        action = t.action.as_str();
        stage = t.stage.clone();
    } else {
        let first = what.split(' ').next().unwrap_or("");
        let first = crate::text::py_lower(first);
        let known = ["vrfy", "expn", "etrn", "atrn", "wellknown"].contains(&&*first);
        stage = if known { "mail" } else { "connect" }.to_string();
    }
    let mut acl = Obj::new();
    acl.insert("target".into(), what.trim().into());
    ev.exim.insert("acl".into(), acl.into());
    if action == "rcpt_rejected" {
        let r = match what.strip_suffix('>') {
            Some(w) => from(w, 6),
            None => from(what, 5),
        };
        ev.recipients(&[r]);
    } else if action == "mail_rejected" && what.starts_with("MAIL <") {
        ev.sender(from(what, 5));
    } else if action == "helo_rejected" && !ev.exim.contains_key("helo") {
        ev.exim.insert("helo".into(), from(what, 13).into());
    }
    let low = crate::text::py_lower(msg);
    let ctx = (low.contains("sender verify") && low.contains("could not complete"))
        .then_some("sender_verify");
    error(
        ev,
        msg,
        Some(temp),
        Some(&stage),
        ctx,
        "source",
        Some("policy_rejection"),
    );
    action
}

/// Python's `float()` of a `-?\d+(?:\.\d+)?` group; beyond a float's range `inf`, which orjson writes
/// as `null` (so does the core).
fn float(text: &str) -> Value {
    let f: f64 = crate::text::ascii_digits(text)
        .parse()
        .unwrap_or(f64::INFINITY);
    if f.is_finite() {
        f.into()
    } else {
        Value::Null
    }
}

/// The groups of a match of Python's SpamAssassin pattern that `warning` reads.
#[derive(Debug, PartialEq)]
struct Spam<'t> {
    user: &'t str,
    dir: Option<&'t str>,
    not: bool,
    score: &'t str,
}

/// `\S+` at `i` (the regex crate's `\s`: Unicode's White_Space, as `char::is_whitespace`): its end.
fn non_space_run(t: &str, i: usize) -> usize {
    t[i..].find(char::is_whitespace).map_or(t.len(), |k| i + k)
}

/// Python's SpamAssassin pattern (`compiled().spamassassin` in tests) searched by hand, its captures
/// being the spam lines' largest cost: each `\S+` and `\d+` can only be a whole run, so at each
/// `SpamAssassin as ` in turn the pattern has one reading, the optional `<dir> <proto> ` tried before
/// none, as the regex tries them.
fn spamassassin(text: &str) -> Option<Spam<'_>> {
    const LEAD: &str = "SpamAssassin as ";
    let mut from = 0;
    while let Some(k) = text[from..].find(LEAD) {
        let at = from + k + LEAD.len();
        from = at;
        let user_end = non_space_run(text, at);
        if user_end == at {
            continue;
        }
        let Some(rest) = text[user_end..].strip_prefix(" detected ") else {
            continue;
        };
        let base = text.len() - rest.len();
        let with_dir = || {
            let dir_end = non_space_run(text, base);
            let proto = dir_end + 1;
            if dir_end == base || text.as_bytes().get(dir_end) != Some(&b' ') {
                return None;
            }
            let proto_end = non_space_run(text, proto);
            if proto_end == proto || text.as_bytes().get(proto_end) != Some(&b' ') {
                return None;
            }
            verdict(text, proto_end + 1).map(|v| (Some(&text[base..dir_end]), v))
        };
        if let Some((dir, (not, score))) =
            with_dir().or_else(|| verdict(text, base).map(|v| (None, v)))
        {
            return Some(Spam {
                user: &text[at..user_end],
                dir,
                not,
                score,
            });
        }
    }
    None
}

/// `message as (?P<not>NOT )?spam \((?P<score>-?\d+(?:\.\d+)?)\)` at `i` (`\d`: Unicode's Nd).
fn verdict(text: &str, i: usize) -> Option<(bool, &str)> {
    let rest = text[i..].strip_prefix("message as ")?;
    let (not, rest) = match rest.strip_prefix("NOT ") {
        Some(r) if r.starts_with("spam (") => (true, r),
        _ => (false, rest),
    };
    let num = rest.strip_prefix("spam (")?;
    let digits = |s: &str| {
        s.find(|c: char| crate::text::py_decimal(c).is_none())
            .unwrap_or(s.len())
    };
    let sign = usize::from(num.starts_with('-'));
    let whole = digits(&num[sign..]);
    if whole == 0 {
        return None;
    }
    let mut end = sign + whole;
    if let Some(frac) = num[end..].strip_prefix('.') {
        let f = digits(frac);
        if f > 0 && frac[f..].starts_with(')') {
            end += 1 + f;
        }
    }
    num[end..].starts_with(')').then(|| (not, &num[..end]))
}

fn warning(ev: &mut Event, text: &str) -> &'static str {
    // Beyond ASCII `spam_score`'s `\b` and `(?i)` are the crate's (an intended difference).
    let c = compiled();
    if let Some(sm) = spamassassin(text) {
        let mut spam = Obj::new();
        spam.insert("scanner".into(), "spamassassin".into());
        let verdict = if sm.not { "ham" } else { "spam" };
        spam.insert("verdict".into(), verdict.into());
        spam.insert("score".into(), float(sm.score));
        spam.insert("user".into(), sm.user.into());
        if let Some(dir) = sm.dir.filter(|d| !d.is_empty()) {
            spam.insert("direction".into(), crate::text::py_lower(dir).into());
        }
        ev.exim.insert("spam".into(), spam.into());
        return "spam_verdict";
    }
    let low = crate::text::py_lower(text);
    if low.contains("virus") || low.contains("malware") || low.contains("harmful content") {
        let clean =
            low.contains("no virus") || low.contains("not infected") || low.contains("no harmful");
        let mut mal = Obj::new();
        let verdict = if clean { "clean" } else { "infected" };
        mal.insert("verdict".into(), verdict.into());
        mal.insert("text".into(), text.into());
        ev.exim.insert("malware".into(), mal.into());
        return "virus_scan";
    }
    if let Some(sc) = c.spam_score.captures(text) {
        let mut spam = Obj::new();
        spam.insert("score".into(), float(took_part(&sc, "score").unwrap_or("")));
        ev.exim.insert("spam".into(), spam.into());
        return "spam_verdict";
    }
    ev.exim.insert("warning".into(), text.into());
    "acl_warning"
}

/// `host_line`: the action of a line that starts with the client's host, or None when it is none of
/// these (the rules then try it, with the host already scanned, as in Python).
pub(crate) fn host_line(ev: &mut Event, body: &str, msgid: Option<&str>) -> Option<&'static str> {
    let c = compiled();
    let pos = scan_host_ident(ev, body, "source");
    let rest = &body[pos..];
    if let Some((temp, what)) = rejected(rest) {
        return Some(acl_reject(ev, temp, what));
    }
    if let Some(text) = rest.strip_prefix("Warning: ") {
        return Some(warning(ev, text));
    }
    if let Some(vm) = c.verify.captures(rest) {
        let who = took_part(&vm, "who").unwrap_or("");
        let result = took_part(&vm, "r").unwrap_or("");
        let a = took_part(&vm, "a").unwrap_or("");
        if who == "sender" {
            ev.sender(a);
        } else {
            ev.recipients(&[a]);
        }
        let context = format!("{who}_verify");
        let d = took_part(&vm, "d").unwrap_or("");
        error(
            ev,
            d,
            Some(result == "defer"),
            None,
            Some(&context),
            "destination",
            None,
        );
        return Some(verify_action(who, result));
    }
    if let Some(dm) = c.dropped.captures(rest) {
        let mut acl = Obj::new();
        acl.insert("name".into(), took_part(&dm, "acl").unwrap_or("").into());
        ev.exim.insert("acl".into(), acl.into());
        let msg = took_part(&dm, "m").unwrap_or("");
        error(
            ev,
            msg,
            Some(false),
            Some("connect"),
            None,
            "source",
            Some("policy_rejection"),
        );
        return Some("connection_dropped");
    }
    if let Some(dc) = c.discarded.captures(rest) {
        ev.recipients(&[took_part(&dc, "r").unwrap_or("")]);
        let mut acl = Obj::new();
        acl.insert("name".into(), took_part(&dc, "acl").unwrap_or("").into());
        acl.insert("message".into(), took_part(&dc, "m").unwrap_or("").into());
        ev.exim.insert("acl".into(), acl.into());
        return Some("rcpt_discarded");
    }
    if let Some(im) = c.incomplete.captures(rest) {
        let why = took_part(&im, "why").unwrap_or("");
        ev.exim.insert("reason".into(), why.into());
        ev.sender(took_part(&im, "s").unwrap_or(""));
        if let Some(r) = took_part(&im, "r").filter(|r| !r.is_empty()) {
            let rcpts: Vec<&str> = c.address.find_iter(r).map(|x| x.as_str()).collect();
            ev.recipients(&rcpts);
        }
        return Some("smtp_incomplete_transaction");
    }
    if rest.contains("SMTP connection lost after final dot") || rest.starts_with("SMTP connection")
    {
        return None;
    }
    if let Some(cm) = c.cutthrough.captures(rest) {
        ev.recipients(&[took_part(&cm, "addr").unwrap_or("")]);
        let tail = took_part(&cm, "tail").unwrap_or("");
        scan_host_ident(ev, took_part(&cm, "mid").unwrap_or(""), "source");
        ev.scan(tail, 0, false, "destination");
        let conf = match ev.exim.remove("smtp_confirmation") {
            None => String::new(),
            Some(Value::String(s)) => s.into_string(),
            Some(_) => String::new(), // `scan` writes a string: never
        };
        let tmp = took_part(&cm, "tmp").unwrap_or("").starts_with("tmp");
        error(
            ev,
            &conf,
            Some(tmp),
            Some("data"),
            None,
            "destination",
            None,
        );
        return Some("cutthrough_rejected");
    }
    // What is left on a message line that began with H= is a per-host delivery error (outbound).
    if msgid.is_some() && ev.doc.contains_key("source") && !rest.contains("Warning") {
        if let Some(src) = ev.doc.remove("source") {
            ev.doc.insert("destination".into(), src);
        }
        let msg = rest.trim_start_matches([' ', ':']);
        let temporary = if msg.contains("SMTP error") {
            None
        } else {
            Some(true)
        };
        error(ev, msg, temporary, None, None, "destination", None);
        let action = if msg.contains("SMTP error from remote") {
            "remote_smtp_error"
        } else {
            "remote_host_error"
        };
        return Some(action);
    }
    None
}

/// `(?s)\A(?P<temp>temporarily )?rejected (?P<what>.*)` by hand (its captures ran the backtracker over
/// the whole rest of a `rejected RCPT` line, the commonest rejection): whether it is temporary, and
/// what follows.
fn rejected(rest: &str) -> Option<(bool, &str)> {
    match rest.strip_prefix("temporarily rejected ") {
        Some(what) => Some((true, what)),
        None => rest.strip_prefix("rejected ").map(|what| (false, what)),
    }
}

#[cfg(test)]
mod spam_tests {
    use proptest::prelude::*;

    /// `spamassassin` against the pattern it reads.
    fn same_as_the_pattern(text: &str) {
        let want = super::compiled()
            .spamassassin
            .captures(text)
            .map(|m| super::Spam {
                user: m.name("user").map_or("", |g| g.as_str()),
                dir: m.name("dir").map(|g| g.as_str()),
                not: m.name("not").is_some(),
                score: m.name("score").map_or("", |g| g.as_str()),
            });
        assert_eq!(super::spamassassin(text), want, "{text:?}");
    }

    #[test]
    fn the_spamassassin_pattern_is_read_by_hand_as_the_regex_reads_it() {
        for text in [
            "\"SpamAssassin as eastglen detected message as NOT spam (-1.2)\"",
            "SpamAssassin as u detected message as spam (12)",
            "SpamAssassin as u detected incoming SMTP message as spam (5.5) extra",
            "SpamAssassin as u detected message as message as spam (1)",
            "SpamAssassin as u detected message as NOT ham (1)",
            "SpamAssassin as u detected message as NOT spam (1.)",
            "SpamAssassin as u detected message as NOT spam (1.5.3)",
            "SpamAssassin as u detected message as NOT spam (--1)",
            "SpamAssassin as  detected message as spam (1) SpamAssassin as v detected message as spam (2)",
            "SpamAssassin as u detected a  b message as spam (1)",
            "SpamAssassin as ü detected ä\u{a0}b message as spam (١٢)",
            "SpamAssassin as u\tv detected message as spam (1)",
        ] {
            same_as_the_pattern(text);
        }
    }

    proptest! {
        #[test]
        fn the_spamassassin_pattern_agrees_with_the_regex_on_any_text(
            parts in proptest::collection::vec(
                proptest::sample::select(vec![
                    "SpamAssassin as ", " detected ", "message as ", "NOT ", "spam (", ")", "-",
                    "1", "٣", ".", " ", "\t", "u", "é", "\u{a0}", "\"",
                ]),
                0..16,
            )
        ) {
            same_as_the_pattern(&parts.concat());
        }

        #[test]
        fn spamassassin_lines_of_any_shape_agree_with_the_regex(
            user in "[a-zé \t]{0,4}",
            dir in "[a-z ]{0,7}",
            not in proptest::sample::select(vec!["", "NOT ", "NOT", "NOT  "]),
            score in "-?[0-9٣.]{0,5}",
            tail in proptest::sample::select(vec![")", "", ") x", "(1)"]),
        ) {
            same_as_the_pattern(&format!(
                "\"SpamAssassin as {user} detected {dir}message as {not}spam ({score}{tail}"
            ));
        }
    }
}

#[cfg(test)]
mod rejected_tests {
    use proptest::prelude::*;

    /// `rejected` against the pattern it reads.
    fn same_as_the_pattern(text: &str) {
        let want = super::compiled().rejected.captures(text).map(|m| {
            (
                m.name("temp").is_some_and(|t| !t.is_empty()),
                m.name("what").map_or("", |g| g.as_str()),
            )
        });
        assert_eq!(super::rejected(text), want, "{text:?}");
    }

    #[test]
    fn the_rejection_pattern_is_read_by_hand_as_the_regex_reads_it() {
        for text in [
            "rejected RCPT <a@b.example>: JunkMail rejected",
            "temporarily rejected RCPT <a@b.example>: Could not complete sender verify",
            "rejected ",
            "rejected",
            "temporarily rejected",
            "temporarily rejected ",
            "temporarily  rejected x",
            "Temporarily rejected x",
            "rejected\nRCPT",
            "rejected RCPT\n<a>: x\ny",
            "x rejected RCPT",
        ] {
            same_as_the_pattern(text);
        }
    }

    proptest! {
        #[test]
        fn the_rejection_pattern_agrees_with_the_regex_on_any_text(
            parts in proptest::collection::vec(
                proptest::sample::select(vec!["temporarily", "rejected", " ", "\n", "x", "é", "RCPT"]),
                0..8,
            )
        ) {
            same_as_the_pattern(&parts.concat());
        }
    }
}
