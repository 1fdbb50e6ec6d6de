//! A finished message's state packed while it waits in `parse --messages`' first-seen order: its binary
//! form (`binary`) compressed (LZ4's block format, `lz4_flex`) against one dictionary made of the first
//! states given (the server, the day and the domains repeat from one message to the next).

use lz4_flex::block::{
    compress_into_with_dict, decompress_into_with_dict, get_maximum_output_size,
};

/// How many bytes of the first states become the dictionary; the states before it is made are kept
/// whole. `lz4_flex` hashes the dictionary anew for every state (it has no prepared dictionary), so
/// it is kept small. On the 200k bench log, in the binary form, a waiting message packed to 346 bytes
/// with 1 KiB, 339 with 2 KiB, 309 with 4 KiB, and 429 without a dictionary (its JSON with 4 KiB:
/// 372); the examples/memory run's instructions a line were 62.5k, 62.8k, 64.1k and 61.1k.
const DICT_BYTES: usize = 1 << 10;

/// The first byte of a packed state: kept as it is (before the dictionary), or compressed.
const WHOLE: u8 = 0;
const PACKED: u8 = 1;

/// A state unpacks to at most this many bytes: more is not a state `pack` made.
const MAX_STATE: u64 = 1 << 30;

/// The dictionary every state is packed against, once `DICT_BYTES` of states were given, and the
/// buffers a state is written, compressed and decompressed in (reused from one state to the next).
#[derive(Debug, Default)]
pub struct Packer {
    dict: Vec<u8>,
    ready: bool,
    raw: Vec<u8>,
    out: Vec<u8>,
}

impl Packer {
    /// What `write` appends to an empty buffer, packed.
    pub fn pack_with(&mut self, write: impl FnOnce(&mut Vec<u8>)) -> Box<[u8]> {
        self.raw.clear();
        write(&mut self.raw);
        let data = &self.raw[..];
        if !self.ready {
            self.dict.extend_from_slice(data);
            self.ready = self.dict.len() >= DICT_BYTES;
            let mut whole = Vec::with_capacity(data.len() + 1);
            whole.push(WHOLE);
            whole.extend_from_slice(data);
            return whole.into_boxed_slice();
        }
        let out = &mut self.out;
        out.clear();
        out.push(PACKED);
        let mut n = data.len() as u64;
        while n >= 0x80 {
            out.push(n as u8 | 0x80);
            n >>= 7;
        }
        out.push(n as u8);
        let head = out.len();
        out.resize(head + get_maximum_output_size(data.len()), 0);
        let written = compress_into_with_dict(data, &mut out[head..], &self.dict)
            .expect("the output has the maximum size");
        Box::from(&out[..head + written])
    }

    /// `data` packed (the tests' bytes; states go through `pack_with`).
    #[cfg(test)]
    pub fn pack(&mut self, data: &[u8]) -> Box<[u8]> {
        self.pack_with(|out| out.extend_from_slice(data))
    }

    /// What `pack` was given; an error for bytes `pack` did not make.
    pub fn unpack<'a>(&'a mut self, packed: &'a [u8]) -> Result<&'a [u8], String> {
        match packed.split_first() {
            Some((&WHOLE, data)) => Ok(data),
            Some((&PACKED, data)) if self.ready => {
                let (n, data) = varint(data).ok_or("no length")?;
                if n > MAX_STATE {
                    return Err("a length no state has".into());
                }
                let n = n as usize;
                self.raw.clear();
                self.raw.resize(n, 0);
                let got = decompress_into_with_dict(data, &mut self.raw, &self.dict)
                    .map_err(|e| e.to_string())?;
                if got != n {
                    return Err(format!("{got} bytes where {n} were packed"));
                }
                Ok(&self.raw)
            }
            _ => Err("not a state this packer packed".into()),
        }
    }
}

/// A LEB128 varint at the start of `data`, and what follows it.
fn varint(data: &[u8]) -> Option<(u64, &[u8])> {
    let mut n = 0u64;
    for (i, &b) in data.iter().enumerate().take(10) {
        n |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            return Some((n, &data[i + 1..]));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn states_round_trip_and_shrink() {
        let mut p = Packer::default();
        let first = br#"{"server":"mx1","id":"1tXaaa-000001-AB","first_seen":"2024-03-01T10:00:00.000Z","arrival":{"sender":"a@example.com"}}"#;
        let second = br#"{"server":"mx1","id":"1tXaab-000002-AB","first_seen":"2024-03-01T10:00:07.000Z","arrival":{"sender":"b@example.com"},"rcpt":{"aaaaaaaaaaaaaaaaaaaa":{}}}"#;
        let a = p.pack(first);
        assert_eq!(
            a.len(),
            first.len() + 1,
            "kept whole until the dictionary is made"
        );
        while !p.ready {
            p.pack(first);
        }
        let b = p.pack(second);
        assert_eq!(p.unpack(&a).unwrap(), first);
        assert_eq!(p.unpack(&b).unwrap(), second);
        assert!(
            b.len() * 2 < second.len(),
            "{} of {}",
            b.len(),
            second.len()
        );
        for data in [&b""[..], b"abc", b"mx1mx1mx1mx1mx1mx1"] {
            let packed = p.pack(data);
            assert_eq!(p.unpack(&packed).unwrap(), data);
        }
    }

    #[test]
    fn bytes_it_did_not_pack_are_an_error() {
        let mut p = Packer::default();
        assert!(p.unpack(b"").is_err());
        assert!(
            p.unpack(&[PACKED, 9, 0, 0, 0, 1]).is_err(),
            "no dictionary yet"
        );
        p.pack(&[b'x'; DICT_BYTES]);
        assert!(
            p.unpack(&[PACKED, 9, 0, 0, 0]).is_err(),
            "nine bytes promised, none given"
        );
        assert!(p.unpack(&[7, 1, 2]).is_err());
    }

    proptest! {
        #[test]
        fn anything_round_trips(dict in proptest::collection::vec(0u8..4, 0..300),
                                data in proptest::collection::vec(0u8..4, 0..600)) {
            let mut p = Packer::default();
            let kept = p.pack(&dict);
            p.pack(&vec![1; DICT_BYTES]);
            let packed = p.pack(&data);
            prop_assert_eq!(p.unpack(&packed).unwrap(), data);
            prop_assert_eq!(p.unpack(&kept).unwrap(), dict);
        }
    }
}
