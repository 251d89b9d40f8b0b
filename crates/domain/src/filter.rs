//! The `filter` of `ListCustomers`: a subset of the AIP-160 filter language
//! (<https://google.aip.dev/160>), parsed into a typed [`Filter`] tree.
//!
//! The persistence layer turns a [`Filter`] into SQL conditions with bound parameters; no text
//! from the filter ever reaches SQL. Every value in the tree already has the type of its field
//! (an [`i64`] for `employee_count`, a [`chrono::DateTime<Utc>`] for `create_time`, a canonical
//! enum name for `kind`, ...), so a filter that parses is a filter that can be run.
//!
//! # Grammar
//!
//! In the EBNF of AIP-160, restricted to what this service supports:
//!
//! ```text
//! filter      = [expression]
//! expression  = sequence {WS "AND" WS sequence}
//! sequence    = factor {WS factor}                 (juxtaposition means AND)
//! factor      = term {WS "OR" WS term}
//! term        = ["NOT" WS | "-"] simple
//! simple      = restriction | "(" expression ")"
//! restriction = field comparator value
//! field       = name {"." name}                    (one of the fields below)
//! comparator  = "=" | "!=" | "<" | "<=" | ">" | ">=" | ":"
//! value       = '"' {char | escape} '"' | "'" {char | escape} "'" | bare
//! escape      = '\"' | "\'" | "\\" | "\*"
//! bare        = any run of characters other than whitespace, "(" and ")"
//! ```
//!
//! - **Precedence**, loosest first: `AND` (and juxtaposition), then `OR`, then `NOT`/`-`.
//!   As AIP-160 specifies, and unlike most programming languages, **`OR` binds tighter than
//!   `AND`**: `a = 1 AND b = 2 OR c = 3` means `a = 1 AND (b = 2 OR c = 3)`, and
//!   `a = 1 b = 2 OR c = 3` means the same. Use parentheses when in doubt.
//! - The keywords `AND`, `OR` and `NOT` are uppercase only; a lowercase `and` is an error
//!   that says so. `-` negates the term written directly after it (`-churned = true`).
//! - Whitespace around comparators is optional (`employee_count>=100`).
//! - Values may be double-quoted, single-quoted or bare. A bare value ends at whitespace or a
//!   parenthesis, so `2026-01-01T00:00:00Z`, `-5` and `ORGANIZATION` need no quotes; the words
//!   `AND`, `OR` and `NOT` must be quoted to be used as values. Typed values (numbers,
//!   booleans, timestamps, enum names) may be quoted or not, with the same meaning.
//! - **No control characters in values**: a value, quoted or bare, may not contain a control
//!   character (U+0000 to U+001F, U+007F to U+009F), because no stored value does (see
//!   [`crate::text`]); the error names the character and its position. Whitespace control
//!   characters between tokens (tab, line breaks) are fine.
//! - **Prefix match**: on a string field, `=` with a value ending in an unescaped `*` matches
//!   values starting with the text before it: `display_name = "Acme*"` becomes
//!   [`CompareOp::StartsWith`] with the value `"Acme"`. A `*` anywhere else is a literal
//!   character, and `\*` inside quotes is a literal `*` even at the end. A trailing
//!   wildcard with any other comparator is an error.
//!
//! Not supported, each with an error saying so: a bare value without a field and comparator
//! (AIP-160's global text search, e.g. `Acme`), functions, `:` on a non-repeated field
//! (presence tests), and `null`.
//!
//! # Fields
//!
//! | field | type | comparators |
//! | --- | --- | --- |
//! | `display_name`, `contact.full_name`, `contact.job_title`, `contact.email`, `contact.phone`, `region.country_code`, `region.subdivision`, `region.city`, `owner`, `department`, `industry` | string | `=` (with optional trailing `*`), `!=`, `<`, `<=`, `>`, `>=` (lexicographic) |
//! | `kind` | enum: `ORGANIZATION`, `INDIVIDUAL` (proto prefix `CUSTOMER_KIND_`) | `=`, `!=` |
//! | `contact.job_rank` | enum: `EXECUTIVE`, `MIDDLE`, `FRONTLINE` (prefix `JOB_RANK_`) | `=`, `!=` |
//! | `contact.decision_role` | enum: `DECISION_MAKER`, `INFLUENCER`, `USER` (prefix `DECISION_ROLE_`) | `=`, `!=` |
//! | `employee_count` | integer (`i64`) | `=`, `!=`, `<`, `<=`, `>`, `>=` |
//! | `key_account`, `churned` | boolean: `true`, `false` | `=`, `!=` |
//! | `create_time`, `update_time`, `delete_time` | RFC 3339 timestamp, e.g. `2026-01-01T00:00:00Z` | `=`, `!=`, `<`, `<=`, `>`, `>=` |
//! | `tags` | repeated string | `:` ("has": `tags:vip`) |
//! | `needs` | repeated enum: `PRICE_SENSITIVE`, `FUNCTION_FOCUSED`, `QUALITY_FOCUSED`, `SERVICE_FOCUSED` (prefix `CUSTOMER_NEED_`) | `:` |
//! | `rank_tier` | enum: `EXECUTIVE`, `MIDDLE`, `FRONTLINE`, `UNKNOWN` (prefix `RANK_TIER_`) | `=`, `!=` |
//! | `value_tier` | enum: `HIGH`, `MEDIUM`, `LOW`, `NONE` (prefix `VALUE_TIER_`) | `=`, `!=` |
//! | `lifecycle_stage` | enum: `POTENTIAL`, `NEW`, `ACTIVE`, `DORMANT`, `CHURNED` (prefix `LIFECYCLE_STAGE_`) | `=`, `!=` |
//! | `behaviour` | enum: `FREQUENT`, `OCCASIONAL`, `ONE_TIME`, `NONE` (prefix `BEHAVIOUR_`) | `=`, `!=` |
//! | `size_segment` | enum: `ENTERPRISE`, `MID_MARKET`, `SMALL`, `MICRO`, `UNKNOWN` (prefix `SIZE_SEGMENT_`) | `=`, `!=` |
//! | `grade` | enum: `VIP`, `KEY`, `STANDARD`, `POTENTIAL` (prefix `GRADE_`) | `=`, `!=` |
//! | `score` | integer (`i64`; scores are 0 to 100) | `=`, `!=`, `<`, `<=`, `>`, `>=` |
//!
//! Enum values are written as the bare name (`ORGANIZATION`) or the proto name
//! (`CUSTOMER_KIND_ORGANIZATION`); both become the canonical bare name in
//! [`FilterValue::Enum`].
//!
//! The classification fields (`rank_tier` … `grade`, `score`) are the customer's current
//! classification, overrides included. A customer that has not been classified yet has none of
//! them: like any unset field, it matches `!=` and no other comparison (`grade != VIP` matches
//! it, `grade = VIP` and `score < 50` do not).
//!
//! # The tree
//!
//! The `AND`s and juxtapositions of one parenthesis level become one [`Filter::And`], the
//! `OR`s of one factor one [`Filter::Or`]; parentheses are otherwise kept as written, and an
//! `And`/`Or` of a single element is never produced. [`Filter::fields`] lists the fields a
//! filter reads, so a caller can refuse filters on fields it may not see.
//!
//! # Limits
//!
//! A filter is at most [`MAX_INPUT_BYTES`] bytes long, nests parentheses at most
//! [`MAX_DEPTH`] deep and has at most [`MAX_RESTRICTIONS`] restrictions. Parsing never
//! panics: every problem is a [`FilterError`] with the byte offset where it was found.

use std::fmt;

use chrono::{DateTime, Utc};

use crate::classification::Dimension;

/// The longest filter accepted, in bytes.
pub const MAX_INPUT_BYTES: usize = 4096;

/// The deepest nesting of parentheses accepted.
pub const MAX_DEPTH: usize = 32;

/// The most restrictions (`field comparator value`) one filter may contain.
pub const MAX_RESTRICTIONS: usize = 100;

/// A parsed, typed filter expression.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Filter {
    /// All of the filters match. Always has at least two elements when produced by the parser.
    And(Vec<Filter>),
    /// At least one of the filters matches. Always has at least two elements when produced by
    /// the parser.
    Or(Vec<Filter>),
    /// The filter does not match.
    Not(Box<Filter>),
    /// A scalar field compared with a value whose type matches the field.
    Compare {
        /// The field compared; never a repeated field.
        field: FilterField,
        /// How the field is compared with the value.
        op: CompareOp,
        /// The value, of the field's type.
        value: FilterValue,
    },
    /// A repeated field contains the value (`tags:vip`).
    Has {
        /// The repeated field: [`FilterField::Tags`] or [`FilterField::Needs`].
        field: FilterField,
        /// The element looked for: a [`FilterValue::String`] for tags, a
        /// [`FilterValue::Enum`] for needs.
        value: FilterValue,
    },
}

