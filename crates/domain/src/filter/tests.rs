//! Unit tests of the filter language: parsing, precedence, the tree, error messages and
//! positions, limits, and property tests that the parser never panics.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::fields::FieldKind;
use super::parse::{Comparator, excerpt};
use super::*;
use crate::classification::{ClassValue, Dimension};
use chrono::TimeZone;
use proptest::prelude::*;

fn parse(input: &str) -> Filter {
    match Filter::parse(input) {
        Ok(Some(filter)) => filter,
        other => panic!("{input:?} should parse to a filter, got {other:?}"),
    }
}

fn parse_error(input: &str) -> FilterError {
    match Filter::parse(input) {
        Err(error) => error,
        Ok(parsed) => panic!("{input:?} should be rejected, got {parsed:?}"),
    }
}

/// Asserts that `input` is rejected at `position` with a message containing `needle`.
fn assert_rejected(input: &str, position: usize, needle: &str) {
    let error = parse_error(input);
    assert_eq!(error.position, position, "{input:?}: {error}");
    assert!(
        error.message.contains(needle),
        "{input:?}: expected the message to contain {needle:?}, got {error}"
    );
}

fn cmp(field: FilterField, op: CompareOp, value: FilterValue) -> Filter {
    Filter::Compare { field, op, value }
}

fn string(field: FilterField, op: CompareOp, value: &str) -> Filter {
    cmp(field, op, FilterValue::String(value.to_owned()))
}

fn name_is(value: &str) -> Filter {
    string(FilterField::DisplayName, CompareOp::Eq, value)
}

fn count(op: CompareOp, value: i64) -> Filter {
    cmp(FilterField::EmployeeCount, op, FilterValue::Int(value))
}

fn not(filter: Filter) -> Filter {
    Filter::Not(Box::new(filter))
}

// ---- Documented forms -------------------------------------------------------------

#[test]
fn empty_and_whitespace_only_filters_mean_no_filter() {
    assert_eq!(Filter::parse(""), Ok(None));
    assert_eq!(Filter::parse("  \t\n "), Ok(None));
}

#[test]
fn every_comparator_parses_on_an_integer_field() {
    for (text, op) in [
        ("=", CompareOp::Eq),
        ("!=", CompareOp::Ne),
        ("<", CompareOp::Lt),
        ("<=", CompareOp::Le),
        (">", CompareOp::Gt),
        (">=", CompareOp::Ge),
    ] {
        assert_eq!(parse(&format!("employee_count {text} 42")), count(op, 42));
        assert_eq!(parse(&format!("employee_count{text}42")), count(op, 42));
    }
}

#[test]
fn integers_may_be_negative_or_quoted() {
    assert_eq!(parse("employee_count > -5"), count(CompareOp::Gt, -5));
    assert_eq!(parse("employee_count = \"7\""), count(CompareOp::Eq, 7));
    assert_eq!(
        parse("employee_count >= -9223372036854775808"),
        count(CompareOp::Ge, i64::MIN)
    );
}

#[test]
fn string_fields_accept_equality_and_lexicographic_ordering() {
    for (text, op) in [
        ("=", CompareOp::Eq),
        ("!=", CompareOp::Ne),
        ("<", CompareOp::Lt),
        ("<=", CompareOp::Le),
        (">", CompareOp::Gt),
        (">=", CompareOp::Ge),
    ] {
        assert_eq!(
            parse(&format!("region.city {text} \"Berlin\"")),
            string(FilterField::RegionCity, op, "Berlin")
        );
    }
}

#[test]
fn every_string_field_is_recognised_by_its_path() {
    for field in FilterField::ALL {
        if matches!(field.kind(), FieldKind::String) {
            assert_eq!(
                parse(&format!("{} = x", field.path())),
                string(field, CompareOp::Eq, "x")
            );
        }
    }
}

#[test]
fn double_and_single_quotes_and_bare_words_give_the_same_string() {
    let expected = name_is("Acme");
    assert_eq!(parse("display_name = \"Acme\""), expected);
    assert_eq!(parse("display_name = 'Acme'"), expected);
    assert_eq!(parse("display_name = Acme"), expected);
}

