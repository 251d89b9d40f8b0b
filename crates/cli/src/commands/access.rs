//! `crmctl access …`: principals, roles, role bindings, API keys, permission checks and the
//! audit log, one subcommand per `crm.v1.AccessService` RPC.

use clap::{Args, Subcommand};
use crm_api::crm::v1 as pb;
use prost_types::FieldMask;

use super::{
    args::{enum_value, paginate, timestamp},
    resource_name,
};
use crate::{
    client::Clients,
    error::CliError,
    output::{Output, OutputFormat, from_json},
};

/// Principals, roles, role bindings, API keys, permission checks and the audit log.
#[derive(Debug, Subcommand)]
pub enum AccessCommand {
    /// Users and service accounts.
    #[command(subcommand)]
    Principals(PrincipalsCommand),
    /// Built-in and custom roles (sets of permissions).
    #[command(subcommand)]
    Roles(RolesCommand),
    /// Role bindings: a role given to a principal with a scope.
    #[command(subcommand)]
    Bindings(BindingsCommand),
    /// A principal's API keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// May PRINCIPAL do PERMISSION to CUSTOMER? Prints the decision and its reason.
    ///
    /// Exits 0 when the permission is granted and 4 when it is denied (the decision is printed
    /// either way), so scripts can write `if crmctl access check li-na customers.update acme`.
    Check {
        /// The principal asked about (`li-na` or `principals/li-na`).
        principal: String,
        /// The permission, e.g. `customers.update`.
        permission: String,
        /// The customer (`acme` or `customers/acme`); for global permissions such as
        /// `policy.write` give `-`.
        customer: String,
    },
    /// Answer many permission questions at once (BatchCheckPermissions). FILE (`-` for stdin)
    /// holds one question per line in proto3 JSON, e.g. `{"correlationId": "row-1", "principal":
    /// "li-na", "permission": "customers.get", "customer": "acme"}` (ids or names). Prints one
    /// result per question, in order: a decision, or why the question could not be answered.
    /// Exits 0 when every question was answered, whatever the decisions.
    CheckBatch {
        /// The NDJSON file of questions, or `-` for stdin.
        file: String,
    },
    /// The audit log, newest first, with optional filters.
    Audit(AuditArgs),
}

/// Flags of `crmctl access audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Only events of this actor (`li-na` or `principals/li-na`).
    #[arg(long)]
    actor: Option<String>,
    /// Only events on exactly this resource name, e.g. `customers/acme`.
    #[arg(long)]
    resource: Option<String>,
    /// Only events of this action, the RPC name, e.g. `UpdateCustomer`.
    #[arg(long)]
    action: Option<String>,
    /// Only events at or after this time (RFC 3339, or relative such as `-1d`).
    #[arg(long, value_name = "TIME")]
    start_time: Option<String>,
    /// Only events before this time (RFC 3339, or relative such as `-1h`).
    #[arg(long, value_name = "TIME")]
    end_time: Option<String>,
    /// Print at most this many events.
    #[arg(long)]
    limit: Option<u64>,
}

/// `crmctl access principals …`.
#[derive(Debug, Subcommand)]
pub enum PrincipalsCommand {
    /// List every principal.
    List {
        /// Print at most this many.
        #[arg(long)]
        limit: Option<u64>,
    },
    /// Show one principal.
    Get {
        /// The principal's id or name (`li-na` or `principals/li-na`).
        principal: String,
    },
    /// Create a principal.
    Create {
        /// The new principal's id (`li-na`).
        id: String,
        /// The name people see.
        #[arg(long)]
        display_name: String,
        /// `user` or `service`.
        #[arg(long, default_value = "user")]
        kind: String,
        /// The department, which DEPARTMENT-scoped bindings compare with the customer's.
        #[arg(long)]
        department: Option<String>,
        /// `senior`, `middle` or `frontline`.
        #[arg(long)]
        staff_level: Option<String>,
    },
    /// Change the fields given (only those).
    Update {
        /// The principal's id or name.
        principal: String,
        /// The new display name.
        #[arg(long)]
        display_name: Option<String>,
        /// The new department (empty to clear it).
        #[arg(long)]
        department: Option<String>,
        /// The new staff level: `senior`, `middle` or `frontline`.
        #[arg(long)]
        staff_level: Option<String>,
    },
    /// Disable a principal: it is denied everything and its keys stop working at once.
    Disable {
        /// The principal's id or name.
        principal: String,
    },
    /// Enable a disabled principal again.
    Enable {
        /// The principal's id or name.
        principal: String,
    },
    /// Delete a principal, with its bindings and keys.
    Delete {
        /// The principal's id or name.
        principal: String,
    },
}

