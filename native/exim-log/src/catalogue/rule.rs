//! `rule.py`'s `Rule`: a line type's action, its anchored pattern and what to extract from a match.

use super::group;
use crate::body::{ErrorOpts, Event};
use crate::fields::py_space;
use regex::Captures;

/// What a handler returns: Some(action) overrides the rule's action (Python's handler returning a str).
pub type Handler = fn(&mut Event, &regex::Captures<'_>) -> Option<&'static str>;
/// A rule's pattern read by hand on an ASCII body, in the regex's place there: None where the pattern
/// does not match, else the line's final action with its fields filled (a proptest holds each to its
/// pattern).
pub type Reader = fn(&mut Event, &str) -> Option<&'static str>;
pub struct Rule {
    pub action: &'static str,
    /// Python's pattern text, translated for the `regex` crate (`(?s)` for re.S, `\z` for `\Z`, no
    /// lookaround: rewrite such a rule's pattern, or read it by hand in its handler, and say so in a
    /// comment).
    pub pattern: &'static str,
    pub handler: Option<Handler>,
    pub needs_id: Option<bool>,
    pub needles: &'static [&'static str],
    pub read: Option<Reader>,
}

/// A rule on lines with or without a message id, tried only when one of `needles` is in the body.
pub(crate) const fn with_needles(
    action: &'static str,
    pattern: &'static str,
    handler: Option<Handler>,
    needles: &'static [&'static str],
) -> Rule {
    Rule {
        action,
        pattern,
        handler,
        needs_id: None,
        needles,
        read: None,
    }
}

/// `rule.h_who`: who did it (`by …`) and why, on queue and daemon lines.
pub(crate) fn h_who(ev: &mut Event, m: &Captures<'_>) -> Option<&'static str> {
    if let Some(who) = group(m, "who") {
        ev.exim
            .insert("by".into(), who.trim_matches(py_space).into());
    }
    if let Some(why) = group(m, "why") {
        ev.exim
            .insert("reason".into(), why.trim_matches(py_space).into());
    }
    None
}

/// `rule.h_text_error`: the whole line as a local error.
pub(crate) fn h_text_error(ev: &mut Event, m: &Captures<'_>) -> Option<&'static str> {
    let how = ErrorOpts {
        stage: Some("local"),
        ..ErrorOpts::new(None)
    };
    ev.error_with(&m[0], &how);
    None
}
