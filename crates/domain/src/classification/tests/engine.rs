//! The engine, rule by rule, with a boundary test at every cut point of the default policy.

use chrono::Duration;

use super::{ago, blank, bought, now, reasons, value, with_activity};
use crate::classification::{
    ActivitySummary, Behaviour, ClassValue, ClassificationInput, ClassificationPolicy, Dimension, Grade,
    LifecycleStage, Money, RankTier, Rfm, SizeSegment, ValueTier, classify, engine::title_contains,
};
use crate::customer::values::JobRank;

fn policy() -> ClassificationPolicy {
    ClassificationPolicy::default()
}

fn rank(input: &ClassificationInput<'_>, policy: &ClassificationPolicy) -> (RankTier, Vec<String>) {
    let a = classify(input, policy, now());
    match value(&a, Dimension::RankTier) {
        ClassValue::RankTier(tier) => (tier, reasons(&a, Dimension::RankTier).to_vec()),
        other => panic!("rank tier slot holds {other}"),
    }
}

fn rank_of_title(title: &str) -> RankTier {
    rank(
        &ClassificationInput {
            job_title: Some(title),
            ..blank()
        },
        &policy(),
    )
    .0
}

fn value_tier(revenue: Money, policy: &ClassificationPolicy) -> (ValueTier, Vec<String>) {
    let activity = ActivitySummary {
        window_revenue: revenue,
        ..bought(10, 10, 1, 0)
    };
    let a = classify(&with_activity(activity), policy, now());
    match value(&a, Dimension::ValueTier) {
        ClassValue::ValueTier(tier) => (tier, reasons(&a, Dimension::ValueTier).to_vec()),
        other => panic!("value tier slot holds {other}"),
    }
}

fn lifecycle(input: &ClassificationInput<'_>, policy: &ClassificationPolicy) -> (LifecycleStage, Vec<String>) {
    let a = classify(input, policy, now());
    match value(&a, Dimension::LifecycleStage) {
        ClassValue::LifecycleStage(stage) => (stage, reasons(&a, Dimension::LifecycleStage).to_vec()),
        other => panic!("lifecycle slot holds {other}"),
    }
}

fn stage(first: i64, last: i64) -> LifecycleStage {
    lifecycle(&with_activity(bought(first, last, 1, 100)), &policy()).0
}

fn behaviour_with(orders: u32, policy: &ClassificationPolicy) -> (Behaviour, Vec<String>) {
    let a = classify(&with_activity(bought(10, 10, orders, 100)), policy, now());
    match value(&a, Dimension::Behaviour) {
        ClassValue::Behaviour(b) => (b, reasons(&a, Dimension::Behaviour).to_vec()),
        other => panic!("behaviour slot holds {other}"),
    }
}

fn behaviour(orders: u32) -> Behaviour {
    behaviour_with(orders, &policy()).0
}

fn size(employees: Option<u32>) -> (SizeSegment, Vec<String>) {
    let input = ClassificationInput {
        employee_count: employees,
        ..blank()
    };
    let a = classify(&input, &policy(), now());
    match value(&a, Dimension::SizeSegment) {
        ClassValue::SizeSegment(s) => (s, reasons(&a, Dimension::SizeSegment).to_vec()),
        other => panic!("size slot holds {other}"),
    }
}

fn grade_of(input: &ClassificationInput<'_>, policy: &ClassificationPolicy) -> (Grade, u8, Vec<String>) {
    let a = classify(input, policy, now());
    match value(&a, Dimension::Grade) {
        ClassValue::Grade(g) => (g, a.score, reasons(&a, Dimension::Grade).to_vec()),
        other => panic!("grade slot holds {other}"),
    }
}

fn rfm_of(activity: ActivitySummary) -> Rfm {
    classify(&with_activity(activity), &policy(), now()).rfm
}

// ---------------------------------------------------------------------------------------------
// The assessment's shape

#[test]
fn classes_are_indexed_by_dimension() {
    let inputs = [
        blank(),
        with_activity(bought(400, 5, 20, 500_000)),
        ClassificationInput {
            job_title: Some("CEO"),
            employee_count: Some(5000),
            key_account: true,
            churned: true,
            ..with_activity(bought(30, 30, 1, 5))
        },
    ];
    for input in inputs {
        let a = classify(&input, &policy(), now());
        for dimension in Dimension::ALL {
            assert_eq!(a.classes[dimension.index()].value.dimension(), dimension);
            assert!(
                !a.classes[dimension.index()].reasons.is_empty(),
                "{dimension:?} has no reason"
            );
        }
    }
}

