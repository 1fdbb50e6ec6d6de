//! A merged partial -> the message-summary document (`shipper/messages/summary.py` `summary`), its
//! stored form with the mergeable state (`documents.py` `summary_body`), its index and `_id`
//! (`message_index`, `message_id`) and the `create` item (`summaries.py` `create_item`).

use std::collections::BTreeMap;

use base64::Engine;
use blake2::digest::{Update, VariableOutput};
use blake2::Blake2bVar;
use chrono::DateTime;
use serde_json::{Map, Value};

use super::partial::{Partial, Rcpt, Record, Set};
use crate::json::write_str;

const B62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The arrival time in a message id's first six base-62 characters, `YYYY-MM-DDTHH:MM:SS.000Z`.
pub fn id_time(local_id: &str) -> Option<String> {
    let mut value: i64 = 0;
    for ch in local_id.chars().take(6) {
        let digit = u8::try_from(ch)
            .ok()
            .and_then(|c| B62.iter().position(|&b| b == c))?;
        value = value * 62 + digit as i64;
    }
    let t = DateTime::from_timestamp(value, 0)?;
    Some(t.format("%Y-%m-%dT%H:%M:%S.000Z").to_string())
}

/// `<prefix>-messages-YYYY.MM` by the arrival month in the id (`undated` without one).
pub fn message_index(prefix: &str, local_id: &str) -> String {
    match id_time(local_id) {
        Some(ts) => format!("{prefix}-messages-{}.{}", &ts[0..4], &ts[5..7]),
        None => format!("{prefix}-messages-undated"),
    }
}

/// BLAKE2b-120 of `server \0 local_id`, URL-safe base64.
pub fn message_id(server: &str, local_id: &str) -> String {
    let mut h = Blake2bVar::new(15).expect("15 is a valid BLAKE2b size");
    h.update(server.as_bytes());
    h.update(b"\0");
    h.update(local_id.as_bytes());
    let mut digest = [0u8; 15];
    h.finalize_variable(&mut digest)
        .expect("the buffer is the digest's size");
    base64::engine::general_purpose::URL_SAFE.encode(digest)
}

fn s(v: &str) -> Value {
    Value::String(v.to_string())
}

fn outcome(r: &Rcpt) -> &'static str {
    if r.delivered.is_some() {
        "delivered"
    } else if r.failed.is_some() {
        "failed"
    } else if r.deferred_first.is_some() {
        "deferred"
    } else {
        "pending"
    }
}

/// `recipients_of`: an expanded address gives way to its targets unless it has an outcome of its own.
pub fn recipients_of(p: &Partial) -> BTreeMap<&str, &Rcpt> {
    // Sorted by address, as `summary` lists them.
    let Some(rcpts) = &p.rcpt else {
        return BTreeMap::new();
    };
    let parents: std::collections::BTreeSet<&str> = rcpts
        .values()
        .flat_map(|r| r.originals.iter().flat_map(Set::iter).map(String::as_str))
        .collect();
    rcpts
        .iter()
        .filter(|(a, r)| {
            !parents.contains(a.as_str()) || matches!(outcome(r), "delivered" | "failed")
        })
        .map(|(a, r)| (a.as_str(), r))
        .collect()
}

/// `state_of`: the message state, from the merged partial alone.
pub fn state_of(p: &Partial) -> &'static str {
    if p.removed.is_some() {
        return "removed";
    }
    if p.rejected.is_some() && p.arrival.is_none() {
        return "rejected";
    }
    let completed = p.completed.is_some();
    if let Some(frozen) = &p.frozen {
        if frozen.as_str() > p.unfrozen.as_deref().unwrap_or("")
            && frozen.as_str() >= p.completed.as_deref().unwrap_or("")
        {
            return "frozen";
        }
    }
    let outcomes: Vec<&str> = recipients_of(p).values().map(|r| outcome(r)).collect();
    let delivered = outcomes.iter().filter(|o| **o == "delivered").count();
    let failed = outcomes.iter().filter(|o| **o == "failed").count();
    let open = outcomes.len() - delivered - failed;
    if p.cancelled.is_some()
        || (outcomes.is_empty() && p.arrival.is_none() && p.bounced_by.is_some())
    {
        return if delivered > 0 {
            "partially_delivered"
        } else {
            "bounced"
        };
    }
    if !completed && outcomes.contains(&"deferred") {
        return "deferred";
    }
    if completed || (!outcomes.is_empty() && open == 0) {
        if delivered > 0 && failed > 0 {
            return "partially_delivered";
        }
        if failed > 0 {
            return "bounced";
        }
        return "delivered";
    }
    "received"
}

