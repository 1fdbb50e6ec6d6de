//! The body of the message lines: flags (`shipper/exim/parse.py` `_body`, `_arrival`, `_recipient_head`,
//! `_failure`, `_deferral`, `_continuation`), the document under construction (`event.py` `Event`), the
//! tags (`tags.py` `scan`, `apply_field`) and `Completed` (`message_lines.py`). Their values are read by
//! [`crate::fields`], the error by [`crate::classify`], the enrichment is [`crate::enrich`].
//!
//! Every body gets the core's own reading: no reader can decline a line, so whatever the core writes
//! for an entry is that entry's document.

use crate::doc::Value;
use crate::fields::*;
use crate::json::JsonWriter;
use crate::tables;
use std::borrow::Cow;

pub type Obj = crate::doc::Obj;

/// The actions the core renders itself; every other body is `unrecognized` until it is ported.
pub const CLAIMED: &[&str] = crate::stream::ACTIONS.split_at(1).1;

// --- the document under construction (event.py) -------------------------------------------------

pub struct Event {
    pub doc: Obj,
    pub exim: Obj,
}

/// The sections the code names: a new section's key is one of these when it can be, not a `String`.
const SECTIONS: &[&str] = &[
    "source",
    "destination",
    "email",
    "from",
    "to",
    "tls",
    "client",
    "server",
    "user",
    "error",
    "fields",
    "process",
];

/// The section `name` of `map`, made empty when absent (its key is owned only when `name` is not one of
/// [`SECTIONS`]).
pub(crate) fn sub<'a>(map: &'a mut Obj, name: &str) -> &'a mut Obj {
    let v = map.entry_or_insert_with(
        name,
        || match SECTIONS.iter().find(|&&k| k == name) {
            Some(&k) => k.into(),
            None => name.to_string().into(),
        },
        || Value::Object(Obj::new()),
    );
    match v {
        Value::Object(o) => o,
        _ => unreachable!("sections are objects"),
    }
}

impl Event {
    pub(crate) fn sec(&mut self, name: &str) -> &mut Obj {
        sub(&mut self.doc, name)
    }

    pub(crate) fn host(&mut self, side: &str, g: &HostGroup<'_>) {
        let facts = ip_facts(g.address);
        let s = self.sec(side);
        // In key order: each member is then a push onto the section.
        s.insert("address".into(), g.address.into());
        if let Some(name) = g.name {
            s.insert("domain".into(), name.into());
        }
        if let Some((ip, _)) = facts {
            s.insert("ip".into(), ip.as_ref().into());
        }
        if let Some(port) = g.port.and_then(decimal_port) {
            s.insert("port".into(), port);
        }
        if let Some(helo) = g.helo {
            self.exim.insert("helo".into(), helo.into());
        }
        if g.reuse {
            self.exim.insert("connection_reused".into(), true.into());
        }
        if g.ds {
            self.exim.insert("dnssec".into(), true.into());
        }
        if let Some(raw) = g.raw {
            self.exim.insert("host_raw".into(), raw.into());
        }
    }

    pub(crate) fn sender(&mut self, address: &str) {
        let address = strip_angle(address);
        if address.is_empty() || address == "<>" {
            self.exim.insert("sender_empty".into(), true.into());
            return;
        }
        sub(self.sec("email"), "from").insert("address".into(), address.into());
    }

    pub(crate) fn recipients(&mut self, addresses: &[&str]) {
        if addresses.is_empty() {
            return;
        }
        let to = sub(self.sec("email"), "to");
        let list = to.or_insert_with("address", || Value::Array(Vec::new()));
        if let Value::Array(a) = list {
            a.extend(addresses.iter().map(|&x| Value::from(x)));
        }
    }

    fn unknown(&mut self, tag: &str, val: &str) {
        sub(&mut self.exim, "fields").insert(tag.to_string().into(), val.into());
    }

