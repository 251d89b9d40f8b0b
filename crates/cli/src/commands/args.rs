//! Parsing and paging helpers shared by the access and classification commands: enum values by
//! their short names (`vip`, `all`), timestamps (RFC 3339 or relative, `+90d`), money, class
//! values, and a loop that follows page tokens into a [`ListWriter`].

use std::future::Future;

use crm_api::{crm::v1 as pb, google::r#type::Money};
use crm_domain::classification::Dimension;
use prost::Name as _;
use prost_reflect::{DynamicMessage, EnumDescriptor, FieldDescriptor, Kind, Value as ReflectValue};
use prost_types::Timestamp;

use crate::{
    error::CliError,
    output::{ListWriter, Output, OutputFormat, descriptor_pool, short_enum_name, to_dynamic},
};

/// The number of a value of the proto enum `enum_name` (e.g. `crm.v1.Grade`) given as `text`:
/// its short name in any case (`vip`), or its full name (`GRADE_VIP`). `flag` names the flag in
/// the error, which lists the accepted values.
pub fn enum_value(enum_name: &str, flag: &str, text: &str) -> Result<i32, CliError> {
    let descriptor = descriptor_pool()?
        .get_enum_by_name(enum_name)
        .ok_or_else(|| CliError::Other(format!("no descriptor for {enum_name}")))?;
    let wanted = text.trim().to_ascii_uppercase().replace('-', "_");
    let mut accepted = Vec::new();
    for value in descriptor.values() {
        if value.number() == 0 {
            continue;
        }
        let short = short_enum_name(descriptor.name(), value.name());
        if wanted == short || wanted == value.name() {
            return Ok(value.number());
        }
        accepted.push(short.to_ascii_lowercase());
    }
    Err(CliError::Invalid(format!(
        "{flag} {text:?} is not one of: {}",
        accepted.join(", ")
    )))
}

/// A `crm.v1.Dimension` from its short name (`grade`, `value-tier`, `DIMENSION_GRADE`).
pub fn dimension(text: &str) -> Result<pb::Dimension, CliError> {
    let number = enum_value("crm.v1.Dimension", "--dimension", text)?;
    pb::Dimension::try_from(number).map_err(|_| CliError::Invalid(format!("--dimension {text:?} is unknown")))
}

/// The domain's dimension of a proto one, by name; `None` for `DIMENSION_UNSPECIFIED`.
fn domain_dimension(dimension: pb::Dimension) -> Option<Dimension> {
    Dimension::from_name(short_enum_name("Dimension", dimension.as_str_name()))
}

/// The field of `ClassValue`'s `value` oneof that holds a value of `dimension`: the one named
/// as the dimension's field (`grade`), an enum field.
fn class_value_field(dimension: Dimension) -> Result<(FieldDescriptor, EnumDescriptor), CliError> {
    let name = pb::ClassValue::full_name();
    let field = descriptor_pool()?
        .get_message_by_name(&name)
        .and_then(|m| m.get_field_by_name(dimension.field()))
        .ok_or_else(|| CliError::Other(format!("no descriptor for {name}.{}", dimension.field())))?;
    match field.kind() {
        Kind::Enum(values) => Ok((field, values)),
        _ => Err(CliError::Other(format!("{name}.{} is not an enum", dimension.field()))),
    }
}

/// The value `text` (e.g. `vip`) of `dimension` as a `ClassValue`.
pub fn class_value(dimension: pb::Dimension, flag: &str, text: &str) -> Result<pb::ClassValue, CliError> {
    let dimension =
        domain_dimension(dimension).ok_or_else(|| CliError::Invalid("a dimension is required".to_owned()))?;
    let (field, values) = class_value_field(dimension)?;
    let number = enum_value(values.full_name(), flag, text)?;
    let mut value = DynamicMessage::new(field.parent_message().clone());
    value.set_field(&field, ReflectValue::EnumNumber(number));
    value
        .transcode_to::<pb::ClassValue>()
        .map_err(|e| CliError::Other(format!("cannot build a class value: {e}")))
}

/// A point in time: RFC 3339 (`2027-01-31T00:00:00Z`), or relative to now with a sign, a number
/// and a unit `s`, `m`, `h` or `d` (`+90d`, `-2h`).
pub fn timestamp(flag: &str, text: &str) -> Result<Timestamp, CliError> {
    let text = text.trim();
    if let Some(offset) = relative_seconds(text) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|_| CliError::Other("the system clock is before 1970".to_owned()))?;
        let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
        return Ok(Timestamp {
            seconds: now.saturating_add(offset),
            nanos: 0,
        });
    }
    text.parse::<Timestamp>().map_err(|_| {
        CliError::Invalid(format!(
            "{flag} {text:?} is not a time: give RFC 3339 (2027-01-31T09:00:00Z) or an offset from now (+90d, -2h, +30m)"
        ))
    })
}

