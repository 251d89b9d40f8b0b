//! What the two in-memory caches of customer reads share ([`crate::facts_cache`]'s facts for
//! CheckPermission, [`crate::customer_cache`]'s whole customers for GetCustomer): a bounded map
//! that answers only while it is *live*, and a write generation that keeps a read which raced
//! with a write from putting the old value back.
//!
//! Live is either open-ended (until [`ReadCache::set_live`] turns it off) or a lease that lapses
//! by itself unless renewed ([`ReadCache::live_until`]): a cache kept true by a connection that
//! may fail silently stops answering once that connection has not been heard from for a while.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::Instant,
};

use crm_domain::customer::values::CustomerId;

/// `until` when live has no end.
const FOREVER: u64 = u64::MAX;
/// `until` when not live.
const OFF: u64 = 0;

/// See the module documentation.
pub(crate) struct ReadCache<V: Clone> {
    entries: quick_cache::sync::Cache<String, V>,
    /// Bumped by every write, before its entries are removed.
    generation: AtomicU64,
    /// Until when lookups may be answered, in nanoseconds after `epoch` ([`FOREVER`], [`OFF`]).
    until: AtomicU64,
    epoch: Instant,
}

impl<V: Clone> std::fmt::Debug for ReadCache<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadCache")
            .field("entries", &self.entries.len())
            .field("live", &self.is_live())
            .finish_non_exhaustive()
    }
}

impl<V: Clone> ReadCache<V> {
    /// An empty cache of at most `capacity` entries, answering lookups from the start only if
    /// `live`.
    pub(crate) fn new(capacity: usize, live: bool) -> Self {
        Self {
            entries: quick_cache::sync::Cache::new(capacity.max(1)),
            generation: AtomicU64::new(0),
            until: AtomicU64::new(if live { FOREVER } else { OFF }),
            epoch: Instant::now(),
        }
    }

    /// Whether lookups may be answered now.
    pub(crate) fn is_live(&self) -> bool {
        match self.until.load(Ordering::Acquire) {
            FOREVER => true,
            OFF => false,
            until => (self.epoch.elapsed().as_nanos() as u64) < until,
        }
    }

    /// The value of `id` if it is known and the cache is live.
    pub(crate) fn get(&self, id: &CustomerId) -> Option<V> {
        if !self.is_live() {
            return None;
        }
        self.entries.get(id.as_str())
    }

    /// The write generation to pass to [`ReadCache::store`]; read it before querying.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Keeps `value`, read from the database after [`ReadCache::generation`] returned
    /// `generation`, unless a write was forgotten since. The entry is stored first and taken back
    /// if the generation moved: a write bumps the generation before removing its entries, so
    /// either this check sees the bump or the write's removal comes after this store.
    pub(crate) fn store(&self, id: &CustomerId, value: &V, generation: u64) {
        if !self.is_live() {
            return;
        }
        self.entries.insert(id.as_str().to_owned(), value.clone());
        if self.generation.load(Ordering::Acquire) != generation {
            self.entries.remove(id.as_str());
        }
    }

    /// Forgets `ids`: call after a write that may have changed them returned (or failed).
    pub(crate) fn forget<'a>(&self, ids: impl IntoIterator<Item = &'a str>) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        for id in ids {
            self.entries.remove(id);
        }
    }

    /// Forgets everything.
    pub(crate) fn forget_all(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.entries.clear();
    }

    /// Starts (`true`, with no end) or stops answering; either way it starts over empty.
    pub(crate) fn set_live(&self, live: bool) {
        self.until.store(OFF, Ordering::Release);
        self.forget_all();
        if live {
            self.until.store(FOREVER, Ordering::Release);
        }
    }

    /// Answers until `until` (a lease); a cache that was off starts over empty. Renewing a
    /// lease keeps the entries, also one that lapsed meanwhile: renew only what is known to have
    /// held throughout (see [`crate::customer_cache`]), and turn the cache off first
    /// ([`ReadCache::set_live`]`(false)`, which empties it) when that is not known.
    pub(crate) fn live_until(&self, until: Instant) {
        let nanos = (until.saturating_duration_since(self.epoch).as_nanos() as u64).clamp(OFF + 1, FOREVER - 1);
        if self.until.load(Ordering::Acquire) == OFF {
            self.forget_all();
        }
        self.until.store(nanos, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn id(text: &str) -> CustomerId {
        CustomerId::parse(text).unwrap()
    }

    #[test]
    fn a_read_that_raced_with_a_write_is_not_kept() {
        let cache = ReadCache::new(10, true);
        let before = cache.generation();
        cache.forget(["cust-1"]);
        cache.store(&id("cust-1"), &1, before);
        assert_eq!(cache.get(&id("cust-1")), None);
        let now = cache.generation();
        cache.store(&id("cust-1"), &1, now);
        assert_eq!(cache.get(&id("cust-1")), Some(1));
        cache.forget(["cust-1"]);
        assert_eq!(cache.get(&id("cust-1")), None);
    }

    #[test]
    fn a_cache_that_is_not_live_answers_nothing_and_keeps_nothing() {
        let cache = ReadCache::new(10, false);
        cache.store(&id("cust-1"), &1, cache.generation());
        assert_eq!(cache.get(&id("cust-1")), None);
        cache.set_live(true);
        cache.store(&id("cust-1"), &1, cache.generation());
        assert_eq!(cache.get(&id("cust-1")), Some(1));
        cache.set_live(false);
        cache.set_live(true);
        assert_eq!(cache.get(&id("cust-1")), None, "going live again starts empty");
    }

    #[test]
    fn a_lease_answers_until_it_lapses_and_a_new_one_starts_empty() {
        let cache = ReadCache::new(10, false);
        cache.live_until(Instant::now() + Duration::from_secs(60));
        cache.store(&id("cust-1"), &1, cache.generation());
        assert_eq!(cache.get(&id("cust-1")), Some(1));
        // Renewed: still answers, nothing forgotten.
        cache.live_until(Instant::now() + Duration::from_secs(60));
        assert_eq!(cache.get(&id("cust-1")), Some(1));
        // Lapsed: answers nothing, keeps nothing.
        cache.live_until(Instant::now());
        assert!(!cache.is_live());
        assert_eq!(cache.get(&id("cust-1")), None);
        cache.store(&id("cust-2"), &2, cache.generation());
        cache.set_live(false);
        cache.live_until(Instant::now() + Duration::from_secs(60));
        assert_eq!(cache.get(&id("cust-1")), None, "a new lease starts empty");
        assert_eq!(cache.get(&id("cust-2")), None);
    }
}
