//! Classification: activity (`purchases`, `interactions`), versioned `classification_policies`,
//! the append-only `classification_history`, the classification and purchase aggregates on each
//! `customers` row, and the grade limit of `role_bindings`.
//!
//! A customer's six dimension values are stored by name (`VIP`, `DORMANT`, as the proto spells
//! them without the prefix) in their own columns, so lists filter and order on them with plain
//! indexes; everything else about the classification (reasons, overrides, `since`, RFM, the
//! service plan) is one JSON document in `customers.classification`, read and written whole.
//! NULL dimension columns mean "not classified yet" (rows that existed before this migration,
//! until the first re-classification run).
//!
//! Money is stored as integer micros (millionths of the reporting currency's unit). A policy is a
//! JSON document; versions are never updated except for `active` and `activate_time`.
//! `role_bindings.grades` is a bit set of grade codes; 0 means "every grade".

use sea_orm_migration::{async_trait::async_trait, prelude::*};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Customers {
    Table,
    Id,
    WindowOrders,
    WindowRevenueMicros,
    FirstPurchaseTime,
    LastPurchaseTime,
    RankTier,
    ValueTier,
    LifecycleStage,
    Behaviour,
    SizeSegment,
    Grade,
    Score,
    PolicyVersion,
    Classification,
}

#[derive(DeriveIden)]
enum RoleBindings {
    Table,
    Grades,
}

#[derive(DeriveIden)]
enum Purchases {
    Table,
    CustomerId,
    OrderRef,
    AmountMicros,
    OccurTime,
    RecordTime,
    Recorder,
}

#[derive(DeriveIden)]
enum Interactions {
    Table,
    Id,
    CustomerId,
    Channel,
    OccurTime,
    Note,
    RecordTime,
    Recorder,
}

#[derive(DeriveIden)]
enum ClassificationPolicies {
    Table,
    Version,
    Policy,
    Description,
    Active,
    CreateTime,
    Creator,
    ActivateTime,
}

#[derive(DeriveIden)]
enum ClassificationHistory {
    Table,
    Id,
    CustomerId,
    Dimension,
    FromValue,
    ToValue,
    Source,
    PolicyVersion,
    Actor,
    ChangeTime,
}

/// The columns added to `customers`, each in its own statement (SQLite alters one column at a
/// time).
fn customer_columns() -> Vec<ColumnDef> {
    vec![
        ColumnDef::new(Customers::WindowOrders)
            .integer()
            .not_null()
            .default(0)
            .to_owned(),
        ColumnDef::new(Customers::WindowRevenueMicros)
            .big_integer()
            .not_null()
            .default(0)
            .to_owned(),
        ColumnDef::new(Customers::FirstPurchaseTime)
            .timestamp_with_time_zone()
            .null()
            .to_owned(),
        ColumnDef::new(Customers::LastPurchaseTime)
            .timestamp_with_time_zone()
            .null()
            .to_owned(),
        ColumnDef::new(Customers::RankTier).string_len(16).null().to_owned(),
        ColumnDef::new(Customers::ValueTier).string_len(16).null().to_owned(),
        ColumnDef::new(Customers::LifecycleStage)
            .string_len(16)
            .null()
            .to_owned(),
        ColumnDef::new(Customers::Behaviour).string_len(16).null().to_owned(),
        ColumnDef::new(Customers::SizeSegment).string_len(16).null().to_owned(),
        ColumnDef::new(Customers::Grade).string_len(16).null().to_owned(),
        ColumnDef::new(Customers::Score).small_integer().null().to_owned(),
        ColumnDef::new(Customers::PolicyVersion).big_integer().null().to_owned(),
        ColumnDef::new(Customers::Classification).text().null().to_owned(),
    ]
}

/// Indexes on `customers` for the common classification filters and orders, each ending with the
/// id the keyset order breaks ties on.
const CUSTOMER_INDEXES: [(Customers, &str); 4] = [
    (Customers::Grade, "idx_customers_grade_id"),
    (Customers::LifecycleStage, "idx_customers_lifecycle_stage_id"),
    (Customers::ValueTier, "idx_customers_value_tier_id"),
    (Customers::Score, "idx_customers_score_id"),
];

