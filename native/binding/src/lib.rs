//! `shipper._native`: the exim-log crate under Python. Bytes cross, never per-line objects: a chunk in,
//! the bulk lines and a packed record per entry out.

mod correlation;

use std::collections::VecDeque;

use correlation::{Correlator, Held, Summaries};
use exim_log::messages::Partial;
use exim_log::stream::{self, Batch, Context, Output, Stream};
use exim_log::syslog::{Form, SyslogAssembler};
use exim_log::timestamps::TimestampConverter;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

// Only the core allocates through it: Python objects keep CPython's allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

// mimalloc's `arena_eager_commit` (option 4 in its v2 and v3 enums), off unless MIMALLOC_ARENA_EAGER_COMMIT
// says otherwise (`mi_option_set_default` leaves the environment the last word). On (its default under
// Linux's overcommit) more of the pages the core freed stayed resident: `parse --messages` of the 1M bench
// log peaked at 145.8 MB, 132.4 MB with the variable 0, 131.3 MB with this (bench/memory.py, native/README's
// "Measured"); the mechanism is mimalloc's purge of committed against uncommitted arena memory.
#[cfg(target_os = "linux")]
mod allocator {
    use std::ffi::{c_int, c_long};

    extern "C" {
        fn mi_option_set_default(option: c_int, value: c_long);
    }

    const MI_OPTION_ARENA_EAGER_COMMIT: c_int = 4;

    extern "C" fn options() {
        // SAFETY: a plain setter of mimalloc's option table, called once as the module is loaded.
        unsafe { mi_option_set_default(MI_OPTION_ARENA_EAGER_COMMIT, 0) }
    }

    // Run as the module is loaded, before the first allocation reserves an arena with the default.
    #[used]
    #[link_section = ".init_array"]
    static OPTIONS: extern "C" fn() = options;
}

/// One file's reader: `feed` chunks in order from `start`; each call returns `(bulk, records)`.
///
/// `bulk` holds each emitted entry's action line and document line, each ending in a newline, back to
/// back. `records` holds one `RECORD_FORMAT` record per entry, in the same order:
/// `(offset, end, bulk_len, action_len, occurrence, flags, timestamp_ms, pid, local_id, action)`.
#[pyclass(module = "shipper._native")]
struct Reader {
    stream: Stream,
    /// With `correlate`: the partials of the entries returned and not folded in or taken yet, in
    /// order, each with the offset where its entry begins (`correlate`, `summarize`, `partials`).
    held: VecDeque<Held>,
    /// The last call's bulk and records buffers, cleared and filled again by the next: a fresh
    /// batch per 1 MiB chunk allocated (and page-faulted) about 6 MB each time.
    spare: Batch,
}

impl Reader {
    fn keep_facts(&mut self, batch: &mut Batch) {
        self.held.extend(batch.parts.drain(..));
    }

    /// The spare batch, emptied (its buffers' capacity kept).
    fn batch(&mut self) -> Batch {
        let mut batch = std::mem::take(&mut self.spare);
        batch.bulk.clear();
        batch.entries.clear();
        batch.parts.clear();
        batch
    }

    /// The held partials of the entries that begin before `before`.
    fn unfolded(&mut self, before: u64) -> Vec<Held> {
        let n = self.held.iter().take_while(|(at, _)| *at < before).count();
        self.held.drain(..n).collect()
    }
}

fn panic_on_marker(body: &str) -> u8 {
    // Only installed by the `panic_on` test hook: the real classifier never panics on purpose.
    assert!(
        !body.contains("\u{1}panic\u{1}"),
        "test hook: panic requested by the entry"
    );
    stream::classify_body(body)
}

fn out(py: Python<'_>, batch: &Batch) -> (Py<PyBytes>, Py<PyBytes>) {
    let mut records = Vec::with_capacity(batch.entries.len() * stream::RECORD_SIZE);
    for e in &batch.entries {
        e.write_le(&mut records);
    }
    (
        PyBytes::new(py, &batch.bulk).unbind(),
        PyBytes::new(py, &records).unbind(),
    )
}

