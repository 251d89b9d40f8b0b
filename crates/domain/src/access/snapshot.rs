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

/// Which customers a principal may see in a list, as a condition persistence turns into SQL.
///
/// # Translating it to SQL
/// - [`Everything`](Self::Everything): no condition.
/// - [`Nothing`](Self::Nothing): no query at all; the answer is empty.
/// - [`Restricted`](Self::Restricted): the `OR` of one condition per clause,
///   ```text
///   (department = d1 AND <grades g1>) OR … OR (owner = o1 AND <grades h1>) OR … OR <grades a>
///   ```
///   with one term per `(d, g)` of `departments`, one per `(o, h)` of `owners`, and the last
///   term only when `all_with_grades` is `Some(a)`. `<grades g>` is:
///   - nothing (the clause is just `department = d` or `owner = o`) when `g` is empty: **an
///     empty [`GradeSet`] means "every grade", never "no grade"**;
///   - otherwise `COALESCE(grade, POTENTIAL) IN (g…)`, with the grades written as the column
///     stores them (by [`Grade::name`](crate::classification::Grade::name) or
///     [`Grade::code`](crate::classification::Grade::code)) and an unclassified customer (a
///     `NULL` grade) counting as POTENTIAL. Equivalently, and friendlier to an index:
///     `grade IN (g…)`, `OR grade IS NULL` added exactly when `g` contains POTENTIAL
///     (`g.admits(None)`).
///
/// [`covers`](Self::covers) is the same condition evaluated in memory, and it agrees with
/// [`AccessSnapshot::check`] for every customer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListScope {
    /// Every customer: no condition.
    Everything,
    /// Only customers matched by one of the clauses: a customer whose `department` is one of
    /// `departments` and whose grade that department's set admits, **or** whose `owner` is one of
    /// `owners` and whose grade that owner's set admits, **or** (any department, any owner)
    /// whose grade `all_with_grades` admits.
    ///
    /// Invariants: at least one clause exists (a list is non-empty or `all_with_grades` is
    /// `Some`); both lists are sorted by department or owner and name each at most once; every
    /// set is normalized (see [`GradeSet::normalized`]: an empty set means every grade, and
    /// [`GradeSet::ALL`] never appears); `all_with_grades` is never `Some` of an empty set (that
    /// is [`Everything`](Self::Everything)).
    Restricted {
        /// Departments whose customers are visible, each with the grades visible in it (empty:
        /// every grade).
        departments: Vec<(Department, GradeSet)>,
        /// Owners whose customers are visible, each with the grades visible for it (empty: every
        /// grade).
        owners: Vec<(PrincipalName, GradeSet)>,
        /// Grades whose customers are visible whatever their department and owner (from bindings
        /// with scope ALL limited to some grades); `None` when there is no such binding. Never
        /// empty.
        all_with_grades: Option<GradeSet>,
    },
    /// No customer: the list is empty (or the request is denied).
    Nothing,
}

impl ListScope {
    /// Returns whether every customer `other` covers is also covered by `self`. It compares the
    /// conditions clause by clause, not the customers, so it may answer `false` when a customer
    /// outside one clause of `self` happens to be covered by another; it never answers `true`
    /// wrongly.
    pub fn includes(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Everything, _) | (_, Self::Nothing) => true,
            (Self::Nothing | Self::Restricted { .. }, Self::Everything) | (Self::Nothing, Self::Restricted { .. }) => {
                false
            }
            (
                Self::Restricted {
                    departments,
                    owners,
                    all_with_grades,
                },
                Self::Restricted {
                    departments: other_departments,
                    owners: other_owners,
                    all_with_grades: other_all,
                },
            ) => {
                let all = all_with_grades.map_or(0, GradeSet::admitted_bits);
                let within = |wanted: GradeSet, shown: u8| wanted.admitted_bits() & !shown == 0;
                other_departments
                    .iter()
                    .all(|(d, grades)| within(*grades, shown(departments, d, all)))
                    && other_owners
                        .iter()
                        .all(|(o, grades)| within(*grades, shown(owners, o, all)))
                    && other_all.is_none_or(|grades| within(grades, all))
            }
        }
    }

    /// Returns whether a customer with these facts is in the scope.
    pub fn covers(&self, customer: &CustomerFacts) -> bool {
        match self {
            Self::Everything => true,
            Self::Restricted {
                departments,
                owners,
                all_with_grades,
            } => {
                let grade = customer.grade;
                all_with_grades.is_some_and(|grades| grades.admits(grade))
                    || customer.department.as_ref().is_some_and(|department| {
                        departments
                            .iter()
                            .any(|(d, grades)| d == department && grades.admits(grade))
                    })
                    || customer
                        .owner
                        .as_ref()
                        .is_some_and(|owner| owners.iter().any(|(o, grades)| o == owner && grades.admits(grade)))
            }
            Self::Nothing => false,
        }
    }
}

