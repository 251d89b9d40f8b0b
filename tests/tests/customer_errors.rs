//! Errors end to end: every invalid field of a request reported at once with its exact path,
//! malformed versus unknown resource names, batch limits, bad update masks, and error messages
//! that say nothing about the storage behind the service, over real gRPC against SQLite and
//! PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crm_tests::{
    TestApp, assert_error_info, assert_no_leak, create, e2e, organization, pb, reason, violated_fields, violations,
};
use tonic::{Code, Status};

e2e!(
    create_reports_every_invalid_field_at_once,
    create_reports_each_kind_of_invalid_field_under_its_path,
    create_without_a_customer_is_invalid,
    create_with_a_malformed_customer_id_or_request_id_is_invalid,
    rejected_create_stores_nothing,
    values_at_the_limits_are_accepted,
    malformed_names_are_invalid_arguments,
    unknown_names_are_not_found,
    batch_get_rejects_no_names_and_more_than_a_thousand,
    batch_get_names_the_index_of_a_malformed_name,
    update_rejects_unknown_and_output_only_mask_paths,
    update_without_a_customer_or_name_is_invalid,
    update_rejects_invalid_values_in_masked_fields,
    update_of_a_region_part_without_a_region_is_invalid,
    rejected_update_changes_nothing,
    update_of_an_unknown_customer_is_not_found,
);

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// A create request for `customer` with no id and no request id.
fn create_request(customer: pb::Customer) -> pb::CreateCustomerRequest {
    pb::CreateCustomerRequest {
        customer: Some(customer),
        ..Default::default()
    }
}

async fn try_create(app: &TestApp, request: pb::CreateCustomerRequest) -> Result<pb::Customer, Status> {
    app.customers
        .clone()
        .create_customer(request)
        .await
        .map(tonic::Response::into_inner)
}

async fn try_update(app: &TestApp, customer: Option<pb::Customer>, paths: &[&str]) -> Result<pb::Customer, Status> {
    let update_mask = Some(prost_types::FieldMask {
        paths: paths.iter().map(|p| (*p).to_owned()).collect(),
    });
    app.customers
        .clone()
        .update_customer(pb::UpdateCustomerRequest { customer, update_mask })
        .await
        .map(tonic::Response::into_inner)
}

async fn try_get(app: &TestApp, name: &str) -> Result<pb::Customer, Status> {
    app.customers
        .clone()
        .get_customer(pb::GetCustomerRequest { name: name.to_owned() })
        .await
        .map(tonic::Response::into_inner)
}

async fn try_batch_get(app: &TestApp, names: Vec<String>) -> Result<Vec<pb::Customer>, Status> {
    app.customers
        .clone()
        .batch_get_customers(pb::BatchGetCustomersRequest { names })
        .await
        .map(|r| r.into_inner().customers)
}

async fn count_all(app: &TestApp) -> usize {
    app.customers
        .clone()
        .list_customers(pb::ListCustomersRequest {
            page_size: 1000,
            show_deleted: true,
            ..Default::default()
        })
        .await
        .expect("list customers")
        .into_inner()
        .customers
        .len()
}

/// Asserts INVALID_ARGUMENT with exactly these violated fields (in any order), each with a
/// description, and no other detail.
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
    assert_eq!(
        reason(status),
        None,
        "INVALID_ARGUMENT carries a BadRequest, not an ErrorInfo"
    );
    assert_no_leak(status);
}

async fn create_reports_every_invalid_field_at_once(app: TestApp) {
    let customer = pb::Customer {
        display_name: "   ".into(),
        kind: pb::CustomerKind::Unspecified as i32,
        contact: Some(pb::Contact {
            full_name: "Jane Doe".into(),
            job_rank: 99,
            email: "jane-at-example.com".into(),
            phone: "+1234567".into(),
            ..Default::default()
        }),
        industry: "spaceflight".into(),
        employee_count: Some(-1),
        region: Some(pb::Region {
            country_code: "XX".into(),
            subdivision: "Nowhere".into(),
            city: String::new(),
        }),
        needs: vec![pb::CustomerNeed::PriceSensitive as i32, 0, 99],
        owner: "alice".into(),
        department: "Sales East".into(),
        tags: vec!["ok".into(), "NotOk".into(), "x".repeat(65)],
        ..Default::default()
    };
    let request = pb::CreateCustomerRequest {
        customer: Some(customer),
        customer_id: "-abc".into(),
        request_id: "not-a-uuid".into(),
    };
    let status = try_create(&app, request).await.expect_err("invalid create");
    assert_invalid(
        &status,
        &[
            "customer_id",
            "request_id",
            "customer.display_name",
            "customer.kind",
            "customer.contact.job_rank",
            "customer.contact.email",
            "customer.contact.phone",
            "customer.industry",
            "customer.employee_count",
            "customer.region.country_code",
            "customer.needs[1]",
            "customer.needs[2]",
            "customer.owner",
            "customer.department",
            "customer.tags[1]",
            "customer.tags[2]",
        ],
    );
}

