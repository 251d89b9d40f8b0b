//! Page tokens of every List RPC, end to end over real gRPC on SQLite and PostgreSQL: each test
//! takes a real `next_page_token` from one list, checks that it pages, and then that the token
//! changed in its middle, cut short, extended, replayed with another `parent` or filter, or
//! replayed on another list is INVALID_ARGUMENT with a field violation of `page_token` (and
//! that the error leaks nothing). Tokens are signed with a key the replicas share: a token
//! from one replica pages on another.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;

use chrono::{TimeDelta, Utc};
use crm_api::google::r#type::Money;
use crm_tests::{TestApp, add_principal, assert_no_leak, create, e2e, organization, pb, violated_fields};
use tonic::{Code, Status};

e2e!(
    list_customers_rejects_tampered_tokens,
    list_principals_rejects_tampered_tokens,
    list_roles_rejects_tampered_tokens,
    list_role_bindings_rejects_tampered_tokens,
    list_api_keys_rejects_tampered_tokens,
    list_audit_events_rejects_tampered_tokens,
    list_purchases_rejects_tampered_tokens,
    list_interactions_rejects_tampered_tokens,
    list_policy_versions_rejects_tampered_tokens,
    list_classification_history_rejects_tampered_tokens,
    a_token_of_one_list_is_refused_by_every_other,
    a_token_from_one_replica_pages_on_another,
);

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// `token` with its middle character replaced by another base64url character.
fn flipped(token: &str) -> String {
    let mut chars: Vec<char> = token.chars().collect();
    let middle = chars.len() / 2;
    chars[middle] = if chars[middle] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

/// Asserts INVALID_ARGUMENT with a field violation of `page_token` that leaks nothing.
#[track_caller]
fn assert_rejected<T: std::fmt::Debug>(result: Result<T, Status>, what: &str) {
    let status = result.expect_err(what);
    assert_eq!(status.code(), Code::InvalidArgument, "{what}: {status:?}");
    assert_eq!(violated_fields(&status), ["page_token"], "{what}: {status:?}");
    assert_no_leak(&status);
}

/// Takes the first page of one item from `list` (called with a page token, answering the next
/// page token), checks that its token gives the next page, and that the token altered in any of
/// several ways is rejected; returns the genuine token for the list's own replays.
async fn genuine_then_tampered<F, Fut>(rpc: &str, list: F) -> String
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Result<String, Status>>,
{
    let token = list(String::new())
        .await
        .unwrap_or_else(|e| panic!("{rpc}: first page: {e:?}"));
    assert!(!token.is_empty(), "{rpc}: a page of one item has a next page");
    list(token.clone())
        .await
        .unwrap_or_else(|e| panic!("{rpc}: the genuine token pages: {e:?}"));
    let tampered = [
        (flipped(&token), "a character in the middle changed"),
        (token[..token.len() - 4].to_owned(), "cut short"),
        (format!("{token}A"), "extended"),
        (token.replacen('.', "", 1), "without its separator"),
        ("garbage".to_owned(), "garbage"),
    ];
    for (bad, how) in tampered {
        assert_rejected(list(bad).await, &format!("{rpc}: a token {how}"));
    }
    token
}

fn money(units: i64) -> Money {
    Money {
        currency_code: "USD".to_owned(),
        units,
        nanos: 0,
    }
}

fn ts(time: chrono::DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: time.timestamp(),
        nanos: 0,
    }
}

async fn record_purchase(app: &TestApp, customer: &str, order_ref: &str, days_ago: i64) {
    app.classification
        .clone()
        .record_purchase(pb::RecordPurchaseRequest {
            customer: customer.to_owned(),
            order_ref: order_ref.to_owned(),
            amount: Some(money(100)),
            occur_time: Some(ts(Utc::now() - TimeDelta::days(days_ago))),
        })
        .await
        .expect("record purchase");
}

async fn record_interaction(app: &TestApp, customer: &str, hours_ago: i64) {
    app.classification
        .clone()
        .record_interaction(pb::RecordInteractionRequest {
            customer: customer.to_owned(),
            channel: pb::InteractionChannel::Phone as i32,
            occur_time: Some(ts(Utc::now() - TimeDelta::hours(hours_ago))),
            note: format!("call {hours_ago}"),
        })
        .await
        .expect("record interaction");
}

async fn create_key(app: &TestApp, parent: &str) {
    app.access
        .clone()
        .create_api_key(pb::CreateApiKeyRequest {
            parent: parent.to_owned(),
            expire_time: None,
        })
        .await
        .expect("create API key");
}