    /// `tags.apply_field`.
    fn apply_field(&mut self, tag: &str, val: &str, arrival: bool, side: &str) {
        let val = match val.strip_suffix(':') {
            Some(v) if !val.starts_with('"') => v,
            _ => val,
        };
        let t = tables::tags();
        if let Some(name) = t.durations.get(tag) {
            match duration(val) {
                Some(d) => {
                    self.exim.insert(name.as_str().into(), d.into());
                }
                None => self.unknown(tag, val),
            }
            return;
        }
        if let Some(name) = t.plain.get(tag) {
            self.exim.insert(name.as_str().into(), val.into());
            return;
        }
        match tag {
            "T" if arrival => {
                self.sec("email")
                    .insert("subject".into(), unquoted(val).into());
            }
            "T" => {
                self.exim.insert("transport".into(), val.into());
            }
            "R" => {
                let k = if arrival { "bounce_of" } else { "router" };
                self.exim.insert(k.into(), val.into());
            }
            "P" if arrival => {
                self.exim.insert("protocol".into(), val.into());
            }
            "P" => {
                self.exim
                    .insert("return_path".into(), strip_angle(val).into());
            }
            "S" => match integer(val) {
                Some(n) => {
                    self.exim.insert("size".into(), n.into());
                }
                None => self.unknown(tag, val),
            },
            "C" => {
                if val.starts_with('"') {
                    let quoted = unquoted(val);
                    let conf = unescaped(&quoted);
                    if let Some(rid) = remote_id(&conf) {
                        self.exim.insert("remote_id".into(), rid.into());
                    }
                    self.exim.insert("smtp_confirmation".into(), conf.into());
                } else {
                    let cmds: Vec<Value> = val.split(',').map(Value::from).collect();
                    self.exim.insert("smtp_commands".into(), cmds.into());
                }
            }
            "X" => {
                tls_cipher_into(val, sub(&mut self.doc, "tls"), &mut self.exim);
            }
            "A" => {
                let mut parts = val.splitn(3, ':');
                let mut a = Obj::new();
                a.insert("authenticator".into(), parts.next().unwrap_or("").into());
                let id = parts.next().filter(|x| !x.is_empty());
                if let Some(id) = id {
                    a.insert("id".into(), id.into());
                }
                if let Some(sender) = parts.next().filter(|x| !x.is_empty()) {
                    a.insert("sender".into(), sender.into());
                }
                self.exim.insert("auth".into(), a.into());
                if let (Some(id), "source") = (id, side) {
                    self.sec("user").insert("name".into(), id.into());
                }
            }
            "I" => {
                self.exim.insert("interface".into(), interface(val));
            }
            "PRX" => {
                self.exim.insert("proxy".into(), interface(val));
            }
            "U" => {
                self.exim.insert("ident".into(), val.into());
            }
            "F" => self.sender(val),
            "id" | "id*" => {
                self.sec("email")
                    .insert("message_id".into(), unescaped(val).into());
                if tag == "id*" {
                    self.exim.insert("message_id_generated".into(), true.into());
                }
            }
            "CV" => {
                sub(&mut self.exim, "tls").insert("certificate_verified".into(), val.into());
            }
            "DN" => {
                let peer = if side == "source" { "client" } else { "server" };
                let v = unquoted(val);
                sub(self.sec("tls"), peer).insert("subject".into(), v.into());
            }
            "SNI" => {
                let v = unquoted(val);
                sub(self.sec("tls"), "client").insert("server_name".into(), v.into());
            }
            "DKIM" => {
                let v: Vec<Value> = if arrival {
                    vec![val.into()]
                } else {
                    val.split(':').map(Value::from).collect()
                };
                self.exim.insert("dkim".into(), v.into());
            }
            "input" => {
                self.exim.insert("smtp_input".into(), unquoted(val).into());
            }
            "DMARC" => {
                self.exim.insert("dmarc".into(), val.into());
            }
            "SPF" => {
                self.exim.insert("spf".into(), val.into());
            }
            _ => self.unknown(tag, val),
        }
    }

