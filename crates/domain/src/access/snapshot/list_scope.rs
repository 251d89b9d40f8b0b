//! [`ListScope`]: which customers a principal may see in a list, as a condition persistence turns
//! into SQL; [`AccessSnapshot::list_scope`](super::AccessSnapshot::list_scope) computes it.

use crate::access::binding::GradeSet;
use crate::access::decision::CustomerFacts;
use crate::customer::values::{Department, PrincipalName};

/// Which customers a principal may see in a list, as a condition persistence turns into SQL.
///
/// # Translating it to SQL
/// - [`Everything`](Self::Everything): no condition.
/// - [`Nothing`](Self::Nothing): no query at all; the answer is empty.
/// - [`Restricted`](Self::Restricted): the `OR` of one condition per clause,
///   ```text
///   (department = d1 AND <grades g1>) OR … OR (owner = o1 AND <grades h1>) OR … OR <grades a>
///   ```
///   with one term per `(d, g)` of `departments`, one per `(o, h)` of `owners`, and the last
///   term only when `all_with_grades` is `Some(a)`. `<grades g>` is:
///   - nothing (the clause is just `department = d` or `owner = o`) when `g` is empty: **an
///     empty [`GradeSet`] means "every grade", never "no grade"**;
///   - otherwise `COALESCE(grade, POTENTIAL) IN (g…)`, with the grades written as the column
///     stores them (by [`Grade::name`](crate::classification::Grade::name) or
///     [`Grade::code`](crate::classification::Grade::code)) and an unclassified customer (a
///     `NULL` grade) counting as POTENTIAL. Equivalently, and friendlier to an index:
///     `grade IN (g…)`, `OR grade IS NULL` added exactly when `g` contains POTENTIAL
///     (`g.admits(None)`).
///
/// [`covers`](Self::covers) is the same condition evaluated in memory, and it agrees with
/// [`AccessSnapshot::check`](super::AccessSnapshot::check) for every customer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListScope {
    /// Every customer: no condition.
    Everything,
    /// Only customers matched by one of the clauses: a customer whose `department` is one of
    /// `departments` and whose grade that department's set admits, **or** whose `owner` is one of
    /// `owners` and whose grade that owner's set admits, **or** (any department, any owner)
    /// whose grade `all_with_grades` admits.
    ///
    /// Invariants: at least one clause exists (a list is non-empty or `all_with_grades` is
    /// `Some`); both lists are sorted by department or owner and name each at most once; every
    /// set is normalized (see [`GradeSet::normalized`]: an empty set means every grade, and
    /// [`GradeSet::ALL`] never appears); `all_with_grades` is never `Some` of an empty set (that
    /// is [`Everything`](Self::Everything)).
    Restricted {
        /// Departments whose customers are visible, each with the grades visible in it (empty:
        /// every grade).
        departments: Vec<(Department, GradeSet)>,
        /// Owners whose customers are visible, each with the grades visible for it (empty: every
        /// grade).
        owners: Vec<(PrincipalName, GradeSet)>,
        /// Grades whose customers are visible whatever their department and owner (from bindings
        /// with scope ALL limited to some grades); `None` when there is no such binding. Never
        /// empty.
        all_with_grades: Option<GradeSet>,
    },
    /// No customer: the list is empty (or the request is denied).
    Nothing,
}

impl ListScope {
    /// Returns whether every customer `other` covers is also covered by `self`. It compares the
    /// conditions clause by clause, not the customers, so it may answer `false` when a customer
    /// outside one clause of `self` happens to be covered by another; it never answers `true`
    /// wrongly.
    pub fn includes(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Everything, _) | (_, Self::Nothing) => true,
            (Self::Nothing | Self::Restricted { .. }, Self::Everything) | (Self::Nothing, Self::Restricted { .. }) => {
                false
            }
            (
                Self::Restricted {
                    departments,
                    owners,
                    all_with_grades,
                },
                Self::Restricted {
                    departments: other_departments,
                    owners: other_owners,
                    all_with_grades: other_all,
                },
            ) => {
                let all = all_with_grades.map_or(0, GradeSet::admitted_bits);
                let within = |wanted: GradeSet, shown: u8| wanted.admitted_bits() & !shown == 0;
                other_departments
                    .iter()
                    .all(|(d, grades)| within(*grades, shown(departments, d, all)))
                    && other_owners
                        .iter()
                        .all(|(o, grades)| within(*grades, shown(owners, o, all)))
                    && other_all.is_none_or(|grades| within(grades, all))
            }
        }
    }

    /// Returns whether a customer with these facts is in the scope.
    pub fn covers(&self, customer: &CustomerFacts) -> bool {
        match self {
            Self::Everything => true,
            Self::Restricted {
                departments,
                owners,
                all_with_grades,
            } => {
                let grade = customer.grade;
                all_with_grades.is_some_and(|grades| grades.admits(grade))
                    || customer.department.as_ref().is_some_and(|department| {
                        departments
                            .iter()
                            .any(|(d, grades)| d == department && grades.admits(grade))
                    })
                    || customer
                        .owner
                        .as_ref()
                        .is_some_and(|owner| owners.iter().any(|(o, grades)| o == owner && grades.admits(grade)))
            }
            Self::Nothing => false,
        }
    }
}

/// The grades (as a mask) a restricted scope shows of the customers its `clauses` match at `key`,
/// given that its ALL clause shows the grades `all` of every customer.
fn shown<K: PartialEq>(clauses: &[(K, GradeSet)], key: &K, all: u8) -> u8 {
    clauses
        .iter()
        .filter(|(k, _)| k == key)
        .fold(all, |mask, (_, grades)| mask | grades.admitted_bits())
}
