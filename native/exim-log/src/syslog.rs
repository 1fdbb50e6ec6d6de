//! Syslog and journal envelopes around Exim's lines: one record to Exim's text and the wrapper's facts
//! (`shipper/exim/syslog.py`), and Exim's entries assembled from a wrapped stream's physical lines
//! (`shipper/files/syslog.py` `SyslogAssembler`): the program filter, `[n\m]` pieces, BSD's year-less
//! dates, the reject/panic dataset per entry, the skipped and unreadable counts.

use crate::assemble::{RawEntry, MAX_ENTRY_BYTES};
use crate::doc::{self, Obj};
use chrono::{Datelike, NaiveDate, Timelike};
use regex::bytes::{Captures, Regex};
use serde_json::{Map, Value};
use std::collections::{HashMap, VecDeque};
use std::sync::OnceLock;

/// Pieces of one split message arrive back to back; one still missing after this many other lines (or
/// with this many entries waiting behind it) is given up on, so memory stays bounded.
pub const MAX_WAIT_LINES: u64 = 1000;
pub const MAX_OPEN: usize = 256;

/// Which envelope a stream is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Syslog,
    Journal,
}

/// The wrapper's time as written; BSD syslog has no year (`year` is None) and often no zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyslogTime {
    pub year: Option<i64>,
    pub month: u32,
    pub day: u32,
    pub hms: String,
    pub frac: Option<String>,
    /// `+hhmm`, or None for the configured zone.
    pub tz: Option<String>,
}

/// One record: the message Exim passed to syslog() and what the wrapper added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wrapped {
    pub message: Vec<u8>,
    pub time: Option<SyslogTime>,
    pub host: Option<String>,
    pub program: String,
    pub pid: Option<u64>,
    /// Severity when the record says (journal PRIORITY, a `<PRI>` prefix's low 3 bits).
    pub priority: Option<u64>,
}

/// Exim's `[n\m]` / `[n/m]` marker: piece n of m; `newline` when a newline followed the piece.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part<'a> {
    pub n: u32,
    pub m: u32,
    pub newline: bool,
    pub text: &'a [u8],
}

/// What the wrapper said about one assembled entry, for its document (`Origin` in syslog.py).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub host: Option<String>,
    pub program: String,
    pub pid: Option<u64>,
    /// `host.name` to set (the syslog host unless a server name is configured).
    pub host_name: Option<String>,
    /// `exim.reject` / `exim.panic` for the copies Exim also sends to syslog; None: the stream's own.
    pub dataset: Option<&'static str>,
    pub priority: Option<u64>,
    /// Exim wrote no timestamp (syslog_timestamp = false): the syslog one was put in front.
    pub restamped: bool,
    /// Some of the entry's `[n\m]` pieces never arrived.
    pub incomplete: bool,
}

impl Origin {
    /// `log.syslog` of the document (`apply_origin`).
    pub fn log_syslog(&self) -> doc::Value {
        let mut o = Obj::new();
        o.insert("appname".into(), self.program.as_str().into());
        if let Some(h) = self.host.as_deref().filter(|h| !h.is_empty()) {
            o.insert("hostname".into(), h.into());
        }
        if let Some(pid) = self.pid {
            o.insert("procid".into(), pid.to_string().into());
        }
        if let Some(code) = self.priority {
            let mut s = Obj::new();
            s.insert("code".into(), code.into());
            o.insert("severity".into(), s.into());
        }
        doc::Value::Object(o)
    }

    /// The `host.name` this entry's document takes instead of the server's, if any.
    pub fn host_name(&self) -> Option<&str> {
        self.host_name.as_deref().filter(|h| !h.is_empty())
    }

    /// The tags that say what was done to the entry, in Python's order.
    pub fn tags(&self) -> impl Iterator<Item = &'static str> {
        [
            ("timestamp_from_syslog", self.restamped),
            ("syslog_parts_missing", self.incomplete),
        ]
        .into_iter()
        .filter_map(|(t, on)| on.then_some(t))
    }

    /// `apply_origin`'s members of a document the body made: the pid when the prefix had none, and
    /// the tags after the entry's own (`host` and `log` are the writer's).
    pub fn apply(&self, doc: &mut Obj) {
        if let Some(pid) = self.pid {
            let process = doc.or_insert_with("process", || Obj::new().into());
            if let Some(p) = process.as_object_mut() {
                p.or_insert_with("pid", || pid.into());
            }
        }
        let tags: Vec<doc::Value> = self.tags().map(doc::Value::from).collect();
        if !tags.is_empty() {
            let mut all = match doc.remove("tags") {
                Some(doc::Value::Array(a)) => a,
                _ => Vec::new(),
            };
            all.extend(tags);
            doc.insert("tags".into(), doc::Value::Array(all));
        }
    }
}

const TAG: &str = r"(?P<prog>[^\s\[\]:]{1,64})(?:\[(?P<pid>\d{1,10})\])?:(?: |$)";
const ISO: &str = r"(?P<date>\d{4}-\d\d-\d\d)T(?P<hms>\d\d:\d\d:\d\d)(?:[.,](?P<frac>\d{1,9}))?(?P<tz>Z|z|[+-]\d\d:?\d\d)?";
const BOM: &[u8] = b"\xef\xbb\xbf";

