//! Access control: `principals`, custom `roles`, `role_bindings`, `api_keys` and the append-only
//! `audit_events`.
//!
//! Enums (principal kind, staff level, scope, audit outcome) are stored by name, as in
//! `customers`. A role's permissions are a bit set (bit i is the i-th permission of the domain's
//! fixed list). Built-in roles are defined in code and never stored, so `role_bindings.role` has
//! no foreign key. A key's secret is never stored, only its SHA-256 as 64 lowercase hex digits.

use sea_orm_migration::{async_trait::async_trait, prelude::*};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum Principals {
    Table,
    Name,
    Kind,
    DisplayName,
    Department,
    StaffLevel,
    Disabled,
    CreateTime,
    UpdateTime,
    Version,
}

#[derive(DeriveIden)]
enum Roles {
    Table,
    Name,
    Title,
    Permissions,
    CreateTime,
    UpdateTime,
}

#[derive(DeriveIden)]
enum RoleBindings {
    Table,
    Id,
    Principal,
    Role,
    Scope,
    ExpireTime,
    CreateTime,
}

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    Id,
    Prefix,
    Principal,
    SecretHash,
    CreateTime,
    ExpireTime,
    RevokeTime,
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Id,
    Time,
    Actor,
    Action,
    Resource,
    Outcome,
    Detail,
}

#[async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Principals::Table)
                    .col(ColumnDef::new(Principals::Name).string_len(80).not_null().primary_key())
                    .col(ColumnDef::new(Principals::Kind).string_len(32).not_null())
                    .col(ColumnDef::new(Principals::DisplayName).string_len(200).not_null())
                    .col(ColumnDef::new(Principals::Department).string_len(64).null())
                    .col(ColumnDef::new(Principals::StaffLevel).string_len(32).null())
                    .col(ColumnDef::new(Principals::Disabled).boolean().not_null().default(false))
                    .col(
                        ColumnDef::new(Principals::CreateTime)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Principals::UpdateTime)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Principals::Version).big_integer().not_null())
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Roles::Table)
                    .col(ColumnDef::new(Roles::Name).string_len(80).not_null().primary_key())
                    .col(ColumnDef::new(Roles::Title).string_len(100).not_null())
                    .col(ColumnDef::new(Roles::Permissions).big_integer().not_null())
                    .col(ColumnDef::new(Roles::CreateTime).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(Roles::UpdateTime).timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(RoleBindings::Table)
                    .col(ColumnDef::new(RoleBindings::Id).string_len(36).not_null().primary_key())
                    .col(ColumnDef::new(RoleBindings::Principal).string_len(80).not_null())
                    .col(ColumnDef::new(RoleBindings::Role).string_len(80).not_null())
                    .col(ColumnDef::new(RoleBindings::Scope).string_len(32).not_null())
                    .col(
                        ColumnDef::new(RoleBindings::ExpireTime)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(RoleBindings::CreateTime)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_role_bindings_principal")
                            .from(RoleBindings::Table, RoleBindings::Principal)
                            .to(Principals::Table, Principals::Name)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_role_bindings_principal")
                    .table(RoleBindings::Table)
                    .col(RoleBindings::Principal)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ApiKeys::Table)
                    .col(ColumnDef::new(ApiKeys::Id).string_len(36).not_null().primary_key())
                    .col(ColumnDef::new(ApiKeys::Prefix).string_len(16).not_null())
                    .col(ColumnDef::new(ApiKeys::Principal).string_len(80).not_null())
                    .col(ColumnDef::new(ApiKeys::SecretHash).string_len(64).not_null())
                    .col(
                        ColumnDef::new(ApiKeys::CreateTime)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(ApiKeys::ExpireTime).timestamp_with_time_zone().null())
                    .col(ColumnDef::new(ApiKeys::RevokeTime).timestamp_with_time_zone().null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_api_keys_principal")
                            .from(ApiKeys::Table, ApiKeys::Principal)
                            .to(Principals::Table, Principals::Name)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_api_keys_prefix")
                    .table(ApiKeys::Table)
                    .col(ApiKeys::Prefix)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_api_keys_principal")
                    .table(ApiKeys::Table)
                    .col(ApiKeys::Principal)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AuditEvents::Table)
                    .col(ColumnDef::new(AuditEvents::Id).string_len(36).not_null().primary_key())
                    .col(ColumnDef::new(AuditEvents::Time).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(AuditEvents::Actor).string_len(80).null())
                    .col(ColumnDef::new(AuditEvents::Action).text().not_null())
                    .col(ColumnDef::new(AuditEvents::Resource).text().not_null())
                    .col(ColumnDef::new(AuditEvents::Outcome).string_len(32).not_null())
                    .col(ColumnDef::new(AuditEvents::Detail).text().not_null())
                    .to_owned(),
            )
            .await?;
        // Newest first, keyset on (time, id); and the two common filters, each newest first.
        manager
            .create_index(
                Index::create()
                    .name("idx_audit_events_time_id")
                    .table(AuditEvents::Table)
                    .col(AuditEvents::Time)
                    .col(AuditEvents::Id)
                    .to_owned(),
            )
            .await?;
        for (name, column) in [
            ("idx_audit_events_actor_time", AuditEvents::Actor),
            ("idx_audit_events_resource_time", AuditEvents::Resource),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(AuditEvents::Table)
                        .col(column)
                        .col(AuditEvents::Time)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            AuditEvents::Table.into_iden(),
            ApiKeys::Table.into_iden(),
            RoleBindings::Table.into_iden(),
            Roles::Table.into_iden(),
            Principals::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
