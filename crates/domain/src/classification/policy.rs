//! [`ClassificationPolicy`]: every threshold, weight, keyword and service plan the engine uses
//! (DESIGN.md §2.3–2.4), its defaults, and its validation; [`PolicyVersion`], an immutable
//! stored version of it.

use std::{fmt, time::Duration};

use chrono::{DateTime, Utc};

use crate::{
    customer::values::{InvalidValue, PrincipalName},
    error::Violations,
    text::TextRule,
};

/// An amount of money in the deployment's reporting currency, in millionths of its unit
/// (micros): at most 6 decimal places, so `google.type.Money` amounts whose `nanos` are a
/// multiple of 1,000 convert exactly. Negative for refunds.
///
/// Bounds: one amount (a purchase, a refund, a policy threshold) is at most [`MAX_AMOUNT`]
/// (999,999,999,999.999999 units) in absolute value; sums of amounts saturate at
/// ±[`MAX_SUM`] (9,223,372,036,854.775807 units, the most `i64` micros hold). Every
/// threshold is an amount, so a saturated sum is on the same side of every threshold as the
/// true sum, and classifies the same (see ARCHITECTURE.md, "Money").
///
/// [`MAX_AMOUNT`]: Self::MAX_AMOUNT
/// [`MAX_SUM`]: Self::MAX_SUM
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Money(i64);

impl Money {
    /// Nothing.
    pub const ZERO: Self = Self(0);

    /// The largest amount of one purchase, refund or threshold, in absolute value:
    /// 999,999,999,999.999999 units (just under 10^12).
    pub const MAX_AMOUNT: Self = Self(999_999_999_999_999_999);

    /// The limit of a sum of amounts, in absolute value: 9,223,372,036,854.775807 units
    /// (`i64::MAX` micros). Sums saturate here, above and below zero.
    pub const MAX_SUM: Self = Self(i64::MAX);

    /// Whether `self` is within ±[`MAX_AMOUNT`](Self::MAX_AMOUNT).
    pub const fn is_amount(self) -> bool {
        self.0.unsigned_abs() <= Self::MAX_AMOUNT.0.unsigned_abs()
    }

    /// The sum `micros` (computed in a wider type), saturated at ±[`MAX_SUM`](Self::MAX_SUM).
    pub fn saturating_from_sum(micros: i128) -> Self {
        let limit = i128::from(Self::MAX_SUM.0);
        // Within ±i64::MAX after clamping, so the conversion cannot fail.
        Self(i64::try_from(micros.clamp(-limit, limit)).unwrap_or(Self::MAX_SUM.0))
    }

    /// Whether this sum reached the limit ±[`MAX_SUM`](Self::MAX_SUM): the true sum may be
    /// further from zero.
    pub const fn is_saturated(self) -> bool {
        self.0.unsigned_abs() >= Self::MAX_SUM.0.unsigned_abs()
    }

    /// The amount of `micros` millionths of the unit.
    pub const fn from_micros(micros: i64) -> Self {
        Self(micros)
    }

    /// The amount of `units` whole units.
    pub const fn from_units(units: i64) -> Self {
        Self(units.saturating_mul(1_000_000))
    }

    /// The amount in micros.
    pub const fn micros(self) -> i64 {
        self.0
    }

    /// The sum, saturated at ±[`MAX_SUM`](Self::MAX_SUM).
    #[must_use]
    pub fn saturating_add(self, other: Self) -> Self {
        Self::saturating_from_sum(i128::from(self.0) + i128::from(other.0))
    }

    /// Whether the amount is above zero.
    pub const fn is_positive(self) -> bool {
        self.0 > 0
    }
}

impl fmt::Display for Money {
    /// Writes the amount with thousands separators and two decimals: `120,000.00`, `-5.50`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cents = (i128::from(self.0) + if self.0 < 0 { -5_000 } else { 5_000 }) / 10_000;
        let sign = if cents < 0 { "-" } else { "" };
        let cents = cents.unsigned_abs();
        let units = (cents / 100).to_string();
        let mut grouped = String::with_capacity(units.len() + units.len() / 3);
        for (i, digit) in units.chars().enumerate() {
            if i > 0 && (units.len() - i) % 3 == 0 {
                grouped.push(',');
            }
            grouped.push(digit);
        }
        write!(f, "{sign}{grouped}.{:02}", cents % 100)
    }
}

