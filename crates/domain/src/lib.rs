//! The customer domain: what a customer is, which values are valid, how lists are filtered and
//! ordered, and what can go wrong, with no transport or storage types.
//!
//! # Layout
//! - [`customer`]: the customer aggregate and its value types (`customer::values`), each of
//!   which can only hold a valid value ("parse, don't validate").
//! - [`filter`]: the AIP-160 filter language, parsed into a typed [`filter::Filter`].
//! - [`listing`]: ordering, page sizes and keyset cursors for listing customers.
//! - [`error`]: [`error::CustomerError`], the cases a caller can act on, and [`error::Violations`],
//!   which collects every invalid field of a request at once.
//! - [`ports`]: the traits persistence implements, with their error contracts.
//! - [`caller`]: who is calling; the seam where authentication plugs in.
//! - [`access`]: access control: permissions, principals, roles and scoped role bindings, and
//!   [`access::AccessSnapshot`], the in-memory authorizer that decides and explains.
//! - [`text`]: the one rule for free text from callers (no control characters; line breaks and
//!   tabs only in prose) and [`text::echo`], how an error message repeats caller input.

#[macro_use]
mod macros;

pub mod access;
pub mod caller;
pub mod classification;
pub mod clock;
pub mod customer;
pub mod error;
pub mod filter;
pub mod listing;
pub mod ports;
pub mod text;
