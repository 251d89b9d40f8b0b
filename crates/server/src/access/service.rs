//! `crm.v1.AccessService`: principals, roles, role bindings and API keys; `WhoAmI`; access
//! decisions (`CheckPermission`, `BatchCheckPermissions`); and the audit log.
//!
//! Each handler takes the authenticated caller and the current access view, parses the request
//! into domain values (reporting every invalid field at once, see [`crate::access::convert`]),
//! asks the domain's [`Authorizer`] whether the caller may do it (a denial is PERMISSION_DENIED
//! and is audited), and only then looks at what exists (AIP-211). No access rule lives here: the
//! permission each RPC needs is the contract's, and every decision is the domain's.
//!
//! - Reads of principals, roles and bindings come from the in-memory snapshot; keys and audit
//!   events from the repository. Lists are ordered by name and paged in memory with signed page
//!   tokens bound to the list and its filters (see [`crate::page_token`]).
//! - Every change (allowed, denied or failed) is audited; after a change succeeds the access
//!   state is reloaded here and the other replicas are notified before the answer, so the caller
//!   reads its own writes. No key secret is ever audited or logged.
//! - Self-service: without `access.manage` a principal may read itself, list its own bindings,
//!   read one of its own bindings, and create, list and revoke its own keys.

use std::{
    cmp::Ordering,
    collections::{HashMap, HashSet},
    sync::Arc,
};

use crm_api::crm::v1::{
    self as pb, ErrorReason, access_service_server::AccessService as AccessApi, check_permission_result,
};
use crm_domain::{
    access::{
        AccessStoreError, AuditEvent, AuditOutcome, AuditQuery, Authorizer, BindingId, BuiltInRole, CustomerFacts,
        Decision, Denial, Permission, Principal, Role, RoleBinding, RoleName,
    },
    caller::Caller,
    customer::{
        now, resource_name,
        values::{CustomerId, PrincipalName},
    },
    error::Violations,
    listing::PageSize,
    ports::{AccessRepository as _, CustomerRepository as _},
    text::TextRule,
};
use crm_persistence::SqlCustomerRepository;
use tonic::{Code, Request, Response, Status};
use tonic_types::StatusExt as _;

use crate::{
    access::api_key,
    access::convert::{
        PrincipalChange, RoleChange, api_key_name, api_key_to_proto, api_keys_of, audit_cursor_text,
        audit_event_to_proto, binding_name, binding_to_proto, ceil_micros, decision_to_proto, expire_time,
        limits_to_proto, new_binding, new_principal, new_role, parse_api_key_name, parse_audit_cursor,
        parse_binding_name, principal_changes, principal_name, principal_to_proto, role_changes, role_name,
        role_to_proto, scope_to_proto, time_from_proto,
    },
    access::state::{AccessState, AccessView},
    audit::AuditLog,
    customers::convert::customer_name,
    page_token::{List, PageQuery, PageTokens},
    status::{denied, internal, invalid_argument, store_failure, store_status, to_status, with_info},
    transport::caller::{caller_of, unauthenticated},
    transport::consistency::read_at,
    transport::principal_limits::EffectiveLimits,
};

/// The most items one BatchCheckPermissions may ask about.
pub(crate) const MAX_BATCH_CHECK: usize = 1000;

/// How often CreateApiKey draws a new key when the random prefix is already taken.
const KEY_ATTEMPTS: usize = 3;

/// The collection names lists and creates are authorized and audited on.
const PRINCIPALS: &str = "principals";
/// See [`PRINCIPALS`].
const BINDINGS: &str = "roleBindings";
/// See [`PRINCIPALS`].
const AUDIT_EVENTS: &str = "auditEvents";

/// The gRPC face of access control.
#[derive(Debug, Clone)]
pub(crate) struct AccessGrpc {
    /// Principals, roles, bindings and keys in memory, and the repository they come from.
    access: Arc<AccessState>,
    /// Customers, for the owner and department an access decision needs.
    customers: SqlCustomerRepository,
    /// The audit writer.
    audit: AuditLog,
    /// Signs and checks the lists' page tokens.
    page_tokens: PageTokens,
}

impl AccessGrpc {
    /// The service over this access state, customer store and audit log, signing page tokens
    /// with `page_tokens`.
    pub(crate) fn new(
        access: Arc<AccessState>,
        customers: SqlCustomerRepository,
        audit: AuditLog,
        page_tokens: PageTokens,
    ) -> Self {
        Self {
            access,
            customers,
            audit,
            page_tokens,
        }
    }

    /// Requires the global `permission` on `resource`; a denial is audited as `action` and
    /// answered PERMISSION_DENIED.
    async fn require(
        &self,
        caller: &Caller,
        auth: &Authorizer<'_>,
        permission: Permission,
        action: &str,
        resource: &str,
    ) -> Result<(), Status> {
        match auth.require_global(permission, resource) {
            Ok(()) => Ok(()),
            Err(denial) => {
                self.audit.denied(caller, action, &denial).await;
                Err(denied(&denial))
            }
        }
    }

    /// Requires `access.manage` on `resource` unless `subject` is the caller itself.
    async fn require_self_or_manage(
        &self,
        caller: &Caller,
        auth: &Authorizer<'_>,
        subject: &PrincipalName,
        action: &str,
        resource: &str,
    ) -> Result<(), Status> {
        if *subject == caller.principal {
            Ok(())
        } else {
            self.require(caller, auth, Permission::AccessManage, action, resource)
                .await
        }
    }

    /// Audits the outcome of a change of `resource` (ALLOWED with `detail`, or FAILED with the
    /// error) and, when it succeeded, brings the access state up to date before the answer.
    async fn finish<T>(
        &self,
        caller: &Caller,
        action: &str,
        resource: &str,
        detail: String,
        result: Result<T, Status>,
    ) -> Result<T, Status> {
        match &result {
            Ok(_) => {
                self.refresh().await;
                self.audit
                    .note(caller, action, resource, AuditOutcome::Allowed, detail)
                    .await;
            }
            Err(status) => {
                self.audit
                    .note(caller, action, resource, AuditOutcome::Failed, failure_detail(status))
                    .await;
            }
        }
        result
    }

    /// Reloads the access state after a change and tells the other replicas. The change is
    /// stored either way; if this fails, the periodic refresh picks it up.
    async fn refresh(&self) {
        if let Err(error) = self.access.changed().await {
            tracing::error!(
                %error,
                "a change is stored but the access state could not be reloaded or other replicas notified; \
                 the periodic refresh will pick it up"
            );
        }
    }

    /// Whether the principal exists: the snapshot says so, or (created on another replica a
    /// moment ago) the database does.
    async fn principal_exists(&self, view: &AccessView, name: &PrincipalName) -> Result<bool, Status> {
        if view.snapshot.principal(name).is_some() {
            return Ok(true);
        }
        self.access
            .repository()
            .get_principal(name)
            .await
            .map(|found| found.is_some())
            .map_err(unexpected)
    }

