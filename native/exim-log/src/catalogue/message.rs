//! Per-message status lines (`shipper/exim/message_lines.py`): frozen, removed, queued, queue admin,
//! rewrites, transport output, remote and TLS errors. `Completed` (Python's `MESSAGE_RULES[0]`) is
//! [`crate::body`]'s; this list is `MESSAGE_RULES[1:]`.
//!
//! Patterns are Python's with `\s`/`\S` widened to Python's whitespace (`\x1c`-`\x1f` are space to
//! Python's `str.isspace`, not to Unicode's `White_Space`), so a body means the same to both.

use super::rule::{h_who, with_needles as rule, Rule};
use super::{group as opt, took_part};
use crate::body::{ErrorOpts, Event};
use crate::fields::{strip_angle, HostGroup};
use regex::{Captures, Regex};
use std::sync::OnceLock;

/// `grammar.ADDRESS`: quoted parts of a local part may hold spaces and `>`.
macro_rules! address {
    () => {
        r#"(?:"(?:[^"\\]|\\.)*"|[^\s\x1c-\x1f"])+"#
    };
}
pub(crate) use address;

/// `grammar.ANGLE_ADDRESS`: `<address>`; a `>` inside a quoted local part does not close it.
macro_rules! angle_address {
    () => {
        r#"<(?:"(?:[^"\\]|\\.)*"|[^>"])*>"#
    };
}

/// Python's `m.group(name)` of a group the match always sets (`""` when it did not take part).
pub(crate) fn text<'t>(m: &Captures<'t>, name: &str) -> &'t str {
    took_part(m, name).unwrap_or("")
}

