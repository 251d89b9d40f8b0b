//! The JSON documents stored in `customers.classification` and
//! `classification_policies.policy`: serde mirrors of the domain types, so that the domain stays
//! free of serialization concerns and the stored format is visible in one place.
//!
//! Values are spelled by name (`VIP`, `RULE`), times in RFC 3339, durations in seconds and money
//! in micros. A document that no longer parses surfaces as `CustomerError::Unexpected`.

use std::{borrow::Cow, time::Duration};

use chrono::{DateTime, Utc};
use crm_domain::{
    classification::{
        ClassOverride, ClassSource, ClassValue, Classification, ClassificationPolicy, Dimension, DimensionClass, Money,
        PolicyVersionId, Rfm, ServicePlan,
    },
    customer::values::PrincipalName,
    error::CustomerError,
};
use serde::{Deserialize, Serialize};

fn corrupt(what: &str, reason: impl std::fmt::Display) -> CustomerError {
    CustomerError::unexpected(format!("stored {what} does not parse: {reason}"))
}

/// An RFC 3339 time, as chrono writes it, read by chrono's dedicated RFC 3339 parser: chrono's
/// own `Deserialize` goes through its general format parser, a large part of the cost of
/// reading a classification (seven times per customer, on every row a Get or List returns).
fn rfc3339<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
    let text = Cow::<'de, str>::deserialize(deserializer)?;
    DateTime::parse_from_rfc3339(&text)
        .map(|time| time.with_timezone(&Utc))
        .map_err(serde::de::Error::custom)
}

// Names are borrowed from the document (`Cow`: owned only if they hold an escape), so reading a
// classification allocates only what it keeps (reasons, the plan's name).

#[derive(Serialize, Deserialize)]
struct StoredOverride<'a> {
    #[serde(borrow)]
    value: Cow<'a, str>,
    reason: String,
    #[serde(borrow)]
    actor: Cow<'a, str>,
    #[serde(deserialize_with = "rfc3339")]
    create_time: DateTime<Utc>,
    expire_time: Option<DateTime<Utc>>,
}

#[derive(Serialize, Deserialize)]
struct StoredDimension<'a> {
    #[serde(borrow)]
    value: Cow<'a, str>,
    #[serde(borrow)]
    source: Cow<'a, str>,
    reasons: Vec<String>,
    #[serde(borrow)]
    rule_value: Cow<'a, str>,
    #[serde(rename = "override", borrow)]
    override_: Option<StoredOverride<'a>>,
    #[serde(deserialize_with = "rfc3339")]
    since: DateTime<Utc>,
}

#[derive(Serialize, Deserialize)]
struct StoredPlan {
    name: String,
    dedicated_advisor: bool,
    response_secs: u64,
    review_secs: u64,
}

#[derive(Serialize, Deserialize)]
struct StoredClassification<'a> {
    #[serde(borrow)]
    dimensions: Vec<StoredDimension<'a>>,
    rfm: [u8; 3],
    score: u8,
    plan: StoredPlan,
    policy_version: i64,
    #[serde(deserialize_with = "rfc3339")]
    classify_time: DateTime<Utc>,
}

fn plan_out(plan: &ServicePlan) -> StoredPlan {
    StoredPlan {
        name: plan.name.clone(),
        dedicated_advisor: plan.dedicated_advisor,
        response_secs: plan.response_time.as_secs(),
        review_secs: plan.review_interval.as_secs(),
    }
}

fn plan_in(plan: StoredPlan) -> ServicePlan {
    ServicePlan {
        name: plan.name,
        dedicated_advisor: plan.dedicated_advisor,
        response_time: Duration::from_secs(plan.response_secs),
        review_interval: Duration::from_secs(plan.review_secs),
    }
}

/// The document of a classification.
pub(crate) fn classification_to_json(c: &Classification) -> String {
    let stored = StoredClassification {
        dimensions: c
            .dimensions
            .iter()
            .map(|d| StoredDimension {
                value: Cow::Borrowed(d.value.name()),
                source: Cow::Borrowed(d.source.name()),
                reasons: d.reasons.clone(),
                rule_value: Cow::Borrowed(d.rule_value.name()),
                override_: d.override_.as_ref().map(|o| StoredOverride {
                    value: Cow::Borrowed(o.value.name()),
                    reason: o.reason.clone(),
                    actor: Cow::Borrowed(o.actor.as_str()),
                    create_time: o.create_time,
                    expire_time: o.expire_time,
                }),
                since: d.since,
            })
            .collect(),
        rfm: [c.rfm.recency, c.rfm.frequency, c.rfm.monetary],
        score: c.score,
        plan: plan_out(&c.service_plan),
        policy_version: c.policy_version.get(),
        classify_time: c.classify_time,
    };
    // Serializing plain structs of strings and numbers cannot fail.
    serde_json::to_string(&stored).unwrap_or_default()
}

