//! Properties of the engine over arbitrary policies (validated or not), inputs and times:
//! it is total, and more revenue, more orders or a later `now` never move a class backwards.

use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;

use super::now;
use crate::classification::{
    ActivitySummary, Behaviour, ClassValue, Classification, ClassificationInput, ClassificationPolicy, Dimension,
    Grade, HistorySource, LifecycleStage, Money, PolicyVersionId, ValueTier, classify, engine::title_contains,
};
use crate::customer::values::JobRank;

fn any_count() -> BoxedStrategy<u32> {
    prop_oneof![Just(0), Just(1), Just(u32::MAX), 0u32..20, 0u32..2000, any::<u32>()].boxed()
}

fn any_money() -> BoxedStrategy<Money> {
    prop_oneof![
        Just(Money::ZERO),
        any::<i64>().prop_map(Money::from_micros),
        (-1_000i64..200_000).prop_map(Money::from_units),
        (-10_000_000i64..10_000_000).prop_map(Money::from_micros),
    ]
    .boxed()
}

fn any_time() -> BoxedStrategy<DateTime<Utc>> {
    let (min, max) = (
        DateTime::<Utc>::MIN_UTC.timestamp(),
        DateTime::<Utc>::MAX_UTC.timestamp(),
    );
    prop_oneof![
        Just(DateTime::<Utc>::MIN_UTC),
        Just(DateTime::<Utc>::MAX_UTC),
        (min..=max, 0u32..1_000_000_000).prop_map(|(s, n)| DateTime::from_timestamp(s, n).unwrap_or_default()),
        (-2_000i64 * 86_400..2_000 * 86_400).prop_map(|s| now() + Duration::seconds(s)),
    ]
    .boxed()
}

fn any_keywords() -> BoxedStrategy<Vec<String>> {
    prop_oneof![
        Just(ClassificationPolicy::default().executive_keywords),
        Just(ClassificationPolicy::default().middle_keywords),
        prop::collection::vec(
            prop_oneof![Just(String::new()), Just(" ".to_owned()), "\\PC{0,4}", any::<String>()],
            0..5
        ),
    ]
    .boxed()
}

fn any_policy() -> BoxedStrategy<ClassificationPolicy> {
    let days = (any_count(), any_count(), any_count(), any_count()).boxed();
    let cuts = (
        prop::array::uniform4(any_count()),
        prop::array::uniform4(any_count()),
        prop::array::uniform4(any_money()),
    )
        .boxed();
    let counts = (any_count(), any_count(), any_count(), any_count(), any_count()).boxed();
    let scoring = (
        any_count(),
        any_count(),
        any_count(),
        any_count(),
        any_count(),
        any_count(),
        any_count(),
    )
        .boxed();
    let values = (any_money(), any_money(), any_keywords(), any_keywords()).boxed();
    (days, cuts, counts, scoring, values)
        .prop_map(
            |(
                (window_days, new_days, dormant_after_days, churn_after_days),
                (recency_days_cuts, frequency_cuts, monetary_cuts),
                (occasional_min_orders, frequent_min_orders, size_small_min, size_mid_market_min, size_enterprise_min),
                (
                    recency_weight,
                    frequency_weight,
                    monetary_weight,
                    key_account_bonus,
                    executive_bonus,
                    grade_key_min_score,
                    grade_vip_min_score,
                ),
                (value_medium_min, value_high_min, executive_keywords, middle_keywords),
            )| ClassificationPolicy {
                window_days,
                value_medium_min,
                value_high_min,
                new_days,
                dormant_after_days,
                churn_after_days,
                occasional_min_orders,
                frequent_min_orders,
                size_small_min,
                size_mid_market_min,
                size_enterprise_min,
                recency_days_cuts,
                frequency_cuts,
                monetary_cuts,
                recency_weight,
                frequency_weight,
                monetary_weight,
                key_account_bonus,
                executive_bonus,
                grade_key_min_score,
                grade_vip_min_score,
                executive_keywords,
                middle_keywords,
                ..ClassificationPolicy::default()
            },
        )
        .boxed()
}

fn any_activity() -> BoxedStrategy<ActivitySummary> {
    (
        any_count(),
        any_money(),
        prop::option::of(any_time()),
        prop::option::of(any_time()),
    )
        .prop_map(
            |(window_orders, window_revenue, first_purchase, last_purchase)| ActivitySummary {
                window_orders,
                window_revenue,
                first_purchase,
                last_purchase,
            },
        )
        .boxed()
}

/// The facts of an input, with an owned title to borrow from.
#[derive(Clone, Debug)]
struct Facts {
    job_rank: Option<JobRank>,
    job_title: Option<String>,
    employee_count: Option<u32>,
    key_account: bool,
    churned: bool,
    activity: ActivitySummary,
}

impl Facts {
    fn input(&self) -> ClassificationInput<'_> {
        ClassificationInput {
            job_rank: self.job_rank,
            job_title: self.job_title.as_deref(),
            employee_count: self.employee_count,
            key_account: self.key_account,
            churned: self.churned,
            activity: self.activity,
        }
    }
}

fn any_title() -> BoxedStrategy<String> {
    prop_oneof![
        Just("Sales Director".to_owned()),
        Just("总经理".to_owned()),
        Just("İCEO".to_owned()),
        "\\PC{0,20}",
        any::<String>(),
    ]
    .boxed()
}

fn any_facts() -> BoxedStrategy<Facts> {
    (
        prop::option::of(prop::sample::select(JobRank::ALL.to_vec())),
        prop::option::of(any_title()),
        prop::option::of(any_count()),
        any::<bool>(),
        any::<bool>(),
        any_activity(),
    )
        .prop_map(
            |(job_rank, job_title, employee_count, key_account, churned, activity)| Facts {
                job_rank,
                job_title,
                employee_count,
                key_account,
                churned,
                activity,
            },
        )
        .boxed()
}