fn re(cell: &'static OnceLock<Regex>, pattern: impl FnOnce() -> String) -> &'static Regex {
    // ASCII classes, as Python's bytes patterns: `\d`, `\s` and `\S` mean bytes.
    cell.get_or_init(|| Regex::new(&format!("(?-u)\\A(?:{})", pattern())).expect("valid pattern"))
}

fn bsd_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(&R, || {
        format!(
            r"(?:<(?P<pri>\d{{1,3}})>)?(?P<mon>[A-Z][a-z]{{2}}) (?P<day>[ \d]?\d) (?P<hms>\d\d:\d\d:\d\d)(?:\.(?P<frac>\d{{1,9}}))? (?P<host>\S+) {TAG}"
        )
    })
}

fn iso_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(&R, || {
        format!(r"(?:<(?P<pri>\d{{1,3}})>)?{ISO} (?P<host>\S+) {TAG}")
    })
}

fn rfc5424_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(&R, || {
        format!(
            r"<(?P<pri>\d{{1,3}})>1 (?:-|{ISO}) (?P<host>\S+) (?P<prog>\S+) (?P<pid>\S+) (?P<msgid>\S+) "
        )
    })
}

fn part_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(&R, || {
        r"\[(?P<n>\d{1,4})(?P<sep>[\\/])(?P<m>\d{1,4})\](?: |$)".into()
    })
}

/// `\d{4}-\d\d-\d\d \d\d:\d\d:\d\d` at the start (`EXIM_STAMP_RE.match`).
pub fn exim_stamp_at(b: &[u8]) -> bool {
    let d = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    b.len() >= 19
        && d(0..4)
        && b[4] == b'-'
        && d(5..7)
        && b[7] == b'-'
        && d(8..10)
        && b[10] == b' '
        && d(11..13)
        && b[13] == b':'
        && d(14..16)
        && b[16] == b':'
        && d(17..19)
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Python's `int(raw) if raw.isdigit()` on ASCII digits (None beyond u64: Python's int has no bound).
fn digits_int(raw: &[u8]) -> Option<u64> {
    if raw.is_empty() || !raw.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(raw).ok()?.parse().ok()
}

fn group<'a>(c: &Captures<'a>, name: &str) -> Option<&'a [u8]> {
    c.name(name).map(|m| m.as_bytes())
}

fn tz(raw: Option<&[u8]>) -> Option<String> {
    let raw = raw?;
    if raw == b"Z" || raw == b"z" {
        return Some("+0000".into());
    }
    Some(lossy(raw).replace(':', ""))
}

fn small(b: &[u8]) -> u32 {
    // At most 4 ASCII digits (the patterns say so), a leading space allowed (Python's `int(" 5")`).
    b.iter()
        .filter(|c| c.is_ascii_digit())
        .fold(0u32, |n, c| n * 10 + u32::from(c - b'0'))
}

fn iso_time(c: &Captures<'_>) -> Option<SyslogTime> {
    let d = group(c, "date")?;
    Some(SyslogTime {
        year: Some(i64::from(small(&d[0..4]))),
        month: small(&d[5..7]),
        day: small(&d[8..10]),
        hms: lossy(group(c, "hms")?),
        frac: group(c, "frac").map(lossy),
        tz: tz(group(c, "tz")),
    })
}

/// Position after RFC 5424 STRUCTURED-DATA (`-` or `[id k="v"…]…`) and the space before MSG.
fn skip_structured_data(line: &[u8], mut pos: usize) -> usize {
    if line[pos..].starts_with(b"-") {
        pos += 1;
    } else {
        let n = line.len();
        while pos < n && line[pos] == b'[' {
            let mut quoted = false;
            pos += 1;
            while pos < n {
                let c = line[pos];
                if c == b'\\' {
                    pos += 2;
                    continue;
                }
                if c == b'"' {
                    quoted = !quoted;
                } else if c == b']' && !quoted {
                    pos += 1;
                    break;
                }
                pos += 1;
            }
        }
    }
    if line.get(pos..).is_some_and(|r| r.starts_with(b" ")) {
        pos + 1
    } else {
        pos
    }
}

