//! The set-based write of one batch of a re-classification run: every changed customer of the
//! batch in one `UPDATE`, each row still a compare-and-set on its `version`, and the history of
//! the rows that were written in one `INSERT`, atomically.
//!
//! - PostgreSQL: one statement. The batch travels as one array per column and is expanded with
//!   `unnest`; a data-modifying CTE updates the rows whose version is still the expected one and
//!   returns their ids, a second one inserts the history rows of exactly those customers, and
//!   the statement returns the ids. A single statement is atomic and needs no transaction.
//! - SQLite: one transaction that starts with `UPDATE … FROM (VALUES …) … RETURNING id` (so it
//!   takes the write lock at once and holds it only for this batch), then a multi-row `INSERT`
//!   of the history of the returned ids. Both are split into chunks below SQLite's
//!   bind-parameter limit (32,766).
//!
//! The SQL text is built from the constant column lists (and each dimension's column) and
//! placeholders only (hence
//! `AssertSqlSafe`); every value is bound.
//!
//! The columns written are those [`set_classification_columns`] sets (plus `version` and
//! `update_time`); a column it sets that this writer does not know is an error, so the two
//! cannot drift apart unnoticed.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use crm_domain::{
    classification::{Dimension, HistoryEntry},
    customer::{Customer, Version, values::CustomerId},
};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, DbErr, IdenStatic, sqlx};

use crate::{
    database::{Backend, Database},
    entity::customer,
    mapping::{dimension_column, set_classification_columns},
};

/// SQLite's limit on bound parameters per statement.
const SQLITE_MAX_PARAMETERS: usize = 32_766;

/// The customers columns a batch writes before the dimensions' columns, with their PostgreSQL
/// types, in the order of [`Rows`]' vectors.
const LEADING_COLUMNS: [(&str, &str); 6] = [
    ("version", "bigint"),
    ("update_time", "timestamptz"),
    ("window_orders", "integer"),
    ("window_revenue_micros", "bigint"),
    ("first_purchase_time", "timestamptz"),
    ("last_purchase_time", "timestamptz"),
];

/// The customers columns a batch writes after the dimensions' columns.
const TRAILING_COLUMNS: [(&str, &str); 3] = [
    ("score", "smallint"),
    ("policy_version", "bigint"),
    ("classification", "text"),
];

/// Every customers column a batch writes with its PostgreSQL type, in the order of [`Rows`]'
/// vectors: [`LEADING_COLUMNS`], each dimension's column (text) in [`Dimension::ALL`]'s order,
/// [`TRAILING_COLUMNS`].
fn columns() -> Vec<(&'static str, &'static str)> {
    LEADING_COLUMNS
        .into_iter()
        .chain(Dimension::ALL.map(|d| (dimension_column(d).as_str(), "text")))
        .chain(TRAILING_COLUMNS)
        .collect()
}

/// The classification_history columns, in the order of [`History`]' vectors.
const HISTORY_COLUMNS: [&str; 9] = [
    "id",
    "customer_id",
    "dimension",
    "from_value",
    "to_value",
    "source",
    "policy_version",
    "actor",
    "change_time",
];

/// A batch of customer rows, one vector per column.
#[derive(Default)]
struct Rows {
    id: Vec<String>,
    expected: Vec<i64>,
    version: Vec<i64>,
    update_time: Vec<DateTime<Utc>>,
    window_orders: Vec<i32>,
    window_revenue_micros: Vec<i64>,
    first_purchase_time: Vec<Option<DateTime<Utc>>>,
    last_purchase_time: Vec<Option<DateTime<Utc>>>,
    /// One vector per dimension, indexed by [`Dimension::index`].
    classes: [Vec<Option<String>>; Dimension::COUNT],
    score: Vec<Option<i16>>,
    policy_version: Vec<Option<i64>>,
    classification: Vec<Option<String>>,
}

fn take<T: Into<sea_orm::Value>>(value: &mut sea_orm::ActiveValue<T>, column: &str) -> Result<T, DbErr> {
    match std::mem::take(value) {
        Set(v) => Ok(v),
        _ => Err(DbErr::Custom(format!(
            "the batch writer expected column {column} to be set"
        ))),
    }
}

