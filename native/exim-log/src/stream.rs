//! One file's entries to bulk lines and facts: the seam the Python binding exposes.
//!
//! In: chunks of the file's bytes, from a start offset, with the file's context. Out, per chunk: the
//! NDJSON bulk lines (action and document of each entry, back to back) and one fixed-size [`EntryOut`]
//! record per entry (its offsets, where its lines sit in the bulk bytes); for a correlator, the message
//! facts of the entries that have them.
//!
//! Ported: assembly, prefix, zones, content id, index name, JSON, bulk framing, per-entry panic
//! isolation, the bodies of the message lines ([`crate::body`]) and the line catalogue
//! ([`crate::catalogue`]); a body no rule reads is `unrecognized`, with whatever Python's parser and
//! `enrich` put on such an entry (a header dump's fields, eximstats' reading). Every document is final.

use crate::assemble::{EntryAssembler, RawEntry};
use crate::body;
use crate::ids::{event_id_into, event_index, Occurrences};
use crate::json::JsonWriter;
use crate::prefix;
use crate::syslog::{Origin, SyslogAssembler};
use crate::text;
use crate::timestamps::TimestampConverter;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// The file's context, fixed for the stream.
#[derive(Debug, Clone)]
pub struct Context {
    /// `host.name` and the content id's first part ("" leaves `host` out).
    pub server: String,
    /// `exim.main`, `exim.reject` or `exim.panic`.
    pub dataset: String,
    /// `log.file.path`.
    pub path: String,
    /// Index names start `<index_prefix>-events-`.
    pub index_prefix: String,
}

/// Flags of an [`EntryOut`].
pub mod flags {
    /// The entry's last line had its newline.
    pub const TERMINATED: u32 = 1;
    /// Stamped in the second pass of a DST fall-back's repeated hour (its id says so).
    pub const SECOND_PASS: u32 = 1 << 1;
    /// Processing the entry panicked: its document is the prefix-only `unrecognized` one.
    pub const PANICKED: u32 = 1 << 2;
    /// `timestamp_ms` holds the document's `@timestamp`.
    pub const HAS_TIMESTAMP: u32 = 1 << 3;
    /// The prefix's date or time is impossible (`tags: ["invalid_timestamp"]`).
    pub const INVALID_TIMESTAMP: u32 = 1 << 4;
    /// No prefix: the stamp is the previous entry's (`tags: ["timestamp_inherited"]`).
    pub const TIMESTAMP_INHERITED: u32 = 1 << 5;
    /// The bytes are not UTF-8 (`exim.original_base64` holds them).
    pub const BAD_UTF8: u32 = 1 << 6;
    /// `pid` holds the prefix's `[pid]`.
    pub const HAS_PID: u32 = 1 << 7;
}

/// Action codes of [`EntryOut::action`]: indices into this list, which the binding exports so Python
/// never hard-codes a number. Code 0 is the placeholder document; codes from 1 are every other action
/// of `shipper/exim/data/actions.json`, in the file's order (generated from it by `build.rs`; a test
/// holds them equal), and all of them are kinds the core renders (`body::CLAIMED`).
pub const ACTIONS: &[&str] = &ACTION_NAMES;
include!(concat!(env!("OUT_DIR"), "/actions.rs"));

/// What a stream writes of each entry into the batch's `bulk`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Output {
    /// Its action line (index and content id) and its document line: `_bulk`'s lines.
    #[default]
    Bulk,
    /// Its document line alone (`parse`): no content id, occurrence or index is computed, and the
    /// records' `action_len` and `occurrence` are 0.
    Documents,
    /// Nothing (`parse --messages`, which writes summaries): the records and the facts alone;
    /// `bulk_len`, `action_len` and `occurrence` are 0.
    Nothing,
}

/// One entry's record: `struct.Struct(RECORD_FORMAT)` reads it in Python.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryOut {
    pub offset: u64,
    pub end: u64,
    /// Bytes of this entry in the bulk buffer: `action \n document \n` ([`Output::Bulk`]).
    pub bulk_len: u32,
    /// Bytes of the action line, without its newline.
    pub action_len: u32,
    /// Byte-identical entries before this one in the same second.
    pub occurrence: u32,
    pub flags: u32,
    /// `@timestamp` as epoch milliseconds (with `HAS_TIMESTAMP`).
    pub timestamp_ms: i64,
    /// The prefix's pid (with `HAS_PID`).
    pub pid: u64,
    /// The prefix's message id, NUL-padded ("" when none).
    pub local_id: [u8; 23],
    /// Index into [`ACTIONS`].
    pub action: u8,
}

