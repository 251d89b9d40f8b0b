//! The classification engine: a pure function from a customer's facts, a policy and the time to
//! a value on each dimension, each with the reasons that produced it.

use chrono::{DateTime, Utc};

use super::{
    activity::ActivitySummary,
    dimension::{Behaviour, ClassValue, Dimension, Grade, LifecycleStage, RankTier, SizeSegment, ValueTier},
    policy::ClassificationPolicy,
    record::Rfm,
};
use crate::customer::{CustomerProfile, values::JobRank};

/// What the engine looks at.
#[derive(Clone, Copy, Debug)]
pub struct ClassificationInput<'a> {
    /// The contact's stated rank, if any.
    pub job_rank: Option<JobRank>,
    /// The contact's job title, if any.
    pub job_title: Option<&'a str>,
    /// Head count, if known.
    pub employee_count: Option<u32>,
    /// Strategic importance.
    pub key_account: bool,
    /// The customer said they stopped.
    pub churned: bool,
    /// Purchase aggregates.
    pub activity: ActivitySummary,
}

impl<'a> ClassificationInput<'a> {
    /// The input for a customer with `profile` and `activity`.
    pub fn of(profile: &'a CustomerProfile, activity: ActivitySummary) -> Self {
        Self {
            job_rank: profile.contact.job_rank,
            job_title: profile.contact.job_title.as_ref().map(|t| t.as_str()),
            employee_count: profile.employee_count.map(|c| c.get()),
            key_account: profile.key_account,
            churned: profile.churned,
            activity,
        }
    }
}

/// One dimension's value by the rules, with the reasons.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleClass {
    /// The value.
    pub value: ClassValue,
    /// Why, in words, e.g. "revenue 120,000.00 ≥ value_high_min 100,000.00".
    pub reasons: Vec<String>,
}

/// The engine's answer for one customer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assessment {
    /// One class per dimension, indexed by `Dimension::index`.
    pub classes: [RuleClass; Dimension::COUNT],
    /// The RFM scores.
    pub rfm: Rfm,
    /// The weighted score 0–100.
    pub score: u8,
}

