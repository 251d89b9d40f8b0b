//! The classification runtime shared by the handlers: the clock, the reporting currency, the
//! active policy held in memory (reloaded after an activation here, and on other replicas by
//! [`crate::replicas`] when the activation's notification arrives), the classification use
//! cases, and batch runs — one at a time per process (a mutex) and per database (a PostgreSQL
//! advisory lock, [`ReclassificationLock`]).

use std::{sync::Arc, time::Duration};

use arc_swap::ArcSwap;
use chrono::{DateTime, Utc};
use crm_api::convert::classification::Reporting;
use crm_domain::{
    classification::{
        ClassificationPolicy, ClassificationService, Classifier, HistorySource, PolicyVersion, ReclassifyProgress,
        ReclassifyReport,
    },
    clock::Clock,
    customer::values::PrincipalName,
    error::CustomerError,
    ports::ClassificationRepository,
};
use crm_persistence::{Database, ReclassificationLock, SqlClassificationRepository, SqlCustomerRepository};

use crate::{classification::pacing::GiveWay, metrics::Metrics};

/// The classification use cases over the SQL repositories.
pub(crate) type Classifications = ClassificationService<SqlCustomerRepository, SqlClassificationRepository>;

/// See the module documentation.
#[derive(Debug)]
pub(crate) struct ClassificationState {
    db: Database,
    clock: Arc<dyn Clock>,
    currency: String,
    policy: ArcSwap<PolicyVersion>,
    service: Classifications,
    runs: tokio::sync::Mutex<()>,
    metrics: Arc<Metrics>,
}

impl ClassificationState {
    /// Loads the active policy, storing the built-in defaults as version 1 on a database that
    /// has none.
    ///
    /// # Errors
    /// When the database fails.
    pub(crate) async fn load(
        db: Database,
        clock: Arc<dyn Clock>,
        currency: String,
        metrics: Arc<Metrics>,
    ) -> Result<Arc<Self>, CustomerError> {
        let store = SqlClassificationRepository::new(db.clone());
        let policy = match store.active_policy().await? {
            Some(policy) => policy,
            None => {
                store
                    .insert_policy(
                        &ClassificationPolicy::default(),
                        "Built-in defaults (DESIGN.md §2.3), stored on first start",
                        None,
                        clock.now(),
                        true,
                    )
                    .await?
            }
        };
        Ok(Arc::new(Self {
            service: ClassificationService::new(SqlCustomerRepository::new(db.clone()), store),
            db,
            clock,
            currency,
            policy: ArcSwap::from_pointee(policy),
            runs: tokio::sync::Mutex::new(()),
            metrics,
        }))
    }

    /// The use cases.
    pub(crate) fn service(&self) -> &Classifications {
        &self.service
    }

    /// Now, by the configured clock.
    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The active policy as last loaded.
    pub(crate) fn policy(&self) -> Arc<PolicyVersion> {
        self.policy.load_full()
    }

    /// The reporting currency.
    pub(crate) fn currency(&self) -> &str {
        &self.currency
    }

    /// How money and windows are shown under `policy`.
    pub(crate) fn reporting<'a>(&'a self, policy: &PolicyVersion) -> Reporting<'a> {
        Reporting {
            currency: &self.currency,
            window_days: policy.policy.window_days,
        }
    }

    /// Reads the active policy again.
    ///
    /// # Errors
    /// When the database fails.
    pub(crate) async fn reload_policy(&self) -> Result<Arc<PolicyVersion>, CustomerError> {
        if let Some(policy) = self.service.store().active_policy().await? {
            let policy = Arc::new(policy);
            self.policy.store(Arc::clone(&policy));
            return Ok(policy);
        }
        Ok(self.policy())
    }

    /// After an activation through this replica: reloads the policy here, then tells the other
    /// replicas. A failed notification is logged, not returned: the activation is committed, and
    /// the other replicas' periodic refresh picks it up.
    ///
    /// # Errors
    /// When the reload fails.
    pub(crate) async fn activated(&self) -> Result<Arc<PolicyVersion>, CustomerError> {
        let policy = self.reload_policy().await?;
        if let Err(error) = crm_persistence::notify::publish_policy_activated(&self.db).await {
            tracing::warn!(%error, "cannot tell the other replicas of the activation; they see it at their next refresh");
        }
        Ok(policy)
    }

    /// Re-classifies every customer under the active policy, after any run in progress here or
    /// on another replica has finished. `progress` is called after every batch.
    ///
    /// # Errors
    /// When the database fails; the batches written before stay written.
    pub(crate) async fn run_batch(
        &self,
        schedule_source: HistorySource,
        actor: Option<&PrincipalName>,
        mut progress: impl FnMut(ReclassifyProgress) + Send,
    ) -> Result<(ReclassifyReport, Arc<PolicyVersion>), CustomerError> {
        let _local = self.runs.lock().await;
        let lock = ReclassificationLock::acquire(&self.db).await?;
        self.metrics.batch_started(0);
        let mut reported = ReclassifyProgress::default();
        let progress = |now: ReclassifyProgress| {
            self.metrics.batch_progress(&now, &reported);
            reported = now;
            progress(now);
        };
        // The policy may have changed while this run waited for the previous one.
        let policy = self.reload_policy().await?;
        let classifier = Classifier {
            policy: &policy,
            now: self.clock.now(),
        };
        let started = std::time::Instant::now();
        let pacing = GiveWay::new(Arc::clone(&self.metrics), self.db.backend());
        let result = self
            .service
            .reclassify(&classifier, schedule_source, actor, &pacing, progress)
            .await;
        lock.release().await;
        self.metrics.batch_finished(result.is_ok());
        if let Ok(report) = &result {
            let done = &report.counters;
            tracing::info!(
                processed = done.processed,
                changed = done.changed,
                history_entries = done.history_entries,
                revenue_out_of_range = done.revenue_out_of_range,
                policy_version = policy.version.get(),
                // A u64, not the u128 `as_millis` gives: the JSON log writes u128 as a string.
                elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                "re-classification finished"
            );
            if done.revenue_out_of_range > 0 {
                let customers: Vec<&str> = report.revenue_out_of_range.iter().map(|id| id.as_str()).collect();
                tracing::warn!(
                    count = done.revenue_out_of_range,
                    customers = ?customers,
                    "customers with a window revenue at the limit of a sum (classified with the limit); \
                     their purchase amounts are probably wrong"
                );
            }
        }
        result.map(|done| (done, policy))
    }

    /// Starts a background run (after a policy activation).
    pub(crate) fn spawn_batch(self: &Arc<Self>, actor: Option<PrincipalName>) {
        let state = Arc::clone(self);
        tokio::spawn(async move {
            if let Err(error) = state.run_batch(HistorySource::Schedule, actor.as_ref(), |_| {}).await {
                tracing::error!(%error, "background re-classification failed");
            }
        });
    }
}

/// Runs the scheduled re-classification now and then every `every` (never when `None`).
pub(crate) async fn schedule(state: Arc<ClassificationState>, every: Option<Duration>) {
    let Some(every) = every else {
        return;
    };
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        if let Err(error) = state.run_batch(HistorySource::Schedule, None, |_| {}).await {
            tracing::error!(%error, "scheduled re-classification failed");
        }
    }
}
