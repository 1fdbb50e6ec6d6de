//! A partial in a compact binary form, written and read by hand, for `parse --messages`' waiting states.
//!
//! Serde's JSON of a waiting state cost as much to write and read as the rest of `parse --messages`
//! handled in a third of its lines (callgrind on 21k lines: 43M to write, 90M to read of 1,569M). Here
//! a partial is its server and id, a bitmask of the keys it has, then each of them in `Partial`'s
//! order; lengths and counts are LEB128 varints, strings their UTF-8 bytes, a record's values tagged
//! (floats as their eight bytes, so they come back exactly), a record's keys mostly a number (`KEYS`).
//! Maps and sets are written in the order they hold (sorted), and read back only if sorted.

use serde_json::{Map, Number, Value};

use super::partial::{Fields, Partial, Rcpt, Record, Set};

/// Nesting a record's values may have: a state's are a level or two deep, and a limit keeps arbitrary
/// bytes from overflowing the stack.
const MAX_DEPTH: u32 = 64;

/// The keys the facts give records and their objects (`crate::facts`), each written as its number
/// here: they were most of what the dictionary of `pack` found again from one state to the next. A
/// key's varint is its number here, or this table's length plus its length, then its bytes.
const KEYS: [&str; 48] = [
    "time",
    "address",
    "provider",
    "to",
    "ip",
    "class",
    "user",
    "transport",
    "text",
    "subject",
    "smtp_code",
    "size",
    "router",
    "remote",
    "protocol",
    "message_id",
    "local_id",
    "ident",
    "helo",
    "flag",
    "error",
    "email",
    "domain",
    "by",
    "version",
    "verdict",
    "tls_version",
    "tls_cipher",
    "tls",
    "spam",
    "source_ip",
    "source_domain",
    "source",
    "sender",
    "score",
    "original_address",
    "name",
    "message",
    "host",
    "from",
    "exim",
    "destination",
    "cipher",
    "port",
    "id",
    "type",
    "code",
    "status",
];

const NULL: u8 = 0;
const FALSE: u8 = 1;
const TRUE: u8 = 2;
const POS: u8 = 3;
const NEG: u8 = 4;
const FLOAT: u8 = 5;
const STR: u8 = 6;
const ARRAY: u8 = 7;
const OBJECT: u8 = 8;

/// Why bytes are not a partial `encode` wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(&'static str);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Error {}

type Result<T> = std::result::Result<T, Error>;

/// `p` appended to `out`.
pub fn encode(p: &Partial, out: &mut Vec<u8>) {
    let w = &mut Writer(out);
    w.str(&p.server);
    w.str(&p.id);
    let mask = [
        p.first_seen.is_some(),
        p.last_seen.is_some(),
        p.arrival.is_some(),
        p.rcpt.is_some(),
        p.attempts.is_some(),
        p.completed.is_some(),
        p.frozen.is_some(),
        p.unfrozen.is_some(),
        p.removed.is_some(),
        p.cancelled.is_some(),
        p.rejected.is_some(),
        p.spam.is_some(),
        p.first_deferral.is_some(),
        p.last_deferral.is_some(),
        p.last_error.is_some(),
        p.bounce_of.is_some(),
        p.bounced_by.is_some(),
    ];
    w.varint(bits(&mask));
    w.opt_str(&p.first_seen);
    w.opt_str(&p.last_seen);
    w.opt_record(&p.arrival);
    if let Some(rcpt) = &p.rcpt {
        w.varint(rcpt.len() as u64);
        for (address, r) in rcpt.iter() {
            w.str(address);
            w.rcpt(r);
        }
    }
    w.opt_set(&p.attempts);
    w.opt_str(&p.completed);
    w.opt_str(&p.frozen);
    w.opt_str(&p.unfrozen);
    w.opt_record(&p.removed);
    w.opt_record(&p.cancelled);
    w.opt_record(&p.rejected);
    w.opt_record(&p.spam);
    w.opt_record(&p.first_deferral);
    w.opt_record(&p.last_deferral);
    w.opt_record(&p.last_error);
    w.opt_str(&p.bounce_of);
    w.opt_set(&p.bounced_by);
}

