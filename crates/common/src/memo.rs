//! A bounded memory of things a service learned at some cost (a verified
//! token, a locked account, a campaign's problems), shared by its requests.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;

/// At most `capacity` entries. When it is full, the entries no longer live
/// are dropped; if that frees nothing, it starts over. Losing an entry only
/// costs learning it again, so neither a flood of new keys nor a poisoned
/// lock can turn into a failure: they turn into misses.
#[derive(Debug)]
pub struct Memo<K, V> {
    entries: Mutex<HashMap<K, V>>,
    capacity: usize,
}

impl<K: Eq + Hash, V: Clone> Memo<K, V> {
    /// A memo that holds at most `capacity` entries.
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: Mutex::default(),
            capacity: capacity.max(1),
        }
    }

    /// The entry of `key`, if there is one and it is `live`.
    pub fn get<Q>(&self, key: &Q, live: impl Fn(&V) -> bool) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        let entries = self.entries.lock().ok()?;
        entries.get(key).filter(|value| live(value)).cloned()
    }

    /// Remembers `value` under `key`, making room as the type says.
    pub fn insert(&self, key: K, value: V, live: impl Fn(&V) -> bool) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            entries.retain(|_, value| live(value));
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(key, value);
    }

    /// Forgets the entries `forget` picks.
    pub fn forget(&self, forget: impl Fn(&K, &V) -> bool) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.retain(|key, value| !forget(key, value));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_it_drops_the_dead_then_starts_over() {
        let memo = Memo::new(2);
        let live = |v: &i32| *v > 0;
        memo.insert("a", 1, live);
        memo.insert("dead", -1, live);
        assert_eq!(memo.get("dead", live), None, "present but not live");
        assert_eq!(memo.get("dead", |_| true), Some(-1));
        // Full: the dead entry makes room.
        memo.insert("b", 2, live);
        assert_eq!(
            (
                memo.get("a", live),
                memo.get("b", live),
                memo.get("dead", |_| true)
            ),
            (Some(1), Some(2), None)
        );
        // Full of live ones: it starts over with the new one.
        memo.insert("c", 3, live);
        assert_eq!((memo.get("a", live), memo.get("c", live)), (None, Some(3)));
        memo.forget(|key, _| *key == "c");
        assert_eq!(memo.get("c", live), None);
    }
}
