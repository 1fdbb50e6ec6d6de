//! The typed partial summary (`shipper/messages/merge.py` `Partial`): every key its merge rule knows,
//! each optional but the message's server and id; records (arrival, errors, removal, spam) stay JSON
//! maps, as Python keeps them. Serialised, it is `to_state` of the Python partial (sets as sorted arrays).

use std::fmt;
use std::marker::PhantomData;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A JSON object as a vector sorted by key: a message holds a few small maps, and a `BTreeMap`'s node
/// (eleven slots, allocated whole) made the open messages of `parse --messages` take 1 GB.
#[derive(Debug, Clone, PartialEq)]
pub struct Fields<V>(Vec<(String, V)>);

impl<V> Default for Fields<V> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<V> Fields<V> {
    pub fn new() -> Self {
        Self(Vec::new())
    }

    pub fn get(&self, k: &str) -> Option<&V> {
        self.0
            .binary_search_by(|(key, _)| key.as_str().cmp(k))
            .ok()
            .map(|i| &self.0[i].1)
    }

    pub fn get_mut(&mut self, k: &str) -> Option<&mut V> {
        match self.0.binary_search_by(|(key, _)| key.as_str().cmp(k)) {
            Ok(i) => Some(&mut self.0[i].1),
            Err(_) => None,
        }
    }

    /// Sets `k` (a later value replaces an earlier one, as in a JSON object read into a dict).
    pub fn insert(&mut self, k: String, v: V) {
        match self.0.binary_search_by(|(key, _)| key.as_str().cmp(&k)) {
            Ok(i) => self.0[i].1 = v,
            Err(i) => self.0.insert(i, (k, v)),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &V)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.0.iter().map(|(_, v)| v)
    }

    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.0.iter().map(|(k, _)| k)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains_key(&self, k: &str) -> bool {
        self.get(k).is_some()
    }

    pub fn into_vec(self) -> Vec<(String, V)> {
        self.0
    }

    /// `pairs` as they are, if their keys are strictly increasing (what every `Fields` holds).
    pub(crate) fn from_sorted(pairs: Vec<(String, V)>) -> Option<Self> {
        pairs
            .windows(2)
            .all(|w| w[0].0 < w[1].0)
            .then_some(Self(pairs))
    }
}

impl<V> std::ops::Index<&str> for Fields<V> {
    type Output = V;

    fn index(&self, k: &str) -> &V {
        self.get(k).expect("no such key")
    }
}

impl<V: Serialize> Serialize for Fields<V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Fields<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V2<V>(PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for V2<V> {
            type Value = Fields<V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                let mut out = Fields(Vec::with_capacity(a.size_hint().unwrap_or(0)));
                while let Some((k, v)) = a.next_entry::<String, V>()? {
                    out.insert(k, v);
                }
                out.0.shrink_to_fit();
                Ok(out)
            }
        }
        d.deserialize_map(V2(PhantomData))
    }
}

/// A record merged whole (`min_record`/`max_record`): a JSON object with a `time`.
pub type Record = Fields<serde_json::Value>;

/// A set merged by union: sorted, without repeats, as `to_state` writes it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Set(Vec<String>);

impl Set {
    /// `{v}`.
    pub fn one(v: String) -> Self {
        Set(vec![v])
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &String> {
        self.0.iter()
    }

    /// `items` as they are, if strictly increasing (what every `Set` holds).
    pub(super) fn from_sorted(items: Vec<String>) -> Option<Self> {
        items.windows(2).all(|w| w[0] < w[1]).then_some(Set(items))
    }

    /// `self | other`.
    pub fn union(&mut self, other: Set) {
        if other.0.iter().all(|x| self.0.binary_search(x).is_ok()) {
            return;
        }
        self.0.extend(other.0);
        self.0.sort_unstable();
        self.0.dedup();
    }
}

impl<'de> Deserialize<'de> for Set {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut v = Vec::<String>::deserialize(d)?;
        v.sort_unstable();
        v.dedup();
        v.shrink_to_fit();
        Ok(Set(v))
    }
}

/// The identity of a message: (server, Exim message id).
pub type Key = (String, String);

/// One recipient's share (`merge.py` `_RCPT_RULES`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rcpt {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub originals: Option<Set>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deferred_first: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempts: Option<Set>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_error: Option<Record>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<Record>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<Record>,
}

/// A message's partial summary (`merge.py` `_RULES`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Partial {
    pub server: String,
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_seen: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arrival: Option<Record>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rcpt: Option<Fields<Rcpt>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempts: Option<Set>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frozen: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unfrozen: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removed: Option<Record>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled: Option<Record>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected: Option<Record>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spam: Option<Record>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_deferral: Option<Record>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_deferral: Option<Record>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<Record>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bounce_of: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bounced_by: Option<Set>,
}

impl Partial {
    pub fn key(&self) -> Key {
        (self.server.clone(), self.id.clone())
    }

    /// `correlator.finished`: Exim writes nothing more about the message (completed, or rejected
    /// before it arrived).
    pub fn finished(&self) -> bool {
        self.completed.is_some() || (self.rejected.is_some() && self.arrival.is_none())
    }
}

/// Partials from a JSON array of them in `to_state`'s form (`exim.merge_state`'s), as the tests write
/// them (the core's facts come typed from `crate::facts`). An error for anything else, never a panic.
pub fn parse_parts(json: &[u8]) -> Result<Vec<Partial>, serde_json::Error> {
    serde_json::from_slice(json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_facts_of_a_delivery_parse() {
        let parts = parse_parts(
            br#"[{"server":"mx","id":"X","first_seen":"T","last_seen":"T","attempts":["T"],
            "rcpt":{"a@b":{"delivered":"T","via":{"time":"T","flag":"=>"},"attempts":["T"]}}}]"#,
        )
        .unwrap();
        assert_eq!(parts.len(), 1);
        let r = &parts[0].rcpt.as_ref().unwrap()["a@b"];
        assert_eq!(r.delivered.as_deref(), Some("T"));
        assert!(!parts[0].finished());
    }

    #[test]
    fn unknown_keys_and_wrong_types_are_errors() {
        assert!(parse_parts(br#"[{"server":"mx","id":"X","colour":"red"}]"#).is_err());
        assert!(parse_parts(br#"[{"server":"mx","id":7}]"#).is_err());
        assert!(parse_parts(b"!").is_err());
    }

    #[test]
    fn the_state_has_sets_sorted() {
        let parts =
            parse_parts(br#"[{"server":"s","id":"i","bounced_by":["b","a","b"]}]"#).unwrap();
        assert_eq!(
            serde_json::to_string(&parts[0]).unwrap(),
            r#"{"server":"s","id":"i","bounced_by":["a","b"]}"#
        );
    }
}