/// What the company does for customers of one grade (差异化管理).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServicePlan {
    /// The plan's name, e.g. "Dedicated senior advisor".
    pub name: String,
    /// Whether the customer gets a dedicated advisor.
    pub dedicated_advisor: bool,
    /// How fast the customer's requests are answered.
    pub response_time: Duration,
    /// How often the account is reviewed.
    pub review_interval: Duration,
}

/// Every threshold of the classification rules. All day counts are whole days; all cut-point
/// lists have exactly four ascending entries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClassificationPolicy {
    /// The trailing window, in days, over which order count and revenue are summed (365).
    pub window_days: u32,
    /// Window revenue at or above which the value tier is MEDIUM (10,000).
    pub value_medium_min: Money,
    /// Window revenue at or above which the value tier is HIGH (100,000).
    pub value_high_min: Money,
    /// A first purchase at most this many days ago makes the customer NEW (90).
    pub new_days: u32,
    /// A last purchase at most this many days ago keeps the customer ACTIVE (180).
    pub dormant_after_days: u32,
    /// A last purchase at most this many days ago makes the customer DORMANT, older CHURNED (365).
    pub churn_after_days: u32,
    /// Window orders at or above which behaviour is OCCASIONAL (2).
    pub occasional_min_orders: u32,
    /// Window orders at or above which behaviour is FREQUENT (12).
    pub frequent_min_orders: u32,
    /// Head count at or above which the size segment is SMALL (10).
    pub size_small_min: u32,
    /// Head count at or above which the size segment is MID_MARKET (100).
    pub size_mid_market_min: u32,
    /// Head count at or above which the size segment is ENTERPRISE (1000).
    pub size_enterprise_min: u32,
    /// Days since the last purchase at or below which R scores 5, 4, 3, 2 (30, 90, 180, 365).
    pub recency_days_cuts: [u32; 4],
    /// Window orders at or above which F scores 2, 3, 4, 5 (2, 4, 8, 12).
    pub frequency_cuts: [u32; 4],
    /// Window revenue at or above which M scores 2, 3, 4, 5 (1,000, 10,000, 50,000, 100,000).
    pub monetary_cuts: [Money; 4],
    /// Weight of the R score in the grade score (30).
    pub recency_weight: u32,
    /// Weight of the F score (30).
    pub frequency_weight: u32,
    /// Weight of the M score (40).
    pub monetary_weight: u32,
    /// Points added to the score of a key account (10).
    pub key_account_bonus: u32,
    /// Points added when the contact's rank tier is EXECUTIVE (5).
    pub executive_bonus: u32,
    /// Score at or above which the grade is KEY (60).
    pub grade_key_min_score: u32,
    /// Score at or above which the grade is VIP (85).
    pub grade_vip_min_score: u32,
    /// Job-title keywords that make a contact EXECUTIVE: a title containing one, ignoring case,
    /// where a keyword's Latin letters or digits at either end must meet a word boundary of the
    /// title (so `CTO` does not match "Director"); see [`title_contains`](super::engine::title_contains).
    pub executive_keywords: Vec<String>,
    /// Job-title keywords that make a contact MIDDLE (checked after the executive ones).
    pub middle_keywords: Vec<String>,
    /// The service plan of VIP customers.
    pub vip_plan: ServicePlan,
    /// The service plan of KEY customers.
    pub key_plan: ServicePlan,
    /// The service plan of STANDARD customers.
    pub standard_plan: ServicePlan,
    /// The service plan of POTENTIAL customers.
    pub potential_plan: ServicePlan,
}

const HOUR: u64 = 3600;
const DAY: u64 = 24 * HOUR;

fn plan(name: &str, dedicated_advisor: bool, response_hours: u64, review_days: u64) -> ServicePlan {
    ServicePlan {
        name: name.to_owned(),
        dedicated_advisor,
        response_time: Duration::from_secs(response_hours * HOUR),
        review_interval: Duration::from_secs(review_days * DAY),
    }
}

