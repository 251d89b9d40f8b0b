//! Domain errors as gRPC statuses, in one exhaustive `match`: every [`CustomerError`] case has
//! exactly one code, and the details a caller can act on (`BadRequest` field violations,
//! `ErrorInfo` with a stable reason). Unexpected errors are logged here and reach the caller as
//! a bare INTERNAL.

use std::collections::HashMap;

use crm_api::crm::v1::ErrorReason;
use crm_domain::{
    customer::{resource_name, values::CustomerId},
    error::{CustomerError, Violations},
};
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// The `ErrorInfo.domain` of every error this service sends.
pub(crate) const ERROR_DOMAIN: &str = "crm.v1";

/// The reason string of `reason`: its proto name without the `ERROR_REASON_` prefix.
pub(crate) fn reason_text(reason: ErrorReason) -> &'static str {
    let name = reason.as_str_name();
    name.strip_prefix("ERROR_REASON_").unwrap_or(name)
}

fn with_reason(code: Code, reason: ErrorReason, id: &CustomerId, message: String) -> Status {
    let metadata = HashMap::from([("customer".to_owned(), resource_name(id))]);
    Status::with_error_details(
        code,
        message,
        ErrorDetails::with_error_info(reason_text(reason), ERROR_DOMAIN, metadata),
    )
}

/// INVALID_ARGUMENT with one field violation per entry of `violations`.
pub(crate) fn invalid_argument(violations: &Violations) -> Status {
    let mut details = ErrorDetails::new();
    for v in violations.as_slice() {
        details.add_bad_request_violation(v.field.clone(), v.description.clone());
    }
    let count = violations.as_slice().len();
    let message = match violations.as_slice() {
        [only] => format!("invalid {}: {}", only.field, only.description),
        _ => format!("{count} invalid fields: {violations}"),
    };
    Status::with_error_details(Code::InvalidArgument, message, details)
}

/// The status a caller receives for `error`.
pub(crate) fn to_status(error: CustomerError) -> Status {
    match error {
        CustomerError::Invalid(violations) => invalid_argument(&violations),
        CustomerError::NotFound(id) => with_reason(
            Code::NotFound,
            ErrorReason::CustomerNotFound,
            &id,
            format!("{} does not exist", resource_name(&id)),
        ),
        CustomerError::Deleted(id) => with_reason(
            Code::NotFound,
            ErrorReason::CustomerDeleted,
            &id,
            format!("{} is deleted; UndeleteCustomer restores it", resource_name(&id)),
        ),
        CustomerError::AlreadyExists(id) => with_reason(
            Code::AlreadyExists,
            ErrorReason::CustomerAlreadyExists,
            &id,
            format!("{} already exists", resource_name(&id)),
        ),
        CustomerError::NotDeleted(id) => with_reason(
            Code::AlreadyExists,
            ErrorReason::CustomerNotDeleted,
            &id,
            format!("{} is not deleted", resource_name(&id)),
        ),
        CustomerError::EtagMismatch(id) => with_reason(
            Code::Aborted,
            ErrorReason::EtagMismatch,
            &id,
            format!(
                "{} was changed by someone else; read it again and retry",
                resource_name(&id)
            ),
        ),
        CustomerError::Unexpected(cause) => {
            tracing::error!(error = %cause, "request failed unexpectedly");
            Status::internal("internal error; the service logged the cause")
        }
    }
}