/// `crmctl access roles …`.
#[derive(Debug, Subcommand)]
pub enum RolesCommand {
    /// List the built-in and custom roles.
    List {
        /// Print at most this many.
        #[arg(long)]
        limit: Option<u64>,
    },
    /// Show one role and its permissions.
    Get {
        /// The role's id or name (`sales_rep` or `roles/sales_rep`).
        role: String,
    },
    /// Create a custom role.
    Create {
        /// The new role's id (`key_account_manager`).
        id: String,
        /// The title people see.
        #[arg(long)]
        title: String,
        /// The permissions it grants, comma-separated or repeated (`customers.get,customers.list`).
        #[arg(long = "permission", value_delimiter = ',', required = true)]
        permissions: Vec<String>,
    },
    /// Change a custom role's title or permissions (only those given).
    Update {
        /// The role's id or name.
        role: String,
        /// The new title.
        #[arg(long)]
        title: Option<String>,
        /// The new set of permissions (replaces the old), comma-separated or repeated.
        #[arg(long = "permission", value_delimiter = ',')]
        permissions: Option<Vec<String>>,
    },
    /// Delete a custom role that no binding uses.
    Delete {
        /// The role's id or name.
        role: String,
    },
}

/// `crmctl access bindings …`.
#[derive(Debug, Subcommand)]
pub enum BindingsCommand {
    /// List role bindings, of one principal or of all.
    List {
        /// Only this principal's bindings (`li-na` or `principals/li-na`).
        #[arg(long)]
        principal: Option<String>,
        /// Print at most this many.
        #[arg(long)]
        limit: Option<u64>,
    },
    /// Show one binding.
    Get {
        /// The binding's name (`roleBindings/…`) or its uuid.
        binding: String,
    },
    /// Give ROLE to PRINCIPAL with a scope.
    Create {
        /// The principal (`li-na` or `principals/li-na`).
        principal: String,
        /// The role (`sales_rep` or `roles/sales_rep`).
        role: String,
        /// Which customers it covers: `all`, `department` (the principal's) or `own` (those it owns).
        #[arg(long)]
        scope: String,
        /// Only customers of these grades, comma-separated or repeated (`standard,potential`);
        /// all grades when not given.
        #[arg(long = "grade", value_delimiter = ',')]
        grades: Vec<String>,
        /// When the binding stops granting (RFC 3339, or relative such as `+30d`).
        #[arg(long, value_name = "TIME")]
        expire_time: Option<String>,
    },
    /// Delete a binding.
    Delete {
        /// The binding's name (`roleBindings/…`) or its uuid.
        binding: String,
    },
}

/// `crmctl access keys …`.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List a principal's keys (never their secrets).
    List {
        /// The principal (`li-na` or `principals/li-na`).
        principal: String,
        /// Print at most this many.
        #[arg(long)]
        limit: Option<u64>,
    },
    /// Create a key for a principal. The secret is printed once, alone on stdout (in table
    /// format), so `KEY=$(crmctl access keys create li-na)` captures it; it cannot be read again.
    Create {
        /// The principal (`li-na` or `principals/li-na`).
        principal: String,
        /// When the key stops working (RFC 3339, or relative such as `+90d`).
        #[arg(long, value_name = "TIME")]
        expire_time: Option<String>,
    },
    /// Revoke a key: it stops working at once.
    Revoke {
        /// The key's name, `principals/{id}/apiKeys/{uuid}` (as `keys list` prints it).
        key: String,
    },
}

