//! The customer aggregate: [`Customer`], the fields a caller may change ([`CustomerProfile`]),
//! partial updates ([`ProfileChange`]), and the state transitions (update, soft delete,
//! undelete) with their rules. [`service::CustomerService`] runs them against a
//! [`crate::ports::CustomerRepository`].

pub mod service;
pub mod values;

use chrono::{DateTime, SubsecRound, Utc};

use crate::classification::{ActivitySummary, Classification};

use self::values::{
    City, CountryCode, CustomerId, CustomerKind, DecisionRole, Department, DisplayName, Email, EmployeeCount, Industry,
    InvalidValue, JobRank, JobTitle, Needs, PersonName, Phone, PrincipalName, Region, Subdivision, Tags,
};

/// The current time, truncated to whole microseconds: the finest precision both SQLite and
/// PostgreSQL store, so that a timestamp read back equals the one written (keyset cursors rely
/// on that).
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// A customer's primary contact person. Every part is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contact {
    /// The contact's full name.
    pub full_name: Option<PersonName>,
    /// The contact's job title as written by them.
    pub job_title: Option<JobTitle>,
    /// The contact's level in their organisation, when stated.
    pub job_rank: Option<JobRank>,
    /// The contact's part in purchase decisions, when known.
    pub decision_role: Option<DecisionRole>,
    /// The contact's e-mail address (personal data).
    pub email: Option<Email>,
    /// The contact's phone number in E.164 (personal data).
    pub phone: Option<Phone>,
}

impl Contact {
    /// Whether nothing about the contact is known.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The contact as shown to a caller without `customers.read_contact`: e-mail and phone
    /// masked (see [`Email::masked`], [`Phone::masked`]), everything else as is.
    #[must_use]
    pub fn masked(&self) -> Self {
        Self {
            email: self.email.as_ref().map(Email::masked),
            phone: self.phone.as_ref().map(Phone::masked),
            ..self.clone()
        }
    }
}

/// Everything about a customer that a caller sets; the rest of [`Customer`] is kept by the
/// service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerProfile {
    /// The name people read.
    pub display_name: DisplayName,
    /// Organisation or individual.
    pub kind: CustomerKind,
    /// The primary contact.
    pub contact: Contact,
    /// The industry code, when known.
    pub industry: Option<Industry>,
    /// Head count, when known.
    pub employee_count: Option<EmployeeCount>,
    /// Location, when known.
    pub region: Option<Region>,
    /// What the customer cares about when buying.
    pub needs: Needs,
    /// Strategic importance.
    pub key_account: bool,
    /// The customer said they stopped.
    pub churned: bool,
    /// The responsible principal, when assigned.
    pub owner: Option<PrincipalName>,
    /// The owning department, when assigned.
    pub department: Option<Department>,
    /// Free labels.
    pub tags: Tags,
}

/// The optimistic-concurrency version of a stored customer: 1 when created, +1 on every write.
/// The etag callers see is derived from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(i64);

impl Version {
    /// The version of a newly created customer.
    pub const FIRST: Self = Self(1);

    /// Wraps a stored version number.
    pub fn new(value: i64) -> Self {
        Self(value)
    }

    /// The number as stored.
    pub fn get(self) -> i64 {
        self.0
    }

    /// The version after one more write.
    pub fn next(self) -> Self {
        Self(self.0.saturating_add(1))
    }

    /// The etag callers see for this version: opaque to callers (today the version number, so
    /// that it is easy to pass around in shells and JSON).
    pub fn etag(self) -> String {
        self.0.to_string()
    }

    /// Whether `etag` (as sent by a caller) names this version.
    pub fn matches_etag(self, etag: &str) -> bool {
        etag.trim() == self.etag()
    }
}

