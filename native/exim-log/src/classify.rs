//! The SMTP error taxonomy (`shipper/exim/classify.py`, `data/taxonomy.json`): the facts of an error
//! text (stage, remote host, codes, response), its class, permanence and hint.

use crate::fields::{py_space, unescape};
use crate::tables::{self, ErrorClassRow};
use crate::text::py_decimal;
use regex::Regex;
use std::collections::HashMap;
use std::sync::OnceLock;

struct Compiled {
    classes: Vec<(&'static ErrorClassRow, Option<Regex>)>,
    /// Per text pattern that holds one, a literal every match of it holds (ASCII case folded).
    literals: aho_corasick::AhoCorasick,
    /// Per literal of `literals`, the index of its class.
    literal_class: Vec<usize>,
    /// The classes, as bits, with a text pattern `literals` has no literal of: always tried.
    always: u64,
    by_name: HashMap<&'static str, usize>,
    remote_router: Regex,
    local_router: Regex,
    code: Regex,
    lead_code: Regex,
    after: Regex,
}

fn alternatives(alts: &[String]) -> Option<Regex> {
    if alts.is_empty() {
        return None;
    }
    Some(
        Regex::new(&format!("(?i){}", alts.join("|")))
            .expect("taxonomy.json: a pattern regex rejects"),
    )
}

/// The longest literal run that every match of `alt` (one of a class's text patterns) holds: the
/// text outside groups and classes between metacharacters, a character made optional by its `?`,
/// `*` or `{` left out. None when there is none, or when `alt` holds a top-level `|`.
fn required_literal(alt: &str) -> Option<String> {
    const META: &str = "\\.^$*+?{}[]|()";
    let chars: Vec<char> = alt.chars().collect();
    let (mut best, mut run) = (String::new(), String::new());
    let mut depth = 0usize;
    let mut i = 0;
    while i < chars.len() {
        let ch = chars[i];
        let optional = chars.get(i + 1).is_some_and(|c| "?*{".contains(*c));
        if depth == 0 && !META.contains(ch) && !optional {
            run.push(ch);
            i += 1;
            continue;
        }
        if run.chars().count() > best.chars().count() {
            best = std::mem::take(&mut run);
        }
        run.clear();
        match ch {
            '\\' => i += 1,
            '(' | '[' => depth += 1,
            ')' | ']' => depth = depth.saturating_sub(1),
            '|' if depth == 0 => return None,
            _ => {}
        }
        i += 1;
    }
    if run.chars().count() > best.chars().count() {
        best = run;
    }
    (!best.is_empty()).then_some(best)
}

fn compiled() -> &'static Compiled {
    static C: OnceLock<Compiled> = OnceLock::new();
    C.get_or_init(|| {
        let t = tables::taxonomy();
        let classes: Vec<_> = t.classes.iter().map(|c| (c, alternatives(&c.text))).collect();
        assert!(classes.len() <= 64, "taxonomy.json: the classes outgrow a u64");
        let (mut lits, mut literal_class, mut always) = (Vec::new(), Vec::new(), 0u64);
        for (i, c) in t.classes.iter().enumerate() {
            for alt in &c.text {
                match required_literal(alt) {
                    Some(l) => {
                        lits.push(l);
                        literal_class.push(i);
                    }
                    None => always |= 1 << i,
                }
            }
        }
        // A DFA (the builder picks an NFA for this many literals): about 0.8 MB built once at the
        // first error, one step a byte.
        let literals = aho_corasick::AhoCorasick::builder()
            .kind(Some(aho_corasick::AhoCorasickKind::DFA))
            .ascii_case_insensitive(true)
            .build(&lits)
            .expect("taxonomy literals");
        let by_name = t
            .classes
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name.as_str(), i))
            .collect();
        Compiled {
            classes,
            literals,
            literal_class,
            always,
            by_name,
            remote_router: alternatives(&t.routers.remote).expect("remote routers"),
            local_router: alternatives(&t.routers.local).expect("local routers"),
            // `_CODE_RE`'s closing `\b` is read in `codes`, with Python's `\w` (the crate's takes marks).
            // Python's `\s` holds `\x1c`-`\x1f`.
            code: Regex::new(r"^(?P<code>[245]\d\d)(?:[-\s\x1c-\x1f]+(?P<enh>[245]\.\d{1,3}\.\d{1,3}))?")
                .expect("code"),
            lead_code: Regex::new(
                r"(?m)^[\s\x1c-\x1f]*[245]\d\d(?:[-\s\x1c-\x1f]+[245]\.\d{1,3}\.\d{1,3})?[-\s\x1c-\x1f]?",
            )
            .expect("lead code"),
            after: Regex::new(
                r"(?:SMTP timeout|timed out|Remote host closed connection|closed connection) (?:in response to |after |while )(?P<after>[A-Za-z][A-Za-z ]*)",
            )
            .expect("after"),
        }
    })
}