/// The columns of `principals list`.
const PRINCIPAL_COLUMNS: &[&str] = &["name", "kind", "display_name", "department", "staff_level", "disabled"];
/// The columns of `roles list`.
const ROLE_COLUMNS: &[&str] = &["name", "title", "built_in", "permissions"];
/// The columns of `bindings list`.
const BINDING_COLUMNS: &[&str] = &["name", "principal", "role", "scope", "grades", "expire_time"];
/// The columns of `keys list`.
const KEY_COLUMNS: &[&str] = &["name", "prefix", "create_time", "expire_time", "revoke_time"];
/// The columns of `audit`.
const AUDIT_COLUMNS: &[&str] = &["time", "actor", "action", "resource", "outcome", "detail"];

/// Runs an `access` subcommand.
pub async fn run(cmd: AccessCommand, clients: &Clients, out: &Output) -> Result<(), CliError> {
    match cmd {
        AccessCommand::Principals(cmd) => principals(cmd, clients, out).await,
        AccessCommand::Roles(cmd) => roles(cmd, clients, out).await,
        AccessCommand::Bindings(cmd) => bindings(cmd, clients, out).await,
        AccessCommand::Keys(cmd) => keys(cmd, clients, out).await,
        AccessCommand::Check {
            principal,
            permission,
            customer,
        } => check(principal, permission, customer, clients, out).await,
        AccessCommand::CheckBatch { file } => check_batch(&file, clients, out).await,
        AccessCommand::Audit(args) => audit(args, clients, out).await,
    }
}

async fn principals(cmd: PrincipalsCommand, clients: &Clients, out: &Output) -> Result<(), CliError> {
    let mut access = clients.access();
    match cmd {
        PrincipalsCommand::List { limit } => {
            let client = clients.access();
            paginate(
                limit,
                out.list::<pb::Principal>(PRINCIPAL_COLUMNS),
                |page_token, page_size| {
                    let mut client = client.clone();
                    async move {
                        let page = client
                            .list_principals(pb::ListPrincipalsRequest { page_size, page_token })
                            .await?
                            .into_inner();
                        Ok((page.principals, page.next_page_token))
                    }
                },
            )
            .await
        }
        PrincipalsCommand::Get { principal } => {
            let name = resource_name("principals", &principal);
            out.message(
                &access
                    .get_principal(pb::GetPrincipalRequest { name })
                    .await?
                    .into_inner(),
            )
        }
        PrincipalsCommand::Create {
            id,
            display_name,
            kind,
            department,
            staff_level,
        } => {
            let principal = pb::Principal {
                kind: enum_value("crm.v1.PrincipalKind", "--kind", &kind)?,
                display_name,
                department: department.unwrap_or_default(),
                staff_level: staff_level
                    .map(|s| enum_value("crm.v1.StaffLevel", "--staff-level", &s))
                    .transpose()?
                    .unwrap_or_default(),
                ..Default::default()
            };
            let request = pb::CreatePrincipalRequest {
                principal_id: id,
                principal: Some(principal),
            };
            out.message(&access.create_principal(request).await?.into_inner())
        }
        PrincipalsCommand::Update {
            principal,
            display_name,
            department,
            staff_level,
        } => {
            let mut paths = Vec::new();
            let mut update = pb::Principal {
                name: resource_name("principals", &principal),
                ..Default::default()
            };
            if let Some(display_name) = display_name {
                update.display_name = display_name;
                paths.push("display_name".to_owned());
            }
            if let Some(department) = department {
                update.department = department;
                paths.push("department".to_owned());
            }
            if let Some(level) = staff_level {
                update.staff_level = enum_value("crm.v1.StaffLevel", "--staff-level", &level)?;
                paths.push("staff_level".to_owned());
            }
            if paths.is_empty() {
                return Err(CliError::Usage(
                    "nothing to update: give --display-name, --department or --staff-level".to_owned(),
                ));
            }
            update_principal(&mut access, update, paths, out).await
        }
        PrincipalsCommand::Disable { principal } => {
            let update = pb::Principal {
                name: resource_name("principals", &principal),
                disabled: true,
                ..Default::default()
            };
            update_principal(&mut access, update, vec!["disabled".to_owned()], out).await
        }
        PrincipalsCommand::Enable { principal } => {
            let update = pb::Principal {
                name: resource_name("principals", &principal),
                disabled: false,
                ..Default::default()
            };
            update_principal(&mut access, update, vec!["disabled".to_owned()], out).await
        }
        PrincipalsCommand::Delete { principal } => {
            let name = resource_name("principals", &principal);
            access
                .delete_principal(pb::DeletePrincipalRequest { name: name.clone() })
                .await?;
            deleted(&name, out)
        }
    }
}

