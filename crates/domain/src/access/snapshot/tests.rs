//! Tests of the access snapshot: [`AccessSnapshot`] and [`ListScope`].

use chrono::TimeDelta;
use proptest::prelude::*;

use super::*;
use crate::access::binding::BindingId;
use crate::access::principal::{PrincipalDisplayName, PrincipalKind};
use crate::access::role::RoleTitle;
use crate::classification::Grade;
use Permission::*;

// --- Fixture -------------------------------------------------------------------------------

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_750_000_000, 0).unwrap()
}

fn name(id: &str) -> PrincipalName {
    PrincipalName::from_id(id).unwrap()
}

fn dept(id: &str) -> Department {
    Department::parse(id).unwrap()
}

fn role(id: &str) -> RoleName {
    RoleName::from_id(id).unwrap()
}

fn user(id: &str, department: Option<&str>) -> Principal {
    Principal {
        name: name(id),
        kind: PrincipalKind::User,
        display_name: PrincipalDisplayName::parse(id).unwrap(),
        department: department.map(dept),
        staff_level: None,
        disabled: false,
    }
}

fn bid(n: u128) -> BindingId {
    BindingId::from_uuid(uuid::Uuid::from_u128(n))
}

fn bind(n: u128, principal: &str, role_id: &str, scope: Scope) -> RoleBinding {
    RoleBinding {
        id: bid(n),
        principal: name(principal),
        role: role(role_id),
        scope,
        grades: GradeSet::empty(),
        expire_time: None,
    }
}

fn grades(grades: &[Grade]) -> GradeSet {
    grades.iter().copied().collect()
}

fn limited(binding: RoleBinding, only: &[Grade]) -> RoleBinding {
    RoleBinding {
        grades: grades(only),
        ..binding
    }
}

fn expiring(binding: RoleBinding, expire_time: DateTime<Utc>) -> RoleBinding {
    RoleBinding {
        expire_time: Some(expire_time),
        ..binding
    }
}

fn customer(owner: Option<&str>, department: Option<&str>) -> CustomerFacts {
    CustomerFacts {
        owner: owner.map(name),
        department: department.map(dept),
        grade: None,
    }
}

fn graded(customer: CustomerFacts, grade: Grade) -> CustomerFacts {
    CustomerFacts {
        grade: Some(grade),
        ..customer
    }
}

fn owners(owners: &[&str]) -> Vec<(PrincipalName, GradeSet)> {
    owners.iter().map(|o| (name(o), GradeSet::empty())).collect()
}

fn departments(departments: &[&str]) -> Vec<(Department, GradeSet)> {
    departments.iter().map(|d| (dept(d), GradeSet::empty())).collect()
}

fn snapshot(principals: Vec<Principal>, bindings: Vec<RoleBinding>) -> AccessSnapshot {
    AccessSnapshot::new(principals, [], bindings)
}

fn granted(n: u128, role_id: &str, scope: Scope) -> Reason {
    Reason::Granted {
        binding: bid(n),
        role: role(role_id),
        scope,
    }
}

fn out_of_scope(n: u128, role_id: &str, scope: Scope) -> Reason {
    Reason::OutOfScope {
        binding: bid(n),
        role: role(role_id),
        scope,
    }
}

fn grade_not_covered(n: u128, role_id: &str, scope: Scope, only: &[Grade]) -> Reason {
    Reason::GradeNotCovered {
        binding: bid(n),
        role: role(role_id),
        scope,
        grades: grades(only),
    }
}

fn expired(n: u128, role_id: &str) -> Reason {
    Reason::BindingExpired {
        binding: bid(n),
        role: role(role_id),
    }
}

/// Checks and returns the reason, asserting that `allowed` agrees with it.
fn reason(
    snapshot: &AccessSnapshot,
    principal: &str,
    permission: Permission,
    customer: Option<&CustomerFacts>,
) -> Reason {
    let decision = snapshot.check(&name(principal), permission, customer, now());
    assert_eq!(decision.allowed(), decision.reason().is_granted());
    decision.into_reason()
}

#[test]
fn live_roles_are_those_of_unexpired_bindings() {
    let s = snapshot(
        vec![user("alice", None)],
        vec![
            bind(1, "alice", "analyst", Scope::All),
            expiring(bind(2, "alice", "admin", Scope::All), now()),
            expiring(bind(3, "alice", "support", Scope::Own), now() + TimeDelta::seconds(1)),
        ],
    );
    let roles: Vec<&str> = s.live_roles(&name("alice"), now()).map(RoleName::as_str).collect();
    assert_eq!(roles, ["roles/analyst", "roles/support"]);
    assert_eq!(s.live_roles(&name("nobody"), now()).count(), 0);
}

// --- Each reason ---------------------------------------------------------------------------

#[test]
fn a_binding_with_scope_all_grants_for_any_customer() {
    let s = snapshot(vec![user("alice", None)], vec![bind(1, "alice", "admin", Scope::All)]);
    for c in [
        customer(None, None),
        customer(Some("bob"), Some("west")),
        customer(Some("alice"), None),
    ] {
        for permission in Permission::ALL {
            assert_eq!(
                reason(&s, "alice", permission, Some(&c)),
                granted(1, "admin", Scope::All),
                "{permission}"
            );
        }
    }
}

#[test]
fn scope_own_grants_for_owned_customers_and_is_out_of_scope_for_others() {
    let s = snapshot(
        vec![user("alice", Some("east"))],
        vec![bind(1, "alice", "sales_rep", Scope::Own)],
    );
    let owned = customer(Some("alice"), Some("west"));
    assert_eq!(
        reason(&s, "alice", CustomersUpdate, Some(&owned)),
        granted(1, "sales_rep", Scope::Own)
    );
    for other in [
        customer(Some("bob"), Some("east")),
        customer(None, Some("east")),
        customer(None, None),
    ] {
        assert_eq!(
            reason(&s, "alice", CustomersUpdate, Some(&other)),
            out_of_scope(1, "sales_rep", Scope::Own),
            "{other:?}"
        );
    }
}