/// `stage_of`.
pub fn stage_of(after: &str) -> Option<&'static str> {
    let low = after.to_lowercase();
    tables::taxonomy()
        .command_stages
        .iter()
        .find(|s| low.starts_with(&s.prefix))
        .map(|s| s.stage.as_str())
}

/// `clean_response`.
pub fn clean_response(resp: &str) -> String {
    let text = unescape(resp).replace('\r', "");
    let text = compiled().lead_code.replace_all(&text, "");
    text.split(py_space)
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// What `smtp_error` found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SmtpFacts {
    pub stage: Option<&'static str>,
    pub host: Option<(String, String)>,
    pub smtp_code: Option<u16>,
    pub enhanced: Option<String>,
    pub text: Option<String>,
}

/// `_CODE_RE.match(text.lstrip())`: (code, enhanced).
fn codes(text: &str) -> Option<(u16, Option<String>)> {
    let t = text.trim_start_matches(py_space);
    // The pattern starts `^[245]`: most texts fail on their first byte, without the captures' search.
    if !matches!(t.as_bytes().first(), Some(b'2' | b'4' | b'5')) {
        return None;
    }
    let m = compiled().code.captures(t)?;
    // `int()` of `[245]\d\d`: the two digits may be of any script.
    let code = &m["code"];
    // `\b` after the enhanced code: a word character next fails the optional group (a shorter digit
    // run would end before a digit, a word character too).
    let enh = m
        .name("enh")
        .filter(|e| {
            !t[e.end()..]
                .chars()
                .next()
                .is_some_and(crate::text::py_word)
        })
        .map(|e| e.as_str().to_string());
    let code = crate::text::py_int(code)
        .and_then(|n| u16::try_from(n).ok())
        .unwrap_or(0);
    Some((code, enh))
}

/// The lazy `after` of `_SMTP_ERROR_RE` from `i`: the end of `after` (where `:\s` starts), or None.
fn after_end(s: &str, mut i: usize) -> Option<usize> {
    let b = s.as_bytes();
    while i < b.len() {
        match b[i] {
            b':' => {
                if s[i + 1..].chars().next().is_some_and(py_space) {
                    return Some(i);
                }
                i += 1;
            }
            b'<' => {
                // `<(?:"[^"]*"|[^>"])*>`
                let mut k = i + 1;
                loop {
                    match b.get(k)? {
                        b'>' => break,
                        b'"' => k += 1 + s[k + 1..].find('"')? + 1,
                        _ => k += 1,
                    }
                }
                i = k + 1;
            }
            _ => i += 1,
        }
    }
    None
}

/// `smtp_error`.
pub fn smtp_error(message: &str) -> SmtpFacts {
    let mut out = SmtpFacts::default();
    let mut from = 0;
    while let Some(k) = message[from..].find("SMTP error from remote ") {
        let at = from + k;
        from = at + 1;
        let tail = &message[at + "SMTP error from remote ".len()..];
        let lead = if tail.starts_with("mail server after ") {
            "mail server after ".len()
        } else if tail.starts_with("mailer after ") {
            "mailer after ".len()
        } else {
            continue;
        };
        let start = at + "SMTP error from remote ".len() + lead;
        let Some(end) = after_end(message, start) else {
            continue;
        };
        out.stage = stage_of(&message[start..end]);
        let ws = message[end + 1..].chars().next().map_or(1, char::len_utf8);
        let mut rest = &message[end + 1 + ws..];
        if let Some(h) = rest.strip_prefix("host ") {
            let n = h.find(|c: char| py_space(c) || c == '[').unwrap_or(h.len());
            if n > 0 {
                let after_name = &h[n..];
                let br = after_name.strip_prefix(' ').unwrap_or(after_name);
                if let Some(ipr) = br.strip_prefix('[') {
                    if let Some(close) = ipr.find(']') {
                        let after_ip = &ipr[close + 1..];
                        if let Some(colon) = after_ip.strip_prefix(':') {
                            if let Some(c) = colon.chars().next().filter(|&c| py_space(c)) {
                                out.host = Some((h[..n].to_string(), ipr[..close].to_string()));
                                rest = &colon[c.len_utf8()..];
                            }
                        }
                    }
                }
            }
        }
        if let Some((code, enh)) = codes(rest) {
            out.smtp_code = Some(code);
            out.enhanced = enh;
        }
        out.text = Some(clean_response(rest));
        return out;
    }
    if let Some(m) = compiled().after.captures(message) {
        out.stage = stage_of(&m["after"]);
    }
    out
}

