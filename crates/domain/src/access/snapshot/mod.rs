//! The authorizer: an immutable, in-memory index of principals, roles and bindings that answers
//! access questions without touching storage.
//!
//! [`AccessSnapshot::new`] groups the bindings by principal and resolves each binding's role to
//! its permission set once, so that a question costs one hash lookup of the principal plus a walk
//! over that principal's own bindings (a handful), whatever the total number of bindings. The
//! server holds the current snapshot behind a shared pointer and replaces it whole when
//! principals, roles or bindings change; readers never wait for a rebuild.
//!
//! # Rules
//! - Deny by default. An unknown principal is [`Reason::PrincipalNotFound`]; a disabled one is
//!   [`Reason::PrincipalDisabled`], whatever its bindings.
//! - A binding is live while `now < expire_time` (or it has no expiry). A binding whose role does
//!   not exist grants nothing.
//! - For a customer-scoped permission, a live binding grants it when its [`Scope`] covers the
//!   customer (see [`Scope::covers`]) and its [`GradeSet`] admits the customer's grade (see
//!   [`GradeSet::admits`]: an empty set admits every grade; an unclassified customer counts as
//!   POTENTIAL). A global permission is granted by any live binding that holds it, whatever its
//!   scope and grades.
//! - Denials report the most useful reason: [`Reason::OutOfScope`] over
//!   [`Reason::GradeNotCovered`] over [`Reason::BindingExpired`] over
//!   [`Reason::NoBindingWithPermission`].
//! - Permission is decided before existence (AIP-211): [`Reason::CustomerNotFound`] is only said
//!   to a principal that holds the permission for *every* customer (live ALL bindings whose
//!   grades together admit every grade); anyone else gets the answer it would get for an existing
//!   customer outside its scope and of a grade none of its ALL bindings covers, so the answer
//!   never reveals whether a customer exists.

mod list_scope;

pub use self::list_scope::ListScope;

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::binding::{BindingId, GradeSet, RoleBinding, Scope};
use super::decision::{CustomerFacts, Decision, Reason};
use super::permission::{Permission, PermissionSet};
use super::principal::Principal;
use super::role::{BuiltInRole, Role, RoleName, built_in_roles};
use crate::customer::values::{Department, PrincipalName};

/// A binding with its role's permissions resolved, holding only what a decision reads (the
/// principal's name is the entry's key and is not repeated).
#[derive(Clone, Debug)]
struct Grant {
    /// The permissions of the binding's role; empty when the role does not exist.
    permissions: PermissionSet,
    /// The binding's scope.
    scope: Scope,
    /// The grades the binding is limited to (empty: every grade).
    grades: GradeSet,
    /// The binding's expiry.
    expire_time: Option<DateTime<Utc>>,
    /// The binding's id.
    id: BindingId,
    /// The binding's role (stored inline, so naming it in a reason does not allocate).
    role: RoleName,
}

impl Grant {
    /// Returns whether the binding is in force at `now`; see [`RoleBinding::is_live`].
    fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.expire_time.is_none_or(|expire_time| now < expire_time)
    }

    /// Returns whether the binding is live at `now` and its role holds `permission`.
    fn holds_live(&self, permission: Permission, now: DateTime<Utc>) -> bool {
        self.permissions.contains(permission) && self.is_live(now)
    }

    /// The reason this grant allows a request.
    fn granted(&self) -> Reason {
        Reason::Granted {
            binding: self.id,
            role: self.role.clone(),
            scope: self.scope,
        }
    }

    /// The binding this grant was made from.
    fn binding(&self, principal: &PrincipalName) -> RoleBinding {
        RoleBinding {
            id: self.id,
            principal: principal.clone(),
            role: self.role.clone(),
            scope: self.scope,
            grades: self.grades,
            expire_time: self.expire_time,
        }
    }
}

/// A principal with its bindings, laid out so that a decision touches as little memory as
/// possible: the flag and the department (shared by every principal of that department, so it
/// stays in cache) are inline, the bindings are one allocation, and the rest of the principal is
/// out of the way.
#[derive(Clone, Debug)]
struct Entry {
    /// Whether the principal is disabled.
    disabled: bool,
    /// The principal's department.
    department: Option<Arc<Department>>,
    /// Its bindings, sorted by id so that every answer is independent of input order.
    grants: Vec<Grant>,
    /// The principal.
    principal: Box<Principal>,
}

/// An immutable index of principals, roles and role bindings that answers access questions.
///
/// Built once by [`AccessSnapshot::new`]; every question takes `now` from the caller, so the
/// snapshot itself never reads a clock. It is `Send + Sync`, meant to be shared behind an `Arc`
/// and replaced whole when anything changes.
#[derive(Clone)]
pub struct AccessSnapshot {
    /// Every principal with its bindings.
    principals: HashMap<PrincipalName, Entry>,
    /// Every role: the built-in ones and the custom ones.
    roles: HashMap<RoleName, Role>,
    /// How many bindings the snapshot holds.
    binding_count: usize,
}

