//! Tests of the classification module: the engine rule by rule and at every cut point, policy
//! validation, money, activity aggregates, the stored record, and properties.

mod activity;
mod engine;
mod policy;
mod properties;
mod record;

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::{ActivitySummary, Assessment, ClassValue, ClassificationInput, Dimension, Money};

/// The fixed "now" of the tests.
fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 6, 1, 12, 0, 0).single().unwrap_or_default()
}

/// `days` whole days before [`now`].
fn ago(days: i64) -> DateTime<Utc> {
    now() - Duration::days(days)
}

/// An input with nothing known: no rank, no title, no head count, never bought.
fn blank() -> ClassificationInput<'static> {
    ClassificationInput {
        job_rank: None,
        job_title: None,
        employee_count: None,
        key_account: false,
        churned: false,
        activity: ActivitySummary::default(),
    }
}

/// Activity with the first and last purchase `first` and `last` days ago, `orders` window orders
/// and `revenue` whole units of window revenue.
fn bought(first: i64, last: i64, orders: u32, revenue: i64) -> ActivitySummary {
    ActivitySummary {
        window_orders: orders,
        window_revenue: Money::from_units(revenue),
        first_purchase: Some(ago(first)),
        last_purchase: Some(ago(last)),
    }
}

/// An input with `activity` and nothing else.
fn with_activity(activity: ActivitySummary) -> ClassificationInput<'static> {
    ClassificationInput { activity, ..blank() }
}

/// The value of `dimension` in `assessment`.
fn value(assessment: &Assessment, dimension: Dimension) -> ClassValue {
    assessment.classes[dimension.index()].value
}

/// The reasons of `dimension` in `assessment`.
fn reasons(assessment: &Assessment, dimension: Dimension) -> &[String] {
    &assessment.classes[dimension.index()].reasons
}