#[test]
fn scope_department_grants_for_the_principals_department_and_is_out_of_scope_for_others() {
    let s = snapshot(
        vec![user("bob", Some("east"))],
        vec![bind(1, "bob", "manager", Scope::Department)],
    );
    let in_east = customer(Some("carol"), Some("east"));
    assert_eq!(
        reason(&s, "bob", CustomersDelete, Some(&in_east)),
        granted(1, "manager", Scope::Department)
    );
    for other in [
        customer(Some("bob"), Some("west")),
        customer(Some("bob"), None),
        customer(None, None),
    ] {
        assert_eq!(
            reason(&s, "bob", CustomersDelete, Some(&other)),
            out_of_scope(1, "manager", Scope::Department),
            "{other:?}"
        );
    }
}

#[test]
fn scope_department_covers_nothing_while_the_principal_has_no_department() {
    let s = snapshot(
        vec![user("dave", None)],
        vec![bind(1, "dave", "manager", Scope::Department)],
    );
    for c in [customer(None, None), customer(Some("dave"), Some("east"))] {
        assert_eq!(
            reason(&s, "dave", CustomersGet, Some(&c)),
            out_of_scope(1, "manager", Scope::Department)
        );
    }
    assert_eq!(s.list_scope(&name("dave"), CustomersList, now()), ListScope::Nothing);
    assert_eq!(
        s.effective_permissions(&name("dave"), now()),
        [(PolicyRead, Scope::All)]
    );
}

#[test]
fn an_unknown_principal_is_denied_everything() {
    let s = snapshot(vec![user("alice", None)], vec![bind(1, "alice", "admin", Scope::All)]);
    let c = customer(None, None);
    assert_eq!(reason(&s, "mallory", CustomersGet, Some(&c)), Reason::PrincipalNotFound);
    assert_eq!(reason(&s, "mallory", CustomersGet, None), Reason::PrincipalNotFound);
    assert_eq!(
        s.check_global(&name("mallory"), PolicyRead, now()).into_reason(),
        Reason::PrincipalNotFound
    );
    assert_eq!(s.list_scope(&name("mallory"), CustomersList, now()), ListScope::Nothing);
    assert!(s.effective_permissions(&name("mallory"), now()).is_empty());
    assert!(s.principal(&name("mallory")).is_none());
}

#[test]
fn a_disabled_principal_with_an_all_binding_is_denied_everything() {
    let mut carol = user("carol", Some("east"));
    carol.disabled = true;
    let s = snapshot(vec![carol], vec![bind(1, "carol", "admin", Scope::All)]);
    let c = customer(Some("carol"), Some("east"));
    for permission in Permission::ALL {
        assert_eq!(reason(&s, "carol", permission, Some(&c)), Reason::PrincipalDisabled);
        assert_eq!(reason(&s, "carol", permission, None), Reason::PrincipalDisabled);
        assert_eq!(
            s.check_global(&name("carol"), permission, now()).into_reason(),
            Reason::PrincipalDisabled
        );
        assert_eq!(s.list_scope(&name("carol"), permission, now()), ListScope::Nothing);
    }
    assert!(s.effective_permissions(&name("carol"), now()).is_empty());
    assert!(s.principal(&name("carol")).is_some_and(|p| p.disabled));
}

#[test]
fn a_principal_without_a_binding_holding_the_permission_is_denied() {
    let s = snapshot(
        vec![user("alice", None), user("henry", None)],
        vec![bind(1, "alice", "sales_rep", Scope::All)],
    );
    let c = customer(Some("alice"), None);
    assert_eq!(
        reason(&s, "alice", CustomersDelete, Some(&c)),
        Reason::NoBindingWithPermission
    );
    assert_eq!(reason(&s, "alice", AuditRead, None), Reason::NoBindingWithPermission);
    assert_eq!(
        reason(&s, "henry", CustomersGet, Some(&c)),
        Reason::NoBindingWithPermission
    );
    assert_eq!(reason(&s, "henry", CustomersGet, None), Reason::NoBindingWithPermission);
}

#[test]
fn an_expired_binding_is_reported_as_expired() {
    let s = snapshot(
        vec![user("erin", None)],
        vec![expiring(
            bind(1, "erin", "support", Scope::All),
            now() - TimeDelta::days(1),
        )],
    );
    let c = customer(None, None);
    assert_eq!(reason(&s, "erin", CustomersGet, Some(&c)), expired(1, "support"));
    assert_eq!(reason(&s, "erin", CustomersGet, None), expired(1, "support"));
    assert_eq!(
        reason(&s, "erin", CustomersDelete, Some(&c)),
        Reason::NoBindingWithPermission,
        "the expired role never held this permission"
    );
    assert_eq!(s.list_scope(&name("erin"), CustomersList, now()), ListScope::Nothing);
    assert!(s.effective_permissions(&name("erin"), now()).is_empty());
}

#[test]
fn a_binding_is_expired_from_the_instant_of_its_expire_time() {
    let binding = bind(1, "erin", "support", Scope::All);
    let c = customer(None, None);
    let at = |expire_time: DateTime<Utc>| {
        let s = snapshot(vec![user("erin", None)], vec![expiring(binding.clone(), expire_time)]);
        reason(&s, "erin", CustomersGet, Some(&c))
    };
    assert_eq!(at(now()), expired(1, "support"), "expire_time == now is expired");
    assert_eq!(at(now() - TimeDelta::microseconds(1)), expired(1, "support"));
    assert_eq!(
        at(now() + TimeDelta::microseconds(1)),
        granted(1, "support", Scope::All),
        "one microsecond before its expiry a binding is live"
    );
}

#[test]
fn out_of_scope_is_reported_rather_than_an_expired_binding() {
    let s = snapshot(
        vec![user("alice", None)],
        vec![
            expiring(bind(1, "alice", "admin", Scope::All), now()),
            bind(2, "alice", "sales_rep", Scope::Own),
        ],
    );
    let bobs = customer(Some("bob"), None);
    assert_eq!(
        reason(&s, "alice", CustomersGet, Some(&bobs)),
        out_of_scope(2, "sales_rep", Scope::Own)
    );
    assert_eq!(
        reason(&s, "alice", CustomersDelete, Some(&bobs)),
        expired(1, "admin"),
        "only the expired binding holds customers.delete"
    );
}

