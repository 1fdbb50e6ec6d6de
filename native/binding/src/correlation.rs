//! The correlator under Python (`shipper._native.Correlator`, `Summaries`): partials merged in Rust, from
//! the facts a `Reader` holds (`Reader.correlate`/`summarize`, `Partials.fold`); out come the
//! summaries' bulk items (the loop, `trace`) or their documents (`parse --messages`) as bytes.

use exim_log::messages::{self, Partial};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// One entry's partials as the reader's core made them (typed, no JSON between), and where the entry
/// begins.
pub type Held = (u64, Vec<Partial>);

/// The ship loop's correlator of one file (`shipper/messages/correlator.py`), holding at most `max_open`
/// unfinished messages. What leaves memory (finished, evicted, taken by `older_than` or `drain`) is
/// merged per message until the next `older_than`/`drain`, which returns it as `create` items.
#[pyclass(module = "shipper._native")]
pub struct Correlator {
    inner: messages::Correlator,
    pending: messages::Pending,
    prefix: String,
}

impl Correlator {
    pub fn fold(&mut self, parts: Vec<Partial>, at: u64) {
        let mut out = Vec::new();
        self.inner.add(parts, at, &mut out);
        if !out.is_empty() {
            self.pending.extend(out);
        }
    }

    fn items(&mut self, py: Python<'_>, left: Vec<Partial>) -> (Py<PyBytes>, Py<PyBytes>, usize) {
        self.pending.extend(left);
        let mut bulk = Vec::new();
        let mut keys = Vec::new();
        let n = py.detach(|| self.pending.write(&self.prefix, &mut bulk, &mut keys));
        (
            PyBytes::new(py, &bulk).unbind(),
            PyBytes::new(py, &keys).unbind(),
            n,
        )
    }
}

#[pymethods]
impl Correlator {
    #[new]
    #[pyo3(signature = (*, max_open, index_prefix))]
    fn new(max_open: usize, index_prefix: String) -> Self {
        Self {
            inner: messages::Correlator::new(max_open),
            pending: messages::Pending::default(),
            prefix: index_prefix,
        }
    }

    /// The open messages whose held share began before `at`, with what left memory since the last
    /// call: `(bulk, keys, count)`, `bulk` each message's action and document lines, `keys` its
    /// `server \0 id \0`.
    fn older_than(&mut self, py: Python<'_>, at: u64) -> (Py<PyBytes>, Py<PyBytes>, usize) {
        let mut left = Vec::new();
        self.inner.older_than(at, &mut left);
        self.items(py, left)
    }

    /// Every open message, and what left memory since the last call, as `older_than` returns them.
    fn drain(&mut self, py: Python<'_>) -> (Py<PyBytes>, Py<PyBytes>, usize) {
        let mut left = Vec::new();
        self.inner.drain(&mut left);
        self.items(py, left)
    }

    /// Where the oldest share held begins (None when nothing is open).
    fn oldest(&self) -> Option<u64> {
        self.inner.oldest()
    }

    /// Messages held open.
    fn __len__(&self) -> usize {
        self.inner.len()
    }
}

/// `parse --messages`' summaries in first-seen order (`shipper/message_output.py` `FirstSeenOrder`):
/// `take` and `finish` return the documents written so far, one JSON line each.
#[pyclass(module = "shipper._native")]
pub struct Summaries {
    pub inner: messages::FirstSeen,
}

#[pymethods]
impl Summaries {
    #[new]
    #[pyo3(signature = (*, max_open))]
    fn new(max_open: usize) -> Self {
        Self {
            inner: messages::FirstSeen::new(max_open),
        }
    }

    /// The summary documents written since the last `take`.
    fn take(&mut self, py: Python<'_>) -> Py<PyBytes> {
        let out = std::mem::take(&mut self.inner.out);
        PyBytes::new(py, &out).unbind()
    }

    /// The stream is over: the documents of the messages left, in steps of about `budget` bytes
    /// (with what was not taken yet); call it again until it returns nothing.
    #[pyo3(signature = (budget=1 << 22))]
    fn finish(&mut self, py: Python<'_>, budget: usize) -> Py<PyBytes> {
        py.detach(|| self.inner.finish_some(budget));
        self.take(py)
    }

    /// Summary documents written in all.
    #[getter]
    fn written(&self) -> usize {
        self.inner.written
    }
}
