//! The authorizer's cost per decision at 10, 1,000 and 100,000 role bindings in total, spread
//! over many principals with at most three bindings each (as in a real company: many people, a
//! few roles each).
//!
//! The claim to check is that a decision costs the same whatever the total: one hash lookup of
//! the principal plus a walk over that principal's own bindings. The baseline, measured in the
//! same run on the same snapshot, is that lookup alone ([`AccessSnapshot::principal`]); report
//! each figure as a ratio to it, which survives a noisy machine better than the raw times.
//!
//! Two kinds of traffic:
//! - *spread* (the plain names): every iteration asks about one of 4,096 principals picked at
//!   random from all of them, so at 100,000 bindings the snapshot no longer fits in the CPU
//!   caches and every question pays for memory, as the baseline lookup does too;
//! - *hot* (`hot_*`): every iteration asks about one of the same three principals at every
//!   size, so the memory touched is the same and any growth would be the algorithm's.
//!
//! Run: `cargo bench -p crm-domain --bench authorizer`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Utc};
use crm_domain::access::{
    AccessSnapshot, BindingId, BuiltInRole, CustomerFacts, GradeSet, ListScope, Permission, Principal,
    PrincipalDisplayName, PrincipalKind, RoleBinding, Scope,
};
use crm_domain::customer::values::{Department, PrincipalName};

fn main() {
    divan::main();
}

/// The total numbers of bindings measured.
const SIZES: [usize; 3] = [10, 1_000, 100_000];

/// How many departments the principals are spread over.
const DEPARTMENTS: usize = 50;

/// How many distinct questions each benchmark cycles through (a power of two).
const PROBES: usize = 4096;

/// How many principals the hot benchmarks ask about, at every size.
const HOT: usize = 3;

/// One question: who asks, and about which customer.
struct Probe {
    /// The principal asking.
    principal: PrincipalName,
    /// A customer the principal owns, in another department: allowed through its OWN binding.
    owned: CustomerFacts,
    /// A customer someone else owns, in another department: denied after every binding is tried.
    foreign: CustomerFacts,
}

/// A snapshot with `bindings` bindings and the questions to ask it.
struct World {
    /// The authorizer under test.
    snapshot: AccessSnapshot,
    /// The questions, cycled through.
    probes: Vec<Probe>,
    /// The instant every question is asked at.
    now: DateTime<Utc>,
}

/// The `index`-th principal's name.
fn principal_name(index: usize) -> PrincipalName {
    PrincipalName::from_id(&format!("user-{index}")).unwrap()
}

/// The `index`-th department.
fn department(index: usize) -> Department {
    Department::parse(&format!("dept-{}", index % DEPARTMENTS)).unwrap()
}

/// The principals, roles and bindings of a company with `bindings` bindings in total: principal
/// `i` works in department `i % 50` and holds up to three bindings, `sales_rep` with scope OWN,
/// `support` with scope DEPARTMENT and `analyst` with scope ALL, in that (id) order.
fn company(bindings: usize) -> (Vec<Principal>, Vec<RoleBinding>) {
    let principal_count = bindings.div_ceil(3);
    let principals = (0..principal_count)
        .map(|i| Principal {
            name: principal_name(i),
            kind: PrincipalKind::User,
            display_name: PrincipalDisplayName::parse(&format!("User {i}")).unwrap(),
            department: Some(department(i)),
            staff_level: None,
            disabled: false,
        })
        .collect();
    let grants = [
        (BuiltInRole::SalesRep, Scope::Own),
        (BuiltInRole::Support, Scope::Department),
        (BuiltInRole::Analyst, Scope::All),
    ];
    let bindings = (0..bindings)
        .map(|k| {
            let (role, scope) = grants[k % 3];
            RoleBinding {
                id: BindingId::from_uuid(uuid::Uuid::from_u128(k as u128 + 1)),
                principal: principal_name(k / 3),
                role: role.name(),
                scope,
                grades: GradeSet::empty(),
                expire_time: None,
            }
        })
        .collect();
    (principals, bindings)
}

impl World {
    /// A snapshot with `bindings` bindings, asked about all its principals.
    fn spread(bindings: usize) -> Self {
        Self::new(bindings, usize::MAX)
    }

    /// A snapshot with `bindings` bindings, asked about its first [`HOT`] principals only.
    fn hot(bindings: usize) -> Self {
        Self::new(bindings, HOT)
    }

