//! The scope indexes, on both backends: `index_customer_scope` replaces the single-column
//! department and owner indexes with `(department, id)` and `(owner, id)`;
//! `index_customer_name_within_scope` replaces those with `(department, display_name, id)` and
//! `(owner, display_name, id)`; each `down` puts back what its `up` replaced.

use crm_migrations::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, Statement};

use crate::support::{Backend, TestDatabase, on_both_backends};

on_both_backends!(the_scope_indexes_replace_the_single_column_ones_and_go_back_down);

const NAME_INDEXES: [&str; 2] = [
    "idx_customers_department_display_name_id",
    "idx_customers_owner_display_name_id",
];
const SCOPE_INDEXES: [&str; 2] = ["idx_customers_department_id", "idx_customers_owner_id"];
const REPLACED_INDEXES: [&str; 2] = ["idx_customers_department", "idx_customers_owner"];

/// How many migrations, from the newest, roll back to just before `migration`.
fn migrations_since(migration: &str) -> u32 {
    let names: Vec<String> = Migrator::migrations().iter().map(|m| m.name().to_owned()).collect();
    let position = names
        .iter()
        .position(|name| name == migration)
        .expect("the migration is registered");
    u32::try_from(names.len() - position).unwrap()
}

/// Rolls `database` back to just before `migration`.
async fn down_to_before(database: &TestDatabase, migration: &str) {
    let conn = sea_orm::Database::connect(database.url()).await.unwrap();
    Migrator::down(&conn, Some(migrations_since(migration))).await.unwrap();
    conn.close().await.unwrap();
}

/// The names of the indexes on `customers`, sorted.
async fn customer_indexes(database: &TestDatabase, backend: Backend) -> Vec<String> {
    let sql = match backend {
        Backend::Sqlite => "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'customers'",
        Backend::Postgres => "SELECT indexname AS name FROM pg_indexes WHERE tablename = 'customers'",
    };
    let conn = sea_orm::Database::connect(database.url()).await.unwrap();
    let rows = conn
        .query_all_raw(Statement::from_string(conn.get_database_backend(), sql))
        .await
        .unwrap();
    conn.close().await.unwrap();
    let mut names: Vec<String> = rows.iter().map(|row| row.try_get("", "name").unwrap()).collect();
    names.sort();
    names
}

async fn the_scope_indexes_replace_the_single_column_ones_and_go_back_down(backend: Backend) {
    let Some(database) = TestDatabase::create(backend).await else {
        return;
    };
    let db = database.connect(2).await;
    let has = |indexes: &[String], names: [&str; 2]| names.map(|index| indexes.iter().any(|i| i == index));
    for round in 0..2 {
        db.migrate().await.unwrap();
        let all = customer_indexes(&database, backend).await;
        assert_eq!(has(&all, NAME_INDEXES), [true, true], "round {round}: {all:?}");
        assert_eq!(has(&all, SCOPE_INDEXES), [false, false], "round {round}: {all:?}");
        assert_eq!(has(&all, REPLACED_INDEXES), [false, false], "round {round}: {all:?}");

        // Down to just before the name-ordered indexes: the `(column, id)` ones are back.
        down_to_before(&database, "m20261207_000007_index_customer_name_within_scope").await;
        let scoped = customer_indexes(&database, backend).await;
        assert_eq!(has(&scoped, NAME_INDEXES), [false, false], "round {round}: {scoped:?}");
        assert_eq!(has(&scoped, SCOPE_INDEXES), [true, true], "round {round}: {scoped:?}");

        // Down to just before the scope indexes: theirs go, the single-column ones are back, the
        // table's others stay.
        down_to_before(&database, "m20261123_000004_index_customer_scope").await;
        let without = customer_indexes(&database, backend).await;
        assert_eq!(
            has(&without, SCOPE_INDEXES),
            [false, false],
            "round {round}: {without:?}"
        );
        assert_eq!(
            has(&without, REPLACED_INDEXES),
            [true, true],
            "round {round}: {without:?}"
        );
        assert!(
            without.iter().any(|i| i == "idx_customers_create_time_id"),
            "round {round}: {without:?}"
        );

        db.migrate().await.unwrap();
        db.migrate_down_all().await.unwrap();
        assert_eq!(
            customer_indexes(&database, backend).await,
            Vec::<String>::new(),
            "round {round}"
        );
    }
    db.close().await;
}

/// A department's customers by name, as a department-scoped caller's list asks for them, come
/// from the name-ordered scope index in page order: SQLite neither walks the whole name index nor
/// sorts (its planner is deterministic; PostgreSQL's depends on statistics, so it is not pinned).
#[tokio::test]
async fn a_department_list_by_name_reads_the_name_ordered_scope_index() {
    let database = TestDatabase::create(Backend::Sqlite)
        .await
        .expect("SQLite is always there");
    let db = database.connect(2).await;
    db.migrate().await.unwrap();
    let conn = sea_orm::Database::connect(database.url()).await.unwrap();
    let plan = conn
        .query_all_raw(Statement::from_string(
            conn.get_database_backend(),
            "EXPLAIN QUERY PLAN SELECT id FROM customers WHERE department = 'sales' AND delete_time IS NULL \
             ORDER BY display_name, id LIMIT 51",
        ))
        .await
        .unwrap();
    let plan: Vec<String> = plan.iter().map(|row| row.try_get("", "detail").unwrap()).collect();
    conn.close().await.unwrap();
    db.close().await;
    assert!(
        plan.iter()
            .any(|step| step.contains("idx_customers_department_display_name_id")),
        "{plan:?}"
    );
    assert!(!plan.iter().any(|step| step.contains("TEMP B-TREE")), "{plan:?}");
}
