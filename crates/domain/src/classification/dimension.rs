//! The six dimensions every customer is classified on, their values, and [`ClassValue`], one
//! value of one dimension (what history rows, overrides and previews carry).

use std::fmt;

coded_enum!(
    /// A classification dimension (DESIGN.md §2.3).
    Dimension {
        /// The contact's rank in their organisation (职级).
        RankTier = (1, "RANK_TIER"),
        /// Revenue over the policy's trailing window (价值).
        ValueTier = (2, "VALUE_TIER"),
        /// Where the customer is in its buying life (生命周期).
        LifecycleStage = (3, "LIFECYCLE_STAGE"),
        /// How often the customer buys (行为).
        Behaviour = (4, "BEHAVIOUR"),
        /// Company size by head count (规模).
        SizeSegment = (5, "SIZE_SEGMENT"),
        /// The overall grade from the RFM score and bonuses (分级).
        Grade = (6, "GRADE"),
    }
);

impl Dimension {
    /// The dimension's field name in filters, orderings and storage (`rank_tier`, `grade`, …).
    pub const fn field(self) -> &'static str {
        match self {
            Self::RankTier => "rank_tier",
            Self::ValueTier => "value_tier",
            Self::LifecycleStage => "lifecycle_stage",
            Self::Behaviour => "behaviour",
            Self::SizeSegment => "size_segment",
            Self::Grade => "grade",
        }
    }

    /// The dimension whose [`field`](Self::field) is `field`.
    pub fn from_field(field: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.field() == field)
    }

    /// The position of this dimension in [`Dimension::ALL`] (0..6).
    pub const fn index(self) -> usize {
        (self.code() - 1) as usize
    }
}

coded_enum!(
    /// The contact's rank tier (职级).
    RankTier {
        /// Senior management (高层).
        Executive = (1, "EXECUTIVE"),
        /// Middle management (中层).
        Middle = (2, "MIDDLE"),
        /// Front-line staff (基层).
        Frontline = (3, "FRONTLINE"),
        /// Neither a rank nor a title is known.
        Unknown = (4, "UNKNOWN"),
    }
);

coded_enum!(
    /// Revenue over the trailing window (价值).
    ValueTier {
        /// Revenue at or above the policy's high cut.
        High = (1, "HIGH"),
        /// Revenue at or above the medium cut.
        Medium = (2, "MEDIUM"),
        /// Some positive revenue below the medium cut.
        Low = (3, "LOW"),
        /// No positive revenue in the window.
        None = (4, "NONE"),
    }
);

coded_enum!(
    /// The customer's lifecycle stage (生命周期).
    LifecycleStage {
        /// Never bought.
        Potential = (1, "POTENTIAL"),
        /// First purchase within `new_days`.
        New = (2, "NEW"),
        /// Last purchase within `dormant_after_days`.
        Active = (3, "ACTIVE"),
        /// Last purchase within `churn_after_days`.
        Dormant = (4, "DORMANT"),
        /// Last purchase longer ago, or the customer said they stopped.
        Churned = (5, "CHURNED"),
    }
);

coded_enum!(
    /// How often the customer buys (行为).
    Behaviour {
        /// At least `frequent_min_orders` orders in the window.
        Frequent = (1, "FREQUENT"),
        /// At least `occasional_min_orders` orders in the window.
        Occasional = (2, "OCCASIONAL"),
        /// Exactly one order in the window.
        OneTime = (3, "ONE_TIME"),
        /// No order in the window.
        None = (4, "NONE"),
    }
);

coded_enum!(
    /// Company size by head count (规模).
    SizeSegment {
        /// At least `size_enterprise_min` employees.
        Enterprise = (1, "ENTERPRISE"),
        /// At least `size_mid_market_min` employees.
        MidMarket = (2, "MID_MARKET"),
        /// At least `size_small_min` employees.
        Small = (3, "SMALL"),
        /// Fewer employees.
        Micro = (4, "MICRO"),
        /// Head count not known.
        Unknown = (5, "UNKNOWN"),
    }
);

coded_enum!(
    /// The overall grade (分级), which selects the service plan.
    Grade {
        /// Score at or above `grade_vip_min_score`.
        Vip = (1, "VIP"),
        /// Score at or above `grade_key_min_score`, or a key account.
        Key = (2, "KEY"),
        /// Any purchase.
        Standard = (3, "STANDARD"),
        /// No purchase yet.
        Potential = (4, "POTENTIAL"),
    }
);