/// How a scalar field is compared with a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    /// `=`: equal.
    Eq,
    /// `!=`: not equal.
    Ne,
    /// `<`: less than (lexicographic for strings).
    Lt,
    /// `<=`: less than or equal.
    Le,
    /// `>`: greater than.
    Gt,
    /// `>=`: greater than or equal.
    Ge,
    /// `=` with a trailing `*`: the string field starts with the value, which holds the
    /// prefix without the `*`. Only on string fields.
    StartsWith,
}

/// A value in a restriction, already converted to the type of its field.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FilterValue {
    /// A string field's value, or an element of `tags`, with escapes resolved.
    String(String),
    /// An enum value by its canonical name without the proto prefix, e.g. `"DECISION_MAKER"`.
    Enum(&'static str),
    /// An integer field's value.
    Int(i64),
    /// A boolean field's value.
    Bool(bool),
    /// A timestamp field's value, converted to UTC.
    Timestamp(DateTime<Utc>),
}

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

/// Why a filter was rejected, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at position {position}: {message}")]
pub struct FilterError {
    /// Byte offset into the filter text where the problem was found.
    pub position: usize,
    /// What is wrong, written for the author of the filter.
    pub message: String,
}

impl FilterError {
    fn new(position: usize, message: impl Into<String>) -> Self {
        Self {
            position,
            message: message.into(),
        }
    }
}

impl Filter {
    /// Parses an AIP-160 filter. Empty or whitespace-only input means "no filter" and gives
    /// `Ok(None)`.
    ///
    /// # Errors
    ///
    /// A [`FilterError`] for any syntax error, unknown field, comparator the field does not
    /// support, value of the wrong type, or exceeded limit ([`MAX_INPUT_BYTES`],
    /// [`MAX_DEPTH`], [`MAX_RESTRICTIONS`]).
    pub fn parse(input: &str) -> Result<Option<Filter>, FilterError> {
        if input.len() > MAX_INPUT_BYTES {
            return Err(FilterError::new(
                MAX_INPUT_BYTES,
                format!(
                    "the filter is {} bytes long; at most {MAX_INPUT_BYTES} are allowed",
                    input.len()
                ),
            ));
        }
        let mut parser = Parser {
            src: input,
            pos: 0,
            depth: 0,
            restrictions: 0,
        };
        parser.skip_ws();
        if parser.at_end() {
            return Ok(None);
        }
        let filter = parser.expression()?;
        parser.skip_ws();
        match parser.peek() {
            None => Ok(Some(filter)),
            Some(')') => Err(FilterError::new(
                parser.pos,
                "unmatched `)`: there is no `(` for it to close",
            )),
            // `expression` only stops at `)` or the end; anything else is a parser bug, which
            // is reported rather than panicking.
            Some(c) => Err(FilterError::new(parser.pos, format!("unexpected `{c}`"))),
        }
    }

    /// Every field the filter reads, each once, in order of first appearance.
    pub fn fields(&self) -> Vec<FilterField> {
        let mut fields = Vec::new();
        let mut stack = vec![self];
        while let Some(filter) = stack.pop() {
            match filter {
                Filter::And(items) | Filter::Or(items) => stack.extend(items.iter().rev()),
                Filter::Not(inner) => stack.push(inner),
                Filter::Compare { field, .. } | Filter::Has { field, .. } => {
                    if !fields.contains(field) {
                        fields.push(*field);
                    }
                }
            }
        }
        fields
    }
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

    fn kind(self) -> FieldKind {
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
enum FieldKind {
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
    fn comparators(self) -> &'static str {
        match self {
            FieldKind::String => "=, !=, <, <=, >, >= (and = \"prefix*\")",
            FieldKind::Enum(_) | FieldKind::Bool => "= and !=",
            FieldKind::Int | FieldKind::Timestamp => "=, !=, <, <=, >, >=",
            FieldKind::RepeatedString | FieldKind::RepeatedEnum(_) => ": (has)",
        }
    }

    fn describe(self) -> &'static str {
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
struct EnumSpec {
    prefix: &'static str,
    names: &'static [&'static str],
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

/// A comparator as written: one of the six comparisons, or `:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Comparator {
    Compare(CompareOp),
    Has,
}

impl Comparator {
    fn symbol(self) -> &'static str {
        match self {
            Comparator::Compare(CompareOp::Eq | CompareOp::StartsWith) => "=",
            Comparator::Compare(CompareOp::Ne) => "!=",
            Comparator::Compare(CompareOp::Lt) => "<",
            Comparator::Compare(CompareOp::Le) => "<=",
            Comparator::Compare(CompareOp::Gt) => ">",
            Comparator::Compare(CompareOp::Ge) => ">=",
            Comparator::Has => ":",
        }
    }
}

/// A value as written, before it is converted to the field's type.
#[derive(Debug)]
struct RawValue {
    /// The text with escapes resolved, including any trailing `*`.
    text: String,
    /// The text ends with a `*` that was not escaped.
    wildcard: bool,
    /// Byte offset of the value (of its opening quote, if quoted).
    position: usize,
}

/// A recursive-descent parser over the filter text. `pos` is always on a char boundary: it
/// only moves by whole characters or by the length of text it has just read.
#[derive(Debug)]
struct Parser<'a> {
    src: &'a str,
    pos: usize,
    depth: usize,
    restrictions: usize,
}

fn is_comparator_char(c: char) -> bool {
    matches!(c, '=' | '!' | '<' | '>' | ':')
}

/// Characters that may appear in a field name or keyword as scanned (anything that is not a
/// delimiter); whether the word is a known field is decided afterwards.
fn is_word_char(c: char) -> bool {
    !(c.is_whitespace() || is_comparator_char(c) || matches!(c, '(' | ')' | '"' | '\''))
}

/// One element stays itself; several are combined with `combine`.
fn collapse(mut items: Vec<Filter>, combine: fn(Vec<Filter>) -> Filter) -> Filter {
    if items.len() == 1
        && let Some(only) = items.pop()
    {
        return only;
    }
    combine(items)
}

/// `text` for an error message: control characters escaped, cut after 40 characters.
fn excerpt(text: &str) -> String {
    crate::text::shorten(text)
}

/// The error for a control character `c` at byte offset `position` inside a value.
fn control_in_value(position: usize, c: char) -> FilterError {
    FilterError::new(
        position,
        format!(
            "a value cannot contain the control character {}: no stored value has control characters",
            crate::text::code_point(c)
        ),
    )
}

fn known_fields() -> String {
    FilterField::ALL
        .iter()
        .map(|field| field.path())
        .collect::<Vec<_>>()
        .join(", ")
}

