//! Reads served by PostgreSQL hot standbys, and the consistency tokens that say how fresh a read
//! must be.
//!
//! # The guarantees
//! - **Writes** always go to the primary. After a write commits, [`Database::consistency_token`]
//!   names a WAL position at or past its commit record: the primary's WAL *insert* position read
//!   by a query that started after the commit returned (so it holds under any
//!   `synchronous_commit`). Concurrent writers share one such query ([`WalPosition`]), so tokens
//!   cost far less than a round trip per write under load.
//! - **A read with a token** is served by a standby only if that standby is known to have
//!   replayed past the token (its replay position, polled every [`POLL_EVERY`]), else by the
//!   primary: read-your-writes, and more generally "at least as fresh as that write", across
//!   replicas and crmd processes.
//! - **Every read from a standby**, token or not, is at most `max_lag` stale: a standby serves
//!   only while it has replayed everything the primary had written [`Standbys::max_lag`] ago. The
//!   poller samples the primary's position with the time it read it; a standby is *fresh since*
//!   the newest sample it has replayed past. A standby that falls behind, stops answering, or is
//!   no longer in recovery (promoted) is skipped until it catches up, and when the primary
//!   cannot be sampled no standby serves (everything reads the primary).
//!
//! On SQLite there is one database and every read sees every committed write; its tokens count
//! this process's writes, for a uniform API, and every token is satisfied.

use std::{
    fmt,
    str::FromStr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, Statement};

use crate::{
    coalesce::CoalescedReads,
    database::{Backend, ConnectError, Database, redact_url},
};

/// How often the primary's WAL position and each standby's replay position are read.
pub const POLL_EVERY: Duration = Duration::from_millis(50);

/// How long one position query may take before the standby (or the primary) counts as not
/// answering.
const POLL_TIMEOUT: Duration = Duration::from_secs(1);

/// A position in the database's history of commits: a read carrying it must see every write that
/// returned it (or an earlier one). Its text form is opaque to clients: `1.` and 16 hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConsistencyToken(u64);

impl ConsistencyToken {
    /// The position as a number (a WAL byte position on PostgreSQL).
    pub fn position(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ConsistencyToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "1.{:016x}", self.0)
    }
}

/// A consistency token's text is not one this server wrote.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a consistency token (expected `1.` and 16 hex digits, as a write returned it)")]
pub struct MalformedToken;

impl FromStr for ConsistencyToken {
    type Err = MalformedToken;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let hex = text.strip_prefix("1.").ok_or(MalformedToken)?;
        if hex.len() != 16 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(MalformedToken);
        }
        u64::from_str_radix(hex, 16).map(Self).map_err(|_| MalformedToken)
    }
}

/// Where a read view of a [`Database`] reads from and why, for the facts cache's rules (see
/// [`crate::facts_cache`]): facts read from a standby are never cached, and a read with a token
/// does not trust the cache (whose other replicas' invalidations arrive asynchronously).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct ReadView {
    /// A consistency token was given.
    pub(crate) exact: bool,
    /// The view's connection is a standby's.
    pub(crate) standby: bool,
    /// [`crate::customer_cache`] may answer a read of a whole customer: a read without a
    /// consistency token (`Database::for_reads`), or a write's read of the customer it changes
    /// (`Database::for_writes`).
    pub(crate) cacheable: bool,
}

/// The primary's WAL insert position, fetched once for every writer whose commit returned before
/// the fetch started (see the module documentation).
#[derive(Debug, Default)]
pub(crate) struct WalPosition {
    /// Taken by every writer after its commit, and by every fetch as it starts.
    tickets: AtomicU64,
    /// The last fetch: the ticket it started at and the position it read.
    last: tokio::sync::Mutex<(u64, u64)>,
}

