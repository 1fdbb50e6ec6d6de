//! The compact message facts of one claimed entry: `shipper/messages/partials.py` `partials` over the
//! document the body and the enrichment built, written as the JSON array of its partial summaries (sets
//! as arrays, keys in Python's insertion order), so that Python merges them without loading the document.
//!
//! Where the document holds something this port does not read the way Python does (a non-ASCII address,
//! which Python lower-cases with Unicode rules; a value of an unexpected type), the facts are the single
//! byte `!`: Python then takes the partials from the document itself, as before.

use crate::doc::Value;

use crate::body::Obj;
use crate::json::{write_str, write_value};

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

/// The document holds what Python's reading and this one's may differ on: let Python read it.
struct Unsure;
type R<T> = Result<T, Unsure>;

/// Writes the facts of a claimed entry to `out` (nothing when it has no message id: no partials).
/// `doc` is what the body and the enrichment made (the document but `@timestamp`, `event`, `host`
/// and `log`), `server` the `host.name` written ("" when none), `ts` its `@timestamp`.
pub fn write(out: &mut Vec<u8>, server: &str, ts: &str, action: &str, doc: &Obj) {
    let start = out.len();
    if partials(out, server, ts, action, doc).is_err() {
        out.truncate(start);
        out.push(b'!');
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