#[test]
fn a_missing_customer_is_not_found_only_for_a_principal_holding_the_permission_for_all() {
    let s = snapshot(
        vec![
            user("admin", None),
            user("alice", Some("east")),
            user("bob", Some("east")),
            user("erin", None),
            user("henry", None),
        ],
        vec![
            bind(1, "admin", "admin", Scope::All),
            bind(2, "alice", "sales_rep", Scope::Own),
            bind(3, "bob", "manager", Scope::Department),
            bind(4, "bob", "sales_rep", Scope::Own),
            expiring(bind(5, "erin", "admin", Scope::All), now()),
        ],
    );
    assert_eq!(reason(&s, "admin", CustomersGet, None), Reason::CustomerNotFound);
    assert_eq!(
        reason(&s, "alice", CustomersGet, None),
        out_of_scope(2, "sales_rep", Scope::Own)
    );
    assert_eq!(
        reason(&s, "bob", CustomersGet, None),
        out_of_scope(3, "manager", Scope::Department)
    );
    assert_eq!(reason(&s, "erin", CustomersGet, None), expired(5, "admin"));
    assert_eq!(reason(&s, "henry", CustomersGet, None), Reason::NoBindingWithPermission);
    assert_eq!(
        reason(&s, "alice", CustomersDelete, None),
        Reason::NoBindingWithPermission
    );
}

#[test]
fn a_missing_customer_looks_like_one_outside_the_principals_scope() {
    let s = snapshot(
        vec![user("alice", Some("east"))],
        vec![
            bind(1, "alice", "sales_rep", Scope::Own),
            bind(2, "alice", "support", Scope::Department),
        ],
    );
    let elsewhere = customer(Some("bob"), Some("west"));
    for permission in Permission::ALL {
        assert_eq!(
            reason(&s, "alice", permission, None),
            reason(&s, "alice", permission, Some(&elsewhere)),
            "{permission}"
        );
    }
}

#[test]
fn a_binding_to_an_unknown_role_grants_nothing() {
    let s = snapshot(
        vec![user("gina", None)],
        vec![bind(1, "gina", "no-such-role", Scope::All)],
    );
    assert!(s.role(&role("no-such-role")).is_none());
    assert_eq!(s.bindings_of(&name("gina")).count(), 1);
    for permission in Permission::ALL {
        assert_eq!(
            reason(&s, "gina", permission, Some(&customer(None, None))),
            Reason::NoBindingWithPermission
        );
    }
    assert!(s.effective_permissions(&name("gina"), now()).is_empty());
}

// --- Several bindings ----------------------------------------------------------------------

#[test]
fn several_bindings_grant_the_union_of_their_permissions_and_scopes() {
    let s = snapshot(
        vec![user("alice", Some("east"))],
        vec![
            bind(1, "alice", "sales_rep", Scope::Own),
            bind(2, "alice", "auditor", Scope::All),
            bind(3, "alice", "support", Scope::Department),
        ],
    );
    let bobs_in_west = customer(Some("bob"), Some("west"));
    let bobs_in_east = customer(Some("bob"), Some("east"));
    let own_in_west = customer(Some("alice"), Some("west"));
    assert_eq!(
        reason(&s, "alice", CustomersGet, Some(&bobs_in_west)),
        granted(2, "auditor", Scope::All)
    );
    assert_eq!(reason(&s, "alice", AuditRead, None), granted(2, "auditor", Scope::All));
    assert_eq!(
        reason(&s, "alice", CustomersUpdate, Some(&own_in_west)),
        granted(1, "sales_rep", Scope::Own)
    );
    assert_eq!(
        reason(&s, "alice", CustomersUpdate, Some(&bobs_in_east)),
        out_of_scope(1, "sales_rep", Scope::Own)
    );
    assert_eq!(
        reason(&s, "alice", CustomersReadContact, Some(&bobs_in_east)),
        granted(3, "support", Scope::Department)
    );
    assert_eq!(
        reason(&s, "alice", CustomersReadContact, Some(&bobs_in_west)),
        out_of_scope(1, "sales_rep", Scope::Own),
        "the first binding in id order that holds the permission is named"
    );
    assert_eq!(
        reason(&s, "alice", CustomersDelete, Some(&own_in_west)),
        Reason::NoBindingWithPermission
    );
}

#[test]
fn the_granting_binding_is_the_first_in_id_order_whatever_the_input_order() {
    let bindings = vec![
        bind(9, "alice", "admin", Scope::All),
        bind(3, "alice", "sales_rep", Scope::Own),
        bind(5, "alice", "analyst", Scope::All),
    ];
    let mut reversed = bindings.clone();
    reversed.reverse();
    let owned = customer(Some("alice"), None);
    for order in [bindings, reversed] {
        let s = snapshot(vec![user("alice", None)], order);
        assert_eq!(
            reason(&s, "alice", CustomersGet, Some(&owned)),
            granted(3, "sales_rep", Scope::Own)
        );
        assert_eq!(
            reason(&s, "alice", PolicyRead, None),
            granted(3, "sales_rep", Scope::Own)
        );
        let ids: Vec<BindingId> = s.bindings_of(&name("alice")).map(|b| b.id).collect();
        assert_eq!(ids, [bid(3), bid(5), bid(9)]);
    }
}

// --- Grades --------------------------------------------------------------------------------

/// alice (east) holds sales_rep OWN limited to STANDARD and POTENTIAL customers.
fn junior() -> AccessSnapshot {
    snapshot(
        vec![user("alice", Some("east"))],
        vec![limited(
            bind(1, "alice", "sales_rep", Scope::Own),
            &[Grade::Standard, Grade::Potential],
        )],
    )
}

#[test]
fn a_grade_limited_binding_grants_only_for_customers_of_its_grades() {
    let s = junior();
    let owned = customer(Some("alice"), Some("west"));
    let junior_grades = [Grade::Standard, Grade::Potential];
    for grade in [Grade::Standard, Grade::Potential] {
        assert_eq!(
            reason(&s, "alice", CustomersUpdate, Some(&graded(owned.clone(), grade))),
            granted(1, "sales_rep", Scope::Own),
            "{grade}"
        );
    }
    for grade in [Grade::Vip, Grade::Key] {
        assert_eq!(
            reason(&s, "alice", CustomersUpdate, Some(&graded(owned.clone(), grade))),
            grade_not_covered(1, "sales_rep", Scope::Own, &junior_grades),
            "{grade}"
        );
    }
    assert_eq!(
        reason(
            &s,
            "alice",
            CustomersUpdate,
            Some(&graded(customer(Some("bob"), None), Grade::Standard))
        ),
        out_of_scope(1, "sales_rep", Scope::Own),
        "the grade does not widen the scope"
    );
    let explained = reason(&s, "alice", CustomersGet, Some(&graded(owned, Grade::Vip))).explain();
    assert!(explained.contains("covers only grades STANDARD, POTENTIAL, not this customer's grade"));
    assert!(!explained.contains("VIP"), "{explained}");
}

