//! Proto messages of `crm.v1.AccessService` to domain values and back: principals, roles, role
//! bindings, API keys, audit events, decision reasons, resource names, expiries and the audit log's
//! page cursors.
//!
//! Everything here is a pure function. Parsing collects every invalid field in a [`Violations`]
//! under its path as written in the request (e.g. `role.permissions[2]`), so a caller learns about
//! all of them at once; violation texts never repeat the rejected value.

use chrono::{DateTime, SubsecRound as _, TimeDelta, Utc};
use crm_domain::{
    access::{
        API_KEYS, ApiKeyId, ApiKeyRecord, AuditCursor, AuditEvent, AuditEventId, AuditOutcome, BindingId, Decision,
        GradeSet, Permission, PermissionSet, Principal, PrincipalChange, PrincipalDisplayName, PrincipalKind,
        ROLE_BINDINGS, Reason, Role, RoleBinding, RoleChange, RoleName, RoleTitle, Scope, StaffLevel, api_key_name,
        binding_name,
    },
    classification::Grade,
    customer::values::{Department, InvalidValue, PrincipalName},
    error::Violations,
};

use super::{ProtoEnum, enum_required, time_from_proto, timestamp};
use crate::{crm::v1 as pb, proto_enum};

// ---------------------------------------------------------------------------------------------
// Resource names
// ---------------------------------------------------------------------------------------------

/// The collection prefix of audit event names.
const AUDIT_EVENTS: &str = "auditEvents/";

/// Parses a role binding name `roleBindings/{uuid}`.
///
/// # Errors
/// [`InvalidValue`] for another collection or an id that is not a UUID.
pub fn parse_binding_name(raw: &str) -> Result<BindingId, InvalidValue> {
    raw.strip_prefix(ROLE_BINDINGS)
        .and_then(|id| BindingId::parse(id).ok())
        .ok_or_else(|| InvalidValue("must be a role binding resource name `roleBindings/{uuid}`".to_owned()))
}

/// Parses a required role binding name (`roleBindings/{uuid}`) at `path`.
pub fn binding_id(v: &mut Violations, path: &str, raw: &str) -> Option<BindingId> {
    if raw.is_empty() {
        v.add(path, "is required: a role binding resource name `roleBindings/{uuid}`");
        return None;
    }
    v.check(path, parse_binding_name(raw))
}

/// Parses an API key name `principals/{id}/apiKeys/{uuid}` into its principal and key id.
///
/// # Errors
/// [`InvalidValue`] when the principal part or the key id is malformed.
pub fn parse_api_key_name(raw: &str) -> Result<(PrincipalName, ApiKeyId), InvalidValue> {
    let invalid = || InvalidValue("must be an API key resource name `principals/{id}/apiKeys/{uuid}`".to_owned());
    let (principal, id) = raw.split_once(API_KEYS).ok_or_else(invalid)?;
    let principal = PrincipalName::parse(principal).map_err(|_| invalid())?;
    let id = ApiKeyId::parse(id).map_err(|_| invalid())?;
    Ok((principal, id))
}

/// Parses a required API key name (`principals/{id}/apiKeys/{uuid}`) at `path` into its
/// principal and key id.
pub fn api_key_id(v: &mut Violations, path: &str, raw: &str) -> Option<(PrincipalName, ApiKeyId)> {
    if raw.is_empty() {
        v.add(
            path,
            "is required: an API key resource name `principals/{id}/apiKeys/{uuid}`",
        );
        return None;
    }
    v.check(path, parse_api_key_name(raw))
}

/// The resource name of an audit event, `auditEvents/{uuid}`.
pub fn audit_event_name(id: AuditEventId) -> String {
    format!("{AUDIT_EVENTS}{id}")
}

/// Parses a required principal name (`principals/{id}`) at `path`.
pub fn principal_name(v: &mut Violations, path: &str, raw: &str) -> Option<PrincipalName> {
    if raw.is_empty() {
        v.add(path, "is required: a principal resource name `principals/{id}`");
        return None;
    }
    v.check(path, PrincipalName::parse(raw))
}

/// Parses a required role name (`roles/{id}`) at `path`.
pub fn role_name(v: &mut Violations, path: &str, raw: &str) -> Option<RoleName> {
    if raw.is_empty() {
        v.add(path, "is required: a role resource name `roles/{id}`");
        return None;
    }
    v.check(path, RoleName::parse(raw))
}

// ---------------------------------------------------------------------------------------------
// Timestamps
// ---------------------------------------------------------------------------------------------

/// `time` rounded up to a whole microsecond: the first stored instant (audit times and expiries
/// are stored in microseconds) at or after `time`, so that `stored >= time` and
/// `stored >= ceil_micros(time)` agree.
pub fn ceil_micros(time: DateTime<Utc>) -> DateTime<Utc> {
    let down = time.trunc_subsecs(6);
    if down == time {
        down
    } else {
        down.checked_add_signed(TimeDelta::microseconds(1)).unwrap_or(down)
    }
}

