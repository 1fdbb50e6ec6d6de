//! Stub of `error_lines.py`'s rules (helper catB ports them), in Python's order.

use super::rule::Rule;

pub fn rules() -> Vec<Rule> {
    Vec::new()
}
