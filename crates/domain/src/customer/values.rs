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
//! - Identifiers: [`CustomerId`] and [`PrincipalName`].
//! - Free text: [`DisplayName`], [`PersonName`], [`JobTitle`], [`Subdivision`] and [`City`].
//! - Contact details: [`Email`] and [`Phone`].
//! - Where a customer is: [`CountryCode`] and [`Region`].
//! - Labels: [`Tag`], the set [`Tags`], [`Department`] and the [`Industry`] code list.
//! - Closed enumerations with stable storage codes: [`CustomerKind`], [`JobRank`],
//!   [`DecisionRole`] and [`CustomerNeed`], plus the set [`Needs`].
//! - Numbers: [`EmployeeCount`].

use std::collections::BTreeSet;
use std::fmt;

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

// ---------------------------------------------------------------------------------------------
// Identifiers
// ---------------------------------------------------------------------------------------------

/// What a resource id may look like, phrased to follow "must be".
const RESOURCE_ID_RULE: &str = "a UUID (8-4-4-4-12 hexadecimal digits) or 3 to 63 characters of \
     lowercase letters, digits and hyphens that starts with a letter and does not end with a hyphen";

/// Accepts a UUID in hyphenated form (returned lowercased) or an AIP-122 client-chosen id.
fn parse_resource_id(raw: &str) -> Option<String> {
    if is_hyphenated_uuid(raw) {
        Some(raw.to_ascii_lowercase())
    } else if is_client_id(raw) {
        Some(raw.to_owned())
    } else {
        None
    }
}

/// Whether `raw` is 8-4-4-4-12 hexadecimal digits of either case.
fn is_hyphenated_uuid(raw: &str) -> bool {
    let bytes = raw.as_bytes();
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// Whether `raw` matches `^[a-z][a-z0-9-]{2,62}$` and does not end with a hyphen.
fn is_client_id(raw: &str) -> bool {
    let bytes = raw.as_bytes();
    (3..=63).contains(&bytes.len())
        && bytes.first().is_some_and(u8::is_ascii_lowercase)
        && bytes.last().is_some_and(|b| *b != b'-')
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
}

/// The id of a customer: the `{id}` in the resource name `customers/{id}`.
///
/// It is either a UUID in canonical lowercase hyphenated form (the server assigns UUID v7 with
/// [`CustomerId::generate`]), or a client-chosen id per AIP-122 and AIP-133: 3 to 63 characters
/// of lowercase letters, digits and hyphens that starts with a letter and does not end with a
/// hyphen.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CustomerId(String);

impl CustomerId {
    /// Accepts a UUID of any version (uppercase hexadecimal digits are lowercased) or a
    /// client-chosen id.
    ///
    /// # Errors
    /// Returns [`InvalidValue`] when `raw` is neither.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        parse_resource_id(raw)
            .map(Self)
            .ok_or_else(|| invalid(format!("must be {RESOURCE_ID_RULE}")))
    }

    /// Generates a new server-assigned id: a UUID v7, so ids sort by creation time.
    pub fn generate() -> Self {
        Self(uuid::Uuid::now_v7().to_string())
    }

    /// Returns the id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

string_impls!(CustomerId);

/// The resource name of a principal (a sales rep or account manager), `principals/{id}`.
///
/// The id follows the same rule as [`CustomerId`]: a UUID (lowercased) or a client-chosen id.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PrincipalName {
    /// The full resource name, always starting with [`PrincipalName::PREFIX`].
    name: String,
}

impl PrincipalName {
    /// The collection prefix every principal name starts with.
    pub const PREFIX: &'static str = "principals/";

    /// Accepts a full resource name such as `principals/alice`.
    ///
    /// # Errors
    /// Returns [`InvalidValue`] when `raw` does not start with `principals/` or its id is invalid.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        raw.strip_prefix(Self::PREFIX)
            .and_then(parse_resource_id)
            .map(|id| Self {
                name: format!("{}{id}", Self::PREFIX),
            })
            .ok_or_else(|| {
                invalid(format!(
                    "must be a resource name principals/{{id}} where the id is {RESOURCE_ID_RULE}"
                ))
            })
    }

    /// Builds the resource name from a bare id such as `alice`.
    ///
    /// # Errors
    /// Returns [`InvalidValue`] when `id` is not a valid principal id.
    pub fn from_id(id: &str) -> Result<Self, InvalidValue> {
        parse_resource_id(id)
            .map(|id| Self {
                name: format!("{}{id}", Self::PREFIX),
            })
            .ok_or_else(|| invalid(format!("must be {RESOURCE_ID_RULE}")))
    }

    /// Returns the full resource name, `principals/{id}`.
    pub fn as_str(&self) -> &str {
        &self.name
    }

    /// Returns the id, the part after `principals/`.
    pub fn id(&self) -> &str {
        self.name.strip_prefix(Self::PREFIX).unwrap_or_default()
    }
}

string_impls!(PrincipalName);

// ---------------------------------------------------------------------------------------------
// Free text
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Contact details
// ---------------------------------------------------------------------------------------------

/// An email address, checked against a practical subset of RFC 5321.
///
/// The local part (before `@`) is kept as given, because it may be case-sensitive; the domain is
/// lowercased.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Email(String);