async fn create_reports_each_kind_of_invalid_field_under_its_path(app: TestApp) {
    type Edit = fn(&mut pb::Customer);
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "empty display name",
            |c| c.display_name = String::new(),
            "customer.display_name",
        ),
        (
            "blank display name",
            |c| c.display_name = " \t ".into(),
            "customer.display_name",
        ),
        (
            "201-character display name",
            |c| c.display_name = "a".repeat(201),
            "customer.display_name",
        ),
        ("unspecified kind", |c| c.kind = 0, "customer.kind"),
        ("unknown kind", |c| c.kind = 99, "customer.kind"),
        (
            "e-mail without @",
            |c| c.contact.get_or_insert_default().email = "jane".into(),
            "customer.contact.email",
        ),
        (
            "e-mail without domain",
            |c| c.contact.get_or_insert_default().email = "jane@".into(),
            "customer.contact.email",
        ),
        (
            "7-digit phone",
            |c| c.contact.get_or_insert_default().phone = "+1234567".into(),
            "customer.contact.phone",
        ),
        (
            "16-digit phone",
            |c| c.contact.get_or_insert_default().phone = "+1234567890123456".into(),
            "customer.contact.phone",
        ),
        (
            "phone without +",
            |c| c.contact.get_or_insert_default().phone = "8613800138000".into(),
            "customer.contact.phone",
        ),
        (
            "phone with letters",
            |c| c.contact.get_or_insert_default().phone = "+86 138 CALL ME".into(),
            "customer.contact.phone",
        ),
        (
            "unknown job rank",
            |c| c.contact.get_or_insert_default().job_rank = 7,
            "customer.contact.job_rank",
        ),
        (
            "unknown decision role",
            |c| c.contact.get_or_insert_default().decision_role = 42,
            "customer.contact.decision_role",
        ),
        (
            "201-character contact name",
            |c| c.contact.get_or_insert_default().full_name = "n".repeat(201),
            "customer.contact.full_name",
        ),
        (
            "unassigned country code",
            |c| {
                c.region = Some(pb::Region {
                    country_code: "XX".into(),
                    ..Default::default()
                })
            },
            "customer.region.country_code",
        ),
        (
            "UK instead of GB",
            |c| {
                c.region = Some(pb::Region {
                    country_code: "UK".into(),
                    ..Default::default()
                })
            },
            "customer.region.country_code",
        ),
        (
            "region without country code",
            |c| {
                c.region = Some(pb::Region {
                    city: "Munich".into(),
                    ..Default::default()
                })
            },
            "customer.region.country_code",
        ),
        (
            "101-character city",
            |c| {
                c.region = Some(pb::Region {
                    country_code: "DE".into(),
                    city: "c".repeat(101),
                    ..Default::default()
                })
            },
            "customer.region.city",
        ),
        (
            "negative employee count",
            |c| c.employee_count = Some(-1),
            "customer.employee_count",
        ),
        (
            "too many employees",
            |c| c.employee_count = Some(10_000_001),
            "customer.employee_count",
        ),
        (
            "uppercase tag",
            |c| c.tags = vec!["ok".into(), "VIP".into()],
            "customer.tags[1]",
        ),
        (
            "65-character tag",
            |c| c.tags = vec!["t".repeat(65)],
            "customer.tags[0]",
        ),
        ("empty tag", |c| c.tags = vec![String::new()], "customer.tags[0]"),
        (
            "51 tags",
            |c| c.tags = (0..51).map(|i| format!("tag-{i}")).collect(),
            "customer.tags[50]",
        ),
        ("unspecified need", |c| c.needs = vec![0], "customer.needs[0]"),
        (
            "unknown need",
            |c| c.needs = vec![pb::CustomerNeed::ServiceFocused as i32, 99],
            "customer.needs[1]",
        ),
        (
            "unknown industry",
            |c| c.industry = "spaceflight".into(),
            "customer.industry",
        ),
        (
            "uppercase industry code",
            |c| c.industry = "Retail".into(),
            "customer.industry",
        ),
        (
            "owner without collection",
            |c| c.owner = "alice".into(),
            "customer.owner",
        ),
        (
            "owner in another collection",
            |c| c.owner = "users/alice".into(),
            "customer.owner",
        ),
        (
            "department with spaces",
            |c| c.department = "sales east".into(),
            "customer.department",
        ),
        (
            "department starting with a hyphen",
            |c| c.department = "-sales".into(),
            "customer.department",
        ),
    ];
    for (case, edit, field) in cases {
        let mut customer = organization("Valid Ltd");
        edit(&mut customer);
        let status = try_create(&app, create_request(customer)).await.expect_err(case);
        assert_eq!(status.code(), Code::InvalidArgument, "{case}: {status:?}");
        assert_eq!(violated_fields(&status), vec![field.to_owned()], "{case}: {status:?}");
        assert_invalid(&status, &[field]);
    }
}