/// Parses an optional expiry at `path`: truncated to whole microseconds (as stored) and
/// required to lie after `now` (a grant or key that is expired on arrival is a mistake).
pub fn expire_time(
    v: &mut Violations,
    path: &str,
    raw: Option<&prost_types::Timestamp>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let time = time_from_proto(v, path, raw?)?.trunc_subsecs(6);
    if time <= now {
        v.add(path, "must be in the future (or absent for no expiry)");
        return None;
    }
    Some(time)
}

// ---------------------------------------------------------------------------------------------
// Enums
// ---------------------------------------------------------------------------------------------

proto_enum!(PrincipalKind => PrincipalKind {
    User = User,
    Service = Service,
});

proto_enum!(StaffLevel => StaffLevel {
    Senior = Senior,
    Middle = Middle,
    Frontline = Frontline,
});

proto_enum!(Scope => Scope {
    All = All,
    Department = Department,
    Own = Own,
});

proto_enum!(AuditOutcome => AuditOutcome {
    Allowed = Allowed,
    Denied = Denied,
    Failed = Failed,
});

/// What a missing principal kind is told.
const PRINCIPAL_KIND_REQUIRED: &str = "is required: PRINCIPAL_KIND_USER or PRINCIPAL_KIND_SERVICE";

/// What a missing scope is told.
const SCOPE_REQUIRED: &str = "is required: SCOPE_ALL, SCOPE_DEPARTMENT or SCOPE_OWN";

/// The proto code of a decision reason.
pub fn reason_code_to_proto(reason: &Reason) -> pb::DecisionReasonCode {
    match reason {
        Reason::Granted { .. } => pb::DecisionReasonCode::Granted,
        Reason::PrincipalNotFound => pb::DecisionReasonCode::PrincipalNotFound,
        Reason::PrincipalDisabled => pb::DecisionReasonCode::PrincipalDisabled,
        Reason::NoBindingWithPermission => pb::DecisionReasonCode::NoBindingWithPermission,
        Reason::OutOfScope { .. } => pb::DecisionReasonCode::OutOfScope,
        Reason::GradeNotCovered { .. } => pb::DecisionReasonCode::GradeNotCovered,
        Reason::BindingExpired { .. } => pb::DecisionReasonCode::BindingExpired,
        Reason::CustomerNotFound => pb::DecisionReasonCode::CustomerNotFound,
    }
}

// ---------------------------------------------------------------------------------------------
// Decisions
// ---------------------------------------------------------------------------------------------

/// The proto form of a decision reason: the code, the binding, role and scope it names (empty /
/// unspecified when the code names none), and the sentence for people.
pub fn decision_reason_to_proto(reason: &Reason) -> pb::DecisionReason {
    let (role_binding, role, scope) = match reason {
        Reason::Granted { binding, role, scope }
        | Reason::OutOfScope { binding, role, scope }
        | Reason::GradeNotCovered {
            binding, role, scope, ..
        } => (binding_name(*binding), role.as_str().to_owned(), scope.to_proto()),
        Reason::BindingExpired { binding, role } => {
            (binding_name(*binding), role.as_str().to_owned(), pb::Scope::Unspecified)
        }
        Reason::PrincipalNotFound
        | Reason::PrincipalDisabled
        | Reason::NoBindingWithPermission
        | Reason::CustomerNotFound => (String::new(), String::new(), pb::Scope::Unspecified),
    };
    pb::DecisionReason {
        code: reason_code_to_proto(reason) as i32,
        role_binding,
        role,
        scope: scope as i32,
        explanation: reason.explain(),
    }
}

/// The proto form of a decision: allowed exactly when its reason is GRANTED.
pub fn decision_to_proto(decision: &Decision) -> pb::CheckPermissionResponse {
    pb::CheckPermissionResponse {
        allowed: decision.allowed(),
        reason: Some(decision_reason_to_proto(decision.reason())),
    }
}

// ---------------------------------------------------------------------------------------------
// Principals
// ---------------------------------------------------------------------------------------------

/// The proto form of a principal.
pub fn principal_to_proto(principal: &Principal) -> pb::Principal {
    pb::Principal {
        name: principal.name.as_str().to_owned(),
        kind: principal.kind.to_number(),
        display_name: principal.display_name.as_str().to_owned(),
        department: principal
            .department
            .as_ref()
            .map(|d| d.as_str().to_owned())
            .unwrap_or_default(),
        staff_level: StaffLevel::option_to_number(principal.staff_level),
        disabled: principal.disabled,
    }
}

