//! The classification use cases over any [`CustomerRepository`] and
//! [`ClassificationRepository`]: recording activity, classifying one customer, overrides,
//! policies, the dry-run preview, batch re-classification, history and segment counts.
//!
//! Like the customer use cases, each takes the request's [`Authorizer`] and enforces access
//! itself. [`Classifier`] carries the active policy and the request's "now"; every write that
//! changes a customer's inputs re-classifies it in the same transaction through
//! [`Classifier::apply`].

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, TimeDelta, Utc};

use super::{
    activity::{ActivitySummary, Interaction, InteractionChannel, InteractionId, OrderRef, Purchase},
    dimension::{ClassValue, Dimension},
    engine::{ClassificationInput, classify},
    policy::{ClassificationPolicy, Money, PolicyVersion, PolicyVersionId},
    record::{ClassChange, ClassOverride, Classification, HistoryEntry, HistorySource},
};
use crate::{
    access::{Authorizer, CustomerFacts, Permission},
    customer::{Customer, Version, values::CustomerId},
    error::CustomerError,
    ports::{ClassificationRepository, CustomerRepository, HistoryQuery, Pacing, PurchaseWrite, SegmentCount},
};

/// The active policy and the time, for one request or one batch run.
#[derive(Debug, Clone, Copy)]
pub struct Classifier<'a> {
    /// The policy version in effect.
    pub policy: &'a PolicyVersion,
    /// "Now" for every rule.
    pub now: DateTime<Utc>,
}

/// The start of a trailing window of `days` ending at `now`.
pub fn window_start(now: DateTime<Utc>, days: u32) -> DateTime<Utc> {
    now.checked_sub_signed(TimeDelta::days(i64::from(days)))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

impl Classifier<'_> {
    /// Re-classifies `customer` in place (its profile and activity as they are now) and returns
    /// the history rows of every dimension that changed: rule changes with `source`, lapsed
    /// overrides with [`HistorySource::Override`].
    pub fn apply(
        &self,
        customer: &mut Customer,
        source: HistorySource,
        actor: Option<&crate::customer::values::PrincipalName>,
    ) -> Vec<HistoryEntry> {
        let assessment = classify(
            &ClassificationInput::of(&customer.profile, customer.activity),
            &self.policy.policy,
            self.now,
        );
        let (classification, changes) = Classification::reconcile(
            customer.classification.as_ref(),
            assessment,
            &self.policy.policy,
            self.policy.version,
            source,
            self.now,
        );
        customer.classification = Some(classification);
        self.entries(&customer.id, &changes, actor)
    }

    fn entries(
        &self,
        customer: &CustomerId,
        changes: &[ClassChange],
        actor: Option<&crate::customer::values::PrincipalName>,
    ) -> Vec<HistoryEntry> {
        changes
            .iter()
            .map(|change| change.entry(customer, self.policy.version, actor, self.now))
            .collect()
    }

    /// The start of the policy's trailing window.
    pub fn window_start(&self) -> DateTime<Utc> {
        window_start(self.now, self.policy.policy.window_days)
    }
}

/// A purchase as a caller asks to record it.
#[derive(Debug, Clone)]
pub struct NewPurchase {
    /// The customer.
    pub customer: CustomerId,
    /// The caller's order id.
    pub order_ref: OrderRef,
    /// The amount, negative for a refund.
    pub amount: Money,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
}

/// What recording a purchase returned.
#[derive(Debug, Clone)]
pub struct RecordedPurchase {
    /// The stored purchase.
    pub purchase: Purchase,
    /// The customer after re-classification, as the caller may see it.
    pub customer: Customer,
    /// Whether it had been recorded before (and nothing changed now).
    pub already_recorded: bool,
}

/// Counters a batch run reports after every batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReclassifyProgress {
    /// Customers looked at so far.
    pub processed: u64,
    /// Customers whose classification or aggregates were rewritten.
    pub changed: u64,
    /// Non-deleted customers when the run started.
    pub total: u64,
    /// History rows appended.
    pub history_entries: u64,
    /// Overrides that lapsed.
    pub overrides_lapsed: u64,
    /// Customers whose window revenue reached the limit of a sum,
    /// ±[`Money::MAX_SUM`]: classified with the saturated sum (which is past every threshold,
    /// as the true one is) and reported, since it almost certainly means bad data.
    pub revenue_out_of_range: u64,
}

