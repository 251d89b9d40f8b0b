//! The fixed list of permissions, named `resource.verb`, and sets of them.
//!
//! A [`Permission`] is either *customer-scoped* (it concerns one customer, so a binding's
//! [`Scope`](super::Scope) decides which customers it applies to) or *global* (it concerns the
//! service as a whole, such as reading the policy, and any live binding that holds it grants it).
//! [`Permission::is_customer_scoped`] tells which.

use std::fmt;

use crate::customer::values::InvalidValue;

/// One thing a principal may be allowed to do, named `resource.verb` as in DESIGN.md §3.
///
/// The declaration order is the order of [`Permission::ALL`] and of the bits of a
/// [`PermissionSet`]; new permissions are only ever appended, so stored bit sets stay valid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Permission {
    /// Read one customer (`customers.get`); contact details stay masked without
    /// [`Permission::CustomersReadContact`].
    CustomersGet,
    /// List customers (`customers.list`); the list holds only customers in the caller's scope.
    CustomersList,
    /// Create a customer (`customers.create`); the new customer must fall in the caller's scope.
    CustomersCreate,
    /// Change a customer's profile (`customers.update`).
    CustomersUpdate,
    /// Soft-delete and undelete a customer (`customers.delete`).
    CustomersDelete,
    /// See a customer's contact e-mail and phone unmasked (`customers.read_contact`).
    CustomersReadContact,
    /// Change a customer's owner or department (`customers.reassign`).
    CustomersReassign,
    /// Record purchases and interactions of a customer (`activity.record`).
    ActivityRecord,
    /// Override a customer's classification by expert assessment (`classification.override`).
    ClassificationOverride,
    /// Run batch re-classification of all customers (`classification.run`).
    ClassificationRun,
    /// Read the classification policy and its versions (`policy.read`).
    PolicyRead,
    /// Write and activate classification policy versions (`policy.write`).
    PolicyWrite,
    /// Ask for access decisions on behalf of other principals (`access.check`); asking about
    /// oneself needs no permission.
    AccessCheck,
    /// Manage principals, roles, role bindings and API keys (`access.manage`).
    AccessManage,
    /// Read the audit log (`audit.read`).
    AuditRead,
}

impl Permission {
    /// Every permission, in declaration order.
    pub const ALL: [Self; 15] = [
        Self::CustomersGet,
        Self::CustomersList,
        Self::CustomersCreate,
        Self::CustomersUpdate,
        Self::CustomersDelete,
        Self::CustomersReadContact,
        Self::CustomersReassign,
        Self::ActivityRecord,
        Self::ClassificationOverride,
        Self::ClassificationRun,
        Self::PolicyRead,
        Self::PolicyWrite,
        Self::AccessCheck,
        Self::AccessManage,
        Self::AuditRead,
    ];

    /// Returns the dotted name, such as `customers.read_contact`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::CustomersGet => "customers.get",
            Self::CustomersList => "customers.list",
            Self::CustomersCreate => "customers.create",
            Self::CustomersUpdate => "customers.update",
            Self::CustomersDelete => "customers.delete",
            Self::CustomersReadContact => "customers.read_contact",
            Self::CustomersReassign => "customers.reassign",
            Self::ActivityRecord => "activity.record",
            Self::ClassificationOverride => "classification.override",
            Self::ClassificationRun => "classification.run",
            Self::PolicyRead => "policy.read",
            Self::PolicyWrite => "policy.write",
            Self::AccessCheck => "access.check",
            Self::AccessManage => "access.manage",
            Self::AuditRead => "audit.read",
        }
    }

    /// Accepts a dotted name exactly as [`Permission::name`] spells it (case-sensitive, no
    /// surrounding spaces).
    ///
    /// # Errors
    /// Returns [`InvalidValue`] listing every permission name when `raw` is none of them.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        Self::ALL
            .into_iter()
            .find(|permission| permission.name() == raw)
            .ok_or_else(|| InvalidValue(format!("must be one of: {}", Self::ALL.map(Self::name).join(", "))))
    }

    /// Returns whether the permission concerns one customer, so that a binding's scope decides
    /// which customers it applies to.
    ///
    /// The customer-scoped permissions are every `customers.*` permission, `activity.record` and
    /// `classification.override`. The others (`classification.run`, `policy.*`, `access.*`,
    /// `audit.read`) are global: any live binding that holds one grants it, whatever its scope.
    pub const fn is_customer_scoped(self) -> bool {
        match self {
            Self::CustomersGet
            | Self::CustomersList
            | Self::CustomersCreate
            | Self::CustomersUpdate
            | Self::CustomersDelete
            | Self::CustomersReadContact
            | Self::CustomersReassign
            | Self::ActivityRecord
            | Self::ClassificationOverride => true,
            Self::ClassificationRun
            | Self::PolicyRead
            | Self::PolicyWrite
            | Self::AccessCheck
            | Self::AccessManage
            | Self::AuditRead => false,
        }
    }

    /// The permission's bit in a [`PermissionSet`]: its position in [`Permission::ALL`].
    const fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of [`Permission`]s, stored as a bit mask in which a permission's bit is its position in