/// Little-endian layout of [`EntryOut::write_le`], for Python's `struct`.
pub const RECORD_FORMAT: &str = "<QQIIIIqQ23sB";
pub const RECORD_SIZE: usize = 8 + 8 + 4 + 4 + 4 + 4 + 8 + 8 + 23 + 1;

impl EntryOut {
    pub fn write_le(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.offset.to_le_bytes());
        out.extend_from_slice(&self.end.to_le_bytes());
        out.extend_from_slice(&self.bulk_len.to_le_bytes());
        out.extend_from_slice(&self.action_len.to_le_bytes());
        out.extend_from_slice(&self.occurrence.to_le_bytes());
        out.extend_from_slice(&self.flags.to_le_bytes());
        out.extend_from_slice(&self.timestamp_ms.to_le_bytes());
        out.extend_from_slice(&self.pid.to_le_bytes());
        out.extend_from_slice(&self.local_id);
        out.push(self.action);
    }

    pub fn local_id(&self) -> &str {
        let n = self.local_id.iter().position(|&c| c == 0).unwrap_or(23);
        std::str::from_utf8(&self.local_id[..n]).unwrap_or("")
    }
}

/// What one chunk gave: bulk lines and a record per entry, in order.
#[derive(Debug, Default)]
pub struct Batch {
    pub bulk: Vec<u8>,
    pub entries: Vec<EntryOut>,
    /// With [`Stream::typed_facts`]: the message facts (`facts::partials`) of the entries that have
    /// them, each with the offset where its entry begins.
    pub parts: Vec<(u64, Vec<crate::messages::Partial>)>,
}

/// The action code of an entry no rule reads (`unrecognized`): the placeholder's. A test replaces it
/// to prove a panic costs one entry.
pub fn classify_body(_body: &str) -> u8 {
    0
}

/// A claimed entry's document before it is written: what the body made (`doc`, `exim` inside it) and
/// what the fixed sections (`@timestamp`, `event`, `host`, `log`) are written from.
struct Claimed {
    code: u8,
    doc: body::Obj,
    meta: &'static crate::tables::ActionMeta,
    action: &'static str,
    failed: bool,
}

/// One file's stream: assembler, timestamp state, occurrence counts.
#[derive(Debug)]
pub struct Stream {
    ctx: Context,
    assembler: EntryAssembler,
    times: TimestampConverter,
    last_timestamp: Option<(String, i64)>,
    occurrences: Occurrences,
    /// Entries ending at or before this offset are counted (for occurrences) but not emitted: the
    /// checkpoint's resume point.
    pub resume: u64,
    /// The body classifier; a test replaces it to prove a panic costs one entry.
    pub classify: fn(&str) -> u8,
    raw: Vec<RawEntry>,
    /// The last index name and the stamp's first 10 characters it was made from.
    index: (String, String),
    /// The entries' message facts into the batch's `parts` (for a correlator; none are read without).
    pub typed_facts: bool,
    /// What is written of each entry.
    pub output: Output,
    /// The current entry's typed partials.
    parts: Option<Vec<crate::messages::Partial>>,
    /// A syslog or journal stream's envelope reader: the assembler then hands it physical lines.
    wrapped: Option<SyslogAssembler>,
    /// The wrapped entries' origins, index for index with the entries being emitted.
    origins: Vec<Option<Origin>>,
    /// The origin of the entry being processed (None: Exim's own format).
    origin: Option<Origin>,
}

/// An entry's `host.name`: its syslog record's host where that one stands, else the server's.
/// The document names a message (`email.local_id`, what `facts::partials` reads first), a
/// string or anything else.
fn names_message(doc: &body::Obj) -> bool {
    doc.get("email")
        .and_then(crate::doc::Value::as_object)
        .is_some_and(|e| e.contains_key("local_id"))
}

