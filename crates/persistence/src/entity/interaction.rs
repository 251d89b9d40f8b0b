//! The `interactions` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "interactions")]
pub(crate) struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub(crate) id: String,
    pub(crate) customer_id: String,
    pub(crate) channel: String,
    pub(crate) occur_time: DateTimeUtc,
    pub(crate) note: String,
    pub(crate) record_time: DateTimeUtc,
    pub(crate) recorder: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub(crate) enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