impl<'a> Parser<'a> {
    fn rest(&self) -> &'a str {
        self.src.get(self.pos..).unwrap_or("")
    }

    fn at_end(&self) -> bool {
        self.rest().is_empty()
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.bump();
        }
    }

    /// The word starting at the current position (possibly empty), without consuming it.
    fn peek_word(&self) -> &'a str {
        let rest = self.rest();
        let end = rest
            .char_indices()
            .find(|&(_, c)| !is_word_char(c))
            .map_or(rest.len(), |(i, _)| i);
        rest.get(..end).unwrap_or("")
    }

    /// Consumes `keyword` if it is the next word.
    fn eat_keyword(&mut self, keyword: &str) -> bool {
        if self.peek_word() == keyword {
            self.pos += keyword.len();
            true
        } else {
            false
        }
    }

    fn peek_comparator(&self) -> Option<(Comparator, usize)> {
        let rest = self.rest();
        let found = [
            ("!=", Comparator::Compare(CompareOp::Ne)),
            ("<=", Comparator::Compare(CompareOp::Le)),
            (">=", Comparator::Compare(CompareOp::Ge)),
            ("=", Comparator::Compare(CompareOp::Eq)),
            ("<", Comparator::Compare(CompareOp::Lt)),
            (">", Comparator::Compare(CompareOp::Gt)),
            (":", Comparator::Has),
        ]
        .into_iter()
        .find(|(symbol, _)| rest.starts_with(symbol));
        found.map(|(symbol, comparator)| (comparator, symbol.len()))
    }

    /// `expression = sequence {"AND" sequence}`; the factors of all sequences form one `And`.
    fn expression(&mut self) -> Result<Filter, FilterError> {
        let mut items = Vec::new();
        self.sequence(&mut items)?;
        loop {
            self.skip_ws();
            if !self.eat_keyword("AND") {
                break;
            }
            self.sequence(&mut items)?;
        }
        Ok(collapse(items, Filter::And))
    }

    /// `sequence = factor {factor}`: pushes each factor onto `items`.
    fn sequence(&mut self, items: &mut Vec<Filter>) -> Result<(), FilterError> {
        items.push(self.factor()?);
        loop {
            self.skip_ws();
            if matches!(self.peek(), None | Some(')')) || self.peek_word() == "AND" {
                return Ok(());
            }
            items.push(self.factor()?);
        }
    }

    /// `factor = term {"OR" term}`.
    fn factor(&mut self) -> Result<Filter, FilterError> {
        let mut terms = vec![self.term()?];
        loop {
            self.skip_ws();
            if !self.eat_keyword("OR") {
                break;
            }
            terms.push(self.term()?);
        }
        Ok(collapse(terms, Filter::Or))
    }

    /// `term = ["NOT" | "-"] simple`.
    fn term(&mut self) -> Result<Filter, FilterError> {
        self.skip_ws();
        let start = self.pos;
        if self.peek() == Some('-') {
            self.bump();
            if self.peek().is_none_or(char::is_whitespace) {
                return Err(FilterError::new(
                    start,
                    "`-` must be written directly before what it negates, e.g. -churned = true",
                ));
            }
        } else if self.eat_keyword("NOT") {
            self.skip_ws();
        } else {
            return self.simple();
        }
        if self.peek() == Some('-') || self.peek_word() == "NOT" {
            return Err(FilterError::new(
                self.pos,
                "a negation cannot directly follow another; use parentheses: NOT (NOT ...)",
            ));
        }
        Ok(Filter::Not(Box::new(self.simple()?)))
    }

    /// `simple = restriction | "(" expression ")"`.
    fn simple(&mut self) -> Result<Filter, FilterError> {
        self.skip_ws();
        if self.peek() != Some('(') {
            return self.restriction();
        }
        let open = self.pos;
        if self.depth >= MAX_DEPTH {
            return Err(FilterError::new(
                open,
                format!("parentheses are nested too deeply; at most {MAX_DEPTH} levels are allowed"),
            ));
        }
        self.bump();
        self.skip_ws();
        if self.peek() == Some(')') {
            return Err(FilterError::new(
                open,
                "empty parentheses: write at least one restriction inside ( )",
            ));
        }
        self.depth += 1;
        let inner = self.expression()?;
        self.depth -= 1;
        self.skip_ws();
        if self.bump() != Some(')') {
            return Err(FilterError::new(
                self.src.len(),
                format!("missing `)` to close the `(` at position {open}"),
            ));
        }
        Ok(inner)
    }

    /// `restriction = field comparator value`.
    fn restriction(&mut self) -> Result<Filter, FilterError> {
        let start = self.pos;
        match self.peek() {
            None => {
                return Err(FilterError::new(
                    start,
                    "expected a restriction such as display_name = \"Acme\", found the end of the filter",
                ));
            }
            Some(')') if self.depth == 0 => {
                return Err(FilterError::new(
                    start,
                    "unmatched `)`: there is no `(` for it to close",
                ));
            }
            Some(')') => {
                return Err(FilterError::new(
                    start,
                    "expected a restriction such as display_name = \"Acme\", found `)`",
                ));
            }
            Some('"' | '\'') => {
                return Err(FilterError::new(
                    start,
                    "a bare value (global text search) is not supported: name the field to \
                     match, e.g. display_name = \"Acme\"",
                ));
            }
            Some(c) if is_comparator_char(c) => {
                return Err(FilterError::new(start, format!("expected a field name before `{c}`")));
            }
            Some(_) => {}
        }

        let word = self.peek_word();
        if matches!(word, "AND" | "OR" | "NOT") {
            return Err(FilterError::new(
                start,
                format!("expected a restriction such as display_name = \"Acme\", found the keyword {word}"),
            ));
        }
        if ["and", "or", "not"]
            .iter()
            .any(|keyword| word.eq_ignore_ascii_case(keyword))
        {
            return Err(FilterError::new(
                start,
                format!(
                    "`{word}` is not a keyword: write AND, OR and NOT in uppercase, e.g. {}",
                    word.to_ascii_uppercase()
                ),
            ));
        }
        self.pos += word.len();
        self.skip_ws();

        let comparator_pos = self.pos;
        let Some((comparator, len)) = self.peek_comparator() else {
            if self.peek() == Some('!') {
                return Err(FilterError::new(
                    comparator_pos,
                    "unknown comparator `!`; use =, !=, <, <=, >, >= or :",
                ));
            }
            let message = match FilterField::from_path(word) {
                Some(field) => format!(
                    "`{word}` needs a comparator and a value; {} supports {}",
                    field.path(),
                    field.kind().comparators()
                ),
                None => format!(
                    "`{shown}` has no comparator: a bare value (global text search) is not \
                     supported; name the field to match, e.g. display_name = \"{shown}\"",
                    shown = excerpt(word)
                ),
            };
            return Err(FilterError::new(start, message));
        };

        let Some(field) = FilterField::from_path(word) else {
            return Err(FilterError::new(
                start,
                format!(
                    "unknown field `{}`; the fields you can filter on are: {}",
                    excerpt(word),
                    known_fields()
                ),
            ));
        };
        self.restrictions += 1;
        if self.restrictions > MAX_RESTRICTIONS {
            return Err(FilterError::new(
                start,
                format!("too many restrictions; a filter may contain at most {MAX_RESTRICTIONS}"),
            ));
        }
        check_comparator(field, comparator, comparator_pos)?;
        self.pos += len;
        self.skip_ws();
        let raw = self.value(comparator)?;
        restriction(field, comparator, raw)
    }

    /// A quoted or bare value after `comparator`.
    fn value(&mut self, comparator: Comparator) -> Result<RawValue, FilterError> {
        let start = self.pos;
        let symbol = comparator.symbol();
        match self.peek() {
            None => Err(FilterError::new(
                start,
                format!("expected a value after `{symbol}`, found the end of the filter"),
            )),
            Some(quote @ ('"' | '\'')) => {
                let value = self.quoted(quote)?;
                if self.peek().is_some_and(|c| !c.is_whitespace() && c != ')') {
                    return Err(FilterError::new(
                        self.pos,
                        "expected whitespace, `)` or the end of the filter after the closing quote",
                    ));
                }
                Ok(value)
            }
            Some(c @ ('(' | ')')) => Err(FilterError::new(
                start,
                format!("expected a value after `{symbol}`, found `{c}`; quote values that contain parentheses"),
            )),
            Some(c) if is_comparator_char(c) => Err(FilterError::new(
                start,
                format!("expected a value after `{symbol}`, found `{c}`"),
            )),
            Some(_) => {
                let rest = self.rest();
                let end = rest
                    .char_indices()
                    .find(|&(_, c)| c.is_whitespace() || matches!(c, '(' | ')'))
                    .map_or(rest.len(), |(i, _)| i);
                let text = rest.get(..end).unwrap_or("");
                if let Some((offset, c)) = text.char_indices().find(|(_, c)| c.is_control()) {
                    return Err(control_in_value(start + offset, c));
                }
                if matches!(text, "AND" | "OR" | "NOT") {
                    return Err(FilterError::new(
                        start,
                        format!(
                            "expected a value after `{symbol}`, found the keyword {text}; \
                             write \"{text}\" to use it as a value"
                        ),
                    ));
                }
                self.pos += end;
                if self.peek() == Some('(') {
                    return Err(FilterError::new(
                        self.pos,
                        "unexpected `(` after the value; quote values that contain parentheses",
                    ));
                }
                Ok(RawValue {
                    text: text.to_owned(),
                    wildcard: text.ends_with('*'),
                    position: start,
                })
            }
        }
    }

    /// A string in `quote`s, with backslash escapes; the current character is the opening
    /// quote.
    fn quoted(&mut self, quote: char) -> Result<RawValue, FilterError> {
        let start = self.pos;
        self.bump();
        let mut text = String::new();
        let mut wildcard = false;
        let unterminated = || {
            FilterError::new(
                start,
                format!("unterminated string: the {quote} opened here is never closed"),
            )
        };
        loop {
            let here = self.pos;
            let c = self.bump().ok_or_else(unterminated)?;
            if c == quote {
                break;
            }
            if c.is_control() {
                return Err(control_in_value(here, c));
            }
            wildcard = c == '*';
            if c != '\\' {
                text.push(c);
                continue;
            }
            let escaped = self.bump().ok_or_else(unterminated)?;
            text.push(match escaped {
                '"' | '\'' | '\\' | '*' => escaped,
                other => {
                    return Err(FilterError::new(
                        here,
                        format!(
                            "unknown escape `\\{}`; the escapes are \\\", \\', \\\\ and \\* (values cannot \
                             contain line breaks, tabs or other control characters)",
                            excerpt(&other.to_string())
                        ),
                    ));
                }
            });
        }
        Ok(RawValue {
            text,
            wildcard,
            position: start,
        })
    }
}

/// Checks that `field` supports `comparator`, before its value is read.
fn check_comparator(field: FilterField, comparator: Comparator, position: usize) -> Result<(), FilterError> {
    let kind = field.kind();
    let path = field.path();
    let supported = match (kind, comparator) {
        (FieldKind::RepeatedString | FieldKind::RepeatedEnum(_), Comparator::Has) => true,
        (FieldKind::RepeatedString | FieldKind::RepeatedEnum(_), Comparator::Compare(_)) => {
            return Err(FilterError::new(
                position,
                format!("{path} is a repeated field: test membership with `:`, e.g. {path}:value"),
            ));
        }
        (_, Comparator::Has) => {
            return Err(FilterError::new(
                position,
                format!(
                    "`:` (has) applies only to the repeated fields tags and needs; \
                     {path} is {} and supports {}",
                    kind.describe(),
                    kind.comparators()
                ),
            ));
        }
        (FieldKind::String | FieldKind::Int | FieldKind::Timestamp, Comparator::Compare(_)) => true,
        (FieldKind::Enum(_) | FieldKind::Bool, Comparator::Compare(op)) => {
            matches!(op, CompareOp::Eq | CompareOp::Ne)
        }
    };
    if supported {
        Ok(())
    } else {
        Err(FilterError::new(
            position,
            format!(
                "`{}` does not apply to {path}, which is {} and supports only {}",
                comparator.symbol(),
                kind.describe(),
                kind.comparators()
            ),
        ))
    }
}