#[test]
fn quoted_strings_resolve_escapes_and_keep_other_quotes_and_spaces() {
    assert_eq!(
        parse(r#"display_name = "say \"hi\" \\ now""#),
        name_is("say \"hi\" \\ now")
    );
    assert_eq!(parse(r"display_name = 'it\'s'"), name_is("it's"));
    assert_eq!(parse(r#"display_name = 'say "hi"'"#), name_is("say \"hi\""));
    assert_eq!(parse(r#"display_name = "O'Brien""#), name_is("O'Brien"));
    assert_eq!(
        parse("display_name = \"a (b) AND c OR NOT d\""),
        name_is("a (b) AND c OR NOT d")
    );
    assert_eq!(parse("display_name = \"\""), name_is(""));
    assert_eq!(parse("display_name = \"北京 公司\""), name_is("北京 公司"));
}

#[test]
fn keywords_can_be_values_when_quoted() {
    assert_eq!(parse("display_name = \"AND\""), name_is("AND"));
    assert_eq!(parse("display_name = 'NOT'"), name_is("NOT"));
}

#[test]
fn a_trailing_star_after_equals_is_a_prefix_match() {
    let expected = string(FilterField::DisplayName, CompareOp::StartsWith, "Acme");
    assert_eq!(parse("display_name = \"Acme*\""), expected);
    assert_eq!(parse("display_name = 'Acme*'"), expected);
    assert_eq!(parse("display_name = Acme*"), expected);
    assert_eq!(
        parse("display_name = \"*\""),
        string(FilterField::DisplayName, CompareOp::StartsWith, "")
    );
}

#[test]
fn a_star_that_is_not_trailing_or_is_escaped_is_a_literal() {
    assert_eq!(parse("display_name = \"A*cme\""), name_is("A*cme"));
    assert_eq!(parse("display_name = *Acme"), name_is("*Acme"));
    assert_eq!(parse(r#"display_name = "Acme\*""#), name_is("Acme*"));
    assert_eq!(
        parse(r#"display_name = "A\*b**""#),
        string(FilterField::DisplayName, CompareOp::StartsWith, "A*b*")
    );
    // An escaped backslash before the star leaves the star unescaped.
    assert_eq!(
        parse(r#"display_name = "A\\*""#),
        string(FilterField::DisplayName, CompareOp::StartsWith, "A\\")
    );
}

#[test]
fn enum_fields_accept_bare_quoted_and_prefixed_names() {
    let organization = cmp(FilterField::Kind, CompareOp::Eq, FilterValue::Enum("ORGANIZATION"));
    assert_eq!(parse("kind = ORGANIZATION"), organization);
    assert_eq!(parse("kind = \"ORGANIZATION\""), organization);
    assert_eq!(parse("kind = CUSTOMER_KIND_ORGANIZATION"), organization);
    assert_eq!(parse("kind='CUSTOMER_KIND_ORGANIZATION'"), organization);
    assert_eq!(
        parse("contact.job_rank != JOB_RANK_EXECUTIVE"),
        cmp(
            FilterField::ContactJobRank,
            CompareOp::Ne,
            FilterValue::Enum("EXECUTIVE")
        )
    );
    assert_eq!(
        parse("contact.decision_role = DECISION_ROLE_DECISION_MAKER"),
        cmp(
            FilterField::ContactDecisionRole,
            CompareOp::Eq,
            FilterValue::Enum("DECISION_MAKER")
        )
    );
    assert_eq!(
        parse("contact.decision_role = USER"),
        cmp(
            FilterField::ContactDecisionRole,
            CompareOp::Eq,
            FilterValue::Enum("USER")
        )
    );
}

#[test]
fn boolean_fields_accept_true_and_false() {
    assert_eq!(
        parse("key_account = true"),
        cmp(FilterField::KeyAccount, CompareOp::Eq, FilterValue::Bool(true))
    );
    assert_eq!(
        parse("churned != \"false\""),
        cmp(FilterField::Churned, CompareOp::Ne, FilterValue::Bool(false))
    );
}

#[test]
fn timestamps_are_rfc3339_bare_or_quoted_and_converted_to_utc() {
    let new_year = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    assert_eq!(
        parse("create_time >= 2026-01-01T00:00:00Z"),
        cmp(FilterField::CreateTime, CompareOp::Ge, FilterValue::Timestamp(new_year))
    );
    assert_eq!(
        parse("update_time < \"2026-01-01T01:00:00+01:00\""),
        cmp(FilterField::UpdateTime, CompareOp::Lt, FilterValue::Timestamp(new_year))
    );
    assert_eq!(
        parse("(delete_time != 2026-01-01T00:00:00.000Z)"),
        cmp(FilterField::DeleteTime, CompareOp::Ne, FilterValue::Timestamp(new_year))
    );
}

#[test]
fn repeated_fields_use_the_has_operator() {
    assert_eq!(
        parse("tags:vip"),
        Filter::Has {
            field: FilterField::Tags,
            value: FilterValue::String("vip".to_owned())
        }
    );
    assert_eq!(
        parse("tags : \"big fish\""),
        Filter::Has {
            field: FilterField::Tags,
            value: FilterValue::String("big fish".to_owned())
        }
    );
    let price = Filter::Has {
        field: FilterField::Needs,
        value: FilterValue::Enum("PRICE_SENSITIVE"),
    };
    assert_eq!(parse("needs:PRICE_SENSITIVE"), price);
    assert_eq!(parse("needs:CUSTOMER_NEED_PRICE_SENSITIVE"), price);
}

#[test]
fn not_and_minus_negate_the_following_term() {
    let churned = cmp(FilterField::Churned, CompareOp::Eq, FilterValue::Bool(true));
    assert_eq!(parse("NOT churned = true"), not(churned.clone()));
    assert_eq!(parse("-churned = true"), not(churned.clone()));
    assert_eq!(parse("NOT(churned = true)"), not(churned.clone()));
    assert_eq!(parse("-(churned = true)"), not(churned.clone()));
    assert_eq!(parse("NOT (NOT churned = true)"), not(not(churned.clone())));
}

#[test]
fn not_binds_tighter_than_or() {
    assert_eq!(
        parse("NOT display_name = a OR display_name = b"),
        Filter::Or(vec![not(name_is("a")), name_is("b")])
    );
}

#[test]
fn and_and_juxtaposition_build_one_conjunction() {
    let expected = Filter::And(vec![name_is("a"), name_is("b"), name_is("c")]);
    assert_eq!(
        parse("display_name = a AND display_name = b AND display_name = c"),
        expected
    );
    assert_eq!(parse("display_name = a display_name = b display_name = c"), expected);
    assert_eq!(
        parse("display_name = a AND display_name = b display_name = c"),
        expected
    );
    assert_eq!(parse("display_name=a\tdisplay_name=b\ndisplay_name=c"), expected);
}

#[test]
fn or_builds_one_disjunction() {
    assert_eq!(
        parse("display_name = a OR display_name = b OR display_name = c"),
        Filter::Or(vec![name_is("a"), name_is("b"), name_is("c")])
    );
}

#[test]
fn or_binds_tighter_than_and() {
    let expected = Filter::And(vec![name_is("a"), Filter::Or(vec![name_is("b"), name_is("c")])]);
    assert_eq!(
        parse("display_name = a AND display_name = b OR display_name = c"),
        expected
    );
    assert_eq!(parse("display_name = a display_name = b OR display_name = c"), expected);
    assert_eq!(
        parse("display_name = a OR display_name = b AND display_name = c"),
        Filter::And(vec![Filter::Or(vec![name_is("a"), name_is("b")]), name_is("c"),])
    );
}

#[test]
fn or_binds_tighter_than_juxtaposition() {
    assert_eq!(
        parse("display_name = a OR display_name = b display_name = c"),
        Filter::And(vec![Filter::Or(vec![name_is("a"), name_is("b")]), name_is("c"),])
    );
}

#[test]
fn parentheses_override_precedence_and_are_kept_as_groups() {
    assert_eq!(
        parse("(display_name = a AND display_name = b) OR display_name = c"),
        Filter::Or(vec![Filter::And(vec![name_is("a"), name_is("b")]), name_is("c"),])
    );
    assert_eq!(
        parse("(display_name = a AND display_name = b) AND display_name = c"),
        Filter::And(vec![Filter::And(vec![name_is("a"), name_is("b")]), name_is("c"),])
    );
    assert_eq!(parse("((( display_name = a )))"), name_is("a"));
    assert_eq!(
        parse("(display_name = a)(display_name = b)"),
        Filter::And(vec![name_is("a"), name_is("b")])
    );
}

#[test]
fn a_realistic_filter_parses_to_the_expected_tree() {
    let filter = parse(
        "kind = ORGANIZATION AND (contact.job_rank = EXECUTIVE OR contact.decision_role = \
         DECISION_MAKER) employee_count >= 100 -churned = true tags:vip display_name = \"Ac*\"",
    );
    assert_eq!(
        filter,
        Filter::And(vec![
            cmp(FilterField::Kind, CompareOp::Eq, FilterValue::Enum("ORGANIZATION")),
            Filter::Or(vec![
                cmp(
                    FilterField::ContactJobRank,
                    CompareOp::Eq,
                    FilterValue::Enum("EXECUTIVE")
                ),
                cmp(
                    FilterField::ContactDecisionRole,
                    CompareOp::Eq,
                    FilterValue::Enum("DECISION_MAKER")
                ),
            ]),
            count(CompareOp::Ge, 100),
            not(cmp(FilterField::Churned, CompareOp::Eq, FilterValue::Bool(true))),
            Filter::Has {
                field: FilterField::Tags,
                value: FilterValue::String("vip".to_owned())
            },
            string(FilterField::DisplayName, CompareOp::StartsWith, "Ac"),
        ])
    );
}

#[test]
fn fields_lists_each_referenced_field_once_in_order_of_appearance() {
    let filter = parse("contact.email = a (NOT kind = INDIVIDUAL OR contact.email = b) tags:x employee_count > 1");
    assert_eq!(
        filter.fields(),
        vec![
            FilterField::ContactEmail,
            FilterField::Kind,
            FilterField::Tags,
            FilterField::EmployeeCount,
        ]
    );
}

#[test]
fn field_paths_round_trip_and_are_unique() {
    for field in FilterField::ALL {
        assert_eq!(FilterField::from_path(field.path()), Some(field));
        assert_eq!(field.to_string(), field.path());
    }
    let mut paths: Vec<_> = FilterField::ALL.iter().map(|f| f.path()).collect();
    paths.sort_unstable();
    paths.dedup();
    assert_eq!(paths.len(), FilterField::ALL.len());
    assert_eq!(FilterField::from_path("name"), None);
}

#[test]
fn long_values_are_shortened_in_error_messages() {
    let long = "x".repeat(1000);
    let error = parse_error(&format!("employee_count = {long}"));
    assert!(error.message.len() < 200, "{error}");
    assert!(error.message.contains(&format!("`{}…`", "x".repeat(40))), "{error}");
    let error = parse_error(&format!("{long}é = 1"));
    assert!(error.message.contains(&format!("`{}…`", "x".repeat(40))), "{error}");
    assert_eq!(excerpt("ééé"), "ééé");
}

#[test]
fn the_error_displays_its_position_and_message() {
    let error = FilterError::new(7, "boom");
    assert_eq!(error.to_string(), "at position 7: boom");
}

// ---- Errors -----------------------------------------------------------------------

#[test]
fn a_bare_value_is_rejected_as_unsupported_global_search() {
    assert_rejected("Acme", 0, "global text search");
    assert_rejected("kind = INDIVIDUAL  Acme", 19, "global text search");
    assert_rejected("\"Acme Corp\"", 0, "global text search");
    assert_rejected("display_name", 0, "needs a comparator");
}

#[test]
fn an_unknown_field_is_rejected_with_the_list_of_known_fields() {
    let error = parse_error("kind = ORGANIZATION AND colour = red");
    assert_eq!(error.position, 24);
    assert!(error.message.contains("unknown field `colour`"), "{error}");
    for field in FilterField::ALL {
        assert!(error.message.contains(field.path()), "{error}");
    }
    assert_rejected("contact.nickname = x", 0, "unknown field `contact.nickname`");
    assert_rejected("名前 = x", 0, "unknown field `名前`");
}

#[test]
fn lowercase_keywords_are_rejected_with_a_hint() {
    assert_rejected("display_name = a and display_name = b", 17, "uppercase");
    assert_rejected("display_name = a or display_name = b", 17, "uppercase");
    assert_rejected("not display_name = a", 0, "uppercase");
}

#[test]
fn misplaced_keywords_are_rejected() {
    assert_rejected("AND display_name = a", 0, "keyword AND");
    assert_rejected("display_name = a OR OR display_name = b", 20, "keyword OR");
    assert_rejected("display_name = a AND", 20, "end of the filter");
    assert_rejected("display_name = a OR", 19, "end of the filter");
    assert_rejected("NOT", 3, "end of the filter");
    assert_rejected("display_name = AND", 15, "keyword AND");
    assert_rejected("NOT NOT churned = true", 4, "negation");
    assert_rejected("--churned = true", 1, "negation");
    assert_rejected("- churned = true", 0, "directly before");
}

#[test]
fn unbalanced_or_empty_parentheses_are_rejected() {
    assert_rejected("(display_name = a", 17, "missing `)` to close the `(` at position 0");
    assert_rejected("display_name = a)", 16, "unmatched `)`");
    assert_rejected("()", 0, "empty parentheses");
    assert_rejected("display_name = a ( )", 17, "empty parentheses");
    assert_rejected(")", 0, "unmatched `)`");
    assert_rejected("(churned = true AND)", 19, "found `)`");
    assert_rejected("display_name = a(b)", 16, "quote values that contain parentheses");
    assert_rejected("display_name = (", 15, "found `(`");
}

#[test]
fn a_missing_or_malformed_comparator_or_value_is_rejected() {
    assert_rejected("display_name =", 14, "expected a value after `=`");
    assert_rejected("display_name = ", 15, "end of the filter");
    assert_rejected("display_name == a", 14, "found `=`");
    assert_rejected("display_name ! a", 13, "unknown comparator `!`");
    assert_rejected("= a", 0, "expected a field name");
    assert_rejected("display_name = \"a\"b", 18, "after the closing quote");
}

#[test]
fn unterminated_strings_and_unknown_escapes_are_rejected() {
    assert_rejected("display_name = \"Acme", 15, "unterminated string");
    assert_rejected("display_name = 'Acme", 15, "unterminated string");
    assert_rejected("display_name = \"Acme\\", 15, "unterminated string");
    assert_rejected(r#"display_name = "a\qb""#, 17, "unknown escape `\\q`");
    assert_rejected(r#"display_name = "a\nb""#, 17, "unknown escape `\\n`");
    assert_rejected(r#"display_name = "a\tb""#, 17, "values cannot contain line breaks");
}

#[test]
fn control_characters_in_values_are_rejected_where_they_are() {
    assert_rejected("display_name = \"a\u{0}b\"", 17, "control character U+0000");
    assert_rejected("region.city = 'x\u{7}'", 16, "control character U+0007");
    assert_rejected("tags:\"vip\u{0}\"", 9, "U+0000");
    assert_rejected("tags:vip\u{0}", 8, "U+0000");
    assert_rejected("owner = principals/a\u{0}", 20, "U+0000");
    assert_rejected("employee_count = 1\u{1b}", 18, "U+001B");
    assert_rejected("display_name = \"new\nline\"", 19, "U+000A");
    assert_rejected("display_name = \"a\u{85}\"", 17, "U+0085");
    // Between tokens, tabs and line breaks are whitespace.
    assert_eq!(parse("display_name\t=\n\"Acme\"\r\n"), name_is("Acme"));
}

#[test]
fn echoed_input_is_escaped_and_cut() {
    let error = parse_error("nam\u{0}e = 1");
    assert!(error.message.contains("unknown field `nam\\0e`"), "{error}");
    let long = "x".repeat(4000);
    let error = parse_error(&format!("{long} = 1"));
    assert!(error.message.len() < 1000, "{}", error.message.len());
}

#[test]
fn comparators_a_field_does_not_support_are_rejected() {
    assert_rejected("display_name:Acme", 12, "repeated fields tags and needs");
    assert_rejected("employee_count : 5", 15, "`:` (has)");
    assert_rejected("kind < ORGANIZATION", 5, "supports only = and !=");
    assert_rejected("key_account >= true", 12, "supports only = and !=");
    assert_rejected("contact.job_rank > MIDDLE", 17, "an enum field");
    assert_rejected("tags = vip", 5, "repeated field");
    assert_rejected(
        "needs != PRICE_SENSITIVE",
        6,
        "tags:value".replace("tags", "needs").as_str(),
    );
}

#[test]
fn values_of_the_wrong_type_are_rejected() {
    assert_rejected("employee_count = \"abc\"", 17, "not an integer");
    assert_rejected("employee_count = 4.5", 17, "not an integer");
    assert_rejected("employee_count = 99999999999999999999", 17, "out of range");
    assert_rejected("key_account = maybe", 14, "takes true or false");
    assert_rejected("churned = TRUE", 10, "takes true or false");
    assert_rejected("create_time > 2026-13-01T00:00:00Z", 14, "not an RFC 3339 timestamp");
    assert_rejected("create_time > yesterday", 14, "2026-01-01T00:00:00Z");
    assert_rejected("update_time < 2026-01-01", 14, "RFC 3339");
}

#[test]
fn invalid_enum_values_are_rejected_with_the_allowed_names() {
    assert_rejected("kind = COMPANY", 7, "ORGANIZATION, INDIVIDUAL");
    assert_rejected("kind = CUSTOMER_KIND_UNSPECIFIED", 7, "CUSTOMER_KIND_");
    assert_rejected("kind = organization", 7, "allowed values are");
    assert_rejected("contact.job_rank = CEO", 19, "EXECUTIVE, MIDDLE, FRONTLINE");
    assert_rejected("contact.decision_role = BOSS", 24, "DECISION_MAKER, INFLUENCER, USER");
    assert_rejected(
        "needs:CHEAP",
        6,
        "PRICE_SENSITIVE, FUNCTION_FOCUSED, QUALITY_FOCUSED, SERVICE_FOCUSED",
    );
    assert_rejected("kind = JOB_RANK_EXECUTIVE", 7, "not a valid kind");
}

// ---- Classification fields --------------------------------------------------------

#[test]
fn classification_enum_specs_list_the_domain_values_in_order() {
    for dimension in Dimension::ALL {
        let field = FilterField::from_path(dimension.field()).unwrap();
        assert_eq!(field.dimension(), Some(dimension));
        let FieldKind::Enum(spec) = field.kind() else {
            panic!("{field} should be an enum field");
        };
        let names: Vec<&str> = ClassValue::all_of(dimension)
            .into_iter()
            .map(ClassValue::name)
            .collect();
        assert_eq!(spec.names, names.as_slice(), "{field}");
        assert_eq!(spec.prefix, format!("{}_", dimension.name()), "{field}");
    }
    assert_eq!(FilterField::Score.dimension(), None);
    assert_eq!(FilterField::Kind.dimension(), None);
}

#[test]
fn every_classification_value_parses_bare_prefixed_and_quoted() {
    for dimension in Dimension::ALL {
        let field = FilterField::from_path(dimension.field()).unwrap();
        for value in ClassValue::all_of(dimension) {
            let name = value.name();
            let expected = cmp(field, CompareOp::Eq, FilterValue::Enum(name));
            assert_eq!(parse(&format!("{field} = {name}")), expected);
            assert_eq!(parse(&format!("{field} = \"{name}\"")), expected);
            assert_eq!(parse(&format!("{field}='{}_{name}'", dimension.name())), expected);
            assert_eq!(
                parse(&format!("{field} != {name}")),
                cmp(field, CompareOp::Ne, FilterValue::Enum(name))
            );
        }
    }
}

#[test]
fn the_vip_accounts_going_quiet() {
    let filter = parse("grade = VIP AND lifecycle_stage = DORMANT");
    assert_eq!(
        filter,
        Filter::And(vec![
            cmp(
                FilterField::Class(Dimension::Grade),
                CompareOp::Eq,
                FilterValue::Enum("VIP")
            ),
            cmp(
                FilterField::Class(Dimension::LifecycleStage),
                CompareOp::Eq,
                FilterValue::Enum("DORMANT")
            ),
        ])
    );
    assert_eq!(
        filter.fields(),
        vec![
            FilterField::Class(Dimension::Grade),
            FilterField::Class(Dimension::LifecycleStage)
        ]
    );
    assert_eq!(
        parse("value_tier = HIGH behaviour != ONE_TIME OR size_segment = SIZE_SEGMENT_MID_MARKET -rank_tier = UNKNOWN"),
        Filter::And(vec![
            cmp(
                FilterField::Class(Dimension::ValueTier),
                CompareOp::Eq,
                FilterValue::Enum("HIGH")
            ),
            Filter::Or(vec![
                cmp(
                    FilterField::Class(Dimension::Behaviour),
                    CompareOp::Ne,
                    FilterValue::Enum("ONE_TIME")
                ),
                cmp(
                    FilterField::Class(Dimension::SizeSegment),
                    CompareOp::Eq,
                    FilterValue::Enum("MID_MARKET")
                ),
            ]),
            not(cmp(
                FilterField::Class(Dimension::RankTier),
                CompareOp::Eq,
                FilterValue::Enum("UNKNOWN")
            )),
        ])
    );
}

#[test]
fn score_takes_every_comparator_and_integers() {
    for (text, op) in [
        ("=", CompareOp::Eq),
        ("!=", CompareOp::Ne),
        ("<", CompareOp::Lt),
        ("<=", CompareOp::Le),
        (">", CompareOp::Gt),
        (">=", CompareOp::Ge),
    ] {
        let expected = cmp(FilterField::Score, op, FilterValue::Int(60));
        assert_eq!(parse(&format!("score {text} 60")), expected);
        assert_eq!(parse(&format!("score{text}\"60\"")), expected);
    }
    assert_eq!(
        parse("grade = KEY AND score >= 75"),
        Filter::And(vec![
            cmp(
                FilterField::Class(Dimension::Grade),
                CompareOp::Eq,
                FilterValue::Enum("KEY")
            ),
            cmp(FilterField::Score, CompareOp::Ge, FilterValue::Int(75)),
        ])
    );
}

#[test]
fn bad_classification_values_and_comparators_are_rejected() {
    assert_rejected("grade = GOLD", 8, "allowed values are VIP, KEY, STANDARD, POTENTIAL");
    assert_rejected("grade = GOLD", 8, "not a valid grade");
    assert_rejected("grade = GRADE_UNSPECIFIED", 8, "(optionally prefixed with GRADE_)");
    assert_rejected("grade = vip", 8, "allowed values are");
    assert_rejected("grade = \"\"", 8, "allowed values are");
    assert_rejected("rank_tier = CEO", 12, "EXECUTIVE, MIDDLE, FRONTLINE, UNKNOWN");
    assert_rejected("value_tier = TOP", 13, "HIGH, MEDIUM, LOW, NONE");
    assert_rejected(
        "lifecycle_stage = ASLEEP",
        18,
        "POTENTIAL, NEW, ACTIVE, DORMANT, CHURNED",
    );
    assert_rejected("behaviour = RARE", 12, "FREQUENT, OCCASIONAL, ONE_TIME, NONE");
    assert_rejected(
        "size_segment = HUGE",
        15,
        "ENTERPRISE, MID_MARKET, SMALL, MICRO, UNKNOWN",
    );
    // A value of another dimension, even with that dimension's prefix.
    assert_rejected("lifecycle_stage = VIP", 18, "not a valid lifecycle_stage");
    assert_rejected("grade = LIFECYCLE_STAGE_POTENTIAL", 8, "not a valid grade");

    assert_rejected("grade < KEY", 6, "supports only = and !=");
    assert_rejected("lifecycle_stage >= ACTIVE", 16, "an enum field");
    assert_rejected("grade = VIP*", 8, "allowed values are");
    assert_rejected("grade:VIP", 5, "`:` (has)");
    assert_rejected("score : 5", 6, "`:` (has)");

    assert_rejected("score = high", 8, "not an integer");
    assert_rejected("score >= 99.5", 9, "not an integer");
    assert_rejected("score = 99999999999999999999", 8, "out of range");
    assert_rejected("score", 0, "score supports =, !=, <, <=, >, >=");
    assert_rejected("grade", 0, "grade supports = and !=");
}

#[test]
fn a_trailing_star_with_another_comparator_is_rejected() {
    assert_rejected("display_name != \"Acme*\"", 16, "not with `!=`");
    assert_rejected("display_name > Acme*", 15, "only with `=`");
    assert_rejected("tags:vip*", 5, "not with `:`");
    assert_eq!(
        parse(r#"tags:"vip\*""#),
        Filter::Has {
            field: FilterField::Tags,
            value: FilterValue::String("vip*".to_owned())
        }
    );
}

#[test]
fn an_input_longer_than_the_limit_is_rejected() {
    let long = format!("display_name = \"{}\"", "a".repeat(MAX_INPUT_BYTES));
    assert_rejected(&long, MAX_INPUT_BYTES, "at most 4096");
    let blank = " ".repeat(MAX_INPUT_BYTES + 1);
    assert_rejected(&blank, MAX_INPUT_BYTES, "at most 4096");
}

#[test]
fn nesting_up_to_the_depth_limit_is_accepted_and_deeper_is_rejected() {
    let nested = |depth: usize| format!("{}churned = true{}", "(".repeat(depth), ")".repeat(depth));
    assert_eq!(
        parse(&nested(MAX_DEPTH)),
        cmp(FilterField::Churned, CompareOp::Eq, FilterValue::Bool(true))
    );
    assert_rejected(&nested(MAX_DEPTH + 1), MAX_DEPTH, "nested too deeply");
    // Far deeper than the stack would allow without the limit.
    assert_rejected(&"(".repeat(MAX_INPUT_BYTES), MAX_DEPTH, "nested too deeply");
    assert_rejected(&"NOT (".repeat(800), 5 * MAX_DEPTH + 4, "nested too deeply");
}

#[test]
fn up_to_the_restriction_limit_is_accepted_and_more_is_rejected() {
    let many = |n: usize| vec!["churned=true"; n].join(" ");
    assert!(matches!(
        parse(&many(MAX_RESTRICTIONS)),
        Filter::And(items) if items.len() == MAX_RESTRICTIONS
    ));
    assert_rejected(&many(MAX_RESTRICTIONS + 1), 13 * MAX_RESTRICTIONS, "at most 100");
}

#[test]
fn multibyte_characters_never_split_and_positions_are_byte_offsets() {
    assert_rejected("display_name = \"é\" é", 20, "global text search");
    assert_rejected("é", 0, "global text search");
    assert_rejected("display_name = é(", 17, "`(`");
}

// ---- Properties -------------------------------------------------------------------

/// How the test printer writes the operators that have two spellings.
#[derive(Debug, Clone, Copy)]
struct Style {
    juxtapose: bool,
    minus: bool,
    single_quotes: bool,
}

fn print(filter: &Filter, style: Style) -> String {
    let mut out = String::new();
    print_into(&mut out, filter, style);
    out
}

fn print_grouped(out: &mut String, filter: &Filter, style: Style) {
    out.push('(');
    print_into(out, filter, style);
    out.push(')');
}

fn print_into(out: &mut String, filter: &Filter, style: Style) {
    match filter {
        Filter::And(items) => {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(if style.juxtapose { " " } else { " AND " });
                }
                match item {
                    Filter::And(_) => print_grouped(out, item, style),
                    _ => print_into(out, item, style),
                }
            }
        }
        Filter::Or(items) => {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(" OR ");
                }
                match item {
                    Filter::And(_) | Filter::Or(_) => print_grouped(out, item, style),
                    _ => print_into(out, item, style),
                }
            }
        }
        Filter::Not(inner) => {
            out.push_str(if style.minus { "-" } else { "NOT " });
            match **inner {
                Filter::Compare { .. } | Filter::Has { .. } => print_into(out, inner, style),
                _ => print_grouped(out, inner, style),
            }
        }
        Filter::Compare { field, op, value } => {
            let symbol = Comparator::Compare(*op).symbol();
            out.push_str(&format!("{} {symbol} ", field.path()));
            print_value(out, value, *op == CompareOp::StartsWith, style);
        }
        Filter::Has { field, value } => {
            out.push_str(field.path());
            out.push(':');
            print_value(out, value, false, style);
        }
    }
}

fn print_value(out: &mut String, value: &FilterValue, prefix: bool, style: Style) {
    match value {
        FilterValue::String(text) => {
            let quote = if style.single_quotes { '\'' } else { '"' };
            out.push(quote);
            for c in text.chars() {
                match c {
                    '\\' | '*' => out.push('\\'),
                    c if c == quote => out.push('\\'),
                    _ => {}
                }
                out.push(c);
            }
            if prefix {
                out.push('*');
            }
            out.push(quote);
        }
        FilterValue::Enum(name) => out.push_str(name),
        FilterValue::Int(number) => out.push_str(&number.to_string()),
        FilterValue::Bool(flag) => out.push_str(&flag.to_string()),
        FilterValue::Timestamp(time) => {
            out.push_str(&time.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true));
        }
    }
}

fn style() -> impl Strategy<Value = Style> {
    (any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(juxtapose, minus, single_quotes)| Style {
        juxtapose,
        minus,
        single_quotes,
    })
}

/// Text a stored value could hold: any characters but control characters.
fn short_text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        any::<char>().prop_filter("no control characters", |c| !c.is_control()),
        0..8,
    )
    .prop_map(|chars| chars.into_iter().collect())
}

fn timestamp() -> impl Strategy<Value = DateTime<Utc>> {
    // Years 0001 to 9999, the range RFC 3339 can write.
    (-62_135_596_800_i64..253_402_300_799, 0_u32..1_000_000_000)
        .prop_map(|(secs, nanos)| DateTime::from_timestamp(secs, nanos).unwrap_or_default())
}

/// A random valid restriction: any field, a comparator it supports and a value of its type.
fn restriction_strategy() -> impl Strategy<Value = Filter> {
    (
        prop::sample::select(FilterField::ALL.to_vec()),
        any::<prop::sample::Index>(),
        any::<prop::sample::Index>(),
        short_text(),
        any::<i64>(),
        any::<bool>(),
        timestamp(),
    )
        .prop_map(|(field, op_index, name_index, text, number, flag, time)| {
            use CompareOp::*;
            let (ops, value): (&[CompareOp], FilterValue) = match field.kind() {
                FieldKind::String => (&[Eq, Ne, Lt, Le, Gt, Ge, StartsWith], FilterValue::String(text.clone())),
                FieldKind::Enum(spec) => (
                    &[Eq, Ne],
                    FilterValue::Enum(spec.names[name_index.index(spec.names.len())]),
                ),
                FieldKind::Int => (&[Eq, Ne, Lt, Le, Gt, Ge], FilterValue::Int(number)),
                FieldKind::Bool => (&[Eq, Ne], FilterValue::Bool(flag)),
                FieldKind::Timestamp => (&[Eq, Ne, Lt, Le, Gt, Ge], FilterValue::Timestamp(time)),
                FieldKind::RepeatedString => {
                    return Filter::Has {
                        field,
                        value: FilterValue::String(text),
                    };
                }
                FieldKind::RepeatedEnum(spec) => {
                    return Filter::Has {
                        field,
                        value: FilterValue::Enum(spec.names[name_index.index(spec.names.len())]),
                    };
                }
            };
            Filter::Compare {
                field,
                op: *op_index.get(ops),
                value,
            }
        })
}

/// A random valid tree: `And`/`Or` of two or three elements and `Not`, at most three
/// levels deep (so at most 27 restrictions and well under the length limit).
fn filter_strategy() -> impl Strategy<Value = Filter> {
    restriction_strategy().prop_recursive(3, 27, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..=3).prop_map(Filter::And),
            prop::collection::vec(inner.clone(), 2..=3).prop_map(Filter::Or),
            inner.prop_map(|filter| Filter::Not(Box::new(filter))),
        ]
    })
}

/// Strings built from the grammar's tokens, glued with or without spaces.
fn token_soup() -> impl Strategy<Value = String> {
    let tokens = vec![
        "(",
        ")",
        "AND",
        "OR",
        "NOT",
        "-",
        "and",
        "=",
        "!=",
        "<",
        "<=",
        ">",
        ">=",
        ":",
        "!",
        "display_name",
        "kind",
        "tags",
        "needs",
        "employee_count",
        "key_account",
        "create_time",
        "contact.job_rank",
        "contact.",
        ".",
        "ORGANIZATION",
        "CUSTOMER_KIND_",
        "PRICE_SENSITIVE",
        "true",
        "maybe",
        "42",
        "-5",
        "99999999999999999999",
        "2026-01-01T00:00:00Z",
        "\"",
        "'",
        "\\",
        "\\\"",
        "*",
        "\"a*\"",
        "'b'",
        "\"é\"",
        "名",
        "é",
        "\u{0}",
        "\u{1F600}",
        "\t",
        "\n",
        " ",
    ];
    prop::collection::vec(
        (prop::sample::select(tokens), prop::sample::select(vec!["", " ", "  "])),
        0..40,
    )
    .prop_map(|parts| parts.into_iter().flat_map(|(token, gap)| [token, gap]).collect())
}

/// Any error's position lies within the input (or at the length limit) and the message
/// is not empty.
fn check_error_is_sensible(input: &str, result: &Result<Option<Filter>, FilterError>) {
    if let Err(error) = result {
        assert!(error.position <= input.len().max(MAX_INPUT_BYTES), "{input:?}: {error}");
        assert!(!error.message.is_empty());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_strings_never_panic(input in any::<String>()) {
        let result = Filter::parse(&input);
        check_error_is_sensible(&input, &result);
    }

    #[test]
    fn arbitrary_printable_unicode_never_panics(input in "\\PC{0,200}") {
        let result = Filter::parse(&input);
        check_error_is_sensible(&input, &result);
    }

    #[test]
    fn strings_built_from_grammar_tokens_never_panic(input in token_soup()) {
        let result = Filter::parse(&input);
        check_error_is_sensible(&input, &result);
        if let Ok(Some(filter)) = result {
            prop_assert!(!filter.fields().is_empty());
        }
    }

    #[test]
    fn a_control_character_in_any_value_is_rejected_where_it_is(
        field in prop::sample::select(FilterField::ALL.to_vec()),
        before in "[a-zA-Z0-9_]{0,5}",
        after in "[a-zA-Z0-9_]{0,5}",
        control in prop::sample::select(
            ('\u{0}'..='\u{1f}').chain('\u{7f}'..='\u{9f}').collect::<Vec<char>>(),
        ),
        quoted in any::<bool>(),
    ) {
        // A bare value ends at whitespace, so a tab there is a separator, not part of it.
        prop_assume!(quoted || !control.is_whitespace());
        let comparator = match field.kind() {
            FieldKind::RepeatedString | FieldKind::RepeatedEnum(_) => ":",
            _ => "=",
        };
        let quote = if quoted { "\"" } else { "" };
        let input = format!("{} {comparator} {quote}{before}{control}{after}{quote}", field.path());
        let error = Filter::parse(&input).expect_err("a control character in a value");
        let position = field.path().len() + comparator.len() + 2 + quote.len() + before.len();
        prop_assert_eq!(error.position, position, "{:?}: {}", input, error);
        prop_assert!(error.message.contains("control character"), "{:?}: {}", input, error);
    }

    #[test]
    fn printed_valid_trees_parse_back_to_the_same_tree(
        filter in filter_strategy(),
        style in style(),
    ) {
        let text = print(&filter, style);
        prop_assert!(text.len() <= MAX_INPUT_BYTES, "generator made {} bytes", text.len());
        prop_assert_eq!(Filter::parse(&text), Ok(Some(filter)), "text: {}", text);
    }

    #[test]
    fn truncating_a_valid_filter_anywhere_never_panics(
        filter in filter_strategy(),
        style in style(),
        cut in any::<prop::sample::Index>(),
    ) {
        let text = print(&filter, style);
        let boundaries: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
        let end = *cut.get(&boundaries);
        let prefix = &text[..end];
        let result = Filter::parse(prefix);
        check_error_is_sensible(prefix, &result);
    }
}