impl Default for ClassificationPolicy {
    /// The defaults of DESIGN.md §2.3, which the first start stores as policy version 1.
    fn default() -> Self {
        let words = |list: &[&str]| list.iter().map(|w| (*w).to_owned()).collect();
        Self {
            window_days: 365,
            value_medium_min: Money::from_units(10_000),
            value_high_min: Money::from_units(100_000),
            new_days: 90,
            dormant_after_days: 180,
            churn_after_days: 365,
            occasional_min_orders: 2,
            frequent_min_orders: 12,
            size_small_min: 10,
            size_mid_market_min: 100,
            size_enterprise_min: 1000,
            recency_days_cuts: [30, 90, 180, 365],
            frequency_cuts: [2, 4, 8, 12],
            monetary_cuts: [
                Money::from_units(1_000),
                Money::from_units(10_000),
                Money::from_units(50_000),
                Money::from_units(100_000),
            ],
            recency_weight: 30,
            frequency_weight: 30,
            monetary_weight: 40,
            key_account_bonus: 10,
            executive_bonus: 5,
            grade_key_min_score: 60,
            grade_vip_min_score: 85,
            executive_keywords: words(&[
                "CEO",
                "CFO",
                "CTO",
                "COO",
                "President",
                "VP",
                "Chief",
                "总裁",
                "总经理",
                "董事",
                "首席",
            ]),
            middle_keywords: words(&["Director", "Manager", "Head", "Lead", "经理", "主管", "总监"]),
            vip_plan: plan("Dedicated senior advisor", true, 4, 30),
            key_plan: plan("Named account manager", true, 8, 90),
            standard_plan: plan("Pooled account team", false, 24, 180),
            potential_plan: plan("Automated nurture", false, 72, 365),
        }
    }
}

/// The number of a stored policy version (1, 2, …).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PolicyVersionId(i64);

impl PolicyVersionId {
    /// Wraps a stored version number.
    pub const fn new(version: i64) -> Self {
        Self(version)
    }

    /// The number.
    pub const fn get(self) -> i64 {
        self.0
    }

    /// The resource name, `policies/{version}`.
    pub fn resource_name(self) -> String {
        format!("policies/{}", self.0)
    }
}

impl fmt::Display for PolicyVersionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A stored, immutable version of the policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyVersion {
    /// Its number.
    pub version: PolicyVersionId,
    /// The thresholds.
    pub policy: ClassificationPolicy,
    /// Why it was made.
    pub description: String,
    /// Whether it is the active version.
    pub active: bool,
    /// When it was created.
    pub create_time: DateTime<Utc>,
    /// Who created it (`None` for the built-in first version).
    pub creator: Option<PrincipalName>,
    /// When it was last activated.
    pub activate_time: Option<DateTime<Utc>>,
}

impl ClassificationPolicy {
    /// The longest trailing window, in days (ten years).
    pub const MAX_WINDOW_DAYS: u32 = 3650;
    /// The longest `churn_after_days` (ten years).
    pub const MAX_CHURN_AFTER_DAYS: u32 = 3650;
    /// The largest weight of R, F or M.
    pub const MAX_WEIGHT: u32 = 1000;
    /// The largest bonus, in score points.
    pub const MAX_BONUS: u32 = 100;
    /// The highest score.
    pub const MAX_SCORE: u32 = 100;
    /// The longest keyword, in characters after trimming.
    pub const MAX_KEYWORD_CHARS: usize = 50;
    /// The most keywords in one list.
    pub const MAX_KEYWORDS: usize = 100;
    /// The longest service plan name, in characters after trimming.
    pub const MAX_PLAN_NAME_CHARS: usize = 100;

