//! `rule.py`'s `Rule`: a line type's action, its anchored pattern and what to extract from a match.

use crate::body::{Event, R};
/// What a handler returns: Some(action) overrides the rule's action (Python's handler returning a str).
pub type Handler = fn(&mut Event, &regex::Captures<'_>) -> R<Option<&'static str>>;
pub struct Rule {
    pub action: &'static str,
    /// Python's pattern text, translated for the `regex` crate (`(?s)` for re.S, `\z` for `\Z`, no
    /// lookaround: rewrite such a rule's pattern, or decline in its handler, and say so in a comment).
    pub pattern: &'static str,
    pub handler: Option<Handler>,
    pub needs_id: Option<bool>,
    pub needles: &'static [&'static str],
}