/// The value of `dimension` named `name` in a stored document.
pub(crate) fn class_value(dimension: Dimension, name: &str) -> Result<ClassValue, CustomerError> {
    ClassValue::from_name(dimension, name).ok_or_else(|| {
        corrupt(
            "classification",
            format!("{name:?} is not a {} value", dimension.field()),
        )
    })
}

/// The classification a document describes.
pub(crate) fn classification_from_json(json: &str) -> Result<Classification, CustomerError> {
    let stored: StoredClassification = serde_json::from_str(json).map_err(|e| corrupt("classification", e))?;
    if stored.dimensions.len() != Dimension::ALL.len() {
        return Err(corrupt("classification", "not one entry per dimension"));
    }
    let mut dimensions = Vec::with_capacity(Dimension::COUNT);
    for (dimension, d) in Dimension::ALL.into_iter().zip(stored.dimensions) {
        let override_ = match d.override_ {
            None => None,
            Some(o) => Some(ClassOverride {
                value: class_value(dimension, &o.value)?,
                reason: o.reason,
                actor: PrincipalName::parse(&o.actor).map_err(|e| corrupt("classification", e))?,
                create_time: o.create_time,
                expire_time: o.expire_time,
            }),
        };
        dimensions.push(DimensionClass {
            value: class_value(dimension, &d.value)?,
            source: ClassSource::from_name(&d.source)
                .ok_or_else(|| corrupt("classification", format!("unknown source {:?}", d.source)))?,
            reasons: d.reasons,
            rule_value: class_value(dimension, &d.rule_value)?,
            override_,
            since: d.since,
        });
    }
    let dimensions: [DimensionClass; Dimension::COUNT] = dimensions
        .try_into()
        .map_err(|_| corrupt("classification", "not one entry per dimension"))?;
    Ok(Classification {
        dimensions,
        rfm: Rfm {
            recency: stored.rfm[0],
            frequency: stored.rfm[1],
            monetary: stored.rfm[2],
        },
        score: stored.score,
        service_plan: plan_in(stored.plan),
        policy_version: PolicyVersionId::new(stored.policy_version),
        classify_time: stored.classify_time,
    })
}

#[derive(Serialize, Deserialize)]
struct StoredPolicy {
    window_days: u32,
    value_medium_min_micros: i64,
    value_high_min_micros: i64,
    new_days: u32,
    dormant_after_days: u32,
    churn_after_days: u32,
    occasional_min_orders: u32,
    frequent_min_orders: u32,
    size_small_min: u32,
    size_mid_market_min: u32,
    size_enterprise_min: u32,
    recency_days_cuts: [u32; 4],
    frequency_cuts: [u32; 4],
    monetary_cuts_micros: [i64; 4],
    recency_weight: u32,
    frequency_weight: u32,
    monetary_weight: u32,
    key_account_bonus: u32,
    executive_bonus: u32,
    grade_key_min_score: u32,
    grade_vip_min_score: u32,
    executive_keywords: Vec<String>,
    middle_keywords: Vec<String>,
    vip_plan: StoredPlan,
    key_plan: StoredPlan,
    standard_plan: StoredPlan,
    potential_plan: StoredPlan,
}

/// The document of a policy.
pub(crate) fn policy_to_json(p: &ClassificationPolicy) -> String {
    let stored = StoredPolicy {
        window_days: p.window_days,
        value_medium_min_micros: p.value_medium_min.micros(),
        value_high_min_micros: p.value_high_min.micros(),
        new_days: p.new_days,
        dormant_after_days: p.dormant_after_days,
        churn_after_days: p.churn_after_days,
        occasional_min_orders: p.occasional_min_orders,
        frequent_min_orders: p.frequent_min_orders,
        size_small_min: p.size_small_min,
        size_mid_market_min: p.size_mid_market_min,
        size_enterprise_min: p.size_enterprise_min,
        recency_days_cuts: p.recency_days_cuts,
        frequency_cuts: p.frequency_cuts,
        monetary_cuts_micros: p.monetary_cuts.map(Money::micros),
        recency_weight: p.recency_weight,
        frequency_weight: p.frequency_weight,
        monetary_weight: p.monetary_weight,
        key_account_bonus: p.key_account_bonus,
        executive_bonus: p.executive_bonus,
        grade_key_min_score: p.grade_key_min_score,
        grade_vip_min_score: p.grade_vip_min_score,
        executive_keywords: p.executive_keywords.clone(),
        middle_keywords: p.middle_keywords.clone(),
        vip_plan: plan_out(&p.vip_plan),
        key_plan: plan_out(&p.key_plan),
        standard_plan: plan_out(&p.standard_plan),
        potential_plan: plan_out(&p.potential_plan),
    };
    serde_json::to_string(&stored).unwrap_or_default()
}