/// The partial `encode` wrote as `data` (all of it); an error, never a panic, for any other bytes.
pub fn decode(data: &[u8]) -> Result<Partial> {
    let r = &mut Reader { data, at: 0 };
    let server = r.str()?;
    let id = r.str()?;
    let mask = r.varint()?;
    if mask >> 17 != 0 {
        return Err(Error("a key no partial has"));
    }
    let on = |i: u32| mask & (1 << i) != 0;
    let p = Partial {
        server,
        id,
        first_seen: r.opt(on(0), Reader::str)?,
        last_seen: r.opt(on(1), Reader::str)?,
        arrival: r.opt(on(2), Reader::record)?,
        rcpt: r.opt(on(3), |r| {
            let n = r.count()?;
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                v.push((r.str()?, r.rcpt()?));
            }
            Fields::from_sorted(v).ok_or(Error("recipients not sorted"))
        })?,
        attempts: r.opt(on(4), Reader::set)?,
        completed: r.opt(on(5), Reader::str)?,
        frozen: r.opt(on(6), Reader::str)?,
        unfrozen: r.opt(on(7), Reader::str)?,
        removed: r.opt(on(8), Reader::record)?,
        cancelled: r.opt(on(9), Reader::record)?,
        rejected: r.opt(on(10), Reader::record)?,
        spam: r.opt(on(11), Reader::record)?,
        first_deferral: r.opt(on(12), Reader::record)?,
        last_deferral: r.opt(on(13), Reader::record)?,
        last_error: r.opt(on(14), Reader::record)?,
        bounce_of: r.opt(on(15), Reader::str)?,
        bounced_by: r.opt(on(16), Reader::set)?,
    };
    if r.at != data.len() {
        return Err(Error("bytes after the partial"));
    }
    Ok(p)
}

struct Writer<'a>(&'a mut Vec<u8>);

