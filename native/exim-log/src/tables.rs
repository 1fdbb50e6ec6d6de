//! The data tables of `shipper/exim/data/*.json`, embedded at build time: the same files the Python
//! reads (`shipper.exim.data.table()`), so the two never disagree.

use serde::Deserialize;
use std::collections::HashMap;
use std::hash::BuildHasherDefault;

/// The tables are looked up per tag and per host name: FxHash, not SipHash (their keys are our own files).
pub type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<crate::ids::FxHasher>>;
use std::sync::OnceLock;

#[derive(Debug, Deserialize)]
pub struct FlagMeta {
    pub action: String,
    pub arrival: bool,
}

#[derive(Debug, Deserialize)]
pub struct ActionMeta {
    pub category: Vec<String>,
    #[serde(rename = "type")]
    pub kind: Vec<String>,
    pub outcome: String,
}

#[derive(Debug, Deserialize)]
pub struct Actions {
    pub flags: FastMap<String, FlagMeta>,
    pub actions: FastMap<String, ActionMeta>,
}

#[derive(Debug, Deserialize)]
pub struct Tags {
    pub plain: FastMap<String, String>,
    pub durations: FastMap<String, String>,
    pub markers: Vec<String>,
}

#[derive(Debug, Deserialize)]
pub struct Fields {
    pub escapes: FastMap<String, String>,
    /// Unit letter -> seconds, in the file's order (w, d, h, m): the sum is made in that order.
    pub duration_units: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Deserialize)]
pub struct HostPrefix {
    pub prefix: String,
    pub family: String,
}

#[derive(Debug, Deserialize)]
pub struct Providers {
    pub suffixes: FastMap<String, String>,
    pub host_prefixes: Vec<HostPrefix>,
}

fn load<T: serde::de::DeserializeOwned>(name: &str, text: &str) -> T {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("shipper/exim/data/{name}.json: {e}"))
}

pub fn actions() -> &'static Actions {
    static T: OnceLock<Actions> = OnceLock::new();
    T.get_or_init(|| {
        load(
            "actions",
            include_str!("../../../shipper/exim/data/actions.json"),
        )
    })
}

pub fn tags() -> &'static Tags {
    static T: OnceLock<Tags> = OnceLock::new();
    T.get_or_init(|| load("tags", include_str!("../../../shipper/exim/data/tags.json")))
}

pub fn fields() -> &'static Fields {
    static T: OnceLock<Fields> = OnceLock::new();
    T.get_or_init(|| {
        load(
            "fields",
            include_str!("../../../shipper/exim/data/fields.json"),
        )
    })
}

pub fn providers() -> &'static Providers {
    static T: OnceLock<Providers> = OnceLock::new();
    T.get_or_init(|| {
        load(
            "providers",
            include_str!("../../../shipper/exim/data/providers.json"),
        )
    })
}

#[derive(Debug, Deserialize)]
pub struct ErrorClassRow {
    pub name: String,
    pub hint: String,
    pub enhanced: Vec<String>,
    pub errnos: Vec<String>,
    pub text: Vec<String>,
    pub temporary: Option<bool>,
}

#[derive(Debug, Deserialize)]
pub struct Generic {
    pub name: String,
    pub hint: String,
}

#[derive(Debug, Deserialize)]
pub struct Routers {
    pub remote: Vec<String>,
    pub local: Vec<String>,
}

#[derive(Debug, Deserialize)]
pub struct CommandStage {
    pub prefix: String,
    pub stage: String,
}

#[derive(Debug, Deserialize)]
pub struct Taxonomy {
    pub classes: Vec<ErrorClassRow>,
    pub generic: FastMap<String, Generic>,
    pub code_defaults: FastMap<String, String>,
    pub context_classes: FastMap<String, String>,
    pub connect_classes: Vec<String>,
    pub local_hints: FastMap<String, String>,
    pub routers: Routers,
    pub command_stages: Vec<CommandStage>,
}

pub fn taxonomy() -> &'static Taxonomy {
    static T: OnceLock<Taxonomy> = OnceLock::new();
    T.get_or_init(|| {
        load(
            "taxonomy",
            include_str!("../../../shipper/exim/data/taxonomy.json"),
        )
    })
}
