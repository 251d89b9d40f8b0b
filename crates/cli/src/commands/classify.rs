//! `crmctl classify …`: a customer's classification (ClassifyCustomer), experts' overrides, the
//! activity that drives classification (purchases and interactions), and batch
//! re-classification (ReclassifyCustomers, progress on stderr).

use clap::{Arg, ArgGroup, ArgMatches, Args, Command, FromArgMatches, Subcommand, error::ErrorKind};
use crm_api::crm::v1 as pb;
use crm_domain::classification::Dimension;
use tokio_stream::StreamExt;

use super::{
    args::{
        Rows, class_value, dimension, enum_value, money, money_text, paginate, short, table, time_text, timestamp,
        value_text,
    },
    resource_name,
};
use crate::{
    client::Clients,
    error::CliError,
    output::{Output, OutputFormat, to_dynamic},
};

/// `crmctl classify CUSTOMER` re-classifies one customer now and shows its classification; the
/// subcommands record activity, override, and re-classify everyone.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct ClassifyCommand {
    /// The customer to re-classify now and show (`acme` or `customers/acme`).
    #[arg(required = true)]
    customer: Option<String>,
    /// What else to do.
    #[command(subcommand)]
    action: Option<ClassifyAction>,
}

/// The subcommands of `crmctl classify`.
#[derive(Debug, Subcommand)]
pub enum ClassifyAction {
    /// Pin one dimension of a customer to a value (an expert's assessment) until it expires or is
    /// cleared. Give exactly one of the value flags.
    Override {
        /// The customer (`acme` or `customers/acme`).
        customer: String,
        /// The value, one flag per dimension (`--grade vip`).
        #[command(flatten)]
        value: OverrideValue,
        /// Why, for people and the audit (1 to 500 characters).
        #[arg(long)]
        reason: String,
        /// When the override stops applying (RFC 3339, or relative such as `+90d`).
        #[arg(long, value_name = "TIME")]
        expire_time: Option<String>,
    },
    /// Remove the override of one dimension: the rules decide again.
    ClearOverride {
        /// The customer (`acme` or `customers/acme`).
        customer: String,
        /// The dimension, e.g. `grade` or `value-tier` (an unknown one lists them all).
        #[arg(long)]
        dimension: String,
    },
    /// Record a purchase (or, with a negative amount, a refund). Recording the same order again
    /// changes nothing.
    Purchase {
        /// The customer (`acme` or `customers/acme`).
        customer: String,
        /// The order's id, unique per customer.
        #[arg(long)]
        order_ref: String,
        /// The amount in the reporting currency, e.g. `120000` or `-49.90`.
        #[arg(long, allow_hyphen_values = true)]
        amount: String,
        /// The amount's currency (the deployment's reporting currency).
        #[arg(long, default_value = "USD")]
        currency: String,
        /// When it happened (RFC 3339, or relative such as `-3d`); now when not given.
        #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
        time: Option<String>,
    },
    /// Record an interaction: a call, e-mail, meeting, chat or support ticket.
    Interaction {
        /// The customer (`acme` or `customers/acme`).
        customer: String,
        /// `phone`, `email`, `meeting`, `chat` or `support-ticket`.
        #[arg(long)]
        channel: String,
        /// What was said or done (at most 2000 characters).
        #[arg(long, default_value = "")]
        note: String,
        /// When it happened (RFC 3339, or relative such as `-2h`); now when not given.
        #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
        time: Option<String>,
    },
    /// List a customer's purchases and refunds, newest first.
    Purchases {
        /// The customer (`acme` or `customers/acme`).
        customer: String,
        /// Print at most this many.
        #[arg(long)]
        limit: Option<u64>,
    },
    /// List a customer's interactions, newest first.
    Interactions {
        /// The customer (`acme` or `customers/acme`).
        customer: String,
        /// Print at most this many.
        #[arg(long)]
        limit: Option<u64>,
    },
    /// Re-classify every customer under the active policy: progress on stderr, the summary on
    /// stdout. Waits for a run already under way (e.g. after `policy activate`) instead.
    Run,
}

