//! Entry assembly: physical lines joined into logical Exim entries (`shipper/files/reader.py`,
//! `EntryAssembler`), with the same limits, offsets and cut rules.

/// Exim caps an entry at 8 KiB; anything far larger is not Exim's own and is cut into pieces.
pub const MAX_ENTRY_BYTES: usize = 1 << 20;
/// A physical line still growing past this is handed out in pieces of this size.
pub const MAX_LINE_BYTES: usize = 8 << 20;

/// One logical entry: its bytes (without the final newline) and where it sits in the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEntry {
    /// Byte offset of the entry's first byte.
    pub offset: u64,
    /// The entry's physical lines joined by `\n`; CR bytes and invalid UTF-8 kept as read.
    pub data: Vec<u8>,
    /// Offset just past the entry's terminating newline (or its last byte when unterminated).
    pub end: u64,
    /// False when the entry's last line had no newline (cut, or the stream ended).
    pub terminated: bool,
}

/// Whether a physical line opens a new entry: Exim's timestamp, or a syslog or journal record's
/// (`reader.ENTRY_START`), so a wrapped line reaching the plain reader is never glued to the one before.
pub fn entry_start(line: &[u8]) -> bool {
    exim_stamp(line) || bsd_syslog(line) || priority(line) || journal(line)
}

fn digits(b: &[u8], range: std::ops::Range<usize>) -> bool {
    b.len() >= range.end && b[range].iter().all(u8::is_ascii_digit)
}

/// `\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d`
fn exim_stamp(b: &[u8]) -> bool {
    b.len() >= 19
        && digits(b, 0..4)
        && b[4] == b'-'
        && digits(b, 5..7)
        && b[7] == b'-'
        && digits(b, 8..10)
        && (b[10] == b' ' || b[10] == b'T')
        && digits(b, 11..13)
        && b[13] == b':'
        && digits(b, 14..16)
        && b[16] == b':'
        && digits(b, 17..19)
}

/// `[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d `
fn bsd_syslog(b: &[u8]) -> bool {
    b.len() >= 16
        && b[0].is_ascii_uppercase()
        && b[1].is_ascii_lowercase()
        && b[2].is_ascii_lowercase()
        && b[3] == b' '
        && (b[4] == b' ' || b[4].is_ascii_digit())
        && b[5].is_ascii_digit()
        && b[6] == b' '
        && digits(b, 7..9)
        && b[9] == b':'
        && digits(b, 10..12)
        && b[12] == b':'
        && digits(b, 13..15)
        && b[15] == b' '
}

/// `<\d{1,3}>`
fn priority(b: &[u8]) -> bool {
    if b.first() != Some(&b'<') {
        return false;
    }
    let n = b[1..]
        .iter()
        .take(3)
        .take_while(|c| c.is_ascii_digit())
        .count();
    n >= 1 && b.get(1 + n) == Some(&b'>')
}

/// `\x1e?\{"`
fn journal(b: &[u8]) -> bool {
    let b = b.strip_prefix(b"\x1e").unwrap_or(b);
    b.starts_with(b"{\"")
}

/// Bytes in, logical entries out, fed chunk by chunk. The last entry is held (it may still get
/// continuation lines) until [`release`](Self::release); a last line without its newline is partial
/// until [`finish`](Self::finish).
#[derive(Debug)]
pub struct EntryAssembler {
    consumed: u64,
    line: Vec<u8>,
    has_parts: bool,
    data: Vec<u8>,
    offset: u64,
    end: u64,
    term: bool,
    /// Entry limit: joined lines stop joining once they would reach it (default [`MAX_ENTRY_BYTES`]).
    pub max_entry: usize,
    /// Partial-line limit (default [`MAX_LINE_BYTES`]).
    pub max_line: usize,
}

impl EntryAssembler {
    pub fn new(start: u64) -> Self {
        Self {
            consumed: start,
            line: Vec::new(),
            has_parts: false,
            data: Vec::new(),
            offset: start,
            end: start,
            term: true,
            max_entry: MAX_ENTRY_BYTES,
            max_line: MAX_LINE_BYTES,
        }
    }

    /// Whether an entry of complete lines waits for `release` (or its successor).
    pub fn held(&self) -> bool {
        self.has_parts
    }

    /// Offset just past the last complete (or cut) physical line.
    pub fn consumed(&self) -> u64 {
        self.consumed
    }

