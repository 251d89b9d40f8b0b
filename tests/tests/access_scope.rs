//! Scopes and contact data end to end: masking of contact details without
//! `customers.read_contact` (and no filtering by them), safe read-modify-write of masked
//! customers, listing and paging within OWN and DEPARTMENT scopes, creating under OWN,
//! reassignment needing `customers.reassign`, and the audit trail of allowed and denied requests,
//! against SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{collections::HashSet, time::Duration};

use crm_tests::{TestApp, add_principal, assert_no_leak, e2e, organization, pb, reason, violated_fields};
use futures::StreamExt;
use tonic::{Code, Status};
use tonic_types::StatusExt;

e2e!(
    contact_details_are_masked_without_read_contact,
    filtering_by_a_masked_contact_field_is_refused,
    a_masked_customer_sent_back_keeps_its_contact,
    lists_page_within_own_and_department_scopes,
    filters_on_owner_and_department_stay_within_scope,
    an_own_scoped_sales_rep_creates_only_customers_it_owns,
    changing_owner_or_department_needs_reassign,
    allowed_and_denied_requests_are_audited,
);

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

const EMAIL: &str = "jane@example.com";
/// The first character of the local part, `***`, then the domain.
const EMAIL_MASKED: &str = "j***@example.com";
const PHONE: &str = "+8613800000021";
/// `+8613800000021` has 14 characters: `+86` and `21` kept, the 9 between starred.
const PHONE_MASKED: &str = "+86*********21";

fn mask(paths: &[&str]) -> Option<prost_types::FieldMask> {
    Some(prost_types::FieldMask {
        paths: paths.iter().map(|p| (*p).to_owned()).collect(),
    })
}

/// Binds `principals/{id}` to `roles/{role}` with `scope`.
async fn bind(app: &TestApp, id: &str, role: &str, scope: pb::Scope) {
    app.access
        .clone()
        .create_role_binding(pb::CreateRoleBindingRequest {
            role_binding: Some(pb::RoleBinding {
                principal: format!("principals/{id}"),
                role: format!("roles/{role}"),
                scope: scope as i32,
                ..Default::default()
            }),
        })
        .await
        .expect("create role binding");
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
    bind(app, id, role, scope).await;
    key_of(app, id).await
}

