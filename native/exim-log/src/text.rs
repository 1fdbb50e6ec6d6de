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
}
