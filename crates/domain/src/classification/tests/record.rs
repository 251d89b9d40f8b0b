//! The stored classification: reconcile, overrides and their lapse, `since`, history changes.

use chrono::{DateTime, Duration, Utc};

use super::{blank, bought, now, with_activity};
use crate::classification::{
    Assessment, ClassChange, ClassOverride, ClassSource, ClassValue, Classification, ClassificationInput,
    ClassificationPolicy, Dimension, Grade, HistorySource, LifecycleStage, PolicyVersionId, classify, plan_for,
};
use crate::customer::values::{CustomerId, PrincipalName};

fn policy() -> ClassificationPolicy {
    ClassificationPolicy::default()
}

fn v1() -> PolicyVersionId {
    PolicyVersionId::new(1)
}

fn later(days: i64) -> DateTime<Utc> {
    now() + Duration::days(days)
}

/// An active, STANDARD customer: last purchase 20 days before [`now`], first 300 days before.
fn active() -> ClassificationInput<'static> {
    with_activity(bought(300, 20, 1, 500))
}

fn assess(input: &ClassificationInput<'_>, at: DateTime<Utc>) -> Assessment {
    classify(input, &policy(), at)
}

fn first(input: &ClassificationInput<'_>) -> Classification {
    Classification::reconcile(None, assess(input, now()), &policy(), v1(), HistorySource::Rule, now()).0
}

fn pin(value: ClassValue, expire_time: Option<DateTime<Utc>>) -> ClassOverride {
    ClassOverride {
        value,
        reason: "strategic partner".to_owned(),
        actor: PrincipalName::parse("principals/alice").unwrap(),
        create_time: now(),
        expire_time,
    }
}

const VIP: ClassValue = ClassValue::Grade(Grade::Vip);
const STANDARD: ClassValue = ClassValue::Grade(Grade::Standard);

#[test]
fn the_first_classification_changes_all_six_from_nothing() {
    let assessment = assess(&active(), now());
    let (c, changes) = Classification::reconcile(None, assessment.clone(), &policy(), v1(), HistorySource::Rule, now());
    assert_eq!(changes.len(), Dimension::COUNT);
    for (dimension, change) in Dimension::ALL.into_iter().zip(&changes) {
        assert_eq!(change.dimension, dimension);
        assert_eq!(change.from, None);
        assert_eq!(change.to, assessment.classes[dimension.index()].value);
        assert_eq!(change.source, HistorySource::Rule);
        let class = c.get(dimension);
        assert_eq!(class.value, change.to);
        assert_eq!(class.rule_value, change.to);
        assert_eq!(class.source, ClassSource::Rule);
        assert_eq!(class.override_, None);
        assert_eq!(class.since, now());
        assert_eq!(class.reasons, assessment.classes[dimension.index()].reasons);
    }
    assert_eq!(c.grade(), Grade::Standard);
    assert_eq!(c.service_plan, policy().standard_plan);
    assert_eq!(c.rfm, assessment.rfm);
    assert_eq!(c.score, assessment.score);
    assert_eq!(c.policy_version, v1());
    assert_eq!(c.classify_time, now());
}

#[test]
fn an_unchanged_value_keeps_its_since() {
    let c1 = first(&active());
    let (c2, changes) = Classification::reconcile(
        Some(&c1),
        assess(&active(), later(1)),
        &policy(),
        v1(),
        HistorySource::Schedule,
        later(1),
    );
    assert_eq!(changes, []);
    for dimension in Dimension::ALL {
        assert_eq!(c2.get(dimension).since, now());
    }
    assert_eq!(c2.classify_time, later(1));
    // Reasons re-worded (a day count moved on), nothing else.
    assert_ne!(c1, c2);
    assert!(c1.same_outcome(&c2));
}

#[test]
fn time_alone_moves_the_lifecycle() {
    let c1 = first(&active());
    // 200 days later the last purchase is 220 days old: DORMANT.
    let (c2, changes) = Classification::reconcile(
        Some(&c1),
        assess(&active(), later(200)),
        &policy(),
        v1(),
        HistorySource::Schedule,
        later(200),
    );
    let lifecycle: Vec<_> = changes
        .iter()
        .filter(|c| c.dimension == Dimension::LifecycleStage)
        .collect();
    assert_eq!(
        lifecycle,
        [&ClassChange {
            dimension: Dimension::LifecycleStage,
            from: Some(ClassValue::LifecycleStage(LifecycleStage::Active)),
            to: ClassValue::LifecycleStage(LifecycleStage::Dormant),
            source: HistorySource::Schedule,
        }]
    );
    assert_eq!(c2.get(Dimension::LifecycleStage).since, later(200));
    assert_eq!(c2.get(Dimension::SizeSegment).since, now());
    assert!(!c1.same_outcome(&c2));
}