    /// Every problem of this policy, each under its field's path in a request (`policy.`
    /// followed by the proto field name, e.g. `policy.frequency_cuts[2]`,
    /// `policy.vip_plan.name`); empty when the policy is valid. The rules:
    ///
    /// - `window_days` 1 to 3650.
    /// - `value_medium_min` positive; `value_high_min` above it.
    /// - `new_days` at least 1; `dormant_after_days` at least 1 and at least `new_days`;
    ///   `churn_after_days` above `dormant_after_days` and at most 3650.
    /// - `occasional_min_orders` at least 2 (so that ONE_TIME is possible);
    ///   `frequent_min_orders` above it.
    /// - `size_small_min` at least 1, `size_mid_market_min` above it, `size_enterprise_min`
    ///   above that.
    /// - `recency_days_cuts` each at least 1, `frequency_cuts` each at least 1, `monetary_cuts`
    ///   each positive; each list strictly ascending (a violation names the first entry of a
    ///   non-ascending pair by its index).
    /// - Every amount (`value_medium_min`, `value_high_min`, `monetary_cuts`) at most
    ///   [`Money::MAX_AMOUNT`] in absolute value.
    /// - Weights each at most 1000 and not all 0; bonuses each at most 100.
    /// - `grade_key_min_score` at least 1 and below `grade_vip_min_score`, which is at most 100.
    /// - Keyword lists at most 100 keywords, each 1 to 50 characters after trimming, one line
    ///   with no control characters ([`TextRule::line`]).
    /// - Each service plan: `name` 1 to 100 characters after trimming, one line (no control
    ///   characters), `response_time` and
    ///   `review_interval` positive.
    pub fn violations(&self) -> Violations {
        let mut v = Violations::new();

        if !(1..=Self::MAX_WINDOW_DAYS).contains(&self.window_days) {
            v.add(
                "policy.window_days",
                format!("must be 1 to {} days, got {}", Self::MAX_WINDOW_DAYS, self.window_days),
            );
        }

        if !self.value_medium_min.is_positive() {
            v.add(
                "policy.value_medium_min",
                format!("must be greater than 0, got {}", self.value_medium_min),
            );
        }
        if self.value_high_min <= self.value_medium_min {
            v.add(
                "policy.value_high_min",
                format!("must be greater than value_medium_min ({})", self.value_medium_min),
            );
        }

        if self.new_days < 1 {
            v.add("policy.new_days", "must be at least 1");
        }
        if self.dormant_after_days < 1 {
            v.add("policy.dormant_after_days", "must be at least 1");
        } else if self.dormant_after_days < self.new_days {
            v.add(
                "policy.dormant_after_days",
                format!("must be at least new_days ({})", self.new_days),
            );
        }
        if self.churn_after_days <= self.dormant_after_days {
            v.add(
                "policy.churn_after_days",
                format!("must be greater than dormant_after_days ({})", self.dormant_after_days),
            );
        } else if self.churn_after_days > Self::MAX_CHURN_AFTER_DAYS {
            v.add(
                "policy.churn_after_days",
                format!(
                    "must be at most {}, got {}",
                    Self::MAX_CHURN_AFTER_DAYS,
                    self.churn_after_days
                ),
            );
        }

        if self.occasional_min_orders < 2 {
            v.add(
                "policy.occasional_min_orders",
                format!("must be at least 2, got {}", self.occasional_min_orders),
            );
        }
        if self.frequent_min_orders <= self.occasional_min_orders {
            v.add(
                "policy.frequent_min_orders",
                format!(
                    "must be greater than occasional_min_orders ({})",
                    self.occasional_min_orders
                ),
            );
        }

        if self.size_small_min < 1 {
            v.add("policy.size_small_min", "must be at least 1");
        }
        if self.size_mid_market_min <= self.size_small_min {
            v.add(
                "policy.size_mid_market_min",
                format!("must be greater than size_small_min ({})", self.size_small_min),
            );
        }
        if self.size_enterprise_min <= self.size_mid_market_min {
            v.add(
                "policy.size_enterprise_min",
                format!(
                    "must be greater than size_mid_market_min ({})",
                    self.size_mid_market_min
                ),
            );
        }

        ascending(&mut v, "recency_days_cuts", &self.recency_days_cuts, 1, "at least 1");
        ascending(&mut v, "frequency_cuts", &self.frequency_cuts, 1, "at least 1");
        ascending(
            &mut v,
            "monetary_cuts",
            &self.monetary_cuts,
            Money::from_micros(1),
            "greater than 0",
        );

        let amounts = [
            ("value_medium_min".to_owned(), self.value_medium_min),
            ("value_high_min".to_owned(), self.value_high_min),
        ]
        .into_iter()
        .chain(
            self.monetary_cuts
                .iter()
                .enumerate()
                .map(|(i, cut)| (format!("monetary_cuts[{i}]"), *cut)),
        );
        for (field, amount) in amounts {
            if !amount.is_amount() {
                v.add(
                    format!("policy.{field}"),
                    "must be at most 999,999,999,999.999999 in absolute value",
                );
            }
        }

        for (field, weight) in [
            ("recency_weight", self.recency_weight),
            ("frequency_weight", self.frequency_weight),
            ("monetary_weight", self.monetary_weight),
        ] {
            if weight > Self::MAX_WEIGHT {
                v.add(
                    format!("policy.{field}"),
                    format!("must be at most {}, got {weight}", Self::MAX_WEIGHT),
                );
            }
        }
        if self.recency_weight == 0 && self.frequency_weight == 0 && self.monetary_weight == 0 {
            v.add(
                "policy.recency_weight",
                "recency_weight, frequency_weight and monetary_weight must not all be 0",
            );
        }
        for (field, bonus) in [
            ("key_account_bonus", self.key_account_bonus),
            ("executive_bonus", self.executive_bonus),
        ] {
            if bonus > Self::MAX_BONUS {
                v.add(
                    format!("policy.{field}"),
                    format!("must be at most {} points, got {bonus}", Self::MAX_BONUS),
                );
            }
        }

        if !(1..=Self::MAX_SCORE).contains(&self.grade_key_min_score) {
            v.add(
                "policy.grade_key_min_score",
                format!("must be 1 to {}, got {}", Self::MAX_SCORE, self.grade_key_min_score),
            );
        }
        if self.grade_vip_min_score > Self::MAX_SCORE {
            v.add(
                "policy.grade_vip_min_score",
                format!("must be at most {}, got {}", Self::MAX_SCORE, self.grade_vip_min_score),
            );
        } else if self.grade_vip_min_score <= self.grade_key_min_score {
            v.add(
                "policy.grade_vip_min_score",
                format!(
                    "must be greater than grade_key_min_score ({})",
                    self.grade_key_min_score
                ),
            );
        }

        keywords(&mut v, "executive_keywords", &self.executive_keywords);
        keywords(&mut v, "middle_keywords", &self.middle_keywords);

        for (field, plan) in [
            ("vip_plan", &self.vip_plan),
            ("key_plan", &self.key_plan),
            ("standard_plan", &self.standard_plan),
            ("potential_plan", &self.potential_plan),
        ] {
            if let Err(InvalidValue(reason)) = TextRule::line(Self::MAX_PLAN_NAME_CHARS).parse(&plan.name) {
                v.add(format!("policy.{field}.name"), reason);
            }
            if plan.response_time.is_zero() {
                v.add(format!("policy.{field}.response_time"), "must be positive");
            }
            if plan.review_interval.is_zero() {
                v.add(format!("policy.{field}.review_interval"), "must be positive");
            }
        }

        v
    }
}

