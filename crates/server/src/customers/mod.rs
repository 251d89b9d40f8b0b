//! `crm.v1.CustomerService`: the handlers ([`service`]) and the proto <-> domain mapping of
//! customers ([`convert`]).

pub(crate) mod convert;
pub(crate) mod service;
