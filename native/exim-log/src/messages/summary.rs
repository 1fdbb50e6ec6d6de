//! A merged partial -> the message-summary document (`shipper/messages/summary.py` `summary`), its
//! stored form with the mergeable state (`documents.py` `summary_body`), its index and `_id`
//! (`message_index`, `message_id`) and the `create` item (`summaries.py` `create_item`).

use base64::Engine;
use chrono::DateTime;
use serde_json::Value;

use super::partial::{Partial, Rcpt, Record, Set};
use crate::json::{write_str, write_u64};

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
    let mut h = blake2b_simd::Params::new().hash_length(15).to_state();
    h.update(server.as_bytes());
    h.update(b"\0");
    h.update(local_id.as_bytes());
    base64::engine::general_purpose::URL_SAFE.encode(h.finalize().as_bytes())
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

/// `recipients_of` sorted by address, as a vector: the partial's recipients are sorted already.
fn final_recipients(p: &Partial) -> Vec<(&str, &Rcpt)> {
    let Some(rcpts) = &p.rcpt else {
        return Vec::new();
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

fn state_with(p: &Partial, final_: &[(&str, &Rcpt)]) -> &'static str {
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
    let outcomes: Vec<&str> = final_.iter().map(|(_, r)| outcome(r)).collect();
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

/// `orjson.dumps(summary(p))` (`shipper/messages/summary.py`), as `parse --messages` writes it (keys sorted: equal as parsed JSON).
pub fn write_summary(p: &Partial, out: &mut Vec<u8>) {
    write_doc(p, out, false);
}

/// `summary_body`: the summary with `exim.merge_state`, `to_state` of the partial, written last in
/// `exim`.
pub fn write_summary_body(p: &Partial, out: &mut Vec<u8>) {
    write_doc(p, out, true);
}

/// Writes an object member's name, after a comma unless it is the object's first.
fn key(out: &mut Vec<u8>, first: &mut bool, k: &str) {
    if !*first {
        out.push(b',');
    }
    *first = false;
    write_str(out, k);
    out.push(b':');
}

/// A record as `record` makes it: `Fields` are sorted as a `serde_json::Map` (a `BTreeMap`) is.
fn write_record(out: &mut Vec<u8>, r: &Record, skip: Option<&str>) {
    out.push(b'{');
    let mut first = true;
    for (k, v) in r.iter() {
        if Some(k.as_str()) != skip {
            key(out, &mut first, k);
            write_json(out, v);
        }
    }
    out.push(b'}');
}

fn write_strs(out: &mut Vec<u8>, items: impl Iterator<Item = impl AsRef<str>>) {
    out.push(b'[');
    for (i, x) in items.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, x.as_ref());
    }
    out.push(b']');
}

fn write_f64(out: &mut Vec<u8>, f: f64) {
    use std::io::Write;
    // `Value::from(f64)`: a non-finite float is null; ryu's digits otherwise, as serde_json's.
    match serde_json::Number::from_f64(f) {
        Some(n) => {
            let _ = write!(out, "{n}");
        }
        None => out.extend_from_slice(b"null"),
    }
}

/// The arrival time: the log's value (any JSON), or the one decoded from the id.
enum Arrival<'a> {
    Log(&'a Value),
    Id(String),
}