/// Classifies one customer. Total: any input gives an answer, whatever the policy (validated or
/// not) and whatever the timestamps; nothing here panics or overflows.
///
/// "Days ago" is the whole number of days elapsed, `(now - t).num_days()`, and a time after `now`
/// counts as 0 days ago. Every threshold comes from `policy`; the rules are:
///
/// - **Rank tier**: `job_rank` when stated (EXECUTIVE, MIDDLE, FRONTLINE map across). Else, with
///   a job title, the first of `executive_keywords`, then of `middle_keywords`, that the title
///   contains ([`title_contains`]: case-insensitive, whole words for Latin letters and digits,
///   anywhere for CJK; keywords empty after trimming are skipped); a title matching neither is
///   FRONTLINE. No rank and no (non-blank) title: UNKNOWN.
/// - **Value tier**: window revenue ≥ `value_high_min` → HIGH; ≥ `value_medium_min` → MEDIUM;
///   positive → LOW; else NONE.
/// - **Lifecycle stage**: the `churned` flag → CHURNED; never bought (`last_purchase` is `None`)
///   → POTENTIAL; first purchase ≤ `new_days` days ago → NEW; last purchase ≤
///   `dormant_after_days` days ago → ACTIVE; ≤ `churn_after_days` → DORMANT; else CHURNED. (A
///   summary with a last but no first purchase uses the last as the first.)
/// - **Behaviour**: window orders ≥ `frequent_min_orders` → FREQUENT; ≥ `occasional_min_orders`
///   → OCCASIONAL; at least one → ONE_TIME; none → NONE. Under any policy with
///   `occasional_min_orders` ≤ 2 (the default is 2), ONE_TIME is exactly one order; with a higher
///   cut the orders below it are ONE_TIME too rather than NONE, so that more orders never lower
///   the behaviour.
/// - **Size segment**: employee count ≥ `size_enterprise_min` → ENTERPRISE; ≥
///   `size_mid_market_min` → MID_MARKET; ≥ `size_small_min` → SMALL; known but fewer → MICRO;
///   unknown → UNKNOWN.
/// - **RFM**: all 0 when the customer never bought. Otherwise R is 5, 4, 3, 2 when the last
///   purchase is at most `recency_days_cuts[0]`, `[1]`, `[2]`, `[3]` days ago (first match),
///   else 1; F is 5, 4, 3, 2 when window orders are at least `frequency_cuts[3]`, `[2]`, `[1]`,
///   `[0]` (first match), else 1; M likewise with window revenue against `monetary_cuts`.
/// - **Score**: `round(100 × (wR·R + wF·F + wM·M) / (5 × (wR + wF + wM)))` with the policy's
///   weights (0 when they sum to 0, halves rounded up), plus `key_account_bonus` for a key
///   account, plus `executive_bonus` when the rank tier by the rules is EXECUTIVE, capped at 100.
/// - **Grade**: score ≥ `grade_vip_min_score` → VIP; ≥ `grade_key_min_score` → KEY; bought ever
///   → STANDARD; else POTENTIAL; a key account is lifted from STANDARD or POTENTIAL to KEY.
///   The grade's reasons carry the R, F and M scores, the score's breakdown and the deciding cut.
pub fn classify(input: &ClassificationInput<'_>, policy: &ClassificationPolicy, now: DateTime<Utc>) -> Assessment {
    let rank = rank_tier(input, policy);
    let executive = rank.value == ClassValue::RankTier(RankTier::Executive);
    let (rfm, mut grade_reasons) = rfm(&input.activity, policy, now);
    let (score, score_reason) = score(rfm, input.key_account, executive, policy);
    grade_reasons.push(score_reason);
    let grade = grade(score, input, policy, grade_reasons);
    Assessment {
        classes: [
            rank,
            value_tier(&input.activity, policy),
            lifecycle_stage(input, policy, now),
            behaviour(&input.activity, policy),
            size_segment(input.employee_count, policy),
            grade,
        ],
        rfm,
        score,
    }
}

fn rule(value: ClassValue, reasons: Vec<String>) -> RuleClass {
    RuleClass { value, reasons }
}

/// Whole days from `then` to `now`; 0 when `then` is later than `now`.
fn days_since(now: DateTime<Utc>, then: DateTime<Utc>) -> i64 {
    // Both lie within chrono's ±262,000 years, far inside `TimeDelta`'s range: no overflow.
    now.signed_duration_since(then).num_days().max(0)
}

fn days(n: i64) -> String {
    if n == 1 {
        "1 day".to_owned()
    } else {
        format!("{n} days")
    }
}

fn orders(n: u32) -> String {
    if n == 1 {
        "1 order".to_owned()
    } else {
        format!("{n} orders")
    }
}

/// Whether `title` contains `keyword`, ignoring case. Where the keyword begins or ends with a
/// letter or digit of the Latin script (ASCII), that end must sit on a word boundary of the
/// title, so that `CTO` does not match "Director", `COO` not "Coordinator" and `Lead` not
/// "Misleading"; keywords in scripts written without spaces (总经理) match anywhere. A keyword
/// that is empty after trimming matches nothing.
pub fn title_contains(title: &str, keyword: &str) -> bool {
    lowercase_title_contains(&title.to_lowercase(), keyword)
}

/// [`title_contains`] for a title already in lower case.
fn lowercase_title_contains(title: &str, keyword: &str) -> bool {
    let keyword = keyword.trim().to_lowercase();
    if keyword.is_empty() {
        return false;
    }
    let bounded_start = keyword.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    let bounded_end = keyword.chars().next_back().is_some_and(|c| c.is_ascii_alphanumeric());
    title.match_indices(keyword.as_str()).any(|(at, found)| {
        let before = title[..at].chars().next_back();
        let after = title[at + found.len()..].chars().next();
        (!bounded_start || !before.is_some_and(|c| c.is_ascii_alphanumeric()))
            && (!bounded_end || !after.is_some_and(|c| c.is_ascii_alphanumeric()))
    })
}

