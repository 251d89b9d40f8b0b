//! `crmctl policy …`: the versioned classification policy: show, list, create from a proto3 JSON
//! file, preview (what would move where) and activate.

use clap::Subcommand;
use crm_api::crm::v1 as pb;

use super::{
    args::{paginate, table, value_text},
    resource_name,
};
use crate::{
    client::Clients,
    error::CliError,
    output::{Output, OutputFormat, from_json},
};

/// Classification policies: show, list, create, preview and activate.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Show one version: `active` (the default), a number (`3`) or a name (`policies/3`).
    Get {
        /// The version.
        #[arg(default_value = "active")]
        version: String,
    },
    /// List the versions, newest first.
    List {
        /// Print at most this many.
        #[arg(long)]
        limit: Option<u64>,
    },
    /// Create a new version (not active yet) from a JSON file: a `ClassificationPolicy`, or a
    /// `PolicyVersion` as `crmctl policy get -o json` prints it (its `policy` and `description`
    /// are used). `-` reads stdin. Every invalid field is reported.
    Create {
        /// The JSON file, or `-` for stdin.
        file: String,
        /// What the version changes and why (overrides the file's `description`).
        #[arg(long)]
        description: Option<String>,
        /// Only validate: nothing is stored.
        #[arg(long)]
        validate_only: bool,
    },
    /// Dry-run a policy over every customer: how many would move from which class to which,
    /// with a sample and reasons. Give a stored version, or a JSON file (as for `create`) to try
    /// a policy before storing it.
    Preview {
        /// The version (`4` or `policies/4`), or a JSON file (`-` for stdin).
        version: String,
        /// The most sample customers to show (server default 20, at most 100).
        #[arg(long, default_value_t = 0)]
        sample_size: i32,
    },
    /// Make a version the active one; every customer is re-classified in the background
    /// (`crmctl classify run` waits for that run and shows its progress).
    Activate {
        /// The version (`4` or `policies/4`).
        version: String,
    },
}

/// The columns of `policy list`.
const VERSION_COLUMNS: &[&str] = &[
    "name",
    "active",
    "description",
    "create_time",
    "creator",
    "activate_time",
];

/// Runs a `policy` subcommand.
pub async fn run(cmd: PolicyCommand, clients: &Clients, out: &Output) -> Result<(), CliError> {
    let mut classification = clients.classification();
    match cmd {
        PolicyCommand::Get { version } => {
            let name = resource_name("policies", &version);
            out.message(
                &classification
                    .get_policy(pb::GetPolicyRequest { name })
                    .await?
                    .into_inner(),
            )
        }
        PolicyCommand::List { limit } => {
            let client = clients.classification();
            paginate(
                limit,
                out.list::<pb::PolicyVersion>(VERSION_COLUMNS),
                |page_token, page_size| {
                    let mut client = client.clone();
                    async move {
                        let page = client
                            .list_policy_versions(pb::ListPolicyVersionsRequest { page_size, page_token })
                            .await?
                            .into_inner();
                        Ok((page.policy_versions, page.next_page_token))
                    }
                },
            )
            .await
        }
        PolicyCommand::Create {
            file,
            description,
            validate_only,
        } => {
            let text = read_input(&file)?;
            let (policy, file_description) = parse_policy(&text)?;
            let request = pb::CreatePolicyVersionRequest {
                policy: Some(policy),
                description: description.unwrap_or(file_description),
                validate_only,
            };
            out.message(&classification.create_policy_version(request).await?.into_inner())
        }
        PolicyCommand::Preview { version, sample_size } => {
            let candidate = if is_version(&version) {
                pb::preview_policy_request::Candidate::Version(resource_name("policies", &version))
            } else {
                pb::preview_policy_request::Candidate::Policy(parse_policy(&read_input(&version)?)?.0)
            };
            let request = pb::PreviewPolicyRequest {
                candidate: Some(candidate),
                sample_size,
            };
            let preview = classification.preview_policy(request).await?.into_inner();
            match out.format() {
                OutputFormat::Table => out.text(&preview_text(&preview)),
                OutputFormat::Json | OutputFormat::Ndjson | OutputFormat::Csv => out.message(&preview),
            }
        }
        PolicyCommand::Activate { version } => {
            let name = resource_name("policies", &version);
            let activated = classification
                .activate_policy_version(pb::ActivatePolicyVersionRequest { name })
                .await?
                .into_inner();
            eprintln!(
                "{} is active; customers are being re-classified (`crmctl classify run` follows it)",
                activated.name
            );
            out.message(&activated)
        }
    }
}

