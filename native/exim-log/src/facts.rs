//! The compact message facts of one entry: the partial summaries it contributes to its message (and to
//! the one it bounces), read from the document the body and the enrichment built, as the Python
//! `shipper/messages/partials.py` `partials` read a whole document (deleted; its summaries are the golden
//! records, `tests/golden`). Written as the JSON array of the partials (sets as arrays, keys in that
//! reading's insertion order, which the summaries follow), or as typed partials for the correlator.
//!
//! Every entry with a message id and a time has its facts, an `unrecognized` one's too (its message's first
//! and last seen) and an impossible time's (read at the stamp its document inherits). A member of a type
//! the reading does not take (an object where a string is due: the body and the enrichment write none)
//! leaves the entry dating its message only, as an `unrecognized` entry does.

use crate::doc::Value;

use crate::body::Obj;
use crate::json::{write_str, write_value};
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

/// Writes the facts of a claimed entry to `out` (nothing when it has no message id: no partials).
/// `doc` is what the body and the enrichment made (the document but `@timestamp`, `event`, `host`
/// and `log`), `server` the `host.name` written ("" when none), `ts` its `@timestamp`.
pub fn write(out: &mut Vec<u8>, server: &str, ts: &str, action: &str, doc: &Obj) {
    let start = out.len();
    if partials(out, server, ts, action, doc).is_err() {
        out.truncate(start);
        // The id alone reads as a string or not at all: this cannot fail again.
        let _ = partials(out, server, ts, ACTIONS_NONE, &dated(doc));
    }
}

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

/// A JSON object written member by member, in insertion order.
struct Writer<'a> {
    out: &'a mut Vec<u8>,
    first: Vec<bool>,
}

impl<'a> Writer<'a> {
    fn new(out: &'a mut Vec<u8>) -> Self {
        Self {
            out,
            first: Vec::new(),
        }
    }

    fn sep(&mut self) {
        if let Some(first) = self.first.last_mut() {
            if !*first {
                self.out.push(b',');
            }
            *first = false;
        }
    }

    fn open(&mut self, c: u8) {
        self.out.push(c);
        self.first.push(true);
    }

    fn close(&mut self, c: u8) {
        self.first.pop();
        self.out.push(c);
    }

    fn key(&mut self, k: &str) {
        self.sep();
        write_str(self.out, k);
        self.out.push(b':');
    }

    fn str(&mut self, k: &str, v: &str) {
        self.key(k);
        write_str(self.out, v);
    }

    fn value(&mut self, k: &str, v: &Value) {
        self.key(k);
        write_value(self.out, v);
    }

    /// `[v]`, a one-member set.
    fn set(&mut self, k: &str, v: &str) {
        self.key(k);
        self.out.push(b'[');
        write_str(self.out, v);
        self.out.push(b']');
    }

    fn item(&mut self) {
        self.sep();
    }
}

fn partials(out: &mut Vec<u8>, server: &str, ts: &str, action: &str, doc: &Obj) -> R<()> {
    let doc = Some(doc);
    let email = obj(doc, "email")?;
    let exim = obj(doc, "exim")?;
    let local_id = match get(email, "local_id") {
        Some(v) if truthy(v) => match v {
            Value::String(s) => s.as_str(),
            _ => return Err(Unsure),
        },
        _ => return Ok(()),
    };
    let mut w = Writer::new(out);
    w.open(b'[');
    w.item();
    w.open(b'{');
    w.str("server", server);
    w.str("id", local_id);
    w.str("first_seen", ts);
    w.str("last_seen", ts);
    let mut bounced: Option<&Value> = None;
    if ARRIVALS.contains(&action) {
        bounced = arrival(&mut w, doc, email, exim, ts)?;
    } else if DELIVERIES.contains(&action) {
        delivery(&mut w, doc, email, exim, action, ts)?;
    } else {
        status(&mut w, email, exim, action, ts)?;
    }
    w.close(b'}');
    if let Some(of) = bounced {
        w.item();
        w.open(b'{');
        w.str("server", server);
        w.value("id", of);
        w.set("bounced_by", local_id);
        w.close(b'}');
    }
    w.close(b']');
    Ok(())
}

