//! Tests of the access use cases over an in-memory store: self-lockout, built-in roles,
//! self-service, permission before existence, and time from the injected clock.

use std::{
    pin::pin,
    sync::{Mutex, PoisonError},
    task::{Context, Poll, Waker},
};

use chrono::TimeDelta;

use super::*;
use crate::{
    access::{ApiKeyPrefix, GradeSet, PermissionSet, PrincipalDisplayName, PrincipalKind, RoleTitle, Scope},
    clock::ManualClock,
};

// --- An in-memory store --------------------------------------------------------------------

/// The store's contents; every future it returns is ready at once.
#[derive(Debug, Default)]
struct Memory {
    principals: Vec<Principal>,
    roles: Vec<Role>,
    bindings: Vec<RoleBinding>,
    keys: Vec<ApiKeyRecord>,
}

#[derive(Debug, Default)]
struct FakeStore(Mutex<Memory>);

impl FakeStore {
    fn with<T>(&self, f: impl FnOnce(&mut Memory) -> T) -> T {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl AccessRepository for Arc<FakeStore> {
    async fn insert_principal(&self, principal: &Principal) -> Result<(), AccessStoreError> {
        self.with(|m| {
            if m.principals.iter().any(|p| p.name == principal.name) {
                return Err(AccessStoreError::AlreadyExists(principal.name.as_str().to_owned()));
            }
            m.principals.push(principal.clone());
            Ok(())
        })
    }

    async fn update_principal(&self, principal: &Principal) -> Result<(), AccessStoreError> {
        self.with(|m| match m.principals.iter_mut().find(|p| p.name == principal.name) {
            Some(stored) => {
                *stored = principal.clone();
                Ok(())
            }
            None => Err(AccessStoreError::NotFound(principal.name.as_str().to_owned())),
        })
    }

    async fn get_principal(&self, name: &PrincipalName) -> Result<Option<Principal>, AccessStoreError> {
        Ok(self.with(|m| m.principals.iter().find(|p| p.name == *name).cloned()))
    }

    async fn delete_principal(&self, name: &PrincipalName) -> Result<(), AccessStoreError> {
        self.with(|m| {
            let before = m.principals.len();
            m.principals.retain(|p| p.name != *name);
            if m.principals.len() == before {
                return Err(AccessStoreError::NotFound(name.as_str().to_owned()));
            }
            m.bindings.retain(|b| b.principal != *name);
            m.keys.retain(|k| k.principal != *name);
            Ok(())
        })
    }

    async fn list_principals(&self) -> Result<Vec<Principal>, AccessStoreError> {
        Ok(self.with(|m| m.principals.clone()))
    }

    async fn insert_role(&self, role: &Role) -> Result<(), AccessStoreError> {
        self.with(|m| {
            if m.roles.iter().any(|r| r.name == role.name) {
                return Err(AccessStoreError::AlreadyExists(role.name.as_str().to_owned()));
            }
            m.roles.push(role.clone());
            Ok(())
        })
    }

    async fn update_role(&self, role: &Role) -> Result<(), AccessStoreError> {
        self.with(|m| match m.roles.iter_mut().find(|r| r.name == role.name) {
            Some(stored) => {
                *stored = role.clone();
                Ok(())
            }
            None => Err(AccessStoreError::NotFound(role.name.as_str().to_owned())),
        })
    }

    async fn delete_role(&self, name: &RoleName) -> Result<(), AccessStoreError> {
        self.with(|m| {
            let before = m.roles.len();
            m.roles.retain(|r| r.name != *name);
            if m.roles.len() == before {
                return Err(AccessStoreError::NotFound(name.as_str().to_owned()));
            }
            Ok(())
        })
    }

    async fn list_roles(&self) -> Result<Vec<Role>, AccessStoreError> {
        Ok(self.with(|m| m.roles.clone()))
    }

    async fn insert_binding(&self, binding: &RoleBinding) -> Result<(), AccessStoreError> {
        self.with(|m| {
            if !m.principals.iter().any(|p| p.name == binding.principal) {
                return Err(AccessStoreError::NotFound(binding.principal.as_str().to_owned()));
            }
            m.bindings.push(binding.clone());
            Ok(())
        })
    }

    async fn delete_binding(&self, id: BindingId) -> Result<(), AccessStoreError> {
        self.with(|m| {
            let before = m.bindings.len();
            m.bindings.retain(|b| b.id != id);
            if m.bindings.len() == before {
                return Err(AccessStoreError::NotFound(id.to_string()));
            }
            Ok(())
        })
    }

    async fn list_bindings(&self) -> Result<Vec<RoleBinding>, AccessStoreError> {
        Ok(self.with(|m| m.bindings.clone()))
    }

    async fn insert_api_key(&self, key: &ApiKeyRecord) -> Result<(), AccessStoreError> {
        self.with(|m| {
            if !m.principals.iter().any(|p| p.name == key.principal) {
                return Err(AccessStoreError::NotFound(key.principal.as_str().to_owned()));
            }
            if m.keys.iter().any(|k| k.prefix == key.prefix) {
                return Err(AccessStoreError::AlreadyExists(key.prefix.as_str().to_owned()));
            }
            m.keys.push(key.clone());
            Ok(())
        })
    }

    async fn find_api_key_by_prefix(&self, prefix: &ApiKeyPrefix) -> Result<Option<ApiKeyRecord>, AccessStoreError> {
        Ok(self.with(|m| m.keys.iter().find(|k| k.prefix == *prefix).cloned()))
    }

    async fn revoke_api_key(&self, id: ApiKeyId, time: DateTime<Utc>) -> Result<ApiKeyRecord, AccessStoreError> {
        self.with(|m| match m.keys.iter_mut().find(|k| k.id == id) {
            Some(key) => {
                key.revoke_time = key.revoke_time.or(Some(time));
                Ok(key.clone())
            }
            None => Err(AccessStoreError::NotFound(id.to_string())),
        })
    }

    async fn list_unrevoked_api_keys(&self) -> Result<Vec<ApiKeyRecord>, AccessStoreError> {
        Ok(self.with(|m| m.keys.iter().filter(|k| k.revoke_time.is_none()).cloned().collect()))
    }

    async fn list_api_keys(&self, principal: &PrincipalName) -> Result<Vec<ApiKeyRecord>, AccessStoreError> {
        Ok(self.with(|m| m.keys.iter().filter(|k| k.principal == *principal).cloned().collect()))
    }

    async fn append_audit_event(&self, _event: &AuditEvent) -> Result<(), AccessStoreError> {
        Ok(())
    }

    async fn append_audit_events(&self, _events: &[AuditEvent]) -> Result<(), AccessStoreError> {
        Ok(())
    }

    async fn list_audit_events(&self, _query: &AuditQuery) -> Result<Vec<AuditEvent>, AccessStoreError> {
        Ok(Vec::new())
    }

    async fn load_snapshot(&self) -> Result<AccessSnapshot, AccessStoreError> {
        Ok(self.with(|m| AccessSnapshot::new(m.principals.clone(), m.roles.clone(), m.bindings.clone())))
    }
}

/// Runs a future of the in-memory store to completion: it never waits, so one poll does.
#[allow(clippy::panic)]
fn run<T>(future: impl Future<Output = T>) -> T {
    let mut future = pin!(future);
    match future.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(value) => value,
        Poll::Pending => panic!("the in-memory store never waits"),
    }
}

// --- Fixture -------------------------------------------------------------------------------

fn name(id: &str) -> PrincipalName {
    PrincipalName::from_id(id).unwrap()
}

fn user(id: &str) -> Principal {
    Principal {
        name: name(id),
        kind: PrincipalKind::User,
        display_name: PrincipalDisplayName::parse(id).unwrap(),
        department: None,
        staff_level: None,
        disabled: false,
    }
}

fn custom_role(id: &str) -> Role {
    Role {
        name: RoleName::from_id(id).unwrap(),
        title: RoleTitle::parse(id).unwrap(),
        permissions: PermissionSet::of(&[Permission::CustomersGet]),
        built_in: false,
    }
}

fn binding(principal: &str, role: BuiltInRole) -> RoleBinding {
    RoleBinding {
        id: BindingId::generate(),
        principal: name(principal),
        role: role.name(),
        scope: Scope::All,
        grades: GradeSet::empty(),
        expire_time: None,
    }
}

/// `admin` holds `roles/admin`; `rep` and `other` hold nothing; `roles/custom` is stored.
struct World {
    store: Arc<FakeStore>,
    clock: Arc<ManualClock>,
    admin: AccessAdmin<Arc<FakeStore>>,
}

impl World {
    fn new() -> Self {
        let store = Arc::new(FakeStore::default());
        store.with(|m| {
            m.principals = vec![user("admin"), user("rep"), user("other")];
            m.roles = vec![custom_role("custom")];
            m.bindings = vec![binding("admin", BuiltInRole::Admin)];
        });
        let clock = Arc::new(ManualClock::new());
        let admin = AccessAdmin::new(Arc::clone(&store), clock.clone());
        Self { store, clock, admin }
    }

