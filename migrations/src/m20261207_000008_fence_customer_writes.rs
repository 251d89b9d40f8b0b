//! On PostgreSQL, the fence that lets one crmd keep whole customers in memory for GetCustomer
//! (the persistence crate's `customer_cache`, where the whole protocol is described).
//!
//! A crmd may answer GetCustomer from memory only while nobody else can change a customer. It
//! makes sure of that by holding an exclusive session advisory lock (the *owner lock*) and
//! recording its instance id in `crm_customer_cache_owner`. Every statement that writes
//! `customers` or `customer_tags` first runs `crm_fence_customer_write()`, a statement-level
//! trigger:
//! - nobody owns: it takes the owner lock shared for its transaction (free while nobody owns, and
//!   it keeps anyone from becoming owner until the transaction ends);
//! - the owner's own connections (their `application_name` starts with the recorded owner's id,
//!   `crmd-` and 32 hex digits):
//!   it takes the *drain lock* shared, which a new owner waits on so that a former owner's writes
//!   are over before it starts answering from memory;
//! - anyone else (another crmd, a script, psql): it waits for the owner lock, shared. The owner
//!   sees the waiting session within a tenth of a second, stops answering from memory and lets go,
//!   recording in `free_after` when any replica may own again (`hold_off_secs` later).
//!
//! SQLite has one process per file (nobody else writes): `up` and `down` do nothing there.

use sea_orm_migration::{async_trait::async_trait, prelude::*};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

// The advisory-lock keys are (1129467203, 1) for the owner lock and (1129467203, 2) for the drain
// lock: "CRMC" in ASCII, as the persistence crate's `customer_cache` has them.
const UP: &[&str] = &[
    "CREATE TABLE crm_customer_cache_owner ( \
       only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row), \
       instance text NOT NULL, \
       free_after timestamptz, \
       hold_off_secs double precision NOT NULL DEFAULT 5)",
    "CREATE FUNCTION crm_fence_customer_write() RETURNS trigger LANGUAGE plpgsql AS $$ \
     BEGIN \
       IF pg_try_advisory_xact_lock_shared(1129467203, 1) THEN RETURN NULL; END IF; \
       IF left(current_setting('application_name'), 37) = (SELECT instance FROM crm_customer_cache_owner) THEN \
         PERFORM pg_advisory_xact_lock_shared(1129467203, 2); \
       ELSE \
         PERFORM pg_advisory_xact_lock_shared(1129467203, 1); \
       END IF; \
       RETURN NULL; \
     END $$",
    "CREATE TRIGGER crm_fence_customers BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON customers \
     FOR EACH STATEMENT EXECUTE FUNCTION crm_fence_customer_write()",
    "CREATE TRIGGER crm_fence_customer_tags BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON customer_tags \
     FOR EACH STATEMENT EXECUTE FUNCTION crm_fence_customer_write()",
];

const DOWN: &[&str] = &[
    "DROP TRIGGER crm_fence_customer_tags ON customer_tags",
    "DROP TRIGGER crm_fence_customers ON customers",
    "DROP FUNCTION crm_fence_customer_write()",
    "DROP TABLE crm_customer_cache_owner",
];

#[async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::on_postgres_only(manager, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::on_postgres_only(manager, DOWN).await
    }
}
