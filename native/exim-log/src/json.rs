//! JSON written straight into the bulk buffer, byte-identical to `orjson.dumps` of the same dict
//! (compact, keys in insertion order, UTF-8 as is, only `"`, `\` and control characters escaped).

/// Appends one JSON value at a time; objects and arrays track their own commas.
#[derive(Debug)]
pub struct JsonWriter<'a> {
    out: &'a mut Vec<u8>,
    /// Per open container, innermost in bit 0: whether it already holds a member (a bit stack, not
    /// a `Vec`: a writer is made per document, and documents nest a few levels only).
    open: u64,
    depth: u32,
    after_key: bool,
}

impl<'a> JsonWriter<'a> {
    pub fn new(out: &'a mut Vec<u8>) -> Self {
        Self {
            out,
            open: 0,
            depth: 0,
            after_key: false,
        }
    }

    fn sep(&mut self) {
        if self.after_key {
            self.after_key = false;
            return;
        }
        if self.depth > 0 {
            if self.open & 1 != 0 {
                self.out.push(b',');
            }
            self.open |= 1;
        }
    }

    fn push(&mut self) {
        debug_assert!(self.depth < 64, "documents nest a few levels");
        self.open <<= 1;
        self.depth += 1;
    }

    fn pop(&mut self) {
        self.open >>= 1;
        self.depth = self.depth.saturating_sub(1);
    }

    pub fn begin_object(&mut self) -> &mut Self {
        self.sep();
        self.out.push(b'{');
        self.push();
        self
    }

    pub fn end_object(&mut self) -> &mut Self {
        self.pop();
        self.out.push(b'}');
        self
    }

    pub fn begin_array(&mut self) -> &mut Self {
        self.sep();
        self.out.push(b'[');
        self.push();
        self
    }

    pub fn end_array(&mut self) -> &mut Self {
        self.pop();
        self.out.push(b']');
        self
    }

    /// A member name: the document's own field names, written as they are (no escaping).
    pub fn key(&mut self, k: &str) -> &mut Self {
        debug_assert!(
            !k.bytes().any(|c| c < 0x20 || c == b'"' || c == b'\\'),
            "keys are plain names"
        );
        self.sep();
        let k = k.as_bytes();
        // `"key":` after one capacity check (three pushes checked it three times: perf's `key`).
        self.out.reserve(k.len() + 3);
        // SAFETY: `k.len() + 3` bytes are reserved past `len`; all of them are written before `set_len`.
        unsafe {
            let len = self.out.len();
            let p = self.out.as_mut_ptr().add(len);
            *p = b'"';
            std::ptr::copy_nonoverlapping(k.as_ptr(), p.add(1), k.len());
            *p.add(1 + k.len()) = b'"';
            *p.add(2 + k.len()) = b':';
            self.out.set_len(len + k.len() + 3);
        }
        self.after_key = true;
        self
    }

    pub fn str(&mut self, s: &str) -> &mut Self {
        self.sep();
        write_str(self.out, s);
        self
    }

    pub fn int(&mut self, n: i64) -> &mut Self {
        self.sep();
        write_i64(self.out, n);
        self
    }

    pub fn uint(&mut self, n: u64) -> &mut Self {
        self.sep();
        write_u64(self.out, n);
        self
    }

    pub fn bool(&mut self, b: bool) -> &mut Self {
        self.sep();
        self.out
            .extend_from_slice(if b { b"true" } else { b"false" });
        self
    }

    /// A member whose name and value come from a map (names escaped like any string).
    pub fn member(&mut self, k: &str, v: &crate::doc::Value) -> &mut Self {
        self.sep();
        write_key(self.out, k);
        write_value(self.out, v);
        self
    }

    /// `"key": "value"` in one call.
    pub fn field(&mut self, k: &str, v: &str) -> &mut Self {
        self.key(k).str(v)
    }
}