fn relative_seconds(text: &str) -> Option<i64> {
    let (sign, rest) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => return None,
    };
    let unit = rest.chars().last()?;
    let number: i64 = rest[..rest.len() - unit.len_utf8()].parse().ok()?;
    let scale = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return None,
    };
    number.checked_mul(scale)?.checked_mul(sign)
}

/// An amount such as `120000`, `-49.90` or `1e3` is refused: digits with an optional sign and at
/// most 9 decimal places, in `currency` (an ISO 4217 code).
pub fn money(flag: &str, text: &str, currency: &str) -> Result<Money, CliError> {
    let invalid = || {
        CliError::Invalid(format!(
            "{flag} {text:?} is not an amount: give digits, e.g. 120000 or -49.90"
        ))
    };
    let trimmed = text.trim();
    let (negative, digits) = match trimmed.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, trimmed.strip_prefix('+').unwrap_or(trimmed)),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() && fraction.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
        || fraction.len() > 9
    {
        return Err(invalid());
    }
    let units: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| invalid())?
    };
    let nanos: i32 = if fraction.is_empty() {
        0
    } else {
        format!("{fraction:0<9}").parse().map_err(|_| invalid())?
    };
    let (units, nanos) = if negative { (-units, -nanos) } else { (units, nanos) };
    Ok(Money {
        currency_code: currency.trim().to_ascii_uppercase(),
        units,
        nanos,
    })
}

/// An amount for people and CSV: `120000`, `-49.9`, `0.0001` (no exponent, no thousands
/// separators); the currency is not included.
pub fn money_text(money: Option<&Money>) -> String {
    let Some(money) = money else {
        return String::new();
    };
    let negative = money.units < 0 || money.nanos < 0;
    let units = money.units.unsigned_abs();
    let nanos = money.nanos.unsigned_abs();
    let sign = if negative { "-" } else { "" };
    if nanos == 0 {
        return format!("{sign}{units}");
    }
    let fraction = format!("{nanos:09}");
    format!("{sign}{units}.{}", fraction.trim_end_matches('0'))
}

/// The page size to ask for: what is left of `limit`, at most 1000 (the servers' cap).
fn page_size(limit: Option<u64>, written: u64) -> i32 {
    let left = limit.map_or(1000, |l| l.saturating_sub(written));
    i32::try_from(left.min(1000)).unwrap_or(1000)
}

/// Where [`paginate`] writes items: a [`ListWriter`], or a [`Rows`] table.
pub trait ItemSink<M> {
    /// Writes (or keeps) one item.
    fn write(&mut self, item: &M) -> Result<(), CliError>;
    /// How many items were written.
    fn count(&self) -> u64;
    /// Ends the list.
    fn finish(self) -> Result<(), CliError>;
}

impl<M: prost::Message + prost::Name> ItemSink<M> for ListWriter<M> {
    fn write(&mut self, item: &M) -> Result<(), CliError> {
        ListWriter::write(self, item)
    }
    fn count(&self) -> u64 {
        ListWriter::count(self)
    }
    fn finish(self) -> Result<(), CliError> {
        ListWriter::finish(self)
    }
}

/// A table for people, or CSV, whose cells are computed by a function of the item (for items
/// whose values are messages, such as class values, that a dotted column path would print as
/// JSON). A table is printed by [`ItemSink::finish`]; CSV rows are written as they arrive.
pub struct Rows<'a, M> {
    out: &'a Output,
    header: &'a [&'a str],
    to_row: fn(&M) -> Vec<String>,
    rows: Vec<Vec<String>>,
    count: u64,
}

impl<M> std::fmt::Debug for Rows<'_, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rows")
            .field("header", &self.header)
            .field("count", &self.count)
            .finish_non_exhaustive()
    }
}

