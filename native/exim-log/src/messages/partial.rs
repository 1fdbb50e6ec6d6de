//! The typed partial summary (`shipper/messages/merge.py` `Partial`): every key its merge rule knows,
//! each optional but the message's server and id; records (arrival, errors, removal, spam) stay JSON
//! maps, as Python keeps them. Serialised, it is `to_state` of the Python partial (sets as sorted arrays).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// A record merged whole (`min_record`/`max_record`): a JSON object with a `time`.
pub type Record = serde_json::Map<String, serde_json::Value>;

/// A set merged by union; sorted, as `to_state` writes it.
pub type Set = BTreeSet<String>;

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
    pub rcpt: Option<BTreeMap<String, Rcpt>>,
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

/// One entry's partials from its JSON array (the core's facts, or `to_state` of Python's partials).
/// An error for anything else: a caller then reads the entry the slow way, it never panics.
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
