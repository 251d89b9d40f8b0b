//! Printing results: [`Output`] writes one message ([`Output::message`]) or a streamed list
//! ([`Output::list`] → [`ListWriter`]) as a table for people, proto3 JSON, NDJSON or CSV.
//!
//! JSON follows the proto3 JSON mapping (lowerCamelCase names, enum names, RFC 3339 timestamps,
//! 64-bit integers as strings): a prost message is encoded, decoded as a `prost-reflect`
//! `DynamicMessage` against the descriptors of `crm_api::FILE_DESCRIPTOR_SET`, and serialized
//! with serde. Tables and CSV cells name fields by their proto paths (`contact.email`) and
//! print enum values without their type prefix (`ORGANIZATION`).

use std::{
    io::Write,
    marker::PhantomData,
    sync::{Arc, Mutex, OnceLock},
};

use clap::ValueEnum;
use comfy_table::{ContentArrangement, Table, presets};
use prost_reflect::{DescriptorPool, DynamicMessage, Kind, MessageDescriptor, ReflectMessage, Value};

use crate::error::CliError;

/// How results are printed (`--output`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// A table for people.
    Table,
    /// One JSON document (proto3 JSON mapping); a list is one array.
    Json,
    /// One JSON object per line, written as it arrives.
    Ndjson,
    /// Comma-separated values with a header row; one row per item.
    Csv,
}

/// Where output goes: stdout, or a buffer in tests.
type Sink = Arc<Mutex<Box<dyn Write + Send>>>;

/// Writes command results to stdout in the chosen [`OutputFormat`]. Cheap to clone.
#[derive(Clone)]
pub struct Output {
    format: OutputFormat,
    sink: Sink,
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Output")
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

impl Output {
    /// Prints to stdout in `format`.
    pub fn stdout(format: OutputFormat) -> Self {
        Self::to_writer(format, Box::new(std::io::BufWriter::new(std::io::stdout())))
    }

    /// Prints to `writer` in `format` (files, tests).
    pub fn to_writer(format: OutputFormat, writer: Box<dyn Write + Send>) -> Self {
        Self {
            format,
            sink: Arc::new(Mutex::new(writer)),
        }
    }

    /// The format chosen.
    pub fn format(&self) -> OutputFormat {
        self.format
    }

    /// Prints one message: a two-column field/value table of its populated fields (nested
    /// messages flattened to dotted paths), or pretty proto3 JSON. NDJSON prints it as one line;
    /// CSV as a header of its populated field paths and one row.
    pub fn message<M: prost::Message + prost::Name>(&self, msg: &M) -> Result<(), CliError> {
        let dynamic = to_dynamic(msg)?;
        let text = match self.format {
            OutputFormat::Table => {
                let mut table = new_table();
                table.set_header(["field", "value"]);
                for (path, value) in flatten(&dynamic, ", ") {
                    table.add_row([path, value]);
                }
                format!("{table}\n")
            }
            OutputFormat::Json => format!("{}\n", to_json(&dynamic, true)?),
            OutputFormat::Ndjson => format!("{}\n", to_json(&dynamic, false)?),
            OutputFormat::Csv => {
                let (header, row): (Vec<String>, Vec<String>) = flatten(&dynamic, ";").into_iter().unzip();
                let mut writer = csv::Writer::from_writer(Vec::new());
                writer.write_record(&header).map_err(csv_error)?;
                writer.write_record(&row).map_err(csv_error)?;
                let bytes = writer
                    .into_inner()
                    .map_err(|e| CliError::Other(format!("writing CSV: {e}")))?;
                String::from_utf8_lossy(&bytes).into_owned()
            }
        };
        self.write_all(text.as_bytes())
    }

    /// Prints a line of plain text (for commands whose result is not a message, e.g. a shell
    /// completion script), whatever the format.
    pub fn text(&self, text: &str) -> Result<(), CliError> {
        self.write_all(text.as_bytes())
    }

    /// A writer for a list of `M`, with `columns` (dotted proto field paths, e.g.
    /// `region.country_code`) for the table and CSV formats.
    pub fn list<M: prost::Message + prost::Name>(&self, columns: &[&str]) -> ListWriter<M> {
        ListWriter {
            format: self.format,
            columns: columns.iter().map(|c| (*c).to_owned()).collect(),
            sink: self.sink.clone(),
            rows: Vec::new(),
            count: 0,
            _item: PhantomData,
        }
    }