/// `rcpt` of a list of addresses: `{r.lower(): {}}` each, first occurrence's place.
fn recipients(w: &mut Writer<'_>, list: &Value) -> R<()> {
    let Value::Array(list) = list else {
        return Err(Unsure);
    };
    let mut seen: Vec<String> = Vec::with_capacity(list.len());
    for r in list {
        let r = lower(r)?;
        if !seen.contains(&r) {
            seen.push(r);
        }
    }
    w.key("rcpt");
    w.open(b'{');
    for r in &seen {
        w.key(r);
        w.out.extend_from_slice(b"{}");
    }
    w.close(b'}');
    Ok(())
}

/// `_known`: the members whose value is not None.
fn known(w: &mut Writer<'_>, pairs: &[(&str, Option<&Value>)]) {
    for (k, v) in pairs {
        if let Some(v) = v {
            w.value(k, v);
        }
    }
}

fn arrival<'a>(
    w: &mut Writer<'_>,
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
    w.key("arrival");
    w.open(b'{');
    w.str("time", ts);
    match from.and_then(|f| f.get("address")) {
        Some(v) => w.value("sender", v),
        None => w.str("sender", "<>"),
    }
    known(
        w,
        &[
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
        ],
    );
    w.close(b'}');
    if let Some(rcpts) = get(obj(email, "to")?, "address").filter(|v| truthy(v)) {
        recipients(w, rcpts)?;
    }
    match get(exim, "bounce_of").filter(|v| truthy(v)) {
        Some(of) => {
            w.value("bounce_of", of);
            Ok(Some(of))
        }
        None => Ok(None),
    }
}

/// `_error_record`: written as the value of the current key.
fn error_record(w: &mut Writer<'_>, exim: Option<&Obj>, ts: &str) -> R<()> {
    let err = obj(exim, "error")?;
    w.open(b'{');
    w.str("time", ts);
    match err.and_then(|e| e.get("class")) {
        Some(v) => w.value("class", v),
        None => w.str("class", "unknown"),
    }
    match err.and_then(|e| e.get("text")).filter(|v| truthy(v)) {
        Some(v) => w.value("text", v),
        None => match err.and_then(|e| e.get("message")) {
            Some(v) => w.value("text", v),
            None => w.str("text", ""),
        },
    }
    if let Some(code) = err.and_then(|e| e.get("smtp_code")) {
        w.value("smtp_code", code);
    }
    w.close(b'}');
    Ok(())
}

fn record_at(w: &mut Writer<'_>, k: &str, record: &[u8]) {
    w.key(k);
    w.out.extend_from_slice(record);
}

fn delivery(
    w: &mut Writer<'_>,
    doc: Option<&Obj>,
    email: Option<&Obj>,
    exim: Option<&Obj>,
    action: &str,
    ts: &str,
) -> R<()> {
    // `_rcpt_key`: the final address, else the first recipient.
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
    // The error record once, written where Python shares one dict.
    let mut record = Vec::new();
    if action == "delivery_failed" || action == "delivery_deferred" {
        let mut rw = Writer::new(&mut record);
        error_record(&mut rw, exim, ts)?;
    }
    let class = get(obj(exim, "error")?, "class");
    let attempt = class.and_then(Value::as_str) != Some("retry_time_not_reached");
    if action == "delivery_failed" {
        record_at(w, "last_error", &record);
    } else if action == "delivery_deferred" {
        record_at(w, "first_deferral", &record);
        record_at(w, "last_deferral", &record);
        record_at(w, "last_error", &record);
    }
    if attempt {
        w.set("attempts", ts);
    }
    w.key("rcpt");
    w.open(b'{');
    w.key(&rcpt);
    w.open(b'{');
    if let Some(o) = &original {
        w.set("originals", o);
    }
    if action == "delivery_failed" {
        w.str("failed", ts);
        record_at(w, "first_error", &record);
        record_at(w, "last_error", &record);
    } else if action == "delivery_deferred" {
        w.str("deferred_first", ts);
        record_at(w, "first_error", &record);
        record_at(w, "last_error", &record);
    } else {
        w.str("delivered", ts);
        via(w, doc, exim, ts)?;
    }
    if attempt {
        w.set("attempts", ts);
    }
    w.close(b'}');
    w.close(b'}');
    Ok(())
}

