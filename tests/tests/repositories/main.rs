//! Repository-level tests of crm-persistence on SQLite and PostgreSQL, without a server:
//! the access store, scoped customer listings and facts, cross-replica change notification, the
//! set-based write of a re-classification batch and saturating window sums, GetCustomer's
//! coalesced reads and cache, and the scope indexes of the schema.

#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

mod access;
mod access_store;
mod classification_batch;
mod coalesced_reads;
mod customer_cache;
mod customer_scope;
mod notify;
mod reclassify_lock;
mod schema;
mod support;
