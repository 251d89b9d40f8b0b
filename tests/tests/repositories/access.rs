//! The access store's newer methods on both backends: deleting a principal with everything that
//! hangs off it, the unrevoked keys, batched audit appends, and the audit log's `until` bound.

use crm_domain::{
    access::{
        AccessStoreError, ApiKeyId, ApiKeyPrefix, ApiKeyRecord, AuditEvent, AuditOutcome, AuditQuery, BindingId,
        Principal, PrincipalDisplayName, PrincipalKind, RoleBinding, RoleName, Scope, StaffLevel,
    },
    customer::values::{Department, PrincipalName},
    ports::AccessRepository,
};
use crm_persistence::SqlAccessRepository;
use sea_orm::prelude::ChronoDateTimeUtc;

use crate::support::{Backend, TestDatabase, migrated, on_both_backends};

on_both_backends!(
    deleting_a_principal_removes_its_bindings_and_keys_but_keeps_its_audit_events,
    deleting_an_unknown_principal_is_not_found,
    unrevoked_api_keys_are_every_principals_keys_without_a_revoke_time_by_id,
    audit_events_are_appended_in_batches_all_or_none,
    a_large_audit_batch_is_written_all_or_none,
    audit_events_can_be_bounded_by_until,
);

/// A fresh, migrated database and a repository on it; `None` when the backend is skipped.
async fn store(backend: Backend) -> Option<(TestDatabase, SqlAccessRepository)> {
    let (database, db) = migrated(backend).await?;
    Some((database, SqlAccessRepository::new(db)))
}

/// A fixed instant `offset` seconds after a base time.
fn at(offset: i64) -> ChronoDateTimeUtc {
    ChronoDateTimeUtc::from_timestamp(1_750_000_000 + offset, 0).unwrap()
}

fn name(id: &str) -> PrincipalName {
    PrincipalName::from_id(id).unwrap()
}

fn user(id: &str, department: Option<&str>) -> Principal {
    Principal {
        name: name(id),
        kind: PrincipalKind::User,
        display_name: PrincipalDisplayName::parse(&format!("User {id}")).unwrap(),
        department: department.map(|d| Department::parse(d).unwrap()),
        staff_level: Some(StaffLevel::Frontline),
        disabled: false,
    }
}

fn binding(principal: &str, role: &str, scope: Scope) -> RoleBinding {
    RoleBinding {
        id: BindingId::generate(),
        principal: name(principal),
        role: RoleName::from_id(role).unwrap(),
        scope,
        grades: crm_domain::access::GradeSet::empty(),
        expire_time: None,
    }
}

fn key(principal: &str, prefix: &str, fill: u8) -> ApiKeyRecord {
    ApiKeyRecord {
        id: ApiKeyId::generate(),
        prefix: ApiKeyPrefix::parse(prefix).unwrap(),
        principal: name(principal),
        secret_hash: std::array::from_fn(|i| fill.wrapping_add(u8::try_from(i).unwrap())),
        create_time: at(0),
        expire_time: None,
        revoke_time: None,
    }
}

fn event(offset: i64, actor: Option<&str>, resource: &str) -> AuditEvent {
    AuditEvent::new(
        at(offset),
        actor.map(name),
        "access.manage",
        resource,
        AuditOutcome::Allowed,
        "",
    )
}

/// Every event in the log, newest first.
async fn all_events(repo: &SqlAccessRepository) -> Vec<AuditEvent> {
    repo.list_audit_events(&AuditQuery::newest(10_000)).await.unwrap()
}

fn newest_first(events: &[AuditEvent]) -> Vec<AuditEvent> {
    let mut events = events.to_vec();
    events.sort_by_key(|e| std::cmp::Reverse(e.cursor()));
    events
}

// ---------------------------------------------------------------------------------------------
// delete_principal
// ---------------------------------------------------------------------------------------------