#[test]
fn an_unclassified_customer_counts_as_potential() {
    let owned = customer(Some("alice"), None);
    assert_eq!(
        reason(&junior(), "alice", CustomersGet, Some(&owned)),
        granted(1, "sales_rep", Scope::Own)
    );
    let senior = snapshot(
        vec![user("alice", None)],
        vec![limited(
            bind(1, "alice", "sales_rep", Scope::Own),
            &[Grade::Vip, Grade::Key],
        )],
    );
    assert_eq!(
        reason(&senior, "alice", CustomersGet, Some(&owned)),
        grade_not_covered(1, "sales_rep", Scope::Own, &[Grade::Vip, Grade::Key])
    );
    assert!(!senior.list_scope(&name("alice"), CustomersList, now()).covers(&owned));
    assert!(junior().list_scope(&name("alice"), CustomersList, now()).covers(&owned));
}

#[test]
fn an_empty_or_full_grade_set_is_not_a_limit() {
    for only in [&[][..], &Grade::ALL[..]] {
        let s = snapshot(
            vec![user("alice", None)],
            vec![limited(bind(1, "alice", "sales_rep", Scope::Own), only)],
        );
        for grade in Grade::ALL {
            assert_eq!(
                reason(
                    &s,
                    "alice",
                    CustomersGet,
                    Some(&graded(customer(Some("alice"), None), grade))
                ),
                granted(1, "sales_rep", Scope::Own)
            );
        }
        assert_eq!(
            s.list_scope(&name("alice"), CustomersList, now()),
            ListScope::Restricted {
                departments: vec![],
                owners: owners(&["alice"]),
                all_with_grades: None,
            }
        );
        assert_eq!(
            s.bindings_of(&name("alice")).next().unwrap().grades,
            grades(only),
            "stored as given"
        );
    }
}

#[test]
fn grade_limited_bindings_add_up() {
    let s = snapshot(
        vec![user("alice", Some("east"))],
        vec![
            limited(
                bind(1, "alice", "sales_rep", Scope::Own),
                &[Grade::Standard, Grade::Potential],
            ),
            limited(bind(2, "alice", "support", Scope::Own), &[Grade::Key]),
            limited(bind(3, "alice", "analyst", Scope::Department), &[Grade::Vip]),
        ],
    );
    let owned = customer(Some("alice"), Some("west"));
    assert_eq!(
        reason(&s, "alice", CustomersGet, Some(&graded(owned.clone(), Grade::Key))),
        granted(2, "support", Scope::Own)
    );
    assert_eq!(
        reason(&s, "alice", CustomersGet, Some(&graded(owned.clone(), Grade::Standard))),
        granted(1, "sales_rep", Scope::Own)
    );
    assert_eq!(
        reason(&s, "alice", CustomersGet, Some(&graded(owned.clone(), Grade::Vip))),
        out_of_scope(3, "analyst", Scope::Department),
        "out of scope wins over a grade not covered"
    );
    let in_east = customer(Some("alice"), Some("east"));
    assert_eq!(
        reason(&s, "alice", CustomersGet, Some(&graded(in_east.clone(), Grade::Vip))),
        granted(3, "analyst", Scope::Department)
    );
    assert_eq!(
        s.list_scope(&name("alice"), CustomersGet, now()),
        ListScope::Restricted {
            departments: vec![(dept("east"), grades(&[Grade::Vip]))],
            owners: vec![(name("alice"), grades(&[Grade::Key, Grade::Standard, Grade::Potential]))],
            all_with_grades: None,
        }
    );
    // Without the DEPARTMENT binding, a VIP customer it owns is not covered by grade.
    assert_eq!(
        reason(&s, "alice", CustomersUpdate, Some(&graded(owned, Grade::Vip))),
        grade_not_covered(1, "sales_rep", Scope::Own, &[Grade::Standard, Grade::Potential]),
        "the first binding in id order is named"
    );
    // An unlimited binding of the same scope wins.
    let s = snapshot(
        vec![user("alice", None)],
        vec![
            limited(bind(1, "alice", "sales_rep", Scope::Own), &[Grade::Standard]),
            bind(2, "alice", "support", Scope::Own),
        ],
    );
    assert_eq!(
        s.list_scope(&name("alice"), CustomersGet, now()),
        ListScope::Restricted {
            departments: vec![],
            owners: owners(&["alice"]),
            all_with_grades: None,
        }
    );
}

#[test]
fn a_grade_not_covered_is_reported_rather_than_an_expired_binding() {
    let s = snapshot(
        vec![user("alice", None)],
        vec![
            expiring(bind(1, "alice", "admin", Scope::All), now()),
            limited(bind(2, "alice", "sales_rep", Scope::Own), &[Grade::Standard]),
        ],
    );
    let vip = graded(customer(Some("alice"), None), Grade::Vip);
    assert_eq!(
        reason(&s, "alice", CustomersGet, Some(&vip)),
        grade_not_covered(2, "sales_rep", Scope::Own, &[Grade::Standard])
    );
    assert_eq!(reason(&s, "alice", CustomersDelete, Some(&vip)), expired(1, "admin"));
}