fn h_queue_admin(ev: &mut Event, m: &Captures<'_>) -> Option<&'static str> {
    h_who(ev, m);
    if let Some(new) = opt(m, "new") {
        ev.exim.insert("new_sender".into(), strip_angle(new).into());
    } else if let Some(rcpt) = opt(m, "rcpt").or_else(|| opt(m, "added")) {
        ev.recipients(&[strip_angle(rcpt)]);
    }
    None
}

fn h_error_ignored(ev: &mut Event, m: &Captures<'_>) -> Option<&'static str> {
    let addr = text(m, "addr");
    ev.exim.insert("address".into(), addr.into());
    ev.recipients(&[addr]);
    if let Some(top) = opt(m, "top") {
        // `<…>`: both brackets are ASCII.
        ev.exim
            .insert("original_address".into(), top[1..top.len() - 1].into());
    }
    if let Some(why) = opt(m, "why") {
        ev.exim.insert("reason".into(), why.into());
    }
    None
}

fn h_transport_output(ev: &mut Event, m: &Captures<'_>) -> Option<&'static str> {
    ev.exim.insert("address".into(), text(m, "addr").into());
    ev.exim.insert("transport".into(), text(m, "t").into());
    ev.exim
        .insert("transport_output".into(), text(m, "out").into());
    None
}

fn h_remote_error(ev: &mut Event, m: &Captures<'_>) -> Option<&'static str> {
    ev.error_with(&m[0], &ErrorOpts::new(None));
    None
}

fn h_tls_out(ev: &mut Event, m: &Captures<'_>) -> Option<&'static str> {
    static HOST: OnceLock<Regex> = OnceLock::new();
    let host = HOST.get_or_init(|| {
        Regex::new(r"(?:H=|to )([^\s\x1c-\x1f]+) \[([^\]]+)\]").expect("tls host pattern")
    });
    let text = &m[0];
    if let Some(hm) = host.captures(text) {
        let g = HostGroup {
            address: hm.get(2).map_or("", |x| x.as_str()),
            name: hm.get(1).map(|x| x.as_str()),
            helo: None,
            ds: false,
            port: None,
            reuse: false,
            raw: None,
        };
        ev.host("destination", &g);
    }
    let how = ErrorOpts {
        stage: Some("tls"),
        context: Some("tls"),
        ..ErrorOpts::new(Some(true))
    };
    ev.error_with(text, &how);
    None
}

fn h_prdr(ev: &mut Event, m: &Captures<'_>) -> Option<&'static str> {
    if let Some(r) = opt(m, "r") {
        ev.recipients(&[r]);
    }
    ev.exim.insert("reason".into(), text(m, "res").into());
    None
}

fn h_rewrite(ev: &mut Event, m: &Captures<'_>) -> Option<&'static str> {
    let mut o = crate::body::Obj::new();
    for (key, name) in [
        ("from", "old"),
        ("where", "where"),
        ("to", "new"),
        ("rule", "rule"),
    ] {
        o.insert(key.into(), text(m, name).into());
    }
    ev.exim.insert("rewrite".into(), o.into());
    None
}

/// `MESSAGE_RULES[1:]` in Python's order (index 0 here is Python's index 1).
pub fn rules() -> Vec<Rule> {
    vec![
        rule(
            "message_frozen",
            r"(?s)Frozen(?: (?P<why>.*))?[\s\x1c-\x1f]*\z",
            Some(h_who),
            &[],
        ),
        rule(
            "message_frozen",
            r"(?s)frozen by (?P<who>.*)",
            Some(h_who),
            &[],
        ),
        rule("message_frozen_skipped", r"(?s)Message is frozen", None, &[]),
        rule(
            "message_unfrozen",
            r"(?s)[Uu]nfrozen by (?P<who>.*)",
            Some(h_who),
            &["nfrozen by "],
        ),
        rule(
            "message_removed",
            r"(?s)removed by (?P<who>.*)",
            Some(h_who),
            &[],
        ),
        rule(
            "message_cancelled",
            r"(?s)cancelled by (?P<who>.*)",
            Some(h_who),
            &[],
        ),
        rule(
            "message_queued",
            r"(?s)no immediate delivery: (?P<why>.*)",
            Some(h_who),
            &[],
        ),
        rule(
            "spool_locked",
            r"(?s)Spool file (?:for [^\s\x1c-\x1f]+ )?is locked",
            None,
            &[],
        ),
        rule(
            "error_ignored",
            concat!(
                "(?s)(?P<addr>",
                address!(),
                ")(?: (?P<top>",
                angle_address!(),
                "))?: error ignored(?:: (?P<why>.*))?"
            ),
            Some(h_error_ignored),
            &[": error ignored"],
        ),
        rule(
            "transport_output",
            r"(?s)(?P<addr>.*?): (?P<t>[^\s\x1c-\x1f]+) transport output: (?P<out>.*)",
            Some(h_transport_output),
            &[" transport output: "],
        ),
        rule(
            "remote_smtp_error",
            r"(?s)SMTP error from remote (?:mail server|mailer) after .*",
            Some(h_remote_error),
            &[],
        ),
        rule("tls_fallback", r"(?s)TLS session: .*", Some(h_tls_out), &[]),
        rule(
            "tls_error",
            concat!(
                r"(?s)(?:DANE attempt failed|DANE error|Required TLS certificate status not received|Server ",
                r"certificate revoked|TLS (?:negotiation )?failed|OCSP dates invalid|\(SSL_CTX_\w+).*"
            ),
            Some(h_tls_out),
            &[],
        ),
        rule(
            "prdr_result",
            r"(?s)PRDR (?:R=<(?P<r>[^>]*)> )?(?P<res>.*)",
            Some(h_prdr),
            &[],
        ),
        rule(
            "queue_admin",
            concat!(
                "(?s)(?:address (?P<rcpt>",
                angle_address!(),
                ") marked delivered|recipient (?P<added>",
                angle_address!(),
                ") added|sender address changed to (?P<new>",
                angle_address!(),
                ")|message marked (?:delivered|frozen)|all recipients marked delivered)(?: by (?P<who>.*))?"
            ),
            Some(h_queue_admin),
            &[],
        ),
        rule("message_moved", r"(?s)moved from .*", None, &[]),
        rule(
            "system_filter",
            concat!(
                r"(?s)(?:original recipients ignored \(system filter\)|Delivery deferred by system filter|Error in ",
                r"system filter: |=> discarded \(system filter\)).*"
            ),
            None,
            &[],
        ),
        rule(
            "address_rewritten",
            concat!(
                r#"(?s)"(?P<old>[^"]*)" from (?P<where>.*?) rewritten (?:as|with) (?:\(address part of\) )?"#,
                r#""(?P<new>[^"]*)" by (?P<rule>.*)"#
            ),
            Some(h_rewrite),
            &[" rewritten "],
        ),
    ]
}

/// Test support: what the catalogue makes of a body (with a message id), hints left out (the taxonomy's
/// tests cover them), as one JSON object like Python's `ev.doc` with `ev.exim` under `exim`.
#[cfg(test)]
pub(crate) fn parsed(body: &str, msgid: Option<&str>) -> (&'static str, serde_json::Value) {
    fn strip(v: &mut serde_json::Value) {
        if let serde_json::Value::Object(o) = v {
            o.remove("hint");
            o.values_mut().for_each(strip);
        }
    }
    let mut ev = Event {
        doc: crate::body::Obj::new(),
        exim: crate::body::Obj::new(),
    };
    let action = super::parse_other(&mut ev, body, msgid);
    let mut doc = ev.doc;
    if !ev.exim.is_empty() {
        doc.insert("exim".into(), ev.exim.into());
    }
    let mut v = serde_json::to_value(&doc).expect("a document");
    strip(&mut v);
    (action, v)
}

/// Test support: every case's action and fields equal Python's (`lines.parse_other` on the same body,
/// printed by `orjson` with sorted keys, hints left out).
#[cfg(test)]
pub(crate) fn assert_cases(cases: &[(&str, &str, &str)]) {
    for &(body, action, want) in cases {
        let (got_action, got) = parsed(body, Some("1tXaaa-00000001abc-0ABC"));
        assert_eq!(got_action, action, "{body}");
        let want: serde_json::Value = serde_json::from_str(want).expect("a case's JSON");
        assert_eq!(got, want, "{body}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_cases() {
        // Bodies from tests/unit/test_line_types.py and edge cases; the JSON is Python's.
        assert_cases(&[
            (
                r#"Frozen (delivery error message)  "#,
                "message_frozen",
                r#"{"exim":{"reason":"(delivery error message)"}}"#,
            ),
            (
                r#"frozen by ACL"#,
                "message_frozen",
                r#"{"exim":{"by":"ACL"}}"#,
            ),
            (
                r#"unfrozen by  admin  "#,
                "message_unfrozen",
                r#"{"exim":{"by":"admin"}}"#,
            ),
            (r#"Message is frozen"#, "message_frozen_skipped", r#"{}"#),
            (
                r#""a b"@x.example <"c>d"@y.example>: error ignored: because"#,
                "error_ignored",
                r#"{"email":{"to":{"address":["\"a b\"@x.example"]}},"exim":{"address":"\"a b\"@x.example","original_address":"\"c>d\"@y.example","reason":"because"}}"#,
            ),
            (
                r#"|/bin/x a: pipe transport output: out: more"#,
                "transport_output",
                r#"{"exim":{"address":"|/bin/x a","transport":"pipe","transport_output":"out: more"}}"#,
            ),
            (
                r#"SMTP error from remote mail server after RCPT TO:<a@b.example>: host mx.b.example [192.0.2.1]: 550 5.1.1 <a@b.example>: no such user"#,
                "remote_smtp_error",
                r#"{"destination":{"address":"192.0.2.1","domain":"mx.b.example","ip":"192.0.2.1"},"exim":{"error":{"class":"unknown_user","enhanced_code":"5.1.1","message":"SMTP error from remote mail server after RCPT TO:<a@b.example>: host mx.b.example [192.0.2.1]: 550 5.1.1 <a@b.example>: no such user","smtp_code":550,"stage":"rcpt","temporary":false,"text":"<a@b.example>: no such user"}}}"#,
            ),
            (
                r#"TLS session: (certificate verification failed): certificate invalid: delivering unencrypted to H=127.0.0.1 [127.0.0.1] (not in hosts_require_tls)"#,
                "tls_fallback",
                r#"{"destination":{"address":"127.0.0.1","domain":"H=127.0.0.1","ip":"127.0.0.1"},"exim":{"error":{"class":"tls_failure","message":"TLS session: (certificate verification failed): certificate invalid: delivering unencrypted to H=127.0.0.1 [127.0.0.1] (not in hosts_require_tls)","stage":"tls","temporary":true,"text":"TLS session: (certificate verification failed): certificate invalid: delivering unencrypted to H=127.0.0.1 [127.0.0.1] (not in hosts_require_tls)"}}}"#,
            ),
            (
                r#"DANE attempt failed; TLS connection to mx.example [192.0.2.9]: whatever"#,
                "tls_error",
                r#"{"destination":{"address":"192.0.2.9","domain":"mx.example","ip":"192.0.2.9"},"exim":{"error":{"class":"tls_failure","message":"DANE attempt failed; TLS connection to mx.example [192.0.2.9]: whatever","stage":"tls","temporary":true,"text":"DANE attempt failed; TLS connection to mx.example [192.0.2.9]: whatever"}}}"#,
            ),
            (
                r#"sender address changed to <new@x.example> by root"#,
                "queue_admin",
                r#"{"exim":{"by":"root","new_sender":"new@x.example"}}"#,
            ),
            (
                r#"recipient <c@d.example> added by admin"#,
                "queue_admin",
                r#"{"email":{"to":{"address":["c@d.example"]}},"exim":{"by":"admin"}}"#,
            ),
            (
                r#""a@b" from env-to rewritten with (address part of) "c@d" by rule 3"#,
                "address_rewritten",
                r#"{"exim":{"rewrite":{"from":"a@b","rule":"rule 3","to":"c@d","where":"env-to"}}}"#,
            ),
            (
                r#"PRDR R=<a@b.example> refusal"#,
                "prdr_result",
                r#"{"email":{"to":{"address":["a@b.example"]}},"exim":{"reason":"refusal"}}"#,
            ),
        ]);
    }

    #[test]
    fn no_match_and_needles() {
        assert_eq!(parsed("Frozenx", None).0, "unrecognized");
        // `transport output` needs its needle: a body without it is never tried.
        assert_eq!(parsed("a: b transport outputs", None).0, "unrecognized");
    }

    #[test]
    fn whitespace_means_what_it_means_to_python() {
        // `\x1c` is whitespace to Python's `\s`: the widened class takes it as Python does.
        let re = Regex::new(r"\A(?s)Frozen(?: (?P<why>.*))?[\s\x1c-\x1f]*\z").unwrap();
        assert!(re.is_match("Frozen\x1c"));
        assert_eq!(h_who_reason("  x\x1d "), "x");
    }

    fn h_who_reason(why: &str) -> String {
        let re = Regex::new(r"(?s)\A(?P<why>.*)\z").unwrap();
        let m = re.captures(why).unwrap();
        let mut ev = Event {
            doc: crate::body::Obj::new(),
            exim: crate::body::Obj::new(),
        };
        h_who(&mut ev, &m);
        ev.exim["reason"].as_str().unwrap().to_string()
    }
}
