//! `hostident.py`: host and ident groups in free text, where Exim's own `H=`/`U=` group starts and ends.

use crate::body::{Event, Obj};
use crate::doc::Value;
use crate::fields::{host_group, non_space_end};
use regex::Regex;
use std::sync::OnceLock;

/// `scan_host_ident`: `tags.scan` as on an arrival line, from the text's start.
pub(crate) fn scan_host_ident(ev: &mut Event, text: &str, side: &str) -> usize {
    ev.scan(text, 0, true, side)
}

/// `full_host`: a host as written after `from` (`name (helo) [ip]:port`, `H=…`), or a local login.
pub(crate) fn full_host(ev: &mut Event, text: &str, side: &str) {
    let text = text.trim();
    if text.is_empty() {
        return;
    }
    thread_local! {
        // The `H=`-led copy the scan reads, its buffer kept: a connection line's host came with an
        // allocation of its own.
        static PROBE: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
    }
    let hosted = PROBE.with_borrow_mut(|probe| {
        probe.clear();
        if !(text.starts_with("H=") || text.starts_with("U=")) {
            probe.push_str("H=");
        }
        probe.push_str(text);
        // Only a group that runs to the end counts: a partial parse must leave no host behind.
        if !probe.starts_with("H=") {
            return false;
        }
        let Some((g, end)) = host_group(probe, 0) else {
            return false;
        };
        let mut scratch = Event {
            doc: Obj::new(),
            exim: Obj::new(),
        };
        // The scan's own first step on a fresh event (its group read once, not twice).
        scratch.host(side, &g);
        if scratch.scan(probe, end, true, side) < probe.len() {
            return false;
        }
        // A section or the fields the event has none of yet are moved in whole, not member by member.
        for (name, section) in scratch.doc {
            if let Value::Object(o) = section {
                if ev.doc.contains_key(&name) {
                    ev.sec(&name).extend(o);
                } else {
                    ev.doc.insert(name, o.into());
                }
            }
        }
        if ev.exim.is_empty() {
            ev.exim = scratch.exim;
            return true;
        }
        ev.exim.extend(scratch.exim);
        true
    });
    if !hosted {
        let ident = text.strip_prefix("U=").unwrap_or(text);
        ev.exim.insert("ident".into(), ident.into());
    }
}

fn tail_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    R.get_or_init(|| {
        Regex::new(&super::python_spaces(
            r"\A(?: (?:I=\[[^\]\s]*\](?::\w+)?|U=\S+|Ci=\S+))*\z",
        ))
        .expect("ident tail")
    })
}

/// `ident_tail_ends`: whether only Exim's own ` I=…`, ` U=…`, ` Ci=…` follow a host group to the end.
pub(crate) fn ident_tail_ends(text: &str, end: usize) -> bool {
    tail_re().is_match(&text[end..])
}

/// `trailing_host_at`: where the rightmost `H=…` (else `U=…`) group Exim wrote last starts.
pub(crate) fn trailing_host_at(text: &str) -> Option<usize> {
    for key in [" H=", " U="] {
        let mut found = text.rfind(key);
        while let Some(pos) = found {
            if let Some(end) = host_and_ident_end(text, pos + 1) {
                if ident_tail_ends(text, end) {
                    return Some(pos + 1);
                }
            }
            found = text[..pos].rfind(key);
        }
    }
    None
}

/// `unescaped_quotes_before_host`: positions of `"` followed by ` H=` or ` U=` that are not escaped.
pub(crate) fn unescaped_quotes_before_host(text: &str) -> Vec<usize> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i + 4 <= b.len() {
        if b[i] == b'"'
            && b[i + 1] == b' '
            && (b[i + 2] == b'H' || b[i + 2] == b'U')
            && b[i + 3] == b'='
        {
            let slashes = b[..i].iter().rev().take_while(|&&c| c == b'\\').count();
            if slashes % 2 == 0 {
                out.push(i);
            }
            i += 2;
            continue;
        }
        i += 1;
    }
    out
}

/// `host_and_ident_end`: where a well-formed `H=…` group or a local `U=ident` at `pos` ends.
pub(crate) fn host_and_ident_end(text: &str, pos: usize) -> Option<usize> {
    if text[pos..].starts_with("U=") {
        // `U=\S+(?= |$)`: the greedy run always ends at a space or the end.
        let end = non_space_end(text, pos + 2);
        return (end > pos + 2).then_some(end);
    }
    if !text[pos..].starts_with("H=") {
        return None;
    }
    host_group(text, pos).map(|(_, end)| end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_before_hosts() {
        assert_eq!(
            unescaped_quotes_before_host(r#"a" H=x \" H=y \\" U=z"#),
            vec![1, 16]
        );
    }

    #[test]
    fn trailing_groups() {
        let t = "x H=(a) [1.2.3.4] y H=b [5.6.7.8] I=[9.9.9.9]:25 U=me";
        assert_eq!(trailing_host_at(t), Some(20));
        assert_eq!(trailing_host_at("no host here"), None);
    }
}
