//! Activity: the aggregates kept per customer, order references and resource names.

use chrono::Duration;

use super::{ago, now};
use crate::classification::{ActivitySummary, InteractionId, Money, OrderRef, Purchase};
use crate::customer::values::{CustomerId, PrincipalName};

fn window_start() -> chrono::DateTime<chrono::Utc> {
    ago(365)
}

#[test]
fn a_first_purchase_in_the_window() {
    let at = ago(10);
    let s = ActivitySummary::default().with_purchase(Money::from_units(500), at, window_start());
    assert_eq!(
        s,
        ActivitySummary {
            window_orders: 1,
            window_revenue: Money::from_units(500),
            first_purchase: Some(at),
            last_purchase: Some(at),
        }
    );
    assert!(s.has_purchased());
    assert!(!ActivitySummary::default().has_purchased());
}

#[test]
fn a_refund_reduces_revenue_but_is_not_an_order() {
    let s = ActivitySummary::default()
        .with_purchase(Money::from_units(500), ago(10), window_start())
        .with_purchase(Money::from_units(-200), ago(5), window_start());
    assert_eq!(s.window_orders, 1);
    assert_eq!(s.window_revenue, Money::from_units(300));
    assert_eq!(s.first_purchase, Some(ago(10)));
    assert_eq!(s.last_purchase, Some(ago(10)), "a refund is not a purchase");
    // A zero amount is neither an order nor a purchase.
    let z = s.with_purchase(Money::ZERO, ago(1), window_start());
    assert_eq!(z, s);
}

#[test]
fn a_refund_alone_makes_no_buyer() {
    let s = ActivitySummary::default().with_purchase(Money::from_units(-50), ago(3), window_start());
    assert_eq!(s.window_orders, 0);
    assert_eq!(s.window_revenue, Money::from_units(-50));
    assert!(!s.has_purchased());
    assert_eq!(s.first_purchase, None);
}

#[test]
fn a_purchase_before_the_window_moves_only_first_and_last() {
    let before = ago(400);
    let s = ActivitySummary::default().with_purchase(Money::from_units(500), before, window_start());
    assert_eq!(
        s,
        ActivitySummary {
            window_orders: 0,
            window_revenue: Money::ZERO,
            first_purchase: Some(before),
            last_purchase: Some(before),
        }
    );
    // A refund before the window changes nothing at all.
    assert_eq!(s.with_purchase(Money::from_units(-100), before, window_start()), s);
    // Exactly at the window's start is inside it.
    let edge = s.with_purchase(Money::from_units(1), window_start(), window_start());
    assert_eq!(edge.window_orders, 1);
    let just_before = s.with_purchase(
        Money::from_units(1),
        window_start() - Duration::nanoseconds(1),
        window_start(),
    );
    assert_eq!(just_before.window_orders, 0);
}

#[test]
fn purchases_in_any_order_keep_the_earliest_and_latest() {
    let s = [ago(50), ago(200), ago(5), ago(100)]
        .into_iter()
        .fold(ActivitySummary::default(), |s, at| {
            s.with_purchase(Money::from_units(10), at, window_start())
        });
    assert_eq!(s.first_purchase, Some(ago(200)));
    assert_eq!(s.last_purchase, Some(ago(5)));
    assert_eq!(s.window_orders, 4);
    assert_eq!(s.window_revenue, Money::from_units(40));
}

#[test]
fn aggregates_saturate() {
    let full = ActivitySummary {
        window_orders: u32::MAX,
        window_revenue: Money::from_micros(i64::MAX),
        first_purchase: Some(ago(1)),
        last_purchase: Some(ago(1)),
    };
    let s = full.with_purchase(Money::from_micros(i64::MAX), now(), window_start());
    assert_eq!(s.window_orders, u32::MAX);
    assert_eq!(s.window_revenue, Money::from_micros(i64::MAX));
    assert_eq!(s.last_purchase, Some(now()));
}

