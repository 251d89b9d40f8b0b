//! [`SqlCustomerRepository`]: the domain's `CustomerRepository` port over sea-orm.
//!
//! A customer is one `customers` row plus its `customer_tags` rows, always written together in
//! one transaction. Concurrency control is a compare-and-set on the `version` column
//! (`UPDATE … WHERE id = ? AND version = ?`), atomic on both SQLite and PostgreSQL.
//!
//! Access decisions read only a customer's owner and department ([`CustomerFacts`]), by primary
//! key and without its tags; a listing's [`ListScope`] becomes a condition of the query itself, so
//! filters, order and keyset paging apply within what the caller may see.

use std::collections::HashMap;

use crm_domain::{
    access::CustomerFacts,
    customer::{Customer, RequestId, Version, values::CustomerId},
    error::CustomerError,
    listing::ListQuery,
    ports::CustomerRepository,
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, SqlErr, TransactionTrait,
    sea_query::Order,
};

use crm_domain::classification::HistoryEntry;

use crate::{
    classification::append_history,
    database::Database,
    entity::{customer, customer_tag},
    mapping::{customer_from_row, facts_from_columns, row_from_customer},
    query::{ScopeFilter, after_cursor, filter_condition, scope_filter, sort_expr},
};

/// Customers stored in the service's SQL database.
#[derive(Debug, Clone)]
pub struct SqlCustomerRepository {
    db: Database,
}

impl SqlCustomerRepository {
    /// A repository on `db` (which must be migrated).
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

fn unexpected(error: DbErr) -> CustomerError {
    crate::errors::customer_error(error)
}

async fn write_tags<C: ConnectionTrait>(conn: &C, customer: &Customer) -> Result<(), DbErr> {
    if customer.profile.tags.is_empty() {
        return Ok(());
    }
    let rows = customer.profile.tags.iter().map(|tag| customer_tag::ActiveModel {
        customer_id: sea_orm::ActiveValue::Set(customer.id.as_str().to_owned()),
        tag: sea_orm::ActiveValue::Set(tag.as_str().to_owned()),
    });
    customer_tag::Entity::insert_many(rows)
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// Loads the tags of `rows` with one query and maps every row to a domain customer.
pub(crate) async fn with_tags<C: ConnectionTrait>(
    conn: &C,
    rows: Vec<customer::Model>,
) -> Result<Vec<Customer>, CustomerError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let mut tags: HashMap<String, Vec<String>> = HashMap::new();
    for tag in customer_tag::Entity::find()
        .filter(customer_tag::Column::CustomerId.is_in(ids))
        .all(conn)
        .await
        .map_err(unexpected)?
    {
        tags.entry(tag.customer_id).or_default().push(tag.tag);
    }
    rows.into_iter()
        .map(|row| {
            let row_tags = tags.remove(&row.id).unwrap_or_default();
            customer_from_row(row, row_tags)
        })
        .collect()
}

/// The `id`, `owner`, `department` and `grade` columns of a customer row.
type FactColumns = (String, Option<String>, Option<String>, Option<String>);

/// `select` reduced to the columns [`CustomerFacts`] are made of.
fn facts_only(
    select: sea_orm::Select<customer::Entity>,
) -> sea_orm::Selector<sea_orm::SelectGetableTuple<FactColumns>> {
    select
        .select_only()
        .column(customer::Column::Id)
        .column(customer::Column::Owner)
        .column(customer::Column::Department)
        .column(customer::Column::Grade)
        .into_tuple::<FactColumns>()
}

fn facts_from_tuple((id, owner, department, grade): FactColumns) -> Result<(CustomerId, CustomerFacts), CustomerError> {
    facts_from_columns(&id, owner.as_deref(), department.as_deref(), grade.as_deref())
}

/// The one customer `select` finds, with its tags.
async fn find_one<C: ConnectionTrait>(
    conn: &C,
    select: sea_orm::Select<customer::Entity>,
) -> Result<Option<Customer>, CustomerError> {
    let Some(row) = select.one(conn).await.map_err(unexpected)? else {
        return Ok(None);
    };
    Ok(with_tags(conn, vec![row]).await?.pop())
}

impl CustomerRepository for SqlCustomerRepository {
    async fn insert(
        &self,
        customer: &Customer,
        request_id: Option<RequestId>,
        history: &[HistoryEntry],
    ) -> Result<(), CustomerError> {
        let result = async {
            let txn = self.db.connection().begin().await?;
            let row = row_from_customer(customer, request_id.map(RequestId::to_text));
            customer::Entity::insert(row).exec_without_returning(&txn).await?;
            write_tags(&txn, customer).await?;
            append_history(&txn, history).await?;
            txn.commit().await
        }
        .await;
        match result {
            Ok(()) => Ok(()),
            Err(error) => match error.sql_err() {
                Some(SqlErr::UniqueConstraintViolation(_)) => Err(CustomerError::AlreadyExists(customer.id.clone())),
                _ => Err(unexpected(error)),
            },
        }
    }