    /// `tags.scan`: tags and markers from `pos`, up to the first other word.
    pub(crate) fn scan(&mut self, s: &str, mut pos: usize, arrival: bool, side: &str) -> usize {
        let n = s.len();
        let markers = &tables::tags().markers;
        while pos < n {
            if s.as_bytes()[pos] == b' ' {
                pos += 1;
                continue;
            }
            if s[pos..].starts_with("H=") {
                if self.doc.contains_key(side) {
                    break;
                }
                if let Some((g, end)) = host_group(s, pos) {
                    self.host(side, &g);
                    pos = end;
                    continue;
                }
            }
            if let Some((tag, val, end)) = field_match(s, pos) {
                self.apply_field(tag, val, arrival, side);
                pos = end;
                continue;
            }
            let end = s[pos..].find(' ').map_or(n, |k| pos + k);
            let word = &s[pos..end];
            if !markers.iter().any(|m| m == word) {
                break;
            }
            let list = self
                .exim
                .or_insert_with("markers", || Value::Array(Vec::new()));
            if let Value::Array(a) = list {
                a.push(word.into());
            }
            pos = end;
        }
        pos
    }

    fn unparsed(&mut self, words: &[&str]) {
        if !words.is_empty() {
            self.exim.insert("unparsed".into(), words.join(" ").into());
        }
    }

    /// `Event.remote_host`: a remote host named inside free text.
    pub(crate) fn remote_host(&mut self, side: &str, name: &str, address: &str) {
        if self.doc.contains_key(side) {
            return;
        }
        let g = HostGroup {
            address,
            name: (!name.is_empty()).then_some(name),
            helo: None,
            ds: false,
            port: None,
            reuse: false,
            raw: None,
        };
        self.host(side, &g)
    }

    /// `Event.error` as the flag lines call it (no context, no default, the destination side).
    fn error(
        &mut self,
        message: &str,
        temporary: Option<bool>,
        errno: Option<&str>,
        stage: Option<&str>,
    ) {
        let how = ErrorOpts {
            errno,
            stage,
            ..ErrorOpts::new(temporary)
        };
        self.error_with(message, &how)
    }

    /// `Event.error`: exim.error.* from a failure text (stage, codes, response text, class and hint).
    pub(crate) fn error_with(&mut self, message: &str, how: &ErrorOpts<'_>) {
        use crate::classify as c;
        let ErrorOpts {
            temporary,
            errno,
            context,
            stage,
            side,
            default,
        } = *how;
        let message = message.trim_matches(py_space);
        let facts = if message.contains("SMTP") || message.contains("after") {
            c::smtp_error(message)
        } else {
            c::SmtpFacts::default()
        };
        if let Some((name, ip)) = &facts.host {
            self.remote_host(side, name, ip);
        }
        let (text, code, enhanced) = match facts.text {
            Some(t) => (Cow::Owned(t), facts.smtp_code, facts.enhanced),
            None => {
                let (code, enh) = c::response_codes(message);
                (Cow::Borrowed(message), code, enh)
            }
        };
        let errno_value = errno.map(|errno| {
            // Python's int(): surrounding whitespace, a sign, ASCII digits here; digits of other
            // scripts and `_` between digits through `py_int`.
            let t = errno.trim_matches(crate::text::int_space);
            // Beyond i64 (Python keeps the int, which `exim.error.errno`'s `long` cannot hold): the text,
            // as for any errno that is not a number.
            let n = if !t.is_ascii() || t.contains('_') {
                crate::text::py_int(t)
            } else {
                let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
                let numeral = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
                t.parse::<i64>().ok().filter(|_| numeral)
            };
            match n {
                Some(n) => ("errno", Value::from(n)),
                None => ("errno_raw", Value::from(errno)),
            }
        });
        let basis = if text.is_empty() { message } else { &text };
        let (name, temp) = c::classify(
            basis,
            code,
            enhanced.as_deref(),
            errno,
            temporary,
            context,
            default,
        );
        let stage = facts.stage.or(stage).or_else(|| {
            if c::is_connect_class(&name) {
                Some("connect")
            } else if side == "destination" && !self.doc.contains_key("destination") {
                Some("local")
            } else {
                None
            }
        });
        let local = side == "destination"
            && c::routed_locally(self.exim.get("router").and_then(Value::as_str));
        let hint = c::hint_for(&name, local);
        // Straight into `exim.error`, in key order (each a push when the section is new): a separate
        // object extended into it cost a copy of every member.
        let err = sub(&mut self.exim, "error");
        err.insert("class".into(), name.as_str().into());
        if let Some(e) = enhanced.as_deref().filter(|e| !e.is_empty()) {
            err.insert("enhanced_code".into(), e.into());
        }
        if let Some((key, v)) = errno_value {
            err.insert(key.into(), v);
        }
        err.insert("hint".into(), hint.into());
        if !message.is_empty() {
            err.insert("message".into(), message.into());
        }
        if let Some(code) = code {
            err.insert("smtp_code".into(), code.into());
        }
        if let Some(stage) = stage {
            err.insert("stage".into(), stage.into());
        }
        err.insert("temporary".into(), temp.into());
        if !text.is_empty() {
            err.insert("text".into(), text.as_ref().into());
        }
    }

