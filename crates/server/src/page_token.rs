//! Opaque, signed page tokens (AIP-158).
//!
//! A token carries the keyset cursor and a fingerprint of the query it belongs to (filter,
//! ordering, `show_deleted`), signed with HMAC-SHA-256 under a key that all replicas share
//! through the database. A token that was altered, or that is replayed with another filter or
//! ordering, is rejected as INVALID_ARGUMENT instead of silently returning a wrong page. Changing
//! `page_size` between pages is allowed.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::DateTime;
use crm_domain::{
    customer::values::{CustomerId, InvalidValue},
    listing::{Cursor, OrderBy, SortKey},
};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// Bytes of the HMAC kept in a token (128 bits).
const MAC_BYTES: usize = 16;

#[derive(Debug, Serialize, Deserialize)]
struct Payload {
    /// Fingerprint of the query.
    q: String,
    /// Sort keys.
    k: Vec<Key>,
    /// Tie-breaking id.
    id: String,
}

#[derive(Debug, Serialize, Deserialize)]
enum Key {
    #[serde(rename = "s")]
    Text(String),
    /// Microseconds since the Unix epoch.
    #[serde(rename = "t")]
    Time(i64),
    #[serde(rename = "i")]
    Int(i64),
}

/// Signs and checks page tokens.
#[derive(Clone)]
pub(crate) struct PageTokens {
    /// The keyed MAC, cloned for each token.
    mac: HmacSha256,
}

impl std::fmt::Debug for PageTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PageTokens { key: <redacted> }")
    }
}

/// The fingerprint of a list query: what a page token is only valid for.
pub(crate) fn fingerprint(filter: &str, order: &OrderBy, show_deleted: bool) -> String {
    let mut hasher = Sha256::new();
    hasher.update(filter.trim().as_bytes());
    hasher.update([0]);
    hasher.update(order.canonical().as_bytes());
    hasher.update([0, u8::from(show_deleted)]);
    let digest = hasher.finalize();
    URL_SAFE_NO_PAD.encode(&digest[..12])
}

impl PageTokens {
    /// Tokens signed with `key`.
    ///
    /// # Errors
    /// When the key is unusable (HMAC takes keys of any length, so in practice never).
    pub(crate) fn new(key: &[u8]) -> Result<Self, hmac::digest::InvalidLength> {
        Ok(Self {
            mac: <HmacSha256 as Mac>::new_from_slice(key)?,
        })
    }

    fn mac(&self, payload: &[u8]) -> HmacSha256 {
        let mut mac = self.mac.clone();
        mac.update(payload);
        mac
    }

    /// The token for the page after `cursor` of the query with this fingerprint.
    pub(crate) fn encode(&self, fingerprint: &str, cursor: &Cursor) -> String {
        let payload = Payload {
            q: fingerprint.to_owned(),
            k: cursor
                .keys
                .iter()
                .map(|k| match k {
                    SortKey::Text(s) => Key::Text(s.clone()),
                    SortKey::Time(t) => Key::Time(t.timestamp_micros()),
                    SortKey::Int(n) => Key::Int(*n),
                })
                .collect(),
            id: cursor.id.as_str().to_owned(),
        };
        let bytes = serde_json::to_vec(&payload).unwrap_or_default();
        let tag = self.mac(&bytes).finalize().into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&bytes),
            URL_SAFE_NO_PAD.encode(&tag[..MAC_BYTES])
        )
    }

    /// The cursor in `token`, if it is genuine and belongs to the query with this fingerprint
    /// and ordering.
    pub(crate) fn decode(&self, token: &str, fingerprint: &str, order: &OrderBy) -> Result<Cursor, InvalidValue> {
        let invalid = || InvalidValue("is not a page token this service issued, or it was altered".to_owned());
        let (payload_b64, tag_b64) = token.split_once('.').ok_or_else(invalid)?;
        let bytes = URL_SAFE_NO_PAD.decode(payload_b64).map_err(|_| invalid())?;
        let tag = URL_SAFE_NO_PAD.decode(tag_b64).map_err(|_| invalid())?;
        if tag.len() != MAC_BYTES {
            return Err(invalid());
        }
        self.mac(&bytes).verify_truncated_left(&tag).map_err(|_| invalid())?;
        let payload: Payload = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
        if payload.q != fingerprint {
            return Err(InvalidValue(
                "belongs to a list with another filter, order_by or show_deleted; start again without a page token"
                    .to_owned(),
            ));
        }
        let keys = payload
            .k
            .into_iter()
            .map(|k| match k {
                Key::Text(s) => Some(SortKey::Text(s)),
                Key::Time(t) => DateTime::from_timestamp_micros(t).map(SortKey::Time),
                Key::Int(n) => Some(SortKey::Int(n)),
            })
            .collect::<Option<Vec<_>>>()
            .ok_or_else(invalid)?;
        let cursor = Cursor {
            keys,
            id: CustomerId::parse(&payload.id).map_err(|_| invalid())?,
        };
        if !cursor.fits(order) {
            return Err(invalid());
        }
        Ok(cursor)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn cursor() -> Cursor {
        Cursor {
            keys: vec![SortKey::Time(
                DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap_or_default(),
            )],
            id: CustomerId::generate(),
        }
    }

    #[test]
    fn a_token_round_trips_for_the_same_query() {
        let tokens = PageTokens::new(b"key").unwrap();
        let order = OrderBy::default();
        let fp = fingerprint("kind = INDIVIDUAL", &order, false);
        let c = cursor();
        assert_eq!(tokens.decode(&tokens.encode(&fp, &c), &fp, &order), Ok(c));
    }

    #[test]
    fn a_token_is_rejected_for_another_filter_or_when_altered() {
        let tokens = PageTokens::new(b"key").unwrap();
        let order = OrderBy::default();
        let fp = fingerprint("kind = INDIVIDUAL", &order, false);
        let token = tokens.encode(&fp, &cursor());
        assert!(
            tokens
                .decode(&token, &fingerprint("kind = ORGANIZATION", &order, false), &order)
                .is_err()
        );
        assert!(
            tokens
                .decode(&token, &fingerprint("kind = INDIVIDUAL", &order, true), &order)
                .is_err()
        );
        let mut altered = token.clone().into_bytes();
        altered[3] = if altered[3] == b'A' { b'B' } else { b'A' };
        assert!(tokens.decode(&String::from_utf8_lossy(&altered), &fp, &order).is_err());
        assert!(PageTokens::new(b"other").unwrap().decode(&token, &fp, &order).is_err());
        assert!(tokens.decode("garbage", &fp, &order).is_err());
    }
}
