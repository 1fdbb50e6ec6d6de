//! The bounded correlator (`shipper/messages/correlator.py` `Correlator`), `parse --messages`' first-seen
//! order (`shipper/message_output.py` `FirstSeenOrder`) and a batch's summaries by message
//! (`shipper/opensearch/summaries.py` `by_message`, `create_item`).

use std::collections::{BTreeMap, VecDeque};

use super::binary;
use super::merge::merge;
use super::pack::Packer;
use super::partial::{Key, Partial};
use super::summary::{create_item, write_summary};
// FxHash, not SipHash: the keys are Exim's message ids and the servers' names, and SipHash was a
// twentieth of `parse --messages`' instructions (cachegrind).
use crate::tables::FastMap as HashMap;

/// Python's `OrderedDict` as these classes use it: insertion order, a key updated in place keeps its
/// place, the oldest taken from the front.
#[derive(Debug)]
struct Ordered<V> {
    map: HashMap<Key, (u64, V)>,
    order: BTreeMap<u64, Key>,
    next: u64,
}

impl<V> Default for Ordered<V> {
    fn default() -> Self {
        Self {
            map: HashMap::default(),
            order: BTreeMap::new(),
            next: 0,
        }
    }
}

impl<V> Ordered<V> {
    fn len(&self) -> usize {
        self.map.len()
    }

    fn get_mut(&mut self, key: &Key) -> Option<&mut V> {
        self.map.get_mut(key).map(|(_, v)| v)
    }

    /// At the end (the key must not be here).
    fn push(&mut self, key: Key, v: V) {
        let seq = self.next;
        self.next += 1;
        self.order.insert(seq, key.clone());
        self.map.insert(key, (seq, v));
    }

    fn remove(&mut self, key: &Key) -> Option<V> {
        let (seq, v) = self.map.remove(key)?;
        self.order.remove(&seq);
        Some(v)
    }

    fn front(&self) -> Option<(&Key, &V)> {
        let (_, key) = self.order.first_key_value()?;
        self.map.get(key).map(|(_, v)| (key, v))
    }

    fn pop_front(&mut self) -> Option<(Key, V)> {
        let (_, key) = self.order.pop_first()?;
        let (_, v) = self.map.remove(&key)?;
        Some((key, v))
    }
}

/// Merges partials per message; hands out finished messages at once and holds at most `max_open`
/// unfinished ones, evicting the oldest. Each held message remembers where (`at`) its first share
/// began, so a reader checkpoints no further than the oldest.
#[derive(Debug)]
pub struct Correlator {
    pub max_open: usize,
    open: Ordered<(Partial, u64)>,
}

impl Correlator {
    pub fn new(max_open: usize) -> Self {
        Self {
            max_open,
            open: Ordered::default(),
        }
    }

    /// Messages held now.
    pub fn len(&self) -> usize {
        self.open.len()
    }

    pub fn is_empty(&self) -> bool {
        self.open.len() == 0
    }

    /// `add_partials`: fold one entry's partials in (`at`: where it begins); what leaves memory now
    /// (finished, or evicted for the cap) goes to `out`.
    pub fn add(&mut self, parts: Vec<Partial>, at: u64, out: &mut Vec<Partial>) {
        for part in parts {
            let key = part.key();
            let finished = match self.open.get_mut(&key) {
                Some((cur, _)) => {
                    merge(cur, part);
                    cur.finished()
                }
                None => {
                    if self.open.len() >= self.max_open {
                        if let Some((_, (p, _))) = self.open.pop_front() {
                            out.push(p);
                        }
                    }
                    let finished = part.finished();
                    if finished {
                        out.push(part);
                        continue;
                    }
                    self.open.push(key.clone(), (part, at));
                    false
                }
            };
            if finished {
                if let Some((p, _)) = self.open.remove(&key) {
                    out.push(p);
                }
            }
        }
    }

    /// Take one message out of memory (finished or not).
    pub fn pop(&mut self, key: &Key) -> Option<Partial> {
        self.open.remove(key).map(|(p, _)| p)
    }

    /// Where the oldest share held begins (None when nothing is open).
    pub fn oldest(&self) -> Option<u64> {
        self.open.front().map(|(_, (_, at))| *at)
    }

