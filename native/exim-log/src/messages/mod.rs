//! Message correlation on typed partials (`shipper/messages/`): the partial summaries the facts hold
//! (`partial`), their order-free merge (`merge`), the bounded correlator and `parse --messages`'
//! first-seen order (`correlator`), and the summary document with its index and id (`summary`).
//!
//! The facts come typed from `crate::facts` (nothing here loads a document); partials in `to_state`'s
//! form (sets as arrays) are read with serde into [`Partial`] (`parse_parts`, the tests').

pub mod binary;
pub mod correlator;
pub mod merge;
pub mod pack;
pub mod partial;
pub mod summary;

pub use correlator::{Correlator, FirstSeen, Pending};
pub use merge::merge;
pub use partial::{parse_parts, Key, Partial, Rcpt, Record};
pub use summary::{message_id, message_index, write_summary};