    /// A snapshot with `bindings` bindings, asked about its first `asked` principals (or all).
    fn new(bindings: usize, asked: usize) -> Self {
        let (principals, role_bindings) = company(bindings);
        let snapshot = AccessSnapshot::new(principals, [], role_bindings);
        assert_eq!(snapshot.binding_count(), bindings);
        // Only principals with all three bindings are asked about, so every size does the same
        // work per question.
        let full = (bindings / 3).min(asked);
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let probes = (0..PROBES)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let i = (state % full as u64) as usize;
                Probe {
                    principal: principal_name(i),
                    owned: CustomerFacts {
                        owner: Some(principal_name(i)),
                        department: Some(department(i + 1)),
                        grade: None,
                    },
                    foreign: CustomerFacts {
                        owner: Some(principal_name(i + 1)),
                        department: Some(department(i + 1)),
                        grade: None,
                    },
                }
            })
            .collect();
        let now = DateTime::from_timestamp(1_750_000_000, 0).unwrap();
        let world = Self { snapshot, probes, now };
        world.sanity_check();
        world
    }

    /// Asserts that the questions get the answers the benchmarks claim to measure.
    fn sanity_check(&self) {
        let probe = &self.probes[0];
        let check = |permission, customer| {
            self.snapshot
                .check(&probe.principal, permission, Some(customer), self.now)
                .reason()
                .code()
        };
        assert_eq!(check(Permission::CustomersUpdate, &probe.owned), "GRANTED");
        assert_eq!(check(Permission::CustomersUpdate, &probe.foreign), "OUT_OF_SCOPE");
        assert_eq!(check(Permission::CustomersGet, &probe.foreign), "GRANTED");
        let principal = self.snapshot.principal(&probe.principal).unwrap();
        assert_eq!(
            self.snapshot
                .list_scope(&probe.principal, Permission::CustomersReadContact, self.now),
            ListScope::Restricted {
                departments: principal
                    .department
                    .clone()
                    .into_iter()
                    .map(|department| (department, GradeSet::empty()))
                    .collect(),
                owners: vec![(probe.principal.clone(), GradeSet::empty())],
                all_with_grades: None,
            }
        );
    }

    /// Runs `ask` on a different probe every iteration.
    fn cycle<O>(&self, bencher: divan::Bencher, ask: impl Fn(&Self, &Probe) -> O) {
        let mut next = 0;
        bencher.bench_local(|| {
            next = (next + 1) & (PROBES - 1);
            ask(self, &self.probes[next])
        });
    }
}

/// Baseline: finding the principal in the snapshot's index, and nothing else.
#[divan::bench(args = SIZES, sample_count = 200, sample_size = 1000)]
fn baseline_principal_lookup(bencher: divan::Bencher, bindings: usize) {
    let world = World::spread(bindings);
    world.cycle(bencher, |world, probe| {
        world.snapshot.principal(&probe.principal).is_some()
    });
}

/// `customers.update` on a customer the principal owns: granted by its first binding (OWN).
#[divan::bench(args = SIZES, sample_count = 200, sample_size = 1000)]
fn check_allowed(bencher: divan::Bencher, bindings: usize) {
    let world = World::spread(bindings);
    world.cycle(bencher, |world, probe| {
        world.snapshot.check(
            &probe.principal,
            Permission::CustomersUpdate,
            Some(&probe.owned),
            world.now,
        )
    });
}

/// `customers.update` on someone else's customer in another department: every binding is tried
/// and the answer is OUT_OF_SCOPE, the most work a decision does.
#[divan::bench(args = SIZES, sample_count = 200, sample_size = 1000)]
fn check_denied_out_of_scope(bencher: divan::Bencher, bindings: usize) {
    let world = World::spread(bindings);
    world.cycle(bencher, |world, probe| {
        world.snapshot.check(
            &probe.principal,
            Permission::CustomersUpdate,
            Some(&probe.foreign),
            world.now,
        )
    });
}

/// `policy.read`, a global permission, granted by the principal's first binding.
#[divan::bench(args = SIZES, sample_count = 200, sample_size = 1000)]
fn check_global(bencher: divan::Bencher, bindings: usize) {
    let world = World::spread(bindings);
    world.cycle(bencher, |world, probe| {
        world
            .snapshot
            .check_global(&probe.principal, Permission::PolicyRead, world.now)
    });
}

/// The ListCustomers condition for `customers.read_contact` (OWN plus DEPARTMENT bindings).
#[divan::bench(args = SIZES, sample_count = 200, sample_size = 1000)]
fn list_scope(bencher: divan::Bencher, bindings: usize) {
    let world = World::spread(bindings);
    world.cycle(bencher, |world, probe| {
        world
            .snapshot
            .list_scope(&probe.principal, Permission::CustomersReadContact, world.now)
    });
}

/// Building the snapshot from scratch, which the server does on every change: this grows with
/// the number of bindings, unlike a decision.
#[divan::bench(args = SIZES, sample_count = 20)]
fn build_snapshot(bencher: divan::Bencher, bindings: usize) {
    bencher
        .with_inputs(|| company(bindings))
        .bench_local_values(|(principals, role_bindings)| AccessSnapshot::new(principals, [], role_bindings));
}

/// Hot baseline: finding one of the same three principals at every size.
#[divan::bench(args = SIZES, sample_count = 200, sample_size = 1000)]
fn hot_baseline_principal_lookup(bencher: divan::Bencher, bindings: usize) {
    let world = World::hot(bindings);
    world.cycle(bencher, |world, probe| {
        world.snapshot.principal(&probe.principal).is_some()
    });
}

/// Hot: the OUT_OF_SCOPE denial of [`check_denied_out_of_scope`], about the same three
/// principals at every size.
#[divan::bench(args = SIZES, sample_count = 200, sample_size = 1000)]
fn hot_check_denied_out_of_scope(bencher: divan::Bencher, bindings: usize) {
    let world = World::hot(bindings);
    world.cycle(bencher, |world, probe| {
        world.snapshot.check(
            &probe.principal,
            Permission::CustomersUpdate,
            Some(&probe.foreign),
            world.now,
        )
    });
}
