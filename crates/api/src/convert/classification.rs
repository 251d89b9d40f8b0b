//! Proto messages of `crm.v1.ClassificationService` to domain values and back: dimensions and
//! their values, money, service plans, the policy and its versions, classifications, activity,
//! history, segment counts, previews and batch-run progress.
//!
//! Everything here is a pure function. Parsing collects every invalid field in a [`Violations`]
//! under its path as written in the request (e.g. `policy.frequency_cuts[2]`), so a caller learns
//! about all of them at once. Parsing checks structure only (a field present, a number not
//! negative, a list of the right length, an amount in the reporting currency); what a policy's
//! values mean together (cut points ascending and the like) is
//! [`ClassificationPolicy::violations`]' business and is not repeated here.
//!
//! # Money
//! Every amount is in the deployment's reporting currency (an ISO 4217 code such as `EUR`, given
//! as `currency`). Parsing takes a [`MoneyCheck`], which holds that currency and remembers the
//! first other currency a request sent, so that a server can add the `CURRENCY_MISMATCH` error
//! info (metadata `expected_currency` and `currency`) besides the field violations. The
//! contract allows at most 6 decimal places (`nanos` a multiple of 1,000) and less than 10^12
//! units in absolute value ([`Money::MAX_AMOUNT`]); the domain's [`Money`] holds micros, so such
//! amounts convert exactly.

use std::time::Duration;

use crm_domain::{
    classification::{
        ActivitySummary, Behaviour, ClassChange, ClassOverride, ClassSource, ClassValue, Classification,
        ClassificationPolicy, Dimension, DimensionClass, Grade, HistoryEntry, HistorySource, Interaction,
        InteractionChannel, LifecycleStage, Money, PolicyPreview, PolicyVersion, PolicyVersionId, PreviewSample,
        Purchase, RankTier, ReclassifyProgress, ReclassifyReport, Rfm, ServicePlan, SizeSegment, ValueTier,
    },
    customer::resource_name as customer_name,
    error::Violations,
    ports::SegmentCount,
    text::shorten,
};

use super::{ProtoEnum, enum_optional, enum_required, timestamp};
use crate::{crm::v1 as pb, google::r#type as gtype, proto_enum};

// ---------------------------------------------------------------------------------------------
// Enums
// ---------------------------------------------------------------------------------------------

proto_enum!(Dimension => Dimension {
    RankTier = RankTier,
    ValueTier = ValueTier,
    LifecycleStage = LifecycleStage,
    Behaviour = Behaviour,
    SizeSegment = SizeSegment,
    Grade = Grade,
});

proto_enum!(RankTier => RankTier {
    Executive = Executive,
    Middle = Middle,
    Frontline = Frontline,
    Unknown = Unknown,
});

proto_enum!(ValueTier => ValueTier {
    High = High,
    Medium = Medium,
    Low = Low,
    None = None,
});

proto_enum!(LifecycleStage => LifecycleStage {
    Potential = Potential,
    New = New,
    Active = Active,
    Dormant = Dormant,
    Churned = Churned,
});

proto_enum!(Behaviour => Behaviour {
    Frequent = Frequent,
    Occasional = Occasional,
    OneTime = OneTime,
    None = None,
});

proto_enum!(SizeSegment => SizeSegment {
    Enterprise = Enterprise,
    MidMarket = MidMarket,
    Small = Small,
    Micro = Micro,
    Unknown = Unknown,
});

proto_enum!(Grade => Grade {
    Vip = Vip,
    Key = Key,
    Standard = Standard,
    Potential = Potential,
});

proto_enum!(InteractionChannel => InteractionChannel {
    Phone = Phone,
    Email = Email,
    Meeting = Meeting,
    Chat = Chat,
    SupportTicket = SupportTicket,
});

proto_enum!(ClassSource => ClassSource {
    Rule = Rule,
    Override = Override,
});

proto_enum!(HistorySource => HistorySource {
    Rule = Rule,
    Override = Override,
    PolicyChange = PolicyChange,
    Schedule = Schedule,
});

/// Parses a dimension. `DIMENSION_UNSPECIFIED` is a violation when `required`, else `None`; a
/// number the proto does not define is always a violation.
pub fn dimension_from_proto(v: &mut Violations, path: &str, raw: i32, required: bool) -> Option<Dimension> {
    let names = Dimension::ALL
        .iter()
        .map(|d| format!("DIMENSION_{}", d.name()))
        .collect::<Vec<_>>()
        .join(", ");
    if required {
        enum_required(v, path, raw, &format!("is required: one of {names}"))
    } else {
        enum_optional(v, path, raw)
    }
}

/// The proto form of one value of one dimension: the oneof field of its dimension set.
pub fn class_value_to_proto(value: ClassValue) -> pb::ClassValue {
    use pb::class_value::Value;
    let value = match value {
        ClassValue::RankTier(x) => Value::RankTier(x.to_number()),
        ClassValue::ValueTier(x) => Value::ValueTier(x.to_number()),
        ClassValue::LifecycleStage(x) => Value::LifecycleStage(x.to_number()),
        ClassValue::Behaviour(x) => Value::Behaviour(x.to_number()),
        ClassValue::SizeSegment(x) => Value::SizeSegment(x.to_number()),
        ClassValue::Grade(x) => Value::Grade(x.to_number()),
    };
    pb::ClassValue { value: Some(value) }
}

/// What a class value must hold.
const ONE_VALUE: &str = "must name one value of one dimension";

/// Parses one value of one dimension. An absent message, or one with no field of the oneof set,
/// is a violation at `path` when `required` and `None` otherwise. A set field holding its
/// `*_UNSPECIFIED` value or an unknown number is always a violation, at `{path}.{field}` (e.g.
/// `value.grade`).
pub fn class_value_from_proto(
    v: &mut Violations,
    path: &str,
    raw: Option<&pb::ClassValue>,
    required: bool,
) -> Option<ClassValue> {
    use pb::class_value::Value;
    let Some(value) = raw.and_then(|&pb::ClassValue { value }| value) else {
        if required {
            v.add(path, ONE_VALUE);
        }
        return None;
    };
    match value {
        Value::RankTier(n) => enum_required(v, &format!("{path}.rank_tier"), n, ONE_VALUE).map(ClassValue::RankTier),
        Value::ValueTier(n) => enum_required(v, &format!("{path}.value_tier"), n, ONE_VALUE).map(ClassValue::ValueTier),
        Value::LifecycleStage(n) => {
            enum_required(v, &format!("{path}.lifecycle_stage"), n, ONE_VALUE).map(ClassValue::LifecycleStage)
        }
        Value::Behaviour(n) => enum_required(v, &format!("{path}.behaviour"), n, ONE_VALUE).map(ClassValue::Behaviour),
        Value::SizeSegment(n) => {
            enum_required(v, &format!("{path}.size_segment"), n, ONE_VALUE).map(ClassValue::SizeSegment)
        }
        Value::Grade(n) => enum_required(v, &format!("{path}.grade"), n, ONE_VALUE).map(ClassValue::Grade),
    }
}

/// Parses a required interaction channel: `INTERACTION_CHANNEL_UNSPECIFIED` and unknown numbers
/// are violations.
pub fn channel_from_proto(v: &mut Violations, path: &str, raw: i32) -> Option<InteractionChannel> {
    let names = InteractionChannel::ALL
        .iter()
        .map(|c| format!("INTERACTION_CHANNEL_{}", c.name()))
        .collect::<Vec<_>>()
        .join(", ");
    enum_required(v, path, raw, &format!("is required: one of {names}"))
}

// ---------------------------------------------------------------------------------------------
// Money
// ---------------------------------------------------------------------------------------------

/// Micros in one unit.
const MICROS_PER_UNIT: i64 = 1_000_000;

/// Nanos in one micro.
const NANOS_PER_MICRO: i64 = 1_000;

/// The largest `nanos` magnitude of a `google.type.Money`.
const MAX_NANOS: i32 = 999_999_999;

/// `nanos` must be a multiple of this: at most 6 decimal places (micros, as [`Money`] holds).
const NANOS_STEP: i32 = 1_000;

/// Amounts must be less than this many units in absolute value.
const MAX_UNITS_EXCLUSIVE: i64 = 1_000_000_000_000;

/// The reporting currency money is parsed against, and whether (and with which code) a request
/// sent an amount in another currency.
///
/// Create one per request with [`MoneyCheck::new`] and pass it to every money parse of that
/// request. Afterwards, when [`mismatch`](Self::mismatch) is set, the violations hold a
/// `….currency_code` violation, and a server fails the request with INVALID_ARGUMENT, the
/// `BadRequest` and the `CURRENCY_MISMATCH` error info.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoneyCheck<'a> {
    /// The deployment's reporting currency, an ISO 4217 code such as `EUR`.
    pub currency: &'a str,
    /// Whether some amount was not in the reporting currency (or had no currency code).
    pub mismatch: bool,
    /// The first currency code sent that was not the reporting currency (empty when an amount
    /// came without one); `Some` exactly when `mismatch` is set.
    pub sent: Option<String>,
}