fn rank_tier(input: &ClassificationInput<'_>, policy: &ClassificationPolicy) -> RuleClass {
    let tier = |tier| ClassValue::RankTier(tier);
    if let Some(rank) = input.job_rank {
        let value = match rank {
            JobRank::Executive => RankTier::Executive,
            JobRank::Middle => RankTier::Middle,
            JobRank::Frontline => RankTier::Frontline,
        };
        return rule(tier(value), vec![format!("job_rank {} stated", rank.name())]);
    }
    let Some(title) = input.job_title.filter(|t| !t.trim().is_empty()) else {
        return rule(tier(RankTier::Unknown), vec!["no job rank or title".to_owned()]);
    };
    let lists = [
        (RankTier::Executive, "executive", &policy.executive_keywords),
        (RankTier::Middle, "middle", &policy.middle_keywords),
    ];
    let lowercase = title.to_lowercase();
    for (value, label, keywords) in lists {
        if let Some(keyword) = keywords.iter().find(|k| lowercase_title_contains(&lowercase, k)) {
            let reason = format!("job title {title:?} contains {label} keyword {:?}", keyword.trim());
            return rule(tier(value), vec![reason]);
        }
    }
    rule(
        tier(RankTier::Frontline),
        vec![format!("job title {title:?} matches no keyword")],
    )
}

fn value_tier(activity: &ActivitySummary, policy: &ClassificationPolicy) -> RuleClass {
    let revenue = activity.window_revenue;
    let (high, medium) = (policy.value_high_min, policy.value_medium_min);
    let (value, reason) = if revenue >= high {
        (
            ValueTier::High,
            format!("window revenue {revenue} ≥ value_high_min {high}"),
        )
    } else if revenue >= medium {
        (
            ValueTier::Medium,
            format!("window revenue {revenue} ≥ value_medium_min {medium} and < value_high_min {high}"),
        )
    } else if revenue.is_positive() {
        (
            ValueTier::Low,
            format!("window revenue {revenue} > 0 and < value_medium_min {medium}"),
        )
    } else {
        (ValueTier::None, format!("window revenue {revenue} is not positive"))
    };
    rule(ClassValue::ValueTier(value), vec![reason])
}

fn lifecycle_stage(input: &ClassificationInput<'_>, policy: &ClassificationPolicy, now: DateTime<Utc>) -> RuleClass {
    let stage = |stage| ClassValue::LifecycleStage(stage);
    if input.churned {
        return rule(
            stage(LifecycleStage::Churned),
            vec!["customer said they stopped (churned)".to_owned()],
        );
    }
    let Some(last) = input.activity.last_purchase else {
        return rule(stage(LifecycleStage::Potential), vec!["no purchase ever".to_owned()]);
    };
    let first = days_since(now, input.activity.first_purchase.unwrap_or(last));
    let last = days_since(now, last);
    let new_days = i64::from(policy.new_days);
    if first <= new_days {
        let reason = format!("first purchase {} ago ≤ new_days {new_days}", days(first));
        return rule(stage(LifecycleStage::New), vec![reason]);
    }
    let not_new = format!("first purchase {} ago > new_days {new_days}", days(first));
    let (dormant, churn) = (policy.dormant_after_days, policy.churn_after_days);
    let (value, reason) = if last <= i64::from(dormant) {
        (
            LifecycleStage::Active,
            format!("last purchase {} ago ≤ dormant_after_days {dormant}", days(last)),
        )
    } else if last <= i64::from(churn) {
        (
            LifecycleStage::Dormant,
            format!(
                "last purchase {} ago > dormant_after_days {dormant} and ≤ churn_after_days {churn}",
                days(last)
            ),
        )
    } else {
        (
            LifecycleStage::Churned,
            format!("last purchase {} ago > churn_after_days {churn}", days(last)),
        )
    };
    rule(stage(value), vec![not_new, reason])
}