async fn create_without_a_customer_is_invalid(app: TestApp) {
    let status = try_create(&app, pb::CreateCustomerRequest::default())
        .await
        .expect_err("no customer");
    assert_invalid(&status, &["customer"]);

    let request = pb::CreateCustomerRequest {
        customer: None,
        customer_id: "A".into(),
        request_id: "nope".into(),
    };
    let status = try_create(&app, request).await.expect_err("no customer, bad ids");
    assert_invalid(&status, &["customer", "customer_id", "request_id"]);
}

async fn create_with_a_malformed_customer_id_or_request_id_is_invalid(app: TestApp) {
    let bad_ids = [
        "A",
        "ab",
        "-abc",
        "abc-",
        "1abc",
        "Acme",
        "acme_corp",
        "acme corp",
        "acme/corp",
        &"a".repeat(64),
        "0000000-0000-0000-0000-000000000000",
    ];
    for id in bad_ids {
        let request = pb::CreateCustomerRequest {
            customer_id: id.to_owned(),
            ..create_request(organization("Acme"))
        };
        let status = try_create(&app, request).await.expect_err(id);
        assert_invalid(&status, &["customer_id"]);
    }
    for request_id in ["not-a-uuid", "12345", "customers/acme"] {
        let request = pb::CreateCustomerRequest {
            request_id: request_id.to_owned(),
            ..create_request(organization("Acme"))
        };
        let status = try_create(&app, request).await.expect_err(request_id);
        assert_invalid(&status, &["request_id"]);
    }
}

async fn rejected_create_stores_nothing(app: TestApp) {
    let mut customer = organization("Acme");
    customer.tags = vec!["BAD".into()];
    let request = pb::CreateCustomerRequest {
        customer: Some(customer),
        customer_id: "acme".into(),
        request_id: uuid::Uuid::new_v4().to_string(),
    };
    try_create(&app, request.clone()).await.expect_err("invalid tag");
    assert_eq!(count_all(&app).await, 0);
    let status = try_get(&app, "customers/acme").await.expect_err("nothing stored");
    assert_error_info(&status, Code::NotFound, "CUSTOMER_NOT_FOUND", "customers/acme");

    // The request id of a rejected create is not used up: the corrected retry creates.
    let mut corrected = request;
    corrected.customer.as_mut().unwrap().tags = vec!["good".into()];
    let created = try_create(&app, corrected).await.expect("corrected retry");
    assert_eq!(created.name, "customers/acme");
    assert_eq!(count_all(&app).await, 1);
}