/// Parses the principal of a CreatePrincipal: its id (`principal_id`) and the settable fields of
/// `principal` (`name` is ignored).
pub fn new_principal(v: &mut Violations, principal_id: &str, raw: Option<&pb::Principal>) -> Option<Principal> {
    let name = if principal_id.is_empty() {
        v.add(
            "principal_id",
            "is required: 3 to 63 characters of [a-z0-9-] starting with a letter, or a UUID",
        );
        None
    } else {
        v.check("principal_id", PrincipalName::from_id(principal_id))
    };
    let Some(pb::Principal {
        name: _,
        kind,
        display_name,
        department,
        staff_level,
        disabled,
    }) = raw
    else {
        v.add("principal", "is required: the principal to create");
        return None;
    };
    let kind = enum_required(v, "principal.kind", *kind, PRINCIPAL_KIND_REQUIRED);
    let display_name = v.check("principal.display_name", PrincipalDisplayName::parse(display_name));
    let department = v.check_optional("principal.department", department, Department::parse);
    let staff_level = v.check("principal.staff_level", StaffLevel::parse_number(*staff_level));
    Some(Principal {
        name: name?,
        kind: kind?,
        display_name: display_name?,
        department,
        staff_level: staff_level?,
        disabled: *disabled,
    })
}

/// The paths of `Principal` UpdatePrincipal may change, in the order they are applied.
const PRINCIPAL_PATHS: &[&str] = &["display_name", "department", "staff_level", "disabled"];

/// Paths of `Principal` that exist but cannot be changed.
const PRINCIPAL_FIXED_PATHS: &[&str] = &["name", "kind"];

/// The changes an UpdatePrincipal asks for: the masked fields of `raw`, parsed. `*` names every
/// updatable field; an empty mask names the updatable fields the request populates (AIP-134).
pub fn principal_changes(
    v: &mut Violations,
    raw: &pb::Principal,
    mask: Option<&prost_types::FieldMask>,
) -> Vec<PrincipalChange> {
    let pb::Principal {
        name: _,
        kind: _,
        display_name,
        department,
        staff_level,
        disabled,
    } = raw;
    let implied = || {
        let populated = [
            !display_name.is_empty(),
            !department.is_empty(),
            *staff_level != 0,
            *disabled,
        ];
        PRINCIPAL_PATHS
            .iter()
            .zip(populated)
            .filter_map(|(path, set)| set.then_some(*path))
            .collect()
    };
    let selected = masked_paths(v, mask, PRINCIPAL_PATHS, PRINCIPAL_FIXED_PATHS, implied);
    selected
        .into_iter()
        .filter_map(|path| {
            let at = format!("principal.{path}");
            match path {
                "display_name" => v
                    .check(at, PrincipalDisplayName::parse(display_name))
                    .map(PrincipalChange::DisplayName),
                "department" => Some(PrincipalChange::Department(v.check_optional(
                    at,
                    department,
                    Department::parse,
                ))),
                "staff_level" => v
                    .check(at, StaffLevel::parse_number(*staff_level))
                    .map(PrincipalChange::StaffLevel),
                "disabled" => Some(PrincipalChange::Disabled(*disabled)),
                _ => None,
            }
        })
        .collect()
}

/// The paths an update mask selects among `updatable` (in `updatable` order), recording a
/// violation for each path that is `fixed` (immutable or output only) or unknown, for `*` mixed
/// with other paths, and for a mask that selects nothing. An empty mask selects `implied()`.
fn masked_paths(
    v: &mut Violations,
    mask: Option<&prost_types::FieldMask>,
    updatable: &[&'static str],
    fixed: &[&str],
    implied: impl FnOnce() -> Vec<&'static str>,
) -> Vec<&'static str> {
    let requested: &[String] = mask.map_or(&[], |m| m.paths.as_slice());
    let selected = if requested.is_empty() {
        implied()
    } else if requested.iter().any(|p| p.trim() == "*") {
        if requested.len() > 1 {
            v.add("update_mask.paths", "`*` cannot be combined with other paths");
        }
        updatable.to_vec()
    } else {
        for (i, path) in requested.iter().enumerate() {
            let path = path.trim();
            if fixed.contains(&path) {
                v.add(
                    format!("update_mask.paths[{i}]"),
                    format!(
                        "{path} cannot be changed; updatable fields are {}",
                        updatable.join(", ")
                    ),
                );
            } else if !updatable.contains(&path) {
                v.add(
                    format!("update_mask.paths[{i}]"),
                    format!("unknown field; updatable fields are {}", updatable.join(", ")),
                );
            }
        }
        updatable
            .iter()
            .copied()
            .filter(|p| requested.iter().any(|r| r.trim() == *p))
            .collect()
    };
    if selected.is_empty() && v.is_empty() {
        v.add(
            "update_mask",
            "names no field to change; list the fields in update_mask.paths or use `*`",
        );
    }
    selected
}

// ---------------------------------------------------------------------------------------------
// Roles
// ---------------------------------------------------------------------------------------------

/// The proto form of a role; permissions in the order of the permission list.
pub fn role_to_proto(role: &Role) -> pb::Role {
    pb::Role {
        name: role.name.as_str().to_owned(),
        title: role.title.as_str().to_owned(),
        permissions: role.permissions.iter().map(|p| p.name().to_owned()).collect(),
        built_in: role.built_in,
    }
}

/// Parses a list of permission names at `path[i]`; a name given twice counts once.
pub fn permissions(v: &mut Violations, path: &str, raw: &[String]) -> PermissionSet {
    raw.iter()
        .enumerate()
        .filter_map(|(i, name)| v.check(format!("{path}[{i}]"), Permission::parse(name)))
        .collect()
}

