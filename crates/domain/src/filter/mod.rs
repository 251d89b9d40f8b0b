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
//! | each classification dimension, by its field name (`Dimension::field`: `rank_tier` … `grade`) | enum: the names of the dimension's values (`classification::dimension`; `grade`: `VIP`, `KEY`, `STANDARD`, `POTENTIAL`), proto prefix the dimension's name (`GRADE_`) | `=`, `!=` |
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

use chrono::{DateTime, Utc};

mod fields;
mod parse;
#[cfg(test)]
mod tests;

pub use fields::FilterField;

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

// `Filter::parse` is in `parse.rs`, with the parser.
impl Filter {
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
