//! Roles: named bundles of permissions, six of them built in.
//!
//! A role only says *what* may be done; a [`RoleBinding`](super::RoleBinding) says who holds it
//! and for which customers. Built-in roles are defined here in code, cannot be changed or
//! deleted, and are always present in an [`AccessSnapshot`](super::AccessSnapshot); custom roles
//! may hold any permission set.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

use super::permission::{Permission, PermissionSet};
use crate::customer::values::InvalidValue;

/// What a role id may look like, phrased to follow "must be".
const ROLE_ID_RULE: &str = "2 to 63 characters of lowercase letters, digits, '_' and '-' that starts with a letter";

/// Whether `id` matches `^[a-z][a-z0-9_-]{1,62}$`.
fn is_role_id(id: &str) -> bool {
    let bytes = id.as_bytes();
    (2..=63).contains(&bytes.len())
        && bytes.first().is_some_and(u8::is_ascii_lowercase)
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_' || *b == b'-')
}

/// The most bytes a role id may have.
const MAX_ROLE_ID_LEN: usize = 63;

/// The most bytes a role name may have: `roles/` and the longest id.
const MAX_ROLE_NAME_LEN: usize = RoleName::PREFIX.len() + MAX_ROLE_ID_LEN;

/// The resource name of a role, `roles/{id}`, such as `roles/sales_rep`.
///
/// The id is 2 to 63 characters of lowercase letters, digits, `_` and `-`, starting with a
/// letter. The name is stored inline (at most 69 ASCII bytes), so cloning one, as every
/// [`Decision`](super::Decision) does, neither allocates nor writes to memory shared between
/// threads (as a reference count would).
#[derive(Clone)]
pub struct RoleName {
    /// How many bytes of `bytes` are used.
    len: u8,
    /// The name, ASCII, followed by zeros.
    bytes: [u8; MAX_ROLE_NAME_LEN],
}

impl RoleName {
    /// The collection prefix every role name starts with.
    pub const PREFIX: &'static str = "roles/";

    /// Accepts a full resource name such as `roles/sales_rep`.
    ///
    /// # Errors
    /// Returns [`InvalidValue`] when `raw` does not start with `roles/` or its id is invalid.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        match raw.strip_prefix(Self::PREFIX) {
            Some(id) if is_role_id(id) => Ok(Self::from_valid_id(id)),
            _ => Err(InvalidValue(format!(
                "must be a resource name roles/{{id}} where the id is {ROLE_ID_RULE}"
            ))),
        }
    }

    /// Builds the resource name from a bare id such as `sales_rep`.
    ///
    /// # Errors
    /// Returns [`InvalidValue`] when `id` is not a valid role id.
    pub fn from_id(id: &str) -> Result<Self, InvalidValue> {
        if is_role_id(id) {
            Ok(Self::from_valid_id(id))
        } else {
            Err(InvalidValue(format!("must be {ROLE_ID_RULE}")))
        }
    }

    /// Builds the name from an id already checked by [`is_role_id`] (an id that is too long is
    /// cut, which a checked id never is).
    fn from_valid_id(id: &str) -> Self {
        let mut bytes = [0; MAX_ROLE_NAME_LEN];
        let name = Self::PREFIX.bytes().chain(id.bytes());
        let mut len = 0;
        for (slot, byte) in bytes.iter_mut().zip(name) {
            *slot = byte;
            len += 1;
        }
        Self {
            len: u8::try_from(len).unwrap_or(u8::MAX),
            bytes,
        }
    }

    /// Returns the full resource name, `roles/{id}`.
    pub fn as_str(&self) -> &str {
        // The bytes are always ASCII, so this never falls back.
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }

    /// Returns the id, the part after `roles/`.
    pub fn id(&self) -> &str {
        self.as_str().strip_prefix(Self::PREFIX).unwrap_or_default()
    }

    /// The used bytes.
    fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or_default()
    }
}

impl PartialEq for RoleName {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for RoleName {}

impl Hash for RoleName {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl PartialOrd for RoleName {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for RoleName {
    /// Orders names as strings.
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl fmt::Debug for RoleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RoleName").field(&self.as_str()).finish()
    }
}

impl fmt::Display for RoleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl AsRef<str> for RoleName {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

/// The name people read for a role, such as "Sales representative".
///
/// Trimmed, 1 to 100 characters, no control characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoleTitle(String);

impl RoleTitle {
    /// The most characters (not bytes) the title may have after trimming.
    pub const MAX_CHARS: usize = 100;

