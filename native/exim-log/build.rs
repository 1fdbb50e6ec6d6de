//! Generates `stream::ACTIONS`' names from `shipper/exim/data/actions.json` (the file the Python reads),
//! in the file's order after the placeholder, so the action codes cannot drift from the vocabulary.

use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use std::fmt::{self, Write as _};

/// An object's keys in the file's order (serde_json's own map sorts them).
struct Keys(Vec<String>);

impl<'de> Deserialize<'de> for Keys {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct InOrder;
        impl<'de> Visitor<'de> for InOrder {
            type Value = Keys;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Keys, A::Error> {
                let mut keys = Vec::new();
                while let Some((k, IgnoredAny)) = m.next_entry::<String, IgnoredAny>()? {
                    keys.push(k);
                }
                Ok(Keys(keys))
            }
        }
        d.deserialize_map(InOrder)
    }
}

#[derive(Deserialize)]
struct ActionsFile {
    actions: Keys,
}

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR");
    let path = format!("{dir}/../../shipper/exim/data/actions.json");
    println!("cargo:rerun-if-changed={path}");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let file: ActionsFile = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut names = vec!["unrecognized"];
    names.extend(
        file.actions
            .0
            .iter()
            .map(String::as_str)
            .filter(|&a| a != "unrecognized"),
    );
    let mut out = format!("const ACTION_NAMES: [&str; {}] = [\n", names.len());
    for name in &names {
        assert!(
            name.bytes().all(|c| c.is_ascii_lowercase() || c == b'_'),
            "{path}: action {name:?} is not a plain name"
        );
        let _ = writeln!(out, "    {name:?},");
    }
    out.push_str("];\n");
    let dest = std::path::Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("actions.rs");
    std::fs::write(&dest, out).unwrap_or_else(|e| panic!("{}: {e}", dest.display()));
}