    /// The custom role named `name` as stored now, if there is one.
    async fn stored_role(&self, name: &RoleName) -> Result<Option<Role>, Status> {
        let roles = self.access.repository().list_roles().await.map_err(unexpected)?;
        Ok(roles.into_iter().find(|role| role.name == *name))
    }

    /// Whether the role exists, built-in or custom: the snapshot says so, or (created on another
    /// replica a moment ago) the database does.
    async fn role_exists(&self, view: &AccessView, name: &RoleName) -> Result<bool, Status> {
        if view.snapshot.role(name).is_some() {
            return Ok(true);
        }
        Ok(self.stored_role(name).await?.is_some())
    }

    /// Audits a denied decision (an allowed one is not audited).
    async fn audit_decision(&self, caller: &Caller, action: &str, question: &Question, decision: &Decision) {
        if decision.allowed() {
            return;
        }
        let (resource, detail) = question.audit_text(decision);
        self.audit
            .note(caller, action, resource, AuditOutcome::Denied, detail)
            .await;
    }
}

/// Fails with every violation if there is any, else returns `value`.
fn valid<T>(violations: &Violations, value: Option<T>) -> Result<T, Status> {
    if !violations.is_empty() {
        return Err(invalid_argument(violations));
    }
    value.ok_or_else(|| internal(&"a request value was missing although no violation was recorded"))
}

/// What a FAILED audit event says about `status`: its reason (or code) and message.
fn failure_detail(status: &Status) -> String {
    match status.get_details_error_info() {
        Some(info) => format!("{}: {}", info.reason, status.message()),
        None => format!("{:?}: {}", status.code(), status.message()),
    }
}

/// NOT_FOUND with `reason`, naming `name` under `key` in the metadata.
fn not_found(reason: ErrorReason, key: &str, name: &str) -> Status {
    with_info(Code::NotFound, reason, &[(key, name)], format!("{name} does not exist"))
}

/// FAILED_PRECONDITION SELF_LOCKOUT for a caller about to disable or delete itself.
fn self_lockout(principal: &PrincipalName, what: &str) -> Status {
    with_info(
        Code::FailedPrecondition,
        ErrorReason::SelfLockout,
        &[("principal", principal.as_str())],
        format!(
            "{principal} cannot {what} itself: it would lock itself out; another principal holding access.manage \
             must do it"
        ),
    )
}

/// FAILED_PRECONDITION ROLE_BUILT_IN for a change of a built-in role.
fn built_in(name: &RoleName, what: &str) -> Status {
    with_info(
        Code::FailedPrecondition,
        ErrorReason::RoleBuiltIn,
        &[("role", name.as_str())],
        format!("{name} is built in and cannot be {what}; create a custom role instead"),
    )
}

/// ALREADY_EXISTS ROLE_ALREADY_EXISTS.
fn role_exists_already(name: &RoleName) -> Status {
    with_info(
        Code::AlreadyExists,
        ErrorReason::RoleAlreadyExists,
        &[("role", name.as_str())],
        format!("{name} already exists"),
    )
}

/// PERMISSION_DENIED ACCESS_CHECK_REQUIRED for a question about another principal.
fn access_check_required(denial: &Denial) -> Status {
    with_info(
        Code::PermissionDenied,
        ErrorReason::AccessCheckRequired,
        &[("permission", denial.permission.name())],
        access_check_message(denial),
    )
}

/// The message of [`access_check_required`].
fn access_check_message(denial: &Denial) -> String {
    format!(
        "asking about another principal ({}) needs {}: {}",
        denial.resource,
        denial.permission,
        denial.reason.explain()
    )
}

/// The status of a store error that only a failure of the store can cause here.
fn unexpected(error: AccessStoreError) -> Status {
    store_failure(&error)
}

/// The page size of a list request and the cursor its page token holds for `query` (read with
/// `cursor`), recording violations at `page_size` and `page_token`.
fn page_request<C>(
    v: &mut Violations,
    tokens: &PageTokens,
    (page_size, page_token): (i32, &str),
    query: &PageQuery,
    cursor: impl FnOnce(&str) -> Option<C>,
) -> (Option<u32>, Option<C>) {
    let size = v
        .check("page_size", PageSize::from_request(page_size))
        .map(PageSize::get);
    (size, tokens.after(v, query, page_token, cursor))
}

/// The first `size` of `items` in `order`, sorted, and whether more follow.
fn first_page<T>(mut items: Vec<T>, size: u32, order: impl Fn(&T, &T) -> Ordering) -> (Vec<T>, bool) {
    let size = usize::try_from(size).unwrap_or(usize::MAX);
    let more = items.len() > size;
    if more {
        items.select_nth_unstable_by(size, &order);
        items.truncate(size);
    }
    items.sort_unstable_by(&order);
    (items, more)
}

/// The next page token of `query`: of the last item's cursor when more follow, else empty.
fn next_token<T>(
    tokens: &PageTokens,
    query: &PageQuery,
    items: &[T],
    more: bool,
    cursor: impl Fn(&T) -> String,
) -> String {
    tokens.next(query, items.last().filter(|_| more).map(cursor))
}

/// One access question (of CheckPermission or one BatchCheckPermissions item), parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Question {
    /// Who is asked about (the caller when the request left it empty).
    principal: PrincipalName,
    /// The permission.
    permission: Permission,
    /// The customer, for a customer-scoped permission; `None` for a global one.
    customer: Option<CustomerId>,
}

impl Question {
    /// Parses the fields of a question; the violations name `principal`, `permission` and
    /// `customer`. A customer is required for a customer-scoped permission and ignored for a
    /// global one.
    fn parse(caller: &Caller, principal: &str, permission: &str, customer: &str) -> Result<Self, Violations> {
        let mut v = Violations::new();
        let principal = if principal.is_empty() {
            Some(caller.principal.clone())
        } else {
            v.check("principal", PrincipalName::parse(principal))
        };
        let permission = if permission.is_empty() {
            v.add("permission", "is required: a permission name such as customers.get");
            None
        } else {
            v.check("permission", Permission::parse(permission))
        };
        let customer = match permission {
            Some(p) if p.is_customer_scoped() => customer_name(&mut v, "customer", customer).map(Some),
            _ => Some(None),
        };
        match (principal, permission, customer) {
            (Some(principal), Some(permission), Some(customer)) if v.is_empty() => Ok(Self {
                principal,
                permission,
                customer,
            }),
            _ => Err(v),
        }
    }