#[test]
fn revenue_saturates_at_the_limit_of_a_sum_both_ways() {
    let largest = Money::MAX_AMOUNT;
    let ten = (0..10).fold(ActivitySummary::default(), |s, _| {
        s.with_purchase(largest, ago(1), window_start())
    });
    assert_eq!(ten.window_revenue, Money::MAX_SUM);
    assert!(ten.window_revenue.is_saturated());
    assert_eq!(ten.window_orders, 10);
    let refunds = (0..10).fold(ActivitySummary::default(), |s, _| {
        s.with_purchase(Money::from_micros(-largest.micros()), ago(1), window_start())
    });
    assert_eq!(refunds.window_revenue, Money::from_micros(-i64::MAX));
    assert!(refunds.window_revenue.is_saturated());
    // Nine fit exactly.
    let nine = (0..9).fold(ActivitySummary::default(), |s, _| {
        s.with_purchase(largest, ago(1), window_start())
    });
    assert_eq!(nine.window_revenue, Money::from_micros(9 * largest.micros()));
    assert!(!nine.window_revenue.is_saturated());
    // A saturated sum is past every threshold a policy can hold, as the true sum is.
    assert!(Money::MAX_SUM > Money::MAX_AMOUNT);
    assert_eq!(Money::saturating_from_sum(i128::MAX), Money::MAX_SUM);
    assert_eq!(Money::saturating_from_sum(i128::MIN), Money::from_micros(-i64::MAX));
    assert_eq!(Money::saturating_from_sum(-5), Money::from_micros(-5));
}

#[test]
fn purchase_amounts_are_checked() {
    assert_eq!(Purchase::check_amount(Money::from_micros(1)), Ok(Money::from_micros(1)));
    assert_eq!(
        Purchase::check_amount(Money::from_micros(-1)),
        Ok(Money::from_micros(-1))
    );
    assert_eq!(Purchase::check_amount(Money::MAX_AMOUNT), Ok(Money::MAX_AMOUNT));
    let largest_refund = Money::from_micros(-Money::MAX_AMOUNT.micros());
    assert_eq!(Purchase::check_amount(largest_refund), Ok(largest_refund));
    let zero = Purchase::check_amount(Money::ZERO).unwrap_err();
    assert!(zero.0.contains("zero"), "{zero:?}");
    let too_big = Purchase::check_amount(Money::from_micros(Money::MAX_AMOUNT.micros() + 1)).unwrap_err();
    assert_eq!(too_big.0, "must be at most 999,999,999,999.999999 in absolute value");
    assert!(Purchase::check_amount(Money::from_micros(i64::MIN)).is_err());
}

#[test]
fn order_references() {
    assert_eq!(OrderRef::parse("  SO-2025-001 ").unwrap().as_str(), "SO-2025-001");
    assert!(OrderRef::parse("   ").is_err());
    assert!(OrderRef::parse("a/b").is_err());
    assert!(OrderRef::parse("a\nb").is_err());
    assert!(OrderRef::parse(&"x".repeat(128)).is_ok());
    assert!(OrderRef::parse(&"x".repeat(129)).is_err());
    assert!(OrderRef::parse(&"订".repeat(128)).is_ok());
}

#[test]
fn purchase_names_and_orders() {
    let purchase = Purchase {
        customer: CustomerId::parse("acme").unwrap(),
        order_ref: OrderRef::parse("SO-1").unwrap(),
        amount: Money::from_units(5),
        occurred_at: ago(1),
        recorded_at: now(),
        recorded_by: PrincipalName::parse("principals/alice").unwrap(),
    };
    assert_eq!(purchase.resource_name(), "customers/acme/purchases/SO-1");
    assert!(purchase.is_order());
    let refund = Purchase {
        amount: Money::from_units(-5),
        ..purchase
    };
    assert!(!refund.is_order());
    let id = InteractionId::generate();
    assert_eq!(InteractionId::parse(&id.to_string()), Ok(id));
}