async fn deleting_a_principal_removes_its_bindings_and_keys_but_keeps_its_audit_events(backend: Backend) {
    let Some((_database, repo)) = store(backend).await else {
        return;
    };
    let (alice, bob) = (user("alice", Some("east")), user("bob", Some("west")));
    repo.insert_principal(&alice).await.unwrap();
    repo.insert_principal(&bob).await.unwrap();
    let alices_bindings = [
        binding("alice", "sales_rep", Scope::Own),
        binding("alice", "admin", Scope::All),
    ];
    let bobs_binding = binding("bob", "support", Scope::Department);
    for b in alices_bindings.iter().chain([&bobs_binding]) {
        repo.insert_binding(b).await.unwrap();
    }
    let alices_keys = [key("alice", "a1a1a1a1", 1), key("alice", "a2a2a2a2", 2)];
    let bobs_key = key("bob", "b0b0b0b0", 3);
    for k in alices_keys.iter().chain([&bobs_key]) {
        repo.insert_api_key(k).await.unwrap();
    }
    let events = [
        event(0, Some("alice"), "principals/alice"),
        event(1, Some("carol"), "principals/alice"),
    ];
    repo.append_audit_events(&events).await.unwrap();

    repo.delete_principal(&alice.name).await.unwrap();

    assert_eq!(repo.get_principal(&alice.name).await.unwrap(), None);
    assert_eq!(repo.list_principals().await.unwrap(), vec![bob.clone()]);
    assert_eq!(repo.list_bindings().await.unwrap(), vec![bobs_binding.clone()]);
    assert_eq!(repo.list_api_keys(&alice.name).await.unwrap(), vec![]);
    for k in &alices_keys {
        assert_eq!(repo.find_api_key_by_prefix(&k.prefix).await.unwrap(), None);
    }
    assert_eq!(repo.list_api_keys(&bob.name).await.unwrap(), vec![bobs_key.clone()]);
    assert_eq!(repo.list_unrevoked_api_keys().await.unwrap(), vec![bobs_key]);
    assert_eq!(all_events(&repo).await, newest_first(&events), "audit events stay");
    let snapshot = repo.load_snapshot().await.unwrap();
    assert_eq!(snapshot.principal_count(), 1);
    assert_eq!(snapshot.binding_count(), 1);

    // The name is free again, and a principal created under it inherits nothing.
    repo.insert_principal(&alice).await.unwrap();
    assert_eq!(repo.list_bindings().await.unwrap(), vec![bobs_binding]);
    assert_eq!(repo.list_api_keys(&alice.name).await.unwrap(), vec![]);
}

