//! The data the load runs on, created through gRPC like any client would: N customers spread
//! over owners, departments and tags (so that a filtered List has work to do), and a sales rep
//! whose scoped binding makes CheckPermission a real decision.
//!
//! Customer `i` is the same in every run and on every crmd ([`customer`] is a pure function of
//! `i`), so two binaries compared in one run see the same data.

use anyhow::Context as _;
use crm_api::crm::v1 as pb;
use futures::{StreamExt as _, TryStreamExt as _};

use crate::client::{AccessClient, CustomersClient};

/// The departments customers belong to, equally often.
pub const DEPARTMENTS: [&str; 4] = ["sales", "support", "marketing", "finance"];
/// The tags and the percentage of customers carrying each.
pub const TAGS: [(&str, u64); 6] = [
    ("vip", 20),
    ("partner", 15),
    ("trial", 10),
    ("emea", 30),
    ("apac", 20),
    ("smb", 40),
];
/// Customers are owned by `principals/rep-0` … `rep-19` (the owners need not exist).
pub const OWNERS: u64 = 20;
const COUNTRIES: [&str; 6] = ["US", "DE", "CN", "FR", "JP", "BR"];
const TITLES: [&str; 4] = ["Purchasing Manager", "CEO", "Head of IT", "Buyer"];

/// The principal CheckPermission is asked about: a user of [`REP_DEPARTMENT`] holding
/// `roles/sales_rep` with scope DEPARTMENT.
pub const REP_ID: &str = "loadgen-rep";
/// The department of [`REP_ID`].
pub const REP_DEPARTMENT: &str = "sales";

/// SplitMix64: deterministic, fast, good enough for test data and for picking ids.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A uniformly chosen element of `items` (which must not be empty).
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// Customer number `i`: an organisation with a contact, a region, an owner, a department and
/// some tags.
pub fn customer(i: u64) -> pb::Customer {
    let mut rng = Rng::new(i.wrapping_mul(0xA076_1D64_78BD_642F) ^ 0x5EED);
    let department = (*rng.pick(&DEPARTMENTS)).to_owned();
    let tags = TAGS
        .iter()
        .filter(|(_, percent)| rng.chance(*percent))
        .map(|(tag, _)| (*tag).to_owned())
        .collect();
    pb::Customer {
        display_name: format!("Loadgen Customer {i:07}"),
        kind: pb::CustomerKind::Organization as i32,
        contact: Some(pb::Contact {
            full_name: format!("Buyer {i}"),
            job_title: (*rng.pick(&TITLES)).to_owned(),
            email: format!("buyer{i}@example.com"),
            ..Default::default()
        }),
        employee_count: Some(10f64.powf(rng.unit() * 4.0) as i32),
        region: Some(pb::Region {
            country_code: (*rng.pick(&COUNTRIES)).to_owned(),
            ..Default::default()
        }),
        key_account: rng.chance(3),
        owner: format!("principals/rep-{}", rng.below(OWNERS)),
        department,
        tags,
        ..Default::default()
    }
}

/// One seeded customer as the create returned it.
#[derive(Debug, Clone)]
pub struct SeededCustomer {
    /// `customers/{id}`.
    pub name: String,
    /// Its etag right after the create.
    pub etag: String,
    /// Its department.
    pub department: String,
}

/// Creates customers `0..n` with at most `concurrency` calls in flight, spread over `clients`
/// (one per connection); returns them in order.
///
/// # Errors
/// When any create fails.
pub async fn seed_customers(
    clients: &[CustomersClient],
    n: u64,
    concurrency: usize,
) -> anyhow::Result<Vec<SeededCustomer>> {
    let clients = clients.to_vec();
    // Unordered, so that one slow create (SQLite's writer queue) does not hold back the others;
    // put back in order afterwards.
    let mut created: Vec<(u64, SeededCustomer)> = futures::stream::iter(0..n)
        .map(|i| {
            let mut client = clients[i as usize % clients.len()].clone();
            async move {
                let created = client
                    .create_customer(pb::CreateCustomerRequest {
                        customer: Some(customer(i)),
                        ..Default::default()
                    })
                    .await
                    .with_context(|| format!("creating seed customer {i}"))?
                    .into_inner();
                Ok::<_, anyhow::Error>((
                    i,
                    SeededCustomer {
                        name: created.name,
                        etag: created.etag,
                        department: created.department,
                    },
                ))
            }
        })
        .buffer_unordered(concurrency.max(1))
        .try_collect()
        .await?;
    created.sort_unstable_by_key(|(i, _)| *i);
    Ok(created.into_iter().map(|(_, c)| c).collect())
}

/// Creates the sales rep [`REP_ID`] (a user of [`REP_DEPARTMENT`]) bound to `roles/sales_rep`
/// with scope DEPARTMENT, and returns a new API key of it.
///
/// # Errors
/// When any of the three calls fails.
pub async fn add_rep(access: &AccessClient) -> anyhow::Result<String> {
    let mut access = access.clone();
    access
        .create_principal(pb::CreatePrincipalRequest {
            principal_id: REP_ID.to_owned(),
            principal: Some(pb::Principal {
                kind: pb::PrincipalKind::User as i32,
                display_name: "Load generator sales rep".to_owned(),
                department: REP_DEPARTMENT.to_owned(),
                ..Default::default()
            }),
        })
        .await
        .context("creating the sales rep principal")?;
    access
        .create_role_binding(pb::CreateRoleBindingRequest {
            role_binding: Some(pb::RoleBinding {
                principal: format!("principals/{REP_ID}"),
                role: "roles/sales_rep".to_owned(),
                scope: pb::Scope::Department as i32,
                ..Default::default()
            }),
        })
        .await
        .context("binding the sales rep")?;
    Ok(access
        .create_api_key(pb::CreateApiKeyRequest {
            parent: format!("principals/{REP_ID}"),
            expire_time: None,
        })
        .await
        .context("creating the sales rep's API key")?
        .into_inner()
        .secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn customers_are_deterministic_and_spread_over_departments_and_tags() {
        assert_eq!(customer(7), customer(7));
        let many: Vec<pb::Customer> = (0..2000).map(customer).collect();
        for department in DEPARTMENTS {
            let share = many.iter().filter(|c| c.department == department).count();
            assert!((350..650).contains(&share), "{department}: {share}");
        }
        let sales_vip = many
            .iter()
            .filter(|c| c.department == "sales" && c.tags.iter().any(|t| t == "vip"))
            .count();
        assert!((50..150).contains(&sales_vip), "{sales_vip}");
    }
}