impl Writer<'_> {
    fn varint(&mut self, mut n: u64) {
        while n >= 0x80 {
            self.0.push(n as u8 | 0x80);
            n >>= 7;
        }
        self.0.push(n as u8);
    }

    fn str(&mut self, s: &str) {
        self.varint(s.len() as u64);
        self.0.extend_from_slice(s.as_bytes());
    }

    fn key(&mut self, k: &str) {
        // A match, not a search of `KEYS`: the compiler branches on the length first.
        let known: Option<u8> = match k {
            "time" => Some(0),
            "address" => Some(1),
            "provider" => Some(2),
            "to" => Some(3),
            "ip" => Some(4),
            "class" => Some(5),
            "user" => Some(6),
            "transport" => Some(7),
            "text" => Some(8),
            "subject" => Some(9),
            "smtp_code" => Some(10),
            "size" => Some(11),
            "router" => Some(12),
            "remote" => Some(13),
            "protocol" => Some(14),
            "message_id" => Some(15),
            "local_id" => Some(16),
            "ident" => Some(17),
            "helo" => Some(18),
            "flag" => Some(19),
            "error" => Some(20),
            "email" => Some(21),
            "domain" => Some(22),
            "by" => Some(23),
            "version" => Some(24),
            "verdict" => Some(25),
            "tls_version" => Some(26),
            "tls_cipher" => Some(27),
            "tls" => Some(28),
            "spam" => Some(29),
            "source_ip" => Some(30),
            "source_domain" => Some(31),
            "source" => Some(32),
            "sender" => Some(33),
            "score" => Some(34),
            "original_address" => Some(35),
            "name" => Some(36),
            "message" => Some(37),
            "host" => Some(38),
            "from" => Some(39),
            "exim" => Some(40),
            "destination" => Some(41),
            "cipher" => Some(42),
            "port" => Some(43),
            "id" => Some(44),
            "type" => Some(45),
            "code" => Some(46),
            "status" => Some(47),
            _ => None,
        };
        debug_assert!(known.map_or(true, |i| KEYS[usize::from(i)] == k));
        match known {
            Some(i) => self.varint(u64::from(i)),
            None => {
                self.varint((KEYS.len() + k.len()) as u64);
                self.0.extend_from_slice(k.as_bytes());
            }
        }
    }

    fn opt_str(&mut self, s: &Option<String>) {
        if let Some(s) = s {
            self.str(s);
        }
    }

    fn set(&mut self, s: &Set) {
        self.varint(s.len() as u64);
        for x in s.iter() {
            self.str(x);
        }
    }

    fn opt_set(&mut self, s: &Option<Set>) {
        if let Some(s) = s {
            self.set(s);
        }
    }

    fn record(&mut self, r: &Record) {
        self.varint(r.len() as u64);
        for (k, v) in r.iter() {
            self.key(k);
            self.value(v);
        }
    }

    fn opt_record(&mut self, r: &Option<Record>) {
        if let Some(r) = r {
            self.record(r);
        }
    }

    fn rcpt(&mut self, r: &Rcpt) {
        let mask = [
            r.originals.is_some(),
            r.delivered.is_some(),
            r.failed.is_some(),
            r.deferred_first.is_some(),
            r.attempts.is_some(),
            r.first_error.is_some(),
            r.last_error.is_some(),
            r.via.is_some(),
        ];
        // Eight keys: the mask fits its byte.
        self.0.push(bits(&mask) as u8);
        self.opt_set(&r.originals);
        self.opt_str(&r.delivered);
        self.opt_str(&r.failed);
        self.opt_str(&r.deferred_first);
        self.opt_set(&r.attempts);
        self.opt_record(&r.first_error);
        self.opt_record(&r.last_error);
        self.opt_record(&r.via);
    }

    fn value(&mut self, v: &Value) {
        match v {
            Value::Null => self.0.push(NULL),
            Value::Bool(false) => self.0.push(FALSE),
            Value::Bool(true) => self.0.push(TRUE),
            Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    self.0.push(POS);
                    self.varint(u);
                } else if let Some(i) = n.as_i64() {
                    // Negative here (a non-negative one is a u64): !i is its magnitude less one.
                    self.0.push(NEG);
                    self.varint(!i as u64);
                } else {
                    let f = n.as_f64().expect("a number is a u64, an i64 or an f64");
                    self.0.push(FLOAT);
                    self.0.extend_from_slice(&f.to_le_bytes());
                }
            }
            Value::String(s) => {
                self.0.push(STR);
                self.str(s);
            }
            Value::Array(a) => {
                self.0.push(ARRAY);
                self.varint(a.len() as u64);
                for x in a {
                    self.value(x);
                }
            }
            Value::Object(m) => {
                self.0.push(OBJECT);
                self.varint(m.len() as u64);
                for (k, x) in m {
                    self.key(k);
                    self.value(x);
                }
            }
        }
    }
}