/// `_via`: where a delivery went.
fn via(w: &mut Writer<'_>, doc: Option<&Obj>, exim: Option<&Obj>, ts: &str) -> R<()> {
    let dest = obj(doc, "destination")?;
    let remote = obj(exim, "remote")?;
    w.key("via");
    w.open(b'{');
    w.str("time", ts);
    known(
        w,
        &[
            ("flag", get(exim, "flag")),
            ("router", get(exim, "router")),
            ("transport", get(exim, "transport")),
            ("host", get(dest, "domain")),
            ("ip", get(dest, "ip")),
            ("provider", get(remote, "provider")),
        ],
    );
    w.close(b'}');
    Ok(())
}

fn status(
    w: &mut Writer<'_>,
    email: Option<&Obj>,
    exim: Option<&Obj>,
    action: &str,
    ts: &str,
) -> R<()> {
    if let Some((_, key)) = STAMPS.iter().find(|(a, _)| *a == action) {
        w.str(key, ts);
    } else if let Some((_, key)) = BY_WHOM.iter().find(|(a, _)| *a == action) {
        w.key(key);
        w.open(b'{');
        w.str("time", ts);
        match exim.and_then(|e| e.get("by")) {
            Some(v) => w.value("by", v),
            None => w.str("by", ""),
        }
        w.close(b'}');
    } else if action == "message_rejected" || action == "cutthrough_rejected" {
        w.key("rejected");
        error_record(w, exim, ts)?;
    } else if action == "spam_verdict" {
        let spam = obj(exim, "spam")?;
        w.key("spam");
        w.open(b'{');
        w.str("time", ts);
        for (k, v) in spam.into_iter().flatten() {
            if k == "verdict" || k == "score" {
                w.value(k, v);
            }
        }
        w.close(b'}');
    } else if action == "smtp_connection_outbound" {
        if let Some(to) = get(obj(email, "to")?, "address").filter(|v| truthy(v)) {
            recipients(w, to)?;
        }
    }
    Ok(())
}

/// The facts of an entry as typed partials (None: no message id), for the correlator in the same
/// process, equal to [`parse_parts`](crate::messages::parse_parts) of what `write` writes: the JSON
/// that `write` makes, and the parse of it back, cost as much as the rest of the correlation.
pub fn typed(server: &str, ts: &str, action: &str, doc: &Obj) -> Option<Vec<Partial>> {
    typed_parts(server, ts, action, doc)
        .or_else(|Unsure| typed_parts(server, ts, ACTIONS_NONE, &dated(doc)))
        .unwrap_or_default()
}

/// A document value as `serde_json` reads it back from `write_value`'s JSON (a non-negative `I` is
/// read as an unsigned integer; floats round-trip, `float_roundtrip`).
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

/// A string member of the typed partial: anything else does not parse (unsure).
fn string(v: &Value) -> R<String> {
    match v {
        Value::String(s) => Ok(s.to_string()),
        _ => Err(Unsure),
    }
}

fn rec(pairs: &[(&str, serde_json::Value)]) -> Record {
    let mut r = Record::new();
    for (k, v) in pairs {
        r.insert((*k).to_string(), v.clone());
    }
    r
}

fn text(s: &str) -> serde_json::Value {
    serde_json::Value::String(s.to_string())
}

/// `_known` into a record.
fn known_into(r: &mut Record, pairs: &[(&str, Option<&Value>)]) {
    for (k, v) in pairs {
        if let Some(v) = v {
            r.insert((*k).to_string(), json(v));
        }
    }
}