    /// The open messages whose held share began before `at`, oldest first.
    pub fn older_than(&mut self, at: u64, out: &mut Vec<Partial>) {
        while let Some((_, (_, since))) = self.open.front() {
            if *since >= at {
                break;
            }
            if let Some((_, (p, _))) = self.open.pop_front() {
                out.push(p);
            }
        }
    }

    /// Every open message, in first-seen order, emptying the correlator.
    pub fn drain(&mut self, out: &mut Vec<Partial>) {
        while let Some((_, (p, _))) = self.open.pop_front() {
            out.push(p);
        }
    }
}

/// A batch's summaries, one merged partial per message (`by_message`), written as `create` items.
#[derive(Debug, Default)]
pub struct Pending {
    parts: Ordered<Partial>,
}

impl Pending {
    pub fn len(&self) -> usize {
        self.parts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.parts.len() == 0
    }

    pub fn extend(&mut self, parts: Vec<Partial>) {
        for p in parts {
            let key = p.key();
            match self.parts.get_mut(&key) {
                Some(cur) => merge(cur, p),
                None => self.parts.push(key, p),
            }
        }
    }

    /// Every message's `create` item (action line and summary body, each with its newline) into
    /// `bulk`, and its key as `server \0 id \0` into `keys`; returns how many, emptying the batch.
    pub fn write(&mut self, prefix: &str, bulk: &mut Vec<u8>, keys: &mut Vec<u8>) -> usize {
        let mut n = 0;
        while let Some(((server, id), p)) = self.parts.pop_front() {
            create_item(prefix, &p, bulk);
            keys.extend_from_slice(server.as_bytes());
            keys.push(0);
            keys.extend_from_slice(id.as_bytes());
            keys.push(0);
            n += 1;
        }
        n
    }
}

/// A finished message waiting for its turn, as its state's binary form (`binary`) packed (`pack`):
/// 346 bytes a message on the 200k bench log, and `parse --messages` may hold `max_open` of them.
#[derive(Debug)]
struct Packed(Box<[u8]>);

impl Packed {
    fn new(p: &Partial, packer: &mut Packer) -> Self {
        Self(packer.pack_with(|out| binary::encode(p, out)))
    }

    /// The state `new` packed: anything else is this module's bug, never the log's, so it panics.
    fn unpack(&self, packer: &mut Packer) -> Partial {
        let bytes = packer
            .unpack(&self.0)
            .unwrap_or_else(|e| panic!("a waiting message's packed state does not unpack: {e}"));
        binary::decode(bytes)
            .unwrap_or_else(|e| panic!("a waiting message's state does not read back: {e}"))
    }
}

/// The inline bytes of a [`Slim`] key: the server's number (4 bytes) and an Exim id (16 or 23 bytes).
const SLIM: usize = 30;

/// A message's key in the first-seen order without two `String`s of its own: the server's number
/// among the servers met, then the id, inline when it fits. Up to `max_open` keys wait at once (behind
/// a message that never completes), and two strings and their copy in an order map cost them 400
/// bytes each on the bench log.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Slim {
    Inline(u8, [u8; SLIM]),
    Boxed(Box<[u8]>),
}

impl Slim {
    fn new(server: u32, id: &str) -> Self {
        let n = 4 + id.len();
        if n <= SLIM {
            let mut b = [0u8; SLIM];
            b[..4].copy_from_slice(&server.to_le_bytes());
            b[4..n].copy_from_slice(id.as_bytes());
            Slim::Inline(n as u8, b)
        } else {
            let mut b = server.to_le_bytes().to_vec();
            b.extend_from_slice(id.as_bytes());
            Slim::Boxed(b.into_boxed_slice())
        }
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Slim::Inline(n, b) => &b[..*n as usize],
            Slim::Boxed(b) => b,
        }
    }
}

/// How many finished messages wait as they are before the longest-finished of them is packed: most
/// wait only briefly (the message before them completes soon), and a late line for one merges into it
/// without an unpack and a pack again. On the 200k bench log these are a few megabytes.
const YOUNG: usize = 2048;

