//! The `customer_tags` table: one row per tag of a customer.

use sea_orm::entity::prelude::*;

/// One tag of one customer.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "customer_tags")]
pub(crate) struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub(crate) customer_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub(crate) tag: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub(crate) enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
