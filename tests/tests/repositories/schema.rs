//! The scope indexes of the `index_customer_scope` migration: `up` replaces the single-column
//! department and owner indexes with `(department, id)` and `(owner, id)`, `down` puts them back,
//! on both backends.

use crm_migrations::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, Statement};

use crate::support::{Backend, TestDatabase, on_both_backends};

on_both_backends!(the_scope_indexes_replace_the_single_column_ones_and_go_back_down);

const SCOPE_INDEXES: [&str; 2] = ["idx_customers_department_id", "idx_customers_owner_id"];
const REPLACED_INDEXES: [&str; 2] = ["idx_customers_department", "idx_customers_owner"];

/// How many migrations, from the newest, roll back to just before `index_customer_scope`.
fn migrations_since_scope_indexes() -> u32 {
    let names: Vec<String> = Migrator::migrations().iter().map(|m| m.name().to_owned()).collect();
    let position = names
        .iter()
        .position(|name| name == "m20261123_000004_index_customer_scope")
        .expect("the migration is registered");
    u32::try_from(names.len() - position).unwrap()
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
        assert_eq!(has(&all, SCOPE_INDEXES), [true, true], "round {round}: {all:?}");
        assert_eq!(has(&all, REPLACED_INDEXES), [false, false], "round {round}: {all:?}");

        // Down to just before this migration: its indexes go, the replaced ones are back, the
        // table's others stay.
        let conn = sea_orm::Database::connect(database.url()).await.unwrap();
        Migrator::down(&conn, Some(migrations_since_scope_indexes()))
            .await
            .unwrap();
        conn.close().await.unwrap();
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
