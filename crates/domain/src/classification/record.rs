//! A customer's stored [`Classification`] and how it moves: [`Classification::reconcile`]
//! merges a fresh [`Assessment`] from the engine with what was stored (keeping overrides until
//! they lapse, keeping `since` for unchanged values) and says which dimensions changed, as
//! [`ClassChange`]s that become [`HistoryEntry`] rows.

use chrono::{DateTime, Utc};

use super::{
    dimension::{ClassValue, Dimension, Grade},
    engine::Assessment,
    policy::{ClassificationPolicy, PolicyVersionId, ServicePlan},
};
use crate::customer::values::{CustomerId, PrincipalName};

coded_enum!(
    /// Where a dimension's current value comes from.
    ClassSource {
        /// The policy's rules.
        Rule = (1, "RULE"),
        /// An expert's override (专家评估).
        Override = (2, "OVERRIDE"),
    }
);

coded_enum!(
    /// Why a dimension changed, as history records it.
    HistorySource {
        /// An input of the customer changed: create, update, recorded activity, ClassifyCustomer.
        Rule = (1, "RULE"),
        /// An override was set, cleared, or lapsed.
        Override = (2, "OVERRIDE"),
        /// The customer was recomputed under a newly activated policy version.
        PolicyChange = (3, "POLICY_CHANGE"),
        /// A batch run found that time alone moved it.
        Schedule = (4, "SCHEDULE"),
    }
);

/// An expert's pinned value for one dimension.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClassOverride {
    /// The pinned value; its dimension is the overridden one.
    pub value: ClassValue,
    /// Why (1 to 500 characters).
    pub reason: String,
    /// Who set it.
    pub actor: PrincipalName,
    /// When it was set.
    pub create_time: DateTime<Utc>,
    /// When the rules apply again; `None` until cleared.
    pub expire_time: Option<DateTime<Utc>>,
}

impl ClassOverride {
    /// The longest override reason, in characters.
    pub const MAX_REASON_CHARS: usize = 500;

    /// Whether the override still pins its value at `now`.
    pub fn is_in_force(&self, now: DateTime<Utc>) -> bool {
        self.expire_time.is_none_or(|expiry| now < expiry)
    }
}

/// One dimension's current value and where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DimensionClass {
    /// The value in effect: the override's while one is in force, else the rules'.
    pub value: ClassValue,
    /// Rule or override.
    pub source: ClassSource,
    /// Why the value is what it is, as of the classification's `classify_time`.
    pub reasons: Vec<String>,
    /// What the rules alone say.
    pub rule_value: ClassValue,
    /// The override in force, if any.
    pub override_: Option<ClassOverride>,
    /// When the dimension took `value`.
    pub since: DateTime<Utc>,
}

/// Recency, frequency and monetary scores: 1 to 5 each, 0 when the customer never bought.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rfm {
    /// Recency score.
    pub recency: u8,
    /// Frequency score.
    pub frequency: u8,
    /// Monetary score.
    pub monetary: u8,
}

/// A customer's classification on all six dimensions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Classification {
    /// The dimensions, indexed by [`Dimension::index`].
    pub dimensions: [DimensionClass; Dimension::COUNT],
    /// The RFM scores.
    pub rfm: Rfm,
    /// The weighted score 0–100 the grade is cut from.
    pub score: u8,
    /// The service plan of the grade in effect.
    pub service_plan: ServicePlan,
    /// The policy version the rules came from.
    pub policy_version: PolicyVersionId,
    /// When it was computed.
    pub classify_time: DateTime<Utc>,
}

/// A dimension whose value changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClassChange {
    /// The dimension.
    pub dimension: Dimension,
    /// The value before; `None` for a customer's first classification.
    pub from: Option<ClassValue>,
    /// The value after.
    pub to: ClassValue,
    /// Why it changed.
    pub source: HistorySource,
}

uuid_id!(
    /// The id of a history row: a UUIDv7, so ids sort by time.
    HistoryId
);

/// One appended history row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryEntry {
    /// Its id.
    pub id: HistoryId,
    /// The customer.
    pub customer: CustomerId,
    /// The change.
    pub change: ClassChange,
    /// The policy version in effect.
    pub policy_version: PolicyVersionId,
    /// Who caused it; `None` for the scheduler.
    pub actor: Option<PrincipalName>,
    /// When.
    pub time: DateTime<Utc>,
}

impl ClassChange {
    /// The history row for this change.
    pub fn entry(
        &self,
        customer: &CustomerId,
        policy_version: PolicyVersionId,
        actor: Option<&PrincipalName>,
        time: DateTime<Utc>,
    ) -> HistoryEntry {
        HistoryEntry {
            id: HistoryId::generate(),
            customer: customer.clone(),
            change: self.clone(),
            policy_version,
            actor: actor.cloned(),
            time,
        }
    }
}

/// The plan `policy` gives `grade`.
pub fn plan_for(policy: &ClassificationPolicy, grade: Grade) -> &ServicePlan {
    match grade {
        Grade::Vip => &policy.vip_plan,
        Grade::Key => &policy.key_plan,
        Grade::Standard => &policy.standard_plan,
        Grade::Potential => &policy.potential_plan,
    }
}

impl Classification {
    /// The class of `dimension`.
    pub fn get(&self, dimension: Dimension) -> &DimensionClass {
        &self.dimensions[dimension.index()]
    }