/// The grades (as a mask) a restricted scope shows of the customers its `clauses` match at `key`,
/// given that its ALL clause shows the grades `all` of every customer.
fn shown<K: PartialEq>(clauses: &[(K, GradeSet)], key: &K, all: u8) -> u8 {
    clauses
        .iter()
        .filter(|(k, _)| k == key)
        .fold(all, |mask, (_, grades)| mask | grades.admitted_bits())
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
mod tests {
    use chrono::TimeDelta;
    use proptest::prelude::*;

    use super::*;
    use crate::access::binding::BindingId;
    use crate::access::principal::{PrincipalDisplayName, PrincipalKind};
    use crate::access::role::RoleTitle;
    use crate::classification::Grade;
    use Permission::*;

    // --- Fixture -------------------------------------------------------------------------------

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_750_000_000, 0).unwrap()
    }

    fn name(id: &str) -> PrincipalName {
        PrincipalName::from_id(id).unwrap()
    }

    fn dept(id: &str) -> Department {
        Department::parse(id).unwrap()
    }

    fn role(id: &str) -> RoleName {
        RoleName::from_id(id).unwrap()
    }

    fn user(id: &str, department: Option<&str>) -> Principal {
        Principal {
            name: name(id),
            kind: PrincipalKind::User,
            display_name: PrincipalDisplayName::parse(id).unwrap(),
            department: department.map(dept),
            staff_level: None,
            disabled: false,
        }
    }

    fn bid(n: u128) -> BindingId {
        BindingId::from_uuid(uuid::Uuid::from_u128(n))
    }

    fn bind(n: u128, principal: &str, role_id: &str, scope: Scope) -> RoleBinding {
        RoleBinding {
            id: bid(n),
            principal: name(principal),
            role: role(role_id),
            scope,
            grades: GradeSet::empty(),
            expire_time: None,
        }
    }

    fn grades(grades: &[Grade]) -> GradeSet {
        grades.iter().copied().collect()
    }

    fn limited(binding: RoleBinding, only: &[Grade]) -> RoleBinding {
        RoleBinding {
            grades: grades(only),
            ..binding
        }
    }

    fn expiring(binding: RoleBinding, expire_time: DateTime<Utc>) -> RoleBinding {
        RoleBinding {
            expire_time: Some(expire_time),
            ..binding
        }
    }

    fn customer(owner: Option<&str>, department: Option<&str>) -> CustomerFacts {
        CustomerFacts {
            owner: owner.map(name),
            department: department.map(dept),
            grade: None,
        }
    }

    fn graded(customer: CustomerFacts, grade: Grade) -> CustomerFacts {
        CustomerFacts {
            grade: Some(grade),
            ..customer
        }
    }

    fn owners(owners: &[&str]) -> Vec<(PrincipalName, GradeSet)> {
        owners.iter().map(|o| (name(o), GradeSet::empty())).collect()
    }

    fn departments(departments: &[&str]) -> Vec<(Department, GradeSet)> {
        departments.iter().map(|d| (dept(d), GradeSet::empty())).collect()
    }

    fn snapshot(principals: Vec<Principal>, bindings: Vec<RoleBinding>) -> AccessSnapshot {
        AccessSnapshot::new(principals, [], bindings)
    }

    fn granted(n: u128, role_id: &str, scope: Scope) -> Reason {
        Reason::Granted {
            binding: bid(n),
            role: role(role_id),
            scope,
        }
    }

    fn out_of_scope(n: u128, role_id: &str, scope: Scope) -> Reason {
        Reason::OutOfScope {
            binding: bid(n),
            role: role(role_id),
            scope,
        }
    }

    fn grade_not_covered(n: u128, role_id: &str, scope: Scope, only: &[Grade]) -> Reason {
        Reason::GradeNotCovered {
            binding: bid(n),
            role: role(role_id),
            scope,
            grades: grades(only),
        }
    }

    fn expired(n: u128, role_id: &str) -> Reason {
        Reason::BindingExpired {
            binding: bid(n),
            role: role(role_id),
        }
    }

    /// Checks and returns the reason, asserting that `allowed` agrees with it.
    fn reason(
        snapshot: &AccessSnapshot,
        principal: &str,
        permission: Permission,
        customer: Option<&CustomerFacts>,
    ) -> Reason {
        let decision = snapshot.check(&name(principal), permission, customer, now());
        assert_eq!(decision.allowed(), decision.reason().is_granted());
        decision.into_reason()
    }

    #[test]
    fn live_roles_are_those_of_unexpired_bindings() {
        let s = snapshot(
            vec![user("alice", None)],
            vec![
                bind(1, "alice", "analyst", Scope::All),
                expiring(bind(2, "alice", "admin", Scope::All), now()),
                expiring(bind(3, "alice", "support", Scope::Own), now() + TimeDelta::seconds(1)),
            ],
        );
        let roles: Vec<&str> = s.live_roles(&name("alice"), now()).map(RoleName::as_str).collect();
        assert_eq!(roles, ["roles/analyst", "roles/support"]);
        assert_eq!(s.live_roles(&name("nobody"), now()).count(), 0);
    }

    // --- Each reason ---------------------------------------------------------------------------

    #[test]
    fn a_binding_with_scope_all_grants_for_any_customer() {
        let s = snapshot(vec![user("alice", None)], vec![bind(1, "alice", "admin", Scope::All)]);
        for c in [
            customer(None, None),
            customer(Some("bob"), Some("west")),
            customer(Some("alice"), None),
        ] {
            for permission in Permission::ALL {
                assert_eq!(
                    reason(&s, "alice", permission, Some(&c)),
                    granted(1, "admin", Scope::All),
                    "{permission}"
                );
            }
        }
    }

    #[test]
    fn scope_own_grants_for_owned_customers_and_is_out_of_scope_for_others() {
        let s = snapshot(
            vec![user("alice", Some("east"))],
            vec![bind(1, "alice", "sales_rep", Scope::Own)],
        );
        let owned = customer(Some("alice"), Some("west"));
        assert_eq!(
            reason(&s, "alice", CustomersUpdate, Some(&owned)),
            granted(1, "sales_rep", Scope::Own)
        );
        for other in [
            customer(Some("bob"), Some("east")),
            customer(None, Some("east")),
            customer(None, None),
        ] {
            assert_eq!(
                reason(&s, "alice", CustomersUpdate, Some(&other)),
                out_of_scope(1, "sales_rep", Scope::Own),
                "{other:?}"
            );
        }
    }

    #[test]
    fn scope_department_grants_for_the_principals_department_and_is_out_of_scope_for_others() {
        let s = snapshot(
            vec![user("bob", Some("east"))],
            vec![bind(1, "bob", "manager", Scope::Department)],
        );
        let in_east = customer(Some("carol"), Some("east"));
        assert_eq!(
            reason(&s, "bob", CustomersDelete, Some(&in_east)),
            granted(1, "manager", Scope::Department)
        );
        for other in [
            customer(Some("bob"), Some("west")),
            customer(Some("bob"), None),
            customer(None, None),
        ] {
            assert_eq!(
                reason(&s, "bob", CustomersDelete, Some(&other)),
                out_of_scope(1, "manager", Scope::Department),
                "{other:?}"
            );
        }
    }

    #[test]
    fn scope_department_covers_nothing_while_the_principal_has_no_department() {
        let s = snapshot(
            vec![user("dave", None)],
            vec![bind(1, "dave", "manager", Scope::Department)],
        );
        for c in [customer(None, None), customer(Some("dave"), Some("east"))] {
            assert_eq!(
                reason(&s, "dave", CustomersGet, Some(&c)),
                out_of_scope(1, "manager", Scope::Department)
            );
        }
        assert_eq!(s.list_scope(&name("dave"), CustomersList, now()), ListScope::Nothing);
        assert_eq!(
            s.effective_permissions(&name("dave"), now()),
            [(PolicyRead, Scope::All)]
        );
    }

    #[test]
    fn an_unknown_principal_is_denied_everything() {
        let s = snapshot(vec![user("alice", None)], vec![bind(1, "alice", "admin", Scope::All)]);
        let c = customer(None, None);
        assert_eq!(reason(&s, "mallory", CustomersGet, Some(&c)), Reason::PrincipalNotFound);
        assert_eq!(reason(&s, "mallory", CustomersGet, None), Reason::PrincipalNotFound);
        assert_eq!(
            s.check_global(&name("mallory"), PolicyRead, now()).into_reason(),
            Reason::PrincipalNotFound
        );
        assert_eq!(s.list_scope(&name("mallory"), CustomersList, now()), ListScope::Nothing);
        assert!(s.effective_permissions(&name("mallory"), now()).is_empty());
        assert!(s.principal(&name("mallory")).is_none());
    }

    #[test]
    fn a_disabled_principal_with_an_all_binding_is_denied_everything() {
        let mut carol = user("carol", Some("east"));
        carol.disabled = true;
        let s = snapshot(vec![carol], vec![bind(1, "carol", "admin", Scope::All)]);
        let c = customer(Some("carol"), Some("east"));
        for permission in Permission::ALL {
            assert_eq!(reason(&s, "carol", permission, Some(&c)), Reason::PrincipalDisabled);
            assert_eq!(reason(&s, "carol", permission, None), Reason::PrincipalDisabled);
            assert_eq!(
                s.check_global(&name("carol"), permission, now()).into_reason(),
                Reason::PrincipalDisabled
            );
            assert_eq!(s.list_scope(&name("carol"), permission, now()), ListScope::Nothing);
        }
        assert!(s.effective_permissions(&name("carol"), now()).is_empty());
        assert!(s.principal(&name("carol")).is_some_and(|p| p.disabled));
    }

    #[test]
    fn a_principal_without_a_binding_holding_the_permission_is_denied() {
        let s = snapshot(
            vec![user("alice", None), user("henry", None)],
            vec![bind(1, "alice", "sales_rep", Scope::All)],
        );
        let c = customer(Some("alice"), None);
        assert_eq!(
            reason(&s, "alice", CustomersDelete, Some(&c)),
            Reason::NoBindingWithPermission
        );
        assert_eq!(reason(&s, "alice", AuditRead, None), Reason::NoBindingWithPermission);
        assert_eq!(
            reason(&s, "henry", CustomersGet, Some(&c)),
            Reason::NoBindingWithPermission
        );
        assert_eq!(reason(&s, "henry", CustomersGet, None), Reason::NoBindingWithPermission);
    }

    #[test]
    fn an_expired_binding_is_reported_as_expired() {
        let s = snapshot(
            vec![user("erin", None)],
            vec![expiring(
                bind(1, "erin", "support", Scope::All),
                now() - TimeDelta::days(1),
            )],
        );
        let c = customer(None, None);
        assert_eq!(reason(&s, "erin", CustomersGet, Some(&c)), expired(1, "support"));
        assert_eq!(reason(&s, "erin", CustomersGet, None), expired(1, "support"));
        assert_eq!(
            reason(&s, "erin", CustomersDelete, Some(&c)),
            Reason::NoBindingWithPermission,
            "the expired role never held this permission"
        );
        assert_eq!(s.list_scope(&name("erin"), CustomersList, now()), ListScope::Nothing);
        assert!(s.effective_permissions(&name("erin"), now()).is_empty());
    }

    #[test]
    fn a_binding_is_expired_from_the_instant_of_its_expire_time() {
        let binding = bind(1, "erin", "support", Scope::All);
        let c = customer(None, None);
        let at = |expire_time: DateTime<Utc>| {
            let s = snapshot(vec![user("erin", None)], vec![expiring(binding.clone(), expire_time)]);
            reason(&s, "erin", CustomersGet, Some(&c))
        };
        assert_eq!(at(now()), expired(1, "support"), "expire_time == now is expired");
        assert_eq!(at(now() - TimeDelta::microseconds(1)), expired(1, "support"));
        assert_eq!(
            at(now() + TimeDelta::microseconds(1)),
            granted(1, "support", Scope::All),
            "one microsecond before its expiry a binding is live"
        );
    }

    #[test]
    fn out_of_scope_is_reported_rather_than_an_expired_binding() {
        let s = snapshot(
            vec![user("alice", None)],
            vec![
                expiring(bind(1, "alice", "admin", Scope::All), now()),
                bind(2, "alice", "sales_rep", Scope::Own),
            ],
        );
        let bobs = customer(Some("bob"), None);
        assert_eq!(
            reason(&s, "alice", CustomersGet, Some(&bobs)),
            out_of_scope(2, "sales_rep", Scope::Own)
        );
        assert_eq!(
            reason(&s, "alice", CustomersDelete, Some(&bobs)),
            expired(1, "admin"),
            "only the expired binding holds customers.delete"
        );
    }

    #[test]
    fn a_missing_customer_is_not_found_only_for_a_principal_holding_the_permission_for_all() {
        let s = snapshot(
            vec![
                user("admin", None),
                user("alice", Some("east")),
                user("bob", Some("east")),
                user("erin", None),
                user("henry", None),
            ],
            vec![
                bind(1, "admin", "admin", Scope::All),
                bind(2, "alice", "sales_rep", Scope::Own),
                bind(3, "bob", "manager", Scope::Department),
                bind(4, "bob", "sales_rep", Scope::Own),
                expiring(bind(5, "erin", "admin", Scope::All), now()),
            ],
        );
        assert_eq!(reason(&s, "admin", CustomersGet, None), Reason::CustomerNotFound);
        assert_eq!(
            reason(&s, "alice", CustomersGet, None),
            out_of_scope(2, "sales_rep", Scope::Own)
        );
        assert_eq!(
            reason(&s, "bob", CustomersGet, None),
            out_of_scope(3, "manager", Scope::Department)
        );
        assert_eq!(reason(&s, "erin", CustomersGet, None), expired(5, "admin"));
        assert_eq!(reason(&s, "henry", CustomersGet, None), Reason::NoBindingWithPermission);
        assert_eq!(
            reason(&s, "alice", CustomersDelete, None),
            Reason::NoBindingWithPermission
        );
    }

    #[test]
    fn a_missing_customer_looks_like_one_outside_the_principals_scope() {
        let s = snapshot(
            vec![user("alice", Some("east"))],
            vec![
                bind(1, "alice", "sales_rep", Scope::Own),
                bind(2, "alice", "support", Scope::Department),
            ],
        );
        let elsewhere = customer(Some("bob"), Some("west"));
        for permission in Permission::ALL {
            assert_eq!(
                reason(&s, "alice", permission, None),
                reason(&s, "alice", permission, Some(&elsewhere)),
                "{permission}"
            );
        }
    }

    #[test]
    fn a_binding_to_an_unknown_role_grants_nothing() {
        let s = snapshot(
            vec![user("gina", None)],
            vec![bind(1, "gina", "no-such-role", Scope::All)],
        );
        assert!(s.role(&role("no-such-role")).is_none());
        assert_eq!(s.bindings_of(&name("gina")).count(), 1);
        for permission in Permission::ALL {
            assert_eq!(
                reason(&s, "gina", permission, Some(&customer(None, None))),
                Reason::NoBindingWithPermission
            );
        }
        assert!(s.effective_permissions(&name("gina"), now()).is_empty());
    }

    // --- Several bindings ----------------------------------------------------------------------

    #[test]
    fn several_bindings_grant_the_union_of_their_permissions_and_scopes() {
        let s = snapshot(
            vec![user("alice", Some("east"))],
            vec![
                bind(1, "alice", "sales_rep", Scope::Own),
                bind(2, "alice", "auditor", Scope::All),
                bind(3, "alice", "support", Scope::Department),
            ],
        );
        let bobs_in_west = customer(Some("bob"), Some("west"));
        let bobs_in_east = customer(Some("bob"), Some("east"));
        let own_in_west = customer(Some("alice"), Some("west"));
        assert_eq!(
            reason(&s, "alice", CustomersGet, Some(&bobs_in_west)),
            granted(2, "auditor", Scope::All)
        );
        assert_eq!(reason(&s, "alice", AuditRead, None), granted(2, "auditor", Scope::All));
        assert_eq!(
            reason(&s, "alice", CustomersUpdate, Some(&own_in_west)),
            granted(1, "sales_rep", Scope::Own)
        );
        assert_eq!(
            reason(&s, "alice", CustomersUpdate, Some(&bobs_in_east)),
            out_of_scope(1, "sales_rep", Scope::Own)
        );
        assert_eq!(
            reason(&s, "alice", CustomersReadContact, Some(&bobs_in_east)),
            granted(3, "support", Scope::Department)
        );
        assert_eq!(
            reason(&s, "alice", CustomersReadContact, Some(&bobs_in_west)),
            out_of_scope(1, "sales_rep", Scope::Own),
            "the first binding in id order that holds the permission is named"
        );
        assert_eq!(
            reason(&s, "alice", CustomersDelete, Some(&own_in_west)),
            Reason::NoBindingWithPermission
        );
    }

    #[test]
    fn the_granting_binding_is_the_first_in_id_order_whatever_the_input_order() {
        let bindings = vec![
            bind(9, "alice", "admin", Scope::All),
            bind(3, "alice", "sales_rep", Scope::Own),
            bind(5, "alice", "analyst", Scope::All),
        ];
        let mut reversed = bindings.clone();
        reversed.reverse();
        let owned = customer(Some("alice"), None);
        for order in [bindings, reversed] {
            let s = snapshot(vec![user("alice", None)], order);
            assert_eq!(
                reason(&s, "alice", CustomersGet, Some(&owned)),
                granted(3, "sales_rep", Scope::Own)
            );
            assert_eq!(
                reason(&s, "alice", PolicyRead, None),
                granted(3, "sales_rep", Scope::Own)
            );
            let ids: Vec<BindingId> = s.bindings_of(&name("alice")).map(|b| b.id).collect();
            assert_eq!(ids, [bid(3), bid(5), bid(9)]);
        }
    }

    // --- Grades --------------------------------------------------------------------------------

    /// alice (east) holds sales_rep OWN limited to STANDARD and POTENTIAL customers.
    fn junior() -> AccessSnapshot {
        snapshot(
            vec![user("alice", Some("east"))],
            vec![limited(
                bind(1, "alice", "sales_rep", Scope::Own),
                &[Grade::Standard, Grade::Potential],
            )],
        )
    }

    #[test]
    fn a_grade_limited_binding_grants_only_for_customers_of_its_grades() {
        let s = junior();
        let owned = customer(Some("alice"), Some("west"));
        let junior_grades = [Grade::Standard, Grade::Potential];
        for grade in [Grade::Standard, Grade::Potential] {
            assert_eq!(
                reason(&s, "alice", CustomersUpdate, Some(&graded(owned.clone(), grade))),
                granted(1, "sales_rep", Scope::Own),
                "{grade}"
            );
        }
        for grade in [Grade::Vip, Grade::Key] {
            assert_eq!(
                reason(&s, "alice", CustomersUpdate, Some(&graded(owned.clone(), grade))),
                grade_not_covered(1, "sales_rep", Scope::Own, &junior_grades),
                "{grade}"
            );
        }
        assert_eq!(
            reason(
                &s,
                "alice",
                CustomersUpdate,
                Some(&graded(customer(Some("bob"), None), Grade::Standard))
            ),
            out_of_scope(1, "sales_rep", Scope::Own),
            "the grade does not widen the scope"
        );
        let explained = reason(&s, "alice", CustomersGet, Some(&graded(owned, Grade::Vip))).explain();
        assert!(explained.contains("covers only grades STANDARD, POTENTIAL, not this customer's grade"));
        assert!(!explained.contains("VIP"), "{explained}");
    }

    #[test]
    fn an_unclassified_customer_counts_as_potential() {
        let owned = customer(Some("alice"), None);
        assert_eq!(
            reason(&junior(), "alice", CustomersGet, Some(&owned)),
            granted(1, "sales_rep", Scope::Own)
        );
        let senior = snapshot(
            vec![user("alice", None)],
            vec![limited(
                bind(1, "alice", "sales_rep", Scope::Own),
                &[Grade::Vip, Grade::Key],
            )],
        );
        assert_eq!(
            reason(&senior, "alice", CustomersGet, Some(&owned)),
            grade_not_covered(1, "sales_rep", Scope::Own, &[Grade::Vip, Grade::Key])
        );
        assert!(!senior.list_scope(&name("alice"), CustomersList, now()).covers(&owned));
        assert!(junior().list_scope(&name("alice"), CustomersList, now()).covers(&owned));
    }

    #[test]
    fn an_empty_or_full_grade_set_is_not_a_limit() {
        for only in [&[][..], &Grade::ALL[..]] {
            let s = snapshot(
                vec![user("alice", None)],
                vec![limited(bind(1, "alice", "sales_rep", Scope::Own), only)],
            );
            for grade in Grade::ALL {
                assert_eq!(
                    reason(
                        &s,
                        "alice",
                        CustomersGet,
                        Some(&graded(customer(Some("alice"), None), grade))
                    ),
                    granted(1, "sales_rep", Scope::Own)
                );
            }
            assert_eq!(
                s.list_scope(&name("alice"), CustomersList, now()),
                ListScope::Restricted {
                    departments: vec![],
                    owners: owners(&["alice"]),
                    all_with_grades: None,
                }
            );
            assert_eq!(
                s.bindings_of(&name("alice")).next().unwrap().grades,
                grades(only),
                "stored as given"
            );
        }
    }

    #[test]
    fn grade_limited_bindings_add_up() {
        let s = snapshot(
            vec![user("alice", Some("east"))],
            vec![
                limited(
                    bind(1, "alice", "sales_rep", Scope::Own),
                    &[Grade::Standard, Grade::Potential],
                ),
                limited(bind(2, "alice", "support", Scope::Own), &[Grade::Key]),
                limited(bind(3, "alice", "analyst", Scope::Department), &[Grade::Vip]),
            ],
        );
        let owned = customer(Some("alice"), Some("west"));
        assert_eq!(
            reason(&s, "alice", CustomersGet, Some(&graded(owned.clone(), Grade::Key))),
            granted(2, "support", Scope::Own)
        );
        assert_eq!(
            reason(&s, "alice", CustomersGet, Some(&graded(owned.clone(), Grade::Standard))),
            granted(1, "sales_rep", Scope::Own)
        );
        assert_eq!(
            reason(&s, "alice", CustomersGet, Some(&graded(owned.clone(), Grade::Vip))),
            out_of_scope(3, "analyst", Scope::Department),
            "out of scope wins over a grade not covered"
        );
        let in_east = customer(Some("alice"), Some("east"));
        assert_eq!(
            reason(&s, "alice", CustomersGet, Some(&graded(in_east.clone(), Grade::Vip))),
            granted(3, "analyst", Scope::Department)
        );
        assert_eq!(
            s.list_scope(&name("alice"), CustomersGet, now()),
            ListScope::Restricted {
                departments: vec![(dept("east"), grades(&[Grade::Vip]))],
                owners: vec![(name("alice"), grades(&[Grade::Key, Grade::Standard, Grade::Potential]))],
                all_with_grades: None,
            }
        );
        // Without the DEPARTMENT binding, a VIP customer it owns is not covered by grade.
        assert_eq!(
            reason(&s, "alice", CustomersUpdate, Some(&graded(owned, Grade::Vip))),
            grade_not_covered(1, "sales_rep", Scope::Own, &[Grade::Standard, Grade::Potential]),
            "the first binding in id order is named"
        );
        // An unlimited binding of the same scope wins.
        let s = snapshot(
            vec![user("alice", None)],
            vec![
                limited(bind(1, "alice", "sales_rep", Scope::Own), &[Grade::Standard]),
                bind(2, "alice", "support", Scope::Own),
            ],
        );
        assert_eq!(
            s.list_scope(&name("alice"), CustomersGet, now()),
            ListScope::Restricted {
                departments: vec![],
                owners: owners(&["alice"]),
                all_with_grades: None,
            }
        );
    }

    #[test]
    fn a_grade_not_covered_is_reported_rather_than_an_expired_binding() {
        let s = snapshot(
            vec![user("alice", None)],
            vec![
                expiring(bind(1, "alice", "admin", Scope::All), now()),
                limited(bind(2, "alice", "sales_rep", Scope::Own), &[Grade::Standard]),
            ],
        );
        let vip = graded(customer(Some("alice"), None), Grade::Vip);
        assert_eq!(
            reason(&s, "alice", CustomersGet, Some(&vip)),
            grade_not_covered(2, "sales_rep", Scope::Own, &[Grade::Standard])
        );
        assert_eq!(reason(&s, "alice", CustomersDelete, Some(&vip)), expired(1, "admin"));
    }

    #[test]
    fn a_grade_limited_all_binding_covers_those_grades_of_every_customer() {
        let s = snapshot(
            vec![user("senior", Some("east")), user("split", None)],
            vec![
                limited(bind(1, "senior", "sales_rep", Scope::All), &[Grade::Vip]),
                bind(2, "senior", "sales_rep", Scope::Own),
                limited(bind(3, "split", "support", Scope::All), &[Grade::Vip, Grade::Key]),
                limited(
                    bind(4, "split", "analyst", Scope::All),
                    &[Grade::Standard, Grade::Potential],
                ),
            ],
        );
        let vip_elsewhere = graded(customer(Some("bob"), Some("west")), Grade::Vip);
        let key_elsewhere = graded(customer(Some("bob"), Some("west")), Grade::Key);
        assert_eq!(
            reason(&s, "senior", CustomersGet, Some(&vip_elsewhere)),
            granted(1, "sales_rep", Scope::All)
        );
        assert_eq!(
            reason(&s, "senior", CustomersGet, Some(&key_elsewhere)),
            out_of_scope(2, "sales_rep", Scope::Own)
        );
        assert_eq!(
            reason(
                &s,
                "senior",
                CustomersGet,
                Some(&graded(customer(Some("senior"), None), Grade::Key))
            ),
            granted(2, "sales_rep", Scope::Own)
        );
        assert_eq!(
            s.list_scope(&name("senior"), CustomersList, now()),
            ListScope::Restricted {
                departments: vec![],
                owners: owners(&["senior"]),
                all_with_grades: Some(grades(&[Grade::Vip])),
            }
        );
        // A missing customer looks like one out of scope, not like a missing one.
        assert_eq!(
            reason(&s, "senior", CustomersGet, None),
            out_of_scope(2, "sales_rep", Scope::Own)
        );
        // ALL bindings that together cover every grade cover every customer.
        for c in every_customer() {
            assert!(reason(&s, "split", CustomersGet, Some(&c)).is_granted(), "{c:?}");
        }
        assert_eq!(reason(&s, "split", CustomersGet, None), Reason::CustomerNotFound);
        assert_eq!(
            s.list_scope(&name("split"), CustomersList, now()),
            ListScope::Everything
        );
        // Only the support binding holds customers.read_contact.
        let standard_elsewhere = graded(customer(Some("bob"), Some("west")), Grade::Standard);
        assert!(reason(&s, "split", CustomersReadContact, Some(&key_elsewhere)).is_granted());
        assert_eq!(
            reason(&s, "split", CustomersReadContact, Some(&standard_elsewhere)),
            grade_not_covered(3, "support", Scope::All, &[Grade::Vip, Grade::Key])
        );
        assert_eq!(
            reason(&s, "split", CustomersReadContact, None),
            grade_not_covered(3, "support", Scope::All, &[Grade::Vip, Grade::Key]),
            "a missing customer looks like one of a grade it does not cover"
        );
        assert_eq!(
            s.list_scope(&name("split"), CustomersReadContact, now()),
            ListScope::Restricted {
                departments: vec![],
                owners: vec![],
                all_with_grades: Some(grades(&[Grade::Vip, Grade::Key])),
            }
        );
    }

    #[test]
    fn global_permissions_ignore_grades() {
        let s = snapshot(
            vec![user("alice", None)],
            vec![limited(bind(1, "alice", "auditor", Scope::Own), &[Grade::Standard])],
        );
        let vip = graded(customer(Some("alice"), None), Grade::Vip);
        assert_eq!(
            reason(&s, "alice", AuditRead, Some(&vip)),
            granted(1, "auditor", Scope::Own)
        );
        assert_eq!(reason(&s, "alice", AuditRead, None), granted(1, "auditor", Scope::Own));
        assert_eq!(s.list_scope(&name("alice"), AuditRead, now()), ListScope::Everything);
        assert_eq!(
            s.check_global(&name("alice"), CustomersGet, now()).into_reason(),
            granted(1, "auditor", Scope::Own),
            "it holds customers.get for some customers"
        );
    }

    #[test]
    fn a_grade_limited_all_binding_does_not_hide_narrower_scopes_in_effective_permissions() {
        let s = snapshot(
            vec![user("alice", None)],
            vec![
                limited(bind(1, "alice", "analyst", Scope::All), &[Grade::Vip]),
                bind(2, "alice", "support", Scope::Own),
            ],
        );
        let effective = s.effective_permissions(&name("alice"), now());
        assert!(effective.contains(&(CustomersGet, Scope::All)));
        assert!(effective.contains(&(CustomersGet, Scope::Own)));
        assert!(effective.contains(&(PolicyRead, Scope::All)));
        assert!(!effective.contains(&(PolicyRead, Scope::Own)));
    }

    // --- Global permissions --------------------------------------------------------------------

    #[test]
    fn global_permissions_ignore_the_scope_and_the_customer() {
        let s = snapshot(vec![user("alice", None)], vec![bind(1, "alice", "auditor", Scope::Own)]);
        let bobs = customer(Some("bob"), Some("west"));
        assert_eq!(
            reason(&s, "alice", AuditRead, Some(&bobs)),
            granted(1, "auditor", Scope::Own)
        );
        assert_eq!(reason(&s, "alice", AuditRead, None), granted(1, "auditor", Scope::Own));
        assert_eq!(
            s.check_global(&name("alice"), PolicyRead, now()).into_reason(),
            granted(1, "auditor", Scope::Own)
        );
        assert_eq!(
            s.check_global(&name("alice"), PolicyWrite, now()).into_reason(),
            Reason::NoBindingWithPermission
        );
        assert_eq!(s.list_scope(&name("alice"), AuditRead, now()), ListScope::Everything);
        assert_eq!(s.list_scope(&name("alice"), PolicyWrite, now()), ListScope::Nothing);
    }

    #[test]
    fn check_global_reports_expired_bindings_and_answers_for_customer_scoped_permissions_too() {
        let s = snapshot(
            vec![user("alice", None)],
            vec![
                expiring(bind(1, "alice", "auditor", Scope::All), now()),
                bind(2, "alice", "sales_rep", Scope::Own),
            ],
        );
        assert_eq!(
            s.check_global(&name("alice"), AuditRead, now()).into_reason(),
            expired(1, "auditor")
        );
        assert_eq!(
            s.check_global(&name("alice"), CustomersGet, now()).into_reason(),
            granted(2, "sales_rep", Scope::Own),
            "the live binding is named even though an expired one comes first"
        );
    }

    // --- List scope ----------------------------------------------------------------------------

    #[test]
    fn list_scope_is_the_union_of_the_live_bindings_scopes() {
        let alice = || user("alice", Some("east"));
        let list = |bindings: Vec<RoleBinding>| {
            snapshot(vec![alice()], bindings).list_scope(&name("alice"), CustomersList, now())
        };
        let own_only = ListScope::Restricted {
            departments: vec![],
            owners: owners(&["alice"]),
            all_with_grades: None,
        };
        let department_only = ListScope::Restricted {
            departments: departments(&["east"]),
            owners: vec![],
            all_with_grades: None,
        };
        let both = ListScope::Restricted {
            departments: departments(&["east"]),
            owners: owners(&["alice"]),
            all_with_grades: None,
        };
        assert_eq!(list(vec![]), ListScope::Nothing);
        assert_eq!(
            list(vec![bind(1, "alice", "support", Scope::All)]),
            ListScope::Everything
        );
        assert_eq!(list(vec![bind(1, "alice", "support", Scope::Own)]), own_only);
        assert_eq!(
            list(vec![bind(1, "alice", "support", Scope::Department)]),
            department_only
        );
        assert_eq!(
            list(vec![
                bind(1, "alice", "support", Scope::Department),
                bind(2, "alice", "sales_rep", Scope::Own),
                bind(3, "alice", "analyst", Scope::Own),
                bind(4, "alice", "auditor", Scope::Department),
            ]),
            both
        );
        assert_eq!(
            list(vec![
                bind(1, "alice", "support", Scope::Own),
                bind(2, "alice", "analyst", Scope::All),
            ]),
            ListScope::Everything
        );
        assert_eq!(
            list(vec![
                expiring(bind(1, "alice", "admin", Scope::All), now()),
                bind(2, "alice", "sales_rep", Scope::Own),
            ]),
            own_only,
            "an expired ALL binding does not widen the scope"
        );
        assert_eq!(
            list(vec![bind(1, "alice", "no-such-role", Scope::All)]),
            ListScope::Nothing
        );
    }

    #[test]
    fn list_scope_covers_customers_by_department_owner_and_grade() {
        let junior = grades(&[Grade::Standard, Grade::Potential]);
        let scope = ListScope::Restricted {
            departments: vec![(dept("east"), grades(&[Grade::Key]))],
            owners: vec![(name("alice"), junior)],
            all_with_grades: Some(grades(&[Grade::Vip])),
        };
        let at = |owner, department, grade| graded(customer(owner, department), grade);
        assert!(scope.covers(&at(Some("bob"), Some("west"), Grade::Vip)));
        assert!(scope.covers(&at(None, None, Grade::Vip)));
        assert!(scope.covers(&at(Some("bob"), Some("east"), Grade::Key)));
        assert!(!scope.covers(&at(Some("bob"), Some("east"), Grade::Standard)));
        assert!(scope.covers(&at(Some("alice"), Some("west"), Grade::Standard)));
        assert!(
            scope.covers(&customer(Some("alice"), Some("west"))),
            "unclassified is POTENTIAL"
        );
        assert!(!scope.covers(&at(Some("alice"), Some("west"), Grade::Key)));
        assert!(scope.covers(&at(Some("alice"), Some("east"), Grade::Key)));
        assert!(!scope.covers(&customer(Some("bob"), Some("east"))));
    }

    #[test]
    fn list_scope_inclusion_compares_grades_clause_by_clause() {
        let restricted = |departments, owners, all_with_grades| ListScope::Restricted {
            departments,
            owners,
            all_with_grades,
        };
        let junior = grades(&[Grade::Standard, Grade::Potential]);
        let own_junior = restricted(vec![], vec![(name("alice"), junior)], None);
        let own_all = restricted(vec![], owners(&["alice"]), None);
        let own_standard = restricted(vec![], vec![(name("alice"), grades(&[Grade::Standard]))], None);
        let vip_everywhere = restricted(vec![], vec![], Some(grades(&[Grade::Vip])));
        let own_junior_and_vip = restricted(vec![], vec![(name("alice"), junior)], Some(grades(&[Grade::Vip])));
        assert!(own_all.includes(&own_junior));
        assert!(!own_junior.includes(&own_all));
        assert!(own_junior.includes(&own_standard));
        assert!(!own_standard.includes(&own_junior));
        assert!(!own_all.includes(&vip_everywhere), "owning is not every customer");
        assert!(own_junior_and_vip.includes(&vip_everywhere));
        assert!(own_junior_and_vip.includes(&own_junior));
        assert!(
            restricted(
                vec![],
                vec![(name("alice"), grades(&[Grade::Standard]))],
                Some(grades(&[Grade::Vip]))
            )
            .includes(&restricted(
                vec![],
                vec![(name("alice"), grades(&[Grade::Vip, Grade::Standard]))],
                None
            )),
            "the ALL clause adds its grades to every other clause"
        );
    }

    #[test]
    fn list_scope_covers_customers_by_department_or_owner() {
        let both = ListScope::Restricted {
            departments: departments(&["east"]),
            owners: owners(&["alice"]),
            all_with_grades: None,
        };
        assert!(both.covers(&graded(customer(Some("bob"), Some("east")), Grade::Vip)));
        assert!(both.covers(&customer(Some("bob"), Some("east"))));
        assert!(both.covers(&customer(Some("alice"), Some("west"))));
        assert!(both.covers(&customer(Some("alice"), None)));
        assert!(!both.covers(&customer(Some("bob"), Some("west"))));
        assert!(!both.covers(&customer(None, None)));
        assert!(ListScope::Everything.covers(&customer(None, None)));
        assert!(!ListScope::Nothing.covers(&customer(Some("alice"), Some("east"))));
    }

    // --- Effective permissions -----------------------------------------------------------------

    #[test]
    fn effective_permissions_list_each_permission_with_its_widest_scopes() {
        let s = snapshot(
            vec![user("alice", Some("east"))],
            vec![
                bind(1, "alice", "sales_rep", Scope::Own),
                bind(2, "alice", "support", Scope::Department),
                bind(3, "alice", "analyst", Scope::All),
                expiring(bind(4, "alice", "admin", Scope::All), now()),
            ],
        );
        assert_eq!(
            s.effective_permissions(&name("alice"), now()),
            [
                (CustomersGet, Scope::All),
                (CustomersList, Scope::All),
                (CustomersCreate, Scope::Own),
                (CustomersUpdate, Scope::Own),
                (CustomersReadContact, Scope::Department),
                (CustomersReadContact, Scope::Own),
                (ActivityRecord, Scope::Department),
                (ActivityRecord, Scope::Own),
                (PolicyRead, Scope::All),
            ]
        );
        let admin_then = s.effective_permissions(&name("alice"), now() - TimeDelta::seconds(1));
        assert_eq!(
            admin_then,
            Permission::ALL.map(|p| (p, Scope::All)),
            "before the admin binding expired"
        );
    }

    // --- Building the snapshot -----------------------------------------------------------------

    #[test]
    fn built_in_roles_are_always_present_and_cannot_be_replaced() {
        let impostor = Role {
            name: role("admin"),
            title: RoleTitle::parse("Not really").unwrap(),
            permissions: PermissionSet::empty(),
            built_in: false,
        };
        let custom = Role {
            name: role("order-guard"),
            title: RoleTitle::parse("Order system guard").unwrap(),
            permissions: PermissionSet::of(&[AccessCheck, CustomersGet]),
            built_in: true,
        };
        let s = AccessSnapshot::new(
            vec![user("alice", None), user("orders", None)],
            vec![impostor, custom],
            vec![
                bind(1, "alice", "admin", Scope::All),
                bind(2, "orders", "order-guard", Scope::All),
            ],
        );
        assert_eq!(s.role(&role("admin")), Some(&BuiltInRole::Admin.role()));
        assert!(
            !s.role(&role("order-guard")).unwrap().built_in,
            "a custom role is never built in"
        );
        assert_eq!(s.roles().len(), BuiltInRole::ALL.len() + 1);
        assert_eq!(reason(&s, "alice", PolicyWrite, None), granted(1, "admin", Scope::All));
        assert_eq!(
            reason(&s, "orders", AccessCheck, None),
            granted(2, "order-guard", Scope::All)
        );
        assert_eq!(
            reason(&s, "orders", CustomersUpdate, Some(&customer(None, None))),
            Reason::NoBindingWithPermission
        );
        assert_eq!(AccessSnapshot::default().roles().len(), BuiltInRole::ALL.len());
    }

    #[test]
    fn bindings_of_unknown_principals_are_dropped_and_duplicates_counted_once() {
        let s = snapshot(
            vec![user("alice", None), user("alice", Some("east"))],
            vec![
                bind(1, "alice", "admin", Scope::All),
                bind(1, "alice", "support", Scope::All),
                bind(2, "ghost", "admin", Scope::All),
            ],
        );
        assert_eq!(s.principal_count(), 1);
        assert_eq!(s.binding_count(), 1);
        assert_eq!(
            s.principal(&name("alice")).unwrap().department,
            Some(dept("east")),
            "the last principal of a name wins"
        );
        assert_eq!(reason(&s, "alice", AccessManage, None), granted(1, "admin", Scope::All));
        assert_eq!(s.bindings_of(&name("ghost")).count(), 0);
        assert_eq!(
            format!("{s:?}"),
            "AccessSnapshot { principals: 1, roles: 6, bindings: 1 }"
        );
    }

    #[test]
    fn a_snapshot_can_be_shared_between_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<AccessSnapshot>();
        assert_send_sync::<Decision>();
    }

    // --- Properties ----------------------------------------------------------------------------

    /// The departments the generated principals and customers pick from; the last belongs to no
    /// principal.
    const DEPARTMENTS: [&str; 3] = ["east", "west", "nowhere"];

    /// A generated world: three principals `user0`..`user2`, two custom roles, and bindings that may
    /// name an unknown principal (`user3`) or an unknown role.
    #[derive(Clone, Debug)]
    struct World {
        principals: Vec<Principal>,
        roles: Vec<Role>,
        bindings: Vec<RoleBinding>,
    }

    impl World {
        fn snapshot(&self) -> AccessSnapshot {
            AccessSnapshot::new(self.principals.clone(), self.roles.clone(), self.bindings.clone())
        }

        fn reversed(&self) -> AccessSnapshot {
            AccessSnapshot::new(
                self.principals.iter().rev().cloned(),
                self.roles.iter().rev().cloned(),
                self.bindings.iter().rev().cloned(),
            )
        }
    }

    fn principal_name(index: usize) -> PrincipalName {
        name(&format!("user{index}"))
    }

    fn world() -> impl Strategy<Value = World> {
        let principals = prop::collection::vec((prop::option::of(0..2usize), prop::bool::weighted(0.2)), 3);
        let roles = prop::collection::vec(0u32..0x8000, 2);
        let bindings = prop::collection::vec(
            (
                0..4usize,
                0..9usize,
                0..3usize,
                prop::option::of(-2i64..3),
                any::<u128>(),
                prop_oneof![Just(0u8), 0u8..16],
            ),
            0..8,
        );
        (principals, roles, bindings).prop_map(|(principals, roles, bindings)| {
            let principals = principals
                .into_iter()
                .enumerate()
                .map(|(i, (department, disabled))| Principal {
                    disabled,
                    ..user(&format!("user{i}"), department.map(|d| DEPARTMENTS[d]))
                })
                .collect();
            let roles = roles
                .into_iter()
                .enumerate()
                .map(|(i, bits)| Role {
                    name: role(&format!("custom{i}")),
                    title: RoleTitle::parse("Custom").unwrap(),
                    permissions: PermissionSet::from_bits(bits).unwrap(),
                    built_in: false,
                })
                .collect();
            let bindings = bindings
                .into_iter()
                .map(|(principal, role_index, scope, expiry, id, grade_bits)| RoleBinding {
                    id: bid(id),
                    principal: principal_name(principal),
                    role: match role_index {
                        0..6 => BuiltInRole::ALL[role_index].name(),
                        6..8 => role(&format!("custom{}", role_index - 6)),
                        _ => role("unknown"),
                    },
                    scope: Scope::ALL[scope],
                    grades: GradeSet::from_bits(grade_bits).unwrap(),
                    expire_time: expiry.map(|seconds| now() + TimeDelta::seconds(seconds)),
                })
                .collect();
            World {
                principals,
                roles,
                bindings,
            }
        })
    }

    fn grade() -> impl Strategy<Value = Option<Grade>> {
        prop::option::of((0..Grade::ALL.len()).prop_map(|i| Grade::ALL[i]))
    }

    fn facts() -> impl Strategy<Value = Option<CustomerFacts>> {
        prop::option::weighted(0.8, (prop::option::of(0..4usize), prop::option::of(0..3usize), grade())).prop_map(
            |facts| {
                facts.map(|(owner, department, grade)| CustomerFacts {
                    owner: owner.map(principal_name),
                    department: department.map(|d| dept(DEPARTMENTS[d])),
                    grade,
                })
            },
        )
    }

    /// Every combination of owner, department and grade the generated worlds can tell apart.
    fn every_customer() -> Vec<CustomerFacts> {
        let mut all = Vec::new();
        for owner in (0..4).map(Some).chain([None]) {
            for department in (0..3).map(Some).chain([None]) {
                for grade in Grade::ALL.map(Some).into_iter().chain([None]) {
                    all.push(CustomerFacts {
                        owner: owner.map(principal_name),
                        department: department.map(|d| dept(DEPARTMENTS[d])),
                        grade,
                    });
                }
            }
        }
        all
    }

    fn permission() -> impl Strategy<Value = Permission> {
        (0..Permission::ALL.len()).prop_map(|i| Permission::ALL[i])
    }

    proptest! {
        #[test]
        fn a_decision_is_deterministic_and_independent_of_input_order(
            world in world(),
            asker in 0..4usize,
            permission in permission(),
            customer in facts(),
        ) {
            let s = world.snapshot();
            let asker = principal_name(asker);
            let first = s.check(&asker, permission, customer.as_ref(), now());
            prop_assert_eq!(&s.check(&asker, permission, customer.as_ref(), now()), &first);
            prop_assert_eq!(&world.reversed().check(&asker, permission, customer.as_ref(), now()), &first);
            prop_assert_eq!(
                world.reversed().list_scope(&asker, permission, now()),
                s.list_scope(&asker, permission, now())
            );
            prop_assert_eq!(
                world.reversed().effective_permissions(&asker, now()),
                s.effective_permissions(&asker, now())
            );
        }

        #[test]
        fn adding_a_live_all_binding_with_the_permission_never_turns_allow_into_deny(
            world in world(),
            asker in 0..4usize,
            permission in permission(),
            customer in facts(),
            expiry in prop::option::of(1i64..100),
        ) {
            let asker = principal_name(asker);
            let before = world.snapshot().check(&asker, permission, customer.as_ref(), now());
            let mut wider = world.clone();
            wider.bindings.push(RoleBinding {
                id: BindingId::generate(),
                principal: asker.clone(),
                role: BuiltInRole::Admin.name(),
                scope: Scope::All,
                grades: GradeSet::empty(),
                expire_time: expiry.map(|seconds| now() + TimeDelta::seconds(seconds)),
            });
            let after = wider.snapshot().check(&asker, permission, customer.as_ref(), now());
            prop_assert!(!before.allowed() || after.allowed(), "{:?} became {:?}", before, after);
            let enabled = world.principals.iter().any(|p| p.name == asker && !p.disabled);
            if enabled && (customer.is_some() || !permission.is_customer_scoped()) {
                prop_assert!(after.allowed(), "{:?}", after);
            }
            if enabled && customer.is_none() && permission.is_customer_scoped() {
                prop_assert_eq!(after.reason(), &Reason::CustomerNotFound);
            }
        }

        #[test]
        fn adding_any_binding_never_turns_allow_into_deny(
            world in world(),
            extra in world(),
            asker in 0..4usize,
            permission in permission(),
            customer in facts(),
        ) {
            let asker = principal_name(asker);
            let before = world.snapshot().check(&asker, permission, customer.as_ref(), now());
            let mut wider = world.clone();
            wider.bindings.extend(extra.bindings);
            let after = wider.snapshot().check(&asker, permission, customer.as_ref(), now());
            prop_assert!(!before.allowed() || after.allowed(), "{:?} became {:?}", before, after);
        }

        #[test]
        fn list_scope_covers_exactly_the_customers_check_allows(
            world in world(),
            asker in 0..4usize,
            permission in permission(),
        ) {
            let s = world.snapshot();
            let asker = principal_name(asker);
            let scope = s.list_scope(&asker, permission, now());
            for customer in every_customer() {
                let allowed = s.check(&asker, permission, Some(&customer), now()).allowed();
                prop_assert_eq!(scope.covers(&customer), allowed, "{:?} {:?}", scope, customer);
            }
        }

        #[test]
        fn list_scopes_are_well_formed_and_includes_is_sound(
            world in world(),
            asker in 0..4usize,
            first in permission(),
            second in permission(),
        ) {
            let s = world.snapshot();
            let asker = principal_name(asker);
            let wide = s.list_scope(&asker, first, now());
            let narrow = s.list_scope(&asker, second, now());
            for scope in [&wide, &narrow] {
                prop_assert!(scope.includes(scope));
                if let ListScope::Restricted { departments, owners, all_with_grades } = scope {
                    prop_assert!(!departments.is_empty() || !owners.is_empty() || all_with_grades.is_some());
                    prop_assert!(departments.is_sorted_by(|a, b| a.0 < b.0));
                    prop_assert!(owners.is_sorted_by(|a, b| a.0 < b.0));
                    for grades in departments.iter().map(|d| d.1).chain(owners.iter().map(|o| o.1)) {
                        prop_assert_eq!(grades, grades.normalized());
                    }
                    prop_assert!(all_with_grades.is_none_or(|g| !g.is_empty() && g == g.normalized()));
                }
            }
            if wide.includes(&narrow) {
                for customer in every_customer() {
                    prop_assert!(!narrow.covers(&customer) || wide.covers(&customer), "{:?}", customer);
                }
            }
        }

        #[test]
        fn a_missing_customer_is_indistinguishable_from_one_out_of_scope_unless_scope_is_all(
            world in world(),
            asker in 0..4usize,
            permission in permission(),
        ) {
            let s = world.snapshot();
            let asker = principal_name(asker);
            let missing = s.check(&asker, permission, None, now());
            prop_assert!(!permission.is_customer_scoped() || !missing.allowed());
            let nobodys = |grade| CustomerFacts {
                owner: Some(name("nobody")),
                department: Some(dept("elsewhere")),
                grade,
            };
            let list_scope = s.list_scope(&asker, permission, now());
            if missing.reason() == &Reason::CustomerNotFound {
                prop_assert_eq!(list_scope, ListScope::Everything);
            } else {
                // The answer for some existing customer it may not see: out of its OWN and
                // DEPARTMENT scopes, and of a grade none of its ALL bindings covers.
                prop_assert!(!permission.is_customer_scoped() || list_scope != ListScope::Everything);
                let look_alike = Grade::ALL
                    .map(Some)
                    .into_iter()
                    .chain([None])
                    .map(|grade| s.check(&asker, permission, Some(&nobodys(grade)), now()))
                    .find(|decision| decision == &missing);
                prop_assert!(look_alike.is_some(), "{:?}", missing);
            }
        }

        #[test]
        fn effective_permissions_agree_with_check_global(
            world in world(),
            asker in 0..4usize,
        ) {
            let s = world.snapshot();
            let asker = principal_name(asker);
            let effective = s.effective_permissions(&asker, now());
            for permission in Permission::ALL {
                let held = effective.iter().any(|(p, _)| *p == permission);
                let global = s.check_global(&asker, permission, now());
                if permission.is_customer_scoped() {
                    // A DEPARTMENT binding without a department is held but listed nowhere.
                    prop_assert!(!held || global.allowed());
                } else {
                    prop_assert_eq!(held, global.allowed());
                }
            }
        }
    }
}
