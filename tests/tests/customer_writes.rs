//! Writes end to end: partial updates with field masks, etags and optimistic concurrency, soft
//! delete and undelete, idempotent and client-named creates, batch reads, and concurrent
//! writers, over real gRPC against SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;

use crm_api::crm::v1::customer_service_client::CustomerServiceClient;
use crm_tests::{TestApp, assert_error_info, create, e2e, organization, pb};
use tonic::{Code, Status, transport::Channel};

e2e!(
    update_with_a_mask_changes_only_the_masked_fields,
    update_of_a_whole_message_path_replaces_that_message,
    customer_without_a_region_gets_one_from_masked_region_parts,
    update_with_the_wildcard_mask_replaces_every_updatable_field,
    update_with_an_empty_mask_changes_exactly_the_populated_fields,
    every_successful_write_gives_a_new_etag_and_advances_update_time,
    update_with_the_current_etag_succeeds,
    update_with_a_stale_etag_is_aborted_and_changes_nothing,
    deleted_customer_is_hidden_from_get_list_and_batch_get,
    deleted_customer_cannot_be_deleted_or_updated_again,
    delete_with_a_stale_etag_is_aborted_and_deletes_nothing,
    undelete_restores_a_deleted_customer,
    undelete_of_a_live_customer_fails_with_customer_not_deleted,
    create_retried_with_the_same_request_id_returns_the_first_customer,
    concurrent_creates_with_one_request_id_store_exactly_one_customer,
    client_chosen_customer_id_names_the_customer,
    reused_customer_id_fails_with_already_exists_even_when_deleted,
    batch_get_returns_customers_in_request_order_including_duplicates,
    batch_get_is_all_or_nothing,
    concurrent_read_modify_write_increments_with_etags_lose_no_update,
    concurrent_blind_updates_of_different_fields_lose_none,
    concurrent_creates_with_one_customer_id_store_exactly_one_customer,
    concurrent_deletes_and_undeletes_each_succeed_exactly_once,
);

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// A customer with every settable field populated.
fn full_customer(display_name: &str) -> pb::Customer {
    pb::Customer {
        contact: Some(pb::Contact {
            full_name: "Jane Doe".into(),
            job_title: "CFO".into(),
            job_rank: pb::JobRank::Executive as i32,
            decision_role: pb::DecisionRole::DecisionMaker as i32,
            email: "jane@example.com".into(),
            phone: "+8613800138000".into(),
        }),
        industry: "manufacturing".into(),
        employee_count: Some(250),
        region: Some(pb::Region {
            country_code: "DE".into(),
            subdivision: "Bavaria".into(),
            city: "Munich".into(),
        }),
        needs: vec![
            pb::CustomerNeed::PriceSensitive as i32,
            pb::CustomerNeed::QualityFocused as i32,
        ],
        key_account: true,
        churned: true,
        owner: "principals/alice".into(),
        department: "sales-east".into(),
        tags: vec!["east".into(), "vip".into()],
        ..organization(display_name)
    }
}

/// A customer whose every settable field differs from [`full_customer`]'s.
fn other_customer(name: &str) -> pb::Customer {
    pb::Customer {
        name: name.to_owned(),
        display_name: "Other GmbH".into(),
        kind: pb::CustomerKind::Individual as i32,
        contact: Some(pb::Contact {
            full_name: "John Roe".into(),
            job_title: "Buyer".into(),
            job_rank: pb::JobRank::Frontline as i32,
            decision_role: pb::DecisionRole::User as i32,
            email: "john@example.org".into(),
            phone: "+4915112345678".into(),
        }),
        industry: "retail".into(),
        employee_count: Some(9),
        region: Some(pb::Region {
            country_code: "FR".into(),
            subdivision: "Occitanie".into(),
            city: "Toulouse".into(),
        }),
        needs: vec![pb::CustomerNeed::ServiceFocused as i32],
        key_account: false,
        churned: false,
        owner: "principals/bob".into(),
        department: "sales-west".into(),
        tags: vec!["west".into()],
        ..Default::default()
    }
}

fn mask(paths: &[&str]) -> Option<prost_types::FieldMask> {
    Some(prost_types::FieldMask {
        paths: paths.iter().map(|p| (*p).to_owned()).collect(),
    })
}

