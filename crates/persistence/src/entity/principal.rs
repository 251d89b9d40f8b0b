//! The `principals` table.

use sea_orm::entity::prelude::*;

/// One principal, named `principals/{id}`. Enums are stored by name.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "principals")]
pub(crate) struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub(crate) name: String,
    pub(crate) kind: String,
    pub(crate) display_name: String,
    pub(crate) department: Option<String>,
    pub(crate) staff_level: Option<String>,
    pub(crate) disabled: bool,
    pub(crate) create_time: DateTimeUtc,
    pub(crate) update_time: DateTimeUtc,
    pub(crate) version: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub(crate) enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
