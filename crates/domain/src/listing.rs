//! Listing customers: the ordering a caller asks for ([`OrderBy`]), page sizes ([`PageSize`]),
//! and the keyset [`Cursor`] that marks where the next page starts.
//!
//! Pages are found by key, not by offset: the next page holds the rows that sort strictly after
//! the last row of the previous one (ties broken by id), so a page costs the same however deep
//! it is, and rows inserted meanwhile never shift the pages.

use chrono::{DateTime, Utc};

use crate::{
    access::ListScope,
    classification::Dimension,
    customer::{Customer, values::CustomerId, values::InvalidValue},
    filter::Filter,
    text::echo,
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
    /// A classification dimension, by its [`field`](Dimension::field) name, in the order its
    /// values are declared (`grade`: VIP, KEY, STANDARD, POTENTIAL; see [`UNCLASSIFIED_CODE`]).
    Class(Dimension),
    /// `score`; an unclassified customer sorts as lower than any score ([`UNCLASSIFIED_SCORE`]).
    Score,
}

impl SortField {
    /// Every field that can be ordered by (the dimensions in [`Dimension::ALL`]'s order).
    pub const ALL: [Self; 5 + Dimension::COUNT] = {
        const OTHERS: [SortField; 4] = [
            SortField::DisplayName,
            SortField::CreateTime,
            SortField::UpdateTime,
            SortField::EmployeeCount,
        ];
        let mut all = [SortField::Score; 5 + Dimension::COUNT];
        let mut i = 0;
        while i < OTHERS.len() {
            all[i] = OTHERS[i];
            i += 1;
        }
        let mut d = 0;
        while d < Dimension::COUNT {
            all[i + d] = SortField::Class(Dimension::ALL[d]);
            d += 1;
        }
        all
    };

    /// The field's name in `order_by`.
    pub fn path(self) -> &'static str {
        match self {
            Self::DisplayName => "display_name",
            Self::CreateTime => "create_time",
            Self::UpdateTime => "update_time",
            Self::EmployeeCount => "employee_count",
            Self::Class(dimension) => dimension.field(),
            Self::Score => "score",
        }
    }

    /// The classification dimension this field orders by, if it is one (`score` is not).
    pub fn dimension(self) -> Option<Dimension> {
        match self {
            Self::Class(dimension) => Some(dimension),
            Self::DisplayName | Self::CreateTime | Self::UpdateTime | Self::EmployeeCount | Self::Score => None,
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
            Self::Class(dimension) => SortKey::Int(
                customer
                    .classification
                    .as_ref()
                    .map_or(UNCLASSIFIED_CODE, |c| i64::from(c.value(dimension).code())),
            ),
            Self::Score => SortKey::Int(
                customer
                    .classification
                    .as_ref()
                    .map_or(UNCLASSIFIED_SCORE, |c| i64::from(c.score)),
            ),
        }
    }
}

/// The number an unknown `employee_count` sorts as: below every real count.
pub const UNKNOWN_EMPLOYEE_COUNT: i64 = -1;

/// The number a dimension of an unclassified customer sorts as: above every storage code (codes
/// start at 1 and follow declaration order), so unclassified customers come after every value,
/// last in ascending order and first in descending order (`grade`: VIP, KEY, STANDARD,
/// POTENTIAL, then unclassified).
pub const UNCLASSIFIED_CODE: i64 = i16::MAX as i64;

