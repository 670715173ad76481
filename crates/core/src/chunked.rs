//! A list kept in fixed-size chunks behind `Arc`s, so that two versions of a tenant share every chunk that one
//! write did not touch (issue 11, incremental writes).
//!
//! Cloning a list of 100,000 flows copies 400 pointers instead of 100,000 flows; changing one flow copies the
//! one chunk of 256 it sits in. Reading item `i` costs two bounds-checked indexings, so the decision path stays
//! as fast as over a `Vec`. Comparing two versions skips every chunk they share ([`Chunked::differing`]), which
//! is how a write finds what it changed without being told.
//!
//! Every chunk but the last holds exactly [`CHUNK`] items, and the last (the tail) fewer: item `i` is always at
//! `[i / CHUNK][i % CHUNK]`.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Items per chunk: small enough that copying one on a write is cheap (a few microseconds for users or flows),
/// large enough that a clone of the whole list is a few hundred pointers.
pub const CHUNK: usize = 256;
const SHIFT: u32 = CHUNK.trailing_zeros();
const MASK: usize = CHUNK - 1;

/// A list of `T` in shared chunks (see the module's doc).
///
/// Full chunks are `Arc<[T]>`, so that reading item `i` is two dependent loads, as close to a `Vec` as shared
/// memory gets (the decision path reads records this way); the items after the last full chunk are a growable
/// `tail`, so that pushing one item costs O(1), amortised.
pub struct Chunked<T> {
    full: Vec<Arc<[T]>>,
    /// Fewer than [`CHUNK`] items.
    tail: Arc<Vec<T>>,
    len: usize,
}

impl<T> Chunked<T> {
    pub fn new() -> Chunked<T> {
        Chunked {
            full: Vec::new(),
            tail: Arc::new(Vec::new()),
            len: 0,
        }
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline]
    pub fn get(&self, i: usize) -> Option<&T> {
        let k = i >> SHIFT;
        match self.full.get(k) {
            Some(chunk) => chunk.get(i & MASK),
            None if k == self.full.len() => self.tail.get(i & MASK),
            None => None,
        }
    }

    pub fn first(&self) -> Option<&T> {
        self.get(0)
    }

    pub fn last(&self) -> Option<&T> {
        self.tail.last().or_else(|| self.full.last()?.last())
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &T> + ExactSizeIterator + Clone {
        Iter {
            list: self,
            front: 0,
            back: self.len,
        }
    }

    /// The number of chunks (see [`Chunked::chunk`]).
    pub fn chunk_count(&self) -> usize {
        self.full.len() + usize::from(!self.tail.is_empty())
    }

    /// Chunk `k`: items `k * CHUNK ..`.
    pub fn chunk(&self, k: usize) -> &[T] {
        match self.full.get(k) {
            Some(chunk) => chunk,
            None if k == self.full.len() => self.tail.as_slice(),
            None => &[],
        }
    }

    /// Whether chunk `k` is the very same memory in both lists (so equal without looking).
    pub fn shares_chunk(&self, other: &Chunked<T>, k: usize) -> bool {
        match (self.full.get(k), other.full.get(k)) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => {
                k == self.full.len()
                    && k == other.full.len()
                    && !self.tail.is_empty()
                    && Arc::ptr_eq(&self.tail, &other.tail)
            }
            _ => false,
        }
    }

    fn from_vec(items: Vec<T>) -> Chunked<T> {
        let len = items.len();
        let mut full = Vec::with_capacity(len / CHUNK);
        let mut rest = items.into_iter();
        while full.len() < len / CHUNK {
            full.push(rest.by_ref().take(CHUNK).collect::<Arc<[T]>>());
        }
        let mut tail = Vec::with_capacity(CHUNK);
        tail.extend(rest);
        Chunked {
            full,
            tail: Arc::new(tail),
            len,
        }
    }
}

impl<T: Clone> Chunked<T> {
    /// Item `i`, for changing: its chunk is copied first if another version shares it.
    pub fn get_mut(&mut self, i: usize) -> Option<&mut T> {
        let k = i >> SHIFT;
        let n = self.full.len();
        match self.full.get_mut(k) {
            Some(chunk) => Arc::make_mut(chunk).get_mut(i & MASK),
            None if k == n => Arc::make_mut(&mut self.tail).get_mut(i & MASK),
            None => None,
        }
    }

