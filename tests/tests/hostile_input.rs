//! Input a hostile or careless caller sends, end to end over real gRPC on SQLite and PostgreSQL:
//!
//! - control characters (NUL above all, which PostgreSQL cannot store) in every text that
//!   reaches the database are INVALID_ARGUMENT naming the field, identically on both backends,
//!   and nothing is stored; prose keeps its line breaks and tabs;
//! - creating a customer with an id held by one the caller may not see is answered as a Get of
//!   it would be (AIP-211), while idempotent retries keep working;
//! - huge values and thousands of invalid elements give a small INVALID_ARGUMENT, never
//!   trailers a client refuses; garbage or tampered page tokens are INVALID_ARGUMENT;
//! - a history query whose value and dimension disagree is INVALID_ARGUMENT; an invalid policy
//!   reports every problem at once;
//! - refused (unauthenticated) requests reach the audit log, rate-limited.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use chrono::Utc;
use crm_tests::{
    TestApp, assert_error_info, assert_no_leak, create, e2e, organization, pb, principal_with_key, violated_fields,
    violations,
};
use tonic::{Code, Status};
use tonic_types::StatusExt as _;

e2e!(
    nul_bytes_are_invalid_arguments_naming_their_field,
    other_control_characters_follow_the_same_rules,
    prose_keeps_its_line_breaks_and_tabs,
    a_taken_id_outside_the_callers_scope_is_denied_as_a_get_would_be,
    idempotent_creates_still_return_the_first_customer,
    huge_values_and_thousands_of_invalid_elements_give_a_small_error,
    garbage_and_tampered_page_tokens_are_invalid_arguments,
    a_history_value_of_another_dimension_is_invalid,
    an_invalid_policy_reports_every_problem_at_once,
    refused_requests_are_audited_rate_limited,
);

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn ts(time: chrono::DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: time.timestamp(),
        nanos: 0,
    }
}

/// Asserts INVALID_ARGUMENT with a field violation at `field`, and nothing internal leaked.
#[track_caller]
fn assert_invalid<T: std::fmt::Debug>(result: Result<T, Status>, field: &str) -> Status {
    let status = result.expect_err("the request should be rejected");
    assert_eq!(status.code(), Code::InvalidArgument, "{field}: {status:?}");
    assert!(
        violated_fields(&status).iter().any(|f| f == field),
        "expected a violation of {field}: {status:?}"
    );
    assert_no_leak(&status);
    status
}

/// The bytes an error takes in the trailers: its message and its encoded details.
fn error_bytes(status: &Status) -> usize {
    status.message().len() + status.details().len()
}

