//! [`SqlClassificationRepository`]: the domain's `ClassificationRepository` port over sea-orm —
//! purchases and interactions, policy versions, classification writes (single and batched, each
//! a compare-and-set on the customer's `version`), history, segment counts — and
//! [`ReclassificationLock`], which keeps batch runs of several replicas apart.

use chrono::{DateTime, Utc};
use crm_domain::{
    access::ListScope,
    classification::{
        ClassChange, ClassValue, ClassificationPolicy, Dimension, HistoryEntry, HistoryId, HistorySource, Interaction,
        InteractionChannel, InteractionId, Money, OrderRef, PolicyVersion, PolicyVersionId, Purchase,
    },
    customer::{
        Customer, Version,
        values::{CustomerId, Department, PrincipalName},
    },
    error::CustomerError,
    ports::{ClassificationRepository, HistoryQuery, PurchaseWrite, SegmentCount, WindowSums},
};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, SqlErr, TransactionTrait,
    sea_query::{Condition, Expr, ExprTrait, Query},
};

use crate::{
    database::{Backend, Database},
    entity::{classification_history, classification_policy, customer, interaction, purchase},
    mapping::{dimension_column, set_classification_columns},
    query::{ScopeFilter, scope_filter},
    stored::{class_value, policy_from_json, policy_to_json},
};

/// Activity, policies and classifications stored in the service's SQL database.
#[derive(Debug, Clone)]
pub struct SqlClassificationRepository {
    db: Database,
}

