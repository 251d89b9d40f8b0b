//! The `purchases` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "purchases")]
pub(crate) struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub(crate) customer_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub(crate) order_ref: String,
    pub(crate) amount_micros: i64,
    pub(crate) occur_time: DateTimeUtc,
    pub(crate) record_time: DateTimeUtc,
    pub(crate) recorder: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub(crate) enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
