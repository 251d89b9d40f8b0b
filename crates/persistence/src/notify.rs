//! Telling every replica that access control changed.
//!
//! Each server replica holds the access data in memory (the snapshot of principals, roles and
//! bindings decisions are made from, and the unrevoked API keys it authenticates with), so that a
//! request needs no query to be authorised. When one replica changes a principal, role, binding
//! or key, the others must learn of it, or they would keep granting what was just revoked. On
//! PostgreSQL the writer calls [`publish_access_changed`] after its change is committed, which
//! sends a notification on [`ACCESS_CHANNEL`]; every replica waits on
//! [`subscribe_access_changes`]'s [`AccessChanges::next`] and reloads when it completes.
//!
//! Notifications carry no payload and are only a hint to reload: a reload always reads the
//! whole state, so several changes may share one reload. PostgreSQL does not keep notifications
//! for a listener that is not connected, so whenever the listening connection was lost (or
//! waiting failed), the next successful [`AccessChanges::next`] completes at once: the caller
//! then reloads, and a missed notification can only cause a reload, never stale data. Two cases
//! remain that no listener can see: a publish that fails after its change was committed, and a
//! connection that dies silently (no reset reaches this side, as in a network partition) until
//! the operating system gives up on it. A periodic reload as well bounds how stale data can be.
//!
//! To see every change, subscribe **before** the first load: then `LISTEN` is in effect before
//! the state is read, and any change after it wakes [`AccessChanges::next`].
//!
//! On PostgreSQL the writing replica's own subscription is woken too. On SQLite there is nothing
//! to send: one process owns the file, so there are no other replicas, and that process must
//! reload after its own changes itself. [`publish_access_changed`] does nothing there and
//! [`subscribe_access_changes`] returns `None`.

use crm_domain::access::AccessStoreError;
use sea_orm::{
    ConnectionTrait, Statement,
    sqlx::postgres::{PgListener, PgPool},
};

use crate::database::{Backend, Database};

/// The PostgreSQL notification channel on which access-control changes are announced.
pub const ACCESS_CHANNEL: &str = "crm_access_changed";

/// Announces to every replica that principals, roles, bindings or API keys changed. Call it
/// after the change is committed. On PostgreSQL this sends an empty notification on
/// [`ACCESS_CHANNEL`]; on SQLite it does nothing.
///
/// # Errors
/// [`AccessStoreError::Unexpected`] when the notification cannot be sent.
pub async fn publish_access_changed(db: &Database) -> Result<(), AccessStoreError> {
    match db.backend() {
        Backend::Sqlite => Ok(()),
        Backend::Postgres => {
            let statement = Statement::from_sql_and_values(
                sea_orm::DatabaseBackend::Postgres,
                "SELECT pg_notify($1, '')",
                [ACCESS_CHANNEL.into()],
            );
            db.connection()
                .execute_raw(statement)
                .await
                .map(drop)
                .map_err(crate::errors::access_error)
        }
    }
}

/// Starts listening for [`publish_access_changed`] from any replica (this one included).
///
/// On PostgreSQL the subscription holds one connection of `db`'s pool for as long as it lives, so
/// the pool needs at least one connection more than the requests use; drop it before
/// [`Database::close`], which waits for every connection to be returned. On SQLite returns
/// `None`: there are no other replicas.
///
/// # Errors
/// [`AccessStoreError::Unexpected`] when no connection can be had or `LISTEN` fails.
pub async fn subscribe_access_changes(db: &Database) -> Result<Option<AccessChanges>, AccessStoreError> {
    match db.backend() {
        Backend::Sqlite => Ok(None),
        Backend::Postgres => {
            let pool = db.connection().get_postgres_connection_pool().clone();
            let listener = listen(&pool).await?;
            Ok(Some(AccessChanges {
                pool,
                listener: Some(listener),
            }))
        }
    }
}

/// A listener on [`ACCESS_CHANNEL`] holding a connection of `pool`.
async fn listen(pool: &PgPool) -> Result<PgListener, AccessStoreError> {
    let mut listener = PgListener::connect_with(pool)
        .await
        .map_err(AccessStoreError::unexpected)?;
    listener
        .listen(ACCESS_CHANNEL)
        .await
        .map_err(AccessStoreError::unexpected)?;
    Ok(listener)
}

/// A subscription to access-control changes on PostgreSQL, from [`subscribe_access_changes`].
pub struct AccessChanges {
    /// The pool a new listener is taken from after the current one failed.
    pool: PgPool,
    /// Listens on [`ACCESS_CHANNEL`] and reconnects (listening again) by itself when its
    /// connection is lost. `None` after it failed otherwise: notifications may have been missed
    /// since, so the next [`AccessChanges::next`] listens anew and completes at once.
    listener: Option<PgListener>,
}

impl std::fmt::Debug for AccessChanges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessChanges")
            .field("channel", &ACCESS_CHANNEL)
            .field("listening", &self.listener.is_some())
            .finish_non_exhaustive()
    }
}

impl AccessChanges {
    /// Waits until the access data may have changed, then completes: the caller reloads it.
    ///
    /// Completes on a notification (and on any already received with it, so a burst of changes
    /// costs one reload), and also when the listening connection was lost and has been
    /// re-established, since notifications sent meanwhile are gone. After an error, the next
    /// call listens anew and, once listening, completes at once for the same reason.
    ///
    /// # Errors
    /// [`AccessStoreError::Unexpected`] when the database cannot be reached (or the pool was
    /// closed). Calling again retries; changes missed in between are covered by the reload the
    /// next `Ok` asks for.
    pub async fn next(&mut self) -> Result<(), AccessStoreError> {
        let Some(listener) = &mut self.listener else {
            self.listener = Some(listen(&self.pool).await?);
            return Ok(());
        };
        match listener.try_recv().await {
            // A notification, or `None`: the connection was lost and is listening again.
            Ok(_) => {
                while listener.next_buffered().is_some() {}
                Ok(())
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
