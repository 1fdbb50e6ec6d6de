//! The line catalogue of the non-flag bodies (`shipper/exim/lines.py` `parse_other`, `_generic`, the
//! key prefilter, `acl_lines.VERIFY_ACTIONS`): its rules in Python's match order, first match wins.
//!
//! Each rule's pattern is compiled once ([`OnceLock`]), one `regex::Regex` per rule anchored at the
//! body's start (Python's `Pattern.match`). Per line only the rules that can start the body run: like
//! lines.py, a rule whose literal prefix is 3 characters or longer is tried only on bodies starting
//! with those 3 (indexed by the first byte here; where no top-level `|` makes the prefix one
//! alternative's, only on bodies starting with the whole prefix), and a rule's needles must occur
//! first. A `RegexSet` would run every pattern over every body; most bodies are rejected by their
//! first bytes already. A few common rules read ASCII bodies by hand ([`rule::Reader`]).
//!
//! The `regex` crate and Python's `re` agree on ASCII text once `\s` holds `\x1c`-`\x1f` as Python's
//! does (the rules are compiled so); beyond ASCII a second set takes Python's `\w`, and only `\b` and
//! `(?i)` stay the crate's (native/README.md, "Intended differences"). Nothing is declined.

/// `hostident.HOST`: a client as Exim writes it after `from` (`name (helo) [ip]:port`, `[ip]`, a login).
macro_rules! host_re {
    () => {
        r"(?P<host>(?:H=)?(?:[^\s(\[]+ )?(?:\([^)]*\) )?\[[^\]]*\](?::\w+)?(?: I=\S+)?(?: U=\S+)?(?: Ci=\S+)?|U=\S+|local process|\S+)"
    };
}
/// `hostident.CI`.
macro_rules! ci_re {
    () => {
        r"(?: Ci=(?P<ci>\S+))?"
    };
}
/// `rule.IN_ANGLE`: the inside of `<address>`; a quoted local part may hold `>`.
macro_rules! in_angle_re {
    () => {
        r#"(?:"(?:[^"\\]|\\.)*"|[^>"])*"#
    };
}

pub mod acl;
pub mod command;
pub mod connection;
pub mod error;
pub mod hostident;
pub mod message;
pub mod process;
pub mod rule;

use crate::body::Event;
use crate::doc::Value;
use crate::fields::{duration, unescape, HostGroup};
use regex::{Captures, Regex};
use rule::Rule;
use std::sync::OnceLock;

/// lines.py's `_KEY_LEN`: how many leading characters of a body pick its candidate rules.
const KEY_LEN: usize = 3;

struct Compiled {
    /// Each rule, its compiled pattern and its lead: the text a body must start with to be tried.
    rules: Vec<(Rule, Regex, String)>,
    /// Per first byte of a body, the indices of the rules that may match it, in table order.
    by_first: Vec<Vec<usize>>,
    /// Per rule, its needles' finders, built once (`str::contains` builds a searcher per call).
    needles: Vec<Vec<memchr::memmem::Finder<'static>>>,
}

/// The pattern with `\w` and `\W` as Python reads them in a `str` pattern (`str.isalnum()` or `_`:
/// letters and numbers, no marks), and `\s` with `\x1c`-`\x1f`, for bodies beyond ASCII; `\d` (`Nd`)
/// is the regex crate's Unicode form already. `\b` and `(?i)` stay the crate's: a `\b` next to a character the two
/// `\w`s read apart (a combining mark, `\p{No}`, a connector but `_`), or `İ`/`ı` under `(?i)` (Python's
/// `re` folds them onto `i`), read as the crate reads them (an intended difference, native/README.md).
fn python_classes(pattern: &str) -> String {
    swap_classes(pattern, |in_class, e| match (in_class, e) {
        (false, 'w') => r"[\p{L}\p{N}_]",
        (false, 'W') => r"[^\p{L}\p{N}_]",
        (true, 'w') => r"\p{L}\p{N}_",
        (false, 's') => r"[\s\x1c-\x1f]",
        (false, 'S') => r"[^\s\x1c-\x1f]",
        (true, 's') => r"\s\x1c-\x1f",
        _ => "",
    })
}

/// The rules compiled for bodies beyond ASCII ([`python_classes`]), built the first time one comes.
struct Unicode {
    rules: Vec<Regex>,
}

fn unicode() -> &'static Unicode {
    static U: OnceLock<Unicode> = OnceLock::new();
    U.get_or_init(|| {
        let c = compiled();
        let pats = || c.rules.iter().map(|(r, _, _)| r.pattern);
        Unicode {
            rules: pats()
                .map(|p| {
                    Regex::new(&format!(r"\A(?:{})", python_classes(p)))
                        .unwrap_or_else(|e| panic!("catalogue rule {p}: {e}"))
                })
                .collect(),
        }
    })
}

/// lines.py `_literal_prefix` on the pattern text (its leading `(?s)` aside): the literal text every
/// match starts with, as Python computes it (its table order depends on exactly this).
fn literal_prefix(pattern: &str) -> String {
    const META: &str = "\\.^$*+?{}[]|()";
    let pattern = pattern.strip_prefix("(?s)").unwrap_or(pattern);
    let chars: Vec<char> = pattern.chars().collect();
    let mut out: Vec<char> = Vec::new();
    for (i, &ch) in chars.iter().enumerate() {
        if META.contains(ch) {
            if "?*{".contains(ch) {
                out.pop();
            }
            break;
        }
        if chars.get(i + 1).is_some_and(|c| "?*{".contains(*c)) {
            break;
        }
        out.push(ch);
    }
    out.into_iter().collect()
}