/// [`Permission::ALL`]. It is `Copy`, and testing membership is one `and`.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct PermissionSet(u32);

impl PermissionSet {
    /// Every bit that stands for a permission.
    const KNOWN_BITS: u32 = (1 << Permission::ALL.len()) - 1;

    /// Returns the empty set.
    pub const fn empty() -> Self {
        Self(0)
    }

    /// Returns the set of every permission.
    pub const fn all() -> Self {
        Self(Self::KNOWN_BITS)
    }

    /// Returns the set of the given permissions; usable in constants.
    pub const fn of(permissions: &[Permission]) -> Self {
        let mut bits = 0;
        let mut i = 0;
        while i < permissions.len() {
            bits |= permissions[i].bit();
            i += 1;
        }
        Self(bits)
    }

    /// Accepts a bit mask read back from storage.
    ///
    /// # Errors
    /// Returns [`InvalidValue`] when a bit is set that stands for no permission.
    pub fn from_bits(bits: u32) -> Result<Self, InvalidValue> {
        if bits & !Self::KNOWN_BITS == 0 {
            Ok(Self(bits))
        } else {
            Err(InvalidValue(format!(
                "must only set the bits of known permissions ({:#x}), got {bits:#x}",
                Self::KNOWN_BITS
            )))
        }
    }

    /// Returns the bit mask, for storage.
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// Returns whether `permission` is in the set.
    pub const fn contains(self, permission: Permission) -> bool {
        self.0 & permission.bit() != 0
    }

    /// Adds `permission` to the set.
    pub fn insert(&mut self, permission: Permission) {
        self.0 |= permission.bit();
    }

    /// Removes `permission` from the set.
    pub fn remove(&mut self, permission: Permission) {
        self.0 &= !permission.bit();
    }

    /// Returns the permissions in either set.
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// Returns whether every permission of `other` is also in this set.
    pub const fn is_superset(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// Returns whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Returns how many permissions are in the set.
    pub const fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// Iterates over the permissions in the set, in [`Permission::ALL`] order.
    pub const fn iter(self) -> Iter {
        Iter { remaining: self.0 }
    }
}

/// An iterator over the permissions of a [`PermissionSet`], in [`Permission::ALL`] order.
#[derive(Clone, Debug)]
pub struct Iter {
    /// The bits not yet yielded.
    remaining: u32,
}

impl Iterator for Iter {
    type Item = Permission;

    fn next(&mut self) -> Option<Permission> {
        while self.remaining != 0 {
            let index = self.remaining.trailing_zeros();
            self.remaining &= self.remaining - 1;
            if let Some(permission) = usize::try_from(index).ok().and_then(|i| Permission::ALL.get(i)) {
                return Some(*permission);
            }
        }
        None
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let len = self.remaining.count_ones() as usize;
        (len, Some(len))
    }
}

impl ExactSizeIterator for Iter {}

impl std::iter::FusedIterator for Iter {}

impl FromIterator<Permission> for PermissionSet {
    fn from_iter<I: IntoIterator<Item = Permission>>(iter: I) -> Self {
        let mut set = Self::empty();
        set.extend(iter);
        set
    }
}

impl Extend<Permission> for PermissionSet {
    fn extend<I: IntoIterator<Item = Permission>>(&mut self, iter: I) {
        for permission in iter {
            self.insert(permission);
        }
    }
}

impl IntoIterator for PermissionSet {
    type Item = Permission;
    type IntoIter = Iter;

