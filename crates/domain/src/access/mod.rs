//! Access control (客户端分级管理): who may do what to which customer, decided in memory and
//! explained.
//!
//! The model is DESIGN.md §3. A [`Principal`] (a user or a service account) holds
//! [`RoleBinding`]s; each binding gives it one [`Role`], a named [`PermissionSet`], with a
//! [`Scope`] that says which customers the role applies to (ALL, its DEPARTMENT's, or those it
//! OWNS), optionally only for customers of some grades (a [`GradeSet`]), and an optional expiry. Decisions are deny by default: a permission is granted when some
//! live binding of an enabled principal grants it for that customer.
//!
//! Everything here but [`service`] is pure: no clock, no storage, no locks. The server loads principals, roles
//! and bindings once, builds an immutable [`AccessSnapshot`] from them, and swaps in a new one
//! whenever they change; each question is then a lookup of the principal plus a walk over that
//! principal's own bindings, so its cost does not grow with the number of bindings in the system.
//!
//! # Layout
//! - [`permission`]: [`Permission`], the fixed list of `resource.verb` permissions, and the bit
//!   set [`PermissionSet`].
//! - [`principal`]: [`Principal`] with its [`PrincipalKind`], [`StaffLevel`] and
//!   [`PrincipalDisplayName`].
//! - [`role`]: [`RoleName`], [`Role`], and the built-in roles ([`BuiltInRole`],
//!   [`built_in_roles`]), whose permissions are tabled on [`built_in_roles`].
//! - [`binding`]: [`RoleBinding`], its [`BindingId`], its [`Scope`] and its [`GradeSet`].
//! - [`decision`]: what a decision needs to know about a customer ([`CustomerFacts`]) and what it
//!   answers ([`Decision`], [`Reason`]).
//! - [`authorizer`]: [`Authorizer`], one request's view (principal, snapshot, instant) that the
//!   use cases ask, turning denials into [`Denial`] errors and masking contact details.
//! - [`service`]: [`AccessAdmin`], the access-management use cases (principals, roles,
//!   bindings, keys, the audit log) over an [`AccessRepository`](crate::ports::AccessRepository)
//!   and the injected [`Clock`](crate::clock::Clock): who may do what, self-lockout, built-in
//!   roles, self-service; their errors are [`AccessError`].
//! - [`snapshot`]: [`AccessSnapshot`], the in-memory index that answers
//!   [`check`](AccessSnapshot::check), [`check_global`](AccessSnapshot::check_global),
//!   [`list_scope`](AccessSnapshot::list_scope) (as a [`ListScope`]) and
//!   [`effective_permissions`](AccessSnapshot::effective_permissions).

use crate::customer::values::InvalidValue;

pub mod audit;
pub mod authorizer;
pub mod binding;
pub mod decision;
pub mod keys;
pub mod permission;
pub mod principal;
pub mod role;
pub mod service;
pub mod snapshot;

pub use self::audit::{AuditCursor, AuditEvent, AuditEventId, AuditOutcome, AuditQuery};
pub use self::authorizer::{Authorizer, Denial};
pub use self::binding::{BindingId, GradeSet, ROLE_BINDINGS, RoleBinding, Scope, binding_name};
pub use self::decision::{CustomerFacts, Decision, Reason};
pub use self::keys::{API_KEYS, ApiKeyId, ApiKeyPrefix, ApiKeyRecord, api_key_name, api_keys_of};
pub use self::permission::{Permission, PermissionSet};
pub use self::principal::{Principal, PrincipalChange, PrincipalDisplayName, PrincipalKind, StaffLevel};
pub use self::role::{BuiltInRole, Role, RoleChange, RoleName, RoleTitle, built_in_roles};
pub use self::service::{AccessAdmin, AccessError, BuiltInEdit, LockoutAction};
pub use self::snapshot::{AccessSnapshot, ListScope};
pub use crate::ports::AccessStoreError;

/// Trims `raw` and accepts it if it has 1 to `max_chars` characters and no control characters
/// (the one-line rule of [`crate::text`]).
fn parse_text(raw: &str, max_chars: usize) -> Result<String, InvalidValue> {
    crate::text::TextRule::line(max_chars).parse(raw)
}