/// What waits in the first-seen order for one message.
#[derive(Debug)]
enum Slot {
    /// Still open in the correlator.
    Open,
    /// Finished lately: its state as it is.
    Young(Box<Partial>),
    /// Finished and waiting long: its state packed.
    Packed(Packed),
}

/// The first-seen order: a queue (messages leave from its front only) of what waits for each message,
/// each message's place in it by key, and the servers by number. A finished message's state names
/// its message, so only the open ones (a few hundred) keep their key beside the queue.
#[derive(Debug, Default)]
struct Queue {
    slots: VecDeque<Slot>,
    /// Each queued message's sequence number (`head` is the front's).
    seq: HashMap<Slim, u64>,
    /// The open messages' keys, by sequence number.
    open: HashMap<u64, Slim>,
    head: u64,
    servers: Vec<String>,
    numbers: HashMap<String, u32>,
    /// The young slots' sequence numbers, the longest-finished first (one that left, or was packed
    /// and made young again, may be here twice: `young` counts the slots).
    young_order: VecDeque<u64>,
    young: usize,
}

/// The front of the queue as it leaves: an open message's key, or a finished one's state.
enum Front {
    Open(Key),
    Finished(Box<Partial>),
}

impl Queue {
    fn len(&self) -> usize {
        self.slots.len()
    }

    fn find(&self, server: &str, id: &str) -> Option<Slim> {
        self.numbers.get(server).map(|&n| Slim::new(n, id))
    }

    fn place(&self, server: &str, id: &str) -> Option<u64> {
        self.seq.get(&self.find(server, id)?).copied()
    }

    fn slot(&mut self, seq: u64) -> &mut Slot {
        let i = usize::try_from(seq - self.head).expect("a queued message's place fits");
        &mut self.slots[i]
    }

    /// The message at `seq` is finished (or took a line again): `state` waits as it is, for now.
    fn young(&mut self, seq: u64, state: Partial) {
        if matches!(self.slot(seq), Slot::Open) {
            self.open.remove(&seq);
        }
        *self.slot(seq) = Slot::Young(Box::new(state));
        self.young += 1;
        self.young_order.push_back(seq);
    }

    /// Packs the longest-finished young states past `YOUNG`.
    fn age(&mut self, packer: &mut Packer) {
        while self.young > YOUNG {
            let Some(seq) = self.young_order.pop_front() else {
                return;
            };
            if seq < self.head {
                continue;
            }
            let slot = self.slot(seq);
            if let Slot::Young(p) = slot {
                *slot = Slot::Packed(Packed::new(p, packer));
                self.young -= 1;
            }
        }
    }

    /// At the end, open (the message must not be queued).
    fn push(&mut self, server: &str, id: &str) {
        let n = match self.numbers.get(server) {
            Some(&n) => n,
            None => {
                let n = u32::try_from(self.servers.len()).expect("fewer than 2^32 servers");
                self.servers.push(server.to_string());
                self.numbers.insert(server.to_string(), n);
                n
            }
        };
        let key = Slim::new(n, id);
        let seq = self.head + self.slots.len() as u64;
        self.seq.insert(key.clone(), seq);
        self.open.insert(seq, key);
        self.slots.push_back(Slot::Open);
    }

    fn front(&self) -> Option<&Slot> {
        self.slots.front()
    }

    /// The front message leaves, a finished one's key with it.
    fn pop_front(&mut self, packer: &mut Packer) -> Option<Front> {
        let slot = self.slots.pop_front()?;
        let seq = self.head;
        self.head += 1;
        let state = match slot {
            Slot::Young(p) => {
                self.young -= 1;
                p
            }
            Slot::Packed(packed) => Box::new(packed.unpack(packer)),
            Slot::Open => {
                let key = self
                    .open
                    .remove(&seq)
                    .expect("an open message keeps its key");
                self.seq.remove(&key);
                return Some(Front::Open(self.key_of(&key)));
            }
        };
        if let Some(key) = self.find(&state.server, &state.id) {
            self.seq.remove(&key);
        }
        Some(Front::Finished(state))
    }