/// A syslog file line (BSD, RFC 3339 high-precision or RFC 5424), or None when it is none of them.
pub fn parse_syslog(line: &[u8]) -> Option<Wrapped> {
    let first = line.first().copied();
    if first == Some(b'<') {
        if let Some(c) = rfc5424_re().captures(line) {
            let end = c.get(0).map_or(0, |m| m.end());
            let msg = &line[skip_structured_data(line, end).min(line.len())..];
            let host = group(&c, "host").unwrap_or_default();
            return Some(Wrapped {
                message: msg.strip_prefix(BOM).unwrap_or(msg).to_vec(),
                time: iso_time(&c),
                host: (host != b"-").then(|| lossy(host)),
                program: lossy(group(&c, "prog").unwrap_or_default()),
                pid: digits_int(group(&c, "pid").unwrap_or_default()),
                priority: Some(u64::from(small(group(&c, "pri")?) & 7)),
            });
        }
    }
    let iso = if first.is_some_and(|b| b.is_ascii_digit()) || first == Some(b'<') {
        iso_re().captures(line)
    } else {
        None
    };
    let (c, time) = if let Some(c) = iso {
        let t = iso_time(&c);
        (c, t)
    } else {
        let c = bsd_re().captures(line)?;
        let mon = group(&c, "mon")?;
        let month = MONTHS.iter().position(|m| m.as_bytes() == mon)? + 1;
        let t = SyslogTime {
            year: None,
            month: u32::try_from(month).ok()?,
            day: small(group(&c, "day")?),
            hms: lossy(group(&c, "hms")?),
            frac: group(&c, "frac").map(lossy),
            tz: None,
        };
        (c, Some(t))
    };
    let end = c.get(0).map_or(0, |m| m.end());
    Some(Wrapped {
        message: line[end..].to_vec(),
        time,
        host: Some(lossy(group(&c, "host")?)),
        program: lossy(group(&c, "prog")?),
        pid: group(&c, "pid").and_then(digits_int),
        priority: group(&c, "pri").map(|p| u64::from(small(p) & 7)),
    })
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A journal field: a string, an array of byte values (not UTF-8), or several values (the first).
fn field_bytes(value: Option<&Value>) -> Option<Vec<u8>> {
    match value? {
        Value::String(s) => Some(s.as_bytes().to_vec()),
        Value::Array(a) if !a.is_empty() => {
            // Python's isinstance(b, int) takes a bool too.
            let byte = |v: &Value| match v {
                Value::Number(n) => n.as_u64().filter(|&b| b < 256).map(|b| b as u8),
                Value::Bool(b) => Some(u8::from(*b)),
                _ => None,
            };
            let bytes: Option<Vec<u8>> = a.iter().map(byte).collect();
            bytes.or_else(|| field_bytes(a.first()))
        }
        _ => None,
    }
}

fn field_str(obj: &Map<String, Value>, names: &[&str]) -> Option<String> {
    names
        .iter()
        .find_map(|n| field_bytes(obj.get(*n)))
        .map(|b| lossy(&b))
}

/// The last microsecond Python's datetime holds: 9999-12-31 23:59:59.999999 UTC.
const MAX_USEC: u128 = 253_402_300_799_999_999;

/// One `journalctl -o json` (or json-seq) line, or None when it is not a journal record.
pub fn parse_journal(line: &[u8]) -> Option<Wrapped> {
    let line = line.strip_prefix(b"\x1e").unwrap_or(line);
    if !line.starts_with(b"{") {
        return None;
    }
    let Ok(Value::Object(obj)) = serde_json::from_slice::<Value>(line) else {
        return None;
    };
    if !obj.contains_key("MESSAGE") && !obj.contains_key("__REALTIME_TIMESTAMP") {
        return None;
    }
    // journalctl writes null for a field over 4096 bytes unless --all: the entry's text is gone.
    let message = field_bytes(obj.get("MESSAGE")).unwrap_or_default();
    let time = field_str(&obj, &["__REALTIME_TIMESTAMP"])
        .filter(|u| !u.is_empty() && u.bytes().all(|c| c.is_ascii_digit()))
        .and_then(|u| u.parse::<u128>().ok())
        .filter(|&u| u <= MAX_USEC)
        .and_then(|u| {
            let secs = i64::try_from(u / 1_000_000).ok()?;
            let micros = u32::try_from(u % 1_000_000).ok()?;
            let when = chrono::DateTime::from_timestamp(secs, micros * 1000)?;
            Some(SyslogTime {
                year: Some(i64::from(when.year())),
                month: when.month(),
                day: when.day(),
                hms: format!(
                    "{:02}:{:02}:{:02}",
                    when.hour(),
                    when.minute(),
                    when.second()
                ),
                frac: Some(format!("{micros:06}")),
                tz: Some("+0000".into()),
            })
        });
    let num = |names: &[&str]| field_str(&obj, names).and_then(|s| digits_int(s.as_bytes()));
    Some(Wrapped {
        message,
        time,
        host: field_str(&obj, &["_HOSTNAME"]),
        program: field_str(&obj, &["SYSLOG_IDENTIFIER", "_COMM"]).unwrap_or_default(),
        pid: num(&["SYSLOG_PID", "_PID"]),
        priority: num(&["PRIORITY"]),
    })
}

/// Exim's piece marker at the start of a syslog message, or None when the message is whole.
pub fn split_part(message: &[u8]) -> Option<Part<'_>> {
    let c = part_re().captures(message)?;
    let n = small(group(&c, "n")?);
    let m = small(group(&c, "m")?);
    if !(1..=m).contains(&n) || m < 2 {
        return None;
    }
    let end = c.get(0)?.end();
    Some(Part {
        n,
        m,
        newline: group(&c, "sep")? == b"\\",
        text: &message[end..],
    })
}

/// A calendar date (an anchor for [`SyslogAssembler::new`]), or None when there is no such day.
pub fn date(year: i32, month: u32, day: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(year, month, day)
}

fn ymd(year: i64, month: u32, day: u32) -> Option<NaiveDate> {
    // Python's date() takes years 1-9999 only.
    if !(1..=9999).contains(&year) {
        return None;
    }
    NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)
}

/// Years for BSD syslog dates, which carry none, from an anchor date (the file's mtime, or today):
/// `YearGuess` in syslog.py.
#[derive(Debug, Clone)]
pub struct YearGuess {
    anchor: NaiveDate,
    year: Option<i64>,
    month: u32,
}

impl YearGuess {
    pub fn new(anchor: NaiveDate) -> Self {
        Self {
            anchor,
            year: None,
            month: 0,
        }
    }

    fn limit(&self) -> NaiveDate {
        // Clock skew and zone differences between the writer and the anchor.
        self.anchor.succ_opt().unwrap_or(self.anchor)
    }

    fn latest(&self, month: u32, day: u32) -> Option<i64> {
        let top = i64::from(self.anchor.year());
        let limit = self.limit();
        (top - 8..=top + 1)
            .rev()
            .find(|&y| ymd(y, month, day).is_some_and(|d| d <= limit))
    }

    pub fn guess(&mut self, month: u32, day: u32) -> Option<i64> {
        let Some(mut year) = self.year else {
            self.year = self.latest(month, day);
            self.month = month;
            return self.year;
        };
        if month + 6 < self.month {
            year += 1; // past New Year
        } else if month > self.month + 6 {
            return Some(year - 1); // a late line from before New Year: it does not move the year back
        }
        if !ymd(year, month, day).is_some_and(|d| d <= self.limit()) {
            return self.latest(month, day);
        }
        self.year = Some(year);
        self.month = month;
        Some(year)
    }
}

