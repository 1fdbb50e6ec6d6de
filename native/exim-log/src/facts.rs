//! The compact message facts of one entry: the partial summaries it contributes to its message (and to
//! the one it bounces), read from the document the body and the enrichment built, as the Python
//! `shipper/messages/partials.py` `partials` read a whole document (deleted; its summaries are the golden
//! records, `tests/golden`): the typed partials (`messages::Partial`) the correlator folds, the only
//! reading of a document's facts.
//!
//! Every entry with a message id and a time has its facts, an `unrecognized` one's too (its message's first
//! and last seen) and an impossible time's (read at the stamp its document inherits). A member of a type
//! the reading does not take (an object where a string is due: the body and the enrichment write none)
//! leaves the entry dating its message only, as an `unrecognized` entry does.

use crate::doc::Value;

use crate::body::Obj;
use crate::messages::partial::{Fields, Rcpt, Record, Set};
use crate::messages::Partial;

/// The status lines that only stamp a time (`partials.STAMPS`).
const STAMPS: [(&str, &str); 3] = [
    ("message_completed", "completed"),
    ("message_frozen", "frozen"),
    ("message_unfrozen", "unfrozen"),
];
const BY_WHOM: [(&str, &str); 2] = [
    ("message_removed", "removed"),
    ("message_cancelled", "cancelled"),
];
const ARRIVALS: [&str; 2] = ["message_arrived", "message_arrived_fakereject"];
const DELIVERIES: [&str; 6] = [
    "delivered",
    "delivered_additional",
    "delivered_cutthrough",
    "delivery_suppressed",
    "delivery_failed",
    "delivery_deferred",
];

/// The document holds a member of a type the reading does not take (the core writes none).
struct Unsure;
type R<T> = Result<T, Unsure>;

/// The action no rule of `partials` reads (`_status` does nothing with it): first and last seen only.
const ACTIONS_NONE: &str = "unrecognized";

/// The document's message id alone, where it is a string: what an `unrecognized` entry's facts read.
fn dated(doc: &Obj) -> Obj {
    let mut out = Obj::new();
    if let Some(Value::Object(email)) = doc.get("email") {
        if let Some(id @ Value::String(_)) = email.get("local_id") {
            let mut e = Obj::new();
            e.insert("local_id".into(), id.clone());
            out.insert("email".into(), e.into());
        }
    }
    out
}

/// Python's truthiness of a JSON value.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
    }
}

/// `d.get(k, {})`: the member as an object (None when absent; unsure when it is something else).
fn obj<'a>(d: Option<&'a Obj>, k: &str) -> R<Option<&'a Obj>> {
    match d.and_then(|d| d.get(k)) {
        None => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(_) => Err(Unsure),
    }
}

/// `d.get(k)`, Python's None for JSON null too.
fn get<'a>(d: Option<&'a Obj>, k: &str) -> Option<&'a Value> {
    d.and_then(|d| d.get(k)).filter(|v| !v.is_null())
}

/// `s.lower()` of a string value.
fn lower(v: &Value) -> R<String> {
    match v {
        Value::String(s) => Ok(crate::text::py_lower(s).into_owned()),
        _ => Err(Unsure),
    }
}

/// The facts of an entry (None: no message id). `doc` is what the body and the enrichment made (the
/// document but `@timestamp`, `event`, `host` and `log`), `server` the `host.name` written ("" when
/// none), `ts` its `@timestamp`, `action` its `event.action`.
pub fn partials(server: &str, ts: &str, action: &str, doc: &Obj) -> Option<Vec<Partial>> {
    read(server, ts, action, doc)
        .or_else(|Unsure| read(server, ts, ACTIONS_NONE, &dated(doc)))
        .unwrap_or_default()
}

/// A document value as a record's member: what `serde_json` would read back from the document's JSON
/// (a non-negative `I` an unsigned integer), so a record merged with one read from a stored
/// `exim.merge_state` compares equal.
fn json(v: &Value) -> serde_json::Value {
    use crate::doc::Number as N;
    use serde_json::Value as J;
    match v {
        Value::Null => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Number(N::U(u)) => J::Number((*u).into()),
        Value::Number(N::I(i)) => J::Number((*i).into()),
        Value::Number(N::F(f)) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
        Value::String(s) => J::String(s.to_string()),
        Value::Array(a) => J::Array(a.iter().map(json).collect()),
        Value::Object(m) => J::Object(m.iter().map(|(k, v)| (k.to_string(), json(v))).collect()),
    }
}