    fn key_of(&self, key: &Slim) -> Key {
        let (n, id) = key.bytes().split_at(4);
        let n = u32::from_le_bytes(n.try_into().expect("4 bytes"));
        let id = std::str::from_utf8(id).expect("an id pushed as a str");
        (self.servers[n as usize].clone(), id.to_string())
    }

    /// The finished messages waiting: how many, and the bytes they are kept in (a young state's as
    /// its binary form would be, unpacked).
    fn finished(&self) -> (usize, usize) {
        self.slots.iter().fold((0, 0), |(n, b), s| match s {
            Slot::Open => (n, b),
            Slot::Packed(p) => (n + 1, b + p.0.len()),
            Slot::Young(p) => {
                let mut raw = Vec::new();
                binary::encode(p, &mut raw);
                (n + 1, b + raw.len())
            }
        })
    }
}

/// `parse --messages`: summaries written in first-seen order with bounded memory, one per message.
///
/// A finished message waits, merged, until every earlier message is written; a line that comes for it
/// meanwhile joins it. Past `max_open` waiting messages the oldest is written as it stands.
#[derive(Debug)]
pub struct FirstSeen {
    max_open: usize,
    correlator: Correlator,
    order: Queue,
    packer: Packer,
    /// Summary documents written and not yet taken, one JSON line each.
    pub out: Vec<u8>,
    pub written: usize,
    /// The stream is over: the correlator was drained into `order`.
    finishing: bool,
}

impl FirstSeen {
    pub fn new(max_open: usize) -> Self {
        Self {
            max_open,
            correlator: Correlator::new(max_open),
            order: Queue::default(),
            packer: Packer::default(),
            out: Vec::new(),
            written: 0,
            finishing: false,
        }
    }

    /// One entry's partials (`FirstSeenOrder.add`).
    pub fn add(&mut self, parts: Vec<Partial>) {
        let mut to_correlator = Vec::with_capacity(parts.len());
        for part in parts {
            match self.order.place(&part.server, &part.id) {
                Some(seq) => to_correlator.extend(self.finished_again(seq, part)),
                None => {
                    self.order.push(&part.server, &part.id);
                    to_correlator.push(part);
                }
            }
        }
        let mut done = Vec::new();
        self.correlator.add(to_correlator, 0, &mut done);
        for p in done {
            self.ready(p);
        }
        self.order.age(&mut self.packer);
        self.flush_head(self.max_open, usize::MAX);
    }

    /// A line for the queued message at `seq`: into its state when it is finished; given back when
    /// the message is still open.
    fn finished_again(&mut self, seq: u64, part: Partial) -> Option<Partial> {
        match self.order.slot(seq) {
            Slot::Open => return Some(part),
            Slot::Young(held) => merge(held, part),
            Slot::Packed(held) => {
                let mut merged = held.unpack(&mut self.packer);
                merge(&mut merged, part);
                self.order.young(seq, merged);
            }
        }
        None
    }

    fn write(&mut self, p: &Partial) {
        write_summary(p, &mut self.out);
        self.out.push(b'\n');
        self.written += 1;
    }

    fn ready(&mut self, part: Partial) {
        let Some(seq) = self.order.place(&part.server, &part.id) else {
            // A late line of a message already written: its own partial summary.
            self.write(&part);
            return;
        };
        if let Some(part) = self.finished_again(seq, part) {
            self.order.young(seq, part);
        }
    }

    /// Writes the head of the order while it is finished or the order is over `limit`, until `out`
    /// holds `budget` bytes; true when the order is empty.
    fn flush_head(&mut self, limit: usize, budget: usize) -> bool {
        loop {
            if self.out.len() >= budget {
                return self.order.len() == 0;
            }
            match self.order.front() {
                None => return true,
                Some(Slot::Open) if self.order.len() <= limit => return false,
                Some(_) => {}
            }
            let part = match self.order.pop_front(&mut self.packer) {
                None => return true,
                Some(Front::Finished(p)) => Some(*p),
                Some(Front::Open(key)) => self.correlator.pop(&key),
            };
            if let Some(p) = part {
                self.write(&p);
            }
        }
    }

    /// The stream is over: every message goes (`FirstSeenOrder.finish`).
    pub fn finish(&mut self) {
        self.finish_some(usize::MAX);
    }

