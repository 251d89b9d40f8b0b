//! `crmctl customers import FILE`: creates customers from a CSV file with a header or an NDJSON
//! file (one proto3 JSON customer per line, as `export --format ndjson` writes).
//!
//! Rows are read by a blocking reader task and handed over a bounded channel, so at most a few
//! times `--concurrency` rows are in memory whatever the file's size. Each row is validated
//! locally by the conversion the server parses CreateCustomer with
//! (`crm_api::convert::customers::new_customer`: the same rules, paths and messages) and, if
//! valid, sent with CreateCustomer; at most `--concurrency` calls are in flight
//! (`buffer_unordered`). Every row's `request_id` is a UUIDv5 of its canonical content, so a
//! re-run after an interruption returns the customers created the first time instead of
//! creating them again. Calls refused for overload (RESOURCE_EXHAUSTED, UNAVAILABLE) are
//! retried with back-off, which the request id makes safe.

use std::{
    fs::File,
    io::{BufRead, BufReader, IsTerminal},
    path::{Path, PathBuf},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use clap::{Args, ValueEnum};
use crm_api::{
    code_name,
    convert::customers::{OUTPUT_ONLY_PATHS, field_paths, new_customer},
    crm::v1 as pb,
};
use crm_domain::error::Violations;
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;

use super::{
    customers::{DecisionRole, JobRank, Kind, Need, parse_choice},
    resource_name,
};
use crate::{
    client::{Clients, CustomersClient},
    error::{CliError, field_violations},
    output::{Output, OutputFormat, from_json},
};

/// Shorter column names accepted for some fields.
const ALIASES: &[(&str, &str)] = &[
    ("customer_id", "id"),
    ("contact_name", "contact.full_name"),
    ("full_name", "contact.full_name"),
    ("job_title", "contact.job_title"),
    ("job_rank", "contact.job_rank"),
    ("decision_role", "contact.decision_role"),
    ("email", "contact.email"),
    ("phone", "contact.phone"),
    ("country", "region.country_code"),
    ("country_code", "region.country_code"),
    ("subdivision", "region.subdivision"),
    ("city", "region.city"),
    ("need", "needs"),
    ("tag", "tags"),
];

/// Columns that are read and ignored: output-only fields of an export and the two columns a
/// rejects file adds, so an export or a corrected rejects file can be imported as it is.
fn ignored_column(name: &str) -> bool {
    matches!(name, "line" | "reason")
        || OUTPUT_ONLY_PATHS.contains(&name)
        || name.starts_with("classification.")
        || name.starts_with("activity.")
}

/// The namespace of the rows' request ids (UUIDv5 of the row's canonical content).
const REQUEST_ID_NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x6f1c_2a4e_5b7d_4e8f_9a0b_1c2d_3e4f_5a6b);

/// How many times a call refused for overload is tried before the import stops.
const MAX_ATTEMPTS: u32 = 6;

/// The format of an import file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FileFormat {
    /// Comma-separated values with a header row naming the columns.
    Csv,
    /// One proto3 JSON `Customer` per line.
    Ndjson,
}

/// Creates customers from a CSV or NDJSON file.
///
/// CSV columns: id (or name), display_name, kind, contact.full_name, contact.job_title,
/// contact.job_rank, contact.decision_role, contact.email, contact.phone, industry,
/// employee_count, region.country_code, region.subdivision, region.city, needs, key_account,
/// churned, owner, department, tags (needs and tags separated by `;`). Short names work too:
/// email, phone, country, city, contact_name, job_title. Empty cells mean "not known".
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The file to import (`-` is not supported: the format and the rejects file need a path).
    pub file: PathBuf,
    /// The file's format; by default taken from its extension (.csv; .ndjson, .jsonl).
    #[arg(long, value_enum)]
    pub format: Option<FileFormat>,
    /// How many CreateCustomer calls may be in flight at once.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: u16,
    /// Where to list the rejected rows (line, reason, the row); default `<FILE>.rejects.csv`.
    #[arg(long, value_name = "FILE")]
    pub rejects: Option<PathBuf>,
}

/// One row read from the file.
#[derive(Debug)]
struct Row {
    /// The line it starts on (1 is the CSV header).
    line: u64,
    /// How far into the file it ends, for the progress bar.
    offset: u64,
    /// The row as read, for the rejects file.
    raw: Vec<String>,
    /// The request to send, or why the row is invalid.
    parsed: Result<pb::CreateCustomerRequest, String>,
}

