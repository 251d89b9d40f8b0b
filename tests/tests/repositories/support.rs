//! The shared harness (`crm_tests`) under the names these tests use, plus a migrated pool.

use crm_persistence::Database;
pub(crate) use crm_tests::{Backend, TestDatabase, on_both_backends};

/// A fresh database of `backend` and a migrated pool on it; `None` when the backend is skipped.
pub(crate) async fn migrated(backend: Backend) -> Option<(TestDatabase, Database)> {
    let database = TestDatabase::create(backend).await?;
    let db = database.connect(4).await;
    db.migrate().await.expect("migrate");
    Some((database, db))
}