/// Records a violation for `cuts[0]` below `min` (`min_words` says it) and for each entry not
/// above the one before.
fn ascending<T: Copy + Ord + fmt::Display>(v: &mut Violations, field: &str, cuts: &[T], min: T, min_words: &str) {
    if let Some(first) = cuts.first()
        && *first < min
    {
        v.add(
            format!("policy.{field}[0]"),
            format!("must be {min_words}, got {first}"),
        );
    }
    for (i, pair) in cuts.windows(2).enumerate() {
        if let [before, after] = pair
            && after <= before
        {
            v.add(
                format!("policy.{field}[{}]", i + 1),
                format!("must be greater than {field}[{i}] ({before})"),
            );
        }
    }
}

/// Records a violation for a list of more than [`ClassificationPolicy::MAX_KEYWORDS`] and for
/// each keyword that is empty or too long after trimming or holds a control character.
fn keywords(v: &mut Violations, field: &str, list: &[String]) {
    if list.len() > ClassificationPolicy::MAX_KEYWORDS {
        v.add(
            format!("policy.{field}"),
            format!(
                "must hold at most {} keywords, got {}",
                ClassificationPolicy::MAX_KEYWORDS,
                list.len()
            ),
        );
    }
    for (i, keyword) in list.iter().enumerate() {
        if let Err(InvalidValue(reason)) = TextRule::line(ClassificationPolicy::MAX_KEYWORD_CHARS).parse(keyword) {
            v.add(format!("policy.{field}[{i}]"), reason);
        }
    }
}