/// A summary's value as `serde_json`'s writer writes it (the same escapes, `json::write_str`, and the
/// same number formats), without its formatter's per-value calls: the summaries' values, the state
/// aside, were a third of a summary item's instructions.
fn write_json(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => {
            use std::io::Write;
            let _ = write!(out, "{n}");
        }
        Value::String(s) => write_str(out, s),
        Value::Array(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json(out, x);
            }
            out.push(b']');
        }
        Value::Object(m) => {
            out.push(b'{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(out, k);
                out.push(b':');
                write_json(out, x);
            }
            out.push(b'}');
        }
    }
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

/// `round((end - start).total_seconds(), 3)`, None where a time does not parse.
fn seconds_between(start: &str, end: &str) -> Option<f64> {
    let a = DateTime::parse_from_rfc3339(start).ok()?;
    let b = DateTime::parse_from_rfc3339(end).ok()?;
    let micros = (b - a).num_microseconds()?;
    // total_seconds() is micros / 10**6; round(…, 3) of it is the nearest millisecond.
    let secs = micros as f64 / 1e6;
    Some((secs * 1000.0).round_ties_even_compat() / 1000.0)
}

/// `round` ties to even, as Python's does (f64::round_ties_even is newer than the crate's MSRV).
trait RoundTiesEven {
    fn round_ties_even_compat(self) -> Self;
}

impl RoundTiesEven for f64 {
    fn round_ties_even_compat(self) -> Self {
        let r = self.round();
        if (self - self.trunc()).abs() == 0.5 && r % 2.0 != 0.0 {
            r - self.signum()
        } else {
            r
        }
    }
}

fn len_of(set: &Option<Set>) -> Value {
    Value::from(set.as_ref().map_or(0, |s| s.len()))
}

/// `_times`: first and last seen, arrival (log, else the id), completion, delay, attempts; returns
/// the arrival time.
fn times(p: &Partial, arrival: &Record, exim: &mut Map<String, Value>) -> Option<Value> {
    let mut arrival_time = arrival.get("time").filter(|v| !v.is_null()).cloned();
    if let Some(v) = &p.first_seen {
        exim.insert("first_seen".into(), s(v));
    }
    if let Some(v) = &p.last_seen {
        exim.insert("last_seen".into(), s(v));
    }
    if let Some(t) = &arrival_time {
        exim.insert("arrival_time".into(), t.clone());
        exim.insert("arrival_time_source".into(), s("log"));
    } else if let Some(decoded) = id_time(&p.id) {
        exim.insert("arrival_time".into(), s(&decoded));
        exim.insert("arrival_time_source".into(), s("message_id"));
        arrival_time = Some(Value::String(decoded));
    }
    for key in ["size", "protocol", "helo", "ident"] {
        if let Some(v) = arrival.get(key) {
            exim.insert(key.into(), v.clone());
        }
    }
    if let Some(done) = &p.completed {
        exim.insert("completed_time".into(), s(done));
        if let Some(Value::String(at)) = &arrival_time {
            if let Some(delay) = seconds_between(at, done) {
                exim.insert("total_delay".into(), Value::from(delay));
            }
        }
    }
    exim.insert("attempts".into(), len_of(&p.attempts));
    arrival_time
}

