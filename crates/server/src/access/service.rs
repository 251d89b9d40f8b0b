//! `crm.v1.AccessService`: principals, roles, role bindings and API keys; `WhoAmI`; access
//! decisions (`CheckPermission`, `BatchCheckPermissions`); and the audit log.
//!
//! Each handler takes the authenticated caller and the current access view, parses the request
//! into domain values (reporting every invalid field at once, see `crm_api::convert::access`),
//! calls the domain's use case ([`AccessAdmin`]), which decides who may do it (permission before
//! existence, AIP-211), the self-lockout, built-in-role and self-service rules, and maps the
//! result or the [`AccessError`] back ([`access_status`], one exhaustive match). No access rule
//! lives here, and "now" is the injected clock's.
//!
//! - Lists are ordered by name and paged here, in memory, with signed page tokens bound to the
//!   list and its filters (see [`crate::page_token`]).
//! - Every change (allowed, denied or failed) is audited; after a change succeeds the access
//!   state is reloaded here and the other replicas are notified before the answer, so the caller
//!   reads its own writes. No key secret is ever audited or logged. A denial of a read is
//!   audited too.

use std::{
    cmp::Ordering,
    collections::{HashMap, HashSet},
    sync::Arc,
};

use crm_api::{
    convert::{
        ProtoEnum as _,
        access::{
            api_key_id, api_key_to_proto, audit_cursor_text, audit_event_to_proto, binding_id, binding_to_proto,
            ceil_micros, decision_to_proto, expire_time, new_binding, new_principal, new_role, parse_api_key_name,
            parse_audit_cursor, parse_binding_name, principal_changes, principal_name, principal_to_proto,
            role_changes, role_name, role_to_proto,
        },
        customers::customer_name,
        time_from_proto,
    },
    crm::v1::{self as pb, ErrorReason, access_service_server::AccessService as AccessApi, check_permission_result},
};
use crm_domain::{
    access::{
        AccessAdmin, AccessError, AuditEvent, AuditOutcome, AuditQuery, BindingId, CustomerFacts, Decision, Denial,
        Permission, PrincipalChange, RoleChange, api_key_name, api_keys_of, binding_name,
    },
    caller::Caller,
    clock::Clock,
    customer::{
        resource_name,
        values::{CustomerId, PrincipalName},
    },
    error::Violations,
    listing::PageSize,
    ports::CustomerRepository as _,
    text::TextRule,
};
use crm_persistence::{SqlAccessRepository, SqlCustomerRepository};
use tonic::{Code, Request, Response, Status};
use tonic_types::StatusExt as _;

use crate::{
    access::api_key,
    access::state::{AccessState, AccessView},
    audit::AuditLog,
    page_token::{List, PageQuery, PageTokens},
    status::{access_status, denied, internal, invalid_argument, to_status, with_info},
    transport::caller::{caller_of, unauthenticated},
    transport::consistency::read_at,
    transport::principal_limits::EffectiveLimits,
};

/// The most items one BatchCheckPermissions may ask about.
pub(crate) const MAX_BATCH_CHECK: usize = 1000;

/// The gRPC face of access control.
#[derive(Debug, Clone)]
pub(crate) struct AccessGrpc {
    /// Principals, roles, bindings and keys in memory, and the repository they come from.
    access: Arc<AccessState>,
    /// The use cases, over the same repository, with the server's clock.
    admin: AccessAdmin<SqlAccessRepository>,
    /// Customers, for the owner and department an access decision needs.
    customers: SqlCustomerRepository,
    /// The audit writer.
    audit: AuditLog,
    /// Signs and checks the lists' page tokens.
    page_tokens: PageTokens,
}

impl AccessGrpc {
    /// The service over this access state, customer store and audit log, telling time by
    /// `clock` and signing page tokens with `page_tokens`.
    pub(crate) fn new(
        access: Arc<AccessState>,
        customers: SqlCustomerRepository,
        audit: AuditLog,
        page_tokens: PageTokens,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let admin = AccessAdmin::new(access.repository().clone(), clock);
        Self {
            access,
            admin,
            customers,
            audit,
            page_tokens,
        }
    }

