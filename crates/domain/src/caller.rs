//! Who is calling. The server's authentication layer turns the request's API key into a
//! [`Caller`] and attaches it to the request; handlers read it and ask the domain's authorizer
//! ([`Authorizer`](crate::access::Authorizer)) about it. There is no anonymous caller: a request
//! without a valid key never reaches a handler.

use std::fmt;

use crate::access::{ApiKeyId, ApiKeyPrefix};
use crate::customer::values::PrincipalName;

/// The authenticated identity behind a request: the principal and the key it used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The principal the key belongs to.
    pub principal: PrincipalName,
    /// The id of the key used.
    pub key_id: ApiKeyId,
    /// The key's public prefix, for logs (never the secret).
    pub key_prefix: ApiKeyPrefix,
}

impl fmt::Display for Caller {
    /// Writes the principal and the key's public prefix, such as `principals/alice (key ab12cd34)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (key {})", self.principal, self.key_prefix)
    }
}
