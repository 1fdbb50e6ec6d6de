//! The line catalogue of the non-flag bodies (`shipper/exim/lines.py` `parse_other`, `_generic`, the
//! key prefilter, `acl_lines.VERIFY_ACTIONS`): its rules in Python's match order, first match wins.
//!
//! Each rule's pattern is compiled once ([`OnceLock`]), one `regex::Regex` per rule anchored at the
//! body's start (Python's `Pattern.match`). Per line only the rules that can start the body run: like
//! lines.py, a rule whose literal prefix is 3 characters or longer is tried only on bodies starting
//! with those 3 (indexed by the first byte here), and a rule's needles must occur first. A `RegexSet`
//! would run every pattern over every body; most bodies are rejected by their first bytes already.
//!
//! The `regex` crate and Python's `re` agree on ASCII text without `\x1c`-`\x1f` (Python's `\s`
//! holds those; `\w`, `\d` and `\b` differ beyond ASCII): other bodies are declined.

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

use crate::body::{Decline, Event, R};
use crate::fields::{duration, unescape, HostGroup};
use regex::{Captures, Regex};
use rule::Rule;
use serde_json::Value;
use std::sync::OnceLock;

/// lines.py's `_KEY_LEN`: how many leading characters of a body pick its candidate rules.
const KEY_LEN: usize = 3;

struct Compiled {
    /// Each rule, its compiled pattern and its key (up to [`KEY_LEN`] leading literal characters).
    rules: Vec<(Rule, Regex, String)>,
    /// Per first byte of a body, the indices of the rules that may match it, in table order.
    by_first: Vec<Vec<usize>>,
    /// Every rule module is ported: only then is a body no rule takes Python's `unrecognized` (and,
    /// in the panic log, a panic); while a module is a stub such a body is declined.
    complete: bool,
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

fn compiled() -> &'static Compiled {
    static C: OnceLock<Compiled> = OnceLock::new();
    C.get_or_init(|| {
        let complete = !message::rules().is_empty() && !error::rules().is_empty();
        let mut rules = Vec::new();
        let mut by_first: Vec<Vec<usize>> = vec![Vec::new(); 256];
        for (i, r) in all_rules().into_iter().enumerate() {
            let re = Regex::new(&format!(r"\A(?:{})", r.pattern))
                .unwrap_or_else(|e| panic!("catalogue rule {}: {e}", r.action));
            let key: String = literal_prefix(r.pattern).chars().take(KEY_LEN).collect();
            for (b, list) in by_first.iter_mut().enumerate() {
                if key.chars().count() < KEY_LEN || key.as_bytes()[0] == b as u8 {
                    list.push(i);
                }
            }
            rules.push((r, re, key));
        }
        Compiled {
            rules,
            by_first,
            complete,
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
    Rule {
        action,
        pattern,
        handler,
        needs_id: None,
        needles: &[],
    }
}

/// Python's `int()` of a `\d+` group (ASCII here): beyond `u64` it is declined.
pub(crate) fn int(text: &str) -> R<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Decline);
    }
    text.parse().map_err(|_| Decline)
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
) -> R<()> {
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
pub(crate) fn set_duration(ev: &mut Event, value: Option<&str>, key: &str) -> R<()> {
    if let Some(v) = value.filter(|v| !v.is_empty()) {
        if let Some(d) = duration(v)? {
            ev.exim.insert(key.into(), d.into());
        }
    }
    Ok(())
}

/// `Event.host(side, {"address": …})`: a bare address.
pub(crate) fn bare_host(ev: &mut Event, side: &str, address: &str) -> R<()> {
    let g = HostGroup {
        address,
        name: None,
        helo: None,
        ds: false,
        port: None,
        reuse: false,
    };
    ev.host(side, &g)
}

/// `lines._generic`: the fields common to handler-less rules.
fn generic(ev: &mut Event, action: &'static str, m: &Captures<'_>) -> R<&'static str> {
    if let Some(h) = group(m, "host") {
        hostident::full_host(ev, h, "source")?;
    }
    if let Some(rest) = group(m, "rest") {
        hostident::scan_host_ident(ev, rest, "source")?;
    }
    set_duration(ev, group(m, "d"), "duration")?;
    if let Some(cmd) = group(m, "cmd") {
        ev.exim.insert("smtp_command".into(), unescape(cmd)?.into());
    }
    if let Some(reason) = group(m, "reason") {
        ev.exim.insert("reason".into(), reason.into());
    }
    if let Some(ip) = group(m, "ip") {
        bare_host(ev, "source", ip)?;
    }
    if let Some(name) = group(m, "name") {
        if action == "host_lookup_failed" {
            ev.sec("source").insert("domain".into(), Value::from(name));
        }
    }
    Ok(action)
}

/// `lines.parse_other`: the action of a non-flag body, its fields filled; `"unrecognized"` when no
/// rule matches. A body the port cannot read as Python does is declined.
pub fn parse_other(ev: &mut Event, body: &str, msgid: Option<&str>) -> R<&'static str> {
    if !body.is_ascii() || body.bytes().any(|b| (0x1c..=0x1f).contains(&b)) {
        return Err(Decline);
    }
    if acl::HOST_START.iter().any(|p| body.starts_with(p)) {
        if let Some(action) = acl::host_line(ev, body, msgid)? {
            return Ok(action);
        }
    }
    let c = compiled();
    let unrecognized = if c.complete {
        Ok("unrecognized")
    } else {
        Err(Decline)
    };
    let Some(&first) = body.as_bytes().first() else {
        return unrecognized;
    };
    let head: &str = &body[..body.len().min(KEY_LEN)];
    for &i in &c.by_first[usize::from(first)] {
        let (rule, re, key) = &c.rules[i];
        if let Some(need) = rule.needs_id {
            if need != msgid.is_some() {
                continue;
            }
        }
        if !rule.needles.is_empty() && !rule.needles.iter().any(|n| body.contains(n)) {
            continue;
        }
        if key.len() >= KEY_LEN && !head.starts_with(key.as_str()) {
            continue;
        }
        let Some(m) = re.captures(body) else {
            continue;
        };
        let mut action = rule.action;
        match rule.handler {
            Some(h) => {
                if let Some(a) = h(ev, &m)? {
                    action = a;
                }
            }
            None => action = generic(ev, action, &m)?,
        }
        if action == "recipient_verify_failed" {
            if let Some(who) = group(&m, "who") {
                action = acl::verify_action(who, took_part(&m, "r").ok_or(Decline)?)?;
            }
        }
        return Ok(action);
    }
    unrecognized
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