/// What became of one row.
#[derive(Debug)]
enum Outcome {
    Created,
    Existed,
    Rejected(String),
    /// The import cannot go on (no valid key, the server gone).
    Fatal(tonic::Status),
}

#[derive(Debug, Default)]
struct Counts {
    created: u64,
    existed: u64,
    rejected: u64,
}

/// Runs `crmctl customers import`.
pub async fn run(args: ImportArgs, clients: &Clients, out: &Output) -> Result<(), CliError> {
    let format = match args.format {
        Some(format) => format,
        None => format_of(&args.file)?,
    };
    let file = File::open(&args.file).map_err(|e| CliError::io(format!("opening {}", args.file.display()), e))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let rejects_path = args.rejects.clone().unwrap_or_else(|| {
        let mut name = args.file.clone().into_os_string();
        name.push(".rejects.csv");
        PathBuf::from(name)
    });

    let (tx, rx) = mpsc::channel::<Result<Row, CliError>>(usize::from(args.concurrency) * 4);
    let rejects_header: Vec<String>;
    let reader = match format {
        FileFormat::Csv => {
            let mut reader = csv::ReaderBuilder::new()
                .flexible(true)
                .from_reader(BufReader::with_capacity(1 << 16, file));
            let header = reader
                .headers()
                .map_err(|e| CliError::Invalid(format!("{}: cannot read the CSV header: {e}", args.file.display())))?
                .clone();
            let columns = header_columns(&header)
                .map_err(|e| CliError::Invalid(format!("{}: line 1: {e}", args.file.display())))?;
            rejects_header = ["line", "reason"]
                .into_iter()
                .map(str::to_owned)
                .chain(header.iter().map(str::to_owned))
                .collect();
            tokio::task::spawn_blocking(move || read_csv(reader, &columns, &tx))
        }
        FileFormat::Ndjson => {
            rejects_header = vec!["line".into(), "reason".into(), "json".into()];
            tokio::task::spawn_blocking(move || read_ndjson(BufReader::with_capacity(1 << 16, file), &tx))
        }
    };

    // The rejects file lists this run's rejected rows: an older one is removed now, and a new
    // one is only created when a row is rejected.
    match std::fs::remove_file(&rejects_path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(CliError::io(format!("removing the old {}", rejects_path.display()), e)),
    }
    let mut rejects = Rejects {
        path: rejects_path.clone(),
        header: rejects_header,
        writer: None,
    };

    let bar = progress_bar(size);
    let started = Instant::now();
    let started_at = SystemTime::now();
    let client = clients.customers();
    let mut outcomes = ReceiverStream::new(rx)
        .map(|row| {
            let client = client.clone();
            async move {
                match row {
                    Ok(row) => {
                        let outcome = match &row.parsed {
                            Ok(request) => create(client, request.clone(), started_at).await,
                            Err(reason) => Outcome::Rejected(reason.clone()),
                        };
                        Ok((row, outcome))
                    }
                    Err(e) => Err(e),
                }
            }
        })
        .buffer_unordered(usize::from(args.concurrency));

    let mut counts = Counts::default();
    let mut failure = None;
    while let Some(result) = outcomes.next().await {
        let (row, outcome) = match result {
            Ok(pair) => pair,
            Err(e) => {
                failure = Some(e);
                break;
            }
        };
        match outcome {
            Outcome::Created => counts.created += 1,
            Outcome::Existed => counts.existed += 1,
            Outcome::Rejected(reason) => {
                counts.rejected += 1;
                rejects.write(row.line, reason, row.raw)?;
            }
            Outcome::Fatal(status) => {
                failure = Some(CliError::Status(status));
                break;
            }
        }
        bar.set_position(row.offset);
        if !bar.is_hidden() {
            bar.set_message(format!(
                "{} created, {} already existed, {} rejected",
                counts.created, counts.existed, counts.rejected
            ));
        }
    }
    // Dropping the stream closes the channel, which stops the reader if it is still reading.
    drop(outcomes);
    let read = reader.await;
    bar.finish_and_clear();
    rejects.flush()?;

    let elapsed = started.elapsed();
    let total = counts.created + counts.existed + counts.rejected;
    let rate = total as f64 / elapsed.as_secs_f64().max(1e-9);
    eprintln!(
        "{}: {} created, {} already existed, {} rejected ({total} rows in {:.1} s, {rate:.0} rows/s)",
        args.file.display(),
        counts.created,
        counts.existed,
        counts.rejected,
        elapsed.as_secs_f64()
    );
    if counts.rejected > 0 {
        eprintln!(
            "rejected rows, with line numbers and reasons: {}",
            rejects_path.display()
        );
    }
    if matches!(out.format(), OutputFormat::Json | OutputFormat::Ndjson) {
        let summary = serde_json::json!({
            "file": args.file.display().to_string(),
            "created": counts.created,
            "alreadyExisted": counts.existed,
            "rejected": counts.rejected,
            "rejectsFile": rejects_path.display().to_string(),
            "seconds": elapsed.as_secs_f64(),
        });
        out.text(&format!("{summary}\n"))?;
    }
    if let Some(failure) = failure {
        eprintln!("the import stopped early; run it again to go on (rows already created are not created twice)");
        return Err(failure);
    }
    match read {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(e),
        Err(e) => return Err(CliError::Other(format!("the file reader failed: {e}"))),
    }
    if counts.rejected > 0 {
        return Err(CliError::Rejected {
            rejected: counts.rejected,
            rejects_file: rejects_path.display().to_string(),
        });
    }
    Ok(())
}

