//! `crmctl customers …`: create, get, list, update, delete, undelete, import and export, one
//! subcommand per `crm.v1.CustomerService` RPC (plus the bulk pair).

use clap::{Args, Subcommand, ValueEnum};
use crm_api::{convert::customers::clearable_paths, crm::v1 as pb};
use prost_types::FieldMask;

use super::{export, import, resource_name};
use crate::{client::Clients, error::CliError, output::Output};

/// The columns `customers list` shows in a table or CSV.
pub const LIST_COLUMNS: &[&str] = &[
    "name",
    "display_name",
    "kind",
    "owner",
    "department",
    "region.country_code",
    "employee_count",
    "tags",
    "classification.grade.value.grade",
];

/// Customer commands.
#[derive(Debug, Subcommand)]
pub enum CustomersCommand {
    /// Create a customer, e.g. `crmctl customers create --id acme --display-name "Acme Ltd"
    /// --kind organization --owner li-na --tag vip`.
    Create(CreateArgs),
    /// Show one customer.
    Get {
        /// The customer's id or name (`acme` or `customers/acme`).
        name: String,
    },
    /// List customers, following page tokens; ndjson and csv stream while paging.
    List(ListArgs),
    /// Change the fields given as flags (only those: the update mask is built from them).
    Update(UpdateArgs),
    /// Soft-delete a customer (it can be restored with `undelete`).
    Delete {
        /// The customer's id or name.
        name: String,
        /// Only delete if the customer's etag is still this one (exit code 5 otherwise).
        #[arg(long)]
        etag: Option<String>,
    },
    /// Restore a soft-deleted customer.
    Undelete {
        /// The customer's id or name.
        name: String,
    },
    /// Create customers from a CSV (with a header) or NDJSON file.
    Import(import::ImportArgs),
    /// Write every customer in scope as CSV or NDJSON.
    Export(export::ExportArgs),
}

/// Flags of `customers create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The id to give the customer (3 to 63 of `a-z0-9-`, starting with a letter); the server
    /// assigns a UUID when it is not given.
    #[arg(long)]
    pub id: Option<String>,
    /// The company's or person's name.
    #[arg(long)]
    pub display_name: String,
    /// An organisation or an individual.
    #[arg(long, value_enum)]
    pub kind: Kind,
    /// The fields every customer may have.
    #[command(flatten)]
    pub fields: CustomerFields,
    /// A UUID identifying this request: retrying with it returns the customer the first try
    /// created instead of creating another.
    #[arg(long)]
    pub request_id: Option<String>,
}

/// Flags of `customers update`.
#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// The customer's id or name.
    pub name: String,
    /// A new name.
    #[arg(long)]
    pub display_name: Option<String>,
    /// A new kind.
    #[arg(long, value_enum)]
    pub kind: Option<Kind>,
    /// The fields to change.
    #[command(flatten)]
    pub fields: CustomerFields,
    /// Clear a field (repeatable), e.g. `--clear contact.phone --clear tags`.
    #[arg(long, value_name = "FIELD", value_parser = clap::builder::PossibleValuesParser::new(clearable_paths()))]
    pub clear: Vec<String>,
    /// Only update if the customer's etag is still this one (exit code 5 otherwise).
    #[arg(long)]
    pub etag: Option<String>,
}