impl Email {
    /// The most characters an address may have.
    pub const MAX_CHARS: usize = 254;
    /// The most characters the local part may have.
    pub const MAX_LOCAL_CHARS: usize = 64;

    /// The address as shown to a caller who may not read contact details: the first character
    /// of the local part, `***`, and the domain, such as `j***@example.com`. The result is for
    /// display only (it is not a valid address to send to).
    pub fn masked(&self) -> Self {
        let (local, domain) = self.0.split_once('@').unwrap_or((self.0.as_str(), ""));
        let first: String = local.chars().take(1).collect();
        Self(format!("{first}***@{domain}"))
    }

    /// Trims `raw` and accepts it if it is a plausible address such as `li.lei@example.com`.
    ///
    /// The rules: at most 254 characters; exactly one `@`; a local part of 1 to 64 printable
    /// ASCII characters without spaces that neither starts nor ends with a dot nor has two dots in
    /// a row; a domain of at least two dot-separated labels, each 1 to 63 letters, digits or
    /// hyphens that neither starts nor ends with a hyphen, the last (the top-level domain) being
    /// at least two letters.
    ///
    /// # Errors
    /// Returns [`InvalidValue`] naming the first rule `raw` breaks.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let trimmed = raw.trim();
        let count = trimmed.chars().count();
        if count > Self::MAX_CHARS {
            return Err(invalid(format!(
                "must be at most {} characters, got {count}",
                Self::MAX_CHARS
            )));
        }
        let Some((local, domain)) = trimmed.split_once('@') else {
            return Err(invalid("must contain exactly one '@', as in name@example.com"));
        };
        if domain.contains('@') {
            return Err(invalid("must contain exactly one '@', as in name@example.com"));
        }
        check_email_local(local)?;
        check_email_domain(domain)?;
        Ok(Self(format!("{local}@{}", domain.to_ascii_lowercase())))
    }

    /// Returns the address as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

string_impls!(Email);

/// Checks the part of an email address before the `@`.
fn check_email_local(local: &str) -> Result<(), InvalidValue> {
    if !local.chars().all(|c| c.is_ascii_graphic()) {
        return Err(invalid(
            "the part before '@' must be printable ASCII characters without spaces",
        ));
    }
    if local.is_empty() || local.len() > Email::MAX_LOCAL_CHARS {
        return Err(invalid(format!(
            "the part before '@' must be 1 to {} characters, got {}",
            Email::MAX_LOCAL_CHARS,
            local.len()
        )));
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err(invalid(
            "the part before '@' must not start or end with a dot or have two dots in a row",
        ));
    }
    Ok(())
}

/// Checks the part of an email address after the `@`.
fn check_email_domain(domain: &str) -> Result<(), InvalidValue> {
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return Err(invalid(
            "the domain after '@' must have at least two dot-separated parts, as in example.com",
        ));
    }
    let labels_ok = labels.iter().all(|label| {
        (1..=63).contains(&label.len())
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    });
    if !labels_ok {
        return Err(invalid(
            "each dot-separated part of the domain must be 1 to 63 letters, digits or hyphens \
             and must not start or end with a hyphen",
        ));
    }
    let tld_ok = labels
        .last()
        .is_some_and(|tld| tld.len() >= 2 && tld.bytes().all(|b| b.is_ascii_alphabetic()));
    if !tld_ok {
        return Err(invalid(
            "the domain must end in a top-level domain of at least two letters, as in .com",
        ));
    }
    Ok(())
}

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

// ---------------------------------------------------------------------------------------------
// Region
// ---------------------------------------------------------------------------------------------

/// Every officially assigned ISO 3166-1 alpha-2 code, sorted so it can be binary-searched.
const ASSIGNED_COUNTRY_CODES: [&str; 249] = [
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ", "BA", "BB", "BD",
    "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS", "BT", "BV", "BW", "BY", "BZ", "CA",
    "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN", "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE",
    "DJ", "DK", "DM", "DO", "DZ", "EC", "EE", "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA",
    "GB", "GD", "GE", "GF", "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK",
    "HM", "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM", "JO", "JP",
    "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC", "LI", "LK", "LR", "LS", "LT",
    "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK", "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS",
    "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA", "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ",
    "OM", "PA", "PE", "PF", "PG", "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS",
    "RU", "RW", "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS", "ST",
    "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO", "TR", "TT", "TV", "TW",
    "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI", "VN", "VU", "WF", "WS", "YE", "YT", "ZA",
    "ZM", "ZW",
];

/// An officially assigned ISO 3166-1 alpha-2 country code, such as "CN" or "GB", in uppercase.
///
/// Reserved and user-assigned codes (such as "UK", "EU" or "XX") are rejected.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CountryCode([u8; 2]);

impl CountryCode {
    /// Trims `raw` and accepts it, in any case, if it is an assigned alpha-2 code.
    ///
    /// # Errors
    /// Returns [`InvalidValue`] when `raw` is not an assigned code.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let trimmed = raw.trim();
        if let [first, second] = *trimmed.as_bytes() {
            let code = [first.to_ascii_uppercase(), second.to_ascii_uppercase()];
            if let Ok(upper) = std::str::from_utf8(&code)
                && ASSIGNED_COUNTRY_CODES.binary_search(&upper).is_ok()
            {
                return Ok(Self(code));
            }
        }
        Err(invalid(
            "must be an assigned ISO 3166-1 alpha-2 country code, such as CN or GB",
        ))
    }

    /// Returns the code as an uppercase string slice, such as "CN".
    pub fn as_str(&self) -> &str {
        // The bytes are always two uppercase ASCII letters, so this never falls back.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl fmt::Debug for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CountryCode").field(&self.as_str()).finish()
    }
}

