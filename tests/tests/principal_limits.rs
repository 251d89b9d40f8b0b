//! Per-principal limits end to end (issue 12, item 5: "one caller can take the whole service"):
//! a principal at its concurrency limit is refused while others are served, rates set by role and
//! by principal (and reported by WhoAmI), a request body that never arrives is cut and frees its
//! place, and every refusal is counted by limit, never by principal.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use crm_domain::{access::RoleName, customer::values::PrincipalName};
use crm_server::principal_limits::{LimitOverride, Rate};
use crm_tests::{
    Backend, Scrape, TestApp, create, held_get_customer, on_both_backends, organization, pb, principal_with_key,
};
use tonic::Code;
use tonic_types::StatusExt as _;

on_both_backends!(
    a_principal_at_its_concurrency_limit_is_refused_while_another_principal_is_served,
    rates_set_by_role_and_by_principal_are_enforced_and_shown_by_who_am_i,
    a_request_body_that_does_not_arrive_in_time_is_cut_and_frees_its_place,
    refusals_are_counted_by_limit_and_never_by_principal,
);

/// How long a test waits for something the server does asynchronously.
const PATIENCE: Duration = Duration::from_secs(10);

fn get(name: &str) -> pb::GetCustomerRequest {
    pb::GetCustomerRequest { name: name.to_owned() }
}

fn role(id: &str) -> RoleName {
    RoleName::from_id(id).unwrap()
}

fn principal(id: &str) -> PrincipalName {
    PrincipalName::from_id(id).unwrap()
}

/// A series of `crm_limited_requests_total`.
fn limited(limit: &str) -> String {
    format!("crm_limited_requests_total{{limit=\"{limit}\"}}")
}

/// Asserts that `status` is RESOURCE_EXHAUSTED from `limit`, with a `RetryInfo` and a
/// `QuotaFailure` naming it, and returns the retry delay.
#[track_caller]
fn assert_limited(status: &tonic::Status, limit: &str) -> Duration {
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains("retry"), "{status:?}");
    let details = status.get_error_details();
    let quota = details.quota_failure().expect("a QuotaFailure");
    assert_eq!(quota.violations.len(), 1, "{quota:?}");
    assert_eq!(quota.violations[0].subject, limit, "{quota:?}");
    assert!(!quota.violations[0].description.is_empty(), "{quota:?}");
    details
        .retry_info()
        .and_then(|retry| retry.retry_delay)
        .expect("a RetryInfo with a delay")
}