fn behaviour(activity: &ActivitySummary, policy: &ClassificationPolicy) -> RuleClass {
    let n = activity.window_orders;
    let (frequent, occasional) = (policy.frequent_min_orders, policy.occasional_min_orders);
    let (value, reason) = if n >= frequent {
        (
            Behaviour::Frequent,
            format!("{} in the window ≥ frequent_min_orders {frequent}", orders(n)),
        )
    } else if n >= occasional {
        (
            Behaviour::Occasional,
            format!(
                "{} in the window ≥ occasional_min_orders {occasional} and < frequent_min_orders {frequent}",
                orders(n)
            ),
        )
    } else if n >= 1 {
        (
            Behaviour::OneTime,
            format!("{} in the window < occasional_min_orders {occasional}", orders(n)),
        )
    } else {
        (Behaviour::None, "no order in the window".to_owned())
    };
    rule(ClassValue::Behaviour(value), vec![reason])
}

fn size_segment(employee_count: Option<u32>, policy: &ClassificationPolicy) -> RuleClass {
    let Some(n) = employee_count else {
        return rule(
            ClassValue::SizeSegment(SizeSegment::Unknown),
            vec!["employee count unknown".to_owned()],
        );
    };
    let (enterprise, mid, small) = (
        policy.size_enterprise_min,
        policy.size_mid_market_min,
        policy.size_small_min,
    );
    let (value, reason) = if n >= enterprise {
        (
            SizeSegment::Enterprise,
            format!("employee count {n} ≥ size_enterprise_min {enterprise}"),
        )
    } else if n >= mid {
        (
            SizeSegment::MidMarket,
            format!("employee count {n} ≥ size_mid_market_min {mid} and < size_enterprise_min {enterprise}"),
        )
    } else if n >= small {
        (
            SizeSegment::Small,
            format!("employee count {n} ≥ size_small_min {small} and < size_mid_market_min {mid}"),
        )
    } else {
        (
            SizeSegment::Micro,
            format!("employee count {n} < size_small_min {small}"),
        )
    };
    rule(ClassValue::SizeSegment(value), vec![reason])
}

/// The R, F and M scores with one reason each (one reason in all for a customer who never
/// bought).
fn rfm(activity: &ActivitySummary, policy: &ClassificationPolicy, now: DateTime<Utc>) -> (Rfm, Vec<String>) {
    let Some(last) = activity.last_purchase else {
        return (Rfm::default(), vec!["no purchase ever: RFM 0/0/0".to_owned()]);
    };
    let mut reasons = Vec::with_capacity(5);

    let ago = days_since(now, last);
    let cuts = policy.recency_days_cuts;
    let within = [(5, 0), (4, 1), (3, 2), (2, 3)]
        .into_iter()
        .map(|(score, i)| (score, i, cuts[i]))
        .find(|(_, _, cut)| ago <= i64::from(*cut));
    let recency = match within {
        Some((score, i, cut)) => {
            reasons.push(format!(
                "R {score}: last purchase {} ago ≤ recency_days_cuts[{i}] {cut}",
                days(ago)
            ));
            score
        }
        None => {
            reasons.push(format!(
                "R 1: last purchase {} ago > recency_days_cuts[3] {}",
                days(ago),
                cuts[3]
            ));
            1
        }
    };

    let n = activity.window_orders;
    let frequency = match at_or_above(policy.frequency_cuts, |cut| n >= cut) {
        Some((score, i, cut)) => {
            reasons.push(format!(
                "F {score}: {} in the window ≥ frequency_cuts[{i}] {cut}",
                orders(n)
            ));
            score
        }
        None => {
            let cut = policy.frequency_cuts[0];
            reasons.push(format!("F 1: {} in the window < frequency_cuts[0] {cut}", orders(n)));
            1
        }
    };

    let revenue = activity.window_revenue;
    let monetary = match at_or_above(policy.monetary_cuts, |cut| revenue >= cut) {
        Some((score, i, cut)) => {
            reasons.push(format!(
                "M {score}: window revenue {revenue} ≥ monetary_cuts[{i}] {cut}"
            ));
            score
        }
        None => {
            let cut = policy.monetary_cuts[0];
            reasons.push(format!("M 1: window revenue {revenue} < monetary_cuts[0] {cut}"));
            1
        }
    };

    (
        Rfm {
            recency,
            frequency,
            monetary,
        },
        reasons,
    )
}