    fn snapshot(&self) -> AccessSnapshot {
        run(self.store.load_snapshot()).unwrap()
    }

    fn principal(&self, id: &str) -> Option<Principal> {
        run(self.store.get_principal(&name(id))).unwrap()
    }
}

fn is_denied<T: std::fmt::Debug>(result: Result<T, AccessError>) -> bool {
    matches!(result, Err(AccessError::PermissionDenied(_)))
}

/// A key made the way the server makes one, with a fixed prefix.
fn key(prefix: &'static str) -> impl FnMut(PrincipalName, DateTime<Utc>, Option<DateTime<Utc>>) -> KeyMade {
    move |principal, create_time, expire_time| {
        KeyMade(ApiKeyRecord {
            id: ApiKeyId::generate(),
            prefix: ApiKeyPrefix::parse(prefix).unwrap(),
            principal,
            secret_hash: [7; 32],
            create_time,
            expire_time,
            revoke_time: None,
        })
    }
}

#[derive(Debug)]
struct KeyMade(ApiKeyRecord);

impl AsRef<ApiKeyRecord> for KeyMade {
    fn as_ref(&self) -> &ApiKeyRecord {
        &self.0
    }
}

// --- Self-lockout --------------------------------------------------------------------------

#[test]
fn an_administrator_cannot_disable_itself_but_can_disable_another() {
    let world = World::new();
    let snapshot = world.snapshot();
    let me = name("admin");
    let auth = world.admin.authorizer(&snapshot, &me);

    let result = run(world
        .admin
        .update_principal(&auth, &me, &[PrincipalChange::Disabled(true)]));
    assert!(
        matches!(
            &result,
            Err(AccessError::SelfLockout { principal, action: LockoutAction::Disable }) if *principal == me
        ),
        "{result:?}"
    );
    assert!(!world.principal("admin").unwrap().disabled, "nothing was stored");

    // Changing anything else of itself, or enabling itself, is fine.
    let renamed = PrincipalDisplayName::parse("The Admin").unwrap();
    let changes = [
        PrincipalChange::DisplayName(renamed.clone()),
        PrincipalChange::Disabled(false),
    ];
    let updated = run(world.admin.update_principal(&auth, &me, &changes)).unwrap();
    assert_eq!(updated.display_name, renamed);

    let other = run(world
        .admin
        .update_principal(&auth, &name("rep"), &[PrincipalChange::Disabled(true)]))
    .unwrap();
    assert!(other.disabled);
    assert!(world.principal("rep").unwrap().disabled);
}

#[test]
fn an_administrator_cannot_delete_itself_but_can_delete_another() {
    let world = World::new();
    let snapshot = world.snapshot();
    let me = name("admin");
    let auth = world.admin.authorizer(&snapshot, &me);

    let result = run(world.admin.delete_principal(&auth, &me));
    assert!(
        matches!(
            result,
            Err(AccessError::SelfLockout {
                action: LockoutAction::Delete,
                ..
            })
        ),
        "{result:?}"
    );
    assert!(world.principal("admin").is_some());

    run(world.admin.delete_principal(&auth, &name("rep"))).unwrap();
    assert!(world.principal("rep").is_none());
    let again = run(world.admin.delete_principal(&auth, &name("rep")));
    assert!(matches!(again, Err(AccessError::PrincipalNotFound(n)) if n == name("rep")));
}

#[test]
fn permission_is_decided_before_the_lockout_rule_and_before_existence() {
    let world = World::new();
    let snapshot = world.snapshot();
    let rep = name("rep");
    let auth = world.admin.authorizer(&snapshot, &rep);
    // Without access.manage, disabling or deleting itself is denied, not a lockout.
    assert!(is_denied(run(world.admin.update_principal(
        &auth,
        &rep,
        &[PrincipalChange::Disabled(true)]
    ))));
    assert!(is_denied(run(world.admin.delete_principal(&auth, &rep))));
    // A principal that does not exist is denied just like one that does (AIP-211).
    assert!(is_denied(world.admin.get_principal(&auth, &name("ghost"))));
    assert!(is_denied(world.admin.get_principal(&auth, &name("other"))));
    assert!(is_denied(run(world.admin.delete_principal(&auth, &name("ghost")))));
    assert!(is_denied(run(world.admin.list_api_keys(&auth, &name("ghost"), None))));
    let unknown = BindingId::generate();
    assert!(is_denied(world.admin.get_binding(&auth, unknown)));
    assert!(is_denied(run(world.admin.delete_binding(&auth, unknown))));
}

// --- Built-in roles ------------------------------------------------------------------------

#[test]
fn built_in_roles_cannot_be_created_changed_or_deleted() {
    let world = World::new();
    let snapshot = world.snapshot();
    let me = name("admin");
    let auth = world.admin.authorizer(&snapshot, &me);

    for built_in in BuiltInRole::ALL {
        let role = built_in.name();
        let changes = [RoleChange::Title(RoleTitle::parse("Mine now").unwrap())];
        let changed = run(world.admin.update_role(&auth, &role, &changes));
        assert!(
            matches!(&changed, Err(AccessError::RoleBuiltIn { role: r, edit: BuiltInEdit::Change }) if *r == role),
            "{changed:?}"
        );
        let deleted = run(world.admin.delete_role(&auth, &role));
        assert!(
            matches!(
                deleted,
                Err(AccessError::RoleBuiltIn {
                    edit: BuiltInEdit::Delete,
                    ..
                })
            ),
            "{role}"
        );
        let created = run(world.admin.create_role(&auth, built_in.role()));
        assert!(
            matches!(&created, Err(AccessError::RoleAlreadyExists(r)) if *r == role),
            "{created:?}"
        );
        // It is still there, as defined in code.
        assert_eq!(world.admin.get_role(&auth, &role).unwrap(), &built_in.role());
    }
    assert_eq!(world.store.with(|m| m.roles.len()), 1, "nothing was stored");
}

#[test]
fn custom_roles_can_be_changed_and_deleted_with_access_manage_only() {
    let world = World::new();
    let snapshot = world.snapshot();
    let custom = RoleName::from_id("custom").unwrap();
    let rep = name("rep");
    let as_rep = world.admin.authorizer(&snapshot, &rep);
    let changes = [RoleChange::Permissions(PermissionSet::of(&[Permission::CustomersList]))];
    assert!(is_denied(run(world.admin.update_role(&as_rep, &custom, &changes))));
    // Even a built-in role: permission first.
    assert!(is_denied(run(world
        .admin
        .delete_role(&as_rep, &BuiltInRole::Admin.name()))));

    let me = name("admin");
    let auth = world.admin.authorizer(&snapshot, &me);
    let updated = run(world.admin.update_role(&auth, &custom, &changes)).unwrap();
    assert_eq!(updated.permissions, PermissionSet::of(&[Permission::CustomersList]));
    run(world.admin.delete_role(&auth, &custom)).unwrap();
    let missing = run(world.admin.delete_role(&auth, &custom));
    assert!(matches!(missing, Err(AccessError::RoleNotFound(r)) if r == custom));
}

// --- Self-service --------------------------------------------------------------------------

#[test]
fn a_principal_without_access_manage_serves_itself_only() {
    let world = World::new();
    let snapshot = world.snapshot();
    let rep = name("rep");
    let auth = world.admin.authorizer(&snapshot, &rep);

    assert_eq!(world.admin.get_principal(&auth, &rep).unwrap().name, rep);
    assert!(world.admin.list_bindings(&auth, Some(&rep), None).unwrap().is_empty());
    assert!(is_denied(world.admin.list_bindings(&auth, None, None)));
    assert!(is_denied(world.admin.list_bindings(&auth, Some(&name("admin")), None)));
    assert!(is_denied(world.admin.list_principals(&auth, None)));

    let made = run(world.admin.create_api_key(&auth, &rep, None, key("aaaa1111"))).unwrap();
    let keys = run(world.admin.list_api_keys(&auth, &rep, None)).unwrap();
    assert_eq!(keys, vec![made.0.clone()]);
    let revoked = run(world.admin.revoke_api_key(&auth, &rep, made.0.id)).unwrap();
    assert!(revoked.revoke_time.is_some());

    let other = name("other");
    assert!(is_denied(run(world.admin.create_api_key(
        &auth,
        &other,
        None,
        key("bbbb2222")
    ))));
    assert!(is_denied(run(world.admin.list_api_keys(&auth, &other, None))));
    assert!(is_denied(run(world.admin.revoke_api_key(&auth, &other, made.0.id))));
    // Roles are readable by anyone authenticated.
    assert!(world.admin.list_roles(&auth, None).len() > BuiltInRole::ALL.len());
}

#[test]
fn a_key_is_found_only_under_its_own_principal() {
    let world = World::new();
    let snapshot = world.snapshot();
    let me = name("admin");
    let auth = world.admin.authorizer(&snapshot, &me);
    let made = run(world.admin.create_api_key(&auth, &name("rep"), None, key("cccc3333"))).unwrap();
    let elsewhere = run(world.admin.revoke_api_key(&auth, &name("other"), made.0.id));
    assert!(
        matches!(&elsewhere, Err(AccessError::ApiKeyNotFound(p, id)) if *p == name("other") && *id == made.0.id),
        "{elsewhere:?}"
    );
    let missing = run(world.admin.create_api_key(&auth, &name("ghost"), None, key("dddd4444")));
    assert!(matches!(missing, Err(AccessError::PrincipalNotFound(p)) if p == name("ghost")));
}

#[test]
fn a_taken_key_prefix_is_drawn_again_a_few_times() {
    let world = World::new();
    let snapshot = world.snapshot();
    let me = name("admin");
    let auth = world.admin.authorizer(&snapshot, &me);
    run(world.admin.create_api_key(&auth, &me, None, key("eeee5555"))).unwrap();
    let mut draws = 0;
    let result = run(world.admin.create_api_key(&auth, &me, None, |p, now, expire| {
        draws += 1;
        key("eeee5555")(p, now, expire)
    }));
    assert!(matches!(result, Err(AccessError::Unexpected(_))), "{result:?}");
    assert_eq!(draws, KEY_ATTEMPTS);
}

#[test]
fn bindings_need_an_existing_principal_and_role() {
    let world = World::new();
    let snapshot = world.snapshot();
    let me = name("admin");
    let auth = world.admin.authorizer(&snapshot, &me);
    let mut ghost = binding("ghost", BuiltInRole::Admin);
    let result = run(world.admin.create_binding(&auth, &ghost));
    assert!(matches!(result, Err(AccessError::PrincipalNotFound(p)) if p == name("ghost")));
    ghost.principal = name("rep");
    ghost.role = RoleName::from_id("nothing").unwrap();
    let result = run(world.admin.create_binding(&auth, &ghost));
    assert!(matches!(result, Err(AccessError::RoleNotFound(_))));
    // A custom role stored a moment ago on another replica counts, though this snapshot lacks it.
    run(world.store.insert_role(&custom_role("fresh"))).unwrap();
    ghost.role = RoleName::from_id("fresh").unwrap();
    run(world.admin.create_binding(&auth, &ghost)).unwrap();
    let later = world.snapshot();
    let rep = name("rep");
    let as_rep = world.admin.authorizer(&later, &rep);
    assert_eq!(world.admin.get_binding(&as_rep, ghost.id).unwrap(), ghost);
}

// --- Time ----------------------------------------------------------------------------------

#[test]
fn keys_are_created_and_revoked_at_the_injected_clock_s_now() {
    let world = World::new();
    world.clock.advance(TimeDelta::days(100));
    let snapshot = world.snapshot();
    let me = name("admin");
    let auth = world.admin.authorizer(&snapshot, &me);
    let ahead = Utc::now() + TimeDelta::days(99);
    assert!(auth.now() > ahead);
    let made = run(world.admin.create_api_key(&auth, &me, None, key("ffff6666"))).unwrap();
    assert_eq!(made.0.create_time, auth.now());
    let revoked = run(world.admin.revoke_api_key(&auth, &me, made.0.id)).unwrap();
    assert_eq!(revoked.revoke_time, Some(auth.now()));
}
