//! The access-control store (`SqlAccessRepository`) on both backends: every method of the
//! `AccessRepository` port round-trips, the error contract holds (duplicates, unknown
//! principals, unknown ids), keys revoke, the audit log filters and pages newest first, and the
//! snapshot loaded from storage answers access checks.

use crm_domain::{
    access::{
        AccessStoreError, ApiKeyId, ApiKeyPrefix, ApiKeyRecord, AuditEvent, AuditOutcome, AuditQuery, BindingId,
        CustomerFacts, Permission, PermissionSet, Principal, PrincipalDisplayName, PrincipalKind, Reason, Role,
        RoleBinding, RoleName, RoleTitle, Scope, StaffLevel,
    },
    customer::values::{Department, PrincipalName},
    ports::AccessRepository,
};
use crm_persistence::{Database, SqlAccessRepository};
use crm_tests::{Backend, TestDatabase};
use sea_orm::prelude::ChronoDateTimeUtc;

/// A fresh, migrated database and a repository on it; `None` when the backend is skipped.
async fn store(backend: Backend) -> Option<(TestDatabase, SqlAccessRepository)> {
    let database = TestDatabase::create(backend).await?;
    let db = Database::connect(database.url(), 4).await.expect("connect");
    db.migrate().await.expect("migrate");
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

fn service(id: &str) -> Principal {
    Principal {
        name: name(id),
        kind: PrincipalKind::Service,
        display_name: PrincipalDisplayName::parse("Order system").unwrap(),
        department: None,
        staff_level: None,
        disabled: false,
    }
}

fn custom_role(id: &str, permissions: &[Permission]) -> Role {
    Role {
        name: RoleName::from_id(id).unwrap(),
        title: RoleTitle::parse(&format!("Role {id}")).unwrap(),
        permissions: PermissionSet::of(permissions),
        built_in: false,
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

// ---------------------------------------------------------------------------------------------
// Principals
// ---------------------------------------------------------------------------------------------

async fn principals_round_trip_and_report_duplicates_and_unknowns(backend: Backend) {
    let Some((_database, repo)) = store(backend).await else {
        return;
    };
    let alice = user("alice", Some("east"));
    let order_system = service("order-system");
    repo.insert_principal(&order_system).await.unwrap();
    repo.insert_principal(&alice).await.unwrap();

    assert_eq!(repo.get_principal(&alice.name).await.unwrap(), Some(alice.clone()));
    assert_eq!(repo.get_principal(&name("ghost")).await.unwrap(), None);
    assert_eq!(
        repo.list_principals().await.unwrap(),
        vec![alice.clone(), order_system.clone()],
        "listed by name"
    );

    let duplicate = repo.insert_principal(&user("alice", None)).await.unwrap_err();
    assert!(
        matches!(&duplicate, AccessStoreError::AlreadyExists(n) if n == "principals/alice"),
        "{duplicate:?}"
    );
    assert_eq!(repo.get_principal(&alice.name).await.unwrap(), Some(alice.clone()));

    let changed = Principal {
        display_name: PrincipalDisplayName::parse("Alice Li").unwrap(),
        department: None,
        staff_level: Some(StaffLevel::Senior),
        disabled: true,
        ..alice.clone()
    };
    repo.update_principal(&changed).await.unwrap();
    repo.update_principal(&changed).await.unwrap();
    assert_eq!(repo.get_principal(&alice.name).await.unwrap(), Some(changed));

    let missing = repo.update_principal(&user("ghost", None)).await.unwrap_err();
    assert!(
        matches!(&missing, AccessStoreError::NotFound(n) if n == "principals/ghost"),
        "{missing:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Roles
// ---------------------------------------------------------------------------------------------

async fn custom_roles_round_trip_and_built_ins_are_never_stored(backend: Backend) {
    let Some((_database, repo)) = store(backend).await else {
        return;
    };
    assert_eq!(
        repo.list_roles().await.unwrap(),
        vec![],
        "built-in roles are not stored"
    );

    let reader = custom_role("reader", &[Permission::CustomersGet, Permission::CustomersList]);
    let everything = Role {
        permissions: PermissionSet::all(),
        ..custom_role("everything", &[])
    };
    repo.insert_role(&reader).await.unwrap();
    repo.insert_role(&everything).await.unwrap();
    assert_eq!(
        repo.list_roles().await.unwrap(),
        vec![everything.clone(), reader.clone()]
    );

    let duplicate = repo.insert_role(&reader).await.unwrap_err();
    assert!(
        matches!(&duplicate, AccessStoreError::AlreadyExists(n) if n == "roles/reader"),
        "{duplicate:?}"
    );
    let built_in = repo.insert_role(&custom_role("admin", &[])).await.unwrap_err();
    assert!(
        matches!(&built_in, AccessStoreError::AlreadyExists(n) if n == "roles/admin"),
        "{built_in:?}"
    );

    let renamed = Role {
        title: RoleTitle::parse("Read-only").unwrap(),
        permissions: PermissionSet::of(&[Permission::CustomersGet]),
        ..reader.clone()
    };
    repo.update_role(&renamed).await.unwrap();
    assert_eq!(repo.list_roles().await.unwrap(), vec![everything.clone(), renamed]);
    for unknown in ["ghost", "admin"] {
        let error = repo.update_role(&custom_role(unknown, &[])).await.unwrap_err();
        assert!(matches!(error, AccessStoreError::NotFound(_)), "{unknown}: {error:?}");
    }

    repo.delete_role(&reader.name).await.unwrap();
    assert_eq!(repo.list_roles().await.unwrap(), vec![everything]);
    let again = repo.delete_role(&reader.name).await.unwrap_err();
    assert!(
        matches!(&again, AccessStoreError::NotFound(n) if n == "roles/reader"),
        "{again:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Bindings
// ---------------------------------------------------------------------------------------------

async fn bindings_round_trip_and_need_an_existing_principal(backend: Backend) {
    let Some((_database, repo)) = store(backend).await else {
        return;
    };
    repo.insert_principal(&user("alice", Some("east"))).await.unwrap();
    repo.insert_principal(&user("bob", None)).await.unwrap();

    let first = binding("alice", "sales_rep", Scope::Own);
    let second = RoleBinding {
        expire_time: Some(ChronoDateTimeUtc::from_timestamp_micros(1_750_000_000_123_456).unwrap()),
        ..binding("bob", "support", Scope::Department)
    };
    let third = binding("alice", "custom_role", Scope::All);
    for b in [&second, &first, &third] {
        repo.insert_binding(b).await.unwrap();
    }
    let mut expected = vec![first.clone(), second.clone(), third.clone()];
    expected.sort_by_key(|b| b.id);
    assert_eq!(repo.list_bindings().await.unwrap(), expected, "listed by id");

    let orphan = repo
        .insert_binding(&binding("ghost", "admin", Scope::All))
        .await
        .unwrap_err();
    assert!(
        matches!(&orphan, AccessStoreError::NotFound(n) if n == "principals/ghost"),
        "{orphan:?}"
    );
    let duplicate = repo.insert_binding(&first).await.unwrap_err();
    assert!(
        matches!(&duplicate, AccessStoreError::AlreadyExists(n) if *n == first.id.to_string()),
        "{duplicate:?}"
    );

    repo.delete_binding(first.id).await.unwrap();
    let mut expected = vec![second, third];
    expected.sort_by_key(|b| b.id);
    assert_eq!(repo.list_bindings().await.unwrap(), expected);
    let again = repo.delete_binding(first.id).await.unwrap_err();
    assert!(matches!(again, AccessStoreError::NotFound(_)), "{again:?}");
}

// ---------------------------------------------------------------------------------------------
// API keys
// ---------------------------------------------------------------------------------------------

async fn api_keys_round_trip_revoke_and_reject_duplicates(backend: Backend) {
    let Some((_database, repo)) = store(backend).await else {
        return;
    };
    repo.insert_principal(&user("alice", None)).await.unwrap();
    repo.insert_principal(&user("bob", None)).await.unwrap();

    let first = key("alice", "ab12cd34", 0);
    let second = ApiKeyRecord {
        expire_time: Some(at(3600)),
        ..key("alice", "zz99yy88", 200)
    };
    let bobs = key("bob", "b0b0b0b0", 17);
    for k in [&first, &second, &bobs] {
        repo.insert_api_key(k).await.unwrap();
    }

    assert_eq!(
        repo.find_api_key_by_prefix(&first.prefix).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        repo.find_api_key_by_prefix(&ApiKeyPrefix::parse("00000000").unwrap())
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        repo.list_api_keys(&name("alice")).await.unwrap(),
        vec![first.clone(), second.clone()]
    );
    assert_eq!(repo.list_api_keys(&name("ghost")).await.unwrap(), vec![]);

    let same_prefix = ApiKeyRecord {
        id: ApiKeyId::generate(),
        ..first.clone()
    };
    let error = repo.insert_api_key(&same_prefix).await.unwrap_err();
    assert!(matches!(error, AccessStoreError::AlreadyExists(_)), "{error:?}");
    let orphan = repo.insert_api_key(&key("ghost", "g0g0g0g0", 1)).await.unwrap_err();
    assert!(
        matches!(&orphan, AccessStoreError::NotFound(n) if n == "principals/ghost"),
        "{orphan:?}"
    );

    assert!(first.is_usable(at(10)));
    let revoked = repo.revoke_api_key(first.id, at(10)).await.unwrap();
    assert_eq!(
        revoked,
        ApiKeyRecord {
            revoke_time: Some(at(10)),
            ..first.clone()
        }
    );
    assert!(!revoked.is_usable(at(11)));
    assert_eq!(
        repo.find_api_key_by_prefix(&first.prefix).await.unwrap(),
        Some(revoked.clone())
    );
    assert_eq!(
        repo.revoke_api_key(first.id, at(20)).await.unwrap(),
        revoked,
        "revoking again keeps the first revoke time"
    );
    let unknown = repo.revoke_api_key(ApiKeyId::generate(), at(20)).await.unwrap_err();
    assert!(matches!(unknown, AccessStoreError::NotFound(_)), "{unknown:?}");
    assert_eq!(
        repo.find_api_key_by_prefix(&second.prefix).await.unwrap(),
        Some(second),
        "other keys are untouched"
    );
}

// ---------------------------------------------------------------------------------------------
// Audit
// ---------------------------------------------------------------------------------------------

async fn audit_events_list_newest_first_with_filters_and_keyset_paging(backend: Backend) {
    let Some((_database, repo)) = store(backend).await else {
        return;
    };
    let alice = Some(name("alice"));
    let bob = Some(name("bob"));
    // Some events share a time, so paging must break ties on the id.
    let events = [
        AuditEvent::new(
            at(0),
            alice.clone(),
            "customers.create",
            "customers/acme",
            AuditOutcome::Allowed,
            "",
        ),
        AuditEvent::new(
            at(1),
            bob.clone(),
            "customers.get",
            "customers/acme",
            AuditOutcome::Denied,
            "OUT_OF_SCOPE",
        ),
        AuditEvent::new(
            at(1),
            bob.clone(),
            "customers.get",
            "customers/globex",
            AuditOutcome::Allowed,
            "",
        ),
        AuditEvent::new(
            at(1),
            alice.clone(),
            "customers.update",
            "customers/acme",
            AuditOutcome::Failed,
            "etag",
        ),
        AuditEvent::new(
            at(2),
            None,
            "crm.v1.CustomerService/GetCustomer",
            "customers/acme",
            AuditOutcome::Denied,
            "unauthenticated",
        ),
        AuditEvent::new(
            at(3),
            alice.clone(),
            "access.manage",
            "principals/bob",
            AuditOutcome::Allowed,
            "disabled",
        ),
        AuditEvent::new(
            ChronoDateTimeUtc::from_timestamp_micros(1_750_000_003_000_001).unwrap(),
            bob.clone(),
            "customers.get",
            "customers/acme",
            AuditOutcome::Allowed,
            "",
        ),
    ];
    for event in &events {
        repo.append_audit_event(event).await.unwrap();
    }
    let duplicate = repo.append_audit_event(&events[0]).await.unwrap_err();
    assert!(matches!(duplicate, AccessStoreError::AlreadyExists(_)), "{duplicate:?}");

    let mut newest_first = events.to_vec();
    newest_first.sort_by_key(|e| std::cmp::Reverse(e.cursor()));
    assert_eq!(
        repo.list_audit_events(&AuditQuery::newest(100)).await.unwrap(),
        newest_first
    );

    // Pages of 3 follow one another with neither gaps nor repeats.
    let mut paged = Vec::new();
    let mut query = AuditQuery::newest(3);
    loop {
        let page = repo.list_audit_events(&query).await.unwrap();
        assert!(page.len() <= 3);
        let Some(last) = page.last() else { break };
        query.after = Some(last.cursor());
        paged.extend(page);
    }
    assert_eq!(paged, newest_first);

    let select = |filter: fn(&AuditEvent) -> bool| -> Vec<AuditEvent> {
        newest_first.iter().filter(|e| filter(e)).cloned().collect()
    };
    let by_actor = AuditQuery {
        actor: bob.clone(),
        ..AuditQuery::newest(100)
    };
    assert_eq!(
        repo.list_audit_events(&by_actor).await.unwrap(),
        select(|e| e.actor.as_ref().is_some_and(|a| a.as_str() == "principals/bob"))
    );
    let by_resource_and_action = AuditQuery {
        resource: Some("customers/acme".into()),
        action: Some("customers.get".into()),
        ..AuditQuery::newest(100)
    };
    assert_eq!(
        repo.list_audit_events(&by_resource_and_action).await.unwrap(),
        select(|e| e.resource == "customers/acme" && e.action == "customers.get")
    );
    let since = AuditQuery {
        since: Some(at(2)),
        ..AuditQuery::newest(100)
    };
    assert_eq!(
        repo.list_audit_events(&since).await.unwrap(),
        select(|e| e.time >= at(2))
    );

    // Filters and paging together.
    let first_page = repo
        .list_audit_events(&AuditQuery {
            limit: 1,
            ..by_actor.clone()
        })
        .await
        .unwrap();
    let rest = repo
        .list_audit_events(&AuditQuery {
            after: first_page.last().map(AuditEvent::cursor),
            ..by_actor
        })
        .await
        .unwrap();
    let all_of_bob = select(|e| e.actor.as_ref().is_some_and(|a| a.as_str() == "principals/bob"));
    assert_eq!([first_page, rest].concat(), all_of_bob);
}

// ---------------------------------------------------------------------------------------------
// Snapshot
// ---------------------------------------------------------------------------------------------

async fn the_loaded_snapshot_answers_checks(backend: Backend) {
    let Some((_database, repo)) = store(backend).await else {
        return;
    };
    let mut carol = user("carol", Some("east"));
    repo.insert_principal(&user("alice", Some("east"))).await.unwrap();
    repo.insert_principal(&user("bob", Some("west"))).await.unwrap();
    repo.insert_principal(&carol).await.unwrap();
    repo.insert_role(&custom_role("reader", &[Permission::CustomersGet]))
        .await
        .unwrap();
    let alices = binding("alice", "sales_rep", Scope::Own);
    repo.insert_binding(&alices).await.unwrap();
    repo.insert_binding(&binding("bob", "reader", Scope::Department))
        .await
        .unwrap();
    repo.insert_binding(&binding("carol", "admin", Scope::All))
        .await
        .unwrap();

    let snapshot = repo.load_snapshot().await.unwrap();
    assert_eq!(snapshot.principal_count(), 3);
    assert_eq!(snapshot.binding_count(), 3);
    assert_eq!(snapshot.roles().len(), 7, "six built-in roles and one custom role");

    let now = at(0);
    let owned_by = |owner: &str, department: &str| CustomerFacts {
        owner: Some(name(owner)),
        department: Some(Department::parse(department).unwrap()),
        grade: None,
    };
    let allowed = snapshot.check(
        &name("alice"),
        Permission::CustomersGet,
        Some(&owned_by("alice", "west")),
        now,
    );
    assert_eq!(
        allowed.reason(),
        &Reason::Granted {
            binding: alices.id,
            role: RoleName::from_id("sales_rep").unwrap(),
            scope: Scope::Own,
        }
    );
    let denied = snapshot.check(
        &name("alice"),
        Permission::CustomersGet,
        Some(&owned_by("bob", "east")),
        now,
    );
    assert!(!denied.allowed());
    assert_eq!(denied.reason().code(), "OUT_OF_SCOPE");

    // The custom role, with scope DEPARTMENT.
    assert!(
        snapshot
            .check(
                &name("bob"),
                Permission::CustomersGet,
                Some(&owned_by("alice", "west")),
                now
            )
            .allowed()
    );
    assert!(
        !snapshot
            .check(
                &name("bob"),
                Permission::CustomersGet,
                Some(&owned_by("alice", "east")),
                now
            )
            .allowed()
    );
    assert_eq!(
        snapshot
            .check(
                &name("bob"),
                Permission::CustomersDelete,
                Some(&owned_by("bob", "west")),
                now
            )
            .reason(),
        &Reason::NoBindingWithPermission
    );
    assert!(
        snapshot
            .check(
                &name("carol"),
                Permission::CustomersDelete,
                Some(&owned_by("bob", "west")),
                now
            )
            .allowed()
    );

    // Changes are seen by the next snapshot: a disabled principal is denied everything.
    carol.disabled = true;
    repo.update_principal(&carol).await.unwrap();
    let snapshot = repo.load_snapshot().await.unwrap();
    assert_eq!(
        snapshot
            .check(
                &name("carol"),
                Permission::CustomersGet,
                Some(&owned_by("carol", "east")),
                now
            )
            .reason(),
        &Reason::PrincipalDisabled
    );
    assert_eq!(
        snapshot
            .check(&name("ghost"), Permission::CustomersGet, None, now)
            .reason(),
        &Reason::PrincipalNotFound
    );
}

crm_tests::on_both_backends!(
    principals_round_trip_and_report_duplicates_and_unknowns,
    custom_roles_round_trip_and_built_ins_are_never_stored,
    bindings_round_trip_and_need_an_existing_principal,
    api_keys_round_trip_revoke_and_reject_duplicates,
    audit_events_list_newest_first_with_filters_and_keyset_paging,
    the_loaded_snapshot_answers_checks,
);