    /// The resource and detail of the audit event of a denied `decision`: the customer (or the
    /// permission, for a global one), and `{principal} {permission}: {CODE}`.
    fn audit_text(&self, decision: &Decision) -> (String, String) {
        let resource = self
            .customer
            .as_ref()
            .map_or_else(|| self.permission.name().to_owned(), resource_name);
        let detail = format!("{} {}: {}", self.principal, self.permission, decision.reason().code());
        (resource, detail)
    }
}

/// One BatchCheckPermissions item after parsing and the `access.check` check.
enum Prepared {
    /// A question to decide.
    Ask(Question),
    /// The error CheckPermission would have returned.
    Fail(pb::CheckPermissionError),
}

#[tonic::async_trait]
impl AccessApi for AccessGrpc {
    /// CreatePrincipal: `access.manage`.
    async fn create_principal(
        &self,
        request: Request<pb::CreatePrincipalRequest>,
    ) -> Result<Response<pb::Principal>, Status> {
        let caller = caller_of(&request)?;
        let view = self.access.view();
        let auth = Authorizer::new(&view.snapshot, &caller.principal, now());
        let req = request.into_inner();
        let mut v = Violations::new();
        let principal = new_principal(&mut v, &req.principal_id, req.principal.as_ref());
        let principal = valid(&v, principal)?;
        let resource = principal.name.as_str().to_owned();
        self.require(&caller, &auth, Permission::AccessManage, "CreatePrincipal", &resource)
            .await?;
        let result = self
            .access
            .repository()
            .insert_principal(&principal)
            .await
            .map_err(|e| {
                store_status(
                    e,
                    "principal",
                    ErrorReason::PrincipalNotFound,
                    ErrorReason::PrincipalAlreadyExists,
                )
            });
        self.finish(&caller, "CreatePrincipal", &resource, String::new(), result)
            .await?;
        Ok(Response::new(principal_to_proto(&principal)))
    }

    /// GetPrincipal: none for the caller itself, `access.manage` for any other.
    async fn get_principal(
        &self,
        request: Request<pb::GetPrincipalRequest>,
    ) -> Result<Response<pb::Principal>, Status> {
        let caller = caller_of(&request)?;
        let view = self.access.view();
        let auth = Authorizer::new(&view.snapshot, &caller.principal, now());
        let mut v = Violations::new();
        let name = principal_name(&mut v, "name", &request.get_ref().name);
        let name = valid(&v, name)?;
        self.require_self_or_manage(&caller, &auth, &name, "GetPrincipal", name.as_str())
            .await?;
        let principal = view
            .snapshot
            .principal(&name)
            .ok_or_else(|| not_found(ErrorReason::PrincipalNotFound, "principal", name.as_str()))?;
        Ok(Response::new(principal_to_proto(principal)))
    }

    /// ListPrincipals: `access.manage`.
    async fn list_principals(
        &self,
        request: Request<pb::ListPrincipalsRequest>,
    ) -> Result<Response<pb::ListPrincipalsResponse>, Status> {
        let caller = caller_of(&request)?;
        let view = self.access.view();
        let auth = Authorizer::new(&view.snapshot, &caller.principal, now());
        let req = request.into_inner();
        let mut v = Violations::new();
        let paged = PageQuery::new(List::Principals);
        let asked = (req.page_size, req.page_token.as_str());
        let (size, after) = page_request(&mut v, &self.page_tokens, asked, &paged, |cursor| {
            Some(cursor.to_owned())
        });
        let size = valid(&v, size)?;
        self.require(&caller, &auth, Permission::AccessManage, "ListPrincipals", PRINCIPALS)
            .await?;
        let candidates: Vec<&Principal> = view
            .snapshot
            .principals()
            .filter(|p| after.as_deref().is_none_or(|after| p.name.as_str() > after))
            .collect();
        let (page, more) = first_page(candidates, size, |a, b| a.name.cmp(&b.name));
        let next_page_token = next_token(&self.page_tokens, &paged, &page, more, |p| p.name.as_str().to_owned());
        Ok(Response::new(pb::ListPrincipalsResponse {
            principals: page.into_iter().map(principal_to_proto).collect(),
            next_page_token,
        }))
    }

    /// UpdatePrincipal: `access.manage`; a caller may not disable itself.
    async fn update_principal(
        &self,
        request: Request<pb::UpdatePrincipalRequest>,
    ) -> Result<Response<pb::Principal>, Status> {
        let caller = caller_of(&request)?;
        let view = self.access.view();
        let auth = Authorizer::new(&view.snapshot, &caller.principal, now());
        let req = request.into_inner();
        let mut v = Violations::new();
        let Some(raw) = req.principal else {
            v.add(
                "principal",
                "is required: the principal with its name and the new values",
            );
            return Err(invalid_argument(&v));
        };
        let name = principal_name(&mut v, "principal.name", &raw.name);
        let changes = principal_changes(&mut v, &raw, req.update_mask.as_ref());
        let name = valid(&v, name)?;
        self.require(
            &caller,
            &auth,
            Permission::AccessManage,
            "UpdatePrincipal",
            name.as_str(),
        )
        .await?;
        let result = async {
            if name == caller.principal && changes.contains(&PrincipalChange::Disabled(true)) {
                return Err(self_lockout(&name, "disable"));
            }
            let repository = self.access.repository();
            let mut principal = repository
                .get_principal(&name)
                .await
                .map_err(unexpected)?
                .ok_or_else(|| not_found(ErrorReason::PrincipalNotFound, "principal", name.as_str()))?;
            for change in &changes {
                change.apply(&mut principal);
            }
            repository.update_principal(&principal).await.map_err(|e| {
                store_status(
                    e,
                    "principal",
                    ErrorReason::PrincipalNotFound,
                    ErrorReason::PrincipalAlreadyExists,
                )
            })?;
            Ok(principal)
        }
        .await;
        let detail = format!("changed: {}", change_names(&changes));
        let updated = self
            .finish(&caller, "UpdatePrincipal", name.as_str(), detail, result)
            .await?;
        Ok(Response::new(principal_to_proto(&updated)))
    }

    /// DeletePrincipal: `access.manage`; a caller may not delete itself. Its bindings and keys go
    /// with it.
    async fn delete_principal(&self, request: Request<pb::DeletePrincipalRequest>) -> Result<Response<()>, Status> {
        let caller = caller_of(&request)?;
        let view = self.access.view();
        let auth = Authorizer::new(&view.snapshot, &caller.principal, now());
        let mut v = Violations::new();
        let name = principal_name(&mut v, "name", &request.get_ref().name);
        let name = valid(&v, name)?;
        self.require(
            &caller,
            &auth,
            Permission::AccessManage,
            "DeletePrincipal",
            name.as_str(),
        )
        .await?;
        let result = if name == caller.principal {
            Err(self_lockout(&name, "delete"))
        } else {
            self.access.repository().delete_principal(&name).await.map_err(|e| {
                store_status(
                    e,
                    "principal",
                    ErrorReason::PrincipalNotFound,
                    ErrorReason::PrincipalAlreadyExists,
                )
            })
        };
        self.finish(&caller, "DeletePrincipal", name.as_str(), String::new(), result)
            .await?;
        Ok(Response::new(()))
    }

