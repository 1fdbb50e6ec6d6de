//! A finished message's state packed while it waits in `parse --messages`' first-seen order: its JSON
//! compressed against one dictionary, the first state packed (keys, the server, the day and the
//! domains repeat from one message to the next). LZ77 with literal runs and back references into the
//! dictionary or the state itself; each packed state depends on the dictionary only.

/// Matches shorter than this are written as literals.
const MIN: usize = 4;
/// The longest match one token holds.
const MAX: usize = MIN + 127;
const BITS: u32 = 13;

fn hash(b: &[u8]) -> usize {
    let v = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    (v.wrapping_mul(2_654_435_761) >> (32 - BITS)) as usize
}

/// The dictionary and, for each hash of four bytes, its last position in it (`u32::MAX`: none).
#[derive(Debug, Default)]
pub struct Packer {
    dict: Vec<u8>,
    heads: Vec<u32>,
    /// The state's own positions by hash, valid where `stamp` matches `gen`.
    own: Vec<(u32, u32)>,
    gen: u32,
}

fn varint(out: &mut Vec<u8>, mut v: usize) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn literals(out: &mut Vec<u8>, lit: &[u8]) {
    for run in lit.chunks(128) {
        out.push((run.len() - 1) as u8);
        out.extend_from_slice(run);
    }
}

impl Packer {
    fn set_dict(&mut self, dict: &[u8]) {
        self.dict = dict.to_vec();
        self.heads = vec![u32::MAX; 1 << BITS];
        for i in 0..self.dict.len().saturating_sub(MIN - 1) {
            self.heads[hash(&self.dict[i..])] = i as u32;
        }
        self.own = vec![(0, 0); 1 << BITS];
    }

    /// `data` packed (the first call's data becomes the dictionary).
    pub fn pack(&mut self, data: &[u8]) -> Vec<u8> {
        if self.heads.is_empty() {
            self.set_dict(data);
        }
        self.gen = self.gen.wrapping_add(1);
        if self.gen == 0 {
            self.own.iter_mut().for_each(|e| *e = (0, 0));
            self.gen = 1;
        }
        let d = self.dict.len();
        let mut out = Vec::with_capacity(data.len() / 2);
        let (mut i, mut lit) = (0, 0);
        while i + MIN <= data.len() {
            let h = hash(&data[i..]);
            let limit = (data.len() - i).min(MAX);
            let mut best = (0, 0); // (length, position in dict ++ data)
            let (stamp, at) = self.own[h];
            if stamp == self.gen {
                let at = at as usize;
                let n = common(&data[at..], &data[i..], limit);
                best = (n, d + at);
            }
            let at = self.heads[h];
            if at != u32::MAX {
                let at = at as usize;
                let n = common(&self.dict[at..], &data[i..], limit);
                if n > best.0 {
                    best = (n, at);
                }
            }
            self.own[h] = (self.gen, i as u32);
            if best.0 >= MIN {
                literals(&mut out, &data[lit..i]);
                out.push(0x80 | (best.0 - MIN) as u8);
                varint(&mut out, d + i - best.1);
                i += best.0;
                lit = i;
            } else {
                i += 1;
            }
        }
        literals(&mut out, &data[lit..]);
        out
    }

    /// What `pack` was given.
    pub fn unpack(&self, packed: &[u8]) -> Vec<u8> {
        let d = self.dict.len();
        let mut buf = Vec::with_capacity(d + packed.len() * 3);
        buf.extend_from_slice(&self.dict);
        let mut i = 0;
        while i < packed.len() {
            let t = packed[i];
            i += 1;
            if t & 0x80 == 0 {
                let n = usize::from(t) + 1;
                buf.extend_from_slice(&packed[i..i + n]);
                i += n;
            } else {
                let n = usize::from(t & 0x7f) + MIN;
                let (mut dist, mut shift) = (0usize, 0);
                loop {
                    let b = packed[i];
                    i += 1;
                    dist |= usize::from(b & 0x7f) << shift;
                    shift += 7;
                    if b & 0x80 == 0 {
                        break;
                    }
                }
                let from = buf.len() - dist;
                for k in 0..n {
                    buf.push(buf[from + k]);
                }
            }
        }
        buf.split_off(d)
    }
}

/// The length of the common prefix of `a` and `b`, at most `limit`.
fn common(a: &[u8], b: &[u8], limit: usize) -> usize {
    a.iter()
        .zip(b)
        .take(limit)
        .take_while(|(x, y)| x == y)
        .count()
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