    /// Trims `raw` and accepts it if it has 1 to 100 characters and no control characters.
    ///
    /// # Errors
    /// Returns [`InvalidValue`] when the trimmed text is empty, too long or contains a control
    /// character.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        super::parse_text(raw, Self::MAX_CHARS).map(Self)
    }

    /// Returns the title as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RoleTitle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for RoleTitle {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// A named bundle of permissions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Role {
    /// The resource name, `roles/{id}`.
    pub name: RoleName,
    /// The name people read.
    pub title: RoleTitle,
    /// What the role allows; a binding's scope decides for which customers.
    pub permissions: PermissionSet,
    /// Whether the role is one of the [`BuiltInRole`]s, which cannot be changed or deleted.
    pub built_in: bool,
}

/// One change UpdateRole may make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleChange {
    /// A new title.
    Title(RoleTitle),
    /// A new permission set, replacing the old one.
    Permissions(PermissionSet),
}

impl RoleChange {
    /// Applies the change to `role`.
    pub fn apply(&self, role: &mut Role) {
        match self {
            Self::Title(title) => role.title = title.clone(),
            Self::Permissions(permissions) => role.permissions = *permissions,
        }
    }
}

/// The roles every installation has, defined in code. Their permissions are tabled on
/// [`built_in_roles`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BuiltInRole {
    /// Everything, including access management (`roles/admin`).
    Admin,
    /// Runs a team's customers end to end (`roles/manager`).
    Manager,
    /// Works their own or their department's customers (`roles/sales_rep`).
    SalesRep,
    /// Helps customers and records interactions (`roles/support`).
    Support,
    /// Reads customers and the policy for analysis, without personal contact data
    /// (`roles/analyst`).
    Analyst,
    /// Reads the audit log, and customers without contact data (`roles/auditor`).
    Auditor,
}

impl BuiltInRole {
    /// Every built-in role, in declaration order.
    pub const ALL: [Self; 6] = [
        Self::Admin,
        Self::Manager,
        Self::SalesRep,
        Self::Support,
        Self::Analyst,
        Self::Auditor,
    ];

    /// Returns the role id, the `{id}` in `roles/{id}`, such as `sales_rep`.
    pub const fn id(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Manager => "manager",
            Self::SalesRep => "sales_rep",
            Self::Support => "support",
            Self::Analyst => "analyst",
            Self::Auditor => "auditor",
        }
    }

    /// Returns the role's title, such as "Sales representative".
    pub const fn title(self) -> &'static str {
        match self {
            Self::Admin => "Administrator",
            Self::Manager => "Manager",
            Self::SalesRep => "Sales representative",
            Self::Support => "Support agent",
            Self::Analyst => "Analyst",
            Self::Auditor => "Auditor",
        }
    }

    /// Returns the role's permissions, as tabled on [`built_in_roles`].
    pub const fn permissions(self) -> PermissionSet {
        use Permission::*;
        match self {
            Self::Admin => PermissionSet::all(),
            Self::Manager => PermissionSet::of(&[
                CustomersGet,
                CustomersList,
                CustomersCreate,
                CustomersUpdate,
                CustomersDelete,
                CustomersReadContact,
                CustomersReassign,
                ActivityRecord,
                ClassificationOverride,
                PolicyRead,
            ]),
            Self::SalesRep => PermissionSet::of(&[
                CustomersGet,
                CustomersList,
                CustomersCreate,
                CustomersUpdate,
                CustomersReadContact,
                ActivityRecord,
                PolicyRead,
            ]),
            Self::Support => PermissionSet::of(&[CustomersGet, CustomersList, CustomersReadContact, ActivityRecord]),
            Self::Analyst => PermissionSet::of(&[CustomersGet, CustomersList, PolicyRead]),
            Self::Auditor => PermissionSet::of(&[CustomersGet, CustomersList, AuditRead, PolicyRead]),
        }
    }

    /// Returns the role's resource name, such as `roles/sales_rep`.
    pub fn name(self) -> RoleName {
        RoleName::from_valid_id(self.id())
    }

    /// Returns the built-in role named `name`, or `None` for a custom role.
    pub fn from_name(name: &RoleName) -> Option<Self> {
        Self::ALL.into_iter().find(|role| role.id() == name.id())
    }

    /// Returns the role as a [`Role`] with `built_in` set.
    pub fn role(self) -> Role {
        Role {
            name: self.name(),
            title: RoleTitle(self.title().to_owned()),
            permissions: self.permissions(),
            built_in: true,
        }
    }
}

