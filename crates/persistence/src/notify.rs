//! Telling every replica that access control or the active classification policy changed.
//!
//! Each server replica holds the access data in memory (the snapshot of principals, roles and
//! bindings decisions are made from, and the unrevoked API keys it authenticates with), and the
//! active classification policy, so that a request needs no query to be authorised or
//! classified. When one replica changes a principal, role, binding or key, or activates a policy
//! version, the others must learn of it, or they would keep granting what was just revoked and
//! classifying under the old policy. On PostgreSQL the writer calls [`publish_access_changed`]
//! or [`publish_policy_activated`] after its change is committed, which sends a notification on
//! that [`Topic`]'s channel; every replica waits on [`subscribe_changes`]'s [`Changes::next`]
//! (one listening connection for both topics) and reloads what it names.
//!
//! Notifications carry no payload and are only a hint to reload: a reload always reads the
//! whole state, so several changes may share one reload. PostgreSQL does not keep notifications
//! for a listener that is not connected, so whenever the listening connection was lost (or
//! waiting failed), the next successful [`Changes::next`] completes at once naming every topic:
//! the caller then reloads, and a missed notification can only cause a reload, never stale data.
//! Two cases remain that no listener can see: a publish that fails after its change was
//! committed, and a connection that dies silently (no reset reaches this side, as in a network
//! partition) until the operating system gives up on it. A periodic reload as well bounds how
//! stale data can be.
//!
//! To see every change, subscribe **before** the first load: then `LISTEN` is in effect before
//! the state is read, and any change after it wakes [`Changes::next`].
//!
//! On PostgreSQL the writing replica's own subscription is woken too. On SQLite there is nothing
//! to send: one process owns the file, so there are no other replicas, and that process must
//! reload after its own changes itself. The publish functions do nothing there and
//! [`subscribe_changes`] returns `None`.

use crm_domain::{access::AccessStoreError, error::CustomerError};
use sea_orm::{
    ConnectionTrait, DbErr, Statement,
    sqlx::postgres::{PgListener, PgPool},
};

use crate::database::{Backend, Database};

/// The PostgreSQL notification channel on which access-control changes are announced.
pub const ACCESS_CHANNEL: &str = "crm_access_changed";

/// The PostgreSQL notification channel on which policy activations are announced.
pub const POLICY_CHANNEL: &str = "crm_policy_activated";

/// What a replica holds in memory and reloads when another replica changes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    /// Principals, roles, bindings and API keys.
    Access,
    /// The active classification policy.
    Policy,
}

impl Topic {
    /// Every topic, in the order they are listened to.
    pub const ALL: [Self; 2] = [Self::Access, Self::Policy];

    /// The PostgreSQL notification channel of this topic.
    pub const fn channel(self) -> &'static str {
        match self {
            Self::Access => ACCESS_CHANNEL,
            Self::Policy => POLICY_CHANNEL,
        }
    }

    fn of_channel(channel: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|topic| topic.channel() == channel)
    }
}

/// Which topics may have changed, from [`Changes::next`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Changed {
    /// Principals, roles, bindings or API keys.
    pub access: bool,
    /// The active policy.
    pub policy: bool,
}

impl Changed {
    /// Both: after a gap in which notifications may have been missed.
    pub const EVERYTHING: Self = Self {
        access: true,
        policy: true,
    };

    fn add(&mut self, channel: &str) {
        match Topic::of_channel(channel) {
            Some(Topic::Access) => self.access = true,
            Some(Topic::Policy) => self.policy = true,
            None => *self = Self::EVERYTHING,
        }
    }
}

/// Sends an empty notification on `topic`'s channel (PostgreSQL); nothing on SQLite.
async fn publish(db: &Database, topic: Topic) -> Result<(), DbErr> {
    match db.backend() {
        Backend::Sqlite => Ok(()),
        Backend::Postgres => {
            let statement = Statement::from_sql_and_values(
                sea_orm::DatabaseBackend::Postgres,
                "SELECT pg_notify($1, '')",
                [topic.channel().into()],
            );
            db.connection().execute_raw(statement).await.map(drop)
        }
    }
}