impl SqlClassificationRepository {
    /// A repository on `db` (which must be migrated).
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

fn unexpected(error: DbErr) -> CustomerError {
    crate::errors::customer_error(error)
}

fn corrupt(what: &str, reason: impl std::fmt::Display) -> CustomerError {
    CustomerError::unexpected(format!("stored {what} does not parse: {reason}"))
}

/// The `classification_history` row of one entry.
pub(crate) fn history_row(h: &HistoryEntry) -> classification_history::ActiveModel {
    classification_history::ActiveModel {
        id: Set(h.id.to_string()),
        customer_id: Set(h.customer.as_str().to_owned()),
        dimension: Set(h.change.dimension.name().to_owned()),
        from_value: Set(h.change.from.map(|v| v.name().to_owned())),
        to_value: Set(h.change.to.name().to_owned()),
        source: Set(h.change.source.name().to_owned()),
        policy_version: Set(h.policy_version.get()),
        actor: Set(h.actor.as_ref().map(|a| a.as_str().to_owned())),
        change_time: Set(h.time),
    }
}

/// Appends `history` (in the caller's transaction).
pub(crate) async fn append_history<C: ConnectionTrait>(conn: &C, history: &[HistoryEntry]) -> Result<(), DbErr> {
    if history.is_empty() {
        return Ok(());
    }
    let rows = history.iter().map(history_row);
    // Large batches are split so that no statement exceeds the drivers' bind-parameter limits.
    let rows: Vec<_> = rows.collect();
    for chunk in rows.chunks(1000) {
        classification_history::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(conn)
            .await?;
    }
    Ok(())
}

/// Writes `customer`'s aggregates, classification, version and update time if its stored
/// version is `expected`; false when it is not.
async fn write_if_current<C: ConnectionTrait>(conn: &C, customer: &Customer, expected: Version) -> Result<bool, DbErr> {
    let mut row = customer::ActiveModel {
        version: Set(customer.version.get()),
        update_time: Set(customer.update_time),
        ..Default::default()
    };
    set_classification_columns(&mut row, customer);
    let updated = customer::Entity::update_many()
        .set(row)
        .filter(customer::Column::Id.eq(customer.id.as_str()))
        .filter(customer::Column::Version.eq(expected.get()))
        .exec(conn)
        .await?;
    Ok(updated.rows_affected == 1)
}

async fn exists(db: &Database, id: &CustomerId) -> Result<bool, CustomerError> {
    Ok(customer::Entity::find_by_id(id.as_str())
        .select_only()
        .column(customer::Column::Id)
        .into_tuple::<String>()
        .one(db.connection())
        .await
        .map_err(unexpected)?
        .is_some())
}

fn purchase_from_row(row: purchase::Model) -> Result<Purchase, CustomerError> {
    Ok(Purchase {
        customer: CustomerId::parse(&row.customer_id).map_err(|e| corrupt("purchase", e))?,
        order_ref: OrderRef::parse(&row.order_ref).map_err(|e| corrupt("purchase", e))?,
        amount: Money::from_micros(row.amount_micros),
        occurred_at: row.occur_time,
        recorded_at: row.record_time,
        recorded_by: PrincipalName::parse(&row.recorder).map_err(|e| corrupt("purchase", e))?,
    })
}

fn interaction_from_row(row: interaction::Model) -> Result<Interaction, CustomerError> {
    Ok(Interaction {
        id: InteractionId::parse(&row.id).map_err(|e| corrupt("interaction", e))?,
        customer: CustomerId::parse(&row.customer_id).map_err(|e| corrupt("interaction", e))?,
        channel: InteractionChannel::from_name(&row.channel)
            .ok_or_else(|| corrupt("interaction", format!("unknown channel {:?}", row.channel)))?,
        occurred_at: row.occur_time,
        note: row.note,
        recorded_at: row.record_time,
        recorded_by: PrincipalName::parse(&row.recorder).map_err(|e| corrupt("interaction", e))?,
    })
}

fn policy_from_row(row: classification_policy::Model) -> Result<PolicyVersion, CustomerError> {
    Ok(PolicyVersion {
        version: PolicyVersionId::new(row.version),
        policy: policy_from_json(&row.policy)?,
        description: row.description,
        active: row.active,
        create_time: row.create_time,
        creator: row
            .creator
            .as_deref()
            .map(PrincipalName::parse)
            .transpose()
            .map_err(|e| corrupt("policy", e))?,
        activate_time: row.activate_time,
    })
}

fn history_from_row(row: classification_history::Model) -> Result<HistoryEntry, CustomerError> {
    let dimension = Dimension::from_name(&row.dimension)
        .ok_or_else(|| corrupt("history", format!("unknown dimension {:?}", row.dimension)))?;
    Ok(HistoryEntry {
        id: HistoryId::parse(&row.id).map_err(|e| corrupt("history", e))?,
        customer: CustomerId::parse(&row.customer_id).map_err(|e| corrupt("history", e))?,
        change: ClassChange {
            dimension,
            from: row
                .from_value
                .as_deref()
                .map(|v| class_value(dimension, v))
                .transpose()?,
            to: class_value(dimension, &row.to_value)?,
            source: HistorySource::from_name(&row.source)
                .ok_or_else(|| corrupt("history", format!("unknown source {:?}", row.source)))?,
        },
        policy_version: PolicyVersionId::new(row.policy_version),
        actor: row
            .actor
            .as_deref()
            .map(PrincipalName::parse)
            .transpose()
            .map_err(|e| corrupt("history", e))?,
        time: row.change_time,
    })
}

/// Window revenue is summed as `amount / REVENUE_SPLIT` and `amount % REVENUE_SPLIT` (both
/// truncate towards zero on both databases, so `amount` = high × split + low exactly).
const REVENUE_SPLIT: i64 = 1_000_000_000;

impl ClassificationRepository for SqlClassificationRepository {
    async fn active_policy(&self) -> Result<Option<PolicyVersion>, CustomerError> {
        classification_policy::Entity::find()
            .filter(classification_policy::Column::Active.eq(true))
            .order_by_desc(classification_policy::Column::Version)
            .one(self.db.connection())
            .await
            .map_err(unexpected)?
            .map(policy_from_row)
            .transpose()
    }

    async fn find_policy(&self, version: PolicyVersionId) -> Result<Option<PolicyVersion>, CustomerError> {
        classification_policy::Entity::find_by_id(version.get())
            .one(self.db.connection())
            .await
            .map_err(unexpected)?
            .map(policy_from_row)
            .transpose()
    }

    async fn list_policies(
        &self,
        before: Option<PolicyVersionId>,
        limit: u32,
    ) -> Result<Vec<PolicyVersion>, CustomerError> {
        let mut select = classification_policy::Entity::find().order_by_desc(classification_policy::Column::Version);
        if let Some(before) = before {
            select = select.filter(classification_policy::Column::Version.lt(before.get()));
        }
        select
            .limit(u64::from(limit))
            .all(self.db.connection())
            .await
            .map_err(unexpected)?
            .into_iter()
            .map(policy_from_row)
            .collect()
    }

