//! ListCustomers end to end: every documented filter form, the errors for bad requests, the
//! orderings across pages, page sizes, keyset paging under concurrent inserts, and page tokens,
//! against SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    cmp::Ordering,
    collections::{BTreeSet, HashMap},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering as AtomicOrdering},
    },
};

use crm_tests::{TestApp, create, e2e, organization, pb, violated_fields, violations};
use futures::StreamExt;
use tonic::Code;

e2e!(
    filters_select_exactly_the_matching_customers,
    malformed_filters_are_rejected_with_their_position,
    bad_order_by_and_negative_page_size_are_rejected_with_every_violation,
    orderings_hold_across_pages,
    page_size_defaults_to_fifty_and_the_last_page_has_no_token,
    page_size_above_the_maximum_is_clamped_to_a_thousand,
    paging_by_create_time_during_inserts_returns_every_earlier_customer_exactly_once,
    paging_by_display_name_desc_during_inserts_returns_every_earlier_customer_exactly_once,
    tampered_page_tokens_are_rejected,
    page_tokens_are_rejected_with_another_filter_order_by_or_show_deleted,
    page_size_may_change_between_pages,
);

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn request(filter: &str, order_by: &str, page_size: i32, page_token: &str) -> pb::ListCustomersRequest {
    pb::ListCustomersRequest {
        page_size,
        page_token: page_token.to_owned(),
        filter: filter.to_owned(),
        order_by: order_by.to_owned(),
        show_deleted: false,
    }
}

async fn list(app: &TestApp, request: pb::ListCustomersRequest) -> Result<pb::ListCustomersResponse, tonic::Status> {
    app.customers
        .clone()
        .list_customers(request)
        .await
        .map(tonic::Response::into_inner)
}

/// Every customer the query returns, following page tokens to the end. Checks that no page is
/// larger than asked for and that a page with a next_page_token is not empty.
async fn list_all(
    app: &TestApp,
    filter: &str,
    order_by: &str,
    page_size: i32,
) -> Result<Vec<pb::Customer>, tonic::Status> {
    let mut all = Vec::new();
    let mut token = String::new();
    loop {
        let page = list(app, request(filter, order_by, page_size, &token)).await?;
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
        token = page.next_page_token;
    }
}

fn display_names(customers: &[pb::Customer]) -> Vec<String> {
    customers.iter().map(|c| c.display_name.clone()).collect()
}

/// Creates every customer, a few at a time; returns them as stored, in no particular order.
async fn create_all(app: &TestApp, customers: Vec<pb::Customer>) -> Vec<pb::Customer> {
    futures::stream::iter(customers)
        .map(|customer| create(app, customer))
        .buffer_unordered(8)
        .collect()
        .await
}

fn time_key(t: Option<&prost_types::Timestamp>) -> (i64, i32) {
    let t = t.expect("timestamp is set");
    (t.seconds, t.nanos)
}

fn timestamp_text(t: Option<&prost_types::Timestamp>) -> String {
    t.expect("timestamp is set").to_string()
}

fn assert_invalid_argument(status: &tonic::Status, field: &str) {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_eq!(violated_fields(status), vec![field.to_owned()], "{status:?}");
}

// ---------------------------------------------------------------------------------------------
// Filters
// ---------------------------------------------------------------------------------------------

fn region(country_code: &str) -> Option<pb::Region> {
    Some(pb::Region {
        country_code: country_code.into(),
        ..Default::default()
    })
}

fn contact_with_rank(rank: pb::JobRank) -> Option<pb::Contact> {
    Some(pb::Contact {
        full_name: "Pat Doe".into(),
        job_rank: rank as i32,
        ..Default::default()
    })
}

fn individual(display_name: &str) -> pb::Customer {
    pb::Customer {
        kind: pb::CustomerKind::Individual as i32,
        ..organization(display_name)
    }
}

