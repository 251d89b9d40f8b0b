//! On PostgreSQL, a trigger that tells every replica when the facts an access decision reads
//! about a customer (its owner, department and grade) change or the customer row goes.
//!
//! Each replica keeps those facts in a cache (the persistence crate's `facts_cache`), so that
//! CheckPermission needs no query. The replica that writes forgets its own entry at once; the
//! others learn of the change from a notification on `crm_customer_facts` whose payload is the
//! customer's id, sent by this trigger when the transaction commits. A row trigger with a `WHEN`
//! condition costs nothing for the writes that leave the three columns alone, which are most of
//! them (an UpdateCustomer of a phone number, a purchase recorded).
//!
//! SQLite has one process per file, so there is nobody to tell: `up` and `down` do nothing there.

use sea_orm_migration::{async_trait::async_trait, prelude::*};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

const UP: &[&str] = &[
    "CREATE FUNCTION crm_notify_customer_facts() RETURNS trigger LANGUAGE plpgsql AS $$ \
     BEGIN PERFORM pg_notify('crm_customer_facts', OLD.id); RETURN NULL; END $$",
    "CREATE TRIGGER crm_customer_facts_updated AFTER UPDATE OF owner, department, grade ON customers \
     FOR EACH ROW WHEN (OLD.owner IS DISTINCT FROM NEW.owner \
     OR OLD.department IS DISTINCT FROM NEW.department OR OLD.grade IS DISTINCT FROM NEW.grade) \
     EXECUTE FUNCTION crm_notify_customer_facts()",
    "CREATE TRIGGER crm_customer_facts_deleted AFTER DELETE ON customers \
     FOR EACH ROW EXECUTE FUNCTION crm_notify_customer_facts()",
];

const DOWN: &[&str] = &[
    "DROP TRIGGER crm_customer_facts_deleted ON customers",
    "DROP TRIGGER crm_customer_facts_updated ON customers",
    "DROP FUNCTION crm_notify_customer_facts()",
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