impl AccessSnapshot {
    /// Indexes `principals`, `roles` and `bindings`.
    ///
    /// - The [built-in roles](built_in_roles) are always present and always as defined in code:
    ///   a role passed under a built-in name is ignored, and a custom role is never marked
    ///   built-in.
    /// - A binding whose role is unknown grants nothing; a binding of an unknown principal is
    ///   dropped, since that principal is denied everything anyway.
    /// - A principal or binding given twice counts once: the last principal of a name, the first
    ///   binding of an id.
    pub fn new(
        principals: impl IntoIterator<Item = Principal>,
        roles: impl IntoIterator<Item = Role>,
        bindings: impl IntoIterator<Item = RoleBinding>,
    ) -> Self {
        let mut role_index: HashMap<RoleName, Role> = built_in_roles()
            .into_iter()
            .map(|role| (role.name.clone(), role))
            .collect();
        for role in roles {
            if BuiltInRole::from_name(&role.name).is_none() {
                role_index.insert(
                    role.name.clone(),
                    Role {
                        built_in: false,
                        ..role
                    },
                );
            }
        }

        let mut departments: HashMap<Department, Arc<Department>> = HashMap::new();
        let mut index: HashMap<PrincipalName, Entry> = principals
            .into_iter()
            .map(|principal| {
                let department = principal.department.as_ref().map(|department| {
                    Arc::clone(
                        departments
                            .entry(department.clone())
                            .or_insert_with(|| Arc::new(department.clone())),
                    )
                });
                let entry = Entry {
                    disabled: principal.disabled,
                    department,
                    grants: Vec::new(),
                    principal: Box::new(principal),
                };
                (entry.principal.name.clone(), entry)
            })
            .collect();
        for binding in bindings {
            if let Some(entry) = index.get_mut(&binding.principal) {
                let permissions = role_index
                    .get(&binding.role)
                    .map_or(PermissionSet::empty(), |role| role.permissions);
                entry.grants.push(Grant {
                    permissions,
                    scope: binding.scope,
                    grades: binding.grades,
                    expire_time: binding.expire_time,
                    id: binding.id,
                    role: binding.role,
                });
            }
        }
        let mut binding_count = 0;
        for entry in index.values_mut() {
            entry.grants.sort_by_key(|grant| grant.id);
            entry.grants.dedup_by_key(|grant| grant.id);
            entry.grants.shrink_to_fit();
            binding_count += entry.grants.len();
        }
        Self {
            principals: index,
            roles: role_index,
            binding_count,
        }
    }

    /// May `principal` use `permission` on `customer` at `now`?
    ///
    /// `customer` is `None` when the customer does not exist. For a global permission (see
    /// [`Permission::is_customer_scoped`]) the customer is ignored and this is
    /// [`check_global`](Self::check_global). The rules, and which deny reason wins, are in the
    /// [module documentation](self).
    pub fn check(
        &self,
        principal: &PrincipalName,
        permission: Permission,
        customer: Option<&CustomerFacts>,
        now: DateTime<Utc>,
    ) -> Decision {
        let entry = match self.enabled(principal) {
            Ok(entry) => entry,
            Err(reason) => return reason.into(),
        };
        if !permission.is_customer_scoped() {
            return Self::decide_global(entry, permission, now).into();
        }
        // `principal` (the caller's name, already in cache) equals the entry's key, so OWN is
        // matched against it rather than against the stored copy.
        let department = entry.department.as_deref();
        let mut out_of_scope = None;
        let mut grade_not_covered = None;
        let mut expired = None;
        // For a missing customer: the grades the live ALL bindings admit together, so far.
        let mut all_grades: Option<GradeSet> = None;
        for grant in entry
            .grants
            .iter()
            .filter(|grant| grant.permissions.contains(permission))
        {
            if !grant.is_live(now) {
                expired.get_or_insert(grant);
                continue;
            }
            let scope = grant.scope;
            match customer {
                Some(customer) if scope.covers(principal, department, customer) => {
                    if grant.grades.admits(customer.grade) {
                        return grant.granted().into();
                    }
                    grade_not_covered.get_or_insert(grant);
                }
                // A missing customer is NOT_FOUND only to a principal whose ALL bindings together
                // cover every grade; to anyone else it looks like a customer of a grade they do
                // not cover.
                None if scope == Scope::All => {
                    let grades = all_grades.map_or(grant.grades, |grades| grades.union(grant.grades));
                    if grades.is_unlimited() {
                        return Reason::CustomerNotFound.into();
                    }
                    all_grades = Some(grades);
                    grade_not_covered.get_or_insert(grant);
                }
                _ => {
                    out_of_scope.get_or_insert(grant);
                }
            }
        }
        Self::deny(out_of_scope, grade_not_covered, expired).into()
    }

