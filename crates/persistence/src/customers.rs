//! [`SqlCustomerRepository`]: the domain's `CustomerRepository` port over sea-orm.
//!
//! A customer is one `customers` row plus its `customer_tags` rows, always written together in
//! one transaction. Concurrency control is a compare-and-set on the `version` column
//! (`UPDATE … WHERE id = ? AND version = ?`), atomic on both SQLite and PostgreSQL.
//!
//! A customer is read by id through `crate::coalesce`, which lets reads that wait at the same
//! time share one statement.
//!
//! Access decisions read only a customer's owner, department and grade ([`CustomerFacts`]), by
//! primary key and without its tags, through the [`crate::facts_cache`] that the writes here
//! keep true. A listing's [`ListScope`] becomes a condition of the query itself, so filters,
//! order and keyset paging apply within what the caller may see.

use crm_domain::{
    access::CustomerFacts,
    customer::{Customer, RequestId, values::CustomerId},
    error::CustomerError,
    listing::ListQuery,
    ports::CustomerRepository,
};
use std::sync::OnceLock;

use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, FromQueryResult, QueryFilter, QueryOrder, QuerySelect,
    QueryTrait, SqlErr, Statement, TransactionTrait,
    sea_query::{Expr, Order},
};

use crm_domain::classification::HistoryEntry;

use crate::{
    classification::{append_history, history_row},
    database::{Backend, Database},
    entity::{classification_history, customer, customer_tag},
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

    /// This repository reading where `token` (or, without one, the lag bound) allows: a hot
    /// standby or the primary (see [`Database::for_reads`]). Its writes would go there too:
    /// use it only to read.
    pub fn reading(&self, token: Option<crate::ConsistencyToken>) -> Self {
        Self::new(self.db.for_reads(token))
    }

    /// This repository on the primary, reading the customer a write changes from the customer
    /// cache when it can answer (see [`Database::for_writes`]): the repository of the domain's
    /// write paths.
    pub fn writing(&self) -> Self {
        Self::new(self.db.for_writes())
    }
}

fn unexpected(error: DbErr) -> CustomerError {
    crate::errors::customer_error(error)
}

/// The `customer_tags` rows of `customer`.
fn tag_rows(customer: &Customer) -> impl Iterator<Item = customer_tag::ActiveModel> + '_ {
    customer.profile.tags.iter().map(|tag| customer_tag::ActiveModel {
        customer_id: sea_orm::ActiveValue::Set(customer.id.as_str().to_owned()),
        tag: sea_orm::ActiveValue::Set(tag.as_str().to_owned()),
    })
}

async fn write_tags<C: ConnectionTrait>(conn: &C, customer: &Customer) -> Result<(), DbErr> {
    if customer.profile.tags.is_empty() {
        return Ok(());
    }
    customer_tag::Entity::insert_many(tag_rows(customer))
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// PostgreSQL statements chained into one with data-modifying `WITH` clauses: atomic by itself
/// (one statement needs no transaction), sent and answered in one round trip. Each part's `$n`
/// placeholders are renumbered after the previous parts' values; the parts come from sea-query,
/// which binds every value, so a `$` in their text is always a placeholder.
fn one_statement(parts: Vec<Statement>) -> Statement {
    let count = parts.len();
    let mut sql = String::new();
    let mut values = Vec::new();
    for (index, part) in parts.into_iter().enumerate() {
        let main = index + 1 == count;
        if !main {
            sql.push_str(if index == 0 { "WITH " } else { ", " });
            sql.push_str(&format!("w{index} AS ("));
        } else if index > 0 {
            sql.push(' ');
        }
        renumber_placeholders(&part.sql, values.len(), &mut sql);
        if !main {
            sql.push(')');
        }
        values.extend(part.values.map(|v| v.0).unwrap_or_default());
    }
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
}

/// Appends `sql` to `out` with every `$n` written as `$(n + offset)`.
fn renumber_placeholders(sql: &str, offset: usize, out: &mut String) {
    let mut chars = sql.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        out.push(c);
        if c != '$' {
            continue;
        }
        let mut number = String::new();
        while let Some(&(_, d)) = chars.peek().filter(|(_, d)| d.is_ascii_digit()) {
            number.push(d);
            chars.next();
        }
        match number.parse::<usize>() {
            Ok(n) => out.push_str(&(n + offset).to_string()),
            Err(_) => out.push_str(&number),
        }
    }
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

/// A `customers` row with its tags, read in one statement: the tags come joined by `,` (a tag is
/// `[a-z0-9_-]`) from a correlated subquery on the `customer_tags` primary key.
#[derive(Debug, FromQueryResult)]
pub(crate) struct RowWithTags {
    #[sea_orm(nested)]
    row: customer::Model,
    tags: Option<String>,
}

impl RowWithTags {
    /// The customer's id.
    pub(crate) fn id(&self) -> &str {
        &self.row.id
    }

    pub(crate) fn into_customer(self) -> Result<Customer, CustomerError> {
        let tags = match &self.tags {
            Some(joined) if !joined.is_empty() => joined.split(',').collect(),
            _ => Vec::new(),
        };
        customer_from_row(&self.row, &tags)
    }
}

/// The expression of a row's tags, joined by `,`, for one more column.
fn tags_column(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => "(SELECT string_agg(t.tag, ',') FROM customer_tags t WHERE t.customer_id = customers.id)",
        Backend::Sqlite => "(SELECT group_concat(t.tag, ',') FROM customer_tags t WHERE t.customer_id = customers.id)",
    }
}

