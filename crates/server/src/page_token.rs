//! Page tokens of every List RPC (AIP-158): opaque, signed, and bound to their list and query.
//!
//! A token is `<payload>.<tag>`, both unpadded base64url. The payload (JSON) names the list it
//! belongs to ([`List`], the RPC), holds a fingerprint of the request's query parameters (those a
//! next page depends on: filter, parent, ordering, …, see [`PageQuery`]) and the cursor: where
//! the next page starts, as text in the list's own format. The tag is the first 128 bits of
//! HMAC-SHA-256 over the payload, under a key generated once and kept in the database
//! (`service_secrets`), so every replica accepts every other's tokens.
//!
//! A token that was altered, cut short or made up, that another list issued, or that is replayed
//! with other query parameters is INVALID_ARGUMENT with a violation of `page_token`, never a wrong
//! page. `page_size` is not bound: it may change between pages.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::DateTime;
use crm_domain::{
    customer::values::{CustomerId, InvalidValue},
    error::Violations,
    listing::{Cursor, OrderBy, SortKey},
};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// Bytes of the HMAC kept in a token (128 bits).
const MAC_BYTES: usize = 16;

/// Bytes of SHA-256 kept as the fingerprint of a query.
const FINGERPRINT_BYTES: usize = 12;

/// The description of a token that is not genuine.
const NOT_GENUINE: &str =
    "is not a page token this service issued, or it was altered; start again without a page token";

/// The lists that page: one per List RPC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum List {
    Customers,
    Principals,
    Roles,
    RoleBindings,
    ApiKeys,
    AuditEvents,
    Purchases,
    Interactions,
    PolicyVersions,
    ClassificationHistory,
}

impl List {
    /// The RPC's name, as the token carries it.
    const fn rpc(self) -> &'static str {
        match self {
            Self::Customers => "ListCustomers",
            Self::Principals => "ListPrincipals",
            Self::Roles => "ListRoles",
            Self::RoleBindings => "ListRoleBindings",
            Self::ApiKeys => "ListApiKeys",
            Self::AuditEvents => "ListAuditEvents",
            Self::Purchases => "ListPurchases",
            Self::Interactions => "ListInteractions",
            Self::PolicyVersions => "ListPolicyVersions",
            Self::ClassificationHistory => "ListClassificationHistory",
        }
    }
}

/// What a page token is valid for: one list, and the request's query parameters (by field name,
/// each in a canonical text form) that its pages depend on.
#[derive(Debug, Clone)]
pub(crate) struct PageQuery {
    list: List,
    params: Vec<(&'static str, String)>,
}

impl PageQuery {
    /// The query of `list` with no parameters yet.
    pub(crate) fn new(list: List) -> Self {
        Self {
            list,
            params: Vec::new(),
        }
    }

    /// This query bound to the request field `name` too, whose value is `value`.
    pub(crate) fn param(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.params.push((name, value.into()));
        self
    }

    /// A digest of the parameters, each name and value length-prefixed so that no two different
    /// parameter lists run together.
    fn fingerprint(&self) -> String {
        let mut hasher = Sha256::new();
        for (name, value) in &self.params {
            for part in [name.as_bytes(), value.as_bytes()] {
                hasher.update((part.len() as u64).to_be_bytes());
                hasher.update(part);
            }
        }
        URL_SAFE_NO_PAD.encode(&hasher.finalize()[..FINGERPRINT_BYTES])
    }

    /// The parameters' names for a message: `a`, `a or b`, `a, b or c`.
    fn names(&self) -> String {
        match self.params.split_last() {
            None => "parameters".to_owned(),
            Some(((last, _), [])) => (*last).to_owned(),
            Some(((last, _), rest)) => {
                let rest: Vec<&str> = rest.iter().map(|(name, _)| *name).collect();
                format!("{} or {last}", rest.join(", "))
            }
        }
    }
}

/// What a token carries, signed.
#[derive(Debug, Serialize, Deserialize)]
struct Payload {
    /// The list ([`List::rpc`]).
    l: String,
    /// The fingerprint of the query.
    q: String,
    /// The cursor.
    c: String,
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