/// The policy a document describes.
pub(crate) fn policy_from_json(json: &str) -> Result<ClassificationPolicy, CustomerError> {
    let s: StoredPolicy = serde_json::from_str(json).map_err(|e| corrupt("policy", e))?;
    Ok(ClassificationPolicy {
        window_days: s.window_days,
        value_medium_min: Money::from_micros(s.value_medium_min_micros),
        value_high_min: Money::from_micros(s.value_high_min_micros),
        new_days: s.new_days,
        dormant_after_days: s.dormant_after_days,
        churn_after_days: s.churn_after_days,
        occasional_min_orders: s.occasional_min_orders,
        frequent_min_orders: s.frequent_min_orders,
        size_small_min: s.size_small_min,
        size_mid_market_min: s.size_mid_market_min,
        size_enterprise_min: s.size_enterprise_min,
        recency_days_cuts: s.recency_days_cuts,
        frequency_cuts: s.frequency_cuts,
        monetary_cuts: s.monetary_cuts_micros.map(Money::from_micros),
        recency_weight: s.recency_weight,
        frequency_weight: s.frequency_weight,
        monetary_weight: s.monetary_weight,
        key_account_bonus: s.key_account_bonus,
        executive_bonus: s.executive_bonus,
        grade_key_min_score: s.grade_key_min_score,
        grade_vip_min_score: s.grade_vip_min_score,
        executive_keywords: s.executive_keywords,
        middle_keywords: s.middle_keywords,
        vip_plan: plan_in(s.vip_plan),
        key_plan: plan_in(s.key_plan),
        standard_plan: plan_in(s.standard_plan),
        potential_plan: plan_in(s.potential_plan),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A document as crmd writes it: six dimensions (one overridden, with an expiry), reasons
    /// with escaped quotes, times with and without a fraction.
    fn document() -> String {
        let dimension = |value: &str, since: &str, override_: &str| {
            format!(
                r#"{{"value":"{value}","source":"RULE","reasons":["job title \"Head of IT\" contains \"Head\""],"rule_value":"{value}","override":{override_},"since":"{since}"}}"#
            )
        };
        let overridden = r#"{"value":"VIP","reason":"board \"decision\"","actor":"principals/li-na","create_time":"2026-12-07T04:21:10Z","expire_time":"2027-01-07T04:21:10.500Z"}"#;
        let dimensions = [
            dimension("MIDDLE", "2026-12-07T04:21:10.673864Z", "null"),
            dimension("NONE", "2026-12-07T04:21:10Z", "null"),
            dimension("POTENTIAL", "2026-01-01T00:00:00.000000001Z", "null"),
            dimension("NONE", "2026-12-07T04:21:10.673864Z", "null"),
            dimension("MICRO", "2026-12-07T04:21:10.673864Z", "null"),
            format!(
                r#"{{"value":"VIP","source":"OVERRIDE","reasons":[],"rule_value":"POTENTIAL","override":{overridden},"since":"2026-12-07T04:21:10.673864Z"}}"#
            ),
        ];
        format!(
            r#"{{"dimensions":[{}],"rfm":[1,2,3],"score":42,"plan":{{"name":"Automated nurture","dedicated_advisor":false,"response_secs":259200,"review_secs":31536000}},"policy_version":1,"classify_time":"2026-12-07T04:21:10.673864Z"}}"#,
            dimensions.join(",")
        )
    }

    #[test]
    fn a_document_reads_back_to_the_same_document() {
        let document = document();
        let classification = classification_from_json(&document).unwrap();
        assert_eq!(classification.dimensions[5].source, ClassSource::Override);
        let overridden = classification.dimensions[5].override_.as_ref().unwrap();
        assert_eq!(overridden.reason, r#"board "decision""#);
        assert_eq!(
            overridden.expire_time,
            Some(
                DateTime::parse_from_rfc3339("2027-01-07T04:21:10.500Z")
                    .unwrap()
                    .to_utc()
            )
        );
        assert_eq!(
            classification.dimensions[2].since.timestamp_subsec_nanos(),
            1,
            "nanoseconds survive"
        );
        assert_eq!(classification_to_json(&classification), document);
    }

    #[test]
    fn a_time_that_is_not_rfc_3339_is_a_corrupt_document() {
        let document = document().replacen("2026-12-07T04:21:10.673864Z", "07/12/2026 04:21", 1);
        let error = classification_from_json(&document).unwrap_err();
        assert!(
            error.to_string().contains("stored classification does not parse"),
            "{error}"
        );
    }
}
