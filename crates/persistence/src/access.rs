//! [`SqlAccessRepository`]: the domain's `AccessRepository` port over sea-orm.
//!
//! Principals, custom roles, role bindings, API keys and audit events each live in their own
//! table (see the `create_access_control` migration). Built-in roles are never stored; the
//! snapshot adds them. Every write is one statement or one transaction; driver errors become
//! [`AccessStoreError`] cases here, and a stored row that no longer parses is
//! [`AccessStoreError::Unexpected`] naming the table, row and column, never a panic.

use chrono::{DateTime, Utc};
use crm_domain::{
    access::{
        AccessSnapshot, AccessStoreError, ApiKeyId, ApiKeyPrefix, ApiKeyRecord, AuditEvent, AuditEventId, AuditOutcome,
        AuditQuery, BindingId, BuiltInRole, GradeSet, PermissionSet, Principal, PrincipalDisplayName, PrincipalKind,
        Role, RoleBinding, RoleName, RoleTitle, Scope, StaffLevel,
    },
    customer::{
        now,
        values::{Department, InvalidValue, PrincipalName},
    },
    ports::AccessRepository,
};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, SqlErr, TransactionTrait,
    sea_query::{Expr, ExprTrait},
};

use crate::{
    database::Database,
    entity::{api_key, audit_event, principal, role, role_binding},
};

/// Principals, roles, bindings, API keys and the audit log, stored in the service's SQL database.
#[derive(Debug, Clone)]
pub struct SqlAccessRepository {
    db: Database,
}