/// The most customer ids a run's [`ReclassifyReport`] lists.
pub const MAX_REPORTED_CUSTOMERS: usize = 100;

/// What a finished batch run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReclassifyReport {
    /// The final counters.
    pub counters: ReclassifyProgress,
    /// The first [`MAX_REPORTED_CUSTOMERS`] of the customers counted in
    /// `counters.revenue_out_of_range`, in id order.
    pub revenue_out_of_range: Vec<CustomerId>,
}

/// The number of customers per (from, to) transition of each dimension, and a sample.
#[derive(Debug, Clone, Default)]
pub struct PolicyPreview {
    /// Transition counts per dimension; `from` is `None` for customers not classified yet.
    pub transitions: BTreeMap<Dimension, BTreeMap<(Option<ClassValue>, ClassValue), u64>>,
    /// Customers looked at.
    pub evaluated: u64,
    /// Customers with at least one changed dimension.
    pub changed: u64,
    /// Up to the requested number of affected customers with their changes and reasons.
    pub samples: Vec<PreviewSample>,
}

/// One affected customer in a preview.
#[derive(Debug, Clone)]
pub struct PreviewSample {
    /// The customer (contact masked as the caller may see it).
    pub customer: Customer,
    /// Its changes with the new value's reasons.
    pub changes: Vec<(ClassChange, Vec<String>)>,
}

/// How many customers a batch run reads and writes at once.
pub const BATCH_SIZE: u32 = 500;

/// A batch run gives way to other tasks after classifying this many customers.
const YIELD_EVERY: usize = 64;