/// Python's `RULES`: `MESSAGE_RULES[:1]` (`Completed`, which [`crate::body`] reads first), then the
/// connection, command, process, other message and error rules.
fn all_rules() -> Vec<Rule> {
    let mut v = connection::rules();
    v.extend(command::rules());
    v.extend(process::rules());
    v.extend(message::rules());
    v.extend(error::rules());
    v
}

/// The pattern with `\d`, `\w`, `\s` (and `\D`, `\W`, `\S`, `\b`, `\B` outside classes) as their
/// ASCII forms, `\s` as Python's (`\x1c`-`\x1f` too). [`parse_other`] runs the rules on ASCII bodies
/// only, where both mean the same, and the Unicode forms made NFAs whose captures (the bounded
/// backtracker and its visited set) led the profile.
fn ascii_classes(pattern: &str) -> String {
    swap_classes(pattern, |in_class, e| match (in_class, e) {
        (false, 'd') => "[0-9]",
        (false, 'w') => "[0-9A-Za-z_]",
        (false, 's') => "[\\t\\n\\x0B\\f\\r \\x1c-\\x1f]",
        (false, 'D') => "[^0-9]",
        (false, 'W') => "[^0-9A-Za-z_]",
        (false, 'S') => "[^\\t\\n\\x0B\\f\\r \\x1c-\\x1f]",
        (false, 'b') => "(?-u:\\b)",
        (false, 'B') => "(?-u:\\B)",
        (true, 'd') => "0-9",
        (true, 'w') => "0-9A-Za-z_",
        (true, 's') => "\\t\\n\\x0B\\f\\r \\x1c-\\x1f",
        _ => "",
    })
}

/// The pattern with `\s` and `\S` as Python's `re` reads them in a `str` pattern: `\x1c`-`\x1f` are
/// spaces too (`str.isspace()`), not to the crate.
pub(crate) fn python_spaces(pattern: &str) -> String {
    swap_classes(pattern, |in_class, e| match (in_class, e) {
        (false, 's') => r"[\s\x1c-\x1f]",
        (false, 'S') => r"[^\s\x1c-\x1f]",
        (true, 's') => r"\s\x1c-\x1f",
        _ => "",
    })
}

/// The pattern with each escape `\e` that `swap(inside a class, e)` names replaced by its text (an
/// empty text: kept as it is). Classes are followed, `[:name:]` inside one copied whole.
fn swap_classes(pattern: &str, swap: impl Fn(bool, char) -> &'static str) -> String {
    let mut out = String::with_capacity(pattern.len() * 2);
    let mut depth = 0usize;
    let mut chars = pattern.chars().peekable();
    // Right after a class's `[` or `[^`, a `]` is a literal.
    let mut class_start = false;
    while let Some(c) = chars.next() {
        let at_start = std::mem::replace(&mut class_start, false);
        match c {
            '\\' => {
                let Some(e) = chars.next() else {
                    out.push(c);
                    break;
                };
                let swap = swap(depth > 0, e);
                if swap.is_empty() {
                    out.push(c);
                    out.push(e);
                } else {
                    out.push_str(swap);
                }
            }
            '[' => {
                out.push(c);
                if depth > 0 && chars.peek() == Some(&':') {
                    for x in chars.by_ref() {
                        out.push(x);
                        if x == ']' {
                            break;
                        }
                    }
                    continue;
                }
                depth += 1;
                if chars.peek() == Some(&'^') {
                    out.push('^');
                    chars.next();
                }
                class_start = true;
            }
            ']' if depth > 0 && !at_start => {
                depth -= 1;
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// Whether `pattern` holds a `|` outside any group or class: its literal prefix is then only its
/// first alternative's.
fn top_level_alternation(pattern: &str) -> bool {
    let (mut parens, mut in_class, mut class_start) = (0usize, false, false);
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        let at_start = std::mem::replace(&mut class_start, false);
        match c {
            '\\' => {
                chars.next();
            }
            '[' if !in_class => {
                in_class = true;
                class_start = true;
            }
            '^' if at_start => class_start = true,
            ']' if in_class && !at_start => in_class = false,
            _ if in_class => {}
            '(' => parens += 1,
            ')' => parens = parens.saturating_sub(1),
            '|' if parens == 0 => return true,
            _ => {}
        }
    }
    false
}

/// What a body must start with for `pattern`'s rule to be tried: Python's key (the first
/// [`KEY_LEN`] characters of the literal prefix, when that long), or the whole literal prefix where
/// every match starts with it (no top-level `|`): a body without it cannot match, and the shorter key
/// let a body that shares only its first 3 characters (`SMTP command …` for `SMTP connection …`)
/// run the pattern.
fn lead(pattern: &str) -> String {
    let prefix = literal_prefix(pattern);
    if !top_level_alternation(pattern) {
        return prefix;
    }
    let key: String = prefix.chars().take(KEY_LEN).collect();
    if key.chars().count() < KEY_LEN {
        return String::new();
    }
    key
}

/// A rule's pattern as [`parse_other`] runs it: anchored at the body's start, ASCII classes (the hand
/// readers' tests hold them to this too).
fn rule_regex(pattern: &str) -> Result<Regex, regex::Error> {
    Regex::new(&format!(r"\A(?:{})", ascii_classes(pattern)))
}

fn compiled() -> &'static Compiled {
    static C: OnceLock<Compiled> = OnceLock::new();
    C.get_or_init(|| {
        let mut rules = Vec::new();
        let mut by_first: Vec<Vec<usize>> = vec![Vec::new(); 256];
        let mut needles = Vec::new();
        for (i, r) in all_rules().into_iter().enumerate() {
            let re = rule_regex(r.pattern)
                .unwrap_or_else(|e| panic!("catalogue rule {}: {e}", r.action));
            let key: String = literal_prefix(r.pattern).chars().take(KEY_LEN).collect();
            for (b, list) in by_first.iter_mut().enumerate() {
                if key.chars().count() < KEY_LEN || key.as_bytes()[0] == b as u8 {
                    list.push(i);
                }
            }
            needles.push(r.needles.iter().map(memchr::memmem::Finder::new).collect());
            let lead = lead(r.pattern);
            rules.push((r, re, lead));
        }
        Compiled {
            rules,
            by_first,
            needles,
        }
    })
}

/// A named group that took part in the match and is not empty (Python's `gd.get(name)` truthiness).
pub(crate) fn group<'h>(m: &Captures<'h>, name: &str) -> Option<&'h str> {
    m.name(name).map(|g| g.as_str()).filter(|s| !s.is_empty())
}