    /// CreateRole: `access.manage`; a built-in id already exists.
    async fn create_role(&self, request: Request<pb::CreateRoleRequest>) -> Result<Response<pb::Role>, Status> {
        let caller = caller_of(&request)?;
        let view = self.access.view();
        let auth = Authorizer::new(&view.snapshot, &caller.principal, now());
        let req = request.into_inner();
        let mut v = Violations::new();
        let role = new_role(&mut v, &req.role_id, req.role.as_ref());
        let role = valid(&v, role)?;
        let resource = role.name.as_str().to_owned();
        self.require(&caller, &auth, Permission::AccessManage, "CreateRole", &resource)
            .await?;
        let result = if BuiltInRole::from_name(&role.name).is_some() {
            Err(role_exists_already(&role.name))
        } else {
            self.access
                .repository()
                .insert_role(&role)
                .await
                .map_err(|e| store_status(e, "role", ErrorReason::RoleNotFound, ErrorReason::RoleAlreadyExists))
        };
        self.finish(&caller, "CreateRole", &resource, String::new(), result)
            .await?;
        Ok(Response::new(role_to_proto(&role)))
    }

    /// GetRole: authentication only.
    async fn get_role(&self, request: Request<pb::GetRoleRequest>) -> Result<Response<pb::Role>, Status> {
        let _caller = caller_of(&request)?;
        let view = self.access.view();
        let mut v = Violations::new();
        let name = role_name(&mut v, "name", &request.get_ref().name);
        let name = valid(&v, name)?;
        let role = view
            .snapshot
            .role(&name)
            .ok_or_else(|| not_found(ErrorReason::RoleNotFound, "role", name.as_str()))?;
        Ok(Response::new(role_to_proto(role)))
    }

    /// ListRoles: authentication only.
    async fn list_roles(
        &self,
        request: Request<pb::ListRolesRequest>,
    ) -> Result<Response<pb::ListRolesResponse>, Status> {
        let _caller = caller_of(&request)?;
        let view = self.access.view();
        let req = request.into_inner();
        let mut v = Violations::new();
        let paged = PageQuery::new(List::Roles);
        let asked = (req.page_size, req.page_token.as_str());
        let (size, after) = page_request(&mut v, &self.page_tokens, asked, &paged, |cursor| {
            Some(cursor.to_owned())
        });
        let size = valid(&v, size)?;
        let candidates: Vec<&Role> = view
            .snapshot
            .roles()
            .into_iter()
            .filter(|r| after.as_deref().is_none_or(|after| r.name.as_str() > after))
            .collect();
        let (page, more) = first_page(candidates, size, |a, b| a.name.cmp(&b.name));
        let next_page_token = next_token(&self.page_tokens, &paged, &page, more, |r| r.name.as_str().to_owned());
        Ok(Response::new(pb::ListRolesResponse {
            roles: page.into_iter().map(role_to_proto).collect(),
            next_page_token,
        }))
    }

    /// UpdateRole: `access.manage`; built-in roles cannot be changed.
    async fn update_role(&self, request: Request<pb::UpdateRoleRequest>) -> Result<Response<pb::Role>, Status> {
        let caller = caller_of(&request)?;
        let view = self.access.view();
        let auth = Authorizer::new(&view.snapshot, &caller.principal, now());
        let req = request.into_inner();
        let mut v = Violations::new();
        let Some(raw) = req.role else {
            v.add("role", "is required: the role with its name and the new values");
            return Err(invalid_argument(&v));
        };
        let name = role_name(&mut v, "role.name", &raw.name);
        let changes = role_changes(&mut v, &raw, req.update_mask.as_ref());
        let name = valid(&v, name)?;
        self.require(&caller, &auth, Permission::AccessManage, "UpdateRole", name.as_str())
            .await?;
        let result = async {
            if BuiltInRole::from_name(&name).is_some() {
                return Err(built_in(&name, "changed"));
            }
            let mut role = self
                .stored_role(&name)
                .await?
                .ok_or_else(|| not_found(ErrorReason::RoleNotFound, "role", name.as_str()))?;
            for change in &changes {
                change.apply(&mut role);
            }
            self.access
                .repository()
                .update_role(&role)
                .await
                .map_err(|e| store_status(e, "role", ErrorReason::RoleNotFound, ErrorReason::RoleAlreadyExists))?;
            Ok(role)
        }
        .await;
        let detail = format!("changed: {}", role_change_names(&changes));
        let updated = self
            .finish(&caller, "UpdateRole", name.as_str(), detail, result)
            .await?;
        Ok(Response::new(role_to_proto(&updated)))
    }

    /// DeleteRole: `access.manage`; built-in roles cannot be deleted. Its bindings stay.
    async fn delete_role(&self, request: Request<pb::DeleteRoleRequest>) -> Result<Response<()>, Status> {
        let caller = caller_of(&request)?;
        let view = self.access.view();
        let auth = Authorizer::new(&view.snapshot, &caller.principal, now());
        let mut v = Violations::new();
        let name = role_name(&mut v, "name", &request.get_ref().name);
        let name = valid(&v, name)?;
        self.require(&caller, &auth, Permission::AccessManage, "DeleteRole", name.as_str())
            .await?;
        let result = if BuiltInRole::from_name(&name).is_some() {
            Err(built_in(&name, "deleted"))
        } else {
            self.access
                .repository()
                .delete_role(&name)
                .await
                .map_err(|e| store_status(e, "role", ErrorReason::RoleNotFound, ErrorReason::RoleAlreadyExists))
        };
        self.finish(&caller, "DeleteRole", name.as_str(), String::new(), result)
            .await?;
        Ok(Response::new(()))
    }

