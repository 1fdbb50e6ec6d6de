//! Exim log entries to OpenSearch bulk lines: entry assembly, the line prefix, IANA zones, content ids,
//! JSON and bulk framing. Pure: no I/O, no Python; the PyO3 binding in `../binding` is the only caller
//! that crosses into Python.
//!
//! Every function here mirrors a Python original in `shipper/` and must give byte-identical results;
//! each module names its original.

pub mod assemble;
pub mod body;
pub mod catalogue;
pub mod classify;
pub mod doc;
pub mod enrich;
pub mod facts;
pub mod fields;
pub mod ids;
pub mod json;
pub mod messages;
pub mod prefix;
pub mod stream;
pub mod suffixes;
pub mod syslog;
pub mod tables;
pub mod text;
pub mod timestamps;

pub use assemble::{EntryAssembler, RawEntry};
pub use stream::{Context, EntryOut, Stream};