#[test]
fn a_grade_limited_all_binding_covers_those_grades_of_every_customer() {
    let s = snapshot(
        vec![user("senior", Some("east")), user("split", None)],
        vec![
            limited(bind(1, "senior", "sales_rep", Scope::All), &[Grade::Vip]),
            bind(2, "senior", "sales_rep", Scope::Own),
            limited(bind(3, "split", "support", Scope::All), &[Grade::Vip, Grade::Key]),
            limited(
                bind(4, "split", "analyst", Scope::All),
                &[Grade::Standard, Grade::Potential],
            ),
        ],
    );
    let vip_elsewhere = graded(customer(Some("bob"), Some("west")), Grade::Vip);
    let key_elsewhere = graded(customer(Some("bob"), Some("west")), Grade::Key);
    assert_eq!(
        reason(&s, "senior", CustomersGet, Some(&vip_elsewhere)),
        granted(1, "sales_rep", Scope::All)
    );
    assert_eq!(
        reason(&s, "senior", CustomersGet, Some(&key_elsewhere)),
        out_of_scope(2, "sales_rep", Scope::Own)
    );
    assert_eq!(
        reason(
            &s,
            "senior",
            CustomersGet,
            Some(&graded(customer(Some("senior"), None), Grade::Key))
        ),
        granted(2, "sales_rep", Scope::Own)
    );
    assert_eq!(
        s.list_scope(&name("senior"), CustomersList, now()),
        ListScope::Restricted {
            departments: vec![],
            owners: owners(&["senior"]),
            all_with_grades: Some(grades(&[Grade::Vip])),
        }
    );
    // A missing customer looks like one out of scope, not like a missing one.
    assert_eq!(
        reason(&s, "senior", CustomersGet, None),
        out_of_scope(2, "sales_rep", Scope::Own)
    );
    // ALL bindings that together cover every grade cover every customer.
    for c in every_customer() {
        assert!(reason(&s, "split", CustomersGet, Some(&c)).is_granted(), "{c:?}");
    }
    assert_eq!(reason(&s, "split", CustomersGet, None), Reason::CustomerNotFound);
    assert_eq!(
        s.list_scope(&name("split"), CustomersList, now()),
        ListScope::Everything
    );
    // Only the support binding holds customers.read_contact.
    let standard_elsewhere = graded(customer(Some("bob"), Some("west")), Grade::Standard);
    assert!(reason(&s, "split", CustomersReadContact, Some(&key_elsewhere)).is_granted());
    assert_eq!(
        reason(&s, "split", CustomersReadContact, Some(&standard_elsewhere)),
        grade_not_covered(3, "support", Scope::All, &[Grade::Vip, Grade::Key])
    );
    assert_eq!(
        reason(&s, "split", CustomersReadContact, None),
        grade_not_covered(3, "support", Scope::All, &[Grade::Vip, Grade::Key]),
        "a missing customer looks like one of a grade it does not cover"
    );
    assert_eq!(
        s.list_scope(&name("split"), CustomersReadContact, now()),
        ListScope::Restricted {
            departments: vec![],
            owners: vec![],
            all_with_grades: Some(grades(&[Grade::Vip, Grade::Key])),
        }
    );
}

#[test]
fn global_permissions_ignore_grades() {
    let s = snapshot(
        vec![user("alice", None)],
        vec![limited(bind(1, "alice", "auditor", Scope::Own), &[Grade::Standard])],
    );
    let vip = graded(customer(Some("alice"), None), Grade::Vip);
    assert_eq!(
        reason(&s, "alice", AuditRead, Some(&vip)),
        granted(1, "auditor", Scope::Own)
    );
    assert_eq!(reason(&s, "alice", AuditRead, None), granted(1, "auditor", Scope::Own));
    assert_eq!(s.list_scope(&name("alice"), AuditRead, now()), ListScope::Everything);
    assert_eq!(
        s.check_global(&name("alice"), CustomersGet, now()).into_reason(),
        granted(1, "auditor", Scope::Own),
        "it holds customers.get for some customers"
    );
}

#[test]
fn a_grade_limited_all_binding_does_not_hide_narrower_scopes_in_effective_permissions() {
    let s = snapshot(
        vec![user("alice", None)],
        vec![
            limited(bind(1, "alice", "analyst", Scope::All), &[Grade::Vip]),
            bind(2, "alice", "support", Scope::Own),
        ],
    );
    let effective = s.effective_permissions(&name("alice"), now());
    assert!(effective.contains(&(CustomersGet, Scope::All)));
    assert!(effective.contains(&(CustomersGet, Scope::Own)));
    assert!(effective.contains(&(PolicyRead, Scope::All)));
    assert!(!effective.contains(&(PolicyRead, Scope::Own)));
}

// --- Global permissions --------------------------------------------------------------------

#[test]
fn global_permissions_ignore_the_scope_and_the_customer() {
    let s = snapshot(vec![user("alice", None)], vec![bind(1, "alice", "auditor", Scope::Own)]);
    let bobs = customer(Some("bob"), Some("west"));
    assert_eq!(
        reason(&s, "alice", AuditRead, Some(&bobs)),
        granted(1, "auditor", Scope::Own)
    );
    assert_eq!(reason(&s, "alice", AuditRead, None), granted(1, "auditor", Scope::Own));
    assert_eq!(
        s.check_global(&name("alice"), PolicyRead, now()).into_reason(),
        granted(1, "auditor", Scope::Own)
    );
    assert_eq!(
        s.check_global(&name("alice"), PolicyWrite, now()).into_reason(),
        Reason::NoBindingWithPermission
    );
    assert_eq!(s.list_scope(&name("alice"), AuditRead, now()), ListScope::Everything);
    assert_eq!(s.list_scope(&name("alice"), PolicyWrite, now()), ListScope::Nothing);
}

#[test]
fn check_global_reports_expired_bindings_and_answers_for_customer_scoped_permissions_too() {
    let s = snapshot(
        vec![user("alice", None)],
        vec![
            expiring(bind(1, "alice", "auditor", Scope::All), now()),
            bind(2, "alice", "sales_rep", Scope::Own),
        ],
    );
    assert_eq!(
        s.check_global(&name("alice"), AuditRead, now()).into_reason(),
        expired(1, "auditor")
    );
    assert_eq!(
        s.check_global(&name("alice"), CustomersGet, now()).into_reason(),
        granted(2, "sales_rep", Scope::Own),
        "the live binding is named even though an expired one comes first"
    );
}

// --- List scope ----------------------------------------------------------------------------