struct Reader<'a> {
    data: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> Result<u8> {
        let b = *self.data.get(self.at).ok_or(Error("cut short"))?;
        self.at += 1;
        Ok(b)
    }

    fn varint(&mut self) -> Result<u64> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            n |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(n);
            }
        }
        Err(Error("a varint longer than 64 bits"))
    }

    /// A count of items each at least a byte long: more than the bytes left is an error, so that
    /// arbitrary bytes cannot make a vector reserve more than they could fill.
    fn count(&mut self) -> Result<usize> {
        let n = self.varint()?;
        if n > (self.data.len() - self.at) as u64 {
            return Err(Error("more items than bytes"));
        }
        Ok(n as usize)
    }

    fn bytes(&mut self) -> Result<&[u8]> {
        let n = self.count()?;
        let b = &self.data[self.at..self.at + n];
        self.at += n;
        Ok(b)
    }

    fn str(&mut self) -> Result<String> {
        let b = self.bytes()?;
        std::str::from_utf8(b)
            .map(str::to_owned)
            .map_err(|_| Error("a string not UTF-8"))
    }

    fn key(&mut self) -> Result<String> {
        let n = self.varint()?;
        if let Some(known) = KEYS.get(n as usize) {
            return Ok((*known).to_owned());
        }
        let n = n - KEYS.len() as u64;
        if n > (self.data.len() - self.at) as u64 {
            return Err(Error("a key longer than the bytes left"));
        }
        let b = &self.data[self.at..self.at + n as usize];
        self.at += n as usize;
        std::str::from_utf8(b)
            .map(str::to_owned)
            .map_err(|_| Error("a key not UTF-8"))
    }

    fn opt<T>(&mut self, on: bool, read: impl FnOnce(&mut Self) -> Result<T>) -> Result<Option<T>> {
        if on {
            read(self).map(Some)
        } else {
            Ok(None)
        }
    }

    fn set(&mut self) -> Result<Set> {
        let n = self.count()?;
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(self.str()?);
        }
        Set::from_sorted(v).ok_or(Error("a set not sorted"))
    }

    fn record(&mut self) -> Result<Record> {
        let n = self.count()?;
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push((self.key()?, self.value(0)?));
        }
        Fields::from_sorted(v).ok_or(Error("a record's keys not sorted"))
    }

    fn rcpt(&mut self) -> Result<Rcpt> {
        let mask = self.byte()?;
        let on = |i: u32| mask & (1 << i) != 0;
        Ok(Rcpt {
            originals: self.opt(on(0), Self::set)?,
            delivered: self.opt(on(1), Self::str)?,
            failed: self.opt(on(2), Self::str)?,
            deferred_first: self.opt(on(3), Self::str)?,
            attempts: self.opt(on(4), Self::set)?,
            first_error: self.opt(on(5), Self::record)?,
            last_error: self.opt(on(6), Self::record)?,
            via: self.opt(on(7), Self::record)?,
        })
    }

    fn value(&mut self, depth: u32) -> Result<Value> {
        if depth > MAX_DEPTH {
            return Err(Error("values nested too deep"));
        }
        Ok(match self.byte()? {
            NULL => Value::Null,
            FALSE => Value::Bool(false),
            TRUE => Value::Bool(true),
            POS => Value::from(self.varint()?),
            NEG => {
                let m = self.varint()?;
                if m > i64::MAX as u64 {
                    return Err(Error("a negative number out of range"));
                }
                Value::from(!(m as i64))
            }
            FLOAT => {
                let b = self
                    .data
                    .get(self.at..self.at + 8)
                    .ok_or(Error("cut short"))?;
                self.at += 8;
                let f = f64::from_le_bytes(b.try_into().expect("eight bytes"));
                Value::Number(Number::from_f64(f).ok_or(Error("a float JSON has not"))?)
            }
            STR => Value::String(self.str()?),
            ARRAY => {
                let n = self.count()?;
                let mut v = Vec::with_capacity(n);
                for _ in 0..n {
                    v.push(self.value(depth + 1)?);
                }
                Value::Array(v)
            }
            OBJECT => {
                let n = self.count()?;
                let mut m = Map::new();
                // In the order written, whichever order the map keeps (`preserve_order` or not).
                for _ in 0..n {
                    let k = self.key()?;
                    let x = self.value(depth + 1)?;
                    if m.insert(k, x).is_some() {
                        return Err(Error("a key twice in an object"));
                    }
                }
                Value::Object(m)
            }
            _ => return Err(Error("a value of no known type")),
        })
    }
}

