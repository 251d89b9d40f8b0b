//! The first admin: a fresh installation has no principals, so nobody could call anything.
//! On first start (no principal at all) `crmd` creates `principals/admin` with the built-in
//! `admin` role for ALL customers and one API key, and writes the key to the admin key file,
//! readable by its owner only. There is no default password, and the key is never logged.
//! `crmd bootstrap` makes a fresh admin key at any time (the recovery path for a lost key; it
//! needs the database, i.e. an operator's rights).

use std::{io::Write as _, path::Path};

use anyhow::Context as _;
use crm_domain::{
    access::{
        AccessStoreError, BindingId, BuiltInRole, Principal, PrincipalDisplayName, PrincipalKind, RoleBinding, Scope,
    },
    customer::{now, values::PrincipalName},
    ports::AccessRepository,
};
use crm_persistence::{Database, SqlAccessRepository};

use crate::access::api_key;

/// The id of the bootstrap principal.
pub const ADMIN_ID: &str = "admin";

fn admin_name() -> anyhow::Result<PrincipalName> {
    PrincipalName::from_id(ADMIN_ID).map_err(|e| anyhow::anyhow!("bootstrap principal name: {e}"))
}

/// On a database without any principal, creates the admin with its binding and key and returns
/// the key's text; otherwise (or when another replica won the race) returns `None`.
///
/// # Errors
/// When the database fails.
pub async fn first_start(db: &Database) -> anyhow::Result<Option<String>> {
    let repository = SqlAccessRepository::new(db.clone());
    if !repository.list_principals().await.map_err(store)?.is_empty() {
        return Ok(None);
    }
    match repository.insert_principal(&admin_principal()?).await {
        Ok(()) => {}
        Err(AccessStoreError::AlreadyExists(_)) => return Ok(None),
        Err(other) => return Err(store(other)),
    }
    Ok(Some(admin_key(&repository).await?))
}

/// Makes a new key for the admin principal, creating the principal and its `admin`/ALL binding
/// if missing and enabling it if disabled, and returns the key's text.
///
/// # Errors
/// When the database fails.
pub async fn new_admin_key(db: &Database) -> anyhow::Result<String> {
    let repository = SqlAccessRepository::new(db.clone());
    let name = admin_name()?;
    match repository.get_principal(&name).await.map_err(store)? {
        None => match repository.insert_principal(&admin_principal()?).await {
            Ok(()) | Err(AccessStoreError::AlreadyExists(_)) => {}
            Err(other) => return Err(store(other)),
        },
        Some(principal) if principal.disabled => {
            let enabled = Principal {
                disabled: false,
                ..principal
            };
            repository.update_principal(&enabled).await.map_err(store)?;
        }
        Some(_) => {}
    }
    admin_key(&repository).await
}

fn admin_principal() -> anyhow::Result<Principal> {
    Ok(Principal {
        name: admin_name()?,
        kind: PrincipalKind::User,
        display_name: PrincipalDisplayName::parse("Administrator (bootstrap)")
            .map_err(|e| anyhow::anyhow!("bootstrap display name: {e}"))?,
        department: None,
        staff_level: None,
        disabled: false,
    })
}

/// Ensures the admin holds a live `admin`/ALL binding, then stores and returns a new key.
async fn admin_key(repository: &SqlAccessRepository) -> anyhow::Result<String> {
    let name = admin_name()?;
    let role = BuiltInRole::Admin.name();
    let at = now();
    let has_binding = repository.list_bindings().await.map_err(store)?.iter().any(|binding| {
        binding.principal == name && binding.role == role && binding.scope == Scope::All && binding.is_live(at)
    });
    if !has_binding {
        let binding = RoleBinding {
            id: BindingId::generate(),
            principal: name.clone(),
            role,
            scope: Scope::All,
            expire_time: None,
            grades: crm_domain::access::GradeSet::empty(),
        };
        repository.insert_binding(&binding).await.map_err(store)?;
    }
    let key = api_key::generate(name, at, None);
    repository.insert_api_key(&key.record).await.map_err(store)?;
    Ok(key.text)
}

fn store(error: AccessStoreError) -> anyhow::Error {
    anyhow::anyhow!("bootstrap: {error}")
}

/// Writes `key` to `path`, replacing any old file, readable and writable by the owner only.
///
/// # Errors
/// When the file cannot be written.
pub fn write_key_file(path: &Path, key: &str) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot write the admin key file {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("cannot restrict the admin key file {}", path.display()))?;
    }
    writeln!(file, "{key}").with_context(|| format!("cannot write the admin key file {}", path.display()))?;
    Ok(())
}