/// `response_codes`: (code, enhanced).
pub fn response_codes(text: &str) -> (Option<u16>, Option<String>) {
    if let Some((code, enh)) = codes(text) {
        return (Some(code), enh);
    }
    // `_LEAD_ENH_RE`: `\s*(?P<enh>[245]\.\d{1,3}\.\d{1,3})(?=\s|$)`, `\d` of any script. A run of
    // digits longer than three fails either way (the next character is a digit, neither `.` nor `\s`).
    let t = text.trim_start_matches(py_space);
    let mut chars = t.char_indices().peekable();
    if !matches!(chars.next(), Some((_, '2' | '4' | '5'))) || chars.next().map(|c| c.1) != Some('.')
    {
        return (None, None);
    }
    fn run(chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>) -> Option<Option<char>> {
        let mut n = 0;
        while n < 3 && chars.peek().is_some_and(|&(_, c)| py_decimal(c).is_some()) {
            chars.next();
            n += 1;
        }
        // The character after the run (None at the end); None for no digit.
        (n > 0).then(|| chars.peek().map(|&(_, c)| c))
    }
    if run(&mut chars) != Some(Some('.')) {
        return (None, None);
    }
    chars.next();
    if !run(&mut chars).is_some_and(|c| c.map_or(true, py_space)) {
        return (None, None);
    }
    let e = chars.peek().map_or(t.len(), |&(i, _)| i);
    (None, Some(t[..e].to_string()))
}

/// `routed_locally`.
pub fn routed_locally(router: Option<&str>) -> bool {
    let c = compiled();
    router.is_some_and(|r| {
        !r.is_empty() && c.local_router.is_match(r) && !c.remote_router.is_match(r)
    })
}

/// `hint_for`.
pub fn hint_for(name: &str, local: bool) -> String {
    let t = tables::taxonomy();
    if local {
        if let Some(h) = t.local_hints.get(name) {
            return h.clone();
        }
    }
    if let Some(&i) = compiled().by_name.get(name) {
        return t.classes[i].hint.clone();
    }
    let generic = |n: &str| {
        t.generic
            .values()
            .find(|g| g.name == n)
            .map(|g| g.hint.clone())
    };
    generic(name)
        .or_else(|| generic(&t.generic["permanent"].name))
        .unwrap_or_default()
}

pub fn is_connect_class(name: &str) -> bool {
    tables::taxonomy().connect_classes.iter().any(|c| c == name)
}

/// The first class in table order whose text patterns match somewhere in `text`. On ASCII text only
/// the classes with a required literal there (or none known) run their pattern: most texts hold
/// none of them, and trying all 25 in turn was most of an error's cost. Beyond ASCII `(?i)` folds
/// more than ASCII (`K` for `k`, `ſ` for `s`): every pattern runs, in turn.
fn text_class(text: &str) -> Option<usize> {
    let c = compiled();
    let tries = |i: usize| c.classes[i].1.as_ref().is_some_and(|r| r.is_match(text));
    if !text.is_ascii() {
        return (0..c.classes.len()).find(|&i| tries(i));
    }
    let mut bits = c.always;
    for m in c.literals.find_overlapping_iter(text) {
        bits |= 1 << c.literal_class[m.pattern().as_usize()];
    }
    while bits != 0 {
        let i = bits.trailing_zeros() as usize;
        if tries(i) {
            return Some(i);
        }
        bits &= bits - 1;
    }
    None
}

