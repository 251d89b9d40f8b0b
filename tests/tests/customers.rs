//! Customer CRUD end to end: every RPC, over real gRPC, against SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crm_tests::{TestApp, create, e2e, organization, pb};

e2e!(created_customer_can_be_read_back);

async fn created_customer_can_be_read_back(app: TestApp) {
    let mut input = organization("  Acme Ltd  ");
    input.contact = Some(pb::Contact {
        full_name: "Jane Doe".into(),
        job_title: "CFO".into(),
        email: "jane@EXAMPLE.com".into(),
        phone: "+86 138-0013-8000".into(),
        ..Default::default()
    });
    input.tags = vec!["vip".into(), "east".into(), "vip".into()];
    input.needs = vec![
        pb::CustomerNeed::QualityFocused as i32,
        pb::CustomerNeed::PriceSensitive as i32,
    ];
    input.employee_count = Some(250);
    input.region = Some(pb::Region {
        country_code: "de".into(),
        subdivision: "Bavaria".into(),
        city: "Munich".into(),
    });
    input.industry = "manufacturing".into();
    input.owner = "principals/alice".into();
    input.department = "sales-east".into();
    let created = create(&app, input).await;

    assert!(created.name.starts_with("customers/"));
    assert_eq!(created.display_name, "Acme Ltd");
    assert_eq!(created.tags, vec!["east", "vip"]);
    assert_eq!(
        created.needs,
        vec![
            pb::CustomerNeed::PriceSensitive as i32,
            pb::CustomerNeed::QualityFocused as i32
        ]
    );
    let contact = created.contact.clone().unwrap();
    assert_eq!(contact.email, "jane@example.com");
    assert_eq!(contact.phone, "+8613800138000");
    assert_eq!(created.region.clone().unwrap().country_code, "DE");
    assert!(!created.etag.is_empty());
    assert!(created.create_time.is_some() && created.delete_time.is_none());

    let fetched = app
        .customers
        .clone()
        .get_customer(pb::GetCustomerRequest {
            name: created.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(fetched, created);
}