impl SqlAccessRepository {
    /// A repository on `db` (which must be migrated).
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

/// `Ok` when a single-statement write touched a row, else `NotFound(key)`. A single statement is
/// atomic on both backends, so these writes need no explicit transaction.
fn found(rows_affected: u64, key: impl Into<String>) -> Result<(), AccessStoreError> {
    if rows_affected == 0 {
        Err(AccessStoreError::NotFound(key.into()))
    } else {
        Ok(())
    }
}

fn unexpected(error: DbErr) -> AccessStoreError {
    crate::errors::access_error(error)
}

/// Maps a failed insert: a unique violation means `taken` already exists, a foreign-key
/// violation means the referenced principal `owner` does not exist.
fn insert_error(error: DbErr, taken: &str, owner: Option<&PrincipalName>) -> AccessStoreError {
    match (error.sql_err(), owner) {
        (Some(SqlErr::UniqueConstraintViolation(_)), _) => AccessStoreError::AlreadyExists(taken.to_owned()),
        (Some(SqlErr::ForeignKeyConstraintViolation(_)), Some(owner)) => {
            AccessStoreError::NotFound(owner.as_str().to_owned())
        }
        _ => unexpected(error),
    }
}

fn corrupt(table: &str, key: &str, column: &str, reason: impl std::fmt::Display) -> AccessStoreError {
    AccessStoreError::unexpected(format!("stored {table} row {key} has an invalid {column}: {reason}"))
}

fn parse<T>(table: &str, key: &str, column: &str, result: Result<T, InvalidValue>) -> Result<T, AccessStoreError> {
    result.map_err(|e| corrupt(table, key, column, e))
}

fn named<T>(
    table: &str,
    key: &str,
    column: &str,
    raw: &str,
    from_name: fn(&str) -> Option<T>,
) -> Result<T, AccessStoreError> {
    from_name(raw).ok_or_else(|| corrupt(table, key, column, format!("unknown name {raw:?}")))
}

// ---------------------------------------------------------------------------------------------
// Rows ⇄ domain values
// ---------------------------------------------------------------------------------------------

fn principal_from_row(row: principal::Model) -> Result<Principal, AccessStoreError> {
    const T: &str = "principals";
    let key = row.name.as_str();
    Ok(Principal {
        name: parse(T, key, "name", PrincipalName::parse(key))?,
        kind: named(T, key, "kind", &row.kind, PrincipalKind::from_name)?,
        display_name: parse(T, key, "display_name", PrincipalDisplayName::parse(&row.display_name))?,
        department: row
            .department
            .as_deref()
            .map(|raw| parse(T, key, "department", Department::parse(raw)))
            .transpose()?,
        staff_level: row
            .staff_level
            .as_deref()
            .map(|raw| named(T, key, "staff_level", raw, StaffLevel::from_name))
            .transpose()?,
        disabled: row.disabled,
    })
}

/// The columns of `principal` that an update replaces (not the name, times or version).
fn principal_fields(principal: &Principal) -> principal::ActiveModel {
    principal::ActiveModel {
        name: NotSet,
        kind: Set(principal.kind.name().to_owned()),
        display_name: Set(principal.display_name.as_str().to_owned()),
        department: Set(principal.department.as_ref().map(|d| d.as_str().to_owned())),
        staff_level: Set(principal.staff_level.map(|level| level.name().to_owned())),
        disabled: Set(principal.disabled),
        create_time: NotSet,
        update_time: NotSet,
        version: NotSet,
    }
}

fn permission_bits(permissions: PermissionSet) -> i64 {
    i64::from(permissions.bits())
}

fn role_from_row(row: role::Model) -> Result<Role, AccessStoreError> {
    const T: &str = "roles";
    let key = row.name.as_str();
    let bits = u32::try_from(row.permissions).map_err(|e| corrupt(T, key, "permissions", e))?;
    Ok(Role {
        name: parse(T, key, "name", RoleName::parse(key))?,
        title: parse(T, key, "title", RoleTitle::parse(&row.title))?,
        permissions: parse(T, key, "permissions", PermissionSet::from_bits(bits))?,
        built_in: false,
    })
}

fn binding_from_row(row: role_binding::Model) -> Result<RoleBinding, AccessStoreError> {
    const T: &str = "role_bindings";
    let key = row.id.as_str();
    Ok(RoleBinding {
        id: parse(T, key, "id", BindingId::parse(key))?,
        principal: parse(T, key, "principal", PrincipalName::parse(&row.principal))?,
        role: parse(T, key, "role", RoleName::parse(&row.role))?,
        scope: named(T, key, "scope", &row.scope, Scope::from_name)?,
        expire_time: row.expire_time,
        grades: u8::try_from(row.grades)
            .map_err(|e| e.to_string())
            .and_then(|bits| GradeSet::from_bits(bits).map_err(|e| e.to_string()))
            .map_err(|reason| {
                AccessStoreError::Unexpected(
                    format!("stored role_bindings {key} has an invalid grades: {reason}").into(),
                )
            })?,
    })
}

/// Lowercase hexadecimal digits of `bytes`.
fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    bytes
        .iter()
        .flat_map(|b| [DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 0xf)]])
        .map(char::from)
        .collect()
}