/// Whether `text` names a stored version (`4`, `policies/4`) rather than a file.
fn is_version(text: &str) -> bool {
    let id = text.trim().strip_prefix("policies/").unwrap_or(text.trim());
    !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())
}

/// The text of `path`, or of stdin for `-`.
fn read_input(path: &str) -> Result<String, CliError> {
    if path == "-" {
        std::io::read_to_string(std::io::stdin()).map_err(|e| CliError::io("reading stdin", e))
    } else {
        std::fs::read_to_string(path).map_err(|e| CliError::io(format!("reading {path}"), e))
    }
}

/// The policy (and description) in `text`: a `PolicyVersion` (an object with a `policy`
/// member), or a bare `ClassificationPolicy`.
fn parse_policy(text: &str) -> Result<(pb::ClassificationPolicy, String), CliError> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| CliError::Invalid(format!("the policy file is not JSON: {e}")))?;
    if value.get("policy").is_some() {
        let version: pb::PolicyVersion = from_json(text)?;
        let policy = version
            .policy
            .ok_or_else(|| CliError::Invalid("the policy file's `policy` is empty".to_owned()))?;
        Ok((policy, version.description))
    } else {
        Ok((from_json(text)?, String::new()))
    }
}

/// A preview for people: the counts, one row per transition, and the sample.
fn preview_text(preview: &pb::PreviewPolicyResponse) -> String {
    let mut text = format!(
        "{} of {} customers would change\n",
        preview.customers_changed, preview.customers_evaluated
    );
    let rows: Vec<Vec<String>> = preview
        .dimensions
        .iter()
        .flat_map(|d| {
            let dimension = dimension_text(d.dimension);
            d.transitions.iter().map(move |t| {
                vec![
                    dimension.clone(),
                    value_or_unclassified(t.from_value.as_ref()),
                    value_text(t.to_value.as_ref()),
                    t.count.to_string(),
                ]
            })
        })
        .collect();
    if !rows.is_empty() {
        text.push_str(&table(&["dimension", "from", "to", "customers"], rows));
    }
    let samples: Vec<Vec<String>> = preview
        .samples
        .iter()
        .flat_map(|s| {
            s.changes.iter().map(move |c| {
                vec![
                    s.customer.clone(),
                    s.display_name.clone(),
                    dimension_text(c.dimension),
                    format!(
                        "{} → {}",
                        value_or_unclassified(c.from_value.as_ref()),
                        value_text(c.to_value.as_ref())
                    ),
                    c.reasons.join("; "),
                ]
            })
        })
        .collect();
    if !samples.is_empty() {
        text.push_str("sample:\n");
        text.push_str(&table(
            &["customer", "display name", "dimension", "change", "reasons"],
            samples,
        ));
    }
    text
}

fn value_or_unclassified(value: Option<&pb::ClassValue>) -> String {
    match value {
        Some(value) => value_text(Some(value)),
        None => "(not classified)".to_owned(),
    }
}

/// `DIMENSION_VALUE_TIER` → `value_tier`.
pub fn dimension_text(dimension: i32) -> String {
    pb::Dimension::try_from(dimension)
        .map(|d| d.as_str_name().trim_start_matches("DIMENSION_").to_ascii_lowercase())
        .unwrap_or_else(|_| dimension.to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn a_version_is_a_number_or_a_policy_name_and_anything_else_a_file() {
        assert!(is_version("4"));
        assert!(is_version("policies/12"));
        assert!(!is_version("policies/active"));
        assert!(!is_version("policy.json"));
        assert!(!is_version("-"));
        assert!(!is_version(""));
    }

    #[test]
    fn a_policy_file_is_a_policy_version_or_a_bare_policy() {
        let (policy, description) =
            parse_policy(r#"{"name": "policies/1", "version": "1", "policy": {"windowDays": 30}, "description": "d", "active": true}"#)
                .unwrap();
        assert_eq!((policy.window_days, description.as_str()), (30, "d"));
        let (policy, description) = parse_policy(r#"{"windowDays": 90, "frequencyCuts": [2, 4, 8, 12]}"#).unwrap();
        assert_eq!(
            (policy.window_days, policy.frequency_cuts.len(), description.as_str()),
            (90, 4, "")
        );
        assert!(matches!(parse_policy("window_days: 30"), Err(CliError::Invalid(_))));
        assert!(matches!(
            parse_policy(r#"{"windowDayz": 30}"#),
            Err(CliError::Invalid(_))
        ));
    }
}
