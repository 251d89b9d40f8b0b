//! How this replica learns of the other replicas' changes to what it holds in memory: the access
//! state (principals, roles, bindings, keys; [`AccessState`]) and the active classification
//! policy ([`ClassificationState`]).
//!
//! One listening connection ([`crm_persistence::notify::subscribe_changes`]) hears both topics
//! on PostgreSQL, and each notification reloads what it names, within milliseconds of the other
//! replica's commit. Everything is reloaded as well every `access_refresh_interval`, as a
//! safety net (a notification lost while the listener reconnects must not leave a replica stale
//! forever), and on SQLite (one process per file) that refresh is all there is. The replica
//! that makes a change reloads before it answers, so a caller always reads its own writes.

use std::{sync::Arc, time::Duration};

use crm_persistence::{Changed, Database, notify};

use crate::{access::state::AccessState, classification::state::ClassificationState};

/// Keeps `access` and `classification` current: reloads what each change notification from
/// other replicas (PostgreSQL) names, and everything every `every`. Runs until aborted.
pub(crate) async fn follow(
    access: Arc<AccessState>,
    classification: Arc<ClassificationState>,
    db: Database,
    every: Duration,
) {
    let mut changes = match notify::subscribe_changes(&db).await {
        Ok(changes) => changes,
        Err(error) => {
            tracing::warn!(%error, "cannot listen for other replicas' changes; relying on the periodic refresh");
            None
        }
    };
    // A change committed between the first load and the subscription would be missed: load
    // once more now that we listen.
    reload(&access, &classification, Changed::EVERYTHING).await;
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    interval.tick().await;
    loop {
        let notified = async {
            match changes.as_mut() {
                Some(changes) => changes.next().await,
                None => std::future::pending().await,
            }
        };
        let changed = tokio::select! {
            result = notified => match result {
                Ok(changed) => changed,
                Err(error) => {
                    tracing::warn!(%error, "the change listener failed; reloading everything anyway");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    Changed::EVERYTHING
                }
            },
            _ = interval.tick() => Changed::EVERYTHING,
        };
        reload(&access, &classification, changed).await;
    }
}

/// Reloads what `changed` names; a failure keeps the previous state in force.
async fn reload(access: &AccessState, classification: &ClassificationState, changed: Changed) {
    if changed.access
        && let Err(error) = access.reload().await
    {
        tracing::error!(%error, "cannot reload the access state; the previous one stays in force");
    }
    if changed.policy
        && let Err(error) = classification.reload_policy().await
    {
        tracing::warn!(%error, "reloading the active policy failed; the previous one stays in force");
    }
}