/// A string member of the partial: anything else is unsure.
fn string(v: &Value) -> R<String> {
    match v {
        Value::String(s) => Ok(s.to_string()),
        _ => Err(Unsure),
    }
}

fn text(s: &str) -> serde_json::Value {
    serde_json::Value::String(s.to_string())
}

/// A record's members gathered as they come and sorted once at the end: `Fields::insert` searched and
/// shifted the record for every member. Every record here names each key once.
struct Rec(Vec<(String, serde_json::Value)>);

impl Rec {
    /// `{"time": ts}`, with room for `more` members.
    fn at(ts: &str, more: usize) -> Self {
        let mut v = Vec::with_capacity(1 + more);
        v.push(("time".to_string(), text(ts)));
        Self(v)
    }

    fn put(&mut self, k: &str, v: serde_json::Value) {
        self.0.push((k.to_string(), v));
    }

    /// `_known`: the members present.
    fn known(&mut self, pairs: &[(&str, Option<&Value>)]) {
        for (k, v) in pairs {
            if let Some(v) = v {
                self.put(k, json(v));
            }
        }
    }

    fn done(mut self) -> Record {
        self.0.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        Fields::from_sorted(self.0).expect("a record names each key once")
    }
}

fn read(server: &str, ts: &str, action: &str, doc: &Obj) -> R<Option<Vec<Partial>>> {
    let doc = Some(doc);
    let email = obj(doc, "email")?;
    let exim = obj(doc, "exim")?;
    let local_id = match get(email, "local_id") {
        Some(v) if truthy(v) => match v {
            Value::String(s) => s.as_str(),
            _ => return Err(Unsure),
        },
        _ => return Ok(None),
    };
    let mut p = Partial {
        server: server.to_string(),
        id: local_id.to_string(),
        first_seen: Some(ts.to_string()),
        last_seen: Some(ts.to_string()),
        ..Partial::default()
    };
    let mut bounced: Option<&Value> = None;
    if ARRIVALS.contains(&action) {
        bounced = arrival(&mut p, doc, email, exim, ts)?;
    } else if DELIVERIES.contains(&action) {
        delivery(&mut p, doc, email, exim, action, ts)?;
    } else {
        status(&mut p, email, exim, action, ts)?;
    }
    let mut parts = vec![p];
    if let Some(of) = bounced {
        parts.push(Partial {
            server: server.to_string(),
            id: string(of)?,
            bounced_by: Some(Set::one(local_id.to_string())),
            ..Partial::default()
        });
    }
    Ok(Some(parts))
}

/// `rcpt` of a list of addresses: `{r.lower(): {}}` each.
fn recipients(list: &Value) -> R<Fields<Rcpt>> {
    let Value::Array(list) = list else {
        return Err(Unsure);
    };
    let mut rcpt = Fields::new();
    for r in list {
        rcpt.insert(lower(r)?, Rcpt::default());
    }
    Ok(rcpt)
}

fn arrival<'a>(
    p: &mut Partial,
    doc: Option<&'a Obj>,
    email: Option<&'a Obj>,
    exim: Option<&'a Obj>,
    ts: &str,
) -> R<Option<&'a Value>> {
    let from = obj(email, "from")?;
    let tls = obj(doc, "tls")?;
    let source = obj(doc, "source")?;
    let remote = obj(exim, "remote")?;
    let user = obj(doc, "user")?;
    let mut a = Rec::at(ts, 13);
    let sender = match from.and_then(|f| f.get("address")) {
        Some(v) => json(v),
        None => text("<>"),
    };
    a.put("sender", sender);
    a.known(&[
        ("size", get(exim, "size")),
        ("subject", get(email, "subject")),
        ("message_id", get(email, "message_id")),
        ("protocol", get(exim, "protocol")),
        ("user", get(user, "name")),
        ("ident", get(exim, "ident")),
        ("tls_version", get(tls, "version")),
        ("tls_cipher", get(tls, "cipher")),
        ("source_ip", get(source, "ip")),
        ("source_domain", get(source, "domain")),
        ("helo", get(exim, "helo")),
        ("provider", get(remote, "provider")),
    ]);
    p.arrival = Some(a.done());
    if let Some(rcpts) = get(obj(email, "to")?, "address").filter(|v| truthy(v)) {
        p.rcpt = Some(recipients(rcpts)?);
    }
    match get(exim, "bounce_of").filter(|v| truthy(v)) {
        Some(of) => {
            p.bounce_of = Some(string(of)?);
            Ok(Some(of))
        }
        None => Ok(None),
    }
}

