//! [`AccessAdmin`]: the access-management use cases (principals, roles, role bindings, API keys
//! and the audit log) over any [`AccessRepository`], with "now" from the injected [`Clock`].
//! Transport-independent: the gRPC server parses a request into domain values, calls one of
//! these, audits, and maps the result or the [`AccessError`] back.
//!
//! Every use case takes the request's [`Authorizer`] and decides itself who may do it, so no
//! transport can forget a rule:
//! - permission is decided before existence (AIP-211): a caller without permission learns nothing
//!   about whether the resource exists;
//! - changing principals, roles and bindings needs `access.manage`; reading the audit log needs
//!   `audit.read`; roles may be read by anyone authenticated;
//! - self-service: without `access.manage` a principal may read itself, list its own bindings,
//!   read one of its own bindings, and create, list and revoke its own keys;
//! - a principal may not disable or delete itself ([`AccessError::SelfLockout`]), so the last
//!   administrator cannot lock everyone out by mistake;
//! - built-in roles are defined in code: they cannot be created, changed or deleted.
//!
//! Reads of principals, roles and bindings come from the authorizer's snapshot; existence checks
//! before a write fall back to the repository (the thing may have been created on another
//! replica a moment ago); keys and audit events come from the repository.

use std::{error::Error, fmt, sync::Arc};

use chrono::{DateTime, Utc};

use super::{
    AccessSnapshot, AccessStoreError, ApiKeyId, ApiKeyRecord, AuditEvent, AuditQuery, Authorizer, BindingId,
    BuiltInRole, Denial, Permission, Principal, PrincipalChange, Role, RoleBinding, RoleChange, RoleName, api_key_name,
    api_keys_of, binding_name,
};
use crate::{clock::Clock, customer::values::PrincipalName, ports::AccessRepository};

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;

/// The collection name principal lists are authorized on.
pub const PRINCIPALS: &str = "principals";
/// The collection name binding lists and creates are authorized on.
pub const BINDINGS: &str = "roleBindings";
/// The collection name audit reads are authorized on.
pub const AUDIT_EVENTS: &str = "auditEvents";

/// How often [`AccessAdmin::create_api_key`] draws a new key when the random prefix is already
/// taken.
const KEY_ATTEMPTS: usize = 3;

/// What a principal tried to do to itself that would lock it out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockoutAction {
    /// Disable itself.
    Disable,
    /// Delete itself.
    Delete,
}

impl LockoutAction {
    /// The verb, as in "cannot disable itself".
    pub const fn verb(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Delete => "delete",
        }
    }
}

impl fmt::Display for LockoutAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.verb())
    }
}

/// What was attempted on a built-in role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BuiltInEdit {
    /// Changing its title or permissions.
    Change,
    /// Deleting it.
    Delete,
}

impl BuiltInEdit {
    /// The participle, as in "cannot be changed".
    pub const fn participle(self) -> &'static str {
        match self {
            Self::Change => "changed",
            Self::Delete => "deleted",
        }
    }
}

impl fmt::Display for BuiltInEdit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.participle())
    }
}

/// Why an access use case failed: the cases a caller can act on, plus unavailable storage and an
/// opaque [`AccessError::Unexpected`].
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// The caller lacks the permission (decided before existence).
    #[error("{0}")]
    PermissionDenied(Denial),
    /// No principal has this name.
    #[error("{0} does not exist")]
    PrincipalNotFound(PrincipalName),
    /// A principal with this name exists already.
    #[error("{0} already exists")]
    PrincipalAlreadyExists(PrincipalName),
    /// No role, built-in or custom, has this name.
    #[error("{0} does not exist")]
    RoleNotFound(RoleName),
    /// A role with this name exists already (every built-in name does).
    #[error("{0} already exists")]
    RoleAlreadyExists(RoleName),
    /// No role binding has this id.
    #[error("roleBindings/{0} does not exist")]
    RoleBindingNotFound(BindingId),
    /// The principal has no key with this id.
    #[error("{0}/apiKeys/{1} does not exist")]
    ApiKeyNotFound(PrincipalName, ApiKeyId),
    /// The caller tried to disable or delete itself.
    #[error("{principal} cannot {action} itself")]
    SelfLockout {
        /// The caller, which is also the subject.
        principal: PrincipalName,
        /// What it tried.
        action: LockoutAction,
    },
    /// The role is built in and cannot be changed or deleted.
    #[error("{role} is built in and cannot be {edit}")]
    RoleBuiltIn {
        /// The built-in role.
        role: RoleName,
        /// What was attempted.
        edit: BuiltInEdit,
    },
    /// The store cannot be used right now: nothing was done, a retry later may succeed.
    #[error("store unavailable: {0}")]
    Unavailable(Box<dyn Error + Send + Sync>),
    /// Anything else; logged, never shown to a caller.
    #[error("unexpected: {0}")]
    Unexpected(Box<dyn Error + Send + Sync>),
}

