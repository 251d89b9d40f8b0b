//! sea-orm entities: one module per table, matching `migrations/` column for column. Only this
//! crate sees them; the rest of the service sees domain types.

pub(crate) mod customer;
pub(crate) mod customer_tag;
pub(crate) mod service_secret;
