//! The entry prefix `date time[.mmm][ +hhmm][ [pid]][ msgid] body` (`shipper/exim/grammar.py`,
//! `PREFIX_RE`, as `parse.py` matches it against the entry's first line without its trailing CRs).
//!
//! Hand-written rather than a regex: every group after the seconds is optional, so the regex's first
//! match is the greedy one group by group, which is what this does.
//!
//! Known difference: Python's `\d` in a str pattern also takes non-ASCII decimal digits; this takes
//! ASCII digits only (such a line is `unrecognized` here; Python then fails on the digits elsewhere).

/// The prefix's parts, as slices of the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefix<'a> {
    pub date: &'a str,
    pub hm: &'a str,
    pub sec: &'a str,
    pub ms: Option<&'a str>,
    pub tz: Option<&'a str>,
    pub pid: Option<&'a str>,
    pub id: Option<&'a str>,
    /// Where the match ends: the body is `line[end..]` (one space after the prefix is taken).
    pub end: usize,
}

fn digit(b: &[u8], i: usize) -> bool {
    b.get(i).is_some_and(u8::is_ascii_digit)
}

fn digits(b: &[u8], from: usize, n: usize) -> bool {
    (from..from + n).all(|i| digit(b, i))
}

fn b62(b: &[u8], from: usize, n: usize) -> bool {
    (from..from + n).all(|i| b.get(i).is_some_and(u8::is_ascii_alphanumeric))
}

/// A message id (`grammar.MSGID`) starting at `at`, followed by a space or the end: its length.
fn msgid(b: &[u8], at: usize) -> Option<usize> {
    let ends = |n: usize| matches!(b.get(at + n), None | Some(b' '));
    // 23 chars (Exim >= 4.97: 6-11-4), else 16 (6-6-2); the two cannot both match at one place.
    if b62(b, at, 6) && b.get(at + 6) == Some(&b'-') {
        if b62(b, at + 7, 11) && b.get(at + 18) == Some(&b'-') && b62(b, at + 19, 4) && ends(23) {
            return Some(23);
        }
        if b62(b, at + 7, 6) && b.get(at + 13) == Some(&b'-') && b62(b, at + 14, 2) && ends(16) {
            return Some(16);
        }
    }
    None
}

/// `line` must be the entry's first line with trailing `\r` removed; None when it has no prefix.
pub fn parse(line: &str) -> Option<Prefix<'_>> {
    let b = line.as_bytes();
    let stamp = digits(b, 0, 4)
        && b.get(4) == Some(&b'-')
        && digits(b, 5, 2)
        && b.get(7) == Some(&b'-')
        && digits(b, 8, 2)
        && b.get(10) == Some(&b' ')
        && digits(b, 11, 2)
        && b.get(13) == Some(&b':')
        && digits(b, 14, 2)
        && b.get(16) == Some(&b':')
        && digits(b, 17, 2);
    if !stamp {
        return None;
    }
    let mut p = Prefix {
        date: &line[0..10],
        hm: &line[11..16],
        sec: &line[17..19],
        ms: None,
        tz: None,
        pid: None,
        id: None,
        end: 19,
    };
    let mut pos = 19;
    if b.get(pos) == Some(&b'.') && digits(b, pos + 1, 3) {
        p.ms = Some(&line[pos + 1..pos + 4]);
        pos += 4;
    }
    if b.get(pos) == Some(&b' ')
        && matches!(b.get(pos + 1), Some(b'+' | b'-'))
        && digits(b, pos + 2, 4)
    {
        p.tz = Some(&line[pos + 1..pos + 6]);
        pos += 6;
    }
    if b.get(pos) == Some(&b' ') && b.get(pos + 1) == Some(&b'[') {
        let n = b[pos + 2..]
            .iter()
            .take(11)
            .take_while(|c| c.is_ascii_digit())
            .count();
        if (1..=10).contains(&n) && b.get(pos + 2 + n) == Some(&b']') {
            p.pid = Some(&line[pos + 2..pos + 2 + n]);
            pos += 3 + n;
        }
    }
    if b.get(pos) == Some(&b' ') {
        if let Some(n) = msgid(b, pos + 1) {
            p.id = Some(&line[pos + 1..pos + 1 + n]);
            pos += 1 + n;
        }
    }
    if b.get(pos) == Some(&b' ') {
        pos += 1;
    }
    p.end = pos;
    Some(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_part_in_order() {
        let line = "2025-01-31 23:59:07.123 +0100 [24131] 1tXaaa-00000001abc-0ABC <= a@b";
        let p = parse(line).unwrap();
        assert_eq!((p.date, p.hm, p.sec), ("2025-01-31", "23:59", "07"));
        assert_eq!(
            (p.ms, p.tz, p.pid),
            (Some("123"), Some("+0100"), Some("24131"))
        );
        assert_eq!(p.id, Some("1tXaaa-00000001abc-0ABC"));
        assert_eq!(&line[p.end..], "<= a@b");
    }

    #[test]
    fn sixteen_char_ids_and_ids_at_the_end() {
        let p = parse("2003-04-25 11:17:07 10HmaX-0005vi-00 Completed").unwrap();
        assert_eq!(p.id, Some("10HmaX-0005vi-00"));
        assert_eq!(
            parse("2003-04-25 11:17:07 10HmaX-0005vi-00").unwrap().id,
            Some("10HmaX-0005vi-00")
        );
        let p = parse("2003-04-25 11:17:07 10HmaX-0005vi-00x Completed").unwrap();
        assert_eq!((p.id, p.end), (None, 20), "an id must end at a space");
    }

    #[test]
    fn optional_parts_stay_optional() {
        let p = parse("2003-04-25 11:17:07 +0100 Start queue run: pid=12762").unwrap();
        assert_eq!((p.ms, p.tz, p.pid, p.id), (None, Some("+0100"), None, None));
        let p = parse("2025-01-01 10:00:00.12 x").unwrap();
        assert_eq!((p.ms, p.end), (None, 19), "two digits are no milliseconds");
        let p = parse("2025-01-01 10:00:00 +01000 x").unwrap();
        assert_eq!(
            (p.tz, p.end),
            (Some("+0100"), 25),
            "the zone needs no space after it"
        );
        let p = parse("2025-01-01 10:00:00 [12345678901] x").unwrap();
        assert_eq!((p.pid, p.end), (None, 20), "pids have at most 10 digits");
        let p = parse("2025-01-01 10:00:00  two spaces").unwrap();
        assert_eq!(p.end, 20);
        assert_eq!(parse("2025-01-01 10:00:00").unwrap().end, 19);
    }

    #[test]
    fn no_prefix() {
        for line in [
            "",
            "2025-01-01 10:00",
            "2025-01-01T10:00:00 x",
            " 2025-01-01 10:00:00",
            "Envelope-to: x",
        ] {
            assert_eq!(parse(line), None, "{line:?}");
        }
    }
}
