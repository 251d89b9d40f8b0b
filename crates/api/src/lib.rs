//! The `crm.v1` contract as Rust: messages, enums, clients and server traits generated from
//! `proto/crm/v1/*.proto` at build time, shared by the server, the CLI and the end-to-end tests;
//! and, behind the `convert` feature, the conversions between those messages and the domain's
//! values that the server and the CLI share (beside the types they convert, as qdrant keeps its
//! conversions in its api crate). The domain does not know this crate; this crate knows the
//! domain only with `convert` on.
//!
//! # Layout
//! - [`crm::v1`]: the generated package (`CustomerServiceClient`, `CustomerServiceServer`, …).
//! - [`FILE_DESCRIPTOR_SET`]: the encoded descriptors of every file, for server reflection.
//! - [`code_name`]: a gRPC code's canonical name (`NOT_FOUND`).
//! - `convert` (feature `convert`): proto messages to domain values and back, one module per
//!   service, every invalid field of a request collected with its path.

/// Generated code of the vendored Google common types (`google.type.Money`).
pub mod google {
    /// The `google.type` package.
    pub mod r#type {
        #![allow(missing_docs, unreachable_pub, missing_debug_implementations)]
        #![allow(clippy::all, clippy::pedantic)]
        tonic::include_proto!("google.r#type");
    }
}

/// Generated code, one module per protobuf package.
pub mod crm {
    /// The `crm.v1` package.
    pub mod v1 {
        #![allow(missing_docs, unreachable_pub, missing_debug_implementations)]
        #![allow(clippy::all, clippy::pedantic)]
        tonic::include_proto!("crm.v1");
    }
}

#[cfg(feature = "convert")]
pub mod convert;

/// The encoded `FileDescriptorSet` of `proto/`, registered with tonic-reflection so that
/// `grpcurl` and `buf curl` work without the proto files at hand.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/crm_descriptor.bin"));

/// The canonical name of a gRPC status code as the gRPC specification spells it (`NOT_FOUND`),
/// for logs, metrics labels and error messages; shared by the server and `crmctl` so both say
/// the same thing.
#[must_use]
pub fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code;
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}