/// `_error_record`.
fn error_record(exim: Option<&Obj>, ts: &str) -> R<Record> {
    let err = obj(exim, "error")?;
    let mut r = Rec::at(ts, 3);
    let class = match err.and_then(|e| e.get("class")) {
        Some(v) => json(v),
        None => text("unknown"),
    };
    r.put("class", class);
    let message = match err.and_then(|e| e.get("text")).filter(|v| truthy(v)) {
        Some(v) => json(v),
        None => match err.and_then(|e| e.get("message")) {
            Some(v) => json(v),
            None => text(""),
        },
    };
    r.put("text", message);
    if let Some(code) = err.and_then(|e| e.get("smtp_code")) {
        r.put("smtp_code", json(code));
    }
    Ok(r.done())
}

fn delivery(
    p: &mut Partial,
    doc: Option<&Obj>,
    email: Option<&Obj>,
    exim: Option<&Obj>,
    action: &str,
    ts: &str,
) -> R<()> {
    let addr = match get(exim, "address").filter(|v| truthy(v)) {
        Some(a) => Some(a),
        None => match get(obj(email, "to")?, "address").filter(|v| truthy(v)) {
            Some(Value::Array(to)) => to.first(),
            Some(_) => return Err(Unsure),
            None => None,
        },
    };
    let Some(addr) = addr.filter(|v| truthy(v)) else {
        return Ok(());
    };
    let rcpt = lower(addr)?;
    let original = match get(exim, "original_address").filter(|v| truthy(v)) {
        Some(v) => lower(v)?,
        None => String::new(),
    };
    let original = (!original.is_empty() && original != rcpt).then_some(original);
    let record = if action == "delivery_failed" || action == "delivery_deferred" {
        Some(error_record(exim, ts)?)
    } else {
        None
    };
    let class = get(obj(exim, "error")?, "class");
    let attempt = class.and_then(Value::as_str) != Some("retry_time_not_reached");
    let mut r = Rcpt {
        originals: original.map(Set::one),
        ..Rcpt::default()
    };
    if action == "delivery_failed" {
        p.last_error.clone_from(&record);
        r.failed = Some(ts.to_string());
        r.first_error.clone_from(&record);
        r.last_error = record;
    } else if action == "delivery_deferred" {
        p.first_deferral.clone_from(&record);
        p.last_deferral.clone_from(&record);
        p.last_error.clone_from(&record);
        r.deferred_first = Some(ts.to_string());
        r.first_error.clone_from(&record);
        r.last_error = record;
    } else {
        r.delivered = Some(ts.to_string());
        r.via = Some(via(doc, exim, ts)?);
    }
    if attempt {
        p.attempts = Some(Set::one(ts.to_string()));
        r.attempts = Some(Set::one(ts.to_string()));
    }
    let mut all = Fields::new();
    all.insert(rcpt, r);
    p.rcpt = Some(all);
    Ok(())
}

/// `_via`.
fn via(doc: Option<&Obj>, exim: Option<&Obj>, ts: &str) -> R<Record> {
    let dest = obj(doc, "destination")?;
    let remote = obj(exim, "remote")?;
    let mut r = Rec::at(ts, 6);
    r.known(&[
        ("flag", get(exim, "flag")),
        ("router", get(exim, "router")),
        ("transport", get(exim, "transport")),
        ("host", get(dest, "domain")),
        ("ip", get(dest, "ip")),
        ("provider", get(remote, "provider")),
    ]);
    Ok(r.done())
}