fn record(r: &Record) -> Value {
    Value::Object(r.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
}

/// `_happenings`: deferrals, the last error's class, spam, rejection, removal, freezing, bounces.
fn happenings(p: &Partial, exim: &mut Map<String, Value>) {
    let records = [
        ("first_deferral", &p.first_deferral),
        ("last_deferral", &p.last_deferral),
    ];
    for (key, r) in records {
        if let Some(r) = r {
            exim.insert(key.into(), record(r));
        }
    }
    if let Some(class) = p.last_error.as_ref().and_then(|e| e.get("class")) {
        exim.insert("last_error_class".into(), class.clone());
    }
    let records = [
        ("spam", &p.spam),
        ("rejected", &p.rejected),
        ("removed", &p.removed),
        ("cancelled", &p.cancelled),
    ];
    for (key, r) in records {
        if let Some(r) = r {
            exim.insert(key.into(), record(r));
        }
    }
    if let Some(v) = &p.frozen {
        exim.insert("frozen_time".into(), s(v));
    }
    if let Some(v) = &p.bounce_of {
        exim.insert("bounce_of".into(), s(v));
    }
    if let Some(by) = &p.bounced_by {
        exim.insert(
            "bounced_by".into(),
            Value::Array(by.iter().map(|b| s(b)).collect()),
        );
    }
}

/// `_recipient`.
fn recipient(addr: &str, r: &Rcpt) -> Value {
    let mut rec = Map::new();
    rec.insert("address".into(), s(addr));
    if let Some(o) = &r.originals {
        rec.insert(
            "original_address".into(),
            Value::Array(o.iter().map(|a| s(a)).collect()),
        );
    }
    rec.insert("outcome".into(), s(outcome(r)));
    rec.insert("attempts".into(), len_of(&r.attempts));
    if let Some(t) = &r.delivered {
        rec.insert("delivered_time".into(), s(t));
        for (k, v) in r.via.iter().flat_map(Record::iter) {
            if k != "time" && k != "flag" {
                rec.insert(k.clone(), v.clone());
            }
        }
    }
    if let Some(t) = &r.failed {
        rec.insert("failed_time".into(), s(t));
    }
    if let Some(e) = &r.last_error {
        let e: Map<String, Value> = e
            .iter()
            .filter(|(k, _)| k.as_str() != "time")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        rec.insert("last_error".into(), Value::Object(e));
    }
    Value::Object(rec)
}

/// `_delivered_volume`: the size once per `=>` line up to `Completed` (eximstats' reading).
fn delivered_volume(p: &Partial, size: &Value) -> Option<Value> {
    let end = p.completed.as_deref().unwrap_or("~");
    let primary = p
        .rcpt
        .iter()
        .flat_map(|r| r.values())
        .filter(|r| {
            r.via.as_ref().is_some_and(|v| {
                v.get("flag").and_then(Value::as_str) == Some("=>")
                    && v.get("time")
                        .and_then(Value::as_str)
                        .is_some_and(|t| t <= end)
            })
        })
        .count();
    if let Some(n) = size.as_i64() {
        Some(Value::from(n * primary as i64))
    } else {
        size.as_f64().map(|f| Value::from(f * primary as f64))
    }
}

/// The message-summary document of a (merged) partial.
pub fn summary(p: &Partial) -> Map<String, Value> {
    let empty = Record::new();
    let arrival = p.arrival.as_ref().unwrap_or(&empty);
    let mut exim = Map::new();
    exim.insert("state".into(), s(state_of(p)));
    let arrival_time = times(p, arrival, &mut exim);
    happenings(p, &mut exim);
    let final_ = recipients_of(p);
    let recipients: Vec<Value> = final_.iter().map(|(a, r)| recipient(a, r)).collect();
    if let Some(size) = arrival.get("size") {
        if let Some(v) = delivered_volume(p, size) {
            exim.insert("delivered_volume".into(), v);
        }
    }
    let mut email = Map::new();
    email.insert("local_id".into(), s(&p.id));
    if let Some(sender) = arrival.get("sender") {
        if truthy(sender) && sender.as_str() != Some("<>") {
            email.insert("from".into(), Value::Object(one("address", sender.clone())));
        }
    }
    if !final_.is_empty() {
        let to = final_.keys().map(|a| s(a)).collect();
        email.insert("to".into(), Value::Object(one("address", Value::Array(to))));
    }
    for key in ["subject", "message_id"] {
        if let Some(v) = arrival.get(key) {
            email.insert(key.into(), v.clone());
        }
    }
    if !recipients.is_empty() {
        exim.insert("recipients".into(), Value::Array(recipients));
    }
    let mut doc = Map::new();
    doc.insert("host".into(), Value::Object(one("name", s(&p.server))));
    doc.insert("email".into(), Value::Object(email));
    let timestamp = match arrival_time.filter(truthy) {
        Some(t) => Some(t),
        None => p.first_seen.as_deref().map(s),
    };
    if let Some(t) = timestamp {
        doc.insert("@timestamp".into(), t);
    }
    if let Some(user) = arrival.get("user") {
        doc.insert("user".into(), Value::Object(one("name", user.clone())));
    }
    let tls = pick(arrival, "tls_", &["version", "cipher"]);
    if !tls.is_empty() {
        doc.insert("tls".into(), Value::Object(tls));
    }
    let source = pick(arrival, "source_", &["ip", "domain"]);
    if !source.is_empty() {
        doc.insert("source".into(), Value::Object(source));
    }
    if let Some(v) = arrival.get("provider") {
        exim.insert("remote_provider".into(), v.clone());
    }
    doc.insert("exim".into(), Value::Object(exim));
    doc
}

fn one(k: &str, v: Value) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(k.into(), v);
    m
}

