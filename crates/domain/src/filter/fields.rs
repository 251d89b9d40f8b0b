//! The fields a filter may name: [`FilterField`], the type of each ([`FieldKind`]) and the
//! allowed values of its enum fields ([`EnumSpec`]).

use std::fmt;

use crate::classification::Dimension;

/// A customer field a filter may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FilterField {
    /// `display_name` (string).
    DisplayName,
    /// `contact.full_name` (string).
    ContactFullName,
    /// `contact.job_title` (string).
    ContactJobTitle,
    /// `contact.email` (string; personal data).
    ContactEmail,
    /// `contact.phone` (string; personal data).
    ContactPhone,
    /// `region.subdivision` (string).
    RegionSubdivision,
    /// `region.city` (string).
    RegionCity,
    /// `region.country_code` (string).
    RegionCountryCode,
    /// `owner` (string).
    Owner,
    /// `department` (string).
    Department,
    /// `industry` (string).
    Industry,
    /// `kind` (enum: ORGANIZATION, INDIVIDUAL).
    Kind,
    /// `contact.job_rank` (enum: EXECUTIVE, MIDDLE, FRONTLINE).
    ContactJobRank,
    /// `contact.decision_role` (enum: DECISION_MAKER, INFLUENCER, USER).
    ContactDecisionRole,
    /// `employee_count` (integer).
    EmployeeCount,
    /// `key_account` (boolean).
    KeyAccount,
    /// `churned` (boolean).
    Churned,
    /// `create_time` (timestamp).
    CreateTime,
    /// `update_time` (timestamp).
    UpdateTime,
    /// `delete_time` (timestamp).
    DeleteTime,
    /// `tags` (repeated string; `:` only).
    Tags,
    /// `needs` (repeated enum; `:` only).
    Needs,
    /// `rank_tier` (enum: EXECUTIVE, MIDDLE, FRONTLINE, UNKNOWN).
    RankTier,
    /// `value_tier` (enum: HIGH, MEDIUM, LOW, NONE).
    ValueTier,
    /// `lifecycle_stage` (enum: POTENTIAL, NEW, ACTIVE, DORMANT, CHURNED).
    LifecycleStage,
    /// `behaviour` (enum: FREQUENT, OCCASIONAL, ONE_TIME, NONE).
    Behaviour,
    /// `size_segment` (enum: ENTERPRISE, MID_MARKET, SMALL, MICRO, UNKNOWN).
    SizeSegment,
    /// `grade` (enum: VIP, KEY, STANDARD, POTENTIAL).
    Grade,
    /// `score` (integer, 0 to 100).
    Score,
}
impl FilterField {
    /// Every field, in declaration order.
    pub const ALL: [FilterField; 29] = [
        FilterField::DisplayName,
        FilterField::ContactFullName,
        FilterField::ContactJobTitle,
        FilterField::ContactEmail,
        FilterField::ContactPhone,
        FilterField::RegionSubdivision,
        FilterField::RegionCity,
        FilterField::RegionCountryCode,
        FilterField::Owner,
        FilterField::Department,
        FilterField::Industry,
        FilterField::Kind,
        FilterField::ContactJobRank,
        FilterField::ContactDecisionRole,
        FilterField::EmployeeCount,
        FilterField::KeyAccount,
        FilterField::Churned,
        FilterField::CreateTime,
        FilterField::UpdateTime,
        FilterField::DeleteTime,
        FilterField::Tags,
        FilterField::Needs,
        FilterField::RankTier,
        FilterField::ValueTier,
        FilterField::LifecycleStage,
        FilterField::Behaviour,
        FilterField::SizeSegment,
        FilterField::Grade,
        FilterField::Score,
    ];