impl WalPosition {
    /// A position at or past every commit that returned before this call.
    pub(crate) async fn after_commit(&self, primary: &DatabaseConnection) -> Result<u64, DbErr> {
        let mine = self.tickets.fetch_add(1, Ordering::SeqCst) + 1;
        let mut last = self.last.lock().await;
        if last.0 > mine {
            return Ok(last.1);
        }
        let started = self.tickets.fetch_add(1, Ordering::SeqCst) + 1;
        let position = position(primary, "pg_current_wal_insert_lsn()")
            .await?
            .ok_or_else(|| DbErr::Custom("the primary has no WAL insert position (is it in recovery?)".into()))?;
        *last = (started, position);
        Ok(position)
    }
}

/// Reads `function` (a `pg_lsn`) as a byte position; `None` when it is NULL (e.g. the replay
/// position of a server not in recovery).
async fn position(connection: &DatabaseConnection, function: &str) -> Result<Option<u64>, DbErr> {
    let sql = format!("SELECT ({function} - '0/0'::pg_lsn)::bigint");
    let row = connection
        .query_one_raw(Statement::from_string(sea_orm::DbBackend::Postgres, sql))
        .await?;
    Ok(row
        .and_then(|row| row.try_get_by_index::<Option<i64>>(0).ok().flatten())
        .and_then(|p| u64::try_from(p).ok()))
}

/// One hot standby.
#[derive(Debug)]
struct Standby {
    connection: DatabaseConnection,
    /// GetCustomer's reads through `connection`, see [`crate::coalesce`].
    coalesced_reads: Arc<CoalescedReads>,
    display_url: String,
    /// Its replay position at the last poll (0 until the first).
    replayed: AtomicU64,
    /// Nanoseconds after [`Standbys::epoch`] at which the primary had written nothing the
    /// standby has not replayed; [`NEVER`] while it must not serve.
    fresh_since: AtomicU64,
}

/// `fresh_since` of a standby that must not serve.
const NEVER: u64 = u64::MAX;

/// The standbys reads may be served by, and how fresh each is.
#[derive(Debug)]
pub(crate) struct Standbys {
    members: Vec<Standby>,
    /// The most a read from a standby may be behind the primary.
    max_lag: Duration,
    /// Round robin over the eligible standbys.
    next: AtomicUsize,
    epoch: Instant,
    /// The primary's recent positions with when each was read, oldest first.
    samples: Mutex<std::collections::VecDeque<(u64, u64)>>,
    /// Reads served by a standby and by the primary, since start.
    served: [AtomicU64; 2],
}

/// What the standbys are doing, for metrics and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StandbyStatus {
    /// The standby's URL without its password.
    pub url: String,
    /// Whether it may serve reads now (caught up within the lag bound).
    pub serving: bool,
    /// How far behind the primary's last sampled position it is, in WAL bytes.
    pub lag_bytes: u64,
}

impl Standbys {
    fn nanos(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(NEVER - 1)
    }

    /// The standby to read from, if one is eligible for `token`; counts the read.
    fn choose(&self, token: Option<ConsistencyToken>) -> Option<&Standby> {
        let now = self.nanos(Instant::now());
        let bound = u64::try_from(self.max_lag.as_nanos()).unwrap_or(u64::MAX);
        let count = self.members.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let chosen = (0..count).map(|i| &self.members[(start + i) % count]).find(|s| {
            let since = s.fresh_since.load(Ordering::Acquire);
            since != NEVER
                && now.saturating_sub(since) <= bound
                && token.is_none_or(|t| s.replayed.load(Ordering::Acquire) >= t.0)
        });
        self.served[usize::from(chosen.is_none())].fetch_add(1, Ordering::Relaxed);
        chosen
    }

