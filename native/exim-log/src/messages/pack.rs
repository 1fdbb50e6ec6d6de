//! A finished message's state packed while it waits in `parse --messages`' first-seen order: its JSON
//! compressed (LZ4's block format, `lz4_flex`) against one dictionary, the first state packed (keys, the
//! server, the day and the domains repeat from one message to the next).

use lz4_flex::block::{compress_prepend_size_with_dict, decompress_size_prepended_with_dict};

/// The dictionary every state is packed against.
#[derive(Debug, Default)]
pub struct Packer {
    dict: Option<Vec<u8>>,
}

impl Packer {
    /// `data` packed (the first call's data becomes the dictionary).
    pub fn pack(&mut self, data: &[u8]) -> Vec<u8> {
        let dict = self.dict.get_or_insert_with(|| data.to_vec());
        compress_prepend_size_with_dict(data, dict)
    }

    /// What `pack` was given (empty for bytes `pack` did not make).
    pub fn unpack(&self, packed: &[u8]) -> Vec<u8> {
        let dict = self.dict.as_deref().unwrap_or_default();
        decompress_size_prepended_with_dict(packed, dict).unwrap_or_default()
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
        let b = p.pack(second);
        assert_eq!(p.unpack(&a), first);
        assert_eq!(p.unpack(&b), second);
        assert!(
            b.len() * 2 < second.len(),
            "{} of {}",
            b.len(),
            second.len()
        );
        for data in [&b""[..], b"abc", b"mx1mx1mx1mx1mx1mx1"] {
            let packed = p.pack(data);
            assert_eq!(p.unpack(&packed), data);
        }
    }

    proptest! {
        #[test]
        fn anything_round_trips(dict in proptest::collection::vec(0u8..4, 0..300),
                                data in proptest::collection::vec(0u8..4, 0..600)) {
            let mut p = Packer::default();
            p.pack(&dict);
            let packed = p.pack(&data);
            prop_assert_eq!(p.unpack(&packed), data);
        }
    }
}