#[test]
fn list_scope_is_the_union_of_the_live_bindings_scopes() {
    let alice = || user("alice", Some("east"));
    let list =
        |bindings: Vec<RoleBinding>| snapshot(vec![alice()], bindings).list_scope(&name("alice"), CustomersList, now());
    let own_only = ListScope::Restricted {
        departments: vec![],
        owners: owners(&["alice"]),
        all_with_grades: None,
    };
    let department_only = ListScope::Restricted {
        departments: departments(&["east"]),
        owners: vec![],
        all_with_grades: None,
    };
    let both = ListScope::Restricted {
        departments: departments(&["east"]),
        owners: owners(&["alice"]),
        all_with_grades: None,
    };
    assert_eq!(list(vec![]), ListScope::Nothing);
    assert_eq!(
        list(vec![bind(1, "alice", "support", Scope::All)]),
        ListScope::Everything
    );
    assert_eq!(list(vec![bind(1, "alice", "support", Scope::Own)]), own_only);
    assert_eq!(
        list(vec![bind(1, "alice", "support", Scope::Department)]),
        department_only
    );
    assert_eq!(
        list(vec![
            bind(1, "alice", "support", Scope::Department),
            bind(2, "alice", "sales_rep", Scope::Own),
            bind(3, "alice", "analyst", Scope::Own),
            bind(4, "alice", "auditor", Scope::Department),
        ]),
        both
    );
    assert_eq!(
        list(vec![
            bind(1, "alice", "support", Scope::Own),
            bind(2, "alice", "analyst", Scope::All),
        ]),
        ListScope::Everything
    );
    assert_eq!(
        list(vec![
            expiring(bind(1, "alice", "admin", Scope::All), now()),
            bind(2, "alice", "sales_rep", Scope::Own),
        ]),
        own_only,
        "an expired ALL binding does not widen the scope"
    );
    assert_eq!(
        list(vec![bind(1, "alice", "no-such-role", Scope::All)]),
        ListScope::Nothing
    );
}

#[test]
fn list_scope_covers_customers_by_department_owner_and_grade() {
    let junior = grades(&[Grade::Standard, Grade::Potential]);
    let scope = ListScope::Restricted {
        departments: vec![(dept("east"), grades(&[Grade::Key]))],
        owners: vec![(name("alice"), junior)],
        all_with_grades: Some(grades(&[Grade::Vip])),
    };
    let at = |owner, department, grade| graded(customer(owner, department), grade);
    assert!(scope.covers(&at(Some("bob"), Some("west"), Grade::Vip)));
    assert!(scope.covers(&at(None, None, Grade::Vip)));
    assert!(scope.covers(&at(Some("bob"), Some("east"), Grade::Key)));
    assert!(!scope.covers(&at(Some("bob"), Some("east"), Grade::Standard)));
    assert!(scope.covers(&at(Some("alice"), Some("west"), Grade::Standard)));
    assert!(
        scope.covers(&customer(Some("alice"), Some("west"))),
        "unclassified is POTENTIAL"
    );
    assert!(!scope.covers(&at(Some("alice"), Some("west"), Grade::Key)));
    assert!(scope.covers(&at(Some("alice"), Some("east"), Grade::Key)));
    assert!(!scope.covers(&customer(Some("bob"), Some("east"))));
}

#[test]
fn list_scope_inclusion_compares_grades_clause_by_clause() {
    let restricted = |departments, owners, all_with_grades| ListScope::Restricted {
        departments,
        owners,
        all_with_grades,
    };
    let junior = grades(&[Grade::Standard, Grade::Potential]);
    let own_junior = restricted(vec![], vec![(name("alice"), junior)], None);
    let own_all = restricted(vec![], owners(&["alice"]), None);
    let own_standard = restricted(vec![], vec![(name("alice"), grades(&[Grade::Standard]))], None);
    let vip_everywhere = restricted(vec![], vec![], Some(grades(&[Grade::Vip])));
    let own_junior_and_vip = restricted(vec![], vec![(name("alice"), junior)], Some(grades(&[Grade::Vip])));
    assert!(own_all.includes(&own_junior));
    assert!(!own_junior.includes(&own_all));
    assert!(own_junior.includes(&own_standard));
    assert!(!own_standard.includes(&own_junior));
    assert!(!own_all.includes(&vip_everywhere), "owning is not every customer");
    assert!(own_junior_and_vip.includes(&vip_everywhere));
    assert!(own_junior_and_vip.includes(&own_junior));
    assert!(
        restricted(
            vec![],
            vec![(name("alice"), grades(&[Grade::Standard]))],
            Some(grades(&[Grade::Vip]))
        )
        .includes(&restricted(
            vec![],
            vec![(name("alice"), grades(&[Grade::Vip, Grade::Standard]))],
            None
        )),
        "the ALL clause adds its grades to every other clause"
    );
}

#[test]
fn list_scope_covers_customers_by_department_or_owner() {
    let both = ListScope::Restricted {
        departments: departments(&["east"]),
        owners: owners(&["alice"]),
        all_with_grades: None,
    };
    assert!(both.covers(&graded(customer(Some("bob"), Some("east")), Grade::Vip)));
    assert!(both.covers(&customer(Some("bob"), Some("east"))));
    assert!(both.covers(&customer(Some("alice"), Some("west"))));
    assert!(both.covers(&customer(Some("alice"), None)));
    assert!(!both.covers(&customer(Some("bob"), Some("west"))));
    assert!(!both.covers(&customer(None, None)));
    assert!(ListScope::Everything.covers(&customer(None, None)));
    assert!(!ListScope::Nothing.covers(&customer(Some("alice"), Some("east"))));
}

// --- Effective permissions -----------------------------------------------------------------

#[test]
fn effective_permissions_list_each_permission_with_its_widest_scopes() {
    let s = snapshot(
        vec![user("alice", Some("east"))],
        vec![
            bind(1, "alice", "sales_rep", Scope::Own),
            bind(2, "alice", "support", Scope::Department),
            bind(3, "alice", "analyst", Scope::All),
            expiring(bind(4, "alice", "admin", Scope::All), now()),
        ],
    );
    assert_eq!(
        s.effective_permissions(&name("alice"), now()),
        [
            (CustomersGet, Scope::All),
            (CustomersList, Scope::All),
            (CustomersCreate, Scope::Own),
            (CustomersUpdate, Scope::Own),
            (CustomersReadContact, Scope::Department),
            (CustomersReadContact, Scope::Own),
            (ActivityRecord, Scope::Department),
            (ActivityRecord, Scope::Own),
            (PolicyRead, Scope::All),
        ]
    );
    let admin_then = s.effective_permissions(&name("alice"), now() - TimeDelta::seconds(1));
    assert_eq!(
        admin_then,
        Permission::ALL.map(|p| (p, Scope::All)),
        "before the admin binding expired"
    );
}

// --- Building the snapshot -----------------------------------------------------------------

