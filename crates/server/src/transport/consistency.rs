//! Consistency tokens in metadata: every successful write answers with
//! [`TOKEN_HEADER`] (the layer here), and a read sent with it is served only where that write is
//! visible ([`read_at`], which the read handlers call). What a token is and how reads are routed
//! is `crm_persistence::standbys`.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use crm_domain::error::Violations;
use crm_persistence::{ConsistencyToken, Database};
use http::HeaderValue;
use tonic::{Request, Status};
use tower::{Layer, Service};

use crate::status::invalid_argument;

/// The metadata key of a consistency token, in a write's response and in a read's request.
pub(crate) const TOKEN_HEADER: &str = "x-crm-consistency-token";

/// The methods that change nothing, by the name after the service's (`/crm.v1.X/`): every other
/// method of the `crm.v1` services is a write and answers with a token.
const READ_PREFIXES: &[&str] = &["Get", "BatchGet", "List", "Check", "BatchCheck", "WhoAmI", "Preview"];

/// Whether the call at `path` may change stored state (`/crm.v1.Service/Method`; health and
/// reflection never do).
pub(crate) fn is_write(path: &str) -> bool {
    let Some(rest) = path.strip_prefix("/crm.v1.") else {
        return false;
    };
    let method = rest.rsplit('/').next().unwrap_or_default();
    !READ_PREFIXES.iter().any(|prefix| method.starts_with(prefix))
}

/// The consistency token a read was sent with, if any.
///
/// # Errors
/// INVALID_ARGUMENT naming the metadata key when the value is not a token a write returned.
pub(crate) fn read_at<T>(request: &Request<T>) -> Result<Option<ConsistencyToken>, Status> {
    let Some(value) = request.metadata().get(TOKEN_HEADER) else {
        return Ok(None);
    };
    match value.to_str().ok().map(str::parse::<ConsistencyToken>) {
        Some(Ok(token)) => Ok(Some(token)),
        Some(Err(error)) => Err(malformed(&error.to_string())),
        None => Err(malformed("not a consistency token (not ASCII)")),
    }
}

fn malformed(message: &str) -> Status {
    let mut v = Violations::new();
    v.add(TOKEN_HEADER, message);
    invalid_argument(&v)
}

/// Adds [`TOKEN_HEADER`] to the response of every successful write.
#[derive(Debug, Clone)]
pub(crate) struct ConsistencyTokenLayer {
    db: Database,
}

impl ConsistencyTokenLayer {
    /// Tokens of `db` (the primary).
    pub(crate) fn new(db: Database) -> Self {
        Self { db }
    }
}

impl<S> Layer<S> for ConsistencyTokenLayer {
    type Service = ConsistencyTokens<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ConsistencyTokens {
            inner,
            db: self.db.clone(),
        }
    }
}

/// See [`ConsistencyTokenLayer`].
#[derive(Debug, Clone)]
pub(crate) struct ConsistencyTokens<S> {
    inner: S,
    db: Database,
}

impl<S, B, ResBody> Service<http::Request<B>> for ConsistencyTokens<S>
where
    S: Service<http::Request<B>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResBody: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let write = is_write(request.uri().path());
        let future = self.inner.call(request);
        if !write {
            return Box::pin(future);
        }
        let db = self.db.clone();
        Box::pin(async move {
            let mut response = future.await?;
            // A trailers-only answer (every error) carries its status in the headers; a handler
            // that returned a message has committed its write.
            if response.headers().contains_key("grpc-status") {
                return Ok(response);
            }
            match db.consistency_token().await {
                Ok(token) => {
                    if let Ok(value) = HeaderValue::from_str(&token.to_string()) {
                        response.headers_mut().insert(TOKEN_HEADER, value);
                    }
                }
                // The write stands; its answer only lacks the token (reads without one are
                // bounded by the lag limit).
                Err(error) => tracing::warn!(%error, "cannot read the consistency token after a write"),
            }
            Ok(response)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_are_every_crm_method_that_is_not_a_read() {
        for path in [
            "/crm.v1.CustomerService/CreateCustomer",
            "/crm.v1.CustomerService/UpdateCustomer",
            "/crm.v1.CustomerService/DeleteCustomer",
            "/crm.v1.CustomerService/UndeleteCustomer",
            "/crm.v1.AccessService/RevokeApiKey",
            "/crm.v1.AccessService/CreateRoleBinding",
            "/crm.v1.ClassificationService/RecordPurchase",
            "/crm.v1.ClassificationService/ActivatePolicyVersion",
            "/crm.v1.ClassificationService/ReclassifyCustomers",
            "/crm.v1.ClassificationService/ClassifyCustomer",
            "/crm.v1.ClassificationService/ClearOverride",
        ] {
            assert!(is_write(path), "{path}");
        }
        for path in [
            "/crm.v1.CustomerService/GetCustomer",
            "/crm.v1.CustomerService/BatchGetCustomers",
            "/crm.v1.CustomerService/ListCustomers",
            "/crm.v1.AccessService/CheckPermission",
            "/crm.v1.AccessService/BatchCheckPermissions",
            "/crm.v1.AccessService/WhoAmI",
            "/crm.v1.ClassificationService/PreviewPolicy",
            "/crm.v1.ClassificationService/GetSegmentStats",
            "/grpc.health.v1.Health/Check",
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        ] {
            assert!(!is_write(path), "{path}");
        }
    }

    #[test]
    fn a_malformed_token_is_invalid_argument_naming_the_key() {
        let mut request = Request::new(());
        request
            .metadata_mut()
            .insert(TOKEN_HEADER, tonic::metadata::MetadataValue::from_static("16/B374D848"));
        let status = read_at(&request).err().unwrap_or_else(|| Status::ok(""));
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert!(status.message().contains(TOKEN_HEADER), "{}", status.message());
        assert_eq!(read_at(&Request::new(())).ok(), Some(None));
    }
}
