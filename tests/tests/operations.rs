//! Running the service: health, reflection, migrations (up, down and up again) on both backends,
//! graceful shutdown, and the real `crmd` binary (start-up, a bad database URL, SIGTERM,
//! `crmd migrate`, `crmd --help`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    collections::BTreeSet,
    time::{Duration, Instant},
};

use crm_tests::{Backend, TestApp, TestDatabase, create, crmd::Crmd, e2e, organization, pb, reason};
use sea_orm::ConnectionTrait;
use tonic::{Code, transport::Channel};
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};
use tonic_reflection::pb::{v1 as reflection, v1alpha as reflection_alpha};

e2e!(
    health_reports_serving_for_the_server_and_the_customer_service,
    reflection_v1_lists_every_service_and_describes_the_customer_service,
    reflection_v1alpha_lists_every_service_too,
    graceful_stop_returns_ok_and_closes_the_port,
);

// ---------------------------------------------------------------------------------------------
// Health
// ---------------------------------------------------------------------------------------------

async fn health_reports_serving_for_the_server_and_the_customer_service(app: TestApp) {
    let mut health = HealthClient::new(app.channel.clone());
    for service in ["", "crm.v1.CustomerService"] {
        let response = health
            .check(HealthCheckRequest {
                service: service.to_owned(),
            })
            .await
            .expect("health check")
            .into_inner();
        assert_eq!(response.status(), ServingStatus::Serving, "service {service:?}");
    }
    let unknown = health
        .check(HealthCheckRequest {
            service: "no.such.Service".to_owned(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
}

// ---------------------------------------------------------------------------------------------
// Reflection
// ---------------------------------------------------------------------------------------------

const EXPECTED_SERVICES: [&str; 4] = [
    "crm.v1.CustomerService",
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
];

/// Sends one v1 reflection request and returns its response, or the status that ended the
/// stream instead.
async fn try_reflect(
    channel: &Channel,
    request: reflection::server_reflection_request::MessageRequest,
) -> Result<reflection::server_reflection_response::MessageResponse, tonic::Status> {
    let mut client = reflection::server_reflection_client::ServerReflectionClient::new(channel.clone());
    let request = reflection::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(request),
    };
    let mut responses = client
        .server_reflection_info(futures::stream::iter([request]))
        .await?
        .into_inner();
    let response = responses.message().await?.expect("one response");
    Ok(response.message_response.expect("a message response"))
}

/// Sends one v1 reflection request and returns its response.
async fn reflect(
    channel: &Channel,
    request: reflection::server_reflection_request::MessageRequest,
) -> reflection::server_reflection_response::MessageResponse {
    try_reflect(channel, request).await.expect("reflection response")
}

/// The top-level fields of an encoded protobuf message as (field number, bytes) for the
/// length-delimited ones; enough to read names out of descriptors without a protobuf library.
fn length_delimited_fields(mut bytes: &[u8]) -> Vec<(u64, &[u8])> {
    fn varint(bytes: &mut &[u8]) -> u64 {
        let mut value = 0;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = bytes.split_first().expect("truncated varint");
            *bytes = rest;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                break;
            }
        }
        value
    }
    let mut fields = Vec::new();
    while !bytes.is_empty() {
        let key = varint(&mut bytes);
        match key & 7 {
            0 => {
                varint(&mut bytes);
            }
            1 => bytes = &bytes[8..],
            2 => {
                let len = usize::try_from(varint(&mut bytes)).unwrap();
                let (value, rest) = bytes.split_at(len);
                fields.push((key >> 3, value));
                bytes = rest;
            }
            5 => bytes = &bytes[4..],
            other => panic!("unexpected wire type {other}"),
        }
    }
    fields
}

/// A `FileDescriptorProto`'s name and the names of the services it declares.
fn file_and_services(descriptor: &[u8]) -> (String, Vec<String>) {
    let text = |b: &[u8]| String::from_utf8(b.to_vec()).expect("UTF-8 name");
    let fields = length_delimited_fields(descriptor);
    let name = fields
        .iter()
        .find(|(n, _)| *n == 1)
        .map(|(_, v)| text(v))
        .unwrap_or_default();
    let services = fields
        .iter()
        .filter(|(n, _)| *n == 6)
        .filter_map(|(_, service)| length_delimited_fields(service).into_iter().find(|(n, _)| *n == 1))
        .map(|(_, v)| text(v))
        .collect();
    (name, services)
}