impl From<AccessStoreError> for AccessError {
    /// A store error that only a failure of the store can cause: unavailable stays unavailable,
    /// anything else is unexpected.
    fn from(error: AccessStoreError) -> Self {
        match error {
            AccessStoreError::Unavailable(cause) => Self::Unavailable(cause),
            AccessStoreError::Unexpected(cause) => Self::Unexpected(cause),
            other @ (AccessStoreError::NotFound(_) | AccessStoreError::AlreadyExists(_)) => {
                Self::Unexpected(Box::new(other))
            }
        }
    }
}

impl From<Denial> for AccessError {
    fn from(denial: Denial) -> Self {
        Self::PermissionDenied(denial)
    }
}

/// A store error of a write of principal `name`: not found and already exists are about it.
fn principal_error(name: &PrincipalName, error: AccessStoreError) -> AccessError {
    match error {
        AccessStoreError::NotFound(_) => AccessError::PrincipalNotFound(name.clone()),
        AccessStoreError::AlreadyExists(_) => AccessError::PrincipalAlreadyExists(name.clone()),
        other => other.into(),
    }
}

/// A store error of a write of role `name`: not found and already exists are about it.
fn role_error(name: &RoleName, error: AccessStoreError) -> AccessError {
    match error {
        AccessStoreError::NotFound(_) => AccessError::RoleNotFound(name.clone()),
        AccessStoreError::AlreadyExists(_) => AccessError::RoleAlreadyExists(name.clone()),
        other => other.into(),
    }
}

/// The access-management use cases.
#[derive(Debug, Clone)]
pub struct AccessAdmin<R> {
    repository: R,
    clock: Arc<dyn Clock>,
}

impl<R: AccessRepository> AccessAdmin<R> {
    /// Use cases storing through `repository`, telling time by `clock`.
    pub fn new(repository: R, clock: Arc<dyn Clock>) -> Self {
        Self { repository, clock }
    }

    /// The repository, for callers that need direct access (tests, tooling).
    pub fn repository(&self) -> &R {
        &self.repository
    }

    /// Now, by the injected clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The authorizer of one request of `principal` against `snapshot`, now.
    pub fn authorizer<'a>(&self, snapshot: &'a AccessSnapshot, principal: &'a PrincipalName) -> Authorizer<'a> {
        Authorizer::new(snapshot, principal, self.now())
    }

    /// Requires `access.manage` on `resource`.
    fn require_manage(auth: &Authorizer<'_>, resource: &str) -> Result<(), AccessError> {
        Ok(auth.require_global(Permission::AccessManage, resource)?)
    }

    /// Requires `access.manage` on `resource` unless `subject` is the caller itself.
    fn require_self_or_manage(
        auth: &Authorizer<'_>,
        subject: &PrincipalName,
        resource: &str,
    ) -> Result<(), AccessError> {
        if subject == auth.principal() {
            Ok(())
        } else {
            Self::require_manage(auth, resource)
        }
    }