impl<'a, M> Rows<'a, M> {
    /// Rows with `header`, printed to `out` as a table (for [`OutputFormat::Table`]) or CSV
    /// (for any other format).
    pub fn new(out: &'a Output, header: &'a [&'a str], to_row: fn(&M) -> Vec<String>) -> Self {
        Self {
            out,
            header,
            to_row,
            rows: Vec::new(),
            count: 0,
        }
    }

    fn is_table(&self) -> bool {
        self.out.format() == OutputFormat::Table
    }
}

impl<M> ItemSink<M> for Rows<'_, M> {
    fn write(&mut self, item: &M) -> Result<(), CliError> {
        let row = (self.to_row)(item);
        if self.is_table() {
            self.rows.push(row);
        } else {
            if self.count == 0 {
                self.out.text(&csv_record(self.header)?)?;
            }
            self.out.text(&csv_record(&row)?)?;
        }
        self.count += 1;
        Ok(())
    }
    fn count(&self) -> u64 {
        self.count
    }
    fn finish(self) -> Result<(), CliError> {
        if self.is_table() {
            self.out.text(&table(self.header, self.rows))
        } else if self.count == 0 {
            self.out.text(&csv_record(self.header)?)
        } else {
            Ok(())
        }
    }
}

/// One CSV record, with its line ending.
fn csv_record<S: AsRef<[u8]>>(fields: &[S]) -> Result<String, CliError> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer
        .write_record(fields)
        .map_err(|e| CliError::Other(format!("writing CSV: {e}")))?;
    let bytes = writer
        .into_inner()
        .map_err(|e| CliError::Other(format!("writing CSV: {e}")))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// A table for people, as text ending with a newline.
