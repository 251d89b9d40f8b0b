//! `crm.v1.AccessService` and the access-control state every request is decided against: the
//! handlers ([`service`]), the proto <-> domain mapping ([`convert`]), principals, roles,
//! bindings and keys held in memory ([`state`]), and the API key format ([`api_key`]).

pub(crate) mod api_key;
pub(crate) mod convert;
pub(crate) mod service;
pub(crate) mod state;