    pub fn last_mut(&mut self) -> Option<&mut T> {
        if self.tail.is_empty() {
            Arc::make_mut(self.full.last_mut()?).last_mut()
        } else {
            Arc::make_mut(&mut self.tail).last_mut()
        }
    }

    pub fn push(&mut self, item: T) {
        let tail = Arc::make_mut(&mut self.tail);
        tail.push(item);
        if tail.len() == CHUNK {
            let chunk: Arc<[T]> = std::mem::replace(tail, Vec::with_capacity(CHUNK)).into();
            self.full.push(chunk);
        }
        self.len += 1;
    }

    pub fn pop(&mut self) -> Option<T> {
        if self.tail.is_empty() {
            let last = self.full.pop()?;
            self.tail = Arc::new(last.to_vec());
        }
        let item = Arc::make_mut(&mut self.tail).pop();
        if item.is_some() {
            self.len -= 1;
        }
        item
    }

    /// Every item, for changing: copies every chunk another version shares.
    pub fn iter_mut(&mut self) -> impl DoubleEndedIterator<Item = &mut T> {
        let Chunked { full, tail, .. } = self;
        full.iter_mut()
            .flat_map(|c| Arc::make_mut(c).iter_mut())
            .chain(Arc::make_mut(tail).iter_mut())
    }

    /// Runs `edit` on the items from chunk `k` on, then chunks them again: the chunks before `k` stay shared.
    fn edit_from(&mut self, k: usize, edit: impl FnOnce(&mut Vec<T>)) {
        let k = k.min(self.full.len());
        let mut rest: Vec<T> = Vec::with_capacity(self.len - k * CHUNK);
        for chunk in self.full.drain(k..) {
            rest.extend(chunk.iter().cloned());
        }
        rest.extend(Arc::unwrap_or_clone(std::mem::take(&mut self.tail)));
        edit(&mut rest);
        let again = Chunked::from_vec(rest);
        self.full.extend(again.full);
        self.tail = again.tail;
        self.len = k * CHUNK + again.len;
    }

    /// Inserts at `i` (at most `len`), moving the later items up: costs the items after `i`.
    pub fn insert(&mut self, i: usize, item: T) {
        let i = i.min(self.len);
        self.edit_from(i >> SHIFT, |rest| rest.insert(i & MASK, item));
    }

    /// Removes item `i`, if there is one: costs the items after `i`.
    pub fn remove(&mut self, i: usize) -> Option<T> {
        if i >= self.len {
            return None;
        }
        let mut removed = None;
        self.edit_from(i >> SHIFT, |rest| removed = Some(rest.remove(i & MASK)));
        removed
    }

    /// Keeps the items `keep` says yes to: the chunks before the first one dropped stay shared.
    pub fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        let Some(first) = self.iter().position(|t| !keep(t)) else {
            return;
        };
        let k = first >> SHIFT;
        let mut seen = k * CHUNK;
        self.edit_from(k, |rest| {
            rest.retain(|t| {
                let i = seen;
                seen += 1;
                i < first || (i != first && keep(t))
            })
        });
    }

    /// Sorts the whole list (stable).
    pub fn sort_by(&mut self, compare: impl FnMut(&T, &T) -> std::cmp::Ordering) {
        self.edit_from(0, |all| all.sort_by(compare));
    }

    pub fn to_vec(&self) -> Vec<T> {
        self.iter().cloned().collect()
    }

    /// The places where `other` differs from `self`: the indices below both lengths whose items differ, found
    /// by comparing only the chunks the two do not share; `None` when that takes more than `limit` of them.
    /// Items past the shorter list's end are the caller's to compare by length.
    pub fn differing(&self, other: &Chunked<T>, limit: usize) -> Option<Vec<usize>>
    where
        T: PartialEq,
    {
        let mut out = Vec::new();
        let common = self.chunk_count().min(other.chunk_count());
        for k in 0..common {
            if self.shares_chunk(other, k) {
                continue;
            }
            for (j, (a, b)) in self.chunk(k).iter().zip(other.chunk(k)).enumerate() {
                if a != b {
                    if out.len() == limit {
                        return None;
                    }
                    out.push(k * CHUNK + j);
                }
            }
        }
        Some(out)
    }
}

struct Iter<'a, T> {
    list: &'a Chunked<T>,
    front: usize,
    back: usize,
}