async fn bind(app: &TestApp, principal: &str, role: &str) {
    app.access
        .clone()
        .create_role_binding(pb::CreateRoleBindingRequest {
            role_binding: Some(pb::RoleBinding {
                principal: principal.to_owned(),
                role: role.to_owned(),
                scope: pb::Scope::All as i32,
                ..Default::default()
            }),
        })
        .await
        .expect("create role binding");
}

/// A second policy version (the first is the default, active one).
async fn second_policy_version(app: &TestApp) {
    let mut classification = app.classification.clone();
    let active = classification
        .get_policy(pb::GetPolicyRequest {
            name: "policies/active".to_owned(),
        })
        .await
        .expect("active policy")
        .into_inner();
    classification
        .create_policy_version(pb::CreatePolicyVersionRequest {
            policy: active.policy,
            description: "The same again".to_owned(),
            validate_only: false,
        })
        .await
        .expect("create policy version");
}

// ---------------------------------------------------------------------------------------------
// Each List RPC
// ---------------------------------------------------------------------------------------------

async fn list_customers_rejects_tampered_tokens(app: TestApp) {
    create(&app, organization("Paged One")).await;
    create(&app, organization("Paged Two")).await;
    let list = |filter: &str, page_token: String| {
        let mut client = app.customers.clone();
        let request = pb::ListCustomersRequest {
            filter: filter.to_owned(),
            page_size: 1,
            page_token,
            ..Default::default()
        };
        async move {
            client
                .list_customers(request)
                .await
                .map(|r| r.into_inner().next_page_token)
        }
    };
    let token = genuine_then_tampered("ListCustomers", |token| list("", token)).await;
    assert_rejected(
        list("kind = ORGANIZATION", token).await,
        "ListCustomers with another filter",
    );
}

async fn list_principals_rejects_tampered_tokens(app: TestApp) {
    add_principal(&app, "paged-principal", "").await;
    let list = |page_token: String| {
        let mut client = app.access.clone();
        async move {
            client
                .list_principals(pb::ListPrincipalsRequest {
                    page_size: 1,
                    page_token,
                })
                .await
                .map(|r| r.into_inner().next_page_token)
        }
    };
    genuine_then_tampered("ListPrincipals", list).await;
}

async fn list_roles_rejects_tampered_tokens(app: TestApp) {
    let list = |page_token: String| {
        let mut client = app.access.clone();
        async move {
            client
                .list_roles(pb::ListRolesRequest {
                    page_size: 1,
                    page_token,
                })
                .await
                .map(|r| r.into_inner().next_page_token)
        }
    };
    genuine_then_tampered("ListRoles", list).await;
}

async fn list_role_bindings_rejects_tampered_tokens(app: TestApp) {
    let bob = add_principal(&app, "paged-bob", "").await;
    bind(&app, &bob, "roles/manager").await;
    bind(&app, &bob, "roles/sales_rep").await;
    let list = |principal: &str, page_token: String| {
        let mut client = app.access.clone();
        let request = pb::ListRoleBindingsRequest {
            principal: principal.to_owned(),
            page_size: 1,
            page_token,
        };
        async move {
            client
                .list_role_bindings(request)
                .await
                .map(|r| r.into_inner().next_page_token)
        }
    };
    let token = genuine_then_tampered("ListRoleBindings", |token| list(&bob, token)).await;
    assert_rejected(
        list("principals/admin", token.clone()).await,
        "ListRoleBindings of another principal",
    );
    assert_rejected(list("", token).await, "ListRoleBindings of every principal");
}

async fn list_api_keys_rejects_tampered_tokens(app: TestApp) {
    let bob = add_principal(&app, "paged-keys", "").await;
    create_key(&app, &bob).await;
    create_key(&app, &bob).await;
    let list = |parent: &str, page_token: String| {
        let mut client = app.access.clone();
        let request = pb::ListApiKeysRequest {
            parent: parent.to_owned(),
            page_size: 1,
            page_token,
        };
        async move {
            client
                .list_api_keys(request)
                .await
                .map(|r| r.into_inner().next_page_token)
        }
    };
    let token = genuine_then_tampered("ListApiKeys", |token| list(&bob, token)).await;
    assert_rejected(
        list("principals/admin", token).await,
        "ListApiKeys of another principal",
    );
}