/// The number the `score` of an unclassified customer sorts as: below every real score (0 to
/// 100), so unclassified customers come first in ascending order and last in descending order,
/// as an unknown `employee_count` does.
pub const UNCLASSIFIED_SCORE: i64 = -1;

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
                return Err(InvalidValue(format!("has an empty term in {}", echo(raw))));
            };
            let field = SortField::ALL.into_iter().find(|f| f.path() == name).ok_or_else(|| {
                InvalidValue(format!(
                    "cannot order by {}; use one of {}",
                    echo(name),
                    SortField::ALL.map(SortField::path).join(", ")
                ))
            })?;
            let descending = match words.next() {
                None | Some("asc") => false,
                Some("desc") => true,
                Some(other) => {
                    return Err(InvalidValue(format!(
                        "expects `asc` or `desc` after {name}, got {}",
                        echo(other)
                    )));
                }
            };
            if let Some(extra) = words.next() {
                return Err(InvalidValue(format!("has an unexpected {} after {name}", echo(extra))));
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
    /// An integer field's value ([`UNKNOWN_EMPLOYEE_COUNT`] for unknown); for a classification
    /// dimension its value's storage code ([`UNCLASSIFIED_CODE`] for unclassified), for `score`
    /// the score ([`UNCLASSIFIED_SCORE`] for unclassified).
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
                        | (
                            SortKey::Int(_),
                            SortField::EmployeeCount | SortField::Class(_) | SortField::Score
                        )
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
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::{
        classification::{
            ClassSource, ClassValue, Classification, ClassificationPolicy, DimensionClass, Grade, LifecycleStage,
            PolicyVersionId, Rfm,
        },
        customer::{
            Contact, CustomerProfile,
            values::{CustomerKind, DisplayName, Needs, Tags},
        },
    };

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

    fn customer(name: &str) -> Customer {
        let profile = CustomerProfile {
            display_name: DisplayName::parse(name).unwrap(),
            kind: CustomerKind::Organization,
            contact: Contact::default(),
            industry: None,
            employee_count: None,
            region: None,
            needs: Needs::empty(),
            key_account: false,
            churned: false,
            owner: None,
            department: None,
            tags: Tags::default(),
        };
        Customer::create(CustomerId::generate(), profile, DateTime::UNIX_EPOCH)
    }

    /// A classification whose grade and lifecycle stage are the given ones, every other dimension
    /// its first value.
    fn classification(grade: Grade, stage: LifecycleStage, score: u8) -> Classification {
        let class = |dimension: Dimension| {
            let value = match dimension {
                Dimension::Grade => ClassValue::Grade(grade),
                Dimension::LifecycleStage => ClassValue::LifecycleStage(stage),
                other => ClassValue::all_of(other)[0],
            };
            DimensionClass {
                value,
                source: ClassSource::Rule,
                reasons: Vec::new(),
                rule_value: value,
                override_: None,
                since: DateTime::UNIX_EPOCH,
            }
        };
        Classification {
            dimensions: Dimension::ALL.map(class),
            rfm: Rfm::default(),
            score,
            service_plan: ClassificationPolicy::default().vip_plan,
            policy_version: PolicyVersionId::new(1),
            classify_time: DateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn classification_fields_parse_by_their_dimension_field_names() {
        let order =
            OrderBy::parse("grade, lifecycle_stage desc, value_tier, rank_tier, behaviour, size_segment, score desc")
                .unwrap();
        assert_eq!(
            order.canonical(),
            "grade,lifecycle_stage desc,value_tier,rank_tier,behaviour,size_segment,score desc"
        );
        assert!(order.id_descending());
        for dimension in Dimension::ALL {
            let field = SortField::ALL
                .into_iter()
                .find(|f| f.dimension() == Some(dimension))
                .unwrap();
            assert_eq!(field.path(), dimension.field());
        }
        assert_eq!(SortField::Score.dimension(), None);
        assert!(OrderBy::parse("grade, grade desc").is_err());
        assert!(OrderBy::parse("classification").is_err());
        let error = OrderBy::parse("tier").unwrap_err();
        assert!(error.0.contains("grade") && error.0.contains("score"), "{}", error.0);
    }

    #[test]
    fn sort_field_paths_are_unique() {
        let mut paths: Vec<_> = SortField::ALL.iter().map(|f| f.path()).collect();
        paths.sort_unstable();
        paths.dedup();
        assert_eq!(paths.len(), SortField::ALL.len());
    }

    #[test]
    fn a_dimension_sorts_by_its_storage_code_and_unclassified_after_every_value() {
        let mut vip = customer("Acme");
        vip.classification = Some(classification(Grade::Vip, LifecycleStage::Dormant, 91));
        let mut potential = customer("Beta");
        potential.classification = Some(classification(Grade::Potential, LifecycleStage::Potential, 0));
        let unclassified = customer("Gamma");

        assert_eq!(SortField::Class(Dimension::Grade).key_of(&vip), SortKey::Int(1));
        assert_eq!(SortField::Class(Dimension::Grade).key_of(&potential), SortKey::Int(4));
        assert_eq!(
            SortField::Class(Dimension::Grade).key_of(&unclassified),
            SortKey::Int(UNCLASSIFIED_CODE)
        );
        assert_eq!(
            SortField::Class(Dimension::LifecycleStage).key_of(&vip),
            SortKey::Int(4)
        );
        assert_eq!(
            SortField::Class(Dimension::LifecycleStage).key_of(&potential),
            SortKey::Int(1)
        );
        assert_eq!(SortField::Class(Dimension::ValueTier).key_of(&vip), SortKey::Int(1));
        assert_eq!(
            SortField::Class(Dimension::Behaviour).key_of(&unclassified),
            SortKey::Int(UNCLASSIFIED_CODE)
        );
        // Declaration order, not alphabetical: VIP < KEY < STANDARD < POTENTIAL < unclassified.
        let codes: Vec<i64> = Grade::ALL.iter().map(|g| i64::from(g.code())).collect();
        assert!(codes.windows(2).all(|w| w[0] < w[1]));
        assert!(codes.iter().all(|c| *c < UNCLASSIFIED_CODE));
        for dimension in Dimension::ALL {
            assert!(
                ClassValue::all_of(dimension)
                    .iter()
                    .all(|v| (1..UNCLASSIFIED_CODE).contains(&i64::from(v.code())))
            );
        }
    }

    #[test]
    fn score_sorts_unclassified_below_every_score() {
        let mut zero = customer("Acme");
        zero.classification = Some(classification(Grade::Potential, LifecycleStage::Potential, 0));
        let mut high = customer("Beta");
        high.classification = Some(classification(Grade::Vip, LifecycleStage::Active, 100));
        assert_eq!(SortField::Score.key_of(&zero), SortKey::Int(0));
        assert_eq!(SortField::Score.key_of(&high), SortKey::Int(100));
        assert_eq!(
            SortField::Score.key_of(&customer("Gamma")),
            SortKey::Int(UNCLASSIFIED_SCORE)
        );
        let (SortKey::Int(unclassified), SortKey::Int(lowest)) = (
            SortField::Score.key_of(&customer("Gamma")),
            SortField::Score.key_of(&zero),
        ) else {
            panic!("score keys are integers");
        };
        assert!(unclassified < lowest);
    }

    #[test]
    fn a_cursor_after_a_classified_customer_holds_its_keys_and_fits_its_order() {
        let mut vip = customer("Acme");
        vip.classification = Some(classification(Grade::Vip, LifecycleStage::Dormant, 91));
        let order = OrderBy::parse("grade, score desc, display_name").unwrap();
        let cursor = order.cursor_after(&vip);
        assert_eq!(
            cursor,
            Cursor {
                keys: vec![SortKey::Int(1), SortKey::Int(91), SortKey::Text("Acme".to_owned())],
                id: vip.id.clone(),
            }
        );
        assert!(cursor.fits(&order));
        // The keys a page token carries are of the kinds the order needs, and no other.
        assert!(!cursor.fits(&OrderBy::parse("grade, score desc").unwrap()));
        assert!(!cursor.fits(&OrderBy::parse("display_name, score, grade").unwrap()));
        assert!(!cursor.fits(&OrderBy::parse("create_time, score desc, display_name").unwrap()));

        let unclassified = OrderBy::parse("lifecycle_stage desc, score")
            .unwrap()
            .cursor_after(&customer("Beta"));
        assert_eq!(
            unclassified.keys,
            vec![SortKey::Int(UNCLASSIFIED_CODE), SortKey::Int(UNCLASSIFIED_SCORE)]
        );
        for field in SortField::ALL {
            let order = OrderBy(vec![SortTerm {
                field,
                descending: false,
            }]);
            assert!(order.cursor_after(&vip).fits(&order), "{}", field.path());
            assert!(order.cursor_after(&customer("Beta")).fits(&order), "{}", field.path());
        }
    }
}
