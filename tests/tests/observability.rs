//! The operator's view, end to end: Prometheus metrics scraped over HTTP after real calls,
//! request ids in and out, the JSON log line of an RPC from the real `crmd`, load shedding
//! under a held request, deadlines, and OTLP traces received by an in-process collector.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use crm_tests::{
    Backend, Scrape, TestApp, TestDatabase, create, crmd::Crmd, held_get_customer, on_both_backends, organization, pb,
};
use tonic::{Code, codegen::http::uri::PathAndQuery, transport::Channel};
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};

on_both_backends!(
    metrics_count_every_call_by_service_method_and_code_with_latency_histograms,
    metrics_show_the_database_pool_and_classification_runs,
    a_request_id_sent_in_is_returned_and_one_is_generated_otherwise,
    excess_requests_are_shed_at_once_with_resource_exhausted_but_health_is_not,
    a_call_past_its_deadline_ends_with_deadline_exceeded,
    the_json_log_line_of_an_rpc_names_its_request_id_method_and_caller_and_never_the_key,
);

const GET_CUSTOMER: &str = "/crm.v1.CustomerService/GetCustomer";

/// How long a test waits for something the server does asynchronously.
const PATIENCE: Duration = Duration::from_secs(10);

/// A series of `crm_grpc_requests_total`.
fn requests(service: &str, method: &str, code: &str) -> String {
    format!("crm_grpc_requests_total{{service=\"{service}\",method=\"{method}\",code=\"{code}\"}}")
}

/// A series of `crm_grpc_request_duration_seconds` (`_sum`, `_count`) of a CustomerService method.
fn duration(suffix: &str, method: &str) -> String {
    format!("crm_grpc_request_duration_seconds_{suffix}{{service=\"crm.v1.CustomerService\",method=\"{method}\"}}")
}

/// A `_bucket` series of `crm_grpc_request_duration_seconds` (the exporter puts `le` first).
fn bucket(method: &str, le: &str) -> String {
    format!(
        "crm_grpc_request_duration_seconds_bucket{{le=\"{le}\",service=\"crm.v1.CustomerService\",method=\"{method}\"}}"
    )
}

fn get(name: &str) -> pb::GetCustomerRequest {
    pb::GetCustomerRequest { name: name.to_owned() }
}

/// Scrapes until `done` holds (the server updates some values after answering), failing after
/// [`PATIENCE`].
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

async fn metrics_count_every_call_by_service_method_and_code_with_latency_histograms(backend: Backend) {
    let Some(app) = TestApp::spawn_with_metrics(backend, |_| {}).await else {
        return;
    };
    let customer = create(&app, organization("Metered Ltd")).await;

    let found = app.customers.clone().get_customer(get(&customer.name)).await;
    assert!(found.is_ok(), "{found:?}");
    let missing = app
        .customers
        .clone()
        .get_customer(get("customers/nobody"))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    let anonymous = app
        .customers_as(None)
        .get_customer(get(&customer.name))
        .await
        .unwrap_err();
    assert_eq!(anonymous.code(), Code::Unauthenticated);
    // A method this server does not have: labelled `unknown`, so callers cannot mint labels.
    let mut grpc = tonic::client::Grpc::new(app.channel.clone());
    grpc.ready().await.unwrap();
    let mut request = tonic::Request::new(get(&customer.name));
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {}", app.admin_key).parse().unwrap());
    let unknown = grpc
        .unary::<_, pb::Customer, _>(
            request,
            PathAndQuery::from_static("/crm.v1.CustomerService/NoSuchMethod"),
            tonic_prost::ProstCodec::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::Unimplemented);

    let scrape = app.scrape_metrics().await;
    assert!(
        scrape.content_type.starts_with("application/openmetrics-text"),
        "{}",
        scrape.content_type
    );
    let service = "crm.v1.CustomerService";
    assert_eq!(scrape.expect(&requests(service, "CreateCustomer", "OK")), 1.0);
    assert_eq!(scrape.expect(&requests(service, "GetCustomer", "OK")), 1.0);
    assert_eq!(scrape.expect(&requests(service, "GetCustomer", "NOT_FOUND")), 1.0);
    assert_eq!(scrape.expect(&requests(service, "GetCustomer", "UNAUTHENTICATED")), 1.0);
    assert_eq!(scrape.expect(&requests("unknown", "unknown", "UNIMPLEMENTED")), 1.0);
    assert!(!scrape.text.contains("NoSuchMethod"), "{}", scrape.text);

    // Three GetCustomer calls in the histogram: every bucket counts cumulatively up to +Inf.
    assert_eq!(scrape.expect(&duration("count", "GetCustomer")), 3.0);
    assert_eq!(scrape.expect(&bucket("GetCustomer", "+Inf")), 3.0);
    let mut previous = 0.0;
    for le in ["0.0005", "0.001", "0.005", "0.05", "0.5", "5.0", "60.0"] {
        let count = scrape.expect(&bucket("GetCustomer", le));
        assert!(count >= previous, "buckets are cumulative:\n{}", scrape.text);
        previous = count;
    }
    assert_eq!(previous, 3.0, "{}", scrape.text);
    assert!(scrape.expect(&duration("sum", "GetCustomer")) > 0.0);
    // Every call has finished: none in flight, none shed.
    assert_eq!(scrape.expect("crm_grpc_requests_in_flight"), 0.0);
    assert_eq!(scrape.expect("crm_grpc_requests_shed_total"), 0.0);
    assert!(scrape.text.trim_end().ends_with("# EOF"), "{}", scrape.text);
}