/// An organisation of `department` owned by `owner` (each may be empty), with Jane's contact.
fn customer(display_name: &str, department: &str, owner: &str) -> pb::Customer {
    pb::Customer {
        department: department.to_owned(),
        owner: owner.to_owned(),
        contact: Some(pb::Contact {
            full_name: "Jane Doe".into(),
            job_title: "CFO".into(),
            email: EMAIL.into(),
            phone: PHONE.into(),
            ..Default::default()
        }),
        tags: vec!["east".into()],
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

async fn get(client: &mut crm_tests::CustomersClient, name: &str) -> Result<pb::Customer, Status> {
    client
        .get_customer(pb::GetCustomerRequest { name: name.to_owned() })
        .await
        .map(tonic::Response::into_inner)
}

async fn update(
    client: &mut crm_tests::CustomersClient,
    customer: pb::Customer,
    paths: &[&str],
) -> Result<pb::Customer, Status> {
    client
        .update_customer(pb::UpdateCustomerRequest {
            customer: Some(customer),
            update_mask: mask(paths),
        })
        .await
        .map(tonic::Response::into_inner)
}

/// Every customer the query returns, following page tokens to the end; checks that no page is
/// larger than asked for and that a page with a next_page_token is not empty.
async fn list_all(
    client: &mut crm_tests::CustomersClient,
    filter: &str,
    order_by: &str,
    page_size: i32,
) -> Result<Vec<pb::Customer>, Status> {
    let mut all = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_customers(pb::ListCustomersRequest {
                page_size,
                page_token,
                filter: filter.to_owned(),
                order_by: order_by.to_owned(),
                show_deleted: false,
            })
            .await?
            .into_inner();
        assert!(
            page.customers.len() <= usize::try_from(page_size).unwrap(),
            "a page of {} customers for page_size {page_size}",
            page.customers.len()
        );
        if page.next_page_token.is_empty() {
            all.extend(page.customers);
            return Ok(all);
        }
        assert!(!page.customers.is_empty(), "an empty page with a next_page_token");
        all.extend(page.customers);
        page_token = page.next_page_token;
    }
}

fn names(customers: &[pb::Customer]) -> Vec<String> {
    customers.iter().map(|c| c.name.clone()).collect()
}

fn contact_of(customer: &pb::Customer) -> (String, String) {
    let contact = customer.contact.clone().unwrap_or_default();
    (contact.email, contact.phone)
}

fn masked() -> (String, String) {
    (EMAIL_MASKED.to_owned(), PHONE_MASKED.to_owned())
}

fn unmasked() -> (String, String) {
    (EMAIL.to_owned(), PHONE.to_owned())
}

/// The `ErrorInfo` metadata entry `key`, or "" without it.
fn metadata(status: &Status, key: &str) -> String {
    status
        .get_details_error_info()
        .and_then(|info| info.metadata.get(key).cloned())
        .unwrap_or_default()
}

/// Asserts PERMISSION_DENIED with reason `PERMISSION_DENIED` (domain `crm.v1`) naming
/// `permission` and `resource`.
#[track_caller]
fn assert_denied(status: &Status, permission: &str, resource: &str) {
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert_eq!(
        reason(status),
        Some(("PERMISSION_DENIED".to_owned(), "crm.v1".to_owned())),
        "{status:?}"
    );
    assert_eq!(metadata(status, "permission"), permission, "{status:?}");
    assert_eq!(metadata(status, "resource"), resource, "{status:?}");
    assert_no_leak(status);
}

/// Asserts PERMISSION_DENIED with reason `CONTACT_FIELD_HIDDEN` naming `field`.
#[track_caller]
fn assert_contact_field_hidden(status: &Status, field: &str) {
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert_eq!(
        reason(status),
        Some(("CONTACT_FIELD_HIDDEN".to_owned(), "crm.v1".to_owned())),
        "{status:?}"
    );
    assert_eq!(metadata(status, "field"), field, "{status:?}");
    assert_no_leak(status);
}

// ---------------------------------------------------------------------------------------------
// Contact masking
// ---------------------------------------------------------------------------------------------

async fn contact_details_are_masked_without_read_contact(app: TestApp) {
    let analyst = principal_with(&app, "analyst", "sales", "analyst", pb::Scope::All).await;
    let support = principal_with(&app, "support", "sales", "support", pb::Scope::All).await;
    let rep = principal_with(&app, "rep", "sales", "sales_rep", pb::Scope::Own).await;
    // Reads everything (analyst, ALL) but contacts only of its own customers (sales_rep, OWN).
    let mixed = principal_with(&app, "mixed", "sales", "analyst", pb::Scope::All).await;
    bind(&app, "mixed", "sales_rep", pb::Scope::Own).await;

    let jane = create_as_admin(&app, "jane-co", customer("Jane Co", "sales", "principals/someone")).await;
    let reps = create_as_admin(&app, "reps-co", customer("Reps Co", "sales", "principals/rep")).await;
    let mixeds = create_as_admin(&app, "mixeds-co", customer("Mixeds Co", "ops", "principals/mixed")).await;
    assert_eq!(contact_of(&jane), unmasked(), "the admin creates and sees it in full");

    // (caller, customer, expected contact) for Get, BatchGet and List.
    let cases = [
        (app.admin_key.as_str(), &jane, unmasked()),
        (analyst.as_str(), &jane, masked()),
        (analyst.as_str(), &reps, masked()),
        (support.as_str(), &jane, unmasked()),
        (rep.as_str(), &reps, unmasked()),
        (mixed.as_str(), &jane, masked()),
        (mixed.as_str(), &mixeds, unmasked()),
    ];
    for (key, target, expected) in cases {
        let mut client = app.customers_as(Some(key));
        let got = get(&mut client, &target.name).await.expect("get");
        assert_eq!(contact_of(&got), expected, "GetCustomer {}", target.name);
        // The rest of the contact is not personal data and stays.
        assert_eq!(got.contact.clone().unwrap().full_name, "Jane Doe");

        let got = client
            .batch_get_customers(pb::BatchGetCustomersRequest {
                names: vec![target.name.clone()],
            })
            .await
            .expect("batch get")
            .into_inner()
            .customers;
        assert_eq!(got.len(), 1);
        assert_eq!(contact_of(&got[0]), expected, "BatchGetCustomers {}", target.name);

        let listed = list_all(
            &mut client,
            &format!(r#"display_name = "{}""#, target.display_name),
            "",
            10,
        )
        .await
        .expect("list");
        assert_eq!(names(&listed), vec![target.name.clone()]);
        assert_eq!(contact_of(&listed[0]), expected, "ListCustomers {}", target.name);
    }

    // One list holding both: masked per customer.
    let listed = list_all(&mut app.customers_as(Some(&mixed)), "", "display_name", 10)
        .await
        .expect("list");
    let contacts: Vec<(String, (String, String))> = listed.iter().map(|c| (c.name.clone(), contact_of(c))).collect();
    assert_eq!(
        contacts,
        vec![
            (jane.name.clone(), masked()),
            (mixeds.name.clone(), unmasked()),
            (reps.name.clone(), masked()),
        ]
    );

    // The stored values are untouched by all that reading.
    assert_eq!(
        contact_of(&get(&mut app.customers.clone(), &jane.name).await.unwrap()),
        unmasked()
    );
}

async fn filtering_by_a_masked_contact_field_is_refused(app: TestApp) {
    let analyst = principal_with(&app, "analyst", "sales", "analyst", pb::Scope::All).await;
    let rep = principal_with(&app, "rep", "sales", "sales_rep", pb::Scope::Own).await;
    let support = principal_with(&app, "support", "sales", "support", pb::Scope::All).await;
    // May list every customer, but read contacts only of its own.
    let mixed = principal_with(&app, "mixed", "sales", "analyst", pb::Scope::All).await;
    bind(&app, "mixed", "sales_rep", pb::Scope::Own).await;

    let jane = create_as_admin(&app, "jane-co", customer("Jane Co", "sales", "principals/someone")).await;
    let reps = create_as_admin(&app, "reps-co", customer("Reps Co", "sales", "principals/rep")).await;
    let mut other = customer("Other Co", "sales", "principals/rep");
    other.contact.as_mut().unwrap().email = "otto@example.com".into();
    create_as_admin(&app, "other-co", other).await;

    let by_email = format!(r#"contact.email = "{EMAIL}""#);
    let by_phone = format!(r#"contact.phone = "{PHONE}""#);
    let nested = format!(r#"display_name = "Jane Co" AND (kind = ORGANIZATION OR NOT contact.email = "{EMAIL}")"#);
    for key in [&analyst, &mixed] {
        let mut client = app.customers_as(Some(key));
        let status = list_all(&mut client, &by_email, "", 10).await.unwrap_err();
        assert_contact_field_hidden(&status, "contact.email");
        let status = list_all(&mut client, &by_phone, "", 10).await.unwrap_err();
        assert_contact_field_hidden(&status, "contact.phone");
        let status = list_all(&mut client, &nested, "", 10).await.unwrap_err();
        assert_contact_field_hidden(&status, "contact.email");
    }

    // Callers that read the contact of every customer they may list can filter by it.
    for (key, expected) in [
        (app.admin_key.as_str(), vec![jane.name.clone(), reps.name.clone()]),
        (support.as_str(), vec![jane.name.clone(), reps.name.clone()]),
        (rep.as_str(), vec![reps.name.clone()]),
    ] {
        let mut client = app.customers_as(Some(key));
        let listed = list_all(&mut client, &by_email, "display_name", 10)
            .await
            .expect("filter by e-mail");
        assert_eq!(names(&listed), expected);
        let listed = list_all(&mut client, &by_phone, "display_name", 10)
            .await
            .expect("filter by phone");
        assert_eq!(listed.len(), expected.len() + 1, "every customer has Jane's phone");
    }
}

async fn a_masked_customer_sent_back_keeps_its_contact(app: TestApp) {
    app.access
        .clone()
        .create_role(pb::CreateRoleRequest {
            role_id: "editor".into(),
            role: Some(pb::Role {
                title: "Editor".into(),
                permissions: vec![
                    "customers.get".into(),
                    "customers.list".into(),
                    "customers.update".into(),
                ],
                ..Default::default()
            }),
        })
        .await
        .expect("create role");
    let editor = principal_with(&app, "editor", "sales", "editor", pb::Scope::All).await;
    let mut client = app.customers_as(Some(&editor));
    let original = create_as_admin(&app, "jane-co", customer("Jane Co", "sales", "principals/someone")).await;

    // Read (masked), change the name, send everything back with `*`.
    let mut seen = get(&mut client, &original.name).await.expect("get");
    assert_eq!(contact_of(&seen), masked());
    seen.display_name = "Jane Company".into();
    let updated = update(&mut client, seen, &["*"])
        .await
        .expect("update with every field");
    assert_eq!(updated.display_name, "Jane Company");
    assert_eq!(contact_of(&updated), masked(), "the response is masked too");

    let stored = get(&mut app.customers.clone(), &original.name).await.unwrap();
    assert_eq!(stored.display_name, "Jane Company");
    assert_eq!(
        contact_of(&stored),
        unmasked(),
        "the echoed masks did not overwrite the contact"
    );
    assert_eq!(stored.contact.clone().unwrap().full_name, "Jane Doe");
    assert_eq!(
        (stored.owner.as_str(), stored.department.as_str()),
        ("principals/someone", "sales")
    );

    // The same through the narrower paths.
    for paths in [&["contact"][..], &["contact.email", "contact.phone"][..]] {
        let seen = get(&mut client, &original.name).await.expect("get");
        update(&mut client, seen, paths)
            .await
            .unwrap_or_else(|e| panic!("echo through {paths:?}: {e:?}"));
        let stored = get(&mut app.customers.clone(), &original.name).await.unwrap();
        assert_eq!(contact_of(&stored), unmasked(), "echo through {paths:?}");
    }

    // A masked-looking number that is not the mask of the stored one is rejected.
    let mut seen = get(&mut client, &original.name).await.expect("get");
    seen.display_name = "Renamed again".into();
    seen.contact.as_mut().unwrap().phone = "+86******99".into();
    let status = update(&mut client, seen, &["*"]).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_eq!(violated_fields(&status), vec!["customer.contact.phone".to_owned()]);
    assert_no_leak(&status);
    let stored = get(&mut app.customers.clone(), &original.name).await.unwrap();
    assert_eq!(
        stored.display_name, "Jane Company",
        "nothing of the rejected update was applied"
    );
    assert_eq!(contact_of(&stored), unmasked());
}

// ---------------------------------------------------------------------------------------------
// Listing within a scope
// ---------------------------------------------------------------------------------------------

const OWNERS: [&str; 3] = ["principals/rep-a", "principals/rep-b", "principals/rep-c"];

/// Forty customers over departments sales / ops / none, owners rep-a / rep-b / rep-c / none, some
/// tagged `vip`; display names in an order other than creation. Returns them as stored.
async fn scope_data_set(app: &TestApp) -> Vec<pb::Customer> {
    let inputs: Vec<(String, pb::Customer)> = (0..40_usize)
        .map(|i| {
            let department = match i {
                _ if i % 5 == 4 => "",
                _ if i % 2 == 0 => "sales",
                _ => "ops",
            };
            let owner = if i % 7 == 6 { "" } else { OWNERS[i % 3] };
            let mut c = customer(&format!("Customer {:02}", (i * 17) % 40), department, owner);
            c.tags = if i % 4 == 2 {
                vec!["std".into()]
            } else {
                vec!["vip".into()]
            };
            (format!("scoped-{i:02}"), c)
        })
        .collect();
    futures::stream::iter(inputs)
        .map(|(id, c)| async move { create_as_admin(app, &id, c).await })
        .buffer_unordered(4)
        .collect()
        .await
}

/// The names of `customers` that satisfy `keep`, ordered by display name (`desc` reversed).
fn expected_names(customers: &[pb::Customer], keep: impl Fn(&pb::Customer) -> bool, desc: bool) -> Vec<String> {
    let mut kept: Vec<&pb::Customer> = customers.iter().filter(|c| keep(c)).collect();
    kept.sort_by(|a, b| a.display_name.cmp(&b.display_name));
    if desc {
        kept.reverse();
    }
    kept.into_iter().map(|c| c.name.clone()).collect()
}

fn is_vip(c: &pb::Customer) -> bool {
    c.tags.iter().any(|t| t == "vip")
}

#[track_caller]
fn assert_no_duplicates(listed: &[pb::Customer]) {
    let unique: HashSet<&str> = listed.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(unique.len(), listed.len(), "duplicates in {:?}", names(listed));
}

/// Which customers a principal may list, as the test data says.
type InScope = Box<dyn Fn(&pb::Customer) -> bool>;

async fn lists_page_within_own_and_department_scopes(app: TestApp) {
    let rep_a = principal_with(&app, "rep-a", "sales", "sales_rep", pb::Scope::Own).await;
    let manager = principal_with(&app, "mgr-sales", "sales", "manager", pb::Scope::Department).await;
    // Two bindings: its own customers and the sales department's, the union.
    let rep_c = principal_with(&app, "rep-c", "ops", "sales_rep", pb::Scope::Own).await;
    add_principal(&app, "lead", "sales").await;
    bind(&app, "lead", "sales_rep", pb::Scope::Own).await;
    bind(&app, "lead", "analyst", pb::Scope::Department).await;
    let lead = key_of(&app, "lead").await;
    let all = scope_data_set(&app).await;

    let cases: [(&str, &str, InScope); 4] = [
        ("rep-a", rep_a.as_str(), Box::new(|c| c.owner == "principals/rep-a")),
        ("mgr-sales", manager.as_str(), Box::new(|c| c.department == "sales")),
        // rep-c is in ops, but an OWN binding does not care about departments.
        ("rep-c", rep_c.as_str(), Box::new(|c| c.owner == "principals/rep-c")),
        (
            "lead",
            lead.as_str(),
            Box::new(|c| c.owner == "principals/lead" || c.department == "sales"),
        ),
    ];
    for (who, key, in_scope) in &cases {
        let mut client = app.customers_as(Some(*key));
        for (filter, order_by, desc) in [
            (r#"tags: "vip""#, "display_name", false),
            (r#"tags: "vip""#, "display_name desc", true),
            ("", "display_name", false),
        ] {
            let want = expected_names(&all, |c| in_scope(c) && (filter.is_empty() || is_vip(c)), desc);
            assert!(want.len() > 3, "{who}: the data set must span several pages");
            for page_size in [3, 1000] {
                let listed = list_all(&mut client, filter, order_by, page_size)
                    .await
                    .unwrap_or_else(|e| panic!("{who} list {filter:?} {order_by:?}: {e:?}"));
                assert_no_duplicates(&listed);
                assert_eq!(
                    names(&listed),
                    want,
                    "{who}: filter {filter:?}, order_by {order_by:?}, page_size {page_size}"
                );
            }
        }
        // The default order (create_time) pages over the same set.
        let mut listed = names(&list_all(&mut client, "", "", 3).await.expect("list"));
        let mut want = expected_names(&all, |c| in_scope(c), false);
        listed.sort();
        want.sort();
        assert_eq!(listed, want, "{who}: default order");
    }
}

async fn filters_on_owner_and_department_stay_within_scope(app: TestApp) {
    let rep_a = principal_with(&app, "rep-a", "sales", "sales_rep", pb::Scope::Own).await;
    let manager = principal_with(&app, "mgr-sales", "sales", "manager", pb::Scope::Department).await;
    let all = scope_data_set(&app).await;

    let own = |c: &pb::Customer| c.owner == "principals/rep-a";
    let dept = |c: &pb::Customer| c.department == "sales";
    let cases: Vec<(&str, &str, Vec<String>)> = vec![
        // rep-a (OWN): only its own, whatever the filter asks for.
        (rep_a.as_str(), r#"owner = "principals/rep-b""#, Vec::new()),
        (
            rep_a.as_str(),
            r#"owner = "principals/rep-a""#,
            expected_names(&all, own, false),
        ),
        (
            rep_a.as_str(),
            r#"department = "ops""#,
            expected_names(&all, |c| own(c) && c.department == "ops", false),
        ),
        (
            rep_a.as_str(),
            r#"owner = "principals/rep-b" OR department = "ops""#,
            expected_names(&all, |c| own(c) && c.department == "ops", false),
        ),
        (rep_a.as_str(), r#"owner != "principals/rep-a""#, Vec::new()),
        // mgr-sales (DEPARTMENT sales): only sales, whatever the filter asks for.
        (manager.as_str(), r#"department = "ops""#, Vec::new()),
        (manager.as_str(), r#"department != "sales""#, Vec::new()),
        (
            manager.as_str(),
            r#"owner = "principals/rep-a""#,
            expected_names(&all, |c| dept(c) && c.owner == "principals/rep-a", false),
        ),
        (
            manager.as_str(),
            r#"owner = "principals/rep-b" OR department = "ops""#,
            expected_names(&all, |c| dept(c) && c.owner == "principals/rep-b", false),
        ),
        (
            manager.as_str(),
            r#"NOT owner = "principals/rep-a""#,
            expected_names(&all, |c| dept(c) && c.owner != "principals/rep-a", false),
        ),
    ];
    for (key, filter, want) in cases {
        let listed = list_all(&mut app.customers_as(Some(key)), filter, "display_name", 3)
            .await
            .unwrap_or_else(|e| panic!("list {filter:?}: {e:?}"));
        assert_no_duplicates(&listed);
        assert_eq!(names(&listed), want, "filter {filter:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Create and reassign
// ---------------------------------------------------------------------------------------------

async fn an_own_scoped_sales_rep_creates_only_customers_it_owns(app: TestApp) {
    let rep = principal_with(&app, "rep", "sales", "sales_rep", pb::Scope::Own).await;
    let mut client = app.customers_as(Some(&rep));
    let create = |id: &str, department: &str, owner: &str| {
        let mut client = app.customers_as(Some(&rep));
        let request = pb::CreateCustomerRequest {
            customer: Some(customer(&format!("Customer {id}"), department, owner)),
            customer_id: id.to_owned(),
            request_id: String::new(),
        };
        async move { client.create_customer(request).await.map(tonic::Response::into_inner) }
    };

    for (id, department, owner) in [
        ("mine-sales", "sales", "principals/rep"),
        ("mine-none", "", "principals/rep"),
    ] {
        let created = create(id, department, owner)
            .await
            .unwrap_or_else(|e| panic!("create {id}: {e:?}"));
        assert_eq!(created.owner, "principals/rep");
        assert_eq!(contact_of(&created), unmasked(), "its own customer, with read_contact");
        get(&mut client, &created.name)
            .await
            .expect("its own new customer is readable");
    }

    for (id, department, owner) in [
        ("someone-elses", "sales", "principals/someone"),
        ("unowned-sales", "sales", ""),
        ("unowned", "", ""),
    ] {
        let status = create(id, department, owner).await.unwrap_err();
        assert_denied(&status, "customers.create", &format!("customers/{id}"));
        let status = get(&mut app.customers.clone(), &format!("customers/{id}"))
            .await
            .unwrap_err();
        assert_eq!(
            status.code(),
            Code::NotFound,
            "{id} must not have been created: {status:?}"
        );
    }
}

async fn changing_owner_or_department_needs_reassign(app: TestApp) {
    let rep = principal_with(&app, "rep", "sales", "sales_rep", pb::Scope::Own).await;
    let manager = principal_with(&app, "mgr", "sales", "manager", pb::Scope::Department).await;
    let mut client = app.customers_as(Some(&rep));
    let mine = create_as_admin(&app, "reps-co", customer("Reps Co", "sales", "principals/rep")).await;
    let stored = || {
        let mut admin = app.customers.clone();
        let name = mine.name.clone();
        async move { get(&mut admin, &name).await.unwrap() }
    };

    // Changing the owner or the department without customers.reassign is denied and changes
    // nothing, even with other changes in the same request.
    for (paths, change) in [
        (
            &["owner"][..],
            pb::Customer {
                owner: "principals/other".into(),
                ..Default::default()
            },
        ),
        (
            &["department"][..],
            pb::Customer {
                department: "ops".into(),
                ..Default::default()
            },
        ),
        (&["department"][..], pb::Customer::default()),
        (
            &["display_name", "owner"][..],
            pb::Customer {
                display_name: "Renamed".into(),
                ..Default::default()
            },
        ),
    ] {
        let request = pb::Customer {
            name: mine.name.clone(),
            ..change
        };
        let status = update(&mut client, request, paths).await.unwrap_err();
        assert_denied(&status, "customers.reassign", &mine.name);
        let now = stored().await;
        assert_eq!(
            (now.display_name.as_str(), now.owner.as_str(), now.department.as_str()),
            ("Reps Co", "principals/rep", "sales"),
            "{paths:?}"
        );
    }

    // Sending owner and department unchanged is no reassignment.
    let mut seen = get(&mut client, &mine.name).await.unwrap();
    seen.display_name = "Reps Company".into();
    let updated = update(&mut client, seen, &["*"]).await.expect("update with `*`");
    assert_eq!(updated.display_name, "Reps Company");
    update(
        &mut client,
        pb::Customer {
            name: mine.name.clone(),
            owner: "principals/rep".into(),
            department: "sales".into(),
            ..Default::default()
        },
        &["owner", "department"],
    )
    .await
    .expect("owner and department set to their stored values");
    assert_eq!(stored().await.display_name, "Reps Company");

    // A manager (customers.reassign in its department) may reassign; then the rep loses it.
    let reassigned = update(
        &mut app.customers_as(Some(&manager)),
        pb::Customer {
            name: mine.name.clone(),
            owner: "principals/rep-two".into(),
            ..Default::default()
        },
        &["owner"],
    )
    .await
    .expect("the manager reassigns");
    assert_eq!(reassigned.owner, "principals/rep-two");
    assert_eq!(stored().await.owner, "principals/rep-two");
    let status = get(&mut client, &mine.name).await.unwrap_err();
    assert_denied(&status, "customers.get", &mine.name);
}

// ---------------------------------------------------------------------------------------------
// Audit
// ---------------------------------------------------------------------------------------------

/// The admin's view of `actor`'s audit events, newest first.
async fn audit_events_of(app: &TestApp, actor: &str) -> Vec<pb::AuditEvent> {
    let mut events = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = app
            .access
            .clone()
            .list_audit_events(pb::ListAuditEventsRequest {
                actor: actor.to_owned(),
                page_size: 100,
                page_token,
                ..Default::default()
            })
            .await
            .expect("list audit events")
            .into_inner();
        events.extend(page.audit_events);
        if page.next_page_token.is_empty() {
            return events;
        }
        page_token = page.next_page_token;
    }
}

fn has_event(events: &[pb::AuditEvent], action: &str, resource: &str, outcome: pb::AuditOutcome) -> bool {
    events
        .iter()
        .any(|e| e.action == action && e.resource == resource && e.outcome == outcome as i32)
}

async fn allowed_and_denied_requests_are_audited(app: TestApp) {
    let rep = principal_with(&app, "rep", "sales", "sales_rep", pb::Scope::Own).await;
    let mut client = app.customers_as(Some(&rep));
    let theirs = create_as_admin(&app, "theirs", customer("Theirs", "sales", "principals/someone")).await;
    let mine = create_as_admin(&app, "mine", customer("Mine", "sales", "principals/rep")).await;

    let status = get(&mut client, &theirs.name).await.unwrap_err();
    assert_denied(&status, "customers.get", &theirs.name);
    update(
        &mut client,
        pb::Customer {
            name: mine.name.clone(),
            display_name: "Mine, renamed".into(),
            ..Default::default()
        },
        &["display_name"],
    )
    .await
    .expect("update its own customer");

    // The rep may not read the audit log itself.
    let status = app
        .access_as(Some(&rep))
        .list_audit_events(pb::ListAuditEventsRequest {
            actor: "principals/rep".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert_eq!(metadata(&status, "permission"), "audit.read", "{status:?}");

    // The audit log may be written just after the response: give it a moment.
    let mut events = Vec::new();
    for _ in 0..50 {
        events = audit_events_of(&app, "principals/rep").await;
        if has_event(&events, "GetCustomer", &theirs.name, pb::AuditOutcome::Denied)
            && has_event(&events, "UpdateCustomer", &mine.name, pb::AuditOutcome::Allowed)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        has_event(&events, "GetCustomer", &theirs.name, pb::AuditOutcome::Denied),
        "no DENIED GetCustomer of {} in {events:#?}",
        theirs.name
    );
    assert!(
        has_event(&events, "UpdateCustomer", &mine.name, pb::AuditOutcome::Allowed),
        "no ALLOWED UpdateCustomer of {} in {events:#?}",
        mine.name
    );
    assert!(
        events.iter().all(|e| e.actor == "principals/rep"),
        "the actor filter let others through: {events:#?}"
    );
    assert!(
        events.iter().all(|e| !e.detail.contains(&rep)),
        "an event holds the API key: {events:#?}"
    );
    // Newest first: the update came after the denied read.
    let position = |action: &str| events.iter().position(|e| e.action == action).unwrap();
    assert!(position("UpdateCustomer") < position("GetCustomer"), "{events:#?}");
}
