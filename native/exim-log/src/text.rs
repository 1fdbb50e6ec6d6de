//! Lossless text of an entry (`shipper/exim/parse.py`, `EntryParser._parse`): valid UTF-8 as is; otherwise
//! Python's `decode("utf-8", "backslashreplace")` for reading, and the exact bytes kept as base64.

use base64::Engine;
use std::borrow::Cow;

/// The entry's text; invalid bytes become `\xNN` (lowercase hex), each byte of an invalid sequence on
/// its own, as CPython's decoder reports them (maximal subparts, the same rule as `str::from_utf8`).
pub fn decode(raw: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(raw) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => Cow::Owned(backslashreplace(raw)),
    }
}

/// The text up to its first `\n` (all of it when there is none): memchr's search, not `str::split`'s
/// (three of those a line were 1% of the instructions).
pub fn first_line(text: &str) -> &str {
    split_first_line(text).map_or(text, |(first, _)| first)
}

/// `text.split_once('\n')`, searched with memchr.
pub fn split_first_line(text: &str) -> Option<(&str, &str)> {
    let i = memchr::memchr(b'\n', text.as_bytes())?;
    Some((&text[..i], &text[i + 1..]))
}

fn backslashreplace(mut raw: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(raw.len() + 16);
    loop {
        match std::str::from_utf8(raw) {
            Ok(s) => {
                out.push_str(s);
                return out;
            }
            Err(e) => {
                let good = e.valid_up_to();
                // SAFETY-free: the prefix was just validated.
                out.push_str(std::str::from_utf8(&raw[..good]).unwrap_or_default());
                let bad = e.error_len().unwrap_or(raw.len() - good);
                for &b in &raw[good..good + bad] {
                    out.push('\\');
                    out.push('x');
                    out.push(HEX[usize::from(b >> 4)] as char);
                    out.push(HEX[usize::from(b & 15)] as char);
                }
                raw = &raw[good + bad..];
            }
        }
    }
}

/// Standard base64 with padding, as `base64.b64encode` (`exim.original_base64`).
pub fn b64(raw: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(raw)
}

/// Python's `str.lower()` (full case mapping, final sigma in context, as Rust's `to_lowercase`);
/// ASCII text keeps the byte-wise path.
pub fn py_lower(s: &str) -> Cow<'_, str> {
    if lowered_ascii(s.as_bytes()) {
        Cow::Borrowed(s)
    } else if s.is_ascii() {
        Cow::Owned(s.to_ascii_lowercase())
    } else {
        Cow::Owned(s.to_lowercase())
    }
}

/// ASCII without upper case, the common text (hosts, domains): eight bytes a step (a byte-wise
/// `is_ascii` and then a search for upper case before, ~190 instructions a host).
fn lowered_ascii(b: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = ONES * 0x80;
    let mut chunks = b.chunks_exact(8);
    for c in &mut chunks {
        let x = u64::from_le_bytes(c.try_into().expect("eight bytes"));
        if x & HIGH != 0 {
            return false;
        }
        // Each byte below 0x80, so the sums carry into no neighbour: bit 7 of a byte of `from_a` is
        // set from `A` on, of `past_z` from the byte after `Z` on.
        let from_a = x + ONES * (0x80 - u64::from(b'A'));
        let past_z = x + ONES * (0x80 - u64::from(b'Z') - 1);
        if from_a & !past_z & HIGH != 0 {
            return false;
        }
    }
    chunks
        .remainder()
        .iter()
        .all(|c| c.is_ascii() && !c.is_ascii_uppercase())
}

/// Python's `str.upper()` (full case mapping: `ß` is `SS`).
pub fn py_upper(s: &str) -> String {
    if s.is_ascii() {
        s.to_ascii_uppercase()
    } else {
        s.to_uppercase()
    }
}

/// Python's `str.lower() == other.lower()`, without allocating for ASCII text.
pub fn py_eq_lower(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        a.eq_ignore_ascii_case(b)
    } else {
        a.to_lowercase() == b.to_lowercase()
    }
}

fn unicode_class(c: char, which: usize) -> bool {
    use regex::Regex;
    use std::sync::OnceLock;
    // Built once, asked only for non-ASCII characters: the general categories CPython's
    // `Py_UNICODE_ISALNUM` (`\w` less `_`) and `Py_UNICODE_ISDECIMAL` (`\d`) read.
    static RES: OnceLock<[Regex; 2]> = OnceLock::new();
    let res = RES.get_or_init(|| {
        [
            Regex::new(r"\A[\p{L}\p{N}]\z").expect("alnum class"),
            Regex::new(r"\A\p{Nd}\z").expect("decimal class"),
        ]
    });
    let mut buf = [0u8; 4];
    res[which].is_match(c.encode_utf8(&mut buf))
}

