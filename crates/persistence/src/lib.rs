//! Persistence: stores the domain in SQLite (the embedded default) or PostgreSQL through one
//! sea-orm code path.
//!
//! # Layout
//! - [`Database`]: connecting (with the URL's password kept out of every message), running
//!   migrations, and the health check.
//! - [`customers::SqlCustomerRepository`]: the domain's `CustomerRepository` port; rows are mapped
//!   to domain values here and driver errors become `CustomerError` cases here.
//! - [`access::SqlAccessRepository`]: the domain's `AccessRepository` port (principals, custom
//!   roles, role bindings, API keys, the audit log, and the snapshot decisions are made from).
//! - [`classification::SqlClassificationRepository`]: the domain's `ClassificationRepository`
//!   port (purchases, interactions, policy versions, classification writes, history, segment
//!   counts), and [`ReclassificationLock`], the PostgreSQL advisory lock that keeps batch runs of
//!   several replicas apart. `stored` holds the JSON documents of a classification and a policy.
//! - `query`: the translation of the domain's typed filter, list scope, ordering and cursor into
//!   SQL conditions with bound values (no filter text ever reaches SQL).
//! - [`notify`]: telling the other replicas that access control changed or a policy version was
//!   activated (PostgreSQL `LISTEN`/`NOTIFY`; nothing to do on SQLite).
//! - [`facts_cache`]: the owner, department and grade of customers seen by CheckPermission, kept
//!   true by this replica's writes and, on PostgreSQL, other replicas' notifications.
//! - [`customer_cache`]: whole customers for GetCustomer, answered from memory only while no
//!   one else can write them (an owner lock that every other writer waits for).
//! - `read_cache`: what those two caches share (a bounded map, a write generation, a lease).
//! - `primary`: following the primary among the hosts of a multi-host URL
//!   (`target_session_attrs=read-write`) across a failover, see [`follow_primary`].
//! - [`standbys`]: reads served by PostgreSQL hot standbys within a lag bound, and the
//!   consistency tokens (WAL positions) that give read-your-writes across them.
//! - [`secrets`]: random keys shared by all replicas through the database.
//! - `entity`: the sea-orm entities, private to this crate.

pub mod access;
mod batch;
pub mod classification;
mod coalesce;
pub mod customer_cache;
pub mod customers;
mod database;
mod entity;
mod errors;
pub mod facts_cache;
mod mapping;
pub mod notify;
mod primary;
mod query;
mod read_cache;
pub mod secrets;
pub mod standbys;
mod stored;

pub use access::SqlAccessRepository;
pub use classification::{ReclassificationLock, SqlClassificationRepository};
pub use customers::SqlCustomerRepository;
pub use database::{Backend, ConnectError, Database, PoolStats, redact_url};
pub use notify::{
    ACCESS_CHANNEL, Changed, Changes, POLICY_CHANNEL, Topic, publish_access_changed, publish_policy_activated,
    subscribe_changes,
};
pub use primary::follow_primary;
pub use standbys::{ConsistencyToken, MalformedToken, StandbyStatus, follow_standbys};
