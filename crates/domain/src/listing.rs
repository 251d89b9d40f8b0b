//! Listing customers: the ordering a caller asks for ([`OrderBy`]), page sizes ([`PageSize`]),
//! and the keyset [`Cursor`] that marks where the next page starts.
//!
//! Pages are found by key, not by offset: the next page holds the rows that sort strictly after
//! the last row of the previous one (ties broken by id), so a page costs the same however deep
//! it is, and rows inserted meanwhile never shift the pages.

use chrono::{DateTime, Utc};

use crate::{
    access::ListScope,
    customer::{Customer, values::CustomerId, values::InvalidValue},
    filter::Filter,
};

/// A field customers can be ordered by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SortField {
    /// `display_name`, by its text.
    DisplayName,
    /// `create_time`.
    CreateTime,
    /// `update_time`.
    UpdateTime,
    /// `employee_count`; an unknown count sorts as lower than any known one.
    EmployeeCount,
}

impl SortField {
    /// Every field that can be ordered by.
    pub const ALL: [Self; 4] = [
        Self::DisplayName,
        Self::CreateTime,
        Self::UpdateTime,
        Self::EmployeeCount,
    ];

    /// The field's name in `order_by`.
    pub fn path(self) -> &'static str {
        match self {
            Self::DisplayName => "display_name",
            Self::CreateTime => "create_time",
            Self::UpdateTime => "update_time",
            Self::EmployeeCount => "employee_count",
        }
    }

    /// This field's value in `customer`, as a cursor key.
    pub fn key_of(self, customer: &Customer) -> SortKey {
        match self {
            Self::DisplayName => SortKey::Text(customer.profile.display_name.as_str().to_owned()),
            Self::CreateTime => SortKey::Time(customer.create_time),
            Self::UpdateTime => SortKey::Time(customer.update_time),
            Self::EmployeeCount => SortKey::Int(
                customer
                    .profile
                    .employee_count
                    .map_or(UNKNOWN_EMPLOYEE_COUNT, |c| i64::from(c.get())),
            ),
        }
    }
}

/// The number an unknown `employee_count` sorts as: below every real count.
pub const UNKNOWN_EMPLOYEE_COUNT: i64 = -1;

/// One term of an ordering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SortTerm {
    /// The field.
    pub field: SortField,
    /// Whether the order is descending.
    pub descending: bool,
}

/// The order of a listing: one or more terms, each field at most once. The customer id breaks
/// ties, in the direction of the last term, so the order is total.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OrderBy(Vec<SortTerm>);

impl Default for OrderBy {
    fn default() -> Self {
        Self(vec![SortTerm {
            field: SortField::CreateTime,
            descending: false,
        }])
    }
}