#[pymethods]
impl Reader {
    /// `zone`: an IANA name (the server's zone for prefixes without `±hhmm`). `resume`: entries ending
    /// at or before it are counted (twins in one second) but not returned. `panic_on`: test hook; a
    /// body containing `\x01panic\x01` panics inside the core when it is true.
    ///
    /// `form`: `exim` (Exim's own format), `syslog` or `journal` (records around Exim's lines, see
    /// `shipper/files/syslog.py`): then `anchor` (year, month, day) dates BSD's year-less lines,
    /// `programs` are the syslog tags of Exim (other programs' lines are skipped and counted) and
    /// `host_from_syslog` makes the record's host the entries' `host.name`.
    ///
    /// `output`: what `bulk` holds of each entry: `bulk` (its action and document lines), `documents`
    /// (its document line alone, `parse`: no content ids, records' `action_len` and `occurrence` 0)
    /// or `nothing` (`parse --messages`: the records and partials alone, `bulk_len` 0 too).
    #[new]
    #[pyo3(signature = (*, server, zone, dataset, path, index_prefix, start=0, resume=0, panic_on=false,
        form="exim", anchor=(1970, 1, 1), programs=vec![], host_from_syslog=true, correlate=false,
        output="bulk"))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        server: String,
        zone: &str,
        dataset: String,
        path: String,
        index_prefix: String,
        start: u64,
        resume: u64,
        panic_on: bool,
        form: &str,
        anchor: (i32, u32, u32),
        programs: Vec<String>,
        host_from_syslog: bool,
        correlate: bool,
        output: &str,
    ) -> PyResult<Self> {
        let times = TimestampConverter::from_name(zone)
            .ok_or_else(|| PyValueError::new_err(format!("unknown time zone: {zone}")))?;
        let ctx = Context {
            server,
            dataset,
            path,
            index_prefix,
        };
        let form = match form {
            "exim" => None,
            "syslog" => Some(Form::Syslog),
            "journal" => Some(Form::Journal),
            other => {
                return Err(PyValueError::new_err(format!(
                    "unknown input form: {other}"
                )))
            }
        };
        let mut stream = match form {
            None => Stream::new(ctx, times, start),
            Some(form) => {
                let (y, m, d) = anchor;
                let anchor = exim_log::syslog::date(y, m, d)
                    .ok_or_else(|| PyValueError::new_err(format!("not a date: {anchor:?}")))?;
                let syslog = SyslogAssembler::new(form, anchor, programs, host_from_syslog);
                Stream::wrapped(ctx, times, start, syslog)
            }
        };
        stream.resume = resume;
        stream.typed_facts = correlate;
        stream.output = match output {
            "bulk" => Output::Bulk,
            "documents" => Output::Documents,
            "nothing" => Output::Nothing,
            other => return Err(PyValueError::new_err(format!("unknown output: {other}"))),
        };
        if panic_on {
            stream.classify = panic_on_marker;
        }
        Ok(Self {
            stream,
            held: VecDeque::new(),
            spare: Batch::default(),
        })
    }

    /// Entries completed by `chunk`, which must start at `offset` (where the last chunk ended).
    fn feed(
        &mut self,
        py: Python<'_>,
        chunk: &[u8],
        offset: u64,
    ) -> PyResult<(Py<PyBytes>, Py<PyBytes>)> {
        let fed = self.stream.assembler().fed();
        if offset != fed {
            return Err(PyValueError::new_err(format!(
                "chunk at {offset}, expected {fed}"
            )));
        }
        let mut batch = self.batch();
        py.detach(|| {
            self.stream.feed(chunk, &mut batch);
            self.keep_facts(&mut batch);
        });
        let done = out(py, &batch);
        self.spare = batch;
        Ok(done)
    }

    /// The held last entry, taken as complete (a quiet poll).
    fn release(&mut self, py: Python<'_>) -> (Py<PyBytes>, Py<PyBytes>) {
        let mut batch = self.batch();
        self.stream.release(&mut batch);
        self.keep_facts(&mut batch);
        let done = out(py, &batch);
        self.spare = batch;
        done
    }

    /// Everything left, a partial last line too (the stream is over).
    fn finish(&mut self, py: Python<'_>) -> (Py<PyBytes>, Py<PyBytes>) {
        let mut batch = self.batch();
        self.stream.finish(&mut batch);
        self.keep_facts(&mut batch);
        let done = out(py, &batch);
        self.spare = batch;
        done
    }

    /// The message facts of the entries returned so far and not folded in or taken yet, which it no
    /// longer holds: for a correlator fed only some entries (`trace`), and for the tests. Only a reader
    /// made with `correlate=True` reads an entry's facts: every entry with a message id and a time has
    /// them (an `unrecognized` one's too), `exim_log::facts`.
    fn partials(&mut self) -> Partials {
        Partials {
            held: self.held.drain(..).collect(),
        }
    }

    /// Fold the partials of the entries returned so far that begin before offset `before` (those not
    /// folded yet) into `correlator`, each at its entry's offset: the loop calls it before a flush
    /// (with the last entry's end) and at a batch's end, so the order is the entries'. Only a reader
    /// made with `correlate=True` holds partials.
    fn correlate(&mut self, mut correlator: PyRefMut<'_, Correlator>, before: u64) {
        for (at, parts) in self.unfolded(before) {
            correlator.fold(parts, at);
        }
    }

    /// `correlate` for `parse --messages`' summaries.
    fn summarize(&mut self, mut summaries: PyRefMut<'_, Summaries>, before: u64) {
        for (_, parts) in self.unfolded(before) {
            summaries.inner.add(parts);
        }
    }

    /// Offset just past the last complete (or cut) physical line.
    #[getter]
    fn consumed(&mut self) -> u64 {
        self.stream.assembler().consumed()
    }

    /// Offset just past the last byte fed.
    #[getter]
    fn fed(&mut self) -> u64 {
        self.stream.assembler().fed()
    }

    /// Whether an entry waits for `release` (or its successor).
    #[getter]
    fn held(&mut self) -> bool {
        self.stream.held()
    }

    /// A syslog or journal stream's lines of other programs, read and not shipped.
    #[getter]
    fn skipped(&self) -> u64 {
        self.stream.syslog().map_or(0, |s| s.skipped)
    }

    /// A syslog or journal stream's lines that are neither a record of its form nor an Exim line.
    #[getter]
    fn unreadable(&self) -> u64 {
        self.stream.syslog().map_or(0, |s| s.unreadable)
    }
}

