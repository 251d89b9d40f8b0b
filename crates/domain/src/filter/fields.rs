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
    /// A classification dimension, by its [`field`](Dimension::field) name (`rank_tier`, `grade`,
    /// …; enum: the names of its values).
    Class(Dimension),
    /// `score` (integer, 0 to 100).
    Score,
}
impl FilterField {
    /// Every field, in declaration order (the dimensions in [`Dimension::ALL`]'s order).
    pub const ALL: [FilterField; 23 + Dimension::COUNT] = {
        const OTHERS: [FilterField; 22] = [
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
        ];
        let mut all = [FilterField::Score; 23 + Dimension::COUNT];
        let mut i = 0;
        while i < OTHERS.len() {
            all[i] = OTHERS[i];
            i += 1;
        }
        let mut d = 0;
        while d < Dimension::COUNT {
            all[i + d] = FilterField::Class(Dimension::ALL[d]);
            d += 1;
        }
        all
    };

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
            FilterField::Class(dimension) => dimension.field(),
            FilterField::Score => "score",
        }
    }

    /// The classification dimension this field is, if it is one (`score` is not a dimension).
    pub fn dimension(self) -> Option<Dimension> {
        match self {
            FilterField::Class(dimension) => Some(dimension),
            _ => None,
        }
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
            FilterField::Kind => FieldKind::Enum(CUSTOMER_KIND),
            FilterField::ContactJobRank => FieldKind::Enum(JOB_RANK),
            FilterField::ContactDecisionRole => FieldKind::Enum(DECISION_ROLE),
            FilterField::EmployeeCount | FilterField::Score => FieldKind::Int,
            FilterField::KeyAccount | FilterField::Churned => FieldKind::Bool,
            FilterField::CreateTime | FilterField::UpdateTime | FilterField::DeleteTime => FieldKind::Timestamp,
            FilterField::Tags => FieldKind::RepeatedString,
            FilterField::Needs => FieldKind::RepeatedEnum(CUSTOMER_NEED),
            FilterField::Class(dimension) => FieldKind::Enum(EnumSpec {
                prefix: dimension.value_prefix(),
                names: dimension.value_names(),
            }),
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
    Enum(EnumSpec),
    Int,
    Bool,
    Timestamp,
    RepeatedString,
    RepeatedEnum(EnumSpec),
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
#[derive(Debug, Clone, Copy)]
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

pub(super) fn known_fields() -> String {
    FilterField::ALL
        .iter()
        .map(|field| field.path())
        .collect::<Vec<_>>()
        .join(", ")
}