/// `select` with each row's tags as one more column, so a customer is one statement.
fn with_tag_column(
    db: &Database,
    select: sea_orm::Select<customer::Entity>,
) -> sea_orm::Selector<sea_orm::SelectModel<RowWithTags>> {
    select
        .column_as(Expr::cust(tags_column(db.backend())), "tags")
        .into_model::<RowWithTags>()
}

/// The most ids [`find_rows_by_ids`] reads in one statement.
pub(crate) const MAX_IDS_PER_READ: usize = 64;

/// The customers with these ids (distinct, at most [`MAX_IDS_PER_READ`]), with their tags: the
/// SQL of GetCustomer's coalesced read (see [`crate::coalesce`]), built by sea-query once per
/// backend and number of ids rather than on every call (building it was about a twelfth of
/// GetCustomer's CPU).
fn find_by_ids_statement(backend: Backend, ids: &[&str]) -> Statement {
    static POSTGRES: [OnceLock<String>; MAX_IDS_PER_READ] = [const { OnceLock::new() }; MAX_IDS_PER_READ];
    static SQLITE: [OnceLock<String>; MAX_IDS_PER_READ] = [const { OnceLock::new() }; MAX_IDS_PER_READ];
    let (cells, db_backend) = match backend {
        Backend::Postgres => (&POSTGRES, DbBackend::Postgres),
        Backend::Sqlite => (&SQLITE, DbBackend::Sqlite),
    };
    let build = || {
        let select = match ids {
            [_] => customer::Entity::find_by_id(String::new()),
            _ => customer::Entity::find().filter(customer::Column::Id.is_in(ids.iter().map(|_| String::new()))),
        };
        select
            .column_as(Expr::cust(tags_column(backend)), "tags")
            .build(db_backend)
            .sql
    };
    let built;
    let sql = match ids.len().checked_sub(1).and_then(|index| cells.get(index)) {
        Some(cell) => cell.get_or_init(build),
        None => {
            built = build();
            &built
        }
    };
    let values = ids.iter().map(|id| (*id).into());
    Statement::from_sql_and_values(db_backend, sql.as_str(), values)
}

/// The rows of the customers with these ids (distinct, at most [`MAX_IDS_PER_READ`]), each
/// with its tags, in one statement through `connection`.
pub(crate) async fn find_rows_by_ids(
    connection: &sea_orm::DatabaseConnection,
    backend: Backend,
    ids: &[&str],
) -> Result<Vec<RowWithTags>, DbErr> {
    RowWithTags::find_by_statement(find_by_ids_statement(backend, ids))
        .all(connection)
        .await
}

/// Every customer `select` finds, with their tags, in one statement.
pub(crate) async fn find_all(
    db: &Database,
    select: sea_orm::Select<customer::Entity>,
) -> Result<Vec<Customer>, CustomerError> {
    with_tag_column(db, select)
        .all(db.connection())
        .await
        .map_err(unexpected)?
        .into_iter()
        .map(RowWithTags::into_customer)
        .collect()
}

