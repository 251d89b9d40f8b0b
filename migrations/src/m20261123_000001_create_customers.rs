//! The `customers` table and its `customer_tags`, with the indexes the documented filters and
//! orderings need.
//!
//! Enums are stored as their names (`ORGANIZATION`), so rows read well in `psql`; `needs` is a
//! bit set (bit 0 price-sensitive, 1 function-, 2 quality-, 3 service-focused); tags live in their
//! own table so that `tags: "x"` is an indexed lookup on both backends.

use sea_orm_migration::{async_trait::async_trait, prelude::*};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum Customers {
    Table,
    Id,
    DisplayName,
    Kind,
    ContactFullName,
    ContactJobTitle,
    ContactJobRank,
    ContactDecisionRole,
    ContactEmail,
    ContactPhone,
    Industry,
    EmployeeCount,
    RegionCountryCode,
    RegionSubdivision,
    RegionCity,
    Needs,
    KeyAccount,
    Churned,
    Owner,
    Department,
    CreateTime,
    UpdateTime,
    DeleteTime,
    Version,
    RequestId,
}

#[derive(DeriveIden)]
enum CustomerTags {
    Table,
    CustomerId,
    Tag,
}

#[async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Customers::Table)
                    .col(ColumnDef::new(Customers::Id).string_len(64).not_null().primary_key())
                    .col(ColumnDef::new(Customers::DisplayName).string_len(200).not_null())
                    .col(ColumnDef::new(Customers::Kind).string_len(32).not_null())
                    .col(ColumnDef::new(Customers::ContactFullName).string_len(200).null())
                    .col(ColumnDef::new(Customers::ContactJobTitle).string_len(200).null())
                    .col(ColumnDef::new(Customers::ContactJobRank).string_len(32).null())
                    .col(ColumnDef::new(Customers::ContactDecisionRole).string_len(32).null())
                    .col(ColumnDef::new(Customers::ContactEmail).string_len(254).null())
                    .col(ColumnDef::new(Customers::ContactPhone).string_len(16).null())
                    .col(ColumnDef::new(Customers::Industry).string_len(32).null())
                    .col(ColumnDef::new(Customers::EmployeeCount).big_integer().null())
                    .col(ColumnDef::new(Customers::RegionCountryCode).string_len(2).null())
                    .col(ColumnDef::new(Customers::RegionSubdivision).string_len(100).null())
                    .col(ColumnDef::new(Customers::RegionCity).string_len(100).null())
                    .col(ColumnDef::new(Customers::Needs).small_integer().not_null().default(0))
                    .col(
                        ColumnDef::new(Customers::KeyAccount)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(ColumnDef::new(Customers::Churned).boolean().not_null().default(false))
                    .col(ColumnDef::new(Customers::Owner).string_len(80).null())
                    .col(ColumnDef::new(Customers::Department).string_len(64).null())
                    .col(
                        ColumnDef::new(Customers::CreateTime)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Customers::UpdateTime)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Customers::DeleteTime).timestamp_with_time_zone().null())
                    .col(ColumnDef::new(Customers::Version).big_integer().not_null())
                    .col(ColumnDef::new(Customers::RequestId).string_len(36).null())
                    .to_owned(),
            )
            .await?;

        // Keyset pagination: one index per documented ordering, ending in the id tie-break.
        for (name, column) in [
            ("idx_customers_create_time_id", Customers::CreateTime),
            ("idx_customers_update_time_id", Customers::UpdateTime),
            ("idx_customers_display_name_id", Customers::DisplayName),
        ] {
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
        }
        // `employee_count` orders with unknown counts as -1; the same expression is indexed.
        // The statement is identical in SQLite and PostgreSQL.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX idx_customers_employee_count_id ON customers ((COALESCE(employee_count, -1)), id)",
            )
            .await?;
        for (name, column) in [
            ("idx_customers_owner", Customers::Owner),
            ("idx_customers_department", Customers::Department),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(Customers::Table)
                        .col(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("idx_customers_request_id")
                    .table(Customers::Table)
                    .col(Customers::RequestId)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(CustomerTags::Table)
                    .col(ColumnDef::new(CustomerTags::CustomerId).string_len(64).not_null())
                    .col(ColumnDef::new(CustomerTags::Tag).string_len(64).not_null())
                    .primary_key(Index::create().col(CustomerTags::CustomerId).col(CustomerTags::Tag))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_customer_tags_customer")
                            .from(CustomerTags::Table, CustomerTags::CustomerId)
                            .to(Customers::Table, Customers::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_customer_tags_tag_customer")
                    .table(CustomerTags::Table)
                    .col(CustomerTags::Tag)
                    .col(CustomerTags::CustomerId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(CustomerTags::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Customers::Table).to_owned())
            .await
    }
}