/// Scrapes until `done` holds, failing after [`PATIENCE`].
async fn scrape_until(app: &TestApp, what: &str, done: impl Fn(&Scrape) -> bool) -> Scrape {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let scrape = app.scrape_metrics().await;
        if done(&scrape) {
            return scrape;
        }
        assert!(Instant::now() < deadline, "never saw {what}:\n{}", scrape.text);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The scenario at small scale: one caller opens many calls that never complete (600
/// against a global limit of 512 there; 20 against 8 here). Its own limit (3) refuses all but
/// three at once, so the global limit keeps room and another principal's Gets are served.
async fn a_principal_at_its_concurrency_limit_is_refused_while_another_principal_is_served(backend: Backend) {
    let Some(app) = TestApp::spawn_with_metrics(backend, |s| {
        s.max_concurrent_requests = 8;
        s.principal_limits.max_concurrent = 3;
        // The held calls must outlive the test, not be cut by the body timeout.
        s.request_body_timeout = Duration::from_secs(120);
    })
    .await
    else {
        return;
    };
    let customer = create(&app, organization("Shared Ltd")).await;
    let hog = principal_with_key(&app, "hog", "sales", "support", pb::Scope::All).await;
    let bystander = principal_with_key(&app, "bystander", "sales", "support", pb::Scope::All).await;

    let calls: Vec<_> = (0..20).map(|_| held_get_customer(app.channel.clone(), &hog)).collect();
    // Seventeen are refused at once; three are held.
    let scrape = scrape_until(&app, "17 refusals and 3 calls held", |s| {
        s.value(&limited("principal_concurrency")) == Some(17.0) && s.value("crm_grpc_requests_in_flight") == Some(3.0)
    })
    .await;
    assert_eq!(scrape.expect(&limited("global_concurrency")), 0.0);
    // The client may read the refusals a moment after the server counted them.
    let deadline = Instant::now() + PATIENCE;
    while calls.iter().filter(|call| call.is_finished()).count() < 17 {
        assert!(Instant::now() < deadline, "the refusals never reached the client");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (finished, held): (Vec<_>, Vec<_>) = calls.into_iter().partition(tokio::task::JoinHandle::is_finished);
    assert_eq!((finished.len(), held.len()), (17, 3));
    for call in finished {
        let status = call.await.unwrap().unwrap_err();
        let retry = assert_limited(&status, "principal_concurrency");
        assert!(retry > Duration::ZERO, "{retry:?}");
        assert!(status.message().contains("principals/hog"), "{status:?}");
    }

    // Another principal is served, up to its own limit at once, while the hog's calls are held.
    let gets = (0..3).map(|_| {
        let mut client = app.customers_as(Some(&bystander));
        let name = customer.name.clone();
        async move { client.get_customer(get(&name)).await }
    });
    for result in futures::future::join_all(gets).await {
        assert!(result.is_ok(), "{result:?}");
    }
    // The hog is still refused.
    let status = app
        .customers_as(Some(&hog))
        .get_customer(get(&customer.name))
        .await
        .unwrap_err();
    assert_limited(&status, "principal_concurrency");

    // Its calls ended, the hog is served again.
    for call in held {
        call.abort();
        let _ = call.await;
    }
    scrape_until(&app, "the held calls ended", |s| {
        s.value("crm_grpc_requests_in_flight") == Some(0.0)
    })
    .await;
    let served = app.customers_as(Some(&hog)).get_customer(get(&customer.name)).await;
    assert!(served.is_ok(), "{served:?}");
}

/// Calls WhoAmI as `key` and returns its limits.
async fn limits_of(app: &TestApp, key: &str) -> pb::CallerLimits {
    app.access_as(Some(key))
        .who_am_i(pb::WhoAmIRequest {})
        .await
        .unwrap()
        .into_inner()
        .limits
        .expect("WhoAmI reports the caller's limits")
}

/// Calls GetCustomer as `key` until a call is refused (at most `attempts` calls) and returns the
/// refusal.
async fn first_refusal(app: &TestApp, key: &str, customer: &str, attempts: usize) -> Option<tonic::Status> {
    let mut client = app.customers_as(Some(key));
    for _ in 0..attempts {
        if let Err(status) = client.get_customer(get(customer)).await {
            return Some(status);
        }
    }
    None
}

async fn rates_set_by_role_and_by_principal_are_enforced_and_shown_by_who_am_i(backend: Backend) {
    let Some(app) = TestApp::spawn_with_metrics(backend, |s| {
        let limits = &mut s.principal_limits;
        // analysts: 1 call per second, 3 at once after a pause; support: more generous.
        limits.roles.insert(
            role("analyst"),
            LimitOverride {
                max_concurrent: None,
                rate: Some(Rate::new(1, Some(3))),
            },
        );
        limits.roles.insert(
            role("support"),
            LimitOverride {
                max_concurrent: Some(10),
                rate: Some(Rate::new(2, Some(10))),
            },
        );
        // One analyst has no rate limit, and a concurrency limit of its own.
        limits.principals.insert(
            principal("batch-analyst"),
            LimitOverride {
                max_concurrent: Some(7),
                rate: Some(Rate::OFF),
            },
        );
    })
    .await
    else {
        return;
    };
    let customer = create(&app, organization("Rated Ltd")).await;
    let analyst = principal_with_key(&app, "analyst-1", "sales", "analyst", pb::Scope::All).await;
    let batch = principal_with_key(&app, "batch-analyst", "sales", "analyst", pb::Scope::All).await;
    let both = principal_with_key(&app, "analyst-support", "sales", "analyst", pb::Scope::All).await;
    app.access
        .clone()
        .create_role_binding(pb::CreateRoleBindingRequest {
            role_binding: Some(pb::RoleBinding {
                principal: "principals/analyst-support".to_owned(),
                role: "roles/support".to_owned(),
                scope: pb::Scope::All as i32,
                ..Default::default()
            }),
        })
        .await
        .unwrap();

    // The admin holds no role with an override: the defaults.
    let admin = limits_of(&app, &app.admin_key).await;
    assert_eq!(
        (
            admin.max_concurrent,
            admin.max_concurrent_source(),
            admin.rate_per_second,
            admin.rate_source()
        ),
        (64, pb::LimitSource::Default, 0, pb::LimitSource::Default),
        "{admin:?}"
    );
    // An analyst: the role's rate, the default concurrency.
    let limits = limits_of(&app, &analyst).await;
    assert_eq!(
        (limits.rate_per_second, limits.rate_burst, limits.rate_source()),
        (1, 3, pb::LimitSource::Role),
        "{limits:?}"
    );
    assert_eq!(
        (limits.max_concurrent, limits.max_concurrent_source()),
        (64, pb::LimitSource::Default),
        "{limits:?}"
    );
    // Two roles: the more generous one, limit by limit.
    let limits = limits_of(&app, &both).await;
    assert_eq!(
        (limits.rate_per_second, limits.rate_burst, limits.rate_source()),
        (2, 10, pb::LimitSource::Role),
        "{limits:?}"
    );
    assert_eq!(
        (limits.max_concurrent, limits.max_concurrent_source()),
        (10, pb::LimitSource::Role),
        "{limits:?}"
    );
    // The principal's own setting beats its role's.
    let limits = limits_of(&app, &batch).await;
    assert_eq!(
        (limits.rate_per_second, limits.rate_burst, limits.rate_source()),
        (0, 0, pb::LimitSource::Principal),
        "{limits:?}"
    );
    assert_eq!(
        (limits.max_concurrent, limits.max_concurrent_source()),
        (7, pb::LimitSource::Principal),
        "{limits:?}"
    );

    // The analyst's burst of 3 is spent within a few calls (WhoAmI took one): refused, told to
    // wait at most the rate's second.
    let status = first_refusal(&app, &analyst, &customer.name, 50)
        .await
        .expect("an analyst calling without pause is refused by its rate");
    let retry = assert_limited(&status, "principal_rate");
    assert!(retry > Duration::ZERO && retry <= Duration::from_secs(1), "{retry:?}");
    assert!(status.message().contains("roles/analyst"), "{status:?}");
    // The analyst without a rate limit is never refused.
    assert!(first_refusal(&app, &batch, &customer.name, 30).await.is_none());
    // Other principals are unaffected by the analyst's rate.
    assert!(first_refusal(&app, &app.admin_key, &customer.name, 5).await.is_none());
    let scrape = app.scrape_metrics().await;
    assert_eq!(scrape.expect(&limited("principal_rate")), 1.0);
}

async fn a_request_body_that_does_not_arrive_in_time_is_cut_and_frees_its_place(backend: Backend) {
    let Some(app) = TestApp::spawn_with_metrics(backend, |s| {
        s.request_body_timeout = Duration::from_secs(3);
        // The request timeout is far longer: the body timeout is what ends the call.
        s.request_timeout = Duration::from_secs(60);
        s.principal_limits.principals.insert(
            principal("slow"),
            LimitOverride {
                max_concurrent: Some(1),
                rate: None,
            },
        );
    })
    .await
    else {
        return;
    };
    let customer = create(&app, organization("Patient Ltd")).await;
    let slow = principal_with_key(&app, "slow", "sales", "support", pb::Scope::All).await;

    let held = held_get_customer(app.channel.clone(), &slow);
    scrape_until(&app, "the held call in flight", |s| {
        s.value("crm_grpc_requests_in_flight") == Some(1.0)
    })
    .await;
    // While its body is awaited, the call holds the principal's only place.
    let status = app
        .customers_as(Some(&slow))
        .get_customer(get(&customer.name))
        .await
        .unwrap_err();
    assert_limited(&status, "principal_concurrency");

    // The body timeout ends it, long before the request timeout.
    let status = tokio::time::timeout(PATIENCE, held)
        .await
        .expect("the body timeout ends the call")
        .unwrap()
        .unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert!(status.message().contains("request body timeout"), "{status:?}");

    // Its place is free again.
    let served = app.customers_as(Some(&slow)).get_customer(get(&customer.name)).await;
    assert!(served.is_ok(), "{served:?}");
    let scrape = app.scrape_metrics().await;
    assert_eq!(scrape.expect(&limited("request_body_timeout")), 1.0);
    assert_eq!(scrape.expect("crm_grpc_requests_in_flight"), 0.0);
}

async fn refusals_are_counted_by_limit_and_never_by_principal(backend: Backend) {
    let Some(app) = TestApp::spawn_with_metrics(backend, |s| {
        s.max_concurrent_requests = 2;
        s.request_body_timeout = Duration::from_secs(4);
        s.principal_limits.principals.insert(
            principal("flood"),
            LimitOverride {
                max_concurrent: Some(1),
                rate: Some(Rate::new(1, Some(5))),
            },
        );
    })
    .await
    else {
        return;
    };
    let customer = create(&app, organization("Counted Ltd")).await;
    let flood = principal_with_key(&app, "flood", "sales", "support", pb::Scope::All).await;
    let other = principal_with_key(&app, "other", "sales", "support", pb::Scope::All).await;
    let scrape = app.scrape_metrics().await;
    for limit in [
        "global_concurrency",
        "principal_concurrency",
        "principal_rate",
        "request_body_timeout",
    ] {
        assert_eq!(
            scrape.expect(&limited(limit)),
            0.0,
            "every series exists from the start"
        );
    }

    // flood holds its one place, the admin one more: the global limit of 2 is reached.
    let flood_held = held_get_customer(app.channel.clone(), &flood);
    let admin_held = held_get_customer(app.channel.clone(), &app.admin_key);
    scrape_until(&app, "two calls held", |s| {
        s.value("crm_grpc_requests_in_flight") == Some(2.0)
    })
    .await;
    let status = app
        .customers_as(Some(&flood))
        .get_customer(get(&customer.name))
        .await
        .unwrap_err();
    assert_limited(&status, "principal_concurrency");
    let status = app
        .customers_as(Some(&other))
        .get_customer(get(&customer.name))
        .await
        .unwrap_err();
    let retry = assert_limited(&status, "global_concurrency");
    assert!(retry > Duration::ZERO, "{retry:?}");

    // Both held calls end by the body timeout.
    for held in [flood_held, admin_held] {
        let status = tokio::time::timeout(PATIENCE, held)
            .await
            .unwrap()
            .unwrap()
            .unwrap_err();
        assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    }
    // The held call spent one call of flood's burst of 5 (the one refused for concurrency spent
    // none); calling without pause, it is soon refused by its rate.
    let status = first_refusal(&app, &flood, &customer.name, 50)
        .await
        .expect("flood is refused by its rate");
    assert_limited(&status, "principal_rate");

    let scrape = app.scrape_metrics().await;
    assert_eq!(scrape.expect(&limited("principal_concurrency")), 1.0);
    assert_eq!(scrape.expect(&limited("global_concurrency")), 1.0);
    assert_eq!(scrape.expect(&limited("principal_rate")), 1.0);
    assert_eq!(scrape.expect(&limited("request_body_timeout")), 2.0);
    assert_eq!(scrape.expect("crm_grpc_requests_shed_total"), 1.0);
    // Label values come from a closed set: no series names a principal.
    let series: Vec<&str> = scrape
        .text
        .lines()
        .filter(|line| line.starts_with("crm_limited_requests"))
        .collect();
    assert_eq!(series.len(), 4, "{series:?}");
    assert!(
        !scrape.text.contains("principals/") && !scrape.text.contains("flood"),
        "{}",
        scrape.text
    );
}
