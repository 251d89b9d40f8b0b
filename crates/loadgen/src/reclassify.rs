//! Batch re-classification: N customers seeded quickly by raw SQL, a timed ReclassifyCustomers
//! (server-streaming, until its summary), and the set-based baseline, one
//! `UPDATE customers SET … = CASE … END` that does the classification work inside the database.
//!
//! `tests/benches/reclassify.rs` (the in-process, three-run, memory-sampling version) uses this
//! seeding, baseline and cross-check ([`disagreements`]) too: 0–5 purchases per
//! customer with deterministic pseudo-random amounts and dates over the last two years, the
//! aggregate columns consistent with them, classification columns NULL (so the first run writes
//! every customer); the CASE expressions follow `ClassificationPolicy::default()`. The baseline
//! writes every row, appends no history and keeps no reasons or overrides: it is the lower bound
//! of "the same work done in the database".

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use chrono::{DateTime, TimeDelta, Utc};
use crm_api::crm::v1 as pb;
use crm_domain::classification::{ClassificationPolicy, Dimension};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, Statement, TransactionTrait, Value,
    sea_query::{Expr, Query},
};

use crate::{client::ClassificationClient, seed::Rng};

/// Customers per INSERT statement and per seeding transaction.
const SEED_CHUNK: u64 = 1000;
/// Purchases per INSERT statement (6 bound values each).
const PURCHASE_CHUNK: usize = 2000;
/// The most purchases a seeded customer has.
const MAX_PURCHASES: u64 = 5;
/// How far back seeded purchases go.
const HISTORY_DAYS: i64 = 730;

/// Job titles of seeded contacts, and whether the default policy's keywords make them EXECUTIVE.
const TITLES: [(&str, bool); 8] = [
    ("CEO", true),
    ("Chief Financial Officer", true),
    ("VP Sales", true),
    ("总经理", true),
    ("Purchasing Manager", false),
    ("Head of IT", false),
    ("Buyer", false),
    ("Office Administrator", false),
];
const RANKS: [&str; 3] = ["EXECUTIVE", "MIDDLE", "FRONTLINE"];

/// The classification columns of `customers` besides the dimensions' (migration 000005), NULL on
/// a customer not classified yet, as are the dimensions' (each stored in the column of its
/// [`Dimension::field`] name).
const OTHER_CLASSIFICATION_COLUMNS: [&str; 3] = ["score", "policy_version", "classification"];

struct Purchase {
    order_ref: String,
    amount_micros: i64,
    occur_time: DateTime<Utc>,
}

/// The purchases of one customer: amounts log-uniform between 20 and 60,000 units (to the cent),
/// one in twenty a refund of up to half that; dates uniform over the last two years.
fn purchases(rng: &mut Rng, now: DateTime<Utc>) -> Vec<Purchase> {
    (0..rng.below(MAX_PURCHASES + 1))
        .map(|j| {
            let units = (20f64.ln() + rng.unit() * (60_000f64.ln() - 20f64.ln())).exp();
            let mut amount_micros = (units * 100.0).round() as i64 * 10_000;
            if rng.chance(5) {
                amount_micros = -(amount_micros / 2);
            }
            let micros_ago = rng.below((HISTORY_DAYS * 86_400 * 1_000_000) as u64) as i64;
            Purchase {
                order_ref: format!("order-{j}"),
                amount_micros,
                occur_time: now - TimeDelta::microseconds(micros_ago),
            }
        })
        .collect()
}

fn v(value: impl Into<Value>) -> Expr {
    Expr::val(value)
}

/// What [`seed`] made.
#[derive(Debug, Clone)]
pub struct Seeded {
    /// The customers' resource names, `customers/{id}`.
    pub names: Vec<String>,
    /// Purchases inserted.
    pub purchases: u64,
}

