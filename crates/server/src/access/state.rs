//! The access-control state every request is decided against, held in memory: the domain's
//! [`AccessSnapshot`] (principals, roles, bindings) and the key ring (unrevoked API keys by
//! prefix). No request queries the database for either.
//!
//! The state is one immutable value behind an [`ArcSwap`]: readers take a pointer without
//! locking and are never blocked by a reload; a reload builds a new value and swaps it in.
//! It is reloaded
//! - by the replica that made a change, before it answers (so a caller reads its own writes), and
//! - on every other replica through [`crm_persistence::notify`] (PostgreSQL `LISTEN`/`NOTIFY`),
//! - and every `access_refresh_interval` as a safety net (a notification lost while a listener
//!   reconnects must not leave a replica stale forever).

use std::{collections::HashMap, sync::Arc};

use arc_swap::ArcSwap;
use chrono::{DateTime, Utc};
use crm_domain::{
    access::{AccessSnapshot, AccessStoreError, ApiKeyPrefix, ApiKeyRecord},
    caller::Caller,
    ports::AccessRepository,
};
use crm_persistence::{Database, SqlAccessRepository, notify};
use tokio::sync::Mutex;

use crate::access::api_key::{ApiKey, verify_secret};

/// Everything decisions and authentication read, as of one reload.
#[derive(Debug)]
pub(crate) struct AccessView {
    /// Principals, roles and bindings.
    pub(crate) snapshot: AccessSnapshot,
    /// Every unrevoked key, by public prefix.
    keys: HashMap<ApiKeyPrefix, ApiKeyRecord>,
}

impl AccessView {
    /// The caller `presented` authenticates as at `now`, or `None` when the key is unknown,
    /// revoked, expired, or its principal is missing or disabled. The secret is compared in
    /// constant time, and an unknown prefix costs the same hash and comparison as a known one.
    pub(crate) fn authenticate(&self, presented: &ApiKey, now: DateTime<Utc>) -> Option<Caller> {
        let record = self.keys.get(&presented.prefix);
        let stored = record.map_or(&[0_u8; 32], |record| &record.secret_hash);
        let matches = verify_secret(&presented.secret, stored);
        let record = record.filter(|_| matches)?;
        if !record.is_usable(now) {
            return None;
        }
        let principal = self.snapshot.principal(&record.principal)?;
        if principal.disabled {
            return None;
        }
        Some(Caller {
            principal: record.principal.clone(),
            key_id: record.id,
            key_prefix: record.prefix.clone(),
        })
    }
}

/// The shared, reloadable access state of one replica.
#[derive(Debug)]
pub(crate) struct AccessState {
    current: ArcSwap<AccessView>,
    repository: SqlAccessRepository,
    db: Database,
    /// Serialises reloads, so that a slower, older load never replaces a newer one.
    reloading: Mutex<()>,
}

impl AccessState {
    /// Loads the state from the database.
    ///
    /// # Errors
    /// When the database cannot be read.
    pub(crate) async fn load(db: Database) -> Result<Arc<Self>, AccessStoreError> {
        let repository = SqlAccessRepository::new(db.clone());
        let view = load_view(&repository).await?;
        Ok(Arc::new(Self {
            current: ArcSwap::from_pointee(view),
            repository,
            db,
            reloading: Mutex::new(()),
        }))
    }

    /// The current view; cheap (no lock, no copy).
    pub(crate) fn view(&self) -> Arc<AccessView> {
        self.current.load_full()
    }

    /// The repository the state is loaded from (for management RPCs and the audit writer).
    pub(crate) fn repository(&self) -> &SqlAccessRepository {
        &self.repository
    }

    /// Reloads from the database and swaps the new view in.
    ///
    /// # Errors
    /// When the database cannot be read; the old view stays in force.
    pub(crate) async fn reload(&self) -> Result<(), AccessStoreError> {
        let _guard = self.reloading.lock().await;
        let view = load_view(&self.repository).await?;
        tracing::debug!(
            principals = view.snapshot.principal_count(),
            bindings = view.snapshot.binding_count(),
            keys = view.keys.len(),
            "access state reloaded"
        );
        self.current.store(Arc::new(view));
        Ok(())
    }

    /// After a change through this replica: reloads here, then tells the other replicas.
    ///
    /// # Errors
    /// When the reload or the notification fails (the change itself is stored either way;
    /// the periodic refresh picks it up).
    pub(crate) async fn changed(&self) -> Result<(), AccessStoreError> {
        self.reload().await?;
        notify::publish_access_changed(&self.db).await
    }
}

async fn load_view(repository: &SqlAccessRepository) -> Result<AccessView, AccessStoreError> {
    let snapshot = repository.load_snapshot().await?;
    let keys = repository
        .list_unrevoked_api_keys()
        .await?
        .into_iter()
        .map(|key| (key.prefix.clone(), key))
        .collect();
    Ok(AccessView { snapshot, keys })
}
