//! `process_lines.py`: its rules, in Python's order.

use super::rule::Rule;

pub fn rules() -> Vec<Rule> {
    Vec::new()
}
