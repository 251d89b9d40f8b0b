//! Role bindings: a principal holds a role, for a scope of customers (possibly only those of some
//! grades), possibly until a deadline.

use std::fmt;

use chrono::{DateTime, Utc};

use super::decision::CustomerFacts;
use super::role::RoleName;
use crate::classification::Grade;
use crate::customer::values::{Department, InvalidValue, PrincipalName};

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

/// The grades a role binding is limited to: a set of [`Grade`]s, stored as a bitmask in which
/// grade `g` is bit `g.code() - 1`.
///
/// **The empty set means "not limited"**: the binding applies to customers of every grade (this
/// is what every binding made before grades existed holds). A non-empty set limits the binding
/// to customers whose current grade is in it. A customer that is not classified yet counts as
/// [`Grade::Potential`] (see [`admits`](Self::admits)). So the empty set and [`GradeSet::ALL`]
/// admit exactly the same customers ([`is_unlimited`](Self::is_unlimited) is true for both), but
/// they are kept apart so that what was stored reads back unchanged.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct GradeSet(u8);

impl GradeSet {
    /// Every bit that stands for a grade.
    const KNOWN_BITS: u8 = 0b1111;

    /// The set of every grade. It admits every customer, as the empty set does.
    pub const ALL: Self = Self(Self::KNOWN_BITS);

    /// Returns the empty set: a binding not limited by grade.
    pub const fn empty() -> Self {
        Self(0)
    }

    /// The grade's bit: bit `code - 1`.
    const fn bit(grade: Grade) -> u8 {
        1 << (grade.code() - 1)
    }

    /// Accepts a bitmask read back from storage.
    ///
    /// # Errors
    /// Returns [`InvalidValue`] when a bit is set that stands for no grade.
    pub fn from_bits(bits: u8) -> Result<Self, InvalidValue> {
        if bits & !Self::KNOWN_BITS == 0 {
            Ok(Self(bits))
        } else {
            Err(InvalidValue(format!(
                "must only set the bits of known grades ({:#06b}), got {bits:#010b}",
                Self::KNOWN_BITS
            )))
        }
    }

    /// Returns the bitmask, for storage.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Returns whether `grade` is in the set. (The empty set contains no grade, yet admits every
    /// customer: to decide, use [`admits`](Self::admits).)
    pub const fn contains(self, grade: Grade) -> bool {
        self.0 & Self::bit(grade) != 0
    }

    /// Adds `grade` to the set.
    pub fn insert(&mut self, grade: Grade) {
        self.0 |= Self::bit(grade);
    }

    /// Returns whether the set is empty, that is, not limited.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Returns whether the set admits customers of every grade: it is empty, or holds every
    /// grade.
    pub const fn is_unlimited(self) -> bool {
        self.0 == 0 || self.0 == Self::KNOWN_BITS
    }

    /// Returns whether a binding limited to this set applies to a customer whose current grade
    /// is `grade`: always when the set is [unlimited](Self::is_unlimited), else when the grade is
    /// in the set. A customer not classified yet (`None`) counts as [`Grade::Potential`].
    ///
    /// This is the one grade rule of access control; decisions and list scopes both use it.
    pub const fn admits(self, grade: Option<Grade>) -> bool {
        let grade = match grade {
            Some(grade) => grade,
            None => Grade::Potential,
        };
        self.0 == 0 || self.contains(grade)
    }

    /// Returns the set that admits exactly the customers either set admits: the union of the
    /// grades, and unlimited (empty) when either is unlimited or the union holds every grade.
    #[must_use]
    pub const fn union(self, other: Self) -> Self {
        if self.is_unlimited() || other.is_unlimited() {
            Self::empty()
        } else {
            Self(self.0 | other.0).normalized()
        }
    }

    /// Returns the set with [`GradeSet::ALL`] written as the empty set, so that two sets that
    /// admit the same customers are equal.
    #[must_use]
    pub const fn normalized(self) -> Self {
        if self.0 == Self::KNOWN_BITS {
            Self::empty()
        } else {
            self
        }
    }

    /// The grades this set admits as a bitmask: every grade's bit when unlimited.
    pub(crate) const fn admitted_bits(self) -> u8 {
        if self.0 == 0 { Self::KNOWN_BITS } else { self.0 }
    }

    /// Iterates over the grades in the set, in [`Grade::ALL`] order (nothing for the empty set).
    pub fn iter(&self) -> impl Iterator<Item = Grade> + use<> {
        let grades = *self;
        Grade::ALL.into_iter().filter(move |grade| grades.contains(*grade))
    }
}

impl FromIterator<Grade> for GradeSet {
    fn from_iter<I: IntoIterator<Item = Grade>>(iter: I) -> Self {
        let mut grades = Self::empty();
        grades.extend(iter);
        grades
    }
}

