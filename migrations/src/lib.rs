//! The database schema, as sea-orm migrations. One schema serves SQLite and PostgreSQL: every
//! migration uses only column types and statements both understand, and CI runs all of them (up
//! and down) on both.
//!
//! # Layout
//! One module per migration, named `mYYYYMMDD_HHMMSS_verb_noun`, each with an `up` and a `down`.
//! [`Migrator`] lists them in order.

use sea_orm_migration::async_trait::async_trait;
pub use sea_orm_migration::prelude::*;

mod m20261123_000001_create_customers;
mod m20261123_000002_create_service_secrets;
mod m20261123_000003_create_access_control;
mod m20261123_000004_index_customer_scope;
mod m20261123_000005_create_classification;
mod m20261206_000006_notify_customer_facts;
mod m20261207_000007_index_customer_name_within_scope;
mod m20261207_000008_fence_customer_writes;

/// Runs `statements` in order on PostgreSQL; nothing on SQLite (for what only PostgreSQL has:
/// triggers that notify or fence other replicas).
async fn on_postgres_only(manager: &SchemaManager<'_>, statements: &[&str]) -> Result<(), DbErr> {
    if manager.get_database_backend() != sea_orm_migration::sea_orm::DatabaseBackend::Postgres {
        return Ok(());
    }
    let connection = manager.get_connection();
    for statement in statements {
        connection.execute_unprepared(statement).await?;
    }
    Ok(())
}

/// Every migration, oldest first.
#[derive(Debug)]
pub struct Migrator;

#[async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_create_customers::Migration),
            Box::new(m20261123_000002_create_service_secrets::Migration),
            Box::new(m20261123_000003_create_access_control::Migration),
            Box::new(m20261123_000004_index_customer_scope::Migration),
            Box::new(m20261123_000005_create_classification::Migration),
            Box::new(m20261206_000006_notify_customer_facts::Migration),
            Box::new(m20261207_000007_index_customer_name_within_scope::Migration),
            Box::new(m20261207_000008_fence_customer_writes::Migration),
        ]
    }
}
