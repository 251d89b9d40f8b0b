//! Following the primary among the hosts of a multi-host PostgreSQL URL, as libpq's
//! `postgres://u@host1:5432,host2:5432/db?target_session_attrs=read-write` does, so that crmd
//! keeps writing after a standby is promoted, without a restart.
//!
//! - At start the hosts are tried in order; the first that answers (and, with
//!   `target_session_attrs=read-write` or `primary`, is not in recovery) is used.
//! - [`follow_primary`] then checks every [`CHECK_EVERY`] that the pool's host still answers as a
//!   primary. When it does not (unreachable, or in recovery), the hosts are tried again in order
//!   and the pool's *new* connections go to the first primary found. Connections already open to
//!   the old host fail on their next use (their calls end with an error, so their writes were not
//!   acknowledged) and are closed.
//! - What survives a failover is PostgreSQL's business: with synchronous replication
//!   (`synchronous_standby_names`) every acknowledged write is on the promoted standby; with
//!   asynchronous replication the last writes before the crash may be lost. The old primary must
//!   be stopped (fenced) before the standby is promoted, as for any PostgreSQL failover.
//!
//! A URL with one host and no `target_session_attrs` is used as it is and never re-checked.

use std::{
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};

use sea_orm::sqlx::{self, ConnectOptions as _, postgres::PgConnectOptions};

use crate::database::Database;

/// How often the pool's host is checked to still be the primary.
pub(crate) const CHECK_EVERY: Duration = Duration::from_millis(250);

/// How long one host may take to answer a check or a connection attempt.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);

/// Which servers of a multi-host URL may be used (libpq's `target_session_attrs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// The first that answers (`any`, the default).
    Any,
    /// The first that is not in recovery (`read-write`, `primary`).
    Primary,
}

/// A PostgreSQL URL with one or more hosts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HostList {
    /// `postgres://user:password@`: everything before the hosts.
    prefix: String,
    /// `host:port` (or `host`, or `[v6]:port`) of each host, in the URL's order.
    hosts: Vec<String>,
    /// `/db?query`: everything after the hosts, `target_session_attrs` removed.
    suffix: String,
    target: Target,
}

impl HostList {
    /// The hosts of `url`, or `None` for a URL with one host and no `target_session_attrs`
    /// (used as it is).
    ///
    /// # Errors
    /// A message naming what is wrong: an empty host, or a `target_session_attrs` other than
    /// `any`, `read-write` or `primary`.
    pub(crate) fn parse(url: &str) -> Result<Option<Self>, String> {
        let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
            return Ok(None);
        };
        let rest = &url[scheme_end..];
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        let (userinfo, hosts) = match authority.rfind('@') {
            Some(at) => (&authority[..=at], &authority[at + 1..]),
            None => ("", authority),
        };
        let after = &rest[authority_end..];
        let (path, query) = after.split_once('?').unwrap_or((after, ""));
        let mut target = None;
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("target_session_attrs", value)) => {
                    target = Some(match value {
                        "any" => Target::Any,
                        "read-write" | "primary" => Target::Primary,
                        other => {
                            return Err(format!(
                                "target_session_attrs={other} is not supported: use any, read-write or primary"
                            ));
                        }
                    });
                }
                _ => kept.push(pair),
            }
        }
        let hosts: Vec<String> = hosts.split(',').map(str::to_owned).collect();
        if hosts.len() == 1 && target.is_none() {
            return Ok(None);
        }
        if hosts.iter().any(String::is_empty) {
            return Err("a host of the list is empty".to_owned());
        }
        let mut suffix = path.to_owned();
        if !kept.is_empty() {
            suffix.push('?');
            suffix.push_str(&kept.join("&"));
        }
        Ok(Some(Self {
            prefix: format!("{}{userinfo}", &url[..scheme_end]),
            hosts,
            suffix,
            target: target.unwrap_or(Target::Any),
        }))
    }

    /// The single-host URL of host `index`.
    pub(crate) fn url_of(&self, index: usize) -> String {
        format!("{}{}{}", self.prefix, self.hosts[index], self.suffix)
    }

    /// How many hosts there are.
    pub(crate) fn len(&self) -> usize {
        self.hosts.len()
    }

    /// The hosts, for messages (no password: it is in the prefix).
    pub(crate) fn describe(&self) -> String {
        self.hosts.join(",")
    }

    /// Whether only a primary may be used.
    pub(crate) fn wants_primary(&self) -> bool {
        self.target == Target::Primary
    }

    /// The first host, in order, that answers and is of the target kind; `options_of(index)` are
    /// the options to connect to host `index` with.
    pub(crate) async fn find(&self, options_of: impl Fn(usize) -> Option<PgConnectOptions>) -> Option<usize> {
        for index in 0..self.len() {
            let Some(options) = options_of(index) else { continue };
            if self.qualifies(&options).await {
                return Some(index);
            }
        }
        None
    }

    /// Whether a server reached with `options` answers and is of the target kind.
    async fn qualifies(&self, options: &PgConnectOptions) -> bool {
        let attempt = async {
            let mut connection = options.connect().await?;
            let in_recovery: bool = sqlx::query_scalar("SELECT pg_is_in_recovery()")
                .fetch_one(&mut connection)
                .await?;
            let _ = sqlx::Connection::close(connection).await;
            Ok::<bool, sqlx::Error>(in_recovery)
        };
        match tokio::time::timeout(ATTEMPT_TIMEOUT, attempt).await {
            Ok(Ok(in_recovery)) => self.target == Target::Any || !in_recovery,
            _ => false,
        }
    }
}