async fn values_at_the_limits_are_accepted(app: TestApp) {
    let customer = pb::Customer {
        display_name: "d".repeat(200),
        contact: Some(pb::Contact {
            email: "a@b.co".into(),
            phone: "+12345678".into(),
            ..Default::default()
        }),
        employee_count: Some(10_000_000),
        region: Some(pb::Region {
            country_code: "gb".into(),
            ..Default::default()
        }),
        tags: (0..50).map(|i| format!("{i:0>64}")).collect(),
        needs: vec![1, 2, 3, 4],
        owner: format!("principals/{}", uuid::Uuid::new_v4()),
        department: "0".into(),
        ..organization("ignored")
    };
    let request = pb::CreateCustomerRequest {
        customer_id: "abc".into(),
        ..create_request(customer)
    };
    let created = try_create(&app, request).await.expect("values at the upper limits");
    assert_eq!(created.display_name.chars().count(), 200);
    assert_eq!(created.tags.len(), 50);
    assert_eq!(created.region.unwrap().country_code, "GB");

    let mut customer = organization("x");
    customer.contact = Some(pb::Contact {
        phone: "+123456789012345".into(),
        ..Default::default()
    });
    customer.employee_count = Some(0);
    let request = pb::CreateCustomerRequest {
        customer_id: format!("a{}", "0".repeat(62)),
        ..create_request(customer)
    };
    let created = try_create(&app, request).await.expect("values at the lower limits");
    assert_eq!(created.employee_count, Some(0));
    assert_eq!(created.name.len(), "customers/".len() + 63);
}

// ---------------------------------------------------------------------------------------------
// Names: GetCustomer, DeleteCustomer, UndeleteCustomer
// ---------------------------------------------------------------------------------------------

const MALFORMED_NAMES: &[&str] = &[
    "",
    "customer/x",
    "customers/",
    "customers/UPPER",
    "customers/ab",
    "customers/acme/extra",
    "principals/acme",
    "acme",
    " customers/acme",
];

async fn malformed_names_are_invalid_arguments(app: TestApp) {
    let mut client = app.customers.clone();
    for name in MALFORMED_NAMES {
        let status = try_get(&app, name).await.expect_err(name);
        assert_invalid(&status, &["name"]);

        let status = client
            .delete_customer(pb::DeleteCustomerRequest {
                name: (*name).to_owned(),
                etag: String::new(),
            })
            .await
            .expect_err(name);
        assert_invalid(&status, &["name"]);

        let status = client
            .undelete_customer(pb::UndeleteCustomerRequest {
                name: (*name).to_owned(),
            })
            .await
            .expect_err(name);
        assert_invalid(&status, &["name"]);
    }
}

async fn unknown_names_are_not_found(app: TestApp) {
    // A customer exists, so "not found" is not just an empty table.
    create(&app, organization("Someone")).await;
    let uuid_name = format!("customers/{}", uuid::Uuid::new_v4());
    let mut client = app.customers.clone();
    for name in ["customers/no-such-customer", uuid_name.as_str()] {
        let status = try_get(&app, name).await.expect_err(name);
        assert_error_info(&status, Code::NotFound, "CUSTOMER_NOT_FOUND", name);

        let status = client
            .delete_customer(pb::DeleteCustomerRequest {
                name: name.to_owned(),
                etag: String::new(),
            })
            .await
            .expect_err(name);
        assert_error_info(&status, Code::NotFound, "CUSTOMER_NOT_FOUND", name);

        let status = client
            .delete_customer(pb::DeleteCustomerRequest {
                name: name.to_owned(),
                etag: "\"1\"".into(),
            })
            .await
            .expect_err(name);
        assert_error_info(&status, Code::NotFound, "CUSTOMER_NOT_FOUND", name);

        let status = client
            .undelete_customer(pb::UndeleteCustomerRequest { name: name.to_owned() })
            .await
            .expect_err(name);
        assert_error_info(&status, Code::NotFound, "CUSTOMER_NOT_FOUND", name);

        let status = try_batch_get(&app, vec![name.to_owned()]).await.expect_err(name);
        assert_error_info(&status, Code::NotFound, "CUSTOMER_NOT_FOUND", name);
    }

    // An uppercase UUID names the same customer as its lowercase form.
    let upper = format!("customers/{}", uuid::Uuid::new_v4().to_string().to_uppercase());
    let status = try_get(&app, &upper).await.expect_err("unknown uppercase UUID");
    assert_error_info(&status, Code::NotFound, "CUSTOMER_NOT_FOUND", &upper.to_lowercase());
}

// ---------------------------------------------------------------------------------------------
// BatchGetCustomers
// ---------------------------------------------------------------------------------------------

