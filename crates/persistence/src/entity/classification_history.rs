//! The `classification_history` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "classification_history")]
pub(crate) struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub(crate) id: String,
    pub(crate) customer_id: String,
    pub(crate) dimension: String,
    pub(crate) from_value: Option<String>,
    pub(crate) to_value: String,
    pub(crate) source: String,
    pub(crate) policy_version: i64,
    pub(crate) actor: Option<String>,
    pub(crate) change_time: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub(crate) enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
