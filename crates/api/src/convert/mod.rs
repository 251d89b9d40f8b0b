//! Proto messages to domain values and back (the `convert` feature), beside the types they
//! convert, as qdrant keeps its conversions in its api crate: one layer that `crmd` parses every
//! request with and that `crmctl` validates its import rows with, so both report the same
//! violations. The domain never names a proto type; this crate depends on it only behind the
//! feature.
//!
//! Parsing collects every invalid field in a [`Violations`] under its path as written in the
//! request (e.g. `customer.contact.email`, `role.permissions[2]`), so a caller learns about all
//! of them at once. A proto message is destructured where it is parsed, every field named
//! (output-only ones as `_`, never `..`), so a field added to the proto is a compile error here
//! until it is mapped or knowingly ignored.
//!
//! # Layout
//! - [`ProtoEnum`] and [`proto_enum!`](crate::proto_enum!): the one pattern for a domain enum and its proto enum,
//!   both directions exhaustive; [`enum_optional`] and [`enum_required`] parse a proto number.
//! - [`timestamp`] and [`time_from_proto`]: `google.protobuf.Timestamp` both ways.
//! - [`customers`]: customers, their update masks and CreateCustomer.
//! - [`access`]: principals, roles, bindings, API keys, decisions, audit events and cursors.
//! - [`classification`]: dimensions and values, money, policies, classifications, activity,
//!   history, previews and batch runs.
//!
//! What only a server does with the results (a `tonic::Status` with `google.rpc` details) is not
//! here: it stays in `crmd`.

pub mod access;
pub mod classification;
pub mod customers;

use chrono::{DateTime, Utc};
use crm_domain::{customer::values::InvalidValue, error::Violations};

// ---------------------------------------------------------------------------------------------
// Enums
// ---------------------------------------------------------------------------------------------

/// A domain enum with a proto enum of the same values plus the proto's zero `*_UNSPECIFIED`.
/// Implemented with [`proto_enum!`](crate::proto_enum!), which writes both directions as exhaustive matches, so a
/// value added on either side without the other is a compile error.
pub trait ProtoEnum: Copy + Sized {
    /// The generated proto enum.
    type Proto: Copy + Into<i32> + TryFrom<i32>;

    /// The proto value of `self`.
    fn to_proto(self) -> Self::Proto;

    /// The domain value of `proto`; `None` exactly for `*_UNSPECIFIED`.
    fn from_proto(proto: Self::Proto) -> Option<Self>;

    /// The proto number of `self`, as a message field holds it.
    fn to_number(self) -> i32 {
        self.to_proto().into()
    }

    /// The proto number of an optional value: `*_UNSPECIFIED` (0) for `None`.
    fn option_to_number(value: Option<Self>) -> i32 {
        value.map_or(0, Self::to_number)
    }

    /// The domain value of a proto number; `None` for `*_UNSPECIFIED` and for a number the
    /// proto does not define.
    fn from_number(raw: i32) -> Option<Self> {
        Self::Proto::try_from(raw).ok().and_then(Self::from_proto)
    }

    /// Parses a proto number: `Ok(None)` for `*_UNSPECIFIED`.
    ///
    /// # Errors
    /// [`InvalidValue`] `unknown enum value {raw}` for a number the proto does not define.
    fn parse_number(raw: i32) -> Result<Option<Self>, InvalidValue> {
        Self::Proto::try_from(raw)
            .map(Self::from_proto)
            .map_err(|_| InvalidValue(format!("unknown enum value {raw}")))
    }
}

/// Implements [`ProtoEnum`] for the domain enum `$domain` (a name in scope) and the `crm.v1`
/// enum `$proto`, pairing each domain variant with its proto variant:
/// `proto_enum!(Scope => Scope { All = All, Department = Department, Own = Own });`.
#[macro_export]
macro_rules! proto_enum {
    ($domain:ident => $proto:ident { $($d:ident = $p:ident),+ $(,)? }) => {
        impl $crate::convert::ProtoEnum for $domain {
            type Proto = $crate::crm::v1::$proto;

            fn to_proto(self) -> Self::Proto {
                match self {
                    $($domain::$d => $crate::crm::v1::$proto::$p),+
                }
            }

            fn from_proto(proto: Self::Proto) -> Option<Self> {
                match proto {
                    $crate::crm::v1::$proto::Unspecified => None,
                    $($crate::crm::v1::$proto::$p => Some($domain::$d)),+
                }
            }
        }
    };
}

/// Parses an optional enum field at `path`: `*_UNSPECIFIED` is `None`; a number the proto does
/// not define is a violation.
pub fn enum_optional<E: ProtoEnum>(v: &mut Violations, path: &str, raw: i32) -> Option<E> {
    v.check(path, E::parse_number(raw)).flatten()
}

/// Parses a required enum field at `path`: `*_UNSPECIFIED` is a violation described by
/// `required`, and so (as `unknown enum value {raw}`) is a number the proto does not define.
pub fn enum_required<E: ProtoEnum>(v: &mut Violations, path: &str, raw: i32, required: &str) -> Option<E> {
    let value = v.check(path, E::parse_number(raw))?;
    if value.is_none() {
        v.add(path, required);
    }
    value
}

// ---------------------------------------------------------------------------------------------
// Timestamps
// ---------------------------------------------------------------------------------------------

/// The smallest `seconds` a `google.protobuf.Timestamp` may hold (0001-01-01T00:00:00Z).
const MIN_TIMESTAMP_SECONDS: i64 = -62_135_596_800;
/// The largest `seconds` a `google.protobuf.Timestamp` may hold (9999-12-31T23:59:59Z).
const MAX_TIMESTAMP_SECONDS: i64 = 253_402_300_799;

/// A prost timestamp for `time`.
#[must_use]
pub fn timestamp(time: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: time.timestamp(),
        nanos: i32::try_from(time.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

/// Parses a timestamp at `path`, exactly (to the nanosecond).
pub fn time_from_proto(v: &mut Violations, path: &str, raw: &prost_types::Timestamp) -> Option<DateTime<Utc>> {
    let prost_types::Timestamp { seconds, nanos } = *raw;
    let in_range =
        (MIN_TIMESTAMP_SECONDS..=MAX_TIMESTAMP_SECONDS).contains(&seconds) && (0..1_000_000_000).contains(&nanos);
    let time = u32::try_from(nanos)
        .ok()
        .filter(|_| in_range)
        .and_then(|nanos| DateTime::from_timestamp(seconds, nanos));
    if time.is_none() {
        v.add(
            path,
            "is not a valid timestamp: seconds must lie in years 1 to 9999 and nanos in 0 to 999999999",
        );
    }
    time
}