    /// May `principal` use `permission` at all at `now`, whatever the customer?
    ///
    /// Meant for global permissions (`policy.*`, `access.*`, `audit.read`,
    /// `classification.run`): any live binding that holds the permission grants it, whatever its
    /// scope. For a customer-scoped permission it answers whether the principal holds it for
    /// *some* customers (the granting binding's scope says which); never use it to decide about
    /// one customer, use [`check`](Self::check).
    pub fn check_global(&self, principal: &PrincipalName, permission: Permission, now: DateTime<Utc>) -> Decision {
        match self.enabled(principal) {
            Ok(entry) => Self::decide_global(entry, permission, now).into(),
            Err(reason) => reason.into(),
        }
    }

    /// Which customers may `principal` see with `permission` (normally `customers.list`) at
    /// `now`: the union of the scopes (each with its grades) of its live bindings that hold the
    /// permission. It covers exactly the customers [`check`](Self::check) allows.
    ///
    /// Bindings of the same scope add up: their grade sets are united, and one not limited by
    /// grade makes that scope unlimited. An ALL binding not limited by grade (or ALL bindings
    /// whose grades together are every grade) gives [`ListScope::Everything`]; ALL bindings
    /// limited by grade give [`all_with_grades`](ListScope::Restricted::all_with_grades). A
    /// DEPARTMENT binding of a principal without a department adds nothing. An unknown or
    /// disabled principal gets [`ListScope::Nothing`]. For a global permission the answer is
    /// [`ListScope::Everything`] when any live binding holds it, else [`ListScope::Nothing`].
    pub fn list_scope(&self, principal: &PrincipalName, permission: Permission, now: DateTime<Utc>) -> ListScope {
        let Ok(entry) = self.enabled(principal) else {
            return ListScope::Nothing;
        };
        let mut live = entry.grants.iter().filter(|grant| grant.holds_live(permission, now));
        if !permission.is_customer_scoped() {
            return if live.next().is_some() {
                ListScope::Everything
            } else {
                ListScope::Nothing
            };
        }
        // The grades each scope admits so far; `None`: no binding of that scope.
        let mut all: Option<GradeSet> = None;
        let mut department: Option<GradeSet> = None;
        let mut own: Option<GradeSet> = None;
        let widen = |slot: &mut Option<GradeSet>, grades: GradeSet| {
            *slot = Some(slot.map_or(grades.normalized(), |seen| seen.union(grades)));
        };
        for grant in live {
            match grant.scope {
                Scope::All => {
                    widen(&mut all, grant.grades);
                    if all.is_some_and(GradeSet::is_unlimited) {
                        return ListScope::Everything;
                    }
                }
                Scope::Department => {
                    if entry.department.is_some() {
                        widen(&mut department, grant.grades);
                    }
                }
                Scope::Own => widen(&mut own, grant.grades),
            }
        }
        let departments: Vec<(Department, GradeSet)> = match (&entry.department, department) {
            (Some(name), Some(grades)) => vec![(Department::clone(name), grades)],
            _ => Vec::new(),
        };
        let owners: Vec<(PrincipalName, GradeSet)> =
            own.map(|grades| (principal.clone(), grades)).into_iter().collect();
        if departments.is_empty() && owners.is_empty() && all.is_none() {
            ListScope::Nothing
        } else {
            ListScope::Restricted {
                departments,
                owners,
                all_with_grades: all,
            }
        }
    }

    /// What may `principal` do at `now`: each permission it holds through a live binding, with
    /// the scope it holds it in, for `WhoAmI`.
    ///
    /// Sorted by permission, then scope. A permission held with scope ALL by a binding not
    /// limited by grade is listed only with ALL (it covers the narrower scopes); one held with
    /// ALL only by grade-limited bindings is also listed with its narrower scopes. A global
    /// permission is always listed with ALL; a DEPARTMENT scope is left out while the principal
    /// has no department, since it covers nothing. An unknown or disabled principal may do
    /// nothing. Grade limits are not shown.
    pub fn effective_permissions(&self, principal: &PrincipalName, now: DateTime<Utc>) -> Vec<(Permission, Scope)> {
        let Ok(entry) = self.enabled(principal) else {
            return Vec::new();
        };
        let mut pairs = BTreeSet::new();
        // The permissions held for every customer: with scope ALL and no grade limit.
        let mut everywhere = PermissionSet::empty();
        for grant in entry.grants.iter().filter(|grant| grant.is_live(now)) {
            for permission in grant.permissions {
                let scope = if permission.is_customer_scoped() {
                    grant.scope
                } else {
                    Scope::All
                };
                if scope == Scope::All && (!permission.is_customer_scoped() || grant.grades.is_unlimited()) {
                    everywhere.insert(permission);
                }
                if scope != Scope::Department || entry.department.is_some() {
                    pairs.insert((permission, scope));
                }
            }
        }
        pairs
            .into_iter()
            .filter(|(permission, scope)| *scope == Scope::All || !everywhere.contains(*permission))
            .collect()
    }

