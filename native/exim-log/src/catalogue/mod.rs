//! The line catalogue (`shipper/exim/lines.py` `parse_other`): the rule modules in Python's match order.
//!
//! catB's thin dispatch over its own modules (message and error lines), to test them before catA's
//! `mod.rs` (which owns the dispatch, the ACL host lines and `_generic`) is merged: catA's replaces it.
//! The rules of catA's modules come first in Python's order, so a body one of them may match, and the
//! `H=`-start ACL lines, are declined here.

pub mod error;
pub mod message;
pub mod rule;

use crate::body::{Decline, Event, R};
use regex::Regex;
use rule::Rule;
use std::sync::OnceLock;

/// Each rule with its pattern, anchored as Python's `match` is and compiled once.
fn compiled() -> &'static [(Rule, Regex)] {
    static C: OnceLock<Vec<(Rule, Regex)>> = OnceLock::new();
    C.get_or_init(|| {
        message::rules()
            .into_iter()
            .chain(error::rules())
            .map(|r| {
                let re = Regex::new(&format!(r"\A(?:{})", r.pattern)).expect("a rule's pattern");
                (r, re)
            })
            .collect()
    })
}

/// `lines.parse_other` over the message and error rules.
pub fn parse_other(ev: &mut Event, body: &str, msgid: Option<&str>) -> R<&'static str> {
    if ["H=", "U=", "DS ", "F="]
        .iter()
        .any(|p| body.starts_with(p))
    {
        return Err(Decline);
    }
    for (rule, re) in compiled() {
        if rule.needs_id.is_some_and(|n| n != msgid.is_some()) {
            continue;
        }
        if !rule.needles.is_empty() && !rule.needles.iter().any(|n| body.contains(n)) {
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
            // `_generic`: none of these rules has a group it reads.
            None => {}
        }
        if action == "recipient_verify_failed" {
            if let (Some(who), Some(r)) = (m.name("who"), m.name("r")) {
                action = match (who.as_str(), r.as_str()) {
                    ("sender", "fail") => "sender_verify_failed",
                    ("sender", _) => "sender_verify_deferred",
                    (_, "fail") => "recipient_verify_failed",
                    _ => "recipient_verify_deferred",
                };
            }
        }
        return Ok(action);
    }
    Ok("unrecognized")
}