    /// `parse._failure`.
    fn failure(&mut self, rest: &str) {
        let mut idx = rest.find(" : ");
        if idx.is_some_and(|i| rest[..i].contains("SMTP error from remote")) {
            idx = None;
        }
        let (head, mut msg) = match idx {
            Some(i) => (&rest[..i], &rest[i + 3..]),
            None => match rest.find(": ") {
                Some(i) => (&rest[..i], &rest[i + 2..]),
                None => (rest, ""),
            },
        };
        if let Some(k) = msg.rfind(" DT=") {
            let dt = &msg[k + 4..];
            if !dt.is_empty() && !dt.chars().any(py_space) {
                if let Some(d) = duration(dt) {
                    self.exim.insert("delivery_time".into(), d.into());
                }
                msg = &msg[..k];
            }
        }
        self.recipient_head(head);
        self.error(msg, Some(false), None, None)
    }

    /// `parse._deferral`.
    fn deferral(&mut self, rest: &str) {
        let Some((head, routing, errno, tail)) = defer_match(rest) else {
            let (head, msg) = match rest.find(": ") {
                Some(i) => (&rest[..i], &rest[i + 2..]),
                None => (rest, ""),
            };
            self.recipient_head(head);
            return self.error(msg, Some(true), None, None);
        };
        self.recipient_head(head);
        let mut before = tail;
        let mut after = "";
        let mut hpos = tail.find(" H=");
        if let (Some(reply), Some(h)) = (tail.find("SMTP error from remote"), hpos) {
            if reply < h {
                hpos = None;
            }
        }
        if let Some(h) = hpos {
            if let Some((g, end)) = host_group(tail, h + 1) {
                self.host("destination", &g);
                before = &tail[..h];
                let a = &tail[end..];
                let pos = self.scan(a, 0, false, "destination");
                after = &a[pos..];
            }
        } else {
            let pos = if tail.starts_with(' ') {
                self.scan(tail, 0, false, "destination")
            } else {
                0
            };
            before = &tail[pos..];
        }
        let parts: Vec<&str> = [
            before.trim_start_matches(':'),
            after.trim_start_matches(':'),
        ]
        .into_iter()
        .filter(|p| !p.trim_matches([' ', ':']).is_empty())
        .map(|p| p.trim_matches(py_space))
        .collect();
        let message = parts.join(": ");
        self.error(
            &message,
            Some(true),
            Some(errno),
            routing.then_some("local"),
        )
    }