async fn update_principal(
    access: &mut crate::client::AccessClient,
    principal: pb::Principal,
    paths: Vec<String>,
    out: &Output,
) -> Result<(), CliError> {
    let request = pb::UpdatePrincipalRequest {
        principal: Some(principal),
        update_mask: Some(FieldMask { paths }),
    };
    out.message(&access.update_principal(request).await?.into_inner())
}

async fn roles(cmd: RolesCommand, clients: &Clients, out: &Output) -> Result<(), CliError> {
    let mut access = clients.access();
    match cmd {
        RolesCommand::List { limit } => {
            let client = clients.access();
            paginate(limit, out.list::<pb::Role>(ROLE_COLUMNS), |page_token, page_size| {
                let mut client = client.clone();
                async move {
                    let page = client
                        .list_roles(pb::ListRolesRequest { page_size, page_token })
                        .await?
                        .into_inner();
                    Ok((page.roles, page.next_page_token))
                }
            })
            .await
        }
        RolesCommand::Get { role } => {
            let name = resource_name("roles", &role);
            out.message(&access.get_role(pb::GetRoleRequest { name }).await?.into_inner())
        }
        RolesCommand::Create { id, title, permissions } => {
            let request = pb::CreateRoleRequest {
                role_id: id,
                role: Some(pb::Role {
                    title,
                    permissions,
                    ..Default::default()
                }),
            };
            out.message(&access.create_role(request).await?.into_inner())
        }
        RolesCommand::Update {
            role,
            title,
            permissions,
        } => {
            let mut paths = Vec::new();
            let mut update = pb::Role {
                name: resource_name("roles", &role),
                ..Default::default()
            };
            if let Some(title) = title {
                update.title = title;
                paths.push("title".to_owned());
            }
            if let Some(permissions) = permissions {
                update.permissions = permissions;
                paths.push("permissions".to_owned());
            }
            if paths.is_empty() {
                return Err(CliError::Usage(
                    "nothing to update: give --title or --permission".to_owned(),
                ));
            }
            let request = pb::UpdateRoleRequest {
                role: Some(update),
                update_mask: Some(FieldMask { paths }),
            };
            out.message(&access.update_role(request).await?.into_inner())
        }
        RolesCommand::Delete { role } => {
            let name = resource_name("roles", &role);
            access.delete_role(pb::DeleteRoleRequest { name: name.clone() }).await?;
            deleted(&name, out)
        }
    }
}