/// The hosts of a pool opened from a multi-host URL and the one its connections go to.
#[derive(Debug)]
pub(crate) struct Hosts {
    list: HostList,
    current: AtomicUsize,
}

impl Hosts {
    pub(crate) fn new(list: HostList, current: usize) -> Self {
        Self {
            list,
            current: AtomicUsize::new(current),
        }
    }
}

/// Keeps `db`'s pool on the primary of its URL's hosts (see the module documentation), for as
/// long as it runs; returns at once for a URL with one host and no `target_session_attrs`.
pub async fn follow_primary(db: Database) {
    let Some(hosts) = db.hosts().cloned() else {
        return;
    };
    let pool = db.connection().get_postgres_connection_pool().clone();
    // A connection of its own: a check through the pool would wait for the pool's connection
    // attempts to the lost host, up to the acquire timeout.
    let mut watcher: Option<sqlx::PgConnection> = None;
    let mut interval = tokio::time::interval(CHECK_EVERY);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        if pool.is_closed() {
            return;
        }
        let check = async {
            if watcher.is_none() {
                watcher = Some(pool.connect_options().connect().await?);
            }
            let Some(connection) = watcher.as_mut() else {
                return Err(sqlx::Error::PoolClosed);
            };
            sqlx::query_scalar::<_, bool>("SELECT pg_is_in_recovery()")
                .fetch_one(connection)
                .await
        };
        let fine = match tokio::time::timeout(ATTEMPT_TIMEOUT, check).await {
            Ok(Ok(in_recovery)) => hosts.list.target == Target::Any || !in_recovery,
            _ => false,
        };
        if fine {
            continue;
        }
        watcher = None;
        let current = hosts.current.load(Ordering::Acquire);
        let base = (*pool.connect_options()).clone();
        let options_of = |index: usize| with_host_of(&base, &hosts.list.url_of(index));
        match hosts.list.find(options_of).await {
            Some(found) if found != current => {
                if let Some(options) = with_host_of(&base, &hosts.list.url_of(found)) {
                    pool.set_connect_options(options);
                    hosts.current.store(found, Ordering::Release);
                    tracing::warn!(
                        from = %hosts.list.hosts[current],
                        to = %hosts.list.hosts[found],
                        "the database's primary moved: new connections go to the new primary"
                    );
                }
            }
            Some(_) => {}
            None => tracing::warn!(hosts = %hosts.list.describe(), "no host of the database URL answers as a primary"),
        }
    }
}

/// `base` (the pool's options: user, database, TLS, ...) aimed at the host and port of `url`.
fn with_host_of(base: &PgConnectOptions, url: &str) -> Option<PgConnectOptions> {
    let parsed: PgConnectOptions = url.parse().ok()?;
    Some(base.clone().host(parsed.get_host()).port(parsed.get_port()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_url_is_used_as_it_is() {
        for url in [
            "postgres://u@127.0.0.1:5432/crm",
            "postgres://u:p@db/crm?sslmode=require",
            "sqlite://crm.db?mode=rwc",
        ] {
            assert_eq!(HostList::parse(url), Ok(None), "{url}");
        }
    }

    #[test]
    fn hosts_are_split_and_target_session_attrs_is_taken_out() {
        let list = HostList::parse(
            "postgres://u:secret@10.0.0.1:5432,10.0.0.2:5433/crm?sslmode=disable&target_session_attrs=read-write",
        )
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("a list"));
        assert_eq!(list.len(), 2);
        assert_eq!(list.target, Target::Primary);
        assert_eq!(list.url_of(0), "postgres://u:secret@10.0.0.1:5432/crm?sslmode=disable");
        assert_eq!(list.url_of(1), "postgres://u:secret@10.0.0.2:5433/crm?sslmode=disable");
        assert_eq!(list.describe(), "10.0.0.1:5432,10.0.0.2:5433");

        let one = HostList::parse("postgres://u@db:5432/crm?target_session_attrs=primary")
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("a list"));
        assert_eq!(one.url_of(0), "postgres://u@db:5432/crm");
        let any = HostList::parse("postgres://a,b/crm")
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("a list"));
        assert_eq!((any.target, any.url_of(1).as_str()), (Target::Any, "postgres://b/crm"));
    }

    #[test]
    fn an_unsupported_target_or_an_empty_host_is_refused() {
        assert!(
            HostList::parse("postgres://a,b/crm?target_session_attrs=standby")
                .unwrap_err()
                .contains("standby")
        );
        assert!(HostList::parse("postgres://a,,b/crm").is_err());
    }
}