    fn write_all(&self, bytes: &[u8]) -> Result<(), CliError> {
        write_to(&self.sink, bytes, true)
    }
}

/// Writes the items of a list as they arrive: NDJSON and CSV stream (flushed per item), JSON
/// streams one array, a table is collected and printed by [`ListWriter::finish`].
pub struct ListWriter<M> {
    format: OutputFormat,
    columns: Vec<String>,
    sink: Sink,
    rows: Vec<Vec<String>>,
    count: u64,
    _item: PhantomData<fn(&M)>,
}

impl<M> std::fmt::Debug for ListWriter<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListWriter")
            .field("format", &self.format)
            .field("columns", &self.columns)
            .field("count", &self.count)
            .finish_non_exhaustive()
    }
}

impl<M: prost::Message + prost::Name> ListWriter<M> {
    /// Writes (or, for a table, keeps) one item.
    pub fn write(&mut self, item: &M) -> Result<(), CliError> {
        let dynamic = to_dynamic(item)?;
        let first = self.count == 0;
        self.count += 1;
        match self.format {
            OutputFormat::Table => {
                let row = self.columns.iter().map(|c| cell(&dynamic, c, ", ")).collect();
                self.rows.push(row);
                Ok(())
            }
            OutputFormat::Json => {
                let json = to_json(&dynamic, true)?;
                let text = if first {
                    format!("[\n{json}")
                } else {
                    format!(",\n{json}")
                };
                write_to(&self.sink, text.as_bytes(), false)
            }
            OutputFormat::Ndjson => write_to(&self.sink, format!("{}\n", to_json(&dynamic, false)?).as_bytes(), true),
            OutputFormat::Csv => {
                let mut text = if first { csv_line(&self.columns)? } else { String::new() };
                let row: Vec<String> = self.columns.iter().map(|c| cell(&dynamic, c, ";")).collect();
                text.push_str(&csv_line(&row)?);
                write_to(&self.sink, text.as_bytes(), true)
            }
        }
    }

    /// How many items were written so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Ends the list: prints the table, closes the JSON array, writes the CSV header of an empty
    /// list, and flushes.
    pub fn finish(self) -> Result<(), CliError> {
        match self.format {
            OutputFormat::Table => {
                let mut table = new_table();
                table.set_header(&self.columns);
                for row in self.rows {
                    table.add_row(row);
                }
                write_to(&self.sink, format!("{table}\n").as_bytes(), true)
            }
            OutputFormat::Json => {
                let end = if self.count == 0 { "[]\n" } else { "\n]\n" };
                write_to(&self.sink, end.as_bytes(), true)
            }
            OutputFormat::Ndjson => write_to(&self.sink, b"", true),
            OutputFormat::Csv if self.count == 0 => write_to(&self.sink, csv_line(&self.columns)?.as_bytes(), true),
            OutputFormat::Csv => write_to(&self.sink, b"", true),
        }
    }
}

/// Parses proto3 JSON text (as `--output json` prints it) into a prost message, e.g. a policy
/// from a file.
pub fn from_json<M: prost::Message + prost::Name + Default>(text: &str) -> Result<M, CliError> {
    let descriptor = descriptor_of::<M>()?;
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let dynamic = DynamicMessage::deserialize(descriptor, &mut deserializer)
        .and_then(|m| deserializer.end().map(|()| m))
        .map_err(|e| CliError::Invalid(format!("not a valid {} in proto3 JSON: {e}", M::full_name())))?;
    dynamic
        .transcode_to::<M>()
        .map_err(|e| CliError::Invalid(format!("not a valid {}: {e}", M::full_name())))
}

/// A message as compact (`pretty` = false) or pretty proto3 JSON.
pub fn json_of<M: prost::Message + prost::Name>(msg: &M, pretty: bool) -> Result<String, CliError> {
    to_json(&to_dynamic(msg)?, pretty)
}