    /// The token of the page that starts after `cursor` in `query`.
    pub(crate) fn encode(&self, query: &PageQuery, cursor: &str) -> String {
        let payload = Payload {
            l: query.list.rpc().to_owned(),
            q: query.fingerprint(),
            c: cursor.to_owned(),
        };
        let bytes = serde_json::to_vec(&payload).unwrap_or_default();
        let tag = self.mac(&bytes).finalize().into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&bytes),
            URL_SAFE_NO_PAD.encode(&tag[..MAC_BYTES])
        )
    }

    /// The token of the next page: after `last` when there is one, else empty (no more pages).
    pub(crate) fn next(&self, query: &PageQuery, last: Option<String>) -> String {
        last.map(|cursor| self.encode(query, &cursor)).unwrap_or_default()
    }

    /// The cursor in `token`, read by `parse`, if the token is genuine and belongs to `query`.
    ///
    /// # Errors
    /// [`InvalidValue`] for anything else, saying why.
    pub(crate) fn decode<C>(
        &self,
        query: &PageQuery,
        token: &str,
        parse: impl FnOnce(&str) -> Option<C>,
    ) -> Result<C, InvalidValue> {
        let invalid = || InvalidValue(NOT_GENUINE.to_owned());
        let (payload_b64, tag_b64) = token.split_once('.').ok_or_else(invalid)?;
        let bytes = URL_SAFE_NO_PAD.decode(payload_b64).map_err(|_| invalid())?;
        let tag = URL_SAFE_NO_PAD.decode(tag_b64).map_err(|_| invalid())?;
        if tag.len() != MAC_BYTES {
            return Err(invalid());
        }
        self.mac(&bytes).verify_truncated_left(&tag).map_err(|_| invalid())?;
        let payload: Payload = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
        if payload.l != query.list.rpc() {
            return Err(InvalidValue(
                "is a page token of another list; start again without a page token".to_owned(),
            ));
        }
        if payload.q != query.fingerprint() {
            return Err(InvalidValue(format!(
                "belongs to a list with another {}; start again without a page token",
                query.names()
            )));
        }
        parse(&payload.c).ok_or_else(invalid)
    }

    /// The cursor of a request's `page_token` (none for the first page, empty), read by `parse`;
    /// a violation of `page_token` when the token is not valid for `query`.
    pub(crate) fn after<C>(
        &self,
        v: &mut Violations,
        query: &PageQuery,
        token: &str,
        parse: impl FnOnce(&str) -> Option<C>,
    ) -> Option<C> {
        if token.is_empty() {
            return None;
        }
        v.check("page_token", self.decode(query, token, parse))
    }
}

// ---------------------------------------------------------------------------------------------
// The cursor of ListCustomers
// ---------------------------------------------------------------------------------------------