#[test]
fn a_customer_who_never_bought() {
    let a = classify(&blank(), &policy(), now());
    assert_eq!(value(&a, Dimension::RankTier), ClassValue::RankTier(RankTier::Unknown));
    assert_eq!(value(&a, Dimension::ValueTier), ClassValue::ValueTier(ValueTier::None));
    assert_eq!(
        value(&a, Dimension::LifecycleStage),
        ClassValue::LifecycleStage(LifecycleStage::Potential)
    );
    assert_eq!(value(&a, Dimension::Behaviour), ClassValue::Behaviour(Behaviour::None));
    assert_eq!(
        value(&a, Dimension::SizeSegment),
        ClassValue::SizeSegment(SizeSegment::Unknown)
    );
    assert_eq!(value(&a, Dimension::Grade), ClassValue::Grade(Grade::Potential));
    assert_eq!(a.rfm, Rfm::default());
    assert_eq!(a.score, 0);
}

#[test]
fn a_typical_customer_with_every_reason() {
    let input = ClassificationInput {
        job_title: Some("Purchasing Manager"),
        employee_count: Some(250),
        key_account: true,
        ..with_activity(bought(300, 20, 5, 60_000))
    };
    let a = classify(&input, &policy(), now());
    assert_eq!(
        reasons(&a, Dimension::RankTier),
        [r#"job title "Purchasing Manager" contains middle keyword "Manager""#]
    );
    assert_eq!(
        reasons(&a, Dimension::ValueTier),
        ["window revenue 60,000.00 ≥ value_medium_min 10,000.00 and < value_high_min 100,000.00"]
    );
    assert_eq!(
        reasons(&a, Dimension::LifecycleStage),
        [
            "first purchase 300 days ago > new_days 90",
            "last purchase 20 days ago ≤ dormant_after_days 180"
        ]
    );
    assert_eq!(
        reasons(&a, Dimension::Behaviour),
        ["5 orders in the window ≥ occasional_min_orders 2 and < frequent_min_orders 12"]
    );
    assert_eq!(
        reasons(&a, Dimension::SizeSegment),
        ["employee count 250 ≥ size_mid_market_min 100 and < size_enterprise_min 1000"]
    );
    // R 5, F 3, M 4: 100 × (30·5 + 30·3 + 40·4) / 500 = 80, plus 10 for the key account.
    assert_eq!(
        a.rfm,
        Rfm {
            recency: 5,
            frequency: 3,
            monetary: 4
        }
    );
    assert_eq!(a.score, 90);
    assert_eq!(
        reasons(&a, Dimension::Grade),
        [
            "R 5: last purchase 20 days ago ≤ recency_days_cuts[0] 30",
            "F 3: 5 orders in the window ≥ frequency_cuts[1] 4",
            "M 4: window revenue 60,000.00 ≥ monetary_cuts[2] 50,000.00",
            "score 90 = RFM 5/3/4 weighted 30/30/40 → 80, + key account bonus 10",
            "score 90 ≥ grade_vip_min_score 85",
        ]
    );
    assert_eq!(value(&a, Dimension::Grade), ClassValue::Grade(Grade::Vip));
}

// ---------------------------------------------------------------------------------------------
// Rank tier

#[test]
fn a_stated_job_rank_maps_across_and_beats_the_title() {
    for (job_rank, tier) in [
        (JobRank::Executive, RankTier::Executive),
        (JobRank::Middle, RankTier::Middle),
        (JobRank::Frontline, RankTier::Frontline),
    ] {
        let input = ClassificationInput {
            job_rank: Some(job_rank),
            job_title: Some("Clerk"),
            ..blank()
        };
        let (got, why) = rank(&input, &policy());
        assert_eq!(got, tier);
        assert_eq!(why, [format!("job_rank {} stated", job_rank.name())]);
    }
    let input = ClassificationInput {
        job_rank: Some(JobRank::Frontline),
        job_title: Some("CEO"),
        ..blank()
    };
    assert_eq!(rank(&input, &policy()).0, RankTier::Frontline);
}

#[test]
fn no_rank_and_no_title_is_unknown() {
    let (tier, why) = rank(&blank(), &policy());
    assert_eq!(tier, RankTier::Unknown);
    assert_eq!(why, ["no job rank or title"]);
    for blank_title in ["", "   ", "\t"] {
        let input = ClassificationInput {
            job_title: Some(blank_title),
            ..blank()
        };
        assert_eq!(rank(&input, &policy()).0, RankTier::Unknown, "{blank_title:?}");
    }
}

#[test]
fn default_keywords_in_english_and_chinese() {
    use RankTier::{Executive, Frontline, Middle};
    let cases = [
        ("总经理", Executive),
        ("销售总经理", Executive),
        ("总裁", Executive),
        ("董事长", Executive),
        ("首席执行官", Executive),
        ("销售经理", Middle),
        ("主管", Middle),
        ("销售总监", Middle),
        ("工程师", Frontline),
        ("销售代表", Frontline),
        ("CEO", Executive),
        ("ceo", Executive),
        ("CFO", Executive),
        ("CTO / Co-founder", Executive),
        ("COO", Executive),
        ("vp of sales", Executive),
        ("VP, Sales", Executive),
        ("Vice-President Marketing", Executive),
        ("President", Executive),
        ("Chief Financial Officer", Executive),
        ("Manager, reporting to the CEO", Executive),
        ("Sales Manager", Middle),
        ("Sales Director", Middle),
        ("Director of Engineering", Middle),
        ("Managing Director", Middle),
        ("HEAD OF IT", Middle),
        ("Team Lead", Middle),
        ("Engineer", Frontline),
        ("Clerk", Frontline),
        ("Accountant", Frontline),
        // Whole words for Latin keywords: `COO` is not in "Coordinator", `CTO` not in
        // "Director" (which is MIDDLE above), `VP` not in "MVP".
        ("Coordinator", Frontline),
        ("MVP Engineer", Frontline),
        ("Misleading title", Frontline),
    ];
    for (title, expected) in cases {
        assert_eq!(rank_of_title(title), expected, "{title}");
    }
}

#[test]
fn keyword_reasons() {
    let input = ClassificationInput {
        job_title: Some("Sales Manager"),
        ..blank()
    };
    assert_eq!(
        rank(&input, &policy()).1,
        [r#"job title "Sales Manager" contains middle keyword "Manager""#]
    );
    let input = ClassificationInput {
        job_title: Some("vp of sales"),
        ..blank()
    };
    assert_eq!(
        rank(&input, &policy()).1,
        [r#"job title "vp of sales" contains executive keyword "VP""#]
    );
    let input = ClassificationInput {
        job_title: Some("销售总经理"),
        ..blank()
    };
    assert_eq!(
        rank(&input, &policy()).1,
        [r#"job title "销售总经理" contains executive keyword "总经理""#]
    );
    let input = ClassificationInput {
        job_title: Some("Clerk"),
        ..blank()
    };
    assert_eq!(rank(&input, &policy()).1, [r#"job title "Clerk" matches no keyword"#]);
}

#[test]
fn executive_keywords_are_checked_before_middle_ones() {
    let mut p = policy();
    p.executive_keywords = vec!["Partner".to_owned()];
    p.middle_keywords = vec!["Partner".to_owned(), "Senior".to_owned()];
    let input = ClassificationInput {
        job_title: Some("Senior Partner"),
        ..blank()
    };
    assert_eq!(rank(&input, &p).0, RankTier::Executive);
}

#[test]
fn empty_keywords_match_nothing() {
    let mut p = policy();
    p.executive_keywords = vec![String::new(), "   ".to_owned()];
    p.middle_keywords = vec![String::new()];
    let input = ClassificationInput {
        job_title: Some("Anything at all"),
        ..blank()
    };
    assert_eq!(rank(&input, &p).0, RankTier::Frontline);
    p.executive_keywords.clear();
    p.middle_keywords.clear();
    assert_eq!(rank(&input, &p).0, RankTier::Frontline);
}

#[test]
fn keywords_are_trimmed_and_case_insensitive_on_both_sides() {
    let mut p = policy();
    p.executive_keywords = vec!["  vice PRESIDENT ".to_owned()];
    let input = ClassificationInput {
        job_title: Some("Senior Vice President"),
        ..blank()
    };
    let (tier, why) = rank(&input, &p);
    assert_eq!(tier, RankTier::Executive);
    assert_eq!(
        why,
        [r#"job title "Senior Vice President" contains executive keyword "vice PRESIDENT""#]
    );
}

#[test]
fn title_matching_rules() {
    assert!(title_contains("Chief Executive Officer", "chief"));
    assert!(title_contains("CTO", "cto"));
    assert!(title_contains("(CTO)", "CTO"));
    assert!(title_contains("CTO-in-residence", "CTO"));
    assert!(!title_contains("Director", "CTO"));
    assert!(!title_contains("Coordinator", "COO"));
    assert!(!title_contains("Leader", "Lead"));
    // The second occurrence may be the whole word.
    assert!(title_contains("Directory Director", "Director"));
    // A keyword ending in punctuation needs no boundary on that side.
    assert!(title_contains("Sr.Engineer", "Sr."));
    // CJK matches anywhere; mixed keywords bound only their Latin ends.
    assert!(title_contains("区域销售经理", "经理"));
    assert!(title_contains("IT经理", "经理"));
    assert!(title_contains("IT经理", "IT经理"));
    assert!(!title_contains("CIT经理", "IT经理"));
    assert!(!title_contains("anything", ""));
    assert!(!title_contains("anything", " \t"));
    assert!(!title_contains("", "CEO"));
    // Lower-casing that changes lengths does not upset the boundary checks.
    assert!(title_contains("İstanbul CEO", "ceo"));
    assert!(title_contains("CEO İ", "ceo"));
}

#[test]
fn executive_bonus_follows_the_rule_rank_tier() {
    let activity = bought(10, 10, 5, 60_000); // R 5, F 3, M 4: 80
    let plain = with_activity(activity);
    let by_title = ClassificationInput {
        job_title: Some("CEO"),
        ..plain
    };
    let by_rank = ClassificationInput {
        job_rank: Some(JobRank::Executive),
        ..plain
    };
    let middle = ClassificationInput {
        job_title: Some("Manager"),
        ..plain
    };
    assert_eq!(classify(&plain, &policy(), now()).score, 80);
    assert_eq!(classify(&by_title, &policy(), now()).score, 85);
    assert_eq!(classify(&by_rank, &policy(), now()).score, 85);
    assert_eq!(classify(&middle, &policy(), now()).score, 80);
    assert!(
        grade_of(&by_rank, &policy())
            .2
            .iter()
            .any(|r| r.ends_with("→ 80, + executive bonus 5"))
    );
}

// ---------------------------------------------------------------------------------------------
// Value tier

#[test]
fn value_tier_at_every_cut() {
    let p = policy();
    let high = p.value_high_min.micros();
    let medium = p.value_medium_min.micros();
    let cases = [
        (high + 1, ValueTier::High),
        (high, ValueTier::High),
        (high - 1, ValueTier::Medium),
        (medium, ValueTier::Medium),
        (medium - 1, ValueTier::Low),
        (1, ValueTier::Low),
        (0, ValueTier::None),
        (-1, ValueTier::None),
        (i64::MIN, ValueTier::None),
        (i64::MAX, ValueTier::High),
    ];
    for (micros, expected) in cases {
        assert_eq!(
            value_tier(Money::from_micros(micros), &p).0,
            expected,
            "{micros} micros"
        );
    }
}

#[test]
fn value_tier_reasons() {
    let p = policy();
    assert_eq!(
        value_tier(Money::from_units(120_000), &p).1,
        ["window revenue 120,000.00 ≥ value_high_min 100,000.00"]
    );
    assert_eq!(
        value_tier(Money::from_units(10_000), &p).1,
        ["window revenue 10,000.00 ≥ value_medium_min 10,000.00 and < value_high_min 100,000.00"]
    );
    assert_eq!(
        value_tier(Money::from_micros(9_999_990_000), &p).1,
        ["window revenue 9,999.99 > 0 and < value_medium_min 10,000.00"]
    );
    assert_eq!(
        value_tier(Money::from_units(-50), &p).1,
        ["window revenue -50.00 is not positive"]
    );
}

#[test]
fn value_tier_needs_no_purchase_time() {
    // The tier reads window revenue only, even in a summary without purchase times.
    let activity = ActivitySummary {
        window_revenue: Money::from_units(200_000),
        ..ActivitySummary::default()
    };
    let a = classify(&with_activity(activity), &policy(), now());
    assert_eq!(value(&a, Dimension::ValueTier), ClassValue::ValueTier(ValueTier::High));
}

// ---------------------------------------------------------------------------------------------
// Lifecycle stage

#[test]
fn lifecycle_at_every_cut() {
    // NEW while the first purchase is at most new_days (90) ago.
    assert_eq!(stage(0, 0), LifecycleStage::New);
    assert_eq!(stage(90, 90), LifecycleStage::New);
    assert_eq!(stage(91, 91), LifecycleStage::Active);
    assert_eq!(stage(90, 0), LifecycleStage::New);
    // ACTIVE while the last purchase is at most dormant_after_days (180) ago.
    assert_eq!(stage(400, 0), LifecycleStage::Active);
    assert_eq!(stage(400, 180), LifecycleStage::Active);
    assert_eq!(stage(400, 181), LifecycleStage::Dormant);
    // DORMANT while it is at most churn_after_days (365) ago.
    assert_eq!(stage(400, 365), LifecycleStage::Dormant);
    assert_eq!(stage(400, 366), LifecycleStage::Churned);
    assert_eq!(stage(100_000, 100_000), LifecycleStage::Churned);
}

#[test]
fn days_are_whole_days_rounded_down() {
    let p = policy();
    let at = |t| {
        let activity = ActivitySummary {
            first_purchase: Some(t),
            last_purchase: Some(t),
            window_orders: 1,
            window_revenue: Money::from_units(1),
        };
        lifecycle(&with_activity(activity), &p).0
    };
    // 90 days and 23:59:59 is still 90 days ago.
    assert_eq!(at(ago(91) + Duration::seconds(1)), LifecycleStage::New);
    assert_eq!(at(ago(91)), LifecycleStage::Active);
    assert_eq!(at(ago(181) + Duration::seconds(1)), LifecycleStage::Active);
    assert_eq!(at(ago(181)), LifecycleStage::Dormant);
    assert_eq!(at(ago(366) + Duration::seconds(1)), LifecycleStage::Dormant);
    assert_eq!(at(ago(366)), LifecycleStage::Churned);
    // 47 hours ago is 1 day ago.
    let activity = ActivitySummary {
        first_purchase: Some(now() - Duration::hours(47)),
        last_purchase: Some(now() - Duration::hours(47)),
        ..bought(0, 0, 1, 1)
    };
    assert_eq!(
        lifecycle(&with_activity(activity), &p).1,
        ["first purchase 1 day ago ≤ new_days 90"]
    );
}

#[test]
fn future_purchases_count_as_today() {
    let activity = ActivitySummary {
        first_purchase: Some(now() + Duration::days(30)),
        last_purchase: Some(now() + Duration::days(40)),
        ..bought(0, 0, 1, 1)
    };
    let input = with_activity(activity);
    let (stage, why) = lifecycle(&input, &policy());
    assert_eq!(stage, LifecycleStage::New);
    assert_eq!(why, ["first purchase 0 days ago ≤ new_days 90"]);
    assert_eq!(classify(&input, &policy(), now()).rfm.recency, 5);
}

#[test]
fn lifecycle_reasons() {
    let p = policy();
    assert_eq!(
        lifecycle(&blank(), &p),
        (LifecycleStage::Potential, vec!["no purchase ever".to_owned()])
    );
    assert_eq!(
        lifecycle(&with_activity(bought(10, 10, 1, 1)), &p).1,
        ["first purchase 10 days ago ≤ new_days 90"]
    );
    assert_eq!(
        lifecycle(&with_activity(bought(300, 200, 1, 1)), &p).1,
        [
            "first purchase 300 days ago > new_days 90",
            "last purchase 200 days ago > dormant_after_days 180 and ≤ churn_after_days 365"
        ]
    );
    assert_eq!(
        lifecycle(&with_activity(bought(500, 400, 0, 0)), &p).1,
        [
            "first purchase 500 days ago > new_days 90",
            "last purchase 400 days ago > churn_after_days 365"
        ]
    );
}

#[test]
fn the_churned_flag_comes_first() {
    for activity in [ActivitySummary::default(), bought(1, 1, 30, 1_000_000)] {
        let input = ClassificationInput {
            churned: true,
            ..with_activity(activity)
        };
        assert_eq!(
            lifecycle(&input, &policy()),
            (
                LifecycleStage::Churned,
                vec!["customer said they stopped (churned)".to_owned()]
            )
        );
    }
}

#[test]
fn a_summary_without_a_first_purchase_uses_the_last() {
    let activity = ActivitySummary {
        first_purchase: None,
        ..bought(0, 200, 1, 1)
    };
    assert_eq!(
        lifecycle(&with_activity(activity), &policy()).0,
        LifecycleStage::Dormant
    );
    let activity = ActivitySummary {
        first_purchase: None,
        ..bought(0, 20, 1, 1)
    };
    assert_eq!(lifecycle(&with_activity(activity), &policy()).0, LifecycleStage::New);
}

#[test]
fn only_a_last_purchase_makes_a_buyer() {
    // A first purchase without a last one is an inconsistent summary; without a last purchase
    // the customer has not bought.
    let activity = ActivitySummary {
        last_purchase: None,
        ..bought(10, 10, 1, 1)
    };
    let a = classify(&with_activity(activity), &policy(), now());
    assert_eq!(
        value(&a, Dimension::LifecycleStage),
        ClassValue::LifecycleStage(LifecycleStage::Potential)
    );
    assert_eq!(a.rfm, Rfm::default());
}

// ---------------------------------------------------------------------------------------------
// Behaviour

#[test]
fn behaviour_at_every_cut() {
    assert_eq!(behaviour(u32::MAX), Behaviour::Frequent);
    assert_eq!(behaviour(12), Behaviour::Frequent);
    assert_eq!(behaviour(11), Behaviour::Occasional);
    assert_eq!(behaviour(2), Behaviour::Occasional);
    assert_eq!(behaviour(1), Behaviour::OneTime);
    assert_eq!(behaviour(0), Behaviour::None);
}

#[test]
fn behaviour_reasons() {
    let p = policy();
    assert_eq!(
        behaviour_with(12, &p).1,
        ["12 orders in the window ≥ frequent_min_orders 12"]
    );
    assert_eq!(
        behaviour_with(2, &p).1,
        ["2 orders in the window ≥ occasional_min_orders 2 and < frequent_min_orders 12"]
    );
    assert_eq!(
        behaviour_with(1, &p).1,
        ["1 order in the window < occasional_min_orders 2"]
    );
    assert_eq!(behaviour_with(0, &p).1, ["no order in the window"]);
}

#[test]
fn one_order_is_occasional_when_the_cut_is_one() {
    let mut p = policy();
    p.occasional_min_orders = 1;
    assert_eq!(behaviour_with(1, &p).0, Behaviour::Occasional);
    assert_eq!(behaviour_with(0, &p).0, Behaviour::None);
}

#[test]
fn orders_below_a_higher_occasional_cut_are_one_time() {
    let mut p = policy();
    p.occasional_min_orders = 5;
    assert_eq!(behaviour_with(1, &p).0, Behaviour::OneTime);
    assert_eq!(behaviour_with(4, &p).0, Behaviour::OneTime);
    assert_eq!(
        behaviour_with(4, &p).1,
        ["4 orders in the window < occasional_min_orders 5"]
    );
    assert_eq!(behaviour_with(5, &p).0, Behaviour::Occasional);
}

// ---------------------------------------------------------------------------------------------
// Size segment

#[test]
fn size_at_every_cut() {
    let cases = [
        (Some(u32::MAX), SizeSegment::Enterprise),
        (Some(1000), SizeSegment::Enterprise),
        (Some(999), SizeSegment::MidMarket),
        (Some(100), SizeSegment::MidMarket),
        (Some(99), SizeSegment::Small),
        (Some(10), SizeSegment::Small),
        (Some(9), SizeSegment::Micro),
        (Some(0), SizeSegment::Micro),
        (None, SizeSegment::Unknown),
    ];
    for (employees, expected) in cases {
        assert_eq!(size(employees).0, expected, "{employees:?}");
    }
}

#[test]
fn size_reasons() {
    assert_eq!(size(Some(1000)).1, ["employee count 1000 ≥ size_enterprise_min 1000"]);
    assert_eq!(
        size(Some(10)).1,
        ["employee count 10 ≥ size_small_min 10 and < size_mid_market_min 100"]
    );
    assert_eq!(size(Some(9)).1, ["employee count 9 < size_small_min 10"]);
    assert_eq!(size(None).1, ["employee count unknown"]);
}

// ---------------------------------------------------------------------------------------------
// RFM

#[test]
fn recency_at_every_cut() {
    let r = |last| rfm_of(bought(1000, last, 1, 1)).recency;
    assert_eq!(r(0), 5);
    assert_eq!(r(30), 5);
    assert_eq!(r(31), 4);
    assert_eq!(r(90), 4);
    assert_eq!(r(91), 3);
    assert_eq!(r(180), 3);
    assert_eq!(r(181), 2);
    assert_eq!(r(365), 2);
    assert_eq!(r(366), 1);
    assert_eq!(r(1_000_000), 1);
}

#[test]
fn frequency_at_every_cut() {
    let f = |orders| rfm_of(bought(10, 10, orders, 1)).frequency;
    assert_eq!(f(u32::MAX), 5);
    assert_eq!(f(12), 5);
    assert_eq!(f(11), 4);
    assert_eq!(f(8), 4);
    assert_eq!(f(7), 3);
    assert_eq!(f(4), 3);
    assert_eq!(f(3), 2);
    assert_eq!(f(2), 2);
    assert_eq!(f(1), 1);
    // Bought, but not within the window.
    assert_eq!(f(0), 1);
}

#[test]
fn monetary_at_every_cut() {
    let m = |micros| {
        rfm_of(ActivitySummary {
            window_revenue: Money::from_micros(micros),
            ..bought(10, 10, 1, 0)
        })
        .monetary
    };
    let unit = 1_000_000;
    assert_eq!(m(i64::MAX), 5);
    assert_eq!(m(100_000 * unit), 5);
    assert_eq!(m(100_000 * unit - 1), 4);
    assert_eq!(m(50_000 * unit), 4);
    assert_eq!(m(50_000 * unit - 1), 3);
    assert_eq!(m(10_000 * unit), 3);
    assert_eq!(m(10_000 * unit - 1), 2);
    assert_eq!(m(1_000 * unit), 2);
    assert_eq!(m(1_000 * unit - 1), 1);
    assert_eq!(m(0), 1);
    assert_eq!(m(-unit), 1);
}

#[test]
fn rfm_is_zero_without_a_purchase() {
    // Even a (refund-only) summary with window revenue or orders scores 0 without a purchase.
    let activity = ActivitySummary {
        window_orders: 3,
        window_revenue: Money::from_units(-10),
        ..ActivitySummary::default()
    };
    assert_eq!(rfm_of(activity), Rfm::default());
    let a = classify(&with_activity(activity), &policy(), now());
    assert_eq!(reasons(&a, Dimension::Grade)[0], "no purchase ever: RFM 0/0/0");
}

#[test]
fn rfm_reasons_at_the_low_end() {
    let a = classify(&with_activity(bought(500, 400, 1, 0)), &policy(), now());
    assert_eq!(
        reasons(&a, Dimension::Grade)[..3],
        [
            "R 1: last purchase 400 days ago > recency_days_cuts[3] 365",
            "F 1: 1 order in the window < frequency_cuts[0] 2",
            "M 1: window revenue 0.00 < monetary_cuts[0] 1,000.00",
        ]
    );
}

#[test]
fn unsorted_cuts_take_the_first_match() {
    let mut p = policy();
    p.recency_days_cuts = [365, 180, 90, 30];
    p.frequency_cuts = [12, 8, 4, 2];
    p.monetary_cuts = [
        Money::from_units(100),
        Money::ZERO,
        Money::from_units(100),
        Money::from_units(5),
    ];
    let a = classify(&with_activity(bought(10, 100, 3, 50)), &p, now());
    // R: 100 ≤ 365 first. F: 3 ≥ [3] = 2. M: 50 ≥ [3] = 5.
    assert_eq!(
        a.rfm,
        Rfm {
            recency: 5,
            frequency: 5,
            monetary: 5
        }
    );
}

// ---------------------------------------------------------------------------------------------
// Score

#[test]
fn score_is_the_rounded_weighted_mean() {
    let mut p = policy();
    // R 5, F 1, M 2 under weights 7/0/1: 100 × (35 + 2) / 40 = 92.5, rounded half up.
    p.recency_weight = 7;
    p.frequency_weight = 0;
    p.monetary_weight = 1;
    let activity = ActivitySummary {
        window_revenue: Money::from_units(1_000),
        ..bought(10, 10, 1, 0)
    };
    let a = classify(&with_activity(activity), &p, now());
    assert_eq!(
        a.rfm,
        Rfm {
            recency: 5,
            frequency: 1,
            monetary: 2
        }
    );
    assert_eq!(a.score, 93);
    // Weights 1/1/1, R 5 F 1 M 1: 100 × 7 / 15 = 46.7 → 47; R 3 F 1 M 1: 33.3 → 33.
    p.recency_weight = 1;
    p.frequency_weight = 1;
    p.monetary_weight = 1;
    assert_eq!(classify(&with_activity(bought(10, 10, 1, 0)), &p, now()).score, 47);
    assert_eq!(classify(&with_activity(bought(100, 100, 1, 0)), &p, now()).score, 33);
    // Default weights: all 5s make 100, all 1s make 20.
    assert_eq!(
        classify(&with_activity(bought(10, 10, 12, 100_000)), &policy(), now()).score,
        100
    );
    assert_eq!(
        classify(&with_activity(bought(900, 900, 0, 0)), &policy(), now()).score,
        20
    );
}

#[test]
fn weights_summing_to_zero_leave_only_the_bonuses() {
    let mut p = policy();
    p.recency_weight = 0;
    p.frequency_weight = 0;
    p.monetary_weight = 0;
    let input = ClassificationInput {
        key_account: true,
        ..with_activity(bought(10, 10, 12, 100_000))
    };
    let (_, score, why) = grade_of(&input, &p);
    assert_eq!(score, 10);
    assert!(
        why.contains(&"score 10 = RFM 5/5/5 weighted 0/0/0 → 0 (weights sum to 0), + key account bonus 10".to_owned()),
        "{why:?}"
    );
}

#[test]
fn bonuses_apply_without_purchases() {
    let input = ClassificationInput {
        key_account: true,
        job_title: Some("总裁"),
        ..blank()
    };
    let (_, score, why) = grade_of(&input, &policy());
    assert_eq!(score, 15);
    assert!(why.contains(
        &"score 15 = RFM 0/0/0 weighted 30/30/40 → 0, + key account bonus 10, + executive bonus 5".to_owned()
    ));
}

#[test]
fn score_is_capped_at_100() {
    let mut p = policy();
    p.key_account_bonus = 100;
    p.executive_bonus = u32::MAX;
    let input = ClassificationInput {
        key_account: true,
        job_rank: Some(JobRank::Executive),
        ..with_activity(bought(10, 10, 12, 100_000))
    };
    let (grade, score, why) = grade_of(&input, &p);
    assert_eq!(score, 100);
    assert_eq!(grade, Grade::Vip);
    assert!(why.iter().any(|r| r.ends_with(&format!(
        "→ 100, + key account bonus 100, + executive bonus {} = {}, capped at 100",
        u32::MAX,
        200 + u64::from(u32::MAX)
    ))));
}

#[test]
fn extreme_weights_do_not_overflow() {
    let mut p = policy();
    p.recency_weight = u32::MAX;
    p.frequency_weight = u32::MAX;
    p.monetary_weight = u32::MAX;
    p.key_account_bonus = u32::MAX;
    p.executive_bonus = u32::MAX;
    let input = ClassificationInput {
        key_account: true,
        job_title: Some("CEO"),
        ..with_activity(bought(10, 10, 12, 100_000))
    };
    assert_eq!(classify(&input, &p, now()).score, 100);
    let all_ones = ClassificationInput {
        key_account: false,
        job_title: None,
        ..with_activity(bought(900, 900, 0, 0))
    };
    assert_eq!(classify(&all_ones, &p, now()).score, 20);
    let all_ones_key = ClassificationInput {
        key_account: true,
        ..all_ones
    };
    assert_eq!(classify(&all_ones_key, &p, now()).score, 100);
}

// ---------------------------------------------------------------------------------------------
// Grade

/// R 5, F 3, M 4 under the default weights: score 80.
fn score_80() -> ClassificationInput<'static> {
    with_activity(bought(10, 10, 5, 60_000))
}

#[test]
fn grade_at_every_cut() {
    let mut p = policy();
    p.grade_vip_min_score = 80;
    assert_eq!(grade_of(&score_80(), &p).0, Grade::Vip);
    p.grade_vip_min_score = 81;
    assert_eq!(grade_of(&score_80(), &p).0, Grade::Key);
    p.grade_key_min_score = 80;
    assert_eq!(grade_of(&score_80(), &p).0, Grade::Key);
    p.grade_key_min_score = 81;
    assert_eq!(grade_of(&score_80(), &p).0, Grade::Standard);
    // Never bought: the bonuses alone against the KEY cut.
    let potential_key = ClassificationInput {
        key_account: true,
        ..blank()
    };
    p.key_account_bonus = 10;
    p.grade_key_min_score = 10;
    assert_eq!(
        grade_of(&potential_key, &p),
        (Grade::Key, 10, grade_of(&potential_key, &p).2)
    );
    assert_eq!(grade_of(&blank(), &p).0, Grade::Potential);
}

#[test]
fn grade_reasons_name_the_deciding_cut() {
    let p = policy();
    let (grade, _, why) = grade_of(&score_80(), &p);
    assert_eq!(grade, Grade::Key);
    assert_eq!(
        why.last().map(String::as_str),
        Some("score 80 ≥ grade_key_min_score 60 and < grade_vip_min_score 85")
    );
    let (grade, _, why) = grade_of(&with_activity(bought(900, 900, 0, 0)), &p);
    assert_eq!(grade, Grade::Standard);
    assert_eq!(
        why.last().map(String::as_str),
        Some("score 20 < grade_key_min_score 60, has purchased")
    );
    let (grade, _, why) = grade_of(&blank(), &p);
    assert_eq!(grade, Grade::Potential);
    assert_eq!(
        why,
        [
            "no purchase ever: RFM 0/0/0",
            "score 0 = RFM 0/0/0 weighted 30/30/40 → 0",
            "score 0 < grade_key_min_score 60, no purchase ever"
        ]
    );
}

#[test]
fn a_key_account_is_at_least_key() {
    let p = policy();
    for activity in [ActivitySummary::default(), bought(900, 900, 0, 0)] {
        let input = ClassificationInput {
            key_account: true,
            ..with_activity(activity)
        };
        let (grade, _, why) = grade_of(&input, &p);
        assert_eq!(grade, Grade::Key);
        assert_eq!(
            why.last().map(String::as_str),
            Some("key account guarantees at least KEY")
        );
    }
    // Never lowered: a key-account VIP stays VIP.
    let vip = ClassificationInput {
        key_account: true,
        ..with_activity(bought(10, 10, 12, 100_000))
    };
    let (grade, score, why) = grade_of(&vip, &p);
    assert_eq!((grade, score), (Grade::Vip, 100));
    assert!(!why.iter().any(|r| r.contains("guarantees")));
}