fn host_name<'a>(origin: Option<&'a Origin>, server: &'a str) -> &'a str {
    origin.and_then(Origin::host_name).unwrap_or(server)
}

impl Stream {
    pub fn new(ctx: Context, times: TimestampConverter, start: u64) -> Self {
        Self {
            ctx,
            assembler: EntryAssembler::new(start),
            times,
            last_timestamp: None,
            occurrences: Occurrences::default(),
            resume: 0,
            classify: classify_body,
            raw: Vec::new(),
            index: (String::new(), String::new()),
            typed_facts: false,
            output: Output::Bulk,
            parts: None,
            wrapped: None,
            origins: Vec::new(),
            origin: None,
        }
    }

    /// A syslog file's or journal export's stream: `syslog` unwraps its records into Exim's entries.
    pub fn wrapped(
        ctx: Context,
        times: TimestampConverter,
        start: u64,
        syslog: SyslogAssembler,
    ) -> Self {
        let mut stream = Self::new(ctx, times, start);
        // Every physical line is its own piece: the envelope reader decides the entries.
        stream.assembler.max_entry = 0;
        stream.wrapped = Some(syslog);
        stream
    }

    /// The envelope reader of a wrapped stream (its skipped and unreadable counts).
    pub fn syslog(&self) -> Option<&SyslogAssembler> {
        self.wrapped.as_ref()
    }

    /// Whether an entry waits for `release`: a wrapped stream may always hold split pieces.
    pub fn held(&self) -> bool {
        self.wrapped.is_some() || self.assembler.held()
    }

    /// A wrapped stream's physical lines in `raw` to its entries (and `origins`); `flush`: the pieces
    /// still waiting too.
    fn unwrap(&mut self, raw: &mut Vec<RawEntry>, flush: bool) {
        let Some(w) = self.wrapped.as_mut() else {
            return;
        };
        let lines = std::mem::take(raw);
        for line in &lines {
            w.feed(
                line.offset,
                &line.data,
                line.terminated,
                raw,
                &mut self.origins,
            );
        }
        if flush {
            w.flush(raw, &mut self.origins);
        }
    }

    pub fn assembler(&mut self) -> &mut EntryAssembler {
        &mut self.assembler
    }

    /// Entries completed by this chunk (the last one is held until its successor, `release` or `finish`).
    pub fn feed(&mut self, chunk: &[u8], batch: &mut Batch) {
        let mut raw = std::mem::take(&mut self.raw);
        // Bulk lines are five to six times their entry's size (the bench log: 1.09 KB a 188-byte line:
        // the original, the action line, the fields): reserved once, not regrown (and copied) twice.
        if self.output != Output::Nothing {
            batch.bulk.reserve(chunk.len() * 6 + 4096);
        }
        self.assembler.feed(chunk, &mut raw);
        if self.wrapped.is_some() {
            self.assembler.release_into(&mut raw);
            self.unwrap(&mut raw, false);
        }
        self.emit(&mut raw, batch);
        self.raw = raw;
    }

    /// The held entry, taken as complete.
    pub fn release(&mut self, batch: &mut Batch) {
        let mut raw = std::mem::take(&mut self.raw);
        self.assembler.release_into(&mut raw);
        self.unwrap(&mut raw, true);
        self.emit(&mut raw, batch);
        self.raw = raw;
    }

    /// Everything left, a partial last line too.
    pub fn finish(&mut self, batch: &mut Batch) {
        let mut raw = std::mem::take(&mut self.raw);
        self.assembler.finish_into(&mut raw);
        self.unwrap(&mut raw, true);
        self.emit(&mut raw, batch);
        self.raw = raw;
    }

