//! `crm.v1.CustomerService`: the handlers ([`service`]); the proto <-> domain mapping of
//! customers is `crm_api::convert::customers`, shared with `crmctl`.

pub(crate) mod service;