    async fn find(&self, id: &CustomerId) -> Result<Option<Customer>, CustomerError> {
        find_one(self.db.connection(), customer::Entity::find_by_id(id.as_str())).await
    }

    async fn find_many(&self, ids: &[CustomerId]) -> Result<Vec<Customer>, CustomerError> {
        let conn = self.db.connection();
        let mut unique: Vec<&str> = ids.iter().map(CustomerId::as_str).collect();
        unique.sort_unstable();
        unique.dedup();
        let rows = customer::Entity::find()
            .filter(customer::Column::Id.is_in(unique))
            .all(conn)
            .await
            .map_err(unexpected)?;
        with_tags(conn, rows).await
    }

    async fn find_facts(&self, id: &CustomerId) -> Result<Option<CustomerFacts>, CustomerError> {
        facts_only(customer::Entity::find_by_id(id.as_str()))
            .one(self.db.connection())
            .await
            .map_err(unexpected)?
            .map(|row| facts_from_tuple(row).map(|(_, facts)| facts))
            .transpose()
    }

    async fn find_facts_many(&self, ids: &[CustomerId]) -> Result<Vec<(CustomerId, CustomerFacts)>, CustomerError> {
        let mut unique: Vec<&str> = ids.iter().map(CustomerId::as_str).collect();
        unique.sort_unstable();
        unique.dedup();
        if unique.is_empty() {
            return Ok(Vec::new());
        }
        facts_only(customer::Entity::find().filter(customer::Column::Id.is_in(unique)))
            .all(self.db.connection())
            .await
            .map_err(unexpected)?
            .into_iter()
            .map(facts_from_tuple)
            .collect()
    }

    async fn find_by_request_id(&self, request_id: RequestId) -> Result<Option<Customer>, CustomerError> {
        let select = customer::Entity::find().filter(customer::Column::RequestId.eq(request_id.to_text()));
        find_one(self.db.connection(), select).await
    }

    async fn replace(
        &self,
        customer: &Customer,
        expected: Version,
        history: &[HistoryEntry],
    ) -> Result<(), CustomerError> {
        let outcome = async {
            let txn = self.db.connection().begin().await?;
            let mut row = row_from_customer(customer, None);
            // The request id belongs to the create; leave it as stored.
            row.request_id = sea_orm::ActiveValue::NotSet;
            row.id = sea_orm::ActiveValue::NotSet;
            // The conditional update comes first, so on SQLite the transaction takes the write
            // lock at once instead of upgrading a read snapshot.
            let updated = customer::Entity::update_many()
                .set(row)
                .filter(customer::Column::Id.eq(customer.id.as_str()))
                .filter(customer::Column::Version.eq(expected.get()))
                .exec(&txn)
                .await?;
            if updated.rows_affected == 0 {
                txn.rollback().await?;
                return Ok::<bool, DbErr>(false);
            }
            customer_tag::Entity::delete_many()
                .filter(customer_tag::Column::CustomerId.eq(customer.id.as_str()))
                .exec(&txn)
                .await?;
            write_tags(&txn, customer).await?;
            append_history(&txn, history).await?;
            txn.commit().await?;
            Ok(true)
        }
        .await
        .map_err(unexpected)?;
        if outcome {
            return Ok(());
        }
        let exists = customer::Entity::find_by_id(customer.id.as_str())
            .select_only()
            .column(customer::Column::Id)
            .into_tuple::<String>()
            .one(self.db.connection())
            .await
            .map_err(unexpected)?
            .is_some();
        if exists {
            Err(CustomerError::EtagMismatch(customer.id.clone()))
        } else {
            Err(CustomerError::NotFound(customer.id.clone()))
        }
    }

    async fn list(&self, query: &ListQuery, limit: u32) -> Result<Vec<Customer>, CustomerError> {
        let mut select = customer::Entity::find();
        match scope_filter(&query.scope) {
            ScopeFilter::All => {}
            ScopeFilter::Where(condition) => select = select.filter(condition),
            ScopeFilter::Nothing => return Ok(Vec::new()),
        }
        let conn = self.db.connection();
        if !query.show_deleted {
            select = select.filter(customer::Column::DeleteTime.is_null());
        }
        if let Some(filter) = &query.filter {
            select = select.filter(filter_condition(filter));
        }
        if let Some(cursor) = &query.after {
            select = select.filter(after_cursor(&query.order, cursor));
        }
        for term in query.order.terms() {
            select = select.order_by(
                sort_expr(term.field),
                if term.descending { Order::Desc } else { Order::Asc },
            );
        }
        select = select.order_by(
            customer::Column::Id,
            if query.order.id_descending() {
                Order::Desc
            } else {
                Order::Asc
            },
        );
        let rows = select.limit(u64::from(limit)).all(conn).await.map_err(unexpected)?;
        with_tags(conn, rows).await
    }
}
