//! [`CliError`]: everything a command can fail with, how it is reported on stderr
//! ([`report`]) and the exit code it gives ([`exit_code`]).

use std::fmt::Write as _;

use crm_api::code_name;
use tonic::Code;
use tonic_types::StatusExt;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The server answered with an error status.
    #[error("{}: {}", code_name(.0.code()), .0.message())]
    Status(#[from] tonic::Status),
    /// The server could not be reached (UNAVAILABLE before any answer): said with the address.
    #[error("{}: {}\n  could not reach crmd at {server}: is it running there? (--server, CRM_SERVER)", code_name(.status.code()), .status.message())]
    Unreachable {
        /// The `--server` address.
        server: String,
        /// The status the call ended with.
        status: tonic::Status,
    },
    /// The command line was well-formed for clap but not usable, e.g. an invalid `--server` URI.
    #[error("{0}")]
    Usage(String),
    /// Input given to the command (a flag's value, a file's content) is invalid.
    #[error("{0}")]
    Invalid(String),
    /// Reading or writing a file or stdout failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being read or written.
        context: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Some rows of an import were rejected (listed in the rejects file).
    #[error("{rejected} row(s) rejected; see {rejects_file}")]
    Rejected {
        /// How many rows were rejected.
        rejected: u64,
        /// Where they are listed.
        rejects_file: String,
    },
    /// A permission check answered "no" (`crmctl access check`); the answer itself was printed.
    #[error("not allowed: {0}")]
    Denied(String),
    /// The command is not available yet.
    #[error("{0} is not implemented yet")]
    NotImplemented(&'static str),
    /// Anything else, with a message for people.
    #[error("{0}")]
    Other(String),
}

impl CliError {
    /// An I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }

    /// Whether this is a write to a closed pipe (`crmctl … | head`), which ends the command
    /// quietly and successfully.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Self::Io { source, .. } if source.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

/// The process exit code for `error` (documented in `crmctl --help`): 2 usage, 3 not found,
/// 4 permission denied or unauthenticated, 5 conflict, 6 server unreachable or too slow, 1 the
/// rest. A closed stdout pipe exits 0.
pub fn exit_code(error: &CliError) -> i32 {
    match error {
        CliError::Status(status) => match status.code() {
            Code::NotFound => 3,
            Code::PermissionDenied | Code::Unauthenticated => 4,
            Code::AlreadyExists | Code::Aborted | Code::FailedPrecondition => 5,
            Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled => 6,
            Code::Ok
            | Code::Unknown
            | Code::InvalidArgument
            | Code::ResourceExhausted
            | Code::OutOfRange
            | Code::Unimplemented
            | Code::Internal
            | Code::DataLoss => 1,
        },
        CliError::Usage(_) => 2,
        CliError::Unreachable { .. } => 6,
        CliError::Denied(_) => 4,
        e if e.is_broken_pipe() => 0,
        CliError::Invalid(_)
        | CliError::Io { .. }
        | CliError::Rejected { .. }
        | CliError::NotImplemented(_)
        | CliError::Other(_) => 1,
    }
}

/// The text printed on stderr for `error`: `error: <what>` and, for a status, its reason with
/// metadata and one line per field violation. Ends with a newline.
pub fn report(error: &CliError) -> String {
    let mut out = format!("error: {error}\n");
    if let CliError::Status(status) = error {
        out.push_str(&status_details(status));
    }
    out
}

/// The details of `status`, one indented line each: `reason: …` (with the ErrorInfo metadata),
/// one `<field>: <description>` per field violation, and precondition violations.
pub fn status_details(status: &tonic::Status) -> String {
    let mut out = String::new();
    let details = status.get_error_details();
    if let Some(info) = details.error_info() {
        let mut metadata: Vec<_> = info.metadata.iter().collect();
        metadata.sort();
        let _ = write!(out, "  reason: {}", info.reason);
        if !metadata.is_empty() {
            let pairs: Vec<String> = metadata.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let _ = write!(out, " ({})", pairs.join(", "));
        }
        out.push('\n');
    }
    if let Some(bad_request) = details.bad_request() {
        for violation in &bad_request.field_violations {
            let _ = writeln!(out, "  {}: {}", violation.field, violation.description);
        }
    }
    if let Some(precondition) = details.precondition_failure() {
        for violation in &precondition.violations {
            let _ = writeln!(
                out,
                "  {} {}: {}",
                violation.r#type, violation.subject, violation.description
            );
        }
    }
    out
}

/// The field violations of `status` as `(field, description)` pairs (empty when it has none).
pub fn field_violations(status: &tonic::Status) -> Vec<(String, String)> {
    status
        .get_error_details()
        .bad_request()
        .map(|bad| {
            bad.field_violations
                .iter()
                .map(|v| (v.field.clone(), v.description.clone()))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use tonic_types::{ErrorDetails, StatusExt};

    use super::*;

    #[test]
    fn a_status_reports_code_reason_and_every_field_violation() {
        let mut details = ErrorDetails::with_error_info(
            "CUSTOMER_NOT_FOUND",
            "crm.v1",
            [("customer".to_owned(), "customers/x".to_owned())],
        );
        details.add_bad_request_violation("customer.display_name", "must not be empty");
        details.add_bad_request_violation("customer.kind", "is required");
        let status = tonic::Status::with_error_details(Code::InvalidArgument, "2 invalid fields", details);
        let text = report(&CliError::Status(status));
        assert_eq!(
            text,
            "error: INVALID_ARGUMENT: 2 invalid fields\n  reason: CUSTOMER_NOT_FOUND (customer=customers/x)\n  customer.display_name: must not be empty\n  customer.kind: is required\n"
        );
    }

    #[test]
    fn exit_codes_follow_the_documented_table() {
        let code = |c| exit_code(&CliError::Status(tonic::Status::new(c, "x")));
        assert_eq!(code(Code::NotFound), 3);
        assert_eq!(code(Code::PermissionDenied), 4);
        assert_eq!(code(Code::Unauthenticated), 4);
        assert_eq!(code(Code::Aborted), 5);
        assert_eq!(code(Code::AlreadyExists), 5);
        assert_eq!(code(Code::FailedPrecondition), 5);
        assert_eq!(code(Code::Unavailable), 6);
        assert_eq!(code(Code::InvalidArgument), 1);
        assert_eq!(exit_code(&CliError::Usage("x".into())), 2);
        let pipe = CliError::io("writing", std::io::Error::from(std::io::ErrorKind::BrokenPipe));
        assert_eq!(exit_code(&pipe), 0);
    }
}
