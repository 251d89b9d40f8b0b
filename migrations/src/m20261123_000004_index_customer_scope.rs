//! Indexes for listing customers within an access scope: `customers(department, id)` and
//! `customers(owner, id)`.
//!
//! A caller whose role bindings have scope DEPARTMENT or OWN lists only the customers of its
//! department or its own, as `department IN (...) OR owner IN (...)` (see the persistence
//! crate's `query::scope_condition`). Each half of the condition is answered from one of these
//! indexes (PostgreSQL combines them with a bitmap OR, SQLite with its multi-index OR), which
//! also hold the id the keyset order breaks ties on.
//!
//! They replace the single-column `idx_customers_department` and `idx_customers_owner` of
//! `create_customers`: each of those is a prefix of its new index, which answers every query it
//! did, so keeping both would only make every write of a customer update two more indexes.
//! `down` restores them.

use sea_orm_migration::{async_trait::async_trait, prelude::*};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum Customers {
    Table,
    Id,
    Owner,
    Department,
}

/// Each column's new index (the column, then the id) and the single-column index it replaces.
const INDEXES: [(Customers, &str, &str); 2] = [
    (
        Customers::Department,
        "idx_customers_department_id",
        "idx_customers_department",
    ),
    (Customers::Owner, "idx_customers_owner_id", "idx_customers_owner"),
];

async fn drop_index(manager: &SchemaManager<'_>, name: &str) -> Result<(), DbErr> {
    manager
        .drop_index(Index::drop().name(name).table(Customers::Table).to_owned())
        .await
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
                        .col(Customers::Id)
                        .to_owned(),
                )
                .await?;
            drop_index(manager, replaced).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (column, name, replaced) in INDEXES {
            manager
                .create_index(
                    Index::create()
                        .name(replaced)
                        .table(Customers::Table)
                        .col(column)
                        .to_owned(),
                )
                .await?;
            drop_index(manager, name).await?;
        }
        Ok(())
    }
}