/// A named group that took part in the match, empty or not (Python's `is not None`).
pub(crate) fn took_part<'h>(m: &Captures<'h>, name: &str) -> Option<&'h str> {
    m.name(name).map(|g| g.as_str())
}

/// A rule in Python's defaults: no `needs_id`, no needles.
pub(crate) const fn rule(
    action: &'static str,
    pattern: &'static str,
    handler: Option<rule::Handler>,
) -> Rule {
    rule::with_needles(action, pattern, handler, &[])
}

/// Python's `int()` of a `\d+` group (digits of any script); None beyond i64, which the `long` fields
/// these go to cannot hold (Python keeps the int, and OpenSearch would refuse the document), and for a
/// group that is not digits.
pub(crate) fn int(text: &str) -> Option<u64> {
    if text.is_empty() || !text.chars().all(|c| crate::text::py_decimal(c).is_some()) {
        return None;
    }
    crate::text::py_int(text).and_then(|n| u64::try_from(n).ok())
}

/// `Event.error` with its keyword arguments.
pub(crate) fn error(
    ev: &mut Event,
    message: &str,
    temporary: Option<bool>,
    stage: Option<&str>,
    context: Option<&str>,
    side: &str,
    default: Option<&str>,
) {
    let how = crate::body::ErrorOpts {
        temporary,
        errno: None,
        context,
        stage,
        side,
        default,
    };
    ev.error_with(message, &how)
}

/// `rule.set_duration`: an Exim duration in seconds under `exim.<key>`, when the value is one.
pub(crate) fn set_duration(ev: &mut Event, value: Option<&str>, key: &'static str) {
    if let Some(v) = value.filter(|v| !v.is_empty()) {
        if let Some(d) = duration(v) {
            ev.exim.insert(key.into(), d.into());
        }
    }
}

/// `Event.host(side, {"address": …})`: a bare address.
pub(crate) fn bare_host(ev: &mut Event, side: &str, address: &str) {
    let g = HostGroup {
        address,
        name: None,
        helo: None,
        ds: false,
        port: None,
        reuse: false,
        raw: None,
    };
    ev.host(side, &g)
}

/// `lines._generic`: the fields common to handler-less rules.
fn generic(ev: &mut Event, action: &'static str, m: &Captures<'_>) -> &'static str {
    if let Some(h) = group(m, "host") {
        hostident::full_host(ev, h, "source");
    }
    if let Some(rest) = group(m, "rest") {
        hostident::scan_host_ident(ev, rest, "source");
    }
    set_duration(ev, group(m, "d"), "duration");
    if let Some(cmd) = group(m, "cmd") {
        ev.exim.insert("smtp_command".into(), unescape(cmd).into());
    }
    if let Some(reason) = group(m, "reason") {
        ev.exim.insert("reason".into(), reason.into());
    }
    if let Some(ip) = group(m, "ip") {
        bare_host(ev, "source", ip);
    }
    if let Some(name) = group(m, "name") {
        if action == "host_lookup_failed" {
            ev.sec("source").insert("domain".into(), Value::from(name));
        }
    }
    action
}

/// `lines.parse_other`: the action of a non-flag body, its fields filled; `"unrecognized"` when no
/// rule matches.
pub fn parse_other(ev: &mut Event, body: &str, msgid: Option<&str>) -> &'static str {
    let ascii = body.is_ascii();
    if acl::HOST_START.iter().any(|p| body.starts_with(p)) {
        // The ACL lines' patterns hold no `\w`; acl.rs guards its one `\b` and `(?i)` pattern.
        if let Some(action) = acl::host_line(ev, body, msgid) {
            return action;
        }
    }
    if ascii {
        if let Some(done) = connection::fast(ev, body) {
            return done;
        }
        if let Some(done) = process::fast(ev, body) {
            return done;
        }
    }
    by_rules(ev, body, msgid, ascii)
}

/// The rules in order: the first that matches fills the event. A non-ASCII body runs the set compiled
/// with Python's `\w`.
/// A hand reader's test: whether `fast` reads `body`, and where it does, that its action and fields
/// equal the rules' (the regexes).
#[cfg(test)]
pub(crate) fn fast_equals_rules(
    fast: fn(&mut Event, &str) -> Option<&'static str>,
    body: &str,
) -> bool {
    let event = || Event {
        doc: crate::body::Obj::new(),
        exim: crate::body::Obj::new(),
    };
    let mut fast_ev = event();
    let Some(got) = fast(&mut fast_ev, body) else {
        return false;
    };
    let mut ev = event();
    let want = by_rules(&mut ev, body, None, true);
    assert_eq!(got, want, "{body}");
    assert_eq!(fast_ev.doc, ev.doc, "{body}");
    assert_eq!(fast_ev.exim, ev.exim, "{body}");
    true
}

