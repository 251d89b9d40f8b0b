//! Whole customers kept in memory, so that a GetCustomer of a customer read before needs no
//! query, while every read still sees every write that returned before it.
//!
//! # What keeps it true
//! - **This replica's writes** forget the customers they touched once they have returned (or
//!   failed: a lost reply may hide a commit), before their caller answers; a read that raced
//!   with a write cannot put the old customer back (the write generation of
//!   [`crate::read_cache`]). An update that committed keeps the customer it wrote instead
//!   (`ReadCache::keep_written`), unless another write of the same customer overlapped it, so
//!   the next read of it, or the next update's read, needs no query either.
//! - **Nobody else writes while it answers (PostgreSQL).** The cache answers only while this
//!   replica is the *owner*: it holds an exclusive session advisory lock, the owner lock, on a
//!   connection of its own, and its instance id is recorded in `crm_customer_cache_owner`. A
//!   trigger on `customers` and `customer_tags` (migration `fence_customer_writes`) makes every
//!   writing statement of anyone else wait for that lock, whoever sends it: another crmd, a
//!   script, psql. The owner's own connections (their `application_name` starts with the recorded
//!   id) pass. The owner asks PostgreSQL every [`PING_EVERY`] whether a session waits for the lock;
//!   when one does, it stops answering, lets go of the lock (so the waiting write goes on, at most
//!   about [`PING_EVERY`] later) after recording in the database that no replica may own for a
//!   hold-off, which doubles each time an owner is asked to let go ([`HOLD_OFF`] up to
//!   [`MAX_HOLD_OFF`], back to the first after an owner held it that long), so replicas that all
//!   write take turns rarely rather than every few writes. While nobody owns,
//!   writes pass at the cost of one shared lock per statement, and the replicas read every
//!   customer from the database, as without the cache.
//! - **Taking over.** A new owner records its id, then waits on the *drain lock* until every
//!   write a former owner's connections let through has ended (they hold it shared), and only
//!   then starts answering, empty.
//! - **A connection that dies silently.** Each answer of the owner's connection renews a lease of
//!   [`LEASE`] from the moment the question was sent; without a fresh answer the cache stops
//!   answering by itself. The lock lives as long as that session, so an answer proves that
//!   nobody else wrote until it. Should the owner's connection be cut without the owner hearing
//!   of it (a partition), PostgreSQL ends the session and other writers go on while the owner
//!   still answers for at most the rest of its lease: the one case in which a read can miss a
//!   write that returned before it, by at most [`LEASE`], less than `--read-max-lag-ms` allows a
//!   standby.
//! - **SQLite** has one process per file: its own writes are all there are, so the cache answers
//!   from the start, as the facts cache does.
//!
//! The cache is off behind a transaction-mode pooler (`--direct-database-url`): a server
//! connection there is shared by several clients, so its `application_name` does not tell whose
//! write it is.
//!
//! GetCustomer and a write's read of the customer it changes use it, but not a read with a
//! consistency token (see [`crate::standbys`]'s `Database::for_reads` and
//! `Database::for_writes`). A write that read a
//! customer from here still compares and sets against the database's version, so even a stale
//! entry (the partition above) could not lose an update: the write fails its compare-and-set,
//! forgets the entry and reads again.

use std::time::{Duration, Instant};

use crm_domain::customer::Customer;
use sea_orm::sqlx::{self, Connection as _, PgConnection};

use crate::{
    database::{Backend, Database},
    facts_cache::FORGET_ALL_EVERY,
    read_cache::ReadCache,
};

/// How many customers are kept (about a kilobyte each); the least useful go first.
pub(crate) const CAPACITY: usize = 50_000;

/// How often the owner asks whether a writer waits for its lock.
pub const PING_EVERY: Duration = Duration::from_millis(100);

/// How long an answer of the owner's connection lets the cache answer, from when it was asked.
pub const LEASE: Duration = Duration::from_millis(300);

/// The first hold-off after letting go of the lock, doubled each time it is let go of soon after.
pub const HOLD_OFF: Duration = Duration::from_secs(5);

/// The longest hold-off.
pub const MAX_HOLD_OFF: Duration = Duration::from_secs(300);

/// How long to wait for a former owner's writes to end before giving up taking over.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// The first key of the two advisory locks ("CRMC" in ASCII); the second is 1 for the owner
/// lock and 2 for the drain lock (migration `fence_customer_writes` has the same numbers).
const LOCK_CLASS: i32 = 0x4352_4D43;
const OWNER_LOCK: i32 = 1;
const DRAIN_LOCK: i32 = 2;

/// See the module documentation.
pub(crate) type CustomerCache = ReadCache<Customer>;

/// How often a replica that does not own tries to take the owner lock.
const TRY_EVERY: Duration = Duration::from_millis(500);

/// Keeps `db`'s customer cache answering while this replica can own it, until the pool is
/// closed or the task is dropped; see the module documentation. On SQLite only forgets
/// everything every [`FORGET_ALL_EVERY`], as the facts cache does.
pub async fn own_customers(db: Database) {
    let cache = db.customers_cache();
    if db.backend() != Backend::Postgres {
        loop {
            tokio::time::sleep(FORGET_ALL_EVERY).await;
            cache.forget_all();
        }
    }
    if db.behind_pooler() {
        tracing::info!("GetCustomer's cache is off: the database is reached through a pooler (--direct-database-url)");
        return;
    }
    let requests = db.session_pool();
    loop {
        let error = own(&requests.connect_options(), cache, db.instance()).await;
        cache.set_live(false);
        if requests.is_closed() {
            return;
        }
        tracing::warn!(%error, "GetCustomer's cache lost its connection; reads go to the database meanwhile");
        tokio::time::sleep(HOLD_OFF).await;
    }
}

