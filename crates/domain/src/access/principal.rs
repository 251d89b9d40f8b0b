//! Principals: the users and service accounts that call the service and hold role bindings.
//!
//! A principal is named `principals/{id}` by a [`PrincipalName`], the same type a customer's
//! `owner` holds, so that "customers the principal owns" is a plain equality.

use std::fmt;

use crate::customer::values::{Department, InvalidValue, PrincipalName};

coded_enum!(
    /// Whether a principal is a person or another program.
    PrincipalKind {
        /// A person, such as a sales rep or an operator (`USER`).
        User = (1, "USER"),
        /// A program, such as the order system or a marketing job (`SERVICE`).
        Service = (2, "SERVICE"),
    }
);

coded_enum!(
    /// A principal's level in *our* organisation (高层 / 中层 / 基层 management), as opposed to a
    /// customer contact's [`JobRank`](crate::customer::values::JobRank) in theirs.
    StaffLevel {
        /// Senior management (`SENIOR`, 高层).
        Senior = (1, "SENIOR"),
        /// Middle management (`MIDDLE`, 中层).
        Middle = (2, "MIDDLE"),
        /// Front-line staff (`FRONTLINE`, 基层).
        Frontline = (3, "FRONTLINE"),
    }
);

/// The name people read for a principal, such as "Li Lei" or "Order system".
///
/// Trimmed, 1 to 200 characters, no control characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PrincipalDisplayName(String);

impl PrincipalDisplayName {
    /// The most characters (not bytes) the name may have after trimming.
    pub const MAX_CHARS: usize = 200;

    /// Trims `raw` and accepts it if it has 1 to 200 characters and no control characters.
    ///
    /// # Errors
    /// Returns [`InvalidValue`] when the trimmed text is empty, too long or contains a control
    /// character.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        super::parse_text(raw, Self::MAX_CHARS).map(Self)
    }

    /// Returns the name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PrincipalDisplayName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for PrincipalDisplayName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// A user or service account that can be authenticated and can hold role bindings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The resource name, `principals/{id}`.
    pub name: PrincipalName,
    /// Person or program.
    pub kind: PrincipalKind,
    /// The name people read.
    pub display_name: PrincipalDisplayName,
    /// The department the principal works in. A binding with scope
    /// [`Scope::Department`](super::Scope::Department) matches nothing while this is `None`.
    pub department: Option<Department>,
    /// The principal's management level, when known.
    pub staff_level: Option<StaffLevel>,
    /// A disabled principal is denied everything, whatever its bindings, and all its keys stop
    /// working at once.
    pub disabled: bool,
}

/// One change UpdatePrincipal may make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalChange {
    /// A new display name.
    DisplayName(PrincipalDisplayName),
    /// A new department, or none.
    Department(Option<Department>),
    /// A new staff level, or not known.
    StaffLevel(Option<StaffLevel>),
    /// Disable or enable.
    Disabled(bool),
}

impl PrincipalChange {
    /// Applies the change to `principal`.
    pub fn apply(&self, principal: &mut Principal) {
        match self {
            Self::DisplayName(name) => principal.display_name = name.clone(),
            Self::Department(department) => principal.department = department.clone(),
            Self::StaffLevel(level) => principal.staff_level = *level,
            Self::Disabled(disabled) => principal.disabled = *disabled,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn coded_enums_round_trip_name_and_code() {
        for (index, kind) in PrincipalKind::ALL.into_iter().enumerate() {
            assert_eq!(usize::try_from(kind.code()).unwrap(), index + 1);
            assert_eq!(PrincipalKind::from_code(kind.code()), Some(kind));
            assert_eq!(PrincipalKind::from_name(kind.name()), Some(kind));
            assert_eq!(kind.to_string(), kind.name());
        }
        for (index, level) in StaffLevel::ALL.into_iter().enumerate() {
            assert_eq!(usize::try_from(level.code()).unwrap(), index + 1);
            assert_eq!(StaffLevel::from_code(level.code()), Some(level));
            assert_eq!(StaffLevel::from_name(level.name()), Some(level));
            assert_eq!(level.to_string(), level.name());
        }
        assert_eq!(PrincipalKind::from_code(0), None);
        assert_eq!(StaffLevel::from_code(4), None);
        assert_eq!(StaffLevel::from_name("senior"), None);
        assert_eq!(StaffLevel::ALL.map(StaffLevel::name), ["SENIOR", "MIDDLE", "FRONTLINE"]);
        assert_eq!(PrincipalKind::ALL.map(PrincipalKind::name), ["USER", "SERVICE"]);
    }

    #[test]
    fn principal_display_name_is_trimmed_text_of_1_to_200_characters() {
        assert_eq!(PrincipalDisplayName::parse("  Li Lei ").unwrap().as_str(), "Li Lei");
        assert_eq!(PrincipalDisplayName::parse("李雷").unwrap().to_string(), "李雷");
        assert!(PrincipalDisplayName::parse(&"字".repeat(200)).is_ok());
        for bad in ["", "   ", "Li\nLei", "tab\there", &"a".repeat(201)] {
            assert!(PrincipalDisplayName::parse(bad).is_err(), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn accepted_principal_display_names_reparse_to_themselves(raw in any::<String>()) {
            if let Ok(name) = PrincipalDisplayName::parse(&raw) {
                prop_assert_eq!(PrincipalDisplayName::parse(name.as_ref()), Ok(name));
            }
        }
    }
}
