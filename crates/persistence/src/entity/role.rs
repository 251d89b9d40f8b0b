//! The `roles` table.

use sea_orm::entity::prelude::*;

/// One custom role, named `roles/{id}`; `permissions` is the domain's bit set.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "roles")]
pub(crate) struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub(crate) name: String,
    pub(crate) title: String,
    pub(crate) permissions: i64,
    pub(crate) create_time: DateTimeUtc,
    pub(crate) update_time: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub(crate) enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
