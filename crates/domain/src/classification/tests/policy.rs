//! Policy validation (every rule, and all violations at once), money and policy versions.

use std::time::Duration;

use crate::classification::{ClassificationPolicy, Grade, Money, PolicyVersionId, plan_for};

fn policy() -> ClassificationPolicy {
    ClassificationPolicy::default()
}

/// The (field, description) pairs of `policy`'s violations.
fn violations(policy: &ClassificationPolicy) -> Vec<(String, String)> {
    policy
        .violations()
        .as_slice()
        .iter()
        .map(|v| (v.field.clone(), v.description.clone()))
        .collect()
}

/// The fields of `policy`'s violations.
fn fields(policy: &ClassificationPolicy) -> Vec<String> {
    violations(policy).into_iter().map(|(field, _)| field).collect()
}

/// Asserts that `change` applied to the default policy gives exactly one violation, on `field`
/// with `description`.
#[track_caller]
fn rejects(change: impl FnOnce(&mut ClassificationPolicy), field: &str, description: &str) {
    let mut p = policy();
    change(&mut p);
    assert_eq!(violations(&p), [(field.to_owned(), description.to_owned())]);
}

/// Asserts that `change` applied to the default policy leaves it valid.
#[track_caller]
fn accepts(change: impl FnOnce(&mut ClassificationPolicy)) {
    let mut p = policy();
    change(&mut p);
    assert_eq!(violations(&p), []);
}

#[test]
fn the_default_policy_is_valid() {
    let v = policy().violations();
    assert!(v.is_empty(), "{v}");
}

#[test]
fn window_days() {
    rejects(
        |p| p.window_days = 0,
        "policy.window_days",
        "must be 1 to 3650 days, got 0",
    );
    rejects(
        |p| p.window_days = 3651,
        "policy.window_days",
        "must be 1 to 3650 days, got 3651",
    );
    accepts(|p| p.window_days = 1);
    accepts(|p| p.window_days = 3650);
}

#[test]
fn value_cuts() {
    rejects(
        |p| p.value_medium_min = Money::ZERO,
        "policy.value_medium_min",
        "must be greater than 0, got 0.00",
    );
    rejects(
        |p| p.value_high_min = p.value_medium_min,
        "policy.value_high_min",
        "must be greater than value_medium_min (10,000.00)",
    );
    accepts(|p| p.value_medium_min = Money::from_micros(1));
    accepts(|p| p.value_high_min = Money::from_micros(p.value_medium_min.micros() + 1));
    let mut p = policy();
    p.value_medium_min = Money::from_units(-5);
    p.value_high_min = Money::from_units(-10);
    assert_eq!(fields(&p), ["policy.value_medium_min", "policy.value_high_min"]);
    accepts(|p| p.value_high_min = Money::MAX_AMOUNT);
    rejects(
        |p| p.value_high_min = Money::from_micros(Money::MAX_AMOUNT.micros() + 1),
        "policy.value_high_min",
        "must be at most 999,999,999,999.999999 in absolute value",
    );
    rejects(
        |p| p.monetary_cuts[3] = Money::MAX_SUM,
        "policy.monetary_cuts[3]",
        "must be at most 999,999,999,999.999999 in absolute value",
    );
}

#[test]
fn lifecycle_days() {
    rejects(|p| p.new_days = 0, "policy.new_days", "must be at least 1");
    rejects(
        |p| p.new_days = 181,
        "policy.dormant_after_days",
        "must be at least new_days (181)",
    );
    accepts(|p| p.new_days = 180);
    let mut p = policy();
    p.new_days = 0;
    p.dormant_after_days = 0;
    assert_eq!(
        fields(&p),
        ["policy.new_days", "policy.dormant_after_days"],
        "{:?}",
        violations(&p)
    );
    rejects(
        |p| p.churn_after_days = 180,
        "policy.churn_after_days",
        "must be greater than dormant_after_days (180)",
    );
    accepts(|p| p.churn_after_days = 181);
    accepts(|p| p.churn_after_days = 3650);
    rejects(
        |p| p.churn_after_days = 3651,
        "policy.churn_after_days",
        "must be at most 3650, got 3651",
    );
}