    /// The value in effect on `dimension`.
    pub fn value(&self, dimension: Dimension) -> ClassValue {
        self.get(dimension).value
    }

    /// The grade in effect.
    pub fn grade(&self) -> Grade {
        match self.value(Dimension::Grade) {
            ClassValue::Grade(grade) => grade,
            // The dimension array is built by reconcile, which keeps values in their dimension.
            _ => Grade::Potential,
        }
    }

    /// Whether `other` says the same thing as `self` about the customer: equal values, sources,
    /// overrides, scores and policy version. Reasons and times are not compared, so a run that
    /// only re-words a reason (a day count moving on) does not rewrite the row.
    pub fn same_outcome(&self, other: &Self) -> bool {
        self.policy_version == other.policy_version
            && self.rfm == other.rfm
            && self.score == other.score
            && self.service_plan == other.service_plan
            && self.dimensions.iter().zip(&other.dimensions).all(|(a, b)| {
                a.value == b.value && a.source == b.source && a.rule_value == b.rule_value && a.override_ == b.override_
            })
    }

    /// Merges a fresh `assessment` under `policy` (version `version`) with the `previous`
    /// classification: overrides in force are kept, lapsed ones dropped; `since` is kept for
    /// values that did not change. Returns the new classification and every dimension whose value
    /// in effect changed — from rules with `rule_source`, from a lapsed override with
    /// [`HistorySource::Override`].
    pub fn reconcile(
        previous: Option<&Self>,
        assessment: Assessment,
        policy: &ClassificationPolicy,
        version: PolicyVersionId,
        rule_source: HistorySource,
        now: DateTime<Utc>,
    ) -> (Self, Vec<ClassChange>) {
        let mut changes = Vec::new();
        let Assessment { classes, rfm, score } = assessment;
        let dimensions = classes.map(|rule| {
            let dimension = rule.value.dimension();
            let before = previous.map(|p| p.get(dimension));
            let kept_override = before.and_then(|b| b.override_.clone()).filter(|o| o.is_in_force(now));
            let lapsed = before.is_some_and(|b| b.override_.is_some()) && kept_override.is_none();
            let (value, source, reasons) = match &kept_override {
                Some(o) => (
                    o.value,
                    ClassSource::Override,
                    vec![format!("override by {}: {}", o.actor, o.reason)],
                ),
                None => (rule.value, ClassSource::Rule, rule.reasons),
            };
            let since = match before {
                Some(b) if b.value == value => b.since,
                _ => now,
            };
            if before.is_none_or(|b| b.value != value) {
                changes.push(ClassChange {
                    dimension,
                    from: before.map(|b| b.value),
                    to: value,
                    source: if lapsed { HistorySource::Override } else { rule_source },
                });
            }
            DimensionClass {
                value,
                source,
                reasons,
                rule_value: rule.value,
                override_: kept_override,
                since,
            }
        });
        let mut classification = Self {
            dimensions,
            rfm,
            score,
            service_plan: plan_for(policy, Grade::Potential).clone(),
            policy_version: version,
            classify_time: now,
        };
        classification.service_plan = plan_for(policy, classification.grade()).clone();
        (classification, changes)
    }

    /// This classification with `value` pinned by `override_` (replacing any override of the
    /// same dimension). Returns the change of the value in effect, if it changed.
    pub fn with_override(
        &self,
        override_: ClassOverride,
        policy: &ClassificationPolicy,
        now: DateTime<Utc>,
    ) -> (Self, Option<ClassChange>) {
        let dimension = override_.value.dimension();
        self.with_slot(dimension, policy, now, |slot| {
            slot.value = override_.value;
            slot.source = ClassSource::Override;
            slot.reasons = vec![format!("override by {}: {}", override_.actor, override_.reason)];
            slot.override_ = Some(override_);
        })
    }

    /// This classification with the override of `dimension` removed and the rules' value back
    /// in effect (`rule_reasons` explain it). `None` when the dimension has no override.
    pub fn without_override(
        &self,
        dimension: Dimension,
        rule_reasons: Vec<String>,
        policy: &ClassificationPolicy,
        now: DateTime<Utc>,
    ) -> Option<(Self, Option<ClassChange>)> {
        self.get(dimension).override_.as_ref()?;
        Some(self.with_slot(dimension, policy, now, |slot| {
            slot.value = slot.rule_value;
            slot.source = ClassSource::Rule;
            slot.reasons = rule_reasons;
            slot.override_ = None;
        }))
    }

    /// This classification with `dimension` changed by `change` (an override set or cleared):
    /// `since` moves and the service plan follows the grade when the value in effect changes,
    /// which is then returned as a change with [`HistorySource::Override`].
    fn with_slot(
        &self,
        dimension: Dimension,
        policy: &ClassificationPolicy,
        now: DateTime<Utc>,
        change: impl FnOnce(&mut DimensionClass),
    ) -> (Self, Option<ClassChange>) {
        let mut next = self.clone();
        let slot = &mut next.dimensions[dimension.index()];
        let before = slot.value;
        change(slot);
        let after = slot.value;
        if before != after {
            slot.since = now;
        }
        next.service_plan = plan_for(policy, next.grade()).clone();
        let change = (before != after).then_some(ClassChange {
            dimension,
            from: Some(before),
            to: after,
            source: HistorySource::Override,
        });
        (next, change)
    }
}