/// Which of the keys are present, key `i` as bit `i`.
fn bits(on: &[bool]) -> u64 {
    on.iter()
        .enumerate()
        .fold(0, |m, (i, &on)| m | (u64::from(on) << i))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::parse_parts;
    use proptest::prelude::*;

    fn round_trip(p: &Partial) -> Vec<u8> {
        let mut out = Vec::new();
        encode(p, &mut out);
        let back = decode(&out).unwrap();
        assert_eq!(&back, p);
        assert_eq!(
            serde_json::to_string(&back).unwrap(),
            serde_json::to_string(p).unwrap()
        );
        out
    }

    const DELIVERED: &[u8] = br#"[{"server":"mx1","id":"1tXaaa-000001-AB","first_seen":"2025-01-31T10:00:00.000Z",
        "last_seen":"2025-01-31T10:00:02.500Z","completed":"2025-01-31T10:00:02.500Z",
        "arrival":{"time":"2025-01-31T10:00:00.000Z","sender":"a@example.com","size":1234,"ratio":0.1,
                   "neg":-7,"min":-9223372036854775808,"max":18446744073709551615,"zero":-0.0,"none":null,
                   "tls":true,"no":false,"list":[1,"x",[],{}],"obj":{"b":1,"a":[2.5e300]}},
        "attempts":["2025-01-31T10:00:01.000Z","2025-01-31T10:00:02.500Z"],
        "rcpt":{"a@x":{"delivered":"T","via":{"time":"T","flag":"=>"},"attempts":["T"],"originals":["o@x"]},
                "b@x":{"failed":"T","first_error":{"time":"T"},"last_error":{"time":"U","code":550},
                       "deferred_first":"S"}},
        "removed":{"time":"R"},"cancelled":{"time":"C"},"rejected":{"time":"J"},"spam":{"time":"P"},
        "first_deferral":{"time":"F"},"last_deferral":{"time":"L"},"last_error":{"time":"E"},
        "frozen":"Z","unfrozen":"Y","bounce_of":"1tXbbb-000002-AB","bounced_by":["1tXccc-000003-AB"]}]"#;

    #[test]
    fn every_key_and_value_comes_back() {
        let p = &parse_parts(DELIVERED).unwrap()[0];
        let bytes = round_trip(p);
        let json = serde_json::to_vec(p).unwrap();
        assert!(
            bytes.len() * 10 < json.len() * 8,
            "{} bytes against JSON's {}",
            bytes.len(),
            json.len()
        );
        round_trip(&Partial::default());
    }

    #[test]
    fn floats_come_back_bit_for_bit() {
        for f in [
            0.1,
            -0.0,
            1.0,
            f64::MIN_POSITIVE,
            5e-324,
            f64::MAX,
            -1.5e-300,
        ] {
            let mut p = Partial::default();
            let mut r = Record::new();
            r.insert("f".into(), serde_json::json!(f));
            p.spam = Some(r);
            let mut out = Vec::new();
            encode(&p, &mut out);
            let back = decode(&out).unwrap();
            let g = back.spam.unwrap()["f"].as_f64().unwrap();
            assert_eq!(g.to_bits(), f.to_bits());
        }
    }

    #[test]
    fn bytes_it_did_not_write_are_errors() {
        let p = &parse_parts(DELIVERED).unwrap()[0];
        let mut out = Vec::new();
        encode(p, &mut out);
        for n in 0..out.len() {
            assert!(decode(&out[..n]).is_err(), "cut to {n} bytes");
        }
        let mut longer = out.clone();
        longer.push(0);
        assert!(decode(&longer).is_err());
        // Server "b", id "", a set of "b" then "a".
        assert!(decode(&[1, b'b', 0, 0x10, 2, 1, b'b', 1, b'a']).is_err());
        assert_eq!(
            decode(&[1, b'b', 0, 0x10, 2, 1, b'a', 1, b'b'])
                .unwrap()
                .attempts
                .unwrap()
                .len(),
            2
        );
        assert!(
            decode(&[0, 0, 0x80, 0x80, 0x08]).is_err(),
            "bit 17 of the mask"
        );
        assert!(decode(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1]).is_err());
        // An arrival of one key holding values nested deeper than the limit.
        let mut deep = vec![0, 0, 0x04, 1, 1, b'k'];
        deep.extend(std::iter::repeat([ARRAY, 1]).take(200).flatten());
        deep.push(NULL);
        assert!(decode(&deep).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn decode_of_any_bytes_never_panics(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = decode(&data);
        }

        #[test]
        fn decode_of_a_damaged_state_never_panics(
            edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
            cut in any::<usize>(),
        ) {
            let p = &parse_parts(DELIVERED).unwrap()[0];
            let mut out = Vec::new();
            encode(p, &mut out);
            for (at, b) in edits {
                let n = out.len();
                out[at % n] = b;
            }
            let n = out.len();
            out.truncate(n - cut % (n / 4));
            if let Ok(q) = decode(&out) {
                let mut again = Vec::new();
                encode(&q, &mut again);
                prop_assert_eq!(decode(&again).unwrap(), q);
            }
        }
    }
}