async fn reflection_v1_lists_every_service_and_describes_the_customer_service(app: TestApp) {
    use reflection::{server_reflection_request::MessageRequest, server_reflection_response::MessageResponse};

    let MessageResponse::ListServicesResponse(list) =
        reflect(&app.channel, MessageRequest::ListServices(String::new())).await
    else {
        panic!("expected a list of services");
    };
    let services: BTreeSet<String> = list.service.into_iter().map(|s| s.name).collect();
    for expected in EXPECTED_SERVICES {
        assert!(services.contains(expected), "{expected} missing from {services:?}");
    }

    let response = reflect(
        &app.channel,
        MessageRequest::FileContainingSymbol("crm.v1.CustomerService".into()),
    )
    .await;
    let MessageResponse::FileDescriptorResponse(files) = response else {
        panic!("expected descriptors, got {response:?}");
    };
    let described: Vec<(String, Vec<String>)> = files
        .file_descriptor_proto
        .iter()
        .map(|d| file_and_services(d))
        .collect();
    assert!(
        described
            .iter()
            .any(|(file, services)| file == "crm/v1/customer_service.proto" && services == &["CustomerService"]),
        "{described:?}"
    );
    // The files it imports can be fetched by name, so a client can resolve every message type.
    for file in ["crm/v1/customer.proto", "google/protobuf/field_mask.proto"] {
        let response = reflect(&app.channel, MessageRequest::FileByFilename(file.into())).await;
        let MessageResponse::FileDescriptorResponse(files) = response else {
            panic!("{file}: expected its descriptor, got {response:?}");
        };
        let names: Vec<String> = files
            .file_descriptor_proto
            .iter()
            .map(|d| file_and_services(d).0)
            .collect();
        assert!(names.iter().any(|name| name == file), "{file}: {names:?}");
    }

    // Messages and the health service can be looked up too.
    for symbol in [
        "crm.v1.Customer",
        "crm.v1.ListCustomersRequest",
        "grpc.health.v1.Health",
    ] {
        let response = reflect(&app.channel, MessageRequest::FileContainingSymbol(symbol.into())).await;
        assert!(
            matches!(&response, MessageResponse::FileDescriptorResponse(f) if !f.file_descriptor_proto.is_empty()),
            "{symbol}: {response:?}"
        );
    }
    // An unknown symbol is NOT_FOUND, as an error response or as the stream's status.
    match try_reflect(
        &app.channel,
        MessageRequest::FileContainingSymbol("crm.v1.NoSuchThing".into()),
    )
    .await
    {
        Ok(MessageResponse::ErrorResponse(error)) => assert_eq!(error.error_code, Code::NotFound as i32),
        Err(status) => assert_eq!(status.code(), Code::NotFound),
        Ok(other) => panic!("expected NOT_FOUND, got {other:?}"),
    }
}

