//! What can go wrong, as cases a caller can act on.
//!
//! [`CustomerError`] is the one error type of every customer operation and of the repository
//! port. Each case maps to exactly one gRPC code in the server (an exhaustive `match`, no
//! catch-all), and [`CustomerError::Unexpected`] is the only case whose details are logged but
//! never shown to a caller.

use std::fmt;

use crate::access::Denial;
use crate::customer::values::{CustomerId, InvalidValue};

/// One invalid field of a request: its path as written in the request
/// (e.g. `customer.contact.email`) and what is wrong with it, in words a caller can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    /// The field's path in the request, e.g. `customer.tags[3]`.
    pub field: String,
    /// What is wrong and what is expected.
    pub description: String,
}

/// Every invalid field of one request, collected so that all are reported at once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Violations(Vec<FieldViolation>);

impl Violations {
    /// No violations yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `field` is invalid for `description`.
    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.0.push(FieldViolation {
            field: field.into(),
            description: description.into(),
        });
    }

    /// Returns the parsed value, or records the violation under `field` and returns `None`.
    pub fn check<T>(&mut self, field: impl Into<String>, parsed: Result<T, InvalidValue>) -> Option<T> {
        match parsed {
            Ok(value) => Some(value),
            Err(InvalidValue(reason)) => {
                self.add(field, reason);
                None
            }
        }
    }

    /// Parses an optional value: an empty string means "absent" and is not a violation.
    pub fn check_optional<T>(
        &mut self,
        field: impl Into<String>,
        raw: &str,
        parse: impl FnOnce(&str) -> Result<T, InvalidValue>,
    ) -> Option<T> {
        if raw.trim().is_empty() {
            None
        } else {
            self.check(field, parse(raw))
        }
    }

    /// Whether no violation has been recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The violations, in the order they were found.
    pub fn as_slice(&self) -> &[FieldViolation] {
        &self.0
    }

    /// `Ok(value)` when nothing was recorded, else every violation as [`CustomerError::Invalid`].
    ///
    /// The value is usually built from `Option`s filled by [`Violations::check`]; build it
    /// lazily so that it is only assembled when every part parsed.
    pub fn finish<T>(self, build: impl FnOnce() -> Option<T>) -> Result<T, CustomerError> {
        if !self.is_empty() {
            return Err(CustomerError::Invalid(self));
        }
        build()
            .ok_or_else(|| CustomerError::Unexpected("a value was missing although no violation was recorded".into()))
    }
}

impl fmt::Display for Violations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, v) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}: {}", v.field, v.description)?;
        }
        Ok(())
    }
}

/// Why a customer operation failed.
#[derive(Debug, thiserror::Error)]
pub enum CustomerError {
    /// One or more fields of the request are invalid; all of them are listed.
    #[error("invalid request: {0}")]
    Invalid(Violations),
    /// No customer has this id.
    #[error("customer {0} does not exist")]
    NotFound(CustomerId),
    /// The customer exists but is soft-deleted.
    #[error("customer {0} is deleted")]
    Deleted(CustomerId),
    /// A customer with this id exists already (possibly soft-deleted).
    #[error("customer {0} already exists")]
    AlreadyExists(CustomerId),
    /// Undelete was asked for a customer that is not deleted.
    #[error("customer {0} is not deleted")]
    NotDeleted(CustomerId),
    /// The etag sent (or the version read) no longer matches: someone else wrote in between.
    #[error("customer {0} was changed by someone else; read it again and retry")]
    EtagMismatch(CustomerId),
    /// The caller lacks the permission for this customer (or for customers at all).
    #[error("{0}")]
    PermissionDenied(Denial),
    /// A list filter names a contact field (its path, such as `contact.email`) that the caller
    /// sees masked on some customers it may list, so filtering on it would reveal the value.
    #[error("filtering on {0} needs customers.read_contact for every customer you may list")]
    ContactFieldHidden(&'static str),
    /// No policy version has this number.
    #[error("policy version {0} does not exist")]
    PolicyVersionNotFound(crate::classification::PolicyVersionId),
    /// The customer has no override on this dimension.
    #[error("customer {0} has no override on {1}")]
    OverrideNotFound(CustomerId, crate::classification::Dimension),
    /// This order reference was recorded for the customer before with a different amount or time.
    #[error("order {1} of customer {0} was recorded before with a different amount or time")]
    PurchaseConflict(CustomerId, crate::classification::OrderRef),
    /// The storage cannot be used right now (it is unreachable, does not answer in time, or has no
    /// free connection): nothing was done, and the same request may succeed when retried later.
    /// The adapter decides which of its failures these are; the message is for logs only.
    #[error("storage unavailable: {0}")]
    Unavailable(Box<dyn std::error::Error + Send + Sync>),
    /// Anything else (a row cannot be decoded, a statement the storage rejects, …). The message is
    /// for logs only and never reaches a caller.
    #[error("unexpected: {0}")]
    Unexpected(Box<dyn std::error::Error + Send + Sync>),
}

impl CustomerError {
    /// Wraps any error as [`CustomerError::Unexpected`].
    pub fn unexpected(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Unexpected(error.into())
    }

    /// Wraps any error as [`CustomerError::Unavailable`].
    pub fn unavailable(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Unavailable(error.into())
    }
}