/// The time in Exim's own prefix form, `YYYY-MM-DD HH:MM:SS[.mmm][ ±hhmm]`.
pub fn exim_stamp(t: &SyslogTime, year: i64) -> Vec<u8> {
    let sign = if year < 0 { "-" } else { "" };
    let mut out = format!(
        "{sign}{:04}-{:02}-{:02} {}",
        year.unsigned_abs(),
        t.month,
        t.day,
        t.hms
    );
    if let Some(frac) = t.frac.as_deref().filter(|f| !f.is_empty()) {
        out.push('.');
        let ms: String = frac.chars().take(3).collect();
        out.push_str(&format!("{ms:0<3}"));
    }
    if let Some(tz) = t.tz.as_deref().filter(|z| !z.is_empty()) {
        out.push(' ');
        out.push_str(tz);
    }
    out.into_bytes()
}

type Key = (Option<String>, String, Option<u64>);

#[derive(Debug)]
struct Pending {
    serial: u64,
    offset: u64,
    end: u64,
    key: Key,
    wrapped: Option<Wrapped>,
    /// The syslog time in Exim's form, put in front when Exim wrote no timestamp of its own.
    stamp: Option<Vec<u8>>,
    data: Vec<u8>,
    size: usize,
    terminated: bool,
    total: u32,
    seen: u32,
    newline_after: bool,
    done: bool,
    incomplete: bool,
    last_line: u64,
}

/// Exim's entries from a syslog file's or journal export's physical lines, in the order they begin
/// (`SyslogAssembler` in files/syslog.py, same rules and limits).
#[derive(Debug)]
pub struct SyslogAssembler {
    pub form: Form,
    programs: Vec<String>,
    /// Use the syslog host as host.name (false when a server name is configured).
    host_from_syslog: bool,
    /// Lines of other programs.
    pub skipped: u64,
    /// Lines that are neither a record of this form nor an Exim line.
    pub unreadable: u64,
    open: VecDeque<Pending>,
    waiting: HashMap<Key, u64>,
    last_first: HashMap<Key, (Vec<u8>, bool)>,
    years: YearGuess,
    emitted_end: u64,
    lines: u64,
    serial: u64,
}

/// Journal severities of Exim's three logs (log.c: main LOG_INFO, reject LOG_NOTICE, panic LOG_ALERT;
/// LOG_CRIT is its last-ditch report when the panic log cannot be written).
fn dataset_by_priority(p: u64) -> Option<Option<&'static str>> {
    match p {
        6 => Some(None),
        5 => Some(Some("exim.reject")),
        1 | 2 => Some(Some("exim.panic")),
        _ => None,
    }
}

fn is_blank(b: &[u8]) -> bool {
    b.iter().all(|c| b" \t\n\r\x0b\x0c".contains(c))
}

impl SyslogAssembler {
    /// `anchor`: the date BSD syslog's year-less dates are read against (the file's mtime, or today).
    pub fn new(
        form: Form,
        anchor: NaiveDate,
        programs: Vec<String>,
        host_from_syslog: bool,
    ) -> Self {
        Self {
            form,
            programs,
            host_from_syslog,
            skipped: 0,
            unreadable: 0,
            open: VecDeque::new(),
            waiting: HashMap::new(),
            last_first: HashMap::new(),
            years: YearGuess::new(anchor),
            emitted_end: 0,
            lines: 0,
            serial: 0,
        }
    }

    fn parse(&self, line: &[u8]) -> Option<Wrapped> {
        match self.form {
            Form::Journal => parse_journal(line),
            Form::Syslog => parse_syslog(line),
        }
    }

    fn get(&mut self, serial: u64) -> Option<&mut Pending> {
        let front = self.open.front()?.serial;
        self.open
            .get_mut(usize::try_from(serial.checked_sub(front)?).ok()?)
    }

    /// One physical line (without its newline); the entries it completes go to `out`, with their
    /// origins (None: a plain Exim line among the records) to `origins`, index for index.
    pub fn feed(
        &mut self,
        offset: u64,
        line: &[u8],
        terminated: bool,
        out: &mut Vec<RawEntry>,
        origins: &mut Vec<Option<Origin>>,
    ) {
        self.lines += 1;
        let end = offset + line.len() as u64 + u64::from(terminated);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(wrapped) = self.parse(line) else {
            if exim_stamp_at(line) {
                // An Exim log line among the records: keep it as it is.
                let p = self.pending(
                    offset,
                    end,
                    (None, String::new(), None),
                    None,
                    None,
                    line,
                    terminated,
                );
                self.open.push_back(p);
            } else if !is_blank(line) {
                self.unreadable += 1;
            }
            return self.release(out, origins);
        };
        if !self.programs.contains(&wrapped.program) {
            self.skipped += 1;
            return self.release(out, origins);
        }
        let mut wrapped = wrapped;
        let key: Key = (wrapped.host.clone(), wrapped.program.clone(), wrapped.pid);
        let message = std::mem::take(&mut wrapped.message);
        let part = split_part(&message);
        let waiting = self.waiting.get(&key).copied();
        if let Some(part) = part.as_ref().filter(|p| p.n > 1) {
            if let Some(w) = waiting {
                let (seen, total) = self.get(w).map_or((0, 0), |e| (e.seen, e.total));
                if part.n == seen + 1 && part.m == total {
                    self.append(w, part.text, part.newline, end, terminated);
                    if part.n == part.m {
                        self.finish(w, false);
                    }
                    return self.release(out, origins);
                }
                self.finish(w, true);
            }
            // A piece whose beginning was never seen (a file that starts mid-message) stands alone.
            let mut orphan = self.new_entry(offset, end, wrapped, key, part.text, terminated);
            orphan.incomplete = true;
            self.open.push_back(orphan);
            return self.release(out, origins);
        }
        if let Some(w) = waiting {
            self.finish(w, true);
        }
        let text = part.as_ref().map_or(&message[..], |p| p.text);
        let mut entry = self.new_entry(offset, end, wrapped, key.clone(), text, terminated);
        if let Some(part) = &part {
            entry.total = part.m;
            entry.newline_after = part.newline;
            entry.done = false;
            self.waiting.insert(key, entry.serial);
        }
        self.open.push_back(entry);
        self.release(out, origins);
    }

