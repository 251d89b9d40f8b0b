//! Repository-level tests of the persistence crate on SQLite and PostgreSQL, without a server:
//! the access store, scoped customer listings and facts, cross-replica change notification, and
//! the scope indexes of the schema.

#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

mod access;
mod customer_scope;
mod notify;
mod schema;
mod support;