/// Returns the built-in roles, in [`BuiltInRole::ALL`] order.
///
/// Their permissions (`✓` = granted; for customer-scoped permissions, within the binding's
/// scope):
///
#[doc = include_str!("roles.md")]
///
/// The choices behind the table:
/// - `admin` holds every permission, including those added later.
/// - `manager` runs a team's customers end to end (including contact data, delete, reassign and
///   classification overrides) within the scope of its binding, usually DEPARTMENT. It does not
///   get `audit.read`: that permission is global, so a department manager would read every
///   department's audit trail; auditing stays a separate duty, the `auditor`'s.
/// - `sales_rep` works customers and records activity, usually with scope OWN; it cannot delete
///   or reassign customers, or override a classification.
/// - `support` reads customers with their contact data to help them, and records interactions.
/// - `analyst` reads customers and the policy, but never unmasked contact data.
/// - `auditor` reads the audit log and the policy, and customers without contact data.
/// - `classification.run`, `policy.write`, `access.check` and `access.manage` are for `admin`
///   only; a backend service that asks on behalf of its callers gets a custom role holding
///   `access.check`.
pub fn built_in_roles() -> Vec<Role> {
    BuiltInRole::ALL.into_iter().map(BuiltInRole::role).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn role_name_accepts_roles_slash_and_a_valid_id() {
        let name = RoleName::parse("roles/sales_rep").unwrap();
        assert_eq!(name.as_str(), "roles/sales_rep");
        assert_eq!(name.id(), "sales_rep");
        assert_eq!(name.to_string(), "roles/sales_rep");
        assert_eq!(format!("{name:?}"), r#"RoleName("roles/sales_rep")"#);
        assert_eq!(RoleName::from_id("sales_rep").unwrap(), name);
        let longest = format!("roles/a{}", "b".repeat(62));
        assert_eq!(RoleName::parse(&longest).unwrap().id().len(), 63);
        for ok in ["roles/ab", "roles/a1", "roles/a-", "roles/a_b-c9"] {
            assert!(RoleName::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn role_name_rejects_bad_prefixes_and_ids() {
        for bad in [
            "",
            "roles/",
            "roles/a",
            "roles/1ab",
            "roles/_ab",
            "roles/Admin",
            "roles/sales rep",
            "roles/sales.rep",
            "role/admin",
            "Roles/admin",
            "admin",
            " roles/admin",
            "roles/admin/x",
            &format!("roles/a{}", "b".repeat(63)),
        ] {
            assert!(RoleName::parse(bad).is_err(), "{bad:?}");
        }
        assert!(RoleName::from_id("roles/admin").is_err());
        let error = RoleName::parse("roles/X").unwrap_err().to_string();
        assert!(error.contains("roles/{id}"), "{error}");
    }

    #[test]
    fn role_title_is_trimmed_text_of_1_to_100_characters() {
        assert_eq!(
            RoleTitle::parse(" Key account lead ").unwrap().as_str(),
            "Key account lead"
        );
        assert!(RoleTitle::parse(&"a".repeat(100)).is_ok());
        for bad in ["", " ", "a\nb", &"a".repeat(101)] {
            assert!(RoleTitle::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn built_in_roles_have_valid_names_and_titles_and_are_marked_built_in() {
        let roles = built_in_roles();
        assert_eq!(roles.len(), BuiltInRole::ALL.len());
        for (role, built_in) in roles.iter().zip(BuiltInRole::ALL) {
            assert_eq!(RoleName::parse(role.name.as_str()).unwrap(), role.name);
            assert_eq!(RoleName::from_id(built_in.id()).unwrap(), role.name);
            assert_eq!(RoleTitle::parse(role.title.as_str()).unwrap(), role.title);
            assert!(role.built_in);
            assert_eq!(role.permissions, built_in.permissions());
            assert_eq!(BuiltInRole::from_name(&role.name), Some(built_in));
        }
        assert_eq!(BuiltInRole::from_name(&RoleName::parse("roles/custom").unwrap()), None);
    }

    #[test]
    fn built_in_role_ids_are_the_ones_design_md_names() {
        assert_eq!(
            BuiltInRole::ALL.map(BuiltInRole::id),
            ["admin", "manager", "sales_rep", "support", "analyst", "auditor"]
        );
    }

    /// Renders the permission table of the built-in roles from the code, as `roles.md` holds it.
    fn render_role_table() -> String {
        let mut table = String::from("| permission |");
        for role in BuiltInRole::ALL {
            table.push_str(&format!(" {} |", role.id()));
        }
        table.push_str("\n| --- |");
        for _ in BuiltInRole::ALL {
            table.push_str(" :-: |");
        }
        table.push('\n');
        for permission in Permission::ALL {
            table.push_str(&format!("| `{permission}` |"));
            for role in BuiltInRole::ALL {
                table.push_str(if role.permissions().contains(permission) {
                    " ✓ |"
                } else {
                    "  |"
                });
            }
            table.push('\n');
        }
        table
    }

    #[test]
    fn the_documented_role_table_matches_the_code() {
        assert_eq!(include_str!("roles.md"), render_role_table());
    }

    #[test]
    fn built_in_roles_grant_what_the_issue_asks_for() {
        use Permission::*;
        let admin = BuiltInRole::Admin.permissions();
        assert_eq!(admin, PermissionSet::all());
        let manager = BuiltInRole::Manager.permissions();
        for p in Permission::ALL
            .into_iter()
            .filter(|p| p.name().starts_with("customers."))
        {
            assert!(manager.contains(p), "{p}");
        }
        assert!(manager.contains(ActivityRecord) && manager.contains(ClassificationOverride));
        assert!(!manager.contains(AuditRead) && !manager.contains(AccessManage));
        assert_eq!(
            BuiltInRole::SalesRep.permissions(),
            PermissionSet::of(&[
                CustomersGet,
                CustomersList,
                CustomersCreate,
                CustomersUpdate,
                CustomersReadContact,
                ActivityRecord,
                PolicyRead
            ])
        );
        assert!(!BuiltInRole::Analyst.permissions().contains(CustomersReadContact));
        assert!(!BuiltInRole::Auditor.permissions().contains(CustomersReadContact));
        assert!(BuiltInRole::Auditor.permissions().contains(AuditRead));
        for role in BuiltInRole::ALL {
            assert!(role.permissions().contains(CustomersGet), "{role:?}");
            assert!(role.permissions().contains(CustomersList), "{role:?}");
        }
    }

    #[test]
    fn role_names_compare_and_hash_as_their_strings() {
        use std::collections::HashSet;
        let mut names: Vec<RoleName> = ["roles/b", "roles/ab", "roles/a-", "roles/abc", "roles/aa"]
            .into_iter()
            .map(|raw| RoleName::parse(&format!("{raw}x")).unwrap())
            .collect();
        names.sort();
        let sorted: Vec<&str> = names.iter().map(RoleName::as_str).collect();
        let mut expected = sorted.clone();
        expected.sort_unstable();
        assert_eq!(sorted, expected);
        let set: HashSet<RoleName> = names.iter().cloned().chain(names.iter().cloned()).collect();
        assert_eq!(set.len(), names.len());
        assert_eq!(BuiltInRole::Admin.name(), RoleName::parse("roles/admin").unwrap());
    }

    proptest! {
        #[test]
        fn role_name_parse_never_panics_and_round_trips(raw in "(roles/)?[a-zA-Z0-9_ ./-]{0,70}") {
            if let Ok(name) = RoleName::parse(&raw) {
                prop_assert_eq!(RoleName::parse(name.as_str()), Ok(name.clone()));
                prop_assert_eq!(RoleName::from_id(name.id()), Ok(name));
            }
        }
    }
}