/// A document value written with [`write_str`], as `serde_json` wrote it (its own serialiser escaped a
/// byte at a time, per perf). Map order is kept (sorted by key).
pub fn write_value(out: &mut Vec<u8>, v: &crate::doc::Value) {
    use crate::doc::{Number, Value};
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(Number::U(u)) => write_u64(out, *u),
        Value::Number(Number::I(i)) => write_i64(out, *i),
        Value::Number(Number::F(f)) => {
            // Rare here: serde_json's own formatting (ryu) for them.
            let n = serde_json::Number::from_f64(*f).map(|n| n.to_string());
            out.extend_from_slice(n.as_deref().unwrap_or("null").as_bytes());
        }
        Value::String(s) => write_str(out, s),
        Value::Array(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, x);
            }
            out.push(b']');
        }
        Value::Object(m) => {
            out.push(b'{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_key(out, k);
                write_value(out, x);
            }
            out.push(b'}');
        }
    }
}

/// A signed integer's digits, without a `String` either.
pub fn write_i64(out: &mut Vec<u8>, n: i64) {
    if n < 0 {
        out.push(b'-');
    }
    write_u64(out, n.unsigned_abs());
}

/// Decimal digits without the `String` that `to_string` allocates.
pub fn write_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// The bytes of `w` that need escaping (a control character, `"` or `\`), as their high bits. Bytes
/// above a flagged one may be flagged falsely (a borrow), so only the lowest flag is exact: the one
/// [`next_escape`] reads.
#[inline]
fn escape_mask(w: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero = |v: u64| v.wrapping_sub(ONES) & !v;
    // Bytes >= 0x80 are UTF-8 and never escaped: `!w & HIGH` keeps them out of the `< 0x20` test.
    let control = w.wrapping_sub(ONES * 0x20);
    (control | zero(w ^ (ONES * u64::from(b'"'))) | zero(w ^ (ONES * u64::from(b'\\')))) & !w & HIGH
}

#[inline]
fn word(b: &[u8], i: usize) -> u64 {
    u64::from_le_bytes(b[i..i + 8].try_into().unwrap_or([0; 8]))
}

/// The first byte from `i` that needs escaping: SSE2 (every x86_64 has it) for strings of 16 bytes or
/// more, sixteen bytes in about a third of the word-at-a-time test's instructions (cachegrind: that
/// test was a tenth of the core's); the words below 16 bytes and on other architectures.
#[inline]
fn next_escape(b: &[u8], i: usize) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    {
        let n = b.len();
        if n >= i + 16 {
            return next_escape_sse2(b, i);
        }
        // Most strings are short (keys, codes, addresses): 4 to 15 bytes as two overlapping
        // words in one 16-byte test (the word-at-a-time test of them was 4% of the instructions).
        if n >= i + 8 {
            let m = short_mask_sse2(word(b, i), word(b, n - 8));
            return first_of_pair(m, i, n);
        }
        if n >= i + 4 {
            let half =
                |k: usize| u64::from(u32::from_le_bytes(b[k..k + 4].try_into().unwrap_or([0; 4])));
            let w = half(i) | half(n - 4) << 32;
            let m = short_mask_sse2(w, w) & 0xff;
            return first_of_pair(m, i, n);
        }
        (i..n).find(|&k| b[k] < 0x20 || b[k] == b'"' || b[k] == b'\\')
    }
    #[cfg(not(target_arch = "x86_64"))]
    next_escape_words(b, i)
}

/// The first flagged byte of a short string's two overlapping 8-byte halves: lanes 0-7 are the bytes
/// from `i`, lanes 8-15 (and 4-7 of a 4-7 byte tail) those ending at `n`. A byte in both halves is
/// flagged in both, so the lowest lane of the low half, else of the high one, is the first.
#[cfg(target_arch = "x86_64")]
#[inline]
fn first_of_pair(m: u32, i: usize, n: usize) -> Option<usize> {
    if m == 0 {
        return None;
    }
    let j = m.trailing_zeros() as usize;
    let low = if n >= i + 8 { 8 } else { 4 };
    Some(if j < low { i + j } else { n + j - 2 * low })
}

