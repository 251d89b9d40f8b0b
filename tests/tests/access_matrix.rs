//! The permission matrix end to end: every built-in role × every scope against every customer RPC
//! and every customer position (the caller's own customer, another customer of its department,
//! a customer of another department), plus the edges of the deny-by-default rules (AIP-211 for
//! customers that do not exist, no bindings, expired bindings, disabled principals), against
//! SQLite and PostgreSQL.
//!
//! The expectations are written out literally below ([`ROLES`] from the built-in roles table of
//! `access.proto` / `roles.md`, [`SCOPES`] from `Scope` in `access.proto`); nothing is derived
//! from the server's code.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    collections::BTreeSet,
    time::{Duration, SystemTime},
};

use crm_tests::{TestApp, add_principal, assert_no_leak, e2e, organization, pb, reason};
use tonic::{Code, Status};
use tonic_types::StatusExt;

e2e!(
    every_role_and_scope_gets_exactly_what_the_roles_table_grants,
    a_missing_customer_is_denied_unless_the_scope_is_all,
    a_principal_without_bindings_may_not_list,
    an_expired_binding_no_longer_grants,
    a_disabled_principal_cannot_authenticate,
);

// ---------------------------------------------------------------------------------------------
// The expected matrix, written out
// ---------------------------------------------------------------------------------------------

/// Where a customer stands relative to the calling principal (department `sales`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Position {
    /// Department `sales`, owned by the caller.
    Mine,
    /// Department `sales`, owned by someone else.
    Dept,
    /// Department `ops`, owned by someone else.
    Other,
}

const POSITIONS: [Position; 3] = [Position::Mine, Position::Dept, Position::Other];

/// What one built-in role grants of the customer permissions (the roles table).
#[derive(Clone, Copy, Debug)]
struct Grants {
    role: &'static str,
    get: bool,
    list: bool,
    create: bool,
    update: bool,
    delete: bool,
    read_contact: bool,
    reassign: bool,
}

#[rustfmt::skip]
const ROLES: [Grants; 6] = [
    Grants { role: "admin",     get: true, list: true, create: true,  update: true,  delete: true,  read_contact: true,  reassign: true  },
    Grants { role: "manager",   get: true, list: true, create: true,  update: true,  delete: true,  read_contact: true,  reassign: true  },
    Grants { role: "sales_rep", get: true, list: true, create: true,  update: true,  delete: false, read_contact: true,  reassign: false },
    Grants { role: "support",   get: true, list: true, create: false, update: false, delete: false, read_contact: true,  reassign: false },
    Grants { role: "analyst",   get: true, list: true, create: false, update: false, delete: false, read_contact: false, reassign: false },
    Grants { role: "auditor",   get: true, list: true, create: false, update: false, delete: false, read_contact: false, reassign: false },
];

/// Each scope with the positions it covers.
const SCOPES: [(pb::Scope, &str, &[Position]); 3] = [
    (
        pb::Scope::All,
        "all",
        &[Position::Mine, Position::Dept, Position::Other],
    ),
    (pb::Scope::Department, "department", &[Position::Mine, Position::Dept]),
    (pb::Scope::Own, "own", &[Position::Mine]),
];

impl Grants {
    fn has(&self, permission: &str) -> bool {
        match permission {
            "customers.get" => self.get,
            "customers.list" => self.list,
            "customers.create" => self.create,
            "customers.update" => self.update,
            "customers.delete" => self.delete,
            "customers.read_contact" => self.read_contact,
            "customers.reassign" => self.reassign,
            other => panic!("not in the table: {other}"),
        }
    }
}

/// The customer RPCs of the matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rpc {
    Get,
    BatchGet,
    /// Whether the customer appears in ListCustomers.
    List,
    /// UpdateCustomer of `display_name`.
    Update,
    /// UpdateCustomer of `department`.
    UpdateDepartment,
    Delete,
    /// UndeleteCustomer of a deleted customer.
    Undelete,
    /// CreateCustomer of a customer at that position.
    Create,
}

