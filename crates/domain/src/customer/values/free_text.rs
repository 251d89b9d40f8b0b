//! Free text: [`DisplayName`], [`PersonName`], [`JobTitle`], [`Subdivision`] and [`City`].

use std::fmt;

use super::InvalidValue;

/// Trims `raw` and accepts it if it has 1 to `max_chars` characters and no control characters
/// (the one-line rule of [`crate::text`]).
fn parse_text(raw: &str, max_chars: usize) -> Result<String, InvalidValue> {
    crate::text::TextRule::line(max_chars).parse(raw)
}

/// Defines a trimmed free-text newtype with a maximum length in characters.
macro_rules! text_value {
    ($(#[$meta:meta])* $name:ident, max_chars = $max:literal) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// The most characters (not bytes) the value may have after trimming.
            pub const MAX_CHARS: usize = $max;

            #[doc = concat!(
                "Trims `raw` and accepts it if it has 1 to ", stringify!($max),
                " characters and no control characters."
            )]
            ///
            /// # Errors
            /// Returns [`InvalidValue`] when the trimmed text is empty, too long or contains a
            /// control character.
            pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
                parse_text(raw, Self::MAX_CHARS).map(Self)
            }

            /// Returns the text as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        string_impls!($name);
    };
}

text_value!(
    /// The name of the customer: a company name, or a person's name for an individual.
    ///
    /// Trimmed, 1 to 200 characters, no control characters.
    DisplayName,
    max_chars = 200
);

text_value!(
    /// The full name of a customer's contact person.
    ///
    /// Trimmed, 1 to 200 characters, no control characters. An empty input is an error here;
    /// callers that treat an empty field as "absent" check for that before parsing.
    PersonName,
    max_chars = 200
);

text_value!(
    /// The job title of a customer's contact person, such as "Head of Procurement".
    ///
    /// Trimmed, 1 to 200 characters, no control characters.
    JobTitle,
    max_chars = 200
);

text_value!(
    /// A country subdivision (province, state), as a name or an ISO 3166-2 code, such as
    /// "Zhejiang" or "CN-ZJ".
    ///
    /// Trimmed, 1 to 100 characters, no control characters.
    Subdivision,
    max_chars = 100
);

text_value!(
    /// A city name, such as "Hangzhou".
    ///
    /// Trimmed, 1 to 100 characters, no control characters.
    City,
    max_chars = 100
);

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn display_name_is_trimmed_and_rejects_blank() {
        assert_eq!(DisplayName::parse("  Acme Ltd \n").unwrap().as_str(), "Acme Ltd");
        let error = DisplayName::parse(" \t ").unwrap_err();
        assert_eq!(error.to_string(), "must be 1 to 200 characters after trimming, got 0");
        assert!(DisplayName::parse("").is_err());
    }

    #[test]
    fn display_name_counts_characters_not_bytes() {
        let at_limit = "客户".repeat(100);
        assert_eq!(at_limit.chars().count(), 200);
        assert!(at_limit.len() > 200);
        assert_eq!(DisplayName::parse(&at_limit).unwrap().as_str(), at_limit);

        let over_limit = format!("{at_limit}客");
        let error = DisplayName::parse(&over_limit).unwrap_err();
        assert_eq!(error.to_string(), "must be 1 to 200 characters after trimming, got 201");

        assert!(DisplayName::parse(&"a".repeat(200)).is_ok());
        assert!(DisplayName::parse(&"a".repeat(201)).is_err());
    }

    #[test]
    fn display_name_rejects_control_characters_inside() {
        assert!(DisplayName::parse("Acme\nLtd").is_err());
        assert!(DisplayName::parse("Acme\u{0}Ltd").is_err());
        assert!(DisplayName::parse("Acme\u{7f}").is_err());
    }

    #[test]
    fn person_name_and_job_title_follow_the_same_text_rules() {
        assert_eq!(PersonName::parse(" 李雷 ").unwrap().as_str(), "李雷");
        assert!(PersonName::parse("").is_err());
        assert!(PersonName::parse(&"x".repeat(201)).is_err());
        assert_eq!(JobTitle::parse("CTO ").unwrap().as_str(), "CTO");
        assert!(JobTitle::parse("\t").is_err());
        assert!(JobTitle::parse("a\u{8}b").is_err());
    }

    #[test]
    fn subdivision_and_city_allow_at_most_100_characters() {
        assert_eq!(Subdivision::parse("CN-ZJ").unwrap().as_str(), "CN-ZJ");
        assert!(Subdivision::parse(&"浙".repeat(100)).is_ok());
        assert!(Subdivision::parse(&"浙".repeat(101)).is_err());
        assert_eq!(City::parse(" Hangzhou ").unwrap().as_str(), "Hangzhou");
        assert!(City::parse(&"c".repeat(100)).is_ok());
        assert!(City::parse(&"c".repeat(101)).is_err());
        assert!(City::parse("").is_err());
    }

    #[test]
    fn string_newtypes_display_and_borrow_as_their_text() {
        let name = DisplayName::parse("Acme").unwrap();
        assert_eq!(name.to_string(), "Acme");
        assert_eq!(AsRef::<str>::as_ref(&name), "Acme");
        let city = City::parse("Hangzhou").unwrap();
        assert_eq!(format!("{city}"), "Hangzhou");
    }

    proptest! {
        #[test]
        fn accepted_display_names_reparse_to_themselves(raw in any::<String>()) {
            if let Ok(name) = DisplayName::parse(&raw) {
                prop_assert_eq!(DisplayName::parse(name.as_str()), Ok(name));
            }
        }

        #[test]
        fn accepted_display_names_reparse_to_themselves_when_padded(
            raw in "[ \t]{0,3}[^\u{0}-\u{1f}]{1,210}[ \n]{0,3}",
        ) {
            if let Ok(name) = DisplayName::parse(&raw) {
                prop_assert_eq!(DisplayName::parse(name.as_str()), Ok(name));
            }
        }
    }
}