    /// Everything still held, at the end of the stream (or when the file has gone quiet).
    pub fn flush(&mut self, out: &mut Vec<RawEntry>, origins: &mut Vec<Option<Origin>>) {
        let all: Vec<u64> = self.waiting.values().copied().collect();
        for w in all {
            self.finish(w, true);
        }
        self.release(out, origins);
    }

    #[allow(clippy::too_many_arguments)]
    fn pending(
        &mut self,
        offset: u64,
        end: u64,
        key: Key,
        wrapped: Option<Wrapped>,
        stamp: Option<Vec<u8>>,
        text: &[u8],
        terminated: bool,
    ) -> Pending {
        self.serial += 1;
        Pending {
            serial: self.serial,
            offset,
            end,
            key,
            wrapped,
            stamp,
            data: text.to_vec(),
            size: text.len(),
            terminated,
            total: 1,
            seen: 1,
            newline_after: false,
            done: true,
            incomplete: false,
            last_line: 0,
        }
    }

    fn new_entry(
        &mut self,
        offset: u64,
        end: u64,
        wrapped: Wrapped,
        key: Key,
        text: &[u8],
        terminated: bool,
    ) -> Pending {
        let mut stamp = None;
        // Exim's own timestamp needs no other; a year-less date still moves the year guess along.
        if let Some(t) = &wrapped.time {
            if t.year.is_none() || !exim_stamp_at(text) {
                let year = match t.year {
                    Some(y) => Some(y),
                    None => self.years.guess(t.month, t.day),
                };
                stamp = year.map(|y| exim_stamp(t, y));
            }
        }
        let mut p = self.pending(offset, end, key, Some(wrapped), stamp, text, terminated);
        p.last_line = self.lines;
        p
    }

    fn append(&mut self, serial: u64, text: &[u8], newline: bool, end: u64, terminated: bool) {
        let lines = self.lines;
        let Some(entry) = self.get(serial) else {
            return;
        };
        if entry.newline_after {
            entry.data.push(b'\n');
        }
        entry.data.extend_from_slice(text);
        entry.size += text.len() + 1;
        entry.seen += 1;
        entry.newline_after = newline;
        entry.end = end;
        entry.terminated = terminated;
        entry.last_line = lines;
        if entry.size >= MAX_ENTRY_BYTES {
            let incomplete = entry.seen < entry.total;
            self.finish(serial, incomplete);
        }
    }

    fn finish(&mut self, serial: u64, incomplete: bool) {
        let Some(entry) = self.get(serial) else {
            return;
        };
        entry.done = true;
        entry.incomplete |= incomplete;
        let key = entry.key.clone();
        if self.waiting.get(&key) == Some(&serial) {
            self.waiting.remove(&key);
        }
    }

    fn release(&mut self, out: &mut Vec<RawEntry>, origins: &mut Vec<Option<Origin>>) {
        if !self.waiting.is_empty() {
            let all: Vec<u64> = self.waiting.values().copied().collect();
            for w in all {
                let last = self.get(w).map_or(0, |e| e.last_line);
                if self.lines - last > MAX_WAIT_LINES || self.open.len() > MAX_OPEN {
                    self.finish(w, true);
                }
            }
        }
        while self.open.front().is_some_and(|h| h.done) {
            let head_end = self.open.front().map_or(0, |h| h.end);
            if !self.waiting.is_empty() && self.open.iter().any(|e| !e.done && e.offset < head_end)
            {
                break;
            }
            let Some(head) = self.open.pop_front() else {
                break;
            };
            let (entry, origin) = self.entry(head);
            out.push(entry);
            origins.push(origin);
        }
    }

    fn entry(&mut self, p: Pending) -> (RawEntry, Option<Origin>) {
        self.emitted_end = self.emitted_end.max(p.end);
        let (Some(w), false) = (&p.wrapped, p.key.1.is_empty()) else {
            // A plain Exim line.
            let raw = RawEntry {
                offset: p.offset,
                data: p.data,
                end: self.emitted_end,
                terminated: p.terminated,
            };
            return (raw, None);
        };
        let restamped = p.stamp.is_some() && !exim_stamp_at(&p.data);
        let dataset = self.dataset(&p, w);
        let origin = Origin {
            host: w.host.clone(),
            program: w.program.clone(),
            pid: w.pid,
            host_name: if self.host_from_syslog {
                w.host.clone()
            } else {
                None
            },
            dataset,
            priority: w.priority,
            restamped,
            incomplete: p.incomplete,
        };
        let data = match (&p.stamp, restamped) {
            (Some(stamp), true) => {
                let mut d = Vec::with_capacity(stamp.len() + 1 + p.data.len());
                d.extend_from_slice(stamp);
                d.push(b' ');
                d.extend_from_slice(&p.data);
                d
            }
            _ => p.data,
        };
        let raw = RawEntry {
            offset: p.offset,
            data,
            end: self.emitted_end,
            terminated: p.terminated,
        };
        (raw, Some(origin))
    }

