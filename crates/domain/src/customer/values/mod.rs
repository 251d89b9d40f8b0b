//! The value types a customer record is made of, each of which can only hold a valid value
//! ("parse, don't validate").
//!
//! Every type here is built by a constructor (`parse`, `new`, `from_code`, ...) that checks a raw
//! value once, at the edge of the system, and returns either the typed value or an
//! [`InvalidValue`] whose message tells the API caller what was expected. Code that holds a
//! [`DisplayName`] or an [`Email`] never checks it again, and no constructor panics on any input.
//!
//! Constructors also normalise, so that equal inputs give equal values: free text is trimmed,
//! UUIDs and email domains are lowercased, country codes are uppercased, phone numbers lose their
//! spaces and punctuation, and tag sets are deduplicated and sorted. Parsing a value's own string
//! form again always gives the same value back.
//!
//! # Layout
//! One file per type or tight family, each with its tests; this module holds [`InvalidValue`],
//! the helpers the files share, and re-exports every type, so each is named
//! `crate::customer::values::X` whatever file defines it.
//! - Identifiers (`id.rs`): [`CustomerId`] and [`PrincipalName`].
//! - Free text (`free_text.rs`): [`DisplayName`], [`PersonName`], [`JobTitle`], [`Subdivision`]
//!   and [`City`].
//! - Contact details: [`Email`] (`email.rs`) and [`Phone`] (`phone.rs`).
//! - Where a customer is (`region.rs`): [`CountryCode`] and [`Region`].
//! - Labels: [`Tag`] and the set [`Tags`] (`tags.rs`), [`Department`] (`department.rs`) and the
//!   [`Industry`] code list (`industry.rs`).
//! - Closed enumerations with stable storage codes (`enums.rs`): [`CustomerKind`], [`JobRank`],
//!   [`DecisionRole`] and [`CustomerNeed`], plus the set [`Needs`] (`needs.rs`).
//! - Numbers (`employee_count.rs`): [`EmployeeCount`].
//! - Tests that span several types: `tests.rs`.

/// Why a raw value was rejected.
///
/// The message is shown to API callers, so it says what is expected, for example "must be 1 to
/// 200 characters after trimming, got 0". It never repeats the rejected value, because that value
/// may be personal data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub String);

/// Builds an [`InvalidValue`] from a message.
fn invalid(message: impl Into<String>) -> InvalidValue {
    InvalidValue(message.into())
}

/// Implements `Display` and `AsRef<str>` for a type with an `as_str` method.
macro_rules! string_impls {
    ($name:ident) => {
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }
    };
}

/// Whether `b` may appear in a tag or a department: `[a-z0-9_-]`.
fn is_label_byte(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-'
}

/// Checks the length and characters shared by [`Tag`] and [`Department`].
fn check_label(raw: &str) -> Result<(), InvalidValue> {
    let count = raw.chars().count();
    if count == 0 || count > Tag::MAX_CHARS {
        return Err(invalid(format!(
            "must be 1 to {} characters, got {count}",
            Tag::MAX_CHARS
        )));
    }
    if !raw.bytes().all(is_label_byte) {
        return Err(invalid("must contain only lowercase letters a-z, digits, '_' and '-'"));
    }
    Ok(())
}

mod department;
mod email;
mod employee_count;
mod enums;
mod free_text;
mod id;
mod industry;
mod needs;
mod phone;
mod region;
mod tags;

pub use self::department::Department;
pub use self::email::Email;
pub use self::employee_count::EmployeeCount;
pub use self::enums::{CustomerKind, CustomerNeed, DecisionRole, JobRank};
pub use self::free_text::{City, DisplayName, JobTitle, PersonName, Subdivision};
pub use self::id::{CustomerId, PrincipalName};
pub use self::industry::Industry;
pub use self::needs::Needs;
pub use self::phone::Phone;
pub use self::region::{CountryCode, Region};
pub use self::tags::{Tag, Tags};

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