/// The highest score (5 for index 3 down to 2 for index 0) whose cut `reached` says is met, with
/// the index and the cut.
fn at_or_above<T: Copy>(cuts: [T; 4], reached: impl Fn(T) -> bool) -> Option<(u8, usize, T)> {
    [(5, 3), (4, 2), (3, 1), (2, 0)]
        .into_iter()
        .map(|(score, i)| (score, i, cuts[i]))
        .find(|(_, _, cut)| reached(*cut))
}

/// The score 0–100 and the reason that breaks it down.
fn score(rfm: Rfm, key_account: bool, executive: bool, policy: &ClassificationPolicy) -> (u8, String) {
    let (wr, wf, wm) = (
        u64::from(policy.recency_weight),
        u64::from(policy.frequency_weight),
        u64::from(policy.monetary_weight),
    );
    // At most 3 × 5 × (2³² − 1) × 200: far inside u64.
    let weighted = wr * u64::from(rfm.recency) + wf * u64::from(rfm.frequency) + wm * u64::from(rfm.monetary);
    let denominator = 5 * (wr + wf + wm);
    let base = if denominator == 0 {
        0
    } else {
        (200 * weighted + denominator) / (2 * denominator)
    };
    let mut reason = format!(
        "RFM {}/{}/{} weighted {wr}/{wf}/{wm} → {base}",
        rfm.recency, rfm.frequency, rfm.monetary
    );
    if denominator == 0 {
        reason.push_str(" (weights sum to 0)");
    }
    let mut total = base;
    if key_account {
        total += u64::from(policy.key_account_bonus);
        reason.push_str(&format!(", + key account bonus {}", policy.key_account_bonus));
    }
    if executive {
        total += u64::from(policy.executive_bonus);
        reason.push_str(&format!(", + executive bonus {}", policy.executive_bonus));
    }
    if total > 100 {
        reason.push_str(&format!(" = {total}, capped at 100"));
    }
    let score = u8::try_from(total.min(100)).unwrap_or(100);
    (score, format!("score {score} = {reason}"))
}

fn grade(
    score: u8,
    input: &ClassificationInput<'_>,
    policy: &ClassificationPolicy,
    mut reasons: Vec<String>,
) -> RuleClass {
    let (vip, key) = (policy.grade_vip_min_score, policy.grade_key_min_score);
    let purchased = input.activity.has_purchased();
    let (mut value, reason) = if u32::from(score) >= vip {
        (Grade::Vip, format!("score {score} ≥ grade_vip_min_score {vip}"))
    } else if u32::from(score) >= key {
        (
            Grade::Key,
            format!("score {score} ≥ grade_key_min_score {key} and < grade_vip_min_score {vip}"),
        )
    } else if purchased {
        (
            Grade::Standard,
            format!("score {score} < grade_key_min_score {key}, has purchased"),
        )
    } else {
        (
            Grade::Potential,
            format!("score {score} < grade_key_min_score {key}, no purchase ever"),
        )
    };
    reasons.push(reason);
    if input.key_account && matches!(value, Grade::Standard | Grade::Potential) {
        value = Grade::Key;
        reasons.push("key account guarantees at least KEY".to_owned());
    }
    rule(ClassValue::Grade(value), reasons)
}