    /// CreateRoleBinding: `access.manage`; the principal and the role must exist.
    async fn create_role_binding(
        &self,
        request: Request<pb::CreateRoleBindingRequest>,
    ) -> Result<Response<pb::RoleBinding>, Status> {
        let caller = caller_of(&request)?;
        let view = self.access.view();
        let now = now();
        let auth = Authorizer::new(&view.snapshot, &caller.principal, now);
        let req = request.into_inner();
        let mut v = Violations::new();
        let binding = new_binding(&mut v, req.role_binding.as_ref(), BindingId::generate(), now);
        let binding = valid(&v, binding)?;
        self.require(&caller, &auth, Permission::AccessManage, "CreateRoleBinding", BINDINGS)
            .await?;
        let result = async {
            if !self.principal_exists(&view, &binding.principal).await? {
                return Err(not_found(
                    ErrorReason::PrincipalNotFound,
                    "principal",
                    binding.principal.as_str(),
                ));
            }
            if !self.role_exists(&view, &binding.role).await? {
                return Err(not_found(ErrorReason::RoleNotFound, "role", binding.role.as_str()));
            }
            self.access
                .repository()
                .insert_binding(&binding)
                .await
                .map_err(|error| match error {
                    AccessStoreError::NotFound(_) => {
                        not_found(ErrorReason::PrincipalNotFound, "principal", binding.principal.as_str())
                    }
                    other => unexpected(other),
                })
        }
        .await;
        let resource = if result.is_ok() {
            binding_name(binding.id)
        } else {
            binding.principal.as_str().to_owned()
        };
        let detail = format!("{} {} {}", binding.principal, binding.role, binding.scope);
        self.finish(&caller, "CreateRoleBinding", &resource, detail, result)
            .await?;
        Ok(Response::new(binding_to_proto(&binding)))
    }

    /// GetRoleBinding: `access.manage`, or none for one of the caller's own bindings.
    async fn get_role_binding(
        &self,
        request: Request<pb::GetRoleBindingRequest>,
    ) -> Result<Response<pb::RoleBinding>, Status> {
        let caller = caller_of(&request)?;
        let view = self.access.view();
        let auth = Authorizer::new(&view.snapshot, &caller.principal, now());
        let mut v = Violations::new();
        let raw = &request.get_ref().name;
        let id = if raw.is_empty() {
            v.add(
                "name",
                "is required: a role binding resource name `roleBindings/{uuid}`",
            );
            None
        } else {
            v.check("name", parse_binding_name(raw))
        };
        let id = valid(&v, id)?;
        let name = binding_name(id);
        let found: Option<RoleBinding> = view.snapshot.bindings().find(|binding| binding.id == id);
        let own = found
            .as_ref()
            .is_some_and(|binding| binding.principal == caller.principal);
        if !own {
            self.require(&caller, &auth, Permission::AccessManage, "GetRoleBinding", &name)
                .await?;
        }
        let binding = found.ok_or_else(|| not_found(ErrorReason::RoleBindingNotFound, "role_binding", &name))?;
        Ok(Response::new(binding_to_proto(&binding)))
    }

    /// ListRoleBindings: none when `principal` is the caller itself, `access.manage` otherwise.
    async fn list_role_bindings(
        &self,
        request: Request<pb::ListRoleBindingsRequest>,
    ) -> Result<Response<pb::ListRoleBindingsResponse>, Status> {
        let caller = caller_of(&request)?;
        let view = self.access.view();
        let auth = Authorizer::new(&view.snapshot, &caller.principal, now());
        let req = request.into_inner();
        let mut v = Violations::new();
        let principal = v.check_optional("principal", &req.principal, PrincipalName::parse);
        let paged = PageQuery::new(List::RoleBindings).param("principal", req.principal.as_str());
        let asked = (req.page_size, req.page_token.as_str());
        let (size, after) = page_request(&mut v, &self.page_tokens, asked, &paged, |cursor| {
            parse_binding_name(cursor).ok()
        });
        let size = valid(&v, size)?;
        match &principal {
            Some(principal) => {
                self.require_self_or_manage(&caller, &auth, principal, "ListRoleBindings", BINDINGS)
                    .await?;
            }
            None => {
                self.require(&caller, &auth, Permission::AccessManage, "ListRoleBindings", BINDINGS)
                    .await?;
            }
        }
        let after_id = |binding: &RoleBinding| after.is_none_or(|after| binding.id > after);
        let candidates: Vec<RoleBinding> = match &principal {
            Some(principal) => view.snapshot.bindings_of(principal).filter(after_id).collect(),
            None => view.snapshot.bindings().filter(after_id).collect(),
        };
        let (page, more) = first_page(candidates, size, |a, b| a.id.cmp(&b.id));
        let next_page_token = next_token(&self.page_tokens, &paged, &page, more, |b| binding_name(b.id));
        Ok(Response::new(pb::ListRoleBindingsResponse {
            role_bindings: page.iter().map(binding_to_proto).collect(),
            next_page_token,
        }))
    }

    /// DeleteRoleBinding: `access.manage`.
    async fn delete_role_binding(
        &self,
        request: Request<pb::DeleteRoleBindingRequest>,
    ) -> Result<Response<()>, Status> {
        let caller = caller_of(&request)?;
        let view = self.access.view();
        let auth = Authorizer::new(&view.snapshot, &caller.principal, now());
        let mut v = Violations::new();
        let raw = &request.get_ref().name;
        let id = if raw.is_empty() {
            v.add(
                "name",
                "is required: a role binding resource name `roleBindings/{uuid}`",
            );
            None
        } else {
            v.check("name", parse_binding_name(raw))
        };
        let id = valid(&v, id)?;
        let name = binding_name(id);
        self.require(&caller, &auth, Permission::AccessManage, "DeleteRoleBinding", &name)
            .await?;
        let result = self
            .access
            .repository()
            .delete_binding(id)
            .await
            .map_err(|error| match error {
                AccessStoreError::NotFound(_) => not_found(ErrorReason::RoleBindingNotFound, "role_binding", &name),
                other => unexpected(other),
            });
        self.finish(&caller, "DeleteRoleBinding", &name, String::new(), result)
            .await?;
        Ok(Response::new(()))
    }

    /// CreateApiKey: none for the caller's own keys, `access.manage` for another principal's.
    /// The secret is in the response only: never stored, logged or audited.
    async fn create_api_key(
        &self,
        request: Request<pb::CreateApiKeyRequest>,
    ) -> Result<Response<pb::CreateApiKeyResponse>, Status> {
        let caller = caller_of(&request)?;
        let view = self.access.view();
        let now = now();
        let auth = Authorizer::new(&view.snapshot, &caller.principal, now);
        let req = request.into_inner();
        let mut v = Violations::new();
        let parent = principal_name(&mut v, "parent", &req.parent);
        let expire = expire_time(&mut v, "expire_time", req.expire_time.as_ref(), now);
        let parent = valid(&v, parent)?;
        let collection = api_keys_of(&parent);
        self.require_self_or_manage(&caller, &auth, &parent, "CreateApiKey", &collection)
            .await?;
        let result = async {
            if !self.principal_exists(&view, &parent).await? {
                return Err(not_found(ErrorReason::PrincipalNotFound, "principal", parent.as_str()));
            }
            let mut attempt = 0;
            loop {
                attempt += 1;
                let key = api_key::generate(parent.clone(), now, expire);
                match self.access.repository().insert_api_key(&key.record).await {
                    Ok(()) => return Ok(key),
                    Err(AccessStoreError::AlreadyExists(_)) if attempt < KEY_ATTEMPTS => {}
                    Err(AccessStoreError::NotFound(_)) => {
                        return Err(not_found(ErrorReason::PrincipalNotFound, "principal", parent.as_str()));
                    }
                    Err(other) => return Err(unexpected(other)),
                }
            }
        }
        .await;
        let (resource, detail) = match &result {
            Ok(key) => (
                api_key_name(&parent, key.record.id),
                format!("prefix {}", key.record.prefix),
            ),
            Err(_) => (collection, String::new()),
        };
        let key = self.finish(&caller, "CreateApiKey", &resource, detail, result).await?;
        Ok(Response::new(pb::CreateApiKeyResponse {
            api_key: Some(api_key_to_proto(&key.record)),
            secret: key.text,
        }))
    }

