//! Activity that drives classification (DESIGN.md §2.2): [`Purchase`]s, [`Interaction`]s, and
//! the per-customer [`ActivitySummary`] kept up to date as purchases are recorded.

use chrono::{DateTime, Utc};

use super::policy::Money;
use crate::customer::values::{CustomerId, InvalidValue, PrincipalName};

uuid_id!(
    /// The id of a recorded interaction (`customers/{customer}/interactions/{id}`).
    InteractionId
);

/// The caller's own id for an order: 1 to 128 printable characters without `/`. Recording the
/// same order twice for a customer is a no-op.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrderRef(String);

impl OrderRef {
    /// The longest order reference, in characters.
    pub const MAX_CHARS: usize = 128;

    /// Accepts a trimmed, non-empty reference of at most 128 characters without control
    /// characters or `/`.
    ///
    /// # Errors
    /// [`InvalidValue`] saying what is wrong.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(InvalidValue("must not be empty".to_owned()));
        }
        if trimmed.chars().count() > Self::MAX_CHARS {
            return Err(InvalidValue(format!("must be at most {} characters", Self::MAX_CHARS)));
        }
        if trimmed.chars().any(|c| c.is_control() || c == '/') {
            return Err(InvalidValue("must not contain control characters or '/'".to_owned()));
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// The reference.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for OrderRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A recorded purchase (or, with a negative amount, a refund).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Purchase {
    /// The customer who bought.
    pub customer: CustomerId,
    /// The caller's order id, unique per customer.
    pub order_ref: OrderRef,
    /// The amount in the reporting currency; negative for a refund.
    pub amount: Money,
    /// When the purchase happened.
    pub occurred_at: DateTime<Utc>,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
    /// Who recorded it.
    pub recorded_by: PrincipalName,
}

impl Purchase {
    /// The resource name, `customers/{customer}/purchases/{order_ref}`.
    pub fn resource_name(&self) -> String {
        format!(
            "customers/{}/purchases/{}",
            self.customer.as_str(),
            self.order_ref.as_str()
        )
    }

    /// Whether this counts as an order (refunds do not).
    pub fn is_order(&self) -> bool {
        self.amount.is_positive()
    }

    /// Accepts `amount` as a purchase's (positive) or a refund's (negative): not zero, and at
    /// most [`Money::MAX_AMOUNT`] (999,999,999,999.999999 units) in absolute value.
    ///
    /// # Errors
    /// [`InvalidValue`] saying what is wrong.
    pub fn check_amount(amount: Money) -> Result<Money, InvalidValue> {
        if amount == Money::ZERO {
            return Err(InvalidValue(
                "must not be zero: positive for a purchase, negative for a refund".to_owned(),
            ));
        }
        if !amount.is_amount() {
            return Err(InvalidValue(
                "must be at most 999,999,999,999.999999 in absolute value".to_owned(),
            ));
        }
        Ok(amount)
    }
}

coded_enum!(
    /// How an interaction happened.
    InteractionChannel {
        /// A phone call.
        Phone = (1, "PHONE"),
        /// An e-mail exchange.
        Email = (2, "EMAIL"),
        /// A meeting.
        Meeting = (3, "MEETING"),
        /// A chat conversation.
        Chat = (4, "CHAT"),
        /// A support ticket.
        SupportTicket = (5, "SUPPORT_TICKET"),
    }
);

/// The longest interaction note, in characters.
pub const MAX_NOTE_CHARS: usize = 2000;

/// A recorded interaction with a customer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interaction {
    /// Its id.
    pub id: InteractionId,
    /// The customer.
    pub customer: CustomerId,
    /// How it happened.
    pub channel: InteractionChannel,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// What was said or done (may be empty).
    pub note: String,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
    /// Who recorded it.
    pub recorded_by: PrincipalName,
}

impl Interaction {
    /// The resource name, `customers/{customer}/interactions/{id}`.
    pub fn resource_name(&self) -> String {
        format!("customers/{}/interactions/{}", self.customer.as_str(), self.id)
    }
}

/// A customer's purchase aggregates, kept in the customer's row and updated in the same
/// transaction as each recorded purchase; batch re-classification recomputes the window sums
/// (purchases age out of the window as time passes).
///
/// Orders count positive purchases only; refunds reduce revenue. First and last purchase are over
/// all time and consider positive purchases only.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ActivitySummary {
    /// Orders within the window.
    pub window_orders: u32,
    /// Revenue within the window, refunds subtracted.
    pub window_revenue: Money,
    /// The earliest purchase, ever.
    pub first_purchase: Option<DateTime<Utc>>,
    /// The latest purchase, ever.
    pub last_purchase: Option<DateTime<Utc>>,
}

impl ActivitySummary {
    /// Whether the customer ever bought.
    pub fn has_purchased(&self) -> bool {
        self.last_purchase.is_some()
    }

    /// These aggregates with `purchase` added. `window_start` is the start of the trailing
    /// window at the time of recording; a purchase before it changes only first/last purchase.
    #[must_use]
    pub fn with_purchase(self, amount: Money, occurred_at: DateTime<Utc>, window_start: DateTime<Utc>) -> Self {
        let mut next = self;
        if occurred_at >= window_start {
            next.window_revenue = next.window_revenue.saturating_add(amount);
            if amount.is_positive() {
                next.window_orders = next.window_orders.saturating_add(1);
            }
        }
        if amount.is_positive() {
            next.first_purchase = Some(next.first_purchase.map_or(occurred_at, |t| t.min(occurred_at)));
            next.last_purchase = Some(next.last_purchase.map_or(occurred_at, |t| t.max(occurred_at)));
        }
        next
    }
}