    async fn insert_policy(
        &self,
        policy: &ClassificationPolicy,
        description: &str,
        creator: Option<&PrincipalName>,
        time: DateTime<Utc>,
        activate: bool,
    ) -> Result<PolicyVersion, CustomerError> {
        // Two concurrent creates may pick the same next number; the primary key refuses the
        // second, which then tries the number after.
        for _ in 0..16 {
            let result = async {
                let txn = self.db.connection().begin().await?;
                claim_write_lock(&txn).await?;
                let highest: Option<i64> = classification_policy::Entity::find()
                    .select_only()
                    .column_as(classification_policy::Column::Version.max(), "highest")
                    .into_tuple::<Option<i64>>()
                    .one(&txn)
                    .await?
                    .flatten();
                let version = highest.unwrap_or(0) + 1;
                if activate {
                    deactivate_all(&txn).await?;
                }
                classification_policy::Entity::insert(classification_policy::ActiveModel {
                    version: Set(version),
                    policy: Set(policy_to_json(policy)),
                    description: Set(description.to_owned()),
                    active: Set(activate),
                    create_time: Set(time),
                    creator: Set(creator.map(|c| c.as_str().to_owned())),
                    activate_time: Set(activate.then_some(time)),
                })
                .exec_without_returning(&txn)
                .await?;
                txn.commit().await?;
                Ok::<i64, DbErr>(version)
            }
            .await;
            match result {
                Ok(version) => {
                    return Ok(PolicyVersion {
                        version: PolicyVersionId::new(version),
                        policy: policy.clone(),
                        description: description.to_owned(),
                        active: activate,
                        create_time: time,
                        creator: creator.cloned(),
                        activate_time: activate.then_some(time),
                    });
                }
                Err(error) if matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {}
                Err(error) => return Err(unexpected(error)),
            }
        }
        Err(CustomerError::unexpected("could not allocate a policy version number"))
    }

    async fn activate_policy(
        &self,
        version: PolicyVersionId,
        time: DateTime<Utc>,
    ) -> Result<PolicyVersion, CustomerError> {
        let txn = self.db.connection().begin().await.map_err(unexpected)?;
        // The write comes first, so that SQLite takes its write lock at once.
        let activated = classification_policy::Entity::update_many()
            .col_expr(classification_policy::Column::Active, Expr::value(true))
            .col_expr(classification_policy::Column::ActivateTime, Expr::value(time))
            .filter(classification_policy::Column::Version.eq(version.get()))
            .exec(&txn)
            .await
            .map_err(unexpected)?;
        if activated.rows_affected == 0 {
            txn.rollback().await.map_err(unexpected)?;
            return Err(CustomerError::PolicyVersionNotFound(version));
        }
        classification_policy::Entity::update_many()
            .col_expr(classification_policy::Column::Active, Expr::value(false))
            .filter(classification_policy::Column::Active.eq(true))
            .filter(classification_policy::Column::Version.ne(version.get()))
            .exec(&txn)
            .await
            .map_err(unexpected)?;
        let Some(row) = classification_policy::Entity::find_by_id(version.get())
            .one(&txn)
            .await
            .map_err(unexpected)?
        else {
            return Err(CustomerError::PolicyVersionNotFound(version));
        };
        txn.commit().await.map_err(unexpected)?;
        let mut activated = policy_from_row(row)?;
        activated.active = true;
        activated.activate_time = Some(time);
        Ok(activated)
    }