/// The value of one dotted field path of `msg` as text, as a table cell shows it (lists joined
/// with `separator`; an unset optional field or message is empty).
pub fn field_text<M: prost::Message + prost::Name>(msg: &M, path: &str, separator: &str) -> Result<String, CliError> {
    Ok(cell(&to_dynamic(msg)?, path, separator))
}

/// The descriptors of every `crm.v1` message (and the Google types they use), decoded once.
pub fn descriptor_pool() -> Result<&'static DescriptorPool, CliError> {
    static POOL: OnceLock<Result<DescriptorPool, String>> = OnceLock::new();
    POOL.get_or_init(|| DescriptorPool::decode(crm_api::FILE_DESCRIPTOR_SET).map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| CliError::Other(format!("the embedded proto descriptors are unreadable: {e}")))
}

fn descriptor_of<M: prost::Name>() -> Result<MessageDescriptor, CliError> {
    descriptor_pool()?
        .get_message_by_name(&M::full_name())
        .ok_or_else(|| CliError::Other(format!("no descriptor for {}", M::full_name())))
}

/// `msg` as a dynamic message, to read its fields by descriptor.
pub fn to_dynamic<M: prost::Message + prost::Name>(msg: &M) -> Result<DynamicMessage, CliError> {
    let descriptor = descriptor_of::<M>()?;
    DynamicMessage::decode(descriptor, msg.encode_to_vec().as_slice())
        .map_err(|e| CliError::Other(format!("cannot re-read a {}: {e}", M::full_name())))
}

fn to_json(msg: &DynamicMessage, pretty: bool) -> Result<String, CliError> {
    let result = if pretty {
        serde_json::to_string_pretty(msg)
    } else {
        serde_json::to_string(msg)
    };
    result.map_err(|e| CliError::Other(format!("cannot print {} as JSON: {e}", msg.descriptor().full_name())))
}