/// The rejects file, created on the first rejected row.
struct Rejects {
    path: PathBuf,
    header: Vec<String>,
    writer: Option<csv::Writer<File>>,
}

impl Rejects {
    fn write(&mut self, line: u64, reason: String, raw: Vec<String>) -> Result<(), CliError> {
        let error = |e: csv::Error, path: &Path| CliError::Other(format!("writing {}: {e}", path.display()));
        let writer = match &mut self.writer {
            Some(writer) => writer,
            None => {
                let file = File::create(&self.path)
                    .map_err(|e| CliError::io(format!("creating the rejects file {}", self.path.display()), e))?;
                let mut writer = csv::WriterBuilder::new().flexible(true).from_writer(file);
                writer.write_record(&self.header).map_err(|e| error(e, &self.path))?;
                self.writer.insert(writer)
            }
        };
        let record = [line.to_string(), reason].into_iter().chain(raw);
        writer.write_record(record).map_err(|e| error(e, &self.path))
    }

    fn flush(&mut self) -> Result<(), CliError> {
        match &mut self.writer {
            Some(writer) => writer
                .flush()
                .map_err(|e| CliError::io(format!("writing {}", self.path.display()), e)),
            None => Ok(()),
        }
    }
}

fn format_of(path: &Path) -> Result<FileFormat, CliError> {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    match extension.as_str() {
        "csv" => Ok(FileFormat::Csv),
        "ndjson" | "jsonl" => Ok(FileFormat::Ndjson),
        _ => Err(CliError::Usage(format!(
            "cannot tell the format of {} from its extension; pass --format csv or --format ndjson",
            path.display()
        ))),
    }
}

fn progress_bar(size: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(size);
    if let Ok(style) = ProgressStyle::with_template("{bar:30} {percent:>3}%  {msg}  [{elapsed_precise}, {eta} left]") {
        bar.set_style(style);
    }
    bar
}