    /// ListApiKeys: none for the caller's own keys, `access.manage` for another principal's.
    async fn list_api_keys(
        &self,
        request: Request<pb::ListApiKeysRequest>,
    ) -> Result<Response<pb::ListApiKeysResponse>, Status> {
        let caller = caller_of(&request)?;
        let view = self.access.view();
        let auth = Authorizer::new(&view.snapshot, &caller.principal, now());
        let req = request.into_inner();
        let mut v = Violations::new();
        let parent = principal_name(&mut v, "parent", &req.parent);
        let paged = PageQuery::new(List::ApiKeys).param("parent", req.parent.as_str());
        let asked = (req.page_size, req.page_token.as_str());
        let (size, after) = page_request(&mut v, &self.page_tokens, asked, &paged, |cursor| {
            parse_api_key_name(cursor).ok().map(|(_, id)| id)
        });
        let parent = valid(&v, parent)?;
        let size = valid(&v, size)?;
        let collection = api_keys_of(&parent);
        self.require_self_or_manage(&caller, &auth, &parent, "ListApiKeys", &collection)
            .await?;
        if !self.principal_exists(&view, &parent).await? {
            return Err(not_found(ErrorReason::PrincipalNotFound, "principal", parent.as_str()));
        }
        let keys = self
            .access
            .repository()
            .list_api_keys(&parent)
            .await
            .map_err(unexpected)?;
        let candidates: Vec<_> = keys
            .into_iter()
            .filter(|key| after.is_none_or(|after| key.id > after))
            .collect();
        let (page, more) = first_page(candidates, size, |a, b| a.id.cmp(&b.id));
        let next_page_token = next_token(&self.page_tokens, &paged, &page, more, |k| {
            api_key_name(&k.principal, k.id)
        });
        Ok(Response::new(pb::ListApiKeysResponse {
            api_keys: page.iter().map(api_key_to_proto).collect(),
            next_page_token,
        }))
    }

    /// RevokeApiKey: none for the caller's own keys, `access.manage` for another principal's.
    /// Revoking a revoked key keeps its first revoke time.
    async fn revoke_api_key(&self, request: Request<pb::RevokeApiKeyRequest>) -> Result<Response<pb::ApiKey>, Status> {
        let caller = caller_of(&request)?;
        let view = self.access.view();
        let now = now();
        let auth = Authorizer::new(&view.snapshot, &caller.principal, now);
        let mut v = Violations::new();
        let raw = &request.get_ref().name;
        let parsed = if raw.is_empty() {
            v.add(
                "name",
                "is required: an API key resource name `principals/{id}/apiKeys/{uuid}`",
            );
            None
        } else {
            v.check("name", parse_api_key_name(raw))
        };
        let (principal, id) = valid(&v, parsed)?;
        let name = api_key_name(&principal, id);
        self.require_self_or_manage(&caller, &auth, &principal, "RevokeApiKey", &name)
            .await?;
        let result = async {
            let repository = self.access.repository();
            // The id alone names a key; it must also belong to the principal the name says.
            let keys = repository.list_api_keys(&principal).await.map_err(unexpected)?;
            if !keys.iter().any(|key| key.id == id) {
                return Err(not_found(ErrorReason::ApiKeyNotFound, "api_key", &name));
            }
            repository.revoke_api_key(id, now).await.map_err(|error| match error {
                AccessStoreError::NotFound(_) => not_found(ErrorReason::ApiKeyNotFound, "api_key", &name),
                other => unexpected(other),
            })
        }
        .await;
        let revoked = self
            .finish(&caller, "RevokeApiKey", &name, String::new(), result)
            .await?;
        Ok(Response::new(api_key_to_proto(&revoked)))
    }

    /// WhoAmI: authentication only.
    async fn who_am_i(&self, request: Request<pb::WhoAmIRequest>) -> Result<Response<pb::WhoAmIResponse>, Status> {
        let caller = caller_of(&request)?;
        let view = self.access.view();
        // Deleted between authentication and now: as if the key no longer worked.
        let principal = view.snapshot.principal(&caller.principal).ok_or_else(unauthenticated)?;
        let permissions = view
            .snapshot
            .effective_permissions(&caller.principal, now())
            .into_iter()
            .map(|(permission, scope)| pb::EffectivePermission {
                permission: permission.name().to_owned(),
                scope: scope_to_proto(scope) as i32,
            })
            .collect();
        // The limits the authentication layer applied to this very call.
        let limits = request.extensions().get::<EffectiveLimits>().map(limits_to_proto);
        Ok(Response::new(pb::WhoAmIResponse {
            principal: Some(principal_to_proto(principal)),
            api_key: api_key_name(&caller.principal, caller.key_id),
            permissions,
            limits,
        }))
    }

    /// CheckPermission: none about oneself, `access.check` about another principal. A denied
    /// decision is audited.
    async fn check_permission(
        &self,
        request: Request<pb::CheckPermissionRequest>,
    ) -> Result<Response<pb::CheckPermissionResponse>, Status> {
        let caller = caller_of(&request)?;
        let view = self.access.view();
        let now = now();
        let auth = Authorizer::new(&view.snapshot, &caller.principal, now);
        let req = request.get_ref();
        let question = Question::parse(&caller, &req.principal, &req.permission, &req.customer)
            .map_err(|v| invalid_argument(&v))?;
        if question.principal != caller.principal
            && let Err(denial) = auth.require_global(Permission::AccessCheck, question.principal.as_str())
        {
            self.audit.denied(&caller, "CheckPermission", &denial).await;
            return Err(access_check_required(&denial));
        }
        let facts = match &question.customer {
            Some(id) => self
                .customers
                .reading(read_at(&request)?)
                .find_facts(id)
                .await
                .map_err(to_status)?,
            None => None,
        };
        let decision = view
            .snapshot
            .check(&question.principal, question.permission, facts.as_ref(), now);
        self.audit_decision(&caller, "CheckPermission", &question, &decision)
            .await;
        Ok(Response::new(decision_to_proto(&decision)))
    }