async fn list_filter(app: &TestApp, filter: &str) -> Result<pb::ListCustomersResponse, Status> {
    app.customers
        .clone()
        .list_customers(pb::ListCustomersRequest {
            filter: filter.to_owned(),
            ..Default::default()
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn active_policy(app: &TestApp) -> pb::ClassificationPolicy {
    app.classification
        .clone()
        .get_policy(pb::GetPolicyRequest {
            name: "policies/active".to_owned(),
        })
        .await
        .expect("active policy")
        .into_inner()
        .policy
        .expect("policy")
}

async fn record_note(app: &TestApp, customer: &str, note: &str) -> Result<pb::Interaction, Status> {
    app.classification
        .clone()
        .record_interaction(pb::RecordInteractionRequest {
            customer: customer.to_owned(),
            channel: pb::InteractionChannel::Phone as i32,
            occur_time: Some(ts(Utc::now())),
            note: note.to_owned(),
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn interactions(app: &TestApp, customer: &str) -> Vec<pb::Interaction> {
    app.classification
        .clone()
        .list_interactions(pb::ListInteractionsRequest {
            parent: customer.to_owned(),
            ..Default::default()
        })
        .await
        .expect("list interactions")
        .into_inner()
        .interactions
}

async fn override_grade(app: &TestApp, customer: &str, reason: &str) -> Result<pb::Customer, Status> {
    app.classification
        .clone()
        .override_classification(pb::OverrideClassificationRequest {
            customer: customer.to_owned(),
            value: Some(pb::ClassValue {
                value: Some(pb::class_value::Value::Grade(pb::Grade::Vip as i32)),
            }),
            reason: reason.to_owned(),
            expire_time: None,
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn create_policy(
    app: &TestApp,
    policy: pb::ClassificationPolicy,
    description: &str,
) -> Result<pb::PolicyVersion, Status> {
    app.classification
        .clone()
        .create_policy_version(pb::CreatePolicyVersionRequest {
            policy: Some(policy),
            description: description.to_owned(),
            validate_only: false,
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn policy_versions(app: &TestApp) -> usize {
    app.classification
        .clone()
        .list_policy_versions(pb::ListPolicyVersionsRequest {
            page_size: 1000,
            ..Default::default()
        })
        .await
        .expect("list policy versions")
        .into_inner()
        .policy_versions
        .len()
}

async fn audit_events(app: &TestApp, request: pb::ListAuditEventsRequest) -> Result<Vec<pb::AuditEvent>, Status> {
    app.access
        .clone()
        .list_audit_events(request)
        .await
        .map(|r| r.into_inner().audit_events)
}

/// Every audit event, newest first.
async fn all_audit_events(app: &TestApp) -> Vec<pb::AuditEvent> {
    let mut all = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = app
            .access
            .clone()
            .list_audit_events(pb::ListAuditEventsRequest {
                page_size: 1000,
                page_token,
                ..Default::default()
            })
            .await
            .expect("list audit events")
            .into_inner();
        all.extend(page.audit_events);
        if page.next_page_token.is_empty() {
            return all;
        }
        page_token = page.next_page_token;
    }
}

// ---------------------------------------------------------------------------------------------
// Control characters
// ---------------------------------------------------------------------------------------------

async fn nul_bytes_are_invalid_arguments_naming_their_field(app: TestApp) {
    let customer = create(&app, organization("Nul Ltd")).await;
    for filter in [
        "display_name = \"a\u{0}b\"",
        "region.city = 'x\u{0}'",
        "contact.full_name = \"\u{0}\"",
        "tags:\"vip\u{0}\"",
        "tags:vip\u{0}",
        "owner = principals/a\u{0}",
        "industry != \"retail\u{0}*\"",
    ] {
        let status = assert_invalid(list_filter(&app, filter).await, "filter");
        assert!(status.message().contains("U+0000"), "{status:?}");
    }

    assert_invalid(record_note(&app, &customer.name, "called\u{0}back").await, "note");
    assert!(interactions(&app, &customer.name).await.is_empty(), "nothing stored");

    assert_invalid(override_grade(&app, &customer.name, "strategic\u{0}").await, "reason");
    let stored = app
        .customers
        .clone()
        .get_customer(pb::GetCustomerRequest {
            name: customer.name.clone(),
        })
        .await
        .expect("get")
        .into_inner();
    assert_eq!(stored.etag, customer.etag, "no override stored");

    let versions = policy_versions(&app).await;
    let policy = active_policy(&app).await;
    assert_invalid(create_policy(&app, policy.clone(), "new\u{0}cuts").await, "description");
    let mut keywords = policy.clone();
    keywords.executive_keywords[0] = "CEO\u{0}".to_owned();
    assert_invalid(
        create_policy(&app, keywords.clone(), "").await,
        "policy.executive_keywords[0]",
    );
    let mut plan = policy.clone();
    plan.vip_plan.as_mut().unwrap().name = "Senior\u{0}advisor".to_owned();
    assert_invalid(create_policy(&app, plan, "").await, "policy.vip_plan.name");
    assert_eq!(policy_versions(&app).await, versions, "no policy version stored");
    let preview = app
        .classification
        .clone()
        .preview_policy(pb::PreviewPolicyRequest {
            candidate: Some(pb::preview_policy_request::Candidate::Policy(keywords)),
            sample_size: 0,
        })
        .await;
    assert_invalid(preview, "policy.executive_keywords[0]");

    for (field, request) in [
        (
            "resource",
            pb::ListAuditEventsRequest {
                resource: "customers/a\u{0}".to_owned(),
                ..Default::default()
            },
        ),
        (
            "action",
            pb::ListAuditEventsRequest {
                action: "Get\u{0}".to_owned(),
                ..Default::default()
            },
        ),
        (
            "actor",
            pb::ListAuditEventsRequest {
                actor: "principals/a\u{0}".to_owned(),
                ..Default::default()
            },
        ),
    ] {
        assert_invalid(audit_events(&app, request).await, field);
    }

    // Names and ids of every kind are parsed, so NUL is an ordinary invalid character there.
    let mut customers = app.customers.clone();
    let get = customers
        .get_customer(pb::GetCustomerRequest {
            name: "customers/a\u{0}b".to_owned(),
        })
        .await;
    assert_invalid(get, "name");
    let created = customers
        .create_customer(pb::CreateCustomerRequest {
            customer: Some(organization("Acme\u{0}")),
            customer_id: "acme\u{0}".to_owned(),
            request_id: "\u{0}".to_owned(),
        })
        .await;
    let status = assert_invalid(created, "customer.display_name");
    assert_eq!(
        violated_fields(&status),
        ["customer_id", "request_id", "customer.display_name"]
    );
    let ordered = customers
        .list_customers(pb::ListCustomersRequest {
            order_by: "display_name\u{0}".to_owned(),
            ..Default::default()
        })
        .await;
    assert_invalid(ordered, "order_by");

    // The audit log was not stalled by anything above: it still answers, with the admin's
    // create of the first customer in it.
    let events = all_audit_events(&app).await;
    assert!(
        events
            .iter()
            .any(|e| e.action == "CreateCustomer" && e.resource == customer.name),
        "{events:?}"
    );
}

async fn other_control_characters_follow_the_same_rules(app: TestApp) {
    let customer = create(&app, organization("Bell Ltd")).await;
    for control in ['\u{7}', '\u{1b}', '\u{7f}', '\u{85}', '\u{9f}'] {
        let filter = format!("display_name = \"a{control}\"");
        assert_invalid(list_filter(&app, &filter).await, "filter");
        assert_invalid(
            record_note(&app, &customer.name, &format!("note {control} here")).await,
            "note",
        );
        assert_invalid(
            override_grade(&app, &customer.name, &format!("reason {control} here")).await,
            "reason",
        );
    }
    // A reason is one line; tabs and line breaks are not for it.
    for reason in ["two\nlines", "tab\there", "carriage\rreturn"] {
        assert_invalid(override_grade(&app, &customer.name, reason).await, "reason");
    }
    // Line breaks, tabs and escapes of them are not values in a filter either (no stored value
    // has any), but between tokens they are whitespace.
    assert_invalid(list_filter(&app, "display_name = \"a\\nb\"").await, "filter");
    assert_invalid(list_filter(&app, "display_name = \"a\tb\"").await, "filter");
    let found = list_filter(&app, "display_name\t=\n\"Bell Ltd\"\r\n")
        .await
        .expect("whitespace");
    assert_eq!(found.customers.len(), 1);
    assert!(interactions(&app, &customer.name).await.is_empty(), "nothing stored");
}

async fn prose_keeps_its_line_breaks_and_tabs(app: TestApp) {
    let customer = create(&app, organization("Prose Ltd")).await;
    let note = "Called about the renewal.\r\n\t- wants a discount\n\t- 客户很满意 ✓";
    let recorded = record_note(&app, &customer.name, &format!("  {note}\n"))
        .await
        .expect("note");
    assert_eq!(recorded.note, note, "trimmed, with its line breaks and tabs");
    assert_eq!(interactions(&app, &customer.name).await[0].note, note);

    let description = "Raise the VIP bar.\n\nWhy:\tQ3 review";
    let created = create_policy(&app, active_policy(&app).await, description)
        .await
        .expect("create policy version");
    assert_eq!(created.description, description);

    let reason = "Strategic account — board decision 2026-01";
    let overridden = override_grade(&app, &customer.name, reason).await.expect("override");
    let grade = overridden.classification.unwrap().grade.unwrap();
    assert!(grade.reasons.iter().any(|r| r.ends_with(reason)), "{grade:?}");
}

// ---------------------------------------------------------------------------------------------
// Creating with an id the caller may not see (AIP-211)
// ---------------------------------------------------------------------------------------------

fn owned_by(display_name: &str, owner: &str) -> pb::Customer {
    pb::Customer {
        owner: owner.to_owned(),
        department: "sales".to_owned(),
        ..organization(display_name)
    }
}

async fn create_with_id(
    client: &mut crm_tests::CustomersClient,
    id: &str,
    customer: pb::Customer,
    request_id: &str,
) -> Result<pb::Customer, Status> {
    client
        .create_customer(pb::CreateCustomerRequest {
            customer: Some(customer),
            customer_id: id.to_owned(),
            request_id: request_id.to_owned(),
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn get_as(client: &mut crm_tests::CustomersClient, name: &str) -> Result<pb::Customer, Status> {
    client
        .get_customer(pb::GetCustomerRequest { name: name.to_owned() })
        .await
        .map(tonic::Response::into_inner)
}

/// The `ErrorInfo` of `status` as comparable parts: reason, domain and metadata.
fn info(status: &Status) -> Option<(String, String, std::collections::BTreeMap<String, String>)> {
    status
        .get_details_error_info()
        .map(|i| (i.reason, i.domain, i.metadata.into_iter().collect()))
}

/// What a caller can tell apart about two errors: code, message and every detail.
fn same_answer(a: &Status, b: &Status) -> bool {
    a.code() == b.code() && a.message() == b.message() && info(a) == info(b) && violations(a) == violations(b)
}

async fn a_taken_id_outside_the_callers_scope_is_denied_as_a_get_would_be(app: TestApp) {
    let alice = principal_with_key(&app, "alice", "sales", "sales_rep", pb::Scope::Own).await;
    principal_with_key(&app, "bob", "sales", "sales_rep", pb::Scope::Own).await;
    let mut admin = app.customers.clone();
    let bobs = create_with_id(&mut admin, "bobs-live", owned_by("Bob's", "principals/bob"), "")
        .await
        .expect("create bob's");
    let bobs_deleted = create_with_id(&mut admin, "bobs-deleted", owned_by("Bob's old", "principals/bob"), "")
        .await
        .expect("create bob's old");
    let alices_deleted = create_with_id(
        &mut admin,
        "alices-deleted",
        owned_by("Alice's old", "principals/alice"),
        "",
    )
    .await
    .expect("create alice's old");
    for name in [&bobs_deleted.name, &alices_deleted.name] {
        admin
            .delete_customer(pb::DeleteCustomerRequest {
                name: name.clone(),
                etag: String::new(),
            })
            .await
            .expect("delete");
    }

    let mut rep = app.customers_as(Some(&alice));
    let mine = owned_by("Alice's new", "principals/alice");
    let free = get_as(&mut rep, "customers/never-used").await.expect_err("not hers");
    assert_eq!(free.code(), Code::PermissionDenied, "{free:?}");
    for id in ["bobs-live", "bobs-deleted"] {
        let name = format!("customers/{id}");
        let created = create_with_id(&mut rep, id, mine.clone(), "").await.expect_err("taken");
        let got = get_as(&mut rep, &name).await.expect_err("not hers");
        assert_eq!(created.code(), Code::PermissionDenied, "{id}: {created:?}");
        assert!(same_answer(&created, &got), "{id}: create {created:?}\nget {got:?}");
        // And what a free id she may not see gives, but for the name in it.
        assert_eq!(
            created.message().replace(&name, "customers/never-used"),
            free.message(),
            "{id}"
        );
        assert_no_leak(&created);
        let text = created.message().replace(&name, "").to_lowercase();
        assert!(
            !text.contains("exist") && !text.contains("deleted"),
            "{id}: {created:?}"
        );
    }
    // Nothing about Bob's customer changed.
    assert_eq!(get_as(&mut admin, &bobs.name).await.expect("get"), bobs);

    // A customer she may get (her own, even deleted) is ALREADY_EXISTS, as before.
    let status = create_with_id(&mut rep, "alices-deleted", mine.clone(), "")
        .await
        .expect_err("taken");
    assert_error_info(
        &status,
        Code::AlreadyExists,
        "CUSTOMER_ALREADY_EXISTS",
        "customers/alices-deleted",
    );
    // So is any taken id for the admin, who may see everything.
    let status = create_with_id(&mut admin, "bobs-live", mine.clone(), "")
        .await
        .expect_err("taken");
    assert_error_info(
        &status,
        Code::AlreadyExists,
        "CUSTOMER_ALREADY_EXISTS",
        "customers/bobs-live",
    );
    // A free id is created.
    let created = create_with_id(&mut rep, "alices-fresh", mine, "")
        .await
        .expect("free id");
    assert_eq!(created.owner, "principals/alice");
}

async fn idempotent_creates_still_return_the_first_customer(app: TestApp) {
    let alice = principal_with_key(&app, "alice", "sales", "sales_rep", pb::Scope::Own).await;
    let bob = principal_with_key(&app, "bob", "sales", "sales_rep", pb::Scope::Own).await;
    let mut rep = app.customers_as(Some(&alice));
    let request_id = uuid::Uuid::new_v4().to_string();
    let mine = owned_by("Retried Co", "principals/alice");
    let first = create_with_id(&mut rep, "retried-co", mine.clone(), &request_id)
        .await
        .expect("create");
    let again = create_with_id(&mut rep, "retried-co", mine.clone(), &request_id)
        .await
        .expect("a retry returns the first customer");
    assert_eq!(again, first);
    // Without a chosen id too.
    let request_id = uuid::Uuid::new_v4().to_string();
    let first = create_with_id(&mut rep, "", mine.clone(), &request_id)
        .await
        .expect("create");
    let again = create_with_id(&mut rep, "", mine, &request_id).await.expect("retry");
    assert_eq!(again, first);
    // Another rep replaying Alice's request id gets the denial a Get of her customer gives.
    let mut other = app.customers_as(Some(&bob));
    let replay = create_with_id(&mut other, "", owned_by("Retried Co", "principals/bob"), &request_id)
        .await
        .expect_err("not his");
    assert_eq!(replay.code(), Code::PermissionDenied, "{replay:?}");
}

// ---------------------------------------------------------------------------------------------
// Error sizes and page tokens
// ---------------------------------------------------------------------------------------------

/// The most bytes an error may take in the trailers: under the 8 KiB of headers the strictest
/// gRPC clients accept.
const MAX_ERROR_BYTES: usize = 7 * 1024;

async fn huge_values_and_thousands_of_invalid_elements_give_a_small_error(app: TestApp) {
    let customer = create(&app, organization("Mask Ltd")).await;
    let mut customers = app.customers.clone();

    // One path of 10,000 characters: echoed cut, not whole.
    let status = customers
        .update_customer(pb::UpdateCustomerRequest {
            customer: Some(pb::Customer {
                name: customer.name.clone(),
                ..organization("Mask Ltd")
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["x".repeat(10_000)],
            }),
        })
        .await
        .expect_err("unknown path");
    assert_invalid(Err::<(), _>(status.clone()), "update_mask.paths[0]");
    assert!(error_bytes(&status) < 2048, "{} bytes", error_bytes(&status));
    let (_, description) = &violations(&status)[0];
    assert!(description.starts_with("unknown field \"xxx"), "{description}");
    assert!(description.contains("…\""), "{description}");

    // 2,000 unknown paths of 1,000 characters each.
    let status = customers
        .update_customer(pb::UpdateCustomerRequest {
            customer: Some(pb::Customer {
                name: customer.name.clone(),
                ..organization("Mask Ltd")
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: (0..2000).map(|i| format!("{i}{}", "y".repeat(1000))).collect(),
            }),
        })
        .await
        .expect_err("unknown paths");
    assert_invalid(Err::<(), _>(status.clone()), "update_mask.paths[0]");
    assert!(
        error_bytes(&status) <= MAX_ERROR_BYTES,
        "{} bytes",
        error_bytes(&status)
    );
    assert!(
        status.message().starts_with("2000 invalid fields: "),
        "{}",
        status.message()
    );

    // 10,000 invalid tags.
    let status = customers
        .create_customer(pb::CreateCustomerRequest {
            customer: Some(pb::Customer {
                tags: (0..10_000).map(|i| format!("BAD TAG {i}")).collect(),
                ..organization("Tags Ltd")
            }),
            ..Default::default()
        })
        .await
        .expect_err("bad tags");
    assert_invalid(Err::<(), _>(status.clone()), "customer.tags[0]");
    assert!(
        error_bytes(&status) <= MAX_ERROR_BYTES,
        "{} bytes",
        error_bytes(&status)
    );

    // 1,000 malformed names of 2,000 characters each.
    let status = customers
        .batch_get_customers(pb::BatchGetCustomersRequest {
            names: (0..1000).map(|i| format!("accounts/{i}{}", "z".repeat(2000))).collect(),
        })
        .await
        .expect_err("malformed names");
    assert_invalid(Err::<(), _>(status.clone()), "names[0]");
    assert!(
        error_bytes(&status) <= MAX_ERROR_BYTES,
        "{} bytes",
        error_bytes(&status)
    );

    // An order_by and a filter of 100,000 characters.
    for request in [
        pb::ListCustomersRequest {
            order_by: format!("{} desc", "o".repeat(100_000)),
            ..Default::default()
        },
        pb::ListCustomersRequest {
            order_by: ",".repeat(100_000),
            ..Default::default()
        },
        pb::ListCustomersRequest {
            filter: "f".repeat(100_000),
            ..Default::default()
        },
    ] {
        let status = customers.list_customers(request).await.expect_err("too long");
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert!(error_bytes(&status) < 2048, "{} bytes", error_bytes(&status));
    }
}

async fn garbage_and_tampered_page_tokens_are_invalid_arguments(app: TestApp) {
    let customer = create(&app, organization("Token Ltd")).await;
    create(&app, organization("Token Two")).await;
    let genuine = app
        .customers
        .clone()
        .list_customers(pb::ListCustomersRequest {
            page_size: 1,
            ..Default::default()
        })
        .await
        .expect("first page")
        .into_inner()
        .next_page_token;
    assert!(!genuine.is_empty());
    let mut tampered = genuine.clone().into_bytes();
    tampered[5] = if tampered[5] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let garbage = [
        "garbage".to_owned(),
        "\u{0}".to_owned(),
        "a.b".to_owned(),
        "x".repeat(100_000),
        tampered,
        genuine[..genuine.len() - 3].to_owned(),
    ];
    for token in &garbage {
        let mut customers = app.customers.clone();
        let status = customers
            .list_customers(pb::ListCustomersRequest {
                page_token: token.clone(),
                ..Default::default()
            })
            .await
            .expect_err("bad token");
        assert_invalid(Err::<(), _>(status.clone()), "page_token");
        assert!(error_bytes(&status) < 2048);

        let status = app
            .access
            .clone()
            .list_principals(pb::ListPrincipalsRequest {
                page_token: token.clone(),
                ..Default::default()
            })
            .await
            .expect_err("bad token");
        assert_invalid(Err::<(), _>(status), "page_token");
        let status = audit_events(
            &app,
            pb::ListAuditEventsRequest {
                page_token: token.clone(),
                ..Default::default()
            },
        )
        .await
        .expect_err("bad token");
        assert_invalid(Err::<(), _>(status), "page_token");

        let mut classification = app.classification.clone();
        let status = classification
            .list_classification_history(pb::ListClassificationHistoryRequest {
                parent: "customers/-".to_owned(),
                page_token: token.clone(),
                ..Default::default()
            })
            .await
            .expect_err("bad token");
        assert_invalid(Err::<(), _>(status), "page_token");
        let status = classification
            .list_interactions(pb::ListInteractionsRequest {
                parent: customer.name.clone(),
                page_token: token.clone(),
                ..Default::default()
            })
            .await
            .expect_err("bad token");
        assert_invalid(Err::<(), _>(status), "page_token");
        let status = classification
            .list_policy_versions(pb::ListPolicyVersionsRequest {
                page_token: token.clone(),
                ..Default::default()
            })
            .await
            .expect_err("bad token");
        assert_invalid(Err::<(), _>(status), "page_token");
    }
}

// ---------------------------------------------------------------------------------------------
// History and policies
// ---------------------------------------------------------------------------------------------

async fn a_history_value_of_another_dimension_is_invalid(app: TestApp) {
    create(&app, organization("History Ltd")).await;
    let mut classification = app.classification.clone();
    let request = |dimension: pb::Dimension, value: pb::class_value::Value| pb::ListClassificationHistoryRequest {
        parent: "customers/-".to_owned(),
        dimension: dimension as i32,
        value: Some(pb::ClassValue { value: Some(value) }),
        ..Default::default()
    };
    let status = classification
        .list_classification_history(request(
            pb::Dimension::Grade,
            pb::class_value::Value::RankTier(pb::RankTier::Executive as i32),
        ))
        .await
        .expect_err("value of another dimension");
    let status = assert_invalid(Err::<(), _>(status), "value");
    assert!(status.message().contains("rank_tier"), "{status:?}");
    assert!(status.message().contains("grade"), "{status:?}");

    // Agreeing, or the value alone, is fine; the new customer's first grade is POTENTIAL.
    for request in [
        request(
            pb::Dimension::Grade,
            pb::class_value::Value::Grade(pb::Grade::Potential as i32),
        ),
        request(
            pb::Dimension::Unspecified,
            pb::class_value::Value::Grade(pb::Grade::Potential as i32),
        ),
    ] {
        let entries = classification
            .list_classification_history(request)
            .await
            .expect("history")
            .into_inner()
            .entries;
        assert_eq!(entries.len(), 1, "{entries:?}");
    }
}

async fn an_invalid_policy_reports_every_problem_at_once(app: TestApp) {
    let mut policy = active_policy(&app).await;
    policy.window_days = 0;
    policy.middle_keywords.push(String::new());
    let status = create_policy(&app, policy, &"d".repeat(1001))
        .await
        .expect_err("invalid policy");
    let fields = violated_fields(&status);
    for field in ["policy.window_days", "policy.middle_keywords[7]", "description"] {
        assert!(fields.iter().any(|f| f == field), "{field} missing in {status:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Refused requests in the audit log
// ---------------------------------------------------------------------------------------------

/// The refused requests a recorded refusal stands for: itself and those it says were left out.
fn refusals_counted(event: &pb::AuditEvent) -> u64 {
    let left_out = event
        .detail
        .split("; ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .map_or(0, |n| n.parse::<u64>().expect("a count of left-out refusals"));
    1 + left_out
}

async fn refused_requests_are_audited_rate_limited(app: TestApp) {
    const FLOOD: u64 = 200;
    // A key of the right form that no one holds, and no key at all, in turns.
    let unknown_key = format!("crm_abcd1234_{}", "A".repeat(43));
    let started = std::time::Instant::now();
    for i in 0..FLOOD {
        let key = (i % 2 == 0).then_some(unknown_key.as_str());
        let status = app
            .customers_as(key)
            .get_customer(pb::GetCustomerRequest {
                name: "customers/acme".to_owned(),
            })
            .await
            .expect_err("refused");
        assert_eq!(status.code(), Code::Unauthenticated);
    }
    let flood_secs = started.elapsed().as_secs_f64();
    // After a second the bucket has room again: the next refusal is recorded and counts the
    // ones left out before it.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    app.access_as(None)
        .who_am_i(pb::WhoAmIRequest {})
        .await
        .expect_err("refused");

    let refused: Vec<pb::AuditEvent> = all_audit_events(&app)
        .await
        .into_iter()
        .filter(|e| e.actor.is_empty())
        .collect();
    // At most the burst of 10 plus one a second, so a flood cannot fill the log.
    let bound = 10 + flood_secs.ceil() as usize + 1;
    assert!(
        (2..=bound).contains(&refused.len()),
        "{} recorded (bound {bound})",
        refused.len()
    );
    for event in &refused {
        assert_eq!(event.outcome(), pb::AuditOutcome::Denied, "{event:?}");
        assert_eq!(event.resource, "", "{event:?}");
        assert!(event.detail.starts_with("not authenticated: "), "{event:?}");
    }
    assert_eq!(refused[0].action, "WhoAmI", "the newest: {:?}", refused[0]);
    assert!(
        refused
            .iter()
            .any(|e| e.action == "GetCustomer" && e.detail.contains("key abcd1234 is unknown")),
        "{refused:?}"
    );
    // Every refusal is accounted for: recorded, or counted in the next recorded one.
    let counted: u64 = refused.iter().map(refusals_counted).sum();
    assert_eq!(counted, FLOOD + 1, "{refused:?}");
}