    /// `parse._arrival`.
    fn arrival(&mut self, rest: &str) {
        let Some(first) = address_end(rest, 0) else {
            let rest = rest.trim_matches(py_space);
            if !rest.is_empty() {
                self.exim.insert("unparsed".into(), rest.into());
            }
            return;
        };
        self.sender(&rest[..first]);
        let mut pos = first;
        let n = rest.len();
        let mut unparsed = Vec::new();
        while pos < n {
            pos = self.scan(rest, pos, true, "source");
            if pos >= n {
                break;
            }
            if rest[pos..].starts_with("for ") {
                let mut rcpts = address_findall(rest, pos + 4);
                if rcpts.last() == Some(&"<trunc>") {
                    rcpts.pop();
                    self.exim.insert("recipients_truncated".into(), true.into());
                }
                self.recipients(&rcpts);
                break;
            }
            if rest[pos..].starts_with("from <") {
                // Python's `rest[pos + 6 : end - 1]`: without a closing `>`, all but the last character.
                let (end, stop) = match angle_end(rest, pos + 5) {
                    Some(e) => (e, e - 1),
                    None => (n, rest.char_indices().next_back().map_or(0, |(i, _)| i)),
                };
                let orig = rest.get(pos + 6..stop).unwrap_or("");
                self.exim.insert("original_sender".into(), orig.into());
                pos = end;
                continue;
            }
            let end = rest[pos..].find(' ').map_or(n, |k| pos + k);
            unparsed.push(&rest[pos..end]);
            pos = end;
        }
        self.unparsed(&unparsed);
    }

    /// `parse._recipient_head` of delivery lines.
    fn recipient_head(&mut self, head: &str) {
        let aend = if head.starts_with('|') {
            Some(pipe_end(head))
        } else {
            address_end(head, 0)
        };
        let Some(aend) = aend else {
            let head = head.trim_matches(py_space);
            if !head.is_empty() {
                self.exim.insert("unparsed".into(), head.into());
            }
            return;
        };
        let address = &head[..aend];
        let mut pos = aend;
        if head[pos..].starts_with(" (") {
            if let Some(k) = head[pos + 2..].find(')') {
                let parents: Vec<Value> = head[pos + 2..pos + 2 + k]
                    .split(", ")
                    .map(Value::from)
                    .collect();
                self.exim.insert("parents".into(), parents.into());
                pos = pos + 2 + k + 1;
            }
        }
        let mut top = None;
        if head[pos..].starts_with(" <") {
            if let Some(e) = angle_end(head, pos + 1) {
                let t = &head[pos + 2..e - 1];
                self.exim.insert("original_address".into(), t.into());
                top = Some(t);
                pos = e;
            }
        }
        self.exim.insert("address".into(), address.into());
        let first = address.chars().next().unwrap_or(' ');
        if address.contains('@') && !"|/>".contains(first) {
            self.recipients(&[address]);
        } else if let Some(t) = top.filter(|t| !t.is_empty()) {
            self.recipients(&[t]);
        } else {
            self.recipients(&[address]);
        }
        let n = head.len();
        let mut unparsed = Vec::new();
        while pos < n {
            pos = self.scan(head, pos, false, "destination");
            if pos >= n {
                break;
            }
            let end = head[pos..].find(' ').map_or(n, |k| pos + k);
            unparsed.push(&head[pos..end]);
            pos = end;
        }
        self.unparsed(&unparsed);
    }
}

/// `PIPE_ADDRESS_RE.match` on a head starting with `|`: `\|.*?(?= \(| <| [A-Z][A-Za-z]*=|$)`.
fn pipe_end(head: &str) -> usize {
    let b = head.as_bytes();
    for (i, _) in head.char_indices().skip(1) {
        let at = &b[i..];
        if at.starts_with(b" (") || at.starts_with(b" <") {
            return i;
        }
        if at.len() > 2 && at[0] == b' ' && at[1].is_ascii_uppercase() {
            let mut j = 2;
            while j < at.len() && at[j].is_ascii_alphabetic() {
                j += 1;
            }
            if at.get(j) == Some(&b'=') {
                return i;
            }
        }
        if head[i..] == *"\n" {
            return i; // `$` also matches before a final newline
        }
    }
    head.len()
}

/// `DEFER_RE.match`: `(?P<head>.*?)(?P<routing> routing)? defer \((?P<errno>[^)]*)\)(?P<tail>.*)` (re.S).
fn defer_match(rest: &str) -> Option<(&str, bool, &str, &str)> {
    for (i, _) in rest.char_indices() {
        let at = &rest[i..];
        for (routing, lead) in [(true, " routing defer ("), (false, " defer (")] {
            if let Some(e) = at.strip_prefix(lead) {
                if let Some(k) = e.find(')') {
                    return Some((&rest[..i], routing, &e[..k], &e[k + 1..]));
                }
            }
        }
    }
    None
}