    /// One poll: the primary's position, then each standby's replay position.
    async fn poll(&self, primary: &DatabaseConnection) {
        let read_at = Instant::now();
        let sample = tokio::time::timeout(POLL_TIMEOUT, position(primary, "pg_current_wal_insert_lsn()")).await;
        let samples = {
            let mut samples = self.samples.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Ok(Ok(Some(lsn))) = sample {
                samples.push_back((lsn, self.nanos(read_at)));
            } else {
                // Without the primary's position no standby's freshness can be known.
                samples.clear();
            }
            // Keep the samples of the lag window and one older (the window's lower bound).
            let horizon = self
                .nanos(Instant::now())
                .saturating_sub(u64::try_from((self.max_lag + POLL_EVERY * 2).as_nanos()).unwrap_or(u64::MAX));
            while samples.len() > 1 && samples.get(1).is_some_and(|(_, at)| *at < horizon) {
                samples.pop_front();
            }
            samples.clone()
        };
        for standby in &self.members {
            let replayed =
                tokio::time::timeout(POLL_TIMEOUT, position(&standby.connection, "pg_last_wal_replay_lsn()")).await;
            let fresh_since = match replayed {
                Ok(Ok(Some(replayed))) => {
                    standby.replayed.store(replayed, Ordering::Release);
                    // The newest primary sample the standby has replayed past.
                    samples
                        .iter()
                        .rev()
                        .find(|(lsn, _)| *lsn <= replayed)
                        .map_or(NEVER, |(_, at)| *at)
                }
                Ok(Ok(None)) => {
                    tracing::warn!(standby = %standby.display_url, "read database is not in recovery (not a hot standby, or promoted): not reading from it");
                    NEVER
                }
                Ok(Err(error)) => {
                    tracing::debug!(standby = %standby.display_url, %error, "read database did not answer");
                    NEVER
                }
                Err(_) => NEVER,
            };
            standby.fresh_since.store(fresh_since, Ordering::Release);
        }
    }

    /// Closes every standby's pool.
    pub(crate) async fn close(&self) {
        for standby in &self.members {
            if let Err(error) = standby.connection.clone().close().await {
                tracing::warn!(standby = %standby.display_url, %error, "closing a read database's pool failed");
            }
        }
    }

    fn status(&self) -> Vec<StandbyStatus> {
        let now = self.nanos(Instant::now());
        let bound = u64::try_from(self.max_lag.as_nanos()).unwrap_or(u64::MAX);
        let newest = self
            .samples
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .back()
            .map_or(0, |(lsn, _)| *lsn);
        self.members
            .iter()
            .map(|s| {
                let since = s.fresh_since.load(Ordering::Acquire);
                StandbyStatus {
                    url: s.display_url.clone(),
                    serving: since != NEVER && now.saturating_sub(since) <= bound,
                    lag_bytes: newest.saturating_sub(s.replayed.load(Ordering::Acquire)),
                }
            })
            .collect()
    }
}

impl Database {
    /// Adds hot standbys of this (PostgreSQL) database that reads may be served by, each behind at
    /// most `max_lag`; [`follow_standbys`] must run for them to serve. Each gets a pool of
    /// `max_connections`.
    ///
    /// # Errors
    /// [`ConnectError::UnsupportedUrl`] on SQLite or for a URL that is not PostgreSQL's;
    /// [`ConnectError::Connect`] when a standby cannot be reached.
    pub async fn with_standbys(
        mut self,
        urls: &[String],
        max_connections: u32,
        max_lag: Duration,
    ) -> Result<Self, ConnectError> {
        if urls.is_empty() {
            return Ok(self);
        }
        if self.backend() != Backend::Postgres {
            return Err(ConnectError::UnsupportedUrl(format!(
                "{} (read databases need a PostgreSQL primary)",
                self.display_url()
            )));
        }
        let mut members = Vec::with_capacity(urls.len());
        for url in urls {
            let standby = Database::connect(url, max_connections).await?;
            if standby.backend() != Backend::Postgres {
                return Err(ConnectError::UnsupportedUrl(redact_url(url)));
            }
            members.push(Standby {
                connection: standby.connection().clone(),
                coalesced_reads: Arc::default(),
                display_url: standby.display_url().to_owned(),
                replayed: AtomicU64::new(0),
                fresh_since: AtomicU64::new(NEVER),
            });
        }
        self.set_standbys(Arc::new(Standbys {
            members,
            max_lag,
            next: AtomicUsize::new(0),
            epoch: Instant::now(),
            samples: Mutex::default(),
            served: [AtomicU64::new(0), AtomicU64::new(0)],
        }));
        Ok(self)
    }