impl<'a> MoneyCheck<'a> {
    /// A check against `currency` that has seen no mismatch yet.
    pub fn new(currency: &'a str) -> Self {
        Self {
            currency,
            mismatch: false,
            sent: None,
        }
    }

    /// Records that an amount came in `code` rather than the reporting currency.
    fn record_mismatch(&mut self, code: &str) {
        self.mismatch = true;
        if self.sent.is_none() {
            self.sent = Some(shorten(code));
        }
    }
}

/// What a customer's money and window are shown in.
#[derive(Debug, Clone, Copy)]
pub struct Reporting<'a> {
    /// The reporting currency.
    pub currency: &'a str,
    /// The active policy's window, in days.
    pub window_days: u32,
}

/// The proto form of an amount in the reporting currency `currency`: whole `units` and the rest
/// in `nanos`, both with the sign of the amount (as `google.type.Money` requires).
pub fn money_to_proto(money: Money, currency: &str) -> gtype::Money {
    let micros = money.micros();
    let nanos = (micros % MICROS_PER_UNIT) * NANOS_PER_MICRO;
    gtype::Money {
        currency_code: currency.to_owned(),
        units: micros / MICROS_PER_UNIT,
        // |micros % 1_000_000| * 1000 < 10^9, so this always fits.
        nanos: i32::try_from(nanos).unwrap_or_default(),
    }
}

/// Parses an amount of money under `path`. An absent amount is a violation when `required`,
/// else `None`. Violations, each under its field:
/// - `{path}.currency_code` empty or not the reporting currency: "must be {currency}, the
///   deployment's reporting currency (got {got})" (`got` is `none` for an empty code), and
///   `check` records the mismatch (and the code sent, the first one only);
/// - `{path}.nanos` outside ±999,999,999, of the other sign than `units`, or not a multiple of
///   1,000 (more than 6 decimal places);
/// - `{path}.units` of 10^12 or more in absolute value.
///
/// `None` whenever a violation was recorded.
pub fn money_from_proto(
    v: &mut Violations,
    path: &str,
    raw: Option<&gtype::Money>,
    check: &mut MoneyCheck<'_>,
    required: bool,
) -> Option<Money> {
    let Some(&gtype::Money {
        ref currency_code,
        units,
        nanos,
    }) = raw
    else {
        if required {
            v.add(
                path,
                format!(
                    "is required: an amount in {}, the deployment's reporting currency",
                    check.currency
                ),
            );
        }
        return None;
    };
    let mut valid = true;
    if currency_code != check.currency {
        let got = if currency_code.is_empty() {
            "none".to_owned()
        } else {
            shorten(currency_code)
        };
        v.add(
            format!("{path}.currency_code"),
            format!(
                "must be {}, the deployment's reporting currency (got {got})",
                check.currency
            ),
        );
        check.record_mismatch(currency_code);
        valid = false;
    }
    if !(-MAX_NANOS..=MAX_NANOS).contains(&nanos) {
        v.add(format!("{path}.nanos"), "must be between -999,999,999 and 999,999,999");
        valid = false;
    } else if (units > 0 && nanos < 0) || (units < 0 && nanos > 0) {
        v.add(format!("{path}.nanos"), "must have the same sign as units");
        valid = false;
    } else if nanos % NANOS_STEP != 0 {
        v.add(
            format!("{path}.nanos"),
            "must be a multiple of 1,000: amounts have at most 6 decimal places",
        );
        valid = false;
    }
    if units.unsigned_abs() >= MAX_UNITS_EXCLUSIVE.unsigned_abs() {
        v.add(
            format!("{path}.units"),
            "must be less than 1,000,000,000,000 in absolute value",
        );
        valid = false;
    }
    if !valid {
        return None;
    }
    // |units| < 10^12 and |nanos| < 10^9, so the micros are below 10^18 < i64::MAX.
    let micros = units * MICROS_PER_UNIT + i64::from(nanos) / NANOS_PER_MICRO;
    Some(Money::from_micros(micros))
}