/// Gives way once to the other tasks of the executor: the first poll wakes itself and returns
/// pending, the second is ready.
fn yield_now() -> impl std::future::Future<Output = ()> {
    let mut yielded = false;
    std::future::poll_fn(move |cx| {
        if yielded {
            std::task::Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
}

/// The classification use cases.
#[derive(Debug, Clone)]
pub struct ClassificationService<C, R> {
    customers: C,
    store: R,
}

fn deleted_or_missing(id: &CustomerId, customer: Option<Customer>) -> Result<Customer, CustomerError> {
    let customer = customer.ok_or_else(|| CustomerError::NotFound(id.clone()))?;
    if customer.is_deleted() {
        return Err(CustomerError::Deleted(customer.id));
    }
    Ok(customer)
}

impl<C: CustomerRepository, R: ClassificationRepository> ClassificationService<C, R> {
    /// The use cases over these repositories.
    pub fn new(customers: C, store: R) -> Self {
        Self { customers, store }
    }

    /// The classification store.
    pub fn store(&self) -> &R {
        &self.store
    }

    /// Reads `id` after checking `permission` on it (permission before existence).
    async fn load(
        &self,
        auth: &Authorizer<'_>,
        permission: Permission,
        id: &CustomerId,
    ) -> Result<Customer, CustomerError> {
        let customer = self.customers.find(id).await?;
        auth.require(permission, id, customer.as_ref().map(CustomerFacts::from).as_ref())?;
        deleted_or_missing(id, customer)
    }

    /// Records a purchase (idempotent by order reference) and re-classifies the customer in the
    /// same transaction.
    ///
    /// # Errors
    /// [`CustomerError::Invalid`] (field `amount`) for an amount that
    /// [`Purchase::check_amount`] refuses (zero, or beyond [`Money::MAX_AMOUNT`]);
    /// [`CustomerError::PermissionDenied`] without `activity.record` on the customer;
    /// `NotFound` / `Deleted`; [`CustomerError::PurchaseConflict`] when the order reference was
    /// recorded with another amount or time.
    pub async fn record_purchase(
        &self,
        auth: &Authorizer<'_>,
        classifier: &Classifier<'_>,
        new: NewPurchase,
    ) -> Result<RecordedPurchase, CustomerError> {
        let mut violations = crate::error::Violations::new();
        violations.check("amount", Purchase::check_amount(new.amount));
        if !violations.is_empty() {
            return Err(CustomerError::Invalid(violations));
        }
        let same = |stored: &Purchase| stored.amount == new.amount && stored.occurred_at == new.occurred_at;
        loop {
            let current = self.load(auth, Permission::ActivityRecord, &new.customer).await?;
            if let Some(stored) = self.store.find_purchase(&new.customer, &new.order_ref).await? {
                if !same(&stored) {
                    return Err(CustomerError::PurchaseConflict(new.customer, new.order_ref));
                }
                return Ok(RecordedPurchase {
                    purchase: stored,
                    customer: auth.visible(current),
                    already_recorded: true,
                });
            }
            let purchase = Purchase {
                customer: new.customer.clone(),
                order_ref: new.order_ref.clone(),
                amount: new.amount,
                occurred_at: new.occurred_at,
                recorded_at: classifier.now,
                recorded_by: auth.principal().clone(),
            };
            let mut next = current.clone();
            next.activity = next
                .activity
                .with_purchase(new.amount, new.occurred_at, classifier.window_start());
            next.version = current.version.next();
            next.update_time = classifier.now;
            let history = classifier.apply(&mut next, HistorySource::Rule, Some(auth.principal()));
            match self
                .store
                .record_purchase(&purchase, &next, current.version, &history)
                .await
            {
                Ok(PurchaseWrite::Recorded) => {
                    return Ok(RecordedPurchase {
                        purchase,
                        customer: auth.visible(next),
                        already_recorded: false,
                    });
                }
                Ok(PurchaseWrite::AlreadyRecorded(stored)) => {
                    if !same(&stored) {
                        return Err(CustomerError::PurchaseConflict(new.customer, new.order_ref));
                    }
                    return Ok(RecordedPurchase {
                        purchase: stored,
                        customer: auth.visible(current),
                        already_recorded: true,
                    });
                }
                Err(CustomerError::EtagMismatch(_)) => {}
                Err(other) => return Err(other),
            }
        }
    }

    /// Records an interaction.
    ///
    /// # Errors
    /// `PermissionDenied` without `activity.record`; `NotFound` / `Deleted`.
    pub async fn record_interaction(
        &self,
        auth: &Authorizer<'_>,
        customer: &CustomerId,
        channel: InteractionChannel,
        occurred_at: DateTime<Utc>,
        note: String,
    ) -> Result<Interaction, CustomerError> {
        self.load(auth, Permission::ActivityRecord, customer).await?;
        let interaction = Interaction {
            id: InteractionId::generate(),
            customer: customer.clone(),
            channel,
            occurred_at,
            note,
            recorded_at: auth.now(),
            recorded_by: auth.principal().clone(),
        };
        self.store.insert_interaction(&interaction).await?;
        Ok(interaction)
    }

    async fn require_readable(&self, auth: &Authorizer<'_>, customer: &CustomerId) -> Result<(), CustomerError> {
        let facts = self.customers.find_facts(customer).await?;
        auth.require(Permission::CustomersGet, customer, facts.as_ref())?;
        if facts.is_none() {
            return Err(CustomerError::NotFound(customer.clone()));
        }
        Ok(())
    }

    /// A page of the customer's purchases, newest first.
    ///
    /// # Errors
    /// `PermissionDenied` without `customers.get` on it; `NotFound`.
    pub async fn list_purchases(
        &self,
        auth: &Authorizer<'_>,
        customer: &CustomerId,
        after: Option<(DateTime<Utc>, OrderRef)>,
        limit: u32,
    ) -> Result<Vec<Purchase>, CustomerError> {
        self.require_readable(auth, customer).await?;
        self.store.list_purchases(customer, after, limit).await
    }

    /// A page of the customer's interactions, newest first.
    ///
    /// # Errors
    /// `PermissionDenied` without `customers.get` on it; `NotFound`.
    pub async fn list_interactions(
        &self,
        auth: &Authorizer<'_>,
        customer: &CustomerId,
        after: Option<(DateTime<Utc>, InteractionId)>,
        limit: u32,
    ) -> Result<Vec<Interaction>, CustomerError> {
        self.require_readable(auth, customer).await?;
        self.store.list_interactions(customer, after, limit).await
    }

    /// `customer` with its window sums recomputed from its purchases as of `classifier`.
    async fn refresh_window(&self, classifier: &Classifier<'_>, customer: &mut Customer) -> Result<(), CustomerError> {
        if !customer.activity.has_purchased() {
            return Ok(());
        }
        let sums = self
            .store
            .window_sums(std::slice::from_ref(&customer.id), classifier.window_start())
            .await?;
        let (orders, revenue) = sums.first().map_or((0, Money::ZERO), |(_, s)| (s.orders, s.revenue));
        customer.activity.window_orders = orders;
        customer.activity.window_revenue = revenue;
        Ok(())
    }

    /// Writes `customer` transformed by `change` (which may fail), retrying on concurrent
    /// writes, and writes nothing when `change` leaves it as it was.
    async fn rewrite(
        &self,
        auth: &Authorizer<'_>,
        classifier: &Classifier<'_>,
        permission: Permission,
        id: &CustomerId,
        change: impl Fn(&mut Customer) -> Result<Vec<HistoryEntry>, CustomerError>,
    ) -> Result<Customer, CustomerError> {
        loop {
            let current = self.load(auth, permission, id).await?;
            let mut next = current.clone();
            self.refresh_window(classifier, &mut next).await?;
            let history = change(&mut next)?;
            if unchanged(&current, &next) {
                return Ok(auth.visible(current));
            }
            next.version = current.version.next();
            next.update_time = classifier.now;
            match self.store.write_classification(&next, current.version, &history).await {
                Ok(()) => return Ok(auth.visible(next)),
                Err(CustomerError::EtagMismatch(_)) => {}
                Err(other) => return Err(other),
            }
        }
    }

    /// Re-classifies one customer now (window sums recomputed from its purchases).
    ///
    /// # Errors
    /// `PermissionDenied` without `classification.run` on it; `NotFound` / `Deleted`.
    pub async fn classify_customer(
        &self,
        auth: &Authorizer<'_>,
        classifier: &Classifier<'_>,
        id: &CustomerId,
    ) -> Result<Customer, CustomerError> {
        self.rewrite(auth, classifier, Permission::ClassificationRun, id, |customer| {
            Ok(classifier.apply(customer, HistorySource::Rule, Some(auth.principal())))
        })
        .await
    }

    /// Pins `value` on its dimension until `expire_time` (or until cleared).
    ///
    /// # Errors
    /// `PermissionDenied` without `classification.override` on the customer; `NotFound` /
    /// `Deleted`.
    pub async fn override_class(
        &self,
        auth: &Authorizer<'_>,
        classifier: &Classifier<'_>,
        id: &CustomerId,
        value: ClassValue,
        reason: String,
        expire_time: Option<DateTime<Utc>>,
    ) -> Result<Customer, CustomerError> {
        self.rewrite(auth, classifier, Permission::ClassificationOverride, id, |customer| {
            let mut history = classifier.apply(customer, HistorySource::Rule, Some(auth.principal()));
            let pin = ClassOverride {
                value,
                reason: reason.clone(),
                actor: auth.principal().clone(),
                create_time: classifier.now,
                expire_time,
            };
            if let Some(current) = customer.classification.as_ref() {
                let (next, change) = current.with_override(pin, &classifier.policy.policy, classifier.now);
                history.extend(classifier.entries(&customer.id, change.as_slice(), Some(auth.principal())));
                customer.classification = Some(next);
            }
            Ok(history)
        })
        .await
    }

    /// Removes the override of `dimension`; the rules' value applies again.
    ///
    /// # Errors
    /// `PermissionDenied` without `classification.override`; `NotFound` / `Deleted`;
    /// [`CustomerError::OverrideNotFound`] when the dimension has no override.
    pub async fn clear_override(
        &self,
        auth: &Authorizer<'_>,
        classifier: &Classifier<'_>,
        id: &CustomerId,
        dimension: Dimension,
    ) -> Result<Customer, CustomerError> {
        self.rewrite(auth, classifier, Permission::ClassificationOverride, id, |customer| {
            let pinned = customer
                .classification
                .as_ref()
                .is_some_and(|c| c.get(dimension).override_.is_some());
            if !pinned {
                return Err(CustomerError::OverrideNotFound(customer.id.clone(), dimension));
            }
            let mut history = classifier.apply(customer, HistorySource::Rule, Some(auth.principal()));
            let assessment = classify(
                &ClassificationInput::of(&customer.profile, customer.activity),
                &classifier.policy.policy,
                classifier.now,
            );
            let reasons = assessment.classes[dimension.index()].reasons.clone();
            // The override may have lapsed in `apply` already; then there is nothing left to clear.
            if let Some(current) = customer.classification.as_ref()
                && let Some((next, change)) =
                    current.without_override(dimension, reasons, &classifier.policy.policy, classifier.now)
            {
                history.extend(classifier.entries(&customer.id, change.as_slice(), Some(auth.principal())));
                customer.classification = Some(next);
            }
            Ok(history)
        })
        .await
    }

    /// The active policy version.
    ///
    /// # Errors
    /// `PermissionDenied` without `policy.read`.
    pub async fn active_policy(&self, auth: &Authorizer<'_>) -> Result<Option<PolicyVersion>, CustomerError> {
        auth.require_global(Permission::PolicyRead, "policies/active")
            .map_err(CustomerError::PermissionDenied)?;
        self.store.active_policy().await
    }

    /// One policy version.
    ///
    /// # Errors
    /// `PermissionDenied` without `policy.read`; `PolicyVersionNotFound`.
    pub async fn get_policy(
        &self,
        auth: &Authorizer<'_>,
        version: PolicyVersionId,
    ) -> Result<PolicyVersion, CustomerError> {
        auth.require_global(Permission::PolicyRead, &version.resource_name())
            .map_err(CustomerError::PermissionDenied)?;
        self.store
            .find_policy(version)
            .await?
            .ok_or(CustomerError::PolicyVersionNotFound(version))
    }

    /// A page of policy versions, newest first.
    ///
    /// # Errors
    /// `PermissionDenied` without `policy.read`.
    pub async fn list_policies(
        &self,
        auth: &Authorizer<'_>,
        before: Option<PolicyVersionId>,
        limit: u32,
    ) -> Result<Vec<PolicyVersion>, CustomerError> {
        auth.require_global(Permission::PolicyRead, "policies")
            .map_err(CustomerError::PermissionDenied)?;
        self.store.list_policies(before, limit).await
    }

    /// Validates `policy` and, unless `validate_only`, stores it as a new inactive version.
    /// With `validate_only` the returned version has number 0 and is not stored.
    ///
    /// # Errors
    /// `PermissionDenied` without `policy.write`; `Invalid` with every violation.
    pub async fn create_policy(
        &self,
        auth: &Authorizer<'_>,
        policy: ClassificationPolicy,
        description: String,
        validate_only: bool,
    ) -> Result<PolicyVersion, CustomerError> {
        auth.require_global(Permission::PolicyWrite, "policies")
            .map_err(CustomerError::PermissionDenied)?;
        let violations = policy.violations();
        if !violations.is_empty() {
            return Err(CustomerError::Invalid(violations));
        }
        if validate_only {
            return Ok(PolicyVersion {
                version: PolicyVersionId::new(0),
                policy,
                description,
                active: false,
                create_time: auth.now(),
                creator: Some(auth.principal().clone()),
                activate_time: None,
            });
        }
        self.store
            .insert_policy(&policy, &description, Some(auth.principal()), auth.now(), false)
            .await
    }

    /// Makes `version` active. The caller then re-classifies every customer (see
    /// [`ClassificationService::reclassify`]).
    ///
    /// # Errors
    /// `PermissionDenied` without `policy.write`; `PolicyVersionNotFound`.
    pub async fn activate_policy(
        &self,
        auth: &Authorizer<'_>,
        version: PolicyVersionId,
    ) -> Result<PolicyVersion, CustomerError> {
        auth.require_global(Permission::PolicyWrite, &version.resource_name())
            .map_err(CustomerError::PermissionDenied)?;
        self.store.activate_policy(version, auth.now()).await
    }

    /// Checks that the caller may run a batch (or preview): `permission` and `customers.list`
    /// over every customer.
    fn require_everything(&self, auth: &Authorizer<'_>, permission: Permission) -> Result<(), CustomerError> {
        auth.require_global(permission, "customers")
            .map_err(CustomerError::PermissionDenied)?;
        match auth.list_scope(None)? {
            crate::access::ListScope::Everything => Ok(()),
            _ => {
                use crate::access::Reason;
                let reason = match auth
                    .decide(Permission::CustomersList, Some(&CustomerFacts::default()))
                    .into_reason()
                {
                    reason @ (Reason::OutOfScope { .. } | Reason::GradeNotCovered { .. }) => reason,
                    _ => Reason::NoBindingWithPermission,
                };
                Err(CustomerError::PermissionDenied(crate::access::Denial {
                    permission: Permission::CustomersList,
                    resource: "customers".to_owned(),
                    reason,
                }))
            }
        }
    }

    /// What activating `candidate` would change, without changing anything: every non-deleted
    /// customer is classified under it (window sums over its window) and compared with its
    /// stored classification; overrides in force stay pinned.
    ///
    /// # Errors
    /// `PermissionDenied` without `policy.read` and `customers.list` over every customer.
    pub async fn preview(
        &self,
        auth: &Authorizer<'_>,
        candidate: &PolicyVersion,
        sample_size: usize,
    ) -> Result<PolicyPreview, CustomerError> {
        self.require_everything(auth, Permission::PolicyRead)?;
        let classifier = Classifier {
            policy: candidate,
            now: auth.now(),
        };
        let mut preview = PolicyPreview::default();
        let mut after: Option<CustomerId> = None;
        loop {
            let batch = self.customers_with_window(&classifier, after.as_ref()).await?;
            let Some((last, _)) = batch.last() else { break };
            after = Some(last.id.clone());
            for (mut customer, _) in batch {
                preview.evaluated += 1;
                let before = customer.clone();
                let history = classifier.apply(&mut customer, HistorySource::PolicyChange, None);
                if history.is_empty() {
                    continue;
                }
                preview.changed += 1;
                for entry in &history {
                    *preview
                        .transitions
                        .entry(entry.change.dimension)
                        .or_default()
                        .entry((entry.change.from, entry.change.to))
                        .or_default() += 1;
                }
                if preview.samples.len() < sample_size {
                    let reasons_of = |d: Dimension| {
                        customer
                            .classification
                            .as_ref()
                            .map(|c| c.get(d).reasons.clone())
                            .unwrap_or_default()
                    };
                    let changes = history
                        .iter()
                        .map(|e| (e.change.clone(), reasons_of(e.change.dimension)))
                        .collect();
                    preview.samples.push(PreviewSample {
                        customer: auth.visible(before),
                        changes,
                    });
                }
            }
        }
        Ok(preview)
    }

    /// The next batch of non-deleted customers after `after`, with window sums recomputed for
    /// `classifier`'s window.
    async fn customers_with_window(
        &self,
        classifier: &Classifier<'_>,
        after: Option<&CustomerId>,
    ) -> Result<Vec<(Customer, ActivitySummary)>, CustomerError> {
        let mut batch: Vec<(Customer, ActivitySummary)> = self
            .store
            .scan_live(after, BATCH_SIZE)
            .await?
            .into_iter()
            .map(|c| {
                let stored = c.activity;
                (c, stored)
            })
            .collect();
        let buyers: Vec<CustomerId> = batch
            .iter()
            .filter(|(c, _)| c.activity.has_purchased())
            .map(|(c, _)| c.id.clone())
            .collect();
        if buyers.is_empty() {
            return Ok(batch);
        }
        let sums: HashMap<CustomerId, _> = self
            .store
            .window_sums(&buyers, classifier.window_start())
            .await?
            .into_iter()
            .collect();
        for (customer, _) in &mut batch {
            if customer.activity.has_purchased() {
                let (orders, revenue) = sums
                    .get(&customer.id)
                    .map_or((0, Money::ZERO), |s| (s.orders, s.revenue));
                customer.activity.window_orders = orders;
                customer.activity.window_revenue = revenue;
            }
        }
        Ok(batch)
    }

    /// Checks that the caller may run a batch re-classification: `classification.run` and
    /// `customers.list` over every customer.
    ///
    /// # Errors
    /// `PermissionDenied`.
    pub fn authorize_batch(&self, auth: &Authorizer<'_>) -> Result<(), CustomerError> {
        self.require_everything(auth, Permission::ClassificationRun)
    }

    /// Re-classifies every non-deleted customer under `classifier`, in batches of
    /// [`BATCH_SIZE`]: window sums are recomputed (purchases age out of the window), and only
    /// customers whose aggregates or classification changed are written
    /// ([`ClassificationRepository::write_classifications`]) while the next batch is read.
    /// `pacing` says how: before each part of a batch, how many customers per statement and how
    /// many statements at once; after it, when to go on (see [`Pacing`]).
    /// Interrupting it leaves every finished part written; running it again
    /// writes only what is still out of date. A customer written concurrently is re-read and
    /// re-done. History rows get [`HistorySource::PolicyChange`] for customers last classified
    /// under another policy version, else `schedule_source`.
    ///
    /// The caller authorizes (see [`authorize_batch`](Self::authorize_batch)) and makes sure
    /// only one run goes at a time. `progress` is called after every batch.
    ///
    /// Customers whose window revenue saturates (see [`Money`]) are classified with the
    /// saturated sum and reported: counted in `revenue_out_of_range`, the first
    /// [`MAX_REPORTED_CUSTOMERS`] by id. No single customer's data stops a run.
    ///
    /// # Errors
    /// `Unexpected` when the store fails; parts written before stay written.
    pub async fn reclassify(
        &self,
        classifier: &Classifier<'_>,
        schedule_source: HistorySource,
        actor: Option<&crate::customer::values::PrincipalName>,
        pacing: &impl Pacing,
        mut progress: impl FnMut(ReclassifyProgress) + Send,
    ) -> Result<ReclassifyReport, CustomerError> {
        let mut counters = ReclassifyProgress {
            total: self.store.count_live().await?,
            ..ReclassifyProgress::default()
        };
        let mut out_of_range = Vec::new();
        let mut batch = self.customers_with_window(classifier, None).await?;
        while let Some((last, _)) = batch.last() {
            let after = last.id.clone();
            counters.processed += batch.len() as u64;
            let mut changed = Changed::new();
            for (i, (current, stored_activity)) in batch.into_iter().enumerate() {
                if i % YIELD_EVERY == YIELD_EVERY - 1 {
                    // Let the requests that share this thread run between customers.
                    yield_now().await;
                }
                if current.activity.window_revenue.is_saturated() {
                    counters.revenue_out_of_range += 1;
                    if out_of_range.len() < MAX_REPORTED_CUSTOMERS {
                        out_of_range.push(current.id.clone());
                    }
                }
                if let Some((next, entries)) = self.redo(classifier, &current, stored_activity, schedule_source, actor)
                {
                    counters.overrides_lapsed += lapsed(&entries);
                    changed.push(next, current.version, entries);
                }
            }
            // The next batch is read while this one is written (they share no customer).
            let write = self.write_changed(classifier, schedule_source, actor, pacing, &changed, &mut counters);
            let (next, written) =
                futures::future::join(self.customers_with_window(classifier, Some(&after)), write).await;
            written?;
            batch = next?;
            progress(counters);
        }
        Ok(ReclassifyReport {
            counters,
            revenue_out_of_range: out_of_range,
        })
    }

    /// Writes the changed customers of one batch in the parts `pacing` plans, then re-does
    /// those a concurrent write changed meanwhile.
    async fn write_changed(
        &self,
        classifier: &Classifier<'_>,
        schedule_source: HistorySource,
        actor: Option<&crate::customer::values::PrincipalName>,
        pacing: &impl Pacing,
        changed: &Changed,
        counters: &mut ReclassifyProgress,
    ) -> Result<(), CustomerError> {
        let mut start = 0;
        while start < changed.writes.len() {
            let plan = pacing.plan();
            let chunk = plan.chunk.max(1);
            let end = start
                .saturating_add(chunk.saturating_mul(plan.parallel.max(1)))
                .min(changed.writes.len());
            let parts = (start..end).step_by(chunk).map(|from| {
                let to = from.saturating_add(chunk).min(end);
                let (writes, history) = changed.part(from, to);
                async move {
                    let conflicted = self.store.write_classifications(writes, history).await?;
                    Ok::<_, CustomerError>((writes.len(), history, conflicted))
                }
            });
            let mut conflicted = Vec::new();
            for done in futures::future::join_all(parts).await {
                let (writes, history, lost) = done?;
                counters.changed += (writes - lost.len()) as u64;
                counters.history_entries += history.iter().filter(|h| !lost.contains(&h.customer)).count() as u64;
                conflicted.extend(lost);
            }
            for id in conflicted {
                if self.redo_one(classifier, &id, schedule_source, actor, counters).await? {
                    counters.changed += 1;
                }
            }
            start = end;
            pacing.rest().await;
        }
        Ok(())
    }

    /// `current` (window sums refreshed; `stored_activity` is what its row holds)
    /// re-classified, if anything about it changed.
    fn redo(
        &self,
        classifier: &Classifier<'_>,
        current: &Customer,
        stored_activity: ActivitySummary,
        schedule_source: HistorySource,
        actor: Option<&crate::customer::values::PrincipalName>,
    ) -> Option<(Customer, Vec<HistoryEntry>)> {
        let source = match &current.classification {
            Some(c) if c.policy_version != classifier.policy.version => HistorySource::PolicyChange,
            None => HistorySource::PolicyChange,
            Some(_) => schedule_source,
        };
        let mut next = current.clone();
        let history = classifier.apply(&mut next, source, actor);
        if stored_activity == next.activity && unchanged(current, &next) {
            return None;
        }
        next.version = current.version.next();
        next.update_time = classifier.now;
        Some((next, history))
    }

    /// Re-does one customer that a concurrent write changed during a batch; true when written.
    async fn redo_one(
        &self,
        classifier: &Classifier<'_>,
        id: &CustomerId,
        schedule_source: HistorySource,
        actor: Option<&crate::customer::values::PrincipalName>,
        counters: &mut ReclassifyProgress,
    ) -> Result<bool, CustomerError> {
        loop {
            let Some(mut current) = self.customers.find(id).await? else {
                return Ok(false);
            };
            if current.is_deleted() {
                return Ok(false);
            }
            let stored_activity = current.activity;
            self.refresh_window(classifier, &mut current).await?;
            let Some((next, history)) = self.redo(classifier, &current, stored_activity, schedule_source, actor) else {
                return Ok(false);
            };
            match self.store.write_classification(&next, current.version, &history).await {
                Ok(()) => {
                    counters.overrides_lapsed += lapsed(&history);
                    counters.history_entries += history.len() as u64;
                    return Ok(true);
                }
                Err(CustomerError::EtagMismatch(_)) => {}
                Err(CustomerError::NotFound(_)) => return Ok(false),
                Err(other) => return Err(other),
            }
        }
    }

    /// A page of history rows, newest first: one customer's (needs `customers.get` on it), or
    /// every customer's within the caller's `customers.list` scope.
    ///
    /// # Errors
    /// `PermissionDenied`; `NotFound` for an unknown customer.
    pub async fn list_history(
        &self,
        auth: &Authorizer<'_>,
        mut query: HistoryQuery,
        limit: u32,
    ) -> Result<Vec<HistoryEntry>, CustomerError> {
        match &query.customer {
            Some(customer) => self.require_readable(auth, customer).await?,
            None => query.scope = Some(auth.list_scope(None)?),
        }
        self.store.list_history(&query, limit).await
    }

    /// Customer counts per value of each dimension within the caller's `customers.list` scope.
    ///
    /// # Errors
    /// `PermissionDenied` without `customers.list`.
    pub async fn segment_counts(
        &self,
        auth: &Authorizer<'_>,
        by_department: bool,
    ) -> Result<Vec<SegmentCount>, CustomerError> {
        let scope = auth.list_scope(None)?;
        self.store.segment_counts(&scope, by_department).await
    }
}

/// The customers of one batch that changed, with their history entries in the same order.
struct Changed {
    /// Each changed customer with the version it was read at.
    writes: Vec<(Customer, Version)>,
    /// Every history entry, customer after customer.
    history: Vec<HistoryEntry>,
    /// Where the history of `writes[i]` starts in `history` is `history_bounds[i]`, where it
    /// ends `history_bounds[i + 1]` (so it starts with a 0).
    history_bounds: Vec<usize>,
}

impl Changed {
    fn new() -> Self {
        Self {
            writes: Vec::new(),
            history: Vec::new(),
            history_bounds: vec![0],
        }
    }

    fn push(&mut self, customer: Customer, read_at: Version, history: Vec<HistoryEntry>) {
        self.writes.push((customer, read_at));
        self.history.extend(history);
        self.history_bounds.push(self.history.len());
    }

    /// The customers `from..to` and their history.
    fn part(&self, from: usize, to: usize) -> (&[(Customer, Version)], &[HistoryEntry]) {
        (
            &self.writes[from..to],
            &self.history[self.history_bounds[from]..self.history_bounds[to]],
        )
    }
}

fn lapsed(entries: &[HistoryEntry]) -> u64 {
    entries
        .iter()
        .filter(|e| e.change.source == HistorySource::Override)
        .count() as u64
}

/// Whether `next` says the same as `current`: same aggregates and the same classification
/// outcome (reasons and times aside).
fn unchanged(current: &Customer, next: &Customer) -> bool {
    current.activity == next.activity
        && match (&current.classification, &next.classification) {
            (Some(a), Some(b)) => a.same_outcome(b),
            (None, None) => true,
            _ => false,
        }
}
