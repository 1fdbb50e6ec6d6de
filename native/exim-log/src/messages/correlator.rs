//! The bounded correlator (`shipper/messages/correlator.py` `Correlator`), `parse --messages`' first-seen
//! order (`shipper/message_output.py` `FirstSeenOrder`) and a batch's summaries by message
//! (`shipper/opensearch/summaries.py` `by_message`, `create_item`).

use std::collections::{BTreeMap, HashMap};

use super::merge::merge;
use super::pack::Packer;
use super::partial::{Key, Partial};
use super::summary::{create_item, write_summary};

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
            map: HashMap::new(),
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

    fn contains(&self, key: &Key) -> bool {
        self.map.contains_key(key)
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

/// A finished message waiting for its turn, as the JSON of its state packed (`pack`): a third of the
/// partial's size in memory as JSON, a tenth packed, and `parse --messages` may hold `max_open` of them.
#[derive(Debug)]
struct Packed(Box<[u8]>);

impl Packed {
    fn new(p: &Partial, packer: &mut Packer) -> Self {
        let json = serde_json::to_vec(p).unwrap_or_default();
        Self(packer.pack(&json).into_boxed_slice())
    }

    fn unpack(&self, packer: &Packer) -> Partial {
        // Written by `new` from a partial: it reads back (floats round-trip, `float_roundtrip`).
        serde_json::from_slice(&packer.unpack(&self.0)).unwrap_or_default()
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
    /// None: still open in the correlator; a partial: finished, waiting for its turn.
    order: Ordered<Option<Packed>>,
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
            order: Ordered::default(),
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
            let key = part.key();
            match self.order.get_mut(&key) {
                Some(Some(held)) => {
                    let mut merged = held.unpack(&self.packer);
                    merge(&mut merged, part);
                    *held = Packed::new(&merged, &mut self.packer);
                }
                Some(None) => to_correlator.push(part),
                None => {
                    self.order.push(key, None);
                    to_correlator.push(part);
                }
            }
        }
        let mut done = Vec::new();
        self.correlator.add(to_correlator, 0, &mut done);
        for p in done {
            self.ready(p);
        }
        self.flush_head(self.max_open, usize::MAX);
    }

    fn write(&mut self, p: &Partial) {
        write_summary(p, &mut self.out);
        self.out.push(b'\n');
        self.written += 1;
    }

    fn ready(&mut self, part: Partial) {
        let key = part.key();
        match self.order.get_mut(&key) {
            // A late line of a message already written: its own partial summary.
            None => self.write(&part),
            Some(slot) => match slot {
                Some(held) => {
                    let mut merged = held.unpack(&self.packer);
                    merge(&mut merged, part);
                    *held = Packed::new(&merged, &mut self.packer);
                }
                None => *slot = Some(Packed::new(&part, &mut self.packer)),
            },
        }
    }

    /// Writes the head of the order while it is finished or the order is over `limit`, until `out`
    /// holds `budget` bytes; true when the order is empty.
    fn flush_head(&mut self, limit: usize, budget: usize) -> bool {
        loop {
            if self.out.len() >= budget {
                return self.order.len() == 0;
            }
            let key = match self.order.front() {
                None => return true,
                Some((key, None)) => {
                    if self.order.len() <= limit {
                        return false;
                    }
                    key.clone()
                }
                Some((key, Some(_))) => key.clone(),
            };
            let held = self.order.remove(&key).flatten();
            let part = match held {
                Some(p) => Some(p.unpack(&self.packer)),
                None => self.correlator.pop(&key),
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
        let packed = self.order.map.values().filter_map(|(_, p)| p.as_ref());
        let (n, bytes) = packed.fold((0, 0), |(n, b), p| (n + 1, b + p.0.len()));
        (self.correlator.len(), n, bytes)
    }

    /// Whether `key` waits here (open or finished).
    pub fn holds(&self, key: &Key) -> bool {
        self.order.contains(key)
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
}