    async fn record_purchase(
        &self,
        purchase: &Purchase,
        customer: &Customer,
        expected: Version,
        history: &[HistoryEntry],
    ) -> Result<PurchaseWrite, CustomerError> {
        enum Outcome {
            Written,
            Moved,
            Duplicate,
        }
        let outcome = async {
            let txn = self.db.connection().begin().await?;
            // The conditional update first, so that SQLite takes its write lock at once.
            if !write_if_current(&txn, customer, expected).await? {
                txn.rollback().await?;
                return Ok::<Outcome, DbErr>(Outcome::Moved);
            }
            let inserted = purchase::Entity::insert(purchase::ActiveModel {
                customer_id: Set(purchase.customer.as_str().to_owned()),
                order_ref: Set(purchase.order_ref.as_str().to_owned()),
                amount_micros: Set(purchase.amount.micros()),
                occur_time: Set(purchase.occurred_at),
                record_time: Set(purchase.recorded_at),
                recorder: Set(purchase.recorded_by.as_str().to_owned()),
            })
            .exec_without_returning(&txn)
            .await;
            match inserted {
                Ok(_) => {}
                Err(error) if matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                    txn.rollback().await?;
                    return Ok(Outcome::Duplicate);
                }
                Err(error) => return Err(error),
            }
            append_history(&txn, history).await?;
            txn.commit().await?;
            Ok(Outcome::Written)
        }
        .await;
        // The grade may have changed (whether or not the reply says so, a commit may be hidden
        // behind a lost one).
        self.db.forget_customers([customer.id.as_str()]);
        let outcome = outcome.map_err(unexpected)?;
        match outcome {
            Outcome::Written => Ok(PurchaseWrite::Recorded),
            Outcome::Duplicate => match self.find_purchase(&purchase.customer, &purchase.order_ref).await? {
                Some(stored) => Ok(PurchaseWrite::AlreadyRecorded(stored)),
                None => Err(CustomerError::unexpected("a purchase that conflicted is gone")),
            },
            Outcome::Moved if exists(&self.db, &customer.id).await? => {
                Err(CustomerError::EtagMismatch(customer.id.clone()))
            }
            Outcome::Moved => Err(CustomerError::NotFound(customer.id.clone())),
        }
    }

    async fn find_purchase(
        &self,
        customer: &CustomerId,
        order_ref: &OrderRef,
    ) -> Result<Option<Purchase>, CustomerError> {
        purchase::Entity::find_by_id((customer.as_str().to_owned(), order_ref.as_str().to_owned()))
            .one(self.db.connection())
            .await
            .map_err(unexpected)?
            .map(purchase_from_row)
            .transpose()
    }

    async fn list_purchases(
        &self,
        customer: &CustomerId,
        after: Option<(DateTime<Utc>, OrderRef)>,
        limit: u32,
    ) -> Result<Vec<Purchase>, CustomerError> {
        let mut select = purchase::Entity::find().filter(purchase::Column::CustomerId.eq(customer.as_str()));
        if let Some((time, order_ref)) = after {
            select = select.filter(
                Condition::any().add(purchase::Column::OccurTime.lt(time)).add(
                    Condition::all()
                        .add(purchase::Column::OccurTime.eq(time))
                        .add(purchase::Column::OrderRef.lt(order_ref.as_str())),
                ),
            );
        }
        select
            .order_by_desc(purchase::Column::OccurTime)
            .order_by_desc(purchase::Column::OrderRef)
            .limit(u64::from(limit))
            .all(self.db.connection())
            .await
            .map_err(unexpected)?
            .into_iter()
            .map(purchase_from_row)
            .collect()
    }

    async fn insert_interaction(&self, i: &Interaction) -> Result<(), CustomerError> {
        interaction::Entity::insert(interaction::ActiveModel {
            id: Set(i.id.to_string()),
            customer_id: Set(i.customer.as_str().to_owned()),
            channel: Set(i.channel.name().to_owned()),
            occur_time: Set(i.occurred_at),
            note: Set(i.note.clone()),
            record_time: Set(i.recorded_at),
            recorder: Set(i.recorded_by.as_str().to_owned()),
        })
        .exec_without_returning(self.db.connection())
        .await
        .map_err(unexpected)?;
        Ok(())
    }

    async fn list_interactions(
        &self,
        customer: &CustomerId,
        after: Option<(DateTime<Utc>, InteractionId)>,
        limit: u32,
    ) -> Result<Vec<Interaction>, CustomerError> {
        let mut select = interaction::Entity::find().filter(interaction::Column::CustomerId.eq(customer.as_str()));
        if let Some((time, id)) = after {
            select = select.filter(
                Condition::any().add(interaction::Column::OccurTime.lt(time)).add(
                    Condition::all()
                        .add(interaction::Column::OccurTime.eq(time))
                        .add(interaction::Column::Id.lt(id.to_string())),
                ),
            );
        }
        select
            .order_by_desc(interaction::Column::OccurTime)
            .order_by_desc(interaction::Column::Id)
            .limit(u64::from(limit))
            .all(self.db.connection())
            .await
            .map_err(unexpected)?
            .into_iter()
            .map(interaction_from_row)
            .collect()
    }

