//! [`Authorizer`]: one request's view of access control (who asks, the snapshot that decides,
//! and when), with the questions the use cases ask, answered as `Result`s they can `?`.
//!
//! Every rule lives in [`AccessSnapshot`]; this only turns its decisions into errors
//! ([`Denial`]) and applies the two rules about contact details (masking, and no filtering on a
//! masked field), so that no handler re-implements a rule.

use std::fmt;

use chrono::{DateTime, Utc};

use super::decision::{CustomerFacts, Decision, Reason};
use super::permission::Permission;
use super::snapshot::{AccessSnapshot, ListScope};
use crate::customer::values::{CustomerId, PrincipalName};
use crate::customer::{Customer, resource_name};
use crate::error::CustomerError;
use crate::filter::{Filter, FilterField};

/// A denied request: which permission was missing, on what, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Denial {
    /// The permission the request needed.
    pub permission: Permission,
    /// The resource it was needed on, such as `customers/acme`, or `customers` for a create
    /// without a chosen id or a list.
    pub resource: String,
    /// Why it was not granted.
    pub reason: Reason,
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "permission {} on {} denied: {}",
            self.permission,
            self.resource,
            self.reason.explain()
        )
    }
}

/// Access control for one request of `principal`, decided against one snapshot at one instant.
#[derive(Clone, Copy, Debug)]
pub struct Authorizer<'a> {
    snapshot: &'a AccessSnapshot,
    principal: &'a PrincipalName,
    now: DateTime<Utc>,
}

impl<'a> Authorizer<'a> {
    /// Decides for `principal` with `snapshot` at `now`.
    pub const fn new(snapshot: &'a AccessSnapshot, principal: &'a PrincipalName, now: DateTime<Utc>) -> Self {
        Self {
            snapshot,
            principal,
            now,
        }
    }