/// Six customers, created one after the other (so their create times increase in this order).
fn filter_data_set() -> Vec<pb::Customer> {
    use pb::CustomerNeed as N;
    vec![
        pb::Customer {
            employee_count: Some(250),
            tags: vec!["vip".into(), "east".into()],
            needs: vec![N::QualityFocused as i32, N::PriceSensitive as i32],
            key_account: true,
            owner: "principals/alice".into(),
            region: region("CN"),
            contact: contact_with_rank(pb::JobRank::Executive),
            industry: "manufacturing".into(),
            ..organization("Acme Corp")
        },
        pb::Customer {
            employee_count: Some(12),
            tags: vec!["east".into()],
            needs: vec![N::FunctionFocused as i32],
            owner: "principals/bob".into(),
            region: region("DE"),
            contact: contact_with_rank(pb::JobRank::Middle),
            industry: "technology".into(),
            ..organization("Acme Labs")
        },
        pb::Customer {
            needs: vec![N::QualityFocused as i32],
            churned: true,
            region: region("cn"),
            industry: "retail".into(),
            ..organization("Beta Traders")
        },
        pb::Customer {
            tags: vec!["vip".into()],
            contact: contact_with_rank(pb::JobRank::Frontline),
            ..individual("Gamma Person")
        },
        pb::Customer {
            employee_count: Some(5000),
            tags: vec!["west".into()],
            needs: vec![N::ServiceFocused as i32, N::QualityFocused as i32],
            key_account: true,
            churned: true,
            owner: "principals/alice".into(),
            region: region("US"),
            contact: Some(pb::Contact {
                full_name: "Sam Roe".into(),
                ..Default::default()
            }),
            ..organization("Delta Works")
        },
        pb::Customer {
            employee_count: Some(0),
            owner: "principals/bob".into(),
            ..individual("Epsilon")
        },
    ]
}

