//! sea-orm entities: one module per table, matching `migrations/` column for column. Only this
//! crate sees them; the rest of the service sees domain types.

pub(crate) mod api_key;
pub(crate) mod audit_event;
pub(crate) mod classification_history;
pub(crate) mod classification_policy;
pub(crate) mod customer;
pub(crate) mod customer_tag;
pub(crate) mod interaction;
pub(crate) mod principal;
pub(crate) mod purchase;
pub(crate) mod role;
pub(crate) mod role_binding;
pub(crate) mod service_secret;
