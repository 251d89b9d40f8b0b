//! Tests that span several value types.

use super::*;
use proptest::prelude::*;

#[test]
fn masked_contacts_keep_only_a_hint() {
    assert_eq!(
        Email::parse("jane@example.com").unwrap().masked().as_str(),
        "j***@example.com"
    );
    assert_eq!(
        Phone::parse("+86 138 0013 8021").unwrap().masked().as_str(),
        "+86*********21"
    );
    assert_eq!(Phone::parse("+4930123456").unwrap().masked().as_str(), "+49******56");
    let masked = Phone::parse("+8613800138021").unwrap().masked();
    assert!(masked.is_masked());
    assert_eq!(Phone::parse_or_masked(masked.as_str()), Ok(masked));
    assert!(!Phone::parse_or_masked("+8613800138021").unwrap().is_masked());
    assert!(Phone::parse_or_masked("86**21").is_err());
    assert!(Phone::parse_or_masked("+86*ab*21").is_err());
}

proptest! {
    #[test]
    fn parsing_never_panics_on_arbitrary_strings(raw in any::<String>()) {
        let _ = CustomerId::parse(&raw);
        let _ = PrincipalName::parse(&raw);
        let _ = PrincipalName::from_id(&raw);
        let _ = DisplayName::parse(&raw);
        let _ = PersonName::parse(&raw);
        let _ = JobTitle::parse(&raw);
        let _ = Email::parse(&raw);
        let _ = Phone::parse(&raw);
        let _ = CountryCode::parse(&raw);
        let _ = Subdivision::parse(&raw);
        let _ = City::parse(&raw);
        let _ = Tag::parse(&raw);
        let _ = Tags::parse(raw.split(','));
        let _ = Department::parse(&raw);
        let _ = Industry::parse(&raw);
        let _ = CustomerKind::from_name(&raw);
        let _ = JobRank::from_name(&raw);
        let _ = DecisionRole::from_name(&raw);
        let _ = CustomerNeed::from_name(&raw);
    }

    #[test]
    fn parsing_never_panics_on_near_valid_strings(
        raw in "[ +()@.\\-a-zA-Z0-9_/客\u{0}\t]{0,80}",
    ) {
        let _ = CustomerId::parse(&raw);
        let _ = PrincipalName::parse(&raw);
        let _ = Email::parse(&raw);
        let _ = Phone::parse(&raw);
        let _ = CountryCode::parse(&raw);
        let _ = Tag::parse(&raw);
        let _ = Department::parse(&raw);
    }

    #[test]
    fn numeric_constructors_never_panic(
        count in any::<i64>(),
        bits in any::<u8>(),
        code in any::<i16>(),
    ) {
        let _ = EmployeeCount::new(count);
        let _ = Needs::from_bits(bits);
        let _ = CustomerKind::from_code(code);
        let _ = JobRank::from_code(code);
        let _ = DecisionRole::from_code(code);
        let _ = CustomerNeed::from_code(code);
    }
}