/// Builds the restriction, converting `raw` to the type of `field`. The comparator has been
/// checked by [`check_comparator`].
fn restriction(field: FilterField, comparator: Comparator, raw: RawValue) -> Result<Filter, FilterError> {
    let path = field.path();
    let compare = |op: CompareOp, value: FilterValue| Filter::Compare { field, op, value };
    // `:` reaches only the repeated-field arms, which do not use `op`.
    let op = match comparator {
        Comparator::Compare(op) => op,
        Comparator::Has => CompareOp::Eq,
    };
    match field.kind() {
        FieldKind::String => {
            if !raw.wildcard {
                return Ok(compare(op, FilterValue::String(raw.text)));
            }
            if op != CompareOp::Eq {
                return Err(wildcard_error(&raw, comparator));
            }
            let mut prefix = raw.text;
            prefix.pop();
            Ok(compare(CompareOp::StartsWith, FilterValue::String(prefix)))
        }
        FieldKind::RepeatedString => {
            if raw.wildcard {
                return Err(wildcard_error(&raw, comparator));
            }
            Ok(Filter::Has {
                field,
                value: FilterValue::String(raw.text),
            })
        }
        FieldKind::Enum(spec) => Ok(compare(op, FilterValue::Enum(enum_value(spec, field, &raw)?))),
        FieldKind::RepeatedEnum(spec) => Ok(Filter::Has {
            field,
            value: FilterValue::Enum(enum_value(spec, field, &raw)?),
        }),
        FieldKind::Int => match raw.text.parse::<i64>() {
            Ok(number) => Ok(compare(op, FilterValue::Int(number))),
            Err(error) => {
                let reason = match error.kind() {
                    std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
                        "is out of range for a 64-bit integer"
                    }
                    _ => "is not an integer",
                };
                Err(FilterError::new(
                    raw.position,
                    format!(
                        "`{}` {reason}; {path} takes a whole number such as 42",
                        excerpt(&raw.text)
                    ),
                ))
            }
        },
        FieldKind::Bool => match raw.text.as_str() {
            "true" => Ok(compare(op, FilterValue::Bool(true))),
            "false" => Ok(compare(op, FilterValue::Bool(false))),
            _ => Err(FilterError::new(
                raw.position,
                format!("`{}` is not a boolean; {path} takes true or false", excerpt(&raw.text)),
            )),
        },
        FieldKind::Timestamp => match DateTime::parse_from_rfc3339(&raw.text) {
            Ok(time) => Ok(compare(op, FilterValue::Timestamp(time.with_timezone(&Utc)))),
            Err(error) => Err(FilterError::new(
                raw.position,
                format!(
                    "`{}` is not an RFC 3339 timestamp ({error}); {path} takes a time such as \
                     2026-01-01T00:00:00Z",
                    excerpt(&raw.text)
                ),
            )),
        },
    }
}

fn wildcard_error(raw: &RawValue, comparator: Comparator) -> FilterError {
    FilterError::new(
        raw.position,
        format!(
            "a trailing `*` (prefix match) works only with `=` on string fields, not with `{}`; \
             to match a literal asterisk, quote the value and write \\*",
            comparator.symbol()
        ),
    )
}