    async fn write_classification(
        &self,
        customer: &Customer,
        expected: Version,
        history: &[HistoryEntry],
    ) -> Result<(), CustomerError> {
        let written = async {
            let txn = self.db.connection().begin().await?;
            if !write_if_current(&txn, customer, expected).await? {
                txn.rollback().await?;
                return Ok::<bool, DbErr>(false);
            }
            append_history(&txn, history).await?;
            txn.commit().await?;
            Ok(true)
        }
        .await;
        self.db.forget_customers([customer.id.as_str()]);
        if written.map_err(unexpected)? {
            Ok(())
        } else if exists(&self.db, &customer.id).await? {
            Err(CustomerError::EtagMismatch(customer.id.clone()))
        } else {
            Err(CustomerError::NotFound(customer.id.clone()))
        }
    }

    async fn write_classifications(
        &self,
        batch: &[(Customer, Version)],
        history: &[HistoryEntry],
    ) -> Result<Vec<CustomerId>, CustomerError> {
        crate::batch::write_batch(&self.db, batch, history)
            .await
            .map_err(unexpected)
    }

    async fn count_live(&self) -> Result<u64, CustomerError> {
        let count: Option<i64> = customer::Entity::find()
            .select_only()
            .column_as(customer::Column::Id.count(), "count")
            .filter(customer::Column::DeleteTime.is_null())
            .into_tuple::<i64>()
            .one(self.db.connection())
            .await
            .map_err(unexpected)?;
        Ok(count.and_then(|c| u64::try_from(c).ok()).unwrap_or(0))
    }

    async fn scan_live(&self, after: Option<&CustomerId>, limit: u32) -> Result<Vec<Customer>, CustomerError> {
        let mut select = customer::Entity::find().filter(customer::Column::DeleteTime.is_null());
        if let Some(after) = after {
            select = select.filter(customer::Column::Id.gt(after.as_str()));
        }
        crate::customers::find_all(
            &self.db,
            select.order_by_asc(customer::Column::Id).limit(u64::from(limit)),
        )
        .await
    }

    async fn window_sums(
        &self,
        customers: &[CustomerId],
        window_start: DateTime<Utc>,
    ) -> Result<Vec<(CustomerId, WindowSums)>, CustomerError> {
        if customers.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<&str> = customers.iter().map(CustomerId::as_str).collect();
        // Revenue is summed in two parts that cannot overflow a 64-bit sum (SQLite fails with
        // "integer overflow", PostgreSQL's cast with "bigint out of range"): the whole
        // thousands of units and the rest, each below 10^9 in absolute value for any stored
        // amount below 10^18 micros, so a customer would need 9 × 10^9 purchases in the window
        // to overflow either. Rust adds them up in 128 bits and saturates (see `Money`).
        let rows: Vec<(String, i64, i64, i64)> = purchase::Entity::find()
            .select_only()
            .column(purchase::Column::CustomerId)
            .column_as(
                Expr::cust("CAST(SUM(CASE WHEN purchases.amount_micros > 0 THEN 1 ELSE 0 END) AS BIGINT)"),
                "orders",
            )
            .column_as(
                Expr::cust(format!(
                    "CAST(SUM(purchases.amount_micros / {REVENUE_SPLIT}) AS BIGINT)"
                )),
                "revenue_high",
            )
            .column_as(
                Expr::cust(format!(
                    "CAST(SUM(purchases.amount_micros % {REVENUE_SPLIT}) AS BIGINT)"
                )),
                "revenue_low",
            )
            .filter(purchase::Column::CustomerId.is_in(ids))
            .filter(purchase::Column::OccurTime.gte(window_start))
            .group_by(purchase::Column::CustomerId)
            .into_tuple()
            .all(self.db.connection())
            .await
            .map_err(unexpected)?;
        rows.into_iter()
            .map(|(id, orders, high, low)| {
                Ok((
                    CustomerId::parse(&id).map_err(|e| corrupt("purchase", e))?,
                    WindowSums {
                        orders: u32::try_from(orders).unwrap_or(u32::MAX),
                        revenue: Money::saturating_from_sum(
                            i128::from(high) * i128::from(REVENUE_SPLIT) + i128::from(low),
                        ),
                    },
                ))
            })
            .collect()
    }