    /// `finish` in steps: writes until `out` holds `budget` bytes (so that the documents of every
    /// message held are never in memory at once); true when every message is written.
    pub fn finish_some(&mut self, budget: usize) -> bool {
        if !self.finishing {
            self.finishing = true;
            let mut left = Vec::new();
            self.correlator.drain(&mut left);
            for p in left {
                self.ready(p);
            }
        }
        self.flush_head(0, budget)
    }

    /// What waits now: `(open, finished, bytes)`, the messages still open in the correlator, the
    /// finished ones waiting for their turn and the bytes these are kept in.
    pub fn held(&self) -> (usize, usize, usize) {
        let (n, bytes) = self.order.finished();
        (self.correlator.len(), n, bytes)
    }

    /// The open messages' states as JSON, in bytes (a measure of what the correlator holds).
    pub fn open_bytes(&self) -> usize {
        let open = self.correlator.open.map.values();
        open.map(|(_, (p, _))| serde_json::to_vec(p).map_or(0, |j| j.len()))
            .sum()
    }

    /// Whether `key` waits here (open or finished).
    pub fn holds(&self, key: &Key) -> bool {
        self.order.place(&key.0, &key.1).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::super::partial::parse_parts;
    use super::*;

    fn parts(json: &str) -> Vec<Partial> {
        parse_parts(json.as_bytes()).unwrap()
    }

    fn ids(v: &[Partial]) -> Vec<&str> {
        v.iter().map(|p| p.id.as_str()).collect()
    }

    #[test]
    fn finished_leaves_at_once_and_the_cap_evicts_the_oldest() {
        let mut c = Correlator::new(2);
        let mut out = Vec::new();
        c.add(
            parts(r#"[{"server":"s","id":"a","first_seen":"1"}]"#),
            10,
            &mut out,
        );
        c.add(
            parts(r#"[{"server":"s","id":"b","first_seen":"2"}]"#),
            20,
            &mut out,
        );
        assert!(out.is_empty());
        assert_eq!(c.oldest(), Some(10));
        c.add(
            parts(r#"[{"server":"s","id":"c","first_seen":"3"}]"#),
            30,
            &mut out,
        );
        assert_eq!(ids(&out), ["a"]);
        c.add(
            parts(r#"[{"server":"s","id":"b","completed":"4"}]"#),
            40,
            &mut out,
        );
        assert_eq!(ids(&out), ["a", "b"]);
        assert_eq!(out[1].first_seen.as_deref(), Some("2"));
        assert_eq!(c.oldest(), Some(30));
        out.clear();
        c.older_than(30, &mut out);
        assert!(out.is_empty());
        c.older_than(31, &mut out);
        assert_eq!(ids(&out), ["c"]);
        assert_eq!(c.oldest(), None);
    }

    #[test]
    fn rejected_before_arrival_is_finished_after_arrival_not() {
        let mut c = Correlator::new(10);
        let mut out = Vec::new();
        c.add(
            parts(r#"[{"server":"s","id":"a","rejected":{"time":"1"}}]"#),
            0,
            &mut out,
        );
        assert_eq!(ids(&out), ["a"]);
        out.clear();
        c.add(
            parts(r#"[{"server":"s","id":"b","arrival":{"time":"1"},"rejected":{"time":"1"}}]"#),
            0,
            &mut out,
        );
        assert!(out.is_empty());
        c.drain(&mut out);
        assert_eq!(ids(&out), ["b"]);
    }

    #[test]
    fn first_seen_order_holds_a_finished_message_behind_an_open_one() {
        let mut f = FirstSeen::new(10);
        f.add(parts(
            r#"[{"server":"s","id":"1tXaaa-000001-AB","first_seen":"1"}]"#,
        ));
        f.add(parts(
            r#"[{"server":"s","id":"1tXaab-000001-AB","completed":"2"}]"#,
        ));
        assert!(f.out.is_empty());
        f.add(parts(
            r#"[{"server":"s","id":"1tXaaa-000001-AB","completed":"3"}]"#,
        ));
        let text = String::from_utf8(std::mem::take(&mut f.out)).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].contains("1tXaaa"));
        assert!(lines[1].contains("1tXaab"));
        f.finish();
        assert!(f.out.is_empty());
    }

    #[test]
    fn past_max_open_the_oldest_goes_as_it_stands_and_a_late_line_is_its_own() {
        let long = "x".repeat(40); // a key too long to be inline
        let mut f = FirstSeen::new(3);
        f.add(parts(r#"[{"server":"s","id":"open1","first_seen":"1"}]"#));
        f.add(parts(&format!(
            r#"[{{"server":"t","id":"{long}","completed":"2"}}]"#
        )));
        f.add(parts(r#"[{"server":"s","id":"done3","completed":"3"}]"#));
        assert_eq!(f.held(), (1, 2, f.held().2));
        assert!(f.holds(&("t".into(), long.clone())));
        // A fourth message: the order is over three, so the open head is written as it stands, then
        // the finished ones behind it.
        f.add(parts(r#"[{"server":"s","id":"open4","first_seen":"4"}]"#));
        let text = String::from_utf8(std::mem::take(&mut f.out)).unwrap();
        let order: Vec<bool> = ["open1", &long, "done3"]
            .iter()
            .map(|id| text.contains(id))
            .collect();
        assert_eq!(order, [true, true, true], "{text}");
        assert!(text.find("open1") < text.find(&long) && text.find(&long) < text.find("done3"));
        assert!(!f.holds(&("s".into(), "open1".into())));
        assert!(f.holds(&("s".into(), "open4".into())));
        assert_eq!(f.written, 3);
        // A line for a message already written opens it again: a second, partial summary at the end.
        f.add(parts(r#"[{"server":"s","id":"done3","last_seen":"5"}]"#));
        assert_eq!(f.written, 3);
        assert!(f.holds(&("s".into(), "done3".into())));
        f.finish();
        assert_eq!(f.written, 5);
        assert_eq!(f.held(), (0, 0, 0));
    }

    #[test]
    fn past_young_the_longest_finished_are_packed_and_read_back_unchanged() {
        let n = YOUNG + 50;
        let mut f = FirstSeen::new(n + 10);
        f.add(parts(r#"[{"server":"s","id":"head","first_seen":"1"}]"#));
        for i in 0..n {
            f.add(parts(&format!(
                r#"[{{"server":"s","id":"m{i}","first_seen":"2","completed":"3"}}]"#
            )));
        }
        assert!(f.out.is_empty(), "behind the open head");
        assert_eq!(f.order.young, YOUNG);
        let packed = |f: &FirstSeen| {
            let p = f.order.slots.iter();
            p.filter(|s| matches!(s, Slot::Packed(_))).count()
        };
        assert_eq!(packed(&f), 50);
        // A late line for a packed message and one for a young one: both merged.
        f.add(parts(r#"[{"server":"s","id":"m0","last_seen":"9"}]"#));
        let last = n - 1;
        f.add(parts(&format!(
            r#"[{{"server":"s","id":"m{last}","last_seen":"8"}}]"#
        )));
        // m0 is young again, and the longest-finished young one (m50) packed in its place.
        assert!(matches!(f.order.slots[1], Slot::Young(_)));
        assert!(matches!(f.order.slots[51], Slot::Packed(_)));
        assert_eq!((packed(&f), f.order.young), (50, YOUNG));
        assert_eq!(f.held().1, n);
        f.add(parts(r#"[{"server":"s","id":"head","completed":"4"}]"#));
        f.finish();
        let mut want = Vec::new();
        let mut summary = |json: String| {
            write_summary(&parts(&json)[0], &mut want);
            want.push(b'\n');
        };
        summary(r#"[{"server":"s","id":"head","first_seen":"1","completed":"4"}]"#.into());
        for i in 0..n {
            let seen = match i {
                0 => r#","last_seen":"9""#,
                i if i == last => r#","last_seen":"8""#,
                _ => "",
            };
            summary(format!(
                r#"[{{"server":"s","id":"m{i}","first_seen":"2","completed":"3"{seen}}}]"#
            ));
        }
        assert_eq!(
            String::from_utf8(f.out).unwrap(),
            String::from_utf8(want).unwrap()
        );
        assert_eq!(f.written, n + 1);
    }
}