async fn metrics_show_the_database_pool_and_classification_runs(backend: Backend) {
    let Some(app) = TestApp::spawn_with_metrics(backend, |_| {}).await else {
        return;
    };
    for name in ["Batch One", "Batch Two", "Batch Three"] {
        create(&app, organization(name)).await;
    }
    // A server-streaming call: its status travels in the trailers after the last message.
    let mut stream = app
        .classification
        .clone()
        .reclassify_customers(pb::ReclassifyCustomersRequest {})
        .await
        .unwrap()
        .into_inner();
    while stream.message().await.unwrap().is_some() {}

    let scrape = app.scrape_metrics().await;
    assert_eq!(
        scrape.expect(&requests("crm.v1.ClassificationService", "ReclassifyCustomers", "OK")),
        1.0
    );
    assert_eq!(scrape.expect("crm_classification_runs_total{outcome=\"ok\"}"), 1.0);
    assert_eq!(scrape.expect("crm_classification_customers_processed_total"), 3.0);
    assert_eq!(scrape.expect("crm_classification_run_processed_customers"), 3.0);
    assert_eq!(scrape.expect("crm_classification_run_total_customers"), 3.0);
    assert_eq!(scrape.expect("crm_classification_run_in_progress"), 0.0);
    assert!(scrape.value("crm_classification_customers_changed_total").is_some());

    // The harness configures five connections; at least one is open, none beyond the maximum.
    assert_eq!(scrape.expect("crm_db_pool_connections{state=\"max\"}"), 5.0);
    let size = scrape.expect("crm_db_pool_connections{state=\"size\"}");
    let idle = scrape.expect("crm_db_pool_connections{state=\"idle\"}");
    let in_use = scrape.expect("crm_db_pool_connections{state=\"in_use\"}");
    assert!((1.0..=5.0).contains(&size), "{}", scrape.text);
    assert_eq!(idle + in_use, size, "{}", scrape.text);
}

