//! The document under construction: [`Obj`], a small map kept sorted by key in one `Vec`, and its
//! [`Value`]s. It replaces `serde_json`'s maps (a `BTreeMap` with a `String` key per member: about 65
//! allocations per line and a tenth of the instructions in cachegrind): keys the code names are
//! `&'static str`, so a member costs no allocation of its own. Iteration is sorted by key in byte order,
//! as the `BTreeMap` iterated, so the bulk output is unchanged.

use std::borrow::Cow;

/// A member name: the document's own field names are static; tags and table names may be owned.
pub type Key = Cow<'static, str>;

/// An object: members sorted by key (byte order), each key once.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Obj {
    items: Vec<(Key, Value)>,
}

/// A JSON number as `serde_json` keeps it: non-negative integers as `U`, negative as `I`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    U(u64),
    I(i64),
    F(f64),
}

impl Number {
    /// A finite float (JSON has no NaN or infinities).
    pub fn from_f64(f: f64) -> Option<Number> {
        f.is_finite().then_some(Number::F(f))
    }

    pub fn as_f64(&self) -> Option<f64> {
        Some(match *self {
            Number::U(u) => u as f64,
            Number::I(i) => i as f64,
            Number::F(f) => f,
        })
    }

    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Number::U(u) => Some(u),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Number::U(u) => i64::try_from(u).ok(),
            Number::I(i) => Some(i),
            Number::F(_) => None,
        }
    }
}

/// A string value: up to [`INLINE`] bytes held inline (most values are an address, a name, a code:
/// no allocation of their own), longer ones on the heap.
#[derive(Clone)]
pub struct Str(Repr);

#[derive(Clone)]
enum Repr {
    Inline(u8, [u8; INLINE]),
    Heap(Box<str>),
}

/// The longest string held inline: what keeps `Str` at the size of a `String` (and `Value` at 32 bytes).
pub const INLINE: usize = 22;

impl Str {
    #[inline]
    pub fn new(s: &str) -> Self {
        let b = s.as_bytes();
        if b.len() <= INLINE {
            let mut buf = [0u8; INLINE];
            buf[..b.len()].copy_from_slice(b);
            Str(Repr::Inline(b.len() as u8, buf))
        } else {
            Str(Repr::Heap(s.into()))
        }
    }

    /// Held inline (no allocation).
    pub fn is_inline(&self) -> bool {
        matches!(self.0, Repr::Inline(..))
    }

    #[inline]
    pub fn as_str(&self) -> &str {
        match &self.0 {
            // SAFETY: `Repr` is private and only `new` fills `Inline`, with the bytes of a whole `str`
            // of that length (a checked conversion here cost 3% of the instructions: values are read
            // back by the enrichment and the facts, and written).
            Repr::Inline(n, buf) => unsafe {
                std::str::from_utf8_unchecked(&buf[..usize::from(*n)])
            },
            Repr::Heap(s) => s,
        }
    }

    pub fn into_string(self) -> String {
        match self.0 {
            Repr::Heap(s) => s.into_string(),
            Repr::Inline(..) => self.as_str().to_string(),
        }
    }
}

