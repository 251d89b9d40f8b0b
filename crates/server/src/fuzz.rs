//! A bounded fuzz run, in every `make test`: the text a caller controls that the server parses
//! itself (the `ListCustomers` filter, page tokens of several lists, update masks) is thrown at
//! the same functions the handlers call, [`CASES`] generated inputs per property. Nothing may
//! panic; every input either parses or becomes a field violation under the request's path, and
//! the INVALID_ARGUMENT it turns into stays small enough for any client to receive.
//!
//! Inputs are arbitrary strings (any Unicode, control characters included), arbitrary bytes read
//! as UTF-8 the way a lenient client would send them, strings made of the grammar's own tokens,
//! and genuine values with one character changed or cut short.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crm_api::{
    convert::customers::{UPDATABLE_PATHS, changes},
    crm::v1 as pb,
};
use crm_domain::{
    error::Violations,
    filter::Filter,
    listing::{Cursor, OrderBy, SortKey},
};
use proptest::prelude::*;
use tonic::Code;

use crate::{
    customers::service::page_query,
    page_token::{List, PageQuery, PageTokens, customer_cursor_text, parse_customer_cursor},
    status::invalid_argument,
};

/// Generated inputs per property.
const CASES: u32 = 10_000;

/// The most bytes an INVALID_ARGUMENT may take on the wire (message plus encoded details):
/// below the 8 KiB of headers the strictest gRPC clients accept.
const MAX_ERROR_BYTES: usize = 7 * 1024;

/// Asserts that the violations are all under `field` and that their status stays small.
fn check_violations(v: &Violations, field: &str) -> Result<(), TestCaseError> {
    prop_assert!(!v.is_empty());
    for violation in v.as_slice() {
        prop_assert!(
            violation.field.starts_with(field),
            "{} is not under {field}",
            violation.field
        );
        prop_assert!(!violation.description.is_empty());
    }
    let status = invalid_argument(v);
    prop_assert_eq!(status.code(), Code::InvalidArgument);
    let size = status.message().len() + status.details().len();
    prop_assert!(size <= MAX_ERROR_BYTES, "the error is {size} bytes");
    Ok(())
}

/// Arbitrary bytes as a lenient client would send them in a proto string (invalid UTF-8
/// replaced: prost refuses invalid UTF-8 before a handler runs).
fn bytes_as_text() -> impl Strategy<Value = String> {
    prop::collection::vec(any::<u8>(), 0..300).prop_map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
}

/// Strings made of filter tokens, so that most inputs get past the first character.
fn filter_soup() -> impl Strategy<Value = String> {
    let token = prop::sample::select(vec![
        "display_name",
        "tags",
        "needs",
        "employee_count",
        "create_time",
        "grade",
        "score",
        "contact.email",
        "kind",
        "owner",
        "=",
        "!=",
        "<",
        ">=",
        ":",
        "AND",
        "OR",
        "NOT",
        "-",
        "(",
        ")",
        "\"",
        "'",
        "\\",
        "*",
        "\"Acme*\"",
        "'x'",
        "42",
        "-7",
        "true",
        "VIP",
        "2026-01-01T00:00:00Z",
        "\u{0}",
        "\u{7}",
        "\t",
        "\n",
        "客户",
        " ",
        "  ",
    ]);
    prop::collection::vec(token, 0..40).prop_map(|tokens| tokens.concat())
}

/// A filter as a handler parses it: `Ok` or violations under `filter`.
fn parse_filter(input: &str) -> Result<(), TestCaseError> {
    if let Err(error) = Filter::parse(input) {
        prop_assert!(error.position <= input.len().max(crm_domain::filter::MAX_INPUT_BYTES));
        let mut v = Violations::new();
        v.add("filter", error.to_string());
        check_violations(&v, "filter")?;
    }
    Ok(())
}

/// `token` with the character at `index` (of its characters) replaced by `with`, or cut there.
fn tampered(token: &str, index: prop::sample::Index, with: char, cut: bool) -> Option<String> {
    let chars: Vec<char> = token.chars().collect();
    let at = index.index(chars.len());
    if cut {
        return Some(chars[..at].iter().collect());
    }
    if chars[at] == with {
        return None;
    }
    let mut changed = chars;
    changed[at] = with;
    Some(changed.into_iter().collect())
}

fn base64url_char() -> impl Strategy<Value = char> {
    prop::sample::select(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
            .chars()
            .collect::<Vec<_>>(),
    )
}

/// Genuine tokens of lists with different cursors and queries (customers, the audit log, the
/// classification history, policy versions), each with the query it belongs to.
fn genuine_tokens() -> (PageTokens, Vec<(PageQuery, String)>) {
    let tokens = PageTokens::new(b"fuzzing key").unwrap();
    let order = OrderBy::parse("display_name desc").unwrap();
    let customers = page_query("kind = ORGANIZATION", &order, false);
    let cursor = Cursor {
        keys: vec![SortKey::Text("Acme \"quoted\" 客户".to_owned())],
        id: crm_domain::customer::values::CustomerId::generate(),
    };
    let customer_cursor = customer_cursor_text(&cursor);
    assert_eq!(parse_customer_cursor(&customer_cursor, &order), Some(cursor));
    let audit = PageQuery::new(List::AuditEvents)
        .param("actor", "principals/alice")
        .param("resource", "customers/acme")
        .param("action", "UpdateCustomer")
        .param("start_time", "")
        .param("end_time", "");
    let history = PageQuery::new(List::ClassificationHistory)
        .param("parent", "customers/-")
        .param("dimension", "0")
        .param("value", "None")
        .param("start_time", "")
        .param("end_time", "");
    let policies = PageQuery::new(List::PolicyVersions);
    let genuine = [
        (customers, customer_cursor.as_str()),
        (audit, "1767225600000000~0193f0a0-0000-7000-8000-000000000000"),
        (history, "0193f0a0-0000-7000-8000-000000000000"),
        (policies, "2"),
    ]
    .into_iter()
    .map(|(query, cursor)| {
        let token = tokens.encode(&query, cursor);
        (query, token)
    })
    .collect();
    (tokens, genuine)
}