/// `classify`: (class, temporary). `context` is the line's own kind (`tls`, `sender_verify`, …), which
/// decides before any code or text; `default` is the line type's class when nothing else matched.
pub fn classify(
    text: &str,
    smtp_code: Option<u16>,
    enhanced: Option<&str>,
    errno: Option<&str>,
    temporary: Option<bool>,
    context: Option<&str>,
    default: Option<&str>,
) -> (String, bool) {
    let c = compiled();
    let t = tables::taxonomy();
    let mut temporary = temporary;
    if let Some(code) = smtp_code {
        temporary = Some(code < 500);
    } else if let Some(e) = enhanced.filter(|e| !e.is_empty()) {
        temporary = Some(e.starts_with('4'));
    }
    let mut chosen: Option<&ErrorClassRow> = context
        .and_then(|x| t.context_classes.get(x))
        .and_then(|name| c.by_name.get(name.as_str()))
        .map(|&i| &t.classes[i]);
    if chosen.is_none() {
        if let Some(e) = enhanced.filter(|e| !e.is_empty()) {
            chosen = c
                .classes
                .iter()
                .map(|x| x.0)
                .find(|x| x.enhanced.iter().any(|v| v == e));
        }
    }
    if chosen.is_none() {
        if let Some(n) = errno.filter(|e| !e.is_empty()) {
            chosen = c
                .classes
                .iter()
                .map(|x| x.0)
                .find(|x| x.errnos.iter().any(|v| v == n));
        }
    }
    if chosen.is_none() && !text.is_empty() {
        chosen = text_class(text).map(|i| &t.classes[i]);
    }
    if chosen.is_none() {
        if let Some(name) = smtp_code.and_then(|code| t.code_defaults.get(&code.to_string())) {
            chosen = c.by_name.get(name.as_str()).map(|&i| &t.classes[i]);
        } else if enhanced.is_some_and(|e| e.get(2..4) == Some("7.")) {
            chosen = c.by_name.get("policy_rejection").map(|&i| &t.classes[i]);
        } else if let Some(name) = default {
            chosen = c.by_name.get(name).map(|&i| &t.classes[i]);
        }
    }
    let Some(chosen) = chosen else {
        let is_temp = temporary.unwrap_or(false);
        let g = if is_temp { "temporary" } else { "permanent" };
        return (t.generic[g].name.clone(), is_temp);
    };
    if chosen.temporary.is_some() && smtp_code.is_none() {
        temporary = chosen.temporary;
    }
    (chosen.name.clone(), temporary.unwrap_or(false))
}

#[cfg(test)]
mod text_class_tests {
    use proptest::prelude::*;

    /// `text_class` against the classes' patterns tried in turn, as Python's `classify` tries them.
    fn same_as_in_turn(text: &str) {
        let want = super::compiled()
            .classes
            .iter()
            .position(|x| x.1.as_ref().is_some_and(|r| r.is_match(text)));
        assert_eq!(super::text_class(text), want, "{text:?}");
    }

    #[test]
    fn the_required_literals_are_what_every_match_holds() {
        use super::required_literal as lit;
        assert_eq!(lit("timed? ?out").as_deref(), Some("time"));
        assert_eq!(lit("rate.?limit").as_deref(), Some("limit"));
        assert_eq!(lit(r"\bno ptr\b").as_deref(), Some("no ptr"));
        assert_eq!(lit(r"\[(?:TS|GL|TSS)\d\d\]"), None);
        assert_eq!(lit("a|bcd"), None);
        assert_eq!(
            lit("(?:domain|storage) size limit").as_deref(),
            Some(" size limit")
        );
        assert_eq!(
            lit("all hosts .* have been failing").as_deref(),
            Some(" have been failing")
        );
    }

    #[test]
    fn the_filtered_classes_are_the_classes_tried_in_turn() {
        for text in [
            "",
            "535 Incorrect authentication data",
            "relay not permitted",
            "No Such User Here",
            "Sender verify failed",
            "Retry time not yet reached",
            "sender verify defer: could not complete sender verify",
            "550 5.1.1 <a@b.example>: Recipient address rejected: User unknown in virtual mailbox table",
            "SMTP timeout after initial connection: Connection timed out",
            "retry time not reached for any host for 'gmail.com'",
            "SSL_accept: TLS session: (gnutls_handshake): A TLS packet with unexpected length was received.",
            "451 [TS03] throttled",
            "spam and virus and policy",
            "blocked by spamhaus, TLS, HELO",
            "Connection refused",
            "nothing known here",
            "ip 1.2.3.4 is blocklisted",
            "\u{130}mpersonat\u{131}on of HEL\u{d6}",
            "t\u{93f}ls ssl\u{93f} h\u{e9}lo",
            "\u{212a}nown: ove\u{17f} quota, \u{17f}pam",
        ] {
            same_as_in_turn(text);
        }
    }

