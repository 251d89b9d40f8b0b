//! `crm.v1.AccessService` and the access-control state every request is decided against: the
//! handlers ([`service`]), principals, roles, bindings and keys held in memory ([`state`]), and
//! the API key format ([`api_key`]). The proto <-> domain mapping is `crm_api::convert::access`.

pub(crate) mod api_key;
pub(crate) mod service;
pub(crate) mod state;