impl SqlCustomerRepository {
    /// The one customer `select` finds, with its tags, in one statement.
    async fn find_one(&self, select: sea_orm::Select<customer::Entity>) -> Result<Option<Customer>, CustomerError> {
        with_tag_column(&self.db, select)
            .one(self.db.connection())
            .await
            .map_err(unexpected)?
            .map(RowWithTags::into_customer)
            .transpose()
    }

    /// Every customer `select` finds, with their tags, in one statement.
    async fn find_all(&self, select: sea_orm::Select<customer::Entity>) -> Result<Vec<Customer>, CustomerError> {
        find_all(&self.db, select).await
    }
}

impl CustomerRepository for SqlCustomerRepository {
    async fn insert(
        &self,
        customer: &Customer,
        request_id: Option<RequestId>,
        history: &[HistoryEntry],
    ) -> Result<(), CustomerError> {
        let row = row_from_customer(customer, request_id.map(RequestId::to_text));
        let result = match self.db.backend() {
            Backend::Postgres => {
                let mut parts = vec![customer::Entity::insert(row).build(DbBackend::Postgres)];
                if !customer.profile.tags.is_empty() {
                    parts.push(customer_tag::Entity::insert_many(tag_rows(customer)).build(DbBackend::Postgres));
                }
                if !history.is_empty() {
                    parts.push(
                        classification_history::Entity::insert_many(history.iter().map(history_row))
                            .build(DbBackend::Postgres),
                    );
                }
                self.db.connection().execute_raw(one_statement(parts)).await.map(drop)
            }
            Backend::Sqlite => {
                async {
                    let txn = self.db.connection().begin().await?;
                    customer::Entity::insert(row).exec_without_returning(&txn).await?;
                    write_tags(&txn, customer).await?;
                    append_history(&txn, history).await?;
                    txn.commit().await
                }
                .await
            }
        };
        match result {
            Ok(()) => Ok(()),
            Err(error) => match error.sql_err() {
                Some(SqlErr::UniqueConstraintViolation(_)) => Err(CustomerError::AlreadyExists(customer.id.clone())),
                _ => Err(unexpected(error)),
            },
        }
    }

    async fn find(&self, id: &CustomerId) -> Result<Option<Customer>, CustomerError> {
        let cache = self.db.customers_cache();
        let view = self.db.read_view();
        if view.cacheable
            && let Some(customer) = cache.get(id)
        {
            return Ok(Some(customer));
        }
        let generation = cache.generation();
        let found = self
            .db
            .coalesced_reads()
            .find(self.db.connection(), self.db.backend(), id)
            .await?;
        if let Some(customer) = &found
            && !view.standby
        {
            cache.store(id, customer, generation);
        }
        Ok(found)
    }

    async fn find_many(&self, ids: &[CustomerId]) -> Result<Vec<Customer>, CustomerError> {
        let mut unique: Vec<&str> = ids.iter().map(CustomerId::as_str).collect();
        unique.sort_unstable();
        unique.dedup();
        self.find_all(customer::Entity::find().filter(customer::Column::Id.is_in(unique)))
            .await
    }

    async fn find_facts(&self, id: &CustomerId) -> Result<Option<CustomerFacts>, CustomerError> {
        let cache = self.db.facts();
        let view = self.db.read_view();
        if !view.exact
            && let Some(facts) = cache.get(id)
        {
            return Ok(Some(facts));
        }
        let generation = cache.generation();
        let facts = facts_only(customer::Entity::find_by_id(id.as_str()))
            .one(self.db.connection())
            .await
            .map_err(unexpected)?
            .map(|row| facts_from_tuple(row).map(|(_, facts)| facts))
            .transpose()?;
        if let Some(facts) = &facts
            && !view.standby
        {
            cache.store(id, facts, generation);
        }
        Ok(facts)
    }

    async fn find_facts_many(&self, ids: &[CustomerId]) -> Result<Vec<(CustomerId, CustomerFacts)>, CustomerError> {
        let cache = self.db.facts();
        let mut unique: Vec<&CustomerId> = ids.iter().collect();
        unique.sort_unstable_by(|a, b| a.as_str().cmp(b.as_str()));
        unique.dedup();
        let mut found = Vec::with_capacity(unique.len());
        let mut missing = Vec::new();
        let view = self.db.read_view();
        for id in unique {
            match if view.exact { None } else { cache.get(id) } {
                Some(facts) => found.push((id.clone(), facts)),
                None => missing.push(id.as_str()),
            }
        }
        if missing.is_empty() {
            return Ok(found);
        }
        let generation = cache.generation();
        let read = facts_only(customer::Entity::find().filter(customer::Column::Id.is_in(missing)))
            .all(self.db.connection())
            .await
            .map_err(unexpected)?;
        for row in read {
            let (id, facts) = facts_from_tuple(row)?;
            if !view.standby {
                cache.store(&id, &facts, generation);
            }
            found.push((id, facts));
        }
        Ok(found)
    }