    /// Pieces of the taxonomy's patterns (what real error texts hold), and word edges, digits and
    /// letters that case folds or word classes could read apart.
    fn pieces() -> Vec<String> {
        let mut v: Vec<String> = crate::tables::taxonomy()
            .classes
            .iter()
            .flat_map(|c| c.text.iter())
            .flat_map(|p| p.split(|c: char| !(c.is_alphanumeric() || c == ' ')))
            .filter(|p| !p.is_empty())
            .map(String::from)
            .collect();
        v.extend(
            [
                " ", "-", "_", "é", "\u{212a}", "\u{17f}", "\u{93f}", "K", "5", "[TS", "(#4.", ":",
                "\n", ".",
            ]
            .map(String::from),
        );
        v
    }

    proptest! {
        #[test]
        fn the_filter_agrees_with_the_patterns_in_turn_on_error_texts(
            parts in proptest::collection::vec(proptest::sample::select(pieces()), 0..8),
            upper in any::<bool>(),
        ) {
            let text = parts.concat();
            let text = if upper { text.to_uppercase() } else { text };
            same_as_in_turn(&text);
        }

        #[test]
        fn the_filter_agrees_with_the_patterns_in_turn_on_any_text(text in "\\PC{0,40}") {
            same_as_in_turn(&text);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_enhanced_codes_closing_boundary_is_pythons() {
        // CPython's `_CODE_RE.match`: a vowel sign (not `\w` for Python) ends the enhanced code, a
        // letter or a fourth digit fails it.
        let enh = |t: &str| codes(t).and_then(|(_, e)| e);
        assert_eq!(enh("550 5.5.0\u{93f} x").as_deref(), Some("5.5.0"));
        assert_eq!(enh("550 5.5.0é x"), None);
        assert_eq!(enh("550 5.5.0 x").as_deref(), Some("5.5.0"));
        assert_eq!(enh("550 5.5.1234 x"), None);
    }

    #[test]
    fn every_pattern_of_the_taxonomy_compiles() {
        assert_eq!(compiled().classes.len(), tables::taxonomy().classes.len());
    }

    #[test]
    fn codes_of_other_scripts_and_python_spaces_read_as_python_does() {
        // CPython's `response_codes`: `int()` of the code's digits, `\d` of any script in the enhanced
        // code, `\s` holding `\x1c`.
        assert_eq!(
            response_codes("5\u{665}\u{660} 5.1.1 no"),
            (Some(550), Some("5.1.1".into()))
        );
        assert_eq!(
            response_codes("5.1.\u{661} x"),
            (None, Some("5.1.\u{661}".into()))
        );
        assert_eq!(response_codes("5.1.1\u{661}\u{661}\u{661} x"), (None, None));
        assert_eq!(
            response_codes("550\x1c5.1.1 no"),
            (Some(550), Some("5.1.1".into()))
        );
    }

    #[test]
    fn smtp_error_facts() {
        let f = smtp_error(
            "SMTP error from remote mail server after RCPT TO:<a@b.example>: host mx.b.example [192.0.2.1]: 550 5.1.1 <a@b.example>: no such user",
        );
        assert_eq!(f.stage, Some("rcpt"));
        assert_eq!(f.host, Some(("mx.b.example".into(), "192.0.2.1".into())));
        assert_eq!(
            (f.smtp_code, f.enhanced.as_deref()),
            (Some(550), Some("5.1.1"))
        );
        assert_eq!(f.text.as_deref(), Some("<a@b.example>: no such user"));
        assert_eq!(response_codes("5.7.1 denied"), (None, Some("5.7.1".into())));
        assert_eq!(response_codes("See RFC 4.1.1.1"), (None, None));
    }

    #[test]
    fn classes() {
        assert_eq!(
            classify(
                "retry time not reached",
                None,
                None,
                None,
                Some(true),
                None,
                None
            )
            .0,
            "retry_time_not_reached"
        );
        assert_eq!(
            classify("nothing known", None, None, None, Some(false), None, None).0,
            "permanent_failure"
        );
        assert_eq!(
            classify("nothing known", Some(451), None, None, None, None, None),
            ("temporary_local_problem".into(), true)
        );
    }
}