/// A recipient member's value (`recipient`'s inserts, borrowed).
enum Member<'a> {
    Str(&'a str),
    Strs(&'a Set),
    Count(usize),
    Json(&'a Value),
    Error(&'a Record),
}

/// `_recipient`, written: its members in `recipient`'s insertion order, then sorted with a later
/// insert of a name replacing an earlier one (the route's keys may name any member).
fn write_recipient(out: &mut Vec<u8>, addr: &str, r: &Rcpt) {
    let mut m: Vec<(&str, Member)> = Vec::with_capacity(12);
    m.push(("address", Member::Str(addr)));
    if let Some(o) = &r.originals {
        m.push(("original_address", Member::Strs(o)));
    }
    m.push(("outcome", Member::Str(outcome(r))));
    m.push((
        "attempts",
        Member::Count(r.attempts.as_ref().map_or(0, Set::len)),
    ));
    if let Some(t) = &r.delivered {
        m.push(("delivered_time", Member::Str(t)));
        for (k, v) in r.via.iter().flat_map(Record::iter) {
            if k != "time" && k != "flag" {
                m.push((k, Member::Json(v)));
            }
        }
    }
    if let Some(t) = &r.failed {
        m.push(("failed_time", Member::Str(t)));
    }
    if let Some(e) = &r.last_error {
        m.push(("last_error", Member::Error(e)));
    }
    // Stable: of equal names the last inserted stays last, and is the one written.
    m.sort_by(|a, b| a.0.cmp(b.0));
    out.push(b'{');
    let mut first = true;
    for (i, (k, v)) in m.iter().enumerate() {
        if m.get(i + 1).is_some_and(|next| next.0 == *k) {
            continue;
        }
        key(out, &mut first, k);
        match v {
            Member::Str(s) => write_str(out, s),
            Member::Strs(set) => write_strs(out, set.iter()),
            Member::Count(n) => write_u64(out, *n as u64),
            Member::Json(v) => write_json(out, v),
            Member::Error(e) => write_record(out, e, Some("time")),
        }
    }
    out.push(b'}');
}

/// `summary` (and with `state`, `summary_body`) written straight from the partial, members in the
/// order the `serde_json::Map` (sorted) of `summary` holds them: building and freeing that tree was
/// two thirds of a summary item's instructions. `merge_state` goes last in `exim`, as before.
fn write_doc(p: &Partial, out: &mut Vec<u8>, state: bool) {
    let empty = Record::new();
    let arrival = p.arrival.as_ref().unwrap_or(&empty);
    let final_ = final_recipients(p);
    let arrival_time = match arrival.get("time").filter(|v| !v.is_null()) {
        Some(v) => Some(Arrival::Log(v)),
        None => id_time(&p.id).map(Arrival::Id),
    };
    let opt = |out: &mut Vec<u8>, first: &mut bool, k: &str, v: Option<&Value>| {
        if let Some(v) = v {
            key(out, first, k);
            write_json(out, v);
        }
    };
    let opt_str = |out: &mut Vec<u8>, first: &mut bool, k: &str, v: Option<&str>| {
        if let Some(v) = v {
            key(out, first, k);
            write_str(out, v);
        }
    };
    let opt_record = |out: &mut Vec<u8>, first: &mut bool, k: &str, v: &Option<Record>| {
        if let Some(r) = v {
            key(out, first, k);
            write_record(out, r, None);
        }
    };

    out.push(b'{');
    let mut top = true;
    match &arrival_time {
        Some(Arrival::Log(v)) if truthy(v) => opt(out, &mut top, "@timestamp", Some(v)),
        Some(Arrival::Id(t)) if !t.is_empty() => opt_str(out, &mut top, "@timestamp", Some(t)),
        _ => opt_str(out, &mut top, "@timestamp", p.first_seen.as_deref()),
    }

    key(out, &mut top, "email");
    out.push(b'{');
    let mut first = true;
    if let Some(sender) = arrival.get("sender") {
        if truthy(sender) && sender.as_str() != Some("<>") {
            key(out, &mut first, "from");
            out.extend_from_slice(b"{\"address\":");
            write_json(out, sender);
            out.push(b'}');
        }
    }
    opt_str(out, &mut first, "local_id", Some(&p.id));
    opt(out, &mut first, "message_id", arrival.get("message_id"));
    opt(out, &mut first, "subject", arrival.get("subject"));
    if !final_.is_empty() {
        key(out, &mut first, "to");
        out.extend_from_slice(b"{\"address\":");
        write_strs(out, final_.iter().map(|(a, _)| *a));
        out.push(b'}');
    }
    out.push(b'}');

    key(out, &mut top, "exim");
    out.push(b'{');
    let mut first = true;
    match &arrival_time {
        Some(Arrival::Log(v)) => {
            opt(out, &mut first, "arrival_time", Some(v));
            opt_str(out, &mut first, "arrival_time_source", Some("log"));
        }
        Some(Arrival::Id(t)) => {
            opt_str(out, &mut first, "arrival_time", Some(t));
            opt_str(out, &mut first, "arrival_time_source", Some("message_id"));
        }
        None => {}
    }
    key(out, &mut first, "attempts");
    write_u64(out, p.attempts.as_ref().map_or(0, Set::len) as u64);
    opt_str(out, &mut first, "bounce_of", p.bounce_of.as_deref());
    if let Some(by) = &p.bounced_by {
        key(out, &mut first, "bounced_by");
        write_strs(out, by.iter());
    }
    opt_record(out, &mut first, "cancelled", &p.cancelled);
    opt_str(out, &mut first, "completed_time", p.completed.as_deref());
    if let Some(size) = arrival.get("size") {
        let volume = delivered_volume(p, size);
        opt(out, &mut first, "delivered_volume", volume.as_ref());
    }
    opt_record(out, &mut first, "first_deferral", &p.first_deferral);
    opt_str(out, &mut first, "first_seen", p.first_seen.as_deref());
    opt_str(out, &mut first, "frozen_time", p.frozen.as_deref());
    opt(out, &mut first, "helo", arrival.get("helo"));
    opt(out, &mut first, "ident", arrival.get("ident"));
    opt_record(out, &mut first, "last_deferral", &p.last_deferral);
    let class = p.last_error.as_ref().and_then(|e| e.get("class"));
    opt(out, &mut first, "last_error_class", class);
    opt_str(out, &mut first, "last_seen", p.last_seen.as_deref());
    opt(out, &mut first, "protocol", arrival.get("protocol"));
    if !final_.is_empty() {
        key(out, &mut first, "recipients");
        out.push(b'[');
        for (i, (a, r)) in final_.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_recipient(out, a, r);
        }
        out.push(b']');
    }
    opt_record(out, &mut first, "rejected", &p.rejected);
    opt(out, &mut first, "remote_provider", arrival.get("provider"));
    opt_record(out, &mut first, "removed", &p.removed);
    opt(out, &mut first, "size", arrival.get("size"));
    opt_record(out, &mut first, "spam", &p.spam);
    opt_str(out, &mut first, "state", Some(state_with(p, &final_)));
    if let Some(done) = &p.completed {
        let at = match &arrival_time {
            Some(Arrival::Log(Value::String(at))) => Some(at.as_str()),
            Some(Arrival::Id(at)) => Some(at.as_str()),
            _ => None,
        };
        if let Some(delay) = at.and_then(|at| seconds_between(at, done)) {
            key(out, &mut first, "total_delay");
            write_f64(out, delay);
        }
    }
    if state {
        key(out, &mut first, "merge_state");
        write_state(out, p);
    }
    out.push(b'}');

    key(out, &mut top, "host");
    out.extend_from_slice(b"{\"name\":");
    write_str(out, &p.server);
    out.push(b'}');
    for (name, pre, keys) in [
        ("source", "source_", ["domain", "ip"]),
        ("tls", "tls_", ["cipher", "version"]),
    ] {
        let [a, b] = keys.map(|k| arrival.get(&format!("{pre}{k}")));
        if a.is_some() || b.is_some() {
            key(out, &mut top, name);
            out.push(b'{');
            let mut first = true;
            opt(out, &mut first, keys[0], a);
            opt(out, &mut first, keys[1], b);
            out.push(b'}');
        }
    }
    if let Some(user) = arrival.get("user") {
        key(out, &mut top, "user");
        out.extend_from_slice(b"{\"name\":");
        write_json(out, user);
        out.push(b'}');
    }
    out.push(b'}');
}

/// `to_state` of the partial as `serde_json::to_writer` writes its `Serialize` (fields in declaration
/// order, the absent ones left out), without serde's per-value calls.
fn write_state(out: &mut Vec<u8>, p: &Partial) {
    out.push(b'{');
    let mut first = true;
    key(out, &mut first, "server");
    write_str(out, &p.server);
    key(out, &mut first, "id");
    write_str(out, &p.id);
    let opt_str = |out: &mut Vec<u8>, first: &mut bool, k: &str, v: &Option<String>| {
        if let Some(v) = v {
            key(out, first, k);
            write_str(out, v);
        }
    };
    let opt_record = |out: &mut Vec<u8>, first: &mut bool, k: &str, v: &Option<Record>| {
        if let Some(r) = v {
            key(out, first, k);
            write_record(out, r, None);
        }
    };
    let opt_set = |out: &mut Vec<u8>, first: &mut bool, k: &str, v: &Option<Set>| {
        if let Some(set) = v {
            key(out, first, k);
            write_strs(out, set.iter());
        }
    };
    opt_str(out, &mut first, "first_seen", &p.first_seen);
    opt_str(out, &mut first, "last_seen", &p.last_seen);
    opt_record(out, &mut first, "arrival", &p.arrival);
    if let Some(rcpts) = &p.rcpt {
        key(out, &mut first, "rcpt");
        out.push(b'{');
        let mut each = true;
        for (addr, r) in rcpts.iter() {
            key(out, &mut each, addr);
            out.push(b'{');
            let mut f = true;
            opt_set(out, &mut f, "originals", &r.originals);
            opt_str(out, &mut f, "delivered", &r.delivered);
            opt_str(out, &mut f, "failed", &r.failed);
            opt_str(out, &mut f, "deferred_first", &r.deferred_first);
            opt_set(out, &mut f, "attempts", &r.attempts);
            opt_record(out, &mut f, "first_error", &r.first_error);
            opt_record(out, &mut f, "last_error", &r.last_error);
            opt_record(out, &mut f, "via", &r.via);
            out.push(b'}');
        }
        out.push(b'}');
    }
    opt_set(out, &mut first, "attempts", &p.attempts);
    opt_str(out, &mut first, "completed", &p.completed);
    opt_str(out, &mut first, "frozen", &p.frozen);
    opt_str(out, &mut first, "unfrozen", &p.unfrozen);
    opt_record(out, &mut first, "removed", &p.removed);
    opt_record(out, &mut first, "cancelled", &p.cancelled);
    opt_record(out, &mut first, "rejected", &p.rejected);
    opt_record(out, &mut first, "spam", &p.spam);
    opt_record(out, &mut first, "first_deferral", &p.first_deferral);
    opt_record(out, &mut first, "last_deferral", &p.last_deferral);
    opt_record(out, &mut first, "last_error", &p.last_error);
    opt_str(out, &mut first, "bounce_of", &p.bounce_of);
    opt_set(out, &mut first, "bounced_by", &p.bounced_by);
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

/// The summary as a `serde_json` tree, the way it was built before the straight writer: the tests' oracle
/// of `write_summary` and `write_summary_body`.
#[cfg(test)]
pub(crate) mod tree {
    use std::collections::BTreeMap;

    use serde_json::Map;

    use super::*;

    fn s(v: &str) -> Value {
        Value::String(v.to_string())
    }

    /// `recipients_of`: an expanded address gives way to its targets unless it has an outcome of its own.
    pub fn recipients_of(p: &Partial) -> BTreeMap<&str, &Rcpt> {
        final_recipients(p).into_iter().collect()
    }

    /// `state_of`: the message state, from the merged partial alone.
    pub fn state_of(p: &Partial) -> &'static str {
        state_with(p, &final_recipients(p))
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
}

#[cfg(test)]
mod tests {
    use super::super::partial::parse_parts;
    use super::tree::summary;
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

    /// The writers before this one: the `serde_json` tree of `summary`, and `serde_json`'s own
    /// serialisation of the partial for `merge_state`.
    fn tree_summary(p: &Partial) -> Vec<u8> {
        let mut out = Vec::new();
        write_json(&mut out, &Value::Object(summary(p)));
        out
    }

    fn tree_body(p: &Partial) -> Vec<u8> {
        let mut out = Vec::new();
        out.push(b'{');
        for (i, (k, v)) in summary(p).iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_str(&mut out, k);
            out.push(b':');
            match v {
                Value::Object(exim) if k == "exim" => {
                    out.push(b'{');
                    for (k, v) in exim {
                        write_str(&mut out, k);
                        out.push(b':');
                        write_json(&mut out, v);
                        out.push(b',');
                    }
                    out.extend_from_slice(b"\"merge_state\":");
                    serde_json::to_writer(&mut out, p).unwrap();
                    out.push(b'}');
                }
                _ => write_json(&mut out, v),
            }
        }
        out.push(b'}');
        out
    }

    #[test]
    fn written_straight_as_the_tree_wrote_them() {
        let parts = parse_parts(
            br#"[
            {"server":"mx","id":"1tXaaa-000001-AB","first_seen":"2024-01-01T00:00:00.000Z",
             "last_seen":"2024-01-01T00:00:02.000Z","completed":"2024-01-01T00:00:02.000Z",
             "attempts":["a","b"],
             "arrival":{"time":"2024-01-01T00:00:00.000Z","sender":"a@b","size":10,"helo":"h\"\n",
              "protocol":"esmtps","ident":null,"subject":"S\u0001\u00e9","message_id":"<m@x>","user":"u",
              "tls_cipher":"C","tls_version":"T","source_ip":"1.2.3.4","provider":"p","x":[1,{"b":2,"a":1.5}]},
             "rcpt":{"c@d":{"delivered":"2024-01-01T00:00:01.000Z","attempts":["x"],
              "via":{"time":"2024-01-01T00:00:01.000Z","flag":"=>","router":"r","address":"over",
               "zz":1.25,"failed_time":"v","delivered_time":"w"},
              "failed":"2024-01-01T00:00:01.500Z","last_error":{"time":"t","class":"c","msg":"m"}},
              "a@d":{"originals":["p@d","o@d"],"deferred_first":"t","first_error":{"time":"t"}},
              "p@d":{"delivered":"t"},"o@d":{}}},
            {"server":"mx","id":"0000-0","first_seen":"2024-01-01T00:00:00.000Z",
             "rejected":{"time":"t","reason":"r"},"spam":{"time":"t","score":5.5},
             "removed":{"time":"t"},"cancelled":{"time":"t"},"frozen":"f","unfrozen":"e",
             "first_deferral":{"time":"t","a":"b"},"last_deferral":{"time":"u"},
             "last_error":{"time":"t","class":"k"},"bounce_of":"x","bounced_by":["b","a"]},
            {"server":"mx","id":"1tXaaa-000002-AB","completed":"2024-01-01T00:00:02.000Z",
             "arrival":{"time":null,"sender":"<>","size":2.5,"source_domain":"d","tls_version":"1.3"},
             "rcpt":{"e@f":{"via":{"time":"2024-01-01T00:00:01.000Z","flag":"=>"},"delivered":"x"}}},
            {"server":"mx","id":"1tXaaa-000003-AB","arrival":{"time":"","sender":""},
             "first_seen":"2024-01-01T00:00:00.000Z","rcpt":{"g@h":{"deferred_first":"t"}}},
            {"server":"mx","id":"1tXaaa-000004-AB","arrival":{"time":7,"size":-3},
             "completed":"2024-01-01T00:00:02.000Z","bounced_by":["z"]},
            {"server":"s","id":"i"}
            ]"#,
        )
        .unwrap();
        for p in &parts {
            let mut out = Vec::new();
            write_summary(p, &mut out);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                String::from_utf8(tree_summary(p)).unwrap()
            );
            let mut out = Vec::new();
            write_summary_body(p, &mut out);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                String::from_utf8(tree_body(p)).unwrap()
            );
            let mut state = Vec::new();
            write_state(&mut state, p);
            assert_eq!(state, serde_json::to_vec(p).unwrap());
        }
    }
}