pub fn table(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut table = comfy_table::Table::new();
    table
        .load_preset(comfy_table::presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(comfy_table::ContentArrangement::Dynamic)
        .set_header(header);
    for row in rows {
        table.add_row(row);
    }
    format!("{table}\n")
}

/// A class value for people: the value's short name, e.g. `VIP` or `HIGH`; empty when absent,
/// `?` for a number its enum does not define.
pub fn value_text(value: Option<&pb::ClassValue>) -> String {
    let Some(value) = value.filter(|v| v.value.is_some()) else {
        return String::new();
    };
    let Ok(value) = to_dynamic(value) else {
        return "?".to_owned();
    };
    value
        .fields()
        .find_map(|(field, v)| match (field.kind(), v) {
            (Kind::Enum(values), ReflectValue::EnumNumber(n)) => Some(values.get_value(*n).map_or_else(
                || "?".to_owned(),
                |v| short_enum_name(values.name(), v.name()).to_owned(),
            )),
            _ => None,
        })
        .unwrap_or_else(|| "?".to_owned())
}

/// An enum value's short name for people (`GRADE`, `RULE`), given its full name.
pub fn short(enum_name: &str, full: &str) -> String {
    short_enum_name(enum_name, full).to_owned()
}

/// A timestamp as RFC 3339 text; empty when absent.
pub fn time_text(time: Option<&Timestamp>) -> String {
    time.map(ToString::to_string).unwrap_or_default()
}

/// Follows page tokens: calls `fetch(page_token, page_size)` for each page, writes every item to
/// `writer` as it arrives and stops at the last page or after `limit` items; then finishes the
/// list.
pub async fn paginate<M, S, F, Fut>(limit: Option<u64>, mut writer: S, mut fetch: F) -> Result<(), CliError>
where
    S: ItemSink<M>,
    F: FnMut(String, i32) -> Fut,
    Fut: Future<Output = Result<(Vec<M>, String), tonic::Status>>,
{
    let mut token = String::new();
    'pages: loop {
        if limit.is_some_and(|l| writer.count() >= l) {
            break;
        }
        let (items, next) = fetch(token, page_size(limit, writer.count())).await?;
        for item in &items {
            if limit.is_some_and(|l| writer.count() >= l) {
                break 'pages;
            }
            writer.write(item)?;
        }
        if next.is_empty() {
            break;
        }
        token = next;
    }
    writer.finish()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn enum_values_are_taken_by_short_or_full_name() {
        assert_eq!(
            enum_value("crm.v1.Grade", "--grade", "vip").unwrap(),
            pb::Grade::Vip as i32
        );
        assert_eq!(
            enum_value("crm.v1.Grade", "--grade", "GRADE_KEY").unwrap(),
            pb::Grade::Key as i32
        );
        assert_eq!(
            enum_value("crm.v1.Scope", "--scope", "department").unwrap(),
            pb::Scope::Department as i32
        );
        let error = enum_value("crm.v1.Grade", "--grade", "gold").unwrap_err().to_string();
        assert_eq!(error, "--grade \"gold\" is not one of: vip, key, standard, potential");
        assert!(enum_value("crm.v1.Grade", "--grade", "unspecified").is_err());
    }

    #[test]
    fn a_class_value_is_set_on_its_dimension() {
        let value = class_value(dimension("value-tier").unwrap(), "--value", "high").unwrap();
        assert_eq!(
            value.value,
            Some(pb::class_value::Value::ValueTier(pb::ValueTier::High as i32))
        );
        assert!(class_value(pb::Dimension::Grade, "--value", "high").is_err());
    }

    #[test]
    fn amounts_keep_their_sign_and_decimals() {
        let m = money("--amount", "-49.90", "usd").unwrap();
        assert_eq!((m.currency_code.as_str(), m.units, m.nanos), ("USD", -49, -900_000_000));
        let m = money("--amount", "120000", "USD").unwrap();
        assert_eq!((m.units, m.nanos), (120_000, 0));
        for bad in ["", "-", "1e3", "12,5", "1.0000000001", "abc"] {
            assert!(money("--amount", bad, "USD").is_err(), "{bad}");
        }
    }

    /// A sink that keeps the names it is given.
    struct Names(Vec<String>, bool);

    impl ItemSink<pb::Principal> for &mut Names {
        fn write(&mut self, item: &pb::Principal) -> Result<(), CliError> {
            self.0.push(item.name.clone());
            Ok(())
        }
        fn count(&self) -> u64 {
            self.0.len() as u64
        }
        fn finish(self) -> Result<(), CliError> {
            self.1 = true;
            Ok(())
        }
    }

    /// Pages of 3 out of 7 principals, recording the (token, size) of each call.
    fn pages(calls: &std::cell::RefCell<Vec<(String, i32)>>, token: String, size: i32) -> (Vec<pb::Principal>, String) {
        calls.borrow_mut().push((token.clone(), size));
        let start: usize = token.parse().unwrap_or(0);
        let end = (start + 3).min(7);
        let items = (start..end)
            .map(|i| pb::Principal {
                name: format!("principals/p{i}"),
                ..Default::default()
            })
            .collect();
        let next = if end < 7 { end.to_string() } else { String::new() };
        (items, next)
    }

    #[test]
    fn paging_follows_tokens_to_the_end_or_stops_at_the_limit() {
        let calls = std::cell::RefCell::new(Vec::new());
        let mut all = Names(Vec::new(), false);
        futures::executor::block_on(paginate(None, &mut all, |token, size| {
            let page = pages(&calls, token, size);
            async move { Ok::<_, tonic::Status>(page) }
        }))
        .unwrap();
        assert_eq!(all.0.len(), 7);
        assert!(all.1, "the list is finished");
        let tokens: Vec<String> = calls.borrow().iter().map(|(t, _)| t.clone()).collect();
        assert_eq!(tokens, ["", "3", "6"]);

        calls.borrow_mut().clear();
        let mut some = Names(Vec::new(), false);
        futures::executor::block_on(paginate(Some(4), &mut some, |token, size| {
            let page = pages(&calls, token, size);
            async move { Ok::<_, tonic::Status>(page) }
        }))
        .unwrap();
        assert_eq!(
            some.0,
            ["principals/p0", "principals/p1", "principals/p2", "principals/p3"]
        );
        assert_eq!(
            *calls.borrow(),
            [(String::new(), 4), ("3".to_owned(), 1)],
            "asks only for what is left"
        );
    }

    #[test]
    fn amounts_print_back_as_they_were_given() {
        for text in ["120000", "-49.9", "0.0001", "-0.5"] {
            assert_eq!(money_text(Some(&money("--amount", text, "USD").unwrap())), text);
        }
        assert_eq!(money_text(None), "");
    }

    #[test]
    fn times_are_rfc3339_or_relative() {
        let t = timestamp("--time", "2027-01-31T09:00:00Z").unwrap();
        assert_eq!(t.seconds, 1_801_386_000);
        let later = timestamp("--time", "+1d").unwrap();
        let earlier = timestamp("--time", "-1d").unwrap();
        assert_eq!(later.seconds - earlier.seconds, 2 * 86_400);
        for bad in ["tomorrow", "+", "+5y", "2027-13-01T00:00:00Z"] {
            assert!(timestamp("--time", bad).is_err(), "{bad}");
        }
    }
}
