//! What every call passes through before and after a handler: the accepted connections, the
//! tower layers (request id, observation, drain, deadlines, authentication, per-principal and
//! global limits, the storage gate, consistency tokens) and the guarded response body they share. The order of the
//! layers is set in [`crate::run_with`].

pub(crate) mod availability;
pub(crate) mod body;
pub mod caller;
pub(crate) mod connections;
pub(crate) mod consistency;
pub(crate) mod drain;
pub(crate) mod limits;
pub(crate) mod observe;
pub mod principal_limits;
pub(crate) mod request_id;