    /// BatchCheckPermissions: 1 to 1000 items, each as CheckPermission; an invalid or forbidden
    /// item gets an error of its own. Customers are read in one query.
    async fn batch_check_permissions(
        &self,
        request: Request<pb::BatchCheckPermissionsRequest>,
    ) -> Result<Response<pb::BatchCheckPermissionsResponse>, Status> {
        const ACTION: &str = "BatchCheckPermissions";
        let caller = caller_of(&request)?;
        let view = self.access.view();
        let now = now();
        let auth = Authorizer::new(&view.snapshot, &caller.principal, now);
        let items = &request.get_ref().items;
        if items.is_empty() || items.len() > MAX_BATCH_CHECK {
            let mut v = Violations::new();
            v.add(
                "items",
                format!("must hold 1 to {MAX_BATCH_CHECK} questions, got {}", items.len()),
            );
            return Err(invalid_argument(&v));
        }

        let mut denied_subjects = HashSet::new();
        let mut prepared = Vec::with_capacity(items.len());
        for item in items {
            let question = match Question::parse(&caller, &item.principal, &item.permission, &item.customer) {
                Ok(question) => question,
                Err(v) => {
                    let field = v.as_slice().first().map(|f| f.field.clone()).unwrap_or_default();
                    prepared.push(Prepared::Fail(pb::CheckPermissionError {
                        code: Code::InvalidArgument as i32,
                        message: format!("invalid item: {v}"),
                        field,
                    }));
                    continue;
                }
            };
            if question.principal != caller.principal
                && let Err(denial) = auth.require_global(Permission::AccessCheck, question.principal.as_str())
            {
                if denied_subjects.insert(question.principal.clone()) {
                    self.audit.denied(&caller, ACTION, &denial).await;
                }
                prepared.push(Prepared::Fail(pb::CheckPermissionError {
                    code: Code::PermissionDenied as i32,
                    message: access_check_message(&denial),
                    field: String::new(),
                }));
                continue;
            }
            prepared.push(Prepared::Ask(question));
        }

        let ids: Vec<CustomerId> = prepared
            .iter()
            .filter_map(|p| match p {
                Prepared::Ask(question) => question.customer.clone(),
                Prepared::Fail(_) => None,
            })
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let facts: HashMap<CustomerId, CustomerFacts> = if ids.is_empty() {
            HashMap::new()
        } else {
            self.customers
                .reading(read_at(&request)?)
                .find_facts_many(&ids)
                .await
                .map_err(to_status)?
                .into_iter()
                .collect()
        };

        let mut audited = HashSet::new();
        let mut results = Vec::with_capacity(items.len());
        for (item, prepared) in items.iter().zip(prepared) {
            let result = match prepared {
                Prepared::Fail(error) => check_permission_result::Result::Error(error),
                Prepared::Ask(question) => {
                    let customer = question.customer.as_ref().and_then(|id| facts.get(id));
                    let decision = view
                        .snapshot
                        .check(&question.principal, question.permission, customer, now);
                    if !decision.allowed() {
                        let (resource, detail) = question.audit_text(&decision);
                        if audited.insert((resource.clone(), detail.clone())) {
                            self.audit
                                .note(&caller, ACTION, resource, AuditOutcome::Denied, detail)
                                .await;
                        }
                    }
                    check_permission_result::Result::Decision(decision_to_proto(&decision))
                }
            };
            results.push(pb::CheckPermissionResult {
                correlation_id: item.correlation_id.clone(),
                result: Some(result),
            });
        }
        Ok(Response::new(pb::BatchCheckPermissionsResponse { results }))
    }

    /// ListAuditEvents: `audit.read`. Newest first; events of the caller's own earlier requests
    /// are always included.
    async fn list_audit_events(
        &self,
        request: Request<pb::ListAuditEventsRequest>,
    ) -> Result<Response<pb::ListAuditEventsResponse>, Status> {
        let caller = caller_of(&request)?;
        let view = self.access.view();
        let auth = Authorizer::new(&view.snapshot, &caller.principal, now());
        let req = request.into_inner();
        let mut v = Violations::new();
        let actor = v.check_optional("actor", &req.actor, PrincipalName::parse);
        let resource = v.check_optional("resource", &req.resource, |raw| {
            TextRule::line(AuditEvent::MAX_RESOURCE_CHARS).parse(raw)
        });
        let action = v.check_optional("action", &req.action, |raw| {
            TextRule::line(AuditEvent::MAX_ACTION_CHARS).parse(raw)
        });
        // Times are stored in microseconds: rounding a bound up keeps `>=` and `<` exact.
        let since = req
            .start_time
            .as_ref()
            .and_then(|t| time_from_proto(&mut v, "start_time", t))
            .map(ceil_micros);
        let until = req
            .end_time
            .as_ref()
            .and_then(|t| time_from_proto(&mut v, "end_time", t))
            .map(ceil_micros);
        let micros = |t: Option<chrono::DateTime<chrono::Utc>>| t.map(|t| t.timestamp_micros().to_string());
        let paged = PageQuery::new(List::AuditEvents)
            .param("actor", req.actor.as_str())
            .param("resource", req.resource.as_str())
            .param("action", req.action.as_str())
            .param("start_time", micros(since).unwrap_or_default())
            .param("end_time", micros(until).unwrap_or_default());
        let asked = (req.page_size, req.page_token.as_str());
        let (size, after) = page_request(&mut v, &self.page_tokens, asked, &paged, |cursor| {
            parse_audit_cursor(cursor).ok()
        });
        let size = valid(&v, size)?;
        self.require(&caller, &auth, Permission::AuditRead, "ListAuditEvents", AUDIT_EVENTS)
            .await?;
        self.audit.flush().await;
        let query = AuditQuery {
            actor,
            resource,
            action,
            since,
            until,
            after,
            limit: size.saturating_add(1),
        };
        let mut events = self
            .access
            .repository()
            .list_audit_events(&query)
            .await
            .map_err(unexpected)?;
        let more = events.len() > usize::try_from(size).unwrap_or(usize::MAX);
        events.truncate(usize::try_from(size).unwrap_or(usize::MAX));
        let next_page_token = next_token(&self.page_tokens, &paged, &events, more, |e| {
            audit_cursor_text(&e.cursor())
        });
        Ok(Response::new(pb::ListAuditEventsResponse {
            audit_events: events.iter().map(audit_event_to_proto).collect(),
            next_page_token,
        }))
    }
}