    /// The field's dotted path as written in a filter, e.g. `"contact.job_rank"`.
    pub fn path(self) -> &'static str {
        match self {
            FilterField::DisplayName => "display_name",
            FilterField::ContactFullName => "contact.full_name",
            FilterField::ContactJobTitle => "contact.job_title",
            FilterField::ContactEmail => "contact.email",
            FilterField::ContactPhone => "contact.phone",
            FilterField::RegionSubdivision => "region.subdivision",
            FilterField::RegionCity => "region.city",
            FilterField::RegionCountryCode => "region.country_code",
            FilterField::Owner => "owner",
            FilterField::Department => "department",
            FilterField::Industry => "industry",
            FilterField::Kind => "kind",
            FilterField::ContactJobRank => "contact.job_rank",
            FilterField::ContactDecisionRole => "contact.decision_role",
            FilterField::EmployeeCount => "employee_count",
            FilterField::KeyAccount => "key_account",
            FilterField::Churned => "churned",
            FilterField::CreateTime => "create_time",
            FilterField::UpdateTime => "update_time",
            FilterField::DeleteTime => "delete_time",
            FilterField::Tags => "tags",
            FilterField::Needs => "needs",
            FilterField::RankTier => Dimension::RankTier.field(),
            FilterField::ValueTier => Dimension::ValueTier.field(),
            FilterField::LifecycleStage => Dimension::LifecycleStage.field(),
            FilterField::Behaviour => Dimension::Behaviour.field(),
            FilterField::SizeSegment => Dimension::SizeSegment.field(),
            FilterField::Grade => Dimension::Grade.field(),
            FilterField::Score => "score",
        }
    }

    /// The classification dimension this field is, if it is one (`score` is not a dimension).
    pub fn dimension(self) -> Option<Dimension> {
        Some(match self {
            FilterField::RankTier => Dimension::RankTier,
            FilterField::ValueTier => Dimension::ValueTier,
            FilterField::LifecycleStage => Dimension::LifecycleStage,
            FilterField::Behaviour => Dimension::Behaviour,
            FilterField::SizeSegment => Dimension::SizeSegment,
            FilterField::Grade => Dimension::Grade,
            _ => return None,
        })
    }

    /// The field whose [`path`](Self::path) is `path`, if any.
    pub fn from_path(path: &str) -> Option<FilterField> {
        Self::ALL.into_iter().find(|field| field.path() == path)
    }

    pub(super) fn kind(self) -> FieldKind {
        match self {
            FilterField::DisplayName
            | FilterField::ContactFullName
            | FilterField::ContactJobTitle
            | FilterField::ContactEmail
            | FilterField::ContactPhone
            | FilterField::RegionSubdivision
            | FilterField::RegionCity
            | FilterField::RegionCountryCode
            | FilterField::Owner
            | FilterField::Department
            | FilterField::Industry => FieldKind::String,
            FilterField::Kind => FieldKind::Enum(&CUSTOMER_KIND),
            FilterField::ContactJobRank => FieldKind::Enum(&JOB_RANK),
            FilterField::ContactDecisionRole => FieldKind::Enum(&DECISION_ROLE),
            FilterField::EmployeeCount | FilterField::Score => FieldKind::Int,
            FilterField::KeyAccount | FilterField::Churned => FieldKind::Bool,
            FilterField::CreateTime | FilterField::UpdateTime | FilterField::DeleteTime => FieldKind::Timestamp,
            FilterField::Tags => FieldKind::RepeatedString,
            FilterField::Needs => FieldKind::RepeatedEnum(&CUSTOMER_NEED),
            FilterField::RankTier => FieldKind::Enum(&RANK_TIER),
            FilterField::ValueTier => FieldKind::Enum(&VALUE_TIER),
            FilterField::LifecycleStage => FieldKind::Enum(&LIFECYCLE_STAGE),
            FilterField::Behaviour => FieldKind::Enum(&BEHAVIOUR),
            FilterField::SizeSegment => FieldKind::Enum(&SIZE_SEGMENT),
            FilterField::Grade => FieldKind::Enum(&GRADE),
        }
    }
}

impl fmt::Display for FilterField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.path())
    }
}