async fn batch_get_rejects_no_names_and_more_than_a_thousand(app: TestApp) {
    let status = try_batch_get(&app, Vec::new()).await.expect_err("no names");
    assert_invalid(&status, &["names"]);

    let known = create(&app, organization("Known")).await;
    let status = try_batch_get(&app, vec![known.name.clone(); 1001])
        .await
        .expect_err("1001 names");
    assert_invalid(&status, &["names"]);

    // 1000 is allowed (and a name may repeat).
    let found = try_batch_get(&app, vec![known.name.clone(); 1000])
        .await
        .expect("1000 names");
    assert_eq!(found.len(), 1000);
    assert!(found.iter().all(|c| *c == known));
}

async fn batch_get_names_the_index_of_a_malformed_name(app: TestApp) {
    let known = create(&app, organization("Known")).await;
    let names = vec![known.name.clone(), known.name.clone(), "customer/x".to_owned()];
    let status = try_batch_get(&app, names).await.expect_err("a malformed name");
    assert_invalid(&status, &["names[2]"]);

    let names = vec![
        "customers/UPPER".to_owned(),
        known.name.clone(),
        String::new(),
        "customers/no-such-customer".to_owned(),
        "customers/".to_owned(),
    ];
    let status = try_batch_get(&app, names).await.expect_err("malformed names");
    assert_invalid(&status, &["names[0]", "names[2]", "names[4]"]);
}

// ---------------------------------------------------------------------------------------------
// UpdateCustomer
// ---------------------------------------------------------------------------------------------

async fn update_rejects_unknown_and_output_only_mask_paths(app: TestApp) {
    let created = create(&app, organization("Acme")).await;
    let input = || {
        Some(pb::Customer {
            display_name: "New".into(),
            ..created.clone()
        })
    };

    for (paths, fields) in [
        (&["colour"][..], &["update_mask.paths[0]"][..]),
        (&["display_name", "nope"], &["update_mask.paths[1]"]),
        (&["contact.fax"], &["update_mask.paths[0]"]),
        (&["etag"], &["update_mask.paths[0]"]),
        (&["create_time"], &["update_mask.paths[0]"]),
        (&["update_time"], &["update_mask.paths[0]"]),
        (&["delete_time"], &["update_mask.paths[0]"]),
        (&["name"], &["update_mask.paths[0]"]),
        (
            &["display_name", "etag", "colour"],
            &["update_mask.paths[1]", "update_mask.paths[2]"],
        ),
        (&["*", "display_name"], &["update_mask.paths"]),
    ] {
        let status = try_update(&app, input(), paths).await.expect_err(&format!("{paths:?}"));
        assert_invalid(&status, fields);
    }

    // An empty mask on a request that populates nothing names no field.
    let only_name = pb::Customer {
        name: created.name.clone(),
        ..Default::default()
    };
    let status = try_update(&app, Some(only_name), &[])
        .await
        .expect_err("nothing to update");
    assert_invalid(&status, &["update_mask"]);
}

async fn update_without_a_customer_or_name_is_invalid(app: TestApp) {
    let status = try_update(&app, None, &["display_name"])
        .await
        .expect_err("no customer");
    assert_invalid(&status, &["customer"]);

    let status = try_update(&app, Some(organization("No Name")), &["display_name"])
        .await
        .expect_err("no customer.name");
    assert_invalid(&status, &["customer.name"]);

    for name in ["customer/x", "customers/UPPER"] {
        let input = pb::Customer {
            name: name.to_owned(),
            ..organization("Bad Name")
        };
        let status = try_update(&app, Some(input), &["display_name"]).await.expect_err(name);
        assert_invalid(&status, &["customer.name"]);
    }

    // Every problem at once: the name and the mask.
    let input = pb::Customer {
        name: "customers/".into(),
        ..organization("Bad Name")
    };
    let status = try_update(&app, Some(input), &["colour"])
        .await
        .expect_err("bad name and mask");
    assert_invalid(&status, &["customer.name", "update_mask.paths[0]"]);
}