    async fn list_history(&self, query: &HistoryQuery, limit: u32) -> Result<Vec<HistoryEntry>, CustomerError> {
        use classification_history::Column as H;
        let mut select = classification_history::Entity::find();
        match (&query.customer, &query.scope) {
            (Some(customer), _) => select = select.filter(H::CustomerId.eq(customer.as_str())),
            (None, None) => {}
            (None, Some(scope)) => match scope_filter(scope) {
                ScopeFilter::All => {}
                ScopeFilter::Nothing => return Ok(Vec::new()),
                ScopeFilter::Where(condition) => {
                    select = select.filter(
                        Expr::col((classification_history::Entity, H::CustomerId)).in_subquery(
                            Query::select()
                                .column((customer::Entity, customer::Column::Id))
                                .from(customer::Entity)
                                .cond_where(condition)
                                .to_owned(),
                        ),
                    );
                }
            },
        }
        if let Some(dimension) = query.dimension {
            select = select.filter(H::Dimension.eq(dimension.name()));
        }
        if let Some(value) = query.to_value {
            select = select
                .filter(H::Dimension.eq(value.dimension().name()))
                .filter(H::ToValue.eq(value.name()));
        }
        if let Some(start) = query.start {
            select = select.filter(H::ChangeTime.gte(start));
        }
        if let Some(end) = query.end {
            select = select.filter(H::ChangeTime.lt(end));
        }
        if let Some(before) = query.before {
            select = select.filter(H::Id.lt(before.to_string()));
        }
        select
            .order_by_desc(H::Id)
            .limit(u64::from(limit))
            .all(self.db.connection())
            .await
            .map_err(unexpected)?
            .into_iter()
            .map(history_from_row)
            .collect()
    }

    async fn segment_counts(&self, scope: &ListScope, by_department: bool) -> Result<Vec<SegmentCount>, CustomerError> {
        let condition = match scope_filter(scope) {
            ScopeFilter::Nothing => return Ok(Vec::new()),
            ScopeFilter::All => None,
            ScopeFilter::Where(condition) => Some(condition),
        };
        let mut counts = Vec::new();
        for dimension in Dimension::ALL {
            let column = dimension_column(dimension);
            let mut select = customer::Entity::find()
                .select_only()
                .column(column)
                .column_as(customer::Column::Id.count(), "count")
                .filter(customer::Column::DeleteTime.is_null())
                .group_by(column);
            if let Some(condition) = &condition {
                select = select.filter(condition.clone());
            }
            let rows: Vec<(Option<String>, Option<String>, i64)> = if by_department {
                select
                    .column(customer::Column::Department)
                    .group_by(customer::Column::Department)
                    .into_tuple::<(Option<String>, i64, Option<String>)>()
                    .all(self.db.connection())
                    .await
                    .map_err(unexpected)?
                    .into_iter()
                    .map(|(value, count, department)| (value, department, count))
                    .collect()
            } else {
                select
                    .into_tuple::<(Option<String>, i64)>()
                    .all(self.db.connection())
                    .await
                    .map_err(unexpected)?
                    .into_iter()
                    .map(|(value, count)| (value, None, count))
                    .collect()
            };
            for (value, department, count) in rows {
                counts.push(SegmentCount {
                    dimension,
                    value: value.as_deref().map(|v| class_value(dimension, v)).transpose()?,
                    department: department
                        .as_deref()
                        .map(Department::parse)
                        .transpose()
                        .map_err(|e| corrupt("customer", e))?,
                    count: u64::try_from(count).unwrap_or(0),
                });
            }
        }
        counts.sort_by(|a, b| {
            (
                a.dimension,
                a.department.as_ref().map(Department::as_str),
                a.value.map(ClassValue::code),
            )
                .cmp(&(
                    b.dimension,
                    b.department.as_ref().map(Department::as_str),
                    b.value.map(ClassValue::code),
                ))
        });
        Ok(counts)
    }
}