string_impls!(CountryCode);

/// Where a customer is: a country, and optionally a subdivision and a city within it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Region {
    /// The country.
    pub country_code: CountryCode,
    /// The province or state, when known.
    pub subdivision: Option<Subdivision>,
    /// The city, when known.
    pub city: Option<City>,
}

// ---------------------------------------------------------------------------------------------
// Numbers
// ---------------------------------------------------------------------------------------------

/// How many employees a customer organisation has: 0 to 10,000,000.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EmployeeCount(u32);

impl EmployeeCount {
    /// The largest accepted count.
    pub const MAX: u32 = 10_000_000;

    /// Accepts `count` if it is 0 to [`EmployeeCount::MAX`].
    ///
    /// It takes an `i64` so that any integer a request can carry is checked here, not truncated
    /// on the way in.
    ///
    /// # Errors
    /// Returns [`InvalidValue`] when `count` is negative or too large.
    pub fn new(count: i64) -> Result<Self, InvalidValue> {
        match u32::try_from(count) {
            Ok(count) if count <= Self::MAX => Ok(Self(count)),
            _ => Err(invalid(format!("must be 0 to {}, got {count}", Self::MAX))),
        }
    }

    /// Returns the count.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl fmt::Display for EmployeeCount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

// ---------------------------------------------------------------------------------------------
// Labels
// ---------------------------------------------------------------------------------------------

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

/// A free label on a customer: 1 to 64 characters of lowercase letters, digits, `_` and `-`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(String);

impl Tag {
    /// The most characters a tag may have.
    pub const MAX_CHARS: usize = 64;

    /// Accepts `raw` if it is 1 to 64 characters of `[a-z0-9_-]`; nothing is trimmed or
    /// lowercased.
    ///
    /// # Errors
    /// Returns [`InvalidValue`] when `raw` is empty, too long or has another character.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        check_label(raw).map(|()| Self(raw.to_owned()))
    }

    /// Returns the tag as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

string_impls!(Tag);

/// The set of tags on a customer: at most 50 distinct tags, without duplicates, sorted ascending.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Tags(Vec<Tag>);

impl Tags {
    /// The most distinct tags a customer may have.
    pub const MAX_LEN: usize = 50;

    /// Parses every item into a [`Tag`], removes duplicates and sorts the result.
    ///
    /// # Errors
    /// Returns every problem at once, each with the index of the item it concerns: one entry per
    /// invalid item, and one entry at the index of the first item that would make more than
    /// [`Tags::MAX_LEN`] distinct tags. Entries are in index order.
    pub fn parse<I, S>(items: I) -> Result<Self, Vec<(usize, InvalidValue)>>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut tags = BTreeSet::new();
        let mut errors = Vec::new();
        let mut over_limit = false;
        for (index, item) in items.into_iter().enumerate() {
            match Tag::parse(item.as_ref()) {
                Err(error) => errors.push((index, error)),
                Ok(tag) if tags.contains(&tag) => {}
                Ok(_) if tags.len() >= Self::MAX_LEN => {
                    if !over_limit {
                        over_limit = true;
                        errors.push((
                            index,
                            invalid(format!("a customer may have at most {} distinct tags", Self::MAX_LEN)),
                        ));
                    }
                }
                Ok(tag) => {
                    tags.insert(tag);
                }
            }
        }
        if errors.is_empty() {
            Ok(Self(tags.into_iter().collect()))
        } else {
            Err(errors)
        }
    }

    /// Iterates over the tags in ascending order.
    pub fn iter(&self) -> std::slice::Iter<'_, Tag> {
        self.0.iter()
    }

    /// Returns how many tags there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Returns whether there are no tags.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Returns the tags as a slice, in ascending order.
    pub fn as_slice(&self) -> &[Tag] {
        &self.0
    }
}

impl<'a> IntoIterator for &'a Tags {
    type Item = &'a Tag;
    type IntoIter = std::slice::Iter<'a, Tag>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

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

/// The industry a customer works in, from a small documented code list.
///
/// Each industry has a lowercase `snake_case` code, such as `manufacturing` or
/// `professional_services`; the proto documents the same list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Industry {
    /// Farming, forestry and fishing (`agriculture`).
    Agriculture,
    /// Building and civil engineering (`construction`).
    Construction,
    /// Schools, universities and training (`education`).
    Education,
    /// Power, oil, gas and utilities (`energy`).
    Energy,
    /// Banking, insurance and investment (`finance`).
    Finance,
    /// Public administration (`government`).
    Government,
    /// Hospitals, clinics and pharmaceuticals (`healthcare`).
    Healthcare,
    /// Hotels, restaurants and travel (`hospitality`).
    Hospitality,
    /// Transport, shipping and warehousing (`logistics`).
    Logistics,
    /// Making physical goods (`manufacturing`).
    Manufacturing,
    /// Publishing, broadcasting and entertainment (`media`).
    Media,
    /// Consulting, legal, accounting and agencies (`professional_services`).
    ProfessionalServices,
    /// Property development and management (`real_estate`).
    RealEstate,
    /// Shops and e-commerce (`retail`).
    Retail,
    /// Software, hardware and IT services (`technology`).
    Technology,
    /// Telephone, internet and network operators (`telecommunications`).
    Telecommunications,
    /// Anything not listed above (`other`).
    Other,
}