async fn a_request_id_sent_in_is_returned_and_one_is_generated_otherwise(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let customer = create(&app, organization("Traced Ltd")).await;
    let request_id = |metadata: &tonic::metadata::MetadataMap| {
        metadata
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };

    let mut request = tonic::Request::new(get(&customer.name));
    request
        .metadata_mut()
        .insert("x-request-id", "checkout-7f3a-0001".parse().unwrap());
    let response = app.customers.clone().get_customer(request).await.unwrap();
    assert_eq!(request_id(response.metadata()).as_deref(), Some("checkout-7f3a-0001"));

    // On an error too: the id is in the trailers-only response's metadata.
    let mut request = tonic::Request::new(get("customers/nobody"));
    request
        .metadata_mut()
        .insert("x-request-id", "checkout-7f3a-0002".parse().unwrap());
    let error = app.customers.clone().get_customer(request).await.unwrap_err();
    assert_eq!(error.code(), Code::NotFound);
    assert_eq!(request_id(error.metadata()).as_deref(), Some("checkout-7f3a-0002"));

    // None sent: a fresh UUID each time.
    let first = request_id(
        app.customers
            .clone()
            .get_customer(get(&customer.name))
            .await
            .unwrap()
            .metadata(),
    )
    .expect("a generated request id");
    let second = request_id(
        app.customers
            .clone()
            .get_customer(get(&customer.name))
            .await
            .unwrap()
            .metadata(),
    )
    .expect("a generated request id");
    assert!(uuid::Uuid::parse_str(&first).is_ok(), "{first}");
    assert_ne!(first, second);

    // One that is too long is replaced, not echoed.
    let mut request = tonic::Request::new(get(&customer.name));
    request
        .metadata_mut()
        .insert("x-request-id", "x".repeat(200).parse().unwrap());
    let replaced = request_id(app.customers.clone().get_customer(request).await.unwrap().metadata()).unwrap();
    assert!(uuid::Uuid::parse_str(&replaced).is_ok(), "{replaced}");
}

async fn excess_requests_are_shed_at_once_with_resource_exhausted_but_health_is_not(backend: Backend) {
    let Some(app) = TestApp::spawn_with_metrics(backend, |s| s.max_concurrent_requests = 1).await else {
        return;
    };
    let customer = create(&app, organization("Busy Ltd")).await;
    let held = held_get_customer(app.channel.clone(), &app.admin_key);
    scrape_until(&app, "the held call in flight", |s| {
        s.value("crm_grpc_requests_in_flight") == Some(1.0)
    })
    .await;

    // Beyond the limit: refused at once, long before the generous deadline it was sent with.
    let mut request = tonic::Request::new(get(&customer.name));
    request.set_timeout(Duration::from_secs(20));
    let shed = app.customers.clone().get_customer(request).await.unwrap_err();
    assert_eq!(shed.code(), Code::ResourceExhausted, "{shed:?}");
    assert!(shed.message().contains("retry"), "{shed:?}");

    // Health is never shed, so an orchestrator does not restart a busy server.
    let health = HealthClient::new(app.channel.clone())
        .check(HealthCheckRequest {
            service: "crm.v1.CustomerService".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(health.status(), ServingStatus::Serving);

    let scrape = app.scrape_metrics().await;
    assert_eq!(scrape.expect("crm_grpc_requests_shed_total"), 1.0);
    assert_eq!(
        scrape.expect(&requests("crm.v1.CustomerService", "GetCustomer", "RESOURCE_EXHAUSTED")),
        1.0
    );

    // Cancelling the held call frees its permit: the next call is served.
    held.abort();
    let _ = held.await;
    scrape_until(&app, "the held call ended", |s| {
        s.value("crm_grpc_requests_in_flight") == Some(0.0)
    })
    .await;
    let served = app.customers.clone().get_customer(get(&customer.name)).await;
    assert!(served.is_ok(), "{served:?}");
}

/// Sends a GetCustomer over a bare HTTP/2 stream with `grpc-timeout: timeout` and never sends
/// its body, and returns the `grpc-status` and `grpc-message` the server answers with. (A tonic
/// client would enforce the deadline itself and cancel first; this one leaves it to the server.)
async fn held_with_grpc_timeout(app: &TestApp, timeout: &str) -> (String, String) {
    let tcp = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let (client, connection) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(connection);
    let mut client = client.ready().await.unwrap();
    let request = http::Request::post(format!("http://{}{GET_CUSTOMER}", app.addr))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("grpc-timeout", timeout)
        .header("authorization", format!("Bearer {}", app.admin_key))
        .body(())
        .unwrap();
    let (response, _body_never_sent) = client.send_request(request, false).unwrap();
    let response = tokio::time::timeout(PATIENCE, response)
        .await
        .expect("the server answered within the test's patience")
        .unwrap();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    (header("grpc-status"), header("grpc-message"))
}

async fn a_call_past_its_deadline_ends_with_deadline_exceeded(backend: Backend) {
    let Some(app) = TestApp::spawn_with_metrics(backend, |_| {}).await else {
        return;
    };

    // The caller's grpc-timeout (200 ms), shorter than the server's 30 s, is what ends the call.
    let (status, message) = held_with_grpc_timeout(&app, "200m").await;
    assert_eq!(status, (Code::DeadlineExceeded as i32).to_string(), "{message}");
    assert!(message.contains("deadline"), "{message}");
    let scrape = app.scrape_metrics().await;
    assert_eq!(
        scrape.expect(&requests("crm.v1.CustomerService", "GetCustomer", "DEADLINE_EXCEEDED")),
        1.0
    );
    drop(app);

    // The server's own limit, when the caller sends no deadline.
    let Some(app) = TestApp::spawn_with_metrics(backend, |s| s.request_timeout = Duration::from_millis(300)).await
    else {
        return;
    };
    let status = held_get_customer(app.channel.clone(), &app.admin_key)
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
}

/// The value of `field` in a JSON log line's span named `rpc`.
fn rpc_span_field<'a>(line: &'a serde_json::Value, field: &str) -> Option<&'a str> {
    line.get("span")?.get(field)?.as_str()
}