/// Higher is better: HIGH 3 … NONE 0.
fn value_rank(value: ClassValue) -> i16 {
    match value {
        ClassValue::ValueTier(tier) => ValueTier::None.code() - tier.code(),
        _ => i16::MIN,
    }
}

/// Higher is more frequent: FREQUENT 3 … NONE 0.
fn behaviour_rank(value: ClassValue) -> i16 {
    match value {
        ClassValue::Behaviour(b) => Behaviour::None.code() - b.code(),
        _ => i16::MIN,
    }
}

/// POTENTIAL 1 < NEW 2 < ACTIVE 3 < DORMANT 4 < CHURNED 5: the storage codes.
fn lifecycle_rank(value: ClassValue) -> i16 {
    match value {
        ClassValue::LifecycleStage(stage) => stage.code(),
        _ => i16::MIN,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn classify_is_total(policy in any_policy(), facts in any_facts(), at in any_time()) {
        let input = facts.input();
        let a = classify(&input, &policy, at);
        prop_assert!(a.score <= 100);
        for dimension in Dimension::ALL {
            prop_assert_eq!(a.classes[dimension.index()].value.dimension(), dimension);
            prop_assert!(!a.classes[dimension.index()].reasons.is_empty());
        }
        let rfm = [a.rfm.recency, a.rfm.frequency, a.rfm.monetary];
        if facts.activity.last_purchase.is_some() {
            prop_assert!(rfm.iter().all(|s| (1..=5).contains(s)), "{:?}", a.rfm);
        } else {
            prop_assert_eq!(rfm, [0, 0, 0]);
        }
        if facts.key_account {
            prop_assert!(matches!(a.classes[Dimension::Grade.index()].value, ClassValue::Grade(Grade::Vip | Grade::Key)));
        }
        if facts.churned {
            prop_assert_eq!(
                a.classes[Dimension::LifecycleStage.index()].value,
                ClassValue::LifecycleStage(LifecycleStage::Churned)
            );
        }
        // The stored record can always be built from it, and validation never panics either.
        let (c, changes) =
            Classification::reconcile(None, a, &policy, PolicyVersionId::new(1), HistorySource::Rule, at);
        prop_assert_eq!(changes.len(), Dimension::COUNT);
        prop_assert_eq!(c.classify_time, at);
        let _ = policy.violations();
    }

    #[test]
    fn title_matching_is_total(title in any::<String>(), keyword in any::<String>()) {
        let _ = title_contains(&title, &keyword);
        if !keyword.trim().is_empty() {
            // A keyword always matches itself.
            prop_assert!(title_contains(&keyword, &keyword));
        }
    }

    #[test]
    fn more_revenue_never_lowers_value_monetary_or_score(
        policy in any_policy(),
        facts in any_facts(),
        at in any_time(),
        revenues in (any_money(), any_money()),
    ) {
        let (low, high) = if revenues.0 <= revenues.1 { revenues } else { (revenues.1, revenues.0) };
        let mut less = facts.clone();
        less.activity.window_revenue = low;
        let mut more = facts;
        more.activity.window_revenue = high;
        let a = classify(&less.input(), &policy, at);
        let b = classify(&more.input(), &policy, at);
        prop_assert!(
            value_rank(b.classes[Dimension::ValueTier.index()].value)
                >= value_rank(a.classes[Dimension::ValueTier.index()].value)
        );
        prop_assert!(b.rfm.monetary >= a.rfm.monetary);
        prop_assert!(b.score >= a.score);
    }

    #[test]
    fn more_orders_never_lower_behaviour_or_frequency(
        policy in any_policy(),
        facts in any_facts(),
        at in any_time(),
        orders in (any_count(), any_count()),
    ) {
        let (few, many) = (orders.0.min(orders.1), orders.0.max(orders.1));
        let mut less = facts.clone();
        less.activity.window_orders = few;
        let mut more = facts;
        more.activity.window_orders = many;
        let a = classify(&less.input(), &policy, at);
        let b = classify(&more.input(), &policy, at);
        prop_assert!(
            behaviour_rank(b.classes[Dimension::Behaviour.index()].value)
                >= behaviour_rank(a.classes[Dimension::Behaviour.index()].value)
        );
        prop_assert!(b.rfm.frequency >= a.rfm.frequency);
        prop_assert!(b.score >= a.score);
    }

    #[test]
    fn a_later_now_never_moves_the_lifecycle_back(
        policy in any_policy(),
        facts in any_facts(),
        times in (any_time(), any_time()),
    ) {
        let (earlier, later) = if times.0 <= times.1 { times } else { (times.1, times.0) };
        let input = facts.input();
        let a = classify(&input, &policy, earlier);
        let b = classify(&input, &policy, later);
        prop_assert!(
            lifecycle_rank(b.classes[Dimension::LifecycleStage.index()].value)
                >= lifecycle_rank(a.classes[Dimension::LifecycleStage.index()].value),
            "{:?} at {} then {:?} at {}",
            a.classes[Dimension::LifecycleStage.index()].value,
            earlier,
            b.classes[Dimension::LifecycleStage.index()].value,
            later
        );
        // Recency only decays.
        prop_assert!(b.rfm.recency <= a.rfm.recency);
    }

    #[test]
    fn classify_is_deterministic(policy in any_policy(), facts in any_facts(), at in any_time()) {
        let input = facts.input();
        prop_assert_eq!(classify(&input, &policy, at), classify(&input, &policy, at));
    }
}