/// Parses the role of a CreateRole: its id (`role_id`) and the settable fields of `role`
/// (`name` and `built_in` are ignored). The result is never marked built-in.
pub fn new_role(v: &mut Violations, role_id: &str, raw: Option<&pb::Role>) -> Option<Role> {
    let name = if role_id.is_empty() {
        v.add(
            "role_id",
            "is required: 2 to 63 characters of lowercase letters, digits, '_' and '-' that starts with a letter",
        );
        None
    } else {
        v.check("role_id", RoleName::from_id(role_id))
    };
    let Some(pb::Role {
        name: _,
        title,
        permissions: raw_permissions,
        built_in: _,
    }) = raw
    else {
        v.add("role", "is required: the role to create");
        return None;
    };
    let title = v.check("role.title", RoleTitle::parse(title));
    let permissions = permissions(v, "role.permissions", raw_permissions);
    Some(Role {
        name: name?,
        title: title?,
        permissions,
        built_in: false,
    })
}

/// The paths of `Role` UpdateRole may change.
const ROLE_PATHS: &[&str] = &["title", "permissions"];

/// Paths of `Role` that exist but cannot be changed.
const ROLE_FIXED_PATHS: &[&str] = &["name", "built_in"];

/// The changes an UpdateRole asks for: the masked fields of `raw`, parsed. `*` names both
/// updatable fields; an empty mask names those the request populates (AIP-134).
pub fn role_changes(v: &mut Violations, raw: &pb::Role, mask: Option<&prost_types::FieldMask>) -> Vec<RoleChange> {
    let pb::Role {
        name: _,
        title,
        permissions: raw_permissions,
        built_in: _,
    } = raw;
    let implied = || {
        let populated = [!title.is_empty(), !raw_permissions.is_empty()];
        ROLE_PATHS
            .iter()
            .zip(populated)
            .filter_map(|(path, set)| set.then_some(*path))
            .collect()
    };
    let selected = masked_paths(v, mask, ROLE_PATHS, ROLE_FIXED_PATHS, implied);
    selected
        .into_iter()
        .filter_map(|path| match path {
            "title" => v.check("role.title", RoleTitle::parse(title)).map(RoleChange::Title),
            "permissions" => Some(RoleChange::Permissions(permissions(
                v,
                "role.permissions",
                raw_permissions,
            ))),
            _ => None,
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Role bindings
// ---------------------------------------------------------------------------------------------

/// The proto form of a role binding.
pub fn binding_to_proto(binding: &RoleBinding) -> pb::RoleBinding {
    pb::RoleBinding {
        name: binding_name(binding.id),
        principal: binding.principal.as_str().to_owned(),
        role: binding.role.as_str().to_owned(),
        scope: binding.scope.to_number(),
        expire_time: binding.expire_time.map(timestamp),
        grades: binding.grades.iter().map(Grade::to_number).collect(),
    }
}

/// Parses the binding of a CreateRoleBinding (`name` is ignored) and gives it the new id `id`.
/// An expiry must lie after `now`.
pub fn new_binding(
    v: &mut Violations,
    raw: Option<&pb::RoleBinding>,
    id: BindingId,
    now: DateTime<Utc>,
) -> Option<RoleBinding> {
    let Some(pb::RoleBinding {
        name: _,
        principal,
        role,
        scope,
        expire_time: raw_expire_time,
        grades: raw_grades,
    }) = raw
    else {
        v.add("role_binding", "is required: the role binding to create");
        return None;
    };
    let principal = principal_name(v, "role_binding.principal", principal);
    let role = role_name(v, "role_binding.role", role);
    let scope = enum_required(v, "role_binding.scope", *scope, SCOPE_REQUIRED);
    let expire_time = expire_time(v, "role_binding.expire_time", raw_expire_time.as_ref(), now);
    let mut grades = GradeSet::empty();
    for (i, raw) in raw_grades.iter().enumerate() {
        match Grade::from_number(*raw) {
            Some(grade) => grades.insert(grade),
            None => v.add(
                format!("role_binding.grades[{i}]"),
                "must be VIP, KEY, STANDARD or POTENTIAL",
            ),
        }
    }
    Some(RoleBinding {
        id,
        principal: principal?,
        role: role?,
        scope: scope?,
        expire_time,
        grades: grades.normalized(),
    })
}

// ---------------------------------------------------------------------------------------------
// API keys and audit events
// ---------------------------------------------------------------------------------------------

/// The proto form of a stored API key: never its secret, nor the secret's hash.
pub fn api_key_to_proto(key: &ApiKeyRecord) -> pb::ApiKey {
    pb::ApiKey {
        name: api_key_name(&key.principal, key.id),
        prefix: key.prefix.as_str().to_owned(),
        create_time: Some(timestamp(key.create_time)),
        expire_time: key.expire_time.map(timestamp),
        revoke_time: key.revoke_time.map(timestamp),
    }
}

/// The proto form of an audit event.
pub fn audit_event_to_proto(event: &AuditEvent) -> pb::AuditEvent {
    pb::AuditEvent {
        name: audit_event_name(event.id),
        time: Some(timestamp(event.time)),
        actor: event.actor.as_ref().map(|a| a.as_str().to_owned()).unwrap_or_default(),
        action: event.action.clone(),
        resource: event.resource.clone(),
        outcome: event.outcome.to_number(),
        detail: event.detail.clone(),
    }
}

// ---------------------------------------------------------------------------------------------
// Audit log cursors
// ---------------------------------------------------------------------------------------------

/// The cursor text of an audit log position: `<time in microseconds>~<event id>`.
pub fn audit_cursor_text(cursor: &AuditCursor) -> String {
    format!("{}~{}", cursor.time.timestamp_micros(), cursor.id)
}

/// Parses [`audit_cursor_text`] back.
///
/// # Errors
/// [`InvalidValue`] when `raw` is not such a text.
pub fn parse_audit_cursor(raw: &str) -> Result<AuditCursor, InvalidValue> {
    let invalid = || InvalidValue("is not an audit log cursor".to_owned());
    let (micros, id) = raw.split_once('~').ok_or_else(invalid)?;
    let time = micros
        .parse::<i64>()
        .ok()
        .and_then(DateTime::from_timestamp_micros)
        .ok_or_else(invalid)?;
    let id = AuditEventId::parse(id).map_err(|_| invalid())?;
    Ok(AuditCursor { time, id })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use crm_domain::access::{ApiKeyPrefix, BuiltInRole, api_keys_of};

    use super::*;
    use crate::convert::{MAX_TIMESTAMP_SECONDS, MIN_TIMESTAMP_SECONDS};

    fn at(seconds: i64, nanos: u32) -> DateTime<Utc> {
        DateTime::from_timestamp(seconds, nanos).unwrap()
    }

    fn mask(paths: &[&str]) -> Option<prost_types::FieldMask> {
        Some(prost_types::FieldMask {
            paths: paths.iter().map(|p| (*p).to_owned()).collect(),
        })
    }

    fn fields(v: &Violations) -> Vec<&str> {
        v.as_slice().iter().map(|f| f.field.as_str()).collect()
    }

    fn principal() -> Principal {
        Principal {
            name: PrincipalName::from_id("li-lei").unwrap(),
            kind: PrincipalKind::User,
            display_name: PrincipalDisplayName::parse("Li Lei").unwrap(),
            department: Some(Department::parse("sales-east").unwrap()),
            staff_level: Some(StaffLevel::Middle),
            disabled: true,
        }
    }

    #[test]
    fn enums_round_trip_and_unspecified_is_rejected_where_required() {
        let mut v = Violations::new();
        for kind in PrincipalKind::ALL {
            let parsed = enum_required(&mut v, "kind", kind.to_number(), PRINCIPAL_KIND_REQUIRED);
            assert_eq!(parsed, Some(kind));
            assert_eq!(kind.to_proto().as_str_name(), format!("PRINCIPAL_KIND_{kind}"));
        }
        for level in StaffLevel::ALL.map(Some).into_iter().chain([None]) {
            assert_eq!(StaffLevel::parse_number(StaffLevel::option_to_number(level)), Ok(level));
        }
        for scope in Scope::ALL {
            assert_eq!(
                enum_required(&mut v, "scope", scope.to_number(), SCOPE_REQUIRED),
                Some(scope)
            );
            assert_eq!(scope.to_proto().as_str_name(), format!("SCOPE_{scope}"));
        }
        assert!(v.is_empty(), "{v}");
        assert_eq!(
            enum_required::<PrincipalKind>(&mut v, "k0", 0, PRINCIPAL_KIND_REQUIRED),
            None
        );
        assert_eq!(
            enum_required::<PrincipalKind>(&mut v, "k99", 99, PRINCIPAL_KIND_REQUIRED),
            None
        );
        assert_eq!(enum_required::<Scope>(&mut v, "s0", 0, SCOPE_REQUIRED), None);
        assert_eq!(enum_required::<Scope>(&mut v, "s4", 4, SCOPE_REQUIRED), None);
        assert_eq!(fields(&v), ["k0", "k99", "s0", "s4"]);
        assert_eq!(StaffLevel::parse_number(0), Ok(None));
        assert!(StaffLevel::parse_number(-1).is_err());
        for outcome in AuditOutcome::ALL {
            assert_eq!(outcome.to_proto().as_str_name(), format!("AUDIT_OUTCOME_{outcome}"));
        }
    }

    #[test]
    fn every_reason_maps_to_its_code_and_names_only_what_it_should() {
        let binding = BindingId::generate();
        let role = RoleName::parse("roles/sales_rep").unwrap();
        let cases = [
            (
                Reason::Granted {
                    binding,
                    role: role.clone(),
                    scope: Scope::Own,
                },
                true,
                pb::Scope::Own,
            ),
            (Reason::PrincipalNotFound, false, pb::Scope::Unspecified),
            (Reason::PrincipalDisabled, false, pb::Scope::Unspecified),
            (Reason::NoBindingWithPermission, false, pb::Scope::Unspecified),
            (
                Reason::OutOfScope {
                    binding,
                    role: role.clone(),
                    scope: Scope::Department,
                },
                true,
                pb::Scope::Department,
            ),
            (
                Reason::BindingExpired {
                    binding,
                    role: role.clone(),
                },
                true,
                pb::Scope::Unspecified,
            ),
            (Reason::CustomerNotFound, false, pb::Scope::Unspecified),
        ];
        for (reason, names_binding, scope) in cases {
            let proto = decision_reason_to_proto(&reason);
            assert_eq!(
                proto.code().as_str_name(),
                format!("DECISION_REASON_CODE_{}", reason.code())
            );
            assert_eq!(proto.scope(), scope, "{reason:?}");
            if names_binding {
                assert_eq!(proto.role_binding, binding_name(binding));
                assert_eq!(proto.role, "roles/sales_rep");
            } else {
                assert!(proto.role_binding.is_empty() && proto.role.is_empty(), "{reason:?}");
            }
            assert_eq!(proto.explanation, reason.explain());
            let decision = decision_to_proto(&Decision::from(reason.clone()));
            assert_eq!(decision.allowed, reason.is_granted());
            assert_eq!(decision.reason, Some(proto));
        }
    }

    #[test]
    fn resource_names_round_trip() {
        let id = BindingId::generate();
        assert_eq!(parse_binding_name(&binding_name(id)), Ok(id));
        for bad in [
            "",
            "roleBindings/",
            "roleBindings/nope",
            "bindings/0190a5d0-ac96-774b-bcce-b302099a8057",
        ] {
            assert!(parse_binding_name(bad).is_err(), "{bad:?}");
        }
        let owner = PrincipalName::from_id("alice").unwrap();
        let key = ApiKeyId::generate();
        let name = api_key_name(&owner, key);
        assert!(name.starts_with("principals/alice/apiKeys/"), "{name}");
        assert_eq!(parse_api_key_name(&name), Ok((owner.clone(), key)));
        assert_eq!(api_keys_of(&owner), "principals/alice/apiKeys");
        for bad in [
            "",
            "principals/alice",
            "principals/alice/apiKeys/",
            "principals/alice/apiKeys/x",
            "principals/A/apiKeys/0190a5d0-ac96-774b-bcce-b302099a8057",
            "users/alice/apiKeys/0190a5d0-ac96-774b-bcce-b302099a8057",
        ] {
            assert!(parse_api_key_name(bad).is_err(), "{bad:?}");
        }
        let event = AuditEventId::generate();
        assert_eq!(audit_event_name(event), format!("auditEvents/{event}"));
        let mut v = Violations::new();
        assert_eq!(principal_name(&mut v, "p", ""), None);
        assert_eq!(role_name(&mut v, "r", "admin"), None);
        assert_eq!(role_name(&mut v, "r", "roles/admin"), Some(BuiltInRole::Admin.name()));
        assert_eq!(fields(&v), ["p", "r"]);
    }

    #[test]
    fn timestamps_parse_round_up_and_reject_nonsense() {
        let mut v = Violations::new();
        let exact = prost_types::Timestamp {
            seconds: 1_750_000_000,
            nanos: 123_456_789,
        };
        assert_eq!(
            time_from_proto(&mut v, "t", &exact),
            Some(at(1_750_000_000, 123_456_789))
        );
        assert_eq!(timestamp(at(1_750_000_000, 123_456_789)), exact);
        for bad in [
            (0, -1),
            (0, 1_000_000_000),
            (MAX_TIMESTAMP_SECONDS + 1, 0),
            (MIN_TIMESTAMP_SECONDS - 1, 0),
        ] {
            let raw = prost_types::Timestamp {
                seconds: bad.0,
                nanos: bad.1,
            };
            assert_eq!(time_from_proto(&mut v, "bad", &raw), None, "{bad:?}");
        }
        assert_eq!(v.as_slice().len(), 4);
        assert_eq!(ceil_micros(at(5, 123_456_001)), at(5, 123_457_000));
        assert_eq!(ceil_micros(at(5, 123_456_000)), at(5, 123_456_000));
    }

    #[test]
    fn expiries_are_truncated_to_microseconds_and_must_lie_ahead() {
        let now = at(1_750_000_000, 0);
        let mut v = Violations::new();
        let ahead = timestamp(at(1_750_000_001, 999_999_999));
        assert_eq!(
            expire_time(&mut v, "e", Some(&ahead), now),
            Some(at(1_750_000_001, 999_999_000))
        );
        assert_eq!(expire_time(&mut v, "e", None, now), None);
        assert!(v.is_empty());
        assert_eq!(expire_time(&mut v, "e", Some(&timestamp(now)), now), None);
        assert_eq!(expire_time(&mut v, "e", Some(&timestamp(at(1, 0))), now), None);
        assert_eq!(fields(&v), ["e", "e"]);
    }

    #[test]
    fn a_principal_round_trips_through_create() {
        let original = principal();
        let proto = principal_to_proto(&original);
        assert_eq!(proto.name, "principals/li-lei");
        assert_eq!(proto.kind(), pb::PrincipalKind::User);
        assert_eq!(proto.staff_level(), pb::StaffLevel::Middle);
        let mut v = Violations::new();
        let parsed = new_principal(&mut v, original.name.id(), Some(&proto));
        assert!(v.is_empty(), "{v}");
        assert_eq!(parsed, Some(original));
    }

    #[test]
    fn an_invalid_principal_reports_every_field() {
        let mut v = Violations::new();
        let raw = pb::Principal {
            name: "ignored".into(),
            kind: 0,
            display_name: " \t ".into(),
            department: "Not A Department!".into(),
            staff_level: 7,
            disabled: false,
        };
        assert_eq!(new_principal(&mut v, "9-Bad_Id", Some(&raw)), None);
        assert_eq!(
            fields(&v),
            [
                "principal_id",
                "principal.kind",
                "principal.display_name",
                "principal.department",
                "principal.staff_level"
            ]
        );
        let mut v = Violations::new();
        assert_eq!(new_principal(&mut v, "", None), None);
        assert_eq!(fields(&v), ["principal_id", "principal"]);
    }

    #[test]
    fn principal_updates_follow_the_mask() {
        let raw = pb::Principal {
            name: "principals/li-lei".into(),
            display_name: "Li Lei (East)".into(),
            department: String::new(),
            disabled: true,
            ..Default::default()
        };
        let mut v = Violations::new();
        let changes = principal_changes(&mut v, &raw, mask(&["department", "display_name"]).as_ref());
        assert!(v.is_empty(), "{v}");
        assert_eq!(
            changes,
            [
                PrincipalChange::DisplayName(PrincipalDisplayName::parse("Li Lei (East)").unwrap()),
                PrincipalChange::Department(None),
            ]
        );
        let mut updated = principal();
        for change in &changes {
            change.apply(&mut updated);
        }
        assert_eq!(updated.display_name.as_str(), "Li Lei (East)");
        assert_eq!(updated.department, None);
        assert_eq!(updated.staff_level, Some(StaffLevel::Middle), "unmasked fields stay");

        // Empty mask: the populated fields. `*`: all of them.
        let implied = principal_changes(&mut v, &raw, None);
        assert_eq!(implied.len(), 2, "{implied:?}");
        assert!(implied.contains(&PrincipalChange::Disabled(true)));
        let all = principal_changes(&mut v, &raw, mask(&["*"]).as_ref());
        assert_eq!(all.len(), 4, "{all:?}");
        assert!(v.is_empty(), "{v}");

        // Immutable, unknown and empty masks.
        let mut v = Violations::new();
        principal_changes(&mut v, &raw, mask(&["kind", "colour", "name", "disabled"]).as_ref());
        assert_eq!(
            fields(&v),
            ["update_mask.paths[0]", "update_mask.paths[1]", "update_mask.paths[2]"]
        );
        let mut v = Violations::new();
        principal_changes(&mut v, &pb::Principal::default(), None);
        assert_eq!(fields(&v), ["update_mask"]);
        let mut v = Violations::new();
        principal_changes(&mut v, &pb::Principal::default(), mask(&["display_name"]).as_ref());
        assert_eq!(fields(&v), ["principal.display_name"]);
        let mut v = Violations::new();
        principal_changes(&mut v, &raw, mask(&["*", "disabled"]).as_ref());
        assert_eq!(fields(&v), ["update_mask.paths"]);
    }

    #[test]
    fn a_role_round_trips_and_lists_permissions_in_permission_order() {
        let mut v = Violations::new();
        let raw = pb::Role {
            name: "roles/ignored".into(),
            title: "  Key account lead ".into(),
            permissions: vec!["policy.read".into(), "customers.get".into(), "policy.read".into()],
            built_in: true,
        };
        let role = new_role(&mut v, "key_account_lead", Some(&raw)).unwrap();
        assert!(v.is_empty(), "{v}");
        assert!(!role.built_in);
        let proto = role_to_proto(&role);
        assert_eq!(
            proto,
            pb::Role {
                name: "roles/key_account_lead".into(),
                title: "Key account lead".into(),
                permissions: vec!["customers.get".into(), "policy.read".into()],
                built_in: false,
            }
        );
        assert_eq!(new_role(&mut v, role.name.id(), Some(&proto)), Some(role));
        let admin = role_to_proto(&BuiltInRole::Admin.role());
        assert!(admin.built_in);
        assert_eq!(admin.permissions.len(), Permission::ALL.len());
    }

    #[test]
    fn an_invalid_role_names_each_bad_permission_by_index() {
        let mut v = Violations::new();
        let raw = pb::Role {
            title: "   ".into(),
            permissions: vec!["customers.get".into(), "customers.fly".into(), "Customers.Get".into()],
            ..Default::default()
        };
        assert_eq!(new_role(&mut v, "9bad id", Some(&raw)), None);
        assert_eq!(
            fields(&v),
            ["role_id", "role.title", "role.permissions[1]", "role.permissions[2]"]
        );
    }

    #[test]
    fn role_updates_follow_the_mask() {
        let raw = pb::Role {
            name: "roles/lead".into(),
            title: "Lead".into(),
            permissions: vec!["customers.update".into()],
            built_in: false,
        };
        let mut v = Violations::new();
        let changes = role_changes(&mut v, &raw, mask(&["permissions"]).as_ref());
        assert_eq!(
            changes,
            [RoleChange::Permissions(PermissionSet::of(&[
                Permission::CustomersUpdate
            ]))]
        );
        let mut role = BuiltInRole::Analyst.role();
        changes[0].apply(&mut role);
        assert_eq!(role.permissions, PermissionSet::of(&[Permission::CustomersUpdate]));
        assert_eq!(role_changes(&mut v, &raw, None).len(), 2);
        assert_eq!(role_changes(&mut v, &raw, mask(&["*"]).as_ref()).len(), 2);
        assert!(v.is_empty(), "{v}");
        let mut v = Violations::new();
        role_changes(&mut v, &raw, mask(&["built_in", "name", "title", "x"]).as_ref());
        assert_eq!(
            fields(&v),
            ["update_mask.paths[0]", "update_mask.paths[1]", "update_mask.paths[3]"]
        );
    }

    #[test]
    fn a_binding_round_trips_and_requires_its_fields() {
        let now = at(1_750_000_000, 0);
        let binding = RoleBinding {
            id: BindingId::generate(),
            principal: PrincipalName::from_id("alice").unwrap(),
            role: BuiltInRole::SalesRep.name(),
            scope: Scope::Department,
            expire_time: Some(at(1_760_000_000, 5_000)),
            grades: GradeSet::empty(),
        };
        let proto = binding_to_proto(&binding);
        assert_eq!(proto.name, binding_name(binding.id));
        assert_eq!(proto.scope(), pb::Scope::Department);
        let mut v = Violations::new();
        assert_eq!(new_binding(&mut v, Some(&proto), binding.id, now), Some(binding));
        assert!(v.is_empty(), "{v}");

        let bad = pb::RoleBinding {
            principal: "ghost".into(),
            role: "wizard".into(),
            scope: 0,
            expire_time: Some(timestamp(at(1, 0))),
            ..Default::default()
        };
        assert_eq!(new_binding(&mut v, Some(&bad), BindingId::generate(), now), None);
        assert_eq!(
            fields(&v),
            [
                "role_binding.principal",
                "role_binding.role",
                "role_binding.scope",
                "role_binding.expire_time"
            ]
        );
        let mut v = Violations::new();
        assert_eq!(new_binding(&mut v, None, BindingId::generate(), now), None);
        assert_eq!(fields(&v), ["role_binding"]);
    }

    #[test]
    fn api_keys_and_audit_events_convert_without_secrets() {
        let key = ApiKeyRecord {
            id: ApiKeyId::generate(),
            prefix: ApiKeyPrefix::parse("ab12cd34").unwrap(),
            principal: PrincipalName::from_id("alice").unwrap(),
            secret_hash: [9; 32],
            create_time: at(1_750_000_000, 1_000),
            expire_time: None,
            revoke_time: Some(at(1_750_000_100, 0)),
        };
        let proto = api_key_to_proto(&key);
        assert_eq!(proto.name, api_key_name(&key.principal, key.id));
        assert_eq!(proto.prefix, "ab12cd34");
        assert_eq!(proto.create_time, Some(timestamp(key.create_time)));
        assert_eq!(proto.expire_time, None);
        assert_eq!(proto.revoke_time, Some(timestamp(at(1_750_000_100, 0))));

        let event = AuditEvent::new(
            at(1_750_000_000, 123_456_789),
            Some(key.principal.clone()),
            "RevokeApiKey",
            proto.name.clone(),
            AuditOutcome::Allowed,
            "",
        );
        let converted = audit_event_to_proto(&event);
        assert_eq!(converted.name, audit_event_name(event.id));
        assert_eq!(converted.time, Some(timestamp(at(1_750_000_000, 123_456_000))));
        assert_eq!(converted.actor, "principals/alice");
        assert_eq!(converted.outcome(), pb::AuditOutcome::Allowed);
        let anonymous = AuditEvent { actor: None, ..event };
        assert_eq!(audit_event_to_proto(&anonymous).actor, "");
    }

    #[test]
    fn audit_cursors_round_trip() {
        let cursor = AuditCursor {
            time: at(1_750_000_000, 123_456_000),
            id: AuditEventId::generate(),
        };
        assert_eq!(parse_audit_cursor(&audit_cursor_text(&cursor)), Ok(cursor));
        for bad in ["", "1~", "x~0190a5d0-ac96-774b-bcce-b302099a8057", "12", "1~nope"] {
            assert!(parse_audit_cursor(bad).is_err(), "{bad:?}");
        }
    }
}
