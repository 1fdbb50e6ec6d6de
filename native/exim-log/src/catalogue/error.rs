//! Error, warning and scanner lines (`shipper/exim/error_lines.py`): router, config and expansion errors,
//! crashes, sa-exim, DKIM, panics, and pre-4.85 per-host delivery errors.
//!
//! Patterns are Python's with `\s`/`\S` widened to Python's whitespace (`\x1c`-`\x1f`, see
//! `message.rs`). Values Python reads with `int()`/`float()` take any Unicode digit here too.

use super::group as opt;
use super::hostident::{full_host, scan_host_ident};
use super::message::{address, text};
use super::rule::{h_text_error, with_needles as rule, Rule};
use crate::body::{ErrorOpts, Event, Obj};
use crate::doc::Value;
use crate::fields::HostGroup;
use regex::{Captures, Regex};
use std::sync::OnceLock;

fn h_old_host_error(ev: &mut Event, m: &Captures<'_>) -> Option<&'static str> {
    let g = HostGroup {
        address: text(m, "ip"),
        name: opt(m, "name"),
        helo: None,
        ds: false,
        port: None,
        reuse: false,
        raw: None,
    };
    ev.host("destination", &g);
    ev.error_with(text(m, "err"), &ErrorOpts::new(Some(true)));
    None
}

fn h_dkim(ev: &mut Event, m: &Captures<'_>) -> Option<&'static str> {
    static TAG: OnceLock<Regex> = OnceLock::new();
    // Python's `\w` (`str.isalnum()` or `_`: no marks) whatever the text.
    let tag = TAG.get_or_init(|| {
        Regex::new(r"(?:^| )([\p{L}\p{N}_]+)=([^\s\x1c-\x1f]*)").expect("dkim tag pattern")
    });
    let tags_text = text(m, "tags");
    let mut tags: Vec<(&str, &str)> = Vec::new();
    for c in tag.captures_iter(tags_text) {
        let (k, v) = (
            c.get(1).map_or("", |x| x.as_str()),
            c.get(2).map_or("", |x| x.as_str()),
        );
        // Exim writes its own tags first; a repeated tag comes from the signer's i= text.
        if !tags.iter().any(|&(t, _)| t == k) {
            tags.push((k, v));
        }
    }
    let get = |k: &str| tags.iter().find(|&&(t, _)| t == k).map(|&(_, v)| v);
    let res = text(m, "res");
    let mut verify = Obj::new();
    for (key, t) in [
        ("domain", "d"),
        ("selector", "s"),
        ("algorithm", "a"),
        ("identity", "i"),
        ("canonicalization", "c"),
    ] {
        if let Some(v) = get(t) {
            verify.insert(key.into(), v.into());
        }
    }
    // `isdecimal()`, then `int()`: digits of any script; beyond i64 (a `long`) left out.
    if let Some(bits) = get("b").and_then(super::int) {
        verify.insert("key_bits".into(), bits.into());
    }
    verify.insert("result".into(), res.into());
    let status = if res == "verification succeeded" {
        "pass"
    } else {
        res.split(' ').next().unwrap_or("")
    };
    verify.insert("status".into(), status.into());
    ev.exim.insert("dkim_verify".into(), verify.into());
    None
}

fn h_rejected_from(ev: &mut Event, m: &Captures<'_>) -> Option<&'static str> {
    static SIZE: OnceLock<Regex> = OnceLock::new();
    let size = SIZE.get_or_init(|| Regex::new(r"read=(\d+) max=(\d+)").expect("size pattern"));
    ev.sender(text(m, "s"));
    scan_host_ident(ev, text(m, "rest"), "source");
    let msg = text(m, "m");
    if let Some(rm) = size.captures(msg) {
        // `int()` of `\d+`: digits of any script; beyond i64 (a `long`) left out.
        if let Some(read) = super::int(&rm[1]) {
            ev.exim.insert("size".into(), read.into());
        }
        if let Some(max) = super::int(&rm[2]) {
            ev.exim.insert("size_limit".into(), max.into());
        }
    }
    let how = ErrorOpts {
        stage: Some("data"),
        side: "source",
        default: Some("policy_rejection"),
        ..ErrorOpts::new(Some(false))
    };
    ev.error_with(msg, &how);
    None
}

fn h_abandoned(ev: &mut Event, m: &Captures<'_>) -> Option<&'static str> {
    let how = ErrorOpts {
        stage: Some("data"),
        side: "source",
        ..ErrorOpts::new(Some(true))
    };
    ev.error_with(&m[0], &how);
    None
}

fn h_transport_failed(ev: &mut Event, m: &Captures<'_>) -> Option<&'static str> {
    ev.exim.insert("transport".into(), text(m, "t").into());
    let how = ErrorOpts {
        stage: Some("local"),
        ..ErrorOpts::new(Some(true))
    };
    ev.error_with(&m[0], &how);
    None
}

fn h_verify(ev: &mut Event, m: &Captures<'_>) -> Option<&'static str> {
    let context = match text(m, "who") {
        "sender" => "sender_verify",
        _ => "recipient_verify",
    };
    let how = ErrorOpts {
        context: Some(context),
        ..ErrorOpts::new(Some(text(m, "r") == "defer"))
    };
    ev.error_with(opt(m, "detail").unwrap_or(&m[0]), &how);
    if let Some(t) = opt(m, "t") {
        ev.exim.insert("transport".into(), t.into());
    }
    None
}

fn h_warning(ev: &mut Event, m: &Captures<'_>) -> Option<&'static str> {
    let w = opt(m, "w").unwrap_or(&m[0]);
    ev.exim.insert("warning".into(), w.into());
    None
}

fn h_overlong(ev: &mut Event, m: &Captures<'_>) -> Option<&'static str> {
    full_host(ev, text(m, "who"), "source");
    ev.exim.insert("reason".into(), text(m, "why").into());
    None
}

fn h_tainted_query(ev: &mut Event, m: &Captures<'_>) -> Option<&'static str> {
    let mut o = Obj::new();
    o.insert("where".into(), text(m, "where").into());
    o.insert("query".into(), text(m, "query").into());
    ev.exim.insert("lookup".into(), o.into());
    None
}

fn h_spool_missing(ev: &mut Event, m: &Captures<'_>) -> Option<&'static str> {
    ev.exim.insert("spool_file".into(), text(m, "file").into());
    None
}

fn h_scanner_internal(ev: &mut Event, m: &Captures<'_>) -> Option<&'static str> {
    ev.exim
        .insert("scanner_output".into(), text(m, "text").into());
    if let Some(how) = opt(m, "how") {
        ev.exim.insert("reason".into(), how.into());
    }
    None
}

/// sa-exim's patterns (Debian's sa-exim): `SA: Action: <what>: <status> (scanned in a/b secs |
/// Message-Id: <id>). From <sender> (host=<name> [<ip>]) for <recipients>`, the skipped checks, the
/// status's `key=number` pairs and the recipients.
struct SaPatterns {
    action: Regex,
    skipped: Regex,
    status: Regex,
    recipient: Regex,
}

fn sa_patterns() -> &'static SaPatterns {
    static P: OnceLock<SaPatterns> = OnceLock::new();
    P.get_or_init(|| SaPatterns {
        action: Regex::new(concat!(
            r"(?s)\ASA: Action: (?P<what>[^:(]*?)(?:: (?P<status>(?:hits|score)=[^\s\x1c-\x1f]+(?: \w+=[^\s\x1c-\x1f]+)*))? ",
            r"\((?:scanned in|time:) (?P<scan>\d+)/(?P<full>\d+) secs \| Message-Id: (?P<mid>[^)]*)\)\. ",
            "From <(?P<from>",
            in_angle_re!(),
            r")> \((?:host=(?P<name>[^\s\x1c-\x1f]*) \[(?P<ip>[^\]\s\x1c-\x1f]*)\]|local)\) for (?P<rcpts>.*)"
        ))
        .expect("sa action pattern"),
        skipped: Regex::new(concat!(
            r"(?s)\ASA: Action: (?P<what>check skipped due to message size|Not running SA because SAEximRunCond ",
            r"expanded to false)[^(]*\((?:[^)]*\bbytes\)[^(]*\()?Message-Id: (?P<mid>[^)]*)\)\. ",
            "From <(?P<from>",
            in_angle_re!(),
            r")> \((?:host=(?P<name>[^\s\x1c-\x1f]*) \[(?P<ip>[^\]\s\x1c-\x1f]*)\]|local)\) for (?P<rcpts>.*)"
        ))
        .expect("sa skipped pattern"),
        // Python's `\w` for the key; the closing `\b` is the crate's (an intended difference).
        status: Regex::new(r"([\p{L}\p{N}_]+)=(-?\d+(?:\.\d+)?)\b").expect("sa status pattern"),
        recipient: Regex::new(address!()).expect("address pattern"),
    })
}

/// `data/lines.json` `sa_exim_outcomes`: (prefix, verdict, action) by the text's first words.
fn sa_outcomes() -> &'static [(String, String, String)] {
    static O: OnceLock<Vec<(String, String, String)>> = OnceLock::new();
    O.get_or_init(|| {
        let table: serde_json::Value =
            serde_json::from_str(include_str!("../../../../shipper/exim/data/lines.json"))
                .expect("lines.json parses");
        let field = |row: &serde_json::Value, k: &str| {
            row[k].as_str().expect("an outcome's field").to_string()
        };
        table["sa_exim_outcomes"]
            .as_array()
            .expect("sa_exim_outcomes")
            .iter()
            .map(|row| {
                (
                    field(row, "prefix"),
                    field(row, "verdict"),
                    field(row, "action"),
                )
            })
            .collect()
    })
}

/// Python's `float()` of `-?\d+(?:\.\d+)?` (digits of any script); beyond a float's range `inf`,
/// which orjson writes as `null` (so does the core).
fn float_value(text: &str) -> Value {
    let f: f64 = crate::text::ascii_digits(text)
        .parse()
        .unwrap_or(f64::INFINITY);
    crate::doc::Number::from_f64(f).map_or(Value::Null, Value::Number)
}

fn h_sa_exim(ev: &mut Event, m: &Captures<'_>) -> Option<&'static str> {
    let p = sa_patterns();
    let body = &m[0];
    let Some(am) = p.action.captures(body).or_else(|| p.skipped.captures(body)) else {
        if let Some(text) = body.strip_prefix("SA: Action: ") {
            let mut spam = Obj::new();
            spam.insert("scanner".into(), "sa-exim".into());
            spam.insert("text".into(), text.into());
            ev.exim.insert("spam".into(), spam.into());
            return Some("spam_verdict");
        }
        // `kind.lower().rstrip("0123456789")`: a digit of another script after `Debug` stays.
        let kind = crate::text::py_lower(text(m, "kind"));
        let mut sa = Obj::new();
        sa.insert(
            "level".into(),
            kind.trim_end_matches(|c: char| c.is_ascii_digit()).into(),
        );
        sa.insert("text".into(), text(m, "text").into());
        ev.exim.insert("sa_exim".into(), sa.into());
        return Some(if kind == "panic" {
            "scanner_error"
        } else {
            "scanner_log"
        });
    };
    let what = text(&am, "what");
    let mut spam = Obj::new();
    spam.insert("scanner".into(), "sa-exim".into());
    if let Some((_, verdict, action)) = sa_outcomes().iter().find(|o| what.starts_with(&o.0)) {
        spam.insert("verdict".into(), verdict.as_str().into());
        spam.insert("action".into(), action.as_str().into());
    }
    if let Some(status) = opt(&am, "status") {
        for c in p.status.captures_iter(status) {
            let key = &c[1];
            let key = if key == "hits" || key == "score" {
                "score"
            } else {
                key
            };
            spam.insert(key.to_string().into(), float_value(&c[2]));
        }
    }
    if let Some(scan) = opt(&am, "scan") {
        spam.insert("scan_time".into(), float_value(scan));
    }
    spam.insert("header_message_id".into(), text(&am, "mid").into());
    ev.exim.insert("spam".into(), spam.into());
    ev.sender(text(&am, "from"));
    if let Some(ip) = opt(&am, "ip") {
        // sa-exim prints Exim's sender_host_name, which is set only when reverse DNS was verified.
        let g = HostGroup {
            address: ip,
            name: opt(&am, "name").filter(|&n| n != "(null)"),
            helo: None,
            ds: false,
            port: None,
            reuse: false,
            raw: None,
        };
        ev.host("source", &g);
    }
    // sa-exim joins the recipients with ", ".
    let rcpts: Vec<&str> = p
        .recipient
        .find_iter(text(&am, "rcpts"))
        .map(|r| r.as_str().trim_end_matches(','))
        .filter(|r| !r.is_empty())
        .collect();
    ev.recipients(&rcpts);
    Some("spam_verdict")
}

/// `ERROR_RULES` in Python's order.
pub fn rules() -> Vec<Rule> {
    vec![
        rule(
            "router_error",
            r"(?s)[^\s\x1c-\x1f]+ router: skipped error: .*",
            Some(h_text_error),
            &[" router: skipped error"],
        ),
        rule(
            "rewrite_error",
            r"(?s)qualify/rewrite: .*",
            Some(h_text_error),
            &[],
        ),
        rule(
            "spam_verdict",
            r"(?s)SA: (?P<kind>Action|Debug\d?|Notice|Warning|PANIC): (?P<text>.*)",
            Some(h_sa_exim),
            &[],
        ),
        rule(
            "message_abandoned",
            concat!(
                r"(?s)overlong message header line received from (?P<who>.*?) ",
                r"\((?P<why>more than \d+ characters)\)(?P<rest>.*)"
            ),
            Some(h_overlong),
            &[],
        ),
        rule(
            "lookup_error",
            r"(?s)tainted search query is not properly quoted \((?P<where>[^)]*)\): (?P<query>.*)",
            Some(h_tainted_query),
            &[],
        ),
        rule(
            "spool_error",
            r"(?s)Spool file (?P<file>[^\s\x1c-\x1f]+) not found",
            Some(h_spool_missing),
            &[],
        ),
        rule(
            "scanner_error",
            r"(?s)internal scanner error(?: \((?P<how>[^)]*)\))?: (?P<text>.*)",
            Some(h_scanner_internal),
            &["internal scanner error"],
        ),
        rule(
            "dkim_verify",
            r"(?s)DKIM: (?P<tags>d=.*?) \[(?P<res>[^\]]*)\][\s\x1c-\x1f]*\z",
            Some(h_dkim),
            &[],
        ),
        rule("dkim_error", r"(?s)DKIM: .*", None, &[]),
        rule("arc_error", r"(?s)ARC: .*", None, &[]),
        rule("dmarc_result", r"(?s)DMARC results: .*", None, &[]),
        rule(
            "message_rejected",
            concat!(
                "(?s)rejected from <(?P<s>",
                in_angle_re!(),
                ")> ?(?P<rest>.*?): (?P<m>.*)"
            ),
            Some(h_rejected_from),
            &[],
        ),
        rule(
            "message_abandoned",
            concat!(
                r"(?s)(?:Message abandoned|Error while reading message with no usable sender address|ridiculously ",
                r"long message header received|timed out while reading local message|local_scan\(\) function ",
                r"(?:crashed|timed out)).*"
            ),
            Some(h_abandoned),
            &[],
        ),
        rule(
            "config_error",
            concat!(
                r#"(?s)(?:Exim configuration error|ACL "warn" with "message" setting found|configured error "#,
                r"code starts with|Daemon cannot be run when|[^\s\x1c-\x1f]+ (?:router|transport|authenticator): ",
                r"(?:option|unknown)|WARNING: deprecated).*"
            ),
            None,
            &[],
        ),
        rule(
            "transport_failed",
            r"(?s)Tainted (?:filename|path|file) .*",
            Some(h_text_error),
            &[],
        ),
        rule(
            "expansion_failed",
            concat!(
                r#"(?s)(?:.*[Ff]ailed to expand|[Ee]xpansion of .*failed|[Ee]xpansion of ".*" \(|failure to expand|"#,
                r"unable to expand).*"
            ),
            None,
            &["xpan"],
        ),
        rule(
            "message_rejected",
            r"(?s)no recipients found in headers",
            None,
            &[],
        ),
        rule(
            "process_crashed",
            r"(?s)(?:re-)?exec of .* failed.*|failed to read delivery status.*",
            None,
            &["exec of ", "failed to read delivery status"],
        ),
        rule(
            "process_crashed",
            r"(?s)(?:.* crashed with signal|process \d+ crashed|SIGSEGV|backtrace).*",
            None,
            &["crashed", "SIGSEGV", "backtrace"],
        ),
        rule(
            "transport_failed",
            r"(?s)(?P<t>[^\s\x1c-\x1f]+) transport process returned non-zero status.*",
            Some(h_transport_failed),
            &[" transport process returned "],
        ),
        rule(
            "resource_error",
            concat!(
                r"(?s)(?:(?:spool|log) directory space check failed|Spool (?:write )?error|Spool read error|",
                r"failed to write to|No space left).*"
            ),
            Some(h_text_error),
            &[],
        ),
        rule(
            "slow_lookup",
            r"(?s)Long [^\s\x1c-\x1f]+ lookup for .*",
            None,
            &[],
        ),
        rule(
            "scanner_error",
            concat!(
                r"(?s)(?:malware acl condition: |spam acl condition: |regex acl condition warning|Temporary error ",
                r"with DCC|spamd: |clamd: ).*"
            ),
            Some(h_text_error),
            &[],
        ),
        rule("dnslist_defer", r"(?s)DNS list lookup defer.*", None, &[]),
        rule("dnslist_result", r"(?s)DNS list lookup for .*", None, &[]),
        rule(
            "recipient_verify_failed",
            concat!(
                r"(?s)(?P<who>sender|recipient) verify (?P<r>fail|defer) \(making callout connection\): ",
                r"(?:T=(?P<t>[^\s\x1c-\x1f]+) )?(?P<detail>.*)"
            ),
            Some(h_verify),
            &[],
        ),
        rule(
            "tls_config_warning",
            r"(?s)Warning: No server certificate defined.*",
            Some(h_warning),
            &[],
        ),
        rule("warning", r"(?s)Warning: (?P<w>.*)", Some(h_warning), &[]),
        rule(
            "panic",
            concat!(
                r"(?s)(?:PANIC|[Pp]anic|internal error|Unexpected|unable to set gid|unable to set uid|",
                r"User \d+ set for .* never_users|failed to open|Cannot open).*"
            ),
            None,
            &[],
        ),
        // Pre-4.85 per-host delivery errors: `name [ip] error` without H= (only on message lines).
        Rule {
            action: "remote_host_error",
            pattern: r"(?s)(?P<name>[^\s\x1c-\x1f\[]+) \[(?P<ip>[^\]\s\x1c-\x1f]+)\](?::\w+)? (?P<err>.+)",
            handler: Some(h_old_host_error),
            needs_id: Some(true),
            needles: &[],
            read: None,
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::super::message::{assert_cases, parsed};

    #[test]
    fn python_cases() {
        // Bodies from tests/unit/test_line_types.py, test_real_world_lines.py and edge cases; the JSON
        // is Python's.
        assert_cases(&[
            (
                r#"dnslookup router: skipped error: lookup failed"#,
                "router_error",
                r#"{"exim":{"error":{"class":"permanent_failure","message":"dnslookup router: skipped error: lookup failed","stage":"local","temporary":false,"text":"dnslookup router: skipped error: lookup failed"}}}"#,
            ),
            (
                r#"DKIM: d=example.com s=sel a=rsa-sha256 i=@x d=paypal.com b=1024 [verification succeeded]"#,
                "dkim_verify",
                r#"{"exim":{"dkim_verify":{"algorithm":"rsa-sha256","domain":"example.com","identity":"@x","key_bits":1024,"result":"verification succeeded","selector":"sel","status":"pass"}}}"#,
            ),
            (
                r#"DKIM: d=test.ex s=sel [invalid - signature did not verify (headers probably modified in transit)]  "#,
                "dkim_verify",
                r#"{"exim":{"dkim_verify":{"domain":"test.ex","result":"invalid - signature did not verify (headers probably modified in transit)","selector":"sel","status":"invalid"}}}"#,
            ),
            (
                r#"SA: Action: permanently rejected message: hits=12.1 required=5.0 trigger=10.0 (scanned in 6/7 secs | Message-Id: 0087_a@x.xx). From <spammer@x.xx> (host=ip-4.rev.x.xx [178.123.108.196]) for trap@example.com, other@example.com"#,
                "spam_verdict",
                r#"{"email":{"from":{"address":"spammer@x.xx"},"to":{"address":["trap@example.com","other@example.com"]}},"exim":{"spam":{"action":"rejected","header_message_id":"0087_a@x.xx","required":5.0,"scan_time":6.0,"scanner":"sa-exim","score":12.1,"trigger":10.0,"verdict":"spam"}},"source":{"address":"178.123.108.196","domain":"ip-4.rev.x.xx","ip":"178.123.108.196"}}"#,
            ),
            (
                r#"SA: Action: check skipped due to message size (1000 bytes) (Message-Id: mid). From <a@b.tld> (host=(null) [192.0.2.3]) for c@d.tld, "e f"@g.tld,"#,
                "spam_verdict",
                r#"{"email":{"from":{"address":"a@b.tld"},"to":{"address":["c@d.tld","\"e f\"@g.tld"]}},"exim":{"spam":{"action":"skipped","header_message_id":"mid","scanner":"sa-exim","verdict":"unknown"}},"source":{"address":"192.0.2.3","ip":"192.0.2.3"}}"#,
            ),
            (
                r#"SA: Action: something odd"#,
                "spam_verdict",
                r#"{"exim":{"spam":{"scanner":"sa-exim","text":"something odd"}}}"#,
            ),
            (
                r#"SA: Debug2: level two"#,
                "scanner_log",
                r#"{"exim":{"sa_exim":{"level":"debug","text":"level two"}}}"#,
            ),
            (
                r#"SA: PANIC: Unexpected error on spamc read"#,
                "scanner_error",
                r#"{"exim":{"sa_exim":{"level":"panic","text":"Unexpected error on spamc read"}}}"#,
            ),
            (
                r#"rejected from <a@b.example> U=alice: message too big: read=225 max=100"#,
                "message_rejected",
                r#"{"email":{"from":{"address":"a@b.example"}},"exim":{"error":{"class":"message_too_big","message":"message too big: read=225 max=100","stage":"data","temporary":false,"text":"message too big: read=225 max=100"},"ident":"alice","size":225,"size_limit":100}}"#,
            ),
            (
                r#"sender verify fail (making callout connection): T=remote_smtp could not connect"#,
                "sender_verify_failed",
                r#"{"exim":{"error":{"class":"sender_verify_failed","message":"could not connect","stage":"local","temporary":false,"text":"could not connect"},"transport":"remote_smtp"}}"#,
            ),
            (
                r#"recipient verify defer (making callout connection): timed out"#,
                "recipient_verify_deferred",
                r#"{"exim":{"error":{"class":"recipient_verify_failed","message":"timed out","stage":"local","temporary":true,"text":"timed out"}}}"#,
            ),
            (
                r#"overlong message header line received from mx.example (helo.x) [192.0.2.4]:2525 I=[198.51.100.1]:25 (more than 998 characters) rest"#,
                "message_abandoned",
                r#"{"exim":{"helo":"helo.x","interface":{"address":"198.51.100.1","port":25},"reason":"more than 998 characters"},"source":{"address":"192.0.2.4","domain":"mx.example","ip":"192.0.2.4","port":2525}}"#,
            ),
            (
                r#"overlong message header line received from alice (more than 1000 characters)"#,
                "message_abandoned",
                r#"{"exim":{"ident":"alice","reason":"more than 1000 characters"}}"#,
            ),
            (
                r#"local_delivery transport process returned non-zero status 0x0100: exit code 1"#,
                "transport_failed",
                r#"{"exim":{"error":{"class":"local_delivery_failure","message":"local_delivery transport process returned non-zero status 0x0100: exit code 1","stage":"local","temporary":true,"text":"local_delivery transport process returned non-zero status 0x0100: exit code 1"},"transport":"local_delivery"}}"#,
            ),
            (
                r#"Warning: No server certificate defined; will use a selfsigned one"#,
                "tls_config_warning",
                r#"{"exim":{"warning":"Warning: No server certificate defined; will use a selfsigned one"}}"#,
            ),
            (
                r#"mx.example [192.0.2.9]:25 Connection refused"#,
                "remote_host_error",
                r#"{"destination":{"address":"192.0.2.9","domain":"mx.example","ip":"192.0.2.9"},"exim":{"error":{"class":"connection_refused","message":"Connection refused","stage":"connect","temporary":true,"text":"Connection refused"}}}"#,
            ),
            (
                r#"SA: Action: permanently rejected message: hits=12.1 required=5.0 trigger=10.0 (scanned in 2/2 secs | Message-Id: abc). From <"a> (host=x [192.0.2.66]) for"@b.tld> (host=(null) [192.0.2.6]) for a@b.tld"#,
                "spam_verdict",
                r#"{"email":{"from":{"address":"\"a> (host=x [192.0.2.66]) for\"@b.tld"},"to":{"address":["a@b.tld"]}},"exim":{"spam":{"action":"rejected","header_message_id":"abc","required":5.0,"scan_time":2.0,"scanner":"sa-exim","score":12.1,"trigger":10.0,"verdict":"spam"}},"source":{"address":"192.0.2.6","ip":"192.0.2.6"}}"#,
            ),
            (
                r#"SA: Action: Not running SA because SAEximRunCond expanded to false (Message-Id: 1tXaaa-00000001abc-0ABC). From <a@b.tld> (local) for c@d.tld"#,
                "spam_verdict",
                r#"{"email":{"from":{"address":"a@b.tld"},"to":{"address":["c@d.tld"]}},"exim":{"spam":{"action":"skipped","header_message_id":"1tXaaa-00000001abc-0ABC","scanner":"sa-exim","verdict":"unknown"}}}"#,
            ),
            (
                r#"rejected from <> H=(x) [192.0.2.1]: message too big: read=1 max=1"#,
                "message_rejected",
                r#"{"exim":{"error":{"class":"message_too_big","message":"message too big: read=1 max=1","stage":"data","temporary":false,"text":"message too big: read=1 max=1"},"helo":"x","sender_empty":true,"size":1,"size_limit":1},"source":{"address":"192.0.2.1","ip":"192.0.2.1"}}"#,
            ),
            (
                r#"Failed to expand return path "x""#,
                "expansion_failed",
                r#"{}"#,
            ),
            (
                r#"re-exec of exim (/usr/sbin/exim) failed: nope"#,
                "process_crashed",
                r#"{}"#,
            ),
            (
                r#"Spool file 1tXaaa-00000001abc-0ABC-D not found"#,
                "spool_error",
                r#"{"exim":{"spool_file":"1tXaaa-00000001abc-0ABC-D"}}"#,
            ),
            (
                r#"tainted search query is not properly quoted (router r1, lsearch): select * from x"#,
                "lookup_error",
                r#"{"exim":{"lookup":{"query":"select * from x","where":"router r1, lsearch"}}}"#,
            ),
        ]);
    }

    #[test]
    fn old_host_errors_need_a_message_id() {
        assert_eq!(
            parsed("mx.example [192.0.2.9] Connection refused", None).0,
            "unrecognized"
        );
    }

    #[test]
    fn sa_exim_outcomes_come_from_lines_json() {
        let o = super::sa_outcomes();
        assert!(o
            .iter()
            .any(|(p, v, a)| p == "teergrubed" && v == "spam" && a == "teergrubed"));
    }
}