/// Sends one create, retrying overload with back-off, and tells what became of it. A customer
/// the server returns with a `create_time` before the import started was created by an earlier
/// run (same request id): it counts as already existing.
async fn create(mut client: CustomersClient, request: pb::CreateCustomerRequest, started_at: SystemTime) -> Outcome {
    let mut delay = Duration::from_millis(100);
    for attempt in 1..=MAX_ATTEMPTS {
        match client.create_customer(request.clone()).await {
            Ok(response) => {
                let customer = response.into_inner();
                return if created_before(customer.create_time.as_ref(), started_at) {
                    Outcome::Existed
                } else {
                    Outcome::Created
                };
            }
            Err(status) => match status.code() {
                Code::ResourceExhausted | Code::Unavailable if attempt < MAX_ATTEMPTS => {
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
                Code::AlreadyExists => return Outcome::Existed,
                Code::Unauthenticated | Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled => {
                    return Outcome::Fatal(status);
                }
                _ => return Outcome::Rejected(status_reason(&status)),
            },
        }
    }
    Outcome::Rejected("the server stayed overloaded".to_owned())
}

fn created_before(create_time: Option<&prost_types::Timestamp>, started_at: SystemTime) -> bool {
    let Some(time) = create_time else { return false };
    let Ok(start) = started_at.duration_since(UNIX_EPOCH) else {
        return false;
    };
    let start = (
        i64::try_from(start.as_secs()).unwrap_or(i64::MAX),
        i64::from(start.subsec_nanos()),
    );
    (time.seconds, i64::from(time.nanos)) < start
}

/// A server error as one line: `CODE: message (field: description; …)`.
fn status_reason(status: &tonic::Status) -> String {
    let violations = field_violations(status);
    let mut reason = format!("{}: {}", code_name(status.code()), status.message());
    if !violations.is_empty() {
        let list: Vec<String> = violations.iter().map(|(f, d)| format!("{f}: {d}")).collect();
        reason.push_str(&format!(" ({})", list.join("; ")));
    }
    reason
}

/// What each CSV column feeds: a field, the id, or nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    Id,
    Name,
    Field(&'static str),
    Ignored,
}

fn header_columns(header: &csv::StringRecord) -> Result<Vec<Column>, String> {
    let mut columns = Vec::new();
    let mut unknown = Vec::new();
    for raw in header {
        let name = raw.trim().trim_start_matches('\u{feff}').to_ascii_lowercase();
        let name = ALIASES
            .iter()
            .find(|(alias, _)| *alias == name)
            .map_or(name.as_str(), |(_, to)| *to);
        let column = match name {
            "id" => Column::Id,
            "name" => Column::Name,
            _ if ignored_column(name) => Column::Ignored,
            _ => match field_paths().find(|c| *c == name) {
                Some(field) => Column::Field(field),
                None => {
                    unknown.push(raw.to_owned());
                    Column::Ignored
                }
            },
        };
        if column != Column::Ignored && columns.contains(&column) {
            return Err(format!("the column {raw:?} appears twice"));
        }
        columns.push(column);
    }
    if !unknown.is_empty() {
        return Err(format!(
            "unknown column(s) {}; the columns are id, {}",
            unknown.join(", "),
            field_paths().collect::<Vec<_>>().join(", ")
        ));
    }
    if !columns.contains(&Column::Field("display_name")) {
        return Err("the header has no display_name column".to_owned());
    }
    Ok(columns)
}

fn read_csv(
    mut reader: csv::Reader<BufReader<File>>,
    columns: &[Column],
    tx: &mpsc::Sender<Result<Row, CliError>>,
) -> Result<(), CliError> {
    let mut record = csv::StringRecord::new();
    loop {
        let line = reader.position().line() + 1;
        let row = match reader.read_record(&mut record) {
            Ok(false) => return Ok(()),
            Ok(true) => {
                let raw: Vec<String> = record.iter().map(str::to_owned).collect();
                let parsed = if raw.len() == columns.len() {
                    csv_request(columns, &raw)
                } else {
                    Err(format!("has {} fields, the header has {}", raw.len(), columns.len()))
                };
                Row {
                    line: record.position().map_or(line, csv::Position::line),
                    offset: reader.position().byte(),
                    raw,
                    parsed,
                }
            }
            Err(e) => match e.kind() {
                csv::ErrorKind::Utf8 { .. } => Row {
                    line: e.position().map_or(line, csv::Position::line),
                    offset: reader.position().byte(),
                    raw: Vec::new(),
                    parsed: Err("is not valid UTF-8".to_owned()),
                },
                _ => {
                    let error = CliError::Invalid(format!("reading the CSV file: {e}"));
                    let _ = tx.blocking_send(Err(error));
                    return Ok(());
                }
            },
        };
        if tx.blocking_send(Ok(row)).is_err() {
            return Ok(());
        }
    }
}

fn read_ndjson(reader: BufReader<File>, tx: &mpsc::Sender<Result<Row, CliError>>) -> Result<(), CliError> {
    let mut offset = 0u64;
    for (index, line) in reader.split(b'\n').enumerate() {
        let bytes = line.map_err(|e| CliError::io("reading the NDJSON file", e))?;
        offset += bytes.len() as u64 + 1;
        let text = String::from_utf8_lossy(&bytes);
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        let row = Row {
            line: index as u64 + 1,
            offset,
            raw: vec![text.to_owned()],
            parsed: ndjson_request(text),
        };
        if tx.blocking_send(Ok(row)).is_err() {
            return Ok(());
        }
    }
    Ok(())
}

fn ndjson_request(text: &str) -> Result<pb::CreateCustomerRequest, String> {
    let mut customer: pb::Customer = from_json(text).map_err(|e| e.to_string())?;
    let customer_id = customer
        .name
        .strip_prefix("customers/")
        .unwrap_or(&customer.name)
        .to_owned();
    customer.name.clear();
    customer.create_time = None;
    customer.update_time = None;
    customer.delete_time = None;
    customer.etag.clear();
    customer.classification = None;
    customer.activity = None;
    finish_request(customer, customer_id)
}

fn csv_request(columns: &[Column], raw: &[String]) -> Result<pb::CreateCustomerRequest, String> {
    let mut customer = pb::Customer::default();
    let mut customer_id = String::new();
    let mut errors = Vec::new();
    for (column, value) in columns.iter().zip(raw) {
        let value = value.trim();
        match column {
            Column::Id if !value.is_empty() => customer_id = value.to_owned(),
            Column::Name if !value.is_empty() => {
                customer_id = value.strip_prefix("customers/").unwrap_or(value).to_owned();
            }
            Column::Field(field) if !value.is_empty() => {
                if let Err(e) = set_field(&mut customer, field, value) {
                    errors.push(format!("{field}: {e}"));
                }
            }
            _ => {}
        }
    }
    if !errors.is_empty() {
        return Err(errors.join("; "));
    }
    finish_request(customer, customer_id)
}

fn contact(c: &mut pb::Customer) -> &mut pb::Contact {
    c.contact.get_or_insert_with(Default::default)
}

fn region(c: &mut pb::Customer) -> &mut pb::Region {
    c.region.get_or_insert_with(Default::default)
}

/// Sets one field of `customer` from a non-empty CSV cell.
fn set_field(customer: &mut pb::Customer, field: &str, value: &str) -> Result<(), String> {
    match field {
        "display_name" => customer.display_name = value.to_owned(),
        "kind" => customer.kind = pb::CustomerKind::from(parse_choice::<Kind>(value, "CUSTOMER_KIND_")?) as i32,
        "contact.full_name" => contact(customer).full_name = value.to_owned(),
        "contact.job_title" => contact(customer).job_title = value.to_owned(),
        "contact.job_rank" => {
            contact(customer).job_rank = pb::JobRank::from(parse_choice::<JobRank>(value, "JOB_RANK_")?) as i32
        }
        "contact.decision_role" => {
            contact(customer).decision_role =
                pb::DecisionRole::from(parse_choice::<DecisionRole>(value, "DECISION_ROLE_")?) as i32;
        }
        "contact.email" => contact(customer).email = value.to_owned(),
        "contact.phone" => contact(customer).phone = value.to_owned(),
        "industry" => customer.industry = value.to_owned(),
        "employee_count" => {
            let count: i32 = value.parse().map_err(|_| format!("{value:?} is not a whole number"))?;
            customer.employee_count = Some(count);
        }
        "region.country_code" => region(customer).country_code = value.to_owned(),
        "region.subdivision" => region(customer).subdivision = value.to_owned(),
        "region.city" => region(customer).city = value.to_owned(),
        "needs" => {
            customer.needs = list(value)
                .map(|n| parse_choice::<Need>(n, "CUSTOMER_NEED_").map(|n| pb::CustomerNeed::from(n) as i32))
                .collect::<Result<_, _>>()?;
        }
        "key_account" => customer.key_account = boolean(value)?,
        "churned" => customer.churned = boolean(value)?,
        "owner" => customer.owner = resource_name("principals", value),
        "department" => customer.department = value.to_owned(),
        "tags" => customer.tags = list(value).map(str::to_owned).collect(),
        other => return Err(format!("{other} is not a column")),
    }
    Ok(())
}

/// The items of a list cell, separated by `;`, `,`, `|` or white space.
fn list(value: &str) -> impl Iterator<Item = &str> {
    value
        .split(|c: char| c == ';' || c == ',' || c == '|' || c.is_whitespace())
        .filter(|s| !s.is_empty())
}

fn boolean(value: &str) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "yes" | "y" | "1" => Ok(true),
        "false" | "no" | "n" | "0" => Ok(false),
        _ => Err(format!("{value:?} is not true or false")),
    }
}