// ---------------------------------------------------------------------------------------------
// Service plans
// ---------------------------------------------------------------------------------------------

/// The proto form of a non-negative duration (saturating at `i64::MAX` seconds).
fn duration_to_proto(duration: Duration) -> prost_types::Duration {
    prost_types::Duration {
        seconds: i64::try_from(duration.as_secs()).unwrap_or(i64::MAX),
        // Below 10^9, so this always fits.
        nanos: i32::try_from(duration.subsec_nanos()).unwrap_or_default(),
    }
}

/// Parses a required duration that must not be negative (zero passes: whether it must be
/// positive is the domain's rule).
fn duration_from_proto(v: &mut Violations, path: &str, raw: Option<&prost_types::Duration>) -> Option<Duration> {
    let Some(&prost_types::Duration { seconds, nanos }) = raw else {
        v.add(path, "is required: a positive duration");
        return None;
    };
    if !(-MAX_NANOS..=MAX_NANOS).contains(&nanos) {
        v.add(path, "must have nanos between -999,999,999 and 999,999,999");
        return None;
    }
    if (seconds > 0 && nanos < 0) || (seconds < 0 && nanos > 0) {
        v.add(path, "must have seconds and nanos of the same sign");
        return None;
    }
    if let (Ok(seconds), Ok(nanos)) = (u64::try_from(seconds), u32::try_from(nanos)) {
        return Some(Duration::new(seconds, nanos));
    }
    v.add(path, "must be positive");
    None
}

/// The proto form of a service plan.
pub fn service_plan_to_proto(plan: &ServicePlan) -> pb::ServicePlan {
    pb::ServicePlan {
        name: plan.name.clone(),
        dedicated_advisor: plan.dedicated_advisor,
        response_time: Some(duration_to_proto(plan.response_time)),
        review_interval: Some(duration_to_proto(plan.review_interval)),
    }
}

/// Parses a required service plan under `path`: it must be present, and so must its durations,
/// which must not be negative. The name and zero durations are left to
/// [`ClassificationPolicy::violations`].
pub fn service_plan_from_proto(v: &mut Violations, path: &str, raw: Option<&pb::ServicePlan>) -> Option<ServicePlan> {
    let Some(pb::ServicePlan {
        name,
        dedicated_advisor,
        response_time,
        review_interval,
    }) = raw
    else {
        v.add(
            path,
            "is required: a service plan with name, dedicated_advisor, response_time and review_interval",
        );
        return None;
    };
    let response_time = duration_from_proto(v, &format!("{path}.response_time"), response_time.as_ref());
    let review_interval = duration_from_proto(v, &format!("{path}.review_interval"), review_interval.as_ref());
    Some(ServicePlan {
        name: name.clone(),
        dedicated_advisor: *dedicated_advisor,
        response_time: response_time?,
        review_interval: review_interval?,
    })
}

// ---------------------------------------------------------------------------------------------
// Policies
// ---------------------------------------------------------------------------------------------

