//! The six dimensions every customer is classified on, their values, and [`ClassValue`], one
//! value of one dimension (what history rows, overrides and previews carry).

use std::fmt;

/// Declares the dimensions, once: each one's variant (which is also the name of the enum of its
/// values and of its [`ClassValue`] variant), storage code, `SCREAMING_SNAKE` name and field name.
/// From that list it defines [`Dimension`] and [`ClassValue`] with every mapping between them, so
/// adding a dimension here (and its value enum below) is all this module needs.
macro_rules! dimensions {
    ($($(#[$meta:meta])* $variant:ident = ($code:literal, $label:literal, $field:literal),)+) => {
        coded_enum!(
            /// A classification dimension (DESIGN.md §2.3).
            Dimension {
                $($(#[$meta])* $variant = ($code, $label),)+
            }
        );

        impl Dimension {
            /// The dimension's field name in filters, orderings and storage (`rank_tier`, `grade`, …).
            pub const fn field(self) -> &'static str {
                match self {
                    $(Self::$variant => $field),+
                }
            }

            /// The names of the dimension's values, in declaration order (`VIP`, `KEY`, …).
            pub const fn value_names(self) -> &'static [&'static str] {
                match self {
                    $(Self::$variant => &$variant::NAMES),+
                }
            }

            /// The prefix of the dimension's value names in the proto (`GRADE_`).
            pub const fn value_prefix(self) -> &'static str {
                match self {
                    $(Self::$variant => concat!($label, "_")),+
                }
            }
        }

        /// One value of one dimension.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ClassValue {
            $(
                #[doc = concat!("A value of `", $field, "`.")]
                $variant($variant)
            ),+
        }

        impl ClassValue {
            /// The dimension this value belongs to.
            pub const fn dimension(self) -> Dimension {
                match self {
                    $(Self::$variant(_) => Dimension::$variant),+
                }
            }

            /// The value's name without the dimension (`VIP`, `DORMANT`).
            pub const fn name(self) -> &'static str {
                match self {
                    $(Self::$variant(v) => v.name()),+
                }
            }

            /// The value's storage code within its dimension.
            pub const fn code(self) -> i16 {
                match self {
                    $(Self::$variant(v) => v.code()),+
                }
            }

            /// The value of `dimension` named `name` (`VIP`), if there is one.
            pub fn from_name(dimension: Dimension, name: &str) -> Option<Self> {
                match dimension {
                    $(Dimension::$variant => $variant::from_name(name).map(Self::$variant)),+
                }
            }

            /// The value of `dimension` with storage code `code`, if there is one.
            pub fn from_code(dimension: Dimension, code: i16) -> Option<Self> {
                match dimension {
                    $(Dimension::$variant => $variant::from_code(code).map(Self::$variant)),+
                }
            }

            /// Every value of `dimension`, in declaration order.
            pub fn all_of(dimension: Dimension) -> Vec<Self> {
                match dimension {
                    $(Dimension::$variant => $variant::ALL.into_iter().map(Self::$variant).collect()),+
                }
            }
        }
    };
}

dimensions! {
    /// The contact's rank in their organisation (职级).
    RankTier = (1, "RANK_TIER", "rank_tier"),
    /// Revenue over the policy's trailing window (价值).
    ValueTier = (2, "VALUE_TIER", "value_tier"),
    /// Where the customer is in its buying life (生命周期).
    LifecycleStage = (3, "LIFECYCLE_STAGE", "lifecycle_stage"),
    /// How often the customer buys (行为).
    Behaviour = (4, "BEHAVIOUR", "behaviour"),
    /// Company size by head count (规模).
    SizeSegment = (5, "SIZE_SEGMENT", "size_segment"),
    /// The overall grade from the RFM score and bonuses (分级).
    Grade = (6, "GRADE", "grade"),
}

impl Dimension {
    /// How many dimensions there are.
    pub const COUNT: usize = Self::ALL.len();

    /// The dimension whose [`field`](Self::field) is `field`.
    pub fn from_field(field: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.field() == field)
    }

    /// The position of this dimension in [`Dimension::ALL`] (0..[`Dimension::COUNT`]).
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

impl fmt::Display for ClassValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.dimension().field(), self.name())
    }
}