/// Owns whenever it can on one connection, until that connection fails (dropping it ends the
/// session, and with it the lock).
async fn own(options: &sqlx::postgres::PgConnectOptions, cache: &CustomerCache, instance: &str) -> sqlx::Error {
    let mut connection = match PgConnection::connect_with(options).await {
        Ok(connection) => connection,
        Err(error) => return error,
    };
    loop {
        if let Err(error) = own_once(&mut connection, cache, instance).await {
            return error;
        }
        tokio::time::sleep(TRY_EVERY).await;
    }
}

/// How long nobody may own after a hand-over that followed holding the lock for `held`, when
/// the last hold-off was `last`. A writer caught between taking the lock and recording the owner
/// is likely this replica's own (it passes the fence only once the owner is recorded), so a
/// hand-over at the first question does not lengthen it.
fn next_hold_off(held: Duration, last: Duration) -> Duration {
    if held <= 2 * PING_EVERY {
        last.clamp(HOLD_OFF, MAX_HOLD_OFF)
    } else if held >= MAX_HOLD_OFF {
        HOLD_OFF
    } else {
        (last * 2).clamp(HOLD_OFF, MAX_HOLD_OFF)
    }
}

/// Takes the owner lock if it is free and no hold-off is running, and answers from the cache
/// until a writer waits for it; returns at once when it cannot own.
async fn own_once(connection: &mut PgConnection, cache: &CustomerCache, instance: &str) -> Result<(), sqlx::Error> {
    // Taking the lock and recording the owner in one statement leaves the shortest window in
    // which this replica's own writes find the lock taken but the owner not yet recorded.
    let hold_off: Option<f64> = sqlx::query_scalar(
        "WITH taken AS (SELECT pg_try_advisory_lock($1, $2) AS owner WHERE NOT EXISTS \
         (SELECT 1 FROM crm_customer_cache_owner WHERE free_after > clock_timestamp())) \
         INSERT INTO crm_customer_cache_owner (only_row, instance) SELECT true, $3 FROM taken WHERE owner \
         ON CONFLICT (only_row) DO UPDATE SET instance = EXCLUDED.instance \
         RETURNING crm_customer_cache_owner.hold_off_secs",
    )
    .bind(LOCK_CLASS)
    .bind(OWNER_LOCK)
    .bind(instance)
    .fetch_optional(&mut *connection)
    .await?;
    let Some(hold_off) = hold_off else {
        return Ok(());
    };
    let last_hold_off = Duration::try_from_secs_f64(hold_off).unwrap_or(HOLD_OFF);
    // A former owner's writes hold the drain lock shared until they end.
    let drain = sqlx::query("SELECT pg_advisory_lock($1, $2)")
        .bind(LOCK_CLASS)
        .bind(DRAIN_LOCK)
        .execute(&mut *connection);
    match tokio::time::timeout(DRAIN_TIMEOUT, drain).await {
        Ok(result) => result?,
        Err(_) => {
            return Err(sqlx::Error::Protocol(format!(
                "a former owner's writes did not end within {DRAIN_TIMEOUT:?}"
            )));
        }
    };
    sqlx::query("SELECT pg_advisory_unlock($1, $2)")
        .bind(LOCK_CLASS)
        .bind(DRAIN_LOCK)
        .execute(&mut *connection)
        .await?;
    let since = Instant::now();
    // Only constants are formatted in.
    let waiting = format!(
        "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND classid = {LOCK_CLASS} \
         AND objid = {OWNER_LOCK} AND objsubid = 2 AND NOT granted)"
    );
    loop {
        let asked = Instant::now();
        let answer = sqlx::query_scalar::<_, bool>(sqlx::AssertSqlSafe(waiting.as_str())).fetch_one(&mut *connection);
        let waiting = match tokio::time::timeout(LEASE, answer).await {
            Ok(result) => result?,
            // No answer within the lease: it lapsed; start over on a new session.
            Err(_) => {
                return Err(sqlx::Error::Protocol(format!(
                    "the owner's connection did not answer within the {LEASE:?} lease"
                )));
            }
        };
        if waiting {
            cache.set_live(false);
            let held = since.elapsed();
            let hold_off = next_hold_off(held, last_hold_off);
            tracing::debug!(
                ?held,
                ?hold_off,
                "a writer waited for GetCustomer's cache; handing over"
            );
            sqlx::query(
                "UPDATE crm_customer_cache_owner \
                 SET free_after = clock_timestamp() + make_interval(secs => $1), hold_off_secs = $1",
            )
            .bind(hold_off.as_secs_f64())
            .execute(&mut *connection)
            .await?;
            sqlx::query("SELECT pg_advisory_unlock($1, $2)")
                .bind(LOCK_CLASS)
                .bind(OWNER_LOCK)
                .execute(&mut *connection)
                .await?;
            return Ok(());
        }
        cache.live_until(asked + LEASE);
        tokio::time::sleep_until((asked + PING_EVERY).into()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hold_off_doubles_while_owners_keep_being_asked_to_let_go() {
        let second = Duration::from_secs(1);
        // Asked at the first question: likely this replica's own write; unchanged.
        assert_eq!(next_hold_off(PING_EVERY, HOLD_OFF), HOLD_OFF);
        assert_eq!(next_hold_off(second, HOLD_OFF), 2 * HOLD_OFF);
        assert_eq!(next_hold_off(second, 2 * HOLD_OFF), 4 * HOLD_OFF);
        assert_eq!(next_hold_off(second, MAX_HOLD_OFF), MAX_HOLD_OFF);
        // Held as long as the longest hold-off: back to the first.
        assert_eq!(next_hold_off(MAX_HOLD_OFF, MAX_HOLD_OFF), HOLD_OFF);
    }
}
