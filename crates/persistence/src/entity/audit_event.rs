//! The `audit_events` table.

use sea_orm::entity::prelude::*;

/// One audit event; `outcome` is stored by name.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_events")]
pub(crate) struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub(crate) id: String,
    pub(crate) time: DateTimeUtc,
    pub(crate) actor: Option<String>,
    pub(crate) action: String,
    pub(crate) resource: String,
    pub(crate) outcome: String,
    pub(crate) detail: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub(crate) enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
