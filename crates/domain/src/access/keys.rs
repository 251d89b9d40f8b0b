//! API keys as stored: a public [`ApiKeyPrefix`] that identifies a key in logs and listings,
//! and the SHA-256 of its secret. The secret itself is never stored; the server generates it,
//! shows it once, hashes it and compares hashes in constant time.

use std::fmt;

use chrono::{DateTime, Utc};

use crate::customer::values::{InvalidValue, PrincipalName};

uuid_id!(
    /// The id of an API key: a UUID, server-assigned as v7 so that ids sort by creation time.
    ApiKeyId
);

/// The public part of an API key: exactly 8 characters of `[a-z0-9]`, unique among keys.
///
/// It is not secret: it names the key in logs and listings and lets the server find the stored
/// hash to compare against without scanning.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ApiKeyPrefix(String);

impl ApiKeyPrefix {
    /// How many characters a prefix has.
    pub const LEN: usize = 8;

    /// Accepts exactly 8 lowercase ASCII letters or digits.
    ///
    /// # Errors
    /// Returns [`InvalidValue`] for any other text.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        if raw.len() == Self::LEN && raw.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(InvalidValue(format!(
                "must be exactly {} lowercase letters or digits",
                Self::LEN
            )))
        }
    }

    /// Returns the prefix as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ApiKeyPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for ApiKeyPrefix {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// The collection segment of API key names under their principal.
pub const API_KEYS: &str = "/apiKeys/";

/// The resource name of an API key, `principals/{id}/apiKeys/{uuid}`.
pub fn api_key_name(principal: &PrincipalName, id: ApiKeyId) -> String {
    format!("{principal}{API_KEYS}{id}")
}

/// The collection of a principal's API keys, `principals/{id}/apiKeys`.
pub fn api_keys_of(principal: &PrincipalName) -> String {
    format!("{principal}{}", API_KEYS.trim_end_matches('/'))
}

/// An API key as stored: who it authenticates, the hash of its secret, and its lifetime.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    /// The key's id.
    pub id: ApiKeyId,
    /// The key's public prefix.
    pub prefix: ApiKeyPrefix,
    /// The principal the key authenticates.
    pub principal: PrincipalName,
    /// The SHA-256 of the secret, computed by the server; the domain only stores the bytes.
    pub secret_hash: [u8; 32],
    /// When the key was created.
    pub create_time: DateTime<Utc>,
    /// When the key stops working, if it expires.
    pub expire_time: Option<DateTime<Utc>>,
    /// When the key was revoked, if it was.
    pub revoke_time: Option<DateTime<Utc>>,
}

impl ApiKeyRecord {
    /// Returns whether the key authenticates at `now`: it is not revoked and has not expired. At
    /// the expiry instant itself the key is already expired. Whether its principal is disabled
    /// is the caller's to check.
    pub fn is_usable(&self, now: DateTime<Utc>) -> bool {
        self.revoke_time.is_none() && self.expire_time.is_none_or(|expire_time| now < expire_time)
    }
}

impl fmt::Debug for ApiKeyRecord {
    /// Writes every field but the secret hash, which stays out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeyRecord")
            .field("id", &self.id)
            .field("prefix", &self.prefix)
            .field("principal", &self.principal)
            .field("secret_hash", &"<redacted>")
            .field("create_time", &self.create_time)
            .field("expire_time", &self.expire_time)
            .field("revoke_time", &self.revoke_time)
            .finish()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use chrono::TimeDelta;

    use super::*;

    #[test]
    fn prefix_is_exactly_eight_lowercase_letters_or_digits() {
        assert_eq!(ApiKeyPrefix::parse("ab12cd34").unwrap().as_str(), "ab12cd34");
        for bad in ["", "ab12cd3", "ab12cd345", "AB12CD34", "ab12-d34", "ab12cd3é"] {
            assert!(ApiKeyPrefix::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn key_id_round_trips() {
        let id = ApiKeyId::generate();
        assert_eq!(id.as_uuid().get_version_num(), 7);
        assert_eq!(ApiKeyId::parse(&id.to_string()), Ok(id));
        assert_eq!(ApiKeyId::from_uuid(id.as_uuid()), id);
        assert!(ApiKeyId::parse("not-a-uuid").is_err());
    }

    #[test]
    fn a_key_is_usable_until_revoked_or_expired_and_never_debugs_its_hash() {
        let now = DateTime::from_timestamp(1_750_000_000, 0).unwrap();
        let mut key = ApiKeyRecord {
            id: ApiKeyId::generate(),
            prefix: ApiKeyPrefix::parse("ab12cd34").unwrap(),
            principal: PrincipalName::from_id("alice").unwrap(),
            secret_hash: [7; 32],
            create_time: now,
            expire_time: None,
            revoke_time: None,
        };
        assert!(key.is_usable(now));
        key.expire_time = Some(now + TimeDelta::seconds(1));
        assert!(key.is_usable(now));
        key.expire_time = Some(now);
        assert!(!key.is_usable(now), "expire_time == now counts as expired");
        key.expire_time = None;
        key.revoke_time = Some(now + TimeDelta::days(1));
        assert!(!key.is_usable(now), "a revoked key never works again");
        assert!(!format!("{key:?}").contains("7, 7"));
    }
}