fn by_rules(ev: &mut Event, body: &str, msgid: Option<&str>, ascii: bool) -> &'static str {
    let c = compiled();
    let wide = (!ascii).then(unicode);
    let unrecognized = "unrecognized";
    let Some(&first) = body.as_bytes().first() else {
        return unrecognized;
    };
    for &i in &c.by_first[usize::from(first)] {
        let (rule, re, lead) = &c.rules[i];
        if let Some(need) = rule.needs_id {
            if need != msgid.is_some() {
                continue;
            }
        }
        if !body.starts_with(lead.as_str()) {
            continue;
        }
        let finders = &c.needles[i];
        if !finders.is_empty() && !finders.iter().any(|f| f.find(body.as_bytes()).is_some()) {
            continue;
        }
        if let (true, Some(read)) = (ascii, rule.read) {
            match read(ev, body) {
                Some(action) => return action,
                None => continue,
            }
        }
        let re = match wide {
            Some(u) => &u.rules[i],
            None => re,
        };
        let Some(m) = re.captures(body) else {
            continue;
        };
        let mut action = rule.action;
        match rule.handler {
            Some(h) => {
                if let Some(a) = h(ev, &m) {
                    action = a;
                }
            }
            None => action = generic(ev, action, &m),
        }
        if action == "recipient_verify_failed" {
            if let Some(who) = group(&m, "who") {
                action = acl::verify_action(who, took_part(&m, "r").unwrap_or(""));
            }
        }
        return action;
    }
    unrecognized
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_classes_swap_only_the_unicode_classes() {
        assert_eq!(
            ascii_classes(r"\d+\s\w"),
            r"[0-9]+[\t\n\x0B\f\r \x1c-\x1f][0-9A-Za-z_]"
        );
        assert_eq!(
            ascii_classes(r"[^\s\x1c-\x1f]*"),
            r"[^\t\n\x0B\f\r \x1c-\x1f\x1c-\x1f]*"
        );
        assert_eq!(
            ascii_classes(r"[\w.-]+\b\\d"),
            r"[0-9A-Za-z_.-]+(?-u:\b)\\d"
        );
        assert_eq!(
            ascii_classes(r"[]\d][^]\s]\S"),
            r"[]0-9][^]\t\n\x0B\f\r \x1c-\x1f][^\t\n\x0B\f\r \x1c-\x1f]"
        );
        assert_eq!(ascii_classes(r"[\S\]]\D"), r"[\S\]][^0-9]");
        assert!(!compiled().rules.is_empty());
    }

    #[test]
    fn a_rule_is_tried_on_the_bodies_starting_with_its_literal_prefix() {
        assert_eq!(
            lead(r"(?s)SMTP connection from (?P<h>\S+)"),
            "SMTP connection from "
        );
        assert_eq!(lead(r"(?s)no MAIL in (?:TFO\*? )?SMTP"), "no MAIL in ");
        assert_eq!(lead(r"(?s)(?P<auth>\S+) authenticator"), "");
        assert_eq!(lead(r"abcd?e"), "abc");
        // A top-level alternative of its own: Python's key alone, as Python tries it.
        assert_eq!(lead(r"abcdef|xyz"), "abc");
        assert_eq!(lead(r"ab|xyz"), "");
        assert!(!top_level_alternation(r"a(?:b|c)[|]\|[^]|]"));
        assert!(top_level_alternation(r"a[]](b)|c"));
        // Every rule's lead is a prefix of any body its pattern matches at the start.
        for (rule, _, lead) in &compiled().rules {
            assert!(
                literal_prefix(rule.pattern).starts_with(lead.as_str()),
                "{}",
                rule.pattern
            );
        }
    }

    #[test]
    fn the_action_codes_are_the_placeholder_then_actions_json_in_order() {
        // The file's order (serde_json's map sorts): its `"name": {` lines after `"actions": {`.
        let text = include_str!("../../../../shipper/exim/data/actions.json");
        let from: usize = text.find("\"actions\": {").expect("actions");
        let from_file: Vec<&str> = text[from..]
            .lines()
            .skip(1)
            .filter_map(|l| l.strip_prefix("    \"")?.split_once("\": {").map(|x| x.0))
            .filter(|&a| a != "unrecognized")
            .collect();
        assert_eq!(from_file.len() + 1, crate::tables::actions().actions.len());
        assert_eq!(crate::stream::ACTIONS[0], "unrecognized");
        assert_eq!(&crate::stream::ACTIONS[1..], &from_file[..]);
    }

    #[test]
    fn every_rule_compiles_and_returns_a_known_action() {
        for (r, _, _) in &compiled().rules {
            assert!(crate::stream::ACTIONS.contains(&r.action), "{}", r.action);
        }
    }

    #[test]
    fn literal_prefixes_as_lines_py_computes_them() {
        assert_eq!(
            literal_prefix(r"(?s)SMTP connection from (?P<host>x)"),
            "SMTP connection from "
        );
        assert_eq!(literal_prefix(r"(?s)[Tt]oo many"), "");
        assert_eq!(literal_prefix(r"(?s)Frozen(?: x)?"), "Frozen");
        assert_eq!(literal_prefix(r"(?s)abc?d"), "ab");
        assert_eq!(literal_prefix(r"(?s)ab+"), "ab");
    }

    /// Every case's action and fields equal Python's (`lines.parse_other` on the same body with a
    /// message id, printed by `orjson` with sorted keys, hints left out).
    fn assert_python(cases: &[(&str, &str, &str)]) {
        fn strip(v: &mut Value) {
            if let Value::Object(o) = v {
                o.remove("hint");
                o.values_mut().for_each(strip);
            }
        }
        for &(body, action, want) in cases {
            let mut ev = Event {
                doc: crate::body::Obj::new(),
                exim: crate::body::Obj::new(),
            };
            let got_action = parse_other(&mut ev, body, Some("1tXaaa-00000001abc-0ABC"));
            assert_eq!(got_action, action, "{body}");
            let mut doc = ev.doc;
            if !ev.exim.is_empty() {
                doc.insert("exim".into(), ev.exim.into());
            }
            let mut got = Value::Object(doc);
            strip(&mut got);
            let want: Value = serde_json::from_str(want).expect("a case's JSON");
            assert_eq!(got, want, "{body}");
        }
    }

    #[test]
    fn connection_command_process_and_acl_lines_as_python_reads_them() {
        // Bodies from tests/unit/test_real_world_lines.py and edge cases of each rule.
        assert_python(&[
            (
                "U=CALLER F=<userA@test.ex> rejected RCPT <user.यष्टिमधु@test.ex>: Sender verify failed",
                "rcpt_rejected",
                r#"{"email":{"from":{"address":"userA@test.ex"},"to":{"address":["user.यष्टिमधु@test.ex"]}},"exim":{"acl":{"target":"RCPT <user.यष्टिमधु@test.ex>"},"error":{"class":"sender_verify_failed","message":"Sender verify failed","stage":"rcpt","temporary":false,"text":"Sender verify failed"},"ident":"CALLER"}}"#,
            ),
            (
                r#"U=CALLER sender verify fail for <userB.જેઠીમધ@test.ex>: 127.0.0.1 [127.0.0.1] : response to "EHLO" did not include SMTPUTF8"#,
                "sender_verify_failed",
                r#"{"email":{"from":{"address":"userB.જેઠીમધ@test.ex"}},"exim":{"error":{"class":"sender_verify_failed","message":"127.0.0.1 [127.0.0.1] : response to \"EHLO\" did not include SMTPUTF8","stage":"local","temporary":false,"text":"127.0.0.1 [127.0.0.1] : response to \"EHLO\" did not include SMTPUTF8"},"ident":"CALLER"}}"#,
            ),
            (
                r##"SMTP syntax error in "aUtH lOgIn" H=(test) [8.8.8.8]" H=(roxzgj) [192.0.2.6]:4431 AUTH command used when not advertised"##,
                "smtp_syntax_error",
                r##"{"exim":{"helo":"roxzgj","reason":"AUTH command used when not advertised","smtp_command":"aUtH lOgIn\" H=(test) [8.8.8.8]"},"source":{"address":"192.0.2.6","ip":"192.0.2.6","port":4431}}"##,
            ),
            (
                r##"SMTP protocol error in "aUtH \" H=(test) [8.8.8.8] lOgIn" H=(roxzgj) [192.0.2.6]:4431 AUTH command used when not advertised"##,
                "smtp_protocol_error",
                r##"{"exim":{"helo":"roxzgj","reason":"AUTH command used when not advertised","smtp_command":"aUtH \" H=(test) [8.8.8.8] lOgIn"},"source":{"address":"192.0.2.6","ip":"192.0.2.6","port":4431}}"##,
            ),
            (
                r##"SMTP protocol error in "AUTH" H=(x) [8.8.8.8] y" H=(real) [192.0.2.6] too many errors"##,
                "smtp_protocol_error",
                r##"{"exim":{"helo":"real","reason":"too many errors","smtp_command":"AUTH\" H=(x) [8.8.8.8] y","source_ambiguous":true},"source":{"address":"192.0.2.6","ip":"192.0.2.6"}}"##,
            ),
            (
                r##"SMTP syntax error in "debug" U=CALLER unrecognized command"##,
                "smtp_syntax_error",
                r##"{"exim":{"ident":"CALLER","reason":"unrecognized command","smtp_command":"debug"}}"##,
            ),
            (
                r##"SMTP protocol synchronization error (next input sent too soon: pipelining was not advertised): rejected "RSET" H=(y) [8.8.8.8]" H=(x) [192.0.2.6]:58302 I=[10.0.0.1]:25 next input="QUIT\r\n""##,
                "smtp_sync_error",
                r##"{"exim":{"helo":"x","interface":{"address":"10.0.0.1","port":25},"reason":"next input sent too soon: pipelining was not advertised","smtp_command":"RSET\" H=(y) [8.8.8.8]","smtp_input":"QUIT\r\n"},"source":{"address":"192.0.2.6","ip":"192.0.2.6","port":58302}}"##,
            ),
            (
                r##"SMTP protocol synchronization error (next input sent too soon: pipelining was not advertised): rejected "RSET" H=(y) [8.8.8.8] next input="" H=(x) [192.0.2.6]:58302 next input="QUIT""##,
                "smtp_sync_error",
                r##"{"exim":{"reason":"next input sent too soon: pipelining was not advertised","smtp_command":"RSET","source_ambiguous":true}}"##,
            ),
            (
                r##"SMTP protocol synchronization error (input sent without waiting for greeting): rejected connection from H=[192.0.2.7]:1234 input="GET / HTTP/1.1""##,
                "smtp_sync_error",
                r##"{"exim":{"reason":"input sent without waiting for greeting","smtp_input":"GET / HTTP/1.1"},"source":{"address":"192.0.2.7","ip":"192.0.2.7","port":1234}}"##,
            ),
            (
                r##"VRFY failed for <a@b> H=(y) [8.8.8.8] H=(x) [192.0.2.6]:123 I=[10.0.0.1]:25"##,
                "vrfy_failed",
                r##"{"exim":{"helo":"x","interface":{"address":"10.0.0.1","port":25},"smtp_command":"VRFY <a@b> H=(y) [8.8.8.8]"},"source":{"address":"192.0.2.6","ip":"192.0.2.6","port":123}}"##,
            ),
            (
                r##"ETRN #x received from H=(y) [8.8.8.8] received from H=(x) [192.0.2.6]:123"##,
                "etrn_received",
                r##"{"exim":{"etrn_argument":"#x received from H=(y) [8.8.8.8]","helo":"x","smtp_command":"ETRN"},"source":{"address":"192.0.2.6","ip":"192.0.2.6","port":123}}"##,
            ),
            (
                r##"dovecot_plain authenticator failed for (x) [192.0.2.6]:587: 535 Incorrect authentication data (set_id=a(b)c)"##,
                "auth_failed",
                r##"{"exim":{"auth":{"authenticator":"dovecot_plain","id":"a(b)c"},"error":{"class":"authentication_failed","message":"535 Incorrect authentication data (set_id=a(b)c)","smtp_code":535,"stage":"auth","temporary":false,"text":"535 Incorrect authentication data (set_id=a(b)c)"},"helo":"x"},"source":{"address":"192.0.2.6","ip":"192.0.2.6","port":587},"user":{"name":"a(b)c"}}"##,
            ),
            (
                r##"ignoring AUTH=<a@b.example> from H=(x) [192.0.2.6] (client not authenticated)"##,
                "auth_ignored",
                r##"{"exim":{"auth":{"sender":"<a@b.example>"},"helo":"x","reason":"client not authenticated"},"source":{"address":"192.0.2.6","ip":"192.0.2.6"}}"##,
            ),
            (
                r##"SMTP connection from mx.example (helo) [192.0.2.6]:25 I=[10.0.0.1]:25 Ci=7 (TCP/IP connection count = 3)"##,
                "smtp_connection_opened",
                r##"{"exim":{"connection_count":3,"connection_id":"7","helo":"helo","interface":{"address":"10.0.0.1","port":25}},"source":{"address":"192.0.2.6","domain":"mx.example","ip":"192.0.2.6","port":25}}"##,
            ),
            (
                r##"SMTP connection Ci=7 from (helo) [192.0.2.6]:25 I=[10.0.0.1]:25 D=2m3s closed by QUIT"##,
                "smtp_connection_closed",
                r##"{"exim":{"connection_id":"7","duration":123.0,"helo":"helo","interface":{"address":"10.0.0.1","port":25},"reason":"by QUIT"},"source":{"address":"192.0.2.6","ip":"192.0.2.6","port":25}}"##,
            ),
            (
                r##"SMTP connection from [192.0.2.6]:25 lost while reading message data (error: Connection reset by peer) D=1s"##,
                "smtp_connection_lost",
                r##"{"exim":{"duration":1.0,"reason":"while reading message data (error: Connection reset by peer)"},"source":{"address":"192.0.2.6","ip":"192.0.2.6","port":25}}"##,
            ),
            (
                r##"SMTP connection outbound 1700000000 1tXaaa-00000001abc-0ABC example.com rcpt@x.example"##,
                "smtp_connection_outbound",
                r##"{"email":{"to":{"address":["rcpt@x.example"]}},"exim":{"outbound_domain":"example.com","outbound_epoch":1700000000}}"##,
            ),
            (
                r##"temporarily refused connection from [192.0.2.6] (too many connections)"##,
                "connection_refused",
                r##"{"exim":{"error":{"class":"rate_limited","message":"too many connections","stage":"connect","temporary":true,"text":"too many connections"},"reason":"too many connections"},"source":{"address":"192.0.2.6","ip":"192.0.2.6"}}"##,
            ),
            (
                r##"Connection from [192.0.2.6]:1234 refused: load average"##,
                "connection_refused",
                r##"{"exim":{"error":{"class":"policy_rejection","message":"load average","stage":"connect","temporary":true,"text":"load average"},"reason":"load average"},"source":{"address":"192.0.2.6","ip":"192.0.2.6","port":1234}}"##,
            ),
            (
                r##"no IP address found for host bad.example (during SMTP connection from [192.0.2.6])"##,
                "host_lookup_failed",
                r##"{"exim":{"reverse_name":"bad.example"},"source":{"address":"192.0.2.6","ip":"192.0.2.6"}}"##,
            ),
            (
                r##"no host name found for IP address 192.0.2.6"##,
                "host_lookup_failed",
                r##"{"source":{"address":"192.0.2.6","ip":"192.0.2.6"}}"##,
            ),
            (
                r##"temporarily rejected "EHLO x y" from [192.0.2.6]"##,
                "helo_rejected",
                r##"{"exim":{"error":{"class":"bad_helo","message":"HELO rejected","stage":"helo","temporary":true,"text":"HELO rejected"},"helo":"x y"},"source":{"address":"192.0.2.6","ip":"192.0.2.6"}}"##,
            ),
            (
                r##"rejected MAIL FROM:<a@b.example> H=(x) [192.0.2.6]: message too big: size=2000 max=1000"##,
                "size_rejected",
                r##"{"email":{"from":{"address":"a@b.example"}},"exim":{"error":{"class":"message_too_big","message":"message too big: size=2000 max=1000","stage":"mail","temporary":false,"text":"message too big: size=2000 max=1000"},"helo":"x","reason":"message too big: size=2000 max=1000","size":2000,"size_limit":1000},"source":{"address":"192.0.2.6","ip":"192.0.2.6"}}"##,
            ),
            (
                r##"TLS error on connection from (x) [192.0.2.6] (SSL_accept): error:0A000126:SSL routines::unexpected eof while reading"##,
                "tls_error",
                r##"{"exim":{"error":{"class":"tls_failure","message":"error:0A000126:SSL routines::unexpected eof while reading","stage":"tls","temporary":true,"text":"error:0A000126:SSL routines::unexpected eof while reading"},"helo":"x","tls_function":"SSL_accept"},"source":{"address":"192.0.2.6","ip":"192.0.2.6"}}"##,
            ),
            (
                r##"[192.0.2.6] SSL verify error: depth=0 error=certificate has expired cert=/CN=x"##,
                "tls_verify_error",
                r##"{"destination":{"address":"192.0.2.6","ip":"192.0.2.6"},"exim":{"error":{"class":"tls_failure","message":"depth=0 error=certificate has expired cert=/CN=x","stage":"tls","temporary":true,"text":"depth=0 error=certificate has expired cert=/CN=x"}}}"##,
            ),
            (
                r##"exim 4.97 daemon started: pid=123, -q30m, listening for SMTP on port 25 (IPv4) port 587 [::]:465 port 25"##,
                "daemon_started",
                r##"{"exim":{"daemon":{"options":"-q30m, listening for SMTP on port 25 (IPv4) port 587 [::]:465 port 25","ports":[25,465,587],"queue_interval":"-q30m"},"version":"4.97"},"process":{"pid":123}}"##,
            ),
            (
                r##"cwd=/home2/bob/public_html 4 args: /usr/sbin/sendmail -t -i "a \"b\" c""##,
                "process_started",
                r##"{"exim":{"cpanel_user":"bob"},"process":{"args":["/usr/sbin/sendmail","-t","-i","a \"b\" c"],"args_count":4,"executable":"/usr/sbin/sendmail","working_directory":"/home2/bob/public_html"}}"##,
            ),
            (
                r##"Start 'q1' queue run: pid=4567 -qff"##,
                "queue_run_started",
                r##"{"exim":{"queue":"q1","queue_run_args":"-qff"},"process":{"pid":4567}}"##,
            ),
            (
                r##"pid 123: SIGHUP received"##,
                "daemon_sighup",
                r##"{"process":{"pid":123}}"##,
            ),
            (
                r##"exim 4.97 daemon terminating by signal 15"##,
                "daemon_stopped",
                r##"{"exim":{"reason":"by signal 15"}}"##,
            ),
            (
                r##"2 accept() failures: Too many open files"##,
                "daemon_error",
                r##"{"exim":{"error":{"class":"permanent_failure","message":"2 accept() failures: Too many open files","stage":"local","temporary":false,"text":"2 accept() failures: Too many open files"}}}"##,
            ),
            (
                r##"H=(x) [192.0.2.6] F=<a@b.example> rejected RCPT <c@d.example>: relay not permitted"##,
                "rcpt_rejected",
                r##"{"email":{"from":{"address":"a@b.example"},"to":{"address":["c@d.example"]}},"exim":{"acl":{"target":"RCPT <c@d.example>"},"error":{"class":"relay_denied","message":"relay not permitted","stage":"rcpt","temporary":false,"text":"relay not permitted"},"helo":"x"},"source":{"address":"192.0.2.6","ip":"192.0.2.6"}}"##,
            ),
            (
                r##"H=(x) [192.0.2.6] F=<a@b.example> temporarily rejected RCPT <c@d.example>: sender verify defer: could not complete sender verify"##,
                "rcpt_rejected",
                r##"{"email":{"from":{"address":"a@b.example"},"to":{"address":["c@d.example"]}},"exim":{"acl":{"target":"RCPT <c@d.example>"},"error":{"class":"sender_verify_failed","message":"sender verify defer: could not complete sender verify","stage":"rcpt","temporary":true,"text":"sender verify defer: could not complete sender verify"},"helo":"x"},"source":{"address":"192.0.2.6","ip":"192.0.2.6"}}"##,
            ),
            (
                r##"H=(x) [192.0.2.6] rejected EHLO or HELO x.example: bad helo"##,
                "helo_rejected",
                r##"{"exim":{"acl":{"target":"EHLO or HELO x.example"},"error":{"class":"bad_helo","message":"bad helo","stage":"helo","temporary":false,"text":"bad helo"},"helo":"x"},"source":{"address":"192.0.2.6","ip":"192.0.2.6"}}"##,
            ),
            (
                r##"H=(x) [192.0.2.6] Warning: "SpamAssassin as bob detected Incoming smtp message as NOT spam (1.5)""##,
                "spam_verdict",
                r##"{"exim":{"helo":"x","spam":{"direction":"incoming","scanner":"spamassassin","score":1.5,"user":"bob","verdict":"ham"}},"source":{"address":"192.0.2.6","ip":"192.0.2.6"}}"##,
            ),
            (
                r##"H=(x) [192.0.2.6] Warning: spam score=7.25 tagged"##,
                "spam_verdict",
                r##"{"exim":{"helo":"x","spam":{"score":7.25}},"source":{"address":"192.0.2.6","ip":"192.0.2.6"}}"##,
            ),
            (
                r##"H=(x) [192.0.2.6] Warning: message contains malware"##,
                "virus_scan",
                r##"{"exim":{"helo":"x","malware":{"text":"message contains malware","verdict":"infected"}},"source":{"address":"192.0.2.6","ip":"192.0.2.6"}}"##,
            ),
            (
                r##"H=(x) [192.0.2.6] sender verify fail for <a@b.example>: no such user"##,
                "sender_verify_failed",
                r##"{"email":{"from":{"address":"a@b.example"}},"exim":{"error":{"class":"sender_verify_failed","message":"no such user","stage":"local","temporary":false,"text":"no such user"},"helo":"x"},"source":{"address":"192.0.2.6","ip":"192.0.2.6"}}"##,
            ),
            (
                r##"H=(x) [192.0.2.6] dropped by 'check_rcpt' ACL: go away"##,
                "connection_dropped",
                r##"{"exim":{"acl":{"name":"check_rcpt"},"error":{"class":"policy_rejection","message":"go away","stage":"connect","temporary":false,"text":"go away"},"helo":"x"},"source":{"address":"192.0.2.6","ip":"192.0.2.6"}}"##,
            ),
            (
                r##"H=(x) [192.0.2.6] F=<a@b.example> RCPT <c@d.example>: discarded by check_rcpt ACL: bye"##,
                "rcpt_discarded",
                r##"{"email":{"from":{"address":"a@b.example"},"to":{"address":["c@d.example"]}},"exim":{"acl":{"message":"bye","name":"check_rcpt"},"helo":"x"},"source":{"address":"192.0.2.6","ip":"192.0.2.6"}}"##,
            ),
            (
                r##"H=(x) [192.0.2.6] incomplete transaction (QUIT) from <"a> b"@b.tld> for r@s.tld t@u.tld"##,
                "smtp_incomplete_transaction",
                r##"{"email":{"from":{"address":"\"a> b\"@b.tld"},"to":{"address":["r@s.tld","t@u.tld"]}},"exim":{"helo":"x","reason":"QUIT"},"source":{"address":"192.0.2.6","ip":"192.0.2.6"}}"##,
            ),
            (
                r##"H=(x) [192.0.2.5] c@d.example H=mx.d.example [192.0.2.6] rejected after DATA: C="550 5.7.1 spam""##,
                "cutthrough_rejected",
                r##"{"email":{"to":{"address":["c@d.example"]}},"exim":{"error":{"class":"spam_content","enhanced_code":"5.7.1","message":"550 5.7.1 spam","smtp_code":550,"stage":"data","temporary":false,"text":"550 5.7.1 spam"},"helo":"x"},"source":{"address":"192.0.2.5","ip":"192.0.2.5"}}"##,
            ),
            (
                r##"H=mx.d.example [192.0.2.6]: Connection refused"##,
                "remote_host_error",
                r##"{"destination":{"address":"192.0.2.6","domain":"mx.d.example","ip":"192.0.2.6"},"exim":{"error":{"class":"connection_refused","message":"Connection refused","stage":"connect","temporary":true,"text":"Connection refused"}}}"##,
            ),
        ]);
    }

    #[test]
    fn bodies_python_and_the_regex_crate_may_read_apart_are_read_all_the_same() {
        let mut ev = Event {
            doc: crate::body::Obj::new(),
            exim: crate::body::Obj::new(),
        };
        // The ACL rejections lower-case as `str.lower()` does.
        assert_eq!(
            parse_other(&mut ev, "H=(x) [192.0.2.6] rejected MAİL x: no", None),
            "command_rejected"
        );
        // Formerly declined, now the core's reading: `\b` next to a vowel sign is the crate's (no
        // boundary: Python, for which the sign is no word character, reads `spam_verdict`), `İ` is no
        // `i` to `(?i)` (Python: neither a malware nor a spam verdict here either), and `\x1c` is a
        // space to `\s` as to Python (its `smtp_call_dropped` with the reason `a\x1cb`).
        for (body, action, key, value) in [
            (
                "H=(x) [192.0.2.6] Warning: spam\u{93f} score 5",
                "acl_warning",
                "warning",
                "spam\u{93f} score 5",
            ),
            (
                "H=(x) [192.0.2.6] Warning: vİrus",
                "acl_warning",
                "warning",
                "vİrus",
            ),
            (
                "SMTP call from [1.2.3.4] dropped: a\x1cb",
                "smtp_call_dropped",
                "reason",
                "a\x1cb",
            ),
        ] {
            let mut ev = Event {
                doc: crate::body::Obj::new(),
                exim: crate::body::Obj::new(),
            };
            assert_eq!(parse_other(&mut ev, body, None), action, "{body}");
            assert_eq!(
                ev.exim.get(key).and_then(Value::as_str),
                Some(value),
                "{body}"
            );
        }
        // Other non-ASCII bodies run the rules compiled with Python's `\w`: as `parse_other` reads
        // them (CPython: `smtp_call_dropped`, `exim.reason` "é").
        let mut ev = Event {
            doc: crate::body::Obj::new(),
            exim: crate::body::Obj::new(),
        };
        assert_eq!(
            parse_other(&mut ev, "SMTP call from [1.2.3.4] dropped: é", None),
            "smtp_call_dropped"
        );
        assert_eq!(ev.exim.get("reason").and_then(Value::as_str), Some("é"));
    }

    #[test]
    fn a_reject_log_header_dump_as_python_reads_it() {
        let mut ev = Event {
            doc: crate::body::Obj::new(),
            exim: crate::body::Obj::new(),
        };
        let more = "Envelope-from: <a@b.example>\nEnvelope-to: <c@d.example>\n    <e@f.example>\nP Received: from x\n\tby y\nT Subject:  Hello there \nI Message-Id: <m1@x>\n  Subject: second";
        assert!(crate::body::header_dump(&mut ev, more));
        let want: serde_json::Value = serde_json::from_str(r#"{"doc":{"email":{"message_id":"m1@x","subject":"Hello there"}},"exim":{"envelope_from":"a@b.example","envelope_to":["c@d.example","e@f.example"],"header_names":["Received","Subject","Message-Id","Subject"]}}"#).unwrap();
        assert_eq!(serde_json::json!({"doc": ev.doc, "exim": ev.exim}), want);
        assert!(!crate::body::header_dump(&mut ev, "just more text"));
    }
}