impl<T> Clone for Iter<'_, T> {
    fn clone(&self) -> Self {
        Iter {
            list: self.list,
            front: self.front,
            back: self.back,
        }
    }
}

impl<'a, T> Iterator for Iter<'a, T> {
    type Item = &'a T;

    #[inline]
    fn next(&mut self) -> Option<&'a T> {
        if self.front >= self.back {
            return None;
        }
        let item = self.list.get(self.front);
        self.front += 1;
        item
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.back - self.front;
        (n, Some(n))
    }
}

impl<T> DoubleEndedIterator for Iter<'_, T> {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.front >= self.back {
            return None;
        }
        self.back -= 1;
        self.list.get(self.back)
    }
}

impl<T> ExactSizeIterator for Iter<'_, T> {}

impl<T> Clone for Chunked<T> {
    /// Shares every chunk: a few hundred pointer copies for a big list.
    fn clone(&self) -> Self {
        Chunked {
            full: self.full.clone(),
            tail: Arc::clone(&self.tail),
            len: self.len,
        }
    }
}

impl<T> Default for Chunked<T> {
    fn default() -> Self {
        Chunked::new()
    }
}

impl<T: fmt::Debug> fmt::Debug for Chunked<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<T: PartialEq> PartialEq for Chunked<T> {
    /// Shared chunks are equal without a look.
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len
            && (0..self.chunk_count()).all(|k| self.shares_chunk(other, k) || self.chunk(k) == other.chunk(k))
    }
}

impl<T: Eq> Eq for Chunked<T> {}

impl<T> std::ops::Index<usize> for Chunked<T> {
    type Output = T;

    /// Panics past the end, as a `Vec` does: for tests; code uses [`Chunked::get`].
    #[expect(clippy::panic, reason = "the contract of `Index`, as for a `Vec`")]
    fn index(&self, i: usize) -> &T {
        match self.get(i) {
            Some(item) => item,
            None => panic!("index {i} out of range for a list of {}", self.len),
        }
    }
}

impl<T: Clone> std::ops::IndexMut<usize> for Chunked<T> {
    #[expect(clippy::panic, reason = "the contract of `IndexMut`, as for a `Vec`")]
    fn index_mut(&mut self, i: usize) -> &mut T {
        let len = self.len;
        match self.get_mut(i) {
            Some(item) => item,
            None => panic!("index {i} out of range for a list of {len}"),
        }
    }
}

impl<T> From<Vec<T>> for Chunked<T> {
    fn from(items: Vec<T>) -> Self {
        Chunked::from_vec(items)
    }
}

impl<T> FromIterator<T> for Chunked<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        Chunked::from_vec(iter.into_iter().collect())
    }
}

impl<T: Clone> Extend<T> for Chunked<T> {
    fn extend<I: IntoIterator<Item = T>>(&mut self, iter: I) {
        for item in iter {
            self.push(item);
        }
    }
}

impl<'a, T> IntoIterator for &'a Chunked<T> {
    type Item = &'a T;
    type IntoIter = Box<dyn DoubleEndedIterator<Item = &'a T> + 'a>;

    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.iter())
    }
}

impl<'a, T: Clone> IntoIterator for &'a mut Chunked<T> {
    type Item = &'a mut T;
    type IntoIter = Box<dyn DoubleEndedIterator<Item = &'a mut T> + 'a>;

    /// Copies every chunk another version shares.
    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.iter_mut())
    }
}

impl<T: Clone> IntoIterator for Chunked<T> {
    type Item = T;
    type IntoIter = std::vec::IntoIter<T>;

    /// Takes the items; chunks are copied (full ones always, the tail if another version shares it).
    fn into_iter(self) -> Self::IntoIter {
        let mut items = Vec::with_capacity(self.len);
        for chunk in self.full {
            items.extend(chunk.iter().cloned());
        }
        items.extend(Arc::unwrap_or_clone(self.tail));
        items.into_iter()
    }
}

impl<T: Serialize> Serialize for Chunked<T> {
    /// As a plain sequence: a stored or exported scenario is byte-for-byte what a `Vec` would give.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Chunked<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Vec::<T>::deserialize(deserializer).map(Chunked::from_vec)
    }
}

impl<T: schemars::JsonSchema> schemars::JsonSchema for Chunked<T> {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> std::borrow::Cow<'static, str> {
        <Vec<T>>::schema_name()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        <Vec<T>>::json_schema(generator)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// One edit of a list, applied to a `Vec` and a `Chunked` alike.
    #[derive(Debug, Clone)]
    enum Edit {
        Push(u32),
        Pop,
        Set(usize, u32),
        Insert(usize, u32),
        Remove(usize),
        RetainOdd,
    }