    fn into_iter(self) -> Iter {
        self.iter()
    }
}

impl fmt::Debug for PermissionSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter().map(Permission::name)).finish()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn every_permission_round_trips_through_its_name() {
        for permission in Permission::ALL {
            assert_eq!(Permission::parse(permission.name()), Ok(permission));
            assert_eq!(permission.to_string(), permission.name());
        }
    }

    #[test]
    fn permission_names_are_the_ones_design_md_lists_in_its_order() {
        let names = Permission::ALL.map(Permission::name);
        assert_eq!(
            names,
            [
                "customers.get",
                "customers.list",
                "customers.create",
                "customers.update",
                "customers.delete",
                "customers.read_contact",
                "customers.reassign",
                "activity.record",
                "classification.override",
                "classification.run",
                "policy.read",
                "policy.write",
                "access.check",
                "access.manage",
                "audit.read",
            ]
        );
    }

    #[test]
    fn permission_parse_is_exact_and_lists_the_accepted_names() {
        for bad in [
            "",
            "customers",
            "Customers.get",
            " customers.get",
            "customers.get ",
            "customers.*",
        ] {
            assert!(Permission::parse(bad).is_err(), "{bad:?}");
        }
        let error = Permission::parse("customers.read").unwrap_err().to_string();
        assert!(
            error.starts_with("must be one of: customers.get, customers.list"),
            "{error}"
        );
        assert!(error.ends_with("access.manage, audit.read"), "{error}");
    }

    #[test]
    fn customer_scoped_permissions_are_customers_activity_and_override() {
        let scoped: Vec<&str> = Permission::ALL
            .into_iter()
            .filter(|p| p.is_customer_scoped())
            .map(Permission::name)
            .collect();
        assert_eq!(
            scoped,
            [
                "customers.get",
                "customers.list",
                "customers.create",
                "customers.update",
                "customers.delete",
                "customers.read_contact",
                "customers.reassign",
                "activity.record",
                "classification.override",
            ]
        );
    }

    #[test]
    fn each_permission_has_its_own_bit_in_declaration_order() {
        for (index, permission) in Permission::ALL.into_iter().enumerate() {
            assert_eq!(PermissionSet::of(&[permission]).bits(), 1 << index);
        }
        assert_eq!(PermissionSet::all().bits(), 0x7fff);
        assert_eq!(PermissionSet::all().len(), 15);
    }

    #[test]
    fn permission_set_insert_contains_and_remove() {
        let mut set = PermissionSet::default();
        assert_eq!(set, PermissionSet::empty());
        assert!(set.is_empty());
        set.insert(Permission::AuditRead);
        set.insert(Permission::AuditRead);
        set.insert(Permission::CustomersGet);
        assert!(set.contains(Permission::AuditRead));
        assert!(set.contains(Permission::CustomersGet));
        assert!(!set.contains(Permission::CustomersList));
        assert_eq!(set.len(), 2);
        assert_eq!(
            set.iter().collect::<Vec<_>>(),
            [Permission::CustomersGet, Permission::AuditRead]
        );
        assert_eq!(format!("{set:?}"), r#"{"customers.get", "audit.read"}"#);
        set.remove(Permission::AuditRead);
        assert_eq!(set, PermissionSet::of(&[Permission::CustomersGet]));
    }

    #[test]
    fn permission_set_union_and_superset() {
        let read = PermissionSet::of(&[Permission::CustomersGet, Permission::CustomersList]);
        let write = PermissionSet::of(&[Permission::CustomersUpdate]);
        let both = read.union(write);
        assert!(both.is_superset(read));
        assert!(both.is_superset(write));
        assert!(!read.is_superset(both));
        assert!(PermissionSet::all().is_superset(both));
        assert!(read.is_superset(PermissionSet::empty()));
    }

    #[test]
    fn permission_set_rejects_unknown_bits() {
        assert!(PermissionSet::from_bits(0x8000).is_err());
        assert!(PermissionSet::from_bits(u32::MAX).is_err());
        assert_eq!(PermissionSet::from_bits(0x7fff), Ok(PermissionSet::all()));
        assert_eq!(PermissionSet::from_bits(0), Ok(PermissionSet::empty()));
    }

    proptest! {
        #[test]
        fn permission_set_round_trips_through_bits_and_iteration(bits in 0u32..0x8000) {
            let set = PermissionSet::from_bits(bits).unwrap();
            prop_assert_eq!(set.bits(), bits);
            prop_assert_eq!(set.iter().collect::<PermissionSet>(), set);
            prop_assert_eq!(set.into_iter().collect::<PermissionSet>(), set);
            prop_assert_eq!(set.iter().count(), set.len());
            prop_assert_eq!(set.iter().len(), set.len());
        }

        #[test]
        fn permission_parse_never_panics(raw in any::<String>()) {
            let _ = Permission::parse(&raw);
        }
    }
}
