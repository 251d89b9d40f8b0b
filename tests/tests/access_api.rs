//! `crm.v1.AccessService` end to end, over real gRPC, against SQLite and PostgreSQL:
//! authentication (every way a key can fail looks the same), API key secrets shown once,
//! management of principals, roles, bindings and keys (with self-service), `WhoAmI`, every
//! reason `CheckPermission` can give, `BatchCheckPermissions`, the audit log, and replicas
//! picking up changes made on another replica.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    collections::HashSet,
    time::{Duration, Instant, SystemTime},
};

use crm_tests::{
    AccessClient, TestApp, TestDatabase, assert_no_leak, e2e, organization, pb, violated_fields, violations,
};
use prost::Message as _;
use prost_types::{FieldMask, Timestamp};
use tonic::{Code, Status};
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};
use tonic_types::StatusExt as _;

e2e!(
    // Authentication and keys
    every_authentication_failure_looks_the_same,
    a_disabled_principals_key_works_again_once_it_is_enabled,
    an_expired_key_is_refused,
    health_needs_no_key,
    the_secret_is_shown_only_by_create_api_key,
    revoking_twice_keeps_the_first_revoke_time,
    // Management
    principals_can_be_created_read_listed_updated_and_deleted,
    invalid_principals_report_every_bad_field,
    a_duplicate_principal_already_exists,
    a_role_with_an_unknown_permission_names_its_index,
    built_in_roles_cannot_be_changed_or_deleted,
    custom_roles_can_be_created_read_listed_updated_and_deleted,
    a_binding_needs_an_existing_role_and_principal,
    management_needs_access_manage,
    anyone_may_manage_its_own_keys_and_ask_who_it_is,
    an_admin_cannot_lock_itself_out,
    // WhoAmI
    who_am_i_lists_a_sales_reps_effective_permissions,
    who_am_i_lists_every_permission_of_the_admin_with_scope_all,
    // CheckPermission
    check_granted_names_the_binding_role_and_scope,
    check_without_a_binding_holding_the_permission,
    check_out_of_scope_for_another_departments_customer,
    check_a_disabled_principal,
    check_an_expired_binding,
    check_a_missing_customer_depends_on_the_scope,
    check_a_missing_principal,
    checking_oneself_needs_no_permission_but_others_need_access_check,
    check_a_global_permission_without_a_customer,
    check_rejects_invalid_arguments_by_field,
    // BatchCheckPermissions
    batch_check_answers_each_item_in_order,
    batch_check_needs_1_to_1000_items,
    // Audit
    changes_and_denials_are_audited_and_filterable,
    audit_events_page_without_duplicates,
    reading_the_audit_log_needs_audit_read,
    no_audit_event_holds_a_key_secret,
    // Replicas
    a_replica_sees_keys_and_bindings_created_and_revoked_elsewhere,
);

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// A principal with its binding and key, as created by [`member`].
#[derive(Debug, Clone)]
struct Member {
    /// `principals/{id}`.
    name: String,
    /// Its only binding.
    binding: pb::RoleBinding,
    /// Its key, as stored.
    key: pb::ApiKey,
    /// Its key's secret.
    secret: String,
}

impl Member {
    /// An `AccessService` client calling as this member.
    fn access(&self, app: &TestApp) -> AccessClient {
        app.access_as(Some(&self.secret))
    }
}

fn mask(paths: &[&str]) -> Option<FieldMask> {
    Some(FieldMask {
        paths: paths.iter().map(|p| (*p).to_owned()).collect(),
    })
}

fn timestamp_in(offset: Duration) -> Timestamp {
    Timestamp::from(SystemTime::now() + offset)
}

/// Sleeps until `margin` after `instant` (at once if that has passed).
async fn sleep_past(instant: Timestamp, margin: Duration) {
    let instant = SystemTime::try_from(instant).expect("a representable time");
    if let Ok(left) = (instant + margin).duration_since(SystemTime::now()) {
        tokio::time::sleep(left).await;
    }
}

fn user(display_name: &str, department: &str) -> pb::Principal {
    pb::Principal {
        kind: pb::PrincipalKind::User as i32,
        display_name: display_name.to_owned(),
        department: department.to_owned(),
        ..Default::default()
    }
}

/// Creates the user `principals/{id}` (as the admin) and returns it.
async fn create_principal(app: &TestApp, id: &str, department: &str) -> pb::Principal {
    app.access
        .clone()
        .create_principal(pb::CreatePrincipalRequest {
            principal_id: id.to_owned(),
            principal: Some(user(&format!("User {id}"), department)),
        })
        .await
        .unwrap_or_else(|e| panic!("create principal {id}: {e:?}"))
        .into_inner()
}

/// Binds `role` to `principal` (as the admin) and returns the binding.
async fn bind(
    app: &TestApp,
    principal: &str,
    role: &str,
    scope: pb::Scope,
    expire_time: Option<Timestamp>,
) -> pb::RoleBinding {
    app.access
        .clone()
        .create_role_binding(pb::CreateRoleBindingRequest {
            role_binding: Some(pb::RoleBinding {
                principal: principal.to_owned(),
                role: role.to_owned(),
                scope: scope as i32,
                expire_time,
                ..Default::default()
            }),
        })
        .await
        .unwrap_or_else(|e| panic!("bind {role} to {principal}: {e:?}"))
        .into_inner()
}

/// Creates a key for `principal` (as the admin) and returns it with its secret.
async fn create_key(app: &TestApp, principal: &str, expire_time: Option<Timestamp>) -> (pb::ApiKey, String) {
    let response = app
        .access
        .clone()
        .create_api_key(pb::CreateApiKeyRequest {
            parent: principal.to_owned(),
            expire_time,
        })
        .await
        .unwrap_or_else(|e| panic!("create a key for {principal}: {e:?}"))
        .into_inner();
    (response.api_key.expect("api_key"), response.secret)
}

/// Creates the user `principals/{id}` of `department` holding `role` with `scope`, and a key.
async fn member(app: &TestApp, id: &str, department: &str, role: &str, scope: pb::Scope) -> Member {
    let principal = create_principal(app, id, department).await;
    let binding = bind(app, &principal.name, role, scope, None).await;
    let (key, secret) = create_key(app, &principal.name, None).await;
    Member {
        name: principal.name,
        binding,
        key,
        secret,
    }
}