    fn edit() -> impl Strategy<Value = Edit> {
        prop_oneof![
            4 => any::<u32>().prop_map(Edit::Push),
            1 => Just(Edit::Pop),
            3 => (any::<usize>(), any::<u32>()).prop_map(|(i, v)| Edit::Set(i, v)),
            2 => (any::<usize>(), any::<u32>()).prop_map(|(i, v)| Edit::Insert(i, v)),
            2 => any::<usize>().prop_map(Edit::Remove),
            1 => Just(Edit::RetainOdd),
        ]
    }

    fn invariant(c: &Chunked<u32>) {
        for (k, chunk) in c.full.iter().enumerate() {
            assert_eq!(chunk.len(), CHUNK, "full chunk {k} holds {}", chunk.len());
        }
        assert!(c.tail.len() < CHUNK, "the tail holds {}", c.tail.len());
        assert_eq!(c.full.len() * CHUNK + c.tail.len(), c.len);
    }

    proptest! {
        /// A `Chunked` behaves as a `Vec` under any edits, keeps its chunks full, and an edit of one item leaves
        /// every other chunk shared with the version before it.
        #[test]
        fn chunked_behaves_as_a_vec(start in 0usize..1200, edits in prop::collection::vec(edit(), 0..40)) {
            let mut v: Vec<u32> = (0..start as u32).collect();
            let mut c: Chunked<u32> = v.clone().into();
            for e in edits {
                let before = c.clone();
                match e {
                    Edit::Push(x) => { v.push(x); c.push(x); }
                    Edit::Pop => { prop_assert_eq!(v.pop(), c.pop()); }
                    Edit::Set(i, x) => {
                        if !v.is_empty() {
                            let i = i % v.len();
                            if let Some(slot) = v.get_mut(i) { *slot = x; }
                            if let Some(slot) = c.get_mut(i) { *slot = x; }
                            let moved = (0..c.chunk_count()).filter(|k| !c.shares_chunk(&before, *k)).count();
                            prop_assert!(moved <= 1, "one set copied {} chunks", moved);
                            let d = before.differing(&c, usize::MAX).unwrap_or_default();
                            prop_assert!(d.len() <= 1);
                        }
                    }
                    Edit::Insert(i, x) => { let i = i % (v.len() + 1); v.insert(i, x); c.insert(i, x); }
                    Edit::Remove(i) => {
                        if !v.is_empty() {
                            let i = i % v.len();
                            prop_assert_eq!(Some(v.remove(i)), c.remove(i));
                        }
                    }
                    Edit::RetainOdd => { v.retain(|x| x % 2 == 1); c.retain(|x| x % 2 == 1); }
                }
                invariant(&c);
                prop_assert_eq!(c.len(), v.len());
                prop_assert_eq!(c.iter().copied().collect::<Vec<_>>(), v.clone());
                prop_assert_eq!(c.iter().rev().copied().collect::<Vec<_>>(), v.iter().rev().copied().collect::<Vec<_>>());
                prop_assert_eq!(c.clone().into_iter().collect::<Vec<_>>(), v.clone());
                prop_assert_eq!(c.clone(), Chunked::from(v.clone()));
            }
        }
    }

    #[test]
    fn serialises_as_a_plain_list() {
        let c: Chunked<u32> = (0..600).collect();
        let v: Vec<u32> = (0..600).collect();
        assert_eq!(serde_json::to_string(&c).ok(), serde_json::to_string(&v).ok());
        let back: Result<Chunked<u32>, _> = serde_json::from_str("[1,2,3]");
        assert_eq!(back.ok().map(|c| c.to_vec()), Some(vec![1, 2, 3]));
    }

    #[test]
    fn differing_finds_the_one_changed_item_and_gives_up_past_the_limit() {
        let a: Chunked<u32> = (0..1000).collect();
        let mut b = a.clone();
        if let Some(x) = b.get_mut(700) {
            *x = 7;
        }
        assert_eq!(a.differing(&b, 10), Some(vec![700]));
        let c: Chunked<u32> = (0..1000).map(|x| x + 1).collect();
        assert_eq!(a.differing(&c, 10), None);
    }
}