/// A domain count as a proto `int32`, saturating (the domain's limits keep counts far below).
fn int32(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// A domain count as a proto `int64`, saturating.
fn int64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Parses an `int32` field that must not be negative.
fn non_negative(v: &mut Violations, path: String, raw: i32) -> Option<u32> {
    let parsed = u32::try_from(raw).ok();
    if parsed.is_none() {
        v.add(path, "must not be negative");
    }
    parsed
}

/// The number of cut points every cut list holds.
const CUTS: usize = 4;

/// Checks that a cut list at `path` has exactly [`CUTS`] entries and parses each with `parse`
/// (given the entry's path).
fn cuts<R, T: Copy>(
    v: &mut Violations,
    path: &str,
    raw: &[R],
    mut parse: impl FnMut(&mut Violations, String, &R) -> Option<T>,
) -> Option<[T; CUTS]> {
    let parsed: Vec<Option<T>> = raw
        .iter()
        .enumerate()
        .map(|(i, r)| parse(v, format!("{path}[{i}]"), r))
        .collect();
    if raw.len() != CUTS {
        v.add(path, format!("must hold exactly {CUTS} cut points, got {}", raw.len()));
        return None;
    }
    let values: Option<Vec<T>> = parsed.into_iter().collect();
    values.and_then(|values| <[T; CUTS]>::try_from(values).ok())
}

/// The proto form of a policy, its amounts in `currency`.
pub fn policy_to_proto(policy: &ClassificationPolicy, currency: &str) -> pb::ClassificationPolicy {
    let money = |m: Money| money_to_proto(m, currency);
    pb::ClassificationPolicy {
        window_days: int32(policy.window_days),
        value_medium_min: Some(money(policy.value_medium_min)),
        value_high_min: Some(money(policy.value_high_min)),
        new_days: int32(policy.new_days),
        dormant_after_days: int32(policy.dormant_after_days),
        churn_after_days: int32(policy.churn_after_days),
        occasional_min_orders: int32(policy.occasional_min_orders),
        frequent_min_orders: int32(policy.frequent_min_orders),
        size_small_min: int32(policy.size_small_min),
        size_mid_market_min: int32(policy.size_mid_market_min),
        size_enterprise_min: int32(policy.size_enterprise_min),
        recency_days_cuts: policy.recency_days_cuts.iter().copied().map(int32).collect(),
        frequency_cuts: policy.frequency_cuts.iter().copied().map(int32).collect(),
        monetary_cuts: policy.monetary_cuts.iter().copied().map(money).collect(),
        recency_weight: int32(policy.recency_weight),
        frequency_weight: int32(policy.frequency_weight),
        monetary_weight: int32(policy.monetary_weight),
        key_account_bonus: int32(policy.key_account_bonus),
        executive_bonus: int32(policy.executive_bonus),
        grade_key_min_score: int32(policy.grade_key_min_score),
        grade_vip_min_score: int32(policy.grade_vip_min_score),
        executive_keywords: policy.executive_keywords.clone(),
        middle_keywords: policy.middle_keywords.clone(),
        vip_plan: Some(service_plan_to_proto(&policy.vip_plan)),
        key_plan: Some(service_plan_to_proto(&policy.key_plan)),
        standard_plan: Some(service_plan_to_proto(&policy.standard_plan)),
        potential_plan: Some(service_plan_to_proto(&policy.potential_plan)),
    }
}

/// Parses a required policy under `path` (`policy` in requests, which is the prefix
/// [`ClassificationPolicy::violations`] uses too). Checks structure only: the policy, its amounts
/// and its plans present; no `int32` negative; each cut list exactly 4 entries; amounts valid
/// and in `money`'s currency. A field left zero or empty passes here and is reported by
/// [`ClassificationPolicy::violations`], which the caller runs on the result (no default is
/// filled in). `None` when any violation was recorded here.
pub fn policy_from_proto(
    v: &mut Violations,
    path: &str,
    raw: Option<&pb::ClassificationPolicy>,
    money: &mut MoneyCheck<'_>,
) -> Option<ClassificationPolicy> {
    let Some(pb::ClassificationPolicy {
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
        vip_plan,
        key_plan,
        standard_plan,
        potential_plan,
        executive_keywords,
        middle_keywords,
    }) = raw
    else {
        v.add(path, "is required: a classification policy with every field set");
        return None;
    };
    let at = |field: &str| format!("{path}.{field}");
    let count = |v: &mut Violations, field: &str, raw: i32| non_negative(v, at(field), raw);

    let window_days = count(v, "window_days", *window_days);
    let value_medium_min = money_from_proto(v, &at("value_medium_min"), value_medium_min.as_ref(), money, true);
    let value_high_min = money_from_proto(v, &at("value_high_min"), value_high_min.as_ref(), money, true);
    let new_days = count(v, "new_days", *new_days);
    let dormant_after_days = count(v, "dormant_after_days", *dormant_after_days);
    let churn_after_days = count(v, "churn_after_days", *churn_after_days);
    let occasional_min_orders = count(v, "occasional_min_orders", *occasional_min_orders);
    let frequent_min_orders = count(v, "frequent_min_orders", *frequent_min_orders);
    let size_small_min = count(v, "size_small_min", *size_small_min);
    let size_mid_market_min = count(v, "size_mid_market_min", *size_mid_market_min);
    let size_enterprise_min = count(v, "size_enterprise_min", *size_enterprise_min);
    let recency_days_cuts = cuts(v, &at("recency_days_cuts"), recency_days_cuts, |v, path, n| {
        non_negative(v, path, *n)
    });
    let frequency_cuts = cuts(v, &at("frequency_cuts"), frequency_cuts, |v, path, n| {
        non_negative(v, path, *n)
    });
    let monetary_cuts = cuts(v, &at("monetary_cuts"), monetary_cuts, |v, path, m| {
        money_from_proto(v, &path, Some(m), money, true)
    });
    let recency_weight = count(v, "recency_weight", *recency_weight);
    let frequency_weight = count(v, "frequency_weight", *frequency_weight);
    let monetary_weight = count(v, "monetary_weight", *monetary_weight);
    let key_account_bonus = count(v, "key_account_bonus", *key_account_bonus);
    let executive_bonus = count(v, "executive_bonus", *executive_bonus);
    let grade_key_min_score = count(v, "grade_key_min_score", *grade_key_min_score);
    let grade_vip_min_score = count(v, "grade_vip_min_score", *grade_vip_min_score);
    let vip_plan = service_plan_from_proto(v, &at("vip_plan"), vip_plan.as_ref());
    let key_plan = service_plan_from_proto(v, &at("key_plan"), key_plan.as_ref());
    let standard_plan = service_plan_from_proto(v, &at("standard_plan"), standard_plan.as_ref());
    let potential_plan = service_plan_from_proto(v, &at("potential_plan"), potential_plan.as_ref());

    Some(ClassificationPolicy {
        window_days: window_days?,
        value_medium_min: value_medium_min?,
        value_high_min: value_high_min?,
        new_days: new_days?,
        dormant_after_days: dormant_after_days?,
        churn_after_days: churn_after_days?,
        occasional_min_orders: occasional_min_orders?,
        frequent_min_orders: frequent_min_orders?,
        size_small_min: size_small_min?,
        size_mid_market_min: size_mid_market_min?,
        size_enterprise_min: size_enterprise_min?,
        recency_days_cuts: recency_days_cuts?,
        frequency_cuts: frequency_cuts?,
        monetary_cuts: monetary_cuts?,
        recency_weight: recency_weight?,
        frequency_weight: frequency_weight?,
        monetary_weight: monetary_weight?,
        key_account_bonus: key_account_bonus?,
        executive_bonus: executive_bonus?,
        grade_key_min_score: grade_key_min_score?,
        grade_vip_min_score: grade_vip_min_score?,
        executive_keywords: executive_keywords.clone(),
        middle_keywords: middle_keywords.clone(),
        vip_plan: vip_plan?,
        key_plan: key_plan?,
        standard_plan: standard_plan?,
        potential_plan: potential_plan?,
    })
}

/// The proto form of a stored policy version, its amounts in `currency`.
pub fn policy_version_to_proto(version: &PolicyVersion, currency: &str) -> pb::PolicyVersion {
    pb::PolicyVersion {
        name: version.version.resource_name(),
        version: version.version.get(),
        policy: Some(policy_to_proto(&version.policy, currency)),
        description: version.description.clone(),
        active: version.active,
        create_time: Some(timestamp(version.create_time)),
        creator: version
            .creator
            .as_ref()
            .map(|c| c.as_str().to_owned())
            .unwrap_or_default(),
        activate_time: version.activate_time.map(timestamp),
    }
}

/// A policy resource name as a request gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyName {
    /// `policies/active`: whichever version is active.
    Active,
    /// `policies/{version}`: one stored version.
    Version(PolicyVersionId),
}