#[test]
fn an_override_in_force_survives_rule_runs() {
    let c1 = first(&active());
    let (c2, change) = c1.with_override(pin(VIP, Some(later(30))), &policy(), now());
    assert_eq!(
        change,
        Some(ClassChange {
            dimension: Dimension::Grade,
            from: Some(STANDARD),
            to: VIP,
            source: HistorySource::Override,
        })
    );
    assert_eq!(c2.grade(), Grade::Vip);
    assert_eq!(c2.service_plan, policy().vip_plan);
    assert_eq!(c2.get(Dimension::Grade).source, ClassSource::Override);
    assert_eq!(c2.get(Dimension::Grade).rule_value, STANDARD);
    assert_eq!(
        c2.get(Dimension::Grade).reasons,
        ["override by principals/alice: strategic partner"]
    );

    // The rules now say KEY (a key account) and CHURNED; the grade stays pinned.
    let churned = ClassificationInput {
        churned: true,
        key_account: true,
        ..active()
    };
    let (c3, changes) = Classification::reconcile(
        Some(&c2),
        assess(&churned, later(29)),
        &policy(),
        v1(),
        HistorySource::Rule,
        later(29),
    );
    assert!(changes.iter().all(|c| c.dimension != Dimension::Grade), "{changes:?}");
    assert!(changes.iter().any(|c| c.dimension == Dimension::LifecycleStage));
    let grade = c3.get(Dimension::Grade);
    assert_eq!(grade.value, VIP);
    assert_eq!(grade.rule_value, ClassValue::Grade(Grade::Key));
    assert_eq!(grade.source, ClassSource::Override);
    assert_eq!(grade.since, now());
    assert_eq!(grade.override_, c2.get(Dimension::Grade).override_);
    assert_eq!(c3.service_plan, policy().vip_plan);
}

#[test]
fn an_override_lapses_at_its_expiry() {
    let c1 = first(&active());
    let (c2, _) = c1.with_override(pin(VIP, Some(later(30))), &policy(), now());
    // At the expiry instant the rules apply again, and history says the override did it.
    let (c3, changes) = Classification::reconcile(
        Some(&c2),
        assess(&active(), later(30)),
        &policy(),
        v1(),
        HistorySource::Schedule,
        later(30),
    );
    assert_eq!(
        changes,
        [ClassChange {
            dimension: Dimension::Grade,
            from: Some(VIP),
            to: STANDARD,
            source: HistorySource::Override,
        }]
    );
    let grade = c3.get(Dimension::Grade);
    assert_eq!(grade.value, STANDARD);
    assert_eq!(grade.source, ClassSource::Rule);
    assert_eq!(grade.override_, None);
    assert_eq!(grade.since, later(30));
    assert_eq!(c3.service_plan, policy().standard_plan);
    assert!(grade.reasons.iter().any(|r| r.starts_with("score ")));
}

#[test]
fn a_lapsed_override_of_the_rules_value_changes_nothing() {
    let c1 = first(&active());
    let (c2, change) = c1.with_override(pin(STANDARD, Some(later(30))), &policy(), now());
    assert_eq!(change, None, "pinning the value in effect is no change");
    assert_eq!(c2.get(Dimension::Grade).since, now());
    assert_eq!(c2.get(Dimension::Grade).source, ClassSource::Override);
    let (c3, changes) = Classification::reconcile(
        Some(&c2),
        assess(&active(), later(31)),
        &policy(),
        v1(),
        HistorySource::Schedule,
        later(31),
    );
    assert_eq!(changes, []);
    assert_eq!(c3.get(Dimension::Grade).source, ClassSource::Rule);
    assert_eq!(c3.get(Dimension::Grade).override_, None);
    assert_eq!(c3.get(Dimension::Grade).since, now());
}

#[test]
fn an_override_without_expiry_stays_until_cleared() {
    let c1 = first(&active());
    let (c2, _) = c1.with_override(pin(VIP, None), &policy(), now());
    let (c3, changes) = Classification::reconcile(
        Some(&c2),
        assess(&active(), later(100_000)),
        &policy(),
        v1(),
        HistorySource::Schedule,
        later(100_000),
    );
    assert!(changes.iter().all(|c| c.dimension != Dimension::Grade));
    assert_eq!(c3.grade(), Grade::Vip);
}

