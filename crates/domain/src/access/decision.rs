//! What a decision needs to know about a customer, and what it answers: allowed or not, and why.

use std::fmt;

use super::binding::{BindingId, GradeSet, Scope};
use super::role::RoleName;
use crate::classification::Grade;
use crate::customer::values::{Department, PrincipalName};
use crate::customer::{Customer, CustomerProfile};

/// The facts about a customer that access decisions depend on: its owner, its department and
/// its current grade.
///
/// The server reads them by primary key (or from a cache) before asking; a customer that does
/// not exist is passed as `None`, never as an empty `CustomerFacts`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct CustomerFacts {
    /// The principal responsible for the customer, if assigned; scope OWN matches on it.
    pub owner: Option<PrincipalName>,
    /// The department that owns the relationship, if assigned; scope DEPARTMENT matches on it.
    pub department: Option<Department>,
    /// The customer's current grade; `None` while it is not classified yet. A binding limited
    /// to some grades (see [`GradeSet`]) treats an unclassified customer as
    /// [`Grade::Potential`]; a binding not limited by grade ignores it.
    pub grade: Option<Grade>,
}

impl From<&CustomerProfile> for CustomerFacts {
    /// The facts of a customer about to be created: its owner and department, and no grade yet
    /// (so a grade-limited binding treats it as POTENTIAL).
    fn from(profile: &CustomerProfile) -> Self {
        Self {
            owner: profile.owner.clone(),
            department: profile.department.clone(),
            grade: None,
        }
    }
}

impl From<&Customer> for CustomerFacts {
    fn from(customer: &Customer) -> Self {
        Self {
            grade: customer
                .classification
                .as_ref()
                .map(crate::classification::Classification::grade),
            ..Self::from(&customer.profile)
        }
    }
}

/// Why a decision came out as it did.
///
/// Every reason has a stable [`code`](Reason::code) for programs and an
/// [`explain`](Reason::explain) sentence for people. No reason says anything about the
/// customer itself (its owner, department or grade), so a denied principal learns nothing about
/// a customer it may not see beyond which of its own bindings did not apply.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// A live binding grants the permission for this customer (or, for a global permission,
    /// at all). When several do, this is the first in binding id order.
    Granted {
        /// The binding that granted it.
        binding: BindingId,
        /// The binding's role.
        role: RoleName,
        /// The binding's scope.
        scope: Scope,
    },
    /// No principal has this name.
    PrincipalNotFound,
    /// The principal is disabled, which overrides all its bindings.
    PrincipalDisabled,
    /// No binding of the principal grants the permission, live or expired.
    NoBindingWithPermission,
    /// A live binding grants the permission, but its scope does not cover this customer: scope
    /// DEPARTMENT and the customer belongs to another department (or the principal has none),
    /// or scope OWN and someone else (or no one) owns it. When several do, this is the first in
    /// binding id order.
    OutOfScope {
        /// The binding that holds the permission.
        binding: BindingId,
        /// The binding's role.
        role: RoleName,
        /// The scope that excluded the customer.
        scope: Scope,
    },
    /// A live binding grants the permission and its scope covers this customer, but the binding
    /// is limited to grades that do not include the customer's current grade (an unclassified
    /// customer counts as POTENTIAL), and no live binding is [out of scope](Reason::OutOfScope).
    /// When several are, this is the first in binding id order. It names the grades the binding
    /// covers, never the customer's grade.
    GradeNotCovered {
        /// The binding that holds the permission.
        binding: BindingId,
        /// The binding's role.
        role: RoleName,
        /// The binding's scope, which covers the customer.
        scope: Scope,
        /// The grades the binding is limited to (never empty).
        grades: GradeSet,
    },
    /// The only bindings that grant the permission have expired. When several have, this is the
    /// first in binding id order.
    BindingExpired {
        /// An expired binding that held the permission.
        binding: BindingId,
        /// The binding's role.
        role: RoleName,
    },
    /// The customer does not exist, and the principal holds the permission for every customer,
    /// so saying so reveals nothing it could not learn anyway.
    CustomerNotFound,
}

impl Reason {
    /// Returns whether this reason allows the request.
    pub const fn is_granted(&self) -> bool {
        matches!(self, Self::Granted { .. })
    }

    /// Returns a stable `SCREAMING_SNAKE` code for programs, such as `OUT_OF_SCOPE`.
    pub const fn code(&self) -> &'static str {
        match self {
            Self::Granted { .. } => "GRANTED",
            Self::PrincipalNotFound => "PRINCIPAL_NOT_FOUND",
            Self::PrincipalDisabled => "PRINCIPAL_DISABLED",
            Self::NoBindingWithPermission => "NO_BINDING_WITH_PERMISSION",
            Self::OutOfScope { .. } => "OUT_OF_SCOPE",
            Self::GradeNotCovered { .. } => "GRADE_NOT_COVERED",
            Self::BindingExpired { .. } => "BINDING_EXPIRED",
            Self::CustomerNotFound => "CUSTOMER_NOT_FOUND",
        }
    }

    /// Returns one sentence for people saying why the request was allowed or denied.
    pub fn explain(&self) -> String {
        match self {
            Self::Granted { binding, role, scope } => format!(
                "Allowed by role binding {binding}, which gives role {role} with scope {scope} ({}).",
                scope.describe()
            ),
            Self::PrincipalNotFound => "Denied because the principal does not exist.".to_owned(),
            Self::PrincipalDisabled => {
                "Denied because the principal is disabled, which overrides all its role bindings.".to_owned()
            }
            Self::NoBindingWithPermission => {
                "Denied because no role binding of the principal grants this permission.".to_owned()
            }
            Self::OutOfScope { binding, role, scope } => format!(
                "Denied because role binding {binding} (role {role}) grants this permission only with scope \
                 {scope}, for {}, and this customer is not one of them.",
                scope.describe()
            ),
            Self::GradeNotCovered {
                binding,
                role,
                scope,
                grades,
            } => format!(
                "Denied because role binding {binding} (role {role}, scope {scope}) covers only grades \
                 {grades}, not this customer's grade."
            ),
            Self::BindingExpired { binding, role } => format!(
                "Denied because the role bindings that grant this permission have expired, such as {binding} \
                 (role {role})."
            ),
            Self::CustomerNotFound => "Denied because the customer does not exist.".to_owned(),
        }
    }
}