    /// Returns the roles the principal named `name` holds at `now` through a live binding (a
    /// role bound twice is returned twice), in binding id order; none for an unknown principal.
    pub fn live_roles(&self, name: &PrincipalName, now: DateTime<Utc>) -> impl Iterator<Item = &RoleName> {
        self.principals
            .get(name)
            .into_iter()
            .flat_map(move |entry| entry.grants.iter().filter(move |grant| grant.is_live(now)))
            .map(|grant| &grant.role)
    }

    /// Returns the principal named `name`, if it exists (enabled or not).
    pub fn principal(&self, name: &PrincipalName) -> Option<&Principal> {
        self.principals.get(name).map(|entry| &*entry.principal)
    }

    /// Returns the bindings of the principal named `name`, in binding id order, live or expired.
    pub fn bindings_of(&self, name: &PrincipalName) -> impl Iterator<Item = RoleBinding> {
        self.principals
            .get(name)
            .into_iter()
            .flat_map(|entry| entry.grants.iter().map(|grant| grant.binding(&entry.principal.name)))
    }

    /// Returns the role named `name`, built-in or custom, if it exists.
    pub fn role(&self, name: &RoleName) -> Option<&Role> {
        self.roles.get(name)
    }

    /// Returns every role, built-in and custom, sorted by name.
    pub fn roles(&self) -> Vec<&Role> {
        let mut roles: Vec<&Role> = self.roles.values().collect();
        roles.sort_by(|a, b| a.name.cmp(&b.name));
        roles
    }

    /// Returns how many principals the snapshot holds.
    pub fn principal_count(&self) -> usize {
        self.principals.len()
    }

    /// Returns how many bindings the snapshot holds (bindings of unknown principals are not
    /// counted, since they were dropped).
    pub fn binding_count(&self) -> usize {
        self.binding_count
    }

    /// Returns every principal (enabled or not), in no particular order.
    pub fn principals(&self) -> impl Iterator<Item = &Principal> {
        self.principals.values().map(|entry| &*entry.principal)
    }

    /// Returns every binding of every principal (live or expired), in no particular order.
    pub fn bindings(&self) -> impl Iterator<Item = RoleBinding> {
        self.principals
            .values()
            .flat_map(|entry| entry.grants.iter().map(|grant| grant.binding(&entry.principal.name)))
    }

    /// The entry of an existing, enabled principal, or the reason to deny.
    fn enabled(&self, principal: &PrincipalName) -> Result<&Entry, Reason> {
        match self.principals.get(principal) {
            None => Err(Reason::PrincipalNotFound),
            Some(entry) if entry.disabled => Err(Reason::PrincipalDisabled),
            Some(entry) => Ok(entry),
        }
    }

    /// Decides a permission regardless of scope.
    fn decide_global(entry: &Entry, permission: Permission, now: DateTime<Utc>) -> Reason {
        let mut expired = None;
        for grant in entry
            .grants
            .iter()
            .filter(|grant| grant.permissions.contains(permission))
        {
            if grant.is_live(now) {
                return grant.granted();
            }
            expired.get_or_insert(grant);
        }
        Self::deny(None, None, expired)
    }

    /// The most useful deny reason: out of scope, else grade not covered, else expired, else no
    /// binding at all.
    fn deny(out_of_scope: Option<&Grant>, grade_not_covered: Option<&Grant>, expired: Option<&Grant>) -> Reason {
        if let Some(grant) = out_of_scope {
            Reason::OutOfScope {
                binding: grant.id,
                role: grant.role.clone(),
                scope: grant.scope,
            }
        } else if let Some(grant) = grade_not_covered {
            Reason::GradeNotCovered {
                binding: grant.id,
                role: grant.role.clone(),
                scope: grant.scope,
                grades: grant.grades,
            }
        } else if let Some(grant) = expired {
            Reason::BindingExpired {
                binding: grant.id,
                role: grant.role.clone(),
            }
        } else {
            Reason::NoBindingWithPermission
        }
    }
}

impl Default for AccessSnapshot {
    /// A snapshot with the built-in roles and nothing else, which denies everything.
    fn default() -> Self {
        Self::new([], [], [])
    }
}

impl fmt::Debug for AccessSnapshot {
    /// Writes the sizes only: a snapshot may hold hundreds of thousands of bindings.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessSnapshot")
            .field("principals", &self.principals.len())
            .field("roles", &self.roles.len())
            .field("bindings", &self.binding_count)
            .finish()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
