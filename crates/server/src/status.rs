//! Domain errors as gRPC statuses, in one exhaustive `match` per error type: every
//! [`CustomerError`] and every [`AccessError`] case has exactly one code, and the details a caller can act on (`BadRequest` field violations,
//! `ErrorInfo` with a stable reason). Unexpected errors are logged here and reach the caller as
//! a bare INTERNAL; an unavailable storage is logged and reaches the caller as UNAVAILABLE with
//! a `RetryInfo` (retry after a delay).

use std::{collections::HashMap, time::Duration};

use crm_api::{convert::classification::MoneyCheck, crm::v1::ErrorReason};
use crm_domain::{
    access::{AccessError, Denial, api_key_name, binding_name},
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

/// `code` with an `ErrorInfo` of `reason` whose metadata is `metadata`.
pub(crate) fn with_info(code: Code, reason: ErrorReason, metadata: &[(&str, &str)], message: String) -> Status {
    let metadata: HashMap<String, String> = metadata
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect();
    Status::with_error_details(
        code,
        message,
        ErrorDetails::with_error_info(reason_text(reason), ERROR_DOMAIN, metadata),
    )
}

/// PERMISSION_DENIED for `denial`, naming the missing permission and the resource.
pub(crate) fn denied(denial: &Denial) -> Status {
    with_info(
        Code::PermissionDenied,
        ErrorReason::PermissionDenied,
        &[("permission", denial.permission.name()), ("resource", &denial.resource)],
        denial.to_string(),
    )
}

/// INTERNAL for an unexpected store error, which is logged and not shown.
pub(crate) fn internal(error: &dyn std::fmt::Display) -> Status {
    tracing::error!(error = %error, "request failed unexpectedly");
    Status::internal("internal error; the service logged the cause")
}

/// How long a caller is told to wait before retrying a call that found the storage unavailable.
pub(crate) const STORAGE_RETRY_DELAY: Duration = Duration::from_secs(1);

/// UNAVAILABLE with a `RetryInfo` of `retry_after`: the service cannot serve the call now, nothing
/// was done, and the same call may succeed later. `message` must not describe internals.
pub(crate) fn unavailable(message: impl Into<String>, retry_after: Duration) -> Status {
    Status::with_error_details(
        Code::Unavailable,
        message,
        ErrorDetails::with_retry_info(Some(retry_after)),
    )
}

/// UNAVAILABLE for a storage failure (`cause` is logged, not shown).
pub(crate) fn storage_unavailable(cause: &dyn std::fmt::Display) -> Status {
    tracing::warn!(error = %cause, "request failed: the storage is unavailable");
    unavailable(
        "the service cannot reach its storage right now; nothing was changed, retry after the delay in RetryInfo",
        STORAGE_RETRY_DELAY,
    )
}

/// The most bytes of field violations (paths plus descriptions) one error carries.
const MAX_VIOLATION_BYTES: usize = 4096;
/// The most bytes of one violation's path or description.
const MAX_VIOLATION_PART_BYTES: usize = 512;
/// The most bytes of an INVALID_ARGUMENT message.
const MAX_MESSAGE_BYTES: usize = 1024;

/// `text` cut to at most `max` bytes at a character boundary, with `…` when it was cut.
fn cut(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", text.get(..end).unwrap_or_default())
}

/// The `BadRequest` details and the message of an INVALID_ARGUMENT for `violations`, both
/// bounded: every violation while they fit in [`MAX_VIOLATION_BYTES`], the message listing as
/// many as fit in [`MAX_MESSAGE_BYTES`] and counting the rest.
///
/// Caller input is echoed cut already ([`crm_domain::text::echo`]), but one request can hold
/// thousands of invalid elements (10,000 bad tags or mask paths), and an error's details and
/// message travel in HTTP/2 trailers, which clients refuse past 8 to 16 KiB (they then report
/// RESOURCE_EXHAUSTED instead of the error). So the whole error stays under about 7 KiB.
pub(crate) fn bad_request(violations: &Violations) -> (ErrorDetails, String) {
    let all = violations.as_slice();
    let mut details = ErrorDetails::new();
    let mut budget = MAX_VIOLATION_BYTES;
    let mut shown = 0;
    for v in all {
        let field = cut(&v.field, MAX_VIOLATION_PART_BYTES);
        let description = cut(&v.description, MAX_VIOLATION_PART_BYTES);
        let size = field.len() + description.len();
        if size > budget {
            break;
        }
        budget -= size;
        shown += 1;
        details.add_bad_request_violation(field, description);
    }
    let message = match all {
        [only] => cut(
            &format!("invalid {}: {}", only.field, only.description),
            MAX_MESSAGE_BYTES,
        ),
        _ => {
            let mut message = format!("{} invalid fields: ", all.len());
            let mut listed = 0;
            for v in all {
                let entry = format!(
                    "{}{}: {}",
                    if listed == 0 { "" } else { "; " },
                    cut(&v.field, MAX_VIOLATION_PART_BYTES),
                    cut(&v.description, MAX_VIOLATION_PART_BYTES)
                );
                if message.len() + entry.len() > MAX_MESSAGE_BYTES {
                    break;
                }
                message.push_str(&entry);
                listed += 1;
            }
            if listed < all.len() {
                message.push_str(&format!(
                    "{}and {} more ({} listed in the details)",
                    if listed == 0 { "" } else { "; " },
                    all.len() - listed,
                    shown
                ));
            }
            message
        }
    };
    (details, message)
}

/// INVALID_ARGUMENT with one field violation per entry of `violations` (as many as fit; see
/// [`bad_request`]).
pub(crate) fn invalid_argument(violations: &Violations) -> Status {
    let (details, message) = bad_request(violations);
    Status::with_error_details(Code::InvalidArgument, message, details)
}

/// INVALID_ARGUMENT for a request with an amount not in the reporting currency (`money`'s
/// mismatch is set): one `BadRequest` field violation per entry of `violations` (which hold the
/// currency violation, and any other problem of the request) and an `ErrorInfo` of reason
/// `CURRENCY_MISMATCH` with metadata `expected_currency` (the reporting currency) and `currency`
/// (the first other code sent).
pub(crate) fn currency_mismatch(money: &MoneyCheck<'_>, violations: &Violations) -> Status {
    let (mut details, message) = bad_request(violations);
    let metadata = HashMap::from([
        ("expected_currency".to_owned(), money.currency.to_owned()),
        ("currency".to_owned(), money.sent.clone().unwrap_or_default()),
    ]);
    details.set_error_info(reason_text(ErrorReason::CurrencyMismatch), ERROR_DOMAIN, metadata);
    let message = if violations.is_empty() {
        format!(
            "amounts must be in {}, the deployment's reporting currency",
            money.currency
        )
    } else {
        message
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
        CustomerError::PermissionDenied(denial) => denied(&denial),
        CustomerError::ContactFieldHidden(field) => with_info(
            Code::PermissionDenied,
            ErrorReason::ContactFieldHidden,
            &[("field", field)],
            format!(
                "cannot filter on {field}: you see it masked on some customers you may list (it needs \
                 customers.read_contact for every one of them)"
            ),
        ),
        CustomerError::PolicyVersionNotFound(version) => with_info(
            Code::NotFound,
            ErrorReason::PolicyVersionNotFound,
            &[("policy", &version.resource_name())],
            format!("{} does not exist", version.resource_name()),
        ),
        CustomerError::OverrideNotFound(id, dimension) => with_info(
            Code::NotFound,
            ErrorReason::OverrideNotFound,
            &[("customer", &resource_name(&id)), ("dimension", dimension.name())],
            format!("{} has no override on {}", resource_name(&id), dimension.field()),
        ),
        CustomerError::PurchaseConflict(id, order_ref) => with_info(
            Code::AlreadyExists,
            ErrorReason::PurchaseConflict,
            &[("customer", &resource_name(&id)), ("order_ref", order_ref.as_str())],
            format!(
                "order {order_ref} of {} was recorded before with a different amount or time; \
                 an order reference names one purchase",
                resource_name(&id)
            ),
        ),
        CustomerError::Unavailable(cause) => storage_unavailable(&cause),
        CustomerError::Unexpected(cause) => internal(&cause),
    }
}

/// NOT_FOUND with `reason`, naming `name` under `key` in the metadata.
fn access_not_found(reason: ErrorReason, key: &str, name: &str) -> Status {
    with_info(Code::NotFound, reason, &[(key, name)], format!("{name} does not exist"))
}

/// ALREADY_EXISTS with `reason`, naming `name` under `key` in the metadata.
fn access_exists(reason: ErrorReason, key: &str, name: &str) -> Status {
    with_info(
        Code::AlreadyExists,
        reason,
        &[(key, name)],
        format!("{name} already exists"),
    )
}

/// The status a caller of `crm.v1.AccessService` receives for `error`.
pub(crate) fn access_status(error: AccessError) -> Status {
    match error {
        AccessError::PermissionDenied(denial) => denied(&denial),
        AccessError::PrincipalNotFound(name) => {
            access_not_found(ErrorReason::PrincipalNotFound, "principal", name.as_str())
        }
        AccessError::PrincipalAlreadyExists(name) => {
            access_exists(ErrorReason::PrincipalAlreadyExists, "principal", name.as_str())
        }
        AccessError::RoleNotFound(name) => access_not_found(ErrorReason::RoleNotFound, "role", name.as_str()),
        AccessError::RoleAlreadyExists(name) => access_exists(ErrorReason::RoleAlreadyExists, "role", name.as_str()),
        AccessError::RoleBindingNotFound(id) => {
            access_not_found(ErrorReason::RoleBindingNotFound, "role_binding", &binding_name(id))
        }
        AccessError::ApiKeyNotFound(principal, id) => {
            access_not_found(ErrorReason::ApiKeyNotFound, "api_key", &api_key_name(&principal, id))
        }
        AccessError::SelfLockout { principal, action } => with_info(
            Code::FailedPrecondition,
            ErrorReason::SelfLockout,
            &[("principal", principal.as_str())],
            format!(
                "{principal} cannot {} itself: it would lock itself out; another principal holding access.manage \
                 must do it",
                action.verb()
            ),
        ),
        AccessError::RoleBuiltIn { role, edit } => with_info(
            Code::FailedPrecondition,
            ErrorReason::RoleBuiltIn,
            &[("role", role.as_str())],
            format!(
                "{role} is built in and cannot be {}; create a custom role instead",
                edit.participle()
            ),
        ),
        AccessError::Unavailable(cause) => storage_unavailable(&cause),
        AccessError::Unexpected(cause) => internal(&cause),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use crm_api::{convert::classification::money_from_proto, google::r#type as gtype};

    use super::*;

    #[test]
    fn a_currency_mismatch_carries_its_error_info_and_every_violation() {
        let mut v = Violations::new();
        let mut check = MoneyCheck::new("EUR");
        for (path, currency) in [("a", "USD"), ("b", "CNY")] {
            let amount = gtype::Money {
                currency_code: currency.to_owned(),
                units: 1,
                nanos: 0,
            };
            money_from_proto(&mut v, path, Some(&amount), &mut check, true);
        }
        let status = currency_mismatch(&check, &v);
        assert_eq!(status.code(), Code::InvalidArgument);
        let details = status.get_error_details();
        let info = details.error_info().unwrap();
        assert_eq!(info.reason, "CURRENCY_MISMATCH");
        assert_eq!(info.domain, ERROR_DOMAIN);
        assert_eq!(info.metadata.get("expected_currency").map(String::as_str), Some("EUR"));
        assert_eq!(info.metadata.get("currency").map(String::as_str), Some("USD"));
        assert_eq!(details.bad_request().unwrap().field_violations.len(), 2);
    }
}