/// Creates `customers/{id}` (as the admin) with this owner and department (empty: none).
async fn customer(app: &TestApp, id: &str, owner: &str, department: &str) -> pb::Customer {
    let mut input = organization(&format!("Customer {id}"));
    input.owner = owner.to_owned();
    input.department = department.to_owned();
    app.customers
        .clone()
        .create_customer(pb::CreateCustomerRequest {
            customer: Some(input),
            customer_id: id.to_owned(),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("create customer {id}: {e:?}"))
        .into_inner()
}

async fn check(
    client: &AccessClient,
    principal: &str,
    permission: &str,
    customer: &str,
) -> Result<pb::CheckPermissionResponse, Status> {
    client
        .clone()
        .check_permission(pb::CheckPermissionRequest {
            principal: principal.to_owned(),
            permission: permission.to_owned(),
            customer: customer.to_owned(),
        })
        .await
        .map(tonic::Response::into_inner)
}

/// Asserts a decision: allowed exactly when `code` is GRANTED, with this binding, role and scope
/// (empty / unspecified when the code names none), and an explanation starting as the proto says.
#[track_caller]
fn assert_decision(
    decision: &pb::CheckPermissionResponse,
    code: pb::DecisionReasonCode,
    binding: &str,
    role: &str,
    scope: pb::Scope,
) {
    let reason = decision.reason.as_ref().expect("a decision has a reason");
    assert_eq!(reason.code(), code, "{decision:?}");
    assert_eq!(
        decision.allowed,
        code == pb::DecisionReasonCode::Granted,
        "{decision:?}"
    );
    assert_eq!(reason.role_binding, binding, "role_binding of {decision:?}");
    assert_eq!(reason.role, role, "role of {decision:?}");
    assert_eq!(reason.scope(), scope, "scope of {decision:?}");
    let opening = if decision.allowed { "Allowed" } else { "Denied" };
    assert!(reason.explanation.starts_with(opening), "explanation of {decision:?}");
}

/// Asserts `code` with an `ErrorInfo` of `expected_reason` in domain `crm.v1` holding at least
/// `metadata`, and a message that leaks nothing internal.
#[track_caller]
fn assert_info(status: &Status, code: Code, expected_reason: &str, metadata: &[(&str, &str)]) {
    assert_eq!(status.code(), code, "unexpected status: {status:?}");
    let info = status
        .get_details_error_info()
        .unwrap_or_else(|| panic!("no ErrorInfo in {status:?}"));
    assert_eq!(info.reason, expected_reason, "{status:?}");
    assert_eq!(info.domain, "crm.v1", "{status:?}");
    for (key, value) in metadata {
        assert_eq!(
            info.metadata.get(*key).map(String::as_str),
            Some(*value),
            "metadata {key} of {status:?}"
        );
    }
    assert_no_leak(status);
}

/// Asserts INVALID_ARGUMENT with exactly these violated fields (in any order), each described.
#[track_caller]
fn assert_invalid(status: &Status, expected: &[&str]) {
    assert_eq!(status.code(), Code::InvalidArgument, "unexpected status: {status:?}");
    let mut fields = violated_fields(status);
    fields.sort();
    let mut expected: Vec<String> = expected.iter().map(|f| (*f).to_owned()).collect();
    expected.sort();
    assert_eq!(fields, expected, "violated fields of {status:?}");
    for (field, description) in violations(status) {
        assert!(
            !description.trim().is_empty(),
            "violation of {field} has no description"
        );
    }
    assert_no_leak(status);
}

/// Asserts the one UNAUTHENTICATED answer and returns its message, to compare across causes.
#[track_caller]
fn assert_unauthenticated(status: &Status) -> String {
    assert_info(status, Code::Unauthenticated, "UNAUTHENTICATED", &[]);
    let info = status.get_details_error_info().expect("ErrorInfo");
    assert!(
        info.metadata.is_empty(),
        "UNAUTHENTICATED carries no metadata: {status:?}"
    );
    status.message().to_owned()
}

async fn who_am_i(client: &AccessClient) -> Result<pb::WhoAmIResponse, Status> {
    client
        .clone()
        .who_am_i(pb::WhoAmIRequest {})
        .await
        .map(tonic::Response::into_inner)
}

async fn disable(app: &TestApp, name: &str, disabled: bool) -> pb::Principal {
    app.access
        .clone()
        .update_principal(pb::UpdatePrincipalRequest {
            principal: Some(pb::Principal {
                name: name.to_owned(),
                disabled,
                ..Default::default()
            }),
            update_mask: mask(&["disabled"]),
        })
        .await
        .unwrap_or_else(|e| panic!("set disabled={disabled} on {name}: {e:?}"))
        .into_inner()
}

async fn revoke(client: &AccessClient, key: &str) -> Result<pb::ApiKey, Status> {
    client
        .clone()
        .revoke_api_key(pb::RevokeApiKeyRequest { name: key.to_owned() })
        .await
        .map(tonic::Response::into_inner)
}

/// Every audit event matching `request`, read page by page with its `page_size`.
async fn all_audit_events(client: &AccessClient, mut request: pb::ListAuditEventsRequest) -> Vec<pb::AuditEvent> {
    let mut events = Vec::new();
    for _ in 0..10_000 {
        let page = client
            .clone()
            .list_audit_events(request.clone())
            .await
            .unwrap_or_else(|e| panic!("list audit events: {e:?}"))
            .into_inner();
        events.extend(page.audit_events);
        if page.next_page_token.is_empty() {
            return events;
        }
        request.page_token = page.next_page_token;
    }
    panic!("the audit log never ends");
}

fn is_postgres(app: &TestApp) -> bool {
    matches!(app.database, TestDatabase::Postgres { .. })
}

/// A key of the right shape that was never issued.
const UNKNOWN_KEY: &str = "crm_zz00zz00_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

// ---------------------------------------------------------------------------------------------
// Authentication and keys
// ---------------------------------------------------------------------------------------------

async fn every_authentication_failure_looks_the_same(app: TestApp) {
    let rep = member(&app, "auth-rep", "", "roles/sales_rep", pb::Scope::Own).await;
    let (revoked_key, revoked_secret) = create_key(&app, &rep.name, None).await;
    revoke(&app.access, &revoked_key.name).await.expect("revoke");
    let disabled = member(&app, "auth-disabled", "", "roles/sales_rep", pb::Scope::Own).await;
    who_am_i(&disabled.access(&app))
        .await
        .expect("works before it is disabled");
    disable(&app, &disabled.name, true).await;

    let mut messages = Vec::new();
    // No header at all.
    messages.push(assert_unauthenticated(
        &who_am_i(&app.access_as(None)).await.unwrap_err(),
    ));
    let no_header_on_customers = app
        .customers_as(None)
        .get_customer(pb::GetCustomerRequest {
            name: "customers/no-such-customer".into(),
        })
        .await
        .unwrap_err();
    messages.push(assert_unauthenticated(&no_header_on_customers));
    // A malformed bearer value, and a well-formed key nobody was issued.
    for bad in ["garbage", UNKNOWN_KEY] {
        messages.push(assert_unauthenticated(
            &who_am_i(&app.access_as(Some(bad))).await.unwrap_err(),
        ));
    }
    // A real key with a tampered secret.
    let tampered = format!(
        "{}{}",
        &rep.secret[..rep.secret.len() - 1],
        if rep.secret.ends_with('A') { 'B' } else { 'A' }
    );
    messages.push(assert_unauthenticated(
        &who_am_i(&app.access_as(Some(&tampered))).await.unwrap_err(),
    ));
    // The right key under another scheme.
    let basic = pb::access_service_client::AccessServiceClient::with_interceptor(
        app.channel.clone(),
        move |mut request: tonic::Request<()>| {
            request
                .metadata_mut()
                .insert("authorization", format!("Basic {UNKNOWN_KEY}").parse().unwrap());
            Ok(request)
        },
    );
    messages.push(assert_unauthenticated(
        &basic.clone().who_am_i(pb::WhoAmIRequest {}).await.unwrap_err(),
    ));
    // A revoked key, and the key of a disabled principal.
    messages.push(assert_unauthenticated(
        &who_am_i(&app.access_as(Some(&revoked_secret))).await.unwrap_err(),
    ));
    messages.push(assert_unauthenticated(
        &who_am_i(&disabled.access(&app)).await.unwrap_err(),
    ));
    let disabled_on_customers = app
        .customers_as(Some(&disabled.secret))
        .get_customer(pb::GetCustomerRequest {
            name: "customers/no-such-customer".into(),
        })
        .await
        .unwrap_err();
    messages.push(assert_unauthenticated(&disabled_on_customers));

    let distinct: HashSet<&String> = messages.iter().collect();
    assert_eq!(
        distinct.len(),
        1,
        "the failures must be indistinguishable: {messages:#?}"
    );
    // The other key of the same principal still works.
    who_am_i(&rep.access(&app)).await.expect("the unrevoked key works");
}

async fn a_disabled_principals_key_works_again_once_it_is_enabled(app: TestApp) {
    let rep = member(&app, "toggle-rep", "", "roles/sales_rep", pb::Scope::Own).await;
    who_am_i(&rep.access(&app)).await.expect("enabled");
    let disabled = disable(&app, &rep.name, true).await;
    assert!(disabled.disabled);
    assert_unauthenticated(&who_am_i(&rep.access(&app)).await.unwrap_err());
    let enabled = disable(&app, &rep.name, false).await;
    assert!(!enabled.disabled);
    let me = who_am_i(&rep.access(&app))
        .await
        .expect("enabled again: the key works at once");
    assert_eq!(me.api_key, rep.key.name);
}

async fn an_expired_key_is_refused(app: TestApp) {
    let rep = member(&app, "expiring-rep", "", "roles/sales_rep", pb::Scope::Own).await;
    let expire_time = timestamp_in(Duration::from_secs(2));
    let (key, secret) = create_key(&app, &rep.name, Some(expire_time)).await;
    let stored = key.expire_time.expect("expire_time is returned");
    // Stored in whole microseconds at most.
    assert_eq!(stored.seconds, expire_time.seconds);
    assert!(
        (stored.nanos - expire_time.nanos).abs() < 1_000,
        "{stored:?} vs {expire_time:?}"
    );
    let me = who_am_i(&app.access_as(Some(&secret)))
        .await
        .expect("works before it expires");
    assert_eq!(me.api_key, key.name);

    sleep_past(expire_time, Duration::from_millis(300)).await;
    let message = assert_unauthenticated(&who_am_i(&app.access_as(Some(&secret))).await.unwrap_err());
    let unknown = assert_unauthenticated(&who_am_i(&app.access_as(Some(UNKNOWN_KEY))).await.unwrap_err());
    assert_eq!(message, unknown, "an expired key fails like an unknown one");
    // Still listed, with its expiry.
    let keys = rep
        .access(&app)
        .list_api_keys(pb::ListApiKeysRequest {
            parent: rep.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .api_keys;
    let listed = keys
        .iter()
        .find(|k| k.name == key.name)
        .expect("the expired key is listed");
    assert_eq!(listed.expire_time, key.expire_time);
}

async fn health_needs_no_key(app: TestApp) {
    let mut health = HealthClient::new(app.channel.clone());
    for service in ["", "crm.v1.CustomerService", "crm.v1.AccessService"] {
        let response = health
            .check(HealthCheckRequest {
                service: service.to_owned(),
            })
            .await
            .unwrap_or_else(|e| panic!("health {service:?} without a key: {e:?}"))
            .into_inner();
        assert_eq!(response.status(), ServingStatus::Serving, "{service:?}");
    }
}

async fn the_secret_is_shown_only_by_create_api_key(app: TestApp) {
    let principal = create_principal(&app, "secret-holder", "").await;
    let response = app
        .access
        .clone()
        .create_api_key(pb::CreateApiKeyRequest {
            parent: principal.name.clone(),
            expire_time: None,
        })
        .await
        .unwrap()
        .into_inner();
    let key = response.api_key.clone().expect("api_key");
    let secret = response.secret.clone();

    // crm_<8 chars of [a-z0-9]>_<43 chars of base64url>
    assert!(key.name.starts_with(&format!("{}/apiKeys/", principal.name)), "{key:?}");
    assert_eq!(key.prefix.len(), 8, "{key:?}");
    assert!(
        key.prefix.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()),
        "{key:?}"
    );
    let secret_part = secret
        .strip_prefix(&format!("crm_{}_", key.prefix))
        .unwrap_or_else(|| panic!("the secret starts with crm_<prefix>_: {secret}"));
    assert_eq!(secret_part.len(), 43, "{secret}");
    assert!(
        secret_part
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "{secret}"
    );
    assert!(key.create_time.is_some() && key.expire_time.is_none() && key.revoke_time.is_none());
    // The stored key inside the response holds no secret either.
    assert!(
        !contains(&key.encode_to_vec(), secret_part),
        "ApiKey carries the secret"
    );

    // It works.
    let client = app.access_as(Some(&secret));
    who_am_i(&client).await.expect("the new key works");

    // Listing, by the admin and by the principal itself, shows the key without the secret.
    for lister in [app.access.clone(), client.clone()] {
        let listed = lister
            .clone()
            .list_api_keys(pb::ListApiKeysRequest {
                parent: principal.name.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(listed.api_keys, vec![key.clone()]);
        let bytes = listed.encode_to_vec();
        assert!(!contains(&bytes, &secret), "ListApiKeys returns the secret");
        assert!(!contains(&bytes, secret_part), "ListApiKeys returns the secret part");
        assert!(!format!("{listed:?}").contains(secret_part));
    }
    let me = who_am_i(&client).await.unwrap();
    assert!(!contains(&me.encode_to_vec(), secret_part), "WhoAmI returns the secret");
    let revoked = revoke(&client, &key.name).await.expect("a key may revoke itself");
    assert!(
        !contains(&revoked.encode_to_vec(), secret_part),
        "RevokeApiKey returns the secret"
    );
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle.as_bytes())
}

async fn revoking_twice_keeps_the_first_revoke_time(app: TestApp) {
    let rep = member(&app, "revoke-rep", "", "roles/sales_rep", pb::Scope::Own).await;
    let first = revoke(&app.access, &rep.key.name).await.expect("revoke");
    assert_eq!(first.name, rep.key.name);
    assert_eq!(first.prefix, rep.key.prefix);
    let first_time = first.revoke_time.expect("revoke_time is set");
    assert_unauthenticated(&who_am_i(&rep.access(&app)).await.unwrap_err());

    tokio::time::sleep(Duration::from_millis(20)).await;
    let second = revoke(&app.access, &rep.key.name)
        .await
        .expect("revoking again succeeds");
    assert_eq!(second.revoke_time, Some(first_time), "the first revoke_time stays");
    let listed = app
        .access
        .clone()
        .list_api_keys(pb::ListApiKeysRequest {
            parent: rep.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .api_keys;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].revoke_time, Some(first_time));
    assert_unauthenticated(&who_am_i(&rep.access(&app)).await.unwrap_err());

    // An unknown key under an existing principal is NOT_FOUND for the admin.
    let missing = format!("{}/apiKeys/{}", rep.name, uuid::Uuid::now_v7());
    let status = revoke(&app.access, &missing).await.unwrap_err();
    assert_info(&status, Code::NotFound, "API_KEY_NOT_FOUND", &[("api_key", &missing)]);
}

// ---------------------------------------------------------------------------------------------
// Management
// ---------------------------------------------------------------------------------------------

async fn principals_can_be_created_read_listed_updated_and_deleted(app: TestApp) {
    let mut access = app.access.clone();
    let created = access
        .create_principal(pb::CreatePrincipalRequest {
            principal_id: "li-lei".into(),
            principal: Some(pb::Principal {
                name: "principals/ignored".into(),
                kind: pb::PrincipalKind::User as i32,
                display_name: "  Li Lei  ".into(),
                department: "sales-east".into(),
                staff_level: pb::StaffLevel::Middle as i32,
                disabled: false,
            }),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        created,
        pb::Principal {
            name: "principals/li-lei".into(),
            kind: pb::PrincipalKind::User as i32,
            display_name: "Li Lei".into(),
            department: "sales-east".into(),
            staff_level: pb::StaffLevel::Middle as i32,
            disabled: false,
        }
    );
    let fetched = access
        .get_principal(pb::GetPrincipalRequest {
            name: created.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(fetched, created);

    // Paging: admin plus five more, two at a time, in name order, each once.
    for id in ["order-system", "bob", "carol", "dave"] {
        access
            .create_principal(pb::CreatePrincipalRequest {
                principal_id: id.into(),
                principal: Some(pb::Principal {
                    kind: pb::PrincipalKind::Service as i32,
                    display_name: format!("Service {id}"),
                    ..Default::default()
                }),
            })
            .await
            .unwrap();
    }
    let mut names = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = access
            .list_principals(pb::ListPrincipalsRequest {
                page_size: 2,
                page_token: token.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        assert!(page.principals.len() <= 2, "{page:?}");
        pages += 1;
        names.extend(page.principals.into_iter().map(|p| p.name));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
        assert!(pages < 10, "paging never ends");
    }
    let expected: Vec<String> = ["admin", "bob", "carol", "dave", "li-lei", "order-system"]
        .iter()
        .map(|id| format!("principals/{id}"))
        .collect();
    assert_eq!(names, expected);
    assert_eq!(pages, 3);
    let negative = access
        .list_principals(pb::ListPrincipalsRequest {
            page_size: -1,
            page_token: String::new(),
        })
        .await
        .unwrap_err();
    assert_invalid(&negative, &["page_size"]);

    // Update: only the masked field changes.
    let updated = access
        .update_principal(pb::UpdatePrincipalRequest {
            principal: Some(pb::Principal {
                name: created.name.clone(),
                display_name: "Li Lei (East)".into(),
                department: "ignored-dept".into(),
                ..Default::default()
            }),
            update_mask: mask(&["display_name"]),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.display_name, "Li Lei (East)");
    assert_eq!(updated.department, "sales-east", "an unmasked field stays");
    assert_eq!(updated.staff_level(), pb::StaffLevel::Middle);
    assert_eq!(updated.kind(), pb::PrincipalKind::User);
    // Clearing an optional field through the mask.
    let cleared = access
        .update_principal(pb::UpdatePrincipalRequest {
            principal: Some(pb::Principal {
                name: created.name.clone(),
                ..Default::default()
            }),
            update_mask: mask(&["department"]),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(cleared.department, "");
    assert_eq!(cleared.display_name, "Li Lei (East)");
    // `kind` is immutable.
    let immutable = access
        .update_principal(pb::UpdatePrincipalRequest {
            principal: Some(pb::Principal {
                name: created.name.clone(),
                kind: pb::PrincipalKind::Service as i32,
                ..Default::default()
            }),
            update_mask: mask(&["kind"]),
        })
        .await
        .unwrap_err();
    assert_eq!(immutable.code(), Code::InvalidArgument, "{immutable:?}");
    assert!(!violations(&immutable).is_empty(), "{immutable:?}");
    // Updating a missing principal.
    let missing = access
        .update_principal(pb::UpdatePrincipalRequest {
            principal: Some(pb::Principal {
                name: "principals/nobody".into(),
                display_name: "Nobody".into(),
                ..Default::default()
            }),
            update_mask: mask(&["display_name"]),
        })
        .await
        .unwrap_err();
    assert_info(
        &missing,
        Code::NotFound,
        "PRINCIPAL_NOT_FOUND",
        &[("principal", "principals/nobody")],
    );

    // Delete: its bindings and keys go too, and its keys stop working at once.
    bind(&app, &created.name, "roles/sales_rep", pb::Scope::Own, None).await;
    let (_, secret) = create_key(&app, &created.name, None).await;
    who_am_i(&app.access_as(Some(&secret)))
        .await
        .expect("works before delete");
    access
        .delete_principal(pb::DeletePrincipalRequest {
            name: created.name.clone(),
        })
        .await
        .unwrap();
    assert_unauthenticated(&who_am_i(&app.access_as(Some(&secret))).await.unwrap_err());
    let gone = access
        .get_principal(pb::GetPrincipalRequest {
            name: created.name.clone(),
        })
        .await
        .unwrap_err();
    assert_info(
        &gone,
        Code::NotFound,
        "PRINCIPAL_NOT_FOUND",
        &[("principal", &created.name)],
    );
    let bindings = access
        .list_role_bindings(pb::ListRoleBindingsRequest {
            principal: created.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(bindings.role_bindings.is_empty(), "{bindings:?}");
    let again = access
        .delete_principal(pb::DeletePrincipalRequest {
            name: created.name.clone(),
        })
        .await
        .unwrap_err();
    assert_info(
        &again,
        Code::NotFound,
        "PRINCIPAL_NOT_FOUND",
        &[("principal", &created.name)],
    );
}

async fn invalid_principals_report_every_bad_field(app: TestApp) {
    let status = app
        .access
        .clone()
        .create_principal(pb::CreatePrincipalRequest {
            principal_id: "9-Bad_Id".into(),
            principal: Some(pb::Principal {
                kind: pb::PrincipalKind::Unspecified as i32,
                display_name: " \t ".into(),
                department: "Not A Department!".into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap_err();
    assert_invalid(
        &status,
        &[
            "principal_id",
            "principal.kind",
            "principal.display_name",
            "principal.department",
        ],
    );
    let control = app
        .access
        .clone()
        .create_principal(pb::CreatePrincipalRequest {
            principal_id: "ok-id".into(),
            principal: Some(user("Line\nbreak", "")),
        })
        .await
        .unwrap_err();
    assert_invalid(&control, &["principal.display_name"]);
    let malformed = app
        .access
        .clone()
        .get_principal(pb::GetPrincipalRequest {
            name: "users/bob".into(),
        })
        .await
        .unwrap_err();
    assert_invalid(&malformed, &["name"]);
    // Nothing was stored.
    let listed = app
        .access
        .clone()
        .list_principals(pb::ListPrincipalsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        listed.principals.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
        ["principals/admin"]
    );
}

async fn a_duplicate_principal_already_exists(app: TestApp) {
    create_principal(&app, "twin", "").await;
    let status = app
        .access
        .clone()
        .create_principal(pb::CreatePrincipalRequest {
            principal_id: "twin".into(),
            principal: Some(user("Another twin", "")),
        })
        .await
        .unwrap_err();
    assert_info(
        &status,
        Code::AlreadyExists,
        "PRINCIPAL_ALREADY_EXISTS",
        &[("principal", "principals/twin")],
    );
    let admin = app
        .access
        .clone()
        .create_principal(pb::CreatePrincipalRequest {
            principal_id: "admin".into(),
            principal: Some(user("Fake admin", "")),
        })
        .await
        .unwrap_err();
    assert_info(
        &admin,
        Code::AlreadyExists,
        "PRINCIPAL_ALREADY_EXISTS",
        &[("principal", "principals/admin")],
    );
}

async fn a_role_with_an_unknown_permission_names_its_index(app: TestApp) {
    let status = app
        .access
        .clone()
        .create_role(pb::CreateRoleRequest {
            role_id: "broken".into(),
            role: Some(pb::Role {
                title: "Broken".into(),
                permissions: vec![
                    "customers.get".into(),
                    "customers.fly".into(),
                    "policy.read".into(),
                    "Customers.Get".into(),
                ],
                ..Default::default()
            }),
        })
        .await
        .unwrap_err();
    assert_invalid(&status, &["role.permissions[1]", "role.permissions[3]"]);

    let several = app
        .access
        .clone()
        .create_role(pb::CreateRoleRequest {
            role_id: "9bad id".into(),
            role: Some(pb::Role {
                title: "   ".into(),
                permissions: vec!["nope".into()],
                ..Default::default()
            }),
        })
        .await
        .unwrap_err();
    assert_invalid(&several, &["role_id", "role.title", "role.permissions[0]"]);

    let role = app
        .access
        .clone()
        .get_role(pb::GetRoleRequest {
            name: "roles/broken".into(),
        })
        .await
        .unwrap_err();
    assert_info(&role, Code::NotFound, "ROLE_NOT_FOUND", &[("role", "roles/broken")]);
}

async fn built_in_roles_cannot_be_changed_or_deleted(app: TestApp) {
    let mut access = app.access.clone();
    for id in ["admin", "manager", "sales_rep", "support", "analyst", "auditor"] {
        let name = format!("roles/{id}");
        let role = access
            .get_role(pb::GetRoleRequest { name: name.clone() })
            .await
            .unwrap()
            .into_inner();
        assert!(role.built_in, "{role:?}");
        let update = access
            .update_role(pb::UpdateRoleRequest {
                role: Some(pb::Role {
                    name: name.clone(),
                    title: "Changed".into(),
                    ..Default::default()
                }),
                update_mask: mask(&["title"]),
            })
            .await
            .unwrap_err();
        assert_info(&update, Code::FailedPrecondition, "ROLE_BUILT_IN", &[("role", &name)]);
        let delete = access
            .delete_role(pb::DeleteRoleRequest { name: name.clone() })
            .await
            .unwrap_err();
        assert_info(&delete, Code::FailedPrecondition, "ROLE_BUILT_IN", &[("role", &name)]);
        let create = access
            .create_role(pb::CreateRoleRequest {
                role_id: id.into(),
                role: Some(pb::Role {
                    title: "Shadow".into(),
                    ..Default::default()
                }),
            })
            .await
            .unwrap_err();
        assert_info(&create, Code::AlreadyExists, "ROLE_ALREADY_EXISTS", &[("role", &name)]);
    }
    // The sales_rep role is as the table in access.proto says.
    let sales_rep = access
        .get_role(pb::GetRoleRequest {
            name: "roles/sales_rep".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(sales_rep.title, "Sales representative");
    assert_eq!(
        sales_rep.permissions,
        [
            "customers.get",
            "customers.list",
            "customers.create",
            "customers.update",
            "customers.read_contact",
            "activity.record",
            "policy.read",
        ]
    );
}

async fn custom_roles_can_be_created_read_listed_updated_and_deleted(app: TestApp) {
    let mut access = app.access.clone();
    let created = access
        .create_role(pb::CreateRoleRequest {
            role_id: "key_account_lead".into(),
            role: Some(pb::Role {
                name: "roles/ignored".into(),
                title: "  Key account lead ".into(),
                permissions: vec!["customers.get".into(), "policy.read".into()],
                built_in: true,
            }),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        created,
        pb::Role {
            name: "roles/key_account_lead".into(),
            title: "Key account lead".into(),
            permissions: vec!["customers.get".into(), "policy.read".into()],
            built_in: false,
        }
    );
    let fetched = access
        .get_role(pb::GetRoleRequest {
            name: created.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(fetched, created);

    // Listed with the six built-in roles, by name, two per page.
    let mut names = Vec::new();
    let mut token = String::new();
    loop {
        let page = access
            .list_roles(pb::ListRolesRequest {
                page_size: 2,
                page_token: token.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        assert!(page.roles.len() <= 2);
        names.extend(page.roles.into_iter().map(|r| r.name));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let expected: Vec<String> = [
        "admin",
        "analyst",
        "auditor",
        "key_account_lead",
        "manager",
        "sales_rep",
        "support",
    ]
    .iter()
    .map(|id| format!("roles/{id}"))
    .collect();
    assert_eq!(names, expected);

    // A binding of the role grants what the role holds, and follows a change of the role at once.
    let lead = create_principal(&app, "lead", "").await;
    bind(&app, &lead.name, &created.name, pb::Scope::All, None).await;
    let target = customer(&app, "lead-target", "", "").await;
    let before = check(&access, &lead.name, "customers.update", &target.name)
        .await
        .unwrap();
    assert_decision(
        &before,
        pb::DecisionReasonCode::NoBindingWithPermission,
        "",
        "",
        pb::Scope::Unspecified,
    );
    let updated = access
        .update_role(pb::UpdateRoleRequest {
            role: Some(pb::Role {
                name: created.name.clone(),
                title: "Ignored title".into(),
                permissions: vec![
                    "customers.update".into(),
                    "customers.get".into(),
                    "customers.update".into(),
                ],
                ..Default::default()
            }),
            update_mask: mask(&["permissions"]),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.title, "Key account lead", "an unmasked field stays");
    // A set, in the order of the permission list (access.proto), whatever the order given.
    assert_eq!(updated.permissions, ["customers.get", "customers.update"]);
    let after = check(&access, &lead.name, "customers.update", &target.name)
        .await
        .unwrap();
    assert!(after.allowed, "{after:?}");
    let unknown_permission = access
        .update_role(pb::UpdateRoleRequest {
            role: Some(pb::Role {
                name: created.name.clone(),
                permissions: vec!["customers.get".into(), "customers.teleport".into()],
                ..Default::default()
            }),
            update_mask: mask(&["permissions"]),
        })
        .await
        .unwrap_err();
    assert_invalid(&unknown_permission, &["role.permissions[1]"]);

    // Deleted: gone, and its binding grants nothing.
    access
        .delete_role(pb::DeleteRoleRequest {
            name: created.name.clone(),
        })
        .await
        .unwrap();
    let gone = access
        .get_role(pb::GetRoleRequest {
            name: created.name.clone(),
        })
        .await
        .unwrap_err();
    assert_info(&gone, Code::NotFound, "ROLE_NOT_FOUND", &[("role", &created.name)]);
    let denied = check(&access, &lead.name, "customers.update", &target.name)
        .await
        .unwrap();
    assert!(!denied.allowed, "{denied:?}");
    let bindings = access
        .list_role_bindings(pb::ListRoleBindingsRequest {
            principal: lead.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .role_bindings;
    assert_eq!(bindings.len(), 1, "the binding stays: {bindings:?}");
    for status in [
        access
            .delete_role(pb::DeleteRoleRequest {
                name: created.name.clone(),
            })
            .await
            .unwrap_err(),
        access
            .update_role(pb::UpdateRoleRequest {
                role: Some(pb::Role {
                    name: created.name.clone(),
                    title: "Back".into(),
                    ..Default::default()
                }),
                update_mask: mask(&["title"]),
            })
            .await
            .unwrap_err(),
    ] {
        assert_info(&status, Code::NotFound, "ROLE_NOT_FOUND", &[("role", &created.name)]);
    }
}

async fn a_binding_needs_an_existing_role_and_principal(app: TestApp) {
    let principal = create_principal(&app, "binder", "").await;
    let create = |principal: &str, role: &str, scope: pb::Scope| {
        let mut access = app.access.clone();
        let binding = pb::RoleBinding {
            principal: principal.to_owned(),
            role: role.to_owned(),
            scope: scope as i32,
            ..Default::default()
        };
        async move {
            access
                .create_role_binding(pb::CreateRoleBindingRequest {
                    role_binding: Some(binding),
                })
                .await
        }
    };
    let unknown_role = create(&principal.name, "roles/wizard", pb::Scope::All)
        .await
        .unwrap_err();
    assert_info(
        &unknown_role,
        Code::NotFound,
        "ROLE_NOT_FOUND",
        &[("role", "roles/wizard")],
    );
    let unknown_principal = create("principals/ghost", "roles/support", pb::Scope::All)
        .await
        .unwrap_err();
    assert_info(
        &unknown_principal,
        Code::NotFound,
        "PRINCIPAL_NOT_FOUND",
        &[("principal", "principals/ghost")],
    );
    let invalid = create("ghost", "wizard", pb::Scope::Unspecified).await.unwrap_err();
    assert_invalid(
        &invalid,
        &["role_binding.principal", "role_binding.role", "role_binding.scope"],
    );

    // A good one: named roleBindings/{uuid}, readable, listed, deletable.
    let binding = create(&principal.name, "roles/support", pb::Scope::Department)
        .await
        .unwrap()
        .into_inner();
    let id = binding.name.strip_prefix("roleBindings/").expect("roleBindings/{uuid}");
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{binding:?}");
    assert_eq!(binding.principal, principal.name);
    assert_eq!(binding.role, "roles/support");
    assert_eq!(binding.scope(), pb::Scope::Department);
    let mut access = app.access.clone();
    let fetched = access
        .get_role_binding(pb::GetRoleBindingRequest {
            name: binding.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(fetched, binding);
    access
        .delete_role_binding(pb::DeleteRoleBindingRequest {
            name: binding.name.clone(),
        })
        .await
        .unwrap();
    let gone = access
        .get_role_binding(pb::GetRoleBindingRequest {
            name: binding.name.clone(),
        })
        .await
        .unwrap_err();
    assert_info(
        &gone,
        Code::NotFound,
        "ROLE_BINDING_NOT_FOUND",
        &[("role_binding", &binding.name)],
    );
}

async fn management_needs_access_manage(app: TestApp) {
    let rep = member(&app, "plain-rep", "", "roles/sales_rep", pb::Scope::All).await;
    let other = create_principal(&app, "other", "").await;
    let mut access = rep.access(&app);

    let create = access
        .create_principal(pb::CreatePrincipalRequest {
            principal_id: "sneaky".into(),
            principal: Some(user("Sneaky", "")),
        })
        .await
        .unwrap_err();
    assert_info(
        &create,
        Code::PermissionDenied,
        "PERMISSION_DENIED",
        &[("permission", "access.manage")],
    );
    // Nothing was created.
    let sneaky = app
        .access
        .clone()
        .get_principal(pb::GetPrincipalRequest {
            name: "principals/sneaky".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(sneaky.code(), Code::NotFound);

    // Another principal, existing or not, is PERMISSION_DENIED alike (AIP-211).
    for name in [other.name.as_str(), "principals/nobody"] {
        let get = access
            .get_principal(pb::GetPrincipalRequest { name: name.to_owned() })
            .await
            .unwrap_err();
        assert_info(
            &get,
            Code::PermissionDenied,
            "PERMISSION_DENIED",
            &[("permission", "access.manage"), ("resource", name)],
        );
        let keys = access
            .list_api_keys(pb::ListApiKeysRequest {
                parent: name.to_owned(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_info(
            &keys,
            Code::PermissionDenied,
            "PERMISSION_DENIED",
            &[("permission", "access.manage")],
        );
        let new_key = access
            .create_api_key(pb::CreateApiKeyRequest {
                parent: name.to_owned(),
                expire_time: None,
            })
            .await
            .unwrap_err();
        assert_info(
            &new_key,
            Code::PermissionDenied,
            "PERMISSION_DENIED",
            &[("permission", "access.manage")],
        );
    }
    let admin_key = app
        .access
        .clone()
        .list_api_keys(pb::ListApiKeysRequest {
            parent: "principals/admin".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .api_keys
        .remove(0);
    let revoke_other = revoke(&access, &admin_key.name).await.unwrap_err();
    assert_info(
        &revoke_other,
        Code::PermissionDenied,
        "PERMISSION_DENIED",
        &[("permission", "access.manage")],
    );
    who_am_i(&app.access).await.expect("the admin key was not revoked");

    let listing = access
        .list_principals(pb::ListPrincipalsRequest::default())
        .await
        .unwrap_err();
    assert_info(
        &listing,
        Code::PermissionDenied,
        "PERMISSION_DENIED",
        &[("permission", "access.manage")],
    );
    let role = access
        .create_role(pb::CreateRoleRequest {
            role_id: "mine".into(),
            role: Some(pb::Role {
                title: "Mine".into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap_err();
    assert_info(
        &role,
        Code::PermissionDenied,
        "PERMISSION_DENIED",
        &[("permission", "access.manage")],
    );
    let escalate = access
        .create_role_binding(pb::CreateRoleBindingRequest {
            role_binding: Some(pb::RoleBinding {
                principal: rep.name.clone(),
                role: "roles/admin".into(),
                scope: pb::Scope::All as i32,
                ..Default::default()
            }),
        })
        .await
        .unwrap_err();
    assert_info(
        &escalate,
        Code::PermissionDenied,
        "PERMISSION_DENIED",
        &[("permission", "access.manage")],
    );
    let all_bindings = access
        .list_role_bindings(pb::ListRoleBindingsRequest::default())
        .await
        .unwrap_err();
    assert_info(
        &all_bindings,
        Code::PermissionDenied,
        "PERMISSION_DENIED",
        &[("permission", "access.manage")],
    );
    let disable_other = access
        .update_principal(pb::UpdatePrincipalRequest {
            principal: Some(pb::Principal {
                name: other.name.clone(),
                disabled: true,
                ..Default::default()
            }),
            update_mask: mask(&["disabled"]),
        })
        .await
        .unwrap_err();
    assert_info(
        &disable_other,
        Code::PermissionDenied,
        "PERMISSION_DENIED",
        &[("permission", "access.manage")],
    );

    // What needs only authentication.
    access
        .get_role(pb::GetRoleRequest {
            name: "roles/admin".into(),
        })
        .await
        .expect("GetRole needs no permission");
    access
        .list_roles(pb::ListRolesRequest::default())
        .await
        .expect("ListRoles needs no permission");
    let mine = access
        .list_role_bindings(pb::ListRoleBindingsRequest {
            principal: rep.name.clone(),
            ..Default::default()
        })
        .await
        .expect("one's own bindings need no permission")
        .into_inner();
    assert_eq!(mine.role_bindings, vec![rep.binding.clone()]);
}

async fn anyone_may_manage_its_own_keys_and_ask_who_it_is(app: TestApp) {
    // A principal with no binding at all.
    let principal = create_principal(&app, "self-service", "").await;
    let (first, secret) = create_key(&app, &principal.name, None).await;
    let mut access = app.access_as(Some(&secret));

    let me = who_am_i(&access).await.unwrap();
    assert_eq!(me.principal.as_ref(), Some(&principal));
    assert_eq!(me.api_key, first.name);
    assert!(me.permissions.is_empty(), "{me:?}");
    let own = access
        .get_principal(pb::GetPrincipalRequest {
            name: principal.name.clone(),
        })
        .await
        .expect("a principal may read itself")
        .into_inner();
    assert_eq!(own, principal);

    let second = access
        .create_api_key(pb::CreateApiKeyRequest {
            parent: principal.name.clone(),
            expire_time: Some(timestamp_in(Duration::from_secs(3600))),
        })
        .await
        .expect("a principal may create its own keys")
        .into_inner();
    let second_key = second.api_key.clone().unwrap();
    let listed = access
        .list_api_keys(pb::ListApiKeysRequest {
            parent: principal.name.clone(),
            ..Default::default()
        })
        .await
        .expect("a principal may list its own keys")
        .into_inner()
        .api_keys;
    assert_eq!(
        listed,
        vec![first.clone(), second_key.clone()],
        "ordered by name (creation)"
    );
    let paged = access
        .list_api_keys(pb::ListApiKeysRequest {
            parent: principal.name.clone(),
            page_size: 1,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(paged.api_keys, vec![first.clone()]);
    assert!(!paged.next_page_token.is_empty());

    // Revoke the first key with the second; the first stops, the second keeps working.
    let second_client = app.access_as(Some(&second.secret));
    let revoked = revoke(&second_client, &first.name)
        .await
        .expect("a principal may revoke its own keys");
    assert!(revoked.revoke_time.is_some());
    assert_unauthenticated(&who_am_i(&access).await.unwrap_err());
    let me = who_am_i(&second_client).await.unwrap();
    assert_eq!(me.api_key, second_key.name);
    // A missing key of its own is NOT_FOUND.
    let missing = format!("{}/apiKeys/{}", principal.name, uuid::Uuid::now_v7());
    let status = revoke(&second_client, &missing).await.unwrap_err();
    assert_info(&status, Code::NotFound, "API_KEY_NOT_FOUND", &[("api_key", &missing)]);
    // And it may revoke the key it calls with.
    revoke(&second_client, &second_key.name)
        .await
        .expect("revoke the calling key");
    assert_unauthenticated(&who_am_i(&second_client).await.unwrap_err());
    access = app.access.clone();
    let all = access
        .list_api_keys(pb::ListApiKeysRequest {
            parent: principal.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .api_keys;
    assert_eq!(all.len(), 2);
    assert!(all.iter().all(|k| k.revoke_time.is_some()), "{all:?}");
}

async fn an_admin_cannot_lock_itself_out(app: TestApp) {
    let mut access = app.access.clone();
    let disable_self = access
        .update_principal(pb::UpdatePrincipalRequest {
            principal: Some(pb::Principal {
                name: "principals/admin".into(),
                disabled: true,
                ..Default::default()
            }),
            update_mask: mask(&["disabled"]),
        })
        .await
        .unwrap_err();
    assert_info(
        &disable_self,
        Code::FailedPrecondition,
        "SELF_LOCKOUT",
        &[("principal", "principals/admin")],
    );
    let delete_self = access
        .delete_principal(pb::DeletePrincipalRequest {
            name: "principals/admin".into(),
        })
        .await
        .unwrap_err();
    assert_info(
        &delete_self,
        Code::FailedPrecondition,
        "SELF_LOCKOUT",
        &[("principal", "principals/admin")],
    );
    let me = who_am_i(&access).await.expect("still works");
    assert!(!me.principal.unwrap().disabled);

    // Another admin may disable the first one.
    let second = member(&app, "second-admin", "", "roles/admin", pb::Scope::All).await;
    second
        .access(&app)
        .update_principal(pb::UpdatePrincipalRequest {
            principal: Some(pb::Principal {
                name: "principals/admin".into(),
                disabled: true,
                ..Default::default()
            }),
            update_mask: mask(&["disabled"]),
        })
        .await
        .expect("another admin may disable it");
    assert_unauthenticated(&who_am_i(&access).await.unwrap_err());
}

// ---------------------------------------------------------------------------------------------
// WhoAmI
// ---------------------------------------------------------------------------------------------

fn effective(pairs: &[(&str, pb::Scope)]) -> Vec<pb::EffectivePermission> {
    pairs
        .iter()
        .map(|(permission, scope)| pb::EffectivePermission {
            permission: (*permission).to_owned(),
            scope: *scope as i32,
        })
        .collect()
}

async fn who_am_i_lists_a_sales_reps_effective_permissions(app: TestApp) {
    let rep = member(&app, "whoami-rep", "sales-east", "roles/sales_rep", pb::Scope::Own).await;
    let me = who_am_i(&rep.access(&app)).await.unwrap();
    let principal = me.principal.clone().expect("principal");
    assert_eq!(principal.name, rep.name);
    assert_eq!(principal.department, "sales-east");
    assert_eq!(me.api_key, rep.key.name);
    // roles.md, column sales_rep, bound with scope OWN: customer-scoped permissions with OWN,
    // the global one (policy.read) with ALL; in the order of the permission list.
    assert_eq!(
        me.permissions,
        effective(&[
            ("customers.get", pb::Scope::Own),
            ("customers.list", pb::Scope::Own),
            ("customers.create", pb::Scope::Own),
            ("customers.update", pb::Scope::Own),
            ("customers.read_contact", pb::Scope::Own),
            ("activity.record", pb::Scope::Own),
            ("policy.read", pb::Scope::All),
        ])
    );

    // A second binding, support with DEPARTMENT: both scopes listed, DEPARTMENT before OWN.
    bind(&app, &rep.name, "roles/support", pb::Scope::Department, None).await;
    let me = who_am_i(&rep.access(&app)).await.unwrap();
    assert_eq!(
        me.permissions,
        effective(&[
            ("customers.get", pb::Scope::Department),
            ("customers.get", pb::Scope::Own),
            ("customers.list", pb::Scope::Department),
            ("customers.list", pb::Scope::Own),
            ("customers.create", pb::Scope::Own),
            ("customers.update", pb::Scope::Own),
            ("customers.read_contact", pb::Scope::Department),
            ("customers.read_contact", pb::Scope::Own),
            ("activity.record", pb::Scope::Department),
            ("activity.record", pb::Scope::Own),
            ("policy.read", pb::Scope::All),
        ])
    );

    // Without a department, a DEPARTMENT binding is left out; an expired binding counts not.
    let nomad = member(&app, "nomad", "", "roles/analyst", pb::Scope::Department).await;
    let expire_time = timestamp_in(Duration::from_millis(300));
    bind(&app, &nomad.name, "roles/auditor", pb::Scope::All, Some(expire_time)).await;
    sleep_past(expire_time, Duration::from_millis(300)).await;
    let me = who_am_i(&nomad.access(&app)).await.unwrap();
    assert_eq!(me.permissions, effective(&[("policy.read", pb::Scope::All)]));
}

async fn who_am_i_lists_every_permission_of_the_admin_with_scope_all(app: TestApp) {
    let me = who_am_i(&app.access).await.unwrap();
    assert_eq!(me.principal.unwrap().name, "principals/admin");
    assert!(me.api_key.starts_with("principals/admin/apiKeys/"), "{}", me.api_key);
    let all: Vec<(&str, pb::Scope)> = [
        "customers.get",
        "customers.list",
        "customers.create",
        "customers.update",
        "customers.delete",
        "customers.read_contact",
        "customers.reassign",
        "activity.record",
        "classification.override",
        "classification.run",
        "policy.read",
        "policy.write",
        "access.check",
        "access.manage",
        "audit.read",
    ]
    .into_iter()
    .map(|p| (p, pb::Scope::All))
    .collect();
    assert_eq!(me.permissions, effective(&all));
}

// ---------------------------------------------------------------------------------------------
// CheckPermission
// ---------------------------------------------------------------------------------------------

async fn check_granted_names_the_binding_role_and_scope(app: TestApp) {
    let rep = member(&app, "granted-rep", "sales-east", "roles/sales_rep", pb::Scope::Own).await;
    let mine = customer(&app, "granted-mine", &rep.name, "").await;
    // Asked by the principal itself (principal empty) and by the admin about it.
    for (client, principal) in [(rep.access(&app), ""), (app.access.clone(), rep.name.as_str())] {
        let decision = check(&client, principal, "customers.update", &mine.name).await.unwrap();
        assert_decision(
            &decision,
            pb::DecisionReasonCode::Granted,
            &rep.binding.name,
            "roles/sales_rep",
            pb::Scope::Own,
        );
    }
    // The principal naming itself explicitly is asking about itself too.
    let decision = check(&rep.access(&app), &rep.name, "customers.get", &mine.name)
        .await
        .expect("asking about oneself by name needs no permission");
    assert!(decision.allowed, "{decision:?}");
    // The decision matches what a real request gets.
    app.customers_as(Some(&rep.secret))
        .get_customer(pb::GetCustomerRequest {
            name: mine.name.clone(),
        })
        .await
        .expect("the granted read works");
    // When two bindings grant, the first by name is named.
    let later = bind(&app, &rep.name, "roles/manager", pb::Scope::All, None).await;
    assert!(later.name > rep.binding.name);
    let decision = check(&rep.access(&app), "", "customers.get", &mine.name).await.unwrap();
    assert_eq!(decision.reason.unwrap().role_binding, rep.binding.name);
}

async fn check_without_a_binding_holding_the_permission(app: TestApp) {
    let rep = member(&app, "nobind-rep", "", "roles/sales_rep", pb::Scope::All).await;
    let target = customer(&app, "nobind-target", &rep.name, "").await;
    let decision = check(&rep.access(&app), "", "customers.delete", &target.name)
        .await
        .unwrap();
    assert_decision(
        &decision,
        pb::DecisionReasonCode::NoBindingWithPermission,
        "",
        "",
        pb::Scope::Unspecified,
    );
    let denied = app
        .customers_as(Some(&rep.secret))
        .delete_customer(pb::DeleteCustomerRequest {
            name: target.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_info(
        &denied,
        Code::PermissionDenied,
        "PERMISSION_DENIED",
        &[("permission", "customers.delete"), ("resource", &target.name)],
    );
}

async fn check_out_of_scope_for_another_departments_customer(app: TestApp) {
    let manager = member(&app, "east-manager", "east", "roles/manager", pb::Scope::Department).await;
    let east = customer(&app, "east-co", "", "east").await;
    let west = customer(&app, "west-co", "principals/someone-west", "west").await;
    let granted = check(&manager.access(&app), "", "customers.update", &east.name)
        .await
        .unwrap();
    assert_decision(
        &granted,
        pb::DecisionReasonCode::Granted,
        &manager.binding.name,
        "roles/manager",
        pb::Scope::Department,
    );
    let decision = check(&manager.access(&app), "", "customers.update", &west.name)
        .await
        .unwrap();
    assert_decision(
        &decision,
        pb::DecisionReasonCode::OutOfScope,
        &manager.binding.name,
        "roles/manager",
        pb::Scope::Department,
    );
    // Nothing about the customer itself is told.
    let explanation = decision.reason.unwrap().explanation;
    assert!(
        !explanation.contains("west") && !explanation.contains("someone"),
        "{explanation}"
    );
    let denied = app
        .customers_as(Some(&manager.secret))
        .get_customer(pb::GetCustomerRequest {
            name: west.name.clone(),
        })
        .await
        .unwrap_err();
    assert_info(
        &denied,
        Code::PermissionDenied,
        "PERMISSION_DENIED",
        &[("permission", "customers.get"), ("resource", &west.name)],
    );
}

async fn check_a_disabled_principal(app: TestApp) {
    let rep = member(&app, "disabled-rep", "", "roles/sales_rep", pb::Scope::All).await;
    let target = customer(&app, "disabled-target", &rep.name, "").await;
    disable(&app, &rep.name, true).await;
    let decision = check(&app.access, &rep.name, "customers.get", &target.name)
        .await
        .unwrap();
    assert_decision(
        &decision,
        pb::DecisionReasonCode::PrincipalDisabled,
        "",
        "",
        pb::Scope::Unspecified,
    );
    let global = check(&app.access, &rep.name, "policy.read", "").await.unwrap();
    assert_eq!(global.reason.unwrap().code(), pb::DecisionReasonCode::PrincipalDisabled);
}

async fn check_an_expired_binding(app: TestApp) {
    let principal = create_principal(&app, "expired-rep", "").await;
    let target = customer(&app, "expired-target", "", "").await;
    let expire_time = timestamp_in(Duration::from_secs(2));
    let binding = bind(
        &app,
        &principal.name,
        "roles/sales_rep",
        pb::Scope::All,
        Some(expire_time),
    )
    .await;
    assert!(binding.expire_time.is_some());
    let live = check(&app.access, &principal.name, "customers.get", &target.name)
        .await
        .unwrap();
    assert!(live.allowed, "live before it expires: {live:?}");
    sleep_past(expire_time, Duration::from_millis(300)).await;
    let decision = check(&app.access, &principal.name, "customers.get", &target.name)
        .await
        .unwrap();
    assert_decision(
        &decision,
        pb::DecisionReasonCode::BindingExpired,
        &binding.name,
        "roles/sales_rep",
        pb::Scope::Unspecified,
    );
    // A permission the expired binding never held is NO_BINDING_WITH_PERMISSION.
    let never = check(&app.access, &principal.name, "customers.delete", &target.name)
        .await
        .unwrap();
    assert_eq!(
        never.reason.unwrap().code(),
        pb::DecisionReasonCode::NoBindingWithPermission
    );
    // The expired binding is still listed.
    let fetched = app
        .access
        .clone()
        .get_role_binding(pb::GetRoleBindingRequest {
            name: binding.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(fetched, binding);
}

async fn check_a_missing_customer_depends_on_the_scope(app: TestApp) {
    let missing = "customers/never-created";
    // The admin holds customers.get with scope ALL: it may learn the customer does not exist.
    let decision = check(&app.access, "", "customers.get", missing).await.unwrap();
    assert_decision(
        &decision,
        pb::DecisionReasonCode::CustomerNotFound,
        "",
        "",
        pb::Scope::Unspecified,
    );
    // A DEPARTMENT-scoped principal gets what an existing customer outside its scope would get.
    let manager = member(&app, "dept-manager", "east", "roles/manager", pb::Scope::Department).await;
    let west = customer(&app, "west-existing", "", "west").await;
    for (client, principal) in [(manager.access(&app), ""), (app.access.clone(), manager.name.as_str())] {
        let for_missing = check(&client, principal, "customers.get", missing).await.unwrap();
        let for_existing = check(&client, principal, "customers.get", &west.name).await.unwrap();
        assert_decision(
            &for_missing,
            pb::DecisionReasonCode::OutOfScope,
            &manager.binding.name,
            "roles/manager",
            pb::Scope::Department,
        );
        assert_eq!(
            for_missing, for_existing,
            "a missing customer must look like an existing one out of scope"
        );
    }
    // And a real read agrees: PERMISSION_DENIED whether or not it exists.
    for name in [missing, west.name.as_str()] {
        let status = app
            .customers_as(Some(&manager.secret))
            .get_customer(pb::GetCustomerRequest { name: name.to_owned() })
            .await
            .unwrap_err();
        assert_info(
            &status,
            Code::PermissionDenied,
            "PERMISSION_DENIED",
            &[("permission", "customers.get"), ("resource", name)],
        );
    }
}

async fn check_a_missing_principal(app: TestApp) {
    let decision = check(&app.access, "principals/nobody", "customers.get", "customers/anything")
        .await
        .unwrap();
    assert_decision(
        &decision,
        pb::DecisionReasonCode::PrincipalNotFound,
        "",
        "",
        pb::Scope::Unspecified,
    );
    let global = check(&app.access, "principals/nobody", "policy.read", "")
        .await
        .unwrap();
    assert_eq!(global.reason.unwrap().code(), pb::DecisionReasonCode::PrincipalNotFound);
}

async fn checking_oneself_needs_no_permission_but_others_need_access_check(app: TestApp) {
    // No binding at all: may still ask about itself.
    let loner = create_principal(&app, "loner", "").await;
    let (_, secret) = create_key(&app, &loner.name, None).await;
    let client = app.access_as(Some(&secret));
    let decision = check(&client, "", "customers.get", "customers/whatever").await.unwrap();
    assert_decision(
        &decision,
        pb::DecisionReasonCode::NoBindingWithPermission,
        "",
        "",
        pb::Scope::Unspecified,
    );
    // Asking about another principal (existing or not) needs access.check.
    let rep = member(&app, "asker-rep", "", "roles/sales_rep", pb::Scope::All).await;
    for subject in ["principals/admin", loner.name.as_str(), "principals/nobody"] {
        let status = check(&rep.access(&app), subject, "customers.get", "customers/whatever")
            .await
            .unwrap_err();
        assert_info(
            &status,
            Code::PermissionDenied,
            "ACCESS_CHECK_REQUIRED",
            &[("permission", "access.check")],
        );
    }
    // The admin holds access.check; so does a custom role made for a backend service.
    let decision = check(&app.access, &rep.name, "customers.get", "customers/whatever")
        .await
        .unwrap();
    assert_eq!(
        decision.reason.unwrap().code(),
        pb::DecisionReasonCode::CustomerNotFound
    );
    app.access
        .clone()
        .create_role(pb::CreateRoleRequest {
            role_id: "checker".into(),
            role: Some(pb::Role {
                title: "Access checker".into(),
                permissions: vec!["access.check".into()],
                ..Default::default()
            }),
        })
        .await
        .unwrap();
    let service = member(&app, "order-system", "", "roles/checker", pb::Scope::All).await;
    let on_behalf = check(
        &service.access(&app),
        &rep.name,
        "customers.update",
        "customers/whatever",
    )
    .await
    .expect("access.check lets it ask about others");
    assert_eq!(
        on_behalf.reason.unwrap().code(),
        pb::DecisionReasonCode::CustomerNotFound
    );
}

async fn check_a_global_permission_without_a_customer(app: TestApp) {
    let rep = member(&app, "global-rep", "", "roles/sales_rep", pb::Scope::Own).await;
    let decision = check(&rep.access(&app), "", "policy.read", "").await.unwrap();
    assert_decision(
        &decision,
        pb::DecisionReasonCode::Granted,
        &rep.binding.name,
        "roles/sales_rep",
        pb::Scope::Own,
    );
    // A customer given with a global permission is ignored.
    let ignored = check(&rep.access(&app), "", "policy.read", "customers/whatever")
        .await
        .unwrap();
    assert!(ignored.allowed, "{ignored:?}");
    let denied = check(&rep.access(&app), "", "policy.write", "").await.unwrap();
    assert_decision(
        &denied,
        pb::DecisionReasonCode::NoBindingWithPermission,
        "",
        "",
        pb::Scope::Unspecified,
    );
    let support = member(&app, "global-support", "", "roles/support", pb::Scope::All).await;
    let decision = check(&support.access(&app), "", "policy.read", "").await.unwrap();
    assert_eq!(
        decision.reason.unwrap().code(),
        pb::DecisionReasonCode::NoBindingWithPermission
    );
}

async fn check_rejects_invalid_arguments_by_field(app: TestApp) {
    for permission in ["customers.fly", "", "CUSTOMERS.GET", " customers.get"] {
        let status = check(&app.access, "", permission, "customers/acme").await.unwrap_err();
        assert_invalid(&status, &["permission"]);
    }
    let customer_missing = check(&app.access, "", "customers.get", "").await.unwrap_err();
    assert_invalid(&customer_missing, &["customer"]);
    let customer_malformed = check(&app.access, "", "customers.get", "accounts/acme")
        .await
        .unwrap_err();
    assert_invalid(&customer_malformed, &["customer"]);
    let principal_malformed = check(&app.access, "bob", "customers.get", "customers/acme")
        .await
        .unwrap_err();
    assert_invalid(&principal_malformed, &["principal"]);
}

// ---------------------------------------------------------------------------------------------
// BatchCheckPermissions
// ---------------------------------------------------------------------------------------------

fn item(correlation_id: &str, principal: &str, permission: &str, customer: &str) -> pb::CheckPermissionItem {
    pb::CheckPermissionItem {
        correlation_id: correlation_id.to_owned(),
        principal: principal.to_owned(),
        permission: permission.to_owned(),
        customer: customer.to_owned(),
    }
}

async fn batch_check_answers_each_item_in_order(app: TestApp) {
    use pb::check_permission_result::Result as Answer;

    let rep = member(&app, "batch-rep", "", "roles/sales_rep", pb::Scope::Own).await;
    let mine = customer(&app, "batch-mine", &rep.name, "").await;
    let theirs = customer(&app, "batch-theirs", "principals/else", "").await;
    let items = vec![
        item("allowed", "", "customers.get", &mine.name),
        item("denied", "", "customers.delete", &mine.name),
        item("bad-permission", "", "customers.fly", &mine.name),
        item("bad-customer", "", "customers.get", "customers/Not_Valid!"),
        item("unknown-customer", "", "customers.get", "customers/never-was"),
        item("out-of-scope", "", "customers.get", &theirs.name),
        item("other-principal", "principals/admin", "customers.get", &mine.name),
        item("", &rep.name, "policy.read", ""),
        item("allowed", "", "customers.get", &mine.name),
    ];
    let results = rep
        .access(&app)
        .batch_check_permissions(pb::BatchCheckPermissionsRequest { items: items.clone() })
        .await
        .unwrap()
        .into_inner()
        .results;
    assert_eq!(results.len(), items.len());
    let ids: Vec<&str> = results.iter().map(|r| r.correlation_id.as_str()).collect();
    assert_eq!(
        ids,
        items.iter().map(|i| i.correlation_id.as_str()).collect::<Vec<_>>(),
        "results in item order, correlation ids unchanged"
    );
    let decision = |i: usize| match &results[i].result {
        Some(Answer::Decision(decision)) => decision.clone(),
        other => panic!("item {i} should be a decision, is {other:?}"),
    };
    let error = |i: usize| match &results[i].result {
        Some(Answer::Error(error)) => error.clone(),
        other => panic!("item {i} should be an error, is {other:?}"),
    };
    assert_decision(
        &decision(0),
        pb::DecisionReasonCode::Granted,
        &rep.binding.name,
        "roles/sales_rep",
        pb::Scope::Own,
    );
    assert_decision(
        &decision(1),
        pb::DecisionReasonCode::NoBindingWithPermission,
        "",
        "",
        pb::Scope::Unspecified,
    );
    let bad_permission = error(2);
    assert_eq!((bad_permission.code, bad_permission.field.as_str()), (3, "permission"));
    assert!(!bad_permission.message.is_empty());
    let bad_customer = error(3);
    assert_eq!((bad_customer.code, bad_customer.field.as_str()), (3, "customer"));
    // Unknown customer, OWN scope: the same answer as an existing customer out of scope.
    assert_decision(
        &decision(4),
        pb::DecisionReasonCode::OutOfScope,
        &rep.binding.name,
        "roles/sales_rep",
        pb::Scope::Own,
    );
    assert_eq!(decision(4), decision(5));
    let other = error(6);
    assert_eq!((other.code, other.field.as_str()), (7, ""));
    assert!(!other.message.is_empty());
    assert!(decision(7).allowed, "asking about oneself by name");
    assert_eq!(decision(8), decision(0), "the same question may appear twice");

    // Each item agrees with CheckPermission.
    for (i, it) in items.iter().enumerate() {
        let single = check(&rep.access(&app), &it.principal, &it.permission, &it.customer).await;
        match (&results[i].result, single) {
            (Some(Answer::Decision(d)), Ok(s)) => assert_eq!(d, &s, "item {i}"),
            (Some(Answer::Error(e)), Err(s)) => assert_eq!(e.code, s.code() as i32, "item {i}"),
            (batch, single) => panic!("item {i}: batch {batch:?} vs single {single:?}"),
        }
    }

    // The admin may ask about others in a batch.
    let results = app
        .access
        .clone()
        .batch_check_permissions(pb::BatchCheckPermissionsRequest {
            items: vec![item("x", &rep.name, "customers.update", &mine.name)],
        })
        .await
        .unwrap()
        .into_inner()
        .results;
    assert!(
        matches!(&results[0].result, Some(Answer::Decision(d)) if d.allowed),
        "{results:?}"
    );
}

async fn batch_check_needs_1_to_1000_items(app: TestApp) {
    let mut access = app.access.clone();
    let none = access
        .batch_check_permissions(pb::BatchCheckPermissionsRequest { items: vec![] })
        .await
        .unwrap_err();
    assert_invalid(&none, &["items"]);
    let question = item("q", "", "policy.read", "");
    let too_many = access
        .batch_check_permissions(pb::BatchCheckPermissionsRequest {
            items: vec![question.clone(); 1001],
        })
        .await
        .unwrap_err();
    assert_invalid(&too_many, &["items"]);
    let most = access
        .batch_check_permissions(pb::BatchCheckPermissionsRequest {
            items: vec![question; 1000],
        })
        .await
        .expect("1000 items are allowed")
        .into_inner();
    assert_eq!(most.results.len(), 1000);
}

// ---------------------------------------------------------------------------------------------
// Audit
// ---------------------------------------------------------------------------------------------

fn audit_request() -> pb::ListAuditEventsRequest {
    pb::ListAuditEventsRequest {
        page_size: 1000,
        ..Default::default()
    }
}

async fn changes_and_denials_are_audited_and_filterable(app: TestApp) {
    let target = customer(&app, "audited-co", "principals/someone", "").await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let start = SystemTime::now();
    tokio::time::sleep(Duration::from_millis(20)).await;

    // Mutations by the admin.
    let rep = member(&app, "audit-rep", "", "roles/sales_rep", pb::Scope::Own).await;
    let mut changed = target.clone();
    changed.display_name = "Audited Co (renamed)".into();
    app.customers
        .clone()
        .update_customer(pb::UpdateCustomerRequest {
            customer: Some(changed),
            update_mask: mask(&["display_name"]),
        })
        .await
        .unwrap();
    // Denials of the rep: a denied decision and a denied read.
    let denied = check(&rep.access(&app), "", "customers.delete", &target.name)
        .await
        .unwrap();
    assert!(!denied.allowed);
    let read = app
        .customers_as(Some(&rep.secret))
        .get_customer(pb::GetCustomerRequest {
            name: target.name.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(read.code(), Code::PermissionDenied);

    tokio::time::sleep(Duration::from_millis(20)).await;
    let end = SystemTime::now();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let audit = app.access.clone();

    // Everything in [start, end).
    let window = all_audit_events(
        &audit,
        pb::ListAuditEventsRequest {
            start_time: Some(start.into()),
            end_time: Some(end.into()),
            ..audit_request()
        },
    )
    .await;
    let find = |actor: &str, action: &str| {
        window
            .iter()
            .filter(|e| e.actor == actor && e.action == action)
            .cloned()
            .collect::<Vec<_>>()
    };
    let admin = "principals/admin";
    let created = find(admin, "CreatePrincipal");
    assert_eq!(created.len(), 1, "{window:#?}");
    assert_eq!(created[0].resource, rep.name);
    assert_eq!(created[0].outcome(), pb::AuditOutcome::Allowed);
    let bound = find(admin, "CreateRoleBinding");
    assert_eq!(bound.len(), 1, "{window:#?}");
    assert!(
        bound[0].resource == rep.binding.name || bound[0].resource == rep.name,
        "CreateRoleBinding names the binding (or its principal): {:?}",
        bound[0]
    );
    assert_eq!(bound[0].outcome(), pb::AuditOutcome::Allowed);
    let keyed = find(admin, "CreateApiKey");
    assert_eq!(keyed.len(), 1, "{window:#?}");
    assert!(
        keyed[0].resource == rep.key.name || keyed[0].resource == rep.name,
        "CreateApiKey names the key (or its principal): {:?}",
        keyed[0]
    );
    assert_eq!(keyed[0].outcome(), pb::AuditOutcome::Allowed);
    let updated = find(admin, "UpdateCustomer");
    assert_eq!(updated.len(), 1, "{window:#?}");
    assert_eq!(updated[0].resource, target.name);
    assert_eq!(updated[0].outcome(), pb::AuditOutcome::Allowed);
    let checked = find(&rep.name, "CheckPermission");
    assert_eq!(checked.len(), 1, "{window:#?}");
    assert_eq!(checked[0].outcome(), pb::AuditOutcome::Denied);
    let got = find(&rep.name, "GetCustomer");
    assert_eq!(got.len(), 1, "{window:#?}");
    assert_eq!(got[0].resource, target.name);
    assert_eq!(got[0].outcome(), pb::AuditOutcome::Denied);
    assert!(!got[0].detail.is_empty(), "a denial says why: {:?}", got[0]);
    // The earlier CreateCustomer is outside the window.
    assert!(
        window.iter().all(|e| e.action != "CreateCustomer"),
        "start_time filters: {window:#?}"
    );
    // Newest first, and every event has a name and a time.
    for pair in window.windows(2) {
        let (a, b) = (pair[0].time.unwrap(), pair[1].time.unwrap());
        assert!((a.seconds, a.nanos) >= (b.seconds, b.nanos), "newest first: {pair:#?}");
    }
    assert!(window.iter().all(|e| e.name.starts_with("auditEvents/")));

    // Before the window: none of these; the end is exclusive, the start inclusive.
    let before = all_audit_events(
        &audit,
        pb::ListAuditEventsRequest {
            end_time: Some(start.into()),
            ..audit_request()
        },
    )
    .await;
    assert!(
        before
            .iter()
            .all(|e| e.actor != rep.name && e.action != "UpdateCustomer")
    );
    assert!(before.iter().any(|e| e.action == "CreateCustomer"), "{before:#?}");
    let first = window.last().unwrap().clone();
    let from_first = all_audit_events(
        &audit,
        pb::ListAuditEventsRequest {
            start_time: first.time,
            end_time: Some(end.into()),
            ..audit_request()
        },
    )
    .await;
    assert!(from_first.contains(&first), "start_time is inclusive");
    let until_first = all_audit_events(
        &audit,
        pb::ListAuditEventsRequest {
            end_time: first.time,
            ..audit_request()
        },
    )
    .await;
    assert!(!until_first.contains(&first), "end_time is exclusive");

    // By actor.
    let by_rep = all_audit_events(
        &audit,
        pb::ListAuditEventsRequest {
            actor: rep.name.clone(),
            ..audit_request()
        },
    )
    .await;
    assert_eq!(by_rep.len(), 2, "{by_rep:#?}");
    assert!(by_rep.iter().all(|e| e.actor == rep.name));
    // By action.
    let by_action = all_audit_events(
        &audit,
        pb::ListAuditEventsRequest {
            action: "CreatePrincipal".into(),
            ..audit_request()
        },
    )
    .await;
    assert_eq!(by_action, created);
    // By resource: the update and the denied read of the customer (and its creation).
    let by_resource = all_audit_events(
        &audit,
        pb::ListAuditEventsRequest {
            resource: target.name.clone(),
            ..audit_request()
        },
    )
    .await;
    assert!(by_resource.iter().all(|e| e.resource == target.name));
    assert!(
        by_resource.contains(&updated[0]) && by_resource.contains(&got[0]),
        "{by_resource:#?}"
    );
    // All filters at once.
    let combined = all_audit_events(
        &audit,
        pb::ListAuditEventsRequest {
            actor: rep.name.clone(),
            action: "GetCustomer".into(),
            resource: target.name.clone(),
            start_time: Some(start.into()),
            end_time: Some(end.into()),
            ..audit_request()
        },
    )
    .await;
    assert_eq!(combined, got);
    let malformed = audit
        .clone()
        .list_audit_events(pb::ListAuditEventsRequest {
            actor: "bob".into(),
            ..audit_request()
        })
        .await
        .unwrap_err();
    assert_invalid(&malformed, &["actor"]);
}

async fn audit_events_page_without_duplicates(app: TestApp) {
    for i in 0..7 {
        create_principal(&app, &format!("paged-{i}"), "").await;
    }
    let everything = all_audit_events(
        &app.access,
        pb::ListAuditEventsRequest {
            actor: "principals/admin".into(),
            ..audit_request()
        },
    )
    .await;
    assert!(everything.len() >= 7, "{everything:#?}");
    let mut request = pb::ListAuditEventsRequest {
        actor: "principals/admin".into(),
        page_size: 2,
        ..Default::default()
    };
    let mut paged = Vec::new();
    let mut pages = 0;
    loop {
        let page = app
            .access
            .clone()
            .list_audit_events(request.clone())
            .await
            .unwrap()
            .into_inner();
        assert!(page.audit_events.len() <= 2);
        pages += 1;
        paged.extend(page.audit_events);
        if page.next_page_token.is_empty() {
            break;
        }
        // A token is bound to its filters.
        if pages == 1 {
            let mismatched = app
                .access
                .clone()
                .list_audit_events(pb::ListAuditEventsRequest {
                    actor: String::new(),
                    page_token: page.next_page_token.clone(),
                    page_size: 2,
                    ..Default::default()
                })
                .await
                .unwrap_err();
            assert_invalid(&mismatched, &["page_token"]);
        }
        request.page_token = page.next_page_token;
        assert!(pages < 100, "paging never ends");
    }
    assert!(pages >= 4, "{pages} pages");
    let unique: HashSet<&String> = paged.iter().map(|e| &e.name).collect();
    assert_eq!(unique.len(), paged.len(), "no event twice");
    assert_eq!(paged, everything, "pages concatenate to the whole list, in order");
}

async fn reading_the_audit_log_needs_audit_read(app: TestApp) {
    let rep = member(&app, "curious-rep", "", "roles/sales_rep", pb::Scope::All).await;
    let status = rep.access(&app).list_audit_events(audit_request()).await.unwrap_err();
    assert_info(
        &status,
        Code::PermissionDenied,
        "PERMISSION_DENIED",
        &[("permission", "audit.read")],
    );
    // The denial itself is audited.
    let denials = all_audit_events(
        &app.access,
        pb::ListAuditEventsRequest {
            actor: rep.name.clone(),
            action: "ListAuditEvents".into(),
            ..audit_request()
        },
    )
    .await;
    assert_eq!(denials.len(), 1, "{denials:#?}");
    assert_eq!(denials[0].outcome(), pb::AuditOutcome::Denied);

    let auditor = member(&app, "the-auditor", "", "roles/auditor", pb::Scope::All).await;
    let events = all_audit_events(&auditor.access(&app), audit_request()).await;
    assert!(events.iter().any(|e| e.actor == rep.name), "{events:#?}");
}

async fn no_audit_event_holds_a_key_secret(app: TestApp) {
    let rep = member(&app, "secretive", "", "roles/sales_rep", pb::Scope::Own).await;
    let (extra, extra_secret) = create_key(&app, &rep.name, None).await;
    let own = rep
        .access(&app)
        .create_api_key(pb::CreateApiKeyRequest {
            parent: rep.name.clone(),
            expire_time: None,
        })
        .await
        .unwrap()
        .into_inner();
    revoke(&rep.access(&app), &extra.name).await.unwrap();
    // Failed and denied attempts with keys in play.
    let _ = who_am_i(&app.access_as(Some(&extra_secret))).await.unwrap_err();
    let _ = check(&rep.access(&app), "principals/admin", "customers.get", "customers/x").await;
    let _ = rep.access(&app).list_audit_events(audit_request()).await;

    let events = all_audit_events(&app.access, audit_request()).await;
    assert!(events.iter().any(|e| e.action == "CreateApiKey"), "{events:#?}");
    assert!(events.iter().any(|e| e.action == "RevokeApiKey"), "{events:#?}");
    let bytes: Vec<u8> = events.iter().flat_map(prost::Message::encode_to_vec).collect();
    for secret in [&app.admin_key, &rep.secret, &extra_secret, &own.secret] {
        // `crm_<8-character prefix>_<secret part>`; the secret part may itself contain `_`.
        let secret_part = &secret["crm_".len() + 8 + 1..];
        assert_eq!(secret_part.len(), 43);
        assert!(!contains(&bytes, secret_part), "an audit event holds a key secret");
        for event in &events {
            assert!(!event.detail.contains(secret_part), "{event:?}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Replicas
// ---------------------------------------------------------------------------------------------

/// Polls `probe` every 100 ms until it returns true, for up to 10 s.
async fn eventually<F, Fut>(what: &str, mut probe: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if probe().await {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn a_replica_sees_keys_and_bindings_created_and_revoked_elsewhere(app: TestApp) {
    // On PostgreSQL the replica refreshes only on LISTEN/NOTIFY (the periodic refresh is an
    // hour away). SQLite has no notifications: there the replica shares the file and relies on
    // its periodic refresh, set to 1 s.
    let refresh = if is_postgres(&app) {
        Duration::from_secs(3600)
    } else {
        Duration::from_secs(1)
    };
    let replica = app
        .spawn_replica(|settings| settings.access_refresh_interval = refresh)
        .await;
    who_am_i(&replica.access).await.expect("the replica serves the admin");

    let rep = member(&app, "replica-rep", "", "roles/sales_rep", pb::Scope::Own).await;
    let target = customer(&app, "replica-co", &rep.name, "").await;
    // On the app that made the change: at once.
    assert!(
        check(&rep.access(&app), "", "customers.get", &target.name)
            .await
            .unwrap()
            .allowed
    );

    let on_replica = replica.access_as(Some(&rep.secret));
    eventually("the replica accepts the new key and grants its binding", || {
        let client = on_replica.clone();
        let customer = target.name.clone();
        async move {
            match check(&client, "", "customers.get", &customer).await {
                Ok(decision) => decision.allowed,
                Err(status) => {
                    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
                    false
                }
            }
        }
    })
    .await;
    let decision = check(&on_replica, "", "customers.get", &target.name).await.unwrap();
    assert_decision(
        &decision,
        pb::DecisionReasonCode::Granted,
        &rep.binding.name,
        "roles/sales_rep",
        pb::Scope::Own,
    );

    revoke(&app.access, &rep.key.name).await.unwrap();
    assert_unauthenticated(&who_am_i(&rep.access(&app)).await.unwrap_err());
    eventually("the replica refuses the revoked key", || {
        let client = on_replica.clone();
        async move {
            match who_am_i(&client).await {
                Ok(_) => false,
                Err(status) => {
                    assert_unauthenticated(&status);
                    true
                }
            }
        }
    })
    .await;

    // On PostgreSQL, changes made on the replica reach the first app too, by notification (the
    // first app runs with the default refresh interval, 30 s, longer than the wait; on SQLite
    // only that periodic refresh would bring it, so this part is PostgreSQL-only).
    if is_postgres(&app) {
        let (_, secret) = create_key(&replica, &rep.name, None).await;
        let back = app.access_as(Some(&secret));
        eventually("the first app accepts a key created on the replica", || {
            let client = back.clone();
            async move { who_am_i(&client).await.is_ok() }
        })
        .await;
    }
    replica.stop().await.expect("the replica stops cleanly");
}

crm_tests::e2e!(a_customer_given_to_another_owner_is_checked_against_the_new_owner_at_once);

/// CheckPermission answers from facts kept in memory (owner, department, grade): a change made
/// through this replica is seen by its next check, and on PostgreSQL another replica's cache
/// forgets the customer when the change's notification arrives.
async fn a_customer_given_to_another_owner_is_checked_against_the_new_owner_at_once(app: TestApp) {
    let before = member(&app, "facts-before", "", "roles/sales_rep", pb::Scope::Own).await;
    let after = member(&app, "facts-after", "", "roles/sales_rep", pb::Scope::Own).await;
    let target = customer(&app, "facts-co", &before.name, "").await;
    let allowed = |member: &Member, on: &TestApp| {
        let client = member.access(on);
        let customer = target.name.clone();
        async move { check(&client, "", "customers.get", &customer).await.unwrap().allowed }
    };
    let replica = if is_postgres(&app) {
        let replica = app.spawn_replica(|_| {}).await;
        who_am_i(&replica.access).await.expect("the replica serves the admin");
        Some(replica)
    } else {
        None
    };
    // Read twice, so the facts are in every cache, and the batch form too.
    for _ in 0..2 {
        assert!(allowed(&before, &app).await);
        assert!(!allowed(&after, &app).await);
        if let Some(replica) = &replica {
            eventually("the replica knows the new key", || allowed(&before, replica)).await;
            assert!(!allowed(&after, replica).await);
        }
    }

    let mut changed = target.clone();
    changed.owner = after.name.clone();
    app.customers
        .clone()
        .update_customer(pb::UpdateCustomerRequest {
            customer: Some(changed),
            update_mask: mask(&["owner"]),
        })
        .await
        .unwrap();
    // On the replica that made the change: the very next check.
    assert!(!allowed(&before, &app).await, "the former owner is refused at once");
    assert!(allowed(&after, &app).await, "the new owner is granted at once");
    let admin_batch = app
        .access
        .clone()
        .batch_check_permissions(pb::BatchCheckPermissionsRequest {
            items: [&before, &after]
                .iter()
                .map(|member| item(&member.name, &member.name, "customers.get", &target.name))
                .collect(),
        })
        .await
        .unwrap()
        .into_inner();
    let answers: Vec<bool> = admin_batch
        .results
        .iter()
        .map(|result| match &result.result {
            Some(pb::check_permission_result::Result::Decision(decision)) => decision.allowed,
            other => panic!("an answer for every item: {other:?}"),
        })
        .collect();
    assert_eq!(
        answers,
        [false, true],
        "BatchCheckPermissions sees the new owner at once"
    );

    if let Some(replica) = replica {
        eventually("the other replica forgets the former owner", || async {
            !allowed(&before, &replica).await && allowed(&after, &replica).await
        })
        .await;
        replica.stop().await.expect("the replica stops cleanly");
    }
}