    /// May the caller ask access questions (CheckPermission) about `subject`? Always about
    /// itself; about another principal only with `access.check`.
    ///
    /// # Errors
    /// The [`Denial`] of `access.check` on `subject`.
    pub fn may_ask_about(&self, auth: &Authorizer<'_>, subject: &PrincipalName) -> Result<(), Denial> {
        if subject == auth.principal() {
            Ok(())
        } else {
            auth.require_global(Permission::AccessCheck, subject.as_str())
        }
    }

    /// Whether the principal exists: the snapshot says so, or (created on another replica a
    /// moment ago) the store does.
    async fn principal_exists(&self, auth: &Authorizer<'_>, name: &PrincipalName) -> Result<bool, AccessError> {
        if auth.snapshot().principal(name).is_some() {
            return Ok(true);
        }
        Ok(self.repository.get_principal(name).await?.is_some())
    }

    /// The custom role named `name` as stored now, if there is one.
    async fn stored_role(&self, name: &RoleName) -> Result<Option<Role>, AccessError> {
        let roles = self.repository.list_roles().await?;
        Ok(roles.into_iter().find(|role| role.name == *name))
    }

    /// Whether the role exists, built-in or custom: the snapshot says so, or (created on another
    /// replica a moment ago) the store does.
    async fn role_exists(&self, auth: &Authorizer<'_>, name: &RoleName) -> Result<bool, AccessError> {
        if auth.snapshot().role(name).is_some() {
            return Ok(true);
        }
        Ok(self.stored_role(name).await?.is_some())
    }

    // -----------------------------------------------------------------------------------------
    // Principals
    // -----------------------------------------------------------------------------------------

    /// Creates a principal (`access.manage` on its name).
    ///
    /// # Errors
    /// [`AccessError::PermissionDenied`]; [`AccessError::PrincipalAlreadyExists`].
    pub async fn create_principal(
        &self,
        auth: &Authorizer<'_>,
        principal: Principal,
    ) -> Result<Principal, AccessError> {
        Self::require_manage(auth, principal.name.as_str())?;
        self.repository
            .insert_principal(&principal)
            .await
            .map_err(|error| principal_error(&principal.name, error))?;
        Ok(principal)
    }