/// Makes a transaction take the database's write lock now: a write statement that changes
/// nothing. SQLite takes its write lock at a transaction's first write; a transaction that reads
/// first and writes later fails at once with "database is locked" (the busy timeout does not
/// apply to that upgrade) while another connection writes. Every other write transaction here
/// starts with its real write; this is for the ones that must read first.
async fn claim_write_lock<C: ConnectionTrait>(conn: &C) -> Result<(), DbErr> {
    classification_policy::Entity::update_many()
        .col_expr(
            classification_policy::Column::Active,
            Expr::col(classification_policy::Column::Active),
        )
        .filter(classification_policy::Column::Version.lt(0))
        .exec(conn)
        .await?;
    Ok(())
}

async fn deactivate_all<C: ConnectionTrait>(conn: &C) -> Result<(), DbErr> {
    classification_policy::Entity::update_many()
        .col_expr(classification_policy::Column::Active, Expr::value(false))
        .filter(classification_policy::Column::Active.eq(true))
        .exec(conn)
        .await?;
    Ok(())
}

/// The PostgreSQL advisory-lock key of batch re-classification (an arbitrary constant, "CRMRECLS"
/// in ASCII).
const RECLASSIFY_LOCK_KEY: i64 = 0x43524D5245434C53;

/// Held while a batch re-classification runs. On PostgreSQL it is a session advisory lock on
/// a connection of its own, opened with the pool's options but outside the pool (so a run
/// holds no pool connection while it waits or runs, besides the one or two its batches use), so
/// that replicas sharing the database run one at a time; if the process dies the session ends
/// and the lock goes with it. On SQLite one process owns the file, and the server's in-process
/// lock is enough (this holds nothing).
#[derive(Debug)]
pub struct ReclassificationLock {
    connection: Option<sea_orm::sqlx::PgConnection>,
}

impl ReclassificationLock {
    /// Waits until no other session holds the lock, then takes it.
    ///
    /// # Errors
    /// `Unexpected` when the database fails.
    pub async fn acquire(db: &Database) -> Result<Self, CustomerError> {
        if db.backend() != Backend::Postgres {
            return Ok(Self { connection: None });
        }
        use sea_orm::sqlx::ConnectOptions as _;
        // A session lock: on a direct connection, never through a transaction-mode pooler.
        let pool = db.session_pool();
        let mut connection = pool
            .connect_options()
            .connect()
            .await
            .map_err(CustomerError::unexpected)?;
        sea_orm::sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(RECLASSIFY_LOCK_KEY)
            .execute(&mut connection)
            .await
            .map_err(CustomerError::unexpected)?;
        Ok(Self {
            connection: Some(connection),
        })
    }

    /// Whether another session holds the lock right now (PostgreSQL only; false on SQLite).
    ///
    /// # Errors
    /// `Unexpected` when the database fails.
    pub async fn is_held_elsewhere(db: &Database) -> Result<bool, CustomerError> {
        if db.backend() != Backend::Postgres {
            return Ok(false);
        }
        let pool = db.session_pool();
        let mut connection = pool.acquire().await.map_err(CustomerError::unexpected)?;
        let (got,): (bool,) = sea_orm::sqlx::query_as("SELECT pg_try_advisory_lock($1)")
            .bind(RECLASSIFY_LOCK_KEY)
            .fetch_one(&mut *connection)
            .await
            .map_err(CustomerError::unexpected)?;
        if got {
            sea_orm::sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(RECLASSIFY_LOCK_KEY)
                .execute(&mut *connection)
                .await
                .map_err(CustomerError::unexpected)?;
        }
        Ok(!got)
    }

    /// Releases the lock and closes its connection.
    pub async fn release(mut self) {
        if let Some(mut connection) = self.connection.take() {
            let _ = sea_orm::sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(RECLASSIFY_LOCK_KEY)
                .execute(&mut connection)
                .await;
            // Closing the session releases every lock it holds anyway.
            let _ = sea_orm::sqlx::Connection::close(connection).await;
        }
    }
}

impl Drop for ReclassificationLock {
    fn drop(&mut self) {
        // Not released (the run was cancelled): dropping the connection closes the session,
        // which releases the lock.
        drop(self.connection.take());
    }
}