impl std::ops::Deref for Str {
    type Target = str;
    #[inline]
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for Str {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl std::fmt::Debug for Str {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.as_str().fmt(f)
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub enum Value {
    #[default]
    Null,
    Bool(bool),
    Number(Number),
    String(Str),
    Array(Vec<Value>),
    Object(Obj),
}

impl Value {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_object(&self) -> Option<&Obj> {
        match self {
            Value::Object(o) => Some(o),
            _ => None,
        }
    }

    pub fn as_object_mut(&mut self) -> Option<&mut Obj> {
        match self {
            Value::Object(o) => Some(o),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&Vec<Value>> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Number(n) => n.as_u64(),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Number(n) => n.as_i64(),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Number(n) => n.as_f64(),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    pub fn is_string(&self) -> bool {
        matches!(self, Value::String(_))
    }
}

/// Byte order, as `str::cmp`, without the `memcmp` call: keys are short and differ early.
#[inline]
fn key_cmp(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    for (x, y) in a.iter().zip(b) {
        if x != y {
            return x.cmp(y);
        }
    }
    a.len().cmp(&b.len())
}

/// Sections hold a few members, `exim` a dozen: one buffer of 8 to start (not 4, 8, 16).
const INITIAL: usize = 8;

/// Buffers kept for reuse per thread: a document's objects are made and dropped per entry, so
/// the next entry's take them back instead of a malloc and a free each (8 a line).
const POOLED: usize = 64;

type Items = Vec<(Key, Value)>;

thread_local! {
    static POOL: std::cell::RefCell<Vec<Items>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn buffer() -> Items {
    POOL.with(|p| p.borrow_mut().pop())
        .unwrap_or_else(|| Vec::with_capacity(INITIAL))
}

impl Drop for Obj {
    fn drop(&mut self) {
        if self.items.capacity() == 0 {
            return;
        }
        let mut items = std::mem::take(&mut self.items);
        // Members first: their own objects go back to the pool before this one.
        items.clear();
        // `try_with`: a thread's pool may be gone while its last objects drop.
        let _ = POOL.try_with(|p| {
            if let Ok(mut p) = p.try_borrow_mut() {
                if p.len() < POOLED {
                    p.push(items);
                }
            }
        });
    }
}

impl Obj {
    pub fn new() -> Self {
        Self { items: Vec::new() }
    }

    #[inline]
    fn find(&self, k: &str) -> Result<usize, usize> {
        let k = k.as_bytes();
        self.items
            .binary_search_by(|(x, _)| key_cmp(x.as_bytes(), k))
    }

    /// Sets `k` (replacing its value when present, as `BTreeMap::insert`); returns the old value.
    pub fn insert(&mut self, k: Key, v: Value) -> Option<Value> {
        // Members mostly come in key order: after the last one is a push, no search.
        match self.items.last() {
            None => {
                if self.items.capacity() == 0 {
                    self.items = buffer();
                }
                self.items.push((k, v));
                return None;
            }
            Some((last, _)) if key_cmp(last.as_bytes(), k.as_bytes()).is_lt() => {
                self.items.push((k, v));
                return None;
            }
            _ => {}
        }
        match self.find(&k) {
            Ok(i) => Some(std::mem::replace(&mut self.items[i].1, v)),
            Err(i) => {
                if self.items.capacity() == 0 {
                    self.items = buffer();
                }
                self.items.insert(i, (k, v));
                None
            }
        }
    }

    pub fn get(&self, k: &str) -> Option<&Value> {
        self.find(k).ok().map(|i| &self.items[i].1)
    }

    pub fn get_mut(&mut self, k: &str) -> Option<&mut Value> {
        match self.find(k) {
            Ok(i) => Some(&mut self.items[i].1),
            Err(_) => None,
        }
    }

    pub fn contains_key(&self, k: &str) -> bool {
        self.find(k).is_ok()
    }

    pub fn remove(&mut self, k: &str) -> Option<Value> {
        self.find(k).ok().map(|i| self.items.remove(i).1)
    }

    /// The value of `k`, made by `f` first when absent; the key is owned only then.
    pub fn entry_or_insert_with(
        &mut self,
        k: &str,
        owned: impl FnOnce() -> Key,
        f: impl FnOnce() -> Value,
    ) -> &mut Value {
        let after_last = self
            .items
            .last()
            .is_some_and(|(last, _)| key_cmp(last.as_bytes(), k.as_bytes()).is_lt());
        if after_last {
            self.items.push((owned(), f()));
            let i = self.items.len() - 1;
            return &mut self.items[i].1;
        }
        let i = match self.find(k) {
            Ok(i) => i,
            Err(i) => {
                if self.items.capacity() == 0 {
                    self.items = buffer();
                }
                self.items.insert(i, (owned(), f()));
                i
            }
        };
        &mut self.items[i].1
    }

    /// `entry(k).or_insert_with(f)` for a static key.
    pub fn or_insert_with(&mut self, k: &'static str, f: impl FnOnce() -> Value) -> &mut Value {
        self.entry_or_insert_with(k, || Cow::Borrowed(k), f)
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Members in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.items.iter().map(|(k, v)| (k.as_ref(), v))
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.items.iter().map(|(k, _)| k.as_ref())
    }

    pub fn values(&self) -> impl Iterator<Item = &Value> {
        self.items.iter().map(|(_, v)| v)
    }

    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut Value> {
        self.items.iter_mut().map(|(_, v)| v)
    }
}

impl IntoIterator for Obj {
    type Item = (Key, Value);
    type IntoIter = std::vec::IntoIter<(Key, Value)>;
    fn into_iter(mut self) -> Self::IntoIter {
        std::mem::take(&mut self.items).into_iter()
    }
}

impl<'a> IntoIterator for &'a Obj {
    type Item = (&'a str, &'a Value);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (Key, Value)>,
        fn(&'a (Key, Value)) -> (&'a str, &'a Value),
    >;
    fn into_iter(self) -> Self::IntoIter {
        self.items.iter().map(|(k, v)| (k.as_ref(), v))
    }
}

impl Extend<(Key, Value)> for Obj {
    fn extend<T: IntoIterator<Item = (Key, Value)>>(&mut self, iter: T) {
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

impl FromIterator<(Key, Value)> for Obj {
    fn from_iter<T: IntoIterator<Item = (Key, Value)>>(iter: T) -> Self {
        let mut o = Obj::new();
        o.extend(iter);
        o
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(Str::new(s))
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        if s.len() <= INLINE {
            Value::String(Str::new(&s))
        } else {
            Value::String(Str(Repr::Heap(s.into_boxed_str())))
        }
    }
}

impl From<&String> for Value {
    fn from(s: &String) -> Self {
        Value::String(Str::new(s))
    }
}

impl From<Cow<'_, str>> for Value {
    fn from(s: Cow<'_, str>) -> Self {
        match s {
            Cow::Borrowed(s) => s.into(),
            Cow::Owned(s) => s.into(),
        }
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<u64> for Value {
    fn from(n: u64) -> Self {
        Value::Number(Number::U(n))
    }
}

impl From<u32> for Value {
    fn from(n: u32) -> Self {
        Value::Number(Number::U(n.into()))
    }
}

impl From<u16> for Value {
    fn from(n: u16) -> Self {
        Value::Number(Number::U(n.into()))
    }
}

impl From<u8> for Value {
    fn from(n: u8) -> Self {
        Value::Number(Number::U(n.into()))
    }
}

impl From<usize> for Value {
    fn from(n: usize) -> Self {
        Value::Number(Number::U(n as u64))
    }
}

impl From<i64> for Value {
    fn from(n: i64) -> Self {
        Value::Number(match u64::try_from(n) {
            Ok(u) => Number::U(u),
            Err(_) => Number::I(n),
        })
    }
}

impl From<i32> for Value {
    fn from(n: i32) -> Self {
        i64::from(n).into()
    }
}

impl From<f64> for Value {
    /// As `serde_json`: a non-finite float is null.
    fn from(f: f64) -> Self {
        Number::from_f64(f).map_or(Value::Null, Value::Number)
    }
}

impl From<Number> for Value {
    fn from(n: Number) -> Self {
        Value::Number(n)
    }
}

impl From<Obj> for Value {
    fn from(o: Obj) -> Self {
        Value::Object(o)
    }
}

impl<T: Into<Value>> From<Vec<T>> for Value {
    fn from(v: Vec<T>) -> Self {
        Value::Array(v.into_iter().map(Into::into).collect())
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

impl From<serde_json::Value> for Value {
    /// A `serde_json` value (the tests' expectations, the tables) as a document value.
    fn from(v: serde_json::Value) -> Self {
        use serde_json::Value as J;
        match v {
            J::Null => Value::Null,
            J::Bool(b) => Value::Bool(b),
            J::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
                (Some(u), _, _) => u.into(),
                (None, Some(i), _) => i.into(),
                (None, None, Some(f)) => f.into(),
                _ => Value::Null,
            },
            J::String(s) => s.into(),
            J::Array(a) => Value::Array(a.into_iter().map(Value::from).collect()),
            J::Object(m) => {
                Value::Object(m.into_iter().map(|(k, v)| (k.into(), v.into())).collect())
            }
        }
    }
}

impl<'de> serde::Deserialize<'de> for Value {
    /// Through `serde_json::Value`: the tests' expectations only.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde_json::Value::deserialize(d).map(Value::from)
    }
}

static NULL: Value = Value::Null;

impl std::ops::Index<&str> for Obj {
    type Output = Value;
    /// `serde_json`'s indexing: null when absent.
    fn index(&self, k: &str) -> &Value {
        self.get(k).unwrap_or(&NULL)
    }
}

impl std::ops::Index<&str> for Value {
    type Output = Value;
    fn index(&self, k: &str) -> &Value {
        self.as_object().and_then(|o| o.get(k)).unwrap_or(&NULL)
    }
}

impl PartialEq<&str> for Value {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == Some(*other)
    }
}

impl serde::Serialize for Value {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Number(Number::U(u)) => s.serialize_u64(*u),
            Value::Number(Number::I(i)) => s.serialize_i64(*i),
            Value::Number(Number::F(f)) => s.serialize_f64(*f),
            Value::String(x) => s.serialize_str(x),
            Value::Array(a) => s.collect_seq(a),
            Value::Object(o) => o.serialize(s),
        }
    }
}

impl serde::Serialize for Obj {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_are_kept_in_key_order_once_each() {
        let mut o = Obj::new();
        for (k, v) in [
            ("b", 1u64),
            ("a", 2),
            ("c", 3),
            ("a", 4),
            ("ab", 5),
            ("B", 6),
        ] {
            o.insert(k.into(), v.into());
        }
        let keys: Vec<&str> = o.keys().collect();
        assert_eq!(keys, ["B", "a", "ab", "b", "c"]);
        assert_eq!(o.get("a"), Some(&Value::from(4u64)));
        assert_eq!(o.remove("ab"), Some(Value::from(5u64)));
        assert!(!o.contains_key("ab"));
        let j = serde_json::json!({"b": 1, "a": 4, "c": 3, "B": 6});
        assert_eq!(serde_json::to_value(&o).unwrap(), j);
        assert_eq!(Value::from(j), Value::Object(o));
    }

    #[test]
    fn keys_compare_in_byte_order() {
        let keys = [
            "",
            "\0",
            "a",
            "a\0",
            "a\0\0b",
            "ab",
            "abc",
            "abcd",
            "abcd\0",
            "abcde",
            "abcdefg",
            "abcdefgh",
            "abcdefgh\0",
            "abcdefghi",
            "abcdefghij",
            "abcdefgz",
            "abcz",
            "b",
            "é",
            "ü\0x",
        ];
        for a in keys {
            for b in keys {
                assert_eq!(key_cmp(a.as_bytes(), b.as_bytes()), a.cmp(b), "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn short_strings_are_inline_and_values_stay_small() {
        for s in ["", "a", "é", &"x".repeat(INLINE), &"y".repeat(INLINE + 1)] {
            let v = Value::from(s);
            assert_eq!(v.as_str(), Some(s));
            assert_eq!(v, Value::from(s.to_string()));
            let inline = matches!(&v, Value::String(s) if s.is_inline());
            assert_eq!(inline, s.len() <= INLINE, "{s}");
        }
        assert_eq!(std::mem::size_of::<Str>(), std::mem::size_of::<String>());
        assert_eq!(std::mem::size_of::<Value>(), 32);
    }

    #[test]
    fn pooled_buffers_come_back_empty() {
        let make = |n: u64| {
            let mut inner = Obj::new();
            inner.insert("x".into(), n.into());
            let mut o = Obj::new();
            o.insert("inner".into(), inner.into());
            o.insert("n".into(), n.into());
            o
        };
        for n in 0..200 {
            let o = make(n);
            let mut fresh = Obj::new();
            fresh.insert("only".into(), true.into());
            assert_eq!(fresh.len(), 1);
            assert_eq!(o["inner"]["x"], Value::from(n));
            assert_eq!(o.clone().into_iter().count(), 2);
        }
    }

    #[test]
    fn numbers_are_kept_as_serde_json_keeps_them() {
        assert_eq!(Value::from(5i64), Value::from(5u64));
        assert_eq!(Value::from(-5i64).as_u64(), None);
        assert_eq!(Value::from(f64::NAN), Value::Null);
        let j = serde_json::json!([1, -2, 1.5]);
        assert_eq!(
            Value::from(j),
            Value::Array(vec![1u64.into(), (-2i64).into(), 1.5.into()])
        );
    }
}