    /// Offset just past the last byte fed.
    pub fn fed(&self) -> u64 {
        self.consumed + self.line.len() as u64
    }

    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<RawEntry>) {
        let mut pos = 0;
        while let Some(i) = memchr::memchr(b'\n', &chunk[pos..]) {
            let nl = pos + i;
            if self.line.is_empty() {
                self.add(self.consumed, &chunk[pos..nl], true, out);
                self.consumed += (nl - pos) as u64 + 1;
            } else {
                let mut whole = std::mem::take(&mut self.line);
                whole.extend_from_slice(&chunk[pos..nl]);
                self.add(self.consumed, &whole, true, out);
                self.consumed += whole.len() as u64 + 1;
            }
            pos = nl + 1;
        }
        self.line.extend_from_slice(&chunk[pos..]);
        while self.line.len() > self.max_line {
            // A runaway line: its first max_line bytes go as an unterminated piece of their own.
            let rest = self.line.split_off(self.max_line);
            let piece = std::mem::replace(&mut self.line, rest);
            self.add(self.consumed, &piece, false, out);
            self.consumed += piece.len() as u64;
        }
    }

    fn add(&mut self, offset: u64, line: &[u8], terminated: bool, out: &mut Vec<RawEntry>) {
        let line_end = offset + line.len() as u64 + u64::from(terminated);
        if self.has_parts
            && self.term
            && self.data.len() + line.len() < self.max_entry
            && !entry_start(line)
        {
            self.data.push(b'\n');
            self.data.extend_from_slice(line);
        } else {
            self.release_into(out);
            self.offset = offset;
            self.has_parts = true;
            self.data.clear();
            self.data.extend_from_slice(line);
        }
        self.end = line_end;
        self.term = terminated;
        if !terminated {
            self.release_into(out); // nothing can join a cut piece
        }
    }

    /// The held entry, now taken as complete (a quiet poll, a stop, the end of the stream).
    pub fn release_into(&mut self, out: &mut Vec<RawEntry>) {
        if !self.has_parts {
            return;
        }
        self.has_parts = false;
        out.push(RawEntry {
            offset: self.offset,
            data: std::mem::take(&mut self.data),
            end: self.end,
            terminated: self.term,
        });
    }

    /// Everything left, the partial last line too: for a stream known to be over.
    pub fn finish_into(&mut self, out: &mut Vec<RawEntry>) {
        if !self.line.is_empty() {
            let data = std::mem::take(&mut self.line);
            self.add(self.consumed, &data, false, out);
            self.consumed += data.len() as u64;
        }
        self.release_into(out);
    }

    /// Convenience form of [`feed`](Self::feed).
    pub fn feed_vec(&mut self, chunk: &[u8]) -> Vec<RawEntry> {
        let mut out = Vec::new();
        self.feed(chunk, &mut out);
        out
    }

    pub fn release(&mut self) -> Vec<RawEntry> {
        let mut out = Vec::new();
        self.release_into(&mut out);
        out
    }

    pub fn finish(&mut self) -> Vec<RawEntry> {
        let mut out = Vec::new();
        self.finish_into(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &[u8] =
        b"2025-01-31 10:00:00 a\n2025-01-31 10:00:01 b\n continued\n\n2025-01-31 10:00:02 c\n";

    fn all(data: &[u8], chunk: usize) -> Vec<RawEntry> {
        let mut asm = EntryAssembler::new(0);
        let mut out = Vec::new();
        for c in data.chunks(chunk.max(1)) {
            asm.feed(c, &mut out);
        }
        asm.finish_into(&mut out);
        out
    }

    #[test]
    fn continuations_join_their_entry_with_offsets() {
        let got = all(LOG, 1 << 20);
        let data: Vec<&[u8]> = got.iter().map(|e| e.data.as_slice()).collect();
        assert_eq!(
            data,
            vec![
                &b"2025-01-31 10:00:00 a"[..],
                b"2025-01-31 10:00:01 b\n continued\n",
                b"2025-01-31 10:00:02 c"
            ]
        );
        assert_eq!(
            got.iter().map(|e| e.offset).collect::<Vec<_>>(),
            vec![0, 22, 56]
        );
        assert_eq!(got.last().unwrap().end, LOG.len() as u64);
        assert!(got.iter().all(|e| e.terminated));
    }

    #[test]
    fn small_chunks_give_the_same_entries() {
        let expected = all(LOG, 1 << 20);
        for size in [1, 3, 7, 64] {
            assert_eq!(all(LOG, size), expected);
        }
    }

    const LOG2: &[u8] = b"2025-01-31 10:00:00 first\n  continued\n2025-01-31 10:00:01 second\n2025-01-31 10:00:02 third, cut off";

    #[test]
    fn the_last_entry_is_held_and_a_partial_line_only_goes_with_finish() {
        let mut asm = EntryAssembler::new(100);
        let got = asm.feed_vec(LOG2);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].data, b"2025-01-31 10:00:00 first\n  continued");
        assert!(asm.held());
        let rel = asm.release();
        assert_eq!(rel.len(), 1);
        assert_eq!(
            (rel[0].offset, rel[0].data.as_slice()),
            (138, &b"2025-01-31 10:00:01 second"[..])
        );
        assert!(!asm.held());
        assert!(asm.release().is_empty());
        let last_nl = LOG2.iter().rposition(|&c| c == b'\n').unwrap();
        assert_eq!(asm.consumed(), 100 + last_nl as u64 + 1);
        assert_eq!(asm.fed(), 100 + LOG2.len() as u64);
        let fin = asm.finish();
        assert_eq!(fin[0].data, b"2025-01-31 10:00:02 third, cut off");
        assert!(!fin[0].terminated);
    }

    #[test]
    fn a_runaway_line_goes_in_bounded_pieces_as_it_arrives() {
        let mut asm = EntryAssembler::new(0);
        asm.max_line = 100;
        let mut huge = b"2025-01-31 10:00:00 ".to_vec();
        huge.extend(std::iter::repeat_n(b'x', 1000));
        let mut pieces = Vec::new();
        for c in huge.chunks(33) {
            asm.feed(c, &mut pieces);
            assert!(asm.fed() - asm.consumed() <= 100);
        }
        assert_eq!(pieces.len(), 10);
        assert!(pieces.iter().all(|p| p.data.len() == 100 && !p.terminated));
        asm.feed(b"\n2025-01-31 10:00:01 after\n", &mut pieces);
        asm.release_into(&mut pieces);
        let joined: Vec<u8> = pieces[..pieces.len() - 1]
            .iter()
            .flat_map(|p| p.data.clone())
            .collect();
        assert_eq!(joined, huge);
        let offsets: Vec<u64> = pieces.iter().map(|p| p.offset).collect();
        let mut want: Vec<u64> = (0..1020).step_by(100).collect();
        want.push(1021);
        assert_eq!(offsets, want);
        assert_eq!(pieces.last().unwrap().data, b"2025-01-31 10:00:01 after");
    }

    #[test]
    fn a_runaway_entry_is_cut_at_the_entry_limit() {
        for limit in [60, 100] {
            let mut data = b"2025-01-31 10:00:00 x\n".to_vec();
            for _ in 0..50 {
                data.extend_from_slice(b"continuation line\n");
            }
            let mut asm = EntryAssembler::new(0);
            asm.max_entry = limit;
            let mut got = asm.feed_vec(&data);
            got.extend(asm.finish());
            assert!(got.len() > 5);
            assert!(got.iter().all(|e| e.data.len() < limit + 20));
            let back: Vec<u8> = got
                .iter()
                .flat_map(|e| [e.data.clone(), b"\n".to_vec()].concat())
                .collect();
            assert_eq!(back, data);
        }
    }

    #[test]
    fn wrapped_records_open_entries() {
        for line in [
            &b"Jan  5 10:00:00 host exim[1]: x"[..],
            b"Jan 15 10:00:00 host",
            b"<13>1 2025",
            b"<1>",
            b"{\"MESSAGE\":1}",
            b"\x1e{\"a\"",
            b"2025-01-31T10:00:00+01:00 host",
        ] {
            assert!(entry_start(line), "{:?}", String::from_utf8_lossy(line));
        }
        for line in [
            &b" continued"[..],
            b"",
            b"<1234>",
            b"<>",
            b"{x",
            b"jan  5 10:00:00 x",
            b"2025-01-31 10:00",
        ] {
            assert!(!entry_start(line), "{:?}", String::from_utf8_lossy(line));
        }
    }
}
