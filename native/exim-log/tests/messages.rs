//! Properties of the message correlation (`exim_log::messages`): any bytes are taken or refused as
//! partials, never a panic; what parses merges commutatively and idempotently, and goes through the
//! correlator, the first-seen order and the summary documents without a panic.

use exim_log::messages::binary;
use exim_log::messages::{
    merge, parse_parts, write_summary, Correlator, FirstSeen, Partial, Pending,
};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use serde_json::{json, Map, Value};

const KEYS: [&str; 26] = [
    "first_seen",
    "last_seen",
    "arrival",
    "rcpt",
    "attempts",
    "completed",
    "frozen",
    "unfrozen",
    "removed",
    "cancelled",
    "rejected",
    "spam",
    "first_deferral",
    "last_deferral",
    "last_error",
    "bounce_of",
    "bounced_by",
    "time",
    "delivered",
    "failed",
    "deferred_first",
    "via",
    "originals",
    "first_error",
    "size",
    "flag",
];

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        prop::sample::select(vec![
            "",
            "T",
            "2025-01-31T10:00:00.000Z",
            "2025-01-31T10:00:01.000Z",
            "=>"
        ])
        .prop_map(Value::from),
        "[a-z@.]{0,6}".prop_map(Value::from),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(3, 24, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS.to_vec()), inner), 0..5).prop_map(
                |kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            ),
        ]
    })
}

fn stamp() -> impl Strategy<Value = Value> {
    prop::sample::select(vec![
        "",
        "2025-01-31T10:00:00.000Z",
        "2025-01-31T10:00:01.000Z",
        "2025-01-31T10:00:02.500Z",
        "~",
    ])
    .prop_map(Value::from)
}

fn record() -> impl Strategy<Value = Value> {
    (
        stamp(),
        prop::collection::vec((prop::sample::select(KEYS.to_vec()), leaf()), 0..3),
    )
        .prop_map(|(t, kv)| {
            let mut m: Map<String, Value> =
                kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
            m.insert("time".into(), t);
            Value::Object(m)
        })
}

fn set() -> impl Strategy<Value = Value> {
    prop::collection::vec(stamp(), 0..3).prop_map(Value::Array)
}

/// A value of the shape `key` has in a partial (or of a recipient's share).
fn typed(key: &'static str) -> BoxedStrategy<Value> {
    match key {
        "attempts" | "bounced_by" | "originals" => set().boxed(),
        "arrival" | "removed" | "cancelled" | "rejected" | "spam" | "first_deferral"
        | "last_deferral" | "last_error" | "first_error" | "via" => record().boxed(),
        "rcpt" => prop::collection::vec(
            (
                "[ab]@x",
                prop::collection::vec(
                    prop::sample::select(vec![
                        "delivered",
                        "failed",
                        "deferred_first",
                        "attempts",
                        "originals",
                        "first_error",
                        "last_error",
                        "via",
                    ])
                    .prop_flat_map(|k| typed(k).prop_map(move |v| (k, v))),
                    0..4,
                ),
            ),
            0..3,
        )
        .prop_map(|rs| {
            Value::Object(
                rs.into_iter()
                    .map(|(a, kv)| {
                        let m = kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
                        (a, Value::Object(m))
                    })
                    .collect(),
            )
        })
        .boxed(),
        _ => stamp().boxed(),
    }
}

/// A partial's JSON: a server and an id, and some of the keys, each mostly of its shape, else any value.
fn partial() -> impl Strategy<Value = Value> {
    let member = prop::sample::select(KEYS[..17].to_vec())
        .prop_flat_map(|k| prop_oneof![4 => typed(k), 1 => value()].prop_map(move |v| (k, v)));
    (
        prop::sample::select(vec!["mx1", "mx2"]),
        prop::sample::select(vec!["1tXaaa-000001-AB", "1tXbbb-000002-AB", "", "ü"]),
        prop::collection::vec(member, 0..6),
    )
        .prop_map(|(server, id, kv)| {
            let mut m = Map::new();
            m.insert("server".into(), Value::from(server));
            m.insert("id".into(), Value::from(id));
            for (k, v) in kv {
                m.insert(k.to_string(), v);
            }
            Value::Object(m)
        })
}