async fn list_audit_events_rejects_tampered_tokens(app: TestApp) {
    create(&app, organization("Audited One")).await;
    create(&app, organization("Audited Two")).await;
    let list = |actor: &str, action: &str, page_token: String| {
        let mut client = app.access.clone();
        let request = pb::ListAuditEventsRequest {
            actor: actor.to_owned(),
            action: action.to_owned(),
            page_size: 1,
            page_token,
            ..Default::default()
        };
        async move {
            client
                .list_audit_events(request)
                .await
                .map(|r| r.into_inner().next_page_token)
        }
    };
    let token = genuine_then_tampered("ListAuditEvents", |token| {
        list("principals/admin", "CreateCustomer", token)
    })
    .await;
    assert_rejected(
        list("", "CreateCustomer", token.clone()).await,
        "ListAuditEvents with another actor",
    );
    assert_rejected(
        list("principals/admin", "UpdateCustomer", token).await,
        "ListAuditEvents with another action",
    );
}

async fn list_purchases_rejects_tampered_tokens(app: TestApp) {
    let customer = create(&app, organization("Buyer Ltd")).await;
    let other = create(&app, organization("Other Buyer")).await;
    record_purchase(&app, &customer.name, "order-1", 3).await;
    record_purchase(&app, &customer.name, "order-2", 2).await;
    let list = |parent: &str, page_token: String| {
        let mut client = app.classification.clone();
        let request = pb::ListPurchasesRequest {
            parent: parent.to_owned(),
            page_size: 1,
            page_token,
        };
        async move {
            client
                .list_purchases(request)
                .await
                .map(|r| r.into_inner().next_page_token)
        }
    };
    let token = genuine_then_tampered("ListPurchases", |token| list(&customer.name, token)).await;
    assert_rejected(list(&other.name, token).await, "ListPurchases of another customer");
}

async fn list_interactions_rejects_tampered_tokens(app: TestApp) {
    let customer = create(&app, organization("Talker Ltd")).await;
    let other = create(&app, organization("Other Talker")).await;
    record_interaction(&app, &customer.name, 3).await;
    record_interaction(&app, &customer.name, 2).await;
    let list = |parent: &str, page_token: String| {
        let mut client = app.classification.clone();
        let request = pb::ListInteractionsRequest {
            parent: parent.to_owned(),
            page_size: 1,
            page_token,
        };
        async move {
            client
                .list_interactions(request)
                .await
                .map(|r| r.into_inner().next_page_token)
        }
    };
    let token = genuine_then_tampered("ListInteractions", |token| list(&customer.name, token)).await;
    assert_rejected(list(&other.name, token).await, "ListInteractions of another customer");
}

async fn list_policy_versions_rejects_tampered_tokens(app: TestApp) {
    second_policy_version(&app).await;
    let list = |page_token: String| {
        let mut client = app.classification.clone();
        async move {
            client
                .list_policy_versions(pb::ListPolicyVersionsRequest {
                    page_size: 1,
                    page_token,
                })
                .await
                .map(|r| r.into_inner().next_page_token)
        }
    };
    genuine_then_tampered("ListPolicyVersions", list).await;
}

async fn list_classification_history_rejects_tampered_tokens(app: TestApp) {
    let customer = create(&app, organization("History One")).await;
    create(&app, organization("History Two")).await;
    record_purchase(&app, &customer.name, "order-1", 1).await;
    let list = |parent: &str, dimension: pb::Dimension, page_token: String| {
        let mut client = app.classification.clone();
        let request = pb::ListClassificationHistoryRequest {
            parent: parent.to_owned(),
            dimension: dimension as i32,
            page_size: 1,
            page_token,
            ..Default::default()
        };
        async move {
            client
                .list_classification_history(request)
                .await
                .map(|r| r.into_inner().next_page_token)
        }
    };
    let token = genuine_then_tampered("ListClassificationHistory", |token| {
        list("customers/-", pb::Dimension::Unspecified, token)
    })
    .await;
    assert_rejected(
        list(&customer.name, pb::Dimension::Unspecified, token.clone()).await,
        "ListClassificationHistory of another parent",
    );
    assert_rejected(
        list("customers/-", pb::Dimension::Grade, token).await,
        "ListClassificationHistory of another dimension",
    );
}

// ---------------------------------------------------------------------------------------------
// Across lists and replicas
// ---------------------------------------------------------------------------------------------

