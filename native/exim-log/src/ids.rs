//! Deterministic content ids and index names (`shipper/opensearch/documents.py`, `event_id`,
//! `event_index`; `shipper/pipeline.py`, `_Occurrences`). The id must stay byte-identical: an upgrade
//! that changed it would index everything already shipped a second time.

use base64::Engine;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// BLAKE2b-120 of server, entry bytes, occurrence (and the dataset unless `exim.main`, and the DST
/// second-pass marker), URL-safe base64: 20 characters.
pub fn event_id(
    server: &str,
    data: &[u8],
    occurrence: u64,
    dataset: &str,
    second_pass: bool,
) -> String {
    let mut out = [0u8; 20];
    event_id_into(server, data, occurrence, dataset, second_pass, &mut out).to_string()
}

/// [`event_id`] into a stack buffer: the stream writes an id per entry, and the `String`s of
/// `format!` and `encode` showed among the allocations in perf.
pub fn event_id_into<'a>(
    server: &str,
    data: &[u8],
    occurrence: u64,
    dataset: &str,
    second_pass: bool,
    out: &'a mut [u8; 20],
) -> &'a str {
    let mut h = blake2b_simd::Params::new().hash_length(15).to_state();
    h.update(server.as_bytes());
    h.update(b"\0");
    h.update(data);
    // `\0{occurrence}` in decimal, without a String.
    let mut digits = [0u8; 21];
    let mut at = digits.len();
    let mut n = occurrence;
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    at -= 1;
    digits[at] = 0;
    h.update(&digits[at..]);
    if dataset != "exim.main" {
        h.update(b"\0");
        h.update(dataset.as_bytes());
    }
    if second_pass {
        h.update(b"\0dst-second-pass");
    }
    let digest = h.finalize();
    let n = base64::engine::general_purpose::URL_SAFE
        .encode_slice(digest.as_bytes(), out)
        .expect("15 bytes are 20 base64 characters");
    std::str::from_utf8(&out[..n]).expect("base64 is ASCII")
}

/// `<prefix>-events-YYYY.MM.DD` from the stamp's own characters, `-undated` without one.
pub fn event_index(prefix: &str, timestamp: Option<&str>) -> String {
    match timestamp {
        Some(ts) if !ts.is_empty() => {
            // Python slices characters: ts[0:4], ts[5:7], ts[8:10] (stamps are ASCII).
            let cut = |a: usize, b: usize| ts.get(a.min(ts.len())..b.min(ts.len())).unwrap_or("");
            format!("{prefix}-events-{}.{}.{}", cut(0, 4), cut(5, 7), cut(8, 10))
        }
        _ => format!("{prefix}-events-undated"),
    }
}

/// A word-at-a-time multiply hash (rustc's FxHash): SipHash over every whole entry showed in perf. The
/// map holds one second's entries only and is cleared each second, so a crafted collision costs little.
#[derive(Debug, Default)]
pub struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x517c_c1b7_2722_0a95;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let w = u64::from_le_bytes(c.try_into().unwrap_or([0; 8]));
            self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Counts byte-identical entries within one second (their first 19 bytes), so each gets its own id.
#[derive(Debug, Default)]
pub struct Occurrences {
    second: Vec<u8>,
    seen: HashMap<Vec<u8>, u64, BuildHasherDefault<FxHasher>>,
}

impl Occurrences {
    pub fn next(&mut self, data: &[u8]) -> u64 {
        let n = self.count(data);
        if n == 0 {
            self.keep(data.to_vec());
        }
        n
    }

    /// [`Occurrences::next`] without keeping a first occurrence: the caller hands its bytes to
    /// [`Occurrences::keep`] once it is done with them, so they are moved, not copied.
    pub fn count(&mut self, data: &[u8]) -> u64 {
        let second = &data[..data.len().min(19)];
        if second != self.second.as_slice() {
            self.second.clear();
            self.second.extend_from_slice(second);
            self.seen.clear();
        }
        if let Some(n) = self.seen.get_mut(data) {
            *n += 1;
            return *n - 1;
        }
        0
    }

    /// Records an entry [`Occurrences::count`] saw first (returned 0), before the next is counted.
    pub fn keep(&mut self, data: Vec<u8>) {
        self.seen.insert(data, 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected values computed with shipper.opensearch.documents.event_id (CPython hashlib).
    #[test]
    fn ids_equal_the_python_ones() {
        let line = b"2025-10-26 02:30:00 1uDxyz-000001-AB Completed";
        assert_eq!(event_id("mx1", line, 0, "exim.main", false), PY_MAIN);
        assert_eq!(event_id("mx1", line, 1, "exim.main", false), PY_OCC1);
        assert_eq!(event_id("mx1", line, 0, "exim.reject", false), PY_REJECT);
        assert_eq!(event_id("mx1", line, 0, "exim.main", true), PY_SECOND);
        assert_eq!(event_id("", b"\xff\n x", 12, "exim.main", false), PY_EMPTY);
    }

    const PY_MAIN: &str = "D0N8Wn1dSsFyKg49_lmb";
    const PY_OCC1: &str = "wDn6ib0KdKxj9IRInH20";
    const PY_REJECT: &str = "b97iIFdZl8VXQk3HQuNm";
    const PY_SECOND: &str = "HrSKZb8DZNjt_lpUMQed";
    const PY_EMPTY: &str = "4WVj5ieg7QmQ8N8EbnC2";

    #[test]
    fn index_names() {
        assert_eq!(
            event_index("exim", Some("2025-10-26T00:30:00.000Z")),
            "exim-events-2025.10.26"
        );
        assert_eq!(event_index("exim", None), "exim-events-undated");
        assert_eq!(
            event_index("exim", Some("999-01-01T10:00:00.000Z")),
            "exim-events-999-.1-.1T"
        );
    }

    #[test]
    fn occurrences_count_twins_within_a_second() {
        let mut occ = Occurrences::default();
        let a = b"2025-01-31 10:00:00 x";
        let b = b"2025-01-31 10:00:00 y";
        assert_eq!(
            [occ.next(a), occ.next(b), occ.next(a), occ.next(a)],
            [0, 0, 1, 2]
        );
        assert_eq!(occ.next(b"2025-01-31 10:00:01 x"), 0);
        assert_eq!(occ.next(a), 0, "a new second starts afresh");
        assert_eq!(occ.next(b"short"), 0);
    }
}