/// Announces to every replica that principals, roles, bindings or API keys changed. Call it
/// after the change is committed. On PostgreSQL this sends an empty notification on
/// [`ACCESS_CHANNEL`]; on SQLite it does nothing.
///
/// # Errors
/// [`AccessStoreError::Unexpected`] when the notification cannot be sent.
pub async fn publish_access_changed(db: &Database) -> Result<(), AccessStoreError> {
    publish(db, Topic::Access).await.map_err(crate::errors::access_error)
}

/// Announces to every replica that a policy version was activated. Call it after the
/// activation is committed. On PostgreSQL this sends an empty notification on
/// [`POLICY_CHANNEL`]; on SQLite it does nothing.
///
/// # Errors
/// [`CustomerError::Unexpected`] when the notification cannot be sent.
pub async fn publish_policy_activated(db: &Database) -> Result<(), CustomerError> {
    publish(db, Topic::Policy).await.map_err(CustomerError::unexpected)
}

/// Starts listening for [`publish_access_changed`] and [`publish_policy_activated`] from any
/// replica (this one included), on one connection.
///
/// On PostgreSQL the subscription holds one connection of `db`'s pool for as long as it lives, so
/// the pool needs at least one connection more than the requests use; drop it before
/// [`Database::close`], which waits for every connection to be returned. On SQLite returns
/// `None`: there are no other replicas.
///
/// # Errors
/// [`AccessStoreError::Unexpected`] when no connection can be had or `LISTEN` fails.
pub async fn subscribe_changes(db: &Database) -> Result<Option<Changes>, AccessStoreError> {
    match db.backend() {
        Backend::Sqlite => Ok(None),
        Backend::Postgres => {
            let pool = db.session_pool().clone();
            let listener = listen(&pool).await?;
            Ok(Some(Changes {
                pool,
                listener: Some(listener),
            }))
        }
    }
}

/// A listener on every [`Topic`]'s channel holding a connection of `pool`.
async fn listen(pool: &PgPool) -> Result<PgListener, AccessStoreError> {
    let mut listener = PgListener::connect_with(pool)
        .await
        .map_err(AccessStoreError::unexpected)?;
    listener
        .listen_all(Topic::ALL.map(Topic::channel))
        .await
        .map_err(AccessStoreError::unexpected)?;
    Ok(listener)
}

/// A subscription to access-control changes and policy activations on PostgreSQL, from
/// [`subscribe_changes`].
pub struct Changes {
    /// The pool a new listener is taken from after the current one failed.
    pool: PgPool,
    /// Listens on every topic's channel and reconnects (listening again) by itself when its
    /// connection is lost. `None` after it failed otherwise: notifications may have been missed
    /// since, so the next [`Changes::next`] listens anew and completes at once.
    listener: Option<PgListener>,
}

impl std::fmt::Debug for Changes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Changes")
            .field("topics", &Topic::ALL)
            .field("listening", &self.listener.is_some())
            .finish_non_exhaustive()
    }
}

impl Changes {
    /// Waits until the access data or the active policy may have changed, then says which: the
    /// caller reloads it.
    ///
    /// Completes on a notification (and on any already received with it, so a burst of changes
    /// costs one reload per topic), and also, naming every topic, when the listening connection
    /// was lost and has been re-established, since notifications sent meanwhile are gone. After
    /// an error, the next call listens anew and, once listening, completes at once for the same
    /// reason.
    ///
    /// # Errors
    /// [`AccessStoreError::Unexpected`] when the database cannot be reached (or the pool was
    /// closed). Calling again retries; changes missed in between are covered by the reload the
    /// next `Ok` asks for.
    pub async fn next(&mut self) -> Result<Changed, AccessStoreError> {
        let Some(listener) = &mut self.listener else {
            self.listener = Some(listen(&self.pool).await?);
            return Ok(Changed::EVERYTHING);
        };
        match listener.try_recv().await {
            Ok(Some(notification)) => {
                let mut changed = Changed::default();
                changed.add(notification.channel());
                while let Some(more) = listener.next_buffered() {
                    changed.add(more.channel());
                }
                Ok(changed)
            }
            // The connection was lost and is listening again.
            Ok(None) => {
                while listener.next_buffered().is_some() {}
                Ok(Changed::EVERYTHING)
            }
            Err(error) => {
                // Start over with a fresh listener (and connection) on the next call, rather
                // than rely on this one recovering from whatever failed.
                self.listener = None;
                Err(AccessStoreError::unexpected(error))
            }
        }
    }
}