/// A customer list position as cursor text (JSON).
#[derive(Debug, Serialize, Deserialize)]
struct CustomerPosition {
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

/// The cursor text of a customer list position.
pub(crate) fn customer_cursor_text(cursor: &Cursor) -> String {
    let position = CustomerPosition {
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
    serde_json::to_string(&position).unwrap_or_default()
}

/// Parses [`customer_cursor_text`] back, if it is a position of a list in `order`.
pub(crate) fn parse_customer_cursor(text: &str, order: &OrderBy) -> Option<Cursor> {
    let position: CustomerPosition = serde_json::from_str(text).ok()?;
    let keys = position
        .k
        .into_iter()
        .map(|k| match k {
            Key::Text(s) => Some(SortKey::Text(s)),
            Key::Time(t) => DateTime::from_timestamp_micros(t).map(SortKey::Time),
            Key::Int(n) => Some(SortKey::Int(n)),
        })
        .collect::<Option<Vec<_>>>()?;
    let cursor = Cursor {
        keys,
        id: CustomerId::parse(&position.id).ok()?,
    };
    cursor.fits(order).then_some(cursor)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn tokens() -> PageTokens {
        PageTokens::new(b"key").unwrap()
    }

    fn bindings_of(principal: &str) -> PageQuery {
        PageQuery::new(List::RoleBindings).param("principal", principal)
    }

    fn text(c: &str) -> Option<String> {
        Some(c.to_owned())
    }

    #[test]
    fn a_token_round_trips_for_the_same_query_on_any_replica() {
        let query = bindings_of("principals/alice");
        let token = tokens().encode(&query, "roleBindings/x");
        assert_eq!(tokens().decode(&query, &token, text), Ok("roleBindings/x".to_owned()));
        // A cursor of any text, and a list without parameters.
        let query = PageQuery::new(List::Principals);
        let cursor = "principals/\"quoted\" 客户\n.~|";
        let token = tokens().encode(&query, cursor);
        assert_eq!(tokens().decode(&query, &token, text).unwrap(), cursor);
        assert_eq!(tokens().next(&query, None), "");
        assert_eq!(tokens().next(&query, Some(cursor.to_owned())), token);
    }

    #[test]
    fn a_token_of_another_list_is_rejected() {
        let token = tokens().encode(&PageQuery::new(List::Principals), "principals/x");
        for list in [List::Roles, List::PolicyVersions, List::Customers] {
            let error = tokens().decode(&PageQuery::new(list), &token, text).unwrap_err();
            assert!(error.0.contains("another list"), "{error}");
        }
    }

    #[test]
    fn a_token_replayed_with_another_query_is_rejected_naming_the_parameters() {
        let token = tokens().encode(&bindings_of("principals/alice"), "roleBindings/x");
        for other in ["principals/bob", "", "principals/alice "] {
            let error = tokens().decode(&bindings_of(other), &token, text).unwrap_err();
            assert_eq!(
                error.0,
                "belongs to a list with another principal; start again without a page token"
            );
        }
        let customers = |filter: &str| {
            PageQuery::new(List::Customers)
                .param("filter", filter)
                .param("order_by", "display_name")
                .param("show_deleted", "false")
        };
        let token = tokens().encode(&customers("kind = INDIVIDUAL"), "c");
        assert_eq!(
            tokens()
                .decode(&customers("kind = ORGANIZATION"), &token, text)
                .unwrap_err()
                .0,
            "belongs to a list with another filter, order_by or show_deleted; start again without a page token"
        );
        // Parameters are separated: ("ab", "") is not ("a", "b"), nor are they renamed freely.
        let split = |a: &str, b: &str| PageQuery::new(List::AuditEvents).param("actor", a).param("action", b);
        let token = tokens().encode(&split("ab", ""), "c");
        assert!(tokens().decode(&split("a", "b"), &token, text).is_err());
        let renamed = PageQuery::new(List::AuditEvents)
            .param("resource", "ab")
            .param("action", "");
        assert!(tokens().decode(&renamed, &token, text).is_err());
        // Bound to a parameter that is then left out.
        let fewer = PageQuery::new(List::AuditEvents).param("actor", "ab");
        assert!(tokens().decode(&fewer, &token, text).is_err());
    }

    #[test]
    fn a_token_with_any_character_changed_is_rejected() {
        let query = bindings_of("principals/alice");
        let token = tokens().encode(&query, "roleBindings/x");
        for i in 0..token.len() {
            for with in ['A', 'B', '-', '_', '.', '0'] {
                let mut changed = token.clone();
                changed.replace_range(i..=i, &with.to_string());
                if changed != token {
                    let error = tokens().decode(&query, &changed, text).unwrap_err();
                    assert_eq!(error.0, NOT_GENUINE, "{changed}");
                }
            }
        }
    }

    #[test]
    fn a_truncated_or_extended_token_is_rejected() {
        let query = bindings_of("principals/alice");
        let token = tokens().encode(&query, "roleBindings/x");
        for end in 0..token.len() {
            assert!(tokens().decode(&query, &token[..end], text).is_err(), "{end}");
            assert!(tokens().decode(&query, &token[end + 1..], text).is_err(), "{end}");
        }
        for extended in [format!("{token}A"), format!("{token}."), format!("A{token}")] {
            assert!(tokens().decode(&query, &extended, text).is_err(), "{extended}");
        }
    }

    #[test]
    fn garbage_and_forgeries_are_rejected() {
        let query = bindings_of("principals/alice");
        for garbage in [
            "",
            ".",
            "abc",
            "a.b",
            "!!.!!",
            "YQ.YQ",
            "\u{0}",
            "..",
            "e30.AAAAAAAAAAAAAAAAAAAAAA",
        ] {
            assert_eq!(
                tokens().decode(&query, garbage, text).unwrap_err().0,
                NOT_GENUINE,
                "{garbage:?}"
            );
        }
        // A payload with a made-up tag, or signed with another key.
        let payload = URL_SAFE_NO_PAD.encode(br#"{"l":"ListRoleBindings","q":"","c":"roleBindings/y"}"#);
        let token = tokens().encode(&query, "roleBindings/x");
        let forged = format!("{payload}.{}", token.split_once('.').unwrap().1);
        assert!(tokens().decode(&query, &forged, text).is_err());
        let other_key = PageTokens::new(b"other").unwrap().encode(&query, "roleBindings/x");
        assert!(tokens().decode(&query, &other_key, text).is_err());
    }

    #[test]
    fn a_genuine_token_whose_cursor_the_list_cannot_read_is_rejected() {
        let query = PageQuery::new(List::PolicyVersions);
        let token = tokens().encode(&query, "not a number");
        let parsed = tokens().decode(&query, &token, |c| c.parse::<u64>().ok());
        assert_eq!(parsed.unwrap_err().0, NOT_GENUINE);
    }

    #[test]
    fn after_reads_the_first_page_as_none_and_records_violations_at_page_token() {
        let query = PageQuery::new(List::Roles);
        let mut v = Violations::new();
        assert_eq!(tokens().after(&mut v, &query, "", text), None);
        assert!(v.is_empty());
        let token = tokens().encode(&query, "roles/a");
        assert_eq!(tokens().after(&mut v, &query, &token, text), text("roles/a"));
        assert!(v.is_empty());
        assert_eq!(tokens().after(&mut v, &query, "garbage", text), None);
        let fields: Vec<&str> = v.as_slice().iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["page_token"]);
    }

    #[test]
    fn customer_cursors_round_trip_only_for_an_ordering_they_fit() {
        let cursor = Cursor {
            keys: vec![SortKey::Time(
                DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap_or_default(),
            )],
            id: CustomerId::generate(),
        };
        let order = OrderBy::default();
        let text = customer_cursor_text(&cursor);
        assert_eq!(parse_customer_cursor(&text, &order), Some(cursor));
        let by_name = OrderBy::parse("display_name").unwrap();
        assert_eq!(parse_customer_cursor(&text, &by_name), None);
        for bad in ["", "{}", r#"{"k":[],"id":"not an id"}"#, "[1]"] {
            assert_eq!(parse_customer_cursor(bad, &order), None, "{bad:?}");
        }
    }
}
