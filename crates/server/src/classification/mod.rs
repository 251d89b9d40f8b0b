//! `crm.v1.ClassificationService`: the handlers ([`service`]), the proto <-> domain mapping
//! ([`convert`]), and the runtime they share ([`state`]): the active policy in memory, batch runs
//! and the daily schedule.

pub(crate) mod convert;
pub(crate) mod service;
pub(crate) mod state;