/// [`next_escape_sse2`]'s test of the 16 bytes of `lo` (lanes 0-7) and `hi` (8-15).
#[cfg(target_arch = "x86_64")]
#[inline]
fn short_mask_sse2(lo: u64, hi: u64) -> u32 {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
        _mm_set_epi64x,
    };
    // SAFETY: SSE2 is part of x86_64; no memory is read.
    unsafe {
        let v = _mm_set_epi64x(hi as i64, lo as i64);
        let low = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v);
        let m = _mm_or_si128(
            _mm_or_si128(
                _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8)),
                _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8)),
            ),
            low,
        );
        _mm_movemask_epi8(m) as u32
    }
}

#[cfg(target_arch = "x86_64")]
#[inline]
fn next_escape_sse2(b: &[u8], mut i: usize) -> Option<usize> {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8,
    };
    let n = b.len();
    debug_assert!(n >= i + 16);
    // SAFETY: SSE2 is part of x86_64; every load reads the 16 bytes at `k` with `k + 16 <= n`.
    unsafe {
        let quote = _mm_set1_epi8(b'"' as i8);
        let backslash = _mm_set1_epi8(b'\\' as i8);
        let control = _mm_set1_epi8(0x1f);
        let mask = |k: usize| -> u32 {
            let v = _mm_loadu_si128(b.as_ptr().add(k).cast::<__m128i>());
            // `min(v, 0x1f) == v` is `v <= 0x1f` unsigned: bytes >= 0x80 (UTF-8) are never flagged.
            let low = _mm_cmpeq_epi8(_mm_min_epu8(v, control), v);
            let m = _mm_or_si128(
                _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)),
                low,
            );
            _mm_movemask_epi8(m) as u32
        };
        while i + 16 <= n {
            let m = mask(i);
            if m != 0 {
                return Some(i + m.trailing_zeros() as usize);
            }
            i += 16;
        }
        if i == n {
            return None;
        }
        // The last 16 bytes, the ones before `i` (already read) shifted out.
        let m = mask(n - 16) >> (i + 16 - n);
        (m != 0).then(|| i + m.trailing_zeros() as usize)
    }
}

/// Sixteen bytes a test and one branch for them, and the byte itself from the mask: log text rarely
/// needs escaping (perf showed the byte-wise search). Other architectures' search (and the tests').
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
#[inline]
fn next_escape_words(b: &[u8], mut i: usize) -> Option<usize> {
    let at = |i: usize, m: u64| i + (m.trailing_zeros() / 8) as usize;
    while i + 16 <= b.len() {
        let (m0, m1) = (escape_mask(word(b, i)), escape_mask(word(b, i + 8)));
        if m0 | m1 != 0 {
            return Some(if m0 != 0 { at(i, m0) } else { at(i + 8, m1) });
        }
        i += 16;
    }
    if i + 8 <= b.len() {
        let m = escape_mask(word(b, i));
        if m != 0 {
            return Some(at(i, m));
        }
        i += 8;
    }
    if i == b.len() {
        return None;
    }
    // The tail in one test too, without copying it into a padded word (a `memcpy` call per string).
    let n = b.len();
    if n >= 8 {
        // The last word, its bytes before `i` (already read, or an escape just written) replaced by
        // a byte that needs no escape.
        const PAD: u64 = 0x6161_6161_6161_6161;
        let keep = !0u64 << (8 * (i + 8 - n));
        let m = escape_mask((word(b, n - 8) & keep) | (PAD & !keep));
        return (m != 0).then(|| at(n - 8, m));
    }
    if n - i >= 4 {
        // Two overlapping halves as one word: the low one from `i`, the high one ending at `n`.
        let half =
            |k: usize| u64::from(u32::from_le_bytes(b[k..k + 4].try_into().unwrap_or([0; 4])));
        let m = escape_mask(half(i) | half(n - 4) << 32);
        return match (m.trailing_zeros() / 8) as usize {
            8 => None,
            j if j < 4 => Some(i + j),
            j => Some(n + j - 8),
        };
    }
    (i..n).find(|&k| b[k] < 0x20 || b[k] == b'"' || b[k] == b'\\')
}