impl OrderBy {
    /// Parses an AIP-132 `order_by`: comma-separated fields, each optionally followed by `desc`
    /// (or `asc`). Empty means the default, `create_time`.
    ///
    /// # Errors
    /// An unknown field, a field named twice, or anything but `asc`/`desc` after a field.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        if raw.trim().is_empty() {
            return Ok(Self::default());
        }
        let mut terms: Vec<SortTerm> = Vec::new();
        for part in raw.split(',') {
            let mut words = part.split_whitespace();
            let Some(name) = words.next() else {
                return Err(InvalidValue(format!("has an empty term in {raw:?}")));
            };
            let field = SortField::ALL.into_iter().find(|f| f.path() == name).ok_or_else(|| {
                InvalidValue(format!(
                    "cannot order by {name:?}; use one of {}",
                    SortField::ALL.map(SortField::path).join(", ")
                ))
            })?;
            let descending = match words.next() {
                None | Some("asc") => false,
                Some("desc") => true,
                Some(other) => {
                    return Err(InvalidValue(format!(
                        "expects `asc` or `desc` after {name}, got {other:?}"
                    )));
                }
            };
            if let Some(extra) = words.next() {
                return Err(InvalidValue(format!("has an unexpected {extra:?} after {name}")));
            }
            if terms.iter().any(|t| t.field == field) {
                return Err(InvalidValue(format!("names {name} more than once")));
            }
            terms.push(SortTerm { field, descending });
        }
        Ok(Self(terms))
    }

    /// The terms, most significant first (the id tie-break is implied).
    pub fn terms(&self) -> &[SortTerm] {
        &self.0
    }

    /// Whether the id tie-break is descending (it follows the last term).
    pub fn id_descending(&self) -> bool {
        self.0.last().is_some_and(|t| t.descending)
    }

    /// The canonical text of this ordering, e.g. `employee_count desc,display_name`.
    pub fn canonical(&self) -> String {
        self.0
            .iter()
            .map(|t| {
                if t.descending {
                    format!("{} desc", t.field.path())
                } else {
                    t.field.path().to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The cursor just after `customer` in this ordering.
    pub fn cursor_after(&self, customer: &Customer) -> Cursor {
        Cursor {
            keys: self.0.iter().map(|t| t.field.key_of(customer)).collect(),
            id: customer.id.clone(),
        }
    }
}

/// A value of a sort field, as held in a cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SortKey {
    /// A text field's value.
    Text(String),
    /// A timestamp field's value.
    Time(DateTime<Utc>),
    /// An integer field's value ([`UNKNOWN_EMPLOYEE_COUNT`] for unknown).
    Int(i64),
}

/// Where a page starts: the sort keys and id of the last customer of the previous page. The
/// next page holds the customers that sort strictly after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// One key per term of the [`OrderBy`], in the same order.
    pub keys: Vec<SortKey>,
    /// The tie-breaking id.
    pub id: CustomerId,
}

impl Cursor {
    /// Whether this cursor's keys have the kinds `order` needs (a cursor decoded from a token
    /// must be checked before use).
    pub fn fits(&self, order: &OrderBy) -> bool {
        self.keys.len() == order.terms().len()
            && self.keys.iter().zip(order.terms()).all(|(key, term)| {
                matches!(
                    (key, term.field),
                    (SortKey::Text(_), SortField::DisplayName)
                        | (SortKey::Time(_), SortField::CreateTime | SortField::UpdateTime)
                        | (SortKey::Int(_), SortField::EmployeeCount)
                )
            })
    }
}

/// How many customers a page holds: 1 to [`PageSize::MAX`], [`PageSize::DEFAULT`] when unset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageSize(u32);

impl PageSize {
    /// The size used when the caller asks for 0.
    pub const DEFAULT: u32 = 50;
    /// The largest page; larger requests are clamped to it.
    pub const MAX: u32 = 1000;

    /// Parses a requested page size: 0 means the default, above the maximum is clamped.
    ///
    /// # Errors
    /// When `requested` is negative.
    pub fn from_request(requested: i32) -> Result<Self, InvalidValue> {
        match u32::try_from(requested) {
            Err(_) => Err(InvalidValue(format!("must not be negative, got {requested}"))),
            Ok(0) => Ok(Self(Self::DEFAULT)),
            Ok(n) => Ok(Self(n.min(Self::MAX))),
        }
    }

    /// The number of customers.
    pub fn get(self) -> u32 {
        self.0
    }
}

/// A parsed list request.
#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    /// Which customers; `None` for all.
    pub filter: Option<Filter>,
    /// In which order.
    pub order: OrderBy,
    /// Whether soft-deleted customers are included.
    pub show_deleted: bool,
    /// How many per page.
    pub page_size: PageSize,
    /// Where the page starts; `None` for the first page.
    pub after: Option<Cursor>,
    /// Which customers the caller may see at all (from the authorizer); persistence adds it to
    /// the query as a condition, so filters, order and paging apply within it.
    pub scope: ListScope,
}

/// One page of customers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The customers, in order.
    pub customers: Vec<Customer>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<Cursor>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_by_parses_fields_with_directions() {
        let order = OrderBy::parse(" employee_count desc , display_name asc,create_time").unwrap_or_default();
        assert_eq!(order.canonical(), "employee_count desc,display_name,create_time");
    }

    #[test]
    fn order_by_defaults_to_create_time() {
        assert_eq!(
            OrderBy::parse("  ").map(|o| o.canonical()),
            Ok("create_time".to_owned())
        );
    }

    #[test]
    fn order_by_rejects_unknown_repeated_and_garbage() {
        assert!(OrderBy::parse("contact.email").is_err());
        assert!(OrderBy::parse("display_name, display_name desc").is_err());
        assert!(OrderBy::parse("display_name sideways").is_err());
        assert!(OrderBy::parse("display_name desc extra").is_err());
        assert!(OrderBy::parse("display_name,,create_time").is_err());
    }

    #[test]
    fn page_size_defaults_clamps_and_rejects_negative() {
        assert_eq!(PageSize::from_request(0).map(PageSize::get), Ok(50));
        assert_eq!(PageSize::from_request(7).map(PageSize::get), Ok(7));
        assert_eq!(PageSize::from_request(5000).map(PageSize::get), Ok(1000));
        assert!(PageSize::from_request(-1).is_err());
    }
}