async fn the_json_log_line_of_an_rpc_names_its_request_id_method_and_caller_and_never_the_key(backend: Backend) {
    let Some(database) = TestDatabase::create(backend).await else {
        return;
    };
    let mut crmd = Crmd::start(&[
        "--log-format",
        "json",
        "--listen-addr",
        "127.0.0.1:0",
        "--metrics-addr",
        "127.0.0.1:0",
        "--database-url",
        database.url(),
    ]);
    let grpc_addr = crmd.address_of("crmd listening");
    let metrics_addr = crmd.address_of("serving Prometheus metrics");
    let key_file = crmd.dir().join(crm_server::config::DEFAULT_ADMIN_KEY_FILE);
    let key = std::fs::read_to_string(&key_file).unwrap().trim().to_owned();
    // `crm_<prefix>_<secret>`: the secret may itself contain `_`.
    let secret = key.splitn(3, '_').nth(2).unwrap().to_owned();
    assert!(secret.len() > 20, "{key}");

    let channel = Channel::from_shared(format!("http://{grpc_addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let request_id = format!("log-check-{}", uuid::Uuid::new_v4());
    let mut request = tonic::Request::new(get("customers/nobody"));
    request
        .metadata_mut()
        .insert("x-request-id", request_id.parse().unwrap());
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {key}").parse().unwrap());
    let error = pb::customer_service_client::CustomerServiceClient::new(channel)
        .get_customer(request)
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::NotFound);

    let line = crmd.wait_for_line("the rpc's JSON line", |line| {
        line.contains(&request_id) && line.contains("rpc finished")
    });
    let json: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    assert_eq!(json["fields"]["message"], "rpc finished", "{line}");
    assert_eq!(json["fields"]["code"], "NOT_FOUND", "{line}");
    assert!(json["fields"]["latency_ms"].as_f64().is_some(), "{line}");
    assert_eq!(rpc_span_field(&json, "request_id"), Some(request_id.as_str()), "{line}");
    assert_eq!(rpc_span_field(&json, "method"), Some(GET_CUSTOMER), "{line}");
    assert_eq!(rpc_span_field(&json, "grpc_status"), Some("NOT_FOUND"), "{line}");
    assert!(json["span"]["latency_ms"].as_f64().is_some(), "{line}");
    let caller = rpc_span_field(&json, "caller").unwrap_or_else(|| panic!("no caller in {line}"));
    assert!(caller.starts_with("principals/admin"), "{line}");

    // The binary serves its metrics on the logged address.
    let scrape = crm_tests::scrape_metrics(metrics_addr).await;
    assert_eq!(
        scrape.expect(&requests("crm.v1.CustomerService", "GetCustomer", "NOT_FOUND")),
        1.0
    );

    crmd.signal("TERM");
    let (status, output) = crmd.wait_for_exit();
    assert!(status.success(), "{status:?}\n{output}");
    assert!(
        !output.contains(&secret),
        "the API key's secret is in the log:\n{output}"
    );
    assert!(
        !output.contains("exporting traces"),
        "no OTLP endpoint was set, yet traces are exported:\n{output}"
    );
}

// ---------------------------------------------------------------------------------------------
// Traces (the database plays no part: SQLite only)
// ---------------------------------------------------------------------------------------------

mod otlp {
    use opentelemetry_proto::tonic::collector::trace::v1::{
        ExportTraceServiceRequest, ExportTraceServiceResponse,
        trace_service_server::{TraceService, TraceServiceServer},
    };
    use tokio::sync::mpsc;

    /// An OTLP trace collector that hands every export to the test.
    #[derive(Debug)]
    struct Collector(mpsc::UnboundedSender<ExportTraceServiceRequest>);

    #[tonic::async_trait]
    impl TraceService for Collector {
        async fn export(
            &self,
            request: tonic::Request<ExportTraceServiceRequest>,
        ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
            let _ = self.0.send(request.into_inner());
            Ok(tonic::Response::new(ExportTraceServiceResponse {
                partial_success: None,
            }))
        }
    }

    /// Serves a collector on an ephemeral port: its address and the exports it receives.
    pub(super) async fn start() -> (std::net::SocketAddr, mpsc::UnboundedReceiver<ExportTraceServiceRequest>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(TraceServiceServer::new(Collector(tx)))
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
        );
        (addr, rx)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_span_of_a_call_is_exported_over_otlp_in_the_callers_trace() {
    let (collector, mut exports) = otlp::start().await;
    let database = TestDatabase::create(Backend::Sqlite).await.unwrap();
    let endpoint = format!("http://{collector}");
    let mut crmd = Crmd::start_with_env(
        &["--listen-addr", "127.0.0.1:0", "--database-url", database.url()],
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)],
    );
    crmd.wait_for_line("the exporter's start line", |line| line.contains("exporting traces"));
    let line = crmd.wait_for_line("`crmd listening` log line", |line| line.contains("crmd listening"));
    let addr = line
        .split_whitespace()
        .find_map(|word| word.strip_prefix("address="))
        .unwrap()
        .to_owned();

    // The caller's W3C trace context: trace 4bf9…4736, its span 00f0…02b7, sampled.
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent_span_id = "00f067aa0ba902b7";
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut request = tonic::Request::new(get("customers/nobody"));
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{trace_id}-{parent_span_id}-01").parse().unwrap(),
    );
    let refused = pb::customer_service_client::CustomerServiceClient::new(channel)
        .get_customer(request)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);

    // Shutting down flushes the batch that holds the span.
    crmd.signal("TERM");
    let (status, output) = crmd.wait_for_exit();
    assert!(status.success(), "{status:?}\n{output}");
    let mut spans = Vec::new();
    let mut service_names = Vec::new();
    while let Ok(export) = exports.try_recv() {
        for resource_spans in export.resource_spans {
            for attribute in resource_spans.resource.iter().flat_map(|r| r.attributes.iter()) {
                if attribute.key == "service.name" {
                    service_names.push(format!("{:?}", attribute.value));
                }
            }
            spans.extend(resource_spans.scope_spans.into_iter().flat_map(|s| s.spans));
        }
    }
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let rpc = spans
        .iter()
        .find(|span| span.name == "crm.v1.CustomerService/GetCustomer")
        .unwrap_or_else(|| panic!("no GetCustomer span among {spans:#?}\ncrmd's output:\n{output}"));
    assert_eq!(hex(&rpc.trace_id), trace_id, "{rpc:#?}");
    assert_eq!(hex(&rpc.parent_span_id), parent_span_id, "{rpc:#?}");
    assert_eq!(
        rpc.kind,
        opentelemetry_proto::tonic::trace::v1::span::SpanKind::Server as i32,
        "{rpc:#?}"
    );
    assert!(
        !service_names.is_empty() && service_names.iter().all(|name| name.contains("\"crmd\"")),
        "{service_names:?}"
    );
}