/// A stored customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    /// The id in `customers/{id}`.
    pub id: CustomerId,
    /// What callers set.
    pub profile: CustomerProfile,
    /// When it was created.
    pub create_time: DateTime<Utc>,
    /// When it was last written.
    pub update_time: DateTime<Utc>,
    /// When it was soft-deleted, if it is.
    pub delete_time: Option<DateTime<Utc>>,
    /// The concurrency version of this state.
    pub version: Version,
    /// Purchase aggregates, kept by the service.
    pub activity: ActivitySummary,
    /// The classes on all six dimensions; `None` only for a customer stored before
    /// classification existed and not re-classified since.
    pub classification: Option<Classification>,
}

impl Customer {
    /// The resource name, `customers/{id}`.
    pub fn resource_name(&self) -> String {
        resource_name(&self.id)
    }

    /// The etag of this state.
    pub fn etag(&self) -> String {
        self.version.etag()
    }

    /// Whether the customer is soft-deleted.
    pub fn is_deleted(&self) -> bool {
        self.delete_time.is_some()
    }

    /// A new customer with version 1, created `now`.
    pub fn create(id: CustomerId, profile: CustomerProfile, now: DateTime<Utc>) -> Self {
        Self {
            id,
            profile,
            create_time: now,
            update_time: now,
            delete_time: None,
            version: Version::FIRST,
            activity: ActivitySummary::default(),
            classification: None,
        }
    }

    /// This customer with `changes` applied, stamped `now` and one version on.
    ///
    /// # Errors
    /// [`crate::error::CustomerError::Invalid`] when the changes are inconsistent with the
    /// stored customer (e.g. a city for a customer whose region has no country).
    pub fn updated(&self, changes: &[ProfileChange], now: DateTime<Utc>) -> Result<Self, crate::error::CustomerError> {
        let mut next = self.clone();
        let mut violations = crate::error::Violations::new();
        for change in changes {
            change.apply(&mut next.profile, &mut violations);
        }
        if !violations.is_empty() {
            return Err(crate::error::CustomerError::Invalid(violations));
        }
        next.update_time = now;
        next.version = self.version.next();
        Ok(next)
    }

    /// This customer soft-deleted at `now`, one version on.
    pub fn deleted(&self, now: DateTime<Utc>) -> Self {
        Self {
            delete_time: Some(now),
            update_time: now,
            version: self.version.next(),
            ..self.clone()
        }
    }

    /// This customer restored at `now`, one version on.
    pub fn undeleted(&self, now: DateTime<Utc>) -> Self {
        Self {
            delete_time: None,
            update_time: now,
            version: self.version.next(),
            ..self.clone()
        }
    }
}

/// The resource name of the customer with this id.
pub fn resource_name(id: &CustomerId) -> String {
    format!("customers/{id}")
}

/// Parses a resource name `customers/{id}`.
///
/// # Errors
/// When the name has another collection or its id is not a valid [`CustomerId`].
pub fn parse_resource_name(name: &str) -> Result<CustomerId, InvalidValue> {
    match name.strip_prefix("customers/") {
        Some(id) => CustomerId::parse(id).map_err(|InvalidValue(reason)| {
            InvalidValue(format!("must be `customers/{{id}}` with a valid id: {reason}"))
        }),
        None => Err(InvalidValue(format!(
            "must be a customer resource name `customers/{{id}}`, got {}",
            crate::text::echo(name)
        ))),
    }
}

/// A UUID that makes a create idempotent (AIP-155).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RequestId(uuid::Uuid);

impl RequestId {
    /// Parses a UUID in any standard text form.
    ///
    /// # Errors
    /// When `raw` is not a UUID.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        uuid::Uuid::try_parse(raw.trim()).map(Self).map_err(|_| {
            InvalidValue(format!(
                "must be a UUID, e.g. 123e4567-e89b-12d3-a456-426614174000, got {}",
                crate::text::echo(raw)
            ))
        })
    }

    /// The canonical lowercase hyphenated form, as stored.
    pub fn to_text(self) -> String {
        self.0.hyphenated().to_string()
    }
}