/// Python's `str.isalnum()` of one character: what `\w` takes besides `_` in a `str` pattern.
pub fn py_alnum(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_alphanumeric()
    } else {
        unicode_class(c, 0)
    }
}

/// `\w` of a `str` pattern.
pub fn py_word(c: char) -> bool {
    c == '_' || py_alnum(c)
}

/// The value of a decimal digit of any script (`\d`, `str.isdecimal()`, what `int()` reads): Unicode
/// lays every such digit out in runs of ten from zero.
pub fn py_decimal(c: char) -> Option<u32> {
    if c.is_ascii() {
        return c.to_digit(10);
    }
    if !unicode_class(c, 1) {
        return None;
    }
    let mut zero = u32::from(c);
    while zero > 0 && char::from_u32(zero - 1).is_some_and(|p| unicode_class(p, 1)) {
        zero -= 1;
    }
    Some((u32::from(c) - zero) % 10)
}

/// The text with decimal digits of other scripts as ASCII ones, as Python's `int()` and `float()` read
/// them.
pub fn ascii_digits(text: &str) -> Cow<'_, str> {
    if text.is_ascii() {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| match py_decimal(c) {
                Some(d) if !c.is_ascii() => char::from_digit(d, 10).unwrap_or(c),
                _ => c,
            })
            .collect(),
    )
}

/// The spaces `int()` strips: ASCII's six (`\x1c`-`\x1f`, spaces to `str.strip()`, are not) and every
/// space beyond ASCII (CPython maps those to ` ` first).
pub fn int_space(c: char) -> bool {
    crate::fields::py_space(c) && !('\x1c'..='\x1f').contains(&c)
}

/// Python's `int(text)` of a `str` (base 10): surrounding whitespace, a sign, digits of any script with
/// single `_` between them. `None` where `int()` raises or the value is beyond i64.
pub fn py_int(text: &str) -> Option<i64> {
    let t = text.trim_matches(int_space);
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let mut n: i64 = 0;
    let mut last_digit = false;
    for c in digits.chars() {
        if c == '_' && last_digit {
            last_digit = false;
            continue;
        }
        let d = py_decimal(c)?;
        n = n.checked_mul(10)?.checked_sub(i64::from(d))?;
        last_digit = true;
    }
    if !last_digit {
        return None;
    }
    if neg {
        Some(n)
    } else {
        n.checked_neg()
    }
}

/// A label as Python's `idna` codec writes it (`ToASCII`): ASCII as it is, otherwise `xn--` and its
/// punycode. The nameprep step is left out: the callers pass labels it keeps as they are (the
/// suffix list's rules, lowercased and normalised; checked against CPython when the list was embedded).
pub fn idna_label(label: &str) -> String {
    if label.is_ascii() {
        return label.to_string();
    }
    let mut out = String::from("xn--");
    punycode(label, &mut out);
    out
}