fn status(
    p: &mut Partial,
    email: Option<&Obj>,
    exim: Option<&Obj>,
    action: &str,
    ts: &str,
) -> R<()> {
    if let Some((_, key)) = STAMPS.iter().find(|(a, _)| *a == action) {
        let at = Some(ts.to_string());
        match *key {
            "completed" => p.completed = at,
            "frozen" => p.frozen = at,
            _ => p.unfrozen = at,
        }
    } else if let Some((_, key)) = BY_WHOM.iter().find(|(a, _)| *a == action) {
        let by = match exim.and_then(|e| e.get("by")) {
            Some(v) => json(v),
            None => text(""),
        };
        let mut r = Rec::at(ts, 1);
        r.put("by", by);
        let r = r.done();
        if *key == "removed" {
            p.removed = Some(r);
        } else {
            p.cancelled = Some(r);
        }
    } else if action == "message_rejected" || action == "cutthrough_rejected" {
        p.rejected = Some(error_record(exim, ts)?);
    } else if action == "spam_verdict" {
        let spam = obj(exim, "spam")?;
        let mut r = Rec::at(ts, 2);
        for (k, v) in spam.into_iter().flatten() {
            if k == "verdict" || k == "score" {
                r.put(k, json(v));
            }
        }
        p.spam = Some(r.done());
    } else if action == "smtp_connection_outbound" {
        if let Some(to) = get(obj(email, "to")?, "address").filter(|v| truthy(v)) {
            p.rcpt = Some(recipients(to)?);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(v: serde_json::Value) -> Obj {
        match Value::from(v) {
            Value::Object(m) => m,
            _ => Obj::new(),
        }
    }

    /// The entry's partials in `to_state`'s form (`exim.merge_state`'s): fields in declaration order,
    /// records' keys and sets sorted.
    fn state(parts: &[Partial]) -> String {
        serde_json::to_string(parts).unwrap()
    }

    fn facts(action: &str, d: serde_json::Value) -> Option<String> {
        partials("mx1", "T", action, &doc(d)).map(|p| state(&p))
    }

    #[test]
    fn no_message_id_no_facts() {
        assert_eq!(facts("message_completed", serde_json::json!({})), None);
        let empty = serde_json::json!({"email": {"local_id": ""}});
        assert_eq!(facts("message_completed", empty), None);
    }

    #[test]
    fn a_stamp_and_a_skipped_retry() {
        let id = serde_json::json!({"email": {"local_id": "1tXaaa-000001-AB"}});
        assert_eq!(
            facts("message_completed", id).unwrap(),
            r#"[{"server":"mx1","id":"1tXaaa-000001-AB","first_seen":"T","last_seen":"T","completed":"T"}]"#
        );
        let d = serde_json::json!({"email": {"local_id": "X"}, "exim": {"address": "A@B",
            "error": {"class": "retry_time_not_reached", "message": "m"}}});
        let r = r#"{"class":"retry_time_not_reached","text":"m","time":"T"}"#;
        assert_eq!(
            facts("delivery_deferred", d).unwrap(),
            format!(
                concat!(
                    r#"[{{"server":"mx1","id":"X","first_seen":"T","last_seen":"T","#,
                    r#""rcpt":{{"a@b":{{"deferred_first":"T","first_error":{r},"last_error":{r}}}}},"#,
                    r#""first_deferral":{r},"last_deferral":{r},"last_error":{r}}}]"#
                ),
                r = r
            )
        );
    }

    #[test]
    fn a_bounce_names_the_message_it_returns() {
        let d = serde_json::json!({"email": {"local_id": "B", "from": {}, "to": {"address": ["a@x", "A@X"]}},
            "exim": {"bounce_of": "M", "protocol": "local"}});
        assert_eq!(
            facts("message_arrived", d).unwrap(),
            concat!(
                r#"[{"server":"mx1","id":"B","first_seen":"T","last_seen":"T","#,
                r#""arrival":{"protocol":"local","sender":"<>","time":"T"},"rcpt":{"a@x":{}},"#,
                r#""bounce_of":"M"},{"server":"mx1","id":"M","bounced_by":["B"]}]"#
            )
        );
    }

    /// Every entry of a log through a stream, with its partials (`typed_facts`) or without.
    fn stream(data: &[u8], typed: bool) -> crate::stream::Batch {
        let ctx = crate::stream::Context {
            server: "mx1".into(),
            dataset: "exim.main".into(),
            path: "/var/log/exim/mainlog".into(),
            index_prefix: "exim".into(),
        };
        let zone = crate::timestamps::TimestampConverter::from_name("Europe/London").unwrap();
        let mut s = crate::stream::Stream::new(ctx, zone, 0);
        s.typed_facts = typed;
        let mut batch = crate::stream::Batch::default();
        s.feed(data, &mut batch);
        s.finish(&mut batch);
        batch
    }

    #[test]
    fn the_entries_with_an_id_and_a_time_have_partials_that_date_their_message() {
        // Read, not embedded: the install stamp follows what the module embeds, and this is a test's input.
        let sample = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shipper/samples/exim_mainlog"
        );
        let mut log = std::fs::read(sample).expect("the bundled sample");
        log.extend_from_slice(concat!(
            "2024-03-01 10:00:00 1tXaaa-000001-AB <= <> R=1tXaab-000001-AB U=mail P=local S=1234 ",
            "T=\"Mail delivery failed\"\n",
            "2024-03-01 10:00:01 1tXaaa-000001-AB ** Bob@Example.COM <bob@example.com> R=dnslookup ",
            "T=remote_smtp: SMTP error from remote mail server after RCPT TO:<bob@example.com>: ",
            "550 5.1.1 User unknown\n",
            "2024-03-01 10:00:02 1tXaac-000001-AB == carol@example.org R=dnslookup T=remote_smtp ",
            "defer (-44): retry time not reached\n",
            "2024-03-01 10:00:03 1tXaaa-000001-AB removed by root\n",
            "2024-03-01 10:00:04 1tXaaa-000001-AB Completed\n",
        ).as_bytes());
        assert!(
            stream(&log, false).parts.is_empty(),
            "no reading without it"
        );
        let batch = stream(&log, true);
        let mut parts = batch.parts.iter().peekable();
        let (mut pos, mut n) = (0, 0);
        for e in &batch.entries {
            let start = pos + e.action_len as usize + 1;
            pos += e.bulk_len as usize;
            let d: serde_json::Value = serde_json::from_slice(&batch.bulk[start..pos - 1]).unwrap();
            let id = d["email"]["local_id"].as_str();
            let ts = d["@timestamp"].as_str();
            let mine = parts.next_if(|(at, _)| *at == e.offset);
            let (Some(id), Some(ts)) = (id, ts) else {
                assert!(mine.is_none(), "no id or no time: no partials, {d}");
                continue;
            };
            let (_, mine) = mine.expect("an entry with an id and a time has partials");
            let first = &mine[0];
            assert_eq!(
                (first.server.as_str(), first.id.as_str()),
                (d["host"]["name"].as_str().unwrap(), id)
            );
            assert_eq!(first.first_seen.as_deref(), Some(ts));
            assert_eq!(first.last_seen.as_deref(), Some(ts));
            n += 1;
        }
        assert!(parts.next().is_none());
        assert!(n >= 15, "the log's entries with facts: {n}");
    }

    #[test]
    fn an_unrecognized_entry_and_an_impossible_time_date_their_message() {
        let log = concat!(
            "2025-02-30 10:00:00 1tXaaa-000001-AB => a@b.example R=r T=t\n",
            "2025-01-31 10:00:01 1tXaaa-000001-AB some line of a kind nobody knows\n",
            "2025-02-30 10:00:02 1tXaaa-000001-AB => a@b.example R=r T=t\n",
            "2025-01-31 10:00:03 no id, nobody knows this either\n",
        );
        let batch = stream(log.as_bytes(), true);
        // The first has no time to be read at: Python's `partials` made nothing of a document without one.
        let offsets: Vec<u64> = batch.parts.iter().map(|(at, _)| *at).collect();
        assert_eq!(offsets, [60, 130]);
        let t = "2025-01-31T10:00:01.000Z";
        let seen = format!(
            r#""server":"mx1","id":"1tXaaa-000001-AB","first_seen":"{t}","last_seen":"{t}""#
        );
        assert_eq!(state(&batch.parts[0].1), format!("[{{{seen}}}]"));
        assert_eq!(
            state(&batch.parts[1].1),
            format!(
                concat!(
                    r#"[{{{seen},"rcpt":{{"a@b.example":{{"delivered":"{t}","attempts":["{t}"],"#,
                    r#""via":{{"flag":"=>","router":"r","time":"{t}","transport":"t"}}}}}},"#,
                    r#""attempts":["{t}"]}}]"#
                ),
                seen = seen,
                t = t
            )
        );
    }

    #[test]
    fn a_member_of_another_type_leaves_the_message_dated() {
        let d = serde_json::json!({"email": {"local_id": "X", "to": "not a list"}});
        assert_eq!(
            facts("message_arrived", d).unwrap(),
            r#"[{"server":"mx1","id":"X","first_seen":"T","last_seen":"T"}]"#
        );
    }

    #[test]
    fn a_non_ascii_address_is_lowered_as_pythons_str_lower() {
        let d = serde_json::json!({"email": {"local_id": "X"}, "exim": {"address": "Ünï@b"}});
        assert_eq!(
            facts("delivered", d).unwrap(),
            concat!(
                r#"[{"server":"mx1","id":"X","first_seen":"T","last_seen":"T","#,
                r#""rcpt":{"ünï@b":{"delivered":"T","attempts":["T"],"via":{"time":"T"}}},"attempts":["T"]}]"#
            )
        );
    }
}