async fn update(app: &TestApp, customer: pb::Customer, paths: &[&str]) -> Result<pb::Customer, Status> {
    app.customers
        .clone()
        .update_customer(pb::UpdateCustomerRequest {
            customer: Some(customer),
            update_mask: mask(paths),
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn get(app: &TestApp, name: &str) -> Result<pb::Customer, Status> {
    app.customers
        .clone()
        .get_customer(pb::GetCustomerRequest { name: name.to_owned() })
        .await
        .map(tonic::Response::into_inner)
}

async fn delete(app: &TestApp, name: &str, etag: &str) -> Result<pb::Customer, Status> {
    app.customers
        .clone()
        .delete_customer(pb::DeleteCustomerRequest {
            name: name.to_owned(),
            etag: etag.to_owned(),
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn undelete(app: &TestApp, name: &str) -> Result<pb::Customer, Status> {
    app.customers
        .clone()
        .undelete_customer(pb::UndeleteCustomerRequest { name: name.to_owned() })
        .await
        .map(tonic::Response::into_inner)
}

async fn batch_get(app: &TestApp, names: &[&str]) -> Result<Vec<pb::Customer>, Status> {
    app.customers
        .clone()
        .batch_get_customers(pb::BatchGetCustomersRequest {
            names: names.iter().map(|n| (*n).to_owned()).collect(),
        })
        .await
        .map(|r| r.into_inner().customers)
}

async fn create_request(app: &TestApp, request: pb::CreateCustomerRequest) -> Result<pb::Customer, Status> {
    app.customers
        .clone()
        .create_customer(request)
        .await
        .map(tonic::Response::into_inner)
}

/// Every stored customer (one page of up to 1000 is plenty here).
async fn list_all(app: &TestApp, show_deleted: bool) -> Vec<pb::Customer> {
    let page = app
        .customers
        .clone()
        .list_customers(pb::ListCustomersRequest {
            page_size: 1000,
            show_deleted,
            ..Default::default()
        })
        .await
        .expect("list customers")
        .into_inner();
    assert!(page.next_page_token.is_empty(), "expected a single page");
    page.customers
}

fn names(customers: &[pb::Customer]) -> Vec<&str> {
    customers.iter().map(|c| c.name.as_str()).collect()
}

/// A timestamp as a comparable pair.
fn instant(time: Option<&prost_types::Timestamp>) -> (i64, i32) {
    let time = time.expect("timestamp is set");
    (time.seconds, time.nanos)
}

// ---------------------------------------------------------------------------------------------
// Field masks
// ---------------------------------------------------------------------------------------------

async fn update_with_a_mask_changes_only_the_masked_fields(app: TestApp) {
    let created = create(&app, full_customer("Acme Ltd")).await;

    let updated = update(
        &app,
        other_customer(&created.name),
        &["display_name", "contact.email", "region.city", "tags", "employee_count"],
    )
    .await
    .expect("update");

    let mut expected = created.clone();
    expected.display_name = "Other GmbH".into();
    expected.contact.as_mut().unwrap().email = "john@example.org".into();
    expected.region.as_mut().unwrap().city = "Toulouse".into();
    expected.tags = vec!["west".into()];
    expected.employee_count = Some(9);
    expected.update_time = updated.update_time;
    expected.etag = updated.etag.clone();
    // Classification is output only, tested in tests/classification.rs.
    expected.classification = updated.classification.clone();
    expected.activity = updated.activity.clone();
    assert_eq!(updated, expected);

    assert_ne!(updated.etag, created.etag);
    assert!(instant(updated.update_time.as_ref()) > instant(created.update_time.as_ref()));
    assert_eq!(updated.create_time, created.create_time);
    assert_eq!(get(&app, &created.name).await.expect("get"), updated);
}

async fn update_of_a_whole_message_path_replaces_that_message(app: TestApp) {
    let created = create(&app, full_customer("Acme Ltd")).await;

    // `contact` replaces the whole contact: the parts the request leaves empty are cleared.
    let input = pb::Customer {
        name: created.name.clone(),
        contact: Some(pb::Contact {
            full_name: "John Roe".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let updated = update(&app, input, &["contact"]).await.expect("update contact");
    assert_eq!(
        updated.contact,
        Some(pb::Contact {
            full_name: "John Roe".into(),
            ..Default::default()
        })
    );
    assert_eq!(updated.region, created.region);
    assert_eq!(updated.display_name, created.display_name);

    // `region` left empty removes the region, also when the mask names a part of it as well.
    for paths in [&["region", "region.country_code"][..], &["region"]] {
        let input = pb::Customer {
            name: created.name.clone(),
            ..Default::default()
        };
        let updated = update(&app, input, paths).await.expect("clear region");
        assert_eq!(updated.region, None);
    }
    let updated = get(&app, &created.name).await.expect("get");
    assert_eq!(
        updated.contact,
        Some(pb::Contact {
            full_name: "John Roe".into(),
            ..Default::default()
        })
    );

    // Clearing the last contact part leaves no contact at all.
    let input = pb::Customer {
        name: created.name.clone(),
        ..Default::default()
    };
    let updated = update(&app, input, &["contact.full_name"])
        .await
        .expect("clear contact.full_name");
    assert_eq!(updated.contact, None);
    assert_eq!(get(&app, &created.name).await.expect("get"), updated);
}

async fn customer_without_a_region_gets_one_from_masked_region_parts(app: TestApp) {
    let created = create(&app, organization("No Region Inc")).await;
    assert_eq!(created.region, None);

    let input = pb::Customer {
        name: created.name.clone(),
        region: Some(pb::Region {
            country_code: "cn".into(),
            subdivision: String::new(),
            city: "Hangzhou".into(),
        }),
        ..Default::default()
    };
    let updated = update(&app, input, &["region.city", "region.country_code"])
        .await
        .expect("update");
    assert_eq!(
        updated.region,
        Some(pb::Region {
            country_code: "CN".into(),
            subdivision: String::new(),
            city: "Hangzhou".into()
        })
    );
    assert_eq!(get(&app, &created.name).await.expect("get"), updated);
}

async fn update_with_the_wildcard_mask_replaces_every_updatable_field(app: TestApp) {
    let created = create(&app, full_customer("Acme Ltd")).await;

    // Output-only fields in the request are ignored.
    let input = pb::Customer {
        name: created.name.clone(),
        display_name: "Renamed".into(),
        kind: pb::CustomerKind::Individual as i32,
        create_time: Some(prost_types::Timestamp { seconds: 0, nanos: 0 }),
        update_time: Some(prost_types::Timestamp { seconds: 0, nanos: 0 }),
        delete_time: Some(prost_types::Timestamp { seconds: 0, nanos: 0 }),
        ..Default::default()
    };
    let updated = update(&app, input, &["*"]).await.expect("update *");

    let expected = pb::Customer {
        name: created.name.clone(),
        display_name: "Renamed".into(),
        kind: pb::CustomerKind::Individual as i32,
        create_time: created.create_time,
        update_time: updated.update_time,
        delete_time: None,
        etag: updated.etag.clone(),
        classification: updated.classification.clone(),
        activity: updated.activity.clone(),
        ..Default::default()
    };
    assert_eq!(updated, expected, "every field the request left empty is cleared");
    assert_ne!(updated.etag, created.etag);
    assert!(instant(updated.update_time.as_ref()) > instant(created.update_time.as_ref()));
    assert_eq!(get(&app, &created.name).await.expect("get"), updated);

    // And `*` sets every field the request gives.
    let mut input = other_customer(&created.name);
    input.key_account = true;
    let updated = update(&app, input, &["*"]).await.expect("update * again");
    let mut expected = other_customer(&created.name);
    expected.key_account = true;
    expected.create_time = created.create_time;
    expected.update_time = updated.update_time;
    expected.etag = updated.etag.clone();
    // Classification is output only, tested in tests/classification.rs.
    expected.classification = updated.classification.clone();
    expected.activity = updated.activity.clone();
    assert_eq!(updated, expected);
}

async fn update_with_an_empty_mask_changes_exactly_the_populated_fields(app: TestApp) {
    let created = create(&app, full_customer("Acme Ltd")).await;

    // AIP-134: without a mask, the populated fields are the mask. `employee_count` 0 is
    // populated (it is `optional`); `key_account` false is not, so it stays true.
    let input = pb::Customer {
        name: created.name.clone(),
        employee_count: Some(0),
        contact: Some(pb::Contact {
            email: "new@example.com".into(),
            ..Default::default()
        }),
        region: Some(pb::Region {
            city: "Nuremberg".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    for paths in [None, Some(prost_types::FieldMask { paths: Vec::new() })] {
        let before = get(&app, &created.name).await.expect("get");
        let updated = app
            .customers
            .clone()
            .update_customer(pb::UpdateCustomerRequest {
                customer: Some(input.clone()),
                update_mask: paths,
            })
            .await
            .expect("update without a mask")
            .into_inner();

        let mut expected = created.clone();
        expected.employee_count = Some(0);
        expected.contact.as_mut().unwrap().email = "new@example.com".into();
        expected.region.as_mut().unwrap().city = "Nuremberg".into();
        expected.update_time = updated.update_time;
        expected.etag = updated.etag.clone();
        // Classification is output only, tested in tests/classification.rs.
        expected.classification = updated.classification.clone();
        expected.activity = updated.activity.clone();
        assert_eq!(updated, expected);
        assert_ne!(
            updated.etag, before.etag,
            "even a write that changes no value is a write"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Etags
// ---------------------------------------------------------------------------------------------

async fn every_successful_write_gives_a_new_etag_and_advances_update_time(app: TestApp) {
    let created = create(&app, organization("Acme Ltd")).await;
    let mut states = vec![created.clone()];

    let mut input = created.clone();
    input.display_name = "Acme Two".into();
    states.push(update(&app, input, &["display_name"]).await.expect("update"));
    states.push(delete(&app, &created.name, "").await.expect("delete"));
    states.push(undelete(&app, &created.name).await.expect("undelete"));
    let input = pb::Customer {
        name: created.name.clone(),
        employee_count: Some(12),
        ..Default::default()
    };
    states.push(update(&app, input, &["employee_count"]).await.expect("update again"));

    let etags: HashSet<&str> = states.iter().map(|c| c.etag.as_str()).collect();
    assert_eq!(
        etags.len(),
        states.len(),
        "every write must produce a new etag: {states:#?}"
    );
    assert!(etags.iter().all(|e| !e.is_empty()));
    for pair in states.windows(2) {
        assert!(
            instant(pair[1].update_time.as_ref()) > instant(pair[0].update_time.as_ref()),
            "{pair:#?}"
        );
        assert_eq!(pair[1].create_time, created.create_time);
    }
    assert_eq!(get(&app, &created.name).await.expect("get"), states[4]);
}

async fn update_with_the_current_etag_succeeds(app: TestApp) {
    let created = create(&app, organization("Acme Ltd")).await;

    let mut input = created.clone();
    input.display_name = "Acme Two".into();
    let first = update(&app, input, &["display_name"])
        .await
        .expect("update with the creation etag");
    assert_eq!(first.display_name, "Acme Two");

    let mut input = first.clone();
    input.display_name = "Acme Three".into();
    let second = update(&app, input, &["display_name"])
        .await
        .expect("update with the etag just read");
    assert_eq!(second.display_name, "Acme Three");
    assert_ne!(second.etag, first.etag);

    let deleted = delete(&app, &created.name, &second.etag)
        .await
        .expect("delete with the current etag");
    assert!(deleted.delete_time.is_some());
}

async fn update_with_a_stale_etag_is_aborted_and_changes_nothing(app: TestApp) {
    let created = create(&app, full_customer("Acme Ltd")).await;
    let mut input = created.clone();
    input.display_name = "Acme Two".into();
    let current = update(&app, input, &["display_name"]).await.expect("update");

    for (stale_etag, paths) in [
        (created.etag.clone(), vec!["display_name", "tags"]),
        ("\"999\"".to_owned(), vec!["display_name"]),
        ("not an etag".to_owned(), vec!["*"]),
    ] {
        let mut input = other_customer(&created.name);
        input.etag = stale_etag;
        let status = update(&app, input, &paths)
            .await
            .expect_err("a stale etag must not win");
        assert_error_info(&status, Code::Aborted, "ETAG_MISMATCH", &created.name);
        assert_eq!(
            get(&app, &created.name).await.expect("get"),
            current,
            "an aborted update changes nothing"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Soft delete and undelete
// ---------------------------------------------------------------------------------------------

async fn deleted_customer_is_hidden_from_get_list_and_batch_get(app: TestApp) {
    let kept = create(&app, organization("Kept")).await;
    let created = create(&app, organization("Doomed")).await;

    let deleted = delete(&app, &created.name, "").await.expect("delete");
    assert!(deleted.delete_time.is_some());
    assert!(
        instant(deleted.update_time.as_ref()) > instant(created.update_time.as_ref()),
        "a delete is a write"
    );
    assert_ne!(deleted.etag, created.etag);
    assert_eq!(deleted.display_name, created.display_name);
    assert_eq!(deleted.create_time, created.create_time);

    let status = get(&app, &created.name)
        .await
        .expect_err("a deleted customer is hidden from Get");
    assert_error_info(&status, Code::NotFound, "CUSTOMER_DELETED", &created.name);

    assert_eq!(names(&list_all(&app, false).await), vec![kept.name.as_str()]);
    let with_deleted = list_all(&app, true).await;
    assert_eq!(with_deleted.len(), 2);
    let shown = with_deleted
        .iter()
        .find(|c| c.name == created.name)
        .expect("shown with show_deleted");
    assert_eq!(shown, &deleted);

    let status = batch_get(&app, &[&kept.name, &created.name])
        .await
        .expect_err("batch get of a deleted customer");
    assert_error_info(&status, Code::NotFound, "CUSTOMER_DELETED", &created.name);
}

async fn deleted_customer_cannot_be_deleted_or_updated_again(app: TestApp) {
    let created = create(&app, organization("Doomed")).await;
    let deleted = delete(&app, &created.name, "").await.expect("delete");

    let status = delete(&app, &created.name, "").await.expect_err("delete twice");
    assert_error_info(&status, Code::NotFound, "CUSTOMER_DELETED", &created.name);
    let status = delete(&app, &created.name, &deleted.etag)
        .await
        .expect_err("delete twice with the current etag");
    assert_error_info(&status, Code::NotFound, "CUSTOMER_DELETED", &created.name);

    let mut input = created.clone();
    input.etag = String::new();
    input.display_name = "Revived?".into();
    let status = update(&app, input.clone(), &["display_name"])
        .await
        .expect_err("update a deleted customer");
    assert_error_info(&status, Code::NotFound, "CUSTOMER_DELETED", &created.name);
    input.etag = deleted.etag.clone();
    let status = update(&app, input, &["display_name"])
        .await
        .expect_err("update a deleted customer with its etag");
    assert_error_info(&status, Code::NotFound, "CUSTOMER_DELETED", &created.name);

    let still = list_all(&app, true).await;
    assert_eq!(still, vec![deleted], "nothing changed");
}

async fn delete_with_a_stale_etag_is_aborted_and_deletes_nothing(app: TestApp) {
    let created = create(&app, organization("Acme Ltd")).await;
    let mut input = created.clone();
    input.display_name = "Acme Two".into();
    let current = update(&app, input, &["display_name"]).await.expect("update");

    let status = delete(&app, &created.name, &created.etag)
        .await
        .expect_err("stale etag");
    assert_error_info(&status, Code::Aborted, "ETAG_MISMATCH", &created.name);
    assert_eq!(get(&app, &created.name).await.expect("still there"), current);

    let deleted = delete(&app, &created.name, &current.etag)
        .await
        .expect("delete with the current etag");
    assert!(deleted.delete_time.is_some());
}

async fn undelete_restores_a_deleted_customer(app: TestApp) {
    let created = create(&app, full_customer("Acme Ltd")).await;
    let deleted = delete(&app, &created.name, "").await.expect("delete");

    let restored = undelete(&app, &created.name).await.expect("undelete");
    assert_eq!(restored.delete_time, None);
    assert_ne!(restored.etag, deleted.etag);
    assert_ne!(restored.etag, created.etag);
    assert!(instant(restored.update_time.as_ref()) > instant(deleted.update_time.as_ref()));
    let mut expected = created.clone();
    expected.update_time = restored.update_time;
    expected.etag = restored.etag.clone();
    // Classification is output only, tested in tests/classification.rs.
    expected.classification = restored.classification.clone();
    expected.activity = restored.activity.clone();
    assert_eq!(restored, expected, "undelete restores the customer as it was");

    assert_eq!(get(&app, &created.name).await.expect("get after undelete"), restored);
    assert_eq!(names(&list_all(&app, false).await), vec![created.name.as_str()]);

    // It can be deleted again, and the etag of the restored state guards that delete.
    let status = delete(&app, &created.name, &deleted.etag)
        .await
        .expect_err("etag of the deleted state");
    assert_error_info(&status, Code::Aborted, "ETAG_MISMATCH", &created.name);
    delete(&app, &created.name, &restored.etag).await.expect("delete again");
}

async fn undelete_of_a_live_customer_fails_with_customer_not_deleted(app: TestApp) {
    let created = create(&app, organization("Acme Ltd")).await;
    let status = undelete(&app, &created.name)
        .await
        .expect_err("undelete a live customer");
    assert_error_info(&status, Code::AlreadyExists, "CUSTOMER_NOT_DELETED", &created.name);
    assert_eq!(get(&app, &created.name).await.expect("get"), created, "nothing changed");

    delete(&app, &created.name, "").await.expect("delete");
    undelete(&app, &created.name).await.expect("undelete");
    let status = undelete(&app, &created.name).await.expect_err("undelete twice");
    assert_error_info(&status, Code::AlreadyExists, "CUSTOMER_NOT_DELETED", &created.name);
}

// ---------------------------------------------------------------------------------------------
// Creates: idempotency and client-chosen ids
// ---------------------------------------------------------------------------------------------

async fn create_retried_with_the_same_request_id_returns_the_first_customer(app: TestApp) {
    let request_id = uuid::Uuid::new_v4().to_string();
    let request = |display_name: &str| pb::CreateCustomerRequest {
        customer: Some(organization(display_name)),
        request_id: request_id.clone(),
        ..Default::default()
    };

    let first = create_request(&app, request("First")).await.expect("create");
    let retried = create_request(&app, request("First")).await.expect("retry");
    assert_eq!(retried, first);
    // A retry is recognised by its request id alone.
    let retried = create_request(&app, request("Changed in between"))
        .await
        .expect("retry with other fields");
    assert_eq!(retried, first);
    // Any standard spelling of the same UUID is the same request.
    let mut upper = request("First");
    upper.request_id = request_id.to_uppercase();
    assert_eq!(create_request(&app, upper).await.expect("retry in uppercase"), first);

    assert_eq!(names(&list_all(&app, true).await), vec![first.name.as_str()]);

    // Another request id is another create.
    let other = pb::CreateCustomerRequest {
        customer: Some(organization("First")),
        request_id: uuid::Uuid::new_v4().to_string(),
        ..Default::default()
    };
    let second = create_request(&app, other)
        .await
        .expect("create with another request id");
    assert_ne!(second.name, first.name);
    assert_eq!(list_all(&app, true).await.len(), 2);
}

async fn concurrent_creates_with_one_request_id_store_exactly_one_customer(app: TestApp) {
    let request = pb::CreateCustomerRequest {
        customer: Some(full_customer("Raced Ltd")),
        request_id: uuid::Uuid::new_v4().to_string(),
        ..Default::default()
    };
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let mut client = app.customers.clone();
            let request = request.clone();
            tokio::spawn(async move { client.create_customer(request).await.map(tonic::Response::into_inner) })
        })
        .collect();
    let mut created = Vec::new();
    for task in tasks {
        created.push(task.await.expect("task").expect("every concurrent retry succeeds"));
    }
    let distinct: HashSet<&str> = names(&created).into_iter().collect();
    assert_eq!(distinct.len(), 1, "every retry returns the same customer: {distinct:?}");
    assert!(created.iter().all(|c| *c == created[0]));
    assert_eq!(
        names(&list_all(&app, true).await),
        vec![created[0].name.as_str()],
        "exactly one stored"
    );
}

async fn client_chosen_customer_id_names_the_customer(app: TestApp) {
    let request = pb::CreateCustomerRequest {
        customer: Some(organization("Acme Corp")),
        customer_id: "acme-corp".into(),
        ..Default::default()
    };
    let created = create_request(&app, request).await.expect("create with customer_id");
    assert_eq!(created.name, "customers/acme-corp");
    assert_eq!(get(&app, "customers/acme-corp").await.expect("get"), created);

    // A UUID may be chosen too; it is stored in its canonical lowercase form.
    let uuid = uuid::Uuid::new_v4();
    let request = pb::CreateCustomerRequest {
        customer: Some(organization("Uuid Corp")),
        customer_id: uuid.to_string().to_uppercase(),
        ..Default::default()
    };
    let created = create_request(&app, request)
        .await
        .expect("create with a UUID customer_id");
    assert_eq!(created.name, format!("customers/{uuid}"));
    assert_eq!(get(&app, &created.name).await.expect("get"), created);
}

async fn reused_customer_id_fails_with_already_exists_even_when_deleted(app: TestApp) {
    let request = |display_name: &str| pb::CreateCustomerRequest {
        customer: Some(organization(display_name)),
        customer_id: "acme-corp".into(),
        ..Default::default()
    };
    let created = create_request(&app, request("Acme Corp")).await.expect("create");

    let status = create_request(&app, request("Impostor")).await.expect_err("id taken");
    assert_error_info(
        &status,
        Code::AlreadyExists,
        "CUSTOMER_ALREADY_EXISTS",
        "customers/acme-corp",
    );
    // Also with a fresh request id: it is a different request for the same id.
    let mut with_request_id = request("Impostor");
    with_request_id.request_id = uuid::Uuid::new_v4().to_string();
    let status = create_request(&app, with_request_id).await.expect_err("id taken");
    assert_error_info(
        &status,
        Code::AlreadyExists,
        "CUSTOMER_ALREADY_EXISTS",
        "customers/acme-corp",
    );

    delete(&app, &created.name, "").await.expect("delete");
    let status = create_request(&app, request("Impostor"))
        .await
        .expect_err("id taken by a deleted customer");
    assert_error_info(
        &status,
        Code::AlreadyExists,
        "CUSTOMER_ALREADY_EXISTS",
        "customers/acme-corp",
    );

    let stored = list_all(&app, true).await;
    assert_eq!(names(&stored), vec!["customers/acme-corp"]);
    assert_eq!(stored[0].display_name, "Acme Corp", "the first customer is untouched");
}

// ---------------------------------------------------------------------------------------------
// Batch reads
// ---------------------------------------------------------------------------------------------

async fn batch_get_returns_customers_in_request_order_including_duplicates(app: TestApp) {
    let a = create(&app, organization("A")).await;
    let b = create(&app, full_customer("B")).await;
    let c = create(&app, organization("C")).await;

    let found = batch_get(&app, &[&c.name, &a.name, &c.name, &b.name])
        .await
        .expect("batch get");
    assert_eq!(found, vec![c.clone(), a.clone(), c.clone(), b.clone()]);

    let found = batch_get(&app, &[&b.name]).await.expect("batch get one");
    assert_eq!(found, vec![b]);
}

async fn batch_get_is_all_or_nothing(app: TestApp) {
    let a = create(&app, organization("A")).await;
    let b = create(&app, organization("B")).await;

    let status = batch_get(&app, &[&a.name, "customers/no-such-customer", &b.name])
        .await
        .expect_err("one is unknown");
    assert_error_info(
        &status,
        Code::NotFound,
        "CUSTOMER_NOT_FOUND",
        "customers/no-such-customer",
    );

    // The first missing customer is the one named.
    let status = batch_get(&app, &[&a.name, "customers/missing-one", "customers/missing-two"])
        .await
        .expect_err("two are unknown");
    assert_error_info(&status, Code::NotFound, "CUSTOMER_NOT_FOUND", "customers/missing-one");

    delete(&app, &b.name, "").await.expect("delete");
    let status = batch_get(&app, &[&a.name, &b.name, "customers/missing-one"])
        .await
        .expect_err("one is deleted");
    assert_error_info(&status, Code::NotFound, "CUSTOMER_DELETED", &b.name);
}

// ---------------------------------------------------------------------------------------------
// Concurrent writers
// ---------------------------------------------------------------------------------------------

const WRITERS: usize = 8;
const WRITES_PER_WRITER: usize = 25;

/// A client on its own connection, as a separate process would have.
async fn own_client(app: &TestApp) -> crm_tests::CustomersClient {
    let channel = Channel::from_shared(format!("http://{}", app.addr))
        .expect("uri")
        .connect()
        .await
        .expect("connect");
    CustomerServiceClient::with_interceptor(channel, crm_tests::Bearer::new(&app.admin_key))
}

async fn concurrent_read_modify_write_increments_with_etags_lose_no_update(app: TestApp) {
    let mut input = organization("Counter Ltd");
    input.employee_count = Some(0);
    let counter = create(&app, input).await;

    let mut tasks = Vec::new();
    for _ in 0..WRITERS {
        let mut client = own_client(&app).await;
        let name = counter.name.clone();
        tasks.push(tokio::spawn(async move {
            let (mut etags, mut aborted) = (Vec::new(), 0_usize);
            for _ in 0..WRITES_PER_WRITER {
                loop {
                    let current = client
                        .get_customer(pb::GetCustomerRequest { name: name.clone() })
                        .await
                        .expect("get")
                        .into_inner();
                    let next = pb::Customer {
                        name: name.clone(),
                        employee_count: Some(current.employee_count.expect("count is set") + 1),
                        etag: current.etag.clone(),
                        ..Default::default()
                    };
                    let request = pb::UpdateCustomerRequest {
                        customer: Some(next),
                        update_mask: mask(&["employee_count"]),
                    };
                    match client.update_customer(request).await {
                        Ok(updated) => {
                            etags.push(updated.into_inner().etag);
                            break;
                        }
                        Err(status) if status.code() == Code::Aborted => {
                            assert_error_info(&status, Code::Aborted, "ETAG_MISMATCH", &name);
                            aborted += 1;
                        }
                        Err(status) => panic!("unexpected error: {status:?}"),
                    }
                }
            }
            (etags, aborted)
        }));
    }
    let mut etags = HashSet::new();
    let mut aborted = 0;
    for task in tasks {
        let (task_etags, task_aborted) = task.await.expect("writer task");
        etags.extend(task_etags);
        aborted += task_aborted;
    }
    eprintln!(
        "{} increments, {aborted} retried after ABORTED",
        WRITERS * WRITES_PER_WRITER
    );

    let total = i32::try_from(WRITERS * WRITES_PER_WRITER).unwrap();
    let last = get(&app, &counter.name).await.expect("get");
    assert_eq!(last.employee_count, Some(total), "every increment counted exactly once");
    assert_eq!(
        etags.len(),
        WRITERS * WRITES_PER_WRITER,
        "every successful write has its own etag"
    );
    assert!(etags.contains(&last.etag));
}

async fn concurrent_blind_updates_of_different_fields_lose_none(app: TestApp) {
    // Updates without an etag are blind writes of the masked fields only: when each writer owns
    // one field, every field must end with its writer's last value, however the writes
    // interleave (a writer that stored a whole stale row would undo the others).
    let created = create(&app, full_customer("Blind Ltd")).await;
    type Field = fn(&mut pb::Customer, usize);
    let fields: [(&str, Field); WRITERS] = [
        ("display_name", |c, i| c.display_name = format!("Name {i}")),
        ("employee_count", |c, i| {
            c.employee_count = Some(i32::try_from(i).unwrap())
        }),
        ("contact.email", |c, i| {
            c.contact.get_or_insert_default().email = format!("e{i}@example.com")
        }),
        ("contact.full_name", |c, i| {
            c.contact.get_or_insert_default().full_name = format!("Person {i}")
        }),
        ("region.city", |c, i| {
            c.region.get_or_insert_default().city = format!("City {i}")
        }),
        ("department", |c, i| c.department = format!("dept-{i}")),
        ("owner", |c, i| c.owner = format!("principals/owner-{i}")),
        ("tags", |c, i| c.tags = vec![format!("tag-{i}")]),
    ];

    let mut tasks = Vec::new();
    for (path, set) in fields {
        let mut client = own_client(&app).await;
        let name = created.name.clone();
        tasks.push(tokio::spawn(async move {
            let mut etags = Vec::new();
            for i in 1..=WRITES_PER_WRITER {
                let mut input = pb::Customer {
                    name: name.clone(),
                    ..Default::default()
                };
                set(&mut input, i);
                let request = pb::UpdateCustomerRequest {
                    customer: Some(input),
                    update_mask: mask(&[path]),
                };
                let updated = client
                    .update_customer(request)
                    .await
                    .unwrap_or_else(|s| panic!("update {path}: {s:?}"));
                etags.push(updated.into_inner().etag);
            }
            etags
        }));
    }
    let mut etags = HashSet::new();
    for task in tasks {
        etags.extend(task.await.expect("writer task"));
    }
    assert_eq!(
        etags.len(),
        WRITERS * WRITES_PER_WRITER,
        "every successful write has its own etag"
    );

    let last = get(&app, &created.name).await.expect("get");
    let mut expected = created.clone();
    for (_, set) in fields {
        set(&mut expected, WRITES_PER_WRITER);
    }
    expected.update_time = last.update_time;
    expected.etag = last.etag.clone();
    // The classification was computed from the final profile, not from a stale one: the last
    // head count (25) is a SMALL company.
    let size = last
        .classification
        .as_ref()
        .and_then(|c| c.size_segment.as_ref())
        .and_then(|d| d.value.as_ref())
        .and_then(|v| v.value);
    assert_eq!(
        size,
        Some(pb::class_value::Value::SizeSegment(pb::SizeSegment::Small as i32))
    );
    expected.classification = last.classification.clone();
    expected.activity = last.activity.clone();
    assert_eq!(last, expected);
}

async fn concurrent_creates_with_one_customer_id_store_exactly_one_customer(app: TestApp) {
    let mut tasks = Vec::new();
    for i in 0..WRITERS {
        let mut client = own_client(&app).await;
        tasks.push(tokio::spawn(async move {
            let request = pb::CreateCustomerRequest {
                customer: Some(organization(&format!("Contender {i}"))),
                customer_id: "acme-corp".into(),
                ..Default::default()
            };
            client.create_customer(request).await.map(tonic::Response::into_inner)
        }));
    }
    let mut winners = Vec::new();
    for task in tasks {
        match task.await.expect("task") {
            Ok(created) => winners.push(created),
            Err(status) => assert_error_info(
                &status,
                Code::AlreadyExists,
                "CUSTOMER_ALREADY_EXISTS",
                "customers/acme-corp",
            ),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one create wins: {winners:#?}");
    assert_eq!(list_all(&app, true).await, winners);
}

async fn concurrent_deletes_and_undeletes_each_succeed_exactly_once(app: TestApp) {
    let created = create(&app, organization("Contested Ltd")).await;

    // Without an etag, a delete that loses the race sees the customer deleted: NOT_FOUND, never
    // ABORTED.
    let mut tasks = Vec::new();
    for _ in 0..WRITERS {
        let mut client = own_client(&app).await;
        let name = created.name.clone();
        tasks.push(tokio::spawn(async move {
            client
                .delete_customer(pb::DeleteCustomerRequest {
                    name,
                    etag: String::new(),
                })
                .await
                .map(tonic::Response::into_inner)
        }));
    }
    let mut deleted = Vec::new();
    for task in tasks {
        match task.await.expect("task") {
            Ok(customer) => deleted.push(customer),
            Err(status) => assert_error_info(&status, Code::NotFound, "CUSTOMER_DELETED", &created.name),
        }
    }
    assert_eq!(deleted.len(), 1, "exactly one delete wins");
    assert!(deleted[0].delete_time.is_some());

    let mut tasks = Vec::new();
    for _ in 0..WRITERS {
        let mut client = own_client(&app).await;
        let name = created.name.clone();
        tasks.push(tokio::spawn(async move {
            client
                .undelete_customer(pb::UndeleteCustomerRequest { name })
                .await
                .map(tonic::Response::into_inner)
        }));
    }
    let mut restored = Vec::new();
    for task in tasks {
        match task.await.expect("task") {
            Ok(customer) => restored.push(customer),
            Err(status) => assert_error_info(&status, Code::AlreadyExists, "CUSTOMER_NOT_DELETED", &created.name),
        }
    }
    assert_eq!(restored.len(), 1, "exactly one undelete wins");
    assert_eq!(get(&app, &created.name).await.expect("get"), restored[0]);
}
