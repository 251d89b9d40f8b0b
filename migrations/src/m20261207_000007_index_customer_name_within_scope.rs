//! The scope indexes ordered by name: `customers(department, display_name, id)` and
//! `customers(owner, display_name, id)` replace `(department, id)` and `(owner, id)` of
//! `index_customer_scope`.
//!
//! The most common list a department- or owner-scoped caller asks for is its customers by name
//! (`department = "sales"`, or its scope, `order_by = "display_name"`), often with one more
//! condition such as a tag. With `(department, id)` SQLite (and PostgreSQL on a cold cache) walked
//! the whole `display_name` index and read every customer row to find the department's; with the
//! name inside the scope index the department's customers come in page order and only the page's
//! rows are read (the `crm-loadgen` ListCustomers row on SQLite: ~5 ms to ~0.5 ms per page).
//!
//! The new indexes answer every query the old ones did: the scope condition `department IN (...)
//! OR owner IN (...)` still finds its rows (and their ids) from one index per half. They replace
//! the old ones rather than sit beside them, so every write of a customer still updates the same
//! number of indexes. On SQLite with statistics (`sqlite_stat1`, see the persistence crate's
//! `Database::optimize`) `up` re-analyses `customers` so the planner knows the new indexes at once.
//! `down` restores the old indexes.

use sea_orm_migration::{async_trait::async_trait, prelude::*, sea_orm::DatabaseBackend};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum Customers {
    Table,
    Id,
    DisplayName,
    Owner,
    Department,
}

/// Each scope column's new index (the column, the name, then the id) and the index it replaces.
const INDEXES: [(Customers, &str, &str); 2] = [
    (
        Customers::Department,
        "idx_customers_department_display_name_id",
        "idx_customers_department_id",
    ),
    (
        Customers::Owner,
        "idx_customers_owner_display_name_id",
        "idx_customers_owner_id",
    ),
];

async fn drop_index(manager: &SchemaManager<'_>, name: &str) -> Result<(), DbErr> {
    manager
        .drop_index(Index::drop().name(name).table(Customers::Table).to_owned())
        .await
}

/// On SQLite with statistics, refreshes those of `customers` (its indexes just changed).
async fn reanalyse(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    if manager.get_database_backend() != DatabaseBackend::Sqlite || !manager.has_table("sqlite_stat1").await? {
        return Ok(());
    }
    manager.get_connection().execute_unprepared("ANALYZE customers").await?;
    Ok(())
}

#[async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (column, name, replaced) in INDEXES {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(Customers::Table)
                        .col(column)
                        .col(Customers::DisplayName)
                        .col(Customers::Id)
                        .to_owned(),
                )
                .await?;
            drop_index(manager, replaced).await?;
        }
        reanalyse(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (column, name, replaced) in INDEXES {
            manager
                .create_index(
                    Index::create()
                        .name(replaced)
                        .table(Customers::Table)
                        .col(column)
                        .col(Customers::Id)
                        .to_owned(),
                )
                .await?;
            drop_index(manager, name).await?;
        }
        reanalyse(manager).await
    }
}
