//! The order-free merge of two partials of one message (`shipper/messages/merge.py` `merge`): per key
//! minimum, maximum, set union, or the smaller (larger) of two records by their time, and by their
//! sorted JSON only on a tie. Absent on one side: the other's value.

use std::cmp::Ordering;

use super::partial::{Partial, Rcpt, Record, Set};

fn min(a: &mut Option<String>, b: Option<String>) {
    if let Some(vb) = b {
        match a {
            Some(va) if vb >= *va => {}
            _ => *a = Some(vb),
        }
    }
}

fn max(a: &mut Option<String>, b: Option<String>) {
    if let Some(vb) = b {
        match a {
            Some(va) if vb <= *va => {}
            _ => *a = Some(vb),
        }
    }
}

fn union(a: &mut Option<Set>, b: Option<Set>) {
    if let Some(vb) = b {
        match a {
            Some(va) => va.union(vb),
            None => *a = Some(vb),
        }
    }
}

/// `record.get("time") or ""`.
fn time(r: &Record) -> &str {
    r.get("time").and_then(|t| t.as_str()).unwrap_or("")
}

/// `_record_key`'s order: the time, then the record as JSON with sorted keys (orjson's
/// `OPT_SORT_KEYS`; serde_json's maps are sorted).
fn record_order(a: &Record, b: &Record) -> Ordering {
    time(a).cmp(time(b)).then_with(|| {
        let ja = serde_json::to_vec(a).unwrap_or_default();
        let jb = serde_json::to_vec(b).unwrap_or_default();
        ja.cmp(&jb)
    })
}

/// `_min_record`: `a` unless `b` is strictly smaller.
fn min_record(a: &mut Option<Record>, b: Option<Record>) {
    if let Some(vb) = b {
        match a {
            Some(va) if record_order(va, &vb) != Ordering::Greater => {}
            _ => *a = Some(vb),
        }
    }
}

/// `_max_record`: `a` unless `b` is strictly larger.
fn max_record(a: &mut Option<Record>, b: Option<Record>) {
    if let Some(vb) = b {
        match a {
            Some(va) if record_order(va, &vb) != Ordering::Less => {}
            _ => *a = Some(vb),
        }
    }
}

/// `_RCPT_RULES`.
fn merge_rcpt(a: &mut Rcpt, b: Rcpt) {
    min(&mut a.delivered, b.delivered);
    min(&mut a.failed, b.failed);
    min(&mut a.deferred_first, b.deferred_first);
    union(&mut a.attempts, b.attempts);
    min_record(&mut a.first_error, b.first_error);
    max_record(&mut a.last_error, b.last_error);
    min_record(&mut a.via, b.via);
    union(&mut a.originals, b.originals);
}

/// Merge `b` into `a`, two partials of the same message (commutative, associative, idempotent).
pub fn merge(a: &mut Partial, b: Partial) {
    if b.server < a.server {
        a.server = b.server;
    }
    if b.id < a.id {
        a.id = b.id;
    }
    min(&mut a.first_seen, b.first_seen);
    max(&mut a.last_seen, b.last_seen);
    min_record(&mut a.arrival, b.arrival);
    if let Some(rb) = b.rcpt {
        match &mut a.rcpt {
            None => a.rcpt = Some(rb),
            Some(ra) => {
                for (addr, r) in rb.into_vec() {
                    match ra.get_mut(&addr) {
                        Some(cur) => merge_rcpt(cur, r),
                        None => {
                            ra.insert(addr, r);
                        }
                    }
                }
            }
        }
    }
    union(&mut a.attempts, b.attempts);
    max(&mut a.completed, b.completed);
    max(&mut a.frozen, b.frozen);
    max(&mut a.unfrozen, b.unfrozen);
    min_record(&mut a.removed, b.removed);
    min_record(&mut a.cancelled, b.cancelled);
    min_record(&mut a.rejected, b.rejected);
    max_record(&mut a.spam, b.spam);
    min_record(&mut a.first_deferral, b.first_deferral);
    max_record(&mut a.last_deferral, b.last_deferral);
    max_record(&mut a.last_error, b.last_error);
    min(&mut a.bounce_of, b.bounce_of);
    union(&mut a.bounced_by, b.bounced_by);
}

#[cfg(test)]
mod tests {
    use super::super::partial::parse_parts;
    use super::*;

    fn one(json: &str) -> Partial {
        parse_parts(json.as_bytes()).unwrap().remove(0)
    }

    fn merged(a: &str, b: &str) -> Partial {
        let mut p = one(a);
        merge(&mut p, one(b));
        p
    }

    #[test]
    fn the_rules() {
        let a = r#"[{"server":"s","id":"i","first_seen":"2","last_seen":"2","attempts":["2"],
            "last_error":{"time":"2","class":"x"},"rcpt":{"a":{"delivered":"2"}}}]"#;
        let b = r#"[{"server":"s","id":"i","first_seen":"1","last_seen":"1","attempts":["1"],
            "last_error":{"time":"1","class":"y"},"rcpt":{"a":{"delivered":"1"},"b":{}}}]"#;
        let p = merged(a, b);
        assert_eq!(p.first_seen.as_deref(), Some("1"));
        assert_eq!(p.last_seen.as_deref(), Some("2"));
        assert_eq!(p.attempts.as_ref().map(Set::len), Some(2));
        assert_eq!(p.last_error.as_ref().map(time), Some("2"));
        let rcpt = p.rcpt.as_ref().unwrap();
        assert_eq!(rcpt["a"].delivered.as_deref(), Some("1"));
        assert!(rcpt.contains_key("b"));
        // Commutative and idempotent.
        assert_eq!(p, merged(b, a));
        let mut again = p.clone();
        merge(&mut again, p.clone());
        assert_eq!(again, p);
    }

    #[test]
    fn a_tie_of_times_goes_by_the_sorted_json() {
        let a = r#"[{"server":"s","id":"i","spam":{"time":"1","verdict":"a"}}]"#;
        let b = r#"[{"server":"s","id":"i","spam":{"time":"1","verdict":"b"}}]"#;
        let verdict = |p: &Partial| p.spam.as_ref().unwrap()["verdict"].clone();
        assert_eq!(verdict(&merged(a, b)), "b");
        assert_eq!(verdict(&merged(b, a)), "b");
        let c = r#"[{"server":"s","id":"i","rejected":{"time":"1","class":"b"}}]"#;
        let d = r#"[{"server":"s","id":"i","rejected":{"time":"1","class":"a"}}]"#;
        let class = |p: &Partial| p.rejected.as_ref().unwrap()["class"].clone();
        assert_eq!(class(&merged(c, d)), "a");
        assert_eq!(class(&merged(d, c)), "a");
    }
}