#[test]
fn behaviour_orders() {
    rejects(
        |p| p.occasional_min_orders = 1,
        "policy.occasional_min_orders",
        "must be at least 2, got 1",
    );
    rejects(
        |p| p.frequent_min_orders = 2,
        "policy.frequent_min_orders",
        "must be greater than occasional_min_orders (2)",
    );
    accepts(|p| p.frequent_min_orders = 3);
    let mut p = policy();
    p.occasional_min_orders = 0;
    p.frequent_min_orders = 0;
    assert_eq!(
        fields(&p),
        ["policy.occasional_min_orders", "policy.frequent_min_orders"]
    );
}

#[test]
fn size_cuts() {
    rejects(|p| p.size_small_min = 0, "policy.size_small_min", "must be at least 1");
    rejects(
        |p| p.size_mid_market_min = 10,
        "policy.size_mid_market_min",
        "must be greater than size_small_min (10)",
    );
    rejects(
        |p| p.size_enterprise_min = 100,
        "policy.size_enterprise_min",
        "must be greater than size_mid_market_min (100)",
    );
    accepts(|p| {
        p.size_small_min = 1;
        p.size_mid_market_min = 2;
        p.size_enterprise_min = 3;
    });
}

#[test]
fn rfm_cuts_ascend_strictly() {
    rejects(
        |p| p.frequency_cuts = [2, 4, 4, 12],
        "policy.frequency_cuts[2]",
        "must be greater than frequency_cuts[1] (4)",
    );
    rejects(
        |p| p.recency_days_cuts = [30, 90, 365, 180],
        "policy.recency_days_cuts[3]",
        "must be greater than recency_days_cuts[2] (365)",
    );
    rejects(
        |p| p.monetary_cuts[1] = Money::from_units(500),
        "policy.monetary_cuts[1]",
        "must be greater than monetary_cuts[0] (1,000.00)",
    );
    let mut p = policy();
    p.frequency_cuts = [12, 8, 4, 2];
    assert_eq!(
        fields(&p),
        [
            "policy.frequency_cuts[1]",
            "policy.frequency_cuts[2]",
            "policy.frequency_cuts[3]"
        ]
    );
}

#[test]
fn rfm_cuts_start_above_zero() {
    rejects(
        |p| p.recency_days_cuts[0] = 0,
        "policy.recency_days_cuts[0]",
        "must be at least 1, got 0",
    );
    rejects(
        |p| p.frequency_cuts[0] = 0,
        "policy.frequency_cuts[0]",
        "must be at least 1, got 0",
    );
    rejects(
        |p| p.monetary_cuts[0] = Money::ZERO,
        "policy.monetary_cuts[0]",
        "must be greater than 0, got 0.00",
    );
    accepts(|p| p.recency_days_cuts[0] = 1);
    accepts(|p| p.frequency_cuts[0] = 1);
    accepts(|p| p.monetary_cuts[0] = Money::from_micros(1));
}

#[test]
fn weights_and_bonuses() {
    rejects(
        |p| {
            p.recency_weight = 0;
            p.frequency_weight = 0;
            p.monetary_weight = 0;
        },
        "policy.recency_weight",
        "recency_weight, frequency_weight and monetary_weight must not all be 0",
    );
    accepts(|p| {
        p.recency_weight = 0;
        p.frequency_weight = 0;
    });
    rejects(
        |p| p.frequency_weight = 1001,
        "policy.frequency_weight",
        "must be at most 1000, got 1001",
    );
    accepts(|p| p.monetary_weight = 1000);
    rejects(
        |p| p.key_account_bonus = 101,
        "policy.key_account_bonus",
        "must be at most 100 points, got 101",
    );
    rejects(
        |p| p.executive_bonus = u32::MAX,
        "policy.executive_bonus",
        &format!("must be at most 100 points, got {}", u32::MAX),
    );
    accepts(|p| {
        p.key_account_bonus = 100;
        p.executive_bonus = 0;
    });
    // Overflow-free even at the limits.
    let mut p = policy();
    p.recency_weight = u32::MAX;
    p.frequency_weight = u32::MAX;
    p.monetary_weight = u32::MAX;
    assert_eq!(
        fields(&p),
        [
            "policy.recency_weight",
            "policy.frequency_weight",
            "policy.monetary_weight"
        ]
    );
}