/// The escape of each byte below 0x60 that needs one (`"`, `\\`, controls), as orjson writes it:
/// its bytes and their count (0: none needed).
const ESCAPES: [([u8; 6], u8); 0x60] = {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut t = [([0u8; 6], 0u8); 0x60];
    let mut c = 0;
    while c < 0x20 {
        t[c] = ([b'\\', b'u', b'0', b'0', HEX[c >> 4], HEX[c & 15]], 6);
        c += 1;
    }
    t[0x08] = ([b'\\', b'b', 0, 0, 0, 0], 2);
    t[0x09] = ([b'\\', b't', 0, 0, 0, 0], 2);
    t[0x0a] = ([b'\\', b'n', 0, 0, 0, 0], 2);
    t[0x0c] = ([b'\\', b'f', 0, 0, 0, 0], 2);
    t[0x0d] = ([b'\\', b'r', 0, 0, 0, 0], 2);
    t[b'"' as usize] = ([b'\\', b'"', 0, 0, 0, 0], 2);
    t[b'\\' as usize] = ([b'\\', b'\\', 0, 0, 0, 0], 2);
    t
};

/// A JSON string as orjson writes it: `\"`, `\\`, `\b \t \n \f \r`, other controls as `\u00xx`.
#[inline]
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    write_quoted::<false>(out, s.as_bytes());
}

/// A map's member name and its colon: [`write_str`] with the `:` in the same capacity check.
#[inline]
fn write_key(out: &mut Vec<u8>, k: &str) {
    write_quoted::<true>(out, k.as_bytes());
}

/// `b` quoted and escaped, then a `:` when `COLON`. Log text rarely needs escaping: the string, its
/// quotes and the colon after one capacity check (about 60 strings a line; the pushes and extends each
/// checked their own).
#[inline(always)]
fn write_quoted<const COLON: bool>(out: &mut Vec<u8>, b: &[u8]) {
    let n = b.len() + 2 + usize::from(COLON);
    out.reserve(n);
    let Some(first) = next_escape(b, 0) else {
        // SAFETY: `n` bytes are reserved past `len`; all of them are written before `set_len`.
        unsafe {
            let len = out.len();
            let p = out.as_mut_ptr().add(len);
            *p = b'"';
            std::ptr::copy_nonoverlapping(b.as_ptr(), p.add(1), b.len());
            *p.add(1 + b.len()) = b'"';
            if COLON {
                *p.add(2 + b.len()) = b':';
            }
            out.set_len(len + n);
        }
        return;
    };
    write_escaped(out, b, first);
    if COLON {
        out.push(b':');
    }
}