/// Seeds `n` customers and their purchases by raw SQL, as of `now`.
///
/// # Errors
/// When a statement fails.
pub async fn seed(db: &DatabaseConnection, n: u64, now: DateTime<Utc>, window_days: u32) -> anyhow::Result<Seeded> {
    let window_start = now - TimeDelta::days(i64::from(window_days));
    let mut rng = Rng::new(0x5EED_C0FF_EE15_BE7C);
    let mut names = Vec::with_capacity(usize::try_from(n).unwrap_or(0));
    let mut total_purchases = 0u64;
    let mut start = 0;
    while start < n {
        let end = (start + SEED_CHUNK).min(n);
        let mut customers = Query::insert();
        customers.into_table("customers").columns([
            "id",
            "display_name",
            "kind",
            "contact_job_title",
            "contact_job_rank",
            "employee_count",
            "needs",
            "key_account",
            "churned",
            "create_time",
            "update_time",
            "version",
            "window_orders",
            "window_revenue_micros",
            "first_purchase_time",
            "last_purchase_time",
        ]);
        let mut rows = Vec::new();
        for i in start..end {
            let id = uuid::Uuid::now_v7().to_string();
            let bought = purchases(&mut rng, now);
            let (mut orders, mut revenue) = (0i32, 0i64);
            let (mut first, mut last): (Option<DateTime<Utc>>, Option<DateTime<Utc>>) = (None, None);
            for p in &bought {
                if p.occur_time >= window_start {
                    revenue += p.amount_micros;
                    if p.amount_micros > 0 {
                        orders += 1;
                    }
                }
                if p.amount_micros > 0 {
                    first = Some(first.map_or(p.occur_time, |t| t.min(p.occur_time)));
                    last = Some(last.map_or(p.occur_time, |t| t.max(p.occur_time)));
                }
            }
            let title = rng.chance(60).then(|| rng.pick(&TITLES).0);
            let rank = rng.chance(10).then(|| *rng.pick(&RANKS));
            let employees = (!rng.chance(15)).then(|| (10f64.powf(rng.unit() * 4.0)) as i64);
            let created = bought
                .iter()
                .map(|p| p.occur_time)
                .min()
                .unwrap_or(now - TimeDelta::days(rng.below(HISTORY_DAYS as u64) as i64))
                - TimeDelta::days(1);
            customers
                .values([
                    v(id.clone()),
                    v(format!("Bench Customer {i:07}")),
                    v("ORGANIZATION"),
                    v(title.map(str::to_owned)),
                    v(rank.map(str::to_owned)),
                    v(employees),
                    v(0i16),
                    v(rng.chance(3)),
                    v(rng.chance(1)),
                    v(created),
                    v(created),
                    v(1i64),
                    v(orders),
                    v(revenue),
                    v(first),
                    v(last),
                ])
                .context("building the customers INSERT")?;
            names.push(format!("customers/{id}"));
            rows.extend(bought.into_iter().map(|p| (id.clone(), p)));
        }
        total_purchases += rows.len() as u64;
        let txn = db.begin().await.context("beginning a seeding transaction")?;
        txn.execute(&customers).await.context("inserting customers")?;
        for chunk in rows.chunks(PURCHASE_CHUNK) {
            let mut insert = Query::insert();
            insert.into_table("purchases").columns([
                "customer_id",
                "order_ref",
                "amount_micros",
                "occur_time",
                "record_time",
                "recorder",
            ]);
            for (id, p) in chunk {
                insert
                    .values([
                        v(id.clone()),
                        v(p.order_ref.clone()),
                        v(p.amount_micros),
                        v(p.occur_time),
                        v(p.occur_time),
                        v("principals/admin"),
                    ])
                    .context("building the purchases INSERT")?;
            }
            txn.execute(&insert).await.context("inserting purchases")?;
        }
        txn.commit().await.context("committing a seeding transaction")?;
        start = end;
    }
    if db.get_database_backend() == DbBackend::Postgres {
        // As autovacuum would soon after a bulk load.
        db.execute_unprepared("ANALYZE").await?;
    }
    Ok(Seeded {
        names,
        purchases: total_purchases,
    })
}

/// Makes every customer unclassified again (its classification columns NULL, as seeded), so that
/// the next run writes every customer again; then `VACUUM ANALYZE` on PostgreSQL. Returns the
/// rows reset.
///
/// # Errors
/// When a statement fails.
pub async fn reset(db: &DatabaseConnection) -> anyhow::Result<u64> {
    let sets = Dimension::ALL
        .map(Dimension::field)
        .iter()
        .chain(&OTHER_CLASSIFICATION_COLUMNS)
        .map(|c| format!("{c} = NULL"))
        .collect::<Vec<_>>()
        .join(", ");
    let reset = db
        .execute_unprepared(&format!("UPDATE customers SET {sets} WHERE delete_time IS NULL"))
        .await
        .context("resetting the classification columns")?
        .rows_affected();
    if db.get_database_backend() == DbBackend::Postgres {
        db.execute_unprepared("VACUUM ANALYZE customers").await?;
    }
    Ok(reset)
}

/// What one ReclassifyCustomers call did.
#[derive(Debug, Clone)]
pub struct BatchRun {
    /// From the request to the summary.
    pub elapsed: Duration,
    /// The summary the stream ended with.
    pub summary: pb::ReclassifySummary,
}