async fn filters_select_exactly_the_matching_customers(app: TestApp) {
    let mut created = Vec::new();
    for customer in filter_data_set() {
        created.push(create(&app, customer).await);
    }
    let beta_created = timestamp_text(created[2].create_time.as_ref());
    let everyone = [
        "Acme Corp",
        "Acme Labs",
        "Beta Traders",
        "Gamma Person",
        "Delta Works",
        "Epsilon",
    ];

    let cases: Vec<(String, Vec<&str>)> = vec![
        // `=` and `!=` on strings.
        (r#"display_name = "Acme Corp""#.into(), vec!["Acme Corp"]),
        (
            r#"display_name != "Acme Corp""#.into(),
            vec!["Acme Labs", "Beta Traders", "Gamma Person", "Delta Works", "Epsilon"],
        ),
        ("industry = 'retail'".into(), vec!["Beta Traders"]),
        (r#"owner = "principals/alice""#.into(), vec!["Acme Corp", "Delta Works"]),
        // Lexicographic comparison of strings.
        (
            r#"display_name < "C""#.into(),
            vec!["Acme Corp", "Acme Labs", "Beta Traders"],
        ),
        // `=` and `!=` on enums, bare and prefixed.
        ("kind = INDIVIDUAL".into(), vec!["Gamma Person", "Epsilon"]),
        (
            "kind = CUSTOMER_KIND_INDIVIDUAL".into(),
            vec!["Gamma Person", "Epsilon"],
        ),
        ("kind != ORGANIZATION".into(), vec!["Gamma Person", "Epsilon"]),
        (
            "kind != CUSTOMER_KIND_INDIVIDUAL".into(),
            vec!["Acme Corp", "Acme Labs", "Beta Traders", "Delta Works"],
        ),
        ("contact.job_rank = JOB_RANK_EXECUTIVE".into(), vec!["Acme Corp"]),
        ("contact.job_rank = MIDDLE".into(), vec!["Acme Labs"]),
        // Integers; an unknown count matches no comparison, and 0 is not unknown.
        ("employee_count < 100".into(), vec!["Acme Labs", "Epsilon"]),
        ("employee_count >= 250".into(), vec!["Acme Corp", "Delta Works"]),
        ("employee_count = 0".into(), vec!["Epsilon"]),
        (
            "employee_count>=-5".into(),
            vec!["Acme Corp", "Acme Labs", "Delta Works", "Epsilon"],
        ),
        // Timestamps.
        (
            format!(r#"create_time >= "{beta_created}""#),
            vec!["Beta Traders", "Gamma Person", "Delta Works", "Epsilon"],
        ),
        (format!("create_time < {beta_created}"), vec!["Acme Corp", "Acme Labs"]),
        (format!(r#"create_time = "{beta_created}""#), vec!["Beta Traders"]),
        (r#"create_time > "2000-01-01T00:00:00Z""#.into(), everyone.to_vec()),
        (r#"create_time < "2000-01-01T08:00:00+08:00""#.into(), vec![]),
        // Booleans.
        ("key_account = true".into(), vec!["Acme Corp", "Delta Works"]),
        ("churned = true".into(), vec!["Beta Traders", "Delta Works"]),
        (
            "churned = false".into(),
            vec!["Acme Corp", "Acme Labs", "Gamma Person", "Epsilon"],
        ),
        (
            "key_account != true".into(),
            vec!["Acme Labs", "Beta Traders", "Gamma Person", "Epsilon"],
        ),
        // Repeated fields.
        (r#"tags: "vip""#.into(), vec!["Acme Corp", "Gamma Person"]),
        ("tags:east".into(), vec!["Acme Corp", "Acme Labs"]),
        ("tags: nobody".into(), vec![]),
        (
            "needs: QUALITY_FOCUSED".into(),
            vec!["Acme Corp", "Beta Traders", "Delta Works"],
        ),
        ("needs: CUSTOMER_NEED_SERVICE_FOCUSED".into(), vec!["Delta Works"]),
        ("needs: PRICE_SENSITIVE".into(), vec!["Acme Corp"]),
        // AND, juxtaposition, OR, NOT, `-`, parentheses.
        (
            "kind = ORGANIZATION AND key_account = true".into(),
            vec!["Acme Corp", "Delta Works"],
        ),
        ("kind = ORGANIZATION tags: east".into(), vec!["Acme Corp", "Acme Labs"]),
        (
            r#"churned = true OR tags: "vip""#.into(),
            vec!["Acme Corp", "Beta Traders", "Gamma Person", "Delta Works"],
        ),
        ("NOT kind = ORGANIZATION".into(), vec!["Gamma Person", "Epsilon"]),
        (
            "-churned = true".into(),
            vec!["Acme Corp", "Acme Labs", "Gamma Person", "Epsilon"],
        ),
        (
            "NOT (churned = true OR key_account = true)".into(),
            vec!["Acme Labs", "Gamma Person", "Epsilon"],
        ),
        (
            "-(tags: vip)".into(),
            vec!["Acme Labs", "Beta Traders", "Delta Works", "Epsilon"],
        ),
        (
            "(kind = INDIVIDUAL OR churned = true) AND employee_count >= 0".into(),
            vec!["Delta Works", "Epsilon"],
        ),
        // AIP-160 precedence: OR binds tighter than AND.
        (
            "key_account = true AND churned = true OR kind = INDIVIDUAL".into(),
            vec!["Delta Works"],
        ),
        (
            "key_account = true AND (churned = true OR kind = INDIVIDUAL)".into(),
            vec!["Delta Works"],
        ),
        (
            "(key_account = true AND churned = true) OR kind = INDIVIDUAL".into(),
            vec!["Gamma Person", "Delta Works", "Epsilon"],
        ),
        (
            "key_account = true churned = true OR kind = INDIVIDUAL".into(),
            vec!["Delta Works"],
        ),
        // Prefix match.
        (r#"display_name = "Acme*""#.into(), vec!["Acme Corp", "Acme Labs"]),
        ("display_name = Acme*".into(), vec!["Acme Corp", "Acme Labs"]),
        (r#"display_name = "Acme""#.into(), vec![]),
        (r#"display_name = "Acme\*""#.into(), vec![]),
        // The empty string means "not set".
        (r#"owner = """#.into(), vec!["Beta Traders", "Gamma Person"]),
        (
            r#"owner != """#.into(),
            vec!["Acme Corp", "Acme Labs", "Delta Works", "Epsilon"],
        ),
        (r#"region.country_code = """#.into(), vec!["Gamma Person", "Epsilon"]),
        // Country codes in any case.
        (
            r#"region.country_code = "cn""#.into(),
            vec!["Acme Corp", "Beta Traders"],
        ),
        ("region.country_code = CN".into(), vec!["Acme Corp", "Beta Traders"]),
        // NOT (and !=) on a nullable field includes the customers where it is not set.
        (
            r#"NOT region.country_code = "CN""#.into(),
            vec!["Acme Labs", "Gamma Person", "Delta Works", "Epsilon"],
        ),
        (
            r#"region.country_code != "cn""#.into(),
            vec!["Acme Labs", "Gamma Person", "Delta Works", "Epsilon"],
        ),
        (
            "NOT contact.job_rank = EXECUTIVE".into(),
            vec!["Acme Labs", "Beta Traders", "Gamma Person", "Delta Works", "Epsilon"],
        ),
        (
            "contact.job_rank != EXECUTIVE".into(),
            vec!["Acme Labs", "Beta Traders", "Gamma Person", "Delta Works", "Epsilon"],
        ),
        (
            "NOT employee_count >= 250".into(),
            vec!["Acme Labs", "Beta Traders", "Gamma Person", "Epsilon"],
        ),
        (
            "-industry = retail".into(),
            vec!["Acme Corp", "Acme Labs", "Gamma Person", "Delta Works", "Epsilon"],
        ),
        // No filter at all.
        ("".into(), everyone.to_vec()),
        ("   ".into(), everyone.to_vec()),
    ];

    let mut failures = Vec::new();
    for (filter, expected) in &cases {
        let expected: BTreeSet<String> = expected.iter().map(|s| (*s).to_owned()).collect();
        match list_all(&app, filter, "", 2).await {
            Ok(found) => {
                let names = display_names(&found);
                let found: BTreeSet<String> = names.iter().cloned().collect();
                if found.len() != names.len() {
                    failures.push(format!("{filter:?}: duplicates in {names:?}"));
                } else if found != expected {
                    failures.push(format!("{filter:?}: expected {expected:?}, got {found:?}"));
                }
            }
            Err(status) => failures.push(format!("{filter:?}: failed with {status:?}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} filters went wrong:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

async fn malformed_filters_are_rejected_with_their_position(app: TestApp) {
    create(&app, organization("Acme Corp")).await;
    let cases: &[(&str, usize)] = &[
        ("unknown_field = 1", 0),
        ("kind = ", 7),
        (r#"display_name = "unterminated"#, 15),
        ("employee_count = many", 17),
        ("kind = ORGANIZATION and churned = true", 20),
        ("kind = PERSON", 7),
        ("(kind = INDIVIDUAL", 18),
        ("kind = INDIVIDUAL)", 17),
        ("key_account = maybe", 14),
        ("create_time > yesterday", 14),
        ("tags = vip", 5),
        ("display_name: Acme", 12),
        ("kind < ORGANIZATION", 5),
        ("Acme", 0),
        ("churned = true AND", 18),
    ];
    let mut failures = Vec::new();
    for (filter, position) in cases {
        match list(&app, request(filter, "", 0, "")).await {
            Ok(page) => failures.push(format!(
                "{filter:?}: accepted, returned {:?}",
                display_names(&page.customers)
            )),
            Err(status) => {
                let found = violations(&status);
                let at = format!("at position {position}:");
                if status.code() != Code::InvalidArgument
                    || found.len() != 1
                    || found[0].0 != "filter"
                    || !found[0].1.contains(&at)
                {
                    failures.push(format!(
                        "{filter:?}: expected a `filter` violation at {at}, got {status:?} {found:?}"
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

async fn bad_order_by_and_negative_page_size_are_rejected_with_every_violation(app: TestApp) {
    create(&app, organization("Acme Corp")).await;
    for order_by in [
        "contact.email",
        "display_name sideways",
        "display_name, display_name desc",
        "create_time desc extra",
        ",",
    ] {
        let status = list(&app, request("", order_by, 0, "")).await.unwrap_err();
        assert_invalid_argument(&status, "order_by");
    }
    for page_size in [-1, i32::MIN] {
        let status = list(&app, request("", "", page_size, "")).await.unwrap_err();
        assert_invalid_argument(&status, "page_size");
    }

    // Every bad field is reported at once.
    let status = list(&app, request("kind = ", "sideways", -3, "")).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let fields: BTreeSet<String> = violated_fields(&status).into_iter().collect();
    assert_eq!(
        fields,
        ["filter", "order_by", "page_size"]
            .map(str::to_owned)
            .into_iter()
            .collect()
    );
}

// ---------------------------------------------------------------------------------------------
// Orderings
// ---------------------------------------------------------------------------------------------

/// How two customers compare in some ordering.
type Compare = fn(&pb::Customer, &pb::Customer) -> Ordering;
/// The same, for closures.
type BoxedCompare = Box<dyn Fn(&pb::Customer, &pb::Customer) -> Ordering>;

async fn orderings_hold_across_pages(app: TestApp) {
    // One case, letters and digits only: the two backends' text collations agree on these.
    let names = [
        "quebec", "alpha", "lima", "charlie", "kilo", "echo", "bravo", "juliet", "golf", "delta", "hotel", "foxtrot",
        "india", "mike",
    ];
    let counts = [
        Some(50),
        None,
        Some(10),
        Some(50),
        None,
        Some(1000),
        Some(10),
        Some(50),
        None,
        Some(0),
        Some(7),
        Some(1000),
        Some(50),
        None,
    ];
    let mut customers = Vec::new();
    for (name, count) in names.iter().zip(counts) {
        customers.push(
            create(
                &app,
                pb::Customer {
                    employee_count: count,
                    ..organization(name)
                },
            )
            .await,
        );
    }
    // Touch some in another order, so that update_time orders differently from create_time.
    for index in [9, 0, 5, 12, 2] {
        let mut changed = customers[index].clone();
        changed.tags = vec!["touched".into()];
        customers[index] = app
            .customers
            .clone()
            .update_customer(pb::UpdateCustomerRequest {
                customer: Some(changed),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["tags".into()],
                }),
            })
            .await
            .expect("update")
            .into_inner();
    }

    let count_key = |c: &pb::Customer| c.employee_count.map_or(-1, i64::from);
    let by_name: Compare = |a, b| a.display_name.cmp(&b.display_name).then_with(|| a.name.cmp(&b.name));
    let by_create: Compare = |a, b| {
        time_key(a.create_time.as_ref())
            .cmp(&time_key(b.create_time.as_ref()))
            .then_with(|| a.name.cmp(&b.name))
    };
    let by_update: Compare = |a, b| {
        time_key(a.update_time.as_ref())
            .cmp(&time_key(b.update_time.as_ref()))
            .then_with(|| a.name.cmp(&b.name))
    };
    let orderings: Vec<(&str, BoxedCompare)> = vec![
        ("", Box::new(by_create)),
        ("create_time", Box::new(by_create)),
        ("display_name", Box::new(by_name)),
        ("display_name desc", Box::new(move |a, b| by_name(b, a))),
        ("create_time desc", Box::new(move |a, b| by_create(b, a))),
        ("update_time", Box::new(by_update)),
        ("update_time desc", Box::new(move |a, b| by_update(b, a))),
        (
            "employee_count",
            Box::new(move |a, b| count_key(a).cmp(&count_key(b)).then_with(|| a.name.cmp(&b.name))),
        ),
        (
            "employee_count desc",
            Box::new(move |a, b| count_key(b).cmp(&count_key(a)).then_with(|| b.name.cmp(&a.name))),
        ),
        (
            "employee_count desc, display_name",
            Box::new(move |a, b| count_key(b).cmp(&count_key(a)).then_with(|| by_name(a, b))),
        ),
        (
            "employee_count, display_name desc",
            Box::new(move |a, b| count_key(a).cmp(&count_key(b)).then_with(|| by_name(b, a))),
        ),
        (
            "display_name asc , employee_count desc",
            Box::new(move |a, b| by_name(a, b).then_with(|| count_key(b).cmp(&count_key(a)))),
        ),
    ];

    for (order_by, compare) in &orderings {
        let mut expected = customers.clone();
        expected.sort_by(|a, b| compare(a, b));
        for page_size in [3, 5, 14, 1000] {
            let found = list_all(&app, "", order_by, page_size).await.unwrap();
            assert_eq!(
                display_names(&found),
                display_names(&expected),
                "order_by {order_by:?} with page_size {page_size}"
            );
            assert_eq!(found, expected, "order_by {order_by:?}: the customers themselves");
        }
    }

    // Unknown employee counts come first ascending and last descending.
    let descending = list_all(&app, "", "employee_count desc, display_name", 4)
        .await
        .unwrap();
    assert_eq!(
        display_names(&descending),
        [
            "echo", "foxtrot", "charlie", "india", "juliet", "quebec", "bravo", "lima", "hotel", "delta", "alpha",
            "golf", "kilo", "mike"
        ]
    );
    let ascending = list_all(&app, "", "employee_count", 4).await.unwrap();
    assert!(ascending[..4].iter().all(|c| c.employee_count.is_none()));
    assert_eq!(ascending[4].display_name, "delta");
}

// ---------------------------------------------------------------------------------------------
// Page sizes
// ---------------------------------------------------------------------------------------------

async fn page_size_defaults_to_fifty_and_the_last_page_has_no_token(app: TestApp) {
    create_all(&app, (0..51).map(|i| organization(&format!("c{i:03}"))).collect()).await;

    let first = list(&app, request("", "", 0, "")).await.unwrap();
    assert_eq!(first.customers.len(), 50);
    assert!(!first.next_page_token.is_empty());
    let last = list(&app, request("", "", 0, &first.next_page_token)).await.unwrap();
    assert_eq!(last.customers.len(), 1);
    assert!(last.next_page_token.is_empty(), "the last page has no next_page_token");

    // A page that ends exactly at the last customer has no token either.
    let exact = list(&app, request("", "", 51, "")).await.unwrap();
    assert_eq!(exact.customers.len(), 51);
    assert!(exact.next_page_token.is_empty());
    // And an empty result is one page without a token.
    let none = list(&app, request("tags: nobody", "", 0, "")).await.unwrap();
    assert!(none.customers.is_empty() && none.next_page_token.is_empty());
}

async fn page_size_above_the_maximum_is_clamped_to_a_thousand(app: TestApp) {
    let created = create_all(&app, (0..1005).map(|i| organization(&format!("c{i:04}"))).collect()).await;
    assert_eq!(created.len(), 1005);

    for page_size in [1001, 5000, i32::MAX] {
        let first = list(&app, request("", "display_name", page_size, "")).await.unwrap();
        assert_eq!(first.customers.len(), 1000, "page_size {page_size}");
        assert!(!first.next_page_token.is_empty());
        let rest = list(&app, request("", "display_name", page_size, &first.next_page_token))
            .await
            .unwrap();
        assert_eq!(
            display_names(&rest.customers),
            ["c1000", "c1001", "c1002", "c1003", "c1004"]
        );
        assert!(rest.next_page_token.is_empty());
    }
    let exactly = list(&app, request("", "", 1000, "")).await.unwrap();
    assert_eq!(exactly.customers.len(), 1000);
}

// ---------------------------------------------------------------------------------------------
// Keyset paging while customers are inserted
// ---------------------------------------------------------------------------------------------

/// Pages through every customer in `order_by` with page size 7 while another task inserts
/// customers named by `new_name`, at least one between any two pages. Returns what paging saw
/// and the names inserted meanwhile.
async fn page_during_inserts(
    app: &TestApp,
    order_by: &str,
    new_name: fn(usize) -> String,
) -> (Vec<pb::Customer>, BTreeSet<String>) {
    let stop = Arc::new(AtomicBool::new(false));
    let (inserted_tx, mut inserted_rx) = tokio::sync::watch::channel(0_usize);
    let inserter = {
        let stop = Arc::clone(&stop);
        let mut client = app.customers.clone();
        tokio::spawn(async move {
            let mut names = BTreeSet::new();
            while !stop.load(AtomicOrdering::SeqCst) && names.len() < 500 {
                let name = new_name(names.len());
                client
                    .create_customer(pb::CreateCustomerRequest {
                        customer: Some(organization(&name)),
                        ..Default::default()
                    })
                    .await
                    .expect("concurrent create");
                names.insert(name);
                inserted_tx.send_replace(names.len());
            }
            names
        })
    };

    let mut seen = Vec::new();
    let mut token = String::new();
    let mut pages = 0_usize;
    loop {
        let page = list(app, request("", order_by, 7, &token)).await.unwrap();
        assert!(page.customers.len() <= 7);
        seen.extend(page.customers);
        pages += 1;
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
        // Let at least one more insert land before the next page.
        inserted_rx
            .wait_for(|count| *count >= pages)
            .await
            .expect("the inserter is running");
    }
    stop.store(true, AtomicOrdering::SeqCst);
    let inserted = inserter.await.unwrap();
    assert!(!inserted.is_empty());
    (seen, inserted)
}

/// Checks that `seen` holds every one of `before` exactly once, nothing twice, and otherwise
/// only customers from `inserted`.
fn assert_complete_without_duplicates(seen: &[pb::Customer], before: &[pb::Customer], inserted: &BTreeSet<String>) {
    let mut times_seen: HashMap<&str, usize> = HashMap::new();
    for customer in seen {
        *times_seen.entry(customer.name.as_str()).or_default() += 1;
    }
    let duplicates: Vec<_> = times_seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        duplicates.is_empty(),
        "customers returned more than once: {duplicates:?}"
    );
    let missing: Vec<_> = before
        .iter()
        .filter(|c| !times_seen.contains_key(c.name.as_str()))
        .map(|c| &c.display_name)
        .collect();
    assert!(
        missing.is_empty(),
        "customers that existed before paging began were skipped: {missing:?}"
    );
    let before_names: BTreeSet<&str> = before.iter().map(|c| c.name.as_str()).collect();
    for customer in seen {
        assert!(
            before_names.contains(customer.name.as_str()) || inserted.contains(&customer.display_name),
            "unexpected customer {customer:?}"
        );
    }
}

async fn paging_by_create_time_during_inserts_returns_every_earlier_customer_exactly_once(app: TestApp) {
    let mut before = create_all(&app, (0..40).map(|i| organization(&format!("n{:03}", 2 * i))).collect()).await;
    before.sort_by_key(|c| (time_key(c.create_time.as_ref()), c.name.clone()));

    let (seen, inserted) = page_during_inserts(&app, "create_time", |i| format!("n{:03}", 2 * i + 1)).await;

    assert_complete_without_duplicates(&seen, &before, &inserted);
    // Customers created during paging sort after every earlier one, so they can only come last.
    assert_eq!(display_names(&seen[..before.len()]), display_names(&before));
    assert!(seen.windows(2).all(|w| {
        (time_key(w[0].create_time.as_ref()), &w[0].name) < (time_key(w[1].create_time.as_ref()), &w[1].name)
    }));
}

async fn paging_by_display_name_desc_during_inserts_returns_every_earlier_customer_exactly_once(app: TestApp) {
    let before = create_all(&app, (0..40).map(|i| organization(&format!("n{:03}", 2 * i))).collect()).await;

    // The new names fall between the earlier ones, before and after where paging has got to.
    let (seen, inserted) = page_during_inserts(&app, "display_name desc", |i| format!("n{:03}", 2 * i + 1)).await;

    assert_complete_without_duplicates(&seen, &before, &inserted);
    assert!(
        seen.windows(2).all(|w| w[0].display_name > w[1].display_name),
        "{:?}",
        display_names(&seen)
    );
}

// ---------------------------------------------------------------------------------------------
// Page tokens
// ---------------------------------------------------------------------------------------------

/// `token` with the character at `index` replaced by another base64url character.
fn flip(token: &str, index: usize) -> String {
    token
        .char_indices()
        .map(|(i, c)| {
            if i != index {
                c
            } else if c == 'A' {
                'B'
            } else {
                'A'
            }
        })
        .collect()
}

async fn tampered_page_tokens_are_rejected(app: TestApp) {
    for i in 0..6 {
        create(&app, organization(&format!("c{i}"))).await;
    }
    let first = list(&app, request("", "", 2, "")).await.unwrap();
    let token = first.next_page_token;
    assert!(token.is_ascii() && token.len() > 10);
    // The genuine token works.
    assert_eq!(list(&app, request("", "", 2, &token)).await.unwrap().customers.len(), 2);

    let dot = token.find('.').unwrap_or(token.len() / 2);
    let mut tampered: Vec<String> = [1, dot / 2, dot.saturating_sub(1), dot + 3, token.len() - 4]
        .into_iter()
        .map(|index| flip(&token, index))
        .collect();
    tampered.push(token[..token.len() - 1].to_owned());
    tampered.push(format!("{token}A"));
    tampered.push(token.replacen('.', "", 1));
    tampered.push("not a token".to_owned());
    tampered.push("e30.AAAAAAAAAAAAAAAAAAAAAA".to_owned());
    for bad in tampered {
        assert_ne!(bad, token);
        let status = list(&app, request("", "", 2, &bad)).await.unwrap_err();
        assert_invalid_argument(&status, "page_token");
    }
}

async fn page_tokens_are_rejected_with_another_filter_order_by_or_show_deleted(app: TestApp) {
    for i in 0..6 {
        create(&app, organization(&format!("c{i}"))).await;
    }
    let token = list(&app, request("kind = ORGANIZATION", "display_name", 2, ""))
        .await
        .unwrap()
        .next_page_token;
    assert!(!token.is_empty());

    let reused = [
        request("", "display_name", 2, &token),
        request("kind = INDIVIDUAL", "display_name", 2, &token),
        request("kind = ORGANIZATION", "", 2, &token),
        request("kind = ORGANIZATION", "display_name desc", 2, &token),
        request("kind = ORGANIZATION", "create_time", 2, &token),
        pb::ListCustomersRequest {
            show_deleted: true,
            ..request("kind = ORGANIZATION", "display_name", 2, &token)
        },
    ];
    for bad in reused {
        let status = list(&app, bad.clone()).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{bad:?}");
        assert_eq!(violated_fields(&status), ["page_token"], "{bad:?}");
    }

    // With the same query the token still works.
    let next = list(&app, request("kind = ORGANIZATION", "display_name", 2, &token))
        .await
        .unwrap();
    assert_eq!(display_names(&next.customers), ["c2", "c3"]);

    // And a token of a show_deleted listing works only with show_deleted.
    let deleted_too = pb::ListCustomersRequest {
        show_deleted: true,
        ..request("", "display_name", 2, "")
    };
    let token = list(&app, deleted_too.clone()).await.unwrap().next_page_token;
    let status = list(&app, request("", "display_name", 2, &token)).await.unwrap_err();
    assert_eq!(violated_fields(&status), ["page_token"]);
    let next = list(
        &app,
        pb::ListCustomersRequest {
            page_token: token,
            ..deleted_too
        },
    )
    .await
    .unwrap();
    assert_eq!(display_names(&next.customers), ["c2", "c3"]);
}

async fn page_size_may_change_between_pages(app: TestApp) {
    for i in 0..6 {
        create(&app, organization(&format!("c{i}"))).await;
    }
    let first = list(&app, request("", "display_name", 2, "")).await.unwrap();
    assert_eq!(display_names(&first.customers), ["c0", "c1"]);
    let second = list(&app, request("", "display_name", 3, &first.next_page_token))
        .await
        .unwrap();
    assert_eq!(display_names(&second.customers), ["c2", "c3", "c4"]);
    let third = list(&app, request("", "display_name", 0, &second.next_page_token))
        .await
        .unwrap();
    assert_eq!(display_names(&third.customers), ["c5"]);
    assert!(third.next_page_token.is_empty());

    // Any page size lists the same customers in the same order.
    for page_size in [1, 4, 6, 50] {
        let all = list_all(&app, "", "display_name", page_size).await.unwrap();
        assert_eq!(
            display_names(&all),
            ["c0", "c1", "c2", "c3", "c4", "c5"],
            "page_size {page_size}"
        );
    }
}
