//! The `role_bindings` table.

use sea_orm::entity::prelude::*;

/// One role binding; `scope` is stored by name.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "role_bindings")]
pub(crate) struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub(crate) id: String,
    pub(crate) principal: String,
    pub(crate) role: String,
    pub(crate) scope: String,
    pub(crate) expire_time: Option<DateTimeUtc>,
    pub(crate) create_time: DateTimeUtc,
    pub(crate) grades: i16,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub(crate) enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