    /// Which of Exim's logs the entry was written for. The journal keeps the syslog priority; a syslog
    /// file does not, but Exim (syslog_duplication, the default) sends a rejection to syslog twice, the
    /// reject log's copy right after the main log's, with the header dump if any.
    fn dataset(&mut self, p: &Pending, w: &Wrapped) -> Option<&'static str> {
        if self.form == Form::Journal {
            if let Some(d) = w.priority.and_then(dataset_by_priority) {
                return d;
            }
        }
        let text = &p.data;
        let (first, rest) = match memchr::memchr(b'\n', text) {
            Some(i) => (&text[..i], &text[i + 1..]),
            None => (&text[..], &b""[..]),
        };
        let previous = self.last_first.get(&p.key);
        let copy = rest.starts_with(b"Envelope-")
            || previous.is_some_and(|(f, c)| !c && f.as_slice() == first);
        if self.last_first.len() > 4096 {
            self.last_first.clear();
        }
        self.last_first
            .insert(p.key.clone(), (first.to_vec(), copy));
        copy.then_some("exim.reject")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::Strategy as _;

    fn assemble(form: Form, text: &[u8]) -> (Vec<RawEntry>, Vec<Option<Origin>>, SyslogAssembler) {
        let anchor = NaiveDate::from_ymd_opt(2025, 7, 1).unwrap();
        let mut a = SyslogAssembler::new(form, anchor, vec!["exim".into(), "exim4".into()], true);
        let (mut out, mut origins) = (Vec::new(), Vec::new());
        let mut offset = 0u64;
        for line in text.split_inclusive(|&c| c == b'\n') {
            let terminated = line.ends_with(b"\n");
            let body = line.strip_suffix(b"\n").unwrap_or(line);
            a.feed(offset, body, terminated, &mut out, &mut origins);
            offset += line.len() as u64;
        }
        a.flush(&mut out, &mut origins);
        (out, origins, a)
    }

    #[test]
    fn bsd_line_without_exims_stamp_takes_the_syslog_time_host_and_pid() {
        let (out, origins, _) = assemble(
            Form::Syslog,
            b"Jun 29 16:04:19 mx1 exim[1234]: 1tgXJ4-000000001aB-0Cd4 Completed\n",
        );
        assert_eq!(out.len(), 1);
        assert_eq!(
            out[0].data,
            b"2025-06-29 16:04:19 1tgXJ4-000000001aB-0Cd4 Completed"
        );
        let o = origins[0].as_ref().unwrap();
        assert_eq!(o.host.as_deref(), Some("mx1"));
        assert_eq!(o.pid, Some(1234));
        assert!(o.restamped);
        assert_eq!(o.dataset, None);
    }

    #[test]
    fn exims_own_stamp_is_kept_and_a_space_padded_day_is_read() {
        let w = parse_syslog(b"Jun  5 16:04:19 mx1 exim4: 2025-06-05 16:04:19 x").unwrap();
        assert_eq!(w.time.as_ref().unwrap().day, 5);
        assert_eq!(w.pid, None);
        assert_eq!(w.program, "exim4");
        let (out, origins, _) = assemble(
            Form::Syslog,
            b"Jun  5 16:04:19 mx1 exim4: 2025-06-05 16:04:19 x\n",
        );
        assert_eq!(out[0].data, b"2025-06-05 16:04:19 x");
        assert!(!origins[0].as_ref().unwrap().restamped);
    }

    #[test]
    fn rfc5424_and_rfc3339_forms() {
        let w = parse_syslog(
            b"<22>1 2025-06-29T16:04:19.123456+02:00 mx1 exim 1234 - [x@1 a=\"]\"] \xef\xbb\xbfmsg",
        )
        .unwrap();
        assert_eq!(w.message, b"msg");
        assert_eq!(w.priority, Some(6));
        let t = w.time.unwrap();
        assert_eq!(exim_stamp(&t, 2025), b"2025-06-29 16:04:19.123 +0200");
        let w = parse_syslog(b"2025-06-29T16:04:19Z mx1 exim[7]: hello").unwrap();
        assert_eq!(w.time.unwrap().tz.as_deref(), Some("+0000"));
        assert_eq!(w.message, b"hello");
        assert!(parse_syslog(b"Foo 29 16:04:19 mx1 exim[7]: hello").is_none());
        let w = parse_syslog(b"<13>1 - - exim - - -").unwrap();
        assert_eq!((w.host, w.time, w.priority), (None, None, Some(5)));
        assert_eq!(
            (w.program.as_str(), w.message.as_slice()),
            ("exim", &b""[..])
        );
    }

    #[test]
    fn journal_records() {
        let line = br#"{"MESSAGE":[104,105],"__REALTIME_TIMESTAMP":"1751213059123456","_HOSTNAME":"mx1","SYSLOG_IDENTIFIER":"exim","_PID":"42","PRIORITY":"5"}"#;
        let w = parse_journal(line).unwrap();
        assert_eq!(w.message, b"hi");
        assert_eq!(w.pid, Some(42));
        assert_eq!(w.priority, Some(5));
        let t = w.time.unwrap();
        assert_eq!(
            exim_stamp(&t, t.year.unwrap()),
            b"2025-06-29 16:04:19.123 +0000"
        );
        assert!(parse_journal(b"{\"A\":1}").is_none());
        assert!(parse_journal(b"{not json").is_none());
        let (_, origins, _) = assemble(Form::Journal, &[&line[..], b"\n"].concat());
        assert_eq!(origins[0].as_ref().unwrap().dataset, Some("exim.reject"));
    }