async fn a_token_of_one_list_is_refused_by_every_other(app: TestApp) {
    add_principal(&app, "cross-list", "").await;
    second_policy_version(&app).await;
    let principals = app
        .access
        .clone()
        .list_principals(pb::ListPrincipalsRequest {
            page_size: 1,
            page_token: String::new(),
        })
        .await
        .expect("principals")
        .into_inner()
        .next_page_token;
    let policies = app
        .classification
        .clone()
        .list_policy_versions(pb::ListPolicyVersionsRequest {
            page_size: 1,
            page_token: String::new(),
        })
        .await
        .expect("policy versions")
        .into_inner()
        .next_page_token;
    let customer = create(&app, organization("Cross Ltd")).await;
    for token in [principals, policies] {
        assert!(!token.is_empty());
        let mut access = app.access.clone();
        let mut classification = app.classification.clone();
        let mut customers = app.customers.clone();
        let page_token = || token.clone();
        assert_rejected(
            customers
                .list_customers(pb::ListCustomersRequest {
                    page_token: page_token(),
                    ..Default::default()
                })
                .await,
            "ListCustomers",
        );
        assert_rejected(
            access
                .list_roles(pb::ListRolesRequest {
                    page_size: 1,
                    page_token: page_token(),
                })
                .await,
            "ListRoles",
        );
        assert_rejected(
            access
                .list_role_bindings(pb::ListRoleBindingsRequest {
                    page_token: page_token(),
                    ..Default::default()
                })
                .await,
            "ListRoleBindings",
        );
        assert_rejected(
            access
                .list_api_keys(pb::ListApiKeysRequest {
                    parent: "principals/admin".to_owned(),
                    page_token: page_token(),
                    ..Default::default()
                })
                .await,
            "ListApiKeys",
        );
        assert_rejected(
            access
                .list_audit_events(pb::ListAuditEventsRequest {
                    page_token: page_token(),
                    ..Default::default()
                })
                .await,
            "ListAuditEvents",
        );
        assert_rejected(
            classification
                .list_purchases(pb::ListPurchasesRequest {
                    parent: customer.name.clone(),
                    page_token: page_token(),
                    ..Default::default()
                })
                .await,
            "ListPurchases",
        );
        assert_rejected(
            classification
                .list_interactions(pb::ListInteractionsRequest {
                    parent: customer.name.clone(),
                    page_token: page_token(),
                    ..Default::default()
                })
                .await,
            "ListInteractions",
        );
        assert_rejected(
            classification
                .list_classification_history(pb::ListClassificationHistoryRequest {
                    parent: "customers/-".to_owned(),
                    page_token: page_token(),
                    ..Default::default()
                })
                .await,
            "ListClassificationHistory",
        );
    }
    // Each list's own token is refused by the other.
    let principals = app
        .access
        .clone()
        .list_principals(pb::ListPrincipalsRequest {
            page_size: 1,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .next_page_token;
    assert_rejected(
        app.classification
            .clone()
            .list_policy_versions(pb::ListPolicyVersionsRequest {
                page_size: 1,
                page_token: principals,
            })
            .await,
        "ListPolicyVersions with a token of ListPrincipals",
    );
}

async fn a_token_from_one_replica_pages_on_another(app: TestApp) {
    for name in ["Replica One", "Replica Two", "Replica Three"] {
        create(&app, organization(name)).await;
    }
    add_principal(&app, "replica-paged", "").await;
    // The replica loads the principals at start, so it knows the one just made.
    let replica = app.spawn_replica(|_| {}).await;
    let list_customers = |on: &TestApp, page_token: String| {
        let mut client = on.customers.clone();
        async move {
            client
                .list_customers(pb::ListCustomersRequest {
                    page_size: 1,
                    page_token,
                    order_by: "display_name".to_owned(),
                    ..Default::default()
                })
                .await
                .expect("a page")
                .into_inner()
        }
    };
    // Pages taken alternately from the two replicas follow one another.
    let mut names = Vec::new();
    let mut token = String::new();
    for i in 0..10 {
        let on = if i % 2 == 0 { &app } else { &replica };
        let page = list_customers(on, token).await;
        names.extend(page.customers.into_iter().map(|c| c.display_name));
        token = page.next_page_token;
        if token.is_empty() {
            break;
        }
    }
    assert_eq!(names, ["Replica One", "Replica Three", "Replica Two"]);

    let first = app
        .access
        .clone()
        .list_principals(pb::ListPrincipalsRequest {
            page_size: 1,
            page_token: String::new(),
        })
        .await
        .expect("principals")
        .into_inner();
    let second = replica
        .access
        .clone()
        .list_principals(pb::ListPrincipalsRequest {
            page_size: 1,
            page_token: first.next_page_token.clone(),
        })
        .await
        .expect("the replica accepts the other's token")
        .into_inner();
    assert_eq!(second.principals.len(), 1);
    assert_ne!(second.principals[0].name, first.principals[0].name);
    assert_rejected(
        replica
            .access
            .clone()
            .list_principals(pb::ListPrincipalsRequest {
                page_size: 1,
                page_token: flipped(&first.next_page_token),
            })
            .await,
        "a tampered token on the replica",
    );
}