/// The keyword arguments of Python's `Event.error` besides the message.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ErrorOpts<'a> {
    pub(crate) temporary: Option<bool>,
    pub(crate) errno: Option<&'a str>,
    pub(crate) context: Option<&'a str>,
    pub(crate) stage: Option<&'a str>,
    pub(crate) side: &'a str,
    pub(crate) default: Option<&'a str>,
}

impl ErrorOpts<'_> {
    /// Python's defaults: no errno, context, stage or default; the destination side.
    pub(crate) fn new(temporary: Option<bool>) -> Self {
        ErrorOpts {
            temporary,
            errno: None,
            context: None,
            stage: None,
            side: "destination",
            default: None,
        }
    }
}

/// What a claimed body gave: its action and the fields it filled.
pub struct Parsed {
    pub action: &'static str,
    pub flag: Option<&'static str>,
}

fn claimed(action: &str) -> Option<&'static str> {
    CLAIMED.iter().copied().find(|&a| a == action)
}

/// `EntryParser._body` for the claimed kinds; `None` for a body of another kind.
pub fn parse_body(ev: &mut Event, body: &str) -> Option<Parsed> {
    let flag = body.get(..2).unwrap_or("");
    if let Some(meta) = tables::actions().flags.get(flag) {
        if body.len() == 2 || body.as_bytes()[2] == b' ' || flag == "<=" {
            let action = claimed(&meta.action)?;
            let flag: &'static str = match flag {
                "<=" => "<=",
                "(=" => "(=",
                "=>" => "=>",
                "->" => "->",
                ">>" => ">>",
                "*>" => "*>",
                "**" => "**",
                "==" => "==",
                _ => return None,
            };
            ev.exim.insert("flag".into(), flag.into());
            let rest = body[2..].trim_start_matches(' ');
            if meta.arrival {
                ev.arrival(rest);
            } else if flag == "**" {
                ev.failure(rest);
            } else if flag == "==" {
                ev.deferral(rest);
            } else {
                ev.recipient_head(rest);
            }
            return Some(Parsed {
                action,
                flag: Some(flag),
            });
        }
    }
    if let Some(tail) = body.strip_prefix("Completed") {
        // `Completed(?: QT=(?P<qt>\S+))?\s*\Z`
        let mut qt = None;
        let mut t = tail;
        if let Some(q) = tail.strip_prefix(" QT=") {
            let e = non_space_end(q, 0);
            if e > 0 {
                qt = Some(&q[..e]);
                t = &q[e..];
            }
        }
        if t.chars().all(py_space) {
            if let Some(qt) = qt {
                if let Some(d) = duration(qt) {
                    ev.exim.insert("queue_time".into(), d.into());
                }
            }
            return Some(Parsed {
                action: "message_completed",
                flag: None,
            });
        }
        // `MESSAGE_RULES[0]` did not match: the rest of the catalogue reads it.
    }
    None
}

/// `_HEADER_LINE_RE.match`: `[A-Z* ] Name: …`.
fn header_line(l: &str) -> bool {
    let b = l.as_bytes();
    if b.len() < 4 || !(b[0].is_ascii_uppercase() || b[0] == b'*' || b[0] == b' ') || b[1] != b' ' {
        return false;
    }
    if !b[2].is_ascii_alphabetic() {
        return false;
    }
    let mut i = 3;
    while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'-') {
        i += 1;
    }
    b.get(i) == Some(&b':')
}