    #[test]
    fn split_pieces_are_joined_as_exim_wrote_them() {
        let text = b"Jun 29 16:04:19 mx1 exim[1]: [1\\3] 2025-06-29 16:04:19 H=x rejected\n\
Jun 29 16:04:19 mx1 postfix[9]: other\n\
Jun 29 16:04:19 mx1 exim[1]: [2/3] Envelope-from: <a@b>\n\
Jun 29 16:04:19 mx1 exim[1]: [3/3] tail\n";
        let (out, origins, a) = assemble(Form::Syslog, text);
        assert_eq!(out.len(), 1);
        assert_eq!(
            out[0].data,
            b"2025-06-29 16:04:19 H=x rejected\nEnvelope-from: <a@b>tail"
        );
        assert_eq!(out[0].end, text.len() as u64);
        assert_eq!(a.skipped, 1);
        let o = origins[0].as_ref().unwrap();
        assert_eq!(o.dataset, Some("exim.reject"));
        assert!(!o.incomplete);
    }

    #[test]
    fn missing_pieces_are_marked_and_nothing_is_lost() {
        let text =
            b"Jun 29 16:04:19 mx1 exim[1]: [1\\2] first\nJun 29 16:04:20 mx1 exim[1]: second\n\
Jun 29 16:04:21 mx1 exim[1]: [2/2] orphan\nnot a record\n\n";
        let (out, origins, a) = assemble(Form::Syslog, text);
        assert_eq!(out.len(), 3);
        assert!(origins[0].as_ref().unwrap().incomplete);
        assert!(!origins[1].as_ref().unwrap().incomplete);
        assert!(origins[2].as_ref().unwrap().incomplete);
        assert_eq!(a.unreadable, 1);
    }

    #[test]
    fn a_repeated_line_is_the_reject_logs_copy() {
        let text = b"Jun 29 16:04:19 mx1 exim[1]: H=x rejected\nJun 29 16:04:19 mx1 exim[1]: H=x rejected\n";
        let (_, origins, _) = assemble(Form::Syslog, text);
        assert_eq!(origins[0].as_ref().unwrap().dataset, None);
        assert_eq!(origins[1].as_ref().unwrap().dataset, Some("exim.reject"));
    }

    #[test]
    fn year_guess_at_new_year_and_never_after_the_anchor() {
        let mut g = YearGuess::new(NaiveDate::from_ymd_opt(2025, 1, 2).unwrap());
        assert_eq!(g.guess(12, 31), Some(2024));
        assert_eq!(g.guess(1, 1), Some(2025));
        assert_eq!(g.guess(12, 30), Some(2024));
        let mut g = YearGuess::new(NaiveDate::from_ymd_opt(2025, 7, 1).unwrap());
        assert_eq!(g.guess(2, 29), Some(2024));
        assert_eq!(g.guess(7, 3), Some(2024));
        // A month far after the year's: a late line from before New Year (Python's reading too).
        assert_eq!(g.guess(40, 1), Some(2023));
    }