async fn reflection_v1alpha_lists_every_service_too(app: TestApp) {
    use reflection_alpha::{server_reflection_request::MessageRequest, server_reflection_response::MessageResponse};

    let mut client = reflection_alpha::server_reflection_client::ServerReflectionClient::new(app.channel.clone());
    let request = reflection_alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = client
        .server_reflection_info(futures::stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let response = responses
        .message()
        .await
        .unwrap()
        .expect("one response")
        .message_response;
    let Some(MessageResponse::ListServicesResponse(list)) = response else {
        panic!("expected a list of services, got {response:?}");
    };
    let services: BTreeSet<String> = list.service.into_iter().map(|s| s.name).collect();
    for expected in EXPECTED_SERVICES {
        assert!(services.contains(expected), "{expected} missing from {services:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Graceful shutdown
// ---------------------------------------------------------------------------------------------

async fn graceful_stop_returns_ok_and_closes_the_port(app: TestApp) {
    create(&app, organization("Acme Corp")).await;
    let addr = app.addr;
    assert_eq!(app.stop().await, Ok(()));
    let reconnect = Channel::from_shared(format!("http://{addr}")).unwrap().connect().await;
    assert!(
        reconnect.is_err(),
        "the server still accepts connections after stopping"
    );
}

// ---------------------------------------------------------------------------------------------
// Migrations
// ---------------------------------------------------------------------------------------------

/// The tables in the database at `url`, except the engine's own.
async fn tables(url: &str) -> BTreeSet<String> {
    let connection = sea_orm::Database::connect(url).await.expect("connect");
    let sql = match connection.get_database_backend() {
        sea_orm::DbBackend::Sqlite => {
            "SELECT name AS t FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        }
        _ => "SELECT table_name::text AS t FROM information_schema.tables WHERE table_schema = 'public'",
    };
    let rows = connection
        .query_all_raw(sea_orm::Statement::from_string(connection.get_database_backend(), sql))
        .await
        .expect("list tables");
    let names = rows
        .iter()
        .map(|row| row.try_get::<String>("", "t").expect("table name"))
        .collect();
    connection.close().await.ok();
    names
}

const SCHEMA_TABLES: [&str; 8] = [
    "api_keys",
    "audit_events",
    "customer_tags",
    "customers",
    "principals",
    "role_bindings",
    "roles",
    "service_secrets",
];

async fn every_migration_goes_down_and_up_again(backend: Backend) {
    let Some(database) = TestDatabase::create(backend).await else {
        return;
    };
    let url = database.url().to_owned();
    let db = crm_persistence::Database::connect(&url, 2).await.expect("connect");

    for round in 0..2 {
        db.migrate().await.unwrap_or_else(|e| panic!("round {round}: up: {e}"));
        let after_up = tables(&url).await;
        for table in SCHEMA_TABLES {
            assert!(
                after_up.contains(table),
                "round {round}: {table} missing after up: {after_up:?}"
            );
        }
        db.migrate_down_all()
            .await
            .unwrap_or_else(|e| panic!("round {round}: down: {e}"));
        // Nothing is left but sea-orm's record of applied migrations.
        let after_down = tables(&url).await;
        assert!(
            after_down.iter().all(|table| table == "seaql_migrations"),
            "round {round}: tables left after down: {after_down:?}"
        );
    }
    db.migrate().await.expect("up after down");
    db.close().await;

    // The re-created schema serves the application.
    let app = TestApp::spawn_on(database, |_| {}).await;
    let created = create(
        &app,
        pb::Customer {
            tags: vec!["vip".into()],
            ..organization("Acme Corp")
        },
    )
    .await;
    let listed = app
        .customers
        .clone()
        .list_customers(pb::ListCustomersRequest {
            filter: "tags: vip".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.customers, vec![created]);
}

crm_tests::on_both_backends!(
    every_migration_goes_down_and_up_again,
    crmd_migrate_applies_the_migrations_and_exits_zero
);

// ---------------------------------------------------------------------------------------------
// The crmd binary
// ---------------------------------------------------------------------------------------------

#[test]
fn crmd_with_an_unreachable_database_exits_non_zero_naming_the_url_without_its_password() {
    let started = Instant::now();
    let mut crmd = Crmd::start(&[
        "--database-url",
        "postgres://bob:s3cret@127.0.0.1:1/nodb",
        "--listen-addr",
        "127.0.0.1:0",
    ]);
    let (status, output) = crmd.wait_for_exit();
    let took = started.elapsed();

    assert!(!status.success(), "exit status {status:?}; output:\n{output}");
    assert_eq!(
        status.code(),
        Some(1),
        "a clean error exit, not a signal or panic; output:\n{output}"
    );
    assert!(
        output.contains("127.0.0.1:1/nodb"),
        "the error names the database URL:\n{output}"
    );
    assert!(output.contains("bob:***@"), "the password is shown redacted:\n{output}");
    assert!(!output.contains("s3cret"), "the password leaked:\n{output}");
    assert!(!output.contains("panicked"), "crmd panicked:\n{output}");
    assert!(took < Duration::from_secs(15), "giving up took {took:?}");

    // The one-line error says each thing once: every cause in the chain appears a single time.
    let error = output
        .lines()
        .rev()
        .find_map(|line| line.strip_prefix("crmd: "))
        .expect("a `crmd: ` error line");
    let parts: Vec<&str> = error.split(": ").collect();
    let mut unique = parts.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), parts.len(), "the error repeats itself: {error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crmd_serves_on_the_logged_address_and_exits_zero_on_sigterm() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("crm.db").display());
    let key_file = dir.path().join("admin.key");
    let key_file_arg = key_file.display().to_string();
    let mut crmd = Crmd::start(&[
        "--listen-addr",
        "127.0.0.1:0",
        "--database-url",
        &url,
        "--admin-key-file",
        &key_file_arg,
    ]);

    let line = crmd.wait_for_line("`crmd listening` log line", |line| line.contains("crmd listening"));
    let addr: std::net::SocketAddr = line
        .split_whitespace()
        .find_map(|word| word.strip_prefix("address="))
        .unwrap_or_else(|| panic!("no address= in {line:?}"))
        .parse()
        .unwrap_or_else(|e| panic!("bad address in {line:?}: {e}"));
    assert!(addr.ip().is_loopback() && addr.port() != 0, "{addr}");

    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .expect("connect to crmd");
    // First start: the admin key was written to the key file, readable by the owner only.
    let admin_key = std::fs::read_to_string(&key_file)
        .expect("admin key file")
        .trim()
        .to_owned();
    assert!(admin_key.starts_with("crm_"), "{admin_key}");
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the key file must be owner-only, is {mode:o}");
    }
    let mut anonymous = pb::customer_service_client::CustomerServiceClient::new(channel.clone());
    let refused = anonymous
        .get_customer(pb::GetCustomerRequest {
            name: "customers/no-such-customer".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");

    let mut customers = pb::customer_service_client::CustomerServiceClient::with_interceptor(
        channel.clone(),
        crm_tests::Bearer::new(&admin_key),
    );
    let missing = customers
        .get_customer(pb::GetCustomerRequest {
            name: "customers/no-such-customer".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound, "{missing:?}");
    assert_eq!(
        reason(&missing),
        Some(("CUSTOMER_NOT_FOUND".to_owned(), "crm.v1".to_owned()))
    );
    let mut health = HealthClient::new(channel);
    let serving = health
        .check(HealthCheckRequest { service: String::new() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(serving.status(), ServingStatus::Serving);

    crmd.signal("TERM");
    let (status, output) = crmd.wait_for_exit();
    assert!(
        status.success(),
        "exit status {status:?} after SIGTERM; output:\n{output}"
    );
    assert!(output.contains("shutting down"), "{output}");
    assert!(!output.contains("panicked"), "{output}");
    assert!(
        output.contains("first start"),
        "the first start says where the key is:\n{output}"
    );
    assert!(
        !output.contains(&admin_key),
        "the admin key leaked into the log:\n{output}"
    );
    assert!(dir.path().join("crm.db").exists());
}

async fn crmd_migrate_applies_the_migrations_and_exits_zero(backend: Backend) {
    let Some(database) = TestDatabase::create(backend).await else {
        return;
    };
    let mut crmd = Crmd::start(&["migrate", "--database-url", database.url()]);
    let (status, output) = crmd.wait_for_exit();
    assert!(status.success(), "exit status {status:?}; output:\n{output}");
    let tables = tables(database.url()).await;
    for table in SCHEMA_TABLES {
        assert!(
            tables.contains(table),
            "{table} missing after `crmd migrate`: {tables:?}"
        );
    }
    // Running it again finds nothing to do and succeeds.
    let (status, output) = Crmd::start(&["migrate", "--database-url", database.url()]).wait_for_exit();
    assert!(
        status.success(),
        "second run: exit status {status:?}; output:\n{output}"
    );
}

#[test]
fn crmd_help_documents_the_listen_address_and_the_database_url() {
    let (status, help) = Crmd::start(&["--help"]).wait_for_exit();
    assert!(status.success(), "{status:?}\n{help}");
    for expected in [
        "--listen-addr",
        "CRM_LISTEN_ADDR",
        "--database-url",
        "DATABASE_URL",
        "migrate",
        "--metrics-addr",
        "CRM_METRICS_ADDR",
        "--max-concurrent-requests",
        "--principal-max-concurrent",
        "--principal-rate",
        "--request-body-timeout-secs",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
    ] {
        assert!(
            help.contains(expected),
            "`crmd --help` does not mention {expected}:\n{help}"
        );
    }
}