    /// The principal named `name`: the caller itself, or any with `access.manage`.
    ///
    /// # Errors
    /// [`AccessError::PermissionDenied`]; [`AccessError::PrincipalNotFound`].
    pub fn get_principal<'a>(&self, auth: &Authorizer<'a>, name: &PrincipalName) -> Result<&'a Principal, AccessError> {
        Self::require_self_or_manage(auth, name, name.as_str())?;
        auth.snapshot()
            .principal(name)
            .ok_or_else(|| AccessError::PrincipalNotFound(name.clone()))
    }

    /// Every principal named after `after` (all without it), unordered (`access.manage`).
    ///
    /// # Errors
    /// [`AccessError::PermissionDenied`].
    pub fn list_principals<'a>(
        &self,
        auth: &Authorizer<'a>,
        after: Option<&str>,
    ) -> Result<Vec<&'a Principal>, AccessError> {
        Self::require_manage(auth, PRINCIPALS)?;
        Ok(auth
            .snapshot()
            .principals()
            .filter(|p| after.is_none_or(|after| p.name.as_str() > after))
            .collect())
    }

    /// Applies `changes` to the principal named `name` and stores it (`access.manage`). A caller
    /// may not disable itself.
    ///
    /// # Errors
    /// [`AccessError::PermissionDenied`]; [`AccessError::SelfLockout`];
    /// [`AccessError::PrincipalNotFound`].
    pub async fn update_principal(
        &self,
        auth: &Authorizer<'_>,
        name: &PrincipalName,
        changes: &[PrincipalChange],
    ) -> Result<Principal, AccessError> {
        Self::require_manage(auth, name.as_str())?;
        if name == auth.principal() && changes.contains(&PrincipalChange::Disabled(true)) {
            return Err(AccessError::SelfLockout {
                principal: name.clone(),
                action: LockoutAction::Disable,
            });
        }
        let mut principal = self
            .repository
            .get_principal(name)
            .await?
            .ok_or_else(|| AccessError::PrincipalNotFound(name.clone()))?;
        for change in changes {
            change.apply(&mut principal);
        }
        self.repository
            .update_principal(&principal)
            .await
            .map_err(|error| principal_error(name, error))?;
        Ok(principal)
    }

    /// Deletes the principal named `name` with its bindings and keys (`access.manage`). A caller
    /// may not delete itself.
    ///
    /// # Errors
    /// [`AccessError::PermissionDenied`]; [`AccessError::SelfLockout`];
    /// [`AccessError::PrincipalNotFound`].
    pub async fn delete_principal(&self, auth: &Authorizer<'_>, name: &PrincipalName) -> Result<(), AccessError> {
        Self::require_manage(auth, name.as_str())?;
        if name == auth.principal() {
            return Err(AccessError::SelfLockout {
                principal: name.clone(),
                action: LockoutAction::Delete,
            });
        }
        self.repository
            .delete_principal(name)
            .await
            .map_err(|error| principal_error(name, error))
    }

    // -----------------------------------------------------------------------------------------
    // Roles
    // -----------------------------------------------------------------------------------------

    /// Creates a custom role (`access.manage` on its name); a built-in name exists already.
    ///
    /// # Errors
    /// [`AccessError::PermissionDenied`]; [`AccessError::RoleAlreadyExists`].
    pub async fn create_role(&self, auth: &Authorizer<'_>, role: Role) -> Result<Role, AccessError> {
        Self::require_manage(auth, role.name.as_str())?;
        if BuiltInRole::from_name(&role.name).is_some() {
            return Err(AccessError::RoleAlreadyExists(role.name));
        }
        self.repository
            .insert_role(&role)
            .await
            .map_err(|error| role_error(&role.name, error))?;
        Ok(role)
    }

    /// The role named `name`, built-in or custom (authentication only).
    ///
    /// # Errors
    /// [`AccessError::RoleNotFound`].
    pub fn get_role<'a>(&self, auth: &Authorizer<'a>, name: &RoleName) -> Result<&'a Role, AccessError> {
        auth.snapshot()
            .role(name)
            .ok_or_else(|| AccessError::RoleNotFound(name.clone()))
    }

    /// Every role named after `after` (all without it), unordered (authentication only).
    pub fn list_roles<'a>(&self, auth: &Authorizer<'a>, after: Option<&str>) -> Vec<&'a Role> {
        auth.snapshot()
            .roles()
            .into_iter()
            .filter(|r| after.is_none_or(|after| r.name.as_str() > after))
            .collect()
    }

    /// Applies `changes` to the custom role named `name` and stores it (`access.manage`).
    ///
    /// # Errors
    /// [`AccessError::PermissionDenied`]; [`AccessError::RoleBuiltIn`];
    /// [`AccessError::RoleNotFound`].
    pub async fn update_role(
        &self,
        auth: &Authorizer<'_>,
        name: &RoleName,
        changes: &[RoleChange],
    ) -> Result<Role, AccessError> {
        Self::require_manage(auth, name.as_str())?;
        if BuiltInRole::from_name(name).is_some() {
            return Err(AccessError::RoleBuiltIn {
                role: name.clone(),
                edit: BuiltInEdit::Change,
            });
        }
        let mut role = self
            .stored_role(name)
            .await?
            .ok_or_else(|| AccessError::RoleNotFound(name.clone()))?;
        for change in changes {
            change.apply(&mut role);
        }
        self.repository
            .update_role(&role)
            .await
            .map_err(|error| role_error(name, error))?;
        Ok(role)
    }

    /// Deletes the custom role named `name` (`access.manage`); its bindings stay.
    ///
    /// # Errors
    /// [`AccessError::PermissionDenied`]; [`AccessError::RoleBuiltIn`];
    /// [`AccessError::RoleNotFound`].
    pub async fn delete_role(&self, auth: &Authorizer<'_>, name: &RoleName) -> Result<(), AccessError> {
        Self::require_manage(auth, name.as_str())?;
        if BuiltInRole::from_name(name).is_some() {
            return Err(AccessError::RoleBuiltIn {
                role: name.clone(),
                edit: BuiltInEdit::Delete,
            });
        }
        self.repository
            .delete_role(name)
            .await
            .map_err(|error| role_error(name, error))
    }

    // -----------------------------------------------------------------------------------------
    // Role bindings
    // -----------------------------------------------------------------------------------------

    /// Stores a new binding (`access.manage` on the bindings); its principal and its role must
    /// exist.
    ///
    /// # Errors
    /// [`AccessError::PermissionDenied`]; [`AccessError::PrincipalNotFound`];
    /// [`AccessError::RoleNotFound`].
    pub async fn create_binding(&self, auth: &Authorizer<'_>, binding: &RoleBinding) -> Result<(), AccessError> {
        Self::require_manage(auth, BINDINGS)?;
        if !self.principal_exists(auth, &binding.principal).await? {
            return Err(AccessError::PrincipalNotFound(binding.principal.clone()));
        }
        if !self.role_exists(auth, &binding.role).await? {
            return Err(AccessError::RoleNotFound(binding.role.clone()));
        }
        self.repository
            .insert_binding(binding)
            .await
            .map_err(|error| match error {
                AccessStoreError::NotFound(_) => AccessError::PrincipalNotFound(binding.principal.clone()),
                other => other.into(),
            })
    }

    /// The binding with this id: one of the caller's own, or any with `access.manage`.
    ///
    /// # Errors
    /// [`AccessError::PermissionDenied`]; [`AccessError::RoleBindingNotFound`].
    pub fn get_binding(&self, auth: &Authorizer<'_>, id: BindingId) -> Result<RoleBinding, AccessError> {
        let found = auth.snapshot().bindings().find(|binding| binding.id == id);
        let own = found
            .as_ref()
            .is_some_and(|binding| binding.principal == *auth.principal());
        if !own {
            Self::require_manage(auth, &binding_name(id))?;
        }
        found.ok_or(AccessError::RoleBindingNotFound(id))
    }

    /// The bindings after `after` (all without it), unordered: of `principal` (the caller's own,
    /// or any with `access.manage`), or of everyone (`access.manage`).
    ///
    /// # Errors
    /// [`AccessError::PermissionDenied`].
    pub fn list_bindings(
        &self,
        auth: &Authorizer<'_>,
        principal: Option<&PrincipalName>,
        after: Option<BindingId>,
    ) -> Result<Vec<RoleBinding>, AccessError> {
        match principal {
            Some(principal) => Self::require_self_or_manage(auth, principal, BINDINGS)?,
            None => Self::require_manage(auth, BINDINGS)?,
        }
        let after_id = |binding: &RoleBinding| after.is_none_or(|after| binding.id > after);
        Ok(match principal {
            Some(principal) => auth.snapshot().bindings_of(principal).filter(after_id).collect(),
            None => auth.snapshot().bindings().filter(after_id).collect(),
        })
    }

    /// Deletes the binding with this id (`access.manage` on it).
    ///
    /// # Errors
    /// [`AccessError::PermissionDenied`]; [`AccessError::RoleBindingNotFound`].
    pub async fn delete_binding(&self, auth: &Authorizer<'_>, id: BindingId) -> Result<(), AccessError> {
        Self::require_manage(auth, &binding_name(id))?;
        self.repository.delete_binding(id).await.map_err(|error| match error {
            AccessStoreError::NotFound(_) => AccessError::RoleBindingNotFound(id),
            other => other.into(),
        })
    }

    // -----------------------------------------------------------------------------------------
    // API keys
    // -----------------------------------------------------------------------------------------

    /// Creates a key for `parent` (the caller's own, or any with `access.manage`), created now
    /// and expiring at `expire`. `generate` makes a key from the principal, now and the expiry:
    /// the record to store and whatever else the caller needs back (the secret, which the
    /// domain never sees). A random prefix that is taken is drawn again, a few times.
    ///
    /// # Errors
    /// [`AccessError::PermissionDenied`]; [`AccessError::PrincipalNotFound`].
    pub async fn create_api_key<K: AsRef<ApiKeyRecord> + Send>(
        &self,
        auth: &Authorizer<'_>,
        parent: &PrincipalName,
        expire: Option<DateTime<Utc>>,
        mut generate: impl FnMut(PrincipalName, DateTime<Utc>, Option<DateTime<Utc>>) -> K + Send,
    ) -> Result<K, AccessError> {
        Self::require_self_or_manage(auth, parent, &api_keys_of(parent))?;
        if !self.principal_exists(auth, parent).await? {
            return Err(AccessError::PrincipalNotFound(parent.clone()));
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            let key = generate(parent.clone(), auth.now(), expire);
            match self.repository.insert_api_key(key.as_ref()).await {
                Ok(()) => return Ok(key),
                Err(AccessStoreError::AlreadyExists(_)) if attempt < KEY_ATTEMPTS => {}
                Err(AccessStoreError::NotFound(_)) => return Err(AccessError::PrincipalNotFound(parent.clone())),
                Err(other) => return Err(other.into()),
            }
        }
    }

    /// The keys of `parent` after `after` (all without it), by id (the caller's own, or any
    /// with `access.manage`).
    ///
    /// # Errors
    /// [`AccessError::PermissionDenied`]; [`AccessError::PrincipalNotFound`].
    pub async fn list_api_keys(
        &self,
        auth: &Authorizer<'_>,
        parent: &PrincipalName,
        after: Option<ApiKeyId>,
    ) -> Result<Vec<ApiKeyRecord>, AccessError> {
        Self::require_self_or_manage(auth, parent, &api_keys_of(parent))?;
        if !self.principal_exists(auth, parent).await? {
            return Err(AccessError::PrincipalNotFound(parent.clone()));
        }
        let keys = self.repository.list_api_keys(parent).await?;
        Ok(keys
            .into_iter()
            .filter(|key| after.is_none_or(|after| key.id > after))
            .collect())
    }

    /// Revokes key `id` of `principal` now (the caller's own, or any with `access.manage`);
    /// revoking a revoked key keeps its first revoke time.
    ///
    /// # Errors
    /// [`AccessError::PermissionDenied`]; [`AccessError::ApiKeyNotFound`], also when the key
    /// belongs to another principal.
    pub async fn revoke_api_key(
        &self,
        auth: &Authorizer<'_>,
        principal: &PrincipalName,
        id: ApiKeyId,
    ) -> Result<ApiKeyRecord, AccessError> {
        Self::require_self_or_manage(auth, principal, &api_key_name(principal, id))?;
        // The id alone names a key; it must also belong to the principal the name says.
        let keys = self.repository.list_api_keys(principal).await?;
        if !keys.iter().any(|key| key.id == id) {
            return Err(AccessError::ApiKeyNotFound(principal.clone(), id));
        }
        self.repository
            .revoke_api_key(id, auth.now())
            .await
            .map_err(|error| match error {
                AccessStoreError::NotFound(_) => AccessError::ApiKeyNotFound(principal.clone(), id),
                other => other.into(),
            })
    }

    // -----------------------------------------------------------------------------------------
    // Audit log
    // -----------------------------------------------------------------------------------------

    /// The audit events `query` selects, newest first (`audit.read`). `written` is awaited after
    /// the permission check and before the read: the caller's way to have events still on their
    /// way to the log (its own earlier requests') written first.
    ///
    /// # Errors
    /// [`AccessError::PermissionDenied`].
    pub async fn list_audit_events(
        &self,
        auth: &Authorizer<'_>,
        query: &AuditQuery,
        written: impl Future<Output = ()> + Send,
    ) -> Result<Vec<AuditEvent>, AccessError> {
        auth.require_global(Permission::AuditRead, AUDIT_EVENTS)?;
        written.await;
        Ok(self.repository.list_audit_events(query).await?)
    }
}