    /// The caller of `request` and the access view it is decided against.
    fn enter<T>(&self, request: &Request<T>) -> Result<(Caller, Arc<AccessView>), Status> {
        Ok((caller_of(request)?, self.access.view()))
    }

    /// The answer of a read: a denial is audited as `action`; an error becomes its status.
    async fn answer<T>(&self, caller: &Caller, action: &str, result: Result<T, AccessError>) -> Result<T, Status> {
        match result {
            Ok(value) => Ok(value),
            Err(AccessError::PermissionDenied(denial)) => {
                self.audit.denied(caller, action, &denial).await;
                Err(denied(&denial))
            }
            Err(error) => Err(access_status(error)),
        }
    }

    /// The answer of a change of `resource`: a denial is audited as such; any other outcome is
    /// audited as ALLOWED with `detail` or FAILED with the error, and after a success the access
    /// state is brought up to date before the answer.
    async fn finish<T>(
        &self,
        caller: &Caller,
        action: &str,
        resource: &str,
        detail: String,
        result: Result<T, AccessError>,
    ) -> Result<T, Status> {
        match result {
            Ok(value) => {
                self.refresh().await;
                self.audit
                    .note(caller, action, resource, AuditOutcome::Allowed, detail)
                    .await;
                Ok(value)
            }
            Err(AccessError::PermissionDenied(denial)) => {
                self.audit.denied(caller, action, &denial).await;
                Err(denied(&denial))
            }
            Err(error) => {
                let status = access_status(error);
                self.audit
                    .note(caller, action, resource, AuditOutcome::Failed, failure_detail(&status))
                    .await;
                Err(status)
            }
        }
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

/// Parses with `parse`, which records every invalid field: fails with them all if there is
/// any, else returns the value.
fn parse<T>(parse: impl FnOnce(&mut Violations) -> Option<T>) -> Result<T, Status> {
    let mut v = Violations::new();
    let value = parse(&mut v);
    valid(&v, value)
}

/// What a FAILED audit event says about `status`: its reason (or code) and message.
fn failure_detail(status: &Status) -> String {
    match status.get_details_error_info() {
        Some(info) => format!("{}: {}", info.reason, status.message()),
        None => format!("{:?}: {}", status.code(), status.message()),
    }
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
        let (caller, view) = self.enter(&request)?;
        let auth = self.admin.authorizer(&view.snapshot, &caller.principal);
        let req = request.into_inner();
        let principal = parse(|v| new_principal(v, &req.principal_id, req.principal.as_ref()))?;
        let resource = principal.name.as_str().to_owned();
        let result = self.admin.create_principal(&auth, principal).await;
        let created = self
            .finish(&caller, "CreatePrincipal", &resource, String::new(), result)
            .await?;
        Ok(Response::new(principal_to_proto(&created)))
    }

    /// GetPrincipal: none for the caller itself, `access.manage` for any other.
    async fn get_principal(
        &self,
        request: Request<pb::GetPrincipalRequest>,
    ) -> Result<Response<pb::Principal>, Status> {
        let (caller, view) = self.enter(&request)?;
        let auth = self.admin.authorizer(&view.snapshot, &caller.principal);
        let name = parse(|v| principal_name(v, "name", &request.get_ref().name))?;
        let result = self.admin.get_principal(&auth, &name);
        let principal = self.answer(&caller, "GetPrincipal", result).await?;
        Ok(Response::new(principal_to_proto(principal)))
    }

    /// ListPrincipals: `access.manage`.
    async fn list_principals(
        &self,
        request: Request<pb::ListPrincipalsRequest>,
    ) -> Result<Response<pb::ListPrincipalsResponse>, Status> {
        let (caller, view) = self.enter(&request)?;
        let auth = self.admin.authorizer(&view.snapshot, &caller.principal);
        let req = request.into_inner();
        let mut v = Violations::new();
        let paged = PageQuery::new(List::Principals);
        let asked = (req.page_size, req.page_token.as_str());
        let (size, after) = page_request(&mut v, &self.page_tokens, asked, &paged, |cursor| {
            Some(cursor.to_owned())
        });
        let size = valid(&v, size)?;
        let result = self.admin.list_principals(&auth, after.as_deref());
        let candidates = self.answer(&caller, "ListPrincipals", result).await?;
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
        let (caller, view) = self.enter(&request)?;
        let auth = self.admin.authorizer(&view.snapshot, &caller.principal);
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
        let result = self.admin.update_principal(&auth, &name, &changes).await;
        let detail = format!("changed: {}", change_names(&changes));
        let updated = self
            .finish(&caller, "UpdatePrincipal", name.as_str(), detail, result)
            .await?;
        Ok(Response::new(principal_to_proto(&updated)))
    }

    /// DeletePrincipal: `access.manage`; a caller may not delete itself. Its bindings and keys go
    /// with it.
    async fn delete_principal(&self, request: Request<pb::DeletePrincipalRequest>) -> Result<Response<()>, Status> {
        let (caller, view) = self.enter(&request)?;
        let auth = self.admin.authorizer(&view.snapshot, &caller.principal);
        let name = parse(|v| principal_name(v, "name", &request.get_ref().name))?;
        let result = self.admin.delete_principal(&auth, &name).await;
        self.finish(&caller, "DeletePrincipal", name.as_str(), String::new(), result)
            .await?;
        Ok(Response::new(()))
    }

    /// CreateRole: `access.manage`; a built-in id already exists.
    async fn create_role(&self, request: Request<pb::CreateRoleRequest>) -> Result<Response<pb::Role>, Status> {
        let (caller, view) = self.enter(&request)?;
        let auth = self.admin.authorizer(&view.snapshot, &caller.principal);
        let req = request.into_inner();
        let role = parse(|v| new_role(v, &req.role_id, req.role.as_ref()))?;
        let resource = role.name.as_str().to_owned();
        let result = self.admin.create_role(&auth, role).await;
        let created = self
            .finish(&caller, "CreateRole", &resource, String::new(), result)
            .await?;
        Ok(Response::new(role_to_proto(&created)))
    }

    /// GetRole: authentication only.
    async fn get_role(&self, request: Request<pb::GetRoleRequest>) -> Result<Response<pb::Role>, Status> {
        let (caller, view) = self.enter(&request)?;
        let auth = self.admin.authorizer(&view.snapshot, &caller.principal);
        let name = parse(|v| role_name(v, "name", &request.get_ref().name))?;
        let role = self.admin.get_role(&auth, &name).map_err(access_status)?;
        Ok(Response::new(role_to_proto(role)))
    }

    /// ListRoles: authentication only.
    async fn list_roles(
        &self,
        request: Request<pb::ListRolesRequest>,
    ) -> Result<Response<pb::ListRolesResponse>, Status> {
        let (caller, view) = self.enter(&request)?;
        let auth = self.admin.authorizer(&view.snapshot, &caller.principal);
        let req = request.into_inner();
        let mut v = Violations::new();
        let paged = PageQuery::new(List::Roles);
        let asked = (req.page_size, req.page_token.as_str());
        let (size, after) = page_request(&mut v, &self.page_tokens, asked, &paged, |cursor| {
            Some(cursor.to_owned())
        });
        let size = valid(&v, size)?;
        let candidates = self.admin.list_roles(&auth, after.as_deref());
        let (page, more) = first_page(candidates, size, |a, b| a.name.cmp(&b.name));
        let next_page_token = next_token(&self.page_tokens, &paged, &page, more, |r| r.name.as_str().to_owned());
        Ok(Response::new(pb::ListRolesResponse {
            roles: page.into_iter().map(role_to_proto).collect(),
            next_page_token,
        }))
    }

    /// UpdateRole: `access.manage`; built-in roles cannot be changed.
    async fn update_role(&self, request: Request<pb::UpdateRoleRequest>) -> Result<Response<pb::Role>, Status> {
        let (caller, view) = self.enter(&request)?;
        let auth = self.admin.authorizer(&view.snapshot, &caller.principal);
        let req = request.into_inner();
        let mut v = Violations::new();
        let Some(raw) = req.role else {
            v.add("role", "is required: the role with its name and the new values");
            return Err(invalid_argument(&v));
        };
        let name = role_name(&mut v, "role.name", &raw.name);
        let changes = role_changes(&mut v, &raw, req.update_mask.as_ref());
        let name = valid(&v, name)?;
        let result = self.admin.update_role(&auth, &name, &changes).await;
        let detail = format!("changed: {}", role_change_names(&changes));
        let updated = self
            .finish(&caller, "UpdateRole", name.as_str(), detail, result)
            .await?;
        Ok(Response::new(role_to_proto(&updated)))
    }

    /// DeleteRole: `access.manage`; built-in roles cannot be deleted. Its bindings stay.
    async fn delete_role(&self, request: Request<pb::DeleteRoleRequest>) -> Result<Response<()>, Status> {
        let (caller, view) = self.enter(&request)?;
        let auth = self.admin.authorizer(&view.snapshot, &caller.principal);
        let name = parse(|v| role_name(v, "name", &request.get_ref().name))?;
        let result = self.admin.delete_role(&auth, &name).await;
        self.finish(&caller, "DeleteRole", name.as_str(), String::new(), result)
            .await?;
        Ok(Response::new(()))
    }

    /// CreateRoleBinding: `access.manage`; the principal and the role must exist.
    async fn create_role_binding(
        &self,
        request: Request<pb::CreateRoleBindingRequest>,
    ) -> Result<Response<pb::RoleBinding>, Status> {
        let (caller, view) = self.enter(&request)?;
        let auth = self.admin.authorizer(&view.snapshot, &caller.principal);
        let req = request.into_inner();
        let binding = parse(|v| new_binding(v, req.role_binding.as_ref(), BindingId::generate(), auth.now()))?;
        let result = self.admin.create_binding(&auth, &binding).await;
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
        let (caller, view) = self.enter(&request)?;
        let auth = self.admin.authorizer(&view.snapshot, &caller.principal);
        let id = parse(|v| binding_id(v, "name", &request.get_ref().name))?;
        let result = self.admin.get_binding(&auth, id);
        let binding = self.answer(&caller, "GetRoleBinding", result).await?;
        Ok(Response::new(binding_to_proto(&binding)))
    }

    /// ListRoleBindings: none when `principal` is the caller itself, `access.manage` otherwise.
    async fn list_role_bindings(
        &self,
        request: Request<pb::ListRoleBindingsRequest>,
    ) -> Result<Response<pb::ListRoleBindingsResponse>, Status> {
        let (caller, view) = self.enter(&request)?;
        let auth = self.admin.authorizer(&view.snapshot, &caller.principal);
        let req = request.into_inner();
        let mut v = Violations::new();
        let principal = v.check_optional("principal", &req.principal, PrincipalName::parse);
        let paged = PageQuery::new(List::RoleBindings).param("principal", req.principal.as_str());
        let asked = (req.page_size, req.page_token.as_str());
        let (size, after) = page_request(&mut v, &self.page_tokens, asked, &paged, |cursor| {
            parse_binding_name(cursor).ok()
        });
        let size = valid(&v, size)?;
        let result = self.admin.list_bindings(&auth, principal.as_ref(), after);
        let candidates = self.answer(&caller, "ListRoleBindings", result).await?;
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
        let (caller, view) = self.enter(&request)?;
        let auth = self.admin.authorizer(&view.snapshot, &caller.principal);
        let id = parse(|v| binding_id(v, "name", &request.get_ref().name))?;
        let result = self.admin.delete_binding(&auth, id).await;
        self.finish(&caller, "DeleteRoleBinding", &binding_name(id), String::new(), result)
            .await?;
        Ok(Response::new(()))
    }

    /// CreateApiKey: none for the caller's own keys, `access.manage` for another principal's.
    /// The secret is in the response only: never stored, logged or audited.
    async fn create_api_key(
        &self,
        request: Request<pb::CreateApiKeyRequest>,
    ) -> Result<Response<pb::CreateApiKeyResponse>, Status> {
        let (caller, view) = self.enter(&request)?;
        let auth = self.admin.authorizer(&view.snapshot, &caller.principal);
        let req = request.into_inner();
        let mut v = Violations::new();
        let parent = principal_name(&mut v, "parent", &req.parent);
        let expire = expire_time(&mut v, "expire_time", req.expire_time.as_ref(), auth.now());
        let parent = valid(&v, parent)?;
        let result = self
            .admin
            .create_api_key(&auth, &parent, expire, api_key::generate)
            .await;
        let (resource, detail) = match &result {
            Ok(key) => (
                api_key_name(&parent, key.record.id),
                format!("prefix {}", key.record.prefix),
            ),
            Err(_) => (api_keys_of(&parent), String::new()),
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
        let (caller, view) = self.enter(&request)?;
        let auth = self.admin.authorizer(&view.snapshot, &caller.principal);
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
        let result = self.admin.list_api_keys(&auth, &parent, after).await;
        let candidates = self.answer(&caller, "ListApiKeys", result).await?;
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
        let (caller, view) = self.enter(&request)?;
        let auth = self.admin.authorizer(&view.snapshot, &caller.principal);
        let (principal, id) = parse(|v| api_key_id(v, "name", &request.get_ref().name))?;
        let result = self.admin.revoke_api_key(&auth, &principal, id).await;
        let revoked = self
            .finish(
                &caller,
                "RevokeApiKey",
                &api_key_name(&principal, id),
                String::new(),
                result,
            )
            .await?;
        Ok(Response::new(api_key_to_proto(&revoked)))
    }

    /// WhoAmI: authentication only.
    async fn who_am_i(&self, request: Request<pb::WhoAmIRequest>) -> Result<Response<pb::WhoAmIResponse>, Status> {
        let (caller, view) = self.enter(&request)?;
        // Deleted between authentication and now: as if the key no longer worked.
        let principal = view.snapshot.principal(&caller.principal).ok_or_else(unauthenticated)?;
        let permissions = view
            .snapshot
            .effective_permissions(&caller.principal, self.admin.now())
            .into_iter()
            .map(|(permission, scope)| pb::EffectivePermission {
                permission: permission.name().to_owned(),
                scope: scope.to_number(),
            })
            .collect();
        // The limits the authentication layer applied to this very call.
        let limits = request
            .extensions()
            .get::<EffectiveLimits>()
            .map(EffectiveLimits::to_proto);
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
        let (caller, view) = self.enter(&request)?;
        let auth = self.admin.authorizer(&view.snapshot, &caller.principal);
        let req = request.get_ref();
        let question = Question::parse(&caller, &req.principal, &req.permission, &req.customer)
            .map_err(|v| invalid_argument(&v))?;
        if let Err(denial) = self.admin.may_ask_about(&auth, &question.principal) {
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
            .check(&question.principal, question.permission, facts.as_ref(), auth.now());
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
        let (caller, view) = self.enter(&request)?;
        let auth = self.admin.authorizer(&view.snapshot, &caller.principal);
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
            if let Err(denial) = self.admin.may_ask_about(&auth, &question.principal) {
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
                        .check(&question.principal, question.permission, customer, auth.now());
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
        let (caller, view) = self.enter(&request)?;
        let auth = self.admin.authorizer(&view.snapshot, &caller.principal);
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
        let query = AuditQuery {
            actor,
            resource,
            action,
            since,
            until,
            after,
            limit: size.saturating_add(1),
        };
        // The caller's own earlier requests are written before the read.
        let result = self.admin.list_audit_events(&auth, &query, self.audit.flush()).await;
        let mut events = self.answer(&caller, "ListAuditEvents", result).await?;
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
    use crm_domain::access::{ApiKeyId, ApiKeyPrefix, BuiltInEdit, BuiltInRole, LockoutAction, RoleName};

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
        let role = BuiltInRole::Admin.name();
        let status = access_status(AccessError::RoleNotFound(RoleName::from_id("ghost").unwrap()));
        assert_eq!(failure_detail(&status), "ROLE_NOT_FOUND: roles/ghost does not exist");
        assert_eq!(failure_detail(&Status::internal("boom")), "Internal: boom".to_owned());
        let lockout = access_status(AccessError::SelfLockout {
            principal: PrincipalName::from_id("admin").unwrap(),
            action: LockoutAction::Delete,
        });
        assert_eq!(lockout.code(), Code::FailedPrecondition);
        assert!(failure_detail(&lockout).starts_with("SELF_LOCKOUT: "));
        let built_in = AccessError::RoleBuiltIn {
            role: role.clone(),
            edit: BuiltInEdit::Delete,
        };
        assert_eq!(access_status(built_in).code(), Code::FailedPrecondition);
        assert_eq!(
            access_status(AccessError::RoleAlreadyExists(role)).code(),
            Code::AlreadyExists
        );
    }
}