/// The optional fields of a customer, as flags shared by `create` and `update`.
#[derive(Debug, Clone, Default, Args)]
pub struct CustomerFields {
    /// The contact person's full name.
    #[arg(long, value_name = "NAME")]
    pub contact_name: Option<String>,
    /// The contact's job title, e.g. CFO or 采购经理.
    #[arg(long)]
    pub job_title: Option<String>,
    /// The contact's level.
    #[arg(long, value_enum)]
    pub job_rank: Option<JobRank>,
    /// The contact's part in purchase decisions.
    #[arg(long, value_enum)]
    pub decision_role: Option<DecisionRole>,
    /// The contact's e-mail address.
    #[arg(long)]
    pub email: Option<String>,
    /// The contact's phone number (E.164, e.g. +8613800138000).
    #[arg(long)]
    pub phone: Option<String>,
    /// The industry code, e.g. manufacturing or professional_services.
    #[arg(long)]
    pub industry: Option<String>,
    /// The number of employees.
    #[arg(long, value_name = "N")]
    pub employee_count: Option<i32>,
    /// The ISO 3166-1 alpha-2 country code, e.g. DE or CN.
    #[arg(long, value_name = "CC")]
    pub country: Option<String>,
    /// The state or province.
    #[arg(long)]
    pub subdivision: Option<String>,
    /// The city.
    #[arg(long)]
    pub city: Option<String>,
    /// What the customer cares about when buying (repeatable or comma-separated); replaces
    /// the set on update.
    #[arg(long = "need", value_enum, value_delimiter = ',', value_name = "NEED")]
    pub needs: Vec<Need>,
    /// Whether it is a key account (`--key-account` or `--key-account=false`).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub key_account: Option<bool>,
    /// Whether the customer said they stopped buying.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub churned: Option<bool>,
    /// The responsible principal's id or name (`li-na` or `principals/li-na`).
    #[arg(long)]
    pub owner: Option<String>,
    /// The owning department, e.g. sales-east.
    #[arg(long)]
    pub department: Option<String>,
    /// A label (repeatable or comma-separated); replaces the set on update.
    #[arg(long = "tag", value_delimiter = ',', value_name = "TAG")]
    pub tags: Vec<String>,
}

/// A customer's kind, as a flag value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// A company or other organisation.
    Organization,
    /// A private person.
    Individual,
}

impl From<Kind> for pb::CustomerKind {
    fn from(kind: Kind) -> Self {
        match kind {
            Kind::Organization => Self::Organization,
            Kind::Individual => Self::Individual,
        }
    }
}

/// A contact's job rank, as a flag value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum JobRank {
    /// Senior management.
    Executive,
    /// Middle management.
    Middle,
    /// Staff.
    Frontline,
}

impl From<JobRank> for pb::JobRank {
    fn from(rank: JobRank) -> Self {
        match rank {
            JobRank::Executive => Self::Executive,
            JobRank::Middle => Self::Middle,
            JobRank::Frontline => Self::Frontline,
        }
    }
}

/// A contact's decision role, as a flag value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DecisionRole {
    /// Decides.
    DecisionMaker,
    /// Shapes the decision.
    Influencer,
    /// Uses the product.
    User,
}

impl From<DecisionRole> for pb::DecisionRole {
    fn from(role: DecisionRole) -> Self {
        match role {
            DecisionRole::DecisionMaker => Self::DecisionMaker,
            DecisionRole::Influencer => Self::Influencer,
            DecisionRole::User => Self::User,
        }
    }
}

/// A customer need, as a flag value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Need {
    /// Buys on price.
    PriceSensitive,
    /// Buys for features.
    FunctionFocused,
    /// Buys for quality.
    QualityFocused,
    /// Buys for service.
    ServiceFocused,
}

impl From<Need> for pb::CustomerNeed {
    fn from(need: Need) -> Self {
        match need {
            Need::PriceSensitive => Self::PriceSensitive,
            Need::FunctionFocused => Self::FunctionFocused,
            Need::QualityFocused => Self::QualityFocused,
            Need::ServiceFocused => Self::ServiceFocused,
        }
    }
}

/// Parses an enum value written the way people do: `decision-maker`, `decision_maker`,
/// `DECISION_MAKER` or `DECISION_ROLE_DECISION_MAKER` (with the proto `prefix`).
pub fn parse_choice<E: ValueEnum>(raw: &str, prefix: &str) -> Result<E, String> {
    let trimmed = raw.trim();
    let upper = trimmed.to_ascii_uppercase();
    let bare = upper.strip_prefix(prefix).unwrap_or(&upper);
    let normalized = bare.replace('_', "-").to_ascii_lowercase();
    E::from_str(&normalized, true).map_err(|_| {
        let choices: Vec<String> = E::value_variants()
            .iter()
            .filter_map(|v| v.to_possible_value().map(|p| p.get_name().to_owned()))
            .collect();
        format!("{trimmed:?} is not one of {}", choices.join(", "))
    })
}

