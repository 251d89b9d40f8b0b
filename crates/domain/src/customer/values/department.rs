//! Labels: [`Department`].

use std::fmt;

use super::{InvalidValue, check_label, invalid};

/// The internal department that owns the relationship with a customer, such as "sales-east".
///
/// 1 to 64 characters of lowercase letters, digits, `_` and `-`, starting with a letter or digit.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Department(String);

impl Department {
    /// The most characters a department may have.
    pub const MAX_CHARS: usize = 64;

    /// Accepts `raw` if it is 1 to 64 characters of `[a-z0-9_-]` starting with `[a-z0-9]`.
    ///
    /// # Errors
    /// Returns [`InvalidValue`] when `raw` breaks one of those rules.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        check_label(raw)?;
        if !raw
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        {
            return Err(invalid("must start with a lowercase letter or a digit"));
        }
        Ok(Self(raw.to_owned()))
    }

    /// Returns the department as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

string_impls!(Department);

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn department_must_start_with_a_letter_or_digit() {
        assert_eq!(Department::parse("sales-east").unwrap().as_str(), "sales-east");
        assert!(Department::parse("2nd_line").is_ok());
        assert!(Department::parse(&"d".repeat(64)).is_ok());
        for bad in ["", "-sales", "_sales", "Sales", "sales east", &"d".repeat(65)] {
            assert!(Department::parse(bad).is_err(), "{bad:?}");
        }
    }
}
