//! Role bindings: a principal holds a role, for a scope of customers, possibly until a deadline.

use chrono::{DateTime, Utc};

use super::decision::CustomerFacts;
use super::role::RoleName;
use crate::customer::values::{Department, PrincipalName};

coded_enum!(
    /// Which customers a binding's role applies to. It matters only for customer-scoped
    /// permissions (see [`Permission::is_customer_scoped`](super::Permission::is_customer_scoped)).
    Scope {
        /// Every customer (`ALL`).
        All = (1, "ALL"),
        /// Customers whose `department` is the principal's department (`DEPARTMENT`); none while
        /// the principal has no department.
        Department = (2, "DEPARTMENT"),
        /// Customers whose `owner` is the principal (`OWN`).
        Own = (3, "OWN"),
    }
);

impl Scope {
    /// Returns which customers the scope covers, in words, such as "customers the principal
    /// owns".
    pub const fn describe(self) -> &'static str {
        match self {
            Self::All => "every customer",
            Self::Department => "customers of the principal's department",
            Self::Own => "customers the principal owns",
        }
    }

    /// Returns whether a binding with this scope, held by a principal named `principal` working
    /// in `department`, covers `customer`.
    ///
    /// DEPARTMENT matches only when both departments are known and equal; OWN matches only when
    /// the customer has an owner and it is the principal.
    pub fn covers(self, principal: &PrincipalName, department: Option<&Department>, customer: &CustomerFacts) -> bool {
        match self {
            Self::All => true,
            Self::Department => department.is_some() && department == customer.department.as_ref(),
            Self::Own => customer.owner.as_ref() == Some(principal),
        }
    }
}

uuid_id!(
    /// The id of a role binding: a UUID, server-assigned as v7 so that ids sort by creation time.
    BindingId
);

/// A grant: `principal` holds `role` for the customers in `scope`, until `expire_time` if set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleBinding {
    /// The binding's id.
    pub id: BindingId,
    /// Who holds the role.
    pub principal: PrincipalName,
    /// The role held. A binding whose role does not exist grants nothing.
    pub role: RoleName,
    /// Which customers the role applies to.
    pub scope: Scope,
    /// When the grant ends, for a time-bound grant; `None` means it never ends.
    pub expire_time: Option<DateTime<Utc>>,
}

impl RoleBinding {
    /// Returns whether the binding is in force at `now`: it has no expiry, or its expiry is still
    /// ahead. At the expiry instant itself the binding is already expired.
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.expire_time.is_none_or(|expire_time| now < expire_time)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use chrono::TimeDelta;

    use super::*;

    fn principal(id: &str) -> PrincipalName {
        PrincipalName::from_id(id).unwrap()
    }

    fn department(name: &str) -> Department {
        Department::parse(name).unwrap()
    }

    #[test]
    fn scope_round_trips_name_and_code() {
        for (index, scope) in Scope::ALL.into_iter().enumerate() {
            assert_eq!(usize::try_from(scope.code()).unwrap(), index + 1);
            assert_eq!(Scope::from_code(scope.code()), Some(scope));
            assert_eq!(Scope::from_name(scope.name()), Some(scope));
            assert_eq!(scope.to_string(), scope.name());
            assert!(!scope.describe().is_empty());
        }
        assert_eq!(Scope::ALL.map(Scope::name), ["ALL", "DEPARTMENT", "OWN"]);
        assert_eq!(Scope::from_code(0), None);
        assert_eq!(Scope::from_name("all"), None);
    }

    #[test]
    fn all_covers_every_customer_even_one_with_no_owner_or_department() {
        let alice = principal("alice");
        let nobody = CustomerFacts::default();
        assert!(Scope::All.covers(&alice, None, &nobody));
    }

    #[test]
    fn department_covers_only_customers_of_the_same_known_department() {
        let alice = principal("alice");
        let east = department("east");
        let in_east = CustomerFacts {
            owner: None,
            department: Some(east.clone()),
        };
        let in_west = CustomerFacts {
            owner: None,
            department: Some(department("west")),
        };
        let in_none = CustomerFacts::default();
        assert!(Scope::Department.covers(&alice, Some(&east), &in_east));
        assert!(!Scope::Department.covers(&alice, Some(&east), &in_west));
        assert!(!Scope::Department.covers(&alice, Some(&east), &in_none));
        assert!(!Scope::Department.covers(&alice, None, &in_east));
        assert!(
            !Scope::Department.covers(&alice, None, &in_none),
            "two unknown departments are not the same department"
        );
    }

    #[test]
    fn own_covers_only_customers_the_principal_owns() {
        let alice = principal("alice");
        let owned = CustomerFacts {
            owner: Some(alice.clone()),
            department: None,
        };
        let bobs = CustomerFacts {
            owner: Some(principal("bob")),
            department: None,
        };
        assert!(Scope::Own.covers(&alice, None, &owned));
        assert!(!Scope::Own.covers(&alice, None, &bobs));
        assert!(!Scope::Own.covers(&alice, None, &CustomerFacts::default()));
    }

    #[test]
    fn binding_id_parses_hyphenated_uuids_and_prints_them_lowercase() {
        let id = BindingId::parse("0190A5D0-AC96-774B-BCCE-B302099A8057").unwrap();
        assert_eq!(id.to_string(), "0190a5d0-ac96-774b-bcce-b302099a8057");
        assert_eq!(BindingId::parse(&id.to_string()), Ok(id));
        assert_eq!(BindingId::from_uuid(id.as_uuid()), id);
        for bad in [
            "",
            "0190a5d0ac96774bbccEb302099a8057",
            "{0190a5d0-ac96-774b-bcce-b302099a8057}",
            "urn:uuid:0190a5d0-ac96-774b-bcce-b302099a8057",
            "0190a5d0-ac96-774b-bcce-b302099a805g",
        ] {
            assert!(BindingId::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn generated_binding_ids_are_uuid_v7_and_sort_by_creation() {
        let first = BindingId::generate();
        let second = BindingId::generate();
        assert_eq!(first.as_uuid().get_version_num(), 7);
        assert!(first < second);
    }

    #[test]
    fn a_binding_is_expired_from_its_expire_time_on() {
        let now = DateTime::from_timestamp(1_750_000_000, 0).unwrap();
        let mut binding = RoleBinding {
            id: BindingId::generate(),
            principal: principal("alice"),
            role: RoleName::parse("roles/admin").unwrap(),
            scope: Scope::All,
            expire_time: None,
        };
        assert!(binding.is_live(now));
        binding.expire_time = Some(now + TimeDelta::microseconds(1));
        assert!(binding.is_live(now));
        binding.expire_time = Some(now);
        assert!(!binding.is_live(now), "expire_time == now counts as expired");
        binding.expire_time = Some(now - TimeDelta::seconds(1));
        assert!(!binding.is_live(now));
    }
}