    async fn find_by_request_id(&self, request_id: RequestId) -> Result<Option<Customer>, CustomerError> {
        let select = customer::Entity::find().filter(customer::Column::RequestId.eq(request_id.to_text()));
        self.find_one(select).await
    }

    async fn replace(
        &self,
        previous: &Customer,
        customer: &Customer,
        history: &[HistoryEntry],
    ) -> Result<(), CustomerError> {
        let expected = previous.version;
        let mut row = row_from_customer(customer, None);
        // The request id belongs to the create; leave it as stored.
        row.request_id = sea_orm::ActiveValue::NotSet;
        row.id = sea_orm::ActiveValue::NotSet;
        let update = customer::Entity::update_many()
            .set(row)
            .filter(customer::Column::Id.eq(customer.id.as_str()))
            .filter(customer::Column::Version.eq(expected.get()));
        let tags_changed = previous.profile.tags != customer.profile.tags;
        let cache = self.db.customers_cache();
        let before = cache.write_generation(&customer.id);
        let outcome = if !tags_changed && history.is_empty() {
            // One statement is atomic by itself: no transaction, one round trip.
            update
                .exec(self.db.connection())
                .await
                .map(|result| result.rows_affected > 0)
        } else {
            async {
                let txn = self.db.connection().begin().await?;
                // The conditional update comes first, so on SQLite the transaction takes the write
                // lock at once instead of upgrading a read snapshot.
                if update.exec(&txn).await?.rows_affected == 0 {
                    txn.rollback().await?;
                    return Ok::<bool, DbErr>(false);
                }
                if tags_changed {
                    customer_tag::Entity::delete_many()
                        .filter(customer_tag::Column::CustomerId.eq(customer.id.as_str()))
                        .exec(&txn)
                        .await?;
                    write_tags(&txn, customer).await?;
                }
                append_history(&txn, history).await?;
                txn.commit().await?;
                Ok(true)
            }
            .await
        };
        // Before answering: what was written is what the next read (an Update's too) sees; on a
        // refusal or a failure, forget it (a lost reply may hide a commit).
        match outcome {
            Ok(true) => cache.keep_written(&customer.id, customer, before),
            _ => cache.forget([customer.id.as_str()]),
        }
        if CustomerFacts::from(previous) != CustomerFacts::from(customer) {
            self.db.facts().forget([customer.id.as_str()]);
        }
        let written = outcome.map_err(unexpected)?;
        if written {
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
        self.find_all(select.limit(u64::from(limit))).await
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::{DbBackend, Statement, Value};

    use super::one_statement;

    #[test]
    fn statements_are_chained_with_their_placeholders_renumbered() {
        let part = |sql: &str, values: Vec<Value>| Statement::from_sql_and_values(DbBackend::Postgres, sql, values);
        let chained = one_statement(vec![
            part("INSERT INTO a VALUES ($1, $2)", vec![1.into(), 2.into()]),
            part("INSERT INTO b VALUES ($1)", vec![3.into()]),
            part(
                "INSERT INTO c VALUES ($1, $2), ($3, $10)",
                vec![4.into(), 5.into(), 6.into(), 7.into()],
            ),
        ]);
        assert_eq!(
            chained.sql,
            "WITH w0 AS (INSERT INTO a VALUES ($1, $2)), w1 AS (INSERT INTO b VALUES ($3)) \
             INSERT INTO c VALUES ($4, $5), ($6, $13)"
        );
        assert_eq!(chained.values.map(|v| v.0.len()), Some(7));
    }

    #[test]
    fn one_part_is_left_as_it_is() {
        let chained = one_statement(vec![Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO a VALUES ($1)",
            vec![Value::from(1)],
        )]);
        assert_eq!(chained.sql, "INSERT INTO a VALUES ($1)");
    }
}