#[test]
fn grade_cuts() {
    rejects(
        |p| p.grade_key_min_score = 0,
        "policy.grade_key_min_score",
        "must be 1 to 100, got 0",
    );
    rejects(
        |p| p.grade_vip_min_score = 101,
        "policy.grade_vip_min_score",
        "must be at most 100, got 101",
    );
    rejects(
        |p| p.grade_vip_min_score = 60,
        "policy.grade_vip_min_score",
        "must be greater than grade_key_min_score (60)",
    );
    accepts(|p| {
        p.grade_key_min_score = 1;
        p.grade_vip_min_score = 100;
    });
    let mut p = policy();
    p.grade_key_min_score = 200;
    p.grade_vip_min_score = 300;
    assert_eq!(fields(&p), ["policy.grade_key_min_score", "policy.grade_vip_min_score"]);
}

#[test]
fn keywords() {
    rejects(
        |p| p.executive_keywords[3] = "  ".to_owned(),
        "policy.executive_keywords[3]",
        "must be 1 to 50 characters after trimming, got 0",
    );
    rejects(
        |p| p.middle_keywords.push("经".repeat(51)),
        "policy.middle_keywords[7]",
        "must be 1 to 50 characters after trimming, got 51",
    );
    accepts(|p| p.middle_keywords.push(format!("  {}  ", "经".repeat(50))));
    accepts(|p| p.executive_keywords.clear());
    accepts(|p| p.middle_keywords = (0..100).map(|i| format!("k{i}")).collect());
    rejects(
        |p| p.middle_keywords = (0..101).map(|i| format!("k{i}")).collect(),
        "policy.middle_keywords",
        "must hold at most 100 keywords, got 101",
    );
    rejects(
        |p| p.executive_keywords[0] = "CEO\u{0}".to_owned(),
        "policy.executive_keywords[0]",
        "must not contain control characters such as line breaks, tabs or NUL (found U+0000 at character 4)",
    );
    rejects(
        |p| p.middle_keywords[1] = "Head\nof".to_owned(),
        "policy.middle_keywords[1]",
        "must not contain control characters such as line breaks, tabs or NUL (found U+000A at character 5)",
    );
}

#[test]
fn service_plans() {
    rejects(
        |p| p.vip_plan.name = " ".to_owned(),
        "policy.vip_plan.name",
        "must be 1 to 100 characters after trimming, got 0",
    );
    rejects(
        |p| p.standard_plan.name = "x".repeat(101),
        "policy.standard_plan.name",
        "must be 1 to 100 characters after trimming, got 101",
    );
    accepts(|p| p.standard_plan.name = "x".repeat(100));
    rejects(
        |p| p.vip_plan.name = "Senior\u{7}advisor".to_owned(),
        "policy.vip_plan.name",
        "must not contain control characters such as line breaks, tabs or NUL (found U+0007 at character 7)",
    );
    rejects(
        |p| p.key_plan.response_time = Duration::ZERO,
        "policy.key_plan.response_time",
        "must be positive",
    );
    rejects(
        |p| p.potential_plan.review_interval = Duration::ZERO,
        "policy.potential_plan.review_interval",
        "must be positive",
    );
    accepts(|p| p.potential_plan.review_interval = Duration::from_nanos(1));
}

#[test]
fn every_violation_is_reported_at_once() {
    let mut p = policy();
    p.window_days = 0;
    p.frequency_cuts = [2, 4, 4, 12];
    p.recency_weight = 0;
    p.frequency_weight = 0;
    p.monetary_weight = 0;
    p.executive_keywords[3] = String::new();
    p.vip_plan.name = String::new();
    p.vip_plan.response_time = Duration::ZERO;
    assert_eq!(
        fields(&p),
        [
            "policy.window_days",
            "policy.frequency_cuts[2]",
            "policy.recency_weight",
            "policy.executive_keywords[3]",
            "policy.vip_plan.name",
            "policy.vip_plan.response_time",
        ]
    );
    let everything_zero = ClassificationPolicy {
        window_days: 0,
        value_medium_min: Money::ZERO,
        value_high_min: Money::ZERO,
        new_days: 0,
        dormant_after_days: 0,
        churn_after_days: 0,
        occasional_min_orders: 0,
        frequent_min_orders: 0,
        size_small_min: 0,
        size_mid_market_min: 0,
        size_enterprise_min: 0,
        recency_days_cuts: [0; 4],
        frequency_cuts: [0; 4],
        monetary_cuts: [Money::ZERO; 4],
        recency_weight: 0,
        frequency_weight: 0,
        monetary_weight: 0,
        key_account_bonus: 0,
        executive_bonus: 0,
        grade_key_min_score: 0,
        grade_vip_min_score: 0,
        executive_keywords: vec![String::new()],
        middle_keywords: vec![],
        vip_plan: crate::classification::ServicePlan {
            name: String::new(),
            dedicated_advisor: false,
            response_time: Duration::ZERO,
            review_interval: Duration::ZERO,
        },
        ..policy()
    };
    let fields = fields(&everything_zero);
    for expected in [
        "policy.window_days",
        "policy.value_medium_min",
        "policy.value_high_min",
        "policy.new_days",
        "policy.dormant_after_days",
        "policy.churn_after_days",
        "policy.occasional_min_orders",
        "policy.frequent_min_orders",
        "policy.size_small_min",
        "policy.size_mid_market_min",
        "policy.size_enterprise_min",
        "policy.recency_days_cuts[0]",
        "policy.recency_days_cuts[3]",
        "policy.frequency_cuts[0]",
        "policy.monetary_cuts[3]",
        "policy.recency_weight",
        "policy.grade_key_min_score",
        "policy.grade_vip_min_score",
        "policy.executive_keywords[0]",
        "policy.vip_plan.name",
        "policy.vip_plan.response_time",
        "policy.vip_plan.review_interval",
    ] {
        assert!(
            fields.iter().any(|f| f == expected),
            "{expected} missing from {fields:?}"
        );
    }
    // Each non-ascending pair of the three cut lists counts as well.
    assert_eq!(fields.len(), 30, "{fields:?}");
}