    /// This database as reads at `token` (or, without one, reads within the lag bound) should
    /// see it: a view on a standby that qualifies, else on the primary. Writes must not go
    /// through a view.
    pub fn for_reads(&self, token: Option<ConsistencyToken>) -> Database {
        let view = ReadView {
            exact: token.is_some(),
            standby: false,
            cacheable: token.is_none(),
        };
        match self.standbys().and_then(|standbys| standbys.choose(token)) {
            Some(standby) => self.view(
                standby.connection.clone(),
                Arc::clone(&standby.coalesced_reads),
                ReadView { standby: true, ..view },
            ),
            None => self.view(self.connection().clone(), Arc::clone(self.coalesced_reads()), view),
        }
    }

    /// The primary, reading a whole customer from [`crate::customer_cache`] when it can answer:
    /// for the repository of the writes, whose read of the customer they change is then no
    /// query. Each such write compares and sets against the stored version, so even a stale
    /// entry could not lose an update (the write fails, forgets the entry and reads again).
    pub fn for_writes(&self) -> Database {
        let view = ReadView {
            cacheable: true,
            ..ReadView::default()
        };
        self.view(self.connection().clone(), Arc::clone(self.coalesced_reads()), view)
    }

    /// A token at or past every write that returned before this call (see the module
    /// documentation); on SQLite, the count of this process's writes.
    ///
    /// # Errors
    /// The driver's error when the primary's position cannot be read.
    pub async fn consistency_token(&self) -> Result<ConsistencyToken, DbErr> {
        match self.backend() {
            Backend::Postgres => self
                .wal_position()
                .after_commit(self.connection())
                .await
                .map(ConsistencyToken),
            Backend::Sqlite => Ok(ConsistencyToken(self.count_write())),
        }
    }

    /// Whether reads may be served by standbys.
    pub fn has_standbys(&self) -> bool {
        self.standbys().is_some()
    }

    /// Each standby's state; empty without standbys.
    pub fn standby_status(&self) -> Vec<StandbyStatus> {
        self.standbys().map(|s| s.status()).unwrap_or_default()
    }

    /// Reads served by a standby and by the primary since start (0, 0 without standbys).
    pub fn reads_served(&self) -> (u64, u64) {
        self.standbys().map_or((0, 0), |s| {
            (s.served[0].load(Ordering::Relaxed), s.served[1].load(Ordering::Relaxed))
        })
    }
}

/// Polls the primary's and the standbys' positions every [`POLL_EVERY`], for as long as it runs
/// (returns at once without standbys).
pub async fn follow_standbys(db: Database) {
    let Some(standbys) = db.standbys().cloned() else {
        return;
    };
    let mut interval = tokio::time::interval(POLL_EVERY);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut serving = vec![false; standbys.members.len()];
    loop {
        interval.tick().await;
        standbys.poll(db.connection()).await;
        for (was, now) in serving.iter_mut().zip(standbys.status()) {
            if *was != now.serving {
                if now.serving {
                    tracing::info!(standby = %now.url, "read database caught up: serving reads");
                } else {
                    tracing::warn!(standby = %now.url, lag_bytes = now.lag_bytes, "read database behind or unreachable: reads go to the primary");
                }
                *was = now.serving;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_reads_back_as_written() {
        for position in [0, 1, 0x16_B374_D848, u64::MAX] {
            let token = ConsistencyToken(position);
            assert_eq!(token.to_string().parse::<ConsistencyToken>(), Ok(token));
        }
        assert_eq!(ConsistencyToken(0x16_B374_D848).to_string(), "1.00000016b374d848");
    }

    #[test]
    fn anything_else_is_malformed() {
        for text in [
            "",
            "1.",
            "16/B374D848",
            "2.00000016b374d848",
            "1.00000016b374d84",
            "1.00000016b374d8488",
            "1.+0000016b374d848",
            "1.00000016b374d84g",
        ] {
            assert_eq!(text.parse::<ConsistencyToken>(), Err(MalformedToken), "{text:?}");
        }
    }
}
