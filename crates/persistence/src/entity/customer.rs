//! The `customers` table.

use sea_orm::entity::prelude::*;

/// One row of `customers`. Enums are stored by name; `needs` is a bit set.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "customers")]
pub(crate) struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub(crate) id: String,
    pub(crate) display_name: String,
    pub(crate) kind: String,
    pub(crate) contact_full_name: Option<String>,
    pub(crate) contact_job_title: Option<String>,
    pub(crate) contact_job_rank: Option<String>,
    pub(crate) contact_decision_role: Option<String>,
    pub(crate) contact_email: Option<String>,
    pub(crate) contact_phone: Option<String>,
    pub(crate) industry: Option<String>,
    pub(crate) employee_count: Option<i64>,
    pub(crate) region_country_code: Option<String>,
    pub(crate) region_subdivision: Option<String>,
    pub(crate) region_city: Option<String>,
    pub(crate) needs: i16,
    pub(crate) key_account: bool,
    pub(crate) churned: bool,
    pub(crate) owner: Option<String>,
    pub(crate) department: Option<String>,
    pub(crate) create_time: DateTimeUtc,
    pub(crate) update_time: DateTimeUtc,
    pub(crate) delete_time: Option<DateTimeUtc>,
    pub(crate) version: i64,
    pub(crate) request_id: Option<String>,
    pub(crate) window_orders: i32,
    pub(crate) window_revenue_micros: i64,
    pub(crate) first_purchase_time: Option<DateTimeUtc>,
    pub(crate) last_purchase_time: Option<DateTimeUtc>,
    pub(crate) rank_tier: Option<String>,
    pub(crate) value_tier: Option<String>,
    pub(crate) lifecycle_stage: Option<String>,
    pub(crate) behaviour: Option<String>,
    pub(crate) size_segment: Option<String>,
    pub(crate) grade: Option<String>,
    pub(crate) score: Option<i16>,
    pub(crate) policy_version: Option<i64>,
    pub(crate) classification: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub(crate) enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