fn parsed(v: &Value) -> Option<Vec<Partial>> {
    parse_parts(
        serde_json::to_vec(&Value::Array(vec![v.clone()]))
            .ok()?
            .as_slice(),
    )
    .ok()
}

fn state(p: &Partial) -> String {
    serde_json::to_string(p).unwrap_or_default()
}

#[test]
fn the_generator_reaches_the_merge() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut parsed_ok = 0;
    for _ in 0..200 {
        let v = partial().new_tree(&mut runner).unwrap().current();
        parsed_ok += usize::from(parsed(&v).is_some());
    }
    assert!(
        parsed_ok > 50,
        "{parsed_ok} of 200 generated partials parse"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn any_bytes_are_taken_or_refused(data in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = parse_parts(&data);
    }

    #[test]
    fn what_parses_goes_through_everything(entries in prop::collection::vec(partial(), 0..8)) {
        let mut c = Correlator::new(2);
        let mut f = FirstSeen::new(2);
        let mut pending = Pending::default();
        for (at, e) in entries.iter().enumerate() {
            let Some(parts) = parsed(e) else { continue };
            for p in &parts {
                let mut doc = Vec::new();
                write_summary(p, &mut doc);
                prop_assert!(serde_json::from_slice::<serde_json::Value>(&doc).is_ok());
            }
            let mut out = Vec::new();
            c.add(parts.clone(), at as u64, &mut out);
            pending.extend(out);
            f.add(parts);
        }
        let mut out = Vec::new();
        c.older_than(3, &mut out);
        c.drain(&mut out);
        pending.extend(out);
        let (mut bulk, mut keys) = (Vec::new(), Vec::new());
        let n = pending.write("exim", &mut bulk, &mut keys);
        prop_assert_eq!(bulk.iter().filter(|&&b| b == b'\n').count(), 2 * n);
        f.finish();
        prop_assert!(f.out.iter().filter(|&&b| b == b'\n').count() == f.written);
    }

    #[test]
    fn the_merge_is_commutative_and_idempotent(a in partial(), b in partial()) {
        let (Some(mut pa), Some(mut pb)) = (parsed(&a), parsed(&b)) else { return Ok(()) };
        let (pa, mut pb) = (pa.remove(0), pb.remove(0));
        // Two partials of one message.
        pb.server.clone_from(&pa.server);
        pb.id.clone_from(&pa.id);
        let mut ab = pa.clone();
        merge(&mut ab, pb.clone());
        let mut ba = pb.clone();
        merge(&mut ba, pa.clone());
        prop_assert_eq!(state(&ab), state(&ba));
        let mut again = ab.clone();
        merge(&mut again, pb);
        merge(&mut again, pa.clone());
        prop_assert_eq!(state(&again), state(&ab));
        let mut twice = pa.clone();
        merge(&mut twice, pa.clone());
        prop_assert_eq!(state(&twice), state(&pa));
    }

    #[test]
    fn the_binary_form_gives_the_partial_back(a in partial(), b in partial()) {
        let Some(mut pa) = parsed(&a) else { return Ok(()) };
        let mut p = pa.remove(0);
        // A merged one too, of more keys and sets.
        if let Some(mut pb) = parsed(&b) {
            let mut pb = pb.remove(0);
            pb.server.clone_from(&p.server);
            pb.id.clone_from(&p.id);
            merge(&mut p, pb);
        }
        let mut bytes = Vec::new();
        binary::encode(&p, &mut bytes);
        let back = binary::decode(&bytes).unwrap();
        prop_assert_eq!(state(&back), state(&p));
        prop_assert_eq!(back, p);
    }
}