/// The collection prefix of policy version names.
const POLICIES: &str = "policies/";

/// Parses a policy name: `policies/active` or `policies/{version}` with a version of 1 or more
/// written in plain decimal digits (no sign, no leading zero). Empty or malformed is a violation
/// under `path`. A request that takes only numbered versions matches out
/// [`PolicyName::Active`] itself.
pub fn policy_version_name(v: &mut Violations, path: &str, raw: &str) -> Option<PolicyName> {
    if raw.trim().is_empty() {
        v.add(
            path,
            "is required: a policy resource name `policies/active` or `policies/{version}`",
        );
        return None;
    }
    let parsed = raw.strip_prefix(POLICIES).and_then(|rest| {
        if rest == "active" {
            return Some(PolicyName::Active);
        }
        let digits = !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()) && !rest.starts_with('0');
        if !digits {
            return None;
        }
        rest.parse::<i64>()
            .ok()
            .map(|n| PolicyName::Version(PolicyVersionId::new(n)))
    });
    if parsed.is_none() {
        v.add(
            path,
            "must be a policy resource name `policies/active` or `policies/{version}` with a version of 1 or more",
        );
    }
    parsed
}

// ---------------------------------------------------------------------------------------------
// Classifications and activity
// ---------------------------------------------------------------------------------------------

fn override_to_proto(o: &ClassOverride) -> pb::ClassOverride {
    pb::ClassOverride {
        value: Some(class_value_to_proto(o.value)),
        reason: o.reason.clone(),
        actor: o.actor.as_str().to_owned(),
        create_time: Some(timestamp(o.create_time)),
        expire_time: o.expire_time.map(timestamp),
    }
}

fn dimension_class_to_proto(class: &DimensionClass, policy_version: PolicyVersionId) -> pb::DimensionClass {
    pb::DimensionClass {
        value: Some(class_value_to_proto(class.value)),
        source: class.source.to_number(),
        reasons: class.reasons.clone(),
        policy_version: policy_version.get(),
        since: Some(timestamp(class.since)),
        r#override: class.override_.as_ref().map(override_to_proto),
        rule_value: Some(class_value_to_proto(class.rule_value)),
    }
}

fn rfm_to_proto(rfm: Rfm) -> pb::Rfm {
    pb::Rfm {
        recency: i32::from(rfm.recency),
        frequency: i32::from(rfm.frequency),
        monetary: i32::from(rfm.monetary),
    }
}

/// The proto form of a customer's classification.
pub fn classification_to_proto(c: &Classification) -> pb::Classification {
    let class = |d: Dimension| Some(dimension_class_to_proto(c.get(d), c.policy_version));
    pb::Classification {
        rank_tier: class(Dimension::RankTier),
        value_tier: class(Dimension::ValueTier),
        lifecycle_stage: class(Dimension::LifecycleStage),
        behaviour: class(Dimension::Behaviour),
        size_segment: class(Dimension::SizeSegment),
        grade: class(Dimension::Grade),
        rfm: Some(rfm_to_proto(c.rfm)),
        score: i32::from(c.score),
        service_plan: Some(service_plan_to_proto(&c.service_plan)),
        policy_version: c.policy_version.get(),
        classify_time: Some(timestamp(c.classify_time)),
    }
}

/// The proto form of a customer's purchase aggregates, `window_days` being the active policy's
/// window and `currency` the reporting currency.
pub fn activity_to_proto(activity: &ActivitySummary, window_days: u32, currency: &str) -> pb::ActivitySummary {
    pb::ActivitySummary {
        window_order_count: int32(activity.window_orders),
        window_revenue: Some(money_to_proto(activity.window_revenue, currency)),
        first_purchase_time: activity.first_purchase.map(timestamp),
        last_purchase_time: activity.last_purchase.map(timestamp),
        window_days: int32(window_days),
    }
}

/// The proto form of a recorded purchase, its amount in `currency`.
pub fn purchase_to_proto(purchase: &Purchase, currency: &str) -> pb::Purchase {
    pb::Purchase {
        name: purchase.resource_name(),
        order_ref: purchase.order_ref.as_str().to_owned(),
        amount: Some(money_to_proto(purchase.amount, currency)),
        occur_time: Some(timestamp(purchase.occurred_at)),
        record_time: Some(timestamp(purchase.recorded_at)),
        recorder: purchase.recorded_by.as_str().to_owned(),
    }
}

/// The proto form of a recorded interaction.
pub fn interaction_to_proto(interaction: &Interaction) -> pb::Interaction {
    pb::Interaction {
        name: interaction.resource_name(),
        channel: interaction.channel.to_number(),
        occur_time: Some(timestamp(interaction.occurred_at)),
        note: interaction.note.clone(),
        record_time: Some(timestamp(interaction.recorded_at)),
        recorder: interaction.recorded_by.as_str().to_owned(),
    }
}

// ---------------------------------------------------------------------------------------------
// History and statistics
// ---------------------------------------------------------------------------------------------

/// The proto form of a history row, named `customers/{customer}/classificationHistory/{id}`.
/// `actor` is empty when the daily run caused the change.
pub fn history_entry_to_proto(entry: &HistoryEntry) -> pb::ClassificationHistoryEntry {
    let customer = customer_name(&entry.customer);
    pb::ClassificationHistoryEntry {
        name: format!("{customer}/classificationHistory/{}", entry.id),
        customer,
        dimension: entry.change.dimension.to_number(),
        from_value: entry.change.from.map(class_value_to_proto),
        to_value: Some(class_value_to_proto(entry.change.to)),
        source: entry.change.source.to_number(),
        policy_version: entry.policy_version.get(),
        actor: entry.actor.as_ref().map(|a| a.as_str().to_owned()).unwrap_or_default(),
        change_time: Some(timestamp(entry.time)),
    }
}

