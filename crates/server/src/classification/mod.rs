//! `crm.v1.ClassificationService`: the handlers ([`service`]) and the runtime they share
//! ([`state`]): the active policy in memory, batch runs and the daily schedule; how a batch run
//! gives way to the requests being served ([`pacing`]). The proto <->
//! domain mapping is `crm_api::convert::classification`.

pub(crate) mod pacing;
pub(crate) mod service;
pub(crate) mod state;