impl Industry {
    /// Every industry, in declaration order.
    pub const ALL: [Self; 17] = [
        Self::Agriculture,
        Self::Construction,
        Self::Education,
        Self::Energy,
        Self::Finance,
        Self::Government,
        Self::Healthcare,
        Self::Hospitality,
        Self::Logistics,
        Self::Manufacturing,
        Self::Media,
        Self::ProfessionalServices,
        Self::RealEstate,
        Self::Retail,
        Self::Technology,
        Self::Telecommunications,
        Self::Other,
    ];

    /// Accepts an industry code, such as `retail` or `real_estate` (exact, lowercase).
    ///
    /// # Errors
    /// Returns [`InvalidValue`] listing the accepted codes when `raw` is not one of them.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        Self::ALL
            .into_iter()
            .find(|industry| industry.code() == raw)
            .ok_or_else(|| {
                let codes = Self::ALL.map(Self::code).join(", ");
                invalid(format!("must be one of: {codes}"))
            })
    }

    /// Returns the industry's code, such as `professional_services`.
    pub const fn code(self) -> &'static str {
        match self {
            Self::Agriculture => "agriculture",
            Self::Construction => "construction",
            Self::Education => "education",
            Self::Energy => "energy",
            Self::Finance => "finance",
            Self::Government => "government",
            Self::Healthcare => "healthcare",
            Self::Hospitality => "hospitality",
            Self::Logistics => "logistics",
            Self::Manufacturing => "manufacturing",
            Self::Media => "media",
            Self::ProfessionalServices => "professional_services",
            Self::RealEstate => "real_estate",
            Self::Retail => "retail",
            Self::Technology => "technology",
            Self::Telecommunications => "telecommunications",
            Self::Other => "other",
        }
    }
}

impl fmt::Display for Industry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

// ---------------------------------------------------------------------------------------------
// Closed enumerations with stable storage codes
// ---------------------------------------------------------------------------------------------

coded_enum!(
    /// Whether a customer is an organisation or a person.
    CustomerKind {
        /// A company or other organisation (`ORGANIZATION`).
        Organization = (1, "ORGANIZATION"),
        /// A private person (`INDIVIDUAL`).
        Individual = (2, "INDIVIDUAL"),
    }
);

coded_enum!(
    /// The contact's level in their own organisation (高层 / 中层 / 基层).
    JobRank {
        /// Senior management (`EXECUTIVE`, 高层).
        Executive = (1, "EXECUTIVE"),
        /// Middle management (`MIDDLE`, 中层).
        Middle = (2, "MIDDLE"),
        /// Front-line staff (`FRONTLINE`, 基层).
        Frontline = (3, "FRONTLINE"),
    }
);

coded_enum!(
    /// The contact's part in buying decisions (决策权).
    DecisionRole {
        /// Makes the buying decision (`DECISION_MAKER`).
        DecisionMaker = (1, "DECISION_MAKER"),
        /// Shapes the decision without making it (`INFLUENCER`).
        Influencer = (2, "INFLUENCER"),
        /// Uses the product (`USER`).
        User = (3, "USER"),
    }
);

coded_enum!(
    /// What a customer cares about most when buying (需求特点).
    CustomerNeed {
        /// Price comes first (`PRICE_SENSITIVE`).
        PriceSensitive = (1, "PRICE_SENSITIVE"),
        /// Features come first (`FUNCTION_FOCUSED`).
        FunctionFocused = (2, "FUNCTION_FOCUSED"),
        /// Quality comes first (`QUALITY_FOCUSED`).
        QualityFocused = (3, "QUALITY_FOCUSED"),
        /// Service comes first (`SERVICE_FOCUSED`).
        ServiceFocused = (4, "SERVICE_FOCUSED"),
    }
);

impl CustomerNeed {
    /// The need's bit in a [`Needs`] bitmask: bit `code - 1`.
    const fn bit(self) -> u8 {
        1 << (self.code() - 1)
    }
}

/// A set of [`CustomerNeed`]s, stored as a bitmask in which need `n` is bit `n.code() - 1`.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Needs(u8);

impl Needs {
    /// Every bit that stands for a need.
    const KNOWN_BITS: u8 = 0b1111;

    /// Returns the empty set.
    pub const fn empty() -> Self {
        Self(0)
    }

    /// Accepts a bitmask read back from storage.
    ///
    /// # Errors
    /// Returns [`InvalidValue`] when a bit is set that stands for no need.
    pub fn from_bits(bits: u8) -> Result<Self, InvalidValue> {
        if bits & !Self::KNOWN_BITS == 0 {
            Ok(Self(bits))
        } else {
            Err(invalid(format!(
                "must only set the bits of known needs ({:#010b}), got {bits:#010b}",
                Self::KNOWN_BITS
            )))
        }
    }

