//! API key secrets: how a key looks on the wire, how it is made, and how it is checked.
//!
//! A key is `crm_<prefix>_<secret>`: `prefix` is 8 random characters of `[a-z0-9]`, public, and
//! names the key in logs and listings; `secret` is 32 random bytes (256 bits) in unpadded
//! base64url. Only the SHA-256 of the secret is stored. A plain (fast) hash is enough because
//! the secret is random and long, not a password: there is nothing to guess from the hash.
//! Hashes are compared in constant time.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use crm_domain::{
    access::{ApiKeyId, ApiKeyPrefix, ApiKeyRecord},
    customer::values::PrincipalName,
};
use rand::{Rng as _, RngExt as _};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

/// What every key starts with, so that leaked keys are easy to recognise (and to scan for).
const KEY_TAG: &str = "crm";

/// How many random bytes a secret has.
const SECRET_BYTES: usize = 32;

/// A key as presented by a caller, split into its parts. Parsing checks only the shape.
#[derive(Clone)]
pub(crate) struct ApiKey {
    /// The public prefix.
    pub(crate) prefix: ApiKeyPrefix,
    /// The secret part (never logged).
    pub(crate) secret: String,
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKey")
            .field("prefix", &self.prefix)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl ApiKey {
    /// Splits `crm_<prefix>_<secret>`; `None` for anything else.
    pub(crate) fn parse(raw: &str) -> Option<Self> {
        let rest = raw.strip_prefix(KEY_TAG)?.strip_prefix('_')?;
        let (prefix, secret) = rest.split_once('_')?;
        let prefix = ApiKeyPrefix::parse(prefix).ok()?;
        let well_formed = secret.len() == 43
            && secret
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        well_formed.then(|| Self {
            prefix,
            secret: secret.to_owned(),
        })
    }

    /// The key sent as `authorization: Bearer <key>`; `None` when the header is missing or is
    /// not a bearer key of our shape.
    pub(crate) fn from_authorization(header: Option<&str>) -> Option<Self> {
        let header = header?.trim();
        let (scheme, key) = header.split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        Self::parse(key.trim())
    }
}

/// A freshly made key: the full text, shown to its owner exactly once, and what is stored.
pub(crate) struct NewApiKey {
    /// `crm_<prefix>_<secret>`.
    pub(crate) text: String,
    /// The record to store (holding only the secret's hash).
    pub(crate) record: ApiKeyRecord,
}

impl std::fmt::Debug for NewApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewApiKey")
            .field("record", &self.record)
            .finish_non_exhaustive()
    }
}

impl AsRef<ApiKeyRecord> for NewApiKey {
    fn as_ref(&self) -> &ApiKeyRecord {
        &self.record
    }
}

/// Makes a new random key for `principal`.
pub(crate) fn generate(
    principal: PrincipalName,
    create_time: DateTime<Utc>,
    expire_time: Option<DateTime<Utc>>,
) -> NewApiKey {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    let prefix: String = (0..ApiKeyPrefix::LEN)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect();
    let mut bytes = [0_u8; SECRET_BYTES];
    rng.fill_bytes(&mut bytes);
    let secret = URL_SAFE_NO_PAD.encode(bytes);
    let prefix = ApiKeyPrefix::parse(&prefix).unwrap_or_else(|_| unreachable_prefix());
    NewApiKey {
        text: format!("{KEY_TAG}_{prefix}_{secret}"),
        record: ApiKeyRecord {
            id: ApiKeyId::generate(),
            prefix,
            principal,
            secret_hash: hash_secret(&secret),
            create_time,
            expire_time,
            revoke_time: None,
        },
    }
}

/// The prefix alphabet and length always parse; this is never reached.
#[allow(clippy::panic)]
fn unreachable_prefix() -> ApiKeyPrefix {
    panic!("a generated prefix always parses")
}

/// The SHA-256 of a secret, as stored.
pub(crate) fn hash_secret(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Whether `secret` hashes to `stored`, compared in constant time.
pub(crate) fn verify_secret(secret: &str, stored: &[u8; 32]) -> bool {
    hash_secret(secret).ct_eq(stored).into()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_back_and_verify() {
        let now = Utc::now();
        let new = generate(PrincipalName::from_id("alice").unwrap(), now, None);
        let parsed = ApiKey::parse(&new.text).expect("own format parses");
        assert_eq!(parsed.prefix, new.record.prefix);
        assert!(verify_secret(&parsed.secret, &new.record.secret_hash));
        assert!(!verify_secret(&parsed.secret, &[0; 32]));
        let header = format!("Bearer {}", new.text);
        assert!(ApiKey::from_authorization(Some(&header)).is_some());
        assert!(ApiKey::from_authorization(Some(&format!("bearer  {}", new.text))).is_some());
        assert!(!format!("{parsed:?}").contains(&parsed.secret));
        assert!(!format!("{new:?}").contains(&parsed.secret));
    }

    #[test]
    fn two_keys_differ() {
        let now = Utc::now();
        let a = generate(PrincipalName::from_id("alice").unwrap(), now, None);
        let b = generate(PrincipalName::from_id("alice").unwrap(), now, None);
        assert_ne!(a.text, b.text);
        assert_ne!(a.record.secret_hash, b.record.secret_hash);
    }

    #[test]
    fn malformed_keys_and_headers_are_rejected() {
        for bad in [
            "",
            "crm",
            "crm_",
            "crm_ab12cd34",
            "crm_ab12cd34_",
            "crm_AB12CD34_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "xyz_ab12cd34_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "crm_ab12cd34_aaaa",
            "crm_ab12cd34_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!",
        ] {
            assert!(ApiKey::parse(bad).is_none(), "{bad:?}");
        }
        let good = "crm_ab12cd34_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
        assert!(ApiKey::parse(good).is_some());
        assert!(ApiKey::from_authorization(None).is_none());
        assert!(ApiKey::from_authorization(Some(good)).is_none(), "no scheme");
        assert!(ApiKey::from_authorization(Some(&format!("Basic {good}"))).is_none());
    }
}
