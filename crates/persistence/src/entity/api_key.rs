//! The `api_keys` table.

use sea_orm::entity::prelude::*;

/// One API key; `secret_hash` is the SHA-256 of the secret as 64 lowercase hex digits.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_keys")]
pub(crate) struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub(crate) id: String,
    pub(crate) prefix: String,
    pub(crate) principal: String,
    pub(crate) secret_hash: String,
    pub(crate) create_time: DateTimeUtc,
    pub(crate) expire_time: Option<DateTimeUtc>,
    pub(crate) revoke_time: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub(crate) enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