fn pick(arrival: &Record, prefix: &str, keys: &[&str]) -> Map<String, Value> {
    keys.iter()
        .filter_map(|k| {
            arrival
                .get(&format!("{prefix}{k}"))
                .map(|v| ((*k).to_string(), v.clone()))
        })
        .collect()
}

/// `orjson.dumps(summary(p))`, as `parse --messages` writes it (keys sorted: equal as parsed JSON).
pub fn write_summary(p: &Partial, out: &mut Vec<u8>) {
    write_json(out, &Value::Object(summary(p)));
}

/// `summary_body`: the summary with `exim.merge_state`, `to_state` of the partial, written last in
/// `exim` straight from the partial (a `Value` tree of it cost as much as the summary itself).
pub fn write_summary_body(p: &Partial, out: &mut Vec<u8>) {
    let doc = summary(p);
    out.push(b'{');
    for (i, (k, v)) in doc.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, k);
        out.push(b':');
        match v {
            Value::Object(exim) if k == "exim" => {
                out.push(b'{');
                for (k, v) in exim {
                    write_str(out, k);
                    out.push(b':');
                    write_json(out, v);
                    out.push(b',');
                }
                out.extend_from_slice(b"\"merge_state\":");
                if serde_json::to_writer(&mut *out, p).is_err() {
                    out.extend_from_slice(b"null");
                }
                out.push(b'}');
            }
            _ => write_json(out, v),
        }
    }
    out.push(b'}');
}

/// `create_item`'s action line and body, each ending in a newline.
pub fn create_item(prefix: &str, p: &Partial, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"create\":{\"_index\":");
    write_str(out, &message_index(prefix, &p.id));
    out.extend_from_slice(b",\"_id\":");
    write_str(out, &message_id(&p.server, &p.id));
    out.extend_from_slice(b"}}\n");
    write_summary_body(p, out);
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::super::partial::parse_parts;
    use super::*;

    #[test]
    fn id_time_and_index() {
        // Python: id_time("1tXaaa-000001-AB"), message_index("exim", …), message_id("mx1", …).
        assert_eq!(
            id_time("000000").as_deref(),
            Some("1970-01-01T00:00:00.000Z")
        );
        assert_eq!(
            id_time("00000A").as_deref(),
            Some("1970-01-01T00:00:10.000Z")
        );
        assert_eq!(id_time("0000-0"), None);
        assert_eq!(message_index("exim", "00000-"), "exim-messages-undated");
        assert_eq!(message_index("exim", "000001"), "exim-messages-1970.01");
    }

    #[test]
    fn rounding_is_pythons() {
        assert_eq!(0.5f64.round_ties_even_compat(), 0.0);
        assert_eq!(1.5f64.round_ties_even_compat(), 2.0);
        assert_eq!(2.5f64.round_ties_even_compat(), 2.0);
        assert_eq!(
            seconds_between("2024-01-01T00:00:00.000Z", "2024-01-01T00:01:01.250Z"),
            Some(61.25)
        );
    }

    #[test]
    fn a_delivered_message() {
        let mut p = parse_parts(
            br#"[{"server":"mx","id":"1tXaaa-000001-AB","first_seen":"2024-01-01T00:00:00.000Z",
            "last_seen":"2024-01-01T00:00:02.000Z","completed":"2024-01-01T00:00:02.000Z",
            "arrival":{"time":"2024-01-01T00:00:00.000Z","sender":"a@b","size":10},
            "rcpt":{"c@d":{"delivered":"2024-01-01T00:00:01.000Z","attempts":["x"],
            "via":{"time":"2024-01-01T00:00:01.000Z","flag":"=>","router":"r"}}}}]"#,
        )
        .unwrap();
        let doc = Value::Object(summary(&p.remove(0)));
        assert_eq!(doc["exim"]["state"], "delivered");
        assert_eq!(doc["exim"]["total_delay"], 2.0);
        assert_eq!(doc["exim"]["delivered_volume"], 10);
        assert_eq!(doc["exim"]["recipients"][0]["router"], "r");
        assert_eq!(doc["email"]["from"]["address"], "a@b");
        assert_eq!(doc["@timestamp"], "2024-01-01T00:00:00.000Z");
    }
}