#[test]
fn violations_display_as_one_line() {
    let mut p = policy();
    p.window_days = 0;
    p.key_plan.name = String::new();
    assert_eq!(
        p.violations().to_string(),
        "policy.window_days: must be 1 to 3650 days, got 0; policy.key_plan.name: must be 1 to 100 characters after trimming, got 0"
    );
}

#[test]
fn money_displays_with_separators_and_two_decimals() {
    let cases = [
        (0, "0.00"),
        (1, "0.00"),
        (4_999, "0.00"),
        (5_000, "0.01"),
        (-5_000, "-0.01"),
        (-4_999, "0.00"),
        (10_000, "0.01"),
        (999_000_000, "999.00"),
        (1_000_000_000, "1,000.00"),
        (-5_500_000, "-5.50"),
        (120_000_000_000, "120,000.00"),
        (1_234_567_891_000, "1,234,567.89"),
        (999_999_995_000, "1,000,000.00"),
        (100_000_000_000_000, "100,000,000.00"),
        (i64::MAX, "9,223,372,036,854.78"),
        (i64::MIN, "-9,223,372,036,854.78"),
    ];
    for (micros, text) in cases {
        assert_eq!(Money::from_micros(micros).to_string(), text, "{micros}");
    }
}

#[test]
fn money_arithmetic() {
    assert_eq!(Money::from_units(3).micros(), 3_000_000);
    assert_eq!(Money::from_units(i64::MAX), Money::from_micros(i64::MAX));
    assert_eq!(Money::from_units(i64::MIN), Money::from_micros(i64::MIN));
    assert_eq!(
        Money::from_micros(i64::MAX).saturating_add(Money::from_micros(1)),
        Money::from_micros(i64::MAX)
    );
    assert_eq!(
        Money::from_units(5).saturating_add(Money::from_units(-7)),
        Money::from_units(-2)
    );
    assert!(Money::from_micros(1).is_positive());
    assert!(!Money::ZERO.is_positive());
    assert!(!Money::from_micros(-1).is_positive());
    assert!(Money::from_units(-1) < Money::ZERO);
}

#[test]
fn policy_versions_and_plans() {
    assert_eq!(PolicyVersionId::new(3).resource_name(), "policies/3");
    assert_eq!(PolicyVersionId::new(3).to_string(), "3");
    let p = policy();
    assert_eq!(plan_for(&p, Grade::Vip).name, "Dedicated senior advisor");
    assert_eq!(plan_for(&p, Grade::Key).name, "Named account manager");
    assert_eq!(plan_for(&p, Grade::Standard).name, "Pooled account team");
    assert_eq!(plan_for(&p, Grade::Potential).name, "Automated nurture");
    assert_eq!(plan_for(&p, Grade::Vip).response_time, Duration::from_secs(4 * 3600));
    assert!(plan_for(&p, Grade::Key).dedicated_advisor);
    assert!(!plan_for(&p, Grade::Standard).dedicated_advisor);
}