#[test]
fn a_new_override_replaces_the_old_one() {
    let c1 = first(&active());
    let (c2, _) = c1.with_override(pin(VIP, None), &policy(), now());
    let key = ClassValue::Grade(Grade::Key);
    let (c3, change) = c2.with_override(pin(key, Some(later(5))), &policy(), later(1));
    assert_eq!(change.map(|c| (c.from, c.to)), Some((Some(VIP), key)));
    assert_eq!(c3.get(Dimension::Grade).override_.as_ref().map(|o| o.value), Some(key));
    assert_eq!(c3.get(Dimension::Grade).since, later(1));
    assert_eq!(c3.service_plan, policy().key_plan);
}

#[test]
fn clearing_an_override() {
    let c1 = first(&active());
    assert_eq!(
        c1.without_override(Dimension::Grade, vec!["rules".to_owned()], &policy(), now()),
        None
    );
    let (c2, _) = c1.with_override(pin(VIP, None), &policy(), now());
    let (c3, change) = c2
        .without_override(Dimension::Grade, vec!["rules again".to_owned()], &policy(), later(2))
        .unwrap();
    assert_eq!(
        change,
        Some(ClassChange {
            dimension: Dimension::Grade,
            from: Some(VIP),
            to: STANDARD,
            source: HistorySource::Override,
        })
    );
    let grade = c3.get(Dimension::Grade);
    assert_eq!((grade.value, grade.source), (STANDARD, ClassSource::Rule));
    assert_eq!(grade.override_, None);
    assert_eq!(grade.reasons, ["rules again"]);
    assert_eq!(grade.since, later(2));
    assert_eq!(c3.service_plan, policy().standard_plan);

    // Clearing an override of the rules' own value changes nothing but the source.
    let (c4, _) = c1.with_override(pin(STANDARD, None), &policy(), now());
    let (c5, change) = c4
        .without_override(Dimension::Grade, vec![], &policy(), later(2))
        .unwrap();
    assert_eq!(change, None);
    assert_eq!(c5.get(Dimension::Grade).since, now());
}

#[test]
fn overrides_of_other_dimensions_leave_the_plan_alone() {
    let c1 = first(&blank());
    let dormant = ClassValue::LifecycleStage(LifecycleStage::Dormant);
    let (c2, change) = c1.with_override(pin(dormant, None), &policy(), now());
    assert_eq!(change.map(|c| c.dimension), Some(Dimension::LifecycleStage));
    assert_eq!(c2.value(Dimension::LifecycleStage), dormant);
    assert_eq!(c2.service_plan, policy().potential_plan);
}

#[test]
fn same_outcome_ignores_reasons_and_times() {
    let c1 = first(&active());
    let mut reworded = c1.clone();
    reworded.classify_time = later(3);
    for class in &mut reworded.dimensions {
        class.reasons = vec!["something else".to_owned()];
        class.since = later(3);
    }
    assert!(c1.same_outcome(&reworded));

    let mut rescored = c1.clone();
    rescored.score += 1;
    assert!(!c1.same_outcome(&rescored));
    let mut other_version = c1.clone();
    other_version.policy_version = PolicyVersionId::new(2);
    assert!(!c1.same_outcome(&other_version));
    let (pinned, _) = c1.with_override(pin(STANDARD, None), &policy(), now());
    assert!(
        !c1.same_outcome(&pinned),
        "an override of the same value is a different outcome"
    );
}

#[test]
fn override_force_and_history_entries() {
    let o = pin(VIP, Some(later(1)));
    assert!(o.is_in_force(now()));
    assert!(o.is_in_force(later(1) - Duration::nanoseconds(1)));
    assert!(!o.is_in_force(later(1)));
    assert!(pin(VIP, None).is_in_force(later(1_000_000)));

    let change = ClassChange {
        dimension: Dimension::Grade,
        from: None,
        to: VIP,
        source: HistorySource::Rule,
    };
    let customer = CustomerId::parse("acme").unwrap();
    let entry = change.entry(&customer, v1(), None, now());
    assert_eq!(entry.customer, customer);
    assert_eq!(entry.change, change);
    assert_eq!(entry.policy_version, v1());
    assert_eq!(entry.actor, None);
    assert_eq!(entry.time, now());
}

#[test]
fn the_service_plan_follows_the_grade() {
    for (input, grade) in [
        (blank(), Grade::Potential),
        (active(), Grade::Standard),
        (
            ClassificationInput {
                key_account: true,
                ..active()
            },
            Grade::Key,
        ),
        (with_activity(bought(10, 10, 12, 100_000)), Grade::Vip),
    ] {
        let c = first(&input);
        assert_eq!(c.grade(), grade);
        assert_eq!(&c.service_plan, plan_for(&policy(), grade));
    }
}