/// [`write_str`] from its first escape at `i` on (out of line: rare).
#[cold]
#[inline(never)]
fn write_escaped(out: &mut Vec<u8>, b: &[u8], mut i: usize) {
    out.push(b'"');
    let mut start = 0;
    loop {
        out.extend_from_slice(&b[start..i]);
        let (esc, n) = &ESCAPES[usize::from(b[i])];
        out.extend_from_slice(&esc[..usize::from(*n)]);
        start = i + 1;
        match next_escape(b, start) {
            Some(j) => i = j,
            None => break,
        }
    }
    out.extend_from_slice(&b[start..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_written_as_serde_json_writes_them() {
        let v = serde_json::json!({
            "b": [1, -2, 1.5, 18446744073709551615u64, 0, true, false, null, "\u{1}\"\\é\n"],
            "a": {"x": {}, "y": [], "z": "plain text longer than eight bytes"},
            "": 2.5e-8,
        });
        let mut out = Vec::new();
        write_value(&mut out, &crate::doc::Value::from(v.clone()));
        assert_eq!(out, serde_json::to_vec(&v).unwrap_or_default());
        let mut n = Vec::new();
        for x in [0, 7, 10, 99, 100, 12_345, u64::MAX] {
            n.clear();
            write_u64(&mut n, x);
            assert_eq!(n, x.to_string().into_bytes());
        }
    }

    #[test]
    fn strings_are_escaped_as_orjson_does() {
        // orjson.dumps('\x00\x1f\x7f"\\/\u2028é\t\n\r\b\f')
        let mut out = Vec::new();
        write_str(&mut out, "\x00\x1f\x7f\"\\/\u{2028}é\t\n\r\x08\x0c");
        assert_eq!(
            out,
            "\"\\u0000\\u001f\x7f\\\"\\\\/\u{2028}é\\t\\n\\r\\b\\f\"".as_bytes()
        );
    }

    #[test]
    fn escapes_are_found_at_every_position_of_a_word() {
        for (c, len) in ['"', '\\', '\n', '\x01', '\x1f']
            .into_iter()
            .flat_map(|c| (1..=46).map(move |len| (c, len)))
        {
            for at in 0..len {
                let mut s: String = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ"[..len].into();
                s.replace_range(at..=at, &c.to_string());
                let mut out = Vec::new();
                write_str(&mut out, &s);
                let mut slow = Vec::new();
                slow.push(b'"');
                for ch in s.chars() {
                    match ch {
                        '"' => slow.extend_from_slice(b"\\\""),
                        '\\' => slow.extend_from_slice(b"\\\\"),
                        '\n' => slow.extend_from_slice(b"\\n"),
                        '\x01' => slow.extend_from_slice(b"\\u0001"),
                        '\x1f' => slow.extend_from_slice(b"\\u001f"),
                        ch => slow.extend_from_slice(ch.to_string().as_bytes()),
                    }
                }
                slow.push(b'"');
                assert_eq!(
                    String::from_utf8(out).unwrap(),
                    String::from_utf8(slow).unwrap(),
                    "{c:?} at {at} of {len}"
                );
            }
        }
        let mut out = Vec::new();
        write_str(&mut out, "ünïcödé ~\x7f bytes over 0x7f never escape");
        assert!(!out.contains(&b'\\'));
    }

    #[test]
    fn two_escapes_are_found_wherever_they_stand() {
        let plain = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ";
        for len in 2..=40 {
            for a in 0..len {
                for b in a + 1..len {
                    let mut s: Vec<u8> = plain.as_bytes()[..len].to_vec();
                    s[a] = b'"';
                    s[b] = b'\n';
                    for from in 0..=len {
                        let want = [a, b].into_iter().find(|&k| k >= from);
                        assert_eq!(next_escape(&s, from), want, "{a} {b} of {len} from {from}");
                        assert_eq!(next_escape_words(&s, from), want);
                    }
                    let s = String::from_utf8(s).unwrap();
                    let mut out = Vec::new();
                    write_str(&mut out, &s);
                    let want = format!("\"{}\"", s.replace('"', "\\\"").replace('\n', "\\n"));
                    assert_eq!(String::from_utf8(out).unwrap(), want);
                }
            }
        }
    }

    #[test]
    fn nested_objects_and_arrays_are_compact() {
        let mut out = Vec::new();
        let mut w = JsonWriter::new(&mut out);
        w.begin_object()
            .field("a", "x")
            .key("b")
            .begin_array()
            .str("1")
            .str("2")
            .end_array();
        w.key("c")
            .begin_object()
            .key("d")
            .int(-3)
            .key("e")
            .bool(true)
            .end_object()
            .key("f")
            .uint(7);
        w.key("g").begin_object().end_object().end_object();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"a":"x","b":["1","2"],"c":{"d":-3,"e":true},"f":7,"g":{}}"#
        );
    }
}
