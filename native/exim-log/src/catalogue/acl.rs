//! `acl_lines.py`: lines that start with the client's host (host_and_ident): ACL rejections,
//! warnings, verify results, and a message line's per-host delivery error.

use crate::body::{Event, R};

/// `HOST_START`: the bodies `host_line` is tried on.
pub(crate) const HOST_START: [&str; 4] = ["H=", "U=", "DS ", "F="];

/// `host_line`: the action, or None when the line is no ACL line (the rules then try it).
pub(crate) fn host_line(
    _ev: &mut Event,
    _body: &str,
    _msgid: Option<&str>,
) -> R<Option<&'static str>> {
    Err(crate::body::Decline)
}