    /// Returns the bitmask, for storage.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Returns whether `need` is in the set.
    pub const fn contains(self, need: CustomerNeed) -> bool {
        self.0 & need.bit() != 0
    }

    /// Adds `need` to the set.
    pub fn insert(&mut self, need: CustomerNeed) {
        self.0 |= need.bit();
    }

    /// Removes `need` from the set.
    pub fn remove(&mut self, need: CustomerNeed) {
        self.0 &= !need.bit();
    }

    /// Returns whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Iterates over the needs in the set, in [`CustomerNeed::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = CustomerNeed> + use<> {
        let needs = *self;
        CustomerNeed::ALL.into_iter().filter(move |need| needs.contains(*need))
    }
}

impl FromIterator<CustomerNeed> for Needs {
    fn from_iter<I: IntoIterator<Item = CustomerNeed>>(iter: I) -> Self {
        let mut needs = Self::empty();
        needs.extend(iter);
        needs
    }
}

impl Extend<CustomerNeed> for Needs {
    fn extend<I: IntoIterator<Item = CustomerNeed>>(&mut self, iter: I) {
        for need in iter {
            self.insert(need);
        }
    }
}

impl fmt::Debug for Needs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn masked_contacts_keep_only_a_hint() {
        assert_eq!(
            Email::parse("jane@example.com").unwrap().masked().as_str(),
            "j***@example.com"
        );
        assert_eq!(
            Phone::parse("+86 138 0013 8021").unwrap().masked().as_str(),
            "+86*********21"
        );
        assert_eq!(Phone::parse("+4930123456").unwrap().masked().as_str(), "+49******56");
        let masked = Phone::parse("+8613800138021").unwrap().masked();
        assert!(masked.is_masked());
        assert_eq!(Phone::parse_or_masked(masked.as_str()), Ok(masked));
        assert!(!Phone::parse_or_masked("+8613800138021").unwrap().is_masked());
        assert!(Phone::parse_or_masked("86**21").is_err());
        assert!(Phone::parse_or_masked("+86*ab*21").is_err());
    }
    use proptest::prelude::*;

    // --- Identifiers ---------------------------------------------------------------------------

    #[test]
    fn customer_id_accepts_uuids_of_any_version_and_lowercases_them() {
        let v4 = "550E8400-E29B-41D4-A716-446655440000";
        assert_eq!(
            CustomerId::parse(v4).unwrap().as_str(),
            "550e8400-e29b-41d4-a716-446655440000"
        );
        let v7 = "01890a5d-ac96-774b-bcce-b302099a8057";
        assert_eq!(CustomerId::parse(v7).unwrap().as_str(), v7);
    }

    #[test]
    fn customer_id_generate_gives_a_lowercase_uuid_v7() {
        let id = CustomerId::generate();
        let uuid = uuid::Uuid::parse_str(id.as_str()).unwrap();
        assert_eq!(uuid.get_version_num(), 7);
        assert_eq!(CustomerId::parse(id.as_str()).unwrap(), id);
    }

    #[test]
    fn customer_id_accepts_client_chosen_ids_per_aip_122() {
        for ok in ["abc", "acme-corp", "a1-2", &format!("a{}", "b".repeat(62))] {
            assert_eq!(CustomerId::parse(ok).unwrap().as_str(), ok, "{ok}");
        }
        for bad in [
            "",
            "ab",
            "1abc",
            "-abc",
            "abc-",
            "Acme",
            "acme_corp",
            "acme corp",
            " acme",
            &format!("a{}", "b".repeat(63)),
            "{550e8400-e29b-41d4-a716-446655440000}",
            "550e8400e29b41d4a716446655440000",
            "550e8400-e29b-41d4-a716-44665544000g",
        ] {
            assert!(CustomerId::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn customer_id_error_says_what_is_expected() {
        let error = CustomerId::parse("Nope").unwrap_err();
        assert!(error.to_string().starts_with("must be a UUID"), "{error}");
    }

    #[test]
    fn principal_name_keeps_the_full_name_and_exposes_the_id() {
        let name = PrincipalName::parse("principals/alice").unwrap();
        assert_eq!(name.as_str(), "principals/alice");
        assert_eq!(name.id(), "alice");
        assert_eq!(name.to_string(), "principals/alice");
        assert_eq!(PrincipalName::from_id("alice").unwrap(), name);

        let uuid = PrincipalName::parse("principals/550E8400-E29B-41D4-A716-446655440000").unwrap();
        assert_eq!(uuid.id(), "550e8400-e29b-41d4-a716-446655440000");
    }

    #[test]
    fn principal_name_rejects_other_collections_and_bad_ids() {
        for bad in [
            "",
            "alice",
            "principals/",
            "principals/al",
            "principals/Alice",
            "users/alice",
            "principals/alice/x",
            "/principals/alice",
        ] {
            assert!(PrincipalName::parse(bad).is_err(), "{bad:?}");
        }
    }

    // --- Free text -----------------------------------------------------------------------------

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

    // --- Email ---------------------------------------------------------------------------------

    #[test]
    fn email_lowercases_the_domain_and_keeps_the_local_part() {
        let email = Email::parse("  Li.Lei+crm@Example.COM ").unwrap();
        assert_eq!(email.as_str(), "Li.Lei+crm@example.com");
        assert!(Email::parse("a@b.co").is_ok());
        assert!(Email::parse("o'brien@mail.example-domain.org").is_ok());
        assert!(Email::parse("x@xn--fiqs8s.cn").is_ok());
    }

    #[test]
    fn email_rejects_malformed_addresses() {
        for bad in [
            "",
            "plainaddress",
            "@example.com",
            "a@@example.com",
            "a@b@example.com",
            "a@example",
            "a@.com",
            "a@example.",
            "a@example..com",
            "a@-example.com",
            "a@example-.com",
            "a@exa_mple.com",
            "a@example.c",
            "a@example.c0m",
            "a@example.123",
            ".a@example.com",
            "a.@example.com",
            "a..b@example.com",
            "a b@example.com",
            "李@example.com",
            "a@例子.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn email_local_part_is_at_most_64_characters() {
        let ok = format!("{}@example.com", "a".repeat(64));
        assert!(Email::parse(&ok).is_ok());
        let bad = format!("{}@example.com", "a".repeat(65));
        assert!(Email::parse(&bad).is_err());
    }

    #[test]
    fn email_labels_are_at_most_63_characters() {
        let ok = format!("a@{}.com", "b".repeat(63));
        assert!(Email::parse(&ok).is_ok());
        let bad = format!("a@{}.com", "b".repeat(64));
        assert!(Email::parse(&bad).is_err());
    }

    #[test]
    fn email_is_at_most_254_characters() {
        // 64 + 1 + 63 + 1 + 63 + 1 + 57 + 1 + 3 = 254.
        let domain = format!("{}.{}.{}.com", "b".repeat(63), "c".repeat(63), "d".repeat(57));
        let ok = format!("{}@{domain}", "a".repeat(64));
        assert_eq!(ok.len(), 254);
        assert!(Email::parse(&ok).is_ok());
        let domain = format!("{}.{}.{}.com", "b".repeat(63), "c".repeat(63), "d".repeat(58));
        let bad = format!("{}@{domain}", "a".repeat(64));
        assert_eq!(bad.len(), 255);
        let error = Email::parse(&bad).unwrap_err();
        assert_eq!(error.to_string(), "must be at most 254 characters, got 255");
    }

    // --- Phone ---------------------------------------------------------------------------------

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

    // --- Region --------------------------------------------------------------------------------

    #[test]
    fn assigned_country_codes_are_sorted_unique_and_complete() {
        assert_eq!(ASSIGNED_COUNTRY_CODES.len(), 249);
        assert!(ASSIGNED_COUNTRY_CODES.windows(2).all(|w| w[0] < w[1]));
        assert!(
            ASSIGNED_COUNTRY_CODES
                .iter()
                .all(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase()))
        );
    }

    #[test]
    fn country_code_accepts_any_case_and_normalises_to_uppercase() {
        assert_eq!(CountryCode::parse("cn").unwrap().as_str(), "CN");
        assert_eq!(CountryCode::parse("Gb").unwrap().as_str(), "GB");
        assert_eq!(CountryCode::parse(" us ").unwrap().to_string(), "US");
        assert_eq!(CountryCode::parse("AD").unwrap().as_str(), "AD");
        assert_eq!(CountryCode::parse("zw").unwrap().as_str(), "ZW");
        assert_eq!(
            format!("{:?}", CountryCode::parse("cn").unwrap()),
            "CountryCode(\"CN\")"
        );
    }

    #[test]
    fn country_code_rejects_unassigned_codes() {
        for bad in ["XX", "UK", "EU", "AA", "ZZ", "", "C", "CHN", "c n", "中国", "ĉn"] {
            assert!(CountryCode::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn region_holds_a_country_and_optional_parts() {
        let region = Region {
            country_code: CountryCode::parse("CN").unwrap(),
            subdivision: Some(Subdivision::parse("Zhejiang").unwrap()),
            city: None,
        };
        assert_eq!(region.clone(), region);
    }

    // --- Numbers -------------------------------------------------------------------------------

    #[test]
    fn employee_count_accepts_zero_to_ten_million() {
        assert_eq!(EmployeeCount::new(0).unwrap().get(), 0);
        assert_eq!(EmployeeCount::new(10_000_000).unwrap().get(), 10_000_000);
        assert!(EmployeeCount::new(10_000_001).is_err());
        assert!(EmployeeCount::new(-1).is_err());
        assert!(EmployeeCount::new(i64::MIN).is_err());
        assert!(EmployeeCount::new(i64::MAX).is_err());
        assert!(EmployeeCount::new(i64::from(u32::MAX) + 1).is_err());
    }

    // --- Labels --------------------------------------------------------------------------------

    #[test]
    fn tag_accepts_lowercase_digits_underscores_and_hyphens() {
        assert_eq!(Tag::parse("vip_2024-q1").unwrap().as_str(), "vip_2024-q1");
        assert!(Tag::parse("-").is_ok());
        assert!(Tag::parse(&"a".repeat(64)).is_ok());
        for bad in ["", "VIP", "vip tag", " vip", "vip!", "标签", &"a".repeat(65)] {
            assert!(Tag::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn tags_are_deduplicated_and_sorted() {
        let tags = Tags::parse(["vip", "b2b", "vip", "asia", "b2b"]).unwrap();
        let names: Vec<&str> = tags.iter().map(Tag::as_str).collect();
        assert_eq!(names, ["asia", "b2b", "vip"]);
        assert_eq!(tags.len(), 3);
        assert!(!tags.is_empty());
        assert_eq!(tags.as_slice().len(), 3);
        assert_eq!((&tags).into_iter().count(), 3);
    }

    #[test]
    fn tags_report_every_invalid_element_with_its_index() {
        let errors = Tags::parse(["ok", "Bad", "fine", "", "also bad"]).unwrap_err();
        let indexes: Vec<usize> = errors.iter().map(|(index, _)| *index).collect();
        assert_eq!(indexes, [1, 3, 4]);
    }

    #[test]
    fn tags_allow_50_distinct_tags_but_not_51() {
        let fifty: Vec<String> = (0..50).map(|i| format!("t{i}")).collect();
        assert_eq!(Tags::parse(&fifty).unwrap().len(), 50);

        let mut with_duplicates = fifty.clone();
        with_duplicates.extend(fifty.iter().cloned());
        assert_eq!(Tags::parse(&with_duplicates).unwrap().len(), 50);

        let fifty_three: Vec<String> = (0..53).map(|i| format!("t{i}")).collect();
        let errors = Tags::parse(&fifty_three).unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].0, 50);
        assert!(errors[0].1.to_string().contains("at most 50"), "{}", errors[0].1);
    }

    #[test]
    fn tags_default_to_the_empty_set() {
        let tags = Tags::default();
        assert!(tags.is_empty());
        assert_eq!(Tags::parse(Vec::<String>::new()).unwrap(), tags);
    }

    #[test]
    fn department_must_start_with_a_letter_or_digit() {
        assert_eq!(Department::parse("sales-east").unwrap().as_str(), "sales-east");
        assert!(Department::parse("2nd_line").is_ok());
        assert!(Department::parse(&"d".repeat(64)).is_ok());
        for bad in ["", "-sales", "_sales", "Sales", "sales east", &"d".repeat(65)] {
            assert!(Department::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn industry_round_trips_through_its_code() {
        for industry in Industry::ALL {
            assert_eq!(Industry::parse(industry.code()).unwrap(), industry);
            assert_eq!(industry.to_string(), industry.code());
        }
        assert_eq!(
            Industry::parse("professional_services").unwrap(),
            Industry::ProfessionalServices
        );
        assert_eq!(Industry::parse("real_estate").unwrap(), Industry::RealEstate);
    }

    #[test]
    fn industry_error_lists_the_accepted_codes() {
        let error = Industry::parse("Retail").unwrap_err().to_string();
        assert!(
            error.starts_with("must be one of: agriculture, construction"),
            "{error}"
        );
        assert!(error.ends_with("telecommunications, other"), "{error}");
        assert!(Industry::parse("").is_err());
    }

    // --- Coded enumerations --------------------------------------------------------------------

    /// Checks that every value of a coded enum round-trips its name and code, with codes 1..=N.
    macro_rules! assert_round_trips {
        ($ty:ty) => {
            for (index, value) in <$ty>::ALL.into_iter().enumerate() {
                let expected_code = i16::try_from(index + 1).unwrap();
                assert_eq!(value.code(), expected_code);
                assert_eq!(<$ty>::from_code(value.code()), Some(value));
                assert_eq!(<$ty>::from_name(value.name()), Some(value));
                assert_eq!(value.to_string(), value.name());
                assert_eq!(<$ty>::from_name(&value.name().to_lowercase()), None);
            }
            assert_eq!(<$ty>::from_code(0), None);
            assert_eq!(<$ty>::from_code(-1), None);
            let past_end = i16::try_from(<$ty>::ALL.len() + 1).unwrap();
            assert_eq!(<$ty>::from_code(past_end), None);
            assert_eq!(<$ty>::from_name(""), None);
        };
    }

    #[test]
    fn coded_enums_round_trip_name_and_code() {
        assert_round_trips!(CustomerKind);
        assert_round_trips!(JobRank);
        assert_round_trips!(DecisionRole);
        assert_round_trips!(CustomerNeed);
    }

    #[test]
    fn coded_enum_names_have_no_type_prefix() {
        assert_eq!(CustomerKind::Organization.name(), "ORGANIZATION");
        assert_eq!(CustomerKind::Individual.name(), "INDIVIDUAL");
        assert_eq!(JobRank::Frontline.name(), "FRONTLINE");
        assert_eq!(DecisionRole::DecisionMaker.name(), "DECISION_MAKER");
        assert_eq!(CustomerNeed::PriceSensitive.name(), "PRICE_SENSITIVE");
        assert_eq!(CustomerNeed::ServiceFocused.code(), 4);
        assert_eq!(CustomerKind::from_name("CUSTOMER_KIND_ORGANIZATION"), None);
    }

    // --- Needs ---------------------------------------------------------------------------------

    #[test]
    fn needs_bits_round_trip() {
        for bits in 0..=0b1111 {
            let needs = Needs::from_bits(bits).unwrap();
            assert_eq!(needs.bits(), bits);
            assert_eq!(needs.iter().collect::<Needs>(), needs);
        }
        let needs: Needs = [CustomerNeed::QualityFocused, CustomerNeed::PriceSensitive]
            .into_iter()
            .collect();
        assert_eq!(needs.bits(), 0b0101);
        assert_eq!(
            needs.iter().collect::<Vec<_>>(),
            [CustomerNeed::PriceSensitive, CustomerNeed::QualityFocused]
        );
        assert_eq!(format!("{needs:?}"), "{PriceSensitive, QualityFocused}");
    }

    #[test]
    fn needs_reject_unknown_bits() {
        for bits in [0b1_0000, 0b1000_0000, 0b1111_1111, 0b0001_0001] {
            assert!(Needs::from_bits(bits).is_err(), "{bits:#b}");
        }
    }

    #[test]
    fn needs_insert_contains_and_remove() {
        let mut needs = Needs::default();
        assert_eq!(needs, Needs::empty());
        assert!(needs.is_empty());
        needs.insert(CustomerNeed::ServiceFocused);
        needs.insert(CustomerNeed::ServiceFocused);
        assert!(needs.contains(CustomerNeed::ServiceFocused));
        assert!(!needs.contains(CustomerNeed::FunctionFocused));
        assert_eq!(needs.bits(), 0b1000);
        needs.remove(CustomerNeed::ServiceFocused);
        assert!(needs.is_empty());
    }

    // --- Properties ----------------------------------------------------------------------------

    proptest! {
        #[test]
        fn parsing_never_panics_on_arbitrary_strings(raw in any::<String>()) {
            let _ = CustomerId::parse(&raw);
            let _ = PrincipalName::parse(&raw);
            let _ = PrincipalName::from_id(&raw);
            let _ = DisplayName::parse(&raw);
            let _ = PersonName::parse(&raw);
            let _ = JobTitle::parse(&raw);
            let _ = Email::parse(&raw);
            let _ = Phone::parse(&raw);
            let _ = CountryCode::parse(&raw);
            let _ = Subdivision::parse(&raw);
            let _ = City::parse(&raw);
            let _ = Tag::parse(&raw);
            let _ = Tags::parse(raw.split(','));
            let _ = Department::parse(&raw);
            let _ = Industry::parse(&raw);
            let _ = CustomerKind::from_name(&raw);
            let _ = JobRank::from_name(&raw);
            let _ = DecisionRole::from_name(&raw);
            let _ = CustomerNeed::from_name(&raw);
        }

        #[test]
        fn parsing_never_panics_on_near_valid_strings(
            raw in "[ +()@.\\-a-zA-Z0-9_/客\u{0}\t]{0,80}",
        ) {
            let _ = CustomerId::parse(&raw);
            let _ = PrincipalName::parse(&raw);
            let _ = Email::parse(&raw);
            let _ = Phone::parse(&raw);
            let _ = CountryCode::parse(&raw);
            let _ = Tag::parse(&raw);
            let _ = Department::parse(&raw);
        }

        #[test]
        fn numeric_constructors_never_panic(
            count in any::<i64>(),
            bits in any::<u8>(),
            code in any::<i16>(),
        ) {
            let _ = EmployeeCount::new(count);
            let _ = Needs::from_bits(bits);
            let _ = CustomerKind::from_code(code);
            let _ = JobRank::from_code(code);
            let _ = DecisionRole::from_code(code);
            let _ = CustomerNeed::from_code(code);
        }

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

        #[test]
        fn accepted_emails_reparse_to_themselves(
            raw in " ?[a-zA-Z0-9.!#%+_'-]{0,66}@[a-zA-Z0-9.-]{0,20}\\.[a-zA-Z]{1,4} ?",
        ) {
            if let Ok(email) = Email::parse(&raw) {
                prop_assert_eq!(Email::parse(email.as_str()), Ok(email));
            }
        }

        #[test]
        fn accepted_phones_reparse_to_themselves(raw in " ?\\+?[0-9 ().-]{5,20}") {
            if let Ok(phone) = Phone::parse(&raw) {
                prop_assert_eq!(Phone::parse(phone.as_str()), Ok(phone));
            }
        }

        #[test]
        fn accepted_tags_reparse_to_themselves(raw in "[a-zA-Z0-9_ -]{0,70}") {
            if let Ok(tag) = Tag::parse(&raw) {
                prop_assert_eq!(Tag::parse(tag.as_str()), Ok(tag));
            }
        }

        #[test]
        fn tags_of_valid_elements_form_a_sorted_set_of_at_most_50(
            raw in prop::collection::vec("[a-z0-9_-]{1,2}", 0..120),
        ) {
            let distinct: BTreeSet<&str> = raw.iter().map(String::as_str).collect();
            match Tags::parse(&raw) {
                Ok(tags) => {
                    prop_assert!(tags.len() <= Tags::MAX_LEN);
                    prop_assert!(tags.as_slice().windows(2).all(|w| w[0] < w[1]));
                    let parsed: BTreeSet<&str> = tags.iter().map(Tag::as_str).collect();
                    prop_assert_eq!(parsed, distinct);
                }
                Err(errors) => {
                    prop_assert!(distinct.len() > Tags::MAX_LEN);
                    prop_assert_eq!(errors.len(), 1);
                    let mut seen = BTreeSet::new();
                    let first_over = raw
                        .iter()
                        .position(|tag| seen.insert(tag.as_str()) && seen.len() > Tags::MAX_LEN);
                    prop_assert_eq!(Some(errors[0].0), first_over);
                }
            }
        }
    }
}