/// `EntryParser._continuation`'s reject-log header dump (`_header_dump`): when the lines after the
/// first are one (`Envelope-…` or a `<type> Header: value` line first), their envelope, header names,
/// subject and message id are filled in and true is returned; the body is then parsed alone.
pub fn header_dump(ev: &mut Event, more: &str) -> bool {
    let lines: Vec<&str> = more.split('\n').map(|l| l.trim_end_matches('\r')).collect();
    if !(lines[0].starts_with("Envelope-") || header_line(lines[0])) {
        return false;
    }
    let mut headers: Vec<Value> = Vec::new();
    for ln in lines {
        if let Some(v) = ln.strip_prefix("Envelope-from: ") {
            let v = strip_angle(v.trim_matches(py_space));
            ev.exim.insert("envelope_from".into(), v.into());
        } else if let Some(v) = ln.strip_prefix("Envelope-to: ") {
            let v = strip_angle(v.trim_matches(py_space));
            push(&mut ev.exim, "envelope_to", v);
        } else if ln.starts_with("    ")
            && ev.exim.contains_key("envelope_to")
            && headers.is_empty()
        {
            push(
                &mut ev.exim,
                "envelope_to",
                strip_angle(ln.trim_matches(py_space)),
            );
        } else if header_line(ln) {
            // `(?P<type>[A-Z* ]) (?P<name>[A-Za-z][A-Za-z0-9-]*): ?(?P<value>.*)\Z`
            let colon = ln[2..].find(':').map_or(ln.len(), |k| k + 2);
            let name = &ln[2..colon];
            let value = &ln[colon + 1..];
            let value = value
                .strip_prefix(' ')
                .unwrap_or(value)
                .trim_matches(py_space);
            headers.push(name.into());
            let email = ev.sec("email");
            match name.to_ascii_lowercase().as_str() {
                "subject" if !email.contains_key("subject") => {
                    email.insert("subject".into(), value.into());
                }
                "message-id" if !email.contains_key("message_id") => {
                    email.insert("message_id".into(), strip_angle(value).into());
                }
                _ => {}
            }
        }
    }
    if !headers.is_empty() {
        ev.exim.insert("header_names".into(), headers.into());
    }
    true
}

fn push(map: &mut Obj, key: &'static str, v: &str) {
    if let Value::Array(a) = map.or_insert_with(key, || Value::Array(Vec::new())) {
        a.push(v.into());
    }
}

/// `EntryParser._continuation` for a body (already without its leading spaces) and the lines after
/// the first: the joined body (the caller strips its leading spaces, as Python's `lstrip`), or the
/// body itself for a header dump ([`header_dump`] reads those first).
pub fn continuation(body: &str, more: &str) -> String {
    let lines: Vec<&str> = more.split('\n').map(|l| l.trim_end_matches('\r')).collect();
    if lines[0].starts_with("Envelope-") || header_line(lines[0]) {
        return body.to_string();
    }
    let extra: Vec<&str> = lines
        .iter()
        .map(|l| l.trim_matches(py_space))
        .filter(|l| !l.is_empty())
        .collect();
    if extra.is_empty() {
        return body.to_string();
    }
    format!("{body} {}", extra.join(" "))
}

/// The catalogue's facts of an action (`data/actions.json`; every action the core names has them, a
/// cargo test holds the two lists equal).
pub fn action_meta(action: &str) -> Option<&'static tables::ActionMeta> {
    tables::actions().actions.get(action)
}

/// `parse.EntryParser._finish`'s `event` for an action, written straight into the document: the
/// original is the largest string of the document, so it is not copied into a map first.
pub fn write_event_section(
    w: &mut JsonWriter<'_>,
    meta: &tables::ActionMeta,
    action: &str,
    original: &str,
    dataset: &str,
    failed: bool,
) {
    w.key("event")
        .begin_object()
        .field("original", original)
        .field("action", action)
        .field("kind", "event");
    w.key("type").begin_array();
    for k in &meta.kind {
        w.str(k);
    }
    w.end_array();
    let outcome = if failed {
        "failure"
    } else {
        meta.outcome.as_str()
    };
    w.field("outcome", outcome).field("dataset", dataset);
    if !meta.category.is_empty() {
        w.key("category").begin_array();
        for c in &meta.category {
            w.str(c);
        }
        w.end_array();
    }
    w.end_object();
}
