//! Logging: human-readable lines by default, JSON with `--log-format json`, filtered by `--log`.
//! Each RPC runs in a span named `rpc` carrying its method and caller, and ends with one
//! "rpc finished" event carrying the gRPC status and latency.

use std::{io::IsTerminal, time::Duration};

use tower_http::trace::{MakeSpan, OnResponse};
use tracing::{Level, Span};
use tracing_subscriber::{EnvFilter, fmt, prelude::*};

use crate::config::LogFormat;

/// Installs the global subscriber. Later calls (e.g. several servers in one test binary) keep the
/// first one.
pub fn init(format: LogFormat, filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter);
    let _ = match format {
        LogFormat::Text => registry
            .with(
                fmt::layer()
                    .with_ansi(std::io::stderr().is_terminal())
                    .with_writer(std::io::stderr),
            )
            .try_init(),
        LogFormat::Json => registry
            .with(fmt::layer().json().with_current_span(true).with_writer(std::io::stderr))
            .try_init(),
    };
}

/// Opens the `rpc` span of a request.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RpcSpan;

impl<B> MakeSpan<B> for RpcSpan {
    fn make_span(&mut self, request: &http::Request<B>) -> Span {
        tracing::span!(
            Level::INFO,
            "rpc",
            method = %request.uri().path(),
            caller = tracing::field::Empty,
            grpc_status = tracing::field::Empty,
        )
    }
}

/// Logs the end of a request with its status and latency. Unary errors travel in the response
/// headers (a trailers-only response); without `grpc-status` there the call succeeded.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RpcFinished;

impl<B> OnResponse<B> for RpcFinished {
    fn on_response(self, response: &http::Response<B>, latency: Duration, span: &Span) {
        let status = response
            .headers()
            .get("grpc-status")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<i32>().ok())
            .unwrap_or(0);
        let code = tonic::Code::from_i32(status);
        span.record("grpc_status", tracing::field::debug(code));
        let latency_ms = latency.as_secs_f64() * 1000.0;
        match code {
            tonic::Code::Ok
            | tonic::Code::InvalidArgument
            | tonic::Code::NotFound
            | tonic::Code::AlreadyExists
            | tonic::Code::Aborted
            | tonic::Code::FailedPrecondition
            | tonic::Code::OutOfRange
            | tonic::Code::PermissionDenied
            | tonic::Code::Unauthenticated
            | tonic::Code::Cancelled => tracing::info!(?code, latency_ms, "rpc finished"),
            _ => tracing::warn!(?code, latency_ms, "rpc finished"),
        }
    }
}
