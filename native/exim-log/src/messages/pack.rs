//! A finished message's state packed while it waits in `parse --messages`' first-seen order: its JSON
//! compressed (LZ4's block format, `lz4_flex`) against one dictionary made of the first states given
//! (keys, the server, the day and the domains repeat from one message to the next).

use lz4_flex::block::{compress_prepend_size_with_dict, decompress_size_prepended_with_dict};

/// How many bytes of the first states become the dictionary; the states before it is made are kept
/// whole. On the 1M bench log a waiting message packed to 420 bytes with the first state alone, 379
/// with 4 KiB, 352 with 16 KiB; but `lz4_flex` hashes the dictionary anew for every state (it has no
/// prepared dictionary), and 16 KiB of it were 12% of `parse --messages`' instructions (cachegrind:
/// 56.7k a line, 51.0k with 4 KiB, for 2.5 MB more at the peak).
const DICT_BYTES: usize = 4 << 10;

/// The first byte of a packed state: kept as it is (before the dictionary), or compressed.
const WHOLE: u8 = 0;
const PACKED: u8 = 1;

/// The dictionary every state is packed against, once `DICT_BYTES` of states were given.
#[derive(Debug, Default)]
pub struct Packer {
    dict: Vec<u8>,
    ready: bool,
}

impl Packer {
    /// `data` packed.
    pub fn pack(&mut self, data: &[u8]) -> Vec<u8> {
        if !self.ready {
            self.dict.extend_from_slice(data);
            self.ready = self.dict.len() >= DICT_BYTES;
            let mut whole = Vec::with_capacity(data.len() + 1);
            whole.push(WHOLE);
            whole.extend_from_slice(data);
            return whole;
        }
        let mut out = vec![PACKED];
        out.extend_from_slice(&compress_prepend_size_with_dict(data, &self.dict));
        out
    }

    /// What `pack` was given; an error for bytes `pack` did not make.
    pub fn unpack(&self, packed: &[u8]) -> Result<Vec<u8>, String> {
        match packed.split_first() {
            Some((&WHOLE, data)) => Ok(data.to_vec()),
            Some((&PACKED, data)) if self.ready => {
                decompress_size_prepended_with_dict(data, &self.dict).map_err(|e| e.to_string())
            }
            _ => Err("not a state this packer packed".into()),
        }
    }
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
