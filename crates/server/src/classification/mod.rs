//! `crm.v1.ClassificationService`: the handlers ([`service`]) and the runtime they share
//! ([`state`]): the active policy in memory, batch runs and the daily schedule. The proto <->
//! domain mapping is `crm_api::convert::classification`.

pub(crate) mod service;
pub(crate) mod state;