async fn bindings(cmd: BindingsCommand, clients: &Clients, out: &Output) -> Result<(), CliError> {
    let mut access = clients.access();
    match cmd {
        BindingsCommand::List { principal, limit } => {
            let principal = principal.map(|p| resource_name("principals", &p)).unwrap_or_default();
            let client = clients.access();
            paginate(
                limit,
                out.list::<pb::RoleBinding>(BINDING_COLUMNS),
                |page_token, page_size| {
                    let mut client = client.clone();
                    let principal = principal.clone();
                    async move {
                        let page = client
                            .list_role_bindings(pb::ListRoleBindingsRequest {
                                principal,
                                page_size,
                                page_token,
                            })
                            .await?
                            .into_inner();
                        Ok((page.role_bindings, page.next_page_token))
                    }
                },
            )
            .await
        }
        BindingsCommand::Get { binding } => {
            let name = resource_name("roleBindings", &binding);
            out.message(
                &access
                    .get_role_binding(pb::GetRoleBindingRequest { name })
                    .await?
                    .into_inner(),
            )
        }
        BindingsCommand::Create {
            principal,
            role,
            scope,
            grades,
            expire_time,
        } => {
            let binding = pb::RoleBinding {
                principal: resource_name("principals", &principal),
                role: resource_name("roles", &role),
                scope: enum_value("crm.v1.Scope", "--scope", &scope)?,
                expire_time: expire_time.map(|t| timestamp("--expire-time", &t)).transpose()?,
                grades: grades
                    .iter()
                    .map(|g| enum_value("crm.v1.Grade", "--grade", g))
                    .collect::<Result<_, _>>()?,
                ..Default::default()
            };
            let request = pb::CreateRoleBindingRequest {
                role_binding: Some(binding),
            };
            out.message(&access.create_role_binding(request).await?.into_inner())
        }
        BindingsCommand::Delete { binding } => {
            let name = resource_name("roleBindings", &binding);
            access
                .delete_role_binding(pb::DeleteRoleBindingRequest { name: name.clone() })
                .await?;
            deleted(&name, out)
        }
    }
}

async fn keys(cmd: KeysCommand, clients: &Clients, out: &Output) -> Result<(), CliError> {
    let mut access = clients.access();
    match cmd {
        KeysCommand::List { principal, limit } => {
            let parent = resource_name("principals", &principal);
            let client = clients.access();
            paginate(limit, out.list::<pb::ApiKey>(KEY_COLUMNS), |page_token, page_size| {
                let mut client = client.clone();
                let parent = parent.clone();
                async move {
                    let page = client
                        .list_api_keys(pb::ListApiKeysRequest {
                            parent,
                            page_size,
                            page_token,
                        })
                        .await?
                        .into_inner();
                    Ok((page.api_keys, page.next_page_token))
                }
            })
            .await
        }
        KeysCommand::Create { principal, expire_time } => {
            let request = pb::CreateApiKeyRequest {
                parent: resource_name("principals", &principal),
                expire_time: expire_time.map(|t| timestamp("--expire-time", &t)).transpose()?,
            };
            let response = access.create_api_key(request).await?.into_inner();
            match out.format() {
                // The secret alone, so that `$(crmctl access keys create …)` is the key.
                OutputFormat::Table => {
                    if let Some(key) = &response.api_key {
                        eprintln!(
                            "created {}; its secret is printed once and cannot be read again",
                            key.name
                        );
                    }
                    out.text(&format!("{}\n", response.secret))
                }
                OutputFormat::Json | OutputFormat::Ndjson | OutputFormat::Csv => out.message(&response),
            }
        }
        KeysCommand::Revoke { key } => {
            let request = pb::RevokeApiKeyRequest {
                name: key.trim().to_owned(),
            };
            out.message(&access.revoke_api_key(request).await?.into_inner())
        }
    }
}

async fn check(
    principal: String,
    permission: String,
    customer: String,
    clients: &Clients,
    out: &Output,
) -> Result<(), CliError> {
    let customer = if customer.trim() == "-" {
        String::new()
    } else {
        resource_name("customers", &customer)
    };
    let request = pb::CheckPermissionRequest {
        principal: resource_name("principals", &principal),
        permission: permission.trim().to_owned(),
        customer,
    };
    let decision = clients.access().check_permission(request).await?.into_inner();
    if out.format() == OutputFormat::Table {
        // `allowed: false` is a default value, which a message table leaves out: say it first.
        out.text(if decision.allowed { "allowed\n" } else { "denied\n" })?;
    }
    out.message(&decision)?;
    if decision.allowed {
        Ok(())
    } else {
        let explanation = decision.reason.map(|r| r.explanation).unwrap_or_default();
        Err(CliError::Denied(explanation))
    }
}