impl CustomerFields {
    /// Writes the given flags into `customer` and names each in `mask`.
    fn apply(&self, customer: &mut pb::Customer, mask: &mut Vec<String>) {
        let mut set_contact = |path: &str, f: &dyn Fn(&mut pb::Contact)| {
            f(customer.contact.get_or_insert_with(Default::default));
            mask.push(format!("contact.{path}"));
        };
        if let Some(v) = &self.contact_name {
            set_contact("full_name", &|c| c.full_name.clone_from(v));
        }
        if let Some(v) = &self.job_title {
            set_contact("job_title", &|c| c.job_title.clone_from(v));
        }
        if let Some(v) = self.job_rank {
            set_contact("job_rank", &|c| c.job_rank = pb::JobRank::from(v) as i32);
        }
        if let Some(v) = self.decision_role {
            set_contact("decision_role", &|c| c.decision_role = pb::DecisionRole::from(v) as i32);
        }
        if let Some(v) = &self.email {
            set_contact("email", &|c| c.email.clone_from(v));
        }
        if let Some(v) = &self.phone {
            set_contact("phone", &|c| c.phone.clone_from(v));
        }
        let mut set_region = |path: &str, f: &dyn Fn(&mut pb::Region)| {
            f(customer.region.get_or_insert_with(Default::default));
            mask.push(format!("region.{path}"));
        };
        if let Some(v) = &self.country {
            set_region("country_code", &|r| r.country_code.clone_from(v));
        }
        if let Some(v) = &self.subdivision {
            set_region("subdivision", &|r| r.subdivision.clone_from(v));
        }
        if let Some(v) = &self.city {
            set_region("city", &|r| r.city.clone_from(v));
        }
        if let Some(v) = &self.industry {
            customer.industry.clone_from(v);
            mask.push("industry".into());
        }
        if let Some(v) = self.employee_count {
            customer.employee_count = Some(v);
            mask.push("employee_count".into());
        }
        if !self.needs.is_empty() {
            customer.needs = self.needs.iter().map(|n| pb::CustomerNeed::from(*n) as i32).collect();
            mask.push("needs".into());
        }
        if let Some(v) = self.key_account {
            customer.key_account = v;
            mask.push("key_account".into());
        }
        if let Some(v) = self.churned {
            customer.churned = v;
            mask.push("churned".into());
        }
        if let Some(v) = &self.owner {
            customer.owner = if v.trim().is_empty() {
                String::new()
            } else {
                resource_name("principals", v)
            };
            mask.push("owner".into());
        }
        if let Some(v) = &self.department {
            customer.department.clone_from(v);
            mask.push("department".into());
        }
        if !self.tags.is_empty() {
            customer.tags.clone_from(&self.tags);
            mask.push("tags".into());
        }
    }
}

/// Flags of `customers list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// An AIP-160 filter, e.g. `kind = ORGANIZATION AND tags: "vip"` or `grade = VIP`.
    #[arg(long)]
    pub filter: Option<String>,
    /// The order, e.g. `employee_count desc, display_name` (default: create_time).
    #[arg(long)]
    pub order_by: Option<String>,
    /// Include soft-deleted customers.
    #[arg(long)]
    pub show_deleted: bool,
    /// Stop after this many customers (default: all of them).
    #[arg(long, value_name = "N")]
    pub limit: Option<u64>,
    /// Customers asked for per call (the server caps it at 1000).
    #[arg(long, default_value_t = 200, value_name = "N", value_parser = clap::value_parser!(i32).range(1..=1000))]
    pub page_size: i32,
}

