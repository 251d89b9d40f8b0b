//! What the two in-memory caches of customer reads share ([`crate::facts_cache`]'s facts for
//! CheckPermission, [`crate::customer_cache`]'s whole customers for GetCustomer): a bounded map
//! that answers only while it is *live*, and a write generation that keeps a read which raced
//! with a write from putting the old value back.
//!
//! Live is either open-ended (until [`ReadCache::set_live`] turns it off) or a lease that lapses
//! by itself unless renewed ([`ReadCache::live_until`]): a cache kept true by a connection that
//! may fail silently stops answering once that connection has not been heard from for a while.

use std::{
    hash::BuildHasher as _,
    sync::atomic::{AtomicU64, Ordering},
    time::Instant,
};

use crm_domain::customer::values::CustomerId;

/// `until` when live has no end.
const FOREVER: u64 = u64::MAX;
/// `until` when not live.
const OFF: u64 = 0;
/// How many write counters the ids are spread over: a write's store is refused when another
/// write of the same stripe came between its start and its end, so enough that that is rare.
const STRIPES: usize = 1024;

/// See the module documentation.
pub(crate) struct ReadCache<V: Clone> {
    entries: quick_cache::sync::Cache<String, V>,
    /// Bumped by every write, before its entries are removed.
    generation: AtomicU64,
    /// The same per stripe of ids (a write bumps its ids' stripes too), so that a write can keep
    /// what it wrote unless a write of the same stripe came in between ([`ReadCache::keep_written`]).
    stripes: Box<[AtomicU64]>,
    stripe_hasher: std::hash::RandomState,
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
            stripes: (0..STRIPES).map(|_| AtomicU64::new(0)).collect(),
            stripe_hasher: std::hash::RandomState::new(),
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

    /// The generation of `id`'s writes, to pass to [`ReadCache::keep_written`]: read it before
    /// sending the write.
    pub(crate) fn write_generation(&self, id: &CustomerId) -> u64 {
        self.stripe(id.as_str()).load(Ordering::Acquire)
    }

    /// Keeps `value`, which a write of this process has just committed for `id` (having read
    /// [`ReadCache::write_generation`] before sending it), in place of what was known of it: call
    /// instead of [`ReadCache::forget`] after a write known to have committed.
    ///
    /// Like a forget it first bumps the generation, so that a read that raced with the write
    /// cannot put the old value back. It keeps the value only if no other write of `id` (nor a
    /// forget of everything) bumped `id`'s stripe since `before`: such a write may be newer and
    /// have stored or forgotten its own value already. And if one bumps it between this store and
    /// the check after it, the entry is taken back: that write's own store or removal then comes
    /// after this one.
    pub(crate) fn keep_written(&self, id: &CustomerId, value: &V, before: u64) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        let stripe = self.stripe(id.as_str());
        let mine = stripe.fetch_add(1, Ordering::AcqRel) + 1;
        if mine != before.wrapping_add(1) || !self.is_live() {
            self.entries.remove(id.as_str());
            return;
        }
        self.entries.insert(id.as_str().to_owned(), value.clone());
        if stripe.load(Ordering::Acquire) != mine {
            self.entries.remove(id.as_str());
        }
    }

    /// The write counter of the stripe `id` falls in.
    fn stripe(&self, id: &str) -> &AtomicU64 {
        let index = self.stripe_hasher.hash_one(id) as usize % STRIPES;
        &self.stripes[index]
    }

    /// Forgets `ids`: call after a write that may have changed them returned (or failed).
    pub(crate) fn forget<'a>(&self, ids: impl IntoIterator<Item = &'a str>) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        for id in ids {
            self.stripe(id).fetch_add(1, Ordering::AcqRel);
            self.entries.remove(id);
        }
    }

    /// Forgets everything.
    pub(crate) fn forget_all(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        for stripe in &self.stripes {
            stripe.fetch_add(1, Ordering::AcqRel);
        }
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
    fn a_written_value_replaces_what_was_known_unless_another_write_came_between() {
        let cache = ReadCache::new(10, true);
        let read_before_the_write = cache.generation();
        cache.store(&id("cust-1"), &1, read_before_the_write);
        let before = cache.write_generation(&id("cust-1"));
        cache.keep_written(&id("cust-1"), &2, before);
        assert_eq!(cache.get(&id("cust-1")), Some(2));
        // A read that started before the write and stores late is taken back.
        cache.store(&id("cust-1"), &1, read_before_the_write);
        assert_eq!(cache.get(&id("cust-1")), None);
        // Two writes of the same customer overlapping: the one that ends last keeps nothing and
        // takes the other's value back too (it cannot tell which of the two is newer).
        let first = cache.write_generation(&id("cust-1"));
        let second = cache.write_generation(&id("cust-1"));
        cache.keep_written(&id("cust-1"), &4, second);
        cache.keep_written(&id("cust-1"), &3, first);
        assert_eq!(
            cache.get(&id("cust-1")),
            None,
            "an older write must not hide a newer one"
        );
        // A write of another customer does not stop it (unless they share a stripe).
        let before = cache.write_generation(&id("cust-1"));
        cache.forget(["cust-2"]);
        cache.keep_written(&id("cust-1"), &5, before);
        let shared = cache.stripe("cust-1").load(Ordering::Acquire) == before + 2;
        assert_eq!(cache.get(&id("cust-1")), if shared { None } else { Some(5) });
        // Forgetting everything in between stops it.
        let before = cache.write_generation(&id("cust-1"));
        cache.forget_all();
        cache.keep_written(&id("cust-1"), &6, before);
        assert_eq!(cache.get(&id("cust-1")), None);
        cache.set_live(false);
        let before = cache.write_generation(&id("cust-1"));
        cache.keep_written(&id("cust-1"), &7, before);
        cache.set_live(true);
        assert_eq!(cache.get(&id("cust-1")), None, "nothing is kept while not live");
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