/// The value flags of `crmctl classify override`: one per dimension, named after its field
/// (`--grade`, `--value-tier`), of which exactly one is given.
#[derive(Debug, Clone)]
pub struct OverrideValue {
    /// The dimension whose flag was given.
    dimension: Dimension,
    /// The flag's value, e.g. `vip`.
    text: String,
}

impl OverrideValue {
    /// The flag of `dimension`: `--value-tier`.
    fn flag(dimension: Dimension) -> String {
        format!("--{}", dimension.field().replace('_', "-"))
    }
}

impl FromArgMatches for OverrideValue {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        Dimension::ALL
            .into_iter()
            .find_map(|dimension| {
                let text = matches.get_one::<String>(dimension.field())?;
                Some(Self {
                    dimension,
                    text: text.clone(),
                })
            })
            .ok_or_else(|| {
                let flags = Dimension::ALL.map(Self::flag).join(", ");
                clap::Error::raw(ErrorKind::MissingRequiredArgument, format!("give one of {flags}\n"))
            })
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

impl Args for OverrideValue {
    fn augment_args(cmd: Command) -> Command {
        let cmd = cmd.group(ArgGroup::new("value").required(true).multiple(false));
        Dimension::ALL.into_iter().fold(cmd, |cmd, dimension| {
            let mut values: Vec<String> = dimension
                .value_names()
                .iter()
                .map(|v| format!("`{}`", v.to_ascii_lowercase()))
                .collect();
            let last = values.pop().unwrap_or_default();
            let values = format!("{} or {last}", values.join(", "));
            cmd.arg(
                Arg::new(dimension.field())
                    .long(dimension.field().replace('_', "-"))
                    .value_name(dimension.name())
                    .group("value")
                    .help(format!("Pin the {}: {values}", dimension.field().replace('_', " "))),
            )
        })
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

/// The columns of `classify purchases` in a table or CSV (the amount as one decimal number).
const PURCHASE_COLUMNS: &[&str] = &["name", "order_ref", "amount", "currency", "occur_time", "recorder"];
/// The columns of `classify interactions`.
const INTERACTION_COLUMNS: &[&str] = &["name", "channel", "occur_time", "note", "recorder"];

/// Runs `crmctl classify …`.
pub async fn run(cmd: ClassifyCommand, clients: &Clients, out: &Output) -> Result<(), CliError> {
    let mut classification = clients.classification();
    let action = match (cmd.action, cmd.customer) {
        (Some(action), _) => action,
        (None, Some(customer)) => {
            let request = pb::ClassifyCustomerRequest {
                name: resource_name("customers", &customer),
            };
            return customer_out(&classification.classify_customer(request).await?.into_inner(), out);
        }
        (None, None) => return Err(CliError::Usage("give a customer or a subcommand".to_owned())),
    };
    match action {
        ClassifyAction::Override {
            customer,
            value,
            reason,
            expire_time,
        } => {
            let flag = OverrideValue::flag(value.dimension);
            let dim = pb::Dimension::from_str_name(&format!("DIMENSION_{}", value.dimension.name()))
                .ok_or_else(|| CliError::Other(format!("no proto dimension for {flag}")))?;
            let text = value.text;
            let request = pb::OverrideClassificationRequest {
                customer: resource_name("customers", &customer),
                value: Some(class_value(dim, &flag, &text)?),
                reason,
                expire_time: expire_time.map(|t| timestamp("--expire-time", &t)).transpose()?,
            };
            customer_out(
                &classification.override_classification(request).await?.into_inner(),
                out,
            )
        }
        ClassifyAction::ClearOverride {
            customer,
            dimension: dim,
        } => {
            let request = pb::ClearOverrideRequest {
                customer: resource_name("customers", &customer),
                dimension: dimension(&dim)? as i32,
            };
            customer_out(&classification.clear_override(request).await?.into_inner(), out)
        }
        ClassifyAction::Purchase {
            customer,
            order_ref,
            amount,
            currency,
            time,
        } => {
            let request = pb::RecordPurchaseRequest {
                customer: resource_name("customers", &customer),
                order_ref,
                amount: Some(money("--amount", &amount, &currency)?),
                occur_time: Some(timestamp("--time", time.as_deref().unwrap_or("+0s"))?),
            };
            let response = classification.record_purchase(request).await?.into_inner();
            match out.format() {
                OutputFormat::Table => {
                    if let Some(purchase) = &response.purchase {
                        let note = if response.already_recorded {
                            " (already recorded: nothing changed)"
                        } else {
                            ""
                        };
                        out.text(&format!("recorded {}{note}\n", purchase.name))?;
                    }
                    match &response.customer {
                        Some(customer) => customer_out(customer, out),
                        None => Ok(()),
                    }
                }
                OutputFormat::Json | OutputFormat::Ndjson | OutputFormat::Csv => out.message(&response),
            }
        }
        ClassifyAction::Interaction {
            customer,
            channel,
            note,
            time,
        } => {
            let request = pb::RecordInteractionRequest {
                customer: resource_name("customers", &customer),
                channel: enum_value("crm.v1.InteractionChannel", "--channel", &channel)?,
                occur_time: Some(timestamp("--time", time.as_deref().unwrap_or("+0s"))?),
                note,
            };
            out.message(&classification.record_interaction(request).await?.into_inner())
        }
        ClassifyAction::Purchases { customer, limit } => {
            let parent = resource_name("customers", &customer);
            let client = clients.classification();
            let fetch = |page_token, page_size| {
                let mut client = client.clone();
                let parent = parent.clone();
                async move {
                    let page = client
                        .list_purchases(pb::ListPurchasesRequest {
                            parent,
                            page_size,
                            page_token,
                        })
                        .await?
                        .into_inner();
                    Ok((page.purchases, page.next_page_token))
                }
            };
            match out.format() {
                OutputFormat::Table | OutputFormat::Csv => {
                    paginate(limit, Rows::new(out, PURCHASE_COLUMNS, purchase_row), fetch).await
                }
                OutputFormat::Json | OutputFormat::Ndjson => {
                    paginate(limit, out.list::<pb::Purchase>(PURCHASE_COLUMNS), fetch).await
                }
            }
        }
        ClassifyAction::Interactions { customer, limit } => {
            let parent = resource_name("customers", &customer);
            let client = clients.classification();
            paginate(
                limit,
                out.list::<pb::Interaction>(INTERACTION_COLUMNS),
                |page_token, page_size| {
                    let mut client = client.clone();
                    let parent = parent.clone();
                    async move {
                        let page = client
                            .list_interactions(pb::ListInteractionsRequest {
                                parent,
                                page_size,
                                page_token,
                            })
                            .await?
                            .into_inner();
                        Ok((page.interactions, page.next_page_token))
                    }
                },
            )
            .await
        }
        ClassifyAction::Run => reclassify(clients, out).await,
    }
}

/// One purchase as a table or CSV row, in the order of [`PURCHASE_COLUMNS`].
fn purchase_row(purchase: &pb::Purchase) -> Vec<String> {
    vec![
        purchase.name.clone(),
        purchase.order_ref.clone(),
        money_text(purchase.amount.as_ref()),
        purchase
            .amount
            .as_ref()
            .map(|m| m.currency_code.clone())
            .unwrap_or_default(),
        time_text(purchase.occur_time.as_ref()),
        purchase.recorder.clone(),
    ]
}

/// Streams a ReclassifyCustomers run: each progress event as a line on stderr, the summary on
/// stdout.
async fn reclassify(clients: &Clients, out: &Output) -> Result<(), CliError> {
    let mut stream = clients
        .classification()
        .reclassify_customers(pb::ReclassifyCustomersRequest {})
        .await?
        .into_inner();
    let mut summary = None;
    while let Some(message) = stream.next().await {
        match message?.event {
            Some(pb::reclassify_customers_response::Event::Progress(p)) => {
                eprintln!(
                    "processed {} of about {} customers, {} changed",
                    p.processed, p.total, p.changed
                );
            }
            Some(pb::reclassify_customers_response::Event::Summary(s)) => summary = Some(s),
            None => {}
        }
    }
    let summary =
        summary.ok_or_else(|| CliError::Other("the re-classification stream ended without a summary".to_owned()))?;
    out.message(&summary)
}

/// Prints a customer returned by a classification RPC: its classification as a table (one row
/// per dimension, then score, RFM and service plan) for people, the whole customer otherwise.
pub fn customer_out(customer: &pb::Customer, out: &Output) -> Result<(), CliError> {
    match out.format() {
        OutputFormat::Table => out.text(&classification_table(customer)),
        OutputFormat::Json | OutputFormat::Ndjson | OutputFormat::Csv => out.message(customer),
    }
}

/// The classification of `customer` as a table for people.
fn classification_table(customer: &pb::Customer) -> String {
    let Some(c) = &customer.classification else {
        return format!("{} ({}) is not classified yet\n", customer.name, customer.display_name);
    };
    let dynamic = to_dynamic(c).ok();
    let dimensions = Dimension::ALL.map(|dimension| {
        let class = dynamic
            .as_ref()
            .filter(|c| c.has_field_by_name(dimension.field()))
            .and_then(|c| c.get_field_by_name(dimension.field()))
            .and_then(|v| v.as_message().and_then(|m| m.transcode_to::<pb::DimensionClass>().ok()));
        (dimension.field(), class)
    });
    let rows = dimensions
        .iter()
        .map(|(name, class)| match class {
            Some(class) => {
                let source = short(
                    "ClassSource",
                    pb::ClassSource::try_from(class.source).map_or("", |s| s.as_str_name()),
                );
                let mut reasons = class.reasons.join("; ");
                if class.r#override.is_some() && class.rule_value != class.value {
                    reasons = format!("{reasons} (rules say {})", value_text(class.rule_value.as_ref()));
                }
                if let Some(expire) = class.r#override.as_ref().and_then(|o| o.expire_time.as_ref()) {
                    reasons = format!("{reasons}; until {expire}");
                }
                vec![
                    (*name).to_owned(),
                    value_text(class.value.as_ref()),
                    source,
                    time_text(class.since.as_ref()),
                    reasons,
                ]
            }
            None => vec![
                (*name).to_owned(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
            ],
        })
        .collect();
    let mut text = format!("{} ({})\n", customer.name, customer.display_name);
    text.push_str(&table(&["dimension", "value", "source", "since", "reasons"], rows));
    let rfm = c.rfm.unwrap_or_default();
    text.push_str(&format!(
        "score {} (R {} F {} M {}), policy version {}, classified at {}\n",
        c.score,
        rfm.recency,
        rfm.frequency,
        rfm.monetary,
        c.policy_version,
        time_text(c.classify_time.as_ref())
    ));
    if let Some(plan) = &c.service_plan {
        text.push_str(&format!(
            "service plan: {}{}\n",
            plan.name,
            if plan.dedicated_advisor {
                ", dedicated advisor"
            } else {
                ""
            }
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn parse(args: &[&str]) -> Result<ClassifyCommand, clap::Error> {
        let cli = Cli::try_parse_from(["crmctl", "classify"].iter().chain(args))?;
        match cli.command {
            Command::Classify(cmd) => Ok(cmd),
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn a_bare_customer_or_a_subcommand_is_accepted() {
        let show = parse(&["acme"]).unwrap();
        assert_eq!(show.customer.as_deref(), Some("acme"));
        assert!(show.action.is_none());
        let run = parse(&["run"]).unwrap();
        assert!(matches!(run.action, Some(ClassifyAction::Run)));
        let refund = parse(&[
            "purchase",
            "acme",
            "--order-ref",
            "R-1",
            "--amount",
            "-49.90",
            "--time",
            "-2d",
        ])
        .unwrap();
        assert!(matches!(refund.action, Some(ClassifyAction::Purchase { ref amount, .. }) if amount == "-49.90"));
    }

    #[test]
    fn an_override_takes_exactly_one_value() {
        assert!(parse(&["override", "acme", "--grade", "vip", "--reason", "r"]).is_ok());
        let none = parse(&["override", "acme", "--reason", "r"]).unwrap_err();
        assert_eq!(none.kind(), clap::error::ErrorKind::MissingRequiredArgument);
        let two = parse(&[
            "override",
            "acme",
            "--grade",
            "vip",
            "--value-tier",
            "high",
            "--reason",
            "r",
        ])
        .unwrap_err();
        assert_eq!(two.kind(), clap::error::ErrorKind::ArgumentConflict);
        assert!(parse(&[]).is_err(), "a customer or a subcommand is required");
    }
}