#[async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for mut column in customer_columns() {
            manager
                .alter_table(
                    Table::alter()
                        .table(Customers::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        for (column, name) in CUSTOMER_INDEXES {
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
        manager
            .alter_table(
                Table::alter()
                    .table(RoleBindings::Table)
                    .add_column(
                        ColumnDef::new(RoleBindings::Grades)
                            .small_integer()
                            .not_null()
                            .default(0),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Purchases::Table)
                    .col(ColumnDef::new(Purchases::CustomerId).string_len(64).not_null())
                    .col(ColumnDef::new(Purchases::OrderRef).string_len(128).not_null())
                    .col(ColumnDef::new(Purchases::AmountMicros).big_integer().not_null())
                    .col(
                        ColumnDef::new(Purchases::OccurTime)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Purchases::RecordTime)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Purchases::Recorder).string_len(80).not_null())
                    .primary_key(Index::create().col(Purchases::CustomerId).col(Purchases::OrderRef))
                    .to_owned(),
            )
            .await?;
        // A customer's purchases newest first (listing), and its window sums.
        manager
            .create_index(
                Index::create()
                    .name("idx_purchases_customer_occur_time")
                    .table(Purchases::Table)
                    .col(Purchases::CustomerId)
                    .col(Purchases::OccurTime)
                    .col(Purchases::OrderRef)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Interactions::Table)
                    .col(ColumnDef::new(Interactions::Id).string_len(36).not_null().primary_key())
                    .col(ColumnDef::new(Interactions::CustomerId).string_len(64).not_null())
                    .col(ColumnDef::new(Interactions::Channel).string_len(32).not_null())
                    .col(
                        ColumnDef::new(Interactions::OccurTime)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Interactions::Note).text().not_null())
                    .col(
                        ColumnDef::new(Interactions::RecordTime)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Interactions::Recorder).string_len(80).not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_interactions_customer_occur_time")
                    .table(Interactions::Table)
                    .col(Interactions::CustomerId)
                    .col(Interactions::OccurTime)
                    .col(Interactions::Id)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ClassificationPolicies::Table)
                    .col(
                        ColumnDef::new(ClassificationPolicies::Version)
                            .big_integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(ClassificationPolicies::Policy).text().not_null())
                    .col(ColumnDef::new(ClassificationPolicies::Description).text().not_null())
                    .col(ColumnDef::new(ClassificationPolicies::Active).boolean().not_null())
                    .col(
                        ColumnDef::new(ClassificationPolicies::CreateTime)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(ClassificationPolicies::Creator).string_len(80).null())
                    .col(
                        ColumnDef::new(ClassificationPolicies::ActivateTime)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ClassificationHistory::Table)
                    .col(
                        ColumnDef::new(ClassificationHistory::Id)
                            .string_len(36)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(ClassificationHistory::CustomerId)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ClassificationHistory::Dimension)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(ColumnDef::new(ClassificationHistory::FromValue).string_len(16).null())
                    .col(ColumnDef::new(ClassificationHistory::ToValue).string_len(16).not_null())
                    .col(ColumnDef::new(ClassificationHistory::Source).string_len(16).not_null())
                    .col(
                        ColumnDef::new(ClassificationHistory::PolicyVersion)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(ClassificationHistory::Actor).string_len(80).null())
                    .col(
                        ColumnDef::new(ClassificationHistory::ChangeTime)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        // Newest first (ids are UUIDv7) for one customer, and for everyone.
        manager
            .create_index(
                Index::create()
                    .name("idx_classification_history_customer_id")
                    .table(ClassificationHistory::Table)
                    .col(ClassificationHistory::CustomerId)
                    .col(ClassificationHistory::Id)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            ClassificationHistory::Table.into_iden(),
            ClassificationPolicies::Table.into_iden(),
            Interactions::Table.into_iden(),
            Purchases::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(RoleBindings::Table)
                    .drop_column(RoleBindings::Grades)
                    .to_owned(),
            )
            .await?;
        for (_, name) in CUSTOMER_INDEXES {
            manager
                .drop_index(Index::drop().name(name).table(Customers::Table).to_owned())
                .await?;
        }
        for column in [
            Customers::Classification,
            Customers::PolicyVersion,
            Customers::Score,
            Customers::Grade,
            Customers::SizeSegment,
            Customers::Behaviour,
            Customers::LifecycleStage,
            Customers::ValueTier,
            Customers::RankTier,
            Customers::LastPurchaseTime,
            Customers::FirstPurchaseTime,
            Customers::WindowRevenueMicros,
            Customers::WindowOrders,
        ] {
            manager
                .alter_table(Table::alter().table(Customers::Table).drop_column(column).to_owned())
                .await?;
        }
        Ok(())
    }
}