async fn deleting_an_unknown_principal_is_not_found(backend: Backend) {
    let Some((_database, repo)) = store(backend).await else {
        return;
    };
    let ghost = repo.delete_principal(&name("ghost")).await.unwrap_err();
    assert!(
        matches!(&ghost, AccessStoreError::NotFound(n) if n == "principals/ghost"),
        "{ghost:?}"
    );

    let alice = user("alice", None);
    repo.insert_principal(&alice).await.unwrap();
    repo.delete_principal(&alice.name).await.unwrap();
    let again = repo.delete_principal(&alice.name).await.unwrap_err();
    assert!(
        matches!(&again, AccessStoreError::NotFound(n) if n == "principals/alice"),
        "{again:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// list_unrevoked_api_keys
// ---------------------------------------------------------------------------------------------

async fn unrevoked_api_keys_are_every_principals_keys_without_a_revoke_time_by_id(backend: Backend) {
    let Some((_database, repo)) = store(backend).await else {
        return;
    };
    assert_eq!(repo.list_unrevoked_api_keys().await.unwrap(), vec![]);
    repo.insert_principal(&user("alice", None)).await.unwrap();
    repo.insert_principal(&user("bob", None)).await.unwrap();

    let live = key("alice", "a1a1a1a1", 1);
    let expired = ApiKeyRecord {
        expire_time: Some(at(-10)),
        ..key("bob", "b1b1b1b1", 2)
    };
    let revoked = key("alice", "a2a2a2a2", 3);
    let bobs = key("bob", "b2b2b2b2", 4);
    // Inserted out of id order.
    for k in [&bobs, &revoked, &expired, &live] {
        repo.insert_api_key(k).await.unwrap();
    }
    repo.revoke_api_key(revoked.id, at(5)).await.unwrap();

    let mut expected = vec![live, expired.clone(), bobs];
    expected.sort_by_key(|k| k.id);
    assert_eq!(
        repo.list_unrevoked_api_keys().await.unwrap(),
        expected,
        "expired keys are listed too, revoked ones are not; by id"
    );
    assert!(!expired.is_usable(at(0)));
}

// ---------------------------------------------------------------------------------------------
// append_audit_events
// ---------------------------------------------------------------------------------------------

async fn audit_events_are_appended_in_batches_all_or_none(backend: Backend) {
    let Some((_database, repo)) = store(backend).await else {
        return;
    };
    repo.append_audit_events(&[]).await.unwrap();
    assert_eq!(all_events(&repo).await, vec![]);

    // Two share a time; one has no actor.
    let batch = [
        event(0, Some("alice"), "principals/bob"),
        event(1, None, "customers/acme"),
        event(1, Some("bob"), "roles/reader"),
    ];
    repo.append_audit_events(&batch).await.unwrap();
    assert_eq!(all_events(&repo).await, newest_first(&batch));

    // An id already stored: the error names it, and the new event of the batch is not written.
    let fresh = event(2, Some("carol"), "customers/globex");
    let with_stored = [fresh.clone(), batch[1].clone()];
    let error = repo.append_audit_events(&with_stored).await.unwrap_err();
    assert!(
        matches!(&error, AccessStoreError::AlreadyExists(id) if *id == batch[1].id.to_string()),
        "{error:?}"
    );
    assert_eq!(all_events(&repo).await, newest_first(&batch), "all or none");

    // An id twice in the same batch.
    let twice = [fresh.clone(), event(3, None, "x"), fresh.clone()];
    let error = repo.append_audit_events(&twice).await.unwrap_err();
    assert!(
        matches!(&error, AccessStoreError::AlreadyExists(id) if *id == fresh.id.to_string()),
        "{error:?}"
    );
    assert_eq!(all_events(&repo).await, newest_first(&batch), "all or none");

    // A single-event batch behaves like append_audit_event.
    repo.append_audit_events(std::slice::from_ref(&fresh)).await.unwrap();
    let error = repo.append_audit_event(&fresh).await.unwrap_err();
    assert!(matches!(error, AccessStoreError::AlreadyExists(_)), "{error:?}");
    let mut everything = batch.to_vec();
    everything.push(fresh);
    assert_eq!(all_events(&repo).await, newest_first(&everything));
}

async fn a_large_audit_batch_is_written_all_or_none(backend: Backend) {
    let Some((_database, repo)) = store(backend).await else {
        return;
    };
    // More events than one INSERT takes, so the batch is written in several statements.
    let stored = event(0, None, "first");
    repo.append_audit_event(&stored).await.unwrap();
    let mut batch: Vec<AuditEvent> = (1..=2500)
        .map(|i| event(i, Some("alice"), &format!("customers/c{i}")))
        .collect();
    batch.push(stored.clone());
    let error = repo.append_audit_events(&batch).await.unwrap_err();
    assert!(
        matches!(&error, AccessStoreError::AlreadyExists(id) if *id == stored.id.to_string()),
        "{error:?}"
    );
    assert_eq!(
        all_events(&repo).await,
        vec![stored.clone()],
        "nothing of the batch was written"
    );

    batch.pop();
    repo.append_audit_events(&batch).await.unwrap();
    let mut everything = batch;
    everything.push(stored);
    assert_eq!(all_events(&repo).await, newest_first(&everything));
}

// ---------------------------------------------------------------------------------------------
// until
// ---------------------------------------------------------------------------------------------

async fn audit_events_can_be_bounded_by_until(backend: Backend) {
    let Some((_database, repo)) = store(backend).await else {
        return;
    };
    let events: Vec<AuditEvent> = [0, 1, 1, 2, 3, 3, 4]
        .into_iter()
        .map(|offset| event(offset, Some(if offset % 2 == 0 { "alice" } else { "bob" }), "r"))
        .collect();
    // A microsecond before `at(3)`: `until` is exclusive, so this one is in and `at(3)` is out.
    let just_before = AuditEvent::new(
        at(3) - chrono::TimeDelta::microseconds(1),
        None,
        "access.manage",
        "r",
        AuditOutcome::Denied,
        "",
    );
    let mut all = events.clone();
    all.push(just_before);
    repo.append_audit_events(&all).await.unwrap();
    let newest = newest_first(&all);
    let select = |filter: &dyn Fn(&AuditEvent) -> bool| -> Vec<AuditEvent> {
        newest.iter().filter(|e| filter(e)).cloned().collect()
    };

    let until = AuditQuery {
        until: Some(at(3)),
        ..AuditQuery::newest(100)
    };
    assert_eq!(
        repo.list_audit_events(&until).await.unwrap(),
        select(&|e| e.time < at(3))
    );

    let window = AuditQuery {
        since: Some(at(1)),
        ..until.clone()
    };
    assert_eq!(
        repo.list_audit_events(&window).await.unwrap(),
        select(&|e| e.time >= at(1) && e.time < at(3))
    );
    let empty = AuditQuery {
        since: Some(at(2)),
        until: Some(at(2)),
        ..AuditQuery::newest(100)
    };
    assert_eq!(repo.list_audit_events(&empty).await.unwrap(), vec![]);

    // With another filter, and paged one event at a time.
    let bobs_until = AuditQuery {
        actor: Some(name("bob")),
        limit: 1,
        ..until
    };
    let mut paged = Vec::new();
    let mut query = bobs_until;
    loop {
        let page = repo.list_audit_events(&query).await.unwrap();
        let Some(last) = page.last() else { break };
        query.after = Some(last.cursor());
        paged.extend(page);
    }
    assert_eq!(
        paged,
        select(&|e| e.time < at(3) && e.actor.as_ref().is_some_and(|a| a.as_str() == "principals/bob"))
    );
}