impl Rpc {
    /// The permissions the RPC needs on the customer, in the order they are checked (so the first
    /// one lacking is the one a denial names), as `customer_service.proto` says.
    fn needs(self) -> &'static [&'static str] {
        match self {
            Self::Get | Self::BatchGet => &["customers.get"],
            Self::List => &["customers.list"],
            Self::Update => &["customers.update"],
            Self::UpdateDepartment => &["customers.update", "customers.reassign"],
            Self::Delete | Self::Undelete => &["customers.delete"],
            Self::Create => &["customers.create"],
        }
    }
}

/// `Ok` when `grants` bound with a scope covering `covered` may do `rpc` on a customer at
/// `position`; otherwise the permission a denial must name.
fn expected(grants: &Grants, covered: &[Position], rpc: Rpc, position: Position) -> Result<(), &'static str> {
    for permission in rpc.needs() {
        if !grants.has(permission) || !covered.contains(&position) {
            return Err(permission);
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

const EMAIL: &str = "jane@example.com";
const EMAIL_MASKED: &str = "j***@example.com";
const PHONE: &str = "+8613800000021";
// 14 characters: `+86` kept, 9 characters starred, `21` kept.
const PHONE_MASKED: &str = "+86*********21";
const SOMEONE_ELSE: &str = "principals/someone-else";

fn mask(paths: &[&str]) -> Option<prost_types::FieldMask> {
    Some(prost_types::FieldMask {
        paths: paths.iter().map(|p| (*p).to_owned()).collect(),
    })
}

/// Binds `principals/{id}` to `roles/{role}` with `scope`, until `expire_time` if given.
async fn bind(
    app: &TestApp,
    id: &str,
    role: &str,
    scope: pb::Scope,
    expire_time: Option<prost_types::Timestamp>,
) -> pb::RoleBinding {
    app.access
        .clone()
        .create_role_binding(pb::CreateRoleBindingRequest {
            role_binding: Some(pb::RoleBinding {
                principal: format!("principals/{id}"),
                role: format!("roles/{role}"),
                scope: scope as i32,
                expire_time,
                ..Default::default()
            }),
        })
        .await
        .expect("create role binding")
        .into_inner()
}

/// A new API key of `principals/{id}`; returns its secret.
async fn key_of(app: &TestApp, id: &str) -> String {
    app.access
        .clone()
        .create_api_key(pb::CreateApiKeyRequest {
            parent: format!("principals/{id}"),
            expire_time: None,
        })
        .await
        .expect("create API key")
        .into_inner()
        .secret
}

/// A principal of `department` bound to `role` with `scope`; returns its key.
async fn principal_with(app: &TestApp, id: &str, department: &str, role: &str, scope: pb::Scope) -> String {
    add_principal(app, id, department).await;
    bind(app, id, role, scope, None).await;
    key_of(app, id).await
}

/// A customer at `position` relative to `principal`, with a contact to mask.
fn customer_at(position: Position, principal: &str, display_name: &str) -> pb::Customer {
    let (department, owner) = match position {
        Position::Mine => ("sales", principal),
        Position::Dept => ("sales", SOMEONE_ELSE),
        Position::Other => ("ops", SOMEONE_ELSE),
    };
    pb::Customer {
        department: department.to_owned(),
        owner: owner.to_owned(),
        contact: Some(pb::Contact {
            full_name: "Jane Doe".into(),
            email: EMAIL.into(),
            phone: PHONE.into(),
            ..Default::default()
        }),
        ..organization(display_name)
    }
}

/// Creates `customer` as the admin under the chosen id; returns it as stored.
async fn create_as_admin(app: &TestApp, id: &str, customer: pb::Customer) -> pb::Customer {
    app.customers
        .clone()
        .create_customer(pb::CreateCustomerRequest {
            customer: Some(customer),
            customer_id: id.to_owned(),
            request_id: String::new(),
        })
        .await
        .unwrap_or_else(|e| panic!("create {id}: {e:?}"))
        .into_inner()
}

/// What the admin sees of `name`: the customer, or the error.
async fn admin_get(app: &TestApp, name: &str) -> Result<pb::Customer, Status> {
    app.customers
        .clone()
        .get_customer(pb::GetCustomerRequest { name: name.to_owned() })
        .await
        .map(tonic::Response::into_inner)
}

/// Whether the admin sees `name` as soft-deleted.
async fn admin_sees_deleted(app: &TestApp, name: &str) -> bool {
    match admin_get(app, name).await {
        Ok(_) => false,
        Err(status) if status.code() == Code::NotFound && reason_of(&status) == "CUSTOMER_DELETED" => true,
        Err(status) => panic!("admin get {name}: {status:?}"),
    }
}

/// A one-line account of `status`, for failure lists.
fn brief(status: &Status) -> String {
    format!(
        "{:?} {} permission={:?} resource={:?}: {}",
        status.code(),
        reason_of(status),
        metadata(status, "permission"),
        metadata(status, "resource"),
        status.message()
    )
}

fn reason_of(status: &Status) -> String {
    reason(status).map(|(r, _)| r).unwrap_or_default()
}

/// The `ErrorInfo` metadata entry `key`, or "" without it.
fn metadata(status: &Status, key: &str) -> String {
    status
        .get_details_error_info()
        .and_then(|info| info.metadata.get(key).cloned())
        .unwrap_or_default()
}

/// Checks that `status` is the PERMISSION_DENIED the contract describes: reason
/// `PERMISSION_DENIED` in domain `crm.v1`, naming `permission` and `resource`. Returns what is
/// wrong, if anything.
fn denial_problem(status: &Status, permission: &str, resource: &str) -> Option<String> {
    if status.code() != Code::PermissionDenied {
        return Some(format!("expected PERMISSION_DENIED, got {}", brief(status)));
    }
    if reason(status) != Some(("PERMISSION_DENIED".to_owned(), "crm.v1".to_owned())) {
        return Some(format!(
            "expected ErrorInfo PERMISSION_DENIED/crm.v1, got {}",
            brief(status)
        ));
    }
    let (got_permission, got_resource) = (metadata(status, "permission"), metadata(status, "resource"));
    if got_permission != permission || got_resource != resource {
        return Some(format!(
            "expected metadata permission={permission} resource={resource}, got permission={got_permission} \
             resource={got_resource}"
        ));
    }
    None
}

/// Records a failure when the outcome differs from `expected`. Returns whether the call succeeded.
fn judge<T>(
    failures: &mut Vec<String>,
    label: &str,
    outcome: &Result<T, Status>,
    expected: Result<(), &str>,
    resource: &str,
) -> bool {
    match (outcome, expected) {
        (Ok(_), Ok(())) => true,
        (Ok(_), Err(permission)) => {
            failures.push(format!(
                "{label}: allowed, expected PERMISSION_DENIED naming {permission}"
            ));
            true
        }
        (Err(status), Ok(())) => {
            failures.push(format!("{label}: expected OK, got {}", brief(status)));
            false
        }
        (Err(status), Err(permission)) => {
            if let Some(problem) = denial_problem(status, permission, resource) {
                failures.push(format!("{label}: {problem}"));
            }
            false
        }
    }
}

fn assert_denied(status: &Status, permission: &str, resource: &str) {
    if let Some(problem) = denial_problem(status, permission, resource) {
        panic!("{problem}");
    }
    assert_no_leak(status);
}

fn assert_unauthenticated(status: &Status) {
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert_eq!(
        reason(status),
        Some(("UNAUTHENTICATED".to_owned(), "crm.v1".to_owned())),
        "{status:?}"
    );
}

fn position_label(position: Position) -> &'static str {
    match position {
        Position::Mine => "mine",
        Position::Dept => "dept",
        Position::Other => "other",
    }
}

// ---------------------------------------------------------------------------------------------
// The matrix
// ---------------------------------------------------------------------------------------------

/// One principal of the matrix.
struct Subject {
    id: String,
    name: String,
    grants: Grants,
    covered: &'static [Position],
    key: String,
}

async fn every_role_and_scope_gets_exactly_what_the_roles_table_grants(app: TestApp) {
    // Principals `p-<role>-<scope>` of department sales.
    let mut subjects = Vec::new();
    for grants in ROLES {
        for (scope, scope_label, covered) in SCOPES {
            let id = format!("p-{}-{scope_label}", grants.role.replace('_', "-"));
            let key = principal_with(&app, &id, "sales", grants.role, scope).await;
            subjects.push(Subject {
                name: format!("principals/{id}"),
                id,
                grants,
                covered,
                key,
            });
        }
    }

    // The read probes, tagged `probe`: one `mine` per principal, one shared `dept` and `other`.
    let mut probes = Vec::new();
    for position in [Position::Dept, Position::Other] {
        let label = position_label(position);
        let mut customer = customer_at(position, "", &format!("Probe {label}"));
        customer.tags = vec!["probe".into()];
        probes.push(create_as_admin(&app, &format!("probe-{label}"), customer).await);
    }
    for subject in &subjects {
        let mut customer = customer_at(Position::Mine, &subject.name, &format!("Probe of {}", subject.id));
        customer.tags = vec!["probe".into()];
        probes.push(create_as_admin(&app, &format!("probe-{}", subject.id), customer).await);
    }
    let probe_at = |subject: &Subject, position: Position| -> String {
        match position {
            Position::Mine => format!("customers/probe-{}", subject.id),
            Position::Dept => "customers/probe-dept".to_owned(),
            Position::Other => "customers/probe-other".to_owned(),
        }
    };
    let position_of = |subject: &Subject, customer: &pb::Customer| -> Position {
        if customer.owner == subject.name {
            Position::Mine
        } else if customer.department == "sales" {
            Position::Dept
        } else {
            Position::Other
        }
    };

    let mut failures = Vec::new();
    let mut checked = 0_usize;
    for subject in &subjects {
        let mut customers = app.customers_as(Some(&subject.key));
        let (grants, covered) = (&subject.grants, subject.covered);
        let expected_email = if grants.read_contact { EMAIL } else { EMAIL_MASKED };
        let expected_phone = if grants.read_contact { PHONE } else { PHONE_MASKED };

        // ListCustomers: exactly the probes in scope.
        let listed = customers
            .list_customers(pb::ListCustomersRequest {
                page_size: 1000,
                filter: r#"tags: "probe""#.into(),
                ..Default::default()
            })
            .await;
        checked += 1;
        match listed {
            Ok(response) => {
                let response = response.into_inner();
                let got: BTreeSet<String> = response.customers.iter().map(|c| c.name.clone()).collect();
                let want: BTreeSet<String> = probes
                    .iter()
                    .filter(|c| expected(grants, covered, Rpc::List, position_of(subject, c)).is_ok())
                    .map(|c| c.name.clone())
                    .collect();
                if got != want || response.customers.len() != want.len() {
                    failures.push(format!(
                        "{} ListCustomers: listed {got:?}, expected {want:?}",
                        subject.id
                    ));
                }
                for customer in &response.customers {
                    let contact = customer.contact.clone().unwrap_or_default();
                    if contact.email != expected_email || contact.phone != expected_phone {
                        failures.push(format!(
                            "{} ListCustomers: {} has contact {}/{}, expected {expected_email}/{expected_phone}",
                            subject.id, customer.name, contact.email, contact.phone
                        ));
                    }
                }
            }
            Err(status) => failures.push(format!(
                "{} ListCustomers: expected OK, got {}",
                subject.id,
                brief(&status)
            )),
        }

        for position in POSITIONS {
            let pos = position_label(position);
            let label = |rpc: &str| format!("{} {rpc} {pos}", subject.id);

            // GetCustomer and BatchGetCustomers of the probe.
            let probe = probe_at(subject, position);
            let want = expected(grants, covered, Rpc::Get, position);
            let got = customers
                .get_customer(pb::GetCustomerRequest { name: probe.clone() })
                .await
                .map(tonic::Response::into_inner);
            checked += 1;
            if judge(&mut failures, &label("GetCustomer"), &got, want, &probe) {
                let contact = got.unwrap().contact.unwrap_or_default();
                if contact.email != expected_email || contact.phone != expected_phone {
                    failures.push(format!(
                        "{}: contact {}/{}, expected {expected_email}/{expected_phone}",
                        label("GetCustomer"),
                        contact.email,
                        contact.phone
                    ));
                }
            }
            let want = expected(grants, covered, Rpc::BatchGet, position);
            let got = customers
                .batch_get_customers(pb::BatchGetCustomersRequest {
                    names: vec![probe.clone()],
                })
                .await
                .map(tonic::Response::into_inner);
            checked += 1;
            if judge(&mut failures, &label("BatchGetCustomers"), &got, want, &probe) {
                let got = got.unwrap().customers;
                let contact = got.first().and_then(|c| c.contact.clone()).unwrap_or_default();
                if got.len() != 1 || contact.email != expected_email || contact.phone != expected_phone {
                    failures.push(format!(
                        "{}: returned {got:?}, expected one customer with contact {expected_email}/{expected_phone}",
                        label("BatchGetCustomers")
                    ));
                }
            }

            // UpdateCustomer of display_name, on a fresh customer.
            let id = format!("{}-update-{pos}", subject.id);
            let name = format!("customers/{id}");
            create_as_admin(&app, &id, customer_at(position, &subject.name, "Before")).await;
            let want = expected(grants, covered, Rpc::Update, position);
            let got = customers
                .update_customer(pb::UpdateCustomerRequest {
                    customer: Some(pb::Customer {
                        name: name.clone(),
                        display_name: "After".into(),
                        ..Default::default()
                    }),
                    update_mask: mask(&["display_name"]),
                })
                .await;
            checked += 1;
            judge(&mut failures, &label("UpdateCustomer(display_name)"), &got, want, &name);
            let stored = admin_get(&app, &name).await.expect("admin get").display_name;
            let want_stored = if want.is_ok() { "After" } else { "Before" };
            if stored != want_stored {
                failures.push(format!(
                    "{}: stored display_name {stored}, expected {want_stored}",
                    label("UpdateCustomer(display_name)")
                ));
            }

            // UpdateCustomer of department (a reassignment), on a fresh customer.
            let id = format!("{}-reassign-{pos}", subject.id);
            let name = format!("customers/{id}");
            let before = create_as_admin(&app, &id, customer_at(position, &subject.name, "Reassign")).await;
            let want = expected(grants, covered, Rpc::UpdateDepartment, position);
            let got = customers
                .update_customer(pb::UpdateCustomerRequest {
                    customer: Some(pb::Customer {
                        name: name.clone(),
                        department: "marketing".into(),
                        ..Default::default()
                    }),
                    update_mask: mask(&["department"]),
                })
                .await;
            checked += 1;
            judge(&mut failures, &label("UpdateCustomer(department)"), &got, want, &name);
            let stored = admin_get(&app, &name).await.expect("admin get").department;
            let want_stored = if want.is_ok() {
                "marketing"
            } else {
                before.department.as_str()
            };
            if stored != want_stored {
                failures.push(format!(
                    "{}: stored department {stored}, expected {want_stored}",
                    label("UpdateCustomer(department)")
                ));
            }

            // DeleteCustomer, on a fresh customer.
            let id = format!("{}-delete-{pos}", subject.id);
            let name = format!("customers/{id}");
            create_as_admin(&app, &id, customer_at(position, &subject.name, "Delete")).await;
            let want = expected(grants, covered, Rpc::Delete, position);
            let got = customers
                .delete_customer(pb::DeleteCustomerRequest {
                    name: name.clone(),
                    etag: String::new(),
                })
                .await;
            checked += 1;
            judge(&mut failures, &label("DeleteCustomer"), &got, want, &name);
            if admin_sees_deleted(&app, &name).await != want.is_ok() {
                failures.push(format!(
                    "{}: deleted is {}, expected {}",
                    label("DeleteCustomer"),
                    want.is_err(),
                    want.is_ok()
                ));
            }

            // UndeleteCustomer, on a fresh customer the admin deleted.
            let id = format!("{}-undelete-{pos}", subject.id);
            let name = format!("customers/{id}");
            create_as_admin(&app, &id, customer_at(position, &subject.name, "Undelete")).await;
            app.customers
                .clone()
                .delete_customer(pb::DeleteCustomerRequest {
                    name: name.clone(),
                    etag: String::new(),
                })
                .await
                .expect("admin delete");
            let want = expected(grants, covered, Rpc::Undelete, position);
            let got = customers
                .undelete_customer(pb::UndeleteCustomerRequest { name: name.clone() })
                .await;
            checked += 1;
            judge(&mut failures, &label("UndeleteCustomer"), &got, want, &name);
            if admin_sees_deleted(&app, &name).await != want.is_err() {
                failures.push(format!(
                    "{}: deleted is {}, expected {}",
                    label("UndeleteCustomer"),
                    want.is_ok(),
                    want.is_err()
                ));
            }

            // CreateCustomer of a customer at this position.
            let id = format!("{}-create-{pos}", subject.id);
            let name = format!("customers/{id}");
            let want = expected(grants, covered, Rpc::Create, position);
            let input = customer_at(position, &subject.name, "Created");
            let got = customers
                .create_customer(pb::CreateCustomerRequest {
                    customer: Some(input.clone()),
                    customer_id: id.clone(),
                    request_id: String::new(),
                })
                .await
                .map(tonic::Response::into_inner);
            checked += 1;
            if judge(&mut failures, &label("CreateCustomer"), &got, want, &name) {
                let created = got.unwrap();
                if created.owner != input.owner || created.department != input.department {
                    failures.push(format!(
                        "{}: created with owner {} department {}",
                        label("CreateCustomer"),
                        created.owner,
                        created.department
                    ));
                }
            }
            match admin_get(&app, &name).await {
                Ok(_) if want.is_err() => failures.push(format!("{}: denied but created", label("CreateCustomer"))),
                Err(status) if want.is_ok() => {
                    failures.push(format!(
                        "{}: allowed but not stored: {}",
                        label("CreateCustomer"),
                        brief(&status)
                    ));
                }
                _ => {}
            }
        }
    }

    assert_eq!(checked, ROLES.len() * SCOPES.len() * (1 + POSITIONS.len() * 7));
    assert!(
        failures.is_empty(),
        "{} of {checked} matrix checks failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// Edges of the rules
// ---------------------------------------------------------------------------------------------

/// AIP-211: a caller whose scope is not ALL is denied a customer that does not exist exactly as
/// one outside its scope; only a caller holding the permission with scope ALL learns NOT_FOUND.
/// A deleted customer is NOT_FOUND (`CUSTOMER_DELETED`) to callers whose scope covers it.
async fn a_missing_customer_is_denied_unless_the_scope_is_all(app: TestApp) {
    let department = principal_with(&app, "mgr-department", "sales", "manager", pb::Scope::Department).await;
    let own = principal_with(&app, "mgr-own", "sales", "manager", pb::Scope::Own).await;
    let everything = principal_with(&app, "mgr-all", "sales", "manager", pb::Scope::All).await;
    let missing = "customers/no-such-customer";
    let other = create_as_admin(&app, "in-ops", customer_at(Position::Other, "", "In ops")).await;

    for key in [&department, &own] {
        let mut customers = app.customers_as(Some(key));
        // Whatever the RPC, a missing customer and an existing one out of scope look the same.
        for name in [missing, other.name.as_str()] {
            let status = customers
                .get_customer(pb::GetCustomerRequest { name: name.to_owned() })
                .await
                .unwrap_err();
            assert_denied(&status, "customers.get", name);
            let status = customers
                .batch_get_customers(pb::BatchGetCustomersRequest {
                    names: vec![name.to_owned()],
                })
                .await
                .unwrap_err();
            assert_denied(&status, "customers.get", name);
            let status = customers
                .update_customer(pb::UpdateCustomerRequest {
                    customer: Some(pb::Customer {
                        name: name.to_owned(),
                        display_name: "Renamed".into(),
                        ..Default::default()
                    }),
                    update_mask: mask(&["display_name"]),
                })
                .await
                .unwrap_err();
            assert_denied(&status, "customers.update", name);
            let status = customers
                .delete_customer(pb::DeleteCustomerRequest {
                    name: name.to_owned(),
                    etag: String::new(),
                })
                .await
                .unwrap_err();
            assert_denied(&status, "customers.delete", name);
            let status = customers
                .undelete_customer(pb::UndeleteCustomerRequest { name: name.to_owned() })
                .await
                .unwrap_err();
            assert_denied(&status, "customers.delete", name);
        }
    }

    // Scope ALL (the admin, and a manager bound with ALL) may learn that it does not exist.
    for key in [app.admin_key.as_str(), everything.as_str()] {
        let status = app
            .customers_as(Some(key))
            .get_customer(pb::GetCustomerRequest {
                name: missing.to_owned(),
            })
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::NotFound, "{status:?}");
        assert_eq!(reason_of(&status), "CUSTOMER_NOT_FOUND", "{status:?}");
        let status = app
            .customers_as(Some(key))
            .batch_get_customers(pb::BatchGetCustomersRequest {
                names: vec![missing.to_owned()],
            })
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::NotFound, "{status:?}");
        assert_eq!(reason_of(&status), "CUSTOMER_NOT_FOUND", "{status:?}");
    }

    // A deleted customer of its department is CUSTOMER_DELETED to the DEPARTMENT manager; a
    // deleted customer of another department is still PERMISSION_DENIED.
    let deleted_here = create_as_admin(&app, "deleted-sales", customer_at(Position::Dept, "", "Gone")).await;
    let deleted_there = create_as_admin(&app, "deleted-ops", customer_at(Position::Other, "", "Gone")).await;
    for customer in [&deleted_here, &deleted_there] {
        app.customers
            .clone()
            .delete_customer(pb::DeleteCustomerRequest {
                name: customer.name.clone(),
                etag: String::new(),
            })
            .await
            .expect("admin delete");
    }
    let mut customers = app.customers_as(Some(&department));
    let status = customers
        .get_customer(pb::GetCustomerRequest {
            name: deleted_here.name.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    assert_eq!(reason_of(&status), "CUSTOMER_DELETED", "{status:?}");
    let status = customers
        .get_customer(pb::GetCustomerRequest {
            name: deleted_there.name.clone(),
        })
        .await
        .unwrap_err();
    assert_denied(&status, "customers.get", &deleted_there.name);
}

/// Deny by default: a principal with a key but no role binding may not even list.
async fn a_principal_without_bindings_may_not_list(app: TestApp) {
    add_principal(&app, "nobody", "sales").await;
    let key = key_of(&app, "nobody").await;
    let customer = create_as_admin(&app, "some-customer", customer_at(Position::Dept, "", "Some")).await;
    let mut customers = app.customers_as(Some(&key));

    let status = customers
        .list_customers(pb::ListCustomersRequest::default())
        .await
        .unwrap_err();
    assert_denied(&status, "customers.list", "customers");
    let status = customers
        .get_customer(pb::GetCustomerRequest {
            name: customer.name.clone(),
        })
        .await
        .unwrap_err();
    assert_denied(&status, "customers.get", &customer.name);

    // It is authenticated all the same: WhoAmI answers, with no permissions.
    let me = app
        .access_as(Some(&key))
        .who_am_i(pb::WhoAmIRequest {})
        .await
        .expect("who am I")
        .into_inner();
    assert_eq!(me.principal.unwrap().name, "principals/nobody");
    assert!(me.permissions.is_empty(), "{:?}", me.permissions);
}

/// A binding grants until its `expire_time` and nothing from then on; it is not deleted.
async fn an_expired_binding_no_longer_grants(app: TestApp) {
    let customer = create_as_admin(&app, "some-customer", customer_at(Position::Other, "", "Some")).await;
    add_principal(&app, "temp", "sales").await;
    let expire_at = SystemTime::now() + Duration::from_secs(3);
    let binding = bind(
        &app,
        "temp",
        "sales_rep",
        pb::Scope::All,
        Some(prost_types::Timestamp::from(expire_at)),
    )
    .await;
    let key = key_of(&app, "temp").await;
    let mut customers = app.customers_as(Some(&key));

    let listed = customers
        .list_customers(pb::ListCustomersRequest::default())
        .await
        .expect("list while the binding is live")
        .into_inner();
    assert_eq!(listed.customers.len(), 1);
    customers
        .get_customer(pb::GetCustomerRequest {
            name: customer.name.clone(),
        })
        .await
        .expect("get while the binding is live");
    assert!(
        SystemTime::now() < expire_at,
        "the set-up took too long to observe the live binding"
    );

    let wait = expire_at
        .duration_since(SystemTime::now())
        .unwrap_or_default()
        .saturating_add(Duration::from_millis(300));
    tokio::time::sleep(wait).await;

    let status = customers
        .list_customers(pb::ListCustomersRequest::default())
        .await
        .unwrap_err();
    assert_denied(&status, "customers.list", "customers");
    let status = customers
        .get_customer(pb::GetCustomerRequest {
            name: customer.name.clone(),
        })
        .await
        .unwrap_err();
    assert_denied(&status, "customers.get", &customer.name);

    // The expired binding is still there.
    let bindings = app
        .access
        .clone()
        .list_role_bindings(pb::ListRoleBindingsRequest {
            principal: "principals/temp".into(),
            ..Default::default()
        })
        .await
        .expect("list bindings")
        .into_inner()
        .role_bindings;
    assert_eq!(
        bindings.iter().map(|b| b.name.clone()).collect::<Vec<_>>(),
        vec![binding.name]
    );
}

/// Disabling a principal stops its keys at once (UNAUTHENTICATED, like any bad key); enabling it
/// again makes them work again.
async fn a_disabled_principal_cannot_authenticate(app: TestApp) {
    let key = principal_with(&app, "to-disable", "sales", "sales_rep", pb::Scope::All).await;
    app.customers_as(Some(&key))
        .list_customers(pb::ListCustomersRequest::default())
        .await
        .expect("list while enabled");

    let set_disabled = |disabled: bool| {
        let mut access = app.access.clone();
        async move {
            access
                .update_principal(pb::UpdatePrincipalRequest {
                    principal: Some(pb::Principal {
                        name: "principals/to-disable".into(),
                        disabled,
                        ..Default::default()
                    }),
                    update_mask: mask(&["disabled"]),
                })
                .await
                .expect("update principal")
                .into_inner()
        }
    };
    assert!(set_disabled(true).await.disabled);

    let status = app
        .customers_as(Some(&key))
        .list_customers(pb::ListCustomersRequest::default())
        .await
        .unwrap_err();
    assert_unauthenticated(&status);
    let status = app
        .access_as(Some(&key))
        .who_am_i(pb::WhoAmIRequest {})
        .await
        .unwrap_err();
    assert_unauthenticated(&status);

    assert!(!set_disabled(false).await.disabled);
    app.customers_as(Some(&key))
        .list_customers(pb::ListCustomersRequest::default())
        .await
        .expect("list after enabling again");
}