/// The columns of `check-batch`.
const RESULT_COLUMNS: &[&str] = &[
    "correlation_id",
    "decision.allowed",
    "decision.reason.code",
    "decision.reason.explanation",
    "error.message",
];

/// The most questions one BatchCheckPermissions call takes.
const BATCH_LIMIT: usize = 1000;

async fn check_batch(file: &str, clients: &Clients, out: &Output) -> Result<(), CliError> {
    let reader: Box<dyn std::io::BufRead> = if file == "-" {
        Box::new(std::io::BufReader::new(std::io::stdin()))
    } else {
        let opened = std::fs::File::open(file).map_err(|e| CliError::io(format!("reading {file}"), e))?;
        Box::new(std::io::BufReader::new(opened))
    };
    let mut writer = out.list::<pb::CheckPermissionResult>(RESULT_COLUMNS);
    let mut items = Vec::new();
    let mut client = clients.access();
    for (number, line) in std::io::BufRead::lines(reader).enumerate() {
        let line = line.map_err(|e| CliError::io(format!("reading {file}"), e))?;
        if line.trim().is_empty() {
            continue;
        }
        let mut item: pb::CheckPermissionItem =
            from_json(&line).map_err(|e| CliError::Invalid(format!("{file}, line {}: {e}", number + 1)))?;
        if !item.principal.trim().is_empty() {
            item.principal = resource_name("principals", &item.principal);
        }
        if !item.customer.trim().is_empty() {
            item.customer = resource_name("customers", &item.customer);
        }
        items.push(item);
        if items.len() == BATCH_LIMIT {
            send_batch(&mut client, std::mem::take(&mut items), &mut writer).await?;
        }
    }
    if !items.is_empty() {
        send_batch(&mut client, items, &mut writer).await?;
    }
    writer.finish()
}

async fn send_batch(
    client: &mut crate::client::AccessClient,
    items: Vec<pb::CheckPermissionItem>,
    writer: &mut crate::output::ListWriter<pb::CheckPermissionResult>,
) -> Result<(), CliError> {
    let response = client
        .batch_check_permissions(pb::BatchCheckPermissionsRequest { items })
        .await?
        .into_inner();
    for result in &response.results {
        writer.write(result)?;
    }
    Ok(())
}

async fn audit(args: AuditArgs, clients: &Clients, out: &Output) -> Result<(), CliError> {
    let filter = pb::ListAuditEventsRequest {
        actor: args.actor.map(|a| resource_name("principals", &a)).unwrap_or_default(),
        resource: args.resource.map(|r| r.trim().to_owned()).unwrap_or_default(),
        action: args.action.map(|a| a.trim().to_owned()).unwrap_or_default(),
        start_time: args.start_time.map(|t| timestamp("--start-time", &t)).transpose()?,
        end_time: args.end_time.map(|t| timestamp("--end-time", &t)).transpose()?,
        page_size: 0,
        page_token: String::new(),
    };
    let client = clients.access();
    paginate(
        args.limit,
        out.list::<pb::AuditEvent>(AUDIT_COLUMNS),
        |page_token, page_size| {
            let mut client = client.clone();
            let request = pb::ListAuditEventsRequest {
                page_size,
                page_token,
                ..filter.clone()
            };
            async move {
                let page = client.list_audit_events(request).await?.into_inner();
                Ok((page.audit_events, page.next_page_token))
            }
        },
    )
    .await
}

/// Says on stderr what was deleted (the RPC returns nothing); prints `{}` for the JSON formats so
/// that a script reading stdout gets a document.
fn deleted(name: &str, out: &Output) -> Result<(), CliError> {
    eprintln!("deleted {name}");
    match out.format() {
        OutputFormat::Json | OutputFormat::Ndjson => out.text("{}\n"),
        OutputFormat::Table | OutputFormat::Csv => Ok(()),
    }
}
