//! The facts access decisions read about a customer (owner, department, grade), kept in memory so
//! that CheckPermission and BatchCheckPermissions need no query for a customer seen before.
//!
//! # What keeps it true
//! - **This replica's writes.** Every statement that may change a customer's facts (an update, a
//!   classification, a batch re-classification) forgets the entries it touched once it has
//!   returned, before its caller answers. A read that raced with the write cannot put the old
//!   facts back: a reader stores what it read only if no write was forgotten meanwhile (a
//!   generation counter, checked after storing; see [`crate::read_cache::ReadCache::store`]).
//! - **Other replicas' writes (PostgreSQL).** A trigger (migration `notify_customer_facts`) sends
//!   the id of every customer whose owner, department or grade changed, or that was deleted, on
//!   [`FACTS_CHANNEL`] when its transaction commits. [`follow_changes`] forgets each one. The cache
//!   is used only while that listener is connected: until it first listens, and from the moment
//!   its connection fails until it listens again, every lookup goes to the database and the cache
//!   starts empty afterwards (notifications sent meanwhile are lost). A connection that dies
//!   silently is bounded by forgetting everything every [`FORGET_ALL_EVERY`].
//! - **SQLite** has one process per file: its own writes are all there are, so the cache is live
//!   from the start (and forgets everything every [`FORGET_ALL_EVERY`] all the same).
//!
//! On another replica a change is therefore seen as soon as its notification arrives (a few
//! milliseconds on one network), as role bindings and keys are; on the writing replica at once.
//! Writes never use the cache: they authorise against the row they read.

use std::time::Duration;

use crm_domain::access::CustomerFacts;
use sea_orm::sqlx::{
    self,
    postgres::{PgListener, PgPool, PgPoolOptions},
};

use crate::{
    database::{Backend, Database},
    read_cache::ReadCache,
};

/// How many customers' facts are kept (about 150 bytes each); the least useful go first.
pub(crate) const CAPACITY: usize = 100_000;

/// The PostgreSQL notification channel on which the trigger announces changed facts.
pub const FACTS_CHANNEL: &str = "crm_customer_facts";

/// How often everything is forgotten, in case the listening connection died without a word.
pub const FORGET_ALL_EVERY: Duration = Duration::from_secs(60);

/// See the module documentation.
pub(crate) type FactsCache = ReadCache<CustomerFacts>;

/// Keeps `db`'s facts cache in step with the other replicas' writes, until the pool is closed or
/// the task is dropped; see the module documentation. On PostgreSQL listens on a connection of
/// its own (made as the pool's are), so requests keep the whole pool. On SQLite only forgets
/// everything every [`FORGET_ALL_EVERY`]: one process owns the file, and should another write it
/// anyway, that bounds how long its changes go unseen here.
pub async fn follow_changes(db: Database) {
    let cache = db.facts();
    if db.backend() != Backend::Postgres {
        loop {
            tokio::time::sleep(FORGET_ALL_EVERY).await;
            cache.forget_all();
        }
    }
    // The pool listeners are made like (the direct one behind a transaction-mode pooler).
    let requests = db.session_pool();
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .min_connections(0)
        .connect_lazy_with((*requests.connect_options()).clone());
    let mut backoff = Duration::from_millis(100);
    loop {
        // Where the requests' pool connects now (it follows a failover, see `crate::primary`).
        pool.set_connect_options((*requests.connect_options()).clone());
        let mut listener = match listen(&pool).await {
            Ok(listener) => listener,
            Err(_) if requests.is_closed() => return,
            Err(error) => {
                tracing::warn!(%error, "cannot listen for customer changes; CheckPermission reads every customer from the database meanwhile");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        backoff = Duration::from_millis(100);
        cache.set_live(true);
        loop {
            match tokio::time::timeout(FORGET_ALL_EVERY, listener.try_recv()).await {
                Err(_elapsed) => cache.forget_all(),
                Ok(Ok(Some(notification))) => cache.forget([notification.payload()]),
                // The connection was lost: what is sent until a new listener is in place is
                // gone, so the cache is off until then.
                Ok(Ok(None)) => {
                    cache.set_live(false);
                    tracing::warn!("lost the listener for customer changes; reconnecting");
                    break;
                }
                Ok(Err(error)) => {
                    cache.set_live(false);
                    if requests.is_closed() {
                        return;
                    }
                    tracing::warn!(%error, "lost the listener for customer changes; reconnecting");
                    break;
                }
            }
        }
    }
}

/// A listener on [`FACTS_CHANNEL`] holding a connection of `pool`.
async fn listen(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(FACTS_CHANNEL).await?;
    Ok(listener)
}