/// The 32 bytes that 64 hexadecimal digits stand for.
fn hash_from_hex(hex: &str) -> Option<[u8; 32]> {
    let digits = hex.as_bytes();
    if digits.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (slot, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        let pair = std::str::from_utf8(pair).ok()?;
        *slot = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(out)
}

fn api_key_row(key: &ApiKeyRecord) -> api_key::ActiveModel {
    api_key::ActiveModel {
        id: Set(key.id.to_string()),
        prefix: Set(key.prefix.as_str().to_owned()),
        principal: Set(key.principal.as_str().to_owned()),
        secret_hash: Set(to_hex(&key.secret_hash)),
        create_time: Set(key.create_time),
        expire_time: Set(key.expire_time),
        revoke_time: Set(key.revoke_time),
    }
}

fn api_key_from_row(row: api_key::Model) -> Result<ApiKeyRecord, AccessStoreError> {
    const T: &str = "api_keys";
    let key = row.id.as_str();
    Ok(ApiKeyRecord {
        id: parse(T, key, "id", ApiKeyId::parse(key))?,
        prefix: parse(T, key, "prefix", ApiKeyPrefix::parse(&row.prefix))?,
        principal: parse(T, key, "principal", PrincipalName::parse(&row.principal))?,
        // The hash itself never appears in the message.
        secret_hash: hash_from_hex(&row.secret_hash)
            .ok_or_else(|| corrupt(T, key, "secret_hash", "not 64 hexadecimal digits"))?,
        create_time: row.create_time,
        expire_time: row.expire_time,
        revoke_time: row.revoke_time,
    })
}

fn audit_event_row(event: &AuditEvent) -> audit_event::ActiveModel {
    audit_event::ActiveModel {
        id: Set(event.id.to_string()),
        time: Set(event.time),
        actor: Set(event.actor.as_ref().map(|actor| actor.as_str().to_owned())),
        action: Set(event.action.clone()),
        resource: Set(event.resource.clone()),
        outcome: Set(event.outcome.name().to_owned()),
        detail: Set(event.detail.clone()),
    }
}

/// The most audit events one `INSERT` writes: 7 bound values each stays far below SQLite's
/// 32,766 and PostgreSQL's 65,535 parameters per statement. Larger batches are written in chunks
/// of this size inside one transaction, so they are still all or none.
const AUDIT_EVENTS_PER_INSERT: usize = 1000;

/// Writes `events` (at least one) with one multi-row `INSERT` per
/// [`AUDIT_EVENTS_PER_INSERT`] events, all in `conn`.
async fn insert_audit_events<C: ConnectionTrait>(conn: &C, events: &[AuditEvent]) -> Result<(), DbErr> {
    for chunk in events.chunks(AUDIT_EVENTS_PER_INSERT) {
        audit_event::Entity::insert_many(chunk.iter().map(audit_event_row))
            .exec_without_returning(conn)
            .await?;
    }
    Ok(())
}

fn audit_event_from_row(row: audit_event::Model) -> Result<AuditEvent, AccessStoreError> {
    const T: &str = "audit_events";
    let key = row.id.as_str();
    Ok(AuditEvent {
        id: parse(T, key, "id", AuditEventId::parse(key))?,
        time: row.time,
        actor: row
            .actor
            .as_deref()
            .map(|raw| parse(T, key, "actor", PrincipalName::parse(raw)))
            .transpose()?,
        action: row.action,
        resource: row.resource,
        outcome: named(T, key, "outcome", &row.outcome, AuditOutcome::from_name)?,
        detail: row.detail,
    })
}

// ---------------------------------------------------------------------------------------------
// The port
// ---------------------------------------------------------------------------------------------

impl AccessRepository for SqlAccessRepository {
    async fn insert_principal(&self, principal: &Principal) -> Result<(), AccessStoreError> {
        let time = now();
        let row = principal::ActiveModel {
            name: Set(principal.name.as_str().to_owned()),
            create_time: Set(time),
            update_time: Set(time),
            version: Set(1),
            ..principal_fields(principal)
        };
        principal::Entity::insert(row)
            .exec_without_returning(self.db.connection())
            .await
            .map(drop)
            .map_err(|error| insert_error(error, principal.name.as_str(), None))
    }

    async fn update_principal(&self, principal: &Principal) -> Result<(), AccessStoreError> {
        let row = principal::ActiveModel {
            update_time: Set(now()),
            ..principal_fields(principal)
        };
        let result = principal::Entity::update_many()
            .set(row)
            .col_expr(principal::Column::Version, Expr::col(principal::Column::Version).add(1))
            .filter(principal::Column::Name.eq(principal.name.as_str()))
            .exec(self.db.connection())
            .await
            .map_err(unexpected)?;
        found(result.rows_affected, principal.name.as_str())
    }

    async fn get_principal(&self, name: &PrincipalName) -> Result<Option<Principal>, AccessStoreError> {
        principal::Entity::find_by_id(name.as_str())
            .one(self.db.connection())
            .await
            .map_err(unexpected)?
            .map(principal_from_row)
            .transpose()
    }

    async fn delete_principal(&self, name: &PrincipalName) -> Result<(), AccessStoreError> {
        let key = name.as_str();
        let deleted = async {
            let txn = self.db.connection().begin().await?;
            // The foreign keys cascade too; deleting the dependants explicitly keeps this correct
            // whatever the connection's foreign-key setting. A write comes first, so on SQLite
            // the transaction takes the write lock at once.
            role_binding::Entity::delete_many()
                .filter(role_binding::Column::Principal.eq(key))
                .exec(&txn)
                .await?;
            api_key::Entity::delete_many()
                .filter(api_key::Column::Principal.eq(key))
                .exec(&txn)
                .await?;
            let deleted = principal::Entity::delete_by_id(key).exec(&txn).await?.rows_affected;
            if deleted == 0 {
                txn.rollback().await?;
            } else {
                txn.commit().await?;
            }
            Ok::<_, DbErr>(deleted)
        }
        .await
        .map_err(unexpected)?;
        found(deleted, key)
    }

    async fn list_principals(&self) -> Result<Vec<Principal>, AccessStoreError> {
        principal::Entity::find()
            .order_by_asc(principal::Column::Name)
            .all(self.db.connection())
            .await
            .map_err(unexpected)?
            .into_iter()
            .map(principal_from_row)
            .collect()
    }

    async fn insert_role(&self, role: &Role) -> Result<(), AccessStoreError> {
        if BuiltInRole::from_name(&role.name).is_some() {
            return Err(AccessStoreError::AlreadyExists(role.name.as_str().to_owned()));
        }
        let time = now();
        let row = role::ActiveModel {
            name: Set(role.name.as_str().to_owned()),
            title: Set(role.title.as_str().to_owned()),
            permissions: Set(permission_bits(role.permissions)),
            create_time: Set(time),
            update_time: Set(time),
        };
        role::Entity::insert(row)
            .exec_without_returning(self.db.connection())
            .await
            .map(drop)
            .map_err(|error| insert_error(error, role.name.as_str(), None))
    }

    async fn update_role(&self, role: &Role) -> Result<(), AccessStoreError> {
        let row = role::ActiveModel {
            name: NotSet,
            title: Set(role.title.as_str().to_owned()),
            permissions: Set(permission_bits(role.permissions)),
            create_time: NotSet,
            update_time: Set(now()),
        };
        let result = role::Entity::update_many()
            .set(row)
            .filter(role::Column::Name.eq(role.name.as_str()))
            .exec(self.db.connection())
            .await
            .map_err(unexpected)?;
        found(result.rows_affected, role.name.as_str())
    }

    async fn delete_role(&self, name: &RoleName) -> Result<(), AccessStoreError> {
        let result = role::Entity::delete_by_id(name.as_str())
            .exec(self.db.connection())
            .await
            .map_err(unexpected)?;
        found(result.rows_affected, name.as_str())
    }

    async fn list_roles(&self) -> Result<Vec<Role>, AccessStoreError> {
        role::Entity::find()
            .order_by_asc(role::Column::Name)
            .all(self.db.connection())
            .await
            .map_err(unexpected)?
            .into_iter()
            .map(role_from_row)
            .collect()
    }

    async fn insert_binding(&self, binding: &RoleBinding) -> Result<(), AccessStoreError> {
        let row = role_binding::ActiveModel {
            id: Set(binding.id.to_string()),
            principal: Set(binding.principal.as_str().to_owned()),
            role: Set(binding.role.as_str().to_owned()),
            scope: Set(binding.scope.name().to_owned()),
            expire_time: Set(binding.expire_time),
            create_time: Set(now()),
            grades: Set(i16::from(binding.grades.bits())),
        };
        role_binding::Entity::insert(row)
            .exec_without_returning(self.db.connection())
            .await
            .map(drop)
            .map_err(|error| insert_error(error, &binding.id.to_string(), Some(&binding.principal)))
    }

    async fn delete_binding(&self, id: BindingId) -> Result<(), AccessStoreError> {
        let result = role_binding::Entity::delete_by_id(id.to_string())
            .exec(self.db.connection())
            .await
            .map_err(unexpected)?;
        found(result.rows_affected, id.to_string())
    }

    async fn list_bindings(&self) -> Result<Vec<RoleBinding>, AccessStoreError> {
        role_binding::Entity::find()
            .order_by_asc(role_binding::Column::Id)
            .all(self.db.connection())
            .await
            .map_err(unexpected)?
            .into_iter()
            .map(binding_from_row)
            .collect()
    }

    async fn insert_api_key(&self, key: &ApiKeyRecord) -> Result<(), AccessStoreError> {
        let row = api_key_row(key);
        api_key::Entity::insert(row)
            .exec_without_returning(self.db.connection())
            .await
            .map(drop)
            .map_err(|error| {
                insert_error(
                    error,
                    &format!("API key {} (prefix {})", key.id, key.prefix),
                    Some(&key.principal),
                )
            })
    }

    async fn find_api_key_by_prefix(&self, prefix: &ApiKeyPrefix) -> Result<Option<ApiKeyRecord>, AccessStoreError> {
        api_key::Entity::find()
            .filter(api_key::Column::Prefix.eq(prefix.as_str()))
            .one(self.db.connection())
            .await
            .map_err(unexpected)?
            .map(api_key_from_row)
            .transpose()
    }

    async fn revoke_api_key(&self, id: ApiKeyId, time: DateTime<Utc>) -> Result<ApiKeyRecord, AccessStoreError> {
        let key = id.to_string();
        let row = async {
            let txn = self.db.connection().begin().await?;
            // The write comes first, so on SQLite the transaction takes the write lock at once.
            api_key::Entity::update_many()
                .col_expr(api_key::Column::RevokeTime, Expr::val(time))
                .filter(api_key::Column::Id.eq(key.as_str()))
                .filter(api_key::Column::RevokeTime.is_null())
                .exec(&txn)
                .await?;
            let row = api_key::Entity::find_by_id(key.as_str()).one(&txn).await?;
            txn.commit().await?;
            Ok::<_, DbErr>(row)
        }
        .await
        .map_err(unexpected)?;
        match row {
            Some(row) => api_key_from_row(row),
            None => Err(AccessStoreError::NotFound(key)),
        }
    }

    async fn list_unrevoked_api_keys(&self) -> Result<Vec<ApiKeyRecord>, AccessStoreError> {
        api_key::Entity::find()
            .filter(api_key::Column::RevokeTime.is_null())
            .order_by_asc(api_key::Column::Id)
            .all(self.db.connection())
            .await
            .map_err(unexpected)?
            .into_iter()
            .map(api_key_from_row)
            .collect()
    }

    async fn list_api_keys(&self, principal: &PrincipalName) -> Result<Vec<ApiKeyRecord>, AccessStoreError> {
        api_key::Entity::find()
            .filter(api_key::Column::Principal.eq(principal.as_str()))
            .order_by_asc(api_key::Column::Id)
            .all(self.db.connection())
            .await
            .map_err(unexpected)?
            .into_iter()
            .map(api_key_from_row)
            .collect()
    }

    async fn append_audit_event(&self, event: &AuditEvent) -> Result<(), AccessStoreError> {
        audit_event::Entity::insert(audit_event_row(event))
            .exec_without_returning(self.db.connection())
            .await
            .map(drop)
            .map_err(|error| insert_error(error, &event.id.to_string(), None))
    }

    async fn append_audit_events(&self, events: &[AuditEvent]) -> Result<(), AccessStoreError> {
        let Some(first) = events.first() else {
            return Ok(());
        };
        // An id given twice would fail the insert anyway; naming it needs no query.
        let mut ids: Vec<AuditEventId> = events.iter().map(|e| e.id).collect();
        ids.sort_unstable();
        if let Some(pair) = ids.windows(2).find(|pair| pair[0] == pair[1]) {
            return Err(AccessStoreError::AlreadyExists(pair[0].to_string()));
        }
        let written = if events.len() <= AUDIT_EVENTS_PER_INSERT {
            insert_audit_events(self.db.connection(), events).await
        } else {
            async {
                let txn = self.db.connection().begin().await?;
                insert_audit_events(&txn, events).await?;
                txn.commit().await
            }
            .await
        };
        let Err(error) = written else {
            return Ok(());
        };
        if !matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) {
            return Err(unexpected(error));
        }
        // The driver does not say which id was taken: look one up (nothing was written).
        let taken = audit_event::Entity::find()
            .select_only()
            .column(audit_event::Column::Id)
            .filter(audit_event::Column::Id.is_in(ids.iter().map(ToString::to_string)))
            .order_by_asc(audit_event::Column::Id)
            .into_tuple::<String>()
            .one(self.db.connection())
            .await
            .ok()
            .flatten();
        Err(AccessStoreError::AlreadyExists(
            taken.unwrap_or_else(|| first.id.to_string()),
        ))
    }

    async fn list_audit_events(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>, AccessStoreError> {
        let mut select = audit_event::Entity::find();
        if let Some(actor) = &query.actor {
            select = select.filter(audit_event::Column::Actor.eq(actor.as_str()));
        }
        if let Some(resource) = &query.resource {
            select = select.filter(audit_event::Column::Resource.eq(resource.as_str()));
        }
        if let Some(action) = &query.action {
            select = select.filter(audit_event::Column::Action.eq(action.as_str()));
        }
        if let Some(since) = query.since {
            select = select.filter(audit_event::Column::Time.gte(since));
        }
        if let Some(until) = query.until {
            select = select.filter(audit_event::Column::Time.lt(until));
        }
        if let Some(after) = &query.after {
            // Newest first: the rows after the cursor are those with a smaller (time, id).
            let columns = Expr::tuple([
                Expr::col((audit_event::Entity, audit_event::Column::Time)),
                Expr::col((audit_event::Entity, audit_event::Column::Id)),
            ]);
            let values = Expr::tuple([Expr::val(after.time), Expr::val(after.id.to_string())]);
            select = select.filter(columns.lt(values));
        }
        select
            .order_by_desc(audit_event::Column::Time)
            .order_by_desc(audit_event::Column::Id)
            .limit(u64::from(query.limit))
            .all(self.db.connection())
            .await
            .map_err(unexpected)?
            .into_iter()
            .map(audit_event_from_row)
            .collect()
    }

    async fn load_snapshot(&self) -> Result<AccessSnapshot, AccessStoreError> {
        // One transaction, so the three reads see the same state.
        let (principals, roles, bindings) = async {
            let txn = self.db.connection().begin().await?;
            let principals = principal::Entity::find().all(&txn).await?;
            let roles = role::Entity::find().all(&txn).await?;
            let bindings = role_binding::Entity::find().all(&txn).await?;
            txn.commit().await?;
            Ok::<_, DbErr>((principals, roles, bindings))
        }
        .await
        .map_err(unexpected)?;
        let principals = principals
            .into_iter()
            .map(principal_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let roles = roles.into_iter().map(role_from_row).collect::<Result<Vec<_>, _>>()?;
        let bindings = bindings
            .into_iter()
            .map(binding_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(AccessSnapshot::new(principals, roles, bindings))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn hashes_round_trip_through_hex() {
        let hash: [u8; 32] = std::array::from_fn(|i| u8::try_from(i * 8).unwrap());
        let hex = to_hex(&hash);
        assert_eq!(hex.len(), 64);
        assert!(hex.starts_with("0008101820"));
        assert_eq!(hash_from_hex(&hex), Some(hash));
        assert_eq!(hash_from_hex(&hex[1..]), None);
        assert_eq!(hash_from_hex(&"zz".repeat(32)), None);
    }
}