#[test]
fn built_in_roles_are_always_present_and_cannot_be_replaced() {
    let impostor = Role {
        name: role("admin"),
        title: RoleTitle::parse("Not really").unwrap(),
        permissions: PermissionSet::empty(),
        built_in: false,
    };
    let custom = Role {
        name: role("order-guard"),
        title: RoleTitle::parse("Order system guard").unwrap(),
        permissions: PermissionSet::of(&[AccessCheck, CustomersGet]),
        built_in: true,
    };
    let s = AccessSnapshot::new(
        vec![user("alice", None), user("orders", None)],
        vec![impostor, custom],
        vec![
            bind(1, "alice", "admin", Scope::All),
            bind(2, "orders", "order-guard", Scope::All),
        ],
    );
    assert_eq!(s.role(&role("admin")), Some(&BuiltInRole::Admin.role()));
    assert!(
        !s.role(&role("order-guard")).unwrap().built_in,
        "a custom role is never built in"
    );
    assert_eq!(s.roles().len(), BuiltInRole::ALL.len() + 1);
    assert_eq!(reason(&s, "alice", PolicyWrite, None), granted(1, "admin", Scope::All));
    assert_eq!(
        reason(&s, "orders", AccessCheck, None),
        granted(2, "order-guard", Scope::All)
    );
    assert_eq!(
        reason(&s, "orders", CustomersUpdate, Some(&customer(None, None))),
        Reason::NoBindingWithPermission
    );
    assert_eq!(AccessSnapshot::default().roles().len(), BuiltInRole::ALL.len());
}

#[test]
fn bindings_of_unknown_principals_are_dropped_and_duplicates_counted_once() {
    let s = snapshot(
        vec![user("alice", None), user("alice", Some("east"))],
        vec![
            bind(1, "alice", "admin", Scope::All),
            bind(1, "alice", "support", Scope::All),
            bind(2, "ghost", "admin", Scope::All),
        ],
    );
    assert_eq!(s.principal_count(), 1);
    assert_eq!(s.binding_count(), 1);
    assert_eq!(
        s.principal(&name("alice")).unwrap().department,
        Some(dept("east")),
        "the last principal of a name wins"
    );
    assert_eq!(reason(&s, "alice", AccessManage, None), granted(1, "admin", Scope::All));
    assert_eq!(s.bindings_of(&name("ghost")).count(), 0);
    assert_eq!(
        format!("{s:?}"),
        "AccessSnapshot { principals: 1, roles: 6, bindings: 1 }"
    );
}

#[test]
fn a_snapshot_can_be_shared_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<AccessSnapshot>();
    assert_send_sync::<Decision>();
}

// --- Properties ----------------------------------------------------------------------------

/// The departments the generated principals and customers pick from; the last belongs to no
/// principal.
const DEPARTMENTS: [&str; 3] = ["east", "west", "nowhere"];

/// A generated world: three principals `user0`..`user2`, two custom roles, and bindings that may
/// name an unknown principal (`user3`) or an unknown role.
#[derive(Clone, Debug)]
struct World {
    principals: Vec<Principal>,
    roles: Vec<Role>,
    bindings: Vec<RoleBinding>,
}

impl World {
    fn snapshot(&self) -> AccessSnapshot {
        AccessSnapshot::new(self.principals.clone(), self.roles.clone(), self.bindings.clone())
    }

    fn reversed(&self) -> AccessSnapshot {
        AccessSnapshot::new(
            self.principals.iter().rev().cloned(),
            self.roles.iter().rev().cloned(),
            self.bindings.iter().rev().cloned(),
        )
    }
}

fn principal_name(index: usize) -> PrincipalName {
    name(&format!("user{index}"))
}

fn world() -> impl Strategy<Value = World> {
    let principals = prop::collection::vec((prop::option::of(0..2usize), prop::bool::weighted(0.2)), 3);
    let roles = prop::collection::vec(0u32..0x8000, 2);
    let bindings = prop::collection::vec(
        (
            0..4usize,
            0..9usize,
            0..3usize,
            prop::option::of(-2i64..3),
            any::<u128>(),
            prop_oneof![Just(0u8), 0u8..16],
        ),
        0..8,
    );
    (principals, roles, bindings).prop_map(|(principals, roles, bindings)| {
        let principals = principals
            .into_iter()
            .enumerate()
            .map(|(i, (department, disabled))| Principal {
                disabled,
                ..user(&format!("user{i}"), department.map(|d| DEPARTMENTS[d]))
            })
            .collect();
        let roles = roles
            .into_iter()
            .enumerate()
            .map(|(i, bits)| Role {
                name: role(&format!("custom{i}")),
                title: RoleTitle::parse("Custom").unwrap(),
                permissions: PermissionSet::from_bits(bits).unwrap(),
                built_in: false,
            })
            .collect();
        let bindings = bindings
            .into_iter()
            .map(|(principal, role_index, scope, expiry, id, grade_bits)| RoleBinding {
                id: bid(id),
                principal: principal_name(principal),
                role: match role_index {
                    0..6 => BuiltInRole::ALL[role_index].name(),
                    6..8 => role(&format!("custom{}", role_index - 6)),
                    _ => role("unknown"),
                },
                scope: Scope::ALL[scope],
                grades: GradeSet::from_bits(grade_bits).unwrap(),
                expire_time: expiry.map(|seconds| now() + TimeDelta::seconds(seconds)),
            })
            .collect();
        World {
            principals,
            roles,
            bindings,
        }
    })
}

fn grade() -> impl Strategy<Value = Option<Grade>> {
    prop::option::of((0..Grade::ALL.len()).prop_map(|i| Grade::ALL[i]))
}

fn facts() -> impl Strategy<Value = Option<CustomerFacts>> {
    prop::option::weighted(0.8, (prop::option::of(0..4usize), prop::option::of(0..3usize), grade())).prop_map(|facts| {
        facts.map(|(owner, department, grade)| CustomerFacts {
            owner: owner.map(principal_name),
            department: department.map(|d| dept(DEPARTMENTS[d])),
            grade,
        })
    })
}

/// Every combination of owner, department and grade the generated worlds can tell apart.
fn every_customer() -> Vec<CustomerFacts> {
    let mut all = Vec::new();
    for owner in (0..4).map(Some).chain([None]) {
        for department in (0..3).map(Some).chain([None]) {
            for grade in Grade::ALL.map(Some).into_iter().chain([None]) {
                all.push(CustomerFacts {
                    owner: owner.map(principal_name),
                    department: department.map(|d| dept(DEPARTMENTS[d])),
                    grade,
                });
            }
        }
    }
    all
}

fn permission() -> impl Strategy<Value = Permission> {
    (0..Permission::ALL.len()).prop_map(|i| Permission::ALL[i])
}

