//! Identifiers: [`CustomerId`] and [`PrincipalName`], which share the resource-id rule.

use std::fmt;

use super::{InvalidValue, invalid};

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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

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
}