    fn emit(&mut self, raw: &mut Vec<RawEntry>, batch: &mut Batch) {
        // Occurrences only tell twins' content ids apart.
        let counted = self.output == Output::Bulk;
        for (i, entry) in raw.drain(..).enumerate() {
            let occ = if counted {
                self.occurrences.count(&entry.data)
            } else {
                0
            };
            if entry.end <= self.resume {
                if counted && occ == 0 {
                    self.occurrences.keep(entry.data);
                }
                continue;
            }
            self.origin = self.origins.get_mut(i).and_then(Option::take);
            // A syslog stream mixes Exim's three logs: the entry's own keys its id, index and rules.
            let own = self
                .origin
                .as_ref()
                .and_then(|o| o.dataset)
                .map(|d| std::mem::replace(&mut self.ctx.dataset, d.to_string()));
            let start = batch.bulk.len();
            let done = catch_unwind(AssertUnwindSafe(|| {
                self.entry(&entry, occ, &mut batch.bulk)
            }));
            let mut out = match done {
                Ok(out) => out,
                Err(panic) => {
                    batch.bulk.truncate(start);
                    self.parts = None;
                    let why = panic
                        .downcast_ref::<&str>()
                        .map(|s| (*s).to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_default();
                    self.fallback(&entry, occ, &mut batch.bulk, &why)
                }
            };
            if self.output == Output::Nothing {
                // The claimed documents are not written at all; the rare others are dropped here.
                batch.bulk.truncate(start);
                out.bulk_len = 0;
            }
            batch.entries.push(out);
            if counted && occ == 0 {
                self.occurrences.keep(entry.data);
            }
            if let Some(parts) = self.parts.take() {
                batch.parts.push((entry.offset, parts));
            }
            if let Some(own) = own {
                self.ctx.dataset = own;
            }
            self.origin = None;
        }
        self.origins.clear();
    }

    fn record(entry: &RawEntry, occ: u64) -> EntryOut {
        EntryOut {
            offset: entry.offset,
            end: entry.end,
            bulk_len: 0,
            action_len: 0,
            occurrence: u32::try_from(occ).unwrap_or(u32::MAX),
            flags: if entry.terminated {
                flags::TERMINATED
            } else {
                0
            },
            timestamp_ms: 0,
            pid: 0,
            local_id: [0; 23],
            action: 0,
        }
    }

    /// `EntryParser._parse` + `_finish`, `enrich` (a no-op on these fields) and the pipeline's `log`.
    fn entry(&mut self, entry: &RawEntry, occ: u64, bulk: &mut Vec<u8>) -> EntryOut {
        let mut out = Self::record(entry, occ);
        self.times.second_pass = false;
        let text = text::decode(&entry.data);
        let bad = matches!(text, std::borrow::Cow::Owned(_));
        let first = text::first_line(&text).trim_end_matches('\r');
        let p = prefix::parse(first);
        let mut stamp: Option<(String, i64)> = None;
        let mut tags: Option<&str> = None;
        let mut timestamp_raw: Option<&str> = None;
        let mut body = "";
        if let Some(p) = &p {
            match self.times.convert(p.date, p.hm, p.sec, p.ms, p.tz) {
                Some(s) => {
                    // The last stamp's buffer is reused: a clone allocated once a line.
                    match &mut self.last_timestamp {
                        Some((text, millis)) => {
                            text.clear();
                            text.push_str(&s.text);
                            *millis = s.millis;
                        }
                        None => self.last_timestamp = Some((s.text.clone(), s.millis)),
                    }
                    stamp = Some((s.text, s.millis));
                }
                None => {
                    tags = Some("invalid_timestamp");
                    timestamp_raw = Some(&first[..19]);
                    stamp.clone_from(&self.last_timestamp);
                    out.flags |= flags::INVALID_TIMESTAMP;
                }
            }
            body = first[p.end..].trim_start_matches(' ');
        } else if self.last_timestamp.is_some() {
            stamp.clone_from(&self.last_timestamp);
            tags = Some("timestamp_inherited");
            out.flags |= flags::TIMESTAMP_INHERITED;
        }
        out.action = (self.classify)(body);
        if self.times.second_pass {
            out.flags |= flags::SECOND_PASS;
        }
        // Every entry with a prefix is parsed, an impossible time too (Python's `_parse_text`): its
        // `tags` and `exim.timestamp_raw` go into the body's document, its stamp is the last good one.
        if let Some(p) = &p {
            let raw = bad.then_some(&entry.data[..]);
            if let Some(mut doc) = self.claimed(p, body, &text, raw, timestamp_raw) {
                if let Some(tag) = tags {
                    let tags = crate::doc::Value::Array(vec![tag.into()]);
                    doc.doc.insert("tags".into(), tags);
                }
                if let Some(o) = &self.origin {
                    o.apply(&mut doc.doc);
                }
                let ts = stamp.as_ref().map(|s| s.0.as_str());
                let doc_start = self.action(bulk, ts, &entry.data, occ, &mut out);
                out.action = doc.code;
                if let Some((_, ms)) = &stamp {
                    out.timestamp_ms = *ms;
                    out.flags |= flags::HAS_TIMESTAMP;
                }
                if let Some(pid) = p.pid {
                    out.pid = pid.parse().unwrap_or(0);
                    out.flags |= flags::HAS_PID;
                }
                if let Some(id) = p.id {
                    out.local_id[..id.len()].copy_from_slice(id.as_bytes());
                }
                if bad {
                    out.flags |= flags::BAD_UTF8;
                }
                let host = host_name(self.origin.as_ref(), &self.ctx.server);
                // `parse --messages` writes summaries: the document is read for its facts alone.
                if self.output != Output::Nothing {
                    // The fixed sections are written straight; the map holds what the body made.
                    let mut w = JsonWriter::new(bulk);
                    w.begin_object();
                    if let Some(ts) = ts {
                        w.field("@timestamp", ts);
                    }
                    body::write_event_section(
                        &mut w,
                        doc.meta,
                        doc.action,
                        &text,
                        &self.ctx.dataset,
                        doc.failed,
                    );
                    if !host.is_empty() {
                        w.key("host")
                            .begin_object()
                            .field("name", host)
                            .end_object();
                    }
                    for (k, v) in &doc.doc {
                        w.member(k, v);
                    }
                    w.key("log").begin_object();
                    if let Some(o) = &self.origin {
                        // Before `file`: the pipeline rewrites a renamed file's `log` by merging then.
                        w.member("syslog", &o.log_syslog());
                    }
                    w.key("file")
                        .begin_object()
                        .field("path", &self.ctx.path)
                        .end_object()
                        .key("offset")
                        .uint(entry.offset)
                        .end_object();
                    w.end_object();
                    bulk.push(b'\n');
                    out.bulk_len = u32::try_from(bulk.len() - doc_start).unwrap_or(u32::MAX);
                }
                // An impossible time's facts are read at the stamp its document inherits (none: none).
                let facts = Facts {
                    typed: self.typed_facts,
                    parts: &mut self.parts,
                };
                facts.write(host, ts, doc.action, &doc.doc);
                return out;
            }
        }

        let doc_start = self.action(
            bulk,
            stamp.as_ref().map(|s| s.0.as_str()),
            &entry.data,
            occ,
            &mut out,
        );
        let mut w = JsonWriter::new(bulk);
        w.begin_object();
        // Python's insertion order: a failed stamp's tag comes before the inherited @timestamp.
        let invalid = out.flags & flags::INVALID_TIMESTAMP != 0;
        if invalid {
            self.tags(&mut w, Some("invalid_timestamp"));
        }
        if let Some((ts, ms)) = &stamp {
            w.field("@timestamp", ts);
            out.timestamp_ms = *ms;
            out.flags |= flags::HAS_TIMESTAMP;
        }
        if !invalid {
            self.tags(&mut w, tags);
        }
        if let Some(p) = &p {
            self.prefix_fields(&mut w, p, &mut out);
        }
        self.origin_pid(&mut w, p.as_ref());
        // `enrich` reads eximstats' view of any entry, one without a prefix too (its own prefix
        // pattern takes digits of any script).
        let view = crate::enrich::eximstats_view(text::first_line(&text));
        self.finish_doc(
            &mut w,
            &text,
            bad.then_some(&entry.data[..]),
            out.action,
            timestamp_raw,
            None,
            view.as_ref(),
            entry.offset,
        );
        if bad {
            out.flags |= flags::BAD_UTF8;
        }
        bulk.push(b'\n');
        out.bulk_len = u32::try_from(bulk.len() - doc_start).unwrap_or(u32::MAX);
        self.placeholder_facts(p.as_ref(), stamp.as_ref());
        out
    }

    /// The facts of a prefix-only document (`unrecognized`): the message its id names was seen then.
    fn placeholder_facts(&mut self, p: Option<&prefix::Prefix<'_>>, stamp: Option<&(String, i64)>) {
        let Some(id) = p.and_then(|p| p.id).filter(|_| self.typed_facts) else {
            return;
        };
        let mut email = body::Obj::new();
        email.insert("local_id".into(), id.into());
        let mut doc = body::Obj::new();
        doc.insert("email".into(), email.into());
        let facts = Facts {
            typed: self.typed_facts,
            parts: &mut self.parts,
        };
        let host = host_name(self.origin.as_ref(), &self.ctx.server);
        facts.write(host, stamp.map(|s| s.0.as_str()), ACTIONS[0], &doc);
    }

    /// The whole document of an entry with a prefix (`_parse` + `_finish`, `enrich` and the pipeline's
    /// `log`), or None when its body is unrecognized and added nothing to the prefix (the placeholder).
    fn claimed(
        &self,
        p: &prefix::Prefix<'_>,
        body: &str,
        text: &str,
        raw: Option<&[u8]>,
        timestamp_raw: Option<&str>,
    ) -> Option<Claimed> {
        let mut doc = body::Obj::new();
        if let Some(pid) = p.pid {
            let mut o = body::Obj::new();
            // Up to 10 digits: always fits.
            o.insert("pid".into(), pid.parse::<u64>().unwrap_or(0).into());
            doc.insert("process".into(), o.into());
        }
        if let Some(id) = p.id {
            let mut o = body::Obj::new();
            o.insert("local_id".into(), id.into());
            doc.insert("email".into(), o.into());
        }
        let mut exim = body::Obj::new();
        if let Some(t) = timestamp_raw {
            exim.insert("timestamp_raw".into(), t.into());
        }
        let mut ev = body::Event { doc, exim };
        // What the prefix made: an unrecognized body that added nothing to it is the placeholder.
        let sizes = |ev: &body::Event| {
            let email = ev
                .doc
                .get("email")
                .and_then(|e| e.as_object())
                .map_or(0, |e| e.len());
            (ev.doc.len(), email, ev.exim.len())
        };
        let prefix_only = sizes(&ev);
        let parsed = match text::split_first_line(text) {
            None => self.body(&mut ev, body, p.id),
            Some((_, more)) => {
                // `_continuation`: a header dump fills its fields and the first line is the body;
                // other lines join the body. Python tries the joined text first and, when it is
                // unrecognized, the first line alone.
                let joined = if body::header_dump(&mut ev, more) {
                    body.to_string()
                } else {
                    body::continuation(body, more)
                };
                if joined == body {
                    self.body(&mut ev, body, p.id)
                } else {
                    let (doc, exim) = (ev.doc.clone(), ev.exim.clone());
                    match self.body(&mut ev, joined.trim_start_matches(' '), p.id) {
                        Some(parsed) => Some(parsed),
                        _ => {
                            ev = body::Event { doc, exim };
                            self.body(&mut ev, body, p.id)
                        }
                    }
                }
            }
        };
        let parsed = match parsed {
            Some(parsed) => parsed,
            _ if sizes(&ev) == prefix_only => return None,
            // A header dump's fields on a body no rule reads: Python keeps them.
            _ => body::Parsed {
                action: ACTIONS[0],
                flag: None,
            },
        };
        let body::Event { mut doc, mut exim } = ev;
        let meta = body::action_meta(parsed.action)?;
        let failed = exim.contains_key("error");
        // Without output the document is read for its facts alone, and only one that names its
        // message has facts: of the enrichment they read the provider, and nothing of the rest.
        if self.output == Output::Nothing {
            if names_message(&doc) {
                exim = crate::enrich::enrich_for_facts(&doc, exim, parsed.flag);
            }
        } else {
            if let Some(raw) = raw {
                exim.insert("original_base64".into(), text::b64(raw).into());
            }
            exim = crate::enrich::enrich(&mut doc, exim, parsed.flag, text::first_line(text));
        }
        if !exim.is_empty() {
            doc.insert("exim".into(), exim.into());
        }
        let code = ACTIONS.iter().position(|&a| a == parsed.action)?;
        Some(Claimed {
            code: u8::try_from(code).ok()?,
            doc,
            meta,
            action: parsed.action,
            failed,
        })
    }

    /// `EntryParser._body`: a flag line or `Completed`, else the line catalogue; `None` when the
    /// body is unrecognized.
    fn body(&self, ev: &mut body::Event, text: &str, msgid: Option<&str>) -> Option<body::Parsed> {
        if let Some(parsed) = body::parse_body(ev, text) {
            return Some(parsed);
        }
        let mut action = crate::catalogue::parse_other(ev, text, msgid);
        if action == "unrecognized" {
            if self.ctx.dataset != "exim.panic" {
                return None;
            }
            // Whatever is written to the panic log is by definition a panic-level error.
            ev.exim.insert("panic_message".into(), text.into());
            action = "panic";
        }
        Some(body::Parsed { action, flag: None })
    }

    /// Writes the action line and its newline; returns where this entry's bytes start.
    fn action(
        &mut self,
        bulk: &mut Vec<u8>,
        ts: Option<&str>,
        data: &[u8],
        occ: u64,
        out: &mut EntryOut,
    ) -> usize {
        let start = bulk.len();
        if self.output != Output::Bulk {
            return start;
        }
        let mut id = [0u8; 20];
        let id = event_id_into(
            &self.ctx.server,
            data,
            occ,
            &self.ctx.dataset,
            out.flags & flags::SECOND_PASS != 0,
            &mut id,
        );
        // The index changes once a day: it is remade only when the stamp's date does.
        let date = ts.and_then(|t| t.get(..10)).unwrap_or("");
        if self.index.0.is_empty() || self.index.0 != date {
            self.index = (date.to_string(), event_index(&self.ctx.index_prefix, ts));
        }
        let mut w = JsonWriter::new(bulk);
        w.begin_object()
            .key("create")
            .begin_object()
            .field("_index", &self.index.1)
            .field("_id", id);
        w.end_object().end_object();
        out.action_len = u32::try_from(bulk.len() - start).unwrap_or(u32::MAX);
        bulk.push(b'\n');
        start
    }

    /// `tags` of a placeholder: the entry's own, then those of its syslog origin (none: no member).
    fn tags(&self, w: &mut JsonWriter<'_>, own: Option<&str>) {
        let mut extra = self.origin.iter().flat_map(Origin::tags).peekable();
        if own.is_none() && extra.peek().is_none() {
            return;
        }
        w.key("tags").begin_array();
        if let Some(t) = own {
            w.str(t);
        }
        for t in extra {
            w.str(t);
        }
        w.end_array();
    }

    /// A syslog origin's pid, where the prefix has none (`apply_origin`'s setdefault).
    fn origin_pid(&self, w: &mut JsonWriter<'_>, p: Option<&prefix::Prefix<'_>>) {
        if let (Some(pid), None) = (
            self.origin.as_ref().and_then(|o| o.pid),
            p.and_then(|p| p.pid),
        ) {
            w.key("process")
                .begin_object()
                .key("pid")
                .uint(pid)
                .end_object();
        }
    }

    fn prefix_fields(&self, w: &mut JsonWriter<'_>, p: &prefix::Prefix<'_>, out: &mut EntryOut) {
        if let Some(pid) = p.pid {
            // Up to 10 digits: always fits.
            let n: u64 = pid.parse().unwrap_or(0);
            w.key("process")
                .begin_object()
                .key("pid")
                .uint(n)
                .end_object();
            out.pid = n;
            out.flags |= flags::HAS_PID;
        }
        if let Some(id) = p.id {
            w.key("email")
                .begin_object()
                .field("local_id", id)
                .end_object();
            out.local_id[..id.len()].copy_from_slice(id.as_bytes());
        }
    }

    /// `event`, `host`, `exim` and `log`, closing the document.
    #[allow(clippy::too_many_arguments)]
    fn finish_doc(
        &self,
        w: &mut JsonWriter<'_>,
        text: &str,
        raw: Option<&[u8]>,
        action: u8,
        timestamp_raw: Option<&str>,
        parse_error: Option<&str>,
        eximstats: Option<&body::Obj>,
        offset: u64,
    ) {
        let name = ACTIONS[usize::from(action)];
        // ActionMeta of "unrecognized": type ["info"], outcome "unknown", no category.
        w.key("event")
            .begin_object()
            .field("original", text)
            .field("action", name)
            .field("kind", "event");
        w.key("type").begin_array().str("info").end_array();
        w.field("outcome", "unknown")
            .field("dataset", &self.ctx.dataset)
            .end_object();
        let host = host_name(self.origin.as_ref(), &self.ctx.server);
        if !host.is_empty() {
            w.key("host")
                .begin_object()
                .field("name", host)
                .end_object();
        }
        if timestamp_raw.is_some() || parse_error.is_some() || raw.is_some() || eximstats.is_some()
        {
            w.key("exim").begin_object();
            if let Some(raw) = timestamp_raw {
                w.field("timestamp_raw", raw);
            }
            if let Some(why) = parse_error {
                w.field("parse_error", why);
            }
            if let Some(raw) = raw {
                w.field("original_base64", &text::b64(raw));
            }
            if let Some(view) = eximstats {
                w.key("eximstats").begin_object();
                for (k, v) in view {
                    w.member(k, v);
                }
                w.end_object();
            }
            w.end_object();
        }
        w.key("log").begin_object();
        if let Some(o) = &self.origin {
            w.member("syslog", &o.log_syslog());
        }
        w.key("file")
            .begin_object()
            .field("path", &self.ctx.path)
            .end_object();
        w.key("offset").uint(offset).end_object();
        w.end_object();
    }

    /// `_prefix_only`: time, pid and id of an entry whose processing panicked, so it lands in place.
    fn fallback(&mut self, entry: &RawEntry, occ: u64, bulk: &mut Vec<u8>, why: &str) -> EntryOut {
        let mut out = Self::record(entry, occ);
        out.flags |= flags::PANICKED;
        self.times.second_pass = false;
        let text = text::decode(&entry.data);
        let bad = matches!(text, std::borrow::Cow::Owned(_));
        let first = text::first_line(&text).trim_end_matches('\r');
        let p = prefix::parse(first);
        let stamp = p
            .as_ref()
            .and_then(|p| self.times.convert(p.date, p.hm, p.sec, p.ms, p.tz))
            .map(|s| (s.text, s.millis))
            .or_else(|| self.last_timestamp.clone());
        if self.times.second_pass {
            out.flags |= flags::SECOND_PASS;
        }
        let doc_start = self.action(
            bulk,
            stamp.as_ref().map(|s| s.0.as_str()),
            &entry.data,
            occ,
            &mut out,
        );
        let mut w = JsonWriter::new(bulk);
        w.begin_object();
        if let Some((ts, ms)) = &stamp {
            w.field("@timestamp", ts);
            out.timestamp_ms = *ms;
            out.flags |= flags::HAS_TIMESTAMP;
        }
        self.tags(&mut w, None);
        if let Some(p) = &p {
            self.prefix_fields(&mut w, p, &mut out);
        }
        self.origin_pid(&mut w, p.as_ref());
        let why = format!("panic: {why}");
        self.finish_doc(
            &mut w,
            &text,
            bad.then_some(&entry.data[..]),
            0,
            None,
            Some(&why),
            None,
            entry.offset,
        );
        if bad {
            out.flags |= flags::BAD_UTF8;
        }
        bulk.push(b'\n');
        out.bulk_len = u32::try_from(bulk.len() - doc_start).unwrap_or(u32::MAX);
        self.placeholder_facts(p.as_ref(), stamp.as_ref());
        out
    }
}

/// Where one entry's message facts go (`typed`: they are read).
struct Facts<'a> {
    typed: bool,
    parts: &'a mut Option<Vec<crate::messages::Partial>>,
}

impl Facts<'_> {
    /// The facts ([`crate::facts`]) of a document whose `host.name` is `host` ("" when none), `@timestamp`
    /// `ts` (None: none, so no partials) and `event.action` `action`; `doc` is the rest of it.
    fn write(self, host: &str, ts: Option<&str>, action: &str, doc: &body::Obj) {
        let (true, Some(ts)) = (self.typed, ts) else {
            return;
        };
        *self.parts = crate::facts::partials(host, ts, action, doc);
    }
}
