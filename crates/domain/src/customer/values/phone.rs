//! Contact details: [`Phone`].

use std::fmt;

use super::{InvalidValue, invalid};

/// A phone number in E.164 form: `+`, then 8 to 15 digits, the first of which is not 0.
///
/// Spaces, hyphens, dots and parentheses in the input are removed before checking, so
/// "+86 138-0013-8000" becomes "+8613800138000".
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Phone(String);

impl Phone {
    /// The fewest digits a number may have after the `+`.
    pub const MIN_DIGITS: usize = 8;
    /// The most digits a number may have after the `+` (the E.164 limit).
    pub const MAX_DIGITS: usize = 15;

    /// The number as shown to a caller who may not read contact details: the first three and
    /// last two characters kept and every other one replaced by `*`, such as `+86*******21`.
    /// For display only.
    pub fn masked(&self) -> Self {
        let count = self.0.chars().count();
        Self(
            self.0
                .chars()
                .enumerate()
                .map(|(i, c)| if i < 3 || i + 2 >= count { c } else { '*' })
                .collect(),
        )
    }

    /// Accepts what [`Phone::parse`] accepts, and also a masked number as [`Phone::masked`]
    /// writes it (`+`, digits and at least one `*`), which an update may echo back unchanged.
    /// Check [`Phone::is_masked`] before storing: a masked number is never stored.
    ///
    /// # Errors
    /// As [`Phone::parse`] for anything else.
    pub fn parse_or_masked(raw: &str) -> Result<Self, InvalidValue> {
        let trimmed = raw.trim();
        let is_masked_shape = trimmed
            .strip_prefix('+')
            .is_some_and(|rest| rest.contains('*') && rest.bytes().all(|b| b.is_ascii_digit() || b == b'*'));
        if is_masked_shape {
            Ok(Self(trimmed.to_owned()))
        } else {
            Self::parse(raw)
        }
    }

    /// Whether this is a masked number (from [`Phone::masked`] or [`Phone::parse_or_masked`]).
    pub fn is_masked(&self) -> bool {
        self.0.contains('*')
    }

    /// Removes spaces, hyphens, dots and parentheses from `raw` and accepts the rest if it is an
    /// E.164 number.
    ///
    /// # Errors
    /// Returns [`InvalidValue`] naming the first rule the number breaks.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let compact: String = raw
            .trim()
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
            .collect();
        let Some(digits) = compact.strip_prefix('+') else {
            return Err(invalid(
                "must be in international E.164 form, starting with '+' and the country code, \
                 as in +8613800138000",
            ));
        };
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid(
                "must contain only digits after '+' (spaces, hyphens, dots and parentheses are \
                 ignored)",
            ));
        }
        if !(Self::MIN_DIGITS..=Self::MAX_DIGITS).contains(&digits.len()) {
            return Err(invalid(format!(
                "must have {} to {} digits after '+', got {}",
                Self::MIN_DIGITS,
                Self::MAX_DIGITS,
                digits.len()
            )));
        }
        if digits.starts_with('0') {
            return Err(invalid("the country code after '+' must not start with 0"));
        }
        Ok(Self(compact))
    }

    /// Returns the number in E.164 form, such as "+8613800138000".
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

string_impls!(Phone);

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn phone_strips_separators_into_e164() {
        let phone = Phone::parse("+86 138-0013-8000").unwrap();
        assert_eq!(phone.as_str(), "+8613800138000");
        assert_eq!(Phone::parse(" +1 (415) 555.0100 ").unwrap().as_str(), "+14155550100");
    }

    #[test]
    fn phone_needs_8_to_15_digits() {
        assert!(Phone::parse("+1234567").is_err());
        assert_eq!(Phone::parse("+12345678").unwrap().as_str(), "+12345678");
        assert_eq!(Phone::parse("+123456789012345").unwrap().as_str(), "+123456789012345");
        let error = Phone::parse("+1234567890123456").unwrap_err();
        assert_eq!(error.to_string(), "must have 8 to 15 digits after '+', got 16");
    }

    #[test]
    fn phone_rejects_a_leading_zero_a_missing_plus_and_letters() {
        assert!(Phone::parse("+0123456789").is_err());
        assert!(Phone::parse("8613800138000").is_err());
        assert!(Phone::parse("+86 138 0013 800O").is_err());
        assert!(Phone::parse("++8613800138000").is_err());
        assert!(Phone::parse("+86\t13800138000").is_err());
        assert!(Phone::parse("+８６13800138000").is_err());
        assert!(Phone::parse("").is_err());
    }

    proptest! {
        #[test]
        fn accepted_phones_reparse_to_themselves(raw in " ?\\+?[0-9 ().-]{5,20}") {
            if let Ok(phone) = Phone::parse(&raw) {
                prop_assert_eq!(Phone::parse(phone.as_str()), Ok(phone));
            }
        }
    }
}