impl fmt::Display for Reason {
    /// Writes [`Reason::explain`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.explain())
    }
}

/// The answer to "may this principal do this (to this customer)?": allowed or denied, with the
/// reason. Allowed exactly when the reason is [`Reason::Granted`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Decision {
    /// Whether the request is allowed; always `reason.is_granted()`.
    allowed: bool,
    /// Why.
    reason: Reason,
}

impl Decision {
    /// Returns whether the request is allowed.
    pub const fn allowed(&self) -> bool {
        self.allowed
    }

    /// Returns why the request is allowed or denied.
    pub const fn reason(&self) -> &Reason {
        &self.reason
    }

    /// Returns the reason, consuming the decision.
    pub fn into_reason(self) -> Reason {
        self.reason
    }
}

impl From<Reason> for Decision {
    /// Makes the decision a reason stands for: allowed exactly when it is [`Reason::Granted`].
    fn from(reason: Reason) -> Self {
        Self {
            allowed: reason.is_granted(),
            reason,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn every_reason() -> Vec<Reason> {
        let binding = BindingId::parse("0190a5d0-ac96-774b-bcce-b302099a8057").unwrap();
        let role = RoleName::parse("roles/sales_rep").unwrap();
        vec![
            Reason::Granted {
                binding,
                role: role.clone(),
                scope: Scope::Own,
            },
            Reason::PrincipalNotFound,
            Reason::PrincipalDisabled,
            Reason::NoBindingWithPermission,
            Reason::OutOfScope {
                binding,
                role: role.clone(),
                scope: Scope::Department,
            },
            Reason::BindingExpired {
                binding,
                role: role.clone(),
            },
            Reason::CustomerNotFound,
            Reason::GradeNotCovered {
                binding,
                role,
                scope: Scope::Own,
                grades: [Grade::Standard, Grade::Potential].into_iter().collect(),
            },
        ]
    }

    #[test]
    fn reason_codes_are_stable_and_distinct() {
        let codes: Vec<&str> = every_reason().iter().map(Reason::code).collect();
        assert_eq!(
            codes,
            [
                "GRANTED",
                "PRINCIPAL_NOT_FOUND",
                "PRINCIPAL_DISABLED",
                "NO_BINDING_WITH_PERMISSION",
                "OUT_OF_SCOPE",
                "BINDING_EXPIRED",
                "CUSTOMER_NOT_FOUND",
                "GRADE_NOT_COVERED",
            ]
        );
    }

    #[test]
    fn every_reason_explains_itself_in_one_sentence() {
        for reason in every_reason() {
            let text = reason.explain();
            assert!(text.ends_with('.'), "{text}");
            assert!(
                text.starts_with(if reason.is_granted() { "Allowed" } else { "Denied" }),
                "{text}"
            );
            assert_eq!(reason.to_string(), text);
        }
    }

    #[test]
    fn explanations_name_the_binding_role_and_scope() {
        let reasons = every_reason();
        assert_eq!(
            reasons[0].explain(),
            "Allowed by role binding 0190a5d0-ac96-774b-bcce-b302099a8057, which gives role roles/sales_rep \
             with scope OWN (customers the principal owns)."
        );
        assert_eq!(
            reasons[4].explain(),
            "Denied because role binding 0190a5d0-ac96-774b-bcce-b302099a8057 (role roles/sales_rep) grants \
             this permission only with scope DEPARTMENT, for customers of the principal's department, and this \
             customer is not one of them."
        );
        assert!(reasons[5].explain().contains("expired"));
        assert_eq!(
            reasons[7].explain(),
            "Denied because role binding 0190a5d0-ac96-774b-bcce-b302099a8057 (role roles/sales_rep, scope OWN) \
             covers only grades STANDARD, POTENTIAL, not this customer's grade."
        );
    }

    #[test]
    fn a_decision_is_allowed_exactly_when_its_reason_is_granted() {
        for reason in every_reason() {
            let decision = Decision::from(reason.clone());
            assert_eq!(decision.allowed(), reason.is_granted());
            assert_eq!(decision.reason(), &reason);
            assert_eq!(decision.into_reason(), reason);
        }
    }

    #[test]
    fn customer_facts_come_from_the_customer_profile() {
        let owner = PrincipalName::from_id("alice").unwrap();
        let department = Department::parse("east").unwrap();
        let profile = CustomerProfile {
            display_name: crate::customer::values::DisplayName::parse("Acme").unwrap(),
            kind: crate::customer::values::CustomerKind::Organization,
            contact: crate::customer::Contact::default(),
            industry: None,
            employee_count: None,
            region: None,
            needs: crate::customer::values::Needs::empty(),
            key_account: false,
            churned: false,
            owner: Some(owner.clone()),
            department: Some(department.clone()),
            tags: crate::customer::values::Tags::default(),
        };
        assert_eq!(
            CustomerFacts::from(&profile),
            CustomerFacts {
                owner: Some(owner),
                department: Some(department),
                grade: None,
            }
        );
    }
}