impl Rows {
    fn new(batch: &[(Customer, Version)]) -> Result<Self, DbErr> {
        let mut rows = Self::default();
        for (customer, expected) in batch {
            let mut row = <customer::ActiveModel as Default>::default();
            set_classification_columns(&mut row, customer);
            rows.id.push(customer.id.as_str().to_owned());
            rows.expected.push(expected.get());
            rows.version.push(customer.version.get());
            rows.update_time.push(customer.update_time);
            rows.window_orders.push(take(&mut row.window_orders, "window_orders")?);
            rows.window_revenue_micros
                .push(take(&mut row.window_revenue_micros, "window_revenue_micros")?);
            rows.first_purchase_time
                .push(take(&mut row.first_purchase_time, "first_purchase_time")?);
            rows.last_purchase_time
                .push(take(&mut row.last_purchase_time, "last_purchase_time")?);
            for dimension in Dimension::ALL {
                let column = dimension_column(dimension);
                let name = match row.take(column) {
                    Set(sea_orm::Value::String(name)) => name,
                    _ => {
                        return Err(DbErr::Custom(format!(
                            "the batch writer expected column {} to be set to a text",
                            column.as_str()
                        )));
                    }
                };
                rows.classes[dimension.index()].push(name);
            }
            rows.score.push(take(&mut row.score, "score")?);
            rows.policy_version
                .push(take(&mut row.policy_version, "policy_version")?);
            rows.classification
                .push(take(&mut row.classification, "classification")?);
            if row.is_changed() {
                return Err(DbErr::Custom(
                    "set_classification_columns sets a column the batch writer does not write".to_owned(),
                ));
            }
        }
        Ok(rows)
    }
}

/// History rows, one vector per column.
#[derive(Default)]
struct History {
    id: Vec<String>,
    customer_id: Vec<String>,
    dimension: Vec<String>,
    from_value: Vec<Option<String>>,
    to_value: Vec<String>,
    source: Vec<String>,
    policy_version: Vec<i64>,
    actor: Vec<Option<String>>,
    change_time: Vec<DateTime<Utc>>,
}

impl History {
    fn new<'a>(entries: impl IntoIterator<Item = &'a HistoryEntry>) -> Self {
        let mut history = Self::default();
        for h in entries {
            history.id.push(h.id.to_string());
            history.customer_id.push(h.customer.as_str().to_owned());
            history.dimension.push(h.change.dimension.name().to_owned());
            history.from_value.push(h.change.from.map(|v| v.name().to_owned()));
            history.to_value.push(h.change.to.name().to_owned());
            history.source.push(h.change.source.name().to_owned());
            history.policy_version.push(h.policy_version.get());
            history.actor.push(h.actor.as_ref().map(|a| a.as_str().to_owned()));
            history.change_time.push(h.time);
        }
        history
    }
}

/// Writes `batch` and the history of the customers written; returns the ids of those that
/// were not written because their version had moved on.
pub(crate) async fn write_batch(
    db: &Database,
    batch: &[(Customer, Version)],
    history: &[HistoryEntry],
) -> Result<Vec<CustomerId>, DbErr> {
    if batch.is_empty() {
        return Ok(Vec::new());
    }
    let rows = Rows::new(batch)?;
    let written = match db.backend() {
        Backend::Postgres => write_postgres(db, &rows, &History::new(history)).await,
        Backend::Sqlite => write_sqlite(db, &rows, history).await,
    };
    // Written or not, whatever the reply says.
    db.forget_customers(batch.iter().map(|(c, _)| c.id.as_str()));
    let written = written?;
    Ok(batch
        .iter()
        .filter(|(c, _)| !written.contains(c.id.as_str()))
        .map(|(c, _)| c.id.clone())
        .collect())
}

/// The driver's error as sea-orm reports a failed statement, so that callers see one kind of
/// error whichever API ran the statement.
fn map_err(error: sqlx::Error) -> DbErr {
    DbErr::Exec(sea_orm::RuntimeErr::SqlxError(std::sync::Arc::new(error)))
}

