//! The shared harness (`crm_tests`) under the names these tests use, plus a migrated pool.

use crm_domain::customer::{
    Contact, CustomerProfile,
    values::{CustomerKind, DisplayName, Needs, Tags},
};
use crm_persistence::Database;
pub(crate) use crm_tests::{Backend, TestDatabase, on_both_backends};

/// A fresh database of `backend` and a migrated pool on it; `None` when the backend is skipped.
pub(crate) async fn migrated(backend: Backend) -> Option<(TestDatabase, Database)> {
    let database = TestDatabase::create(backend).await?;
    let db = database.connect(4).await;
    db.migrate().await.expect("migrate");
    Some((database, db))
}

/// An organisation's profile named `display_name`, with every other field empty or off; tests
/// set what they need with `CustomerProfile { key_account: true, ..profile("…") }`.
pub(crate) fn profile(display_name: &str) -> CustomerProfile {
    CustomerProfile {
        display_name: DisplayName::parse(display_name).unwrap(),
        kind: CustomerKind::Organization,
        contact: Contact::default(),
        industry: None,
        employee_count: None,
        region: None,
        needs: Needs::default(),
        key_account: false,
        churned: false,
        owner: None,
        department: None,
        tags: Tags::default(),
    }
}