    #[test]
    fn origin_applies_pid_and_tags() {
        let o = Origin {
            host: Some("mx1".into()),
            program: "exim".into(),
            pid: Some(7),
            host_name: Some("mx1".into()),
            dataset: None,
            priority: Some(6),
            restamped: true,
            incomplete: true,
        };
        let mut doc: Obj =
            serde_json::from_str::<doc::Value>(r#"{"process":{"pid":3},"tags":["a"]}"#)
                .unwrap()
                .as_object()
                .unwrap()
                .clone();
        o.apply(&mut doc);
        assert_eq!(
            serde_json::to_string(&doc).unwrap(),
            r#"{"process":{"pid":3},"tags":["a","timestamp_from_syslog","syslog_parts_missing"]}"#
        );
        assert_eq!(
            serde_json::to_string(&o.log_syslog()).unwrap(),
            r#"{"appname":"exim","hostname":"mx1","procid":"7","severity":{"code":6}}"#
        );
    }

    fn wrapped_stream(host_from_syslog: bool) -> crate::stream::Stream {
        let ctx = crate::stream::Context {
            server: "mx1".into(),
            dataset: "exim.main".into(),
            path: "mail.log".into(),
            index_prefix: "exim".into(),
        };
        let times = crate::timestamps::TimestampConverter::from_name("UTC").unwrap();
        let anchor = NaiveDate::from_ymd_opt(2025, 7, 1).unwrap();
        let syslog =
            SyslogAssembler::new(Form::Syslog, anchor, vec!["exim".into()], host_from_syslog);
        crate::stream::Stream::wrapped(ctx, times, 0, syslog)
    }

    fn documents(stream: &mut crate::stream::Stream, data: &[u8], chunk: usize) -> Vec<Value> {
        let mut batch = crate::stream::Batch::default();
        for piece in data.chunks(chunk.max(1)) {
            stream.feed(piece, &mut batch);
        }
        stream.finish(&mut batch);
        let text = String::from_utf8(batch.bulk).unwrap();
        text.lines()
            .skip(1)
            .step_by(2)
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn the_stream_writes_the_origin_into_claimed_and_placeholder_documents() {
        let data = b"Jun 29 16:04:19 mx9 exim[12]: 1tgXJ4-000000001aB-0Cd4 Completed\n\
Jun 29 16:04:19 mx9 exim[12]: something no rule knows\n\
Jun 29 16:04:19 mx9 exim[12]: something no rule knows\n";
        let docs = documents(&mut wrapped_stream(true), data, 1 << 20);
        assert_eq!(docs.len(), 3);
        assert_eq!(docs[0]["event"]["action"], "message_completed");
        assert_eq!(docs[1]["event"]["action"], "unrecognized");
        for d in &docs {
            assert_eq!(d["host"]["name"], "mx9");
            assert_eq!(d["process"]["pid"], 12);
            assert_eq!(d["tags"], serde_json::json!(["timestamp_from_syslog"]));
            assert_eq!(
                d["log"]["syslog"],
                serde_json::json!({"appname": "exim", "hostname": "mx9", "procid": "12"})
            );
        }
        assert_eq!(docs[1]["event"]["dataset"], "exim.main");
        assert_eq!(docs[2]["event"]["dataset"], "exim.reject");
        let docs = documents(&mut wrapped_stream(false), data, 3);
        assert_eq!(docs[0]["host"]["name"], "mx1");
    }

    proptest::proptest! {
        #[test]
        fn never_panics_and_keeps_every_exim_byte(lines in proptest::collection::vec(
            proptest::prop_oneof![
                proptest::string::string_regex("(Jun 29 16:04:1[0-9]|<1[0-9]>1 2025-06-29T16:04:19Z|2025-06-29T16:04:19\\.5\\+01:00) (mx1|-) (exim|exim4|postfix)(\\[[0-9]{1,3}\\])?: (\\[[1-3][\\\\/][1-3]\\] )?[ -~]{0,30}").unwrap(),
                proptest::string::string_regex("\\{\"MESSAGE\":\"[a-z ]{0,9}\",\"SYSLOG_IDENTIFIER\":\"exim\",\"PRIORITY\":\"[0-7]\",\"__REALTIME_TIMESTAMP\":\"[0-9]{1,17}\"\\}").unwrap(),
                proptest::string::string_regex("[ -~\\r]{0,40}").unwrap(),
            ], 0..40), journal: bool) {
            let text = lines.join("\n");
            let form = if journal { Form::Journal } else { Form::Syslog };
            let (out, origins, a) = assemble(form, text.as_bytes());
            proptest::prop_assert_eq!(out.len(), origins.len());
            let mut last = 0;
            for e in &out {
                proptest::prop_assert!(e.end >= last);
                proptest::prop_assert!(e.end <= text.len() as u64);
                last = e.end;
            }
            proptest::prop_assert!(a.open.is_empty());
            // The original: every Exim message text of the stream is in some entry, in order.
            for (e, o) in out.iter().zip(&origins) {
                if o.is_none() {
                    proptest::prop_assert!(exim_stamp_at(&e.data));
                }
            }
        }
    }

    proptest::proptest! {
        /// Whole records of Exim: one entry each, in order, holding the message as it was (after the
        /// syslog stamp put in front when it has none of Exim's), and the stream never panics on them.
        #[test]
        fn whole_records_keep_their_message(records in proptest::collection::vec(
            (0u8..3, proptest::collection::vec(proptest::prop_oneof![
                proptest::num::u8::ANY.prop_filter("no newline", |b| *b != b'\n'),
                proptest::strategy::Just(b' '),
            ], 0..60)), 0..30), chunk in 1usize..200) {
            let mut text = Vec::new();
            let mut messages = Vec::new();
            for (form, msg) in &records {
                // Not a piece marker nor a trailing `\r`: those are the envelope's, not the message's.
                let mut msg = msg.clone();
                if msg.first() == Some(&b'[') { msg[0] = b'x'; }
                while msg.last() == Some(&b'\r') { msg.pop(); }
                text.extend_from_slice(match form {
                    0 => &b"Jun 29 16:04:19 mx1 exim[7]: "[..],
                    1 => &b"2025-06-29T16:04:19.250+02:00 mx1 exim: "[..],
                    _ => &b"<22>1 2025-06-29T16:04:19Z mx1 exim 7 - - "[..],
                });
                text.extend_from_slice(&msg);
                text.push(b'\n');
                messages.push(msg);
            }
            let (out, origins, _) = assemble(Form::Syslog, &text);
            proptest::prop_assert_eq!(out.len(), messages.len());
            for (((e, o), msg), (form, _)) in out.iter().zip(&origins).zip(&messages).zip(&records) {
                let o = o.as_ref().unwrap();
                let msg = msg.strip_prefix(BOM).unwrap_or(msg);
                let stamp: &[u8] = match form {
                    0 => b"2025-06-29 16:04:19 ",
                    1 => b"2025-06-29 16:04:19.250 +0200 ",
                    _ => b"2025-06-29 16:04:19 +0000 ",
                };
                proptest::prop_assert_eq!(o.restamped, !exim_stamp_at(msg));
                let want = if o.restamped { [stamp, msg].concat() } else { msg.to_vec() };
                proptest::prop_assert_eq!(&e.data, &want);
            }
            let docs = documents(&mut wrapped_stream(true), &text, chunk);
            proptest::prop_assert_eq!(docs.len(), out.len());
            for (d, e) in docs.iter().zip(&out) {
                // The original kept: the text, or (bad UTF-8) its base64 twin.
                let kept = match d["exim"]["original_base64"].as_str() {
                    Some(b64) => base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b64).unwrap(),
                    None => d["event"]["original"].as_str().unwrap().as_bytes().to_vec(),
                };
                proptest::prop_assert_eq!(&kept, &e.data);
            }
        }
    }
}