impl Extend<Grade> for GradeSet {
    fn extend<I: IntoIterator<Item = Grade>>(&mut self, iter: I) {
        for grade in iter {
            self.insert(grade);
        }
    }
}

impl fmt::Debug for GradeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter().map(Grade::name)).finish()
    }
}

impl fmt::Display for GradeSet {
    /// Writes the grades' names separated by `", "`, such as `STANDARD, POTENTIAL`, or
    /// `every grade` for the empty set.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("every grade");
        }
        for (i, grade) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(grade.name())?;
        }
        Ok(())
    }
}

/// The collection prefix of role binding names.
pub const ROLE_BINDINGS: &str = "roleBindings/";

/// The resource name of a role binding, `roleBindings/{uuid}`.
pub fn binding_name(id: BindingId) -> String {
    format!("{ROLE_BINDINGS}{id}")
}

/// A grant: `principal` holds `role` for the customers in `scope` whose grade is in `grades` (if
/// limited), until `expire_time` if set.
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
    /// The grades of the customers in `scope` the role applies to; empty means every grade (see
    /// [`GradeSet`]). It matters only for customer-scoped permissions, like the scope.
    pub grades: GradeSet,
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
            grade: None,
        };
        let in_west = CustomerFacts {
            owner: None,
            department: Some(department("west")),
            grade: None,
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
            grade: None,
        };
        let bobs = CustomerFacts {
            owner: Some(principal("bob")),
            department: None,
            grade: None,
        };
        assert!(Scope::Own.covers(&alice, None, &owned));
        assert!(!Scope::Own.covers(&alice, None, &bobs));
        assert!(!Scope::Own.covers(&alice, None, &CustomerFacts::default()));
    }

    #[test]
    fn grade_sets_round_trip_their_bits_and_list_grades_in_code_order() {
        for bits in 0..=0b1111 {
            let set = GradeSet::from_bits(bits).unwrap();
            assert_eq!(set.bits(), bits);
            assert_eq!(set.iter().collect::<GradeSet>(), set);
            assert_eq!(set.iter().count(), bits.count_ones() as usize);
        }
        assert!(GradeSet::from_bits(0b1_0000).is_err());
        assert_eq!(GradeSet::ALL.bits(), 0b1111);
        assert_eq!(GradeSet::ALL.iter().collect::<Vec<_>>(), Grade::ALL);
        let junior: GradeSet = [Grade::Potential, Grade::Standard, Grade::Standard]
            .into_iter()
            .collect();
        assert_eq!(junior.bits(), 0b1100);
        assert_eq!(junior.iter().collect::<Vec<_>>(), [Grade::Standard, Grade::Potential]);
        assert_eq!(junior.to_string(), "STANDARD, POTENTIAL");
        assert_eq!(format!("{junior:?}"), r#"{"STANDARD", "POTENTIAL"}"#);
        assert_eq!(GradeSet::empty().to_string(), "every grade");
        assert_eq!(GradeSet::default(), GradeSet::empty());
    }

    #[test]
    fn an_empty_grade_set_admits_every_customer_and_unclassified_counts_as_potential() {
        let junior: GradeSet = [Grade::Standard, Grade::Potential].into_iter().collect();
        let vip: GradeSet = [Grade::Vip].into_iter().collect();
        for grade in Grade::ALL.map(Some).into_iter().chain([None]) {
            assert!(GradeSet::empty().admits(grade));
            assert!(GradeSet::ALL.admits(grade));
        }
        assert!(junior.admits(Some(Grade::Standard)));
        assert!(junior.admits(Some(Grade::Potential)));
        assert!(junior.admits(None), "not classified yet counts as POTENTIAL");
        assert!(!junior.admits(Some(Grade::Vip)));
        assert!(!junior.admits(Some(Grade::Key)));
        assert!(!vip.admits(None));
        assert!(GradeSet::empty().is_unlimited() && GradeSet::ALL.is_unlimited());
        assert!(!junior.is_unlimited() && !vip.is_unlimited());
        assert!(
            !GradeSet::empty().contains(Grade::Vip),
            "empty contains nothing, yet admits all"
        );
    }

    #[test]
    fn the_union_of_grade_sets_admits_what_either_admits() {
        let sets: Vec<GradeSet> = (0..=0b1111).map(|bits| GradeSet::from_bits(bits).unwrap()).collect();
        for a in &sets {
            for b in &sets {
                let union = a.union(*b);
                assert_eq!(union, b.union(*a));
                assert_eq!(union, union.normalized());
                for grade in Grade::ALL.map(Some).into_iter().chain([None]) {
                    assert_eq!(
                        union.admits(grade),
                        a.admits(grade) || b.admits(grade),
                        "{a:?} {b:?} {grade:?}"
                    );
                }
            }
        }
        assert_eq!(GradeSet::ALL.normalized(), GradeSet::empty());
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
            grades: GradeSet::empty(),
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