/// RFC 3492's encoder (Python's `punycode` codec).
fn punycode(input: &str, out: &mut String) {
    const BASE: u32 = 36;
    const DIGIT: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let adapt = |mut delta: u32, points: u32, first: bool| {
        delta /= if first { 700 } else { 2 };
        delta += delta / points;
        let mut k = 0;
        while delta > ((BASE - 1) * 26) / 2 {
            delta /= BASE - 1;
            k += BASE;
        }
        k + (BASE * delta) / (delta + 38)
    };
    let cps: Vec<u32> = input.chars().map(u32::from).collect();
    let basic = cps.iter().filter(|&&c| c < 0x80).count();
    out.extend(input.chars().filter(char::is_ascii));
    if basic > 0 {
        out.push('-');
    }
    let (mut n, mut delta, mut bias) = (0x80u32, 0u32, 72u32);
    let mut h = basic;
    while h < cps.len() {
        let m = cps.iter().copied().filter(|&c| c >= n).min().unwrap_or(n);
        delta =
            delta.saturating_add((m - n).saturating_mul(u32::try_from(h + 1).unwrap_or(u32::MAX)));
        n = m;
        for &c in &cps {
            if c < n {
                delta = delta.saturating_add(1);
            }
            if c == n {
                let mut q = delta;
                let mut k = BASE;
                loop {
                    let t = if k <= bias {
                        1
                    } else if k >= bias + 26 {
                        26
                    } else {
                        k - bias
                    };
                    if q < t {
                        break;
                    }
                    out.push(char::from(DIGIT[(t + (q - t) % (BASE - t)) as usize]));
                    q = (q - t) / (BASE - t);
                    k += BASE;
                }
                out.push(char::from(DIGIT[q as usize]));
                bias = adapt(delta, u32::try_from(h + 1).unwrap_or(u32::MAX), h == basic);
                delta = 0;
                h += 1;
            }
        }
        delta = delta.saturating_add(1);
        n += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_bytes_are_escaped_one_by_one_as_python_does() {
        // Values from CPython: b'\xff\xe2\x82A\xed\xa0\x80'.decode('utf-8', 'backslashreplace')
        assert_eq!(
            decode(b"\xff\xe2\x82A\xed\xa0\x80"),
            r"\xff\xe2\x82A\xed\xa0\x80"
        );
        assert_eq!(decode("é ok".as_bytes()), "é ok");
        assert_eq!(decode(b"tail \xf0\x9f\x98"), r"tail \xf0\x9f\x98");
        assert!(matches!(decode(b"plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn base64_is_standard_and_padded() {
        assert_eq!(b64(b"\xff"), "/w==");
        assert_eq!(b64(b"ab?>"), "YWI/Pg==");
    }
    #[test]
    fn case_mapping_as_python() {
        // Values from CPython 3.11: "ΑΣ ΣΑΣ.Σ".lower(), "İx".lower(), "ß".upper()
        assert_eq!(py_lower("ΑΣ ΣΑΣ.Σ"), "ας σασ.ς");
        assert_eq!(py_lower("İx"), "i\u{307}x");
        assert_eq!(py_upper("ß"), "SS");
        assert!(matches!(py_lower("abc"), Cow::Borrowed(_)));
        assert!(py_eq_lower("ÉCOLE.fr", "école.FR"));
    }

    #[test]
    fn classes_and_int_as_python() {
        // CPython: "\u093f".isalnum() is False (a vowel sign, category Mc); "\u0939".isalnum() True.
        assert!(!py_word('\u{93f}'));
        assert!(py_word('\u{939}'));
        assert!(py_word('é') && py_word('²') && py_word('_') && !py_word('-'));
        assert_eq!(py_decimal('٤'), Some(4));
        assert_eq!(py_decimal('𝟗'), Some(9)); // U+1D7D7, the second run of ten in its block
        assert_eq!(py_decimal('²'), None);
        // int(" ١٩_٢ "), int("-0"), int("1__2") raises, int("_1") raises, int("²") raises
        assert_eq!(py_int(" ١٩_٢ "), Some(192));
        assert_eq!(py_int("-0"), Some(0));
        assert_eq!(py_int("1__2"), None);
        assert_eq!(py_int("_1"), None);
        assert_eq!(py_int("1_"), None);
        assert_eq!(py_int("²"), None);
        assert_eq!(py_int("-9223372036854775808"), Some(i64::MIN));
        assert_eq!(py_int("9223372036854775808"), None);
        // float("-١.٥")
        assert_eq!(ascii_digits("-١.٥"), "-1.5");
    }

    #[test]
    fn idna_labels_as_pythons_codec() {
        // "中国".encode("idna"), "ελ".encode("idna"), "bücher".encode("idna"), "рф".encode("idna")
        assert_eq!(idna_label("中国"), "xn--fiqs8s");
        assert_eq!(idna_label("ελ"), "xn--qxam");
        assert_eq!(idna_label("bücher"), "xn--bcher-kva");
        assert_eq!(idna_label("рф"), "xn--p1ai");
        assert_eq!(idna_label("plain"), "plain");
    }

    proptest::proptest! {
        #[test]
        fn lowered_ascii_is_ascii_without_upper_case_on_any_bytes(
            b in proptest::collection::vec(
                proptest::sample::select(vec![b'a', b'z', b'A', b'Z', b'@', b'[', b'`', b'{', b'.', 0, 0x7f, 0x80, 0xc3, 0xff]),
                0..40,
            )
        ) {
            let want = b.iter().all(|c| c.is_ascii() && !c.is_ascii_uppercase());
            proptest::prop_assert_eq!(lowered_ascii(&b), want, "{:?}", b);
        }
    }
}