    /// The principal asking.
    pub const fn principal(&self) -> &'a PrincipalName {
        self.principal
    }

    /// The instant decisions are made at.
    pub const fn now(&self) -> DateTime<Utc> {
        self.now
    }

    /// The snapshot deciding.
    pub const fn snapshot(&self) -> &'a AccessSnapshot {
        self.snapshot
    }

    /// The decision on `permission` for the customer with these facts (`None`: it does not
    /// exist).
    pub fn decide(&self, permission: Permission, customer: Option<&CustomerFacts>) -> Decision {
        self.snapshot.check(self.principal, permission, customer, self.now)
    }

    /// Whether `permission` is granted on the customer with these facts.
    pub fn allows(&self, permission: Permission, customer: &CustomerFacts) -> bool {
        self.decide(permission, Some(customer)).allowed()
    }

    /// Requires `permission` on customer `id`, whose facts are `customer` (`None`: it does not
    /// exist). Permission is decided before existence (AIP-211).
    ///
    /// # Errors
    /// [`CustomerError::PermissionDenied`], or [`CustomerError::NotFound`] when the customer does
    /// not exist and the principal may act on every customer (only then is saying so harmless).
    pub fn require(
        &self,
        permission: Permission,
        id: &CustomerId,
        customer: Option<&CustomerFacts>,
    ) -> Result<(), CustomerError> {
        match self.decide(permission, customer).into_reason() {
            Reason::Granted { .. } => Ok(()),
            Reason::CustomerNotFound => Err(CustomerError::NotFound(id.clone())),
            reason => Err(CustomerError::PermissionDenied(Denial {
                permission,
                resource: resource_name(id),
                reason,
            })),
        }
    }

    /// Requires `permission` for a customer about to be created with these facts.
    ///
    /// # Errors
    /// [`CustomerError::PermissionDenied`] naming `resource` (the chosen name, or `customers`).
    pub fn require_new(
        &self,
        permission: Permission,
        resource: String,
        customer: &CustomerFacts,
    ) -> Result<(), CustomerError> {
        let decision = self.decide(permission, Some(customer));
        if decision.allowed() {
            return Ok(());
        }
        Err(CustomerError::PermissionDenied(Denial {
            permission,
            resource,
            reason: decision.into_reason(),
        }))
    }

    /// Requires a global permission (`access.manage`, `audit.read`, …) or, for a customer-scoped
    /// one, that the principal holds it for some customers.
    ///
    /// # Errors
    /// [`Denial`] naming `resource`.
    pub fn require_global(&self, permission: Permission, resource: &str) -> Result<(), Denial> {
        let decision = self.snapshot.check_global(self.principal, permission, self.now);
        if decision.allowed() {
            return Ok(());
        }
        Err(Denial {
            permission,
            resource: resource.to_owned(),
            reason: decision.into_reason(),
        })
    }

    /// Which customers a list may return: the scope of `customers.list`, after checking that
    /// the principal may list at all and that `filter` does not use a contact field it could not
    /// read on every customer in that scope (a filter on a masked field would be an oracle for
    /// its value).
    ///
    /// # Errors
    /// [`CustomerError::PermissionDenied`] without `customers.list`;
    /// [`CustomerError::ContactFieldHidden`] for a filter on a hidden contact field.
    pub fn list_scope(&self, filter: Option<&Filter>) -> Result<ListScope, CustomerError> {
        self.require_global(Permission::CustomersList, "customers")
            .map_err(CustomerError::PermissionDenied)?;
        let scope = self
            .snapshot
            .list_scope(self.principal, Permission::CustomersList, self.now);
        if let Some(filter) = filter {
            let hidden = filter
                .fields()
                .into_iter()
                .find(|field| matches!(field, FilterField::ContactEmail | FilterField::ContactPhone));
            if let Some(field) = hidden {
                let readable = self
                    .snapshot
                    .list_scope(self.principal, Permission::CustomersReadContact, self.now);
                if !readable.includes(&scope) {
                    return Err(CustomerError::ContactFieldHidden(field.path()));
                }
            }
        }
        Ok(scope)
    }

    /// `customer` as this principal may see it: contact e-mail and phone masked unless it holds
    /// `customers.read_contact` for it.
    pub fn visible(&self, mut customer: Customer) -> Customer {
        if !self.allows(Permission::CustomersReadContact, &CustomerFacts::from(&customer)) {
            customer.profile.contact = customer.profile.contact.masked();
        }
        customer
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::access::binding::{BindingId, GradeSet, RoleBinding, Scope};
    use crate::access::principal::{Principal, PrincipalDisplayName, PrincipalKind};
    use crate::access::role::RoleName;
    use crate::classification::Grade;
    use crate::customer::values::{Department, Email, Phone};
    use crate::customer::{Contact, CustomerProfile};

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_750_000_000, 0).unwrap()
    }

    fn name(id: &str) -> PrincipalName {
        PrincipalName::from_id(id).unwrap()
    }

    fn user(id: &str, department: &str) -> Principal {
        Principal {
            name: name(id),
            kind: PrincipalKind::User,
            display_name: PrincipalDisplayName::parse(id).unwrap(),
            department: Some(Department::parse(department).unwrap()),
            staff_level: None,
            disabled: false,
        }
    }

    fn bind(n: u128, principal: &str, role: &str, scope: Scope) -> RoleBinding {
        RoleBinding {
            id: BindingId::from_uuid(uuid::Uuid::from_u128(n)),
            principal: name(principal),
            role: RoleName::from_id(role).unwrap(),
            scope,
            grades: GradeSet::empty(),
            expire_time: None,
        }
    }

    /// rep: sales_rep OWN in sales; boss: admin ALL; viewer: analyst ALL (no read_contact).
    fn snapshot() -> AccessSnapshot {
        AccessSnapshot::new(
            [user("rep", "sales"), user("boss", "sales"), user("viewer", "sales")],
            [],
            [
                bind(1, "rep", "sales_rep", Scope::Own),
                bind(2, "boss", "admin", Scope::All),
                bind(3, "viewer", "analyst", Scope::All),
            ],
        )
    }

    fn customer(owner: &str) -> Customer {
        let profile = CustomerProfile {
            display_name: crate::customer::values::DisplayName::parse("Acme").unwrap(),
            kind: crate::customer::values::CustomerKind::Organization,
            contact: Contact {
                email: Some(Email::parse("jane@example.com").unwrap()),
                phone: Some(Phone::parse("+8613800000021").unwrap()),
                ..Contact::default()
            },
            industry: None,
            employee_count: None,
            region: None,
            needs: crate::customer::values::Needs::empty(),
            key_account: false,
            churned: false,
            owner: Some(name(owner)),
            department: None,
            tags: crate::customer::values::Tags::default(),
        };
        Customer::create(CustomerId::parse("acme").unwrap(), profile, now())
    }

    #[test]
    fn require_denies_out_of_scope_and_hides_existence_unless_scope_is_all() {
        let s = snapshot();
        let id = CustomerId::parse("acme").unwrap();
        let rep = name("rep");
        let auth = Authorizer::new(&s, &rep, now());
        let theirs = CustomerFacts {
            owner: Some(name("boss")),
            department: None,
            grade: None,
        };
        let err = auth.require(Permission::CustomersGet, &id, Some(&theirs)).unwrap_err();
        assert!(
            matches!(err, CustomerError::PermissionDenied(ref d) if d.resource == "customers/acme"
            && d.permission == Permission::CustomersGet && d.reason.code() == "OUT_OF_SCOPE")
        );
        let missing = auth.require(Permission::CustomersGet, &id, None).unwrap_err();
        assert!(matches!(missing, CustomerError::PermissionDenied(_)), "{missing:?}");
        let boss = name("boss");
        let admin = Authorizer::new(&s, &boss, now());
        assert!(matches!(
            admin.require(Permission::CustomersGet, &id, None),
            Err(CustomerError::NotFound(_))
        ));
        let mine = CustomerFacts {
            owner: Some(rep.clone()),
            department: None,
            grade: None,
        };
        assert!(auth.require(Permission::CustomersUpdate, &id, Some(&mine)).is_ok());
        assert!(auth.require(Permission::CustomersDelete, &id, Some(&mine)).is_err());
    }

    #[test]
    fn contacts_are_masked_without_read_contact() {
        let s = snapshot();
        let viewer = name("viewer");
        let seen = Authorizer::new(&s, &viewer, now()).visible(customer("rep"));
        assert_eq!(seen.profile.contact.email.unwrap().as_str(), "j***@example.com");
        assert_eq!(seen.profile.contact.phone.unwrap().as_str(), "+86*********21");
        let rep = name("rep");
        let own = Authorizer::new(&s, &rep, now()).visible(customer("rep"));
        assert_eq!(own.profile.contact.email.unwrap().as_str(), "jane@example.com");
    }

    #[test]
    fn filtering_on_a_masked_field_is_refused_but_other_filters_pass() {
        let s = snapshot();
        let viewer = name("viewer");
        let auth = Authorizer::new(&s, &viewer, now());
        let by_email = Filter::parse("contact.email = \"jane@example.com\"").unwrap();
        assert!(matches!(
            auth.list_scope(by_email.as_ref()),
            Err(CustomerError::ContactFieldHidden("contact.email"))
        ));
        let by_name = Filter::parse("display_name = \"Acme\"").unwrap();
        assert_eq!(auth.list_scope(by_name.as_ref()).unwrap(), ListScope::Everything);
        // The rep reads contacts of exactly the customers it may list.
        let rep = name("rep");
        let auth = Authorizer::new(&s, &rep, now());
        assert!(matches!(
            auth.list_scope(by_email.as_ref()).unwrap(),
            ListScope::Restricted { .. }
        ));
        // Someone without any binding may not list at all.
        let nobody = name("nobody");
        let auth = Authorizer::new(&s, &nobody, now());
        assert!(matches!(auth.list_scope(None), Err(CustomerError::PermissionDenied(_))));
    }

    /// junior: sales_rep OWN limited to STANDARD and POTENTIAL customers, plus analyst OWN
    /// (get and list, no read_contact) limited to VIP customers.
    fn graded_snapshot() -> AccessSnapshot {
        let only = |grades: &[Grade]| grades.iter().copied().collect::<GradeSet>();
        AccessSnapshot::new(
            [user("junior", "sales")],
            [],
            [
                RoleBinding {
                    grades: only(&[Grade::Standard, Grade::Potential]),
                    ..bind(1, "junior", "sales_rep", Scope::Own)
                },
                RoleBinding {
                    grades: only(&[Grade::Vip]),
                    ..bind(2, "junior", "analyst", Scope::Own)
                },
            ],
        )
    }

    fn owned_by(owner: &PrincipalName, grade: Option<Grade>) -> CustomerFacts {
        CustomerFacts {
            owner: Some(owner.clone()),
            department: None,
            grade,
        }
    }

    #[test]
    fn require_enforces_grade_limits() {
        let s = graded_snapshot();
        let junior = name("junior");
        let auth = Authorizer::new(&s, &junior, now());
        let id = CustomerId::parse("acme").unwrap();
        for grade in [Some(Grade::Vip), Some(Grade::Standard), Some(Grade::Potential), None] {
            assert!(
                auth.require(Permission::CustomersGet, &id, Some(&owned_by(&junior, grade)))
                    .is_ok(),
                "{grade:?}"
            );
        }
        let err = auth
            .require(
                Permission::CustomersGet,
                &id,
                Some(&owned_by(&junior, Some(Grade::Key))),
            )
            .unwrap_err();
        assert!(
            matches!(err, CustomerError::PermissionDenied(ref d) if d.reason.code() == "GRADE_NOT_COVERED"),
            "{err:?}"
        );
        assert!(!err.to_string().contains("KEY"), "{err}");
        assert!(
            auth.require(
                Permission::CustomersUpdate,
                &id,
                Some(&owned_by(&junior, Some(Grade::Vip)))
            )
            .is_err(),
            "the VIP binding's role cannot update"
        );
        assert!(
            auth.require_new(
                Permission::CustomersCreate,
                "customers".to_owned(),
                &owned_by(&junior, None)
            )
            .is_ok(),
            "a new customer is not classified yet, so it counts as POTENTIAL"
        );
    }

    #[test]
    fn contacts_are_readable_only_within_the_read_contact_grades() {
        let s = graded_snapshot();
        let junior = name("junior");
        let auth = Authorizer::new(&s, &junior, now());
        assert!(auth.allows(
            Permission::CustomersReadContact,
            &owned_by(&junior, Some(Grade::Standard))
        ));
        assert!(!auth.allows(Permission::CustomersReadContact, &owned_by(&junior, Some(Grade::Vip))));
        // `visible` takes the facts from the customer itself, unclassified for now: POTENTIAL.
        let seen = auth.visible(customer("junior"));
        assert_eq!(seen.profile.contact.email.unwrap().as_str(), "jane@example.com");
    }

    #[test]
    fn a_filter_on_contacts_needs_read_contact_on_every_listed_grade() {
        let s = graded_snapshot();
        let junior = name("junior");
        let auth = Authorizer::new(&s, &junior, now());
        assert_eq!(
            auth.list_scope(None).unwrap(),
            ListScope::Restricted {
                departments: vec![],
                owners: vec![(
                    junior.clone(),
                    [Grade::Vip, Grade::Standard, Grade::Potential].into_iter().collect()
                )],
                all_with_grades: None,
            }
        );
        let by_email = Filter::parse("contact.email = \"jane@example.com\"").unwrap();
        assert!(matches!(
            auth.list_scope(by_email.as_ref()),
            Err(CustomerError::ContactFieldHidden("contact.email"))
        ));
        let by_name = Filter::parse("display_name = \"Acme\"").unwrap();
        assert!(auth.list_scope(by_name.as_ref()).is_ok());
    }

    #[test]
    fn list_scope_inclusion() {
        let dept = |d: &str| (Department::parse(d).unwrap(), GradeSet::empty());
        let owner = |o: &str| (name(o), GradeSet::empty());
        let restricted = |departments, owners| ListScope::Restricted {
            departments,
            owners,
            all_with_grades: None,
        };
        let wide = restricted(vec![dept("east"), dept("west")], vec![owner("ann")]);
        let narrow = restricted(vec![dept("west")], vec![]);
        assert!(ListScope::Everything.includes(&wide));
        assert!(wide.includes(&narrow));
        assert!(!narrow.includes(&wide));
        assert!(!wide.includes(&ListScope::Everything));
        assert!(narrow.includes(&ListScope::Nothing));
        assert!(!ListScope::Nothing.includes(&narrow));
        assert!(!restricted(vec![], vec![owner("ann")]).includes(&restricted(vec![], vec![owner("bob")])));
    }
}