/// One value of one dimension.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ClassValue {
    /// A rank tier.
    RankTier(RankTier),
    /// A value tier.
    ValueTier(ValueTier),
    /// A lifecycle stage.
    LifecycleStage(LifecycleStage),
    /// A behaviour.
    Behaviour(Behaviour),
    /// A size segment.
    SizeSegment(SizeSegment),
    /// A grade.
    Grade(Grade),
}

impl ClassValue {
    /// The dimension this value belongs to.
    pub const fn dimension(self) -> Dimension {
        match self {
            Self::RankTier(_) => Dimension::RankTier,
            Self::ValueTier(_) => Dimension::ValueTier,
            Self::LifecycleStage(_) => Dimension::LifecycleStage,
            Self::Behaviour(_) => Dimension::Behaviour,
            Self::SizeSegment(_) => Dimension::SizeSegment,
            Self::Grade(_) => Dimension::Grade,
        }
    }

    /// The value's name without the dimension (`VIP`, `DORMANT`).
    pub const fn name(self) -> &'static str {
        match self {
            Self::RankTier(v) => v.name(),
            Self::ValueTier(v) => v.name(),
            Self::LifecycleStage(v) => v.name(),
            Self::Behaviour(v) => v.name(),
            Self::SizeSegment(v) => v.name(),
            Self::Grade(v) => v.name(),
        }
    }

    /// The value's storage code within its dimension.
    pub const fn code(self) -> i16 {
        match self {
            Self::RankTier(v) => v.code(),
            Self::ValueTier(v) => v.code(),
            Self::LifecycleStage(v) => v.code(),
            Self::Behaviour(v) => v.code(),
            Self::SizeSegment(v) => v.code(),
            Self::Grade(v) => v.code(),
        }
    }

    /// The value of `dimension` named `name` (`VIP`), if there is one.
    pub fn from_name(dimension: Dimension, name: &str) -> Option<Self> {
        match dimension {
            Dimension::RankTier => RankTier::from_name(name).map(Self::RankTier),
            Dimension::ValueTier => ValueTier::from_name(name).map(Self::ValueTier),
            Dimension::LifecycleStage => LifecycleStage::from_name(name).map(Self::LifecycleStage),
            Dimension::Behaviour => Behaviour::from_name(name).map(Self::Behaviour),
            Dimension::SizeSegment => SizeSegment::from_name(name).map(Self::SizeSegment),
            Dimension::Grade => Grade::from_name(name).map(Self::Grade),
        }
    }

    /// The value of `dimension` with storage code `code`, if there is one.
    pub fn from_code(dimension: Dimension, code: i16) -> Option<Self> {
        match dimension {
            Dimension::RankTier => RankTier::from_code(code).map(Self::RankTier),
            Dimension::ValueTier => ValueTier::from_code(code).map(Self::ValueTier),
            Dimension::LifecycleStage => LifecycleStage::from_code(code).map(Self::LifecycleStage),
            Dimension::Behaviour => Behaviour::from_code(code).map(Self::Behaviour),
            Dimension::SizeSegment => SizeSegment::from_code(code).map(Self::SizeSegment),
            Dimension::Grade => Grade::from_code(code).map(Self::Grade),
        }
    }

    /// Every value of `dimension`, in declaration order.
    pub fn all_of(dimension: Dimension) -> Vec<Self> {
        match dimension {
            Dimension::RankTier => RankTier::ALL.into_iter().map(Self::RankTier).collect(),
            Dimension::ValueTier => ValueTier::ALL.into_iter().map(Self::ValueTier).collect(),
            Dimension::LifecycleStage => LifecycleStage::ALL.into_iter().map(Self::LifecycleStage).collect(),
            Dimension::Behaviour => Behaviour::ALL.into_iter().map(Self::Behaviour).collect(),
            Dimension::SizeSegment => SizeSegment::ALL.into_iter().map(Self::SizeSegment).collect(),
            Dimension::Grade => Grade::ALL.into_iter().map(Self::Grade).collect(),
        }
    }
}

impl fmt::Display for ClassValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.dimension().field(), self.name())
    }
}