/// Calls ReclassifyCustomers and reads the stream to its summary.
///
/// # Errors
/// When the call or the stream fails, or the stream ends without a summary.
pub async fn run_batch(client: &ClassificationClient) -> anyhow::Result<BatchRun> {
    let started = Instant::now();
    let mut stream = client
        .clone()
        .reclassify_customers(pb::ReclassifyCustomersRequest {})
        .await
        .context("ReclassifyCustomers")?
        .into_inner();
    let mut summary = None;
    while let Some(message) = stream.message().await.context("the ReclassifyCustomers stream")? {
        if let Some(pb::reclassify_customers_response::Event::Summary(done)) = message.event {
            summary = Some(done);
        }
    }
    let Some(summary) = summary else {
        bail!("the ReclassifyCustomers stream ended without a summary");
    };
    Ok(BatchRun {
        elapsed: started.elapsed(),
        summary,
    })
}

/// The CASE expressions of the default rules, per dimension, with `$1`…`$n` the instants a last
/// (or first) purchase must be after to be at most 30/90/180/365 days ago (the recency cuts,
/// `new_days`, `dormant_after_days` and `churn_after_days` of the policy).
#[derive(Debug, Clone)]
pub struct SetBased {
    columns: [(&'static str, String); 5],
    cutoffs: Vec<Value>,
}

/// The set-based rules of `policy` as of `now`.
pub fn set_based(policy: &ClassificationPolicy, now: DateTime<Utc>) -> SetBased {
    // `days_since(t) <= d` ⇔ `now - t < d + 1 days` ⇔ `t > now - (d + 1) days`.
    let mut days: Vec<u32> = policy.recency_days_cuts.to_vec();
    for d in [policy.new_days, policy.dormant_after_days, policy.churn_after_days] {
        if !days.contains(&d) {
            days.push(d);
        }
    }
    let param = |d: u32| format!("${}", days.iter().position(|x| *x == d).map_or(1, |i| i + 1));
    let cutoffs = days
        .iter()
        .map(|d| Value::from(now - TimeDelta::days(i64::from(*d) + 1)))
        .collect();
    let p = policy;
    let lifecycle = format!(
        "CASE WHEN churned THEN 'CHURNED' WHEN last_purchase_time IS NULL THEN 'POTENTIAL' \
         WHEN COALESCE(first_purchase_time, last_purchase_time) > {new} THEN 'NEW' \
         WHEN last_purchase_time > {dormant} THEN 'ACTIVE' \
         WHEN last_purchase_time > {churn} THEN 'DORMANT' ELSE 'CHURNED' END",
        new = param(p.new_days),
        dormant = param(p.dormant_after_days),
        churn = param(p.churn_after_days),
    );
    let value = format!(
        "CASE WHEN window_revenue_micros >= {} THEN 'HIGH' WHEN window_revenue_micros >= {} THEN 'MEDIUM' \
         WHEN window_revenue_micros > 0 THEN 'LOW' ELSE 'NONE' END",
        p.value_high_min.micros(),
        p.value_medium_min.micros(),
    );
    let behaviour = format!(
        "CASE WHEN window_orders >= {} THEN 'FREQUENT' WHEN window_orders >= {} THEN 'OCCASIONAL' \
         WHEN window_orders >= 1 THEN 'ONE_TIME' ELSE 'NONE' END",
        p.frequent_min_orders, p.occasional_min_orders,
    );
    let size = format!(
        "CASE WHEN employee_count IS NULL THEN 'UNKNOWN' WHEN employee_count >= {} THEN 'ENTERPRISE' \
         WHEN employee_count >= {} THEN 'MID_MARKET' WHEN employee_count >= {} THEN 'SMALL' ELSE 'MICRO' END",
        p.size_enterprise_min, p.size_mid_market_min, p.size_small_min,
    );
    let r = format!(
        "CASE WHEN last_purchase_time IS NULL THEN 0 WHEN last_purchase_time > {} THEN 5 \
         WHEN last_purchase_time > {} THEN 4 WHEN last_purchase_time > {} THEN 3 \
         WHEN last_purchase_time > {} THEN 2 ELSE 1 END",
        param(p.recency_days_cuts[0]),
        param(p.recency_days_cuts[1]),
        param(p.recency_days_cuts[2]),
        param(p.recency_days_cuts[3]),
    );
    let f = format!(
        "CASE WHEN last_purchase_time IS NULL THEN 0 WHEN window_orders >= {} THEN 5 \
         WHEN window_orders >= {} THEN 4 WHEN window_orders >= {} THEN 3 WHEN window_orders >= {} THEN 2 ELSE 1 END",
        p.frequency_cuts[3], p.frequency_cuts[2], p.frequency_cuts[1], p.frequency_cuts[0],
    );
    let m = format!(
        "CASE WHEN last_purchase_time IS NULL THEN 0 WHEN window_revenue_micros >= {} THEN 5 \
         WHEN window_revenue_micros >= {} THEN 4 WHEN window_revenue_micros >= {} THEN 3 \
         WHEN window_revenue_micros >= {} THEN 2 ELSE 1 END",
        p.monetary_cuts[3].micros(),
        p.monetary_cuts[2].micros(),
        p.monetary_cuts[1].micros(),
        p.monetary_cuts[0].micros(),
    );
    let executive_titles = TITLES
        .iter()
        .filter(|(_, executive)| *executive)
        .map(|(title, _)| format!("'{title}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let denominator = 5 * (p.recency_weight + p.frequency_weight + p.monetary_weight);
    let score = format!(
        "((200 * ({wr} * ({r}) + {wf} * ({f}) + {wm} * ({m})) + {denominator}) / {twice} \
         + CASE WHEN key_account THEN {key} ELSE 0 END \
         + CASE WHEN contact_job_rank = 'EXECUTIVE' OR (contact_job_rank IS NULL AND contact_job_title IN ({executive_titles})) \
           THEN {executive} ELSE 0 END)",
        wr = p.recency_weight,
        wf = p.frequency_weight,
        wm = p.monetary_weight,
        twice = 2 * denominator,
        key = p.key_account_bonus,
        executive = p.executive_bonus,
    );
    let grade = format!(
        "CASE WHEN {score} >= {vip} THEN 'VIP' WHEN {score} >= {key} THEN 'KEY' WHEN key_account THEN 'KEY' \
         WHEN last_purchase_time IS NOT NULL THEN 'STANDARD' ELSE 'POTENTIAL' END",
        vip = p.grade_vip_min_score,
        key = p.grade_key_min_score,
    );
    SetBased {
        columns: [
            ("lifecycle_stage", lifecycle),
            ("value_tier", value),
            ("behaviour", behaviour),
            ("size_segment", size),
            ("grade", grade),
        ],
        cutoffs,
    }
}

/// `sql` with `$n` placeholders as the backend spells them (`?n` on SQLite).
fn statement(backend: DbBackend, sql: &str, values: Vec<Value>) -> Statement {
    let sql = match backend {
        DbBackend::Sqlite => sql.replace('$', "?"),
        _ => sql.to_owned(),
    };
    Statement::from_sql_and_values(backend, sql, values)
}

/// Per dimension, how many live customers' stored value differs from the set-based rules: the
/// cross-check that the baseline computes what crmd computed.
///
/// # Errors
/// When the statement fails.
pub async fn disagreements(db: &DatabaseConnection, rules: &SetBased) -> anyhow::Result<Vec<(&'static str, i64)>> {
    let sums = rules
        .columns
        .iter()
        .map(|(column, case)| {
            format!("CAST(SUM(CASE WHEN COALESCE({column}, '') <> ({case}) THEN 1 ELSE 0 END) AS BIGINT) AS {column}")
        })
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!("SELECT {sums} FROM customers WHERE delete_time IS NULL");
    let row = db
        .query_one_raw(statement(db.get_database_backend(), &sql, rules.cutoffs.clone()))
        .await
        .context("comparing with the set-based rules")?
        .context("the comparison returned no row")?;
    rules
        .columns
        .iter()
        .map(|(column, _)| Ok((*column, row.try_get::<Option<i64>>("", column)?.unwrap_or(0))))
        .collect()
}

/// Times the set-based UPDATE; returns the elapsed time and the rows it wrote.
///
/// # Errors
/// When the statement fails.
pub async fn baseline(db: &DatabaseConnection, rules: &SetBased) -> anyhow::Result<(Duration, u64)> {
    let sets = rules
        .columns
        .iter()
        .map(|(column, case)| format!("{column} = {case}"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!("UPDATE customers SET {sets} WHERE delete_time IS NULL");
    let started = Instant::now();
    let result = db
        .execute_raw(statement(db.get_database_backend(), &sql, rules.cutoffs.clone()))
        .await
        .context("the set-based UPDATE")?;
    Ok((started.elapsed(), result.rows_affected()))
}