fn new_table() -> Table {
    let mut table = Table::new();
    table
        .load_preset(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    table
}

fn csv_error(e: csv::Error) -> CliError {
    CliError::Other(format!("writing CSV: {e}"))
}

/// One CSV record (with its line ending) of `fields`.
fn csv_line<S: AsRef<[u8]>>(fields: &[S]) -> Result<String, CliError> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(fields).map_err(csv_error)?;
    let bytes = writer
        .into_inner()
        .map_err(|e| CliError::Other(format!("writing CSV: {e}")))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn write_to(sink: &Sink, bytes: &[u8], flush: bool) -> Result<(), CliError> {
    let mut writer = sink
        .lock()
        .map_err(|_| CliError::Other("the output writer failed earlier".to_owned()))?;
    writer.write_all(bytes).map_err(|e| CliError::io("writing output", e))?;
    if flush {
        writer.flush().map_err(|e| CliError::io("writing output", e))?;
    }
    Ok(())
}

/// Every populated field of `msg` as `(dotted path, text)`, nested messages flattened
/// (`contact.email`), lists of messages indexed (`reasons[0].text`), well-known types
/// (timestamps, durations) printed as their JSON text.
fn flatten(msg: &DynamicMessage, separator: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    flatten_into(msg, "", separator, &mut out);
    out
}

fn flatten_into(msg: &DynamicMessage, prefix: &str, separator: &str, out: &mut Vec<(String, String)>) {
    for (field, value) in msg.fields() {
        let path = format!("{prefix}{}", field.name());
        match value {
            Value::Message(inner) if !is_well_known(inner) => flatten_into(inner, &format!("{path}."), separator, out),
            Value::List(items)
                if items
                    .iter()
                    .any(|v| matches!(v, Value::Message(m) if !is_well_known(m))) =>
            {
                for (i, item) in items.iter().enumerate() {
                    match item {
                        Value::Message(inner) => flatten_into(inner, &format!("{path}[{i}]."), separator, out),
                        other => out.push((format!("{path}[{i}]"), text(other, &field.kind(), separator))),
                    }
                }
            }
            Value::Map(entries) => {
                let value_kind = match field.kind() {
                    Kind::Message(entry) => entry.map_entry_value_field().kind(),
                    other => other,
                };
                let mut entries: Vec<_> = entries.iter().collect();
                entries.sort_by_key(|(k, _)| map_key_text(k));
                for (key, value) in entries {
                    out.push((
                        format!("{path}[{}]", map_key_text(key)),
                        text(value, &value_kind, separator),
                    ));
                }
            }
            other => out.push((path, text(other, &field.kind(), separator))),
        }
    }
}

/// The text of the field at dotted `path` in `msg`; empty when a message on the way or an
/// optional field is unset, or the path names no field.
fn cell(msg: &DynamicMessage, path: &str, separator: &str) -> String {
    let mut current = msg.clone();
    let mut segments = path.split('.').peekable();
    while let Some(segment) = segments.next() {
        let Some(field) = current.descriptor().get_field_by_name(segment) else {
            return String::new();
        };
        if field.supports_presence() && !current.has_field(&field) {
            return String::new();
        }
        let value = current.get_field(&field).into_owned();
        if segments.peek().is_none() {
            // An enum's zero value means "not set" in proto3: an empty cell, as for other unset fields.
            if matches!(value, Value::EnumNumber(0)) {
                return String::new();
            }
            return text(&value, &field.kind(), separator);
        }
        match value {
            Value::Message(inner) => current = inner,
            _ => return String::new(),
        }
    }
    String::new()
}

fn is_well_known(msg: &DynamicMessage) -> bool {
    msg.descriptor().full_name().starts_with("google.protobuf.")
}

fn map_key_text(key: &prost_reflect::MapKey) -> String {
    use prost_reflect::MapKey;
    match key {
        MapKey::Bool(b) => b.to_string(),
        MapKey::I32(n) => n.to_string(),
        MapKey::I64(n) => n.to_string(),
        MapKey::U32(n) => n.to_string(),
        MapKey::U64(n) => n.to_string(),
        MapKey::String(s) => s.clone(),
    }
}

/// One value as text: enum values by name without the type prefix, well-known types as their
/// JSON text, other messages as compact JSON, lists joined with `separator`.
fn text(value: &Value, kind: &Kind, separator: &str) -> String {
    match value {
        Value::Bool(b) => b.to_string(),
        Value::I32(n) => n.to_string(),
        Value::I64(n) => n.to_string(),
        Value::U32(n) => n.to_string(),
        Value::U64(n) => n.to_string(),
        Value::F32(n) => n.to_string(),
        Value::F64(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Bytes(b) => format!("<{} bytes>", b.len()),
        Value::EnumNumber(n) => match kind {
            Kind::Enum(descriptor) => descriptor.get_value(*n).map_or_else(
                || n.to_string(),
                |v| short_enum_name(descriptor.name(), v.name()).to_owned(),
            ),
            _ => n.to_string(),
        },
        Value::Message(inner) => match serde_json::to_value(inner) {
            Ok(serde_json::Value::String(s)) => s,
            Ok(other) => other.to_string(),
            Err(_) => String::new(),
        },
        Value::List(items) => items
            .iter()
            .map(|item| text(item, kind, separator))
            .collect::<Vec<_>>()
            .join(separator),
        Value::Map(entries) => {
            let mut pairs: Vec<String> = entries
                .iter()
                .map(|(k, v)| format!("{}={}", map_key_text(k), text(v, kind, separator)))
                .collect();
            pairs.sort();
            pairs.join(separator)
        }
    }
}

/// `CUSTOMER_KIND_ORGANIZATION` of enum `CustomerKind` → `ORGANIZATION`.
pub fn short_enum_name<'a>(enum_name: &str, value_name: &'a str) -> &'a str {
    let mut prefix = String::new();
    for (i, c) in enum_name.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            prefix.push('_');
        }
        prefix.push(c.to_ascii_uppercase());
    }
    prefix.push('_');
    value_name
        .strip_prefix(prefix.as_str())
        .filter(|rest| !rest.is_empty())
        .unwrap_or(value_name)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use crm_api::crm::v1 as pb;

    use super::*;

    /// A writer into a shared buffer, to read what an `Output` printed.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Buffer {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    fn customer(id: &str) -> pb::Customer {
        pb::Customer {
            name: format!("customers/{id}"),
            display_name: format!("{id} Ltd"),
            kind: pb::CustomerKind::Organization as i32,
            contact: Some(pb::Contact {
                email: "jane@example.com".into(),
                ..Default::default()
            }),
            tags: vec!["a".into(), "b".into()],
            employee_count: Some(250),
            create_time: Some(prost_types::Timestamp {
                seconds: 1_700_000_000,
                nanos: 0,
            }),
            ..Default::default()
        }
    }

    fn output(format: OutputFormat) -> (Output, Buffer) {
        let buffer = Buffer::default();
        (Output::to_writer(format, Box::new(buffer.clone())), buffer)
    }

    #[test]
    fn json_follows_the_proto3_mapping_and_parses_back() {
        let (out, buffer) = output(OutputFormat::Json);
        out.message(&customer("acme")).unwrap();
        let value: serde_json::Value = serde_json::from_str(&buffer.text()).unwrap();
        assert_eq!(value["displayName"], "acme Ltd");
        assert_eq!(value["kind"], "CUSTOMER_KIND_ORGANIZATION");
        assert_eq!(value["contact"]["email"], "jane@example.com");
        assert_eq!(value["createTime"], "2023-11-14T22:13:20Z");
        let back: pb::Customer = from_json(&buffer.text()).unwrap();
        assert_eq!(back, customer("acme"));
    }

    #[test]
    fn a_table_flattens_nested_fields_to_dotted_paths() {
        let (out, buffer) = output(OutputFormat::Table);
        out.message(&customer("acme")).unwrap();
        let text = buffer.text();
        assert!(text.contains("contact.email"), "{text}");
        assert!(text.contains("ORGANIZATION"), "{text}");
        assert!(!text.contains("CUSTOMER_KIND_"), "{text}");
        assert!(text.contains("a, b"), "{text}");
        assert!(text.contains("2023-11-14T22:13:20Z"), "{text}");
    }

    #[test]
    fn lists_stream_as_ndjson_csv_and_one_json_array() {
        let columns = [
            "name",
            "kind",
            "contact.email",
            "tags",
            "employee_count",
            "region.country_code",
        ];
        let (out, buffer) = output(OutputFormat::Ndjson);
        let mut list = out.list::<pb::Customer>(&columns);
        list.write(&customer("a")).unwrap();
        assert_eq!(buffer.text().lines().count(), 1, "written before the list ends");
        list.write(&customer("b")).unwrap();
        list.finish().unwrap();
        let names: Vec<String> = buffer
            .text()
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["name"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(names, ["customers/a", "customers/b"]);

        let (out, buffer) = output(OutputFormat::Csv);
        let mut list = out.list::<pb::Customer>(&columns);
        list.write(&customer("a")).unwrap();
        list.finish().unwrap();
        assert_eq!(
            buffer.text(),
            "name,kind,contact.email,tags,employee_count,region.country_code\ncustomers/a,ORGANIZATION,jane@example.com,a;b,250,\n"
        );

        let (out, buffer) = output(OutputFormat::Json);
        let mut list = out.list::<pb::Customer>(&columns);
        list.write(&customer("a")).unwrap();
        list.write(&customer("b")).unwrap();
        list.finish().unwrap();
        let value: serde_json::Value = serde_json::from_str(&buffer.text()).unwrap();
        assert_eq!(value.as_array().unwrap().len(), 2);

        let (out, buffer) = output(OutputFormat::Json);
        out.list::<pb::Customer>(&columns).finish().unwrap();
        assert_eq!(buffer.text(), "[]\n");
    }

    #[test]
    fn enum_prefixes_are_stripped_only_when_they_match() {
        assert_eq!(
            short_enum_name("CustomerKind", "CUSTOMER_KIND_ORGANIZATION"),
            "ORGANIZATION"
        );
        assert_eq!(short_enum_name("JobRank", "JOB_RANK_EXECUTIVE"), "EXECUTIVE");
        assert_eq!(short_enum_name("JobRank", "OTHER"), "OTHER");
    }

    #[test]
    fn bad_json_is_an_invalid_input_error() {
        let error = from_json::<pb::Customer>("{\"displayName\": 3}").unwrap_err();
        assert!(matches!(error, CliError::Invalid(_)), "{error:?}");
    }
}