/// Validates the request locally and gives it its deterministic request id.
fn finish_request(customer: pb::Customer, customer_id: String) -> Result<pb::CreateCustomerRequest, String> {
    let mut request = pb::CreateCustomerRequest {
        customer: Some(customer),
        customer_id,
        request_id: String::new(),
    };
    let violations = validate(&request);
    if !violations.is_empty() {
        return Err(violations.join("; "));
    }
    let canonical = prost::Message::encode_to_vec(&request);
    request.request_id = uuid::Uuid::new_v5(&REQUEST_ID_NAMESPACE, &canonical).to_string();
    Ok(request)
}

/// Every problem of the request the server would report, found by the conversion the server
/// parses CreateCustomer with, as `field: description`. A row's columns are the customer's
/// fields, so a field is named as its column (the request path without `customer.`).
fn validate(request: &pb::CreateCustomerRequest) -> Vec<String> {
    let mut v = Violations::new();
    new_customer(&mut v, request);
    v.as_slice()
        .iter()
        .map(|violation| {
            let field = &violation.field;
            let column = field.strip_prefix("customer.").unwrap_or(field);
            format!("{column}: {}", violation.description)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn columns(names: &[&str]) -> Vec<Column> {
        header_columns(&csv::StringRecord::from(names.to_vec())).unwrap()
    }

    #[test]
    fn a_valid_row_becomes_a_request_with_a_deterministic_request_id() {
        let cols = columns(&[
            "id",
            "display_name",
            "kind",
            "email",
            "country",
            "tags",
            "needs",
            "owner",
            "key_account",
        ]);
        let raw: Vec<String> = [
            "acme",
            "Acme Ltd",
            "organization",
            "buyer@acme.example",
            "de",
            "vip;eu",
            "price-sensitive",
            "li-na",
            "yes",
        ]
        .map(str::to_owned)
        .to_vec();
        let first = csv_request(&cols, &raw).unwrap();
        let second = csv_request(&cols, &raw).unwrap();
        assert_eq!(first.request_id, second.request_id);
        assert_eq!(first.customer_id, "acme");
        let customer = first.customer.unwrap();
        assert_eq!(customer.tags, ["vip", "eu"]);
        assert_eq!(customer.owner, "principals/li-na");
        assert!(customer.key_account);
        let mut changed = raw.clone();
        changed[1] = "Acme GmbH".into();
        assert_ne!(csv_request(&cols, &changed).unwrap().request_id, second.request_id);
    }

    #[test]
    fn an_invalid_row_names_every_bad_field() {
        let cols = columns(&["display_name", "kind", "email", "country", "employee_count"]);
        let raw: Vec<String> = ["", "organization", "not-an-email", "XX", "-4"]
            .map(str::to_owned)
            .to_vec();
        let reason = csv_request(&cols, &raw).unwrap_err();
        for field in [
            "display_name:",
            "contact.email:",
            "region.country_code:",
            "employee_count:",
        ] {
            assert!(reason.contains(field), "{reason}");
        }
        let raw: Vec<String> = ["Acme", "company", "", "", "many"].map(str::to_owned).to_vec();
        let reason = csv_request(&cols, &raw).unwrap_err();
        assert!(reason.contains("kind: \"company\" is not one of"), "{reason}");
        assert!(
            reason.contains("employee_count: \"many\" is not a whole number"),
            "{reason}"
        );
    }

    #[test]
    fn unknown_columns_are_refused_and_export_columns_ignored() {
        let error = header_columns(&csv::StringRecord::from(vec!["display_name", "colour"])).unwrap_err();
        assert!(error.contains("colour"), "{error}");
        let cols = columns(&[
            "name",
            "display_name",
            "create_time",
            "etag",
            "classification.grade.value",
        ]);
        assert_eq!(cols[2..], [Column::Ignored, Column::Ignored, Column::Ignored]);
    }

    #[test]
    fn an_ndjson_line_drops_output_only_fields() {
        let line = r#"{"name":"customers/acme","displayName":"Acme","kind":"CUSTOMER_KIND_ORGANIZATION","etag":"7","createTime":"2024-01-01T00:00:00Z"}"#;
        let request = ndjson_request(line).unwrap();
        assert_eq!(request.customer_id, "acme");
        let customer = request.customer.unwrap();
        assert!(customer.etag.is_empty() && customer.create_time.is_none() && customer.name.is_empty());
        assert!(ndjson_request("{not json").is_err());
    }
}