/// Runs a `customers` subcommand.
pub async fn run(cmd: CustomersCommand, clients: &Clients, out: &Output) -> Result<(), CliError> {
    let mut client = clients.customers();
    match cmd {
        CustomersCommand::Create(args) => {
            let mut customer = pb::Customer {
                display_name: args.display_name,
                kind: pb::CustomerKind::from(args.kind) as i32,
                ..Default::default()
            };
            args.fields.apply(&mut customer, &mut Vec::new());
            let request = pb::CreateCustomerRequest {
                customer: Some(customer),
                customer_id: args.id.unwrap_or_default(),
                request_id: args.request_id.unwrap_or_default(),
            };
            out.message(&client.create_customer(request).await?.into_inner())
        }
        CustomersCommand::Get { name } => {
            let request = pb::GetCustomerRequest {
                name: resource_name("customers", &name),
            };
            out.message(&client.get_customer(request).await?.into_inner())
        }
        CustomersCommand::List(args) => {
            let request = pb::ListCustomersRequest {
                page_size: args.page_size,
                page_token: String::new(),
                filter: args.filter.unwrap_or_default(),
                order_by: args.order_by.unwrap_or_default(),
                show_deleted: args.show_deleted,
            };
            let mut list = out.list::<pb::Customer>(LIST_COLUMNS);
            for_each_customer(clients, request, args.limit, |c| list.write(c)).await?;
            list.finish()
        }
        CustomersCommand::Update(args) => {
            let mut customer = pb::Customer {
                name: resource_name("customers", &args.name),
                etag: args.etag.unwrap_or_default(),
                ..Default::default()
            };
            let mut mask = Vec::new();
            if let Some(v) = args.display_name {
                customer.display_name = v;
                mask.push("display_name".to_owned());
            }
            if let Some(v) = args.kind {
                customer.kind = pb::CustomerKind::from(v) as i32;
                mask.push("kind".to_owned());
            }
            args.fields.apply(&mut customer, &mut mask);
            for path in args.clear {
                if mask.iter().any(|p| p == &path || p.starts_with(&format!("{path}."))) {
                    return Err(CliError::Usage(format!(
                        "--clear {path} contradicts a flag that sets it"
                    )));
                }
                mask.push(path);
            }
            if mask.is_empty() {
                return Err(CliError::Usage(
                    "nothing to update: give at least one field flag (e.g. --display-name) or --clear FIELD".to_owned(),
                ));
            }
            let request = pb::UpdateCustomerRequest {
                customer: Some(customer),
                update_mask: Some(FieldMask { paths: mask }),
            };
            out.message(&client.update_customer(request).await?.into_inner())
        }
        CustomersCommand::Delete { name, etag } => {
            let request = pb::DeleteCustomerRequest {
                name: resource_name("customers", &name),
                etag: etag.unwrap_or_default(),
            };
            out.message(&client.delete_customer(request).await?.into_inner())
        }
        CustomersCommand::Undelete { name } => {
            let request = pb::UndeleteCustomerRequest {
                name: resource_name("customers", &name),
            };
            out.message(&client.undelete_customer(request).await?.into_inner())
        }
        CustomersCommand::Import(args) => import::run(args, clients, out).await,
        CustomersCommand::Export(args) => export::run(args, clients, out).await,
    }
}

/// Calls ListCustomers page after page from `request` (its `page_size` shrunk near `limit`)
/// and hands each customer to `each` as it arrives; returns how many there were.
pub async fn for_each_customer(
    clients: &Clients,
    mut request: pb::ListCustomersRequest,
    limit: Option<u64>,
    mut each: impl FnMut(&pb::Customer) -> Result<(), CliError>,
) -> Result<u64, CliError> {
    let mut client = clients.customers();
    let mut seen = 0u64;
    loop {
        if let Some(limit) = limit {
            let remaining = limit.saturating_sub(seen);
            if remaining == 0 {
                return Ok(seen);
            }
            request.page_size = request.page_size.min(i32::try_from(remaining).unwrap_or(i32::MAX));
        }
        let page = client.list_customers(request.clone()).await?.into_inner();
        for customer in &page.customers {
            if limit.is_some_and(|limit| seen >= limit) {
                return Ok(seen);
            }
            each(customer)?;
            seen += 1;
        }
        if page.next_page_token.is_empty() {
            return Ok(seen);
        }
        request.page_token = page.next_page_token;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn enum_values_are_read_the_way_people_write_them() {
        for raw in [
            "decision-maker",
            "decision_maker",
            "DECISION_MAKER",
            "DECISION_ROLE_DECISION_MAKER",
            " Decision-Maker ",
        ] {
            assert_eq!(
                parse_choice::<DecisionRole>(raw, "DECISION_ROLE_").unwrap(),
                DecisionRole::DecisionMaker
            );
        }
        let error = parse_choice::<Kind>("company", "CUSTOMER_KIND_").unwrap_err();
        assert_eq!(error, "\"company\" is not one of organization, individual");
    }

    #[test]
    fn an_update_masks_exactly_the_flags_given() {
        let fields = CustomerFields {
            email: Some("a@example.com".into()),
            country: Some("DE".into()),
            tags: vec!["vip".into()],
            key_account: Some(false),
            owner: Some("li-na".into()),
            ..Default::default()
        };
        let mut customer = pb::Customer::default();
        let mut mask = Vec::new();
        fields.apply(&mut customer, &mut mask);
        assert_eq!(
            mask,
            ["contact.email", "region.country_code", "key_account", "owner", "tags"]
        );
        assert_eq!(customer.owner, "principals/li-na");
        assert_eq!(customer.contact.unwrap().email, "a@example.com");
    }
}