/// The fields `changes` sets, for the audit detail.
fn change_names(changes: &[PrincipalChange]) -> String {
    changes
        .iter()
        .map(|change| match change {
            PrincipalChange::DisplayName(_) => "display_name",
            PrincipalChange::Department(_) => "department",
            PrincipalChange::StaffLevel(_) => "staff_level",
            PrincipalChange::Disabled(true) => "disabled=true",
            PrincipalChange::Disabled(false) => "disabled=false",
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The fields `changes` sets, for the audit detail.
fn role_change_names(changes: &[RoleChange]) -> String {
    changes
        .iter()
        .map(|change| match change {
            RoleChange::Title(_) => "title",
            RoleChange::Permissions(_) => "permissions",
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use crm_domain::access::{ApiKeyId, ApiKeyPrefix};

    use super::*;

    fn caller(id: &str) -> Caller {
        Caller {
            principal: PrincipalName::from_id(id).unwrap(),
            key_id: ApiKeyId::generate(),
            key_prefix: ApiKeyPrefix::parse("ab12cd34").unwrap(),
        }
    }

    #[test]
    fn first_page_takes_the_smallest_in_order_and_says_whether_more_follow() {
        let items = vec![5, 3, 9, 1, 7];
        assert_eq!(first_page(items.clone(), 2, Ord::cmp), (vec![1, 3], true));
        assert_eq!(first_page(items.clone(), 5, Ord::cmp), (vec![1, 3, 5, 7, 9], false));
        assert_eq!(first_page(items, 50, Ord::cmp), (vec![1, 3, 5, 7, 9], false));
        assert_eq!(first_page(Vec::<i32>::new(), 1, Ord::cmp), (vec![], false));
    }

    #[test]
    fn pages_concatenate_to_the_whole_list() {
        let tokens = PageTokens::new(b"key").unwrap();
        let query = PageQuery::new(List::Principals);
        let names: Vec<String> = (0..7).map(|i| format!("principals/p-{i:02}")).collect();
        let mut seen = Vec::new();
        let mut token = String::new();
        for _ in 0..10 {
            let mut v = Violations::new();
            let (size, after) = page_request(&mut v, &tokens, (3, &token), &query, |c| Some(c.to_owned()));
            assert!(v.is_empty(), "{v}");
            let candidates: Vec<&String> = names
                .iter()
                .rev()
                .filter(|n| after.as_deref().is_none_or(|a| n.as_str() > a))
                .collect();
            let (page, more) = first_page(candidates, size.unwrap(), |a, b| a.cmp(b));
            token = next_token(&tokens, &query, &page, more, |n| (*n).clone());
            seen.extend(page.into_iter().cloned());
            if token.is_empty() {
                break;
            }
        }
        assert_eq!(seen, names);
    }

    #[test]
    fn page_requests_reject_negative_sizes_and_foreign_tokens() {
        let tokens = PageTokens::new(b"key").unwrap();
        let roles = PageQuery::new(List::Roles);
        let mut v = Violations::new();
        let (size, _) = page_request(&mut v, &tokens, (0, ""), &roles, |c| Some(c.to_owned()));
        assert_eq!(size, Some(PageSize::DEFAULT));
        let (size, _) = page_request(&mut v, &tokens, (5000, ""), &roles, |c| Some(c.to_owned()));
        assert_eq!(size, Some(PageSize::MAX));
        assert!(v.is_empty());
        let foreign = tokens.encode(&PageQuery::new(List::Principals), "principals/x");
        let (size, after) = page_request(&mut v, &tokens, (-1, &foreign), &roles, |c| Some(c.to_owned()));
        assert_eq!((size, after), (None, None));
        let fields: Vec<&str> = v.as_slice().iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["page_size", "page_token"]);
        // A genuine token whose cursor does not parse for this list.
        let mut v = Violations::new();
        let bindings = PageQuery::new(List::RoleBindings).param("principal", "");
        let odd = tokens.encode(&bindings, "nonsense");
        let (_, after) = page_request(&mut v, &tokens, (1, &odd), &bindings, |c| parse_binding_name(c).ok());
        assert_eq!(after, None);
        assert_eq!(v.as_slice().len(), 1);
    }

    #[test]
    fn questions_parse_every_field_and_default_to_the_caller() {
        let me = caller("alice");
        let q = Question::parse(&me, "", "customers.get", "customers/acme").unwrap();
        assert_eq!(q.principal, me.principal);
        assert_eq!(q.permission, Permission::CustomersGet);
        assert_eq!(q.customer, Some(CustomerId::parse("acme").unwrap()));
        // A customer given with a global permission is ignored, even a malformed one.
        let q = Question::parse(&me, "principals/bob", "policy.read", "not a name").unwrap();
        assert_eq!(q.customer, None);
        assert_eq!(q.principal.as_str(), "principals/bob");

        let fields = |v: Violations| v.as_slice().iter().map(|f| f.field.clone()).collect::<Vec<_>>();
        let v = Question::parse(&me, "bob", "customers.get", "").unwrap_err();
        assert_eq!(fields(v), ["principal", "customer"]);
        for permission in ["", "customers.fly", "CUSTOMERS.GET", " customers.get"] {
            let v = Question::parse(&me, "", permission, "customers/acme").unwrap_err();
            assert_eq!(fields(v), ["permission"], "{permission:?}");
        }
        let v = Question::parse(&me, "", "customers.get", "accounts/acme").unwrap_err();
        assert_eq!(fields(v), ["customer"]);
    }

    #[test]
    fn a_denied_question_is_audited_on_the_customer_or_the_permission() {
        let me = caller("alice");
        let denied = Decision::from(crm_domain::access::Reason::NoBindingWithPermission);
        let q = Question::parse(&me, "", "customers.delete", "customers/acme").unwrap();
        assert_eq!(
            q.audit_text(&denied),
            (
                "customers/acme".to_owned(),
                "principals/alice customers.delete: NO_BINDING_WITH_PERMISSION".to_owned()
            )
        );
        let q = Question::parse(&me, "", "policy.write", "").unwrap();
        assert_eq!(q.audit_text(&denied).0, "policy.write");
    }

    #[test]
    fn failures_are_described_by_reason_or_code() {
        let status = not_found(ErrorReason::RoleNotFound, "role", "roles/x");
        assert_eq!(failure_detail(&status), "ROLE_NOT_FOUND: roles/x does not exist");
        assert_eq!(failure_detail(&Status::internal("boom")), "Internal: boom".to_owned());
        let lockout = self_lockout(&PrincipalName::from_id("admin").unwrap(), "delete");
        assert_eq!(lockout.code(), Code::FailedPrecondition);
        assert!(failure_detail(&lockout).starts_with("SELF_LOCKOUT: "));
        let role = BuiltInRole::Admin.name();
        assert_eq!(built_in(&role, "deleted").code(), Code::FailedPrecondition);
        assert_eq!(role_exists_already(&role).code(), Code::AlreadyExists);
    }
}
