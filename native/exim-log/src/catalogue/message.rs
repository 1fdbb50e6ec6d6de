//! Stub of `message_lines.py`'s rules (helper catB ports them): `MESSAGE_RULES[1:]`, in Python's order
//! without `Completed` (Python's index 0, which `crate::body` reads).

use super::rule::Rule;

pub fn rules() -> Vec<Rule> {
    Vec::new()
}