/// The proto form of a segment count. A count of customers not classified yet (`value` `None`,
/// only customers stored before classification existed) has no `value` in the proto, which has
/// no value for "unclassified"; callers that must not show such counts drop them before.
pub fn segment_count_to_proto(count: &SegmentCount) -> pb::SegmentCount {
    pb::SegmentCount {
        dimension: count.dimension.to_number(),
        value: count.value.map(class_value_to_proto),
        department: count
            .department
            .as_ref()
            .map(|d| d.as_str().to_owned())
            .unwrap_or_default(),
        count: int64(count.count),
    }
}

// ---------------------------------------------------------------------------------------------
// Preview and batch runs
// ---------------------------------------------------------------------------------------------

fn class_change_to_proto(change: &ClassChange, reasons: &[String]) -> pb::ClassChange {
    pb::ClassChange {
        dimension: change.dimension.to_number(),
        from_value: change.from.map(class_value_to_proto),
        to_value: Some(class_value_to_proto(change.to)),
        reasons: reasons.to_vec(),
    }
}

fn preview_sample_to_proto(sample: &PreviewSample) -> pb::PreviewSample {
    let mut changes: Vec<&(ClassChange, Vec<String>)> = sample.changes.iter().collect();
    changes.sort_by_key(|(change, _)| change.dimension);
    pb::PreviewSample {
        customer: sample.customer.resource_name(),
        display_name: sample.customer.profile.display_name.as_str().to_owned(),
        changes: changes
            .into_iter()
            .map(|(change, reasons)| class_change_to_proto(change, reasons))
            .collect(),
    }
}

/// The proto form of a preview of the candidate `policy_version` (0 for a policy given in full):
/// one [`pb::DimensionTransitions`] per dimension in the order of `Dimension`, each with its
/// moves ordered by from value and then to value in declaration order (a `from` of `None`, a
/// customer not classified yet, first and without `from_value`); samples with their changes in
/// the order of `Dimension`.
pub fn preview_to_proto(preview: &PolicyPreview, policy_version: i64) -> pb::PreviewPolicyResponse {
    let dimensions = Dimension::ALL
        .into_iter()
        .map(|dimension| pb::DimensionTransitions {
            dimension: dimension.to_number(),
            transitions: preview
                .transitions
                .get(&dimension)
                .into_iter()
                .flatten()
                .filter(|((from, to), count)| **count > 0 && *from != Some(*to))
                .map(|((from, to), count)| pb::ClassTransition {
                    from_value: from.map(class_value_to_proto),
                    to_value: Some(class_value_to_proto(*to)),
                    count: int64(*count),
                })
                .collect(),
        })
        .collect();
    pb::PreviewPolicyResponse {
        dimensions,
        customers_evaluated: int64(preview.evaluated),
        customers_changed: int64(preview.changed),
        samples: preview.samples.iter().map(preview_sample_to_proto).collect(),
        policy_version,
    }
}

/// The proto form of a batch run's progress.
pub fn progress_to_proto(progress: &ReclassifyProgress) -> pb::ReclassifyProgress {
    pb::ReclassifyProgress {
        processed: int64(progress.processed),
        changed: int64(progress.changed),
        total: int64(progress.total),
    }
}