/// The type of a field, which decides its comparators and how its values are read.
#[derive(Debug, Clone, Copy)]
pub(super) enum FieldKind {
    String,
    Enum(&'static EnumSpec),
    Int,
    Bool,
    Timestamp,
    RepeatedString,
    RepeatedEnum(&'static EnumSpec),
}

impl FieldKind {
    /// The comparators the type supports, for error messages.
    pub(super) fn comparators(self) -> &'static str {
        match self {
            FieldKind::String => "=, !=, <, <=, >, >= (and = \"prefix*\")",
            FieldKind::Enum(_) | FieldKind::Bool => "= and !=",
            FieldKind::Int | FieldKind::Timestamp => "=, !=, <, <=, >, >=",
            FieldKind::RepeatedString | FieldKind::RepeatedEnum(_) => ": (has)",
        }
    }

    pub(super) fn describe(self) -> &'static str {
        match self {
            FieldKind::String => "a string field",
            FieldKind::Enum(_) => "an enum field",
            FieldKind::Int => "an integer field",
            FieldKind::Bool => "a boolean field",
            FieldKind::Timestamp => "a timestamp field",
            FieldKind::RepeatedString | FieldKind::RepeatedEnum(_) => "a repeated field",
        }
    }
}

/// The allowed names of an enum field and the prefix of their proto names.
#[derive(Debug)]
pub(super) struct EnumSpec {
    pub(super) prefix: &'static str,
    pub(super) names: &'static [&'static str],
}

const CUSTOMER_KIND: EnumSpec = EnumSpec {
    prefix: "CUSTOMER_KIND_",
    names: &["ORGANIZATION", "INDIVIDUAL"],
};

const JOB_RANK: EnumSpec = EnumSpec {
    prefix: "JOB_RANK_",
    names: &["EXECUTIVE", "MIDDLE", "FRONTLINE"],
};

const DECISION_ROLE: EnumSpec = EnumSpec {
    prefix: "DECISION_ROLE_",
    names: &["DECISION_MAKER", "INFLUENCER", "USER"],
};

const CUSTOMER_NEED: EnumSpec = EnumSpec {
    prefix: "CUSTOMER_NEED_",
    names: &[
        "PRICE_SENSITIVE",
        "FUNCTION_FOCUSED",
        "QUALITY_FOCUSED",
        "SERVICE_FOCUSED",
    ],
};

// The classification enums: the names of `classification::dimension`'s values in declaration
// order, and the prefixes of `proto/crm/v1/classification.proto`. A test checks them against the
// domain enums.

const RANK_TIER: EnumSpec = EnumSpec {
    prefix: "RANK_TIER_",
    names: &["EXECUTIVE", "MIDDLE", "FRONTLINE", "UNKNOWN"],
};

const VALUE_TIER: EnumSpec = EnumSpec {
    prefix: "VALUE_TIER_",
    names: &["HIGH", "MEDIUM", "LOW", "NONE"],
};

const LIFECYCLE_STAGE: EnumSpec = EnumSpec {
    prefix: "LIFECYCLE_STAGE_",
    names: &["POTENTIAL", "NEW", "ACTIVE", "DORMANT", "CHURNED"],
};

const BEHAVIOUR: EnumSpec = EnumSpec {
    prefix: "BEHAVIOUR_",
    names: &["FREQUENT", "OCCASIONAL", "ONE_TIME", "NONE"],
};

const SIZE_SEGMENT: EnumSpec = EnumSpec {
    prefix: "SIZE_SEGMENT_",
    names: &["ENTERPRISE", "MID_MARKET", "SMALL", "MICRO", "UNKNOWN"],
};

const GRADE: EnumSpec = EnumSpec {
    prefix: "GRADE_",
    names: &["VIP", "KEY", "STANDARD", "POTENTIAL"],
};

pub(super) fn known_fields() -> String {
    FilterField::ALL
        .iter()
        .map(|field| field.path())
        .collect::<Vec<_>>()
        .join(", ")
}