async fn update_rejects_invalid_values_in_masked_fields(app: TestApp) {
    let created = create(&app, organization("Acme")).await;
    let with = |edit: fn(&mut pb::Customer)| {
        let mut c = pb::Customer {
            name: created.name.clone(),
            ..Default::default()
        };
        edit(&mut c);
        Some(c)
    };

    // A masked required field left empty is rejected, not cleared.
    let status = try_update(&app, with(|_| {}), &["display_name"])
        .await
        .expect_err("blank display name");
    assert_invalid(&status, &["customer.display_name"]);
    let status = try_update(&app, with(|c| c.display_name = "   ".into()), &["display_name"])
        .await
        .expect_err("blank");
    assert_invalid(&status, &["customer.display_name"]);
    let status = try_update(&app, with(|_| {}), &["kind"])
        .await
        .expect_err("unspecified kind");
    assert_invalid(&status, &["customer.kind"]);
    let status = try_update(&app, with(|_| {}), &["*"])
        .await
        .expect_err("`*` with nothing set");
    assert_invalid(&status, &["customer.display_name", "customer.kind"]);

    // Invalid values under their paths, all at once.
    let status = try_update(
        &app,
        with(|c| {
            c.contact = Some(pb::Contact {
                email: "nope".into(),
                phone: "+0123456789".into(),
                ..Default::default()
            });
            c.tags = vec!["fine".into(), "Not Fine".into()];
            c.employee_count = Some(-5);
        }),
        &["contact.email", "contact.phone", "tags", "employee_count", "colour"],
    )
    .await
    .expect_err("invalid values");
    assert_invalid(
        &status,
        &[
            "customer.contact.email",
            "customer.contact.phone",
            "customer.tags[1]",
            "customer.employee_count",
            "update_mask.paths[4]",
        ],
    );

    // Whole messages are checked part by part.
    let status = try_update(
        &app,
        with(|c| {
            c.region = Some(pb::Region {
                country_code: "UK".into(),
                city: "London".into(),
                ..Default::default()
            })
        }),
        &["region"],
    )
    .await
    .expect_err("UK");
    assert_invalid(&status, &["customer.region.country_code"]);
    let status = try_update(
        &app,
        with(|c| c.region = Some(pb::Region::default())),
        &["region.country_code"],
    )
    .await
    .expect_err("no country code");
    assert_invalid(&status, &["customer.region.country_code"]);

    // Without a mask, the populated fields are checked.
    let status = try_update(&app, with(|c| c.industry = "spaceflight".into()), &[])
        .await
        .expect_err("industry");
    assert_invalid(&status, &["customer.industry"]);

    // A value outside the mask is not looked at.
    let updated = try_update(&app, with(|c| c.industry = "spaceflight".into()), &["employee_count"])
        .await
        .expect("an unmasked invalid value is ignored");
    assert_eq!(updated.industry, "");
}

async fn update_of_a_region_part_without_a_region_is_invalid(app: TestApp) {
    let created = create(&app, organization("No Region")).await;
    for (path, region) in [
        (
            "region.city",
            pb::Region {
                city: "Munich".into(),
                ..Default::default()
            },
        ),
        (
            "region.subdivision",
            pb::Region {
                subdivision: "Bavaria".into(),
                ..Default::default()
            },
        ),
    ] {
        let input = pb::Customer {
            name: created.name.clone(),
            region: Some(region),
            ..Default::default()
        };
        let status = try_update(&app, Some(input), &[path]).await.expect_err(path);
        assert_invalid(&status, &[&format!("customer.{path}")]);
    }
    assert_eq!(try_get(&app, &created.name).await.expect("get"), created);
}

async fn rejected_update_changes_nothing(app: TestApp) {
    let created = create(&app, organization("Acme")).await;
    let input = pb::Customer {
        name: created.name.clone(),
        display_name: "Changed".into(),
        tags: vec!["BAD".into()],
        ..Default::default()
    };
    let status = try_update(&app, Some(input), &["display_name", "tags"])
        .await
        .expect_err("bad tag");
    assert_invalid(&status, &["customer.tags[0]"]);
    assert_eq!(
        try_get(&app, &created.name).await.expect("get"),
        created,
        "nothing changed, not even the etag"
    );
}

async fn update_of_an_unknown_customer_is_not_found(app: TestApp) {
    for etag in ["", "\"1\""] {
        let input = pb::Customer {
            name: "customers/no-such-customer".into(),
            etag: etag.into(),
            ..organization("X")
        };
        let status = try_update(&app, Some(input), &["display_name"])
            .await
            .expect_err("unknown");
        assert_error_info(
            &status,
            Code::NotFound,
            "CUSTOMER_NOT_FOUND",
            "customers/no-such-customer",
        );
    }
}