/// The summary of a finished batch run that classified with `policy_version` and took `elapsed`.
pub fn summary_to_proto(report: &ReclassifyReport, policy_version: i64, elapsed: Duration) -> pb::ReclassifySummary {
    let progress = &report.counters;
    pb::ReclassifySummary {
        processed: int64(progress.processed),
        changed: int64(progress.changed),
        history_entries: int64(progress.history_entries),
        policy_version,
        elapsed: Some(duration_to_proto(elapsed)),
        overrides_lapsed: int64(progress.overrides_lapsed),
        revenue_out_of_range: int64(progress.revenue_out_of_range),
        revenue_out_of_range_customers: report
            .revenue_out_of_range
            .iter()
            .map(crm_domain::customer::resource_name)
            .collect(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const EUR: &str = "EUR";

    fn money(units: i64, nanos: i32, currency: &str) -> gtype::Money {
        gtype::Money {
            currency_code: currency.to_owned(),
            units,
            nanos,
        }
    }

    fn parse_money(raw: &gtype::Money) -> (Option<Money>, Violations, Option<String>) {
        let mut v = Violations::new();
        let mut check = MoneyCheck::new(EUR);
        let parsed = money_from_proto(&mut v, "amount", Some(raw), &mut check, true);
        assert_eq!(check.mismatch, check.sent.is_some());
        (parsed, v, check.sent)
    }

    fn fields(v: &Violations) -> Vec<&str> {
        v.as_slice().iter().map(|f| f.field.as_str()).collect()
    }

    #[test]
    fn money_round_trips() {
        for (micros, units, nanos) in [
            (120_000_000_000, 120_000, 0),
            (1_500_000, 1, 500_000_000),
            (-1_750_000, -1, -750_000_000),
            (100, 0, 100_000),
            (-500_000, 0, -500_000_000),
            (0, 0, 0),
            (999_999_999_999_999_900, 999_999_999_999, 999_900_000),
            // Six decimal places: one micro, and the largest amount.
            (1, 0, 1_000),
            (-10, 0, -10_000),
            (999_999_999_999_999_999, 999_999_999_999, 999_999_000),
            (-999_999_999_999_999_999, -999_999_999_999, -999_999_000),
        ] {
            let proto = money_to_proto(Money::from_micros(micros), EUR);
            assert_eq!(proto, money(units, nanos, EUR), "{micros}");
            let (parsed, v, mismatch) = parse_money(&proto);
            assert!(v.is_empty(), "{v}");
            assert_eq!(mismatch, None);
            assert_eq!(parsed, Some(Money::from_micros(micros)));
        }
    }

    #[test]
    fn money_to_proto_keeps_signs_consistent_below_a_unit() {
        let proto = money_to_proto(Money::from_micros(-1), EUR);
        assert_eq!((proto.units, proto.nanos), (0, -1000));
        let proto = money_to_proto(Money::from_micros(-2_000_001), EUR);
        assert_eq!((proto.units, proto.nanos), (-2, -1000));
    }

    #[test]
    fn currency_mismatch_is_a_violation_and_remembered() {
        let (parsed, v, mismatch) = parse_money(&money(10, 0, "USD"));
        assert_eq!(parsed, None);
        assert_eq!(fields(&v), ["amount.currency_code"]);
        assert_eq!(
            v.as_slice()[0].description,
            "must be EUR, the deployment's reporting currency (got USD)"
        );
        assert_eq!(mismatch.as_deref(), Some("USD"));

        let (parsed, v, mismatch) = parse_money(&money(10, 0, ""));
        assert_eq!(parsed, None);
        assert_eq!(fields(&v), ["amount.currency_code"]);
        assert_eq!(mismatch.as_deref(), Some(""));
    }

    #[test]
    fn mismatch_keeps_the_first_currency() {
        let mut v = Violations::new();
        let mut check = MoneyCheck::new(EUR);
        money_from_proto(&mut v, "a", Some(&money(1, 0, "USD")), &mut check, true);
        money_from_proto(&mut v, "b", Some(&money(1, 0, "CNY")), &mut check, true);
        assert!(check.mismatch);
        assert_eq!(check.sent.as_deref(), Some("USD"));
        assert_eq!(fields(&v), ["a.currency_code", "b.currency_code"]);
    }

    #[test]
    fn invalid_amounts_are_violations() {
        for (raw, field) in [
            (money(1, -1, EUR), "amount.nanos"),
            (money(-1, 1, EUR), "amount.nanos"),
            (money(0, 1_000_000_000, EUR), "amount.nanos"),
            (money(0, 1_500, EUR), "amount.nanos"),
            (money(0, 999, EUR), "amount.nanos"),
            (money(0, 1, EUR), "amount.nanos"),
            (money(1_000_000_000_000, 0, EUR), "amount.units"),
            (money(i64::MIN, 0, EUR), "amount.units"),
            (money(i64::MAX, 900_000_000, EUR), "amount.units"),
        ] {
            let (parsed, v, _) = parse_money(&raw);
            assert_eq!(parsed, None, "{raw:?}");
            assert_eq!(fields(&v), [field], "{raw:?}");
        }
    }

    #[test]
    fn missing_money_is_a_violation_only_when_required() {
        let mut v = Violations::new();
        let mut check = MoneyCheck::new(EUR);
        assert_eq!(money_from_proto(&mut v, "amount", None, &mut check, false), None);
        assert!(v.is_empty());
        assert_eq!(money_from_proto(&mut v, "amount", None, &mut check, true), None);
        assert_eq!(fields(&v), ["amount"]);
        assert!(!check.mismatch);
    }

    #[test]
    fn every_class_value_round_trips() {
        let mut seen = 0;
        for dimension in Dimension::ALL {
            let mut v = Violations::new();
            assert_eq!(
                dimension_from_proto(&mut v, "dimension", dimension.to_number(), true),
                Some(dimension)
            );
            for value in ClassValue::all_of(dimension) {
                let proto = class_value_to_proto(value);
                assert_eq!(class_value_from_proto(&mut v, "value", Some(&proto), true), Some(value));
                seen += 1;
            }
            assert!(v.is_empty(), "{v}");
        }
        assert_eq!(seen, 4 + 4 + 5 + 4 + 5 + 4);
    }

    #[test]
    fn proto_names_match_domain_names() {
        for value in Dimension::ALL.into_iter().flat_map(ClassValue::all_of) {
            let proto = class_value_to_proto(value);
            let name = match proto.value.unwrap() {
                pb::class_value::Value::RankTier(n) => pb::RankTier::try_from(n).unwrap().as_str_name(),
                pb::class_value::Value::ValueTier(n) => pb::ValueTier::try_from(n).unwrap().as_str_name(),
                pb::class_value::Value::LifecycleStage(n) => pb::LifecycleStage::try_from(n).unwrap().as_str_name(),
                pb::class_value::Value::Behaviour(n) => pb::Behaviour::try_from(n).unwrap().as_str_name(),
                pb::class_value::Value::SizeSegment(n) => pb::SizeSegment::try_from(n).unwrap().as_str_name(),
                pb::class_value::Value::Grade(n) => pb::Grade::try_from(n).unwrap().as_str_name(),
            };
            let prefix = value.dimension().field().to_ascii_uppercase();
            assert_eq!(name, format!("{prefix}_{}", value.name()));
        }
    }

    #[test]
    fn bad_class_values_are_violations() {
        use pb::class_value::Value;
        let mut v = Violations::new();
        assert_eq!(class_value_from_proto(&mut v, "value", None, false), None);
        assert_eq!(
            class_value_from_proto(&mut v, "value", Some(&pb::ClassValue { value: None }), false),
            None
        );
        assert!(v.is_empty());

        assert_eq!(class_value_from_proto(&mut v, "value", None, true), None);
        let unspecified = pb::ClassValue {
            value: Some(Value::Grade(0)),
        };
        assert_eq!(class_value_from_proto(&mut v, "value", Some(&unspecified), false), None);
        let unknown = pb::ClassValue {
            value: Some(Value::Behaviour(42)),
        };
        assert_eq!(class_value_from_proto(&mut v, "value", Some(&unknown), true), None);
        assert_eq!(fields(&v), ["value", "value.grade", "value.behaviour"]);
        assert_eq!(v.as_slice()[0].description, ONE_VALUE);
        assert_eq!(v.as_slice()[1].description, ONE_VALUE);
    }

    #[test]
    fn grades_map_both_ways() {
        for grade in Grade::ALL {
            assert_eq!(Grade::from_number(grade.to_number()), Some(grade));
        }
        assert_eq!(Grade::from_number(0), None);
        assert_eq!(Grade::from_number(9), None);
    }

    #[test]
    fn dimensions_and_channels_parse() {
        let mut v = Violations::new();
        assert_eq!(dimension_from_proto(&mut v, "dimension", 0, false), None);
        assert!(v.is_empty());
        assert_eq!(dimension_from_proto(&mut v, "dimension", 0, true), None);
        let undefined = i32::try_from(Dimension::COUNT).unwrap() + 1;
        assert_eq!(dimension_from_proto(&mut v, "dimension", undefined, false), None);
        assert_eq!(fields(&v), ["dimension", "dimension"]);

        let mut v = Violations::new();
        for channel in InteractionChannel::ALL {
            assert_eq!(
                channel_from_proto(&mut v, "channel", channel.to_number()),
                Some(channel)
            );
        }
        assert!(v.is_empty());
        assert_eq!(channel_from_proto(&mut v, "channel", 0), None);
        assert_eq!(channel_from_proto(&mut v, "channel", 99), None);
        assert_eq!(fields(&v), ["channel", "channel"]);
    }

    #[test]
    fn default_policy_round_trips() {
        let policy = ClassificationPolicy::default();
        let proto = policy_to_proto(&policy, EUR);
        let mut v = Violations::new();
        let mut check = MoneyCheck::new(EUR);
        let parsed = policy_from_proto(&mut v, "policy", Some(&proto), &mut check);
        assert!(v.is_empty(), "{v}");
        assert!(!check.mismatch);
        assert_eq!(parsed, Some(policy));
    }

    #[test]
    fn structural_policy_problems_are_violations() {
        let mut proto = policy_to_proto(&ClassificationPolicy::default(), EUR);
        proto.window_days = -1;
        proto.frequency_cuts = vec![1, 2, 3];
        proto.recency_days_cuts[1] = -5;
        proto.monetary_cuts[2].currency_code = "USD".to_owned();
        proto.value_high_min = None;
        proto.key_plan = None;
        proto.vip_plan.as_mut().unwrap().response_time = Some(prost_types::Duration { seconds: -1, nanos: 0 });
        proto.standard_plan.as_mut().unwrap().review_interval = None;
        // Zero is left to ClassificationPolicy::violations.
        proto.new_days = 0;

        let mut v = Violations::new();
        let mut check = MoneyCheck::new(EUR);
        assert_eq!(policy_from_proto(&mut v, "policy", Some(&proto), &mut check), None);
        assert_eq!(
            fields(&v),
            [
                "policy.window_days",
                "policy.value_high_min",
                "policy.recency_days_cuts[1]",
                "policy.frequency_cuts",
                "policy.monetary_cuts[2].currency_code",
                "policy.vip_plan.response_time",
                "policy.key_plan",
                "policy.standard_plan.review_interval",
            ]
        );
        assert_eq!(v.as_slice()[0].description, "must not be negative");
        assert_eq!(check.sent.as_deref(), Some("USD"));

        let mut v = Violations::new();
        assert_eq!(policy_from_proto(&mut v, "policy", None, &mut check), None);
        assert_eq!(fields(&v), ["policy"]);
    }

    #[test]
    fn zero_fields_pass_structure_and_fail_the_domain_rules() {
        let mut proto = policy_to_proto(&ClassificationPolicy::default(), EUR);
        proto.window_days = 0;
        let mut v = Violations::new();
        let parsed = policy_from_proto(&mut v, "policy", Some(&proto), &mut MoneyCheck::new(EUR)).unwrap();
        assert!(v.is_empty());
        assert_eq!(fields(&parsed.violations()), ["policy.window_days"]);
    }

    #[test]
    fn policy_names_parse() {
        let mut v = Violations::new();
        assert_eq!(
            policy_version_name(&mut v, "name", "policies/active"),
            Some(PolicyName::Active)
        );
        assert_eq!(
            policy_version_name(&mut v, "name", "policies/1"),
            Some(PolicyName::Version(PolicyVersionId::new(1)))
        );
        assert_eq!(
            policy_version_name(&mut v, "name", "policies/42"),
            Some(PolicyName::Version(PolicyVersionId::new(42)))
        );
        assert!(v.is_empty());
        for bad in [
            "",
            "policies/",
            "policies/0",
            "policies/-1",
            "policies/+3",
            "policies/03",
            "policies/x",
            "policies/1/x",
            "policies/Active",
            "policy/1",
            "1",
            "policies/99999999999999999999",
        ] {
            let mut v = Violations::new();
            assert_eq!(policy_version_name(&mut v, "name", bad), None, "{bad}");
            assert_eq!(fields(&v), ["name"], "{bad}");
        }
    }

    #[test]
    fn summaries_carry_every_counter() {
        let progress = ReclassifyProgress {
            processed: 10,
            changed: 4,
            total: 12,
            history_entries: 7,
            overrides_lapsed: 1,
            revenue_out_of_range: 2,
        };
        assert_eq!(
            progress_to_proto(&progress),
            pb::ReclassifyProgress {
                processed: 10,
                changed: 4,
                total: 12
            }
        );
        let report = ReclassifyReport {
            counters: progress,
            revenue_out_of_range: vec![crm_domain::customer::values::CustomerId::parse("acme").unwrap()],
        };
        let summary = summary_to_proto(&report, 3, Duration::from_millis(1500));
        assert_eq!(summary.revenue_out_of_range, 2);
        assert_eq!(summary.revenue_out_of_range_customers, ["customers/acme"]);
        assert_eq!(summary.history_entries, 7);
        assert_eq!(summary.overrides_lapsed, 1);
        assert_eq!(summary.policy_version, 3);
        assert_eq!(
            summary.elapsed,
            Some(prost_types::Duration {
                seconds: 1,
                nanos: 500_000_000
            })
        );
    }

    #[test]
    fn preview_lists_every_dimension_in_order() {
        let mut preview = PolicyPreview::default();
        let grade = preview.transitions.entry(Dimension::Grade).or_default();
        grade.insert(
            (Some(ClassValue::Grade(Grade::Standard)), ClassValue::Grade(Grade::Key)),
            2,
        );
        grade.insert((None, ClassValue::Grade(Grade::Potential)), 1);
        preview.evaluated = 5;
        preview.changed = 3;
        let proto = preview_to_proto(&preview, 0);
        let order: Vec<i32> = proto.dimensions.iter().map(|d| d.dimension).collect();
        let numbers = 1..=i32::try_from(Dimension::COUNT).unwrap();
        assert_eq!(order, numbers.collect::<Vec<_>>());
        let grade = &proto.dimensions[Dimension::Grade.index()].transitions;
        assert_eq!(grade.len(), 2);
        assert_eq!(grade[0].from_value, None);
        assert_eq!(grade[1].count, 2);
        assert!(
            proto
                .dimensions
                .iter()
                .filter(|d| d.dimension != Dimension::Grade.to_number())
                .all(|d| d.transitions.is_empty())
        );
        assert_eq!((proto.customers_evaluated, proto.customers_changed), (5, 3));
    }
}