/// A create request after parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCustomer {
    /// The client-chosen id, or `None` for a server-assigned UUID v7.
    pub id: Option<CustomerId>,
    /// The customer's fields.
    pub profile: CustomerProfile,
    /// The idempotency key, if the caller sent one.
    pub request_id: Option<RequestId>,
}

/// One field change of an update, already parsed. `None` in a clearable field clears it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProfileChange {
    /// `display_name`.
    DisplayName(DisplayName),
    /// `kind`.
    Kind(CustomerKind),
    /// `contact` as a whole.
    Contact(Contact),
    /// `contact.full_name`.
    ContactFullName(Option<PersonName>),
    /// `contact.job_title`.
    ContactJobTitle(Option<JobTitle>),
    /// `contact.job_rank`.
    ContactJobRank(Option<JobRank>),
    /// `contact.decision_role`.
    ContactDecisionRole(Option<DecisionRole>),
    /// `contact.email`.
    ContactEmail(Option<Email>),
    /// `contact.phone`.
    ContactPhone(Option<Phone>),
    /// `industry`.
    Industry(Option<Industry>),
    /// `employee_count`.
    EmployeeCount(Option<EmployeeCount>),
    /// `region` as a whole.
    Region(Option<Region>),
    /// `region.country_code`.
    RegionCountryCode(CountryCode),
    /// `region.subdivision`.
    RegionSubdivision(Option<Subdivision>),
    /// `region.city`.
    RegionCity(Option<City>),
    /// `needs`.
    Needs(Needs),
    /// `key_account`.
    KeyAccount(bool),
    /// `churned`.
    Churned(bool),
    /// `owner`.
    Owner(Option<PrincipalName>),
    /// `department`.
    Department(Option<Department>),
    /// `tags`.
    Tags(Tags),
}

impl ProfileChange {
    fn apply(&self, profile: &mut CustomerProfile, violations: &mut crate::error::Violations) {
        match self.clone() {
            Self::DisplayName(v) => profile.display_name = v,
            Self::Kind(v) => profile.kind = v,
            Self::Contact(v) => profile.contact = v,
            Self::ContactFullName(v) => profile.contact.full_name = v,
            Self::ContactJobTitle(v) => profile.contact.job_title = v,
            Self::ContactJobRank(v) => profile.contact.job_rank = v,
            Self::ContactDecisionRole(v) => profile.contact.decision_role = v,
            Self::ContactEmail(v) => profile.contact.email = v,
            Self::ContactPhone(v) => profile.contact.phone = v,
            Self::Industry(v) => profile.industry = v,
            Self::EmployeeCount(v) => profile.employee_count = v,
            Self::Region(v) => profile.region = v,
            Self::RegionCountryCode(code) => match &mut profile.region {
                Some(region) => region.country_code = code,
                None => {
                    profile.region = Some(Region {
                        country_code: code,
                        subdivision: None,
                        city: None,
                    })
                }
            },
            Self::RegionSubdivision(v) => match &mut profile.region {
                Some(region) => region.subdivision = v,
                None if v.is_none() => {}
                None => violations.add(
                    "customer.region.subdivision",
                    "the customer has no region yet: set region.country_code too (or the whole region)",
                ),
            },
            Self::RegionCity(v) => match &mut profile.region {
                Some(region) => region.city = v,
                None if v.is_none() => {}
                None => violations.add(
                    "customer.region.city",
                    "the customer has no region yet: set region.country_code too (or the whole region)",
                ),
            },
            Self::Needs(v) => profile.needs = v,
            Self::KeyAccount(v) => profile.key_account = v,
            Self::Churned(v) => profile.churned = v,
            Self::Owner(v) => profile.owner = v,
            Self::Department(v) => profile.department = v,
            Self::Tags(v) => profile.tags = v,
        }
    }
}