/// Whether `token` is accepted for `query`, and when it is not, that the violation is small and
/// at `page_token`.
fn accepted(tokens: &PageTokens, query: &PageQuery, token: &str) -> Result<bool, TestCaseError> {
    let mut v = Violations::new();
    let cursor = tokens.after(&mut v, query, token, |c| Some(c.to_owned()));
    if cursor.is_none() {
        check_violations(&v, "page_token")?;
    }
    Ok(cursor.is_some())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn filters_of_arbitrary_text_parse_or_give_a_small_filter_error(input in any::<String>()) {
        parse_filter(&input)?;
    }

    #[test]
    fn filters_of_arbitrary_bytes_parse_or_give_a_small_filter_error(input in bytes_as_text()) {
        parse_filter(&input)?;
    }

    #[test]
    fn filters_of_grammar_tokens_parse_or_give_a_small_filter_error(input in filter_soup()) {
        parse_filter(&input)?;
    }

    #[test]
    fn page_tokens_of_arbitrary_text_are_rejected(input in any::<String>(), bytes in bytes_as_text()) {
        let (tokens, genuine) = genuine_tokens();
        for garbage in [input, bytes] {
            for (query, _) in &genuine {
                if !garbage.is_empty() {
                    prop_assert!(!accepted(&tokens, query, &garbage)?, "{garbage:?} was accepted");
                }
            }
        }
    }

    #[test]
    fn tampered_page_tokens_are_rejected(
        list in any::<prop::sample::Index>(),
        index in any::<prop::sample::Index>(),
        with in base64url_char(),
        cut in any::<bool>(),
    ) {
        let (tokens, genuine) = genuine_tokens();
        let (query, token) = list.get(&genuine);
        prop_assert!(accepted(&tokens, query, token)?);
        if let Some(changed) = tampered(token, index, with, cut).filter(|changed| !changed.is_empty()) {
            prop_assert!(!accepted(&tokens, query, &changed)?, "{changed:?} was accepted");
        }
    }

    #[test]
    fn update_masks_of_arbitrary_paths_parse_or_name_each_bad_path(
        paths in prop::collection::vec(
            prop_oneof![
                any::<String>(),
                prop::sample::select(UPDATABLE_PATHS.to_vec()).prop_map(str::to_owned),
                Just("*".to_owned()),
                "[a-z._]{0,30}",
                Just("x".repeat(10_000)),
            ],
            0..30,
        ),
        display_name in prop_oneof![Just(String::new()), Just("Acme".to_owned()), any::<String>()],
    ) {
        let customer = pb::Customer {
            display_name,
            kind: pb::CustomerKind::Organization as i32,
            ..Default::default()
        };
        let mask = prost_types::FieldMask { paths: paths.clone() };
        let mut v = Violations::new();
        let parsed = changes(&mut v, &customer, Some(&mask));
        let star = paths.iter().any(|p| p.trim() == "*");
        if star && paths.len() > 1 {
            prop_assert!(v.as_slice().iter().any(|f| f.field == "update_mask.paths"), "{v}");
        }
        for (i, path) in paths.iter().enumerate() {
            if !star && !UPDATABLE_PATHS.contains(&path.trim()) {
                let field = format!("update_mask.paths[{i}]");
                prop_assert!(
                    v.as_slice().iter().any(|f| f.field == field),
                    "{path:?} at {i} was not reported"
                );
            }
        }
        if v.is_empty() {
            prop_assert!(!parsed.is_empty());
        } else {
            let all_under_mask_or_customer = v
                .as_slice()
                .iter()
                .all(|f| f.field.starts_with("update_mask") || f.field.starts_with("customer."));
            prop_assert!(all_under_mask_or_customer, "{v}");
            let status = invalid_argument(&v);
            let size = status.message().len() + status.details().len();
            prop_assert!(size <= MAX_ERROR_BYTES, "the error is {size} bytes");
        }
    }
}

#[test]
fn a_ten_thousand_character_mask_path_is_echoed_cut() {
    let customer = pb::Customer::default();
    let mask = prost_types::FieldMask {
        paths: vec!["p".repeat(10_000)],
    };
    let mut v = Violations::new();
    let _ = changes(&mut v, &customer, Some(&mask));
    let description = &v.as_slice()[0].description;
    assert!(description.starts_with("unknown field \"pppp"), "{description}");
    assert!(description.len() < 400, "{}", description.len());
}

#[test]
fn ten_thousand_violations_make_an_error_of_a_few_kilobytes() {
    let mut v = Violations::new();
    for i in 0..10_000 {
        v.add(
            format!("customer.tags[{i}]"),
            "must be 1 to 64 characters of a-z, 0-9, _ and -",
        );
    }
    let status = invalid_argument(&v);
    let size = status.message().len() + status.details().len();
    assert!(size <= MAX_ERROR_BYTES, "{size}");
    assert!(
        status.message().starts_with("10000 invalid fields: customer.tags[0]: "),
        "{}",
        status.message()
    );
    assert!(status.message().contains("more ("), "{}", status.message());
}