/// The canonical name of the enum value `raw`, written bare or with the proto prefix.
fn enum_value(spec: &'static EnumSpec, field: FilterField, raw: &RawValue) -> Result<&'static str, FilterError> {
    let name = raw.text.strip_prefix(spec.prefix).unwrap_or(&raw.text);
    spec.names
        .iter()
        .copied()
        .find(|allowed| *allowed == name)
        .ok_or_else(|| {
            FilterError::new(
                raw.position,
                format!(
                    "`{}` is not a valid {}; allowed values are {} (optionally prefixed with {})",
                    excerpt(&raw.text),
                    field.path(),
                    spec.names.join(", "),
                    spec.prefix
                ),
            )
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::classification::ClassValue;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn parse(input: &str) -> Filter {
        match Filter::parse(input) {
            Ok(Some(filter)) => filter,
            other => panic!("{input:?} should parse to a filter, got {other:?}"),
        }
    }

    fn parse_error(input: &str) -> FilterError {
        match Filter::parse(input) {
            Err(error) => error,
            Ok(parsed) => panic!("{input:?} should be rejected, got {parsed:?}"),
        }
    }

    /// Asserts that `input` is rejected at `position` with a message containing `needle`.
    fn assert_rejected(input: &str, position: usize, needle: &str) {
        let error = parse_error(input);
        assert_eq!(error.position, position, "{input:?}: {error}");
        assert!(
            error.message.contains(needle),
            "{input:?}: expected the message to contain {needle:?}, got {error}"
        );
    }

    fn cmp(field: FilterField, op: CompareOp, value: FilterValue) -> Filter {
        Filter::Compare { field, op, value }
    }

    fn string(field: FilterField, op: CompareOp, value: &str) -> Filter {
        cmp(field, op, FilterValue::String(value.to_owned()))
    }

    fn name_is(value: &str) -> Filter {
        string(FilterField::DisplayName, CompareOp::Eq, value)
    }

    fn count(op: CompareOp, value: i64) -> Filter {
        cmp(FilterField::EmployeeCount, op, FilterValue::Int(value))
    }

    fn not(filter: Filter) -> Filter {
        Filter::Not(Box::new(filter))
    }

    // ---- Documented forms -------------------------------------------------------------

    #[test]
    fn empty_and_whitespace_only_filters_mean_no_filter() {
        assert_eq!(Filter::parse(""), Ok(None));
        assert_eq!(Filter::parse("  \t\n "), Ok(None));
    }

    #[test]
    fn every_comparator_parses_on_an_integer_field() {
        for (text, op) in [
            ("=", CompareOp::Eq),
            ("!=", CompareOp::Ne),
            ("<", CompareOp::Lt),
            ("<=", CompareOp::Le),
            (">", CompareOp::Gt),
            (">=", CompareOp::Ge),
        ] {
            assert_eq!(parse(&format!("employee_count {text} 42")), count(op, 42));
            assert_eq!(parse(&format!("employee_count{text}42")), count(op, 42));
        }
    }

    #[test]
    fn integers_may_be_negative_or_quoted() {
        assert_eq!(parse("employee_count > -5"), count(CompareOp::Gt, -5));
        assert_eq!(parse("employee_count = \"7\""), count(CompareOp::Eq, 7));
        assert_eq!(
            parse("employee_count >= -9223372036854775808"),
            count(CompareOp::Ge, i64::MIN)
        );
    }

    #[test]
    fn string_fields_accept_equality_and_lexicographic_ordering() {
        for (text, op) in [
            ("=", CompareOp::Eq),
            ("!=", CompareOp::Ne),
            ("<", CompareOp::Lt),
            ("<=", CompareOp::Le),
            (">", CompareOp::Gt),
            (">=", CompareOp::Ge),
        ] {
            assert_eq!(
                parse(&format!("region.city {text} \"Berlin\"")),
                string(FilterField::RegionCity, op, "Berlin")
            );
        }
    }

    #[test]
    fn every_string_field_is_recognised_by_its_path() {
        for field in FilterField::ALL {
            if matches!(field.kind(), FieldKind::String) {
                assert_eq!(
                    parse(&format!("{} = x", field.path())),
                    string(field, CompareOp::Eq, "x")
                );
            }
        }
    }

    #[test]
    fn double_and_single_quotes_and_bare_words_give_the_same_string() {
        let expected = name_is("Acme");
        assert_eq!(parse("display_name = \"Acme\""), expected);
        assert_eq!(parse("display_name = 'Acme'"), expected);
        assert_eq!(parse("display_name = Acme"), expected);
    }

    #[test]
    fn quoted_strings_resolve_escapes_and_keep_other_quotes_and_spaces() {
        assert_eq!(
            parse(r#"display_name = "say \"hi\" \\ now""#),
            name_is("say \"hi\" \\ now")
        );
        assert_eq!(parse(r"display_name = 'it\'s'"), name_is("it's"));
        assert_eq!(parse(r#"display_name = 'say "hi"'"#), name_is("say \"hi\""));
        assert_eq!(parse(r#"display_name = "O'Brien""#), name_is("O'Brien"));
        assert_eq!(
            parse("display_name = \"a (b) AND c OR NOT d\""),
            name_is("a (b) AND c OR NOT d")
        );
        assert_eq!(parse("display_name = \"\""), name_is(""));
        assert_eq!(parse("display_name = \"北京 公司\""), name_is("北京 公司"));
    }

    #[test]
    fn keywords_can_be_values_when_quoted() {
        assert_eq!(parse("display_name = \"AND\""), name_is("AND"));
        assert_eq!(parse("display_name = 'NOT'"), name_is("NOT"));
    }

    #[test]
    fn a_trailing_star_after_equals_is_a_prefix_match() {
        let expected = string(FilterField::DisplayName, CompareOp::StartsWith, "Acme");
        assert_eq!(parse("display_name = \"Acme*\""), expected);
        assert_eq!(parse("display_name = 'Acme*'"), expected);
        assert_eq!(parse("display_name = Acme*"), expected);
        assert_eq!(
            parse("display_name = \"*\""),
            string(FilterField::DisplayName, CompareOp::StartsWith, "")
        );
    }

    #[test]
    fn a_star_that_is_not_trailing_or_is_escaped_is_a_literal() {
        assert_eq!(parse("display_name = \"A*cme\""), name_is("A*cme"));
        assert_eq!(parse("display_name = *Acme"), name_is("*Acme"));
        assert_eq!(parse(r#"display_name = "Acme\*""#), name_is("Acme*"));
        assert_eq!(
            parse(r#"display_name = "A\*b**""#),
            string(FilterField::DisplayName, CompareOp::StartsWith, "A*b*")
        );
        // An escaped backslash before the star leaves the star unescaped.
        assert_eq!(
            parse(r#"display_name = "A\\*""#),
            string(FilterField::DisplayName, CompareOp::StartsWith, "A\\")
        );
    }

    #[test]
    fn enum_fields_accept_bare_quoted_and_prefixed_names() {
        let organization = cmp(FilterField::Kind, CompareOp::Eq, FilterValue::Enum("ORGANIZATION"));
        assert_eq!(parse("kind = ORGANIZATION"), organization);
        assert_eq!(parse("kind = \"ORGANIZATION\""), organization);
        assert_eq!(parse("kind = CUSTOMER_KIND_ORGANIZATION"), organization);
        assert_eq!(parse("kind='CUSTOMER_KIND_ORGANIZATION'"), organization);
        assert_eq!(
            parse("contact.job_rank != JOB_RANK_EXECUTIVE"),
            cmp(
                FilterField::ContactJobRank,
                CompareOp::Ne,
                FilterValue::Enum("EXECUTIVE")
            )
        );
        assert_eq!(
            parse("contact.decision_role = DECISION_ROLE_DECISION_MAKER"),
            cmp(
                FilterField::ContactDecisionRole,
                CompareOp::Eq,
                FilterValue::Enum("DECISION_MAKER")
            )
        );
        assert_eq!(
            parse("contact.decision_role = USER"),
            cmp(
                FilterField::ContactDecisionRole,
                CompareOp::Eq,
                FilterValue::Enum("USER")
            )
        );
    }

    #[test]
    fn boolean_fields_accept_true_and_false() {
        assert_eq!(
            parse("key_account = true"),
            cmp(FilterField::KeyAccount, CompareOp::Eq, FilterValue::Bool(true))
        );
        assert_eq!(
            parse("churned != \"false\""),
            cmp(FilterField::Churned, CompareOp::Ne, FilterValue::Bool(false))
        );
    }

    #[test]
    fn timestamps_are_rfc3339_bare_or_quoted_and_converted_to_utc() {
        let new_year = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(
            parse("create_time >= 2026-01-01T00:00:00Z"),
            cmp(FilterField::CreateTime, CompareOp::Ge, FilterValue::Timestamp(new_year))
        );
        assert_eq!(
            parse("update_time < \"2026-01-01T01:00:00+01:00\""),
            cmp(FilterField::UpdateTime, CompareOp::Lt, FilterValue::Timestamp(new_year))
        );
        assert_eq!(
            parse("(delete_time != 2026-01-01T00:00:00.000Z)"),
            cmp(FilterField::DeleteTime, CompareOp::Ne, FilterValue::Timestamp(new_year))
        );
    }

    #[test]
    fn repeated_fields_use_the_has_operator() {
        assert_eq!(
            parse("tags:vip"),
            Filter::Has {
                field: FilterField::Tags,
                value: FilterValue::String("vip".to_owned())
            }
        );
        assert_eq!(
            parse("tags : \"big fish\""),
            Filter::Has {
                field: FilterField::Tags,
                value: FilterValue::String("big fish".to_owned())
            }
        );
        let price = Filter::Has {
            field: FilterField::Needs,
            value: FilterValue::Enum("PRICE_SENSITIVE"),
        };
        assert_eq!(parse("needs:PRICE_SENSITIVE"), price);
        assert_eq!(parse("needs:CUSTOMER_NEED_PRICE_SENSITIVE"), price);
    }

    #[test]
    fn not_and_minus_negate_the_following_term() {
        let churned = cmp(FilterField::Churned, CompareOp::Eq, FilterValue::Bool(true));
        assert_eq!(parse("NOT churned = true"), not(churned.clone()));
        assert_eq!(parse("-churned = true"), not(churned.clone()));
        assert_eq!(parse("NOT(churned = true)"), not(churned.clone()));
        assert_eq!(parse("-(churned = true)"), not(churned.clone()));
        assert_eq!(parse("NOT (NOT churned = true)"), not(not(churned.clone())));
    }

    #[test]
    fn not_binds_tighter_than_or() {
        assert_eq!(
            parse("NOT display_name = a OR display_name = b"),
            Filter::Or(vec![not(name_is("a")), name_is("b")])
        );
    }

    #[test]
    fn and_and_juxtaposition_build_one_conjunction() {
        let expected = Filter::And(vec![name_is("a"), name_is("b"), name_is("c")]);
        assert_eq!(
            parse("display_name = a AND display_name = b AND display_name = c"),
            expected
        );
        assert_eq!(parse("display_name = a display_name = b display_name = c"), expected);
        assert_eq!(
            parse("display_name = a AND display_name = b display_name = c"),
            expected
        );
        assert_eq!(parse("display_name=a\tdisplay_name=b\ndisplay_name=c"), expected);
    }

    #[test]
    fn or_builds_one_disjunction() {
        assert_eq!(
            parse("display_name = a OR display_name = b OR display_name = c"),
            Filter::Or(vec![name_is("a"), name_is("b"), name_is("c")])
        );
    }

    #[test]
    fn or_binds_tighter_than_and() {
        let expected = Filter::And(vec![name_is("a"), Filter::Or(vec![name_is("b"), name_is("c")])]);
        assert_eq!(
            parse("display_name = a AND display_name = b OR display_name = c"),
            expected
        );
        assert_eq!(parse("display_name = a display_name = b OR display_name = c"), expected);
        assert_eq!(
            parse("display_name = a OR display_name = b AND display_name = c"),
            Filter::And(vec![Filter::Or(vec![name_is("a"), name_is("b")]), name_is("c"),])
        );
    }

    #[test]
    fn or_binds_tighter_than_juxtaposition() {
        assert_eq!(
            parse("display_name = a OR display_name = b display_name = c"),
            Filter::And(vec![Filter::Or(vec![name_is("a"), name_is("b")]), name_is("c"),])
        );
    }

    #[test]
    fn parentheses_override_precedence_and_are_kept_as_groups() {
        assert_eq!(
            parse("(display_name = a AND display_name = b) OR display_name = c"),
            Filter::Or(vec![Filter::And(vec![name_is("a"), name_is("b")]), name_is("c"),])
        );
        assert_eq!(
            parse("(display_name = a AND display_name = b) AND display_name = c"),
            Filter::And(vec![Filter::And(vec![name_is("a"), name_is("b")]), name_is("c"),])
        );
        assert_eq!(parse("((( display_name = a )))"), name_is("a"));
        assert_eq!(
            parse("(display_name = a)(display_name = b)"),
            Filter::And(vec![name_is("a"), name_is("b")])
        );
    }

    #[test]
    fn a_realistic_filter_parses_to_the_expected_tree() {
        let filter = parse(
            "kind = ORGANIZATION AND (contact.job_rank = EXECUTIVE OR contact.decision_role = \
             DECISION_MAKER) employee_count >= 100 -churned = true tags:vip display_name = \"Ac*\"",
        );
        assert_eq!(
            filter,
            Filter::And(vec![
                cmp(FilterField::Kind, CompareOp::Eq, FilterValue::Enum("ORGANIZATION")),
                Filter::Or(vec![
                    cmp(
                        FilterField::ContactJobRank,
                        CompareOp::Eq,
                        FilterValue::Enum("EXECUTIVE")
                    ),
                    cmp(
                        FilterField::ContactDecisionRole,
                        CompareOp::Eq,
                        FilterValue::Enum("DECISION_MAKER")
                    ),
                ]),
                count(CompareOp::Ge, 100),
                not(cmp(FilterField::Churned, CompareOp::Eq, FilterValue::Bool(true))),
                Filter::Has {
                    field: FilterField::Tags,
                    value: FilterValue::String("vip".to_owned())
                },
                string(FilterField::DisplayName, CompareOp::StartsWith, "Ac"),
            ])
        );
    }

    #[test]
    fn fields_lists_each_referenced_field_once_in_order_of_appearance() {
        let filter = parse("contact.email = a (NOT kind = INDIVIDUAL OR contact.email = b) tags:x employee_count > 1");
        assert_eq!(
            filter.fields(),
            vec![
                FilterField::ContactEmail,
                FilterField::Kind,
                FilterField::Tags,
                FilterField::EmployeeCount,
            ]
        );
    }

    #[test]
    fn field_paths_round_trip_and_are_unique() {
        for field in FilterField::ALL {
            assert_eq!(FilterField::from_path(field.path()), Some(field));
            assert_eq!(field.to_string(), field.path());
        }
        let mut paths: Vec<_> = FilterField::ALL.iter().map(|f| f.path()).collect();
        paths.sort_unstable();
        paths.dedup();
        assert_eq!(paths.len(), FilterField::ALL.len());
        assert_eq!(FilterField::from_path("name"), None);
    }

    #[test]
    fn long_values_are_shortened_in_error_messages() {
        let long = "x".repeat(1000);
        let error = parse_error(&format!("employee_count = {long}"));
        assert!(error.message.len() < 200, "{error}");
        assert!(error.message.contains(&format!("`{}…`", "x".repeat(40))), "{error}");
        let error = parse_error(&format!("{long}é = 1"));
        assert!(error.message.contains(&format!("`{}…`", "x".repeat(40))), "{error}");
        assert_eq!(excerpt("ééé"), "ééé");
    }

    #[test]
    fn the_error_displays_its_position_and_message() {
        let error = FilterError::new(7, "boom");
        assert_eq!(error.to_string(), "at position 7: boom");
    }

    // ---- Errors -----------------------------------------------------------------------

    #[test]
    fn a_bare_value_is_rejected_as_unsupported_global_search() {
        assert_rejected("Acme", 0, "global text search");
        assert_rejected("kind = INDIVIDUAL  Acme", 19, "global text search");
        assert_rejected("\"Acme Corp\"", 0, "global text search");
        assert_rejected("display_name", 0, "needs a comparator");
    }

    #[test]
    fn an_unknown_field_is_rejected_with_the_list_of_known_fields() {
        let error = parse_error("kind = ORGANIZATION AND colour = red");
        assert_eq!(error.position, 24);
        assert!(error.message.contains("unknown field `colour`"), "{error}");
        for field in FilterField::ALL {
            assert!(error.message.contains(field.path()), "{error}");
        }
        assert_rejected("contact.nickname = x", 0, "unknown field `contact.nickname`");
        assert_rejected("名前 = x", 0, "unknown field `名前`");
    }

    #[test]
    fn lowercase_keywords_are_rejected_with_a_hint() {
        assert_rejected("display_name = a and display_name = b", 17, "uppercase");
        assert_rejected("display_name = a or display_name = b", 17, "uppercase");
        assert_rejected("not display_name = a", 0, "uppercase");
    }

    #[test]
    fn misplaced_keywords_are_rejected() {
        assert_rejected("AND display_name = a", 0, "keyword AND");
        assert_rejected("display_name = a OR OR display_name = b", 20, "keyword OR");
        assert_rejected("display_name = a AND", 20, "end of the filter");
        assert_rejected("display_name = a OR", 19, "end of the filter");
        assert_rejected("NOT", 3, "end of the filter");
        assert_rejected("display_name = AND", 15, "keyword AND");
        assert_rejected("NOT NOT churned = true", 4, "negation");
        assert_rejected("--churned = true", 1, "negation");
        assert_rejected("- churned = true", 0, "directly before");
    }

    #[test]
    fn unbalanced_or_empty_parentheses_are_rejected() {
        assert_rejected("(display_name = a", 17, "missing `)` to close the `(` at position 0");
        assert_rejected("display_name = a)", 16, "unmatched `)`");
        assert_rejected("()", 0, "empty parentheses");
        assert_rejected("display_name = a ( )", 17, "empty parentheses");
        assert_rejected(")", 0, "unmatched `)`");
        assert_rejected("(churned = true AND)", 19, "found `)`");
        assert_rejected("display_name = a(b)", 16, "quote values that contain parentheses");
        assert_rejected("display_name = (", 15, "found `(`");
    }

    #[test]
    fn a_missing_or_malformed_comparator_or_value_is_rejected() {
        assert_rejected("display_name =", 14, "expected a value after `=`");
        assert_rejected("display_name = ", 15, "end of the filter");
        assert_rejected("display_name == a", 14, "found `=`");
        assert_rejected("display_name ! a", 13, "unknown comparator `!`");
        assert_rejected("= a", 0, "expected a field name");
        assert_rejected("display_name = \"a\"b", 18, "after the closing quote");
    }

    #[test]
    fn unterminated_strings_and_unknown_escapes_are_rejected() {
        assert_rejected("display_name = \"Acme", 15, "unterminated string");
        assert_rejected("display_name = 'Acme", 15, "unterminated string");
        assert_rejected("display_name = \"Acme\\", 15, "unterminated string");
        assert_rejected(r#"display_name = "a\qb""#, 17, "unknown escape `\\q`");
        assert_rejected(r#"display_name = "a\nb""#, 17, "unknown escape `\\n`");
        assert_rejected(r#"display_name = "a\tb""#, 17, "values cannot contain line breaks");
    }

    #[test]
    fn control_characters_in_values_are_rejected_where_they_are() {
        assert_rejected("display_name = \"a\u{0}b\"", 17, "control character U+0000");
        assert_rejected("region.city = 'x\u{7}'", 16, "control character U+0007");
        assert_rejected("tags:\"vip\u{0}\"", 9, "U+0000");
        assert_rejected("tags:vip\u{0}", 8, "U+0000");
        assert_rejected("owner = principals/a\u{0}", 20, "U+0000");
        assert_rejected("employee_count = 1\u{1b}", 18, "U+001B");
        assert_rejected("display_name = \"new\nline\"", 19, "U+000A");
        assert_rejected("display_name = \"a\u{85}\"", 17, "U+0085");
        // Between tokens, tabs and line breaks are whitespace.
        assert_eq!(parse("display_name\t=\n\"Acme\"\r\n"), name_is("Acme"));
    }

    #[test]
    fn echoed_input_is_escaped_and_cut() {
        let error = parse_error("nam\u{0}e = 1");
        assert!(error.message.contains("unknown field `nam\\0e`"), "{error}");
        let long = "x".repeat(4000);
        let error = parse_error(&format!("{long} = 1"));
        assert!(error.message.len() < 1000, "{}", error.message.len());
    }

    #[test]
    fn comparators_a_field_does_not_support_are_rejected() {
        assert_rejected("display_name:Acme", 12, "repeated fields tags and needs");
        assert_rejected("employee_count : 5", 15, "`:` (has)");
        assert_rejected("kind < ORGANIZATION", 5, "supports only = and !=");
        assert_rejected("key_account >= true", 12, "supports only = and !=");
        assert_rejected("contact.job_rank > MIDDLE", 17, "an enum field");
        assert_rejected("tags = vip", 5, "repeated field");
        assert_rejected(
            "needs != PRICE_SENSITIVE",
            6,
            "tags:value".replace("tags", "needs").as_str(),
        );
    }

    #[test]
    fn values_of_the_wrong_type_are_rejected() {
        assert_rejected("employee_count = \"abc\"", 17, "not an integer");
        assert_rejected("employee_count = 4.5", 17, "not an integer");
        assert_rejected("employee_count = 99999999999999999999", 17, "out of range");
        assert_rejected("key_account = maybe", 14, "takes true or false");
        assert_rejected("churned = TRUE", 10, "takes true or false");
        assert_rejected("create_time > 2026-13-01T00:00:00Z", 14, "not an RFC 3339 timestamp");
        assert_rejected("create_time > yesterday", 14, "2026-01-01T00:00:00Z");
        assert_rejected("update_time < 2026-01-01", 14, "RFC 3339");
    }

    #[test]
    fn invalid_enum_values_are_rejected_with_the_allowed_names() {
        assert_rejected("kind = COMPANY", 7, "ORGANIZATION, INDIVIDUAL");
        assert_rejected("kind = CUSTOMER_KIND_UNSPECIFIED", 7, "CUSTOMER_KIND_");
        assert_rejected("kind = organization", 7, "allowed values are");
        assert_rejected("contact.job_rank = CEO", 19, "EXECUTIVE, MIDDLE, FRONTLINE");
        assert_rejected("contact.decision_role = BOSS", 24, "DECISION_MAKER, INFLUENCER, USER");
        assert_rejected(
            "needs:CHEAP",
            6,
            "PRICE_SENSITIVE, FUNCTION_FOCUSED, QUALITY_FOCUSED, SERVICE_FOCUSED",
        );
        assert_rejected("kind = JOB_RANK_EXECUTIVE", 7, "not a valid kind");
    }

    // ---- Classification fields --------------------------------------------------------

    #[test]
    fn classification_enum_specs_list_the_domain_values_in_order() {
        for dimension in Dimension::ALL {
            let field = FilterField::from_path(dimension.field()).unwrap();
            assert_eq!(field.dimension(), Some(dimension));
            let FieldKind::Enum(spec) = field.kind() else {
                panic!("{field} should be an enum field");
            };
            let names: Vec<&str> = ClassValue::all_of(dimension)
                .into_iter()
                .map(ClassValue::name)
                .collect();
            assert_eq!(spec.names, names.as_slice(), "{field}");
            assert_eq!(spec.prefix, format!("{}_", dimension.name()), "{field}");
        }
        assert_eq!(FilterField::Score.dimension(), None);
        assert_eq!(FilterField::Kind.dimension(), None);
    }

    #[test]
    fn every_classification_value_parses_bare_prefixed_and_quoted() {
        for dimension in Dimension::ALL {
            let field = FilterField::from_path(dimension.field()).unwrap();
            for value in ClassValue::all_of(dimension) {
                let name = value.name();
                let expected = cmp(field, CompareOp::Eq, FilterValue::Enum(name));
                assert_eq!(parse(&format!("{field} = {name}")), expected);
                assert_eq!(parse(&format!("{field} = \"{name}\"")), expected);
                assert_eq!(parse(&format!("{field}='{}_{name}'", dimension.name())), expected);
                assert_eq!(
                    parse(&format!("{field} != {name}")),
                    cmp(field, CompareOp::Ne, FilterValue::Enum(name))
                );
            }
        }
    }

    #[test]
    fn the_vip_accounts_going_quiet() {
        let filter = parse("grade = VIP AND lifecycle_stage = DORMANT");
        assert_eq!(
            filter,
            Filter::And(vec![
                cmp(FilterField::Grade, CompareOp::Eq, FilterValue::Enum("VIP")),
                cmp(FilterField::LifecycleStage, CompareOp::Eq, FilterValue::Enum("DORMANT")),
            ])
        );
        assert_eq!(filter.fields(), vec![FilterField::Grade, FilterField::LifecycleStage]);
        assert_eq!(
            parse(
                "value_tier = HIGH behaviour != ONE_TIME OR size_segment = SIZE_SEGMENT_MID_MARKET -rank_tier = UNKNOWN"
            ),
            Filter::And(vec![
                cmp(FilterField::ValueTier, CompareOp::Eq, FilterValue::Enum("HIGH")),
                Filter::Or(vec![
                    cmp(FilterField::Behaviour, CompareOp::Ne, FilterValue::Enum("ONE_TIME")),
                    cmp(FilterField::SizeSegment, CompareOp::Eq, FilterValue::Enum("MID_MARKET")),
                ]),
                not(cmp(FilterField::RankTier, CompareOp::Eq, FilterValue::Enum("UNKNOWN"))),
            ])
        );
    }

    #[test]
    fn score_takes_every_comparator_and_integers() {
        for (text, op) in [
            ("=", CompareOp::Eq),
            ("!=", CompareOp::Ne),
            ("<", CompareOp::Lt),
            ("<=", CompareOp::Le),
            (">", CompareOp::Gt),
            (">=", CompareOp::Ge),
        ] {
            let expected = cmp(FilterField::Score, op, FilterValue::Int(60));
            assert_eq!(parse(&format!("score {text} 60")), expected);
            assert_eq!(parse(&format!("score{text}\"60\"")), expected);
        }
        assert_eq!(
            parse("grade = KEY AND score >= 75"),
            Filter::And(vec![
                cmp(FilterField::Grade, CompareOp::Eq, FilterValue::Enum("KEY")),
                cmp(FilterField::Score, CompareOp::Ge, FilterValue::Int(75)),
            ])
        );
    }

    #[test]
    fn bad_classification_values_and_comparators_are_rejected() {
        assert_rejected("grade = GOLD", 8, "allowed values are VIP, KEY, STANDARD, POTENTIAL");
        assert_rejected("grade = GOLD", 8, "not a valid grade");
        assert_rejected("grade = GRADE_UNSPECIFIED", 8, "(optionally prefixed with GRADE_)");
        assert_rejected("grade = vip", 8, "allowed values are");
        assert_rejected("grade = \"\"", 8, "allowed values are");
        assert_rejected("rank_tier = CEO", 12, "EXECUTIVE, MIDDLE, FRONTLINE, UNKNOWN");
        assert_rejected("value_tier = TOP", 13, "HIGH, MEDIUM, LOW, NONE");
        assert_rejected(
            "lifecycle_stage = ASLEEP",
            18,
            "POTENTIAL, NEW, ACTIVE, DORMANT, CHURNED",
        );
        assert_rejected("behaviour = RARE", 12, "FREQUENT, OCCASIONAL, ONE_TIME, NONE");
        assert_rejected(
            "size_segment = HUGE",
            15,
            "ENTERPRISE, MID_MARKET, SMALL, MICRO, UNKNOWN",
        );
        // A value of another dimension, even with that dimension's prefix.
        assert_rejected("lifecycle_stage = VIP", 18, "not a valid lifecycle_stage");
        assert_rejected("grade = LIFECYCLE_STAGE_POTENTIAL", 8, "not a valid grade");

        assert_rejected("grade < KEY", 6, "supports only = and !=");
        assert_rejected("lifecycle_stage >= ACTIVE", 16, "an enum field");
        assert_rejected("grade = VIP*", 8, "allowed values are");
        assert_rejected("grade:VIP", 5, "`:` (has)");
        assert_rejected("score : 5", 6, "`:` (has)");

        assert_rejected("score = high", 8, "not an integer");
        assert_rejected("score >= 99.5", 9, "not an integer");
        assert_rejected("score = 99999999999999999999", 8, "out of range");
        assert_rejected("score", 0, "score supports =, !=, <, <=, >, >=");
        assert_rejected("grade", 0, "grade supports = and !=");
    }

    #[test]
    fn a_trailing_star_with_another_comparator_is_rejected() {
        assert_rejected("display_name != \"Acme*\"", 16, "not with `!=`");
        assert_rejected("display_name > Acme*", 15, "only with `=`");
        assert_rejected("tags:vip*", 5, "not with `:`");
        assert_eq!(
            parse(r#"tags:"vip\*""#),
            Filter::Has {
                field: FilterField::Tags,
                value: FilterValue::String("vip*".to_owned())
            }
        );
    }

    #[test]
    fn an_input_longer_than_the_limit_is_rejected() {
        let long = format!("display_name = \"{}\"", "a".repeat(MAX_INPUT_BYTES));
        assert_rejected(&long, MAX_INPUT_BYTES, "at most 4096");
        let blank = " ".repeat(MAX_INPUT_BYTES + 1);
        assert_rejected(&blank, MAX_INPUT_BYTES, "at most 4096");
    }

    #[test]
    fn nesting_up_to_the_depth_limit_is_accepted_and_deeper_is_rejected() {
        let nested = |depth: usize| format!("{}churned = true{}", "(".repeat(depth), ")".repeat(depth));
        assert_eq!(
            parse(&nested(MAX_DEPTH)),
            cmp(FilterField::Churned, CompareOp::Eq, FilterValue::Bool(true))
        );
        assert_rejected(&nested(MAX_DEPTH + 1), MAX_DEPTH, "nested too deeply");
        // Far deeper than the stack would allow without the limit.
        assert_rejected(&"(".repeat(MAX_INPUT_BYTES), MAX_DEPTH, "nested too deeply");
        assert_rejected(&"NOT (".repeat(800), 5 * MAX_DEPTH + 4, "nested too deeply");
    }

    #[test]
    fn up_to_the_restriction_limit_is_accepted_and_more_is_rejected() {
        let many = |n: usize| vec!["churned=true"; n].join(" ");
        assert!(matches!(
            parse(&many(MAX_RESTRICTIONS)),
            Filter::And(items) if items.len() == MAX_RESTRICTIONS
        ));
        assert_rejected(&many(MAX_RESTRICTIONS + 1), 13 * MAX_RESTRICTIONS, "at most 100");
    }

    #[test]
    fn multibyte_characters_never_split_and_positions_are_byte_offsets() {
        assert_rejected("display_name = \"é\" é", 20, "global text search");
        assert_rejected("é", 0, "global text search");
        assert_rejected("display_name = é(", 17, "`(`");
    }

    // ---- Properties -------------------------------------------------------------------

    /// How the test printer writes the operators that have two spellings.
    #[derive(Debug, Clone, Copy)]
    struct Style {
        juxtapose: bool,
        minus: bool,
        single_quotes: bool,
    }

    fn print(filter: &Filter, style: Style) -> String {
        let mut out = String::new();
        print_into(&mut out, filter, style);
        out
    }

    fn print_grouped(out: &mut String, filter: &Filter, style: Style) {
        out.push('(');
        print_into(out, filter, style);
        out.push(')');
    }

    fn print_into(out: &mut String, filter: &Filter, style: Style) {
        match filter {
            Filter::And(items) => {
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(if style.juxtapose { " " } else { " AND " });
                    }
                    match item {
                        Filter::And(_) => print_grouped(out, item, style),
                        _ => print_into(out, item, style),
                    }
                }
            }
            Filter::Or(items) => {
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(" OR ");
                    }
                    match item {
                        Filter::And(_) | Filter::Or(_) => print_grouped(out, item, style),
                        _ => print_into(out, item, style),
                    }
                }
            }
            Filter::Not(inner) => {
                out.push_str(if style.minus { "-" } else { "NOT " });
                match **inner {
                    Filter::Compare { .. } | Filter::Has { .. } => print_into(out, inner, style),
                    _ => print_grouped(out, inner, style),
                }
            }
            Filter::Compare { field, op, value } => {
                let symbol = Comparator::Compare(*op).symbol();
                out.push_str(&format!("{} {symbol} ", field.path()));
                print_value(out, value, *op == CompareOp::StartsWith, style);
            }
            Filter::Has { field, value } => {
                out.push_str(field.path());
                out.push(':');
                print_value(out, value, false, style);
            }
        }
    }

    fn print_value(out: &mut String, value: &FilterValue, prefix: bool, style: Style) {
        match value {
            FilterValue::String(text) => {
                let quote = if style.single_quotes { '\'' } else { '"' };
                out.push(quote);
                for c in text.chars() {
                    match c {
                        '\\' | '*' => out.push('\\'),
                        c if c == quote => out.push('\\'),
                        _ => {}
                    }
                    out.push(c);
                }
                if prefix {
                    out.push('*');
                }
                out.push(quote);
            }
            FilterValue::Enum(name) => out.push_str(name),
            FilterValue::Int(number) => out.push_str(&number.to_string()),
            FilterValue::Bool(flag) => out.push_str(&flag.to_string()),
            FilterValue::Timestamp(time) => {
                out.push_str(&time.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true));
            }
        }
    }

    fn style() -> impl Strategy<Value = Style> {
        (any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(juxtapose, minus, single_quotes)| Style {
            juxtapose,
            minus,
            single_quotes,
        })
    }

    /// Text a stored value could hold: any characters but control characters.
    fn short_text() -> impl Strategy<Value = String> {
        prop::collection::vec(
            any::<char>().prop_filter("no control characters", |c| !c.is_control()),
            0..8,
        )
        .prop_map(|chars| chars.into_iter().collect())
    }

    fn timestamp() -> impl Strategy<Value = DateTime<Utc>> {
        // Years 0001 to 9999, the range RFC 3339 can write.
        (-62_135_596_800_i64..253_402_300_799, 0_u32..1_000_000_000)
            .prop_map(|(secs, nanos)| DateTime::from_timestamp(secs, nanos).unwrap_or_default())
    }

    /// A random valid restriction: any field, a comparator it supports and a value of its type.
    fn restriction_strategy() -> impl Strategy<Value = Filter> {
        (
            prop::sample::select(FilterField::ALL.to_vec()),
            any::<prop::sample::Index>(),
            any::<prop::sample::Index>(),
            short_text(),
            any::<i64>(),
            any::<bool>(),
            timestamp(),
        )
            .prop_map(|(field, op_index, name_index, text, number, flag, time)| {
                use CompareOp::*;
                let (ops, value): (&[CompareOp], FilterValue) = match field.kind() {
                    FieldKind::String => (&[Eq, Ne, Lt, Le, Gt, Ge, StartsWith], FilterValue::String(text.clone())),
                    FieldKind::Enum(spec) => (
                        &[Eq, Ne],
                        FilterValue::Enum(spec.names[name_index.index(spec.names.len())]),
                    ),
                    FieldKind::Int => (&[Eq, Ne, Lt, Le, Gt, Ge], FilterValue::Int(number)),
                    FieldKind::Bool => (&[Eq, Ne], FilterValue::Bool(flag)),
                    FieldKind::Timestamp => (&[Eq, Ne, Lt, Le, Gt, Ge], FilterValue::Timestamp(time)),
                    FieldKind::RepeatedString => {
                        return Filter::Has {
                            field,
                            value: FilterValue::String(text),
                        };
                    }
                    FieldKind::RepeatedEnum(spec) => {
                        return Filter::Has {
                            field,
                            value: FilterValue::Enum(spec.names[name_index.index(spec.names.len())]),
                        };
                    }
                };
                Filter::Compare {
                    field,
                    op: *op_index.get(ops),
                    value,
                }
            })
    }

    /// A random valid tree: `And`/`Or` of two or three elements and `Not`, at most three
    /// levels deep (so at most 27 restrictions and well under the length limit).
    fn filter_strategy() -> impl Strategy<Value = Filter> {
        restriction_strategy().prop_recursive(3, 27, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 2..=3).prop_map(Filter::And),
                prop::collection::vec(inner.clone(), 2..=3).prop_map(Filter::Or),
                inner.prop_map(|filter| Filter::Not(Box::new(filter))),
            ]
        })
    }

    /// Strings built from the grammar's tokens, glued with or without spaces.
    fn token_soup() -> impl Strategy<Value = String> {
        let tokens = vec![
            "(",
            ")",
            "AND",
            "OR",
            "NOT",
            "-",
            "and",
            "=",
            "!=",
            "<",
            "<=",
            ">",
            ">=",
            ":",
            "!",
            "display_name",
            "kind",
            "tags",
            "needs",
            "employee_count",
            "key_account",
            "create_time",
            "contact.job_rank",
            "contact.",
            ".",
            "ORGANIZATION",
            "CUSTOMER_KIND_",
            "PRICE_SENSITIVE",
            "true",
            "maybe",
            "42",
            "-5",
            "99999999999999999999",
            "2026-01-01T00:00:00Z",
            "\"",
            "'",
            "\\",
            "\\\"",
            "*",
            "\"a*\"",
            "'b'",
            "\"é\"",
            "名",
            "é",
            "\u{0}",
            "\u{1F600}",
            "\t",
            "\n",
            " ",
        ];
        prop::collection::vec(
            (prop::sample::select(tokens), prop::sample::select(vec!["", " ", "  "])),
            0..40,
        )
        .prop_map(|parts| parts.into_iter().flat_map(|(token, gap)| [token, gap]).collect())
    }

    /// Any error's position lies within the input (or at the length limit) and the message
    /// is not empty.
    fn check_error_is_sensible(input: &str, result: &Result<Option<Filter>, FilterError>) {
        if let Err(error) = result {
            assert!(error.position <= input.len().max(MAX_INPUT_BYTES), "{input:?}: {error}");
            assert!(!error.message.is_empty());
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn arbitrary_strings_never_panic(input in any::<String>()) {
            let result = Filter::parse(&input);
            check_error_is_sensible(&input, &result);
        }

        #[test]
        fn arbitrary_printable_unicode_never_panics(input in "\\PC{0,200}") {
            let result = Filter::parse(&input);
            check_error_is_sensible(&input, &result);
        }

        #[test]
        fn strings_built_from_grammar_tokens_never_panic(input in token_soup()) {
            let result = Filter::parse(&input);
            check_error_is_sensible(&input, &result);
            if let Ok(Some(filter)) = result {
                prop_assert!(!filter.fields().is_empty());
            }
        }

        #[test]
        fn a_control_character_in_any_value_is_rejected_where_it_is(
            field in prop::sample::select(FilterField::ALL.to_vec()),
            before in "[a-zA-Z0-9_]{0,5}",
            after in "[a-zA-Z0-9_]{0,5}",
            control in prop::sample::select(
                ('\u{0}'..='\u{1f}').chain('\u{7f}'..='\u{9f}').collect::<Vec<char>>(),
            ),
            quoted in any::<bool>(),
        ) {
            // A bare value ends at whitespace, so a tab there is a separator, not part of it.
            prop_assume!(quoted || !control.is_whitespace());
            let comparator = match field.kind() {
                FieldKind::RepeatedString | FieldKind::RepeatedEnum(_) => ":",
                _ => "=",
            };
            let quote = if quoted { "\"" } else { "" };
            let input = format!("{} {comparator} {quote}{before}{control}{after}{quote}", field.path());
            let error = Filter::parse(&input).expect_err("a control character in a value");
            let position = field.path().len() + comparator.len() + 2 + quote.len() + before.len();
            prop_assert_eq!(error.position, position, "{:?}: {}", input, error);
            prop_assert!(error.message.contains("control character"), "{:?}: {}", input, error);
        }

        #[test]
        fn printed_valid_trees_parse_back_to_the_same_tree(
            filter in filter_strategy(),
            style in style(),
        ) {
            let text = print(&filter, style);
            prop_assert!(text.len() <= MAX_INPUT_BYTES, "generator made {} bytes", text.len());
            prop_assert_eq!(Filter::parse(&text), Ok(Some(filter)), "text: {}", text);
        }

        #[test]
        fn truncating_a_valid_filter_anywhere_never_panics(
            filter in filter_strategy(),
            style in style(),
            cut in any::<prop::sample::Index>(),
        ) {
            let text = print(&filter, style);
            let boundaries: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
            let end = *cut.get(&boundaries);
            let prefix = &text[..end];
            let result = Filter::parse(prefix);
            check_error_is_sensible(prefix, &result);
        }
    }
}