proptest! {
    #[test]
    fn a_decision_is_deterministic_and_independent_of_input_order(
        world in world(),
        asker in 0..4usize,
        permission in permission(),
        customer in facts(),
    ) {
        let s = world.snapshot();
        let asker = principal_name(asker);
        let first = s.check(&asker, permission, customer.as_ref(), now());
        prop_assert_eq!(&s.check(&asker, permission, customer.as_ref(), now()), &first);
        prop_assert_eq!(&world.reversed().check(&asker, permission, customer.as_ref(), now()), &first);
        prop_assert_eq!(
            world.reversed().list_scope(&asker, permission, now()),
            s.list_scope(&asker, permission, now())
        );
        prop_assert_eq!(
            world.reversed().effective_permissions(&asker, now()),
            s.effective_permissions(&asker, now())
        );
    }

    #[test]
    fn adding_a_live_all_binding_with_the_permission_never_turns_allow_into_deny(
        world in world(),
        asker in 0..4usize,
        permission in permission(),
        customer in facts(),
        expiry in prop::option::of(1i64..100),
    ) {
        let asker = principal_name(asker);
        let before = world.snapshot().check(&asker, permission, customer.as_ref(), now());
        let mut wider = world.clone();
        wider.bindings.push(RoleBinding {
            id: BindingId::generate(),
            principal: asker.clone(),
            role: BuiltInRole::Admin.name(),
            scope: Scope::All,
            grades: GradeSet::empty(),
            expire_time: expiry.map(|seconds| now() + TimeDelta::seconds(seconds)),
        });
        let after = wider.snapshot().check(&asker, permission, customer.as_ref(), now());
        prop_assert!(!before.allowed() || after.allowed(), "{:?} became {:?}", before, after);
        let enabled = world.principals.iter().any(|p| p.name == asker && !p.disabled);
        if enabled && (customer.is_some() || !permission.is_customer_scoped()) {
            prop_assert!(after.allowed(), "{:?}", after);
        }
        if enabled && customer.is_none() && permission.is_customer_scoped() {
            prop_assert_eq!(after.reason(), &Reason::CustomerNotFound);
        }
    }

    #[test]
    fn adding_any_binding_never_turns_allow_into_deny(
        world in world(),
        extra in world(),
        asker in 0..4usize,
        permission in permission(),
        customer in facts(),
    ) {
        let asker = principal_name(asker);
        let before = world.snapshot().check(&asker, permission, customer.as_ref(), now());
        let mut wider = world.clone();
        wider.bindings.extend(extra.bindings);
        let after = wider.snapshot().check(&asker, permission, customer.as_ref(), now());
        prop_assert!(!before.allowed() || after.allowed(), "{:?} became {:?}", before, after);
    }

    #[test]
    fn list_scope_covers_exactly_the_customers_check_allows(
        world in world(),
        asker in 0..4usize,
        permission in permission(),
    ) {
        let s = world.snapshot();
        let asker = principal_name(asker);
        let scope = s.list_scope(&asker, permission, now());
        for customer in every_customer() {
            let allowed = s.check(&asker, permission, Some(&customer), now()).allowed();
            prop_assert_eq!(scope.covers(&customer), allowed, "{:?} {:?}", scope, customer);
        }
    }

    #[test]
    fn list_scopes_are_well_formed_and_includes_is_sound(
        world in world(),
        asker in 0..4usize,
        first in permission(),
        second in permission(),
    ) {
        let s = world.snapshot();
        let asker = principal_name(asker);
        let wide = s.list_scope(&asker, first, now());
        let narrow = s.list_scope(&asker, second, now());
        for scope in [&wide, &narrow] {
            prop_assert!(scope.includes(scope));
            if let ListScope::Restricted { departments, owners, all_with_grades } = scope {
                prop_assert!(!departments.is_empty() || !owners.is_empty() || all_with_grades.is_some());
                prop_assert!(departments.is_sorted_by(|a, b| a.0 < b.0));
                prop_assert!(owners.is_sorted_by(|a, b| a.0 < b.0));
                for grades in departments.iter().map(|d| d.1).chain(owners.iter().map(|o| o.1)) {
                    prop_assert_eq!(grades, grades.normalized());
                }
                prop_assert!(all_with_grades.is_none_or(|g| !g.is_empty() && g == g.normalized()));
            }
        }
        if wide.includes(&narrow) {
            for customer in every_customer() {
                prop_assert!(!narrow.covers(&customer) || wide.covers(&customer), "{:?}", customer);
            }
        }
    }

    #[test]
    fn a_missing_customer_is_indistinguishable_from_one_out_of_scope_unless_scope_is_all(
        world in world(),
        asker in 0..4usize,
        permission in permission(),
    ) {
        let s = world.snapshot();
        let asker = principal_name(asker);
        let missing = s.check(&asker, permission, None, now());
        prop_assert!(!permission.is_customer_scoped() || !missing.allowed());
        let nobodys = |grade| CustomerFacts {
            owner: Some(name("nobody")),
            department: Some(dept("elsewhere")),
            grade,
        };
        let list_scope = s.list_scope(&asker, permission, now());
        if missing.reason() == &Reason::CustomerNotFound {
            prop_assert_eq!(list_scope, ListScope::Everything);
        } else {
            // The answer for some existing customer it may not see: out of its OWN and
            // DEPARTMENT scopes, and of a grade none of its ALL bindings covers.
            prop_assert!(!permission.is_customer_scoped() || list_scope != ListScope::Everything);
            let look_alike = Grade::ALL
                .map(Some)
                .into_iter()
                .chain([None])
                .map(|grade| s.check(&asker, permission, Some(&nobodys(grade)), now()))
                .find(|decision| decision == &missing);
            prop_assert!(look_alike.is_some(), "{:?}", missing);
        }
    }

    #[test]
    fn effective_permissions_agree_with_check_global(
        world in world(),
        asker in 0..4usize,
    ) {
        let s = world.snapshot();
        let asker = principal_name(asker);
        let effective = s.effective_permissions(&asker, now());
        for permission in Permission::ALL {
            let held = effective.iter().any(|(p, _)| *p == permission);
            let global = s.check_global(&asker, permission, now());
            if permission.is_customer_scoped() {
                // A DEPARTMENT binding without a department is held but listed nowhere.
                prop_assert!(!held || global.allowed());
            } else {
                prop_assert_eq!(held, global.allowed());
            }
        }
    }
}