fn typed_parts(server: &str, ts: &str, action: &str, doc: &Obj) -> R<Option<Vec<Partial>>> {
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
        bounced = typed_arrival(&mut p, doc, email, exim, ts)?;
    } else if DELIVERIES.contains(&action) {
        typed_delivery(&mut p, doc, email, exim, action, ts)?;
    } else {
        typed_status(&mut p, email, exim, action, ts)?;
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
fn typed_recipients(list: &Value) -> R<Fields<Rcpt>> {
    let Value::Array(list) = list else {
        return Err(Unsure);
    };
    let mut rcpt = Fields::new();
    for r in list {
        rcpt.insert(lower(r)?, Rcpt::default());
    }
    Ok(rcpt)
}

fn typed_arrival<'a>(
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
    let mut a = rec(&[("time", text(ts))]);
    let sender = match from.and_then(|f| f.get("address")) {
        Some(v) => json(v),
        None => text("<>"),
    };
    a.insert("sender".to_string(), sender);
    known_into(
        &mut a,
        &[
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
        ],
    );
    p.arrival = Some(a);
    if let Some(rcpts) = get(obj(email, "to")?, "address").filter(|v| truthy(v)) {
        p.rcpt = Some(typed_recipients(rcpts)?);
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
fn typed_error_record(exim: Option<&Obj>, ts: &str) -> R<Record> {
    let err = obj(exim, "error")?;
    let mut r = rec(&[("time", text(ts))]);
    let class = match err.and_then(|e| e.get("class")) {
        Some(v) => json(v),
        None => text("unknown"),
    };
    r.insert("class".to_string(), class);
    let message = match err.and_then(|e| e.get("text")).filter(|v| truthy(v)) {
        Some(v) => json(v),
        None => match err.and_then(|e| e.get("message")) {
            Some(v) => json(v),
            None => text(""),
        },
    };
    r.insert("text".to_string(), message);
    if let Some(code) = err.and_then(|e| e.get("smtp_code")) {
        r.insert("smtp_code".to_string(), json(code));
    }
    Ok(r)
}

fn typed_delivery(
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
        Some(typed_error_record(exim, ts)?)
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
        r.via = Some(typed_via(doc, exim, ts)?);
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
fn typed_via(doc: Option<&Obj>, exim: Option<&Obj>, ts: &str) -> R<Record> {
    let dest = obj(doc, "destination")?;
    let remote = obj(exim, "remote")?;
    let mut r = rec(&[("time", text(ts))]);
    known_into(
        &mut r,
        &[
            ("flag", get(exim, "flag")),
            ("router", get(exim, "router")),
            ("transport", get(exim, "transport")),
            ("host", get(dest, "domain")),
            ("ip", get(dest, "ip")),
            ("provider", get(remote, "provider")),
        ],
    );
    Ok(r)
}

fn typed_status(
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
        let r = rec(&[("time", text(ts)), ("by", by)]);
        if *key == "removed" {
            p.removed = Some(r);
        } else {
            p.cancelled = Some(r);
        }
    } else if action == "message_rejected" || action == "cutthrough_rejected" {
        p.rejected = Some(typed_error_record(exim, ts)?);
    } else if action == "spam_verdict" {
        let spam = obj(exim, "spam")?;
        let mut r = rec(&[("time", text(ts))]);
        for (k, v) in spam.into_iter().flatten() {
            if k == "verdict" || k == "score" {
                r.insert(k.to_string(), json(v));
            }
        }
        p.spam = Some(r);
    } else if action == "smtp_connection_outbound" {
        if let Some(to) = get(obj(email, "to")?, "address").filter(|v| truthy(v)) {
            p.rcpt = Some(typed_recipients(to)?);
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

    fn facts(action: &str, d: serde_json::Value) -> String {
        let mut out = Vec::new();
        write(&mut out, "mx1", "T", action, &doc(d));
        String::from_utf8(out).unwrap_or_default()
    }

    #[test]
    fn no_message_id_no_facts() {
        assert_eq!(facts("message_completed", serde_json::json!({})), "");
    }

    #[test]
    fn a_stamp_and_a_skipped_retry() {
        let id = serde_json::json!({"email": {"local_id": "1tXaaa-000001-AB"}});
        assert_eq!(
            facts("message_completed", id),
            r#"[{"server":"mx1","id":"1tXaaa-000001-AB","first_seen":"T","last_seen":"T","completed":"T"}]"#
        );
        let d = serde_json::json!({"email": {"local_id": "X"}, "exim": {"address": "A@B",
            "error": {"class": "retry_time_not_reached", "message": "m"}}});
        assert_eq!(
            facts("delivery_deferred", d),
            concat!(
                r#"[{"server":"mx1","id":"X","first_seen":"T","last_seen":"T","#,
                r#""first_deferral":{"time":"T","class":"retry_time_not_reached","text":"m"},"#,
                r#""last_deferral":{"time":"T","class":"retry_time_not_reached","text":"m"},"#,
                r#""last_error":{"time":"T","class":"retry_time_not_reached","text":"m"},"#,
                r#""rcpt":{"a@b":{"deferred_first":"T","#,
                r#""first_error":{"time":"T","class":"retry_time_not_reached","text":"m"},"#,
                r#""last_error":{"time":"T","class":"retry_time_not_reached","text":"m"}}}}]"#
            )
        );
    }

    /// Every entry of a log through a stream: its facts lines, and with `typed` its partials.
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
    fn typed_partials_equal_the_parsed_facts() {
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
        let json = stream(&log, false);
        let typed = stream(&log, true);
        assert!(json.parts.is_empty());
        let lines: Vec<&[u8]> = json.facts.split(|&b| b == b'\n').collect();
        let marks: Vec<&[u8]> = typed.facts.split(|&b| b == b'\n').collect();
        assert_eq!(lines.len(), marks.len());
        let mut parts = typed.parts.iter();
        let mut n = 0;
        for ((line, mark), e) in lines.iter().zip(&marks).zip(&json.entries) {
            match *line {
                b"" => assert_eq!(line, mark),
                _ => {
                    assert_eq!(*mark, b"=");
                    let (at, got) = parts.next().expect("a typed entry");
                    assert_eq!(*at, e.offset);
                    assert_eq!(*got, crate::messages::parse_parts(line).unwrap());
                    n += 1;
                }
            }
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
        let batch = stream(log.as_bytes(), false);
        let lines: Vec<&str> = std::str::from_utf8(&batch.facts)
            .unwrap()
            .split('\n')
            .collect();
        let seen = |t: &str| format!(r#""first_seen":"{t}","last_seen":"{t}""#);
        let t1 = "2025-01-31T10:00:01.000Z";
        assert_eq!(
            lines,
            [
                // No time to read it at: Python's `partials` makes nothing of a document without one.
                "".to_string(),
                format!(
                    r#"[{{"server":"mx1","id":"1tXaaa-000001-AB",{}}}]"#,
                    seen(t1)
                ),
                format!(
                    concat!(
                        r#"[{{"server":"mx1","id":"1tXaaa-000001-AB",{},"attempts":["{t}"],"#,
                        r#""rcpt":{{"a@b.example":{{"delivered":"{t}","via":{{"time":"{t}","flag":"=>","#,
                        r#""router":"r","transport":"t"}},"attempts":["{t}"]}}}}}}]"#
                    ),
                    seen(t1),
                    t = t1
                ),
                String::new(),
                String::new(),
            ]
        );
        let typed = stream(log.as_bytes(), true);
        assert_eq!(typed.facts, b"\n=\n=\n\n");
        let offsets: Vec<u64> = typed.parts.iter().map(|(at, _)| *at).collect();
        assert_eq!(offsets, [60, 130]);
        for ((_, got), line) in typed.parts.iter().zip(&lines[1..]) {
            assert_eq!(*got, crate::messages::parse_parts(line.as_bytes()).unwrap());
        }
    }

    #[test]
    fn a_member_of_another_type_leaves_the_message_dated() {
        let d = serde_json::json!({"email": {"local_id": "X", "to": "not a list"}});
        assert_eq!(
            facts("message_arrived", d.clone()),
            r#"[{"server":"mx1","id":"X","first_seen":"T","last_seen":"T"}]"#
        );
        let parts = typed("mx1", "T", "message_arrived", &doc(d)).unwrap();
        assert_eq!(parts.len(), 1);
        assert!(parts[0].arrival.is_none());
        assert_eq!(parts[0].first_seen.as_deref(), Some("T"));
    }

    #[test]
    fn a_non_ascii_address_is_lowered_as_pythons_str_lower() {
        let d = serde_json::json!({"email": {"local_id": "X"}, "exim": {"address": "Ünï@b"}});
        assert_eq!(
            facts("delivered", d),
            concat!(
                r#"[{"server":"mx1","id":"X","first_seen":"T","last_seen":"T","attempts":["T"],"#,
                r#""rcpt":{"ünï@b":{"delivered":"T","via":{"time":"T"},"attempts":["T"]}}}]"#
            )
        );
    }
}