/// The message facts of some entries (`Reader.partials`), each entry's partials at the offset where it
/// begins, ascending.
#[pyclass(module = "shipper._native", frozen)]
struct Partials {
    held: Vec<Held>,
}

impl Partials {
    fn of(&self, offset: u64) -> Option<&[Partial]> {
        let i = self
            .held
            .binary_search_by_key(&offset, |(at, _)| *at)
            .ok()?;
        Some(&self.held[i].1)
    }
}

#[pymethods]
impl Partials {
    /// Entries with facts.
    fn __len__(&self) -> usize {
        self.held.len()
    }

    /// Where each of those entries begins, in order.
    fn offsets(&self) -> Vec<u64> {
        self.held.iter().map(|(at, _)| *at).collect()
    }

    /// Fold the facts of the entry that begins at `offset` into `correlator` as its entry at `at` (the
    /// order the correlator sees); False when that entry has none. They stay here too.
    fn fold(&self, mut correlator: PyRefMut<'_, Correlator>, offset: u64, at: u64) -> bool {
        let Some(parts) = self.of(offset) else {
            return false;
        };
        correlator.fold(parts.to_vec(), at);
        true
    }

    /// The facts of the entry that begins at `offset` in `to_state`'s form (`exim.merge_state`'s:
    /// fields in the merge's order, records' keys and sets sorted), a JSON array; None when it has none.
    fn state(&self, py: Python<'_>, offset: u64) -> PyResult<Option<Py<PyBytes>>> {
        let Some(parts) = self.of(offset) else {
            return Ok(None);
        };
        let json = serde_json::to_vec(parts).map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(Some(PyBytes::new(py, &json).unbind()))
    }
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // A panic inside the core is caught per entry and reported in the entry itself (`FLAG_PANICKED`,
    // `exim.parse_error`); the default hook would also print it to stderr, which is the sidecar's
    // structured log stream. The hook is this library's own: other extensions keep theirs.
    std::panic::set_hook(Box::new(|_| {}));
    m.add_class::<Reader>()?;
    m.add_class::<Correlator>()?;
    m.add_class::<Summaries>()?;
    m.add_class::<Partials>()?;
    m.add("RECORD_FORMAT", stream::RECORD_FORMAT)?;
    m.add("RECORD_SIZE", stream::RECORD_SIZE)?;
    m.add("ACTIONS", stream::ACTIONS.to_vec())?;
    m.add("CLAIMED", exim_log::body::CLAIMED.to_vec())?;
    m.add("FLAG_TERMINATED", stream::flags::TERMINATED)?;
    m.add("FLAG_SECOND_PASS", stream::flags::SECOND_PASS)?;
    m.add("FLAG_PANICKED", stream::flags::PANICKED)?;
    m.add("FLAG_HAS_TIMESTAMP", stream::flags::HAS_TIMESTAMP)?;
    m.add("FLAG_INVALID_TIMESTAMP", stream::flags::INVALID_TIMESTAMP)?;
    m.add(
        "FLAG_TIMESTAMP_INHERITED",
        stream::flags::TIMESTAMP_INHERITED,
    )?;
    m.add("FLAG_BAD_UTF8", stream::flags::BAD_UTF8)?;
    m.add("FLAG_HAS_PID", stream::flags::HAS_PID)?;
    Ok(())
}