/// The PostgreSQL statement: see the module documentation.
fn postgres_sql() -> String {
    let columns = columns();
    let types = ["text", "bigint"]
        .into_iter()
        .chain(columns.iter().map(|(_, t)| *t))
        .collect::<Vec<_>>();
    let arrays = types
        .iter()
        .enumerate()
        .map(|(i, t)| format!("${}::{t}[]", i + 1))
        .collect::<Vec<_>>()
        .join(", ");
    let sets = columns
        .iter()
        .map(|(c, _)| format!("{c} = v.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let history_types = [
        "text",
        "text",
        "text",
        "text",
        "text",
        "text",
        "bigint",
        "text",
        "timestamptz",
    ];
    let history_arrays = history_types
        .iter()
        .enumerate()
        .map(|(i, t)| format!("${}::{t}[]", i + 1 + types.len()))
        .collect::<Vec<_>>()
        .join(", ");
    let history_columns = HISTORY_COLUMNS.join(", ");
    format!(
        "WITH v AS (SELECT * FROM unnest({arrays}) AS v(id, expected_version, {columns})), \
         written AS (UPDATE customers AS c SET {sets} FROM v \
           WHERE c.id = v.id AND c.version = v.expected_version RETURNING c.id), \
         appended AS (INSERT INTO classification_history ({history_columns}) \
           SELECT * FROM unnest({history_arrays}) AS h({history_columns}) \
           WHERE h.customer_id IN (SELECT id FROM written)) \
         SELECT id FROM written",
        columns = columns.iter().map(|(c, _)| *c).collect::<Vec<_>>().join(", "),
    )
}

async fn write_postgres(db: &Database, rows: &Rows, history: &History) -> Result<HashSet<String>, DbErr> {
    let pool = db.connection().get_postgres_connection_pool();
    let sql = postgres_sql();
    let mut query = sqlx::query_as::<_, (String,)>(sqlx::AssertSqlSafe(sql))
        .bind(&rows.id)
        .bind(&rows.expected)
        .bind(&rows.version)
        .bind(&rows.update_time)
        .bind(&rows.window_orders)
        .bind(&rows.window_revenue_micros)
        .bind(&rows.first_purchase_time)
        .bind(&rows.last_purchase_time);
    for class in &rows.classes {
        query = query.bind(class);
    }
    let written = query
        .bind(&rows.score)
        .bind(&rows.policy_version)
        .bind(&rows.classification)
        .bind(&history.id)
        .bind(&history.customer_id)
        .bind(&history.dimension)
        .bind(&history.from_value)
        .bind(&history.to_value)
        .bind(&history.source)
        .bind(&history.policy_version)
        .bind(&history.actor)
        .bind(&history.change_time)
        .fetch_all(pool)
        .await
        .map_err(map_err)?;
    Ok(written.into_iter().map(|(id,)| id).collect())
}

/// `UPDATE customers … FROM (VALUES …)` for `n` rows; the VALUES columns are `column1`
/// (id), `column2` (expected version), then [`columns`] in order.
fn sqlite_update_sql(n: usize) -> String {
    let columns = columns();
    let width = columns.len() + 2;
    let row = format!("({})", vec!["?"; width].join(", "));
    let values = vec![row.as_str(); n].join(", ");
    let sets = columns
        .iter()
        .enumerate()
        .map(|(i, (c, _))| format!("{c} = v.column{}", i + 3))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "UPDATE customers SET {sets} FROM (VALUES {values}) AS v \
         WHERE customers.id = v.column1 AND customers.version = v.column2 RETURNING id"
    )
}

fn sqlite_insert_sql(n: usize) -> String {
    let row = format!("({})", vec!["?"; HISTORY_COLUMNS.len()].join(", "));
    format!(
        "INSERT INTO classification_history ({}) VALUES {}",
        HISTORY_COLUMNS.join(", "),
        vec![row.as_str(); n].join(", ")
    )
}

async fn write_sqlite(db: &Database, rows: &Rows, history: &[HistoryEntry]) -> Result<HashSet<String>, DbErr> {
    let pool = db.connection().get_sqlite_connection_pool();
    let mut txn = pool.begin().await.map_err(map_err)?;
    let mut written = HashSet::with_capacity(rows.id.len());
    let per_statement = SQLITE_MAX_PARAMETERS / (columns().len() + 2);
    let mut start = 0;
    while start < rows.id.len() {
        let end = (start + per_statement).min(rows.id.len());
        let sql = sqlite_update_sql(end - start);
        let mut query = sqlx::query_as::<_, (String,)>(sqlx::AssertSqlSafe(sql));
        for i in start..end {
            query = query
                .bind(&rows.id[i])
                .bind(rows.expected[i])
                .bind(rows.version[i])
                .bind(rows.update_time[i])
                .bind(rows.window_orders[i])
                .bind(rows.window_revenue_micros[i])
                .bind(rows.first_purchase_time[i])
                .bind(rows.last_purchase_time[i]);
            for class in &rows.classes {
                query = query.bind(&class[i]);
            }
            query = query
                .bind(rows.score[i])
                .bind(rows.policy_version[i])
                .bind(&rows.classification[i]);
        }
        for (id,) in query.fetch_all(&mut *txn).await.map_err(map_err)? {
            written.insert(id);
        }
        start = end;
    }
    let kept = History::new(history.iter().filter(|h| written.contains(h.customer.as_str())));
    let per_statement = SQLITE_MAX_PARAMETERS / HISTORY_COLUMNS.len();
    let mut start = 0;
    while start < kept.id.len() {
        let end = (start + per_statement).min(kept.id.len());
        let sql = sqlite_insert_sql(end - start);
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for i in start..end {
            query = query
                .bind(&kept.id[i])
                .bind(&kept.customer_id[i])
                .bind(&kept.dimension[i])
                .bind(&kept.from_value[i])
                .bind(&kept.to_value[i])
                .bind(&kept.source[i])
                .bind(kept.policy_version[i])
                .bind(&kept.actor[i])
                .bind(kept.change_time[i]);
        }
        query.execute(&mut *txn).await.map_err(map_err)?;
        start = end;
    }
    txn.commit().await.map_err(map_err)?;
    Ok(written)
}
